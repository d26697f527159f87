//! A plain-TCP partner link (`[failover.tls] insecure = true`): 2-byte length framing
//! (RFC 8156 §5.1 via RFC 5460 §5.1), the primary connects with backoff, the secondary
//! accepts only its configured partner. One connection at a time.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tandem_failover::Role;
use tandem_server::pair::{PeerCommand, PeerEvent};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio_util::codec::{Framed, LengthDelimitedCodec};
use tracing::{info, warn};

const MAX_BACKOFF: Duration = Duration::from_secs(30);

fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_length(2)
        .max_frame_length(65_535)
        .new_codec()
}

/// Starts the link task; returns the driver's ends.
pub fn spawn(
    role: Role,
    local: SocketAddr,
    peer: SocketAddr,
) -> std::io::Result<(mpsc::Sender<PeerCommand>, mpsc::Receiver<PeerEvent>)> {
    let (cmd_tx, cmd_rx) = mpsc::channel(4096);
    let (ev_tx, ev_rx) = mpsc::channel(4096);
    match role {
        Role::Primary => {
            tokio::spawn(connect_loop(local, peer, cmd_rx, ev_tx));
        }
        Role::Secondary => {
            let listener = std::net::TcpListener::bind(local)?;
            listener.set_nonblocking(true)?;
            let listener = TcpListener::from_std(listener)?;
            info!(%local, partner = %peer.ip(), "listening for the failover partner");
            tokio::spawn(accept_loop(listener, peer, cmd_rx, ev_tx));
        }
    }
    Ok((cmd_tx, ev_rx))
}

async fn connect_loop(
    local: SocketAddr,
    peer: SocketAddr,
    mut cmds: mpsc::Receiver<PeerCommand>,
    events: mpsc::Sender<PeerEvent>,
) {
    let mut backoff = Duration::from_secs(1);
    loop {
        match connect(local, peer).await {
            Ok(stream) => {
                info!(%peer, "connected to the failover partner");
                backoff = Duration::from_secs(1);
                let why = session(stream, &mut cmds, &events).await;
                if events.send(PeerEvent::Disconnected(why)).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                tracing::debug!(%peer, error = %e, "cannot reach the failover partner");
            }
        }
        // Drop what was queued for a connection that no longer exists.
        while cmds.try_recv().is_ok() {}
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
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
    s.set_nodelay(true)?;
    Ok(s)
}

async fn accept_loop(
    listener: TcpListener,
    peer: SocketAddr,
    mut cmds: mpsc::Receiver<PeerCommand>,
    events: mpsc::Sender<PeerEvent>,
) {
    loop {
        let (stream, from) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                warn!(error = %e, "failover accept failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        if from.ip() != peer.ip() {
            warn!(%from, expected = %peer.ip(), "refused a failover connection from a stranger");
            continue;
        }
        let _ = stream.set_nodelay(true);
        info!(%from, "failover partner connected");
        while cmds.try_recv().is_ok() {}
        let why = session(stream, &mut cmds, &events).await;
        if events.send(PeerEvent::Disconnected(why)).await.is_err() {
            return;
        }
    }
}

/// Runs one connection; returns why it ended.
async fn session(
    stream: TcpStream,
    cmds: &mut mpsc::Receiver<PeerCommand>,
    events: &mpsc::Sender<PeerEvent>,
) -> String {
    if events.send(PeerEvent::Connected).await.is_err() {
        return "driver gone".into();
    }
    let mut framed = Framed::new(stream, codec());
    loop {
        tokio::select! {
            frame = framed.next() => match frame {
                Some(Ok(b)) => {
                    if events.send(PeerEvent::Frame(b.to_vec())).await.is_err() {
                        return "driver gone".into();
                    }
                }
                Some(Err(e)) => return format!("bad frame from the partner: {e}"),
                None => return "partner closed the connection".into(),
            },
            cmd = cmds.recv() => match cmd {
                Some(PeerCommand::Send(m)) => {
                    if let Err(e) = framed.send(bytes::Bytes::from(m)).await {
                        return format!("send failed: {e}");
                    }
                }
                Some(PeerCommand::Close(reason)) => {
                    let _ = SinkExt::<bytes::Bytes>::close(&mut framed).await;
                    return reason;
                }
                None => return "driver gone".into(),
            },
        }
    }
}
