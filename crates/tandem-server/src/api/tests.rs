//! The control API over a real Unix socket, answered by a [`Runner`] holding the real
//! core (its commits reported durable at once): bad input gets a clear 4xx and changes
//! nothing; changes are visible through the API afterwards.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use tandem_core::config::{AddressPool, Subnet};
use tandem_core::{Duid, ServerConfig, Time};
use tandem_failover::node::Node;
use tokio::sync::mpsc;

use super::client::request;
use super::model::{ChangeAnswer, LeasePage};
use super::*;
use crate::runner::Runner;

const NOW: Time = Time(1_800_000_000);

fn config() -> ServerConfig {
    let mut s = Subnet::new(1, "2001:db8:1::/64".parse().unwrap());
    s.pools.push(AddressPool {
        first: "2001:db8:1::100".parse().unwrap(),
        last: "2001:db8:1::1ff".parse().unwrap(),
    });
    ServerConfig {
        subnets: vec![s],
        ..ServerConfig::default()
    }
}

/// A runner answering control requests as the driver does, every batch durable at once.
fn spawn_core(
    mut rx: mpsc::Receiver<CtlRequest>,
    counters: Arc<Counters>,
    leases: Vec<tandem_core::Lease>,
) {
    let node = Node::standalone(config(), Duid(vec![0, 2, 0, 0, 0, 9, 1]), leases);
    let mut runner = Runner::new(node, BTreeMap::new(), counters, NOW);
    tokio::spawn(async move {
        while let Some(req) = rx.recv().await {
            runner.on_ctl(NOW, req);
            loop {
                let a = runner.take_actions();
                if a.commits.is_empty() {
                    break;
                }
                for (id, _) in a.commits {
                    runner.on_committed(id, Ok(()));
                }
            }
        }
    });
}

struct Api {
    _dir: tempfile::TempDir,
    socket: std::path::PathBuf,
    counters: Arc<Counters>,
}

fn api() -> Api {
    api_with(vec![])
}

/// The API of a server that starts with these leases.
fn api_with(leases: Vec<tandem_core::Lease>) -> Api {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("tandem.ctl");
    let (tx, rx) = mpsc::channel(8);
    let counters = Arc::new(Counters::default());
    spawn_core(rx, counters.clone(), leases);
    serve_unix(&socket, ApiState::new(tx, counters.clone(), None)).unwrap();
    Api {
        _dir: dir,
        socket,
        counters,
    }
}

async fn call(s: &Path, method: &str, path: &str, body: Option<&str>) -> (u16, serde_json::Value) {
    let a = request(s, method, path, body.map(|b| b.as_bytes().to_vec()))
        .await
        .unwrap();
    let v = serde_json::from_slice(&a.body).unwrap_or(serde_json::Value::Null);
    (a.status, v)
}

async fn lease_count(s: &Path) -> usize {
    let (code, v) = call(s, "GET", "/v1/leases", None).await;
    assert_eq!(code, 200);
    serde_json::from_value::<LeasePage>(v).unwrap().leases.len()
}

