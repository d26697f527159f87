//! RFC 2131 server behaviour, one rule per test (section in the name).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use tandem_wire::v4::{code, DhcpOption, Header, Message, MessageType, OptionsExt, BROADCAST_FLAG};

use crate::config::AddressPool4;
use crate::config4::{Reservation4, Subnet4};
use crate::lease::{BindingStatus, Duid, LeaseChange, Resource};
use crate::{DhcpServer, DropReason, LeaseTable, Outcome, ServerConfig, Time};

use super::RxInfo4;

const T0: Time = Time(1_000_000);
const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const RELAY_SERVER_SIDE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const GIADDR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn pool(first: &str, last: &str) -> AddressPool4 {
    AddressPool4 {
        first: ip(first),
        last: ip(last),
    }
}

/// eth0: 192.0.2.0/24 (pool .100-.109); relayed 198.51.100.0/25 (pool .10-.19);
/// shared network "campus" (relayed through 203.0.113.1): 203.0.113.0/25 with a single
/// address, 203.0.113.128/25 with ten.
fn config() -> ServerConfig {
    let mut direct = Subnet4::new(10, "192.0.2.0/24".parse().unwrap());
    direct.interface = Some("eth0".into());
    direct.pools.push(pool("192.0.2.100", "192.0.2.109"));
    direct.options.routers = vec![ip("192.0.2.1")];
    direct.options.dns_servers = vec![ip("192.0.2.53")];
    direct.options.domain_name = Some("example.net".into());
    direct.options.ntp_servers = vec![ip("192.0.2.123")];
    direct.reservations.push(Reservation4 {
        hw_address: Some(vec![2, 0, 0, 0, 0, 0xaa]),
        client_id: None,
        address: ip("192.0.2.50"),
    });
    direct.reservations.push(Reservation4 {
        hw_address: None,
        client_id: Some(b"\x00printer-7".to_vec()),
        address: ip("192.0.2.51"),
    });
    let mut relayed = Subnet4::new(11, "198.51.100.0/25".parse().unwrap());
    relayed.pools.push(pool("198.51.100.10", "198.51.100.19"));
    relayed.lease_time = 600;
    let mut a = Subnet4::new(12, "203.0.113.0/25".parse().unwrap());
    a.shared_network = Some("campus".into());
    a.pools.push(pool("203.0.113.10", "203.0.113.10"));
    let mut b = Subnet4::new(13, "203.0.113.128/25".parse().unwrap());
    b.shared_network = Some("campus".into());
    b.pools.push(pool("203.0.113.130", "203.0.113.139"));
    let c = ServerConfig {
        subnets4: vec![direct, relayed, a, b],
        ..ServerConfig::default()
    };
    assert_eq!(c.validate(), vec![]);
    c
}

fn server() -> DhcpServer {
    DhcpServer::new(config(), Duid(vec![0, 1, 2, 3]), LeaseTable::new())
}

fn mac(n: u8) -> [u8; 6] {
    [2, 0, 0, 0, 0, n]
}

/// A message from the client with hardware address `mac(n)`.
fn msg(t: MessageType, n: u8) -> Message {
    let mut h = Header {
        xid: 0x1000 + u32::from(n),
        ..Header::default()
    };
    h.set_client_hw_addr(&mac(n));
    let mut m = Message::new(h);
    m.push(DhcpOption::message_type(t));
    m
}

/// Broadcast from a client on eth0 with no address.
fn direct() -> RxInfo4 {
    RxInfo4 {
        src: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
        dst: Ipv4Addr::BROADCAST,
        local: SERVER,
        interface: "eth0".into(),
    }
}

/// From the relay at `giaddr`, unicast to us, on an interface serving nothing directly.
fn via_relay(giaddr: Ipv4Addr) -> RxInfo4 {
    RxInfo4 {
        src: SocketAddrV4::new(giaddr, 67),
        dst: RELAY_SERVER_SIDE,
        local: RELAY_SERVER_SIDE,
        interface: "eth9".into(),
    }
}

fn handle(s: &mut DhcpServer, now: Time, m: &Message, rx: &RxInfo4) -> Outcome {
    s.handle_v4(now, &m.emit(), rx)
}

fn reply_of(o: &Outcome) -> (Message, SocketAddr) {
    let r = o.reply.as_ref().expect("a reply");
    (Message::parse(&r.bytes).unwrap(), r.dest)
}

fn with_server_id(mut m: Message, id: Ipv4Addr) -> Message {
    m.push(DhcpOption::server_identifier(id));
    m
}

fn with_requested(mut m: Message, a: Ipv4Addr) -> Message {
    m.push(DhcpOption::ipv4(code::REQUESTED_IP, a));
    m
}

