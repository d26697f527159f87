//! One behaviour contract, run against every LeaseStore implementation.
//!
//! `conformance_suite!` instantiates every generic check for a backend. A backend's
//! `open()` opens a *new handle on the same data*: for SQLite it reopens the file, for the
//! in-memory store it first simulates a crash, so only what was acknowledged as durable
//! can be seen afterwards (RFC 8156 §7.3: what a server acknowledged must be remembered).

mod common;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};

use common::*;
use tandem_core::{Lease, LeaseChange, Resource, Time};
use tandem_store::{Batch, GroupCommitWriter, LeaseStore, MemoryStore, SqliteStore, StoreError};

trait Backend {
    type S: LeaseStore + 'static;
    /// A fresh handle on this backend's data (close + reopen, or crash + restart).
    fn open(&self) -> Self::S;
}

struct Sqlite {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn sqlite() -> Sqlite {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leases.db");
    Sqlite { _dir: dir, path }
}

impl Backend for Sqlite {
    type S = SqliteStore;
    fn open(&self) -> SqliteStore {
        SqliteStore::open(&self.path).unwrap()
    }
}

struct Memory(MemoryStore);

fn memory() -> Memory {
    Memory(MemoryStore::new())
}

impl Backend for Memory {
    type S = MemoryStore;
    fn open(&self) -> MemoryStore {
        self.0.crash();
        self.0.clone()
    }
}

fn sorted(mut v: Vec<Lease>) -> Vec<Lease> {
    v.sort_by_key(|l| l.resource);
    v
}

fn resources(store: &mut impl LeaseStore) -> Vec<Resource> {
    let mut r: Vec<_> = store
        .load_all()
        .unwrap()
        .into_iter()
        .map(|l| l.resource)
        .collect();
    r.sort();
    r
}

fn upserts(leases: &[Lease]) -> Batch {
    Batch::leases(leases.iter().cloned().map(LeaseChange::Upsert).collect())
}

/// A lease no backend can store: SQLite integers are signed 64-bit.
fn unstorable(n: u32) -> Lease {
    let mut bad = lease(address(n), n);
    bad.failover.partner_raw_cltt = Some(Time(u64::MAX));
    bad
}

// RFC 8156 §7.3: every per-lease variable, including the failover ones, round-trips,
// for addresses and delegated prefixes alike, across a reopen.
fn round_trips_every_field(b: impl Backend) {
    let mut store = b.open();
    assert!(store.load_all().unwrap().is_empty());
    let mut no_options = lease(address(3), 9);
    no_options.state_expiration = None;
    no_options.duid = tandem_core::Duid(Vec::new());
    let all = vec![
        full_lease(address(1)),
        full_lease(prefix(2)),
        no_options,
        lease(prefix(0xffff), u32::MAX),
    ];
    store.commit(&upserts(&all)).unwrap();
    assert_eq!(sorted(store.load_all().unwrap()), sorted(all.clone()));
    drop(store);
    assert_eq!(sorted(b.open().load_all().unwrap()), sorted(all));
}

// RFC 8415 §7.7 infinite lifetimes: a lease that never expires keeps "never" in every
// expiry column (state expiration and the three RFC 8156 §7.3 lifetimes) across a reopen.
fn round_trips_never_expiring_leases(b: impl Backend) {
    let never = Time::NEVER;
    let mut store = b.open();
    let mut l = full_lease(address(1));
    l.status = tandem_core::BindingStatus::Active;
    l.preferred_lifetime = u32::MAX;
    l.valid_lifetime = u32::MAX;
    l.t1 = u32::MAX;
    l.t2 = u32::MAX;
    l.state_expiration = Some(never);
    l.failover.expiration_time = Some(never);
    l.failover.acked_partner_lifetime = Some(never);
    l.failover.partner_lifetime = Some(never);
    store.commit(&upserts(std::slice::from_ref(&l))).unwrap();
    assert_eq!(store.load_all().unwrap(), vec![l.clone()]);
    drop(store);
    assert_eq!(b.open().load_all().unwrap(), vec![l]);
}

fn upsert_replaces_and_remove_forgets(b: impl Backend) {
    let mut store = b.open();
    let a = full_lease(address(1));
    let p = full_lease(prefix(2));
    store.commit(&upserts(&[a.clone(), p.clone()])).unwrap();
    let mut renewed = a.clone();
    renewed.cltt = Time(1_900_000_000);
    renewed.state_expiration = None;
    renewed.failover = Default::default();
    store
        .commit(&Batch::leases(vec![
            LeaseChange::Upsert(renewed.clone()),
            LeaseChange::Remove(p.resource),
            LeaseChange::Remove(address(77)), // removing what is not there is fine
        ]))
        .unwrap();
    assert_eq!(store.load_all().unwrap(), vec![renewed.clone()]);
    drop(store);
    assert_eq!(b.open().load_all().unwrap(), vec![renewed]);
}

// RFC 8156 §8: the endpoint state lives in meta and must change together with leases.
fn meta_set_replace_delete(b: impl Backend) {
    let mut store = b.open();
    assert_eq!(store.get_meta("server-duid").unwrap(), None);
    store.put_meta("server-duid", vec![0, 1, 2]).unwrap();
    assert_eq!(store.get_meta("server-duid").unwrap(), Some(vec![0, 1, 2]));
    store
        .commit(&upserts(&[lease(address(5), 5)]).put_meta("failover-state", vec![7]))
        .unwrap();
    store
        .commit(
            &Batch::default()
                .put_meta("server-duid", vec![9])
                .delete_meta("failover-state")
                .put_meta("other", vec![]),
        )
        .unwrap();
    drop(store);
    let mut store = b.open();
    assert_eq!(store.get_meta("server-duid").unwrap(), Some(vec![9]));
    assert_eq!(store.get_meta("failover-state").unwrap(), None);
    assert_eq!(store.get_meta("other").unwrap(), Some(vec![]));
    assert_eq!(resources(&mut store), vec![address(5)]);
}

// A batch is all-or-nothing: one bad lease and neither its neighbours nor its meta land.
fn a_bad_batch_changes_nothing(b: impl Backend) {
    let mut store = b.open();
    store.commit(&upserts(&[lease(address(1), 1)])).unwrap();
    let batch = Batch::leases(vec![
        LeaseChange::Upsert(lease(address(2), 2)),
        LeaseChange::Remove(address(1)),
        LeaseChange::Upsert(unstorable(3)),
    ])
    .put_meta("k", vec![1]);
    let err = store.commit(&batch).unwrap_err();
    assert!(err.to_string().contains("partner_raw_cltt"), "{err}");
    assert_eq!(resources(&mut store), vec![address(1)]);
    assert_eq!(store.get_meta("k").unwrap(), None);
    drop(store);
    assert_eq!(resources(&mut b.open()), vec![address(1)]);
}

// commit_group: one durability point, yet each batch stays atomic on its own.
fn commit_group_reports_each_batch(b: impl Backend) {
    let mut store = b.open();
    let results = store
        .commit_group(&[
            upserts(&[lease(address(1), 1)]),
            upserts(&[lease(address(2), 2), unstorable(3)]),
            upserts(&[lease(address(4), 4)]).put_meta("m", vec![4]),
        ])
        .unwrap();
    let oks: Vec<bool> = results.iter().map(Result::is_ok).collect();
    assert_eq!(oks, vec![true, false, true]);
    drop(store);
    let mut store = b.open();
    assert_eq!(resources(&mut store), vec![address(1), address(4)]);
    assert_eq!(store.get_meta("m").unwrap(), Some(vec![4]));
}

// Many threads submit through the group-commit writer: every batch is acknowledged Ok
// exactly once, and every acknowledged lease is there after a reopen.
fn group_commit_with_concurrent_submitters(b: impl Backend) {
    const THREADS: u32 = 8;
    const PER_THREAD: u32 = 250;
    let writer = Arc::new(GroupCommitWriter::start(b.open()).unwrap());
    let (ack_tx, ack_rx) = mpsc::channel();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let writer = Arc::clone(&writer);
            let ack_tx = ack_tx.clone();
            std::thread::spawn(move || {
                for i in 0..PER_THREAD {
                    let n = t * 1000 + i;
                    let ack_tx = ack_tx.clone();
                    writer.submit(
                        upserts(&[lease(address(n), n)]),
                        Box::new(move |r| ack_tx.send((n, r.is_ok())).unwrap()),
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let stats = Arc::clone(writer.stats());
    Arc::try_unwrap(writer).ok().unwrap().shutdown();
    drop(ack_tx);
    let mut acks: Vec<_> = ack_rx.iter().collect();
    acks.sort();
    let expected: Vec<_> = (0..THREADS)
        .flat_map(|t| (0..PER_THREAD).map(move |i| (t * 1000 + i, true)))
        .collect();
    assert_eq!(acks, expected);
    let total = u64::from(THREADS * PER_THREAD);
    assert_eq!(stats.batches.load(Ordering::Relaxed), total);
    assert_eq!(stats.changes.load(Ordering::Relaxed), total);
    assert_eq!(stats.failed_batches.load(Ordering::Relaxed), 0);
    let groups = stats.groups.load(Ordering::Relaxed);
    assert!((1..=total).contains(&groups), "{groups} groups");
    assert!(stats.largest_group.load(Ordering::Relaxed) >= 1);
    let stored = resources(&mut b.open());
    let mut want: Vec<_> = expected.iter().map(|(n, _)| address(*n)).collect();
    want.sort();
    assert_eq!(stored, want);
}

fn group_commit_bad_batch_fails_alone(b: impl Backend) {
    let writer = GroupCommitWriter::start(b.open()).unwrap();
    let (tx, rx) = mpsc::channel();
    for (n, l) in [
        (1, lease(address(1), 1)),
        (2, unstorable(2)),
        (3, lease(address(3), 3)),
    ] {
        let tx = tx.clone();
        writer.submit(
            upserts(&[l]),
            Box::new(move |r| tx.send((n, r.is_ok())).unwrap()),
        );
    }
    writer.shutdown();
    drop(tx);
    // Callbacks run in submission order.
    assert_eq!(
        rx.iter().collect::<Vec<_>>(),
        vec![(1, true), (2, false), (3, true)]
    );
    assert_eq!(resources(&mut b.open()), vec![address(1), address(3)]);
}

fn group_commit_shutdown_flushes_everything_queued(b: impl Backend) {
    let writer = GroupCommitWriter::start(b.open()).unwrap();
    let acked = Arc::new(std::sync::atomic::AtomicU32::new(0));
    for n in 0..500 {
        let acked = Arc::clone(&acked);
        writer.submit(
            upserts(&[lease(address(n), n)]),
            Box::new(move |r| {
                if r.is_ok() {
                    acked.fetch_add(1, Ordering::SeqCst);
                }
            }),
        );
    }
    writer.shutdown();
    assert_eq!(acked.load(Ordering::SeqCst), 500);
    assert_eq!(b.open().load_all().unwrap().len(), 500);
}

// DHCPv4 leases (RFC 2131) round-trip every field, the hardware address (RFC 2131 §2:
// htype + chaddr) and the client key (client identifier or htype + chaddr, §4.2) included,
// across a reopen.
fn round_trips_every_field_of_v4_leases(b: impl Backend) {
    let mut store = b.open();
    // A record back in the pool: no client, no hardware address, no timeout.
    let mut pool_record = v4_lease(v4_address(2), 2);
    pool_record.status = tandem_core::BindingStatus::Free;
    pool_record.duid = tandem_core::Duid(Vec::new());
    pool_record.hw_address = Vec::new();
    pool_record.state_expiration = None;
    // The longest hardware address (htype + the 16 bytes of chaddr) and a client keyed by
    // htype + chaddr because it sent no client identifier.
    let mut long_hw = v4_lease(v4_address(3), 3);
    long_hw.hw_address = (0..17).collect();
    long_hw.duid = tandem_core::Duid(long_hw.hw_address.clone());
    let ends = [
        v4_lease(Resource::V4Address([0, 0, 0, 0].into()), 4),
        v4_lease(Resource::V4Address([255, 255, 255, 255].into()), 5),
    ];
    let mut all = vec![full_v4_lease(v4_address(1)), pool_record, long_hw];
    all.extend(ends);
    store.commit(&upserts(&all)).unwrap();
    assert_eq!(sorted(store.load_all().unwrap()), sorted(all.clone()));
    drop(store);
    assert_eq!(sorted(b.open().load_all().unwrap()), sorted(all));
}

// One batch may hold DHCPv4 and DHCPv6 changes; an IPv4 address and its IPv4-mapped IPv6
// address are two different leases; an upsert replaces a v4 lease's hardware address.
fn mixed_v4_and_v6_batches(b: impl Backend) {
    let mut store = b.open();
    let mapped = Resource::Address(std::net::Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped());
    let first = vec![
        full_lease(address(1)),
        full_lease(prefix(2)),
        v4_lease(v4_address(1), 1),
        lease(mapped, 9),
        v4_lease(v4_address(2), 2),
    ];
    store.commit(&upserts(&first)).unwrap();
    assert_eq!(store.load_all().unwrap().len(), 5);
    let mut new_nic = v4_lease(v4_address(2), 2);
    new_nic.hw_address = vec![1, 0x02, 0, 0, 0, 0, 0x99];
    new_nic.cltt = Time(1_900_000_000);
    store
        .commit(&Batch::leases(vec![
            LeaseChange::Remove(v4_address(1)),
            LeaseChange::Upsert(new_nic.clone()),
            LeaseChange::Remove(prefix(2)),
            LeaseChange::Upsert(v4_lease(v4_address(3), 3)),
        ]))
        .unwrap();
    let want = sorted(vec![
        full_lease(address(1)),
        lease(mapped, 9),
        new_nic,
        v4_lease(v4_address(3), 3),
    ]);
    assert_eq!(sorted(store.load_all().unwrap()), want);
    // A mixed batch is still all or nothing.
    let mut bad = v4_lease(v4_address(4), 4);
    bad.failover.partner_raw_cltt = Some(Time(u64::MAX));
    let err = store
        .commit(&Batch::leases(vec![
            LeaseChange::Upsert(lease(address(5), 5)),
            LeaseChange::Remove(v4_address(3)),
            LeaseChange::Upsert(bad),
        ]))
        .unwrap_err();
    assert!(err.to_string().contains("partner_raw_cltt"), "{err}");
    drop(store);
    assert_eq!(sorted(b.open().load_all().unwrap()), want);
}

macro_rules! conformance_suite {
    ($name:ident, $backend:expr) => {
        mod $name {
            use super::*;
            #[test]
            fn round_trips_every_field_rfc8156_7_3() {
                round_trips_every_field($backend);
            }
            #[test]
            fn round_trips_never_expiring_leases_rfc8415_7_7() {
                super::round_trips_never_expiring_leases($backend);
            }
            #[test]
            fn upsert_replaces_and_remove_forgets() {
                super::upsert_replaces_and_remove_forgets($backend);
            }
            #[test]
            fn meta_rides_in_batches_rfc8156_8() {
                meta_set_replace_delete($backend);
            }
            #[test]
            fn a_bad_batch_changes_nothing() {
                super::a_bad_batch_changes_nothing($backend);
            }
            #[test]
            fn commit_group_reports_each_batch() {
                super::commit_group_reports_each_batch($backend);
            }
            #[test]
            fn group_commit_with_concurrent_submitters() {
                super::group_commit_with_concurrent_submitters($backend);
            }
            #[test]
            fn group_commit_bad_batch_fails_alone() {
                super::group_commit_bad_batch_fails_alone($backend);
            }
            #[test]
            fn group_commit_shutdown_flushes_everything_queued() {
                super::group_commit_shutdown_flushes_everything_queued($backend);
            }
            #[test]
            fn round_trips_every_field_of_v4_leases_rfc2131() {
                super::round_trips_every_field_of_v4_leases($backend);
            }
            #[test]
            fn mixed_v4_and_v6_batches() {
                super::mixed_v4_and_v6_batches($backend);
            }
        }
    };
}

conformance_suite!(sqlite_store, sqlite());
conformance_suite!(memory_store, memory());

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
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 99, .. }),
        "{err}"
    );
}

#[test]
fn sqlite_corrupt_row_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leases.db");
    let mut store = SqliteStore::open(&path).unwrap();
    store.commit(&upserts(&[lease(address(1), 1)])).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("UPDATE leases SET status = 0", []).unwrap();
    drop(conn);
    let err = store.load_all().unwrap_err();
    assert!(err.to_string().contains("binding status 0"), "{err}");
}

