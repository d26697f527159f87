//! Dynamic allocation from address and prefix pools without ever enumerating them.
//!
//! A pool is an arithmetic range: offset `i` maps to `first + i` (addresses) or to
//! `base + (i << (128 - delegated_len))` (prefixes). Free space is implicit — there is no
//! record of an unused resource. What *is* kept is where records exist: the offsets that
//! have a lease record, as merged runs ([`RunSet`]), so the next never-used resource after
//! any point is found in O(log n) however full or fragmented the pool is.
//!
//! A request searches [`Region`]s of the pool that the lease policy names, best first
//! (failover: this server's own share before its partner's, RFC 8156 §8.4.1). In each
//! region it takes, in order: space that has no record at all (from a cursor that moves
//! forward, so a lapsed lease stays with its client as long as possible), then resources
//! that came back (a short free list), then — at most `budget` probes — other records the
//! caller may hand out (another client's lapsed lease). Cost per request is bounded by the
//! budget and O(log n) per region, independent of pool size.
//!
//! Addresses are kept in two lanes, even and odd (RFC 8156 §4.2.1.1 splits a pool between
//! the partners by the lowest bit), so a server that may use only one half finds its next
//! free address as fast as a server that may use both.
//!
//! DHCPv4 address pools (RFC 2131) are one more shape of the same allocator: keys are the
//! 32-bit addresses themselves, in one lane. Only [`Region::Whole`] applies to them: the
//! even/odd split is RFC 8156's and RFC 8156 is DHCPv6 only (§1); DHCPv4 failover
//! divides a pool by FREE / BACKUP ownership of each address instead, which is for the
//! lease policy to say (through `usable`), not a region of the pool.

mod runs;

use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::Ipv6Net;

use crate::config::{AddressPool, AddressPool4, PdPool};
use crate::lease::Resource;
pub use runs::RunSet;

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

/// What kind of space a pool holds, as the lease policy sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolSpace {
    Addresses,
    /// A delegable prefix (the configured pool prefix).
    Prefixes(Ipv6Net),
}

/// A part of a pool a server may allocate from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Region {
    /// Everything.
    Whole,
    /// Addresses whose lowest bit is this (0 or 1).
    Parity(u8),
    /// Prefixes inside this block (a CIDR inside the pool prefix).
    Block(Ipv6Net),
}

#[derive(Clone, Debug)]
enum Shape {
    /// Lanes by the address's lowest bit; keys are `address >> 1`.
    Addresses {
        first: u128,
        last: u128,
    },
    Prefixes {
        base: u128,
        delegated_len: u8,
    },
    /// DHCPv4 addresses, one lane (lane 0); keys are the addresses as integers.
    V4Addresses {
        first: u32,
        last: u32,
    },
}

/// One walk over a lane during a search.
#[derive(Clone, Copy, Debug)]
struct Walk {
    lane: Lane,
    start: u128,
    at: Option<u128>,
    wrapped: bool,
}

impl Walk {
    /// Continue after `key`, wrapping once to the lane's start; done when back at `start`.
    fn step_past(&mut self, key: u128) {
        self.at = if key < self.lane.hi && !(self.wrapped && key + 1 >= self.start) {
            Some(key + 1)
        } else if !self.wrapped && self.start > self.lane.lo {
            self.wrapped = true;
            Some(self.lane.lo)
        } else {
            None
        };
    }
}

/// One contiguous key range of one lane.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Lane {
    class: usize,
    lo: u128,
    hi: u128,
}

/// Allocation state for one configured pool.
#[derive(Clone, Debug)]
pub struct PoolAllocator {
    shape: Shape,
    /// Number of resources in the pool, saturated at `u128::MAX`.
    count: u128,
    /// Keys that have a lease record, per lane (prefix pools use lane 0 only).
    occupied: [RunSet; 2],
    /// Next key to try, per lane range.
    cursors: HashMap<Lane, u128>,
    free: VecDeque<Resource>,
}

/// Cursors kept for at most this many lane ranges (rebalancing can split a share into many
/// blocks over time); beyond it they are forgotten, which only costs a restart from the
/// start of the block.
const MAX_CURSORS: usize = 4096;