/// DISCOVER then REQUEST (SELECTING) on eth0: the address the client got.
fn lease_for(s: &mut DhcpServer, n: u8, now: Time) -> Ipv4Addr {
    let o = handle(s, now, &msg(MessageType::Discover, n), &direct());
    let (offer, _) = reply_of(&o);
    let a = offer.header.yiaddr;
    let req = with_requested(with_server_id(msg(MessageType::Request, n), SERVER), a);
    let o = handle(s, now, &req, &direct());
    assert_eq!(reply_of(&o).0.message_type(), Some(MessageType::Ack));
    a
}

fn bound(o: &Outcome) -> Vec<(Resource, BindingStatus)> {
    o.changes
        .iter()
        .filter_map(|c| match c {
            LeaseChange::Upsert(l) => Some((l.resource, l.status)),
            LeaseChange::Remove(_) => None,
        })
        .collect()
}

#[test]
fn a_discover_is_offered_a_pool_address_with_its_lease_times_and_nothing_stored_s4_3_1() {
    let mut s = server();
    let o = handle(&mut s, T0, &msg(MessageType::Discover, 1), &direct());
    assert!(o.changes.is_empty(), "an OFFER promises nothing durable");
    let (offer, dest) = reply_of(&o);
    assert_eq!(offer.message_type(), Some(MessageType::Offer));
    assert_eq!(offer.header.xid, 0x1001);
    assert_eq!(offer.header.yiaddr, ip("192.0.2.100"));
    assert_eq!(offer.server_identifier(), Some(SERVER));
    assert_eq!(offer.lease_time(), Some(3600));
    assert_eq!(offer.renewal_time(), Some(1800));
    assert_eq!(offer.rebinding_time(), Some(3150));
    assert_eq!(offer.subnet_mask(), Some(ip("255.255.255.0")));
    assert_eq!(offer.routers(), Some(vec![ip("192.0.2.1")]));
    assert_eq!(offer.dns_servers(), Some(vec![ip("192.0.2.53")]));
    // Not asked for in option 55: not sent.
    assert!(!offer.has(code::DOMAIN_NAME));
    // No address yet, so no unicast: broadcast on the client's link (§4.1).
    assert_eq!(dest, SocketAddr::from((Ipv4Addr::BROADCAST, 68)));
}

#[test]
fn a_request_in_selecting_commits_the_offered_address_before_the_ack_s4_3_2() {
    let mut s = server();
    let o = handle(&mut s, T0, &msg(MessageType::Discover, 1), &direct());
    let a = reply_of(&o).0.header.yiaddr;
    let req = with_requested(with_server_id(msg(MessageType::Request, 1), SERVER), a);
    let o = handle(&mut s, T0, &req, &direct());
    assert_eq!(
        bound(&o),
        vec![(Resource::V4Address(a), BindingStatus::Active)]
    );
    let LeaseChange::Upsert(l) = &o.changes[0] else {
        unreachable!()
    };
    assert_eq!(l.hw_address, [&[1u8][..], &mac(1)].concat());
    assert_eq!(
        l.duid.0, l.hw_address,
        "no option 61: keyed by htype + chaddr"
    );
    assert_eq!(l.subnet_id, 10);
    assert_eq!((l.valid_lifetime, l.t1, l.t2), (3600, 1800, 3150));
    assert_eq!(l.state_expiration, Some(T0.plus(3600)));
    let (ack, _) = reply_of(&o);
    assert_eq!(ack.message_type(), Some(MessageType::Ack));
    assert_eq!(ack.header.yiaddr, a);
}

#[test]
fn an_offered_address_is_held_from_other_clients_s4_3_1() {
    let mut s = server();
    let a = reply_of(&handle(
        &mut s,
        T0,
        &msg(MessageType::Discover, 1),
        &direct(),
    ))
    .0
    .header
    .yiaddr;
    let b = reply_of(&handle(
        &mut s,
        T0,
        &msg(MessageType::Discover, 2),
        &direct(),
    ))
    .0
    .header
    .yiaddr;
    assert_ne!(a, b);
    // And a client asking for it by option 50 does not get it either.
    let req = with_requested(with_server_id(msg(MessageType::Request, 3), SERVER), a);
    let (nak, _) = reply_of(&handle(&mut s, T0, &req, &direct()));
    assert_eq!(nak.message_type(), Some(MessageType::Nak));
}

#[test]
fn a_client_gets_its_own_lease_back_on_discover_s4_3_1() {
    let mut s = server();
    let a = lease_for(&mut s, 1, T0);
    lease_for(&mut s, 2, T0);
    let (offer, _) = reply_of(&handle(
        &mut s,
        T0.plus(60),
        &msg(MessageType::Discover, 1),
        &direct(),
    ));
    assert_eq!(offer.header.yiaddr, a);
}

