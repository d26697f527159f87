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
use std::time::Duration;

use crate::{Batch, LeaseStore, StoreError};

/// Called exactly once per submitted batch, on the writer thread, after the group's commit.
pub type CommitCallback = Box<dyn FnOnce(Result<(), StoreError>) + Send + 'static>;

/// Called exactly once per [`GroupCommitWriter::submit_all`], on the writer thread, after
/// the commit, with one result per batch in submission order.
pub type GroupCallback = Box<dyn FnOnce(Vec<Result<(), StoreError>>) + Send + 'static>;

/// How long the writer lets work accumulate before a commit when the previous group held
/// more than one batch (i.e. under load). Adds at most this much to a reply's delay.
const GATHER_WINDOW: Duration = Duration::from_micros(500);

/// Upper bound on batches folded into one transaction, so one group cannot grow without end
/// (a `submit_all` job is never split, so a group may exceed it by that job's size).
const MAX_GROUP: usize = 4096;

enum Job {
    One {
        batch: Batch,
        done: CommitCallback,
    },
    /// Several batches that go into the same transaction and report back together (one
    /// wake-up of the submitter instead of one per batch).
    Many {
        batches: Vec<Batch>,
        done: GroupCallback,
    },
}

impl Job {
    fn len(&self) -> usize {
        match self {
            Job::One { .. } => 1,
            Job::Many { batches, .. } => batches.len(),
        }
    }
}

/// Where the results of a group go: per job, its callback and how many batches it had.
enum Reply {
    One(CommitCallback),
    Many(usize, GroupCallback),
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
        self.send(Job::One { batch, done });
    }

    /// Queue several batches at once; they commit in the same transaction (each still in
    /// its own savepoint, so each succeeds or fails alone) and `done` gets one result per
    /// batch, in order, once they are durable. One channel message and one callback for
    /// the lot: cheaper for a caller that has many transactions ready together.
    ///
    /// If the writer has stopped, `done` is called right away with [`StoreError::WriterGone`]
    /// for every batch.
    pub fn submit_all(&self, batches: Vec<Batch>, done: GroupCallback) {
        self.send(Job::Many { batches, done });
    }

    fn send(&self, job: Job) {
        let job = match &self.tx {
            Some(tx) => match tx.send(job) {
                Ok(()) => return,
                Err(mpsc::SendError(job)) => job,
            },
            None => job,
        };
        match job {
            Job::One { done, .. } => done(Err(StoreError::WriterGone)),
            Job::Many { batches, done } => done(
                batches
                    .iter()
                    .map(|_| Err(StoreError::WriterGone))
                    .collect(),
            ),
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
    let mut last_group = 0;
    // Block for the first job, then take whatever queued up during the previous commit.
    while let Ok(first) = rx.recv() {
        if last_group > 1 {
            // Under load (the previous group was shared), let a little more work queue up:
            // each fsync costs the same CPU whatever it carries, so fewer, larger groups
            // leave more CPU for answering clients. Idle servers skip the wait.
            std::thread::sleep(GATHER_WINDOW);
        }
        let mut size = first.len();
        let mut group = vec![first];
        while size < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => {
                    size += job.len();
                    group.push(job);
                }
                Err(_) => break,
            }
        }
        last_group = size;
        commit_group(&mut store, group, stats);
    }
}

