//! Group commit: one writer thread, one fsync for everything that queued up meanwhile.
//!
//! A DHCP server answers thousands of clients a second, but a disk does a few hundred
//! fsyncs. So the writer takes every batch submitted while the previous fsync ran,
//! applies them in one SQLite transaction (each in its own savepoint, so one bad batch
//! cannot sink its neighbours), commits once, and only then tells each submitter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::{Batch, LeaseStore, StoreError};

/// Called exactly once per submitted batch, on the writer thread, after the group's commit.
pub type CommitCallback = Box<dyn FnOnce(Result<(), StoreError>) + Send + 'static>;

/// Upper bound on batches folded into one transaction, so one group cannot grow without end.
const MAX_GROUP: usize = 4096;

struct Job {
    batch: Batch,
    done: CommitCallback,
}

/// Counters for metrics and benchmarks (read with `load(Ordering::Relaxed)`).
#[derive(Default, Debug)]
pub struct GroupCommitStats {
    /// Transactions committed (one fsync each).
    pub groups: AtomicU64,
    /// Batches acknowledged as durable.
    pub batches: AtomicU64,
    /// Lease and meta changes acknowledged as durable.
    pub changes: AtomicU64,
    /// Batches that failed (their callbacks got an error).
    pub failed_batches: AtomicU64,
    /// Largest number of batches in one group.
    pub largest_group: AtomicU64,
}

/// Owns a store on a dedicated thread and commits submitted batches in groups.
///
/// A `done` callback with `Ok` means the batch is durable (see the crate docs); callbacks
/// run on the writer thread in submission order, so keep them short (send on a channel).
pub struct GroupCommitWriter {
    tx: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<GroupCommitStats>,
}

impl GroupCommitWriter {
    /// Move `store` onto a new writer thread (in production a [`crate::SqliteStore`]).
    pub fn start<S: LeaseStore + 'static>(store: S) -> Result<Self, StoreError> {
        let (tx, rx) = mpsc::channel();
        let stats = Arc::new(GroupCommitStats::default());
        let thread_stats = Arc::clone(&stats);
        let thread = std::thread::Builder::new()
            .name("tandem-lease-writer".into())
            .spawn(move || writer_loop(store, rx, &thread_stats))
            .map_err(|e| StoreError::Unstorable {
                what: "lease writer thread".into(),
                why: e.to_string(),
            })?;
        Ok(GroupCommitWriter {
            tx: Some(tx),
            thread: Some(thread),
            stats,
        })
    }

    /// Queue `batch`; `done` runs once it is durable (Ok) or has failed (Err).
    ///
    /// If the writer has stopped, `done` is called right away with [`StoreError::WriterGone`].
    pub fn submit(&self, batch: Batch, done: CommitCallback) {
        let job = Job { batch, done };
        match &self.tx {
            Some(tx) => {
                if let Err(mpsc::SendError(job)) = tx.send(job) {
                    (job.done)(Err(StoreError::WriterGone));
                }
            }
            None => (job.done)(Err(StoreError::WriterGone)),
        }
    }

    pub fn stats(&self) -> &Arc<GroupCommitStats> {
        &self.stats
    }

    /// Commit everything already queued, call its callbacks, then stop the thread.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        // Dropping the sender ends the loop once the queue is drained.
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for GroupCommitWriter {
    fn drop(&mut self) {
        self.stop();
    }
}

fn writer_loop<S: LeaseStore>(mut store: S, rx: Receiver<Job>, stats: &GroupCommitStats) {
    // Block for the first job, then take whatever queued up during the previous commit.
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        commit_group(&mut store, group, stats);
    }
}

fn commit_group<S: LeaseStore>(store: &mut S, group: Vec<Job>, stats: &GroupCommitStats) {
    let n = group.len() as u64;
    let (batches, dones): (Vec<Batch>, Vec<CommitCallback>) =
        group.into_iter().map(|j| (j.batch, j.done)).unzip();
    let outcome = store.commit_group(&batches);
    stats.groups.fetch_add(1, Ordering::Relaxed);
    stats.largest_group.fetch_max(n, Ordering::Relaxed);
    match outcome {
        Ok(results) if results.len() == batches.len() => {
            for ((batch, done), result) in batches.iter().zip(dones).zip(results) {
                if result.is_ok() {
                    stats.batches.fetch_add(1, Ordering::Relaxed);
                    stats
                        .changes
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                } else {
                    stats.failed_batches.fetch_add(1, Ordering::Relaxed);
                }
                done(result);
            }
        }
        other => {
            // The group did not commit (or the store broke its contract by returning the
            // wrong number of results): nobody in the group may be told "durable".
            let shared = Arc::new(match other {
                Err(e) => e,
                Ok(_) => StoreError::Unstorable {
                    what: "group".into(),
                    why: "store returned a result count that does not match the group".into(),
                },
            });
            stats.failed_batches.fetch_add(n, Ordering::Relaxed);
            for done in dones {
                done(Err(StoreError::Shared(Arc::clone(&shared))));
            }
        }
    }
}
