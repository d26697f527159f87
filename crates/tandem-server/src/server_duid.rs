//! The server's own DUID (RFC 8415 §11): made once, then kept in the lease database.
//!
//! Clients remember which server gave them their leases by this DUID, so it must not
//! change across restarts: the driver's caller loads it from the store's metadata, and
//! only when there is none generates one here and stores it before serving.

use std::io::Read;

use tandem_core::Time;

/// Key under which the server DUID is kept in the store's metadata.
pub const META_KEY: &str = "server_duid";

/// RFC 8415 §11.2: DUID-LLT for an Ethernet interface (hardware type 1), with the time in
/// seconds since 2000-01-01 UTC modulo 2^32.
pub fn duid_llt(now: Time, mac: [u8; 6]) -> Vec<u8> {
    let mut d = Vec::with_capacity(14);
    d.extend_from_slice(&1u16.to_be_bytes()); // DUID-LLT
    d.extend_from_slice(&1u16.to_be_bytes()); // hardware type: Ethernet
    d.extend_from_slice(&now.to_failover().to_be_bytes());
    d.extend_from_slice(&mac);
    d
}

/// RFC 6355: DUID-UUID (type 4) from 16 random octets, made a version-4 UUID.
pub fn duid_uuid(mut uuid: [u8; 16]) -> Vec<u8> {
    uuid[6] = (uuid[6] & 0x0f) | 0x40;
    uuid[8] = (uuid[8] & 0x3f) | 0x80;
    let mut d = Vec::with_capacity(18);
    d.extend_from_slice(&4u16.to_be_bytes());
    d.extend_from_slice(&uuid);
    d
}

/// The Ethernet address of `ifname` from sysfs, unless it has none (or only zeros, as lo).
pub fn interface_mac(ifname: &str) -> Option<[u8; 6]> {
    let text = std::fs::read_to_string(format!("/sys/class/net/{ifname}/address")).ok()?;
    let bytes: Vec<u8> = text
        .trim()
        .split(':')
        .map(|b| u8::from_str_radix(b, 16))
        .collect::<Result<_, _>>()
        .ok()?;
    let mac: [u8; 6] = bytes.try_into().ok()?;
    (mac != [0; 6]).then_some(mac)
}

/// A fresh DUID: DUID-LLT from the first of `interfaces` with an Ethernet address,
/// else DUID-UUID from the kernel's random source.
pub fn generate(now: Time, interfaces: &[String]) -> std::io::Result<Vec<u8>> {
    if let Some(mac) = interfaces.iter().find_map(|i| interface_mac(i)) {
        return Ok(duid_llt(now, mac));
    }
    let mut uuid = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut uuid)?;
    Ok(duid_uuid(uuid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duid_llt_layout_rfc8415_11_2() {
        // 2000-01-01 + 1 s, MAC 02:00:00:00:00:01.
        let d = duid_llt(Time(946_684_801), [2, 0, 0, 0, 0, 1]);
        assert_eq!(d, vec![0, 1, 0, 1, 0, 0, 0, 1, 2, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn duid_uuid_layout_rfc6355() {
        let d = duid_uuid([0xff; 16]);
        assert_eq!(d.len(), 18);
        assert_eq!(&d[..2], &[0, 4]);
        assert_eq!(d[2 + 6] >> 4, 4, "version 4");
        assert_eq!(d[2 + 8] >> 6, 0b10, "RFC 4122 variant");
    }

    #[test]
    fn loopback_has_no_mac_so_a_uuid_duid_is_made() {
        assert_eq!(interface_mac("lo"), None);
        let a = generate(Time(0), &["lo".to_string()]).unwrap();
        let b = generate(Time(0), &["lo".to_string()]).unwrap();
        assert_eq!(&a[..2], &[0, 4]);
        assert_ne!(a, b, "random each time");
    }
}
