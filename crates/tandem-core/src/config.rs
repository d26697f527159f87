//! The DHCPv6 server configuration as the core uses it: plain structs, no file format.
//!
//! The binary maps its TOML onto these types and then calls [`ServerConfig::validate`],
//! which lists *every* problem at once, each with a path like `subnet6[1].pools[0]`.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::Ipv6Net;

use crate::config4::{validate4, OptionSet4, Subnet4};
use crate::lease::Duid;
use crate::time::{display_lifetime, lifetime_fraction};

/// Options handed to clients; a subnet's set overrides the global set field by field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OptionSet {
    /// OPTION_DNS_SERVERS (23), RFC 3646.
    pub dns_servers: Vec<Ipv6Addr>,
    /// OPTION_DOMAIN_LIST (24), RFC 3646: plain names like `example.com`.
    pub domain_search: Vec<String>,
    /// OPTION_INFORMATION_REFRESH_TIME (32), RFC 8415 §21.23: sent on Information-request.
    pub information_refresh_time: Option<u32>,
    /// Any other option `(code, payload)`, sent when the client lists `code` in its ORO.
    pub other: Vec<(u16, Vec<u8>)>,
}

impl OptionSet {
    /// `self` with every empty field filled from `fallback` (subnet over global).
    pub fn merged_over(&self, fallback: &OptionSet) -> OptionSet {
        let mut other = self.other.clone();
        for (code, data) in &fallback.other {
            if !other.iter().any(|(c, _)| c == code) {
                other.push((*code, data.clone()));
            }
        }
        OptionSet {
            dns_servers: if self.dns_servers.is_empty() {
                fallback.dns_servers.clone()
            } else {
                self.dns_servers.clone()
            },
            domain_search: if self.domain_search.is_empty() {
                fallback.domain_search.clone()
            } else {
                self.domain_search.clone()
            },
            information_refresh_time: self
                .information_refresh_time
                .or(fallback.information_refresh_time),
            other,
        }
    }
}

/// A range of addresses handed out dynamically, inclusive at both ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressPool {
    pub first: Ipv6Addr,
    pub last: Ipv6Addr,
}

/// A range of DHCPv4 addresses handed out dynamically (RFC 2131 §2.2), inclusive at
/// both ends.
///
/// Every address in the range is a candidate for the allocator: keeping the subnet's
/// network and broadcast addresses out of a pool is the job of configuration validation
/// (which knows the subnet mask; not part of this type yet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressPool4 {
    pub first: Ipv4Addr,
    pub last: Ipv4Addr,
}

/// A prefix split into delegated prefixes of `delegated_len` bits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PdPool {
    pub prefix: Ipv6Net,
    pub delegated_len: u8,
}

/// A fixed address and/or prefix for one client DUID (any IAID).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reservation {
    pub duid: Duid,
    pub address: Option<Ipv6Addr>,
    pub prefix: Option<Ipv6Net>,
}

/// One link (RFC 8415 "link"): its prefix, pools, lifetimes and options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subnet {
    /// Stable id stored in every lease (`Lease::subnet_id`); unique.
    pub id: u32,
    /// The on-link prefix; relayed messages are matched by their link-address in it.
    pub prefix: Ipv6Net,
    /// Name of the directly attached interface, if clients reach us without a relay.
    pub interface: Option<String>,
    pub pools: Vec<AddressPool>,
    pub pd_pools: Vec<PdPool>,
    pub preferred_lifetime: u32,
    pub valid_lifetime: u32,
    /// Renewal time; default 0.5 × preferred lifetime (RFC 8415 §21.4).
    pub t1: Option<u32>,
    /// Rebinding time; default 0.8 × preferred lifetime.
    pub t2: Option<u32>,
    /// Answer a Solicit carrying Rapid Commit with a committing Reply (RFC 8415 §18.3.1).
    pub rapid_commit: bool,
    pub options: OptionSet,
    pub reservations: Vec<Reservation>,
}

impl Subnet {
    /// A subnet with common defaults (1 h preferred, 2 h valid), for tests and tools.
    pub fn new(id: u32, prefix: Ipv6Net) -> Self {
        Subnet {
            id,
            prefix,
            interface: None,
            pools: Vec::new(),
            pd_pools: Vec::new(),
            preferred_lifetime: 3600,
            valid_lifetime: 7200,
            t1: None,
            t2: None,
            rapid_commit: false,
            options: OptionSet::default(),
            reservations: Vec::new(),
        }
    }

    /// T1 actually used: configured, or half the preferred lifetime (infinity when the
    /// preferred lifetime is infinite, RFC 8415 §21.4).
    pub fn effective_t1(&self) -> u32 {
        self.t1
            .unwrap_or(lifetime_fraction(self.preferred_lifetime, 1, 2))
    }

    /// T2 actually used: configured, or 0.8 × preferred lifetime (or infinity).
    pub fn effective_t2(&self) -> u32 {
        self.t2
            .unwrap_or(lifetime_fraction(self.preferred_lifetime, 4, 5))
    }
}

