//! How full each configured pool is: what `tandem ctl status`, the metrics and the
//! pool-use warnings report.
//!
//! One pass over the lease table, each lease placed by its subnet id and a lookup among
//! that subnet's pools; nothing here runs per packet.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tandem_core::config::{AddressPool, PdPool, ServerConfig};
use tandem_core::{Lease, Resource, Time};
use tandem_failover::allocation::PrefixPool;
use tandem_failover::binding::lifecycle::address_owner;
use tandem_failover::Role;

/// One pool's use at a moment.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PoolUse {
    pub subnet_id: u32,
    /// The pool as configured: `first-last` for addresses, `prefix/delegated_len` for
    /// prefixes (e.g. `2001:db8:100::/40 /56`).
    pub pool: String,
    /// "address" (IA_NA) or "prefix" (IA_PD).
    pub kind: String,
    /// Addresses or delegable prefixes in the pool (saturated at 2^64 - 1).
    pub size: u64,
    /// Held by a client now (ACTIVE and within the valid lifetime).
    pub used: u64,
    /// `size - used`.
    pub free: u64,
    /// In a pair, what each member may still hand out of this pool: addresses by the
    /// parity split (RFC 8156 §4.2.1), prefixes by the blocks each side owns (§4.2.2).
    /// `None` for a server alone.
    pub shares: Option<PoolShares>,
}

/// The free part of a pool on each side of a pair.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PoolShares {
    pub primary_free: u64,
    pub secondary_free: u64,
}

impl PoolUse {
    /// Used as a share of the size, 0.0 to 100.0.
    pub fn percent_used(&self) -> f64 {
        if self.size == 0 {
            0.0
        } else {
            self.used as f64 * 100.0 / self.size as f64
        }
    }
}

/// The use of every pool of `config`, in configuration order. `prefix_pools` are a pair
/// member's proportional split (empty for a server alone, which gets no shares).
pub fn pool_use<'a>(
    config: &ServerConfig,
    leases: impl Iterator<Item = &'a Lease>,
    prefix_pools: Option<&[PrefixPool]>,
    now: Time,
) -> Vec<PoolUse> {
    let pair = prefix_pools.is_some();
    let mut out = Vec::new();
    // (subnet id) -> index of its first pool in `out`, address pools then prefix pools.
    let mut first_of: HashMap<u32, usize> = HashMap::new();
    for s in &config.subnets {
        first_of.insert(s.id, out.len());
        for p in &s.pools {
            let size = address_count(p);
            out.push(PoolUse {
                subnet_id: s.id,
                pool: format!("{}-{}", p.first, p.last),
                kind: "address".into(),
                size,
                used: 0,
                free: size,
                shares: pair.then(|| {
                    let (odd, even) = parity_split(p);
                    PoolShares {
                        primary_free: odd,
                        secondary_free: even,
                    }
                }),
            });
        }
        for p in &s.pd_pools {
            let size = prefix_count(p);
            let shares = prefix_pools.map(|pools| {
                let mut free = [0u64; 2];
                if let Some(split) = pools.iter().find(|q| q.parent() == p.prefix) {
                    for (block, role) in split.blocks() {
                        let bits = split.delegated_len().saturating_sub(block.prefix_len());
                        let n = 1u64.checked_shl(u32::from(bits)).unwrap_or(u64::MAX);
                        free[side(role)] = free[side(role)].saturating_add(n);
                    }
                }
                PoolShares {
                    primary_free: free[0],
                    secondary_free: free[1],
                }
            });
            out.push(PoolUse {
                subnet_id: s.id,
                pool: format!("{} /{}", p.prefix, p.delegated_len),
                kind: "prefix".into(),
                size,
                used: 0,
                free: size,
                shares,
            });
        }
    }
    for l in leases {
        if !l.is_active_at(now) {
            continue;
        }
        let Some(subnet) = config.subnets.iter().find(|s| s.id == l.subnet_id) else {
            continue;
        };
        let base = first_of[&subnet.id];
        let (index, owner) = match l.resource {
            Resource::Address(a) => {
                let Some(i) = subnet
                    .pools
                    .iter()
                    .position(|p| p.first <= a && a <= p.last)
                else {
                    continue;
                };
                (base + i, Some(address_owner(a)))
            }
            Resource::Prefix(q) => {
                let Some(i) = subnet.pd_pools.iter().position(|p| {
                    p.delegated_len == q.prefix_len() && p.prefix.contains(&q.network())
                }) else {
                    continue;
                };
                let owner = prefix_pools
                    .and_then(|pools| {
                        pools
                            .iter()
                            .find(|s| s.parent() == subnet.pd_pools[i].prefix)
                    })
                    .and_then(|split| split.owner_of(q));
                (base + subnet.pools.len() + i, owner)
            }
            // The pools listed are the configured DHCPv6 ones; a DHCPv4 lease is in none.
            Resource::V4Address(_) => continue,
        };
        let u = &mut out[index];
        u.used = u.used.saturating_add(1);
        u.free = u.free.saturating_sub(1);
        if let (Some(shares), Some(role)) = (u.shares.as_mut(), owner) {
            let f = match role {
                Role::Primary => &mut shares.primary_free,
                Role::Secondary => &mut shares.secondary_free,
            };
            *f = f.saturating_sub(1);
        }
    }
    out
}

