//! Cross-checking the two halves of a pair: what neither file shows on its own.
//!
//! Both servers share one lease space (RFC 8156 §4: every binding is known to both), so
//! their subnets and pools must be identical, and the connection parameters of one
//! must match the other's (§6.1, §6.2).

use tandem_core::config::{OptionSet, Subnet};
use tandem_failover::Role;

use super::build::{Problem, RunConfig};
use super::failover::{FailoverSettings, FailoverTls};
use super::locate;

/// One of the two files, for messages.
struct Side<'a> {
    cfg: &'a RunConfig,
    name: String,
}

impl Side<'_> {
    /// A problem in this file at `path`, with its line when the text is known.
    fn problem(&self, path: &str, message: String) -> Problem {
        let line = locate::offset_of(&self.cfg.source, path)
            .map(|o| locate::line_col(&self.cfg.source, o).0);
        Problem {
            path: path.to_string(),
            message,
            line,
            file: Some(self.name.clone()),
        }
    }
}

fn side<'a>(cfg: &'a RunConfig, fallback: &str) -> Side<'a> {
    let name = if cfg.origin.is_empty() {
        fallback.to_string()
    } else {
        cfg.origin.clone()
    };
    Side { cfg, name }
}

/// Compares two loaded configurations that should form one failover pair and explains
/// every mismatch it can see; each problem names the file (and line) to fix. Order does
/// not matter: pass the file being checked first. Empty means "consistent as far as
/// the files show" (certificates are not inspected).
pub fn check_pair(a: &RunConfig, b: &RunConfig) -> Vec<Problem> {
    let a = side(a, "first file");
    let b = side(b, "partner file");
    let mut out = Vec::new();
    let (fa, fb) = match (&a.cfg.failover, &b.cfg.failover) {
        (Some(fa), Some(fb)) => (fa, fb),
        (fa, fb) => {
            for (s, f) in [(&a, fa), (&b, fb)] {
                if f.is_none() {
                    out.push(s.problem(
                        "failover",
                        "no [failover] section: this file describes a single server, not half of a pair".into(),
                    ));
                }
            }
            return out;
        }
    };
    check_link(&a, fa, &b, fb, &mut out);
    check_subnets(&a, &b, &mut out);
    check_server_values(&a, &b, &mut out);
    compare_options(
        &a,
        &b,
        &a.cfg.core.options,
        &b.cfg.core.options,
        "options",
        "the global options",
        &mut out,
    );
    out.extend(super::host::check_pair_tls(a.cfg, b.cfg));
    out
}

/// Values that decide what a client gets, whichever server answers.
fn check_server_values(a: &Side, b: &Side, out: &mut Vec<Problem>) {
    let (ca, cb) = (&a.cfg.core, &b.cfg.core);
    let pairs = [
        (
            "server.affinity_time",
            Some(ca.affinity_time),
            Some(cb.affinity_time),
        ),
        (
            "server.decline_quarantine",
            ca.decline_quarantine,
            cb.decline_quarantine,
        ),
    ];
    for (path, va, vb) in pairs {
        if va != vb {
            out.push(b.problem(
                path,
                format!(
                    "{} here but {} in {}: both servers must treat a client's lease the same way",
                    show_secs(vb),
                    show_secs(va),
                    a.name
                ),
            ));
        }
    }
}

fn show_secs(v: Option<u32>) -> String {
    v.map_or_else(|| "unset (the default)".to_string(), |s| format!("{s} s"))
}

