//! The two failover protocols tandem speaks, and one message type for both.
//!
//! RFC 8156 (DHCPv6) grew out of draft-ietf-dhc-failover-12 (DHCPv4, as ISC dhcpd 4.4
//! speaks it): the same twelve messages under other numbers and with other options. The
//! endpoint and the failover server work on [`PeerMessage`] and its [`Kind`]; building and
//! reading the options is the protocol's own module (`endpoint::handshake::rfc8156`,
//! `endpoint::handshake::draft12`), so each difference is written once, in its place.

use tandem_wire::dhcpfo;
use tandem_wire::failover::{FailoverMessage, FailoverMsgType};
use tandem_wire::WireError;

/// Which failover protocol a relationship speaks.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum Protocol {
    /// RFC 8156, DHCPv6 failover (tandem's own pairs, over mutual TLS).
    #[default]
    Rfc8156,
    /// draft-ietf-dhc-failover-12 for DHCPv4, as ISC dhcpd 4.4 speaks it.
    Draft12,
}

impl Protocol {
    /// Whether the raw message `bytes` (as [`PeerMessage::parse`] takes them) is a BNDUPD,
    /// by its type octet alone: RFC 8156 §5.1 puts it first, draft-12 §6.1 after the
    /// 2-byte length. For accounting before (or without) a full decode.
    pub fn is_binding_update(self, bytes: &[u8]) -> bool {
        match self {
            Protocol::Rfc8156 => bytes.first() == Some(&(FailoverMsgType::BndUpd as u8)),
            Protocol::Draft12 => bytes.get(2) == Some(&(dhcpfo::MsgType::BndUpd as u8)),
        }
    }
}

/// What a message is, whatever its protocol (RFC 8156 §5.3, draft-12 §7). RFC 8156's
/// CONNECTREPLY and BNDREPLY are draft-12's CONNECTACK and BNDACK.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    BndUpd,
    BndReply,
    PoolReq,
    PoolResp,
    UpdReq,
    UpdReqAll,
    UpdDone,
    Connect,
    ConnectReply,
    Disconnect,
    State,
    Contact,
}

impl Kind {
    /// Connection housekeeping that carries no lease state.
    pub fn is_housekeeping(self) -> bool {
        matches!(
            self,
            Kind::Connect | Kind::ConnectReply | Kind::Contact | Kind::Disconnect
        )
    }
}

/// One message to or from the partner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerMessage {
    Rfc8156(FailoverMessage),
    Draft12(dhcpfo::Message),
}

impl From<FailoverMessage> for PeerMessage {
    fn from(m: FailoverMessage) -> Self {
        PeerMessage::Rfc8156(m)
    }
}

impl From<dhcpfo::Message> for PeerMessage {
    fn from(m: dhcpfo::Message) -> Self {
        PeerMessage::Draft12(m)
    }
}

impl PeerMessage {
    /// Decodes one message of `protocol`: for RFC 8156 the bytes after the 2-byte length
    /// (RFC 8156 §5.1), for draft-12 the whole message, its length field included (§6.1).
    pub fn parse(protocol: Protocol, bytes: &[u8]) -> Result<Self, WireError> {
        Ok(match protocol {
            Protocol::Rfc8156 => PeerMessage::Rfc8156(FailoverMessage::parse(bytes)?),
            Protocol::Draft12 => PeerMessage::Draft12(dhcpfo::Message::decode(bytes)?.message),
        })
    }

