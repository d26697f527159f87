//! Timelines for BNDUPD / BNDREPLY processing: one test per cell of RFC 8156 §7.5.4
//! Figure 4, plus storing (§7.5.5), replying (§7.6) and acknowledgements (§7.7).

use std::collections::HashMap;

use tandem_core::{BindingStatus, Duid, IaType, Lease, LeaseChange, Resource, Time};

use super::ack::process_reply;
use super::receive::{decide, receive_update, Verdict};
use crate::types::Role;
use crate::update::tests::lease;
use crate::update::{
    build_client_update, BindingReply, BindingUpdate, FailoverStatus, IaUpdate, LeaseUpdate,
    RejectReason,
};
use BindingStatus::*;

const LOCAL_TIME: u64 = 1000;
const LOCAL_EXPIRY: u64 = 5000;
const OUTDATED: Verdict = Verdict::Reject(FailoverStatus::OutdatedBindingInformation);

fn local(status: BindingStatus) -> Lease {
    let exp = (status == Active).then_some(LOCAL_EXPIRY);
    lease("2001:db8::1", 1, status, LOCAL_TIME, exp)
}

fn upd(status: BindingStatus, t: u64) -> LeaseUpdate {
    let timed = status == Active;
    LeaseUpdate {
        resource: Resource::Address("2001:db8::1".parse().unwrap()),
        preferred: 1800,
        valid: 3600,
        status,
        start_time_of_state: Time(t),
        state_expiration: timed.then_some(Time(t + 3600)),
        cltt: Some(Time(t)),
        partner_lifetime: timed.then_some(Time(t + 7200)),
        partner_raw_cltt: None,
        expiration_time: timed.then_some(Time(0)),
    }
}

fn client(n: u8) -> Duid {
    Duid(vec![0, 1, n])
}

/// Judge an update of `recv` status with update time `t`, from the same client, at `now`.
fn judge(
    local_status: BindingStatus,
    recv: BindingStatus,
    t: u64,
    now: u64,
    role: Role,
) -> Verdict {
    decide(
        Some(&local(local_status)),
        &upd(recv, t),
        Some(&client(1)),
        role,
        Time(now),
    )
}

/// §7.5.4 "accept": clearly later (by > 5 s) wins; an older update is rejected as outdated;
/// a tie (±5 s; a strict "ties reject" deadlocks two servers) is accepted only for the same or the next lifecycle status.
fn check_accept_cell(locals: &[BindingStatus], recvs: &[BindingStatus]) {
    for &l in locals {
        for &r in recvs {
            for role in [Role::Primary, Role::Secondary] {
                let now = LOCAL_TIME + 10;
                let tie = if super::receive::tie_accepts(l, r) {
                    Verdict::Accept
                } else {
                    OUTDATED
                };
                assert_eq!(
                    judge(l, r, LOCAL_TIME + 6, now, role),
                    Verdict::Accept,
                    "{l} <- {r} later"
                );
                assert_eq!(
                    judge(l, r, LOCAL_TIME + 5, now, role),
                    tie,
                    "{l} <- {r} tie"
                );
                // A slightly older RELEASED/ABANDONED does not end a newer ACTIVE (tandem
                // decision, tandem-sim seed 1812).
                let older_tie = if l == Active && matches!(r, Released | Abandoned) {
                    OUTDATED
                } else {
                    tie
                };
                assert_eq!(
                    judge(l, r, LOCAL_TIME - 5, now, role),
                    older_tie,
                    "{l} <- {r} older tie"
                );
                // An older update that says exactly what we hold (same status, no timeout
                // on either side) is accepted as agreement (tandem-sim seed 17907).
                let older = if l == r && l != Active {
                    Verdict::Accept
                } else {
                    OUTDATED
                };
                assert_eq!(
                    judge(l, r, LOCAL_TIME - 100, now, role),
                    older,
                    "{l} <- {r} older"
                );
            }
        }
    }
}

/// §7.5.4 "time(1)": only the local lease's own expiry matters, not the update's time.
fn check_time1_cell(recvs: &[BindingStatus]) {
    for &r in recvs {
        // Timeline: local ACTIVE until 5000. At 4000 a newer update arrives → rejected.
        assert_eq!(
            judge(Active, r, 3000, 4000, Role::Primary),
            OUTDATED,
            "{r} before expiry"
        );
        // At 5000 the local lease has run out (Lease::is_active_at: active while now < end)
        // → accepted; see the test below.
        assert_eq!(
            judge(Active, r, 3000, LOCAL_EXPIRY, Role::Primary),
            Verdict::Accept,
            "{r} at expiry"
        );
        // At 5001 too, even with an older update time.
        assert_eq!(
            judge(Active, r, 900, LOCAL_EXPIRY + 1, Role::Primary),
            Verdict::Accept,
            "{r} after"
        );
    }
}

