//! The failover lease policy the DHCPv6 core consults (RFC 8156 §3, §4.2, §4.4, §8):
//! whom to answer, what may be handed out, how long a client may be told.

use std::sync::Arc;

use tandem_core::alloc::{PoolSpace, Region};
use tandem_core::dhcpv6::LeasePolicy;
use tandem_core::{BindingStatus, Lease, Resource, Time};
use tandem_wire::dhcpfo::Hba;

use crate::allocation::proportional::PrefixPool;
use crate::binding::{
    address_owner, answer_mode, may_allocate, may_extend, may_reuse_for_other_client,
    AllocationKind, AnswerMode,
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
    /// draft-12: the hash bucket assignment in force (the primary's, which the secondary
    /// adopted from CONNECT, RFC 3074 §5); None before the first connection.
    pub hba: Option<Hba>,
}

/// ISC dhcpd 4.4's default `load balance max seconds`: a client that has been trying
/// longer than this (the header's secs, RFC 2131 §2) is answered by both servers
/// (RFC 3074 §4: a server may answer when its partner seems not to).
pub const LOAD_BALANCE_MAX_SECS: u16 = 3;

impl PairPolicy {
    /// Whose pool `resource` is in while available (§4.2.1 parity, §4.2.2 FREE/FREE-BACKUP).
    /// A DHCPv4 address (draft-ietf-dhc-failover-12 §5.4): BACKUP is the secondary's,
    /// everything else the primary's, an address never used included (ISC dhcpd 4.4
    /// starts every lease FREE and hands the secondary its share as BACKUP). Only a
    /// draft-12 pair member ever asks about one: an RFC 8156 member drops DHCPv4 (§1).
    fn owner(&self, resource: &Resource, existing: Option<&Lease>) -> Option<Role> {
        let pool_based = matches!(resource, Resource::Prefix(_) | Resource::V4Address(_));
        match existing.map(|l| l.status) {
            Some(BindingStatus::Free) if pool_based => return Some(Role::Primary),
            Some(BindingStatus::FreeBackup) if pool_based => return Some(Role::Secondary),
            _ => {}
        }
        match resource {
            Resource::Address(a) => Some(address_owner(*a)),
            Resource::Prefix(p) => self.prefix_pools.iter().find_map(|pool| pool.owner_of(*p)),
            Resource::V4Address(_) => Some(Role::Primary),
        }
    }
}

impl LeasePolicy for PairPolicy {
    /// draft-ietf-dhc-failover-12 as ISC dhcpd 4.4 serves: only NORMAL,
    /// COMMUNICATIONS-INTERRUPTED and PARTNER-DOWN answer clients at all (dhcpd answers
    /// nobody in RESOLUTION-INTERRUPTED or RECOVER-DONE, which RFC 8156 lets answer). In
    /// NORMAL a DISCOVER is answered by the server its RFC 3074 bucket names, or by both
    /// once the client has tried for more than [`LOAD_BALANCE_MAX_SECS`]; other messages by
    /// either (a REQUEST names its server, or is a renewal either may answer).
    fn should_answer4(&self, msg_type: u8, lb_key: &[u8], secs: u16) -> bool {
        const DISCOVER: u8 = 1;
        match self.state {
            ServerState::Normal if msg_type == DISCOVER => {
                secs > LOAD_BALANCE_MAX_SECS
                    || self.hba.map_or(self.role == Role::Primary, |h| {
                        h.mine(self.role == Role::Primary, lb_key)
                    })
            }
            ServerState::Normal
            | ServerState::CommunicationsInterrupted
            | ServerState::PartnerDown => true,
            _ => false,
        }
    }

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
        let (Some(owner), Some(kind)) =
            (self.owner(resource, existing), AllocationKind::of(resource))
        else {
            return false;
        };
        // draft-12 NORMAL: load balancing chose who answers; each gives from its own pool
        // (the secondary its BACKUP addresses, draft-12 §5.4).
        if matches!(resource, Resource::V4Address(_)) && self.state == ServerState::Normal {
            return owner == self.role;
        }
        may_allocate(
            self.state,
            self.role,
            owner,
            kind,
            self.partner_down_since,
            self.mclt,
            now,
        )
    }

    /// Own share first, everywhere (§4.2); the partner's delegable prefixes after it, in
    /// PARTNER-DOWN once MCLT has passed since entering it (§8.4.1: "MUST first use its
    /// own pool"). Addresses: the own half only (§4.2.1: never the primary's, even in PARTNER-DOWN).
    fn allocation_ranks(&self, space: PoolSpace, now: Time) -> Vec<Vec<Region>> {
        match space {
            PoolSpace::Addresses => {
                let bit = match self.role {
                    Role::Primary => 1,
                    Role::Secondary => 0,
                };
                vec![vec![Region::Parity(bit)]]
            }
            PoolSpace::Prefixes(prefix) => {
                let Some(pool) = self
                    .prefix_pools
                    .iter()
                    .find(|p| p.parent() == prefix.trunc())
                else {
                    return vec![];
                };
                let own = pool.blocks_of(self.role).map(Region::Block).collect();
                let partner_usable = self.state == ServerState::PartnerDown
                    && self
                        .partner_down_since
                        .is_some_and(|pd| now >= pd + u64::from(self.mclt));
                if partner_usable {
                    let other = pool.blocks_of(self.role.partner()).map(Region::Block);
                    vec![own, other.collect()]
                } else {
                    vec![own]
                }
            }
        }
    }

    /// Adopting a binding this server never heard of may only take what no other client can
    /// hold (RFC 8156 §8.4.1): its own share, whose every allocation is in its own durable
    /// records; the partner's share only in PARTNER-DOWN once MCLT has passed since it began
    /// (by then any lease the partner gave that we never learnt of has ended); never in
    /// RECOVER-DONE, which renews only leases it knows (§8.7.1). A stale claim (a restored
    /// or cloned client) cannot be told from a genuine one, so lease stability yields to
    /// "one address, one client": the client is told to stop and asks again.
    fn may_adopt(&self, resource: &Resource, existing: Option<&Lease>, now: Time) -> bool {
        if self.state == ServerState::RecoverDone || !may_extend(self.state) {
            return false;
        }
        let Some(owner) = self.owner(resource, existing) else {
            return false;
        };
        owner == self.role
            || (self.state == ServerState::PartnerDown
                && self
                    .partner_down_since
                    .is_some_and(|pd| now >= pd + u64::from(self.mclt)))
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
