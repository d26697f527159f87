//! draft-ietf-dhc-failover-12's connection-level messages (§7.8 CONNECT, §7.9 CONNECTACK,
//! §7.10 STATE, §7.11 CONTACT, §7.12 DISCONNECT) as ISC dhcpd 4.4 sends and checks them.
//! Where dhcpd departs from the draft, a partner of dhcpd must follow dhcpd; each such
//! place says "ISC dhcpd 4.4 behaviour".

use tandem_core::Time;
use tandem_wire::dhcpfo::{
    Body, Connect, ConnectAck, Disconnect, Message, RejectReason, ServerFlags,
    ServerState as WireState, State,
};

use super::{DisconnectCode, LocalParams, PeerParams, Refusal, StateReport};
use crate::types::ServerState;

/// ISC dhcpd 4.4 behaviour: CONNECT and CONNECTACK are refused when the sender's clock is
/// more than 60 s from ours ("time offset too large", reject reason 4). It is the only
/// place dhcpd compares clocks; it corrects nothing.
pub const MAX_CLOCK_SKEW_SECS: u64 = 60;
/// protocol-version (§12.20): 1.
pub const PROTOCOL_VERSION: u8 = 1;
/// vendor-class-identifier (§12.28), which dhcpd logs and does not check.
pub const VENDOR_CLASS: &str = concat!("tandem-", env!("CARGO_PKG_VERSION"));

/// draft-12 times are seconds since 1970 in 32 bits (§6.1).
fn secs(t: Time) -> u32 {
    u32::try_from(t.as_secs()).unwrap_or(u32::MAX)
}

fn time(t: u32) -> Time {
    Time(u64::from(t))
}

fn message(time_now: Time, xid: u32, body: Body) -> Message {
    Message::new(secs(time_now), xid, body)
}

fn skewed(m: &Message, now: Time) -> bool {
    u64::from(m.time).abs_diff(now.as_secs()) > MAX_CLOCK_SKEW_SECS
}

