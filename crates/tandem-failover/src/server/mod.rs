//! A DHCPv6 server with a failover partner: the RFC 8415 core (`tandem_core::DhcpServer`)
//! joined to the RFC 8156 endpoint, the binding-update queue and the prefix pools.
//!
//! Sans-I/O. Inputs: [`FailoverServer::handle_client`], [`FailoverServer::handle_peer`],
//! `handle_connected` / `handle_disconnected`, [`FailoverServer::handle_timeout`], operator
//! commands. Outputs are drained with [`FailoverServer::poll_output`], in order, and obey one
//! rule (ARCHITECTURE.md "the core's contract"): an output marked *after persist* may leave only
//! once every [`Output::Persist`] drained before it is on stable storage.

mod peer;
pub mod policy;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use tandem_core::{
    BindingStatus, DhcpServer, Duid, IaType, Lease, LeaseChange, LeaseTable, Outcome, Reply,
    Resource, RxInfo, ServerConfig, Time,
};

use crate::wire::{Kind, PeerMessage, Protocol};
use tandem_wire::dhcpfo;

use crate::allocation::proportional::PrefixPool;
use crate::binding::{may_free_without_ack, LeaseEvent};
use crate::endpoint::{Effect, Endpoint, EndpointConfig, EndpointRecord, Routed};
use crate::mclt::partner_lifetime_to_send;
use crate::node::OperatorChange;
use crate::outbox::{Outbox, UpdateKey};
use crate::timers::{Timer, TimerTable};
use crate::types::{Role, ServerState};
use crate::update::{build_client_update, build_prefix_update_from_lease, wire::update_to_wire};
use policy::PairPolicy;

/// How often PARTNER-DOWN looks for lapsed leases it may free without an ack (§7.2 event 4),
/// the primary checks the prefix balance (§4.2.2), and rejected updates go out again (§7.5.4).
const SCAN_INTERVAL_SECS: u64 = 30;

/// Failover settings beyond the endpoint's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PairConfig {
    pub endpoint: EndpointConfig,
    /// Share of each delegable prefix pool the secondary holds (§4.2.2), in percent.
    pub secondary_prefix_share: u8,
    /// Rebalance only when the secondary is this many prefixes short (hysteresis).
    pub rebalance_threshold: u64,
}

/// Something to write to stable storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PersistItem {
    Lease(LeaseChange),
    Endpoint(EndpointRecord),
}

/// Worth a log line or a counter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    StateChanged {
        from: ServerState,
        to: ServerState,
    },
    Alarm(String),
    ProtocolError(String),
    /// The partner rejected our update for this resource (status code).
    UpdateRejected {
        resource: Resource,
        code: u16,
    },
    /// A BNDREPLY or UPDDONE that matches nothing we sent.
    Unexpected(String),
    /// Two clients held one lease: the partner's binding (RFC 8156 §7.5.4 accept(3))
    /// replaced `client`'s, which was valid until `until`. Never silent.
    BindingDisplaced {
        resource: Resource,
        client: Duid,
        until: Option<Time>,
        by: Duid,
    },
    LinkUp,
    LinkDown,
    /// A batch could not be written: what waited on it was withheld (client replies: the
    /// client retries) and, for a pair member, the partner link reset.
    CommitFailed {
        error: String,
        replies_withheld: usize,
        link_reset: bool,
    },
}

/// One output, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    Persist(PersistItem),
    /// A client reply; after the persists before it when it grants, extends or releases
    /// a lease (`after_persist`), at once otherwise (an Advertise, a refusal).
    ClientReply {
        reply: Reply,
        after_persist: bool,
    },
    /// A message for the partner. `after_persist` is false only for connection
    /// housekeeping (CONNECT, CONNECTREPLY, CONTACT, DISCONNECT) that carries no state.
    Peer {
        msg: PeerMessage,
        after_persist: bool,
    },
    /// Close the partner connection (after sending the peer messages before it).
    ClosePeer {
        reason: String,
    },
    Event(Event),
}

