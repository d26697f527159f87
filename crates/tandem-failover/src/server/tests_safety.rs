//! "One address, one client" and "nothing lost" in the failure cases a pair meets: a
//! partner that dies with its update unsent, PARTNER-DOWN past MCLT, shares of large
//! prefix pools, relayed clients, stale claims, RECOVER-DONE and persist ordering. Each test
//! is a timeline on two servers wired back to back (RFC 8156 §4, §6, §8).

use std::net::Ipv6Addr;

use ipnet::Ipv6Net;
use tandem_core::config::PdPool;
use tandem_wire::v6::{IaPrefix, StatusCode};

use super::tests::{
    addr_of, bind, client_msg, config, ia_with, ia_with_lifetimes, normal_pair, Pair, MCLT, T0,
};
use super::*;
use crate::node::{Batch, Node, Output};
use tandem_wire::v6::{DhcpOption, Ia, Message, MessageType, OptionsExt};

const NO_BINDING: u16 = 3;

/// The test configuration with one prefix pool of `prefix` split into /56s.
fn config_pd(prefix: &str) -> ServerConfig {
    let mut c = config();
    c.subnets[0].pd_pools = vec![PdPool {
        prefix: prefix.parse().unwrap(),
        delegated_len: 56,
    }];
    c
}

fn pd_pair(prefix: &str, share: u8) -> Pair {
    let mut p = Pair::with(config_pd(prefix), share);
    p.connect(T0 + 1);
    assert_eq!(p.state(0), ServerState::Normal);
    assert_eq!(p.state(1), ServerState::Normal);
    p
}

fn cid(client: u8) -> DhcpOption {
    DhcpOption::ClientId(vec![0, 3, 0, 1, 2, 0, 0, 0, 0, client])
}

/// A client message with one IA_PD listing `prefixes` (prefix, valid).
fn pd_msg(
    t: MessageType,
    client: u8,
    server: Option<&Duid>,
    prefixes: &[(Ipv6Net, u32)],
) -> Message {
    let mut m = Message::new(t, 0x1000 + u32::from(client));
    m.options.push(cid(client));
    if let Some(s) = server {
        m.options.push(DhcpOption::ServerId(s.0.clone()));
    }
    m.options.push(DhcpOption::IaPd(Ia {
        iaid: 2,
        t1: 0,
        t2: 0,
        options: prefixes
            .iter()
            .map(|(p, valid)| {
                DhcpOption::IaPrefix(IaPrefix {
                    preferred: *valid,
                    valid: *valid,
                    prefix_len: p.prefix_len(),
                    prefix: p.addr(),
                    options: vec![],
                })
            })
            .collect(),
    }));
    m
}

/// The prefixes of a reply with their valid lifetimes, and the IA_PD status, if any.
fn prefixes_of(m: &Message) -> (Vec<(Ipv6Net, u32)>, Option<u16>) {
    let ia = m.ia_pds();
    let Some(ia) = ia.first() else {
        return (vec![], None);
    };
    let got = ia
        .ia_prefixes()
        .iter()
        .map(|p| (Ipv6Net::new(p.prefix, p.prefix_len).unwrap(), p.valid))
        .collect();
    (got, ia.status_code().map(|s: &StatusCode| s.code))
}

/// Solicit + Request for a prefix at server i (hint optional); the prefix and its lifetime,
/// or the status the server answered with.
fn delegate(
    p: &mut Pair,
    i: usize,
    client: u8,
    now: Time,
    hint: Option<Ipv6Net>,
) -> Result<(Ipv6Net, u32), Option<u16>> {
    let hints: Vec<(Ipv6Net, u32)> = hint.into_iter().map(|h| (h, 0)).collect();
    let adv = p
        .client(i, now, &pd_msg(MessageType::Solicit, client, None, &hints))
        .expect("advertise");
    let (got, status) = prefixes_of(&adv);
    let Some((offered, _)) = got.first().copied() else {
        return Err(status);
    };
    let sid = Duid(adv.server_id().unwrap().to_vec());
    let reply = p
        .client(
            i,
            now,
            &pd_msg(MessageType::Request, client, Some(&sid), &[(offered, 0)]),
        )
        .expect("reply");
    let (got, status) = prefixes_of(&reply);
    got.first().copied().ok_or(status)
}

