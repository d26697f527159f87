//! Pool-use warnings: a warn line when a pool's use rises past `pool_warn_percent` or
//! `pool_critical_percent` (once per crossing; it must fall [`HYSTERESIS_PERCENT`] below
//! the threshold before it can warn again, so a pool hovering at the line does not flap),
//! an info line when it is back below, and an error line when an allocation failed for
//! want of a free address or prefix (rate-limited per subnet and kind).
//!
//! [`assess`] is the pure rule over the coordinator's [`PoolUse`] slice; [`PoolWatch`]
//! keeps the levels between checks and logs.

use std::collections::HashMap;

use tandem_core::IaType;
use tracing::{error, info, warn};

use crate::pool_use::PoolUse;
use crate::ratelimit::{RateLimited, Report};

/// A pool must fall this many percentage points below a threshold before crossing it
/// again is reported.
pub const HYSTERESIS_PERCENT: f64 = 5.0;

/// Seconds between two pool-use checks (each is one pass over the lease table).
pub const CHECK_INTERVAL_SECS: u64 = 5;

/// `[server] pool_warn_percent` / `pool_critical_percent`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolThresholds {
    pub warn_percent: u8,
    pub critical_percent: u8,
}

impl Default for PoolThresholds {
    fn default() -> Self {
        PoolThresholds {
            warn_percent: 80,
            critical_percent: 95,
        }
    }
}

/// How full a pool is, as far as warnings go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum PoolLevel {
    #[default]
    Normal,
    Warn,
    Critical,
}

impl PoolLevel {
    pub fn name(self) -> &'static str {
        match self {
            PoolLevel::Normal => "normal",
            PoolLevel::Warn => "warn",
            PoolLevel::Critical => "critical",
        }
    }
}

/// A pool changed level.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolAlert {
    /// Index into the slice given to [`assess`].
    pub index: usize,
    pub from: PoolLevel,
    pub to: PoolLevel,
    pub percent: f64,
}

/// Key of a pool between checks.
pub type PoolKey = (u32, String);

fn threshold(t: &PoolThresholds, l: PoolLevel) -> f64 {
    match l {
        PoolLevel::Normal => 0.0,
        PoolLevel::Warn => f64::from(t.warn_percent),
        PoolLevel::Critical => f64::from(t.critical_percent),
    }
}

/// The level of a pool at `percent` that was at `prev`: up at once when a threshold is
/// reached, down only once [`HYSTERESIS_PERCENT`] below it.
pub fn level(t: &PoolThresholds, prev: PoolLevel, percent: f64) -> PoolLevel {
    let reached = if percent >= threshold(t, PoolLevel::Critical) {
        PoolLevel::Critical
    } else if percent >= threshold(t, PoolLevel::Warn) {
        PoolLevel::Warn
    } else {
        PoolLevel::Normal
    };
    if reached >= prev {
        return reached;
    }
    let mut l = prev;
    while l > reached && percent < threshold(t, l) - HYSTERESIS_PERCENT {
        l = match l {
            PoolLevel::Critical => PoolLevel::Warn,
            _ => PoolLevel::Normal,
        };
    }
    l
}

/// Compares each pool's use with its level at the last check (`levels`, updated in
/// place; a pool not seen before starts at Normal) and returns the changes. Pure.
pub fn assess(
    t: &PoolThresholds,
    levels: &mut HashMap<PoolKey, PoolLevel>,
    pools: &[PoolUse],
) -> Vec<PoolAlert> {
    let mut out = Vec::new();
    for (index, p) in pools.iter().enumerate() {
        let key = (p.subnet_id, p.pool.clone());
        let prev = levels.get(&key).copied().unwrap_or_default();
        let percent = p.percent_used();
        let to = level(t, prev, percent);
        if to != prev {
            out.push(PoolAlert {
                index,
                from: prev,
                to,
                percent,
            });
        }
        levels.insert(key, to);
    }
    out
}

/// The running server's pool watcher.
#[derive(Debug, Default)]
pub struct PoolWatch {
    pub thresholds: PoolThresholds,
    /// Configured pool names by (subnet id, [`PoolUse::pool`]).
    pub names: HashMap<PoolKey, String>,
    levels: HashMap<PoolKey, PoolLevel>,
    next_check: u64,
    exhausted: HashMap<(u32, IaType), RateLimited>,
}

impl PoolWatch {
    pub fn new(thresholds: PoolThresholds, names: HashMap<PoolKey, String>) -> Self {
        PoolWatch {
            thresholds,
            names,
            ..PoolWatch::default()
        }
    }

    /// Whether a check is due at `now` (whole seconds).
    pub fn due(&self, now: u64) -> bool {
        now >= self.next_check
    }

