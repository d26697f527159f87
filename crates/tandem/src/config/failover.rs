//! `[failover]`: the checks that only make sense for one half of a pair, and the settings
//! the pair runs with ([`FailoverSettings`]). The family of the subnets picks the protocol:
//! `[[subnet6]]` runs RFC 8156, `[[subnet4]]` draft-ietf-dhc-failover-12 as ISC dhcpd 4.4
//! speaks it (so either member may be a dhcpd).
//!
//! Defaults live here as constants so the example files, the checks and the tests agree.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use tandem_core::config::ServerConfig;
use tandem_failover::endpoint::{EndpointConfig, CONTACTS_PER_KEEPALIVE};
use tandem_failover::mclt::MIN_NEW_LEASE_LIFETIME;
use tandem_failover::server::PairConfig;
use tandem_failover::wire::Protocol;
use tandem_failover::Role;
use tandem_wire::dhcpfo::Hba;

use super::build::Problem;
use super::file::{ConfigFile, FailoverSection, FailoverTlsSection, RoleName};

/// RELATIONSHIP_NAME when none is configured.
pub const DEFAULT_RELATIONSHIP: &str = "tandem";
/// The failover TCP port (RFC 8156 §5.1: 647, shared with DHCPv4 failover).
pub const DEFAULT_PORT: u16 = 647;
/// MCLT when none is configured: one hour, the RFC's worked example (§4.4.1).
pub const DEFAULT_MCLT: u32 = 3600;
/// RFC 8156 §1: failover must not hand out new leases shorter than 30 s, and the first
/// lease a client gets is capped at the MCLT, so a smaller MCLT breaks every first lease.
pub const MIN_MCLT: u32 = MIN_NEW_LEASE_LIFETIME;
/// FO_KEEPALIVE_TIME default (§6.5).
pub const DEFAULT_KEEPALIVE: u32 = 60;
/// The partner sends CONTACT every keepalive / 4 seconds (§6.5); below 4 that is 0 s.
pub const MIN_KEEPALIVE: u32 = CONTACTS_PER_KEEPALIVE;
pub const DEFAULT_MAX_UNACKED_BNDUPD: u32 = 100;
pub const DEFAULT_STARTUP: u32 = 10;
pub const DEFAULT_SECONDARY_PREFIX_SHARE: u8 = 50;
pub const DEFAULT_REBALANCE_THRESHOLD: u64 = 16;
/// dhcpd's `split` when the primary gives none: half the hash buckets each (RFC 3074 §5).
pub const DEFAULT_SPLIT: u16 = 128;
/// `split` covers the 256 hash buckets of RFC 3074.
pub const MAX_SPLIT: u16 = 256;

/// How the partner link is protected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailoverTls {
    /// Mutually authenticated TLS (RFC 8156 §6.1); paths already resolved against the
    /// configuration file's directory.
    Mutual {
        cert: PathBuf,
        key: PathBuf,
        ca: PathBuf,
        /// The name the partner's certificate must carry.
        server_name: String,
    },
    /// `insecure = true`: plain TCP, neither encrypted nor authenticated. Log a warning.
    Insecure,
}

/// A checked `[failover]` section: everything the failover link and core need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverSettings {
    /// RFC 8156 for a DHCPv6 pair, draft-12 for a DHCPv4 one.
    pub protocol: Protocol,
    pub role: Role,
    pub relationship: String,
    /// The partner: where we connect (an RFC 8156 primary; both members of a draft-12
    /// pair, as dhcpd does), and the only address we accept a connection from.
    pub peer: SocketAddr,
    /// Our end of the link: the secondary listens on it; the primary binds its
    /// outgoing socket to `local.ip()` (port 0) so the secondary sees the expected
    /// source address. `local.port()` is the failover port.
    pub local: SocketAddr,
    /// As configured; a secondary adopts the primary's at connect time (§6.1.2).
    pub mclt: u32,
    /// Seconds in COMMUNICATIONS-INTERRUPTED before PARTNER-DOWN on our own; None = off.
    pub auto_partner_down: Option<u32>,
    pub keepalive: u32,
    pub max_unacked_bndupd: u32,
    pub startup: u32,
    /// Used by the primary only (it decides the split, §4.2.2).
    pub secondary_prefix_share: u8,
    /// Used by the primary only.
    pub rebalance_threshold: u64,
    /// draft-12 primary: the hash bucket assignment it sends in CONNECT (RFC 3074).
    pub hba: Option<Hba>,
    pub tls: FailoverTls,
}

