//! Configuration loading: the shipped example, and the error messages operators see.

use std::path::Path;

use super::*;

const MINIMAL: &str = r#"
[server]
interfaces = ["eth0"]
data_dir = "data"

[[subnet6]]
id = 1
prefix = "2001:db8:1::/64"
interface = "eth0"
preferred_lifetime = 3000
valid_lifetime = 4000
pools = [{ first = "2001:db8:1::1000", last = "2001:db8:1::1fff" }]
"#;

fn example_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/tandem.toml")
}

fn load_text(text: &str) -> Result<RunConfig, ConfigError> {
    load_str(text, "test.toml", Path::new("/etc/tandem"))
}

fn err_text(text: &str) -> String {
    load_text(text)
        .expect_err("config must be rejected")
        .to_string()
}

#[test]
fn shipped_example_loads() {
    let cfg = load(&example_path()).expect("examples/tandem.toml must be valid");
    assert_eq!(cfg.interfaces, vec!["tandem-srv0".to_string()]);
    assert_eq!(cfg.port, 547);
    assert_eq!(cfg.file.subnet6.len(), 1);
    let s = &cfg.file.subnet6[0];
    assert_eq!(s.pools.len(), 1);
    assert_eq!(s.pd_pools[0].delegated_len, 56);
    assert_eq!(
        s.reservations[0].duid,
        vec![0, 3, 0, 1, 2, 0, 0, 0, 0, 1],
        "DUID hex with ':' separators"
    );
    assert!(cfg
        .summary()
        .starts_with("1 subnet, 1 address pool, 1 prefix pool"));
}

#[test]
fn minimal_config_takes_defaults_and_resolves_data_dir_next_to_the_file() {
    let cfg = load_text(MINIMAL).unwrap();
    assert_eq!(cfg.port, 547, "RFC 8415 §7.2 server port by default");
    assert_eq!(cfg.listen_address, std::net::Ipv6Addr::UNSPECIFIED);
    assert_eq!(cfg.log_level, "info");
    assert_eq!(cfg.data_dir, Path::new("/etc/tandem/data"));
    assert!(!cfg.file.subnet6[0].rapid_commit);
}

#[test]
fn unknown_field_names_key_path_and_line() {
    let text = MINIMAL.replace(
        "valid_lifetime = 4000",
        "valid_lifetime = 4000\nvalid_lifetme = 1",
    );
    let msg = err_text(&text);
    assert!(msg.starts_with("test.toml:12:"), "{msg}");
    assert!(msg.contains("subnet6[0]"), "{msg}");
    assert!(msg.contains("valid_lifetme"), "{msg}");
}

#[test]
fn unknown_section_is_rejected() {
    let msg = err_text(&format!("{MINIMAL}\n[failovr]\npeer = \"x\"\n"));
    assert!(msg.contains("failovr"), "{msg}");
    assert!(msg.contains("test.toml:"), "{msg}");
}

#[test]
fn bad_address_names_key_path_and_line() {
    let text = MINIMAL.replace("2001:db8:1::1fff", "2001:db8:1::zzzz");
    let msg = err_text(&text);
    assert!(msg.starts_with("test.toml:12:"), "{msg}");
    assert!(msg.contains("subnet6[0].pools[0].last"), "{msg}");
    assert!(msg.to_lowercase().contains("invalid"), "{msg}");
}

#[test]
fn wrong_type_names_key_path_and_line() {
    let text = MINIMAL.replace("preferred_lifetime = 3000", "preferred_lifetime = \"3000\"");
    let msg = err_text(&text);
    assert!(msg.starts_with("test.toml:10:"), "{msg}");
    assert!(msg.contains("subnet6[0].preferred_lifetime"), "{msg}");
}

#[test]
fn missing_required_key_is_named() {
    let text = MINIMAL.replace("data_dir = \"data\"\n", "");
    let msg = err_text(&text);
    assert!(msg.contains("data_dir"), "{msg}");
}

#[test]
fn toml_syntax_error_has_line_and_column() {
    let msg = err_text("[server\ndata_dir = 1\n");
    assert!(msg.starts_with("test.toml:1:"), "{msg}");
}

#[test]
fn bad_duid_hex_is_reported_at_its_key() {
    let text = format!(
        "{MINIMAL}\n[[subnet6.reservations]]\nduid = \"00:0g\"\naddress = \"2001:db8:1::10\"\n"
    );
    let msg = err_text(&text);
    assert!(msg.contains("subnet6[0].reservations[0].duid"), "{msg}");
    assert!(msg.contains("0g"), "{msg}");
    assert!(msg.starts_with("test.toml:15:"), "{msg}");
}

#[test]
fn semantic_problems_are_all_listed_with_paths_and_lines() {
    let text = format!(
        r#"{MINIMAL}
[[subnet6.reservations]]
duid = "00:01"

[[subnet6]]
id = 2
prefix = "2001:db8:2::/64"
interface = "eth9"
preferred_lifetime = 3000
valid_lifetime = 4000
renew_time = 2500
rebind_time = 2000
pools = [
  {{ first = "2001:db8:2::9", last = "2001:db8:2::1" }},
  {{ prefix = "2001:db8:2::/120", first = "2001:db8:2::1" }},
  {{ first = "2001:db8:3::1", last = "2001:db8:3::9" }},
  {{ first = "2001:db8:2::100", last = "2001:db8:2::1ff" }},
  {{ first = "2001:db8:2::180", last = "2001:db8:2::2ff" }},
]
pd_pools = [{{ prefix = "2001:db8:100::/56", delegated_len = 48 }}]
"#
    );
    let err = load_text(&text).unwrap_err();
    let ConfigError::Invalid { problems, .. } = &err else {
        panic!("expected semantic problems, got {err}");
    };
    let msg = err.to_string();
    let find = |path: &str, words: &str| {
        assert!(
            problems
                .iter()
                .any(|p| p.path == path && p.message.contains(words)),
            "no problem at {path} mentioning {words:?} in:\n{msg}"
        )
    };
    find("subnet6[0].reservations[0]", "neither");
    find("subnet6[1].interface", "not in server.interfaces");
    find("subnet6[1].renew_time", "T1 2500 exceeds T2 2000");
    find("subnet6[1].pools[0]", "after last");
    find("subnet6[1].pools[1]", "either");
    find("subnet6[1].pools[2]", "not inside subnet prefix");
    find("subnet6[1].pools[4]", "overlaps subnet6[1].pools[3]");
    find("subnet6[1].pd_pools[0].delegated_len", "48");
    // Lines point at the offending entry (see the text above).
    assert!(
        msg.contains("test.toml:14: subnet6[0].reservations[0]"),
        "{msg}"
    );
    assert!(msg.contains("test.toml:20: subnet6[1].interface"), "{msg}");
    assert!(msg.contains("test.toml:23: subnet6[1].renew_time"), "{msg}");
    assert!(msg.contains("test.toml:26: subnet6[1].pools[0]"), "{msg}");
    assert!(msg.contains("test.toml:30: subnet6[1].pools[4]"), "{msg}");
}

#[test]
fn prefix_pool_skips_the_subnet_router_anycast_address() {
    // RFC 4291 §2.6.1: the all-zero interface id is the Subnet-Router anycast address.
    let text = MINIMAL.replace(
        r#"pools = [{ first = "2001:db8:1::1000", last = "2001:db8:1::1fff" }]"#,
        r#"pools = [{ prefix = "2001:db8:1::/120" }, { prefix = "2001:db8:1::1:0/120" }]"#,
    );
    let cfg = load_text(&text).unwrap();
    let pools = &cfg.core.subnets[0].pools;
    assert_eq!(
        pools[0].first,
        "2001:db8:1::1".parse::<std::net::Ipv6Addr>().unwrap()
    );
    assert_eq!(
        pools[0].last,
        "2001:db8:1::ff".parse::<std::net::Ipv6Addr>().unwrap()
    );
    assert_eq!(
        pools[1].first,
        "2001:db8:1::1:0".parse::<std::net::Ipv6Addr>().unwrap()
    );
}

#[test]
fn example_maps_onto_the_core_model() {
    let cfg = load(&example_path()).unwrap();
    let core = &cfg.core;
    assert_eq!(core.subnets.len(), 1);
    let s = &core.subnets[0];
    assert_eq!((s.id, s.t1, s.t2), (1, Some(1000), Some(2000)));
    assert_eq!(s.interface.as_deref(), Some("tandem-srv0"));
    assert!(s.rapid_commit);
    assert_eq!(
        s.options.dns_servers.len(),
        2,
        "subnet options replace global ones"
    );
    assert_eq!(core.options.domain_search, vec!["example.org".to_string()]);
    // [[options.custom]] code 22 with one address: 16 octets.
    assert_eq!(
        core.options.other,
        vec![(
            22,
            "2001:db8:1::5060"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets()
                .to_vec()
        )]
    );
    assert_eq!(core.options.information_refresh_time, Some(86400));
    assert!(core.validate().is_empty());
}

#[test]
fn custom_option_value_forms() {
    let text = format!(
        "{MINIMAL}\n[[subnet6.options.custom]]\ncode = 100\ntext = \"hi\"\n[[subnet6.options.custom]]\ncode = 101\nhex = \"01:02\"\n"
    );
    let cfg = load_text(&text).unwrap();
    assert_eq!(
        cfg.core.subnets[0].options.other,
        vec![(100, b"hi".to_vec()), (101, vec![1, 2])]
    );
    let both = format!("{MINIMAL}\n[[options.custom]]\ncode = 100\ntext = \"a\"\nhex = \"01\"\n");
    let msg = err_text(&both);
    assert!(msg.contains("options.custom[0]: give exactly one"), "{msg}");
}

#[test]
fn bad_log_level_is_a_problem() {
    let text = MINIMAL.replace(
        "data_dir = \"data\"",
        "data_dir = \"data\"\nlog_level = \"loud=[\"",
    );
    let msg = err_text(&text);
    assert!(msg.contains("server.log_level"), "{msg}");
}

// ---------------------------------------------------------------- [failover] (RFC 8156)

use std::net::{IpAddr, SocketAddr};

use tandem_failover::endpoint::EndpointConfig;
use tandem_failover::server::PairConfig;
use tandem_failover::Role;

/// MINIMAL plus a prefix pool, for the checks that concern prefix pools.
fn minimal_pd() -> String {
    MINIMAL.replace(
        "pools = [{ first",
        "pd_pools = [{ prefix = \"2001:db8:100::/48\", delegated_len = 56 }]\npools = [{ first",
    )
}

/// MINIMAL with a `[failover]` section made of `keys`, and `tls` as `[failover.tls]`.
fn with_failover(keys: &str, tls: &str) -> String {
    format!(
        "{}\n[failover]\n{keys}\n[failover.tls]\n{tls}\n",
        minimal_pd()
    )
}

const PRIMARY_KEYS: &str = "role = \"primary\"\npeer_address = \"2001:db8:ff::2\"";
const INSECURE: &str = "insecure = true";

fn problems_of(text: &str) -> Vec<Problem> {
    match load_text(text) {
        Err(ConfigError::Invalid { problems, .. }) => problems,
        Err(e) => panic!("expected semantic problems, got {e}"),
        Ok(_) => panic!("config must be rejected:\n{text}"),
    }
}

fn assert_problem(problems: &[Problem], path: &str, words: &str) {
    assert!(
        problems
            .iter()
            .any(|p| p.path == path && p.message.contains(words)),
        "no problem at {path} mentioning {words:?} in {problems:#?}"
    );
}

fn assert_no_problem_at(problems: &[Problem], path: &str) {
    assert!(
        problems.iter().all(|p| p.path != path),
        "unexpected problem at {path}: {problems:#?}"
    );
}

/// A directory holding the TLS files the pair examples name (content is not checked).
fn pki_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("pki")).unwrap();
    for f in [
        "ca.crt",
        "primary.crt",
        "primary.key",
        "secondary.crt",
        "secondary.key",
    ] {
        std::fs::write(dir.path().join("pki").join(f), "not checked\n").unwrap();
    }
    dir
}

