//! Two pair members in one process: real loopback UDP for the client, an in-memory partner
//! link, MemoryStores behind the group-commit writer, and the control requests. Checks the
//! driver's side of the contract: both reach NORMAL, a client bound at the primary is known
//! to the secondary, partner-down works, nothing waits forever, and the failover timers
//! fire on time however busy the client socket is.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tandem_core::{Duid, Time};
use tandem_failover::endpoint::EndpointConfig;
use tandem_failover::node::Node;
use tandem_failover::server::PairConfig;
use tandem_failover::Role;
use tandem_server::{
    system_now, Counters, CtlRequest, Driver, PartnerChannels, PeerCommand, PeerEvent, Runner,
    Status, StoreSink,
};
use tandem_store::{GroupCommitWriter, MemoryStore};
use tandem_wire::v6::{Message, MessageType, OptionsExt};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

#[allow(dead_code)]
mod common;
use common::{config, msg};

struct Member {
    addr: SocketAddr,
    ctl: mpsc::Sender<CtlRequest>,
    store: MemoryStore,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<tandem_server::Stopped<StoreSink>>,
    /// Seconds added to the system clock this member's driver reads: the test steps its
    /// wall clock as an operator's `date -s` or an NTP step would.
    clock_offset: Arc<AtomicI64>,
}

impl Member {
    fn step_wall_clock(&self, by: i64) {
        self.clock_offset.fetch_add(by, Ordering::SeqCst);
    }
}

fn member(
    role: Role,
    peer_tx: mpsc::Sender<PeerCommand>,
    peer_rx: mpsc::Receiver<PeerEvent>,
) -> Member {
    member_with(role, peer_tx, peer_rx, 60, None)
}

/// A member with its own keep-alive time and auto partner-down (RFC 8156 §6.5, §8.9).
fn member_with(
    role: Role,
    peer_tx: mpsc::Sender<PeerCommand>,
    peer_rx: mpsc::Receiver<PeerEvent>,
    keepalive: u32,
    auto_partner_down: Option<u32>,
) -> Member {
    let (socket, addr, _interfaces) = common::loopback_socket();
    let store = MemoryStore::new();
    let writer = GroupCommitWriter::start(store.clone()).unwrap();
    let mut endpoint = EndpointConfig::new(role, "test", 60);
    endpoint.local.keepalive = keepalive;
    endpoint.auto_partner_down = auto_partner_down;
    let pair = PairConfig {
        endpoint,
        secondary_prefix_share: 50,
        rebalance_threshold: 1,
    };
    let duid = Duid(vec![0, 2, 0, 0, 0, 9, role as u8]);
    let clock_offset = Arc::new(AtomicI64::new(0));
    let offset = clock_offset.clone();
    let clock = move || {
        Time(
            system_now()
                .0
                .saturating_add_signed(offset.load(Ordering::SeqCst)),
        )
    };
    let now = clock();
    let node = Node::pair_member(config(), duid, vec![], None, pair, now).unwrap();
    let (ctl_tx, ctl_rx) = mpsc::channel(8);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let interfaces =
        BTreeMap::from([(tandem_net::interface_index("lo").unwrap(), "lo".to_string())]);
    let driver = Driver {
        runner: Runner::new(node, interfaces, Arc::new(Counters::default()), now),
        socket: Some(Arc::new(socket)),
        socket4: None,
        sink: StoreSink(writer),
        partner: Some(PartnerChannels {
            tx: peer_tx,
            rx: peer_rx,
        }),
        ctl: Some(ctl_rx),
        clock: Box::new(clock),
        pinger: None,
    };
    let task = tokio::spawn(async move {
        driver
            .run(async {
                let _ = stop_rx.await;
            })
            .await
            .unwrap()
    });
    Member {
        addr,
        ctl: ctl_tx,
        store,
        stop: Some(stop_tx),
        task,
        clock_offset,
    }
}

/// What the test does to the partner link.
#[derive(Debug, Clone, Copy)]
enum LinkCmd {
    /// Drop the connection (both sides hear of it) and keep it down; `false` lets it back.
    Cut(bool),
    /// A silent partition: frames vanish both ways and nobody hears of it (no RST, no
    /// ICMP), like a firewall dropping the TCP segments; `false` delivers again.
    Silent(bool),
}