fn owned_by(p: &Pair, i: usize, prefix: Ipv6Net) -> Option<Role> {
    p.fs(i)
        .prefix_pools()
        .iter()
        .find_map(|pool| pool.owner_of(prefix))
}

// ---------------------------------------------------------------- item 1

/// RFC 8156 §8.4.1: in PARTNER-DOWN a lease may go to another client only MCLT after the
/// latest of the client's expiry, the partner lifetime sent, the acked partner lifetime and
/// the expiration time acked to the partner — here the renewal the dead primary gave
/// (acked partner lifetime + MCLT) outlives the secondary's copy of the lease by far.
#[test]
fn partner_down_reuse_waits_mclt_past_what_the_partner_may_have_granted_s8_4_1() {
    // Two /56s: one each.
    let mut p = pd_pair("2001:db8:100::/55", 50);
    let (mine, v1) = delegate(&mut p, 0, 50, T0 + 2, None).expect("client 50 gets a /56");
    assert_eq!(v1, MCLT, "first lease capped by MCLT (§4.4)");
    let copy = p.s[1]
        .leases()
        .get(&Resource::Prefix(mine))
        .unwrap()
        .clone();
    let acked = copy
        .failover
        .expiration_time
        .expect("the secondary acked a lifetime");
    // The link goes; at T1 the client renews with the primary, which may run MCLT past what
    // the secondary acked (§4.4, COMMUNICATIONS-INTERRUPTED cap).
    p.cut(T0 + 10);
    let sid = p.s[0].dhcp().server_duid().clone();
    let renewed = p
        .client(
            0,
            T0 + 32,
            &pd_msg(MessageType::Renew, 50, Some(&sid), &[(mine, 0)]),
        )
        .expect("renewed");
    let (got, _) = prefixes_of(&renewed);
    let until = T0 + 32 + u64::from(got[0].1);
    assert!(until > copy.state_expiration.unwrap() + u64::from(MCLT));
    // The primary dies before its BNDUPD can arrive; the operator declares partner-down.
    p.dead[0] = true;
    p.s[1].partner_down_command(T0 + 40).unwrap();
    p.pump(T0 + 40);
    // The secondary's own /56 goes to someone else first.
    let (other, _) = delegate(&mut p, 1, 52, T0 + 41, None).expect("own share first");
    assert_ne!(other, mine);
    // Long past the secondary's copy + MCLT, client 51 asks for exactly that /56.
    let reuse_at = acked.max(until) + u64::from(MCLT);
    let mut t = T0 + 41;
    while t < reuse_at - 1 {
        let next = (t + 20).min(reuse_at - 1);
        p.tick(t, next);
        t = next;
        if let Ok((got, _)) = delegate(&mut p, 1, 51, t, Some(mine)) {
            assert_ne!(
                got, mine,
                "{mine} given to client 51 at {t} while client 50 holds it until {until}"
            );
        }
    }
    // Once the wait is over it may be reused.
    p.tick(t, reuse_at + SCAN_INTERVAL_SECS + 1);
    let later = reuse_at + SCAN_INTERVAL_SECS + 2;
    assert_eq!(
        delegate(&mut p, 1, 51, later, Some(mine)).map(|g| g.0),
        Ok(mine)
    );
}

// ---------------------------------------------------------------- item 2

