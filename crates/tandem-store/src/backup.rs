//! Backing up and restoring the SQLite lease database.
//!
//! A backup is taken with SQLite's online backup API while the server keeps serving:
//! one `sqlite3_backup_step(-1)` copies every page inside one read transaction, so the
//! copy is the database as of one commit — every lease acknowledged before the backup
//! began is in it, and no commit is half in it. In WAL mode the read transaction does
//! not block the server's writer. The copy is written beside its destination, converted
//! to a self-contained rollback-journal file (no `-wal` to carry around), checked, fsync'd
//! and only then renamed into place, so a backup file either is complete or is not there.
//!
//! Restoring replaces the database of a stopped server (the caller holds the data
//! directory's lock) with a checked copy of a backup. The database it replaces is kept
//! beside it as `<db>.before-restore`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use crate::sqlite::SCHEMA_VERSION;

/// Why a backup or restore did not happen. Nothing was changed when one is returned,
/// except where the message says so.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{what} {path}: {why}")]
    Sqlite {
        what: &'static str,
        path: PathBuf,
        why: String,
    },
    #[error("cannot {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a tandem lease database ({why})")]
    NotALeaseDatabase { path: PathBuf, why: String },
    #[error(
        "{path} has lease database schema version {found}, newer than this tandem understands \
         ({supported}); restore it with the tandem version that wrote it"
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("{path} failed SQLite's integrity check: {why}")]
    Damaged { path: PathBuf, why: String },
    #[error("the backup file {path} is the lease database itself")]
    SameFile { path: PathBuf },
    #[error("the lease database stayed busy; try again ({path})")]
    Busy { path: PathBuf },
}

/// What a checked lease database holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbSummary {
    pub schema_version: i64,
    /// Rows in the lease table (every binding status, not only active leases).
    pub leases: u64,
    /// Keys of the meta table (server DUID, failover state, ...), sorted.
    pub meta_keys: Vec<String>,
}

/// How long to keep trying when the source is busy (a checkpoint or a writer holding
/// an exclusive lock for a moment): the server's commits are milliseconds long.
const BUSY_TRIES: u32 = 200;
const BUSY_PAUSE: Duration = Duration::from_millis(25);

fn sqlite_err<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl Fn(rusqlite::Error) -> BackupError + 'a {
    move |e| BackupError::Sqlite {
        what,
        path: path.to_path_buf(),
        why: e.to_string(),
    }
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl Fn(std::io::Error) -> BackupError + 'a {
    move |e| BackupError::Io {
        what,
        path: path.to_path_buf(),
        source: e,
    }
}

/// Copies every page of `from` into `to` in one step (one read transaction on `from`).
fn copy_all(from: &Connection, to: &mut Connection, path: &Path) -> Result<(), BackupError> {
    let backup = Backup::new(from, to).map_err(sqlite_err("cannot start the backup of", path))?;
    for _ in 0..BUSY_TRIES {
        match backup
            .step(-1)
            .map_err(sqlite_err("cannot copy the pages of", path))?
        {
            StepResult::Done => return Ok(()),
            // -1 copies everything at once, so More is not expected; Busy/Locked are
            // transient (another connection holds a lock for a moment).
            _ => std::thread::sleep(BUSY_PAUSE),
        }
    }
    Err(BackupError::Busy {
        path: path.to_path_buf(),
    })
}

