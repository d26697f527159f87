//! One atomic unit of change: lease changes plus meta writes.

use tandem_core::{Lease, LeaseChange, Time};

use crate::StoreError;

/// Changes that must become durable together.
///
/// Meta writes ride in the same transaction as lease changes so that, for example, a
/// failover state change and the leases it affects cannot be torn apart by a crash.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    pub leases: Vec<LeaseChange>,
    /// `(key, Some(value))` sets a meta value, `(key, None)` deletes it.
    pub meta: Vec<(String, Option<Vec<u8>>)>,
}

impl Batch {
    pub fn leases(leases: Vec<LeaseChange>) -> Self {
        Batch {
            leases,
            meta: Vec::new(),
        }
    }

    pub fn put_meta(mut self, key: impl Into<String>, value: Vec<u8>) -> Self {
        self.meta.push((key.into(), Some(value)));
        self
    }

    /// Delete a meta value (a no-op if it is not set).
    pub fn delete_meta(mut self, key: impl Into<String>) -> Self {
        self.meta.push((key.into(), None));
        self
    }

    pub fn is_empty(&self) -> bool {
        self.leases.is_empty() && self.meta.is_empty()
    }

    /// Number of individual changes (for counters).
    pub fn len(&self) -> usize {
        self.leases.len() + self.meta.len()
    }
}

impl From<Vec<LeaseChange>> for Batch {
    fn from(leases: Vec<LeaseChange>) -> Self {
        Batch::leases(leases)
    }
}

/// A time as the store keeps it: SQLite integers are signed 64-bit, so later times are
/// refused rather than wrapped. Every backend applies the same rule so the simulation's
/// [`crate::MemoryStore`] refuses exactly what production's SQLite refuses.
pub(crate) fn storable_time(t: Time, what: &str) -> Result<i64, StoreError> {
    i64::try_from(t.as_secs()).map_err(|_| StoreError::Unstorable {
        what: what.to_string(),
        why: format!("time {} exceeds the range of a SQLite integer", t.as_secs()),
    })
}

/// How an expiry column stores [`Time::NEVER`] (the end of an infinite lifetime,
/// RFC 8415 §7.7): the largest SQLite integer, which no finite time may use.
pub(crate) const NEVER_COLUMN: i64 = i64::MAX;

/// An expiry as the store keeps it (state expiration and the three RFC 8156 §7.3
/// lifetimes): [`NEVER_COLUMN`] for [`Time::NEVER`], otherwise as [`storable_time`],
/// below [`NEVER_COLUMN`] so that it reads back as the same finite time.
pub(crate) fn storable_expiry(t: Time, what: &str) -> Result<i64, StoreError> {
    if t.is_never() {
        return Ok(NEVER_COLUMN);
    }
    match storable_time(t, what)? {
        NEVER_COLUMN => Err(StoreError::Unstorable {
            what: what.to_string(),
            why: format!("time {} is the value that means never", t.as_secs()),
        }),
        v => Ok(v),
    }
}

/// The expiry an expiry column holds (inverse of [`storable_expiry`]).
pub(crate) fn expiry_from_column(v: i64) -> Option<Time> {
    if v == NEVER_COLUMN {
        return Some(Time::NEVER);
    }
    u64::try_from(v).ok().map(Time)
}

/// Check every value of `lease` against [`storable_time`] / [`storable_expiry`].
pub(crate) fn check_storable(lease: &Lease) -> Result<(), StoreError> {
    let fo = &lease.failover;
    storable_time(lease.cltt, "cltt")?;
    storable_time(lease.start_time_of_state, "start_time_of_state")?;
    if let Some(t) = fo.partner_raw_cltt {
        storable_time(t, "partner_raw_cltt")?;
    }
    for (t, what) in [
        (lease.state_expiration, "state_expiration"),
        (fo.expiration_time, "expiration_time"),
        (fo.acked_partner_lifetime, "acked_partner_lifetime"),
        (fo.partner_lifetime, "partner_lifetime"),
    ] {
        if let Some(t) = t {
            storable_expiry(t, what)?;
        }
    }
    Ok(())
}
