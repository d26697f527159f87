//! The ICMP echo task of the DHCPv4 conflict probe (RFC 2131 §4.4.1): it owns the
//! [`EchoSocket`] and talks to the driver over two channels ([`PingChannels`]), the way
//! the partner link does, so a test can stand in for the network with a fake.

use std::net::Ipv4Addr;

use tandem_net::EchoSocket;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::ping_check::MAX_PROBES_IN_FLIGHT;

/// The driver's end: echo requests to send (`tx`), sources of echo replies (`rx`).
pub struct PingChannels {
    pub tx: mpsc::Sender<Ipv4Addr>,
    pub rx: mpsc::Receiver<Ipv4Addr>,
}

/// The far ends of a [`PingChannels`]: what a prober (the real task or a test's fake)
/// reads requests from and reports replies on.
pub struct ProberEnds {
    pub requests: mpsc::Receiver<Ipv4Addr>,
    pub replies: mpsc::Sender<Ipv4Addr>,
}

/// A channel pair sized for every probe that may be in flight.
pub fn channels() -> (PingChannels, ProberEnds) {
    let (tx, requests) = mpsc::channel(MAX_PROBES_IN_FLIGHT);
    let (replies, rx) = mpsc::channel(MAX_PROBES_IN_FLIGHT);
    (PingChannels { tx, rx }, ProberEnds { requests, replies })
}

/// Starts the task that sends the driver's echo requests on `socket` and reports every
/// echo reply; it ends when the driver drops its end.
pub fn spawn(socket: EchoSocket) -> PingChannels {
    let (driver_end, mut ends) = channels();
    tokio::spawn(async move {
        let mut seq: u16 = 0;
        loop {
            tokio::select! {
                req = ends.requests.recv() => {
                    let Some(addr) = req else { break };
                    seq = seq.wrapping_add(1);
                    if let Err(e) = socket.send_echo(addr, seq).await {
                        // No reply will come: the probe times out and the OFFER leaves.
                        warn!(%addr, error = %e, "ping-check echo request not sent");
                    }
                }
                reply = socket.recv_reply() => match reply {
                    Ok(addr) => {
                        debug!(%addr, "echo reply");
                        if ends.replies.send(addr).await.is_err() {
                            break;
                        }
                    }
                    Err(e) => warn!(error = %e, "ping-check receive failed"),
                },
            }
        }
    });
    driver_end
}
