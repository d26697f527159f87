//! Translating the common subset of an ISC dhcpd 4.4 dhcpd.conf (dhcpd.conf(5)) into
//! tandem's TOML (crates/tandem/src/config/file.rs has every key).
//!
//! Translated: `subnet X netmask Y { }` (its `range`s, `pool { range ...; failover
//! peer "x"; }`, options, `default-lease-time`) → `[[subnet4]]`; `shared-network NAME {
//! }` → `shared_network = NAME` on each of its subnets; the global options and
//! `default-lease-time` → `[options4]` and every subnet's `lease_time`; `host NAME {
//! hardware ethernet; fixed-address; option dhcp-client-identifier; }` →
//! `[[subnet4.reservations]]` of the subnet holding the address; `failover peer "NAME" {
//! }` → `[failover]` with `[failover.tls] insecure = true` (dhcpd's failover link has no
//! TLS, draft-ietf-dhc-failover-12 as dhcpd implements it never negotiates it).
//! Options: routers (3), domain-name-servers (6), domain-name (15), interface-mtu (26),
//! ntp-servers (42), dhcp-renewal-time (58) / dhcp-rebinding-time (59) as t1/t2.
//!
//! Everything else (classes, `if`, `on` events, `ddns-*`, unknown options, `allow` /
//! `deny`, per-pool options, `max-lease-time` ...) is listed in the report with its
//! line, and so is what the output needs from the operator: tandem names the interface
//! of each directly attached subnet (dhcpd finds it from the interface addresses), so
//! each `[[subnet4]]` gets `interface = "CHANGE-ME-n"`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::leases::colon_hex;
use super::lexer::{self, Pos, Stmt, SyntaxError, Tok};

/// dhcpd's default `default-lease-time` when the file has none (12 hours, dhcpd.conf(5)).
pub const DHCPD_DEFAULT_LEASE_TIME: u32 = 43_200;
/// The interface placeholder every `[[subnet4]]` gets.
pub const PLACEHOLDER: &str = "CHANGE-ME";

/// The output and what to tell the operator.
#[derive(Debug, Default)]
pub struct Translation {
    pub toml: String,
    /// `LINE: message`, in file order.
    pub report: Vec<String>,
    /// The interface placeholders written (each to be replaced, or the line deleted for
    /// a subnet reached only through relays).
    pub placeholders: Vec<String>,
}

#[derive(Debug, Default, Clone)]
struct Options {
    routers: Option<Vec<Ipv4Addr>>,
    dns: Option<Vec<Ipv4Addr>>,
    domain: Option<String>,
    ntp: Option<Vec<Ipv4Addr>>,
    mtu: Option<u16>,
    t1: Option<u32>,
    t2: Option<u32>,
    lease_time: Option<u32>,
}

#[derive(Debug)]
struct Subnet {
    net: Ipv4Net,
    shared: Option<String>,
    pools: Vec<(Ipv4Addr, Ipv4Addr)>,
    opts: Options,
    reservations: Vec<Host>,
    line: usize,
}

#[derive(Debug, Clone)]
struct Host {
    name: String,
    hw: Option<Vec<u8>>,
    client_id: Option<Vec<u8>>,
    address: Option<Ipv4Addr>,
    line: usize,
}

#[derive(Debug, Default)]
struct Failover {
    name: String,
    role: Option<&'static str>,
    address: Option<String>,
    port: Option<u16>,
    peer_address: Option<String>,
    peer_port: Option<u16>,
    mrd: Option<u32>,
    max_unacked: Option<u32>,
    mclt: Option<u32>,
    split: Option<u16>,
    hba: Option<Vec<u8>>,
    auto_partner_down: Option<u32>,
}

#[derive(Default)]
struct Tr {
    report: Vec<(usize, String)>,
    global: Options,
    subnets: Vec<Subnet>,
    hosts: Vec<Host>,
    failover: Option<Failover>,
    /// Pools naming a failover peer, by peer, and pools naming none.
    pool_peers: Vec<(usize, Option<String>)>,
}

impl Tr {
    fn note(&mut self, pos: Pos, m: impl Into<String>) {
        self.report.push((pos.line, m.into()));
    }
    fn untranslated(&mut self, s: &Stmt, context: &str) {
        let m = format!("not translated{context}: {}", s.text());
        self.note(s.pos, m);
    }
}

fn err(pos: Pos, m: impl Into<String>) -> SyntaxError {
    SyntaxError::new(pos, m)
}

fn addr(s: &Stmt, i: usize) -> Result<Ipv4Addr, SyntaxError> {
    s.word(i)
        .and_then(|w| w.parse().ok())
        .ok_or_else(|| err(s.pos_of(i), "expecting an IPv4 address"))
}