/// Every frame the link delivered: when, from which side (0 = a, 1 = b), and its
/// failover message type (the header's first byte, RFC 8156 §5.1).
type FrameLog = Arc<Mutex<Vec<(Instant, usize, u8)>>>;

/// The partner link: whatever one side sends arrives at the other; a Close drops the
/// connection and brings it back 200 ms later, like the real link's reconnect.
/// One end of the in-memory partner link, as a member's driver sees it.
type LinkEnd = (mpsc::Sender<PeerCommand>, mpsc::Receiver<PeerEvent>);

/// The test's handle on the link: each command is answered with the instant the link
/// applied it, so "the cut" is when frames stopped passing, not when the test asked
/// (under a client flood the link task may be scheduled late).
#[derive(Clone)]
struct LinkCtl(mpsc::Sender<(LinkCmd, oneshot::Sender<Instant>)>);

impl LinkCtl {
    async fn apply(&self, cmd: LinkCmd) -> Instant {
        let (tx, rx) = oneshot::channel();
        self.0.send((cmd, tx)).await.unwrap();
        rx.await.unwrap()
    }
}

fn link() -> ([LinkEnd; 2], LinkCtl, FrameLog) {
    let (cmd_a_tx, mut cmd_a) = mpsc::channel::<PeerCommand>(1024);
    let (cmd_b_tx, mut cmd_b) = mpsc::channel::<PeerCommand>(1024);
    let (ev_a_tx, ev_a_rx) = mpsc::channel::<PeerEvent>(1024);
    let (ev_b_tx, ev_b_rx) = mpsc::channel::<PeerEvent>(1024);
    let (ctl_tx, mut ctl_rx) = mpsc::channel::<(LinkCmd, oneshot::Sender<Instant>)>(4);
    let frames: FrameLog = Arc::default();
    let log = frames.clone();
    tokio::spawn(async move {
        let ev = [ev_a_tx, ev_b_tx];
        let mut up = false;
        let mut cut = false;
        let mut silent = false;
        let mut retry = tokio::time::interval(Duration::from_millis(200));
        loop {
            let (from, c) = tokio::select! {
                Some((c, applied)) = ctl_rx.recv() => {
                    match c {
                        LinkCmd::Cut(on) => {
                            cut = on;
                            if cut && up {
                                up = false;
                                for e in &ev {
                                    let _ = e.send(PeerEvent::Disconnected("cut".into())).await;
                                }
                            }
                        }
                        LinkCmd::Silent(on) => silent = on,
                    }
                    let _ = applied.send(Instant::now());
                    continue;
                }
                _ = retry.tick() => {
                    if !up && !cut && !silent {
                        up = true;
                        let _ = ev[1].send(PeerEvent::Connected).await;
                        let _ = ev[0].send(PeerEvent::Connected).await;
                    }
                    continue;
                }
                Some(c) = cmd_a.recv() => (0, c),
                Some(c) = cmd_b.recv() => (1, c),
            };
            match c {
                PeerCommand::Send(_) if silent || !up => {}
                PeerCommand::Send(b) => {
                    let t = b.first().copied().unwrap_or(0);
                    // Logged when the link carries it, before the hand-over: under a client
                    // flood the receiver may take its time, and the test's "last heard
                    // before the cut" is about what the link let through.
                    log.lock().unwrap().push((Instant::now(), from, t));
                    let _ = ev[1 - from].send(PeerEvent::Frame(b)).await;
                }
                // A close during a silent partition reaches nobody: the partner's FIN
                // is dropped too.
                PeerCommand::Close(_) if silent => {}
                PeerCommand::Close(r) => {
                    if up {
                        up = false;
                        let _ = ev[0].send(PeerEvent::Disconnected(r.clone())).await;
                        let _ = ev[1].send(PeerEvent::Disconnected(r)).await;
                    }
                }
            }
        }
    });
    (
        [(cmd_a_tx, ev_a_rx), (cmd_b_tx, ev_b_rx)],
        LinkCtl(ctl_tx),
        frames,
    )
}

