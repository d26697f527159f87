//! Starting and stopping a server: take the data directory, open the lease database, find
//! the server DUID and the stored failover state, build the core, bind the socket, start
//! the store writer, the partner link and the control socket, run the one driver, and on
//! the way out close everything in order (every acknowledged lease on disk first).

pub mod backup;
pub mod lock;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tandem_core::{Duid, ServerConfig, Time};
use tandem_failover::allocation::proportional::PoolError;
use tandem_failover::endpoint::EndpointRecord;
use tandem_failover::node::Node;
use tandem_failover::server::PairConfig;
use tandem_failover::Role;
use tandem_net::{interface_index, BindOptions, BindOptions4, Dhcp4Socket, Dhcp6Socket};
use tandem_store::{Batch, GroupCommitWriter, LeaseStore, SqliteStore, StoreError};
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::api::reload::{ReloadCtx, Reloader};
use crate::api::{self, ApiState};
use crate::clock::system_now;
use crate::counters::Counters;
use crate::driver::{Driver, DriverError, PartnerChannels};
use crate::metrics;
use crate::partner::{self, PartnerError, Security};
use crate::runner::Runner;
use crate::server_duid;
use crate::store_sink::StoreSink;
pub use lock::{holder, DataDirLock, Holder, LockError};

/// File name of the lease database inside the data directory.
pub const LEASE_DB: &str = "leases.db";
/// File name of the control socket inside the data directory.
pub const CTL_SOCKET: &str = "tandem.ctl";

/// Everything a server needs to start (the binary's configuration, checked).
#[derive(Clone, Debug)]
pub struct ServeSettings {
    pub data_dir: PathBuf,
    pub listen_address: Ipv6Addr,
    pub port: u16,
    /// DHCPv4's local address and UDP port (`server.listen_address4`, `server.port4`);
    /// fixed while the server runs, like the DHCPv6 ones.
    pub listen_address4: Ipv4Addr,
    pub port4: u16,
    /// Interfaces served directly (ff02::1:2 joined on each).
    pub interfaces: Vec<String>,
    /// The configured server DUID, if any (else the stored one, else a new one).
    pub server_duid: Option<Vec<u8>>,
    pub core: ServerConfig,
    /// A failover pair member's settings; None runs a server alone.
    pub partner: Option<PartnerSettings>,
    /// Where to serve Prometheus scrapes (`[metrics] listen`); None: no endpoint.
    pub metrics: Option<SocketAddr>,
    /// Pool-use warning thresholds.
    pub pool_thresholds: crate::PoolThresholds,
    /// Configured pool names by (subnet id, pool as `PoolUse::pool` shows it), for logs.
    pub pool_names: std::collections::HashMap<(u32, String), String>,
    /// The control API beyond its Unix socket (`[control]`).
    pub control: ControlSettings,
}

/// `[control]`: the control API on TCP as well as on the socket; off by default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ControlSettings {
    pub listen: Option<SocketAddr>,
    /// A file holding the bearer token every TCP request must carry.
    pub token_file: Option<PathBuf>,
}

/// What the binary adds to a server beyond its settings: the reload hook (its
/// configuration loader and logger), the reload trigger (SIGHUP) and the lifecycle
/// notifications.
#[derive(Default)]
pub struct Hooks {
    pub reloader: Option<Arc<dyn Reloader>>,
    /// The log filter running now (what a reload compares against).
    pub log_level: String,
    /// Each message asks for a reload (the binary sends one per SIGHUP).
    pub reload_requests: Option<mpsc::Receiver<()>>,
    /// Ready, stopping and liveness notifications (systemd's sd_notify in the binary).
    pub lifecycle: Lifecycle,
}

/// One pair member's side of the relationship and its link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartnerSettings {
    pub role: Role,
    /// Our end: the secondary listens here; the primary connects from its address.
    pub local: SocketAddr,
    pub peer: SocketAddr,
    pub pair: PairConfig,
    pub security: LinkSecurity,
}

/// How the partner link is protected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkSecurity {
    /// Mutual TLS; every certificate from the pair's CA.
    MutualTls {
        cert: PathBuf,
        key: PathBuf,
        ca: PathBuf,
        server_name: String,
    },
    /// Plain TCP, neither encrypted nor authenticated (logged loudly).
    Insecure,
}

