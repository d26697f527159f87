//! The server sockets: one UDP socket per address family, each reporting per datagram the
//! interface it arrived on and the address it was sent to, and sending each datagram out of
//! a chosen interface from a chosen source.
//!
//! [`Dhcp6Socket`] (RFC 8415, `IPV6_PKTINFO`, ipv6(7)) and [`Dhcp4Socket`] (RFC 2131,
//! `IP_PKTINFO`, ip(7)) share one receive path (`recvmsg` / `recvmmsg`) and one send path
//! (`sendmsg` / `sendmmsg`). What differs between the families (the socket address, the
//! pktinfo control message and the metadata built from it) is the private [`Family`] trait.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, RawFd};

use nix::libc;
use nix::sys::socket::{
    recvmmsg, recvmsg, sendmmsg, sendmsg, setsockopt, sockopt, ControlMessage, ControlMessageOwned,
    MsgFlags, MultiHeaders, RecvMsg, SockaddrIn, SockaddrIn6, SockaddrLike,
};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;

use crate::{NetError, ALL_DHCP_RELAY_AGENTS_AND_SERVERS, SERVER_PORT, SERVER_PORT_V4};

/// How to open the DHCPv6 server socket.
#[derive(Clone, Debug)]
pub struct BindOptions {
    /// Local address to bind; `::` (the default) receives unicast and multicast alike.
    pub addr: Ipv6Addr,
    /// UDP port; 547 in production, anything (0 = ephemeral) in tests.
    pub port: u16,
    /// Interfaces (by index) on which to join ff02::1:2, i.e. the links served directly.
    pub multicast_ifindexes: Vec<u32>,
}

impl Default for BindOptions {
    fn default() -> Self {
        BindOptions {
            addr: Ipv6Addr::UNSPECIFIED,
            port: SERVER_PORT,
            multicast_ifindexes: Vec::new(),
        }
    }
}

/// How to open the DHCPv4 server socket.
#[derive(Clone, Debug)]
pub struct BindOptions4 {
    /// Local address to bind. Keep `0.0.0.0` (the default) to serve directly attached
    /// clients: a client without an address broadcasts to 255.255.255.255 (RFC 2131 §4.1),
    /// and a socket bound to a unicast address does not receive broadcasts (ip(7)).
    pub addr: Ipv4Addr,
    /// UDP port; 67 in production, anything (0 = ephemeral) in tests.
    pub port: u16,
}

impl Default for BindOptions4 {
    fn default() -> Self {
        BindOptions4 {
            addr: Ipv4Addr::UNSPECIFIED,
            port: SERVER_PORT_V4,
        }
    }
}

/// Receive buffer asked for; the kernel grants at most net.core.rmem_max.
const RECV_BUFFER_BYTES: usize = 4 << 20;

/// Most datagrams one `sendmmsg` call carries (Linux caps a call at UIO_MAXIOV = 1024).
const SEND_BATCH_MAX: usize = 64;

/// Buffers for a batch receive ([`Dhcp6Socket::recv_batch`], [`Dhcp4Socket::recv_batch`]):
/// `slots` datagrams of up to `slot_len` bytes each, filled by one `recvmmsg` call, so that
/// a burst costs one system call instead of one per datagram. `M` is the per-datagram
/// metadata of the family: use it as [`RecvBatch`] (DHCPv6) or [`RecvBatch4`] (DHCPv4).
#[derive(Debug)]
pub struct RecvBatchOf<M> {
    slots: Vec<Vec<u8>>,
    /// Per slot filled by the last receive: its length and metadata, or why the datagram
    /// is unusable (no pktinfo).
    got: Vec<(usize, Result<M, NetError>)>,
}

/// Batch receive buffers of the DHCPv6 socket.
pub type RecvBatch = RecvBatchOf<RecvMeta>;

/// Batch receive buffers of the DHCPv4 socket.
pub type RecvBatch4 = RecvBatchOf<RecvMeta4>;

impl<M> RecvBatchOf<M> {
    /// Room for `slots` datagrams of up to `slot_len` bytes (longer ones are flagged
    /// truncated, like a single `recv`).
    pub fn new(slots: usize, slot_len: usize) -> Self {
        RecvBatchOf {
            slots: vec![vec![0u8; slot_len]; slots.max(1)],
            got: Vec::with_capacity(slots.max(1)),
        }
    }

    /// Number of datagrams the last receive delivered.
    pub fn len(&self) -> usize {
        self.got.len()
    }

    pub fn is_empty(&self) -> bool {
        self.got.is_empty()
    }

    /// The datagrams of the last receive, in arrival order: bytes and metadata, or the
    /// error that makes one unusable.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], Result<&M, &NetError>)> {
        self.got
            .iter()
            .zip(&self.slots)
            .map(|((n, meta), slot)| (slot.get(..*n).unwrap_or(slot), meta.as_ref()))
    }
}

/// Where a DHCPv6 datagram came from and how it reached us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecvMeta {
    /// Sender address and port; link-local senders carry their scope (= arrival ifindex).
    pub src: SocketAddrV6,
    /// The destination address the sender used: ff02::1:2 for multicast, or one of ours.
    pub dst: Ipv6Addr,
    /// The interface the datagram arrived on.
    pub ifindex: u32,
    /// The datagram was longer than the buffer and was cut (the driver should drop it).
    pub truncated: bool,
}

impl RecvMeta {
    /// Whether the sender addressed us by multicast (RFC 8415 §18.4: otherwise it was unicast).
    pub fn is_multicast(&self) -> bool {
        self.dst.is_multicast()
    }
}

/// Where to send a DHCPv6 datagram, and from which interface / source address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendMeta {
    /// Destination; for a link-local destination without a scope id, `ifindex` is used as scope.
    pub dst: SocketAddrV6,
    /// Outgoing interface; 0 lets the kernel route.
    pub ifindex: u32,
    /// Source address; `None` lets the kernel pick one on `ifindex`.
    pub src: Option<Ipv6Addr>,
}

