//! RFC 8415 §7.1/§18: a client's Solicit goes to ff02::1:2 on its link; the server must
//! receive it on the interface where it joined the group, learn that it was multicast and
//! on which link, and answer the client's link-local address out of that same link.
//!
//! Loopback cannot carry link-scoped multicast, so this test builds a private network
//! namespace with a veth pair (server on `tdm-b`, client on `tdm-a`). It needs root and
//! `ip`; without them it says so and passes vacuously.

use std::net::{Ipv6Addr, SocketAddrV6, UdpSocket};
use std::os::fd::AsFd;
use std::process::Command;
use std::time::Duration;

use tandem_net::{
    interface_index, BindOptions, Dhcp6Socket, SendMeta, ALL_DHCP_RELAY_AGENTS_AND_SERVERS,
};

struct Netns(String);

impl Netns {
    fn create(name: &str) -> Option<Netns> {
        let ok = |args: &[&str]| {
            Command::new("ip")
                .args(args)
                .status()
                .is_ok_and(|s| s.success())
        };
        if !ok(&["netns", "add", name]) {
            return None;
        }
        let ns = Netns(name.to_string());
        // No duplicate address detection: link-local addresses are usable at once.
        let setup = ok(&[
            "netns",
            "exec",
            name,
            "sysctl",
            "-qw",
            "net.ipv6.conf.all.accept_dad=0",
            "net.ipv6.conf.default.accept_dad=0",
        ]) && ok(&[
            "-n", name, "link", "add", "tdm-a", "type", "veth", "peer", "name", "tdm-b",
        ]) && ok(&["-n", name, "link", "set", "tdm-a", "up"])
            && ok(&["-n", name, "link", "set", "tdm-b", "up"]);
        setup.then_some(ns)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn link_local_of(ifname: &str, ns: &str) -> Option<Ipv6Addr> {
    let out = Command::new("ip")
        .args([
            "-n", ns, "-6", "-o", "addr", "show", "dev", ifname, "scope", "link",
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let word = text
        .split_whitespace()
        .skip_while(|w| *w != "inet6")
        .nth(1)?;
    word.split('/').next()?.parse().ok()
}

#[test]
fn multicast_solicit_is_seen_with_its_link_and_answered_on_it() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root for a network namespace");
        return;
    }
    let name = format!("server-net-{}", std::process::id());
    let Some(ns) = Netns::create(&name) else {
        eprintln!("skipped: cannot create network namespace {name}");
        return;
    };
    // Give the kernel a moment to assign link-local addresses.
    let mut pair = (None, None);
    for _ in 0..50 {
        pair = (link_local_of("tdm-a", &ns.0), link_local_of("tdm-b", &ns.0));
        if pair.0.is_some() && pair.1.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let (Some(client_ll), Some(server_ll)) = pair else {
        panic!("veth pair got no link-local addresses");
    };
    let path = format!("/run/netns/{}", ns.0);
    // setns(2) moves only this thread; everything below runs inside the namespace.
    let result = std::thread::spawn(move || {
        let f = std::fs::File::open(&path).unwrap();
        nix::sched::setns(f.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let a = interface_index("tdm-a").unwrap();
            let b = interface_index("tdm-b").unwrap();
            let server = Dhcp6Socket::bind(&BindOptions {
                port: 0,
                multicast_ifindexes: vec![b],
                ..BindOptions::default()
            })
            .unwrap();
            let port = server.local_addr().unwrap().port();
            let client = UdpSocket::bind("[::]:0").unwrap();
            client
                .send_to(
                    b"solicit",
                    SocketAddrV6::new(ALL_DHCP_RELAY_AGENTS_AND_SERVERS, port, 0, a),
                )
                .unwrap();
            let mut buf = [0u8; 100];
            let (n, meta) = tokio::time::timeout(Duration::from_secs(5), server.recv(&mut buf))
                .await
                .expect("multicast datagram not received")
                .unwrap();
            assert_eq!(&buf[..n], b"solicit");
            assert!(meta.is_multicast());
            assert_eq!(meta.dst, ALL_DHCP_RELAY_AGENTS_AND_SERVERS);
            assert_eq!(meta.ifindex, b, "arrived on the server's end of the link");
            assert_eq!(*meta.src.ip(), client_ll);
            assert_eq!(meta.src.scope_id(), b);

            let to = SendMeta::reply_to(&meta);
            server.send(b"advertise", &to).await.unwrap();
            client
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let (rn, from) = client.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..rn], b"advertise");
            let std::net::SocketAddr::V6(from) = from else {
                panic!("reply from IPv4?")
            };
            assert_eq!(
                *from.ip(),
                server_ll,
                "source is the server's link-local on that link"
            );
            assert_eq!(from.port(), port);
        });
    })
    .join();
    drop(ns);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
