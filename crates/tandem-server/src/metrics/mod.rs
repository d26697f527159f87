//! The Prometheus endpoint: `GET /metrics` over HTTP (axum), OpenMetrics text
//! (docs/metrics.md lists every metric). Off unless `[metrics] listen` is set.
//!
//! A scrape never blocks the driver. It reads the shared [`Counters`] (a short mutex hold,
//! as every packet takes) and asks the driver for a [`Status`] through the control
//! channel, the request `tandem ctl status` makes. Asked per scrape rather than published
//! by the driver on a timer: the status is one pass over the lease table, which a
//! periodic snapshot would pay every period whether anyone scrapes or not (and it would add
//! a second timer to the one loop); asked for, it costs one input between two packet
//! bursts per scrape, and its values are as fresh as the scrape. The HTTP side waits for
//! the answer (bounded by [`STATUS_TIMEOUT`]), the driver never waits for the HTTP side;
//! when the answer does not come in time the scrape still carries the counters, with
//! `tandem_status_available 0`.

mod encode;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tandem_store::GroupCommitStats;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

pub use encode::{Scrape, StoreTotals};

use crate::clock::system_now;
use crate::counters::Counters;
use crate::runner::CtlRequest;
use crate::status::Status;

/// How long a scrape waits for the driver's status (Prometheus' default scrape timeout is
/// 10 s; a driver that needs more than this is itself the news).
pub const STATUS_TIMEOUT: Duration = Duration::from_secs(2);

/// The OpenMetrics text format (Prometheus asks for it in its Accept header).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen for metrics scrapes on {addr} ([metrics] listen): {source}")]
pub struct MetricsError {
    pub addr: SocketAddr,
    pub source: std::io::Error,
}

/// What a scrape reads.
#[derive(Clone)]
pub struct MetricsSource {
    pub counters: Arc<Counters>,
    /// The driver's control channel (the one the control socket uses).
    pub ctl: mpsc::Sender<CtlRequest>,
    pub store: Option<Arc<GroupCommitStats>>,
}

impl MetricsSource {
    /// One scrape's text.
    pub async fn scrape(&self) -> String {
        let status = self.status().await;
        let store = self.store.as_ref().map(|s| {
            use std::sync::atomic::Ordering::Relaxed;
            StoreTotals {
                transactions: s.groups.load(Relaxed),
                batches: s.batches.load(Relaxed),
                changes: s.changes.load(Relaxed),
            }
        });
        Scrape {
            counters: self.counters.snapshot(),
            status,
            store,
            now: system_now(),
        }
        .render()
    }

    async fn status(&self) -> Option<Status> {
        let (tx, rx) = oneshot::channel();
        // try_send: a full control queue means the driver is behind; do not queue more.
        self.ctl.try_send(CtlRequest::Status(tx)).ok()?;
        tokio::time::timeout(STATUS_TIMEOUT, rx).await.ok()?.ok()
    }
}

/// Binds the endpoint's socket (at startup, so a bad address or a port in use stops the
/// server with a clear error rather than leaving it unscrapable).
pub fn bind(addr: SocketAddr) -> Result<std::net::TcpListener, MetricsError> {
    let err = |source| MetricsError { addr, source };
    let l = std::net::TcpListener::bind(addr).map_err(err)?;
    l.set_nonblocking(true).map_err(err)?;
    Ok(l)
}

/// The HTTP routes: `/metrics`, and `/` pointing to it.
pub fn router(source: MetricsSource) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let source = source.clone();
                async move {
                    let body = source.scrape().await;
                    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response()
                }
            }),
        )
        .route(
            "/",
            get(|| async { "tandem: metrics at /metrics (docs/metrics.md)\n" }),
        )
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                "not found: the metrics are at /metrics\n",
            )
        })
}

/// Serves scrapes on `listener` until the task is aborted.
pub fn serve(
    listener: std::net::TcpListener,
    source: MetricsSource,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let addr = listener.local_addr()?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    info!(%addr, "metrics endpoint ready at /metrics");
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router(source)).await {
            warn!(error = %e, %addr, "metrics endpoint stopped");
        }
    }))
}

#[cfg(test)]
mod tests;
