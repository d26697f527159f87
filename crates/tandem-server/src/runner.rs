//! Every decision of the driver, with no I/O: the one driver loop as a value.
//!
//! The tokio driver ([`crate::Driver`]) and the simulation (`tandem-sim`) both run this:
//! they feed it what happened — client datagrams, partner link events, operator requests,
//! commit completions, the clock — and carry out the [`Actions`] it returns. What to send
//! when, what to write, when timers are due, when to stop reading: all decided here and
//! in the core's gate ([`tandem_failover::node`]), so the simulation tests the code that
//! ships.
//!
//! The loop's contract, for any driver of it:
//! 1. at the top of every turn, call [`Runner::turn`] (due timers run first, however busy);
//! 2. feed the turn's input(s) — a whole burst of datagrams is one turn;
//! 3. carry out [`Runner::take_actions`]: write each batch (reporting it with
//!    [`Runner::on_committed`]), send replies and partner messages;
//! 4. sleep until [`Runner::wake_at`] if nothing else arrives; read clients only while
//!    [`Runner::can_read`].

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tandem_core::{Outcome, RxInfo, RxInfo4, ServerConfig, Time};
use tandem_failover::endpoint::EndpointRecord;
use tandem_failover::node::{BatchId, Node, Output, Ticket, Via};
use tandem_failover::server::{Event, PersistItem};
use tandem_net::{RecvMeta, RecvMeta4, SendMeta, SendMeta4};
use tandem_store::Batch;
use tandem_wire::v6::MessageType;
use tokio::sync::oneshot;
use tracing::{debug, error, info, warn};

use crate::api::leases as api_leases;
use crate::api::model::{ApiError, ChangeAnswer, LeaseEdit, LeaseJson, LeasePage, LeaseQuery};
use crate::counters::Counters;
use crate::lease_log::{ClientInfo, LeaseLog, Source};
use crate::ping_check::{Hold, Millis, PingChecks};
use crate::pool_watch::PoolWatch;
use crate::status::Status;

/// Stop reading client datagrams while this many sends wait for their commit, so a stalled
/// disk turns into UDP drops (clients retry) rather than unbounded memory.
pub const MAX_WAITING: usize = 20_000;

/// What the partner link reports (the transport: TCP, optionally TLS, 2-byte framing).
#[derive(Debug)]
pub enum PeerEvent {
    Connected,
    /// One failover message, without its 2-byte length.
    Frame(Vec<u8>),
    Disconnected(String),
    /// The stream could not be split into messages (an RFC 8156 empty frame, a draft-12
    /// length outside 12..=2048, §6.1): the link task closed the connection. A protocol
    /// error, counted as the core's are.
    BadFrame(String),
}

/// What the driver asks of the partner link.
#[derive(Debug, PartialEq, Eq)]
pub enum PeerCommand {
    /// One failover message, without its 2-byte length.
    Send(Vec<u8>),
    /// Close the connection (after what was sent before); the link reconnects later.
    Close(String),
}

/// Operator requests (the control API, [`crate::api`]): the only way in to the core from
/// outside the driver; each is answered on its channel.
#[derive(Debug)]
pub enum CtlRequest {
    Status(oneshot::Sender<Status>),
    PartnerDown(oneshot::Sender<Result<(), String>>),
    /// A read of the lease table.
    Leases(LeaseQuery, oneshot::Sender<Result<LeasePage, ApiError>>),
    /// A lease change: answered only once it is durable (the core's gate releases it).
    Change(LeaseEdit, oneshot::Sender<Result<ChangeAnswer, ApiError>>),
    /// A new DHCPv6 configuration, checked against the leases and swapped in; the reasons
    /// when refused (nothing changed then).
    Reload(Box<ServerConfig>, oneshot::Sender<Result<(), Vec<String>>>),
}

/// A lease change waiting for its commit, with the answer to give once it is durable.
#[derive(Debug)]
struct PendingOp {
    tx: oneshot::Sender<Result<ChangeAnswer, ApiError>>,
    answer: ChangeAnswer,
}

/// Counters of the partner side, beyond the client ones.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct PeerCounters {
    pub messages_sent: u64,
    pub messages_received: u64,
    pub protocol_errors: u64,
    pub updates_rejected: u64,
    pub commit_failures: u64,
    /// Double assignments found and resolved in the partner's favour (§7.5.4 accept(3)).
    pub bindings_displaced: u64,
}

