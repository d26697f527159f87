//! `[control]`: the control API on TCP, next to the owner-only Unix socket it always has
//! (docs/control-api.md). Off unless `listen` is set; a listener reachable from other
//! hosts must have a token.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tandem_server::startup::ControlSettings;

use super::build::Problem;

/// `[control]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlSection {
    /// TCP address of the control API, e.g. `"[::1]:8547"`. Absent: socket only.
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// File holding the bearer token every TCP request must carry
    /// (`Authorization: Bearer <token>`); relative to the configuration file.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
}

/// Checks `[control]` and resolves its paths.
pub fn check(
    section: Option<&ControlSection>,
    base_dir: &Path,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) -> ControlSettings {
    let Some(c) = section else {
        return ControlSettings::default();
    };
    let token_file = c.token_file.as_ref().map(|p| {
        if p.is_absolute() {
            p.clone()
        } else {
            base_dir.join(p)
        }
    });
    if let Some(path) = &token_file {
        match std::fs::read_to_string(path) {
            Ok(t) if t.trim().is_empty() => problems.push(Problem::new(
                "control.token_file",
                format!("{} is empty", path.display()),
            )),
            Ok(_) => {}
            Err(e) => problems.push(Problem::new(
                "control.token_file",
                format!("cannot read {}: {e}", path.display()),
            )),
        }
        if c.listen.is_none() {
            warnings.push(Problem::new(
                "control.token_file",
                "set without control.listen: the token is not used (the socket is owner-only)",
            ));
        }
    }
    if let Some(addr) = c.listen {
        if token_file.is_none() {
            if addr.ip().is_loopback() {
                warnings.push(Problem::new(
                    "control.listen",
                    format!("{addr} without a token_file: every local user can control the server"),
                ));
            } else {
                problems.push(Problem::new(
                    "control.listen",
                    format!(
                        "{addr} is reachable from other hosts: set control.token_file \
                         (a bearer token) or listen on a loopback address"
                    ),
                ));
            }
        }
    }
    ControlSettings {
        listen: c.listen,
        token_file,
    }
}
