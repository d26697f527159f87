//! tandem-wire: DHCPv6 (RFC 8415) and DHCPv6 failover (RFC 8156) codecs. No I/O, no panics.
#![deny(unsafe_code)]
