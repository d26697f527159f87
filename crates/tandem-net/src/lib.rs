//! tandem-net: the DHCPv6 server's UDP socket, and nothing else.
//!
//! A server that serves several links from one socket must know, for every
//! datagram, which interface it arrived on and whether it was sent to the
//! All_DHCP_Relay_Agents_and_Servers multicast group or to one of our unicast
//! addresses (RFC 8415 §18.4 treats unicast specially), and it must answer out
//! of the same interface. That is what `IPV6_RECVPKTINFO` / `IPV6_PKTINFO`
//! give us; this crate wraps them (through `socket2` and `nix`, so it needs no
//! `unsafe` of its own) behind an async API on tokio's [`AsyncFd`].
//!
//! Protocol decisions (where a reply goes, which link a datagram belongs to)
//! are the driver's; this crate only moves bytes with their metadata.

#![deny(unsafe_code)] // no `unsafe` needed: socket2 and nix cover every call we make

mod interface;
mod socket;

pub use interface::{interface_index, interface_name};
pub use socket::{BindOptions, Dhcp6Socket, RecvBatch, RecvMeta, SendMeta};

use std::io;
use std::net::Ipv6Addr;

/// RFC 8415 §7.1: All_DHCP_Relay_Agents_and_Servers, link-scoped.
pub const ALL_DHCP_RELAY_AGENTS_AND_SERVERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2);
/// RFC 8415 §7.2: UDP port servers and relay agents listen on.
pub const SERVER_PORT: u16 = 547;
/// RFC 8415 §7.2: UDP port clients listen on.
pub const CLIENT_PORT: u16 = 546;

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
}
