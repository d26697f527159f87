//! The exposition: one scrape's counters and status as OpenMetrics text, encoded by
//! `prometheus-client`. docs/metrics.md lists every metric; keep the two in step.
//!
//! Counters are named without `_total` and gauges/histograms with their unit passed as a
//! [`Unit`]: the encoder appends `_total` and the unit as OpenMetrics requires.

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use tandem_core::Time;
use tandem_failover::timers::Timer;
use tandem_failover::ServerState;

use crate::counters::{CountersSnapshot, Histogram, COMMIT_LATENCY_BOUNDS_US, GROUP_SIZE_BOUNDS};
use crate::status::Status;

/// Message types a server receives (RFC 8415 §7.3), exported from the first scrape so a
/// rate over them is never "no data"; "undecodable" is a datagram whose type could not
/// be read.
const RECEIVED_TYPES: [&str; 10] = [
    "solicit",
    "request",
    "confirm",
    "renew",
    "rebind",
    "release",
    "decline",
    "information_request",
    "unknown",
    "undecodable",
];
const SENT_TYPES: [&str; 2] = ["advertise", "reply"];
/// Every reason a datagram gets no reply: the core's (`DropReason::as_str`) and the
/// driver's own.
const DROP_REASONS: [&str; 17] = [
    "malformed",
    "unknown_type",
    "missing_client_id",
    "unexpected_server_id",
    "missing_server_id",
    "foreign_server_id",
    "ia_in_information_request",
    "unicast_not_allowed",
    "no_subnet_for_link",
    "policy",
    "nothing_to_say",
    "relay_too_deep",
    "truncated",
    "receive_error",
    "send_error",
    "commit_failed",
    "ping_check_busy",
];
/// Results of a DHCPv4 conflict probe (RFC 2131 §4.4.1; `crate::ping_check`).
const PING_RESULTS: [&str; 3] = ["free", "in_use", "dropped"];
/// The lease log's event names: one list for the log lines and the counters.
const LEASE_EVENTS: [&str; 8] = crate::lease_log::EVENTS;

/// Totals of the store's group-commit writer (`tandem_store::GroupCommitStats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreTotals {
    /// SQLite transactions committed (one fsync each).
    pub transactions: u64,
    /// Batches made durable.
    pub batches: u64,
    /// Lease and meta changes made durable.
    pub changes: u64,
}

/// Everything one scrape shows.
#[derive(Clone, Debug)]
pub struct Scrape {
    pub counters: CountersSnapshot,
    /// None when the driver did not answer in time (it is stopping, or far behind).
    pub status: Option<Status>,
    pub store: Option<StoreTotals>,
    /// The wall clock at the scrape (for the partner lag).
    pub now: Time,
}

impl Scrape {
    /// The OpenMetrics text (ends with `# EOF`).
    pub fn render(self) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self));
        let mut out = String::new();
        // Writing into a String cannot fail; an encoder error would be a bug here.
        if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
            out = "# the metrics could not be encoded\n# EOF\n".into();
        }
        out
    }
}

struct Enc<'a, 'b>(&'a mut DescriptorEncoder<'b>);

impl Enc<'_, '_> {
    fn counter(&mut self, name: &str, help: &str, v: u64) -> fmt::Result {
        let m = self
            .0
            .encode_descriptor(name, help, None, MetricType::Counter)?;
        ConstCounter::new(v).encode(m)
    }

    fn gauge(&mut self, name: &str, help: &str, unit: Option<&Unit>, v: i64) -> fmt::Result {
        let m = self
            .0
            .encode_descriptor(name, help, unit, MetricType::Gauge)?;
        ConstGauge::new(v).encode(m)
    }

    /// A counter with one label, `known` values always present (0 until seen).
    fn counter_by(
        &mut self,
        name: &str,
        help: &str,
        label: &str,
        known: &[&str],
        seen: &std::collections::BTreeMap<&'static str, u64>,
    ) -> fmt::Result {
        let mut m = self
            .0
            .encode_descriptor(name, help, None, MetricType::Counter)?;
        let mut values: std::collections::BTreeMap<&str, u64> =
            known.iter().map(|k| (*k, 0)).collect();
        for (k, v) in seen {
            values.insert(k, *v);
        }
        for (k, v) in values {
            let labels = [(label, k)];
            ConstCounter::new(v).encode(m.encode_family(&labels)?)?;
        }
        Ok(())
    }

    fn histogram(
        &mut self,
        name: &str,
        help: &str,
        unit: Option<&Unit>,
        h: &Histogram,
        bounds: &[u64],
        scale: f64,
    ) -> fmt::Result {
        let mut m = self
            .0
            .encode_descriptor(name, help, unit, MetricType::Histogram)?;
        let buckets: Vec<(f64, u64)> = bounds
            .iter()
            .map(|b| *b as f64 / scale)
            .chain(std::iter::once(f64::INFINITY))
            .enumerate()
            .map(|(i, le)| (le, h.buckets.get(i).copied().unwrap_or(0)))
            .collect();
        m.encode_histogram::<NoLabelSet>(h.sum as f64 / scale, h.count, &buckets, None)
    }

