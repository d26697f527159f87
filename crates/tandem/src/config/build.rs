//! Stage 2: from the parsed file to what `serve` runs with, listing every problem.

use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use ipnet::Ipv6Net;
use tandem_core::config::{AddressPool, OptionSet, PdPool, Reservation, ServerConfig, Subnet};
use tandem_core::Duid;

use super::build4;
use super::failover::{self, FailoverSettings};
use super::file::{
    ConfigFile, CustomOption, OptionsSection, PoolEntry, ReservationEntry, Subnet6Section,
};

/// OPTION_SNTP_SERVERS (RFC 4075); the core carries it as a raw option.
const OPTION_SNTP_SERVERS: u16 = 31;

/// One thing wrong with the configuration, at `path` (e.g. `subnet6[1].pools[0]`).
/// Also used for warnings ([`RunConfig::warnings`]) and pair mismatches (`check_pair`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
    /// Line in the file, filled in by the loader when the path is found there.
    pub line: Option<usize>,
    /// The file it is in, when that is not implied (set by `check_pair`, which looks at two).
    pub file: Option<String>,
}

impl Problem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            path: path.into(),
            message: message.into(),
            line: None,
            file: None,
        }
    }
}

/// `file:line: path: message`, leaving out what is unknown.
impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{file}:{line}: ")?,
            (Some(file), None) => write!(f, "{file}: ")?,
            (None, Some(line)) => write!(f, "line {line}: ")?,
            (None, None) => {}
        }
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A checked configuration, ready to serve.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Interfaces served directly (multicast joined on each).
    pub interfaces: Vec<String>,
    pub port: u16,
    pub listen_address: Ipv6Addr,
    /// UDP port for DHCPv4 (`server.port4`, default 67).
    pub port4: u16,
    /// Local address for DHCPv4 (`server.listen_address4`, default 0.0.0.0).
    pub listen_address4: Ipv4Addr,
    /// Absolute or relative to the working directory (resolved against the config file).
    pub data_dir: PathBuf,
    pub server_duid: Option<Vec<u8>>,
    pub log_level: String,
    pub log_format: crate::logging::LogFormat,
    pub log_target: crate::logging::LogTarget,
    /// Pool-use warning thresholds (`pool_warn_percent`, `pool_critical_percent`).
    pub pool_thresholds: tandem_server::PoolThresholds,
    /// The file as parsed, for summaries.
    pub file: ConfigFile,
    /// What the core serves (DHCPv6 `subnets`, DHCPv4 `subnets4`), already validated.
    pub core: ServerConfig,
    /// `[failover]`, checked; None runs a single server.
    pub failover: Option<FailoverSettings>,
    /// `[control]`, checked (paths resolved against the file's directory).
    pub control: tandem_server::startup::ControlSettings,
    /// `[metrics] listen`: where the Prometheus endpoint is served; None: off.
    pub metrics: Option<std::net::SocketAddr>,
    /// Notes that do not stop the server (with lines when loaded from text): print them
    /// in `check-config` and log them at startup.
    pub warnings: Vec<Problem>,
    /// Name of the file in messages (set by `load`/`load_str`).
    pub origin: String,
    /// The file's text, to find lines for problems found later (`check_pair`).
    pub(super) source: String,
}

impl RunConfig {
    /// What `tandem_failover::server::FailoverServer::new` takes; None without `[failover]`.
    pub fn pair_config(&self) -> Option<tandem_failover::server::PairConfig> {
        self.failover.as_ref().map(FailoverSettings::pair_config)
    }

    /// Pool names by (subnet id, the pool as `tandem_server::PoolUse::pool` shows it):
    /// only the pools given a `name`, so logs show it instead of the range.
    pub fn pool_names(&self) -> std::collections::HashMap<(u32, String), String> {
        let mut out = std::collections::HashMap::new();
        for (fs, cs) in self.file.subnet6.iter().zip(&self.core.subnets) {
            for (fp, cp) in fs.pools.iter().zip(&cs.pools) {
                if let Some(n) = &fp.name {
                    out.insert((cs.id, format!("{}-{}", cp.first, cp.last)), n.clone());
                }
            }
            for (fp, cp) in fs.pd_pools.iter().zip(&cs.pd_pools) {
                if let Some(n) = &fp.name {
                    out.insert(
                        (cs.id, format!("{} /{}", cp.prefix, cp.delegated_len)),
                        n.clone(),
                    );
                }
            }
        }
        // DHCPv4 pools the same way; ids are unique across both families.
        for (fs, cs) in self.file.subnet4.iter().zip(&self.core.subnets4) {
            for (fp, cp) in fs.pools.iter().zip(&cs.pools) {
                if let Some(n) = &fp.name {
                    out.insert((cs.id, format!("{}-{}", cp.first, cp.last)), n.clone());
                }
            }
        }
        out
    }