impl SendMeta {
    /// The usual answer to a datagram: back to its sender, out of the interface it came in on,
    /// from the address it was sent to when that was one of our unicast addresses (a reply to
    /// a multicast datagram gets a kernel-chosen source on that link instead).
    pub fn reply_to(meta: &RecvMeta) -> Self {
        SendMeta {
            dst: meta.src,
            ifindex: meta.ifindex,
            src: (!meta.dst.is_multicast() && !meta.dst.is_unspecified()).then_some(meta.dst),
        }
    }
}

/// Where a DHCPv4 datagram came from and how it reached us (ip(7) `IP_PKTINFO`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecvMeta4 {
    /// Sender address and port: `0.0.0.0:68` for a client that has no address yet
    /// (RFC 2131 §4.1), a relay agent's address and port 67 for a relayed message.
    pub src: SocketAddrV4,
    /// The IP header's destination (`ipi_addr`): 255.255.255.255 for a broadcast, or one of
    /// our addresses for a unicast.
    pub dst: Ipv4Addr,
    /// `ipi_spec_dst`: the local address the kernel would answer from. For a unicast it is
    /// `dst`; for a broadcast it is our address on the arrival interface (chosen by a route
    /// lookup towards the sender, or the interface's primary address when the sender is
    /// 0.0.0.0), i.e. the server identifier a direct client sees; 0.0.0.0 when that
    /// interface has no IPv4 address.
    pub local: Ipv4Addr,
    /// The interface the datagram arrived on.
    pub ifindex: u32,
    /// The datagram was longer than the buffer and was cut (the driver should drop it).
    pub truncated: bool,
}

impl RecvMeta4 {
    /// Whether the datagram was not addressed to one of our unicast addresses: sent to the
    /// limited broadcast address 255.255.255.255 (how clients without an address reach a
    /// server, RFC 2131 §4.1) or to a subnet broadcast. Linux reports `ipi_spec_dst` equal
    /// to `ipi_addr` exactly for datagrams delivered to a local unicast address, so any
    /// other pair is a broadcast.
    pub fn is_broadcast(&self) -> bool {
        self.dst.is_broadcast() || self.dst != self.local
    }
}

/// Where to send a DHCPv4 datagram, and from which interface / source address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendMeta4 {
    /// Destination; 255.255.255.255:68 reaches a client that has no address yet
    /// (RFC 2131 §4.1), and then `ifindex` must name the client's link.
    pub dst: SocketAddrV4,
    /// Outgoing interface (`ipi_ifindex`); 0 lets the kernel route. A limited broadcast
    /// leaves by this interface only.
    pub ifindex: u32,
    /// Source address (`ipi_spec_dst`); `None` lets the kernel pick one (on `ifindex`).
    pub src: Option<Ipv4Addr>,
}

/// What the shared receive and send code needs to know about one address family.
trait Family {
    /// The socket address nix reads (sender) and writes (destination).
    type Addr: SockaddrLike + Copy + 'static;
    /// The pktinfo control message's payload (ip(7) `in_pktinfo`, ipv6(7) `in6_pktinfo`).
    type PktInfo;
    /// Metadata of a received datagram.
    type Meta;
    /// Where and how to send a datagram.
    type Target;
    /// The part of [`Self::Target`] that goes into the control message. One `sendmmsg` call
    /// carries one control message for all its datagrams, so only datagrams with equal
    /// routes share a call.
    type Route: Copy + PartialEq;

    /// Room for one received pktinfo control message.
    fn cmsg_space() -> Vec<u8>;
    /// The pktinfo of a received control message, if it is one.
    fn pktinfo_in(cmsg: ControlMessageOwned) -> Option<Self::PktInfo>;
    /// Metadata of a datagram from `src` with pktinfo `pi`.
    fn recv_meta(
        src: Self::Addr,
        pi: &Self::PktInfo,
        truncated: bool,
    ) -> Result<Self::Meta, NetError>;
    /// The error for a datagram that came without pktinfo.
    fn missing_pktinfo() -> NetError;
    /// The destination socket address of `meta`.
    fn dst(meta: &Self::Target) -> Self::Addr;
    fn route(meta: &Self::Target) -> Self::Route;
    /// The pktinfo to send for `route`; `None` when the kernel is to choose everything.
    fn pktinfo_out(route: Self::Route) -> io::Result<Option<Self::PktInfo>>;
    fn control(pi: &Self::PktInfo) -> ControlMessage<'_>;
}

/// UDP over IPv6 (ipv6(7)), for DHCPv6.
enum V6 {}

impl Family for V6 {
    type Addr = SockaddrIn6;
    type PktInfo = libc::in6_pktinfo;
    type Meta = RecvMeta;
    type Target = SendMeta;
    type Route = (u32, Option<Ipv6Addr>);

    fn cmsg_space() -> Vec<u8> {
        nix::cmsg_space!(libc::in6_pktinfo)
    }

    fn pktinfo_in(cmsg: ControlMessageOwned) -> Option<libc::in6_pktinfo> {
        match cmsg {
            ControlMessageOwned::Ipv6PacketInfo(pi) => Some(pi),
            _ => None,
        }
    }

    fn recv_meta(
        src: SockaddrIn6,
        pi: &libc::in6_pktinfo,
        truncated: bool,
    ) -> Result<RecvMeta, NetError> {
        Ok(RecvMeta {
            src: SocketAddrV6::from(src),
            dst: Ipv6Addr::from(pi.ipi6_addr.s6_addr),
            ifindex: pi.ipi6_ifindex,
            truncated,
        })
    }

    fn missing_pktinfo() -> NetError {
        NetError::MissingPktInfo
    }

    fn dst(meta: &SendMeta) -> SockaddrIn6 {
        let mut dst = meta.dst;
        // A link-local destination is ambiguous without its link.
        if dst.scope_id() == 0 && is_link_scoped(dst.ip()) {
            dst.set_scope_id(meta.ifindex);
        }
        SockaddrIn6::from(dst)
    }