#[test]
fn a_discover_is_offered_the_requested_address_when_it_is_free_s4_3_1() {
    let mut s = server();
    let m = with_requested(msg(MessageType::Discover, 1), ip("192.0.2.105"));
    let (offer, _) = reply_of(&handle(&mut s, T0, &m, &direct()));
    assert_eq!(offer.header.yiaddr, ip("192.0.2.105"));
    // Outside the pools: not given.
    let m = with_requested(msg(MessageType::Discover, 2), ip("192.0.2.200"));
    let (offer, _) = reply_of(&handle(&mut s, T0, &m, &direct()));
    assert_eq!(offer.header.yiaddr, ip("192.0.2.100"));
}

#[test]
fn a_request_naming_another_server_is_not_answered_and_frees_the_offer_s4_3_2() {
    let mut s = server();
    let a = reply_of(&handle(
        &mut s,
        T0,
        &msg(MessageType::Discover, 1),
        &direct(),
    ))
    .0
    .header
    .yiaddr;
    let req = with_requested(
        with_server_id(msg(MessageType::Request, 1), ip("192.0.2.2")),
        a,
    );
    let o = handle(&mut s, T0, &req, &direct());
    assert_eq!(o.drop, Some(DropReason::ForeignServerId));
    assert!(o.changes.is_empty());
    // The hold is gone: another client that asks for the address is offered it.
    let m = with_requested(msg(MessageType::Discover, 2), a);
    let (offer, _) = reply_of(&handle(&mut s, T0, &m, &direct()));
    assert_eq!(offer.header.yiaddr, a);
}

#[test]
fn a_request_in_selecting_without_option_50_is_not_answered_s4_3_2() {
    let mut s = server();
    let req = with_server_id(msg(MessageType::Request, 1), SERVER);
    let o = handle(&mut s, T0, &req, &direct());
    assert_eq!(o.drop, Some(DropReason::MissingRequestedAddress));
}

#[test]
fn init_reboot_acks_the_clients_own_address_s4_3_2() {
    let mut s = server();
    let a = lease_for(&mut s, 1, T0);
    let req = with_requested(msg(MessageType::Request, 1), a);
    let o = handle(&mut s, T0.plus(100), &req, &direct());
    let (ack, _) = reply_of(&o);
    assert_eq!(ack.message_type(), Some(MessageType::Ack));
    assert_eq!(ack.header.yiaddr, a);
    assert_eq!(
        bound(&o),
        vec![(Resource::V4Address(a), BindingStatus::Active)]
    );
}

#[test]
fn init_reboot_on_the_wrong_network_is_naked_s4_3_2() {
    let mut s = server();
    lease_for(&mut s, 1, T0);
    let req = with_requested(msg(MessageType::Request, 1), ip("198.51.100.10"));
    let (nak, dest) = reply_of(&handle(&mut s, T0, &req, &direct()));
    assert_eq!(nak.message_type(), Some(MessageType::Nak));
    assert_eq!(nak.header.yiaddr, Ipv4Addr::UNSPECIFIED);
    assert!(!nak.has(code::LEASE_TIME));
    assert_eq!(dest, SocketAddr::from((Ipv4Addr::BROADCAST, 68)));
}

#[test]
fn init_reboot_for_another_clients_address_is_naked_s4_3_2() {
    let mut s = server();
    let a = lease_for(&mut s, 1, T0);
    let req = with_requested(msg(MessageType::Request, 2), a);
    let (nak, _) = reply_of(&handle(&mut s, T0, &req, &direct()));
    assert_eq!(nak.message_type(), Some(MessageType::Nak));
}

#[test]
fn init_reboot_from_a_client_with_no_record_is_not_answered_s4_3_2() {
    let mut s = server();
    let req = with_requested(msg(MessageType::Request, 1), ip("192.0.2.104"));
    let o = handle(&mut s, T0, &req, &direct());
    assert_eq!(o.drop, Some(DropReason::UnknownClient));
    assert!(o.reply.is_none() && o.changes.is_empty());
}

#[test]
fn renewing_extends_the_lease_and_answers_ciaddr_by_unicast_s4_3_2_s4_1() {
    let mut s = server();
    let a = lease_for(&mut s, 1, T0);
    let mut req = msg(MessageType::Request, 1);
    req.header.ciaddr = a;
    let rx = RxInfo4 {
        src: SocketAddrV4::new(a, 68),
        dst: SERVER,
        ..direct()
    };
    let later = T0.plus(1800);
    let o = handle(&mut s, later, &req, &rx);
    let (ack, dest) = reply_of(&o);
    assert_eq!(ack.message_type(), Some(MessageType::Ack));
    assert_eq!(
        ack.header.ciaddr, a,
        "table 3: 'ciaddr' from the DHCPREQUEST"
    );
    assert_eq!(dest, SocketAddr::from((a, 68)));
    let LeaseChange::Upsert(l) = &o.changes[0] else {
        unreachable!()
    };
    assert_eq!(l.state_expiration, Some(later.plus(3600)));
}

