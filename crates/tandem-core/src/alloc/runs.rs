//! A set of `u128` keys stored as merged runs `[start, end]`: a pool filled in order is one
//! run whatever its size, and "the first key at or after x that is (not) in the set" costs
//! O(log runs).

use std::collections::BTreeMap;

/// Disjoint, non-adjacent closed ranges of keys (start → end).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunSet {
    runs: BTreeMap<u128, u128>,
}

impl RunSet {
    /// The run containing `k`, if any.
    fn run_of(&self, k: u128) -> Option<(u128, u128)> {
        self.runs
            .range(..=k)
            .next_back()
            .map(|(s, e)| (*s, *e))
            .filter(|(_, e)| *e >= k)
    }

    pub fn contains(&self, k: u128) -> bool {
        self.run_of(k).is_some()
    }

    /// Number of runs (the memory it takes).
    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    pub fn insert(&mut self, k: u128) {
        if self.contains(k) {
            return;
        }
        let mut start = k;
        let mut end = k;
        if let Some(before) = k.checked_sub(1) {
            if let Some((s, _)) = self.run_of(before) {
                self.runs.remove(&s);
                start = s;
            }
        }
        if let Some(after) = k.checked_add(1) {
            if let Some(e) = self.runs.remove(&after) {
                end = e;
            }
        }
        self.runs.insert(start, end);
    }

    pub fn remove(&mut self, k: u128) {
        let Some((s, e)) = self.run_of(k) else {
            return;
        };
        self.runs.remove(&s);
        if s < k {
            self.runs.insert(s, k - 1);
        }
        if k < e {
            self.runs.insert(k + 1, e);
        }
    }

    /// The first key in `[lo, hi]` that is not in the set.
    pub fn first_absent(&self, lo: u128, hi: u128) -> Option<u128> {
        if lo > hi {
            return None;
        }
        // Runs are merged, so the key after a run is never in the set.
        let k = match self.run_of(lo) {
            Some((_, e)) => e.checked_add(1)?,
            None => lo,
        };
        (k <= hi).then_some(k)
    }

    /// The first key in `[lo, hi]` that is in the set.
    pub fn first_present(&self, lo: u128, hi: u128) -> Option<u128> {
        if lo > hi {
            return None;
        }
        if self.contains(lo) {
            return Some(lo);
        }
        self.runs.range(lo..=hi).next().map(|(s, _)| *s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn sequential_keys_are_one_run() {
        let mut r = RunSet::default();
        for k in 0..10_000 {
            r.insert(k);
        }
        assert_eq!(r.runs(), 1);
        assert_eq!(r.first_absent(0, u128::MAX), Some(10_000));
        r.remove(5000);
        assert_eq!(r.runs(), 2);
        assert_eq!(r.first_absent(0, u128::MAX), Some(5000));
        assert_eq!(r.first_absent(5001, 20_000), Some(10_000));
        assert_eq!(r.first_present(5000, 6000), Some(5001));
        assert_eq!(r.first_absent(0, 4999), None);
    }

    #[test]
    fn extremes_do_not_overflow() {
        let mut r = RunSet::default();
        r.insert(u128::MAX);
        r.insert(u128::MAX - 1);
        r.insert(0);
        assert_eq!(r.first_absent(u128::MAX - 1, u128::MAX), None);
        assert_eq!(r.first_absent(0, 5), Some(1));
        r.remove(u128::MAX);
        assert_eq!(r.first_absent(u128::MAX - 1, u128::MAX), Some(u128::MAX));
    }

    proptest! {
        /// The runs answer exactly as a plain set of keys would.
        #[test]
        fn behaves_like_a_set(ops in proptest::collection::vec((any::<bool>(), 0u128..64), 0..200),
                              lo in 0u128..64, len in 0u128..64) {
            let mut r = RunSet::default();
            let mut set = BTreeSet::new();
            for (add, k) in ops {
                if add { r.insert(k); set.insert(k); } else { r.remove(k); set.remove(&k); }
            }
            let hi = lo + len;
            prop_assert_eq!(r.first_absent(lo, hi), (lo..=hi).find(|k| !set.contains(k)));
            prop_assert_eq!(r.first_present(lo, hi), (lo..=hi).find(|k| set.contains(k)));
            // Merged: no two runs touch.
            let v: Vec<(u128, u128)> = r.runs.iter().map(|(s, e)| (*s, *e)).collect();
            for w in v.windows(2) {
                prop_assert!(w[0].1 + 1 < w[1].0);
            }
        }
    }
}
