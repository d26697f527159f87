//! Choosing, granting and committing resources for one IA (pools, reservations,
//! hints, affinity, Advertise holds, lease policy), and the reply IA rendering.

use std::collections::HashMap;

use ipnet::Ipv6Net;
use tandem_wire::v6::{status, DhcpOption, Ia, IaAddr, IaPrefix, IaTa};

use crate::alloc::{PoolSpace, Region};
use crate::config::Subnet;
use crate::lease::{BindingStatus, Duid, IaType, Lease, LeaseChange, Resource};
use crate::table::{ClientKey, ClientRef, LeaseTable};
use crate::time::Time;

use super::server::{status_option, DhcpServer, Grant, IaOut, Request};

/// How long an address offered in an Advertise is kept from other clients (not durable).
const OFFER_HOLD_SECS: u64 = 60;
/// Above this many in-memory offers, expired ones are pruned.
const OFFER_PRUNE_AT: usize = 65_536;

impl DhcpServer {
    /// Finds a resource for one IA and grants it (committing when `commit`).
    pub(super) fn assign_ia(
        &mut self,
        req: &Request,
        kind: IaType,
        ia: &Ia,
        commit: bool,
    ) -> IaOut {
        let key = client_key(&req.duid, ia.iaid, kind);
        let hints = ia_resources(kind, ia);
        match self.pick(req, &key, &hints) {
            Some(r) => {
                let g = self.grant(req, &key, r, commit);
                IaOut {
                    kind,
                    iaid: ia.iaid,
                    grants: vec![g],
                    status: None,
                }
            }
            None => {
                self.exhausted.push(kind);
                let st = if kind == IaType::Pd {
                    (status::NO_PREFIX_AVAIL, "no prefixes available")
                } else {
                    (status::NO_ADDRS_AVAIL, "no addresses available")
                };
                IaOut {
                    kind,
                    iaid: ia.iaid,
                    grants: vec![],
                    status: Some(st),
                }
            }
        }
    }

    /// Resources of this client IA on this subnet that it may keep using.
    pub(super) fn own_resources(&self, key: &ClientKey, subnet: usize, now: Time) -> Vec<Resource> {
        let Some(sid) = self.subnet(subnet).map(|s| s.id) else {
            return vec![];
        };
        let mut v: Vec<&Lease> = self
            .leases
            .for_client(&key.0, key.1, key.2)
            .into_iter()
            .filter(|l| l.subnet_id == sid && l.is_active_at(now))
            .collect();
        v.sort_by_key(|l| std::cmp::Reverse(l.cltt));
        v.into_iter().map(|l| l.resource).collect()
    }

    /// Whether `r` belongs on this subnet for this client: its reservation of that kind
    /// if it has one, otherwise any resource of the subnet's pools.
    pub(super) fn appropriate(&self, subnet: usize, duid: &Duid, r: &Resource) -> bool {
        let (Some(s), Some(p)) = (self.subnet(subnet), self.pools.get(subnet)) else {
            return false;
        };
        let reserved = reserved_for(s, duid);
        let same_kind =
            |x: &Resource| matches!(x, Resource::Prefix(_)) == matches!(r, Resource::Prefix(_));
        if reserved.iter().any(same_kind) {
            // Reservations win: a client with one gets only its reserved resource of
            // that kind; an older dynamic binding is let go (lifetime 0 on Renew).
            return reserved.contains(r);
        }
        match r {
            Resource::Address(_) => p.na.iter().any(|a| a.contains(r)),
            Resource::Prefix(_) => p.pd.iter().any(|a| a.contains(r)),
            // A DHCPv4 address never belongs to a DHCPv6 client (RFC 8415 IAs hold IPv6
            // addresses and prefixes only); no reservation names one either.
            Resource::V4Address(_) => false,
        }
    }

    /// Whether an address lies in the link's prefix (prefixes are never "off link"; a
    /// DHCPv4 address is on no DHCPv6 link).
    pub(super) fn on_link(&self, subnet: usize, r: &Resource) -> bool {
        match r {
            Resource::Address(a) => self.subnet(subnet).is_some_and(|s| s.prefix.contains(a)),
            Resource::Prefix(_) => true,
            Resource::V4Address(_) => false,
        }
    }

