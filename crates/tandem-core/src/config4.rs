//! The DHCPv4 part of the server configuration (RFC 2131, RFC 2132): subnets with their
//! pools, lease times, options and reservations. Validated with the DHCPv6 part by
//! [`crate::ServerConfig::validate`], every problem at once with a path like
//! `subnet4[0].pools[1]`.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use tandem_wire::v4::ClasslessRoute;

use crate::config::{AddressPool4, ConfigProblem};
use crate::time::display_lifetime;

/// Options handed to DHCPv4 clients; a subnet's set overrides the global set field by
/// field. Each is sent when the client lists its code in option 55 (RFC 2132 §9.8), except
/// that the subnet mask, routers and domain name servers always go out (RFC 2131 §4.3.1
/// lets a server send options not asked for; clients rely on these three).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OptionSet4 {
    /// Option 3, RFC 2132 §3.5.
    pub routers: Vec<Ipv4Addr>,
    /// Option 6, RFC 2132 §3.8.
    pub dns_servers: Vec<Ipv4Addr>,
    /// Option 15, RFC 2132 §3.17.
    pub domain_name: Option<String>,
    /// Option 42, RFC 2132 §8.3.
    pub ntp_servers: Vec<Ipv4Addr>,
    /// Option 26, RFC 2132 §5.1.
    pub interface_mtu: Option<u16>,
    /// Option 121, RFC 3442.
    pub classless_routes: Vec<ClasslessRoute>,
    /// Any other option `(code, payload)`, sent byte for byte when asked for.
    pub other: Vec<(u8, Vec<u8>)>,
}

impl OptionSet4 {
    /// `self` with every empty field filled from `fallback` (subnet over global).
    pub fn merged_over(&self, fallback: &OptionSet4) -> OptionSet4 {
        fn or<T: Clone>(a: &[T], b: &[T]) -> Vec<T> {
            if a.is_empty() { b } else { a }.to_vec()
        }
        let mut other = self.other.clone();
        for (code, data) in &fallback.other {
            if !other.iter().any(|(c, _)| c == code) {
                other.push((*code, data.clone()));
            }
        }
        OptionSet4 {
            routers: or(&self.routers, &fallback.routers),
            dns_servers: or(&self.dns_servers, &fallback.dns_servers),
            domain_name: self
                .domain_name
                .clone()
                .or_else(|| fallback.domain_name.clone()),
            ntp_servers: or(&self.ntp_servers, &fallback.ntp_servers),
            interface_mtu: self.interface_mtu.or(fallback.interface_mtu),
            classless_routes: or(&self.classless_routes, &fallback.classless_routes),
            other,
        }
    }
}

/// A fixed address for one DHCPv4 client, named by its hardware address or its client
/// identifier (RFC 2131 §4.2 keys clients by option 61 when sent, else by 'chaddr').
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reservation4 {
    /// 'chaddr' (the first 'hlen' bytes; Ethernet: 6), matched whatever the client sends
    /// as option 61.
    pub hw_address: Option<Vec<u8>>,
    /// Option 61's value exactly as the client sends it (type byte first).
    pub client_id: Option<Vec<u8>>,
    pub address: Ipv4Addr,
}

/// One IPv4 subnet: the link's network, its pools, lease times and options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subnet4 {
    /// Stable id stored in every lease; unique across `subnet4` and `subnet6`.
    pub id: u32,
    /// The network on the link (its mask goes out as option 1).
    pub subnet: Ipv4Net,
    /// Name of the directly attached interface, if clients reach us without a relay.
    pub interface: Option<String>,
    /// Subnets with the same name share one link (dhcpd's `shared-network`): a client on
    /// any of them may get an address of any of them, and a relay's giaddr in one selects
    /// them all.
    pub shared_network: Option<String>,
    pub pools: Vec<AddressPool4>,
    /// Option 51, RFC 2132 §9.2.
    pub lease_time: u32,
    /// Option 58; default 0.5 × lease time (RFC 2131 §4.4.5).
    pub t1: Option<u32>,
    /// Option 59; default 0.875 × lease time (RFC 2131 §4.4.5).
    pub t2: Option<u32>,
    pub options: OptionSet4,
    pub reservations: Vec<Reservation4>,
    /// Probe an address with an ICMP echo request before offering it to a client that
    /// does not hold it already (RFC 2131 §4.4.1: the server SHOULD probe a reused
    /// address; ISC dhcpd's `ping-check`). Off by default.
    pub ping_check: bool,
    /// How long to wait for an echo reply before offering the address anyway
    /// (dhcpd's `ping-timeout`, 1 s by default), in milliseconds.
    pub ping_timeout_ms: u32,
}

