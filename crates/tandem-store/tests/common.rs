//! Lease fixtures shared by the store tests.
#![allow(dead_code)]

use std::net::Ipv6Addr;

use tandem_core::{BindingStatus, Duid, FailoverFields, Lease, Resource, Time};

pub fn address(n: u32) -> Resource {
    Resource::Address(Ipv6Addr::from(
        0x2001_0db8_0000_0000_0000_0000_0000_0000u128 | u128::from(n),
    ))
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
