//! DHCPv4 on the one driver, over real loopback sockets with the real core and a store the
//! test controls: an OFFER leaves at once (it promises nothing durable), a DHCPACK only
//! once its lease is durable (RFC 2131 §4.3.2 commits the binding), a failed commit
//! withholds it, and one loop serves DHCPv4 and DHCPv6 at once.
//!
//! The test client acts as a relay on 127.0.0.1 ('giaddr' 127.0.0.1) naming the subnet
//! with the subnet-selection option (RFC 3011), so the reply comes back to it by unicast.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tandem_core::config::AddressPool4;
use tandem_core::{Duid, LeaseChange, Resource, Subnet4, Time};
use tandem_failover::node::Node;
use tandem_net::{BindOptions4, Dhcp4Socket};
use tandem_server::{CommitError, Counters, Driver, Runner};
use tandem_wire::v4::{code, DhcpOption, Header, Message, MessageType, OptionsExt};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;

#[allow(dead_code)]
mod common;
use common::HeldSink;

const POOL_FIRST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);

/// The shared DHCPv6 subnet, and 192.0.2.0/24 with ten addresses for DHCPv4.
fn config() -> tandem_core::ServerConfig {
    let mut c = common::config();
    let mut s = Subnet4::new(40, "192.0.2.0/24".parse().unwrap());
    s.pools.push(AddressPool4 {
        first: POOL_FIRST,
        last: Ipv4Addr::new(192, 0, 2, 109),
    });
    c.subnets4.push(s);
    assert_eq!(c.validate(), vec![]);
    c
}

type Task =
    tokio::task::JoinHandle<Result<tandem_server::Stopped<HeldSink>, tandem_server::DriverError>>;

struct Harness {
    addr4: SocketAddr,
    addr6: SocketAddr,
    client4: UdpSocket,
    client6: UdpSocket,
    stop: Option<oneshot::Sender<()>>,
    task: Option<Task>,
    counters: Arc<Counters>,
}

async fn start(sink: HeldSink) -> Harness {
    start_with(sink, config(), None).await
}

async fn start_with(
    sink: HeldSink,
    config: tandem_core::ServerConfig,
    pinger: Option<tandem_server::PingChannels>,
) -> Harness {
    let (socket6, addr6, interfaces) = common::loopback_socket();
    let socket4 = Dhcp4Socket::bind(&BindOptions4 {
        addr: Ipv4Addr::LOCALHOST,
        port: 0,
    })
    .unwrap();
    let addr4 = SocketAddr::V4(socket4.local_addr().unwrap());
    let clock = Arc::new(AtomicU64::new(1000));
    let node = Node::standalone(config, Duid(vec![0, 2, 0, 0, 0, 9, 4]), vec![]);
    let driver = Driver {
        runner: Runner::new(node, interfaces, Arc::new(Counters::default()), Time(1000)),
        socket: Some(Arc::new(socket6)),
        socket4: Some(Arc::new(socket4)),
        sink,
        partner: None,
        ctl: None,
        clock: Box::new(move || Time(clock.load(Ordering::SeqCst))),
        pinger,
    };
    let counters = driver.counters();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(driver.run(async {
        let _ = stopped.await;
    }));
    Harness {
        addr4,
        addr6,
        client4: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
        client6: UdpSocket::bind("[::1]:0").await.unwrap(),
        stop: Some(stop),
        task: Some(task),
        counters,
    }
}

/// A message from client `n`, relayed by 127.0.0.1 for the 192.0.2.0/24 link.
fn msg(t: MessageType, n: u8) -> Message {
    let mut h = Header {
        xid: 0x4400 + u32::from(n),
        giaddr: Ipv4Addr::LOCALHOST,
        ..Header::default()
    };
    h.set_client_hw_addr(&[2, 0, 0, 0, 4, n]);
    let mut m = Message::new(h);
    m.push(DhcpOption::message_type(t));
    m.push(DhcpOption::ipv4(
        code::SUBNET_SELECTION,
        Ipv4Addr::new(192, 0, 2, 0),
    ));
    m
}

