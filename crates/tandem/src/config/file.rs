//! The TOML configuration file, exactly as written by operators.
//!
//! Every struct denies unknown fields so that a misspelt key is an error with its
//! line, never a silently ignored setting. Values are parsed into their real types
//! here (addresses, prefixes, hex bytes), so a bad value is reported with its line
//! too; rules that relate several values (a pool inside its subnet, no overlaps)
//! are checked after this, in [`super::build`] and `tandem_core`'s `validate()`.
//! `examples/tandem.toml` documents every key (`[[subnet4]]` and `[options4]`, DHCPv4,
//! included); `examples/pair-primary.toml` and `examples/pair-secondary.toml` add
//! `[failover]`; `examples/dhcp4.toml` and `examples/dual-stack.toml` show DHCPv4.

use std::fmt::Display;
use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::str::FromStr;

use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Deserializer};

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub server: ServerSection,
    /// Options given to every client unless a subnet overrides them.
    #[serde(default)]
    pub options: OptionsSection,
    #[serde(default)]
    pub subnet6: Vec<Subnet6Section>,
    /// `[options4]`: DHCPv4 options for every `[[subnet4]]` unless it overrides them.
    #[serde(default)]
    pub options4: Options4Section,
    /// `[[subnet4]]`: the DHCPv4 subnets; none: no DHCPv4.
    #[serde(default)]
    pub subnet4: Vec<Subnet4Section>,
    /// `[failover]`: present when this server is one half of an RFC 8156 pair.
    #[serde(default)]
    pub failover: Option<FailoverSection>,
    /// `[control]`: the control API on TCP too (it is always on `<data_dir>/tandem.ctl`).
    #[serde(default)]
    pub control: Option<super::control::ControlSection>,
    /// `[metrics]`: the Prometheus endpoint; off when absent.
    #[serde(default)]
    pub metrics: Option<MetricsSection>,
}

/// `[metrics]`: where `GET /metrics` is served (docs/metrics.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// Address and port, e.g. `"[::1]:9547"`; checked in [`super::build`].
    pub listen: String,
}

/// `[server]`: how this process runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Interfaces whose links are served directly: ff02::1:2 is joined on each.
    #[serde(default)]
    pub interfaces: Vec<String>,
    /// UDP port to listen on (547 unless testing).
    #[serde(default = "default_port")]
    pub port: u16,
    /// Local address to bind (`::` receives multicast and unicast on every interface).
    #[serde(default = "default_listen")]
    pub listen_address: Ipv6Addr,
    /// UDP port for DHCPv4 (67 unless testing); used when `[[subnet4]]` is configured.
    #[serde(default = "default_port4")]
    pub port4: u16,
    /// Local address for DHCPv4 (`0.0.0.0` also receives the broadcasts of directly
    /// attached clients).
    #[serde(default = "default_listen4")]
    pub listen_address4: Ipv4Addr,
    /// Directory for `leases.db`; the server DUID is kept inside that database.
    pub data_dir: PathBuf,
    /// Server DUID to use instead of the one generated once and stored.
    #[serde(default, deserialize_with = "opt_hex_bytes")]
    pub server_duid: Option<Vec<u8>>,
    /// Log level (`trace`, `debug`, `info`, `warn`, `error`, `off`) or tracing filter
    /// directives naming a level each (`info,tandem::lease=off`); RUST_LOG wins.
    #[serde(default = "default_log_level")]
    pub log_level: String,
    /// `"text"` (default) or `"json"`: one JSON object per line (docs/logging.md).
    #[serde(default)]
    pub log_format: crate::logging::LogFormat,
    /// `"stderr"` (default) or `"journald"` (the systemd journal; must be reachable).
    #[serde(default)]
    pub log_target: crate::logging::LogTarget,
    /// Warn when a pool's use rises to this percent (once per crossing). Default 80.
    #[serde(default)]
    pub pool_warn_percent: Option<u8>,
    /// Warn again, louder, at this percent. Default 95.
    #[serde(default)]
    pub pool_critical_percent: Option<u8>,
    /// Server Preference option (RFC 8415 §21.8) in Advertise; omitted when unset.
    #[serde(default)]
    pub preference: Option<u8>,
    /// Answer messages a client sent by unicast as if multicast (labs, loopback tests);
    /// false follows RFC 8415 §18.4 (UseMulticast).
    #[serde(default)]
    pub accept_unicast: bool,
    /// Seconds a declined address stays ABANDONED; default: the subnet's valid lifetime.
    #[serde(default)]
    pub decline_quarantine: Option<u32>,
    /// Seconds an expired or released lease is remembered so its client gets it back.
    #[serde(default)]
    pub affinity_time: Option<u32>,
    /// DHCPv4: probe an address new to the client with an ICMP echo request before
    /// offering it (RFC 2131 §4.4.1, dhcpd's `ping-check`), in every `[[subnet4]]` that
    /// does not say otherwise. Default false.
    #[serde(default)]
    pub ping_check: bool,
    /// DHCPv4: milliseconds to wait for an echo reply (1 to 10000), in every
    /// `[[subnet4]]` that does not say otherwise. Default 1000 (dhcpd's `ping-timeout`).
    #[serde(default)]
    pub ping_timeout_ms: Option<u32>,
}