/// One Figure 4 cell governed by the plain "accept" rule.
macro_rules! accept_cell {
    ($name:ident, $local:ident, $recv:ident) => {
        #[test]
        fn $name() {
            check_accept_cell(&[$local], &[$recv]);
        }
    };
}

// Row ACTIVE.
#[test]
fn active_vs_received_active_same_client_accepts_s7_5_4_accept3() {
    // Same client: accepted when the update is newer or about as new (±5 s) ...
    assert_eq!(
        judge(Active, Active, LOCAL_TIME + 200, 1100, Role::Primary),
        Verdict::Accept
    );
    assert_eq!(
        judge(Active, Active, LOCAL_TIME - 4, 1100, Role::Secondary),
        Verdict::Accept
    );
    // ... but not when our record is clearly newer: Figure 4 says accept, which would
    // shorten a lease the client holds from us (found by tandem-sim seed 3; tandem decision).
    assert_eq!(
        judge(Active, Active, 500, 1100, Role::Primary),
        Verdict::Reject(FailoverStatus::OutdatedBindingInformation)
    );
}
#[test]
fn active_vs_received_active_other_client_primary_needs_time2_else_address_in_use_s7_5_4_accept3() {
    let l = local(Active);
    let other = client(2);
    // CLT_TIME clearly later than local start-time-of-state → accept.
    assert_eq!(
        decide(
            Some(&l),
            &upd(Active, LOCAL_TIME + 6),
            Some(&other),
            Role::Primary,
            Time(1100)
        ),
        Verdict::Accept
    );
    // Within 5 s → AddressInUse.
    assert_eq!(
        decide(
            Some(&l),
            &upd(Active, LOCAL_TIME + 5),
            Some(&other),
            Role::Primary,
            Time(1100)
        ),
        Verdict::Reject(FailoverStatus::AddressInUse)
    );
    // No CLT_TIME at all → time(2) cannot hold → AddressInUse.
    let mut u = upd(Active, LOCAL_TIME + 100);
    u.cltt = None;
    assert_eq!(
        decide(Some(&l), &u, Some(&other), Role::Primary, Time(1100)),
        Verdict::Reject(FailoverStatus::AddressInUse)
    );
}
#[test]
fn active_vs_received_active_other_client_secondary_accepts_s7_5_4_accept3() {
    let l = local(Active);
    assert_eq!(
        decide(
            Some(&l),
            &upd(Active, 10),
            Some(&client(2)),
            Role::Secondary,
            Time(1100)
        ),
        Verdict::Accept
    );
}
/// §7.5.4 time(1) / draft-12 §7.1.3: "accept if the local lease has expired". A lease whose
/// expiration is E is no longer active at E (Lease::is_active_at), and ISC dhcpd 4.4
/// expires a lease, and sends its EXPIRED BNDUPD, in the second its `ends` falls due
/// (`ends <= cur_time`). Seen in tests/integration/pair4_migrate.py: dhcpd's EXPIRED at the
/// lease's end second was rejected as Outdated, and the two servers' records diverged.
#[test]
fn active_vs_received_expired_in_the_expiry_second_accepts_as_dhcpd_sends_it_s7_5_4_time1() {
    for r in [Expired, Free, FreeBackup] {
        let l = local(Active);
        assert!(
            !l.is_active_at(Time(LOCAL_EXPIRY)),
            "the lease model's own expiry"
        );
        assert_eq!(
            judge(Active, r, LOCAL_EXPIRY, LOCAL_EXPIRY, Role::Secondary),
            Verdict::Accept,
            "{r} sent in the lease's last second"
        );
        assert_eq!(
            judge(
                Active,
                r,
                LOCAL_EXPIRY - 1,
                LOCAL_EXPIRY - 1,
                Role::Secondary
            ),
            OUTDATED,
            "{r} a second early"
        );
    }
}

