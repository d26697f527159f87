//! Generic option TLV layer (RFC 8415 §21.1: u16 code, u16 length, data) and the typed
//! `DhcpOption` enum. Failover (RFC 8156 §5.5) options share this enum so that there is
//! exactly one TLV walker.

use std::net::Ipv6Addr;

use super::name::{decode_name, encode_name};
use crate::error::{ErrorKind, WireError};

/// Nested options (IA_NA → IAADDR → STATUS_CODE, CLIENT_DATA → IA_PD → IAPREFIX ...) are
/// parsed recursively; this bounds the depth so hostile input cannot exhaust the stack.
pub const MAX_OPTION_DEPTH: usize = 8;

/// Option codes (RFC 8415 §21, RFC 8156 §5.5; see shared/spec/codes.md).
pub mod code {
    pub const CLIENTID: u16 = 1;
    pub const SERVERID: u16 = 2;
    pub const IA_NA: u16 = 3;
    pub const IA_TA: u16 = 4;
    pub const IAADDR: u16 = 5;
    pub const ORO: u16 = 6;
    pub const PREFERENCE: u16 = 7;
    pub const ELAPSED_TIME: u16 = 8;
    pub const RELAY_MSG: u16 = 9;
    pub const AUTH: u16 = 11;
    pub const UNICAST: u16 = 12;
    pub const STATUS_CODE: u16 = 13;
    pub const RAPID_COMMIT: u16 = 14;
    pub const USER_CLASS: u16 = 15;
    pub const VENDOR_CLASS: u16 = 16;
    pub const VENDOR_OPTS: u16 = 17;
    pub const INTERFACE_ID: u16 = 18;
    pub const RECONF_MSG: u16 = 19;
    pub const RECONF_ACCEPT: u16 = 20;
    pub const DNS_SERVERS: u16 = 23;
    pub const DOMAIN_LIST: u16 = 24;
    pub const IA_PD: u16 = 25;
    pub const IAPREFIX: u16 = 26;
    pub const INFORMATION_REFRESH_TIME: u16 = 32;
    pub const CLIENT_FQDN: u16 = 39;
    pub const CLIENT_DATA: u16 = 45;
    pub const CLT_TIME: u16 = 46;
    pub const LQ_RELAY_DATA: u16 = 47;
    pub const VSS: u16 = 68;
    pub const SOL_MAX_RT: u16 = 82;
    pub const INF_MAX_RT: u16 = 83;
    pub const LQ_BASE_TIME: u16 = 100;
    pub const F_BINDING_STATUS: u16 = 114;
    pub const F_CONNECT_FLAGS: u16 = 115;
    pub const F_DNS_REMOVAL_INFO: u16 = 116;
    pub const F_DNS_HOST_NAME: u16 = 117;
    pub const F_DNS_ZONE_NAME: u16 = 118;
    pub const F_DNS_FLAGS: u16 = 119;
    pub const F_EXPIRATION_TIME: u16 = 120;
    pub const F_MAX_UNACKED_BNDUPD: u16 = 121;
    pub const F_MCLT: u16 = 122;
    pub const F_PARTNER_LIFETIME: u16 = 123;
    pub const F_PARTNER_LIFETIME_SENT: u16 = 124;
    pub const F_PARTNER_DOWN_TIME: u16 = 125;
    pub const F_PARTNER_RAW_CLT_TIME: u16 = 126;
    pub const F_PROTOCOL_VERSION: u16 = 127;
    pub const F_KEEPALIVE_TIME: u16 = 128;
    pub const F_RECONFIGURE_DATA: u16 = 129;
    pub const F_RELATIONSHIP_NAME: u16 = 130;
    pub const F_SERVER_FLAGS: u16 = 131;
    pub const F_SERVER_STATE: u16 = 132;
    pub const F_START_TIME_OF_STATE: u16 = 133;
    pub const F_STATE_EXPIRATION_TIME: u16 = 134;
}