fn default_port() -> u16 {
    547
}
fn default_listen() -> Ipv6Addr {
    Ipv6Addr::UNSPECIFIED
}
/// RFC 2131 §4.1: servers listen on UDP port 67.
fn default_port4() -> u16 {
    67
}
fn default_listen4() -> Ipv4Addr {
    Ipv4Addr::UNSPECIFIED
}
/// `lease_time` when absent: one hour, as `tandem_core::config4::Subnet4::new`.
fn default_lease_time() -> u32 {
    3600
}
fn default_log_level() -> String {
    "info".to_string()
}

/// `[options]` and `[subnet6.options]`: options sent to clients that ask for them (ORO).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptionsSection {
    /// OPTION_DNS_SERVERS (23, RFC 3646).
    #[serde(default)]
    pub dns_servers: Option<Vec<Ipv6Addr>>,
    /// OPTION_DOMAIN_LIST (24, RFC 3646), plain domain names.
    #[serde(default)]
    pub domain_search: Option<Vec<String>>,
    /// OPTION_SNTP_SERVERS (31, RFC 4075).
    #[serde(default)]
    pub sntp_servers: Option<Vec<Ipv6Addr>>,
    /// OPTION_INFORMATION_REFRESH_TIME (32, RFC 8415 §21.23), seconds; Information-request only.
    #[serde(default)]
    pub information_refresh_time: Option<u32>,
    /// Any other option, raw.
    #[serde(default)]
    pub custom: Vec<CustomOption>,
}

/// `[[options.custom]]` and `[[options4.custom]]`: one option by code, with exactly one of
/// `hex`, `text`, `addresses`. DHCPv6 codes are 16 bits and addresses IPv6
/// ([`CustomOption`]); DHCPv4 codes are 8 bits and addresses IPv4 ([`CustomOption4`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(
    deny_unknown_fields,
    bound(deserialize = "C: Deserialize<'de>, A: Deserialize<'de>")
)]
pub struct CustomOption<C = u16, A = Ipv6Addr> {
    pub code: C,
    /// Payload as hex bytes (`"0a0b0c"` or `"0a:0b:0c"`).
    #[serde(default, deserialize_with = "opt_hex_bytes")]
    pub hex: Option<Vec<u8>>,
    /// Payload as UTF-8 text, without a terminating NUL.
    #[serde(default)]
    pub text: Option<String>,
    /// Payload as a list of addresses of the option's family (16 or 4 octets each).
    #[serde(default)]
    pub addresses: Option<Vec<A>>,
}

