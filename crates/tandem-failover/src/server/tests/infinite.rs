//! A pair serving infinite lifetimes (RFC 8415 §7.7) end to end: the MCLT still caps a
//! new lease (RFC 8156 §4.4), the partner lifetime crosses the wire as "never" instead of
//! wrapping into the past, and once the partner has acknowledged it the client gets
//! 0xffffffff; PARTNER-DOWN is not capped (§8.4.1).

use super::*;

use tandem_core::INFINITE_LIFETIME as INFINITY;

/// Comfortably past anything a finite lease could reach from T0.
const FAR: Time = Time(T0.0 + 200 * 365 * 86_400);

fn never(t: Option<Time>) -> bool {
    t == Some(Time::NEVER)
}

fn infinite_server(role: Role, now: Time) -> Node {
    let mut c = config();
    c.subnets[0].preferred_lifetime = INFINITY;
    c.subnets[0].valid_lifetime = INFINITY;
    let mut e = EndpointConfig::new(role, "t", MCLT);
    e.local.keepalive = 30;
    e.auto_partner_down = Some(120);
    let pair = PairConfig {
        endpoint: e,
        secondary_prefix_share: 50,
        rebalance_threshold: 1,
    };
    let duid = Duid(vec![0, 2, 0, 0, 0, 9, role as u8]);
    Node::pair_member(c, duid, vec![], None, pair, now).unwrap()
}

fn infinite_pair() -> Pair {
    let mut p = Pair::from_servers([
        infinite_server(Role::Primary, T0),
        infinite_server(Role::Secondary, T0),
    ]);
    p.connect(T0 + 1);
    assert_eq!(p.state(0), ServerState::Normal);
    assert_eq!(p.state(1), ServerState::Normal);
    p
}

fn renew(p: &mut Pair, i: usize, client: u8, a: Ipv6Addr, now: Time) -> Message {
    let sid = p.s[i].dhcp().server_duid().clone();
    let ia = Ia {
        iaid: 1,
        t1: 0,
        t2: 0,
        options: vec![DhcpOption::IaAddr(IaAddr {
            addr: a,
            preferred: 0,
            valid: 0,
            options: vec![],
        })],
    };
    p.client(
        i,
        now,
        &client_msg(MessageType::Renew, client, Some(&sid), Some(ia)),
    )
    .expect("reply")
}

#[test]
fn infinite_desired_lifetime_is_capped_until_the_partner_acks_never_s4_4() {
    let mut p = infinite_pair();
    let (a, valid) = bind(&mut p, 0, 1, T0 + 2);
    // §4.4: nothing acked yet, so the client gets at most MCLT, infinite desire or not.
    assert_eq!(valid, MCLT);
    let r = Resource::Address(a);
    // The BNDUPD told the secondary the partner lifetime is "never" (not a time that
    // wrapped modulo 2^32 into the past), and the secondary acked exactly that.
    let on_s = p.s[1].leases().get(&r).expect("secondary has it").clone();
    assert_eq!(on_s.status, BindingStatus::Active);
    assert!(
        never(on_s.failover.expiration_time),
        "secondary's expiration-time {:?} must be never",
        on_s.failover.expiration_time
    );
    assert_eq!(on_s.state_expiration, Some(T0 + 2 + u64::from(MCLT)));
    assert!(on_s.is_active_at(T0 + 2 + u64::from(MCLT) - 1));
    let on_p = p.s[0].leases().get(&r).unwrap().clone();
    assert!(
        never(on_p.failover.acked_partner_lifetime),
        "primary's acked-partner-lifetime {:?} must be never",
        on_p.failover.acked_partner_lifetime
    );
    // The renewal at T1 gets infinity (acked "never" + MCLT is still never), with T1/T2
    // infinity too (RFC 8415 §21.4).
    let renewed = renew(&mut p, 0, 1, a, T0 + 30);
    assert_eq!(addr_of(&renewed), Some((a, INFINITY)));
    let ia = &renewed.ia_nas()[0];
    assert_eq!((ia.t1, ia.t2), (INFINITY, INFINITY));
    // Both servers now hold a lease that never expires.
    for i in 0..2 {
        let l = p.s[i].leases().get(&r).unwrap();
        assert!(
            never(l.state_expiration),
            "server {i}: state expiration {:?} must be never",
            l.state_expiration
        );
        assert_eq!(l.valid_lifetime, INFINITY);
    }
    // Decades later neither server has expired it.
    let later = FAR + 1;
    p.tick(later, later);
    for i in 0..2 {
        let l = p.s[i].leases().get(&r).unwrap();
        assert_eq!(l.status, BindingStatus::Active, "server {i}");
    }
}

#[test]
fn comm_interrupted_caps_infinite_lifetimes_partner_down_does_not_s8_9_1_s8_4_1() {
    let mut p = infinite_pair();
    p.cut(T0 + 2);
    assert_eq!(p.state(1), ServerState::CommunicationsInterrupted);
    // §8.9.1: a new lease in COMMUNICATIONS-INTERRUPTED is still capped by the MCLT.
    let (_, valid) = bind(&mut p, 1, 2, T0 + 3);
    assert_eq!(valid, MCLT);
    // §8.4.1: in PARTNER-DOWN the MCLT does not limit lifetimes.
    p.s[1].partner_down_command(T0 + 4).unwrap();
    p.drain(1);
    assert_eq!(p.state(1), ServerState::PartnerDown);
    let (a, valid) = bind(&mut p, 1, 3, T0 + 5);
    assert_eq!(valid, INFINITY);
    let l = p.s[1].leases().get(&Resource::Address(a)).unwrap();
    assert!(never(l.state_expiration), "{:?}", l.state_expiration);
}