/// The `name` column of a query on the database file at `path`.
fn names(path: &std::path::Path, sql: &str) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut q = conn.prepare(sql).unwrap();
    q.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Indexes SQLite keeps on the lease table (each is written on every commit).
fn lease_indexes(path: &std::path::Path) -> Vec<String> {
    names(
        path,
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'leases' AND sql IS NOT NULL",
    )
}

#[test]
fn a_commit_writes_no_secondary_index_of_the_lease_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leases.db");
    drop(SqliteStore::open(&path).unwrap());
    assert_eq!(lease_indexes(&path), Vec::<String>::new());
}

#[test]
fn a_version_1_database_is_migrated_and_keeps_its_leases() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leases.db");
    let mut store = SqliteStore::open(&path).unwrap();
    store.commit(&upserts(&[lease(address(1), 1)])).unwrap();
    drop(store);
    // What a version-1 file looks like: its index, no hwaddr column (v3), and version 1
    // recorded.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE INDEX leases_by_client ON leases (duid, iaid);
         ALTER TABLE leases DROP COLUMN hwaddr;
         DELETE FROM schema_version; INSERT INTO schema_version (version) VALUES (1);",
    )
    .unwrap();
    drop(conn);
    assert_eq!(lease_indexes(&path), ["leases_by_client"]);

    let mut store = SqliteStore::open(&path).unwrap();
    assert_eq!(resources(&mut store), vec![address(1)]);
    drop(store);
    assert_eq!(lease_indexes(&path), Vec::<String>::new());
    assert_eq!(schema_version(&path), 3);
}

