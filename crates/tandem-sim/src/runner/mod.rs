//! One simulated run: two failover servers, N clients, a fault schedule drawn from the seed,
//! and the invariants of the issue checked as the run goes:
//!
//! * (a) no address or prefix is valid for two clients at once (checked on every reply a
//!   client accepts, against every other client's still-valid holdings);
//! * (b) no lease a client was told of is lost across a crash (checked at every crash against
//!   the crashed server's durable store);
//! * (c) lease stability: a Renew/Rebind answer never takes away a still-valid lease the
//!   answering server knew (it holds the client's ACTIVE binding), nor one it could have
//!   adopted safely (its own share, held by no one else there); a binding whose update
//!   never arrived may be refused (RFC 8156 §8.4.1: a claim cannot be told from a stale one);
//! * (d) after the final heal both servers reach NORMAL and hold the same active bindings;
//! * (e) a server that may allocate never answers NoPrefixAvail while its own share of the
//!   prefix pool has room for more than every client there is;
//! * (f) a server in RECOVER-DONE creates no binding (RFC 8156 §8.7.1);
//! * (g) no server may, by its own rules, give a resource some client holds to another
//!   client (checked once a simulated second: the §8.4.1 reuse wait, FREE records included);
//! * (h) a server in PARTNER-DOWN offers its partner's prefixes only once its own share is
//!   used up (§8.4.1);
//! * (i) after the top of a driver loop turn no due timer is still waiting, at any load.
//!
//! The servers are the shipped driver loop (`tandem_server::runner::Runner`, with the core's
//! gate inside) around each node: the simulation only replaces the socket, the partner
//! link, the disk (a [`MemoryStore`] with crash semantics) and the clock.
//!
//! Clients are direct or behind a relay; a few are stale (they claim other clients'
//! leases, as a restored or cloned machine would). Faults: crashes (also right after a
//! reply, its update unsent, and in the middle of a write), partitions (also followed by a
//! crash of one side), long outages with operator partner-down past the lease time + MCLT;
//! some runs use a large prefix pool.
//!
//! Everything is deterministic in the seed: same seed, same run, same trace.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::net::{Ipv6Addr, SocketAddrV6};
use std::sync::Arc;

use ipnet::Ipv6Net;
use tandem_core::config::{AddressPool, PdPool, Subnet};
use tandem_core::{BindingStatus, Duid, Lease, Resource, ServerConfig, Time};
use tandem_failover::endpoint::{EndpointConfig, EndpointRecord};
use tandem_failover::node::{BatchId, Node as Core};
use tandem_failover::server::{Event as SrvEvent, FailoverServer, PairConfig};
use tandem_failover::{Role, ServerState};
use tandem_net::RecvMeta;
use tandem_server::runner::{CtlRequest, Mutations, PeerCommand, PeerEvent, Runner};
use tandem_server::Counters;
use tandem_store::{LeaseStore, MemoryStore};

mod checks;

use crate::rng::SimRng;
use crate::sim_client::{show, ClientEvent, Dest, Ms, SimClient};

/// Simulated time starts here (Unix seconds).
const EPOCH: u64 = 1_800_000_000;
const MCLT: u32 = 60;

/// What one run does.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub seed: u64,
    pub clients: u32,
    /// Seconds of faults; then everything heals and the pair must converge.
    pub chaos_secs: u64,
    /// Seconds allowed for convergence after the heal.
    pub settle_secs: u64,
    /// Datagram loss between clients and servers.
    pub loss: f64,
    /// Deliberately broken server driver, to prove the checks can fail: client replies
    /// leave before their leases are synced.
    pub mutate_reply_before_sync: bool,
    /// How long an fsync takes, in ms (min, max).
    pub sync_ms: (u64, u64),
    /// Deliberately misconfigured pair, to prove the exclusivity check can fail: both
    /// servers are primaries (they never connect) and go to PARTNER-DOWN when STARTUP ends,
    /// so both hand out the primary's half of one pool.
    pub mutate_two_primaries: bool,
    /// Deliberately broken driver loop, to prove check (i) can fail: timers run only when
    /// the loop is idle (the first pair driver's bug), so client load starves them.
    pub mutate_timers_starve: bool,
    /// Clients that, now and then, claim another client's leases (restored or cloned).
    pub stale_clients: u32,
    /// A quarter of the clients talk through a relay agent.
    pub relays: bool,
}

impl SimConfig {
    pub fn for_seed(seed: u64) -> Self {
        SimConfig {
            seed,
            clients: 40,
            chaos_secs: 1800,
            settle_secs: 900,
            loss: 0.01,
            mutate_reply_before_sync: false,
            sync_ms: (1, 8),
            mutate_two_primaries: false,
            mutate_timers_starve: false,
            stale_clients: 3,
            relays: true,
        }
    }
}

/// The outcome of a run.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub seed: u64,
    /// auto partner-down on (short partitions) or off (operator partner-down only).
    pub auto_partner_down: bool,
    pub violations: Vec<String>,
    /// The last events before the end (or before the first violation).
    pub trace: Vec<String>,
    pub client_replies: u64,
    pub rebinds_kept: u64,
    pub crashes: u64,
    pub partitions: u64,
    pub operator_partner_down: u64,
    pub final_states: Vec<ServerState>,
    pub active_bindings: usize,
    /// Every server-level event of the run (states, crashes, partitions, link closes).
    pub server_log: Vec<String>,
    /// Leases ACTIVE on one side only after the heal where the other side holds the same
    /// client's lapsed record: the longer of two grants kept (safe, see `final_checks`).
    pub conservative_differences: usize,
    /// Renew/Rebind answers that took a lease the answering server did not know (its update
    /// never arrived, or a stale claim): allowed, the client asks anew.
    pub unknown_claims_refused: u64,
    pub stale_claims: u64,
    pub replies_via_relay: u64,
    /// The prefix pool of this run.
    pub pd_pool: PdPoolSize,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.violations.is_empty()
    }

    /// Everything needed to understand and replay a failure.
    pub fn explain(&self) -> String {
        let mut s = format!(
            "seed {} FAILED ({} violations; auto_partner_down={})\n\
             replay: SIM_SEED={} cargo test -p tandem-sim --test seeds replay -- --nocapture\n",
            self.seed,
            self.violations.len(),
            self.auto_partner_down,
            self.seed
        );
        for v in self.violations.iter().take(10) {
            s.push_str(&format!("  violation: {v}\n"));
        }
        s.push_str("server events:\n");
        for t in &self.server_log {
            s.push_str(&format!("  {t}\n"));
        }
        s.push_str("last events:\n");
        for t in &self.trace {
            s.push_str(&format!("  {t}\n"));
        }
        s
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    ClientWake(u32),
    ToServer {
        server: usize,
        client: u32,
        bytes: Vec<u8>,
        multicast: bool,
        relayed: bool,
    },
    ToClient {
        client: u32,
        server: usize,
        bytes: Vec<u8>,
    },
    Peer {
        to: usize,
        epoch: u64,
        bytes: Vec<u8>,
    },
    PeerReset {
        to: usize,
        epoch: u64,
    },
    Timer {
        node: usize,
        gen: u64,
    },
    Sync {
        node: usize,
        gen: u64,
    },
    /// Restart this node after its crash number `.1` (a restart meant for an earlier crash
    /// is stale and ignored).
    Restart(usize, u64),
    Partition,
    Heal,
    OperatorPartnerDown(usize),
    ConnectTick,
    Fault,
    /// Crash this node (during a partition), back after the given ms.
    CrashFor(usize, Ms),
    StaleClaim,
    /// A stale claim at this server.
    StaleClaimAt(usize),
}

