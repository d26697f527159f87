//! The lease state machine of RFC 8156 §7.2 (Figure 2, events 1–10) with the PENDING-FREE
//! resolution of events 5/6 (RFC 8156 §7.2: where Figure 3 and the prose disagree, the prose).

use std::net::Ipv6Addr;

use tandem_core::{BindingStatus, Lease, Resource, Time};

use crate::types::Role;

/// How a pool is split between the partners (§4.2).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AllocationKind {
    /// Addresses: split by the last bit, no messages (§4.2.1).
    Independent,
    /// Delegable prefixes: handed over by BNDUPD (§4.2.2). DHCPv4 addresses under
    /// draft-ietf-dhc-failover-12 are split the same way: FREE is the primary's, BACKUP the
    /// secondary's, moved by BNDUPD (its §5.4), the partner's usable in PARTNER-DOWN once
    /// the MCLT has passed (its §9.3 – §9.5).
    Proportional,
}

impl AllocationKind {
    pub fn of(resource: &Resource) -> Option<Self> {
        match resource {
            Resource::Address(_) => Some(AllocationKind::Independent),
            Resource::Prefix(_) | Resource::V4Address(_) => Some(AllocationKind::Proportional),
        }
    }
}

/// §4.2.1.1: the primary owns addresses whose lowest bit is 1, the secondary those with 0.
pub fn address_owner(addr: Ipv6Addr) -> Role {
    if addr.octets()[15] & 1 == 1 {
        Role::Primary
    } else {
        Role::Secondary
    }
}

/// Where PENDING-FREE settles (events 5 and 6): prefixes always go back to the primary
/// (FREE, §4.2.2); addresses go to the parity owner's pool.
pub fn pending_free_destination(kind: AllocationKind, owner: Role) -> BindingStatus {
    match (kind, owner) {
        (AllocationKind::Proportional, _) => BindingStatus::Free,
        (AllocationKind::Independent, Role::Primary) => BindingStatus::Free,
        (AllocationKind::Independent, Role::Secondary) => BindingStatus::FreeBackup,
    }
}

/// Who owns a resource once it is available again: by parity for addresses, the primary
/// for prefixes and DHCPv4 addresses (draft-12: an expired or released lease becomes FREE
/// after the ack; ISC dhcpd 4.4 then rebalances the pool).
pub fn resource_owner_when_free(resource: &Resource) -> Option<Role> {
    match resource {
        Resource::Address(a) => Some(address_owner(*a)),
        Resource::Prefix(_) | Resource::V4Address(_) => Some(Role::Primary),
    }
}

/// The events of §7.2 Figure 2.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum LeaseEvent {
    /// 1: the primary allocates the lease (FREE → ACTIVE).
    PrimaryAllocates,
    /// 2: the secondary allocates the lease (FREE-BACKUP → ACTIVE).
    SecondaryAllocates,
    /// 3: client Release processed.
    ClientReleases,
    /// 4: the partner acknowledged the EXPIRED/RELEASED/RESET state.
    PartnerAcked,
    /// 4 (alternative): PARTNER-DOWN and MCLT has passed since the state was entered.
    PartnerDownMcltElapsed,
    /// 7: pool rebalancing moves an available delegable prefix between the pools.
    Rebalanced,
    /// 8: the valid lifetime ran out.
    Expires,
    /// 9: Decline received or the lease is found unusable.
    Declined,
    /// 10: administrative (or implementation) recovery of an abandoned lease.
    AdminReset,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("lease event {event:?} is not valid in binding status {from}")]
pub struct TransitionError {
    pub from: BindingStatus,
    pub event: LeaseEvent,
}

