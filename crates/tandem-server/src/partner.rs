//! The partner link. Two protocols, one task shape:
//!
//! - RFC 8156 (DHCPv6): TCP with 2-byte length framing (§5.1 via RFC 5460 §5.1), mutually
//!   authenticated TLS unless `[failover.tls] insecure = true`. The primary connects with
//!   backoff; the secondary accepts only its configured partner's address.
//! - draft-ietf-dhc-failover-12 (DHCPv4, ISC dhcpd's): each message carries its own length,
//!   which counts itself (§6.1). As ISC dhcpd 4.4 does, **both** members listen and both
//!   connect, from the configured source address (dhcpd accepts a connection only from the
//!   `peer address` it has); the first connection up carries the session and a second one
//!   from the partner is closed, as dhcpd closes it. A dhcpd partner needs plain TCP (it has
//!   no TLS); two tandems can run the same protocol over mutual TLS.
//!
//! One connection at a time; incoming connections from any other address are refused.
//!
//! TLS starts with the first byte (no STARTTLS exchange as in RFC 7653 §8.2, which RFC 8156
//! points to): both ends are tandem and a plaintext prelude would only add a downgrade
//! step. A partner configured differently fails the handshake and is logged.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tandem_failover::wire::Protocol;
use tandem_failover::Role;
use tandem_wire::failover::{decode_frame, encode_frame, MAX_FRAME_LEN};
use tandem_wire::{dhcpfo, WireError};

use crate::counters::Counters;
use crate::ratelimit::{RateLimited, Report};
use crate::runner::{PeerCommand, PeerEvent};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_util::codec::{Decoder, Encoder, Framed};
use tracing::{debug, info, warn};

const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A session that ends sooner than this after it connected counts as a failed attempt (a
/// refused CONNECT, a partner that closes at once): the reconnect backoff keeps growing
/// instead of starting again at 1 s, so a partner that refuses us (clock skew, another
/// relationship name) is not redialled every second for ever.
const STABLE_SESSION: Duration = Duration::from_secs(10);
/// TCP_USER_TIMEOUT: unacknowledged data older than this kills the connection even when the
/// partner vanished without a reset (the failover keep-alive notices too, later).
const USER_TIMEOUT: Duration = Duration::from_secs(20);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How the link is protected.
#[derive(Clone)]
pub enum Security {
    Plain,
    Tls {
        acceptor: TlsAcceptor,
        connector: TlsConnector,
        server_name: ServerName<'static>,
    },
}

/// Why the partner link could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum PartnerError {
    #[error("{what}: {why}")]
    Tls { what: String, why: String },
    #[error("cannot listen for the partner on {local}: {source}")]
    Listen {
        local: SocketAddr,
        source: std::io::Error,
    },
}

fn tls_err(what: impl Into<String>, why: impl std::fmt::Display) -> PartnerError {
    PartnerError::Tls {
        what: what.into(),
        why: why.to_string(),
    }
}

/// Loads our certificate and key and the pair's CA (PEM files) for mutual TLS.
pub fn load_tls(
    cert: &Path,
    key: &Path,
    ca: &Path,
    server_name: &str,
) -> Result<Security, PartnerError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| tls_err(format!("cannot read certificate {}", cert.display()), e))?
        .collect::<Result<_, _>>()
        .map_err(|e| {
            tls_err(
                format!("{} is not a PEM certificate chain", cert.display()),
                e,
            )
        })?;
    if certs.is_empty() {
        return Err(tls_err(cert.display().to_string(), "holds no certificate"));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        tls_err(
            format!("cannot read a PEM private key from {}", key.display()),
            e,
        )
    })?;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca)
        .map_err(|e| tls_err(format!("cannot read CA {}", ca.display()), e))?
    {
        let c = c.map_err(|e| tls_err(format!("{} is not a PEM certificate", ca.display()), e))?;
        roots.add(c).map_err(|e| {
            tls_err(
                format!("{} is not a usable CA certificate", ca.display()),
                e,
            )
        })?;
    }
    if roots.is_empty() {
        return Err(tls_err(ca.display().to_string(), "holds no CA certificate"));
    }
    let roots = Arc::new(roots);
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        roots.clone(),
        provider.clone(),
    )
    .build()
    .map_err(|e| tls_err("cannot build the partner certificate verifier", e))?;
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err("TLS versions", e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs.clone(), key.clone_key())
        .map_err(|e| tls_err("the private key does not match its certificate", e))?;
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err("TLS versions", e))?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)
        .map_err(|e| tls_err("the private key does not match the certificate", e))?;
    let server_name = ServerName::try_from(server_name.to_string())
        .map_err(|_| tls_err(format!("{server_name:?}"), "is not a valid TLS server name"))?;
    Ok(Security::Tls {
        acceptor: TlsAcceptor::from(Arc::new(server)),
        connector: TlsConnector::from(Arc::new(client)),
        server_name,
    })
}

