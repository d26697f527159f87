//! [`CommitSink`] for the store's group-commit writer.

use tandem_store::{Batch, GroupCommitWriter};

use crate::commit::{CommitDone, CommitError, CommitSink};

/// Batches go to the SQLite writer thread; `done` runs after the group's fsync.
pub struct StoreSink(pub GroupCommitWriter);

impl CommitSink for StoreSink {
    fn submit(&self, batch: Batch, done: CommitDone) {
        self.0.submit(
            batch,
            Box::new(move |result| done(result.map_err(|e| CommitError(e.to_string())))),
        );
    }
}