fn address_count(p: &AddressPool) -> u64 {
    let (first, last) = (u128::from(p.first), u128::from(p.last));
    u64::try_from(last.saturating_sub(first).saturating_add(1)).unwrap_or(u64::MAX)
}

/// (odd, even) addresses of the pool: the primary's and the secondary's halves.
fn parity_split(p: &AddressPool) -> (u64, u64) {
    let (first, last) = (u128::from(p.first), u128::from(p.last));
    if last < first {
        return (0, 0);
    }
    let n = last - first + 1;
    let odd = if first % 2 == 1 { n.div_ceil(2) } else { n / 2 };
    let sat = |v: u128| u64::try_from(v).unwrap_or(u64::MAX);
    (sat(odd), sat(n - odd))
}

fn prefix_count(p: &PdPool) -> u64 {
    let bits = p.delegated_len.saturating_sub(p.prefix.prefix_len());
    1u64.checked_shl(u32::from(bits)).unwrap_or(u64::MAX)
}

fn side(role: Role) -> usize {
    match role {
        Role::Primary => 0,
        Role::Secondary => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_core::config::Subnet;
    use tandem_core::{BindingStatus, Duid};

    fn config() -> ServerConfig {
        let mut s = Subnet::new(7, "2001:db8:1::/64".parse().unwrap());
        s.pools.push(AddressPool {
            first: "2001:db8:1::1000".parse().unwrap(),
            last: "2001:db8:1::1009".parse().unwrap(),
        });
        s.pd_pools.push(PdPool {
            prefix: "2001:db8:100::/48".parse().unwrap(),
            delegated_len: 56,
        });
        ServerConfig {
            subnets: vec![s],
            ..ServerConfig::default()
        }
    }

    fn lease(resource: &str, status: BindingStatus, until: u64) -> Lease {
        let resource = if resource.contains('/') {
            Resource::Prefix(resource.parse().unwrap())
        } else {
            Resource::Address(resource.parse().unwrap())
        };
        Lease {
            resource,
            status,
            duid: Duid(vec![0, 3, 0, 1, 1, 2, 3, 4, 5, 6]),
            hw_address: Vec::new(),
            iaid: 1,
            subnet_id: 7,
            preferred_lifetime: 50,
            valid_lifetime: 100,
            t1: 25,
            t2: 40,
            cltt: Time(0),
            start_time_of_state: Time(0),
            state_expiration: Some(Time(until)),
            failover: Default::default(),
        }
    }

    #[test]
    fn active_leases_are_used_and_expired_or_released_ones_are_not() {
        let leases = [
            lease("2001:db8:1::1000", BindingStatus::Active, 100),
            lease("2001:db8:1::1001", BindingStatus::Active, 100),
            lease("2001:db8:1::1002", BindingStatus::Active, 10), // past its lifetime
            lease("2001:db8:1::1003", BindingStatus::Released, 100),
            lease("2001:db8:1::ffff", BindingStatus::Active, 100), // outside every pool
            lease("2001:db8:100:200::/56", BindingStatus::Active, 100),
        ];
        let u = pool_use(&config(), leases.iter(), None, Time(50));
        assert_eq!(u.len(), 2);
        assert_eq!(
            (u[0].pool.as_str(), u[0].kind.as_str()),
            ("2001:db8:1::1000-2001:db8:1::1009", "address")
        );
        assert_eq!((u[0].size, u[0].used, u[0].free), (10, 2, 8));
        assert_eq!(u[0].shares, None);
        assert_eq!(
            (u[1].pool.as_str(), u[1].size, u[1].used, u[1].free),
            ("2001:db8:100::/48 /56", 256, 1, 255)
        );
        assert!((u[0].percent_used() - 20.0).abs() < 1e-9);
    }

    #[test]
    fn pair_shares_split_addresses_by_parity_rfc8156_4_2_1() {
        let leases = [
            lease("2001:db8:1::1001", BindingStatus::Active, 100), // odd: the primary's
            lease("2001:db8:1::1002", BindingStatus::Active, 100), // even: the secondary's
            lease("2001:db8:1::1004", BindingStatus::Active, 100),
        ];
        let u = pool_use(&config(), leases.iter(), Some(&[]), Time(50));
        assert_eq!(
            u[0].shares,
            Some(PoolShares {
                primary_free: 4,
                secondary_free: 3
            })
        );
    }
}
