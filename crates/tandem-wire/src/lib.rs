//! tandem-wire: DHCPv6 (RFC 8415) and DHCPv6 failover (RFC 8156) codecs. No I/O, no panics.
//!
//! # Why a hand-written codec
//! We do not use `dhcproto` for DHCPv6: it decodes relayed messages wrongly, miscounts
//! option lengths, silently drops malformed options and can panic on hostile input. A
//! DHCP server's parser is its attack surface, so this crate owns it: every length is
//! checked, every error says which option, which byte offset and why ([`WireError`]),
//! unknown options are kept and re-emitted byte-for-byte, nesting is bounded
//! ([`v6::MAX_OPTION_DEPTH`], [`v6::HOP_COUNT_LIMIT`]), and `parse(emit(x)) == x` is
//! property-tested and fuzzed (see `fuzz/`).
//!
//! - [`v6`]: messages, relay messages and relay chains, the shared option TLV layer.
//! - [`failover`]: RFC 8156 framing, header and typed views; its options live in the
//!   same [`v6::DhcpOption`] enum so there is exactly one TLV walker.
#![deny(unsafe_code)]

pub mod error;
pub mod failover;
pub mod v6;

pub use error::{ErrorKind, WireError};