/// `ping_timeout_ms` when not configured: one second, as dhcpd's `ping-timeout`.
pub const DEFAULT_PING_TIMEOUT_MS: u32 = 1000;
/// The longest `ping_timeout_ms` accepted: a client retransmits its DHCPDISCOVER after
/// about 4 s (RFC 2131 §4.1), so a longer wait only makes every new client wait more.
pub const MAX_PING_TIMEOUT_MS: u32 = 10_000;

impl Subnet4 {
    /// A subnet with common defaults (1 h lease), for tests and tools.
    pub fn new(id: u32, subnet: Ipv4Net) -> Self {
        Subnet4 {
            id,
            subnet,
            interface: None,
            shared_network: None,
            pools: Vec::new(),
            lease_time: 3600,
            t1: None,
            t2: None,
            options: OptionSet4::default(),
            reservations: Vec::new(),
            ping_check: false,
            ping_timeout_ms: DEFAULT_PING_TIMEOUT_MS,
        }
    }

    /// T1 actually used: configured, or half the lease time (RFC 2131 §4.4.5).
    pub fn effective_t1(&self) -> u32 {
        self.t1.unwrap_or(self.lease_time / 2)
    }

    /// T2 actually used: configured, or 0.875 × the lease time (RFC 2131 §4.4.5).
    pub fn effective_t2(&self) -> u32 {
        self.t2
            .unwrap_or(((u64::from(self.lease_time) * 7) / 8) as u32)
    }

    pub fn in_pools(&self, a: Ipv4Addr) -> bool {
        self.pools.iter().any(|p| p.first <= a && a <= p.last)
    }
}