fn schema_version(path: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("SELECT max(version) FROM schema_version", [], |r| r.get(0))
        .unwrap()
}

/// Columns of the lease table, in order.
fn lease_columns(path: &std::path::Path) -> Vec<String> {
    names(path, "SELECT name FROM pragma_table_info('leases')")
}

#[test]
fn a_version_2_database_is_migrated_to_3_and_keeps_its_leases() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leases.db");
    let mut store = SqliteStore::open(&path).unwrap();
    let v6 = vec![
        full_lease(address(1)),
        full_lease(prefix(2)),
        lease(address(3), 3),
    ];
    store.commit(&upserts(&v6)).unwrap();
    store.put_meta("server-duid", vec![0, 1]).unwrap();
    drop(store);
    // What a version-2 file looks like: no hwaddr column, version 2 recorded.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "ALTER TABLE leases DROP COLUMN hwaddr;
         DELETE FROM schema_version; INSERT INTO schema_version (version) VALUES (2);",
    )
    .unwrap();
    drop(conn);
    assert!(!lease_columns(&path).contains(&"hwaddr".to_string()));

    let mut store = SqliteStore::open(&path).unwrap();
    assert_eq!(sorted(store.load_all().unwrap()), sorted(v6.clone()));
    assert_eq!(store.get_meta("server-duid").unwrap(), Some(vec![0, 1]));
    // The migrated file takes DHCPv4 leases.
    let v4 = full_v4_lease(v4_address(1));
    store.commit(&upserts(std::slice::from_ref(&v4))).unwrap();
    drop(store);
    assert_eq!(schema_version(&path), 3);
    assert_eq!(
        lease_columns(&path).last().map(String::as_str),
        Some("hwaddr")
    );
    let mut want = v6;
    want.push(v4);
    assert_eq!(
        sorted(SqliteStore::open(&path).unwrap().load_all().unwrap()),
        sorted(want)
    );
}

