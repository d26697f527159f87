//! The event loop: datagrams, commit completions, expiry timer, shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddrV6;
use std::sync::Arc;
use std::time::Duration;

use tandem_core::{Duid, LeaseChange};
use tandem_net::{Dhcp6Socket, RecvBatch, RecvMeta, SendMeta};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::clock::{system_now, Clock};
use crate::commit::{CommitError, CommitSink};
use crate::counters::Counters;
use crate::engine::{Engine, Handled};

/// Largest DHCPv6 datagram we accept; anything longer is cut and dropped.
const MAX_DATAGRAM: usize = 65_535;
/// Datagrams taken from the socket per system call (`recvmmsg`): under load a burst is
/// read, handled and answered (`sendmmsg`) in a few calls instead of one per datagram.
const RECV_BATCH: usize = 32;
/// Stop reading the socket while this many transactions wait for their commit, so a
/// stalled disk turns into UDP drops (clients retry) rather than unbounded memory.
const MAX_PENDING: usize = 10_000;
/// Upper bound on a single sleep of the expiry timer: re-read the clock at least this
/// often, in case the wall clock jumps.
const MAX_TIMER_SLEEP: Duration = Duration::from_secs(60);
/// Lower bound between two expiry runs, so a core whose next timeout is already past
/// cannot make the loop spin.
const MIN_TIMER_GAP: Duration = Duration::from_secs(1);
/// How often the counters are logged at debug level.
const STATS_EVERY: Duration = Duration::from_secs(60);

/// Why the driver stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The commit callback channel closed while commits were pending (the sink dropped them).
    #[error("the lease store dropped {0} pending commits without reporting")]
    CommitsLost(usize),
}

/// What `run` hands back after a clean stop: the core and the sink, so the caller can
/// shut the store writer down and inspect the final state.
pub struct Stopped<E, C> {
    pub engine: E,
    pub sink: C,
}

/// A transaction (or expiry run) whose changes are being committed.
struct Pending {
    reply: Option<(Vec<u8>, SendMeta)>,
    span: tracing::Span,
    ctx: TxContext,
}

/// Who a transaction was with, for warnings and errors: the per-datagram span is a
/// debug-level span (creating and filling an enabled span for every datagram is a
/// measurable share of the per-packet cost), so problems name the transaction themselves.
#[derive(Debug, Default)]
struct TxContext {
    xid: Option<u32>,
    duid: Option<Duid>,
    peer: Option<SocketAddrV6>,
}

impl TxContext {
    fn xid(&self) -> String {
        self.xid.map(|x| format!("{x:06x}")).unwrap_or_default()
    }
    fn duid(&self) -> String {
        self.duid
            .as_ref()
            .map(|d| d.to_string())
            .unwrap_or_default()
    }
    fn peer(&self) -> String {
        self.peer.map(|p| p.to_string()).unwrap_or_default()
    }
}

/// Commit completions as the sink reports them: one message per `submit_all`.
type DoneMsg = Vec<(u64, Result<(), CommitError>)>;

/// The driver: owns the core, the socket and the sink; see the crate docs.
pub struct Driver<E, C> {
    engine: E,
    sink: C,
    socket: Arc<Dhcp6Socket>,
    counters: Arc<Counters>,
    clock: Clock,
}

struct Loop<E, C> {
    engine: E,
    sink: C,
    socket: Arc<Dhcp6Socket>,
    counters: Arc<Counters>,
    clock: Clock,
    pending: HashMap<u64, Pending>,
    next_id: u64,
    done_tx: mpsc::UnboundedSender<DoneMsg>,
    /// Replies ready to go, sent together by [`Loop::flush`] after each batch of work.
    outbox: Vec<(Vec<u8>, SendMeta, tracing::Span, TxContext)>,
    /// Lease changes of this batch of work, submitted together by [`Loop::commit_staged`].
    staged: Vec<(u64, Vec<LeaseChange>)>,
}

impl<E: Engine, C: CommitSink> Driver<E, C> {
    pub fn new(engine: E, sink: C, socket: Dhcp6Socket) -> Self {
        Driver {
            engine,
            sink,
            socket: Arc::new(socket),
            counters: Arc::new(Counters::default()),
            clock: Box::new(system_now),
        }
    }

    /// Replaces the wall clock (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The counters, shared: they stay readable while and after the driver runs.
    pub fn counters(&self) -> Arc<Counters> {
        self.counters.clone()
    }

