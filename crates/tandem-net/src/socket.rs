//! The server socket: one UDP/IPv6 socket with per-datagram interface and address metadata.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::fd::AsRawFd;

use nix::libc;
use nix::sys::socket::{
    recvmmsg, recvmsg, sendmmsg, sendmsg, setsockopt, sockopt, ControlMessage, ControlMessageOwned,
    MsgFlags, MultiHeaders, RecvMsg, SockaddrIn6,
};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;

use crate::{NetError, ALL_DHCP_RELAY_AGENTS_AND_SERVERS, SERVER_PORT};

/// How to open the server socket.
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

/// Receive buffer asked for; the kernel grants at most net.core.rmem_max.
const RECV_BUFFER_BYTES: usize = 4 << 20;

/// Most datagrams one `sendmmsg` call carries (Linux caps a call at UIO_MAXIOV = 1024).
const SEND_BATCH_MAX: usize = 64;

/// Buffers for [`Dhcp6Socket::recv_batch`]: `slots` datagrams of up to `slot_len` bytes
/// each, filled by one `recvmmsg` call, so that a burst costs one system call instead of
/// one per datagram.
#[derive(Debug)]
pub struct RecvBatch {
    slots: Vec<Vec<u8>>,
    /// Per slot filled by the last receive: its length and metadata, or why the datagram
    /// is unusable (no pktinfo).
    got: Vec<(usize, Result<RecvMeta, NetError>)>,
}

impl RecvBatch {
    /// Room for `slots` datagrams of up to `slot_len` bytes (longer ones are flagged
    /// truncated, like [`Dhcp6Socket::recv`]).
    pub fn new(slots: usize, slot_len: usize) -> Self {
        RecvBatch {
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
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], Result<&RecvMeta, &NetError>)> {
        self.got
            .iter()
            .zip(&self.slots)
            .map(|((n, meta), slot)| (slot.get(..*n).unwrap_or(slot), meta.as_ref()))
    }
}

/// Where a datagram came from and how it reached us.
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

/// Where to send a datagram, and from which interface / source address.
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

/// The DHCPv6 server's UDP socket. Must be created inside a tokio runtime.
#[derive(Debug)]
pub struct Dhcp6Socket {
    // tokio's UdpSocket gives readiness tracking (`async_io`) without `unsafe`; the
    // recvmsg/sendmsg calls with control messages are made on its raw fd through nix.
    sock: UdpSocket,
}

fn opt_err(option: &'static str) -> impl FnOnce(io::Error) -> NetError {
    move |source| NetError::SocketOption { option, source }
}

