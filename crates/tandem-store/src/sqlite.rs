//! The embedded default store: SQLite, WAL, `synchronous=FULL`.

use std::path::Path;

use rusqlite::{params, params_from_iter, Connection, OpenFlags};
use tandem_core::{Lease, LeaseChange};

use crate::row::{self, COLUMNS};
use crate::{Batch, LeaseStore, StoreError};

/// Schema version this code writes. Bump it and add a step to `migrate` when the schema changes.
pub(crate) const SCHEMA_VERSION: i64 = 3;

const SCHEMA_V1: &str = "
CREATE TABLE leases (
    kind INTEGER NOT NULL,             -- 0 address, 1 delegated prefix
    addr BLOB NOT NULL,                -- 16 bytes, network order
    plen INTEGER NOT NULL,             -- 128 for addresses
    status INTEGER NOT NULL,           -- RFC 8156 binding status (1 ACTIVE ... 8 RESET)
    duid BLOB NOT NULL,
    iaid INTEGER NOT NULL,
    subnet_id INTEGER NOT NULL,
    preferred INTEGER NOT NULL,
    valid INTEGER NOT NULL,
    t1 INTEGER NOT NULL,
    t2 INTEGER NOT NULL,
    cltt INTEGER NOT NULL,             -- Unix seconds
    start_time_of_state INTEGER NOT NULL,
    state_expiration INTEGER,
    fo_expiration_time INTEGER,
    fo_acked_partner_lifetime INTEGER,
    fo_partner_lifetime INTEGER,
    fo_partner_raw_cltt INTEGER,
    fo_update_pending INTEGER NOT NULL,
    PRIMARY KEY (kind, addr, plen)
) WITHOUT ROWID;
CREATE INDEX leases_by_client ON leases (duid, iaid);
CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
";

/// v2: no secondary index. Nothing ever read `leases_by_client` (the server looks clients
/// up in its in-memory table, loaded once at start), yet every commit wrote its page to
/// the WAL: one more page write and B-tree update per lease change.
const SCHEMA_V2: &str = "DROP INDEX IF EXISTS leases_by_client;";

/// v3: DHCPv4 leases. Kind 2 is an IPv4 address (`addr` 4 bytes, `plen` 32), and `hwaddr`
/// holds a v4 client's hardware type and address (RFC 2131 §2 'htype' + 'chaddr'); it is
/// empty for DHCPv6 leases, which is what every existing row gets.
const SCHEMA_V3: &str = "ALTER TABLE leases ADD COLUMN hwaddr BLOB NOT NULL DEFAULT x'';";

/// `MIGRATIONS[v]` takes a database from version `v` to `v + 1` (version 0: empty file).
const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = [SCHEMA_V1, SCHEMA_V2, SCHEMA_V3];

/// Leases in a SQLite file. Every successful [`LeaseStore::commit`] is fsync'd.
///
/// Durability: the database runs in WAL mode with `synchronous=FULL`, so `COMMIT` returns
/// only after the WAL has been fsync'd. A lease whose commit returned `Ok` survives
/// SIGKILL and power loss (if the disk honours fsync); one whose commit returned `Err`
/// was not applied. Open the file from one process only: tandem has one writer.
pub struct SqliteStore {
    conn: Connection,
}

impl SqliteStore {
    /// Open (creating if needed) the lease database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // WAL + FULL: a commit returns after the WAL is fsync'd. That is our durability line.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.set_prepared_statement_cache_capacity(32);
        let mut store = SqliteStore { conn };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
        let found: Option<i64> =
            tx.query_row("SELECT max(version) FROM schema_version", [], |r| r.get(0))?;
        let found = found.unwrap_or(0);
        if found > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        // One transaction: a crash mid-migration leaves the old version, not a mix.
        for step in &MIGRATIONS[found.max(0) as usize..] {
            tx.execute_batch(step)?;
        }
        if found < SCHEMA_VERSION {
            tx.execute(
                "INSERT INTO schema_version (version) VALUES (?1)",
                [SCHEMA_VERSION],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Number of stored leases (for status output and tests).
    pub fn lease_count(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) FROM leases", [], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

/// Apply one batch inside an open transaction (no commit).
pub(crate) fn apply(tx: &Connection, batch: &Batch) -> Result<(), StoreError> {
    let upsert_sql = format!(
        "INSERT INTO leases ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)
         ON CONFLICT (kind, addr, plen) DO UPDATE SET
           status = excluded.status, duid = excluded.duid, iaid = excluded.iaid,
           subnet_id = excluded.subnet_id, preferred = excluded.preferred, valid = excluded.valid,
           t1 = excluded.t1, t2 = excluded.t2, cltt = excluded.cltt,
           start_time_of_state = excluded.start_time_of_state,
           state_expiration = excluded.state_expiration,
           fo_expiration_time = excluded.fo_expiration_time,
           fo_acked_partner_lifetime = excluded.fo_acked_partner_lifetime,
           fo_partner_lifetime = excluded.fo_partner_lifetime,
           fo_partner_raw_cltt = excluded.fo_partner_raw_cltt,
           fo_update_pending = excluded.fo_update_pending,
           hwaddr = excluded.hwaddr"
    );
    for change in &batch.leases {
        match change {
            LeaseChange::Upsert(lease) => {
                let values = row::to_values(lease)?;
                tx.prepare_cached(&upsert_sql)?
                    .execute(params_from_iter(values))?;
            }
            LeaseChange::Remove(resource) => {
                let (kind, addr, plen) = row::key(resource);
                tx.prepare_cached(
                    "DELETE FROM leases WHERE kind = ?1 AND addr = ?2 AND plen = ?3",
                )?
                .execute(params![kind, &addr[..], plen])?;
            }
        }
    }
    for (key, value) in &batch.meta {
        match value {
            Some(v) => tx
                .prepare_cached(
                    "INSERT INTO meta (key, value) VALUES (?1, ?2)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                )?
                .execute(params![key, v])?,
            None => tx
                .prepare_cached("DELETE FROM meta WHERE key = ?1")?
                .execute(params![key])?,
        };
    }
    Ok(())
}

impl LeaseStore for SqliteStore {
    fn load_all(&mut self) -> Result<Vec<Lease>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {COLUMNS} FROM leases"))?;
        let mut rows = stmt.query([])?;
        let mut leases = Vec::new();
        while let Some(r) = rows.next()? {
            leases.push(row::from_row(r)?);
        }
        Ok(leases)
    }

    fn commit(&mut self, batch: &Batch) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        apply(&tx, batch)?;
        tx.commit()?;
        Ok(())
    }

    /// One transaction (one WAL fsync) for the whole group, a savepoint per batch so that a
    /// batch that fails rolls back alone and its neighbours still commit.
    fn commit_group(
        &mut self,
        batches: &[Batch],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let mut tx = self.conn.transaction()?;
        let mut results = Vec::with_capacity(batches.len());
        for batch in batches {
            let sp = tx.savepoint()?;
            match apply(&sp, batch) {
                Ok(()) => {
                    sp.commit()?;
                    results.push(Ok(()));
                }
                Err(e) => {
                    drop(sp); // dropping an uncommitted savepoint rolls it back
                    results.push(Err(e));
                }
            }
        }
        tx.commit()?;
        Ok(results)
    }

    fn get_meta(&mut self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")?;
        let mut rows = stmt.query([key])?;
        match rows.next()? {
            Some(r) => Ok(Some(r.get(0)?)),
            None => Ok(None),
        }
    }
}
