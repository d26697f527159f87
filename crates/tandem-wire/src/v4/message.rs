//! DHCPv4 messages: header, options in wire order, option overload (RFC 2131 §4.1,
//! RFC 2132 §9.3), byte-exact re-emission, and server replies (RFC 2131 §4.3.1).

use std::net::Ipv4Addr;

use super::header::{
    Header, BOOTP_MIN_LEN, BOOTREPLY, FILE_OFFSET, HEADER_LEN, OPTIONS_OFFSET, SNAME_OFFSET,
};
use super::option::{check_all, code, walk, DhcpOption, OptionsExt, Piece};
use crate::error::{ErrorKind, WireError};

/// DHCP message type, option 53 (1-8 RFC 2132 §9.6; 9 RFC 3203; 10-13 RFC 4388; 14-15
/// RFC 6926; 16-18 RFC 7724). Other values are kept as `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    Discover,
    Offer,
    Request,
    Decline,
    Ack,
    Nak,
    Release,
    Inform,
    ForceRenew,
    LeaseQuery,
    LeaseUnassigned,
    LeaseUnknown,
    LeaseActive,
    BulkLeaseQuery,
    LeaseQueryDone,
    ActiveLeaseQuery,
    LeaseQueryStatus,
    Tls,
    Other(u8),
}

const TYPES: [MessageType; 18] = {
    use MessageType::*;
    [
        Discover,
        Offer,
        Request,
        Decline,
        Ack,
        Nak,
        Release,
        Inform,
        ForceRenew,
        LeaseQuery,
        LeaseUnassigned,
        LeaseUnknown,
        LeaseActive,
        BulkLeaseQuery,
        LeaseQueryDone,
        ActiveLeaseQuery,
        LeaseQueryStatus,
        Tls,
    ]
};

impl From<u8> for MessageType {
    fn from(v: u8) -> Self {
        match v {
            1..=18 => TYPES[usize::from(v) - 1],
            x => MessageType::Other(x),
        }
    }
}

impl From<MessageType> for u8 {
    fn from(t: MessageType) -> u8 {
        match t {
            MessageType::Other(x) => x,
            known => TYPES
                .iter()
                .position(|&k| k == known)
                .map_or(0, |i| i as u8 + 1),
        }
    }
}

/// Option overload, option 52 (RFC 2132 §9.3): which header fields carry options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overload {
    /// Value 1.
    File,
    /// Value 2.
    Sname,
    /// Value 3.
    Both,
}

impl Overload {
    pub fn file(self) -> bool {
        matches!(self, Overload::File | Overload::Both)
    }
    pub fn sname(self) -> bool {
        matches!(self, Overload::Sname | Overload::Both)
    }
}

/// How a parsed message's options field was laid out beyond its options, so that
/// re-emitting it reproduces the received bytes. Messages built in code use the default.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Layout {
    /// Pad runs: (index of the option they precede, count); index == len means before END.
    pads: Vec<(usize, usize)>,
    /// The options field ended at the end of the buffer without END.
    end_missing: bool,
    /// Bytes after END, less the trailing zeros that padding to `min_len` regenerates.
    trailer: Vec<u8>,
    /// Emit zero-pads up to this length: [`BOOTP_MIN_LEN`], or a shorter received length.
    min_len: usize,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            pads: Vec::new(),
            end_missing: false,
            trailer: Vec::new(),
            min_len: BOOTP_MIN_LEN,
        }
    }
}

/// A DHCPv4 message. `options` holds every option instance in wire order: the options
/// field, then `file`, then `sname` when overloaded (RFC 2131 §4.1), without pad, end and
/// the overload option itself, which is decoded into `overload`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub header: Header,
    pub options: Vec<DhcpOption>,
    /// Set when the received message used option overload; emit zeroes the fields it
    /// names (their options are in `options`).
    pub overload: Option<Overload>,
    layout: Layout,
}

impl OptionsExt for Message {
    fn opts(&self) -> &[DhcpOption] {
        &self.options
    }
}

