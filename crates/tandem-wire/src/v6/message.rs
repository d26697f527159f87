//! DHCPv6 messages (RFC 8415 §8 client/server, §9 relay agent/server) and relay chains.

use std::net::Ipv6Addr;

use super::option::{emit_options, parse_options, DhcpOption, Ia, OptionsExt};
use crate::error::{ErrorKind, WireError};

/// RFC 8415 §7.6 HOP_COUNT_LIMIT: relay chains deeper than this are rejected.
pub const HOP_COUNT_LIMIT: u8 = 32;

/// RFC 8415 §7.3 message types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    Solicit,
    Advertise,
    Request,
    Confirm,
    Renew,
    Rebind,
    Reply,
    Release,
    Decline,
    Reconfigure,
    InformationRequest,
    RelayForw,
    RelayRepl,
    Unknown(u8),
}

impl From<u8> for MessageType {
    fn from(v: u8) -> Self {
        use MessageType::*;
        match v {
            1 => Solicit,
            2 => Advertise,
            3 => Request,
            4 => Confirm,
            5 => Renew,
            6 => Rebind,
            7 => Reply,
            8 => Release,
            9 => Decline,
            10 => Reconfigure,
            11 => InformationRequest,
            12 => RelayForw,
            13 => RelayRepl,
            x => Unknown(x),
        }
    }
}

impl From<MessageType> for u8 {
    fn from(t: MessageType) -> u8 {
        use MessageType::*;
        match t {
            Solicit => 1,
            Advertise => 2,
            Request => 3,
            Confirm => 4,
            Renew => 5,
            Rebind => 6,
            Reply => 7,
            Release => 8,
            Decline => 9,
            Reconfigure => 10,
            InformationRequest => 11,
            RelayForw => 12,
            RelayRepl => 13,
            Unknown(x) => x,
        }
    }
}

/// Client/server message (RFC 8415 §8). `transaction_id` uses the low 24 bits.
/// `msg_type` must not be RelayForw/RelayRepl (those are [`RelayMessage`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub msg_type: MessageType,
    pub transaction_id: u32,
    pub options: Vec<DhcpOption>,
}

/// Relay agent/server message (RFC 8415 §9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayMessage {
    pub msg_type: MessageType,
    pub hop_count: u8,
    pub link_address: Ipv6Addr,
    pub peer_address: Ipv6Addr,
    pub options: Vec<DhcpOption>,
}

/// Any DHCPv6 UDP payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    Message(Message),
    Relay(RelayMessage),
}

impl OptionsExt for Message {
    fn opts(&self) -> &[DhcpOption] {
        &self.options
    }
}
impl OptionsExt for RelayMessage {
    fn opts(&self) -> &[DhcpOption] {
        &self.options
    }
}

impl Message {
    pub fn new(msg_type: MessageType, transaction_id: u32) -> Self {
        Message {
            msg_type,
            transaction_id: transaction_id & 0x00ff_ffff,
            options: Vec::new(),
        }
    }

    /// Parse a client/server message; a relay message here is an error.
    pub fn parse(buf: &[u8]) -> Result<Self, WireError> {
        Self::parse_at(buf, 0, 0)
    }

