//! RFC 8156 failover codec: framing (§5.1), header (§5.2), messages (§5.3) and thin typed
//! views over the options (§5.5), which share [`crate::v6::DhcpOption`].

mod flags;
mod frame;
mod message;

pub use flags::{ConnectFlags, DnsFlags, ServerFlags};
pub use frame::{decode_frame, encode_frame, MAX_FRAME_LEN};
pub use message::{ClientDataView, FailoverMessage, FailoverMsgType, FAILOVER_HEADER_LEN};

#[cfg(test)]
mod tests;
