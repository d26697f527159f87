//! One failover endpoint (RFC 8156 §6, §8): the connection handshake, keep-alive timers,
//! the server state machine with its entry actions, and what must be persisted.
//!
//! Sans-I/O like the rest of the crate. Inputs are `handle_*` calls with `now`; outputs
//! are [`Effect`]s returned in order. The binding side (BNDUPD, UPDREQ, POOLREQ …) is
//! not handled here: messages for it come back as [`Routed::Binding`] and the owner
//! (`crate::server::FailoverServer`) calls [`Endpoint::upd_done`] when a resync ends.

pub mod fsm;
pub mod handshake;
pub mod persist;

use crate::timers::{Timer, TimerTable};
use tandem_core::Time;

use crate::types::{Role, ServerState};
use crate::wire::{Kind, PeerMessage, Protocol};
use fsm::Input;
use handshake::{DisconnectCode, LocalParams, PeerParams, Refusal, StateReport};
pub use persist::{EndpointRecord, RecordError};

/// FO_CONTACT_PER_KEEPALIVE_TIME (§6.5).
pub const CONTACTS_PER_KEEPALIVE: u32 = 4;

/// Configuration of one endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointConfig {
    /// RFC 8156 (DHCPv6) or draft-12 (DHCPv4, as ISC dhcpd speaks it).
    pub protocol: Protocol,
    pub role: Role,
    pub local: LocalParams,
    /// COMMUNICATIONS-INTERRUPTED → PARTNER-DOWN after this many seconds without contact
    /// (§8.9). None: only the operator can declare the partner down.
    pub auto_partner_down: Option<u32>,
    /// How long STARTUP waits for the partner (§8.3.2 step 3).
    pub startup_secs: u32,
    /// With no stored state and no partner by the end of STARTUP, go to PARTNER-DOWN
    /// instead of RECOVER (§8.3.2 step 1: a server commissioned while its partner is absent).
    pub partner_down_on_first_start: bool,
    /// RECOVER: drop the connection if an update request makes no progress this long (§8.5.2).
    pub recover_stall_secs: u32,
}

impl EndpointConfig {
    pub fn new(role: Role, relationship: &str, mclt: u32) -> Self {
        EndpointConfig {
            protocol: Protocol::Rfc8156,
            role,
            local: LocalParams {
                relationship: relationship.to_string(),
                mclt,
                keepalive: 60,
                max_unacked: 100,
                hba: None,
            },
            auto_partner_down: None,
            startup_secs: 10,
            partner_down_on_first_start: false,
            recover_stall_secs: 120,
        }
    }
}

/// What the owner must do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Send to the partner.
    Send(PeerMessage),
    /// Write this record to stable storage; anything after it waits for that write.
    Persist(EndpointRecord),
    /// Close the connection (after sending what came before). The endpoint already
    /// considers it closed.
    Close {
        reason: String,
    },
    StateChanged {
        from: ServerState,
        to: ServerState,
    },
    /// Communications became OK: the BNDUPD window toward the partner opens.
    LinkUp {
        peer: PeerParams,
    },
    /// Communications ended.
    LinkDown,
    /// Send UPDREQ (or UPDREQALL when `all`) and call [`Endpoint::upd_done`] on UPDDONE.
    RequestUpdates {
        all: bool,
    },
    /// Entered NORMAL: send every unacked update; a secondary then sends POOLREQ (§8.8).
    EnteredNormal,
    /// Operator-visible alarm (§8.9, §8.11).
    Alarm(String),
    /// The partner broke the protocol, or a CONNECT was refused (by us or by the partner:
    /// the clock, the relationship name, ...); logged and counted, the connection is closed.
    ProtocolError(String),
}

