//! Endpoint timelines (RFC 8156 §6, §8): two endpoints wired back to back through the wire
//! codec. A minimal owner answers UPDREQ/UPDREQALL with an immediate UPDDONE (no bindings),
//! so these tests are about the state machine and the connection, not the bindings.

use super::*;
use ServerState::*;

mod draft12;

/// A message with no options of `kind` (UPDREQ, UPDREQALL, UPDDONE) in `protocol`.
fn bare(protocol: Protocol, kind: Kind, xid: u32, now: Time) -> PeerMessage {
    PeerMessage::bare(protocol, kind, xid, now).expect("a bare kind")
}

fn sent(e: &Effect, kind: Kind) -> bool {
    matches!(e, Effect::Send(m) if m.kind() == kind)
}

const T0: Time = Time(1_800_000_000);
const MCLT: u32 = 3600;

struct Side {
    ep: Endpoint,
    log: Vec<Effect>,
    persisted: Option<EndpointRecord>,
    closed: usize,
    requests: Vec<bool>,
}

impl Side {
    fn new(cfg: EndpointConfig, stored: Option<EndpointRecord>, now: Time) -> Self {
        Side {
            ep: Endpoint::start(cfg, stored, now),
            log: Vec::new(),
            persisted: None,
            closed: 0,
            requests: Vec::new(),
        }
    }
}

/// P = primary (index 0), S = secondary (index 1).
struct Duo {
    sides: [Side; 2],
    /// In-flight bytes toward side i.
    wire: [Vec<Vec<u8>>; 2],
    up: bool,
}

fn cfg(role: Role) -> EndpointConfig {
    let mut c = EndpointConfig::new(role, "pair", MCLT);
    c.auto_partner_down = Some(600);
    c
}

impl Duo {
    fn new(now: Time) -> Self {
        Self::with(cfg(Role::Primary), None, cfg(Role::Secondary), None, now)
    }

    fn with(
        pc: EndpointConfig,
        pr: Option<EndpointRecord>,
        sc: EndpointConfig,
        sr: Option<EndpointRecord>,
        now: Time,
    ) -> Self {
        Duo {
            sides: [Side::new(pc, pr, now), Side::new(sc, sr, now)],
            wire: [Vec::new(), Vec::new()],
            up: false,
        }
    }

    fn protocol(&self) -> Protocol {
        self.sides[0].ep.config().protocol
    }

    fn p(&self) -> ServerState {
        self.sides[0].ep.state()
    }
    fn s(&self) -> ServerState {
        self.sides[1].ep.state()
    }

    fn effects(&mut self, i: usize, fx: Vec<Effect>, now: Time) {
        for e in fx {
            match &e {
                Effect::Send(m) if self.up => self.wire[1 - i].push(m.emit().expect("fits")),
                Effect::Persist(r) => self.sides[i].persisted = Some(r.clone()),
                Effect::Close { .. } => {
                    self.sides[i].closed += 1;
                    self.cut(now);
                }
                Effect::RequestUpdates { all } => {
                    self.sides[i].requests.push(*all);
                    let t = if *all { Kind::UpdReqAll } else { Kind::UpdReq };
                    if self.up {
                        let m = bare(self.protocol(), t, 42, now);
                        self.wire[1 - i].push(m.emit().unwrap());
                    }
                }
                _ => {}
            }
            self.sides[i].log.push(e);
        }
    }

    fn connect(&mut self, now: Time) {
        self.up = true;
        for i in [1, 0] {
            let fx = self.sides[i].ep.handle_connected(now);
            self.effects(i, fx, now);
        }
        self.pump(now);
    }

    fn cut(&mut self, now: Time) {
        if !self.up {
            return;
        }
        self.up = false;
        self.wire = [Vec::new(), Vec::new()];
        for i in 0..2 {
            let fx = self.sides[i].ep.handle_disconnected(now);
            self.effects(i, fx, now);
        }
    }

