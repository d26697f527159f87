//! RFC 1035 §3.1 uncompressed wire names (used by RFC 8415 §10 / §21.16 Domain List).

use crate::error::ErrorKind;

/// Decode one name from the front of `data`; returns (dotted name, bytes consumed).
/// Compression pointers are rejected (RFC 8415 §10: no compression).
pub fn decode_name(data: &[u8]) -> Result<(String, usize), ErrorKind> {
    let mut labels: Vec<String> = Vec::new();
    let mut pos = 0usize;
    loop {
        let len = *data.get(pos).ok_or(ErrorKind::BadNameLabel)? as usize;
        pos += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return Err(ErrorKind::BadNameLabel);
        }
        let label = data.get(pos..pos + len).ok_or(ErrorKind::BadNameLabel)?;
        // Labels with '.' or non-printable bytes cannot round-trip through dotted text.
        if label.iter().any(|b| *b == b'.' || !b.is_ascii_graphic()) {
            return Err(ErrorKind::BadNameLabel);
        }
        labels.push(String::from_utf8_lossy(label).into_owned());
        pos += len;
        if pos > 255 {
            return Err(ErrorKind::BadNameLabel);
        }
    }
    Ok((labels.join("."), pos))
}

/// Encode a dotted name ("example.com", no trailing dot needed) as wire labels.
/// Empty labels are skipped; "" encodes the root.
pub fn encode_name(name: &str, out: &mut Vec<u8>) {
    for label in name.split('.').filter(|l| !l.is_empty()) {
        let bytes = &label.as_bytes()[..label.len().min(63)];
        out.push(bytes.len() as u8);
        out.extend_from_slice(bytes);
    }
    out.push(0);
}

/// Is `name` encodable so that decode(encode(name)) == name?
pub fn is_valid_name(name: &str) -> bool {
    if name.is_empty() {
        return true;
    }
    name.len() <= 253
        && name
            .split('.')
            .all(|l| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_graphic()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1035_3_1_name_round_trip() {
        let mut v = Vec::new();
        encode_name("example.com", &mut v);
        assert_eq!(v, b"\x07example\x03com\x00");
        assert_eq!(decode_name(&v).unwrap(), ("example.com".into(), 13));
    }

    #[test]
    fn rfc8415_10_compression_pointer_rejected() {
        assert_eq!(decode_name(b"\xc0\x0c"), Err(ErrorKind::BadNameLabel));
        assert_eq!(decode_name(b"\x03ab"), Err(ErrorKind::BadNameLabel));
    }
}