/// Apply one event (§7.2). Event 4 lands in PENDING-FREE, which the caller resolves at once
/// with [`pending_free_destination`] (or use [`settle`]).
/// Event 7 (rebalance) flips FREE ↔ FREE-BACKUP and is valid for prefixes only.
/// A DHCPv4 lease under draft-12 moves as a delegable prefix does (FREE / BACKUP pools).
pub fn transition(
    from: BindingStatus,
    event: LeaseEvent,
    resource: &Resource,
) -> Result<BindingStatus, TransitionError> {
    use BindingStatus::*;
    use LeaseEvent::*;
    let Some(kind) = AllocationKind::of(resource) else {
        return Err(TransitionError { from, event });
    };
    let to = match (from, event) {
        (Free, PrimaryAllocates) => Active,
        (FreeBackup, SecondaryAllocates) => Active,
        (Active, ClientReleases) => Released,
        (Expired | Released | Reset, PartnerAcked | PartnerDownMcltElapsed) => PendingFree,
        (Free, Rebalanced) if kind == AllocationKind::Proportional => FreeBackup,
        (FreeBackup, Rebalanced) if kind == AllocationKind::Proportional => Free,
        (Active, Expires) => Expired,
        (Active, Declined) => Abandoned,
        (Abandoned, AdminReset) => Reset,
        _ => return Err(TransitionError { from, event }),
    };
    Ok(to)
}

/// Event 4 followed by 5/6: EXPIRED/RELEASED/RESET → PENDING-FREE → FREE / FREE-BACKUP.
pub fn settle(
    from: BindingStatus,
    event: LeaseEvent,
    resource: &Resource,
) -> Result<BindingStatus, TransitionError> {
    let mid = transition(from, event, resource)?;
    if mid != BindingStatus::PendingFree {
        return Ok(mid);
    }
    match (
        AllocationKind::of(resource),
        resource_owner_when_free(resource),
    ) {
        (Some(kind), Some(owner)) => Ok(pending_free_destination(kind, owner)),
        _ => Err(TransitionError { from, event }),
    }
}