impl FailoverSettings {
    /// What `tandem_failover::server::FailoverServer::new` takes.
    pub fn pair_config(&self) -> PairConfig {
        let mut endpoint = EndpointConfig::new(self.role, &self.relationship, self.mclt);
        endpoint.local.keepalive = self.keepalive;
        endpoint.local.max_unacked = self.max_unacked_bndupd;
        endpoint.auto_partner_down = self.auto_partner_down;
        endpoint.startup_secs = self.startup;
        endpoint.protocol = self.protocol;
        endpoint.local.hba = self.hba;
        PairConfig {
            endpoint,
            secondary_prefix_share: self.secondary_prefix_share,
            rebalance_threshold: self.rebalance_threshold,
        }
    }

    /// True when the link runs without TLS (`insecure = true`): log a warning at startup.
    pub fn is_insecure(&self) -> bool {
        self.tls == FailoverTls::Insecure
    }
}

impl From<RoleName> for Role {
    fn from(r: RoleName) -> Role {
        match r {
            RoleName::Primary => Role::Primary,
            RoleName::Secondary => Role::Secondary,
        }
    }
}

/// `server_name` when none is configured: the partner's role, e.g. "tandem-secondary".
pub fn default_server_name(role: Role) -> String {
    format!("tandem-{}", role.partner())
}

/// Our end of the link: as configured, else the unspecified address of the peer's family.
fn local_ip(f: &FailoverSection) -> IpAddr {
    f.listen_address.unwrap_or(match f.peer_address {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    })
}

fn resolve(base_dir: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base_dir.join(p)
    }
}

/// The protocol the pair speaks: draft-12 for DHCPv4 subnets (a configuration with both
/// families and `[failover]` is refused by [`check`]).
pub fn protocol(file: &ConfigFile) -> Protocol {
    if file.subnet4.is_empty() {
        Protocol::Rfc8156
    } else {
        Protocol::Draft12
    }
}

/// Builds the settings; call only once [`check`] found no problem.
pub(super) fn settings(
    file: &ConfigFile,
    f: &FailoverSection,
    base_dir: &Path,
) -> FailoverSettings {
    let role = Role::from(f.role);
    let protocol = protocol(file);
    let port = f.port.unwrap_or(DEFAULT_PORT);
    let hba = (protocol == Protocol::Draft12 && role == Role::Primary).then(|| {
        f.hba
            .as_deref()
            .and_then(Hba::from_slice)
            .unwrap_or_else(|| Hba::split(f.split.unwrap_or(DEFAULT_SPLIT)))
    });
    let tls_section = f.tls.clone().unwrap_or_default();
    let tls = if tls_section.insecure {
        FailoverTls::Insecure
    } else {
        let path = |p: &Option<PathBuf>| resolve(base_dir, p.as_deref().unwrap_or(Path::new("")));
        FailoverTls::Mutual {
            cert: path(&tls_section.cert),
            key: path(&tls_section.key),
            ca: path(&tls_section.ca),
            server_name: tls_section
                .server_name
                .clone()
                .unwrap_or_else(|| default_server_name(role)),
        }
    };
    FailoverSettings {
        protocol,
        role,
        relationship: f
            .relationship
            .clone()
            .unwrap_or_else(|| DEFAULT_RELATIONSHIP.to_string()),
        peer: SocketAddr::new(f.peer_address, f.peer_port.unwrap_or(port)),
        local: SocketAddr::new(local_ip(f), port),
        mclt: f.mclt.unwrap_or(DEFAULT_MCLT),
        auto_partner_down: f.auto_partner_down.filter(|&s| s > 0),
        keepalive: f.keepalive.unwrap_or(DEFAULT_KEEPALIVE),
        max_unacked_bndupd: f.max_unacked_bndupd.unwrap_or(DEFAULT_MAX_UNACKED_BNDUPD),
        startup: f.startup.unwrap_or(DEFAULT_STARTUP),
        secondary_prefix_share: f
            .secondary_prefix_share
            .unwrap_or(DEFAULT_SECONDARY_PREFIX_SHARE),
        rebalance_threshold: f.rebalance_threshold.unwrap_or(DEFAULT_REBALANCE_THRESHOLD),
        hba,
        tls,
    }
}