/// RFC 2131 §4.1: option 52 is read from the options field only; its (concatenated)
/// value must be one byte, 1, 2 or 3.
fn overload_of(pieces: &[Piece<'_>]) -> Result<Option<Overload>, WireError> {
    let mut it = pieces.iter().filter(|p| p.code == code::OVERLOAD);
    let Some(first) = it.next() else {
        return Ok(None);
    };
    let err = |kind| WireError::new(first.off + 2, Some(u16::from(code::OVERLOAD)), kind);
    let value: Vec<u8> = std::iter::once(first)
        .chain(it)
        .flat_map(|p| p.data.iter().copied())
        .take(2)
        .collect();
    match value[..] {
        [1] => Ok(Some(Overload::File)),
        [2] => Ok(Some(Overload::Sname)),
        [3] => Ok(Some(Overload::Both)),
        [v] => Err(err(ErrorKind::BadOverload(v))),
        _ => {
            let got = pieces
                .iter()
                .filter(|p| p.code == code::OVERLOAD)
                .map(|p| p.data.len())
                .sum();
            Err(err(ErrorKind::BadFixedLength { expected: 1, got }))
        }
    }
}

impl Message {
    /// A message with this header and no options.
    pub fn new(header: Header) -> Self {
        Message {
            header,
            options: Vec::new(),
            overload: None,
            layout: Layout::default(),
        }
    }

    /// Parse a UDP payload. Errors: short buffer, `hlen` over 16, bad magic cookie, an
    /// option running past its area, a bad overload value, or a typed option (see
    /// [`OptionsExt`]) with a bad length or encoding; each names the byte offset and, for
    /// options, the code. Unknown options are kept as they are.
    pub fn parse(buf: &[u8]) -> Result<Self, WireError> {
        let header = Header::parse(buf)?;
        let mut pieces = Vec::new();
        let mut pads = Vec::new();
        let end = walk(
            &buf[OPTIONS_OFFSET..],
            OPTIONS_OFFSET,
            &mut pieces,
            Some(&mut pads),
        )?;
        let in_options_field = pieces.len();
        let overload = overload_of(&pieces)?;
        if let Some(ov) = overload {
            // RFC 2131 §4.1: options field first, then 'file', then 'sname'; each area
            // ends at its own END (a missing one is tolerated as in the options field).
            if ov.file() {
                walk(
                    &buf[FILE_OFFSET..HEADER_LEN],
                    FILE_OFFSET,
                    &mut pieces,
                    None,
                )?;
            }
            if ov.sname() {
                walk(
                    &buf[SNAME_OFFSET..FILE_OFFSET],
                    SNAME_OFFSET,
                    &mut pieces,
                    None,
                )?;
            }
            if let Some(p) = pieces[in_options_field..]
                .iter()
                .find(|p| p.code == code::OVERLOAD)
            {
                let c = Some(u16::from(code::OVERLOAD));
                return Err(WireError::new(p.off, c, ErrorKind::MisplacedOverload));
            }
            // Pad indices count options; the overload option is not kept as one. Pads
            // are in wire order, so one pass keeps this linear.
            let (mut seen, mut dropped) = (0, 0);
            for (idx, _) in pads.iter_mut() {
                while seen < *idx {
                    dropped += usize::from(pieces[seen].code == code::OVERLOAD);
                    seen += 1;
                }
                *idx -= dropped;
            }
        }
        check_all(&pieces)?;

        let min_len = buf.len().min(BOOTP_MIN_LEN);
        let trailer = match end {
            Some(e) => {
                let start = OPTIONS_OFFSET + e + 1;
                let mut stop = buf.len();
                while stop > start && stop <= min_len && buf[stop - 1] == 0 {
                    stop -= 1;
                }
                buf[start..stop].to_vec()
            }
            None => Vec::new(),
        };
        Ok(Message {
            header,
            options: pieces
                .iter()
                .filter(|p| p.code != code::OVERLOAD)
                .map(|p| DhcpOption::new(p.code, p.data))
                .collect(),
            overload,
            layout: Layout {
                pads,
                end_missing: end.is_none(),
                trailer,
                min_len,
            },
        })
    }

    /// Codes of the options present whose value fails this codec's length rules (RFC 2132),
    /// in order of first appearance. They read as absent; the parse did not fail for them
    /// because none [`decides_the_answer`](super::option::decides_the_answer).
    pub fn malformed_options(&self) -> Vec<u8> {
        let mut seen = [false; 256];
        let mut out = Vec::new();
        for o in &self.options {
            if !std::mem::replace(&mut seen[usize::from(o.code)], true)
                && o.code != code::OVERLOAD
                && self
                    .value(o.code)
                    .is_some_and(|v| super::option::check(o.code, &v).is_err())
            {
                out.push(o.code);
            }
        }
        out
    }

    /// True if the options field had no END and simply ran to the end of the buffer.
    /// RFC 2131 §4.1 requires END, but a message is accepted without it: a truncated TLV
    /// is still an error, so nothing is lost, and emitting it again omits END likewise.
    pub fn end_missing(&self) -> bool {
        self.layout.end_missing
    }

    pub fn push(&mut self, o: DhcpOption) -> &mut Self {
        self.options.push(o);
        self
    }

    /// The `sname` string, unless overload put options there.
    pub fn server_name(&self) -> Option<&[u8]> {
        (!self.overload.is_some_and(Overload::sname)).then(|| self.header.sname_bytes())
    }

    /// The `file` string, unless overload put options there.
    pub fn boot_file_name(&self) -> Option<&[u8]> {
        (!self.overload.is_some_and(Overload::file)).then(|| self.header.file_bytes())
    }

    /// Exact length [`Message::emit_into`] appends.
    pub fn emitted_len(&self) -> usize {
        let l = &self.layout;
        let opts: usize = self.options.iter().map(DhcpOption::emitted_len).sum();
        let pads: usize = l.pads.iter().map(|&(_, n)| n).sum();
        let len = OPTIONS_OFFSET + opts + pads + usize::from(!l.end_missing) + l.trailer.len();
        len.max(l.min_len)
    }

    /// Append the message: header, cookie, options in `options` order (values over 255
    /// bytes split, RFC 3396), END, then zeros up to 300 bytes (RFC 951 §3, RFC 1542 §2.1).
    /// A parsed message comes out byte for byte as received, pads and trailing bytes
    /// included, unless it used overload: overload is never emitted, all options go into
    /// the options field and the overloaded `sname`/`file` fields are zeroed.
    pub fn emit_into(&self, out: &mut Vec<u8>) {
        out.reserve(self.emitted_len());
        let start = out.len();
        self.header.emit_into(out);
        if let Some(ov) = self.overload {
            if ov.sname() {
                out[start + SNAME_OFFSET..start + FILE_OFFSET].fill(0);
            }
            if ov.file() {
                out[start + FILE_OFFSET..start + HEADER_LEN].fill(0);
            }
        }
        let mut pads = self.layout.pads.iter().peekable();
        for (i, o) in self.options.iter().enumerate() {
            while let Some(&(_, n)) = pads.next_if(|&&(idx, _)| idx <= i) {
                out.resize(out.len() + n, code::PAD);
            }
            o.emit_into(out);
        }
        for &(_, n) in pads {
            out.resize(out.len() + n, code::PAD);
        }
        if !self.layout.end_missing {
            out.push(code::END);
        }
        out.extend_from_slice(&self.layout.trailer);
        if out.len() < start + self.layout.min_len {
            out.resize(start + self.layout.min_len, 0);
        }
    }

    pub fn emit(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.emitted_len());
        self.emit_into(&mut v);
        v
    }

    /// Start a reply to this request (RFC 2131 §4.3.1 table 3); see [`ReplyBuilder`].
    pub fn reply(&self, msg_type: MessageType) -> ReplyBuilder<'_> {
        let r = &self.header;
        let header = Header {
            op: BOOTREPLY,
            htype: r.htype,
            hlen: r.hlen,
            // Table 3: hops 0 and secs 0 in every reply.
            hops: 0,
            xid: r.xid,
            secs: 0,
            // Table 3: 'ciaddr' from the DHCPREQUEST in a DHCPACK, else 0.
            ciaddr: if msg_type == MessageType::Ack {
                r.ciaddr
            } else {
                Ipv4Addr::UNSPECIFIED
            },
            flags: r.flags,
            giaddr: r.giaddr,
            chaddr: r.chaddr,
            ..Header::default()
        };
        let mut reply = Message::new(header);
        reply.push(DhcpOption::message_type(msg_type));
        ReplyBuilder {
            request: self,
            reply,
        }
    }
}

