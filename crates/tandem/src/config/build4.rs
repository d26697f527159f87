//! Stage 2 for DHCPv4: `[[subnet4]]`, `[options4]` and `server.port4`/`listen_address4`
//! checked, and mapped onto the core's `Subnet4` and `OptionSet4`.
//!
//! What needs only the core's types (pools inside their subnet and clear of its network
//! and broadcast addresses, ids unique across both families, reservations outside the
//! pools, one interface per link unless shared) is `tandem_core`'s `validate()`; here is
//! what concerns how the file says things, and what the options mean on a subnet:
//! a router, or a static route's router, outside the subnet a client is on is a problem,
//! since the client cannot reach it.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use tandem_core::config::AddressPool4;
use tandem_core::config4::{DEFAULT_PING_TIMEOUT_MS, MAX_PING_TIMEOUT_MS};
use tandem_core::{OptionSet4, Reservation4, Subnet4};
use tandem_wire::v4::ClasslessRoute;

use super::build::{check_custom_value, check_pool_form, check_pool_names, Problem};
use super::file::{ConfigFile, Options4Section, PoolEntry4, ServerSection, Subnet4Section};

/// The `ping_timeout_ms` values accepted, in `[server]` and `[[subnet4]]` alike (the
/// core checks a subnet's own).
const PING_TIMEOUT_MS: std::ops::RangeInclusive<u32> = 1..=MAX_PING_TIMEOUT_MS;

/// A client identifier is option 61's value: at most 255 octets (RFC 2132 §2).
const MAX_CLIENT_ID: usize = 255;

/// RFC 2132 §5.1: "The minimum legal value for the MTU is 68."
const MIN_MTU: u16 = 68;

/// Why a DHCPv4 option code cannot be a custom option: Pad and End are not options, and
/// tandem sets the others itself, from the key named, or they belong to the client or
/// the relay agent. `None`: the code is free for `[[options4.custom]]`.
pub fn reserved_code4(code: u8) -> Option<&'static str> {
    Some(match code {
        0 => "code 0 is Pad (RFC 2132 §3.1), not an option",
        255 => "code 255 is End (RFC 2132 §3.2), not an option",
        1 => "option 1 (Subnet Mask) is sent from the subnet's prefix length (`subnet`)",
        3 => "option 3 (Router) is set with `routers`",
        6 => "option 6 (Domain Name Server) is set with `dns_servers`",
        15 => "option 15 (Domain Name) is set with `domain_name`",
        26 => "option 26 (Interface MTU) is set with `interface_mtu`",
        42 => "option 42 (NTP Servers) is set with `ntp_servers`",
        50 => "option 50 (Requested IP Address) is the client's (RFC 2132 §9.1)",
        51 => "option 51 (IP Address Lease Time) is set with the subnet's `lease_time`",
        52 => "option 52 (Option Overload) is the message encoder's (RFC 2132 §9.3)",
        53 => "option 53 (DHCP Message Type) is the type of each message tandem sends",
        54 => "option 54 (Server Identifier) is tandem's own address (RFC 2131 §4.3.1)",
        55 => "option 55 (Parameter Request List) is the client's (RFC 2132 §9.8)",
        56 => "option 56 (Message) is the server's error text in a DHCPNAK (RFC 2131 §4.3.2)",
        57 => "option 57 (Maximum DHCP Message Size) is the client's (RFC 2132 §9.10)",
        58 => "option 58 (Renewal Time) is set with the subnet's `t1`",
        59 => "option 59 (Rebinding Time) is set with the subnet's `t2`",
        61 => {
            "option 61 (Client Identifier) is the client's (RFC 2132 §9.14); reserve an \
             address by it with `client_id` in [[subnet4.reservations]]"
        }
        82 => "option 82 (Relay Agent Information) is the relay agent's (RFC 3046)",
        121 => "option 121 (Classless Static Route) is set with `static_routes`",
        _ => return None,
    })
}