    /// Deliver until nothing is in flight.
    fn pump(&mut self, now: Time) {
        for _ in 0..1000 {
            let Some(i) = (0..2).find(|i| !self.wire[*i].is_empty()) else {
                return;
            };
            let bytes = self.wire[i].remove(0);
            let m =
                PeerMessage::parse(self.protocol(), &bytes).expect("endpoint emits valid messages");
            let (routed, fx) = self.sides[i].ep.handle_message(now, m);
            self.effects(i, fx, now);
            if let Routed::Binding(m) = routed {
                match m.kind() {
                    Kind::UpdReq | Kind::UpdReqAll => {
                        let done = bare(self.protocol(), Kind::UpdDone, m.xid(), now);
                        if self.up {
                            self.wire[1 - i].push(done.emit().unwrap());
                        }
                    }
                    Kind::UpdDone => {
                        let fx = self.sides[i].ep.upd_done(now);
                        self.effects(i, fx, now);
                    }
                    _ => {}
                }
            }
        }
        panic!("message storm");
    }

    /// Run timers of both sides from `from` to `to` second by second.
    fn run(&mut self, from: Time, to: Time) {
        let mut t = from;
        while t <= to {
            for i in 0..2 {
                if self.sides[i].ep.poll_timeout().is_some_and(|d| d <= t) {
                    let fx = self.sides[i].ep.handle_timeout(t);
                    self.effects(i, fx, t);
                }
            }
            self.pump(t);
            t = t + 1;
        }
    }

    fn changes(&self, i: usize) -> Vec<(ServerState, ServerState)> {
        self.sides[i]
            .log
            .iter()
            .filter_map(|e| match e {
                Effect::StateChanged { from, to } => Some((*from, *to)),
                _ => None,
            })
            .collect()
    }
}

/// A fresh pair: both start in RECOVER with nothing stored, exchange empty updates, skip
/// the MCLT wait because neither ever ran failover (§8.3.2 step 1, §8.6.2), reach NORMAL.
fn fresh_normal_pair() -> Duo {
    let mut d = Duo::new(T0);
    d.connect(T0 + 1);
    assert_eq!((d.p(), d.s()), (Normal, Normal));
    d
}

#[test]
fn fresh_pair_reaches_normal_s8_3_s8_5_s8_6_s8_7() {
    let d = fresh_normal_pair();
    for i in 0..2 {
        let c = d.changes(i);
        assert_eq!(c.first(), Some(&(Startup, Recover)), "side {i}: {c:?}");
        assert!(c.contains(&(Recover, RecoverWait)), "{c:?}");
        assert!(c.contains(&(RecoverWait, RecoverDone)), "{c:?}");
        assert_eq!(c.last().map(|x| x.1), Some(Normal));
        // Nothing stored locally and the partner never talked to us: UPDREQ, not ALL.
        assert_eq!(d.sides[i].requests, vec![false]);
        let rec = d.sides[i].persisted.as_ref().expect("persisted");
        assert_eq!(rec.state, Normal);
        assert!(rec.communicated);
    }
    assert_eq!(d.sides[1].ep.mclt(), MCLT);
}

#[test]
fn link_flap_normal_comm_interrupted_normal_s8_8_2_s8_9_2() {
    let mut d = fresh_normal_pair();
    d.cut(T0 + 10);
    assert_eq!(
        (d.p(), d.s()),
        (CommunicationsInterrupted, CommunicationsInterrupted)
    );
    assert!(d.sides[0].log.iter().any(|e| matches!(e, Effect::Alarm(_))));
    let before = [d.sides[0].log.len(), d.sides[1].log.len()];
    d.connect(T0 + 20);
    assert_eq!((d.p(), d.s()), (Normal, Normal));
    // Entering NORMAL again tells the owner to flush unacked updates (§8.8).
    for (side, from) in d.sides.iter().zip(before) {
        assert!(side.log[from..].contains(&Effect::EnteredNormal));
    }
}