fn num<T: std::str::FromStr>(s: &Stmt, i: usize) -> Result<T, SyntaxError> {
    if s.words.len() != i + 1 {
        return Err(err(s.pos_of(i), "expecting one number"));
    }
    s.word(i)
        .and_then(|w| w.parse().ok())
        .ok_or_else(|| err(s.pos_of(i), "expecting a number"))
}

/// Comma-separated addresses from word `i` on; None if one is a host name (dhcpd would
/// resolve it at startup; tandem takes addresses only).
fn addr_list(s: &Stmt, i: usize) -> Result<Option<Vec<Ipv4Addr>>, SyntaxError> {
    let mut out = Vec::new();
    let mut want_addr = true;
    for t in &s.words[i..] {
        match (&t.tok, want_addr) {
            (Tok::Word(w), true) => match w.parse() {
                Ok(a) => out.push(a),
                Err(_) => return Ok(None),
            },
            (Tok::Comma, false) => {}
            _ => return Err(err(t.pos, "expecting a comma-separated list of addresses")),
        }
        want_addr = !want_addr;
    }
    if out.is_empty() || want_addr {
        return Err(err(
            s.pos_of(i),
            "expecting a comma-separated list of addresses",
        ));
    }
    Ok(Some(out))
}

fn string_arg(s: &Stmt, i: usize) -> Result<String, SyntaxError> {
    match s.words.get(i).map(|t| &t.tok) {
        Some(Tok::Str(b)) if s.words.len() == i + 1 => Ok(String::from_utf8_lossy(b).into()),
        _ => Err(err(s.pos_of(i), "expecting one quoted string")),
    }
}

/// `option NAME ...;` into `o`; false when the option is not one tandem has a key for.
fn option(tr: &mut Tr, s: &Stmt, o: &mut Options, context: &str) -> Result<(), SyntaxError> {
    let name = s.word(1).unwrap_or("");
    let list = |o: &mut Option<Vec<Ipv4Addr>>, tr: &mut Tr| -> Result<(), SyntaxError> {
        match addr_list(s, 2)? {
            Some(v) => *o = Some(v),
            None => tr.note(
                s.pos,
                format!(
                    "not translated{context} (host names, not addresses): {}",
                    s.text()
                ),
            ),
        }
        Ok(())
    };
    match name {
        "routers" => list(&mut o.routers, tr)?,
        "domain-name-servers" => list(&mut o.dns, tr)?,
        "ntp-servers" => list(&mut o.ntp, tr)?,
        "domain-name" => o.domain = Some(string_arg(s, 2)?),
        "interface-mtu" => o.mtu = Some(num(s, 2)?),
        "dhcp-renewal-time" => o.t1 = Some(num(s, 2)?),
        "dhcp-rebinding-time" => o.t2 = Some(num(s, 2)?),
        // Sent from the subnet's prefix length anyway.
        "subnet-mask" => {}
        _ => tr.untranslated(s, context),
    }
    Ok(())
}

/// The statements every scope may hold that set parameters; true if `s` was one.
fn parameter(tr: &mut Tr, s: &Stmt, o: &mut Options, context: &str) -> Result<bool, SyntaxError> {
    match s.word(0) {
        Some("option") if s.block.is_none() => option(tr, s, o, context)?,
        Some("default-lease-time") => o.lease_time = Some(num(s, 1)?),
        Some("max-lease-time") | Some("min-lease-time") => tr.note(
            s.pos,
            format!(
                "not translated{context}: {} (tandem gives every client the subnet's lease_time)",
                s.text()
            ),
        ),
        _ => return Ok(false),
    }
    Ok(true)
}

/// Translates `text`; a syntax error (line:column) or a malformed translated statement
/// stops it.
pub fn translate(text: &str) -> Result<Translation, SyntaxError> {
    let stmts = lexer::parse(text)?;
    let mut tr = Tr::default();
    let mut global = Options::default();
    for s in &stmts {
        top(&mut tr, s, &mut global, None)?;
    }
    tr.global = global;
    place_hosts(&mut tr);
    check_pool_peers(&mut tr);
    Ok(emit(tr))
}

