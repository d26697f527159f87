//! Independent allocation of addresses (RFC 8156 §4.2.1, §4.2.1.1): a parity split.

use std::net::Ipv6Addr;

use tandem_core::Time;

use crate::binding::lifecycle::{address_owner, AllocationKind};
use crate::binding::permissions::may_allocate;
use crate::types::{Role, ServerState};

/// A predicate the DHCPv6 core calls before offering a *new* address.
///
/// Only the own half is ever used, also in PARTNER-DOWN (§4.2.1's MUST NOT
/// wins over §8.4.1's SHOULD NOT): the partner may have handed out any of its addresses
/// just before it went silent.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct AddressFilter {
    pub role: Role,
    pub state: ServerState,
}

impl AddressFilter {
    pub fn new(role: Role, state: ServerState) -> Self {
        AddressFilter { role, state }
    }

    /// May `addr` be given to a new client now?
    pub fn may_offer(&self, addr: Ipv6Addr, now: Time) -> bool {
        may_allocate(
            self.state,
            self.role,
            address_owner(addr),
            AllocationKind::Independent,
            None,
            0,
            now,
        )
    }

    /// Whether `addr` is in this server's half at all (state-independent).
    pub fn owns(&self, addr: Ipv6Addr) -> bool {
        address_owner(addr) == self.role
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn primary_takes_odd_secondary_even_s4_2_1_1() {
        let p = AddressFilter::new(Role::Primary, ServerState::Normal);
        assert!(p.may_offer(a("2001:db8::1"), Time(0)));
        assert!(!p.may_offer(a("2001:db8::2"), Time(0)));
        let s = AddressFilter::new(Role::Secondary, ServerState::CommunicationsInterrupted);
        assert!(s.may_offer(a("2001:db8::2"), Time(0)));
        assert!(!s.may_offer(a("2001:db8::1"), Time(0)));
    }

    #[test]
    fn partner_half_never_even_in_partner_down_s4_2_1_s14_6() {
        let s = AddressFilter::new(Role::Secondary, ServerState::PartnerDown);
        assert!(!s.may_offer(a("2001:db8::1"), Time(u64::MAX / 2)));
        assert!(s.may_offer(a("2001:db8::2"), Time(0)));
    }

    #[test]
    fn no_new_addresses_in_unresponsive_states_s8() {
        for st in [
            ServerState::Startup,
            ServerState::Recover,
            ServerState::PotentialConflict,
        ] {
            assert!(!AddressFilter::new(Role::Primary, st).may_offer(a("2001:db8::1"), Time(0)));
        }
    }
}
