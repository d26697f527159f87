//! One data directory belongs to one `tandem serve`: two servers on one lease database
//! would each keep their own lease table and give the same address to two clients
//! (RFC 8415 §6.3: an address is leased to one client at a time). The second process
//! refuses to start, naming the first; the first keeps serving; a lock left behind by a
//! kill -9 does not block the restart; `check-config` notes a running holder.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
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

/// A loopback-only configuration (no interfaces: relayed clients only) in `dir`, with
/// its data directory `dir/data`.
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

/// A `tandem serve` child, its stderr going to a file, killed (SIGKILL, by its PID) when
/// dropped so a failing test leaves nothing running.
struct Server {
    child: Child,
    log: PathBuf,
}

impl Server {
    fn start(config: &Path, log: &str) -> Server {
        let log = config.with_file_name(log);
        let child = tandem()
            .args(["serve", "--config"])
            .arg(config)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Server { child, log }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits (bounded) for the process to exit; None if it is still running.
    fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(st) = self.child.try_wait().unwrap() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A relayed Solicit with Rapid Commit (RFC 8415 §18.2.1, §19) from client `n`.
fn relayed_rapid_solicit(n: u8) -> Vec<u8> {
    let mut solicit = vec![1, 0x12, 0x34, n];
    // OPTION_CLIENTID: DUID-LL, Ethernet, 02:00:00:00:00:<n>.
    solicit.extend_from_slice(&[0, 1, 0, 10, 0, 3, 0, 1, 2, 0, 0, 0, 0, n]);
    // OPTION_ELAPSED_TIME 0.
    solicit.extend_from_slice(&[0, 8, 0, 2, 0, 0]);
    // OPTION_RAPID_COMMIT.
    solicit.extend_from_slice(&[0, 14, 0, 0]);
    // OPTION_IA_NA iaid 1, T1 0, T2 0.
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

/// True when a server on `port` answers a relayed Solicit with a Relay-reply within
/// about `timeout` (the server may still be opening its database and binding).
fn answers(port: u16, client: u8, timeout: Duration) -> bool {
    let sock = UdpSocket::bind("[::1]:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 1500];
    while Instant::now() < deadline {
        sock.send_to(&relayed_rapid_solicit(client), ("::1", port))
            .unwrap();
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            if n > 0 && buf[0] == 13 {
                return true;
            }
        }
    }
    false
}

#[test]
fn second_server_on_one_data_dir_refuses_to_start_and_the_first_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port);

    let mut first = Server::start(&config, "first.log");
    assert!(
        answers(port, 1, Duration::from_secs(10)),
        "the first server does not answer; stderr:\n{}",
        first.stderr()
    );

    let mut second = Server::start(&config, "second.log");
    let status = second.wait_exit(Duration::from_secs(10));
    let err = second.stderr();
    assert!(
        matches!(status, Some(st) if !st.success()),
        "the second server on the same data_dir must exit non-zero, got {status:?}; stderr:\n{err}"
    );
    let data = dir.path().join("data");
    let want = format!(
        "data directory {} is in use by another tandem process (pid {})",
        data.display(),
        first.pid()
    );
    assert!(err.contains(&want), "want {want:?} in stderr:\n{err}");
    assert!(
        err.contains("would give the same address to two clients"),
        "the error says why:\n{err}"
    );
    assert!(
        !err.contains("listening"),
        "the second server must refuse before binding its socket:\n{err}"
    );

    assert!(first.running(), "the first server must keep running");
    assert!(
        answers(port, 2, Duration::from_secs(5)),
        "the first server must keep answering"
    );
}

#[test]
fn a_lock_left_by_kill_9_does_not_block_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port);

    let mut first = Server::start(&config, "first.log");
    assert!(
        answers(port, 1, Duration::from_secs(10)),
        "the first server does not answer; stderr:\n{}",
        first.stderr()
    );
    let lock = dir.path().join("data").join("tandem.lock");
    let holder = std::fs::read_to_string(&lock).unwrap_or_default();
    assert_eq!(
        holder.trim(),
        first.pid().to_string(),
        "{lock:?} names its holder"
    );
    first.kill9();
    // The stale file is still there, naming a dead process; only the kernel's lock,
    // released at process death, counts.
    assert!(lock.exists());

    let mut again = Server::start(&config, "again.log");
    assert!(
        answers(port, 3, Duration::from_secs(10)),
        "a new server must start after the old one was killed; stderr:\n{}",
        again.stderr()
    );
    assert!(again.running());
}

#[test]
fn check_config_notes_a_running_server_on_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port);

    // Nobody holds the directory: no note.
    let out = tandem().arg("check-config").arg(&config).output().unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("in use"), "{stderr}");

    let mut server = Server::start(&config, "server.log");
    assert!(
        answers(port, 1, Duration::from_secs(10)),
        "the server does not answer; stderr:\n{}",
        server.stderr()
    );
    let out = tandem().arg("check-config").arg(&config).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "a running server is not a configuration error: {stderr}"
    );
    assert!(stdout.starts_with("configuration OK:"), "{stdout}");
    let want = format!(
        "note: data directory {} is in use by a running tandem process (pid {})",
        dir.path().join("data").display(),
        server.pid()
    );
    assert!(stderr.contains(&want), "want {want:?} in:\n{stderr}");
    // check-config only looked: the server still holds the directory and serves.
    assert!(server.running());
    assert!(answers(port, 2, Duration::from_secs(5)));
}

#[test]
fn second_pair_member_on_one_data_dir_refuses_to_start() {
    // A pair member (RFC 8156) alone on loopback: its partner never answers, which is
    // enough to hold its data directory and its control socket.
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let peer_port = std::net::TcpListener::bind("[::1]:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = write_config(dir.path(), port);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "[failover]\nrole = \"primary\"\npeer_address = \"::1\"\nlisten_address = \"::1\"\n\
         port = {peer_port}\n[failover.tls]\ninsecure = true\n"
    ));
    std::fs::write(&config, text).unwrap();
    let ctl = dir.path().join("data").join("tandem.ctl");
    let status = || {
        tandem()
            .args(["ctl", "--socket"])
            .arg(&ctl)
            .arg("status")
            .output()
            .unwrap()
    };

    let mut first = Server::start(&config, "first.log");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !status().status.success() && Instant::now() < deadline {
        assert!(
            first.running(),
            "the first member exited:\n{}",
            first.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        status().status.success(),
        "the first member's control socket does not answer:\n{}",
        first.stderr()
    );

    let ctl_inode = || {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(&ctl).unwrap().ino()
    };
    let before = ctl_inode();

    let mut second = Server::start(&config, "second.log");
    let exited = second.wait_exit(Duration::from_secs(10));
    let err = second.stderr();
    assert!(
        matches!(exited, Some(st) if !st.success()),
        "the second member on the same data_dir must exit non-zero, got {exited:?}; stderr:\n{err}"
    );
    let want = format!(
        "data directory {} is in use by another tandem process (pid {})",
        dir.path().join("data").display(),
        first.pid()
    );
    assert!(err.contains(&want), "want {want:?} in stderr:\n{err}");
    assert!(first.running(), "the first member must keep running");
    // The second did not replace the first one's control socket.
    assert_eq!(ctl_inode(), before, "the control socket was replaced");
    assert!(
        status().status.success(),
        "the first member's control socket must still answer"
    );
}
