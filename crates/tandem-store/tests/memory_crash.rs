//! MemoryStore's crash model and the group-commit writer's "never a false success" rule.

mod common;

use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, Sender};

use common::*;
use tandem_core::{Lease, LeaseChange};
use tandem_store::{Batch, GroupCommitWriter, LeaseStore, MemoryStore, StoreError};

fn upsert(n: u32) -> Batch {
    Batch::leases(vec![LeaseChange::Upsert(lease(address(n), n))])
}

fn names(leases: Vec<Lease>) -> Vec<tandem_core::Resource> {
    let mut r: Vec<_> = leases.into_iter().map(|l| l.resource).collect();
    r.sort();
    r
}

#[test]
fn crash_between_write_and_fsync_loses_only_the_unsynced_group() {
    let mut store = MemoryStore::new();
    store.commit(&upsert(1)).unwrap();
    // A group written to the page cache, then the power goes before the fsync.
    store.write_unsynced(&upsert(2)).unwrap();
    store.write_unsynced(&upsert(3)).unwrap();
    assert_eq!(
        store.load_all().unwrap().len(),
        3,
        "readers see the page cache"
    );
    assert_eq!(store.unsynced_batches(), 2);
    store.crash();
    assert_eq!(names(store.load_all().unwrap()), vec![address(1)]);
    assert_eq!(names(store.durable_leases()), vec![address(1)]);
    assert_eq!(store.crashes(), 1);
    // Synced writes survive the next crash.
    store.write_unsynced(&upsert(4)).unwrap();
    store.sync();
    store.crash();
    assert_eq!(
        names(store.load_all().unwrap()),
        vec![address(1), address(4)]
    );
}

#[test]
fn memory_store_is_deterministic() {
    let run = || {
        let mut s = MemoryStore::new();
        for n in [5, 3, 9, 1] {
            s.commit(&upsert(n)).unwrap();
        }
        s.write_unsynced(&upsert(7)).unwrap();
        s.crash();
        (s.load_all().unwrap(), s.syncs())
    };
    assert_eq!(run(), run());
    assert_eq!(run().1, 4);
}

#[test]
fn injected_failure_fails_the_whole_group_and_writes_nothing() {
    let mut store = MemoryStore::new();
    store.fail_next_commit();
    let err = store.commit_group(&[upsert(1), upsert(2)]).unwrap_err();
    assert!(matches!(err, StoreError::Simulated));
    assert!(store.load_all().unwrap().is_empty());
    // Only the next commit fails.
    store.commit(&upsert(3)).unwrap();
    assert_eq!(names(store.load_all().unwrap()), vec![address(3)]);
}

/// A MemoryStore whose writer waits for the test's go-ahead before each group, so the
/// test decides exactly which batches form a group and which group fails.
struct Gated {
    inner: MemoryStore,
    entered: Sender<()>,
    go: Receiver<bool>,
}

impl LeaseStore for Gated {
    fn load_all(&mut self) -> Result<Vec<Lease>, StoreError> {
        self.inner.load_all()
    }
    fn commit(&mut self, batch: &Batch) -> Result<(), StoreError> {
        self.commit_group(std::slice::from_ref(batch))?.remove(0)
    }
    fn get_meta(&mut self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get_meta(key)
    }
    fn commit_group(&mut self, b: &[Batch]) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let _ = self.entered.send(());
        if self.go.recv().unwrap_or(false) {
            self.inner.fail_next_commit();
        }
        self.inner.commit_group(b)
    }
}

#[test]
fn a_failed_group_acknowledges_nobody() {
    let disk = MemoryStore::new();
    let (entered_tx, entered) = mpsc::channel();
    let (go, go_rx) = mpsc::channel();
    let writer = GroupCommitWriter::start(Gated {
        inner: disk.clone(),
        entered: entered_tx,
        go: go_rx,
    })
    .unwrap();
    let (ack_tx, acks) = mpsc::channel();
    let submit = |n: u32| {
        let ack_tx = ack_tx.clone();
        writer.submit(
            upsert(n),
            Box::new(move |r| ack_tx.send((n, r.is_ok())).unwrap()),
        );
    };
    // T0: batch 1 arrives and its group starts; batches 2..=5 queue behind it.
    submit(1);
    entered.recv().unwrap();
    for n in 2..=5 {
        submit(n);
    }
    // Group [1] commits; group [2, 3, 4, 5] fails at its fsync.
    go.send(false).unwrap();
    entered.recv().unwrap();
    go.send(true).unwrap();
    let stats = std::sync::Arc::clone(writer.stats());
    drop(go);
    writer.shutdown();
    drop(ack_tx);
    assert_eq!(
        acks.iter().collect::<Vec<_>>(),
        vec![(1, true), (2, false), (3, false), (4, false), (5, false)]
    );
    assert_eq!(stats.groups.load(Ordering::Relaxed), 2);
    assert_eq!(stats.largest_group.load(Ordering::Relaxed), 4);
    assert_eq!(stats.batches.load(Ordering::Relaxed), 1);
    assert_eq!(stats.failed_batches.load(Ordering::Relaxed), 4);
    disk.crash();
    assert_eq!(names(disk.clone().load_all().unwrap()), vec![address(1)]);
}