/// What to carry out now, in this order: writes first (the store starts its fsync while
/// the replies that need none go out), then replies, then partner commands.
#[derive(Debug, Default)]
pub struct Actions {
    pub commits: Vec<(BatchId, Batch)>,
    pub replies: Vec<(Vec<u8>, SendMeta)>,
    /// DHCPv4 replies, for the DHCPv4 socket.
    pub replies4: Vec<(Vec<u8>, SendMeta4)>,
    /// Addresses to send an ICMP echo request to: conflict probes before an OFFER
    /// (RFC 2131 §4.4.1); report replies with [`Runner::on_echo_reply`].
    pub pings4: Vec<Ipv4Addr>,
    pub peer: Vec<PeerCommand>,
    /// What the core reported meanwhile (already logged and counted here; for observers
    /// such as the simulation).
    pub events: Vec<Event>,
}

impl Actions {
    /// Nothing to carry out (events need no action).
    pub fn is_empty(&self) -> bool {
        self.commits.is_empty()
            && self.replies.is_empty()
            && self.replies4.is_empty()
            && self.pings4.is_empty()
            && self.peer.is_empty()
    }
}

/// Deliberately broken driver behaviour, for the simulation to prove its checks can fail.
/// Never set in production.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mutations {
    /// Timers run only when the loop is idle ([`Runner::idle_wake`]), never at the top of a
    /// busy turn: under client load they starve (the bug of the first pair driver).
    pub timers_only_when_idle: bool,
    /// A batch counts as durable as soon as it is handed out: replies and partner messages
    /// leave before their persists are written.
    pub send_before_persist: bool,
}

/// The driver loop's state.
pub struct Runner {
    node: Node,
    /// Interface names by ifindex, as the configuration names them.
    interfaces: BTreeMap<u32, String>,
    counters: Arc<Counters>,
    peer: PeerCounters,
    started: Time,
    /// (deadline, now) of a timer run after which the core still reported that same past
    /// deadline: not run again before the clock's next second.
    stuck_timer: Option<(Time, Time)>,
    mutations: Mutations,
    actions: Actions,
    /// Lease events waiting for their batch to be durable (the lease log).
    lease_log: LeaseLog,
    /// Pool-use warnings and the pool-exhausted error line.
    pool_watch: PoolWatch,
    /// A batch was made durable since the last pool-use check.
    pools_changed: bool,
    /// Operator lease changes waiting for their commit, by ticket.
    pending_ops: BTreeMap<Ticket, PendingOp>,
    next_ticket: Ticket,
    /// OFFERs held while their address is probed (RFC 2131 §4.4.1).
    pings: PingChecks,
    /// The driver's monotonic clock at the top of this turn ([`Self::turn_probes`]).
    mono: Millis,
}

/// The counter label of a DHCPv6 message type (RFC 8415 §7.3).
pub fn message_type_name(t: MessageType) -> &'static str {
    use MessageType as M;
    match t {
        M::Solicit => "solicit",
        M::Advertise => "advertise",
        M::Request => "request",
        M::Confirm => "confirm",
        M::Renew => "renew",
        M::Rebind => "rebind",
        M::Reply => "reply",
        M::Release => "release",
        M::Decline => "decline",
        M::Reconfigure => "reconfigure",
        M::InformationRequest => "information_request",
        M::RelayForw => "relay_forw",
        M::RelayRepl => "relay_repl",
        M::Unknown(_) => "unknown",
    }
}

/// The counter label of a DHCPv4 message type (RFC 2132 §9.6), apart from the DHCPv6
/// labels.
pub fn v4_message_type_name(t: tandem_wire::v4::MessageType) -> &'static str {
    use tandem_wire::v4::MessageType as M;
    match t {
        M::Discover => "dhcpv4_discover",
        M::Offer => "dhcpv4_offer",
        M::Request => "dhcpv4_request",
        M::Decline => "dhcpv4_decline",
        M::Ack => "dhcpv4_ack",
        M::Nak => "dhcpv4_nak",
        M::Release => "dhcpv4_release",
        M::Inform => "dhcpv4_inform",
        _ => "dhcpv4_other",
    }
}