/// Apply an event to a lease record at `now`: new status (PENDING-FREE settled at once),
/// start-time-of-state = now, and no state expiration for the new status (the caller sets
/// one for ACTIVE, and for EXPIRED/ABANDONED if it gives those a timeout). The caller also
/// queues the BNDUPD (`Outbox::note_local_change`).
pub fn apply_event(lease: &mut Lease, event: LeaseEvent, now: Time) -> Result<(), TransitionError> {
    lease.status = settle(lease.status, event, &lease.resource)?;
    lease.start_time_of_state = now;
    lease.state_expiration = None;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use BindingStatus::*;
    use LeaseEvent::*;

    fn addr(s: &str) -> Resource {
        Resource::Address(s.parse().unwrap())
    }
    fn pfx(s: &str) -> Resource {
        Resource::Prefix(s.parse().unwrap())
    }

    #[test]
    fn event1_primary_allocates_free_s7_2() {
        assert_eq!(
            transition(Free, PrimaryAllocates, &addr("2001:db8::1")),
            Ok(Active)
        );
        assert!(transition(FreeBackup, PrimaryAllocates, &addr("2001:db8::1")).is_err());
    }
    #[test]
    fn event2_secondary_allocates_free_backup_s7_2() {
        assert_eq!(
            transition(FreeBackup, SecondaryAllocates, &addr("2001:db8::2")),
            Ok(Active)
        );
        assert!(transition(Free, SecondaryAllocates, &addr("2001:db8::2")).is_err());
    }
    #[test]
    fn event3_release_s7_2() {
        assert_eq!(
            transition(Active, ClientReleases, &addr("2001:db8::1")),
            Ok(Released)
        );
        assert!(transition(Expired, ClientReleases, &addr("2001:db8::1")).is_err());
    }
    #[test]
    fn event4_ack_or_pd_mclt_to_pending_free_s7_2() {
        for from in [Expired, Released, Reset] {
            assert_eq!(
                transition(from, PartnerAcked, &addr("2001:db8::1")),
                Ok(PendingFree)
            );
            assert_eq!(
                transition(from, PartnerDownMcltElapsed, &addr("2001:db8::1")),
                Ok(PendingFree)
            );
        }
        assert!(transition(Active, PartnerAcked, &addr("2001:db8::1")).is_err());
        assert!(transition(Abandoned, PartnerAcked, &addr("2001:db8::1")).is_err());
    }
    #[test]
    fn event5_pending_free_to_free_for_prefixes_and_odd_addresses_s7_2_s14_5() {
        assert_eq!(
            settle(Expired, PartnerAcked, &addr("2001:db8::3")),
            Ok(Free)
        );
        assert_eq!(
            settle(Released, PartnerAcked, &pfx("2001:db8:1::/56")),
            Ok(Free)
        );
        // Figure 3 would say FREE-BACKUP for a prefix delegated by the secondary; prose wins.
        assert_eq!(
            pending_free_destination(AllocationKind::Proportional, Role::Secondary),
            Free
        );
    }
    #[test]
    fn event6_pending_free_to_free_backup_for_even_addresses_s7_2_s14_5() {
        assert_eq!(
            settle(Expired, PartnerAcked, &addr("2001:db8::4")),
            Ok(FreeBackup)
        );
        assert_eq!(
            pending_free_destination(AllocationKind::Independent, Role::Secondary),
            FreeBackup
        );
    }
    #[test]
    fn event7_rebalance_prefixes_only_s7_2() {
        assert_eq!(
            transition(Free, Rebalanced, &pfx("2001:db8:1::/48")),
            Ok(FreeBackup)
        );
        assert_eq!(
            transition(FreeBackup, Rebalanced, &pfx("2001:db8:1::/48")),
            Ok(Free)
        );
        assert!(transition(Free, Rebalanced, &addr("2001:db8::1")).is_err());
    }
    #[test]
    fn event8_expiry_s7_2() {
        assert_eq!(
            transition(Active, Expires, &addr("2001:db8::1")),
            Ok(Expired)
        );
        assert!(transition(Free, Expires, &addr("2001:db8::1")).is_err());
    }
    #[test]
    fn event9_decline_s7_2() {
        assert_eq!(
            transition(Active, Declined, &addr("2001:db8::1")),
            Ok(Abandoned)
        );
    }
    #[test]
    fn event10_admin_reset_s7_2() {
        assert_eq!(
            transition(Abandoned, AdminReset, &addr("2001:db8::1")),
            Ok(Reset)
        );
        assert!(transition(Active, AdminReset, &addr("2001:db8::1")).is_err());
    }
    #[test]
    fn parity_split_s4_2_1_1() {
        assert_eq!(address_owner("2001:db8::1".parse().unwrap()), Role::Primary);
        assert_eq!(address_owner("2001:db8::3".parse().unwrap()), Role::Primary);
        assert_eq!(
            address_owner("2001:db8::2".parse().unwrap()),
            Role::Secondary
        );
        assert_eq!(
            address_owner("2001:db8::ff00".parse().unwrap()),
            Role::Secondary
        );
    }

    /// A DHCPv4 lease (draft-ietf-dhc-failover-12 §5.4, as ISC dhcpd 4.4 keeps it) moves
    /// like a delegable prefix: FREE is the primary's, BACKUP the secondary's, a rebalance
    /// flips one into the other, and an expired or released lease is FREE after the ack.
    #[test]
    fn a_v4_lease_follows_the_pool_based_machine_of_draft12_s5_4() {
        let v4 = Resource::V4Address([192, 0, 2, 10].into());
        assert_eq!(transition(Free, PrimaryAllocates, &v4), Ok(Active));
        assert_eq!(transition(FreeBackup, SecondaryAllocates, &v4), Ok(Active));
        assert!(transition(Free, SecondaryAllocates, &v4).is_err());
        assert!(transition(FreeBackup, PrimaryAllocates, &v4).is_err());
        assert_eq!(transition(Free, Rebalanced, &v4), Ok(FreeBackup));
        assert_eq!(transition(FreeBackup, Rebalanced, &v4), Ok(Free));
        for from in [Expired, Released, Reset] {
            assert_eq!(settle(from, PartnerAcked, &v4), Ok(Free), "{from}");
        }
        assert_eq!(AllocationKind::of(&v4), Some(AllocationKind::Proportional));
        assert_eq!(resource_owner_when_free(&v4), Some(Role::Primary));
    }
}
