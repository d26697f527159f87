//! The endpoint speaking draft-ietf-dhc-failover-12 as ISC dhcpd 4.4 does: the same state
//! machine as RFC 8156, with dhcpd's CONNECT/CONNECTACK/STATE rules (§7.8 – §7.10).

use super::*;
use crate::endpoint::handshake::draft12;
use tandem_wire::dhcpfo::{self, Body, Hba, RejectReason, ServerState as WireState};

fn cfg12(role: Role) -> EndpointConfig {
    let mut c = cfg(role);
    c.protocol = Protocol::Draft12;
    if role == Role::Primary {
        // dhcpd's `split 128`: the primary sends the hash bucket assignment (§5.3).
        c.local.hba = Some(Hba::split(128));
    }
    c
}

fn duo12(now: Time) -> Duo {
    Duo::with(
        cfg12(Role::Primary),
        None,
        cfg12(Role::Secondary),
        None,
        now,
    )
}

fn sent12(side: &Side) -> Vec<dhcpfo::Message> {
    side.log
        .iter()
        .filter_map(|e| match e {
            Effect::Send(m) => m.draft12().cloned(),
            _ => None,
        })
        .collect()
}

fn link_up_hba(side: &Side) -> Option<Hba> {
    side.log.iter().find_map(|e| match e {
        Effect::LinkUp { peer } => peer.hba,
        _ => None,
    })
}

#[test]
fn draft12_fresh_pair_reaches_normal_and_the_secondary_adopts_the_primarys_hba_s5_3() {
    let mut d = duo12(T0);
    d.connect(T0 + 1);
    d.run(T0 + 1, T0 + u64::from(MCLT) + 5);
    assert_eq!((d.p(), d.s()), (Normal, Normal), "{:?}", d.changes(1));
    assert_eq!(link_up_hba(&d.sides[1]), Some(Hba::split(128)));
    assert_eq!(link_up_hba(&d.sides[0]), Some(Hba::split(128)));
    // Every message both sides sent is draft-12.
    for i in 0..2 {
        assert!(d.sides[i]
            .log
            .iter()
            .all(|e| !matches!(e, Effect::Send(m) if m.protocol() != Protocol::Draft12)));
    }
}

#[test]
fn draft12_recover_wait_is_sent_as_254_as_dhcpd_does() {
    let mut d = duo12(T0);
    d.connect(T0 + 1);
    d.run(T0 + 1, T0 + u64::from(MCLT) + 5);
    let states: Vec<WireState> = sent12(&d.sides[1])
        .iter()
        .filter_map(|m| match &m.body {
            Body::State(s) => s.server_state,
            _ => None,
        })
        .collect();
    assert!(states.contains(&WireState::RECOVER_WAIT), "{states:?}");
    assert_eq!(WireState::RECOVER_WAIT.0, 254);
}

fn connect_from(m: &dhcpfo::Message) -> dhcpfo::Connect {
    match &m.body {
        Body::Connect(c) => c.clone(),
        other => panic!("not a CONNECT: {other:?}"),
    }
}

fn primary_connect(now: Time) -> dhcpfo::Message {
    draft12::connect(&cfg12(Role::Primary).local, 0, now)
}

fn refusal_code(m: &dhcpfo::Message, local: &LocalParams, now: Time) -> Option<u8> {
    draft12::check_connect(m, local, now)
        .err()
        .map(|r| r.code as u8)
}

#[test]
fn draft12_connect_with_another_relationship_is_refused_with_reason_8() {
    let mut m = primary_connect(T0);
    let mut c = connect_from(&m);
    c.relationship_name = Some(b"other".to_vec());
    m.body = Body::Connect(c);
    let local = cfg12(Role::Secondary).local;
    assert_eq!(
        refusal_code(&m, &local, T0),
        Some(RejectReason::INVALID_PARTNER.0)
    );
}

#[test]
fn draft12_connect_more_than_60_s_off_our_clock_is_refused_with_reason_4() {
    let local = cfg12(Role::Secondary).local;
    let m = primary_connect(T0);
    assert_eq!(refusal_code(&m, &local, T0 + 60), None, "60 s is allowed");
    assert_eq!(
        refusal_code(&m, &local, T0 + 61),
        Some(RejectReason::TIME_MISMATCH.0)
    );
    let early = primary_connect(T0 + 61);
    assert_eq!(
        refusal_code(&early, &local, T0),
        Some(RejectReason::TIME_MISMATCH.0)
    );
}