    fn route(meta: &SendMeta) -> (u32, Option<Ipv6Addr>) {
        (meta.ifindex, meta.src)
    }

    fn pktinfo_out(
        (ifindex, src): (u32, Option<Ipv6Addr>),
    ) -> io::Result<Option<libc::in6_pktinfo>> {
        Ok((ifindex != 0 || src.is_some()).then(|| libc::in6_pktinfo {
            ipi6_addr: libc::in6_addr {
                s6_addr: src.unwrap_or(Ipv6Addr::UNSPECIFIED).octets(),
            },
            ipi6_ifindex: ifindex,
        }))
    }

    fn control(pi: &libc::in6_pktinfo) -> ControlMessage<'_> {
        ControlMessage::Ipv6PacketInfo(pi)
    }
}

/// UDP over IPv4 (ip(7)), for DHCPv4.
enum V4 {}

impl Family for V4 {
    type Addr = SockaddrIn;
    type PktInfo = libc::in_pktinfo;
    type Meta = RecvMeta4;
    type Target = SendMeta4;
    type Route = (u32, Option<Ipv4Addr>);

    fn cmsg_space() -> Vec<u8> {
        nix::cmsg_space!(libc::in_pktinfo)
    }

    fn pktinfo_in(cmsg: ControlMessageOwned) -> Option<libc::in_pktinfo> {
        match cmsg {
            ControlMessageOwned::Ipv4PacketInfo(pi) => Some(pi),
            _ => None,
        }
    }

    fn recv_meta(
        src: SockaddrIn,
        pi: &libc::in_pktinfo,
        truncated: bool,
    ) -> Result<RecvMeta4, NetError> {
        // The kernel never reports a negative index; treat one as no pktinfo at all.
        let ifindex = u32::try_from(pi.ipi_ifindex).map_err(|_| NetError::MissingPktInfo4)?;
        Ok(RecvMeta4 {
            src: SocketAddrV4::from(src),
            dst: ipv4_of(pi.ipi_addr),
            local: ipv4_of(pi.ipi_spec_dst),
            ifindex,
            truncated,
        })
    }

    fn missing_pktinfo() -> NetError {
        NetError::MissingPktInfo4
    }

    fn dst(meta: &SendMeta4) -> SockaddrIn {
        SockaddrIn::from(meta.dst)
    }

    fn route(meta: &SendMeta4) -> (u32, Option<Ipv4Addr>) {
        (meta.ifindex, meta.src)
    }

    /// ip(7): on send, a nonzero `ipi_ifindex` picks the outgoing interface and a nonzero
    /// `ipi_spec_dst` the source address; `ipi_addr` is ignored. A datagram to
    /// 255.255.255.255 then leaves by that interface alone, needing no route. (ip(7) also
    /// says the interface's primary address overrides `ipi_spec_dst` when `ipi_ifindex` is
    /// set; Linux does not do that: the datagram leaves from `ipi_spec_dst`.)
    fn pktinfo_out(
        (ifindex, src): (u32, Option<Ipv4Addr>),
    ) -> io::Result<Option<libc::in_pktinfo>> {
        if ifindex == 0 && src.is_none() {
            return Ok(None);
        }
        let ipi_ifindex = libc::c_int::try_from(ifindex).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("interface index {ifindex} out of range"),
            )
        })?;
        Ok(Some(libc::in_pktinfo {
            ipi_ifindex,
            ipi_spec_dst: in_addr_of(src.unwrap_or(Ipv4Addr::UNSPECIFIED)),
            ipi_addr: in_addr_of(Ipv4Addr::UNSPECIFIED),
        }))
    }

    fn control(pi: &libc::in_pktinfo) -> ControlMessage<'_> {
        ControlMessage::Ipv4PacketInfo(pi)
    }
}

/// `in_addr` holds the address in network byte order, i.e. its bytes in memory are the octets.
fn ipv4_of(a: libc::in_addr) -> Ipv4Addr {
    Ipv4Addr::from(a.s_addr.to_ne_bytes())
}

fn in_addr_of(ip: Ipv4Addr) -> libc::in_addr {
    libc::in_addr {
        s_addr: u32::from_ne_bytes(ip.octets()),
    }
}

fn opt_err(option: &'static str) -> impl FnOnce(io::Error) -> NetError {
    move |source| NetError::SocketOption { option, source }
}

/// A new UDP socket with the options both servers want.
fn new_udp_socket(domain: Domain) -> Result<Socket, NetError> {
    let sock = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP)).map_err(NetError::Socket)?;
    // Restarting the server must not wait for anything; also lets a relay agent coexist.
    sock.set_reuse_address(true)
        .map_err(opt_err("SO_REUSEADDR"))?;
    // Clients come in bursts (a power cut brings a whole building back at once); a
    // larger receive queue lets the server ride them out instead of dropping. The kernel
    // caps this at net.core.rmem_max, and a smaller buffer is not an error.
    if let Err(e) = sock.set_recv_buffer_size(RECV_BUFFER_BYTES) {
        tracing::warn!(error = %e, "cannot enlarge the UDP receive buffer; bursts may drop");
    }
    sock.set_nonblocking(true).map_err(opt_err("O_NONBLOCK"))?;
    Ok(sock)
}

/// The machinery both server sockets share: readiness tracking plus the batch receive and
/// send paths, generic over the address family.
#[derive(Debug)]
struct UdpCore {
    // tokio's UdpSocket gives readiness tracking (`async_io`) without `unsafe`; the
    // recvmsg/sendmsg calls with control messages are made on its raw fd through nix.
    sock: UdpSocket,
}

impl UdpCore {
    fn new(sock: Socket) -> Result<Self, NetError> {
        let sock = UdpSocket::from_std(sock.into()).map_err(NetError::Socket)?;
        Ok(UdpCore { sock })
    }

    fn local_addr(&self) -> Result<SocketAddr, NetError> {
        self.sock.local_addr().map_err(NetError::Socket)
    }