fn error_of(v: &serde_json::Value) -> String {
    v["error"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn control_socket_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let a = api();
    let mode = std::fs::metadata(&a.socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test]
async fn malformed_json_is_a_400_with_its_position_and_changes_nothing() {
    let a = api();
    let (code, v) = call(&a.socket, "POST", "/v1/leases", Some("{\"address\": ")).await;
    assert_eq!(code, 400);
    assert!(error_of(&v).contains("malformed JSON"), "{v}");
    assert!(error_of(&v).contains("line 1"), "{v}");
    let (code, v) = call(
        &a.socket,
        "POST",
        "/v1/leases",
        Some(r#"{"address":"2001:db8:1::100","duid":"00:01:02","vaild_lifetime":5}"#),
    )
    .await;
    assert_eq!(code, 400);
    assert!(
        error_of(&v).contains("unknown field `vaild_lifetime`"),
        "{v}"
    );
    let (code, _) = call(&a.socket, "POST", "/v1/leases/import", Some("[1, 2")).await;
    assert_eq!(code, 400);
    assert_eq!(lease_count(&a.socket).await, 0);
    assert_eq!(a.counters.snapshot().api_refused, 3);
}

#[tokio::test]
async fn unknown_path_and_wrong_method_are_clear_errors() {
    let a = api();
    let (code, v) = call(&a.socket, "GET", "/v1/lease", None).await;
    assert_eq!(code, 404);
    assert!(
        error_of(&v).contains("no such endpoint: GET /v1/lease"),
        "{v}"
    );
    let (code, v) = call(&a.socket, "DELETE", "/v1/status", None).await;
    assert_eq!(code, 405);
    assert!(error_of(&v).contains("does not take DELETE"), "{v}");
}

#[tokio::test]
async fn address_outside_every_pool_is_a_400_and_changes_nothing() {
    let a = api();
    let (code, v) = call(
        &a.socket,
        "POST",
        "/v1/leases",
        Some(r#"{"address":"2001:db8:9::1","duid":"00:01:02:03"}"#),
    )
    .await;
    assert_eq!(code, 400);
    assert!(
        error_of(&v).contains("2001:db8:9::1 is outside every address pool"),
        "{v}"
    );
    assert_eq!(lease_count(&a.socket).await, 0);
}

#[tokio::test]
async fn page_size_over_the_cap_is_a_400_naming_the_cap() {
    let a = api();
    let (code, v) = call(&a.socket, "GET", "/v1/leases?limit=1000000", None).await;
    assert_eq!(code, 400);
    assert!(error_of(&v).contains("1 to 1000"), "{v}");
    let (code, v) = call(&a.socket, "GET", "/v1/leases?limit=ten", None).await;
    assert_eq!(code, 400, "{v}");
    let (code, v) = call(&a.socket, "GET", "/v1/leases?state=bogus", None).await;
    assert_eq!(code, 400);
    assert!(error_of(&v).contains("unknown lease state"), "{v}");
}

#[tokio::test]
async fn import_is_all_or_nothing() {
    let a = api();
    let body = r#"{"leases":[
        {"address":"2001:db8:1::110","duid":"00:01:02:03"},
        {"address":"2001:db8:2::1","duid":"00:01:02:04"}]}"#;
    let (code, v) = call(&a.socket, "POST", "/v1/leases/import", Some(body)).await;
    assert_eq!(code, 400);
    assert!(
        v["details"][0]
            .as_str()
            .unwrap()
            .starts_with("leases[1]: 2001:db8:2::1"),
        "{v}"
    );
    assert_eq!(lease_count(&a.socket).await, 0);
    let body = r#"[{"address":"2001:db8:1::110","duid":"00:01:02:03"},
                   {"address":"2001:db8:1::111","duid":"00:01:02:04","state":"EXPIRED"}]"#;
    let (code, v) = call(&a.socket, "POST", "/v1/leases/import", Some(body)).await;
    assert_eq!(code, 200, "{v}");
    let c: ChangeAnswer = serde_json::from_value(v).unwrap();
    assert_eq!((c.leases.len(), c.skipped), (1, Some(1)));
}

#[tokio::test]
async fn added_lease_is_found_listed_exported_and_deleted() {
    let a = api();
    let s = &a.socket;
    let (code, v) = call(
        s,
        "POST",
        "/v1/leases",
        Some(r#"{"address":"2001:db8:1::120","duid":"00:01:02:03","iaid":4,"valid_lifetime":900}"#),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["leases"][0]["state"], "ACTIVE");
    assert_eq!(v["leases"][0]["expires"], NOW.as_secs() + 900);
    // Another client may not take it.
    let (code, v) = call(
        s,
        "POST",
        "/v1/leases",
        Some(r#"{"address":"2001:db8:1::120","duid":"00:01:02:99"}"#),
    )
    .await;
    assert_eq!(code, 409, "{v}");
    let (code, v) = call(s, "GET", "/v1/leases/address/2001:db8:1::120", None).await;
    assert_eq!((code, v["iaid"].as_u64()), (200, Some(4)));
    let (code, v) = call(s, "GET", "/v1/leases/duid/00:01:02:03", None).await;
    assert_eq!((code, v["leases"].as_array().map(Vec::len)), (200, Some(1)));
    let csv = request(s, "GET", "/v1/leases/export?format=csv", None)
        .await
        .unwrap();
    let text = String::from_utf8(csv.body).unwrap();
    assert!(
        text.lines()
            .nth(1)
            .unwrap()
            .starts_with("2001:db8:1::120,,00:01:02:03,4,1,ACTIVE"),
        "{text}"
    );
    let (code, _) = call(s, "DELETE", "/v1/leases/address/2001:db8:1::120", None).await;
    assert_eq!(code, 200);
    let (code, v) = call(s, "GET", "/v1/leases/address/2001:db8:1::120", None).await;
    assert_eq!(code, 404, "{v}");
    let (code, _) = call(s, "DELETE", "/v1/leases/address/2001:db8:1::120", None).await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn list_pages_in_address_order_with_a_cursor() {
    let a = api();
    let s = &a.socket;
    for i in 0..5 {
        let body = format!(r#"{{"address":"2001:db8:1::1{i}0","duid":"00:01:02:0{i}"}}"#);
        assert_eq!(call(s, "POST", "/v1/leases", Some(&body)).await.0, 200);
    }
    let (_, v) = call(s, "GET", "/v1/leases?limit=2", None).await;
    let p: LeasePage = serde_json::from_value(v).unwrap();
    assert_eq!(p.matched, Some(5));
    assert_eq!(p.next.as_deref(), Some("2001:db8:1::110"));
    let (_, v) = call(s, "GET", "/v1/leases?limit=2&after=2001:db8:1::110", None).await;
    let p: LeasePage = serde_json::from_value(v).unwrap();
    let got: Vec<String> = p
        .leases
        .iter()
        .map(|l| l.address.unwrap().to_string())
        .collect();
    assert_eq!(got, ["2001:db8:1::120", "2001:db8:1::130"]);
    let (_, v) = call(s, "GET", "/v1/leases?duid=00:01:02:04", None).await;
    assert_eq!(v["leases"].as_array().map(Vec::len), Some(1));
}

#[test]
fn bearer_token_must_match_exactly() {
    let mut h = HeaderMap::new();
    assert!(!bearer_matches(&h, "s3cret"));
    h.insert(header::AUTHORIZATION, "Bearer s3cre".parse().unwrap());
    assert!(!bearer_matches(&h, "s3cret"));
    h.insert(header::AUTHORIZATION, "Bearer s3cret".parse().unwrap());
    assert!(bearer_matches(&h, "s3cret"));
    h.insert(header::AUTHORIZATION, "Basic s3cret".parse().unwrap());
    assert!(!bearer_matches(&h, "s3cret"));
}

#[test]
fn duids_and_resources_parse_as_operators_write_them() {
    assert_eq!(
        model::parse_duid("00:01:ab").unwrap(),
        Duid(vec![0, 1, 0xab])
    );
    assert_eq!(
        model::parse_duid("00-01-ab").unwrap(),
        Duid(vec![0, 1, 0xab])
    );
    assert!(model::parse_duid("0001").is_err());
    assert!(model::parse_duid("zz:01:02").is_err());
    assert!(model::parse_resource("2001:db8::/56").is_ok());
    assert!(model::parse_resource("2001:db8::1/x").is_err());
}

#[test]
fn an_ipv4_address_names_a_dhcpv4_lease() {
    assert_eq!(
        model::parse_resource("192.0.2.10").unwrap(),
        tandem_core::Resource::V4Address([192, 0, 2, 10].into())
    );
    assert_eq!(
        model::parse_resource("2001:db8::1").unwrap(),
        tandem_core::Resource::Address("2001:db8::1".parse().unwrap())
    );
    let e = model::parse_resource("192.0.2.300").unwrap_err();
    assert!(e.contains("IPv6 or IPv4 address"), "{e}");
    assert!(
        model::parse_resource("192.0.2.0/24").is_err(),
        "no v4 prefixes"
    );
}

/// A DHCPv4 lease (RFC 2131) in the table: shown with `"address": "192.0.2.10"`, found by
/// that address, its client key and in lists (after the DHCPv6 records), exported, and
/// deleted; adding one is refused with a reason.
#[tokio::test]
async fn a_v4_lease_is_shown_found_and_deleted_by_its_dotted_quad() {
    let v4 = tandem_core::Lease {
        resource: tandem_core::Resource::V4Address([192, 0, 2, 10].into()),
        status: tandem_core::BindingStatus::Active,
        duid: Duid(vec![1, 2, 0, 0x5e, 0, 0, 1]),
        hw_address: vec![1, 2, 0, 0x5e, 0, 0, 1],
        iaid: 0,
        subnet_id: 4,
        preferred_lifetime: 0,
        valid_lifetime: 3600,
        t1: 1800,
        t2: 3150,
        cltt: NOW,
        start_time_of_state: NOW,
        state_expiration: Some(NOW.plus(3600)),
        failover: Default::default(),
    };
    let v6 = tandem_core::Lease {
        resource: tandem_core::Resource::Address("2001:db8:1::100".parse().unwrap()),
        duid: Duid(vec![0, 1, 2, 3]),
        hw_address: Vec::new(),
        iaid: 1,
        subnet_id: 1,
        ..v4.clone()
    };
    let a = api_with(vec![v4, v6]);
    let s = &a.socket;
    let (code, v) = call(s, "GET", "/v1/leases/address/192.0.2.10", None).await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["address"], "192.0.2.10");
    assert_eq!(v["duid"], "01:02:00:5e:00:00:01");
    assert_eq!(v["hw_address"], "02:00:5e:00:00:01");
    assert_eq!(v["htype"], 1);
    assert!(v.get("prefix").is_none(), "{v}");
    let (code, v) = call(s, "GET", "/v1/leases/duid/01:02:00:5e:00:00:01", None).await;
    assert_eq!(
        (code, v["leases"][0]["address"].as_str()),
        (200, Some("192.0.2.10"))
    );
    let (code, v) = call(s, "GET", "/v1/leases?limit=1", None).await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["leases"][0]["address"], "2001:db8:1::100");
    assert_eq!(v["next"], "2001:db8:1::100");
    let (code, v) = call(s, "GET", "/v1/leases?after=2001:db8:1::100", None).await;
    assert_eq!(
        (code, v["leases"][0]["address"].as_str()),
        (200, Some("192.0.2.10"))
    );
    let csv = request(s, "GET", "/v1/leases/export?format=csv", None)
        .await
        .unwrap();
    let text = String::from_utf8(csv.body).unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("192.0.2.10,,01:02:00:5e:00:00:01,0,4,ACTIVE")),
        "{text}"
    );
    let (code, v) = call(
        s,
        "POST",
        "/v1/leases",
        Some(r#"{"address":"192.0.2.20","duid":"01:02:00:5e:00:00:02"}"#),
    )
    .await;
    assert_eq!(code, 400, "{v}");
    assert!(error_of(&v).contains("is an IPv4 address"), "{v}");
    let (code, _) = call(s, "DELETE", "/v1/leases/address/192.0.2.10", None).await;
    assert_eq!(code, 200);
    let (code, v) = call(s, "GET", "/v1/leases/address/192.0.2.10", None).await;
    assert_eq!(code, 404, "{v}");
    assert_eq!(lease_count(s).await, 1);
}

/// One raw HTTP/1.1 request on TCP; the status code of the answer.
async fn tcp_status(addr: SocketAddr, auth: Option<&str>) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let req = format!("GET /v1/status HTTP/1.1\r\nHost: t\r\n{auth}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out.split(' ').nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn tcp_listener_answers_only_with_the_bearer_token() {
    let (tx, rx) = mpsc::channel(8);
    let counters = Arc::new(Counters::default());
    spawn_core(rx, counters.clone(), vec![]);
    let state = ApiState::new(tx, counters.clone(), None);
    let (_task, addr) = serve_tcp("[::1]:0".parse().unwrap(), Some("s3cret".into()), state)
        .await
        .unwrap();
    assert_eq!(tcp_status(addr, None).await, 401);
    assert_eq!(tcp_status(addr, Some("Bearer wrong!")).await, 401);
    assert_eq!(tcp_status(addr, Some("Bearer s3cret")).await, 200);
    assert_eq!(counters.snapshot().api_refused, 2);
}

#[tokio::test]
async fn client_says_whether_the_socket_is_missing_or_stale() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("tandem.ctl");
    let e = request(&missing, "GET", "/v1/status", None)
        .await
        .unwrap_err();
    assert!(matches!(e, client::ClientError::NoSocket(_)), "{e}");
    assert!(e.to_string().contains("is the server running"), "{e}");
    // A socket file nobody listens on (a server killed with -9).
    drop(std::os::unix::net::UnixListener::bind(&missing).unwrap());
    let e = request(&missing, "GET", "/v1/status", None)
        .await
        .unwrap_err();
    assert!(matches!(e, client::ClientError::Refused(_)), "{e}");
    assert!(e.to_string().contains("not running"), "{e}");
}
