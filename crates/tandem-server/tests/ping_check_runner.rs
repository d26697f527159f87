//! The runner's side of the DHCPv4 conflict probe (RFC 2131 §4.4.1), with no sockets:
//! the bound on probes in flight (beyond it a DHCPDISCOVER is dropped, never offered
//! unprobed) and a probe made stale by the client moving on (its OFFER is not sent).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use tandem_core::config::AddressPool4;
use tandem_core::{Duid, ServerConfig, Subnet4, Time};
use tandem_failover::node::Node;
use tandem_net::RecvMeta4;
use tandem_server::ping_check::MAX_PROBES_IN_FLIGHT;
use tandem_server::{Counters, Runner};
use tandem_wire::v4::{code, DhcpOption, Header, Message, MessageType};

const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

/// 192.0.2.0/21 on eth-t, a pool larger than the bound, probes of 1 s.
fn runner() -> Runner {
    let mut s = Subnet4::new(4, "192.0.0.0/21".parse().unwrap());
    s.interface = Some("eth-t".into());
    s.pools.push(AddressPool4 {
        first: Ipv4Addr::new(192, 0, 1, 1),
        last: Ipv4Addr::new(192, 0, 7, 254),
    });
    s.ping_check = true;
    let config = ServerConfig {
        subnets4: vec![s],
        ..ServerConfig::default()
    };
    assert_eq!(config.validate(), vec![]);
    let node = Node::standalone(config, Duid(vec![0, 2, 0, 0, 0, 9, 9]), vec![]);
    let interfaces = BTreeMap::from([(7, "eth-t".to_string())]);
    Runner::new(node, interfaces, Arc::new(Counters::default()), Time(1000))
}

fn msg(t: MessageType, client: u16) -> Message {
    let mut h = Header {
        xid: 0x7000 + u32::from(client),
        ..Header::default()
    };
    let [hi, lo] = client.to_be_bytes();
    h.set_client_hw_addr(&[2, 0, 0, 0, hi, lo]);
    let mut m = Message::new(h);
    m.push(DhcpOption::message_type(t));
    m
}

fn meta() -> RecvMeta4 {
    RecvMeta4 {
        src: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
        dst: Ipv4Addr::BROADCAST,
        local: SERVER,
        ifindex: 7,
        truncated: false,
    }
}

#[test]
fn beyond_the_bound_a_discover_is_dropped_never_offered_unprobed_rfc2131_s4_4_1() {
    let mut r = runner();
    let now = Time(1000);
    r.turn_probes(0);
    for c in 0..MAX_PROBES_IN_FLIGHT as u16 {
        r.on_datagram4(now, &msg(MessageType::Discover, c).emit(), &meta());
    }
    let a = r.take_actions();
    assert_eq!(a.pings4.len(), MAX_PROBES_IN_FLIGHT);
    assert!(a.replies4.is_empty(), "no OFFER before its probe ends");
    let one_more = MAX_PROBES_IN_FLIGHT as u16;
    r.on_datagram4(now, &msg(MessageType::Discover, one_more).emit(), &meta());
    let a = r.take_actions();
    assert!(a.pings4.is_empty() && a.replies4.is_empty(), "{a:?}");
    let c = r.counters().snapshot();
    assert_eq!(c.ping_checks.get("dropped"), Some(&1));
    assert_eq!(c.dropped.get("ping_check_busy"), Some(&1));
    // Their time is up: every held OFFER leaves, none for the dropped client.
    r.turn_probes(999);
    assert!(r.take_actions().replies4.is_empty(), "not before 1 s");
    r.turn_probes(1000);
    let a = r.take_actions();
    assert_eq!(a.replies4.len(), MAX_PROBES_IN_FLIGHT);
    assert_eq!(r.probes_in_flight(), 0);
    assert_eq!(
        r.counters().snapshot().ping_checks.get("free"),
        Some(&(MAX_PROBES_IN_FLIGHT as u64))
    );
}

#[test]
fn a_client_that_moved_on_during_the_probe_gets_no_stale_offer_rfc2131_s4_4_1() {
    let mut r = runner();
    let now = Time(1000);
    r.turn_probes(0);
    r.on_datagram4(now, &msg(MessageType::Discover, 1).emit(), &meta());
    let probed = r.take_actions().pings4;
    assert_eq!(probed.len(), 1);
    // The client took another server's offer (option 54 names it).
    let mut req = msg(MessageType::Request, 1);
    req.push(DhcpOption::server_identifier(Ipv4Addr::new(192, 0, 2, 99)));
    req.push(DhcpOption::ipv4(
        code::REQUESTED_IP,
        Ipv4Addr::new(192, 0, 2, 200),
    ));
    r.on_datagram4(now, &req.emit(), &meta());
    assert_eq!(r.probes_in_flight(), 0);
    r.turn_probes(5_000);
    assert!(
        r.take_actions().replies4.is_empty(),
        "the stale OFFER is not sent"
    );
    // A late echo reply for it changes nothing either.
    r.on_echo_reply(now, probed[0]);
    let a = r.take_actions();
    assert!(a.commits.is_empty() && a.replies4.is_empty() && a.pings4.is_empty());
}
