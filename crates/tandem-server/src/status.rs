//! What `tandem ctl status` shows.

use serde::Serialize;
use tandem_core::{BindingStatus, Time};
use tandem_failover::node::Node;
use tandem_failover::server::FailoverServer;
use tandem_failover::Role;

use crate::pool_use::{pool_use, PoolUse};
use crate::runner::PeerCounters;

/// A snapshot of one server: alone (`role` "standalone", no failover fields) or a pair
/// member.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Status {
    /// "primary", "secondary" or "standalone".
    pub role: String,
    /// The failover state ("standalone" for a server without a partner).
    pub state: String,
    /// Seconds in the current state.
    pub state_for_secs: u64,
    pub partner_state: Option<String>,
    pub communications_ok: bool,
    pub mclt: u32,
    /// BNDUPDs waiting to be sent.
    pub updates_queued: usize,
    /// BNDUPDs sent and not yet answered.
    pub updates_unacked: usize,
    pub active_leases: usize,
    pub leases: usize,
    /// Delegated prefixes each side could still hand out (the proportional split).
    pub prefixes_primary: u64,
    pub prefixes_secondary: u64,
    pub protocol_errors: u64,
    pub updates_rejected: u64,
    pub commit_failures: u64,
    /// Leases found held by two clients and resolved for the partner's (§7.5.4).
    pub bindings_displaced: u64,
    pub uptime_secs: u64,
    /// Seconds since the partner's last failover message (since start if none); pair
    /// members only. A few seconds while the partner is healthy.
    #[serde(default)]
    pub partner_lag_secs: Option<u64>,
    /// Every configured pool's size and use (and, in a pair, each side's free share).
    #[serde(default)]
    pub pools: Vec<PoolUse>,
}

impl Status {
    pub(crate) fn of(node: &Node, now: Time, peer: &PeerCounters, started: Time) -> Self {
        match node.failover() {
            Some(s) => Self::of_pair_member(node, s, now, peer, started),
            None => Status {
                role: "standalone".into(),
                state: "standalone".into(),
                state_for_secs: now.secs_since(started),
                partner_state: None,
                communications_ok: false,
                mclt: 0,
                updates_queued: 0,
                updates_unacked: 0,
                active_leases: node.leases().iter().filter(|l| l.is_active_at(now)).count(),
                leases: node.leases().len(),
                prefixes_primary: 0,
                prefixes_secondary: 0,
                protocol_errors: 0,
                updates_rejected: 0,
                commit_failures: peer.commit_failures,
                bindings_displaced: 0,
                uptime_secs: now.secs_since(started),
                partner_lag_secs: None,
                pools: pool_use(node.dhcp().config(), node.leases().iter(), None, now),
            },
        }
    }

    fn of_pair_member(
        node: &Node,
        s: &FailoverServer,
        now: Time,
        peer: &PeerCounters,
        started: Time,
    ) -> Self {
        let (queued, unacked) = s.unacked_updates();
        let ep = s.endpoint();
        let active = s.leases().iter().filter(|l| l.is_active_at(now)).count();
        // Capacity per side: the delegated prefixes inside its blocks, less those in use
        // (one pass over the leases, each placed by a block lookup).
        let mut capacity = [0u64; 2];
        for p in s.prefix_pools() {
            for (b, role) in p.blocks() {
                let bits = p.delegated_len().saturating_sub(b.prefix_len());
                let n = 1u64.checked_shl(u32::from(bits)).unwrap_or(u64::MAX);
                capacity[side(role)] = capacity[side(role)].saturating_add(n);
            }
        }
        for l in s.leases().iter() {
            let tandem_core::Resource::Prefix(q) = l.resource else {
                continue;
            };
            if matches!(l.status, BindingStatus::Free | BindingStatus::FreeBackup) {
                continue;
            }
            for p in s.prefix_pools() {
                if q.prefix_len() == p.delegated_len() {
                    if let Some(role) = p.owner_of(q) {
                        capacity[side(role)] = capacity[side(role)].saturating_sub(1);
                    }
                }
            }
        }
        Status {
            role: s.role().to_string(),
            state: s.state().to_string(),
            state_for_secs: now.secs_since(ep.state_since()),
            partner_state: ep.partner_state().map(|p| p.to_string()),
            communications_ok: ep.comm_ok(),
            mclt: ep.mclt(),
            updates_queued: queued,
            updates_unacked: unacked,
            active_leases: active,
            leases: s.leases().len(),
            prefixes_primary: capacity[0],
            prefixes_secondary: capacity[1],
            protocol_errors: peer.protocol_errors,
            updates_rejected: peer.updates_rejected,
            bindings_displaced: peer.bindings_displaced,
            commit_failures: peer.commit_failures,
            uptime_secs: now.secs_since(started),
            partner_lag_secs: None,
            pools: pool_use(
                node.dhcp().config(),
                s.leases().iter(),
                Some(s.prefix_pools()),
                now,
            ),
        }
    }
}

fn side(role: Role) -> usize {
    match role {
        Role::Primary => 0,
        Role::Secondary => 1,
    }
}
