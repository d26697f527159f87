//! The `tandem` command's library half: configuration, logging and the `serve` wiring,
//! kept out of `main.rs` so tests can use them.

pub mod config;
pub mod ctl;
pub mod logging;
pub mod serve;