impl Runner {
    pub fn new(
        node: Node,
        interfaces: BTreeMap<u32, String>,
        counters: Arc<Counters>,
        now: Time,
    ) -> Self {
        // What the core staged while it was built (STARTUP bookkeeping) is no lease event.
        let mut lease_log = LeaseLog::default();
        lease_log.note_staged(node.staged(), Source::Internal);
        Runner {
            node,
            interfaces,
            counters,
            peer: PeerCounters::default(),
            started: now,
            stuck_timer: None,
            mutations: Mutations::default(),
            actions: Actions::default(),
            lease_log,
            pool_watch: PoolWatch::default(),
            pools_changed: true,
            pending_ops: BTreeMap::new(),
            next_ticket: 1,
            pings: PingChecks::default(),
            mono: 0,
        }
    }

    /// Pool-use thresholds and configured pool names (defaults otherwise).
    pub fn with_pool_watch(mut self, w: PoolWatch) -> Self {
        self.pool_watch = w;
        self
    }

    /// Deliberately breaks the loop (simulation only).
    pub fn with_mutations(mut self, m: Mutations) -> Self {
        self.mutations = m;
        self
    }

    pub fn node(&self) -> &Node {
        &self.node
    }

    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    pub fn peer_counters(&self) -> &PeerCounters {
        &self.peer
    }

    /// The current status, as `tandem ctl status` shows it.
    pub fn status(&self, now: Time) -> Status {
        let mut st = Status::of(&self.node, now, &self.peer, self.started);
        if self.node.failover().is_some() {
            // Partner lag, as the metrics define it: seconds since the partner's last
            // message (a healthy one sends at least a CONTACT each keep-alive, §6.5);
            // since start when none came yet.
            st.partner_lag_secs = Some(
                self.counters
                    .snapshot()
                    .partner_last_message
                    .map_or(st.uptime_secs, |t| now.secs_since(t)),
            );
        }
        st
    }

    // ------------------------------------------------------------------ timers
    // All of the loop's timer handling: the core's one absolute deadline (`poll_timeout`,
    // whole seconds) is run when the clock reaches it at the top of every turn, busy or
    // not; the driver sleeps for it only when nothing else wakes the loop.

    /// The top of a loop turn: run what is due, whatever else is waiting.
    pub fn turn(&mut self, now: Time) {
        if !self.mutations.timers_only_when_idle {
            self.run_due_timers(now);
        }
        self.check_pools(now);
    }

    /// Pool-use warnings: at most every few seconds, and only when leases changed.
    fn check_pools(&mut self, now: Time) {
        if !self.pools_changed || !self.pool_watch.due(now.as_secs()) {
            return;
        }
        self.pools_changed = false;
        let pools = crate::pool_use::pool_use(
            self.node.dhcp().config(),
            self.node.leases().iter(),
            self.node.failover().map(|f| f.prefix_pools()),
            now,
        );
        self.pool_watch.check(now.as_secs(), &pools);
    }

    /// The driver's wall clock stepped by `secs` against its monotonic clock (see
    /// [`crate::clock::StepWatch`]): the core's local timers follow, so they still fire
    /// after the real time they stand for; lease times stay wall-clock.
    pub fn on_clock_step(&mut self, now: Time, secs: i64) {
        warn!(
            step_secs = secs,
            %now,
            "the system clock stepped; failover timers keep their real-time deadlines, \
             lease times follow the new clock (keep the partners' clocks in sync, RFC 8156 §5.1)"
        );
        self.counters.update(|c| c.clock_steps += 1);
        self.node.follow_clock_step(secs);
        self.stuck_timer = None;
    }

    /// The loop woke because nothing else arrived before [`Self::wake_at`].
    pub fn idle_wake(&mut self, now: Time) {
        self.run_due_timers(now);
        // The driver wakes at least every second: a pool filled by the last burst is
        // reported even when nothing more arrives.
        self.check_pools(now);
    }

    fn run_due_timers(&mut self, now: Time) {
        if self.next_timer().is_none_or(|t| t > now) {
            return;
        }
        let due = self.node.poll_timeout();
        let timers = self.node.timers();
        for t in timers.due(now) {
            debug!(timer = t.name(), "timer due");
            self.counters
                .update(|c| *c.timers_fired.entry(t.name()).or_default() += 1);
        }
        let changed = self.node.handle_timeout(now);
        self.lease_log
            .note_staged(self.node.staged(), Source::Timer);
        if changed > 0 {
            self.counters.update(|c| c.reclaimed += changed as u64);
        }
        // The core reports only work it does; were it to report the same past deadline
        // again, wait for the next second rather than spin.
        self.stuck_timer = due
            .filter(|d| self.node.poll_timeout() == Some(*d))
            .map(|d| (d, now));
        if let Some((due, _)) = self.stuck_timer {
            debug!(%due, %now, "the core's timer is still due after handling it");
        }
    }

