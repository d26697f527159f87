//! Infinite lifetimes (RFC 8415 §7.7: 0xffffffff means "infinity"): what the client is
//! told, T1/T2 (§21.4, §14.2) and that such a lease never times out.

use super::*;

use crate::time::INFINITE_LIFETIME as INFINITY;

fn infinite_config(preferred: u32) -> ServerConfig {
    let mut c = config();
    c.subnets[0].preferred_lifetime = preferred;
    c.subnets[0].valid_lifetime = INFINITY;
    c
}

/// Solicit + Request for IA_NA 1; returns the Reply's IA_NA.
fn request(s: &mut DhcpServer, now: Time, c: &Duid) -> Ia {
    let adv = reply_of(&s.handle(
        now,
        &message(MessageType::Solicit, Some(c), None, vec![ia_na(1, &[])]),
        &rx(),
    ));
    let offered = addrs(&ias(&adv, opt::IA_NA)[0])[0].addr;
    let rep = reply_of(&s.handle(
        now,
        &message(
            MessageType::Request,
            Some(c),
            Some(&server_duid()),
            vec![ia_na(1, &[offered])],
        ),
        &rx(),
    ));
    ias(&rep, opt::IA_NA).remove(0)
}

#[test]
fn infinite_lifetimes_are_sent_as_0xffffffff_with_infinite_t1_t2_rfc8415_s7_7_s21_4() {
    let mut s = server_with(infinite_config(INFINITY));
    let ia = request(&mut s, T0, &cid(1));
    let a = &addrs(&ia)[0];
    assert_eq!((a.preferred, a.valid), (INFINITY, INFINITY));
    // §21.4: T1/T2 are .5/.8 of the shortest preferred lifetime; when that is infinity,
    // so are T1 and T2 (not 0x7fffffff / 0xcccccccc).
    assert_eq!((ia.t1, ia.t2), (INFINITY, INFINITY));
}

#[test]
fn finite_preferred_with_infinite_valid_keeps_finite_t1_t2_rfc8415_s21_4() {
    let mut s = server_with(infinite_config(3600));
    let ia = request(&mut s, T0, &cid(1));
    let a = &addrs(&ia)[0];
    assert_eq!((a.preferred, a.valid), (3600, INFINITY));
    assert_eq!((ia.t1, ia.t2), (1800, 2880));
}

#[test]
fn a_lease_with_infinite_valid_lifetime_never_expires_rfc8415_s7_7() {
    let mut s = server_with(infinite_config(INFINITY));
    let addr = addrs(&request(&mut s, T0, &cid(1)))[0].addr;
    let r = Resource::Address(addr);
    // Long after T0 + 0xffffffff seconds (year 2161) the lease is still the client's.
    let much_later = T0 + 10 * u64::from(INFINITY);
    assert!(s.reclaim_expired(much_later).is_empty());
    let l = s.leases().get(&r).unwrap();
    assert_eq!(l.status, BindingStatus::Active);
    assert!(l.is_active_at(much_later));
    assert_eq!(l.valid_lifetime, INFINITY);
    assert_eq!(l.state_expiration, Some(Time::NEVER));
    // Nothing to wake up for.
    assert_eq!(s.next_timeout(), None);
    // A Renew keeps it infinite.
    let out = s.handle(
        T0 + 100,
        &message(
            MessageType::Renew,
            Some(&cid(1)),
            Some(&server_duid()),
            vec![ia_na(1, &[addr])],
        ),
        &rx(),
    );
    let ia = &ias(&reply_of(&out), opt::IA_NA)[0];
    assert_eq!(addrs(ia)[0].valid, INFINITY);
    assert!(s.reclaim_expired(much_later).is_empty());
}

#[test]
fn decline_with_infinite_valid_lifetime_quarantines_for_ever_not_until_a_wrapped_time_rfc8415_s18_3_8(
) {
    // decline_quarantine defaults to the valid lifetime: infinite means never reusable
    // (set server.decline_quarantine to bound it), not now + 0xffffffff.
    let mut s = server_with(infinite_config(INFINITY));
    let addr = addrs(&request(&mut s, T0, &cid(1)))[0].addr;
    let out = s.handle(
        T0 + 10,
        &message(
            MessageType::Decline,
            Some(&cid(1)),
            Some(&server_duid()),
            vec![ia_na(1, &[addr])],
        ),
        &rx(),
    );
    assert_eq!(out.changes.len(), 1);
    let l = s.leases().get(&Resource::Address(addr)).unwrap();
    assert_eq!(
        (l.status, l.state_expiration),
        (BindingStatus::Abandoned, Some(Time::NEVER))
    );
}
