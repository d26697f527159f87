//! Which link a DHCPv4 client is on, and which address of it the client may have:
//! reservations, its own binding (affinity), the address offered to it, the one it asks
//! for, then the pools — with the same allocators, offer holds and lease policy as DHCPv6.

use std::net::Ipv4Addr;

use tandem_wire::v4::{Message, OptionsExt};

use crate::alloc::Region;
use crate::lease::{BindingStatus, Lease, Resource};
use crate::DhcpServer;

use super::server::Request4;
use super::RxInfo4;

/// The address to offer, its subnet (index into `subnets4`), and whether it is already
/// the client's (its reservation, its current or previous binding): an address new to
/// the client may need a probe first (RFC 2131 §4.4.1).
pub(super) struct Pick4 {
    pub(super) addr: Ipv4Addr,
    pub(super) subnet: usize,
    pub(super) clients_own: bool,
}

impl DhcpServer {
    /// The subnets of the client's link, the one selected first (see the module
    /// documentation for the order of the rules); empty when none is configured.
    pub(super) fn select_link(&self, msg: &Message, rx: &RxInfo4) -> Vec<usize> {
        let subnets = &self.config.subnets4;
        let containing = |a: Ipv4Addr| {
            subnets
                .iter()
                .position(|s| !a.is_unspecified() && s.subnet.contains(&a))
        };
        let h = &msg.header;
        let relayed = !h.giaddr.is_unspecified();
        let selected = if let Some(a) = msg.link_selection().or(msg.subnet_selection()) {
            // RFC 3527 §4 / RFC 3011 §3: the relay (or client) names the link; a server
            // that has no subnet for it does not guess.
            containing(a)
        } else if relayed {
            containing(h.giaddr)
        } else {
            let by_interface = (!rx.interface.is_empty())
                .then(|| {
                    subnets
                        .iter()
                        .position(|s| s.interface.as_deref() == Some(rx.interface.as_str()))
                })
                .flatten();
            by_interface
                .or_else(|| containing(h.ciaddr))
                .or_else(|| containing(*rx.src.ip()))
                .or_else(|| containing(rx.local))
        };
        let Some(first) = selected else {
            return Vec::new();
        };
        let mut link = vec![first];
        if let Some(name) = &subnets[first].shared_network {
            link.extend(
                subnets
                    .iter()
                    .enumerate()
                    .filter(|(i, s)| *i != first && s.shared_network.as_ref() == Some(name))
                    .map(|(i, _)| i),
            );
        }
        link
    }

    /// The subnet of the client's link that `addr` is in.
    pub(super) fn subnet_of(&self, req: &Request4, addr: Ipv4Addr) -> Option<usize> {
        req.link.iter().copied().find(|i| {
            self.config.subnets4.get(*i).is_some_and(|s| {
                s.subnet.contains(&addr)
                    && addr != s.subnet.network()
                    && addr != s.subnet.broadcast()
            })
        })
    }

    /// The client's reservation on its link (by client identifier or 'chaddr'), with its
    /// subnet.
    pub(super) fn reserved4(&self, req: &Request4) -> Option<(Ipv4Addr, usize)> {
        let chaddr = req.msg.header.client_hw_addr();
        let client_id = req.msg.client_identifier();
        req.link.iter().find_map(|&i| {
            let s = self.config.subnets4.get(i)?;
            s.reservations
                .iter()
                .find(|r| {
                    r.client_id
                        .as_deref()
                        .is_some_and(|c| Some(c) == client_id.as_deref())
                        || r.hw_address.as_deref() == Some(chaddr)
                })
                .map(|r| (r.address, i))
        })
    }

    /// Whether `addr` belongs to this client on its link: its reservation if it has one,
    /// otherwise any address of the link's pools.
    pub(super) fn appropriate4(&self, req: &Request4, addr: Ipv4Addr) -> bool {
        if let Some((reserved, _)) = self.reserved4(req) {
            return reserved == addr;
        }
        let r = Resource::V4Address(addr);
        req.link.iter().any(|&i| {
            self.pools4
                .get(i)
                .is_some_and(|sp| sp.na.iter().any(|p| p.contains(&r)))
        })
    }

    /// The client's own record of `r`, unless it is quarantined.
    pub(super) fn client_binding(&self, req: &Request4, r: &Resource) -> Option<&Lease> {
        self.leases
            .get(r)
            .filter(|l| req.holder().holds(l) && l.status != BindingStatus::Abandoned)
    }

