//! Turning the records of a dhcpd lease file into tandem v4 leases and writing them
//! into a stopped server's lease database.
//!
//! How each dhcpd binding state lands in tandem's lease model (tandem_core::Lease,
//! one record per address, a free address has no record at all):
//!
//! | dhcpd `binding state` | tandem |
//! |---|---|
//! | active, `ends` ahead | ACTIVE until `ends` (`never`: infinite); lease time = ends − starts |
//! | active, `ends` passed | EXPIRED, as tandem's own expiry would leave it (reported as lapsed) |
//! | expired | EXPIRED, kept `affinity_time` from now for its client, then removed |
//! | released | RELEASED, likewise (tandem's DHCPRELEASE, RFC 2131 §4.4.6) |
//! | abandoned | ABANDONED for `decline_quarantine` (else the subnet's lease time) from now, no client (dhcpd refuses an ABANDONED binding update that names one) |
//! | free, backup, reset | with `[failover]`: FREE, FREE-BACKUP (dhcpd's BACKUP, the secondary's pool), RESET; alone: skipped, free space needs no record |
//! | bootp, reserved | skipped (tandem has no BOOTP; make a reservation instead) |
//!
//! The client key is the `uid` (option 61 as sent) when there is one, else the hardware
//! type byte and address (RFC 2131 §4.2), and the hardware address is kept beside it,
//! as tandem keys a DHCPv4 client itself. With `[failover]` the failover times carry
//! over as the draft-12 path reads them from dhcpd's binding updates: `tstp` (time sent
//! to partner) is the partner lifetime, `tsfp` (what the partner has acknowledged) the
//! acked partner lifetime, `atsfp` (the partner's own potential expiry, which this server
//! acknowledged) the expiration time. Without `[failover]` they are dropped (a server
//! alone keeps none, RFC 8156 §7.3 fields are a pair's). `next binding state`, `rewind
//! binding state`, `client-hostname` and the skipped statements are not in tandem's
//! model and are counted as dropped.
//!
//! The stored failover state is cleared in the same transaction (as `tandem leases
//! restore` does): a pair member whose leases came from elsewhere must start in RECOVER
//! and take every binding from its partner before it serves (draft-ietf-dhc-failover-12
//! §9.5; RFC 8156 §8.5).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use tandem_core::time::lifetime_fraction;
use tandem_core::{BindingStatus, Duid, FailoverFields, Lease, LeaseChange, Resource, Time};
use tandem_failover::endpoint::EndpointRecord;
use tandem_server::startup::lock::{OfflineDataDir, OfflineError};
use tandem_server::startup::LEASE_DB;
use tandem_store::{Batch, LeaseStore, SqliteStore};

use super::leases::{DhcpdLease, Journal, State};
use super::lexer::Pos;
use crate::config::RunConfig;

/// What the import will do (or, after [`apply`], did).
#[derive(Debug, Default)]
pub struct Plan {
    pub leases: Vec<Lease>,
    /// Imported, by (dhcpd state, tandem status); lapsed actives count under "active".
    pub imported: BTreeMap<(&'static str, &'static str), usize>,
    /// Records not imported: address, where, why.
    pub skipped: Vec<(Ipv4Addr, Pos, String)>,
    /// Active records whose `ends` had passed at `now`: imported as EXPIRED.
    pub lapsed: Vec<(Ipv4Addr, Pos, Time)>,
    /// Imported records outside every pool of their subnet (kept: warn).
    pub outside_pools: Vec<(Ipv4Addr, u32)>,
    /// What tandem's lease model has no place for, by field, with a count.
    pub dropped: BTreeMap<String, usize>,
    /// Records read and addresses they name.
    pub records: usize,
    pub superseded: usize,
    /// Other notes (failover state blocks, skipped top-level statements).
    pub notes: Vec<String>,
}

/// What writing the plan into the database found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Written {
    pub new: usize,
    pub unchanged: usize,
    pub replaced: usize,
    pub failover_state_cleared: bool,
}

