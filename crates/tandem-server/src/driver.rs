//! The one driver, for a server alone and for a pair member: the [`Runner`]'s loop on
//! tokio — the client sockets, DHCPv6 and DHCPv4 (recvmmsg/sendmmsg), the partner link when there is one,
//! the store writer (group commit), the control socket and the clock.
//!
//! It only moves bytes, writes batches and wakes timers; every decision is the runner's
//! (and the core's gate's), which the simulation runs too.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tandem_net::{Dhcp4Socket, Dhcp6Socket, NetError, RecvBatch, RecvBatch4, SendMeta, SendMeta4};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::clock::{wake_for, Clock, StepWatch};
use crate::commit::{CommitError, CommitSink};
use crate::counters::Counters;
use crate::ping_link::PingChannels;
use crate::runner::{Actions, CtlRequest, PeerCommand, PeerEvent, Runner};
use tandem_failover::node::BatchId;

/// Largest datagram read (either family); anything longer is cut and dropped.
const MAX_DATAGRAM: usize = 65_535;
/// Datagrams taken per `recvmmsg`: a burst is handled as one turn, its changes written as
/// one batch (group commit) and its replies sent with `sendmmsg`.
const RECV_BATCH: usize = 32;
/// Never sleep longer than this between timer checks (in case the wall clock jumps).
const MAX_TIMER_SLEEP: Duration = Duration::from_secs(1);
/// How often the counters are logged at debug level.
const STATS_EVERY: Duration = Duration::from_secs(60);

/// Why the driver stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("the lease store writer went away with {0} commits pending")]
    CommitsLost(u64),
}

/// The partner link's two channels (the link task itself is [`crate::partner`]'s).
pub struct PartnerChannels {
    pub tx: mpsc::Sender<PeerCommand>,
    pub rx: mpsc::Receiver<PeerEvent>,
}

/// What `run` hands back after a clean stop.
pub struct Stopped<C> {
    pub runner: Runner,
    pub sink: C,
}

/// The driver: a runner and the I/O it is fed from.
pub struct Driver<C> {
    pub runner: Runner,
    /// The DHCPv6 socket (port 547), when DHCPv6 is served.
    pub socket: Option<Arc<Dhcp6Socket>>,
    /// The DHCPv4 socket (port 67), when DHCPv4 is served.
    pub socket4: Option<Arc<Dhcp4Socket>>,
    pub sink: C,
    pub partner: Option<PartnerChannels>,
    pub ctl: Option<mpsc::Receiver<CtlRequest>>,
    pub clock: Clock,
    /// The ICMP echo link of the DHCPv4 conflict probe (RFC 2131 §4.4.1), when a subnet
    /// has `ping_check` ([`crate::ping_link`]).
    pub pinger: Option<PingChannels>,
}

impl<C: CommitSink> Driver<C> {
    /// The counters, shared: readable while and after the driver runs.
    pub fn counters(&self) -> Arc<Counters> {
        self.runner.counters().clone()
    }

