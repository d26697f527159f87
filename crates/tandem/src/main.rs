//! `tandem`: the DHCPv6 and DHCPv4 server command.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// tandem: a DHCPv6 (RFC 8415) and DHCPv4 (RFC 2131) server that keeps every lease it
/// acknowledges on disk, alone or, for DHCPv6, as one of a failover pair (RFC 8156,
/// `[failover]` in the configuration).
#[derive(Debug, Parser)]
#[command(name = "tandem", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server until SIGTERM or SIGINT, then finish pending commits and exit 0.
    /// SIGHUP reloads the configuration file (as `tandem ctl reload`) and never stops it.
    ///
    /// One data_dir belongs to one process: if another tandem process holds it
    /// (<data_dir>/tandem.lock), exits 1 naming its pid, before binding anything.
    ///
    /// Logs go to stderr as text or JSON lines (server.log_format), or to journald
    /// (server.log_target); RUST_LOG (e.g. RUST_LOG=debug) overrides server.log_level.
    /// Every lease event is one line with target tandem::lease (docs/logging.md).
    Serve {
        /// The configuration file (TOML; see examples/tandem.toml).
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Check a configuration file without running anything.
    ///
    /// Prints "configuration OK: ..." and exits 0, or lists every problem found
    /// (with file, line and key path) on stderr and exits 1. Notes on stderr (still
    /// exit 0) when a running tandem process holds the configured data_dir.
    ///
    /// Also checks the file against this host: every interface in server.interfaces
    /// exists (an error; a warning with --off-host), and the [failover.tls] files parse,
    /// the key is the certificate's and the certificate chains to the CA.
    ///
    /// DHCPv4 is configured in the same file and checked the same way: [[subnet4]]
    /// (id, subnet, interface, shared_network, pools, lease_time, t1, t2, options,
    /// reservations by hw_address or client_id), [options4] (routers, dns_servers,
    /// domain_name, ntp_servers, interface_mtu, static_routes, custom) and
    /// server.port4 / server.listen_address4 (default 67 and 0.0.0.0); see
    /// examples/dhcp4.toml. [failover] together with [[subnet4]] is a DHCPv4 pair
    /// (draft-ietf-dhc-failover-12, as ISC dhcpd 4.4 speaks it; examples/pair4-with-dhcpd.toml):
    /// a pair serves one family.
    CheckConfig {
        /// The configuration file to check.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The partner's configuration file: also check that the two make a pair (roles,
        /// relationship, addresses, TLS on both and each accepting the other's
        /// certificate, MCLT, options, lifetimes, and pools matched by name); every
        /// difference names the pool, subnet or option and gives both values. The
        /// partner's interfaces are not looked for here (they are on its host).
        #[arg(long, value_name = "FILE")]
        partner: Option<PathBuf>,
        /// The file is meant for another machine: interfaces missing here are warnings.
        #[arg(long)]
        off_host: bool,
    },
    /// Control a running server: status, leases, partner-down, reload.
    ///
    /// Talks HTTP/JSON to the server's control socket (<data_dir>/tandem.ctl, owner only);
    /// every command and its JSON: docs/control-api.md. Exits 1 with the server's error
    /// when a request is refused.
    Ctl {
        /// Find the socket from the server's configuration file.
        #[arg(short, long, value_name = "FILE", conflicts_with = "socket")]
        config: Option<PathBuf>,
        /// The control socket itself.
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
        /// Print the answer as JSON.
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        action: CtlAction,
    },
    /// Back up or restore the lease database (see docs/operations.md).
    Leases {
        #[command(subcommand)]
        action: DatabaseAction,
    },
    /// Move from ISC dhcpd 4.4: translate dhcpd.conf, import dhcpd.leases.
    ///
    /// The steps of a migration without downtime, replacing one member of a dhcpd
    /// failover pair at a time: docs/migrating-from-dhcpd.md.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Write the manual pages (tandem.8 and one per subcommand) into DIR.
    #[command(hide = true)]
    GenerateMan {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

/// Where `tandem leases` and the packaged unit look for the configuration.
const DEFAULT_CONFIG: &str = "/etc/tandem/tandem.toml";

#[derive(Debug, Subcommand)]
enum DatabaseAction {
    /// Copy the lease database to FILE, consistently, while the server runs.
    ///
    /// Uses SQLite's online backup API: FILE holds every lease the server had
    /// acknowledged when the backup began, as of one commit, and is written beside its
    /// name and renamed into place only once complete and checked. Safe to run from
    /// cron at any time; the server keeps serving.
    Backup {
        /// The backup file to write (replaced if it exists).
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The server's configuration file (gives the data_dir).
        #[arg(short, long, value_name = "FILE", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Replace the lease database with a backup; only while the server is stopped.
    ///
    /// Refused (naming its pid) while a tandem process holds the data_dir. Checks FILE
    /// (SQLite integrity, a schema version this tandem understands) before touching
    /// anything, keeps the replaced database as leases.db.before-restore, and clears the
    /// stored failover state: a restored pair member starts in RECOVER and takes every
    /// binding from its partner before it serves again (RFC 8156 §8.5).
    Restore {
        /// The backup file to restore.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The server's configuration file (gives the data_dir).
        #[arg(short, long, value_name = "FILE", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum MigrateAction {
    /// Import an ISC dhcpd lease file into the lease database; only while tandem is
    /// stopped.
    ///
    /// Reads FILE as dhcpd does, as a journal: the last `lease A.B.C.D { }` record of
    /// each address is the lease. Active leases stay ACTIVE until their `ends` (one
    /// already past is imported as EXPIRED, with a warning), expired, released and
    /// abandoned ones keep their state for tandem's affinity_time / decline_quarantine
    /// from now; free, backup and reset addresses are records only in a pair
    /// ([failover]), and then tstp, tsfp and atsfp carry over too. Addresses outside
    /// every [[subnet4]] of the configuration are skipped; the report lists every
    /// skipped record with its reason and what tandem's lease model has no place for.
    ///
    /// Writes every lease in one transaction, holding the data directory's lock: refused
    /// (naming its pid) while a tandem process holds the data_dir. Idempotent: a lease
    /// already stored as the file says is left alone. Clears the stored failover state,
    /// so a pair member starts in RECOVER. Exits 1 with line:column on a syntax error.
    DhcpdLeases {
        /// The dhcpd lease file (e.g. /var/lib/dhcp/dhcpd.leases).
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// tandem's configuration file (gives the data_dir and the subnets).
        #[arg(short, long, value_name = "FILE", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Read and report only; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Take this time (seconds since 1970) as now, for what has lapsed.
        #[arg(long, value_name = "UNIX")]
        now: Option<u64>,
    },
    /// Translate a dhcpd.conf into tandem's TOML configuration.
    ///
    /// Translates subnets (ranges, pools, options, default-lease-time), shared-network,
    /// the global options, host declarations with a fixed-address (reservations) and the
    /// `failover peer` block ([failover], plain TCP: [failover.tls] insecure = true, as
    /// dhcpd has no TLS). Everything else (classes, if, on events, ddns-*, allow/deny,
    /// unknown options ...) is listed on stderr with its line. Every [[subnet4]] gets
    /// interface = "CHANGE-ME-n", to be replaced by the interface its clients are on.
    /// Exits 1 with line:column on a syntax error.
    DhcpdConf {
        /// The dhcpd.conf to translate.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Write the TOML here instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum CtlAction {
    /// Own state, partner state, time in state, unacknowledged updates, pool balance.
    Status,
    /// Look up, list, add, delete, export and import leases.
    #[command(subcommand)]
    Leases(LeasesAction),
    /// Declare the partner down (RFC 8156 §8.8.2): allowed from NORMAL,
    /// COMMUNICATIONS-INTERRUPTED and RESOLUTION-INTERRUPTED. Only when the partner is
    /// really down: if both servers are in PARTNER-DOWN, one address or prefix can be
    /// given to two clients.
    PartnerDown,
    /// Re-read the configuration file the server was started with (as SIGHUP does),
    /// check it as check-config does and apply it live: options, lifetimes, new subnets
    /// and pools, reservations, log level. Refused, with the running configuration kept,
    /// when it does not load or changes what needs a restart (the sockets: server.port,
    /// listen_address, port4, listen_address4, interfaces; data_dir, server_duid,
    /// pool_warn_percent, pool_critical_percent, [control], [metrics], [failover]).
    Reload,
}

#[derive(Debug, Subcommand)]
enum LeasesAction {
    /// The record of one address or prefix, or every record of a client (--duid).
    Get {
        /// An address (2001:db8::1) or a delegated prefix (2001:db8:100::/56).
        #[arg(required_unless_present = "duid", conflicts_with = "duid")]
        resource: Option<String>,
        #[arg(long, value_name = "DUID")]
        duid: Option<String>,
    },
    /// One page of lease records in address order, filtered.
    List {
        /// Records per page, 1 to 1000 (default 100).
        #[arg(long)]
        limit: Option<usize>,
        /// Start after this address or prefix (the "next" of the previous page).
        #[arg(long)]
        after: Option<String>,
        /// Only this subnet id.
        #[arg(long)]
        subnet: Option<u32>,
        /// Only this state (active, expired, released, free, free-backup, abandoned ...).
        #[arg(long)]
        state: Option<String>,
        /// Only this client.
        #[arg(long)]
        duid: Option<String>,
        /// Fetch every page.
        #[arg(long)]
        all: bool,
    },
    /// Add a lease (or update the client's own), stored before the answer; a pair member
    /// sends it to its partner.
    Add {
        /// An address in a pool or reserved for the DUID, or a delegated prefix of a pool.
        resource: String,
        #[arg(long, value_name = "DUID")]
        duid: String,
        #[arg(long, default_value_t = 0)]
        iaid: u32,
        /// Subnet id (checked against where the address lies).
        #[arg(long)]
        subnet: Option<u32>,
        /// Valid lifetime in seconds (default: the subnet's; 4294967295 = infinite).
        #[arg(long)]
        valid: Option<u32>,
        /// Preferred lifetime in seconds (default: the subnet's).
        #[arg(long)]
        preferred: Option<u32>,
    },
    /// Take a lease back: removed by a server alone; released by a pair member so that
    /// its partner releases it too.
    Delete {
        /// The address or prefix.
        resource: String,
    },
    /// Every record, as JSON (the import format) or CSV.
    Export {
        #[arg(long, default_value = "json", value_parser = ["json", "csv"])]
        format: String,
        /// Write to this file instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Add the ACTIVE leases of a JSON export (all or nothing).
    Import {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

fn ctl_command(action: CtlAction) -> tandem::ctl::Command {
    use tandem::ctl::Command as C;
    match action {
        CtlAction::Status => C::Status,
        CtlAction::PartnerDown => C::PartnerDown,
        CtlAction::Reload => C::Reload,
        CtlAction::Leases(l) => match l {
            LeasesAction::Get { duid: Some(d), .. } => C::GetDuid(d),
            LeasesAction::Get { resource, .. } => C::Get(resource.unwrap_or_default()),
            LeasesAction::List {
                limit,
                after,
                subnet,
                state,
                duid,
                all,
            } => C::List {
                limit,
                after,
                subnet,
                state,
                duid,
                all,
            },
            LeasesAction::Add {
                resource,
                duid,
                iaid,
                subnet,
                valid,
                preferred,
            } => {
                let mut spec = tandem_server::api::model::LeaseJson {
                    duid,
                    iaid,
                    subnet_id: subnet,
                    valid_lifetime: valid,
                    preferred_lifetime: preferred,
                    ..Default::default()
                };
                if resource.contains('/') {
                    spec.prefix = resource.parse().ok();
                } else {
                    spec.address = resource.parse().ok();
                }
                C::Add(spec)
            }
            LeasesAction::Delete { resource } => C::Delete(resource),
            LeasesAction::Export { format, output } => C::Export { format, output },
            LeasesAction::Import { file } => C::Import(file),
        },
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Leases { action } => {
            let (file, config, restore) = match action {
                DatabaseAction::Backup { file, config } => (file, config, false),
                DatabaseAction::Restore { file, config } => (file, config, true),
            };
            let cfg = match tandem::config::load(&config) {
                Ok(cfg) => cfg,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            let done = if restore {
                tandem::leases_cmd::restore(&cfg.data_dir, &file)
            } else {
                tandem::leases_cmd::backup(&cfg.data_dir, &file)
            };
            match done {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    let what = if restore { "restore" } else { "backup" };
                    eprintln!("tandem leases {what}: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Migrate { action } => {
            let done = match action {
                MigrateAction::DhcpdLeases {
                    file,
                    config,
                    dry_run,
                    now,
                } => tandem::migrate::dhcpd_leases(&config, &file, dry_run, now),
                MigrateAction::DhcpdConf { file, output } => {
                    tandem::migrate::dhcpd_conf(&file, output.as_deref())
                }
            };
            match done {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("tandem migrate: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::GenerateMan { dir } => {
            use clap::CommandFactory;
            match tandem::man::generate(Cli::command(), &dir) {
                Ok(files) => {
                    for f in files {
                        println!("{}", f.display());
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!(
                        "tandem generate-man: cannot write into {}: {e}",
                        dir.display()
                    );
                    ExitCode::FAILURE
                }
            }
        }
        Command::Ctl {
            config,
            socket,
            json,
            action,
        } => {
            let socket = match (socket, config) {
                (Some(s), _) => s,
                (None, Some(c)) => match tandem::config::load(&c) {
                    Ok(cfg) => tandem::ctl::socket_path(&cfg.data_dir),
                    Err(e) => {
                        eprintln!("{e}");
                        return ExitCode::FAILURE;
                    }
                },
                (None, None) => {
                    eprintln!("tandem ctl: give --config FILE or --socket PATH");
                    return ExitCode::from(2);
                }
            };
            let command = ctl_command(action);
            if let tandem::ctl::Command::Add(spec) = &command {
                if spec.address.is_none() && spec.prefix.is_none() {
                    eprintln!("tandem ctl: not an IPv6 address or prefix");
                    return ExitCode::from(2);
                }
            }
            match tandem::ctl::run(&socket, &command, json) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("tandem ctl: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::CheckConfig {
            file,
            partner,
            off_host,
        } => {
            let cfg = match tandem::config::load(&file) {
                Ok(cfg) => cfg,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            let host = tandem::config::check_host(&cfg, off_host);
            for w in cfg.warnings.iter().chain(&host.warnings) {
                eprintln!("warning: {w}");
            }
            if !host.errors.is_empty() {
                for p in &host.errors {
                    eprintln!("{p}");
                }
                eprintln!(
                    "{} problem(s) on this host{}",
                    host.errors.len(),
                    if off_host {
                        ""
                    } else {
                        " (--off-host if the file is for another machine)"
                    }
                );
                return ExitCode::FAILURE;
            }
            // Not an error: check-config is run next to the live server it configures.
            match tandem_server::startup::holder(&cfg.data_dir) {
                Ok(None) => {}
                Ok(Some(holder)) => eprintln!(
                    "note: data directory {} is in use by a running tandem process ({holder}); \
                     a second `tandem serve` with this data_dir would refuse to start",
                    cfg.data_dir.display()
                ),
                Err(e) => eprintln!(
                    "note: cannot tell whether data directory {} is in use by a running \
                     tandem process: {e}",
                    cfg.data_dir.display()
                ),
            }
            if let Some(partner) = partner {
                let other = match tandem::config::load(&partner) {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("{e}");
                        return ExitCode::FAILURE;
                    }
                };
                let mut problems = tandem::config::check_pair(&cfg, &other);
                // The partner's TLS files are checked too when they are readable here
                // (its interfaces are on its own host and are not looked for).
                if let Some(f) = &other.failover {
                    if let tandem::config::FailoverTls::Mutual {
                        cert,
                        key,
                        ca,
                        server_name,
                    } = &f.tls
                    {
                        for (k, m) in tandem::config::host::check_tls_files(
                            cert,
                            key,
                            ca,
                            server_name,
                            f.role,
                        ) {
                            let mut p =
                                tandem::config::Problem::new(format!("failover.tls.{k}"), m);
                            p.file = Some(other.origin.clone());
                            problems.push(p);
                        }
                    }
                }
                if !problems.is_empty() {
                    for p in &problems {
                        eprintln!("{p}");
                    }
                    eprintln!(
                        "{} problem(s): these two files do not make a pair",
                        problems.len()
                    );
                    return ExitCode::FAILURE;
                }
                println!("configuration OK: {}", cfg.summary());
                println!("partner OK: {}", other.summary());
                return ExitCode::SUCCESS;
            }
            println!("configuration OK: {}", cfg.summary());
            ExitCode::SUCCESS
        }
        Command::Serve { config } => {
            let cfg = match tandem::config::load(&config) {
                Ok(cfg) => cfg,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            if let Err(e) = tandem::logging::init(&cfg.log_level, cfg.log_format, cfg.log_target) {
                eprintln!("cannot set up logging: {e:#}");
                return ExitCode::FAILURE;
            }
            for w in &cfg.warnings {
                tracing::warn!("{w}");
            }
            match tandem::serve::run(cfg, &config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    eprintln!("tandem: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every subcommand and every flag that `--help` shows, for the command and each of
    /// its subcommands, is in that command's generated manual page.
    #[test]
    fn man_pages_mention_every_subcommand_and_flag_of_help() {
        let dir = tempfile::tempdir().unwrap();
        let files = tandem::man::generate(Cli::command(), dir.path()).unwrap();
        let mut root = Cli::command().disable_help_subcommand(true);
        root.build();
        let mut checked = 0;
        let mut stack = vec![root];
        while let Some(mut cmd) = stack.pop() {
            let title = cmd.get_display_name().unwrap_or(cmd.get_name()).to_string();
            let page_path = dir.path().join(format!("{title}.8"));
            assert!(
                files.contains(&page_path),
                "no page {}",
                page_path.display()
            );
            // roff writes "-" as "\-"; undo it to compare with the help text.
            let page = std::fs::read_to_string(&page_path)
                .unwrap()
                .replace("\\-", "-");
            let help = cmd.render_long_help().to_string();
            let mut in_commands = false;
            for line in help.lines() {
                if line.starts_with("Commands:") {
                    in_commands = true;
                    continue;
                }
                if in_commands {
                    match line.split_whitespace().next() {
                        Some(sub) if line.starts_with("  ") => {
                            assert!(
                                page.contains(&format!("{title}-{sub}(8)")),
                                "{title}.8 does not list subcommand {sub}"
                            );
                            checked += 1;
                        }
                        _ => in_commands = false,
                    }
                }
                for word in line.split(|c: char| c.is_whitespace() || c == ',' || c == '[') {
                    if word.starts_with("--") && word.len() > 2 {
                        let flag: String = word
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                            .collect();
                        assert!(page.contains(&flag), "{title}.8 does not mention {flag}");
                        checked += 1;
                    }
                }
            }
            assert!(!help.contains("generate-man"), "hidden from --help");
            stack.extend(cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
        }
        assert!(!files
            .iter()
            .any(|f| f.to_string_lossy().contains("generate-man")));
        assert!(checked > 10, "only {checked} items checked");
    }

    #[test]
    fn leases_backup_and_restore_take_a_file_and_default_to_the_packaged_config() {
        let c = Cli::try_parse_from(["tandem", "leases", "backup", "/b.db"]).unwrap();
        assert!(matches!(
            c.command,
            Command::Leases { action: DatabaseAction::Backup { file, config } }
                if file.as_os_str() == "/b.db" && config.as_os_str() == DEFAULT_CONFIG
        ));
        let c =
            Cli::try_parse_from(["tandem", "leases", "restore", "b.db", "-c", "x.toml"]).unwrap();
        assert!(matches!(
            c.command,
            Command::Leases { action: DatabaseAction::Restore { config, .. } }
                if config.as_os_str() == "x.toml"
        ));
        assert!(Cli::try_parse_from(["tandem", "leases", "restore"]).is_err());
    }

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_requires_config_and_check_config_takes_a_file() {
        assert!(Cli::try_parse_from(["tandem", "serve"]).is_err());
        let c = Cli::try_parse_from(["tandem", "serve", "--config", "x.toml"]).unwrap();
        assert!(matches!(c.command, Command::Serve { config } if config.as_os_str() == "x.toml"));
        let c = Cli::try_parse_from(["tandem", "check-config", "y.toml"]).unwrap();
        assert!(
            matches!(c.command, Command::CheckConfig { file, partner: None, off_host: false } if file.as_os_str() == "y.toml")
        );
        let c = Cli::try_parse_from(["tandem", "check-config", "a.toml", "--partner", "b.toml"])
            .unwrap();
        assert!(
            matches!(c.command, Command::CheckConfig { partner: Some(p), .. } if p.as_os_str() == "b.toml")
        );
        let c = Cli::try_parse_from(["tandem", "ctl", "--socket", "/run/t.ctl", "status"]).unwrap();
        assert!(matches!(
            c.command,
            Command::Ctl {
                action: CtlAction::Status,
                ..
            }
        ));
        assert!(
            Cli::try_parse_from(["tandem", "ctl", "--socket", "s", "--config", "c", "status"])
                .is_err()
        );
        let c = Cli::try_parse_from([
            "tandem",
            "ctl",
            "--socket",
            "s",
            "leases",
            "add",
            "2001:db8::1",
            "--duid",
            "00:01:02",
            "--valid",
            "600",
        ])
        .unwrap();
        let Command::Ctl { action, .. } = c.command else {
            panic!("not ctl")
        };
        let tandem::ctl::Command::Add(spec) = ctl_command(action) else {
            panic!("not add")
        };
        assert_eq!(spec.address, Some("2001:db8::1".parse().unwrap()));
        assert_eq!(spec.valid_lifetime, Some(600));
        assert!(Cli::try_parse_from(["tandem", "ctl", "--socket", "s", "leases", "get"]).is_err());
        assert!(Cli::try_parse_from([
            "tandem", "ctl", "--socket", "s", "leases", "export", "--format", "xml"
        ])
        .is_err());
    }
}