    /// The core's next deadline, as [`Self::turn`] will act on it.
    fn next_timer(&self) -> Option<Time> {
        let t = self.node.poll_timeout()?;
        Some(match self.stuck_timer {
            Some((due, ran)) if t == due => t.max(ran + 1),
            _ => t,
        })
    }

    /// When the loop must wake if nothing else arrives.
    pub fn wake_at(&self) -> Option<Time> {
        self.next_timer()
    }

    /// The probes' timers, at the top of every turn with [`Self::turn`] (busy or not):
    /// `mono` is the driver's monotonic clock in milliseconds. Each probe whose time is up
    /// got no echo reply: its OFFER goes out now (RFC 2131 §4.4.1).
    pub fn turn_probes(&mut self, mono: Millis) {
        self.mono = mono;
        for (addr, held) in self.pings.due(mono) {
            debug!(%addr, "no echo reply in time: the address is free, offering it");
            self.counters.update(|c| {
                *c.ping_checks.entry("free").or_default() += 1;
                *c.sent_by_type
                    .entry(v4_message_type_name(tandem_wire::v4::MessageType::Offer))
                    .or_default() += 1;
            });
            self.actions.replies4.push(held.offer);
        }
    }

    /// When the earliest probe ends, on the driver's monotonic clock (for the loop's
    /// sleep, with [`Self::wake_at`]).
    pub fn probe_wake_at(&self) -> Option<Millis> {
        self.pings.next_deadline()
    }

    /// Probes under way.
    pub fn probes_in_flight(&self) -> usize {
        self.pings.len()
    }

    /// An ICMP echo reply came from `addr` at `now`. If a probe of it is under way, the
    /// address is in use by a host the server does not know of: it is quarantined as a
    /// DHCPDECLINE would have it (the core's [`tandem_core::DhcpServer::address_in_use`])
    /// and the held DHCPDISCOVER is answered again, with another address. A reply with no
    /// probe under way (late, after the OFFER went out; or not ours) changes nothing.
    pub fn on_echo_reply(&mut self, now: Time, addr: Ipv4Addr) {
        let Some(held) = self.pings.answered(addr) else {
            debug!(%addr, "echo reply with no probe under way: ignored");
            return;
        };
        warn!(
            address = %addr,
            subnet = ?held.subnet_id,
            client = ?held.client.as_ref().map(ToString::to_string),
            "an address about to be offered answered ping: a host uses it without a lease; \
             quarantined as declined, offering another (RFC 2131 §4.4.1)"
        );
        self.counters
            .update(|c| *c.ping_checks.entry("in_use").or_default() += 1);
        self.node.address_in_use4(now, addr);
        self.lease_log
            .note_staged(self.node.staged(), Source::Internal);
        let (bytes, meta) = held.discover;
        self.handle4(now, &bytes, &meta, true);
    }

    /// How long a due timer has been waiting at `now` (zero when none is overdue): a loop
    /// that keeps its contract never lets this grow past a second.
    pub fn timer_overdue(&self, now: Time) -> u64 {
        self.next_timer().map_or(0, |t| now.secs_since(t))
    }

    // ------------------------------------------------------------------ inputs

    /// Whether to read client datagrams now (back-pressure on a slow disk).
    pub fn can_read(&self) -> bool {
        self.node.waiting_for_commit() < MAX_WAITING
    }

    /// Nothing in flight and nothing waiting: a stopping driver may return.
    pub fn settled(&self) -> bool {
        self.node.commits_in_flight() == 0 && self.node.waiting_for_commit() == 0
    }

