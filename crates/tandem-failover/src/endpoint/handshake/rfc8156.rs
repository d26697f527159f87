//! RFC 8156's connection-level messages: CONNECT / CONNECTREPLY (§6.1.1 – §6.1.3), STATE
//! (§6.3, §6.4), DISCONNECT (§5.3.10) and CONTACT (§6.5); how to build them and how to check
//! what the partner sent (§6.1).

use tandem_core::Time;
use tandem_wire::failover::{ConnectFlags, FailoverMessage, FailoverMsgType, ServerFlags};
use tandem_wire::v6::{DhcpOption, OptionsExt, StatusCode};

use super::{LocalParams, PeerParams, Refusal, StateReport};
use crate::binding::TIME_FUZZ_SECS;
use crate::types::ServerState;
use crate::update::FailoverStatus;

/// The protocol version tandem sends (§5.5.14: initially 1.0).
pub const PROTOCOL_VERSION: (u16, u16) = (1, 0);
/// RFC 7653 NotSupported, reused for an unsupported PROTOCOL_VERSION (§6.1.2).
pub const STATUS_NOT_SUPPORTED: u16 = 14;

fn status(code: u16, text: &str) -> DhcpOption {
    DhcpOption::StatusCode(StatusCode {
        code,
        message: text.to_string(),
    })
}

fn header(t: FailoverMsgType, xid: u32, now: Time) -> FailoverMessage {
    FailoverMessage::new(t, xid, now.to_failover())
}

/// The sender's clock is more than 5 s from ours (§7.1, §6.1.2).
pub fn skewed(msg: &FailoverMessage, now: Time) -> bool {
    let theirs = Time::from_failover(msg.sent_time);
    theirs.as_secs().abs_diff(now.as_secs()) > TIME_FUZZ_SECS
}

/// CONNECT (§6.1.1). tandem delegates one prefix length per pool: CONNECT_FLAGS F = 1.
pub fn connect(p: &LocalParams, xid: u32, now: Time) -> FailoverMessage {
    let mut m = header(FailoverMsgType::Connect, xid, now)
        .with(DhcpOption::ProtocolVersion {
            major: PROTOCOL_VERSION.0,
            minor: PROTOCOL_VERSION.1,
        })
        .with(DhcpOption::Mclt(p.mclt))
        .with(DhcpOption::KeepaliveTime(p.keepalive))
        .with(DhcpOption::MaxUnackedBndupd(p.max_unacked));
    if !p.relationship.is_empty() {
        m = m.with(DhcpOption::RelationshipName(p.relationship.clone()));
    }
    m.with(DhcpOption::ConnectFlags(ConnectFlags::FIXED_PD_LENGTH))
}

fn version_ok(v: (u16, u16)) -> bool {
    v.0 == PROTOCOL_VERSION.0
}

fn peer_params(m: &FailoverMessage, what: &str) -> Result<PeerParams, Refusal> {
    let missing = |o: &str| {
        Refusal::new(
            FailoverStatus::MissingBindingInformation.as_u16(),
            format!("{what} without {o}"),
        )
    };
    let version = m
        .protocol_version()
        .ok_or_else(|| missing("PROTOCOL_VERSION"))?;
    if !version_ok(version) {
        return Err(Refusal::new(
            STATUS_NOT_SUPPORTED,
            format!(
                "protocol version {}.{} not supported (tandem speaks {}.{})",
                version.0, version.1, PROTOCOL_VERSION.0, PROTOCOL_VERSION.1
            ),
        ));
    }
    Ok(PeerParams {
        hba: None,
        mclt: m.mclt().ok_or_else(|| missing("MCLT"))?,
        keepalive: m
            .keepalive_time()
            .ok_or_else(|| missing("KEEPALIVE_TIME"))?,
        max_unacked: m
            .max_unacked_bndupd()
            .ok_or_else(|| missing("MAX_UNACKED_BNDUPD"))?,
        version,
    })
}