#[test]
fn auto_partner_down_after_timeout_s8_9() {
    let mut d = fresh_normal_pair();
    d.cut(T0 + 10);
    // auto_partner_down = 600 s counted from the last message received (at T0+1).
    d.run(T0 + 10, T0 + 600);
    assert_eq!(d.s(), CommunicationsInterrupted);
    d.run(T0 + 601, T0 + 602);
    assert_eq!(d.s(), PartnerDown);
    assert_eq!(d.sides[1].ep.partner_down_since(), Some(T0 + 601));
}

#[test]
fn no_auto_partner_down_without_config_s8_9() {
    let mut c = cfg(Role::Secondary);
    c.auto_partner_down = None;
    let mut d = Duo::with(cfg(Role::Primary), None, c, None, T0);
    d.connect(T0 + 1);
    d.cut(T0 + 2);
    d.run(T0 + 2, T0 + 5000);
    assert_eq!(d.s(), CommunicationsInterrupted);
}

#[test]
fn keepalive_contact_and_dead_peer_s6_5() {
    let mut d = fresh_normal_pair();
    // With a 60 s keep-alive each side sends CONTACT every 15 s and stays up.
    d.run(T0 + 2, T0 + 300);
    assert_eq!((d.p(), d.s()), (Normal, Normal));
    let contacts = d.sides[0]
        .log
        .iter()
        .filter(|e| sent(e, Kind::Contact))
        .count();
    assert!(
        (18..=21).contains(&contacts),
        "{contacts} CONTACTs in 300 s"
    );
    // Now the partner goes silent (messages to it vanish, the TCP link looks alive).
    let silent_from = T0 + 301;
    let mut t = silent_from;
    while t < silent_from + 70 {
        let fx = d.sides[0].ep.handle_timeout(t);
        for e in &fx {
            if let Effect::Close { .. } = e {
                d.sides[0].closed += 1;
            }
        }
        d.sides[0].log.extend(fx);
        t = t + 1;
    }
    assert_eq!(d.sides[0].closed, 1);
    assert_eq!(d.p(), CommunicationsInterrupted);
}

#[test]
fn operator_partner_down_s8_8_2_and_refusal() {
    let mut d = fresh_normal_pair();
    // Allowed from NORMAL (the operator knows better than the link).
    d.cut(T0 + 5);
    let fx = d.sides[0]
        .ep
        .handle_partner_down_command(T0 + 6)
        .expect("allowed");
    d.effects(0, fx, T0 + 6);
    assert_eq!(d.p(), PartnerDown);
    // Not from PARTNER-DOWN itself.
    assert!(d.sides[0].ep.handle_partner_down_command(T0 + 7).is_err());
}

/// Figure 7: the primary was down, the secondary ran in PARTNER-DOWN. The primary comes
/// back: RECOVER → UPDREQ → RECOVER-WAIT (MCLT from when it went down) → RECOVER-DONE →
/// both NORMAL.
#[test]
fn recovery_after_partner_down_s8_3_2_step_5_s8_5_s8_6() {
    let mut d = fresh_normal_pair();
    let p_record = d.sides[0].persisted.clone().unwrap();
    // Primary crashes at T0+10 (its last recorded operation is T0+1).
    d.cut(T0 + 10);
    d.run(T0 + 10, T0 + 700);
    assert_eq!(d.s(), PartnerDown);
    // Primary restarts at T0+1000 from its stored record.
    let now = T0 + 1000;
    d.sides[0] = Side::new(cfg(Role::Primary), Some(p_record), now);
    assert_eq!(d.p(), Startup);
    d.connect(now);
    // Partner went down after our last operation → RECOVER, then UPDREQ (not ALL).
    let c = d.changes(0);
    assert_eq!(c.first(), Some(&(Startup, Recover)), "{c:?}");
    assert_eq!(d.sides[0].requests, vec![false]);
    assert_eq!(d.p(), RecoverWait);
    assert_eq!(d.s(), PartnerDown);
    // RECOVER-WAIT lasts until (time went down ≈ T0+1) + MCLT.
    d.run(now, T0 + 1 + u64::from(MCLT) - 1);
    assert_eq!(d.p(), RecoverWait);
    d.run(T0 + u64::from(MCLT) + 1, T0 + u64::from(MCLT) + 3);
    assert_eq!((d.p(), d.s()), (Normal, Normal));
    assert!(d.changes(1).contains(&(PartnerDown, Normal)));
}