/// RFC 8156 §8.4.1: a server in PARTNER-DOWN uses its own pool before its partner's — also
/// when the client hints at one of the partner's prefixes.
#[test]
fn partner_down_uses_its_own_prefix_share_before_the_partners_s8_4_1() {
    // 16 /56s, 8 each; the secondary holds the upper half.
    let mut p = pd_pair("2001:db8:100::/52", 50);
    p.cut(T0 + 2);
    p.dead[0] = true;
    p.s[1].partner_down_command(T0 + 3).unwrap();
    p.pump(T0 + 3);
    let now = T0 + 3 + u64::from(MCLT) + 1; // the partner's pool is usable from here on
    let primarys: Ipv6Net = "2001:db8:100::/56".parse().unwrap();
    assert_eq!(owned_by(&p, 1, primarys), Some(Role::Primary));
    for c in 0..8u8 {
        let hint = (c % 2 == 0).then_some(primarys);
        let (got, _) = delegate(&mut p, 1, 60 + c, now, hint).expect("a prefix");
        assert_eq!(
            owned_by(&p, 1, got).or(Some(Role::Secondary)),
            Some(Role::Secondary),
            "client {c} got {got} of the primary's share while the secondary's had room"
        );
        assert!(
            "2001:db8:100:800::/53"
                .parse::<Ipv6Net>()
                .unwrap()
                .contains(&got),
            "{got} not in the secondary's half"
        );
    }
    // Own share used up: now the partner's, hint honoured.
    let (got, _) = delegate(&mut p, 1, 70, now, Some(primarys)).expect("partner's share now");
    assert_eq!(got, primarys);
}

// ---------------------------------------------------------------- item 3

/// RFC 8156 §4.2.2: a secondary in COMMUNICATIONS-INTERRUPTED delegates from its share of
/// a large pool at once, to clients that send no hint, whatever the pool's size.
#[test]
fn comm_interrupted_secondary_delegates_from_its_share_of_a_large_pool_s4_2_2() {
    for (pool, clients) in [("2001:db8::/40", 40u8), ("2001:db8::/34", 3)] {
        let mut p = pd_pair(pool, 50);
        p.cut(T0 + 2);
        assert_eq!(p.state(1), ServerState::CommunicationsInterrupted);
        let mut seen = std::collections::BTreeSet::new();
        for c in 0..clients {
            let got = delegate(&mut p, 1, c, T0 + 3, None);
            let (prefix, _) = got.unwrap_or_else(|s| {
                panic!(
                    "pool {pool}: client {c} got status {s:?} while the secondary's share is free"
                )
            });
            assert!(seen.insert(prefix));
            let probes = p.s[1].dhcp().alloc_stats().probes;
            assert!(
                probes <= 4 * (u64::from(c) + 1),
                "pool {pool}: {probes} probes"
            );
        }
    }
}

// ---------------------------------------------------------------- items 6 and 10

/// Rebind/Renew of a binding this server does not know, as the safe rule says (RFC 8156
/// §4.2, §8.4.1): adopted from its own share; from the partner's share only in PARTNER-DOWN
/// once MCLT has passed since partner-down; otherwise zero lifetimes, no record. Relayed
/// clients exactly as direct ones (RFC 8415 §19: a relay changes nothing but the path).
#[test]
fn unknown_bindings_adopted_only_from_own_share_direct_or_relayed_s8_4_1() {
    for relayed in [false, true] {
        let mut p = normal_pair();
        p.cut(T0 + 2);
        // The secondary gives A2 an address and a prefix of its share (COMM-INT).
        let (a2_addr, _) = bind(&mut p, 1, 20, T0 + 3);
        let (a2_pfx, _) = delegate(&mut p, 1, 20, T0 + 3, None).expect("a prefix");
        assert_eq!(a2_addr.octets()[15] & 1, 0);
        // B2 claims exactly those at the primary, which never heard of them.
        let claim = |p: &mut Pair, t: Time| {
            let mut m = client_msg(
                MessageType::Rebind,
                21,
                None,
                Some(ia_with_lifetimes(a2_addr, 300, 600)),
            );
            m.options.extend(
                pd_msg(MessageType::Rebind, 21, None, &[(a2_pfx, 600)])
                    .options
                    .into_iter()
                    .filter(|o| matches!(o, DhcpOption::IaPd(_))),
            );
            p.client_via(0, t, &m, relayed).expect("rebind answered")
        };
        let r = claim(&mut p, T0 + 10);
        assert!(
            addr_of(&r).is_none_or(|(a, v)| a != a2_addr || v == 0),
            "relayed={relayed}: the partner's address adopted for another client: {r:?}"
        );
        assert!(
            prefixes_of(&r)
                .0
                .iter()
                .all(|(x, v)| *x != a2_pfx || *v == 0),
            "relayed={relayed}: the partner's prefix adopted for another client"
        );
        for res in [Resource::Address(a2_addr), Resource::Prefix(a2_pfx)] {
            assert!(
                p.s[0]
                    .leases()
                    .get(&res)
                    .is_none_or(|l| l.status != BindingStatus::Active),
                "relayed={relayed}: a record was made for {res}"
            );
        }
        // PARTNER-DOWN: the partner's share only once MCLT has passed since partner-down.
        p.dead[1] = true;
        p.s[0].partner_down_command(T0 + 20).unwrap();
        p.pump(T0 + 20);
        let r = claim(&mut p, T0 + 20 + u64::from(MCLT) - 1);
        assert!(addr_of(&r).is_none_or(|(a, v)| a != a2_addr || v == 0));
        let r = claim(&mut p, T0 + 20 + u64::from(MCLT));
        assert_eq!(addr_of(&r).map(|x| x.0), Some(a2_addr), "relayed={relayed}");
        assert!(prefixes_of(&r)
            .0
            .iter()
            .any(|(x, v)| *x == a2_pfx && *v > 0));
    }
}