/// RFC 8415 §21.13 status codes carried in [`StatusCode::code`].
pub mod status {
    pub const SUCCESS: u16 = 0;
    pub const UNSPEC_FAIL: u16 = 1;
    pub const NO_ADDRS_AVAIL: u16 = 2;
    pub const NO_BINDING: u16 = 3;
    pub const NOT_ON_LINK: u16 = 4;
    pub const USE_MULTICAST: u16 = 5;
    pub const NO_PREFIX_AVAIL: u16 = 6;
}

/// IA_NA (RFC 8415 §21.4) and IA_PD (§21.21) share this layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ia {
    pub iaid: u32,
    pub t1: u32,
    pub t2: u32,
    pub options: Vec<DhcpOption>,
}

/// IA_TA (RFC 8415 §21.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IaTa {
    pub iaid: u32,
    pub options: Vec<DhcpOption>,
}

/// IAADDR (RFC 8415 §21.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IaAddr {
    pub addr: Ipv6Addr,
    pub preferred: u32,
    pub valid: u32,
    pub options: Vec<DhcpOption>,
}

/// IAPREFIX (RFC 8415 §21.22).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IaPrefix {
    pub preferred: u32,
    pub valid: u32,
    pub prefix_len: u8,
    pub prefix: Ipv6Addr,
    pub options: Vec<DhcpOption>,
}

/// STATUS_CODE (RFC 8415 §21.13); message is UTF-8 (lossily decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCode {
    pub code: u16,
    pub message: String,
}

/// One decoded option. Unknown codes are kept verbatim and re-emitted unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DhcpOption {
    ClientId(Vec<u8>),
    ServerId(Vec<u8>),
    IaNa(Ia),
    IaTa(IaTa),
    IaAddr(IaAddr),
    Oro(Vec<u16>),
    Preference(u8),
    ElapsedTime(u16),
    /// Raw bytes of the encapsulated message; see [`crate::v6::Packet::parse`].
    RelayMsg(Vec<u8>),
    Auth(Vec<u8>),
    Unicast(Ipv6Addr),
    StatusCode(StatusCode),
    RapidCommit,
    UserClass(Vec<u8>),
    VendorClass(Vec<u8>),
    VendorOpts(Vec<u8>),
    InterfaceId(Vec<u8>),
    ReconfMsg(u8),
    ReconfAccept,
    DnsServers(Vec<Ipv6Addr>),
    DomainList(Vec<String>),
    IaPd(Ia),
    IaPrefix(IaPrefix),
    InformationRefreshTime(u32),
    ClientFqdn(Vec<u8>),
    SolMaxRt(u32),
    InfMaxRt(u32),
    // Options borrowed by RFC 8156 binding updates.
    ClientData(Vec<DhcpOption>),
    CltTime(u32),
    LqRelayData {
        peer_address: Ipv6Addr,
        relay_message: Vec<u8>,
    },
    Vss(Vec<u8>),
    LqBaseTime(u32),
    // RFC 8156 §5.5 failover options.
    BindingStatus(u8),
    ConnectFlags(u16),
    DnsRemovalInfo(Vec<DhcpOption>),
    /// RFC 1035 wire-format name bytes (kept raw: may be partial/relative).
    DnsHostName(Vec<u8>),
    DnsZoneName(Vec<u8>),
    DnsFlags(u16),
    ExpirationTime(u32),
    MaxUnackedBndupd(u32),
    Mclt(u32),
    PartnerLifetime(u32),
    PartnerLifetimeSent(u32),
    PartnerDownTime(u32),
    PartnerRawCltTime(u32),
    ProtocolVersion {
        major: u16,
        minor: u16,
    },
    KeepaliveTime(u32),
    ReconfigureData {
        time: u32,
        key: Vec<u8>,
    },
    RelationshipName(String),
    ServerFlags(u8),
    ServerState(u8),
    StartTimeOfState(u32),
    StateExpirationTime(u32),
    Unknown {
        code: u16,
        data: Vec<u8>,
    },
}

fn err(offset: usize, code: u16, kind: ErrorKind) -> WireError {
    WireError::new(offset, Some(code), kind)
}

fn fixed<const N: usize>(data: &[u8], off: usize, code: u16) -> Result<[u8; N], WireError> {
    data.try_into().map_err(|_| {
        err(
            off,
            code,
            ErrorKind::BadFixedLength {
                expected: N,
                got: data.len(),
            },
        )
    })
}