/// A server that lost its storage while the partner remembers it asks for everything
/// (UPDREQALL, §8.5.2) and waits the MCLT from its start (§8.6.2).
#[test]
fn lost_storage_asks_updreqall_s8_5_2() {
    let mut d = fresh_normal_pair();
    d.cut(T0 + 10);
    d.run(T0 + 10, T0 + 700);
    let now = T0 + 1000;
    d.sides[0] = Side::new(cfg(Role::Primary), None, now);
    d.connect(now);
    assert_eq!(d.sides[0].requests, vec![true]);
    assert_eq!(d.p(), RecoverWait);
    d.run(now, now + u64::from(MCLT) - 1);
    assert_eq!(d.p(), RecoverWait);
    d.run(now + u64::from(MCLT), now + u64::from(MCLT) + 2);
    assert_eq!((d.p(), d.s()), (Normal, Normal));
}

/// Partition with both sides taking over (operator partner-down on both, the case §8.4.1
/// warns about) → on heal POTENTIAL-CONFLICT; the primary asks first, goes CONFLICT-DONE,
/// the secondary asks, goes NORMAL, then the primary (§8.10, §8.12, Figure 9).
#[test]
fn potential_conflict_resolution_s8_10_s8_12() {
    let mut d = fresh_normal_pair();
    d.cut(T0 + 10);
    for i in 0..2 {
        let fx = d.sides[i].ep.handle_partner_down_command(T0 + 20).unwrap();
        d.effects(i, fx, T0 + 20);
    }
    assert_eq!((d.p(), d.s()), (PartnerDown, PartnerDown));
    d.connect(T0 + 100);
    assert_eq!((d.p(), d.s()), (Normal, Normal));
    let p = d.changes(0);
    let s = d.changes(1);
    assert!(p.contains(&(PartnerDown, PotentialConflict)), "{p:?}");
    assert!(p.contains(&(PotentialConflict, ConflictDone)), "{p:?}");
    assert!(p.contains(&(ConflictDone, Normal)), "{p:?}");
    assert!(s.contains(&(PotentialConflict, Normal)), "{s:?}");
    // Both asked for the other's updates once more (after the one of the fresh start).
    assert_eq!(d.sides[0].requests, vec![false, false]);
    assert_eq!(d.sides[1].requests, vec![false, false]);
}

/// The link dies during POTENTIAL-CONFLICT → RESOLUTION-INTERRUPTED; any contact → back to
/// POTENTIAL-CONFLICT (§8.10.2, §8.11.2).
#[test]
fn resolution_interrupted_s8_11() {
    let mut d = fresh_normal_pair();
    d.cut(T0 + 10);
    let fx = d.sides[1].ep.handle_partner_down_command(T0 + 20).unwrap();
    d.effects(1, fx, T0 + 20);
    // Reconnect but cut before the primary's STATE: walk the handshake by hand.
    d.up = true;
    let fx = d.sides[1].ep.handle_connected(T0 + 30);
    d.effects(1, fx, T0 + 30);
    let fx = d.sides[0].ep.handle_connected(T0 + 30);
    d.effects(0, fx, T0 + 30);
    d.pump(T0 + 30);
    // Secondary (PARTNER-DOWN) sees the primary in COMM-INT → POTENTIAL-CONFLICT.
    assert!(d.changes(1).contains(&(PartnerDown, PotentialConflict)));
    assert_eq!(d.s(), Normal, "resolution completes when uninterrupted");
    // Now the same with a cut in the middle of the resolution.
    let mut d = fresh_normal_pair();
    d.cut(T0 + 10);
    let fx = d.sides[1].ep.handle_partner_down_command(T0 + 20).unwrap();
    d.effects(1, fx, T0 + 20);
    // Secondary enters POTENTIAL-CONFLICT but the primary never answers UPDREQ: the link
    // is cut right after the STATE exchange.
    d.sides[1]
        .ep
        .enter(T0 + 30, PotentialConflict, &mut Vec::new());
    d.cut(T0 + 31); // already down: no-op
    let fx = d.sides[1].ep.handle_connected(T0 + 40);
    let _ = fx;
    let fx = d.sides[1].ep.handle_disconnected(T0 + 41);
    let _ = fx;
    assert_eq!(
        d.s(),
        PotentialConflict,
        "never came up: no comm-failed transition"
    );
    let mut fx = Vec::new();
    d.sides[1].ep.phase = Phase::Up(PeerParams {
        mclt: MCLT,
        keepalive: 60,
        max_unacked: 10,
        version: (1, 0),
        hba: None,
    });
    d.sides[1].ep.lose_link(T0 + 50, "test", &mut fx);
    assert_eq!(d.s(), ResolutionInterrupted);
    assert!(fx.iter().any(|e| matches!(e, Effect::Alarm(_))));
}

