//! `tandem leases backup` and `tandem leases restore` on a data directory.
//!
//! A backup may be taken at any time, also while the server serves (SQLite's online
//! backup API gives a copy as of one commit, see tandem-store). A restore replaces the
//! lease database, so it needs the server stopped: it takes the data directory's lock
//! ([`super::lock`]) for the whole operation, which both proves no server runs and keeps
//! one from starting halfway.
//!
//! A restored failover pair member must not resume the state it had when the backup was
//! taken. Its partner has granted, renewed and released leases since then that the
//! backup does not hold, and it may hold bindings that are stale; RFC 8156 §8.5 (RECOVER)
//! exists for exactly this: a server that has lost (part of) its stable storage asks its
//! partner for every binding (UPDREQALL) before it serves again. So the restore drops the
//! stored failover state ([`EndpointRecord::META_KEY`]); with none stored, STARTUP resumes
//! RECOVER (§8.3.2), as for a server that never ran. The server DUID stays: clients and
//! the partner know this server by it.

use std::path::{Path, PathBuf};

use tandem_failover::endpoint::EndpointRecord;
use tandem_store::{BackupError, DbSummary};

use super::lock::{OfflineDataDir, OfflineError};
use super::LEASE_DB;

/// Why a backup or restore did not happen.
#[derive(Debug, thiserror::Error)]
pub enum BackupCmdError {
    #[error(transparent)]
    DataDir(#[from] OfflineError),
    #[error(transparent)]
    Store(#[from] BackupError),
}

/// What a restore did.
#[derive(Clone, Debug)]
pub struct Restored {
    pub summary: DbSummary,
    /// The failover state was dropped: a pair member starts in RECOVER.
    pub failover_state_cleared: bool,
    /// Where the replaced database was kept, if there was one.
    pub previous: Option<PathBuf>,
}

/// Copies the lease database of `data_dir` to `dest`; works while the server runs.
pub fn backup(data_dir: &Path, dest: &Path) -> Result<DbSummary, BackupCmdError> {
    Ok(tandem_store::backup(&data_dir.join(LEASE_DB), dest)?)
}

/// Puts `backup` in place as the lease database of `data_dir`, which no server may be
/// using (refused, naming its pid, if one is). Clears the stored failover state.
pub fn restore(data_dir: &Path, backup: &Path) -> Result<Restored, BackupCmdError> {
    let dir = OfflineDataDir::take(
        data_dir,
        "restoring (a restore replaces the lease database under the server)",
    )?;
    dir.give_to_owner(&[]);
    let db = data_dir.join(LEASE_DB);
    let had_db = db.exists();
    let summary = tandem_store::restore(backup, &db, &[EndpointRecord::META_KEY])?;
    let failover_state_cleared = tandem_store::inspect(backup)?
        .meta_keys
        .iter()
        .any(|k| k == EndpointRecord::META_KEY);
    Ok(Restored {
        summary,
        failover_state_cleared,
        previous: had_db.then(|| {
            let mut p = db.into_os_string();
            p.push(".before-restore");
            PathBuf::from(p)
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::startup::DataDirLock;
    use tandem_core::Time;
    use tandem_failover::types::ServerState;
    use tandem_store::{LeaseStore, SqliteStore};

    fn record(state: ServerState) -> EndpointRecord {
        EndpointRecord {
            state,
            previous: None,
            state_since: Time(1_800_000_000),
            partner_state: Some(state),
            partner_state_since: Some(Time(1_800_000_000)),
            partner_down_time_of_partner: None,
            partner_down_since: None,
            partner_pd_until: None,
            last_operation: Time(1_800_000_100),
            communicated: true,
            mclt: 3600,
        }
    }

    #[test]
    fn restore_is_refused_while_a_server_holds_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        SqliteStore::open(&dir.path().join(LEASE_DB)).unwrap();
        let b = dir.path().join("b.db");
        backup(dir.path(), &b).unwrap();
        let _server = DataDirLock::acquire(dir.path()).unwrap();
        let err = restore(dir.path(), &b).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "data directory {} is in use by a running tandem server (pid {}): stop it \
                 before restoring (a restore replaces the lease database under the server)",
                dir.path().display(),
                std::process::id()
            )
        );
        assert!(!dir.path().join("leases.db.before-restore").exists());
    }

    #[test]
    fn restore_clears_the_failover_state_so_a_pair_member_resumes_recover_s8_5() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join(LEASE_DB);
        let mut store = SqliteStore::open(&db).unwrap();
        store
            .put_meta(
                EndpointRecord::META_KEY,
                record(ServerState::Normal).encode(),
            )
            .unwrap();
        store.put_meta("server_duid", vec![0, 1, 2]).unwrap();
        drop(store);
        let b = dir.path().join("b.db");
        backup(dir.path(), &b).unwrap();
        let r = restore(dir.path(), &b).unwrap();
        assert!(r.failover_state_cleared);
        assert_eq!(
            r.previous,
            Some(dir.path().join("leases.db.before-restore"))
        );
        let mut store = SqliteStore::open(&db).unwrap();
        let stored = store.get_meta(EndpointRecord::META_KEY).unwrap();
        assert_eq!(stored, None);
        assert_eq!(store.get_meta("server_duid").unwrap(), Some(vec![0, 1, 2]));
        // What STARTUP resumes from no stored state (§8.3.2 step 1).
        assert_eq!(
            tandem_failover::endpoint::fsm::resume_state(
                stored.map(|b| EndpointRecord::decode(&b).unwrap().state)
            ),
            ServerState::Recover
        );
        // A restore into a data_dir that a server can take afterwards.
        drop(store);
        DataDirLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn restore_into_a_missing_data_dir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = restore(&dir.path().join("nope"), &dir.path().join("b.db"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not exist"), "{err}");
    }
}