    /// The one-line summary `check-config` prints. With DHCPv4 subnets each family gets
    /// its own part (`DHCPv6: ...; DHCPv4: ...`); without, it is the DHCPv6 part alone.
    pub fn summary(&self) -> String {
        let pair = match &self.failover {
            Some(f) => format!(
                ", failover {} of {:?} with {}{}",
                f.role,
                f.relationship,
                f.peer,
                if f.is_insecure() { " (no TLS)" } else { "" }
            ),
            None => String::new(),
        };
        let subnets = self.file.subnet6.len();
        let pools: usize = self.file.subnet6.iter().map(|s| s.pools.len()).sum();
        let pd_pools: usize = self.file.subnet6.iter().map(|s| s.pd_pools.len()).sum();
        let reservations: usize = self.file.subnet6.iter().map(|s| s.reservations.len()).sum();
        let v6 = format!(
            "{subnets} subnet{}, {pools} address pool{}, {pd_pools} prefix pool{}, {reservations} reservation{}",
            plural(subnets),
            plural(pools),
            plural(pd_pools),
            plural(reservations),
        );
        let families = if self.file.subnet4.is_empty() {
            format!("{v6}, ")
        } else {
            let v4 = &self.file.subnet4;
            let subnets4 = v4.len();
            let pools4: usize = v4.iter().map(|s| s.pools.len()).sum();
            let reservations4: usize = v4.iter().map(|s| s.reservations.len()).sum();
            let shared: HashSet<&str> = v4
                .iter()
                .filter_map(|s| s.shared_network.as_deref())
                .collect();
            let shared = match shared.len() {
                0 => String::new(),
                n => format!(" ({n} shared network{})", plural(n)),
            };
            let v4 = format!(
                "DHCPv4: {subnets4} subnet{}{shared}, {pools4} address pool{}, {reservations4} reservation{}; ",
                plural(subnets4),
                plural(pools4),
                plural(reservations4),
            );
            if subnets == 0 {
                v4
            } else {
                format!("DHCPv6: {v6}; {v4}")
            }
        };
        format!(
            "{families}{} interface{}{pair}",
            self.interfaces.len(),
            plural(self.interfaces.len()),
        )
    }
}

