//! How a lease maps onto a row of the `leases` table, and back.
//!
//! The key is (kind, address, prefix length): a 16-byte address for DHCPv6 resources, a
//! 4-byte one with length 32 for DHCPv4 addresses. Big-endian bytes sort like the
//! addresses themselves, so range scans by prefix stay possible later.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::Ipv6Net;
use rusqlite::types::Value;
use rusqlite::Row;
use tandem_core::{BindingStatus, Duid, FailoverFields, Lease, Resource, Time};

use crate::StoreError;

pub const KIND_ADDRESS: i64 = 0;
pub const KIND_PREFIX: i64 = 1;
/// A DHCPv4 address (schema v3): `addr` is 4 bytes, `plen` 32.
pub const KIND_V4_ADDRESS: i64 = 2;

/// The three key columns of a resource.
pub fn key(resource: &Resource) -> (i64, Vec<u8>, i64) {
    match resource {
        Resource::Address(a) => (KIND_ADDRESS, a.octets().to_vec(), 128),
        Resource::Prefix(p) => (
            KIND_PREFIX,
            p.network().octets().to_vec(),
            i64::from(p.prefix_len()),
        ),
        Resource::V4Address(a) => (KIND_V4_ADDRESS, a.octets().to_vec(), 32),
    }
}

use crate::batch::storable_time as time_value;
use crate::batch::{expiry_from_column, storable_expiry};

fn opt_time_value(t: Option<Time>, what: &str) -> Result<Value, StoreError> {
    Ok(match t {
        Some(t) => Value::Integer(time_value(t, what)?),
        None => Value::Null,
    })
}

/// An expiry column: NULL = no timeout, `i64::MAX` = never (infinite lifetime).
fn opt_expiry_value(t: Option<Time>, what: &str) -> Result<Value, StoreError> {
    Ok(match t {
        Some(t) => Value::Integer(storable_expiry(t, what)?),
        None => Value::Null,
    })
}

/// Column values in the order of [`crate::sqlite`]'s upsert statement.
pub fn to_values(lease: &Lease) -> Result<Vec<Value>, StoreError> {
    let (kind, addr, plen) = key(&lease.resource);
    let fo = &lease.failover;
    Ok(vec![
        Value::Integer(kind),
        Value::Blob(addr),
        Value::Integer(plen),
        Value::Integer(i64::from(lease.status.as_u8())),
        Value::Blob(lease.duid.0.clone()),
        Value::Integer(i64::from(lease.iaid)),
        Value::Integer(i64::from(lease.subnet_id)),
        Value::Integer(i64::from(lease.preferred_lifetime)),
        Value::Integer(i64::from(lease.valid_lifetime)),
        Value::Integer(i64::from(lease.t1)),
        Value::Integer(i64::from(lease.t2)),
        Value::Integer(time_value(lease.cltt, "cltt")?),
        Value::Integer(time_value(
            lease.start_time_of_state,
            "start_time_of_state",
        )?),
        opt_expiry_value(lease.state_expiration, "state_expiration")?,
        opt_expiry_value(fo.expiration_time, "expiration_time")?,
        opt_expiry_value(fo.acked_partner_lifetime, "acked_partner_lifetime")?,
        opt_expiry_value(fo.partner_lifetime, "partner_lifetime")?,
        opt_time_value(fo.partner_raw_cltt, "partner_raw_cltt")?,
        Value::Integer(i64::from(fo.update_pending)),
        Value::Blob(lease.hw_address.clone()),
    ])
}

pub const COLUMNS: &str =
    "kind, addr, plen, status, duid, iaid, subnet_id, preferred, valid, t1, t2, \
     cltt, start_time_of_state, state_expiration, fo_expiration_time, fo_acked_partner_lifetime, \
     fo_partner_lifetime, fo_partner_raw_cltt, fo_update_pending, hwaddr";

/// A row's key as text for error messages, whatever its (possibly damaged) bytes.
fn describe_key(addr: &[u8], plen: i64) -> String {
    if let Ok(o) = <[u8; 16]>::try_from(addr) {
        format!("{}/{plen}", Ipv6Addr::from(o))
    } else if let Ok(o) = <[u8; 4]>::try_from(addr) {
        format!("{}/{plen}", Ipv4Addr::from(o))
    } else {
        format!("{} address bytes", addr.len())
    }
}