/// Maps every record of `j` onto tandem's model for the configuration `cfg` at `now`.
pub fn plan(j: &Journal, cfg: &RunConfig, now: Time) -> Plan {
    let mut p = Plan {
        records: j.records,
        superseded: j.superseded,
        ..Plan::default()
    };
    for ps in j.peer_states.values() {
        p.notes.push(format!(
            "line {}: failover peer \"{}\" state (my state {}, partner state {}) not imported: \
             tandem starts its relationship in RECOVER and learns every binding from its \
             partner",
            ps.pos.line,
            ps.name,
            ps.my_state.as_deref().unwrap_or("?"),
            ps.partner_state.as_deref().unwrap_or("?")
        ));
    }
    for (pos, what) in &j.skipped {
        p.notes.push(format!("line {}: skipped {what}", pos.line));
    }
    let failover = cfg.failover.is_some();
    for (addr, l) in &j.leases {
        match map(l, *addr, cfg, failover, now) {
            Err(why) => p.skipped.push((*addr, l.pos, why)),
            Ok((lease, from)) => {
                if from == State::Active && lease.status == BindingStatus::Expired {
                    p.lapsed.push((*addr, l.pos, l.ends.unwrap_or(Time::ZERO)));
                }
                if let Some(s) = cfg.core.subnets4.iter().find(|s| s.id == lease.subnet_id) {
                    if !s.in_pools(*addr) {
                        p.outside_pools.push((*addr, s.id));
                    }
                }
                *p.imported
                    .entry((from.name(), lease.status.name()))
                    .or_default() += 1;
                count_dropped(&mut p.dropped, l, failover);
                p.leases.push(lease);
            }
        }
    }
    p
}

fn count_dropped(d: &mut BTreeMap<String, usize>, l: &DhcpdLease, failover: bool) {
    let mut add = |k: &str, present: bool| {
        if present {
            *d.entry(k.to_string()).or_default() += 1;
        }
    };
    add("next binding state", l.next_binding_state.is_some());
    add("rewind binding state", l.rewind_binding_state.is_some());
    add("client-hostname", l.client_hostname.is_some());
    add("reserved flag", l.reserved);
    add("bootp flag", l.bootp);
    if !failover {
        add("tstp (no [failover])", l.tstp.is_some());
        add("tsfp (no [failover])", l.tsfp.is_some());
        add("atsfp (no [failover])", l.atsfp.is_some());
    }
    for (_, w) in &l.skipped {
        add(&format!("`{w}` statement"), true);
    }
}