/// RFC 8415 §19: a relayed client is treated exactly as a direct one — here, a Rebind of an
/// unknown binding from the server's own share, which it adopts (nobody else can hold what
/// it never gave, RFC 8156 §4.2) for both.
#[test]
fn relayed_client_gets_its_unknown_own_share_binding_adopted_like_a_direct_one_s19() {
    let mut outcome = Vec::new();
    for relayed in [false, true] {
        let mut p = normal_pair();
        p.cut(T0 + 2);
        // From its own share the primary adopts (no one else can hold what it never gave).
        let own: Ipv6Addr = "2001:db8:1::1a1".parse().unwrap();
        let m = client_msg(
            MessageType::Rebind,
            22,
            None,
            Some(ia_with_lifetimes(own, 300, 600)),
        );
        let r = p.client_via(0, T0 + 11, &m, relayed).expect("answered");
        outcome.push(addr_of(&r).map(|x| (x.0 == own, x.1)));
    }
    assert_eq!(outcome[0], outcome[1], "direct vs relayed");
    let (same, valid) = outcome[0].expect("an address");
    assert!(same, "the claimed address");
    assert!(valid > 0 && valid <= MCLT, "{valid}");
}

/// RFC 8156 §4.3, RFC 8415 §18.3.5: a Rebind of a binding the partner's update did bring
/// is extended, relayed or not (lease stability for clients whose update arrived).
#[test]
fn known_binding_rebound_at_the_partner_is_kept_direct_or_relayed_s4_3() {
    for relayed in [false, true] {
        let mut p = normal_pair();
        let (a, _) = bind(&mut p, 0, 30, T0 + 2);
        assert!(p.s[1].leases().get(&Resource::Address(a)).is_some());
        p.cut(T0 + 5);
        p.dead[0] = true;
        let ia = ia_with_lifetimes(a, 300, 600);
        let r = p
            .client_via(
                1,
                T0 + 40,
                &client_msg(MessageType::Rebind, 30, None, Some(ia)),
                relayed,
            )
            .expect("answered");
        let (got, valid) = addr_of(&r).unwrap();
        assert_eq!(got, a, "relayed={relayed}");
        assert!(valid > 0, "relayed={relayed}");
    }
}

/// A client released its address here, the partner (out of reach) renewed it for the same
/// client, which now rebinds here: it keeps the address, relayed or not (sim seed 34698).
#[test]
fn rebind_restores_the_same_clients_released_lease_relayed_too() {
    for relayed in [false, true] {
        let mut p = normal_pair();
        let (a, _) = bind(&mut p, 0, 7, T0 + 2);
        p.cut(T0 + 3);
        let sid = p.s[0].dhcp().server_duid().clone();
        let ia = |valid| ia_with(a, valid);
        p.client_via(
            0,
            T0 + 4,
            &client_msg(MessageType::Release, 7, Some(&sid), Some(ia(0))),
            relayed,
        )
        .expect("release answered");
        let reply = p
            .client_via(
                0,
                T0 + 20,
                &client_msg(MessageType::Rebind, 7, None, Some(ia(600))),
                relayed,
            )
            .expect("rebind answered");
        let (got, valid) = addr_of(&reply).unwrap();
        assert_eq!(got, a, "relayed={relayed}");
        assert!(valid > 0, "relayed={relayed}");
    }
}

