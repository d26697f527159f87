//! Reading an ISC dhcpd 4.4 lease file (dhcpd.leases(5)) into one record per address.
//!
//! The lease file is a journal: dhcpd appends the whole record of a lease every time it
//! changes (server/db.c `write_lease`) and rewrites the file from memory only now and
//! then, so one address appears many times and **the last record is the lease**
//! (server/confpars.c reads them in order and each replaces the one before). Read here:
//!
//! * `starts`, `ends`, `tstp`, `tsfp`, `atsfp`, `cltt`: `W YYYY/MM/DD HH:MM:SS` in UTC
//!   (the weekday is written but not needed), `epoch N` (`db-time-format local`, where
//!   dhcpd adds the local time as a comment) or `never` (confpars.c `parse_date_core`);
//! * `binding state`, `next binding state`, `rewind binding state`: free, active,
//!   expired, released, abandoned, reset, backup (and bootp / reserved, kept so they can
//!   be reported);
//! * `hardware TYPE xx:xx:...`, `uid` (a string with octal escapes, or colon hex),
//!   `client-hostname`, and the old flags `abandoned;`, `bootp;`, `reserved;`.
//!
//! Everything else (`set`, `on ... { }`, `option agent.*`, `vendor-class-identifier`,
//! `ddns-*` ...) is skipped and counted, and so are the top-level `server-duid`,
//! `authoring-byte-order`, `failover peer "x" state { }` (kept for the report: the
//! failover state does not carry over, see import.rs), DHCPv6 records and the rest.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use tandem_core::Time;

use super::lexer::{self, Pos, Stmt, SyntaxError, Tok};

/// dhcpd's binding states (includes/failover.h `binding_state_names`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    Free,
    Active,
    Expired,
    Released,
    Abandoned,
    Reset,
    Backup,
    Reserved,
    Bootp,
}

impl State {
    pub fn parse(w: &str) -> Option<State> {
        Some(match w {
            "free" => State::Free,
            "active" => State::Active,
            "expired" => State::Expired,
            "released" => State::Released,
            "abandoned" => State::Abandoned,
            "reset" => State::Reset,
            "backup" => State::Backup,
            "reserved" => State::Reserved,
            "bootp" => State::Bootp,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            State::Free => "free",
            State::Active => "active",
            State::Expired => "expired",
            State::Released => "released",
            State::Abandoned => "abandoned",
            State::Reset => "reset",
            State::Backup => "backup",
            State::Reserved => "reserved",
            State::Bootp => "bootp",
        }
    }
}

/// One `lease A.B.C.D { ... }` record as written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DhcpdLease {
    pub address: Option<Ipv4Addr>,
    /// Where the record starts.
    pub pos: Pos,
    pub starts: Option<Time>,
    /// `never` is [`Time::NEVER`].
    pub ends: Option<Time>,
    pub tstp: Option<Time>,
    pub tsfp: Option<Time>,
    pub atsfp: Option<Time>,
    pub cltt: Option<Time>,
    pub binding_state: Option<State>,
    pub next_binding_state: Option<State>,
    pub rewind_binding_state: Option<State>,
    /// `hardware TYPE ADDR`: the ARP hardware type (RFC 1700: 1 Ethernet, 6 IEEE 802,
    /// 8 FDDI, 32 InfiniBand) and the address bytes.
    pub hardware: Option<(u8, Vec<u8>)>,
    /// Option 61 as the client sent it.
    pub uid: Option<Vec<u8>>,
    pub client_hostname: Option<String>,
    /// The pre-3.0 `abandoned;` flag (today: `binding state abandoned`).
    pub abandoned_flag: bool,
    pub bootp: bool,
    pub reserved: bool,
    /// Statements inside the record that were skipped, by first word.
    pub skipped: Vec<(Pos, String)>,
}

impl DhcpdLease {
    /// The binding state the record says, as dhcpd would load it: an explicit `binding
    /// state`, else the old `abandoned;` flag, else (files older than dhcpd 3, which
    /// wrote no state) active while `ends` lies ahead of `now` and expired after.
    pub fn state(&self, now: Time) -> State {
        if let Some(s) = self.binding_state {
            return s;
        }
        if self.abandoned_flag {
            return State::Abandoned;
        }
        match self.ends {
            Some(e) if e > now => State::Active,
            _ => State::Expired,
        }
    }
}

/// A `failover peer "NAME" state { }` block: what dhcpd last said of its relationship.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerState {
    pub name: String,
    pub my_state: Option<String>,
    pub partner_state: Option<String>,
    pub pos: Pos,
}

