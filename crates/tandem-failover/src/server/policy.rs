//! The failover lease policy the DHCPv6 core consults (RFC 8156 §3, §4.2, §4.4, §8):
//! whom to answer, what may be handed out, how long a client may be told.

use std::sync::Arc;

use tandem_core::dhcpv6::LeasePolicy;
use tandem_core::{BindingStatus, Lease, Resource, Time};

use crate::allocation::proportional::PrefixPool;
use crate::binding::{
    address_owner, answer_mode, may_allocate, may_reuse_for_other_client, AllocationKind,
    AnswerMode,
};
use crate::mclt::client_valid_lifetime;
use crate::types::{Role, ServerState};

/// A snapshot of what the policy needs; rebuilt when the state or prefix ownership changes.
#[derive(Clone, Debug)]
pub struct PairPolicy {
    pub role: Role,
    pub state: ServerState,
    pub mclt: u32,
    pub partner_down_since: Option<Time>,
    pub prefix_pools: Arc<Vec<PrefixPool>>,
}

impl PairPolicy {
    /// Whose pool `resource` is in while available (§4.2.1 parity, §4.2.2 FREE/FREE-BACKUP).
    fn owner(&self, resource: &Resource, existing: Option<&Lease>) -> Option<Role> {
        match existing.map(|l| l.status) {
            Some(BindingStatus::Free) if matches!(resource, Resource::Prefix(_)) => {
                return Some(Role::Primary)
            }
            Some(BindingStatus::FreeBackup) if matches!(resource, Resource::Prefix(_)) => {
                return Some(Role::Secondary)
            }
            _ => {}
        }
        match resource {
            Resource::Address(a) => Some(address_owner(*a)),
            Resource::Prefix(p) => self.prefix_pools.iter().find_map(|pool| pool.owner_of(*p)),
        }
    }
}

impl LeasePolicy for PairPolicy {
    fn should_answer(&self, _msg_type: u8, names_this_server: bool) -> bool {
        match answer_mode(self.state, self.role) {
            AnswerMode::Responsive => true,
            AnswerMode::RenewResponsive => names_this_server,
            AnswerMode::Unresponsive => false,
        }
    }

    fn may_allocate(&self, resource: &Resource, existing: Option<&Lease>, now: Time) -> bool {
        if let Some(l) = existing {
            // Another client's lapsed lease: only once FREE again, or after the
            // PARTNER-DOWN waiting time (§4.2.2.1, §8.4.1).
            if !may_reuse_for_other_client(self.state, l, self.partner_down_since, self.mclt, now) {
                return false;
            }
        }
        let Some(owner) = self.owner(resource, existing) else {
            return false;
        };
        may_allocate(
            self.state,
            self.role,
            owner,
            AllocationKind::of(resource),
            self.partner_down_since,
            self.mclt,
            now,
        )
    }

    fn cap_valid_lifetime(
        &self,
        _resource: &Resource,
        existing: Option<&Lease>,
        proposed: u32,
        now: Time,
    ) -> u32 {
        let fo = existing.map(|l| &l.failover);
        client_valid_lifetime(
            proposed,
            fo.and_then(|f| f.acked_partner_lifetime),
            now,
            self.mclt,
            self.state,
            fo.and_then(|f| f.expiration_time),
        )
    }

    fn keeps_lapsed_leases(&self) -> bool {
        true
    }
}