/// A DHCPv4 custom option: code 1 to 254, addresses IPv4.
pub type CustomOption4 = CustomOption<u8, Ipv4Addr>;

/// An address's octets, for options that carry a list of them.
pub trait Octets {
    fn octets_vec(&self) -> Vec<u8>;
}
impl Octets for Ipv6Addr {
    fn octets_vec(&self) -> Vec<u8> {
        self.octets().to_vec()
    }
}
impl Octets for Ipv4Addr {
    fn octets_vec(&self) -> Vec<u8> {
        self.octets().to_vec()
    }
}

impl<C, A: Octets> CustomOption<C, A> {
    /// The option's payload from whichever value form was given (empty when none was:
    /// that is reported by the checks).
    pub fn payload(&self) -> Vec<u8> {
        if let Some(hex) = &self.hex {
            hex.clone()
        } else if let Some(text) = &self.text {
            text.as_bytes().to_vec()
        } else if let Some(addrs) = &self.addresses {
            addrs.iter().flat_map(Octets::octets_vec).collect()
        } else {
            Vec::new()
        }
    }
}

impl<C, A> CustomOption<C, A> {
    /// How many of `hex`, `text` and `addresses` are given (exactly one is right).
    pub fn value_forms(&self) -> usize {
        [
            self.hex.is_some(),
            self.text.is_some(),
            self.addresses.is_some(),
        ]
        .iter()
        .filter(|&&b| b)
        .count()
    }
}

/// `[[subnet6]]`: one link's addresses, prefixes and lifetimes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subnet6Section {
    /// Stable identifier, stored with every lease: never renumber a subnet that has leases.
    pub id: u32,
    /// The link's prefix; relayed clients are matched when the relay's link-address is in it.
    pub prefix: Ipv6Net,
    /// Interface (one of `server.interfaces`) whose directly attached clients are on this link.
    #[serde(default)]
    pub interface: Option<String>,
    /// Seconds, or `"infinite"` (RFC 8415 §7.7: sent as 0xffffffff), like every lifetime.
    #[serde(deserialize_with = "lifetime")]
    pub preferred_lifetime: u32,
    #[serde(deserialize_with = "lifetime")]
    pub valid_lifetime: u32,
    /// T1; when absent the core picks its default (0.5 × preferred lifetime).
    #[serde(default, deserialize_with = "opt_lifetime")]
    pub renew_time: Option<u32>,
    /// T2; when absent the core picks its default (0.8 × preferred lifetime).
    #[serde(default, deserialize_with = "opt_lifetime")]
    pub rebind_time: Option<u32>,
    /// Answer a Solicit carrying Rapid Commit with a committed Reply (RFC 8415 §18.3.1).
    #[serde(default)]
    pub rapid_commit: bool,
    #[serde(default)]
    pub pools: Vec<PoolEntry>,
    #[serde(default)]
    pub pd_pools: Vec<PdPoolEntry>,
    #[serde(default)]
    pub options: OptionsSection,
    #[serde(default)]
    pub reservations: Vec<ReservationEntry>,
}

/// An address pool, written as a table `{ first = ..., last = ... }` (optionally with
/// `name`), a table `{ prefix = ... }` (all addresses in it), or a string
/// `"first-last"` (the same as the first table without a name). One type for both
/// families: [`PoolEntry`] (DHCPv6, the default parameters) and [`PoolEntry4`].
#[derive(Debug, Clone)]
pub struct PoolEntry<A = Ipv6Addr, N = Ipv6Net> {
    /// Name in logs and `check-config --partner`; default: the range as written
    /// (`first-last`, or the prefix). Unique within its subnet.
    pub name: Option<String>,
    pub first: Option<A>,
    pub last: Option<A>,
    pub prefix: Option<N>,
}

/// A DHCPv4 address pool (`[[subnet4]] pools`).
pub type PoolEntry4 = PoolEntry<Ipv4Addr, Ipv4Net>;