fn commit_group<S: LeaseStore>(store: &mut S, group: Vec<Job>, stats: &GroupCommitStats) {
    let mut batches = Vec::with_capacity(group.len());
    let mut replies = Vec::with_capacity(group.len());
    for job in group {
        match job {
            Job::One { batch, done } => {
                batches.push(batch);
                replies.push(Reply::One(done));
            }
            Job::Many { batches: b, done } => {
                replies.push(Reply::Many(b.len(), done));
                batches.extend(b);
            }
        }
    }
    let n = batches.len() as u64;
    let outcome = if batches.is_empty() {
        Ok(Vec::new())
    } else {
        store.commit_group(&batches)
    };
    if n > 0 {
        stats.groups.fetch_add(1, Ordering::Relaxed);
        stats.largest_group.fetch_max(n, Ordering::Relaxed);
    }
    let results: Vec<Result<(), StoreError>> = match outcome {
        Ok(results) if results.len() == batches.len() => {
            for (batch, result) in batches.iter().zip(&results) {
                if result.is_ok() {
                    stats.batches.fetch_add(1, Ordering::Relaxed);
                    stats
                        .changes
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                } else {
                    stats.failed_batches.fetch_add(1, Ordering::Relaxed);
                }
            }
            results
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
            batches
                .iter()
                .map(|_| Err(StoreError::Shared(Arc::clone(&shared))))
                .collect()
        }
    };
    // Hand each submitter its results, in submission order.
    let mut results = results.into_iter();
    for reply in replies {
        match reply {
            Reply::One(done) => done(results.next().unwrap_or(Err(StoreError::WriterGone))),
            Reply::Many(k, done) => {
                let mine: Vec<_> = results.by_ref().take(k).collect();
                done(mine)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;
    use std::sync::mpsc;

    use tandem_core::{BindingStatus, Duid, Lease, LeaseChange, Resource, Time};

    use super::*;
    use crate::MemoryStore;

    fn lease(n: u32) -> Lease {
        Lease {
            resource: Resource::Address(Ipv6Addr::from(0x2001_0db8_u128 << 96 | u128::from(n))),
            status: BindingStatus::Active,
            duid: Duid(n.to_be_bytes().to_vec()),
            hw_address: Vec::new(),
            iaid: n,
            subnet_id: 1,
            preferred_lifetime: 3000,
            valid_lifetime: 4000,
            t1: 1500,
            t2: 2400,
            cltt: Time(1_800_000_000),
            start_time_of_state: Time(1_800_000_000),
            state_expiration: Some(Time(1_800_004_000)),
            failover: Default::default(),
        }
    }

    fn batch(l: Lease) -> Batch {
        Batch::leases(vec![LeaseChange::Upsert(l)])
    }

    fn stored(store: &MemoryStore) -> Vec<Resource> {
        let mut s = store.clone();
        let mut r: Vec<_> = s
            .load_all()
            .unwrap()
            .into_iter()
            .map(|l| l.resource)
            .collect();
        r.sort();
        r
    }

    /// A Reply leaves only once its lease is durable (RFC 8415 §18.3.2 grants what the
    /// server has recorded): `submit_all` reports each batch of its set on its own, in
    /// order, once, and a batch the store refuses fails alone.
    #[test]
    fn submit_all_reports_each_batch_and_a_bad_one_fails_alone() {
        let store = MemoryStore::new();
        let writer = GroupCommitWriter::start(store.clone()).unwrap();
        let mut bad = lease(2);
        bad.cltt = Time(u64::MAX); // beyond a SQLite integer: every backend refuses it
        let (tx, rx) = mpsc::channel();
        let tx2 = tx.clone();
        writer.submit_all(
            vec![batch(lease(1)), batch(bad), batch(lease(3))],
            Box::new(move |results| tx.send(("all", results)).unwrap()),
        );
        writer.submit(
            batch(lease(4)),
            Box::new(move |r| tx2.send(("one", vec![r])).unwrap()),
        );
        writer.shutdown();
        let got: Vec<(&str, Vec<bool>)> = rx
            .iter()
            .map(|(who, rs)| (who, rs.iter().map(|r| r.is_ok()).collect()))
            .collect();
        assert_eq!(
            got,
            vec![("all", vec![true, false, true]), ("one", vec![true])],
            "one callback per submission, in submission order"
        );
        let addr =
            |n: u32| Resource::Address(Ipv6Addr::from(0x2001_0db8_u128 << 96 | u128::from(n)));
        assert_eq!(stored(&store), vec![addr(1), addr(3), addr(4)]);
    }

    /// A stopped writer never claims durability: every batch of the set gets an error.
    #[test]
    fn submit_all_after_the_writer_is_gone_fails_every_batch() {
        let mut writer = GroupCommitWriter::start(MemoryStore::new()).unwrap();
        writer.stop();
        let (tx, rx) = mpsc::channel();
        writer.submit_all(
            vec![batch(lease(1)), batch(lease(2))],
            Box::new(move |results| tx.send(results).unwrap()),
        );
        let results = rx.recv().unwrap();
        assert_eq!(results.len(), 2);
        assert!(results
            .iter()
            .all(|r| matches!(r, Err(StoreError::WriterGone))));
    }
}
