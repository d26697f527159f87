//! The control socket: `<data_dir>/tandem.ctl`, owner only, serving the HTTP/JSON control
//! API ([`crate::api`], docs/control-api.md). `tandem ctl` is its client
//! ([`crate::api::client`]).

pub use crate::api::client::{request, Answer, ClientError};
pub use crate::api::serve_unix as serve;
