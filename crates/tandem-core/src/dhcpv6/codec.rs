//! A small DHCPv6 codec adapter: just what the server logic needs (RFC 8415 §8, §9, §21).
//!
//! tandem-wire owns the full typed codec; this module keeps the core's processing
//! independent of its progress. Options stay raw TLVs (unknown ones are carried, never
//! fatal); the containers the server reads (IA_NA, IA_PD, IAADDR, IAPREFIX) have typed views.
//! No panics: every read is bounds-checked and errors say what, where and why.

use std::net::Ipv6Addr;

use ipnet::Ipv6Net;

/// Why a datagram could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("{what}: need {need} bytes at offset {offset}, have {have}")]
    Truncated {
        what: &'static str,
        offset: usize,
        need: usize,
        have: usize,
    },
    #[error(
        "option {code} at offset {offset}: length {len} runs past the end ({available} bytes left)"
    )]
    OptionOverrun {
        code: u16,
        offset: usize,
        len: usize,
        available: usize,
    },
    #[error("option {code}: {why}")]
    BadOption { code: u16, why: &'static str },
    #[error("relay chain deeper than {0} levels")]
    TooDeep(usize),
}

pub mod opt {
    pub const CLIENTID: u16 = 1;
    pub const SERVERID: u16 = 2;
    pub const IA_NA: u16 = 3;
    pub const IA_TA: u16 = 4;
    pub const IAADDR: u16 = 5;
    pub const ORO: u16 = 6;
    pub const PREFERENCE: u16 = 7;
    pub const RELAY_MSG: u16 = 9;
    pub const STATUS_CODE: u16 = 13;
    pub const RAPID_COMMIT: u16 = 14;
    pub const INTERFACE_ID: u16 = 18;
    pub const DNS_SERVERS: u16 = 23;
    pub const DOMAIN_LIST: u16 = 24;
    pub const IA_PD: u16 = 25;
    pub const IAPREFIX: u16 = 26;
    pub const INFORMATION_REFRESH_TIME: u16 = 32;
}

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
}

/// Finds the first option with `code`.
pub fn find(opts: &[RawOption], code: u16) -> Option<&RawOption> {
    opts.iter().find(|o| o.code == code)
}

fn take<'a>(
    buf: &'a [u8],
    offset: usize,
    n: usize,
    what: &'static str,
) -> Result<&'a [u8], CodecError> {
    buf.get(offset..offset.saturating_add(n))
        .ok_or(CodecError::Truncated {
            what,
            offset,
            need: n,
            have: buf.len().saturating_sub(offset),
        })
}

fn u16_at(buf: &[u8], offset: usize, what: &'static str) -> Result<u16, CodecError> {
    let b = take(buf, offset, 2, what)?;
    Ok(u16::from_be_bytes([b[0], b[1]]))
}

fn u32_at(buf: &[u8], offset: usize, what: &'static str) -> Result<u32, CodecError> {
    let b = take(buf, offset, 4, what)?;
    Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn addr_at(buf: &[u8], offset: usize, what: &'static str) -> Result<Ipv6Addr, CodecError> {
    let b = take(buf, offset, 16, what)?;
    let mut a = [0u8; 16];
    a.copy_from_slice(b);
    Ok(Ipv6Addr::from(a))
}

/// Parses a sequence of option TLVs (RFC 8415 §21.1).
pub fn parse_options(buf: &[u8]) -> Result<Vec<RawOption>, CodecError> {
    let mut out = Vec::new();
    let mut off = 0;
    while off < buf.len() {
        let code = u16_at(buf, off, "option code")?;
        let len = usize::from(u16_at(buf, off + 2, "option length")?);
        let data = buf
            .get(off + 4..off + 4 + len)
            .ok_or(CodecError::OptionOverrun {
                code,
                offset: off,
                len,
                available: buf.len().saturating_sub(off + 4),
            })?;
        out.push(RawOption::new(code, data.to_vec()));
        off += 4 + len;
    }
    Ok(out)
}

pub fn emit_options(opts: &[RawOption], out: &mut Vec<u8>) {
    for o in opts {
        // Payloads we build are far below 64 KiB; clamp rather than panic.
        let len = o.data.len().min(usize::from(u16::MAX));
        out.extend_from_slice(&o.code.to_be_bytes());
        out.extend_from_slice(&(len as u16).to_be_bytes());
        out.extend_from_slice(&o.data[..len]);
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
        let h = take(buf, 0, 4, "message header")?;
        Ok(ClientMessage {
            msg_type: h[0],
            xid: u32::from_be_bytes([0, h[1], h[2], h[3]]),
            options: parse_options(&buf[4..])?,
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
        let h = take(buf, 0, 34, "relay header")?;
        Ok(RelayMessage {
            msg_type: h[0],
            hop_count: h[1],
            link_address: addr_at(buf, 2, "link-address")?,
            peer_address: addr_at(buf, 18, "peer-address")?,
            options: parse_options(&buf[34..])?,
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
        if data.len() < 12 {
            return Err(CodecError::BadOption {
                code,
                why: "shorter than IAID+T1+T2 (12 bytes)",
            });
        }
        Ok(Ia {
            iaid: u32_at(data, 0, "IAID")?,
            t1: u32_at(data, 4, "T1")?,
            t2: u32_at(data, 8, "T2")?,
            options: parse_options(&data[12..])?,
        })
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
        if data.len() < 24 {
            return Err(CodecError::BadOption {
                code: opt::IAADDR,
                why: "shorter than 24 bytes",
            });
        }
        Ok(IaAddr {
            addr: addr_at(data, 0, "IAADDR address")?,
            preferred: u32_at(data, 16, "preferred lifetime")?,
            valid: u32_at(data, 20, "valid lifetime")?,
            options: parse_options(&data[24..])?,
        })
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
        if data.len() < 25 {
            return Err(CodecError::BadOption {
                code: opt::IAPREFIX,
                why: "shorter than 25 bytes",
            });
        }
        let plen = data[8];
        let prefix = Ipv6Net::new(addr_at(data, 9, "IAPREFIX prefix")?, plen).map_err(|_| {
            CodecError::BadOption {
                code: opt::IAPREFIX,
                why: "prefix length above 128",
            }
        })?;
        Ok(IaPrefix {
            preferred: u32_at(data, 0, "preferred lifetime")?,
            valid: u32_at(data, 4, "valid lifetime")?,
            prefix,
            options: parse_options(&data[25..])?,
        })
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

/// RFC 1035 uncompressed wire form of a list of names (RFC 8415 §10); bad names skipped.
pub fn encode_domain_list(names: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for name in names {
        let labels: Vec<&str> = name
            .trim_end_matches('.')
            .split('.')
            .filter(|l| !l.is_empty())
            .collect();
        if labels.is_empty() || labels.iter().any(|l| l.len() > 63) {
            continue;
        }
        for l in labels {
            out.push(l.len() as u8);
            out.extend_from_slice(l.as_bytes());
        }
        out.push(0);
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
        assert_eq!(
            e,
            CodecError::OptionOverrun {
                code: 1,
                offset: 0,
                len: 10,
                available: 2
            }
        );
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