/// The secondary's checks of a CONNECT, in the order of §6.1.2. On success
/// the secondary adopts the primary's MCLT.
pub fn check_connect(
    m: &FailoverMessage,
    local: &LocalParams,
    now: Time,
) -> Result<PeerParams, Refusal> {
    if skewed(m, now) {
        return Err(Refusal::new(
            FailoverStatus::ExcessiveTimeSkew.as_u16(),
            "clocks differ by more than 5 seconds",
        ));
    }
    let p = peer_params(m, "CONNECT")?;
    // §6.2: the relationship is found by name; an absent name means "the only one".
    if let Some(name) = m.relationship_name() {
        if name != local.relationship {
            return Err(Refusal::new(
                FailoverStatus::ConfigurationConflict.as_u16(),
                format!(
                    "relationship {name:?} is not configured here (ours is {:?})",
                    local.relationship
                ),
            ));
        }
    }
    if !crate::mclt::mclt_is_usable(p.mclt) {
        return Err(Refusal::new(
            FailoverStatus::ConfigurationConflict.as_u16(),
            format!("MCLT {} s is below the 30 s minimum", p.mclt),
        ));
    }
    if !m
        .connect_flags()
        .unwrap_or_default()
        .has(ConnectFlags::FIXED_PD_LENGTH)
    {
        // F = 0: prefixes of several lengths from one pool, which tandem cannot split.
        return Err(Refusal::new(
            FailoverStatus::ConfigurationConflict.as_u16(),
            "partner delegates variable-length prefixes (CONNECT_FLAGS F=0)",
        ));
    }
    Ok(p)
}

/// An accepting CONNECTREPLY (§6.1.2): our parameters, the adopted MCLT echoed.
pub fn connect_reply(local: &LocalParams, mclt: u32, xid: u32, now: Time) -> FailoverMessage {
    header(FailoverMsgType::ConnectReply, xid, now)
        .with(DhcpOption::ProtocolVersion {
            major: PROTOCOL_VERSION.0,
            minor: PROTOCOL_VERSION.1,
        })
        .with(DhcpOption::Mclt(mclt))
        .with(DhcpOption::KeepaliveTime(local.keepalive))
        .with(DhcpOption::MaxUnackedBndupd(local.max_unacked))
        .with(DhcpOption::ConnectFlags(ConnectFlags::FIXED_PD_LENGTH))
}

/// A refusing CONNECTREPLY: only the status (§6.1.2).
pub fn connect_refusal(r: &Refusal, xid: u32, now: Time) -> FailoverMessage {
    header(FailoverMsgType::ConnectReply, xid, now).with(status(r.code, &r.reason))
}

/// The primary's checks of a CONNECTREPLY (§6.1.3).
pub fn check_connect_reply(
    m: &FailoverMessage,
    local: &LocalParams,
) -> Result<PeerParams, Refusal> {
    if let Some(s) = m.status_code().filter(|s| s.code != 0) {
        return Err(Refusal::new(
            s.code,
            format!("partner refused the connection: {}", s.message),
        ));
    }
    let p = peer_params(m, "CONNECTREPLY")?;
    if p.mclt != local.mclt {
        return Err(Refusal::new(
            FailoverStatus::ConfigurationConflict.as_u16(),
            format!(
                "partner answered MCLT {} s, ours is {} s",
                p.mclt, local.mclt
            ),
        ));
    }
    Ok(p)
}

/// STATE (§6.3): state, flags, start time; PARTNER_DOWN_TIME only in PARTNER-DOWN.
pub fn state(report: &StateReport, xid: u32, now: Time) -> FailoverMessage {
    let flags = ServerFlags(0)
        .with(ServerFlags::STARTUP, report.startup)
        .with(ServerFlags::COMMUNICATED, report.communicated);
    let mut m = header(FailoverMsgType::State, xid, now)
        .with(DhcpOption::ServerState(report.state.as_u8()))
        .with(DhcpOption::ServerFlags(flags.0))
        .with(DhcpOption::StartTimeOfState(
            report.since.unwrap_or(now).to_failover(),
        ));
    if report.state == ServerState::PartnerDown {
        if let Some(t) = report.partner_down_time {
            m = m.with(DhcpOption::PartnerDownTime(t.to_failover()));
        }
    }
    m
}

/// Reads a received STATE. STARTUP (1) is never a valid value on the wire (it is the S
/// flag), nor is an unknown code.
pub fn read_state(m: &FailoverMessage) -> Result<StateReport, String> {
    let raw = m.server_state().ok_or("STATE without SERVER_STATE")?;
    let state = ServerState::from_u8(raw)
        .filter(|s| *s != ServerState::Startup)
        .ok_or_else(|| format!("STATE with invalid server state {raw}"))?;
    let flags = m.server_flags().unwrap_or_default();
    Ok(StateReport {
        state,
        startup: flags.has(ServerFlags::STARTUP),
        communicated: flags.has(ServerFlags::COMMUNICATED),
        since: m.start_time_of_state().map(Time::from_failover),
        partner_down_time: m.partner_down_time().map(Time::from_failover),
    })
}

/// The status code for a DISCONNECT the endpoint sends (§5.3.10, §5.4).
pub fn disconnect_code(code: super::DisconnectCode) -> u16 {
    use super::DisconnectCode as C;
    match code {
        C::ConfigurationConflict => FailoverStatus::ConfigurationConflict.as_u16(),
        C::ShuttingDown => FailoverStatus::ServerShuttingDown.as_u16(),
        C::Refused(c) => c,
    }
}

