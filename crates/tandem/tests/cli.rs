//! The `tandem` command as an operator runs it: exit codes and what it prints.

use std::path::Path;
use std::process::Command;

fn tandem() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tandem"))
}

fn example() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/tandem.toml")
}

#[test]
fn check_config_accepts_the_shipped_example() {
    // The example names interface tandem-srv0, which this host does not have.
    let out = tandem()
        .arg("check-config")
        .arg("--off-host")
        .arg(example())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("configuration OK: 1 subnet,"),
        "{stdout}"
    );
}

#[test]
fn check_config_accepts_the_dhcpv4_example_and_counts_its_subnets() {
    let out = tandem()
        .arg("check-config")
        .arg("--off-host")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/dhcp4.toml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with(
            "configuration OK: DHCPv4: 4 subnets (1 shared network), 5 address pools, 2 reservations;"
        ),
        "{stdout}"
    );
}

#[test]
fn check_config_lists_every_problem_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        r#"[server]
interfaces = ["eth0"]
data_dir = "d"

[[subnet6]]
id = 1
prefix = "2001:db8:1::/64"
interface = "eth1"
preferred_lifetime = 3000
valid_lifetime = 4000
pools = [{ first = "2001:db8:1::9", last = "2001:db8:1::1" }]
"#,
    )
    .unwrap();
    let out = tandem().arg("check-config").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(":8: subnet6[0].interface"), "{stderr}");
    assert!(stderr.contains(":11: subnet6[0].pools[0]"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn check_config_on_a_missing_file_names_it() {
    let out = tandem()
        .args(["check-config", "/nonexistent/tandem.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/tandem.toml"), "{stderr}");
}

#[test]
fn help_lists_the_subcommands() {
    let out = tandem().arg("--help").output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("serve") && stdout.contains("check-config"),
        "{stdout}"
    );
}

#[test]
fn check_config_refuses_an_interface_this_host_does_not_have_unless_off_host() {
    let out = tandem()
        .arg("check-config")
        .arg(example())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "server.interfaces[0]: interface \"tandem-srv0\" does not exist on this host"
        ),
        "{stderr}"
    );
    let out = tandem()
        .args(["check-config", "--off-host"])
        .arg(example())
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: ") && stderr.contains("tandem-srv0"),
        "{stderr}"
    );
}

#[test]
fn serve_with_journald_where_there_is_no_journal_fails_clearly() {
    if std::path::Path::new("/run/systemd/journal/socket").exists() {
        return; // this host has a journal: nothing to show
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.toml");
    std::fs::write(
        &path,
        "[server]\ninterfaces = []\nlisten_address = \"::1\"\nport = 15470\ndata_dir = \"d\"\nlog_target = \"journald\"\n",
    )
    .unwrap();
    let out = tandem()
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("log_target = \"journald\" but the systemd journal is not reachable"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("d").exists(),
        "refused before touching the data directory"
    );
}
