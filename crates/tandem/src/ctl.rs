//! `tandem ctl`: talk to a running server over its control socket.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use tandem_server::ctl::{request, CtlAnswer};
use tandem_server::Status;

/// The control socket of a server whose data directory is `data_dir`.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(tandem_server::startup::CTL_SOCKET)
}

/// Sends `command` and prints the answer; `json` prints it raw.
pub fn run(socket: &Path, command: &str, json: bool) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let answer: CtlAnswer = rt
        .block_on(request(socket, command))
        .with_context(|| format!("cannot reach the server at {}", socket.display()))?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&answer).context("encoding the answer")?
        );
    }
    if !answer.ok {
        bail!(
            "{}",
            answer
                .error
                .unwrap_or_else(|| "request refused".to_string())
        );
    }
    if !json {
        match &answer.status {
            Some(s) => print!("{}", render(s)),
            None => println!("ok"),
        }
    }
    Ok(())
}

/// The human form of a status.
pub fn render(s: &Status) -> String {
    let comm = if s.communications_ok {
        "communications OK"
    } else {
        "communications interrupted"
    };
    let mut out = format!(
        "role        {}\n\
         state       {} (for {})\n\
         partner     {}, {comm}\n\
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
        assert!(t.contains("COMMUNICATIONS-INTERRUPTED, communications interrupted"));
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
}