fn u16_at(d: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([d[i], d[i + 1]])
}
fn u32_at(d: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([d[i], d[i + 1], d[i + 2], d[i + 3]])
}
fn addr_at(d: &[u8], i: usize) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&d[i..i + 16]);
    Ipv6Addr::from(a)
}

fn min_len(data: &[u8], min: usize, off: usize, code: u16) -> Result<(), WireError> {
    if data.len() < min {
        return Err(err(
            off,
            code,
            ErrorKind::TooShort {
                min,
                got: data.len(),
            },
        ));
    }
    Ok(())
}

fn text(data: &[u8], off: usize, code: u16) -> Result<String, WireError> {
    match std::str::from_utf8(data) {
        Ok(s) if !s.contains('\0') => Ok(s.to_owned()),
        _ => Err(err(off, code, ErrorKind::BadText)),
    }
}

/// Walk a TLV sequence. `base` is the absolute offset of `data[0]` (for error messages);
/// `depth` is the current nesting depth (0 at message level).
pub fn parse_options(data: &[u8], base: usize, depth: usize) -> Result<Vec<DhcpOption>, WireError> {
    if depth > MAX_OPTION_DEPTH {
        return Err(WireError::new(base, None, ErrorKind::NestingTooDeep));
    }
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < data.len() {
        let rest = &data[pos..];
        if rest.len() < 4 {
            return Err(WireError::new(
                base + pos,
                None,
                ErrorKind::TruncatedHeader {
                    need: 4,
                    have: rest.len(),
                },
            ));
        }
        let code = u16_at(rest, 0);
        let len = u16_at(rest, 2) as usize;
        let body = rest.get(4..4 + len).ok_or_else(|| {
            err(
                base + pos,
                code,
                ErrorKind::LengthPastEnd {
                    len,
                    available: rest.len() - 4,
                },
            )
        })?;
        out.push(parse_one(code, body, base + pos + 4, depth)?);
        pos += 4 + len;
    }
    Ok(out)
}

