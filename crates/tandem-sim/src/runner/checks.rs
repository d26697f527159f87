//! The invariants that need a look inside a server while it answers: lease stability owed
//! (c), NoPrefixAvail with room in the own share (e), RECOVER-DONE creating bindings (f).

use std::collections::BTreeSet;

use tandem_core::{BindingStatus, Outcome, Resource, Time};
use tandem_failover::binding::{may_allocate, may_extend, AllocationKind};
use tandem_failover::server::FailoverServer;
use tandem_failover::{Role, ServerState};
use tandem_wire::v6::{Message, MessageType, OptionsExt};

use super::{client_message, listed, World};

/// RFC 8415 §21.13.
const NO_PREFIX_AVAIL: u16 = 6;

/// Whose pool an available resource is in, as `s` sees it (RFC 8156 §4.2.1.1, §4.2.2);
/// nobody's for a DHCPv4 address, which RFC 8156 does not cover (§1).
fn owner(s: &FailoverServer, r: &Resource) -> Option<Role> {
    match (r, s.leases().get(r).map(|l| l.status)) {
        (Resource::Prefix(_), Some(BindingStatus::Free)) => Some(Role::Primary),
        (Resource::Prefix(_), Some(BindingStatus::FreeBackup)) => Some(Role::Secondary),
        (Resource::Address(a), _) => Some(if a.octets()[15] & 1 == 1 {
            Role::Primary
        } else {
            Role::Secondary
        }),
        (Resource::Prefix(p), _) => s.prefix_pools().iter().find_map(|pool| pool.owner_of(*p)),
        (Resource::V4Address(_), _) => None,
    }
}

/// Whether `s` owes `duid` lease stability for `r` when it answers a Renew/Rebind now: it
/// holds the client's ACTIVE binding, or `r` is in its own share with no one else's
/// binding on it (nobody else can have it: RFC 8156 §8.4.1), in a state that extends leases
/// other than RECOVER-DONE (§8.7.1).
pub(super) fn owes_stability(s: &FailoverServer, duid: &[u8], r: &Resource, now: Time) -> bool {
    let record = s.leases().get(r);
    if record.is_some_and(|l| l.duid.0 == duid && l.is_active_at(now)) {
        return true;
    }
    let state = s.state();
    if !may_extend(state) || state == ServerState::RecoverDone {
        return false;
    }
    let unheld = record.is_none_or(|l| match l.status {
        BindingStatus::Free | BindingStatus::FreeBackup => true,
        BindingStatus::Expired | BindingStatus::Released => l.duid.0 == duid,
        _ => false,
    });
    let in_pool = s.dhcp().config().subnets.iter().any(|sub| match r {
        Resource::Address(a) => sub.pools.iter().any(|p| (p.first..=p.last).contains(a)),
        Resource::Prefix(p) => sub
            .pd_pools
            .iter()
            .any(|pool| pool.prefix.contains(p) && pool.delegated_len == p.prefix_len()),
        Resource::V4Address(_) => false,
    });
    unheld && in_pool && owner(s, r) == Some(s.role())
}

impl World {
    /// Before `server` processes a Renew/Rebind of `client`: which listed resources it owes
    /// stability for.
    pub(super) fn note_owed(&mut self, server: usize, client: u32, msg: Option<&Message>) {
        let Some(m) = msg else { return };
        if !matches!(m.msg_type, MessageType::Renew | MessageType::Rebind) {
            return;
        }
        let now = self.core_now();
        let Some(s) = self.fs(server) else {
            return;
        };
        let duid = self.clients[client as usize].duid().to_vec();
        let owed: Vec<Resource> = listed(m)
            .into_iter()
            .filter(|r| owes_stability(s, &duid, r, now))
            .collect();
        self.owed.insert((client, server), owed);
    }