    /// Whether `r` may go to `holder` now without taking it from anyone: no other
    /// client's offer hold or binding is on it (another client's lapsed record is
    /// forfeited; an ABANDONED one only once its quarantine ended).
    pub(crate) fn usable_for(
        leases: &LeaseTable,
        offers: &HashMap<Resource, (ClientRef, Time)>,
        holder: &ClientRef,
        r: &Resource,
        now: Time,
    ) -> bool {
        if let Some((held_by, until)) = offers.get(r) {
            if held_by != holder && now < *until {
                return false;
            }
        }
        match leases.get(r) {
            None => true,
            Some(l) if holder.holds(l) => l.status != BindingStatus::Abandoned,
            Some(l) => match l.status {
                // Another client's lapsed binding: usable (its affinity is forfeited).
                // FREE-BACKUP: the lease policy decides who owns it (failover).
                BindingStatus::Expired
                | BindingStatus::Released
                | BindingStatus::Free
                | BindingStatus::FreeBackup => true,
                BindingStatus::Abandoned => l.state_expiration.is_some_and(|e| now >= e),
                _ => false,
            },
        }
    }

    /// Keeps `r` from other clients for a while after offering it to `holder` (an
    /// Advertise, a DHCPOFFER; in memory only: nothing is promised until the Request).
    /// A client holds one offer at a time.
    pub(crate) fn hold_offer(&mut self, holder: ClientRef, r: Resource, now: Time) {
        if self.offers.len() > OFFER_PRUNE_AT {
            self.offers.retain(|_, (_, until)| now < *until);
            let offers = &self.offers;
            self.offers_by_client.retain(|_, r| offers.contains_key(r));
        }
        if let Some(old) = self.offers_by_client.insert(holder.clone(), r) {
            if old != r {
                self.offers.remove(&old);
            }
        }
        self.offers.insert(r, (holder, now.plus(OFFER_HOLD_SECS)));
    }

    /// Chooses the resource for one client IA: its own binding, its reservation, then new
    /// space as the lease policy ranks it (a hint or an Advertise of the best rank first,
    /// then the pools' free space of that rank, then the next rank).
    pub(super) fn pick(
        &mut self,
        req: &Request,
        key: &ClientKey,
        hints: &[Resource],
    ) -> Option<Resource> {
        let now = req.now;
        let subnet = self.subnet(req.subnet)?.clone();
        let want_pd = key.2 == IaType::Pd;
        let holder = ClientRef::V6(key.clone());
        // 1. The client's own binding (active first, then its lapsed record: affinity).
        //    A record that went back to a pool (FREE / FREE-BACKUP) is no longer the
        //    client's: handing it out again is a new allocation, and the lease policy
        //    decides whose pool it is in (RFC 8156 §4.2; found by tandem-sim seed 32593).
        let mut own: Vec<&Lease> = self
            .leases
            .for_client(&key.0, key.1, key.2)
            .into_iter()
            .filter(|l| l.subnet_id == subnet.id && l.status != BindingStatus::Abandoned)
            .filter(|l| self.appropriate(req.subnet, &key.0, &l.resource))
            .collect();
        let (returned, mut own): (Vec<&Lease>, Vec<&Lease>) = {
            let all = std::mem::take(&mut own);
            all.into_iter()
                .partition(|l| matches!(l.status, BindingStatus::Free | BindingStatus::FreeBackup))
        };
        // A lapsed one (EXPIRED, RELEASED) only as the lease policy allows: failover may
        // know that another client holds it by now (RFC 8156 §8.4.1, §8.7.1).
        own.retain(|l| l.is_active_at(now) || self.policy.may_adopt(&l.resource, Some(l), now));
        own.sort_by_key(|l| {
            (
                !l.is_active_at(now),
                !hints.contains(&l.resource),
                std::cmp::Reverse(l.cltt),
            )
        });
        if let Some(l) = own.first() {
            return Some(l.resource);
        }
        let returned: Vec<Resource> = returned.iter().map(|l| l.resource).collect();
        // 2. A reservation for this DUID.
        for r in reserved_for(&subnet, &key.0) {
            if matches!(r, Resource::Prefix(_)) == want_pd
                && Self::usable_for(&self.leases, &self.offers, &holder, &r, now)
            {
                return Some(r);
            }
        }
        // 3. New space, rank by rank: what we advertised to it a moment ago, its old record
        //    that went back to a pool, the hints it sent, then the pools' free space.
        let advertised = self.offers_by_client.get(&holder).copied();
        let wanted: Vec<Resource> = advertised
            .into_iter()
            .chain(returned)
            .chain(hints.iter().copied())
            .filter(|r| matches!(r, Resource::Prefix(_)) == want_pd)
            .collect();
        let sp = self.pools.get(req.subnet)?;
        let list = if want_pd { &sp.pd } else { &sp.na };
        let spaces: Vec<PoolSpace> = if want_pd {
            subnet
                .pd_pools
                .iter()
                .map(|p| PoolSpace::Prefixes(p.prefix))
                .collect()
        } else {
            vec![PoolSpace::Addresses; list.len()]
        };
        // ranks[pool][rank] = regions.
        let ranks: Vec<Vec<Vec<Region>>> = spaces
            .iter()
            .map(|s| self.policy.allocation_ranks(*s, now))
            .collect();
        let rank_of = |r: &Resource| -> Option<usize> {
            list.iter().zip(&ranks).find_map(|(pool, pr)| {
                pr.iter()
                    .position(|regions| regions.iter().any(|g| pool.region_contains(g, r)))
            })
        };
        let mut wanted_ranked: Vec<(usize, Resource)> = wanted
            .iter()
            .filter(|r| {
                self.appropriate(req.subnet, &key.0, r)
                    && Self::usable_for(&self.leases, &self.offers, &holder, r, now)
                    && self.policy.may_allocate(r, self.leases.get(r), now)
            })
            .filter_map(|r| rank_of(r).map(|k| (k, *r)))
            .collect();
        // Stable: within a rank, the order above (advertised, returned, hints).
        wanted_ranked.sort_by_key(|(k, _)| *k);
        let deepest = ranks.iter().map(Vec::len).max().unwrap_or(0);
        let budget = self.config.probe_budget;
        for rank in 0..deepest {
            if let Some((_, r)) = wanted_ranked.iter().find(|(k, _)| *k == rank) {
                return Some(*r);
            }
            let Self {
                pools,
                leases,
                offers,
                policy,
                alloc_stats,
                ..
            } = self;
            let sp = pools.get_mut(req.subnet)?;
            let list = if want_pd { &mut sp.pd } else { &mut sp.na };
            for (pool, pr) in list.iter_mut().zip(&ranks) {
                let Some(regions) = pr.get(rank) else {
                    continue;
                };
                let mut usable = |r: &Resource| {
                    Self::usable_for(leases, offers, &holder, r, now)
                        && policy.may_allocate(r, leases.get(r), now)
                };
                if let Some(r) = pool.allocate(regions, budget, &mut usable, alloc_stats) {
                    return Some(r);
                }
            }
        }
        None
    }