/// Decode the body of one option with the given code.
pub fn parse_one(code: u16, d: &[u8], off: usize, depth: usize) -> Result<DhcpOption, WireError> {
    use crate::v6::option::code as c;
    use DhcpOption as O;
    let nested = |from: usize| parse_options(&d[from..], off + from, depth + 1);
    let u32v = || fixed::<4>(d, off, code).map(u32::from_be_bytes);
    Ok(match code {
        c::CLIENTID => O::ClientId(d.to_vec()),
        c::SERVERID => O::ServerId(d.to_vec()),
        c::IA_NA | c::IA_PD => {
            min_len(d, 12, off, code)?;
            let ia = Ia {
                iaid: u32_at(d, 0),
                t1: u32_at(d, 4),
                t2: u32_at(d, 8),
                options: nested(12)?,
            };
            if code == c::IA_NA {
                O::IaNa(ia)
            } else {
                O::IaPd(ia)
            }
        }
        c::IA_TA => {
            min_len(d, 4, off, code)?;
            O::IaTa(IaTa {
                iaid: u32_at(d, 0),
                options: nested(4)?,
            })
        }
        c::IAADDR => {
            min_len(d, 24, off, code)?;
            O::IaAddr(IaAddr {
                addr: addr_at(d, 0),
                preferred: u32_at(d, 16),
                valid: u32_at(d, 20),
                options: nested(24)?,
            })
        }
        c::ORO => {
            if !d.chunks_exact(2).remainder().is_empty() {
                return Err(err(
                    off,
                    code,
                    ErrorKind::NotMultiple {
                        unit: 2,
                        got: d.len(),
                    },
                ));
            }
            O::Oro(
                d.chunks_exact(2)
                    .map(|x| u16::from_be_bytes([x[0], x[1]]))
                    .collect(),
            )
        }
        c::PREFERENCE => O::Preference(fixed::<1>(d, off, code)?[0]),
        c::ELAPSED_TIME => O::ElapsedTime(u16::from_be_bytes(fixed::<2>(d, off, code)?)),
        c::RELAY_MSG => O::RelayMsg(d.to_vec()),
        c::AUTH => O::Auth(d.to_vec()),
        c::UNICAST => O::Unicast(Ipv6Addr::from(fixed::<16>(d, off, code)?)),
        c::STATUS_CODE => {
            min_len(d, 2, off, code)?;
            O::StatusCode(StatusCode {
                code: u16_at(d, 0),
                message: String::from_utf8_lossy(&d[2..]).into_owned(),
            })
        }
        c::RAPID_COMMIT => {
            fixed::<0>(d, off, code)?;
            O::RapidCommit
        }
        c::USER_CLASS => O::UserClass(d.to_vec()),
        c::VENDOR_CLASS => O::VendorClass(d.to_vec()),
        c::VENDOR_OPTS => O::VendorOpts(d.to_vec()),
        c::INTERFACE_ID => O::InterfaceId(d.to_vec()),
        c::RECONF_MSG => O::ReconfMsg(fixed::<1>(d, off, code)?[0]),
        c::RECONF_ACCEPT => {
            fixed::<0>(d, off, code)?;
            O::ReconfAccept
        }
        c::DNS_SERVERS => {
            if !d.chunks_exact(16).remainder().is_empty() {
                return Err(err(
                    off,
                    code,
                    ErrorKind::NotMultiple {
                        unit: 16,
                        got: d.len(),
                    },
                ));
            }
            O::DnsServers(d.chunks_exact(16).map(|x| addr_at(x, 0)).collect())
        }
        c::DOMAIN_LIST => {
            let mut names = Vec::new();
            let mut pos = 0;
            while pos < d.len() {
                let (n, used) = decode_name(&d[pos..]).map_err(|k| err(off + pos, code, k))?;
                names.push(n);
                pos += used;
            }
            O::DomainList(names)
        }
        c::IAPREFIX => {
            min_len(d, 25, off, code)?;
            let prefix_len = d[8];
            if prefix_len > 128 {
                return Err(err(off + 8, code, ErrorKind::BadPrefixLength(prefix_len)));
            }
            O::IaPrefix(IaPrefix {
                preferred: u32_at(d, 0),
                valid: u32_at(d, 4),
                prefix_len,
                prefix: addr_at(d, 9),
                options: nested(25)?,
            })
        }
        c::INFORMATION_REFRESH_TIME => O::InformationRefreshTime(u32v()?),
        c::CLIENT_FQDN => O::ClientFqdn(d.to_vec()),
        c::SOL_MAX_RT => O::SolMaxRt(u32v()?),
        c::INF_MAX_RT => O::InfMaxRt(u32v()?),
        c::CLIENT_DATA => O::ClientData(nested(0)?),
        c::CLT_TIME => O::CltTime(u32v()?),
        c::LQ_RELAY_DATA => {
            min_len(d, 16, off, code)?;
            O::LqRelayData {
                peer_address: addr_at(d, 0),
                relay_message: d[16..].to_vec(),
            }
        }
        c::VSS => O::Vss(d.to_vec()),
        c::LQ_BASE_TIME => O::LqBaseTime(u32v()?),
        c::F_BINDING_STATUS => O::BindingStatus(fixed::<1>(d, off, code)?[0]),
        c::F_CONNECT_FLAGS => O::ConnectFlags(u16::from_be_bytes(fixed::<2>(d, off, code)?)),
        c::F_DNS_REMOVAL_INFO => O::DnsRemovalInfo(nested(0)?),
        c::F_DNS_HOST_NAME => O::DnsHostName(d.to_vec()),
        c::F_DNS_ZONE_NAME => O::DnsZoneName(d.to_vec()),
        c::F_DNS_FLAGS => O::DnsFlags(u16::from_be_bytes(fixed::<2>(d, off, code)?)),
        c::F_EXPIRATION_TIME => O::ExpirationTime(u32v()?),
        c::F_MAX_UNACKED_BNDUPD => O::MaxUnackedBndupd(u32v()?),
        c::F_MCLT => O::Mclt(u32v()?),
        c::F_PARTNER_LIFETIME => O::PartnerLifetime(u32v()?),
        c::F_PARTNER_LIFETIME_SENT => O::PartnerLifetimeSent(u32v()?),
        c::F_PARTNER_DOWN_TIME => O::PartnerDownTime(u32v()?),
        c::F_PARTNER_RAW_CLT_TIME => O::PartnerRawCltTime(u32v()?),
        c::F_PROTOCOL_VERSION => {
            let b = fixed::<4>(d, off, code)?;
            O::ProtocolVersion {
                major: u16_at(&b, 0),
                minor: u16_at(&b, 2),
            }
        }
        c::F_KEEPALIVE_TIME => O::KeepaliveTime(u32v()?),
        c::F_RECONFIGURE_DATA => {
            min_len(d, 4, off, code)?;
            O::ReconfigureData {
                time: u32_at(d, 0),
                key: d[4..].to_vec(),
            }
        }
        c::F_RELATIONSHIP_NAME => O::RelationshipName(text(d, off, code)?),
        c::F_SERVER_FLAGS => O::ServerFlags(fixed::<1>(d, off, code)?[0]),
        c::F_SERVER_STATE => O::ServerState(fixed::<1>(d, off, code)?[0]),
        c::F_START_TIME_OF_STATE => O::StartTimeOfState(u32v()?),
        c::F_STATE_EXPIRATION_TIME => O::StateExpirationTime(u32v()?),
        _ => O::Unknown {
            code,
            data: d.to_vec(),
        },
    })
}

