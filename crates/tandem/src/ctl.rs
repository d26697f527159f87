//! `tandem ctl`: talk to a running server over its control socket (HTTP/JSON, the control
//! API of docs/control-api.md). Human output by default, the server's JSON with `--json`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use tandem_server::api::client::{request, Answer};
use tandem_server::api::model::{ApiError, ChangeAnswer, LeaseJson, LeasePage, ReloadAnswer};
use tandem_server::Status;

/// The control socket of a server whose data directory is `data_dir`.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(tandem_server::startup::CTL_SOCKET)
}

/// One `tandem ctl` command, as an API request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Status,
    PartnerDown,
    Reload,
    /// One address or prefix.
    Get(String),
    /// Every record of a client.
    GetDuid(String),
    List {
        limit: Option<usize>,
        after: Option<String>,
        subnet: Option<u32>,
        state: Option<String>,
        duid: Option<String>,
        /// Follow `next` to the end.
        all: bool,
    },
    Add(LeaseJson),
    Delete(String),
    /// `format` json or csv; written to `output` or stdout.
    Export {
        format: String,
        output: Option<PathBuf>,
    },
    /// A JSON file (the export's format).
    Import(PathBuf),
}

/// `/v1/leases/address/X` or `/v1/leases/prefix/P`.
fn lease_path(resource: &str) -> String {
    if resource.contains('/') {
        format!("/v1/leases/prefix/{resource}")
    } else {
        format!("/v1/leases/address/{resource}")
    }
}

fn query(pairs: &[(&str, Option<String>)]) -> String {
    let q: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v))))
        .collect();
    if q.is_empty() {
        String::new()
    } else {
        format!("?{}", q.join("&"))
    }
}

/// Percent-encodes what a query value may not hold as is.
fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs `cmd` against the socket and prints the answer.
pub fn run(socket: &Path, cmd: &Command, json: bool) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(run_async(socket, cmd, json))
}

async fn call(
    socket: &Path,
    method: &str,
    path: &str,
    body: Option<Vec<u8>>,
) -> anyhow::Result<Answer> {
    let a = request(socket, method, path, body).await?;
    if a.status >= 400 {
        let e: ApiError = serde_json::from_slice(&a.body).unwrap_or_else(|_| {
            ApiError::new(a.status, String::from_utf8_lossy(&a.body).into_owned())
        });
        bail!("{e} (HTTP {})", a.status);
    }
    Ok(a)
}

fn parse<T: serde::de::DeserializeOwned>(a: &Answer) -> anyhow::Result<T> {
    serde_json::from_slice(&a.body).context("the server's answer is not the expected JSON")
}