#[test]
fn startup_timeout_resumes_previous_state_s8_3_2_step_6() {
    let mut rec = Duo::new(T0).sides[0].ep.record().clone();
    rec.state = Normal;
    rec.communicated = true;
    let mut d = Duo::with(
        cfg(Role::Primary),
        Some(rec),
        cfg(Role::Secondary),
        None,
        T0,
    );
    d.run(T0, T0 + 9);
    assert_eq!(d.p(), Startup);
    d.run(T0 + 10, T0 + 10);
    // NORMAL was a communications-OK state: resume in COMMUNICATIONS-INTERRUPTED.
    assert_eq!(d.p(), CommunicationsInterrupted);
}

#[test]
fn first_start_can_go_partner_down_s8_3_2_step_1() {
    let mut c = cfg(Role::Primary);
    c.partner_down_on_first_start = true;
    let mut d = Duo::with(c, None, cfg(Role::Secondary), None, T0);
    d.run(T0, T0 + 10);
    assert_eq!(d.p(), PartnerDown);
    // Without the option: RECOVER, unresponsive until the partner appears.
    let mut d = Duo::new(T0);
    d.run(T0, T0 + 10);
    assert_eq!(d.p(), Recover);
}

#[test]
fn startup_state_carries_s_flag_and_previous_state_s8_3_1() {
    let mut d = Duo::new(T0);
    d.up = true;
    let fx = d.sides[1].ep.handle_connected(T0);
    d.effects(1, fx, T0);
    let fx = d.sides[0].ep.handle_connected(T0);
    d.effects(0, fx, T0);
    // Deliver CONNECT to the secondary only and look at its STATE.
    let bytes = d.wire[1].remove(0);
    let (_, fx) = d.sides[1]
        .ep
        .handle_message(T0, PeerMessage::parse(Protocol::Rfc8156, &bytes).unwrap());
    let state = fx
        .iter()
        .find_map(|e| match e {
            Effect::Send(m) if m.kind() == Kind::State => Some(m.clone()),
            _ => None,
        })
        .expect("STATE after CONNECTREPLY");
    let rep = handshake::read_state(&state).unwrap();
    assert!(rep.startup);
    assert_eq!(rep.state, Recover);
    assert!(!rep.communicated);
}

#[test]
fn partner_down_ignores_startup_state_s8_4_2() {
    let mut d = fresh_normal_pair();
    d.cut(T0 + 10);
    let fx = d.sides[1].ep.handle_partner_down_command(T0 + 20).unwrap();
    d.effects(1, fx, T0 + 20);
    let mut fx = Vec::new();
    d.sides[1].ep.phase = Phase::AwaitState(PeerParams {
        mclt: MCLT,
        keepalive: 60,
        max_unacked: 10,
        version: (1, 0),
        hba: None,
    });
    let startup_state = handshake::state(
        Protocol::Rfc8156,
        &StateReport {
            state: Normal,
            startup: true,
            communicated: true,
            since: Some(T0),
            partner_down_time: None,
        },
        1,
        T0 + 30,
    );
    d.sides[1].ep.on_state(T0 + 30, &startup_state, &mut fx);
    assert_eq!(d.s(), PartnerDown);
    assert!(!fx.iter().any(|e| matches!(e, Effect::StateChanged { .. })));
}