/// Every check of `[failover]` and of what failover asks of the pools. Errors go to
/// `problems`, notes that do not stop the server to `warnings`.
pub(super) fn check(
    file: &ConfigFile,
    core: &ServerConfig,
    base_dir: &Path,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) {
    let Some(f) = &file.failover else {
        return;
    };
    check_numbers(f, problems);
    check_protocol(file, f, problems, warnings);
    check_addresses(file, f, problems);
    check_tls(f, base_dir, problems);
    check_pools(file, core, problems);
    notes(file, f, warnings);
}

fn check_numbers(f: &FailoverSection, problems: &mut Vec<Problem>) {
    let mut push =
        |key: &str, msg: String| problems.push(Problem::new(format!("failover.{key}"), msg));
    if let Some(name) = &f.relationship {
        if name.is_empty() {
            push("relationship", "must not be empty: it is sent as RELATIONSHIP_NAME and both servers must use the same name (RFC 8156 §6.2); omit the key for the default \"tandem\"".into());
        } else if name.chars().any(char::is_control) {
            push(
                "relationship",
                format!("{name:?} contains control characters"),
            );
        }
    }
    if f.port == Some(0) {
        push("port", "port 0 is not a port the partner can reach".into());
    }
    if let Some(mclt) = f.mclt {
        if mclt < MIN_MCLT {
            push("mclt", format!("MCLT {mclt} s is below the {MIN_MCLT} s minimum: a client's first lease is capped at the MCLT, and RFC 8156 §1 forbids failover leases shorter than 30 s"));
        }
    }
    if let Some(k) = f.keepalive {
        if k < MIN_KEEPALIVE {
            push("keepalive", format!("keepalive {k} s is below {MIN_KEEPALIVE} s: the partner sends CONTACT every keepalive / {CONTACTS_PER_KEEPALIVE} seconds (RFC 8156 §6.5)"));
        }
    }
    if f.max_unacked_bndupd == Some(0) {
        push("max_unacked_bndupd", "must be at least 1: with 0 the partner could never send a binding update (RFC 8156 §6.1.1)".into());
    }
    if let Some(share) = f.secondary_prefix_share {
        if share > 100 {
            push(
                "secondary_prefix_share",
                format!("{share} is a percentage: 0 to 100"),
            );
        }
    }
}

