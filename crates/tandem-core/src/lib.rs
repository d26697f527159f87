//! tandem-core: everything tandem decides, as pure code.
//!
//! No sockets, no files, no tokio, no clock reads: time is always an argument
//! ([`time::Time`]). The driver in `tandem-server` feeds inputs and drains outputs.
#![deny(unsafe_code)]

pub mod lease;
pub mod time;

pub use lease::{BindingStatus, Duid, FailoverFields, IaType, Lease, LeaseChange, Resource};
pub use time::Time;