/// Append the TLV encoding of `options` to `out`.
pub fn emit_options(options: &[DhcpOption], out: &mut Vec<u8>) {
    for o in options {
        o.emit_into(out);
    }
}

impl DhcpOption {
    /// The option code this variant encodes as.
    pub fn code(&self) -> u16 {
        use code as c;
        use DhcpOption as O;
        match self {
            O::ClientId(_) => c::CLIENTID,
            O::ServerId(_) => c::SERVERID,
            O::IaNa(_) => c::IA_NA,
            O::IaTa(_) => c::IA_TA,
            O::IaAddr(_) => c::IAADDR,
            O::Oro(_) => c::ORO,
            O::Preference(_) => c::PREFERENCE,
            O::ElapsedTime(_) => c::ELAPSED_TIME,
            O::RelayMsg(_) => c::RELAY_MSG,
            O::Auth(_) => c::AUTH,
            O::Unicast(_) => c::UNICAST,
            O::StatusCode(_) => c::STATUS_CODE,
            O::RapidCommit => c::RAPID_COMMIT,
            O::UserClass(_) => c::USER_CLASS,
            O::VendorClass(_) => c::VENDOR_CLASS,
            O::VendorOpts(_) => c::VENDOR_OPTS,
            O::InterfaceId(_) => c::INTERFACE_ID,
            O::ReconfMsg(_) => c::RECONF_MSG,
            O::ReconfAccept => c::RECONF_ACCEPT,
            O::DnsServers(_) => c::DNS_SERVERS,
            O::DomainList(_) => c::DOMAIN_LIST,
            O::IaPd(_) => c::IA_PD,
            O::IaPrefix(_) => c::IAPREFIX,
            O::InformationRefreshTime(_) => c::INFORMATION_REFRESH_TIME,
            O::ClientFqdn(_) => c::CLIENT_FQDN,
            O::SolMaxRt(_) => c::SOL_MAX_RT,
            O::InfMaxRt(_) => c::INF_MAX_RT,
            O::ClientData(_) => c::CLIENT_DATA,
            O::CltTime(_) => c::CLT_TIME,
            O::LqRelayData { .. } => c::LQ_RELAY_DATA,
            O::Vss(_) => c::VSS,
            O::LqBaseTime(_) => c::LQ_BASE_TIME,
            O::BindingStatus(_) => c::F_BINDING_STATUS,
            O::ConnectFlags(_) => c::F_CONNECT_FLAGS,
            O::DnsRemovalInfo(_) => c::F_DNS_REMOVAL_INFO,
            O::DnsHostName(_) => c::F_DNS_HOST_NAME,
            O::DnsZoneName(_) => c::F_DNS_ZONE_NAME,
            O::DnsFlags(_) => c::F_DNS_FLAGS,
            O::ExpirationTime(_) => c::F_EXPIRATION_TIME,
            O::MaxUnackedBndupd(_) => c::F_MAX_UNACKED_BNDUPD,
            O::Mclt(_) => c::F_MCLT,
            O::PartnerLifetime(_) => c::F_PARTNER_LIFETIME,
            O::PartnerLifetimeSent(_) => c::F_PARTNER_LIFETIME_SENT,
            O::PartnerDownTime(_) => c::F_PARTNER_DOWN_TIME,
            O::PartnerRawCltTime(_) => c::F_PARTNER_RAW_CLT_TIME,
            O::ProtocolVersion { .. } => c::F_PROTOCOL_VERSION,
            O::KeepaliveTime(_) => c::F_KEEPALIVE_TIME,
            O::ReconfigureData { .. } => c::F_RECONFIGURE_DATA,
            O::RelationshipName(_) => c::F_RELATIONSHIP_NAME,
            O::ServerFlags(_) => c::F_SERVER_FLAGS,
            O::ServerState(_) => c::F_SERVER_STATE,
            O::StartTimeOfState(_) => c::F_START_TIME_OF_STATE,
            O::StateExpirationTime(_) => c::F_STATE_EXPIRATION_TIME,
            O::Unknown { code, .. } => *code,
        }
    }