/// Every DHCPv4 check of the file; problems and warnings appended.
pub(super) fn check(file: &ConfigFile, problems: &mut Vec<Problem>, warnings: &mut Vec<Problem>) {
    check_server4(file, problems, warnings);
    check_options4(&file.options4, "options4", problems);
    let mut shared: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, s) in file.subnet4.iter().enumerate() {
        let at = format!("subnet4[{i}]");
        super::build::check_listed_interface(file, s.interface.as_deref(), &at, problems);
        if let Some(name) = &s.shared_network {
            if name.trim().is_empty() || name.chars().any(char::is_control) {
                problems.push(Problem::new(
                    format!("{at}.shared_network"),
                    format!(
                        "{name:?} is not a usable shared network name: give visible characters"
                    ),
                ));
            } else {
                shared.entry(name).or_default().push(i);
            }
        }
        for (j, pool) in s.pools.iter().enumerate() {
            check_pool_form(pool, &format!("{at}.pools[{j}]"), problems);
        }
        check_pool_names(
            s.pools.iter().enumerate().map(|(j, p)| {
                (
                    format!("{at}.pools[{j}]"),
                    p.name.as_deref(),
                    p.display_name(),
                )
            }),
            problems,
        );
        check_options4(&s.options, &format!("{at}.options"), problems);
        for (j, r) in s.reservations.iter().enumerate() {
            if r.client_id
                .as_ref()
                .is_some_and(|c| c.len() > MAX_CLIENT_ID)
            {
                problems.push(Problem::new(
                    format!("{at}.reservations[{j}].client_id"),
                    format!("a client identifier is at most {MAX_CLIENT_ID} octets (option 61, RFC 2132 §9.14)"),
                ));
            }
        }
    }
    for (name, members) in &shared {
        if let [only] = members.as_slice() {
            warnings.push(Problem::new(
                format!("subnet4[{only}].shared_network"),
                format!("shared network {name:?} has only this subnet: a shared network is several subnets on one link (a misspelt name?)"),
            ));
        }
    }
    check_gateways(file, problems, warnings);
}

fn check_server4(file: &ConfigFile, problems: &mut Vec<Problem>, warnings: &mut Vec<Problem>) {
    let s = &file.server;
    if let Some(t) = s.ping_timeout_ms.filter(|t| !PING_TIMEOUT_MS.contains(t)) {
        problems.push(Problem::new(
            "server.ping_timeout_ms",
            format!(
                "{t} ms: give 1 to {MAX_PING_TIMEOUT_MS} (a client retransmits its \
                 DHCPDISCOVER after about 4 s, RFC 2131 §4.1)"
            ),
        ));
    }
    if s.port4 == 0 {
        problems.push(Problem::new(
            "server.port4",
            "port 0 would pick a random port no client or relay can know; DHCPv4 is port 67",
        ));
    }
    let a = s.listen_address4;
    if a.is_multicast() || a.is_broadcast() {
        problems.push(Problem::new(
            "server.listen_address4",
            format!(
                "{a} is not an address of this host: give 0.0.0.0 or one of its IPv4 addresses"
            ),
        ));
    } else if !a.is_unspecified() {
        let direct: Vec<String> = file
            .subnet4
            .iter()
            .enumerate()
            .filter(|(_, s)| s.interface.is_some())
            .map(|(i, _)| format!("subnet4[{i}]"))
            .collect();
        if !direct.is_empty() {
            warnings.push(Problem::new(
                "server.listen_address4",
                format!(
                    "directly attached clients ({}) broadcast to 255.255.255.255, which a socket bound to {a} does not receive; leave listen_address4 at 0.0.0.0 unless every DHCPv4 client is relayed",
                    direct.join(", ")
                ),
            ));
        }
    }
}

/// The checks of one options section that do not depend on the subnet it is given to.
fn check_options4(o: &Options4Section, at: &str, problems: &mut Vec<Problem>) {
    for (key, list) in [
        ("routers", &o.routers),
        ("dns_servers", &o.dns_servers),
        ("ntp_servers", &o.ntp_servers),
    ] {
        for (k, a) in list.iter().flatten().enumerate() {
            if !is_unicast(*a) {
                problems.push(Problem::new(
                    format!("{at}.{key}[{k}]"),
                    format!("{a} is not a unicast address"),
                ));
            }
        }
    }
    if let Some(name) = &o.domain_name {
        if let Err(e) = check_domain_name(name) {
            problems.push(Problem::new(format!("{at}.domain_name"), e));
        }
    }
    if let Some(mtu) = o.interface_mtu.filter(|m| *m < MIN_MTU) {
        problems.push(Problem::new(
            format!("{at}.interface_mtu"),
            format!("{mtu} is below the smallest MTU, {MIN_MTU} (RFC 2132 §5.1)"),
        ));
    }
    for (k, r) in o.static_routes.iter().flatten().enumerate() {
        let rat = format!("{at}.static_routes[{k}]");
        let d = r.destination;
        if d.trunc() != d {
            problems.push(Problem::new(
                format!("{rat}.destination"),
                format!("{d} has host bits set (the network is {})", d.trunc()),
            ));
        }
        if !is_unicast(r.router) {
            problems.push(Problem::new(
                format!("{rat}.router"),
                format!("{} is not a unicast address", r.router),
            ));
        }
        let earlier = o.static_routes.iter().flatten().take(k);
        if let Some(j) = earlier
            .map(|e| e.destination.trunc())
            .position(|e| e == d.trunc())
        {
            problems.push(Problem::new(
                format!("{rat}.destination"),
                format!("{} is routed twice (also {at}.static_routes[{j}]): give one router per destination", d.trunc()),
            ));
        }
    }
    let mut codes: HashMap<u8, usize> = HashMap::new();
    for (k, c) in o.custom.iter().enumerate() {
        let cat = format!("{at}.custom[{k}]");
        check_custom_value(c, &cat, problems);
        if let Some(why) = reserved_code4(c.code) {
            problems.push(Problem::new(
                format!("{cat}.code"),
                format!("{why}; it cannot be a custom option"),
            ));
        }
        if let Some(j) = codes.insert(c.code, k) {
            problems.push(Problem::new(
                format!("{cat}.code"),
                format!(
                    "option {} is already given in {at}.custom[{j}]: one value per option",
                    c.code
                ),
            ));
        }
    }
}