#[test]
fn active_vs_received_expired_before_local_expiry_rejects_outdated_s7_5_4_time1() {
    check_time1_cell(&[Expired]);
}
accept_cell!(
    active_vs_received_released_uses_accept_rule_s7_5_4,
    Active,
    Released
);
#[test]
fn active_vs_received_free_before_local_expiry_rejects_outdated_s7_5_4_time1() {
    // Also the take-back case of §4.2.2: FREE for a prefix the secondary delegated.
    check_time1_cell(&[Free]);
}
#[test]
fn active_vs_received_free_backup_before_local_expiry_rejects_outdated_s7_5_4_time1() {
    check_time1_cell(&[FreeBackup]);
}
accept_cell!(
    active_vs_received_reset_uses_accept_rule_s7_5_4,
    Active,
    Reset
);
accept_cell!(
    active_vs_received_abandoned_uses_accept_rule_s7_5_4,
    Active,
    Abandoned
);
// Rows EXPIRED, RELEASED, FREE/FREE-BACKUP, ABANDONED: "accept" in every column.
accept_cell!(
    expired_vs_received_active_uses_accept_rule_s7_5_4,
    Expired,
    Active
);
accept_cell!(
    expired_vs_received_expired_uses_accept_rule_s7_5_4,
    Expired,
    Expired
);
accept_cell!(
    expired_vs_received_released_uses_accept_rule_s7_5_4,
    Expired,
    Released
);
accept_cell!(
    expired_vs_received_free_uses_accept_rule_s7_5_4,
    Expired,
    Free
);
accept_cell!(
    expired_vs_received_free_backup_uses_accept_rule_s7_5_4,
    Expired,
    FreeBackup
);
accept_cell!(
    expired_vs_received_reset_uses_accept_rule_s7_5_4,
    Expired,
    Reset
);
accept_cell!(
    expired_vs_received_abandoned_uses_accept_rule_s7_5_4,
    Expired,
    Abandoned
);
accept_cell!(
    released_vs_received_active_uses_accept_rule_s7_5_4,
    Released,
    Active
);
accept_cell!(
    released_vs_received_expired_uses_accept_rule_s7_5_4,
    Released,
    Expired
);
accept_cell!(
    released_vs_received_released_uses_accept_rule_s7_5_4,
    Released,
    Released
);
accept_cell!(
    released_vs_received_free_uses_accept_rule_s7_5_4,
    Released,
    Free
);
accept_cell!(
    released_vs_received_free_backup_uses_accept_rule_s7_5_4,
    Released,
    FreeBackup
);
accept_cell!(
    released_vs_received_reset_uses_accept_rule_s7_5_4,
    Released,
    Reset
);
accept_cell!(
    released_vs_received_abandoned_uses_accept_rule_s7_5_4,
    Released,
    Abandoned
);
accept_cell!(
    free_vs_received_active_uses_accept_rule_s7_5_4,
    Free,
    Active
);
accept_cell!(
    free_vs_received_expired_uses_accept_rule_s7_5_4,
    Free,
    Expired
);
accept_cell!(
    free_vs_received_released_uses_accept_rule_s7_5_4,
    Free,
    Released
);
accept_cell!(free_vs_received_free_uses_accept_rule_s7_5_4, Free, Free);
accept_cell!(
    free_vs_received_free_backup_uses_accept_rule_s7_5_4,
    Free,
    FreeBackup
);
accept_cell!(free_vs_received_reset_uses_accept_rule_s7_5_4, Free, Reset);
accept_cell!(
    free_vs_received_abandoned_uses_accept_rule_s7_5_4,
    Free,
    Abandoned
);
accept_cell!(
    free_backup_vs_received_active_uses_accept_rule_s7_5_4,
    FreeBackup,
    Active
);
accept_cell!(
    free_backup_vs_received_expired_uses_accept_rule_s7_5_4,
    FreeBackup,
    Expired
);
accept_cell!(
    free_backup_vs_received_released_uses_accept_rule_s7_5_4,
    FreeBackup,
    Released
);
accept_cell!(
    free_backup_vs_received_free_uses_accept_rule_s7_5_4,
    FreeBackup,
    Free
);
accept_cell!(
    free_backup_vs_received_free_backup_uses_accept_rule_s7_5_4,
    FreeBackup,
    FreeBackup
);
accept_cell!(
    free_backup_vs_received_reset_uses_accept_rule_s7_5_4,
    FreeBackup,
    Reset
);
accept_cell!(
    free_backup_vs_received_abandoned_uses_accept_rule_s7_5_4,
    FreeBackup,
    Abandoned
);
accept_cell!(
    abandoned_vs_received_active_uses_accept_rule_s7_5_4,
    Abandoned,
    Active
);
accept_cell!(
    abandoned_vs_received_expired_uses_accept_rule_s7_5_4,
    Abandoned,
    Expired
);
accept_cell!(
    abandoned_vs_received_released_uses_accept_rule_s7_5_4,
    Abandoned,
    Released
);
accept_cell!(
    abandoned_vs_received_free_uses_accept_rule_s7_5_4,
    Abandoned,
    Free
);
accept_cell!(
    abandoned_vs_received_free_backup_uses_accept_rule_s7_5_4,
    Abandoned,
    FreeBackup
);
accept_cell!(
    abandoned_vs_received_reset_uses_accept_rule_s7_5_4,
    Abandoned,
    Reset
);
accept_cell!(
    abandoned_vs_received_abandoned_uses_accept_rule_s7_5_4,
    Abandoned,
    Abandoned
);
accept_cell!(
    reset_vs_received_expired_uses_accept_rule_s7_5_4,
    Reset,
    Expired
);
accept_cell!(
    reset_vs_received_released_uses_accept_rule_s7_5_4,
    Reset,
    Released
);
accept_cell!(reset_vs_received_free_uses_accept_rule_s7_5_4, Reset, Free);
accept_cell!(
    reset_vs_received_free_backup_uses_accept_rule_s7_5_4,
    Reset,
    FreeBackup
);
accept_cell!(
    reset_vs_received_reset_uses_accept_rule_s7_5_4,
    Reset,
    Reset
);
accept_cell!(
    reset_vs_received_abandoned_uses_accept_rule_s7_5_4,
    Reset,
    Abandoned
);

