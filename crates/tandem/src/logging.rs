//! Logs: tracing to stderr, filtered by RUST_LOG when set, else by the configured level.
//! The filter sits behind a reload handle so a configuration reload can change it
//! ([`set_level`]).

use std::sync::OnceLock;

use anyhow::Context;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

static FILTER: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

/// Installs the global subscriber. RUST_LOG, when set and non-empty, wins over `level`.
pub fn init(level: &str) -> anyhow::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => {
            EnvFilter::try_new(&v).with_context(|| format!("invalid RUST_LOG {v:?}"))?
        }
        _ => EnvFilter::try_new(level).with_context(|| format!("invalid log_level {level:?}"))?,
    };
    let (filter, handle) = reload::Layer::new(filter);
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                // Colour codes only for a person at a terminal, never into log files.
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .try_init()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let _ = FILTER.set(handle);
    Ok(())
}

/// Replaces the log filter (a reload's new `log_level`). RUST_LOG, when set, still wins:
/// the filter then stays as it is.
pub fn set_level(level: &str) -> anyhow::Result<()> {
    if std::env::var("RUST_LOG").is_ok_and(|v| !v.trim().is_empty()) {
        anyhow::bail!("RUST_LOG is set and wins over log_level");
    }
    let filter =
        EnvFilter::try_new(level).with_context(|| format!("invalid log_level {level:?}"))?;
    let handle = FILTER
        .get()
        .context("logging was not set up with a reloadable filter")?;
    handle
        .reload(filter)
        .context("cannot change the log filter")
}
