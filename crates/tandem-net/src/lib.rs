//! tandem-net: the servers' UDP sockets, one for DHCPv6 and one for DHCPv4, and the ICMP
//! echo socket of the DHCPv4 conflict probe ([`EchoSocket`], RFC 2131 §4.4.1).
//!
//! A server that serves several links from one socket must know, for every
//! datagram, which interface it arrived on and how it was addressed, and it must
//! answer out of the same interface:
//!
//! - DHCPv6 ([`Dhcp6Socket`]): whether a datagram was sent to the
//!   All_DHCP_Relay_Agents_and_Servers multicast group or to one of our unicast
//!   addresses (RFC 8415 §18.4 treats unicast specially); `IPV6_RECVPKTINFO` /
//!   `IPV6_PKTINFO` (ipv6(7)).
//! - DHCPv4 ([`Dhcp4Socket`]): whether a datagram was broadcast to
//!   255.255.255.255 (a client without an address, RFC 2131 §4.1) or unicast, and
//!   which of our addresses the arrival link has (the server identifier); replies to
//!   a client without an address are broadcast, and must leave by the arrival
//!   interface only. `IP_PKTINFO` (ip(7)).
//!
//! Both sockets share one receive path (`recvmsg` / `recvmmsg` into
//! [`RecvBatchOf`]) and one send path (`sendmsg` / `sendmmsg`); this crate wraps
//! them (through `socket2` and `nix`, so it needs no `unsafe` of its own) behind an
//! async API on the readiness tracking of tokio's `UdpSocket` (`async_io`).
//!
//! Protocol decisions (where a reply goes, which link a datagram belongs to)
//! are the driver's; this crate only moves bytes with their metadata.

#![deny(unsafe_code)] // no `unsafe` needed: socket2 and nix cover every call we make

mod echo;
mod interface;
mod socket;

pub use echo::{echo_request, EchoKind, EchoSocket, EchoUnavailable};

pub use interface::{interface_index, interface_name};
pub use socket::{
    BindOptions, BindOptions4, Dhcp4Socket, Dhcp6Socket, RecvBatch, RecvBatch4, RecvBatchOf,
    RecvMeta, RecvMeta4, SendMeta, SendMeta4,
};

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};

/// RFC 8415 §7.1: All_DHCP_Relay_Agents_and_Servers, link-scoped.
pub const ALL_DHCP_RELAY_AGENTS_AND_SERVERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2);
/// RFC 8415 §7.2: UDP port servers and relay agents listen on.
pub const SERVER_PORT: u16 = 547;
/// RFC 8415 §7.2: UDP port clients listen on.
pub const CLIENT_PORT: u16 = 546;
/// RFC 2131 §4.1: UDP port DHCPv4 servers (and relay agents) listen on.
pub const SERVER_PORT_V4: u16 = 67;
/// RFC 2131 §4.1: UDP port DHCPv4 clients listen on.
pub const CLIENT_PORT_V4: u16 = 68;

/// Everything that can go wrong at the socket edge, each with what we were doing.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("unknown network interface {name:?}: {source}")]
    UnknownInterface { name: String, source: io::Error },
    #[error("no network interface has index {0}")]
    UnknownIfIndex(u32),
    #[error("cannot create UDP socket: {0}")]
    Socket(io::Error),
    #[error("cannot set socket option {option}: {source}")]
    SocketOption {
        option: &'static str,
        source: io::Error,
    },
    #[error("cannot bind UDP [{addr}]:{port}: {source}")]
    Bind {
        addr: Ipv6Addr,
        port: u16,
        source: io::Error,
    },
    #[error("cannot bind UDP {addr}:{port}: {source}")]
    Bind4 {
        addr: Ipv4Addr,
        port: u16,
        source: io::Error,
    },
    #[error("cannot join {group} on interface index {ifindex}: {source}")]
    JoinMulticast {
        group: Ipv6Addr,
        ifindex: u32,
        source: io::Error,
    },
    #[error("receive failed: {0}")]
    Recv(io::Error),
    #[error("send failed: {0}")]
    Send(io::Error),
    #[error("datagram arrived without IPV6_PKTINFO (arrival interface unknown)")]
    MissingPktInfo,
    #[error("datagram arrived without IP_PKTINFO (arrival interface unknown)")]
    MissingPktInfo4,
}