#[test]
fn rebinding_for_an_address_the_client_does_not_hold_is_naked_by_broadcast_s4_3_2() {
    let mut s = server();
    let mut req = msg(MessageType::Request, 1);
    req.header.ciaddr = ip("192.0.2.107");
    let (nak, dest) = reply_of(&handle(&mut s, T0, &req, &direct()));
    assert_eq!(nak.message_type(), Some(MessageType::Nak));
    assert_eq!(dest, SocketAddr::from((Ipv4Addr::BROADCAST, 68)));
}

#[test]
fn a_declined_address_is_quarantined_and_not_offered_again_s4_3_3() {
    let mut s = server();
    let a = lease_for(&mut s, 1, T0);
    let d = with_requested(with_server_id(msg(MessageType::Decline, 1), SERVER), a);
    let o = handle(&mut s, T0, &d, &direct());
    assert!(o.reply.is_none() && o.drop.is_none());
    assert_eq!(
        bound(&o),
        vec![(Resource::V4Address(a), BindingStatus::Abandoned)]
    );
    let (offer, _) = reply_of(&handle(
        &mut s,
        T0,
        &msg(MessageType::Discover, 1),
        &direct(),
    ));
    assert_ne!(offer.header.yiaddr, a);
    // Once the quarantine (the lease time) is over, the address is back in the pool.
    let changes = s.reclaim_expired(T0.plus(3600));
    assert_eq!(changes, vec![LeaseChange::Remove(Resource::V4Address(a))]);
}

#[test]
fn a_decline_of_an_address_the_client_does_not_hold_changes_nothing_s4_3_3() {
    let mut s = server();
    let a = lease_for(&mut s, 1, T0);
    let d = with_requested(with_server_id(msg(MessageType::Decline, 2), SERVER), a);
    assert!(handle(&mut s, T0, &d, &direct()).changes.is_empty());
}

#[test]
fn a_released_address_is_kept_for_its_client_s4_3_4() {
    let mut s = server();
    let a = lease_for(&mut s, 1, T0);
    let mut r = with_server_id(msg(MessageType::Release, 1), SERVER);
    r.header.ciaddr = a;
    let o = handle(&mut s, T0, &r, &direct());
    assert!(o.reply.is_none());
    assert_eq!(
        bound(&o),
        vec![(Resource::V4Address(a), BindingStatus::Released)]
    );
    lease_for(&mut s, 2, T0);
    let (offer, _) = reply_of(&handle(
        &mut s,
        T0,
        &msg(MessageType::Discover, 1),
        &direct(),
    ));
    assert_eq!(offer.header.yiaddr, a);
}

#[test]
fn inform_gets_configuration_without_an_address_or_lease_time_s4_3_5() {
    let mut s = server();
    let mut m = msg(MessageType::Inform, 1);
    m.header.ciaddr = ip("192.0.2.7");
    m.push(DhcpOption::new(code::PARAMETER_REQUEST_LIST, vec![15, 42]));
    let o = handle(&mut s, T0, &m, &direct());
    assert!(o.changes.is_empty());
    let (ack, dest) = reply_of(&o);
    assert_eq!(ack.message_type(), Some(MessageType::Ack));
    assert_eq!(ack.header.yiaddr, Ipv4Addr::UNSPECIFIED);
    assert!(!ack.has(code::LEASE_TIME) && !ack.has(code::RENEWAL_TIME));
    assert_eq!(ack.domain_name().as_deref(), Some(&b"example.net"[..]));
    assert_eq!(ack.ntp_servers(), Some(vec![ip("192.0.2.123")]));
    assert_eq!(dest, SocketAddr::from((ip("192.0.2.7"), 68)));
}

#[test]
fn requested_options_follow_the_order_of_option_55_rfc2132_s9_8() {
    let mut s = server();
    let mut m = msg(MessageType::Discover, 1);
    m.push(DhcpOption::new(
        code::PARAMETER_REQUEST_LIST,
        vec![42, 1, 15, 3],
    ));
    let (offer, _) = reply_of(&handle(&mut s, T0, &m, &direct()));
    let codes: Vec<u8> = offer.options.iter().map(|o| o.code).collect();
    let pos = |c: u8| codes.iter().position(|x| *x == c).unwrap();
    assert!(pos(code::NTP_SERVERS) < pos(code::DOMAIN_NAME));
    assert_eq!(codes[0], code::MESSAGE_TYPE);
    assert_eq!(codes.iter().filter(|c| **c == code::ROUTERS).count(), 1);
}

