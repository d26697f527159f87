//! The driver of a failover pair member: one task owns a
//! [`tandem_failover::server::FailoverServer`] and feeds it client datagrams, partner
//! messages, timers and operator commands; it carries out the core's outputs in order.
//!
//! The one rule (DESIGN.md, "the core's contract"): an output marked *after persist* (client
//! replies, BNDUPD, BNDREPLY, STATE …) leaves only once every lease change and endpoint
//! record the core emitted before it is committed. Persists collected while handling one
//! input form one batch for the group-commit writer; outputs wait on that batch's id. A
//! failed commit withholds client replies (the client retries) and drops the partner link,
//! so the partner resends what was not acknowledged.

mod status;

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tandem_core::{RxInfo, Time};
use tandem_failover::endpoint::EndpointRecord;
use tandem_failover::server::{Event, FailoverServer, Output, PersistItem};
use tandem_net::{Dhcp6Socket, RecvBatch, RecvMeta, SendMeta};
use tandem_store::{Batch, GroupCommitWriter, StoreError};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::clock::{wake_for, Clock};
use crate::counters::Counters;

pub use status::PairStatus;

/// Largest DHCPv6 datagram read.
const MAX_DATAGRAM: usize = 65_535;
/// Datagrams taken per `recvmmsg`: a burst is handled, committed with one group commit
/// and answered with `sendmmsg`, as in the single-server driver.
const RECV_BATCH: usize = 32;
/// Stop reading client datagrams while this many outputs wait for their commit, so a
/// stalled disk turns into UDP drops (clients retry) rather than unbounded memory.
const MAX_GATED: usize = 20_000;
/// Never sleep longer than this between timer checks (re-reads the clock, in case the
/// wall clock jumps; endpoint timers count seconds).
const MAX_TIMER_SLEEP: Duration = Duration::from_secs(1);

/// What the partner link reports (the transport: TCP, optionally TLS, 2-byte framing).
#[derive(Debug)]
pub enum PeerEvent {
    Connected,
    /// One failover message, without its 2-byte length.
    Frame(Vec<u8>),
    Disconnected(String),
}

/// What the driver asks of the partner link.
#[derive(Debug, PartialEq, Eq)]
pub enum PeerCommand {
    /// One failover message, without its 2-byte length.
    Send(Vec<u8>),
    /// Close the connection (after what was sent before); the link reconnects later.
    Close(String),
}

/// Operator requests (the control socket).
#[derive(Debug)]
pub enum CtlRequest {
    Status(oneshot::Sender<PairStatus>),
    PartnerDown(oneshot::Sender<Result<(), String>>),
}

/// Why the driver stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum PairError {
    #[error("the lease store writer went away with {0} commits pending")]
    CommitsLost(usize),
}

/// Something that may leave once batch `gate` is durable.
#[derive(Debug)]
enum Release {
    Client(Vec<u8>, SendMeta),
    Peer(Vec<u8>),
    ClosePeer(String),
}

/// Counters beyond the client ones.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct PeerCounters {
    pub messages_sent: u64,
    pub messages_received: u64,
    pub protocol_errors: u64,
    pub updates_rejected: u64,
    pub commit_failures: u64,
    /// Double assignments found and resolved in the partner's favour (§7.5.4 accept(3)).
    pub bindings_displaced: u64,
}

/// The pair member's driver.
pub struct PairDriver {
    pub core: FailoverServer,
    pub socket: Arc<Dhcp6Socket>,
    /// Interface names by ifindex, as the configuration names them.
    pub interfaces: BTreeMap<u32, String>,
    pub writer: GroupCommitWriter,
    pub peer_tx: mpsc::Sender<PeerCommand>,
    pub peer_rx: mpsc::Receiver<PeerEvent>,
    pub ctl_rx: mpsc::Receiver<CtlRequest>,
    pub clock: Clock,
    pub counters: Arc<Counters>,
}

struct Loop {
    d: PairDriver,
    gated: VecDeque<(u64, Release)>,
    /// Persists of the inputs handled since the last [`Loop::commit_staged`], and what
    /// must wait for them: one burst of datagrams becomes one batch for the writer.
    staged: Batch,
    staged_releases: Vec<Release>,
    /// Client replies released, sent together by [`Loop::send_replies`].
    outbox: Vec<(Vec<u8>, SendMeta)>,
    next_id: u64,
    done_upto: u64,
    in_flight: usize,
    done_tx: mpsc::UnboundedSender<(u64, Result<(), StoreError>)>,
    peer: PeerCounters,
    started: Time,
    /// (deadline, now) of a `handle_timeout` after which the core still reported that
    /// same past deadline: not run again before the clock's next second.
    stuck_timer: Option<(Time, Time)>,
}

