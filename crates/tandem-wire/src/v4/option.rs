//! DHCPv4 options (RFC 2132 §2): one-byte code, one-byte length, data; pad (0) and end
//! (255) are single bytes. Options are kept raw, one entry per wire instance, in wire
//! order; typed accessors concatenate every instance of a code (RFC 3396 §5) and check
//! the length of the result.

use std::borrow::Cow;
use std::net::Ipv4Addr;

use super::message::MessageType;
use super::relay_agent::{self, RelayAgentInfo};
use super::routes::{self, ClasslessRoute};
use crate::error::{ErrorKind, WireError};

/// Option codes (RFC 2132 unless noted).
pub mod code {
    pub const PAD: u8 = 0;
    pub const SUBNET_MASK: u8 = 1;
    pub const ROUTERS: u8 = 3;
    pub const DNS_SERVERS: u8 = 6;
    pub const HOST_NAME: u8 = 12;
    pub const DOMAIN_NAME: u8 = 15;
    pub const INTERFACE_MTU: u8 = 26;
    pub const NTP_SERVERS: u8 = 42;
    pub const REQUESTED_IP: u8 = 50;
    pub const LEASE_TIME: u8 = 51;
    pub const OVERLOAD: u8 = 52;
    pub const MESSAGE_TYPE: u8 = 53;
    pub const SERVER_ID: u8 = 54;
    pub const PARAMETER_REQUEST_LIST: u8 = 55;
    /// RFC 2132 §9.9: an error message (in a DHCPNAK, RFC 2131 §4.3.2).
    pub const MESSAGE: u8 = 56;
    pub const MAX_MESSAGE_SIZE: u8 = 57;
    pub const RENEWAL_TIME: u8 = 58;
    pub const REBINDING_TIME: u8 = 59;
    pub const VENDOR_CLASS: u8 = 60;
    pub const CLIENT_ID: u8 = 61;
    /// RFC 4039.
    pub const RAPID_COMMIT: u8 = 80;
    /// RFC 3046.
    pub const RELAY_AGENT_INFO: u8 = 82;
    /// RFC 3011.
    pub const SUBNET_SELECTION: u8 = 118;
    /// RFC 3442.
    pub const CLASSLESS_ROUTES: u8 = 121;
    pub const END: u8 = 255;
}

/// One option. In a parsed message each entry is one wire instance (at most 255 bytes);
/// a longer value built by hand is split into consecutive instances on emit (RFC 3396).
/// Entries with code 0 (pad) or 255 (end) are not emitted: the codec writes those itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpOption {
    pub code: u8,
    pub data: Vec<u8>,
}