/// A statement at the top level (or in a `group` / `shared-network`, `shared` naming it).
fn top(
    tr: &mut Tr,
    s: &Stmt,
    global: &mut Options,
    shared: Option<&str>,
) -> Result<(), SyntaxError> {
    let ctx = match shared {
        Some(n) => format!(" (in shared-network {n})"),
        None => String::new(),
    };
    match s.word(0) {
        Some("subnet") if s.block.is_some() => subnet(tr, s, shared, global)?,
        Some("shared-network") if s.block.is_some() => {
            let name = match s.words.get(1).map(|t| &t.tok) {
                Some(Tok::Str(b)) => String::from_utf8_lossy(b).into_owned(),
                Some(Tok::Word(w)) => w.clone(),
                _ => return Err(err(s.pos_of(1), "expecting the shared network's name")),
            };
            let first = tr.subnets.len();
            let mut inner = Options::default();
            let mut loose_pools = Vec::new();
            for st in s.block.as_deref().unwrap_or_default() {
                if st.word(0) == Some("pool") && st.block.is_some() {
                    loose_pools.push(st);
                    continue;
                }
                if !parameter(tr, st, &mut inner, &format!(" (in shared-network {name})"))? {
                    top(tr, st, global, Some(&name))?;
                }
            }
            // The shared network's own parameters apply to its subnets where they say
            // nothing themselves (dhcpd's scoping).
            for sub in &mut tr.subnets[first..] {
                inherit(&mut sub.opts, &inner);
            }
            for p in loose_pools {
                pool(tr, p, None, first)?;
            }
        }
        Some("host") if s.block.is_some() => {
            let h = host(tr, s)?;
            tr.hosts.push(h);
        }
        Some("group") if s.block.is_some() => {
            tr.note(
                s.pos,
                "group: its subnets and hosts are translated, its parameters are not",
            );
            let mut ignored = Options::default();
            for st in s.block.as_deref().unwrap_or_default() {
                if parameter(tr, st, &mut ignored, " (in a group)")? {
                    tr.note(
                        st.pos,
                        format!("not applied (group parameter): {}", st.text()),
                    );
                    continue;
                }
                top(tr, st, global, shared)?;
            }
        }
        Some("failover") if s.starts_with(&["failover", "peer"]) && s.block.is_some() => {
            let f = failover(tr, s)?;
            if tr.failover.is_some() {
                tr.note(
                    s.pos,
                    format!(
                        "not translated: a second failover peer \"{}\" (tandem has one relationship)",
                        f.name
                    ),
                );
            } else {
                tr.failover = Some(f);
            }
        }
        _ => {
            if shared.is_none() && parameter(tr, s, global, "")? {
                return Ok(());
            }
            tr.untranslated(s, &ctx);
        }
    }
    Ok(())
}

fn inherit(o: &mut Options, from: &Options) {
    macro_rules! fill {
        ($($f:ident),*) => {$( if o.$f.is_none() { o.$f = from.$f.clone(); } )*};
    }
    fill!(routers, dns, domain, ntp, mtu, t1, t2, lease_time);
}

fn subnet(
    tr: &mut Tr,
    s: &Stmt,
    shared: Option<&str>,
    _global: &Options,
) -> Result<(), SyntaxError> {
    let net_addr = addr(s, 1)?;
    if s.word(2) != Some("netmask") || s.words.len() != 4 {
        return Err(err(
            s.pos_of(2),
            "expecting `subnet A.B.C.D netmask W.X.Y.Z {`",
        ));
    }
    let mask = addr(s, 3)?;
    let len = u32::from(mask).leading_ones() as u8;
    if u32::from(mask).count_ones() != u32::from(len) {
        return Err(err(s.pos_of(3), format!("{mask} is not a netmask")));
    }
    let net = Ipv4Net::new(net_addr, len).map_err(|e| err(s.pos_of(3), e.to_string()))?;
    let index = tr.subnets.len();
    tr.subnets.push(Subnet {
        net: net.trunc(),
        shared: shared.map(str::to_string),
        pools: Vec::new(),
        opts: Options::default(),
        reservations: Vec::new(),
        line: s.pos.line,
    });
    let ctx = format!(" (in subnet {net})");
    for st in s.block.as_deref().unwrap_or_default() {
        let mut o = std::mem::take(&mut tr.subnets[index].opts);
        let was = parameter(tr, st, &mut o, &ctx)?;
        tr.subnets[index].opts = o;
        if was {
            continue;
        }
        match st.word(0) {
            Some("range") => {
                let r = range(tr, st)?;
                tr.subnets[index].pools.push(r);
                tr.pool_peers.push((st.pos.line, None));
            }
            Some("pool") if st.block.is_some() => pool(tr, st, Some(index), index)?,
            Some("host") if st.block.is_some() => {
                let h = host(tr, st)?;
                tr.hosts.push(h);
            }
            _ => tr.untranslated(st, &ctx),
        }
    }
    Ok(())
}

/// `range [dynamic-bootp] A [B];`
fn range(tr: &mut Tr, s: &Stmt) -> Result<(Ipv4Addr, Ipv4Addr), SyntaxError> {
    let mut i = 1;
    if s.word(1) == Some("dynamic-bootp") {
        tr.note(
            s.pos,
            "dynamic-bootp: translated as an ordinary range (tandem has no BOOTP)",
        );
        i = 2;
    }
    let a = addr(s, i)?;
    let b = if s.words.len() > i + 1 {
        addr(s, i + 1)?
    } else {
        a
    };
    if s.words.len() > i + 2 {
        return Err(err(s.pos_of(i + 2), "expecting `;` after the range"));
    }
    Ok((a.min(b), a.max(b)))
}