/// Every problem of the DHCPv4 subnets, appended to `p`. `v6_ids` are the DHCPv6
/// subnets' ids (one id space: a lease carries only the id).
pub(crate) fn validate4(subnets: &[Subnet4], v6_ids: &[u32], p: &mut Vec<ConfigProblem>) {
    let mut push = |path: String, message: String| p.push(ConfigProblem { path, message });
    for (i, s) in subnets.iter().enumerate() {
        let at = format!("subnet4[{i}]");
        if let Some(j) = v6_ids.iter().position(|id| *id == s.id) {
            push(
                format!("{at}.id"),
                format!("id {} already used by subnet6[{j}]", s.id),
            );
        }
        for (j, other) in subnets.iter().enumerate().take(i) {
            if other.id == s.id {
                push(
                    format!("{at}.id"),
                    format!("id {} already used by subnet4[{j}]", s.id),
                );
            }
            if other.subnet.contains(&s.subnet.network())
                || s.subnet.contains(&other.subnet.network())
            {
                push(
                    format!("{at}.subnet"),
                    format!("{} overlaps subnet4[{j}] ({})", s.subnet, other.subnet),
                );
            }
            // Two subnets on one interface must say they share the link.
            let same_link = s.shared_network.is_some() && s.shared_network == other.shared_network;
            if s.interface.is_some() && s.interface == other.interface && !same_link {
                push(
                    format!("{at}.interface"),
                    format!(
                        "interface already serves subnet4[{j}]: give both the same \
                         shared_network to serve several subnets on one link"
                    ),
                );
            }
            if same_link && s.interface != other.interface {
                push(
                    format!("{at}.interface"),
                    format!(
                        "shared network {:?} is on interface {:?} in subnet4[{j}]: one \
                         shared network is one link",
                        s.shared_network.as_deref().unwrap_or_default(),
                        other.interface.as_deref().unwrap_or("(none: relayed)")
                    ),
                );
            }
        }
        if s.subnet.prefix_len() > 30 {
            push(
                format!("{at}.subnet"),
                format!("{} leaves no room for clients (at most /30)", s.subnet),
            );
        }
        if s.subnet.trunc() != s.subnet {
            push(
                format!("{at}.subnet"),
                format!(
                    "{} has host bits set (the network is {})",
                    s.subnet,
                    s.subnet.trunc()
                ),
            );
        }
        if s.lease_time == 0 {
            push(format!("{at}.lease_time"), "must be greater than 0".into());
        }
        if !(1..=MAX_PING_TIMEOUT_MS).contains(&s.ping_timeout_ms) {
            push(
                format!("{at}.ping_timeout_ms"),
                format!(
                    "{} ms: give 1 to {MAX_PING_TIMEOUT_MS} (a client retransmits its \
                     DHCPDISCOVER after about 4 s, RFC 2131 §4.1)",
                    s.ping_timeout_ms
                ),
            );
        }
        let (t1, t2) = (s.effective_t1(), s.effective_t2());
        if t1 > t2 {
            push(
                format!("{at}.t1"),
                format!(
                    "T1 {} exceeds T2 {}",
                    display_lifetime(t1),
                    display_lifetime(t2)
                ),
            );
        }
        if t2 > s.lease_time {
            push(
                format!("{at}.t2"),
                format!(
                    "T2 {} exceeds the lease time {}",
                    display_lifetime(t2),
                    display_lifetime(s.lease_time)
                ),
            );
        }
        let (network, broadcast) = (s.subnet.network(), s.subnet.broadcast());
        for (k, pool) in s.pools.iter().enumerate() {
            let pat = format!("{at}.pools[{k}]");
            if pool.first > pool.last {
                push(
                    pat.clone(),
                    format!("first {} is after last {}", pool.first, pool.last),
                );
            }
            if !s.subnet.contains(&pool.first) || !s.subnet.contains(&pool.last) {
                push(pat.clone(), format!("not inside subnet {}", s.subnet));
            } else if pool.first <= network || pool.last >= broadcast {
                push(
                    pat.clone(),
                    format!(
                        "includes the network ({network}) or broadcast ({broadcast}) \
                         address, which no client may be given"
                    ),
                );
            }
            for (j, other) in s.pools.iter().enumerate().take(k) {
                if pool.first <= other.last && other.first <= pool.last {
                    push(pat.clone(), format!("overlaps {at}.pools[{j}]"));
                }
            }
        }
        for (k, r) in s.reservations.iter().enumerate() {
            let rat = format!("{at}.reservations[{k}]");
            match (&r.hw_address, &r.client_id) {
                (None, None) => push(
                    rat.clone(),
                    "names no client: give hw_address or client_id".into(),
                ),
                (Some(h), _) if h.is_empty() || h.len() > 16 => push(
                    format!("{rat}.hw_address"),
                    format!("{} bytes: a hardware address has 1 to 16", h.len()),
                ),
                (_, Some(c)) if c.len() < 2 => push(
                    format!("{rat}.client_id"),
                    "a client identifier has at least 2 bytes (RFC 2132 §9.14)".into(),
                ),
                _ => {}
            }
            let a = r.address;
            if !s.subnet.contains(&a) || a == network || a == broadcast {
                push(
                    format!("{rat}.address"),
                    format!("{a} is not a host address of {}", s.subnet),
                );
            }
            if s.in_pools(a) {
                push(
                    format!("{rat}.address"),
                    format!("{a} is inside a dynamic pool"),
                );
            }
            for (j, other) in s.reservations.iter().enumerate().take(k) {
                if other.address == a {
                    push(
                        format!("{rat}.address"),
                        format!("address already reserved in {at}.reservations[{j}]"),
                    );
                }
                if r.hw_address.is_some() && other.hw_address == r.hw_address {
                    push(
                        format!("{rat}.hw_address"),
                        format!("hardware address already reserved in {at}.reservations[{j}]"),
                    );
                }
                if r.client_id.is_some() && other.client_id == r.client_id {
                    push(
                        format!("{rat}.client_id"),
                        format!("client identifier already reserved in {at}.reservations[{j}]"),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ServerConfig;

    fn good() -> ServerConfig {
        let mut s = Subnet4::new(4, "192.0.2.0/24".parse().unwrap());
        s.pools.push(AddressPool4 {
            first: Ipv4Addr::new(192, 0, 2, 100),
            last: Ipv4Addr::new(192, 0, 2, 199),
        });
        ServerConfig {
            subnets4: vec![s],
            ..ServerConfig::default()
        }
    }

    fn paths(c: &ServerConfig) -> Vec<String> {
        c.validate().into_iter().map(|p| p.path).collect()
    }

    #[test]
    fn a_valid_v4_subnet_has_no_problems() {
        assert_eq!(good().validate(), vec![]);
    }

    #[test]
    fn t1_t2_defaults_follow_rfc2131_s4_4_5() {
        let s = Subnet4::new(1, "192.0.2.0/24".parse().unwrap());
        assert_eq!((s.effective_t1(), s.effective_t2()), (1800, 3150));
    }

    #[test]
    fn a_pool_holding_the_network_or_broadcast_address_is_refused() {
        let mut c = good();
        c.subnets4[0].pools[0].last = Ipv4Addr::new(192, 0, 2, 255);
        assert_eq!(paths(&c), vec!["subnet4[0].pools[0]"]);
    }

    #[test]
    fn every_v4_problem_is_listed_with_its_path() {
        let mut c = good();
        c.subnets
            .push(crate::Subnet::new(4, "2001:db8::/64".parse().unwrap()));
        let mut s2 = Subnet4::new(5, "192.0.2.128/25".parse().unwrap());
        s2.lease_time = 0;
        s2.reservations.push(Reservation4 {
            hw_address: None,
            client_id: None,
            address: Ipv4Addr::new(192, 0, 2, 150),
        });
        c.subnets4.push(s2);
        let got = paths(&c);
        for want in [
            "subnet4[0].id",
            "subnet4[1].subnet",
            "subnet4[1].lease_time",
            "subnet4[1].reservations[0]",
        ] {
            assert!(got.iter().any(|p| p == want), "missing {want} in {got:?}");
        }
    }

    #[test]
    fn two_subnets_share_an_interface_only_as_one_shared_network() {
        let mut c = good();
        c.subnets4[0].interface = Some("eth1".into());
        let mut s2 = Subnet4::new(5, "198.51.100.0/24".parse().unwrap());
        s2.interface = Some("eth1".into());
        c.subnets4.push(s2);
        assert_eq!(paths(&c), vec!["subnet4[1].interface"]);
        for s in &mut c.subnets4 {
            s.shared_network = Some("campus".into());
        }
        assert_eq!(paths(&c), Vec::<String>::new());
    }

    #[test]
    fn ping_check_is_off_by_default_and_its_timeout_must_be_1_to_10000_ms() {
        let mut c = good();
        assert!(!c.subnets4[0].ping_check);
        assert_eq!(c.subnets4[0].ping_timeout_ms, 1000);
        for ok in [1, 1000, 10_000] {
            c.subnets4[0].ping_timeout_ms = ok;
            assert_eq!(paths(&c), Vec::<String>::new(), "{ok} ms");
        }
        for bad in [0, 10_001, u32::MAX] {
            c.subnets4[0].ping_timeout_ms = bad;
            assert_eq!(paths(&c), vec!["subnet4[0].ping_timeout_ms"], "{bad} ms");
        }
    }

    #[test]
    fn a_reservation_inside_a_pool_is_refused() {
        let mut c = good();
        c.subnets4[0].reservations.push(Reservation4 {
            hw_address: Some(vec![2, 0, 0, 0, 0, 1]),
            client_id: None,
            address: Ipv4Addr::new(192, 0, 2, 150),
        });
        assert_eq!(paths(&c), vec!["subnet4[0].reservations[0].address"]);
    }
}