// Row RESET.
#[test]
fn reset_vs_received_active_time2_s7_5_4() {
    // CLT_TIME clearly after the local reset → accept; within 5 s or before → outdated.
    assert_eq!(
        judge(Reset, Active, LOCAL_TIME + 6, 2000, Role::Primary),
        Verdict::Accept
    );
    assert_eq!(
        judge(Reset, Active, LOCAL_TIME + 5, 2000, Role::Primary),
        OUTDATED
    );
    let mut u = upd(Active, LOCAL_TIME + 500);
    u.cltt = None; // start-time-of-state alone does not satisfy time(2)
    assert_eq!(
        decide(
            Some(&local(Reset)),
            &u,
            Some(&client(1)),
            Role::Primary,
            Time(2000)
        ),
        OUTDATED
    );
}
#[test]
fn ties_accept_only_the_same_or_next_lifecycle_status_s7_5_4_s14_10() {
    // The sender's FREE-BACKUP follow-up a second after its EXPIRED update wins the tie…
    assert_eq!(
        judge(Expired, FreeBackup, LOCAL_TIME + 1, 2000, Role::Primary),
        Verdict::Accept
    );
    // …but a late EXPIRED never drags a FREE lease back.
    assert_eq!(
        judge(Free, Expired, LOCAL_TIME + 1, 2000, Role::Primary),
        OUTDATED
    );
    assert_eq!(
        judge(Abandoned, Active, LOCAL_TIME + 1, 2000, Role::Primary),
        OUTDATED
    );
    assert_eq!(
        judge(Released, Released, LOCAL_TIME + 1, 2000, Role::Primary),
        Verdict::Accept
    );
}

#[test]
fn unknown_lease_is_accepted_s7_5_4() {
    assert_eq!(
        decide(
            None,
            &upd(Expired, 1),
            Some(&client(1)),
            Role::Primary,
            Time(5)
        ),
        Verdict::Accept
    );
}
#[test]
fn update_time_for_non_client_statuses_is_the_later_of_clt_and_start_s7_5_4() {
    let mut u = upd(Free, 900);
    u.start_time_of_state = Time(LOCAL_TIME + 50);
    assert_eq!(
        decide(Some(&local(Expired)), &u, None, Role::Primary, Time(2000)),
        Verdict::Accept
    );
    // For EXPIRED the CLT_TIME alone counts.
    let mut u = upd(Expired, 900);
    u.start_time_of_state = Time(LOCAL_TIME + 50);
    assert_eq!(
        decide(Some(&local(Released)), &u, None, Role::Primary, Time(2000)),
        OUTDATED
    );
}

// ---- whole-message processing ----

struct Db(HashMap<Resource, Lease>);
impl Db {
    fn new(leases: Vec<Lease>) -> Self {
        Db(leases.into_iter().map(|l| (l.resource, l)).collect())
    }
    fn get(&self) -> impl Fn(&Resource) -> Option<Lease> + '_ {
        move |r| self.0.get(r).cloned()
    }
    fn apply(&mut self, changes: &[LeaseChange]) {
        for c in changes {
            match c {
                LeaseChange::Upsert(l) => {
                    self.0.insert(l.resource, l.clone());
                }
                LeaseChange::Remove(r) => {
                    self.0.remove(r);
                }
            }
        }
    }
}

fn in_scope(r: &Resource) -> Option<u32> {
    match r {
        Resource::Address(a) if a.segments()[0] == 0x2001 && a.segments()[1] == 0xdb8 => Some(4),
        Resource::Prefix(p) if p.addr().segments()[1] == 0xdb8 => Some(5),
        _ => None,
    }
}

fn client_update(leases: Vec<LeaseUpdate>) -> BindingUpdate {
    BindingUpdate::Client {
        duid: client(1),
        base_time: Time(2000),
        ias: vec![IaUpdate {
            ia_type: IaType::Na,
            iaid: 7,
            t1: 900,
            t2: 1440,
            leases,
        }],
    }
}