    /// Logs the level changes of `pools` (computed by the caller when [`Self::due`]).
    pub fn check(&mut self, now: u64, pools: &[PoolUse]) {
        self.next_check = now + CHECK_INTERVAL_SECS;
        // An exhaustion episode ends when a pool of that subnet and kind has room again.
        let recovered: Vec<(u32, IaType)> = self
            .exhausted
            .iter()
            .filter(|(_, r)| r.is_failing())
            .map(|(k, _)| *k)
            .filter(|(subnet, kind)| {
                let kind = if *kind == IaType::Pd {
                    "prefix"
                } else {
                    "address"
                };
                pools
                    .iter()
                    .any(|p| p.subnet_id == *subnet && p.kind == kind && p.free > 0)
            })
            .collect();
        for (subnet, kind) in recovered {
            self.allocated(now, subnet, kind);
        }
        for a in assess(&self.thresholds, &mut self.levels, pools) {
            let p = &pools[a.index];
            let name = self.name_of(p);
            let percent = (a.percent * 10.0).round() / 10.0;
            if a.to > a.from {
                let limit = threshold(&self.thresholds, a.to);
                warn!(
                    subnet = p.subnet_id, pool = %name, kind = %p.kind, pool_level = a.to.name(),
                    percent, used = p.used, size = p.size, free = p.free,
                    "pool {name} of subnet {} is {percent}% used (at or above {limit}%)",
                    p.subnet_id
                );
            } else {
                info!(
                    subnet = p.subnet_id, pool = %name, kind = %p.kind, pool_level = a.to.name(),
                    percent, used = p.used, size = p.size, free = p.free,
                    "pool {name} of subnet {} is back to {percent}% used",
                    p.subnet_id
                );
            }
        }
    }

    fn name_of(&self, p: &PoolUse) -> String {
        self.names
            .get(&(p.subnet_id, p.pool.clone()))
            .cloned()
            .unwrap_or_else(|| p.pool.clone())
    }

    /// An allocation in `subnet` found no free `kind` at `now`: an error line, the first
    /// time and then at most once a minute while it goes on.
    pub fn exhausted(&mut self, now: u64, subnet: u32, kind: IaType) {
        let what = match kind {
            IaType::Pd => "prefixes",
            _ => "addresses",
        };
        match self.exhausted.entry((subnet, kind)).or_default().failure(now) {
            Report::First => error!(
                subnet, kind = what,
                "pool exhausted: no {what} available in subnet {subnet}; clients get \
                 NoAddrsAvail/NoPrefixAvail (RFC 8415 §18.3.2) until leases expire or the pool grows"
            ),
            Report::Still { attempts, secs } => error!(
                subnet, kind = what, refused = attempts, secs,
                "pool still exhausted: {attempts} allocations of {what} in subnet {subnet} refused in the last {secs} s"
            ),
            _ => {}
        }
    }

    /// An allocation of `kind` in `subnet` succeeded: ends an exhaustion episode.
    pub fn allocated(&mut self, now: u64, subnet: u32, kind: IaType) {
        if let Some(r) = self.exhausted.get_mut(&(subnet, kind)) {
            if let Report::Recovered { attempts, secs } = r.success(now) {
                info!(
                    subnet,
                    refused = attempts,
                    secs,
                    "pool no longer exhausted: allocations in subnet {subnet} succeed again"
                );
            }
        }
    }

    /// Whether some subnet is in an exhaustion episode (cheap test for the hot path).
    pub fn any_exhausted(&self) -> bool {
        self.exhausted.values().any(RateLimited::is_failing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(used: u64, size: u64) -> PoolUse {
        PoolUse {
            subnet_id: 1,
            pool: "2001:db8::1-2001:db8::64".into(),
            kind: "address".into(),
            size,
            used,
            free: size - used,
            shares: None,
        }
    }

    fn run(t: &PoolThresholds, uses: &[u64]) -> Vec<(u64, PoolLevel, PoolLevel)> {
        let mut levels = HashMap::new();
        let mut out = Vec::new();
        for &u in uses {
            for a in assess(t, &mut levels, &[pool(u, 100)]) {
                out.push((u, a.from, a.to));
            }
        }
        out
    }

    #[test]
    fn crossing_the_warn_threshold_upward_alerts_once() {
        let t = PoolThresholds::default();
        use PoolLevel::*;
        assert_eq!(
            run(&t, &[10, 50, 79, 80, 81, 85, 90, 80]),
            vec![(80, Normal, Warn)]
        );
    }

    #[test]
    fn a_pool_hovering_at_the_threshold_does_not_flap() {
        let t = PoolThresholds::default();
        use PoolLevel::*;
        // 76..80 is inside the 5-point band: no new warning, no "back below".
        assert_eq!(
            run(&t, &[80, 79, 80, 76, 81, 78, 80]),
            vec![(80, Normal, Warn)]
        );
        // Only below 75 is it back to normal, and then 80 warns again.
        assert_eq!(
            run(&t, &[80, 74, 80]),
            vec![(80, Normal, Warn), (74, Warn, Normal), (80, Normal, Warn)]
        );
    }

    #[test]
    fn critical_and_exhausted_levels_and_the_way_down() {
        let t = PoolThresholds::default();
        use PoolLevel::*;
        assert_eq!(
            run(&t, &[96, 100, 91, 89, 60]),
            vec![
                (96, Normal, Critical),
                (89, Critical, Warn),
                (60, Warn, Normal)
            ]
        );
        assert_eq!(
            run(&t, &[95, 10]),
            vec![(95, Normal, Critical), (10, Critical, Normal)]
        );
    }

    #[test]
    fn empty_and_unknown_pools_are_normal() {
        let t = PoolThresholds::default();
        let mut levels = HashMap::new();
        assert!(assess(&t, &mut levels, &[pool(0, 0)]).is_empty());
        assert_eq!(level(&t, PoolLevel::Normal, 0.0), PoolLevel::Normal);
    }

    #[test]
    fn equal_thresholds_go_straight_to_critical() {
        let t = PoolThresholds {
            warn_percent: 90,
            critical_percent: 90,
        };
        assert_eq!(level(&t, PoolLevel::Normal, 90.0), PoolLevel::Critical);
    }
}
