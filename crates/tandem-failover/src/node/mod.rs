//! The one core contract every driver speaks: a DHCPv6 server alone, or a member of a
//! failover pair (a single server is a pair member without a partner).
//!
//! Sans-I/O. Inputs: [`Node::handle_client`], the partner link (`handle_peer_bytes`,
//! `handle_connected`, `handle_disconnected`), [`Node::handle_timeout`], operator commands,
//! and [`Node::on_persisted`] for every batch the driver wrote. Outputs, from
//! [`Node::poll_output`], need no more judgement from the driver: a [`Output::Persist`] is
//! to be written (and reported back), every send may leave at once — the [`gate`] has
//! already held back what depends on a persist until it was durable.

pub mod gate;

use std::collections::VecDeque;

use crate::wire::PeerMessage;
use tandem_core::{
    DhcpServer, DropReason, Duid, Lease, LeaseTable, Outcome, Reply, RxInfo, RxInfo4, ServerConfig,
    Time,
};

use crate::allocation::proportional::PoolError;
use crate::endpoint::EndpointRecord;
use crate::server::{self, Event, FailoverServer, PairConfig, PersistItem};
use crate::timers::{Timer, TimerTable};
use crate::types::ServerState;
use gate::{Gate, Lane};

pub use gate::{Batch, BatchId};

/// One output, to carry out in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Write these to stable storage, then call [`Node::on_persisted`] with the batch id.
    Persist(Batch<PersistItem>),
    /// Send to the client (or its relay) now, out of the way the request came in.
    Client { reply: Reply, via: Via },
    /// Send to the partner now.
    Peer(PeerMessage),
    /// Close the partner connection now (after the partner messages before it).
    ClosePeer { reason: String },
    /// For the log and the counters.
    Event(Event),
    /// An operator's lease change ([`Node::operator_changes`]) is durable (`Ok`) or was
    /// not written (`Err`): the operator may be answered now, never before.
    OperatorDone {
        ticket: Ticket,
        result: Result<(), String>,
    },
}

/// Names one operator request waiting for its commit (chosen by the driver).
pub type Ticket = u64;

/// A lease change an operator asks for (the control API), applied through the core like a
/// client's: persisted before the answer, sent to the partner after the persist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OperatorChange {
    /// Insert or replace the record for the lease's resource.
    Upsert(Lease),
    /// Take the lease back: forgotten by a server alone; released (§7.2 event 3) or reset
    /// (event 10) by a pair member, so the partner hears of it.
    Remove(tandem_core::Resource),
}

/// How a client's request arrived, for its reply to leave the same way (opaque to the
/// core: the driver's interface index and the local address the request was sent to, if
/// that was one of ours rather than a multicast group).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Via {
    pub ifindex: u32,
    pub local: Option<std::net::IpAddr>,
}

/// A send held by the gate.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Send {
    Client(Reply, Via),
    Peer(PeerMessage),
    Close(String),
    Operator(Ticket),
}

enum Mode {
    Standalone(Box<DhcpServer>),
    Pair(Box<FailoverServer>),
}

/// The protocol core a driver runs: alone or as a pair member, with the one gate.
pub struct Node {
    mode: Mode,
    gate: Gate<PersistItem, Send>,
    events: VecDeque<Event>,
    /// Operator requests whose commit failed, to answer with the error.
    failed_ops: VecDeque<(Ticket, String)>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("state", &self.state())
            .field("leases", &self.leases().len())
            .finish_non_exhaustive()
    }
}

impl Node {
    /// A server without a partner.
    pub fn standalone(config: ServerConfig, server_duid: Duid, leases: Vec<Lease>) -> Self {
        Self::with(Mode::Standalone(Box::new(DhcpServer::new(
            config,
            server_duid,
            LeaseTable::from_leases(leases),
        ))))
    }

    /// A failover pair member, starting (in STARTUP) from what the store holds.
    pub fn pair_member(
        config: ServerConfig,
        server_duid: Duid,
        leases: Vec<Lease>,
        record: Option<EndpointRecord>,
        pair: PairConfig,
        now: Time,
    ) -> Result<Self, PoolError> {
        let fs = FailoverServer::new(config, server_duid, leases, record, pair, now)?;
        let mut n = Self::with(Mode::Pair(Box::new(fs)));
        n.absorb();
        Ok(n)
    }

    fn with(mode: Mode) -> Self {
        Node {
            mode,
            gate: Gate::default(),
            events: VecDeque::new(),
            failed_ops: VecDeque::new(),
        }
    }

    // ------------------------------------------------------------------ queries