#[test]
fn option_61_keys_the_client_whatever_its_chaddr_s4_2() {
    let mut s = server();
    let with_id = |mut m: Message| {
        m.push(DhcpOption::new(code::CLIENT_ID, b"\x00laptop".to_vec()));
        m
    };
    let o = handle(
        &mut s,
        T0,
        &with_id(msg(MessageType::Discover, 1)),
        &direct(),
    );
    let (offer, _) = reply_of(&o);
    assert_eq!(
        offer.client_identifier().as_deref(),
        Some(&b"\x00laptop"[..]),
        "RFC 6842: echoed"
    );
    let a = offer.header.yiaddr;
    let req = with_requested(
        with_server_id(with_id(msg(MessageType::Request, 1)), SERVER),
        a,
    );
    handle(&mut s, T0, &req, &direct());
    // The same client behind another network card.
    let (offer, _) = reply_of(&handle(
        &mut s,
        T0,
        &with_id(msg(MessageType::Discover, 9)),
        &direct(),
    ));
    assert_eq!(offer.header.yiaddr, a);
}

#[test]
fn a_reservation_by_hardware_address_or_client_identifier_is_given_s4_2() {
    let mut s = server();
    let (offer, _) = reply_of(&handle(
        &mut s,
        T0,
        &msg(MessageType::Discover, 0xaa),
        &direct(),
    ));
    assert_eq!(offer.header.yiaddr, ip("192.0.2.50"));
    let mut m = msg(MessageType::Discover, 7);
    m.push(DhcpOption::new(code::CLIENT_ID, b"\x00printer-7".to_vec()));
    let (offer, _) = reply_of(&handle(&mut s, T0, &m, &direct()));
    assert_eq!(offer.header.yiaddr, ip("192.0.2.51"));
    // A reserved client asking for a pool address gets a NAK: its address is its own.
    let req = with_requested(
        with_server_id(msg(MessageType::Request, 0xaa), SERVER),
        ip("192.0.2.100"),
    );
    let (nak, _) = reply_of(&handle(&mut s, T0, &req, &direct()));
    assert_eq!(nak.message_type(), Some(MessageType::Nak));
}

#[test]
fn a_relayed_request_is_served_from_the_giaddr_subnet_and_answered_to_the_relay_s4_3_1_rfc3046() {
    let mut s = server();
    let mut m = msg(MessageType::Discover, 1);
    m.header.giaddr = GIADDR;
    m.header.hops = 1;
    let agent = vec![1, 3, b'p', b'1', b'7', 2, 2, 0xbe, 0xef];
    m.push(DhcpOption::new(code::RELAY_AGENT_INFO, agent.clone()));
    let o = handle(&mut s, T0, &m, &via_relay(GIADDR));
    assert_eq!(o.subnet_id, Some(11));
    let (offer, dest) = reply_of(&o);
    assert_eq!(offer.header.yiaddr, ip("198.51.100.10"));
    assert_eq!(offer.header.giaddr, GIADDR);
    assert_eq!(offer.lease_time(), Some(600));
    assert_eq!(dest, SocketAddr::from((GIADDR, 67)));
    let last = offer.options.last().unwrap();
    assert_eq!((last.code, &last.data), (code::RELAY_AGENT_INFO, &agent));
}

#[test]
fn a_nak_through_a_relay_has_the_broadcast_bit_set_s4_3_2() {
    let mut s = server();
    let mut req = with_requested(msg(MessageType::Request, 1), ip("192.0.2.100"));
    req.header.giaddr = GIADDR;
    let (nak, dest) = reply_of(&handle(&mut s, T0, &req, &via_relay(GIADDR)));
    assert_eq!(nak.message_type(), Some(MessageType::Nak));
    assert_ne!(nak.header.flags & BROADCAST_FLAG, 0);
    assert_eq!(dest, SocketAddr::from((GIADDR, 67)));
}

#[test]
fn the_link_selection_sub_option_picks_the_subnet_over_giaddr_rfc3527() {
    let mut s = server();
    let mut m = msg(MessageType::Discover, 1);
    m.header.giaddr = GIADDR;
    // Sub-option 5: link selection = 192.0.2.0/24's link.
    m.push(DhcpOption::new(
        code::RELAY_AGENT_INFO,
        vec![5, 4, 192, 0, 2, 0],
    ));
    let o = handle(&mut s, T0, &m, &via_relay(GIADDR));
    assert_eq!(o.subnet_id, Some(10));
    let (offer, dest) = reply_of(&o);
    assert_eq!(offer.header.yiaddr, ip("192.0.2.100"));
    assert_eq!(
        dest,
        SocketAddr::from((GIADDR, 67)),
        "replies still go to giaddr"
    );
}