    /// One DHCPv6 client datagram; the outcome is for logs and observers (what it sends
    /// is in the actions).
    pub fn on_datagram(&mut self, now: Time, bytes: &[u8], meta: &RecvMeta) -> Option<Outcome> {
        if meta.truncated {
            self.count_truncated(bytes.len(), meta.src.into());
            return None;
        }
        let rx = RxInfo {
            src: meta.src,
            dst: meta.dst,
            // An interface we do not serve directly: only relayed or unicast traffic can
            // be answered from it, and the core decides that by address.
            interface: self.interface_name(meta.ifindex),
        };
        let via = Via {
            ifindex: meta.ifindex,
            local: (!meta.dst.is_multicast() && !meta.dst.is_unspecified())
                .then_some(IpAddr::V6(meta.dst)),
        };
        let before = self.node.staged();
        let outcome = self.node.handle_client(now, bytes, &rx, via);
        let msg_type = outcome.msg_type.map(MessageType::from);
        let staged = self.node.staged() > before;
        let received = msg_type.map_or("undecodable", message_type_name);
        let answered = outcome.reply.as_ref().map(|_| match msg_type {
            // An Advertise changes no lease; a rapid-commit Reply does (RFC 8415 §18.3.1).
            Some(MessageType::Solicit) if !staged => "advertise",
            _ => "reply",
        });
        let source = || ClientInfo::of(bytes, outcome.msg_type, meta.src, meta.ifindex);
        self.account(now, &outcome, received, answered, source, meta.src.into());
        Some(outcome)
    }

    /// One DHCPv4 client datagram (RFC 2131), through the same core and gate.
    pub fn on_datagram4(&mut self, now: Time, bytes: &[u8], meta: &RecvMeta4) -> Option<Outcome> {
        self.handle4(now, bytes, meta, false)
    }

    fn handle4(
        &mut self,
        now: Time,
        bytes: &[u8],
        meta: &RecvMeta4,
        resubmitted: bool,
    ) -> Option<Outcome> {
        if meta.truncated {
            self.count_truncated(bytes.len(), meta.src.into());
            return None;
        }
        let rx = RxInfo4 {
            src: meta.src,
            dst: meta.dst,
            local: meta.local,
            interface: self.interface_name(meta.ifindex),
        };
        // From our address on the arrival interface: the one the reply names as server
        // identifier (RFC 2131 §4.3.1), which a RENEWING client unicasts to.
        let via = Via {
            ifindex: meta.ifindex,
            local: (!meta.local.is_unspecified()).then_some(IpAddr::V4(meta.local)),
        };
        let outcome = self.node.handle_client4(now, bytes, &rx, via);
        let received = outcome
            .msg_type
            .map_or("undecodable", |t| v4_message_type_name(t.into()));
        let held = self.probe_or_cancel(&outcome, bytes, meta, via);
        // A held OFFER is counted as sent when it leaves ([`Self::turn_probes`]).
        let answered = outcome
            .reply_type
            .filter(|_| !held)
            .map(|t| v4_message_type_name(t.into()));
        let source = || ClientInfo::of_v4(bytes, outcome.msg_type, meta.src, meta.ifindex);
        if resubmitted {
            // Received once already: counted then.
            self.account_answer(answered, outcome.drop.as_ref().map(|r| r.as_str()));
        } else {
            self.account(now, &outcome, received, answered, source, meta.src.into());
        }
        Some(outcome)
    }

    /// An OFFER the core wants probed first (RFC 2131 §4.4.1) is held, and an echo
    /// request asked for; true when held. Any other message of a client with a probe
    /// under way ends that probe: the client moved on, its OFFER is stale.
    fn probe_or_cancel(&mut self, o: &Outcome, bytes: &[u8], meta: &RecvMeta4, via: Via) -> bool {
        let (Some(probe), Some(reply)) = (o.probe, o.reply.as_ref()) else {
            if let Some((addr, _)) = o
                .client_duid
                .as_ref()
                .and_then(|c| self.pings.cancel_client(c))
            {
                debug!(%addr, "the client moved on during the probe: its OFFER is not sent");
            }
            return false;
        };
        let SocketAddr::V4(dst) = reply.dest else {
            return false;
        };
        let src = match via.local {
            Some(IpAddr::V4(a)) => Some(a),
            _ => None,
        };
        let to = SendMeta4 {
            dst,
            ifindex: via.ifindex,
            src,
        };
        let (hold, superseded) = self.pings.hold(
            probe.address,
            self.mono,
            probe.timeout_ms,
            (reply.bytes.clone(), to),
            (bytes.to_vec(), *meta),
            o.client_duid.clone(),
            o.subnet_id,
        );
        if let Some((addr, _)) = superseded {
            debug!(%addr, "a newer DHCPDISCOVER superseded the probe: its OFFER is not sent");
        }
        match hold {
            Hold::Started => self.actions.pings4.push(probe.address),
            Hold::Joined => {}
            Hold::Full => {
                // Never offer unprobed: the client retransmits (RFC 2131 §4.1).
                debug!(address = %probe.address, "too many probes under way: DHCPDISCOVER dropped");
                self.counters.update(|c| {
                    *c.ping_checks.entry("dropped").or_default() += 1;
                    *c.dropped.entry("ping_check_busy").or_default() += 1;
                });
            }
        }
        true
    }