// ---------------------------------------------------------------- item 8

/// RFC 8156 §8.7.1: in RECOVER-DONE a server answers Renews only for leases it already
/// knows; a Renew naming it for a binding it does not know creates nothing.
#[test]
fn recover_done_creates_no_binding_from_a_renew_s8_7_1() {
    let mut p = normal_pair();
    let record = p.fs(0).endpoint().record().clone();
    let sid = p.s[0].dhcp().server_duid().clone();
    // The primary crashes; the secondary goes PARTNER-DOWN.
    p.cut(T0 + 10);
    p.dead[0] = true;
    p.s[1].partner_down_command(T0 + 11).unwrap();
    p.pump(T0 + 11);
    // The primary comes back from its stored record: RECOVER, RECOVER-WAIT; the link goes
    // again and the wait ends alone: RECOVER-DONE, which it keeps without its partner.
    let now = T0 + 20;
    let leases: Vec<Lease> = p.s[0].leases().iter().cloned().collect();
    let pair_cfg = p.fs(0).pair_config().clone();
    p.s[0] = Node::pair_member(config(), sid.clone(), leases, Some(record), pair_cfg, now).unwrap();
    p.dead[0] = false;
    p.connect(now);
    assert_eq!(
        p.state(0),
        ServerState::RecoverWait,
        "{:?}",
        p.log[0]
            .iter()
            .filter(|o| matches!(o, Output::Event(_)))
            .collect::<Vec<_>>()
    );
    p.cut(now + 1);
    p.tick(now + 1, now + 2 * u64::from(MCLT));
    assert_eq!(p.state(0), ServerState::RecoverDone);
    let unknown: Ipv6Addr = "2001:db8:1::1a3".parse().unwrap();
    let ia = ia_with_lifetimes(unknown, 300, 600);
    let before = p.s[0].leases().len();
    let t = now + 2 * u64::from(MCLT) + 1;
    let r = p.client(
        0,
        t,
        &client_msg(MessageType::Renew, 40, Some(&sid), Some(ia)),
    );
    if let Some(r) = r {
        assert!(
            addr_of(&r).is_none_or(|(a, v)| a != unknown || v == 0),
            "RECOVER-DONE extended a binding it did not know: {r:?}"
        );
        let no_binding = r.ia_nas()[0]
            .status_code()
            .is_some_and(|s| s.code == NO_BINDING);
        assert!(no_binding || addr_of(&r).is_some_and(|(_, v)| v == 0));
    }
    assert_eq!(p.s[0].leases().len(), before, "no record made");
}

// ---------------------------------------------------------------- item 7

/// RFC 8156 §6.1.2, with nothing that depends on a persist leaving before it: a
/// secondary that adopts the primary's MCLT from CONNECT persists it, and its CONNECTREPLY
/// (which tells the primary the MCLT is agreed) waits for that persist: through the gate,
/// it is not output while the batch holding the new MCLT is not reported durable.
#[test]
fn connectreply_waits_for_the_persisted_mclt_s6_1_2() {
    let mut p = Pair::from_servers([
        server_with_mclt(Role::Primary, 90),
        server_with_mclt(Role::Secondary, MCLT),
    ]);
    p.hold[1] = true;
    p.connect(T0 + 1);
    let is_mclt_persist = |o: &Output| {
        matches!(o, Output::Persist(Batch { items, .. })
            if items.iter().any(|i| matches!(i, PersistItem::Endpoint(r) if r.mclt == 90)))
    };
    let is_connectreply = |o: &Output| matches!(o, Output::Peer(msg) if msg.kind() == crate::wire::Kind::ConnectReply);
    assert!(
        p.log[0]
            .iter()
            .any(|o| matches!(o, Output::Peer(msg) if msg.kind() == crate::wire::Kind::Connect)),
        "CONNECT"
    );
    assert!(
        p.log[1].iter().any(is_mclt_persist),
        "the new MCLT is persisted"
    );
    assert!(
        !p.log[1].iter().any(is_connectreply),
        "CONNECTREPLY left before the MCLT it agrees to is durable"
    );
    assert_ne!(
        p.state(0),
        ServerState::Normal,
        "the primary heard no CONNECTREPLY"
    );
    // The batch is reported durable: the CONNECTREPLY leaves, after the persist.
    p.hold[1] = false;
    p.release(1);
    p.pump(T0 + 1);
    let persist = p.log[1].iter().position(is_mclt_persist).unwrap();
    let reply_at = p.log[1]
        .iter()
        .position(is_connectreply)
        .expect("CONNECTREPLY once the MCLT is durable");
    assert!(persist < reply_at);
}