    /// Lifetimes for `r` (capped by policy), plus the lease to commit or the offer to hold.
    pub(super) fn grant(
        &mut self,
        req: &Request,
        key: &ClientKey,
        r: Resource,
        commit: bool,
    ) -> Grant {
        let now = req.now;
        let (pref_cfg, valid_cfg, sid) = self.subnet(req.subnet).map_or((0, 0, 0), |s| {
            (s.preferred_lifetime, s.valid_lifetime, s.id)
        });
        // The policy's limit depends on what was acknowledged for *this* binding (RFC 8156
        // §4.4): a record of another client, or one back in a pool, counts for nothing.
        let binding = self
            .leases
            .get(&r)
            .filter(|l| l.status == BindingStatus::Active && l.duid == key.0 && l.iaid == key.1);
        let valid = self
            .policy
            .cap_valid_lifetime(&r, binding, valid_cfg, now)
            .min(valid_cfg);
        let preferred = pref_cfg.min(valid);
        if !commit {
            self.hold_offer(ClientRef::V6(key.clone()), r, now);
            return Grant {
                resource: r,
                preferred,
                valid,
                commit: None,
            };
        }
        let lease = self.active_record(r, &ClientRef::V6(key.clone()), sid, preferred, valid, now);
        Grant {
            resource: r,
            preferred,
            valid,
            commit: Some(lease),
        }
    }