    /// The subnet under which the client may keep `addr` (RENEWING, REBINDING,
    /// INIT-REBOOT): its active binding, or its lapsed one as the lease policy allows
    /// (RFC 8156 §8.4.1 for failover; a server alone gives a client its own back), or —
    /// with no record at all — what the lease policy adopts. Never an address that is
    /// wrong for the client now (off its link, outside the pools, not its reservation).
    pub(super) fn grantable_own(&self, req: &Request4, addr: Ipv4Addr) -> Option<usize> {
        let subnet = self.subnet_of(req, addr)?;
        if !self.appropriate4(req, addr) {
            return None;
        }
        let r = Resource::V4Address(addr);
        let now = req.now;
        let ok = match self.leases.get(&r) {
            Some(l) if req.holder().holds(l) => match l.status {
                BindingStatus::Active => true,
                BindingStatus::Expired | BindingStatus::Released => {
                    self.policy.may_adopt(&r, Some(l), now)
                }
                _ => false,
            },
            Some(_) => false,
            None => self.policy.may_adopt(&r, None, now),
        };
        ok.then_some(subnet)
    }

    /// The subnet under which the client may have `addr` now (SELECTING, and a client's
    /// hint): right for it, taken from nobody, and the lease policy's to give.
    pub(super) fn grantable(&self, req: &Request4, addr: Ipv4Addr) -> Option<usize> {
        let subnet = self.subnet_of(req, addr)?;
        let r = Resource::V4Address(addr);
        let existing = self.leases.get(&r);
        let own = existing.is_some_and(|l| req.holder().holds(l));
        let ok = self.appropriate4(req, addr)
            && Self::usable_for(&self.leases, &self.offers, &req.holder(), &r, req.now)
            && (own || self.policy.may_allocate(&r, existing, req.now));
        ok.then_some(subnet)
    }

    /// The address to offer (RFC 2131 §4.3.1, in its order): the client's reservation,
    /// its current binding, its previous binding (affinity), what we offered it a
    /// moment ago, the address it asks for (option 50), then a free one of the pools,
    /// subnet by subnet of the link. The allocators never walk a pool.
    pub(super) fn pick4(&mut self, req: &Request4) -> Option<Pick4> {
        let now = req.now;
        let holder = req.holder();
        let pick = |addr, subnet, clients_own| Pick4 {
            addr,
            subnet,
            clients_own,
        };
        if let Some((addr, _)) = self.reserved4(req) {
            return self.grantable(req, addr).map(|s| pick(addr, s, true));
        }
        let mut own: Vec<&Lease> = self
            .leases
            .for_client_v4(&req.client)
            .into_iter()
            .filter(|l| {
                matches!(
                    l.status,
                    BindingStatus::Active | BindingStatus::Expired | BindingStatus::Released
                )
            })
            .collect();
        let requested = req.msg.requested_ip();
        own.sort_by_key(|l| {
            (
                !l.is_active_at(now),
                Some(l.resource) != requested.map(Resource::V4Address),
                std::cmp::Reverse(l.cltt),
            )
        });
        let candidates: Vec<Ipv4Addr> = own
            .iter()
            .filter_map(|l| match l.resource {
                Resource::V4Address(a) => Some(a),
                _ => None,
            })
            .collect();
        for a in candidates {
            if let Some(s) = self.grantable_own(req, a) {
                return Some(pick(a, s, true));
            }
        }
        let offered = self.offers_by_client.get(&holder).copied();
        let hints = offered
            .into_iter()
            .filter_map(|r| match r {
                Resource::V4Address(a) => Some(a),
                _ => None,
            })
            .chain(requested);
        for a in hints {
            // What we offered a moment ago (its probe may still be under way) or what the
            // client asks for: not the client's yet, so probed like the pools' addresses.
            if let Some(s) = self.grantable(req, a) {
                return Some(pick(a, s, false));
            }
        }
        let budget = self.config.probe_budget;
        let Self {
            pools4,
            leases,
            offers,
            policy,
            alloc_stats,
            ..
        } = self;
        for &i in &req.link {
            let Some(sp) = pools4.get_mut(i) else {
                continue;
            };
            for pool in &mut sp.na {
                let mut usable = |r: &Resource| {
                    Self::usable_for(leases, offers, &holder, r, now)
                        && policy.may_allocate(r, leases.get(r), now)
                };
                // The whole pool: how a DHCPv4 pool is split between failover partners
                // is the DHCPv4 failover layer's to say.
                if let Some(Resource::V4Address(a)) =
                    pool.allocate(&[Region::Whole], budget, &mut usable, alloc_stats)
                {
                    return Some(pick(a, i, false));
                }
            }
        }
        None
    }
}
