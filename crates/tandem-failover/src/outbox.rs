//! The queue of binding updates owed to the partner (RFC 8156 §4.3, §5.3.5 – §5.3.7, §5.4,
//! §6.1.1 – §6.1.3 flow control, §8.8 flush on entering NORMAL).
//!
//! The queue holds *keys* (a client, or an unassociated prefix), not built messages: the
//! BNDUPD is built from the current lease records when it is actually sent, so several
//! changes of one client coalesce into one BNDUPD carrying the latest state.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::net::Ipv4Addr;

use ipnet::Ipv6Net;
use tandem_core::{Duid, Lease, Resource, Time};

use crate::update::BindingUpdate;
use crate::wire::Protocol;

/// What one BNDUPD is about (§7.4): all bindings of one client, or one top-level prefix.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UpdateKey {
    Client(Duid),
    Prefix(Ipv6Net),
    /// One DHCPv4 address: a draft-ietf-dhc-failover-12 BNDUPD carries one (§7.1).
    V4Address(Ipv4Addr),
}

impl UpdateKey {
    /// The BNDUPD a lease travels in on a relationship of `protocol`. RFC 8156 carries
    /// DHCPv6 leases only (§1), a client's together; an address with no client cannot be
    /// expressed (there is no top-level IAADDR), so it yields None. draft-12 carries DHCPv4
    /// leases only, one per BNDUPD (§7.1).
    pub fn for_lease(protocol: Protocol, lease: &Lease) -> Option<UpdateKey> {
        match (protocol, lease.resource) {
            (Protocol::Draft12, Resource::V4Address(a)) => return Some(UpdateKey::V4Address(a)),
            (Protocol::Draft12, _) | (Protocol::Rfc8156, Resource::V4Address(_)) => return None,
            (Protocol::Rfc8156, _) => {}
        }
        if !lease.duid.is_empty() {
            return Some(UpdateKey::Client(lease.duid.clone()));
        }
        match lease.resource {
            Resource::Prefix(p) => Some(UpdateKey::Prefix(p)),
            Resource::Address(_) | Resource::V4Address(_) => None,
        }
    }
}

impl UpdateKey {
    /// The key a built BNDUPD belongs to.
    pub fn of_update(update: &BindingUpdate) -> Option<UpdateKey> {
        match update {
            BindingUpdate::Client { duid, .. } => Some(UpdateKey::Client(duid.clone())),
            BindingUpdate::Prefix { lease, .. } => match lease.resource {
                Resource::Prefix(p) => Some(UpdateKey::Prefix(p)),
                Resource::Address(_) | Resource::V4Address(_) => None,
            },
            BindingUpdate::Address4 { lease, .. } => match lease.resource {
                Resource::V4Address(a) => Some(UpdateKey::V4Address(a)),
                _ => None,
            },
        }
    }
}

/// 24-bit transaction ids, unique among everything still outstanding (§5.4), including
/// UPDREQ/UPDREQALL ids that wait for their UPDDONE across a counter wrap.
#[derive(Clone, Debug, Default)]
pub struct XidAllocator {
    next: u32,
    in_use: BTreeSet<u32>,
}

pub const XID_MASK: u32 = 0x00ff_ffff;

impl XidAllocator {
    pub fn new(start: u32) -> Self {
        XidAllocator {
            next: start & XID_MASK,
            in_use: BTreeSet::new(),
        }
    }

    /// A fresh id not currently in use (None only if all 2^24 are outstanding).
    pub fn alloc(&mut self) -> Option<u32> {
        for _ in 0..=XID_MASK {
            let x = self.next;
            self.next = (self.next + 1) & XID_MASK;
            if self.in_use.insert(x) {
                return Some(x);
            }
        }
        None
    }

    /// The exchange with this id is finished; the id may be reused.
    pub fn release(&mut self, xid: u32) {
        self.in_use.remove(&xid);
    }

    pub fn is_in_use(&self, xid: u32) -> bool {
        self.in_use.contains(&xid)
    }
}

/// A BNDUPD handed to the connection, waiting for its BNDREPLY.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outstanding {
    pub key: UpdateKey,
    pub update: BindingUpdate,
}

/// A BNDUPD to transmit now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingUpdate {
    pub xid: u32,
    pub update: BindingUpdate,
}

