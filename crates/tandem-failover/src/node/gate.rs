//! The one persist-before-send gate (in the spirit of raft-rs `Ready` / `on_persist_ready`).
//!
//! The protocol layer stages what must reach stable storage and what may leave only once
//! it has; the driver takes whole batches to write ([`Gate::take_batch`]) and reports each
//! one back ([`Gate::persisted`]). The gate alone decides what is released, in order:
//!
//! * a send that depends on a persist waits for every batch staged up to and including the
//!   one open when it was queued;
//! * a send that depends on nothing leaves at once — unless it is a partner message and
//!   partner messages are waiting: one TCP stream, one order;
//! * a batch that failed drops what waited on it and tells the caller (who decides what a
//!   failed commit means, e.g. closing the partner link).

use std::collections::{BTreeSet, VecDeque};

/// Identifies one batch of persists. Batches are numbered from 1 in the order they are taken.
pub type BatchId = u64;

/// Which stream an item belongs to: partner messages keep their order among themselves.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Lane {
    /// To a client: order between clients does not matter.
    Client,
    /// To the partner, over one ordered connection (messages and the close after them).
    Partner,
}

/// A batch for the driver to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch<P> {
    pub id: BatchId,
    pub items: Vec<P>,
}

/// What a failed batch held back, returned by [`Gate::persisted`].
#[derive(Debug, PartialEq, Eq)]
pub struct Dropped<T> {
    pub items: Vec<T>,
}

/// Persists staged in batches, sends held until their batches are durable.
#[derive(Debug)]
pub struct Gate<P, T> {
    /// Persists staged since the last [`Gate::take_batch`]; they become batch `next_id`.
    open: Vec<P>,
    next_id: BatchId,
    /// Every batch up to and including this one is durable.
    durable_upto: BatchId,
    /// Durable batches beyond `durable_upto` (a writer may report out of order).
    durable_later: BTreeSet<BatchId>,
    /// Batches taken and failed; what waits on them is dropped when reached.
    failed: BTreeSet<BatchId>,
    /// Sends waiting, in the order queued, with the batch they wait for.
    held: VecDeque<(BatchId, Lane, T)>,
    /// Sends that may leave now.
    ready: VecDeque<T>,
}

impl<P, T> Default for Gate<P, T> {
    fn default() -> Self {
        Gate {
            open: Vec::new(),
            next_id: 1,
            durable_upto: 0,
            durable_later: BTreeSet::new(),
            failed: BTreeSet::new(),
            held: VecDeque::new(),
            ready: VecDeque::new(),
        }
    }
}

impl<P, T> Gate<P, T> {
    /// Something to make durable; joins the open batch.
    pub fn persist(&mut self, item: P) {
        self.open.push(item);
    }

    /// The batch a dependent send queued now must wait for: the open one if it has
    /// anything, else the last one taken (if that is not durable yet).
    fn gate_now(&self) -> BatchId {
        if self.open.is_empty() {
            self.next_id - 1
        } else {
            self.next_id
        }
    }

    /// A send that may leave only once the persists staged before it are durable.
    pub fn send_after_persist(&mut self, lane: Lane, item: T) {
        let gate = self.gate_now();
        if gate <= self.durable_upto && self.held.is_empty() {
            self.ready.push_back(item);
        } else {
            self.held.push_back((gate, lane, item));
        }
    }

    /// A send that depends on no persist. Partner messages still keep their order behind
    /// partner messages that wait.
    pub fn send_now(&mut self, lane: Lane, item: T) {
        let partner_waiting = self.held.iter().rev().find(|(_, l, _)| *l == Lane::Partner);
        match (lane, partner_waiting) {
            (Lane::Partner, Some(&(gate, _, _))) => self.held.push_back((gate, lane, item)),
            _ => self.ready.push_back(item),
        }
    }

    /// Takes the open batch for the driver to write, if it holds anything.
    pub fn take_batch(&mut self) -> Option<Batch<P>> {
        if self.open.is_empty() {
            return None;
        }
        let id = self.next_id;
        self.next_id += 1;
        Some(Batch {
            id,
            items: std::mem::take(&mut self.open),
        })
    }

    /// Next send that may leave.
    pub fn poll_ready(&mut self) -> Option<T> {
        self.ready.pop_front()
    }

