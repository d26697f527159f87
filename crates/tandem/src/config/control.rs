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

#[cfg(test)]
mod tests {
    use crate::config::{load_str, ConfigError};

    const BASE: &str = "[server]\ndata_dir = \"/tmp/x\"\n";

    #[test]
    fn control_tcp_reachable_from_other_hosts_needs_a_token() {
        let text = format!("{BASE}[control]\nlisten = \"[2001:db8::1]:8547\"\n");
        let err = load_str(&text, "t.toml", std::path::Path::new("/")).unwrap_err();
        let ConfigError::Invalid { problems, .. } = err else {
            panic!("{err}")
        };
        assert_eq!(problems[0].path, "control.listen");
        assert!(
            problems[0].message.contains("token_file"),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn control_tcp_on_loopback_without_a_token_is_a_warning() {
        let text = format!("{BASE}[control]\nlisten = \"[::1]:8547\"\n");
        let cfg = load_str(&text, "t.toml", std::path::Path::new("/")).unwrap();
        assert_eq!(cfg.control.listen, Some("[::1]:8547".parse().unwrap()));
        assert!(cfg.warnings.iter().any(|w| w.path == "control.listen"));
    }

    #[test]
    fn control_token_file_must_be_readable_and_not_empty() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("empty.token"), "  \n").unwrap();
        std::fs::write(dir.path().join("good.token"), "abc\n").unwrap();
        for (file, want) in [
            ("missing.token", "cannot read"),
            ("empty.token", "is empty"),
        ] {
            let text = format!(
                "{BASE}[control]\nlisten = \"[2001:db8::1]:8547\"\ntoken_file = \"{file}\"\n"
            );
            let err = load_str(&text, "t.toml", dir.path())
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{err}");
        }
        let text = format!(
            "{BASE}[control]\nlisten = \"[2001:db8::1]:8547\"\ntoken_file = \"good.token\"\n"
        );
        let cfg = load_str(&text, "t.toml", dir.path()).unwrap();
        assert_eq!(cfg.control.token_file, Some(dir.path().join("good.token")));
    }
}
