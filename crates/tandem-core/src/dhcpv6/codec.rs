//! The server's view of DHCPv6 messages: raw option TLVs plus typed views of the
//! containers it reads (IA_NA, IA_PD, IAADDR, IAPREFIX).
//!
//! Every byte is decoded and encoded by `tandem_wire::v6`, the project's checked, fuzzed
//! codec; this module only maps its typed options onto the `(code, payload)` pairs the
//! processing code matches on, so unknown options still travel untouched.

use std::net::Ipv6Addr;

use ipnet::Ipv6Net;
use tandem_wire::v6 as wire;
use tandem_wire::v6::DhcpOption;

/// Why a datagram could not be decoded: tandem-wire's error (offset, option, reason).
pub type CodecError = tandem_wire::WireError;

/// Option codes (RFC 8415 §21), as tandem-wire defines them.
pub use tandem_wire::v6::code as opt;

pub mod msg {
    pub const SOLICIT: u8 = 1;
    pub const ADVERTISE: u8 = 2;
    pub const REQUEST: u8 = 3;
    pub const CONFIRM: u8 = 4;
    pub const RENEW: u8 = 5;
    pub const REBIND: u8 = 6;
    pub const REPLY: u8 = 7;
    pub const RELEASE: u8 = 8;
    pub const DECLINE: u8 = 9;
    pub const INFORMATION_REQUEST: u8 = 11;
    pub const RELAY_FORW: u8 = 12;
    pub const RELAY_REPL: u8 = 13;
}

/// RFC 8415 §21.13 status codes.
pub mod status {
    pub const SUCCESS: u16 = 0;
    pub const UNSPEC_FAIL: u16 = 1;
    pub const NO_ADDRS_AVAIL: u16 = 2;
    pub const NO_BINDING: u16 = 3;
    pub const NOT_ON_LINK: u16 = 4;
    pub const USE_MULTICAST: u16 = 5;
    pub const NO_PREFIX_AVAIL: u16 = 6;
}

/// One option TLV, payload kept as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawOption {
    pub code: u16,
    pub data: Vec<u8>,
}

impl RawOption {
    pub fn new(code: u16, data: Vec<u8>) -> Self {
        RawOption { code, data }
    }

    fn from_wire(o: &DhcpOption) -> Self {
        let tlv = o.emit();
        RawOption::new(o.code(), tlv.get(4..).unwrap_or_default().to_vec())
    }

    /// Decodes this option's payload with tandem-wire (validates its layout).
    fn to_wire(&self) -> Result<DhcpOption, CodecError> {
        wire::parse_one(self.code, &self.data, 0, 0)
    }
}

/// Finds the first option with `code`.
pub fn find(opts: &[RawOption], code: u16) -> Option<&RawOption> {
    opts.iter().find(|o| o.code == code)
}

fn to_raw(opts: &[DhcpOption]) -> Vec<RawOption> {
    opts.iter().map(RawOption::from_wire).collect()
}

/// Parses a sequence of option TLVs (RFC 8415 §21.1).
pub fn parse_options(buf: &[u8]) -> Result<Vec<RawOption>, CodecError> {
    Ok(to_raw(&wire::parse_options(buf, 0, 0)?))
}

pub fn emit_options(opts: &[RawOption], out: &mut Vec<u8>) {
    for o in opts {
        // Payloads we build are far below 64 KiB; clamp rather than panic.
        let len = o.data.len().min(usize::from(u16::MAX));
        out.extend_from_slice(&o.code.to_be_bytes());
        out.extend_from_slice(&(len as u16).to_be_bytes());
        out.extend_from_slice(o.data.get(..len).unwrap_or_default());
    }
}

/// A client/server message (RFC 8415 §8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMessage {
    pub msg_type: u8,
    /// 24-bit transaction id.
    pub xid: u32,
    pub options: Vec<RawOption>,
}

/// A relay-agent message (RFC 8415 §9); `options` include RELAY_MSG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayMessage {
    pub msg_type: u8,
    pub hop_count: u8,
    pub link_address: Ipv6Addr,
    pub peer_address: Ipv6Addr,
    pub options: Vec<RawOption>,
}

impl ClientMessage {
    pub fn parse(buf: &[u8]) -> Result<Self, CodecError> {
        let m = wire::Message::parse(buf)?;
        Ok(ClientMessage {
            msg_type: m.msg_type.into(),
            xid: m.transaction_id,
            options: to_raw(&m.options),
        })
    }

    pub fn emit(&self) -> Vec<u8> {
        let x = self.xid.to_be_bytes();
        let mut out = vec![self.msg_type, x[1], x[2], x[3]];
        emit_options(&self.options, &mut out);
        out
    }
}

impl RelayMessage {
    pub fn parse(buf: &[u8]) -> Result<Self, CodecError> {
        let m = wire::RelayMessage::parse(buf)?;
        Ok(RelayMessage {
            msg_type: m.msg_type.into(),
            hop_count: m.hop_count,
            link_address: m.link_address,
            peer_address: m.peer_address,
            options: to_raw(&m.options),
        })
    }

    pub fn emit(&self) -> Vec<u8> {
        let mut out = vec![self.msg_type, self.hop_count];
        out.extend_from_slice(&self.link_address.octets());
        out.extend_from_slice(&self.peer_address.octets());
        emit_options(&self.options, &mut out);
        out
    }
}

/// IA_NA or IA_PD (they share the layout, RFC 8415 §21.4/§21.21).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ia {
    pub iaid: u32,
    pub t1: u32,
    pub t2: u32,
    pub options: Vec<RawOption>,
}