#[test]
fn accepted_update_is_stored_field_by_field_and_reply_echoes_s7_5_5_s7_6() {
    let mut old = local(Expired);
    old.failover.partner_lifetime = Some(Time(3000));
    old.failover.acked_partner_lifetime = Some(Time(2500));
    let db = Db::new(vec![old]);
    let mut u = upd(Active, 2000);
    u.partner_lifetime = Some(Time(9000));
    u.expiration_time = Some(Time(4000)); // later than our partner_lifetime 3000 → replaces
    u.partner_raw_cltt = Some(Time(1900)); // later than our cltt 1000 → replaces
    let out = receive_update(
        &client_update(vec![u.clone()]),
        &in_scope,
        &db.get(),
        Role::Secondary,
        Time(2001),
    );
    assert!(
        out.send_reply_after_persist,
        "§7.5.2: reply only after the write is durable"
    );
    let [LeaseChange::Upsert(s)] = out.changes.as_slice() else {
        panic!("{:?}", out.changes)
    };
    assert_eq!(s.status, Active);
    assert_eq!(s.duid, client(1));
    assert_eq!(
        (s.iaid, s.t1, s.t2, s.subnet_id),
        (7, 900, 1440, 4),
        "subnet from configuration"
    );
    assert_eq!(
        s.failover.expiration_time,
        Some(Time(9000)),
        "PARTNER_LIFETIME → expiration-time"
    );
    assert_eq!(s.state_expiration, Some(Time(5600)));
    assert_eq!(
        s.failover.partner_raw_cltt,
        Some(Time(2000)),
        "CLT_TIME → partner-raw-clt-time"
    );
    assert_eq!(s.cltt, Time(1900), "PARTNER_RAW_CLT_TIME → cltt if later");
    assert_eq!(
        s.failover.partner_lifetime,
        Some(Time(4000)),
        "EXPIRATION_TIME → partner-lifetime if later"
    );
    assert_eq!(
        s.failover.acked_partner_lifetime,
        Some(Time(2500)),
        "untouched"
    );
    assert_eq!(s.start_time_of_state, Time(2000));
    assert!(!s.failover.update_pending);
    let BindingReply::Client { duid, reject, ias } = &out.reply else {
        panic!()
    };
    assert_eq!((duid, reject), (&client(1), &None));
    let lr = &ias[0].leases[0];
    assert_eq!(lr.reject, None);
    assert_eq!(lr.binding_status, Active);
    assert_eq!(lr.state_expiration, Some(Time(5600)));
    assert_eq!(
        lr.partner_lifetime_sent,
        Some(Time(9000)),
        "§5.5.11 verbatim copy"
    );
}

#[test]
fn earlier_expiration_and_raw_cltt_do_not_replace_s7_5_5() {
    let mut old = local(Expired);
    old.failover.partner_lifetime = Some(Time(8000));
    old.cltt = Time(1000);
    let db = Db::new(vec![old]);
    let mut u = upd(Active, 2000);
    u.expiration_time = Some(Time(4000));
    u.partner_raw_cltt = Some(Time(500));
    let out = receive_update(
        &client_update(vec![u]),
        &in_scope,
        &db.get(),
        Role::Primary,
        Time(2001),
    );
    let [LeaseChange::Upsert(s)] = out.changes.as_slice() else {
        panic!()
    };
    assert_eq!(s.failover.partner_lifetime, Some(Time(8000)));
    assert_eq!(s.cltt, Time(1000));
}

#[test]
fn outdated_rejection_sets_pending_flag_and_resends_only_the_first_time_s7_5_4() {
    let mut db = Db::new(vec![local(Released)]);
    let stale = client_update(vec![upd(Expired, 990)]);
    // t=2000: first stale update → reject, flag set, MAY send now.
    let out = receive_update(&stale, &in_scope, &db.get(), Role::Primary, Time(2000));
    let BindingReply::Client { ias, .. } = &out.reply else {
        panic!()
    };
    assert_eq!(
        ias[0].leases[0].reject,
        Some(RejectReason::Failover(
            FailoverStatus::OutdatedBindingInformation
        ))
    );
    assert_eq!(out.resend_now.len(), 1);
    db.apply(&out.changes);
    assert!(db
        .0
        .values()
        .all(|l| l.failover.update_pending && l.status == Released));
    // t=2010: the same again → rejected, but no immediate resend (storm prevention).
    let out = receive_update(&stale, &in_scope, &db.get(), Role::Primary, Time(2010));
    assert!(out.resend_now.is_empty());
    assert!(out.changes.is_empty());
    assert!(!out.send_reply_after_persist);
}

#[test]
fn lease_outside_relationship_is_configuration_conflict_without_flag_change_s7_5_4() {
    let db = Db::new(vec![]);
    let mut u = upd(Active, 2000);
    u.resource = Resource::Address("2001:db9::1".parse().unwrap());
    let out = receive_update(
        &client_update(vec![u, upd(Active, 2000)]),
        &in_scope,
        &db.get(),
        Role::Primary,
        Time(2001),
    );
    let BindingReply::Client { ias, reject, .. } = &out.reply else {
        panic!()
    };
    assert_eq!(
        *reject, None,
        "per-lease rejection, the rest is processed (§7.6)"
    );
    assert_eq!(
        ias[0].leases[0].reject,
        Some(FailoverStatus::ConfigurationConflict.into())
    );
    assert_eq!(ias[0].leases[1].reject, None);
    assert_eq!(out.changes.len(), 1);
    assert!(out.resend_now.is_empty());
}

