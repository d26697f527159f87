//! Manual pages generated from the command-line definition (clap_mangen), so they say
//! what `--help` says: tandem(8) and one page per subcommand, tandem-serve(8),
//! tandem-ctl-status(8), ... Written by the hidden `tandem generate-man DIR`, which the
//! Debian package build runs (packaging/build-deb.sh).

use std::path::{Path, PathBuf};

/// Section 8: system administration commands (a daemon and its tools).
pub const SECTION: &str = "8";

/// Writes one page for `cmd` and for every visible subcommand, recursively; returns the
/// files written.
pub fn generate(cmd: clap::Command, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut cmd = cmd.disable_help_subcommand(true);
    // Fills in "tandem ctl status" style names for the subcommands' synopses and titles.
    cmd.build();
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    write_all(cmd, dir, &mut written)?;
    written.sort();
    Ok(written)
}

fn write_all(cmd: clap::Command, dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned() {
        write_all(sub, dir, out)?;
    }
    let man = clap_mangen::Man::new(cmd)
        .section(SECTION)
        .manual("tandem manual");
    out.push(man.generate_to(dir)?);
    Ok(())
}