impl Ia {
    pub fn parse(code: u16, data: &[u8]) -> Result<Self, CodecError> {
        match RawOption::new(code, data.to_vec()).to_wire()? {
            DhcpOption::IaNa(ia) | DhcpOption::IaPd(ia) => Ok(Ia {
                iaid: ia.iaid,
                t1: ia.t1,
                t2: ia.t2,
                options: to_raw(&ia.options),
            }),
            _ => Err(not_a(code)),
        }
    }

    pub fn to_option(&self, code: u16) -> RawOption {
        let mut d = Vec::with_capacity(12);
        d.extend_from_slice(&self.iaid.to_be_bytes());
        d.extend_from_slice(&self.t1.to_be_bytes());
        d.extend_from_slice(&self.t2.to_be_bytes());
        emit_options(&self.options, &mut d);
        RawOption::new(code, d)
    }
}

/// `parse_one` decodes by code, so a container never comes back as another variant; this
/// error exists only so that impossible case is not a panic.
fn not_a(code: u16) -> CodecError {
    tandem_wire::WireError::new(0, Some(code), tandem_wire::ErrorKind::BadText)
}

/// IAADDR, RFC 8415 §21.6.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IaAddr {
    pub addr: Ipv6Addr,
    pub preferred: u32,
    pub valid: u32,
    pub options: Vec<RawOption>,
}

impl IaAddr {
    pub fn parse(data: &[u8]) -> Result<Self, CodecError> {
        match RawOption::new(opt::IAADDR, data.to_vec()).to_wire()? {
            DhcpOption::IaAddr(a) => Ok(IaAddr {
                addr: a.addr,
                preferred: a.preferred,
                valid: a.valid,
                options: to_raw(&a.options),
            }),
            _ => Err(not_a(opt::IAADDR)),
        }
    }

    pub fn to_option(&self) -> RawOption {
        let mut d = self.addr.octets().to_vec();
        d.extend_from_slice(&self.preferred.to_be_bytes());
        d.extend_from_slice(&self.valid.to_be_bytes());
        emit_options(&self.options, &mut d);
        RawOption::new(opt::IAADDR, d)
    }
}

/// IAPREFIX, RFC 8415 §21.22.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IaPrefix {
    pub preferred: u32,
    pub valid: u32,
    pub prefix: Ipv6Net,
    pub options: Vec<RawOption>,
}

impl IaPrefix {
    pub fn parse(data: &[u8]) -> Result<Self, CodecError> {
        match RawOption::new(opt::IAPREFIX, data.to_vec()).to_wire()? {
            DhcpOption::IaPrefix(p) => Ok(IaPrefix {
                preferred: p.preferred,
                valid: p.valid,
                // tandem-wire has already rejected a length above 128.
                prefix: Ipv6Net::new(p.prefix, p.prefix_len).map_err(|_| {
                    tandem_wire::WireError::new(
                        0,
                        Some(opt::IAPREFIX),
                        tandem_wire::ErrorKind::BadPrefixLength(p.prefix_len),
                    )
                })?,
                options: to_raw(&p.options),
            }),
            _ => Err(not_a(opt::IAPREFIX)),
        }
    }

    pub fn to_option(&self) -> RawOption {
        let mut d = Vec::with_capacity(25);
        d.extend_from_slice(&self.preferred.to_be_bytes());
        d.extend_from_slice(&self.valid.to_be_bytes());
        d.push(self.prefix.prefix_len());
        d.extend_from_slice(&self.prefix.network().octets());
        emit_options(&self.options, &mut d);
        RawOption::new(opt::IAPREFIX, d)
    }
}

/// OPTION_STATUS_CODE with a UTF-8 message.
pub fn status_option(code: u16, message: &str) -> RawOption {
    let mut d = code.to_be_bytes().to_vec();
    d.extend_from_slice(message.as_bytes());
    RawOption::new(opt::STATUS_CODE, d)
}

/// The status code carried in `opts`, Success when absent (RFC 8415 §21.13).
pub fn status_of(opts: &[RawOption]) -> u16 {
    find(opts, opt::STATUS_CODE)
        .and_then(|o| o.data.get(0..2))
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .unwrap_or(status::SUCCESS)
}

/// The codes listed in an ORO payload (odd trailing byte ignored).
pub fn oro_codes(data: &[u8]) -> Vec<u16> {
    data.chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect()
}

/// RFC 1035 uncompressed wire form of a list of names (RFC 8415 §10); invalid names skipped.
pub fn encode_domain_list(names: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for name in names.iter().filter(|n| wire::name::is_valid_name(n)) {
        wire::name::encode_name(name, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_overrun_is_reported_with_offset_rfc8415_s21_1() {
        // code 1, length 10, only 2 bytes of data.
        let e = parse_options(&[0, 1, 0, 10, 1, 2]).unwrap_err();
        assert_eq!((e.offset, e.option), (0, Some(1)));
        assert!(matches!(
            e.kind,
            tandem_wire::ErrorKind::LengthPastEnd {
                len: 10,
                available: 2
            }
        ));
    }

    #[test]
    fn ia_pd_round_trips_rfc8415_s21_21() {
        let p = IaPrefix {
            preferred: 10,
            valid: 20,
            prefix: "2001:db8:100::/56".parse().unwrap(),
            options: vec![],
        };
        let ia = Ia {
            iaid: 7,
            t1: 1,
            t2: 2,
            options: vec![p.to_option()],
        };
        let o = ia.to_option(opt::IA_PD);
        let back = Ia::parse(opt::IA_PD, &o.data).unwrap();
        assert_eq!(back, ia);
        assert_eq!(IaPrefix::parse(&back.options[0].data).unwrap(), p);
    }

    #[test]
    fn domain_list_is_uncompressed_rfc8415_s10() {
        assert_eq!(
            encode_domain_list(&["ab.c".into()]),
            vec![2, b'a', b'b', 1, b'c', 0]
        );
    }
}