/// A damaged DHCPv4 row (kind 2) is reported, never a panic: its address must be 4 bytes
/// and its prefix length 32; a DHCPv6 address row must still hold 16 bytes.
#[test]
fn sqlite_bad_v4_rows_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leases.db");
    let mut store = SqliteStore::open(&path).unwrap();
    store
        .commit(&upserts(&[v4_lease(v4_address(1), 1)]))
        .unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let damage = |sql: &str| {
        conn.execute(sql, []).unwrap();
    };
    damage("UPDATE leases SET addr = zeroblob(16)");
    let err = store.load_all().unwrap_err().to_string();
    assert!(err.contains("IPv4 address is not 4 bytes"), "{err}");
    damage("UPDATE leases SET addr = x'0a000001', plen = 24");
    let err = store.load_all().unwrap_err().to_string();
    assert!(err.contains("10.0.0.1/24"), "{err}");
    assert!(err.contains("not 32"), "{err}");
    damage("UPDATE leases SET plen = 32, kind = 0");
    let err = store.load_all().unwrap_err().to_string();
    assert!(err.contains("address is not 16 bytes"), "{err}");
    damage("UPDATE leases SET kind = 2");
    assert_eq!(store.load_all().unwrap(), vec![v4_lease(v4_address(1), 1)]);
}
