//! Operator lease changes (the control API) and live reconfiguration, through the same
//! gate as client changes: the operator and the partner hear of a change only once it is
//! durable (RFC 8156 §4.3), and a reload never loses a lease.

use tandem_core::config::AddressPool;

use super::tests::{config, normal_pair, T0};
use super::*;
use crate::node::{Node, OperatorChange, Output};

fn lease(addr: &str, client: u8, now: Time) -> Lease {
    Lease {
        resource: Resource::Address(addr.parse().unwrap()),
        status: BindingStatus::Active,
        duid: Duid(vec![0, 3, 0, 1, client]),
        hw_address: Vec::new(),
        iaid: 1,
        subnet_id: 1,
        preferred_lifetime: 300,
        valid_lifetime: 600,
        t1: 150,
        t2: 240,
        cltt: now,
        start_time_of_state: now,
        state_expiration: Some(now.plus_lifetime(600)),
        failover: tandem_core::FailoverFields::default(),
    }
}

fn done(log: &[Output], ticket: u64) -> Option<Result<(), String>> {
    log.iter().find_map(|o| match o {
        Output::OperatorDone { ticket: t, result } if *t == ticket => Some(result.clone()),
        _ => None,
    })
}

fn addr(s: &str) -> Resource {
    Resource::Address(s.parse().unwrap())
}

#[test]
fn operator_lease_reaches_operator_and_partner_only_once_durable_s4_3() {
    let mut p = normal_pair();
    let now = T0 + 5;
    p.hold[0] = true;
    p.s[0].operator_changes(
        now,
        vec![OperatorChange::Upsert(lease("2001:db8:1::105", 9, now))],
        1,
    );
    p.pump(now);
    assert_eq!(done(&p.log[0], 1), None, "answered before the commit");
    assert!(
        p.fs(1).leases().get(&addr("2001:db8:1::105")).is_none(),
        "the partner heard of it before the commit"
    );
    p.release(0);
    p.pump(now);
    assert_eq!(done(&p.log[0], 1), Some(Ok(())));
    let theirs = p
        .fs(1)
        .leases()
        .get(&addr("2001:db8:1::105"))
        .expect("BNDUPD");
    assert_eq!(theirs.status, BindingStatus::Active);
    assert_eq!(theirs.duid, Duid(vec![0, 3, 0, 1, 9]));
}

#[test]
fn operator_delete_releases_the_lease_on_both_members_s7_2_event3() {
    let mut p = normal_pair();
    let now = T0 + 5;
    p.s[0].operator_changes(
        now,
        vec![OperatorChange::Upsert(lease("2001:db8:1::106", 9, now))],
        1,
    );
    p.pump(now);
    p.s[0].operator_changes(
        now + 1,
        vec![OperatorChange::Remove(addr("2001:db8:1::106"))],
        2,
    );
    p.pump(now + 1);
    assert_eq!(done(&p.log[0], 2), Some(Ok(())));
    for i in 0..2 {
        let l = p.fs(i).leases().get(&addr("2001:db8:1::106")).unwrap();
        assert_ne!(l.status, BindingStatus::Active, "member {i}: {l:?}");
    }
}

#[test]
fn operator_change_whose_commit_fails_is_answered_with_the_error() {
    let mut n = Node::standalone(config(), Duid(vec![0, 2, 0, 0, 0, 9, 1]), vec![]);
    n.operator_changes(
        T0,
        vec![OperatorChange::Upsert(lease("2001:db8:1::107", 9, T0))],
        7,
    );
    let out: Vec<Output> = std::iter::from_fn(|| n.poll_output()).collect();
    let Some(Output::Persist(b)) = out.first() else {
        panic!("persist first: {out:?}")
    };
    assert_eq!(done(&out, 7), None);
    n.on_persisted(b.id, Err("disk full".into()));
    let out: Vec<Output> = std::iter::from_fn(|| n.poll_output()).collect();
    assert_eq!(done(&out, 7), Some(Err("disk full".into())));
}

#[test]
fn reload_keeps_every_lease_and_refuses_to_shrink_a_pool_under_an_active_lease() {
    let mut n = Node::standalone(
        config(),
        Duid(vec![0, 2, 0, 0, 0, 9, 1]),
        vec![lease("2001:db8:1::1f0", 9, T0)],
    );
    // Shrinking the pool below the lease: refused, nothing changes.
    let mut smaller = config();
    smaller.subnets[0].pools[0].last = "2001:db8:1::10f".parse().unwrap();
    let problems = n.reconfigure(smaller, T0 + 1).unwrap_err();
    assert!(problems[0].contains("2001:db8:1::1f0"), "{problems:?}");
    assert_eq!(n.dhcp().config(), &config());
    // Reusing subnet id 1 for another prefix: refused.
    let mut moved = config();
    moved.subnets[0].prefix = "2001:db8:2::/64".parse().unwrap();
    moved.subnets[0].pools[0] = AddressPool {
        first: "2001:db8:2::100".parse().unwrap(),
        last: "2001:db8:2::1ff".parse().unwrap(),
    };
    let problems = n.reconfigure(moved, T0 + 1).unwrap_err();
    assert!(
        problems.iter().any(|p| p.contains("subnet id 1")),
        "{problems:?}"
    );
    // Longer lifetimes and a second pool: applied, the lease kept and still occupied.
    let mut more = config();
    more.subnets[0].valid_lifetime = 900;
    more.subnets[0].pools.push(AddressPool {
        first: "2001:db8:1::1000".parse().unwrap(),
        last: "2001:db8:1::10ff".parse().unwrap(),
    });
    n.reconfigure(more.clone(), T0 + 1).unwrap();
    assert_eq!(n.dhcp().config(), &more);
    assert_eq!(n.leases().len(), 1);
    assert!(n.leases().get(&addr("2001:db8:1::1f0")).is_some());
}