    /// A gauge per failover state: 1 for `current`, 0 for the others.
    fn state_gauge(&mut self, name: &str, help: &str, current: Option<&str>) -> fmt::Result {
        let mut m = self
            .0
            .encode_descriptor(name, help, None, MetricType::Gauge)?;
        for s in (1..=10).filter_map(ServerState::from_u8) {
            let labels = [("state", s.name())];
            let v = i64::from(current == Some(s.name()));
            ConstGauge::new(v).encode(m.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

fn int(v: impl TryInto<i64>) -> i64 {
    v.try_into().unwrap_or(i64::MAX)
}

impl fmt::Debug for Enc<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Enc")
    }
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let mut e = Enc(&mut encoder);
        let c = &self.counters;
        e.counter_by(
            "tandem_dhcp_packets_received",
            "Client datagrams received, by DHCPv6 message type (inside any relay wrapping).",
            "type",
            &RECEIVED_TYPES,
            &c.received_by_type,
        )?;
        e.counter_by(
            "tandem_dhcp_packets_sent",
            "Client replies the server answered with, by DHCPv6 message type.",
            "type",
            &SENT_TYPES,
            &c.sent_by_type,
        )?;
        e.counter_by(
            "tandem_dhcp_dropped",
            "Client datagrams that got no reply, by reason.",
            "reason",
            &DROP_REASONS,
            &c.dropped,
        )?;
        e.counter_by(
            "tandem_dhcp4_ping_checks",
            "DHCPv4 conflict probes before an OFFER (RFC 2131 §4.4.1), by result: free (no \
             echo reply in time, offered), in_use (answered: quarantined, another offered), \
             dropped (too many probes under way: DHCPDISCOVER dropped).",
            "result",
            &PING_RESULTS,
            &c.ping_checks,
        )?;
        e.counter_by(
            "tandem_lease_events",
            "Lease events: granted, renewed, released, declined, expired, reclaimed.",
            "event",
            &LEASE_EVENTS,
            &c.lease_events,
        )?;
        e.counter(
            "tandem_commits",
            "Batches of lease changes made durable.",
            c.commits,
        )?;
        e.counter(
            "tandem_commit_failures",
            "Batches whose commit failed (what waited on them was withheld).",
            c.commit_failures,
        )?;
        e.histogram(
            "tandem_commit_duration",
            "Time from handing a batch to the store writer to its being durable.",
            Some(&Unit::Seconds),
            &c.commit_latency,
            &COMMIT_LATENCY_BOUNDS_US,
            1e6,
        )?;
        e.histogram(
            "tandem_commit_group_size",
            "Lease and meta changes per batch (one batch per driver turn: the group commit).",
            None,
            &c.commit_group_changes,
            &GROUP_SIZE_BOUNDS,
            1.0,
        )?;
        e.gauge(
            "tandem_commits_waiting",
            "Replies and partner messages waiting for their commit right now.",
            None,
            int(c.pending),
        )?;
        if let Some(s) = &self.store {
            e.counter(
                "tandem_store_transactions",
                "SQLite transactions committed by the group-commit writer (one fsync each).",
                s.transactions,
            )?;
            e.counter(
                "tandem_store_batches",
                "Batches the store writer made durable.",
                s.batches,
            )?;
        }
        let known_timers: Vec<&str> = Timer::ALL.iter().map(|t| t.name()).collect();
        e.counter_by(
            "tandem_timers_fired",
            "Core timer runs, by timer.",
            "timer",
            &known_timers,
            &c.timers_fired,
        )?;
        e.counter(
            "tandem_clock_steps",
            "Steps of the wall clock seen against the monotonic clock.",
            c.clock_steps,
        )?;
        e.gauge(
            "tandem_status_available",
            "1 when the driver answered this scrape's status request (else the lease, pool \
             and failover gauges are missing from this scrape).",
            None,
            i64::from(self.status.is_some()),
        )?;
        let Some(st) = &self.status else {
            return Ok(());
        };
        e.gauge(
            "tandem_uptime",
            "Seconds since the server started.",
            Some(&Unit::Seconds),
            int(st.uptime_secs),
        )?;
        e.gauge(
            "tandem_leases",
            "Lease records in the table (any state).",
            None,
            int(st.leases),
        )?;
        e.gauge(
            "tandem_leases_active",
            "Leases held by a client now.",
            None,
            int(st.active_leases),
        )?;
        self.encode_pools(&mut e, st)?;
        if st.role == "standalone" {
            return Ok(());
        }
        self.encode_failover(&mut e, st)
    }
}

impl Scrape {
    fn encode_pools(&self, e: &mut Enc, st: &Status) -> fmt::Result {
        let labels = |p: &crate::PoolUse| {
            vec![
                ("subnet_id", p.subnet_id.to_string()),
                ("pool", p.pool.clone()),
                ("kind", p.kind.clone()),
            ]
        };
        for (name, help, f) in [
            (
                "tandem_pool_size",
                "Addresses or delegable prefixes in the pool.",
                (|p: &crate::PoolUse| p.size) as fn(&crate::PoolUse) -> u64,
            ),
            (
                "tandem_pool_used",
                "Addresses or prefixes of the pool held by a client now.",
                |p| p.used,
            ),
            (
                "tandem_pool_free",
                "Addresses or prefixes of the pool not held by a client.",
                |p| p.free,
            ),
        ] {
            let mut m = e.0.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for p in &st.pools {
                let l = labels(p);
                ConstGauge::new(int(f(p))).encode(m.encode_family(&l)?)?;
            }
        }
        if st.pools.iter().any(|p| p.shares.is_some()) {
            let mut m = e.0.encode_descriptor(
                "tandem_pool_share_free",
                "In a pair, what each member may still hand out of the pool (RFC 8156 §4.2: \
                 addresses by the parity split, prefixes by owned blocks).",
                None,
                MetricType::Gauge,
            )?;
            for p in &st.pools {
                let Some(sh) = p.shares else { continue };
                for (share, v) in [
                    ("primary", sh.primary_free),
                    ("secondary", sh.secondary_free),
                ] {
                    let mut l = labels(p);
                    l.push(("share", share.to_string()));
                    ConstGauge::new(int(v)).encode(m.encode_family(&l)?)?;
                }
            }
        }
        Ok(())
    }