struct Node {
    role: Role,
    duid: Duid,
    store: MemoryStore,
    /// The shipped driver loop (tandem-server's runner) around the node's core.
    runner: Option<Runner>,
    /// Connection epoch this side believes it is in.
    conn: Option<u64>,
    /// Batches written to the page cache, reported durable at the next sync.
    unsynced: Vec<BatchId>,
    timer_gen: u64,
    sync_gen: u64,
    sync_pending: bool,
    /// When this node last got an input (for the "timers only when idle" mutation).
    last_input: Ms,
    /// Crash right after the next client reply leaves, and come back after this long.
    crash_after_reply: Option<Ms>,
    /// How many times it crashed (so a restart belongs to one crash).
    crashes: u64,
}

/// The world of one run.
pub struct World {
    cfg: SimConfig,
    rng: SimRng,
    now: Ms,
    seq: u64,
    queue: BinaryHeap<Reverse<(Ms, u64, Ev)>>,
    nodes: Vec<Node>,
    clients: Vec<SimClient>,
    partitioned: bool,
    next_epoch: u64,
    /// Delivery time of the last message queued toward each node (TCP is FIFO).
    link_last: [Ms; 2],
    /// Peer messages caught by a partition: TCP retransmits them once it heals (unless the
    /// connection is given up first).
    stalled: Vec<(usize, u64, Vec<u8>)>,
    auto_pd: bool,
    /// resource → (client, valid_until) of current holders, for (a).
    holders: BTreeMap<Resource, Vec<(u32, Ms)>>,
    /// (client, resource) → (teller server, valid_until) of the newest tell, for (b).
    told: BTreeMap<(u32, Resource), (usize, Ms)>,
    trace: VecDeque<String>,
    report: Report,
    chaos_over: bool,
    pd_pool: PdPoolSize,
    /// (client, server) → the listed resources the server owed stability for when it last
    /// processed that client's Renew/Rebind, for (c).
    owed: BTreeMap<(u32, usize), Vec<Resource>>,
    /// What each client held before (most recent last), for stale claims of old leases.
    past: BTreeMap<u32, Vec<Resource>>,
    /// When to run (g) next on each node (once a simulated second).
    next_reuse_check: [Ms; 2],
}

/// One link with an address pool and a prefix pool, each about twice the client count so
/// both partners' halves have room (and little enough that addresses get reused).
/// How big the prefix pool of a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PdPoolSize {
    /// Room for about twice the clients.
    #[default]
    Usual,
    /// A /40: 65,536 prefixes, each share far from the bottom of the pool (RFC 8156 §4.2.2).
    Large,
    /// Just enough for the clients: prefixes go back to the pool and are reused, in
    /// PARTNER-DOWN from the partner's share too (RFC 8156 §8.4.1).
    Tight,
}

fn server_config(clients: u32, pd_pool: PdPoolSize) -> ServerConfig {
    let mut s = Subnet::new(1, "2001:db8:1::/64".parse().expect("literal"));
    s.interface = Some("sim0".into());
    let size = (clients * 2).max(256);
    let first: Ipv6Addr = "2001:db8:1::1000".parse().expect("literal");
    s.pools.push(AddressPool {
        first,
        last: Ipv6Addr::from(u128::from(first) + u128::from(size) - 1),
    });
    // /56s out of a prefix with room for `size` of them (or see PdPoolSize).
    let room = |n: u32| u8::try_from(56 - (32 - (n.max(2) - 1).leading_zeros())).unwrap_or(40);
    let len = match pd_pool {
        PdPoolSize::Usual => room(size).max(40),
        PdPoolSize::Large => 40,
        PdPoolSize::Tight => room(clients).max(40),
    };
    s.pd_pools.push(PdPool {
        prefix: Ipv6Net::new("2001:db8:100::".parse().expect("literal"), len)
            .expect("valid length"),
        delegated_len: 56,
    });
    s.preferred_lifetime = 300;
    s.valid_lifetime = 600;
    s.t1 = Some(150);
    s.t2 = Some(240);
    ServerConfig {
        subnets: vec![s],
        accept_unicast: true,
        affinity_time: 600,
        decline_quarantine: Some(300),
        ..ServerConfig::default()
    }
}

fn pair_config(role: Role, auto_pd: bool) -> PairConfig {
    let mut e = EndpointConfig::new(role, "sim", MCLT);
    e.local.keepalive = 10;
    e.local.max_unacked = 8;
    e.startup_secs = 5;
    e.auto_partner_down = auto_pd.then_some(30);
    e.recover_stall_secs = 60;
    PairConfig {
        endpoint: e,
        secondary_prefix_share: 30,
        rebalance_threshold: 4,
    }
}

fn server_addr(i: usize) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x10 + i as u16)
}

/// Interface indexes as the simulated socket reports them: the clients' link, served
/// directly, and the link the relay's datagrams arrive on.
const SIM_IFINDEX: u32 = 1;
const RELAY_IFINDEX: u32 = 2;
/// How long a node must go without input before its driver loop counts as idle (for the
/// "timers only when idle" mutation).
const IDLE_MS: Ms = 50;

/// The relay agent on the clients' link (RFC 8415 §19): link-address in the subnet.
const RELAY_ADDR: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0xfe);
const RELAY_LINK: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);

