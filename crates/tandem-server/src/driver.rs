//! The event loop: datagrams, commit completions, expiry timer, shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tandem_core::LeaseChange;
use tandem_net::{Dhcp6Socket, RecvMeta, SendMeta};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, error, info, warn, Instrument};

use crate::clock::{system_now, Clock};
use crate::commit::{CommitError, CommitSink};
use crate::counters::Counters;
use crate::engine::{Engine, Handled};

/// Largest DHCPv6 datagram we accept; anything longer is cut and dropped.
const MAX_DATAGRAM: usize = 65_535;
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
}

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
    done_tx: mpsc::UnboundedSender<(u64, Result<(), CommitError>)>,
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
        };
        let mut buf = vec![0u8; MAX_DATAGRAM];
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
                    Some((id, result)) => lp.finish(id, result).await,
                    // Unreachable while `lp` holds a sender; kept for completeness.
                    None => return Err(DriverError::CommitsLost(lp.pending.len())),
                },
                received = socket.recv(&mut buf), if can_read => match received {
                    Ok((n, meta)) => {
                        let bytes = buf.get(..n).unwrap_or(&[]);
                        lp.on_datagram(bytes, meta).await;
                        timer_at = lp.timer_deadline(Instant::now());
                    }
                    Err(e) => {
                        warn!(error = %e, "receive failed");
                        lp.counters.drop_for("receive_error");
                    }
                },
                () = tokio::time::sleep_until(timer_at), if accepting => {
                    lp.on_timer();
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
                Instant::now() + Duration::from_secs(t.secs_since(now))
            }
            None => latest,
        };
        at.clamp(earliest.min(latest), latest)
    }

    async fn on_datagram(&mut self, bytes: &[u8], meta: RecvMeta) {
        self.counters.update(|c| c.received += 1);
        let span = tracing::info_span!(
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
        if let Some(xid) = xid {
            span.record("xid", format_args!("{xid:06x}"));
        }
        if let Some(duid) = &client_duid {
            span.record("duid", tracing::field::display(duid));
        }
        let reply = reply.map(|r| {
            let mut to = SendMeta::reply_to(&meta);
            if let Some(dst) = reply_to {
                to.dst = dst;
            }
            (r, to)
        });
        if changes.is_empty() {
            match reply {
                Some((bytes, to)) => self.send(&bytes, &to).instrument(span).await,
                None => {
                    let reason = drop_reason.unwrap_or("no_reply");
                    span.in_scope(|| debug!(reason, "no reply"));
                    self.counters.drop_for(reason);
                }
            }
        } else {
            span.in_scope(|| debug!(changes = changes.len(), "waiting for commit"));
            self.submit(changes, reply, span);
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
        self.submit(changes, None, span);
    }

    fn submit(
        &mut self,
        changes: Vec<LeaseChange>,
        reply: Option<(Vec<u8>, SendMeta)>,
        span: tracing::Span,
    ) {
        let id = self.next_id;
        self.next_id += 1;
        self.pending.insert(id, Pending { reply, span });
        let pending = self.pending.len() as u64;
        self.counters.update(|c| c.pending = pending);
        let tx = self.done_tx.clone();
        self.sink.submit(
            changes,
            Box::new(move |result| {
                // The loop may be gone only if it is being torn down; nothing to tell then.
                let _ = tx.send((id, result));
            }),
        );
    }

    async fn finish(&mut self, id: u64, result: Result<(), CommitError>) {
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
                    self.send(&bytes, &to).instrument(p.span).await;
                }
            }
            Err(e) => {
                self.counters.update(|c| {
                    c.commit_failures += 1;
                    c.pending = pending;
                });
                p.span
                    .in_scope(|| error!(error = %e, "lease commit failed: reply withheld"));
                if p.reply.is_some() {
                    self.counters.drop_for("commit_failed");
                }
            }
        }
    }

    async fn send(&self, bytes: &[u8], to: &SendMeta) {
        match self.socket.send(bytes, to).await {
            Ok(_) => {
                debug!(to = %to.dst, len = bytes.len(), "reply sent");
                self.counters.update(|c| c.replied += 1);
            }
            Err(e) => {
                warn!(to = %to.dst, error = %e, "reply not sent");
                self.counters.drop_for("send_error");
            }
        }
    }
}