fn server_with_mclt(role: Role, mclt: u32) -> Node {
    let mut e = EndpointConfig::new(role, "t", mclt);
    e.local.keepalive = 30;
    let pair = PairConfig {
        endpoint: e,
        secondary_prefix_share: 50,
        rebalance_threshold: 1,
    };
    let duid = Duid(vec![0, 2, 0, 0, 0, 9, role as u8]);
    // A secondary that ran before with its own MCLT (the record is what changes).
    let record = (role == Role::Secondary).then(|| {
        let mut r = Endpoint::start(pair.endpoint.clone(), None, T0)
            .record()
            .clone();
        r.state = ServerState::Normal;
        r.communicated = true;
        r
    });
    Node::pair_member(config(), duid, vec![], record, pair, T0).unwrap()
}

// ---------------------------------------------------------------- recovery and stale expiry

/// RFC 8156 §8.4.1, §8.6, §8.7: a partner in PARTNER-DOWN renews leases without the MCLT cap
/// and tells nobody until it is back in NORMAL. A server recovering from it (RECOVER-WAIT,
/// RECOVER-DONE) therefore must not expire leases from what it learnt in RECOVER: its
/// EXPIRED would look newer than the partner's renewal, the renewal would be refused, and
/// the lease could later be freed while the client holds it (tandem-sim seed 42, check (g)).
#[test]
fn recovering_server_does_not_expire_leases_its_partner_may_have_renewed_s8_6_s8_7() {
    let mut p = normal_pair();
    let sid = p.s[0].dhcp().server_duid().clone();
    let (a, _) = bind(&mut p, 0, 80, T0 + 2);
    let ia = ia_with_lifetimes(a, 300, 600);
    let renew = |p: &mut Pair, t: Time| {
        let r = p
            .client(
                0,
                t,
                &client_msg(MessageType::Renew, 80, Some(&sid), Some(ia.clone())),
            )
            .expect("renewed");
        let (_, valid) = addr_of(&r).unwrap();
        t + u64::from(valid)
    };
    renew(&mut p, T0 + 32);
    // The secondary dies; the primary is declared partner-down.
    let s_record = p.fs(1).endpoint().record().clone();
    let s_duid = p.s[1].dhcp().server_duid().clone();
    let s_pair = p.fs(1).pair_config().clone();
    let s_leases: Vec<Lease> = p.s[1].leases().iter().cloned().collect();
    p.cut(T0 + 40);
    p.dead[1] = true;
    p.s[0].partner_down_command(T0 + 41).unwrap();
    p.pump(T0 + 41);
    // It comes back at once and recovers; the link goes again during RECOVER-WAIT.
    p.s[1] =
        Node::pair_member(config(), s_duid, s_leases, Some(s_record), s_pair, T0 + 60).unwrap();
    p.dead[1] = false;
    p.connect(T0 + 60);
    assert_eq!(p.state(1), ServerState::RecoverWait);
    p.cut(T0 + 61);
    // The primary, still PARTNER-DOWN, renews the client (no MCLT cap) and cannot say so.
    let until = renew(&mut p, T0 + 300);
    let r = Resource::Address(a);
    let known = p.s[1].leases().get(&r).unwrap().state_expiration.unwrap();
    assert!(known < until);
    // The secondary's copy runs out while it waits in RECOVER-DONE.
    p.tick(T0 + 61, known + 5);
    assert_eq!(p.state(1), ServerState::RecoverDone);
    // Heal: the primary's renewal must be accepted.
    p.connect(known + 10);
    p.tick(known + 10, known + 12);
    let l = p.s[1].leases().get(&r).unwrap();
    assert_eq!(l.status, BindingStatus::Active, "{l:?}");
    assert!(l.state_expiration.is_some_and(|e| e >= until), "{l:?}");
}

