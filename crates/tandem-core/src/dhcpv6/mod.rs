//! DHCPv6 server logic (RFC 8415), sans I/O.

mod assign;
pub mod codec;
mod messages;
pub mod policy;
pub mod server;

#[cfg(test)]
mod tests;

pub use policy::{LeasePolicy, Standalone};
pub use server::{Dhcpv6Server, DropReason, Outcome, Reply, RxInfo};