    /// A message of `kind` that carries no options (UPDREQ, UPDREQALL, UPDDONE, POOLREQ,
    /// CONTACT; POOLRESP, which draft-12 sends without its count too). None for the kinds
    /// that need content.
    pub fn bare(protocol: Protocol, kind: Kind, xid: u32, now: tandem_core::Time) -> Option<Self> {
        Some(match protocol {
            Protocol::Rfc8156 => {
                let t = match kind {
                    Kind::UpdReq => FailoverMsgType::UpdReq,
                    Kind::UpdReqAll => FailoverMsgType::UpdReqAll,
                    Kind::UpdDone => FailoverMsgType::UpdDone,
                    Kind::PoolReq => FailoverMsgType::PoolReq,
                    Kind::PoolResp => FailoverMsgType::PoolResp,
                    Kind::Contact => FailoverMsgType::Contact,
                    _ => return None,
                };
                FailoverMessage::new(t, xid, now.to_failover()).into()
            }
            Protocol::Draft12 => {
                let b = match kind {
                    Kind::UpdReq => dhcpfo::Body::UpdReq,
                    Kind::UpdReqAll => dhcpfo::Body::UpdReqAll,
                    Kind::UpdDone => dhcpfo::Body::UpdDone,
                    Kind::PoolReq => dhcpfo::Body::PoolReq,
                    Kind::PoolResp => dhcpfo::Body::PoolResp {
                        addresses_transferred: None,
                    },
                    Kind::Contact => dhcpfo::Body::Contact,
                    _ => return None,
                };
                // draft-12 times are 32-bit seconds since 1970 (§6.1).
                let secs = u32::try_from(now.as_secs()).unwrap_or(u32::MAX);
                dhcpfo::Message::new(secs, xid, b).into()
            }
        })
    }

    /// The bytes to hand to the link: what [`Self::parse`] reads. None for a draft-12
    /// message over its 2048-byte limit (§6.1), which tandem never builds.
    pub fn emit(&self) -> Option<Vec<u8>> {
        match self {
            PeerMessage::Rfc8156(m) => Some(m.emit()),
            PeerMessage::Draft12(m) => m.encode(),
        }
    }

    pub fn protocol(&self) -> Protocol {
        match self {
            PeerMessage::Rfc8156(_) => Protocol::Rfc8156,
            PeerMessage::Draft12(_) => Protocol::Draft12,
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            PeerMessage::Rfc8156(m) => {
                use FailoverMsgType as T;
                match m.msg_type {
                    T::BndUpd => Kind::BndUpd,
                    T::BndReply => Kind::BndReply,
                    T::PoolReq => Kind::PoolReq,
                    T::PoolResp => Kind::PoolResp,
                    T::UpdReq => Kind::UpdReq,
                    T::UpdReqAll => Kind::UpdReqAll,
                    T::UpdDone => Kind::UpdDone,
                    T::Connect => Kind::Connect,
                    T::ConnectReply => Kind::ConnectReply,
                    T::Disconnect => Kind::Disconnect,
                    T::State => Kind::State,
                    T::Contact => Kind::Contact,
                }
            }
            PeerMessage::Draft12(m) => {
                use dhcpfo::Body as B;
                match m.body {
                    B::PoolReq => Kind::PoolReq,
                    B::PoolResp { .. } => Kind::PoolResp,
                    B::BndUpd(_) => Kind::BndUpd,
                    B::BndAck(_) => Kind::BndReply,
                    B::Connect(_) => Kind::Connect,
                    B::ConnectAck(_) => Kind::ConnectReply,
                    B::UpdReqAll => Kind::UpdReqAll,
                    B::UpdDone => Kind::UpdDone,
                    B::UpdReq => Kind::UpdReq,
                    B::State(_) => Kind::State,
                    B::Contact => Kind::Contact,
                    B::Disconnect(_) => Kind::Disconnect,
                }
            }
        }
    }

    /// The transaction id (RFC 8156 §5.1, draft-12 §6.1).
    pub fn xid(&self) -> u32 {
        match self {
            PeerMessage::Rfc8156(m) => m.transaction_id,
            PeerMessage::Draft12(m) => m.xid,
        }
    }

    /// The RFC 8156 message, if that is what this is.
    pub fn rfc8156(&self) -> Option<&FailoverMessage> {
        match self {
            PeerMessage::Rfc8156(m) => Some(m),
            PeerMessage::Draft12(_) => None,
        }
    }

    /// The draft-12 message, if that is what this is.
    pub fn draft12(&self) -> Option<&dhcpfo::Message> {
        match self {
            PeerMessage::Draft12(m) => Some(m),
            PeerMessage::Rfc8156(_) => None,
        }
    }
}