/// Checks a lease database file (read only): SQLite's quick_check, a schema version this
/// code understands, and the lease and meta tables.
pub fn inspect(path: &Path) -> Result<DbSummary, BackupError> {
    if !path.is_file() {
        return Err(BackupError::Io {
            what: "read",
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite_err("cannot open", path))?;
    summarize(&conn, path)
}

fn summarize(conn: &Connection, path: &Path) -> Result<DbSummary, BackupError> {
    let not_ours = |e: rusqlite::Error| BackupError::NotALeaseDatabase {
        path: path.to_path_buf(),
        why: e.to_string(),
    };
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(not_ours)?;
    if check != "ok" {
        return Err(BackupError::Damaged {
            path: path.to_path_buf(),
            why: check,
        });
    }
    let version: Option<i64> = conn
        .query_row("SELECT max(version) FROM schema_version", [], |r| r.get(0))
        .map_err(not_ours)?;
    let Some(version) = version else {
        return Err(BackupError::NotALeaseDatabase {
            path: path.to_path_buf(),
            why: "no schema version".into(),
        });
    };
    if version > SCHEMA_VERSION {
        return Err(BackupError::SchemaTooNew {
            path: path.to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    let leases: i64 = conn
        .query_row("SELECT count(*) FROM leases", [], |r| r.get(0))
        .map_err(not_ours)?;
    let mut stmt = conn
        .prepare("SELECT key FROM meta ORDER BY key")
        .map_err(not_ours)?;
    let meta_keys = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(not_ours)?;
    Ok(DbSummary {
        schema_version: version,
        leases: u64::try_from(leases).unwrap_or(0),
        meta_keys,
    })
}

/// A sibling path for a file being written (same directory, so the rename is atomic).
fn temp_beside(path: &Path, what: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{what}-tmp-{}", std::process::id()));
    path.with_file_name(name)
}

fn fsync_file_and_dir(path: &Path) -> Result<(), BackupError> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io_err("fsync", path))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync the directory", dir))
}

fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// Writes a consistent copy of the live database `db` to `dest` (replacing `dest` only
/// once the copy is complete and checked). Safe while a server is committing to `db`:
/// the source is opened read-only and read in one transaction.
pub fn backup(db: &Path, dest: &Path) -> Result<DbSummary, BackupError> {
    if same_file(db, dest) {
        return Err(BackupError::SameFile {
            path: dest.to_path_buf(),
        });
    }
    if !db.is_file() {
        return Err(BackupError::Io {
            what: "back up",
            path: db.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no lease database (has the server ever run with this data_dir?)",
            ),
        });
    }
    // Opened read-write (never created) although only read: a read-only connection to a
    // WAL database leaves `-wal` and `-shm` files behind when it is the last one, owned
    // by whoever ran the backup (root) and unwritable for the service user. As the last
    // connection, a read-write one folds the WAL back and removes both.
    let src = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite_err("cannot open", db))?;
    src.busy_timeout(Duration::from_secs(5))
        .map_err(sqlite_err("cannot set up", db))?;
    let result = backup_from(&src, db, dest);
    drop(src);
    // Should this process have created them (the server stopped meanwhile and we were
    // interrupted), the WAL files must still belong to the database's owner.
    for suffix in ["-wal", "-shm"] {
        let f = with_suffix(db, suffix);
        if f.exists() {
            let _ = copy_owner(db, &f);
        }
    }
    result
}

fn backup_from(src: &Connection, db: &Path, dest: &Path) -> Result<DbSummary, BackupError> {
    let tmp = temp_beside(dest, "backup");
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let mut out = Connection::open(&tmp).map_err(sqlite_err("cannot create", &tmp))?;
        copy_all(src, &mut out, db)?;
        // The copied header says WAL; a backup is one self-contained file.
        out.pragma_update(None, "journal_mode", "DELETE")
            .map_err(sqlite_err("cannot finish", &tmp))?;
        let summary = summarize(&out, &tmp)?;
        drop(out);
        fsync_file_and_dir(&tmp)?;
        std::fs::rename(&tmp, dest).map_err(io_err("move the backup into place at", dest))?;
        fsync_file_and_dir(dest)?;
        Ok(summary)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Replaces the database `db` with a checked copy of `backup`, minus the meta values
/// named in `drop_meta`. The caller must hold the data directory (no server running).
/// The replaced database, if any, is kept as `<db>.before-restore` (replacing an older
/// one). The new file gets the owner of the one it replaces (or of its directory), so a
/// restore run as root leaves a database the service user can open.
pub fn restore(backup: &Path, db: &Path, drop_meta: &[&str]) -> Result<DbSummary, BackupError> {
    if same_file(backup, db) {
        return Err(BackupError::SameFile {
            path: backup.to_path_buf(),
        });
    }
    inspect(backup)?;
    let owner_ref = if db.exists() {
        db.to_path_buf()
    } else {
        db.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf()
    };
    let src = Connection::open_with_flags(
        backup,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite_err("cannot open", backup))?;
    let tmp = temp_beside(db, "restore");
    let _ = std::fs::remove_file(&tmp);
    let built = (|| {
        let mut out = Connection::open(&tmp).map_err(sqlite_err("cannot create", &tmp))?;
        copy_all(&src, &mut out, backup)?;
        out.pragma_update(None, "journal_mode", "DELETE")
            .map_err(sqlite_err("cannot finish", &tmp))?;
        for key in drop_meta {
            out.execute("DELETE FROM meta WHERE key = ?1", [key])
                .map_err(sqlite_err("cannot clear meta values in", &tmp))?;
        }
        let summary = summarize(&out, &tmp)?;
        drop(out);
        copy_owner(&owner_ref, &tmp)?;
        fsync_file_and_dir(&tmp)?;
        Ok(summary)
    })();
    let summary = match built {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    set_aside(db)?;
    std::fs::rename(&tmp, db).map_err(io_err("move the restored database into place at", db))?;
    fsync_file_and_dir(db)?;
    Ok(summary)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// Moves `db` and its WAL files aside as `<db>.before-restore[-wal|-shm]`. A WAL left
/// next to the new database would be replayed into it (SQLite matches a WAL to its
/// database by file name only), so it must go; the WAL goes first so that no crash in
/// between leaves a database with a foreign WAL.
fn set_aside(db: &Path) -> Result<(), BackupError> {
    if db.exists() {
        // Fold the WAL into the old database first, so `.before-restore` is one file.
        if let Ok(conn) = Connection::open(db) {
            let _ = conn.pragma_update(None, "journal_mode", "DELETE");
        }
    }
    let aside = with_suffix(db, ".before-restore");
    for suffix in ["-wal", "-shm", ""] {
        let from = with_suffix(db, suffix);
        let to = with_suffix(&aside, suffix);
        if suffix.is_empty() {
            // An older set-aside WAL must not pair up with the new set-aside database.
            for old in ["-wal", "-shm"] {
                let stale = with_suffix(&aside, old);
                if stale.exists() && !with_suffix(db, old).exists() {
                    let _ = std::fs::remove_file(&stale);
                }
            }
        }
        if from.exists() {
            std::fs::rename(&from, &to).map_err(io_err("move aside", &from))?;
        }
    }
    Ok(())
}

/// Gives `path` the owner and group of `reference` (only when they differ; needs root).
fn copy_owner(reference: &Path, path: &Path) -> Result<(), BackupError> {
    use std::os::unix::fs::MetadataExt;
    let want = std::fs::metadata(reference).map_err(io_err("stat", reference))?;
    let have = std::fs::metadata(path).map_err(io_err("stat", path))?;
    if (want.uid(), want.gid()) != (have.uid(), have.gid()) {
        match std::os::unix::fs::chown(path, Some(want.uid()), Some(want.gid())) {
            Ok(()) => {}
            // Same owner, another group we are not in: the owner can still open it.
            Err(_) if want.uid() == have.uid() => {}
            Err(e) => return Err(io_err("give the owner of the data directory to", path)(e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Batch, LeaseStore, SqliteStore};
    use std::net::Ipv6Addr;
    use tandem_core::{BindingStatus, Duid, Lease, LeaseChange, Resource, Time};

    fn lease(n: u32) -> Lease {
        Lease {
            resource: Resource::Address(Ipv6Addr::from(0x2001_0db8_u128 << 96 | u128::from(n))),
            status: BindingStatus::Active,
            duid: Duid(n.to_be_bytes().to_vec()),
            hw_address: Vec::new(),
            iaid: n,
            subnet_id: 1,
            preferred_lifetime: 3000,
            valid_lifetime: 4000,
            t1: 1500,
            t2: 2400,
            cltt: Time(1_800_000_000),
            start_time_of_state: Time(1_800_000_000),
            state_expiration: Some(Time(1_800_004_000)),
            failover: Default::default(),
        }
    }

    fn put(store: &mut SqliteStore, range: std::ops::Range<u32>) {
        let mut b = Batch::default();
        for i in range {
            b.leases.push(LeaseChange::Upsert(lease(i)));
        }
        store.commit(&b).unwrap();
    }

    #[test]
    fn backup_of_a_database_in_use_has_every_committed_lease_and_is_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("leases.db");
        let mut store = SqliteStore::open(&db).unwrap();
        put(&mut store, 0..100);
        store
            .put_meta("failover.endpoint", b"state=8\n".to_vec())
            .unwrap();
        // The store stays open (the server runs): its WAL holds the commits.
        assert!(dir.path().join("leases.db-wal").exists());
        let dest = dir.path().join("backup.db");
        let s = backup(&db, &dest).unwrap();
        assert_eq!(s.leases, 100);
        assert_eq!(s.schema_version, SCHEMA_VERSION);
        assert_eq!(s.meta_keys, vec!["failover.endpoint".to_string()]);
        assert!(!dir.path().join("backup.db-wal").exists());
        // Later commits reach the live database, not the backup.
        put(&mut store, 100..110);
        assert_eq!(store.lease_count().unwrap(), 110);
        let mut copy = SqliteStore::open(&dest).unwrap();
        assert_eq!(copy.load_all().unwrap().len(), 100);
        // No temporary file left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.contains("tmp"))
            .collect();
        assert!(names.is_empty(), "{names:?}");
    }

    #[test]
    fn backup_of_a_stopped_servers_database_works_and_leaves_no_wal() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("leases.db");
        put(&mut SqliteStore::open(&db).unwrap(), 0..5);
        assert!(!dir.path().join("leases.db-wal").exists());
        let s = backup(&db, &dir.path().join("b.db")).unwrap();
        assert_eq!(s.leases, 5);
        assert!(!dir.path().join("leases.db-wal").exists());
        assert!(!dir.path().join("leases.db-shm").exists());
    }

    #[test]
    fn backup_refuses_the_database_itself_and_a_missing_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("leases.db");
        let err = backup(&db, &dir.path().join("b.db"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no lease database"), "{err}");
        put(&mut SqliteStore::open(&db).unwrap(), 0..1);
        let err = backup(&db, &db).unwrap_err().to_string();
        assert!(err.contains("is the lease database itself"), "{err}");
        assert_eq!(inspect(&db).unwrap().leases, 1);
    }

    #[test]
    fn restore_replaces_the_database_drops_named_meta_and_keeps_the_old_one_aside() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("leases.db");
        let mut store = SqliteStore::open(&db).unwrap();
        put(&mut store, 0..10);
        store.put_meta("server_duid", vec![0, 1]).unwrap();
        store
            .put_meta("failover.endpoint", b"state=2\n".to_vec())
            .unwrap();
        let b = dir.path().join("backup.db");
        backup(&db, &b).unwrap();
        put(&mut store, 10..20);
        drop(store);
        let s = restore(&b, &db, &["failover.endpoint"]).unwrap();
        assert_eq!(s.leases, 10);
        assert_eq!(s.meta_keys, vec!["server_duid".to_string()]);
        let mut back = SqliteStore::open(&db).unwrap();
        assert_eq!(back.load_all().unwrap().len(), 10);
        assert_eq!(back.get_meta("failover.endpoint").unwrap(), None);
        assert_eq!(back.get_meta("server_duid").unwrap(), Some(vec![0, 1]));
        let aside = inspect(&dir.path().join("leases.db.before-restore")).unwrap();
        assert_eq!(aside.leases, 20);
    }

    #[test]
    fn restore_refuses_a_newer_schema_and_a_file_that_is_not_a_lease_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("leases.db");
        put(&mut SqliteStore::open(&db).unwrap(), 0..3);
        let newer = dir.path().join("newer.db");
        backup(&db, &newer).unwrap();
        Connection::open(&newer)
            .unwrap()
            .execute("INSERT INTO schema_version (version) VALUES (99)", [])
            .unwrap();
        let err = restore(&newer, &db, &[]).unwrap_err().to_string();
        assert!(err.contains("schema version 99, newer"), "{err}");
        let junk = dir.path().join("junk.db");
        std::fs::write(&junk, b"not sqlite at all, just some text ......").unwrap();
        let err = restore(&junk, &db, &[]).unwrap_err().to_string();
        assert!(err.contains("not a tandem lease database"), "{err}");
        let other = dir.path().join("other.db");
        Connection::open(&other)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        let err = restore(&other, &db, &[]).unwrap_err().to_string();
        assert!(err.contains("not a tandem lease database"), "{err}");
        // The database was not touched by any refused restore.
        assert_eq!(inspect(&db).unwrap().leases, 3);
        assert!(!dir.path().join("leases.db.before-restore").exists());
    }

    #[test]
    fn a_lease_row_of_every_kind_survives_backup_and_restore() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("leases.db");
        let mut store = SqliteStore::open(&db).unwrap();
        let mut pd = lease(7);
        pd.resource = Resource::Prefix("2001:db8:100::/56".parse().unwrap());
        pd.status = BindingStatus::Released;
        pd.failover.update_pending = true;
        let addr = lease(1);
        store
            .commit(&Batch::leases(vec![
                LeaseChange::Upsert(addr.clone()),
                LeaseChange::Upsert(pd.clone()),
            ]))
            .unwrap();
        drop(store);
        let b = dir.path().join("b.db");
        backup(&db, &b).unwrap();
        let other = dir.path().join("other").join("leases.db");
        std::fs::create_dir(other.parent().unwrap()).unwrap();
        restore(&b, &other, &[]).unwrap();
        let mut got = SqliteStore::open(&other).unwrap().load_all().unwrap();
        got.sort_by_key(|l| l.resource);
        let mut want = vec![addr, pd];
        want.sort_by_key(|l| l.resource);
        assert_eq!(got, want);
        assert!(matches!(got[0].resource, Resource::Address(_)));
    }

    /// Schema v3's hwaddr column travels in a backup and back: a DHCPv4 lease keeps its
    /// hardware type and chaddr (RFC 2131 §2) and its client identifier key.
    #[test]
    fn a_v4_lease_keeps_its_hardware_address_through_backup_and_restore() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("leases.db");
        let mut store = SqliteStore::open(&db).unwrap();
        let v4 = Lease {
            resource: Resource::V4Address([192, 0, 2, 10].into()),
            duid: Duid(vec![0xff, 0, 0, 0, 1, 0, 3, 0, 1, 2, 0, 0x5e, 0, 0, 1]),
            hw_address: vec![1, 2, 0, 0x5e, 0, 0, 1],
            iaid: 0,
            preferred_lifetime: 0,
            ..lease(3)
        };
        let v6 = lease(4);
        store
            .commit(&Batch::leases(vec![
                LeaseChange::Upsert(v4.clone()),
                LeaseChange::Upsert(v6.clone()),
            ]))
            .unwrap();
        let b = dir.path().join("b.db");
        assert_eq!(backup(&db, &b).unwrap().leases, 2);
        let hw: Vec<u8> = Connection::open(&b)
            .unwrap()
            .query_row("SELECT hwaddr FROM leases WHERE kind = 2", [], |r| r.get(0))
            .unwrap();
        assert_eq!(hw, v4.hw_address, "the backup file has the column");
        drop(store);
        let other = dir.path().join("other").join("leases.db");
        std::fs::create_dir(other.parent().unwrap()).unwrap();
        restore(&b, &other, &[]).unwrap();
        let mut got = SqliteStore::open(&other).unwrap().load_all().unwrap();
        got.sort_by_key(|l| l.resource);
        let mut want = vec![v4, v6];
        want.sort_by_key(|l| l.resource);
        assert_eq!(got, want);
    }

    /// A backup taken before schema v3 restores as it is, and the server's first open
    /// brings it to the current version with every lease.
    #[test]
    fn a_version_2_backup_is_restored_and_migrated_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("leases.db");
        put(&mut SqliteStore::open(&db).unwrap(), 0..5);
        let old = dir.path().join("v2.db");
        backup(&db, &old).unwrap();
        Connection::open(&old)
            .unwrap()
            .execute_batch(
                "ALTER TABLE leases DROP COLUMN hwaddr;
                 DELETE FROM schema_version; INSERT INTO schema_version (version) VALUES (2);",
            )
            .unwrap();
        assert_eq!(inspect(&old).unwrap().schema_version, 2);
        let target = dir.path().join("t").join("leases.db");
        std::fs::create_dir(target.parent().unwrap()).unwrap();
        let s = restore(&old, &target, &[]).unwrap();
        assert_eq!((s.schema_version, s.leases), (2, 5));
        let mut store = SqliteStore::open(&target).unwrap();
        let mut got = store.load_all().unwrap();
        got.sort_by_key(|l| l.resource);
        assert_eq!(got, (0..5).map(lease).collect::<Vec<_>>());
        drop(store);
        assert_eq!(inspect(&target).unwrap().schema_version, SCHEMA_VERSION);
    }
}