/// Not 0.0.0.0, 255.255.255.255 or multicast: something a client can send to.
fn is_unicast(a: Ipv4Addr) -> bool {
    !(a.is_unspecified() || a.is_broadcast() || a.is_multicast())
}

/// A domain name as option 15 carries it (RFC 2132 §3.17, names per RFC 1035 §2.3.4):
/// labels of letters, digits, '-' and '_', 1 to 63 octets each, 253 in all.
fn check_domain_name(name: &str) -> Result<(), String> {
    let bare = name.strip_suffix('.').unwrap_or(name);
    let good = !bare.is_empty()
        && bare.len() <= 253
        && bare.split('.').all(|l| {
            (1..=63).contains(&l.len())
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if good {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a domain name (dot-separated labels of letters, digits and '-', 1 to 63 characters each, 253 in all)"
        ))
    }
}

/// Where a subnet's routers and static routes come from: its own options, or `[options4]`.
struct Inherited<'a, T> {
    /// The key in the file, e.g. `subnet4[1].options.routers` or `options4.routers`.
    path: String,
    items: &'a [T],
}

fn effective<'a, T>(
    own: &'a Option<Vec<T>>,
    global: &'a Option<Vec<T>>,
    at: &str,
    key: &str,
) -> Inherited<'a, T> {
    match own.as_deref() {
        Some(items) if !items.is_empty() => Inherited {
            path: format!("{at}.options.{key}"),
            items,
        },
        _ => Inherited {
            path: format!("options4.{key}"),
            items: global.as_deref().unwrap_or_default(),
        },
    }
}

/// Each router (option 3) and each static route's router (option 121) a subnet hands out
/// must be a host address of that subnet: a client reaches a next hop only on its own
/// subnet. A router the subnet takes from `[options4]` is reported there, naming every
/// subnet it is outside of. Also warns when static routes would make clients drop their
/// default route (RFC 3442: a client that takes option 121 ignores option 3).
fn check_gateways(file: &ConfigFile, problems: &mut Vec<Problem>, warnings: &mut Vec<Problem>) {
    // (path of the address in the file) -> the subnets it is outside of.
    let mut outside: BTreeMap<String, (Ipv4Addr, Vec<String>)> = BTreeMap::new();
    let mut no_default: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let g = &file.options4;
    for (i, s) in file.subnet4.iter().enumerate() {
        let at = format!("subnet4[{i}]");
        let name = format!("{at} ({})", s.subnet);
        let routers = effective(&s.options.routers, &g.routers, &at, "routers");
        let routes = effective(
            &s.options.static_routes,
            &g.static_routes,
            &at,
            "static_routes",
        );
        let mut note = |path: String, a: Ipv4Addr| {
            // Not unicast at all: reported with its section already.
            if is_unicast(a) && !is_host_of(&s.subnet, a) {
                outside
                    .entry(path)
                    .or_insert((a, Vec::new()))
                    .1
                    .push(name.clone());
            }
        };
        for (k, a) in routers.items.iter().enumerate() {
            note(format!("{}[{k}]", routers.path), *a);
        }
        for (k, r) in routes.items.iter().enumerate() {
            note(format!("{}[{k}].router", routes.path), r.router);
        }
        let has_default = routes.items.iter().any(|r| r.destination.prefix_len() == 0);
        if !routes.items.is_empty() && !routers.items.is_empty() && !has_default {
            no_default
                .entry(routes.path.clone())
                .or_default()
                .push(name.clone());
        }
    }
    for (path, (a, subnets)) in outside {
        let message = if path.starts_with("options4") {
            format!(
                "{a} is not a host address of {}, which take{} it from [options4]: a client reaches a router only on its own subnet; give {} its own value in [subnet4.options]",
                subnets.join(", "),
                if subnets.len() == 1 { "s" } else { "" },
                if subnets.len() == 1 { "that subnet" } else { "each subnet" },
            )
        } else {
            format!(
                "{a} is not a host address of {}: a client reaches a router only on its own subnet",
                subnets.join(", ")
            )
        };
        problems.push(Problem::new(path, message));
    }
    for (path, subnets) in no_default {
        warnings.push(Problem::new(
            path,
            format!(
                "clients of {} that take option 121 ignore the routers of option 3 (RFC 3442), and these routes have no default route: add {{ destination = \"0.0.0.0/0\", router = ... }}",
                subnets.join(", ")
            ),
        ));
    }
}