impl Dhcp6Socket {
    /// Opens, configures and binds the socket, then joins ff02::1:2 on each listed interface.
    pub fn bind(opts: &BindOptions) -> Result<Self, NetError> {
        let sock = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))
            .map_err(NetError::Socket)?;
        // IPv6 only: a DHCPv4 server may own the same port number on IPv4 later.
        sock.set_only_v6(true).map_err(opt_err("IPV6_V6ONLY"))?;
        // Restarting the server must not wait for anything; also lets a relay agent coexist.
        sock.set_reuse_address(true)
            .map_err(opt_err("SO_REUSEADDR"))?;
        // Clients come in bursts (a power cut brings a whole building back at once); a
        // larger receive queue lets the server ride them out instead of dropping. The kernel
        // caps this at net.core.rmem_max, and a smaller buffer is not an error.
        if let Err(e) = sock.set_recv_buffer_size(RECV_BUFFER_BYTES) {
            tracing::warn!(error = %e, "cannot enlarge the UDP receive buffer; bursts may drop");
        }
        // Report arrival interface and destination address on every datagram.
        setsockopt(&sock, sockopt::Ipv6RecvPacketInfo, &true)
            .map_err(|e| opt_err("IPV6_RECVPKTINFO")(e.into()))?;
        sock.set_nonblocking(true).map_err(opt_err("O_NONBLOCK"))?;
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
        let sock = UdpSocket::from_std(sock.into()).map_err(NetError::Socket)?;
        Ok(Dhcp6Socket { sock })
    }

    /// The bound address (useful with port 0 in tests).
    pub fn local_addr(&self) -> Result<SocketAddrV6, NetError> {
        match self.sock.local_addr().map_err(NetError::Socket)? {
            SocketAddr::V6(a) => Ok(a),
            SocketAddr::V4(_) => Err(NetError::Socket(io::Error::other("socket is not IPv6"))),
        }
    }

    /// Waits for one datagram; returns its length in `buf` and its metadata.
    pub async fn recv(&self, buf: &mut [u8]) -> Result<(usize, RecvMeta), NetError> {
        let fd = self.sock.as_raw_fd();
        self.sock
            .async_io(Interest::READABLE, || recv_once(fd, buf))
            .await
            .map_err(NetError::Recv)?
    }

    /// Waits until at least one datagram is readable, then takes as many as are queued
    /// (up to the batch's slot count) with one `recvmmsg`; read them with
    /// [`RecvBatch::iter`]. Returns how many arrived.
    pub async fn recv_batch(&self, batch: &mut RecvBatch) -> Result<usize, NetError> {
        let fd = self.sock.as_raw_fd();
        batch.got.clear();
        let RecvBatch { slots, got } = batch;
        self.sock
            .async_io(Interest::READABLE, || recv_many(fd, slots, got))
            .await
            .map_err(NetError::Recv)
    }

    /// Sends every datagram of `msgs` (as [`Self::send`] would), using one `sendmmsg` per
    /// run of datagrams that leave with the same interface and source. Returns one result
    /// per datagram, in order: a datagram the kernel refuses does not stop the others.
    pub async fn send_batch(&self, msgs: &[(&[u8], SendMeta)]) -> Vec<Result<usize, NetError>> {
        let fd = self.sock.as_raw_fd();
        let mut results = Vec::with_capacity(msgs.len());
        let mut rest = msgs;
        while let Some((first, _)) = rest.first().map(|m| (m, ())) {
            let key = (first.1.ifindex, first.1.src);
            let run = rest
                .iter()
                .take(SEND_BATCH_MAX)
                .take_while(|m| (m.1.ifindex, m.1.src) == key)
                .count()
                .max(1);
            let chunk = rest.get(..run).unwrap_or(rest);
            let sent = self
                .sock
                .async_io(Interest::WRITABLE, || send_many(fd, chunk))
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

    /// Sends one datagram with `IPV6_PKTINFO` selecting interface and source.
    pub async fn send(&self, buf: &[u8], meta: &SendMeta) -> Result<usize, NetError> {
        let fd = self.sock.as_raw_fd();
        self.sock
            .async_io(Interest::WRITABLE, || send_once(fd, buf, meta))
            .await
            .map_err(NetError::Send)
    }
}

/// One non-blocking `recvmsg`; `WouldBlock` goes back to tokio's readiness tracking.
fn recv_once(
    fd: std::os::fd::RawFd,
    buf: &mut [u8],
) -> io::Result<Result<(usize, RecvMeta), NetError>> {
    let mut iov = [IoSliceMut::new(buf)];
    let mut cmsg = nix::cmsg_space!(libc::in6_pktinfo);
    let msg = recvmsg::<SockaddrIn6>(fd, &mut iov, Some(cmsg.as_mut_slice()), MsgFlags::empty())
        .map_err(io::Error::from)?;
    let src = msg.address.map(SocketAddrV6::from);
    let mut pktinfo = None;
    for c in msg.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::Ipv6PacketInfo(pi) = c {
            pktinfo = Some(pi);
        }
    }
    let (Some(src), Some(pi)) = (src, pktinfo) else {
        return Ok(Err(NetError::MissingPktInfo));
    };
    Ok(Ok((
        msg.bytes,
        RecvMeta {
            src,
            dst: Ipv6Addr::from(pi.ipi6_addr.s6_addr),
            ifindex: pi.ipi6_ifindex,
            truncated: msg.flags.contains(MsgFlags::MSG_TRUNC),
        },
    )))
}

/// Metadata of one received datagram; `Err` when the pktinfo is missing.
fn recv_meta(msg: &RecvMsg<'_, '_, SockaddrIn6>) -> io::Result<Result<RecvMeta, NetError>> {
    let src = msg.address.map(SocketAddrV6::from);
    let mut pktinfo = None;
    for c in msg.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::Ipv6PacketInfo(pi) = c {
            pktinfo = Some(pi);
        }
    }
    let (Some(src), Some(pi)) = (src, pktinfo) else {
        return Ok(Err(NetError::MissingPktInfo));
    };
    Ok(Ok(RecvMeta {
        src,
        dst: Ipv6Addr::from(pi.ipi6_addr.s6_addr),
        ifindex: pi.ipi6_ifindex,
        truncated: msg.flags.contains(MsgFlags::MSG_TRUNC),
    }))
}

