//! Proportional allocation of delegable prefixes (RFC 8156 §4.2.2, §4.2.2.1, §5.3.3/§5.3.4).
//!
//! Available prefix space is tracked as disjoint CIDR *blocks* with an owner, not as one
//! record per delegable prefix: a /40 carved into /56s is one block until pieces are handed
//! over, and a hand-over is one top-level IAPREFIX BNDUPD for a whole block (a "part of a
//! delegable prefix", §3). Prefixes delegated to clients are owned by neither server; the
//! caller reports them through `used_in` (how many delegated-size prefixes inside a block
//! are not available), so capacity is "what could still be carved out" (§4.2.2).

use std::collections::BTreeMap;

use ipnet::Ipv6Net;
use tandem_core::{BindingStatus, Time};

use crate::binding::lifecycle::AllocationKind;
use crate::binding::permissions::may_allocate;
use crate::types::{Role, ServerState};
use crate::update::{build_prefix_update, BindingUpdate};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error("delegated length /{delegated} is shorter than the pool /{pool}")]
    DelegatedShorterThanPool { pool: u8, delegated: u8 },
    #[error("pool /{pool} split into /{delegated} has more than 2^62 prefixes")]
    TooManyPrefixes { pool: u8, delegated: u8 },
    #[error("secondary share {0}% is above 100%")]
    BadShare(u8),
    #[error("{0} is not inside the pool {1}")]
    OutsidePool(Ipv6Net, Ipv6Net),
}

/// What to send to rebalance (§4.2.2): FREE-BACKUP BNDUPDs hand blocks to the secondary,
/// FREE BNDUPDs ask for blocks back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RebalancePlan {
    pub give_to_secondary: Vec<Ipv6Net>,
    pub take_back: Vec<Ipv6Net>,
}

impl RebalancePlan {
    pub fn is_empty(&self) -> bool {
        self.give_to_secondary.is_empty() && self.take_back.is_empty()
    }

    /// The top-level IAPREFIX BNDUPDs for this plan (RFC 8156 §7.4).
    pub fn updates(&self, now: Time) -> Vec<BindingUpdate> {
        let give = self
            .give_to_secondary
            .iter()
            .map(|p| build_prefix_update(*p, BindingStatus::FreeBackup, now, now));
        let take = self
            .take_back
            .iter()
            .map(|p| build_prefix_update(*p, BindingStatus::Free, now, now));
        give.chain(take).collect()
    }
}

/// Why a rebalance is being computed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RebalanceTrigger {
    /// The secondary asked (POOLREQ): hand over whatever it lacks, no hysteresis, never
    /// take back in answer to a request for more.
    PoolReq,
    /// The primary's own check after allocations/releases: act only beyond the threshold.
    BalanceCheck,
}

/// One delegable prefix (pool) split between the partners.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrefixPool {
    parent: Ipv6Net,
    delegated_len: u8,
    secondary_share_pct: u8,
    threshold: u64,
    blocks: BTreeMap<Ipv6Net, Role>,
}

impl PrefixPool {
    /// Everything starts as the primary's (FREE, §4.2.2).
    pub fn new(
        parent: Ipv6Net,
        delegated_len: u8,
        secondary_share_pct: u8,
        threshold: u64,
    ) -> Result<Self, PoolError> {
        let parent = parent.trunc();
        let pool = parent.prefix_len();
        if delegated_len < pool || delegated_len > 128 {
            return Err(PoolError::DelegatedShorterThanPool {
                pool,
                delegated: delegated_len,
            });
        }
        if delegated_len - pool > 62 {
            return Err(PoolError::TooManyPrefixes {
                pool,
                delegated: delegated_len,
            });
        }
        if secondary_share_pct > 100 {
            return Err(PoolError::BadShare(secondary_share_pct));
        }
        let mut blocks = BTreeMap::new();
        blocks.insert(parent, Role::Primary);
        Ok(PrefixPool {
            parent,
            delegated_len,
            secondary_share_pct,
            threshold,
            blocks,
        })
    }

    pub fn parent(&self) -> Ipv6Net {
        self.parent
    }
    pub fn delegated_len(&self) -> u8 {
        self.delegated_len
    }

