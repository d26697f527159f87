//! The in-memory lease table: every known lease, indexed three ways.
//!
//! * by resource (is this address/prefix in use?),
//! * by client (give the same client its lease back): `(duid, iaid, ia_type)` for a
//!   DHCPv6 lease, the client key alone for a DHCPv4 one (no IA, RFC 2131 §4.2),
//! * by `state_expiration` (find what times out next without scanning).
//!
//! DHCPv4 and DHCPv6 leases share the table: their resources never collide, and a v4
//! client key never matches a v6 one (the index keeps the two families apart).

use std::collections::{BTreeSet, HashMap};

use crate::lease::{Duid, IaType, Lease, LeaseChange, Resource};
use crate::time::Time;

/// Key of the per-client index for a DHCPv6 lease: one client IA.
pub type ClientKey = (Duid, u32, IaType);

/// One client's claim on a resource, of either family: what the per-client index is
/// keyed by, and who holds an offered (not yet requested) resource.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ClientRef {
    /// A DHCPv6 client IA.
    V6(ClientKey),
    /// A DHCPv4 client: its client identifier, or htype + chaddr (RFC 2131 §4.2; see
    /// [`Lease::duid`]). No IAID: DHCPv4 has no IA, and the stored `iaid` plays no part.
    V4(Duid),
}

/// All leases the server knows, with indexes kept in step by every mutation.
#[derive(Debug, Default, Clone)]
pub struct LeaseTable {
    by_resource: HashMap<Resource, Lease>,
    by_client: HashMap<ClientRef, BTreeSet<Resource>>,
    by_expiry: BTreeSet<(Time, Resource)>,
}

fn client_key(l: &Lease) -> Option<ClientRef> {
    if l.duid.is_empty() {
        return None;
    }
    Some(match l.ia_type() {
        Some(ia_type) => ClientRef::V6((l.duid.clone(), l.iaid, ia_type)),
        None => ClientRef::V4(l.duid.clone()),
    })
}

impl ClientRef {
    /// Whether `l` is this client's record (its IA for DHCPv6; any v4 record of the client
    /// key for DHCPv4).
    pub fn holds(&self, l: &Lease) -> bool {
        match self {
            ClientRef::V6((duid, iaid, _)) => !l.is_v4() && l.duid == *duid && l.iaid == *iaid,
            ClientRef::V4(client) => l.is_v4() && l.duid == *client,
        }
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

    /// DHCPv6 leases recorded for one client IA, whatever their status.
    pub fn for_client(&self, duid: &Duid, iaid: u32, ia_type: IaType) -> Vec<&Lease> {
        self.indexed(&ClientRef::V6((duid.clone(), iaid, ia_type)))
    }

    /// DHCPv4 leases recorded for one client (its client identifier, or htype + chaddr:
    /// RFC 2131 §4.2), whatever their status, on every subnet.
    pub fn for_client_v4(&self, client: &Duid) -> Vec<&Lease> {
        self.indexed(&ClientRef::V4(client.clone()))
    }

    fn indexed(&self, key: &ClientRef) -> Vec<&Lease> {
        self.by_client
            .get(key)
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
            hw_address: Vec::new(),
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

    fn lease4(addr: [u8; 4], client: u8, exp: u64) -> Lease {
        Lease {
            resource: Resource::V4Address(addr.into()),
            duid: Duid(vec![1, 0, 0x5e, 0, 0, client]),
            hw_address: vec![1, 0, 0x5e, 0, 0, client],
            iaid: 0,
            preferred_lifetime: 0,
            ..lease("2001:db8::ff", client, exp)
        }
    }

    #[test]
    fn v4_leases_are_indexed_by_resource_and_client_rfc2131_4_2() {
        let mut t = LeaseTable::from_leases([
            lease4([192, 0, 2, 10], 1, 100),
            lease4([192, 0, 2, 11], 1, 50),
            lease4([192, 0, 2, 12], 2, 70),
        ]);
        let one = Duid(vec![1, 0, 0x5e, 0, 0, 1]);
        let ten = Resource::V4Address([192, 0, 2, 10].into());
        assert_eq!(t.get(&ten).map(|l| l.hw_address.len()), Some(6));
        assert_eq!(t.for_client_v4(&one).len(), 2);
        assert_eq!(t.next_expiry(), Some(Time(50)));
        // Another client takes .11 over; then .10 goes.
        t.upsert(lease4([192, 0, 2, 11], 2, 300));
        assert_eq!(t.for_client_v4(&one).len(), 1);
        assert_eq!(t.for_client_v4(&Duid(vec![1, 0, 0x5e, 0, 0, 2])).len(), 2);
        assert_eq!(
            t.due(Time(100)),
            vec![Resource::V4Address([192, 0, 2, 12].into()), ten]
        );
        t.apply(&LeaseChange::Remove(ten));
        assert!(t.for_client_v4(&one).is_empty());
        assert_eq!(t.get(&ten), None);
        assert_eq!(t.len(), 2);
    }

    /// The same client key bytes on both families (a client identifier that happens to
    /// equal a DUID) never mix the two indexes.
    #[test]
    fn a_v4_client_and_a_v6_client_with_the_same_key_stay_apart() {
        let mut v6 = lease("2001:db8::1", 1, 100);
        v6.iaid = 0;
        let mut v4 = lease4([192, 0, 2, 10], 1, 100);
        v4.duid = v6.duid.clone();
        let t = LeaseTable::from_leases([v6.clone(), v4.clone()]);
        assert_eq!(t.for_client(&v6.duid, 0, IaType::Na), vec![&v6]);
        assert_eq!(t.for_client_v4(&v4.duid), vec![&v4]);
        assert!(t.for_client(&v6.duid, 0, IaType::Pd).is_empty());
    }

    /// A v4 record without a client (returned to the pool) is found by resource only.
    #[test]
    fn a_v4_record_without_a_client_is_not_in_the_client_index() {
        let mut free = lease4([192, 0, 2, 10], 1, 100);
        free.status = BindingStatus::Free;
        free.duid = Duid::default();
        free.hw_address.clear();
        let t = LeaseTable::from_leases([free.clone()]);
        assert_eq!(t.get(&free.resource), Some(&free));
        assert!(t.for_client_v4(&Duid::default()).is_empty());
    }
}