    fn encode_failover(&self, e: &mut Enc, st: &Status) -> fmt::Result {
        let c = &self.counters;
        e.state_gauge(
            "tandem_failover_state",
            "This member's failover state (RFC 8156 §6): 1 for the current one, 0 for the others.",
            Some(&st.state),
        )?;
        e.state_gauge(
            "tandem_failover_partner_state",
            "The partner's state as last reported (all 0 before it said one).",
            st.partner_state.as_deref(),
        )?;
        e.gauge(
            "tandem_failover_state_duration",
            "Seconds in the current failover state.",
            Some(&Unit::Seconds),
            int(st.state_for_secs),
        )?;
        e.gauge(
            "tandem_failover_communications_ok",
            "1 while the partner link is up and answering (RFC 8156 §6.3), else 0.",
            None,
            i64::from(st.communications_ok),
        )?;
        e.gauge(
            "tandem_failover_updates_queued",
            "Binding updates (BNDUPD) waiting to be sent.",
            None,
            int(st.updates_queued),
        )?;
        e.gauge(
            "tandem_failover_updates_unacked",
            "Binding updates sent and not yet acknowledged.",
            None,
            int(st.updates_unacked),
        )?;
        // Partner lag: seconds since the last message from the partner. A healthy partner
        // sends at least a CONTACT every keep-alive interval (RFC 8156 §6.5), so this stays
        // a few seconds; it grows without bound while the partner is silent. Before the
        // first message it counts from the server's start.
        let lag = match c.partner_last_message {
            Some(t) => self.now.secs_since(t),
            None => st.uptime_secs,
        };
        e.gauge(
            "tandem_failover_partner_lag",
            "Seconds since the last failover message from the partner (since start if none).",
            Some(&Unit::Seconds),
            int(lag),
        )?;
        e.gauge(
            "tandem_failover_mclt",
            "Maximum client lead time in force (RFC 8156 §4.1).",
            Some(&Unit::Seconds),
            i64::from(st.mclt),
        )?;
        e.counter(
            "tandem_failover_messages_received",
            "Failover messages received from the partner.",
            c.failover_received,
        )?;
        e.counter(
            "tandem_failover_messages_sent",
            "Failover messages handed to the partner link.",
            c.failover_sent,
        )?;
        e.counter(
            "tandem_failover_protocol_errors",
            "Failover messages from the partner that broke the protocol, and refused CONNECTs either way.",
            st.protocol_errors,
        )?;
        e.counter(
            "tandem_failover_updates_rejected",
            "Binding updates the partner rejected.",
            st.updates_rejected,
        )?;
        e.counter(
            "tandem_failover_bindings_displaced",
            "Leases found held by two clients and resolved for the partner's (RFC 8156 §7.5.4).",
            st.bindings_displaced,
        )?;
        e.counter(
            "tandem_failover_tls_failures",
            "Partner link TLS handshakes that failed or timed out.",
            c.tls_failures,
        )?;
        e.counter(
            "tandem_failover_connections_refused",
            "Failover connections closed unanswered: from an address other than the partner's.",
            c.strangers_refused,
        )
    }
}
