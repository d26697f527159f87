//! `tandem leases backup|restore`: a copy of the lease database taken while the server
//! runs, and putting one back while it is stopped (docs/operations.md has the runbooks).

use std::path::Path;

use tandem_server::startup::backup;

/// `tandem leases backup FILE`: prints what the backup holds.
pub fn backup(data_dir: &Path, file: &Path) -> anyhow::Result<()> {
    let s = backup::backup(data_dir, file)?;
    println!(
        "backup OK: {} ({} lease rows, schema version {}) from {}",
        file.display(),
        s.leases,
        s.schema_version,
        data_dir.display()
    );
    Ok(())
}

/// `tandem leases restore FILE`: refuses while a server holds the data directory.
pub fn restore(data_dir: &Path, file: &Path) -> anyhow::Result<()> {
    let r = backup::restore(data_dir, file)?;
    println!(
        "restore OK: {} lease rows (schema version {}) from {} into {}",
        r.summary.leases,
        r.summary.schema_version,
        file.display(),
        data_dir.display()
    );
    if let Some(prev) = &r.previous {
        println!("the replaced lease database is kept as {}", prev.display());
    }
    if r.failover_state_cleared {
        println!(
            "failover state cleared: this pair member starts in RECOVER and takes every \
             binding from its partner before it serves (RFC 8156 §8.5)"
        );
    }
    Ok(())
}