    fn parse_at(buf: &[u8], base: usize, depth: usize) -> Result<Self, WireError> {
        let hdr: &[u8; 4] = buf
            .get(..4)
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| {
                WireError::new(
                    base,
                    None,
                    ErrorKind::TruncatedHeader {
                        need: 4,
                        have: buf.len(),
                    },
                )
            })?;
        let msg_type = MessageType::from(hdr[0]);
        if matches!(msg_type, MessageType::RelayForw | MessageType::RelayRepl) {
            return Err(WireError::new(
                base,
                None,
                ErrorKind::BadMessageType(hdr[0]),
            ));
        }
        let transaction_id = u32::from_be_bytes([0, hdr[1], hdr[2], hdr[3]]);
        let options = parse_options(&buf[4..], base + 4, depth)?;
        Ok(Message {
            msg_type,
            transaction_id,
            options,
        })
    }

    pub fn emit_into(&self, out: &mut Vec<u8>) {
        out.push(self.msg_type.into());
        out.extend_from_slice(&self.transaction_id.to_be_bytes()[1..]);
        emit_options(&self.options, out);
    }

    pub fn emit(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.emit_into(&mut v);
        v
    }

    pub fn oro(&self) -> Vec<u16> {
        self.options
            .iter()
            .find_map(|o| match o {
                DhcpOption::Oro(v) => Some(v.clone()),
                _ => None,
            })
            .unwrap_or_default()
    }
    pub fn has_rapid_commit(&self) -> bool {
        self.options
            .iter()
            .any(|o| matches!(o, DhcpOption::RapidCommit))
    }
    pub fn elapsed_time(&self) -> Option<u16> {
        self.options.iter().find_map(|o| match o {
            DhcpOption::ElapsedTime(v) => Some(*v),
            _ => None,
        })
    }
    pub fn ia_tas(&self) -> Vec<&super::option::IaTa> {
        self.options
            .iter()
            .filter_map(|o| match o {
                DhcpOption::IaTa(i) => Some(i),
                _ => None,
            })
            .collect()
    }
    /// Mutable access for builders.
    pub fn ia_nas_mut(&mut self) -> impl Iterator<Item = &mut Ia> {
        self.options.iter_mut().filter_map(|o| match o {
            DhcpOption::IaNa(i) => Some(i),
            _ => None,
        })
    }
    pub fn push(&mut self, o: DhcpOption) -> &mut Self {
        self.options.push(o);
        self
    }
}

impl RelayMessage {
    /// Parse a RELAY-FORW/RELAY-REPL message (hop count checked against HOP_COUNT_LIMIT).
    pub fn parse(buf: &[u8]) -> Result<Self, WireError> {
        Self::parse_at(buf, 0, 0)
    }

    fn parse_at(buf: &[u8], base: usize, depth: usize) -> Result<Self, WireError> {
        let hdr = buf.get(..34).ok_or_else(|| {
            WireError::new(
                base,
                None,
                ErrorKind::TruncatedHeader {
                    need: 34,
                    have: buf.len(),
                },
            )
        })?;
        let msg_type = MessageType::from(hdr[0]);
        let hop_count = hdr[1];
        if hop_count > HOP_COUNT_LIMIT {
            return Err(WireError::new(
                base + 1,
                None,
                ErrorKind::HopCountTooHigh(hop_count),
            ));
        }
        let mut la = [0u8; 16];
        la.copy_from_slice(&hdr[2..18]);
        let mut pa = [0u8; 16];
        pa.copy_from_slice(&hdr[18..34]);
        let options = parse_options(&buf[34..], base + 34, depth)?;
        Ok(RelayMessage {
            msg_type,
            hop_count,
            link_address: Ipv6Addr::from(la),
            peer_address: Ipv6Addr::from(pa),
            options,
        })
    }

    pub fn emit_into(&self, out: &mut Vec<u8>) {
        out.push(self.msg_type.into());
        out.push(self.hop_count);
        out.extend_from_slice(&self.link_address.octets());
        out.extend_from_slice(&self.peer_address.octets());
        emit_options(&self.options, out);
    }

    pub fn emit(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.emit_into(&mut v);
        v
    }

    pub fn relay_msg_bytes(&self) -> Option<&[u8]> {
        self.options.iter().find_map(|o| match o {
            DhcpOption::RelayMsg(b) => Some(b.as_slice()),
            _ => None,
        })
    }
    pub fn interface_id(&self) -> Option<&[u8]> {
        self.options.iter().find_map(|o| match o {
            DhcpOption::InterfaceId(b) => Some(b.as_slice()),
            _ => None,
        })
    }

    /// Parse the encapsulated message (may itself be a relay message).
    pub fn inner(&self) -> Result<Packet, WireError> {
        let b = self.relay_msg_bytes().ok_or_else(|| {
            WireError::new(
                0,
                Some(super::option::code::RELAY_MSG),
                ErrorKind::MissingRelayMessage,
            )
        })?;
        Packet::parse(b)
    }
}

