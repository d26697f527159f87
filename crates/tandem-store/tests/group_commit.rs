//! The group-commit writer: many submitters, few fsyncs, no false acknowledgement.

mod common;

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;

use common::*;
use tandem_core::{LeaseChange, Time};
use tandem_store::{Batch, GroupCommitWriter, LeaseStore, SqliteStore};

#[test]
fn concurrent_submitters_are_all_acknowledged_and_durable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leases.db");
    let writer = Arc::new(GroupCommitWriter::start(SqliteStore::open(&path).unwrap()).unwrap());
    let (ack_tx, ack_rx) = mpsc::channel();
    let threads: Vec<_> = (0..8u32)
        .map(|t| {
            let writer = Arc::clone(&writer);
            let ack_tx = ack_tx.clone();
            std::thread::spawn(move || {
                for i in 0..250u32 {
                    let n = t * 1000 + i;
                    let ack_tx = ack_tx.clone();
                    writer.submit(
                        Batch::leases(vec![LeaseChange::Upsert(lease(address(n), n))]),
                        Box::new(move |r| ack_tx.send((n, r.is_ok())).unwrap()),
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    drop(ack_tx);
    let acks: Vec<_> = ack_rx.iter().collect();
    assert_eq!(acks.len(), 2000);
    assert!(acks.iter().all(|(_, ok)| *ok));
    let stats = Arc::clone(writer.stats());
    Arc::try_unwrap(writer).ok().unwrap().shutdown();
    assert_eq!(stats.batches.load(Ordering::Relaxed), 2000);
    // Grouping happened: fewer transactions than batches.
    assert!(stats.groups.load(Ordering::Relaxed) <= 2000);
    let mut store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.load_all().unwrap().len(), 2000);
}

#[test]
fn a_bad_batch_fails_alone_within_its_group() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leases.db");
    let writer = GroupCommitWriter::start(SqliteStore::open(&path).unwrap()).unwrap();
    let (tx, rx) = mpsc::channel();
    let mut bad = lease(address(2), 2);
    bad.cltt = Time(u64::MAX);
    for (n, l) in [
        (1, lease(address(1), 1)),
        (2, bad),
        (3, lease(address(3), 3)),
    ] {
        let tx = tx.clone();
        writer.submit(
            Batch::leases(vec![LeaseChange::Upsert(l)]),
            Box::new(move |r| tx.send((n, r.is_ok())).unwrap()),
        );
    }
    writer.shutdown();
    drop(tx);
    let mut results: Vec<_> = rx.iter().collect();
    results.sort();
    assert_eq!(results, vec![(1, true), (2, false), (3, true)]);
    let mut store = SqliteStore::open(&path).unwrap();
    let mut stored: Vec<_> = store
        .load_all()
        .unwrap()
        .into_iter()
        .map(|l| l.resource)
        .collect();
    stored.sort();
    assert_eq!(stored, vec![address(1), address(3)]);
}

#[test]
fn shutdown_flushes_everything_queued() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leases.db");
    let writer = GroupCommitWriter::start(SqliteStore::open(&path).unwrap()).unwrap();
    for n in 0..500 {
        writer.submit(
            Batch::leases(vec![LeaseChange::Upsert(lease(address(n), n))]),
            Box::new(|r| assert!(r.is_ok())),
        );
    }
    writer.shutdown();
    let mut store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.load_all().unwrap().len(), 500);
}