/// The failover-aware DHCPv6 server.
pub struct FailoverServer {
    dhcp: DhcpServer,
    ep: Endpoint,
    outbox: Outbox,
    prefix_pools: Vec<PrefixPool>,
    /// The IAs each client has leases in (BNDUPDs carry all of a client's bindings).
    client_ias: HashMap<Duid, BTreeSet<(IaType, u32)>>,
    /// Our running UPDREQ/UPDREQALL.
    our_request: Option<u32>,
    out: VecDeque<Output>,
    next_scan: Time,
    pair_config: PairConfig,
    /// draft-12 secondary: the primary's hash bucket assignment from its CONNECT.
    peer_hba: Option<tandem_wire::dhcpfo::Hba>,
}

impl std::fmt::Debug for FailoverServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FailoverServer")
            .field("state", &self.ep.state())
            .field("leases", &self.dhcp.leases().len())
            .finish_non_exhaustive()
    }
}

impl FailoverServer {
    /// Starts (in STARTUP) from what the store holds.
    pub fn new(
        config: ServerConfig,
        server_duid: Duid,
        leases: Vec<Lease>,
        record: Option<EndpointRecord>,
        pair: PairConfig,
        now: Time,
    ) -> Result<Self, crate::allocation::proportional::PoolError> {
        let mut prefix_pools = Vec::new();
        for s in &config.subnets {
            for p in &s.pd_pools {
                prefix_pools.push(PrefixPool::new(
                    p.prefix,
                    p.delegated_len,
                    pair.secondary_prefix_share,
                    pair.rebalance_threshold,
                )?);
            }
        }
        let table = LeaseTable::from_leases(leases);
        let mut client_ias: HashMap<Duid, BTreeSet<(IaType, u32)>> = HashMap::new();
        let mut blocks: Vec<&Lease> = Vec::new();
        for l in table.iter() {
            // DHCPv4 leases have no IA and no part in RFC 8156 (§1: DHCPv6 only).
            let Some(ia_type) = l.ia_type() else {
                continue;
            };
            if !l.duid.is_empty() {
                client_ias
                    .entry(l.duid.clone())
                    .or_default()
                    .insert((ia_type, l.iaid));
            } else if matches!(l.resource, Resource::Prefix(_)) {
                blocks.push(l);
            }
        }
        // Pool-move records may nest (a /52 handed over, later a /55 inside it taken back):
        // replay them in the order they happened, larger blocks first on a tie.
        blocks.sort_by_key(|l| (l.start_time_of_state, l.resource));
        for l in blocks {
            // A take-back (FREE) the secondary has not accepted has not happened: the block,
            // which was FREE-BACKUP when it was asked back, stays the secondary's until it
            // does (§4.2.2, §7.7; tandem-sim seed 14090).
            let unacked_take_back = pair.endpoint.role == Role::Primary
                && l.status == BindingStatus::Free
                && l.failover.update_pending;
            let status = if unacked_take_back {
                BindingStatus::FreeBackup
            } else {
                l.status
            };
            if let Resource::Prefix(p) = l.resource {
                for pool in prefix_pools.iter_mut() {
                    if pool.parent().contains(&p) {
                        let _ = pool.apply_status(p, status);
                    }
                }
            }
        }
        let mut outbox = Outbox::with_protocol(1, pair.endpoint.protocol);
        let mut pending: Vec<&Lease> = table.iter().filter(|l| l.failover.update_pending).collect();
        pending.sort_by_key(|l| l.resource); // deterministic resend order
        outbox.restore_from(pending);
        let ep = Endpoint::start(pair.endpoint.clone(), record, now);
        let mut s = FailoverServer {
            dhcp: DhcpServer::new(config, server_duid, table),
            ep,
            outbox,
            prefix_pools,
            client_ias,
            our_request: None,
            out: VecDeque::new(),
            next_scan: now + SCAN_INTERVAL_SECS,
            pair_config: pair,
            peer_hba: None,
        };
        s.refresh_policy();
        Ok(s)
    }

    // ------------------------------------------------------------------ queries

    pub fn state(&self) -> ServerState {
        self.ep.state()
    }
    pub fn endpoint(&self) -> &Endpoint {
        &self.ep
    }
    pub fn dhcp(&self) -> &DhcpServer {
        &self.dhcp
    }
    pub fn leases(&self) -> &LeaseTable {
        self.dhcp.leases()
    }
    pub fn role(&self) -> Role {
        self.ep.role()
    }
    /// BNDUPDs waiting to be sent and sent-but-unanswered.
    pub fn unacked_updates(&self) -> (usize, usize) {
        (self.outbox.pending_count(), self.outbox.outstanding_count())
    }
    /// The outbox, for status displays and tests.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }
    pub fn pair_config(&self) -> &PairConfig {
        &self.pair_config
    }
    pub fn prefix_pools(&self) -> &[PrefixPool] {
        &self.prefix_pools
    }

