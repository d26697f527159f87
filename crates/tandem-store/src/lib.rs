//! tandem-store: where leases live when the power goes out.
//!
//! * [`LeaseStore`] — the trait every backend implements: load everything at start,
//!   commit a [`Batch`] atomically and durably, read small meta values.
//! * [`SqliteStore`] — the embedded default: SQLite in WAL mode with
//!   `synchronous=FULL`, so a successful commit has been fsync'd.
//! * [`GroupCommitWriter`] — one writer thread that folds every batch queued while the
//!   previous fsync ran into one transaction, then reports each batch's result.
//! * [`backup`] / [`restore`] — a consistent copy of a live SQLite database (online
//!   backup API) and putting one back under a stopped server.
//! * [`MemoryStore`] — for tests and the simulation: a "disk" with a page cache that a
//!   simulated crash throws away.
//!
//! # Durability: what "acknowledged" means
//!
//! A batch is *acknowledged* when [`LeaseStore::commit`] returns `Ok`, or when the
//! [`GroupCommitWriter`] calls its `done` callback with `Ok`. For [`SqliteStore`] that means
//! the transaction's WAL frames were written and fsync'd (`journal_mode=WAL`,
//! `synchronous=FULL`): the batch survives a process kill *and* a power cut, provided the
//! disk honours fsync. The server sends a client its Reply (and a failover partner its
//! BNDREPLY) only after that. An `Err` means the batch was not applied at all (each batch is
//! one transaction or savepoint); it never means "maybe".
#![deny(unsafe_code)]

mod backup;
mod batch;
mod group_commit;
mod memory;
mod row;
mod sqlite;

pub use backup::{backup, inspect, restore, BackupError, DbSummary};
pub use batch::Batch;
pub use group_commit::{CommitCallback, GroupCallback, GroupCommitStats, GroupCommitWriter};
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
    /// A failure injected into a [`MemoryStore`] by a test or the simulation.
    #[error("simulated storage failure")]
    Simulated,
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

    /// Set one meta value on its own, durably. To change meta together with leases (e.g. a
    /// failover state change and the leases it touches, RFC 8156 §8), put both in one
    /// [`Batch`] instead.
    fn put_meta(&mut self, key: &str, value: Vec<u8>) -> Result<(), StoreError> {
        self.commit(&Batch::default().put_meta(key, value))
    }

    /// Apply several batches with one durability point (one fsync), as the group-commit
    /// writer does. Each batch stays all-or-nothing on its own: the inner results say which
    /// batches were applied. The outer `Err` means the group as a whole did not become
    /// durable, so *no* batch of it may be acknowledged.
    ///
    /// The default commits batch by batch (correct, but one fsync each).
    fn commit_group(
        &mut self,
        batches: &[Batch],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        Ok(batches.iter().map(|b| self.commit(b)).collect())
    }
}