    /// The driver reports batch `id` written (`true`) or failed (`false`). Releases what
    /// waited on durable batches, in order; returns what waited on failed ones.
    pub fn persisted(&mut self, id: BatchId, ok: bool) -> Dropped<T> {
        if ok {
            // (A batch already given up with an earlier failure stays given up.)
            if id > self.durable_upto {
                self.durable_later.insert(id);
            }
        } else {
            // Everything taken up to now was written after, or with, the failed batch: what
            // waits on those batches stood on the failed one too. Later batches stand alone.
            self.failed.extend(id..self.next_id);
        }
        // A failed batch is done too: nothing will make it durable later.
        while self.durable_later.remove(&(self.durable_upto + 1))
            || self.failed.contains(&(self.durable_upto + 1))
        {
            self.durable_upto += 1;
        }
        let mut dropped = Vec::new();
        while let Some(&(gate, _, _)) = self.held.front() {
            if gate > self.durable_upto {
                break;
            }
            let Some((gate, _, item)) = self.held.pop_front() else {
                break;
            };
            // What waited on a failed batch must not leave: the persists before it may be
            // missing.
            if self.failed.contains(&gate) {
                dropped.push(item);
            } else {
                self.ready.push_back(item);
            }
        }
        // Failures up to here are settled: everything that waited on them is gone.
        self.failed = self.failed.split_off(&(self.durable_upto + 1));
        Dropped { items: dropped }
    }

    /// Persists staged for the next batch.
    pub fn staged(&self) -> usize {
        self.open.len()
    }

    /// Sends still waiting for a batch.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Batches taken and not yet reported.
    pub fn in_flight(&self) -> u64 {
        (self.next_id - 1 - self.durable_upto).saturating_sub(self.durable_later.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain<P>(g: &mut Gate<P, &'static str>) -> Vec<&'static str> {
        std::iter::from_fn(|| g.poll_ready()).collect()
    }

    #[test]
    fn a_dependent_send_waits_for_its_batch_and_an_independent_one_does_not() {
        let mut g: Gate<u32, &str> = Gate::default();
        g.persist(1);
        g.send_after_persist(Lane::Client, "reply");
        g.send_now(Lane::Client, "advertise");
        assert_eq!(drain(&mut g), ["advertise"]);
        let b = g.take_batch().unwrap();
        assert_eq!((b.id, b.items), (1, vec![1]));
        assert_eq!(drain(&mut g), Vec::<&str>::new());
        g.persisted(1, true);
        assert_eq!(drain(&mut g), ["reply"]);
    }

    #[test]
    fn a_send_after_nothing_pending_leaves_at_once() {
        let mut g: Gate<u32, &str> = Gate::default();
        g.send_after_persist(Lane::Partner, "state");
        assert_eq!(drain(&mut g), ["state"]);
    }

    #[test]
    fn a_send_with_no_new_persist_waits_for_the_batch_still_in_flight() {
        let mut g: Gate<u32, &str> = Gate::default();
        g.persist(1);
        let _ = g.take_batch();
        // E.g. a BNDREPLY echoing data written in the batch before.
        g.send_after_persist(Lane::Partner, "bndreply");
        assert_eq!(drain(&mut g), Vec::<&str>::new());
        g.persisted(1, true);
        assert_eq!(drain(&mut g), ["bndreply"]);
    }

    #[test]
    fn partner_messages_keep_their_order_but_client_ones_need_not() {
        let mut g: Gate<u32, &str> = Gate::default();
        g.persist(1);
        g.send_after_persist(Lane::Partner, "bndupd");
        g.send_now(Lane::Partner, "contact");
        g.send_now(Lane::Client, "advertise");
        assert_eq!(drain(&mut g), ["advertise"]);
        let _ = g.take_batch();
        g.persisted(1, true);
        assert_eq!(drain(&mut g), ["bndupd", "contact"]);
    }

    #[test]
    fn a_failed_batch_drops_what_waited_on_it_and_releases_the_rest_later() {
        let mut g: Gate<u32, &str> = Gate::default();
        g.persist(1);
        g.send_after_persist(Lane::Client, "reply-1");
        let _ = g.take_batch();
        g.persist(2);
        g.send_after_persist(Lane::Client, "reply-2");
        let _ = g.take_batch();
        // Batch 2 reports first, then 1 fails: the store applies batches in order, so
        // reply-2 stands on batch 1 too and is dropped with it.
        assert!(g.persisted(2, true).items.is_empty());
        assert_eq!(drain(&mut g), Vec::<&str>::new());
        let dropped = g.persisted(1, false);
        assert_eq!(dropped.items, ["reply-1", "reply-2"]);
        // Later batches are judged on their own.
        g.persist(3);
        g.send_after_persist(Lane::Client, "reply-3");
        let _ = g.take_batch();
        g.persisted(3, true);
        assert_eq!(drain(&mut g), ["reply-3"]);
        assert_eq!(g.in_flight(), 0);
    }
}
