//! RFC 2131 §4.1: a client without an address broadcasts to 255.255.255.255:67; the server
//! must learn that it was a broadcast, on which link it arrived and which of its addresses
//! that link has, and, as it cannot unicast to a client without an address, it broadcasts
//! the reply to 255.255.255.255:68 out of that link only.
//!
//! The test builds two private network namespaces joined by two veth pairs:
//!
//! ```text
//!   server netns                     client netns (no IPv4 addresses)
//!   t4s1 198.51.100.1/24  <------>  t4c1   client socket bound to 0.0.0.0:68 on t4c1
//!        198.51.100.2/24 (secondary)
//!   t4s2 203.0.113.1/24   <------>  t4c2   client socket bound to 0.0.0.0:68 on t4c2
//! ```
//!
//! The clients sit in their own namespace so that the server's addresses are not local to
//! them (Linux drops a datagram whose source is one of its own addresses as a martian).
//! It needs root and `ip`; without them it says so and passes vacuously.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsFd;
use std::process::Command;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tandem_net::{
    interface_index, BindOptions4, Dhcp4Socket, SendMeta4, CLIENT_PORT_V4, SERVER_PORT_V4,
};

/// A second address on t4s1: the first link's reply names it as its source.
const SECONDARY: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

const SERVER_ADDRS: [(&str, &str, Ipv4Addr); 2] = [
    ("t4s1", "t4c1", Ipv4Addr::new(198, 51, 100, 1)),
    ("t4s2", "t4c2", Ipv4Addr::new(203, 0, 113, 1)),
];

fn ip_ok(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .status()
        .is_ok_and(|s| s.success())
}

struct Netns(String);

impl Netns {
    fn create(name: &str) -> Option<Netns> {
        ip_ok(&["netns", "add", name]).then(|| Netns(name.to_string()))
    }

    fn path(&self) -> String {
        format!("/run/netns/{}", self.0)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// Both namespaces wired as in the module comment; `None` if any step fails.
fn build(tag: u32) -> Option<(Netns, Netns)> {
    let server = Netns::create(&format!("t4-srv-{tag}"))?;
    let client = Netns::create(&format!("t4-cli-{tag}"))?;
    let (s, c) = (server.0.as_str(), client.0.as_str());
    // Reverse-path filtering (possibly inherited from the initial namespace) would drop
    // the server's replies: the client namespace has no route back to their source.
    let mut ok = ip_ok(&[
        "netns",
        "exec",
        c,
        "sysctl",
        "-qw",
        "net.ipv4.conf.all.rp_filter=0",
        "net.ipv4.conf.default.rp_filter=0",
    ]);
    for (server_end, client_end, addr) in SERVER_ADDRS {
        let cidr = format!("{addr}/24");
        let rp = format!("net.ipv4.conf.{client_end}.rp_filter=0");
        ok =
            ok && ip_ok(&[
                "-n", s, "link", "add", server_end, "type", "veth", "peer", "name", client_end,
                "netns", c,
            ]) && ip_ok(&["-n", s, "addr", "add", &cidr, "dev", server_end])
                && ip_ok(&["-n", s, "link", "set", server_end, "up"])
                && ip_ok(&["-n", c, "link", "set", client_end, "up"])
                && ip_ok(&["netns", "exec", c, "sysctl", "-qw", &rp]);
    }
    ok = ok
        && ip_ok(&[
            "-n",
            s,
            "addr",
            "add",
            &format!("{SECONDARY}/24"),
            "dev",
            "t4s1",
        ]);
    ok.then_some((server, client))
}

fn enter(path: &str) {
    let f = std::fs::File::open(path).unwrap();
    nix::sched::setns(f.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
}

/// A DHCPv4 client before it has an address: 0.0.0.0:68, tied to one interface.
fn client_socket(ifname: &str) -> UdpSocket {
    let sock = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
    sock.set_reuse_address(true).unwrap();
    sock.set_broadcast(true).unwrap();
    sock.bind_device(Some(ifname.as_bytes())).unwrap();
    let any: SocketAddr = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, CLIENT_PORT_V4).into();
    sock.bind(&any.into()).unwrap();
    sock.into()
}

#[test]
fn broadcast_discover_is_seen_on_its_link_and_answered_on_that_link_only() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root for network namespaces");
        return;
    }
    let Some((server_ns, client_ns)) = build(std::process::id()) else {
        eprintln!("skipped: cannot build the network namespaces");
        return;
    };
    let (server_path, client_path) = (server_ns.path(), client_ns.path());
    // setns(2) moves only this thread, and a socket stays in the namespace it was created
    // in: make the clients' sockets in theirs, then move to the server's.
    let result = std::thread::spawn(move || {
        enter(&client_path);
        let clients = SERVER_ADDRS.map(|(_, client_end, _)| client_socket(client_end));
        enter(&server_path);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let server = Dhcp4Socket::bind(&BindOptions4::default()).unwrap();
            assert_eq!(server.local_addr().unwrap().port(), SERVER_PORT_V4);
            for (link, (server_end, _, server_addr)) in SERVER_ADDRS.into_iter().enumerate() {
                let ifindex = interface_index(server_end).unwrap();
                let (client, other) = (&clients[link], &clients[1 - link]);
                let discover = format!("discover {link}");
                client
                    .send_to(
                        discover.as_bytes(),
                        (Ipv4Addr::BROADCAST, SERVER_PORT_V4),
                    )
                    .unwrap();

                let mut buf = [0u8; 100];
                let (n, meta) =
                    tokio::time::timeout(Duration::from_secs(5), server.recv(&mut buf))
                        .await
                        .expect("broadcast not received")
                        .unwrap();
                assert_eq!(&buf[..n], discover.as_bytes());
                assert_eq!(
                    meta.src,
                    SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, CLIENT_PORT_V4)
                );
                assert_eq!(meta.dst, Ipv4Addr::BROADCAST);
                assert!(meta.is_broadcast());
                assert_eq!(meta.ifindex, ifindex, "arrived on {server_end}");
                assert_eq!(meta.local, server_addr, "our address on {server_end}");

                // On the first link the source is named (the secondary address, which the
                // kernel would not pick); on the second the kernel picks it. There, without
                // the interface in IP_PKTINFO, the send fails outright (no route to
                // 255.255.255.255 in this namespace).
                let offer = format!("offer {link}");
                let src = (link == 0).then_some(SECONDARY);
                let to = SendMeta4 {
                    dst: SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT_V4),
                    ifindex: meta.ifindex,
                    src,
                };
                server.send(offer.as_bytes(), &to).await.unwrap();
                client
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let (rn, from) = client.recv_from(&mut buf).expect("reply on the link");
                assert_eq!(&buf[..rn], offer.as_bytes());
                let want_src = src.unwrap_or(server_addr);
                assert_eq!(from, SocketAddr::from((want_src, SERVER_PORT_V4)));

                other
                    .set_read_timeout(Some(Duration::from_millis(300)))
                    .unwrap();
                if let Ok((rn, from)) = other.recv_from(&mut buf) {
                    panic!(
                        "the broadcast for link {link} also left by the other link: {:?} from {from}",
                        String::from_utf8_lossy(&buf[..rn])
                    );
                }
            }
        });
    })
    .join();
    drop((server_ns, client_ns));
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
