//! Message header (draft-ietf-dhc-failover-12 §6.1) and the twelve message types (§7), with
//! the options each keeps as typed fields. Every option is optional in the types: which
//! ones a message must carry, and what to answer when one is missing, is the failover
//! layer's decision (dhcpd answers most omissions with a reject reason, not a disconnect).

use std::net::Ipv4Addr;

use crate::error::{ErrorKind, WireError};

use super::frame::{message_len, MAX_MESSAGE_LEN};
use super::loadb::Hba;
use super::option::{
    code, is_allowed, shape, BindingStatus, Ddns, IpFlags, RejectReason, ServerFlags, ServerState,
    Shape, SkipReason, Skipped,
};

/// Fixed header: length (2), type (1), payload offset (1), time (4), xid (4).
pub const HEADER_LEN: usize = 12;
/// The payload offset we always send. ISC dhcpd 4.4 behaviour: 12, the end of the fixed
/// header; draft-ietf-dhc-failover-12 §6.1 says "8", which contradicts its own header.
pub const PAYLOAD_OFFSET: u8 = 12;

/// Message types (draft-ietf-dhc-failover-12 §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MsgType {
    PoolReq = 1,
    PoolResp = 2,
    BndUpd = 3,
    BndAck = 4,
    Connect = 5,
    ConnectAck = 6,
    UpdReqAll = 7,
    UpdDone = 8,
    UpdReq = 9,
    State = 10,
    Contact = 11,
    Disconnect = 12,
}

impl TryFrom<u8> for MsgType {
    type Error = u8;
    fn try_from(v: u8) -> Result<Self, u8> {
        use MsgType::*;
        Ok(match v {
            1 => PoolReq,
            2 => PoolResp,
            3 => BndUpd,
            4 => BndAck,
            5 => Connect,
            6 => ConnectAck,
            7 => UpdReqAll,
            8 => UpdDone,
            9 => UpdReq,
            10 => State,
            11 => Contact,
            12 => Disconnect,
            x => return Err(x),
        })
    }
}

/// The binding options of a BNDUPD (draft-ietf-dhc-failover-12 §7.1), also allowed in a
/// BNDACK. ISC dhcpd 4.4 behaviour: one binding per message (a repeated option is a
/// protocol error, so §6.3 batching cannot be received), and it sends only
/// `[2 3 (4) (5) 13 18 25 (6) (12)]`, never DDNS or the request/reply options.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Binding {
    /// 2, assigned-IP-address.
    pub assigned_ip: Option<Ipv4Addr>,
    /// 3, binding-status.
    pub binding_status: Option<BindingStatus>,
    /// 4, client-identifier (the client's option 61 value).
    pub client_id: Option<Vec<u8>>,
    /// 5, client-hardware-address: hardware type byte, then the address.
    pub chaddr: Option<Vec<u8>>,
    /// 13, lease-expiration-time (dhcpd: the lease's `ends`, 0 if never used).
    pub lease_expiration: Option<u32>,
    /// 18, potential-expiration-time (dhcpd: `tstp`).
    pub potential_expiration: Option<u32>,
    /// 25, start-time-of-state (dhcpd: the lease's `starts`).
    pub start_time_of_state: Option<u32>,
    /// 6, client-last-transaction-time.
    pub cltt: Option<u32>,
    /// 12, IP-flags.
    pub ip_flags: Option<IpFlags>,
    /// 9, DDNS.
    pub ddns: Option<Ddns>,
    /// 8, client-request-options.
    pub request_options: Option<Vec<u8>>,
    /// 7, client-reply-options.
    pub reply_options: Option<Vec<u8>>,
}

impl Binding {
    pub fn new(ip: Ipv4Addr, status: BindingStatus) -> Self {
        Binding {
            assigned_ip: Some(ip),
            binding_status: Some(status),
            ..Self::default()
        }
    }

    /// The hardware type and address from client-hardware-address, if it has a type byte.
    pub fn hardware(&self) -> Option<(u8, &[u8])> {
        self.chaddr.as_deref()?.split_first().map(|(t, a)| (*t, a))
    }

