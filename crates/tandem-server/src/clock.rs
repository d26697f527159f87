//! Wall-clock time, read here at the edge and handed to the core as a value.

use std::time::{SystemTime, UNIX_EPOCH};

use tandem_core::Time;

/// Where the driver reads "now" from; tests substitute a controllable clock.
pub type Clock = Box<dyn Fn() -> Time + Send + Sync>;

/// The system clock as core [`Time`] (Unix seconds). A clock before 1970 reads as 0.
pub fn system_now() -> Time {
    Time(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
}

/// How often a driver reads the clock in the last second before a core deadline: the
/// core's times are whole seconds, and the clock may turn to the next one at any moment.
pub(crate) const TIMER_RESOLUTION: std::time::Duration = std::time::Duration::from_millis(50);

/// When an idle driver should wake for the core deadline `due`, given that the clock read
/// `now` at `now_i`; never later than `max` from `now_i`. `now` began up to a second
/// before `now_i`, so the clock first reads `due` somewhere in the second before
/// `now_i + (due - now)`: sleep until that second begins, then read the clock every
/// [`TIMER_RESOLUTION`] until it gets there. This only wakes the loop; the drivers run
/// a due timer at the top of every loop turn, however busy they are.
pub(crate) fn wake_for(
    due: Option<Time>,
    now: Time,
    now_i: tokio::time::Instant,
    max: std::time::Duration,
) -> tokio::time::Instant {
    use std::time::Duration;
    let sleep = match due.map(|t| t.secs_since(now)) {
        None => max,
        Some(0) => Duration::ZERO,
        Some(1) => TIMER_RESOLUTION,
        Some(n) => Duration::from_secs(n - 1),
    };
    now_i + sleep.min(max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn wake_for_sleeps_to_the_second_before_the_deadline_then_polls() {
        let i = tokio::time::Instant::now();
        let max = Duration::from_secs(60);
        assert_eq!(wake_for(None, Time(100), i, max), i + max);
        assert_eq!(wake_for(Some(Time(90)), Time(100), i, max), i);
        assert_eq!(wake_for(Some(Time(100)), Time(100), i, max), i);
        assert_eq!(
            wake_for(Some(Time(101)), Time(100), i, max),
            i + TIMER_RESOLUTION
        );
        assert_eq!(
            wake_for(Some(Time(105)), Time(100), i, max),
            i + Duration::from_secs(4)
        );
        assert_eq!(
            wake_for(Some(Time(1000)), Time(100), i, Duration::from_secs(1)),
            i + Duration::from_secs(1)
        );
    }
}
