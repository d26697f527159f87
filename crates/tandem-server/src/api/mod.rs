//! The control API: HTTP/JSON on the control socket (`<data_dir>/tandem.ctl`, owner only)
//! and, when configured, on a TCP address with a bearer token. Every endpoint and its JSON
//! is in docs/control-api.md.
//!
//! The HTTP side only parses and encodes: every request becomes one
//! [`CtlRequest`] on the driver's channel and is answered from there, so the API never
//! touches the core itself, reads see one consistent lease table, and a lease change is
//! answered only once the core's gate has seen it durable (the rule a client's Reply and
//! the partner's BNDUPD follow, RFC 8156 §4.3).

pub mod client;
pub mod leases;
pub mod model;
pub mod reload;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, Query, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::counters::Counters;
use crate::runner::CtlRequest;
use model::{
    parse_duid, parse_resource, parse_state, ApiError, ChangeAnswer, LeaseEdit, LeaseFilter,
    LeaseJson, LeasePage, LeaseQuery, DEFAULT_PAGE, MAX_PAGE,
};
use reload::ReloadCtx;

/// The version prefix of every path.
pub const PREFIX: &str = "/v1";
/// Largest request body (an import of some 100 000 leases).
pub const MAX_BODY: usize = 32 << 20;

/// What every handler shares.
#[derive(Clone)]
pub struct ApiState {
    tx: mpsc::Sender<CtlRequest>,
    counters: Arc<Counters>,
    reload: Option<Arc<ReloadCtx>>,
}

impl ApiState {
    pub fn new(
        tx: mpsc::Sender<CtlRequest>,
        counters: Arc<Counters>,
        reload: Option<Arc<ReloadCtx>>,
    ) -> Self {
        ApiState {
            tx,
            counters,
            reload,
        }
    }

    fn refused(&self, e: ApiError) -> ApiError {
        if (400..500).contains(&e.status) {
            self.counters.update(|c| c.api_refused += 1);
        }
        e
    }

