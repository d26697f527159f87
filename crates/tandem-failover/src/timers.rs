//! The core's timers by kind, each with one deadline (as quinn-proto's `TimerTable`): what a
//! driver sleeps for is the earliest of them, and logs and counters can say which fired.
//! Deadlines are absolute core times (seconds); `handle_timeout` runs every one that is due.

use tandem_core::Time;

/// One kind of timer of the core.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    /// STARTUP ends without the partner (RFC 8156 §8.3.2 step 6).
    Startup,
    /// RECOVER-WAIT ends (§8.6.2).
    RecoverWait,
    /// COMMUNICATIONS-INTERRUPTED turns into PARTNER-DOWN on its own (§8.9).
    AutoPartnerDown,
    /// Nothing heard from the partner for its keep-alive time (§6.6).
    PartnerSilence,
    /// Time to send CONTACT (§6.5).
    Contact,
    /// A running UPDREQ/UPDREQALL made no progress (§8.5.2).
    RecoverStall,
    /// A lease's state ends (expiry, quarantine; RFC 8415 §18.3, RFC 8156 §7.2).
    LeaseExpiry,
    /// The periodic scan: freeing in PARTNER-DOWN, rebalancing, re-sending rejected updates.
    Scan,
}

impl Timer {
    pub const ALL: [Timer; 8] = [
        Timer::Startup,
        Timer::RecoverWait,
        Timer::AutoPartnerDown,
        Timer::PartnerSilence,
        Timer::Contact,
        Timer::RecoverStall,
        Timer::LeaseExpiry,
        Timer::Scan,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Timer::Startup => "startup",
            Timer::RecoverWait => "recover_wait",
            Timer::AutoPartnerDown => "auto_partner_down",
            Timer::PartnerSilence => "partner_silence",
            Timer::Contact => "contact",
            Timer::RecoverStall => "recover_stall",
            Timer::LeaseExpiry => "lease_expiry",
            Timer::Scan => "scan",
        }
    }
}

/// One deadline per [`Timer`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimerTable([Option<Time>; 8]);

impl TimerTable {
    pub fn set(&mut self, timer: Timer, at: Option<Time>) {
        self.0[timer as usize] = at;
    }

    pub fn get(&self, timer: Timer) -> Option<Time> {
        self.0[timer as usize]
    }

    /// The earliest deadline and its timer (the first kind on a tie).
    pub fn next(&self) -> Option<(Timer, Time)> {
        Timer::ALL
            .iter()
            .filter_map(|t| self.get(*t).map(|at| (*t, at)))
            .min_by_key(|(_, at)| *at)
    }

    /// The timers due at `now`.
    pub fn due(&self, now: Time) -> impl Iterator<Item = Timer> + '_ {
        Timer::ALL
            .into_iter()
            .filter(move |t| self.get(*t).is_some_and(|at| at <= now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_deadline_wins_and_due_lists_all_that_are_due() {
        let mut t = TimerTable::default();
        assert_eq!(t.next(), None);
        t.set(Timer::Scan, Some(Time(30)));
        t.set(Timer::Contact, Some(Time(10)));
        t.set(Timer::LeaseExpiry, Some(Time(10)));
        assert_eq!(t.next(), Some((Timer::Contact, Time(10))));
        assert_eq!(
            t.due(Time(10)).collect::<Vec<_>>(),
            [Timer::Contact, Timer::LeaseExpiry]
        );
        t.set(Timer::Contact, None);
        assert_eq!(t.next(), Some((Timer::LeaseExpiry, Time(10))));
    }
}
