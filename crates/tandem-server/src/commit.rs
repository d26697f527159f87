//! The driver's view of durable storage: submit a batch, be told when it is on disk.

use std::sync::{Arc, Mutex};

use tandem_core::LeaseChange;

/// A failed commit, as text: one failure is reported to every transaction in the batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("lease commit failed: {0}")]
pub struct CommitError(pub String);

/// Called exactly once, from any thread, when the batch is durable (or failed).
pub type CommitDone = Box<dyn FnOnce(Result<(), CommitError>) + Send + 'static>;

/// Called exactly once, from any thread, when every batch of a
/// [`CommitSink::submit_all`] is durable (or failed): one result per batch, in order.
pub type CommitAllDone = Box<dyn FnOnce(Vec<Result<(), CommitError>>) + Send + 'static>;

/// Something that makes lease changes durable, in submission order, and reports back.
///
/// Implemented for the store's group-commit writer by the binary; tests use their own.
pub trait CommitSink {
    fn submit(&self, batch: Vec<LeaseChange>, done: CommitDone);

    /// Submits several independent batches at once (each succeeds or fails alone);
    /// `done` reports them together. The driver uses this for everything one burst of
    /// datagrams produced, so the store wakes once and the driver is woken once.
    ///
    /// The default submits each batch with [`CommitSink::submit`] and collects the results.
    fn submit_all(&self, batches: Vec<Vec<LeaseChange>>, done: CommitAllDone) {
        if batches.is_empty() {
            done(Vec::new());
            return;
        }
        let collect = Arc::new(Mutex::new(Collect {
            results: vec![None; batches.len()],
            left: batches.len(),
            done: Some(done),
        }));
        for (i, batch) in batches.into_iter().enumerate() {
            let collect = Arc::clone(&collect);
            self.submit(
                batch,
                Box::new(move |result| {
                    let finished = {
                        let Ok(mut c) = collect.lock() else {
                            return;
                        };
                        if let Some(slot) = c.results.get_mut(i) {
                            *slot = Some(result);
                        }
                        c.left -= 1;
                        if c.left == 0 {
                            c.done.take().map(|d| (d, std::mem::take(&mut c.results)))
                        } else {
                            None
                        }
                    };
                    if let Some((done, results)) = finished {
                        let missing = || Err(CommitError("no result reported".into()));
                        done(
                            results
                                .into_iter()
                                .map(|r| r.unwrap_or_else(missing))
                                .collect(),
                        );
                    }
                }),
            );
        }
    }
}

/// Results gathered by the default [`CommitSink::submit_all`].
struct Collect {
    results: Vec<Option<Result<(), CommitError>>>,
    left: usize,
    done: Option<CommitAllDone>,
}
