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