/// A reply under construction: header fields copied per RFC 2131 §4.3.1 table 3
/// (op BOOTREPLY; htype, hlen, xid, flags, giaddr, chaddr from the request; hops, secs,
/// yiaddr, siaddr, sname, file zero), option 53 first, then options in the order given.
/// [`ReplyBuilder::build`] appends the request's option 82 instances unchanged (RFC 3046
/// §2.2: echoed verbatim, as the last option). Client identifier echo (RFC 6842) is the
/// caller's to add.
#[derive(Debug, Clone)]
pub struct ReplyBuilder<'a> {
    request: &'a Message,
    reply: Message,
}

impl ReplyBuilder<'_> {
    pub fn yiaddr(mut self, a: Ipv4Addr) -> Self {
        self.reply.header.yiaddr = a;
        self
    }
    pub fn siaddr(mut self, a: Ipv4Addr) -> Self {
        self.reply.header.siaddr = a;
        self
    }
    /// Any other header field (e.g. `sname`, `file`).
    pub fn header_mut(&mut self) -> &mut Header {
        &mut self.reply.header
    }
    pub fn option(mut self, o: DhcpOption) -> Self {
        self.reply.options.push(o);
        self
    }
    pub fn build(mut self) -> Message {
        let echo = self
            .request
            .options
            .iter()
            .filter(|o| o.code == code::RELAY_AGENT_INFO);
        self.reply.options.extend(echo.cloned());
        self.reply
    }
}
