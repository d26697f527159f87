//! ICMP echo (RFC 792) for the DHCPv4 conflict probe before an offer (RFC 2131 §4.4.1:
//! "e.g., with an ICMP echo request"): send an echo request to an address, hear which
//! addresses answered.
//!
//! An unprivileged ICMP datagram socket (`SOCK_DGRAM`, `IPPROTO_ICMP`, icmp(7)) is tried
//! first: the kernel picks the identifier and hands it only the replies to its own
//! requests, but only to a group in `net.ipv4.ping_group_range`. Otherwise a raw socket
//! (`SOCK_RAW`), which needs `CAP_NET_RAW`, sees every ICMP message, IP header first, and
//! keeps the echo replies with its own identifier.
//!
//! Either is a datagram socket to the kernel, so tokio's `UdpSocket` carries it (readiness
//! and `sendto`/`recvfrom` only; no UDP is involved).

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

/// ICMP message types (RFC 792).
const ECHO_REPLY: u8 = 0;
const ECHO_REQUEST: u8 = 8;
/// Payload after the 8-byte header: tells a packet capture who is asking.
const PAYLOAD: &[u8] = b"tandem ping-check";

/// Which kind of socket [`EchoSocket::open`] got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EchoKind {
    /// `SOCK_DGRAM` + `IPPROTO_ICMP` (no privilege; `net.ipv4.ping_group_range`).
    Datagram,
    /// `SOCK_RAW` + `IPPROTO_ICMP` (`CAP_NET_RAW`).
    Raw,
}

/// Neither kind of ICMP socket could be opened.
#[derive(Debug, thiserror::Error)]
#[error(
    "ping_check needs an ICMP socket and none could be opened: an unprivileged ICMP \
     datagram socket failed ({datagram}; the server's group must be inside sysctl \
     net.ipv4.ping_group_range) and a raw socket failed ({raw}; it needs CAP_NET_RAW). \
     Grant one of them, or set ping_check = false"
)]
pub struct EchoUnavailable {
    pub datagram: io::Error,
    pub raw: io::Error,
}

/// An ICMP echo socket (see the module documentation).
#[derive(Debug)]
pub struct EchoSocket {
    socket: UdpSocket,
    kind: EchoKind,
    /// Our echo identifier (a raw socket's choice; the kernel's for a datagram socket,
    /// which matches replies itself).
    ident: u16,
}

impl EchoSocket {
    /// A datagram ICMP socket if allowed, else a raw one. Must be called inside a tokio
    /// runtime.
    pub fn open() -> Result<Self, EchoUnavailable> {
        let datagram = match open_kind(Type::DGRAM) {
            Ok(socket) => return Ok(Self::new(socket, EchoKind::Datagram)),
            Err(e) => e,
        };
        match open_kind(Type::RAW) {
            Ok(socket) => Ok(Self::new(socket, EchoKind::Raw)),
            Err(raw) => Err(EchoUnavailable { datagram, raw }),
        }
    }

    fn new(socket: UdpSocket, kind: EchoKind) -> Self {
        // Distinct per process, so two servers' raw sockets on one host tell their
        // replies apart.
        let ident = (std::process::id() & 0xffff) as u16;
        EchoSocket {
            socket,
            kind,
            ident,
        }
    }

    pub fn kind(&self) -> EchoKind {
        self.kind
    }

    /// Sends one echo request to `to` with sequence number `seq`.
    pub async fn send_echo(&self, to: Ipv4Addr, seq: u16) -> io::Result<()> {
        let packet = echo_request(self.ident, seq);
        let dst = SocketAddr::V4(SocketAddrV4::new(to, 0));
        self.socket.send_to(&packet, dst).await.map(|_| ())
    }

    /// The source of the next echo reply to one of our requests (other ICMP messages a
    /// raw socket sees are skipped).
    pub async fn recv_reply(&self) -> io::Result<Ipv4Addr> {
        let mut buf = [0u8; 1500];
        loop {
            let (n, from) = self.socket.recv_from(&mut buf).await?;
            let SocketAddr::V4(from) = from else { continue };
            let icmp = match self.kind {
                EchoKind::Datagram => buf.get(..n),
                EchoKind::Raw => strip_ip_header(&buf[..n]),
            };
            let Some(icmp) = icmp else { continue };
            let want_ident = (self.kind == EchoKind::Raw).then_some(self.ident);
            if is_echo_reply(icmp, want_ident) {
                return Ok(*from.ip());
            }
        }
    }
}

fn open_kind(ty: Type) -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::IPV4, ty, Some(Protocol::ICMPV4))?;
    s.set_nonblocking(true)?;
    UdpSocket::from_std(s.into())
}

/// An echo request (RFC 792): type 8, code 0, checksum, identifier, sequence, payload.
/// A datagram socket rewrites the identifier and checksum; a raw one sends it as is.
pub fn echo_request(ident: u16, seq: u16) -> Vec<u8> {
    let mut p = vec![ECHO_REQUEST, 0, 0, 0];
    p.extend_from_slice(&ident.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(PAYLOAD);
    let sum = checksum(&p);
    p[2..4].copy_from_slice(&sum.to_be_bytes());
    p
}

/// The Internet checksum (RFC 1071): one's complement of the one's complement sum.
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The ICMP message inside an IPv4 packet (a raw socket's read), if well formed.
fn strip_ip_header(packet: &[u8]) -> Option<&[u8]> {
    let ihl = usize::from(packet.first()? & 0x0f) * 4;
    (ihl >= 20).then_some(())?;
    packet.get(ihl..)
}

/// An echo reply, with identifier `ident` when given.
fn is_echo_reply(icmp: &[u8], ident: Option<u16>) -> bool {
    let (Some(&t), Some(id)) = (icmp.first(), icmp.get(4..6)) else {
        return false;
    };
    t == ECHO_REPLY && ident.is_none_or(|want| id == want.to_be_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_echo_request_checksums_to_zero_rfc792_rfc1071() {
        let p = echo_request(0x1234, 7);
        assert_eq!(&p[..2], &[8, 0]);
        assert_eq!(&p[4..8], &[0x12, 0x34, 0, 7]);
        assert_eq!(checksum(&p), 0, "a correct checksum sums to all ones");
    }

    #[test]
    fn only_echo_replies_with_our_identifier_count() {
        let mut reply = echo_request(0x1234, 1);
        reply[0] = ECHO_REPLY;
        assert!(is_echo_reply(&reply, Some(0x1234)));
        assert!(is_echo_reply(&reply, None));
        assert!(!is_echo_reply(&reply, Some(0x4321)));
        assert!(!is_echo_reply(&echo_request(0x1234, 1), None));
        assert!(!is_echo_reply(&[0, 0], None));
        let mut ip = vec![0x45u8; 20];
        ip.extend_from_slice(&reply);
        assert_eq!(strip_ip_header(&ip), Some(reply.as_slice()));
        assert_eq!(strip_ip_header(&[0x41]), None);
        assert_eq!(strip_ip_header(&[]), None);
    }

    #[tokio::test]
    async fn loopback_answers_an_echo_request() {
        // Needs ping_group_range or CAP_NET_RAW; say so rather than fail where neither is.
        let s = match EchoSocket::open() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("skipped: {e}");
                return;
            }
        };
        s.send_echo(Ipv4Addr::LOCALHOST, 1).await.unwrap();
        let from = tokio::time::timeout(std::time::Duration::from_secs(2), s.recv_reply())
            .await
            .expect("an echo reply within 2 s")
            .unwrap();
        assert_eq!(from, Ipv4Addr::LOCALHOST);
    }
}