    async fn recv<F: Family>(&self, buf: &mut [u8]) -> Result<(usize, F::Meta), NetError> {
        let fd = self.sock.as_raw_fd();
        self.sock
            .async_io(Interest::READABLE, || recv_once::<F>(fd, buf))
            .await
            .map_err(NetError::Recv)?
    }

    async fn recv_batch<F: Family>(
        &self,
        batch: &mut RecvBatchOf<F::Meta>,
    ) -> Result<usize, NetError> {
        let fd = self.sock.as_raw_fd();
        batch.got.clear();
        let RecvBatchOf { slots, got } = batch;
        self.sock
            .async_io(Interest::READABLE, || recv_many::<F>(fd, slots, got))
            .await
            .map_err(NetError::Recv)
    }

    async fn send_batch<F: Family>(
        &self,
        msgs: &[(&[u8], F::Target)],
    ) -> Vec<Result<usize, NetError>> {
        let fd = self.sock.as_raw_fd();
        let mut results = Vec::with_capacity(msgs.len());
        let mut rest = msgs;
        while let Some(first) = rest.first() {
            let route = F::route(&first.1);
            let run = rest
                .iter()
                .take(SEND_BATCH_MAX)
                .take_while(|m| F::route(&m.1) == route)
                .count()
                .max(1);
            let chunk = rest.get(..run).unwrap_or(rest);
            let sent = self
                .sock
                .async_io(Interest::WRITABLE, || send_many::<F>(fd, chunk))
                .await;
            match sent {
                // sendmmsg sends whole datagrams, in order; the rest go in the next call.
                Ok(k) => {
                    let k = k.clamp(1, chunk.len());
                    results.extend(chunk.iter().take(k).map(|m| Ok(m.0.len())));
                    rest = rest.get(k..).unwrap_or_default();
                }
                // An error is about the first datagram of the call (later ones were not
                // tried): report it and go on with the next.
                Err(e) => {
                    results.push(Err(NetError::Send(e)));
                    rest = rest.get(1..).unwrap_or_default();
                }
            }
        }
        results
    }

    async fn send<F: Family>(&self, buf: &[u8], meta: &F::Target) -> Result<usize, NetError> {
        let fd = self.sock.as_raw_fd();
        self.sock
            .async_io(Interest::WRITABLE, || send_once::<F>(fd, buf, meta))
            .await
            .map_err(NetError::Send)
    }
}

/// The DHCPv6 server's UDP socket. Must be created inside a tokio runtime.
#[derive(Debug)]
pub struct Dhcp6Socket {
    core: UdpCore,
}

impl Dhcp6Socket {
    /// Opens, configures and binds the socket, then joins ff02::1:2 on each listed interface.
    pub fn bind(opts: &BindOptions) -> Result<Self, NetError> {
        let sock = new_udp_socket(Domain::IPV6)?;
        // IPv6 only: the DHCPv4 server owns the IPv4 side of the port space.
        sock.set_only_v6(true).map_err(opt_err("IPV6_V6ONLY"))?;
        // Report arrival interface and destination address on every datagram.
        setsockopt(&sock, sockopt::Ipv6RecvPacketInfo, &true)
            .map_err(|e| opt_err("IPV6_RECVPKTINFO")(e.into()))?;
        let addr = SocketAddr::V6(SocketAddrV6::new(opts.addr, opts.port, 0, 0));
        sock.bind(&addr.into()).map_err(|source| NetError::Bind {
            addr: opts.addr,
            port: opts.port,
            source,
        })?;
        for &ifindex in &opts.multicast_ifindexes {
            sock.join_multicast_v6(&ALL_DHCP_RELAY_AGENTS_AND_SERVERS, ifindex)
                .map_err(|source| NetError::JoinMulticast {
                    group: ALL_DHCP_RELAY_AGENTS_AND_SERVERS,
                    ifindex,
                    source,
                })?;
        }
        Ok(Dhcp6Socket {
            core: UdpCore::new(sock)?,
        })
    }

    /// The bound address (useful with port 0 in tests).
    pub fn local_addr(&self) -> Result<SocketAddrV6, NetError> {
        match self.core.local_addr()? {
            SocketAddr::V6(a) => Ok(a),
            SocketAddr::V4(_) => Err(NetError::Socket(io::Error::other("socket is not IPv6"))),
        }
    }

    /// Waits for one datagram; returns its length in `buf` and its metadata.
    pub async fn recv(&self, buf: &mut [u8]) -> Result<(usize, RecvMeta), NetError> {
        self.core.recv::<V6>(buf).await
    }

    /// Waits until at least one datagram is readable, then takes as many as are queued
    /// (up to the batch's slot count) with one `recvmmsg`; read them with
    /// [`RecvBatchOf::iter`]. Returns how many arrived.
    pub async fn recv_batch(&self, batch: &mut RecvBatch) -> Result<usize, NetError> {
        self.core.recv_batch::<V6>(batch).await
    }

    /// Sends every datagram of `msgs` (as [`Self::send`] would), using one `sendmmsg` per
    /// run of datagrams that leave with the same interface and source. Returns one result
    /// per datagram, in order: a datagram the kernel refuses does not stop the others.
    pub async fn send_batch(&self, msgs: &[(&[u8], SendMeta)]) -> Vec<Result<usize, NetError>> {
        self.core.send_batch::<V6>(msgs).await
    }

    /// Sends one datagram with `IPV6_PKTINFO` selecting interface and source.
    pub async fn send(&self, buf: &[u8], meta: &SendMeta) -> Result<usize, NetError> {
        self.core.send::<V6>(buf, meta).await
    }
}

/// The DHCPv4 server's UDP socket. Must be created inside a tokio runtime.
#[derive(Debug)]
pub struct Dhcp4Socket {
    core: UdpCore,
}

