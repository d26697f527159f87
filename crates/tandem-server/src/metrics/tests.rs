//! The exposition text (names, types, labels, values) and the HTTP endpoint.

use std::time::Duration;

use tandem_core::Time;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::{PoolShares, PoolUse};

fn pair_status() -> Status {
    Status {
        role: "primary".into(),
        state: "NORMAL".into(),
        state_for_secs: 42,
        partner_state: Some("NORMAL".into()),
        communications_ok: true,
        mclt: 3600,
        updates_queued: 3,
        updates_unacked: 2,
        active_leases: 10,
        leases: 12,
        prefixes_primary: 0,
        prefixes_secondary: 0,
        protocol_errors: 1,
        updates_rejected: 0,
        commit_failures: 0,
        bindings_displaced: 0,
        uptime_secs: 100,
        partner_lag_secs: Some(3),
        pools: vec![PoolUse {
            subnet_id: 1,
            pool: "2001:db8:1::1000-2001:db8:1::1fff".into(),
            kind: "address".into(),
            size: 4096,
            used: 10,
            free: 4086,
            shares: Some(PoolShares {
                primary_free: 2040,
                secondary_free: 2046,
            }),
        }],
    }
}

fn render(counters: &Counters, status: Option<Status>) -> String {
    Scrape {
        counters: counters.snapshot(),
        status,
        store: Some(StoreTotals {
            transactions: 5,
            batches: 9,
            changes: 20,
        }),
        now: Time(1_000),
    }
    .render()
}

/// The value of the sample `series` (name with labels, as written), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn counters_are_exposed_with_total_and_units_in_their_names() {
    let c = Counters::default();
    c.update(|s| {
        s.commits = 7;
        s.clock_steps = 1;
        *s.received_by_type.entry("solicit").or_default() += 4;
        *s.dropped.entry("policy").or_default() += 2;
    });
    c.commit_done(Duration::from_micros(700));
    c.commit_group(3);
    let text = render(&c, Some(pair_status()));
    assert!(
        text.ends_with("# EOF\n"),
        "OpenMetrics text ends with # EOF"
    );
    assert!(text.contains("# TYPE tandem_commits counter\n"), "{text}");
    assert_eq!(sample(&text, "tandem_commits_total"), Some(7.0));
    assert_eq!(sample(&text, "tandem_clock_steps_total"), Some(1.0));
    assert_eq!(
        sample(
            &text,
            "tandem_dhcp_packets_received_total{type=\"solicit\"}"
        ),
        Some(4.0)
    );
    assert_eq!(
        sample(&text, "tandem_dhcp_dropped_total{reason=\"policy\"}"),
        Some(2.0)
    );
    assert_eq!(sample(&text, "tandem_store_transactions_total"), Some(5.0));
    assert!(text.contains("# UNIT tandem_commit_duration_seconds seconds\n"));
    assert_eq!(
        sample(&text, "tandem_commit_duration_seconds_count"),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "tandem_commit_duration_seconds_sum"),
        Some(0.0007)
    );
    assert_eq!(
        sample(
            &text,
            "tandem_commit_duration_seconds_bucket{le=\"0.0005\"}"
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, "tandem_commit_duration_seconds_bucket{le=\"0.001\"}"),
        Some(1.0),
        "buckets are cumulative"
    );
    assert_eq!(
        sample(&text, "tandem_commit_duration_seconds_bucket{le=\"+Inf\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "tandem_commit_group_size_bucket{le=\"4.0\"}"),
        Some(1.0)
    );
}

#[test]
fn every_label_value_an_alert_or_panel_uses_is_present_before_it_first_happens() {
    // rate() over a series that does not exist yet is "no data", not 0.
    let text = render(&Counters::default(), Some(pair_status()));
    for series in [
        "tandem_lease_events_total{event=\"granted\"}",
        "tandem_lease_events_total{event=\"reclaimed\"}",
        "tandem_dhcp_dropped_total{reason=\"commit_failed\"}",
        "tandem_dhcp_dropped_total{reason=\"malformed\"}",
        "tandem_dhcp_packets_received_total{type=\"request\"}",
        "tandem_dhcp_packets_sent_total{type=\"advertise\"}",
        "tandem_timers_fired_total{timer=\"contact\"}",
    ] {
        assert_eq!(sample(&text, series), Some(0.0), "{series} in\n{text}");
    }
}

#[test]
fn a_lease_event_counter_increments_by_one_per_event() {
    let c = Counters::default();
    let granted = "tandem_lease_events_total{event=\"granted\"}";
    c.lease_event("granted");
    assert_eq!(sample(&render(&c, None), granted), Some(1.0));
    c.lease_event("granted");
    c.lease_event("renewed");
    let text = render(&c, None);
    assert_eq!(sample(&text, granted), Some(2.0));
    assert_eq!(
        sample(&text, "tandem_lease_events_total{event=\"renewed\"}"),
        Some(1.0)
    );
}

