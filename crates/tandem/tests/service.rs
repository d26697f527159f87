//! `tandem serve` as systemd runs it (Type=notify): READY=1 on $NOTIFY_SOCKET once it
//! answers clients, WATCHDOG=1 at half of $WATCHDOG_USEC while its loop is alive,
//! STOPPING=1 on SIGTERM and exit 0 — and `tandem leases backup|restore` around it: a
//! backup taken while it serves has every lease it acknowledged, a restore is refused
//! while it runs.

use std::net::UdpSocket;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn tandem() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tandem"))
}

fn free_port() -> u16 {
    UdpSocket::bind("[::1]:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn write_config(dir: &Path, port: u16) -> PathBuf {
    let path = dir.join("tandem.toml");
    std::fs::write(
        &path,
        format!(
            r#"[server]
interfaces = []
listen_address = "::1"
port = {port}
data_dir = "data"
[[subnet6]]
id = 1
prefix = "2001:db8:1::/64"
preferred_lifetime = 3000
valid_lifetime = 4000
rapid_commit = true
pools = [{{ first = "2001:db8:1::1000", last = "2001:db8:1::10ff" }}]
"#
        ),
    )
    .unwrap();
    path
}

/// Killed (SIGKILL, by PID) when dropped, so a failing test leaves nothing running.
struct Server {
    child: Child,
    log: PathBuf,
}

impl Server {
    fn start(config: &Path, env: &[(&str, &str)]) -> Server {
        let log = config.with_file_name("serve.log");
        let mut cmd = tandem();
        cmd.args(["serve", "--config"])
            .arg(config)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        Server {
            child: cmd.spawn().unwrap(),
            log,
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id() as i32;
        // kill(1) by the PID this test started.
        let st = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no exit within 10 s of SIGTERM; stderr:\n{}", self.stderr());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A relayed Solicit with Rapid Commit (RFC 8415 §18.2.1, §19) from client `n`.
fn relayed_rapid_solicit(n: u16) -> Vec<u8> {
    let [hi, lo] = n.to_be_bytes();
    let mut solicit = vec![1, 0x12, hi, lo];
    solicit.extend_from_slice(&[0, 1, 0, 10, 0, 3, 0, 1, 2, 0, 0, 0, hi, lo]);
    solicit.extend_from_slice(&[0, 8, 0, 2, 0, 0]);
    solicit.extend_from_slice(&[0, 14, 0, 0]);
    solicit.extend_from_slice(&[0, 3, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    let mut relay = vec![12, 0];
    relay.extend_from_slice(
        &"2001:db8:1::1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    relay.extend_from_slice(&"fe80::1".parse::<std::net::Ipv6Addr>().unwrap().octets());
    relay.extend_from_slice(&[0, 9]);
    relay.extend_from_slice(&(solicit.len() as u16).to_be_bytes());
    relay.extend_from_slice(&solicit);
    relay
}

/// Sends client `n`'s Solicit until a Relay-reply comes back (a committed Reply:
/// Rapid Commit, the lease is on disk before it is sent).
fn lease_for(port: u16, n: u16, timeout: Duration) -> bool {
    let sock = UdpSocket::bind("[::1]:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 1500];
    while Instant::now() < deadline {
        sock.send_to(&relayed_rapid_solicit(n), ("::1", port))
            .unwrap();
        if let Ok((len, _)) = sock.recv_from(&mut buf) {
            if len > 0 && buf[0] == 13 {
                return true;
            }
        }
    }
    false
}

fn messages(sock: &UnixDatagram, until: Instant, want: &str, got: &mut Vec<String>) -> bool {
    let mut buf = [0u8; 4096];
    while Instant::now() < until {
        if let Ok(n) = sock.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            let hit = text.lines().any(|l| l == want);
            got.push(text);
            if hit {
                return true;
            }
        }
    }
    false
}

#[test]
fn serve_notifies_ready_watchdog_and_stopping_as_a_type_notify_unit_expects() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port);
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut server = Server::start(
        &config,
        &[
            ("NOTIFY_SOCKET", sock_path.to_str().unwrap()),
            // 400 ms: a ping every 200 ms.
            ("WATCHDOG_USEC", "400000"),
        ],
    );
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    assert!(
        messages(&sock, deadline, "READY=1", &mut got),
        "no READY=1 (got {got:?}); stderr:\n{}",
        server.stderr()
    );
    // READY means serving: the first Solicit is answered at once.
    assert!(lease_for(port, 1, Duration::from_millis(500)));
    got.clear();
    let until = Instant::now() + Duration::from_millis(1500);
    let mut pings = 0;
    while messages(&sock, until, "WATCHDOG=1", &mut got) {
        pings += 1;
    }
    assert!(
        pings >= 4,
        "{pings} WATCHDOG=1 in 1.5 s at a 200 ms interval: {got:?}"
    );
    let st = server.terminate();
    got.clear();
    assert!(
        messages(
            &sock,
            Instant::now() + Duration::from_secs(1),
            "STOPPING=1",
            &mut got
        ),
        "no STOPPING=1 after SIGTERM (got {got:?})"
    );
    assert!(st.success(), "exit {st:?}; stderr:\n{}", server.stderr());
}

#[test]
fn serve_without_notify_socket_runs_and_stops_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port);
    let mut server = Server::start(&config, &[("WATCHDOG_USEC", "200000")]);
    assert!(
        lease_for(port, 1, Duration::from_secs(10)),
        "{}",
        server.stderr()
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(server.terminate().success(), "{}", server.stderr());
    assert!(
        !server.stderr().contains("cannot notify"),
        "{}",
        server.stderr()
    );
}

fn leases(args: &[&str], config: &Path) -> Output {
    tandem()
        .arg("leases")
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap()
}

fn lease_rows(db: &Path) -> u64 {
    tandem_store::inspect(db).unwrap().leases
}

#[test]
fn backup_while_serving_has_every_acknowledged_lease_and_restore_waits_for_the_stop() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port);
    let mut server = Server::start(&config, &[]);
    for n in 1..=40 {
        assert!(
            lease_for(port, n, Duration::from_secs(10)),
            "{}",
            server.stderr()
        );
    }
    let backup = dir.path().join("backup.db");
    let out = leases(&["backup", backup.to_str().unwrap()], &config);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout.contains("backup OK") && stdout.contains("40 lease rows"),
        "{stdout}"
    );
    assert_eq!(lease_rows(&backup), 40);

    // More leases after the backup: in the server's database, not in the backup.
    for n in 41..=50 {
        assert!(lease_for(port, n, Duration::from_secs(10)));
    }
    let out = leases(&["restore", backup.to_str().unwrap()], &config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("is in use by a running tandem server")
            && stderr.contains("stop it before restoring"),
        "{stderr}"
    );
    assert!(server.terminate().success());
    let db = dir.path().join("data").join("leases.db");
    assert_eq!(lease_rows(&db), 50, "the refused restore changed nothing");

    let out = leases(&["restore", backup.to_str().unwrap()], &config);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("restore OK: 40 lease rows"), "{stdout}");
    assert_eq!(lease_rows(&db), 40);
    assert_eq!(
        lease_rows(&dir.path().join("data/leases.db.before-restore")),
        50
    );

    // The restored server starts and answers; its lease for client 1 is the backup's.
    let mut again = Server::start(&config, &[]);
    assert!(
        lease_for(port, 1, Duration::from_secs(10)),
        "{}",
        again.stderr()
    );
    assert!(again.terminate().success());
    assert_eq!(
        lease_rows(&db),
        40,
        "client 1 renewed its own lease, no new row"
    );
}

#[test]
fn restore_of_a_file_that_is_not_a_backup_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port);
    let mut server = Server::start(&config, &[]);
    assert!(lease_for(port, 1, Duration::from_secs(10)));
    assert!(server.terminate().success());
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, "hello").unwrap();
    let out = leases(&["restore", junk.to_str().unwrap()], &config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.starts_with("tandem leases restore: "), "{stderr}");
    assert_eq!(lease_rows(&dir.path().join("data/leases.db")), 1);
}