    /// Runs until `shutdown` completes; then says DISCONNECT to the partner, stops reading,
    /// waits for every pending commit and what waited on it, and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<Stopped<C>, DriverError> {
        let Driver {
            mut runner,
            socket,
            socket4,
            sink,
            partner,
            mut ctl,
            clock,
            pinger,
        } = self;
        // The probes' clock: monotonic milliseconds since the loop started.
        let origin = Instant::now();
        let mono_ms = || origin.elapsed().as_millis() as u64;
        let (ping_tx, mut ping_rx) = match pinger {
            Some(p) => (Some(p.tx), Some(p.rx)),
            None => (None, None),
        };
        let mut time = TimeSource {
            clock,
            watch: StepWatch::new(),
        };
        let (mut peer_tx, mut peer_rx) = match partner {
            Some(p) => (Some(p.tx), Some(p.rx)),
            None => (None, None),
        };
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
        let mut io = Io {
            socket: socket.clone(),
            socket4: socket4.clone(),
            counters: runner.counters().clone(),
            sink,
            done_tx,
            in_flight: 0,
            ping_tx,
        };
        let mut batch = RecvBatch::new(RECV_BATCH, MAX_DATAGRAM);
        let mut batch4 = RecvBatch4::new(RECV_BATCH, MAX_DATAGRAM);
        // Which family's socket is read first when both have datagrams: it alternates,
        // so a flood on one never starves the other.
        let mut v4_first = false;
        let mut shutdown = std::pin::pin!(shutdown);
        let mut running = true;
        let mut stats = tokio::time::interval(STATS_EVERY);
        stats.tick().await;
        loop {
            if !running && io.in_flight == 0 && runner.settled() {
                break;
            }
            // 1. Timers first, however busy the loop is.
            if running {
                let now = time.now(&mut runner);
                runner.turn(now);
                runner.turn_probes(mono_ms());
            }
            io.carry_out(runner.take_actions(), &mut peer_tx).await;
            let can_read = running && runner.can_read();
            let now = time.now(&mut runner);
            let mut wake = wake_for(runner.wake_at(), now, Instant::now(), MAX_TIMER_SLEEP);
            if let Some(ms) = runner.probe_wake_at() {
                wake = wake.min(origin + Duration::from_millis(ms));
            }
            let peer_open = running && peer_rx.is_some();
            tokio::select! {
                biased;
                () = &mut shutdown, if running => {
                    running = false;
                    info!("shutting down: telling the partner, flushing pending commits");
                    let now = time.now(&mut runner);
                    runner.shutdown(now);
                }
                done = done_rx.recv() => match done {
                    Some((id, result, took)) => {
                        io.in_flight -= 1;
                        io.counters.commit_done(took);
                        runner.on_committed(id, result.map_err(|e| e.0));
                        // A group commit completes several batches at once.
                        while let Ok((id, result, took)) = done_rx.try_recv() {
                            io.in_flight -= 1;
                            io.counters.commit_done(took);
                            runner.on_committed(id, result.map_err(|e| e.0));
                        }
                    }
                    None => return Err(DriverError::CommitsLost(io.in_flight)),
                },
                ev = recv_peer(&mut peer_rx), if peer_open => {
                    if ev.is_none() {
                        peer_rx = None; // the link task is gone
                    }
                    let now = time.now(&mut runner);
                    runner.on_peer(now, ev);
                }
                reply = recv_echo(&mut ping_rx), if running && ping_rx.is_some() => match reply {
                    Some(addr) => {
                        let now = time.now(&mut runner);
                        runner.on_echo_reply(now, addr);
                    }
                    // The echo task is gone: probes time out and their OFFERs leave.
                    None => ping_rx = None,
                },
                req = recv_ctl(&mut ctl), if running && ctl.is_some() => match req {
                    Some(req) => {
                        let now = time.now(&mut runner);
                        runner.on_ctl(now, req);
                    }
                    None => ctl = None,
                },
                received = recv_clients(
                    socket.as_deref(),
                    &mut batch,
                    socket4.as_deref(),
                    &mut batch4,
                    v4_first,
                ), if can_read => {
                    let now = time.now(&mut runner);
                    v4_first = matches!(received, Received::V6(_));
                    match received {
                        Received::V6(Ok(_)) => {
                            for (bytes, meta) in batch.iter() {
                                match meta {
                                    Ok(meta) => {
                                        runner.on_datagram(now, bytes, meta);
                                    }
                                    Err(e) => receive_failed(&runner, e),
                                }
                            }
                        }
                        Received::V4(Ok(_)) => {
                            for (bytes, meta) in batch4.iter() {
                                match meta {
                                    Ok(meta) => {
                                        runner.on_datagram4(now, bytes, meta);
                                    }
                                    Err(e) => receive_failed(&runner, e),
                                }
                            }
                        }
                        Received::V6(Err(e)) | Received::V4(Err(e)) => receive_failed(&runner, &e),
                    }
                },
                () = tokio::time::sleep_until(wake), if running => {
                    let now = time.now(&mut runner);
                    runner.idle_wake(now);
                    runner.turn_probes(mono_ms());
                }
                _ = stats.tick() => {
                    debug!(counters = ?runner.counters().snapshot(), "driver counters");
                }
            }
            io.carry_out(runner.take_actions(), &mut peer_tx).await;
        }
        info!(counters = ?runner.counters().snapshot(), peer = ?runner.peer_counters(), "driver stopped");
        Ok(Stopped {
            runner,
            sink: io.sink,
        })
    }
}