/// Answering the partner's UPDREQ / UPDREQALL: UPDDONE is due once every key of the sweep
/// has been sent *and* answered (§5.3.7).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Sweep {
    request_xid: u32,
    remaining: HashSet<UpdateKey>,
}

/// The pending-update queue and the BNDUPD window of one failover connection.
#[derive(Clone, Debug)]
pub struct Outbox {
    /// Which leases travel, and how (see [`UpdateKey::for_lease`]).
    protocol: Protocol,
    pending: VecDeque<UpdateKey>,
    pending_set: HashSet<UpdateKey>,
    outstanding: BTreeMap<u32, Outstanding>,
    outstanding_keys: HashSet<UpdateKey>,
    /// The partner's OPTION_F_MAX_UNACKED_BNDUPD; None while not connected.
    window: Option<u32>,
    sweep: Option<Sweep>,
    xids: XidAllocator,
    /// Keys the partner rejected on this connection for a reason a resend cannot fix
    /// (see [`crate::binding::ack::resend_may_succeed`]): [`Outbox::rescan`] skips them
    /// until they change locally or a new connection starts.
    held: BTreeSet<UpdateKey>,
    /// BNDUPDs answered by a BNDREPLY we could not read: treated as unanswered, sent again
    /// by the next [`Outbox::rescan`] (or on the next connection), never at once.
    unanswered: BTreeSet<UpdateKey>,
}

impl Default for Outbox {
    fn default() -> Self {
        Self::new(1)
    }
}

impl Outbox {
    pub fn new(first_xid: u32) -> Self {
        Self::with_protocol(first_xid, Protocol::Rfc8156)
    }

    pub fn with_protocol(first_xid: u32, protocol: Protocol) -> Self {
        Outbox {
            protocol,
            pending: VecDeque::new(),
            pending_set: HashSet::new(),
            outstanding: BTreeMap::new(),
            outstanding_keys: HashSet::new(),
            window: None,
            sweep: None,
            xids: XidAllocator::new(first_xid),
            held: BTreeSet::new(),
            unanswered: BTreeSet::new(),
        }
    }

    /// The shared xid allocator: the endpoint takes ids for its own requests
    /// (UPDREQ, POOLREQ, STATE, …) here so no id collides with an outstanding BNDUPD.
    pub fn xids(&mut self) -> &mut XidAllocator {
        &mut self.xids
    }

    /// Queue a key (coalesces: a key already queued keeps its place).
    pub fn enqueue(&mut self, key: UpdateKey) {
        self.held.remove(&key);
        if self.pending_set.insert(key.clone()) {
            self.pending.push_back(key);
        }
    }

    /// A local change to `lease`: mark it "partner needs update" and queue its BNDUPD.
    /// The caller persists the modified lease with the change itself. A DHCPv4 lease is
    /// left alone: no RFC 8156 partner is owed an update for it (§1 scope).
    pub fn note_local_change(&mut self, lease: &mut Lease) -> Option<UpdateKey> {
        if lease.is_v4() {
            return None;
        }
        lease.failover.update_pending = true;
        let key = UpdateKey::for_lease(self.protocol, lease)?;
        self.enqueue(key.clone());
        Some(key)
    }