#[test]
fn refused_connect_closes_s6_1_2() {
    let mut sc = cfg(Role::Secondary);
    sc.local.relationship = "other".into();
    let mut d = Duo::with(cfg(Role::Primary), None, sc, None, T0);
    d.connect(T0);
    assert_eq!(d.sides[1].closed, 1, "secondary refuses and closes");
    assert!(!d.sides[0].ep.comm_ok());
    assert_eq!(d.p(), Startup);
}

#[test]
fn mclt_mismatch_in_connectreply_disconnects_s6_1_3() {
    let local = cfg(Role::Primary).local;
    let mut p = Endpoint::start(cfg(Role::Primary), None, T0);
    let fx = p.handle_connected(T0);
    let Some(Effect::Send(connect)) = fx.first() else {
        panic!("primary sends CONNECT first")
    };
    let reply = handshake::rfc8156::connect_reply(&local, MCLT / 2, connect.xid(), T0);
    let (_, fx) = p.handle_message(T0, reply.into());
    assert!(fx.iter().any(|e| sent(e, Kind::Disconnect)));
    assert!(fx.iter().any(|e| matches!(e, Effect::Close { .. })));
    assert!(!p.connected());
}

#[test]
fn unexpected_message_is_protocol_error_s6_1() {
    let mut s = Endpoint::start(cfg(Role::Secondary), None, T0);
    let _ = s.handle_connected(T0);
    // A BNDUPD before the handshake.
    let bndupd = tandem_wire::failover::FailoverMessage::new(
        tandem_wire::failover::FailoverMsgType::BndUpd,
        1,
        T0.to_failover(),
    );
    let (routed, fx) = s.handle_message(T0, bndupd.into());
    assert_eq!(routed, Routed::Handled);
    assert!(fx.iter().any(|e| matches!(e, Effect::ProtocolError(_))));
    assert!(fx.iter().any(|e| sent(e, Kind::Disconnect)));
    assert!(!s.connected());
    // Malformed bytes: same treatment.
    let _ = s.handle_connected(T0);
    let fx = s.handle_malformed(T0, "option 127 truncated");
    assert!(fx.iter().any(|e| matches!(e, Effect::ProtocolError(_))));
}

#[test]
fn disconnect_received_moves_normal_to_comm_interrupted_s8_8_2() {
    let mut d = fresh_normal_pair();
    let m = handshake::rfc8156::disconnect(20, "maintenance", 5, T0 + 5);
    let (_, fx) = d.sides[0].ep.handle_message(T0 + 5, m.into());
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::Close { reason } if reason.contains("maintenance"))));
    assert_eq!(d.p(), CommunicationsInterrupted);
}

#[test]
fn state_change_is_persisted_before_state_is_sent_s8_1() {
    let d = fresh_normal_pair();
    for side in &d.sides {
        let mut last_persisted: Option<ServerState> = None;
        for e in &side.log {
            match e {
                Effect::Persist(r) => last_persisted = Some(r.state),
                Effect::Send(m) if m.kind() == Kind::State => {
                    let rep = handshake::read_state(m).unwrap();
                    if !rep.startup {
                        assert_eq!(Some(rep.state), last_persisted);
                    }
                }
                _ => {}
            }
        }
    }
}