    /// The answer to a datagram counted once already (a DHCPDISCOVER submitted again after
    /// its probe was answered).
    fn account_answer(&self, answered: Option<&'static str>, dropped: Option<&'static str>) {
        self.counters.update(|c| {
            if let Some(a) = answered {
                *c.sent_by_type.entry(a).or_default() += 1;
            }
            if let Some(r) = dropped {
                *c.dropped.entry(r).or_default() += 1;
            }
        });
    }

    fn interface_name(&self, ifindex: u32) -> String {
        self.interfaces.get(&ifindex).cloned().unwrap_or_default()
    }

    fn count_truncated(&self, len: usize, peer: SocketAddr) {
        debug!(len, %peer, "dropping truncated datagram");
        self.counters.update(|c| {
            c.received += 1;
            *c.received_by_type.entry("undecodable").or_default() += 1;
            *c.dropped.entry("truncated").or_default() += 1;
        });
    }

    /// What every client datagram's outcome is counted and logged as, for both families:
    /// received by type, answered by type, dropped by reason (one lock); the lease log's
    /// source for what it staged; the pool-exhausted line; the drop's detail at debug.
    fn account(
        &mut self,
        now: Time,
        outcome: &Outcome,
        received: &'static str,
        answered: Option<&'static str>,
        source: impl FnOnce() -> Option<ClientInfo>,
        peer: SocketAddr,
    ) {
        let dropped = outcome.drop.as_ref().map(|r| r.as_str());
        self.counters.update(|c| {
            c.received += 1;
            *c.received_by_type.entry(received).or_default() += 1;
            if let Some(a) = answered {
                *c.sent_by_type.entry(a).or_default() += 1;
            }
            if let Some(r) = dropped {
                *c.dropped.entry(r).or_default() += 1;
            }
        });
        let staged_now = self.node.staged();
        if self.lease_log.untracked(staged_now) {
            let source = source().map_or(Source::Internal, Source::Client);
            self.lease_log.note_staged(staged_now, source);
        }
        if let (Some(subnet), false) = (outcome.subnet_id, outcome.exhausted.is_empty()) {
            for kind in &outcome.exhausted {
                self.pool_watch.exhausted(now.as_secs(), subnet, *kind);
            }
        }
        if let Some(reason) = &outcome.drop {
            // The counter by reason; the log line with the detail (for a malformed
            // datagram: which option, which byte, why).
            debug!(
                reason = reason.as_str(),
                detail = %reason,
                %peer,
                xid = ?outcome.xid,
                "no reply"
            );
        }
    }

    /// Something happened on the partner link.
    pub fn on_peer(&mut self, now: Time, ev: Option<PeerEvent>) {
        match ev {
            Some(PeerEvent::Connected) => {
                info!("partner connected");
                self.node.handle_connected(now);
            }
            Some(PeerEvent::Frame(bytes)) => {
                self.peer.messages_received += 1;
                self.counters.update(|c| {
                    c.failover_received += 1;
                    c.partner_last_message = Some(now);
                });
                self.node.handle_peer_bytes(now, &bytes);
                // A BNDUPD carries the partner's lease changes, anything else is
                // bookkeeping.
                let source = if self.node.peer_message_is_update(&bytes) {
                    Source::PartnerUpdate
                } else {
                    Source::PartnerOther
                };
                self.lease_log.note_staged(self.node.staged(), source);
            }
            Some(PeerEvent::Disconnected(why)) => {
                info!(reason = %why, "partner connection lost");
                self.node.handle_disconnected(now);
            }
            Some(PeerEvent::BadFrame(why)) => {
                // The link task's protocol errors are counted and logged as the core's are.
                self.on_event(&Event::ProtocolError(why.clone()));
                info!(reason = %format!("bad frame from the partner: {why}"), "partner connection lost");
                self.node.handle_disconnected(now);
            }
            // The link task is gone: no partner any more, as if disconnected for good.
            None => self.node.handle_disconnected(now),
        }
    }