/// Every reading of the wall clock, checked against the monotonic clock: the runner hears
/// of a step before it is given a time from after it.
struct TimeSource {
    clock: Clock,
    watch: StepWatch,
}

impl TimeSource {
    fn now(&mut self, runner: &mut Runner) -> tandem_core::Time {
        let now = (self.clock)();
        if let Some(step) = self.watch.observe(now, Instant::now()) {
            runner.on_clock_step(now, step);
        }
        now
    }
}

fn receive_failed(runner: &Runner, e: &NetError) {
    warn!(error = %e, "receive failed");
    runner.counters().drop_for("receive_error");
}

/// A burst from one of the client sockets.
enum Received {
    V6(Result<usize, NetError>),
    V4(Result<usize, NetError>),
}

/// The next burst from whichever client socket has one (a family not served never
/// has), `v4_first` saying which to take when both do.
async fn recv_clients(
    v6: Option<&Dhcp6Socket>,
    batch: &mut RecvBatch,
    v4: Option<&Dhcp4Socket>,
    batch4: &mut RecvBatch4,
    v4_first: bool,
) -> Received {
    let from_v6 = async {
        match v6 {
            Some(s) => s.recv_batch(batch).await,
            None => std::future::pending().await,
        }
    };
    let from_v4 = async {
        match v4 {
            Some(s) => s.recv_batch(batch4).await,
            None => std::future::pending().await,
        }
    };
    if v4_first {
        tokio::select! { biased; r = from_v4 => Received::V4(r), r = from_v6 => Received::V6(r) }
    } else {
        tokio::select! { biased; r = from_v6 => Received::V6(r), r = from_v4 => Received::V4(r) }
    }
}

async fn recv_peer(rx: &mut Option<mpsc::Receiver<PeerEvent>>) -> Option<PeerEvent> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn recv_echo(
    rx: &mut Option<mpsc::Receiver<std::net::Ipv4Addr>>,
) -> Option<std::net::Ipv4Addr> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn recv_ctl(rx: &mut Option<mpsc::Receiver<CtlRequest>>) -> Option<CtlRequest> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// A batch's completion: its id, the result, and how long it took from submission (measured
/// on the writer's thread when it reported, so the loop's own delay is not counted).
type Done = (BatchId, Result<(), CommitError>, Duration);

/// The driver's hands: the socket, the store writer, the partner link.
struct Io<C> {
    socket: Option<Arc<Dhcp6Socket>>,
    socket4: Option<Arc<Dhcp4Socket>>,
    counters: Arc<Counters>,
    sink: C,
    done_tx: mpsc::UnboundedSender<Done>,
    in_flight: u64,
    /// Echo requests for the ICMP task ([`crate::ping_link`]).
    ping_tx: Option<mpsc::Sender<std::net::Ipv4Addr>>,
}

