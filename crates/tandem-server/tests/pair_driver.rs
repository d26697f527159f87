//! Two pair members in one process: real loopback UDP for the client, an in-memory partner
//! link, MemoryStores behind the group-commit writer, and the control requests. Checks the
//! driver's side of the contract: both reach NORMAL, a client bound at the primary is known
//! to the secondary, partner-down works, and nothing waits forever.

use std::collections::BTreeMap;
use std::net::{Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tandem_core::config::{AddressPool, Subnet};
use tandem_core::{Duid, ServerConfig};
use tandem_failover::endpoint::EndpointConfig;
use tandem_failover::server::{FailoverServer, PairConfig};
use tandem_failover::Role;
use tandem_net::{BindOptions, Dhcp6Socket};
use tandem_server::pair::{CtlRequest, PairDriver, PairStatus, PeerCommand, PeerEvent};
use tandem_server::{system_now, Counters};
use tandem_store::{GroupCommitWriter, MemoryStore};
use tandem_wire::v6::{DhcpOption, Ia, IaAddr, Message, MessageType, OptionsExt};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

fn config() -> ServerConfig {
    let mut s = Subnet::new(1, "2001:db8:1::/64".parse().unwrap());
    // Clients reach the test servers over loopback: the link is "lo".
    s.interface = Some("lo".into());
    s.pools.push(AddressPool {
        first: "2001:db8:1::100".parse().unwrap(),
        last: "2001:db8:1::1ff".parse().unwrap(),
    });
    ServerConfig {
        subnets: vec![s],
        accept_unicast: true,
        ..ServerConfig::default()
    }
}

struct Member {
    addr: SocketAddr,
    ctl: mpsc::Sender<CtlRequest>,
    store: MemoryStore,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<FailoverServer>,
}

fn member(
    role: Role,
    peer_tx: mpsc::Sender<PeerCommand>,
    peer_rx: mpsc::Receiver<PeerEvent>,
) -> Member {
    let socket = Dhcp6Socket::bind(&BindOptions {
        addr: Ipv6Addr::LOCALHOST,
        port: 0,
        multicast_ifindexes: vec![],
    })
    .unwrap();
    let addr = SocketAddr::V6(socket.local_addr().unwrap());
    let store = MemoryStore::new();
    let writer = GroupCommitWriter::start(store.clone()).unwrap();
    let pair = PairConfig {
        endpoint: EndpointConfig::new(role, "test", 60),
        secondary_prefix_share: 50,
        rebalance_threshold: 1,
    };
    let duid = Duid(vec![0, 2, 0, 0, 0, 9, role as u8]);
    let core = FailoverServer::new(config(), duid, vec![], None, pair, system_now()).unwrap();
    let (ctl_tx, ctl_rx) = mpsc::channel(8);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let driver = PairDriver {
        core,
        socket: Arc::new(socket),
        interfaces: BTreeMap::from([(
            tandem_net::interface_index("lo").unwrap(),
            "lo".to_string(),
        )]),
        writer,
        peer_tx,
        peer_rx,
        ctl_rx,
        clock: Box::new(system_now),
        counters: Arc::new(Counters::default()),
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
    }
}

/// The partner link: whatever one side sends arrives at the other; a Close drops the
/// connection and brings it back 200 ms later, like the real link's reconnect.
/// One end of the in-memory partner link, as a member's driver sees it.
type LinkEnd = (mpsc::Sender<PeerCommand>, mpsc::Receiver<PeerEvent>);

fn link() -> ([LinkEnd; 2], mpsc::Sender<bool>) {
    let (cmd_a_tx, mut cmd_a) = mpsc::channel::<PeerCommand>(1024);
    let (cmd_b_tx, mut cmd_b) = mpsc::channel::<PeerCommand>(1024);
    let (ev_a_tx, ev_a_rx) = mpsc::channel::<PeerEvent>(1024);
    let (ev_b_tx, ev_b_rx) = mpsc::channel::<PeerEvent>(1024);
    let (cut_tx, mut cut_rx) = mpsc::channel::<bool>(4);
    tokio::spawn(async move {
        let mut up = false;
        let mut cut = false;
        let mut retry = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                Some(c) = cut_rx.recv() => {
                    cut = c;
                    if cut && up {
                        up = false;
                        let _ = ev_a_tx.send(PeerEvent::Disconnected("cut".into())).await;
                        let _ = ev_b_tx.send(PeerEvent::Disconnected("cut".into())).await;
                    }
                }
                _ = retry.tick() => {
                    if !up && !cut {
                        up = true;
                        let _ = ev_b_tx.send(PeerEvent::Connected).await;
                        let _ = ev_a_tx.send(PeerEvent::Connected).await;
                    }
                }
                Some(c) = cmd_a.recv() => match c {
                    PeerCommand::Send(b) if up => { let _ = ev_b_tx.send(PeerEvent::Frame(b)).await; }
                    PeerCommand::Send(_) => {}
                    PeerCommand::Close(r) => if up {
                        up = false;
                        let _ = ev_a_tx.send(PeerEvent::Disconnected(r.clone())).await;
                        let _ = ev_b_tx.send(PeerEvent::Disconnected(r)).await;
                    }
                },
                Some(c) = cmd_b.recv() => match c {
                    PeerCommand::Send(b) if up => { let _ = ev_a_tx.send(PeerEvent::Frame(b)).await; }
                    PeerCommand::Send(_) => {}
                    PeerCommand::Close(r) => if up {
                        up = false;
                        let _ = ev_a_tx.send(PeerEvent::Disconnected(r.clone())).await;
                        let _ = ev_b_tx.send(PeerEvent::Disconnected(r)).await;
                    }
                },
            }
        }
    });
    ([(cmd_a_tx, ev_a_rx), (cmd_b_tx, ev_b_rx)], cut_tx)
}