#[test]
fn the_subnet_selection_option_picks_the_subnet_rfc3011() {
    let mut s = server();
    let mut m = msg(MessageType::Discover, 1);
    m.header.giaddr = GIADDR;
    m.push(DhcpOption::ipv4(
        code::SUBNET_SELECTION,
        ip("203.0.113.200"),
    ));
    assert_eq!(
        handle(&mut s, T0, &m, &via_relay(GIADDR)).subnet_id,
        Some(13)
    );
}

#[test]
fn a_shared_network_serves_its_clients_from_every_subnet_of_the_link() {
    let mut s = server();
    let giaddr = ip("203.0.113.1");
    let mut got = Vec::new();
    for n in 1..=3 {
        let mut m = msg(MessageType::Discover, n);
        m.header.giaddr = giaddr;
        let (offer, _) = reply_of(&handle(&mut s, T0, &m, &via_relay(giaddr)));
        got.push(offer.header.yiaddr);
    }
    // The giaddr subnet's one address first, then the other subnet of the link.
    assert_eq!(
        got,
        vec![ip("203.0.113.10"), ip("203.0.113.130"), ip("203.0.113.131")]
    );
    // Its mask is the address's own subnet's.
    let mut m = msg(MessageType::Discover, 4);
    m.header.giaddr = giaddr;
    let (offer, _) = reply_of(&handle(&mut s, T0, &m, &via_relay(giaddr)));
    assert_eq!(offer.subnet_mask(), Some(ip("255.255.255.128")));
}

#[test]
fn an_exhausted_link_gets_no_offer_and_says_so() {
    let mut s = server();
    for n in 1..=10 {
        let mut m = msg(MessageType::Discover, n);
        m.header.giaddr = GIADDR;
        let o = handle(&mut s, T0, &m, &via_relay(GIADDR));
        let a = reply_of(&o).0.header.yiaddr;
        let mut r = with_requested(
            with_server_id(msg(MessageType::Request, n), RELAY_SERVER_SIDE),
            a,
        );
        r.header.giaddr = GIADDR;
        handle(&mut s, T0, &r, &via_relay(GIADDR));
    }
    let mut m = msg(MessageType::Discover, 11);
    m.header.giaddr = GIADDR;
    let o = handle(&mut s, T0, &m, &via_relay(GIADDR));
    assert_eq!(o.drop, Some(DropReason::NoAddressAvailable));
    assert_eq!(o.exhausted.len(), 1);
    assert_eq!(s.drop_counts().get("no_address_available"), Some(&1));
}

#[test]
fn a_message_from_an_unconfigured_link_is_not_answered() {
    let mut s = server();
    let mut m = msg(MessageType::Discover, 1);
    // 198.51.100.128/25 is no subnet of ours.
    m.header.giaddr = ip("198.51.100.200");
    let o = handle(&mut s, T0, &m, &via_relay(m.header.giaddr));
    assert_eq!(o.drop, Some(DropReason::NoSubnet));
}

#[test]
fn bootp_replies_and_undecodable_datagrams_are_dropped_with_a_reason() {
    let mut s = server();
    let mut bootp = msg(MessageType::Discover, 1);
    bootp.options.clear();
    assert_eq!(
        handle(&mut s, T0, &bootp, &direct()).drop,
        Some(DropReason::Bootp)
    );
    let mut reply = msg(MessageType::Discover, 1);
    reply.header.op = tandem_wire::v4::BOOTREPLY;
    assert_eq!(
        handle(&mut s, T0, &reply, &direct()).drop,
        Some(DropReason::NotARequest)
    );
    let o = s.handle_v4(T0, &[1, 2, 3], &direct());
    assert!(matches!(o.drop, Some(DropReason::Malformed(_))));
    let offer = msg(MessageType::Offer, 1);
    assert_eq!(
        handle(&mut s, T0, &offer, &direct()).drop,
        Some(DropReason::UnknownType)
    );
}

#[test]
fn an_expired_v4_lease_lapses_and_its_client_gets_it_back_s4_3_1() {
    let mut s = server();
    let a = lease_for(&mut s, 1, T0);
    let changes = s.reclaim_expired(T0.plus(3600));
    assert!(matches!(&changes[..], [LeaseChange::Upsert(l)] if l.status == BindingStatus::Expired));
    lease_for(&mut s, 2, T0.plus(3600));
    let (offer, _) = reply_of(&handle(
        &mut s,
        T0.plus(3601),
        &msg(MessageType::Discover, 1),
        &direct(),
    ));
    assert_eq!(offer.header.yiaddr, a);
}

