//! Precise decode errors: which option, which byte offset, and why.

/// Why a decode failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    #[error("truncated header: need {need} bytes, have {have}")]
    TruncatedHeader { need: usize, have: usize },
    #[error("length {len} runs past the end ({available} bytes available)")]
    LengthPastEnd { len: usize, available: usize },
    #[error("bad fixed length: expected {expected}, got {got}")]
    BadFixedLength { expected: usize, got: usize },
    #[error("length {got} below minimum {min}")]
    TooShort { min: usize, got: usize },
    #[error("length {got} is not a multiple of {unit}")]
    NotMultiple { unit: usize, got: usize },
    #[error("bad DNS name label")]
    BadNameLabel,
    #[error("invalid UTF-8 or NUL in text")]
    BadText,
    #[error("prefix length {0} greater than 128")]
    BadPrefixLength(u8),
    #[error("nesting too deep")]
    NestingTooDeep,
    #[error("relay hop count {0} exceeds HOP_COUNT_LIMIT 32")]
    HopCountTooHigh(u8),
    #[error("unexpected message type {0}")]
    BadMessageType(u8),
    #[error("relay message lacks a Relay Message option")]
    MissingRelayMessage,
    #[error("frame length zero")]
    EmptyFrame,
    #[error("frame length {len} exceeds maximum {max}")]
    FrameTooLarge { len: usize, max: usize },
    #[error("bad magic cookie {0:?}, expected [99, 130, 83, 99]")]
    BadMagicCookie([u8; 4]),
    #[error("hardware address length {0} greater than 16")]
    HardwareAddressTooLong(u8),
    #[error("option overload value {0} is not 1, 2 or 3")]
    BadOverload(u8),
    #[error("option overload outside the options field")]
    MisplacedOverload,
    #[error("classless route prefix length {0} greater than 32")]
    BadRoutePrefix(u8),
    #[error("message length {len} below minimum {min}")]
    FrameTooShort { len: usize, min: usize },
    #[error("message length field says {len} bytes, buffer holds {have}")]
    FrameLengthMismatch { len: usize, have: usize },
    #[error("payload offset {offset} outside 12..={len} (message length {len})")]
    BadPayloadOffset { offset: u8, len: usize },
    #[error("option appears more than once")]
    DuplicateOption,
    #[error("message digest is not the last option")]
    DigestNotLast,
}

/// A decode error. `offset` is relative to the start of the buffer handed to the
/// top-level parser; `option` is the innermost option code being decoded, if any.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at byte {offset}{}", match .option { Some(c) => format!(" (option {c})"), None => String::new() })]
pub struct WireError {
    pub offset: usize,
    pub option: Option<u16>,
    pub kind: ErrorKind,
}

impl WireError {
    pub fn new(offset: usize, option: Option<u16>, kind: ErrorKind) -> Self {
        WireError {
            offset,
            option,
            kind,
        }
    }
}