/// One pair speaks one protocol: RFC 8156 (DHCPv6) or draft-12 (DHCPv4, ISC dhcpd's); the
/// keys of the other one are mistakes.
fn check_protocol(
    file: &ConfigFile,
    f: &FailoverSection,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) {
    if !file.subnet4.is_empty() && !file.subnet6.is_empty() {
        problems.push(Problem::new(
            "failover",
            "a pair serves one family: DHCPv6 with [[subnet6]] (RFC 8156) or DHCPv4 with \
             [[subnet4]] (draft-ietf-dhc-failover-12, ISC dhcpd's protocol); two servers each \
             serving the other family alone would give one address to two clients, so run \
             it on a server without [failover]",
        ));
        return;
    }
    let v4 = protocol(file) == Protocol::Draft12;
    let mut push =
        |key: &str, msg: String| problems.push(Problem::new(format!("failover.{key}"), msg));
    if !v4 {
        for (key, set) in [
            ("peer_port", f.peer_port.is_some()),
            ("split", f.split.is_some()),
            ("hba", f.hba.is_some()),
        ] {
            if set {
                push(key, "only for a DHCPv4 pair ([[subnet4]], ISC dhcpd's protocol): an RFC 8156 pair uses one port and splits addresses by their lowest bit (§4.2.1.1)".into());
            }
        }
        return;
    }
    if f.peer_port == Some(0) {
        push(
            "peer_port",
            "port 0 is not a port the partner listens on".into(),
        );
    }
    if f.split.is_some() && f.hba.is_some() {
        push(
            "split",
            "give split or hba, not both: each sets the whole hash bucket assignment (RFC 3074 §5)"
                .into(),
        );
    }
    if let Some(n) = f.split.filter(|&n| n > MAX_SPLIT) {
        push("split", format!("{n} is above {MAX_SPLIT}: split counts the RFC 3074 hash buckets the primary answers, 0 to {MAX_SPLIT}"));
    }
    if let Some(h) = f.hba.as_ref().filter(|h| h.len() != 32) {
        push("hba", format!("{} bytes; the hash bucket assignment is exactly 32 bytes, one bit per RFC 3074 bucket (ISC dhcpd refuses any other length with reject reason 18)", h.len()));
    }
    let mut note =
        |key: &str, msg: &str| warnings.push(Problem::new(format!("failover.{key}"), msg));
    if f.role == RoleName::Secondary {
        for (key, set) in [("split", f.split.is_some()), ("hba", f.hba.is_some())] {
            if set {
                note(key, "only the primary's is used: the secondary adopts the hash bucket assignment the primary sends in CONNECT (draft-ietf-dhc-failover-12 §7.8)");
            }
        }
    }
    for (key, set) in [
        ("secondary_prefix_share", f.secondary_prefix_share.is_some()),
        ("rebalance_threshold", f.rebalance_threshold.is_some()),
    ] {
        if set {
            note(key, "applies to DHCPv6 prefix pools only: a DHCPv4 pair shares each pool as FREE and BACKUP addresses, balanced as ISC dhcpd does");
        }
    }
}

fn check_addresses(file: &ConfigFile, f: &FailoverSection, problems: &mut Vec<Problem>) {
    let peer = f.peer_address;
    let mut push =
        |key: &str, msg: String| problems.push(Problem::new(format!("failover.{key}"), msg));
    if peer.is_unspecified() || peer.is_multicast() {
        push(
            "peer_address",
            format!("{peer} is not the address of one server: give the partner's unicast address"),
        );
    }
    if let IpAddr::V6(v6) = peer {
        if v6.is_unicast_link_local() {
            push("peer_address", format!("{peer} is link-local, which needs an interface scope that tandem cannot take here: use a global or unique-local address of the partner"));
        }
    }
    if let Some(local) = f.listen_address {
        if local.is_ipv4() != peer.is_ipv4() {
            push("listen_address", format!("{local} and peer_address {peer} are of different address families; use {} or omit listen_address", if peer.is_ipv4() { "0.0.0.0" } else { "::" }));
        }
        if local.is_multicast() {
            push("listen_address", format!("{local} is a multicast address"));
        }
    }
    // Both servers on one host (a loopback test) legitimately share the address.
    if !peer.is_loopback() && !peer.is_unspecified() {
        if f.listen_address == Some(peer) {
            push("peer_address", format!("{peer} is our own failover.listen_address: peer_address is the partner's address, not ours"));
        }
        for (key, server_listen) in [
            ("listen_address", IpAddr::V6(file.server.listen_address)),
            ("listen_address4", IpAddr::V4(file.server.listen_address4)),
        ] {
            if !server_listen.is_unspecified() && server_listen == peer {
                push("peer_address", format!("{peer} is our own server.{key}: peer_address is the partner's address, not ours"));
            }
        }
    }
}