/// Options a client gets must not depend on which member answers it.
fn compare_options(
    a: &Side,
    b: &Side,
    oa: &OptionSet,
    ob: &OptionSet,
    at: &str,
    what: &str,
    out: &mut Vec<Problem>,
) {
    let mut differ = |key: &str, va: String, vb: String| {
        out.push(b.problem(
            &format!("{at}.{key}"),
            format!(
                "{key} of {what} is {vb} here but {va} in {}: a client would get different options depending on which server answers",
                a.name
            ),
        ));
    };
    if oa.dns_servers != ob.dns_servers {
        differ(
            "dns_servers",
            format!("{:?}", oa.dns_servers),
            format!("{:?}", ob.dns_servers),
        );
    }
    if oa.domain_search != ob.domain_search {
        differ(
            "domain_search",
            format!("{:?}", oa.domain_search),
            format!("{:?}", ob.domain_search),
        );
    }
    if oa.information_refresh_time != ob.information_refresh_time {
        differ(
            "information_refresh_time",
            show_secs(oa.information_refresh_time),
            show_secs(ob.information_refresh_time),
        );
    }
    let codes: std::collections::BTreeSet<u16> =
        oa.other.iter().chain(&ob.other).map(|(c, _)| *c).collect();
    for code in codes {
        let get = |o: &OptionSet| {
            o.other
                .iter()
                .find(|(c, _)| *c == code)
                .map(|(_, v)| v.clone())
        };
        let (va, vb) = (get(oa), get(ob));
        if va != vb {
            let show = |v: Option<Vec<u8>>| {
                v.map_or_else(
                    || "absent".to_string(),
                    |v| {
                        format!(
                            "0x{}",
                            v.iter().map(|b| format!("{b:02x}")).collect::<String>()
                        )
                    },
                )
            };
            let key = if code == 31 {
                "sntp_servers".to_string()
            } else {
                "custom".to_string()
            };
            differ(&format!("{key} (option {code})"), show(va), show(vb));
        }
    }
}

fn check_link(
    a: &Side,
    fa: &FailoverSettings,
    b: &Side,
    fb: &FailoverSettings,
    out: &mut Vec<Problem>,
) {
    if fa.role == fb.role {
        out.push(b.problem(
            "failover.role",
            format!(
                "both {} and {} are {}: a pair is one primary and one secondary (RFC 8156 §6.1)",
                a.name, b.name, fa.role
            ),
        ));
    }
    if fa.relationship != fb.relationship {
        out.push(b.problem(
            "failover.relationship",
            format!(
                "{:?} differs from {:?} in {}: the secondary refuses a CONNECT naming another relationship (RFC 8156 §6.2)",
                fb.relationship, fa.relationship, a.name
            ),
        ));
    }
    if fa.peer.port() != fb.peer.port() {
        out.push(b.problem(
            "failover.port",
            format!(
                "{} differs from {} in {}: the primary connects to the port the secondary listens on, so both must be the same",
                fb.peer.port(),
                fa.peer.port(),
                a.name
            ),
        ));
    }
    // Each peer_address must be the other's own address, when the other names it.
    for (x, fx, y, fy) in [(a, fa, b, fb), (b, fb, a, fa)] {
        let theirs = fy.local.ip();
        if !theirs.is_unspecified() && fx.peer.ip() != theirs {
            out.push(x.problem(
                "failover.peer_address",
                format!(
                    "{} is not {}'s failover.listen_address {theirs}: {}",
                    fx.peer.ip(),
                    y.name,
                    match fx.role {
                        Role::Primary => "the primary would connect to an address the secondary does not listen on",
                        Role::Secondary => "the secondary accepts the primary only from peer_address, and the primary connects from its listen_address",
                    }
                ),
            ));
        }
    }
    match (&fa.tls, &fb.tls) {
        (FailoverTls::Insecure, FailoverTls::Mutual { .. }) => out.push(a.problem(
            "failover.tls.insecure",
            format!("this side runs without TLS but {} uses TLS: they cannot connect (RFC 8156 §10); use TLS on both or insecure on both", b.name),
        )),
        (FailoverTls::Mutual { .. }, FailoverTls::Insecure) => out.push(b.problem(
            "failover.tls.insecure",
            format!("this side runs without TLS but {} uses TLS: they cannot connect (RFC 8156 §10); use TLS on both or insecure on both", a.name),
        )),
        _ => {}
    }
    if fa.mclt != fb.mclt {
        // The secondary is the one that gives way (§6.1.2), so point at it.
        let (sec, prim, fs, fp) = if fb.role == Role::Secondary {
            (b, a, fb, fa)
        } else {
            (a, b, fa, fb)
        };
        out.push(sec.problem(
            "failover.mclt",
            format!(
                "{} s differs from {} s in {}: the secondary adopts the primary's MCLT when it connects (RFC 8156 §6.1.2) but uses its own until then; set both the same",
                fs.mclt, fp.mclt, prim.name
            ),
        ));
    }
}

