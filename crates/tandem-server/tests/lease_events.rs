//! The runner's counters for metrics, fed with real DHCPv6 messages (no sockets, no clock):
//! each lease change is counted as the event it is — granted by a Request, renewed by a
//! Renew, released by a Release, expired and then reclaimed by the timers — and messages
//! are counted by type, received and answered.

#[allow(dead_code)]
mod common;

use std::collections::BTreeMap;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::sync::Arc;

use tandem_core::config::{AddressPool, Subnet};
use tandem_core::{Duid, ServerConfig, Time};
use tandem_failover::node::Node;
use tandem_net::RecvMeta;
use tandem_server::{Counters, CountersSnapshot, Runner};
use tandem_wire::v6::{DhcpOption, Message, MessageType, RelayMessage};

const VALID: u32 = 10;
const AFFINITY: u32 = 5;

fn config() -> ServerConfig {
    let mut s = Subnet::new(1, "2001:db8:1::/64".parse().unwrap());
    s.interface = Some("eth0".into());
    s.preferred_lifetime = 5;
    s.valid_lifetime = VALID;
    s.pools.push(AddressPool {
        first: "2001:db8:1::100".parse().unwrap(),
        last: "2001:db8:1::1ff".parse().unwrap(),
    });
    ServerConfig {
        subnets: vec![s],
        affinity_time: AFFINITY,
        ..ServerConfig::default()
    }
}

/// A client message (tests/common's), as bytes.
fn msg(t: MessageType, c: u8, sid: Option<&[u8]>, addr: Option<Ipv6Addr>) -> Vec<u8> {
    common::msg(t, c, sid, addr).emit()
}

struct Server {
    runner: Runner,
    counters: Arc<Counters>,
    now: Time,
}

impl Server {
    fn new() -> Self {
        let counters = Arc::new(Counters::default());
        let node = Node::standalone(config(), Duid(vec![0, 2, 0, 0, 0, 9, 1]), vec![]);
        let now = Time(1_000_000);
        let runner = Runner::new(
            node,
            BTreeMap::from([(2, "eth0".to_string())]),
            counters.clone(),
            now,
        );
        Server {
            runner,
            counters,
            now,
        }
    }

    /// One datagram through a loop turn; commits are made durable at once. The replies.
    fn send(&mut self, bytes: &[u8]) -> Vec<Message> {
        let meta = RecvMeta {
            src: SocketAddrV6::new("fe80::1".parse().unwrap(), 546, 0, 2),
            dst: "ff02::1:2".parse().unwrap(),
            ifindex: 2,
            truncated: false,
        };
        self.runner.turn(self.now);
        self.runner.on_datagram(self.now, bytes, &meta);
        self.settle()
    }

    /// As [`Self::send`], wrapped in a RELAY-FORW from a relay on the subnet's link
    /// (RFC 8415 §9.1); the Replies unwrapped from their RELAY-REPL.
    fn send_relayed(&mut self, bytes: &[u8]) -> Vec<Message> {
        let forw = RelayMessage {
            msg_type: MessageType::RelayForw,
            hop_count: 0,
            link_address: "2001:db8:1::1".parse().unwrap(),
            peer_address: "fe80::42".parse().unwrap(),
            options: vec![DhcpOption::RelayMsg(bytes.to_vec())],
        };
        let meta = RecvMeta {
            src: SocketAddrV6::new("2001:db8:ff::1".parse().unwrap(), 547, 0, 0),
            dst: "2001:db8:ff::2".parse().unwrap(),
            ifindex: 9,
            truncated: false,
        };
        self.runner.turn(self.now);
        self.runner.on_datagram(self.now, &forw.emit(), &meta);
        let mut replies = Vec::new();
        loop {
            let a = self.runner.take_actions();
            if a.commits.is_empty() && a.replies.is_empty() {
                return replies;
            }
            for (b, _) in &a.replies {
                let repl = RelayMessage::parse(b).unwrap();
                for o in &repl.options {
                    if let DhcpOption::RelayMsg(inner) = o {
                        replies.push(Message::parse(inner).unwrap());
                    }
                }
            }
            for (id, _) in a.commits {
                self.runner.on_committed(id, Ok(()));
            }
        }
    }

    /// Carries out the actions until nothing is left, every commit succeeding.
    fn settle(&mut self) -> Vec<Message> {
        let mut replies = Vec::new();
        loop {
            let a = self.runner.take_actions();
            if a.commits.is_empty() && a.replies.is_empty() {
                return replies;
            }
            replies.extend(a.replies.iter().map(|(b, _)| Message::parse(b).unwrap()));
            for (id, _) in a.commits {
                self.runner.on_committed(id, Ok(()));
            }
        }
    }

    fn advance(&mut self, secs: u64) {
        self.now = Time(self.now.0 + secs);
        self.runner.turn(self.now);
        self.settle();
    }

    fn snapshot(&self) -> CountersSnapshot {
        self.counters.snapshot()
    }

