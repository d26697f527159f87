//! The lease log through the real runner and core (no sockets, no clock): a lease event
//! is counted only once the batch holding it is reported durable, never for a batch that
//! failed, and a pool that cannot serve a client is reported. The log lines themselves are
//! checked in `lease_log`'s unit tests and the integration scenario `ops_logs.py`.

use std::collections::BTreeMap;
use std::sync::Arc;

use tandem_core::config::{AddressPool, Subnet};
use tandem_core::{Duid, ServerConfig, Time};
use tandem_failover::node::Node;
use tandem_net::RecvMeta;
use tandem_server::{Counters, Runner};
use tandem_wire::v6::{DhcpOption, Ia, Message, MessageType};

fn config(pool_size: u32) -> ServerConfig {
    let mut s = Subnet::new(1, "2001:db8:1::/64".parse().unwrap());
    s.interface = Some("eth-t".into());
    s.rapid_commit = true;
    let first: u128 = "2001:db8:1::100"
        .parse::<std::net::Ipv6Addr>()
        .unwrap()
        .into();
    s.pools.push(AddressPool {
        first: first.into(),
        last: (first + u128::from(pool_size) - 1).into(),
    });
    ServerConfig {
        subnets: vec![s],
        ..ServerConfig::default()
    }
}

/// A Solicit with Rapid Commit (RFC 8415 §18.2.1) from client `c`: answered by a committed Reply.
fn solicit(c: u8) -> Vec<u8> {
    let mut m = Message::new(MessageType::Solicit, 0x4200 + u32::from(c));
    m.options
        .push(DhcpOption::ClientId(vec![0, 3, 0, 1, 2, 0, 0, 0, 0, c]));
    m.options.push(DhcpOption::RapidCommit);
    m.options.push(DhcpOption::IaNa(Ia {
        iaid: 1,
        t1: 0,
        t2: 0,
        options: vec![],
    }));
    m.emit()
}

fn meta() -> RecvMeta {
    RecvMeta {
        src: "[fe80::1]:546".parse().unwrap(),
        dst: "ff02::1:2".parse().unwrap(),
        ifindex: 7,
        truncated: false,
    }
}

fn runner(pool_size: u32) -> Runner {
    let node = Node::standalone(
        config(pool_size),
        Duid(vec![0, 3, 0, 1, 9, 9, 9, 9, 9, 9]),
        vec![],
    );
    Runner::new(
        node,
        BTreeMap::from([(7, "eth-t".to_string())]),
        Arc::new(Counters::default()),
        Time(1_000),
    )
}

#[test]
fn a_grant_is_counted_only_when_its_batch_is_durable() {
    let mut r = runner(16);
    let now = Time(1_000);
    r.turn(now);
    r.on_datagram(now, &solicit(1), &meta());
    r.on_datagram(now, &solicit(2), &meta());
    let a = r.take_actions();
    assert_eq!(a.commits.len(), 1, "one batch for the turn");
    assert!(a.replies.is_empty(), "replies wait for the commit");
    assert!(
        r.counters().snapshot().lease_events.is_empty(),
        "not durable yet"
    );
    let (id, _) = &a.commits[0];
    r.on_committed(*id, Ok(()));
    assert_eq!(
        r.counters().snapshot().lease_events.get("granted"),
        Some(&2)
    );
    assert_eq!(r.take_actions().replies.len(), 2);
}

#[test]
fn a_failed_commit_logs_no_lease() {
    let mut r = runner(16);
    let now = Time(1_000);
    r.on_datagram(now, &solicit(1), &meta());
    let a = r.take_actions();
    let (id, _) = &a.commits[0];
    r.on_committed(*id, Err("disk full".into()));
    assert!(r.counters().snapshot().lease_events.is_empty());
    assert!(r.take_actions().replies.is_empty(), "nor is the Reply sent");
}

#[test]
fn an_exhausted_pool_grants_nothing_more() {
    // Two addresses, three clients: the third gets NoAddrsAvail (and the error line).
    let mut r = runner(2);
    let now = Time(1_000);
    let exhausted: Vec<_> = (1..=3)
        .map(|c| r.on_datagram(now, &solicit(c), &meta()).unwrap().exhausted)
        .collect();
    assert_eq!(
        exhausted,
        vec![vec![], vec![], vec![tandem_core::IaType::Na]]
    );
    let a = r.take_actions();
    let (id, _) = &a.commits[0];
    r.on_committed(*id, Ok(()));
    assert_eq!(
        r.counters().snapshot().lease_events.get("granted"),
        Some(&2)
    );
}