#[test]
fn missing_client_id_or_ia_rejects_whole_update_s7_5_3() {
    let db = Db::new(vec![]);
    let no_duid = BindingUpdate::Client {
        duid: Duid::default(),
        base_time: Time(0),
        ias: vec![],
    };
    let out = receive_update(&no_duid, &in_scope, &db.get(), Role::Primary, Time(1));
    let BindingReply::Client { reject, .. } = &out.reply else {
        panic!()
    };
    assert_eq!(
        *reject,
        Some(FailoverStatus::MissingBindingInformation.into())
    );
    assert!(out.changes.is_empty());
}

#[test]
fn missing_timeout_fields_reject_the_lease_s7_4_s7_5_3() {
    let db = Db::new(vec![]);
    let mut no_exp = upd(Active, 2000);
    no_exp.state_expiration = None; // ACTIVE always has a timeout
    let mut no_pl = upd(Active, 2000);
    no_pl.resource = Resource::Address("2001:db8::3".parse().unwrap());
    no_pl.partner_lifetime = None;
    let mut wrong_ia = upd(Active, 2000);
    wrong_ia.resource = Resource::Prefix("2001:db8:1::/56".parse().unwrap());
    let out = receive_update(
        &client_update(vec![no_exp, no_pl, wrong_ia]),
        &in_scope,
        &db.get(),
        Role::Primary,
        Time(2001),
    );
    let BindingReply::Client { ias, .. } = &out.reply else {
        panic!()
    };
    for l in &ias[0].leases {
        assert_eq!(
            l.reject,
            Some(FailoverStatus::MissingBindingInformation.into())
        );
    }
    assert!(out.changes.is_empty());
}

#[test]
fn top_level_prefix_free_backup_is_stored_s7_5_5_s4_2_2() {
    let db = Db::new(vec![]);
    let upd = crate::update::build_prefix_update(
        "2001:db8:80::/41".parse().unwrap(),
        FreeBackup,
        Time(100),
        Time(100),
    );
    let out = receive_update(&upd, &in_scope, &db.get(), Role::Secondary, Time(101));
    let [LeaseChange::Upsert(s)] = out.changes.as_slice() else {
        panic!()
    };
    assert_eq!(s.status, FreeBackup);
    assert_eq!(s.subnet_id, 5);
    assert!(matches!(out.reply, BindingReply::Prefix { ref lease } if lease.reject.is_none()));
}

// ---- BNDREPLY (§7.7) ----

fn sent_and_db(status: BindingStatus, addr: &str) -> (BindingUpdate, Db) {
    let exp = (status == Active).then_some(5000);
    let mut l = lease(addr, 1, status, 1000, exp);
    l.failover.update_pending = true;
    if status == Active {
        l.failover.partner_lifetime = Some(Time(9000));
    }
    let sent = build_client_update(&client(1), std::slice::from_ref(&l), Time(1001)).unwrap();
    (sent, Db::new(vec![l]))
}

fn accept_all(sent: &BindingUpdate) -> BindingReply {
    // What the partner sends back when it accepts everything.
    let db = Db::new(vec![]);
    let out = receive_update(
        sent,
        &|_: &Resource| Some(1),
        &db.get(),
        Role::Secondary,
        Time(1002),
    );
    out.reply
}

#[test]
fn ack_records_acked_partner_lifetime_and_clears_pending_s7_7() {
    let (sent, db) = sent_and_db(Active, "2001:db8::1");
    let out = process_reply(&sent, &accept_all(&sent), &db.get(), Time(1003));
    let [LeaseChange::Upsert(l)] = out.changes.as_slice() else {
        panic!()
    };
    assert_eq!(l.failover.acked_partner_lifetime, Some(Time(9000)));
    assert_eq!(l.failover.partner_lifetime, None, "nothing more to send");
    assert!(!l.failover.update_pending);
    assert_eq!(l.status, Active);
}

#[test]
fn ack_of_expired_odd_address_goes_free_even_goes_free_backup_s7_2_event4_5_6() {
    for (addr, dest) in [("2001:db8::1", Free), ("2001:db8::2", FreeBackup)] {
        let (sent, db) = sent_and_db(Expired, addr);
        let out = process_reply(&sent, &accept_all(&sent), &db.get(), Time(1003));
        let [LeaseChange::Upsert(l)] = out.changes.as_slice() else {
            panic!()
        };
        assert_eq!(l.status, dest, "{addr}");
        assert_eq!(l.start_time_of_state, Time(1003));
    }
    let (sent, db) = sent_and_db(Released, "2001:db8:2::/56");
    let out = process_reply(&sent, &accept_all(&sent), &db.get(), Time(1003));
    let [LeaseChange::Upsert(l)] = out.changes.as_slice() else {
        panic!()
    };
    assert_eq!(l.status, Free, "prefixes return to the primary (§4.2.2)");
}