impl PoolAllocator {
    pub fn for_address_pool(p: &AddressPool) -> Self {
        let first = u128::from(p.first);
        let last = u128::from(p.last).max(first);
        PoolAllocator {
            shape: Shape::Addresses { first, last },
            count: (last - first).saturating_add(1),
            occupied: Default::default(),
            cursors: HashMap::new(),
            free: VecDeque::new(),
        }
    }

    /// A DHCPv4 pool. As for a DHCPv6 pool, nothing in `[first, last]` is held back here:
    /// the subnet's network and broadcast addresses are to be kept out of the pool by
    /// configuration validation, which knows the subnet mask (RFC 2131 leaves the range
    /// to the administrator).
    pub fn for_address_pool4(p: &AddressPool4) -> Self {
        let first = u32::from(p.first);
        let last = u32::from(p.last).max(first);
        PoolAllocator {
            shape: Shape::V4Addresses { first, last },
            count: u128::from(last - first) + 1,
            occupied: Default::default(),
            cursors: HashMap::new(),
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
            occupied: Default::default(),
            cursors: HashMap::new(),
            free: VecDeque::new(),
        }
    }

    /// Number of resources in the pool (saturated).
    pub fn size(&self) -> u128 {
        self.count
    }

    /// Whether `r` is one of this pool's resources.
    pub fn contains(&self, r: &Resource) -> bool {
        self.key_of(r).is_some()
    }

    /// (lane, key) of a resource of this pool.
    fn key_of(&self, r: &Resource) -> Option<(usize, u128)> {
        match (&self.shape, r) {
            (Shape::Addresses { first, last }, Resource::Address(a)) => {
                let a = u128::from(*a);
                (*first..=*last)
                    .contains(&a)
                    .then_some(((a & 1) as usize, a >> 1))
            }
            (
                Shape::Prefixes {
                    base,
                    delegated_len,
                },
                Resource::Prefix(p),
            ) => {
                if p.prefix_len() != *delegated_len || p.trunc() != *p {
                    return None;
                }
                let n = u128::from(p.network());
                let off = n
                    .checked_sub(*base)?
                    .checked_shr(128 - u32::from(*delegated_len))
                    .unwrap_or(0);
                (off < self.count).then_some((0, off))
            }
            (Shape::V4Addresses { first, last }, Resource::V4Address(a)) => {
                let a = u32::from(*a);
                (*first..=*last).contains(&a).then_some((0, u128::from(a)))
            }
            _ => None,
        }
    }

    fn resource_at(&self, class: usize, key: u128) -> Resource {
        match self.shape {
            Shape::Addresses { .. } => {
                Resource::Address(Ipv6Addr::from((key << 1) | class as u128))
            }
            Shape::Prefixes {
                base,
                delegated_len,
            } => {
                let step = key.checked_shl(128 - u32::from(delegated_len)).unwrap_or(0);
                let net = Ipv6Addr::from(base.wrapping_add(step));
                // delegated_len <= 128 by construction, so this cannot fail; fall back to /128.
                Resource::Prefix(
                    Ipv6Net::new(net, delegated_len).unwrap_or_else(|_| Ipv6Net::from(net)),
                )
            }
            // Keys of a v4 pool come from its lane, `[first, last]`, so they fit in 32 bits.
            Shape::V4Addresses { .. } => Resource::V4Address(Ipv4Addr::from(key as u32)),
        }
    }

