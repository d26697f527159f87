//! DHCPv6 server logic (RFC 8415), sans I/O.

pub mod codec;
pub mod policy;
pub mod server;
mod assign;
mod messages;

#[cfg(test)]
mod tests;

pub use policy::{LeasePolicy, Standalone};
pub use server::{Dhcpv6Server, DropReason, Outcome, Reply, RxInfo};
