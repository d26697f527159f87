//! What the driver tests share: the server's subnet and socket, client messages and a
//! client flood.

use std::collections::BTreeMap;
use std::net::{Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tandem_core::config::{AddressPool, Subnet};
use tandem_core::{LeaseChange, ServerConfig};
use tandem_net::{BindOptions, Dhcp6Socket};
use tandem_server::{CommitDone, CommitError, CommitSink};
use tandem_store::Batch;
use tandem_wire::v6::{DhcpOption, Ia, IaAddr, Message, MessageType};

/// One subnet with 256 addresses, served to clients on loopback (the link is "lo").
pub fn config() -> ServerConfig {
    let mut s = Subnet::new(1, "2001:db8:1::/64".parse().unwrap());
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

/// A server socket on [::1], any port; its address and the interface map naming "lo".
pub fn loopback_socket() -> (Dhcp6Socket, SocketAddr, BTreeMap<u32, String>) {
    let socket = Dhcp6Socket::bind(&BindOptions {
        addr: Ipv6Addr::LOCALHOST,
        port: 0,
        multicast_ifindexes: vec![],
    })
    .unwrap();
    let addr = SocketAddr::V6(socket.local_addr().unwrap());
    let interfaces =
        BTreeMap::from([(tandem_net::interface_index("lo").unwrap(), "lo".to_string())]);
    (socket, addr, interfaces)
}

/// A client message: client `c`, IA_NA 1, optionally naming a server and an address.
pub fn msg(t: MessageType, c: u8, sid: Option<&[u8]>, addr: Option<Ipv6Addr>) -> Message {
    let mut m = Message::new(t, 0x4200 + u32::from(c));
    m.options
        .push(DhcpOption::ClientId(vec![0, 3, 0, 1, 2, 0, 0, 0, 0, c]));
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

/// Solicits from 200 clients to `to`, each asking for 64 addresses so that the server
/// works harder per datagram than this thread does to send it: the server's socket is
/// never empty, which is what starved the timers of the first pair driver. Sent for
/// `secs` seconds at most and `max` datagrams at most; returns the number sent. Replies
/// are never read: the client's buffer fills and the kernel drops them.
pub fn solicit_flood(to: SocketAddr, secs: u64, max: u64) -> Flood {
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let handle = std::thread::spawn(move || {
        let s = std::net::UdpSocket::bind("[::1]:0").unwrap();
        let start = Instant::now();
        let mut sent = 0u64;
        while start.elapsed() < Duration::from_secs(secs)
            && sent < max
            && !stopped.load(Ordering::Relaxed)
        {
            let mut m = msg(MessageType::Solicit, (sent % 200) as u8, None, None);
            m.options.extend((2..=64).map(|iaid| {
                DhcpOption::IaNa(Ia {
                    iaid,
                    t1: 0,
                    t2: 0,
                    options: vec![],
                })
            }));
            let m = m.emit();
            for _ in 0..64 {
                let _ = s.send_to(&m, to);
                sent += 1;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        sent
    });
    Flood { stop, handle }
}

/// A running [`solicit_flood`]: bounded in time and count, and stopped early by [`Flood::stop`].
pub struct Flood {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<u64>,
}

impl Flood {
    /// The flood reached its time or count bound (a test that needed it running until
    /// now saw nothing).
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Stops the flood; the datagrams it sent.
    pub fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap()
    }
}

/// Holds every batch until the test releases it, like a slow fsync.
pub type Held = Arc<Mutex<Vec<(Batch, CommitDone)>>>;

#[derive(Clone, Default)]
pub struct HeldSink {
    pub held: Held,
}

impl CommitSink for HeldSink {
    fn submit(&self, batch: Batch, done: CommitDone) {
        self.held.lock().unwrap().push((batch, done));
    }
}

impl HeldSink {
    pub fn count(&self) -> usize {
        self.held.lock().unwrap().len()
    }
    pub fn release_all(&self, result: Result<(), CommitError>) -> usize {
        let batches: Vec<_> = self.held.lock().unwrap().drain(..).collect();
        let n = batches.len();
        for (_, done) in batches {
            // Completion comes from another thread, as from the store's writer thread.
            let r = result.clone();
            std::thread::spawn(move || done(r)).join().unwrap();
        }
        n
    }
    pub async fn wait_for(&self, n: usize) {
        for _ in 0..500 {
            if self.count() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("sink never got {n} batches (has {})", self.count());
    }
    pub fn lease_changes(&self) -> Vec<LeaseChange> {
        let held = self.held.lock().unwrap();
        held.iter().flat_map(|(b, _)| b.leases.clone()).collect()
    }
}
