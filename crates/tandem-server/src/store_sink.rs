//! [`CommitSink`] for the store's group-commit writer.

use tandem_core::LeaseChange;
use tandem_store::{Batch, GroupCommitWriter};

use crate::commit::{CommitAllDone, CommitDone, CommitError, CommitSink};

/// Lease changes go to the SQLite writer thread; `done` runs after the group's fsync.
pub struct StoreSink(pub GroupCommitWriter);

impl CommitSink for StoreSink {
    fn submit(&self, batch: Vec<LeaseChange>, done: CommitDone) {
        self.0.submit(
            Batch::leases(batch),
            Box::new(move |result| done(result.map_err(|e| CommitError(e.to_string())))),
        );
    }

    fn submit_all(&self, batches: Vec<Vec<LeaseChange>>, done: CommitAllDone) {
        self.0.submit_all(
            batches.into_iter().map(Batch::leases).collect(),
            Box::new(move |results| {
                done(
                    results
                        .into_iter()
                        .map(|r| r.map_err(|e| CommitError(e.to_string())))
                        .collect(),
                )
            }),
        );
    }
}