    /// (c) A Renew/Rebind answer took `resource` from `client`: a violation only if the
    /// server owed it stability.
    pub(super) fn stability_owed(
        &mut self,
        client: u32,
        server: usize,
        resource: &Resource,
    ) -> bool {
        let owed = self
            .owed
            .get(&(client, server))
            .is_some_and(|v| v.contains(resource));
        if !owed {
            self.report.unknown_claims_refused += 1;
        }
        owed
    }

    /// The client's ACTIVE resources at `server`, if the server is in `state` now.
    pub(super) fn active_of(
        &self,
        server: usize,
        client: u32,
        state: ServerState,
    ) -> Option<BTreeSet<Resource>> {
        let s = self.fs(server)?;
        if s.state() != state {
            return None;
        }
        let now = self.core_now();
        let duid = self.clients[client as usize].duid();
        Some(
            s.leases()
                .iter()
                .filter(|l| l.duid.0 == duid && l.is_active_at(now))
                .map(|l| l.resource)
                .collect(),
        )
    }

    /// (f) RECOVER-DONE renews only what it knows (§8.7.1): no new ACTIVE binding.
    pub(super) fn check_recover_done(
        &mut self,
        server: usize,
        client: u32,
        before: Option<BTreeSet<Resource>>,
    ) {
        let Some(before) = before else { return };
        let now = self.core_now();
        let Some(s) = self.fs(server) else {
            return;
        };
        let duid = self.clients[client as usize].duid();
        let made: Vec<Resource> = s
            .leases()
            .iter()
            .filter(|l| l.duid.0 == duid && l.is_active_at(now) && !before.contains(&l.resource))
            .map(|l| l.resource)
            .collect();
        for r in made {
            self.violation(format!(
                "(f) node {server} in RECOVER-DONE made a binding of {} for client {client}",
                super::show(&r)
            ));
        }
    }

    /// (e) NoPrefixAvail from a server that may delegate from its own share while that share
    /// has room for more prefixes than there are clients (so not every one can be on offer).
    pub(super) fn check_no_prefix_avail(&mut self, server: usize, outcome: &Outcome) {
        let Some(reply) = outcome
            .reply
            .as_ref()
            .and_then(|r| client_message(&r.bytes))
        else {
            return;
        };
        let refused = reply
            .ia_pds()
            .iter()
            .any(|ia| ia.status_code().is_some_and(|s| s.code == NO_PREFIX_AVAIL));
        if !refused {
            return;
        }
        let Some(s) = self.fs(server) else {
            return;
        };
        let now = self.core_now();
        let role = s.role();
        let allowed = may_allocate(
            s.state(),
            role,
            role,
            AllocationKind::Proportional,
            s.reuse_base(),
            s.endpoint().mclt(),
            now,
        );
        if !allowed {
            return;
        }
        // Delegated-size prefixes inside a block that `role` cannot hand out now.
        let taken: Vec<ipnet::Ipv6Net> = s
            .leases()
            .iter()
            .filter_map(|l| match l.resource {
                Resource::Prefix(p) => {
                    let available_to_us = matches!(
                        (l.status, role),
                        (BindingStatus::Free, Role::Primary)
                            | (BindingStatus::FreeBackup, Role::Secondary)
                    );
                    (!l.duid.is_empty() && !available_to_us).then_some(p)
                }
                Resource::Address(_) | Resource::V4Address(_) => None,
            })
            .collect();
        let used_in = |b: ipnet::Ipv6Net| taken.iter().filter(|p| b.contains(*p)).count() as u64;
        let room: u64 = s
            .prefix_pools()
            .iter()
            .map(|pool| pool.capacity(role, &used_in))
            .sum();
        let clients = u64::from(self.cfg.clients + self.cfg.stale_clients);
        if room > clients {
            let state = s.state();
            self.violation(format!(
                "(e) node {server} ({role}, {state}) answered NoPrefixAvail with {room} prefixes free in its own share"
            ));
        }
    }
}

