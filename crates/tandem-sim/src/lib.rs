//! tandem-sim: deterministic simulations of a tandem pair — two failover servers
//! (`tandem_failover::server::FailoverServer`) on in-memory stores with crash semantics,
//! an in-memory network that cuts, drops, delays and reorders, and simulated DHCPv6 clients
//! — with the pair's invariants checked throughout (see [`runner`]).
#![deny(unsafe_code)]

pub mod rng;
pub mod runner;
pub mod sim_client;