    /// After a restart: queue every lease still flagged update_pending.
    pub fn restore_from<'a>(&mut self, leases: impl IntoIterator<Item = &'a Lease>) {
        for l in leases {
            if l.failover.update_pending {
                if let Some(k) = UpdateKey::for_lease(self.protocol, l) {
                    self.enqueue(k);
                }
            }
        }
    }

    /// The connection is up and the partner allows `max_unacked` outstanding BNDUPDs.
    /// A value of 0 is treated as 1 so updates can still flow.
    /// A new connection replaces any old one, so whatever was outstanding on the old one is
    /// requeued first (its BNDREPLYs can no longer arrive).
    pub fn connected(&mut self, max_unacked: u32) {
        if self.window.is_some() {
            self.disconnected();
        }
        self.window = Some(max_unacked.max(1));
    }

    /// The connection is gone: everything outstanding goes back to the front of the queue
    /// (it will be rebuilt and resent after reconnect); an UPDREQ being answered is
    /// abandoned (the partner re-issues it on the new connection, §8.5.2).
    pub fn disconnected(&mut self) {
        self.window = None;
        let back: Vec<(u32, Outstanding)> =
            std::mem::take(&mut self.outstanding).into_iter().collect();
        for (xid, o) in back.into_iter().rev() {
            self.xids.release(xid);
            if self.pending_set.insert(o.key.clone()) {
                self.pending.push_front(o.key);
            }
        }
        for k in std::mem::take(&mut self.unanswered) {
            self.enqueue(k);
        }
        self.outstanding_keys.clear();
        self.sweep = None;
        // The partner may come back reconfigured or restarted: everything may be retried.
        self.held.clear();
    }

    pub fn is_connected(&self) -> bool {
        self.window.is_some()
    }
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }
    pub fn outstanding_count(&self) -> usize {
        self.outstanding.len()
    }
    /// Sent BNDUPDs waiting for their BNDREPLY: (xid, key).
    pub fn outstanding(&self) -> impl Iterator<Item = (u32, &UpdateKey)> + '_ {
        self.outstanding.iter().map(|(x, o)| (*x, &o.key))
    }

    /// An UPDREQ/UPDREQALL from the partner is being answered (UPDDONE not yet sent).
    pub fn answering_request(&self) -> bool {
        self.sweep.is_some()
    }

    pub fn is_pending(&self, key: &UpdateKey) -> bool {
        self.pending_set.contains(key)
    }

    /// Take as many BNDUPDs as the window allows (never more outstanding than the
    /// partner's MAX_UNACKED_BNDUPD). `build` makes the BNDUPD from the current records;
    /// None means there is nothing to say any more and the key is dropped. A key with a
    /// BNDUPD already outstanding waits for its reply, so one client's updates stay ordered.
    pub fn poll_send(
        &mut self,
        now: Time,
        mut build: impl FnMut(&UpdateKey, Time) -> Option<BindingUpdate>,
    ) -> Vec<OutgoingUpdate> {
        let mut out = Vec::new();
        let Some(window) = self.window else {
            return out;
        };
        let mut deferred = Vec::new();
        while (self.outstanding.len() as u64) < u64::from(window) {
            let Some(key) = self.pending.pop_front() else {
                break;
            };
            if self.outstanding_keys.contains(&key) {
                deferred.push(key);
                continue;
            }
            self.pending_set.remove(&key);
            let Some(update) = build(&key, now) else {
                if let Some(s) = &mut self.sweep {
                    s.remaining.remove(&key);
                }
                continue;
            };
            let Some(xid) = self.xids.alloc() else {
                self.pending_set.insert(key.clone());
                self.pending.push_front(key);
                break;
            };
            self.outstanding_keys.insert(key.clone());
            self.outstanding.insert(
                xid,
                Outstanding {
                    key,
                    update: update.clone(),
                },
            );
            out.push(OutgoingUpdate { xid, update });
        }
        for k in deferred.into_iter().rev() {
            self.pending.push_front(k);
        }
        out
    }

    /// A BNDREPLY arrived: returns the BNDUPD it answers (run
    /// [`crate::binding::process_reply`] on it), or None for an unknown xid.
    pub fn on_reply(&mut self, xid: u32) -> Option<Outstanding> {
        let o = self.outstanding.remove(&xid)?;
        self.xids.release(xid);
        self.outstanding_keys.remove(&o.key);
        if let Some(s) = &mut self.sweep {
            s.remaining.remove(&o.key);
        }
        Some(o)
    }

    /// The partner sent UPDREQ (§5.3.5): send everything it has not acknowledged, i.e. all
    /// pending and outstanding keys, then UPDDONE.
    pub fn begin_updreq(&mut self, request_xid: u32) {
        let remaining = self
            .pending_set
            .iter()
            .chain(self.outstanding_keys.iter())
            .cloned()
            .collect();
        self.sweep = Some(Sweep {
            request_xid,
            remaining,
        });
    }

    /// The partner sent UPDREQALL (§5.3.6): send the whole database. `all_keys` = every
    /// client with a binding and every unassociated prefix record.
    pub fn begin_updreqall(
        &mut self,
        request_xid: u32,
        all_keys: impl IntoIterator<Item = UpdateKey>,
    ) {
        let mut remaining: HashSet<UpdateKey> = self.outstanding_keys.iter().cloned().collect();
        for k in all_keys {
            self.enqueue(k.clone());
            remaining.insert(k);
        }
        remaining.extend(self.pending_set.iter().cloned());
        self.sweep = Some(Sweep {
            request_xid,
            remaining,
        });
    }

    /// The partner rejected the BNDUPD for `key` for a reason that resending the same data
    /// cannot fix on this connection: the periodic scan leaves it alone (its leases stay
    /// update-pending; a local change or a new connection sends it again).
    pub fn hold(&mut self, key: UpdateKey) {
        self.held.insert(key);
    }

    pub fn is_held(&self, key: &UpdateKey) -> bool {
        self.held.contains(key)
    }

    /// The BNDREPLY for `key` could not be read: nothing was acknowledged. The BNDUPD goes
    /// out again at the next [`Outbox::rescan`] (whatever the lease flags say, so a pool
    /// move is retried as it stands), not at once: a partner that always answers like this
    /// must not make us ping-pong one BNDUPD without end.
    pub fn retry_later(&mut self, key: UpdateKey) {
        self.unanswered.insert(key);
    }

    /// The periodic scan (RFC 8156 §7.5.4): queue every client whose leases are still
    /// update-pending although nothing of theirs is queued or in flight, i.e. updates the
    /// partner rejected, and leases we flagged when we rejected a partner's update while ours
    /// was already pending; plus every key given to [`Outbox::retry_later`]. Called once per
    /// scan interval, never on a rejection, so a partner that keeps rejecting gets one BNDUPD
    /// per scan ("thus preventing a possible update storm should the servers be unable to
    /// agree").
    ///
    /// Flagged unassociated prefixes are left out: a pool-move record the secondary refused
    /// is not retried as it stands, the primary's rebalancing decides again from the pool
    /// (§4.2.2). Returns how many keys were queued, queued in key order (deterministic).
    pub fn rescan<'a>(&mut self, leases: impl IntoIterator<Item = &'a Lease>) -> usize {
        let unanswered = std::mem::take(&mut self.unanswered);
        let due: BTreeSet<UpdateKey> = leases
            .into_iter()
            // A DHCPv4 lease goes alone, with a client or without (draft-12 §7.1).
            .filter(|l| l.failover.update_pending && (!l.duid.is_empty() || l.is_v4()))
            .filter_map(|l| UpdateKey::for_lease(self.protocol, l))
            .chain(unanswered)
            .filter(|k| {
                !self.pending_set.contains(k)
                    && !self.outstanding_keys.contains(k)
                    && !self.held.contains(k)
            })
            .collect();
        let n = due.len();
        for k in due {
            self.enqueue(k);
        }
        n
    }

    /// If an UPDREQ/UPDREQALL sweep is complete, return its xid (send UPDDONE with it) and
    /// end the sweep.
    pub fn take_upddone(&mut self) -> Option<u32> {
        if self.sweep.as_ref().is_some_and(|s| s.remaining.is_empty()) {
            return self.sweep.take().map(|s| s.request_xid);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::update::build_client_update;
    use crate::update::tests::lease;
    use tandem_core::BindingStatus;

    fn duid(n: u8) -> Duid {
        Duid(vec![0, 1, n])
    }

    /// Builds a one-lease update per client.
    fn builder(k: &UpdateKey, now: Time) -> Option<BindingUpdate> {
        match k {
            UpdateKey::Client(d) => {
                let l = lease("2001:db8::1", d.0[2], BindingStatus::Active, 1, Some(99));
                build_client_update(d, &[l], now)
            }
            UpdateKey::Prefix(p) => Some(crate::update::build_prefix_update(
                *p,
                BindingStatus::FreeBackup,
                now,
                now,
            )),
            UpdateKey::V4Address(_) => None,
        }
    }

    #[test]
    fn changes_of_one_client_coalesce_s4_3() {
        let mut ob = Outbox::default();
        let mut a = lease("2001:db8::1", 1, BindingStatus::Active, 1, Some(99));
        let mut b = lease("2001:db8::3", 1, BindingStatus::Active, 1, Some(99));
        ob.note_local_change(&mut a);
        ob.note_local_change(&mut b);
        assert!(a.failover.update_pending && b.failover.update_pending);
        assert_eq!(ob.pending_count(), 1);
        let mut free_addr = lease("2001:db8::5", 0, BindingStatus::Free, 1, None);
        assert_eq!(ob.note_local_change(&mut free_addr), None);
    }

    #[test]
    fn nothing_is_sent_while_disconnected_s8_9() {
        let mut ob = Outbox::default();
        ob.enqueue(UpdateKey::Client(duid(1)));
        assert!(ob.poll_send(Time(0), builder).is_empty());
        assert_eq!(ob.pending_count(), 1);
    }

    #[test]
    fn window_never_exceeds_max_unacked_s6_1_2() {
        let mut ob = Outbox::default();
        for n in 1..=5 {
            ob.enqueue(UpdateKey::Client(duid(n)));
        }
        ob.connected(2);
        // t=0: two go out, three wait.
        let sent = ob.poll_send(Time(0), builder);
        assert_eq!(sent.len(), 2);
        assert_eq!(ob.outstanding_count(), 2);
        assert!(ob.poll_send(Time(1), builder).is_empty());
        // t=2: one BNDREPLY → exactly one more.
        assert!(ob.on_reply(sent[0].xid).is_some());
        assert_eq!(ob.poll_send(Time(2), builder).len(), 1);
        assert_eq!(ob.outstanding_count(), 2);
        assert!(ob.on_reply(0xabcdef).is_none(), "unknown xid");
    }

    #[test]
    fn one_outstanding_update_per_client_keeps_order_s7_5() {
        let mut ob = Outbox::default();
        ob.connected(10);
        ob.enqueue(UpdateKey::Client(duid(1)));
        let first = ob.poll_send(Time(0), builder);
        // The client changes again while its BNDUPD is in flight: it waits for the reply.
        ob.enqueue(UpdateKey::Client(duid(1)));
        assert!(ob.poll_send(Time(1), builder).is_empty());
        ob.on_reply(first[0].xid);
        assert_eq!(ob.poll_send(Time(2), builder).len(), 1);
    }

    #[test]
    fn disconnect_requeues_outstanding_and_resends_after_reconnect_s8_8() {
        let mut ob = Outbox::default();
        ob.connected(10);
        ob.enqueue(UpdateKey::Client(duid(1)));
        ob.enqueue(UpdateKey::Client(duid(2)));
        let first = ob.poll_send(Time(0), builder);
        assert_eq!(first.len(), 2);
        // t=5: TCP breaks before any BNDREPLY.
        ob.disconnected();
        assert_eq!((ob.outstanding_count(), ob.pending_count()), (0, 2));
        assert!(
            ob.on_reply(first[0].xid).is_none(),
            "late reply on a dead connection is ignored"
        );
        // t=60: reconnected → both resent in the original order, fresh xids.
        ob.connected(10);
        let again = ob.poll_send(Time(60), builder);
        assert_eq!(again.len(), 2);
        assert_eq!(again[0].update.duid(), Some(&duid(1)));
        assert_eq!(again[1].update.duid(), Some(&duid(2)));
    }

    #[test]
    fn updreq_sends_pending_then_upddone_after_all_replies_s5_3_5_s5_3_7() {
        let mut ob = Outbox::default();
        ob.connected(10);
        ob.enqueue(UpdateKey::Client(duid(1)));
        ob.begin_updreq(77);
        assert_eq!(ob.take_upddone(), None);
        let sent = ob.poll_send(Time(0), builder);
        assert_eq!(ob.take_upddone(), None, "sent but not yet acked");
        ob.on_reply(sent[0].xid);
        assert_eq!(ob.take_upddone(), Some(77));
        assert_eq!(ob.take_upddone(), None);
        // Nothing pending: UPDDONE at once.
        ob.begin_updreq(78);
        assert_eq!(ob.take_upddone(), Some(78));
    }

    #[test]
    fn updreqall_sends_everything_s5_3_6() {
        let mut ob = Outbox::default();
        ob.connected(1);
        let keys = vec![
            UpdateKey::Client(duid(1)),
            UpdateKey::Client(duid(2)),
            UpdateKey::Prefix("2001:db8:80::/41".parse().unwrap()),
        ];
        ob.begin_updreqall(5, keys);
        let mut n = 0;
        for t in 0..10 {
            for s in ob.poll_send(Time(t), builder) {
                n += 1;
                assert_eq!(ob.take_upddone(), None);
                ob.on_reply(s.xid);
            }
        }
        assert_eq!(n, 3);
        assert_eq!(ob.take_upddone(), Some(5));
    }

    #[test]
    fn xids_are_24_bit_and_skip_ids_in_use_across_wrap_s5_4() {
        let mut x = XidAllocator::new(XID_MASK - 1);
        let held = x.alloc().unwrap(); // 0xfffffe, e.g. an UPDREQ waiting for UPDDONE
        assert_eq!(held, XID_MASK - 1);
        assert_eq!(x.alloc(), Some(XID_MASK));
        x.release(XID_MASK);
        // Wrap around all 2^24 ids: the held one is never handed out again.
        x.next = XID_MASK - 1;
        assert_eq!(x.alloc(), Some(XID_MASK));
        assert_eq!(x.alloc(), Some(0));
        assert!(x.is_in_use(held));
    }

    #[test]
    fn restart_requeues_flagged_leases_s8_8() {
        let mut a = lease("2001:db8::1", 1, BindingStatus::Active, 1, Some(99));
        a.failover.update_pending = true;
        let b = lease("2001:db8::3", 2, BindingStatus::Active, 1, Some(99));
        let mut ob = Outbox::default();
        ob.restore_from([&a, &b]);
        assert!(ob.is_pending(&UpdateKey::Client(duid(1))));
        assert!(!ob.is_pending(&UpdateKey::Client(duid(2))));
    }

    /// RFC 8156 §7.5.4: the periodic scan queues clients whose leases are still flagged and
    /// have nothing queued or in flight; not unflagged ones, not held ones, not pool-move
    /// records; `enqueue` (a local change) and a new connection lift a hold.
    #[test]
    fn rescan_requeues_flagged_idle_clients_only_s7_5_4() {
        let flagged = |a: &str, d: u8| {
            let mut l = lease(a, d, BindingStatus::Active, 1, Some(99));
            l.failover.update_pending = true;
            l
        };
        let rejected = flagged("2001:db8::1", 1);
        let in_flight = flagged("2001:db8::3", 2);
        let held = flagged("2001:db8::5", 3);
        let acked = lease("2001:db8::7", 4, BindingStatus::Active, 1, Some(99));
        let mut block = lease("2001:db8:80::/41", 0, BindingStatus::FreeBackup, 1, None);
        block.failover.update_pending = true;
        let all = [&rejected, &in_flight, &held, &acked, &block];
        let mut ob = Outbox::default();
        ob.connected(10);
        ob.enqueue(UpdateKey::Client(duid(2)));
        assert_eq!(ob.poll_send(Time(0), builder).len(), 1);
        ob.hold(UpdateKey::Client(duid(3)));
        assert_eq!(ob.rescan(all), 1);
        assert!(ob.is_pending(&UpdateKey::Client(duid(1))));
        assert_eq!(ob.pending_count(), 1);
        // Already queued: a second scan adds nothing.
        assert_eq!(ob.rescan(all), 0);
        // A local change lifts the hold.
        ob.enqueue(UpdateKey::Client(duid(3)));
        assert!(!ob.is_held(&UpdateKey::Client(duid(3))));
        // A new connection lifts it too.
        let mut ob = Outbox::default();
        ob.connected(10);
        ob.hold(UpdateKey::Client(duid(3)));
        assert_eq!(ob.rescan([&held]), 0);
        ob.disconnected();
        ob.connected(10);
        assert_eq!(ob.rescan([&held]), 1);
        // An unreadable reply: the key (here a pool move, flag or not) waits for the scan.
        let p = UpdateKey::Prefix("2001:db8:80::/41".parse().unwrap());
        let mut ob = Outbox::default();
        ob.connected(10);
        ob.retry_later(p.clone());
        assert!(!ob.is_pending(&p));
        assert_eq!(ob.rescan([]), 1);
        assert!(ob.is_pending(&p));
        assert_eq!(ob.rescan([]), 0, "once");
    }

    /// RFC 8156 is DHCPv6 only (§1): a DHCPv4 lease has no BNDUPD, is not flagged for the
    /// partner, and is not queued on restart or by a rescan, whatever its flags say.
    #[test]
    fn a_v4_lease_is_never_queued_for_the_partner_s1() {
        let mut v4 = lease("2001:db8::1", 5, BindingStatus::Active, 1, Some(99));
        v4.resource = Resource::V4Address([192, 0, 2, 10].into());
        v4.hw_address = vec![1, 2, 0, 0, 0, 0, 5];
        assert_eq!(UpdateKey::for_lease(Protocol::Rfc8156, &v4), None);
        let mut ob = Outbox::new(1);
        let mut changed = v4.clone();
        assert_eq!(ob.note_local_change(&mut changed), None);
        assert!(!changed.failover.update_pending);
        v4.failover.update_pending = true;
        ob.restore_from([&v4]);
        assert_eq!(ob.rescan([&v4]), 0);
        assert_eq!(ob.pending_count(), 0);
    }

    /// draft-ietf-dhc-failover-12 is DHCPv4 only: each DHCPv4 lease travels alone (§7.1),
    /// with a client or without, and no DHCPv6 lease is ever queued.
    #[test]
    fn a_draft12_outbox_queues_each_v4_lease_alone_and_no_v6_lease_s7_1() {
        let v6 = lease("2001:db8::1", 5, BindingStatus::Active, 1, Some(99));
        let mut v4 = v6.clone();
        v4.resource = Resource::V4Address([192, 0, 2, 10].into());
        let mut free4 = v4.clone();
        free4.resource = Resource::V4Address([192, 0, 2, 11].into());
        free4.duid = Duid::default();
        free4.status = BindingStatus::Free;
        assert_eq!(
            UpdateKey::for_lease(Protocol::Draft12, &v4),
            Some(UpdateKey::V4Address([192, 0, 2, 10].into()))
        );
        assert_eq!(UpdateKey::for_lease(Protocol::Draft12, &v6), None);
        let mut ob = Outbox::with_protocol(1, Protocol::Draft12);
        for l in [&v6, &v4, &free4] {
            let mut l = l.clone();
            l.failover.update_pending = true;
            ob.restore_from([&l]);
        }
        assert_eq!(ob.pending_count(), 2);
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use crate::update::build_prefix_update;
    use proptest::prelude::*;
    use tandem_core::BindingStatus;

    #[derive(Clone, Debug)]
    enum Op {
        Change(u8),
        Poll,
        Reply(usize),
        Disconnect,
        Connect(u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..8).prop_map(Op::Change),
            Just(Op::Poll),
            (0usize..8).prop_map(Op::Reply),
            Just(Op::Disconnect),
            (0u32..4).prop_map(Op::Connect),
        ]
    }

    proptest! {
        /// §6.1.2 flow control: never more outstanding than the partner allows, and no key is
        /// ever lost: every changed key is pending, outstanding, or was answered.
        #[test]
        fn window_and_no_loss_s6_1_2(ops in proptest::collection::vec(op(), 0..200)) {
            let mut ob = Outbox::default();
            let mut window = 0u32;
            let mut sent: Vec<u32> = Vec::new();
            let mut owed: HashSet<UpdateKey> = HashSet::new();
            let key = |n: u8| UpdateKey::Prefix(format!("2001:db8:{n}::/48").parse().unwrap());
            for op in ops {
                match op {
                    Op::Change(n) => { ob.enqueue(key(n)); owed.insert(key(n)); }
                    Op::Poll => {
                        for o in ob.poll_send(Time(0), |k, now| match k {
                            UpdateKey::Prefix(p) => Some(build_prefix_update(*p, BindingStatus::Free, now, now)),
                            UpdateKey::Client(_) | UpdateKey::V4Address(_) => None,
                        }) { sent.push(o.xid); }
                    }
                    Op::Reply(i) => {
                        if !sent.is_empty() {
                            let xid = sent.remove(i % sent.len());
                            if let Some(o) = ob.on_reply(xid) {
                                if !ob.is_pending(&o.key) { owed.remove(&o.key); }
                            }
                        }
                    }
                    Op::Disconnect => { ob.disconnected(); sent.clear(); }
                    Op::Connect(w) => { ob.connected(w); window = w.max(1); sent.clear(); }
                }
                if ob.is_connected() {
                    prop_assert!(ob.outstanding_count() as u32 <= window);
                }
                for k in &owed {
                    prop_assert!(ob.is_pending(k) || ob.outstanding_keys.contains(k));
                }
            }
        }
    }
}
