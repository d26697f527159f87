//! A draft-ietf-dhc-failover-12 pair (DHCPv4, as ISC dhcpd 4.4 speaks it): two pair
//! members behind their gate, wired back to back, real DHCPv4 client messages. The same
//! FailoverServer and Node as the RFC 8156 timelines; only the protocol differs.

use std::net::{Ipv4Addr, SocketAddrV4};

use tandem_core::config::AddressPool4;
use tandem_core::config4::Subnet4;
use tandem_core::dhcpv4::RxInfo4;
use tandem_wire::dhcpfo::Hba;
use tandem_wire::v4::{DhcpOption, Header, Message, MessageType, OptionsExt};

use super::tests::{Pair, MCLT, T0};
use super::*;
use crate::node::{Node, Output, Via};

const SERVER: [Ipv4Addr; 2] = [Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2)];

fn config4() -> ServerConfig {
    let mut s = Subnet4::new(1, "192.0.2.0/24".parse().unwrap());
    s.interface = Some("eth0".into());
    s.pools.push(AddressPool4 {
        first: Ipv4Addr::new(192, 0, 2, 100),
        last: Ipv4Addr::new(192, 0, 2, 199),
    });
    s.lease_time = 600;
    ServerConfig {
        subnets4: vec![s],
        ..ServerConfig::default()
    }
}

fn member(role: Role, now: Time) -> Node {
    member_with(role, now, config4())
}

fn member_with(role: Role, now: Time, cfg: ServerConfig) -> Node {
    member_tuned(role, now, cfg, |_| {})
}

/// A member whose endpoint settings `tune` changes from the defaults above.
fn member_tuned(
    role: Role,
    now: Time,
    cfg: ServerConfig,
    tune: impl FnOnce(&mut EndpointConfig),
) -> Node {
    let mut e = EndpointConfig::new(role, "t", MCLT);
    e.protocol = Protocol::Draft12;
    e.local.keepalive = 30;
    if role == Role::Primary {
        e.local.hba = Some(Hba::split(128));
    }
    tune(&mut e);
    let pair = PairConfig {
        endpoint: e,
        secondary_prefix_share: 50,
        rebalance_threshold: 1,
    };
    let duid = Duid(vec![0, 2, 0, 0, 0, 9, role as u8]);
    Node::pair_member(cfg, duid, vec![], None, pair, now).unwrap()
}

fn normal_pair4() -> Pair {
    let mut p = Pair::from_servers([member(Role::Primary, T0), member(Role::Secondary, T0)]);
    p.connect(T0 + 1);
    assert_eq!(
        (p.state(0), p.state(1)),
        (ServerState::Normal, ServerState::Normal)
    );
    p
}

fn mac(n: u8) -> [u8; 6] {
    [2, 0, 0, 0, 0, n]
}

fn client4(t: MessageType, n: u8) -> Message {
    let mut h = Header {
        xid: 0x4000 + u32::from(n),
        ..Header::default()
    };
    h.set_client_hw_addr(&mac(n));
    let mut m = Message::new(h);
    m.push(DhcpOption::message_type(t));
    m
}

/// A client whose RFC 3074 bucket is the primary's under `split 128`.
fn primary_client() -> u8 {
    (1..=255)
        .find(|n| Hba::split(128).primary_serves_key(&mac(*n)))
        .unwrap()
}

/// A broadcast from a client on server i's link; the server's answer.
fn send4(p: &mut Pair, i: usize, now: Time, m: &Message) -> Option<Message> {
    p.replies.clear();
    let rx = RxInfo4 {
        src: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
        dst: Ipv4Addr::BROADCAST,
        local: SERVER[i],
        interface: "eth0".into(),
    };
    p.s[i].handle_client4(now, &m.emit(), &rx, Via::default());
    p.pump(now);
    let (_, bytes) = p.replies.iter().find(|(s, _)| *s == i)?;
    Some(Message::parse(bytes).expect("the server's reply decodes"))
}

