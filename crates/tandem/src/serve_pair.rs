//! `tandem serve` with a `[failover]` section: one member of an RFC 8156 pair.

use std::future::Future;
use std::sync::Arc;

use anyhow::{bail, Context};

use crate::peer_link::{load_tls, Security};
use tandem_core::Duid;
use tandem_failover::endpoint::EndpointRecord;
use tandem_failover::server::FailoverServer;
use tandem_server::pair::PairDriver;
use tandem_server::{system_now, Counters};
use tandem_store::{GroupCommitWriter, LeaseStore, SqliteStore};
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::config::{FailoverTls, RunConfig};
use crate::serve::{bind_socket, prepare_data_dir, resolve_interfaces, server_duid};

/// Serves as a pair member until `stop` completes, then says goodbye to the partner,
/// flushes and returns.
pub async fn serve(cfg: RunConfig, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
    let Some(fo) = cfg.failover.clone() else {
        bail!("no [failover] section");
    };
    // Held until this function returns, after the store is closed.
    let (db, _lock) = prepare_data_dir(&cfg)?;
    let mut store = SqliteStore::open(&db)
        .with_context(|| format!("cannot open lease database {}", db.display()))?;
    let leases = store
        .load_all()
        .with_context(|| format!("cannot load leases from {}", db.display()))?;
    let record = match store
        .get_meta(EndpointRecord::META_KEY)
        .context("cannot read the failover state from the lease database")?
    {
        Some(bytes) => Some(EndpointRecord::decode(&bytes).with_context(|| {
            format!(
                "the failover state stored in {} is damaged; refusing to guess (it decides \
                 whether this server must recover from its partner)",
                db.display()
            )
        })?),
        None => None,
    };
    let now = system_now();
    let duid = Duid(server_duid(&cfg, &mut store, now)?);
    info!(
        leases = leases.len(),
        database = %db.display(),
        server_duid = %duid,
        role = %fo.role,
        stored_state = ?record.as_ref().map(|r| r.state),
        "lease database loaded"
    );
    let core = FailoverServer::new(
        cfg.core.clone(),
        duid,
        leases,
        record,
        fo.pair_config(),
        now,
    )
    .context("cannot set up the failover pools")?;

    let links = resolve_interfaces(&cfg)?;
    let socket = bind_socket(&cfg, &links)?;
    let writer = GroupCommitWriter::start(store).context("cannot start the lease writer")?;

    let security = match &fo.tls {
        FailoverTls::Insecure => {
            warn!(
                partner = %fo.peer,
                "failover link WITHOUT TLS (insecure = true): anyone on the path can read \
                 and forge lease updates"
            );
            Security::Plain
        }
        FailoverTls::Mutual {
            cert,
            key,
            ca,
            server_name,
        } => load_tls(cert, key, ca, server_name)
            .context("cannot set up TLS for the failover link")?,
    };
    let (peer_tx, peer_rx) = crate::peer_link::spawn(fo.role, fo.local, fo.peer, security)
        .with_context(|| format!("cannot listen for the partner on {}", fo.local))?;

    let (ctl_tx, ctl_rx) = mpsc::channel(16);
    let ctl_path = crate::ctl::socket_path(&cfg.data_dir);
    let ctl_task = tandem_server::ctl::serve(&ctl_path, ctl_tx)
        .with_context(|| format!("cannot create the control socket {}", ctl_path.display()))?;

    let driver = PairDriver {
        core,
        socket: Arc::new(socket),
        interfaces: links,
        writer,
        peer_tx,
        peer_rx,
        ctl_rx,
        clock: Box::new(system_now),
        counters: Arc::new(Counters::default()),
    };
    let core = driver.run(stop).await.context("server loop failed")?;
    ctl_task.abort();
    let _ = std::fs::remove_file(&ctl_path);
    let (queued, unacked) = core.unacked_updates();
    info!(
        state = %core.state(),
        updates_queued = queued,
        updates_unacked = unacked,
        "stopped; all acknowledged leases are on disk"
    );
    Ok(())
}