/// Why a server could not start (or stopped abnormally).
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("{what} {path}: {source}")]
    Store {
        what: &'static str,
        path: PathBuf,
        source: StoreError,
    },
    #[error(
        "the failover state stored in {path} is damaged ({why}); refusing to guess (it decides \
         whether this server must recover from its partner)"
    )]
    DamagedRecord { path: PathBuf, why: String },
    #[error("cannot {what}: {why}")]
    ServerDuid { what: &'static str, why: String },
    #[error("cannot set up the failover pools: {0}")]
    Pools(#[from] PoolError),
    #[error("server.interfaces lists {name:?}: {source}")]
    Interface {
        name: String,
        source: tandem_net::NetError,
    },
    #[error("cannot listen on [{addr}]:{port} (interfaces {interfaces:?}): {source}")]
    Bind {
        addr: Ipv6Addr,
        port: u16,
        interfaces: Vec<String>,
        source: tandem_net::NetError,
    },
    /// `ping_check` is on for some subnet and no ICMP socket could be opened.
    #[error("{0}")]
    Ping(#[from] tandem_net::EchoUnavailable),
    #[error("cannot listen for DHCPv4 on {addr}:{port}: {source}")]
    Bind4 {
        addr: Ipv4Addr,
        port: u16,
        source: tandem_net::NetError,
    },
    #[error("cannot set up the failover link: {0}")]
    Partner(#[from] PartnerError),
    #[error("cannot create the control socket {path}: {source}")]
    Ctl {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsError),
    #[error("cannot read the control API token {path}: {why}")]
    ControlToken { path: PathBuf, why: String },
    #[error("cannot listen for the control API on {addr}: {source}")]
    ControlListen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server loop failed: {0}")]
    Driver(#[from] DriverError),
}

/// Creates the data directory if needed and takes it for this process. Called first,
/// before the store is opened, a server DUID generated or any socket bound; keep the lock
/// alive until the server has stopped. A second server on the same directory gets an
/// error naming the first ([`lock`]).
pub fn take_data_dir(data_dir: &Path) -> Result<DataDirLock, StartupError> {
    std::fs::create_dir_all(data_dir).map_err(|e| StartupError::DataDir {
        path: data_dir.to_path_buf(),
        source: e,
    })?;
    Ok(DataDirLock::acquire(data_dir)?)
}

/// The interfaces served directly, by kernel index.
fn resolve_interfaces(names: &[String]) -> Result<BTreeMap<u32, String>, StartupError> {
    names
        .iter()
        .map(|name| {
            let idx = interface_index(name).map_err(|e| StartupError::Interface {
                name: name.clone(),
                source: e,
            })?;
            Ok((idx, name.clone()))
        })
        .collect()
}

/// The server DUID: the configured one, else the one kept in the store, else a new one
/// that is stored (and fsync'd) before any client can see it.
fn find_server_duid(
    s: &ServeSettings,
    store: &mut SqliteStore,
    now: Time,
) -> Result<Vec<u8>, StartupError> {
    if let Some(duid) = &s.server_duid {
        return Ok(duid.clone());
    }
    let err = |what| {
        move |e: StoreError| StartupError::ServerDuid {
            what,
            why: e.to_string(),
        }
    };
    if let Some(duid) = store
        .get_meta(server_duid::META_KEY)
        .map_err(err("read the server DUID from the lease database"))?
    {
        return Ok(duid);
    }
    let duid = server_duid::generate(now, &s.interfaces).map_err(|e| StartupError::ServerDuid {
        what: "generate a server DUID",
        why: e.to_string(),
    })?;
    store
        .commit(&Batch::default().put_meta(server_duid::META_KEY, duid.clone()))
        .map_err(err("store the new server DUID"))?;
    info!(duid = %Duid(duid.clone()), "generated and stored a new server DUID");
    Ok(duid)
}

/// What the program that runs the server hears of its life (the binary turns these into
/// systemd notifications); all optional, and the server does not depend on any of them.
#[derive(Default)]
pub struct Lifecycle {
    /// Called once the store is open, the lease table loaded, the DHCPv6 socket bound and
    /// the control socket listening: the server answers clients from now on.
    pub on_ready: Option<Box<dyn FnOnce() + Send>>,
    /// Called when the stop future has completed, before the last commits are flushed.
    pub on_stopping: Option<Box<dyn FnOnce() + Send>>,
    /// A liveness probe through the server loop itself (see [`Watchdog`]).
    pub watchdog: Option<Watchdog>,
}

/// Every `interval`, a probe asks the server loop for its status through the control
/// channel, and `alive` is called only if the loop answered within `interval`. A loop that
/// is stuck (blocked thread, an await that never returns) stops the calls, so a supervisor
/// that expects them (systemd's WatchdogSec) notices; a timer that merely fires would not.
pub struct Watchdog {
    pub interval: std::time::Duration,
    pub alive: Box<dyn FnMut() + Send>,
}

impl std::fmt::Debug for Lifecycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lifecycle")
            .field("on_ready", &self.on_ready.is_some())
            .field("on_stopping", &self.on_stopping.is_some())
            .field("watchdog", &self.watchdog.as_ref().map(|w| w.interval))
            .finish()
    }
}

/// The watchdog probe task (see [`Watchdog`]).
fn spawn_watchdog(
    mut w: Watchdog,
    tx: mpsc::Sender<crate::runner::CtlRequest>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(w.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let probe = async {
                let (otx, orx) = tokio::sync::oneshot::channel();
                tx.send(crate::runner::CtlRequest::Status(otx))
                    .await
                    .map_err(|_| ())?;
                orx.await.map_err(|_| ())
            };
            match tokio::time::timeout(w.interval, probe).await {
                Ok(Ok(_)) => (w.alive)(),
                Ok(Err(())) => break, // the loop has ended
                Err(_) => warn!(
                    waited_ms = w.interval.as_millis() as u64,
                    "server loop did not answer the watchdog probe in time"
                ),
            }
        }
    })
}