/// The table form of a pool, as serde reads it (unknown keys refused).
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    bound(deserialize = "A: Deserialize<'de>, N: Deserialize<'de>")
)]
struct PoolTable<A, N> {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    first: Option<A>,
    #[serde(default)]
    last: Option<A>,
    #[serde(default)]
    prefix: Option<N>,
}

/// `"first-last"`: two addresses around one `-` (spaces around it are allowed). IPv4 and
/// IPv6 address text never holds a `-`, so the split is unambiguous.
pub fn parse_range<A: FromStr>(s: &str) -> Result<(A, A), String>
where
    A::Err: Display,
{
    let Some((first, last)) = s.split_once('-') else {
        return Err(format!(
            "{s:?} is not a pool: write \"first-last\" (e.g. \"192.0.2.100-192.0.2.199\") or a table {{ first = ..., last = ... }}"
        ));
    };
    let addr = |part: &str| {
        part.trim()
            .parse::<A>()
            .map_err(|e| format!("{:?} in pool {s:?}: {e}", part.trim()))
    };
    Ok((addr(first)?, addr(last)?))
}

impl<'de, A, N> Deserialize<'de> for PoolEntry<A, N>
where
    A: Deserialize<'de> + FromStr,
    A::Err: Display,
    N: Deserialize<'de>,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Pool<A, N>(PhantomData<(A, N)>);
        impl<'de, A, N> serde::de::Visitor<'de> for Pool<A, N>
        where
            A: Deserialize<'de> + FromStr,
            A::Err: Display,
            N: Deserialize<'de>,
        {
            type Value = PoolEntry<A, N>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(
                    f,
                    "a pool: \"first-last\", {{ first = ..., last = ... }} or {{ prefix = ... }}"
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                let (first, last) = parse_range(v).map_err(E::custom)?;
                Ok(PoolEntry {
                    name: None,
                    first: Some(first),
                    last: Some(last),
                    prefix: None,
                })
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                map: M,
            ) -> Result<Self::Value, M::Error> {
                let t = PoolTable::<A, N>::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                Ok(PoolEntry {
                    name: t.name,
                    first: t.first,
                    last: t.last,
                    prefix: t.prefix,
                })
            }
        }
        d.deserialize_any(Pool(PhantomData))
    }
}

/// A prefix-delegation pool: `prefix` is cut into prefixes of `delegated_len`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PdPoolEntry {
    /// Name in logs and `check-config --partner`; default `prefix /delegated_len`
    /// (e.g. `2001:db8:100::/40 /56`, as `tandem ctl status` shows it). Unique within
    /// its subnet.
    #[serde(default)]
    pub name: Option<String>,
    pub prefix: Ipv6Net,
    pub delegated_len: u8,
}

impl<A: Display, N: Display> PoolEntry<A, N> {
    /// The configured name, else the range as written.
    pub fn display_name(&self) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        match (&self.first, &self.last, &self.prefix) {
            (_, _, Some(p)) => p.to_string(),
            (Some(f), Some(l), None) => format!("{f}-{l}"),
            _ => String::from("?"),
        }
    }
}

impl PdPoolEntry {
    /// The configured name, else `prefix /delegated_len`.
    pub fn display_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("{} /{}", self.prefix, self.delegated_len))
    }
}

/// A fixed address and/or prefix for one client DUID.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReservationEntry {
    #[serde(deserialize_with = "hex_bytes")]
    pub duid: Vec<u8>,
    #[serde(default)]
    pub address: Option<Ipv6Addr>,
    #[serde(default)]
    pub prefix: Option<Ipv6Net>,
}