    fn from_raw(r: &Raw) -> Self {
        Binding {
            assigned_ip: r.ip(code::ASSIGNED_IP_ADDRESS),
            binding_status: r.u8(code::BINDING_STATUS).map(BindingStatus),
            client_id: r.bytes(code::CLIENT_IDENTIFIER),
            chaddr: r.bytes(code::CLIENT_HARDWARE_ADDRESS),
            lease_expiration: r.u32(code::LEASE_EXPIRATION_TIME),
            potential_expiration: r.u32(code::POTENTIAL_EXPIRATION_TIME),
            start_time_of_state: r.u32(code::START_TIME_OF_STATE),
            cltt: r.u32(code::CLIENT_LAST_TRANSACTION_TIME),
            ip_flags: r.u16(code::IP_FLAGS).map(IpFlags),
            ddns: r.get(code::DDNS).map(|d| Ddns {
                flags: u16::from_be_bytes([d[0], d[1]]),
                name: d[2..].to_vec(),
            }),
            request_options: r.bytes(code::CLIENT_REQUEST_OPTIONS),
            reply_options: r.bytes(code::CLIENT_REPLY_OPTIONS),
        }
    }

    /// dhcpd's order (`dhcp_failover_send_bind_update`).
    fn emit_head(&self, w: &mut Writer) {
        w.ip(code::ASSIGNED_IP_ADDRESS, self.assigned_ip);
        w.u8(code::BINDING_STATUS, self.binding_status.map(|s| s.0));
        w.bytes(code::CLIENT_IDENTIFIER, self.client_id.as_deref());
        w.bytes(code::CLIENT_HARDWARE_ADDRESS, self.chaddr.as_deref());
        w.u32(code::LEASE_EXPIRATION_TIME, self.lease_expiration);
        w.u32(code::POTENTIAL_EXPIRATION_TIME, self.potential_expiration);
        w.u32(code::START_TIME_OF_STATE, self.start_time_of_state);
        w.u32(code::CLIENT_LAST_TRANSACTION_TIME, self.cltt);
        w.u16(code::IP_FLAGS, self.ip_flags.map(|f| f.0));
    }

    /// What dhcpd never sends goes last (its BNDACK code has these slots after the reject
    /// reason and message).
    fn emit_tail(&self, w: &mut Writer) {
        if let Some(d) = &self.ddns {
            let mut v = d.flags.to_be_bytes().to_vec();
            v.extend_from_slice(&d.name);
            w.bytes(code::DDNS, Some(&v));
        }
        w.bytes(
            code::CLIENT_REQUEST_OPTIONS,
            self.request_options.as_deref(),
        );
        w.bytes(code::CLIENT_REPLY_OPTIONS, self.reply_options.as_deref());
    }
}

/// BNDACK (draft-ietf-dhc-failover-12 §7.2). ISC dhcpd 4.4 behaviour: it sends only
/// assigned-IP-address, plus reject-reason and message on a reject (the binding is not
/// echoed); the xid is the BNDUPD's.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BndAck {
    pub binding: Binding,
    /// 21; absent = accepted.
    pub reject_reason: Option<RejectReason>,
    /// 16.
    pub message: Option<Vec<u8>>,
}

impl BndAck {
    /// An accept as dhcpd sends it: the address only.
    pub fn accept(ip: Ipv4Addr) -> Self {
        BndAck {
            binding: Binding {
                assigned_ip: Some(ip),
                ..Binding::default()
            },
            ..Self::default()
        }
    }
    /// A reject as dhcpd sends it: address, reason, message.
    pub fn reject(ip: Ipv4Addr, reason: RejectReason, message: &str) -> Self {
        BndAck {
            reject_reason: Some(reason),
            message: Some(message.as_bytes().to_vec()),
            ..Self::accept(ip)
        }
    }
}

/// CONNECT (draft-ietf-dhc-failover-12 §7.8), sent by the primary.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Connect {
    /// 22.
    pub relationship_name: Option<Vec<u8>>,
    /// 14.
    pub max_unacked: Option<u32>,
    /// 19 (dhcpd: its max-response-delay).
    pub receive_timer: Option<u32>,
    /// 28 (dhcpd: `isc-4.4.3-P1`).
    pub vendor_class: Option<Vec<u8>>,
    /// 20 (1).
    pub protocol_version: Option<u8>,
    /// 27 (0: no TLS).
    pub tls_request: Option<u8>,
    /// 15.
    pub mclt: Option<u32>,
    /// 11, raw. ISC dhcpd 4.4 behaviour: any length decodes, and a CONNECT whose HBA is
    /// not 32 bytes is refused with reject reason 18 rather than a disconnect, so the
    /// length is checked by [`Connect::hba`], not here.
    pub hba: Option<Vec<u8>>,
}