/// A client message as the relay forwards it.
fn relay_forward(c: u32, bytes: &[u8]) -> Vec<u8> {
    use tandem_wire::v6::{DhcpOption, MessageType, RelayMessage};
    RelayMessage {
        msg_type: MessageType::RelayForw,
        hop_count: 0,
        link_address: RELAY_LINK,
        peer_address: *client_addr(c).ip(),
        options: vec![
            DhcpOption::InterfaceId(b"sim0".to_vec()),
            DhcpOption::RelayMsg(bytes.to_vec()),
        ],
    }
    .emit()
}

/// The relay takes a RELAY-REPL apart: the client it is for and the client message.
fn relay_reply(bytes: &[u8]) -> Option<(u32, Vec<u8>)> {
    let r = tandem_wire::v6::RelayMessage::parse(bytes).ok()?;
    let inner = r.relay_msg_bytes()?.to_vec();
    Some((
        client_of(&SocketAddrV6::new(r.peer_address, 546, 0, 0)),
        inner,
    ))
}

/// The client message inside a datagram (relayed or not).
fn client_message(bytes: &[u8]) -> Option<tandem_wire::v6::Message> {
    use tandem_wire::v6::Packet;
    let mut p = Packet::parse(bytes).ok()?;
    for _ in 0..4 {
        match p {
            Packet::Message(m) => return Some(m),
            Packet::Relay(r) => p = r.inner().ok()?,
        }
    }
    None
}

/// Addresses and prefixes listed in a client message's IAs.
fn listed(m: &tandem_wire::v6::Message) -> Vec<Resource> {
    use tandem_wire::v6::OptionsExt;
    let mut v = Vec::new();
    for ia in m.ia_nas() {
        v.extend(ia.ia_addrs().iter().map(|a| Resource::Address(a.addr)));
    }
    for ia in m.ia_pds() {
        for p in ia.ia_prefixes() {
            if let Ok(n) = Ipv6Net::new(p.prefix, p.prefix_len) {
                v.push(Resource::Prefix(n));
            }
        }
    }
    v
}

fn client_addr(c: u32) -> SocketAddrV6 {
    let lo = (c & 0xffff) as u16;
    let hi = (c >> 16) as u16;
    SocketAddrV6::new(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, hi, lo), 546, 0, 0)
}

impl World {
    pub fn new(cfg: SimConfig) -> Self {
        let mut rng = SimRng::new(cfg.seed);
        let auto_pd = rng.chance(0.5);
        let pd_pool = match rng.range(0, 4) {
            0 => PdPoolSize::Large,
            1 => PdPoolSize::Tight,
            _ => PdPoolSize::Usual,
        };
        let nodes = [Role::Primary, Role::Secondary]
            .into_iter()
            .enumerate()
            .map(|(i, role)| Node {
                role,
                duid: Duid(vec![0, 2, 0, 0, 0, 9, b's', b'0' + i as u8]),
                store: MemoryStore::new(),
                runner: None,
                conn: None,
                unsynced: Vec::new(),
                last_input: 0,
                timer_gen: 0,
                sync_gen: 0,
                sync_pending: false,
                crash_after_reply: None,
                crashes: 0,
            })
            .collect();
        let mut w = World {
            report: Report {
                seed: cfg.seed,
                auto_partner_down: auto_pd,
                pd_pool,
                ..Report::default()
            },
            cfg,
            rng,
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            nodes,
            clients: Vec::new(),
            partitioned: false,
            next_epoch: 1,
            link_last: [0; 2],
            stalled: Vec::new(),
            auto_pd,
            holders: BTreeMap::new(),
            told: BTreeMap::new(),
            trace: VecDeque::new(),
            chaos_over: false,
            pd_pool,
            owed: BTreeMap::new(),
            past: BTreeMap::new(),
            next_reuse_check: [0; 2],
        };
        for i in 0..2 {
            w.start_node(i);
        }
        for c in 0..w.cfg.clients + w.cfg.stale_clients {
            let (na, pd) = match c % 3 {
                0 => (true, false),
                1 => (false, true),
                _ => (true, true),
            };
            // Stale clients wait for their claim (and act as ordinary clients after it).
            let start = if c < w.cfg.clients {
                w.rng.range(5_000, 120_000)
            } else {
                Ms::MAX
            };
            let mut client = SimClient::new(c, na, pd, start);
            // A quarter of the ordinary clients, and every other stale one, sit behind a relay.
            let stale = c >= w.cfg.clients;
            client.relayed = w.cfg.relays && (c % 4 == 3 || (stale && c % 2 == 1));
            w.clients.push(client);
            if start != Ms::MAX {
                w.at(start, Ev::ClientWake(c));
            }
        }
        if w.cfg.stale_clients > 0 {
            let t = w.rng.range(120_000, 600_000);
            w.at(t, Ev::StaleClaim);
        }
        w.at(1_000, Ev::ConnectTick);
        let first = w.rng.range(60_000, 240_000);
        w.at(first, Ev::Fault);
        w
    }

    /// Client-level detail: only the most recent events are kept.
    fn log(&mut self, s: String) {
        if self.trace.len() >= 200 {
            self.trace.pop_front();
        }
        self.trace
            .push_back(format!("t={}.{:03}s {s}", self.now / 1000, self.now % 1000));
    }

    /// Server-level events (states, crashes, links): kept for the whole run.
    fn log_server(&mut self, s: String) {
        let line = format!("t={}.{:03}s {s}", self.now / 1000, self.now % 1000);
        self.report.server_log.push(line.clone());
        self.log(s);
    }

    fn violation(&mut self, v: String) {
        self.log(format!("VIOLATION {v}"));
        if self.report.violations.is_empty() {
            self.report.trace = self.trace.iter().cloned().collect();
        }
        self.report
            .violations
            .push(format!("t={}s {v}", self.now / 1000));
    }

