//! The local control socket behind `tandem ctl` (a Unix stream socket, root-only).
//!
//! One request per connection: a line with a command, answered by one JSON line.
//! Commands: `status`, `partner-down`. Answers: `{"ok":true,"status":{…}}`,
//! `{"ok":true}` or `{"ok":false,"error":"…"}`. Small on purpose: a fuller API (HTTP,
//! metrics) can grow beside it without changing what operators already script.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::runner::CtlRequest;
use crate::status::Status;

/// One answer on the control socket.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CtlAnswer {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl CtlAnswer {
    fn error(e: impl Into<String>) -> Self {
        CtlAnswer {
            ok: false,
            status: None,
            error: Some(e.into()),
        }
    }
}

/// Binds the socket (replacing a stale one), makes it owner-only, and serves requests
/// until the driver goes away.
pub fn serve(
    path: &Path,
    tx: mpsc::Sender<CtlRequest>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    if path.exists() {
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    info!(socket = %path.display(), "control socket ready");
    let path: PathBuf = path.to_path_buf();
    Ok(tokio::spawn(async move {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    warn!(error = %e, socket = %path.display(), "control socket accept failed");
                    continue;
                }
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                if let Err(e) = one(stream, tx).await {
                    warn!(error = %e, "control request failed");
                }
            });
        }
    }))
}

async fn one(stream: UnixStream, tx: mpsc::Sender<CtlRequest>) -> std::io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut line = String::new();
    // A command is a short word; refuse to buffer more than a line's worth.
    let mut reader = BufReader::new(r.take(256));
    reader.read_line(&mut line).await?;
    let answer = match line.trim() {
        "status" => {
            let (otx, orx) = oneshot::channel();
            if tx.send(CtlRequest::Status(otx)).await.is_err() {
                CtlAnswer::error("server is stopping")
            } else {
                match orx.await {
                    Ok(s) => CtlAnswer {
                        ok: true,
                        status: Some(s),
                        error: None,
                    },
                    Err(_) => CtlAnswer::error("server is stopping"),
                }
            }
        }
        "partner-down" => {
            let (otx, orx) = oneshot::channel();
            if tx.send(CtlRequest::PartnerDown(otx)).await.is_err() {
                CtlAnswer::error("server is stopping")
            } else {
                match orx.await {
                    Ok(Ok(())) => CtlAnswer {
                        ok: true,
                        status: None,
                        error: None,
                    },
                    Ok(Err(e)) => CtlAnswer::error(e),
                    Err(_) => CtlAnswer::error("server is stopping"),
                }
            }
        }
        other => CtlAnswer::error(format!(
            "unknown command {other:?} (commands: status, partner-down)"
        )),
    };
    let mut text = serde_json::to_string(&answer).unwrap_or_else(|_| "{\"ok\":false}".into());
    text.push('\n');
    w.write_all(text.as_bytes()).await?;
    w.shutdown().await
}

/// Client side: sends `command`, returns the answer.
pub async fn request(path: &Path, command: &str) -> std::io::Result<CtlAnswer> {
    let mut s = UnixStream::connect(path).await?;
    s.write_all(format!("{command}\n").as_bytes()).await?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).await?;
    serde_json::from_str(&line).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}