    /// The ownership blocks, in address order.
    pub fn blocks(&self) -> impl Iterator<Item = (Ipv6Net, Role)> + '_ {
        self.blocks.iter().map(|(n, r)| (*n, *r))
    }

    /// Blocks in `role`'s pool, where the core searches for a prefix to delegate.
    pub fn blocks_of(&self, role: Role) -> impl Iterator<Item = Ipv6Net> + '_ {
        self.blocks
            .iter()
            .filter(move |(_, r)| **r == role)
            .map(|(n, _)| *n)
    }

    /// Which pool `prefix` is in (None if outside the pool or straddling two owners).
    pub fn owner_of(&self, prefix: Ipv6Net) -> Option<Role> {
        let prefix = prefix.trunc();
        if !self.parent.contains(&prefix) {
            return None;
        }
        // The containing block is the last block starting at or before the prefix.
        let (block, role) = self.blocks.range(..=prefix).next_back()?;
        if block.contains(&prefix) {
            return Some(*role);
        }
        None
    }

    /// May this server delegate `prefix` to a new client now (§4.2.2, §8.4.1)?
    #[allow(clippy::too_many_arguments)]
    pub fn may_delegate(
        &self,
        prefix: Ipv6Net,
        role: Role,
        state: ServerState,
        partner_down_since: Option<Time>,
        mclt: u32,
        now: Time,
    ) -> bool {
        self.owner_of(prefix).is_some_and(|owner| {
            may_allocate(
                state,
                role,
                owner,
                AllocationKind::Proportional,
                partner_down_since,
                mclt,
                now,
            )
        })
    }

    /// Record that `prefix` now belongs to `role`'s pool: when the primary *sends* a
    /// FREE-BACKUP BNDUPD (it must stop using it at once, §4.2.2), when a FREE take-back is
    /// acknowledged, when a delegated prefix returns to FREE (PENDING-FREE → FREE), and on
    /// the secondary when it accepts a top-level IAPREFIX.
    pub fn set_owner(&mut self, prefix: Ipv6Net, role: Role) -> Result<(), PoolError> {
        let prefix = prefix.trunc();
        if !self.parent.contains(&prefix) {
            return Err(PoolError::OutsidePool(prefix, self.parent));
        }
        if let Some((block, old)) = self
            .blocks
            .range(..=prefix)
            .next_back()
            .map(|(b, r)| (*b, *r))
            .filter(|(b, _)| b.contains(&prefix) && *b != prefix)
        {
            // Split the containing block down to `prefix`; siblings keep the old owner.
            self.blocks.remove(&block);
            let mut cur = block;
            while cur.prefix_len() < prefix.prefix_len() {
                let Some(halves) = halves(cur) else { break };
                let (with, without) = if halves.0.contains(&prefix) {
                    halves
                } else {
                    (halves.1, halves.0)
                };
                self.blocks.insert(without, old);
                cur = with;
            }
        } else {
            // `prefix` covers whole blocks (or is exactly one): replace them.
            let inside: Vec<Ipv6Net> = self
                .blocks
                .keys()
                .filter(|b| prefix.contains(*b))
                .copied()
                .collect();
            for b in inside {
                self.blocks.remove(&b);
            }
        }
        self.blocks.insert(prefix, role);
        self.merge(prefix);
        Ok(())
    }

    /// Re-join sibling blocks with the same owner so the map stays small.
    fn merge(&mut self, mut block: Ipv6Net) {
        while block.prefix_len() > self.parent.prefix_len() {
            let Some(sup) = block.supernet() else { return };
            let Some((a, b)) = halves(sup) else { return };
            match (self.blocks.get(&a), self.blocks.get(&b)) {
                (Some(ra), Some(rb)) if ra == rb => {
                    let r = *ra;
                    self.blocks.remove(&a);
                    self.blocks.remove(&b);
                    self.blocks.insert(sup, r);
                    block = sup;
                }
                _ => return,
            }
        }
    }

    /// Number of delegated-size prefixes in `block`.
    fn units(&self, block: Ipv6Net) -> u64 {
        let d = self.delegated_len.saturating_sub(block.prefix_len());
        1u64 << d.min(62)
    }

    /// Prefixes of the delegated size that `role` could still delegate.
    pub fn capacity(&self, role: Role, used_in: &impl Fn(Ipv6Net) -> u64) -> u64 {
        self.blocks_of(role)
            .map(|b| self.units(b).saturating_sub(used_in(b)))
            .sum()
    }

    /// The secondary's target capacity for the configured proportion.
    fn target(&self, used_in: &impl Fn(Ipv6Net) -> u64) -> (u64, u64) {
        let p = self.capacity(Role::Primary, used_in);
        let s = self.capacity(Role::Secondary, used_in);
        let total = u128::from(p) + u128::from(s);
        let target = total * u128::from(self.secondary_share_pct) / 100;
        (u64::try_from(target).unwrap_or(u64::MAX), s)
    }

    /// Compute what the primary should send (§4.2.2). Does not change ownership: call
    /// [`PrefixPool::set_owner`] for each given block when its BNDUPD is sent.
    pub fn plan_rebalance(
        &self,
        used_in: &impl Fn(Ipv6Net) -> u64,
        trigger: RebalanceTrigger,
    ) -> RebalancePlan {
        let (target, have) = self.target(used_in);
        let mut plan = RebalancePlan::default();
        let threshold = match trigger {
            RebalanceTrigger::PoolReq => 0,
            RebalanceTrigger::BalanceCheck => self.threshold,
        };
        if have.saturating_add(threshold) < target {
            let mut need = target - have;
            // Hand over from the top of the space, keeping the primary's low.
            let from: Vec<Ipv6Net> = self.blocks_of(Role::Primary).collect();
            for b in from.into_iter().rev() {
                self.collect_free(b, &mut need, used_in, &mut plan.give_to_secondary);
                if need == 0 {
                    break;
                }
            }
        } else if trigger == RebalanceTrigger::BalanceCheck
            && have > target.saturating_add(threshold)
        {
            let mut excess = have - target;
            let from: Vec<Ipv6Net> = self.blocks_of(Role::Secondary).collect();
            for b in from {
                self.collect_free(b, &mut excess, used_in, &mut plan.take_back);
                if excess == 0 {
                    break;
                }
            }
        }
        plan
    }

    /// Pick fully free sub-blocks of `block` worth at most `need` prefixes, largest first.
    /// Descends only into blocks with free space, so the work is bounded by what is picked.
    fn collect_free(
        &self,
        block: Ipv6Net,
        need: &mut u64,
        used_in: &impl Fn(Ipv6Net) -> u64,
        out: &mut Vec<Ipv6Net>,
    ) {
        if *need == 0 || block.prefix_len() > self.delegated_len {
            return;
        }
        let units = self.units(block);
        let used = used_in(block);
        if used >= units {
            return;
        }
        if used == 0 && units <= *need {
            out.push(block);
            *need -= units;
            return;
        }
        if let Some((lo, hi)) = halves(block) {
            if block.prefix_len() < self.delegated_len {
                self.collect_free(hi, need, used_in, out);
                self.collect_free(lo, need, used_in, out);
            }
        }
    }

    /// The secondary accepted/rejected a pool-move BNDUPD for `block` (§7.7).
    /// FREE-BACKUP rejected → the block stays the primary's (it never left: the secondary
    /// did not take it). FREE accepted → back to the primary. FREE rejected → stays.
    pub fn on_move_reply(
        &mut self,
        block: Ipv6Net,
        sent: BindingStatus,
        accepted: bool,
    ) -> Result<(), PoolError> {
        match (sent, accepted) {
            (BindingStatus::FreeBackup, false) | (BindingStatus::Free, true) => {
                self.set_owner(block, Role::Primary)
            }
            _ => Ok(()),
        }
    }

    /// Apply an accepted top-level IAPREFIX status (secondary side, or restart from records).
    pub fn apply_status(
        &mut self,
        prefix: Ipv6Net,
        status: BindingStatus,
    ) -> Result<(), PoolError> {
        match status {
            BindingStatus::FreeBackup => self.set_owner(prefix, Role::Secondary),
            BindingStatus::Free | BindingStatus::PendingFree => {
                self.set_owner(prefix, Role::Primary)
            }
            _ => Ok(()),
        }
    }
}

