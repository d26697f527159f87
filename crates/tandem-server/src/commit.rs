//! The driver's view of durable storage: submit a batch, be told when it is on disk.

use tandem_store::Batch;

/// A failed commit, as text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("lease commit failed: {0}")]
pub struct CommitError(pub String);

/// Called exactly once, from any thread, when the batch is durable (or failed).
pub type CommitDone = Box<dyn FnOnce(Result<(), CommitError>) + Send + 'static>;

/// Something that makes batches durable, in submission order, and reports each back.
///
/// The store's group-commit writer ([`crate::StoreSink`]) in production; tests use their
/// own (a slow or failing disk).
pub trait CommitSink {
    fn submit(&self, batch: Batch, done: CommitDone);
}
