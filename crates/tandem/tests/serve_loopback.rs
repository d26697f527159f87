//! The whole server in-process over loopback: config -> SQLite store -> core -> socket.
//! RFC 8415 §18.3.1 (Solicit with Rapid Commit answered by a committing Reply) through a
//! relay (§19): the Reply arrives only once the lease is in leases.db, and a stop request
//! while running still leaves the lease on disk.

use std::path::Path;
use std::time::Duration;

use tandem_store::{LeaseStore, SqliteStore};
use tokio::net::UdpSocket;

fn free_port() -> u16 {
    std::net::UdpSocket::bind("[::1]:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn relayed_rapid_solicit() -> Vec<u8> {
    let mut solicit = vec![1, 0x12, 0x34, 0x56];
    // OPTION_CLIENTID: DUID-LL, Ethernet, 02:00:00:00:00:01.
    solicit.extend_from_slice(&[0, 1, 0, 10, 0, 3, 0, 1, 2, 0, 0, 0, 0, 1]);
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

#[tokio::test(flavor = "current_thread")]
async fn relayed_rapid_commit_reply_arrives_after_the_lease_is_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let text = format!(
        r#"[server]
interfaces = []
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
    );
    let cfg = tandem::config::load_str(&text, "test.toml", dir.path()).unwrap();
    // The driver holds the core across awaits and the core is not Sync: run it locally.
    let local = tokio::task::LocalSet::new();
    local.run_until(exchange(cfg, port, dir.path())).await;
}

async fn exchange(cfg: tandem::config::RunConfig, port: u16, dir: &Path) {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::task::spawn_local(tandem::serve::serve(cfg, async {
        let _ = stop_rx.await;
    }));
    let client = UdpSocket::bind("[::1]:0").await.unwrap();
    let mut buf = [0u8; 1500];
    let mut reply = None;
    // The server needs a moment to open the database and bind.
    for _ in 0..50 {
        client
            .send_to(&relayed_rapid_solicit(), ("::1", port))
            .await
            .unwrap();
        if let Ok(Ok((n, _))) =
            tokio::time::timeout(Duration::from_millis(200), client.recv_from(&mut buf)).await
        {
            reply = Some(buf[..n].to_vec());
            break;
        }
    }
    let reply = reply.expect("no Relay-reply from the server");
    assert_eq!(reply[0], 13, "Relay-reply");
    // Inner message (after the 34-byte relay header and the RELAY_MSG option header).
    assert_eq!(
        reply.get(38),
        Some(&7),
        "Reply (rapid commit), not Advertise"
    );
    // The lease is durable by the time the reply arrived: read the file from here.
    let db = dir.join("data").join("leases.db");
    let leases = SqliteStore::open(Path::new(&db))
        .unwrap()
        .load_all()
        .unwrap();
    assert_eq!(leases.len(), 1, "{leases:?}");
    assert_eq!(leases[0].subnet_id, 1);
    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("serve did not stop")
        .unwrap()
        .unwrap();
    let leases = SqliteStore::open(Path::new(&db))
        .unwrap()
        .load_all()
        .unwrap();
    assert_eq!(leases.len(), 1, "lease still there after shutdown");
}