impl DhcpOption {
    pub fn new(code: u8, data: impl Into<Vec<u8>>) -> Self {
        DhcpOption {
            code,
            data: data.into(),
        }
    }
    pub fn ipv4(code: u8, a: Ipv4Addr) -> Self {
        Self::new(code, a.octets())
    }
    pub fn ipv4_list(code: u8, addrs: &[Ipv4Addr]) -> Self {
        Self::new(
            code,
            addrs.iter().flat_map(|a| a.octets()).collect::<Vec<_>>(),
        )
    }
    pub fn u32(code: u8, v: u32) -> Self {
        Self::new(code, v.to_be_bytes())
    }
    pub fn u16(code: u8, v: u16) -> Self {
        Self::new(code, v.to_be_bytes())
    }
    /// RFC 2132 §9.6.
    pub fn message_type(t: MessageType) -> Self {
        Self::new(code::MESSAGE_TYPE, [u8::from(t)])
    }
    /// RFC 2132 §9.7.
    pub fn server_identifier(a: Ipv4Addr) -> Self {
        Self::ipv4(code::SERVER_ID, a)
    }
    /// RFC 2132 §9.2 (seconds).
    pub fn lease_time(secs: u32) -> Self {
        Self::u32(code::LEASE_TIME, secs)
    }
    /// RFC 2132 §9.11 (T1, seconds).
    pub fn renewal_time(secs: u32) -> Self {
        Self::u32(code::RENEWAL_TIME, secs)
    }
    /// RFC 2132 §9.12 (T2, seconds).
    pub fn rebinding_time(secs: u32) -> Self {
        Self::u32(code::REBINDING_TIME, secs)
    }
    /// RFC 2132 §3.3.
    pub fn subnet_mask(a: Ipv4Addr) -> Self {
        Self::ipv4(code::SUBNET_MASK, a)
    }
    /// RFC 2132 §3.5.
    pub fn routers(addrs: &[Ipv4Addr]) -> Self {
        Self::ipv4_list(code::ROUTERS, addrs)
    }
    /// RFC 2132 §3.8.
    pub fn dns_servers(addrs: &[Ipv4Addr]) -> Self {
        Self::ipv4_list(code::DNS_SERVERS, addrs)
    }
    /// RFC 2132 §8.3.
    pub fn ntp_servers(addrs: &[Ipv4Addr]) -> Self {
        Self::ipv4_list(code::NTP_SERVERS, addrs)
    }
    /// RFC 2132 §3.17.
    pub fn domain_name(name: &str) -> Self {
        Self::new(code::DOMAIN_NAME, name.as_bytes())
    }
    /// RFC 2132 §3.14.
    pub fn host_name(name: &str) -> Self {
        Self::new(code::HOST_NAME, name.as_bytes())
    }
    /// RFC 2132 §5.1.
    pub fn interface_mtu(mtu: u16) -> Self {
        Self::u16(code::INTERFACE_MTU, mtu)
    }
    /// RFC 3442.
    pub fn classless_routes(r: &[ClasslessRoute]) -> Self {
        let mut data = Vec::with_capacity(r.len() * 9);
        routes::encode(r, &mut data);
        Self::new(code::CLASSLESS_ROUTES, data)
    }
    /// RFC 4039 §4: no data.
    pub fn rapid_commit() -> Self {
        Self::new(code::RAPID_COMMIT, Vec::new())
    }

    /// Bytes this option takes on the wire (0 for pad/end entries, which are skipped).
    pub fn emitted_len(&self) -> usize {
        match self.code {
            code::PAD | code::END => 0,
            _ => self.data.len() + 2 * self.data.len().div_ceil(255).max(1),
        }
    }

    /// Append as one or more instances of at most 255 bytes each (RFC 3396: a value that
    /// does not fit one option is split into consecutive options with the same code).
    pub fn emit_into(&self, out: &mut Vec<u8>) {
        if matches!(self.code, code::PAD | code::END) {
            return;
        }
        if self.data.is_empty() {
            out.extend_from_slice(&[self.code, 0]);
        }
        for chunk in self.data.chunks(255) {
            out.extend_from_slice(&[self.code, chunk.len() as u8]);
            out.extend_from_slice(chunk);
        }
    }
}

/// One instance found while walking an area: its code, data and the absolute offset of
/// its code byte.
pub(crate) struct Piece<'a> {
    pub code: u8,
    pub data: &'a [u8],
    pub off: usize,
}

/// Walk one options area (the options field, or `file`/`sname` under overload).
/// `base` is the absolute offset of `area[0]`. Pads are skipped, and when `pads` is given
/// their runs are recorded as (index of the next instance, run length) so a parsed message
/// re-emits byte for byte. Returns the position of END within `area`, or `None` when the
/// area ran out first (tolerated, see [`crate::v4::Message::end_missing`]).
pub(crate) fn walk<'a>(
    area: &'a [u8],
    base: usize,
    pieces: &mut Vec<Piece<'a>>,
    mut pads: Option<&mut Vec<(usize, usize)>>,
) -> Result<Option<usize>, WireError> {
    let mut pos = 0;
    while let Some(&c) = area.get(pos) {
        match c {
            code::END => return Ok(Some(pos)),
            code::PAD => {
                if let Some(p) = pads.as_deref_mut() {
                    match p.last_mut() {
                        Some((i, n)) if *i == pieces.len() => *n += 1,
                        _ => p.push((pieces.len(), 1)),
                    }
                }
                pos += 1;
            }
            _ => {
                let err = |kind| WireError::new(base + pos, Some(u16::from(c)), kind);
                let Some(&len) = area.get(pos + 1) else {
                    return Err(err(ErrorKind::TruncatedHeader { need: 2, have: 1 }));
                };
                let len = usize::from(len);
                let available = area.len() - pos - 2;
                let data = area
                    .get(pos + 2..pos + 2 + len)
                    .ok_or_else(|| err(ErrorKind::LengthPastEnd { len, available }))?;
                pieces.push(Piece {
                    code: c,
                    data,
                    off: base + pos,
                });
                pos += 2 + len;
            }
        }
    }
    Ok(None)
}

