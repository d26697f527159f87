//! `tandem serve`: the configuration handed to the server (tandem-server starts it).

use std::future::Future;

use anyhow::Context;
use tandem_server::startup::{self, LinkSecurity, PartnerSettings, ServeSettings};
use tokio::signal::unix::{signal, SignalKind};
use tracing::info;

use crate::config::{FailoverTls, RunConfig};

/// What the server needs from a checked configuration.
pub fn settings(cfg: &RunConfig) -> ServeSettings {
    ServeSettings {
        data_dir: cfg.data_dir.clone(),
        listen_address: cfg.listen_address,
        port: cfg.port,
        interfaces: cfg.interfaces.clone(),
        server_duid: cfg.server_duid.clone(),
        core: cfg.core.clone(),
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
    }
}

/// Runs the server until SIGTERM/SIGINT, on a single-threaded runtime: the core is
/// single-threaded by design and the store's writer has its own thread.
pub fn run(cfg: RunConfig) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async {
        let stop = shutdown_signal().context("cannot install signal handlers")?;
        serve(cfg, stop).await
    })
}

/// Serves until `stop` completes, then flushes and returns.
pub async fn serve(cfg: RunConfig, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
    startup::serve(settings(&cfg), stop).await?;
    Ok(())
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