/// Everything the core needs to serve: the DHCPv6 subnets (`subnets`) and the DHCPv4
/// ones (`subnets4`), with what they share (quarantine, affinity, probe budget).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    pub subnets: Vec<Subnet>,
    /// DHCPv4 subnets (RFC 2131); none: the server does not serve DHCPv4.
    pub subnets4: Vec<Subnet4>,
    /// Global DHCPv4 options; each v4 subnet's own options take precedence.
    pub options4: OptionSet4,
    /// Global options; each subnet's own options take precedence.
    pub options: OptionSet,
    /// OPTION_PREFERENCE (7) value put in every Advertise, when set (RFC 8415 §18.3.9).
    pub preference: Option<u8>,
    /// How long a declined address stays ABANDONED; `None` = the subnet's valid lifetime.
    pub decline_quarantine: Option<u32>,
    /// How long an expired/released lease record is kept so the same client gets it back.
    pub affinity_time: u32,
    /// Treat messages the client sent by unicast like multicast ones (labs, loopback
    /// test clients). RFC 8415 §16/§18.4 behaviour when false (the default).
    pub accept_unicast: bool,
    /// Allocation probes per pool per request before the pool counts as full.
    pub probe_budget: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            subnets: Vec::new(),
            subnets4: Vec::new(),
            options4: OptionSet4::default(),
            options: OptionSet::default(),
            preference: None,
            decline_quarantine: None,
            affinity_time: 86_400,
            accept_unicast: false,
            probe_budget: 1024,
        }
    }
}

/// One thing wrong with a configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Where, e.g. `subnet6[1].pools[0]`.
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