/// The whole file: the last record of each address and what else was seen.
#[derive(Clone, Debug, Default)]
pub struct Journal {
    pub leases: BTreeMap<Ipv4Addr, DhcpdLease>,
    /// `lease` records read, rewrites included.
    pub records: usize,
    /// Records replaced by a later one for the same address.
    pub superseded: usize,
    /// The last state block of each relationship.
    pub peer_states: BTreeMap<String, PeerState>,
    /// Top-level statements skipped, with what they were.
    pub skipped: Vec<(Pos, String)>,
}

/// Reads a lease file; a syntax error or a value dhcpd would not accept stops it.
pub fn parse(text: &str) -> Result<Journal, SyntaxError> {
    let stmts = lexer::parse(text)?;
    let mut j = Journal::default();
    for s in &stmts {
        match s.word(0) {
            Some("lease") if s.block.is_some() => {
                let l = lease(s)?;
                j.records += 1;
                let addr = l.address.unwrap_or(Ipv4Addr::UNSPECIFIED);
                // The journal rule: a later record replaces the earlier one.
                if j.leases.insert(addr, l).is_some() {
                    j.superseded += 1;
                }
            }
            Some("failover") if s.starts_with(&["failover", "peer"]) && s.block.is_some() => {
                let p = peer_state(s)?;
                j.peer_states.insert(p.name.clone(), p);
            }
            Some(w @ ("lease6" | "ia-na" | "ia-ta" | "ia-pd")) => {
                j.skipped.push((s.pos, format!("`{w}`: a DHCPv6 record")));
            }
            Some("server-duid") => j.skipped.push((
                s.pos,
                "`server-duid`: dhcpd's DHCPv6 server DUID (tandem keeps its own)".into(),
            )),
            Some("authoring-byte-order") => {}
            _ => j.skipped.push((s.pos, format!("`{}`", s.text()))),
        }
    }
    Ok(j)
}

fn err(pos: Pos, m: impl Into<String>) -> SyntaxError {
    SyntaxError::new(pos, m)
}

fn lease(s: &Stmt) -> Result<DhcpdLease, SyntaxError> {
    let addr_tok = s
        .words
        .get(1)
        .ok_or_else(|| err(s.pos, "lease without an address"))?;
    let address = addr_tok
        .word()
        .and_then(|w| w.parse::<Ipv4Addr>().ok())
        .ok_or_else(|| {
            err(
                addr_tok.pos,
                format!("{} is not an IPv4 address", addr_tok.text()),
            )
        })?;
    if s.words.len() > 2 {
        return Err(err(s.pos_of(2), "expecting `{` after the lease's address"));
    }
    let mut l = DhcpdLease {
        address: Some(address),
        pos: s.pos,
        ..DhcpdLease::default()
    };
    for st in s.block.as_deref().unwrap_or_default() {
        let Some(first) = st.word(0) else {
            l.skipped.push((st.pos, st.text()));
            continue;
        };
        let one_arg = |what: &str| -> Result<(), SyntaxError> {
            if st.block.is_some() {
                return Err(err(st.pos, format!("`{what}` takes no block")));
            }
            Ok(())
        };
        match first {
            "starts" | "ends" | "tstp" | "tsfp" | "atsfp" | "cltt" => {
                one_arg(first)?;
                let t = date(st, 1)?;
                let slot = match first {
                    "starts" => &mut l.starts,
                    "ends" => &mut l.ends,
                    "tstp" => &mut l.tstp,
                    "tsfp" => &mut l.tsfp,
                    "atsfp" => &mut l.atsfp,
                    _ => &mut l.cltt,
                };
                *slot = Some(t);
            }
            "binding" | "next" | "rewind" => {
                one_arg(first)?;
                let at = if first == "binding" { 1 } else { 2 };
                let want: &[&str] = match first {
                    "binding" => &["binding", "state"],
                    "next" => &["next", "binding", "state"],
                    _ => &["rewind", "binding", "state"],
                };
                if !st.starts_with(want) {
                    return Err(err(st.pos, format!("expecting `{}`", want.join(" "))));
                }
                let state = st
                    .word(at + 1)
                    .and_then(State::parse)
                    .filter(|_| st.words.len() == at + 2)
                    .ok_or_else(|| {
                        err(
                            st.pos_of(at + 1),
                            format!(
                                "expecting a binding state (free, active, expired, released, \
                                 abandoned, reset, backup) after `{}`",
                                want.join(" ")
                            ),
                        )
                    })?;
                match first {
                    "binding" => l.binding_state = Some(state),
                    "next" => l.next_binding_state = Some(state),
                    _ => l.rewind_binding_state = Some(state),
                }
            }
            "hardware" => {
                one_arg(first)?;
                l.hardware = Some(hardware(st)?);
            }
            "uid" => {
                one_arg(first)?;
                l.uid = Some(bytes_arg(st, 1)?);
            }
            "client-hostname" => {
                one_arg(first)?;
                match st.words.get(1).map(|t| &t.tok) {
                    Some(Tok::Str(b)) if st.words.len() == 2 => {
                        l.client_hostname = Some(String::from_utf8_lossy(b).into_owned());
                    }
                    _ => return Err(err(st.pos_of(1), "expecting a quoted client-hostname")),
                }
            }
            "abandoned" if st.words.len() == 1 => l.abandoned_flag = true,
            "bootp" if st.words.len() == 1 => l.bootp = true,
            "reserved" if st.words.len() == 1 => l.reserved = true,
            _ => l.skipped.push((st.pos, first.to_string())),
        }
    }
    Ok(l)
}

