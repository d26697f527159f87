//! The failover byte streams of a real ISC dhcpd 4.4.3-P1 pair, captured for tandem-wire's
//! codec tests (crates/tandem-wire/tests/vectors/README.md), for tests of the layers above.

use tandem_wire::dhcpfo::{take_message, Message};

fn unhex(s: &str) -> Vec<u8> {
    let s: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    s.chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// Every message the dhcpd primary sent (relationship "test", `split 128`, MCLT 60), with
/// its bytes.
pub fn dhcpd_primary() -> Vec<(Message, Vec<u8>)> {
    messages(include_str!(
        "../../tandem-wire/tests/vectors/dhcpd44_failover_primary.hex"
    ))
}

/// Every message the dhcpd secondary sent.
pub fn dhcpd_secondary() -> Vec<(Message, Vec<u8>)> {
    messages(include_str!(
        "../../tandem-wire/tests/vectors/dhcpd44_failover_secondary.hex"
    ))
}

fn messages(hex: &str) -> Vec<(Message, Vec<u8>)> {
    let bytes = unhex(hex);
    let mut rest = &bytes[..];
    let mut out = Vec::new();
    while let Some((raw, used)) = take_message(rest).expect("the capture frames") {
        out.push((Message::decode(raw).expect("decodes").message, raw.to_vec()));
        rest = &rest[used..];
    }
    out
}
