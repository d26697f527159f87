//! The client message of a decoded datagram and the RELAY-FORW chain around it
//! (RFC 8415 §19), and the reply wrapped back into the mirrored RELAY-REPL chain.

use std::borrow::Cow;

use tandem_wire::v6::{
    DhcpOption, Message, MessageType, Packet, RelayChain, RelayHop, RelayMessage,
};
use tandem_wire::{ErrorKind, WireError};

use super::outcome::{DropReason, Malformed};

/// Relay chains deeper than this are dropped (HOP_COUNT_LIMIT is 8, RFC 8415 §7.6).
const MAX_RELAY_DEPTH: usize = 32;

/// A client message as it reached the server.
pub(super) enum Inbound<'p> {
    /// Straight from the client, borrowed from the caller's packet.
    Direct(&'p Message),
    /// Through relays: their hops, outermost first, and the encapsulated message.
    Relayed(RelayChain),
}

impl<'p> Inbound<'p> {
    /// Unwraps the RELAY-FORW chain of `packet` down to the client message. Each
    /// encapsulated message is decoded once; an error says at which relay depth.
    /// (`RelayChain::unwrap` would take the packet by value and report a chain that is
    /// too deep as a decode error, not as `relay_too_deep`.)
    pub(super) fn unwrap(packet: &'p Packet) -> Result<Self, DropReason> {
        let mut relay: Cow<'p, RelayMessage> = match packet {
            Packet::Message(m) => return Ok(Inbound::Direct(m)),
            Packet::Relay(r) => Cow::Borrowed(r),
        };
        let mut hops = Vec::new();
        loop {
            let depth = hops.len();
            if relay.msg_type != MessageType::RelayForw {
                // RELAY-REPL goes from servers to relays, never to a server (RFC 8415 §9).
                let kind = ErrorKind::BadMessageType(relay.msg_type.into());
                return Err(malformed(depth, WireError::new(0, None, kind)));
            }
            let Some(inner) = relay.relay_msg_bytes() else {
                let code = Some(tandem_wire::v6::code::RELAY_MSG);
                let error = WireError::new(0, code, ErrorKind::MissingRelayMessage);
                return Err(malformed(depth, error));
            };
            let next = match inner.first().map(|t| MessageType::from(*t)) {
                Some(MessageType::RelayForw) if depth + 1 >= MAX_RELAY_DEPTH => {
                    return Err(DropReason::RelayTooDeep)
                }
                Some(MessageType::RelayForw) => RelayMessage::parse(inner).map(Packet::Relay),
                _ => Message::parse(inner).map(Packet::Message),
            }
            .map_err(|e| malformed(depth + 1, e))?;
            hops.push(hop_of(&relay));
            match next {
                Packet::Message(message) => {
                    return Ok(Inbound::Relayed(RelayChain { hops, message }))
                }
                Packet::Relay(r) => relay = Cow::Owned(r),
            }
        }
    }

    pub(super) fn client(&self) -> &Message {
        match self {
            Inbound::Direct(m) => m,
            Inbound::Relayed(chain) => &chain.message,
        }
    }

    /// The relays it came through, outermost (the sender of the datagram) first.
    pub(super) fn hops(&self) -> &[RelayHop] {
        match self {
            Inbound::Direct(_) => &[],
            Inbound::Relayed(chain) => &chain.hops,
        }
    }

    pub(super) fn is_relayed(&self) -> bool {
        matches!(self, Inbound::Relayed(_))
    }

    /// The datagram answering with `reply`: as is, or in RELAY-REPLs that mirror the
    /// request's relays (RFC 8415 §19.3).
    pub(super) fn wrap(&self, reply: Message) -> Vec<u8> {
        match self {
            Inbound::Direct(_) => reply.emit(),
            Inbound::Relayed(chain) => chain.wrap_reply(&reply).emit(),
        }
    }
}

fn malformed(relay_depth: usize, error: WireError) -> DropReason {
    DropReason::Malformed(Malformed::Wire { relay_depth, error })
}

fn hop_of(r: &RelayMessage) -> RelayHop {
    RelayHop {
        hop_count: r.hop_count,
        link_address: r.link_address,
        peer_address: r.peer_address,
        interface_id: r.interface_id().map(<[u8]>::to_vec),
        other_options: r
            .options
            .iter()
            .filter(|o| !matches!(o, DhcpOption::RelayMsg(_)))
            .cloned()
            .collect(),
    }
}
