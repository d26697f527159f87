//! Logs: tracing to stderr (text or one JSON object per line) or to journald, filtered by
//! RUST_LOG when set, else by `server.log_level`; the level can change while running
//! ([`set_level`], called by the configuration reload). docs/logging.md describes the
//! formats, the lease events (target `tandem::lease`) and the filters.

use std::str::FromStr;
use std::sync::OnceLock;

use anyhow::Context;
use tandem_server::log_writer::HeldStderr;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Layer, Registry};

/// `server.log_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event (`timestamp LEVEL target: message key=value ...`).
    #[default]
    Text,
    /// One JSON object per line, the event's fields at the top level.
    Json,
}

/// `server.log_target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogTarget {
    #[default]
    Stderr,
    /// The systemd journal's native protocol (fields as journal fields).
    Journald,
}

/// Checks a `log_level` value: one or more comma-separated directives, each a level
/// (`trace`, `debug`, `info`, `warn`, `error`, `off`) or `target=level` (the tracing
/// `EnvFilter` syntax, e.g. `info,tandem::lease=off`). A bare word that is not a level
/// (`inf0`) is refused: `EnvFilter` would take it as a target name, enable nothing else,
/// and the server would log nothing at all.
pub fn check_level(level: &str) -> Result<(), String> {
    let level = level.trim();
    if level.is_empty() {
        return Err("empty: give a level (trace, debug, info, warn, error, off)".into());
    }
    for directive in split_directives(level) {
        let d = directive.trim();
        let lvl = match d.rfind('=') {
            // `target=level` or `target[span{field=value}]=level`: the level follows the
            // last `=` outside brackets; a `=` inside `{...}` is a field match.
            Some(i) if !d[i..].contains([']', '}']) => &d[i + 1..],
            _ => d,
        };
        if LevelFilter::from_str(lvl).is_err() {
            return Err(if lvl == d {
                format!(
                    "{d:?} is not a level: use trace, debug, info, warn, error or off \
                     (or target=level to filter one target)"
                )
            } else {
                format!("{lvl:?} in {d:?} is not a level (trace, debug, info, warn, error, off)")
            });
        }
    }
    EnvFilter::builder()
        .parse(level)
        .map(|_| ())
        .map_err(|e| format!("not a log filter: {e}"))
}

/// Directives separated by commas that are not inside `[...]` or `{...}`.
fn split_directives(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '[' | '{' => depth += 1,
            ']' | '}' => depth -= 1,
            ',' if depth <= 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter().filter(|d| !d.trim().is_empty()).collect()
}

/// The handle [`set_level`] uses; set once by [`init`].
static FILTER: OnceLock<Reloadable> = OnceLock::new();

struct Reloadable {
    handle: reload::Handle<EnvFilter, Registry>,
    /// RUST_LOG was set at startup: it keeps winning over the configuration.
    from_env: bool,
}

type Out = Box<
    dyn Layer<tracing_subscriber::layer::Layered<reload::Layer<EnvFilter, Registry>, Registry>>
        + Send
        + Sync,
>;

/// Installs the global subscriber behind a reload handle ([`set_level`]). RUST_LOG, when
/// set and non-empty, wins over `level` (and over later [`set_level`] calls). With `LogTarget::Journald`, fails when the
/// journal's socket cannot be reached.
pub fn init(level: &str, format: LogFormat, target: LogTarget) -> anyhow::Result<()> {
    let (filter, from_env) = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => (
            EnvFilter::try_new(&v).with_context(|| format!("invalid RUST_LOG {v:?}"))?,
            true,
        ),
        _ => {
            check_level(level).map_err(|e| anyhow::anyhow!("invalid log_level: {e}"))?;
            (
                EnvFilter::try_new(level)
                    .with_context(|| format!("invalid log_level {level:?}"))?,
                false,
            )
        }
    };
    let (filter, handle) = reload::Layer::new(filter);
    let out: Out = match (target, format) {
        // Fields become journal fields under their own names (EVENT=granted, ADDRESS=...),
        // so `journalctl -t tandem EVENT=granted` finds lease events.
        (LogTarget::Journald, _) => Box::new(
            tracing_journald::layer()
                .context(
                    "log_target = \"journald\" but the systemd journal is not reachable \
                     (/run/systemd/journal/socket); use log_target = \"stderr\"",
                )?
                .with_field_prefix(None)
                .with_syslog_identifier("tandem".into()),
        ),
        (LogTarget::Stderr, LogFormat::Json) => Box::new(
            tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false)
                .with_writer(|| HeldStderr),
        ),
        (LogTarget::Stderr, LogFormat::Text) => Box::new(
            tracing_subscriber::fmt::layer()
                .with_writer(|| HeldStderr)
                // Colour codes only for a person at a terminal, never into log files.
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        ),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(out)
        .try_init()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let _ = FILTER.set(Reloadable { handle, from_env });
    Ok(())
}

/// Changes the log filter of the running process (configuration reload). Validated like
/// `log_level` in the configuration; an invalid value changes nothing. When RUST_LOG was
/// set at startup it keeps winning: the call fails and changes nothing.
pub fn set_level(level: &str) -> anyhow::Result<()> {
    check_level(level).map_err(|e| anyhow::anyhow!("invalid log_level: {e}"))?;
    let filter =
        EnvFilter::try_new(level).with_context(|| format!("invalid log_level {level:?}"))?;
    let Some(r) = FILTER.get() else {
        anyhow::bail!("logging is not set up");
    };
    if r.from_env {
        // The reload reports this as a warning; the filter stays RUST_LOG's.
        anyhow::bail!("RUST_LOG is set and wins over log_level");
    }
    r.handle
        .reload(filter)
        .map_err(|e| anyhow::anyhow!("cannot change the log level: {e}"))?;
    tracing::info!(log_level = level, "log level changed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_target_directives_are_accepted() {
        for ok in [
            "trace",
            "DEBUG",
            "info",
            "warn",
            "error",
            "off",
            "info,tandem::lease=off",
            "warn,tandem_server=debug",
            "tandem[conn{peer=x}]=debug",
        ] {
            assert_eq!(check_level(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn a_level_typo_is_refused_instead_of_silencing_every_log() {
        // EnvFilter alone takes "inf0" as a target name and then enables nothing.
        assert!(EnvFilter::builder().parse("inf0").is_ok());
        let e = check_level("inf0").unwrap_err();
        assert!(e.contains("\"inf0\" is not a level"), "{e}");
        let e = check_level("info,tandem_server=verbose").unwrap_err();
        assert!(e.contains("\"verbose\""), "{e}");
        assert!(check_level("info,tandem_server").is_err());
        assert!(check_level("").is_err());
        assert!(check_level("loud=[").is_err());
    }
}