fn text(b: &Option<Vec<u8>>) -> String {
    b.as_deref()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

fn refusal(reason: RejectReason, text: impl Into<String>) -> Refusal {
    Refusal::new(u16::from(reason.0), text)
}

/// CONNECT (§7.8), from the primary: ISC dhcpd 4.4 sends
/// `[22 14 19 28 20 27 15 11]` and so does tandem (the codec keeps that order).
pub fn connect(p: &LocalParams, xid: u32, now: Time) -> Message {
    message(
        now,
        xid,
        Body::Connect(Connect {
            relationship_name: Some(p.relationship.clone().into_bytes()),
            max_unacked: Some(p.max_unacked),
            receive_timer: Some(p.keepalive),
            vendor_class: Some(VENDOR_CLASS.as_bytes().to_vec()),
            protocol_version: Some(PROTOCOL_VERSION),
            // No TLS: dhcpd has none (it sends 0 and never acts on it).
            tls_request: Some(0),
            mclt: Some(p.mclt),
            hba: p.hba.map(|h| h.0.to_vec()),
        }),
    )
}

/// The secondary's checks of a CONNECT, in ISC dhcpd 4.4's order: the relationship name
/// (reason 8), the clocks (4), the HBA (18: present and 32 bytes; the draft's §7.8.2 says
/// 19, its §12.21 table and dhcpd 18), the MCLT (5). Protocol version, TLS and vendor class
/// are not checked, as dhcpd does not.
pub fn check_connect(m: &Message, local: &LocalParams, now: Time) -> Result<PeerParams, Refusal> {
    let Body::Connect(c) = &m.body else {
        return Err(refusal(RejectReason::MISC_REJECT, "not a CONNECT"));
    };
    let name = text(&c.relationship_name);
    if c.relationship_name.is_none() || name != local.relationship {
        return Err(refusal(
            RejectReason::INVALID_PARTNER,
            format!(
                "relationship {name:?} is not configured here (ours is {:?})",
                local.relationship
            ),
        ));
    }
    if skewed(m, now) {
        return Err(refusal(
            RejectReason::TIME_MISMATCH,
            format!(
                "clocks differ by {} s, more than {MAX_CLOCK_SKEW_SECS} s",
                u64::from(m.time).abs_diff(now.as_secs())
            ),
        ));
    }
    let Some(hba) = c.hba() else {
        return Err(refusal(
            RejectReason::HBA_CONFLICT,
            match &c.hba {
                None => "CONNECT without a hash bucket assignment".to_string(),
                Some(b) => format!("hash bucket assignment of {} bytes, not 32", b.len()),
            },
        ));
    };
    let Some(mclt) = c.mclt else {
        return Err(refusal(RejectReason::INVALID_MCLT, "CONNECT without MCLT"));
    };
    if !crate::mclt::mclt_is_usable(mclt) {
        return Err(refusal(
            RejectReason::INVALID_MCLT,
            format!("MCLT {mclt} s is below the 30 s minimum"),
        ));
    }
    Ok(PeerParams {
        mclt,
        // dhcpd sends its max-response-delay as the receive timer; without one, ours.
        keepalive: c.receive_timer.unwrap_or(local.keepalive),
        max_unacked: c.max_unacked.unwrap_or(1).max(1),
        version: (u16::from(c.protocol_version.unwrap_or(PROTOCOL_VERSION)), 0),
        hba: Some(hba),
    })
}

/// CONNECTACK (§7.9) answering `c`, accepting or, with `refused`, refusing. ISC dhcpd 4.4
/// behaviour: `[22 14 19 28 20 26]`, plus `[21 16]` on a refusal (the draft says a refusal
/// carries none of 14, 19, 28; dhcpd sends them, and so does tandem); TLS-reply only when
/// the CONNECT had TLS-request.
pub fn connect_ack(
    c: &Message,
    local: &LocalParams,
    refused: Option<&Refusal>,
    now: Time,
) -> Message {
    let tls_request = match &c.body {
        Body::Connect(c) => c.tls_request,
        _ => None,
    };
    message(
        now,
        c.xid,
        Body::ConnectAck(ConnectAck {
            relationship_name: Some(local.relationship.clone().into_bytes()),
            max_unacked: Some(local.max_unacked),
            receive_timer: Some(local.keepalive),
            vendor_class: Some(VENDOR_CLASS.as_bytes().to_vec()),
            protocol_version: Some(PROTOCOL_VERSION),
            tls_reply: tls_request.map(|_| 0),
            reject_reason: refused
                .map(|r| RejectReason(u8::try_from(r.code).unwrap_or(RejectReason::MISC_REJECT.0))),
            message: refused.map(|r| r.reason.clone().into_bytes()),
        }),
    )
}

/// The partner's CONNECTACK refuses us.
pub fn refused(m: &Message) -> bool {
    matches!(&m.body, Body::ConnectAck(a) if a.reject_reason.is_some())
}

/// The primary's checks of a CONNECTACK, as ISC dhcpd 4.4 makes them: a reject reason is
/// the partner's refusal; then the relationship name (8) and the clocks (4), each answered
/// with DISCONNECT.
pub fn check_connect_ack(
    m: &Message,
    local: &LocalParams,
    now: Time,
) -> Result<PeerParams, Refusal> {
    let Body::ConnectAck(a) = &m.body else {
        return Err(refusal(RejectReason::MISC_REJECT, "not a CONNECTACK"));
    };
    if let Some(r) = a.reject_reason {
        return Err(Refusal::new(
            u16::from(r.0),
            format!(
                "partner refused the connection: {} (reject reason {}: {})",
                text(&a.message),
                r.0,
                r.name().unwrap_or("unknown")
            ),
        ));
    }
    let name = text(&a.relationship_name);
    if a.relationship_name.is_none() || name != local.relationship {
        return Err(refusal(
            RejectReason::INVALID_PARTNER,
            format!(
                "partner answered for relationship {name:?}, ours is {:?}",
                local.relationship
            ),
        ));
    }
    if skewed(m, now) {
        return Err(refusal(
            RejectReason::TIME_MISMATCH,
            format!(
                "clocks differ by {} s, more than {MAX_CLOCK_SKEW_SECS} s",
                u64::from(m.time).abs_diff(now.as_secs())
            ),
        ));
    }
    Ok(PeerParams {
        // The primary's MCLT is the relationship's (§5.2.1); the secondary does not send one.
        mclt: local.mclt,
        keepalive: a.receive_timer.unwrap_or(local.keepalive),
        max_unacked: a.max_unacked.unwrap_or(1).max(1),
        version: (u16::from(a.protocol_version.unwrap_or(PROTOCOL_VERSION)), 0),
        hba: local.hba,
    })
}

/// draft-12's server-state numbers (§12.24). ISC dhcpd 4.4 behaviour: RECOVER-WAIT, which
/// the draft describes (§9.6) but does not number, is 254.
fn to_wire(s: ServerState) -> WireState {
    match s {
        ServerState::Startup => WireState::STARTUP,
        ServerState::Normal => WireState::NORMAL,
        ServerState::CommunicationsInterrupted => WireState::COMMUNICATIONS_INTERRUPTED,
        ServerState::PartnerDown => WireState::PARTNER_DOWN,
        ServerState::PotentialConflict => WireState::POTENTIAL_CONFLICT,
        ServerState::Recover => WireState::RECOVER,
        ServerState::RecoverWait => WireState::RECOVER_WAIT,
        ServerState::RecoverDone => WireState::RECOVER_DONE,
        ServerState::ResolutionInterrupted => WireState::RESOLUTION_INTERRUPTED,
        ServerState::ConflictDone => WireState::CONFLICT_DONE,
    }
}

fn from_wire(s: WireState) -> Result<ServerState, String> {
    Ok(match s {
        WireState::NORMAL => ServerState::Normal,
        WireState::COMMUNICATIONS_INTERRUPTED => ServerState::CommunicationsInterrupted,
        WireState::PARTNER_DOWN => ServerState::PartnerDown,
        WireState::POTENTIAL_CONFLICT => ServerState::PotentialConflict,
        WireState::RECOVER => ServerState::Recover,
        WireState::RECOVER_WAIT => ServerState::RecoverWait,
        WireState::RECOVER_DONE => ServerState::RecoverDone,
        WireState::RESOLUTION_INTERRUPTED => ServerState::ResolutionInterrupted,
        WireState::CONFLICT_DONE => ServerState::ConflictDone,
        // ISC dhcpd 4.4 enters PAUSED and SHUTDOWN only on a gentle shutdown, which the
        // Debian build leaves out (ENABLE_GENTLE_SHUTDOWN): tandem does not follow them.
        WireState::PAUSED | WireState::SHUTDOWN => {
            return Err(format!(
                "STATE {}: tandem does not follow a partner in PAUSED or SHUTDOWN",
                s.name().unwrap_or("?")
            ))
        }
        // STARTUP is the flag, never the state (§7.10); unknown values are refused, as
        // dhcpd refuses them.
        other => return Err(format!("STATE with invalid server state {}", other.0)),
    })
}

/// STATE (§7.10): ISC dhcpd 4.4 sends `[24 23 25]`. In STARTUP the recorded state with the
/// STARTUP flag. draft-12 has no partner-down time: the start of PARTNER-DOWN is its
/// start-time-of-state.
pub fn state(report: &StateReport, xid: u32, now: Time) -> Message {
    let since = match (report.state, report.partner_down_time) {
        (ServerState::PartnerDown, Some(t)) => t,
        _ => report.since.unwrap_or(now),
    };
    message(
        now,
        xid,
        Body::State(State {
            server_state: Some(to_wire(report.state)),
            server_flags: Some(ServerFlags(if report.startup {
                ServerFlags::STARTUP
            } else {
                0
            })),
            start_time_of_state: Some(secs(since)),
        }),
    )
}

/// Reads a received STATE. draft-12 has no "communicated before" flag: tandem reads it as
/// set, so a recovering tandem waits out the MCLT and asks for everything it lacks.
pub fn read_state(m: &Message) -> Result<StateReport, String> {
    let Body::State(s) = &m.body else {
        return Err("not a STATE".into());
    };
    let raw = s.server_state.ok_or("STATE without server-state")?;
    let state = from_wire(raw)?;
    let since = s.start_time_of_state.map(time);
    Ok(StateReport {
        state,
        startup: s.server_flags.is_some_and(|f| f.startup()),
        communicated: true,
        since,
        partner_down_time: (state == ServerState::PartnerDown)
            .then_some(since)
            .flatten(),
    })
}

/// DISCONNECT (§7.12) with a reject reason and message.
pub fn disconnect(code: DisconnectCode, reason: &str, xid: u32, now: Time) -> Message {
    let r = match code {
        DisconnectCode::Refused(c) => u8::try_from(c)
            .map(RejectReason)
            .unwrap_or(RejectReason::MISC_REJECT),
        DisconnectCode::ConfigurationConflict | DisconnectCode::ShuttingDown => {
            RejectReason::MISC_REJECT
        }
    };
    message(
        now,
        xid,
        Body::Disconnect(Disconnect {
            reject_reason: Some(r),
            message: Some(reason.as_bytes().to_vec()),
        }),
    )
}

pub fn disconnect_text(m: &Message) -> String {
    match &m.body {
        Body::Disconnect(d) => format!(
            "partner disconnected: {} (reject reason {})",
            text(&d.message),
            d.reject_reason
                .map(|r| format!("{}: {}", r.0, r.name().unwrap_or("unknown")))
                .unwrap_or_else(|| "none".into())
        ),
        _ => "partner disconnected".into(),
    }
}

/// CONTACT (§7.11): no options.
pub fn contact(xid: u32, now: Time) -> Message {
    message(now, xid, Body::Contact)
}
