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

/// RFC 8415 §7.7: a lifetime (or T1/T2) of 0xffffffff means "infinity".
pub const INFINITE_LIFETIME: u32 = u32::MAX;

/// The longest lifetime that is still finite (one second short of infinity).
pub const MAX_FINITE_LIFETIME: u32 = INFINITE_LIFETIME - 1;

/// The RFC 8156 absolute time that stands for [`Time::NEVER`] on the failover wire.
///
/// RFC 8156 defines no "infinity" for absolute times (§3, §5.5: seconds since 2000,
/// modulo 2^32). Following RFC 8415 §7.7 we reserve the all-ones value, the last second
/// the 32-bit field can name (2136-02-07T06:28:15Z), for "never": a partner that reads it
/// literally still sees a lease that ends in 2136, never one that already ended.
pub const FAILOVER_NEVER: u32 = u32::MAX;

impl Time {
    pub const ZERO: Time = Time(0);

    /// The expiry of an infinite lifetime: later than every finite time. Adding to it
    /// (or subtracting from it) leaves it `NEVER`, and a finite time that saturates
    /// reaches it. Use [`Time::plus_lifetime`] to turn an RFC 8415 lifetime into an
    /// expiry, never `now + 0xffffffff`.
    pub const NEVER: Time = Time(u64::MAX);

    /// Whether this is [`Time::NEVER`].
    pub fn is_never(self) -> bool {
        self == Time::NEVER
    }

    /// When a lifetime of `lifetime` seconds that starts at `self` ends:
    /// [`Time::NEVER`] for [`INFINITE_LIFETIME`] (RFC 8415 §7.7).
    pub fn plus_lifetime(self, lifetime: u32) -> Self {
        if lifetime == INFINITE_LIFETIME {
            Time::NEVER
        } else {
            self.plus(u64::from(lifetime))
        }
    }

    /// The RFC 8415 lifetime from `self` until `end`: [`INFINITE_LIFETIME`] when `end`
    /// is [`Time::NEVER`], otherwise the seconds left (0 when `end` has passed), at most
    /// [`MAX_FINITE_LIFETIME`] so that a finite end never reads as infinity.
    pub fn lifetime_until(self, end: Time) -> u32 {
        if end.is_never() {
            return INFINITE_LIFETIME;
        }
        u32::try_from(end.secs_since(self))
            .map_or(MAX_FINITE_LIFETIME, |s| s.min(MAX_FINITE_LIFETIME))
    }

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

    /// `self` moved by `secs` (either way), saturating; [`Time::NEVER`] stays `NEVER`.
    /// For following a step of the wall clock.
    pub fn shifted(self, secs: i64) -> Self {
        if self.is_never() {
            return self;
        }
        Time(self.0.saturating_add_signed(secs).min(Time::NEVER.0 - 1))
    }

    /// Seconds from `earlier` to `self`, or 0 when `earlier` is later.
    pub fn secs_since(self, earlier: Time) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// RFC 8156 §3/§5.2 absolute time: seconds since 2000-01-01 modulo 2^32.
    ///
    /// [`Time::NEVER`] becomes [`FAILOVER_NEVER`]. A finite time past the end of the
    /// 32-bit range (e.g. a lifetime of 100 years granted today) is sent as the latest
    /// finite second, 0xfffffffe, rather than wrapped modulo 2^32 into the past, which
    /// would tell the partner the lease had already ended.
    pub fn to_failover(self) -> u32 {
        if self.is_never() {
            return FAILOVER_NEVER;
        }
        let latest_finite = FAILOVER_EPOCH_UNIX + u64::from(FAILOVER_NEVER - 1);
        if self.0 >= latest_finite {
            return FAILOVER_NEVER - 1;
        }
        (self.0.wrapping_sub(FAILOVER_EPOCH_UNIX) & 0xffff_ffff) as u32
    }

    /// Inverse of [`Time::to_failover`] for an instant between 2000 and 2136 (sent-time,
    /// base time, start of state, client transaction times). Every value is an instant.
    pub fn from_failover(fo: u32) -> Self {
        Time(FAILOVER_EPOCH_UNIX + u64::from(fo))
    }