impl<C: CommitSink> Io<C> {
    /// Writes first (the store starts its fsync while the replies that need none go out),
    /// then replies (one `sendmmsg`), then partner commands.
    async fn carry_out(&mut self, a: Actions, peer_tx: &mut Option<mpsc::Sender<PeerCommand>>) {
        if a.is_empty() {
            return;
        }
        for (id, batch) in a.commits {
            self.in_flight += 1;
            self.counters.commit_group(batch.len());
            let tx = self.done_tx.clone();
            let submitted = std::time::Instant::now();
            self.sink.submit(
                batch,
                Box::new(move |result| {
                    // The loop is gone only while it is torn down; nothing to tell then.
                    let _ = tx.send((id, result, submitted.elapsed()));
                }),
            );
        }
        if !a.replies.is_empty() {
            self.send_replies(a.replies).await;
        }
        if !a.replies4.is_empty() {
            self.send_replies4(a.replies4).await;
        }
        for addr in a.pings4 {
            // Sized for every probe the runner lets be in flight; were the task gone, the
            // probe just times out and its OFFER leaves unprobed, as without ping_check.
            match &self.ping_tx {
                Some(tx) => {
                    if let Err(e) = tx.try_send(addr) {
                        warn!(%addr, error = %e, "ping-check echo request not handed over");
                    }
                }
                None => warn!(%addr, "ping-check asked for but no ICMP socket: not probed"),
            }
        }
        let handed_over = !a.peer.is_empty() && peer_tx.is_some();
        for cmd in a.peer {
            let Some(tx) = peer_tx.as_ref() else { break };
            if let Err(e) = tx.try_send(cmd) {
                // A full queue means the link is far behind; the core resends after the
                // reconnection what the partner did not acknowledge (RFC 8156 §7.7).
                warn!(error = %e, "partner link queue full: message dropped, resetting link");
                let _ = tx.try_send(PeerCommand::Close("send queue overflow".into()));
            }
        }
        if handed_over {
            // The link task was just woken, but tokio runs it only when this task yields:
            // under a client flood every receive is ready and the loop would otherwise run
            // its whole cooperative budget (thousands of datagrams) first, holding a
            // CONTACT or a BNDUPD back for up to a second (RFC 8156 §6.5 FO_SEND_TIME).
            tokio::task::yield_now().await;
        }
    }

    async fn send_replies(&self, replies: Vec<(Vec<u8>, SendMeta)>) {
        let msgs: Vec<(&[u8], SendMeta)> =
            replies.iter().map(|(b, to)| (b.as_slice(), *to)).collect();
        let sent = match &self.socket {
            Some(s) => {
                self.count_sending(msgs.len());
                s.send_batch(&msgs).await
            }
            None => Vec::new(),
        };
        self.count_sent(replies.iter().map(|(_, to)| to.dst.into()), sent);
    }

    async fn send_replies4(&self, replies: Vec<(Vec<u8>, SendMeta4)>) {
        let msgs: Vec<(&[u8], SendMeta4)> =
            replies.iter().map(|(b, to)| (b.as_slice(), *to)).collect();
        let sent = match &self.socket4 {
            Some(s) => {
                self.count_sending(msgs.len());
                s.send_batch(&msgs).await
            }
            None => Vec::new(),
        };
        self.count_sent(replies.iter().map(|(_, to)| to.dst.into()), sent);
    }

    /// Counted before the send and corrected after: one `sendmmsg` delivers the whole
    /// batch, and a client may read its reply (and our counters) before the call returns.
    fn count_sending(&self, n: usize) {
        let n = n as u64;
        self.counters.update(|c| c.replied += n);
    }

    /// Each failed send (or a reply for a family with no socket, which the core never
    /// makes: it answers only what a socket brought) is logged and counted.
    fn count_sent(
        &self,
        to: impl Iterator<Item = std::net::SocketAddr>,
        results: Vec<Result<usize, NetError>>,
    ) {
        let mut results = results.into_iter();
        for dst in to {
            match results.next() {
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    warn!(error = %e, to = %dst, "reply send failed");
                    self.counters
                        .update(|c| c.replied = c.replied.saturating_sub(1));
                    self.counters.drop_for("send_error");
                }
                None => {
                    warn!(to = %dst, "no socket of this family: reply not sent");
                    self.counters.drop_for("send_error");
                }
            }
        }
    }
}
