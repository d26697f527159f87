//! Lease fixtures shared by the store tests.
#![allow(dead_code)]

use std::net::{Ipv4Addr, Ipv6Addr};

use tandem_core::{BindingStatus, Duid, FailoverFields, Lease, Resource, Time};

pub fn address(n: u32) -> Resource {
    Resource::Address(Ipv6Addr::from(
        0x2001_0db8_0000_0000_0000_0000_0000_0000u128 | u128::from(n),
    ))
}

/// A DHCPv4 address in 10.0.0.0/8.
pub fn v4_address(n: u32) -> Resource {
    Resource::V4Address(Ipv4Addr::from(0x0a00_0000 | (n & 0x00ff_ffff)))
}

pub fn prefix(n: u16) -> Resource {
    let base = 0x2001_0db8_0100_0000_0000_0000_0000_0000u128 | (u128::from(n) << 72);
    Resource::Prefix(ipnet::Ipv6Net::new(Ipv6Addr::from(base), 56).expect("valid /56"))
}

pub fn lease(resource: Resource, client: u32) -> Lease {
    Lease {
        resource,
        status: BindingStatus::Active,
        duid: Duid(client.to_be_bytes().to_vec()),
        hw_address: Vec::new(),
        iaid: client.wrapping_mul(7),
        subnet_id: 3,
        preferred_lifetime: 3000,
        valid_lifetime: 4000,
        t1: 1500,
        t2: 2400,
        cltt: Time(1_800_000_000 + u64::from(client)),
        start_time_of_state: Time(1_800_000_000),
        state_expiration: Some(Time(1_800_004_000)),
        failover: FailoverFields::default(),
    }
}

/// A lease with every optional field set, to catch a column that is not round-tripped.
pub fn full_lease(resource: Resource) -> Lease {
    Lease {
        status: BindingStatus::FreeBackup,
        failover: FailoverFields {
            expiration_time: Some(Time(1_800_000_101)),
            acked_partner_lifetime: Some(Time(1_800_000_102)),
            partner_lifetime: Some(Time(1_800_000_103)),
            partner_raw_cltt: Some(Time(1_800_000_104)),
            update_pending: true,
        },
        ..lease(resource, 42)
    }
}

/// A DHCPv4 lease of `client` as the DHCPv4 server records one: keyed by a client
/// identifier (RFC 2131 §4.2), with the hardware type and chaddr apart (RFC 2131 §2), no
/// IA (iaid 0) and no preferred lifetime.
pub fn v4_lease(resource: Resource, client: u32) -> Lease {
    let mac = [0x02, 0x00, 0x5e, 0x10, (client >> 8) as u8, client as u8];
    let mut client_id = vec![0xff]; // RFC 4361: type 255, IAID + DUID
    client_id.extend(client.to_be_bytes());
    client_id.extend([0, 3, 0, 1]);
    client_id.extend(mac);
    let mut hw_address = vec![1]; // htype 1, Ethernet
    hw_address.extend(mac);
    Lease {
        duid: Duid(client_id),
        hw_address,
        iaid: 0,
        preferred_lifetime: 0,
        t1: 2000,
        t2: 3500,
        ..lease(resource, client)
    }
}

/// A DHCPv4 lease with every optional field set (failover ones too: DHCPv4 failover will
/// keep its own per-lease state in the same record).
pub fn full_v4_lease(resource: Resource) -> Lease {
    Lease {
        status: BindingStatus::Released,
        failover: FailoverFields {
            expiration_time: Some(Time(1_800_000_201)),
            acked_partner_lifetime: Some(Time(1_800_000_202)),
            partner_lifetime: Some(Time(1_800_000_203)),
            partner_raw_cltt: Some(Time(1_800_000_204)),
            update_pending: true,
        },
        ..v4_lease(resource, 77)
    }
}