impl Dhcp4Socket {
    /// Opens, configures and binds the socket.
    pub fn bind(opts: &BindOptions4) -> Result<Self, NetError> {
        let sock = new_udp_socket(Domain::IPV4)?;
        // RFC 2131 §4.1: replies to clients without an address (and NAKs) are broadcast;
        // ip(7): sending to a broadcast address needs SO_BROADCAST.
        sock.set_broadcast(true).map_err(opt_err("SO_BROADCAST"))?;
        // Report arrival interface, header destination and local address on every datagram.
        setsockopt(&sock, sockopt::Ipv4PacketInfo, &true)
            .map_err(|e| opt_err("IP_PKTINFO")(e.into()))?;
        let addr = SocketAddr::V4(SocketAddrV4::new(opts.addr, opts.port));
        sock.bind(&addr.into()).map_err(|source| NetError::Bind4 {
            addr: opts.addr,
            port: opts.port,
            source,
        })?;
        Ok(Dhcp4Socket {
            core: UdpCore::new(sock)?,
        })
    }

    /// The bound address (useful with port 0 in tests).
    pub fn local_addr(&self) -> Result<SocketAddrV4, NetError> {
        match self.core.local_addr()? {
            SocketAddr::V4(a) => Ok(a),
            SocketAddr::V6(_) => Err(NetError::Socket(io::Error::other("socket is not IPv4"))),
        }
    }

    /// Waits for one datagram; returns its length in `buf` and its metadata.
    pub async fn recv(&self, buf: &mut [u8]) -> Result<(usize, RecvMeta4), NetError> {
        self.core.recv::<V4>(buf).await
    }

    /// Waits until at least one datagram is readable, then takes as many as are queued
    /// (up to the batch's slot count) with one `recvmmsg`; read them with
    /// [`RecvBatchOf::iter`]. Returns how many arrived.
    pub async fn recv_batch(&self, batch: &mut RecvBatch4) -> Result<usize, NetError> {
        self.core.recv_batch::<V4>(batch).await
    }

    /// Sends every datagram of `msgs` (as [`Self::send`] would), using one `sendmmsg` per
    /// run of datagrams that leave with the same interface and source. Returns one result
    /// per datagram, in order: a datagram the kernel refuses does not stop the others.
    pub async fn send_batch(&self, msgs: &[(&[u8], SendMeta4)]) -> Vec<Result<usize, NetError>> {
        self.core.send_batch::<V4>(msgs).await
    }

    /// Sends one datagram with `IP_PKTINFO` selecting interface and source; a datagram to
    /// 255.255.255.255 leaves by `meta.ifindex` only.
    pub async fn send(&self, buf: &[u8], meta: &SendMeta4) -> Result<usize, NetError> {
        self.core.send::<V4>(buf, meta).await
    }
}

/// Metadata of one received datagram; `Err` when the pktinfo is missing.
fn recv_meta<F: Family>(msg: &RecvMsg<'_, '_, F::Addr>) -> io::Result<Result<F::Meta, NetError>> {
    let mut pktinfo = None;
    for c in msg.cmsgs().map_err(io::Error::from)? {
        if let Some(pi) = F::pktinfo_in(c) {
            pktinfo = Some(pi);
        }
    }
    let truncated = msg.flags.contains(MsgFlags::MSG_TRUNC);
    Ok(match (msg.address, pktinfo) {
        (Some(src), Some(pi)) => F::recv_meta(src, &pi, truncated),
        _ => Err(F::missing_pktinfo()),
    })
}

/// One non-blocking `recvmsg`; `WouldBlock` goes back to tokio's readiness tracking.
fn recv_once<F: Family>(
    fd: RawFd,
    buf: &mut [u8],
) -> io::Result<Result<(usize, F::Meta), NetError>> {
    let mut iov = [IoSliceMut::new(buf)];
    let mut cmsg = F::cmsg_space();
    let msg = recvmsg::<F::Addr>(fd, &mut iov, Some(cmsg.as_mut_slice()), MsgFlags::empty())
        .map_err(io::Error::from)?;
    Ok(recv_meta::<F>(&msg)?.map(|meta| (msg.bytes, meta)))
}

/// One non-blocking `recvmmsg` into `slots`; `WouldBlock` (nothing queued) goes back to
/// tokio's readiness tracking.
fn recv_many<F: Family>(
    fd: RawFd,
    slots: &mut [Vec<u8>],
    got: &mut Vec<(usize, Result<F::Meta, NetError>)>,
) -> io::Result<usize> {
    // Fresh headers per call: the kernel shrinks each header's name and control lengths
    // to what it wrote, and nix does not restore them.
    let mut headers = MultiHeaders::<F::Addr>::preallocate(slots.len(), Some(F::cmsg_space()));
    let mut iovs: Vec<[IoSliceMut; 1]> = slots
        .iter_mut()
        .map(|s| [IoSliceMut::new(s.as_mut_slice())])
        .collect();
    let msgs =
        recvmmsg(fd, &mut headers, &mut iovs, MsgFlags::empty(), None).map_err(io::Error::from)?;
    got.clear();
    for msg in msgs {
        let meta = recv_meta::<F>(&msg)?;
        got.push((msg.bytes, meta));
    }
    Ok(got.len())
}

/// One non-blocking `sendmmsg` of `msgs`, which all share one route (the control message
/// is common to the call). Returns how many datagrams went out.
fn send_many<F: Family>(fd: RawFd, msgs: &[(&[u8], F::Target)]) -> io::Result<usize> {
    let Some(first) = msgs.first() else {
        return Ok(0);
    };
    let pi = F::pktinfo_out(F::route(&first.1))?;
    let addrs: Vec<Option<F::Addr>> = msgs.iter().map(|m| Some(F::dst(&m.1))).collect();
    let iovs: Vec<[IoSlice; 1]> = msgs.iter().map(|m| [IoSlice::new(m.0)]).collect();
    let cmsgs: Vec<ControlMessage> = pi.iter().map(|pi| F::control(pi)).collect();
    // No control buffer at all without pktinfo: an empty one would be sent as garbage.
    let mut headers =
        MultiHeaders::<F::Addr>::preallocate(msgs.len(), pi.is_some().then(F::cmsg_space));
    let sent = sendmmsg(fd, &mut headers, &iovs, &addrs, cmsgs, MsgFlags::empty())
        .map_err(io::Error::from)?;
    // nix reports the number sent only through its result iterator.
    Ok(sent.count())
}

