//! tandem-server: the tokio driver around the sans-I/O core.
//!
//! One task owns the core (it is never shared or locked) and the socket loop:
//! datagram in → [`Engine::handle`] → reply out, except that a reply whose
//! transaction changed leases waits until those changes are durable: they go to
//! a [`CommitSink`] (the store's group-commit writer), and the reply is sent
//! when the sink's `done` callback reports success. Many transactions can wait
//! on the same fsync; that is what makes group commit fast. A failed commit
//! drops the reply (the client retries), never acknowledges an unstored lease.
#![deny(unsafe_code)]

mod clock;
mod commit;
mod counters;
pub mod ctl;
mod dhcp_engine;
mod driver;
mod engine;
pub mod pair;
pub mod server_duid;
mod store_sink;

pub use clock::{system_now, Clock};
pub use commit::{CommitAllDone, CommitDone, CommitError, CommitSink};
pub use counters::{Counters, CountersSnapshot};
pub use dhcp_engine::DhcpEngine;
pub use driver::{Driver, DriverError, Stopped};
pub use engine::{Engine, Handled};
pub use store_sink::StoreSink;