fn check_tls(f: &FailoverSection, base_dir: &Path, problems: &mut Vec<Problem>) {
    let Some(tls) = &f.tls else {
        problems.push(Problem::new(
            "failover.tls",
            "missing [failover.tls]: give cert, key and ca for mutual TLS with the partner, or insecure = true to run the link unprotected (RFC 8156 §10)",
        ));
        return;
    };
    let FailoverTlsSection {
        cert,
        key,
        ca,
        server_name,
        insecure,
    } = tls;
    let files = [("cert", cert), ("key", key), ("ca", ca)];
    if *insecure {
        for (name, value) in files {
            if value.is_some() {
                problems.push(Problem::new(
                    format!("failover.tls.{name}"),
                    format!("insecure = true runs the link without TLS, so {name} would be ignored: remove it, or remove insecure"),
                ));
            }
        }
        if server_name.is_some() {
            problems.push(Problem::new(
                "failover.tls.server_name",
                "insecure = true runs the link without TLS, so server_name would be ignored: remove it, or remove insecure",
            ));
        }
        return;
    }
    for (name, value) in files {
        let at = format!("failover.tls.{name}");
        match value {
            None => problems.push(Problem::new(
                at,
                "missing: TLS needs cert, key and ca (or set insecure = true to run without TLS)",
            )),
            Some(p) => {
                if let Err(why) = readable_file(&resolve(base_dir, p)) {
                    problems.push(Problem::new(at, why));
                }
            }
        }
    }
    if let Some(name) = server_name {
        if let Err(why) = check_server_name(name) {
            problems.push(Problem::new("failover.tls.server_name", why));
        }
    }
}

/// The file exists, is a regular file and can be opened; its content is the TLS
/// layer's business.
fn readable_file(path: &Path) -> Result<(), String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{shown} is not a file"));
    }
    std::fs::File::open(path).map_err(|e| format!("cannot open {shown}: {e}"))?;
    Ok(())
}

/// A name a certificate can carry: an IP address or a DNS name (RFC 1123 labels; `_` is
/// tolerated as TLS libraries do).
fn check_server_name(name: &str) -> Result<(), String> {
    if name.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed.is_empty() || trimmed.len() > 253 || !trimmed.split('.').all(label_ok) {
        return Err(format!(
            "{name:?} is not a DNS name or IP address that a certificate could carry"
        ));
    }
    Ok(())
}