impl Connect {
    /// The hash bucket assignment if present and exactly 32 bytes
    /// (draft-ietf-dhc-failover-12 §12.11).
    pub fn hba(&self) -> Option<Hba> {
        Hba::from_slice(self.hba.as_deref()?)
    }
}

/// CONNECTACK (draft-ietf-dhc-failover-12 §7.9), sent by the secondary with the CONNECT's
/// xid. ISC dhcpd 4.4 behaviour: a reject still carries 14, 19 and 28 (the draft says
/// MUST NOT).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectAck {
    /// 22.
    pub relationship_name: Option<Vec<u8>>,
    /// 14.
    pub max_unacked: Option<u32>,
    /// 19.
    pub receive_timer: Option<u32>,
    /// 28.
    pub vendor_class: Option<Vec<u8>>,
    /// 20.
    pub protocol_version: Option<u8>,
    /// 26 (sent when the CONNECT had TLS-request).
    pub tls_reply: Option<u8>,
    /// 21; present = the connection is refused.
    pub reject_reason: Option<RejectReason>,
    /// 16.
    pub message: Option<Vec<u8>>,
}

/// STATE (draft-ietf-dhc-failover-12 §7.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct State {
    /// 24.
    pub server_state: Option<ServerState>,
    /// 23.
    pub server_flags: Option<ServerFlags>,
    /// 25.
    pub start_time_of_state: Option<u32>,
}

/// DISCONNECT (draft-ietf-dhc-failover-12 §7.12).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Disconnect {
    /// 21.
    pub reject_reason: Option<RejectReason>,
    /// 16.
    pub message: Option<Vec<u8>>,
}

/// A message's type and the options that type keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// §7.6: no options.
    PoolReq,
    /// §7.7: addresses-transferred (1).
    PoolResp {
        addresses_transferred: Option<u32>,
    },
    BndUpd(Binding),
    BndAck(BndAck),
    Connect(Connect),
    ConnectAck(ConnectAck),
    /// §7.4: no options.
    UpdReqAll,
    /// §7.5: no options; xid = the UPDREQ/UPDREQALL's.
    UpdDone,
    /// §7.3: no options.
    UpdReq,
    State(State),
    /// §7.11: no options.
    Contact,
    Disconnect(Disconnect),
}

impl Body {
    pub fn msg_type(&self) -> MsgType {
        match self {
            Body::PoolReq => MsgType::PoolReq,
            Body::PoolResp { .. } => MsgType::PoolResp,
            Body::BndUpd(_) => MsgType::BndUpd,
            Body::BndAck(_) => MsgType::BndAck,
            Body::Connect(_) => MsgType::Connect,
            Body::ConnectAck(_) => MsgType::ConnectAck,
            Body::UpdReqAll => MsgType::UpdReqAll,
            Body::UpdDone => MsgType::UpdDone,
            Body::UpdReq => MsgType::UpdReq,
            Body::State(_) => MsgType::State,
            Body::Contact => MsgType::Contact,
            Body::Disconnect(_) => MsgType::Disconnect,
        }
    }