#[test]
fn draft12_connect_without_a_32_byte_hba_is_refused_with_reason_18() {
    let local = cfg12(Role::Secondary).local;
    for hba in [None, Some(vec![0xff; 16]), Some(vec![0xff; 33])] {
        let mut m = primary_connect(T0);
        let mut c = connect_from(&m);
        c.hba = hba.clone();
        m.body = Body::Connect(c);
        assert_eq!(
            refusal_code(&m, &local, T0),
            Some(RejectReason::HBA_CONFLICT.0),
            "{hba:?}"
        );
    }
}

#[test]
fn draft12_connect_without_mclt_is_refused_with_reason_5() {
    let local = cfg12(Role::Secondary).local;
    let mut m = primary_connect(T0);
    let mut c = connect_from(&m);
    c.mclt = None;
    m.body = Body::Connect(c);
    assert_eq!(
        refusal_code(&m, &local, T0),
        Some(RejectReason::INVALID_MCLT.0)
    );
}

#[test]
fn draft12_checks_the_relationship_before_the_clock_as_dhcpd_does() {
    let mut m = primary_connect(T0);
    let mut c = connect_from(&m);
    c.relationship_name = Some(b"other".to_vec());
    c.hba = None;
    m.body = Body::Connect(c);
    let local = cfg12(Role::Secondary).local;
    assert_eq!(
        refusal_code(&m, &local, T0 + 3600),
        Some(RejectReason::INVALID_PARTNER.0)
    );
}

#[test]
fn draft12_refused_connect_is_answered_with_connectack_reason_and_message_then_closed() {
    let mut s = Side::new(cfg12(Role::Secondary), None, T0);
    s.ep.handle_connected(T0);
    let m = primary_connect(T0 - 3600);
    let (_, fx) = s.ep.handle_message(T0, m.into());
    let ack = fx
        .iter()
        .find_map(|e| match e {
            Effect::Send(m) => m.draft12().cloned(),
            _ => None,
        })
        .expect("CONNECTACK");
    let Body::ConnectAck(a) = &ack.body else {
        panic!("{ack:?}")
    };
    assert_eq!(a.reject_reason, Some(RejectReason::TIME_MISMATCH));
    assert!(a.message.as_ref().is_some_and(|t| !t.is_empty()));
    assert!(
        fx.iter().any(|e| matches!(e, Effect::Close { .. })),
        "{fx:?}"
    );
}

/// A refused CONNECT (draft-12 §7.8.2: here the clock, reason 4) is reported as a
/// protocol error, which the server logs at warn and counts (`tandem ctl status`
/// protocol_errors, `tandem_failover_protocol_errors_total`): before, only an info line
/// "partner connection lost" said it, once a second (pair4_badinput.py).
#[test]
fn draft12_refused_connect_is_reported_as_a_protocol_error_s7_8_2() {
    let mut s = Side::new(cfg12(Role::Secondary), None, T0);
    s.ep.handle_connected(T0);
    let (_, fx) = s.ep.handle_message(T0, primary_connect(T0 - 3600).into());
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::ProtocolError(p) if p.contains("clocks differ"))),
        "{fx:?}"
    );
}

/// The partner refusing our CONNECT (a CONNECTACK with a reject reason, §7.9: ISC dhcpd
/// 4.4 sends reason 8 for a relationship it does not know) is reported too, with its
/// reason.
#[test]
fn draft12_partner_refusing_our_connect_is_reported_as_a_protocol_error_s7_9() {
    let local = cfg12(Role::Primary).local;
    let mut p = Side::new(cfg12(Role::Primary), None, T0);
    let fx = p.ep.handle_connected(T0);
    let Some(Effect::Send(connect)) = fx.first() else {
        panic!("the primary sends CONNECT first: {fx:?}")
    };
    let connect = connect.draft12().cloned().expect("a draft-12 CONNECT");
    let refusal = crate::endpoint::handshake::Refusal::new(
        u16::from(RejectReason::INVALID_PARTNER.0),
        "unknown failover relationship name",
    );
    let ack = draft12::connect_ack(&connect, &local, Some(&refusal), T0);
    let (_, fx) = p.ep.handle_message(T0, ack.into());
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::ProtocolError(p) if p.contains("reject reason 8"))),
        "{fx:?}"
    );
    assert!(fx.iter().any(|e| matches!(e, Effect::Close { .. })));
}

/// The first message a real ISC dhcpd 4.4.3-P1 primary sent (relationship "test",
/// `split 128`, MCLT 60).
fn captured_dhcpd_connect() -> Vec<u8> {
    crate::test_vectors::dhcpd_primary().remove(0).1
}