#[test]
fn failover_state_is_one_gauge_per_state_with_only_the_current_one_at_1() {
    let text = render(&Counters::default(), Some(pair_status()));
    assert_eq!(
        sample(&text, "tandem_failover_state{state=\"NORMAL\"}"),
        Some(1.0)
    );
    let states: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("tandem_failover_state{"))
        .collect();
    assert_eq!(states.len(), 10, "RFC 8156 §6 has ten states: {states:?}");
    assert_eq!(
        states.iter().filter(|l| l.ends_with(" 1")).count(),
        1,
        "{states:?}"
    );
    assert_eq!(
        sample(
            &text,
            "tandem_failover_state{state=\"COMMUNICATIONS-INTERRUPTED\"}"
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, "tandem_failover_state_duration_seconds"),
        Some(42.0)
    );
    assert_eq!(sample(&text, "tandem_failover_updates_unacked"), Some(2.0));
    assert_eq!(sample(&text, "tandem_failover_updates_queued"), Some(3.0));
    assert_eq!(
        sample(&text, "tandem_failover_protocol_errors_total"),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "tandem_failover_communications_ok"),
        Some(1.0)
    );
}

#[test]
fn partner_lag_counts_from_the_last_partner_message_else_from_the_start() {
    let c = Counters::default();
    let text = render(&c, Some(pair_status()));
    assert_eq!(
        sample(&text, "tandem_failover_partner_lag_seconds"),
        Some(100.0),
        "no message yet: the uptime"
    );
    c.update(|s| s.partner_last_message = Some(Time(997)));
    let text = render(&c, Some(pair_status()));
    assert_eq!(
        sample(&text, "tandem_failover_partner_lag_seconds"),
        Some(3.0)
    );
}

#[test]
fn pools_are_labelled_by_subnet_pool_and_kind_and_pair_shares_by_side() {
    let text = render(&Counters::default(), Some(pair_status()));
    let l = "subnet_id=\"1\",pool=\"2001:db8:1::1000-2001:db8:1::1fff\",kind=\"address\"";
    assert_eq!(
        sample(&text, &format!("tandem_pool_size{{{l}}}")),
        Some(4096.0)
    );
    assert_eq!(
        sample(&text, &format!("tandem_pool_used{{{l}}}")),
        Some(10.0)
    );
    assert_eq!(
        sample(&text, &format!("tandem_pool_free{{{l}}}")),
        Some(4086.0)
    );
    assert_eq!(
        sample(
            &text,
            &format!("tandem_pool_share_free{{{l},share=\"secondary\"}}")
        ),
        Some(2046.0)
    );
    assert_eq!(sample(&text, "tandem_leases_active"), Some(10.0));
}

#[test]
fn a_server_alone_has_no_failover_metrics_and_a_missing_status_is_flagged() {
    let mut alone = pair_status();
    alone.role = "standalone".into();
    alone.state = "standalone".into();
    alone.pools[0].shares = None;
    let text = render(&Counters::default(), Some(alone));
    assert!(!text.contains("tandem_failover_"), "{text}");
    assert!(!text.contains("tandem_pool_share_free"), "{text}");
    assert_eq!(sample(&text, "tandem_status_available"), Some(1.0));
    let text = render(&Counters::default(), None);
    assert_eq!(sample(&text, "tandem_status_available"), Some(0.0));
    assert!(!text.contains("tandem_pool_size"), "{text}");
    assert_eq!(sample(&text, "tandem_commits_total"), Some(0.0));
}

async fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn get_metrics_serves_openmetrics_text_with_the_drivers_status() {
    let counters = Arc::new(Counters::default());
    counters.lease_event("granted");
    let (tx, mut rx) = mpsc::channel(4);
    // Stands in for the driver: answers status requests.
    tokio::spawn(async move {
        while let Some(req) = rx.recv().await {
            if let CtlRequest::Status(tx) = req {
                let _ = tx.send(pair_status());
            }
        }
    });
    let listener = bind("[::1]:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let task = serve(
        listener,
        MetricsSource {
            counters,
            ctl: tx,
            store: None,
        },
    )
    .unwrap();
    let answer = http_get(addr, "/metrics").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("content-type: application/openmetrics-text; version=1.0.0"),
        "{answer}"
    );
    let body = answer.split("\r\n\r\n").nth(1).unwrap();
    assert_eq!(
        sample(body, "tandem_lease_events_total{event=\"granted\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(body, "tandem_failover_state{state=\"NORMAL\"}"),
        Some(1.0)
    );
    assert!(http_get(addr, "/nothing").await.starts_with("HTTP/1.1 404"));
    task.abort();
}

#[tokio::test]
async fn a_scrape_does_not_wait_on_a_driver_that_does_not_answer() {
    let (tx, rx) = mpsc::channel(1);
    let source = MetricsSource {
        counters: Arc::new(Counters::default()),
        ctl: tx,
        store: None,
    };
    // The driver holds the request without answering, then drops it.
    let _hold = rx;
    let started = std::time::Instant::now();
    let text = source.scrape().await;
    assert!(started.elapsed() < STATUS_TIMEOUT + Duration::from_secs(1));
    assert_eq!(sample(&text, "tandem_status_available"), Some(0.0));
    // With the queue full, the scrape does not queue another request and returns at once.
    let started = std::time::Instant::now();
    let text = source.scrape().await;
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(sample(&text, "tandem_status_available"), Some(0.0));
}

#[test]
fn a_port_in_use_is_a_clear_error_naming_the_address_and_the_key() {
    let first = bind("[::1]:0".parse().unwrap()).unwrap();
    let addr = first.local_addr().unwrap();
    let e = bind(addr).unwrap_err().to_string();
    assert!(e.contains(&addr.to_string()), "{e}");
    assert!(e.contains("[metrics] listen"), "{e}");
    assert!(e.to_lowercase().contains("in use"), "{e}");
}
