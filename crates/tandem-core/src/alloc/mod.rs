//! Dynamic allocation from address and prefix pools without ever enumerating them.
//!
//! A pool is an arithmetic range: offset `i` maps to `first + i` (addresses) or to
//! `base + (i << (128 - delegated_len))` (prefixes). Free space is implicit — there is
//! no record of an unused resource. Each pool keeps a cursor over offsets that moves
//! forward, and a short free list of resources that came back (released/expired and
//! forgotten) which are tried first. A request probes at most `budget` offsets; if none
//! is usable the pool counts as full for that request. Cost is therefore bounded per
//! request, independent of pool size and of how many leases exist.

use std::collections::VecDeque;
use std::net::Ipv6Addr;

use ipnet::Ipv6Net;

use crate::config::{AddressPool, PdPool};
use crate::lease::Resource;

/// How many returned resources a pool remembers for quick reuse.
const FREE_LIST_MAX: usize = 4096;

/// Counters the tests (and `tandem ctl`) use to check allocation cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllocStats {
    /// Candidate resources examined, over all requests.
    pub probes: u64,
    /// Successful allocations.
    pub allocations: u64,
    /// Requests that found no usable resource within the budget.
    pub exhausted: u64,
}

#[derive(Clone, Debug)]
enum Shape {
    Addresses { first: u128 },
    Prefixes { base: u128, delegated_len: u8 },
}

/// Allocation state for one configured pool.
#[derive(Clone, Debug)]
pub struct PoolAllocator {
    shape: Shape,
    /// Number of resources in the pool, saturated at `u128::MAX`.
    count: u128,
    cursor: u128,
    free: VecDeque<Resource>,
}

impl PoolAllocator {
    pub fn for_address_pool(p: &AddressPool) -> Self {
        let first = u128::from(p.first);
        let last = u128::from(p.last).max(first);
        PoolAllocator {
            shape: Shape::Addresses { first },
            count: (last - first).saturating_add(1),
            cursor: 0,
            free: VecDeque::new(),
        }
    }

    pub fn for_pd_pool(p: &PdPool) -> Self {
        let dlen = p.delegated_len.clamp(p.prefix.prefix_len(), 128);
        let bits = u32::from(dlen - p.prefix.prefix_len());
        PoolAllocator {
            shape: Shape::Prefixes {
                base: u128::from(p.prefix.network()),
                delegated_len: dlen,
            },
            count: 1u128.checked_shl(bits).unwrap_or(u128::MAX),
            cursor: 0,
            free: VecDeque::new(),
        }
    }

    /// Number of resources in the pool (saturated).
    pub fn size(&self) -> u128 {
        self.count
    }

    fn at(&self, offset: u128) -> Resource {
        match self.shape {
            Shape::Addresses { first } => {
                Resource::Address(Ipv6Addr::from(first.wrapping_add(offset)))
            }
            Shape::Prefixes {
                base,
                delegated_len,
            } => {
                let step = offset
                    .checked_shl(128 - u32::from(delegated_len))
                    .unwrap_or(0);
                let net = Ipv6Addr::from(base.wrapping_add(step));
                // delegated_len <= 128 by construction, so this cannot fail; fall back to /128.
                Resource::Prefix(
                    Ipv6Net::new(net, delegated_len).unwrap_or_else(|_| Ipv6Net::from(net)),
                )
            }
        }
    }

    /// Whether `r` is one of this pool's resources.
    pub fn contains(&self, r: &Resource) -> bool {
        match (self.shape.clone(), r) {
            (Shape::Addresses { first }, Resource::Address(a)) => {
                let a = u128::from(*a);
                a >= first && a - first < self.count
            }
            (
                Shape::Prefixes {
                    base,
                    delegated_len,
                },
                Resource::Prefix(p),
            ) => {
                if p.prefix_len() != delegated_len || p.trunc() != *p {
                    return false;
                }
                let n = u128::from(p.network());
                let shift = 128 - u32::from(delegated_len);
                n >= base && ((n - base).checked_shr(shift).unwrap_or(0)) < self.count
            }
            _ => false,
        }
    }

    /// Offset of `r` in the pool, if it belongs to it.
    pub fn offset_of(&self, r: &Resource) -> Option<u128> {
        if !self.contains(r) {
            return None;
        }
        match (&self.shape, r) {
            (Shape::Addresses { first }, Resource::Address(a)) => Some(u128::from(*a) - first),
            (
                Shape::Prefixes {
                    base,
                    delegated_len,
                },
                Resource::Prefix(p),
            ) => (u128::from(p.network()) - base).checked_shr(128 - u32::from(*delegated_len)),
            _ => None,
        }
    }