#[test]
fn recover_stall_drops_connection_s8_5_2() {
    let mut d = fresh_normal_pair();
    d.cut(T0 + 10);
    d.run(T0 + 10, T0 + 700);
    // Primary restarts; this time the secondary never answers the UPDREQ.
    let now = T0 + 1000;
    let rec = d.sides[0].persisted.clone();
    let mut p = Endpoint::start(cfg(Role::Primary), rec, now);
    let _ = p.handle_connected(now);
    let xid = match &p.phase {
        Phase::AwaitConnectReply(x) => *x,
        _ => panic!(),
    };
    let local = cfg(Role::Secondary).local;
    let reply = handshake::rfc8156::connect_reply(&local, MCLT, xid, now);
    let (_, _) = p.handle_message(now, reply.into());
    let st = handshake::state(
        Protocol::Rfc8156,
        &StateReport {
            state: PartnerDown,
            startup: false,
            communicated: true,
            since: Some(T0 + 611),
            partner_down_time: Some(T0 + 611),
        },
        9,
        now,
    );
    let (_, fx) = p.handle_message(now, st);
    assert!(fx.contains(&Effect::RequestUpdates { all: false }));
    assert_eq!(p.state(), Recover);
    // Keep the link alive with CONTACTs but never answer.
    let mut closed = false;
    for s in 1..=130u64 {
        let t = now + s;
        let _ = p.handle_message(t, handshake::contact(Protocol::Rfc8156, 1, t));
        if p.handle_timeout(t)
            .iter()
            .any(|e| matches!(e, Effect::Close { .. }))
        {
            closed = true;
            assert!(s >= 120, "closed after {s} s");
            break;
        }
    }
    assert!(closed);
    assert_eq!(p.state(), Recover);
}

/// Both ends configured as primary: each sends CONNECT and neither accepts the other's
/// (a CONNECT is only valid toward a secondary, §6.1): the link never comes up.
#[test]
fn two_primaries_never_connect_s6_1() {
    let mut d = Duo::with(cfg(Role::Primary), None, cfg(Role::Primary), None, T0);
    d.connect(T0);
    assert!(!d.sides[0].ep.comm_ok() && !d.sides[1].ep.comm_ok());
    assert!(d.sides.iter().any(|s| s
        .log
        .iter()
        .any(|e| matches!(e, Effect::ProtocolError(p) if p.contains("Connect")))));
}

/// The first STATE a side sent (on the wire), as read back.
fn first_state_sent(side: &Side) -> StateReport {
    side.log
        .iter()
        .find_map(|e| match e {
            Effect::Send(m) if m.kind() == Kind::State => {
                let back = PeerMessage::parse(m.protocol(), &m.emit().unwrap()).unwrap();
                Some(handshake::read_state(&back).unwrap())
            }
            _ => None,
        })
        .expect("a STATE was sent")
}

/// RFC 8156 §8.3.1, §6.3, §8.3.2 step 5. Split brain: the secondary was put in PARTNER-DOWN
/// at T0+100 while the primary went on serving (COMMUNICATIONS-INTERRUPTED, last operation
/// T0+200). Both restart at T0+1000 and meet while still in STARTUP. Each STATE carries the
/// S flag, the recorded state and *that state's* start time, and the PARTNER-DOWN side its
/// PARTNER_DOWN_TIME; so the primary sees that the partner took over before its own last
/// operation and goes to POTENTIAL-CONFLICT, not RECOVER (both may have served clients).
#[test]
fn startup_state_carries_recorded_state_start_and_partner_down_time_s8_3_1_s6_3() {
    let base = Duo::new(T0).sides[0].ep.record().clone();
    let p_rec = EndpointRecord {
        state: CommunicationsInterrupted,
        previous: Some(Normal),
        state_since: T0 + 90,
        partner_state: Some(Normal),
        partner_state_since: Some(T0 + 10),
        last_operation: T0 + 200,
        communicated: true,
        ..base.clone()
    };
    let s_rec = EndpointRecord {
        state: PartnerDown,
        previous: Some(CommunicationsInterrupted),
        state_since: T0 + 100,
        partner_down_since: Some(T0 + 100),
        partner_state: Some(Normal),
        partner_state_since: Some(T0 + 10),
        last_operation: T0 + 150,
        communicated: true,
        ..base
    };
    let now = T0 + 1000;
    let mut d = Duo::with(
        cfg(Role::Primary),
        Some(p_rec),
        cfg(Role::Secondary),
        Some(s_rec),
        now,
    );
    d.connect(now);
    assert_eq!(
        first_state_sent(&d.sides[1]),
        StateReport {
            state: PartnerDown,
            startup: true,
            communicated: true,
            since: Some(T0 + 100),
            partner_down_time: Some(T0 + 100),
        }
    );
    assert_eq!(
        first_state_sent(&d.sides[0]),
        StateReport {
            state: CommunicationsInterrupted,
            startup: true,
            communicated: true,
            since: Some(T0 + 90),
            partner_down_time: None,
        }
    );
    let c = d.changes(0);
    assert_eq!(c.first(), Some(&(Startup, PotentialConflict)), "{c:?}");
}