#[test]
fn ack_after_a_newer_local_change_keeps_lease_pending_s7_7() {
    let (sent, mut db) = sent_and_db(Expired, "2001:db8::1");
    // Meanwhile the client came back and the lease is ACTIVE again.
    let l = db.0.values_mut().next().unwrap();
    l.status = Active;
    l.start_time_of_state = Time(1002);
    l.state_expiration = Some(Time(6000));
    let out = process_reply(&sent, &accept_all(&sent), &db.get(), Time(1003));
    assert!(out.changes.iter().all(
        |c| matches!(c, LeaseChange::Upsert(l) if l.failover.update_pending && l.status == Active)
    ));
}

#[test]
fn rejection_is_remembered_and_nothing_changes_s7_7() {
    let (sent, db) = sent_and_db(Expired, "2001:db8::1");
    let BindingReply::Client { duid, ias, .. } = accept_all(&sent) else {
        panic!()
    };
    let reply = BindingReply::Client {
        duid,
        reject: Some(FailoverStatus::OutdatedBindingInformation.into()),
        ias,
    };
    let out = process_reply(&sent, &reply, &db.get(), Time(1003));
    assert!(out.changes.is_empty());
    assert_eq!(out.rejected.len(), 1);
}

#[test]
fn take_back_of_a_block_with_a_delegated_prefix_inside_is_refused_s4_2_2() {
    struct Scope;
    impl super::RelationshipScope for Scope {
        fn subnet_of(&self, _: &Resource) -> Option<u32> {
            Some(5)
        }
        fn delegated_within(&self, block: &ipnet::Ipv6Net, now: Time) -> bool {
            // 2001:db8:81::/56 is delegated until t = 5000.
            block.contains(&"2001:db8:81::/56".parse::<ipnet::Ipv6Net>().unwrap())
                && now < Time(5000)
        }
    }
    let db = Db::new(vec![]);
    let block = "2001:db8:80::/41".parse().unwrap();
    let upd = crate::update::build_prefix_update(block, Free, Time(4000), Time(4000));
    // t = 4000: the /56 inside is still delegated → rejected, nothing stored.
    let out = receive_update(&upd, &Scope, &db.get(), Role::Secondary, Time(4000));
    assert!(out.changes.is_empty());
    let BindingReply::Prefix { lease } = &out.reply else {
        panic!()
    };
    assert_eq!(
        lease.reject,
        Some(FailoverStatus::OutdatedBindingInformation.into())
    );
    // t = 5001: the delegation ran out → accepted.
    let out = receive_update(&upd, &Scope, &db.get(), Role::Secondary, Time(5001));
    assert_eq!(out.changes.len(), 1);
}

/// An update equal to our record (status, expiration, client) is agreement, whatever its
/// times: rejecting it made two servers bounce one client's BNDUPD forever (sim seed 17907).
#[test]
fn identical_content_is_accepted_even_when_older_storm_prevention() {
    let mut l = local(Free);
    l.duid = client(1);
    assert_eq!(
        decide(
            Some(&l),
            &upd(Free, 10),
            Some(&client(1)),
            Role::Primary,
            Time(LOCAL_TIME + 10)
        ),
        Verdict::Accept
    );
    // Another client's FREE record with the same status is not "the same content".
    assert_eq!(
        decide(
            Some(&l),
            &upd(Free, 10),
            Some(&client(2)),
            Role::Primary,
            Time(LOCAL_TIME + 10)
        ),
        OUTDATED
    );
}

/// Both servers granted the same client the same lease (its Rebind reached both): the
/// stored lease keeps the later end (sim seed 21854).
#[test]
fn accepted_active_never_shortens_the_same_clients_lease_s7_5_5() {
    let mut l = local(Active); // ends at LOCAL_EXPIRY = 5000
    l.duid = client(1);
    let mut u = upd(Active, LOCAL_TIME + 2); // ends at 4602: shorter
    u.state_expiration = Some(Time(4602));
    let update = BindingUpdate::Client {
        duid: client(1),
        base_time: Time(LOCAL_TIME + 2),
        ias: vec![IaUpdate {
            ia_type: IaType::Na,
            iaid: 1,
            t1: 0,
            t2: 0,
            leases: vec![u],
        }],
    };
    let scope = |_: &Resource| Some(1u32);
    let lookup = |_: &Resource| Some(l.clone());
    let r = receive_update(
        &update,
        &scope,
        &lookup,
        Role::Secondary,
        Time(LOCAL_TIME + 3),
    );
    let [LeaseChange::Upsert(stored)] = r.changes.as_slice() else {
        panic!("{:?}", r.changes)
    };
    assert_eq!(stored.state_expiration, Some(Time(LOCAL_EXPIRY)));
}