    /// Moves the cursor past `r` (startup: leases are handed out in cursor order, so
    /// starting after the highest used offset avoids re-probing the used run).
    pub fn seek_past(&mut self, r: &Resource) {
        if let Some(off) = self.offset_of(r) {
            if off >= self.cursor {
                self.cursor = if off.saturating_add(1) >= self.count {
                    0
                } else {
                    off + 1
                };
            }
        }
    }

    /// Remembers a resource that became free so it is offered again before new space.
    pub fn push_free(&mut self, r: Resource) {
        if self.contains(&r) && self.free.len() < FREE_LIST_MAX {
            self.free.push_back(r);
        }
    }

    /// Finds a usable resource: free list first, then the cursor, at most `budget` probes.
    ///
    /// `usable` says whether a candidate may be given out now (not leased, not reserved,
    /// allowed by the failover ownership filter ...).
    pub fn allocate(
        &mut self,
        budget: u32,
        usable: &mut dyn FnMut(&Resource) -> bool,
        stats: &mut AllocStats,
    ) -> Option<Resource> {
        let mut left = u128::from(budget.max(1));
        while let Some(r) = self.free.pop_front() {
            if left == 0 {
                self.free.push_front(r);
                break;
            }
            left -= 1;
            stats.probes += 1;
            if usable(&r) {
                stats.allocations += 1;
                return Some(r);
            }
        }
        let tries = left.min(self.count);
        for _ in 0..tries {
            let r = self.at(self.cursor);
            self.cursor = if self.cursor.saturating_add(1) >= self.count {
                0
            } else {
                self.cursor + 1
            };
            stats.probes += 1;
            if usable(&r) {
                stats.allocations += 1;
                return Some(r);
            }
        }
        stats.exhausted += 1;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn slash_40_split_into_56_has_65536_prefixes_and_maps_offsets() {
        let p = PoolAllocator::for_pd_pool(&PdPool {
            prefix: "2001:db8:100::/40".parse().unwrap(),
            delegated_len: 56,
        });
        assert_eq!(p.size(), 65536);
        assert_eq!(
            p.at(1),
            Resource::Prefix("2001:db8:100:100::/56".parse().unwrap())
        );
        assert!(p.contains(&p.at(65535)));
        assert!(!p.contains(&Resource::Prefix("2001:db9::/56".parse().unwrap())));
        assert!(!p.contains(&Resource::Prefix("2001:db8:100::/64".parse().unwrap())));
    }

    #[test]
    fn whole_slash_64_pool_allocates_without_iterating() {
        let mut p = PoolAllocator::for_address_pool(&AddressPool {
            first: "2001:db8::".parse().unwrap(),
            last: "2001:db8::ffff:ffff:ffff:ffff".parse().unwrap(),
        });
        assert_eq!(p.size(), 1u128 << 64);
        let mut used = HashSet::new();
        let mut stats = AllocStats::default();
        for _ in 0..1000 {
            let r = p
                .allocate(16, &mut |r| !used.contains(r), &mut stats)
                .unwrap();
            used.insert(r);
        }
        assert_eq!(stats.probes, 1000);
    }

    #[test]
    fn tiny_pool_exhausts_then_reuses_freed_resource() {
        let mut p = PoolAllocator::for_address_pool(&AddressPool {
            first: "2001:db8::1".parse().unwrap(),
            last: "2001:db8::2".parse().unwrap(),
        });
        let mut used = HashSet::new();
        let mut stats = AllocStats::default();
        for _ in 0..2 {
            let r = p
                .allocate(100, &mut |r| !used.contains(r), &mut stats)
                .unwrap();
            used.insert(r);
        }
        assert!(p
            .allocate(100, &mut |r| !used.contains(r), &mut stats)
            .is_none());
        // Bounded by the pool size, not the budget.
        assert_eq!(stats.probes, 2 + 2);
        let back = Resource::Address("2001:db8::2".parse().unwrap());
        used.remove(&back);
        p.push_free(back);
        assert_eq!(
            p.allocate(100, &mut |r| !used.contains(r), &mut stats),
            Some(back)
        );
    }
}