fn overlaps(a: &Ipv6Net, b: &Ipv6Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

fn range_overlaps(a: &AddressPool, b: &AddressPool) -> bool {
    a.first <= b.last && b.first <= a.last
}

impl ServerConfig {
    /// Checks the whole configuration and returns every problem found (empty = valid).
    ///
    /// Reservation rule: a reserved address must be inside its subnet's prefix and
    /// *outside* every dynamic pool; a reserved prefix must be outside every PD pool.
    /// That way a reservation can never collide with a dynamic allocation.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        let mut push = |path: String, message: String| p.push(ConfigProblem { path, message });
        if self.probe_budget == 0 {
            push("probe_budget".into(), "must be at least 1".into());
        }
        for (i, s) in self.subnets.iter().enumerate() {
            let at = format!("subnet6[{i}]");
            for (j, other) in self.subnets.iter().enumerate().take(i) {
                if other.id == s.id {
                    push(
                        format!("{at}.id"),
                        format!("id {} already used by subnet6[{j}]", s.id),
                    );
                }
                if overlaps(&other.prefix, &s.prefix) {
                    push(
                        format!("{at}.prefix"),
                        format!("{} overlaps subnet6[{j}] ({})", s.prefix, other.prefix),
                    );
                }
                if s.interface.is_some() && s.interface == other.interface {
                    push(
                        format!("{at}.interface"),
                        format!("interface already serves subnet6[{j}]"),
                    );
                }
            }
            if s.preferred_lifetime > s.valid_lifetime {
                push(
                    format!("{at}.preferred_lifetime"),
                    format!(
                        "preferred lifetime {} exceeds valid lifetime {}",
                        display_lifetime(s.preferred_lifetime),
                        display_lifetime(s.valid_lifetime)
                    ),
                );
            }
            if s.valid_lifetime == 0 {
                push(
                    format!("{at}.valid_lifetime"),
                    "must be greater than 0".into(),
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
            if t2 > s.preferred_lifetime {
                push(
                    format!("{at}.t2"),
                    format!(
                        "T2 {} exceeds preferred lifetime {}",
                        display_lifetime(t2),
                        display_lifetime(s.preferred_lifetime)
                    ),
                );
            }
            for (k, pool) in s.pools.iter().enumerate() {
                let pat = format!("{at}.pools[{k}]");
                if pool.first > pool.last {
                    push(
                        pat.clone(),
                        format!("first {} is after last {}", pool.first, pool.last),
                    );
                }
                if !s.prefix.contains(&pool.first) || !s.prefix.contains(&pool.last) {
                    push(
                        pat.clone(),
                        format!("not inside subnet prefix {}", s.prefix),
                    );
                }
                for (j, other) in s.pools.iter().enumerate().take(k) {
                    if range_overlaps(pool, other) {
                        push(pat.clone(), format!("overlaps {at}.pools[{j}]"));
                    }
                }
            }
            for (k, pd) in s.pd_pools.iter().enumerate() {
                let pat = format!("{at}.pd_pools[{k}]");
                if pd.delegated_len < pd.prefix.prefix_len() || pd.delegated_len > 128 {
                    push(
                        format!("{pat}.delegated_len"),
                        format!(
                            "delegated length {} must be between the pool length {} and 128",
                            pd.delegated_len,
                            pd.prefix.prefix_len()
                        ),
                    );
                }
                if pd.prefix.trunc() != pd.prefix {
                    push(
                        format!("{pat}.prefix"),
                        format!("{} has host bits set", pd.prefix),
                    );
                }
                for (j, other) in s.pd_pools.iter().enumerate().take(k) {
                    if overlaps(&pd.prefix, &other.prefix) {
                        push(pat.clone(), format!("overlaps {at}.pd_pools[{j}]"));
                    }
                }
                // PD pools of other subnets must not overlap either.
                for (oi, os) in self.subnets.iter().enumerate().take(i) {
                    for (oj, other) in os.pd_pools.iter().enumerate() {
                        if overlaps(&pd.prefix, &other.prefix) {
                            push(
                                pat.clone(),
                                format!("overlaps subnet6[{oi}].pd_pools[{oj}]"),
                            );
                        }
                    }
                }
            }
            for (k, r) in s.reservations.iter().enumerate() {
                let rat = format!("{at}.reservations[{k}]");
                if r.duid.is_empty() {
                    push(format!("{rat}.duid"), "empty DUID".into());
                }
                if r.address.is_none() && r.prefix.is_none() {
                    push(
                        rat.clone(),
                        "reserves neither an address nor a prefix".into(),
                    );
                }
                if let Some(a) = r.address {
                    if !s.prefix.contains(&a) {
                        push(
                            format!("{rat}.address"),
                            format!("{a} not inside {}", s.prefix),
                        );
                    }
                    if s.pools.iter().any(|pl| pl.first <= a && a <= pl.last) {
                        push(
                            format!("{rat}.address"),
                            format!("{a} is inside a dynamic pool"),
                        );
                    }
                }
                if let Some(pr) = r.prefix {
                    if s.pd_pools.iter().any(|pd| overlaps(&pd.prefix, &pr)) {
                        push(
                            format!("{rat}.prefix"),
                            format!("{pr} overlaps a prefix pool"),
                        );
                    }
                }
                for (j, other) in s.reservations.iter().enumerate().take(k) {
                    if other.duid == r.duid {
                        push(
                            format!("{rat}.duid"),
                            format!("DUID already reserved in {at}.reservations[{j}]"),
                        );
                    }
                    if r.address.is_some() && other.address == r.address {
                        push(
                            format!("{rat}.address"),
                            format!("address already reserved in {at}.reservations[{j}]"),
                        );
                    }
                    if r.prefix.is_some() && other.prefix == r.prefix {
                        push(
                            format!("{rat}.prefix"),
                            format!("prefix already reserved in {at}.reservations[{j}]"),
                        );
                    }
                }
            }
        }
        let v6_ids: Vec<u32> = self.subnets.iter().map(|s| s.id).collect();
        validate4(&self.subnets4, &v6_ids, &mut p);
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv6Net {
        s.parse().unwrap()
    }

    fn good() -> ServerConfig {
        let mut s = Subnet::new(1, net("2001:db8:1::/64"));
        s.pools.push(AddressPool {
            first: "2001:db8:1::100".parse().unwrap(),
            last: "2001:db8:1::1ff".parse().unwrap(),
        });
        s.pd_pools.push(PdPool {
            prefix: net("2001:db8:100::/40"),
            delegated_len: 56,
        });
        ServerConfig {
            subnets: vec![s],
            ..ServerConfig::default()
        }
    }

    #[test]
    fn valid_config_has_no_problems() {
        assert_eq!(good().validate(), vec![]);
    }

    #[test]
    fn every_problem_is_listed_with_its_path() {
        let mut c = good();
        let mut s2 = Subnet::new(1, net("2001:db8:1::/48"));
        s2.pools.push(AddressPool {
            first: "2001:db8:9::2".parse().unwrap(),
            last: "2001:db8:9::1".parse().unwrap(),
        });
        s2.pd_pools.push(PdPool {
            prefix: net("2001:db8:100::/48"),
            delegated_len: 44,
        });
        s2.preferred_lifetime = 9000;
        s2.reservations.push(Reservation {
            duid: Duid(vec![1]),
            address: Some("2001:db8:1::1".parse().unwrap()),
            prefix: None,
        });
        c.subnets.push(s2);
        let paths: Vec<String> = c.validate().into_iter().map(|p| p.path).collect();
        for want in [
            "subnet6[1].id",
            "subnet6[1].prefix",
            "subnet6[1].preferred_lifetime",
            "subnet6[1].pools[0]",
            "subnet6[1].pd_pools[0].delegated_len",
            "subnet6[1].pd_pools[0]",
        ] {
            assert!(
                paths.iter().any(|p| p == want),
                "missing {want} in {paths:?}"
            );
        }
        // The reservation is inside subnet6[1]'s /48 and outside its pools: fine.
        assert!(!paths
            .iter()
            .any(|p| p.starts_with("subnet6[1].reservations")));
    }

    #[test]
    fn reservation_inside_pool_is_rejected() {
        let mut c = good();
        c.subnets[0].reservations.push(Reservation {
            duid: Duid(vec![1]),
            address: Some("2001:db8:1::150".parse().unwrap()),
            prefix: None,
        });
        let p = c.validate();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].path, "subnet6[0].reservations[0].address");
    }

    #[test]
    fn t1_t2_defaults_follow_rfc8415_s21_4() {
        let s = Subnet::new(1, net("2001:db8::/64"));
        assert_eq!((s.effective_t1(), s.effective_t2()), (1800, 2880));
    }
}