/// `[options4]` and `[subnet4.options]`: DHCPv4 options (RFC 2132). A subnet's own value
/// replaces the global one key by key; an empty list counts as absent.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options4Section {
    /// Option 3 (RFC 2132 §3.5): the clients' routers, in order of preference; each must
    /// be inside the subnet it is given to.
    #[serde(default)]
    pub routers: Option<Vec<Ipv4Addr>>,
    /// Option 6 (RFC 2132 §3.8).
    #[serde(default)]
    pub dns_servers: Option<Vec<Ipv4Addr>>,
    /// Option 15 (RFC 2132 §3.17): the client's domain name.
    #[serde(default)]
    pub domain_name: Option<String>,
    /// Option 42 (RFC 2132 §8.3).
    #[serde(default)]
    pub ntp_servers: Option<Vec<Ipv4Addr>>,
    /// Option 26 (RFC 2132 §5.1), at least 68.
    #[serde(default)]
    pub interface_mtu: Option<u16>,
    /// Option 121 (RFC 3442): `{ destination = "198.51.100.0/24", router = "192.0.2.1" }`.
    #[serde(default)]
    pub static_routes: Option<Vec<StaticRouteEntry>>,
    /// Any other option, raw.
    #[serde(default)]
    pub custom: Vec<CustomOption4>,
}

/// One classless static route (RFC 3442): clients reach `destination` through `router`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticRouteEntry {
    /// The destination network; `"0.0.0.0/0"` is the default route.
    pub destination: Ipv4Net,
    /// The next hop, inside the subnet the route is given to.
    pub router: Ipv4Addr,
}

/// `[[subnet4]]`: one IPv4 subnet, its pools, lease time, options and reservations.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subnet4Section {
    /// Stable identifier, stored with every lease; unique across `subnet4` and `subnet6`.
    pub id: u32,
    /// The subnet, e.g. `"192.0.2.0/24"`; relayed clients are matched by the relay's
    /// address (giaddr) in it.
    pub subnet: Ipv4Net,
    /// Interface (one of `server.interfaces`) whose directly attached clients are on it.
    #[serde(default)]
    pub interface: Option<String>,
    /// Subnets with the same name share one link (dhcpd's `shared-network`).
    #[serde(default)]
    pub shared_network: Option<String>,
    /// Option 51, seconds or `"infinite"`. Default 3600.
    #[serde(default = "default_lease_time", deserialize_with = "lifetime")]
    pub lease_time: u32,
    /// Option 58; when absent the core picks 0.5 × lease time (RFC 2131 §4.4.5).
    #[serde(default, deserialize_with = "opt_lifetime")]
    pub t1: Option<u32>,
    /// Option 59; when absent the core picks 0.875 × lease time.
    #[serde(default, deserialize_with = "opt_lifetime")]
    pub t2: Option<u32>,
    #[serde(default)]
    pub pools: Vec<PoolEntry4>,
    #[serde(default)]
    pub options: Options4Section,
    #[serde(default)]
    pub reservations: Vec<Reservation4Entry>,
    /// Probe addresses new to a client before offering them (RFC 2131 §4.4.1); default
    /// `server.ping_check`.
    #[serde(default)]
    pub ping_check: Option<bool>,
    /// Milliseconds to wait for the probe's echo reply, 1 to 10000; default
    /// `server.ping_timeout_ms`, else 1000.
    #[serde(default)]
    pub ping_timeout_ms: Option<u32>,
}

/// A fixed DHCPv4 address for one client, by hardware address and/or client identifier.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reservation4Entry {
    /// The client's hardware address ('chaddr'), e.g. `"02:00:00:00:00:01"`.
    #[serde(default, deserialize_with = "opt_hex_bytes")]
    pub hw_address: Option<Vec<u8>>,
    /// Option 61 exactly as the client sends it, type byte first (hex, as DUIDs).
    #[serde(default, deserialize_with = "opt_hex_bytes")]
    pub client_id: Option<Vec<u8>>,
    pub address: Ipv4Addr,
}

/// This server's part in the pair (RFC 8156 §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoleName {
    /// Connects to the partner and defines the MCLT.
    Primary,
    /// Listens for the primary's connection and adopts its MCLT.
    Secondary,
}