/// DISCOVER, OFFER, REQUEST (SELECTING), ACK at server i (RFC 2131 §3.1).
fn bind4(p: &mut Pair, i: usize, n: u8, now: Time) -> Ipv4Addr {
    let offer = send4(p, i, now, &client4(MessageType::Discover, n)).expect("an OFFER");
    let a = offer.header.yiaddr;
    let mut req = client4(MessageType::Request, n);
    req.push(DhcpOption::server_identifier(SERVER[i]));
    req.push(DhcpOption::new(50, a.octets()));
    let ack = send4(p, i, now, &req).expect("an ACK");
    assert_eq!(ack.header.yiaddr, a);
    assert_eq!(ack.message_type(), Some(MessageType::Ack));
    a
}

#[test]
fn a_draft12_pair_reaches_normal_over_dhcpd_messages_s9() {
    let p = normal_pair4();
    for i in 0..2 {
        assert!(p.log[i].iter().all(|o| match o {
            Output::Peer(m) => m.protocol() == Protocol::Draft12,
            _ => true,
        }));
    }
}

/// The primary grants a lease from its FREE pool; the lazy BNDUPD (§5.2.1) tells the
/// secondary, which stores the binding with the client's hardware address and acks it;
/// the ack clears the primary's update-pending flag.
#[test]
fn a_v4_lease_granted_by_the_primary_reaches_the_secondary_and_is_acked_s7_1_s7_2() {
    let mut p = normal_pair4();
    let a = bind4(&mut p, 0, primary_client(), T0 + 2);
    p.pump(T0 + 2);
    let r = Resource::V4Address(a);
    let at_secondary = p
        .fs(1)
        .leases()
        .get(&r)
        .cloned()
        .expect("the secondary holds it");
    assert_eq!(at_secondary.status, BindingStatus::Active);
    assert_eq!(
        at_secondary.hw_address,
        [&[1u8][..], &mac(primary_client())].concat()
    );
    let at_primary = p.fs(0).leases().get(&r).cloned().unwrap();
    assert_eq!(at_secondary.state_expiration, at_primary.state_expiration);
    assert!(!at_primary.failover.update_pending, "acked");
    // The secondary's record bounds its own use of the address by what the primary
    // proposed (tstp, draft-12 §5.2.1).
    assert!(at_secondary.failover.expiration_time.is_some());
    // One binding per BNDUPD, and the BNDACK the address only (ISC dhcpd 4.4).
    let acks_for_a: Vec<_> = p.log[1]
        .iter()
        .filter_map(|o| match o {
            Output::Peer(m) => match &m.draft12()?.body {
                tandem_wire::dhcpfo::Body::BndAck(ack) if ack.binding.assigned_ip == Some(a) => {
                    Some(ack.clone())
                }
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(acks_for_a, [tandem_wire::dhcpfo::BndAck::accept(a)]);
}

/// In NORMAL each DISCOVER is answered by one server, the one its RFC 3074 bucket names
/// in the primary's HBA (ISC dhcpd's `split 128`: set bits the primary's), from that
/// server's own pool; the binding then reaches the other server (draft-12 §5.3).
#[test]
fn in_normal_each_discover_is_answered_by_the_server_its_hash_bucket_names_rfc3074() {
    let mut p = normal_pair4();
    let backup = backup_addresses(&p, 1);
    let hba = Hba::split(128);
    let mut served = [0, 0];
    for n in 1..=40 {
        let d = client4(MessageType::Discover, n);
        let offers = [send4(&mut p, 0, T0 + 2, &d), send4(&mut p, 1, T0 + 2, &d)];
        let expected = if hba.primary_serves_key(&mac(n)) {
            0
        } else {
            1
        };
        assert!(
            offers[expected].is_some(),
            "client {n}: server {expected} answers"
        );
        assert!(
            offers[1 - expected].is_none(),
            "client {n}: only one answers"
        );
        let a = bind4(&mut p, expected, n, T0 + 2);
        assert_eq!(backup.contains(&a), expected == 1, "client {n} got {a}");
        p.pump(T0 + 2);
        let other = p
            .fs(1 - expected)
            .leases()
            .get(&Resource::V4Address(a))
            .cloned();
        assert_eq!(other.map(|l| l.status), Some(BindingStatus::Active), "{a}");
        served[expected] += 1;
    }
    assert!(served[0] > 5 && served[1] > 5, "{served:?}");
}

/// A client that has tried for longer than `load balance max seconds` is answered by
/// both (RFC 3074 §4: the other server may be down).
#[test]
fn a_client_trying_for_more_than_3_s_is_answered_by_both_rfc3074_s4() {
    let mut p = normal_pair4();
    let mut d = client4(MessageType::Discover, 7);
    d.header.secs = 4;
    assert!(send4(&mut p, 0, T0 + 2, &d).is_some());
    assert!(send4(&mut p, 1, T0 + 2, &d).is_some());
}

/// A member still recovering answers nobody, not even a renewal of a lease it knows
/// (ISC dhcpd 4.4: "not responding (recover wait)").
#[test]
fn a_recovering_member_answers_no_dhcpv4_client_s9_6() {
    let mut p = normal_pair4();
    let n = primary_client();
    let a = bind4(&mut p, 0, n, T0 + 2);
    p.cut(T0 + 3);
    // The secondary restarts with no storage: RECOVER, then RECOVER-WAIT for the MCLT.
    p.s[1] = member(Role::Secondary, T0 + 4);
    p.connect(T0 + 5);
    assert_ne!(p.state(1), ServerState::Normal);
    let mut renew = client4(MessageType::Request, n);
    renew.header.ciaddr = a;
    assert!(send4(&mut p, 1, T0 + 6, &renew).is_none());
    assert!(send4(&mut p, 1, T0 + 6, &client4(MessageType::Discover, 9)).is_none());
}

fn backup_addresses(p: &Pair, i: usize) -> Vec<Ipv4Addr> {
    let mut v: Vec<Ipv4Addr> = p
        .fs(i)
        .leases()
        .iter()
        .filter(|l| l.status == BindingStatus::FreeBackup)
        .filter_map(|l| match l.resource {
            Resource::V4Address(a) => Some(a),
            _ => None,
        })
        .collect();
    v.sort();
    v
}

/// On reaching NORMAL the primary gives the secondary half of the pool as BACKUP, one
/// BNDUPD per address, as ISC dhcpd does ("total 100 free 100 backup 0 lts 50"), and both
/// sides agree on which half.
#[test]
fn the_primary_gives_the_secondary_half_the_pool_as_backup_s5_4() {
    let p = normal_pair4();
    let at_secondary = backup_addresses(&p, 1);
    assert_eq!(at_secondary.len(), 50);
    assert_eq!(backup_addresses(&p, 0), at_secondary);
    assert_eq!(at_secondary[0], Ipv4Addr::new(192, 0, 2, 150));
    assert!(
        p.fs(0).leases().iter().all(|l| !l.failover.update_pending),
        "every move acked"
    );
}

/// The primary balances on entering NORMAL by itself, as ISC dhcpd's does: a dhcpd
/// secondary that finds nothing to ask for sends no POOLREQ, and its pool must not wait for
/// one (nor for the periodic scan) to get its BACKUP half.
#[test]
fn the_primary_balances_on_entering_normal_without_a_poolreq_s5_4() {
    let mut p = Pair::from_servers([member(Role::Primary, T0), member(Role::Secondary, T0)]);
    p.lose = Some(crate::wire::Kind::PoolReq);
    p.connect(T0 + 1);
    assert_eq!(p.state(0), ServerState::Normal);
    assert_eq!(backup_addresses(&p, 1).len(), 50);
}

/// A partner that accepts fewer than half the unacknowledged updates we announced is an
/// ISC dhcpd that will hold its BNDACKs for its 2 s timer on every window: said once, as an
/// alarm naming the key to change; a matching window says nothing.
#[test]
fn an_ack_window_below_half_ours_raises_an_alarm_naming_the_fix() {
    let alarms = |p: &Pair, i: usize| {
        p.log[i]
            .iter()
            .filter_map(|o| match o {
                Output::Event(Event::Alarm(a)) => Some(a.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let p = normal_pair4();
    assert!(alarms(&p, 0).is_empty() && alarms(&p, 1).is_empty());

    let small = member_tuned(Role::Secondary, T0, config4(), |e| e.local.max_unacked = 10);
    let mut p = Pair::from_servers([member(Role::Primary, T0), small]);
    p.connect(T0 + 1);
    let a = alarms(&p, 0);
    assert_eq!(a.len(), 1, "{a:?}");
    assert!(
        a[0].contains("max_unacked_bndupd") && a[0].contains("(10)"),
        "{a:?}"
    );
    assert!(alarms(&p, 1).is_empty());
}

/// Cut off from each other (COMMUNICATIONS-INTERRUPTED), each side gives new clients
/// addresses from its own pool only, the primary FREE and the secondary BACKUP (draft-12
/// §9.2): nothing is given to two clients, and after the link is back both tables hold
/// both bindings.
#[test]
fn partitioned_members_allocate_from_disjoint_pools_and_converge_s9_2() {
    let mut p = normal_pair4();
    let backup = backup_addresses(&p, 1);
    p.cut(T0 + 5);
    p.tick(T0 + 5, T0 + 10);
    assert_eq!(p.state(0), ServerState::CommunicationsInterrupted);
    assert_eq!(p.state(1), ServerState::CommunicationsInterrupted);
    let mut by_primary = Vec::new();
    let mut by_secondary = Vec::new();
    for n in 1..=20 {
        by_primary.push(bind4(&mut p, 0, n, T0 + 11));
        by_secondary.push(bind4(&mut p, 1, 100 + n, T0 + 11));
    }
    assert!(
        by_secondary.iter().all(|a| backup.contains(a)),
        "{by_secondary:?}"
    );
    assert!(
        by_primary.iter().all(|a| !backup.contains(a)),
        "{by_primary:?}"
    );
    p.connect(T0 + 12);
    p.tick(T0 + 12, T0 + 20);
    assert_eq!(p.state(0), ServerState::Normal);
    for a in by_primary.iter().chain(&by_secondary) {
        let r = Resource::V4Address(*a);
        let l0 = p.fs(0).leases().get(&r).cloned().unwrap();
        let l1 = p.fs(1).leases().get(&r).cloned().unwrap();
        assert_eq!(
            (l0.status, &l0.duid),
            (BindingStatus::Active, &l1.duid),
            "{a}"
        );
        assert_eq!(l1.status, BindingStatus::Active, "{a}");
    }
}

/// With ping_check on, a pair member holds its OFFER for the driver's probe as a server
/// alone does (RFC 2131 §4.4.1), and an address found in use is quarantined and the
/// partner told of it.
#[test]
fn a_probed_offer_waits_and_an_address_in_use_is_quarantined_at_both_members_rfc2131_s4_4_1() {
    let mut cfg = config4();
    cfg.subnets4[0].ping_check = true;
    let mut p = Pair::from_servers([
        member_with(Role::Primary, T0, cfg.clone()),
        member_with(Role::Secondary, T0, cfg),
    ]);
    p.connect(T0 + 1);
    let n = primary_client();
    let rx = RxInfo4 {
        src: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
        dst: Ipv4Addr::BROADCAST,
        local: SERVER[0],
        interface: "eth0".into(),
    };
    p.replies.clear();
    let d = client4(MessageType::Discover, n);
    let o = p.s[0].handle_client4(T0 + 2, &d.emit(), &rx, Via::default());
    p.pump(T0 + 2);
    let probe = o.probe.expect("the OFFER waits for a probe");
    assert!(p.replies.is_empty(), "no OFFER before the probe ends");
    assert!(p.s[0].address_in_use4(T0 + 3, probe.address) > 0);
    p.pump(T0 + 3);
    let r = Resource::V4Address(probe.address);
    for i in 0..2 {
        let l = p.fs(i).leases().get(&r).cloned();
        assert_eq!(
            l.map(|l| l.status),
            Some(BindingStatus::Abandoned),
            "member {i}"
        );
    }
}