#[test]
fn reload_of_a_pair_member_may_add_a_prefix_pool_but_not_change_one_s4_2_2() {
    let mut p = normal_pair();
    let mut changed = config();
    changed.subnets[0].pd_pools[0].delegated_len = 60;
    let problems = p.s[0].reconfigure(changed, T0 + 2).unwrap_err();
    assert!(problems[0].contains("2001:db8:100::/48"), "{problems:?}");
    let mut added = config();
    added.subnets[0].pd_pools.push(tandem_core::config::PdPool {
        prefix: "2001:db8:200::/48".parse().unwrap(),
        delegated_len: 56,
    });
    p.s[0].reconfigure(added, T0 + 2).unwrap();
    assert_eq!(p.fs(0).prefix_pools().len(), 2);
}

/// RFC 8156 is DHCPv6 only (§1): a DHCPv4 lease a pair member stores (here from the
/// operator, with the same client key bytes as a DHCPv6 client) is persisted and answered,
/// but carries no failover bookkeeping and never reaches the partner; the v6 lease of the
/// same batch does.
#[test]
fn a_v4_lease_is_stored_but_never_sent_to_the_partner_s1() {
    let mut p = normal_pair();
    let now = T0 + 5;
    let v6 = lease("2001:db8:1::105", 9, now);
    let v4 = Lease {
        resource: Resource::V4Address([192, 0, 2, 10].into()),
        hw_address: vec![1, 2, 0, 0x5e, 0, 0, 9],
        iaid: 0,
        ..v6.clone()
    };
    p.s[0].operator_changes(
        now,
        vec![
            OperatorChange::Upsert(v4.clone()),
            OperatorChange::Upsert(v6.clone()),
        ],
        1,
    );
    p.pump(now);
    assert_eq!(done(&p.log[0], 1), Some(Ok(())));
    let ours = p.fs(0).leases().get(&v4.resource).expect("stored");
    assert_eq!(ours.hw_address, v4.hw_address);
    assert!(!ours.failover.update_pending, "{ours:?}");
    assert!(ours.failover.partner_lifetime.is_none(), "{ours:?}");
    assert!(p.fs(1).leases().get(&v4.resource).is_none());
    assert!(
        p.fs(1).leases().get(&v6.resource).is_some(),
        "the v6 BNDUPD went"
    );
    assert_eq!(p.fs(0).unacked_updates(), (0, 0));
    let persisted_v4 = p.log[0].iter().any(|o| {
        match o {
        Output::Persist(b) => b.items.iter().any(|i| {
            matches!(i, PersistItem::Lease(LeaseChange::Upsert(l)) if l.resource == v4.resource)
        }),
        _ => false,
    }
    });
    assert!(persisted_v4, "the v4 lease was committed");
    // No partner holds it, so a delete forgets it at once (no RFC 8156 release, §7.2
    // event 3, and nothing sent).
    let sent_before = p.log[0].len();
    p.s[0].operator_changes(now + 1, vec![OperatorChange::Remove(v4.resource)], 2);
    p.pump(now + 1);
    assert_eq!(done(&p.log[0], 2), Some(Ok(())));
    assert!(p.fs(0).leases().get(&v4.resource).is_none());
    assert!(
        !p.log[0][sent_before..]
            .iter()
            .any(|o| matches!(o, Output::Peer(_))),
        "{:?}",
        &p.log[0][sent_before..]
    );
}

/// A pair member restarted with a DHCPv4 record flagged update-pending (as a later DHCPv4
/// failover may leave one) keeps it and queues nothing for its RFC 8156 partner (§1).
#[test]
fn a_restarted_pair_member_queues_no_update_for_a_v4_lease_s1() {
    let mut e = EndpointConfig::new(Role::Primary, "t", 60);
    e.local.keepalive = 30;
    let pair = PairConfig {
        endpoint: e,
        secondary_prefix_share: 50,
        rebalance_threshold: 1,
    };
    let mut v4 = Lease {
        resource: Resource::V4Address([192, 0, 2, 11].into()),
        status: BindingStatus::Released,
        hw_address: vec![1, 2, 0, 0x5e, 0, 0, 3],
        iaid: 0,
        state_expiration: None,
        ..lease("2001:db8:1::1", 3, T0 - 100)
    };
    v4.failover.update_pending = true;
    let fs = FailoverServer::new(
        config(),
        Duid(vec![0, 2, 0, 0, 0, 9, 0]),
        vec![v4.clone()],
        None,
        pair,
        T0,
    )
    .unwrap();
    assert_eq!(fs.unacked_updates(), (0, 0));
    assert_eq!(fs.leases().get(&v4.resource), Some(&v4));
}