#[test]
fn a_real_dhcpd_connect_is_accepted_and_answered_as_dhcpd_answers_s7_9() {
    let bytes = captured_dhcpd_connect();
    let m = PeerMessage::parse(Protocol::Draft12, &bytes).expect("dhcpd's CONNECT decodes");
    assert_eq!(m.kind(), Kind::Connect);
    let now = Time(u64::from(m.draft12().unwrap().time) + 2);
    let mut c = cfg12(Role::Secondary);
    c.local.relationship = "test".into();
    let mut s = Side::new(c, None, now);
    s.ep.handle_connected(now);
    let (_, fx) = s.ep.handle_message(now, m);
    let out: Vec<Vec<u8>> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Send(m) => m.emit(),
            _ => None,
        })
        .collect();
    assert!(
        !fx.iter().any(|e| matches!(e, Effect::Close { .. })),
        "{fx:?}"
    );
    // CONNECTACK with dhcpd's option order, no reject reason, then our STATE.
    let ack = &out[0];
    assert_eq!(ack[2], 6, "CONNECTACK");
    assert_eq!(ack[3], 12, "payload offset 12, as dhcpd sends");
    assert_eq!(
        u32::from_be_bytes(ack[8..12].try_into().unwrap()),
        0,
        "CONNECT's xid"
    );
    let mut codes = Vec::new();
    let mut at = 12;
    while at + 4 <= ack.len() {
        codes.push(u16::from_be_bytes([ack[at], ack[at + 1]]));
        at += 4 + usize::from(u16::from_be_bytes([ack[at + 2], ack[at + 3]]));
    }
    assert_eq!(codes, [22, 14, 19, 28, 20, 26]);
    let state = dhcpfo::Message::decode(&out[1]).unwrap().message;
    let Body::State(st) = state.body else {
        panic!("{state:?}")
    };
    // A fresh tandem secondary: STARTUP flag set while it waits for dhcpd's STATE.
    assert!(st.server_flags.is_some_and(|f| f.startup()), "{st:?}");
    // The MCLT is dhcpd's.
    assert_eq!(s.ep.mclt(), 60);
}

#[test]
fn draft12_a_pair_recovering_together_skips_the_mclt_wait_as_dhcpd_does() {
    let mut d = duo12(T0);
    d.connect(T0 + 1);
    assert_eq!((d.p(), d.s()), (Normal, Normal), "{:?}", d.changes(1));
}

/// A server back while its partner is in PARTNER-DOWN does not skip the wait: the partner
/// served alone, so RECOVER-WAIT lasts the MCLT from when we went down (§9.6).
#[test]
fn draft12_recovering_from_a_partner_in_partner_down_waits_out_the_mclt_s9_6() {
    let mut d = duo12(T0);
    d.connect(T0 + 1);
    let p_record = d.sides[0].persisted.clone().unwrap();
    d.cut(T0 + 10);
    d.run(T0 + 10, T0 + 700);
    assert_eq!(d.s(), PartnerDown);
    let now = T0 + 1000;
    d.sides[0] = Side::new(cfg12(Role::Primary), Some(p_record), now);
    d.connect(now);
    assert_eq!(d.p(), RecoverWait, "{:?}", d.changes(0));
    d.run(now, T0 + u64::from(MCLT) - 1);
    assert_eq!(d.p(), RecoverWait);
    d.run(T0 + u64::from(MCLT) + 1, T0 + u64::from(MCLT) + 3);
    assert_eq!((d.p(), d.s()), (Normal, Normal), "{:?}", d.changes(0));
}

/// ISC dhcpd 4.4's row of the draft-12 state machine: a server in COMMUNICATIONS-INTERRUPTED
/// whose partner comes back in RECOVER (it lost its storage: it served nobody and will ask
/// for everything) goes to PARTNER-DOWN at once, so it may serve all clients while the
/// partner recovers; PARTNER-DOWN + RECOVER-DONE then leads both to NORMAL (draft-12 §9.5.2,
/// RFC 8156 §8.9.2 instead waits in COMMUNICATIONS-INTERRUPTED).
#[test]
fn draft12_comm_interrupted_with_a_partner_in_recover_goes_partner_down_as_dhcpd_s9_5() {
    let mut d = duo12(T0);
    d.connect(T0 + 1);
    d.cut(T0 + 10);
    d.run(T0 + 10, T0 + 20);
    assert_eq!(d.p(), CommunicationsInterrupted);
    let now = T0 + 1000;
    d.sides[1] = Side::new(cfg12(Role::Secondary), None, now);
    d.connect(now);
    assert_eq!(d.p(), PartnerDown, "{:?}", d.changes(0));
    assert!(d
        .changes(0)
        .contains(&(CommunicationsInterrupted, PartnerDown)));
    d.run(now, now + u64::from(MCLT) + 3);
    assert_eq!(
        (d.p(), d.s()),
        (Normal, Normal),
        "{:?} {:?}",
        d.changes(0),
        d.changes(1)
    );
}