/// DISCONNECT with a reason (§5.3.10).
pub fn disconnect(code: u16, reason: &str, xid: u32, now: Time) -> FailoverMessage {
    header(FailoverMsgType::Disconnect, xid, now).with(status(code, reason))
}

/// CONTACT keep-alive (§6.5): no options.
pub fn contact(xid: u32, now: Time) -> FailoverMessage {
    header(FailoverMsgType::Contact, xid, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Time = Time(1_800_000_000);

    fn local() -> LocalParams {
        LocalParams {
            relationship: "campus".into(),
            mclt: 3600,
            keepalive: 60,
            max_unacked: 100,
            hba: None,
        }
    }

    fn wire(m: &FailoverMessage) -> FailoverMessage {
        FailoverMessage::parse(&m.emit()).expect("own message parses")
    }

    #[test]
    fn connect_accepted_and_adopted_s6_1_2() {
        let m = wire(&connect(&local(), 7, NOW));
        let p = check_connect(&m, &local(), NOW + 3).expect("accepted");
        assert_eq!(p.mclt, 3600);
        assert_eq!(p.keepalive, 60);
        assert_eq!(p.max_unacked, 100);
        let mut sec = local();
        sec.mclt = 1800; // the secondary's own value does not matter: it adopts 3600
        assert_eq!(check_connect(&m, &sec, NOW).map(|p| p.mclt), Ok(3600));
    }

    #[test]
    fn connect_refusals_s6_1_2() {
        let m = connect(&local(), 7, NOW);
        let code = |m: &FailoverMessage, l: &LocalParams, now| {
            check_connect(&wire(m), l, now).map_err(|r| r.code)
        };
        // More than 5 s of clock skew.
        assert_eq!(code(&m, &local(), NOW + 6), Err(22));
        assert!(code(&m, &local(), NOW + 5).is_ok());
        // Another relationship.
        let mut other = local();
        other.relationship = "dc".into();
        assert_eq!(code(&m, &other, NOW), Err(17));
        // Unsupported version.
        let mut v2 = m.clone();
        v2.options[0] = DhcpOption::ProtocolVersion { major: 2, minor: 0 };
        assert_eq!(code(&v2, &local(), NOW), Err(STATUS_NOT_SUPPORTED));
        // Variable-length prefixes.
        let mut f0 = m.clone();
        f0.options
            .retain(|o| !matches!(o, DhcpOption::ConnectFlags(_)));
        f0 = f0.with(DhcpOption::ConnectFlags(0));
        assert_eq!(code(&f0, &local(), NOW), Err(17));
        // Missing MCLT.
        let mut nomclt = m.clone();
        nomclt.options.retain(|o| !matches!(o, DhcpOption::Mclt(_)));
        assert_eq!(code(&nomclt, &local(), NOW), Err(18));
    }

    #[test]
    fn connect_reply_checks_s6_1_3() {
        let ok = wire(&connect_reply(&local(), 3600, 7, NOW));
        assert!(check_connect_reply(&ok, &local()).is_ok());
        let bad_mclt = wire(&connect_reply(&local(), 1800, 7, NOW));
        assert_eq!(
            check_connect_reply(&bad_mclt, &local()).map_err(|r| r.code),
            Err(17)
        );
        let refused = wire(&connect_refusal(&Refusal::new(22, "skew"), 7, NOW));
        let r = check_connect_reply(&refused, &local()).unwrap_err();
        assert_eq!(r.code, 22);
        assert!(r.reason.contains("skew"));
    }

    #[test]
    fn state_round_trip_s6_3_s6_4() {
        let rep = StateReport {
            state: ServerState::PartnerDown,
            startup: false,
            communicated: true,
            since: Some(NOW),
            partner_down_time: Some(NOW),
        };
        let m = wire(&state(&rep, 9, NOW + 10));
        assert_eq!(read_state(&m), Ok(rep));
        // PARTNER_DOWN_TIME only in PARTNER-DOWN.
        let normal = StateReport {
            state: ServerState::Normal,
            ..rep
        };
        let m = wire(&state(&normal, 9, NOW));
        assert!(m.partner_down_time().is_none());
        assert_eq!(read_state(&m).map(|r| r.partner_down_time), Ok(None));
        // STARTUP is the S flag, never a value.
        let bad = header(FailoverMsgType::State, 1, NOW).with(DhcpOption::ServerState(1));
        assert!(read_state(&bad).is_err());
        let bad = header(FailoverMsgType::State, 1, NOW).with(DhcpOption::ServerState(11));
        assert!(read_state(&bad).is_err());
        assert!(read_state(&header(FailoverMsgType::State, 1, NOW)).is_err());
    }
}