    /// The lane ranges a region covers (empty when it lies outside the pool).
    fn lanes(&self, region: &Region) -> Vec<Lane> {
        match (&self.shape, region) {
            (Shape::Addresses { first, last }, Region::Whole) => (0..2)
                .filter_map(|c| parity_lane(*first, *last, c))
                .collect(),
            (Shape::Addresses { first, last }, Region::Parity(p)) => {
                parity_lane(*first, *last, usize::from(*p & 1))
                    .into_iter()
                    .collect()
            }
            (Shape::Prefixes { .. }, Region::Whole) => vec![Lane {
                class: 0,
                lo: 0,
                hi: self.count.saturating_sub(1),
            }],
            (
                Shape::Prefixes {
                    base,
                    delegated_len,
                },
                Region::Block(b),
            ) => {
                let shift = 128 - u32::from(*delegated_len);
                let lo = u128::from(b.network());
                let hi = u128::from(b.broadcast());
                let (Some(lo), Some(hi)) = (lo.checked_sub(*base), hi.checked_sub(*base)) else {
                    return vec![];
                };
                let (lo, hi) = (
                    lo.checked_shr(shift).unwrap_or(0),
                    hi.checked_shr(shift).unwrap_or(0).min(self.count - 1),
                );
                if b.prefix_len() > *delegated_len || lo > hi {
                    return vec![];
                }
                vec![Lane { class: 0, lo, hi }]
            }
            (Shape::V4Addresses { first, last }, Region::Whole) => vec![Lane {
                class: 0,
                lo: u128::from(*first),
                hi: u128::from(*last),
            }],
            // Parity and blocks are RFC 8156 (DHCPv6) shares; a v4 pool has neither.
            _ => vec![],
        }
    }

    /// Whether `r` lies in `region`.
    pub fn region_contains(&self, region: &Region, r: &Resource) -> bool {
        let Some((class, key)) = self.key_of(r) else {
            return false;
        };
        self.lanes(region)
            .iter()
            .any(|l| l.class == class && (l.lo..=l.hi).contains(&key))
    }

    /// A lease record now exists for `r` (whatever its status).
    pub fn occupy(&mut self, r: &Resource) {
        if let Some((class, key)) = self.key_of(r) {
            self.occupied[class].insert(key);
        }
    }

    /// The record for `r` is gone: it is never-used space again.
    pub fn vacate(&mut self, r: &Resource) {
        if let Some((class, key)) = self.key_of(r) {
            self.occupied[class].remove(key);
        }
    }

    /// Remembers a resource whose record became available (released, expired, returned to a
    /// pool) so it is offered before other records once never-used space runs out.
    pub fn push_free(&mut self, r: Resource) {
        if self.contains(&r) && self.free.len() < FREE_LIST_MAX {
            self.free.push_back(r);
        }
    }

    /// Finds a usable resource in `regions`, searched together (the lowest resource first),
    /// with at most `budget` candidates refused per request.
    ///
    /// `usable` says whether a candidate may be given out now (not leased, not reserved,
    /// allowed by the failover lease policy ...).
    pub fn allocate(
        &mut self,
        regions: &[Region],
        budget: u32,
        usable: &mut dyn FnMut(&Resource) -> bool,
        stats: &mut AllocStats,
    ) -> Option<Resource> {
        let lanes: Vec<Lane> = regions.iter().flat_map(|r| self.lanes(r)).collect();
        let mut budget = u64::from(budget.max(1));
        // 1. Never-used space, from each lane's cursor; the lowest resource wins so a pool
        //    used by one server alone fills in order.
        if let Some(r) = self.search(&lanes, false, &mut budget, usable, stats) {
            return Some(r);
        }
        // 2. Resources that came back, if they lie in the regions.
        let mut other = VecDeque::new();
        while budget > 0 {
            let Some(r) = self.free.pop_front() else {
                break;
            };
            let in_regions = self.key_of(&r).is_some_and(|(c, k)| {
                lanes
                    .iter()
                    .any(|l| l.class == c && (l.lo..=l.hi).contains(&k))
            });
            if !in_regions {
                other.push_back(r);
                continue;
            }
            budget -= 1;
            stats.probes += 1;
            if usable(&r) {
                other.extend(self.free.drain(..));
                self.free = other;
                stats.allocations += 1;
                return Some(r);
            }
        }
        other.extend(self.free.drain(..));
        self.free = other;
        // 3. Other records (another client's lapsed lease ...).
        if let Some(r) = self.search(&lanes, true, &mut budget, usable, stats) {
            return Some(r);
        }
        stats.exhausted += 1;
        None
    }

