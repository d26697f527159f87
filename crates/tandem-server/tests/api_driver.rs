//! The control API through the one driver (real core, loopback socket, a store the test
//! holds): an API lease change is answered only once its batch is durable — the rule a
//! client's Reply follows (RFC 8415 §18.3) — and a failed commit is answered with the
//! error, the lease never reported stored. Not a timing test: it waits for events.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tandem_core::{Duid, LeaseChange, Resource, Time};
use tandem_failover::node::Node;
use tandem_server::api::model::{LeaseEdit, LeaseJson};
use tandem_server::{
    CommitDone, CommitError, CommitSink, Counters, CtlRequest, Driver, Mutations, Runner,
};
use tandem_store::Batch;
use tokio::sync::{mpsc, oneshot};

#[allow(dead_code)]
mod common;

#[derive(Clone, Default)]
struct HeldSink {
    held: Arc<Mutex<Vec<(Batch, CommitDone)>>>,
}

impl CommitSink for HeldSink {
    fn submit(&self, batch: Batch, done: CommitDone) {
        self.held.lock().unwrap().push((batch, done));
    }
}

impl HeldSink {
    async fn wait_for(&self, n: usize) {
        for _ in 0..500 {
            if self.held.lock().unwrap().len() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the sink never got {n} batches");
    }
    fn release_all(&self, result: Result<(), CommitError>) {
        let batches: Vec<_> = self.held.lock().unwrap().drain(..).collect();
        for (_, done) in batches {
            let r = result.clone();
            std::thread::spawn(move || done(r)).join().unwrap();
        }
    }
    fn lease_changes(&self) -> Vec<LeaseChange> {
        let held = self.held.lock().unwrap();
        held.iter().flat_map(|(b, _)| b.leases.clone()).collect()
    }
}

fn start(sink: HeldSink) -> (mpsc::Sender<CtlRequest>, oneshot::Sender<()>) {
    start_with(sink, Mutations::default())
}

/// A driver whose loop is broken on purpose by `mutations` (to show the check can fail).
fn start_with(
    sink: HeldSink,
    mutations: Mutations,
) -> (mpsc::Sender<CtlRequest>, oneshot::Sender<()>) {
    let (socket, _addr, interfaces) = common::loopback_socket();
    let node = Node::standalone(common::config(), Duid(vec![0, 2, 0, 0, 0, 9, 1]), vec![]);
    let (tx, rx) = mpsc::channel(8);
    let driver = Driver {
        runner: Runner::new(node, interfaces, Arc::new(Counters::default()), Time(1000))
            .with_mutations(mutations),
        socket: Some(Arc::new(socket)),
        socket4: None,
        sink,
        partner: None,
        ctl: Some(rx),
        clock: Box::new(|| Time(1000)),
        pinger: None,
    };
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(driver.run(async {
        let _ = stopped.await;
    }));
    (tx, stop)
}

fn add(addr: &str) -> LeaseEdit {
    LeaseEdit::Upsert(vec![LeaseJson {
        address: Some(addr.parse().unwrap()),
        duid: "00:03:00:01:02:00:00:00:00:09".into(),
        iaid: 1,
        ..LeaseJson::default()
    }])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_lease_add_is_answered_only_after_its_commit() {
    let sink = HeldSink::default();
    let (tx, _stop) = start(sink.clone());
    let (otx, mut orx) = oneshot::channel();
    tx.send(CtlRequest::Change(add("2001:db8:1::150"), otx))
        .await
        .unwrap();
    sink.wait_for(1).await;
    assert!(
        matches!(&sink.lease_changes()[..], [LeaseChange::Upsert(l)]
            if l.resource == Resource::Address("2001:db8:1::150".parse().unwrap())),
        "the lease is in the batch the driver writes"
    );
    // Written but not durable: no answer yet.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        orx.try_recv().is_err(),
        "answered before the commit was durable"
    );
    sink.release_all(Ok(()));
    let answer = tokio::time::timeout(Duration::from_secs(5), orx)
        .await
        .expect("answered once durable")
        .unwrap()
        .expect("stored");
    assert_eq!(answer.leases[0].state.as_deref(), Some("ACTIVE"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_lease_add_whose_commit_fails_is_answered_with_the_error() {
    let sink = HeldSink::default();
    let (tx, _stop) = start(sink.clone());
    let (otx, orx) = oneshot::channel();
    tx.send(CtlRequest::Change(add("2001:db8:1::151"), otx))
        .await
        .unwrap();
    sink.wait_for(1).await;
    sink.release_all(Err(CommitError("disk full".into())));
    let answer = tokio::time::timeout(Duration::from_secs(5), orx)
        .await
        .expect("answered")
        .unwrap();
    let e = answer.expect_err("a failed commit is not a stored lease");
    assert_eq!(e.status, 500);
    assert!(e.error.contains("disk full"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_lease_outside_every_pool_writes_nothing() {
    let sink = HeldSink::default();
    let (tx, _stop) = start(sink.clone());
    let (otx, orx) = oneshot::channel();
    tx.send(CtlRequest::Change(add("2001:db8:9::1"), otx))
        .await
        .unwrap();
    let e = orx.await.unwrap().expect_err("refused");
    assert_eq!(e.status, 400);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(sink.lease_changes().is_empty());
}

/// The check above fails on a loop that counts a batch durable as soon as it is handed
/// out: the answer then leaves while the batch is still held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answer_check_catches_a_loop_that_sends_before_persist() {
    let sink = HeldSink::default();
    let mutations = Mutations {
        send_before_persist: true,
        ..Mutations::default()
    };
    let (tx, _stop) = start_with(sink.clone(), mutations);
    let (otx, orx) = oneshot::channel();
    tx.send(CtlRequest::Change(add("2001:db8:1::152"), otx))
        .await
        .unwrap();
    sink.wait_for(1).await;
    let early = tokio::time::timeout(Duration::from_millis(300), orx).await;
    assert!(
        matches!(early, Ok(Ok(Ok(_)))),
        "the broken loop answers before the commit is durable"
    );
}
