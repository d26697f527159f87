//! Framing on the TCP stream (draft-ietf-dhc-failover-12 §6.1): every message starts with a
//! two-byte length that counts itself, 12..=2048. A length outside that range means the
//! stream cannot be resynchronised: ISC dhcpd 4.4 drops the connection, and so must we.

use crate::error::{ErrorKind, WireError};

use super::message::{Decoded, Message};

/// Smallest message: the 12-byte fixed header (draft-ietf-dhc-failover-12 §6.1).
pub const MIN_MESSAGE_LEN: usize = 12;
/// Largest message (draft-ietf-dhc-failover-12 §6.1; dhcpd's
/// `DHCP_FAILOVER_MAX_MESSAGE_SIZE`).
pub const MAX_MESSAGE_LEN: usize = 2048;

/// The length a message announces in its first two bytes, checked against 12..=2048;
/// `Ok(None)` until two bytes are there.
pub fn message_len(buf: &[u8]) -> Result<Option<usize>, WireError> {
    let Some(h) = buf.get(..2) else {
        return Ok(None);
    };
    let len = usize::from(u16::from_be_bytes([h[0], h[1]]));
    if len < MIN_MESSAGE_LEN {
        let kind = ErrorKind::FrameTooShort {
            len,
            min: MIN_MESSAGE_LEN,
        };
        return Err(WireError::new(0, None, kind));
    }
    if len > MAX_MESSAGE_LEN {
        let kind = ErrorKind::FrameTooLarge {
            len,
            max: MAX_MESSAGE_LEN,
        };
        return Err(WireError::new(0, None, kind));
    }
    Ok(Some(len))
}

/// Split one whole message (length field included) off the front of `buf`:
/// `Ok(None)` when more bytes are needed, else `Ok(Some((message, consumed)))`.
pub fn take_message(buf: &[u8]) -> Result<Option<(&[u8], usize)>, WireError> {
    Ok(message_len(buf)?.and_then(|len| buf.get(..len).map(|m| (m, len))))
}

/// A stream de-framer for one TCP connection: feed it what `read` returned, take whole
/// decoded messages out. The first error is sticky: the stream is unusable after it and
/// the connection must be closed (ISC dhcpd 4.4 behaviour for every framing or protocol
/// error).
#[derive(Debug, Default)]
pub struct Deframer {
    buf: Vec<u8>,
    failed: Option<WireError>,
}

impl Deframer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Append bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_none() {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// Bytes held that do not yet make a whole message.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next whole message's raw bytes (length field included), undecoded.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, WireError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match take_message(&self.buf) {
            Ok(Some((_, used))) => Ok(Some(self.buf.drain(..used).collect())),
            Ok(None) => Ok(None),
            Err(e) => {
                self.failed = Some(e.clone());
                self.buf.clear();
                Err(e)
            }
        }
    }

    /// The next whole message, decoded (see [`Message::decode`]).
    pub fn next_message(&mut self) -> Result<Option<Decoded>, WireError> {
        let Some(frame) = self.next_frame()? else {
            return Ok(None);
        };
        Message::decode(&frame).map(Some).inspect_err(|e| {
            self.failed = Some(e.clone());
            self.buf.clear();
        })
    }
}