/// `[failover]`: the partner and the protocol's knobs. Absent keys take the defaults
/// documented on each field; ranges are checked in [`super::build`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailoverSection {
    pub role: RoleName,
    /// RELATIONSHIP_NAME sent in CONNECT (§6.2); both sides must agree. Default "tandem".
    #[serde(default)]
    pub relationship: Option<String>,
    /// The partner's address: where the primary connects, and the only address the
    /// secondary accepts a connection from (§6.2 identifies the endpoint by it).
    pub peer_address: IpAddr,
    /// TCP port of the failover link: where we listen, and (unless `peer_port` says
    /// otherwise) where we connect. Default 647 (RFC 8156 §5.1; draft-ietf-dhc-failover-12
    /// §6.1, ISC dhcpd's `port`).
    #[serde(default)]
    pub port: Option<u16>,
    /// DHCPv4 pair only: the partner's port, ISC dhcpd's `peer port` (dhcpd keeps the two
    /// apart; 519/520 are common). Default: `port`.
    #[serde(default)]
    pub peer_port: Option<u16>,
    /// DHCPv4 pair, primary only: dhcpd's `split N` (0 to 256): clients whose RFC 3074
    /// hash bucket is below N are the primary's to answer in NORMAL, the rest the
    /// secondary's. Default 128 (half each). Not with `hba`.
    #[serde(default)]
    pub split: Option<u16>,
    /// DHCPv4 pair, primary only: dhcpd's `hba`, the 32-byte hash bucket assignment in
    /// hex (a set bit is a bucket the primary answers, bucket 0 the lowest bit of the first
    /// byte, as dhcpd reads it). Not with `split`.
    #[serde(default, deserialize_with = "opt_hex_bytes")]
    pub hba: Option<Vec<u8>>,
    /// Our end of the link: the secondary listens on it, the primary connects from it.
    /// Default: the unspecified address of `peer_address`'s family.
    #[serde(default)]
    pub listen_address: Option<IpAddr>,
    /// Maximum Client Lead Time, seconds (§4.4). Default 3600, at least 30 (§1).
    #[serde(default)]
    pub mclt: Option<u32>,
    /// Seconds in COMMUNICATIONS-INTERRUPTED before declaring the partner down on our own
    /// (§8.9). Absent or 0: only an operator can.
    #[serde(default)]
    pub auto_partner_down: Option<u32>,
    /// Our FO_KEEPALIVE_TIME, seconds (§6.5): the longest silence we accept from the
    /// partner. In a DHCPv4 pair it is sent as the receive timer (draft-ietf-dhc-failover-12
    /// §12.19), ISC dhcpd's `max-response-delay`. Default 60, at least 4.
    #[serde(default)]
    pub keepalive: Option<u32>,
    /// MAX_UNACKED_BNDUPD we accept from the partner (§6.1.1). Default 100, at least 1.
    #[serde(default)]
    pub max_unacked_bndupd: Option<u32>,
    /// Seconds STARTUP waits for the partner (§8.3). Default 10.
    #[serde(default)]
    pub startup: Option<u32>,
    /// Percent of each prefix pool's free space the secondary holds (§4.2.2). Default 50.
    #[serde(default)]
    pub secondary_prefix_share: Option<u8>,
    /// Rebalance prefix pools only when the secondary is this many prefixes short. Default 16.
    #[serde(default)]
    pub rebalance_threshold: Option<u64>,
    /// `[failover.tls]`; required (TLS files or `insecure = true`).
    #[serde(default)]
    pub tls: Option<FailoverTlsSection>,
}

/// `[failover.tls]`: mutual TLS on the partner link (RFC 8156 §6.1, RFC 7653 §8.2/§9.1).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailoverTlsSection {
    /// Our certificate chain (PEM); relative paths are taken from the config file's directory.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// Our private key (PEM).
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// CA certificate(s) (PEM) that the partner's certificate must chain to.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// Name the partner's certificate must carry. Default "tandem-<partner role>".
    #[serde(default)]
    pub server_name: Option<String>,
    /// Run the partner link without TLS; cert, key, ca and server_name must then be absent.
    #[serde(default)]
    pub insecure: bool,
}

