//! Errors the partner link task finds itself — a draft-12 length outside 12..=2048
//! (draft-ietf-dhc-failover-12 §6.1), an RFC 8156 empty frame — reach the runner as
//! [`PeerEvent::BadFrame`] and are counted as protocol errors like the ones the core
//! finds (`tandem ctl status` protocol_errors, `tandem_failover_protocol_errors_total`);
//! before, they were only an info line "partner connection lost" and uncounted
//! (tests/integration/pair4_badinput.py).

use std::collections::BTreeMap;
use std::sync::Arc;

use tandem_core::{Duid, Time};
use tandem_failover::endpoint::EndpointConfig;
use tandem_failover::node::Node;
use tandem_failover::server::PairConfig;
use tandem_failover::Role;
use tandem_server::{Counters, PeerEvent, Runner};

#[allow(dead_code)]
mod common;

fn secondary(now: Time) -> Runner {
    let pair = PairConfig {
        endpoint: EndpointConfig::new(Role::Secondary, "test", 60),
        secondary_prefix_share: 50,
        rebalance_threshold: 1,
    };
    let node = Node::pair_member(
        common::config(),
        Duid(vec![0, 2, 0, 0, 0, 9, 2]),
        vec![],
        None,
        pair,
        now,
    )
    .unwrap();
    Runner::new(node, BTreeMap::new(), Arc::new(Counters::default()), now)
}

#[test]
fn an_unframeable_message_is_counted_as_a_protocol_error_s6_1() {
    let now = Time(1_000_000);
    let mut r = secondary(now);
    r.on_peer(now, Some(PeerEvent::Connected));
    r.on_peer(
        now,
        Some(PeerEvent::BadFrame(
            "message length 8 below minimum 12 at byte 0".into(),
        )),
    );
    assert_eq!(r.status(now).protocol_errors, 1);
    assert!(!r.status(now).communications_ok);
    // The connection is gone: a later one starts afresh.
    r.on_peer(now, Some(PeerEvent::Connected));
    assert_eq!(r.status(now).protocol_errors, 1);
}
