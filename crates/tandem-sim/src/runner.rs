//! One simulated run: two failover servers, N clients, a fault schedule drawn from the seed,
//! and the invariants of the issue checked as the run goes:
//!
//! * (a) no address or prefix is valid for two clients at once (checked on every reply a
//!   client accepts, against every other client's still-valid holdings);
//! * (b) no lease a client was told of is lost across a crash (checked at every crash against
//!   the crashed server's durable store);
//! * (c) lease stability: a Renew/Rebind answer never takes a still-valid lease away;
//! * (d) after the final heal both servers reach NORMAL and hold the same active bindings.
//!
//! Everything is deterministic in the seed: same seed, same run, same trace.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::net::{Ipv6Addr, SocketAddrV6};

use ipnet::Ipv6Net;
use tandem_core::config::{AddressPool, PdPool, Subnet};
use tandem_core::{BindingStatus, Duid, Lease, Resource, RxInfo, ServerConfig, Time};
use tandem_failover::endpoint::{EndpointConfig, EndpointRecord};
use tandem_failover::server::{Event as SrvEvent, FailoverServer, Output, PairConfig, PersistItem};
use tandem_failover::{Role, ServerState};
use tandem_store::{Batch, LeaseStore, MemoryStore};

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
    Restart(usize),
    Partition,
    Heal,
    OperatorPartnerDown(usize),
    ConnectTick,
    Fault,
}

struct Node {
    role: Role,
    duid: Duid,
    store: MemoryStore,
    server: Option<FailoverServer>,
    /// Connection epoch this side believes it is in.
    conn: Option<u64>,
    /// Released after the next sync.
    held: Vec<Output>,
    timer_gen: u64,
    sync_gen: u64,
    sync_pending: bool,
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
}

/// One link with an address pool and a prefix pool, each about twice the client count so
/// both partners' halves have room (and little enough that addresses get reused).
fn server_config(clients: u32) -> ServerConfig {
    let mut s = Subnet::new(1, "2001:db8:1::/64".parse().expect("literal"));
    s.interface = Some("sim0".into());
    let size = (clients * 2).max(256);
    let first: Ipv6Addr = "2001:db8:1::1000".parse().expect("literal");
    s.pools.push(AddressPool {
        first,
        last: Ipv6Addr::from(u128::from(first) + u128::from(size) - 1),
    });
    // /56s out of a prefix with room for `size` of them.
    let bits = 32 - (size - 1).leading_zeros();
    let len = u8::try_from(56 - bits).unwrap_or(40).max(40);
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

fn client_addr(c: u32) -> SocketAddrV6 {
    let lo = (c & 0xffff) as u16;
    let hi = (c >> 16) as u16;
    SocketAddrV6::new(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, hi, lo), 546, 0, 0)
}

