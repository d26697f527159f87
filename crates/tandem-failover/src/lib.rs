//! tandem-failover: the RFC 8156 failover protocol as sans-I/O code.
//!
//! Kept in its own crate (ARCHITECTURE.md: tandem-core knows nothing of failover) so the lease model
//! and DHCPv6 processing compile and test independently of it; it depends on
//! `tandem-core` for the lease model and on `tandem-wire` for the messages.
//! Same rules as the core: no sockets, no files, no clock reads; `now` is an argument.
#![deny(unsafe_code)]

pub mod allocation;
pub mod binding;
pub mod endpoint;
pub mod mclt;
pub mod node;
pub mod outbox;
pub mod server;
pub mod timers;
pub mod types;
pub mod update;
pub mod wire;

#[cfg(test)]
mod test_vectors;

pub use types::{Role, ServerState};
