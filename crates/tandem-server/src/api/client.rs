//! The client side of the control API over the Unix socket (`tandem ctl`): one HTTP/1.1
//! request per connection, with hyper.

use std::path::Path;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;

/// Why a request got no HTTP answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "no control socket at {0} (is the server running, with this data_dir? it creates \
         the socket when it starts)"
    )]
    NoSocket(String),
    #[error("permission denied on {0} (the control socket is owner-only: run as the server's user or root)")]
    Permission(String),
    #[error("the server is not running (nothing listens on {0}; a stale socket)")]
    Refused(String),
    #[error("cannot reach the server at {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("the server's answer was cut off: {0}")]
    Http(String),
}

/// An HTTP answer: status and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// Sends `method path` with an optional JSON body to the socket at `socket`.
pub async fn request(
    socket: &Path,
    method: &str,
    path: &str,
    body: Option<Vec<u8>>,
) -> Result<Answer, ClientError> {
    let shown = socket.display().to_string();
    let stream = UnixStream::connect(socket)
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ClientError::NoSocket(shown.clone()),
            std::io::ErrorKind::PermissionDenied => ClientError::Permission(shown.clone()),
            std::io::ErrorKind::ConnectionRefused => ClientError::Refused(shown.clone()),
            _ => ClientError::Io {
                path: shown.clone(),
                source: e,
            },
        })?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| ClientError::Http(e.to_string()))?;
    let driver = tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, "tandem");
    if body.is_some() {
        req = req.header(hyper::header::CONTENT_TYPE, "application/json");
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .map_err(|e| ClientError::Http(e.to_string()))?;
    let res = sender
        .send_request(req)
        .await
        .map_err(|e| ClientError::Http(e.to_string()))?;
    let status = res.status().as_u16();
    let content_type = res
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = res
        .into_body()
        .collect()
        .await
        .map_err(|e| ClientError::Http(e.to_string()))?
        .to_bytes()
        .to_vec();
    driver.abort();
    Ok(Answer {
        status,
        content_type,
        body,
    })
}
