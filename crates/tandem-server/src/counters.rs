//! Counters of what the driver did, for logs and tests.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// A point-in-time copy of the counters.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CountersSnapshot {
    /// Datagrams received.
    pub received: u64,
    /// Replies sent.
    pub replied: u64,
    /// Datagrams that got no reply, by reason.
    pub dropped: BTreeMap<&'static str, u64>,
    /// Batches made durable.
    pub commits: u64,
    /// Batches whose commit failed (their replies were not sent).
    pub commit_failures: u64,
    /// Lease changes made by expiry processing.
    pub reclaimed: u64,
    /// Transactions waiting for their commit right now.
    pub pending: u64,
    /// Timer runs, by the core's timer kind (`tandem_failover::timers::Timer::name`).
    pub timers_fired: BTreeMap<&'static str, u64>,
    /// Steps of the wall clock seen against the monotonic clock.
    pub clock_steps: u64,
    /// Lease events made durable, by kind (`crate::lease_log::EVENTS`: granted, renewed,
    /// released, declined, expired, reclaimed, received_from_partner, sent_to_partner).
    pub lease_events: BTreeMap<&'static str, u64>,
    /// Control API requests refused as bad input (malformed, unknown path, invalid lease).
    pub api_refused: u64,
    /// Configuration reloads applied / refused.
    pub reloads: u64,
    pub reloads_refused: u64,
}

impl CountersSnapshot {
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }
}

/// Shared counters; cheap enough for per-packet updates at DHCP rates.
#[derive(Debug, Default)]
pub struct Counters {
    inner: Mutex<CountersSnapshot>,
}

impl Counters {
    pub fn snapshot(&self) -> CountersSnapshot {
        self.inner.lock().map(|c| c.clone()).unwrap_or_default()
    }

    pub(crate) fn update(&self, f: impl FnOnce(&mut CountersSnapshot)) {
        if let Ok(mut c) = self.inner.lock() {
            f(&mut c);
        }
    }

    /// One lease event of `kind` (one of `crate::lease_log::EVENTS`).
    pub fn lease_event(&self, kind: &'static str) {
        self.update(|c| *c.lease_events.entry(kind).or_default() += 1);
    }

    pub(crate) fn drop_for(&self, reason: &'static str) {
        self.update(|c| *c.dropped.entry(reason).or_default() += 1);
    }
}
