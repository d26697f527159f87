//! `tandem serve`: the configuration handed to the server (tandem-server starts it), the
//! signals (SIGTERM/SIGINT stop it, SIGHUP reloads the configuration), and the reload hook.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use tandem_server::api::model::ApiError;
use tandem_server::api::reload::{Reloaded, Reloader};
use tandem_server::startup::{self, Hooks, LinkSecurity, PartnerSettings, ServeSettings};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tracing::info;

use crate::config::{ConfigError, FailoverTls, RunConfig};

/// What the server needs from a checked configuration.
pub fn settings(cfg: &RunConfig) -> ServeSettings {
    ServeSettings {
        data_dir: cfg.data_dir.clone(),
        listen_address: cfg.listen_address,
        port: cfg.port,
        listen_address4: cfg.listen_address4,
        port4: cfg.port4,
        interfaces: cfg.interfaces.clone(),
        server_duid: cfg.server_duid.clone(),
        core: cfg.core.clone(),
        metrics: cfg.metrics,
        pool_thresholds: cfg.pool_thresholds,
        pool_names: cfg.pool_names(),
        partner: cfg.failover.as_ref().map(|fo| PartnerSettings {
            role: fo.role,
            local: fo.local,
            peer: fo.peer,
            pair: fo.pair_config(),
            security: match &fo.tls {
                FailoverTls::Insecure => LinkSecurity::Insecure,
                FailoverTls::Mutual {
                    cert,
                    key,
                    ca,
                    server_name,
                } => LinkSecurity::MutualTls {
                    cert: cert.clone(),
                    key: key.clone(),
                    ca: ca.clone(),
                    server_name: server_name.clone(),
                },
            },
        }),
        control: cfg.control.clone(),
    }
}

/// Reloads read the file the server was started with, through the same loader and checks
/// as `check-config`, and change the log filter with [`crate::logging::set_level`].
pub struct FileReloader {
    pub path: PathBuf,
}

impl Reloader for FileReloader {
    fn load(&self) -> Result<Reloaded, ApiError> {
        let cfg = crate::config::load(&self.path).map_err(|e| config_refused(&e))?;
        Ok(Reloaded {
            settings: settings(&cfg),
            log_level: cfg.log_level.clone(),
            origin: self.path.display().to_string(),
            warnings: cfg.warnings.iter().map(ToString::to_string).collect(),
        })
    }

    fn set_level(&self, level: &str) -> Result<(), String> {
        crate::logging::set_level(level).map_err(|e| format!("{e:#}"))
    }
}

/// A configuration that does not load, as the API answers it: every problem listed
/// (the lines `check-config` prints).
fn config_refused(e: &ConfigError) -> ApiError {
    let text = e.to_string();
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default().to_string();
    ApiError::bad_request(format!("{first} (nothing was changed)"))
        .with_details(lines.map(|l| l.trim().to_string()).collect())
}

/// Runs the server until SIGTERM/SIGINT, on a single-threaded runtime: the core is
/// single-threaded by design and the store's writer has its own thread. SIGHUP reloads
/// the configuration from `path` and never stops the server.
pub fn run(cfg: RunConfig, path: &Path) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async {
        // SIGHUP's handler first: from here on a SIGHUP is never fatal.
        let reloads = reload_signal().context("cannot install the SIGHUP handler")?;
        let stop = shutdown_signal().context("cannot install signal handlers")?;
        let hooks = Hooks {
            reloader: Some(Arc::new(FileReloader {
                path: path.to_path_buf(),
            })),
            log_level: cfg.log_level.clone(),
            reload_requests: Some(reloads),
            lifecycle: crate::notify::lifecycle(),
        };
        startup::serve_with(settings(&cfg), stop, hooks).await?;
        Ok(())
    })
}

/// Serves until `stop` completes, then flushes and returns.
pub async fn serve(cfg: RunConfig, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
    let hooks = Hooks {
        lifecycle: crate::notify::lifecycle(),
        ..Hooks::default()
    };
    startup::serve_with(settings(&cfg), stop, hooks).await?;
    Ok(())
}

/// One message per SIGHUP (a burst while a reload runs asks for one more reload).
pub fn reload_signal() -> std::io::Result<mpsc::Receiver<()>> {
    let mut hup = signal(SignalKind::hangup())?;
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            info!(signal = "SIGHUP", "reload requested");
            let _ = tx.try_send(());
        }
    });
    Ok(rx)
}

/// A future that completes on the first SIGTERM or SIGINT.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        let which = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        info!(signal = which, "stop requested");
    })
}
