//! systemd's service notifications (sd_notify(3)) for `tandem serve` under a
//! `Type=notify` unit: READY=1 once the server answers clients, STOPPING=1 when a stop
//! was requested, WATCHDOG=1 at half of WatchdogSec, sent only after the server loop
//! answered a status probe (see `tandem_server::startup::Watchdog`). Without
//! NOTIFY_SOCKET (not started by systemd) every message is a no-op.

use sd_notify::NotifyState;
use tandem_server::startup::{Lifecycle, Watchdog};
use tracing::{debug, warn};

fn send(what: &'static str, state: &[NotifyState]) {
    match sd_notify::notify(state) {
        Ok(()) => debug!(message = what, "sent to the service manager"),
        Err(e) => warn!(message = what, error = %e, "cannot notify the service manager"),
    }
}

/// The notifications for this process's environment (NOTIFY_SOCKET, WATCHDOG_USEC and
/// WATCHDOG_PID as systemd sets them).
pub fn lifecycle() -> Lifecycle {
    let watchdog = sd_notify::watchdog_enabled().map(|period| Watchdog {
        // sd_watchdog_enabled(3): send at half the period so one late ping is no kill.
        interval: period / 2,
        alive: Box::new(|| send("WATCHDOG=1", &[NotifyState::Watchdog])),
    });
    Lifecycle {
        on_ready: Some(Box::new(|| {
            send(
                "READY=1",
                &[NotifyState::Ready, NotifyState::Status("serving")],
            )
        })),
        on_stopping: Some(Box::new(|| {
            send(
                "STOPPING=1",
                &[
                    NotifyState::Stopping,
                    NotifyState::Status("stopping: finishing pending commits"),
                ],
            )
        })),
        watchdog,
    }
}
