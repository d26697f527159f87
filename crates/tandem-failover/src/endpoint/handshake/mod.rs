//! Connection-level messages — CONNECT and its answer, STATE, CONTACT, DISCONNECT — for
//! both protocols: what the endpoint says and reads, in protocol-neutral terms, and the
//! protocol's module that writes and checks its options (`rfc8156`: RFC 8156 §6;
//! `draft12`: draft-ietf-dhc-failover-12 §7.8 – §7.12 as ISC dhcpd 4.4 speaks it).

pub mod draft12;
pub mod rfc8156;

use tandem_core::Time;
use tandem_wire::dhcpfo::Hba;

use crate::types::ServerState;
use crate::wire::{PeerMessage, Protocol};

/// What this server announces on a new connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalParams {
    pub relationship: String,
    pub mclt: u32,
    /// Our FO_KEEPALIVE_TIME (RFC 8156 §6.5), draft-12's receive timer (§12.19): the
    /// longest silence we accept.
    pub keepalive: u32,
    /// The most un-answered BNDUPDs we accept from the partner.
    pub max_unacked: u32,
    /// draft-12 primary: the hash bucket assignment it sends in CONNECT (§12.11, RFC 3074).
    pub hba: Option<Hba>,
}

/// What the partner announced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerParams {
    pub mclt: u32,
    pub keepalive: u32,
    pub max_unacked: u32,
    pub version: (u16, u16),
    /// draft-12: the primary's hash bucket assignment, which the secondary adopts (§5.3).
    pub hba: Option<Hba>,
}

/// Why a CONNECT or its answer was refused: the protocol's code (an RFC 8156 status code, a
/// draft-12 reject reason) and a text for logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub code: u16,
    pub reason: String,
}

impl Refusal {
    pub fn new(code: u16, reason: impl Into<String>) -> Self {
        Refusal {
            code,
            reason: reason.into(),
        }
    }
}

/// Why the endpoint ends a connection with DISCONNECT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DisconnectCode {
    /// The partner broke the protocol or its parameters do not match ours.
    ConfigurationConflict,
    /// Planned shutdown.
    ShuttingDown,
    /// A refusal's code, already in the protocol's own numbering.
    Refused(u16),
}

/// What a STATE says (RFC 8156 §6.4, draft-12 §7.10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateReport {
    pub state: ServerState,
    /// The partner is in STARTUP and `state` is its previous state.
    pub startup: bool,
    /// RFC 8156's C flag: the partner has talked to us before. draft-12 has no such flag.
    pub communicated: bool,
    pub since: Option<Time>,
    pub partner_down_time: Option<Time>,
}

pub fn connect(protocol: Protocol, p: &LocalParams, xid: u32, now: Time) -> PeerMessage {
    match protocol {
        Protocol::Rfc8156 => rfc8156::connect(p, xid, now).into(),
        Protocol::Draft12 => draft12::connect(p, xid, now).into(),
    }
}

/// The secondary's checks of a CONNECT; on success it adopts the primary's MCLT.
pub fn check_connect(
    m: &PeerMessage,
    local: &LocalParams,
    now: Time,
) -> Result<PeerParams, Refusal> {
    match m {
        PeerMessage::Rfc8156(m) => rfc8156::check_connect(m, local, now),
        PeerMessage::Draft12(m) => draft12::check_connect(m, local, now),
    }
}

/// An accepting answer to `connect`, with the adopted MCLT.
pub fn connect_reply(
    connect: &PeerMessage,
    local: &LocalParams,
    mclt: u32,
    now: Time,
) -> PeerMessage {
    match connect {
        PeerMessage::Rfc8156(c) => {
            rfc8156::connect_reply(local, mclt, c.transaction_id, now).into()
        }
        PeerMessage::Draft12(c) => draft12::connect_ack(c, local, None, now).into(),
    }
}

/// A refusing answer to `connect`.
pub fn connect_refusal(
    connect: &PeerMessage,
    local: &LocalParams,
    r: &Refusal,
    now: Time,
) -> PeerMessage {
    match connect {
        PeerMessage::Rfc8156(c) => rfc8156::connect_refusal(r, c.transaction_id, now).into(),
        PeerMessage::Draft12(c) => draft12::connect_ack(c, local, Some(r), now).into(),
    }
}

/// The primary's checks of the answer to its CONNECT.
pub fn check_connect_reply(
    m: &PeerMessage,
    local: &LocalParams,
    now: Time,
) -> Result<PeerParams, Refusal> {
    match m {
        PeerMessage::Rfc8156(m) => rfc8156::check_connect_reply(m, local),
        PeerMessage::Draft12(m) => draft12::check_connect_ack(m, local, now),
    }
}

/// The answer to our CONNECT says the partner refused us (rather than our own checks
/// refusing it): then we just close, there is nothing to tell it.
pub fn refused_by_partner(m: &PeerMessage) -> bool {
    match m {
        PeerMessage::Rfc8156(m) => {
            tandem_wire::v6::OptionsExt::status_code(m).is_some_and(|s| s.code != 0)
        }
        PeerMessage::Draft12(m) => draft12::refused(m),
    }
}

pub fn state(protocol: Protocol, report: &StateReport, xid: u32, now: Time) -> PeerMessage {
    match protocol {
        Protocol::Rfc8156 => rfc8156::state(report, xid, now).into(),
        Protocol::Draft12 => draft12::state(report, xid, now).into(),
    }
}

/// Reads a received STATE; an invalid or missing state is an error.
pub fn read_state(m: &PeerMessage) -> Result<StateReport, String> {
    match m {
        PeerMessage::Rfc8156(m) => rfc8156::read_state(m),
        PeerMessage::Draft12(m) => draft12::read_state(m),
    }
}

pub fn disconnect(
    protocol: Protocol,
    code: DisconnectCode,
    reason: &str,
    xid: u32,
    now: Time,
) -> PeerMessage {
    match protocol {
        Protocol::Rfc8156 => {
            rfc8156::disconnect(rfc8156::disconnect_code(code), reason, xid, now).into()
        }
        Protocol::Draft12 => draft12::disconnect(code, reason, xid, now).into(),
    }
}

/// What a received DISCONNECT says, for the log.
pub fn disconnect_text(m: &PeerMessage) -> String {
    match m {
        PeerMessage::Rfc8156(m) => tandem_wire::v6::OptionsExt::status_code(m)
            .map(|s| format!("partner disconnected: {} ({})", s.message, s.code))
            .unwrap_or_else(|| "partner disconnected".into()),
        PeerMessage::Draft12(m) => draft12::disconnect_text(m),
    }
}

pub fn contact(protocol: Protocol, xid: u32, now: Time) -> PeerMessage {
    match protocol {
        Protocol::Rfc8156 => rfc8156::contact(xid, now).into(),
        Protocol::Draft12 => draft12::contact(xid, now).into(),
    }
}
