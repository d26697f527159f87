//! Time as the core sees it: a value passed in, never read from a clock.

use std::fmt;
use std::ops::{Add, Sub};

/// Seconds since the Unix epoch (1970-01-01T00:00:00Z).
///
/// The core never calls `SystemTime::now()`; the driver (or a simulation) passes
/// the current `Time` into every call that needs it.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(pub u64);

/// Offset between the Unix epoch and the RFC 8156 epoch (2000-01-01T00:00:00Z).
pub const FAILOVER_EPOCH_UNIX: u64 = 946_684_800;

impl Time {
    pub const ZERO: Time = Time(0);

    pub fn from_secs(secs: u64) -> Self {
        Time(secs)
    }

    pub fn as_secs(self) -> u64 {
        self.0
    }

    /// `self + secs`, saturating instead of overflowing.
    pub fn plus(self, secs: u64) -> Self {
        Time(self.0.saturating_add(secs))
    }

    /// Seconds from `earlier` to `self`, or 0 when `earlier` is later.
    pub fn secs_since(self, earlier: Time) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// RFC 8156 §3/§5.2 absolute time: seconds since 2000-01-01 modulo 2^32.
    pub fn to_failover(self) -> u32 {
        (self.0.wrapping_sub(FAILOVER_EPOCH_UNIX) & 0xffff_ffff) as u32
    }

    /// Inverse of [`Time::to_failover`] for times between 2000 and 2136.
    pub fn from_failover(fo: u32) -> Self {
        Time(FAILOVER_EPOCH_UNIX + u64::from(fo))
    }
}

impl Add<u64> for Time {
    type Output = Time;
    fn add(self, secs: u64) -> Time {
        self.plus(secs)
    }
}

impl Sub<u64> for Time {
    type Output = Time;
    fn sub(self, secs: u64) -> Time {
        Time(self.0.saturating_sub(secs))
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failover_epoch_round_trip() {
        // RFC 8156 §3: absolute times count from 2000-01-01T00:00:00Z.
        assert_eq!(Time(FAILOVER_EPOCH_UNIX).to_failover(), 0);
        let t = Time(1_800_000_000);
        assert_eq!(Time::from_failover(t.to_failover()), t);
    }

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(Time(5) - 10, Time(0));
        assert_eq!(Time(5).secs_since(Time(9)), 0);
        assert_eq!(Time(u64::MAX) + 1, Time(u64::MAX));
    }
}
