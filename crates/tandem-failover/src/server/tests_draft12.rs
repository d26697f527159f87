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
    let mut e = EndpointConfig::new(role, "t", MCLT);
    e.protocol = Protocol::Draft12;
    e.local.keepalive = 30;
    if role == Role::Primary {
        e.local.hba = Some(Hba::split(128));
    }
    let pair = PairConfig {
        endpoint: e,
        secondary_prefix_share: 50,
        rebalance_threshold: 1,
    };
    let duid = Duid(vec![0, 2, 0, 0, 0, 9, role as u8]);
    Node::pair_member(config4(), duid, vec![], None, pair, now).unwrap()
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
    let a = bind4(&mut p, 0, 1, T0 + 2);
    p.pump(T0 + 2);
    let r = Resource::V4Address(a);
    let at_secondary = p
        .fs(1)
        .leases()
        .get(&r)
        .cloned()
        .expect("the secondary holds it");
    assert_eq!(at_secondary.status, BindingStatus::Active);
    assert_eq!(at_secondary.hw_address, [&[1u8][..], &mac(1)].concat());
    let at_primary = p.fs(0).leases().get(&r).cloned().unwrap();
    assert_eq!(at_secondary.state_expiration, at_primary.state_expiration);
    assert!(!at_primary.failover.update_pending, "acked");
    // The secondary's record bounds its own use of the address by what the primary
    // proposed (tstp, draft-12 §5.2.1).
    assert!(at_secondary.failover.expiration_time.is_some());
    // One binding per BNDUPD, and the BNDACK the address only (ISC dhcpd 4.4).
    let bndacks: Vec<_> = p.log[1]
        .iter()
        .filter_map(|o| match o {
            Output::Peer(m) if m.kind() == crate::wire::Kind::BndReply => m.draft12().cloned(),
            _ => None,
        })
        .collect();
    assert_eq!(bndacks.len(), 1);
    let tandem_wire::dhcpfo::Body::BndAck(ack) = &bndacks[0].body else {
        unreachable!()
    };
    assert_eq!(*ack, tandem_wire::dhcpfo::BndAck::accept(a));
}

/// In NORMAL the secondary holds no FREE address of its own until the primary gives it
/// BACKUP ones: it offers nothing (draft-12 §5.4; pool balancing is still to come).
#[test]
fn a_draft12_secondary_without_backup_addresses_offers_nothing_s5_4() {
    let mut p = normal_pair4();
    assert!(send4(&mut p, 1, T0 + 2, &client4(MessageType::Discover, 2)).is_none());
}