/// Framing on the stream, by tandem-wire's rules (the fuzzed ones). RFC 8156 §5.1: a
/// 2-byte length, then the message, which is what the core reads; an empty frame is an
/// error. draft-12 §6.1: the message's own first two bytes are its length (12..=2048,
/// itself included) and the core reads the whole message.
struct Frames(Protocol);

impl Decoder for Frames {
    type Item = Vec<u8>;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Vec<u8>>, FrameError> {
        let taken = match self.0 {
            Protocol::Rfc8156 => decode_frame(src, MAX_FRAME_LEN)?,
            Protocol::Draft12 => dhcpfo::take_message(src)?,
        };
        match taken {
            None => Ok(None),
            Some((msg, used)) => {
                let msg = msg.to_vec();
                src.advance(used);
                Ok(Some(msg))
            }
        }
    }
}

impl Encoder<Vec<u8>> for Frames {
    type Error = FrameError;

    fn encode(&mut self, msg: Vec<u8>, dst: &mut BytesMut) -> Result<(), FrameError> {
        match self.0 {
            Protocol::Rfc8156 => {
                let frame = encode_frame(&msg).ok_or(FrameError::Unframeable(msg.len()))?;
                dst.extend_from_slice(&frame);
            }
            Protocol::Draft12 => {
                // Already framed by the codec; checked again so a bad length never goes
                // out (the partner would drop the link on it).
                if dhcpfo::message_len(&msg)? != Some(msg.len()) {
                    return Err(FrameError::Unframeable(msg.len()));
                }
                dst.extend_from_slice(&msg);
            }
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
enum FrameError {
    #[error("{0}")]
    Wire(#[from] WireError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("a {0}-byte message cannot be framed (RFC 8156: 1 to 65535 bytes; draft-12: 12 to 2048, its length field right)")]
    Unframeable(usize),
}

/// Starts the link task; returns the driver's ends. Failed TLS handshakes are counted in
/// `counters` (`tls_failures`: a partner with the wrong CA, certificate or name, or a
/// stranger probing the port, shows there before anything else does).
///
/// `local` is where we listen (its port) and the source address we connect from;
/// `peer` is where we connect.
pub fn spawn(
    protocol: Protocol,
    role: Role,
    local: SocketAddr,
    peer: SocketAddr,
    security: Security,
    counters: Arc<Counters>,
) -> Result<(mpsc::Sender<PeerCommand>, mpsc::Receiver<PeerEvent>), PartnerError> {
    let (cmd_tx, cmd_rx) = mpsc::channel(4096);
    let (ev_tx, ev_rx) = mpsc::channel(4096);
    let link = Link {
        protocol,
        local,
        peer,
        security,
        counters,
    };
    let listen = || -> Result<TcpListener, PartnerError> {
        let listen = |e| PartnerError::Listen { local, source: e };
        let listener = std::net::TcpListener::bind(local).map_err(listen)?;
        listener.set_nonblocking(true).map_err(listen)?;
        let listener = TcpListener::from_std(listener).map_err(listen)?;
        info!(%local, partner = %peer.ip(), "listening for the failover partner");
        Ok(listener)
    };
    match (protocol, role) {
        (Protocol::Draft12, _) => {
            let listener = listen()?;
            info!(%peer, "connecting to the failover partner too, as ISC dhcpd does");
            tokio::spawn(link.both_ways(listener, cmd_rx, ev_tx));
        }
        (Protocol::Rfc8156, Role::Primary) => {
            tokio::spawn(connect_loop(link, cmd_rx, ev_tx));
        }
        (Protocol::Rfc8156, Role::Secondary) => {
            tokio::spawn(accept_loop(listen()?, link, cmd_rx, ev_tx));
        }
    }
    Ok((cmd_tx, ev_rx))
}

/// A connected (and, with TLS, authenticated) stream of either direction.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The reconnect delay: 1 s, doubling up to [`MAX_BACKOFF`] after each failed attempt; a
/// session that lasted [`STABLE_SESSION`] starts it again at 1 s, a shorter one is a failed
/// attempt (draft-12 §8.2 leaves the retry interval open; ISC dhcpd 4.4 waits 5 s after a
/// loss and 90 s after a failed attempt).
#[derive(Debug)]
struct Backoff(Duration);

impl Backoff {
    fn new() -> Self {
        Backoff(Duration::from_secs(1))
    }

    /// An attempt failed: the delay before the next one.
    fn failed(&mut self) -> Duration {
        let d = self.0;
        self.0 = (self.0 * 2).min(MAX_BACKOFF);
        d
    }

    /// A session ended after `lasted`: the delay before the next attempt.
    fn session_ended(&mut self, lasted: Duration) -> Duration {
        if lasted >= STABLE_SESSION {
            *self = Backoff::new();
        }
        self.failed()
    }
}

/// What every connection of the link shares.
struct Link {
    protocol: Protocol,
    local: SocketAddr,
    peer: SocketAddr,
    security: Security,
    counters: Arc<Counters>,
}

impl Link {
    /// Connects to the partner and, with TLS, authenticates it (we are the TLS client).
    async fn dial(&self) -> Result<Box<dyn Io>, String> {
        let tcp = connect(self.local, self.peer)
            .await
            .map_err(|e| e.to_string())?;
        match &self.security {
            Security::Plain => Ok(Box::new(tcp)),
            Security::Tls {
                connector,
                server_name,
                ..
            } => match tokio::time::timeout(
                HANDSHAKE_TIMEOUT,
                connector.connect(server_name.clone(), tcp),
            )
            .await
            {
                Ok(Ok(tls)) => Ok(Box::new(tls)),
                Ok(Err(e)) => {
                    self.counters.tls_failure();
                    Err(format!("TLS handshake failed: {e}"))
                }
                Err(_) => {
                    self.counters.tls_failure();
                    Err("TLS handshake timed out".into())
                }
            },
        }
    }

    /// A connection from `from` is not the partner's (ISC dhcpd 4.4 behaviour: "failover:
    /// listener: no matching state", closed): warned about with the address and counted.
    fn stranger(&self, from: SocketAddr) -> bool {
        if from.ip() == self.peer.ip() {
            return false;
        }
        warn!(%from, expected = %self.peer.ip(), "refused a failover connection from a stranger");
        self.counters.stranger_refused();
        true
    }

    /// Takes a connection the partner opened and, with TLS, authenticates it (we are the
    /// TLS server). `Ok(None)`: not from the partner's address, closed.
    async fn answer(
        &self,
        tcp: TcpStream,
        from: SocketAddr,
    ) -> Result<Option<Box<dyn Io>>, String> {
        if self.stranger(from) {
            return Ok(None);
        }
        tune(&tcp);
        match &self.security {
            Security::Plain => Ok(Some(Box::new(tcp))),
            Security::Tls { acceptor, .. } => {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => Ok(Some(Box::new(tls))),
                    Ok(Err(e)) => {
                        self.counters.tls_failure();
                        Err(format!("TLS handshake failed: {e}"))
                    }
                    Err(_) => {
                        self.counters.tls_failure();
                        Err("TLS handshake timed out".into())
                    }
                }
            }
        }
    }

    /// draft-12, as ISC dhcpd 4.4 runs its link: listen and connect at once; whichever
    /// connection comes up first carries the session; while it lasts, further connections
    /// from the partner are closed (dhcpd closes a duplicate the same way). After a loss,
    /// both directions are tried again.
    async fn both_ways(
        self,
        listener: TcpListener,
        mut cmds: mpsc::Receiver<PeerCommand>,
        events: mpsc::Sender<PeerEvent>,
    ) {
        let mut backoff = Backoff::new();
        let mut next_dial = tokio::time::Instant::now();
        let mut failures = RetryLog::new("cannot reach the failover partner");
        let mut refusals = RetryLog::new("refused the partner");
        loop {
            let (stream, direction) = tokio::select! {
                accepted = listener.accept() => {
                    let (tcp, from) = match accepted {
                        Ok(x) => x,
                        Err(e) => {
                            warn!(error = %e, "failover accept failed");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            continue;
                        }
                    };
                    match self.answer(tcp, from).await {
                        Ok(Some(s)) => {
                            refusals.success(from);
                            (s, "incoming")
                        }
                        Ok(None) => continue,
                        Err(why) => {
                            refusals.failure(from, &why);
                            continue;
                        }
                    }
                }
                () = tokio::time::sleep_until(next_dial) => match self.dial().await {
                    Ok(s) => {
                        failures.success(self.peer);
                        (s, "outgoing")
                    }
                    Err(why) => {
                        failures.failure(self.peer, &why);
                        next_dial = tokio::time::Instant::now() + backoff.failed();
                        continue;
                    }
                },
            };
            while cmds.try_recv().is_ok() {}
            let began = tokio::time::Instant::now();
            let ended = session(
                self.protocol,
                stream,
                direction,
                Some((&listener, &self)),
                &mut cmds,
                &events,
            )
            .await;
            if events.send(ended).await.is_err() {
                return;
            }
            while cmds.try_recv().is_ok() {}
            next_dial = tokio::time::Instant::now() + backoff.session_ended(began.elapsed());
        }
    }
}

/// RFC 8156: the primary connects, with backoff.
async fn connect_loop(
    link: Link,
    mut cmds: mpsc::Receiver<PeerCommand>,
    events: mpsc::Sender<PeerEvent>,
) {
    let mut backoff = Backoff::new();
    let mut failures = RetryLog::new("cannot reach the failover partner");
    loop {
        let delay = match link.dial().await {
            Ok(stream) => {
                failures.success(link.peer);
                let began = tokio::time::Instant::now();
                let ended =
                    session(link.protocol, stream, "outgoing", None, &mut cmds, &events).await;
                if events.send(ended).await.is_err() {
                    return;
                }
                backoff.session_ended(began.elapsed())
            }
            Err(why) => {
                failures.failure(link.peer, &why);
                backoff.failed()
            }
        };
        // Drop what was queued for a connection that no longer exists.
        while cmds.try_recv().is_ok() {}
        tokio::time::sleep(delay).await;
    }
}

async fn connect(local: SocketAddr, peer: SocketAddr) -> std::io::Result<TcpStream> {
    let sock = if peer.is_ipv6() {
        TcpSocket::new_v6()?
    } else {
        TcpSocket::new_v4()?
    };
    if !local.ip().is_unspecified() {
        sock.bind(SocketAddr::new(local.ip(), 0))?;
    }
    let s = tokio::time::timeout(Duration::from_secs(10), sock.connect(peer))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    tune(&s);
    Ok(s)
}

/// NODELAY (small messages, sent at once), TCP keep-alive and TCP_USER_TIMEOUT.
fn tune(s: &TcpStream) {
    let sock = socket2::SockRef::from(s);
    let ka = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(10))
        .with_interval(Duration::from_secs(5));
    let r = sock
        .set_tcp_nodelay(true)
        .and_then(|_| sock.set_tcp_keepalive(&ka))
        .and_then(|_| sock.set_tcp_user_timeout(Some(USER_TIMEOUT)));
    if let Err(e) = r {
        warn!(error = %e, "cannot tune the failover TCP connection");
    }
}

/// The partner link's retry messages, rate-limited ([`RateLimited`]): the first failure
/// at warn, then "still failing, N attempts in the last 60 s" at most once a minute, and
/// the recovery once at info. Every attempt is still logged at debug.
struct RetryLog {
    what: &'static str,
    start: tokio::time::Instant,
    limit: RateLimited,
}

impl RetryLog {
    fn new(what: &'static str) -> Self {
        RetryLog {
            what,
            start: tokio::time::Instant::now(),
            limit: RateLimited::default(),
        }
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_secs()
    }

    fn failure(&mut self, peer: SocketAddr, error: &str) {
        let what = self.what;
        debug!(%peer, error, "{what}");
        match self.limit.failure(self.now()) {
            Report::First => {
                warn!(%peer, error, "{what}; retrying (messages about it are summarised once a minute)")
            }
            Report::Still { attempts, secs } => warn!(
                %peer, error, attempts, secs,
                "{what}: still failing, {attempts} attempts in the last {secs} s"
            ),
            _ => {}
        }
    }

    fn success(&mut self, peer: SocketAddr) {
        if let Report::Recovered { attempts, secs } = self.limit.success(self.now()) {
            info!(%peer, attempts, secs, "failover partner reachable again after {attempts} failed attempts over {secs} s");
        }
    }
}

/// RFC 8156: the secondary accepts its partner's connections, one at a time.
async fn accept_loop(
    listener: TcpListener,
    link: Link,
    mut cmds: mpsc::Receiver<PeerCommand>,
    events: mpsc::Sender<PeerEvent>,
) {
    let mut refusals = RetryLog::new("refused the partner");
    loop {
        let (tcp, from) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                warn!(error = %e, "failover accept failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let stream = match link.answer(tcp, from).await {
            Ok(Some(s)) => {
                refusals.success(from);
                s
            }
            Ok(None) => continue,
            Err(why) => {
                refusals.failure(from, &why);
                continue;
            }
        };
        while cmds.try_recv().is_ok() {}
        let ended = session(link.protocol, stream, "incoming", None, &mut cmds, &events).await;
        if events.send(ended).await.is_err() {
            return;
        }
    }
}

/// A further connection while a session runs (draft-12 only, where both sides dial):
/// closed at once, as ISC dhcpd 4.4 closes a duplicate (a stranger's is warned about and
/// counted, as without a session). Pending forever without a listener.
async fn refuse_duplicate(guard: Option<(&TcpListener, &Link)>) {
    let Some((listener, link)) = guard else {
        return std::future::pending().await;
    };
    if let Ok((tcp, from)) = listener.accept().await {
        if !link.stranger(from) {
            debug!(%from, "closed a second failover connection: one session at a time");
        }
        drop(tcp);
    }
}

/// Runs one connection; returns how it ended, for the driver: `Disconnected(why)`, or
/// `BadFrame(why)` when the stream could not be split into messages.
async fn session(
    protocol: Protocol,
    stream: Box<dyn Io>,
    direction: &'static str,
    guard: Option<(&TcpListener, &Link)>,
    cmds: &mut mpsc::Receiver<PeerCommand>,
    events: &mpsc::Sender<PeerEvent>,
) -> PeerEvent {
    match session_inner(protocol, stream, direction, guard, cmds, events).await {
        Ok(why) => PeerEvent::Disconnected(why),
        Err(e) => PeerEvent::BadFrame(e.to_string()),
    }
}

async fn session_inner(
    protocol: Protocol,
    stream: Box<dyn Io>,
    direction: &'static str,
    guard: Option<(&TcpListener, &Link)>,
    cmds: &mut mpsc::Receiver<PeerCommand>,
    events: &mpsc::Sender<PeerEvent>,
) -> Result<String, FrameError> {
    info!(direction, "failover partner connected");
    if events.send(PeerEvent::Connected).await.is_err() {
        return Ok("driver gone".into());
    }
    let mut framed = Framed::new(stream, Frames(protocol));
    loop {
        tokio::select! {
            frame = framed.next() => match frame {
                Some(Ok(b)) => {
                    if events.send(PeerEvent::Frame(b)).await.is_err() {
                        return Ok("driver gone".into());
                    }
                }
                // A read error is a lost connection; anything else, bad framing.
                Some(Err(FrameError::Io(e))) => return Ok(format!("read failed: {e}")),
                Some(Err(e)) => return Err(e),
                None => return Ok("partner closed the connection".into()),
            },
            cmd = cmds.recv() => match cmd {
                Some(PeerCommand::Send(m)) => {
                    if let Err(e) = framed.send(m).await {
                        return Ok(format!("send failed: {e}"));
                    }
                }
                Some(PeerCommand::Close(reason)) => {
                    let _ = SinkExt::<Vec<u8>>::close(&mut framed).await;
                    return Ok(reason);
                }
                None => return Ok("driver gone".into()),
            },
            () = refuse_duplicate(guard) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A partner that refuses every CONNECT (clock skew over 60 s, another relationship
    /// name: draft-12 §7.8.2 reasons 4 and 8) ends each session at once: the redial delay
    /// must keep growing to the cap, not restart at 1 s each time (tandem redialled a
    /// refusing dhcpd every second, pair4_badinput.py).
    #[test]
    fn short_sessions_keep_backing_off_draft12_s8_2() {
        let mut b = Backoff::new();
        let delays: Vec<u64> = (0..7)
            .map(|_| b.session_ended(Duration::from_millis(5)).as_secs())
            .collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30]);
    }

    fn link(peer: SocketAddr, counters: Arc<Counters>) -> Link {
        Link {
            protocol: Protocol::Draft12,
            local: "127.0.0.1:0".parse().unwrap(),
            peer,
            security: Security::Plain,
            counters,
        }
    }

    /// ISC dhcpd 4.4 behaviour (failover: listener: no matching state): a connection from
    /// an address other than the partner's is closed unanswered. While a session runs
    /// (draft-12: the partner's second connection is closed as a duplicate) a stranger was
    /// only a debug line "closed a second failover connection", and never counted; it must
    /// be warned about with its address and counted, as when no session runs.
    #[tokio::test]
    async fn a_stranger_is_counted_while_a_session_runs_and_while_none_does() {
        let counters = Arc::new(Counters::default());
        let l = link("127.0.0.2:647".parse().unwrap(), counters.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let at = listener.local_addr().unwrap();
        // During a session: the duplicate path.
        let c = tokio::spawn(TcpStream::connect(at));
        refuse_duplicate(Some((&listener, &l))).await;
        let _ = c.await;
        assert_eq!(counters.snapshot().strangers_refused, 1);
        // No session: the accept path.
        let c = tokio::spawn(TcpStream::connect(at));
        let (tcp, from) = listener.accept().await.unwrap();
        assert!(l.answer(tcp, from).await.unwrap().is_none());
        let _ = c.await;
        assert_eq!(counters.snapshot().strangers_refused, 2);
        // The partner's own second connection is a duplicate, not a stranger.
        let l = link(SocketAddr::new(at.ip(), 647), counters.clone());
        let c = tokio::spawn(TcpStream::connect(at));
        refuse_duplicate(Some((&listener, &l))).await;
        let _ = c.await;
        assert_eq!(counters.snapshot().strangers_refused, 2);
    }

    #[test]
    fn a_stable_session_starts_the_backoff_again() {
        let mut b = Backoff::new();
        for _ in 0..5 {
            b.failed();
        }
        assert_eq!(b.session_ended(STABLE_SESSION).as_secs(), 1);
        assert_eq!(b.failed().as_secs(), 2);
    }
}