/// What failover asks of the pools and lifetimes.
fn check_pools(file: &ConfigFile, core: &ServerConfig, problems: &mut Vec<Problem>) {
    for (i, subnet) in file.subnet4.iter().enumerate() {
        if subnet.lease_time < MIN_NEW_LEASE_LIFETIME {
            problems.push(Problem::new(
                format!("subnet4[{i}].lease_time"),
                format!("{} s is below 30 s: a failover pair caps a client's first lease at the MCLT and never grants less than 30 s", subnet.lease_time),
            ));
        }
    }
    for (i, (subnet, cs)) in file.subnet6.iter().zip(&core.subnets).enumerate() {
        let at = format!("subnet6[{i}]");
        if subnet.valid_lifetime < MIN_NEW_LEASE_LIFETIME {
            problems.push(Problem::new(
                format!("{at}.valid_lifetime"),
                format!("{} s is below 30 s: RFC 8156 §1 forbids failover leases shorter than 30 seconds", subnet.valid_lifetime),
            ));
        }
        for (j, (pool, cp)) in subnet.pools.iter().zip(&cs.pools).enumerate() {
            let well_formed = matches!(
                (pool.first, pool.last, pool.prefix),
                (Some(_), Some(_), None) | (None, None, Some(_))
            );
            // A malformed or reversed pool is already reported by the general checks.
            if !well_formed || cp.first > cp.last {
                continue;
            }
            let size = u128::from(cp.last) - u128::from(cp.first) + 1;
            if size < 2 {
                problems.push(Problem::new(
                    format!("{at}.pools[{j}]"),
                    format!("holds {size} address; a failover pair splits each address pool by the lowest bit (RFC 8156 §4.2.1.1: odd addresses to the primary, even ones to the secondary), so a pool needs at least 2 addresses for both servers to have one"),
                ));
            }
        }
        for (j, pd) in cs.pd_pools.iter().enumerate() {
            let pool_len = pd.prefix.prefix_len();
            if pd.delegated_len < pool_len || pd.delegated_len > 128 {
                continue; // reported by the general checks
            }
            let bits = pd.delegated_len - pool_len;
            if bits == 0 {
                problems.push(Problem::new(
                    format!("{at}.pd_pools[{j}]"),
                    format!("holds a single /{} prefix; a failover pair shares each prefix pool between primary and secondary (RFC 8156 §4.2.2), so it needs at least 2 delegated prefixes: make delegated_len longer than the pool's /{pool_len}", pd.delegated_len),
                ));
            } else if bits > 62 {
                problems.push(Problem::new(
                    format!("{at}.pd_pools[{j}].delegated_len"),
                    format!("a /{pool_len} cut into /{} is 2^{bits} prefixes; the failover prefix split tracks at most 2^62 per pool: use a longer pool prefix or a shorter delegated_len", pd.delegated_len),
                ));
            }
        }
    }
}

/// Things that work but are probably not what the operator meant.
fn notes(file: &ConfigFile, f: &FailoverSection, warnings: &mut Vec<Problem>) {
    let has_prefix_pools = file.subnet6.iter().any(|s| !s.pd_pools.is_empty());
    if f.role == RoleName::Secondary {
        if let Some(mclt) = f.mclt.filter(|&m| m != DEFAULT_MCLT) {
            warnings.push(Problem::new(
                "failover.mclt",
                format!("a secondary adopts the primary's MCLT when it connects (RFC 8156 §6.1.2); {mclt} s applies only until the first connection, so set it on the primary"),
            ));
        }
        for (key, set) in [
            ("secondary_prefix_share", f.secondary_prefix_share.is_some()),
            ("rebalance_threshold", f.rebalance_threshold.is_some()),
        ] {
            if set {
                warnings.push(Problem::new(
                    format!("failover.{key}"),
                    "only the primary's value is used: the primary decides how prefix pools are split (RFC 8156 §4.2.2)",
                ));
            }
        }
    }
    if has_prefix_pools {
        match f.secondary_prefix_share {
            Some(0) => warnings.push(Problem::new(
                "failover.secondary_prefix_share",
                "0%: the secondary never holds free prefixes, so while COMMUNICATIONS-INTERRUPTED it cannot delegate a new prefix (RFC 8156 §4.2.2)",
            )),
            Some(100) => warnings.push(Problem::new(
                "failover.secondary_prefix_share",
                "100%: the primary gives every free prefix away, so while COMMUNICATIONS-INTERRUPTED it cannot delegate a new prefix (RFC 8156 §4.2.2)",
            )),
            _ => {}
        }
    }
    if f.tls.as_ref().is_some_and(|t| t.insecure) {
        let msg = if file.subnet4.is_empty() {
            "the partner link runs without TLS: lease updates are neither encrypted nor authenticated (RFC 8156 §10); use only on a trusted, isolated link"
        } else {
            "the partner link runs without TLS, as ISC dhcpd's must (dhcpd has neither TLS nor message digests): lease updates are neither encrypted nor authenticated and only the peer address is checked; use a dedicated, isolated link, or TLS between two tandems"
        };
        warnings.push(Problem::new("failover.tls.insecure", msg));
    }
}