impl World {
    /// (g) No server may be in a position to give a resource some client still holds to
    /// another client: asked with the server's own rules (who may allocate what in which
    /// state, RFC 8156 §4.2, §8; when a lease may go to another client, §4.2.2.1, §8.4.1),
    /// every resource a client holds (with a little margin) must be refused.
    pub(super) fn check_reusable_while_held(&mut self, i: usize) {
        use tandem_failover::binding::may_reuse_for_other_client;
        let Some(s) = self.fs(i) else {
            return;
        };
        let now_ms = self.now;
        let now = self.core_now();
        let (state, role) = (s.state(), s.role());
        let (pd, mclt) = (s.reuse_base(), s.endpoint().mclt());
        let mut bad = Vec::new();
        for (r, held) in &self.holders {
            let Some((c, until)) = held.iter().find(|(_, until)| *until > now_ms + 2_000) else {
                continue;
            };
            let (Some(owner), Some(kind)) = (owner(s, r), AllocationKind::of(r)) else {
                continue;
            };
            if !may_allocate(state, role, owner, kind, pd, mclt, now) {
                continue;
            }
            let record = s.leases().get(r);
            let reusable =
                record.is_none_or(|l| may_reuse_for_other_client(state, l, pd, mclt, now));
            if reusable {
                bad.push(format!(
                    "(g) node {i} ({role}, {state}) may give {} to anyone while client {c} holds it until {}s; its record: {:?}",
                    super::show(r),
                    until / 1000,
                    record.map(|l| (l.status, l.state_expiration, &l.failover))
                ));
            }
        }
        for b in bad {
            self.violation(b);
        }
    }
}

impl World {
    /// (h) A server in PARTNER-DOWN offers its partner's prefixes only once its own share is
    /// used up (RFC 8156 §8.4.1 "MUST first use its own pool"): an Advertise naming one of
    /// the partner's prefixes while the own share has room for more than every client is a
    /// violation.
    pub(super) fn check_own_share_first(&mut self, server: usize, outcome: &Outcome) {
        let Some(reply) = outcome
            .reply
            .as_ref()
            .and_then(|r| client_message(&r.bytes))
        else {
            return;
        };
        if reply.msg_type != MessageType::Advertise {
            return;
        }
        let Some(s) = self.fs(server) else {
            return;
        };
        if s.state() != ServerState::PartnerDown {
            return;
        }
        let role = s.role();
        let offered: Vec<ipnet::Ipv6Net> = reply
            .ia_pds()
            .iter()
            .flat_map(|ia| ia.ia_prefixes())
            .filter(|p| p.valid > 0)
            .filter_map(|p| ipnet::Ipv6Net::new(p.prefix, p.prefix_len).ok())
            .filter(|p| {
                // A prefix this client already has a record of here is not a new allocation.
                s.leases()
                    .get(&Resource::Prefix(*p))
                    .is_none_or(|l| l.duid.0 != reply.client_id().unwrap_or_default())
                    && owner(s, &Resource::Prefix(*p)) == Some(role.partner())
            })
            .collect();
        if offered.is_empty() {
            return;
        }
        let taken: Vec<ipnet::Ipv6Net> = s
            .leases()
            .iter()
            .filter_map(|l| match l.resource {
                Resource::Prefix(p) if !l.duid.is_empty() => Some(p),
                _ => None,
            })
            .collect();
        let used_in = |b: ipnet::Ipv6Net| taken.iter().filter(|p| b.contains(*p)).count() as u64;
        let room: u64 = s
            .prefix_pools()
            .iter()
            .map(|pool| pool.capacity(role, &used_in))
            .sum();
        if room > u64::from(self.cfg.clients + self.cfg.stale_clients) {
            self.violation(format!(
                "(h) node {server} ({role}, PARTNER-DOWN) offered the partner's {} with {room} prefixes free in its own share",
                super::show(&Resource::Prefix(offered[0]))
            ));
        }
    }
}
