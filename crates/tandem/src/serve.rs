//! `tandem serve`: open the store, build the core, bind the socket, run the driver.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;

use anyhow::Context;
use tandem_core::{Dhcpv6Server, Duid, LeaseTable};
use tandem_net::{interface_index, BindOptions, Dhcp6Socket};
use tandem_server::{server_duid, system_now, DhcpEngine, Driver, StoreSink};
use tandem_store::{Batch, GroupCommitWriter, LeaseStore, SqliteStore};
use tokio::signal::unix::{signal, SignalKind};
use tracing::info;

use crate::config::RunConfig;
use crate::data_dir::DataDirLock;

/// File name of the lease database inside `server.data_dir`.
pub const LEASE_DB: &str = "leases.db";

/// Runs the server until SIGTERM/SIGINT, on a single-threaded runtime: the core is
/// single-threaded by design and the store's writer has its own thread.
pub fn run(cfg: RunConfig) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async {
        let stop = shutdown_signal().context("cannot install signal handlers")?;
        if cfg.failover.is_some() {
            crate::serve_pair::serve(cfg, stop).await
        } else {
            serve(cfg, stop).await
        }
    })
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

/// Creates the data directory if needed, takes it for this process and returns the lease
/// database path with the lock. Called first, before the store is opened, a server DUID
/// generated or any socket bound; keep the lock alive until the server has stopped
/// (`let (db, _lock) = ...`, not `_`). A second server on the same directory gets an
/// error naming the first (see [`crate::data_dir`]).
pub fn prepare_data_dir(cfg: &RunConfig) -> anyhow::Result<(PathBuf, DataDirLock)> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("cannot create data directory {}", cfg.data_dir.display()))?;
    let lock = DataDirLock::acquire(&cfg.data_dir)?;
    Ok((cfg.data_dir.join(LEASE_DB), lock))
}

/// The interfaces served directly, by kernel index.
pub fn resolve_interfaces(cfg: &RunConfig) -> anyhow::Result<BTreeMap<u32, String>> {
    cfg.interfaces
        .iter()
        .map(|name| {
            let idx = interface_index(name)
                .with_context(|| format!("server.interfaces lists {name:?}"))?;
            Ok((idx, name.clone()))
        })
        .collect()
}

/// Binds the DHCPv6 socket and joins ff02::1:2 on every served interface.
pub fn bind_socket(cfg: &RunConfig, links: &BTreeMap<u32, String>) -> anyhow::Result<Dhcp6Socket> {
    let opts = BindOptions {
        addr: cfg.listen_address,
        port: cfg.port,
        multicast_ifindexes: links.keys().copied().collect(),
    };
    let sock = Dhcp6Socket::bind(&opts).with_context(|| {
        format!(
            "cannot listen on [{}]:{} (interfaces {:?})",
            cfg.listen_address, cfg.port, cfg.interfaces
        )
    })?;
    info!(addr = %cfg.listen_address, port = cfg.port, interfaces = ?cfg.interfaces, "listening");
    Ok(sock)
}

/// The server DUID: the configured one, else the one kept in the store, else a new one
/// that is stored (and fsync'd) before any client can see it.
pub fn server_duid(
    cfg: &RunConfig,
    store: &mut SqliteStore,
    now: tandem_core::Time,
) -> anyhow::Result<Vec<u8>> {
    if let Some(duid) = &cfg.server_duid {
        return Ok(duid.clone());
    }
    if let Some(duid) = store
        .get_meta(server_duid::META_KEY)
        .context("cannot read the server DUID from the lease database")?
    {
        return Ok(duid);
    }
    let duid =
        server_duid::generate(now, &cfg.interfaces).context("cannot generate a server DUID")?;
    store
        .commit(&Batch::default().put_meta(server_duid::META_KEY, duid.clone()))
        .context("cannot store the new server DUID")?;
    info!(duid = %Duid(duid.clone()), "generated and stored a new server DUID");
    Ok(duid)
}

/// Serves until `stop` completes, then flushes and returns.
pub async fn serve(cfg: RunConfig, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
    // Held until this function returns, after the store is closed.
    let (db, _lock) = prepare_data_dir(&cfg)?;
    let mut store = SqliteStore::open(&db)
        .with_context(|| format!("cannot open lease database {}", db.display()))?;
    let leases = store
        .load_all()
        .with_context(|| format!("cannot load leases from {}", db.display()))?;
    let duid = Duid(server_duid(&cfg, &mut store, system_now())?);
    info!(leases = leases.len(), database = %db.display(), server_duid = %duid, "lease database loaded");
    let core = Dhcpv6Server::new(cfg.core.clone(), duid, LeaseTable::from_leases(leases));
    let links = resolve_interfaces(&cfg)?;
    let socket = bind_socket(&cfg, &links)?;
    let writer = GroupCommitWriter::start(store).context("cannot start the lease writer")?;
    let driver = Driver::new(DhcpEngine::new(core, links), StoreSink(writer), socket);
    let stopped = driver.run(stop).await.context("server loop failed")?;
    // Every reply that waited on a commit has gone out; now close the database cleanly.
    stopped.sink.0.shutdown();
    info!("stopped; all acknowledged leases are on disk");
    Ok(())
}
