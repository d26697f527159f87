//! RFC 2131 server-side message processing: the DHCPv4 front of [`crate::DhcpServer`],
//! over the same lease table, allocators, offer holds and lease policy as DHCPv6, with
//! the same [`crate::Outcome`] (changes to persist before the reply leaves).
//!
//! # How a message is mapped to a subnet (link)
//! In this order (RFC 3527 §4, RFC 3011 §3, RFC 2131 §4.3.1): the link-selection
//! sub-option of option 82, the subnet-selection option 118, 'giaddr'; for a client
//! straight on our link, the arrival interface's name, then 'ciaddr' or the sender's
//! address (a renewing client), then our own address on the arrival interface. The
//! subnet found brings every subnet of its shared network with it: a client on that
//! link may get an address of any of them, the found one first.
//!
//! # Where replies go (RFC 2131 §4.1)
//! * 'giaddr' set: to the relay, on port 67 (or the port the relay sent from, when it
//!   sent from 'giaddr' itself: RFC 8357 §5.2), a DHCPNAK with the broadcast bit set.
//! * else a DHCPNAK: broadcast to 255.255.255.255:68.
//! * else 'ciaddr' set (RENEWING, REBINDING, INFORM): to 'ciaddr':68.
//! * else broadcast to 255.255.255.255:68, out of the interface the request came in on.
//!   A client without an address asks for unicast (broadcast bit clear) to 'yiaddr' at
//!   its hardware address; that needs an ARP entry the server would have to write into
//!   the kernel first. RFC 2131 §4.1 lets a server that cannot unicast broadcast
//!   instead, and every client listens for that (it has no address yet), so tandem does.
//!
//! # Probing before an offer (RFC 2131 §4.4.1)
//! A subnet with `ping_check` has every OFFER of an address new to the client wait for
//! an ICMP echo probe (see [`probe`]): [`crate::Outcome::probe`] tells the driver.

mod assign;
mod probe;
mod server;

#[cfg(test)]
mod tests;

use std::net::{Ipv4Addr, SocketAddrV4};

pub use probe::Probe4;

/// UDP port DHCPv4 servers and relay agents listen on (RFC 2131 §4.1).
pub const SERVER_PORT: u16 = 67;
/// UDP port DHCPv4 clients listen on (RFC 2131 §4.1).
pub const CLIENT_PORT: u16 = 68;

/// Where and how a DHCPv4 datagram arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RxInfo4 {
    /// Sender address and port (0.0.0.0:68 for a client that has no address yet).
    pub src: SocketAddrV4,
    /// The destination the sender used: 255.255.255.255, or one of our addresses.
    pub dst: Ipv4Addr,
    /// Our address on the arrival interface (the kernel's choice of source for an
    /// answer): this server's identifier for the clients it reaches there (option 54,
    /// RFC 2131 §4.3.1).
    pub local: Ipv4Addr,
    /// Name of the arrival interface ("" when unknown).
    pub interface: String,
}