/// RFC 8156 §4.4: the MCLT bound is on what the partner acknowledged for *this* binding. An
/// address handed to a new client starts with nothing acknowledged, whatever the partner
/// acked for the client that held it before: its first lease is at most MCLT (tandem-sim
/// seed 136, check (g): the new client got a full lease the partner knew nothing of).
#[test]
fn a_reused_address_starts_with_nothing_acknowledged_s4_4() {
    let mut c = config();
    c.subnets[0].pools[0].first = "2001:db8:1::100".parse().unwrap();
    c.subnets[0].pools[0].last = "2001:db8:1::101".parse().unwrap();
    let mut p = Pair::with(c, 50);
    p.connect(T0 + 1);
    let sid = p.s[0].dhcp().server_duid().clone();
    let (a, _) = bind(&mut p, 0, 90, T0 + 2);
    let ia = |valid| ia_with(a, valid);
    let r = p
        .client(
            0,
            T0 + 32,
            &client_msg(MessageType::Renew, 90, Some(&sid), Some(ia(600))),
        )
        .unwrap();
    assert_eq!(
        addr_of(&r).map(|x| x.1),
        Some(600),
        "the renewal got the full lease"
    );
    p.client(
        0,
        T0 + 40,
        &client_msg(MessageType::Release, 90, Some(&sid), Some(ia(0))),
    )
    .expect("released");
    assert_eq!(
        p.s[0].leases().get(&Resource::Address(a)).map(|l| l.status),
        Some(BindingStatus::Free),
        "released and acked"
    );
    let (b, valid) = bind(&mut p, 0, 91, T0 + 50);
    assert_eq!(b, a, "the only address of the primary's half");
    assert!(
        valid <= MCLT,
        "a new client's first lease {valid} s exceeds MCLT"
    );
}

/// The same rule for the same client: a lease it released (and the partner acked) that it
/// gets back during a partition is a new binding; neither its first lease nor its renewals
/// may lean on the acknowledgement of the old one (RFC 8156 §4.4, §8.9.1; tandem-sim seed
/// 109, check (g): renewed to 526 s the secondary knew nothing of).
#[test]
fn a_released_lease_taken_again_starts_with_nothing_acknowledged_s4_4() {
    let mut p = normal_pair();
    let sid = p.s[0].dhcp().server_duid().clone();
    let (a, _) = bind(&mut p, 0, 92, T0 + 2);
    let ia = |valid| ia_with(a, valid);
    let msg = |t, v| client_msg(t, 92, Some(&sid), Some(ia(v)));
    p.client(0, T0 + 32, &msg(MessageType::Renew, 600)).unwrap();
    p.client(0, T0 + 40, &msg(MessageType::Release, 0)).unwrap();
    p.cut(T0 + 41);
    let r = p
        .client(0, T0 + 50, &msg(MessageType::Request, 600))
        .unwrap();
    assert_eq!(addr_of(&r), Some((a, MCLT)), "a new binding's first lease");
    let r = p.client(0, T0 + 80, &msg(MessageType::Renew, 600)).unwrap();
    let (_, valid) = addr_of(&r).unwrap();
    assert!(
        valid <= MCLT,
        "renewed to {valid} s on the old binding's ack"
    );
}

