//! Classless Static Route option 121 (RFC 3442): each route is a mask width, the
//! significant octets of the destination (width / 8 rounded up) and a router address.

use std::net::Ipv4Addr;

use crate::error::ErrorKind;

/// One RFC 3442 route. Build with [`ClasslessRoute::new`], which clears the destination's
/// bits beyond `prefix_len` (they are not on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClasslessRoute {
    pub destination: Ipv4Addr,
    pub prefix_len: u8,
    pub router: Ipv4Addr,
}

fn mask(prefix_len: u8) -> u32 {
    match prefix_len {
        0 => 0,
        p => u32::MAX << (32 - u32::from(p.min(32))),
    }
}

impl ClasslessRoute {
    /// `None` if `prefix_len` is over 32.
    pub fn new(destination: Ipv4Addr, prefix_len: u8, router: Ipv4Addr) -> Option<Self> {
        (prefix_len <= 32).then(|| ClasslessRoute {
            destination: Ipv4Addr::from(u32::from(destination) & mask(prefix_len)),
            prefix_len,
            router,
        })
    }

    /// Number of significant destination octets for this width (RFC 3442 table).
    fn significant(prefix_len: u8) -> usize {
        usize::from(prefix_len).div_ceil(8)
    }
}

/// Decode an option 121 value. Errors carry the offset within `d` of the offending route.
/// RFC 3442 gives the option a minimum length of 5 (one default route).
pub(crate) fn decode(d: &[u8]) -> Result<Vec<ClasslessRoute>, (usize, ErrorKind)> {
    if d.len() < 5 {
        return Err((
            0,
            ErrorKind::TooShort {
                min: 5,
                got: d.len(),
            },
        ));
    }
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(&width) = d.get(pos) {
        if width > 32 {
            return Err((pos, ErrorKind::BadRoutePrefix(width)));
        }
        let sig = ClasslessRoute::significant(width);
        let available = d.len() - pos - 1;
        let body = d.get(pos + 1..pos + 1 + sig + 4).ok_or((
            pos,
            ErrorKind::LengthPastEnd {
                len: sig + 4,
                available,
            },
        ))?;
        let mut dest = [0u8; 4];
        dest[..sig].copy_from_slice(&body[..sig]);
        let r = &body[sig..];
        // Bits past the width inside the last significant octet are not part of the
        // subnet number; they are cleared so equal routes compare equal.
        out.extend(ClasslessRoute::new(
            Ipv4Addr::from(dest),
            width,
            Ipv4Addr::new(r[0], r[1], r[2], r[3]),
        ));
        pos += 1 + sig + 4;
    }
    Ok(out)
}

/// Append the RFC 3442 encoding of `routes` (widths over 32 are written as 32).
pub(crate) fn encode(routes: &[ClasslessRoute], out: &mut Vec<u8>) {
    for r in routes {
        let width = r.prefix_len.min(32);
        let dest = (u32::from(r.destination) & mask(width)).to_be_bytes();
        out.push(width);
        out.extend_from_slice(&dest[..ClasslessRoute::significant(width)]);
        out.extend_from_slice(&r.router.octets());
    }
}
