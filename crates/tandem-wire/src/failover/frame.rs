//! RFC 8156 §5.1 / RFC 5460 §5.1 framing: u16 big-endian length, then the message.

use crate::error::{ErrorKind, WireError};

/// Largest message a 2-byte length can describe.
pub const MAX_FRAME_LEN: usize = u16::MAX as usize;

/// Prefix `msg` with its length. Returns None if it does not fit or is empty.
pub fn encode_frame(msg: &[u8]) -> Option<Vec<u8>> {
    if msg.is_empty() || msg.len() > MAX_FRAME_LEN {
        return None;
    }
    let mut v = Vec::with_capacity(msg.len() + 2);
    v.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    v.extend_from_slice(msg);
    Some(v)
}

/// Decode one frame from the front of `buf`: `Ok(None)` when more bytes are needed,
/// `Ok(Some((payload, consumed)))` otherwise. Zero length or more than `max_len` is an error.
pub fn decode_frame(buf: &[u8], max_len: usize) -> Result<Option<(&[u8], usize)>, WireError> {
    let Some(h) = buf.get(..2) else {
        return Ok(None);
    };
    let len = u16::from_be_bytes([h[0], h[1]]) as usize;
    if len == 0 {
        return Err(WireError::new(0, None, ErrorKind::EmptyFrame));
    }
    if len > max_len {
        return Err(WireError::new(
            0,
            None,
            ErrorKind::FrameTooLarge { len, max: max_len },
        ));
    }
    Ok(buf.get(2..2 + len).map(|p| (p, 2 + len)))
}