fn print_json(a: &Answer) -> anyhow::Result<()> {
    let v: serde_json::Value = parse(a)?;
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

async fn run_async(socket: &Path, cmd: &Command, json: bool) -> anyhow::Result<()> {
    match cmd {
        Command::Status => {
            let a = call(socket, "GET", "/v1/status", None).await?;
            if json {
                return print_json(&a);
            }
            print!("{}", render(&parse::<Status>(&a)?));
        }
        Command::PartnerDown => {
            let a = call(socket, "POST", "/v1/partner-down", None).await?;
            if json {
                return print_json(&a);
            }
            println!("partner declared down");
        }
        Command::Reload => {
            let a = call(socket, "POST", "/v1/reload", None).await?;
            if json {
                return print_json(&a);
            }
            let r: ReloadAnswer = parse(&a)?;
            if r.changes.is_empty() {
                println!("reloaded {}: nothing changed", r.config);
            } else {
                println!("reloaded {}:", r.config);
                for c in &r.changes {
                    println!("  {c}");
                }
            }
            for w in &r.warnings {
                eprintln!("warning: {w}");
            }
        }
        Command::Get(r) => {
            let a = call(socket, "GET", &lease_path(r), None).await?;
            if json {
                return print_json(&a);
            }
            print!("{}", render_leases(&[parse::<LeaseJson>(&a)?]));
        }
        Command::GetDuid(d) => {
            let a = call(
                socket,
                "GET",
                &format!("/v1/leases/duid/{}", encode(d)),
                None,
            )
            .await?;
            if json {
                return print_json(&a);
            }
            print!("{}", render_leases(&parse::<LeasePage>(&a)?.leases));
        }
        Command::List {
            limit,
            after,
            subnet,
            state,
            duid,
            all,
        } => {
            let mut after = after.clone();
            let mut collected = Vec::new();
            loop {
                let q = query(&[
                    ("limit", limit.map(|l| l.to_string())),
                    ("after", after.clone()),
                    ("subnet", subnet.map(|s| s.to_string())),
                    ("state", state.clone()),
                    ("duid", duid.clone()),
                ]);
                let a = call(socket, "GET", &format!("/v1/leases{q}"), None).await?;
                let page: LeasePage = parse(&a)?;
                let matched = page.matched;
                collected.extend(page.leases);
                match page.next {
                    Some(n) if *all => after = Some(n),
                    next => {
                        if json {
                            let out = LeasePage {
                                leases: collected,
                                next,
                                matched,
                            };
                            println!("{}", serde_json::to_string_pretty(&out)?);
                            return Ok(());
                        }
                        print!("{}", render_leases(&collected));
                        match next {
                            Some(n) => println!(
                                "{} of {} shown; next page: --after {n} (or --all)",
                                collected.len(),
                                matched.unwrap_or(0)
                            ),
                            None => println!("{} lease record(s)", collected.len()),
                        }
                        return Ok(());
                    }
                }
            }
        }
        Command::Add(spec) => {
            let body = serde_json::to_vec(spec)?;
            let a = call(socket, "POST", "/v1/leases", Some(body)).await?;
            if json {
                return print_json(&a);
            }
            let c: ChangeAnswer = parse(&a)?;
            println!("stored (durable):");
            print!("{}", render_leases(&c.leases));
        }
        Command::Delete(r) => {
            let a = call(socket, "DELETE", &lease_path(r), None).await?;
            if json {
                return print_json(&a);
            }
            let c: ChangeAnswer = parse(&a)?;
            for l in &c.leases {
                match &l.state {
                    Some(s) => println!("{} is now {s} (the partner is told)", shown(l)),
                    None => println!("{} deleted", shown(l)),
                }
            }
        }
        Command::Export { format, output } => {
            let a = call(
                socket,
                "GET",
                &format!("/v1/leases/export?format={}", encode(format)),
                None,
            )
            .await?;
            match output {
                Some(p) => {
                    std::fs::write(p, &a.body)
                        .with_context(|| format!("writing {}", p.display()))?;
                    if !json {
                        eprintln!("exported to {}", p.display());
                    }
                }
                None => {
                    use std::io::Write;
                    std::io::stdout().write_all(&a.body)?;
                }
            }
        }
        Command::Import(file) => {
            let body =
                std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            let a = call(socket, "POST", "/v1/leases/import", Some(body)).await?;
            if json {
                return print_json(&a);
            }
            let c: ChangeAnswer = parse(&a)?;
            println!(
                "imported {} lease(s) (durable){}",
                c.leases.len(),
                c.skipped
                    .map(|n| format!(", skipped {n} record(s) not ACTIVE or already lapsed"))
                    .unwrap_or_default()
            );
        }
    }
    Ok(())
}

fn shown(l: &LeaseJson) -> String {
    match (l.address, l.prefix) {
        (Some(a), _) => a.to_string(),
        (_, Some(p)) => p.to_string(),
        _ => "?".into(),
    }
}

/// Leases as a table.
pub fn render_leases(leases: &[LeaseJson]) -> String {
    let mut out = format!(
        "{:<40} {:<12} {:>6} {:>10} {:>11}  {}\n",
        "ADDRESS/PREFIX", "STATE", "SUBNET", "IAID", "EXPIRES", "DUID"
    );
    for l in leases {
        out.push_str(&format!(
            "{:<40} {:<12} {:>6} {:>10} {:>11}  {}\n",
            shown(l),
            l.state.as_deref().unwrap_or("-"),
            l.subnet_id.map(|s| s.to_string()).unwrap_or_default(),
            l.iaid,
            l.expires
                .map(|e| e.to_string())
                .unwrap_or_else(|| "-".into()),
            if l.duid.is_empty() { "-" } else { &l.duid },
        ));
    }
    out
}

/// The human form of a status.
pub fn render(s: &Status) -> String {
    let comm = if s.communications_ok {
        "communications OK"
    } else {
        "communications interrupted"
    };
    let lag = s
        .partner_lag_secs
        .map(|l| format!(", last heard {} ago", duration(l)))
        .unwrap_or_default();
    let mut out = format!(
        "role        {}\n\
         state       {} (for {})\n\
         partner     {}, {comm}{lag}\n\
         mclt        {} s\n\
         updates     {} queued, {} sent and unacknowledged\n\
         leases      {} active, {} records\n\
         prefixes    primary can delegate {}, secondary {}\n\
         problems    {} protocol errors, {} updates rejected by the partner, {} failed commits, \
         {} leases found held twice\n\
         uptime      {}\n",
        s.role,
        s.state,
        duration(s.state_for_secs),
        s.partner_state.as_deref().unwrap_or("unknown"),
        s.mclt,
        s.updates_queued,
        s.updates_unacked,
        s.active_leases,
        s.leases,
        s.prefixes_primary,
        s.prefixes_secondary,
        s.protocol_errors,
        s.updates_rejected,
        s.commit_failures,
        s.bindings_displaced,
        duration(s.uptime_secs),
    );
    for p in &s.pools {
        out.push_str(&format!(
            "pool        subnet {} {} {}: {} of {} used ({:.1} %)",
            p.subnet_id,
            p.kind,
            p.pool,
            p.used,
            p.size,
            p.percent_used()
        ));
        if let Some(sh) = p.shares {
            out.push_str(&format!(
                ", free: primary {}, secondary {}",
                sh.primary_free, sh.secondary_free
            ));
        }
        out.push('\n');
    }
    out
}

fn duration(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_field() {
        let s = Status {
            role: "secondary".into(),
            state: "PARTNER-DOWN".into(),
            state_for_secs: 4000,
            partner_state: Some("COMMUNICATIONS-INTERRUPTED".into()),
            communications_ok: false,
            mclt: 3600,
            updates_queued: 3,
            updates_unacked: 1,
            active_leases: 10,
            leases: 12,
            prefixes_primary: 100,
            prefixes_secondary: 50,
            protocol_errors: 2,
            updates_rejected: 0,
            commit_failures: 0,
            bindings_displaced: 1,
            uptime_secs: 90_000,
            partner_lag_secs: Some(75),
            pools: vec![tandem_server::PoolUse {
                subnet_id: 1,
                pool: "2001:db8:1::1000-2001:db8:1::1fff".into(),
                kind: "address".into(),
                size: 4096,
                used: 1024,
                free: 3072,
                shares: Some(tandem_server::PoolShares {
                    primary_free: 1500,
                    secondary_free: 1572,
                }),
            }],
        };
        let t = render(&s);
        assert!(t.contains("state       PARTNER-DOWN (for 66m40s)"), "{t}");
        assert!(t.contains(
            "COMMUNICATIONS-INTERRUPTED, communications interrupted, last heard 75s ago"
        ));
        assert!(t.contains("3 queued, 1 sent"));
        assert!(t.contains("primary can delegate 100, secondary 50"));
        assert!(t.contains("uptime      25h00m"));
        assert!(t.contains("1 leases found held twice"), "{t}");
        assert!(
            t.contains(
                "pool        subnet 1 address 2001:db8:1::1000-2001:db8:1::1fff: 1024 of 4096 \
                 used (25.0 %), free: primary 1500, secondary 1572"
            ),
            "{t}"
        );
    }

    #[test]
    fn prefixes_and_addresses_take_their_own_paths() {
        assert_eq!(lease_path("2001:db8::1"), "/v1/leases/address/2001:db8::1");
        assert_eq!(
            lease_path("2001:db8:100::/56"),
            "/v1/leases/prefix/2001:db8:100::/56"
        );
        assert_eq!(
            query(&[
                ("state", Some("active".into())),
                ("after", None),
                ("duid", Some("00:01 x".into()))
            ]),
            "?state=active&duid=00:01%20x"
        );
    }
}
