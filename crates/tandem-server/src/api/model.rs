//! The control API's JSON: lease records, requests, answers and errors (docs/control-api.md).
//! Plain data, no HTTP: the runner answers with these, the HTTP layer only encodes them.

use std::net::IpAddr;

use ipnet::Ipv6Net;
use serde::{Deserialize, Serialize};
use tandem_core::{BindingStatus, ColonHex, Duid, Lease, Resource, Time};

/// Most leases one list page returns; a larger `limit` is refused (400), not cut.
pub const MAX_PAGE: usize = 1000;
/// Page size when `limit` is not given.
pub const DEFAULT_PAGE: usize = 100;

/// An error answer: an HTTP status, one sentence, and the details (one per problem).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ApiError {
    #[serde(skip)]
    pub status: u16,
    pub error: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

impl ApiError {
    pub fn new(status: u16, error: impl Into<String>) -> Self {
        ApiError {
            status,
            error: error.into(),
            details: Vec::new(),
        }
    }
    pub fn bad_request(e: impl Into<String>) -> Self {
        Self::new(400, e)
    }
    pub fn not_found(e: impl Into<String>) -> Self {
        Self::new(404, e)
    }
    pub fn conflict(e: impl Into<String>) -> Self {
        Self::new(409, e)
    }
    pub fn unavailable(e: impl Into<String>) -> Self {
        Self::new(503, e)
    }
    pub fn with_details(mut self, details: Vec<String>) -> Self {
        self.details = details;
        self
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.error)?;
        for d in &self.details {
            write!(f, "\n  {d}")?;
        }
        Ok(())
    }
}

/// One lease as the API shows it, and as `add` and `import` take it (every field but the
/// address or prefix and the DUID optional there). Times are Unix seconds.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LeaseJson {
    /// An IPv6 address, or the IPv4 address of a DHCPv4 lease (dotted quad).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<Ipv6Net>,
    /// Colon hex, e.g. `00:03:00:01:02:00:00:00:00:01`; empty for pool records.
    #[serde(default)]
    pub duid: String,
    /// DHCPv4: the client's 'chaddr' as colon hex, and its 'htype' (RFC 2131 §2; 1 is
    /// Ethernet). Output only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hw_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub htype: Option<u8>,
    #[serde(default)]
    pub iaid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<u32>,
    /// RFC 8156 binding status name (`ACTIVE`, `EXPIRED`, `RELEASED`, `FREE` ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_lifetime: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_lifetime: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t1: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t2: Option<u32>,
    /// Client last transaction time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cltt: Option<u64>,
    /// When the current state began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_since: Option<u64>,
    /// When the current state ends; absent when it has no timeout or never ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<u64>,
    /// A pair member: the partner has not acknowledged this state yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_pending: Option<bool>,
}

impl LeaseJson {
    /// A record naming `r` and nothing else (a forgotten lease).
    pub fn of_resource(r: Resource) -> Self {
        let (address, prefix) = match r {
            Resource::Address(a) => (Some(IpAddr::V6(a)), None),
            Resource::Prefix(p) => (None, Some(p)),
            Resource::V4Address(a) => (Some(IpAddr::V4(a)), None),
        };
        LeaseJson {
            address,
            prefix,
            ..LeaseJson::default()
        }
    }

    pub fn of(l: &Lease) -> Self {
        let LeaseJson {
            address, prefix, ..
        } = Self::of_resource(l.resource);
        LeaseJson {
            address,
            prefix,
            duid: l.duid.to_string(),
            hw_address: l
                .hw_address
                .split_first()
                .map(|(_, mac)| ColonHex(mac).to_string()),
            htype: l.hw_address.first().copied(),
            iaid: l.iaid,
            subnet_id: Some(l.subnet_id),
            state: Some(l.status.name().to_string()),
            preferred_lifetime: Some(l.preferred_lifetime),
            valid_lifetime: Some(l.valid_lifetime),
            t1: Some(l.t1),
            t2: Some(l.t2),
            cltt: Some(l.cltt.as_secs()),
            state_since: Some(l.start_time_of_state.as_secs()),
            expires: l
                .state_expiration
                .filter(|t| !t.is_never())
                .map(Time::as_secs),
            update_pending: Some(l.failover.update_pending),
        }
    }