/// A time field at word `i`: `W YYYY/MM/DD HH:MM:SS`, `epoch N` or `never`.
fn date(st: &Stmt, i: usize) -> Result<Time, SyntaxError> {
    let bad = |at: usize, m: &str| err(st.pos_of(at), m.to_string());
    let n = st.words.len() - i;
    match st.word(i) {
        Some("never") if n == 1 => Ok(Time::NEVER),
        Some("epoch") if n == 2 => st
            .word(i + 1)
            .and_then(|w| w.parse::<u64>().ok())
            .map(Time)
            .ok_or_else(|| bad(i + 1, "expecting seconds since 1970 after `epoch`")),
        Some(wd) if n == 3 && wd.len() == 1 && wd.as_bytes()[0].is_ascii_digit() => {
            let d = st.word(i + 1).unwrap_or("");
            let t = st.word(i + 2).unwrap_or("");
            let secs = civil(d, t).ok_or_else(|| {
                bad(
                    i + 1,
                    &format!("{d} {t} is not a date and time (YYYY/MM/DD HH:MM:SS)"),
                )
            })?;
            Ok(Time(secs))
        }
        _ => Err(bad(
            i,
            "expecting a time: `W YYYY/MM/DD HH:MM:SS`, `epoch N` or `never`",
        )),
    }
}