    /// An operator request.
    pub fn on_ctl(&mut self, now: Time, req: CtlRequest) {
        match req {
            CtlRequest::Status(tx) => {
                let _ = tx.send(self.status(now));
            }
            CtlRequest::PartnerDown(tx) => {
                let r = self.node.partner_down_command(now);
                match &r {
                    Ok(()) => warn!("operator declared the partner down"),
                    Err(e) => info!(error = %e, "partner-down refused"),
                }
                let _ = tx.send(r);
            }
            CtlRequest::Leases(q, tx) => {
                let _ = tx.send(api_leases::query(&self.node, &q));
            }
            CtlRequest::Change(edit, tx) => self.operator_change(now, edit, tx),
            CtlRequest::Reload(config, tx) => {
                let r = self.node.reconfigure(*config, now);
                match &r {
                    Ok(()) => info!("configuration reloaded: the new one serves from now on"),
                    Err(problems) => {
                        warn!(problems = ?problems, "configuration reload refused; the running one stays")
                    }
                }
                let _ = tx.send(r);
            }
        }
        self.lease_log
            .note_staged(self.node.staged(), Source::Operator);
    }

    /// A lease change from the operator: checked, handed to the core, answered when the
    /// core's gate says its batch is durable ([`Output::OperatorDone`]) — the same
    /// persist-before-tell rule as a client's Reply and the partner's BNDUPD.
    fn operator_change(
        &mut self,
        now: Time,
        edit: LeaseEdit,
        tx: oneshot::Sender<Result<ChangeAnswer, ApiError>>,
    ) {
        let checked = match &edit {
            LeaseEdit::Upsert(specs) => {
                api_leases::check_upserts(&self.node, now, specs, specs.len() != 1)
            }
            LeaseEdit::Delete(r) => api_leases::check_delete(&self.node, r).map(|c| (vec![c], 0)),
        };
        let (changes, skipped) = match checked {
            Ok(c) => c,
            Err(e) => {
                info!(error = %e, "control API lease change refused");
                self.counters.update(|c| c.api_refused += 1);
                let _ = tx.send(Err(e));
                return;
            }
        };
        let resources: Vec<tandem_core::Resource> = changes
            .iter()
            .map(|c| match c {
                tandem_failover::node::OperatorChange::Upsert(l) => l.resource,
                tandem_failover::node::OperatorChange::Remove(r) => *r,
            })
            .collect();
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.node.operator_changes(now, changes, ticket);
        let leases = resources
            .iter()
            .map(|r| match self.node.leases().get(r) {
                Some(l) => LeaseJson::of(l),
                // Forgotten (a server alone): shown as the address with no state.
                None => LeaseJson::of_resource(*r),
            })
            .collect();
        info!(
            leases = ?resources.iter().map(ToString::to_string).collect::<Vec<_>>(),
            kind = match edit { LeaseEdit::Upsert(_) => "upsert", LeaseEdit::Delete(_) => "delete" },
            "operator lease change staged; answered once durable"
        );
        self.pending_ops.insert(
            ticket,
            PendingOp {
                tx,
                answer: ChangeAnswer {
                    leases,
                    skipped: (skipped > 0).then_some(skipped),
                },
            },
        );
    }

    /// Planned stop: DISCONNECT to the partner; the driver then waits until [`Self::settled`].
    pub fn shutdown(&mut self, now: Time) {
        self.node.shutdown(now);
    }

    /// A batch handed out by [`Self::take_actions`] was written (or not).
    pub fn on_committed(&mut self, id: BatchId, result: Result<(), String>) {
        let ok = result.is_ok();
        if ok {
            self.counters.update(|c| c.commits += 1);
            self.pools_changed = true;
        }
        self.node.on_persisted(id, result);
        let interfaces = &self.interfaces;
        self.lease_log
            .committed(id, ok, &self.counters, &|i| interfaces.get(&i).cloned());
    }

    // ------------------------------------------------------------------ outputs