    /// Builds the IA options with one T1/T2 for the whole reply (RFC 8415 §18.3.2),
    /// commits the leases and returns (options, changes).
    pub(super) fn render(
        &mut self,
        req: &Request,
        ias: Vec<IaOut>,
        commit: bool,
    ) -> (Vec<DhcpOption>, Vec<LeaseChange>) {
        let (t1_cfg, t2_cfg, pref_cfg) = self.subnet(req.subnet).map_or((0, 0, 0), |s| {
            (s.effective_t1(), s.effective_t2(), s.preferred_lifetime)
        });
        let min_pref = ias
            .iter()
            .flat_map(|i| &i.grants)
            .filter(|g| g.valid > 0)
            .map(|g| g.preferred)
            .min();
        let (t1, t2) = match min_pref {
            Some(p) if p < pref_cfg => (
                t1_cfg.min(p / 2),
                t2_cfg.min(((u64::from(p) * 4) / 5) as u32),
            ),
            _ => (t1_cfg, t2_cfg),
        };
        let mut opts = Vec::new();
        let mut changes = Vec::new();
        for ia in ias {
            let mut sub = Vec::new();
            let mut any_valid = false;
            for g in ia.grants {
                sub.push(match g.resource {
                    Resource::Address(addr) => DhcpOption::IaAddr(IaAddr {
                        addr,
                        preferred: g.preferred,
                        valid: g.valid,
                        options: vec![],
                    }),
                    Resource::Prefix(prefix) => DhcpOption::IaPrefix(IaPrefix {
                        preferred: g.preferred,
                        valid: g.valid,
                        prefix_len: prefix.prefix_len(),
                        prefix: prefix.network(),
                        options: vec![],
                    }),
                    // `pick` takes DHCPv6 pools and reservations only (`appropriate`
                    // refuses a v4 address), so no grant holds one; should one ever,
                    // it is left out of the reply and not committed.
                    Resource::V4Address(_) => {
                        debug_assert!(false, "DHCPv4 address in a DHCPv6 IA: {}", g.resource);
                        continue;
                    }
                });
                any_valid |= g.valid > 0;
                if let (true, Some(mut l)) = (commit, g.commit) {
                    l.t1 = t1;
                    l.t2 = t2;
                    self.forget_offer(&l.resource);
                    self.put(l.clone());
                    changes.push(LeaseChange::Upsert(l));
                }
            }
            if let Some((code, text)) = ia.status {
                sub.push(status_option(code, text));
            }
            let (it1, it2) = if any_valid { (t1, t2) } else { (0, 0) };
            let (iaid, options) = (ia.iaid, sub);
            opts.push(match ia.kind {
                IaType::Na => DhcpOption::IaNa(Ia {
                    iaid,
                    t1: it1,
                    t2: it2,
                    options,
                }),
                IaType::Pd => DhcpOption::IaPd(Ia {
                    iaid,
                    t1: it1,
                    t2: it2,
                    options,
                }),
                // RFC 8415 §21.5: an IA_TA has no T1/T2.
                IaType::Ta => DhcpOption::IaTa(IaTa { iaid, options }),
            });
        }
        opts.extend(self.info_options(Some(req.subnet), req.msg, false));
        (opts, changes)
    }

    pub(crate) fn forget_offer(&mut self, r: &Resource) {
        if let Some((k, _)) = self.offers.remove(r) {
            if self.offers_by_client.get(&k) == Some(r) {
                self.offers_by_client.remove(&k);
            }
        }
    }
}

pub(super) fn client_key(duid: &Duid, iaid: u32, kind: IaType) -> ClientKey {
    (duid.clone(), iaid, kind)
}

/// An IA_NA or IA_PD option, with its kind.
pub(super) fn ia_of(o: &DhcpOption) -> Option<(IaType, &Ia)> {
    match o {
        DhcpOption::IaNa(ia) => Some((IaType::Na, ia)),
        DhcpOption::IaPd(ia) => Some((IaType::Pd, ia)),
        _ => None,
    }
}

/// Addresses (IA_NA) or prefixes (IA_PD) listed inside an IA; prefix-length-only hints
/// (`::/len`, RFC 8168) ignored.
pub(super) fn ia_resources(kind: IaType, ia: &Ia) -> Vec<Resource> {
    let listed = |o: &DhcpOption| match (kind, o) {
        (IaType::Na, DhcpOption::IaAddr(a)) => Some(Resource::Address(a.addr)),
        // tandem-wire has rejected lengths above 128, so `new` does not fail.
        (IaType::Pd, DhcpOption::IaPrefix(p)) => Ipv6Net::new(p.prefix, p.prefix_len)
            .ok()
            .filter(|p| !p.network().is_unspecified())
            .map(|p| Resource::Prefix(p.trunc())),
        _ => None,
    };
    ia.options.iter().filter_map(listed).collect()
}

pub(super) fn reserved_for(s: &Subnet, duid: &Duid) -> Vec<Resource> {
    let mut v = Vec::new();
    for r in s.reservations.iter().filter(|r| &r.duid == duid) {
        if let Some(a) = r.address {
            v.push(Resource::Address(a));
        }
        if let Some(p) = r.prefix {
            v.push(Resource::Prefix(p));
        }
    }
    v
}

/// Temporary addresses are not offered: answer the IA_TA with NoAddrsAvail (§18.3.1).
pub(super) fn ia_ta_unsupported(iaid: u32) -> IaOut {
    IaOut {
        kind: IaType::Ta,
        iaid,
        grants: vec![],
        status: Some((status::NO_ADDRS_AVAIL, "temporary addresses not offered")),
    }
}