    /// Sends one request to the driver and waits for its answer.
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> CtlRequest,
    ) -> Result<T, ApiError> {
        let (otx, orx) = oneshot::channel();
        self.tx
            .send(make(otx))
            .await
            .map_err(|_| ApiError::unavailable("server is stopping"))?;
        orx.await
            .map_err(|_| ApiError::unavailable("server is stopping"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (code, Json(self)).into_response()
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

/// Every route; the same on the socket and on TCP.
pub fn router(state: ApiState) -> Router {
    let v1 = Router::new()
        .route("/status", get(status))
        .route("/partner-down", post(partner_down))
        .route("/reload", post(reload_config))
        .route("/leases", get(list_leases).post(add_lease))
        .route("/leases/export", get(export_leases))
        .route("/leases/import", post(import_leases))
        .route(
            "/leases/address/{addr}",
            get(get_lease).delete(delete_lease),
        )
        .route(
            "/leases/prefix/{*prefix}",
            get(get_lease).delete(delete_lease),
        )
        .route("/leases/duid/{duid}", get(leases_of_duid));
    Router::new()
        .nest(PREFIX, v1)
        .fallback(unknown_path)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

async fn unknown_path(State(s): State<ApiState>, method: Method, uri: Uri) -> ApiError {
    s.refused(ApiError::not_found(format!(
        "no such endpoint: {method} {} (endpoints: docs/control-api.md)",
        uri.path()
    )))
}

async fn wrong_method(State(s): State<ApiState>, method: Method, uri: Uri) -> ApiError {
    s.refused(ApiError::new(
        405,
        format!(
            "{} does not take {method} (see docs/control-api.md)",
            uri.path()
        ),
    ))
}

async fn status(State(s): State<ApiState>) -> ApiResult<crate::Status> {
    s.ask(CtlRequest::Status).await.map(Json)
}

async fn partner_down(State(s): State<ApiState>) -> ApiResult<model::Ok> {
    match s.ask(CtlRequest::PartnerDown).await? {
        Ok(()) => Ok(Json(model::Ok { ok: true })),
        Err(e) => Err(ApiError::conflict(e)),
    }
}

async fn reload_config(State(s): State<ApiState>) -> ApiResult<model::ReloadAnswer> {
    let Some(ctx) = &s.reload else {
        return Err(ApiError::new(
            501,
            "this server was started without a configuration file to reload",
        ));
    };
    ctx.reload(&s.tx, "control API").await.map(Json)
}

/// `GET /v1/leases` query parameters.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    pub limit: Option<usize>,
    pub after: Option<String>,
    pub subnet: Option<u32>,
    pub state: Option<String>,
    pub duid: Option<String>,
}

impl ListParams {
    /// The query the driver answers, or why the parameters are wrong.
    pub fn to_query(&self) -> Result<LeaseQuery, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_PAGE);
        if limit == 0 || limit > MAX_PAGE {
            return Err(ApiError::bad_request(format!(
                "limit={limit}: a page holds 1 to {MAX_PAGE} leases (follow \"next\" for more)"
            )));
        }
        let bad = ApiError::bad_request;
        Ok(LeaseQuery::List {
            filter: LeaseFilter {
                subnet: self.subnet,
                state: self
                    .state
                    .as_deref()
                    .map(parse_state)
                    .transpose()
                    .map_err(bad)?,
                duid: self
                    .duid
                    .as_deref()
                    .map(parse_duid)
                    .transpose()
                    .map_err(bad)?,
            },
            after: self
                .after
                .as_deref()
                .map(parse_resource)
                .transpose()
                .map_err(bad)?,
            limit,
        })
    }
}

fn query_error(e: axum::extract::rejection::QueryRejection) -> ApiError {
    ApiError::bad_request(format!(
        "bad query parameters: {} (limit, after, subnet, state, duid)",
        e.body_text()
    ))
}

async fn list_leases(
    State(s): State<ApiState>,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<LeasePage> {
    let q = params
        .map_err(query_error)
        .and_then(|Query(p)| p.to_query())
        .map_err(|e| s.refused(e))?;
    s.ask(|tx| CtlRequest::Leases(q, tx)).await?.map(Json)
}

/// The resource named by the path (`/address/X` or `/prefix/P/len`).
fn resource_of(uri: &Uri, raw: &str) -> Result<tandem_core::Resource, ApiError> {
    let is_prefix = uri.path().contains("/leases/prefix/");
    let r = parse_resource(raw.trim_start_matches('/')).map_err(ApiError::bad_request)?;
    match (is_prefix, r) {
        (false, tandem_core::Resource::Address(_) | tandem_core::Resource::V4Address(_))
        | (true, tandem_core::Resource::Prefix(_)) => Ok(r),
        (false, _) => Err(ApiError::bad_request(format!(
            "{raw:?} is a prefix: use /v1/leases/prefix/{raw}"
        ))),
        (true, _) => Err(ApiError::bad_request(format!(
            "{raw:?} is not a prefix (e.g. 2001:db8:100::/56)"
        ))),
    }
}

async fn get_lease(
    State(s): State<ApiState>,
    uri: Uri,
    UrlPath(raw): UrlPath<String>,
) -> ApiResult<LeaseJson> {
    let r = resource_of(&uri, &raw).map_err(|e| s.refused(e))?;
    let page = s
        .ask(|tx| CtlRequest::Leases(LeaseQuery::Get(r), tx))
        .await??;
    page.leases
        .into_iter()
        .next()
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no lease record for {r}")))
}

async fn leases_of_duid(
    State(s): State<ApiState>,
    UrlPath(raw): UrlPath<String>,
) -> ApiResult<LeasePage> {
    let d = parse_duid(&raw).map_err(|e| s.refused(ApiError::bad_request(e)))?;
    s.ask(|tx| CtlRequest::Leases(LeaseQuery::ByDuid(d), tx))
        .await?
        .map(Json)
}

/// A JSON body, with serde's line and column when it does not parse.
pub fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(format!(
            "{what}: the request body is empty"
        )));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("{what}: malformed JSON: {e}")))
}

async fn change(s: &ApiState, edit: LeaseEdit) -> ApiResult<ChangeAnswer> {
    let r = s.ask(|tx| CtlRequest::Change(edit, tx)).await?;
    r.map(Json).map_err(|e| s.refused(e))
}

async fn add_lease(State(s): State<ApiState>, body: Bytes) -> ApiResult<ChangeAnswer> {
    let spec: LeaseJson = parse_body(&body, "lease").map_err(|e| s.refused(e))?;
    change(&s, LeaseEdit::Upsert(vec![spec])).await
}

async fn delete_lease(
    State(s): State<ApiState>,
    uri: Uri,
    UrlPath(raw): UrlPath<String>,
) -> ApiResult<ChangeAnswer> {
    let r = resource_of(&uri, &raw).map_err(|e| s.refused(e))?;
    change(&s, LeaseEdit::Delete(r)).await
}

