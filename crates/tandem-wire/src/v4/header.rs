//! The fixed BOOTP header (RFC 951, RFC 2131 §2 figure 1) and the DHCP magic cookie
//! (RFC 2131 §3).

use std::net::Ipv4Addr;

use crate::error::{ErrorKind, WireError};

/// Fixed header length: op .. file (RFC 2131 §2, figure 1).
pub const HEADER_LEN: usize = 236;
/// RFC 2131 §3: the first four octets of the options field are 99, 130, 83, 99.
pub const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
/// Where the options field starts: header plus magic cookie. Also the smallest message
/// this codec accepts.
pub const OPTIONS_OFFSET: usize = HEADER_LEN + 4;
/// Offsets of the `sname` (64 bytes) and `file` (128 bytes) fields (RFC 2131 §2).
pub const SNAME_OFFSET: usize = 44;
pub const FILE_OFFSET: usize = 108;
/// RFC 951 §3 sizes the BOOTP packet at 300 bytes (a 64-byte vendor area) and RFC 1542
/// §2.1 makes that the minimum message size, warning that some relay agents drop shorter
/// messages; emitted messages are zero-padded to it.
pub const BOOTP_MIN_LEN: usize = 300;
/// RFC 2131 §2 `op` values.
pub const BOOTREQUEST: u8 = 1;
pub const BOOTREPLY: u8 = 2;
/// RFC 2131 §2 figure 2: the leftmost bit of `flags`.
pub const BROADCAST_FLAG: u16 = 0x8000;
/// `chaddr` is 16 bytes (RFC 2131 §2), so `hlen` can be at most 16.
pub const MAX_HLEN: u8 = 16;

/// The BOOTP/DHCP fixed header. `sname` and `file` are kept verbatim, even when option
/// overload (RFC 2131 §4.1) makes them carry options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub op: u8,
    pub htype: u8,
    pub hlen: u8,
    pub hops: u8,
    pub xid: u32,
    pub secs: u16,
    pub flags: u16,
    pub ciaddr: Ipv4Addr,
    pub yiaddr: Ipv4Addr,
    pub siaddr: Ipv4Addr,
    pub giaddr: Ipv4Addr,
    pub chaddr: [u8; 16],
    pub sname: [u8; 64],
    pub file: [u8; 128],
}

impl Default for Header {
    /// A BOOTREQUEST for a 6-byte Ethernet address (htype 1), everything else zero.
    fn default() -> Self {
        Header {
            op: BOOTREQUEST,
            htype: 1,
            hlen: 6,
            hops: 0,
            xid: 0,
            secs: 0,
            flags: 0,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            chaddr: [0; 16],
            sname: [0; 64],
            file: [0; 128],
        }
    }
}

fn ip_at(b: &[u8], i: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[i], b[i + 1], b[i + 2], b[i + 3])
}

/// Bytes of a NUL-terminated header string field (RFC 2131 §2 "null terminated string").
fn c_str(b: &[u8]) -> &[u8] {
    b.split(|&c| c == 0).next().unwrap_or(b)
}

impl Header {
    /// Decode the header and check the magic cookie: fewer than [`OPTIONS_OFFSET`] bytes,
    /// `hlen` over 16 or a wrong cookie are errors.
    pub fn parse(buf: &[u8]) -> Result<Header, WireError> {
        let b = buf.get(..OPTIONS_OFFSET).ok_or_else(|| {
            WireError::new(
                0,
                None,
                ErrorKind::TruncatedHeader {
                    need: OPTIONS_OFFSET,
                    have: buf.len(),
                },
            )
        })?;
        if b[2] > MAX_HLEN {
            return Err(WireError::new(
                2,
                None,
                ErrorKind::HardwareAddressTooLong(b[2]),
            ));
        }
        let cookie = [b[236], b[237], b[238], b[239]];
        if cookie != MAGIC_COOKIE {
            return Err(WireError::new(
                HEADER_LEN,
                None,
                ErrorKind::BadMagicCookie(cookie),
            ));
        }
        let mut h = Header {
            op: b[0],
            htype: b[1],
            hlen: b[2],
            hops: b[3],
            xid: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            secs: u16::from_be_bytes([b[8], b[9]]),
            flags: u16::from_be_bytes([b[10], b[11]]),
            ciaddr: ip_at(b, 12),
            yiaddr: ip_at(b, 16),
            siaddr: ip_at(b, 20),
            giaddr: ip_at(b, 24),
            ..Header::default()
        };
        h.chaddr.copy_from_slice(&b[28..SNAME_OFFSET]);
        h.sname.copy_from_slice(&b[SNAME_OFFSET..FILE_OFFSET]);
        h.file.copy_from_slice(&b[FILE_OFFSET..HEADER_LEN]);
        Ok(h)
    }

    /// Append the 236 header bytes and the magic cookie.
    pub fn emit_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.op, self.htype, self.hlen, self.hops]);
        out.extend_from_slice(&self.xid.to_be_bytes());
        out.extend_from_slice(&self.secs.to_be_bytes());
        out.extend_from_slice(&self.flags.to_be_bytes());
        for a in [self.ciaddr, self.yiaddr, self.siaddr, self.giaddr] {
            out.extend_from_slice(&a.octets());
        }
        out.extend_from_slice(&self.chaddr);
        out.extend_from_slice(&self.sname);
        out.extend_from_slice(&self.file);
        out.extend_from_slice(&MAGIC_COOKIE);
    }

    /// The BROADCAST bit of `flags` (RFC 2131 §2 figure 2, §4.1).
    pub fn broadcast(&self) -> bool {
        self.flags & BROADCAST_FLAG != 0
    }

    pub fn set_broadcast(&mut self, on: bool) {
        if on {
            self.flags |= BROADCAST_FLAG;
        } else {
            self.flags &= !BROADCAST_FLAG;
        }
    }

    /// The first `hlen` bytes of `chaddr` (clamped to 16 for hand-built headers).
    pub fn client_hw_addr(&self) -> &[u8] {
        &self.chaddr[..usize::from(self.hlen.min(MAX_HLEN))]
    }

    /// Set `chaddr` and `hlen` from `addr`; returns false (and changes nothing) if `addr`
    /// is longer than 16 bytes.
    pub fn set_client_hw_addr(&mut self, addr: &[u8]) -> bool {
        if addr.len() > usize::from(MAX_HLEN) {
            return false;
        }
        self.chaddr = [0; 16];
        self.chaddr[..addr.len()].copy_from_slice(addr);
        self.hlen = addr.len() as u8;
        true
    }

    /// `sname` up to its first NUL (meaningless when overload puts options there).
    pub fn sname_bytes(&self) -> &[u8] {
        c_str(&self.sname)
    }

    /// `file` up to its first NUL (meaningless when overload puts options there).
    pub fn file_bytes(&self) -> &[u8] {
        c_str(&self.file)
    }
}