    fn from_raw(t: MsgType, r: &Raw) -> Self {
        match t {
            MsgType::PoolReq => Body::PoolReq,
            MsgType::PoolResp => Body::PoolResp {
                addresses_transferred: r.u32(code::ADDRESSES_TRANSFERRED),
            },
            MsgType::BndUpd => Body::BndUpd(Binding::from_raw(r)),
            MsgType::BndAck => Body::BndAck(BndAck {
                binding: Binding::from_raw(r),
                reject_reason: r.u8(code::REJECT_REASON).map(RejectReason),
                message: r.bytes(code::MESSAGE),
            }),
            MsgType::Connect => Body::Connect(Connect {
                relationship_name: r.bytes(code::RELATIONSHIP_NAME),
                max_unacked: r.u32(code::MAX_UNACKED_BNDUPD),
                receive_timer: r.u32(code::RECEIVE_TIMER),
                vendor_class: r.bytes(code::VENDOR_CLASS_IDENTIFIER),
                protocol_version: r.u8(code::PROTOCOL_VERSION),
                tls_request: r.u8(code::TLS_REQUEST),
                mclt: r.u32(code::MCLT),
                hba: r.bytes(code::HASH_BUCKET_ASSIGNMENT),
            }),
            MsgType::ConnectAck => Body::ConnectAck(ConnectAck {
                relationship_name: r.bytes(code::RELATIONSHIP_NAME),
                max_unacked: r.u32(code::MAX_UNACKED_BNDUPD),
                receive_timer: r.u32(code::RECEIVE_TIMER),
                vendor_class: r.bytes(code::VENDOR_CLASS_IDENTIFIER),
                protocol_version: r.u8(code::PROTOCOL_VERSION),
                tls_reply: r.u8(code::TLS_REPLY),
                reject_reason: r.u8(code::REJECT_REASON).map(RejectReason),
                message: r.bytes(code::MESSAGE),
            }),
            MsgType::UpdReqAll => Body::UpdReqAll,
            MsgType::UpdDone => Body::UpdDone,
            MsgType::UpdReq => Body::UpdReq,
            MsgType::State => Body::State(State {
                server_state: r.u8(code::SERVER_STATE).map(ServerState),
                server_flags: r.u8(code::SERVER_FLAGS).map(ServerFlags),
                start_time_of_state: r.u32(code::START_TIME_OF_STATE),
            }),
            MsgType::Contact => Body::Contact,
            MsgType::Disconnect => Body::Disconnect(Disconnect {
                reject_reason: r.u8(code::REJECT_REASON).map(RejectReason),
                message: r.bytes(code::MESSAGE),
            }),
        }
    }

    /// Options in ISC dhcpd 4.4's wire order (its `dhcp_failover_send_*` functions):
    /// CONNECT `[22 14 19 28 20 27 15 11]`, CONNECTACK `[22 14 19 28 20 26 21 16]`,
    /// BNDUPD `[2 3 4 5 13 18 25 6 12 9 8 7]`, BNDACK `[2 3 4 5 13 18 25 6 12 21 16 9 8 7]`,
    /// STATE `[24 23 25]`, DISCONNECT `[21 16]`, POOLRESP `[1]`; absent options are left out.
    fn emit(&self, w: &mut Writer) {
        match self {
            Body::PoolReq | Body::UpdReqAll | Body::UpdDone | Body::UpdReq | Body::Contact => {}
            Body::PoolResp {
                addresses_transferred,
            } => w.u32(code::ADDRESSES_TRANSFERRED, *addresses_transferred),
            Body::BndUpd(b) => {
                b.emit_head(w);
                b.emit_tail(w);
            }
            Body::BndAck(a) => {
                a.binding.emit_head(w);
                w.u8(code::REJECT_REASON, a.reject_reason.map(|r| r.0));
                w.bytes(code::MESSAGE, a.message.as_deref());
                a.binding.emit_tail(w);
            }
            Body::Connect(c) => {
                w.bytes(code::RELATIONSHIP_NAME, c.relationship_name.as_deref());
                w.u32(code::MAX_UNACKED_BNDUPD, c.max_unacked);
                w.u32(code::RECEIVE_TIMER, c.receive_timer);
                w.bytes(code::VENDOR_CLASS_IDENTIFIER, c.vendor_class.as_deref());
                w.u8(code::PROTOCOL_VERSION, c.protocol_version);
                w.u8(code::TLS_REQUEST, c.tls_request);
                w.u32(code::MCLT, c.mclt);
                w.bytes(code::HASH_BUCKET_ASSIGNMENT, c.hba.as_deref());
            }
            Body::ConnectAck(c) => {
                w.bytes(code::RELATIONSHIP_NAME, c.relationship_name.as_deref());
                w.u32(code::MAX_UNACKED_BNDUPD, c.max_unacked);
                w.u32(code::RECEIVE_TIMER, c.receive_timer);
                w.bytes(code::VENDOR_CLASS_IDENTIFIER, c.vendor_class.as_deref());
                w.u8(code::PROTOCOL_VERSION, c.protocol_version);
                w.u8(code::TLS_REPLY, c.tls_reply);
                w.u8(code::REJECT_REASON, c.reject_reason.map(|r| r.0));
                w.bytes(code::MESSAGE, c.message.as_deref());
            }
            Body::State(s) => {
                w.u8(code::SERVER_STATE, s.server_state.map(|s| s.0));
                w.u8(code::SERVER_FLAGS, s.server_flags.map(|f| f.0));
                w.u32(code::START_TIME_OF_STATE, s.start_time_of_state);
            }
            Body::Disconnect(d) => {
                w.u8(code::REJECT_REASON, d.reject_reason.map(|r| r.0));
                w.bytes(code::MESSAGE, d.message.as_deref());
            }
        }
    }
}