    /// Runs until `shutdown` completes; then stops receiving, waits for every pending
    /// commit to finish and its reply to go out, and returns.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<Stopped<E, C>, DriverError> {
        let (done_tx, mut done_rx) = mpsc::unbounded_channel();
        let socket = self.socket.clone();
        let mut lp = Loop {
            engine: self.engine,
            sink: self.sink,
            socket: self.socket,
            counters: self.counters,
            clock: self.clock,
            pending: HashMap::new(),
            next_id: 0,
            done_tx,
            outbox: Vec::new(),
            staged: Vec::new(),
        };
        let mut batch = RecvBatch::new(RECV_BATCH, MAX_DATAGRAM);
        let mut shutdown = std::pin::pin!(shutdown);
        let mut accepting = true;
        let mut timer_at = lp.timer_deadline(Instant::now());
        let mut stats = tokio::time::interval(STATS_EVERY);
        stats.tick().await;
        loop {
            if !accepting && lp.pending.is_empty() {
                break;
            }
            let can_read = accepting && lp.pending.len() < MAX_PENDING;
            tokio::select! {
                biased;
                () = &mut shutdown, if accepting => {
                    accepting = false;
                    info!(pending = lp.pending.len(), "shutting down: no longer receiving, flushing pending commits");
                }
                done = done_rx.recv() => match done {
                    Some(done) => {
                        // A group commit completes many transactions at once: answer
                        // them all with one send batch.
                        for (id, result) in done {
                            lp.finish(id, result);
                        }
                        while let Ok(done) = done_rx.try_recv() {
                            for (id, result) in done {
                                lp.finish(id, result);
                            }
                        }
                        lp.flush().await;
                    }
                    // Unreachable while `lp` holds a sender; kept for completeness.
                    None => return Err(DriverError::CommitsLost(lp.pending.len())),
                },
                received = socket.recv_batch(&mut batch), if can_read => match received {
                    Ok(_) => {
                        for (bytes, meta) in batch.iter() {
                            match meta {
                                Ok(meta) => lp.on_datagram(bytes, *meta),
                                Err(e) => {
                                    warn!(error = %e, "receive failed");
                                    lp.counters.drop_for("receive_error");
                                }
                            }
                        }
                        // Commits first: the store starts its fsync while we send the
                        // replies that need none.
                        lp.commit_staged();
                        lp.flush().await;
                        timer_at = lp.timer_deadline(Instant::now());
                    }
                    Err(e) => {
                        warn!(error = %e, "receive failed");
                        lp.counters.drop_for("receive_error");
                    }
                },
                () = tokio::time::sleep_until(timer_at), if accepting => {
                    lp.on_timer();
                    lp.commit_staged();
                    timer_at = lp.timer_deadline(Instant::now() + MIN_TIMER_GAP);
                }
                _ = stats.tick() => {
                    debug!(counters = ?lp.counters.snapshot(), "driver counters");
                }
            }
        }
        info!(counters = ?lp.counters.snapshot(), "driver stopped");
        Ok(Stopped {
            engine: lp.engine,
            sink: lp.sink,
        })
    }
}

impl<E: Engine, C: CommitSink> Loop<E, C> {
    /// When the expiry timer should next fire, no earlier than `earliest`.
    fn timer_deadline(&self, earliest: Instant) -> Instant {
        let latest = Instant::now() + MAX_TIMER_SLEEP;
        let at = match self.engine.next_timeout() {
            Some(t) => {
                let now = (self.clock)();
                // Capped before the addition: a far (or `Time::NEVER`) deadline must not
                // overflow the Instant.
                Instant::now() + Duration::from_secs(t.secs_since(now)).min(MAX_TIMER_SLEEP)
            }
            None => latest,
        };
        at.clamp(earliest.min(latest), latest)
    }

    fn on_datagram(&mut self, bytes: &[u8], meta: RecvMeta) {
        self.counters.update(|c| c.received += 1);
        let span = tracing::debug_span!(
            "dhcp6",
            xid = tracing::field::Empty,
            duid = tracing::field::Empty,
            link = meta.ifindex,
            peer = %meta.src,
        );
        if meta.truncated {
            let _g = span.enter();
            debug!(len = bytes.len(), "dropping truncated datagram");
            self.counters.drop_for("truncated");
            return;
        }
        let now = (self.clock)();
        let handled = span.in_scope(|| self.engine.handle(now, bytes, &meta));
        let Handled {
            reply,
            reply_to,
            changes,
            drop_reason,
            xid,
            client_duid,
        } = handled;
        if !span.is_disabled() {
            if let Some(xid) = xid {
                span.record("xid", format_args!("{xid:06x}"));
            }
            if let Some(duid) = &client_duid {
                span.record("duid", tracing::field::display(duid));
            }
        }
        let ctx = TxContext {
            xid,
            duid: client_duid,
            peer: Some(meta.src),
        };
        let reply = reply.map(|r| {
            let mut to = SendMeta::reply_to(&meta);
            if let Some(dst) = reply_to {
                to.dst = dst;
            }
            (r, to)
        });
        if changes.is_empty() {
            match reply {
                Some((bytes, to)) => self.outbox.push((bytes, to, span, ctx)),
                None => {
                    let reason = drop_reason.unwrap_or("no_reply");
                    span.in_scope(|| debug!(reason, "no reply"));
                    self.counters.drop_for(reason);
                }
            }
        } else {
            span.in_scope(|| debug!(changes = changes.len(), "waiting for commit"));
            self.submit(changes, reply, span, ctx);
        }
    }

