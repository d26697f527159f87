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

/// The smallest step of the wall clock [`StepWatch`] reports: the core's times are whole
/// seconds, so two readings of a clock that did not step differ from the monotonic time
/// between them by less than one second.
pub(crate) const MIN_CLOCK_STEP_SECS: i64 = 2;

/// Notices the wall clock stepping (an NTP step, `date -s`) by comparing each reading with
/// the monotonic time since the previous one. The local timers of the core measure time
/// that really passed; told of a step, the core moves them with it.
#[derive(Debug)]
pub(crate) struct StepWatch {
    last: Option<(Time, tokio::time::Instant)>,
}

impl StepWatch {
    pub(crate) fn new() -> Self {
        StepWatch { last: None }
    }

    /// The wall clock read `wall` at monotonic `mono`: by how many seconds it stepped since
    /// the previous reading, if it did by at least [`MIN_CLOCK_STEP_SECS`].
    pub(crate) fn observe(&mut self, wall: Time, mono: tokio::time::Instant) -> Option<i64> {
        let last = self.last.replace((wall, mono));
        let (last_wall, last_mono) = last?;
        let wall_moved = wall.0 as f64 - last_wall.0 as f64;
        let really_passed = mono.saturating_duration_since(last_mono).as_secs_f64();
        let step = (wall_moved - really_passed).round() as i64;
        (step.abs() >= MIN_CLOCK_STEP_SECS).then_some(step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn step_watch_reports_steps_either_way_and_not_the_second_ticking() {
        let i = tokio::time::Instant::now();
        let ms = Duration::from_millis;
        let mut w = StepWatch::new();
        assert_eq!(w.observe(Time(10_000), i), None);
        // The second turns over a moment later: no step.
        assert_eq!(w.observe(Time(10_001), i + ms(1)), None);
        // 10 s pass and the clock reads 10 s later (give or take its whole seconds).
        assert_eq!(w.observe(Time(10_010), i + ms(9_990)), None);
        assert_eq!(w.observe(Time(10_011), i + ms(10_001)), None);
        // Stepped an hour forward, then two hours back; then it runs on from there.
        assert_eq!(w.observe(Time(13_611), i + ms(10_100)), Some(3600));
        assert_eq!(w.observe(Time(6_411), i + ms(10_200)), Some(-7200));
        assert_eq!(w.observe(Time(6_416), i + ms(15_200)), None);
        // A second's difference is the clock's resolution, not a step.
        assert_eq!(w.observe(Time(6_418), i + ms(16_300)), None);
    }

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