/// Seconds since 1970 for a UTC date and time as dhcpd writes them (confpars.c: a
/// year below 1900 has 1900 added, so `126/...` is 2026). The calendar is humantime's
/// RFC 3339 parser: every field is checked there (the day against its month, leap years).
fn civil(d: &str, t: &str) -> Option<u64> {
    let num = |s: &str| s.parse::<u64>().ok();
    let mut dp = d.split('/');
    let (y, m, day) = (num(dp.next()?)?, num(dp.next()?)?, num(dp.next()?)?);
    let mut tp = t.split(':');
    let (h, mi, s) = (num(tp.next()?)?, num(tp.next()?)?, num(tp.next()?)?);
    if dp.next().is_some() || tp.next().is_some() {
        return None;
    }
    let y = if y < 1900 { y + 1900 } else { y };
    let at =
        humantime::parse_rfc3339(&format!("{y:04}-{m:02}-{day:02}T{h:02}:{mi:02}:{s:02}Z")).ok()?;
    at.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

/// `hardware ethernet 00:11:22:33:44:55`: the type by name (dhcpd's names, common/
/// parse.c `parse_hardware_param`) or number, then colon hex.
fn hardware(st: &Stmt) -> Result<(u8, Vec<u8>), SyntaxError> {
    let htype = match st.word(1) {
        Some("ethernet") => 1,
        Some("token-ring") => 6,
        Some("fddi") => 8,
        Some("infiniband") => 32,
        Some(w) => w.parse::<u8>().map_err(|_| {
            err(
                st.pos_of(1),
                format!("unknown hardware type {w} (ethernet, token-ring, fddi, infiniband)"),
            )
        })?,
        None => return Err(err(st.pos, "expecting a hardware type")),
    };
    if st.words.len() != 3 {
        return Err(err(st.pos_of(2), "expecting one hardware address"));
    }
    let addr = st
        .word(2)
        .and_then(colon_hex)
        .ok_or_else(|| err(st.pos_of(2), "expecting a hardware address (xx:xx:...)"))?;
    if addr.len() > 16 {
        return Err(err(
            st.pos_of(2),
            "hardware address longer than 16 bytes (RFC 2131 'chaddr')",
        ));
    }
    Ok((htype, addr))
}

/// `01:02:0a` with one or two hex digits per byte, as dhcpd prints bytes
/// (`print_hex`: `1:2:a` is the same).
pub fn colon_hex(w: &str) -> Option<Vec<u8>> {
    w.split(':')
        .map(|b| {
            if (1..=2).contains(&b.len()) {
                u8::from_str_radix(b, 16).ok()
            } else {
                None
            }
        })
        .collect()
}

/// A byte-string argument: a quoted string (octal escapes already undone by the lexer)
/// or colon hex, as dhcpd accepts for `uid` (confpars.c `parse_lease_declaration`).
fn bytes_arg(st: &Stmt, i: usize) -> Result<Vec<u8>, SyntaxError> {
    let t = st
        .words
        .get(i)
        .ok_or_else(|| err(st.pos, "expecting a value"))?;
    if st.words.len() != i + 1 {
        return Err(err(st.pos_of(i + 1), "expecting `;`"));
    }
    match &t.tok {
        Tok::Str(b) => Ok(b.clone()),
        Tok::Word(w) => colon_hex(w).ok_or_else(|| {
            err(
                t.pos,
                format!("{w} is neither a quoted string nor colon-separated hex"),
            )
        }),
        _ => Err(err(
            t.pos,
            "expecting a quoted string or colon-separated hex",
        )),
    }
}

fn peer_state(s: &Stmt) -> Result<PeerState, SyntaxError> {
    let name = match s.words.get(2).map(|t| &t.tok) {
        Some(Tok::Str(b)) => String::from_utf8_lossy(b).into_owned(),
        Some(Tok::Word(w)) => w.clone(),
        _ => return Err(err(s.pos_of(2), "expecting the failover peer's name")),
    };
    let mut p = PeerState {
        name,
        my_state: None,
        partner_state: None,
        pos: s.pos,
    };
    for st in s.block.as_deref().unwrap_or_default() {
        // `my state normal at 3 2026/12/02 02:11:55;` (server/db.c write_failover_state)
        if st.starts_with(&["my", "state"]) {
            p.my_state = st.word(2).map(str::to_string);
        } else if st.starts_with(&["partner", "state"]) {
            p.partner_state = st.word(2).map(str::to_string);
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(body: &str) -> DhcpdLease {
        let j = parse(&format!("lease 192.0.2.10 {{\n{body}\n}}\n")).unwrap();
        j.leases.into_values().next().unwrap()
    }

    #[test]
    fn time_fields_in_every_form_dhcpd_writes() {
        // 2026-12-04 19:08:03 UTC (a Friday, weekday 5) = 1796411283.
        assert_eq!(civil("2026/12/04", "19:08:03"), Some(1_796_411_283));
        assert_eq!(civil("1970/01/01", "00:00:00"), Some(0));
        assert_eq!(civil("2024/02/29", "23:59:59"), Some(1_709_251_199));
        assert_eq!(civil("126/12/04", "19:08:03"), Some(1_796_411_283));
        assert_eq!(civil("2025/02/29", "00:00:00"), None);
        assert_eq!(civil("2026/13/01", "00:00:00"), None);
        let l = one(
            "starts 5 2026/12/04 19:08:03;\nends never;\ntstp epoch 1796411300; # local time\n\
             tsfp 5 2026/12/04 19:08:04;\natsfp epoch 5;\ncltt 0 1970/01/01 00:00:01;",
        );
        assert_eq!(l.starts, Some(Time(1_796_411_283)));
        assert_eq!(l.ends, Some(Time::NEVER));
        assert_eq!(l.tstp, Some(Time(1_796_411_300)));
        assert_eq!(l.tsfp, Some(Time(1_796_411_284)));
        assert_eq!(l.atsfp, Some(Time(5)));
        assert_eq!(l.cltt, Some(Time(1)));
    }

    #[test]
    fn bad_times_are_errors_at_their_place() {
        let e = parse("lease 192.0.2.1 {\n  ends 5 2026/02/30 00:00:00;\n}\n").unwrap_err();
        assert_eq!(e.pos, Pos { line: 2, col: 10 });
        let e = parse("lease 192.0.2.1 {\n  starts tomorrow;\n}\n").unwrap_err();
        assert_eq!(e.pos, Pos { line: 2, col: 10 });
        assert!(e.message.contains("expecting a time"), "{e}");
        let e = parse("lease 192.0.2.1 {\n  tstp epoch soon;\n}\n").unwrap_err();
        assert_eq!(e.pos, Pos { line: 2, col: 14 });
        let e = parse("lease 192.0.2.300 { }").unwrap_err();
        assert_eq!(e.to_string(), "1:7: 192.0.2.300 is not an IPv4 address");
        let e = parse("lease 192.0.2.1 {\n binding state leased;\n}").unwrap_err();
        assert_eq!(e.pos, Pos { line: 2, col: 16 });
    }

    #[test]
    fn the_last_record_of_an_address_wins() {
        let j = parse(
            "lease 192.0.2.10 { binding state active; hardware ethernet 02:00:00:00:00:01; }\n\
             lease 192.0.2.11 { binding state free; }\n\
             lease 192.0.2.10 { binding state released; hardware ethernet 02:00:00:00:00:02; }\n",
        )
        .unwrap();
        assert_eq!(j.records, 3);
        assert_eq!(j.superseded, 1);
        assert_eq!(j.leases.len(), 2);
        let l = &j.leases[&Ipv4Addr::new(192, 0, 2, 10)];
        assert_eq!(l.binding_state, Some(State::Released));
        assert_eq!(l.hardware, Some((1, vec![2, 0, 0, 0, 0, 2])));
        assert_eq!(l.pos.line, 3);
    }

    #[test]
    fn every_binding_state_and_its_next_and_rewind_states() {
        for s in [
            "free",
            "active",
            "expired",
            "released",
            "abandoned",
            "reset",
            "backup",
            "bootp",
            "reserved",
        ] {
            let l = one(&format!(
                "binding state {s};\nnext binding state free;\nrewind binding state {s};"
            ));
            assert_eq!(l.binding_state.map(State::name), Some(s));
            assert_eq!(l.next_binding_state, Some(State::Free));
            assert_eq!(l.rewind_binding_state.map(State::name), Some(s));
        }
        // No state at all (dhcpd 2 files): by `ends`; the old `abandoned;` flag.
        let l = one("ends epoch 100;");
        assert_eq!(l.state(Time(99)), State::Active);
        assert_eq!(l.state(Time(100)), State::Expired);
        assert_eq!(one("abandoned;").state(Time(0)), State::Abandoned);
    }

    #[test]
    fn uid_as_escaped_string_or_colon_hex_and_hardware_types() {
        let a = one(r#"uid "\001\000\014\001\002\003\004";"#);
        let b = one("uid 1:0:c:01:02:03:04;");
        assert_eq!(a.uid, Some(vec![1, 0, 0x0c, 1, 2, 3, 4]));
        assert_eq!(a.uid, b.uid);
        let l = one("hardware token-ring 0a:0b;\nclient-hostname \"pc \\\"1\\\"\";");
        assert_eq!(l.hardware, Some((6, vec![10, 11])));
        assert_eq!(l.client_hostname.as_deref(), Some("pc \"1\""));
        assert!(parse("lease 192.0.2.1 { uid 0x01; }").is_err());
        assert!(parse("lease 192.0.2.1 { hardware ethernet 00:11:zz; }").is_err());
    }

    #[test]
    fn unknown_statements_are_skipped_nested_blocks_and_all() {
        let j = parse(
            r#"# comment
authoring-byte-order little-endian;
server-duid "\000\001\000\001";
failover peer "fx" state {
  my state partner-down at 5 2026/12/04 18:07:44;
  partner state unknown-state at 5 2026/12/04 18:07:44;
  mclt 300;
}
lease 192.0.2.10 {
  starts epoch 1;
  set ddns-fwd-name = "x.example.org";
  on expiry or release { set a = "}"; on commit { } }
  option agent.circuit-id 0:1:2;
  option agent.remote-id "r";
  vendor-class-identifier "v";
  binding state active;
}
ia-na "\001\000" { cltt 5 2026/12/04 18:07:44; iaaddr 2001:db8::1 { binding state active; } }
"#,
        )
        .unwrap();
        assert_eq!(j.leases.len(), 1);
        let l = j.leases.values().next().unwrap();
        assert_eq!(l.binding_state, Some(State::Active));
        let skipped: Vec<_> = l.skipped.iter().map(|(_, w)| w.as_str()).collect();
        assert_eq!(
            skipped,
            ["set", "on", "option", "option", "vendor-class-identifier"]
        );
        let p = &j.peer_states["fx"];
        assert_eq!(p.my_state.as_deref(), Some("partner-down"));
        assert_eq!(p.partner_state.as_deref(), Some("unknown-state"));
        assert_eq!(j.skipped.len(), 2, "{:?}", j.skipped);
    }
}
