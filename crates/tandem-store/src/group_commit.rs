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

use crate::sqlite::{self, SqliteStore};
use crate::{Batch, StoreError};

/// Called exactly once per submitted batch, on the writer thread, after the group's commit.
pub type CommitCallback = Box<dyn FnOnce(Result<(), StoreError>) + Send + 'static>;

/// Upper bound on batches folded into one transaction, so one group cannot grow without end.
const MAX_GROUP: usize = 4096;

struct Job {
    batch: Batch,
    done: CommitCallback,
}

/// Counters for metrics and benchmarks.
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

/// Owns a [`SqliteStore`] on a dedicated thread and commits submitted batches in groups.
pub struct GroupCommitWriter {
    tx: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<GroupCommitStats>,
}

impl GroupCommitWriter {
    /// Move `store` onto a new writer thread.
    pub fn start(store: SqliteStore) -> Result<Self, StoreError> {
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

    /// Commit everything already queued, then stop the thread.
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

fn writer_loop(mut store: SqliteStore, rx: Receiver<Job>, stats: &GroupCommitStats) {
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

fn commit_group(store: &mut SqliteStore, group: Vec<Job>, stats: &GroupCommitStats) {
    let n = group.len() as u64;
    let outcome = (|| -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let mut tx = store.transaction()?;
        let mut results = Vec::with_capacity(group.len());
        for job in &group {
            // A savepoint per batch: a batch that fails rolls back alone.
            let sp = tx.savepoint()?;
            match sqlite::apply(&sp, &job.batch) {
                Ok(()) => {
                    sp.commit()?;
                    results.push(Ok(()));
                }
                Err(e) => {
                    drop(sp); // rolls back to the savepoint
                    results.push(Err(e));
                }
            }
        }
        tx.commit()?;
        Ok(results)
    })();
    stats.groups.fetch_add(1, Ordering::Relaxed);
    stats.largest_group.fetch_max(n, Ordering::Relaxed);
    match outcome {
        Ok(results) => {
            for (job, result) in group.into_iter().zip(results) {
                if result.is_ok() {
                    stats.batches.fetch_add(1, Ordering::Relaxed);
                    stats
                        .changes
                        .fetch_add(job.batch.len() as u64, Ordering::Relaxed);
                } else {
                    stats.failed_batches.fetch_add(1, Ordering::Relaxed);
                }
                (job.done)(result);
            }
        }
        Err(e) => {
            // The transaction did not commit: nobody in the group may be told "durable".
            let shared = Arc::new(e);
            stats.failed_batches.fetch_add(n, Ordering::Relaxed);
            for job in group {
                (job.done)(Err(StoreError::Shared(Arc::clone(&shared))));
            }
        }
    }
}