async fn status(m: &Member) -> Status {
    let (tx, rx) = oneshot::channel();
    m.ctl.send(CtlRequest::Status(tx)).await.unwrap();
    rx.await.unwrap()
}

async fn wait_for(m: &Member, what: &str, ok: impl Fn(&Status) -> bool) -> Status {
    for _ in 0..100 {
        let s = status(m).await;
        if ok(&s) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}: {:?}", status(m).await);
}

async fn exchange(client: &UdpSocket, to: SocketAddr, m: &Message) -> Option<Message> {
    client.send_to(&m.emit(), to).await.unwrap();
    let mut buf = vec![0u8; 2000];
    match tokio::time::timeout(Duration::from_secs(2), client.recv_from(&mut buf)).await {
        Ok(Ok((n, _))) => Message::parse(&buf[..n]).ok(),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pair_reaches_normal_binds_and_shares_the_binding() {
    let ([(a_tx, a_rx), (b_tx, b_rx)], cut, _) = link();
    let p = member(Role::Primary, a_tx, a_rx);
    let s = member(Role::Secondary, b_tx, b_rx);
    wait_for(&p, "primary NORMAL", |st| st.state == "NORMAL").await;
    wait_for(&s, "secondary NORMAL", |st| st.state == "NORMAL").await;

    let client = UdpSocket::bind("[::1]:0").await.unwrap();
    // The secondary in NORMAL does not answer a Solicit (RFC 8156 §3).
    assert!(
        exchange(&client, s.addr, &msg(MessageType::Solicit, 7, None, None))
            .await
            .is_none()
    );
    let adv = exchange(&client, p.addr, &msg(MessageType::Solicit, 7, None, None))
        .await
        .expect("primary advertises");
    let sid = adv.server_id().unwrap().to_vec();
    let a = adv.ia_nas()[0].ia_addrs()[0].addr;
    let reply = exchange(
        &client,
        p.addr,
        &msg(MessageType::Request, 7, Some(&sid), Some(a)),
    )
    .await
    .expect("reply");
    assert_eq!(reply.ia_nas()[0].ia_addrs()[0].addr, a);
    // Durable at the primary before the reply; known and durable at the secondary soon after.
    assert!(p.store.get(&tandem_core::Resource::Address(a)).is_some());
    wait_for(&s, "secondary knows the binding", |st| {
        st.active_leases == 1
    })
    .await;
    wait_for(&p, "update acked", |st| {
        st.updates_unacked == 0 && st.updates_queued == 0
    })
    .await;
    assert!(s.store.get(&tandem_core::Resource::Address(a)).is_some());

    // Cut the link: both COMMUNICATIONS-INTERRUPTED; the operator declares the partner down.
    cut.apply(LinkCmd::Cut(true)).await;
    wait_for(&s, "secondary COMM-INT", |st| {
        st.state == "COMMUNICATIONS-INTERRUPTED"
    })
    .await;
    let (tx, rx) = oneshot::channel();
    s.ctl.send(CtlRequest::PartnerDown(tx)).await.unwrap();
    assert_eq!(rx.await.unwrap(), Ok(()));
    wait_for(&s, "secondary PARTNER-DOWN", |st| {
        st.state == "PARTNER-DOWN"
    })
    .await;
    // Heal: through POTENTIAL-CONFLICT back to NORMAL on both.
    cut.apply(LinkCmd::Cut(false)).await;
    wait_for(&p, "primary NORMAL again", |st| st.state == "NORMAL").await;
    wait_for(&s, "secondary NORMAL again", |st| st.state == "NORMAL").await;

    for mut m in [p, s] {
        m.stop.take().unwrap().send(()).unwrap();
        let stopped = tokio::time::timeout(Duration::from_secs(5), m.task)
            .await
            .expect("driver stops")
            .unwrap();
        let failover = stopped.runner.node().failover().unwrap();
        assert_eq!(failover.unacked_updates(), (0, 0));
        stopped.sink.0.shutdown();
    }
}

/// Keep-alive time of the timer tests (the configuration's minimum), and FO_SEND_TIME, the
/// longest a member stays silent toward a partner with that keep-alive (RFC 8156 §6.5).
const KEEPALIVE: u32 = 4;
const SEND_TIME: u32 = KEEPALIVE / tandem_failover::endpoint::CONTACTS_PER_KEEPALIVE;

/// The client flood of the timer tests: at most 1,000,000 datagrams.
fn flood(to: SocketAddr, secs: u64) -> common::Flood {
    common::solicit_flood(to, secs, 1_000_000)
}

/// Polls the status every 20 ms until `ok` or `within`; the first instant it held.
async fn first_seen(m: &Member, within: Duration, ok: impl Fn(&Status) -> bool) -> Option<Instant> {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if ok(&status(m).await) {
            return Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// Both members over the in-memory link with keep-alive [`KEEPALIVE`] (the primary with
/// this auto partner-down), once both are in NORMAL.
async fn normal_pair(
    primary_auto_partner_down: Option<u32>,
) -> (Member, Member, LinkCtl, FrameLog) {
    let ([(a_tx, a_rx), (b_tx, b_rx)], ctl, frames) = link();
    let p = member_with(
        Role::Primary,
        a_tx,
        a_rx,
        KEEPALIVE,
        primary_auto_partner_down,
    );
    let s = member_with(Role::Secondary, b_tx, b_rx, KEEPALIVE, None);
    wait_for(&p, "primary NORMAL", |st| st.state == "NORMAL").await;
    wait_for(&s, "secondary NORMAL", |st| st.state == "NORMAL").await;
    (p, s, ctl, frames)
}

/// How late past FO_SEND_TIME a CONTACT may reach the link under a flood. The core sends
/// it when the (whole-second) clock turns; the driver must then let the link task carry it
/// at once. A driver that kept the link task waiting until its cooperative budget ran out
/// (tokio polls a freshly woken task only when the running one yields) delivered CONTACTs
/// 0.5-0.7 s late in a debug build here and 1.16 s late in CI.
const CONTACT_SLACK: Duration = Duration::from_millis(300);

/// RFC 8156 §6.5: a member sends something (CONTACT when nothing else) at least every
/// FO_SEND_TIME = partner keep-alive / 4, whatever else it is busy with. The primary is
/// flooded with Solicits for 7 s; its partner must keep hearing from it at that pace and
/// so stay in NORMAL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contact_keepalives_leave_on_time_under_a_client_flood_s6_5() {
    let (p, s, _ctl, frames) = normal_pair(None).await;

    let t0 = Instant::now();
    let load = flood(p.addr, 7);
    let mut left_normal = None;
    while t0.elapsed() < Duration::from_secs(7) {
        let st = status(&s).await;
        if left_normal.is_none() && !(st.state == "NORMAL" && st.communications_ok) {
            left_normal = Some((t0.elapsed(), st.state));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let t1 = Instant::now();
    let sent = load.stop();
    // Longest silence of the primary toward the secondary during the flood.
    let mut times: Vec<Instant> = frames
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, from, _)| *from == 0 && *t >= t0 && *t <= t1)
        .map(|(t, _, _)| *t)
        .collect();
    times.insert(0, t0);
    times.push(t1);
    let longest = times.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    eprintln!("longest silence of the flooded primary: {longest:?} ({sent} Solicits)");
    assert!(
        sent > 20_000,
        "the flood was too thin to show anything: {sent} Solicits"
    );
    assert!(
        longest <= Duration::from_secs(u64::from(SEND_TIME)) + CONTACT_SLACK,
        "the primary went {longest:?} without a message to its partner while flooded with \
         {sent} Solicits (FO_SEND_TIME is {SEND_TIME} s)"
    );
    assert_eq!(
        left_normal, None,
        "the secondary lost the primary during the flood (elapsed, state)"
    );
}

/// RFC 8156 §6.5, §6.6 and §8.9: a partner that goes silent (no close, no reset) is
/// noticed when the receive timer runs out, keep-alive seconds after the last message
/// heard, and auto partner-down follows auto_partner_down seconds after that same last
/// message, while the client socket is flooded. The endpoint counts whole seconds, so each
/// may come up to 1 s early; it must not come more than 1 s late.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_partner_is_noticed_on_time_under_a_client_flood_s6_6_s8_9() {
    const AUTO_PARTNER_DOWN: u32 = 6;
    let (p, _s, ctl, frames) = normal_pair(Some(AUTO_PARTNER_DOWN)).await;

    let load = flood(p.addr, 14);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let cut = ctl.apply(LinkCmd::Silent(true)).await;
    let comm_int = first_seen(&p, Duration::from_secs(10), |st| {
        st.state == "COMMUNICATIONS-INTERRUPTED"
    })
    .await;
    let partner_down =
        first_seen(&p, Duration::from_secs(4), |st| st.state == "PARTNER-DOWN").await;
    let flooding = !load.is_finished();
    let sent = load.stop();
    let last_heard = frames
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, from, _)| *from == 1)
        .map(|(t, _, _)| *t)
        .max()
        .unwrap();
    // The link is one task: nothing from the partner passes after it went silent.
    assert!(last_heard <= cut, "a frame passed the silent link");
    let after = |t: Option<Instant>| t.map(|t| (t - last_heard).as_secs_f64());
    let (ci, pd) = (after(comm_int), after(partner_down));
    eprintln!(
        "after the partner's last message: COMMUNICATIONS-INTERRUPTED {ci:?} s, \
         PARTNER-DOWN {pd:?} s ({sent} Solicits)"
    );
    let k = f64::from(KEEPALIVE);
    let apd = f64::from(AUTO_PARTNER_DOWN);
    assert!(
        ci.is_some_and(|d| d >= k - 1.0 && d <= k + 1.0),
        "COMMUNICATIONS-INTERRUPTED {ci:?} s after the partner's last message, not {k} s ± 1 s, \
         while flooded ({sent} Solicits)"
    );
    assert!(
        pd.is_some_and(|d| d >= apd - 1.0 && d <= apd + 1.0),
        "PARTNER-DOWN {pd:?} s after the partner's last message, not {apd} s ± 1 s"
    );
    assert!(
        flooding,
        "the flood ended before PARTNER-DOWN: nothing shown"
    );
}