/// RFC 8156 §4.2.2: a block the primary asks back (a FREE BNDUPD) stays the secondary's
/// until the secondary accepts — also across a restart of the primary that rebuilds its
/// pools from the stored pool-move records (tandem-sim seed 14090, check (g): the unsent
/// take-back was replayed as done and both servers delegated from the block).
#[test]
fn an_unacknowledged_take_back_leaves_the_block_with_the_secondary_after_a_restart_s4_2_2() {
    let block: Ipv6Net = "2001:db8:100:200::/55".parse().unwrap();
    let record = |status, at: u64, pending| Lease {
        resource: Resource::Prefix(block),
        status,
        duid: Duid::default(),
        hw_address: Vec::new(),
        iaid: 0,
        subnet_id: 1,
        preferred_lifetime: 0,
        valid_lifetime: 0,
        t1: 0,
        t2: 0,
        cltt: Time::ZERO,
        start_time_of_state: T0 + at,
        state_expiration: None,
        failover: tandem_core::FailoverFields {
            update_pending: pending,
            ..Default::default()
        },
    };
    let pair = Pair::new_with_records(vec![record(BindingStatus::Free, 20, true)]);
    assert_eq!(
        owned_by(&pair, 0, block),
        Some(Role::Secondary),
        "not asked back yet"
    );
    let pair = Pair::new_with_records(vec![record(BindingStatus::Free, 20, false)]);
    assert_eq!(
        owned_by(&pair, 0, block),
        Some(Role::Primary),
        "acknowledged take-back"
    );
}

/// RFC 8156 §8.5–§8.7: a server recovering from a partner in PARTNER-DOWN learns its
/// bindings in RECOVER (UPDREQ … UPDDONE). If the link goes after that, the partner keeps
/// granting — without the MCLT bound, from either share — and will only tell of it later.
/// So when the link comes back the recovering server asks again, and it is NORMAL (and
/// allocates) only once it holds what the partner granted meanwhile (tandem-sim seed 22464:
/// the partner died right after the heal and the primary never learnt of a /56 it had given).
#[test]
fn recovery_asks_again_after_the_link_returns_before_normal_s8_5_s8_7() {
    let mut p = pd_pair("2001:db8:100::/52", 50);
    let record = p.fs(0).endpoint().record().clone();
    let (duid, pair_cfg) = (
        p.s[0].dhcp().server_duid().clone(),
        p.fs(0).pair_config().clone(),
    );
    let leases: Vec<Lease> = p.s[0].leases().iter().cloned().collect();
    // The primary dies; the secondary is declared partner-down.
    p.cut(T0 + 5);
    p.dead[0] = true;
    p.s[1].partner_down_command(T0 + 6).unwrap();
    p.pump(T0 + 6);
    // The primary comes back and recovers; the link goes during RECOVER-WAIT.
    let cfg = config_pd("2001:db8:100::/52");
    p.s[0] = Node::pair_member(cfg, duid, leases, Some(record), pair_cfg, T0 + 20).unwrap();
    p.dead[0] = false;
    p.connect(T0 + 20);
    assert_eq!(p.state(0), ServerState::RecoverWait);
    p.cut(T0 + 21);
    // Meanwhile the secondary, still PARTNER-DOWN, delegates a /56 (past MCLT: any share).
    let t = T0 + 6 + u64::from(MCLT) + 1;
    let (given, _) = delegate(&mut p, 1, 77, t, None).expect("a prefix");
    p.tick(T0 + 21, t + 2);
    assert_eq!(p.state(0), ServerState::RecoverDone);
    // The link returns.
    let mark = p.log[0].len();
    p.connect(t + 3);
    let out = &p.log[0][mark..];
    let normal_at = out
        .iter()
        .position(|o| {
            matches!(
                o,
                Output::Event(Event::StateChanged {
                    to: ServerState::Normal,
                    ..
                })
            )
        })
        .expect("the primary reaches NORMAL");
    let learnt_at = out.iter().position(|o| {
        matches!(o, Output::Persist(Batch { items, .. }) if items.iter().any(|i| {
            matches!(i, PersistItem::Lease(LeaseChange::Upsert(l))
                if l.resource == Resource::Prefix(given) && l.status == BindingStatus::Active)
        }))
    });
    assert!(
        learnt_at.is_some_and(|i| i < normal_at),
        "the primary went NORMAL (output {normal_at}) before it learnt {given} (output {learnt_at:?})"
    );
}