impl World {
    pub fn new(cfg: SimConfig) -> Self {
        let mut rng = SimRng::new(cfg.seed);
        let auto_pd = rng.chance(0.5);
        let nodes = [Role::Primary, Role::Secondary]
            .into_iter()
            .enumerate()
            .map(|(i, role)| Node {
                role,
                duid: Duid(vec![0, 2, 0, 0, 0, 9, b's', b'0' + i as u8]),
                store: MemoryStore::new(),
                server: None,
                conn: None,
                held: Vec::new(),
                timer_gen: 0,
                sync_gen: 0,
                sync_pending: false,
            })
            .collect();
        let mut w = World {
            report: Report {
                seed: cfg.seed,
                auto_partner_down: auto_pd,
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
        };
        for i in 0..2 {
            w.start_node(i);
        }
        for c in 0..w.cfg.clients {
            let (na, pd) = match c % 3 {
                0 => (true, false),
                1 => (false, true),
                _ => (true, true),
            };
            let start = w.rng.range(5_000, 120_000);
            w.clients.push(SimClient::new(c, na, pd, start));
            w.at(start, Ev::ClientWake(c));
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
        let server = FailoverServer::new(
            server_config(self.cfg.clients),
            node.duid.clone(),
            leases,
            record,
            pair,
            now,
        )
        .expect("valid pools");
        node.server = Some(server);
        node.conn = None;
        node.held.clear();
        self.log_server(format!("node {i} starts"));
        self.after_input(i);
    }

    fn crash(&mut self, i: usize) {
        if self.nodes[i].server.is_none() {
            return;
        }
        self.report.crashes += 1;
        self.log_server(format!("node {i} CRASHES"));
        let node = &mut self.nodes[i];
        node.store.crash();
        node.server = None;
        node.conn = None;
        node.held.clear();
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

    /// Drains a node's outputs after any input: persists go to the page cache, what may
    /// leave now leaves, the rest waits for the sync.
    fn after_input(&mut self, i: usize) {
        let mut batch = Batch::default();
        let mut now_sends = Vec::new();
        {
            let node = &mut self.nodes[i];
            let Some(server) = node.server.as_mut() else {
                return;
            };
            while let Some(o) = server.poll_output() {
                match o {
                    Output::Persist(PersistItem::Lease(c)) => batch.leases.push(c),
                    Output::Persist(PersistItem::Endpoint(r)) => {
                        batch = batch.put_meta(EndpointRecord::META_KEY, r.encode())
                    }
                    Output::Peer {
                        after_persist: false,
                        ..
                    } if node.held.is_empty() && batch.is_empty() => now_sends.push(o),
                    Output::Event(_) => now_sends.push(o),
                    Output::ClientReply(_) if self.cfg.mutate_reply_before_sync => {
                        now_sends.push(o)
                    }
                    other => node.held.push(other),
                }
            }
        }
        if !batch.is_empty() {
            let node = &mut self.nodes[i];
            node.store.write_unsynced(&batch).expect("storable");
        }
        for o in now_sends {
            self.release(i, o);
        }
        let node = &mut self.nodes[i];
        if (!node.held.is_empty() || node.store.unsynced_batches() > 0) && !node.sync_pending {
            {
                node.sync_pending = true;
                node.sync_gen += 1;
                let gen = node.sync_gen;
                let d = self.rng.range(self.cfg.sync_ms.0, self.cfg.sync_ms.1);
                self.at(self.now + d, Ev::Sync { node: i, gen });
            }
        }
        self.schedule_timer(i);
    }

    fn schedule_timer(&mut self, i: usize) {
        let Some(t) = self.nodes[i].server.as_ref().and_then(|s| s.poll_timeout()) else {
            return;
        };
        let ms = (t.as_secs().saturating_sub(EPOCH)) * 1000;
        let ms = ms.max(self.now + 1);
        self.nodes[i].timer_gen += 1;
        let gen = self.nodes[i].timer_gen;
        self.at(ms, Ev::Timer { node: i, gen });
    }

    fn release(&mut self, i: usize, o: Output) {
        match o {
            Output::ClientReply(r) => {
                let c = client_of(&r.dest);
                if self.rng.chance(self.cfg.loss) {
                    return;
                }
                let d = self.rng.range(1, 30);
                self.at(
                    self.now + d,
                    Ev::ToClient {
                        client: c,
                        server: i,
                        bytes: r.bytes,
                    },
                );
            }
            Output::Peer { msg, .. } => {
                let Some(epoch) = self.nodes[i].conn else {
                    return;
                };
                let bytes = msg.emit();
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
            Output::ClosePeer { reason } => {
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
            Output::Event(e) => {
                if let SrvEvent::StateChanged { from, to } = e {
                    self.log_server(format!("node {i} {from} -> {to}"));
                } else if let SrvEvent::ProtocolError(p) = &e {
                    self.log_server(format!("node {i} protocol error: {p}"));
                }
            }
            Output::Persist(_) => {}
        }
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
        if self.partitioned {
            self.handle(Ev::Heal);
        }
        for i in 0..2 {
            if self.nodes[i].server.is_none() {
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
            } => {
                let now = self.core_now();
                let Some(s) = self.nodes[server].server.as_mut() else {
                    return;
                };
                let rx = RxInfo {
                    src: client_addr(client),
                    dst: if multicast {
                        "ff02::1:2".parse().expect("literal")
                    } else {
                        server_addr(server)
                    },
                    interface: "sim0".into(),
                };
                s.handle_client(now, &bytes, &rx);
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
                if let Some(s) = self.nodes[to].server.as_mut() {
                    s.handle_peer_bytes(now, &bytes);
                    self.after_input(to);
                }
            }
            Ev::PeerReset { to, epoch } => {
                if self.nodes[to].conn == Some(epoch) {
                    self.nodes[to].conn = None;
                    let now = self.core_now();
                    if let Some(s) = self.nodes[to].server.as_mut() {
                        s.handle_disconnected(now);
                        self.after_input(to);
                    }
                }
            }
            Ev::Timer { node, gen } => {
                if self.nodes[node].timer_gen != gen {
                    return;
                }
                let now = self.core_now();
                if let Some(s) = self.nodes[node].server.as_mut() {
                    s.handle_timeout(now);
                    self.after_input(node);
                }
            }
            Ev::Sync { node, gen } => {
                let n = &mut self.nodes[node];
                if n.sync_gen != gen || n.server.is_none() {
                    return;
                }
                n.store.sync();
                n.sync_pending = false;
                let held = std::mem::take(&mut n.held);
                for o in held {
                    self.release(node, o);
                }
            }
            Ev::Restart(i) => {
                if self.nodes[i].server.is_none() {
                    self.start_node(i);
                }
            }
            Ev::Partition => {
                if !self.partitioned {
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
                let partner_dead = self.nodes[1 - i].server.is_none();
                let now = self.core_now();
                if let (true, Some(s)) = (partner_dead, self.nodes[i].server.as_mut()) {
                    if s.partner_down_command(now).is_ok() {
                        self.report.operator_partner_down += 1;
                        self.log_server(format!("operator: node {i} partner-down"));
                    }
                    self.after_input(i);
                }
            }
            Ev::ConnectTick => {
                self.at(self.now + 2_000, Ev::ConnectTick);
                let both_up = self.nodes.iter().all(|n| n.server.is_some());
                let both_idle = self.nodes.iter().all(|n| n.conn.is_none());
                if both_up && both_idle && !self.partitioned {
                    let e = self.next_epoch;
                    self.next_epoch += 1;
                    let now = self.core_now();
                    for i in [1, 0] {
                        self.nodes[i].conn = Some(e);
                        if let Some(s) = self.nodes[i].server.as_mut() {
                            s.handle_connected(now);
                        }
                        self.after_input(i);
                    }
                }
            }
            Ev::Fault => self.fault(),
        }
    }

    /// Draw the next fault (only during the chaos period).
    fn fault(&mut self) {
        if self.chaos_over {
            return;
        }
        let next = self.now + self.rng.range(60_000, 300_000);
        self.at(next, Ev::Fault);
        match self.rng.range(0, 3) {
            0 => {
                let i = self.rng.range(0, 2) as usize;
                if self.nodes[1 - i].server.is_none() {
                    return; // never both down at once
                }
                self.crash(i);
                let back = self.now + self.rng.range(5_000, 400_000);
                self.at(back, Ev::Restart(i));
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
            _ => {
                // Crash right in the middle of a write: the page cache is lost.
                let i = self.rng.range(0, 2) as usize;
                if self.nodes[1 - i].server.is_some() && self.nodes[i].store.unsynced_batches() > 0
                {
                    self.crash(i);
                    let back = self.now + self.rng.range(1_000, 30_000);
                    self.at(back, Ev::Restart(i));
                }
            }
        }
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
                        multicast: dest == Dest::All,
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
                    let record = self.nodes[server]
                        .server
                        .as_ref()
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
                n.server
                    .as_ref()
                    .map_or(ServerState::Startup, |s| s.state())
            })
            .collect();
        self.report.final_states = states.clone();
        if states != [ServerState::Normal, ServerState::Normal] {
            self.violation(format!("(d) not both NORMAL after the heal: {states:?}"));
            return;
        }
        let now = self.core_now();
        let active = |n: &Node| -> BTreeMap<Resource, Vec<u8>> {
            n.server
                .as_ref()
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
        let record = |i: usize, r: &Resource| {
            self.nodes[i]
                .server
                .as_ref()
                .and_then(|s| s.leases().get(r).cloned())
        };
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
            if let Some(s) = &n.server {
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
