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
    let msg = err_text(&format!("{MINIMAL}\n[failover]\npeer = \"x\"\n"));
    assert!(msg.contains("failover"), "{msg}");
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