/// RFC 8156 §8.3.1: "the previously recorded failover state" goes in SERVER_STATE, i.e.
/// NORMAL as stored, with NORMAL's start time (the §8.3.2 step 2 mapping to
/// COMMUNICATIONS-INTERRUPTED is where STARTUP will lead, not a state it was ever in).
#[test]
fn startup_state_reports_the_stored_state_not_where_startup_leads_s8_3_1() {
    let mut rec = Duo::new(T0).sides[0].ep.record().clone();
    rec.state = Normal;
    rec.state_since = T0 + 20;
    rec.last_operation = T0 + 500;
    rec.communicated = true;
    let now = T0 + 1000;
    let mut d = Duo::with(
        cfg(Role::Primary),
        None,
        cfg(Role::Secondary),
        Some(rec),
        now,
    );
    d.connect(now);
    let rep = first_state_sent(&d.sides[1]);
    assert!(rep.startup);
    assert_eq!((rep.state, rep.since), (Normal, Some(T0 + 20)));
}

/// The driver reports a step of the wall clock; the local timers follow it and so keep
/// their real-time distance: the partner's silence (§6.6) and FO_SEND_TIMER (§6.5) either
/// way. RECOVER-WAIT ends MCLT after a recorded wall time (§8.6.2): it follows a forward
/// step and ignores a backward one, so a step never ends it sooner in real time.
#[test]
fn a_clock_step_moves_local_timers_and_never_shortens_recover_wait_s6_5_s6_6_s8_6_2() {
    use crate::timers::Timer;
    let mut d = fresh_normal_pair();
    let before = d.sides[0].ep.timers();
    d.sides[0].ep.follow_clock_step(1000);
    let after = d.sides[0].ep.timers();
    for t in [Timer::PartnerSilence, Timer::Contact] {
        assert_eq!(after.get(t), before.get(t).map(|at| at + 1000), "{t:?}");
    }
    // 1000 s of wall clock that did not really pass: at the stepped time nothing is due.
    let now = T0 + 1 + 1000;
    assert!(d.sides[0].ep.timers().due(now).next().is_none());
    d.sides[0].ep.follow_clock_step(-1000);
    assert_eq!(d.sides[0].ep.timers(), before);

    // Into RECOVER-WAIT, as in recovery_after_partner_down_s8_3_2_step_5_s8_5_s8_6.
    let p_record = d.sides[0].persisted.clone().unwrap();
    d.cut(T0 + 10);
    d.run(T0 + 10, T0 + 700);
    let now = T0 + 1000;
    d.sides[0] = Side::new(cfg(Role::Primary), Some(p_record), now);
    d.connect(now);
    assert_eq!(d.p(), RecoverWait);
    let until = d.sides[0].ep.timers().get(Timer::RecoverWait).unwrap();
    d.sides[0].ep.follow_clock_step(-500);
    assert_eq!(
        d.sides[0].ep.timers().get(Timer::RecoverWait),
        Some(until),
        "a backward step leaves RECOVER-WAIT's end (later in real time)"
    );
    d.sides[0].ep.follow_clock_step(500);
    assert_eq!(
        d.sides[0].ep.timers().get(Timer::RecoverWait),
        Some(until + 500),
        "a forward step must not cut RECOVER-WAIT short"
    );
}
