//! Configuration: the TOML file ([`file`]), its checks, and what `serve` runs with.
//!
//! Loading happens in two stages so that every mistake is reported precisely:
//! 1. syntax and types (serde + `serde_path_to_error`): the first error stops, and is
//!    reported with file, line, column and the key path;
//! 2. meaning (`build`): every problem at once, each with its path and line.

pub mod build;
mod build4;
pub mod control;
pub mod failover;
pub mod file;
pub mod host;
mod locate;
mod pair;

use std::fmt;
use std::path::{Path, PathBuf};

pub use build::{Problem, RunConfig};
pub use failover::{FailoverSettings, FailoverTls};
pub use file::ConfigFile;
pub use host::{check_host, HostReport};
pub use pair::check_pair;

/// Why a configuration cannot be used.
#[derive(Debug)]
pub enum ConfigError {
    /// The file could not be read.
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// TOML syntax, an unknown key, a missing key or a value of the wrong type.
    Syntax {
        origin: String,
        line: Option<usize>,
        column: Option<usize>,
        path: String,
        message: String,
    },
    /// The file parsed but says something impossible; every problem is listed.
    Invalid {
        origin: String,
        problems: Vec<Problem>,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { path, source } => {
                write!(f, "cannot read configuration {}: {source}", path.display())
            }
            ConfigError::Syntax {
                origin,
                line,
                column,
                path,
                message,
            } => {
                write!(f, "{origin}")?;
                if let Some(line) = line {
                    write!(f, ":{line}")?;
                }
                if let Some(column) = column {
                    write!(f, ":{column}")?;
                }
                if !path.is_empty() && path != "." {
                    write!(f, ": {path}")?;
                }
                write!(f, ": {message}")
            }
            ConfigError::Invalid { origin, problems } => {
                let n = problems.len();
                write!(f, "{origin}: {n} problem{}:", if n == 1 { "" } else { "s" })?;
                for p in problems {
                    write!(f, "\n  {origin}")?;
                    if let Some(line) = p.line {
                        write!(f, ":{line}")?;
                    }
                    write!(f, ": {}: {}", p.path, p.message)?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// Reads, parses and checks the configuration file at `path`.
pub fn load(path: &Path) -> Result<RunConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    load_str(&text, &path.display().to_string(), base)
}

/// Parses and checks configuration text; `origin` names it in messages and relative
/// paths inside it are taken relative to `base_dir`.
pub fn load_str(text: &str, origin: &str, base_dir: &Path) -> Result<RunConfig, ConfigError> {
    let file = parse_str(text, origin)?;
    let line_of = |path: &str| locate::offset_of(text, path).map(|o| locate::line_col(text, o).0);
    match build::build(&file, base_dir) {
        Ok(mut cfg) => {
            for w in &mut cfg.warnings {
                w.line = line_of(&w.path);
                w.file = Some(origin.to_string());
            }
            cfg.origin = origin.to_string();
            cfg.source = text.to_string();
            Ok(cfg)
        }
        Err(mut problems) => {
            for p in &mut problems {
                p.line = line_of(&p.path);
            }
            Err(ConfigError::Invalid {
                origin: origin.to_string(),
                problems,
            })
        }
    }
}

/// Stage 1 only: TOML syntax and types.
pub fn parse_str(text: &str, origin: &str) -> Result<ConfigFile, ConfigError> {
    let syntax = |err: toml::de::Error, path: String| {
        let (line, column) = match err.span() {
            Some(span) => {
                let (l, c) = locate::line_col(text, span.start);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        ConfigError::Syntax {
            origin: origin.to_string(),
            line,
            column,
            path,
            message: err.message().trim().to_string(),
        }
    };
    let de = toml::de::Deserializer::parse(text).map_err(|e| syntax(e, String::new()))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        syntax(e.into_inner(), path)
    })
}

#[cfg(test)]
mod tests;