/// Inside `net`, and neither its network nor its broadcast address.
fn is_host_of(net: &Ipv4Net, a: Ipv4Addr) -> bool {
    net.contains(&a) && a != net.network() && a != net.broadcast()
}

/// One `[[subnet4]]` as the core has it. Pools of the wrong form (already reported) still
/// map to a placeholder, so the core's paths keep the file's indexes.
pub(super) fn subnet_to_core(s: &Subnet4Section, server: &ServerSection) -> Subnet4 {
    // An out-of-range `server.ping_timeout_ms` is reported there (check_server4); the
    // subnets that inherit it get the default, so the problem is told once.
    let inherited_timeout = server
        .ping_timeout_ms
        .filter(|t| PING_TIMEOUT_MS.contains(t))
        .unwrap_or(DEFAULT_PING_TIMEOUT_MS);
    Subnet4 {
        ping_check: s.ping_check.unwrap_or(server.ping_check),
        ping_timeout_ms: s.ping_timeout_ms.unwrap_or(inherited_timeout),
        id: s.id,
        subnet: s.subnet,
        interface: s.interface.clone(),
        shared_network: s.shared_network.clone(),
        pools: s.pools.iter().map(|p| pool_to_core(p, &s.subnet)).collect(),
        lease_time: s.lease_time,
        t1: s.t1,
        t2: s.t2,
        options: options_to_core(&s.options),
        reservations: s
            .reservations
            .iter()
            .map(|r| Reservation4 {
                hw_address: r.hw_address.clone(),
                client_id: r.client_id.clone(),
                address: r.address,
            })
            .collect(),
    }
}

/// `first-last` as given; `{ prefix }` is every address in it except the subnet's
/// network and broadcast addresses, which no client may have.
fn pool_to_core(p: &PoolEntry4, subnet: &Ipv4Net) -> AddressPool4 {
    if let Some(prefix) = p.prefix {
        let (mut first, mut last) = (prefix.network(), prefix.broadcast());
        if first == subnet.network() && first < last {
            first = Ipv4Addr::from(u32::from(first) + 1);
        }
        if last == subnet.broadcast() && first < last {
            last = Ipv4Addr::from(u32::from(last) - 1);
        }
        return AddressPool4 { first, last };
    }
    let placeholder = subnet.network();
    AddressPool4 {
        first: p.first.or(p.last).unwrap_or(placeholder),
        last: p.last.or(p.first).unwrap_or(placeholder),
    }
}

/// `[options4]` or `[subnet4.options]` as the core has it.
pub(super) fn options_to_core(o: &Options4Section) -> OptionSet4 {
    OptionSet4 {
        routers: o.routers.clone().unwrap_or_default(),
        dns_servers: o.dns_servers.clone().unwrap_or_default(),
        domain_name: o.domain_name.clone(),
        ntp_servers: o.ntp_servers.clone().unwrap_or_default(),
        interface_mtu: o.interface_mtu,
        classless_routes: o
            .static_routes
            .iter()
            .flatten()
            .filter_map(|r| {
                ClasslessRoute::new(
                    r.destination.network(),
                    r.destination.prefix_len(),
                    r.router,
                )
            })
            .collect(),
        other: o.custom.iter().map(|c| (c.code, c.payload())).collect(),
    }
}
