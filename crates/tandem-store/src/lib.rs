//! tandem-store: where leases live when the power goes out.
//!
//! * [`LeaseStore`] — the trait every backend implements: load everything at start,
//!   commit a [`Batch`] atomically and durably, read small meta values.
//! * [`SqliteStore`] — the embedded default: SQLite in WAL mode with
//!   `synchronous=FULL`, so a successful commit has been fsync'd.
//! * [`GroupCommitWriter`] — one writer thread that folds every batch queued while the
//!   previous fsync ran into one transaction, then reports each batch's result.
//! * [`MemoryStore`] — for tests and the simulation: a "disk" with a page cache that a
//!   simulated crash throws away.
//!
//! "Acknowledged" means the backend's commit returned `Ok`: for SQLite, the WAL frame is
//! on stable storage. The server sends a client its Reply only after that.
#![deny(unsafe_code)]

mod batch;
mod group_commit;
mod memory;
mod row;
mod sqlite;

pub use batch::Batch;
pub use group_commit::{CommitCallback, GroupCommitStats, GroupCommitWriter};
pub use memory::MemoryStore;
pub use sqlite::SqliteStore;

use tandem_core::Lease;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored row that cannot be turned back into a lease (corruption or a newer schema).
    #[error("corrupt lease row ({resource}): {why}")]
    CorruptRow { resource: String, why: String },
    /// A value that cannot be stored (e.g. a time beyond the range SQLite integers hold).
    #[error("cannot store {what}: {why}")]
    Unstorable { what: String, why: String },
    #[error(
        "lease database schema version {found} is newer than this tandem understands ({supported})"
    )]
    SchemaTooNew { found: i64, supported: i64 },
    /// The group-commit writer has stopped (shut down, or its thread died).
    #[error("lease writer is not running")]
    WriterGone,
    /// The same failure reported to every batch of a failed group.
    #[error("{0}")]
    Shared(std::sync::Arc<StoreError>),
}

/// A place to keep leases that survives restarts.
///
/// Implementations must not return `Ok` from [`LeaseStore::commit`] before the batch is
/// durable, and must apply a batch entirely or not at all.
pub trait LeaseStore: Send {
    /// Every lease in the store, in no particular order.
    fn load_all(&mut self) -> Result<Vec<Lease>, StoreError>;
    /// Apply the batch atomically; return only once it is durable.
    fn commit(&mut self, batch: &Batch) -> Result<(), StoreError>;
    /// A meta value (server DUID, failover endpoint state, ...), if set.
    fn get_meta(&mut self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
}