impl PairDriver {
    /// Runs until `shutdown` completes; then says DISCONNECT to the partner, waits for the
    /// pending commits and what waited on them, and returns the core.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<FailoverServer, PairError> {
        let (done_tx, mut done_rx) = mpsc::unbounded_channel();
        let socket = self.socket.clone();
        let started = (self.clock)();
        let mut lp = Loop {
            d: self,
            gated: VecDeque::new(),
            staged: Batch::default(),
            staged_releases: Vec::new(),
            outbox: Vec::new(),
            next_id: 1,
            done_upto: 0,
            in_flight: 0,
            done_tx,
            peer: PeerCounters::default(),
            started,
            stuck_timer: None,
        };
        let mut batch = RecvBatch::new(RECV_BATCH, MAX_DATAGRAM);
        let mut shutdown = std::pin::pin!(shutdown);
        let mut running = true;
        lp.flush(None);
        loop {
            // Before any other work: a steady stream of datagrams, commits or partner
            // messages must not hold the keep-alive and state timers back.
            if running {
                lp.run_due_timers();
            }
            lp.commit_staged();
            lp.release_ready().await;
            if !running && lp.in_flight == 0 && lp.gated.is_empty() {
                break;
            }
            let can_read = running && lp.gated.len() < MAX_GATED;
            let timer_at = lp.timer_wake();
            tokio::select! {
                biased;
                () = &mut shutdown, if running => {
                    running = false;
                    info!("shutting down: telling the partner, flushing pending commits");
                    let now = (lp.d.clock)();
                    lp.d.core.shutdown(now);
                    lp.flush(None);
                }
                done = done_rx.recv() => match done {
                    Some((id, result)) => {
                        lp.on_commit(id, result);
                        // A group commit completes several batches at once.
                        while let Ok((id, result)) = done_rx.try_recv() {
                            lp.on_commit(id, result);
                        }
                    }
                    None => return Err(PairError::CommitsLost(lp.in_flight)),
                },
                ev = lp.d.peer_rx.recv(), if running => lp.on_peer(ev),
                req = lp.d.ctl_rx.recv(), if running => {
                    if let Some(req) = req {
                        lp.on_ctl(req);
                    }
                }
                received = socket.recv_batch(&mut batch), if can_read => match received {
                    Ok(_) => {
                        for (bytes, meta) in batch.iter() {
                            match meta {
                                Ok(meta) => lp.on_datagram(bytes, meta),
                                Err(e) => {
                                    warn!(error = %e, "receive failed");
                                    lp.d.counters.drop_for("receive_error");
                                }
                            }
                        }
                    }
                    Err(e) => {
                        warn!(error = %e, "receive failed");
                        lp.d.counters.drop_for("receive_error");
                    }
                },
                // Only wakes the loop: the timers run at its top.
                () = tokio::time::sleep_until(timer_at), if running => {}
            }
        }
        info!(counters = ?lp.d.counters.snapshot(), peer = ?lp.peer, "pair driver stopped");
        Ok(lp.d.core)
    }
}

impl Loop {
    // ------------------------------------------------------------------ timers
    // All of the driver's timer handling: the core's one absolute deadline
    // (`poll_timeout`, whole seconds), run when the clock reaches it at the top of each
    // loop turn, and slept for when nothing else wakes the loop.

    /// Runs the core's timers if the clock has reached their deadline.
    fn run_due_timers(&mut self) {
        let now = (self.d.clock)();
        if self.next_timer().is_none_or(|t| t > now) {
            return;
        }
        let due = self.d.core.poll_timeout();
        self.d.core.handle_timeout(now);
        self.flush(None);
        // The core reports only work it does (FailoverServer::poll_timeout); were it to
        // report the same past deadline again, wait for the next second, not spin.
        self.stuck_timer = due
            .filter(|d| self.d.core.poll_timeout() == Some(*d))
            .map(|d| (d, now));
        if let Some((due, _)) = self.stuck_timer {
            debug!(%due, %now, "the core's timer is still due after handle_timeout");
        }
    }

    /// The core's next deadline, as [`Self::run_due_timers`] will act on it.
    fn next_timer(&self) -> Option<Time> {
        let t = self.d.core.poll_timeout()?;
        Some(match self.stuck_timer {
            Some((due, ran)) if t == due => t.max(ran + 1),
            _ => t,
        })
    }

