//! tandem-server: the one driver around the sans-I/O core, for a server alone and for a
//! failover pair member.
//!
//! [`runner::Runner`] holds every decision of the loop (timers first at every turn, one
//! batch per turn for group commit, back-pressure, what the core's gate released); the
//! [`Driver`] carries it out on tokio with the client socket, the store writer, the partner
//! link ([`partner`]) and the control API ([`api`], on the socket of [`ctl`]); [`startup`] opens the store, locks
//! the data directory and builds the core. The simulation (`tandem-sim`) runs the same
//! runner with simulated sockets, disk and clock.
#![deny(unsafe_code)]

pub mod api;
mod clock;
mod commit;
mod counters;
pub mod ctl;
mod driver;
pub mod lease_log;
pub mod log_writer;
pub mod metrics;
pub mod partner;
pub mod ping_check;
pub mod ping_link;
pub mod pool_use;
pub mod pool_watch;
pub mod ratelimit;
pub mod runner;
pub mod server_duid;
pub mod startup;
mod status;
mod store_sink;

pub use clock::{system_now, Clock};
pub use commit::{CommitDone, CommitError, CommitSink};
pub use counters::{Counters, CountersSnapshot};
pub use driver::{Driver, DriverError, PartnerChannels, Stopped};
pub use ping_link::PingChannels;
pub use pool_use::{PoolShares, PoolUse};
pub use pool_watch::PoolThresholds;
pub use runner::{CtlRequest, Mutations, PeerCommand, PeerEvent, Runner};
pub use status::Status;
pub use store_sink::StoreSink;
