//! The driver's view of the protocol core.

use tandem_core::{Duid, LeaseChange, Time};
use tandem_net::RecvMeta;

/// What the core made of one datagram.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Handled {
    /// The reply to send back to the sender, if any.
    pub reply: Option<Vec<u8>>,
    /// Where the reply goes when not simply back to the sender's address and port.
    pub reply_to: Option<std::net::SocketAddrV6>,
    /// Lease changes that must be durable before `reply` may leave.
    pub changes: Vec<LeaseChange>,
    /// Why the datagram got no reply (counted by reason), when it got none.
    pub drop_reason: Option<&'static str>,
    /// For the transaction's log span.
    pub xid: Option<u32>,
    pub client_duid: Option<Duid>,
}

/// The protocol core as the driver uses it; implemented for `tandem_core`'s server.
pub trait Engine {
    /// Processes one datagram received at `now`.
    fn handle(&mut self, now: Time, bytes: &[u8], meta: &RecvMeta) -> Handled;
    /// Expires what is due at `now`; the changes must be made durable.
    fn reclaim_expired(&mut self, now: Time) -> Vec<LeaseChange>;
    /// When `reclaim_expired` next has work, if ever.
    fn next_timeout(&self) -> Option<Time>;
}
