//! Two-server timelines wiring mclt, outbox, receive and ack together
//! (RFC 8156 §4.4.1 example, §7.4 – §7.7, §7.2 events 4–6).

use std::collections::HashMap;

use tandem_core::{BindingStatus, Duid, FailoverFields, Lease, LeaseChange, Resource, Time};

use super::{apply_event, process_reply, receive_update, LeaseEvent};
use crate::mclt::{client_valid_lifetime, partner_lifetime_to_send};
use crate::outbox::{Outbox, UpdateKey};
use crate::types::{Role, ServerState};
use crate::update::build_client_update;

const MCLT: u32 = 3600;
const DESIRED: u32 = 3 * 86400;

struct Server {
    role: Role,
    db: HashMap<Resource, Lease>,
    outbox: Outbox,
}

impl Server {
    fn new(role: Role) -> Self {
        let mut outbox = Outbox::default();
        outbox.connected(8);
        Server {
            role,
            db: HashMap::new(),
            outbox,
        }
    }
    fn apply(&mut self, changes: &[LeaseChange]) {
        for c in changes {
            if let LeaseChange::Upsert(l) = c {
                self.db.insert(l.resource, l.clone());
            }
        }
    }
    /// A client Request/Renew for `addr` at `now`: MCLT-capped grant, lazy update queued.
    fn grant(&mut self, addr: &str, now: Time) -> u32 {
        let r = Resource::Address(addr.parse().unwrap());
        let mut l = self.db.get(&r).cloned().unwrap_or(Lease {
            resource: r,
            status: BindingStatus::Active,
            duid: Duid(vec![0, 1, 42]),
            hw_address: Vec::new(),
            iaid: 1,
            subnet_id: 1,
            preferred_lifetime: 0,
            valid_lifetime: 0,
            t1: 0,
            t2: 0,
            cltt: now,
            start_time_of_state: now,
            state_expiration: None,
            failover: FailoverFields::default(),
        });
        let valid = client_valid_lifetime(
            DESIRED,
            l.failover.acked_partner_lifetime,
            now,
            MCLT,
            ServerState::Normal,
            l.failover.expiration_time,
        );
        l.status = BindingStatus::Active;
        l.valid_lifetime = valid;
        l.preferred_lifetime = valid;
        l.t1 = valid / 2;
        l.t2 = valid / 5 * 4;
        l.cltt = now;
        l.state_expiration = Some(now + u64::from(valid));
        l.failover.partner_lifetime = Some(partner_lifetime_to_send(now, l.t1, valid, DESIRED));
        self.outbox.note_local_change(&mut l);
        self.db.insert(r, l);
        valid
    }
}

/// Deliver every queued BNDUPD from `a` to `b` and the BNDREPLYs back, at `now`.
fn sync(a: &mut Server, b: &mut Server, now: Time) -> Vec<UpdateKey> {
    let mut follow = Vec::new();
    let db = a.db.clone();
    let sent = a.outbox.poll_send(now, |k, now| match k {
        UpdateKey::Client(d) => {
            let leases: Vec<Lease> = db.values().cloned().collect();
            build_client_update(d, &leases, now)
        }
        UpdateKey::Prefix(_) | UpdateKey::V4Address(_) => None,
    });
    for out in sent {
        let bdb = b.db.clone();
        let got = receive_update(
            &out.update,
            &|_: &Resource| Some(1),
            &|r: &Resource| bdb.get(r).cloned(),
            b.role,
            now,
        );
        b.apply(&got.changes); // persisted before the reply goes out
        let o = a.outbox.on_reply(out.xid).unwrap();
        let adb = a.db.clone();
        let res = process_reply(
            &o.update,
            &got.reply,
            &|r: &Resource| adb.get(r).cloned(),
            now,
        );
        a.apply(&res.changes);
        follow.extend(res.follow_up);
    }
    follow
}

#[test]
fn mclt_example_across_the_pair_s4_4_1() {
    let t = Time(1_700_000_000);
    let mut p = Server::new(Role::Primary);
    let mut s = Server::new(Role::Secondary);
    // t: new client → 1 h, BNDUPD proposes t + 30 min + 3 d.
    assert_eq!(p.grant("2001:db8::1", t), MCLT);
    sync(&mut p, &mut s, t);
    let r = Resource::Address("2001:db8::1".parse().unwrap());
    assert_eq!(
        p.db[&r].failover.acked_partner_lifetime,
        Some(t + 1800 + u64::from(DESIRED))
    );
    assert!(!p.db[&r].failover.update_pending);
    assert_eq!(
        s.db[&r].failover.expiration_time,
        Some(t + 1800 + u64::from(DESIRED))
    );
    assert_eq!(s.db[&r].status, BindingStatus::Active);
    // t + 30 min: renewal at T1 → full 3 d.
    assert_eq!(p.grant("2001:db8::1", t + 1800), DESIRED);
    sync(&mut p, &mut s, t + 1800);
    // t + 30 min + 1.5 d: renewal → 3 d again.
    assert_eq!(
        p.grant("2001:db8::1", t + 1800 + u64::from(DESIRED / 2)),
        DESIRED
    );
}

#[test]
fn expiry_is_acked_then_lease_returns_to_its_pool_s7_2_events_8_4_6() {
    let t = Time(1_700_000_000);
    let mut p = Server::new(Role::Primary);
    let mut s = Server::new(Role::Secondary);
    p.grant("2001:db8::2", t); // even address (e.g. renewed by the primary for the secondary's client)
    sync(&mut p, &mut s, t);
    let r = Resource::Address("2001:db8::2".parse().unwrap());
    // t + 1 h: the lease runs out (event 8) and the change is queued.
    let mut l = p.db[&r].clone();
    apply_event(&mut l, LeaseEvent::Expires, t + 3600).unwrap();
    p.outbox.note_local_change(&mut l);
    p.db.insert(r, l);
    assert_eq!(p.db[&r].status, BindingStatus::Expired);
    // The partner acks → PENDING-FREE → FREE-BACKUP (secondary's parity, event 6).
    let follow_up = sync(&mut p, &mut s, t + 3601);
    assert_eq!(s.db[&r].status, BindingStatus::Expired);
    assert_eq!(p.db[&r].status, BindingStatus::FreeBackup);
    assert!(p.db[&r].failover.update_pending);
    // The follow-up BNDUPD tells the secondary the address is in its pool now.
    for k in follow_up {
        p.outbox.enqueue(k);
    }
    assert!(
        sync(&mut p, &mut s, t + 3602).is_empty(),
        "no further follow-up: no loop"
    );
    assert_eq!(s.db[&r].status, BindingStatus::FreeBackup);
    assert!(!p.db[&r].failover.update_pending);
}

/// RFC 8156 §7.5.4, §5.6: which rejections the periodic scan retries. Outdated and
/// AddressInUse depend on lease state that moves on; the rest would come back the same.
#[test]
fn only_lease_state_rejections_are_worth_resending_s7_5_4() {
    use super::ack::resend_may_succeed;
    use crate::update::{FailoverStatus as F, RejectReason};
    for (code, retry) in [
        (F::OutdatedBindingInformation, true),
        (F::AddressInUse, true),
        (F::ConfigurationConflict, false),
        (F::MissingBindingInformation, false),
        (F::DnsUpdateNotSupported, false),
        (F::ServerShuttingDown, false),
        (F::ExcessiveTimeSkew, false),
    ] {
        assert_eq!(resend_may_succeed(code.into()), retry, "{code:?}");
    }
    assert!(!resend_may_succeed(RejectReason::Other(1)));
}
