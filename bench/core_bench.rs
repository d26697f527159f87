//! Micro-benchmark of tandem without the network: how many perfdhcp-like exchanges per
//! second the pure core (`DhcpServer::handle`) sustains, for IA_NA and IA_PD, and how
//! fast the SQLite store commits the resulting leases in groups.
//!
//!     CARGO_TARGET_DIR=/work/target-perf cargo run --release -p tandem-server \
//!         --example core-bench -- [clients] [group]
//!
//! Each client is new (like `perfdhcp -6 -R <large>`): a Solicit shaped like perfdhcp's
//! (captured in crates/tandem-wire/tests/vectors) with its own DUID, then a Request built
//! from the Advertise (Client ID, Server ID, the offered IA, ORO, Elapsed Time), as
//! perfdhcp does. Solicits and Requests are timed separately; building the messages is
//! not timed. The store part replays the Requests' lease changes into a fresh SQLite
//! file (WAL, synchronous=FULL, as in production) in groups of `group` batches: one fsync
//! per group, so it shows the per-lease cost of the store and the cost of one fsync.

use std::net::{Ipv6Addr, SocketAddrV6};
use std::time::Instant;

use tandem_core::{
    AddressPool, Duid, LeaseChange, LeaseTable, PdPool, RxInfo, ServerConfig, Subnet, Time,
};
use tandem_store::{Batch, LeaseStore, SqliteStore};
use tandem_wire::v6::{DhcpOption, Message, MessageType};

/// perfdhcp -6 Solicit with IA_NA (crates/tandem-wire/tests/vectors/perfdhcp_solicit_na.hex).
const SOLICIT_NA: &str = "010000000001000e00010001329586b2000c010203040003000c0000000100000e10000015180006000400170018000800020000";
/// The same with IA_PD instead of IA_NA (perfdhcp -6 -e prefix-only).
const SOLICIT_PD: &str = "010000000001000e00010001329586b4000c0102030400060004001700180008000200000019000c0000000100000e1000001518";

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex literal"))
        .collect()
}

fn config() -> ServerConfig {
    let mut s = Subnet::new(1, "2001:db8:1::/64".parse().expect("prefix"));
    s.interface = Some("bench0".into());
    s.preferred_lifetime = 3000;
    s.valid_lifetime = 4000;
    s.t1 = Some(1000);
    s.t2 = Some(2000);
    s.pools = vec![AddressPool {
        first: "2001:db8:1::1:0".parse().expect("addr"),
        last: "2001:db8:1::ffff:ffff".parse().expect("addr"),
    }];
    s.pd_pools = vec![PdPool {
        prefix: "2001:db8:1000::/36".parse().expect("prefix"),
        delegated_len: 56,
    }];
    s.options.dns_servers = vec!["2001:db8:1::53".parse().expect("addr")];
    s.options.domain_search = vec!["example.org".into()];
    ServerConfig {
        subnets: vec![s],
        ..ServerConfig::default()
    }
}

/// Solicit of client `i`: the template with the DUID's MAC bytes (last 6) set to `i`.
fn solicit(template: &[u8], i: u64) -> Vec<u8> {
    let mut m = Message::parse(template).expect("template parses");
    m.transaction_id = (i as u32) & 0x00ff_ffff;
    for o in &mut m.options {
        if let DhcpOption::ClientId(duid) = o {
            let n = duid.len();
            duid[n - 6..].copy_from_slice(&i.to_be_bytes()[2..]);
        }
    }
    m.emit()
}

/// perfdhcp's Request: Client ID, Server ID and IAs copied from the Advertise.
fn request_from(advertise: &[u8], solicit: &[u8]) -> Vec<u8> {
    let a = Message::parse(advertise).expect("advertise parses");
    let s = Message::parse(solicit).expect("solicit parses");
    let keep = |o: &&DhcpOption| {
        use DhcpOption::*;
        matches!(o, ClientId(_) | ServerId(_) | IaNa(_) | IaPd(_))
    };
    let mut options: Vec<DhcpOption> = a.options.iter().filter(keep).cloned().collect();
    options.extend(
        s.options
            .iter()
            .filter(|o| matches!(o, DhcpOption::Oro(_) | DhcpOption::ElapsedTime(_)))
            .cloned(),
    );
    Message {
        msg_type: MessageType::Request,
        transaction_id: s.transaction_id ^ 0x0080_0000,
        options,
    }
    .emit()
}

struct Run {
    solicit_per_s: f64,
    request_per_s: f64,
    exchange_per_s: f64,
    changes: Vec<Vec<LeaseChange>>,
}

fn run_core(name: &str, template: &[u8], clients: u64) -> Run {
    let mut server = tandem_core::DhcpServer::new(
        config(),
        Duid(unhex("0001000132958600aabbccddeeff")),
        LeaseTable::new(),
    );
    let rx = RxInfo {
        src: SocketAddrV6::new("fe80::1".parse().expect("addr"), 546, 0, 2),
        dst: "ff02::1:2".parse::<Ipv6Addr>().expect("addr"),
        interface: "bench0".into(),
    };
    let now = Time::from_secs(1_800_000_000);
    // Interleaved like perfdhcp (each Advertise is answered by a Request at once, so
    // offers do not pile up); only the `handle` calls are timed.
    let (mut solicit_secs, mut request_secs) = (0.0, 0.0);
    let mut changes = Vec::with_capacity(clients as usize);
    for i in 0..clients {
        let s = solicit(template, i + 1);
        let t0 = Instant::now();
        let out = server.handle(now, &s, &rx);
        solicit_secs += t0.elapsed().as_secs_f64();
        let r = request_from(&out.reply.expect("advertise").bytes, &s);
        let t1 = Instant::now();
        let out = server.handle(now, &r, &rx);
        request_secs += t1.elapsed().as_secs_f64();
        assert!(out.reply.is_some(), "request unanswered: {:?}", out.drop);
        changes.push(out.changes);
    }
    assert!(
        changes.iter().all(|c| c.len() == 1),
        "every Request commits one lease"
    );
    let n = clients as f64;
    let run = Run {
        solicit_per_s: n / solicit_secs,
        request_per_s: n / request_secs,
        exchange_per_s: n / (solicit_secs + request_secs),
        changes,
    };
    println!(
        "core  {name}: {clients} exchanges: Solicit {:>9.0}/s ({:.2} us), Request {:>9.0}/s ({:.2} us), exchange {:>9.0}/s",
        run.solicit_per_s,
        1e6 / run.solicit_per_s,
        run.request_per_s,
        1e6 / run.request_per_s,
        run.exchange_per_s
    );
    run
}

fn run_store(name: &str, changes: &[Vec<LeaseChange>], group: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = SqliteStore::open(&dir.path().join("leases.db")).expect("open store");
    let batches: Vec<Batch> = changes.iter().cloned().map(Batch::leases).collect();
    let t0 = Instant::now();
    let mut groups = 0;
    for g in batches.chunks(group.max(1)) {
        let res = store.commit_group(g).expect("group commits");
        assert!(res.iter().all(|r| r.is_ok()));
        groups += 1;
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "store {name}: {} leases in {groups} groups of {group}: {:>9.0} leases/s, {:.2} ms per group (one fsync each)",
        batches.len(),
        batches.len() as f64 / secs,
        1e3 * secs / groups as f64
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let clients: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let group: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(32);
    for (name, template) in [("IA_NA", SOLICIT_NA), ("IA_PD", SOLICIT_PD)] {
        let run = run_core(name, &unhex(template), clients);
        run_store(name, &run.changes, group);
    }
}
