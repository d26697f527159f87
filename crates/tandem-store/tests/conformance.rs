//! One behaviour contract, run against every LeaseStore implementation.

mod common;

use common::*;
use tandem_core::{Lease, LeaseChange, Time};
use tandem_store::{Batch, LeaseStore, MemoryStore, SqliteStore};

fn sorted(mut v: Vec<Lease>) -> Vec<Lease> {
    v.sort_by_key(|l| l.resource);
    v
}

/// Runs the contract; `reopen` closes the store and opens it again on the same data.
fn contract<S: LeaseStore>(mut store: S, reopen: impl Fn(S) -> S) {
    // Empty at first.
    assert!(store.load_all().unwrap().is_empty());
    assert_eq!(store.get_meta("server-duid").unwrap(), None);

    // Every field round-trips, addresses and prefixes alike.
    let a = full_lease(address(1));
    let p = full_lease(prefix(2));
    let plain = lease(address(3), 9);
    store
        .commit(&Batch::leases(vec![
            LeaseChange::Upsert(a.clone()),
            LeaseChange::Upsert(p.clone()),
            LeaseChange::Upsert(plain.clone()),
        ]))
        .unwrap();
    assert_eq!(
        sorted(store.load_all().unwrap()),
        sorted(vec![a.clone(), p.clone(), plain.clone()])
    );

    // Upsert replaces the row for the same resource; remove forgets it.
    let mut renewed = plain.clone();
    renewed.cltt = Time(1_900_000_000);
    renewed.state_expiration = None;
    store
        .commit(&Batch::leases(vec![
            LeaseChange::Upsert(renewed.clone()),
            LeaseChange::Remove(a.resource),
        ]))
        .unwrap();
    assert_eq!(
        sorted(store.load_all().unwrap()),
        sorted(vec![p.clone(), renewed.clone()])
    );

    // Meta values ride in batches, can be replaced and deleted.
    store
        .commit(&Batch::default().put_meta("server-duid", vec![0, 1, 2]))
        .unwrap();
    store
        .commit(&Batch::default().put_meta("server-duid", vec![9]))
        .unwrap();
    assert_eq!(store.get_meta("server-duid").unwrap(), Some(vec![9]));
    let mut del = Batch::default().put_meta("other", vec![1]);
    del.meta.push(("server-duid".into(), None));
    store.commit(&del).unwrap();
    assert_eq!(store.get_meta("server-duid").unwrap(), None);
    assert_eq!(store.get_meta("other").unwrap(), Some(vec![1]));

    // Everything survives a close and reopen.
    let mut store = reopen(store);
    assert_eq!(sorted(store.load_all().unwrap()), sorted(vec![p, renewed]));
    assert_eq!(store.get_meta("other").unwrap(), Some(vec![1]));
}

#[test]
fn memory_store_meets_the_contract() {
    // Reopen = crash and restart: only committed (synced) data may remain, and all of it.
    contract(MemoryStore::new(), |s| {
        s.crash();
        s.clone()
    });
}

#[test]
fn sqlite_store_meets_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leases.db");
    contract(SqliteStore::open(&path).unwrap(), |s| {
        drop(s);
        SqliteStore::open(&path).unwrap()
    });
}

#[test]
fn sqlite_batch_with_an_unstorable_value_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&dir.path().join("leases.db")).unwrap();
    let good = lease(address(1), 1);
    let mut bad = lease(address(2), 2);
    bad.cltt = Time(u64::MAX); // beyond SQLite's signed 64-bit integers
    let err = store
        .commit(&Batch::leases(vec![
            LeaseChange::Upsert(good),
            LeaseChange::Upsert(bad),
        ]))
        .unwrap_err();
    assert!(err.to_string().contains("cltt"), "{err}");
    assert!(store.load_all().unwrap().is_empty(), "batch must be atomic");
}

#[test]
fn memory_store_crash_loses_only_unsynced_writes() {
    let mut store = MemoryStore::new();
    store
        .commit(&Batch::leases(vec![LeaseChange::Upsert(lease(
            address(1),
            1,
        ))]))
        .unwrap();
    store.write_unsynced(&Batch::leases(vec![LeaseChange::Upsert(lease(
        address(2),
        2,
    ))]));
    // Before the crash a reader sees the page cache too.
    assert_eq!(store.load_all().unwrap().len(), 2);
    assert_eq!(store.unsynced_batches(), 1);
    store.crash();
    let left = store.load_all().unwrap();
    assert_eq!(left, vec![lease(address(1), 1)]);
}

#[test]
fn sqlite_refuses_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leases.db");
    drop(SqliteStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("INSERT INTO schema_version (version) VALUES (99)", [])
        .unwrap();
    drop(conn);
    let err = SqliteStore::open(&path).err().expect("must refuse");
    assert!(err.to_string().contains("newer"), "{err}");
}