/// Where a received message goes.
#[derive(Clone, Debug, PartialEq, Eq)]
// Returned and matched at once, never stored or queued: boxing the message would
// cost an allocation per binding update for no memory saved.
#[allow(clippy::large_enum_variant)]
pub enum Routed {
    /// Connection-level message, fully handled here.
    Handled,
    /// A binding-level message for the owner (BNDUPD, BNDREPLY, UPDREQ, UPDREQALL,
    /// UPDDONE, POOLREQ, POOLRESP); only delivered while communications are OK.
    Binding(PeerMessage),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Down,
    /// Primary: CONNECT sent with this xid.
    AwaitConnectReply(u32),
    /// Secondary: TCP accepted, waiting for CONNECT.
    AwaitConnect,
    /// Handshake done, waiting for the partner's STATE.
    AwaitState(PeerParams),
    Up(PeerParams),
}

/// The failover endpoint.
#[derive(Clone, Debug)]
pub struct Endpoint {
    cfg: EndpointConfig,
    /// Current state; STARTUP lives only here, never in the record.
    state: ServerState,
    record: EndpointRecord,
    /// A record existed when we started (we did not lose our storage).
    had_record: bool,
    /// Whether we had talked to this partner before this process started (§8.5.2, §8.6.2).
    communicated_before: bool,
    /// The partner's C flag in its first STATE since we started.
    partner_communicated_before: Option<bool>,
    resume: ServerState,
    started_at: Time,
    /// The last operation recorded before this start: when we went down (§8.6.2).
    went_down_at: Option<Time>,
    phase: Phase,
    last_rx: Time,
    last_tx: Time,
    startup_deadline: Option<Time>,
    recover_wait_until: Option<Time>,
    auto_pd_at: Option<Time>,
    /// RECOVER / POTENTIAL-CONFLICT: an update request is running; last progress seen.
    request_progress: Option<Time>,
    /// Secondary in POTENTIAL-CONFLICT has sent its own UPDREQ (§8.10).
    own_request_sent: bool,
    /// The link went down after RECOVER finished and before NORMAL: what the partner did
    /// meanwhile is unknown, so the next connection recovers again (§8.5).
    resync_after_reconnect: bool,
    next_xid: u32,
}

impl Endpoint {
    /// Starts in STARTUP (§8.3) from the stored record, if any.
    pub fn start(cfg: EndpointConfig, stored: Option<EndpointRecord>, now: Time) -> Self {
        let had_record = stored.is_some();
        let record = stored.unwrap_or(EndpointRecord {
            state: ServerState::Recover,
            previous: None,
            state_since: now,
            partner_state: None,
            partner_state_since: None,
            partner_down_time_of_partner: None,
            partner_down_since: None,
            partner_pd_until: None,
            last_operation: Time::ZERO,
            communicated: false,
            mclt: cfg.local.mclt,
        });
        let resume = fsm::resume_state(had_record.then_some(record.state));
        let mut record = record;
        if cfg.role == Role::Primary {
            // The primary's configuration defines the MCLT (§6.1.2).
            record.mclt = cfg.local.mclt;
        }
        let went_down_at = had_record.then_some(record.last_operation);
        Endpoint {
            startup_deadline: Some(now + u64::from(cfg.startup_secs)),
            communicated_before: record.communicated,
            cfg,
            state: ServerState::Startup,
            record,
            had_record,
            partner_communicated_before: None,
            resume,
            started_at: now,
            went_down_at,
            phase: Phase::Down,
            last_rx: now,
            last_tx: now,
            recover_wait_until: None,
            auto_pd_at: None,
            request_progress: None,
            own_request_sent: false,
            resync_after_reconnect: false,
            next_xid: 0x80_0000,
        }
    }

    // ------------------------------------------------------------------ queries