/// One record as a tandem lease, or why not. Also returns the dhcpd state it had.
fn map(
    l: &DhcpdLease,
    addr: Ipv4Addr,
    cfg: &RunConfig,
    failover: bool,
    now: Time,
) -> Result<(Lease, State), String> {
    let state = l.state(now);
    let Some(subnet) = cfg.core.subnets4.iter().find(|s| s.subnet.contains(&addr)) else {
        return Err(format!(
            "{}: outside every configured [[subnet4]]",
            state.name()
        ));
    };
    let hw_address: Vec<u8> = l
        .hardware
        .as_ref()
        .map(|(t, a)| std::iter::once(*t).chain(a.iter().copied()).collect())
        .unwrap_or_default();
    // RFC 2131 §4.2: option 61 when the client sent one, else htype + chaddr.
    let client = match &l.uid {
        Some(u) if !u.is_empty() => Duid(u.clone()),
        _ => Duid(hw_address.clone()),
    };
    let affinity_end = now.plus(u64::from(cfg.core.affinity_time));
    let starts = l.starts.filter(|t| !t.is_never());
    let mut lease = Lease {
        resource: Resource::V4Address(addr),
        status: BindingStatus::Active,
        duid: client,
        hw_address,
        iaid: 0,
        subnet_id: subnet.id,
        preferred_lifetime: 0,
        valid_lifetime: 0,
        t1: 0,
        t2: 0,
        cltt: l.cltt.or(starts).unwrap_or(now).min(now),
        start_time_of_state: starts.unwrap_or(now).min(now),
        state_expiration: None,
        failover: FailoverFields::default(),
    };
    if failover {
        lease.failover = FailoverFields {
            expiration_time: l.atsfp,
            acked_partner_lifetime: l.tsfp,
            partner_lifetime: l.tstp,
            partner_raw_cltt: None,
            // dhcpd's own acknowledgements are not known; the recovering server learns
            // the partner's view by UPDREQALL anyway.
            update_pending: false,
        };
    }
    let clientless = |lease: &mut Lease| {
        lease.duid = Duid::default();
        lease.hw_address.clear();
    };
    match state {
        State::Active => {
            if lease.duid.is_empty() {
                return Err("active: no client (neither uid nor hardware)".into());
            }
            let Some(ends) = l.ends else {
                return Err("active: no `ends`".into());
            };
            if ends <= now {
                // As tandem's expiry (DhcpServer::reclaim_expired) would have left it:
                // EXPIRED since its end, kept affinity_time for the client.
                lease.status = BindingStatus::Expired;
                lease.start_time_of_state = ends;
                lease.state_expiration = Some(affinity_end);
            } else {
                let start = lease.start_time_of_state;
                let valid = start.lifetime_until(ends);
                lease.preferred_lifetime = valid;
                lease.valid_lifetime = valid;
                // What dhcpd sends when not told otherwise (RFC 2131 §4.4.5).
                lease.t1 = lifetime_fraction(valid, 1, 2);
                lease.t2 = lifetime_fraction(valid, 7, 8);
                lease.state_expiration = Some(ends);
            }
        }
        State::Expired | State::Released => {
            lease.status = if state == State::Expired {
                BindingStatus::Expired
            } else {
                BindingStatus::Released
            };
            if let Some(e) = l.ends.filter(|e| !e.is_never() && *e <= now) {
                if state == State::Expired {
                    lease.start_time_of_state = e;
                }
            }
            lease.state_expiration = Some(affinity_end);
        }
        State::Abandoned => {
            lease.status = BindingStatus::Abandoned;
            clientless(&mut lease);
            let q = cfg.core.decline_quarantine.unwrap_or(subnet.lease_time);
            lease.state_expiration = Some(now.plus_lifetime(q));
        }
        State::Free | State::Backup | State::Reset => {
            if !failover {
                return Err(format!(
                    "{}: free space (a server without [failover] keeps no record of a free address)",
                    state.name()
                ));
            }
            lease.status = match state {
                State::Free => BindingStatus::Free,
                State::Backup => BindingStatus::FreeBackup,
                _ => BindingStatus::Reset,
            };
            clientless(&mut lease);
        }
        State::Bootp => return Err("bootp: tandem has no BOOTP leases".into()),
        State::Reserved => {
            return Err(
                "reserved: make the address a [[subnet4.reservations]] entry instead".into(),
            )
        }
    }
    Ok((lease, state))
}

/// Why the import did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    DataDir(#[from] OfflineError),
    #[error("lease database {path}: {source}")]
    Store {
        path: PathBuf,
        source: tandem_store::StoreError,
    },
}

/// Writes `plan` into the lease database of `data_dir` in one transaction, holding the
/// data directory's lock (the one `tandem serve` takes) throughout.
///
/// Idempotent: a lease already stored exactly as planned is left alone and counted as
/// unchanged, so importing the same file twice (with the same `--now`) writes nothing
/// the second time. A stored record for an address the file has is replaced by the
/// file's; stored records for other addresses are kept.
pub fn apply(plan: &Plan, data_dir: &Path) -> Result<Written, ImportError> {
    let dir = OfflineDataDir::take(
        data_dir,
        "importing (an import writes the lease database under the server)",
    )?;
    let db = data_dir.join(LEASE_DB);
    let store_err = |source| ImportError::Store {
        path: db.clone(),
        source,
    };
    let mut store = SqliteStore::open(&db).map_err(store_err)?;
    let existing: BTreeMap<Resource, Lease> = store
        .load_all()
        .map_err(store_err)?
        .into_iter()
        .map(|l| (l.resource, l))
        .collect();
    let mut w = Written::default();
    let mut changes = Vec::new();
    for l in &plan.leases {
        match existing.get(&l.resource) {
            Some(old) if old == l => w.unchanged += 1,
            Some(_) => {
                w.replaced += 1;
                changes.push(LeaseChange::Upsert(l.clone()));
            }
            None => {
                w.new += 1;
                changes.push(LeaseChange::Upsert(l.clone()));
            }
        }
    }
    w.failover_state_cleared = store
        .get_meta(EndpointRecord::META_KEY)
        .map_err(store_err)?
        .is_some();
    let mut batch = Batch::leases(changes);
    if w.failover_state_cleared {
        batch = batch.delete_meta(EndpointRecord::META_KEY);
    }
    if !batch.is_empty() {
        store.commit(&batch).map_err(store_err)?;
    }
    drop(store);
    // Files this (typically root) process created: leave them the service user's.
    dir.give_to_owner(&[
        db.clone(),
        with_suffix(&db, "-wal"),
        with_suffix(&db, "-shm"),
    ]);
    Ok(w)
}