/// `pool { range ...; failover peer "x"; ... }`; in a shared network (`subnet` None)
/// each range goes to the subnet of the shared network (from `first` on) holding it.
fn pool(tr: &mut Tr, s: &Stmt, subnet: Option<usize>, first: usize) -> Result<(), SyntaxError> {
    let mut peer = None;
    let mut ranges = Vec::new();
    for st in s.block.as_deref().unwrap_or_default() {
        match st.word(0) {
            Some("range") => ranges.push((range(tr, st)?, st.pos)),
            Some("failover") if st.starts_with(&["failover", "peer"]) => {
                peer = Some(string_arg(st, 2).or_else(|_| {
                    st.word(2)
                        .map(str::to_string)
                        .ok_or_else(|| err(st.pos_of(2), "expecting the peer's name"))
                })?);
            }
            Some("allow" | "deny") => tr.note(
                st.pos,
                format!(
                    "not translated (in a pool): {} (tandem serves every client from every pool)",
                    st.text()
                ),
            ),
            _ => tr.untranslated(st, " (in a pool; tandem has no per-pool parameters)"),
        }
    }
    for ((a, b), pos) in ranges {
        let target = subnet.or_else(|| {
            tr.subnets[first..]
                .iter()
                .position(|sn| sn.net.contains(&a) && sn.net.contains(&b))
                .map(|i| i + first)
        });
        match target {
            Some(i) => {
                tr.subnets[i].pools.push((a, b));
                tr.pool_peers.push((pos.line, peer.clone()));
            }
            None => tr.note(
                pos,
                format!("not translated: range {a} {b} is in no subnet"),
            ),
        }
    }
    Ok(())
}

fn host(tr: &mut Tr, s: &Stmt) -> Result<Host, SyntaxError> {
    let name = s.words.get(1).map(|t| t.text()).unwrap_or_default();
    let mut h = Host {
        name: name.trim_matches('"').to_string(),
        hw: None,
        client_id: None,
        address: None,
        line: s.pos.line,
    };
    let ctx = format!(" (in host {})", h.name);
    for st in s.block.as_deref().unwrap_or_default() {
        match st.word(0) {
            Some("hardware") => {
                if st.word(1) != Some("ethernet") {
                    tr.untranslated(st, &ctx);
                    continue;
                }
                h.hw = Some(
                    st.word(2)
                        .and_then(colon_hex)
                        .filter(|_| st.words.len() == 3)
                        .ok_or_else(|| err(st.pos_of(2), "expecting a hardware address"))?,
                );
            }
            Some("fixed-address") => match addr_list(st, 1)? {
                Some(v) => {
                    if v.len() > 1 {
                        tr.note(
                            st.pos,
                            format!(
                                "host {}: several fixed addresses; the one in a configured subnet is used",
                                h.name
                            ),
                        );
                    }
                    // The first is kept here; place_hosts picks the one in a subnet.
                    h.address = v.first().copied();
                    if v.len() > 1 {
                        tr.hosts.extend(v[1..].iter().map(|a| Host {
                            address: Some(*a),
                            ..h.clone()
                        }));
                    }
                }
                None => tr.note(
                    st.pos,
                    format!(
                        "not translated{ctx}: fixed-address by host name: {}",
                        st.text()
                    ),
                ),
            },
            Some("option") if st.word(1) == Some("dhcp-client-identifier") => {
                h.client_id = Some(match st.words.get(2).map(|t| &t.tok) {
                    // dhcpd compares a quoted identifier's bytes with option 61 as sent.
                    Some(Tok::Str(b)) => b.clone(),
                    Some(Tok::Word(w)) => colon_hex(w)
                        .ok_or_else(|| err(st.pos_of(2), "expecting hex or a string"))?,
                    _ => return Err(err(st.pos_of(2), "expecting hex or a string")),
                });
            }
            _ => tr.untranslated(st, &ctx),
        }
    }
    Ok(h)
}

/// Every host into the subnet holding its address.
fn place_hosts(tr: &mut Tr) {
    let hosts = std::mem::take(&mut tr.hosts);
    // Hosts with several addresses appear once per address: keep the one in a subnet.
    let mut placed_names: Vec<(usize, String)> = Vec::new();
    for h in hosts {
        let Some(a) = h.address else {
            tr.report.push((
                h.line,
                format!(
                    "not translated: host {} has no fixed-address (a class member or a deny \
                     entry in dhcpd, not a reservation)",
                    h.name
                ),
            ));
            continue;
        };
        if h.hw.is_none() && h.client_id.is_none() {
            tr.report.push((
                h.line,
                format!(
                    "not translated: host {} names no hardware address or client identifier",
                    h.name
                ),
            ));
            continue;
        }
        if placed_names.contains(&(h.line, h.name.clone())) {
            continue;
        }
        match tr.subnets.iter().position(|s| s.net.contains(&a)) {
            Some(i) => {
                placed_names.push((h.line, h.name.clone()));
                tr.subnets[i].reservations.push(h);
            }
            None => tr.report.push((
                h.line,
                format!(
                    "not translated: host {} fixed-address {a} is in no subnet",
                    h.name
                ),
            )),
        }
    }
}