fn halves(net: Ipv6Net) -> Option<(Ipv6Net, Ipv6Net)> {
    let len = net.prefix_len().checked_add(1).filter(|l| *l <= 128)?;
    let mut it = net.subnets(len).ok()?;
    Some((it.next()?, it.next()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Ipv6Net {
        s.parse().unwrap()
    }
    fn none(_: Ipv6Net) -> u64 {
        0
    }

    #[test]
    fn everything_starts_with_the_primary_s4_2_2() {
        let pool = PrefixPool::new(n("2001:db8::/40"), 56, 50, 16).unwrap();
        assert_eq!(pool.owner_of(n("2001:db8:ff::/56")), Some(Role::Primary));
        assert_eq!(pool.capacity(Role::Primary, &none), 65536);
        assert_eq!(pool.capacity(Role::Secondary, &none), 0);
        assert_eq!(pool.blocks().count(), 1);
    }

    #[test]
    fn poolreq_hands_over_half_as_one_block_s4_2_2_s5_3_3() {
        let mut pool = PrefixPool::new(n("2001:db8::/40"), 56, 50, 16).unwrap();
        let plan = pool.plan_rebalance(&none, RebalanceTrigger::PoolReq);
        // Not 32768 /56 records: one /41.
        assert_eq!(plan.give_to_secondary, vec![n("2001:db8:80::/41")]);
        let upds = plan.updates(Time(10));
        assert_eq!(upds.len(), 1);
        let BindingUpdate::Prefix { lease, .. } = &upds[0] else {
            panic!()
        };
        assert_eq!(lease.status, BindingStatus::FreeBackup);
        for b in &plan.give_to_secondary {
            pool.set_owner(*b, Role::Secondary).unwrap();
        }
        assert_eq!(pool.capacity(Role::Secondary, &none), 32768);
        assert_eq!(pool.owner_of(n("2001:db8:80::/56")), Some(Role::Secondary));
        assert_eq!(pool.owner_of(n("2001:db8:7f::/56")), Some(Role::Primary));
        assert_eq!(pool.blocks().count(), 2);
        // Balanced: a second POOLREQ sends nothing.
        assert!(pool
            .plan_rebalance(&none, RebalanceTrigger::PoolReq)
            .is_empty());
    }

    #[test]
    fn handover_skips_delegated_prefixes_s4_2_2() {
        // A /46 into /48s (4 units), 50 %: the top /48 is delegated to a client.
        let pool = PrefixPool::new(n("2001:db8::/46"), 48, 50, 0).unwrap();
        let used = |b: Ipv6Net| u64::from(b.contains(&n("2001:db8:3::/48")));
        // Available: 3 → target floor(1.5) = 1.
        let plan = pool.plan_rebalance(&used, RebalanceTrigger::PoolReq);
        assert_eq!(plan.give_to_secondary, vec![n("2001:db8:2::/48")]);
    }

    #[test]
    fn balance_check_uses_hysteresis_and_takes_back_s4_2_2() {
        let mut pool = PrefixPool::new(n("2001:db8::/40"), 56, 50, 1000).unwrap();
        pool.set_owner(n("2001:db8:80::/41"), Role::Secondary)
            .unwrap();
        // Primary delegated 1500 /56s from its half: off target by 750 < 1000 → nothing.
        let used_low = |k: u64| {
            move |b: Ipv6Net| {
                if n("2001:db8::/41").contains(&b) || b.contains(&n("2001:db8::/41")) {
                    k.min(1u64 << (56 - b.prefix_len().min(56)))
                } else {
                    0
                }
            }
        };
        assert!(pool
            .plan_rebalance(&used_low(1500), RebalanceTrigger::BalanceCheck)
            .is_empty());
        // 4000 delegated: secondary's 32768 is 2000 above target (30384) → take back.
        let plan = pool.plan_rebalance(&used_low(4000), RebalanceTrigger::BalanceCheck);
        assert!(plan.give_to_secondary.is_empty());
        let back: u64 = plan
            .take_back
            .iter()
            .map(|b| 1u64 << (56 - b.prefix_len()))
            .sum();
        assert_eq!(back, 2000);
        // A POOLREQ never takes back.
        assert!(pool
            .plan_rebalance(&used_low(4000), RebalanceTrigger::PoolReq)
            .is_empty());
    }

    #[test]
    fn set_owner_splits_and_merges_blocks_s4_2_2() {
        let mut pool = PrefixPool::new(n("2001:db8::/40"), 56, 50, 0).unwrap();
        pool.set_owner(n("2001:db8:12::/56"), Role::Secondary)
            .unwrap();
        assert_eq!(pool.owner_of(n("2001:db8:12::/56")), Some(Role::Secondary));
        assert_eq!(pool.owner_of(n("2001:db8:13::/56")), Some(Role::Primary));
        assert_eq!(pool.blocks().count(), 17, "16 sibling blocks + the /56");
        // Returned to the primary (PENDING-FREE → FREE): everything merges back.
        pool.set_owner(n("2001:db8:12::/56"), Role::Primary)
            .unwrap();
        assert_eq!(pool.blocks().count(), 1);
        assert!(pool.set_owner(n("2001:db9::/56"), Role::Primary).is_err());
    }

    #[test]
    fn move_replies_s7_7() {
        let mut pool = PrefixPool::new(n("2001:db8::/40"), 56, 50, 0).unwrap();
        let b = n("2001:db8:80::/41");
        pool.set_owner(b, Role::Secondary).unwrap();
        pool.on_move_reply(b, BindingStatus::FreeBackup, false)
            .unwrap();
        assert_eq!(pool.owner_of(b), Some(Role::Primary));
        pool.set_owner(b, Role::Secondary).unwrap();
        pool.on_move_reply(b, BindingStatus::Free, false).unwrap();
        assert_eq!(pool.owner_of(b), Some(Role::Secondary));
        pool.on_move_reply(b, BindingStatus::Free, true).unwrap();
        assert_eq!(pool.owner_of(b), Some(Role::Primary));
    }

    #[test]
    fn partner_pool_in_partner_down_after_mclt_s8_4_1() {
        let mut pool = PrefixPool::new(n("2001:db8::/40"), 56, 50, 0).unwrap();
        pool.set_owner(n("2001:db8:80::/41"), Role::Secondary)
            .unwrap();
        let p = n("2001:db8:80::/56");
        let pd = Some(Time(1000));
        assert!(!pool.may_delegate(p, Role::Primary, ServerState::Normal, None, 3600, Time(0)));
        assert!(!pool.may_delegate(
            p,
            Role::Primary,
            ServerState::PartnerDown,
            pd,
            3600,
            Time(4599)
        ));
        assert!(pool.may_delegate(
            p,
            Role::Primary,
            ServerState::PartnerDown,
            pd,
            3600,
            Time(4600)
        ));
        assert!(pool.may_delegate(
            p,
            Role::Secondary,
            ServerState::CommunicationsInterrupted,
            None,
            3600,
            Time(0)
        ));
    }

    #[test]
    fn pool_config_errors() {
        assert!(PrefixPool::new(n("2001:db8::/48"), 40, 50, 0).is_err());
        assert!(PrefixPool::new(n("2001:db8::/32"), 128, 50, 0).is_err());
        assert!(PrefixPool::new(n("2001:db8::/40"), 56, 101, 0).is_err());
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever is moved around, the blocks stay disjoint and cover the pool exactly,
        /// and every moved prefix ends up with the owner it was given (§4.2.2).
        #[test]
        fn blocks_always_partition_the_pool_s4_2_2(
            moves in proptest::collection::vec((0u32..4096, 44u8..=56, any::<bool>()), 0..40)
        ) {
            let parent: Ipv6Net = "2001:db8::/40".parse().unwrap();
            let mut pool = PrefixPool::new(parent, 56, 50, 0).unwrap();
            for (idx, len, to_secondary) in moves {
                let base = u128::from(parent.network());
                let offset = u128::from(idx) << (128 - 52);
                let p = Ipv6Net::new(std::net::Ipv6Addr::from(base + offset), len).unwrap().trunc();
                let role = if to_secondary { Role::Secondary } else { Role::Primary };
                pool.set_owner(p, role).unwrap();
                prop_assert_eq!(pool.owner_of(p), Some(role));
                let blocks: Vec<Ipv6Net> = pool.blocks().map(|(b, _)| b).collect();
                let total: u64 = blocks.iter().map(|b| 1u64 << (56 - b.prefix_len())).sum();
                prop_assert_eq!(total, 65536);
                for w in blocks.windows(2) {
                    prop_assert!(!w[0].contains(&w[1]) && !w[1].contains(&w[0]));
                }
            }
        }
    }
}