/// Serves until `stop` completes, then tells the partner, flushes and returns.
pub async fn serve(s: ServeSettings, stop: impl Future<Output = ()>) -> Result<(), StartupError> {
    serve_with(s, stop, Hooks::default()).await
}

/// The bearer token in `path` (surrounding whitespace dropped; empty is an error).
fn read_token(path: &Path) -> Result<String, StartupError> {
    let err = |why: String| StartupError::ControlToken {
        path: path.to_path_buf(),
        why,
    };
    let t = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let t = t.trim().to_string();
    if t.is_empty() {
        return Err(err("the file is empty".into()));
    }
    Ok(t)
}

/// As [`serve`], with the binary's reload hook and trigger.
pub async fn serve_with(
    s: ServeSettings,
    stop: impl Future<Output = ()>,
    hooks: Hooks,
) -> Result<(), StartupError> {
    // Held until this function returns, after the store is closed.
    let _lock = take_data_dir(&s.data_dir)?;
    let db = s.data_dir.join(LEASE_DB);
    let store_err = |what| {
        let path = db.clone();
        move |e| StartupError::Store {
            what,
            path,
            source: e,
        }
    };
    let mut store = SqliteStore::open(&db).map_err(store_err("cannot open lease database"))?;
    let leases = store
        .load_all()
        .map_err(store_err("cannot load leases from"))?;
    let now = system_now();
    let duid = Duid(find_server_duid(&s, &mut store, now)?);
    let node = match &s.partner {
        None => {
            info!(leases = leases.len(), database = %db.display(), server_duid = %duid, "lease database loaded");
            Node::standalone(s.core.clone(), duid, leases)
        }
        Some(p) => {
            let record = match store
                .get_meta(EndpointRecord::META_KEY)
                .map_err(store_err("cannot read the failover state from"))?
            {
                Some(bytes) => Some(EndpointRecord::decode(&bytes).map_err(|e| {
                    StartupError::DamagedRecord {
                        path: db.clone(),
                        why: e.to_string(),
                    }
                })?),
                None => None,
            };
            info!(
                leases = leases.len(),
                database = %db.display(),
                server_duid = %duid,
                role = %p.role,
                stored_state = ?record.as_ref().map(|r| r.state),
                "lease database loaded"
            );
            Node::pair_member(s.core.clone(), duid, leases, record, p.pair.clone(), now)?
        }
    };
    let links = resolve_interfaces(&s.interfaces)?;
    // DHCPv6 is served unless the configuration has DHCPv4 subnets only.
    let serve_v6 = !s.core.subnets.is_empty() || s.core.subnets4.is_empty();
    let socket = if serve_v6 {
        let socket = Dhcp6Socket::bind(&BindOptions {
            addr: s.listen_address,
            port: s.port,
            multicast_ifindexes: links.keys().copied().collect(),
        })
        .map_err(|e| StartupError::Bind {
            addr: s.listen_address,
            port: s.port,
            interfaces: s.interfaces.clone(),
            source: e,
        })?;
        info!(addr = %s.listen_address, port = s.port, interfaces = ?s.interfaces, "listening for DHCPv6");
        Some(Arc::new(socket))
    } else {
        None
    };
    // The DHCPv4 links served directly are named by their subnets; the runner tells
    // them by the arrival interface's name.
    let v4_names: Vec<String> = s
        .core
        .subnets4
        .iter()
        .filter_map(|n| n.interface.clone())
        .collect();
    let mut links = links;
    links.extend(resolve_interfaces(&v4_names)?);
    let socket4 = if s.core.subnets4.is_empty() {
        None
    } else {
        let socket = Dhcp4Socket::bind(&BindOptions4 {
            addr: s.listen_address4,
            port: s.port4,
        })
        .map_err(|e| StartupError::Bind4 {
            addr: s.listen_address4,
            port: s.port4,
            source: e,
        })?;
        info!(addr = %s.listen_address4, port = s.port4, interfaces = ?v4_names, "listening for DHCPv4");
        Some(Arc::new(socket))
    };
    // RFC 2131 §4.4.1 probes: opened now, so a server that may not send ICMP refuses to
    // start rather than offer unprobed addresses it was told to probe.
    let pinger = if s.core.subnets4.iter().any(|s| s.ping_check) {
        let socket = tandem_net::EchoSocket::open()?;
        info!(kind = ?socket.kind(), "ping_check: probing addresses before offering them");
        Some(crate::ping_link::spawn(socket))
    } else {
        None
    };
    // Bound now, so a port in use stops the start with a clear error.
    let metrics_listener = match s.metrics {
        Some(addr) => Some((addr, metrics::bind(addr)?)),
        None => None,
    };
    let counters = Arc::new(Counters::default());
    let writer =
        GroupCommitWriter::start(store).map_err(store_err("cannot start the lease writer for"))?;
    let store_stats = writer.stats().clone();
    let partner = match &s.partner {
        None => None,
        Some(p) => {
            let security = match &p.security {
                LinkSecurity::Insecure => {
                    warn!(
                        partner = %p.peer,
                        "failover link WITHOUT TLS (insecure = true): anyone on the path can \
                         read and forge lease updates; only connections from the partner's \
                         address are taken (as an ISC dhcpd partner needs: it has no TLS)"
                    );
                    Security::Plain
                }
                LinkSecurity::MutualTls {
                    cert,
                    key,
                    ca,
                    server_name,
                } => partner::load_tls(cert, key, ca, server_name)?,
            };
            let (tx, rx) = partner::spawn(
                p.pair.endpoint.protocol,
                p.role,
                p.local,
                p.peer,
                security,
                counters.clone(),
            )?;
            Some(PartnerChannels { tx, rx })
        }
    };
    let (ctl_tx, ctl_rx) = mpsc::channel(64);
    let reload = hooks.reloader.map(|r| {
        Arc::new(ReloadCtx::new(
            r,
            counters.clone(),
            s.clone(),
            hooks.log_level.clone(),
        ))
    });
    let api_state = ApiState::new(ctl_tx.clone(), counters.clone(), reload.clone());
    let ctl_path = s.data_dir.join(CTL_SOCKET);
    let watchdog = hooks
        .lifecycle
        .watchdog
        .map(|w| spawn_watchdog(w, ctl_tx.clone()));
    let metrics_task = match metrics_listener {
        Some((addr, listener)) => {
            let source = metrics::MetricsSource {
                counters: counters.clone(),
                ctl: ctl_tx.clone(),
                store: Some(store_stats),
            };
            Some(
                metrics::serve(listener, source)
                    .map_err(|source| metrics::MetricsError { addr, source })?,
            )
        }
        None => None,
    };
    let mut api_tasks =
        vec![
            api::serve_unix(&ctl_path, api_state.clone()).map_err(|e| StartupError::Ctl {
                path: ctl_path.clone(),
                source: e,
            })?,
        ];
    if let Some(addr) = s.control.listen {
        let token = s
            .control
            .token_file
            .as_deref()
            .map(read_token)
            .transpose()?;
        if token.is_none() {
            warn!(%addr, "control API on TCP without a token: every local user can control this server");
        }
        api_tasks.push(
            api::serve_tcp(addr, token, api_state)
                .await
                .map_err(|e| StartupError::ControlListen { addr, source: e })?
                .0,
        );
    }
    if let Some(mut requests) = hooks.reload_requests {
        let tx = ctl_tx.clone();
        api_tasks.push(tokio::spawn(async move {
            while requests.recv().await.is_some() {
                match &reload {
                    // Logged (outcome and every reason) by the reload itself.
                    Some(ctx) => {
                        let _ = ctx.reload(&tx, "SIGHUP").await;
                    }
                    None => warn!("SIGHUP: this server has no configuration file to reload"),
                }
            }
        }));
    }
    drop(ctl_tx);
    let driver = Driver {
        runner: Runner::new(node, links, counters, now).with_pool_watch(
            crate::pool_watch::PoolWatch::new(s.pool_thresholds, s.pool_names.clone()),
        ),
        socket,
        socket4,
        sink: StoreSink(writer),
        partner,
        ctl: Some(ctl_rx),
        clock: Box::new(system_now),
        pinger,
    };
    let on_stopping = hooks.lifecycle.on_stopping;
    // Once stopping, the loop answers no more probes while it drains; systemd stops
    // watching at STOPPING=1 too, so the probe ends rather than warn about silence.
    let watchdog_abort = watchdog.as_ref().map(|w| w.abort_handle());
    let stop = async move {
        stop.await;
        if let Some(w) = watchdog_abort {
            w.abort();
        }
        if let Some(f) = on_stopping {
            f();
        }
    };
    if let Some(f) = hooks.lifecycle.on_ready {
        f();
    }
    let stopped = driver.run(stop).await;
    if let Some(w) = watchdog {
        w.abort();
    }
    let stopped = stopped?;
    for t in api_tasks {
        t.abort();
    }
    if let Some(t) = metrics_task {
        t.abort();
    }
    let _ = std::fs::remove_file(&ctl_path);
    // Every reply that waited on a commit has gone out; now close the database cleanly.
    stopped.sink.0.shutdown();
    match stopped.runner.node().failover() {
        Some(f) => {
            let (queued, unacked) = f.unacked_updates();
            info!(
                state = %f.state(),
                updates_queued = queued,
                updates_unacked = unacked,
                "stopped; all acknowledged leases are on disk"
            );
        }
        None => info!("stopped; all acknowledged leases are on disk"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn watchdog_stays_silent_while_the_server_loop_does_not_answer() {
        let alive = Arc::new(AtomicU32::new(0));
        let count = alive.clone();
        let (tx, mut rx) = mpsc::channel(16);
        let task = spawn_watchdog(
            Watchdog {
                interval: Duration::from_secs(1),
                alive: Box::new(move || {
                    count.fetch_add(1, Ordering::SeqCst);
                }),
            },
            tx,
        );
        // A loop that takes the probes but is stuck before answering them.
        let mut held = Vec::new();
        for _ in 0..5 {
            let req = tokio::time::timeout(Duration::from_secs(3), rx.recv())
                .await
                .expect("a probe every interval")
                .unwrap();
            held.push(req);
        }
        assert_eq!(alive.load(Ordering::SeqCst), 0);
        task.abort();
    }
}