fn check_pool_peers(tr: &mut Tr) {
    let name = tr.failover.as_ref().map(|f| f.name.clone());
    let mut notes = Vec::new();
    for (line, peer) in &tr.pool_peers {
        match (peer, &name) {
            (Some(p), Some(n)) if p == n => {}
            (Some(p), _) => notes.push((
                *line,
                format!(
                    "pool names failover peer \"{p}\", which is not the [failover] relationship"
                ),
            )),
            (None, Some(n)) => notes.push((
                *line,
                format!(
                    "range outside a pool with failover peer \"{n}\": tandem shares every pool \
                     of the pair, dhcpd did not share this one"
                ),
            )),
            (None, None) => {}
        }
    }
    tr.report.extend(notes);
}

fn failover(tr: &mut Tr, s: &Stmt) -> Result<Failover, SyntaxError> {
    let name = match s.words.get(2).map(|t| &t.tok) {
        Some(Tok::Str(b)) => String::from_utf8_lossy(b).into_owned(),
        Some(Tok::Word(w)) => w.clone(),
        _ => return Err(err(s.pos_of(2), "expecting the failover peer's name")),
    };
    let mut f = Failover {
        name,
        ..Failover::default()
    };
    if s.words.len() > 3 {
        // `failover peer "x" state { }` belongs in the lease file, not here.
        tr.untranslated(s, "");
        return Ok(f);
    }
    let ctx = format!(" (in failover peer \"{}\")", f.name);
    for st in s.block.as_deref().unwrap_or_default() {
        let w: Vec<&str> = st.words.iter().filter_map(|t| t.word()).collect();
        match w.as_slice() {
            ["primary"] => f.role = Some("primary"),
            ["secondary"] => f.role = Some("secondary"),
            ["address", a] => f.address = Some(a.to_string()),
            ["peer", "address", a] => f.peer_address = Some(a.to_string()),
            ["port", _] => f.port = Some(num(st, 1)?),
            ["peer", "port", _] => f.peer_port = Some(num(st, 2)?),
            ["max-response-delay", _] => f.mrd = Some(num(st, 1)?),
            ["max-unacked-updates", _] => f.max_unacked = Some(num(st, 1)?),
            ["mclt", _] => f.mclt = Some(num(st, 1)?),
            ["split", _] => {
                let v: u16 = num(st, 1)?;
                if v > 256 {
                    return Err(err(st.pos_of(1), "split is 0 to 256"));
                }
                f.split = Some(v);
            }
            ["hba", h] => {
                let b = colon_hex(h)
                    .filter(|b| b.len() == 32)
                    .ok_or_else(|| err(st.pos_of(1), "hba is 32 bytes of colon hex"))?;
                f.hba = Some(b);
            }
            ["auto-partner-down", _] => f.auto_partner_down = Some(num(st, 1)?),
            ["load", "balance", "max", "seconds", v] => {
                if *v != "3" {
                    tr.note(
                        st.pos,
                        format!(
                            "not translated{ctx}: {} (tandem answers every DHCPDISCOVER after \
                             3 s, dhcpd's default)",
                            st.text()
                        ),
                    );
                }
            }
            _ => tr.untranslated(st, &ctx),
        }
    }
    Ok(f)
}

fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn addrs(v: &[Ipv4Addr]) -> String {
    let items: Vec<String> = v.iter().map(|a| q(&a.to_string())).collect();
    format!("[{}]", items.join(", "))
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn emit_options(out: &mut String, o: &Options) {
    if let Some(v) = &o.routers {
        let _ = writeln!(out, "routers = {}", addrs(v));
    }
    if let Some(v) = &o.dns {
        let _ = writeln!(out, "dns_servers = {}", addrs(v));
    }
    if let Some(v) = &o.domain {
        let _ = writeln!(out, "domain_name = {}", q(v));
    }
    if let Some(v) = &o.ntp {
        let _ = writeln!(out, "ntp_servers = {}", addrs(v));
    }
    if let Some(v) = o.mtu {
        let _ = writeln!(out, "interface_mtu = {v}");
    }
}

fn has_options(o: &Options) -> bool {
    o.routers.is_some()
        || o.dns.is_some()
        || o.domain.is_some()
        || o.ntp.is_some()
        || o.mtu.is_some()
}

fn emit(mut tr: Tr) -> Translation {
    let mut out = String::new();
    let mut placeholders = Vec::new();
    // One placeholder per link: the subnets of a shared network share one.
    let mut link_names: BTreeMap<String, String> = BTreeMap::new();
    for (i, s) in tr.subnets.iter().enumerate() {
        let key = s.shared.clone().unwrap_or_else(|| format!("#{i}"));
        let n = link_names.len() + 1;
        link_names
            .entry(key)
            .or_insert_with(|| format!("{PLACEHOLDER}-{n}"));
    }
    for v in link_names.values() {
        if !placeholders.contains(v) {
            placeholders.push(v.clone());
        }
    }
    placeholders.sort();
    let _ = writeln!(
        out,
        "# Translated from dhcpd.conf by `tandem migrate dhcpd-conf`: check the report it\n\
         # printed, replace every {PLACEHOLDER}-n with the interface the subnet's clients\n\
         # are on (or delete the subnet's `interface` line, and the name here, if it is\n\
         # reached through relays only), then run `tandem check-config` on this file.\n"
    );
    let _ = writeln!(out, "[server]");
    let _ = writeln!(
        out,
        "interfaces = [{}]",
        placeholders
            .iter()
            .map(|p| q(p))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(out, "data_dir = \"/var/lib/tandem\"");
    tr.report.push((
        0,
        "data_dir = \"/var/lib/tandem\" (the packaged default) was chosen: dhcpd.conf has none"
            .into(),
    ));
    out.push('\n');

    // Global routers: only where every router is inside the subnet (a client cannot
    // reach another, and tandem refuses it); so they go to the subnets, not [options4].
    let global_routers = tr.global.routers.take();
    if has_options(&tr.global) {
        let _ = writeln!(out, "[options4]");
        emit_options(&mut out, &tr.global);
        out.push('\n');
    }

    if let Some(f) = &tr.failover {
        let _ = writeln!(out, "# dhcpd's `failover peer {}`.", q(&f.name));
        let _ = writeln!(out, "[failover]");
        let _ = writeln!(out, "relationship = {}", q(&f.name));
        let _ = writeln!(out, "role = {}", q(f.role.unwrap_or("primary")));
        if f.role.is_none() {
            tr.report.push((
                0,
                format!(
                    "failover peer \"{}\" says neither primary nor secondary: primary written",
                    f.name
                ),
            ));
        }
        match &f.peer_address {
            Some(a) => {
                let _ = writeln!(out, "peer_address = {}", q(a));
            }
            None => {
                let _ = writeln!(out, "peer_address = \"{PLACEHOLDER}\"");
                tr.report.push((
                    0,
                    format!("failover peer \"{}\" has no peer address", f.name),
                ));
            }
        }
        if let Some(a) = &f.address {
            let _ = writeln!(out, "listen_address = {}", q(a));
        }
        if let Some(p) = f.port {
            let _ = writeln!(out, "port = {p}");
        }
        if let Some(p) = f.peer_port {
            let _ = writeln!(out, "peer_port = {p}");
        }
        if let Some(m) = f.mclt {
            let _ = writeln!(out, "mclt = {m}");
        }
        if let Some(m) = f.mrd {
            let _ = writeln!(out, "# dhcpd's max-response-delay");
            let _ = writeln!(out, "keepalive = {m}");
        }
        if let Some(m) = f.max_unacked {
            let _ = writeln!(out, "# dhcpd's max-unacked-updates");
            let _ = writeln!(out, "max_unacked_bndupd = {m}");
        }
        if let Some(a) = f.auto_partner_down {
            let _ = writeln!(out, "auto_partner_down = {a}");
        }
        if let Some(s) = f.split {
            let _ = writeln!(out, "split = {s}");
        }
        if let Some(h) = &f.hba {
            let _ = writeln!(out, "hba = {}", q(&hex(h)));
        }
        let _ = writeln!(
            out,
            "\n# dhcpd's failover link is plain TCP (it has no TLS): tandem accepts the\n\
             # connection from peer_address only. Switch to TLS once both servers are tandem.\n\
             [failover.tls]\ninsecure = true\n"
        );
    }

    let global_lease = tr.global.lease_time;
    if global_lease.is_none() && !tr.subnets.is_empty() {
        tr.report.push((
            0,
            format!("no default-lease-time: dhcpd's default {DHCPD_DEFAULT_LEASE_TIME} s written as lease_time"),
        ));
    }
    for (i, s) in tr.subnets.iter().enumerate() {
        let key = s.shared.clone().unwrap_or_else(|| format!("#{i}"));
        let _ = writeln!(out, "# dhcpd.conf line {}", s.line);
        let _ = writeln!(out, "[[subnet4]]");
        let _ = writeln!(out, "id = {}", i + 1);
        let _ = writeln!(out, "subnet = {}", q(&s.net.to_string()));
        let _ = writeln!(out, "interface = {}", q(&link_names[&key]));
        if let Some(n) = &s.shared {
            let _ = writeln!(out, "shared_network = {}", q(n));
        }
        let lt = s
            .opts
            .lease_time
            .or(global_lease)
            .unwrap_or(DHCPD_DEFAULT_LEASE_TIME);
        let _ = writeln!(out, "lease_time = {lt}");
        // t1/t2 only when consistent with the lease time (tandem refuses t1 > t2 > lease).
        let t1 = s.opts.t1.or(tr.global.t1);
        let t2 = s.opts.t2.or(tr.global.t2);
        if let Some(t1) = t1.filter(|t| *t <= lt && t2.is_none_or(|t2| *t <= t2)) {
            let _ = writeln!(out, "t1 = {t1}");
        }
        if let Some(t2) = t2.filter(|t| *t <= lt && t1.is_none_or(|t1| t1 <= *t)) {
            let _ = writeln!(out, "t2 = {t2}");
        }
        let pools: Vec<String> = s
            .pools
            .iter()
            .map(|(a, b)| q(&format!("{a}-{b}")))
            .collect();
        let _ = writeln!(out, "pools = [{}]", pools.join(", "));
        let mut o = s.opts.clone();
        if o.routers.is_none() {
            if let Some(r) = &global_routers {
                if r.iter().all(|a| s.net.contains(a)) {
                    o.routers = Some(r.clone());
                } else {
                    tr.report.push((
                        s.line,
                        format!(
                            "global option routers {} not given to subnet {} (outside it)",
                            r.iter()
                                .map(|a| a.to_string())
                                .collect::<Vec<_>>()
                                .join(", "),
                            s.net
                        ),
                    ));
                }
            }
        }
        o.t1 = None;
        o.t2 = None;
        o.lease_time = None;
        if has_options(&o) {
            let _ = writeln!(out, "\n[subnet4.options]");
            emit_options(&mut out, &o);
        }
        for h in &s.reservations {
            let a = h.address.unwrap_or(Ipv4Addr::UNSPECIFIED);
            let in_pool = s.pools.iter().any(|(f, l)| *f <= a && a <= *l);
            let prefix = if in_pool {
                tr.report.push((
                    h.line,
                    format!(
                        "host {}: {a} is inside a pool; tandem reserves only outside pools, so \
                         the reservation is written commented out",
                        h.name
                    ),
                ));
                "# "
            } else {
                ""
            };
            let _ = writeln!(out, "\n{prefix}# host {} (line {})", h.name, h.line);
            let _ = writeln!(out, "{prefix}[[subnet4.reservations]]");
            if let Some(hw) = &h.hw {
                let _ = writeln!(out, "{prefix}hw_address = {}", q(&hex(hw)));
            }
            if let Some(c) = &h.client_id {
                let _ = writeln!(out, "{prefix}client_id = {}", q(&hex(c)));
            }
            let _ = writeln!(out, "{prefix}address = {}", q(&a.to_string()));
        }
        out.push('\n');
    }
    for p in &placeholders {
        tr.report.push((0, format!("interface = \"{p}\": name the interface (required per [[subnet4]] served directly)")));
    }
    tr.report.sort_by_key(|(l, _)| *l);
    Translation {
        toml: out,
        report: tr
            .report
            .into_iter()
            .map(|(l, m)| {
                if l == 0 {
                    format!(" {m}")
                } else {
                    format!("{l}: {m}")
                }
            })
            .collect(),
        placeholders,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml: &str) -> Result<crate::config::RunConfig, String> {
        crate::config::load_str(toml, "out.toml", std::path::Path::new("/"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_subnet_with_ranges_pools_options_and_lease_time() {
        let t = translate(
            r#"
default-lease-time 600;
option domain-name "example.org";
option domain-name-servers 192.0.2.53, 198.51.100.53;
subnet 192.0.2.0 netmask 255.255.255.0 {
  range 192.0.2.100 192.0.2.149;
  option routers 192.0.2.1;
  option interface-mtu 1400;
  pool { range 192.0.2.150 192.0.2.199; deny unknown-clients; }
}
"#,
        )
        .unwrap();
        let c = load(&t.toml).unwrap();
        let s = &c.core.subnets4[0];
        assert_eq!(s.subnet.to_string(), "192.0.2.0/24");
        assert_eq!(s.lease_time, 600);
        assert_eq!(s.pools.len(), 2);
        assert_eq!(s.interface.as_deref(), Some("CHANGE-ME-1"));
        assert!(t
            .toml
            .contains("dns_servers = [\"192.0.2.53\", \"198.51.100.53\"]"));
        assert!(t.toml.contains("interface_mtu = 1400"));
        assert!(
            t.report
                .iter()
                .any(|r| r.starts_with("9: ") && r.contains("deny unknown-clients")),
            "{:?}",
            t.report
        );
    }

    #[test]
    fn shared_networks_hosts_and_untranslated_things_with_their_lines() {
        let t = translate(
            r#"shared-network campus {
  option domain-name "campus.example";
  subnet 203.0.113.0 netmask 255.255.255.128 { option routers 203.0.113.1; }
  subnet 203.0.113.128 netmask 255.255.255.128 { option routers 203.0.113.129; }
  pool { range 203.0.113.10 203.0.113.100; }
}
host printer { hardware ethernet 02:00:00:00:00:09; fixed-address 203.0.113.5; }
host pc { option dhcp-client-identifier 1:2:0:0:0:0:7; fixed-address 203.0.113.200; }
host nothing { hardware ethernet 02:00:00:00:00:0a; }
class "voip" { match if substring(option vendor-class-identifier, 0, 4) = "voip"; }
if option host-name = "x" { option domain-name "y"; }
ddns-update-style none;
on commit { set x = "y"; }
option space foo;
"#,
        )
        .unwrap();
        let c = load(&t.toml).unwrap();
        assert_eq!(c.core.subnets4.len(), 2);
        assert_eq!(c.core.subnets4[0].shared_network.as_deref(), Some("campus"));
        assert_eq!(c.core.subnets4[0].pools.len(), 1);
        assert_eq!(c.core.subnets4[0].reservations.len(), 1);
        assert_eq!(
            c.core.subnets4[1].reservations[0].client_id,
            Some(vec![1, 2, 0, 0, 0, 0, 7])
        );
        // One link, one placeholder.
        assert_eq!(t.placeholders, ["CHANGE-ME-1"]);
        for (line, what) in [
            (9, "nothing"),
            (10, "class"),
            (11, "if option"),
            (12, "ddns-update-style"),
            (13, "on commit"),
            (14, "option space"),
        ] {
            assert!(
                t.report
                    .iter()
                    .any(|r| r.starts_with(&format!("{line}: ")) && r.contains(what)),
                "line {line} {what}: {:?}",
                t.report
            );
        }
    }

    #[test]
    fn the_failover_peer_block_becomes_failover() {
        let t = translate(
            r#"failover peer "dhcp-pair" {
  primary;
  address 192.0.2.1;
  port 519;
  peer address 192.0.2.2;
  peer port 520;
  max-response-delay 30;
  max-unacked-updates 10;
  mclt 600;
  split 128;
  load balance max seconds 5;
  max-lease-misbalance 10;
}
subnet 192.0.2.0 netmask 255.255.255.0 {
  pool { failover peer "dhcp-pair"; range 192.0.2.100 192.0.2.199; }
}
"#,
        )
        .unwrap();
        let f: toml::Table = toml::from_str(&t.toml).unwrap();
        let fo = f["failover"].as_table().unwrap();
        assert_eq!(fo["relationship"].as_str(), Some("dhcp-pair"));
        assert_eq!(fo["role"].as_str(), Some("primary"));
        assert_eq!(fo["peer_address"].as_str(), Some("192.0.2.2"));
        assert_eq!(fo["listen_address"].as_str(), Some("192.0.2.1"));
        assert_eq!(fo["port"].as_integer(), Some(519));
        assert_eq!(fo["peer_port"].as_integer(), Some(520));
        assert_eq!(fo["mclt"].as_integer(), Some(600));
        assert_eq!(fo["keepalive"].as_integer(), Some(30));
        assert_eq!(fo["max_unacked_bndupd"].as_integer(), Some(10));
        assert_eq!(fo["split"].as_integer(), Some(128));
        assert_eq!(fo["tls"]["insecure"].as_bool(), Some(true));
        assert!(t
            .report
            .iter()
            .any(|r| r.starts_with("11: ") && r.contains("load balance")));
        assert!(t
            .report
            .iter()
            .any(|r| r.starts_with("12: ") && r.contains("max-lease-misbalance")));
        let t = translate("failover peer \"p\" { secondary; peer address 192.0.2.1; hba ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00; }").unwrap();
        assert!(t
            .toml
            .contains("hba = \"ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:00:"));
        assert!(t.toml.contains("role = \"secondary\""));
    }

    #[test]
    fn syntax_errors_stop_with_line_and_column() {
        let e = translate(
            "subnet 192.0.2.0 netmask 255.255.255.0 {\n  range 192.0.2.1 192.0.2.x;\n}\n",
        )
        .unwrap_err();
        assert_eq!(e.pos, Pos { line: 2, col: 19 });
        let e = translate("subnet 192.0.2.0 netmask 255.0.255.0 { }").unwrap_err();
        assert!(e.message.contains("not a netmask"), "{e}");
        let e = translate("option routers 192.0.2.1\n").unwrap_err();
        assert!(e.message.contains("missing `;`"), "{e}");
    }
}
