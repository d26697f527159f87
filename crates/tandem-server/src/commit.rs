//! The driver's view of durable storage: submit a batch, be told when it is on disk.

use tandem_core::LeaseChange;

/// A failed commit, as text: one failure is reported to every transaction in the batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("lease commit failed: {0}")]
pub struct CommitError(pub String);

/// Called exactly once, from any thread, when the batch is durable (or failed).
pub type CommitDone = Box<dyn FnOnce(Result<(), CommitError>) + Send + 'static>;

/// Something that makes lease changes durable, in submission order, and reports back.
///
/// Implemented for the store's group-commit writer by the binary; tests use their own.
pub trait CommitSink {
    fn submit(&self, batch: Vec<LeaseChange>, done: CommitDone);
}