    pub fn state(&self) -> ServerState {
        self.state
    }
    pub fn role(&self) -> Role {
        self.cfg.role
    }
    pub fn config(&self) -> &EndpointConfig {
        &self.cfg
    }
    pub fn record(&self) -> &EndpointRecord {
        &self.record
    }
    /// The MCLT in force (the secondary adopts the primary's).
    pub fn mclt(&self) -> u32 {
        self.record.mclt
    }
    pub fn partner_state(&self) -> Option<ServerState> {
        self.record.partner_state
    }
    pub fn state_since(&self) -> Time {
        if self.state == ServerState::Startup {
            self.started_at
        } else {
            self.record.state_since
        }
    }
    /// The last moment the partner was known to be in PARTNER-DOWN (see
    /// [`EndpointRecord::partner_pd_until`]).
    pub fn partner_pd_until(&self) -> Option<Time> {
        self.record.partner_pd_until
    }
    /// When this server entered PARTNER-DOWN, while it is there.
    pub fn partner_down_since(&self) -> Option<Time> {
        (self.state == ServerState::PartnerDown)
            .then_some(self.record.partner_down_since)
            .flatten()
    }
    /// Communications are OK (handshake done and the partner's STATE received).
    pub fn comm_ok(&self) -> bool {
        matches!(self.phase, Phase::Up(_))
    }
    pub fn connected(&self) -> bool {
        self.phase != Phase::Down
    }