impl Harness {
    async fn send4(&self, m: &Message) {
        self.client4.send_to(&m.emit(), self.addr4).await.unwrap();
    }
    async fn recv4_within(&self, ms: u64) -> Option<Message> {
        let mut buf = [0u8; 1500];
        let got =
            tokio::time::timeout(Duration::from_millis(ms), self.client4.recv_from(&mut buf)).await;
        match got {
            Ok(Ok((n, _))) => Some(Message::parse(&buf[..n]).unwrap()),
            _ => None,
        }
    }
    /// DISCOVER as client `n`: the OFFER.
    async fn offer(&self, n: u8) -> Message {
        self.send4(&msg(MessageType::Discover, n)).await;
        self.recv4_within(2000).await.expect("an OFFER")
    }
    /// REQUEST (SELECTING) for what `offer` offered.
    async fn request(&self, n: u8, offer: &Message) {
        let mut m = msg(MessageType::Request, n);
        m.push(DhcpOption::server_identifier(
            offer.server_identifier().unwrap(),
        ));
        m.push(DhcpOption::ipv4(code::REQUESTED_IP, offer.header.yiaddr));
        self.send4(&m).await;
    }
    async fn stop(&mut self) -> tandem_server::Stopped<HeldSink> {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap().unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_leaves_at_once_and_an_ack_only_once_its_lease_is_durable_s4_3_2() {
    let sink = HeldSink::default();
    let mut h = start(sink.clone()).await;
    let offer = h.offer(1).await;
    assert_eq!(offer.message_type(), Some(MessageType::Offer));
    assert_eq!(offer.header.yiaddr, POOL_FIRST);
    assert_eq!(
        offer.server_identifier(),
        Some(Ipv4Addr::LOCALHOST),
        "our address where the request came in"
    );
    assert_eq!(sink.count(), 0, "an OFFER binds nothing: nothing to write");
    h.request(1, &offer).await;
    sink.wait_for(1).await;
    // Not durable yet: no ACK may have left.
    assert!(h.recv4_within(300).await.is_none());
    assert!(matches!(
        &sink.lease_changes()[..],
        [LeaseChange::Upsert(l)] if l.resource == Resource::V4Address(POOL_FIRST) && l.hw_address == [1, 2, 0, 0, 0, 4, 1]
    ));
    assert_eq!(sink.release_all(Ok(())), 1);
    let ack = h.recv4_within(5000).await.expect("the ACK, once durable");
    assert_eq!(ack.message_type(), Some(MessageType::Ack));
    assert_eq!(ack.header.yiaddr, POOL_FIRST);
    let c = h.counters.snapshot();
    assert_eq!(c.received_by_type.get("dhcpv4_discover"), Some(&1));
    assert_eq!(c.received_by_type.get("dhcpv4_request"), Some(&1));
    assert_eq!(c.sent_by_type.get("dhcpv4_offer"), Some(&1));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_withholds_the_ack_s4_3_2() {
    let sink = HeldSink::default();
    let mut h = start(sink.clone()).await;
    let offer = h.offer(2).await;
    h.request(2, &offer).await;
    sink.wait_for(1).await;
    sink.release_all(Err(CommitError("disk full".into())));
    assert!(
        h.recv4_within(500).await.is_none(),
        "an unstored lease is never acknowledged"
    );
    let c = h.counters.snapshot();
    assert_eq!(c.dropped.get("commit_failed"), Some(&1));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_loop_serves_dhcpv4_and_dhcpv6_at_once() {
    let sink = HeldSink::default();
    let mut h = start(sink.clone()).await;
    let solicit = common::msg(tandem_wire::v6::MessageType::Solicit, 1, None, None);
    h.client6.send_to(&solicit.emit(), h.addr6).await.unwrap();
    h.send4(&msg(MessageType::Discover, 3)).await;
    let mut buf = [0u8; 1500];
    let (n, _) = tokio::time::timeout(Duration::from_secs(2), h.client6.recv_from(&mut buf))
        .await
        .expect("an Advertise")
        .unwrap();
    let adv = tandem_wire::v6::Message::parse(&buf[..n]).unwrap();
    assert_eq!(adv.msg_type, tandem_wire::v6::MessageType::Advertise);
    let offer = h.recv4_within(2000).await.expect("an OFFER");
    assert_eq!(offer.message_type(), Some(MessageType::Offer));
    // A malformed DHCPv4 datagram is counted, not answered.
    h.client4.send_to(&[1, 1, 6], h.addr4).await.unwrap();
    assert!(h.recv4_within(200).await.is_none());
    assert_eq!(h.counters.snapshot().dropped.get("malformed"), Some(&1));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dhcpv4_is_answered_while_a_dhcpv6_flood_keeps_its_socket_full() {
    let sink = HeldSink::default();
    let mut h = start(sink.clone()).await;
    let flood = common::solicit_flood(h.addr6, 10, 1_000_000);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut late = Vec::new();
    for n in 10..20 {
        let sent = std::time::Instant::now();
        h.send4(&msg(MessageType::Discover, n)).await;
        match h.recv4_within(2000).await {
            Some(_) => late.push(sent.elapsed()),
            None => panic!("no OFFER for client {n} during the DHCPv6 flood"),
        }
    }
    let finished_early = flood.is_finished();
    flood.stop();
    assert!(!finished_early, "the flood ended before the measurement");
    let worst = late.iter().max().unwrap();
    assert!(
        *worst < Duration::from_millis(500),
        "worst OFFER delay {worst:?}"
    );
    h.stop().await;
}

// ------------------------------------------------ ping_check (RFC 2131 §4.4.1), fake prober

/// `config()` with ping_check on the DHCPv4 subnet, probes lasting `timeout_ms`.
fn probing_config(timeout_ms: u32) -> tandem_core::ServerConfig {
    let mut c = config();
    c.subnets4[0].ping_check = true;
    c.subnets4[0].ping_timeout_ms = timeout_ms;
    c
}

/// The next echo request the driver asks the (fake) prober for.
async fn next_probe(ends: &mut tandem_server::ping_link::ProberEnds) -> Ipv4Addr {
    tokio::time::timeout(Duration::from_secs(2), ends.requests.recv())
        .await
        .expect("an echo request within 2 s")
        .expect("the driver's end is open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_ping_check_the_offer_waits_for_the_probe_timeout_rfc2131_s4_4_1() {
    let (pinger, mut ends) = tandem_server::ping_link::channels();
    let mut h = start_with(HeldSink::default(), probing_config(400), Some(pinger)).await;
    let sent = std::time::Instant::now();
    h.send4(&msg(MessageType::Discover, 1)).await;
    assert_eq!(next_probe(&mut ends).await, POOL_FIRST, "probed first");
    assert!(
        h.recv4_within(200).await.is_none(),
        "no OFFER while the probe is under way"
    );
    let offer = h
        .recv4_within(3000)
        .await
        .expect("the OFFER after the timeout");
    let waited = sent.elapsed();
    assert_eq!(offer.message_type(), Some(MessageType::Offer));
    assert_eq!(offer.header.yiaddr, POOL_FIRST);
    assert!(
        waited >= Duration::from_millis(400),
        "left after {waited:?}"
    );
    // On time: the loop's own sleep wakes it for the probe, not its 1 s timer tick.
    assert!(waited < Duration::from_millis(900), "left after {waited:?}");
    let c = h.counters.snapshot();
    assert_eq!(c.ping_checks.get("free"), Some(&1));
    assert_eq!(c.sent_by_type.get("dhcpv4_offer"), Some(&1));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_that_answers_is_quarantined_and_another_offered_rfc2131_s4_4_1() {
    let (pinger, mut ends) = tandem_server::ping_link::channels();
    let sink = HeldSink::default();
    let mut h = start_with(sink.clone(), probing_config(300), Some(pinger)).await;
    h.send4(&msg(MessageType::Discover, 1)).await;
    let first = next_probe(&mut ends).await;
    ends.replies.send(first).await.unwrap();
    let second = next_probe(&mut ends).await;
    assert_ne!(
        second, first,
        "the DHCPDISCOVER was answered again, with another"
    );
    let offer = h.recv4_within(3000).await.expect("an OFFER");
    assert_eq!(
        offer.header.yiaddr, second,
        "never the address that answered"
    );
    assert!(h.recv4_within(500).await.is_none(), "one OFFER only");
    sink.wait_for(1).await;
    assert!(sink.lease_changes().iter().any(|c| matches!(c,
        LeaseChange::Upsert(l) if l.resource == Resource::V4Address(first)
            && l.status == tandem_core::BindingStatus::Abandoned)));
    let c = h.counters.snapshot();
    assert_eq!(c.ping_checks.get("in_use"), Some(&1));
    assert_eq!(c.ping_checks.get("free"), Some(&1));
    assert_eq!(c.received_by_type.get("dhcpv4_discover"), Some(&1));
    sink.release_all(Ok(()));
    let stopped = h.stop().await;
    let l = stopped
        .runner
        .node()
        .leases()
        .get(&Resource::V4Address(first))
        .cloned();
    assert_eq!(
        l.map(|l| l.status),
        Some(tandem_core::BindingStatus::Abandoned)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_echo_reply_after_the_offer_left_changes_nothing_rfc2131_s4_4_1() {
    let (pinger, mut ends) = tandem_server::ping_link::channels();
    let sink = HeldSink::default();
    let mut h = start_with(sink.clone(), probing_config(100), Some(pinger)).await;
    let offer = h.offer(1).await;
    let probed = next_probe(&mut ends).await;
    assert_eq!(offer.header.yiaddr, probed);
    ends.replies.send(probed).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sink.count(), 0, "nothing quarantined");
    // The client takes its OFFER as usual.
    h.request(1, &offer).await;
    sink.wait_for(1).await;
    sink.release_all(Ok(()));
    let ack = h.recv4_within(3000).await.expect("the ACK");
    assert_eq!(ack.message_type(), Some(MessageType::Ack));
    assert_eq!(h.counters.snapshot().ping_checks.get("in_use"), None);
    h.stop().await;
}
