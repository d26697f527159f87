//! The `tandem` command's library half: configuration, logging and the `serve` wiring,
//! kept out of `main.rs` so tests can use them.

pub mod config;
pub mod ctl;
pub mod leases_cmd;
pub mod logging;
pub mod man;
pub mod migrate;
pub mod notify;
pub mod serve;