fn exact(d: &[u8], n: usize) -> Result<(), (usize, ErrorKind)> {
    if d.len() == n {
        return Ok(());
    }
    let got = d.len();
    Err((0, ErrorKind::BadFixedLength { expected: n, got }))
}

fn at_least(d: &[u8], min: usize) -> Result<(), (usize, ErrorKind)> {
    if d.len() >= min {
        return Ok(());
    }
    Err((0, ErrorKind::TooShort { min, got: d.len() }))
}

fn addr_list(d: &[u8]) -> Result<(), (usize, ErrorKind)> {
    at_least(d, 4)?;
    if !d.len().is_multiple_of(4) {
        return Err((
            0,
            ErrorKind::NotMultiple {
                unit: 4,
                got: d.len(),
            },
        ));
    }
    Ok(())
}

/// Length rules for the options this codec types, applied to the concatenated value
/// (RFC 3396 §5). `Err` carries the offset within `d`. Other codes are not checked.
pub(crate) fn check(c: u8, d: &[u8]) -> Result<(), (usize, ErrorKind)> {
    use code::*;
    match c {
        // RFC 2132 §3.3, §9.1, §9.7; RFC 3011 §4.
        SUBNET_MASK | REQUESTED_IP | SERVER_ID | SUBNET_SELECTION => exact(d, 4),
        // RFC 2132 §9.2, §9.11, §9.12.
        LEASE_TIME | RENEWAL_TIME | REBINDING_TIME => exact(d, 4),
        // RFC 2132 §9.6.
        MESSAGE_TYPE => exact(d, 1),
        // RFC 2132 §5.1, §9.10 (the minimum values 68 and 576 are left to the caller).
        INTERFACE_MTU | MAX_MESSAGE_SIZE => exact(d, 2),
        // RFC 2132 §3.5, §3.8, §8.3: one or more addresses.
        ROUTERS | DNS_SERVERS | NTP_SERVERS => addr_list(d),
        // RFC 2132 §3.14, §3.17, §9.8, §9.13: minimum length 1.
        HOST_NAME | DOMAIN_NAME | PARAMETER_REQUEST_LIST | VENDOR_CLASS => at_least(d, 1),
        // RFC 2132 §9.14: type plus at least one byte of identifier.
        CLIENT_ID => at_least(d, 2),
        // RFC 4039 §4.
        RAPID_COMMIT => exact(d, 0),
        RELAY_AGENT_INFO => relay_agent::check(d),
        CLASSLESS_ROUTES => routes::decode(d).map(|_| ()),
        _ => Ok(()),
    }
}

/// Every instance of `c` in `opts` concatenated in order (RFC 3396 §5); borrowed when
/// there is only one.
pub(crate) fn concat(opts: &[DhcpOption], c: u8) -> Option<Cow<'_, [u8]>> {
    let mut it = opts.iter().filter(|o| o.code == c);
    let first = it.next()?;
    let Some(second) = it.next() else {
        return Some(Cow::Borrowed(&first.data));
    };
    let mut v = [first.data.as_slice(), &second.data].concat();
    it.for_each(|o| v.extend_from_slice(&o.data));
    Some(Cow::Owned(v))
}