fn with_suffix(p: &Path, s: &str) -> PathBuf {
    let mut o = p.as_os_str().to_os_string();
    o.push(s);
    PathBuf::from(o)
}

/// `YYYY/MM/DD HH:MM:SS` UTC, as dhcpd writes times; beyond year 9999 (which humantime
/// does not format) `epoch N`, dhcpd's other form.
pub fn show_time(t: Time) -> String {
    if t.is_never() {
        return "never".into();
    }
    const YEAR_10000: u64 = 253_402_300_800;
    if t.as_secs() >= YEAR_10000 {
        return format!("epoch {}", t.as_secs());
    }
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.as_secs());
    // "2026-12-04T19:08:03Z" -> "2026/12/04 19:08:03"
    humantime::format_rfc3339_seconds(at)
        .to_string()
        .trim_end_matches('Z')
        .replacen('T', " ", 1)
        .replace('-', "/")
}

/// The report printed after a (dry) run.
pub fn report(plan: &Plan, file: &str, written: Option<&Written>, dry_run: bool) -> String {
    let mut s = String::new();
    let n_imported: usize = plan.imported.values().sum();
    let _ = writeln!(
        s,
        "{file}: {} lease records, {} addresses ({} records superseded by a later one for the same address)",
        plan.records,
        plan.records - plan.superseded,
        plan.superseded
    );
    let verb = if dry_run { "would import" } else { "imported" };
    let _ = write!(s, "{verb}: {n_imported}");
    if !plan.imported.is_empty() {
        let parts: Vec<String> = plan
            .imported
            .iter()
            .map(|((from, to), n)| format!("{from} -> {to}: {n}"))
            .collect();
        let _ = write!(s, " ({})", parts.join(", "));
    }
    s.push('\n');
    let _ = writeln!(s, "skipped: {}", plan.skipped.len());
    for (a, pos, why) in &plan.skipped {
        let _ = writeln!(s, "  {a} (line {}): {why}", pos.line);
    }
    if !plan.lapsed.is_empty() {
        let _ = writeln!(
            s,
            "warning: {} active lease(s) had already ended; imported as EXPIRED (kept \
             affinity_time for their client, as tandem's own expiry does):",
            plan.lapsed.len()
        );
        for (a, pos, ends) in &plan.lapsed {
            let _ = writeln!(
                s,
                "  {a} (line {}): ended {} UTC",
                pos.line,
                show_time(*ends)
            );
        }
    }
    for (a, id) in &plan.outside_pools {
        let _ = writeln!(
            s,
            "warning: {a} is outside every pool of subnet4 {id} (imported; tandem will not \
             renew it unless a pool or reservation covers it)"
        );
    }
    if !plan.dropped.is_empty() {
        let parts: Vec<String> = plan
            .dropped
            .iter()
            .map(|(k, n)| format!("{k} x{n}"))
            .collect();
        let _ = writeln!(
            s,
            "dropped (no place in tandem's lease model): {}",
            parts.join(", ")
        );
    }
    for n in &plan.notes {
        let _ = writeln!(s, "note: {n}");
    }
    match written {
        Some(w) => {
            let _ = writeln!(
                s,
                "lease database: {} new, {} replaced, {} already stored unchanged (one transaction)",
                w.new, w.replaced, w.unchanged
            );
            if w.failover_state_cleared {
                let _ = writeln!(
                    s,
                    "failover state cleared: this pair member starts in RECOVER and takes every \
                     binding from its partner before it serves"
                );
            }
        }
        None if dry_run => {
            let _ = writeln!(s, "dry run: nothing written");
        }
        None => {}
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::leases;

    const NOW: u64 = 1_800_000_000;

    fn cfg(failover: bool) -> RunConfig {
        let mut text = String::from(
            "[server]\ndata_dir = \"/nonexistent\"\naffinity_time = 600\n\
             [[subnet4]]\nid = 4\nsubnet = \"192.0.2.0/24\"\nlease_time = 900\n\
             pools = [\"192.0.2.100-192.0.2.199\"]\n",
        );
        if failover {
            text.push_str(
                "[failover]\nrole = \"secondary\"\npeer_address = \"192.0.2.1\"\n\
                 [failover.tls]\ninsecure = true\n",
            );
        }
        let c = crate::config::load_str(&text, "t.toml", Path::new("/"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.failover.is_some(), failover);
        c
    }

    fn one(body: &str, failover: bool) -> Result<Lease, String> {
        let j = leases::parse(&format!("lease 192.0.2.120 {{\n{body}\n}}\n")).unwrap();
        let p = plan(&j, &cfg(failover), Time(NOW));
        match (p.leases.first(), p.skipped.first()) {
            (Some(l), None) => Ok(l.clone()),
            (None, Some((_, _, why))) => Err(why.clone()),
            _ => panic!("neither imported nor skipped"),
        }
    }

    const CLIENT: &str = "hardware ethernet 02:00:00:00:00:01;";

    #[test]
    fn active_becomes_active_until_ends_with_the_client_keyed_as_rfc2131_says() {
        let l = one(
            &format!(
                "starts epoch {};\nends epoch {};\ncltt epoch {};\nbinding state active;\n{CLIENT}",
                NOW - 100,
                NOW + 500,
                NOW - 50
            ),
            false,
        )
        .unwrap();
        assert_eq!(l.status, BindingStatus::Active);
        assert_eq!(l.state_expiration, Some(Time(NOW + 500)));
        assert_eq!(l.start_time_of_state, Time(NOW - 100));
        assert_eq!(l.cltt, Time(NOW - 50));
        assert_eq!((l.valid_lifetime, l.t1, l.t2), (600, 300, 525));
        assert_eq!(l.hw_address, vec![1, 2, 0, 0, 0, 0, 1]);
        assert_eq!(l.duid.0, l.hw_address, "no uid: htype + chaddr");
        assert_eq!(l.subnet_id, 4);
        assert!(l.is_v4());
        // With a uid, the uid is the key and the hardware address stays beside it.
        let l = one(
            &format!("ends never;\nbinding state active;\n{CLIENT}\nuid 1:2:3;"),
            false,
        )
        .unwrap();
        assert_eq!(l.duid.0, vec![1, 2, 3]);
        assert_eq!(l.state_expiration, Some(Time::NEVER));
        assert_eq!(l.valid_lifetime, tandem_core::INFINITE_LIFETIME);
        assert!(one("ends never;\nbinding state active;", false)
            .unwrap_err()
            .contains("no client"));
    }

    #[test]
    fn an_active_lease_that_already_ended_is_imported_expired_and_reported() {
        let j = leases::parse(&format!(
            "lease 192.0.2.120 {{ ends epoch {}; binding state active; {CLIENT} }}",
            NOW - 10
        ))
        .unwrap();
        let p = plan(&j, &cfg(false), Time(NOW));
        assert_eq!(p.lapsed.len(), 1);
        let l = &p.leases[0];
        assert_eq!(l.status, BindingStatus::Expired);
        assert_eq!(l.start_time_of_state, Time(NOW - 10));
        assert_eq!(l.state_expiration, Some(Time(NOW + 600)));
        assert_eq!(p.imported[&("active", "EXPIRED")], 1);
        assert!(report(&p, "f", None, true).contains("had already ended"));
    }

    #[test]
    fn expired_released_and_abandoned_keep_tandems_own_timeouts() {
        let l = one(&format!("binding state expired;\n{CLIENT}"), false).unwrap();
        assert_eq!(l.status, BindingStatus::Expired);
        assert_eq!(l.state_expiration, Some(Time(NOW + 600)));
        assert!(!l.duid.is_empty(), "kept for affinity");
        let l = one(&format!("binding state released;\n{CLIENT}"), false).unwrap();
        assert_eq!(l.status, BindingStatus::Released);
        assert_eq!(l.state_expiration, Some(Time(NOW + 600)));
        let l = one(&format!("binding state abandoned;\n{CLIENT}"), false).unwrap();
        assert_eq!(l.status, BindingStatus::Abandoned);
        assert!(l.duid.is_empty() && l.hw_address.is_empty());
        // No decline_quarantine: the subnet's lease time, as tandem's quarantine.
        assert_eq!(l.state_expiration, Some(Time(NOW + 900)));
    }

    #[test]
    fn free_backup_and_reset_are_records_only_in_a_pair() {
        for s in ["free", "backup", "reset"] {
            let e = one(&format!("binding state {s};"), false).unwrap_err();
            assert!(e.contains("free space"), "{e}");
        }
        let l = one(
            &format!(
                "binding state backup;\ntstp epoch 7;\ntsfp epoch 8;\natsfp epoch 9;\n{CLIENT}"
            ),
            true,
        )
        .unwrap();
        assert_eq!(l.status, BindingStatus::FreeBackup);
        assert!(l.duid.is_empty());
        assert_eq!(l.failover.partner_lifetime, Some(Time(7)));
        assert_eq!(l.failover.acked_partner_lifetime, Some(Time(8)));
        assert_eq!(l.failover.expiration_time, Some(Time(9)));
        assert_eq!(
            one("binding state free;", true).unwrap().status,
            BindingStatus::Free
        );
        assert_eq!(
            one("binding state reset;", true).unwrap().status,
            BindingStatus::Reset
        );
        // Alone, the failover times are dropped and said so.
        let j = leases::parse(&format!(
            "lease 192.0.2.120 {{ binding state expired; tstp epoch 7; {CLIENT} }}"
        ))
        .unwrap();
        let p = plan(&j, &cfg(false), Time(NOW));
        assert_eq!(p.leases[0].failover, FailoverFields::default());
        assert_eq!(p.dropped["tstp (no [failover])"], 1);
        assert!(one("binding state bootp;", false).is_err());
        assert!(one("binding state reserved;", false).is_err());
    }

    #[test]
    fn an_address_outside_every_subnet4_is_skipped_with_its_reason() {
        let j = leases::parse(&format!(
            "lease 198.51.100.7 {{ binding state active; ends never; {CLIENT} }}\n\
             lease 192.0.2.5 {{ binding state active; ends never; {CLIENT} }}"
        ))
        .unwrap();
        let p = plan(&j, &cfg(false), Time(NOW));
        assert_eq!(p.skipped.len(), 1);
        assert_eq!(p.skipped[0].0, Ipv4Addr::new(198, 51, 100, 7));
        assert!(p.skipped[0]
            .2
            .contains("outside every configured [[subnet4]]"));
        assert_eq!(p.outside_pools, vec![(Ipv4Addr::new(192, 0, 2, 5), 4)]);
    }

    #[test]
    fn times_show_as_dhcpd_writes_them() {
        assert_eq!(show_time(Time(1_796_411_283)), "2026/12/04 19:08:03");
        assert_eq!(show_time(Time(0)), "1970/01/01 00:00:00");
        assert_eq!(show_time(Time(1_709_251_199)), "2024/02/29 23:59:59");
        assert_eq!(show_time(Time(253_402_300_800)), "epoch 253402300800");
    }
}