    /// What to do now: everything the core released since the last call.
    pub fn take_actions(&mut self) -> Actions {
        let mut peer_sent = 0u64;
        // Whatever an input not tracked by source staged.
        self.lease_log
            .note_staged(self.node.staged(), Source::Internal);
        while let Some(o) = self.node.poll_output() {
            match o {
                Output::Persist(b) => {
                    self.lease_log.on_batch(b.id, &b.items);
                    let mut batch = Batch::default();
                    for item in b.items {
                        match item {
                            PersistItem::Lease(c) => batch.leases.push(c),
                            PersistItem::Endpoint(r) => {
                                batch = batch.put_meta(EndpointRecord::META_KEY, r.encode())
                            }
                        }
                    }
                    if self.mutations.send_before_persist {
                        // Broken on purpose: released before it is written.
                        self.node.on_persisted(b.id, Ok(()));
                        let interfaces = &self.interfaces;
                        self.lease_log.committed(b.id, true, &self.counters, &|i| {
                            interfaces.get(&i).cloned()
                        });
                    }
                    self.actions.commits.push((b.id, batch));
                }
                Output::Client { reply, via } => match reply.dest {
                    SocketAddr::V6(dst) => {
                        let src = match via.local {
                            Some(IpAddr::V6(a)) => Some(a),
                            _ => None,
                        };
                        let to = SendMeta {
                            dst,
                            ifindex: via.ifindex,
                            src,
                        };
                        self.actions.replies.push((reply.bytes, to));
                    }
                    SocketAddr::V4(dst) => {
                        let src = match via.local {
                            Some(IpAddr::V4(a)) => Some(a),
                            _ => None,
                        };
                        let to = SendMeta4 {
                            dst,
                            ifindex: via.ifindex,
                            src,
                        };
                        self.actions.replies4.push((reply.bytes, to));
                    }
                },
                Output::Peer(m) => {
                    if let Some(v6) = m.rfc8156() {
                        self.lease_log.on_peer_send(v6, &self.counters);
                    }
                    match m.emit() {
                        Some(bytes) => {
                            self.peer.messages_sent += 1;
                            peer_sent += 1;
                            self.actions.peer.push(PeerCommand::Send(bytes));
                        }
                        // Only a draft-12 message over 2048 bytes (§6.1), which the core
                        // never builds: say so rather than send what dhcpd would drop.
                        None => error!(kind = ?m.kind(), "a failover message too long to send"),
                    }
                }
                Output::ClosePeer { reason } => {
                    self.actions.peer.push(PeerCommand::Close(reason));
                }
                Output::Event(e) => {
                    self.on_event(&e);
                    self.actions.events.push(e);
                }
                Output::OperatorDone { ticket, result } => {
                    if let Some(op) = self.pending_ops.remove(&ticket) {
                        let answer = result.map(|()| op.answer).map_err(|e| {
                            ApiError::new(
                                500,
                                format!("the lease change could not be written: {e}"),
                            )
                        });
                        // The operator may have given up waiting; the change stands.
                        let _ = op.tx.send(answer);
                    }
                }
            }
        }
        let pending = self.node.waiting_for_commit() as u64;
        self.counters.update(|c| {
            c.pending = pending;
            c.failover_sent += peer_sent;
        });
        std::mem::take(&mut self.actions)
    }

    fn on_event(&mut self, e: &Event) {
        match e {
            Event::StateChanged { from, to } => info!(%from, %to, "failover state changed"),
            Event::Alarm(a) => warn!(alarm = %a, "failover alarm"),
            Event::ProtocolError(p) => {
                self.peer.protocol_errors += 1;
                warn!(error = %p, "partner protocol error");
            }
            Event::UpdateRejected { resource, code } => {
                self.peer.updates_rejected += 1;
                warn!(?resource, code, "partner rejected a binding update");
            }
            Event::Unexpected(u) => debug!(what = %u, "unexpected partner message"),
            Event::BindingDisplaced {
                resource,
                client,
                until,
                by,
            } => {
                self.peer.bindings_displaced += 1;
                error!(
                    %resource, %client, until = ?until, partner_client = %by,
                    "one lease held by two clients: the partner's binding replaced ours \
                     (RFC 8156 §7.5.4); our client will be told to stop using it when it renews"
                );
            }
            Event::LinkUp => info!("failover communications OK"),
            Event::LinkDown => info!("failover communications interrupted"),
            Event::CommitFailed {
                error,
                replies_withheld,
                link_reset,
            } => {
                self.peer.commit_failures += 1;
                self.counters.update(|c| c.commit_failures += 1);
                for _ in 0..*replies_withheld {
                    self.counters.drop_for("commit_failed");
                }
                error!(
                    %error,
                    replies_withheld,
                    link_reset,
                    "lease commit failed: what waited on it was withheld"
                );
            }
        }
    }
}