    /// The earliest time [`Self::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.timers().next().map(|(_, at)| at)
    }

    /// The endpoint's timers, by kind.
    pub fn timers(&self) -> TimerTable {
        let mut t = TimerTable::default();
        t.set(Timer::Startup, self.startup_deadline);
        t.set(Timer::RecoverWait, self.recover_wait_until);
        t.set(Timer::AutoPartnerDown, self.auto_pd_at);
        if self.phase != Phase::Down {
            t.set(Timer::PartnerSilence, Some(self.rx_deadline()));
        }
        if let Phase::Up(p) = self.phase {
            t.set(
                Timer::Contact,
                Some(self.last_tx + u64::from(send_interval(p.keepalive))),
            );
        }
        if let Some(since) = self.request_progress {
            t.set(
                Timer::RecoverStall,
                Some(since + u64::from(self.cfg.recover_stall_secs)),
            );
        }
        t
    }

    fn rx_deadline(&self) -> Time {
        self.last_rx + u64::from(self.cfg.local.keepalive)
    }

    fn xid(&mut self) -> u32 {
        let x = self.next_xid;
        self.next_xid = if x >= 0xff_ffff { 0x80_0000 } else { x + 1 };
        x
    }

    /// The wall clock stepped by `secs` (the driver saw it move unlike the monotonic
    /// clock). The local timers measure time that really passed — the partner's silence
    /// (§6.6), FO_SEND_TIMER (§6.5), auto partner-down (§8.9), STARTUP (§8.3.2) and an
    /// update request's progress (§8.5.2) — so they follow the step and keep their
    /// distance in real time. RECOVER-WAIT ends MCLT after a recorded wall time (§8.6.2)
    /// that bounds what the partner may have granted; it follows a forward step only, so
    /// that it never ends sooner in real time than it would have without the step.
    pub fn follow_clock_step(&mut self, secs: i64) {
        let shift = |t: &mut Time| *t = t.shifted(secs);
        shift(&mut self.last_rx);
        shift(&mut self.last_tx);
        for t in [
            &mut self.startup_deadline,
            &mut self.auto_pd_at,
            &mut self.request_progress,
        ]
        .into_iter()
        .flatten()
        {
            shift(t);
        }
        if secs > 0 {
            if let Some(t) = &mut self.recover_wait_until {
                shift(t);
            }
        }
    }

    /// The owner sent something to the partner at `now` (resets FO_SEND_TIMER, §6.5).
    pub fn note_sent(&mut self, now: Time) {
        self.last_tx = self.last_tx.max(now);
    }

    /// A BNDUPD arrived for a running update request (§8.5.2 stall detection).
    pub fn note_progress(&mut self, now: Time) {
        if self.request_progress.is_some() {
            self.request_progress = Some(now);
        }
    }

    fn send(&mut self, now: Time, m: PeerMessage, fx: &mut Vec<Effect>) {
        self.note_sent(now);
        fx.push(Effect::Send(m));
    }

    fn my_report(&self) -> StateReport {
        if self.state == ServerState::Startup {
            // §8.3.1: in STARTUP the S flag and "the previously recorded failover state",
            // with what §6.3 sends for that state: when it began and, for PARTNER-DOWN, when
            // we went there. A partner that is starting too compares that time with its
            // last operation (§8.3.2 step 5). Without a record: RECOVER since now (§8.2).
            // STARTUP itself is never a value on the wire (§5.5.19), even from a bad record.
            let recorded = match self.record.state {
                ServerState::Startup => self.resume,
                s => s,
            };
            return StateReport {
                state: recorded,
                startup: true,
                communicated: self.record.communicated,
                since: Some(self.record.state_since),
                partner_down_time: (recorded == ServerState::PartnerDown)
                    .then_some(self.record.partner_down_since)
                    .flatten(),
            };
        }
        StateReport {
            state: self.state,
            startup: false,
            communicated: self.record.communicated,
            since: Some(self.state_since()),
            partner_down_time: self.partner_down_since(),
        }
    }

    fn send_state(&mut self, now: Time, fx: &mut Vec<Effect>) {
        let xid = self.xid();
        let m = handshake::state(self.cfg.protocol, &self.my_report(), xid, now);
        self.send(now, m, fx);
    }

    fn persist(&mut self, now: Time, fx: &mut Vec<Effect>) {
        self.record.last_operation = self.record.last_operation.max(now);
        fx.push(Effect::Persist(self.record.clone()));
    }

    /// A record to persist with other writes at `now` if the stored "last operation" is
    /// older (§8.3.2 step 5 compares it with the partner's PARTNER-DOWN start).
    pub fn touch(&mut self, now: Time) -> Option<EndpointRecord> {
        if self.state == ServerState::Startup || self.record.last_operation >= now {
            return None;
        }
        self.record.last_operation = now;
        Some(self.record.clone())
    }

    // ------------------------------------------------------------------ connection

    /// A TCP connection to the partner is established (§6.1). The primary sends CONNECT.
    pub fn handle_connected(&mut self, now: Time) -> Vec<Effect> {
        let mut fx = Vec::new();
        if self.phase != Phase::Down {
            self.lose_link(now, "replaced by a new connection", &mut fx);
        }
        self.last_rx = now;
        self.last_tx = now;
        match self.cfg.role {
            Role::Primary => {
                let xid = self.xid();
                let m = handshake::connect(self.cfg.protocol, &self.cfg.local, xid, now);
                self.send(now, m, &mut fx);
                self.phase = Phase::AwaitConnectReply(xid);
            }
            Role::Secondary => self.phase = Phase::AwaitConnect,
        }
        fx
    }

    /// The connection was lost (TCP closed or reset).
    pub fn handle_disconnected(&mut self, now: Time) -> Vec<Effect> {
        let mut fx = Vec::new();
        if self.phase != Phase::Down {
            self.lose_link(now, "connection closed", &mut fx);
        }
        fx
    }

    fn lose_link(&mut self, now: Time, why: &str, fx: &mut Vec<Effect>) {
        let was_up = self.comm_ok();
        if was_up && self.record.partner_state == Some(ServerState::PartnerDown) {
            // It was in PARTNER-DOWN as far as we know, and may still be (§8.4.1).
            self.record.partner_pd_until = Some(now);
        }
        if matches!(
            self.state,
            ServerState::RecoverWait | ServerState::RecoverDone
        ) {
            self.resync_after_reconnect = true;
        }
        self.phase = Phase::Down;
        self.request_progress = None;
        if was_up {
            fx.push(Effect::LinkDown);
            let _ = why;
            self.apply(now, Input::CommFailed, fx);
        }
        self.arm_auto_partner_down(now);
    }

    fn close(&mut self, now: Time, reason: String, fx: &mut Vec<Effect>) {
        fx.push(Effect::Close {
            reason: reason.clone(),
        });
        self.lose_link(now, &reason, fx);
    }

    /// DISCONNECT with `code` and close: protocol errors and refusals (§5.3.10).
    fn disconnect(
        &mut self,
        now: Time,
        code: DisconnectCode,
        reason: String,
        fx: &mut Vec<Effect>,
    ) {
        let xid = self.xid();
        let m = handshake::disconnect(self.cfg.protocol, code, &reason, xid, now);
        self.send(now, m, fx);
        self.close(now, reason, fx);
    }

    fn protocol_error(&mut self, now: Time, why: String, fx: &mut Vec<Effect>) {
        fx.push(Effect::ProtocolError(why.clone()));
        self.disconnect(now, DisconnectCode::ConfigurationConflict, why, fx);
    }

    /// Operator shutdown: DISCONNECT with ServerShuttingDown (§5.3.10).
    pub fn shutdown(&mut self, now: Time) -> Vec<Effect> {
        let mut fx = Vec::new();
        if self.phase != Phase::Down {
            self.disconnect(
                now,
                DisconnectCode::ShuttingDown,
                "server shutting down".into(),
                &mut fx,
            );
        }
        fx
    }

    /// The partner sent something that cannot be decoded: DISCONNECT and close (§6.1).
    pub fn handle_malformed(&mut self, now: Time, why: &str) -> Vec<Effect> {
        let mut fx = Vec::new();
        if self.phase != Phase::Down {
            self.protocol_error(
                now,
                format!("malformed message from partner: {why}"),
                &mut fx,
            );
        }
        fx
    }

    /// One decoded message from the partner.
    pub fn handle_message(&mut self, now: Time, m: PeerMessage) -> (Routed, Vec<Effect>) {
        let mut fx = Vec::new();
        if self.phase == Phase::Down {
            return (Routed::Handled, fx); // stale message of a closed connection
        }
        self.last_rx = self.last_rx.max(now);
        if m.protocol() != self.cfg.protocol {
            let why = format!(
                "a {:?} message on a {:?} relationship",
                m.protocol(),
                self.cfg.protocol
            );
            self.protocol_error(now, why, &mut fx);
            return (Routed::Handled, fx);
        }
        use Kind as T;
        match (m.kind(), self.phase) {
            (T::Connect, Phase::AwaitConnect) => self.on_connect(now, &m, &mut fx),
            (T::ConnectReply, Phase::AwaitConnectReply(xid)) if m.xid() == xid => {
                self.on_connect_reply(now, &m, &mut fx)
            }
            (T::State, Phase::AwaitState(_) | Phase::Up(_)) => self.on_state(now, &m, &mut fx),
            (T::Disconnect, _) => {
                let why = handshake::disconnect_text(&m);
                self.close(now, why, &mut fx);
            }
            (T::Contact, Phase::AwaitState(_) | Phase::Up(_)) => {}
            (
                T::BndUpd
                | T::BndReply
                | T::PoolReq
                | T::PoolResp
                | T::UpdReq
                | T::UpdReqAll
                | T::UpdDone,
                Phase::Up(_),
            ) => return (Routed::Binding(m), fx),
            (t, phase) => {
                let why = format!("unexpected {t:?} while {}", phase_name(phase));
                self.protocol_error(now, why, &mut fx);
            }
        }
        (Routed::Handled, fx)
    }

    fn on_connect(&mut self, now: Time, m: &PeerMessage, fx: &mut Vec<Effect>) {
        match handshake::check_connect(m, &self.cfg.local, now) {
            Ok(peer) => {
                if self.record.mclt != peer.mclt {
                    self.record.mclt = peer.mclt;
                    self.persist(now, fx);
                }
                let reply = handshake::connect_reply(m, &self.cfg.local, peer.mclt, now);
                self.send(now, reply, fx);
                self.send_state(now, fx);
                self.phase = Phase::AwaitState(peer);
            }
            Err(r) => {
                // Reported (logged at warn, counted) as well as answered: a refusal
                // repeats on every reconnection until someone fixes the configuration.
                let why = format!("refused CONNECT: {}", r.reason);
                fx.push(Effect::ProtocolError(why.clone()));
                let reply = handshake::connect_refusal(m, &self.cfg.local, &r, now);
                self.send(now, reply, fx);
                self.close(now, why, fx);
            }
        }
    }

    fn on_connect_reply(&mut self, now: Time, m: &PeerMessage, fx: &mut Vec<Effect>) {
        match handshake::check_connect_reply(m, &self.cfg.local, now) {
            Ok(peer) => {
                self.send_state(now, fx);
                self.phase = Phase::AwaitState(peer);
            }
            Err(Refusal { code, reason }) => {
                fx.push(Effect::ProtocolError(reason.clone()));
                if handshake::refused_by_partner(m) {
                    self.close(now, reason, fx);
                } else {
                    self.disconnect(now, DisconnectCode::Refused(code), reason, fx);
                }
            }
        }
    }

    fn on_state(&mut self, now: Time, m: &PeerMessage, fx: &mut Vec<Effect>) {
        let rep = match handshake::read_state(m) {
            Ok(r) => r,
            Err(e) => return self.protocol_error(now, e, fx),
        };
        if let Phase::AwaitState(peer) = self.phase {
            self.phase = Phase::Up(peer);
            self.auto_pd_at = None;
            if !self.record.communicated {
                self.record.communicated = true;
            }
            fx.push(Effect::LinkUp { peer });
        }
        if self.partner_communicated_before.is_none() {
            self.partner_communicated_before = Some(rep.communicated);
        }
        // While the partner is (or was, until this STATE) in PARTNER-DOWN it may grant
        // leases without the MCLT bound; remember until when (§8.4.1).
        if rep.state == ServerState::PartnerDown
            || self.record.partner_state == Some(ServerState::PartnerDown)
        {
            self.record.partner_pd_until = Some(now);
        }
        // Store what the partner reports (§6.4).
        self.record.partner_state = Some(rep.state);
        self.record.partner_state_since = rep.since;
        self.record.partner_down_time_of_partner = if rep.state == ServerState::PartnerDown {
            rep.partner_down_time.or(rep.since)
        } else {
            None
        };
        if self.state == ServerState::Startup {
            self.leave_startup(now, Some(rep), fx);
            return;
        }
        // Recovered, then cut off before NORMAL: a partner in PARTNER-DOWN went on granting
        // leases (from either share, without the MCLT bound) that we have not heard of.
        // Ask again before serving as NORMAL (§8.5; tandem-sim seed 22464).
        if std::mem::take(&mut self.resync_after_reconnect)
            && matches!(
                self.state,
                ServerState::RecoverWait | ServerState::RecoverDone
            )
        {
            self.enter(now, ServerState::Recover, fx);
        }
        self.persist(now, fx);
        if rep.startup {
            // The partner is still starting; its real state follows (§8.3.1, §8.4.2).
            return;
        }
        self.apply(now, Input::CommOk { partner: rep.state }, fx);
        self.follow_partner(now, fx);
    }

    /// Reactions to the partner's state that are not transitions.
    fn follow_partner(&mut self, _now: Time, fx: &mut Vec<Effect>) {
        // §8.5.2: RECOVER re-issues its request after every reconnection.
        self.request_recovery(_now, fx);
        // §8.10: a secondary in POTENTIAL-CONFLICT asks for the primary's updates once the
        // primary has finished with ours (it is in CONFLICT-DONE).
        if self.cfg.role == Role::Secondary
            && self.state == ServerState::PotentialConflict
            && self.record.partner_state == Some(ServerState::ConflictDone)
            && !self.own_request_sent
            && self.comm_ok()
        {
            self.own_request_sent = true;
            self.request_progress = Some(_now);
            fx.push(Effect::RequestUpdates { all: false });
        }
    }

    // ------------------------------------------------------------------ state machine

    fn leave_startup(&mut self, now: Time, rep: Option<StateReport>, fx: &mut Vec<Effect>) {
        self.startup_deadline = None;
        let connected = rep.is_some();
        let target = match rep {
            Some(r) if r.state == ServerState::PartnerDown => fsm::after_startup_partner_down(
                r.partner_down_time.or(r.since),
                self.record.last_operation,
                self.resume,
            ),
            None if !self.had_record && self.cfg.partner_down_on_first_start => {
                ServerState::PartnerDown
            }
            _ => self.resume,
        };
        // Recovery that was not finished before we went down: what the partner did since
        // is unknown — recover again, now if the partner is there, else once it is (§8.5).
        let unfinished_recovery =
            matches!(target, ServerState::RecoverWait | ServerState::RecoverDone);
        let target = match (unfinished_recovery, connected) {
            (true, true) => ServerState::Recover,
            (true, false) => {
                self.resync_after_reconnect = true;
                target
            }
            _ => target,
        };
        self.enter(now, target, fx);
    }

    fn apply(&mut self, now: Time, input: Input, fx: &mut Vec<Effect>) -> bool {
        match fsm::next_state_for(self.cfg.protocol, self.cfg.role, self.state, input) {
            Some(to) => {
                self.enter(now, to, fx);
                true
            }
            None => false,
        }
    }

    fn enter(&mut self, now: Time, to: ServerState, fx: &mut Vec<Effect>) {
        let from = self.state;
        if from == to {
            return;
        }
        self.state = to;
        if from != ServerState::Startup {
            self.record.previous = Some(from);
        }
        self.record.state = to;
        self.record.state_since = now;
        if to == ServerState::PartnerDown {
            self.record.partner_down_since = Some(now);
        } else {
            self.record.partner_down_since = None;
        }
        fx.push(Effect::StateChanged { from, to });
        self.persist(now, fx);
        if self.comm_ok() {
            self.send_state(now, fx);
        }
        self.entry_actions(now, from, to, fx);
        // The partner's state on record may already call for the next step (e.g. STARTUP
        // step 5 "then apply its communications-OK transition").
        if self.comm_ok() {
            if let Some(p) = self.record.partner_state {
                if self.state == to {
                    self.apply(now, Input::CommOk { partner: p }, fx);
                }
            }
            self.follow_partner(now, fx);
        }
    }

    fn entry_actions(
        &mut self,
        now: Time,
        from: ServerState,
        to: ServerState,
        fx: &mut Vec<Effect>,
    ) {
        use ServerState::*;
        self.recover_wait_until = None;
        self.auto_pd_at = None;
        self.request_progress = None;
        self.own_request_sent = false;
        match to {
            CommunicationsInterrupted => {
                self.arm_auto_partner_down(now);
                if from == Normal {
                    fx.push(Effect::Alarm(
                        "lost contact with the failover partner; serving from own pool only".into(),
                    ));
                }
            }
            ResolutionInterrupted => fx.push(Effect::Alarm(
                "lost contact with the failover partner during conflict resolution".into(),
            )),
            PotentialConflict if self.cfg.role == Role::Primary && self.comm_ok() => {
                self.request_progress = Some(now);
                fx.push(Effect::RequestUpdates { all: false });
            }
            Recover => self.request_recovery(now, fx),
            RecoverWait => {
                let skip = self.recover_wait_skippable();
                // From when we went down if known, else from when we started (§8.6.2).
                let base = self.went_down_at.unwrap_or(self.started_at);
                let until = if skip {
                    now
                } else {
                    (base + u64::from(self.mclt())).max(now)
                };
                self.recover_wait_until = Some(until);
                if until <= now {
                    self.recover_wait_until = None;
                    self.apply(now, Input::RecoverWaitOver, fx);
                }
            }
            Normal => fx.push(Effect::EnteredNormal),
            _ => {}
        }
    }

    /// May RECOVER-WAIT end at once, without waiting out the MCLT?
    fn recover_wait_skippable(&self) -> bool {
        match self.cfg.protocol {
            // Neither side ever ran failover, so neither granted anything the other has
            // not heard of (RFC 8156 §8.6.2, the C flag of §6.4).
            Protocol::Rfc8156 => {
                !self.communicated_before && self.partner_communicated_before == Some(false)
            }
            // draft-12 has no such flag. ISC dhcpd 4.4 behaviour: a partner that is itself
            // in RECOVER or RECOVER-DONE served nobody meanwhile, so the wait is skipped
            // ("Both servers have entered recover-done!"); a dhcpd partner skips it then too
            // and would otherwise sit in RECOVER-DONE waiting for us.
            Protocol::Draft12 => matches!(
                self.record.partner_state,
                Some(ServerState::Recover | ServerState::RecoverDone)
            ),
        }
    }

    fn request_recovery(&mut self, now: Time, fx: &mut Vec<Effect>) {
        if self.state == ServerState::Recover && self.comm_ok() && self.request_progress.is_none() {
            // UPDREQALL when we lost our storage and the partner remembers us (§8.5.2).
            let all = !self.communicated_before && self.partner_communicated_before == Some(true);
            self.request_progress = Some(now);
            fx.push(Effect::RequestUpdates { all });
        }
    }

    fn arm_auto_partner_down(&mut self, now: Time) {
        if self.state == ServerState::CommunicationsInterrupted && !self.comm_ok() {
            if let Some(secs) = self.cfg.auto_partner_down {
                // Counted from the last message we had from the partner (§8.9).
                let base = self.last_rx.min(now);
                if self.auto_pd_at.is_none() {
                    self.auto_pd_at = Some(base + u64::from(secs));
                }
            }
        }
    }

    /// UPDDONE arrived for our running request (§8.5.2, §8.10.2).
    pub fn upd_done(&mut self, now: Time) -> Vec<Effect> {
        let mut fx = Vec::new();
        self.request_progress = None;
        if self.state == ServerState::Recover || self.state == ServerState::PotentialConflict {
            self.apply(now, Input::UpdDone, &mut fx);
        }
        fx
    }

    /// The operator says the partner is down (§8.8.2, §8.9.2, §8.11.2).
    pub fn handle_partner_down_command(&mut self, now: Time) -> Result<Vec<Effect>, String> {
        let mut fx = Vec::new();
        if self.apply(now, Input::OperatorPartnerDown, &mut fx) {
            Ok(fx)
        } else {
            Err(format!(
                "partner-down is not allowed in {} (only from NORMAL, \
                 COMMUNICATIONS-INTERRUPTED or RESOLUTION-INTERRUPTED)",
                self.state
            ))
        }
    }

    /// Timers: STARTUP, keep-alive (receive and send), auto partner-down, RECOVER-WAIT,
    /// stalled update requests.
    pub fn handle_timeout(&mut self, now: Time) -> Vec<Effect> {
        let mut fx = Vec::new();
        if self.startup_deadline.is_some_and(|d| now >= d) && self.state == ServerState::Startup {
            self.leave_startup(now, None, &mut fx);
        }
        if self.phase != Phase::Down && now >= self.rx_deadline() {
            let why = format!(
                "nothing heard from the partner for {} s",
                self.cfg.local.keepalive
            );
            self.close(now, why, &mut fx);
        }
        if let Phase::Up(p) = self.phase {
            if now >= self.last_tx + u64::from(send_interval(p.keepalive)) {
                let xid = self.xid();
                let m = handshake::contact(self.cfg.protocol, xid, now);
                self.send(now, m, &mut fx);
            }
        }
        if self
            .request_progress
            .is_some_and(|t| now >= t + u64::from(self.cfg.recover_stall_secs))
        {
            let why = "update request made no progress".to_string();
            self.close(now, why, &mut fx);
        }
        if self.auto_pd_at.is_some_and(|t| now >= t) {
            self.auto_pd_at = None;
            self.apply(now, Input::AutoPartnerDown, &mut fx);
        }
        if self.recover_wait_until.is_some_and(|t| now >= t) {
            self.recover_wait_until = None;
            self.apply(now, Input::RecoverWaitOver, &mut fx);
        }
        fx
    }
}

/// FO_SEND_TIME: the partner's keep-alive divided by FO_CONTACT_PER_KEEPALIVE_TIME (§6.5).
pub fn send_interval(partner_keepalive: u32) -> u32 {
    (partner_keepalive / CONTACTS_PER_KEEPALIVE).max(1)
}

fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Down => "disconnected",
        Phase::AwaitConnectReply(_) => "waiting for CONNECTREPLY",
        Phase::AwaitConnect => "waiting for CONNECT",
        Phase::AwaitState(_) => "waiting for the partner's STATE",
        Phase::Up(_) => "connected",
    }
}

#[cfg(test)]
mod tests;