/// Rebuild a lease from a row selected with [`COLUMNS`]; a bad row is an error, never a panic.
pub fn from_row(row: &Row<'_>) -> Result<Lease, StoreError> {
    let kind: i64 = row.get(0)?;
    let addr: Vec<u8> = row.get(1)?;
    let plen: i64 = row.get(2)?;
    let key_text = describe_key(&addr, plen);
    let corrupt = |why: String| StoreError::CorruptRow {
        resource: key_text.clone(),
        why,
    };
    let v6 = || -> Result<Ipv6Addr, StoreError> {
        <[u8; 16]>::try_from(addr.as_slice())
            .map(Ipv6Addr::from)
            .map_err(|_| corrupt("address is not 16 bytes".into()))
    };
    let resource = match kind {
        KIND_ADDRESS => Resource::Address(v6()?),
        KIND_PREFIX => {
            let len = u8::try_from(plen).map_err(|_| corrupt("bad prefix length".into()))?;
            Resource::Prefix(Ipv6Net::new(v6()?, len).map_err(|e| corrupt(e.to_string()))?)
        }
        KIND_V4_ADDRESS => {
            let octets = <[u8; 4]>::try_from(addr.as_slice())
                .map_err(|_| corrupt("IPv4 address is not 4 bytes".into()))?;
            if plen != 32 {
                return Err(corrupt(format!(
                    "IPv4 address with prefix length {plen}, not 32"
                )));
            }
            Resource::V4Address(Ipv4Addr::from(octets))
        }
        other => return Err(corrupt(format!("unknown resource kind {other}"))),
    };
    let u32_col = |i: usize, name: &str| -> Result<u32, StoreError> {
        let v: i64 = row.get(i)?;
        u32::try_from(v).map_err(|_| corrupt(format!("{name} {v} out of range")))
    };
    let time_col = |i: usize, name: &str| -> Result<Time, StoreError> {
        let v: i64 = row.get(i)?;
        u64::try_from(v)
            .map(Time)
            .map_err(|_| corrupt(format!("{name} {v} is negative")))
    };
    let opt_time_col = |i: usize, name: &str| -> Result<Option<Time>, StoreError> {
        let v: Option<i64> = row.get(i)?;
        v.map(|v| {
            u64::try_from(v)
                .map(Time)
                .map_err(|_| corrupt(format!("{name} {v} is negative")))
        })
        .transpose()
    };
    let opt_expiry_col = |i: usize, name: &str| -> Result<Option<Time>, StoreError> {
        let v: Option<i64> = row.get(i)?;
        v.map(|v| expiry_from_column(v).ok_or_else(|| corrupt(format!("{name} {v} is negative"))))
            .transpose()
    };
    let status_raw: i64 = row.get(3)?;
    let status = u8::try_from(status_raw)
        .ok()
        .and_then(BindingStatus::from_u8)
        .ok_or_else(|| corrupt(format!("unknown binding status {status_raw}")))?;
    let update_pending: i64 = row.get(18)?;
    Ok(Lease {
        resource,
        status,
        duid: Duid(row.get(4)?),
        hw_address: row.get(19)?,
        iaid: u32_col(5, "iaid")?,
        subnet_id: u32_col(6, "subnet_id")?,
        preferred_lifetime: u32_col(7, "preferred")?,
        valid_lifetime: u32_col(8, "valid")?,
        t1: u32_col(9, "t1")?,
        t2: u32_col(10, "t2")?,
        cltt: time_col(11, "cltt")?,
        start_time_of_state: time_col(12, "start_time_of_state")?,
        state_expiration: opt_expiry_col(13, "state_expiration")?,
        failover: FailoverFields {
            expiration_time: opt_expiry_col(14, "expiration_time")?,
            acked_partner_lifetime: opt_expiry_col(15, "acked_partner_lifetime")?,
            partner_lifetime: opt_expiry_col(16, "partner_lifetime")?,
            partner_raw_cltt: opt_time_col(17, "partner_raw_cltt")?,
            update_pending: update_pending != 0,
        },
    })
}