    /// The failover side, for a pair member.
    pub fn failover(&self) -> Option<&FailoverServer> {
        match &self.mode {
            Mode::Pair(fs) => Some(fs),
            Mode::Standalone(_) => None,
        }
    }

    pub fn dhcp(&self) -> &DhcpServer {
        match &self.mode {
            Mode::Pair(fs) => fs.dhcp(),
            Mode::Standalone(d) => d,
        }
    }

    pub fn leases(&self) -> &LeaseTable {
        self.dhcp().leases()
    }

    /// The failover state (None for a server without a partner).
    pub fn state(&self) -> Option<ServerState> {
        self.failover().map(|f| f.state())
    }

    /// Sends waiting for a commit (the driver stops reading clients when there are many).
    pub fn waiting_for_commit(&self) -> usize {
        self.gate.held()
    }

    /// Persists staged since the last [`Output::Persist`] (they join the next batch, in
    /// order): lets a driver tell which input staged which change (the lease log and its
    /// counters).
    pub fn staged(&self) -> usize {
        self.gate.staged()
    }

    /// Batches taken and not yet reported back.
    pub fn commits_in_flight(&self) -> u64 {
        self.gate.in_flight()
    }

    // ------------------------------------------------------------------ inputs

    /// One client datagram at `now`. The returned outcome is for logs and counters (its
    /// reply and changes are already in the outputs).
    pub fn handle_client(&mut self, now: Time, bytes: &[u8], rx: &RxInfo, via: Via) -> Outcome {
        // Decoded once, by tandem-wire; a malformed datagram is the core's to count and
        // explain (the precise WireError).
        let packet = tandem_wire::v6::Packet::parse(bytes);
        let outcome = match (&mut self.mode, &packet) {
            (Mode::Pair(fs), Ok(p)) => fs.handle_client_packet(now, p, rx),
            (Mode::Pair(fs), Err(_)) => fs.handle_client(now, bytes, rx),
            (Mode::Standalone(d), _) => {
                let o = match &packet {
                    Ok(p) => d.handle_packet(now, p, rx),
                    Err(_) => d.handle(now, bytes, rx),
                };
                self.gate_alone(o, via)
            }
        };
        self.absorb_with(via);
        outcome
    }

    /// One DHCPv4 client datagram at `now` (RFC 2131), through the same gate: the ACK
    /// leaves only once its lease is durable. A member of an RFC 8156 pair serves no
    /// DHCPv4 (that failover is DHCPv6 only, §1), so it drops every one as having no
    /// subnet; a member of a draft-12 pair serves it as its failover state allows.
    pub fn handle_client4(&mut self, now: Time, bytes: &[u8], rx: &RxInfo4, via: Via) -> Outcome {
        let outcome = match &mut self.mode {
            Mode::Standalone(d) => {
                let o = d.handle_v4(now, bytes, rx);
                return self.gate_alone(o, via);
            }
            Mode::Pair(fs) if fs.protocol() == crate::wire::Protocol::Draft12 => {
                fs.handle_client4(now, bytes, rx)
            }
            Mode::Pair(_) => {
                return Outcome {
                    drop: Some(DropReason::NoSubnet),
                    ..Outcome::default()
                }
            }
        };
        self.absorb_with(via);
        outcome
    }

    /// A server alone: the outcome's changes are staged, its reply waits for them (or
    /// leaves at once when there are none: an Advertise, a DHCPOFFER). A DHCPOFFER that
    /// must wait for a conflict probe (RFC 2131 §4.4.1, [`Outcome::probe`]) is not sent
    /// here: it stays in the outcome for the driver to hold until the probe ends.
    fn gate_alone(&mut self, mut o: Outcome, via: Via) -> Outcome {
        let changes = std::mem::take(&mut o.changes);
        let durable_first = !changes.is_empty();
        for c in changes {
            self.gate.persist(PersistItem::Lease(c));
        }
        if o.probe.is_some() {
            return o;
        }
        if let Some(r) = o.reply.clone() {
            if durable_first {
                self.gate
                    .send_after_persist(Lane::Client, Send::Client(r, via));
            } else {
                self.gate.send_now(Lane::Client, Send::Client(r, via));
            }
        }
        o
    }

