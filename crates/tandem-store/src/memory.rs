//! An in-memory "disk" with a page cache, for tests and deterministic simulation.
//!
//! Writes land in the page cache first; [`MemoryStore::sync`] makes them durable;
//! [`MemoryStore::crash`] throws away everything not yet synced, as a power cut would.
//! Clones share the same disk, so a simulated server can crash (drop its handle) and
//! restart from a clone.
//!
//! To crash *between write and fsync* of a group, the simulation calls
//! [`MemoryStore::write_unsynced`] for the group's batches, then [`MemoryStore::crash`]
//! instead of [`MemoryStore::sync`]. [`MemoryStore::fail_next_commit`] makes the next
//! commit fail as a whole, as a full disk or an I/O error would.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tandem_core::{Lease, LeaseChange, Resource};

use crate::batch::check_storable;
use crate::{Batch, LeaseStore, StoreError};

#[derive(Default, Clone)]
struct Image {
    leases: BTreeMap<Resource, Lease>,
    meta: BTreeMap<String, Vec<u8>>,
}

impl Image {
    fn apply(&mut self, batch: &Batch) {
        for change in &batch.leases {
            match change {
                LeaseChange::Upsert(l) => {
                    self.leases.insert(l.resource, l.clone());
                }
                LeaseChange::Remove(r) => {
                    self.leases.remove(r);
                }
            }
        }
        for (k, v) in &batch.meta {
            match v {
                Some(v) => self.meta.insert(k.clone(), v.clone()),
                None => self.meta.remove(k),
            };
        }
    }
}

#[derive(Default)]
struct Disk {
    durable: Image,
    /// Written but not yet synced, oldest first.
    cache: Vec<Batch>,
    syncs: u64,
    crashes: u64,
    /// Commits still to fail before commits succeed again (fault injection).
    failing_commits: u32,
}

impl Disk {
    /// What a reader sees: the durable image with the page cache on top.
    fn view(&self) -> Image {
        let mut img = self.durable.clone();
        for b in &self.cache {
            img.apply(b);
        }
        img
    }
}

/// A shared in-memory disk with crash semantics. Deterministic: no threads, no clock.
#[derive(Clone, Default)]
pub struct MemoryStore {
    disk: Arc<Mutex<Disk>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn disk(&self) -> MutexGuard<'_, Disk> {
        // A panic while holding the lock can only come from a bug in this file; recover the
        // data rather than poisoning every later test.
        self.disk.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Write a batch to the page cache only (not durable until [`MemoryStore::sync`]).
    ///
    /// Refuses (and writes nothing of) a batch SQLite would refuse.
    pub fn write_unsynced(&self, batch: &Batch) -> Result<(), StoreError> {
        for change in &batch.leases {
            if let LeaseChange::Upsert(lease) = change {
                check_storable(lease)?;
            }
        }
        self.disk().cache.push(batch.clone());
        Ok(())
    }

    /// Make the next `n` commits (single or group) fail as a whole, writing nothing.
    pub fn fail_next_commits(&self, n: u32) {
        self.disk().failing_commits = n;
    }

    /// Make the next commit fail as a whole, writing nothing.
    pub fn fail_next_commit(&self) {
        self.fail_next_commits(1);
    }

    /// Consume one injected failure, if any is pending.
    fn injected_failure(&self) -> Result<(), StoreError> {
        let mut d = self.disk();
        if d.failing_commits > 0 {
            d.failing_commits -= 1;
            return Err(StoreError::Simulated);
        }
        Ok(())
    }

    /// Make every cached write durable (an fsync).
    pub fn sync(&self) {
        let mut d = self.disk();
        let cached = std::mem::take(&mut d.cache);
        for b in &cached {
            d.durable.apply(b);
        }
        d.syncs += 1;
    }

    /// Power cut: everything not yet synced is gone.
    pub fn crash(&self) {
        let mut d = self.disk();
        d.cache.clear();
        d.crashes += 1;
    }

    /// Number of fsyncs so far (one per commit or group), to check grouping.
    pub fn syncs(&self) -> u64 {
        self.disk().syncs
    }

    /// Number of simulated crashes so far.
    pub fn crashes(&self) -> u64 {
        self.disk().crashes
    }

    /// Number of batches written but not synced.
    pub fn unsynced_batches(&self) -> usize {
        self.disk().cache.len()
    }

    /// The durable leases only (what a restart after a crash would find).
    pub fn durable_leases(&self) -> Vec<Lease> {
        self.disk().durable.leases.values().cloned().collect()
    }

    /// The lease for `resource` as a reader would see it now.
    pub fn get(&self, resource: &Resource) -> Option<Lease> {
        self.disk().view().leases.get(resource).cloned()
    }
}

impl LeaseStore for MemoryStore {
    fn load_all(&mut self) -> Result<Vec<Lease>, StoreError> {
        Ok(self.disk().view().leases.into_values().collect())
    }

    /// Write and sync: durable when it returns, like the SQLite store.
    fn commit(&mut self, batch: &Batch) -> Result<(), StoreError> {
        self.injected_failure()?;
        self.write_unsynced(batch)?;
        self.sync();
        Ok(())
    }

    /// Write every storable batch, then one sync for all of them.
    fn commit_group(
        &mut self,
        batches: &[Batch],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        self.injected_failure()?;
        let results = batches.iter().map(|b| self.write_unsynced(b)).collect();
        self.sync();
        Ok(results)
    }

    fn get_meta(&mut self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.disk().view().meta.get(key).cloned())
    }
}
