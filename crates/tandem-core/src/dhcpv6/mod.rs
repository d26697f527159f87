//! DHCPv6 server logic (RFC 8415), sans I/O, over `tandem_wire::v6`'s decoded messages.

mod assign;
mod inbound;
mod messages;
mod outcome;
pub mod policy;
pub mod server;

#[cfg(test)]
mod tests;

pub use outcome::{DropReason, Malformed, Outcome, Reply, RxInfo};
pub use policy::{LeasePolicy, Standalone};
pub use server::DhcpServer;
