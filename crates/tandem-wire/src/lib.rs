//! tandem-wire: DHCPv4 (RFC 2131/2132), DHCPv6 (RFC 8415), DHCPv6 failover (RFC 8156) and
//! DHCPv4 failover (draft-ietf-dhc-failover-12 as ISC dhcpd 4.4 speaks it) codecs. No I/O,
//! no panics.
//!
//! # Why a hand-written codec
//! We do not use `dhcproto`. For DHCPv6 it decodes relayed messages wrongly, miscounts
//! option lengths, silently drops malformed options and can panic on hostile input. For
//! DHCPv4 it stores option 37 under code 23, stops silently at the first malformed option,
//! overwrites non-adjacent repeated options instead of concatenating them (RFC 3396),
//! reorders option 82's sub-options (RFC 3046 requires an unchanged echo), does not check
//! the magic cookie and panics debug builds on option 152 of length 0. A
//! DHCP server's parser is its attack surface, so this crate owns it: every length is
//! checked, every error says which option, which byte offset and why ([`WireError`]),
//! unknown options are kept and re-emitted byte-for-byte, nesting is bounded
//! ([`v6::MAX_OPTION_DEPTH`], [`v6::HOP_COUNT_LIMIT`]), and `parse(emit(x)) == x` is
//! property-tested and fuzzed (see `fuzz/`).
//!
//! - [`v4`]: BOOTP header, options kept raw in wire order with typed views, RFC 3396 long
//!   options, option overload, option 82 echo, server replies; a parsed message re-emits
//!   byte for byte (overloaded messages are re-emitted without overload).
//! - [`v6`]: messages, relay messages and relay chains, the shared option TLV layer.
//! - [`failover`]: RFC 8156 framing, header and typed views; its options live in the
//!   same [`v6::DhcpOption`] enum so there is exactly one TLV walker.
//! - [`dhcpfo`]: DHCPv4 failover (draft-ietf-dhc-failover-12, the dialect of ISC dhcpd 4.4):
//!   TCP stream de-framer, typed messages with dhcpd's allow-lists and wire order, RFC 3074
//!   load-balancing hash and hash bucket assignment. A separate protocol from [`failover`].
#![deny(unsafe_code)]

pub mod dhcpfo;
pub mod error;
pub mod failover;
pub mod v4;
pub mod v6;

pub use error::{ErrorKind, WireError};
