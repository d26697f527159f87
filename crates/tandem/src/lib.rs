//! The `tandem` command's library half: configuration, logging and the `serve` wiring,
//! kept out of `main.rs` so tests can use them.

pub mod config;
pub mod ctl;
pub mod data_dir;
pub mod logging;
pub mod peer_link;
pub mod serve;
pub mod serve_pair;