/// How long a pair is watched after one member's wall clock steps.
const AFTER_THE_STEP: Duration = Duration::from_secs(3 * KEEPALIVE as u64);

/// Watches both members for `AFTER_THE_STEP`; the first moment either was not in NORMAL
/// with communications OK (who, elapsed, state).
async fn first_leave_from_normal(
    p: &Member,
    s: &Member,
) -> Option<(&'static str, Duration, String)> {
    let t0 = Instant::now();
    while t0.elapsed() < AFTER_THE_STEP {
        for (who, m) in [("primary", p), ("secondary", s)] {
            let st = status(m).await;
            if !(st.state == "NORMAL" && st.communications_ok) {
                return Some((who, t0.elapsed(), st.state));
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// RFC 8156 §6.6, §8.9: the partner's silence and auto partner-down are measured in time
/// that really passed. A wall clock stepped an hour forward (an NTP step after boot, an
/// operator's `date -s`) is not an hour without the partner: the pair stays NORMAL.
/// Lease times stay wall-clock (RFC 8156 §5.1: the partners exchange absolute times).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wall_clock_stepped_forward_is_not_partner_silence_s6_6_s8_9() {
    let (p, s, _ctl, _) = normal_pair(Some(KEEPALIVE + 2)).await;

    p.step_wall_clock(3600);
    let left = first_leave_from_normal(&p, &s).await;
    assert_eq!(
        left, None,
        "a wall clock stepped forward by an hour was taken for an hour of partner silence"
    );
}

/// RFC 8156 §6.5: CONTACT leaves every FO_SEND_TIME of real time. A wall clock stepped an
/// hour back must not postpone it by an hour (the partner would then hear nothing and go
/// COMMUNICATIONS-INTERRUPTED after its keep-alive time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wall_clock_stepped_back_does_not_stop_contact_s6_5() {
    let (p, s, _ctl, _) = normal_pair(None).await;

    p.step_wall_clock(-3600);
    let left = first_leave_from_normal(&p, &s).await;
    assert_eq!(
        left, None,
        "a wall clock stepped back by an hour stopped the primary's keep-alives"
    );
}