    /// When to wake the loop for the next timer if nothing else does.
    fn timer_wake(&self) -> Instant {
        wake_for(
            self.next_timer(),
            (self.d.clock)(),
            Instant::now(),
            MAX_TIMER_SLEEP,
        )
    }

    // ------------------------------------------------------------------ inputs

    fn on_datagram(&mut self, bytes: &[u8], meta: &RecvMeta) {
        self.d.counters.update(|c| c.received += 1);
        if meta.truncated {
            self.d.counters.drop_for("truncated");
            return;
        }
        let rx = RxInfo {
            src: meta.src,
            dst: meta.dst,
            interface: self
                .d
                .interfaces
                .get(&meta.ifindex)
                .cloned()
                .unwrap_or_default(),
        };
        let now = (self.d.clock)();
        let outcome = self.d.core.handle_client(now, bytes, &rx);
        if let Some(reason) = outcome.drop {
            debug!(reason = reason.as_str(), peer = %meta.src, "no reply");
            self.d.counters.drop_for(reason.as_str());
        }
        self.flush(Some(meta));
    }

    fn on_peer(&mut self, ev: Option<PeerEvent>) {
        let now = (self.d.clock)();
        match ev {
            Some(PeerEvent::Connected) => {
                info!("partner connected");
                self.d.core.handle_connected(now);
            }
            Some(PeerEvent::Frame(bytes)) => {
                self.peer.messages_received += 1;
                self.d.core.handle_peer_bytes(now, &bytes);
            }
            Some(PeerEvent::Disconnected(why)) => {
                info!(reason = %why, "partner connection lost");
                self.d.core.handle_disconnected(now);
            }
            None => {
                // The link task is gone: no partner any more, as if disconnected for good.
                self.d.core.handle_disconnected(now);
            }
        }
        self.flush(None);
    }

    fn on_ctl(&mut self, req: CtlRequest) {
        let now = (self.d.clock)();
        match req {
            CtlRequest::Status(tx) => {
                let s = PairStatus::of(&self.d.core, now, &self.peer, self.started);
                let _ = tx.send(s);
            }
            CtlRequest::PartnerDown(tx) => {
                let r = self.d.core.partner_down_command(now);
                match &r {
                    Ok(()) => warn!("operator declared the partner down"),
                    Err(e) => info!(error = %e, "partner-down refused"),
                }
                let _ = tx.send(r);
                self.flush(None);
            }
        }
    }

    /// Collects the core's outputs: persists join the staged batch, what must wait for it
    /// joins the staged releases (both go out in [`Self::commit_staged`], after the rest
    /// of the burst); connection housekeeping goes at once when nothing is queued.
    fn flush(&mut self, meta: Option<&RecvMeta>) {
        let mut now_peer = Vec::new();
        while let Some(o) = self.d.core.poll_output() {
            match o {
                Output::Persist(PersistItem::Lease(c)) => self.staged.leases.push(c),
                Output::Persist(PersistItem::Endpoint(r)) => {
                    self.staged = std::mem::take(&mut self.staged)
                        .put_meta(EndpointRecord::META_KEY, r.encode());
                }
                Output::ClientReply(r) => {
                    let to = match meta {
                        Some(m) => {
                            let mut to = SendMeta::reply_to(m);
                            to.dst = r.dest;
                            to
                        }
                        None => SendMeta {
                            dst: r.dest,
                            ifindex: 0,
                            src: None,
                        },
                    };
                    self.staged_releases.push(Release::Client(r.bytes, to));
                }
                Output::Peer { msg, after_persist } => {
                    let bytes = msg.emit();
                    if !after_persist && self.gated.is_empty() && self.staged_releases.is_empty() {
                        now_peer.push(bytes);
                    } else {
                        self.staged_releases.push(Release::Peer(bytes));
                    }
                }
                Output::ClosePeer { reason } => {
                    self.staged_releases.push(Release::ClosePeer(reason))
                }
                Output::Event(e) => self.on_event(e),
            }
        }
        for bytes in now_peer {
            self.send_peer(bytes);
        }
    }

