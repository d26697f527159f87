//! Rate-limited reporting of a repeating failure (the partner link's connect attempts, an
//! exhausted pool): the first failure is reported at once, repeats are summed up at most
//! once per window, and the recovery is reported once. Pure: time is an argument
//! (seconds on any monotonic scale), so the rule is unit-tested.

/// What to log now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report {
    /// Nothing: a repeat inside the window, or success while all is well.
    Quiet,
    /// The first failure after a success (or ever): log it in full.
    First,
    /// Still failing: `attempts` failures (this one included) in the last `secs` seconds.
    Still { attempts: u64, secs: u64 },
    /// Success after failures: `attempts` failed over `secs` seconds in all.
    Recovered { attempts: u64, secs: u64 },
}

/// One failure kind's reporting state.
#[derive(Clone, Debug)]
pub struct RateLimited {
    window: u64,
    /// (first failure, last report, failures since the last report, failures in all)
    failing: Option<(u64, u64, u64, u64)>,
}

/// Summaries at most once a minute.
pub const DEFAULT_WINDOW_SECS: u64 = 60;

impl Default for RateLimited {
    fn default() -> Self {
        Self::new(DEFAULT_WINDOW_SECS)
    }
}

impl RateLimited {
    pub fn new(window_secs: u64) -> Self {
        RateLimited {
            window: window_secs.max(1),
            failing: None,
        }
    }

    pub fn is_failing(&self) -> bool {
        self.failing.is_some()
    }

    /// One more failure at `now`.
    pub fn failure(&mut self, now: u64) -> Report {
        match &mut self.failing {
            None => {
                self.failing = Some((now, now, 0, 1));
                Report::First
            }
            Some((_, last, since, total)) => {
                *since += 1;
                *total += 1;
                let elapsed = now.saturating_sub(*last);
                if elapsed >= self.window {
                    let r = Report::Still {
                        attempts: *since,
                        secs: elapsed,
                    };
                    *last = now;
                    *since = 0;
                    r
                } else {
                    Report::Quiet
                }
            }
        }
    }

    /// It worked at `now`.
    pub fn success(&mut self, now: u64) -> Report {
        match self.failing.take() {
            None => Report::Quiet,
            Some((first, _, _, total)) => Report::Recovered {
                attempts: total,
                secs: now.saturating_sub(first),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_failure_is_reported_then_repeats_once_a_window_then_recovery_once() {
        let mut r = RateLimited::new(60);
        assert_eq!(r.success(0), Report::Quiet, "all well: nothing to say");
        assert_eq!(r.failure(10), Report::First);
        // Retries with backoff 1, 2, 4 ... s: silent inside the minute.
        for t in [11, 13, 17, 25, 41, 69] {
            assert_eq!(r.failure(t), Report::Quiet, "at {t}");
        }
        assert_eq!(
            r.failure(70),
            Report::Still {
                attempts: 7,
                secs: 60
            }
        );
        assert_eq!(r.failure(100), Report::Quiet);
        assert_eq!(r.failure(129), Report::Quiet);
        assert_eq!(
            r.failure(130),
            Report::Still {
                attempts: 3,
                secs: 60
            }
        );
        assert_eq!(
            r.success(135),
            Report::Recovered {
                attempts: 11,
                secs: 125
            }
        );
        assert_eq!(r.success(136), Report::Quiet, "recovery is logged once");
        assert_eq!(r.failure(200), Report::First, "a new episode starts afresh");
    }

    #[test]
    fn a_summary_never_comes_sooner_than_the_window_even_at_a_high_rate() {
        let mut r = RateLimited::new(60);
        let mut reports = 0;
        for i in 0..100_000u64 {
            // 1000 failures a second for 100 s.
            if r.failure(i / 1000) != Report::Quiet {
                reports += 1;
            }
        }
        assert_eq!(reports, 2, "the first, and one summary at 60 s");
    }
}