/// One pool as `check-config --partner` compares it.
struct PoolView {
    /// Given, or derived from the range.
    name: String,
    /// Whether `name` was given in the file.
    named: bool,
    path: String,
    kind: &'static str,
    range: String,
}

/// A subnet's pools, address pools then prefix pools.
fn pools_of(side: &Side, index: usize) -> Vec<PoolView> {
    let Some(fs) = side.cfg.file.subnet6.get(index) else {
        return Vec::new();
    };
    let cs = &side.cfg.core.subnets[index];
    let at = format!("subnet6[{index}]");
    let mut v = Vec::new();
    for (k, (fp, cp)) in fs.pools.iter().zip(&cs.pools).enumerate() {
        v.push(PoolView {
            name: fp.display_name(),
            named: fp.name.is_some(),
            path: format!("{at}.pools[{k}]"),
            kind: "address pool",
            range: format!("{}-{}", cp.first, cp.last),
        });
    }
    for (k, (fp, cp)) in fs.pd_pools.iter().zip(&cs.pd_pools).enumerate() {
        v.push(PoolView {
            name: fp.display_name(),
            named: fp.name.is_some(),
            path: format!("{at}.pd_pools[{k}]"),
            kind: "prefix pool",
            range: format!("{} cut into /{}", cp.prefix, cp.delegated_len),
        });
    }
    v
}

impl PoolView {
    /// `address pool "clients"`, or `address pool` when unnamed (its range says it).
    fn title(&self) -> String {
        if self.named {
            format!("{} {:?}", self.kind, self.name)
        } else {
            self.kind.to_string()
        }
    }
}

/// Pools are matched by name (an unnamed pool's name is its range); each difference names
/// the pool and gives both values. Unnamed pools left over on both sides are paired in
/// order, so a changed range reads as one difference, not as two missing pools.
fn compare_pools(a: &Side, ia: usize, b: &Side, ib: usize, id: u32, out: &mut Vec<Problem>) {
    let (pa, pb) = (pools_of(a, ia), pools_of(b, ib));
    let why = "each server takes its share of the same pools (RFC 8156 §4.2)";
    let mut left_b = Vec::new();
    for q in &pb {
        match pa.iter().find(|p| p.name == q.name) {
            Some(p) if p.kind != q.kind || p.range != q.range => out.push(b.problem(
                &q.path,
                format!(
                    "{} of subnet id {id} is {} here but {} {} in {}: {why}",
                    q.title(),
                    q.range,
                    p.kind,
                    p.range,
                    a.name
                ),
            )),
            Some(_) => {}
            None => left_b.push(q),
        }
    }
    let mut left_a: Vec<&PoolView> = pa
        .iter()
        .filter(|p| !pb.iter().any(|q| q.name == p.name))
        .collect();
    for q in left_b {
        let pos = (!q.named)
            .then(|| left_a.iter().position(|p| !p.named && p.kind == q.kind))
            .flatten();
        match pos {
            Some(i) => {
                let p = left_a.remove(i);
                out.push(b.problem(
                    &q.path,
                    format!(
                        "{} of subnet id {id} is {} here but {} in {} ({}): {why}; name the pools to match them by name",
                        q.kind, q.range, p.range, a.name, p.path
                    ),
                ));
            }
            None => out.push(b.problem(&q.path, missing(q, id, &pa, a, why))),
        }
    }
    for p in left_a {
        out.push(a.problem(&p.path, missing(p, id, &pb, b, why)));
    }
}

