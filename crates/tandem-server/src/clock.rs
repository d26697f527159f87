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