    /// Inverse of [`Time::to_failover`] for an expiry (OPTION_F_STATE_EXPIRATION_TIME,
    /// OPTION_F_PARTNER_LIFETIME, OPTION_F_PARTNER_LIFETIME_SENT,
    /// OPTION_F_EXPIRATION_TIME): [`FAILOVER_NEVER`] reads as [`Time::NEVER`].
    pub fn from_failover_expiry(fo: u32) -> Self {
        if fo == FAILOVER_NEVER {
            Time::NEVER
        } else {
            Time::from_failover(fo)
        }
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
    /// Saturating; [`Time::NEVER`] minus anything is still `NEVER`.
    fn sub(self, secs: u64) -> Time {
        if self.is_never() {
            return self;
        }
        Time(self.0.saturating_sub(secs))
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_never() {
            return f.write_str("never");
        }
        write!(f, "{}", self.0)
    }
}

/// `num/den` of an RFC 8415 lifetime (`num <= den`); a fraction of infinity is infinity
/// (RFC 8415 §21.4: when the shortest preferred lifetime is 0xffffffff, the recommended
/// T1 and T2 are 0xffffffff too).
pub fn lifetime_fraction(lifetime: u32, num: u64, den: u64) -> u32 {
    if lifetime == INFINITE_LIFETIME || den == 0 {
        return INFINITE_LIFETIME;
    }
    u32::try_from(u64::from(lifetime) * num / den).unwrap_or(MAX_FINITE_LIFETIME)
}

/// An RFC 8415 lifetime for humans: seconds, or "infinite" for 0xffffffff (§7.7).
pub fn display_lifetime(lifetime: u32) -> String {
    if lifetime == INFINITE_LIFETIME {
        "infinite".to_string()
    } else {
        lifetime.to_string()
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
    fn infinite_lifetime_ends_never_rfc8415_s7_7() {
        let now = Time(1_800_000_000);
        assert_eq!(now.plus_lifetime(INFINITE_LIFETIME), Time::NEVER);
        assert_eq!(
            now.plus_lifetime(MAX_FINITE_LIFETIME),
            now + u64::from(MAX_FINITE_LIFETIME)
        );
        assert!(!now.plus_lifetime(MAX_FINITE_LIFETIME).is_never());
        assert_eq!(Time::NEVER + 10, Time::NEVER);
        assert_eq!(Time::NEVER - 10, Time::NEVER);
        assert!(Time::NEVER > now + u64::from(u32::MAX) * 1000);
        assert_eq!(now.lifetime_until(Time::NEVER), INFINITE_LIFETIME);
        assert_eq!(now.lifetime_until(now + 60), 60);
        assert_eq!(now.lifetime_until(now - 60), 0);
        // A finite end, however far, is a finite lifetime.
        assert_eq!(
            now.lifetime_until(now + u64::from(u32::MAX)),
            MAX_FINITE_LIFETIME
        );
        assert_eq!(
            now.lifetime_until(now + 10_000_000_000),
            MAX_FINITE_LIFETIME
        );
        assert_eq!(Time::NEVER.to_string(), "never");
        assert_eq!(display_lifetime(INFINITE_LIFETIME), "infinite");
        assert_eq!(display_lifetime(30), "30");
    }

    #[test]
    fn never_is_all_ones_on_the_failover_wire_and_far_times_saturate_s3() {
        assert_eq!(Time::NEVER.to_failover(), FAILOVER_NEVER);
        assert_eq!(Time::from_failover_expiry(FAILOVER_NEVER), Time::NEVER);
        // An instant field with all ones is just the last second of the range.
        assert_eq!(
            Time::from_failover(FAILOVER_NEVER),
            Time(FAILOVER_EPOCH_UNIX + u64::from(u32::MAX))
        );
        // now + 0xffffffff would wrap to now - 1; it saturates to the latest finite second.
        let now = Time(1_800_000_000);
        let far = now + u64::from(u32::MAX);
        assert_eq!(far.to_failover(), FAILOVER_NEVER - 1);
        assert!(Time::from_failover_expiry(far.to_failover()) > now);
        assert!(!Time::from_failover_expiry(far.to_failover()).is_never());
        // Ordinary times are unchanged.
        assert_eq!(Time::from_failover_expiry(now.to_failover()), now);
    }

    #[test]
    fn shifted_moves_either_way_saturates_and_keeps_never() {
        assert_eq!(Time(100).shifted(5), Time(105));
        assert_eq!(Time(100).shifted(-5), Time(95));
        assert_eq!(Time(3).shifted(-5), Time::ZERO);
        assert_eq!(Time::NEVER.shifted(-5), Time::NEVER);
        assert!(!Time(u64::MAX - 3).shifted(10).is_never());
    }

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(Time(5) - 10, Time(0));
        assert_eq!(Time(5).secs_since(Time(9)), 0);
        assert_eq!(Time(u64::MAX) + 1, Time(u64::MAX));
    }
}
