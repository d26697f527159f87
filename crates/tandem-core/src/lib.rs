//! tandem-core: everything tandem decides, as pure code.
//!
//! No sockets, no files, no tokio, no clock reads: time is always an argument
//! ([`time::Time`]). The driver in `tandem-server` feeds inputs and drains outputs.
#![deny(unsafe_code)]

pub mod alloc;
pub mod config;
pub mod config4;
pub mod dhcpv4;
pub mod dhcpv6;
pub mod lease;
pub mod table;
pub mod time;

pub use config::{
    AddressPool, AddressPool4, ConfigProblem, OptionSet, PdPool, Reservation, ServerConfig, Subnet,
};
pub use config4::{OptionSet4, Reservation4, Subnet4};
pub use dhcpv4::RxInfo4;
pub use dhcpv6::{
    DhcpServer, DropReason, LeasePolicy, Malformed, Outcome, Reply, RxInfo, Standalone,
};
pub use lease::{
    BindingStatus, ColonHex, Duid, FailoverFields, IaType, Lease, LeaseChange, Resource,
};
pub use table::LeaseTable;
pub use time::{Time, INFINITE_LIFETIME};