/// One failover message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Sender's clock, seconds since 1970 (draft-ietf-dhc-failover-12 §6.1).
    pub time: u32,
    /// Transaction id; responses copy the request's (§6.1).
    pub xid: u32,
    pub body: Body,
}

/// A decoded message plus what the decoder dropped on the way (for logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub message: Message,
    /// Options skipped: unknown codes, options this type does not keep, a trailing digest.
    pub skipped: Vec<Skipped>,
    /// Header bytes skipped because the payload offset was above 12.
    pub extra_header: usize,
}

impl Message {
    pub fn new(time: u32, xid: u32, body: Body) -> Self {
        Message { time, xid, body }
    }

    pub fn msg_type(&self) -> MsgType {
        self.body.msg_type()
    }

    /// Decode exactly one message, `buf` starting with its length field and holding no
    /// more than the length says (draft-ietf-dhc-failover-12 §6.1, §6.2). Errors (each
    /// means: drop the connection, as ISC dhcpd 4.4 does): length outside 12..=2048 or
    /// not the buffer's, message type 0 or above 12, payload offset below 12 or past the
    /// end, an option running past the end, a known option repeated, a fixed-size option of
    /// another size, a DDNS option under 2 bytes, a digest that is not last. Offsets in
    /// errors count from the length field. Never panics.
    pub fn decode(buf: &[u8]) -> Result<Decoded, WireError> {
        let len = message_len(buf)?.ok_or_else(|| {
            let kind = ErrorKind::TruncatedHeader {
                need: HEADER_LEN,
                have: buf.len(),
            };
            WireError::new(0, None, kind)
        })?;
        if len != buf.len() {
            let kind = ErrorKind::FrameLengthMismatch {
                len,
                have: buf.len(),
            };
            return Err(WireError::new(0, None, kind));
        }
        // len >= 12 from here on.
        // §6.1: an unknown type in 0..=127 MUST close the connection; the draft says 128..=255
        // SHOULD be ignored. ISC dhcpd 4.4 behaviour: any type above 12 is a protocol error
        // (it notices only when an option follows; we refuse an option-less one too, since
        // nothing can be done with it). Type 0 is "reserved, not used" (§6.1).
        let msg_type = MsgType::try_from(buf[2])
            .map_err(|t| WireError::new(2, None, ErrorKind::BadMessageType(t)))?;
        let payoff = buf[3];
        if usize::from(payoff) < HEADER_LEN || usize::from(payoff) > len {
            let kind = ErrorKind::BadPayloadOffset {
                offset: payoff,
                len,
            };
            return Err(WireError::new(3, None, kind));
        }
        let time = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
        let xid = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);