async fn status(m: &Member) -> PairStatus {
    let (tx, rx) = oneshot::channel();
    m.ctl.send(CtlRequest::Status(tx)).await.unwrap();
    rx.await.unwrap()
}

async fn wait_for(m: &Member, what: &str, ok: impl Fn(&PairStatus) -> bool) -> PairStatus {
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

fn msg(t: MessageType, sid: Option<&[u8]>, addr: Option<Ipv6Addr>) -> Message {
    let mut m = Message::new(t, 0x42);
    m.options
        .push(DhcpOption::ClientId(vec![0, 3, 0, 1, 2, 0, 0, 0, 0, 7]));
    if let Some(s) = sid {
        m.options.push(DhcpOption::ServerId(s.to_vec()));
    }
    let options = addr
        .map(|a| {
            vec![DhcpOption::IaAddr(IaAddr {
                addr: a,
                preferred: 0,
                valid: 0,
                options: vec![],
            })]
        })
        .unwrap_or_default();
    m.options.push(DhcpOption::IaNa(Ia {
        iaid: 1,
        t1: 0,
        t2: 0,
        options,
    }));
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pair_reaches_normal_binds_and_shares_the_binding() {
    let ([(a_tx, a_rx), (b_tx, b_rx)], cut) = link();
    let p = member(Role::Primary, a_tx, a_rx);
    let s = member(Role::Secondary, b_tx, b_rx);
    wait_for(&p, "primary NORMAL", |st| st.state == "NORMAL").await;
    wait_for(&s, "secondary NORMAL", |st| st.state == "NORMAL").await;

    let client = UdpSocket::bind("[::1]:0").await.unwrap();
    // The secondary in NORMAL does not answer a Solicit (RFC 8156 §3).
    assert!(
        exchange(&client, s.addr, &msg(MessageType::Solicit, None, None))
            .await
            .is_none()
    );
    let adv = exchange(&client, p.addr, &msg(MessageType::Solicit, None, None))
        .await
        .expect("primary advertises");
    let sid = adv.server_id().unwrap().to_vec();
    let a = adv.ia_nas()[0].ia_addrs()[0].addr;
    let reply = exchange(
        &client,
        p.addr,
        &msg(MessageType::Request, Some(&sid), Some(a)),
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
    cut.send(true).await.unwrap();
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
    cut.send(false).await.unwrap();
    wait_for(&p, "primary NORMAL again", |st| st.state == "NORMAL").await;
    wait_for(&s, "secondary NORMAL again", |st| st.state == "NORMAL").await;

    for mut m in [p, s] {
        m.stop.take().unwrap().send(()).unwrap();
        let core = tokio::time::timeout(Duration::from_secs(5), m.task)
            .await
            .expect("driver stops")
            .unwrap();
        assert_eq!(core.unacked_updates(), (0, 0));
    }
}
