//! DHCPv6 codec (RFC 8415).

mod message;
pub mod name;
mod option;

pub use message::{
    Message, MessageType, Packet, RelayChain, RelayHop, RelayMessage, HOP_COUNT_LIMIT,
};
pub use option::{
    code, emit_options, parse_one, parse_options, status, DhcpOption, Ia, IaAddr, IaPrefix, IaTa,
    OptionsExt, StatusCode, MAX_OPTION_DEPTH,
};

#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
pub(crate) mod tests_support {
    pub(crate) use super::tests::arb_option;
}