    /// The driver's probe of `addr` was answered (RFC 2131 §4.4.1): the core quarantines
    /// it ([`DhcpServer::address_in_use`]) and the change is staged like any other. How
    /// many changes were staged (0: nothing to quarantine, e.g. a stale probe).
    pub fn address_in_use4(&mut self, now: Time, addr: std::net::Ipv4Addr) -> usize {
        let d = match &mut self.mode {
            Mode::Standalone(d) => d,
            // A draft-12 pair member: the quarantine is a lease change like any other,
            // replicated to the partner (ISC dhcpd sends ABANDONED too).
            Mode::Pair(fs) => {
                let n = fs.address_in_use4(now, addr);
                self.absorb_with(Via::default());
                return n;
            }
        };
        let changes = d.address_in_use(now, addr);
        let n = changes.len();
        for c in changes {
            self.gate.persist(PersistItem::Lease(c));
        }
        n
    }

    /// Bytes of one failover message (without the 2-byte length).
    /// Whether `bytes` from the partner are a binding update (see
    /// [`crate::wire::Protocol::is_binding_update`]); false without a partner.
    pub fn peer_message_is_update(&self, bytes: &[u8]) -> bool {
        match &self.mode {
            Mode::Pair(fs) => fs.protocol().is_binding_update(bytes),
            _ => false,
        }
    }

    pub fn handle_peer_bytes(&mut self, now: Time, bytes: &[u8]) {
        if let Mode::Pair(fs) = &mut self.mode {
            fs.handle_peer_bytes(now, bytes);
        }
        self.absorb();
    }

    pub fn handle_connected(&mut self, now: Time) {
        if let Mode::Pair(fs) = &mut self.mode {
            fs.handle_connected(now);
        }
        self.absorb();
    }

    pub fn handle_disconnected(&mut self, now: Time) {
        if let Mode::Pair(fs) = &mut self.mode {
            fs.handle_disconnected(now);
        }
        self.absorb();
    }

    /// The operator says the partner is down.
    pub fn partner_down_command(&mut self, now: Time) -> Result<(), String> {
        let r = match &mut self.mode {
            Mode::Pair(fs) => fs.partner_down_command(now),
            Mode::Standalone(_) => Err("this server has no failover partner".into()),
        };
        self.absorb();
        r
    }

    /// Lease changes from the operator (the control API), as one unit: applied to the lease
    /// table now, persisted in the open batch, and for a pair member queued as BNDUPDs that
    /// leave after the persist (RFC 8156 §4.3). [`Output::OperatorDone`] with `ticket` is
    /// released by the gate once that batch is durable (or failed): the operator hears of
    /// the change when a client would, never before. The caller checked the changes
    /// (resources inside the configuration, lifetimes).
    pub fn operator_changes(&mut self, now: Time, changes: Vec<OperatorChange>, ticket: Ticket) {
        match &mut self.mode {
            Mode::Pair(fs) => fs.operator_changes(now, changes),
            Mode::Standalone(d) => {
                for c in changes {
                    let change = match c {
                        OperatorChange::Upsert(l) => tandem_core::LeaseChange::Upsert(l),
                        OperatorChange::Remove(r) => {
                            if d.leases().get(&r).is_none() {
                                continue;
                            }
                            tandem_core::LeaseChange::Remove(r)
                        }
                    };
                    d.apply_external(&change);
                    self.gate.persist(PersistItem::Lease(change));
                }
            }
        }
        self.absorb();
        self.gate
            .send_after_persist(Lane::Client, Send::Operator(ticket));
    }

    /// Why `config` cannot replace the running configuration (empty: it can). See
    /// [`DhcpServer::check_reconfigure`] and, for a pair member,
    /// [`FailoverServer::check_reconfigure`].
    pub fn check_reconfigure(&self, config: &ServerConfig, now: Time) -> Vec<String> {
        match &self.mode {
            Mode::Pair(fs) => fs.check_reconfigure(config, now),
            Mode::Standalone(d) => d.check_reconfigure(config, now),
        }
    }

    /// Replaces the DHCPv6 configuration live, keeping every lease (allocators are rebuilt
    /// from the lease table). Refused, with every reason, when [`Self::check_reconfigure`]
    /// finds a problem; nothing changes then.
    pub fn reconfigure(&mut self, config: ServerConfig, now: Time) -> Result<(), Vec<String>> {
        let problems = self.check_reconfigure(&config, now);
        if !problems.is_empty() {
            return Err(problems);
        }
        match &mut self.mode {
            Mode::Pair(fs) => fs.reconfigure(config),
            Mode::Standalone(d) => d.reconfigure(config),
        }
        Ok(())
    }

    /// Planned shutdown: DISCONNECT to the partner.
    pub fn shutdown(&mut self, now: Time) {
        if let Mode::Pair(fs) = &mut self.mode {
            fs.shutdown(now);
        }
        self.absorb();
    }

    /// Earliest time [`Self::handle_timeout`] has work (only work it will do).
    pub fn poll_timeout(&self) -> Option<Time> {
        self.timers().next().map(|(_, at)| at)
    }

