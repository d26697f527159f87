//! One atomic unit of change: lease changes plus meta writes.

use tandem_core::LeaseChange;

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
