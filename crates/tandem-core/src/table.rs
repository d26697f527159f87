//! The in-memory lease table: every known lease, indexed three ways.
//!
//! * by resource (is this address/prefix in use?),
//! * by client `(duid, iaid, ia_type)` (give the same client its lease back),
//! * by `state_expiration` (find what times out next without scanning).

use std::collections::{BTreeSet, HashMap};

use crate::lease::{Duid, IaType, Lease, LeaseChange, Resource};
use crate::time::Time;

/// Key of the per-client index.
pub type ClientKey = (Duid, u32, IaType);

/// All leases the server knows, with indexes kept in step by every mutation.
#[derive(Debug, Default, Clone)]
pub struct LeaseTable {
    by_resource: HashMap<Resource, Lease>,
    by_client: HashMap<ClientKey, BTreeSet<Resource>>,
    by_expiry: BTreeSet<(Time, Resource)>,
}

fn client_key(l: &Lease) -> Option<ClientKey> {
    if l.duid.is_empty() {
        None
    } else {
        Some((l.duid.clone(), l.iaid, l.ia_type()))
    }
}

impl LeaseTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds the table from stored leases (startup). Later duplicates replace earlier ones.
    pub fn from_leases(leases: impl IntoIterator<Item = Lease>) -> Self {
        let mut t = Self::new();
        for l in leases {
            t.upsert(l);
        }
        t
    }

    pub fn len(&self) -> usize {
        self.by_resource.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_resource.is_empty()
    }

    pub fn get(&self, r: &Resource) -> Option<&Lease> {
        self.by_resource.get(r)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Lease> {
        self.by_resource.values()
    }

    /// Leases recorded for one client IA, whatever their status.
    pub fn for_client(&self, duid: &Duid, iaid: u32, ia_type: IaType) -> Vec<&Lease> {
        self.by_client
            .get(&(duid.clone(), iaid, ia_type))
            .into_iter()
            .flatten()
            .filter_map(|r| self.by_resource.get(r))
            .collect()
    }

    /// Inserts or replaces the lease for its resource, updating every index.
    pub fn upsert(&mut self, lease: Lease) {
        self.remove(&lease.resource);
        if let Some(k) = client_key(&lease) {
            self.by_client.entry(k).or_default().insert(lease.resource);
        }
        // A lease that never expires (infinite lifetime) is never due: keep it out of the
        // index so `next_expiry` never asks anyone to wait for `Time::NEVER`.
        if let Some(t) = lease.state_expiration.filter(|t| !t.is_never()) {
            self.by_expiry.insert((t, lease.resource));
        }
        self.by_resource.insert(lease.resource, lease);
    }

    /// Forgets the lease for `r`, returning it.
    pub fn remove(&mut self, r: &Resource) -> Option<Lease> {
        let old = self.by_resource.remove(r)?;
        if let Some(k) = client_key(&old) {
            if let Some(set) = self.by_client.get_mut(&k) {
                set.remove(r);
                if set.is_empty() {
                    self.by_client.remove(&k);
                }
            }
        }
        if let Some(t) = old.state_expiration {
            self.by_expiry.remove(&(t, *r));
        }
        Some(old)
    }

    /// Applies a change (used by the server itself and by failover for partner updates).
    pub fn apply(&mut self, change: &LeaseChange) {
        match change {
            LeaseChange::Upsert(l) => self.upsert(l.clone()),
            LeaseChange::Remove(r) => {
                self.remove(r);
            }
        }
    }

    /// Earliest `state_expiration` of any lease.
    pub fn next_expiry(&self) -> Option<Time> {
        self.by_expiry.iter().next().map(|(t, _)| *t)
    }

    /// Resources whose `state_expiration` is `<= now`, earliest first.
    pub fn due(&self, now: Time) -> Vec<Resource> {
        self.by_expiry
            .iter()
            .take_while(|(t, _)| *t <= now)
            .map(|(_, r)| *r)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease::{BindingStatus, FailoverFields};

    fn lease(addr: &str, duid: u8, exp: u64) -> Lease {
        Lease {
            resource: Resource::Address(addr.parse().unwrap()),
            status: BindingStatus::Active,
            duid: Duid(vec![0, 4, duid]),
            iaid: 1,
            subnet_id: 1,
            preferred_lifetime: 10,
            valid_lifetime: 20,
            t1: 5,
            t2: 8,
            cltt: Time(0),
            start_time_of_state: Time(0),
            state_expiration: Some(Time(exp)),
            failover: FailoverFields::default(),
        }
    }

    #[test]
    fn indexes_follow_replacement_and_removal() {
        let mut t =
            LeaseTable::from_leases([lease("2001:db8::1", 1, 100), lease("2001:db8::2", 1, 50)]);
        assert_eq!(t.for_client(&Duid(vec![0, 4, 1]), 1, IaType::Na).len(), 2);
        assert_eq!(t.next_expiry(), Some(Time(50)));
        // The same resource now belongs to client 2 with a later expiry.
        t.upsert(lease("2001:db8::2", 2, 300));
        assert_eq!(t.for_client(&Duid(vec![0, 4, 1]), 1, IaType::Na).len(), 1);
        assert_eq!(t.for_client(&Duid(vec![0, 4, 2]), 1, IaType::Na).len(), 1);
        assert_eq!(
            t.due(Time(100)),
            vec![Resource::Address("2001:db8::1".parse().unwrap())]
        );
        t.apply(&LeaseChange::Remove(Resource::Address(
            "2001:db8::1".parse().unwrap(),
        )));
        assert_eq!(t.for_client(&Duid(vec![0, 4, 1]), 1, IaType::Na).len(), 0);
        assert_eq!(t.next_expiry(), Some(Time(300)));
        assert_eq!(t.len(), 1);
    }
}