    fn at(&mut self, t: Ms, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse((t, self.seq, ev)));
    }

    fn core_now(&self) -> Time {
        Time(EPOCH + self.now / 1000)
    }

    // ------------------------------------------------------------------ nodes

    fn start_node(&mut self, i: usize) {
        let now = self.core_now();
        let node = &mut self.nodes[i];
        let mut store = node.store.clone();
        let leases = store.load_all().unwrap_or_default();
        let record = store
            .get_meta(EndpointRecord::META_KEY)
            .ok()
            .flatten()
            .and_then(|b| EndpointRecord::decode(&b).ok());
        let mut pair = pair_config(node.role, self.auto_pd);
        if self.cfg.mutate_two_primaries {
            pair.endpoint.role = Role::Primary;
            pair.endpoint.partner_down_on_first_start = true;
        }
        let core = Core::pair_member(
            server_config(self.cfg.clients, self.pd_pool),
            node.duid.clone(),
            leases,
            record,
            pair,
            now,
        )
        .expect("valid pools");
        let interfaces = [(SIM_IFINDEX, "sim0".to_string())].into_iter().collect();
        let mutations = Mutations {
            timers_only_when_idle: self.cfg.mutate_timers_starve,
            send_before_persist: self.cfg.mutate_reply_before_sync,
        };
        let runner = Runner::new(core, interfaces, Arc::new(Counters::default()), now)
            .with_mutations(mutations);
        node.runner = Some(runner);
        node.conn = None;
        node.unsynced.clear();
        self.log_server(format!("node {i} starts"));
        self.after_input(i);
    }

    fn crash(&mut self, i: usize) {
        if self.nodes[i].runner.is_none() {
            return;
        }
        // Not a server in PARTNER-DOWN whose partner is just starting: the partner would
        // leave STARTUP alone and serve without its leases (the operator hazard of
        // `Restart`; RFC 8156 §8.3.2 step 6).
        if self.restarting_beside_partner_down() {
            return;
        }
        self.report.crashes += 1;
        self.nodes[i].crashes += 1;
        self.log_server(format!("node {i} CRASHES"));
        let node = &mut self.nodes[i];
        node.store.crash();
        node.runner = None;
        node.conn = None;
        node.unsynced.clear();
        node.sync_pending = false;
        node.timer_gen += 1;
        node.sync_gen += 1;
        self.check_durability(i);
    }

    /// (b): every still-valid lease this server was the last to tell a client about must be
    /// in its durable store, for that client, lasting at least as long.
    fn check_durability(&mut self, i: usize) {
        let durable: BTreeMap<Resource, Lease> = self.nodes[i]
            .store
            .durable_leases()
            .into_iter()
            .map(|l| (l.resource, l))
            .collect();
        let now_ms = self.now;
        let mut bad = Vec::new();
        for ((client, r), (teller, until)) in &self.told {
            if *teller != i || *until <= now_ms + 2_000 {
                continue;
            }
            let duid = self.clients[*client as usize].duid().to_vec();
            let ok = durable.get(r).is_some_and(|l| {
                l.duid.0 == duid
                    && l.status == BindingStatus::Active
                    && l.state_expiration
                        .is_some_and(|e| (e.as_secs() - EPOCH) * 1000 + 2_000 >= *until)
            });
            if !ok {
                bad.push(format!(
                    "(b) node {i} crashed and lost client {client}'s {} (told valid until {}s): durable record {:?}",
                    show(r),
                    until / 1000,
                    durable.get(r).map(|l| (l.status, l.state_expiration))
                ));
            }
        }
        for b in bad {
            self.violation(b);
        }
    }

    /// Carries out what the node's driver loop decided after an input, as the tokio driver
    /// does: batches to the page cache (durable, and reported, at the next sync), replies to
    /// the clients, messages to the partner.
    fn after_input(&mut self, i: usize) {
        let Some(runner) = self.nodes[i].runner.as_mut() else {
            return;
        };
        let actions = runner.take_actions();
        for (id, batch) in actions.commits {
            let node = &mut self.nodes[i];
            node.store.write_unsynced(&batch).expect("storable");
            node.unsynced.push(id);
        }
        for e in actions.events {
            self.on_event(i, e);
        }
        for (bytes, to) in actions.replies {
            self.release_reply(i, bytes, to.dst);
            if self.nodes[i].runner.is_none() {
                return; // crashed right after a reply: nothing else left
            }
        }
        for cmd in actions.peer {
            self.release_peer(i, cmd);
        }
        let node = &mut self.nodes[i];
        if !node.unsynced.is_empty() && !node.sync_pending {
            node.sync_pending = true;
            node.sync_gen += 1;
            let gen = node.sync_gen;
            let d = self.rng.range(self.cfg.sync_ms.0, self.cfg.sync_ms.1);
            self.at(self.now + d, Ev::Sync { node: i, gen });
        }
        if self.now >= self.next_reuse_check[i] {
            self.next_reuse_check[i] = self.now + 1_000;
            self.check_reusable_while_held(i);
        }
        self.schedule_timer(i);
    }

    fn schedule_timer(&mut self, i: usize) {
        let Some(t) = self.nodes[i].runner.as_ref().and_then(|r| r.wake_at()) else {
            return;
        };
        let ms = (t.as_secs().saturating_sub(EPOCH)) * 1000;
        let ms = ms.max(self.now + 1);
        self.nodes[i].timer_gen += 1;
        let gen = self.nodes[i].timer_gen;
        self.at(ms, Ev::Timer { node: i, gen });
    }

    fn release_reply(&mut self, i: usize, bytes: Vec<u8>, dest: SocketAddrV6) {
        // A reply to the relay (port 547) goes on to the client it names.
        let (c, bytes) = if dest.port() == 547 {
            match relay_reply(&bytes) {
                Some(x) => {
                    self.report.replies_via_relay += 1;
                    x
                }
                None => {
                    self.violation(format!("node {i}: RELAY-REPL the relay cannot read"));
                    return;
                }
            }
        } else {
            (client_of(&dest), bytes)
        };
        let renewal = self.clients.get(c as usize).is_some_and(|cl| cl.renewing());
        if let Some(back) = self.nodes[i].crash_after_reply.filter(|_| renewal) {
            // The Reply to a Renew has left; the update that follows it has not.
            self.nodes[i].crash_after_reply = None;
            self.log_server(format!(
                "node {i} CRASHES right after a reply to client {c}"
            ));
            self.crash(i);
            self.at(self.now + back, Ev::Restart(i, self.nodes[i].crashes));
            // The operator notices and declares it down.
            let t = self.now + self.rng.range(5_000, 40_000);
            self.at(t.min(self.now + back - 1), Ev::OperatorPartnerDown(1 - i));
        }
        if self.rng.chance(self.cfg.loss) {
            return;
        }
        let d = self.rng.range(1, 30);
        self.at(
            self.now + d,
            Ev::ToClient {
                client: c,
                server: i,
                bytes,
            },
        );
    }

    fn release_peer(&mut self, i: usize, cmd: PeerCommand) {
        match cmd {
            PeerCommand::Send(bytes) => {
                let Some(epoch) = self.nodes[i].conn else {
                    return;
                };
                if self.partitioned {
                    self.stalled.push((1 - i, epoch, bytes));
                    return;
                }
                // TCP keeps order: deliver after everything sent before on this link.
                let d = self.rng.range(1, 10);
                let when = (self.now + d).max(self.link_last[1 - i]);
                self.link_last[1 - i] = when;
                self.at(
                    when,
                    Ev::Peer {
                        to: 1 - i,
                        epoch,
                        bytes,
                    },
                );
            }
            PeerCommand::Close(reason) => {
                let old = self.nodes[i].conn.take();
                self.log_server(format!("node {i} closes link: {reason}"));
                if let (Some(e), false) = (old, self.partitioned) {
                    let d = self.rng.range(1, 10);
                    self.at(
                        self.now + d,
                        Ev::PeerReset {
                            to: 1 - i,
                            epoch: e,
                        },
                    );
                }
            }
        }
    }

    fn on_event(&mut self, i: usize, e: SrvEvent) {
        if let SrvEvent::StateChanged { from, to } = e {
            self.log_server(format!("node {i} {from} -> {to}"));
            if to == ServerState::RecoverWait {
                self.maybe_cut_during_recovery(i);
            }
        } else if let SrvEvent::ProtocolError(p) = &e {
            self.log_server(format!("node {i} protocol error: {p}"));
        } else if let SrvEvent::BindingDisplaced {
            resource, client, ..
        } = &e
        {
            self.log_server(format!(
                "node {i}: {} of {client} replaced by the partner's binding",
                show(resource)
            ));
        }
    }

    /// The failover side of node `i`, if it runs.
    pub(super) fn fs(&self, i: usize) -> Option<&FailoverServer> {
        self.nodes[i]
            .runner
            .as_ref()
            .and_then(|r| r.node().failover())
    }

    /// The top of a driver loop turn on node `i` (its due timers run first), before an input.
    fn turn(&mut self, i: usize) -> Option<&mut Runner> {
        let now = self.core_now();
        self.nodes[i].last_input = self.now;
        let overdue = {
            let r = self.nodes[i].runner.as_mut()?;
            r.turn(now);
            r.timer_overdue(now)
        };
        // (i) The loop runs due timers at the top of every turn: after it, none may still be
        // waiting, at any load (a second of slack for the whole-second clock).
        if overdue > 1 {
            self.violation(format!(
                "(i) node {i}: a due timer still waits after the turn, {overdue} s late"
            ));
        }
        self.nodes[i].runner.as_mut()
    }

    // ------------------------------------------------------------------ main loop

    pub fn run(mut self) -> Report {
        let end_chaos = self.cfg.chaos_secs * 1000;
        let end = end_chaos + self.cfg.settle_secs * 1000;
        while let Some(Reverse((t, seq, ev))) = self.queue.pop() {
            if t > end {
                self.queue.push(Reverse((t, seq, ev)));
                break;
            }
            self.now = t;
            if !self.chaos_over && t >= end_chaos {
                self.chaos_over = true;
                self.heal_all();
            }
            self.handle(ev);
            if self.report.violations.len() > 20 {
                break;
            }
        }
        // Let updates in flight land (TCP and fsync take milliseconds; an ack can release a
        // follow-up update), with no new client traffic and no timers, until the link is
        // quiet, before comparing the two databases.
        while let Some(Reverse((t, _, ev))) = self.queue.pop() {
            if t > end + 60_000 {
                break;
            }
            if matches!(ev, Ev::Peer { .. } | Ev::PeerReset { .. } | Ev::Sync { .. }) {
                self.now = self.now.max(t);
                self.handle(ev);
            }
        }
        self.now = self.now.max(end);
        self.final_checks();
        if self.report.violations.is_empty() {
            self.report.trace = self.trace.iter().cloned().collect();
        }
        self.report
    }

    fn heal_all(&mut self) {
        self.log_server("chaos over: heal everything".into());
        for n in &mut self.nodes {
            n.crash_after_reply = None;
        }
        if self.partitioned {
            self.handle(Ev::Heal);
        }
        for i in 0..2 {
            if self.nodes[i].runner.is_none() {
                self.start_node(i);
            }
        }
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::ClientWake(c) => self.client_wake(c),
            Ev::ToServer {
                server,
                client,
                bytes,
                multicast,
                relayed,
            } => {
                if self.nodes[server].runner.is_none() {
                    return;
                }
                let now = self.core_now();
                // As the socket reports it: relayed datagrams come from the relay (port 547)
                // on an interface not served directly.
                let meta = if relayed {
                    RecvMeta {
                        src: SocketAddrV6::new(RELAY_ADDR, 547, 0, 0),
                        dst: server_addr(server),
                        ifindex: RELAY_IFINDEX,
                        truncated: false,
                    }
                } else {
                    RecvMeta {
                        src: client_addr(client),
                        dst: if multicast {
                            "ff02::1:2".parse().expect("literal")
                        } else {
                            server_addr(server)
                        },
                        ifindex: SIM_IFINDEX,
                        truncated: false,
                    }
                };
                let msg = client_message(&bytes);
                // The turn's timers run first, as in production; the checks then look at
                // what the server knows when it answers.
                let _ = self.turn(server);
                self.note_owed(server, client, msg.as_ref());
                let recover_done_before = self.active_of(server, client, ServerState::RecoverDone);
                let outcome = self.nodes[server]
                    .runner
                    .as_mut()
                    .and_then(|r| r.on_datagram(now, &bytes, &meta));
                self.check_recover_done(server, client, recover_done_before);
                if let Some(o) = outcome {
                    self.check_no_prefix_avail(server, &o);
                    self.check_own_share_first(server, &o);
                }
                self.after_input(server);
            }
            Ev::ToClient {
                client,
                server,
                bytes,
            } => self.client_reply(client, server, &bytes),
            Ev::Peer { to, epoch, bytes } => {
                if self.nodes[to].conn != Some(epoch) {
                    return;
                }
                if self.partitioned {
                    self.stalled.push((to, epoch, bytes));
                    return;
                }
                let now = self.core_now();
                if let Some(r) = self.turn(to) {
                    r.on_peer(now, Some(PeerEvent::Frame(bytes)));
                    self.after_input(to);
                }
            }
            Ev::PeerReset { to, epoch } => {
                if self.nodes[to].conn == Some(epoch) {
                    self.nodes[to].conn = None;
                    let now = self.core_now();
                    if let Some(r) = self.turn(to) {
                        r.on_peer(now, Some(PeerEvent::Disconnected("reset".into())));
                        self.after_input(to);
                    }
                }
            }
            Ev::Timer { node, gen } => {
                if self.nodes[node].timer_gen != gen {
                    return;
                }
                // The driver's sleep ends. With the "timers only when idle" mutation the loop
                // is idle only after a quiet moment (tokio's biased select serves ready
                // inputs first), so under load the wake keeps being put off.
                let busy = self.now < self.nodes[node].last_input + IDLE_MS;
                if self.cfg.mutate_timers_starve && busy {
                    self.nodes[node].timer_gen += 1;
                    let gen = self.nodes[node].timer_gen;
                    self.at(self.now + IDLE_MS, Ev::Timer { node, gen });
                    return;
                }
                let now = self.core_now();
                if let Some(r) = self.nodes[node].runner.as_mut() {
                    r.idle_wake(now);
                    self.after_input(node);
                }
            }
            Ev::Sync { node, gen } => {
                let n = &mut self.nodes[node];
                if n.sync_gen != gen || n.runner.is_none() {
                    return;
                }
                n.store.sync();
                n.sync_pending = false;
                let done = std::mem::take(&mut n.unsynced);
                if let Some(r) = self.turn(node) {
                    for id in done {
                        r.on_committed(id, Ok(()));
                    }
                    self.after_input(node);
                }
            }
            Ev::Restart(i, crash) if crash != self.nodes[i].crashes => {}
            Ev::Restart(i, crash) => {
                // A careful operator does not start a server while it cannot talk to its
                // partner if either of them is in (or went down in) PARTNER-DOWN: after the
                // STARTUP timer it would resume its previous state without knowing what the
                // other did meanwhile — serve its own pool, which the partner in PARTNER-DOWN
                // may have used, or itself resume PARTNER-DOWN beside a partner that is up
                // (RFC 8156 §8.3.2 step 6, §8.4.1). The partner or the link comes back first.
                let partner_up = self.nodes[1 - i].runner.is_some();
                let cannot_talk = self.partitioned || !partner_up;
                let either_down = self.partner_down_state(1 - i) || self.partner_down_state(i);
                if cannot_talk && either_down && !self.chaos_over {
                    self.at(self.now + 5_000, Ev::Restart(i, crash));
                } else if self.nodes[i].runner.is_none() {
                    self.start_node(i);
                }
            }
            Ev::Partition => {
                // Not while a server starts and its partner is in PARTNER-DOWN: after the
                // STARTUP timer it would resume its previous state and serve its own pool,
                // which the partner may be using (RFC 8156 §8.3.2 step 6 — an operator
                // hazard the README names), so the careful operator of `Restart` also waits
                // for the link to hold until the two have talked.
                if self.restarting_beside_partner_down() {
                    self.at(self.now + 5_000, Ev::Partition);
                    return;
                }
                if !self.partitioned && !self.chaos_over {
                    self.partitioned = true;
                    self.report.partitions += 1;
                    self.log_server("link between the servers CUT".into());
                }
            }
            Ev::Heal => {
                if self.partitioned {
                    self.partitioned = false;
                    self.log_server("link between the servers healed".into());
                    for (to, epoch, bytes) in std::mem::take(&mut self.stalled) {
                        let when = (self.now + 1).max(self.link_last[to]);
                        self.link_last[to] = when;
                        self.at(when, Ev::Peer { to, epoch, bytes });
                    }
                }
            }
            Ev::OperatorPartnerDown(i) => {
                let partner_dead = self.nodes[1 - i].runner.is_none();
                let now = self.core_now();
                if partner_dead && self.nodes[i].runner.is_some() {
                    // Through the control socket's request, as `tandem ctl partner-down`.
                    let (tx, mut rx) = tokio::sync::oneshot::channel();
                    if let Some(r) = self.turn(i) {
                        r.on_ctl(now, CtlRequest::PartnerDown(tx));
                    }
                    if matches!(rx.try_recv(), Ok(Ok(()))) {
                        self.report.operator_partner_down += 1;
                        self.log_server(format!("operator: node {i} partner-down"));
                    }
                    self.after_input(i);
                }
            }
            Ev::ConnectTick => {
                self.at(self.now + 2_000, Ev::ConnectTick);
                let both_up = self.nodes.iter().all(|n| n.runner.is_some());
                let both_idle = self.nodes.iter().all(|n| n.conn.is_none());
                if both_up && both_idle && !self.partitioned {
                    let e = self.next_epoch;
                    self.next_epoch += 1;
                    let now = self.core_now();
                    for i in [1, 0] {
                        self.nodes[i].conn = Some(e);
                        if let Some(r) = self.turn(i) {
                            r.on_peer(now, Some(PeerEvent::Connected));
                        }
                        self.after_input(i);
                    }
                }
            }
            Ev::Fault => self.fault(),
            Ev::CrashFor(i, down_for) => {
                if !self.chaos_over && self.nodes[1 - i].runner.is_some() {
                    self.crash(i);
                    let back = self.now + down_for;
                    // The link comes back with the server.
                    self.at(back, Ev::Heal);
                    self.at(back, Ev::Restart(i, self.nodes[i].crashes));
                }
            }
            Ev::StaleClaim => self.stale_claim(None),
            Ev::StaleClaimAt(i) => self.stale_claim(Some(i)),
        }
    }

    /// Draw the next fault (only during the chaos period).
    fn fault(&mut self) {
        if self.chaos_over {
            return;
        }
        let next = self.now + self.rng.range(60_000, 300_000);
        self.at(next, Ev::Fault);
        match self.rng.range(0, 6) {
            0 => {
                let i = self.rng.range(0, 2) as usize;
                if self.nodes[1 - i].runner.is_none() {
                    return; // never both down at once
                }
                self.crash(i);
                let back = self.now + self.rng.range(5_000, 400_000);
                self.at(back, Ev::Restart(i, self.nodes[i].crashes));
                // A careful operator: declares the partner down only when it really is.
                if self.rng.chance(0.5) {
                    let t = self.now + self.rng.range(20_000, 120_000);
                    self.at(
                        t.min(back.saturating_sub(1)),
                        Ev::OperatorPartnerDown(1 - i),
                    );
                }
            }
            1 => {
                self.handle(Ev::Partition);
                // With auto partner-down on, partitions stay shorter than its timer: a longer
                // one makes both servers take over, which RFC 8156 §8.4.1 warns can hand one
                // prefix to two clients. Without it, partitions may be long.
                let len = if self.auto_pd {
                    self.rng.range(5_000, 25_000)
                } else {
                    self.rng.range(5_000, 400_000)
                };
                self.at(self.now + len, Ev::Heal);
            }
            2 => {
                // Crash right in the middle of a write: the page cache is lost.
                let i = self.rng.range(0, 2) as usize;
                if self.nodes[1 - i].runner.is_some() && self.nodes[i].store.unsynced_batches() > 0
                {
                    self.crash(i);
                    let back = self.now + self.rng.range(1_000, 30_000);
                    self.at(back, Ev::Restart(i, self.nodes[i].crashes));
                }
            }
            3 => {
                // Crash right after the Reply to a Renew: the lazy update behind it is never sent
                // (RFC 8156 §4.3); the operator then declares the partner down.
                let i = self.rng.range(0, 2) as usize;
                if self.nodes.iter().all(|n| n.runner.is_some()) {
                    let back = self.rng.range(5_000, 900_000);
                    self.nodes[i].crash_after_reply = Some(back);
                }
            }
            4 => {
                // A long outage with operator partner-down: runs far past the lease time + MCLT.
                let i = self.rng.range(0, 2) as usize;
                if self.nodes[1 - i].runner.is_some() {
                    self.crash(i);
                    let back = self.now + self.rng.range(700_000, 1_500_000);
                    self.at(back, Ev::Restart(i, self.nodes[i].crashes));
                    let t = self.now + self.rng.range(10_000, 60_000);
                    self.at(t.min(back - 1), Ev::OperatorPartnerDown(1 - i));
                }
            }
            _ => {
                // A partition, then one side dies (it renewed clients past what its partner
                // acked, §4.4) and stays down long; the other is declared partner-down.
                let i = self.rng.range(0, 2) as usize;
                if self.nodes.iter().all(|n| n.runner.is_some()) {
                    self.handle(Ev::Partition);
                    let crash_at = self.now + self.rng.range(5_000, 20_000);
                    let down_for = self.rng.range(700_000, 1_500_000);
                    self.at(crash_at, Ev::CrashFor(i, down_for));
                    let t = crash_at + self.rng.range(10_000, 60_000);
                    self.at(t, Ev::OperatorPartnerDown(1 - i));
                }
            }
        }
    }

    /// Whether server `j` is in PARTNER-DOWN, or was when it went down.
    fn partner_down_state(&self, j: usize) -> bool {
        match self.fs(j) {
            Some(s) => s.state() == ServerState::PartnerDown,
            None => {
                let mut store = self.nodes[j].store.clone();
                store
                    .get_meta(EndpointRecord::META_KEY)
                    .ok()
                    .flatten()
                    .and_then(|b| EndpointRecord::decode(&b).ok())
                    .is_some_and(|r| r.state == ServerState::PartnerDown)
            }
        }
    }

    /// Whether one server is in STARTUP while the other is in PARTNER-DOWN.
    fn restarting_beside_partner_down(&self) -> bool {
        let state = |i: usize| self.fs(i).map(|s| s.state());
        (0..2).any(|i| {
            state(i) == Some(ServerState::Startup) && state(1 - i) == Some(ServerState::PartnerDown)
        })
    }

    /// Sometimes the link goes while a server waits in RECOVER-WAIT: it then sits in
    /// RECOVER-DONE, answering Renews for what it knows only (§8.7.1), and a stale client
    /// renews there.
    fn maybe_cut_during_recovery(&mut self, i: usize) {
        if self.chaos_over || self.partitioned || !self.rng.chance(0.5) {
            return;
        }
        // With auto partner-down a long cut would put a partner in COMMUNICATIONS-INTERRUPTED
        // into PARTNER-DOWN as well (RFC 8156 §8.4.1 warns of that); cut only when the partner
        // already is PARTNER-DOWN.
        let partner = self.fs(1 - i).map(|s| s.state());
        if self.auto_pd && partner != Some(ServerState::PartnerDown) {
            return;
        }
        self.at(self.now + 1, Ev::Partition);
        let len = self.rng.range(60_000, 200_000);
        self.at(self.now + 1 + len, Ev::Heal);
        let t = self.now + u64::from(MCLT) * 1000 + self.rng.range(1_000, 30_000);
        self.at(t, Ev::StaleClaimAt(i));
    }

    /// A stale client claims, at one server, the leases another client holds now.
    fn stale_claim(&mut self, at: Option<usize>) {
        if self.chaos_over || self.cfg.stale_clients == 0 {
            return;
        }
        if at.is_none() {
            let next = self.now + self.rng.range(60_000, 300_000);
            self.at(next, Ev::StaleClaim);
        }
        let first = self.cfg.clients;
        let stale = first + self.rng.range(0, u64::from(self.cfg.stale_clients)) as u32;
        let holders: Vec<u32> = (0..first)
            .filter(|c| !self.clients[*c as usize].held.is_empty())
            .collect();
        if holders.is_empty() || !self.clients[stale as usize].idle() {
            return;
        }
        let victim = holders[self.rng.range(0, holders.len() as u64) as usize];
        // A clone claims what the victim holds now; a client restored from an old backup
        // claims what it held before (often back in a pool by now: safe to adopt from the
        // answering server's own share, RFC 8156 §8.4.1).
        let old = self.past.get(&victim).cloned().unwrap_or_default();
        let claimed: Vec<Resource> = if !old.is_empty() && self.rng.chance(0.5) {
            old
        } else {
            self.clients[victim as usize]
                .held
                .iter()
                .map(|h| h.resource)
                .collect()
        };
        let server = at.unwrap_or_else(|| self.rng.range(0, 2) as usize);
        let sid = self.nodes[server].duid.0.clone();
        self.report.stale_claims += 1;
        self.log(format!(
            "stale client {stale} claims client {victim}'s (current or past) {} at node {server}",
            claimed.iter().map(show).collect::<Vec<_>>().join(", ")
        ));
        self.clients[stale as usize].claim(self.now, claimed, server, sid);
        self.at(self.now, Ev::ClientWake(stale));
    }

    // ------------------------------------------------------------------ clients

    fn client_wake(&mut self, c: u32) {
        let now = self.now;
        let ci = c as usize;
        if self.clients[ci].next_wakeup() > now {
            return;
        }
        let (out, ev) = self.clients[ci].poll(now, &mut self.rng);
        self.client_events(c, ev);
        for (dest, bytes) in out {
            let targets: Vec<usize> = match dest {
                Dest::All => vec![0, 1],
                Dest::Server(s) => vec![s],
            };
            let relayed = self.clients[ci].relayed;
            let bytes = if relayed {
                relay_forward(c, &bytes)
            } else {
                bytes
            };
            for s in targets {
                if self.rng.chance(self.cfg.loss) {
                    continue;
                }
                let d = self.rng.range(1, 30);
                self.at(
                    now + d,
                    Ev::ToServer {
                        server: s,
                        client: c,
                        bytes: bytes.clone(),
                        multicast: dest == Dest::All && !relayed,
                        relayed,
                    },
                );
            }
        }
        let w = self.clients[ci].next_wakeup().max(now + 1);
        self.at(w, Ev::ClientWake(c));
    }

    fn client_reply(&mut self, c: u32, server: usize, bytes: &[u8]) {
        let now = self.now;
        let ci = c as usize;
        let before: Vec<Resource> = self.clients[ci].held.iter().map(|h| h.resource).collect();
        let ev = self.clients[ci].on_reply(now, server, bytes, &mut self.rng);
        self.report.client_replies += 1;
        let rebinding_kept = ev
            .iter()
            .any(|e| matches!(e, ClientEvent::Told { resource, .. } if before.contains(resource)));
        if rebinding_kept {
            self.report.rebinds_kept += 1;
        }
        self.client_events(c, ev);
        let w = self.clients[ci].next_wakeup().max(now + 1);
        self.at(w, Ev::ClientWake(c));
    }

    fn client_events(&mut self, c: u32, ev: Vec<ClientEvent>) {
        let now = self.now;
        for e in ev {
            match e {
                ClientEvent::Told {
                    resource,
                    valid_until,
                    server,
                } => {
                    // (a): nobody else may hold it now.
                    let others: Vec<(u32, Ms)> = self
                        .holders
                        .get(&resource)
                        .into_iter()
                        .flatten()
                        .filter(|(o, until)| *o != c && *until > now)
                        .copied()
                        .collect();
                    for (o, until) in others {
                        self.violation(format!(
                            "(a) {} given to client {c} by node {server} while client {o} holds it until {}s",
                            show(&resource),
                            until / 1000
                        ));
                    }
                    let h = self.holders.entry(resource).or_default();
                    h.retain(|(o, until)| *o != c && *until > now);
                    h.push((c, valid_until));
                    self.told.insert((c, resource), (server, valid_until));
                    self.log(format!(
                        "client {c} holds {} until {}s (node {server})",
                        show(&resource),
                        valid_until / 1000
                    ));
                }
                ClientEvent::Dropped { resource } => {
                    let past = self.past.entry(c).or_default();
                    past.retain(|r| *r != resource);
                    past.push(resource);
                    if past.len() > 4 {
                        past.remove(0);
                    }
                    if let Some(h) = self.holders.get_mut(&resource) {
                        h.retain(|(o, _)| *o != c);
                    }
                    self.told.remove(&(c, resource));
                }
                ClientEvent::StabilityLost {
                    resource,
                    server,
                    detail,
                } => {
                    if !self.stability_owed(c, server, &resource) {
                        self.log(format!(
                            "client {c}: node {server} refused {} it did not know: {detail}",
                            show(&resource)
                        ));
                        continue;
                    }
                    let record = self
                        .fs(server)
                        .and_then(|s| s.leases().get(&resource).cloned());
                    self.violation(format!(
                        "(c) client {c} lost {} on rebind/renew to node {server}: {detail}; its record there: {record:?}",
                        show(&resource)
                    ));
                }
            }
        }
    }

    // ------------------------------------------------------------------ the end

    fn final_checks(&mut self) {
        let states: Vec<ServerState> = self
            .nodes
            .iter()
            .map(|n| {
                n.runner
                    .as_ref()
                    .and_then(|r| r.node().state())
                    .unwrap_or(ServerState::Startup)
            })
            .collect();
        self.report.final_states = states.clone();
        if states != [ServerState::Normal, ServerState::Normal] {
            self.violation(format!("(d) not both NORMAL after the heal: {states:?}"));
            return;
        }
        let now = self.core_now();
        let active = |n: &Node| -> BTreeMap<Resource, Vec<u8>> {
            n.runner
                .as_ref()
                .map(|r| r.node())
                .map(|s| {
                    s.leases()
                        .iter()
                        .filter(|l| l.is_active_at(now))
                        .map(|l| (l.resource, l.duid.0.clone()))
                        .collect()
                })
                .unwrap_or_default()
        };
        let a = active(&self.nodes[0]);
        let b = active(&self.nodes[1]);
        self.report.active_bindings = a.len();
        // A lease ACTIVE on one side only is a real divergence, except in one case that is
        // safe by design: both records are the same client's, and the side that still holds
        // it ACTIVE kept the longer of two grants (its partner's shorter one reached the
        // client last, then expired). It only keeps the resource from reuse a little longer.
        let record = |i: usize, r: &Resource| self.fs(i).and_then(|s| s.leases().get(r).cloned());
        let mut real = Vec::new();
        let mut safe = 0;
        for (r, duid) in a
            .iter()
            .filter(|(r, _)| !b.contains_key(*r))
            .map(|(r, d)| (r, d, 1usize))
            .chain(
                b.iter()
                    .filter(|(r, _)| !a.contains_key(*r))
                    .map(|(r, d)| (r, d, 0usize)),
            )
            .map(|(r, d, other)| ((*r, other), d.clone()))
        {
            let (r, other) = r;
            let same_client_lapsed = record(other, &r).is_some_and(|l| {
                l.duid.0 == duid
                    && matches!(l.status, BindingStatus::Expired | BindingStatus::Released)
            });
            if same_client_lapsed {
                safe += 1;
            } else {
                real.push(format!("{} (active on node {} only)", show(&r), 1 - other));
            }
        }
        self.report.conservative_differences = safe;
        if !real.is_empty() {
            self.violation(format!(
                "(d) databases differ after the heal: {} vs {} active; {:?}",
                a.len(),
                b.len(),
                real.iter().take(5).collect::<Vec<_>>()
            ));
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if let Some(s) = n.runner.as_ref().and_then(|r| r.node().failover()) {
                let (pending, outstanding) = s.unacked_updates();
                if pending + outstanding > 0 {
                    let out: Vec<String> = s
                        .outbox()
                        .outstanding()
                        .map(|(x, k)| format!("xid {x} {k:?}"))
                        .collect();
                    let v = format!("(d) node {i} still has {pending} queued and {outstanding} unanswered updates {out:?}");
                    self.report.violations.push(v);
                }
            }
        }
    }
}

fn client_of(dest: &SocketAddrV6) -> u32 {
    let s = dest.ip().segments();
    (u32::from(s[6]) << 16) | u32::from(s[7])
}

/// Runs one seed with the default configuration.
pub fn run_seed(seed: u64) -> Report {
    World::new(SimConfig::for_seed(seed)).run()
}
