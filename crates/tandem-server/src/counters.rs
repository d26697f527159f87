//! Counters of what the driver did, for logs, tests and the metrics endpoint
//! ([`crate::metrics`]).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use tandem_core::Time;

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
    /// Client datagrams received, by the DHCPv6 message type inside any relay wrapping
    /// (RFC 8415 §7.3; "undecodable" when the type could not be read).
    pub received_by_type: BTreeMap<&'static str, u64>,
    /// Client replies released for sending, by the message type inside any relay wrapping.
    pub sent_by_type: BTreeMap<&'static str, u64>,
    /// Lease events made durable, by kind (`crate::lease_log::EVENTS`: granted, renewed,
    /// released, declined, expired, reclaimed, received_from_partner, sent_to_partner).
    pub lease_events: BTreeMap<&'static str, u64>,
    /// Partner link TLS handshakes that failed or timed out (either end).
    pub tls_failures: u64,
    /// Failover connections closed unanswered: from an address other than the partner's.
    pub strangers_refused: u64,
    /// Failover messages received from and handed to the partner link.
    pub failover_received: u64,
    pub failover_sent: u64,
    /// When the last failover message arrived from the partner (wall clock).
    pub partner_last_message: Option<Time>,
    /// How long each batch took from submission to durable (or failed).
    pub commit_latency: Histogram,
    /// Lease and meta changes per batch: one batch per driver turn is the driver's group
    /// commit, so this is the group size.
    pub commit_group_changes: Histogram,
    /// Control API requests refused as bad input (malformed, unknown path, invalid lease).
    pub api_refused: u64,
    /// Configuration reloads applied / refused.
    pub reloads: u64,
    pub reloads_refused: u64,
    /// DHCPv4 conflict probes before an OFFER (RFC 2131 §4.4.1), by result: `free` (no
    /// echo reply in time, the OFFER went out), `in_use` (answered: quarantined, another
    /// address offered), `dropped` (too many under way: the DHCPDISCOVER was dropped).
    pub ping_checks: BTreeMap<&'static str, u64>,
}

impl CountersSnapshot {
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }
}

/// Upper bounds of [`CountersSnapshot::commit_latency`]'s buckets, in microseconds (an
/// fsync on an SSD takes 0.1-2 ms, on a disk or a busy VM up to tens of ms).
pub const COMMIT_LATENCY_BOUNDS_US: [u64; 14] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000,
];

/// Upper bounds of [`CountersSnapshot::commit_group_changes`]'s buckets.
pub const GROUP_SIZE_BOUNDS: [u64; 12] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096];

/// A fixed-bucket histogram of integers (cumulative buckets are computed when exported).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Histogram {
    /// Observations per bucket (not cumulative); one more than the bounds: the last is +Inf.
    pub buckets: Vec<u64>,
    pub count: u64,
    pub sum: u64,
}

impl Histogram {
    pub fn observe(&mut self, bounds: &[u64], v: u64) {
        if self.buckets.len() != bounds.len() + 1 {
            self.buckets = vec![0; bounds.len() + 1];
        }
        let i = bounds.iter().position(|b| v <= *b).unwrap_or(bounds.len());
        self.buckets[i] += 1;
        self.count += 1;
        self.sum = self.sum.saturating_add(v);
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

    /// A partner link TLS handshake failed or timed out.
    pub(crate) fn tls_failure(&self) {
        self.update(|c| c.tls_failures += 1);
    }

    /// A failover connection from an address other than the partner's was closed.
    pub(crate) fn stranger_refused(&self) {
        self.update(|c| c.strangers_refused += 1);
    }

    /// A batch finished after `latency`, holding `changes` lease and meta changes.
    pub(crate) fn commit_done(&self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.update(|c| c.commit_latency.observe(&COMMIT_LATENCY_BOUNDS_US, us));
    }

    pub(crate) fn commit_group(&self, changes: usize) {
        self.update(|c| {
            c.commit_group_changes
                .observe(&GROUP_SIZE_BOUNDS, changes as u64)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_puts_each_value_in_the_first_bucket_that_holds_it() {
        let mut h = Histogram::default();
        for v in [0, 1, 2, 3, 5000] {
            h.observe(&[1, 4, 16], v);
        }
        assert_eq!(h.buckets, vec![2, 2, 0, 1]);
        assert_eq!(h.count, 5);
        assert_eq!(h.sum, 5006);
    }
}