    /// Append code, length and body. Bodies over 65535 bytes are truncated to keep the
    /// length field honest (callers should never build such options).
    pub fn emit_into(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&self.code().to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        self.emit_body(out);
        let mut len = out.len() - start - 4;
        if len > u16::MAX as usize {
            out.truncate(start + 4 + u16::MAX as usize);
            len = u16::MAX as usize;
        }
        out[start + 2..start + 4].copy_from_slice(&(len as u16).to_be_bytes());
    }

    /// Encoded TLV bytes of this option.
    pub fn emit(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.emit_into(&mut v);
        v
    }

    fn emit_body(&self, out: &mut Vec<u8>) {
        use DhcpOption as O;
        match self {
            O::ClientId(b)
            | O::ServerId(b)
            | O::RelayMsg(b)
            | O::Auth(b)
            | O::UserClass(b)
            | O::VendorClass(b)
            | O::VendorOpts(b)
            | O::InterfaceId(b)
            | O::ClientFqdn(b)
            | O::Vss(b)
            | O::DnsHostName(b)
            | O::DnsZoneName(b) => out.extend_from_slice(b),
            O::Unknown { data, .. } => out.extend_from_slice(data),
            O::IaNa(ia) | O::IaPd(ia) => {
                for v in [ia.iaid, ia.t1, ia.t2] {
                    out.extend_from_slice(&v.to_be_bytes());
                }
                emit_options(&ia.options, out);
            }
            O::IaTa(ia) => {
                out.extend_from_slice(&ia.iaid.to_be_bytes());
                emit_options(&ia.options, out);
            }
            O::IaAddr(a) => {
                out.extend_from_slice(&a.addr.octets());
                out.extend_from_slice(&a.preferred.to_be_bytes());
                out.extend_from_slice(&a.valid.to_be_bytes());
                emit_options(&a.options, out);
            }
            O::IaPrefix(p) => {
                out.extend_from_slice(&p.preferred.to_be_bytes());
                out.extend_from_slice(&p.valid.to_be_bytes());
                out.push(p.prefix_len);
                out.extend_from_slice(&p.prefix.octets());
                emit_options(&p.options, out);
            }
            O::Oro(codes) => codes
                .iter()
                .for_each(|c| out.extend_from_slice(&c.to_be_bytes())),
            O::Preference(v)
            | O::ReconfMsg(v)
            | O::BindingStatus(v)
            | O::ServerFlags(v)
            | O::ServerState(v) => out.push(*v),
            O::ElapsedTime(v) | O::ConnectFlags(v) | O::DnsFlags(v) => {
                out.extend_from_slice(&v.to_be_bytes())
            }
            O::Unicast(a) => out.extend_from_slice(&a.octets()),
            O::StatusCode(s) => {
                out.extend_from_slice(&s.code.to_be_bytes());
                out.extend_from_slice(s.message.as_bytes());
            }
            O::RapidCommit | O::ReconfAccept => {}
            O::DnsServers(addrs) => addrs
                .iter()
                .for_each(|a| out.extend_from_slice(&a.octets())),
            O::DomainList(names) => names.iter().for_each(|n| encode_name(n, out)),
            O::InformationRefreshTime(v)
            | O::SolMaxRt(v)
            | O::InfMaxRt(v)
            | O::CltTime(v)
            | O::LqBaseTime(v)
            | O::ExpirationTime(v)
            | O::MaxUnackedBndupd(v)
            | O::Mclt(v)
            | O::PartnerLifetime(v)
            | O::PartnerLifetimeSent(v)
            | O::PartnerDownTime(v)
            | O::PartnerRawCltTime(v)
            | O::KeepaliveTime(v)
            | O::StartTimeOfState(v)
            | O::StateExpirationTime(v) => out.extend_from_slice(&v.to_be_bytes()),
            O::ClientData(opts) | O::DnsRemovalInfo(opts) => emit_options(opts, out),
            O::LqRelayData {
                peer_address,
                relay_message,
            } => {
                out.extend_from_slice(&peer_address.octets());
                out.extend_from_slice(relay_message);
            }
            O::ProtocolVersion { major, minor } => {
                out.extend_from_slice(&major.to_be_bytes());
                out.extend_from_slice(&minor.to_be_bytes());
            }
            O::ReconfigureData { time, key } => {
                out.extend_from_slice(&time.to_be_bytes());
                out.extend_from_slice(key);
            }
            O::RelationshipName(s) => out.extend_from_slice(s.as_bytes()),
        }
    }
}