fn example_text(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

fn load_example(name: &str, base: &Path) -> Result<RunConfig, ConfigError> {
    load_str(&example_text(name), name, base)
}

#[test]
fn single_server_has_no_failover() {
    let cfg = load_text(MINIMAL).unwrap();
    assert!(cfg.failover.is_none());
    assert!(cfg.pair_config().is_none());
    assert!(cfg.warnings.is_empty());
}

#[test]
fn pair_examples_load_with_their_tls_files() {
    // RFC 8156 §6.1 roles, §5.1 port 647, §4.4 MCLT, §10 TLS: the shipped pair.
    let dir = pki_dir();
    let p = load_example("pair-primary.toml", dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let s = load_example("pair-secondary.toml", dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    let fp = p.failover.as_ref().unwrap();
    let fs = s.failover.as_ref().unwrap();
    assert_eq!((fp.role, fs.role), (Role::Primary, Role::Secondary));
    assert_eq!(
        fp.peer,
        "[2001:db8:ff::2]:647".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        fp.local,
        "[2001:db8:ff::1]:647".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(fs.peer, fp.local);
    assert_eq!(fs.local, fp.peer);
    assert_eq!(
        fp.tls,
        FailoverTls::Mutual {
            cert: dir.path().join("pki/primary.crt"),
            key: dir.path().join("pki/primary.key"),
            ca: dir.path().join("pki/ca.crt"),
            server_name: "tandem-secondary".to_string(),
        }
    );
    assert!(
        matches!(&fs.tls, FailoverTls::Mutual { server_name, .. } if server_name == "tandem-primary")
    );
    assert!(!fp.is_insecure());
    // Same lease space as the single-server example.
    let single = load(&example_path()).unwrap();
    assert_eq!(p.core.subnets, single.core.subnets);
    assert_eq!(s.core.subnets, single.core.subnets);
    assert!(p.summary().contains("failover primary"), "{}", p.summary());
    let problems = check_pair(&p, &s);
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn pair_examples_report_missing_tls_files() {
    // check-config checks existence and readability of cert/key/ca (RFC 8156 §10 TLS).
    let empty = tempfile::tempdir().unwrap();
    let err = load_example("pair-primary.toml", empty.path()).unwrap_err();
    let ConfigError::Invalid { problems, .. } = &err else {
        panic!("{err}");
    };
    for key in ["cert", "key", "ca"] {
        assert_problem(problems, &format!("failover.tls.{key}"), "cannot read");
    }
    let msg = err.to_string();
    assert!(msg.contains("primary.crt"), "{msg}");
    let cert_line = example_text("pair-primary.toml")
        .lines()
        .position(|l| l.starts_with("cert = "))
        .unwrap()
        + 1;
    assert!(
        msg.contains(&format!("pair-primary.toml:{cert_line}: failover.tls.cert")),
        "{msg}"
    );
}

#[test]
fn failover_defaults_and_pair_config() {
    // Defaults: RFC 8156 §6.5 keepalive 60, §5.1 port 647, MCLT 3600 (§4.4.1 example).
    let cfg = load_text(&with_failover(PRIMARY_KEYS, INSECURE)).unwrap();
    let f = cfg.failover.clone().unwrap();
    assert_eq!(f.relationship, "tandem");
    assert_eq!(
        f.peer,
        "[2001:db8:ff::2]:647".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(f.local, "[::]:647".parse::<SocketAddr>().unwrap());
    assert_eq!(
        (
            f.mclt,
            f.auto_partner_down,
            f.keepalive,
            f.max_unacked_bndupd,
            f.startup
        ),
        (3600, None, 60, 100, 10)
    );
    assert_eq!((f.secondary_prefix_share, f.rebalance_threshold), (50, 16));
    assert!(f.is_insecure());
    let mut endpoint = EndpointConfig::new(Role::Primary, "tandem", 3600);
    endpoint.startup_secs = 10;
    assert_eq!(
        cfg.pair_config(),
        Some(PairConfig {
            endpoint,
            secondary_prefix_share: 50,
            rebalance_threshold: 16,
        })
    );
    // RFC 8156 §10: running without TLS is allowed but always noted.
    assert_problem(&cfg.warnings, "failover.tls.insecure", "without TLS");
}

#[test]
fn failover_values_reach_the_pair_config() {
    let keys = "role = \"secondary\"\nrelationship = \"lab\"\npeer_address = \"2001:db8:ff::1\"\nport = 6470\nlisten_address = \"2001:db8:ff::2\"\nauto_partner_down = 600\nkeepalive = 20\nmax_unacked_bndupd = 7\nstartup = 3";
    let cfg = load_text(&with_failover(keys, INSECURE)).unwrap();
    let f = cfg.failover.as_ref().unwrap();
    assert_eq!(
        f.local,
        "[2001:db8:ff::2]:6470".parse::<SocketAddr>().unwrap()
    );
    let pc = cfg.pair_config().unwrap();
    assert_eq!(pc.endpoint.role, Role::Secondary);
    assert_eq!(pc.endpoint.local.relationship, "lab");
    assert_eq!(pc.endpoint.local.keepalive, 20);
    assert_eq!(pc.endpoint.local.max_unacked, 7);
    assert_eq!(pc.endpoint.auto_partner_down, Some(600));
    assert_eq!(pc.endpoint.startup_secs, 3);
}

#[test]
fn auto_partner_down_zero_means_off() {
    // RFC 8156 §8.9: automatic PARTNER-DOWN is optional; 0 switches it off.
    let cfg = load_text(&with_failover(
        &format!("{PRIMARY_KEYS}\nauto_partner_down = 0"),
        INSECURE,
    ))
    .unwrap();
    assert_eq!(cfg.pair_config().unwrap().endpoint.auto_partner_down, None);
}

#[test]
fn ipv4_peer_defaults_to_an_ipv4_local_address() {
    let cfg = load_text(&with_failover(
        "role = \"primary\"\npeer_address = \"192.0.2.2\"",
        INSECURE,
    ))
    .unwrap();
    let f = cfg.failover.unwrap();
    assert_eq!(f.local.ip(), "0.0.0.0".parse::<IpAddr>().unwrap());
    assert_eq!(f.peer, "192.0.2.2:647".parse::<SocketAddr>().unwrap());
}

#[test]
fn failover_ranges_are_all_reported_at_their_keys() {
    // RFC 8156 §1 (MCLT >= 30), §6.5 (keepalive / 4 >= 1 s), §6.1.1 (MAX_UNACKED_BNDUPD).
    let keys = format!(
        "{PRIMARY_KEYS}\nrelationship = \"\"\nport = 0\nmclt = 29\nkeepalive = 3\nmax_unacked_bndupd = 0\nsecondary_prefix_share = 101"
    );
    let text = with_failover(&keys, INSECURE);
    let problems = problems_of(&text);
    assert_problem(&problems, "failover.relationship", "must not be empty");
    assert_problem(&problems, "failover.port", "port 0");
    assert_problem(&problems, "failover.mclt", "below the 30 s minimum");
    assert_problem(&problems, "failover.keepalive", "below 4 s");
    assert_problem(&problems, "failover.max_unacked_bndupd", "at least 1");
    assert_problem(&problems, "failover.secondary_prefix_share", "0 to 100");
    assert_eq!(problems.len(), 6, "{problems:#?}");
    // Lines point at the keys.
    let msg = load_text(&text).unwrap_err().to_string();
    let mclt_line = text.lines().position(|l| l == "mclt = 29").unwrap() + 1;
    assert!(
        msg.contains(&format!("test.toml:{mclt_line}: failover.mclt")),
        "{msg}"
    );
}

#[test]
fn failover_range_boundaries_are_accepted() {
    let keys = format!(
        "{PRIMARY_KEYS}\nmclt = 30\nkeepalive = 4\nmax_unacked_bndupd = 1\nsecondary_prefix_share = 100"
    );
    let cfg = load_text(&with_failover(&keys, INSECURE)).unwrap();
    let f = cfg.failover.unwrap();
    assert_eq!((f.mclt, f.keepalive, f.max_unacked_bndupd), (30, 4, 1));
}

#[test]
fn relationship_with_control_characters_is_rejected() {
    let keys = format!("{PRIMARY_KEYS}\nrelationship = \"a\\nb\"");
    assert_problem(
        &problems_of(&with_failover(&keys, INSECURE)),
        "failover.relationship",
        "control",
    );
}

#[test]
fn role_is_required_and_must_be_known() {
    // RFC 8156 §6.1: a server is either primary or secondary.
    let msg = err_text(&with_failover(
        "peer_address = \"2001:db8:ff::2\"",
        INSECURE,
    ));
    assert!(msg.contains("role"), "{msg}");
    let msg = err_text(&with_failover(
        "role = \"tertiary\"\npeer_address = \"2001:db8:ff::2\"",
        INSECURE,
    ));
    assert!(msg.contains("failover.role"), "{msg}");
    assert!(msg.contains("tertiary"), "{msg}");
    let msg = err_text(&with_failover(
        &format!("{PRIMARY_KEYS}\npeer = \"x\""),
        INSECURE,
    ));
    assert!(msg.contains("peer"), "{msg}");
    let msg = err_text(&with_failover("role = \"primary\"", INSECURE));
    assert!(msg.contains("peer_address"), "{msg}");
}

#[test]
fn peer_address_must_be_one_unicast_partner() {
    // RFC 8156 §6.2: the endpoint is identified by the partner's address.
    for (addr, words) in [
        ("::", "unicast"),
        ("ff02::1", "unicast"),
        ("fe80::1", "link-local"),
    ] {
        let keys = format!("role = \"primary\"\npeer_address = \"{addr}\"");
        assert_problem(
            &problems_of(&with_failover(&keys, INSECURE)),
            "failover.peer_address",
            words,
        );
    }
}

#[test]
fn peer_address_must_not_be_our_own_address() {
    let keys = format!("{PRIMARY_KEYS}\nlisten_address = \"2001:db8:ff::2\"");
    assert_problem(
        &problems_of(&with_failover(&keys, INSECURE)),
        "failover.peer_address",
        "our own failover.listen_address",
    );
    let text = with_failover(PRIMARY_KEYS, INSECURE).replace(
        "data_dir = \"data\"",
        "data_dir = \"data\"\nlisten_address = \"2001:db8:ff::2\"",
    );
    assert_problem(
        &problems_of(&text),
        "failover.peer_address",
        "our own server.listen_address",
    );
    // Both halves on one host (a loopback test) share ::1: allowed.
    let keys = "role = \"primary\"\npeer_address = \"::1\"\nlisten_address = \"::1\"";
    assert!(load_text(&with_failover(keys, INSECURE)).is_ok());
}

#[test]
fn listen_address_family_must_match_the_peer() {
    let keys = "role = \"secondary\"\npeer_address = \"192.0.2.1\"\nlisten_address = \"::\"";
    assert_problem(
        &problems_of(&with_failover(keys, INSECURE)),
        "failover.listen_address",
        "different address families",
    );
    let keys = format!("{PRIMARY_KEYS}\nlisten_address = \"ff02::2\"");
    assert_problem(
        &problems_of(&with_failover(&keys, INSECURE)),
        "failover.listen_address",
        "multicast",
    );
}

#[test]
fn tls_section_is_required() {
    // RFC 8156 §10: TLS unless the operator explicitly chooses otherwise.
    let text = format!("{}\n[failover]\n{PRIMARY_KEYS}\n", minimal_pd());
    let problems = problems_of(&text);
    assert_problem(&problems, "failover.tls", "insecure = true");
    let msg = load_text(&text).unwrap_err().to_string();
    let line = text.lines().position(|l| l == "[failover]").unwrap() + 1;
    assert!(
        msg.contains(&format!("test.toml:{line}: failover.tls")),
        "{msg}"
    );
}

#[test]
fn insecure_excludes_tls_files() {
    let tls =
        "insecure = true\ncert = \"a.crt\"\nkey = \"a.key\"\nca = \"ca.crt\"\nserver_name = \"x\"";
    let problems = problems_of(&with_failover(PRIMARY_KEYS, tls));
    for key in ["cert", "key", "ca", "server_name"] {
        assert_problem(
            &problems,
            &format!("failover.tls.{key}"),
            "insecure = true runs the link without TLS",
        );
    }
}

#[test]
fn tls_files_are_required_and_must_be_readable_files() {
    let problems = problems_of(&with_failover(
        PRIMARY_KEYS,
        "server_name = \"tandem-secondary\"",
    ));
    for key in ["cert", "key", "ca"] {
        assert_problem(&problems, &format!("failover.tls.{key}"), "missing");
    }
    // Relative to the config file's directory, like data_dir; a directory is not a file.
    let dir = pki_dir();
    let text = with_failover(
        PRIMARY_KEYS,
        "cert = \"pki/primary.crt\"\nkey = \"pki/nope.key\"\nca = \"pki\"",
    );
    let err = load_str(&text, "t.toml", dir.path()).unwrap_err();
    let ConfigError::Invalid { problems, .. } = &err else {
        panic!("{err}");
    };
    assert_no_problem_at(problems, "failover.tls.cert");
    assert_problem(problems, "failover.tls.key", "cannot read");
    assert_problem(problems, "failover.tls.ca", "is not a file");
    // Absolute paths are taken as they are.
    let abs = dir.path().join("pki/ca.crt");
    let text = with_failover(
        PRIMARY_KEYS,
        &format!(
            "cert = \"pki/primary.crt\"\nkey = \"pki/primary.key\"\nca = \"{}\"",
            abs.display()
        ),
    );
    let other = tempfile::tempdir().unwrap();
    std::fs::create_dir(other.path().join("pki")).unwrap();
    std::fs::copy(
        dir.path().join("pki/primary.crt"),
        other.path().join("pki/primary.crt"),
    )
    .unwrap();
    std::fs::copy(
        dir.path().join("pki/primary.key"),
        other.path().join("pki/primary.key"),
    )
    .unwrap();
    let cfg = load_str(&text, "t.toml", other.path()).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(&cfg.failover.unwrap().tls, FailoverTls::Mutual { ca, server_name, .. } if *ca == abs && server_name == "tandem-secondary")
    );
}

#[test]
fn tls_server_name_must_be_a_certificate_name() {
    let dir = pki_dir();
    let tls = |name: &str| {
        format!("cert = \"pki/primary.crt\"\nkey = \"pki/primary.key\"\nca = \"pki/ca.crt\"\nserver_name = \"{name}\"")
    };
    for bad in ["", "two words", "-lead.example", "a..b"] {
        let err = load_str(
            &with_failover(PRIMARY_KEYS, &tls(bad)),
            "t.toml",
            dir.path(),
        )
        .expect_err(bad);
        assert!(
            err.to_string().contains("failover.tls.server_name"),
            "{bad:?}: {err}"
        );
    }
    for good in ["tandem-secondary", "dhcp2.example.org.", "2001:db8:ff::2"] {
        load_str(
            &with_failover(PRIMARY_KEYS, &tls(good)),
            "t.toml",
            dir.path(),
        )
        .unwrap_or_else(|e| panic!("{good:?}: {e}"));
    }
}

#[test]
fn failover_address_pool_needs_two_addresses() {
    // RFC 8156 §4.2.1.1: odd addresses to the primary, even to the secondary.
    let one = MINIMAL.replace(
        r#"pools = [{ first = "2001:db8:1::1000", last = "2001:db8:1::1fff" }]"#,
        r#"pools = [{ first = "2001:db8:1::7", last = "2001:db8:1::7" }, { prefix = "2001:db8:1::9/128" }, { first = "2001:db8:1::10", last = "2001:db8:1::11" }]"#,
    );
    // Fine for a single server...
    assert!(load_text(&one).is_ok());
    // ...not for a pair.
    let text = format!("{one}\n[failover]\n{PRIMARY_KEYS}\n[failover.tls]\n{INSECURE}\n");
    let problems = problems_of(&text);
    assert_problem(&problems, "subnet6[0].pools[0]", "at least 2 addresses");
    assert_problem(&problems, "subnet6[0].pools[1]", "at least 2 addresses");
    assert_no_problem_at(&problems, "subnet6[0].pools[2]");
}

#[test]
fn failover_prefix_pool_needs_two_prefixes_and_a_trackable_size() {
    // RFC 8156 §4.2.2: each prefix pool is shared between the two servers.
    let pd = |pools: &str| {
        let text = MINIMAL.replace(
            "pools = [{ first",
            &format!("pd_pools = [{pools}]\npools = [{{ first"),
        );
        format!("{text}\n[failover]\n{PRIMARY_KEYS}\n[failover.tls]\n{INSECURE}\n")
    };
    let problems = problems_of(&pd(
        r#"{ prefix = "2001:db8:100::/56", delegated_len = 56 }, { prefix = "2001:db8:8000::/33", delegated_len = 128 }, { prefix = "2001:db8:300::/56", delegated_len = 57 }"#,
    ));
    assert_problem(
        &problems,
        "subnet6[0].pd_pools[0]",
        "at least 2 delegated prefixes",
    );
    assert_problem(&problems, "subnet6[0].pd_pools[1].delegated_len", "2^62");
    assert_no_problem_at(&problems, "subnet6[0].pd_pools[2]");
    assert_eq!(problems.len(), 2, "{problems:#?}");
}

#[test]
fn failover_forbids_leases_shorter_than_30_seconds() {
    // RFC 8156 §1.
    let short = MINIMAL
        .replace("preferred_lifetime = 3000", "preferred_lifetime = 20")
        .replace("valid_lifetime = 4000", "valid_lifetime = 29");
    assert!(load_text(&short).is_ok());
    let text = format!("{short}\n[failover]\n{PRIMARY_KEYS}\n[failover.tls]\n{INSECURE}\n");
    assert_problem(&problems_of(&text), "subnet6[0].valid_lifetime", "30");
    let ok = short.replace("valid_lifetime = 29", "valid_lifetime = 30");
    let text = format!("{ok}\n[failover]\n{PRIMARY_KEYS}\n[failover.tls]\n{INSECURE}\n");
    assert!(load_text(&text).is_ok());
}

fn warnings_of(keys: &str) -> Vec<Problem> {
    let cfg = load_text(&with_failover(keys, INSECURE)).unwrap_or_else(|e| panic!("{e}"));
    cfg.warnings
        .into_iter()
        .filter(|w| w.path != "failover.tls.insecure")
        .collect()
}

#[test]
fn secondary_mclt_is_noted_because_the_primary_wins() {
    // RFC 8156 §6.1.2: the secondary adopts the MCLT from CONNECT.
    let sec = "role = \"secondary\"\npeer_address = \"2001:db8:ff::1\"";
    let w = warnings_of(&format!("{sec}\nmclt = 600"));
    assert_problem(&w, "failover.mclt", "primary's MCLT");
    let text = with_failover(&format!("{sec}\nmclt = 600"), INSECURE);
    let mclt_line = text.lines().position(|l| l == "mclt = 600").unwrap() + 1;
    assert_eq!(
        w[0].to_string(),
        format!("test.toml:{mclt_line}: failover.mclt: {}", w[0].message),
        "warnings carry file and line"
    );
    assert!(warnings_of(&format!("{sec}\nmclt = 3600")).is_empty());
    assert!(warnings_of(&format!("{PRIMARY_KEYS}\nmclt = 600")).is_empty());
    // The primary decides the prefix split (§4.2.2).
    let w = warnings_of(&format!(
        "{sec}\nsecondary_prefix_share = 40\nrebalance_threshold = 3"
    ));
    assert_problem(&w, "failover.secondary_prefix_share", "only the primary");
    assert_problem(&w, "failover.rebalance_threshold", "only the primary");
}

#[test]
fn extreme_prefix_share_is_noted() {
    // RFC 8156 §4.2.2: in COMMUNICATIONS-INTERRUPTED each side delegates only its own.
    let w = warnings_of(&format!("{PRIMARY_KEYS}\nsecondary_prefix_share = 0"));
    assert_problem(&w, "failover.secondary_prefix_share", "the secondary never");
    let w = warnings_of(&format!("{PRIMARY_KEYS}\nsecondary_prefix_share = 100"));
    assert_problem(&w, "failover.secondary_prefix_share", "the primary gives");
    assert!(warnings_of(&format!("{PRIMARY_KEYS}\nsecondary_prefix_share = 1")).is_empty());
    // Without prefix pools the share means nothing.
    let text = format!(
        "{MINIMAL}\n[failover]\n{PRIMARY_KEYS}\nsecondary_prefix_share = 0\n[failover.tls]\n{INSECURE}\n"
    );
    let cfg = load_text(&text).unwrap();
    assert!(cfg
        .warnings
        .iter()
        .all(|w| w.path != "failover.secondary_prefix_share"));
}

// ---------------------------------------------------------------- check_pair

fn pair() -> (RunConfig, RunConfig, tempfile::TempDir) {
    let dir = pki_dir();
    let p = load_example("pair-primary.toml", dir.path()).unwrap();
    let s = load_example("pair-secondary.toml", dir.path()).unwrap();
    (p, s, dir)
}

/// The secondary example with `from` replaced by `to`.
fn secondary_with(dir: &Path, from: &str, to: &str) -> RunConfig {
    let text = example_text("pair-secondary.toml");
    assert!(text.contains(from), "{from:?} not in the example");
    load_str(&text.replacen(from, to, 1), "pair-secondary.toml", dir)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn assert_pair_problem(problems: &[Problem], file: &str, path: &str, words: &str) {
    assert!(
        problems.iter().any(|p| p.file.as_deref() == Some(file)
            && p.path == path
            && p.message.contains(words)
            && p.line.is_some()),
        "no problem in {file} at {path} mentioning {words:?} in {problems:#?}"
    );
}

#[test]
fn check_pair_accepts_the_examples_in_either_order() {
    let (p, s, _dir) = pair();
    assert!(check_pair(&p, &s).is_empty());
    assert!(check_pair(&s, &p).is_empty());
}

#[test]
fn check_pair_needs_failover_on_both() {
    let (p, _s, _dir) = pair();
    let single = load(&example_path()).unwrap();
    let problems = check_pair(&p, &single);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(problems[0].message.contains("no [failover]"));
    assert!(problems[0]
        .file
        .as_deref()
        .is_some_and(|f| f.ends_with("tandem.toml")));
}

#[test]
fn check_pair_roles_must_differ() {
    // RFC 8156 §6.1: one primary, one secondary.
    let (p, _s, dir) = pair();
    let s = secondary_with(dir.path(), "role = \"secondary\"", "role = \"primary\"");
    assert_pair_problem(
        &check_pair(&p, &s),
        "pair-secondary.toml",
        "failover.role",
        "both",
    );
}

#[test]
fn check_pair_relationship_and_port_must_match() {
    // RFC 8156 §6.2 relationship name; §5.1 one port.
    let (p, _s, dir) = pair();
    let s = secondary_with(
        dir.path(),
        "relationship = \"tandem\"",
        "relationship = \"other\"",
    );
    assert_pair_problem(
        &check_pair(&p, &s),
        "pair-secondary.toml",
        "failover.relationship",
        "refuses",
    );
    let s = secondary_with(dir.path(), "port = 647", "port = 6470");
    assert_pair_problem(
        &check_pair(&p, &s),
        "pair-secondary.toml",
        "failover.port",
        "6470",
    );
}

#[test]
fn check_pair_peer_addresses_must_name_each_other() {
    // RFC 8156 §6.2: the secondary knows the primary by its address.
    let (p, _s, dir) = pair();
    let s = secondary_with(
        dir.path(),
        "peer_address = \"2001:db8:ff::1\"",
        "peer_address = \"2001:db8:ff::9\"",
    );
    let problems = check_pair(&p, &s);
    assert_pair_problem(
        &problems,
        "pair-secondary.toml",
        "failover.peer_address",
        "accepts the primary only from peer_address",
    );
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let s = secondary_with(
        dir.path(),
        "listen_address = \"2001:db8:ff::2\"",
        "listen_address = \"2001:db8:ff::3\"",
    );
    assert_pair_problem(
        &check_pair(&p, &s),
        "pair-primary.toml",
        "failover.peer_address",
        "does not listen on",
    );
    // With "::" the secondary's file does not say its address: nothing to compare.
    let s = secondary_with(
        dir.path(),
        "listen_address = \"2001:db8:ff::2\"",
        "listen_address = \"::\"",
    );
    assert!(check_pair(&p, &s).is_empty());
}

#[test]
fn check_pair_tls_must_be_on_both_or_off_both() {
    // RFC 8156 §10.
    let (p, _s, dir) = pair();
    let text = example_text("pair-secondary.toml");
    let start = text.find("cert = ").unwrap();
    let end = text.find("# insecure = true").unwrap();
    let insecure = format!("{}insecure = true\n{}", &text[..start], &text[end..]);
    let s =
        load_str(&insecure, "pair-secondary.toml", dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert!(s.failover.as_ref().unwrap().is_insecure());
    assert_pair_problem(
        &check_pair(&p, &s),
        "pair-secondary.toml",
        "failover.tls.insecure",
        "without TLS",
    );
    assert_pair_problem(
        &check_pair(&s, &p),
        "pair-secondary.toml",
        "failover.tls.insecure",
        "without TLS",
    );
}

#[test]
fn check_pair_mclt_mismatch_points_at_the_secondary() {
    // RFC 8156 §6.1.2: the primary's MCLT wins.
    let (p, _s, dir) = pair();
    let s = secondary_with(dir.path(), "# mclt = 3600", "mclt = 600");
    for problems in [check_pair(&p, &s), check_pair(&s, &p)] {
        assert_pair_problem(
            &problems,
            "pair-secondary.toml",
            "failover.mclt",
            "600 s differs from 3600 s",
        );
    }
}

#[test]
fn check_pair_pools_must_be_identical() {
    // RFC 8156 §4.2: both servers split the same pools.
    let (p, _s, dir) = pair();
    // Unnamed pools are matched by range, the leftovers in order: a changed range is one
    // difference with both ranges.
    let s = secondary_with(dir.path(), "2001:db8:1::ffff", "2001:db8:1::fffe");
    let problems = check_pair(&p, &s);
    assert_pair_problem(
        &problems,
        "pair-secondary.toml",
        "subnet6[0].pools[0]",
        "address pool of subnet id 1 is 2001:db8:1::1000-2001:db8:1::fffe here but 2001:db8:1::1000-2001:db8:1::ffff in pair-primary.toml",
    );
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let s = secondary_with(dir.path(), "delegated_len = 56", "delegated_len = 60");
    assert_pair_problem(
        &check_pair(&p, &s),
        "pair-secondary.toml",
        "subnet6[0].pd_pools[0]",
        "prefix pool",
    );
    let s = secondary_with(
        dir.path(),
        "prefix = \"2001:db8:200::/56\"",
        "prefix = \"2001:db8:201::/56\"",
    );
    assert_pair_problem(
        &check_pair(&p, &s),
        "pair-secondary.toml",
        "subnet6[0].reservations",
        "reservations",
    );
    let s = secondary_with(dir.path(), "id = 1", "id = 2");
    let problems = check_pair(&p, &s);
    assert_pair_problem(
        &problems,
        "pair-primary.toml",
        "subnet6[0].id",
        "subnet id 1",
    );
    assert_pair_problem(
        &problems,
        "pair-secondary.toml",
        "subnet6[0].id",
        "subnet id 2",
    );
}

#[test]
fn check_pair_subnet_prefix_must_match() {
    let (p, _s, dir) = pair();
    // Move the whole subnet (prefix, pool, reservation) to another /64.
    let text = example_text("pair-secondary.toml").replace("2001:db8:1::", "2001:db8:2::");
    let s = load_str(&text, "pair-secondary.toml", dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let problems = check_pair(&p, &s);
    assert_pair_problem(
        &problems,
        "pair-secondary.toml",
        "subnet6[0].prefix",
        "2001:db8:2::/64",
    );
}

#[test]
fn problem_display_names_file_and_line() {
    let mut p = Problem::new("failover.mclt", "too small");
    assert_eq!(p.to_string(), "failover.mclt: too small");
    p.line = Some(7);
    p.file = Some("a.toml".into());
    assert_eq!(p.to_string(), "a.toml:7: failover.mclt: too small");
}

// ---------------------------------------------------------------- infinite lifetimes

/// MINIMAL with its two lifetimes replaced by the given TOML values.
fn with_lifetimes(preferred: &str, valid: &str) -> String {
    MINIMAL
        .replace(
            "preferred_lifetime = 3000",
            &format!("preferred_lifetime = {preferred}"),
        )
        .replace(
            "valid_lifetime = 4000",
            &format!("valid_lifetime = {valid}"),
        )
}

#[test]
fn infinite_lifetime_is_the_word_infinite_or_4294967295_rfc8415_s7_7() {
    for v in ["\"infinite\"", "4294967295"] {
        let cfg = load_text(&with_lifetimes(v, v)).unwrap_or_else(|e| panic!("{v}: {e}"));
        let s = &cfg.core.subnets[0];
        assert_eq!(
            (s.preferred_lifetime, s.valid_lifetime),
            (u32::MAX, u32::MAX)
        );
        // RFC 8415 §21.4: T1/T2 default to infinity when the preferred lifetime is.
        assert_eq!((s.effective_t1(), s.effective_t2()), (u32::MAX, u32::MAX));
    }
    // A finite preferred lifetime under an infinite valid one is fine.
    let cfg = load_text(&with_lifetimes("3000", "\"infinite\"")).unwrap();
    assert_eq!(cfg.core.subnets[0].valid_lifetime, u32::MAX);
    // T1/T2 may be infinite too.
    let t = with_lifetimes("\"infinite\"", "\"infinite\"").replace(
        "valid_lifetime = \"infinite\"",
        "valid_lifetime = \"infinite\"\nrenew_time = 1000\nrebind_time = \"infinite\"",
    );
    let cfg = load_text(&t).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (cfg.core.subnets[0].t1, cfg.core.subnets[0].t2),
        (Some(1000), Some(u32::MAX))
    );
}

#[test]
fn nonsense_lifetimes_are_reported_clearly_rfc8415_s7_7() {
    // Anything but a number of seconds or "infinite" is rejected at its key and line.
    for bad in ["\"forever\"", "\"3000\"", "-1", "4294967296", "1.5"] {
        let msg = err_text(&with_lifetimes("3000", bad));
        assert!(msg.contains("subnet6[0].valid_lifetime"), "{bad}: {msg}");
        assert!(msg.starts_with("test.toml:11:"), "{bad}: {msg}");
        assert!(msg.contains("\"infinite\""), "{bad}: {msg}");
    }
    // An infinite preferred lifetime cannot sit under a finite valid one.
    let p = problems_of(&with_lifetimes("\"infinite\"", "4000"));
    assert_problem(
        &p,
        "subnet6[0].preferred_lifetime",
        "preferred lifetime infinite exceeds valid lifetime 4000",
    );
    // Infinite T2 with a finite preferred lifetime would never rebind before expiry.
    let t2 = MINIMAL.replace(
        "valid_lifetime = 4000",
        "valid_lifetime = 4000\nrebind_time = \"infinite\"",
    );
    assert_problem(
        &problems_of(&t2),
        "subnet6[0].rebind_time",
        "T2 infinite exceeds preferred lifetime 3000",
    );
}

// ------------------------------------------------------------------ [metrics]

#[test]
fn metrics_endpoint_is_off_unless_configured() {
    assert_eq!(load_text(MINIMAL).unwrap().metrics, None);
}

#[test]
fn metrics_listen_takes_an_address_and_port() {
    let cfg = load_text(&format!("{MINIMAL}\n[metrics]\nlisten = \"[::1]:9547\"\n")).unwrap();
    assert_eq!(cfg.metrics, Some("[::1]:9547".parse().unwrap()));
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
}

#[test]
fn metrics_listen_that_is_not_an_address_is_a_config_error_with_its_line() {
    let text = format!("{MINIMAL}\n[metrics]\nlisten = \"localhost:9547\"\n");
    let problems = problems_of(&text);
    assert_problem(&problems, "metrics.listen", "is not an address and port");
    let line = problems
        .iter()
        .find(|p| p.path == "metrics.listen")
        .unwrap()
        .line;
    // MINIMAL, an empty line, `[metrics]`, then the `listen` line.
    assert_eq!(line, Some(MINIMAL.lines().count() + 3));
    assert_problem(
        &problems_of(&format!("{MINIMAL}\n[metrics]\nlisten = \"[::1]:0\"\n")),
        "metrics.listen",
        "port 0",
    );
    assert!(err_text(&format!(
        "{MINIMAL}\n[metrics]\nlisten = \"[::1]:9547\"\nport = 1\n"
    ))
    .contains("port"));
}

#[test]
fn metrics_listen_off_loopback_is_a_warning_the_endpoint_has_no_authentication() {
    let cfg = load_text(&format!("{MINIMAL}\n[metrics]\nlisten = \"[::]:9547\"\n")).unwrap();
    assert_problem(&cfg.warnings, "metrics.listen", "no authentication");
}

// ---------------------------------------------------------------- issue 12: logs, pools

#[test]
fn a_log_level_typo_is_a_config_error_with_its_line() {
    // "inf0" parses as an EnvFilter target directive and would silence every log.
    let text = MINIMAL.replace(
        "data_dir = \"data\"",
        "data_dir = \"data\"\nlog_level = \"inf0\"",
    );
    let msg = err_text(&text);
    assert!(msg.contains("test.toml:5: server.log_level"), "{msg}");
    assert!(msg.contains("\"inf0\" is not a level"), "{msg}");
    let text = MINIMAL.replace(
        "data_dir = \"data\"",
        "data_dir = \"data\"\nlog_level = \"info,tandem::lease=off\"",
    );
    assert_eq!(
        load_text(&text).unwrap().log_level,
        "info,tandem::lease=off"
    );
}

#[test]
fn log_format_and_target_are_checked_at_their_lines() {
    use crate::logging::{LogFormat, LogTarget};
    let cfg = load_text(MINIMAL).unwrap();
    assert_eq!(
        (cfg.log_format, cfg.log_target),
        (LogFormat::Text, LogTarget::Stderr)
    );
    let text = MINIMAL.replace(
        "data_dir = \"data\"",
        "data_dir = \"data\"\nlog_format = \"json\"\nlog_target = \"journald\"",
    );
    let cfg = load_text(&text).unwrap();
    assert_eq!(
        (cfg.log_format, cfg.log_target),
        (LogFormat::Json, LogTarget::Journald)
    );
    let msg = err_text(&MINIMAL.replace(
        "data_dir = \"data\"",
        "data_dir = \"data\"\nlog_format = \"xml\"",
    ));
    assert!(msg.starts_with("test.toml:5:"), "{msg}");
    assert!(msg.contains("server.log_format"), "{msg}");
    assert!(msg.contains("text") && msg.contains("json"), "{msg}");
    let msg = err_text(&MINIMAL.replace(
        "data_dir = \"data\"",
        "data_dir = \"data\"\nlog_target = \"syslog\"",
    ));
    assert!(
        msg.contains("server.log_target") && msg.contains("journald"),
        "{msg}"
    );
}

#[test]
fn pool_thresholds_default_and_out_of_range_values_are_all_reported() {
    let cfg = load_text(MINIMAL).unwrap();
    assert_eq!(
        cfg.pool_thresholds,
        tandem_server::PoolThresholds::default()
    );
    assert_eq!(
        (
            cfg.pool_thresholds.warn_percent,
            cfg.pool_thresholds.critical_percent
        ),
        (80, 95)
    );
    let with = |keys: &str| {
        MINIMAL.replace(
            "data_dir = \"data\"",
            &format!("data_dir = \"data\"\n{keys}"),
        )
    };
    let problems = problems_of(&with("pool_warn_percent = 0\npool_critical_percent = 101"));
    assert_problem(
        &problems,
        "server.pool_warn_percent",
        "0 is not a percentage",
    );
    assert_problem(
        &problems,
        "server.pool_critical_percent",
        "101 is not a percentage",
    );
    let problems = problems_of(&with("pool_warn_percent = 90\npool_critical_percent = 85"));
    assert_problem(&problems, "server.pool_critical_percent", "above");
    assert!(
        problems
            .iter()
            .all(|p| p.line == Some(5) || p.line == Some(6)),
        "{problems:#?}"
    );
    let cfg = load_text(&with("pool_warn_percent = 50\npool_critical_percent = 100")).unwrap();
    assert_eq!(cfg.pool_thresholds.warn_percent, 50);
}

#[test]
fn pool_names_default_to_the_range_and_must_be_unique_in_a_subnet() {
    let cfg = load_text(&minimal_pd()).unwrap();
    let s = &cfg.file.subnet6[0];
    assert_eq!(
        s.pools[0].display_name(),
        "2001:db8:1::1000-2001:db8:1::1fff"
    );
    assert_eq!(s.pd_pools[0].display_name(), "2001:db8:100::/48 /56");
    assert!(cfg.pool_names().is_empty(), "only given names are mapped");
    let named = MINIMAL.replace("pools = [{ first", "pools = [{ name = \"lab\", first");
    let cfg = load_text(&named).unwrap();
    assert_eq!(cfg.file.subnet6[0].pools[0].display_name(), "lab");
    assert_eq!(
        cfg.pool_names()
            .get(&(1, "2001:db8:1::1000-2001:db8:1::1fff".to_string())),
        Some(&"lab".to_string())
    );
    let twice = MINIMAL.replace(
        "pools = [{ first = \"2001:db8:1::1000\", last = \"2001:db8:1::1fff\" }]",
        "pools = [{ name = \"a\", first = \"2001:db8:1::1000\", last = \"2001:db8:1::10ff\" }, { name = \"a\", first = \"2001:db8:1::1100\", last = \"2001:db8:1::1fff\" }]",
    );
    assert_problem(
        &problems_of(&twice),
        "subnet6[0].pools[1].name",
        "used twice",
    );
    let blank = MINIMAL.replace("pools = [{ first", "pools = [{ name = \" \", first");
    assert_problem(
        &problems_of(&blank),
        "subnet6[0].pools[0].name",
        "not a usable pool name",
    );
}

#[test]
fn check_pair_matches_pools_by_name_and_gives_both_ranges() {
    let (_p, _s, dir) = pair();
    let name = |text: String| {
        text.replace(
            "{ first = \"2001:db8:1::1000\"",
            "{ name = \"clients\", first = \"2001:db8:1::1000\"",
        )
    };
    let p = load_str(
        &name(example_text("pair-primary.toml")),
        "pair-primary.toml",
        dir.path(),
    )
    .unwrap();
    let s = load_str(
        &name(example_text("pair-secondary.toml")).replace("2001:db8:1::ffff", "2001:db8:1::efff"),
        "pair-secondary.toml",
        dir.path(),
    )
    .unwrap();
    let problems = check_pair(&p, &s);
    assert_pair_problem(
        &problems,
        "pair-secondary.toml",
        "subnet6[0].pools[0]",
        "address pool \"clients\" of subnet id 1 is 2001:db8:1::1000-2001:db8:1::efff here but address pool 2001:db8:1::1000-2001:db8:1::ffff in pair-primary.toml",
    );
    assert_eq!(problems.len(), 1, "{problems:#?}");
    // Same range, another name: said so.
    let s = load_str(
        &example_text("pair-secondary.toml").replace(
            "{ first = \"2001:db8:1::1000\"",
            "{ name = \"dhcp\", first = \"2001:db8:1::1000\"",
        ),
        "pair-secondary.toml",
        dir.path(),
    )
    .unwrap();
    assert_pair_problem(
        &check_pair(&p, &s),
        "pair-secondary.toml",
        "subnet6[0].pools[0]",
        "address pool \"dhcp\" (2001:db8:1::1000-2001:db8:1::ffff) of subnet id 1 is not in pair-primary.toml (the address pool with the same range there is named \"clients\": use one name)",
    );
}

#[test]
fn check_pair_compares_options_and_lifetimes_with_both_values() {
    let (p, _s, dir) = pair();
    let s = secondary_with(
        dir.path(),
        "dns_servers = [\"2001:db8:1::53\"]",
        "dns_servers = [\"2001:db8:1::99\"]",
    );
    assert_pair_problem(
        &check_pair(&p, &s),
        "pair-secondary.toml",
        "options.dns_servers",
        "[2001:db8:1::99] here but [2001:db8:1::53] in pair-primary.toml",
    );
    let s = secondary_with(dir.path(), "valid_lifetime = 4000", "valid_lifetime = 5000");
    assert_pair_problem(
        &check_pair(&p, &s),
        "pair-secondary.toml",
        "subnet6[0].valid_lifetime",
        "5000 s here but 4000 s in pair-primary.toml",
    );
    let s = secondary_with(dir.path(), "renew_time = 1000", "renew_time = 1200");
    assert_pair_problem(
        &check_pair(&p, &s),
        "pair-secondary.toml",
        "subnet6[0].renew_time",
        "1200 s here but 1000 s",
    );
    let s = secondary_with(
        dir.path(),
        "dns_servers = [\"2001:db8:1::53\", \"2001:db8:1::54\"]",
        "dns_servers = [\"2001:db8:1::53\"]",
    );
    assert_pair_problem(
        &check_pair(&p, &s),
        "pair-secondary.toml",
        "subnet6[0].options.dns_servers",
        "subnet id 1",
    );
    let s = secondary_with(
        dir.path(),
        "addresses = [\"2001:db8:1::5060\"]",
        "addresses = [\"2001:db8:1::5061\"]",
    );
    assert_pair_problem(
        &check_pair(&p, &s),
        "pair-secondary.toml",
        "options.custom (option 22)",
        "0x2001",
    );
}

// ---------------------------------------------------------------- DHCPv4: [[subnet4]], [options4]

use std::net::Ipv4Addr;

use tandem_core::config::AddressPool4;
use tandem_core::Reservation4;
use tandem_failover::wire::Protocol;
use tandem_wire::dhcpfo::Hba;
use tandem_wire::v4::ClasslessRoute;

/// A small DHCPv4-only server: one directly attached subnet.
const MINIMAL4: &str = r#"
[server]
interfaces = ["eth0"]
data_dir = "data"

[options4]
dns_servers = ["192.0.2.53"]
domain_name = "example.org"

[[subnet4]]
id = 4
subnet = "192.0.2.0/24"
interface = "eth0"
pools = ["192.0.2.100-192.0.2.199"]

[subnet4.options]
routers = ["192.0.2.1"]
"#;

fn v4(a: &str) -> Ipv4Addr {
    a.parse().unwrap()
}

/// The 1-based line of the first line of `text` containing `needle`.
fn line_with(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in the text"))
        + 1
}

/// Asserts a problem at `path`, mentioning `words`, on the line holding `needle`.
fn assert_problem_on(text: &str, problems: &[Problem], path: &str, words: &str, needle: &str) {
    assert_problem(problems, path, words);
    let want = line_with(text, needle);
    assert!(
        problems
            .iter()
            .any(|p| p.path == path && p.message.contains(words) && p.line == Some(want)),
        "problem at {path} is not on line {want} ({needle:?}): {problems:#?}"
    );
}

#[test]
fn a_dhcpv4_config_loads_and_maps_onto_the_core_types() {
    let text = format!(
        r#"{MINIMAL4}
static_routes = [
    {{ destination = "0.0.0.0/0", router = "192.0.2.1" }},
    {{ destination = "198.51.100.0/24", router = "192.0.2.254" }},
]
interface_mtu = 1500

[[subnet4.options.custom]]
code = 150
addresses = ["192.0.2.5", "192.0.2.6"]

[[subnet4.reservations]]
hw_address = "02:00:00:00:00:01"
address = "192.0.2.10"

[[subnet4.reservations]]
client_id = "01:02:00:00:00:00:02"
address = "192.0.2.11"

[[subnet4]]
id = 5
subnet = "198.51.100.0/24"
lease_time = "infinite"
t1 = 1000
t2 = 2000
pools = [{{ name = "relayed", first = "198.51.100.10", last = "198.51.100.20" }}, {{ prefix = "198.51.100.128/25" }}]
"#
    );
    let cfg = load_text(&text).unwrap_or_else(|e| panic!("{e}"));
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
    let core = &cfg.core;
    assert!(core.subnets.is_empty());
    assert_eq!(core.subnets4.len(), 2);
    let s = &core.subnets4[0];
    assert_eq!(s.id, 4);
    assert_eq!(s.subnet, "192.0.2.0/24".parse().unwrap());
    assert_eq!(s.interface.as_deref(), Some("eth0"));
    assert_eq!(s.shared_network, None);
    assert_eq!(s.lease_time, 3600, "lease_time defaults to one hour");
    assert_eq!((s.t1, s.t2), (None, None));
    assert_eq!(
        s.pools,
        vec![AddressPool4 {
            first: v4("192.0.2.100"),
            last: v4("192.0.2.199")
        }]
    );
    assert_eq!(s.options.routers, vec![v4("192.0.2.1")]);
    assert_eq!(s.options.interface_mtu, Some(1500));
    assert_eq!(
        s.options.classless_routes,
        vec![
            ClasslessRoute::new(v4("0.0.0.0"), 0, v4("192.0.2.1")).unwrap(),
            ClasslessRoute::new(v4("198.51.100.0"), 24, v4("192.0.2.254")).unwrap(),
        ]
    );
    assert_eq!(
        s.options.other,
        vec![(150, vec![192, 0, 2, 5, 192, 0, 2, 6])],
        "IPv4 addresses are 4 octets each"
    );
    assert_eq!(
        s.reservations,
        vec![
            Reservation4 {
                hw_address: Some(vec![2, 0, 0, 0, 0, 1]),
                client_id: None,
                address: v4("192.0.2.10"),
            },
            Reservation4 {
                hw_address: None,
                client_id: Some(vec![1, 2, 0, 0, 0, 0, 2]),
                address: v4("192.0.2.11"),
            },
        ]
    );
    let r = &core.subnets4[1];
    assert_eq!(r.interface, None, "relayed");
    assert_eq!(r.lease_time, tandem_core::INFINITE_LIFETIME);
    assert_eq!((r.t1, r.t2), (Some(1000), Some(2000)));
    assert_eq!(
        r.pools[1],
        AddressPool4 {
            first: v4("198.51.100.128"),
            last: v4("198.51.100.254")
        },
        "a prefix pool leaves out the subnet's broadcast address"
    );
    assert_eq!(core.options4.dns_servers, vec![v4("192.0.2.53")]);
    assert_eq!(core.options4.domain_name.as_deref(), Some("example.org"));
    assert!(core.validate().is_empty());
    assert_eq!(
        cfg.pool_names()
            .get(&(5, "198.51.100.10-198.51.100.20".to_string())),
        Some(&"relayed".to_string()),
        "pool names cover DHCPv4 pools, keyed by (id, first-last)"
    );
    assert_eq!(cfg.pool_names().len(), 1, "only given names are mapped");
}

#[test]
fn port4_and_listen_address4_default_to_67_and_0_0_0_0() {
    // RFC 2131 §4.1: servers receive on UDP port 67.
    let cfg = load_text(MINIMAL4).unwrap();
    assert_eq!(cfg.port4, 67);
    assert_eq!(cfg.listen_address4, Ipv4Addr::UNSPECIFIED);
    assert_eq!(cfg.port, 547, "the DHCPv6 port is unchanged");
    let set = MINIMAL4.replace(
        "data_dir = \"data\"",
        "data_dir = \"data\"\nport4 = 1067\nlisten_address4 = \"127.0.0.1\"",
    );
    let cfg = load_text(&set).unwrap();
    assert_eq!((cfg.port4, cfg.listen_address4), (1067, v4("127.0.0.1")));
    let settings = crate::serve::settings(&cfg);
    assert_eq!(
        (settings.port4, settings.listen_address4),
        (1067, v4("127.0.0.1"))
    );
}

#[test]
fn port4_zero_and_a_broadcast_listen_address4_are_refused() {
    let text = MINIMAL4.replace(
        "data_dir = \"data\"",
        "data_dir = \"data\"\nport4 = 0\nlisten_address4 = \"255.255.255.255\"",
    );
    let p = problems_of(&text);
    assert_problem_on(&text, &p, "server.port4", "port 0", "port4 = 0");
    assert_problem_on(
        &text,
        &p,
        "server.listen_address4",
        "not an address of this host",
        "listen_address4",
    );
}

#[test]
fn listen_address4_bound_to_one_address_warns_that_direct_clients_broadcast() {
    let text = MINIMAL4.replace(
        "data_dir = \"data\"",
        "data_dir = \"data\"\nlisten_address4 = \"192.0.2.2\"",
    );
    let cfg = load_text(&text).unwrap();
    assert_eq!(cfg.warnings.len(), 1, "{:?}", cfg.warnings);
    assert_eq!(cfg.warnings[0].path, "server.listen_address4");
    assert!(cfg.warnings[0].message.contains("subnet4[0]"));
    // Relayed only: nothing to warn about.
    let relayed = text.replace("interface = \"eth0\"\n", "");
    assert!(load_text(&relayed).unwrap().warnings.is_empty());
}

#[test]
fn a_misspelt_dhcpv4_key_is_an_error_with_its_line() {
    for (from, to, path, key) in [
        (
            "pools = [",
            "leas_time = 60\npools = [",
            "subnet4[0]",
            "leas_time",
        ),
        (
            "routers = [",
            "router = [\"192.0.2.1\"]\nrouters = [",
            "subnet4[0].options",
            "router",
        ),
        (
            "domain_name",
            "domain = \"x\"\ndomain_name",
            "options4",
            "domain",
        ),
        (
            "data_dir = \"data\"",
            "data_dir = \"data\"\nport_4 = 67",
            "server",
            "port_4",
        ),
    ] {
        let text = MINIMAL4.replacen(from, to, 1);
        let msg = err_text(&text);
        let line = line_with(&text, &format!("{key} ="));
        assert!(msg.starts_with(&format!("test.toml:{line}:")), "{msg}");
        assert!(msg.contains(path), "{msg}");
        assert!(msg.contains(&format!("unknown field `{key}`")), "{msg}");
    }
    let text = MINIMAL4.replace(
        "pools = [\"192.0.2.100-192.0.2.199\"]",
        "pools = [{ first = \"192.0.2.100\", lsat = \"192.0.2.199\" }]",
    );
    let msg = err_text(&text);
    assert!(msg.contains("subnet4[0].pools[0].lsat"), "{msg}");
    assert!(
        msg.starts_with(&format!("test.toml:{}:", line_with(&text, "lsat"))),
        "{msg}"
    );
}

#[test]
fn a_bad_dhcpv4_value_names_its_key_and_line() {
    for (from, to, path, words) in [
        (
            "subnet = \"192.0.2.0/24\"",
            "subnet = \"192.0.2.0/33\"",
            "subnet4[0].subnet",
            "invalid",
        ),
        (
            "routers = [\"192.0.2.1\"]",
            "routers = [\"192.0.2.300\"]",
            "subnet4[0].options.routers",
            "invalid",
        ),
        (
            "pools = [\"192.0.2.100-192.0.2.199\"]",
            "pools = [\"192.0.2.100-192.0.2.299\"]",
            "subnet4[0].pools[0]",
            "\"192.0.2.299\" in pool",
        ),
        (
            "pools = [\"192.0.2.100-192.0.2.199\"]",
            "pools = [\"192.0.2.100\"]",
            "subnet4[0].pools[0]",
            "write \"first-last\"",
        ),
        (
            "pools = [\"192.0.2.100-192.0.2.199\"]",
            "pools = [\"2001:db8::1-2001:db8::9\"]",
            "subnet4[0].pools[0]",
            "invalid IPv4",
        ),
        (
            "id = 4",
            "id = 4\nlease_time = -1",
            "subnet4[0].lease_time",
            "infinite",
        ),
    ] {
        let text = MINIMAL4.replacen(from, to, 1);
        let msg = err_text(&text);
        let needle = to.lines().last().unwrap();
        assert!(
            msg.starts_with(&format!("test.toml:{}:", line_with(&text, needle))),
            "{msg}"
        );
        assert!(msg.contains(path), "{msg}");
        assert!(msg.contains(words), "{msg}");
    }
    let text = format!(
        "{MINIMAL4}\n[[subnet4.reservations]]\nhw_address = \"02:00:zz:00:00:01\"\naddress = \"192.0.2.10\"\n"
    );
    let msg = err_text(&text);
    assert!(
        msg.contains("subnet4[0].reservations[0].hw_address"),
        "{msg}"
    );
    assert!(msg.contains("zz"), "{msg}");
    let code = format!("{MINIMAL4}\n[[options4.custom]]\ncode = 256\nhex = \"01\"\n");
    let msg = err_text(&code);
    assert!(msg.contains("options4.custom[0].code"), "{msg}");
}

#[test]
fn core_dhcpv4_problems_map_to_the_file_keys_and_lines() {
    let text = format!(
        r#"{MINIMAL4}
[[subnet4.reservations]]
hw_address = "02:00:00:00:00:01"
address = "192.0.2.150"

[[subnet4]]
id = 1
subnet = "198.51.100.0/24"
lease_time = 1000
t1 = 900
t2 = 800
pools = ["198.51.100.0-198.51.100.50", "203.0.113.1-203.0.113.9"]

[[subnet6]]
id = 1
prefix = "2001:db8:1::/64"
preferred_lifetime = 3000
valid_lifetime = 4000
"#
    );
    let p = problems_of(&text);
    assert_problem_on(
        &text,
        &p,
        "subnet4[0].reservations[0].address",
        "inside a dynamic pool",
        "address = \"192.0.2.150\"",
    );
    // T1/T2 keep their names in [[subnet4]] (they are renew_time/rebind_time in subnet6).
    assert_problem_on(
        &text,
        &p,
        "subnet4[1].t1",
        "T1 900 exceeds T2 800",
        "t1 = 900",
    );
    assert_problem_on(
        &text,
        &p,
        "subnet4[1].pools[0]",
        "network (198.51.100.0)",
        "pools = [\"198.51.100.0",
    );
    assert_problem(
        &p,
        "subnet4[1].pools[1]",
        "not inside subnet 198.51.100.0/24",
    );
    // One id space for both families: a lease carries only the id.
    assert_problem_on(
        &text,
        &p,
        "subnet4[1].id",
        "already used by subnet6[0]",
        "id = 1",
    );
}

#[test]
fn every_dhcpv4_problem_is_listed_at_once() {
    let text = r#"
[server]
interfaces = ["eth0"]
data_dir = "data"
port4 = 0

[options4]
interface_mtu = 20
domain_name = "not a name"

[[options4.custom]]
code = 51
hex = "00000e10"

[[subnet4]]
id = 4
subnet = "192.0.2.0/24"
interface = "eth1"
lease_time = 0
pools = ["192.0.2.199-192.0.2.100"]

[subnet4.options]
routers = ["198.51.100.1"]

[[subnet4.reservations]]
address = "192.0.2.10"

[[subnet4]]
id = 4 # again
subnet = "192.0.2.128/25"
"#;
    let err = load_text(text).unwrap_err();
    let ConfigError::Invalid { problems, .. } = &err else {
        panic!("expected semantic problems, got {err}");
    };
    for (path, words, needle) in [
        ("server.port4", "port 0", "port4 = 0"),
        (
            "options4.interface_mtu",
            "below the smallest MTU, 68",
            "interface_mtu",
        ),
        ("options4.domain_name", "not a domain name", "domain_name"),
        ("options4.custom[0].code", "`lease_time`", "code = 51"),
        (
            "subnet4[0].interface",
            "not in server.interfaces",
            "interface = \"eth1\"",
        ),
        ("subnet4[0].lease_time", "greater than 0", "lease_time = 0"),
        ("subnet4[0].pools[0]", "is after last", "pools = ["),
        (
            "subnet4[0].options.routers[0]",
            "not a host address of subnet4[0]",
            "routers = ",
        ),
        (
            "subnet4[0].reservations[0]",
            "names no client",
            "[[subnet4.reservations]]",
        ),
        (
            "subnet4[1].id",
            "already used by subnet4[0]",
            "id = 4 # again",
        ),
        ("subnet4[1].subnet", "overlaps subnet4[0]", "192.0.2.128/25"),
    ] {
        assert_problem_on(text, problems, path, words, needle);
    }
    let msg = err.to_string();
    assert!(msg.starts_with("test.toml: 11 problems:"), "{msg}");
}

#[test]
fn a_router_outside_its_subnet_is_a_problem_option_3() {
    // Option 3 (RFC 2132 §3.5) names routers on the client's subnet: one it cannot reach
    // directly is no router to it.
    let own = MINIMAL4.replace(
        "routers = [\"192.0.2.1\"]",
        "routers = [\"192.0.2.1\", \"198.51.100.1\"]",
    );
    let p = problems_of(&own);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_problem_on(
        &own,
        &p,
        "subnet4[0].options.routers[1]",
        "198.51.100.1 is not a host address of subnet4[0] (192.0.2.0/24)",
        "routers = ",
    );
    let broadcast = MINIMAL4.replace("routers = [\"192.0.2.1\"]", "routers = [\"192.0.2.255\"]");
    assert_problem(
        &problems_of(&broadcast),
        "subnet4[0].options.routers[0]",
        "not a host address",
    );
    // From [options4]: reported there, naming each subnet that takes it.
    let global = format!(
        "{}\n[[subnet4]]\nid = 5\nsubnet = \"198.51.100.0/24\"\n",
        MINIMAL4
            .replace("\n[subnet4.options]\nrouters = [\"192.0.2.1\"]\n", "")
            .replace("[options4]\n", "[options4]\nrouters = [\"192.0.2.1\"]\n")
    );
    let p = problems_of(&global);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_problem_on(
        &global,
        &p,
        "options4.routers[0]",
        "192.0.2.1 is not a host address of subnet4[1] (198.51.100.0/24), which takes it from [options4]",
        "routers = ",
    );
    // The subnet that overrides them is not bothered.
    let overridden = format!("{global}\n[subnet4.options]\nrouters = [\"198.51.100.1\"]\n");
    assert!(load_text(&overridden).is_ok());
}

#[test]
fn a_static_route_router_outside_the_subnet_and_host_bits_are_problems_rfc3442() {
    let text = format!(
        "{MINIMAL4}static_routes = [\n  {{ destination = \"0.0.0.0/0\", router = \"192.0.2.1\" }},\n  {{ destination = \"203.0.113.7/24\", router = \"10.0.0.1\" }},\n  {{ destination = \"203.0.113.0/24\", router = \"192.0.2.2\" }},\n]\n"
    );
    let p = problems_of(&text);
    assert_problem_on(
        &text,
        &p,
        "subnet4[0].options.static_routes[1].destination",
        "203.0.113.7/24 has host bits set (the network is 203.0.113.0/24)",
        "203.0.113.7/24",
    );
    assert_problem_on(
        &text,
        &p,
        "subnet4[0].options.static_routes[1].router",
        "10.0.0.1 is not a host address of subnet4[0]",
        "203.0.113.7/24",
    );
    assert_problem_on(
        &text,
        &p,
        "subnet4[0].options.static_routes[2].destination",
        "routed twice",
        "router = \"192.0.2.2\"",
    );
    assert_eq!(p.len(), 3, "{p:#?}");
}

#[test]
fn static_routes_without_a_default_route_warn_that_option_3_is_ignored_rfc3442() {
    // RFC 3442: a client that takes option 121 ignores option 3.
    let text = format!(
        "{MINIMAL4}static_routes = [{{ destination = \"203.0.113.0/24\", router = \"192.0.2.254\" }}]\n"
    );
    let cfg = load_text(&text).unwrap();
    assert_eq!(cfg.warnings.len(), 1, "{:?}", cfg.warnings);
    let w = &cfg.warnings[0];
    assert_eq!(w.path, "subnet4[0].options.static_routes");
    assert!(w.message.contains("ignore the routers of option 3"), "{w}");
    assert_eq!(w.line, Some(line_with(&text, "static_routes")));
    let with_default = text.replace(
        "static_routes = [",
        "static_routes = [{ destination = \"0.0.0.0/0\", router = \"192.0.2.1\" }, ",
    );
    assert!(load_text(&with_default).unwrap().warnings.is_empty());
}

#[test]
fn custom_dhcpv4_options_tandem_sets_itself_are_refused_naming_the_key() {
    for (code, key) in [
        (0, "Pad"),
        (255, "End"),
        (1, "`subnet`"),
        (3, "`routers`"),
        (6, "`dns_servers`"),
        (15, "`domain_name`"),
        (26, "`interface_mtu`"),
        (42, "`ntp_servers`"),
        (50, "the client's"),
        (51, "`lease_time`"),
        (52, "Overload"),
        (53, "Message Type"),
        (54, "Server Identifier"),
        (58, "`t1`"),
        (59, "`t2`"),
        (61, "`client_id`"),
        (82, "relay agent"),
        (121, "`static_routes`"),
    ] {
        let text = format!("{MINIMAL4}\n[[subnet4.options.custom]]\ncode = {code}\nhex = \"01\"\n");
        let p = problems_of(&text);
        assert_eq!(p.len(), 1, "code {code}: {p:#?}");
        assert_problem_on(
            &text,
            &p,
            "subnet4[0].options.custom[0].code",
            key,
            &format!("code = {code}"),
        );
        assert!(p[0].message.contains("cannot be a custom option"), "{p:#?}");
    }
    // A code tandem does not set is the operator's (RFC 2132 §2 site-specific 224-254 too).
    for code in [43, 60, 66, 67, 119, 150, 224, 254] {
        let text = format!("{MINIMAL4}\n[[options4.custom]]\ncode = {code}\ntext = \"x\"\n");
        assert!(load_text(&text).is_ok(), "code {code}");
    }
}

#[test]
fn a_dhcpv4_custom_option_is_given_once_per_section_with_one_value_form() {
    let twice = format!(
        "{MINIMAL4}\n[[options4.custom]]\ncode = 66\ntext = \"tftp\"\n[[options4.custom]]\ncode = 66\ntext = \"tftp2\"\n"
    );
    assert_problem(
        &problems_of(&twice),
        "options4.custom[1].code",
        "already given in options4.custom[0]",
    );
    let both = format!("{MINIMAL4}\n[[options4.custom]]\ncode = 66\ntext = \"a\"\nhex = \"01\"\n");
    assert_problem(
        &problems_of(&both),
        "options4.custom[0]",
        "give exactly one",
    );
    let forms = format!(
        "{MINIMAL4}\n[[subnet4.options.custom]]\ncode = 66\ntext = \"tftp\"\n[[subnet4.options.custom]]\ncode = 43\nhex = \"01:02\"\n"
    );
    let cfg = load_text(&forms).unwrap();
    assert_eq!(
        cfg.core.subnets4[0].options.other,
        vec![(66, b"tftp".to_vec()), (43, vec![1, 2])]
    );
    // The same code in [options4] and a subnet: the subnet's wins (merged_over).
    let both_levels = format!("{forms}\n[[options4.custom]]\ncode = 66\ntext = \"global\"\n");
    assert!(load_text(&both_levels).is_ok());
}

#[test]
fn dhcpv4_option_values_are_checked() {
    for (line, path, words) in [
        (
            "dns_servers = [\"0.0.0.0\"]",
            "options4.dns_servers[0]",
            "not a unicast address",
        ),
        (
            "ntp_servers = [\"224.0.1.1\"]",
            "options4.ntp_servers[0]",
            "not a unicast address",
        ),
        (
            "interface_mtu = 67",
            "options4.interface_mtu",
            "RFC 2132 §5.1",
        ),
    ] {
        let text = MINIMAL4.replace("dns_servers = [\"192.0.2.53\"]", line);
        assert_problem_on(&text, &problems_of(&text), path, words, line);
    }
    let too_long = "x.".repeat(128); // 255 characters without the final dot
    for bad in ["", "a..b", "has space.example", &"x".repeat(64), &too_long] {
        let text = MINIMAL4.replace("\"example.org\"", &format!("{bad:?}"));
        assert_problem(
            &problems_of(&text),
            "options4.domain_name",
            "not a domain name",
        );
    }
    for good in [
        "example.org",
        "example.org.",
        "lab-1.example.org",
        "_site.example",
    ] {
        let text = MINIMAL4.replace("\"example.org\"", &format!("{good:?}"));
        assert!(load_text(&text).is_ok(), "{good}");
    }
}

/// MINIMAL4 as a member of a DHCPv4 (draft-12) pair with `keys` in `[failover]`.
fn pair4(keys: &str) -> String {
    format!("{MINIMAL4}\n[failover]\n{keys}\n[failover.tls]\ninsecure = true\n")
}

const PRIMARY4_KEYS: &str = "role = \"primary\"\npeer_address = \"203.0.113.2\"";

#[test]
fn subnet4_with_failover_runs_draft12_as_isc_dhcpd_does() {
    // draft-ietf-dhc-failover-12 §6.1 port 647 on both sides; split 128 (RFC 3074 §5:
    // half the buckets each) when the primary gives none; the link without TLS is noted.
    let cfg = load_text(&pair4(PRIMARY4_KEYS)).unwrap();
    let f = cfg.failover.clone().unwrap();
    assert_eq!(f.protocol, Protocol::Draft12);
    assert_eq!(f.peer, "203.0.113.2:647".parse::<SocketAddr>().unwrap());
    assert_eq!(f.local, "0.0.0.0:647".parse::<SocketAddr>().unwrap());
    let pc = cfg.pair_config().unwrap();
    assert_eq!(pc.endpoint.protocol, Protocol::Draft12);
    assert_eq!(pc.endpoint.local.hba, Some(Hba::split(128)));
    assert_problem(&cfg.warnings, "failover.tls.insecure", "ISC dhcpd");
    // A v6 pair stays RFC 8156 and sends no HBA.
    let v6 = load_text(&with_failover(PRIMARY_KEYS, INSECURE)).unwrap();
    assert_eq!(
        v6.pair_config().unwrap().endpoint.protocol,
        Protocol::Rfc8156
    );
    assert_eq!(v6.pair_config().unwrap().endpoint.local.hba, None);
}

#[test]
fn dhcpd_peer_block_keys_reach_the_v4_pair() {
    // dhcpd.conf(5) `port`/`peer port` are separate; `split`/`hba` the primary's.
    let keys = "role = \"primary\"\npeer_address = \"203.0.113.2\"\nlisten_address = \"203.0.113.1\"\nport = 519\npeer_port = 520\nsplit = 255\nkeepalive = 10";
    let cfg = load_text(&pair4(keys)).unwrap();
    let f = cfg.failover.as_ref().unwrap();
    assert_eq!(f.local, "203.0.113.1:519".parse::<SocketAddr>().unwrap());
    assert_eq!(f.peer, "203.0.113.2:520".parse::<SocketAddr>().unwrap());
    let pc = cfg.pair_config().unwrap();
    assert_eq!(pc.endpoint.local.hba, Some(Hba::split(255)));
    assert_eq!(pc.endpoint.local.keepalive, 10);
    let hba = format!("{}{}", "ff:".repeat(8), "00:".repeat(23) + "01");
    let cfg = load_text(&pair4(&format!("{PRIMARY4_KEYS}\nhba = \"{hba}\""))).unwrap();
    let mut want = [0u8; 32];
    want[..8].fill(0xff);
    want[31] = 1;
    assert_eq!(
        cfg.pair_config().unwrap().endpoint.local.hba,
        Some(Hba(want))
    );
    // The secondary adopts the primary's assignment from CONNECT: it sends none.
    let sec = load_text(&pair4(
        "role = \"secondary\"\npeer_address = \"203.0.113.1\"",
    ))
    .unwrap();
    assert_eq!(sec.pair_config().unwrap().endpoint.local.hba, None);
}

#[test]
fn v4_pair_keys_are_checked_and_v6_only_keys_noted() {
    let p = problems_of(&pair4(&format!(
        "{PRIMARY4_KEYS}\nsplit = 257\npeer_port = 0"
    )));
    assert_problem(&p, "failover.split", "0 to 256");
    assert_problem(&p, "failover.peer_port", "port 0");
    let p = problems_of(&pair4(&format!("{PRIMARY4_KEYS}\nsplit = 1\nhba = \"ff\"")));
    assert_problem(&p, "failover.split", "not both");
    assert_problem(&p, "failover.hba", "exactly 32 bytes");
    let short = MINIMAL4.replace("pools = [", "lease_time = 20\npools = [");
    let p = problems_of(&format!(
        "{short}\n[failover]\n{PRIMARY4_KEYS}\n[failover.tls]\ninsecure = true\n"
    ));
    assert_problem(&p, "subnet4[0].lease_time", "below 30 s");
    let sec = load_text(&pair4("role = \"secondary\"\npeer_address = \"203.0.113.1\"\nsplit = 64\nsecondary_prefix_share = 40")).unwrap();
    assert_problem(&sec.warnings, "failover.split", "only the primary's");
    assert_problem(
        &sec.warnings,
        "failover.secondary_prefix_share",
        "DHCPv6 prefix pools only",
    );
    // draft-12's keys on an RFC 8156 pair are mistakes.
    let p = problems_of(&with_failover(
        &format!("{PRIMARY_KEYS}\nsplit = 128\npeer_port = 648"),
        INSECURE,
    ));
    assert_problem(&p, "failover.split", "only for a DHCPv4 pair");
    assert_problem(&p, "failover.peer_port", "only for a DHCPv4 pair");
}

#[test]
fn a_pair_serves_one_family() {
    let text = format!(
        "{}\n[[subnet4]]\nid = 4\nsubnet = \"192.0.2.0/24\"\npools = [\"192.0.2.100-192.0.2.199\"]\n",
        with_failover(PRIMARY_KEYS, INSECURE)
    );
    let p = problems_of(&text);
    assert_problem(&p, "failover", "a pair serves one family");
    // [options4] alone configures nothing to hand out: the v6 pair is fine.
    let options_only = format!(
        "{}\n[options4]\ndns_servers = [\"192.0.2.53\"]\n",
        with_failover(PRIMARY_KEYS, INSECURE)
    );
    assert!(load_text(&options_only).is_ok());
}

#[test]
fn a_dhcpv4_subnet_interface_must_be_served_and_shared_only_by_a_shared_network() {
    let missing = MINIMAL4.replace("interface = \"eth0\"", "interface = \"eth1\"");
    assert_problem_on(
        &missing,
        &problems_of(&missing),
        "subnet4[0].interface",
        "not in server.interfaces",
        "interface = \"eth1\"",
    );
    let second = format!(
        "{MINIMAL4}\n[[subnet4]]\nid = 5\nsubnet = \"198.51.100.0/24\"\ninterface = \"eth0\"\n"
    );
    assert_problem(
        &problems_of(&second),
        "subnet4[1].interface",
        "give both the same shared_network",
    );
    let shared = second
        .replace(
            "interface = \"eth0\"\npools",
            "interface = \"eth0\"\nshared_network = \"campus\"\npools",
        )
        .replace(
            "subnet = \"198.51.100.0/24\"\n",
            "subnet = \"198.51.100.0/24\"\nshared_network = \"campus\"\n",
        );
    let cfg = load_text(&shared).unwrap_or_else(|e| panic!("{e}"));
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
    assert_eq!(
        cfg.core.subnets4[1].shared_network.as_deref(),
        Some("campus")
    );
    // A shared network of one subnet is likely a misspelt name.
    let lonely = MINIMAL4.replace(
        "interface = \"eth0\"\n",
        "interface = \"eth0\"\nshared_network = \"campus\"\n",
    );
    let cfg = load_text(&lonely).unwrap();
    assert_eq!(cfg.warnings.len(), 1, "{:?}", cfg.warnings);
    assert_eq!(cfg.warnings[0].path, "subnet4[0].shared_network");
    let blank = MINIMAL4.replace(
        "interface = \"eth0\"\n",
        "interface = \"eth0\"\nshared_network = \" \"\n",
    );
    assert_problem(
        &problems_of(&blank),
        "subnet4[0].shared_network",
        "not a usable",
    );
}

#[test]
fn dhcpv4_pool_names_must_be_unique_in_a_subnet() {
    let text = MINIMAL4.replace(
        "pools = [\"192.0.2.100-192.0.2.199\"]",
        "pools = [{ name = \"a\", first = \"192.0.2.100\", last = \"192.0.2.149\" }, { name = \"a\", first = \"192.0.2.150\", last = \"192.0.2.199\" }]",
    );
    assert_problem(
        &problems_of(&text),
        "subnet4[0].pools[1].name",
        "used twice",
    );
    let form = MINIMAL4.replace(
        "pools = [\"192.0.2.100-192.0.2.199\"]",
        "pools = [{ first = \"192.0.2.100\" }]",
    );
    assert_problem(
        &problems_of(&form),
        "subnet4[0].pools[0]",
        "a pool is either",
    );
}

#[test]
fn dhcpv4_reservations_need_a_client_and_at_most_255_octets_of_client_id() {
    let long = format!(
        "{MINIMAL4}\n[[subnet4.reservations]]\nclient_id = \"{}\"\naddress = \"192.0.2.10\"\n",
        "01".repeat(256)
    );
    assert_problem(
        &problems_of(&long),
        "subnet4[0].reservations[0].client_id",
        "at most 255 octets",
    );
    let twice = format!(
        "{MINIMAL4}\n[[subnet4.reservations]]\nhw_address = \"02:00:00:00:00:01\"\naddress = \"192.0.2.10\"\n[[subnet4.reservations]]\nhw_address = \"02-00-00-00-00-01\"\naddress = \"192.0.2.11\"\n"
    );
    assert_problem(
        &problems_of(&twice),
        "subnet4[0].reservations[1].hw_address",
        "already reserved",
    );
}

#[test]
fn summary_counts_dhcpv4_subnets_pools_and_reservations() {
    let cfg = load_text(MINIMAL4).unwrap();
    assert_eq!(
        cfg.summary(),
        "DHCPv4: 1 subnet, 1 address pool, 0 reservations; 1 interface"
    );
    let dual = load_example("dual-stack.toml", Path::new("/etc/tandem")).unwrap();
    assert_eq!(
        dual.summary(),
        "DHCPv6: 1 subnet, 1 address pool, 1 prefix pool, 1 reservation; DHCPv4: 1 subnet, 1 address pool, 1 reservation; 1 interface"
    );
    // Without DHCPv4 the line is what it always was.
    assert_eq!(
        load_text(MINIMAL).unwrap().summary(),
        "1 subnet, 1 address pool, 0 prefix pools, 0 reservations, 1 interface"
    );
}

#[test]
fn a_dhcpv6_pool_may_be_a_range_string_too() {
    let text = MINIMAL.replace(
        r#"pools = [{ first = "2001:db8:1::1000", last = "2001:db8:1::1fff" }]"#,
        r#"pools = ["2001:db8:1::1000 - 2001:db8:1::1fff"]"#,
    );
    let cfg = load_text(&text).unwrap();
    assert_eq!(cfg.core.subnets, load_text(MINIMAL).unwrap().core.subnets);
}

// ---------------------------------------------------------------- the examples

#[test]
fn every_example_passes_check_config() {
    // Every file in examples/, so a new one is covered without a new test, checked as
    // `check-config --off-host` does. The pair examples name TLS files under pki/: a
    // real test PKI there (scripts/make-test-ca.sh), so the host checks pass too.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let pki = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/make-test-ca.sh");
    let out = std::process::Command::new("bash")
        .arg(script)
        .arg(pki.path().join("pki"))
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    for want in ["dhcp4.toml", "dual-stack.toml", "relay.toml", "tandem.toml"] {
        assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
    }
    for name in &names {
        let cfg = load_example(name, pki.path()).unwrap_or_else(|e| panic!("{name}: {e}"));
        // A dhcpd partner needs the plain-TCP link (dhcpd has no TLS): that example's one
        // warning is the loud one it must give; any other warning still fails.
        let unexpected: Vec<_> = cfg
            .warnings
            .iter()
            .filter(|w| {
                !(name.contains("dhcpd") && w.to_string().contains("failover.tls.insecure"))
            })
            .collect();
        assert!(unexpected.is_empty(), "{name}: {unexpected:?}");
        let host = check_host(&cfg, true);
        assert!(host.errors.is_empty(), "{name}: {:?}", host.errors);
    }
}

#[test]
fn the_dhcp4_example_maps_onto_the_core_model() {
    let cfg = load_example("dhcp4.toml", Path::new("/etc/tandem")).unwrap();
    let core = &cfg.core;
    assert!(core.subnets.is_empty(), "DHCPv4 only");
    assert!(cfg.failover.is_none());
    let ids: Vec<u32> = core.subnets4.iter().map(|s| s.id).collect();
    assert_eq!(ids, vec![100, 101, 102, 103]);
    let direct = &core.subnets4[0];
    assert_eq!(direct.interface.as_deref(), Some("tandem-srv0"));
    assert!(direct.reservations.iter().any(|r| r.hw_address.is_some()));
    assert!(direct.reservations.iter().any(|r| r.client_id.is_some()));
    assert!(!direct.options.classless_routes.is_empty());
    assert_eq!(core.subnets4[1].interface, None, "relayed");
    let shared: Vec<_> = core.subnets4[2..]
        .iter()
        .map(|s| (s.interface.as_deref(), s.shared_network.as_deref()))
        .collect();
    assert_eq!(shared, vec![(None, Some("campus")), (None, Some("campus"))]);
    assert!(!core.options4.dns_servers.is_empty());
    assert_eq!(core.options4.other.len(), 1);
    assert_eq!(
        (cfg.port4, cfg.listen_address4),
        (67, Ipv4Addr::UNSPECIFIED)
    );
}

#[test]
fn the_dual_stack_example_serves_both_families_on_one_link() {
    let cfg = load_example("dual-stack.toml", Path::new("/etc/tandem")).unwrap();
    let core = &cfg.core;
    assert_eq!(core.subnets.len(), 1);
    assert_eq!(core.subnets4.len(), 1);
    assert_eq!(core.subnets[0].interface, core.subnets4[0].interface);
    assert_ne!(core.subnets[0].id, core.subnets4[0].id);
}

/// Every DHCPv4 key, as the file spells it.
const DHCPV4_KEYS: &[&str] = &[
    "port4",
    "listen_address4",
    "[options4]",
    "routers",
    "dns_servers",
    "domain_name",
    "ntp_servers",
    "interface_mtu",
    "static_routes",
    "destination",
    "router",
    "[[options4.custom]]",
    "code",
    "hex",
    "text",
    "addresses",
    "[[subnet4]]",
    "id",
    "subnet",
    "interface",
    "shared_network",
    "lease_time",
    "t1",
    "t2",
    "pools",
    "name",
    "first",
    "last",
    "prefix",
    "[subnet4.options]",
    "[[subnet4.reservations]]",
    "hw_address",
    "client_id",
    "address",
];

#[test]
fn tandem_toml_documents_the_dhcpv4_keys_and_its_commented_dhcpv4_lines_load() {
    let text = example_text("tandem.toml");
    for key in DHCPV4_KEYS {
        assert!(
            text.contains(key),
            "examples/tandem.toml does not mention {key}"
        );
        assert!(
            example_text("dhcp4.toml").contains(key),
            "examples/dhcp4.toml does not mention {key}"
        );
    }
    // The commented DHCPv4 block, uncommented, is a valid dual-stack configuration.
    let start = text
        .lines()
        .position(|l| l.starts_with("# DHCPv4 (RFC 2131)"))
        .unwrap();
    let end = text
        .lines()
        .position(|l| l.starts_with("# Prometheus metrics"))
        .unwrap();
    // Code lines are "# [section]" alone on the line, or "# key = value"; prose is not.
    let is_toml = |l: &str| {
        l.strip_prefix("# ")
            .is_some_and(|r| r.starts_with('[') && r.ends_with(']') && !r.contains(' '))
            || l.strip_prefix("# ").is_some_and(|r| {
                r.split_once(" = ").is_some_and(|(k, _)| {
                    k.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                })
            })
    };
    let uncommented: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if (start..end).contains(&i) && is_toml(l) {
                l["# ".len()..].to_string()
            } else {
                l.to_string()
            }
        })
        .collect();
    let uncommented = uncommented.join("\n");
    assert_ne!(uncommented, text);
    let cfg = load_str(&uncommented, "tandem.toml", Path::new("/etc/tandem"))
        .unwrap_or_else(|e| panic!("{e}\n{uncommented}"));
    assert_eq!(cfg.core.subnets4.len(), 1);
    assert!(!cfg.core.options4.dns_servers.is_empty());
    assert_eq!(cfg.core.subnets4[0].reservations.len(), 1);
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
}

// ---------------------------------------------------------------- DHCPv4 ping_check

/// Two `[[subnet4]]`: `{first}` goes into the first's keys, `{server}` into `[server]`.
fn ping_config(server: &str, first: &str) -> String {
    format!(
        r#"
[server]
interfaces = ["eth0"]
data_dir = "data"
{server}

[[subnet4]]
id = 4
subnet = "192.0.2.0/24"
interface = "eth0"
pools = ["192.0.2.100-192.0.2.199"]
{first}

[[subnet4]]
id = 5
subnet = "198.51.100.0/24"
pools = ["198.51.100.10-198.51.100.20"]
"#
    )
}

#[test]
fn ping_check_is_off_by_default_with_dhcpds_one_second_timeout() {
    let cfg = load_text(&ping_config("", "")).unwrap_or_else(|e| panic!("{e}"));
    for s in &cfg.core.subnets4 {
        assert_eq!((s.ping_check, s.ping_timeout_ms), (false, 1000));
    }
}

#[test]
fn a_subnet_takes_ping_check_from_server_unless_it_says_otherwise() {
    let text = ping_config(
        "ping_check = true\nping_timeout_ms = 300",
        "ping_check = false\nping_timeout_ms = 50",
    );
    let cfg = load_text(&text).unwrap_or_else(|e| panic!("{e}"));
    let got: Vec<(bool, u32)> = cfg
        .core
        .subnets4
        .iter()
        .map(|s| (s.ping_check, s.ping_timeout_ms))
        .collect();
    assert_eq!(got, vec![(false, 50), (true, 300)]);
}

#[test]
fn ping_timeout_ms_out_of_1_to_10000_is_refused_at_its_key_and_line() {
    let text = ping_config("", "ping_check = true\nping_timeout_ms = 0");
    let problems = problems_of(&text);
    assert_problem_on(
        &text,
        &problems,
        "subnet4[0].ping_timeout_ms",
        "give 1 to 10000",
        "ping_timeout_ms = 0",
    );
    let text = ping_config("ping_timeout_ms = 10001", "");
    let problems = problems_of(&text);
    assert_problem_on(
        &text,
        &problems,
        "server.ping_timeout_ms",
        "give 1 to 10000",
        "ping_timeout_ms = 10001",
    );
    // Told once, at the server: the subnets inheriting it are not reported too.
    assert_eq!(problems.len(), 1, "{problems:#?}");
    for edge in ["1", "10000"] {
        let text = ping_config(&format!("ping_timeout_ms = {edge}"), "");
        load_text(&text).unwrap_or_else(|e| panic!("{edge}: {e}"));
    }
}