    /// Solicit and Request for client `c`: the server DUID and the address granted.
    fn lease(&mut self, c: u8) -> (Vec<u8>, Ipv6Addr) {
        let adv = self.send(&msg(MessageType::Solicit, c, None, None));
        let (sid, addr) = ids(&adv[0]);
        let reply = self.send(&msg(MessageType::Request, c, Some(&sid), Some(addr)));
        assert_eq!(reply.len(), 1, "one Reply to the Request");
        (sid, addr)
    }
}

fn ids(m: &Message) -> (Vec<u8>, Ipv6Addr) {
    let mut sid = None;
    let mut addr = None;
    for o in &m.options {
        match o {
            DhcpOption::ServerId(s) => sid = Some(s.clone()),
            DhcpOption::IaNa(ia) => {
                for i in &ia.options {
                    if let DhcpOption::IaAddr(a) = i {
                        addr = Some(a.addr);
                    }
                }
            }
            _ => {}
        }
    }
    (sid.expect("server id"), addr.expect("an address"))
}

fn count(m: &BTreeMap<&'static str, u64>, k: &str) -> u64 {
    m.get(k).copied().unwrap_or(0)
}

#[test]
fn a_request_counts_one_granted_lease_and_an_advertise_none() {
    let mut s = Server::new();
    s.send(&msg(MessageType::Solicit, 1, None, None));
    let c = s.snapshot();
    assert_eq!(
        count(&c.lease_events, "granted"),
        0,
        "an Advertise grants nothing"
    );
    assert_eq!(count(&c.received_by_type, "solicit"), 1);
    assert_eq!(count(&c.sent_by_type, "advertise"), 1);
    s.lease(2);
    let c = s.snapshot();
    assert_eq!(count(&c.lease_events, "granted"), 1, "{c:?}");
    assert_eq!(count(&c.received_by_type, "request"), 1);
    assert_eq!(count(&c.sent_by_type, "reply"), 1);
    assert_eq!(
        c.commit_group_changes.count, 0,
        "measured by the driver, not the runner"
    );
}

#[test]
fn renew_release_expiry_and_reclaim_are_each_their_own_event() {
    let mut s = Server::new();
    let (sid, addr) = s.lease(1);
    s.send(&msg(MessageType::Renew, 1, Some(&sid), Some(addr)));
    let c = s.snapshot();
    assert_eq!(count(&c.lease_events, "renewed"), 1, "{c:?}");
    assert_eq!(count(&c.lease_events, "granted"), 1);
    s.send(&msg(MessageType::Release, 1, Some(&sid), Some(addr)));
    assert_eq!(count(&s.snapshot().lease_events, "released"), 1);
    // Client 2's lease runs out: expired at the end of its valid lifetime, then returned to
    // the pool once the affinity time is over (as is client 1's released one).
    s.lease(2);
    s.advance(u64::from(VALID) + 1);
    let c = s.snapshot();
    assert_eq!(count(&c.lease_events, "expired"), 1, "{c:?}");
    assert_eq!(
        count(&c.lease_events, "reclaimed"),
        1,
        "the released lease: {c:?}"
    );
    s.advance(u64::from(AFFINITY) + 1);
    let c = s.snapshot();
    assert_eq!(count(&c.lease_events, "expired"), 1, "{c:?}");
    assert_eq!(count(&c.lease_events, "reclaimed"), 2, "{c:?}");
    assert_eq!(count(&c.lease_events, "granted"), 2);
}

/// A relayed client's events are named as a direct client's: the event is the message
/// inside the RELAY-FORW (RFC 8415 §9), not the relay wrapper.
#[test]
fn a_relayed_renew_is_renewed_and_a_relayed_release_released_like_direct_ones() {
    let mut s = Server::new();
    let adv = s.send_relayed(&msg(MessageType::Solicit, 3, None, None));
    assert_eq!(adv.len(), 1, "an Advertise through the relay");
    let (sid, addr) = ids(&adv[0]);
    s.send_relayed(&msg(MessageType::Request, 3, Some(&sid), Some(addr)));
    assert_eq!(count(&s.snapshot().lease_events, "granted"), 1);
    s.send_relayed(&msg(MessageType::Renew, 3, Some(&sid), Some(addr)));
    let c = s.snapshot();
    assert_eq!(count(&c.lease_events, "renewed"), 1, "{c:?}");
    assert_eq!(count(&c.lease_events, "granted"), 1, "{c:?}");
    s.send_relayed(&msg(MessageType::Rebind, 3, None, Some(addr)));
    assert_eq!(count(&s.snapshot().lease_events, "renewed"), 2);
    s.send_relayed(&msg(MessageType::Release, 3, Some(&sid), Some(addr)));
    assert_eq!(count(&s.snapshot().lease_events, "released"), 1);
    assert_eq!(
        s.snapshot().received_by_type.get("renew"),
        Some(&1),
        "counted by the inner message type"
    );
}

#[test]
fn an_undecodable_datagram_is_counted_as_such_and_dropped() {
    let mut s = Server::new();
    s.send(&[1, 2]);
    let c = s.snapshot();
    assert_eq!(count(&c.received_by_type, "undecodable"), 1, "{c:?}");
    assert_eq!(c.received, 1);
    assert_eq!(c.dropped_total(), 1);
    assert!(c.lease_events.is_empty());
}