fn missing(p: &PoolView, id: u32, other: &[PoolView], other_side: &Side, why: &str) -> String {
    let same_range = other
        .iter()
        .find(|o| o.kind == p.kind && o.range == p.range)
        .map(|o| {
            format!(
                " (the {} with the same range there is {}: use one name)",
                o.kind,
                if o.named {
                    format!("named {:?}", o.name)
                } else {
                    "unnamed".to_string()
                }
            )
        })
        .unwrap_or_default();
    let range = if p.named {
        format!(" ({})", p.range)
    } else {
        format!(" {}", p.range)
    };
    format!(
        "{}{range} of subnet id {id} is not in {}{same_range}: {why}",
        p.title(),
        other_side.name
    )
}

type ReservationKey = (Vec<u8>, Option<std::net::Ipv6Addr>, Option<ipnet::Ipv6Net>);

fn sorted_reservations(s: &Subnet) -> Vec<ReservationKey> {
    let mut v: Vec<_> = s
        .reservations
        .iter()
        .map(|r| (r.duid.0.clone(), r.address, r.prefix))
        .collect();
    v.sort();
    v
}

/// The pair shares one lease space: subnets (by id), pools and reservations must match.
fn check_subnets(a: &Side, b: &Side, out: &mut Vec<Problem>) {
    let why =
        "the pair shares one lease database, so both files must define the same subnets and pools";
    for (x, y) in [(a, b), (b, a)] {
        for (i, s) in x.cfg.core.subnets.iter().enumerate() {
            if !y.cfg.core.subnets.iter().any(|o| o.id == s.id) {
                out.push(x.problem(
                    &format!("subnet6[{i}].id"),
                    format!(
                        "subnet id {} ({}) is not in {}: {why}",
                        s.id, s.prefix, y.name
                    ),
                ));
            }
        }
    }
    for (j, sb) in b.cfg.core.subnets.iter().enumerate() {
        let Some(sa) = a.cfg.core.subnets.iter().find(|s| s.id == sb.id) else {
            continue;
        };
        let at = format!("subnet6[{j}]");
        if sa.prefix != sb.prefix {
            out.push(b.problem(
                &format!("{at}.prefix"),
                format!(
                    "subnet id {} is {} here but {} in {}: {why}",
                    sb.id, sb.prefix, sa.prefix, a.name
                ),
            ));
        }
        let ia = a
            .cfg
            .core
            .subnets
            .iter()
            .position(|s| s.id == sb.id)
            .expect("found above");
        compare_pools(a, ia, b, j, sb.id, out);
        let lifetimes = [
            (
                "preferred_lifetime",
                Some(sa.preferred_lifetime),
                Some(sb.preferred_lifetime),
            ),
            (
                "valid_lifetime",
                Some(sa.valid_lifetime),
                Some(sb.valid_lifetime),
            ),
            ("renew_time", sa.t1, sb.t1),
            ("rebind_time", sa.t2, sb.t2),
        ];
        for (key, va, vb) in lifetimes {
            if va != vb {
                out.push(b.problem(
                    &format!("{at}.{key}"),
                    format!(
                        "{key} of subnet id {} is {} here but {} in {}: a client's lease would change with the server that answers, and the partner's updates carry these lifetimes (RFC 8156 §7.3)",
                        sb.id,
                        show_secs(vb),
                        show_secs(va),
                        a.name
                    ),
                ));
            }
        }
        if sa.rapid_commit != sb.rapid_commit {
            out.push(b.problem(
                &format!("{at}.rapid_commit"),
                format!(
                    "rapid_commit of subnet id {} is {} here but {} in {}",
                    sb.id, sb.rapid_commit, sa.rapid_commit, a.name
                ),
            ));
        }
        compare_options(
            a,
            b,
            &sa.options,
            &sb.options,
            &format!("{at}.options"),
            &format!("subnet id {}", sb.id),
            out,
        );
        if sorted_reservations(sa) != sorted_reservations(sb) {
            out.push(b.problem(
                &format!("{at}.reservations"),
                format!(
                    "reservations of subnet id {} differ from {}'s: a client would get different bindings depending on which server answers",
                    sb.id, a.name
                ),
            ));
        }
    }
}
