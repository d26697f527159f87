//! DHCPv4 failover, draft-ietf-dhc-failover-12 as ISC dhcpd 4.4 speaks it: stream framing
//! (§6.1), the twelve messages (§7) with typed options (§12), and RFC 3074 load balancing.
//!
//! A different protocol from [`crate::failover`] (RFC 8156, DHCPv6); nothing is shared but
//! the error type. Where dhcpd and the draft disagree this codec follows dhcpd, because a
//! partner of a running dhcpd must; each such place says "ISC dhcpd 4.4 behaviour":
//! payload offset 12 (not 8), IP-flags 2 bytes, RECOVER-WAIT = 254, any message type above
//! 12 refused, a repeated option refused (so one binding per BNDUPD), options a message type
//! does not keep skipped (`fto_allowed`), HBA set bit = primary.
//!
//! Use: feed TCP bytes to a [`Deframer`], take [`Decoded`] messages out; any error means
//! close the connection. Send [`Message::encode`].

mod frame;
mod loadb;
mod message;
mod option;

pub use frame::{message_len, take_message, Deframer, MAX_MESSAGE_LEN, MIN_MESSAGE_LEN};
pub use loadb::{bucket, client_key, Hba, MIX_TABLE};
pub use message::{
    Binding, BndAck, Body, Connect, ConnectAck, Decoded, Disconnect, Message, MsgType, State,
    HEADER_LEN, PAYLOAD_OFFSET,
};
pub use option::{
    allowed, code, is_allowed, shape, BindingStatus, Ddns, IpFlags, RejectReason, ServerFlags,
    ServerState, Shape, SkipReason, Skipped,
};

#[cfg(test)]
mod tests;