    /// Hands the staged persists to the writer as one batch (one fsync for a whole burst)
    /// and gates the staged releases on it; with nothing to persist they wait only for
    /// what was submitted before them.
    fn commit_staged(&mut self) {
        if self.staged_releases.is_empty() && self.staged.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.staged);
        let gate = if batch.is_empty() {
            self.next_id - 1
        } else {
            let id = self.next_id;
            self.next_id += 1;
            self.in_flight += 1;
            let tx = self.done_tx.clone();
            self.d.writer.submit(
                batch,
                Box::new(move |result| {
                    let _ = tx.send((id, result));
                }),
            );
            id
        };
        for r in std::mem::take(&mut self.staged_releases) {
            self.gated.push_back((gate, r));
        }
    }

    fn on_event(&mut self, e: Event) {
        match e {
            Event::StateChanged { from, to } => info!(%from, %to, "failover state changed"),
            Event::Alarm(a) => warn!(alarm = %a, "failover alarm"),
            Event::ProtocolError(p) => {
                self.peer.protocol_errors += 1;
                warn!(error = %p, "partner protocol error");
            }
            Event::UpdateRejected { resource, code } => {
                self.peer.updates_rejected += 1;
                warn!(?resource, code, "partner rejected a binding update");
            }
            Event::Unexpected(u) => debug!(what = %u, "unexpected partner message"),
            Event::BindingDisplaced {
                resource,
                client,
                until,
                by,
            } => {
                self.peer.bindings_displaced += 1;
                error!(
                    %resource, %client, until = ?until, partner_client = %by,
                    "one lease held by two clients: the partner's binding replaced ours \
                     (RFC 8156 §7.5.4); our client will be told to stop using it when it renews"
                );
            }
            Event::LinkUp => info!("failover communications OK"),
            Event::LinkDown => info!("failover communications interrupted"),
        }
    }

    fn on_commit(&mut self, id: u64, result: Result<(), StoreError>) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.done_upto = self.done_upto.max(id);
        if let Err(e) = result {
            self.peer.commit_failures += 1;
            self.d.counters.update(|c| c.commit_failures += 1);
            error!(error = %e, "lease commit failed: replies withheld, partner link reset");
            // Nothing that waited on this batch may leave.
            let mut dropped = 0;
            while self.gated.front().is_some_and(|(g, _)| *g <= id) {
                if let Some((_, Release::Client(..))) = self.gated.pop_front() {
                    dropped += 1;
                }
            }
            for _ in 0..dropped {
                self.d.counters.drop_for("commit_failed");
            }
            let _ = self
                .d
                .peer_tx
                .try_send(PeerCommand::Close("lease commit failed".into()));
        } else {
            self.d.counters.update(|c| c.commits += 1);
        }
    }

    /// Sends everything whose batch is durable, in order (client replies together, with
    /// `sendmmsg`, after the partner messages released with them).
    async fn release_ready(&mut self) {
        while self
            .gated
            .front()
            .is_some_and(|(g, _)| *g <= self.done_upto)
        {
            let Some((_, r)) = self.gated.pop_front() else {
                break;
            };
            match r {
                Release::Client(bytes, to) => self.outbox.push((bytes, to)),
                Release::Peer(bytes) => self.send_peer(bytes),
                Release::ClosePeer(reason) => {
                    let _ = self.d.peer_tx.try_send(PeerCommand::Close(reason));
                }
            }
        }
        self.send_replies().await;
    }

    async fn send_replies(&mut self) {
        if self.outbox.is_empty() {
            return;
        }
        let outbox = std::mem::take(&mut self.outbox);
        let msgs: Vec<(&[u8], SendMeta)> =
            outbox.iter().map(|(b, to)| (b.as_slice(), *to)).collect();
        // Counted before the send (a client may read its reply, and then our counters,
        // before the call returns) and corrected for failures after.
        let n = msgs.len() as u64;
        self.d.counters.update(|c| c.replied += n);
        let results = self.d.socket.send_batch(&msgs).await;
        for ((_, to), result) in outbox.iter().zip(results) {
            if let Err(e) = result {
                warn!(error = %e, to = %to.dst, "reply send failed");
                self.d
                    .counters
                    .update(|c| c.replied = c.replied.saturating_sub(1));
                self.d.counters.drop_for("send_error");
            }
        }
        drop(msgs);
        self.outbox = outbox;
        self.outbox.clear();
    }

    fn send_peer(&mut self, bytes: Vec<u8>) {
        self.peer.messages_sent += 1;
        if let Err(e) = self.d.peer_tx.try_send(PeerCommand::Send(bytes)) {
            // A full queue means the link is far behind; the core resends after reconnect.
            warn!(error = %e, "partner link queue full: message dropped, resetting link");
            let _ = self
                .d
                .peer_tx
                .try_send(PeerCommand::Close("send queue overflow".into()));
        }
    }
}
