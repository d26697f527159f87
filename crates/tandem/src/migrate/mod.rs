//! `tandem migrate`: moving from ISC dhcpd 4.4 (docs/migrating-from-dhcpd.md).
//!
//! * [`lexer`]: the tokens and the statement tree dhcpd.conf and dhcpd.leases share;
//! * [`leases`]: a lease file read as the journal it is (last record per address wins);
//! * [`import`]: those records as tandem v4 leases, written in one transaction under the
//!   data directory's lock;
//! * [`conf`]: a dhcpd.conf subset translated to tandem's TOML, with a report of what
//!   was not.

pub mod conf;
pub mod import;
pub mod leases;
pub mod lexer;

use std::path::Path;

use tandem_core::Time;

/// `tandem migrate dhcpd-leases`: prints the report; Err is the message for stderr.
pub fn dhcpd_leases(
    config: &Path,
    file: &Path,
    dry_run: bool,
    now: Option<u64>,
) -> Result<(), String> {
    let cfg = crate::config::load(config).map_err(|e| e.to_string())?;
    let text = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    // Lease files are ASCII with octal escapes; anything else is kept, lossily, in text.
    let text = String::from_utf8_lossy(&text);
    let journal = leases::parse(&text).map_err(|e| format!("{}:{e}", file.display()))?;
    let now = Time(now.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }));
    let plan = import::plan(&journal, &cfg, now);
    let written = if dry_run {
        None
    } else {
        Some(import::apply(&plan, &cfg.data_dir).map_err(|e| e.to_string())?)
    };
    print!(
        "{}",
        import::report(
            &plan,
            &file.display().to_string(),
            written.as_ref(),
            dry_run
        )
    );
    Ok(())
}

/// `tandem migrate dhcpd-conf`: writes the TOML to `out` (or stdout), the report to
/// stderr.
pub fn dhcpd_conf(file: &Path, out: Option<&Path>) -> Result<(), String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let t = conf::translate(&text).map_err(|e| format!("{}:{e}", file.display()))?;
    match out {
        Some(p) => {
            std::fs::write(p, &t.toml).map_err(|e| format!("cannot write {}: {e}", p.display()))?
        }
        None => print!("{}", t.toml),
    }
    for n in &t.report {
        eprintln!("{}:{n}", file.display());
    }
    eprintln!(
        "{} item(s) not translated or needing attention; check the output with \
         `tandem check-config`",
        t.report.len()
    );
    Ok(())
}
