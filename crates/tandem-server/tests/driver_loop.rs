//! The one driver, alone (no partner), over a real loopback socket with the real core and
//! a store the test controls: a reply that acknowledges a binding leaves only after the
//! binding is durable (RFC 8415 §18.3: the Reply commits the lease), one that needs no
//! write (an Advertise) leaves at once, a failed commit withholds the reply, shutdown
//! flushes what is in flight, and lease expiry runs on time however busy the socket is.

use std::collections::BTreeMap;
use std::net::{Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tandem_core::{Duid, LeaseChange, ServerConfig, Time};
use tandem_failover::node::Node;
use tandem_server::{CommitError, Counters, Driver, Mutations, Runner};
use tandem_wire::v6::{Message, MessageType, OptionsExt};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;

#[allow(dead_code)]
mod common;
use common::{msg, HeldSink};

/// Valid lifetime of the test subnet: short, so the expiry tests see a lease run out.
const VALID: u32 = 5;

/// The shared subnet with short lifetimes, so that the expiry tests see a lease run out.
fn config() -> ServerConfig {
    let mut c = common::config();
    c.subnets[0].preferred_lifetime = 3;
    c.subnets[0].valid_lifetime = VALID;
    c
}

type Task =
    tokio::task::JoinHandle<Result<tandem_server::Stopped<HeldSink>, tandem_server::DriverError>>;

struct Harness {
    addr: SocketAddr,
    client: UdpSocket,
    stop: Option<oneshot::Sender<()>>,
    task: Option<Task>,
    counters: Arc<Counters>,
}

async fn start(sink: HeldSink, clock: Arc<AtomicU64>) -> Harness {
    start_with(sink, clock, Mutations::default()).await
}

/// A driver whose loop is broken on purpose by `mutations` (to show a check can fail).
async fn start_with(sink: HeldSink, clock: Arc<AtomicU64>, mutations: Mutations) -> Harness {
    let (socket, addr, _interfaces) = common::loopback_socket();
    let now = Time(clock.load(Ordering::SeqCst));
    let node = Node::standalone(config(), Duid(vec![0, 2, 0, 0, 0, 9, 1]), vec![]);
    let interfaces =
        BTreeMap::from([(tandem_net::interface_index("lo").unwrap(), "lo".to_string())]);
    let driver = Driver {
        runner: Runner::new(node, interfaces, Arc::new(Counters::default()), now)
            .with_mutations(mutations),
        socket: Some(Arc::new(socket)),
        socket4: None,
        sink,
        partner: None,
        ctl: None,
        clock: Box::new(move || Time(clock.load(Ordering::SeqCst))),
        pinger: None,
    };
    let counters = driver.counters();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(driver.run(async {
        let _ = stopped.await;
    }));
    Harness {
        addr,
        client: UdpSocket::bind("[::1]:0").await.unwrap(),
        stop: Some(stop),
        task: Some(task),
        counters,
    }
}

impl Harness {
    async fn send(&self, m: &Message) {
        self.client.send_to(&m.emit(), self.addr).await.unwrap();
    }
    async fn send_raw(&self, bytes: &[u8]) {
        self.client.send_to(bytes, self.addr).await.unwrap();
    }
    async fn recv_within(&self, ms: u64) -> Option<Message> {
        let mut buf = [0u8; 1500];
        match tokio::time::timeout(Duration::from_millis(ms), self.client.recv_from(&mut buf)).await
        {
            Ok(Ok((n, _))) => Some(Message::parse(&buf[..n]).unwrap()),
            _ => None,
        }
    }
    /// Solicit as client `c`; the Advertise's server DUID and address.
    async fn advertise(&self, c: u8) -> (Vec<u8>, Ipv6Addr) {
        self.send(&msg(MessageType::Solicit, c, None, None)).await;
        let adv = self.recv_within(5000).await.expect("an Advertise");
        assert_eq!(adv.msg_type, MessageType::Advertise);
        let sid = adv.server_id().unwrap().to_vec();
        (sid, adv.ia_nas()[0].ia_addrs()[0].addr)
    }
    /// Sends client `c`'s Request for what it was advertised.
    async fn request(&self, c: u8) -> Ipv6Addr {
        let (sid, a) = self.advertise(c).await;
        self.send(&msg(MessageType::Request, c, Some(&sid), Some(a)))
            .await;
        a
    }
    async fn stop(&mut self) -> tandem_server::Stopped<HeldSink> {
        self.stop.take().unwrap().send(()).unwrap();
        let task = self.task.take().unwrap();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the driver stops")
            .unwrap()
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_advertise_leaves_at_once_and_a_malformed_datagram_is_counted() {
    let sink = HeldSink::default();
    let h = start(sink.clone(), Arc::new(AtomicU64::new(1000))).await;
    h.advertise(1).await;
    assert_eq!(
        sink.count(),
        0,
        "an Advertise binds nothing: nothing to write"
    );
    // A Solicit whose Client Identifier option runs past the end of the message.
    h.send_raw(&[1, 0, 0, 1, 0, 1, 0, 9, 0, 3]).await;
    assert!(h.recv_within(200).await.is_none());
    let c = h.counters.snapshot();
    assert_eq!((c.received, c.replied), (2, 1));
    assert_eq!(c.dropped.get("malformed"), Some(&1), "{:?}", c.dropped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_that_binds_waits_for_the_commit() {
    let sink = HeldSink::default();
    let h = start(sink.clone(), Arc::new(AtomicU64::new(1000))).await;
    let a = h.request(1).await;
    sink.wait_for(1).await;
    // At this instant the binding is not durable: no Reply may have left.
    assert!(h.recv_within(300).await.is_none());
    assert_eq!(h.counters.snapshot().pending, 1);
    assert!(
        matches!(&sink.lease_changes()[..], [LeaseChange::Upsert(l)] if l.resource == tandem_core::Resource::Address(a))
    );
    assert_eq!(sink.release_all(Ok(())), 1);
    let reply = h.recv_within(5000).await.expect("the Reply, once durable");
    assert_eq!(reply.msg_type, MessageType::Reply);
    assert_eq!(reply.ia_nas()[0].ia_addrs()[0].addr, a);
    // The counter is bumped around the send: give the driver a moment.
    let mut c = h.counters.snapshot();
    for _ in 0..100 {
        if c.replied == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        c = h.counters.snapshot();
    }
    assert_eq!((c.commits, c.replied, c.pending), (1, 2, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_withholds_the_reply() {
    let sink = HeldSink::default();
    let h = start(sink.clone(), Arc::new(AtomicU64::new(1000))).await;
    h.request(1).await;
    sink.wait_for(1).await;
    sink.release_all(Err(CommitError("disk full".into())));
    assert!(
        h.recv_within(500).await.is_none(),
        "an unstored lease is never acknowledged"
    );
    let c = h.counters.snapshot();
    assert_eq!((c.commits, c.commit_failures, c.replied), (0, 1, 1));
    assert_eq!(c.dropped.get("commit_failed"), Some(&1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_receiving_but_flushes_pending_replies() {
    let sink = HeldSink::default();
    let mut h = start(sink.clone(), Arc::new(AtomicU64::new(1000))).await;
    h.request(1).await;
    sink.wait_for(1).await;
    h.stop.take().unwrap().send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !h.task.as_ref().unwrap().is_finished(),
        "must wait for the pending commit"
    );
    // Arrives after shutdown began: not read.
    h.send(&msg(MessageType::Solicit, 2, None, None)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    sink.release_all(Ok(()));
    let reply = h.recv_within(5000).await.expect("the pending Reply");
    assert_eq!(reply.msg_type, MessageType::Reply);
    let task = h.task.take().unwrap();
    let stopped = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(stopped.sink.count(), 0);
    assert!(
        h.recv_within(200).await.is_none(),
        "nothing answered after shutdown"
    );
    assert_eq!(
        h.counters.snapshot().received,
        2,
        "Solicit and Request only"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lease_is_reclaimed_and_the_change_persisted() {
    let sink = HeldSink::default();
    let clock = Arc::new(AtomicU64::new(1000));
    let mut h = start(sink.clone(), clock.clone()).await;
    let a = h.request(1).await;
    sink.wait_for(1).await;
    sink.release_all(Ok(()));
    h.recv_within(5000).await.expect("Reply");
    // The valid lifetime ends at 1000 + VALID: the loop's timer reclaims it then.
    clock.store(1000 + u64::from(VALID), Ordering::SeqCst);
    sink.wait_for(1).await;
    let changes = sink.lease_changes();
    assert!(
        changes.iter().any(|c| matches!(c, LeaseChange::Upsert(l)
            if l.resource == tandem_core::Resource::Address(a)
                && l.status == tandem_core::BindingStatus::Expired)),
        "{changes:?}"
    );
    sink.release_all(Ok(()));
    let stopped = h.stop().await;
    assert!(!stopped
        .runner
        .node()
        .leases()
        .iter()
        .any(|l| l.is_active_at(Time(1005))));
    let c = h.counters.snapshot();
    assert_eq!((c.reclaimed, c.commits), (1, 2));
    assert_eq!(
        c.timers_fired.get("lease_expiry"),
        Some(&1),
        "{:?}",
        c.timers_fired
    );
}

/// How long after the clock reached a lease's end the driver (run with `mutations`)
/// reclaimed it while Solicits kept arriving; `None` if not within 1.5 s.
async fn expiry_delay_under_a_flood(mutations: Mutations) -> Option<Duration> {
    let sink = HeldSink::default();
    let clock = Arc::new(AtomicU64::new(1000));
    let mut h = start_with(sink.clone(), clock.clone(), mutations).await;
    h.request(1).await;
    sink.wait_for(1).await;
    sink.release_all(Ok(()));
    h.recv_within(5000).await.expect("Reply");
    // Solicits bind nothing: the only write is the expiry's.
    // Bounded at 10 s / 1,000,000 datagrams, stopped as soon as the measurement is done:
    // long enough to outlast the measurement on a loaded machine.
    let flood = common::solicit_flood(h.addr, 10, 1_000_000);
    tokio::time::sleep(Duration::from_millis(500)).await;
    clock.store(1000 + u64::from(VALID), Ordering::SeqCst);
    let due = std::time::Instant::now();
    while sink.count() == 0 && due.elapsed() < Duration::from_millis(1500) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let waited = (sink.count() == 1).then(|| due.elapsed());
    let still_flooding = !flood.is_finished();
    let sent = flood.stop();
    let read = h.counters.snapshot().received;
    eprintln!("{mutations:?}: reclaimed {waited:?} after the clock reached the expiry; {sent} Solicits sent, {read} read");
    assert!(still_flooding, "the flood ended first: nothing shown");
    assert!(read > 1000, "the flood was too thin: {read} read");
    sink.release_all(Ok(()));
    h.stop().await;
    waited
}

/// Lease expiry (RFC 8415 §18.3 lifetimes; RFC 8156 §7.2 EXPIRED) must not wait for the
/// client socket to go quiet: with Solicits arriving all the time, a lease due now is
/// still reclaimed within a second of the clock reaching its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_runs_on_time_while_datagrams_keep_arriving() {
    let waited = expiry_delay_under_a_flood(Mutations::default()).await;
    assert!(
        waited.is_some_and(|w| w <= Duration::from_secs(1)),
        "the lease was not reclaimed within 1 s of its end while Solicits kept arriving \
         ({waited:?})"
    );
}

/// The check above can fail: a loop that runs timers only when idle (the first pair
/// driver's bug) misses the expiry under the same flood.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_check_catches_a_loop_that_runs_timers_only_when_idle() {
    let waited = expiry_delay_under_a_flood(Mutations {
        timers_only_when_idle: true,
        ..Mutations::default()
    })
    .await;
    assert!(
        waited.is_none_or(|w| w > Duration::from_secs(1)),
        "the mutated loop reclaimed on time ({waited:?}): the flood does not load the loop"
    );
}

/// The commit check can fail: a loop that counts a batch durable when it hands it out
/// sends the Reply before the store has it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_check_catches_a_loop_that_sends_before_persist() {
    let sink = HeldSink::default();
    let h = start_with(
        sink.clone(),
        Arc::new(AtomicU64::new(1000)),
        Mutations {
            send_before_persist: true,
            ..Mutations::default()
        },
    )
    .await;
    h.request(1).await;
    sink.wait_for(1).await;
    assert!(
        h.recv_within(1000).await.is_some(),
        "the mutated loop held the Reply: the check would not see the bug"
    );
}