    /// Next output to carry out, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Earliest time [`Self::handle_timeout`] has work. Only work it will do: lease expiry
    /// held back ([`Self::expiry_held_back`]) is not reported, so a driver that calls
    /// `handle_timeout` whenever this is due never spins.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.timers().next().map(|(_, at)| at)
    }

    /// Every timer, by kind: the endpoint's, lease expiry (absent while held back) and the
    /// periodic scan.
    pub fn timers(&self) -> TimerTable {
        let mut t = self.ep.timers();
        t.set(
            Timer::LeaseExpiry,
            self.dhcp
                .next_timeout()
                .filter(|_| !self.expiry_held_back()),
        );
        t.set(Timer::Scan, Some(self.next_scan));
        t
    }

    /// In PARTNER-DOWN, the time the reuse waits count from (the partner's pool and leases
    /// we never heard of are usable MCLT after it, §8.4.1): when we entered PARTNER-DOWN —
    /// or later, if the partner itself was in PARTNER-DOWN not long before: its leases of
    /// that time were not bounded by MCLT, only by the longest lifetime it grants, and some
    /// may never have reached us (tandem-sim seed 22464).
    pub fn reuse_base(&self) -> Option<Time> {
        let pd = self.ep.partner_down_since()?;
        let longest = self
            .dhcp
            .config()
            .subnets
            .iter()
            .map(|s| s.valid_lifetime)
            .max()
            .unwrap_or(0);
        let partner_pd = self
            .ep
            .partner_pd_until()
            .map_or(Time::ZERO, |t| t.plus_lifetime(longest));
        Some(pd.max(partner_pd))
    }

    fn refresh_policy(&mut self) {
        let policy = PairPolicy {
            role: self.ep.role(),
            state: self.ep.state(),
            mclt: self.ep.mclt(),
            partner_down_since: self.reuse_base(),
            prefix_pools: Arc::new(self.prefix_pools.clone()),
            hba: self.ep.config().local.hba.or(self.peer_hba),
        };
        self.dhcp.set_policy(Box::new(policy));
    }

    // ------------------------------------------------------------------ clients

    /// One client datagram (RFC 8415), answered as the failover state allows: whom to
    /// answer, what to allocate, which unknown bindings to adopt and for how long is the
    /// lease policy's ([`PairPolicy`]), applied by the core to the decoded request, relayed
    /// or not.
    pub fn handle_client(&mut self, now: Time, bytes: &[u8], rx: &RxInfo) -> Outcome {
        match tandem_wire::v6::Packet::parse(bytes) {
            Ok(p) => self.handle_client_packet(now, &p, rx),
            // Malformed: the core counts it and says why.
            Err(_) => self.dhcp.handle(now, bytes, rx),
        }
    }

    /// One decoded client datagram (the core processes the decoded request and its relay
    /// chain; nothing here looks at bytes).
    pub fn handle_client_packet(
        &mut self,
        now: Time,
        packet: &tandem_wire::v6::Packet,
        rx: &RxInfo,
    ) -> Outcome {
        let mut o = self.dhcp.handle_packet(now, packet, rx);
        let changes = std::mem::take(&mut o.changes);
        let after_persist = !changes.is_empty();
        self.adopt_local_changes(now, changes);
        if let Some(reply) = o.reply.clone() {
            self.out.push_back(Output::ClientReply {
                reply,
                after_persist,
            });
        }
        self.pump_updates(now);
        o
    }

    /// One DHCPv4 client datagram (RFC 2131) on a draft-12 relationship, answered as the
    /// failover state allows through the same lease policy as DHCPv6; its lease changes
    /// get the same bookkeeping and lazy BNDUPD (draft-12 §5.2.1 "lazy update").
    pub fn handle_client4(
        &mut self,
        now: Time,
        bytes: &[u8],
        rx: &tandem_core::dhcpv4::RxInfo4,
    ) -> Outcome {
        let mut o = self.dhcp.handle_v4(now, bytes, rx);
        let changes = std::mem::take(&mut o.changes);
        let after_persist = !changes.is_empty();
        self.adopt_local_changes(now, changes);
        // An OFFER that waits for a conflict probe (RFC 2131 §4.4.1) stays in the outcome
        // for the driver to hold, as a server alone does.
        if let Some(reply) = o.reply.clone().filter(|_| o.probe.is_none()) {
            self.out.push_back(Output::ClientReply {
                reply,
                after_persist,
            });
        }
        self.pump_updates(now);
        o
    }

    /// The driver's conflict probe of `addr` was answered (RFC 2131 §4.4.1): quarantined
    /// by the core, then kept, persisted and sent to the partner like any lease change.
    /// How many changes that made (0: a stale probe).
    pub fn address_in_use4(&mut self, now: Time, addr: std::net::Ipv4Addr) -> usize {
        let changes = self.dhcp.address_in_use(now, addr);
        let n = changes.len();
        self.adopt_local_changes(now, changes);
        self.pump_updates(now);
        n
    }

    /// The relationship's failover protocol.
    pub fn protocol(&self) -> Protocol {
        self.ep.config().protocol
    }

    /// Lease changes the core made: add the failover bookkeeping (§7.3), persist,
    /// and queue the lazy BNDUPD (§4.3) that goes out after the client's reply.
    fn adopt_local_changes(&mut self, now: Time, changes: Vec<LeaseChange>) {
        if changes.is_empty() {
            return;
        }
        for c in changes {
            let LeaseChange::Upsert(mut l) = c else {
                self.persist(PersistItem::Lease(c));
                continue;
            };
            // A lease of the other family is outside this relationship (RFC 8156 is DHCPv6
            // only, §1; draft-12 DHCPv4 only): no failover bookkeeping and no BNDUPD, it
            // is only kept and persisted.
            if !self.covers(&l) {
                let change = LeaseChange::Upsert(l);
                self.dhcp.apply_external(&change);
                self.persist(PersistItem::Lease(change));
                continue;
            }
            match l.status {
                // Waits for the partner's ack, not for a timer (§7.2).
                BindingStatus::Released => l.state_expiration = None,
                BindingStatus::Active => {
                    let config = self.dhcp.config();
                    let desired = if l.is_v4() {
                        config
                            .subnets4
                            .iter()
                            .find(|s| s.id == l.subnet_id)
                            .map(|s| s.lease_time)
                    } else {
                        config
                            .subnets
                            .iter()
                            .find(|s| s.id == l.subnet_id)
                            .map(|s| s.valid_lifetime)
                    }
                    .unwrap_or(l.valid_lifetime);
                    let proposal = partner_lifetime_to_send(now, l.t1, l.valid_lifetime, desired);
                    l.failover.partner_lifetime = Some(proposal);
                }
                _ => {}
            }
            l.failover.update_pending = true;
            self.remember(&l);
            if let Some(k) = self.key_for(&l) {
                self.outbox.enqueue(k);
            }
            let change = LeaseChange::Upsert(l);
            self.dhcp.apply_external(&change);
            self.persist(PersistItem::Lease(change));
        }
        if let Some(r) = self.ep.touch(now) {
            self.persist(PersistItem::Endpoint(r));
        }
    }

    /// Whether this relationship carries `l`: DHCPv6 leases for RFC 8156 (§1), DHCPv4
    /// leases for draft-ietf-dhc-failover-12.
    fn covers(&self, l: &Lease) -> bool {
        l.is_v4() == (self.ep.config().protocol == Protocol::Draft12)
    }

    /// The BNDUPD `l` travels in on this relationship, if it carries `l`.
    fn key_for(&self, l: &Lease) -> Option<UpdateKey> {
        UpdateKey::for_lease(self.ep.config().protocol, l)
    }

    /// Notes a client IA whose BNDUPD may be built later. A DHCPv4 lease has no IA and is
    /// never sent to an RFC 8156 partner (§1 scope).
    fn remember(&mut self, l: &Lease) {
        if let (false, Some(ia_type)) = (l.duid.is_empty(), l.ia_type()) {
            self.client_ias
                .entry(l.duid.clone())
                .or_default()
                .insert((ia_type, l.iaid));
        }
    }

    fn persist(&mut self, item: PersistItem) {
        self.out.push_back(Output::Persist(item));
    }

    /// Applies a lease change decided by the failover side and persists it.
    fn store(&mut self, l: Lease) {
        self.remember(&l);
        let change = LeaseChange::Upsert(l);
        self.dhcp.apply_external(&change);
        self.persist(PersistItem::Lease(change));
    }

    // ------------------------------------------------------------------ operator

    /// Lease changes an operator made through the control API: an upsert is a local
    /// change like a client's (failover bookkeeping, persisted, BNDUPD after the persist,
    /// RFC 8156 §4.3); a removal releases an active lease (§7.2 event 3) or resets an
    /// abandoned one (event 10) so the partner learns of it, and the record becomes FREE or
    /// FREE-BACKUP once the partner acknowledges it. A record that is already on its way
    /// back to the pool is left as it is. A DHCPv4 lease is outside RFC 8156 (§1): no
    /// partner holds it, so its removal forgets it as a server alone does.
    pub fn operator_changes(&mut self, now: Time, changes: Vec<OperatorChange>) {
        let mut local = Vec::new();
        for c in changes {
            match c {
                OperatorChange::Upsert(l) => local.push(LeaseChange::Upsert(l)),
                OperatorChange::Remove(r) if r.is_v4() => {
                    if self.dhcp.leases().get(&r).is_some() {
                        let change = LeaseChange::Remove(r);
                        self.dhcp.apply_external(&change);
                        self.persist(PersistItem::Lease(change));
                    }
                }
                OperatorChange::Remove(r) => {
                    let Some(mut l) = self.dhcp.leases().get(&r).cloned() else {
                        continue;
                    };
                    let event = match l.status {
                        BindingStatus::Active => LeaseEvent::ClientReleases,
                        BindingStatus::Abandoned => LeaseEvent::AdminReset,
                        _ => continue,
                    };
                    if crate::binding::apply_event(&mut l, event, now).is_ok() {
                        local.push(LeaseChange::Upsert(l));
                    }
                }
            }
        }
        self.adopt_local_changes(now, local);
        self.pump_updates(now);
    }

    /// Why `config` cannot replace the running one (see
    /// [`DhcpServer::check_reconfigure`]); a pair member also keeps its prefix pools as
    /// they are, because their split with the partner (§4.2.2) is built on them: a prefix
    /// pool may be added, not changed or removed.
    pub fn check_reconfigure(&self, config: &ServerConfig, now: Time) -> Vec<String> {
        let mut problems = self.dhcp.check_reconfigure(config, now);
        let new: Vec<(ipnet::Ipv6Net, u8)> = config
            .subnets
            .iter()
            .flat_map(|s| s.pd_pools.iter().map(|p| (p.prefix, p.delegated_len)))
            .collect();
        for p in &self.prefix_pools {
            if !new.contains(&(p.parent(), p.delegated_len())) {
                problems.push(format!(
                    "prefix pool {} (delegated /{}) is missing or changed: a pair member may add \
                     prefix pools live but not change or remove one (its split with the partner \
                     depends on it, RFC 8156 §4.2.2); restart both members to do that",
                    p.parent(),
                    p.delegated_len()
                ));
            }
        }
        for (prefix, len) in &new {
            let known = self
                .prefix_pools
                .iter()
                .any(|p| (p.parent(), p.delegated_len()) == (*prefix, *len));
            if !known {
                if let Err(e) = PrefixPool::new(
                    *prefix,
                    *len,
                    self.pair_config.secondary_prefix_share,
                    self.pair_config.rebalance_threshold,
                ) {
                    problems.push(format!("prefix pool {prefix}: {e}"));
                }
            }
        }
        problems
    }

    /// Replaces the DHCPv6 configuration, keeping every lease and the prefix pools' split;
    /// new prefix pools start as the primary's (§4.2.2), the primary hands the secondary its
    /// share at the next balance check. Call [`Self::check_reconfigure`] first.
    pub fn reconfigure(&mut self, config: ServerConfig) {
        let mut old = std::mem::take(&mut self.prefix_pools);
        for s in &config.subnets {
            for p in &s.pd_pools {
                let pool = match old
                    .iter()
                    .position(|o| (o.parent(), o.delegated_len()) == (p.prefix, p.delegated_len))
                {
                    Some(i) => old.swap_remove(i),
                    None => match PrefixPool::new(
                        p.prefix,
                        p.delegated_len,
                        self.pair_config.secondary_prefix_share,
                        self.pair_config.rebalance_threshold,
                    ) {
                        Ok(pool) => pool,
                        // Checked by check_reconfigure; never serve a pool we cannot split.
                        Err(_) => continue,
                    },
                };
                self.prefix_pools.push(pool);
            }
        }
        self.dhcp.reconfigure(config);
        self.refresh_policy();
    }

    // ------------------------------------------------------------------ connection

    pub fn handle_connected(&mut self, now: Time) {
        let fx = self.ep.handle_connected(now);
        self.effects(now, fx);
    }

    pub fn handle_disconnected(&mut self, now: Time) {
        let fx = self.ep.handle_disconnected(now);
        self.effects(now, fx);
    }

    /// Bytes of one failover message: for RFC 8156 without the 2-byte length, for draft-12
    /// with it (see [`PeerMessage::parse`]).
    pub fn handle_peer_bytes(&mut self, now: Time, bytes: &[u8]) {
        match PeerMessage::parse(self.ep.config().protocol, bytes) {
            Ok(m) => self.handle_peer(now, m),
            Err(e) => {
                let fx = self.ep.handle_malformed(now, &e.to_string());
                self.effects(now, fx);
            }
        }
    }

    pub fn handle_peer(&mut self, now: Time, m: impl Into<PeerMessage>) {
        let (routed, fx) = self.ep.handle_message(now, m.into());
        self.effects(now, fx);
        match routed {
            Routed::Binding(m) => self.binding_message(now, m),
            Routed::Handled => {}
        }
    }

    /// The operator says the partner is down.
    pub fn partner_down_command(&mut self, now: Time) -> Result<(), String> {
        let fx = self.ep.handle_partner_down_command(now)?;
        self.effects(now, fx);
        Ok(())
    }

    /// Planned shutdown: DISCONNECT to the partner.
    pub fn shutdown(&mut self, now: Time) {
        let fx = self.ep.shutdown(now);
        self.effects(now, fx);
    }

    fn send(&mut self, now: Time, msg: impl Into<PeerMessage>) {
        self.ep.note_sent(now);
        self.push_peer(msg.into());
    }

    /// Queues a message for the partner. It waits for the persists before it unless it is
    /// connection housekeeping that carries no state *and* nothing was persisted for this
    /// input before it (a CONNECTREPLY after adopting the primary's MCLT agrees to what
    /// must be durable first).
    fn push_peer(&mut self, msg: PeerMessage) {
        let housekeeping = msg.kind().is_housekeeping();
        let after_persist =
            !housekeeping || self.out.iter().any(|o| matches!(o, Output::Persist(_)));
        self.out.push_back(Output::Peer { msg, after_persist });
    }

    fn effects(&mut self, now: Time, fx: Vec<Effect>) {
        for e in fx {
            match e {
                Effect::Send(m) => self.push_peer(m),
                Effect::Persist(r) => self.persist(PersistItem::Endpoint(r)),
                Effect::Close { reason } => {
                    self.out.push_back(Output::ClosePeer { reason });
                }
                Effect::StateChanged { from, to } => {
                    self.refresh_policy();
                    self.out
                        .push_back(Output::Event(Event::StateChanged { from, to }));
                }
                Effect::LinkUp { peer } => {
                    if peer.hba.is_some() && peer.hba != self.peer_hba {
                        self.peer_hba = peer.hba;
                        self.refresh_policy();
                    }
                    self.outbox.connected(peer.max_unacked);
                    self.out.push_back(Output::Event(Event::LinkUp));
                    if let Some(a) = self.ack_window_mismatch(peer.max_unacked) {
                        self.out.push_back(Output::Event(Event::Alarm(a)));
                    }
                }
                Effect::LinkDown => {
                    self.outbox.disconnected();
                    if let Some(x) = self.our_request.take() {
                        self.outbox.xids().release(x);
                    }
                    self.out.push_back(Output::Event(Event::LinkDown));
                }
                Effect::RequestUpdates { all } => self.request_updates(now, all),
                Effect::EnteredNormal => {
                    self.pump_updates(now);
                    // draft-12: ISC dhcpd's primary balances its pools on entering NORMAL
                    // (dhcpd's secondary asks only when it finds itself short), so ours
                    // does too rather than wait for a POOLREQ or the periodic scan.
                    if self.role() == Role::Primary && self.protocol() == Protocol::Draft12 {
                        self.balance_v4_pools(now);
                        self.pump_updates(now);
                    }
                    if self.role() == Role::Secondary {
                        let xid = self.outbox.xids().alloc().unwrap_or(0);
                        self.outbox.xids().release(xid);
                        self.send_bare(now, Kind::PoolReq, xid);
                    }
                }
                Effect::Alarm(a) => self.out.push_back(Output::Event(Event::Alarm(a))),
                Effect::ProtocolError(p) => {
                    self.out.push_back(Output::Event(Event::ProtocolError(p)))
                }
            }
        }
    }

    /// ISC dhcpd flushes its BNDACKs once half the updates *we* said we accept are pending,
    /// or after a 2 s timer; we send at most what it accepts. When that is less than half of
    /// ours, every window waits for the timer and updates crawl (one window per 2 s). Said
    /// once per connection, naming the fix.
    fn ack_window_mismatch(&self, partner_max_unacked: u32) -> Option<String> {
        let ours = self.ep.config().local.max_unacked;
        (self.protocol() == Protocol::Draft12 && partner_max_unacked.saturating_mul(2) < ours).then(
            || {
                format!(
                "the partner accepts {partner_max_unacked} unacknowledged updates and we announced \
                 {ours}: ISC dhcpd acknowledges when {} are pending or after 2 s, so binding \
                 updates will move {partner_max_unacked} per 2 s; set failover.max_unacked_bndupd \
                 to the partner's max-unacked-updates ({partner_max_unacked})",
                ours / 2
            )
            },
        )
    }

    fn request_updates(&mut self, now: Time, all: bool) {
        if let Some(x) = self.our_request.take() {
            self.outbox.xids().release(x);
        }
        let Some(xid) = self.outbox.xids().alloc() else {
            return;
        };
        self.our_request = Some(xid);
        let kind = if all { Kind::UpdReqAll } else { Kind::UpdReq };
        self.send_bare(now, kind, xid);
    }

    /// Sends a message of `kind` with no options (UPDREQ, UPDREQALL, UPDDONE, POOLREQ,
    /// POOLRESP) in this relationship's protocol.
    fn send_bare(&mut self, now: Time, kind: Kind, xid: u32) {
        if let Some(m) = PeerMessage::bare(self.ep.config().protocol, kind, xid, now) {
            self.send(now, m);
        }
    }

    // ------------------------------------------------------------------ updates out

    /// May BNDUPDs go out unasked now? In NORMAL and CONFLICT-DONE (§8.8, §8.12); in other
    /// states only in answer to the partner's UPDREQ/UPDREQALL.
    fn may_push_updates(&self) -> bool {
        self.ep.comm_ok()
            && (matches!(
                self.ep.state(),
                ServerState::Normal | ServerState::ConflictDone
            ) || self.outbox.answering_request())
    }

    /// Sends what the window allows, and UPDDONE once a requested sweep is answered.
    fn pump_updates(&mut self, now: Time) {
        if !self.may_push_updates() {
            return;
        }
        let FailoverServer {
            outbox,
            dhcp,
            client_ias,
            ..
        } = self;
        let sends = outbox.poll_send(now, |key, now| build_update(dhcp, client_ias, key, now));
        let protocol = self.ep.config().protocol;
        for u in sends {
            match update_message(protocol, &u.update, u.xid, now) {
                Some(msg) => self.send(now, msg),
                None => self.out.push_back(Output::Event(Event::Unexpected(format!(
                    "no {protocol:?} BNDUPD can carry {:?}",
                    UpdateKey::of_update(&u.update)
                )))),
            }
        }
        if let Some(xid) = self.outbox.take_upddone() {
            self.send_bare(now, Kind::UpdDone, xid);
        }
    }

    // ------------------------------------------------------------------ timers

    /// While it waits for the partner's updates (STARTUP, RECOVER, POTENTIAL-CONFLICT) a
    /// server must not expire leases from what may be stale data: its EXPIRED would look
    /// newer than the renewal the partner is about to send (found by tandem-sim seed 6550).
    /// The same holds until recovery is over (RECOVER-WAIT, RECOVER-DONE, §8.6, §8.7): the
    /// partner may be in PARTNER-DOWN, renewing without the MCLT cap and telling nobody
    /// until it is back in NORMAL (tandem-sim seed 42, check (g)).
    fn expiry_held_back(&self) -> bool {
        matches!(
            self.ep.state(),
            ServerState::Startup
                | ServerState::Recover
                | ServerState::RecoverWait
                | ServerState::RecoverDone
                | ServerState::PotentialConflict
        )
    }

    /// The wall clock stepped by `secs`: the local timers keep their real-time distance
    /// (see [`Endpoint::follow_clock_step`]); the periodic scan too. Lease times are wall
    /// clock and stay as they are (RFC 8156 §5.1: the partners exchange absolute times).
    pub fn follow_clock_step(&mut self, secs: i64) {
        self.ep.follow_clock_step(secs);
        self.next_scan = self.next_scan.shifted(secs);
    }

    pub fn handle_timeout(&mut self, now: Time) {
        let fx = self.ep.handle_timeout(now);
        self.effects(now, fx);
        if !self.expiry_held_back() && self.dhcp.next_timeout().is_some_and(|t| t <= now) {
            let changes = self.dhcp.reclaim_expired(now);
            self.adopt_local_changes(now, changes);
        }
        if now >= self.next_scan {
            self.next_scan = now + SCAN_INTERVAL_SECS;
            self.free_in_partner_down(now);
            if self.role() == Role::Primary && self.ep.state() == ServerState::Normal {
                self.rebalance(
                    now,
                    crate::allocation::proportional::RebalanceTrigger::BalanceCheck,
                );
            }
            self.resend_pending_updates();
        }
        self.pump_updates(now);
    }

    /// PARTNER-DOWN: EXPIRED/RELEASED/RESET leases become available without the partner's
    /// ack once MCLT has passed since their state began (§7.2 event 4) and the §8.4.1 wait
    /// is over. The partner still has to learn it, so they stay update-pending.
    fn free_in_partner_down(&mut self, now: Time) {
        if self.ep.state() != ServerState::PartnerDown {
            return;
        }
        let mclt = self.ep.mclt();
        let since = self.reuse_base();
        let due: Vec<Lease> = self
            .dhcp
            .leases()
            .iter()
            .filter(|l| self.covers(l))
            .filter(|l| may_free_without_ack(ServerState::PartnerDown, l, since, mclt, now))
            .cloned()
            .collect();
        // The table is a hash map; sort so the order of the updates (and every run of the
        // simulator) does not depend on hashing.
        let mut due = due;
        due.sort_by_key(|l| l.resource);
        for mut l in due {
            if crate::binding::apply_event(&mut l, LeaseEvent::PartnerDownMcltElapsed, now).is_ok()
            {
                l.failover.update_pending = true;
                if let Some(k) = self.key_for(&l) {
                    self.outbox.enqueue(k);
                }
                self.store(l);
            }
        }
    }
}

