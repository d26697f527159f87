//! The driver's contract over a real loopback socket, with a scripted core and store:
//! a reply that depends on lease changes leaves only after they are durable
//! (DESIGN.md "SendAfterPersist"; RFC 8415 §18.3 replies acknowledge bindings), a
//! failed commit withholds the reply, and shutdown flushes what is in flight.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tandem_core::{LeaseChange, Resource, Time};
use tandem_net::{BindOptions, Dhcp6Socket, RecvMeta};
use tandem_server::{CommitDone, CommitError, CommitSink, Driver, Engine, Handled};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;

/// Replies "R" + request; a request starting with "C" also changes a lease, "N" gets no
/// reply, "S" gets none either and takes 200 µs of CPU (a core working at its capacity).
#[derive(Default)]
struct ScriptedEngine {
    expiry_at: Option<Time>,
    reclaim_calls: Vec<Time>,
    /// A faulty core: `next_timeout` keeps reporting `expiry_at` after reclaiming.
    stuck: bool,
}

fn change() -> LeaseChange {
    LeaseChange::Remove(Resource::Address("2001:db8::1".parse().unwrap()))
}

impl Engine for ScriptedEngine {
    fn handle(&mut self, _now: Time, bytes: &[u8], _meta: &RecvMeta) -> Handled {
        if bytes.starts_with(b"S") {
            let end = std::time::Instant::now() + Duration::from_micros(200);
            while std::time::Instant::now() < end {
                std::hint::spin_loop();
            }
            return Handled {
                drop_reason: Some("scripted_slow"),
                ..Handled::default()
            };
        }
        if bytes.starts_with(b"N") {
            return Handled {
                drop_reason: Some("scripted_drop"),
                ..Handled::default()
            };
        }
        let mut reply = b"R".to_vec();
        reply.extend_from_slice(bytes);
        Handled {
            reply: Some(reply),
            changes: if bytes.starts_with(b"C") {
                vec![change()]
            } else {
                vec![]
            },
            xid: Some(1),
            ..Handled::default()
        }
    }
    fn reclaim_expired(&mut self, now: Time) -> Vec<LeaseChange> {
        self.reclaim_calls.push(now);
        if self.stuck {
            return vec![];
        }
        match self.expiry_at {
            Some(t) if t <= now => {
                self.expiry_at = None;
                vec![change()]
            }
            _ => vec![],
        }
    }
    fn next_timeout(&self) -> Option<Time> {
        self.expiry_at
    }
}

/// Holds every batch until the test releases it, like a slow fsync.
type Held = Arc<Mutex<Vec<(Vec<LeaseChange>, CommitDone)>>>;

#[derive(Clone, Default)]
struct HeldSink {
    held: Held,
}

impl CommitSink for HeldSink {
    fn submit(&self, batch: Vec<LeaseChange>, done: CommitDone) {
        self.held.lock().unwrap().push((batch, done));
    }
}

