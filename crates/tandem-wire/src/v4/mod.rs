//! DHCPv4 codec (RFC 2131, RFC 2132): the BOOTP header, raw options in wire order with
//! typed views, RFC 3396 long options, option overload, relay agent information
//! (RFC 3046, RFC 3527) and classless routes (RFC 3442).

mod header;
mod message;
mod option;
mod relay_agent;
mod routes;

pub use header::{
    Header, BOOTP_MIN_LEN, BOOTREPLY, BOOTREQUEST, BROADCAST_FLAG, FILE_OFFSET, HEADER_LEN,
    MAGIC_COOKIE, MAX_HLEN, OPTIONS_OFFSET, SNAME_OFFSET,
};
pub use message::{Message, MessageType, Overload, ReplyBuilder};
pub use option::{code, decides_the_answer, DhcpOption, OptionsExt};
pub use relay_agent::{sub_code, RelayAgentInfo, SubOption, SubOptions};
pub use routes::ClasslessRoute;

#[cfg(test)]
mod tests;
