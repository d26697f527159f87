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

/// Check every value of `lease` against [`storable_time`].
pub(crate) fn check_storable(lease: &Lease) -> Result<(), StoreError> {
    let fo = &lease.failover;
    storable_time(lease.cltt, "cltt")?;
    storable_time(lease.start_time_of_state, "start_time_of_state")?;
    for (t, what) in [
        (lease.state_expiration, "state_expiration"),
        (fo.expiration_time, "expiration_time"),
        (fo.acked_partner_lifetime, "acked_partner_lifetime"),
        (fo.partner_lifetime, "partner_lifetime"),
        (fo.partner_raw_cltt, "partner_raw_cltt"),
    ] {
        if let Some(t) = t {
            storable_time(t, what)?;
        }
    }
    Ok(())
}