/// Hex bytes as operators write DUIDs: `00:03:00:01:...`, `00-03-...` or `000300...`.
pub fn parse_hex_bytes(s: &str) -> Result<Vec<u8>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty hex string".to_string());
    }
    let byte = |pair: &str| {
        if pair.len() == 2 && pair.bytes().all(|b| b.is_ascii_hexdigit()) {
            u8::from_str_radix(pair, 16).map_err(|e| e.to_string())
        } else {
            Err(format!(
                "invalid hex byte {pair:?} in {s:?} (want two hex digits)"
            ))
        }
    };
    if s.contains([':', '-']) {
        // Separated form: every group is exactly one byte, so "0:3" is not silently "03".
        s.split([':', '-']).map(byte).collect()
    } else if !s.len().is_multiple_of(2) {
        Err(format!("hex string {s:?} has an odd number of digits"))
    } else {
        (0..s.len())
            .step_by(2)
            .map(|i| byte(s.get(i..i + 2).unwrap_or("")))
            .collect()
    }
}

fn hex_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let s = String::deserialize(d)?;
    parse_hex_bytes(&s).map_err(serde::de::Error::custom)
}

fn opt_hex_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
    hex_bytes(d).map(Some)
}

/// The word for an infinite lifetime in the file.
pub const INFINITE: &str = "infinite";

/// A lifetime, T1 or T2: whole seconds from 0 to 4294967295, or `"infinite"`, which is
/// the same as 4294967295 (0xffffffff, "infinity" in RFC 8415 §7.7).
fn lifetime<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    struct Lifetime;
    impl serde::de::Visitor<'_> for Lifetime {
        type Value = u32;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            write!(f, "seconds (0 to {}) or \"{INFINITE}\"", u32::MAX)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u32, E> {
            u32::try_from(v).map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u32, E> {
            u32::try_from(v)
                .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<u32, E> {
            if v == INFINITE {
                Ok(tandem_core::INFINITE_LIFETIME)
            } else {
                Err(E::invalid_value(serde::de::Unexpected::Str(v), &self))
            }
        }
    }
    d.deserialize_any(Lifetime)
}

fn opt_lifetime<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    lifetime(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_accepts_the_usual_duid_spellings() {
        // RFC 8415 §11: a DUID is opaque bytes; operators copy them from logs in these forms.
        let want = vec![0, 3, 0, 1, 0xab];
        assert_eq!(parse_hex_bytes("00:03:00:01:ab").unwrap(), want);
        assert_eq!(parse_hex_bytes("00-03-00-01-AB").unwrap(), want);
        assert_eq!(parse_hex_bytes("00030001ab").unwrap(), want);
        assert!(parse_hex_bytes("0:3").is_err());
        assert!(parse_hex_bytes("zz").is_err());
        assert!(parse_hex_bytes("").is_err());
    }

    #[test]
    fn a_range_is_two_addresses_around_one_hyphen() {
        assert_eq!(
            parse_range::<Ipv4Addr>("192.0.2.100-192.0.2.199"),
            Ok((Ipv4Addr::new(192, 0, 2, 100), Ipv4Addr::new(192, 0, 2, 199)))
        );
        assert_eq!(
            parse_range::<Ipv4Addr>(" 192.0.2.1 - 192.0.2.9 "),
            Ok((Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 9)))
        );
        assert!(parse_range::<Ipv6Addr>("2001:db8::1-2001:db8::9").is_ok());
        assert!(parse_range::<Ipv4Addr>("192.0.2.1").is_err());
        assert!(parse_range::<Ipv4Addr>("192.0.2.1-192.0.2.2-192.0.2.3").is_err());
        assert!(parse_range::<Ipv4Addr>("2001:db8::1-2001:db8::9").is_err());
    }
}