/// A subnet's `interface` must be one of `server.interfaces` (where the server listens).
pub(super) fn check_listed_interface(
    file: &ConfigFile,
    interface: Option<&str>,
    at: &str,
    problems: &mut Vec<Problem>,
) {
    if let Some(ifname) = interface {
        if !file.server.interfaces.iter().any(|i| i == ifname) {
            problems.push(Problem::new(
                format!("{at}.interface"),
                format!(
                    "interface {ifname:?} is not in server.interfaces {:?}; list it there so the server listens on it",
                    file.server.interfaces
                ),
            ));
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Checks `file` and builds the run configuration, or lists every problem found:
/// the file-level checks here, DHCPv4's ([`build4`]), `[failover]`'s, and `tandem_core`'s
/// `validate()`, all at once. Relative paths (data_dir, TLS files) are taken from
/// `base_dir`.
pub fn build(file: &ConfigFile, base_dir: &Path) -> Result<RunConfig, Vec<Problem>> {
    let mut problems = Vec::new();
    check_server(file, &mut problems);
    let mut warnings = Vec::new();
    let metrics = check_metrics(file, &mut problems, &mut warnings);
    check_options(&file.options, "options", &mut problems);
    for (i, subnet) in file.subnet6.iter().enumerate() {
        let at = format!("subnet6[{i}]");
        check_listed_interface(file, subnet.interface.as_deref(), &at, &mut problems);
        for (j, pool) in subnet.pools.iter().enumerate() {
            check_pool_form(pool, &format!("{at}.pools[{j}]"), &mut problems);
        }
        check_pool_names(
            subnet
                .pools
                .iter()
                .enumerate()
                .map(|(j, p)| {
                    (
                        format!("{at}.pools[{j}]"),
                        p.name.as_deref(),
                        p.display_name(),
                    )
                })
                .chain(subnet.pd_pools.iter().enumerate().map(|(j, p)| {
                    (
                        format!("{at}.pd_pools[{j}]"),
                        p.name.as_deref(),
                        p.display_name(),
                    )
                })),
            &mut problems,
        );
        check_options(&subnet.options, &format!("{at}.options"), &mut problems);
        for (j, r) in subnet.reservations.iter().enumerate() {
            check_reservation(r, &format!("{at}.reservations[{j}]"), &mut problems);
        }
    }
    build4::check(file, &mut problems, &mut warnings);
    let core = to_core(file);
    problems.extend(
        core.validate()
            .into_iter()
            .map(|p| Problem::new(file_path_of(&p.path), p.message)),
    );
    failover::check(file, &core, base_dir, &mut problems, &mut warnings);
    let control = super::control::check(
        file.control.as_ref(),
        base_dir,
        &mut problems,
        &mut warnings,
    );
    if !problems.is_empty() {
        return Err(problems);
    }
    let data_dir = if file.server.data_dir.is_absolute() {
        file.server.data_dir.clone()
    } else {
        base_dir.join(&file.server.data_dir)
    };
    Ok(RunConfig {
        interfaces: file.server.interfaces.clone(),
        port: file.server.port,
        listen_address: file.server.listen_address,
        port4: file.server.port4,
        listen_address4: file.server.listen_address4,
        data_dir,
        server_duid: file.server.server_duid.clone(),
        log_level: file.server.log_level.clone(),
        log_format: file.server.log_format,
        log_target: file.server.log_target,
        pool_thresholds: pool_thresholds(file),
        file: file.clone(),
        core,
        failover: file
            .failover
            .as_ref()
            .map(|f| failover::settings(file, f, base_dir)),
        control,
        metrics,
        warnings,
        origin: String::new(),
        source: String::new(),
    })
}

/// The core names T1/T2 after the RFC; the file calls them renew_time/rebind_time in
/// `[[subnet6]]` (in `[[subnet4]]` they are `t1`/`t2`, as the core says).
fn file_path_of(core_path: &str) -> String {
    if !core_path.starts_with("subnet6") {
        return core_path.to_string();
    }
    let mut parts: Vec<String> = core_path.split('.').map(str::to_string).collect();
    if !core_path.starts_with("subnet6") {
        return core_path.to_string();
    }
    if let Some(last) = parts.last_mut() {
        match last.as_str() {
            "t1" => *last = "renew_time".to_string(),
            "t2" => *last = "rebind_time".to_string(),
            _ => {}
        }
    }
    parts.join(".")
}

/// Maps the file onto the core's model. Entries whose form is wrong (already reported)
/// still produce a placeholder, so the core's paths keep the file's indexes.
pub fn to_core(file: &ConfigFile) -> ServerConfig {
    let defaults = ServerConfig::default();
    ServerConfig {
        subnets: file.subnet6.iter().map(subnet_to_core).collect(),
        subnets4: file
            .subnet4
            .iter()
            .map(|s| build4::subnet_to_core(s, &file.server))
            .collect(),
        options4: build4::options_to_core(&file.options4),
        options: options_to_core(&file.options),
        preference: file.server.preference,
        decline_quarantine: file.server.decline_quarantine,
        affinity_time: file.server.affinity_time.unwrap_or(defaults.affinity_time),
        accept_unicast: file.server.accept_unicast,
        ..defaults
    }
}

fn subnet_to_core(s: &Subnet6Section) -> Subnet {
    Subnet {
        id: s.id,
        prefix: s.prefix,
        interface: s.interface.clone(),
        pools: s.pools.iter().map(|p| pool_to_core(p, &s.prefix)).collect(),
        pd_pools: s
            .pd_pools
            .iter()
            .map(|p| PdPool {
                prefix: p.prefix,
                delegated_len: p.delegated_len,
            })
            .collect(),
        preferred_lifetime: s.preferred_lifetime,
        valid_lifetime: s.valid_lifetime,
        t1: s.renew_time,
        t2: s.rebind_time,
        rapid_commit: s.rapid_commit,
        options: options_to_core(&s.options),
        reservations: s
            .reservations
            .iter()
            .map(|r| Reservation {
                duid: Duid(r.duid.clone()),
                address: r.address,
                prefix: r.prefix,
            })
            .collect(),
    }
}

/// `{ first, last }` as given; `{ prefix }` is every address in it except the subnet's
/// Subnet-Router anycast address (RFC 4291 §2.6.1: interface id 0), never a client's.
fn pool_to_core(p: &PoolEntry, subnet: &Ipv6Net) -> AddressPool {
    if let Some(prefix) = p.prefix {
        let mut first = prefix.network();
        if first == subnet.network() && prefix.prefix_len() < 128 {
            first = Ipv6Addr::from(u128::from(first).saturating_add(1));
        }
        return AddressPool {
            first,
            last: prefix.broadcast(),
        };
    }
    let placeholder = subnet.network();
    AddressPool {
        first: p.first.or(p.last).unwrap_or(placeholder),
        last: p.last.or(p.first).unwrap_or(placeholder),
    }
}

fn options_to_core(o: &OptionsSection) -> OptionSet {
    let mut other: Vec<(u16, Vec<u8>)> = Vec::new();
    if let Some(sntp) = &o.sntp_servers {
        other.push((OPTION_SNTP_SERVERS, addresses_bytes(sntp)));
    }
    for c in &o.custom {
        other.retain(|(code, _)| *code != c.code);
        other.push((c.code, c.payload()));
    }
    OptionSet {
        dns_servers: o.dns_servers.clone().unwrap_or_default(),
        domain_search: o.domain_search.clone().unwrap_or_default(),
        information_refresh_time: o.information_refresh_time,
        other,
    }
}

fn addresses_bytes(addrs: &[Ipv6Addr]) -> Vec<u8> {
    addrs.iter().flat_map(|a| a.octets()).collect()
}

fn check_server(file: &ConfigFile, problems: &mut Vec<Problem>) {
    let s = &file.server;
    if let Err(e) = crate::logging::check_level(&s.log_level) {
        problems.push(Problem::new("server.log_level", e));
    }
    let t = pool_thresholds(file);
    for (key, v) in [
        ("pool_warn_percent", s.pool_warn_percent),
        ("pool_critical_percent", s.pool_critical_percent),
    ] {
        if let Some(v) = v.filter(|v| !(1..=100).contains(v)) {
            problems.push(Problem::new(
                format!("server.{key}"),
                format!("{v} is not a percentage of a pool: 1 to 100"),
            ));
        }
    }
    if t.warn_percent > t.critical_percent {
        let at = if s.pool_critical_percent.is_some() {
            "server.pool_critical_percent"
        } else {
            "server.pool_warn_percent"
        };
        problems.push(Problem::new(
            at,
            format!(
                "pool_warn_percent {} is above pool_critical_percent {}: the warning comes first",
                t.warn_percent, t.critical_percent
            ),
        ));
    }
    let mut seen = HashSet::new();
    for (i, name) in s.interfaces.iter().enumerate() {
        // Linux interface names are 1..=15 bytes (IFNAMSIZ 16 with the NUL).
        if name.is_empty() || name.len() > 15 || name.contains(['/', ' ', '\0']) {
            problems.push(Problem::new(
                format!("server.interfaces[{i}]"),
                format!("{name:?} is not a valid interface name"),
            ));
        }
        if !seen.insert(name) {
            problems.push(Problem::new(
                format!("server.interfaces[{i}]"),
                format!("interface {name:?} is listed twice"),
            ));
        }
    }
    if s.server_duid.as_ref().is_some_and(|d| d.len() > 130) {
        // RFC 8415 §11.1: a DUID is at most 128 octets plus the 2-octet type.
        problems.push(Problem::new(
            "server.server_duid",
            "a DUID is at most 130 octets (RFC 8415 §11.1)",
        ));
    }
    if s.data_dir.as_os_str().is_empty() {
        problems.push(Problem::new("server.data_dir", "must not be empty"));
    }
}

/// `[metrics] listen`: an address and a port the operator can scrape. The endpoint has no
/// authentication, so an address other than loopback is worth a warning.
fn check_metrics(
    file: &ConfigFile,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) -> Option<std::net::SocketAddr> {
    let m = file.metrics.as_ref()?;
    let addr: std::net::SocketAddr = match m.listen.parse() {
        Ok(a) => a,
        Err(_) => {
            problems.push(Problem::new(
                "metrics.listen",
                format!(
                    "{:?} is not an address and port (write e.g. \"[::1]:9547\" or \"127.0.0.1:9547\"; names are not looked up)",
                    m.listen
                ),
            ));
            return None;
        }
    };
    if addr.port() == 0 {
        problems.push(Problem::new(
            "metrics.listen",
            format!("{addr}: port 0 would pick a random port Prometheus cannot know; give a port (9547 is tandem's)"),
        ));
        return None;
    }
    if !addr.ip().is_loopback() {
        warnings.push(Problem::new(
            "metrics.listen",
            format!("{addr} is reachable from other hosts and the metrics endpoint has no authentication; firewall it or listen on loopback"),
        ));
    }
    Some(addr)
}

/// The configured thresholds, defaults filled in.
fn pool_thresholds(file: &ConfigFile) -> tandem_server::PoolThresholds {
    let d = tandem_server::PoolThresholds::default();
    tandem_server::PoolThresholds {
        warn_percent: file.server.pool_warn_percent.unwrap_or(d.warn_percent),
        critical_percent: file
            .server
            .pool_critical_percent
            .unwrap_or(d.critical_percent),
    }
}

/// Pool names (given or derived from the range) identify a pool in logs and in the pair
/// comparison, so they must be unique within their subnet. `pools` yields each pool's
/// path, its configured name and the name it goes by.
pub(super) fn check_pool_names<'a>(
    pools: impl IntoIterator<Item = (String, Option<&'a str>, String)>,
    problems: &mut Vec<Problem>,
) {
    let mut seen: HashSet<String> = HashSet::new();
    for (path, given, name) in pools {
        if given.is_some_and(|n| n.trim().is_empty() || n.chars().any(char::is_control)) {
            problems.push(Problem::new(
                format!("{path}.name"),
                format!("{name:?} is not a usable pool name: give visible characters, or omit name to use the range"),
            ));
        } else if !seen.insert(name.clone()) {
            problems.push(Problem::new(
                format!("{path}.name"),
                format!("pool name {name:?} is used twice in this subnet: names identify pools in logs and between partners"),
            ));
        }
    }
}

/// Either a range or a prefix, whatever the family.
pub(super) fn check_pool_form<A, N>(pool: &PoolEntry<A, N>, at: &str, problems: &mut Vec<Problem>) {
    match (&pool.first, &pool.last, &pool.prefix) {
        // Order and containment are the core's checks.
        (Some(_), Some(_), None) | (None, None, Some(_)) => {}
        _ => problems.push(Problem::new(
            at,
            "a pool is either \"first-last\", { first = ..., last = ... } or { prefix = ... }",
        )),
    }
}

fn check_options(opts: &OptionsSection, at: &str, problems: &mut Vec<Problem>) {
    for (i, c) in opts.custom.iter().enumerate() {
        check_custom(c, &format!("{at}.custom[{i}]"), problems);
    }
}

/// Exactly one value form, whatever the family.
pub(super) fn check_custom_value<C, A>(
    c: &CustomOption<C, A>,
    at: &str,
    problems: &mut Vec<Problem>,
) {
    if c.value_forms() != 1 {
        problems.push(Problem::new(
            at,
            "give exactly one of `hex`, `text` or `addresses` as the option's value",
        ));
    }
}

fn check_custom(c: &CustomOption, at: &str, problems: &mut Vec<Problem>) {
    check_custom_value(c, at, problems);
    if c.code == 0 {
        problems.push(Problem::new(
            format!("{at}.code"),
            "option code 0 is reserved",
        ));
    }
}

fn check_reservation(r: &ReservationEntry, at: &str, problems: &mut Vec<Problem>) {
    if r.duid.len() > 130 {
        problems.push(Problem::new(
            format!("{at}.duid"),
            "a DUID is at most 130 octets (RFC 8415 §11.1)",
        ));
    }
}