/// One non-blocking `sendmsg` with the interface / source chosen by `meta`.
fn send_once<F: Family>(fd: RawFd, buf: &[u8], meta: &F::Target) -> io::Result<usize> {
    let addr = F::dst(meta);
    let pi = F::pktinfo_out(F::route(meta))?;
    let cmsgs: Vec<ControlMessage> = pi.iter().map(|pi| F::control(pi)).collect();
    let iov = [IoSlice::new(buf)];
    sendmsg(fd, &iov, &cmsgs, MsgFlags::empty(), Some(&addr)).map_err(io::Error::from)
}

fn is_link_scoped(ip: &Ipv6Addr) -> bool {
    ip.is_unicast_link_local() || (ip.is_multicast() && (ip.segments()[0] & 0x000f) <= 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interface_index;

    fn to_client(client: &std::net::UdpSocket) -> SendMeta {
        let SocketAddr::V6(dst) = client.local_addr().unwrap() else {
            panic!("client is IPv6")
        };
        SendMeta {
            dst,
            ifindex: 0,
            src: None,
        }
    }

    fn loopback_opts() -> BindOptions {
        BindOptions {
            addr: Ipv6Addr::UNSPECIFIED,
            port: 0,
            multicast_ifindexes: Vec::new(),
        }
    }

    /// RFC 8415 §18.4: the server must know which address (unicast or multicast) and which
    /// link a message arrived on; over loopback the pktinfo names ::1 and lo.
    #[tokio::test]
    async fn pktinfo_reports_arrival_interface_and_destination() {
        let server = Dhcp6Socket::bind(&loopback_opts()).unwrap();
        let port = server.local_addr().unwrap().port();
        let client = std::net::UdpSocket::bind("[::1]:0").unwrap();
        client.send_to(b"solicit", ("::1", port)).unwrap();

        let mut buf = [0u8; 1500];
        let (n, meta) = server.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"solicit");
        assert_eq!(meta.dst, Ipv6Addr::LOCALHOST);
        assert!(!meta.is_multicast());
        assert_eq!(meta.ifindex, interface_index("lo").unwrap());
        assert_eq!(SocketAddr::V6(meta.src), client.local_addr().unwrap());
        assert!(!meta.truncated);

        // The reply leaves by IPV6_PKTINFO through the same interface and source.
        let reply = SendMeta::reply_to(&meta);
        assert_eq!(reply.src, Some(Ipv6Addr::LOCALHOST));
        server.send(b"reply", &reply).await.unwrap();
        let mut rbuf = [0u8; 64];
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let (rn, from) = client.recv_from(&mut rbuf).unwrap();
        assert_eq!(&rbuf[..rn], b"reply");
        assert_eq!(from.port(), port);
        assert_eq!(from.ip(), std::net::IpAddr::V6(Ipv6Addr::LOCALHOST));
    }

    /// RFC 8415 §18.4 needs the arrival link and destination of every datagram, also when
    /// a burst is taken with one `recvmmsg`; replies sent with one `sendmmsg` all arrive.
    #[tokio::test]
    async fn batches_keep_per_datagram_pktinfo_and_order() {
        let server = Dhcp6Socket::bind(&loopback_opts()).unwrap();
        let port = server.local_addr().unwrap().port();
        let client = std::net::UdpSocket::bind("[::1]:0").unwrap();
        for i in 0..5u8 {
            client.send_to(&[i; 3], ("::1", port)).unwrap();
        }
        let mut batch = RecvBatch::new(8, 16);
        let mut got = Vec::new();
        while got.len() < 5 {
            let n = server.recv_batch(&mut batch).await.unwrap();
            assert_eq!(n, batch.len());
            for (bytes, meta) in batch.iter() {
                let meta = meta.unwrap();
                assert_eq!(meta.dst, Ipv6Addr::LOCALHOST);
                assert_eq!(meta.ifindex, interface_index("lo").unwrap());
                assert_eq!(SocketAddr::V6(meta.src), client.local_addr().unwrap());
                assert!(!meta.truncated);
                got.push(bytes.to_vec());
            }
        }
        let want: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 3]).collect();
        assert_eq!(got, want, "arrival order is kept");

        client.send_to(&[9u8; 40], ("::1", port)).unwrap();
        server.recv_batch(&mut batch).await.unwrap();
        let (bytes, meta) = batch.iter().next().unwrap();
        assert!(meta.unwrap().truncated);
        assert_eq!(bytes.len(), 16);

        let to = to_client(&client);
        let replies: Vec<Vec<u8>> = (0..70u8).map(|i| vec![i; 2]).collect();
        let msgs: Vec<(&[u8], SendMeta)> = replies.iter().map(|r| (r.as_slice(), to)).collect();
        let results = server.send_batch(&msgs).await;
        assert_eq!(results.len(), 70);
        assert!(results.iter().all(|r| matches!(r, Ok(2))), "{results:?}");
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut rbuf = [0u8; 16];
        for i in 0..70u8 {
            let (n, from) = client.recv_from(&mut rbuf).unwrap();
            assert_eq!(&rbuf[..n], &[i, i], "more than one sendmmsg call, in order");
            assert_eq!(from.port(), port);
        }
    }

    /// A datagram the kernel refuses is reported alone; the rest of the batch still goes.
    #[tokio::test]
    async fn send_batch_reports_a_refused_datagram_and_sends_the_rest() {
        let server = Dhcp6Socket::bind(&loopback_opts()).unwrap();
        let client = std::net::UdpSocket::bind("[::1]:0").unwrap();
        let ok = to_client(&client);
        // No interface has this index: sendmsg fails for this one only.
        let bad = SendMeta {
            ifindex: 999_999,
            ..ok
        };
        let msgs: Vec<(&[u8], SendMeta)> = vec![(b"a", ok), (b"b", bad), (b"c", ok)];
        let results = server.send_batch(&msgs).await;
        assert!(matches!(results[0], Ok(1)), "{results:?}");
        assert!(matches!(results[1], Err(NetError::Send(_))), "{results:?}");
        assert!(matches!(results[2], Ok(1)), "{results:?}");
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut rbuf = [0u8; 4];
        for want in [b"a", b"c"] {
            let (n, _) = client.recv_from(&mut rbuf).unwrap();
            assert_eq!(&rbuf[..n], want);
        }
    }

    #[tokio::test]
    async fn oversized_datagram_is_flagged_truncated() {
        let server = Dhcp6Socket::bind(&loopback_opts()).unwrap();
        let port = server.local_addr().unwrap().port();
        let client = std::net::UdpSocket::bind("[::1]:0").unwrap();
        client.send_to(&[7u8; 100], ("::1", port)).unwrap();
        let mut buf = [0u8; 10];
        let (_, meta) = server.recv(&mut buf).await.unwrap();
        assert!(meta.truncated);
    }

    #[tokio::test]
    async fn joining_the_servers_group_on_an_unknown_interface_fails_precisely() {
        let opts = BindOptions {
            multicast_ifindexes: vec![999_999],
            ..loopback_opts()
        };
        let err = Dhcp6Socket::bind(&opts).unwrap_err();
        assert!(err.to_string().contains("ff02::1:2"), "{err}");
        assert!(err.to_string().contains("999999"), "{err}");
    }

    #[test]
    fn reply_to_multicast_lets_kernel_choose_link_source() {
        let meta = RecvMeta {
            src: SocketAddrV6::new("fe80::1".parse().unwrap(), 546, 0, 3),
            dst: ALL_DHCP_RELAY_AGENTS_AND_SERVERS,
            ifindex: 3,
            truncated: false,
        };
        let s = SendMeta::reply_to(&meta);
        assert_eq!(s.src, None);
        assert_eq!(s.ifindex, 3);
        assert_eq!(s.dst.port(), 546);
    }

    fn loopback_opts4() -> BindOptions4 {
        BindOptions4 {
            addr: Ipv4Addr::UNSPECIFIED,
            port: 0,
        }
    }

    fn v4_client() -> (std::net::UdpSocket, SocketAddrV4) {
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let SocketAddr::V4(addr) = client.local_addr().unwrap() else {
            panic!("client is IPv4")
        };
        (client, addr)
    }

    /// RFC 2131 §4.1: the server must know how a message was addressed and on which link it
    /// arrived; over loopback IP_PKTINFO names 127.0.0.1 as both header destination and
    /// local address, and lo as the interface. The reply leaves from that address.
    #[tokio::test]
    async fn v4_pktinfo_reports_interface_destination_and_local_address() {
        let server = Dhcp4Socket::bind(&loopback_opts4()).unwrap();
        let port = server.local_addr().unwrap().port();
        let (client, client_addr) = v4_client();
        client.send_to(b"request", ("127.0.0.1", port)).unwrap();

        let mut buf = [0u8; 1500];
        let (n, meta) = server.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"request");
        assert_eq!(meta.src, client_addr);
        assert_eq!(meta.dst, Ipv4Addr::LOCALHOST);
        assert_eq!(meta.local, Ipv4Addr::LOCALHOST);
        assert_eq!(meta.ifindex, interface_index("lo").unwrap());
        assert!(!meta.is_broadcast());
        assert!(!meta.truncated);

        let reply = SendMeta4 {
            dst: meta.src,
            ifindex: meta.ifindex,
            src: Some(meta.local),
        };
        assert_eq!(server.send(b"ack", &reply).await.unwrap(), 3);
        let mut rbuf = [0u8; 64];
        let (rn, from) = client.recv_from(&mut rbuf).unwrap();
        assert_eq!(&rbuf[..rn], b"ack");
        assert_eq!(from, SocketAddr::from((Ipv4Addr::LOCALHOST, port)));

        // ipi_spec_dst is the source: any of lo's 127/8 addresses will do.
        let other_src = Ipv4Addr::new(127, 0, 0, 2);
        let reply = SendMeta4 {
            src: Some(other_src),
            ..reply
        };
        server.send(b"ack2", &reply).await.unwrap();
        let (rn, from) = client.recv_from(&mut rbuf).unwrap();
        assert_eq!(&rbuf[..rn], b"ack2");
        assert_eq!(from, SocketAddr::from((other_src, port)));
    }

    /// A subnet broadcast (lo's 127.255.255.255) keeps the broadcast address as `dst`,
    /// while `local` (ipi_spec_dst) is our address the kernel would answer from.
    #[tokio::test]
    async fn v4_broadcast_reports_the_broadcast_destination_and_our_address() {
        let server = Dhcp4Socket::bind(&loopback_opts4()).unwrap();
        let port = server.local_addr().unwrap().port();
        let (client, client_addr) = v4_client();
        client.set_broadcast(true).unwrap();
        client
            .send_to(b"discover", ("127.255.255.255", port))
            .unwrap();
        let mut buf = [0u8; 64];
        let (n, meta) = server.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"discover");
        assert_eq!(meta.src, client_addr);
        assert_eq!(meta.dst, Ipv4Addr::new(127, 255, 255, 255));
        assert_eq!(meta.local, Ipv4Addr::LOCALHOST);
        assert_eq!(meta.ifindex, interface_index("lo").unwrap());
        assert!(meta.is_broadcast());
    }

    #[test]
    fn v4_is_broadcast_tells_limited_and_subnet_broadcasts_from_unicast() {
        let meta = |dst: Ipv4Addr, local: Ipv4Addr| RecvMeta4 {
            src: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
            dst,
            local,
            ifindex: 2,
            truncated: false,
        };
        let ours = Ipv4Addr::new(198, 51, 100, 1);
        assert!(meta(Ipv4Addr::BROADCAST, ours).is_broadcast());
        // A broadcast on an interface without IPv4 address: no local address either.
        assert!(meta(Ipv4Addr::BROADCAST, Ipv4Addr::UNSPECIFIED).is_broadcast());
        assert!(meta(Ipv4Addr::new(198, 51, 100, 255), ours).is_broadcast());
        assert!(!meta(ours, ours).is_broadcast());
    }

    /// Bursts of DHCPv4 traffic go through the same recvmmsg / sendmmsg paths as DHCPv6:
    /// every datagram keeps its own metadata, order is kept, long ones are flagged.
    #[tokio::test]
    async fn v4_batches_keep_per_datagram_pktinfo_and_order() {
        let server = Dhcp4Socket::bind(&loopback_opts4()).unwrap();
        let port = server.local_addr().unwrap().port();
        let (client, client_addr) = v4_client();
        for i in 0..5u8 {
            client.send_to(&[i; 3], ("127.0.0.1", port)).unwrap();
        }
        let mut batch = RecvBatch4::new(8, 16);
        assert!(batch.is_empty());
        let mut got = Vec::new();
        while got.len() < 5 {
            let n = server.recv_batch(&mut batch).await.unwrap();
            assert_eq!(n, batch.len());
            for (bytes, meta) in batch.iter() {
                let meta = meta.unwrap();
                assert_eq!(meta.src, client_addr);
                assert_eq!(meta.dst, Ipv4Addr::LOCALHOST);
                assert_eq!(meta.local, Ipv4Addr::LOCALHOST);
                assert_eq!(meta.ifindex, interface_index("lo").unwrap());
                assert!(!meta.truncated);
                got.push(bytes.to_vec());
            }
        }
        let want: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 3]).collect();
        assert_eq!(got, want, "arrival order is kept");

        client.send_to(&[9u8; 40], ("127.0.0.1", port)).unwrap();
        server.recv_batch(&mut batch).await.unwrap();
        let (bytes, meta) = batch.iter().next().unwrap();
        assert!(meta.unwrap().truncated);
        assert_eq!(bytes.len(), 16);

        // Two routes (kernel's choice, then lo with an explicit source) in one batch:
        // they cannot share a sendmmsg call (one control message per call), and 70
        // datagrams exceed one call's cap anyway. Each datagram keeps its own source.
        let pinned_src = Ipv4Addr::new(127, 0, 0, 2);
        let lo = interface_index("lo").unwrap();
        let replies: Vec<Vec<u8>> = (0..70u8).map(|i| vec![i; 2]).collect();
        let msgs: Vec<(&[u8], SendMeta4)> = replies
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let pinned = i >= 35;
                let meta = SendMeta4 {
                    dst: client_addr,
                    ifindex: if pinned { lo } else { 0 },
                    src: pinned.then_some(pinned_src),
                };
                (r.as_slice(), meta)
            })
            .collect();
        let results = server.send_batch(&msgs).await;
        assert_eq!(results.len(), 70);
        assert!(results.iter().all(|r| matches!(r, Ok(2))), "{results:?}");
        let mut rbuf = [0u8; 16];
        for i in 0..70u8 {
            let (n, from) = client.recv_from(&mut rbuf).unwrap();
            assert_eq!(&rbuf[..n], &[i, i], "in order across sendmmsg calls");
            let want_src = if i >= 35 {
                pinned_src
            } else {
                Ipv4Addr::LOCALHOST
            };
            assert_eq!(from, SocketAddr::from((want_src, port)), "datagram {i}");
        }
    }

    /// A DHCPv4 datagram the kernel refuses (unknown interface; an index `in_pktinfo`
    /// cannot even hold) is reported alone; the rest of the batch still goes.
    #[tokio::test]
    async fn v4_send_batch_reports_refused_datagrams_and_sends_the_rest() {
        let server = Dhcp4Socket::bind(&loopback_opts4()).unwrap();
        let (client, client_addr) = v4_client();
        let ok = SendMeta4 {
            dst: client_addr,
            ifindex: 0,
            src: None,
        };
        let unknown = SendMeta4 {
            ifindex: 999_999,
            ..ok
        };
        let too_big = SendMeta4 {
            ifindex: u32::MAX,
            ..ok
        };
        let msgs: Vec<(&[u8], SendMeta4)> =
            vec![(b"a", ok), (b"b", unknown), (b"c", too_big), (b"d", ok)];
        let results = server.send_batch(&msgs).await;
        assert_eq!(results.len(), 4);
        assert!(matches!(results[0], Ok(1)), "{results:?}");
        assert!(matches!(results[1], Err(NetError::Send(_))), "{results:?}");
        assert!(matches!(results[2], Err(NetError::Send(_))), "{results:?}");
        assert!(matches!(results[3], Ok(1)), "{results:?}");
        let mut rbuf = [0u8; 4];
        for want in [b"a", b"d"] {
            let (n, _) = client.recv_from(&mut rbuf).unwrap();
            assert_eq!(&rbuf[..n], want);
        }
    }

    /// The two servers can share a port number: the DHCPv6 socket is IPv6-only.
    #[tokio::test]
    async fn v4_and_v6_sockets_bind_the_same_port_number() {
        let v6 = Dhcp6Socket::bind(&loopback_opts()).unwrap();
        let port = v6.local_addr().unwrap().port();
        let v4 = Dhcp4Socket::bind(&BindOptions4 {
            port,
            ..loopback_opts4()
        })
        .unwrap();
        assert_eq!(v4.local_addr().unwrap().port(), port);
    }

    #[test]
    fn v4_defaults_are_the_server_port_on_every_address() {
        let opts = BindOptions4::default();
        assert_eq!(opts.addr, Ipv4Addr::UNSPECIFIED);
        assert_eq!(opts.port, crate::SERVER_PORT_V4);
        assert_eq!(crate::SERVER_PORT_V4, 67);
        assert_eq!(crate::CLIENT_PORT_V4, 68);
    }

    #[test]
    fn in_addr_holds_octets_in_network_order() {
        let ip = Ipv4Addr::new(198, 51, 100, 7);
        assert_eq!(ipv4_of(in_addr_of(ip)), ip);
        assert_eq!(in_addr_of(ip).s_addr.to_ne_bytes(), [198, 51, 100, 7]);
    }
}