#[test]
fn a_restart_keeps_every_v4_binding_and_the_pools_skip_them() {
    let mut s = server();
    let a = lease_for(&mut s, 1, T0);
    let leases: Vec<_> = s.leases().iter().cloned().collect();
    let mut s = DhcpServer::new(
        config(),
        Duid(vec![0, 1, 2, 3]),
        LeaseTable::from_leases(leases),
    );
    let (offer, _) = reply_of(&handle(
        &mut s,
        T0,
        &msg(MessageType::Discover, 2),
        &direct(),
    ));
    assert_ne!(offer.header.yiaddr, a);
    let (offer, _) = reply_of(&handle(
        &mut s,
        T0,
        &msg(MessageType::Discover, 1),
        &direct(),
    ));
    assert_eq!(offer.header.yiaddr, a);
}

#[test]
fn a_reload_may_not_shrink_a_v4_pool_under_an_active_lease() {
    let mut s = server();
    let a = lease_for(&mut s, 1, T0);
    let mut c = config();
    c.subnets4[0].pools[0].first = ip("192.0.2.101");
    let problems = s.check_reconfigure(&c, T0);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains(&a.to_string()));
    let mut c = config();
    c.subnets4[0].subnet = "192.0.2.0/23".parse().unwrap();
    assert_eq!(s.check_reconfigure(&c, T0).len(), 1);
}

/// The policy a failover pair plugs in decides whom a DHCPv4 server answers; it is asked
/// with the client's RFC 3074 §3 load-balancing key (option 61, else chaddr without the
/// hardware type) and the header's secs, and a refusal drops the message unanswered.
#[test]
fn the_lease_policy_decides_whom_to_answer_by_the_rfc3074_key_and_secs() {
    use std::sync::{Arc, Mutex};
    /// (message type, load-balancing key, secs) of each question.
    type Asked = Vec<(u8, Vec<u8>, u16)>;
    struct Record(Arc<Mutex<Asked>>);
    impl crate::dhcpv6::LeasePolicy for Record {
        fn should_answer4(&self, t: u8, key: &[u8], secs: u16) -> bool {
            self.0.lock().unwrap().push((t, key.to_vec(), secs));
            secs > 3
        }
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut s = server();
    s.set_policy(Box::new(Record(seen.clone())));
    let mut m = msg(MessageType::Discover, 1);
    m.header.secs = 2;
    let o = handle(&mut s, T0, &m, &direct());
    assert!(o.reply.is_none());
    assert_eq!(o.drop, Some(DropReason::Policy));
    m.header.secs = 4;
    m.push(DhcpOption::new(code::CLIENT_ID, b"\x00cpe-1".to_vec()));
    let o = handle(&mut s, T0, &m, &direct());
    assert!(o.reply.is_some());
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0], (1, mac(1).to_vec(), 2));
    assert_eq!(seen[1], (1, b"\x00cpe-1".to_vec(), 4));
}

// ---------------------------------------------------------------- RFC 2131 §4.4.1 probes

/// `server()` with `ping_check` on the eth0 subnet (192.0.2.0/24).
fn probing_server() -> DhcpServer {
    let mut c = config();
    c.subnets4[0].ping_check = true;
    c.subnets4[0].ping_timeout_ms = 250;
    DhcpServer::new(c, Duid(vec![0, 1, 2, 3]), LeaseTable::new())
}

#[test]
fn without_ping_check_an_offer_asks_for_no_probe_rfc2131_s4_4_1() {
    let mut s = server();
    let o = handle(&mut s, T0, &msg(MessageType::Discover, 1), &direct());
    assert_eq!(reply_of(&o).0.message_type(), Some(MessageType::Offer));
    assert_eq!(o.probe, None);
}

#[test]
fn with_ping_check_a_new_address_is_probed_before_it_is_offered_rfc2131_s4_4_1() {
    let mut s = probing_server();
    let o = handle(&mut s, T0, &msg(MessageType::Discover, 1), &direct());
    let (offer, _) = reply_of(&o);
    let probe = o.probe.expect("a probe before the OFFER");
    assert_eq!(probe.address, offer.header.yiaddr);
    assert_eq!(probe.timeout_ms, 250);
    // The same client asking again before the probe ended: the held address, still
    // not the client's, so probed again rather than offered unprobed.
    let again = handle(&mut s, T0, &msg(MessageType::Discover, 1), &direct());
    assert_eq!(again.probe.map(|p| p.address), Some(offer.header.yiaddr));
    // Only the subnet that asks for it probes: the relayed one does not.
    let mut relayed = msg(MessageType::Discover, 2);
    relayed.header.giaddr = GIADDR;
    let o = handle(&mut s, T0, &relayed, &via_relay(GIADDR));
    assert_eq!(reply_of(&o).0.message_type(), Some(MessageType::Offer));
    assert_eq!(o.probe, None);
}