    /// Walks the lanes from their cursors (wrapping once), over keys without a record
    /// (`records == false`) or with one, offering each to `usable` until one is taken or
    /// the budget is spent. Jumps over whole runs, so the cost is per candidate, not per key.
    fn search(
        &mut self,
        lanes: &[Lane],
        records: bool,
        budget: &mut u64,
        usable: &mut dyn FnMut(&Resource) -> bool,
        stats: &mut AllocStats,
    ) -> Option<Resource> {
        let mut walks: Vec<Walk> = lanes
            .iter()
            .map(|l| Walk {
                lane: *l,
                start: self.cursor(l),
                at: Some(self.cursor(l)),
                wrapped: false,
            })
            .collect();
        while *budget > 0 {
            // The next candidate of every lane; the lowest resource goes first (keys before
            // the cursor, reached by wrapping, after all others).
            let mut best: Option<(usize, u128)> = None;
            for i in 0..walks.len() {
                let w = walks[i];
                let Some(from) = w.at else { continue };
                let Some((k, wrapped)) = self.next_key(&w.lane, w.start, from, w.wrapped, records)
                else {
                    walks[i].at = None;
                    continue;
                };
                walks[i].at = Some(k);
                walks[i].wrapped = wrapped;
                let rank = |j: usize, key: u128| {
                    (
                        walks[j].wrapped,
                        self.resource_order(walks[j].lane.class, key),
                    )
                };
                if best.is_none_or(|(j, bk)| rank(i, k) < rank(j, bk)) {
                    best = Some((i, k));
                }
            }
            let (i, key) = best?;
            let lane = walks[i].lane;
            let r = self.resource_at(lane.class, key);
            stats.probes += 1;
            *budget -= 1;
            if usable(&r) {
                self.advance(lane, key);
                stats.allocations += 1;
                return Some(r);
            }
            // Held by an offer or a reservation, or refused by the policy: look further.
            walks[i].step_past(key);
        }
        None
    }

    /// The next key at or after `from` in a walk that began at `start` (with or without a
    /// record, as asked), and whether the walk has wrapped to reach it.
    fn next_key(
        &self,
        lane: &Lane,
        start: u128,
        from: u128,
        wrapped: bool,
        records: bool,
    ) -> Option<(u128, bool)> {
        let runs = &self.occupied[lane.class];
        let find = |lo: u128, hi: u128| {
            if lo > hi {
                None
            } else if records {
                runs.first_present(lo, hi)
            } else {
                runs.first_absent(lo, hi)
            }
        };
        if !wrapped {
            if let Some(k) = find(from, lane.hi) {
                return Some((k, false));
            }
            return (start > lane.lo)
                .then(|| find(lane.lo, start - 1))
                .flatten()
                .map(|k| (k, true));
        }
        (start > 0)
            .then(|| find(from, start - 1))
            .flatten()
            .map(|k| (k, true))
    }

    /// Sort key that orders candidates of different lanes by the resource they stand for.
    fn resource_order(&self, class: usize, key: u128) -> u128 {
        match self.shape {
            Shape::Addresses { .. } => (key << 1) | class as u128,
            Shape::Prefixes { .. } | Shape::V4Addresses { .. } => key,
        }
    }

    fn cursor(&self, lane: &Lane) -> u128 {
        self.cursors
            .get(lane)
            .copied()
            .filter(|k| (lane.lo..=lane.hi).contains(k))
            .unwrap_or(lane.lo)
    }

    fn advance(&mut self, lane: Lane, key: u128) {
        if self.cursors.len() >= MAX_CURSORS && !self.cursors.contains_key(&lane) {
            self.cursors.clear();
        }
        let next = if key >= lane.hi { lane.lo } else { key + 1 };
        self.cursors.insert(lane, next);
    }
}

/// The keys (`address >> 1`) of the addresses in `[first, last]` whose lowest bit is `class`.
fn parity_lane(first: u128, last: u128, class: usize) -> Option<Lane> {
    let c = class as u128;
    let lo_addr = if first & 1 == c {
        first
    } else {
        first.checked_add(1)?
    };
    let hi_addr = if last & 1 == c {
        last
    } else {
        last.checked_sub(1)?
    };
    (lo_addr <= hi_addr).then_some(Lane {
        class,
        lo: lo_addr >> 1,
        hi: hi_addr >> 1,
    })
}

#[cfg(test)]
mod tests;