    fn on_timer(&mut self) {
        let now = (self.clock)();
        let changes = self.engine.reclaim_expired(now);
        if changes.is_empty() {
            return;
        }
        let span = tracing::info_span!("reclaim", at = now.as_secs());
        span.in_scope(|| debug!(changes = changes.len(), "expired leases reclaimed"));
        let n = changes.len() as u64;
        self.counters.update(|c| c.reclaimed += n);
        self.submit(changes, None, span, TxContext::default());
    }

    /// Registers a transaction that waits for its commit; the changes go to the sink
    /// with the rest of this batch of work in [`Self::commit_staged`].
    fn submit(
        &mut self,
        changes: Vec<LeaseChange>,
        reply: Option<(Vec<u8>, SendMeta)>,
        span: tracing::Span,
        ctx: TxContext,
    ) {
        let id = self.next_id;
        self.next_id += 1;
        self.pending.insert(id, Pending { reply, span, ctx });
        let pending = self.pending.len() as u64;
        self.counters.update(|c| c.pending = pending);
        self.staged.push((id, changes));
    }

    /// Hands every staged transaction to the sink in one submission: one wake-up of the
    /// store's writer, one fsync for all of them, one completion message back.
    fn commit_staged(&mut self) {
        if self.staged.is_empty() {
            return;
        }
        let (ids, batches): (Vec<u64>, Vec<Vec<LeaseChange>>) =
            std::mem::take(&mut self.staged).into_iter().unzip();
        let tx = self.done_tx.clone();
        self.sink.submit_all(
            batches,
            Box::new(move |results| {
                let missing = || Err(CommitError("no result reported".into()));
                let mut results = results.into_iter();
                let done: DoneMsg = ids
                    .into_iter()
                    .map(|id| (id, results.next().unwrap_or_else(missing)))
                    .collect();
                // The loop may be gone only if it is being torn down; nothing to tell then.
                let _ = tx.send(done);
            }),
        );
    }

    fn finish(&mut self, id: u64, result: Result<(), CommitError>) {
        let Some(p) = self.pending.remove(&id) else {
            warn!(id, "commit completion for an unknown batch");
            return;
        };
        let pending = self.pending.len() as u64;
        match result {
            Ok(()) => {
                self.counters.update(|c| {
                    c.commits += 1;
                    c.pending = pending;
                });
                if let Some((bytes, to)) = p.reply {
                    self.outbox.push((bytes, to, p.span, p.ctx));
                }
            }
            Err(e) => {
                self.counters.update(|c| {
                    c.commit_failures += 1;
                    c.pending = pending;
                });
                p.span.in_scope(|| {
                    error!(
                        error = %e,
                        xid = %p.ctx.xid(),
                        duid = %p.ctx.duid(),
                        peer = %p.ctx.peer(),
                        "lease commit failed: reply withheld"
                    )
                });
                if p.reply.is_some() {
                    self.counters.drop_for("commit_failed");
                }
            }
        }
    }

    /// Sends every reply in the outbox (one `sendmmsg` per run of replies that leave by
    /// the same interface and source), counting and logging each as it fares.
    async fn flush(&mut self) {
        if self.outbox.is_empty() {
            return;
        }
        let outbox = std::mem::take(&mut self.outbox);
        let msgs: Vec<(&[u8], SendMeta)> = outbox
            .iter()
            .map(|(bytes, to, _, _)| (bytes.as_slice(), *to))
            .collect();
        // Counted before the send and corrected after: one `sendmmsg` delivers the whole
        // batch, and a client may read its reply (and our counters) before the call returns.
        let n = msgs.len() as u64;
        self.counters.update(|c| c.replied += n);
        let results = self.socket.send_batch(&msgs).await;
        let failed = results.iter().filter(|r| r.is_err()).count() as u64;
        if failed > 0 {
            self.counters
                .update(|c| c.replied = c.replied.saturating_sub(failed));
        }
        for ((bytes, to, span, ctx), result) in outbox.iter().zip(results) {
            let _g = span.enter();
            match result {
                Ok(_) => debug!(to = %to.dst, len = bytes.len(), "reply sent"),
                Err(e) => {
                    warn!(to = %to.dst, xid = %ctx.xid(), error = %e, "reply not sent");
                    self.counters.drop_for("send_error");
                }
            }
        }
        // Keep the allocation for the next round.
        drop(msgs);
        self.outbox = outbox;
        self.outbox.clear();
    }
}
