//! Cross-checking the two halves of a pair: what neither file shows on its own.
//!
//! Both servers share one lease space (RFC 8156 §4: every binding is known to both), so
//! their subnets and pools must be identical, and the connection parameters of one
//! must match the other's (§6.1, §6.2).

use tandem_core::config::{AddressPool, PdPool, Subnet};
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
    out
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

fn sorted_pools(s: &Subnet) -> Vec<(std::net::Ipv6Addr, std::net::Ipv6Addr)> {
    let mut v: Vec<_> = s
        .pools
        .iter()
        .map(|AddressPool { first, last }| (*first, *last))
        .collect();
    v.sort();
    v
}

fn sorted_pd_pools(s: &Subnet) -> Vec<(ipnet::Ipv6Net, u8)> {
    let mut v: Vec<_> = s
        .pd_pools
        .iter()
        .map(
            |PdPool {
                 prefix,
                 delegated_len,
             }| (*prefix, *delegated_len),
        )
        .collect();
    v.sort();
    v
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
        if sorted_pools(sa) != sorted_pools(sb) {
            out.push(b.problem(
                &format!("{at}.pools"),
                format!(
                    "address pools of subnet id {} differ from {}'s: {why}; each server takes its half of the same pools (RFC 8156 §4.2.1.1)",
                    sb.id, a.name
                ),
            ));
        }
        if sorted_pd_pools(sa) != sorted_pd_pools(sb) {
            out.push(b.problem(
                &format!("{at}.pd_pools"),
                format!(
                    "prefix pools of subnet id {} differ from {}'s: {why}; the primary hands the secondary parts of the same pools (RFC 8156 §4.2.2)",
                    sb.id, a.name
                ),
            ));
        }
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