impl HeldSink {
    fn count(&self) -> usize {
        self.held.lock().unwrap().len()
    }
    fn release_all(&self, result: Result<(), CommitError>) -> usize {
        let batches: Vec<_> = self.held.lock().unwrap().drain(..).collect();
        let n = batches.len();
        for (_, done) in batches {
            // Completion comes from another thread, as from the store's writer thread.
            let r = result.clone();
            std::thread::spawn(move || done(r)).join().unwrap();
        }
        n
    }
    async fn wait_for(&self, n: usize) {
        for _ in 0..500 {
            if self.count() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("sink never got {n} batches (has {})", self.count());
    }
}

struct Harness {
    port: u16,
    client: UdpSocket,
    stop: Option<oneshot::Sender<()>>,
    task: Option<
        tokio::task::JoinHandle<
            Result<tandem_server::Stopped<ScriptedEngine, HeldSink>, tandem_server::DriverError>,
        >,
    >,
    counters: Arc<tandem_server::Counters>,
}

async fn start(engine: ScriptedEngine, sink: HeldSink, clock: Arc<AtomicU64>) -> Harness {
    let socket = Dhcp6Socket::bind(&BindOptions {
        port: 0,
        ..BindOptions::default()
    })
    .unwrap();
    let port = socket.local_addr().unwrap().port();
    let driver = Driver::new(engine, sink, socket)
        .with_clock(Box::new(move || Time(clock.load(Ordering::SeqCst))));
    let counters = driver.counters();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(driver.run(async {
        let _ = stopped.await;
    }));
    let client = UdpSocket::bind("[::1]:0").await.unwrap();
    Harness {
        port,
        client,
        stop: Some(stop),
        task: Some(task),
        counters,
    }
}

impl Harness {
    async fn send(&self, msg: &[u8]) {
        self.client.send_to(msg, ("::1", self.port)).await.unwrap();
    }
    async fn recv_within(&self, ms: u64) -> Option<Vec<u8>> {
        let mut buf = [0u8; 1500];
        match tokio::time::timeout(Duration::from_millis(ms), self.client.recv_from(&mut buf)).await
        {
            Ok(Ok((n, _))) => Some(buf[..n].to_vec()),
            _ => None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_without_changes_leaves_at_once() {
    let sink = HeldSink::default();
    let h = start(
        ScriptedEngine::default(),
        sink.clone(),
        Arc::new(AtomicU64::new(1000)),
    )
    .await;
    h.send(b"hello").await;
    assert_eq!(h.recv_within(5000).await.as_deref(), Some(&b"Rhello"[..]));
    assert_eq!(sink.count(), 0, "nothing to persist");
    h.send(b"Nope").await;
    assert_eq!(h.recv_within(200).await, None);
    let c = h.counters.snapshot();
    assert_eq!((c.received, c.replied), (2, 1));
    assert_eq!(c.dropped.get("scripted_drop"), Some(&1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_with_changes_waits_for_the_commit() {
    let sink = HeldSink::default();
    let h = start(
        ScriptedEngine::default(),
        sink.clone(),
        Arc::new(AtomicU64::new(1000)),
    )
    .await;
    h.send(b"C1").await;
    h.send(b"C2").await;
    sink.wait_for(2).await;
    // At this instant the changes are not durable: no reply may have left.
    assert_eq!(h.recv_within(300).await, None);
    assert_eq!(h.counters.snapshot().pending, 2);
    // Both transactions were waiting on the same "fsync".
    assert_eq!(sink.release_all(Ok(())), 2);
    let mut got = vec![
        h.recv_within(5000).await.unwrap(),
        h.recv_within(5000).await.unwrap(),
    ];
    got.sort();
    assert_eq!(got, vec![b"RC1".to_vec(), b"RC2".to_vec()]);
    // The counter is bumped just after the send returns: give the driver a moment (this
    // raced under load in CI).
    let mut c = h.counters.snapshot();
    for _ in 0..100 {
        if c.replied == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        c = h.counters.snapshot();
    }
    assert_eq!((c.commits, c.replied, c.pending), (2, 2, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_commit_withholds_the_reply() {
    let sink = HeldSink::default();
    let h = start(
        ScriptedEngine::default(),
        sink.clone(),
        Arc::new(AtomicU64::new(1000)),
    )
    .await;
    h.send(b"C1").await;
    sink.wait_for(1).await;
    sink.release_all(Err(CommitError("disk full".into())));
    assert_eq!(
        h.recv_within(500).await,
        None,
        "an unstored lease is never acknowledged"
    );
    let c = h.counters.snapshot();
    assert_eq!((c.commits, c.commit_failures, c.replied), (0, 1, 0));
    assert_eq!(c.dropped.get("commit_failed"), Some(&1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_receiving_but_flushes_pending_replies() {
    let sink = HeldSink::default();
    let mut h = start(
        ScriptedEngine::default(),
        sink.clone(),
        Arc::new(AtomicU64::new(1000)),
    )
    .await;
    h.send(b"C1").await;
    sink.wait_for(1).await;
    h.stop.take().unwrap().send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !h.task.as_ref().unwrap().is_finished(),
        "must wait for the pending commit"
    );
    // Arrives after shutdown began: not processed.
    h.send(b"late").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    sink.release_all(Ok(()));
    assert_eq!(h.recv_within(5000).await.as_deref(), Some(&b"RC1"[..]));
    let task = h.task.take().unwrap();
    let stopped = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(stopped.sink.count(), 0);
    assert_eq!(
        h.recv_within(200).await,
        None,
        "nothing answered after shutdown"
    );
    assert_eq!(h.counters.snapshot().received, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_timer_reclaims_and_persists() {
    let sink = HeldSink::default();
    let clock = Arc::new(AtomicU64::new(1000));
    let engine = ScriptedEngine {
        expiry_at: Some(Time(1001)),
        ..ScriptedEngine::default()
    };
    let mut h = start(engine, sink.clone(), clock.clone()).await;
    // The core's next timeout is 1 s away by its clock: the timer sleeps that long.
    clock.store(1001, Ordering::SeqCst);
    sink.wait_for(1).await;
    assert_eq!(sink.held.lock().unwrap()[0].0, vec![change()]);
    sink.release_all(Ok(()));
    h.stop.take().unwrap().send(()).unwrap();
    let task = h.task.take().unwrap();
    let stopped = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(stopped.engine.reclaim_calls.contains(&Time(1001)));
    let c = h.counters.snapshot();
    assert_eq!((c.reclaimed, c.commits, c.replied), (1, 1, 0));
}

/// Lease expiry (RFC 8415 §18.3 lifetimes; RFC 8156 §7.2 EXPIRED) must not wait for the
/// client socket to go quiet: with datagrams arriving faster than the core handles them
/// (there is always one waiting), a lease due now is still reclaimed within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_runs_on_time_while_datagrams_keep_arriving() {
    let sink = HeldSink::default();
    let clock = Arc::new(AtomicU64::new(1000));
    let engine = ScriptedEngine {
        expiry_at: Some(Time(1005)),
        ..ScriptedEngine::default()
    };
    let mut h = start(engine, sink.clone(), clock.clone()).await;
    // About 30,000 datagrams/s for 4 s at most (the core takes 5,000/s): the socket is
    // never empty.
    let port = h.port;
    let flood = std::thread::spawn(move || {
        let s = std::net::UdpSocket::bind("[::1]:0").unwrap();
        let start = std::time::Instant::now();
        let mut sent = 0u64;
        while start.elapsed() < Duration::from_secs(4) && sent < 200_000 {
            for _ in 0..32 {
                let _ = s.send_to(b"Slow", ("::1", port));
                sent += 1;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        sent
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    clock.store(1005, Ordering::SeqCst);
    let due = std::time::Instant::now();
    while sink.count() == 0 && due.elapsed() < Duration::from_millis(1500) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let waited = due.elapsed();
    let still_flooding = !flood.is_finished();
    let reclaimed = sink.count();
    let sent = flood.join().unwrap();
    assert!(
        reclaimed == 1 && waited <= Duration::from_secs(1),
        "expiry due at 1005 not reclaimed {waited:?} after the clock got there while \
         datagrams kept arriving ({sent} sent)"
    );
    assert!(still_flooding, "the flood ended first: nothing shown");
    assert!(h.counters.snapshot().dropped.contains_key("scripted_slow"));
    sink.release_all(Ok(()));
    h.stop.take().unwrap().send(()).unwrap();
    let task = h.task.take().unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

/// A core whose `next_timeout` stays in the past after `reclaim_expired` (a broken
/// contract) must not make the loop spin: it is retried once per second of its clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_still_due_after_reclaiming_is_retried_once_a_second() {
    let clock = Arc::new(AtomicU64::new(1000));
    let engine = ScriptedEngine {
        expiry_at: Some(Time(990)),
        stuck: true,
        ..ScriptedEngine::default()
    };
    let mut h = start(engine, HeldSink::default(), clock.clone()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    clock.store(1001, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(500)).await;
    h.stop.take().unwrap().send(()).unwrap();
    let task = h.task.take().unwrap();
    let stopped = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(stopped.engine.reclaim_calls, vec![Time(1000), Time(1001)]);
}