/// An import: the export's `{"leases": [...]}` or a bare array of leases.
async fn import_leases(State(s): State<ApiState>, body: Bytes) -> ApiResult<ChangeAnswer> {
    // Parsed as a value first, so a bad entry is reported with serde's own message.
    let v: serde_json::Value = parse_body(&body, "import").map_err(|e| s.refused(e))?;
    let leases = match v {
        serde_json::Value::Object(mut o) if o.contains_key("leases") => o.remove("leases"),
        v @ serde_json::Value::Array(_) => Some(v),
        _ => None,
    };
    let Some(serde_json::Value::Array(items)) = leases else {
        return Err(s.refused(ApiError::bad_request(
            "import: expected {\"leases\": [...]} (the JSON export) or an array of leases",
        )));
    };
    let mut specs = Vec::with_capacity(items.len());
    let mut problems = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        match serde_json::from_value::<LeaseJson>(item) {
            Ok(l) => specs.push(l),
            Err(e) => problems.push(format!("leases[{i}]: {e}")),
        }
    }
    if !problems.is_empty() {
        return Err(s.refused(
            ApiError::bad_request(format!(
                "import: {} entr{} malformed; nothing was changed",
                problems.len(),
                if problems.len() == 1 {
                    "y is"
                } else {
                    "ies are"
                }
            ))
            .with_details(problems),
        ));
    }
    if specs.is_empty() {
        return Ok(Json(ChangeAnswer::default()));
    }
    change(&s, LeaseEdit::Upsert(specs)).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportParams {
    format: Option<String>,
}

async fn export_leases(
    State(s): State<ApiState>,
    params: Result<Query<ExportParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = params
        .map_err(|e| {
            ApiError::bad_request(format!("bad query parameters: {} (format)", e.body_text()))
        })
        .map_err(|e| s.refused(e))?;
    let format = p.format.as_deref().unwrap_or("json");
    if !matches!(format, "json" | "csv") {
        return Err(s.refused(ApiError::bad_request(format!(
            "format={format}: export is json or csv"
        ))));
    }
    let page = s
        .ask(|tx| CtlRequest::Leases(LeaseQuery::All, tx))
        .await??;
    Ok(match format {
        "csv" => (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            to_csv(&page.leases),
        )
            .into_response(),
        _ => Json(page).into_response(),
    })
}

/// The CSV export: one header line, one line per record; absent values are empty.
pub fn to_csv(leases: &[LeaseJson]) -> String {
    let mut out = String::from(
        "address,prefix,duid,iaid,subnet_id,state,preferred_lifetime,valid_lifetime,t1,t2,cltt,state_since,expires\n",
    );
    fn o<T: std::fmt::Display>(v: &Option<T>) -> String {
        v.as_ref().map(ToString::to_string).unwrap_or_default()
    }
    for l in leases {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            o(&l.address),
            o(&l.prefix),
            l.duid,
            l.iaid,
            o(&l.subnet_id),
            o(&l.state),
            o(&l.preferred_lifetime),
            o(&l.valid_lifetime),
            o(&l.t1),
            o(&l.t2),
            o(&l.cltt),
            o(&l.state_since),
            o(&l.expires),
        ));
    }
    out
}

// ---------------------------------------------------------------------- listeners

/// Binds the control socket owner-only (0600) and serves the API on it. The socket is
/// bound under a temporary name, restricted, then renamed into place: a client never sees
/// it with the process umask's permissions. A stale socket is replaced (the data
/// directory lock says no other server owns it).
pub fn serve_unix(path: &Path, state: ApiState) -> std::io::Result<tokio::task::JoinHandle<()>> {
    use std::os::unix::fs::PermissionsExt;
    let tmp: PathBuf = path.with_extension(format!("ctl.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let listener = UnixListener::bind(&tmp)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&tmp, path)?;
    info!(socket = %path.display(), "control API listening (HTTP on the Unix socket, owner only)");
    let app = router(state);
    let path = path.to_path_buf();
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            warn!(error = %e, socket = %path.display(), "control API stopped");
        }
    }))
}

/// Serves the API on TCP, every request with `Authorization: Bearer <token>` when a token
/// is set (the configuration refuses a non-loopback address without one).
/// Returns the task and the address bound (for port 0).
pub async fn serve_tcp(
    addr: SocketAddr,
    token: Option<String>,
    state: ApiState,
) -> std::io::Result<(tokio::task::JoinHandle<()>, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    info!(%addr, token = token.is_some(), "control API listening on TCP");
    let token = Arc::new(token);
    let counters = state.counters.clone();
    let app = router(state).layer(middleware::from_fn(
        move |headers: HeaderMap, req: Request, next: Next| {
            let token = token.clone();
            let counters = counters.clone();
            async move {
                if let Some(t) = token.as_ref() {
                    if !bearer_matches(&headers, t) {
                        counters.update(|c| c.api_refused += 1);
                        return ApiError::new(
                            401,
                            "missing or wrong bearer token (Authorization: Bearer <token>)",
                        )
                        .into_response();
                    }
                }
                next.run(req).await
            }
        },
    ));
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            warn!(error = %e, %addr, "control API (TCP) stopped");
        }
    });
    Ok((task, addr))
}

/// `Authorization: Bearer <token>`, compared in constant time.
pub fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    let Some(got) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let (a, b) = (got.trim().as_bytes(), token.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests;
