//! Relay Agent Information option 82 (RFC 3046 §2.0): a sequence of sub-options, each a
//! code, a length and data. The value is kept exactly as received: RFC 3046 §2.2 has the
//! server echo it unchanged, so sub-options are only ever iterated, never reordered.

use std::borrow::Cow;
use std::net::Ipv4Addr;

use super::option::code::RELAY_AGENT_INFO;
use crate::error::{ErrorKind, WireError};

/// Sub-option codes.
pub mod sub_code {
    /// RFC 3046 §3.1.
    pub const CIRCUIT_ID: u8 = 1;
    /// RFC 3046 §3.2.
    pub const REMOTE_ID: u8 = 2;
    /// RFC 3527 §3: the subnet the client is on, when giaddr cannot say it.
    pub const LINK_SELECTION: u8 = 5;
    /// RFC 3993.
    pub const SUBSCRIBER_ID: u8 = 6;
    /// RFC 5107.
    pub const SERVER_ID_OVERRIDE: u8 = 11;
}

/// One sub-option, borrowed from the option value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubOption<'a> {
    pub code: u8,
    pub data: &'a [u8],
}

/// A checked option 82 value (concatenated per RFC 3396 if it was split).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayAgentInfo<'a> {
    raw: Cow<'a, [u8]>,
}

/// Check sub-option framing; errors carry the offset within `raw`.
pub(crate) fn check(raw: &[u8]) -> Result<(), (usize, ErrorKind)> {
    let mut pos = 0;
    while pos < raw.len() {
        let Some(&len) = raw.get(pos + 1) else {
            return Err((pos, ErrorKind::TruncatedHeader { need: 2, have: 1 }));
        };
        let len = usize::from(len);
        let available = raw.len() - pos - 2;
        if len > available {
            return Err((pos, ErrorKind::LengthPastEnd { len, available }));
        }
        // RFC 3527 §3: link selection is exactly one IPv4 address.
        if raw[pos] == sub_code::LINK_SELECTION && len != 4 {
            return Err((
                pos + 2,
                ErrorKind::BadFixedLength {
                    expected: 4,
                    got: len,
                },
            ));
        }
        pos += 2 + len;
    }
    Ok(())
}

impl<'a> RelayAgentInfo<'a> {
    /// Check an option 82 value; error offsets are relative to `raw[0]`.
    pub fn parse(raw: impl Into<Cow<'a, [u8]>>) -> Result<Self, WireError> {
        let raw = raw.into();
        check(&raw)
            .map_err(|(off, kind)| WireError::new(off, Some(u16::from(RELAY_AGENT_INFO)), kind))?;
        Ok(RelayAgentInfo { raw })
    }

    /// The value exactly as received, for echoing.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// Sub-options in wire order.
    pub fn sub_options(&self) -> SubOptions<'_> {
        SubOptions { rest: &self.raw }
    }

    /// Data of the first sub-option with this code.
    pub fn get(&self, code: u8) -> Option<&[u8]> {
        self.sub_options().find(|s| s.code == code).map(|s| s.data)
    }

    pub fn circuit_id(&self) -> Option<&[u8]> {
        self.get(sub_code::CIRCUIT_ID)
    }

    pub fn remote_id(&self) -> Option<&[u8]> {
        self.get(sub_code::REMOTE_ID)
    }

    /// RFC 3527 link selection sub-option (length checked by [`RelayAgentInfo::parse`]).
    pub fn link_selection(&self) -> Option<Ipv4Addr> {
        let d: [u8; 4] = self.get(sub_code::LINK_SELECTION)?.try_into().ok()?;
        Some(Ipv4Addr::from(d))
    }
}

/// Iterator over the sub-options of a checked value.
#[derive(Debug, Clone)]
pub struct SubOptions<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for SubOptions<'a> {
    type Item = SubOption<'a>;

    fn next(&mut self) -> Option<SubOption<'a>> {
        let (&code, tail) = self.rest.split_first()?;
        let (&len, tail) = tail.split_first()?;
        let data = tail.get(..usize::from(len))?;
        self.rest = &tail[usize::from(len)..];
        Some(SubOption { code, data })
    }
}