    /// The address (IPv6, or IPv4 for a DHCPv4 lease) or the prefix: exactly one must be
    /// given.
    pub fn resource(&self) -> Result<Resource, String> {
        match (self.address, self.prefix) {
            (Some(IpAddr::V6(a)), None) => Ok(Resource::Address(a)),
            (Some(IpAddr::V4(a)), None) => Ok(Resource::V4Address(a)),
            (None, Some(p)) => Ok(Resource::Prefix(p)),
            (Some(_), Some(_)) => Err("give an address or a prefix, not both".into()),
            (None, None) => Err("give an \"address\" or a \"prefix\"".into()),
        }
    }
}

/// A DUID as operators write it: `00:01:ab`, `00-01-ab` or `0001ab`; 3 to 130 bytes
/// (RFC 8415 §11: a 2-byte type and 1 to 128 bytes).
pub fn parse_duid(s: &str) -> Result<Duid, String> {
    let hex: String = s.chars().filter(|c| !matches!(c, ':' | '-')).collect();
    if hex.is_empty() || hex.len() & 1 == 1 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "DUID {s:?} is not hex bytes (e.g. 00:03:00:01:02:00:00:00:00:01)"
        ));
    }
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0))
        .collect();
    if !(3..=130).contains(&bytes.len()) {
        return Err(format!(
            "DUID {s:?} has {} bytes; a DUID has 3 to 130 (RFC 8415 §11)",
            bytes.len()
        ));
    }
    Ok(Duid(bytes))
}

/// An address or a prefix as text (`2001:db8::1`, `2001:db8:100::/56`), or the IPv4
/// address of a DHCPv4 lease (`192.0.2.10`).
pub fn parse_resource(s: &str) -> Result<Resource, String> {
    if s.contains('/') {
        let p: Ipv6Net = s
            .parse()
            .map_err(|_| format!("{s:?} is not an IPv6 prefix (e.g. 2001:db8:100::/56)"))?;
        Ok(Resource::Prefix(p))
    } else {
        match s.parse::<IpAddr>() {
            Ok(IpAddr::V6(a)) => Ok(Resource::Address(a)),
            Ok(IpAddr::V4(a)) => Ok(Resource::V4Address(a)),
            Err(_) => Err(format!("{s:?} is not an IPv6 or IPv4 address")),
        }
    }
}

/// A binding status by its RFC 8156 name, any case, `-` or `_`.
pub fn parse_state(s: &str) -> Result<BindingStatus, String> {
    let want = s.to_ascii_uppercase().replace('_', "-");
    (1..=8)
        .filter_map(BindingStatus::from_u8)
        .find(|b| b.name() == want)
        .ok_or_else(|| {
            format!(
                "unknown lease state {s:?} (one of active, expired, released, pending-free, \
                 free, free-backup, abandoned, reset)"
            )
        })
}

/// Which leases a list or an export covers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaseFilter {
    /// Leases of this subnet id.
    pub subnet: Option<u32>,
    pub state: Option<BindingStatus>,
    pub duid: Option<Duid>,
}

impl LeaseFilter {
    pub fn matches(&self, l: &Lease) -> bool {
        self.subnet.is_none_or(|s| s == l.subnet_id)
            && self.state.is_none_or(|s| s == l.status)
            && self.duid.as_ref().is_none_or(|d| *d == l.duid)
    }
}

/// A read of the lease table, answered by the driver from the core's table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseQuery {
    /// The record of one address or prefix.
    Get(Resource),
    /// Every record of one client.
    ByDuid(Duid),
    /// One page, in address order (addresses before prefixes), after the cursor.
    List {
        filter: LeaseFilter,
        after: Option<Resource>,
        limit: usize,
    },
    /// Everything (export).
    All,
}

/// What a lease query found.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct LeasePage {
    pub leases: Vec<LeaseJson>,
    /// Cursor for the next page (`after=`), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// How many records matched the filter in all (every page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched: Option<usize>,
}

/// A lease change asked of the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseEdit {
    /// Add or update leases (add: one; import: many, all or nothing).
    Upsert(Vec<LeaseJson>),
    Delete(Resource),
}

/// The answer to a lease change, sent once it is durable.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChangeAnswer {
    /// The records as stored.
    pub leases: Vec<LeaseJson>,
    /// Import: records of the file not imported (not ACTIVE, or already lapsed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<usize>,
}

/// The answer to a reload.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReloadAnswer {
    /// The file read.
    pub config: String,
    /// What changed, one line each (empty: the file says what already runs).
    pub changes: Vec<String>,
    /// Notes that did not stop the reload.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The plain `{"ok": true}` of commands with nothing else to say.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Ok {
    pub ok: bool,
}