/// One hop of a decoded relay chain (outermost first in [`RelayChain::hops`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayHop {
    pub hop_count: u8,
    pub link_address: Ipv6Addr,
    pub peer_address: Ipv6Addr,
    pub interface_id: Option<Vec<u8>>,
    /// All options of this RELAY-FORW except RELAY_MSG (e.g. remote-id, subscriber-id).
    pub other_options: Vec<DhcpOption>,
}

/// A RELAY-FORW chain unwrapped down to the client message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayChain {
    /// Outermost (the one the server received) first.
    pub hops: Vec<RelayHop>,
    pub message: Message,
}

impl RelayChain {
    /// Unwrap any packet: a plain message gives an empty chain.
    pub fn unwrap(packet: Packet) -> Result<RelayChain, WireError> {
        let mut hops = Vec::new();
        let mut cur = packet;
        loop {
            match cur {
                Packet::Message(message) => return Ok(RelayChain { hops, message }),
                Packet::Relay(r) => {
                    if r.msg_type != MessageType::RelayForw {
                        return Err(WireError::new(
                            0,
                            None,
                            ErrorKind::BadMessageType(r.msg_type.into()),
                        ));
                    }
                    if hops.len() > HOP_COUNT_LIMIT as usize {
                        return Err(WireError::new(0, None, ErrorKind::NestingTooDeep));
                    }
                    let next = r.inner()?;
                    hops.push(RelayHop {
                        hop_count: r.hop_count,
                        link_address: r.link_address,
                        peer_address: r.peer_address,
                        interface_id: r.interface_id().map(|b| b.to_vec()),
                        other_options: r
                            .options
                            .into_iter()
                            .filter(|o| !matches!(o, DhcpOption::RelayMsg(_)))
                            .collect(),
                    });
                    cur = next;
                }
            }
        }
    }

    /// Wrap `reply` into the mirrored RELAY-REPL chain (RFC 8415 §19.3): each level copies
    /// hop-count, link- and peer-address, and Interface-ID from the matching RELAY-FORW.
    pub fn wrap_reply(&self, reply: &Message) -> Packet {
        let mut cur = Packet::Message(reply.clone());
        for hop in self.hops.iter().rev() {
            let mut options = Vec::new();
            if let Some(id) = &hop.interface_id {
                options.push(DhcpOption::InterfaceId(id.clone()));
            }
            options.push(DhcpOption::RelayMsg(cur.emit()));
            cur = Packet::Relay(RelayMessage {
                msg_type: MessageType::RelayRepl,
                hop_count: hop.hop_count,
                link_address: hop.link_address,
                peer_address: hop.peer_address,
                options,
            });
        }
        cur
    }
}

impl Packet {
    /// Parse any DHCPv6 UDP payload. Nested relay messages inside RELAY_MSG stay as raw
    /// bytes here; use [`RelayMessage::inner`] or [`RelayChain::unwrap`] (both bounded).
    pub fn parse(buf: &[u8]) -> Result<Packet, WireError> {
        match buf.first() {
            None => Err(WireError::new(
                0,
                None,
                ErrorKind::TruncatedHeader { need: 1, have: 0 },
            )),
            Some(12) | Some(13) => Ok(Packet::Relay(RelayMessage::parse_at(buf, 0, 0)?)),
            Some(_) => Ok(Packet::Message(Message::parse_at(buf, 0, 0)?)),
        }
    }

    pub fn emit_into(&self, out: &mut Vec<u8>) {
        match self {
            Packet::Message(m) => m.emit_into(out),
            Packet::Relay(r) => r.emit_into(out),
        }
    }

    pub fn emit(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.emit_into(&mut v);
        v
    }

    pub fn msg_type(&self) -> MessageType {
        match self {
            Packet::Message(m) => m.msg_type,
            Packet::Relay(r) => r.msg_type,
        }
    }
}
