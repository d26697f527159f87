//! Failover message header (RFC 8156 §5.2) and typed accessors used by the failover core.

use std::net::Ipv6Addr;

use crate::error::{ErrorKind, WireError};
use crate::v6::{emit_options, parse_options, DhcpOption, Ia, OptionsExt};

use super::flags::{ConnectFlags, ServerFlags};

/// msg-type (1) + transaction-id (3) + sent-time (4).
pub const FAILOVER_HEADER_LEN: usize = 8;

/// RFC 8156 §5.3 message types 24..=35.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FailoverMsgType {
    BndUpd = 24,
    BndReply = 25,
    PoolReq = 26,
    PoolResp = 27,
    UpdReq = 28,
    UpdReqAll = 29,
    UpdDone = 30,
    Connect = 31,
    ConnectReply = 32,
    Disconnect = 33,
    State = 34,
    Contact = 35,
}

impl TryFrom<u8> for FailoverMsgType {
    type Error = u8;
    fn try_from(v: u8) -> Result<Self, u8> {
        use FailoverMsgType::*;
        Ok(match v {
            24 => BndUpd,
            25 => BndReply,
            26 => PoolReq,
            27 => PoolResp,
            28 => UpdReq,
            29 => UpdReqAll,
            30 => UpdDone,
            31 => Connect,
            32 => ConnectReply,
            33 => Disconnect,
            34 => State,
            35 => Contact,
            x => return Err(x),
        })
    }
}

/// One failover message (without the 2-byte frame length).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverMessage {
    pub msg_type: FailoverMsgType,
    /// Low 24 bits used.
    pub transaction_id: u32,
    /// Seconds since 2000-01-01 mod 2^32 (RFC 8156 §3).
    pub sent_time: u32,
    pub options: Vec<DhcpOption>,
}

impl OptionsExt for FailoverMessage {
    fn opts(&self) -> &[DhcpOption] {
        &self.options
    }
}

macro_rules! getter {
    ($fn:ident, $variant:ident, $t:ty) => {
        pub fn $fn(&self) -> Option<$t> {
            self.options.iter().find_map(|o| match o {
                DhcpOption::$variant(v) => Some(*v),
                _ => None,
            })
        }
    };
}

impl FailoverMessage {
    pub fn new(msg_type: FailoverMsgType, transaction_id: u32, sent_time: u32) -> Self {
        FailoverMessage {
            msg_type,
            transaction_id: transaction_id & 0x00ff_ffff,
            sent_time,
            options: Vec::new(),
        }
    }

    pub fn with(mut self, o: DhcpOption) -> Self {
        self.options.push(o);
        self
    }

    pub fn parse(buf: &[u8]) -> Result<Self, WireError> {
        let h = buf.get(..FAILOVER_HEADER_LEN).ok_or_else(|| {
            WireError::new(
                0,
                None,
                ErrorKind::TruncatedHeader {
                    need: FAILOVER_HEADER_LEN,
                    have: buf.len(),
                },
            )
        })?;
        let msg_type = FailoverMsgType::try_from(h[0])
            .map_err(|t| WireError::new(0, None, ErrorKind::BadMessageType(t)))?;
        let transaction_id = u32::from_be_bytes([0, h[1], h[2], h[3]]);
        let sent_time = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
        let options = parse_options(&buf[FAILOVER_HEADER_LEN..], FAILOVER_HEADER_LEN, 0)?;
        Ok(FailoverMessage {
            msg_type,
            transaction_id,
            sent_time,
            options,
        })
    }

    pub fn emit_into(&self, out: &mut Vec<u8>) {
        out.push(self.msg_type as u8);
        out.extend_from_slice(&self.transaction_id.to_be_bytes()[1..]);
        out.extend_from_slice(&self.sent_time.to_be_bytes());
        emit_options(&self.options, out);
    }

    pub fn emit(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.emit_into(&mut v);
        v
    }

    /// Emit with the 2-byte length prefix; None if it exceeds 65535 bytes.
    pub fn emit_frame(&self) -> Option<Vec<u8>> {
        super::frame::encode_frame(&self.emit())
    }

    getter!(binding_status, BindingStatus, u8);
    getter!(server_state, ServerState, u8);
    getter!(mclt, Mclt, u32);
    getter!(max_unacked_bndupd, MaxUnackedBndupd, u32);
    getter!(keepalive_time, KeepaliveTime, u32);
    getter!(start_time_of_state, StartTimeOfState, u32);
    getter!(state_expiration_time, StateExpirationTime, u32);
    getter!(partner_down_time, PartnerDownTime, u32);
    getter!(lq_base_time, LqBaseTime, u32);

    pub fn server_flags(&self) -> Option<ServerFlags> {
        self.options.iter().find_map(|o| match o {
            DhcpOption::ServerFlags(v) => Some(ServerFlags(*v)),
            _ => None,
        })
    }
    pub fn connect_flags(&self) -> Option<ConnectFlags> {
        self.options.iter().find_map(|o| match o {
            DhcpOption::ConnectFlags(v) => Some(ConnectFlags(*v)),
            _ => None,
        })
    }
    pub fn protocol_version(&self) -> Option<(u16, u16)> {
        self.options.iter().find_map(|o| match o {
            DhcpOption::ProtocolVersion { major, minor } => Some((*major, *minor)),
            _ => None,
        })
    }
    pub fn relationship_name(&self) -> Option<&str> {
        self.options.iter().find_map(|o| match o {
            DhcpOption::RelationshipName(s) => Some(s.as_str()),
            _ => None,
        })
    }
    /// All CLIENT_DATA options (BNDUPD/BNDREPLY carry one per client).
    pub fn client_data(&self) -> Vec<ClientDataView<'_>> {
        self.options
            .iter()
            .filter_map(|o| match o {
                DhcpOption::ClientData(opts) => Some(ClientDataView { options: opts }),
                _ => None,
            })
            .collect()
    }
}

/// Read-only view over a CLIENT_DATA option's contents (RFC 5007 / RFC 8156 §5.3.1).
#[derive(Debug, Clone, Copy)]
pub struct ClientDataView<'a> {
    pub options: &'a [DhcpOption],
}

impl<'a> ClientDataView<'a> {
    pub fn client_id(&self) -> Option<&'a [u8]> {
        self.options.iter().find_map(|o| match o {
            DhcpOption::ClientId(d) => Some(d.as_slice()),
            _ => None,
        })
    }
    pub fn clt_time(&self) -> Option<u32> {
        self.options.iter().find_map(|o| match o {
            DhcpOption::CltTime(v) => Some(*v),
            _ => None,
        })
    }
    pub fn ia_nas(&self) -> Vec<&'a Ia> {
        self.options
            .iter()
            .filter_map(|o| match o {
                DhcpOption::IaNa(i) => Some(i),
                _ => None,
            })
            .collect()
    }
    pub fn ia_pds(&self) -> Vec<&'a Ia> {
        self.options
            .iter()
            .filter_map(|o| match o {
                DhcpOption::IaPd(i) => Some(i),
                _ => None,
            })
            .collect()
    }
    pub fn relay_data(&self) -> Option<(Ipv6Addr, &'a [u8])> {
        self.options.iter().find_map(|o| match o {
            DhcpOption::LqRelayData {
                peer_address,
                relay_message,
            } => Some((*peer_address, relay_message.as_slice())),
            _ => None,
        })
    }
}