/// One non-blocking `recvmmsg` into `slots`; `WouldBlock` (nothing queued) goes back to
/// tokio's readiness tracking.
fn recv_many(
    fd: std::os::fd::RawFd,
    slots: &mut [Vec<u8>],
    got: &mut Vec<(usize, Result<RecvMeta, NetError>)>,
) -> io::Result<usize> {
    // Fresh headers per call: the kernel shrinks each header's name and control lengths
    // to what it wrote, and nix does not restore them.
    let mut headers = MultiHeaders::<SockaddrIn6>::preallocate(
        slots.len(),
        Some(nix::cmsg_space!(libc::in6_pktinfo)),
    );
    let mut iovs: Vec<[IoSliceMut; 1]> = slots
        .iter_mut()
        .map(|s| [IoSliceMut::new(s.as_mut_slice())])
        .collect();
    let msgs =
        recvmmsg(fd, &mut headers, &mut iovs, MsgFlags::empty(), None).map_err(io::Error::from)?;
    got.clear();
    for msg in msgs {
        let meta = recv_meta(&msg)?;
        got.push((msg.bytes, meta));
    }
    Ok(got.len())
}

/// The destination address and `IPV6_PKTINFO` contents for `meta`.
fn send_target(meta: &SendMeta) -> (SockaddrIn6, Option<libc::in6_pktinfo>) {
    let mut dst = meta.dst;
    // A link-local destination is ambiguous without its link.
    if dst.scope_id() == 0 && is_link_scoped(dst.ip()) {
        dst.set_scope_id(meta.ifindex);
    }
    let pi = (meta.ifindex != 0 || meta.src.is_some()).then(|| libc::in6_pktinfo {
        ipi6_addr: libc::in6_addr {
            s6_addr: meta.src.unwrap_or(Ipv6Addr::UNSPECIFIED).octets(),
        },
        ipi6_ifindex: meta.ifindex,
    });
    (SockaddrIn6::from(dst), pi)
}

/// One non-blocking `sendmmsg` of `msgs`, which all share interface and source (the
/// control message is common to the call). Returns how many datagrams went out.
fn send_many(fd: std::os::fd::RawFd, msgs: &[(&[u8], SendMeta)]) -> io::Result<usize> {
    let Some(first) = msgs.first() else {
        return Ok(0);
    };
    let (_, pi) = send_target(&first.1);
    let addrs: Vec<Option<SockaddrIn6>> = msgs.iter().map(|m| Some(send_target(&m.1).0)).collect();
    let iovs: Vec<[IoSlice; 1]> = msgs.iter().map(|m| [IoSlice::new(m.0)]).collect();
    match &pi {
        Some(pi) => {
            let cmsgs = [ControlMessage::Ipv6PacketInfo(pi)];
            let mut headers = MultiHeaders::<SockaddrIn6>::preallocate(
                msgs.len(),
                Some(nix::cmsg_space!(libc::in6_pktinfo)),
            );
            let sent = sendmmsg(fd, &mut headers, &iovs, &addrs, cmsgs, MsgFlags::empty())
                .map_err(io::Error::from)?;
            // nix reports the number sent only through its result iterator.
            Ok(sent.count())
        }
        None => {
            let mut headers = MultiHeaders::<SockaddrIn6>::preallocate(msgs.len(), None);
            let cmsgs: [ControlMessage; 0] = [];
            let sent = sendmmsg(fd, &mut headers, &iovs, &addrs, cmsgs, MsgFlags::empty())
                .map_err(io::Error::from)?;
            Ok(sent.count())
        }
    }
}

/// One non-blocking `sendmsg` with the interface / source chosen by `meta`.
fn send_once(fd: std::os::fd::RawFd, buf: &[u8], meta: &SendMeta) -> io::Result<usize> {
    let mut dst = meta.dst;
    // A link-local destination is ambiguous without its link.
    if dst.scope_id() == 0 && is_link_scoped(dst.ip()) {
        dst.set_scope_id(meta.ifindex);
    }
    let addr = SockaddrIn6::from(dst);
    let src = meta.src.unwrap_or(Ipv6Addr::UNSPECIFIED);
    let pi = libc::in6_pktinfo {
        ipi6_addr: libc::in6_addr {
            s6_addr: src.octets(),
        },
        ipi6_ifindex: meta.ifindex,
    };
    let with_pktinfo = [ControlMessage::Ipv6PacketInfo(&pi)];
    let cmsgs: &[ControlMessage] = if meta.ifindex == 0 && meta.src.is_none() {
        &[]
    } else {
        &with_pktinfo
    };
    let iov = [IoSlice::new(buf)];
    sendmsg(fd, &iov, cmsgs, MsgFlags::empty(), Some(&addr)).map_err(io::Error::from)
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
}