        let mut raw = Raw::default();
        let mut skipped = Vec::new();
        let mut pos = usize::from(payoff);
        while pos < len {
            let Some(h) = buf.get(pos..pos + 4) else {
                let kind = ErrorKind::TruncatedHeader {
                    need: 4,
                    have: len - pos,
                };
                return Err(WireError::new(pos, None, kind));
            };
            let c = u16::from_be_bytes([h[0], h[1]]);
            let olen = usize::from(u16::from_be_bytes([h[2], h[3]]));
            let err = |kind| WireError::new(pos, Some(c), kind);
            let end = pos + 4 + olen;
            let data = buf.get(pos + 4..end).ok_or_else(|| {
                err(ErrorKind::LengthPastEnd {
                    len: olen,
                    available: len - pos - 4,
                })
            })?;
            let skip = |why| Skipped {
                code: c,
                offset: pos,
                len: olen,
                why,
            };
            // The order of the checks is dhcpd's (`do_a_failover_option`).
            match shape(c) {
                None => skipped.push(skip(SkipReason::Unknown)),
                Some(_) if c == code::MESSAGE_DIGEST => {
                    if end != len {
                        return Err(err(ErrorKind::DigestNotLast));
                    }
                    skipped.push(skip(SkipReason::Digest));
                }
                // Only kept options are remembered, so a skipped one may repeat.
                Some(_) if raw.get(c).is_some() => return Err(err(ErrorKind::DuplicateOption)),
                Some(_) if !is_allowed(msg_type, c) => skipped.push(skip(SkipReason::NotAllowed)),
                Some(s) => {
                    match s {
                        Shape::Fixed(n) if olen != n => {
                            return Err(err(ErrorKind::BadFixedLength {
                                expected: n,
                                got: olen,
                            }))
                        }
                        Shape::AtLeast(n) if olen < n => {
                            return Err(err(ErrorKind::TooShort { min: n, got: olen }))
                        }
                        _ => {}
                    }
                    raw.set(c, data);
                }
            }
            pos = end;
        }
        Ok(Decoded {
            message: Message {
                time,
                xid,
                body: Body::from_raw(msg_type, &raw),
            },
            skipped,
            extra_header: usize::from(payoff) - HEADER_LEN,
        })
    }

    /// Encode with payload offset 12 and the options in dhcpd's order ([`Body`]). None if
    /// the message would exceed 2048 bytes (draft-ietf-dhc-failover-12 §6.1), which a
    /// receiver refuses.
    pub fn encode(&self) -> Option<Vec<u8>> {
        let mut w = Writer(Vec::with_capacity(64));
        w.0.extend_from_slice(&[0, 0, self.msg_type() as u8, PAYLOAD_OFFSET]);
        w.0.extend_from_slice(&self.time.to_be_bytes());
        w.0.extend_from_slice(&self.xid.to_be_bytes());
        self.body.emit(&mut w);
        let mut out = w.0;
        if out.len() > MAX_MESSAGE_LEN {
            return None;
        }
        let n = (out.len() as u16).to_be_bytes();
        out[..2].copy_from_slice(&n);
        Some(out)
    }
}

/// Values of the kept options, by code, already length-checked.
#[derive(Default)]
struct Raw<'a>([Option<&'a [u8]>; code::MAX as usize + 1]);

impl<'a> Raw<'a> {
    fn get(&self, c: u16) -> Option<&'a [u8]> {
        self.0.get(usize::from(c)).copied().flatten()
    }
    fn set(&mut self, c: u16, d: &'a [u8]) {
        if let Some(slot) = self.0.get_mut(usize::from(c)) {
            *slot = Some(d);
        }
    }
    fn bytes(&self, c: u16) -> Option<Vec<u8>> {
        self.get(c).map(<[u8]>::to_vec)
    }
    fn u8(&self, c: u16) -> Option<u8> {
        self.get(c).and_then(|d| d.first().copied())
    }
    fn u16(&self, c: u16) -> Option<u16> {
        let d: [u8; 2] = self.get(c)?.try_into().ok()?;
        Some(u16::from_be_bytes(d))
    }
    fn u32(&self, c: u16) -> Option<u32> {
        let d: [u8; 4] = self.get(c)?.try_into().ok()?;
        Some(u32::from_be_bytes(d))
    }
    fn ip(&self, c: u16) -> Option<Ipv4Addr> {
        let d: [u8; 4] = self.get(c)?.try_into().ok()?;
        Some(Ipv4Addr::from(d))
    }
}

struct Writer(Vec<u8>);

impl Writer {
    fn bytes(&mut self, c: u16, v: Option<&[u8]>) {
        let Some(v) = v else { return };
        self.0.extend_from_slice(&c.to_be_bytes());
        // A value over 65535 bytes cannot fit a 2048-byte message; encode() refuses it.
        let n = u16::try_from(v.len()).unwrap_or(u16::MAX);
        self.0.extend_from_slice(&n.to_be_bytes());
        self.0.extend_from_slice(v);
    }
    fn u8(&mut self, c: u16, v: Option<u8>) {
        self.bytes(c, v.map(|x| [x]).as_ref().map(|a| &a[..]));
    }
    fn u16(&mut self, c: u16, v: Option<u16>) {
        self.bytes(c, v.map(u16::to_be_bytes).as_ref().map(|a| &a[..]));
    }
    fn u32(&mut self, c: u16, v: Option<u32>) {
        self.bytes(c, v.map(u32::to_be_bytes).as_ref().map(|a| &a[..]));
    }
    fn ip(&mut self, c: u16, v: Option<Ipv4Addr>) {
        self.bytes(c, v.map(|a| a.octets()).as_ref().map(|a| &a[..]));
    }
}