/// RFC 8156 §7.5.4 "local time" is the client-last-transaction-time if there is one: for a
/// record this server only learnt from its partner, that is the partner's CLT_TIME, not the
/// moment the lease lapsed here. A lapse computed from stale data must not outrank the
/// partner's later renewal (tandem-sim seed 27, check (g): both rejected each other's
/// update for ever, and the lease was later freed while the client held it).
#[test]
fn expired_learnt_record_yields_to_the_partners_later_renewal_s7_5_4() {
    let mut l = lease("2001:db8::1", 1, Expired, 1288, None);
    l.cltt = Time::ZERO; // never talked to the client ourselves
    l.failover.partner_raw_cltt = Some(Time(688));
    let renewal = upd(Active, 1271);
    assert_eq!(
        decide(Some(&l), &renewal, Some(&l.duid), Role::Primary, Time(1339)),
        Verdict::Accept
    );
    // A stale echo of the old contact is still refused.
    assert_eq!(
        decide(
            Some(&l),
            &upd(Active, 688),
            Some(&l.duid),
            Role::Primary,
            Time(1339)
        ),
        OUTDATED
    );
}

/// RFC 8156 §7.3: expiration-time is the *largest* lifetime this server ever acknowledged
/// to its partner — the partner may already have told the client that much plus MCLT (the
/// sender keeps the largest acknowledgement, §7.7). A later update of the same binding
/// with a smaller partner lifetime must not lower it (tandem-sim seed 250, check (g): the
/// receiver later freed the lease MCLT after the smaller value).
#[test]
fn expiration_time_never_falls_for_the_same_binding_s7_3_s7_5_5() {
    let mut old = lease("2001:db8::1", 1, Active, 1000, Some(1367));
    old.duid = client(1);
    old.failover.expiration_time = Some(Time(1937));
    let db = Db::new(vec![old]);
    let mut u = upd(Active, 1313);
    u.state_expiration = Some(Time(1367));
    u.partner_lifetime = Some(Time(1367));
    let out = receive_update(
        &client_update(vec![u]),
        &in_scope,
        &db.get(),
        Role::Primary,
        Time(1313),
    );
    let [LeaseChange::Upsert(s)] = out.changes.as_slice() else {
        panic!("{:?}", out.changes)
    };
    assert_eq!(s.failover.expiration_time, Some(Time(1937)));
}

/// RFC 8156 §7.5.4 accept(3) lets a secondary take the primary's binding of a lease it holds
/// for another client — a conflict resolution for two live bindings. An ACTIVE update whose
/// lease has already run out is no live binding: it must not end the live lease of the
/// client here (tandem-sim seed 1053: a stale update the restarted primary still had queued
/// replaced a lease the secondary had given in PARTNER-DOWN, which was then freed).
#[test]
fn a_run_out_active_update_never_ends_another_clients_live_lease_s7_5_4() {
    let mut mine = lease("2001:db8::1", 2, Active, 237, Some(987));
    mine.cltt = Time(387);
    let mut stale = upd(Active, 148);
    stale.state_expiration = Some(Time(208));
    for role in [Role::Secondary, Role::Primary] {
        assert_eq!(
            decide(Some(&mine), &stale, Some(&client(9)), role, Time(393)),
            OUTDATED,
            "{role:?}"
        );
    }
    // A live conflicting binding still follows accept(3): the secondary accepts.
    let mut live = upd(Active, 148);
    live.state_expiration = Some(Time(1000));
    assert_eq!(
        decide(
            Some(&mine),
            &live,
            Some(&client(9)),
            Role::Secondary,
            Time(393)
        ),
        Verdict::Accept
    );
}

/// RFC 8156 §7.5.4 accept(3): a secondary takes the primary's binding when one lease is
/// live for two clients — and says so: the client that loses it is named, never dropped
/// silently.
#[test]
fn a_live_binding_replaced_by_the_partners_is_reported_s7_5_4() {
    let mut mine = lease("2001:db8::1", 2, Active, 1000, Some(5000));
    mine.duid = client(2);
    let db = Db::new(vec![mine.clone()]);
    let out = receive_update(
        &client_update(vec![upd(Active, 1100)]),
        &in_scope,
        &db.get(),
        Role::Secondary,
        Time(1200),
    );
    assert!(matches!(out.changes.as_slice(), [LeaseChange::Upsert(l)] if l.duid == client(1)));
    assert_eq!(out.displaced.len(), 1);
    assert_eq!(out.displaced[0].client, client(2));
    assert_eq!(out.displaced[0].by, client(1));
    assert_eq!(out.displaced[0].until, Some(Time(5000)));
}