/// Small lookups over option lists, shared by messages and nested containers.
pub trait OptionsExt {
    fn opts(&self) -> &[DhcpOption];
    /// First option with this code.
    fn find(&self, code: u16) -> Option<&DhcpOption> {
        self.opts().iter().find(|o| o.code() == code)
    }
    fn status_code(&self) -> Option<&StatusCode> {
        self.opts().iter().find_map(|o| match o {
            DhcpOption::StatusCode(s) => Some(s),
            _ => None,
        })
    }
    fn ia_addrs(&self) -> Vec<&IaAddr> {
        self.opts()
            .iter()
            .filter_map(|o| match o {
                DhcpOption::IaAddr(a) => Some(a),
                _ => None,
            })
            .collect()
    }
    fn ia_prefixes(&self) -> Vec<&IaPrefix> {
        self.opts()
            .iter()
            .filter_map(|o| match o {
                DhcpOption::IaPrefix(p) => Some(p),
                _ => None,
            })
            .collect()
    }
    fn ia_nas(&self) -> Vec<&Ia> {
        self.opts()
            .iter()
            .filter_map(|o| match o {
                DhcpOption::IaNa(i) => Some(i),
                _ => None,
            })
            .collect()
    }
    fn ia_pds(&self) -> Vec<&Ia> {
        self.opts()
            .iter()
            .filter_map(|o| match o {
                DhcpOption::IaPd(i) => Some(i),
                _ => None,
            })
            .collect()
    }
    fn client_id(&self) -> Option<&[u8]> {
        self.opts().iter().find_map(|o| match o {
            DhcpOption::ClientId(d) => Some(d.as_slice()),
            _ => None,
        })
    }
    fn server_id(&self) -> Option<&[u8]> {
        self.opts().iter().find_map(|o| match o {
            DhcpOption::ServerId(d) => Some(d.as_slice()),
            _ => None,
        })
    }
}

impl OptionsExt for [DhcpOption] {
    fn opts(&self) -> &[DhcpOption] {
        self
    }
}
impl OptionsExt for Vec<DhcpOption> {
    fn opts(&self) -> &[DhcpOption] {
        self
    }
}
impl OptionsExt for Ia {
    fn opts(&self) -> &[DhcpOption] {
        &self.options
    }
}
impl OptionsExt for IaTa {
    fn opts(&self) -> &[DhcpOption] {
        &self.options
    }
}
impl OptionsExt for IaAddr {
    fn opts(&self) -> &[DhcpOption] {
        &self.options
    }
}
impl OptionsExt for IaPrefix {
    fn opts(&self) -> &[DhcpOption] {
        &self.options
    }
}