/// RFC 2132 §2: NVT ASCII options should carry no trailing NUL, but receivers must
/// delete trailing NULs if present.
fn trim_nuls(v: Cow<'_, [u8]>) -> Cow<'_, [u8]> {
    let keep = v.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    match v {
        Cow::Borrowed(b) => Cow::Borrowed(&b[..keep]),
        Cow::Owned(mut o) => {
            o.truncate(keep);
            Cow::Owned(o)
        }
    }
}

fn ip(d: &[u8]) -> Option<Ipv4Addr> {
    <[u8; 4]>::try_from(d).ok().map(Ipv4Addr::from)
}

/// Typed, length-checked views. A parsed message has had the options that
/// [`decides_the_answer`] checked (parsing fails otherwise); for every other option, and
/// on a hand-built list, a malformed value reads as `None`, like an absent one.
pub trait OptionsExt {
    fn opts(&self) -> &[DhcpOption];

    /// All instances of `code` concatenated (RFC 3396 §5), unchecked.
    fn value(&self, code: u8) -> Option<Cow<'_, [u8]>> {
        concat(self.opts(), code)
    }
    fn has(&self, code: u8) -> bool {
        self.opts().iter().any(|o| o.code == code)
    }
    /// The concatenated value, if it passes this codec's check for `code`.
    fn checked(&self, code: u8) -> Option<Cow<'_, [u8]>> {
        self.value(code).filter(|v| check(code, v).is_ok())
    }
    fn ipv4_option(&self, code: u8) -> Option<Ipv4Addr> {
        ip(&self.value(code)?)
    }
    fn u32_option(&self, code: u8) -> Option<u32> {
        Some(u32::from_be_bytes(
            self.value(code)?.as_ref().try_into().ok()?,
        ))
    }
    fn u16_option(&self, code: u8) -> Option<u16> {
        Some(u16::from_be_bytes(
            self.value(code)?.as_ref().try_into().ok()?,
        ))
    }
    fn ipv4_list_option(&self, code: u8) -> Option<Vec<Ipv4Addr>> {
        let v = self.checked(code)?;
        v.chunks_exact(4).map(ip).collect()
    }

    /// RFC 2132 §9.6.
    fn message_type(&self) -> Option<MessageType> {
        match self.value(code::MESSAGE_TYPE)?.as_ref() {
            [t] => Some(MessageType::from(*t)),
            _ => None,
        }
    }
    /// RFC 2132 §9.1.
    fn requested_ip(&self) -> Option<Ipv4Addr> {
        self.ipv4_option(code::REQUESTED_IP)
    }
    /// RFC 2132 §9.7.
    fn server_identifier(&self) -> Option<Ipv4Addr> {
        self.ipv4_option(code::SERVER_ID)
    }
    /// RFC 2132 §3.3.
    fn subnet_mask(&self) -> Option<Ipv4Addr> {
        self.ipv4_option(code::SUBNET_MASK)
    }
    /// RFC 3011: the subnet to allocate from, overriding giaddr.
    fn subnet_selection(&self) -> Option<Ipv4Addr> {
        self.ipv4_option(code::SUBNET_SELECTION)
    }
    /// RFC 2132 §9.2.
    fn lease_time(&self) -> Option<u32> {
        self.u32_option(code::LEASE_TIME)
    }
    /// RFC 2132 §9.11 (T1).
    fn renewal_time(&self) -> Option<u32> {
        self.u32_option(code::RENEWAL_TIME)
    }
    /// RFC 2132 §9.12 (T2).
    fn rebinding_time(&self) -> Option<u32> {
        self.u32_option(code::REBINDING_TIME)
    }
    /// RFC 2132 §9.10, raw: values below the legal minimum 576 are the caller's to clamp.
    fn max_message_size(&self) -> Option<u16> {
        self.u16_option(code::MAX_MESSAGE_SIZE)
    }
    /// RFC 2132 §5.1, raw (legal minimum 68).
    fn interface_mtu(&self) -> Option<u16> {
        self.u16_option(code::INTERFACE_MTU)
    }
    /// RFC 2132 §9.8: requested option codes, in the client's order.
    fn parameter_request_list(&self) -> Option<Cow<'_, [u8]>> {
        self.checked(code::PARAMETER_REQUEST_LIST)
    }
    /// RFC 2132 §9.14: type byte followed by the identifier.
    fn client_identifier(&self) -> Option<Cow<'_, [u8]>> {
        self.checked(code::CLIENT_ID)
    }
    /// RFC 2132 §9.13.
    fn vendor_class(&self) -> Option<Cow<'_, [u8]>> {
        self.checked(code::VENDOR_CLASS)
    }
    /// RFC 2132 §3.14, trailing NULs removed (RFC 2132 §2).
    fn host_name(&self) -> Option<Cow<'_, [u8]>> {
        self.checked(code::HOST_NAME).map(trim_nuls)
    }
    /// RFC 2132 §3.17, trailing NULs removed (RFC 2132 §2).
    fn domain_name(&self) -> Option<Cow<'_, [u8]>> {
        self.checked(code::DOMAIN_NAME).map(trim_nuls)
    }
    /// RFC 2132 §3.5.
    fn routers(&self) -> Option<Vec<Ipv4Addr>> {
        self.ipv4_list_option(code::ROUTERS)
    }
    /// RFC 2132 §3.8.
    fn dns_servers(&self) -> Option<Vec<Ipv4Addr>> {
        self.ipv4_list_option(code::DNS_SERVERS)
    }
    /// RFC 2132 §8.3.
    fn ntp_servers(&self) -> Option<Vec<Ipv4Addr>> {
        self.ipv4_list_option(code::NTP_SERVERS)
    }
    /// RFC 3442.
    fn classless_routes(&self) -> Option<Vec<ClasslessRoute>> {
        routes::decode(&self.value(code::CLASSLESS_ROUTES)?).ok()
    }
    /// RFC 3046: the option 82 value with a sub-option iterator (wire order).
    fn relay_agent_info(&self) -> Option<RelayAgentInfo<'_>> {
        RelayAgentInfo::parse(self.value(code::RELAY_AGENT_INFO)?).ok()
    }
    /// RFC 3527 link selection, sub-option 5 of option 82.
    fn link_selection(&self) -> Option<Ipv4Addr> {
        self.relay_agent_info()?.link_selection()
    }
    /// RFC 4039 rapid commit present.
    fn rapid_commit(&self) -> bool {
        self.has(code::RAPID_COMMIT)
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

/// Options whose value decides what the server answers, or to whom: the message type
/// (RFC 2132 §9.6), requested address and server identifier (RFC 2131 §4.3.2), client
/// identifier (§4.2), the relay agent information echoed to the relay (RFC 3046 §2.2),
/// subnet selection (RFC 3011 §3) and rapid commit (RFC 4039 §4). A malformed one fails
/// the parse: guessing any of them could give an address to the wrong client or link.
/// Every other typed option (host name, parameter request list, requested lease time,
/// maximum message size, ...) is checked when it is read: a malformed one reads as absent
/// ([`OptionsExt::checked`]) and the client is still served, as dhcpd serves it
/// (RFC 2131 §3 asks servers to be liberal in what they accept); [`Message::malformed_options`]
/// names them for the logs.
///
/// [`Message::malformed_options`]: super::Message::malformed_options
pub fn decides_the_answer(c: u8) -> bool {
    use code::*;
    matches!(
        c,
        MESSAGE_TYPE
            | REQUESTED_IP
            | SERVER_ID
            | CLIENT_ID
            | RELAY_AGENT_INFO
            | SUBNET_SELECTION
            | RAPID_COMMIT
    )
}

/// Check every option of a parsed message that [`decides_the_answer`], in order of first
/// appearance, with its instances concatenated. Errors name the code and the absolute
/// offset of the offending byte of the value.
pub(crate) fn check_all(pieces: &[Piece<'_>]) -> Result<(), WireError> {
    let mut seen = [false; 256];
    for (i, p) in pieces.iter().enumerate() {
        if std::mem::replace(&mut seen[usize::from(p.code)], true)
            || p.code == code::OVERLOAD
            || !decides_the_answer(p.code)
        {
            continue;
        }
        let same = || pieces[i..].iter().filter(|q| q.code == p.code);
        let value: Cow<'_, [u8]> = if same().nth(1).is_none() {
            Cow::Borrowed(p.data)
        } else {
            Cow::Owned(same().flat_map(|q| q.data.iter().copied()).collect())
        };
        if let Err((inner, kind)) = check(p.code, &value) {
            // Map the offset in the concatenated value back to the instance holding it.
            let mut rem = inner;
            let mut off = p.off + 2;
            for q in same() {
                off = q.off + 2 + rem.min(q.data.len());
                if rem < q.data.len() {
                    break;
                }
                rem -= q.data.len();
            }
            if inner == 0 {
                off = p.off + 2;
            }
            return Err(WireError::new(off, Some(u16::from(p.code)), kind));
        }
    }
    Ok(())
}
