//! Who may allocate which resource: the parity split for addresses (§4.2.1), the
//! proportional split of delegable prefixes (§4.2.2) and PARTNER-DOWN reuse delays (§8.4.1).

pub mod backup_pool;
pub mod independent;
pub mod partner_down;
pub mod proportional;

pub use independent::AddressFilter;
pub use partner_down::{partner_pool_usable_at, pending_free_at, reuse_at};
pub use proportional::{PrefixPool, RebalancePlan};