    /// The core's timers, by kind.
    pub fn timers(&self) -> TimerTable {
        match &self.mode {
            Mode::Pair(fs) => fs.timers(),
            Mode::Standalone(d) => {
                let mut t = TimerTable::default();
                t.set(Timer::LeaseExpiry, d.next_timeout());
                t
            }
        }
    }

    /// The driver saw the wall clock step by `secs` against its monotonic clock: the local
    /// (failover) timers follow it, so they fire after the time that really passed; lease
    /// expiries are wall-clock times and do not move. A server alone has only those.
    pub fn follow_clock_step(&mut self, secs: i64) {
        if let Mode::Pair(fs) = &mut self.mode {
            fs.follow_clock_step(secs);
        }
    }

    /// Timers due at `now`: failover timers, lease expiry, periodic scans. Returns how many
    /// changes they staged for writing.
    pub fn handle_timeout(&mut self, now: Time) -> usize {
        let before = self.gate.staged();
        match &mut self.mode {
            Mode::Pair(fs) => fs.handle_timeout(now),
            Mode::Standalone(d) => {
                for c in d.reclaim_expired(now) {
                    self.gate.persist(PersistItem::Lease(c));
                }
            }
        }
        self.absorb();
        self.gate.staged().saturating_sub(before)
    }

    /// The driver wrote batch `id` (or failed to). What waited on it is released — or, if
    /// it failed, withheld for good: client replies are not sent (the client retries), and
    /// a pair member resets the partner link so the partner sends again what we never
    /// acknowledged (RFC 8156 §7.7).
    pub fn on_persisted(&mut self, id: BatchId, result: Result<(), String>) {
        let ok = result.is_ok();
        let dropped = self.gate.persisted(id, ok);
        if let Err(error) = result {
            for s in &dropped.items {
                if let Send::Operator(t) = s {
                    self.failed_ops.push_back((*t, error.clone()));
                }
            }
            let replies_withheld = dropped
                .items
                .iter()
                .filter(|s| matches!(s, Send::Client(..)))
                .count();
            let link_reset = matches!(self.mode, Mode::Pair(_));
            if link_reset {
                self.gate
                    .send_now(Lane::Partner, Send::Close("lease commit failed".into()));
            }
            self.events.push_back(Event::CommitFailed {
                error,
                replies_withheld,
                link_reset,
            });
        }
    }

    /// Next output.
    pub fn poll_output(&mut self) -> Option<Output> {
        if let Some(e) = self.events.pop_front() {
            return Some(Output::Event(e));
        }
        if let Some((ticket, error)) = self.failed_ops.pop_front() {
            return Some(Output::OperatorDone {
                ticket,
                result: Err(error),
            });
        }
        if let Some(b) = self.gate.take_batch() {
            return Some(Output::Persist(b));
        }
        self.gate.poll_ready().map(|s| match s {
            Send::Client(reply, via) => Output::Client { reply, via },
            Send::Peer(m) => Output::Peer(m),
            Send::Close(reason) => Output::ClosePeer { reason },
            Send::Operator(ticket) => Output::OperatorDone {
                ticket,
                result: Ok(()),
            },
        })
    }

    /// Moves the failover side's outputs into the gate (persists, gated and free sends) and
    /// the event queue.
    fn absorb(&mut self) {
        self.absorb_with(Via::default());
    }

    /// As [`Self::absorb`], client replies (which only a client request produces) leaving
    /// by `via`.
    fn absorb_with(&mut self, via: Via) {
        let Mode::Pair(fs) = &mut self.mode else {
            return;
        };
        while let Some(o) = fs.poll_output() {
            match o {
                server::Output::Persist(item) => self.gate.persist(item),
                server::Output::ClientReply {
                    reply,
                    after_persist: true,
                } => self
                    .gate
                    .send_after_persist(Lane::Client, Send::Client(reply, via)),
                server::Output::ClientReply { reply, .. } => {
                    self.gate.send_now(Lane::Client, Send::Client(reply, via))
                }
                server::Output::Peer {
                    msg,
                    after_persist: true,
                } => self.gate.send_after_persist(Lane::Partner, Send::Peer(msg)),
                server::Output::Peer { msg, .. } => {
                    self.gate.send_now(Lane::Partner, Send::Peer(msg))
                }
                server::Output::ClosePeer { reason } => {
                    self.gate.send_now(Lane::Partner, Send::Close(reason))
                }
                server::Output::Event(e) => self.events.push_back(e),
            }
        }
    }
}

#[cfg(test)]
mod tests;