/// Builds the BNDUPD for one queued key from the current records (coalesced, §4.3).
fn build_update(
    dhcp: &DhcpServer,
    client_ias: &HashMap<Duid, BTreeSet<(IaType, u32)>>,
    key: &UpdateKey,
    now: Time,
) -> Option<crate::update::BindingUpdate> {
    match key {
        UpdateKey::Client(duid) => {
            let ias = client_ias.get(duid)?;
            let leases: Vec<Lease> = ias
                .iter()
                .flat_map(|(t, iaid)| dhcp.leases().for_client(duid, *iaid, *t))
                .cloned()
                .collect();
            build_client_update(duid, &leases, now)
        }
        UpdateKey::Prefix(p) => dhcp
            .leases()
            .get(&Resource::Prefix(*p))
            .and_then(|l| build_prefix_update_from_lease(l, now)),
        UpdateKey::V4Address(a) => dhcp
            .leases()
            .get(&Resource::V4Address(*a))
            .and_then(crate::update::draft12::update_from_lease),
    }
}

/// The BNDUPD message for `update` in `protocol`; None if the protocol cannot carry it.
fn update_message(
    protocol: Protocol,
    update: &crate::update::BindingUpdate,
    xid: u32,
    now: Time,
) -> Option<PeerMessage> {
    match protocol {
        Protocol::Rfc8156 => match update {
            crate::update::BindingUpdate::Address4 { .. } => None,
            u => Some(update_to_wire(u, xid, now).into()),
        },
        Protocol::Draft12 => {
            let b = crate::update::draft12::binding_from_update(update)?;
            Some(peer::draft12_message(xid, dhcpfo::Body::BndUpd(b), now))
        }
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_draft12;
#[cfg(test)]
mod tests_operator;
#[cfg(test)]
mod tests_safety;