#[test]
fn the_clients_own_binding_and_reservation_are_offered_without_a_probe_rfc2131_s4_4_1() {
    let mut s = probing_server();
    let a = lease_for(&mut s, 1, T0);
    // Its current binding: the client itself may be using it (and would answer).
    let o = handle(&mut s, T0 + 10, &msg(MessageType::Discover, 1), &direct());
    assert_eq!(reply_of(&o).0.header.yiaddr, a);
    assert_eq!(o.probe, None);
    // Its previous binding (released, kept for it: affinity).
    let mut rel = msg(MessageType::Release, 1);
    rel.header.ciaddr = a;
    handle(&mut s, T0 + 20, &rel, &direct());
    let o = handle(&mut s, T0 + 30, &msg(MessageType::Discover, 1), &direct());
    assert_eq!(reply_of(&o).0.header.yiaddr, a);
    assert_eq!(o.probe, None);
    // A reservation (mac(0xaa) has 192.0.2.50).
    let o = handle(&mut s, T0, &msg(MessageType::Discover, 0xaa), &direct());
    assert_eq!(reply_of(&o).0.header.yiaddr, ip("192.0.2.50"));
    assert_eq!(o.probe, None);
}

#[test]
fn an_address_found_in_use_is_quarantined_and_another_offered_rfc2131_s4_4_1() {
    let mut s = probing_server();
    let discover = msg(MessageType::Discover, 1);
    let o = handle(&mut s, T0, &discover, &direct());
    let busy = o.probe.expect("probed").address;
    let changes = s.address_in_use(T0 + 1, busy);
    let quarantined = changes.iter().any(|c| {
        matches!(c, LeaseChange::Upsert(l) if l.resource == Resource::V4Address(busy)
            && l.status == BindingStatus::Abandoned
            // As a DHCPDECLINE (RFC 2131 §4.3.3): the subnet's lease time by default.
            && l.state_expiration == Some(T0 + 1 + 3600))
    });
    assert!(quarantined, "{changes:?}");
    assert_eq!(s.ping_conflicts(), 1);
    // The DHCPDISCOVER submitted again: another address, probed in its turn.
    let o = handle(&mut s, T0 + 1, &discover, &direct());
    let (offer, _) = reply_of(&o);
    assert_ne!(offer.header.yiaddr, busy);
    assert_eq!(o.probe.map(|p| p.address), Some(offer.header.yiaddr));
    // Nobody else gets it while quarantined, even asking for it by option 50.
    let other = with_requested(msg(MessageType::Discover, 2), busy);
    let o = handle(&mut s, T0 + 2, &other, &direct());
    assert_ne!(reply_of(&o).0.header.yiaddr, busy);
    assert_eq!(
        s.leases().get(&Resource::V4Address(busy)).map(|l| l.status),
        Some(BindingStatus::Abandoned)
    );
}

#[test]
fn a_probe_answer_quarantines_for_decline_quarantine_like_a_decline_rfc2131_s4_4_1_s4_3_3() {
    let mut c = config();
    c.subnets4[0].ping_check = true;
    c.decline_quarantine = Some(60);
    let mut s = DhcpServer::new(c, Duid(vec![0, 1, 2, 3]), LeaseTable::new());
    let o = handle(&mut s, T0, &msg(MessageType::Discover, 1), &direct());
    let busy = o.probe.expect("probed").address;
    let changes = s.address_in_use(T0, busy);
    assert!(matches!(changes.as_slice(),
        [LeaseChange::Upsert(l)] if l.state_expiration == Some(T0 + 60)));
    // Once the quarantine is over the address is offered again (and probed again).
    let o = handle(
        &mut s,
        T0 + 61,
        &with_requested(msg(MessageType::Discover, 3), busy),
        &direct(),
    );
    assert_eq!(reply_of(&o).0.header.yiaddr, busy);
    assert_eq!(o.probe.map(|p| p.address), Some(busy));
}

#[test]
fn a_stale_probe_answer_does_not_abandon_an_active_lease_rfc2131_s4_4_1() {
    let mut s = probing_server();
    let a = lease_for(&mut s, 1, T0);
    assert_eq!(s.address_in_use(T0 + 1, a), vec![]);
    assert_eq!(
        s.leases().get(&Resource::V4Address(a)).map(|l| l.status),
        Some(BindingStatus::Active)
    );
    // Nor an address of no DHCPv4 subnet.
    assert_eq!(s.address_in_use(T0 + 1, ip("192.168.0.1")), vec![]);
    assert_eq!(s.ping_conflicts(), 0);
}
