//! One data directory belongs to one process.
//!
//! Two `tandem serve` on one `server.data_dir` would each load the lease database into
//! their own lease table and allocate from it independently: the same address or prefix
//! would go to two clients (RFC 8415 §6.3) and one server would overwrite the other's
//! acknowledged leases. The UDP socket cannot stop this (it is bound with SO_REUSEADDR,
//! so both bind), and SQLite's own locking only serialises writes. So the server takes
//! an exclusive flock(2) on `<data_dir>/tandem.lock` before it opens the lease database,
//! generates a server DUID or binds any socket, and holds it until it exits.
//!
//! The kernel releases a flock when its holder dies, so a lock file left behind by a
//! kill -9 or a power cut does not block the restart: only a live holder counts. The
//! file carries the holder's PID so the refusal can name it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// File name of the lock inside `server.data_dir`.
pub const LOCK_FILE: &str = "tandem.lock";

/// How often, and how far apart, a busy lock is tried again before giving up: enough
/// to step over `tandem check-config`, which holds a shared lock for a moment to look
/// (see [`holder`]); far too short to wait out a running server.
const BUSY_RETRIES: u32 = 10;
const BUSY_PAUSE: Duration = Duration::from_millis(20);

/// Why the data directory could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "data directory {dir} is in use by another tandem process ({holder}): two servers on \
         one lease database would give the same address to two clients; stop that process \
         or give this one its own data_dir"
    )]
    InUse { dir: PathBuf, holder: Holder },
    #[error("cannot {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The exclusive lock on a data directory; released when dropped (or when the process
/// dies, by the kernel).
#[derive(Debug)]
pub struct DataDirLock {
    _file: Flock<File>,
}

/// The lock file of a data directory.
pub fn lock_path(data_dir: &Path) -> PathBuf {
    data_dir.join(LOCK_FILE)
}

impl DataDirLock {
    /// Takes the data directory for this process, or explains who has it. The directory
    /// must exist. Never blocks for more than a fraction of a second.
    pub fn acquire(data_dir: &Path) -> Result<DataDirLock, LockError> {
        let path = lock_path(data_dir);
        // Not truncated on open: until the lock is ours the file names the holder.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(&path)
            .map_err(|e| LockError::Io {
                what: "open the lock file",
                path: path.clone(),
                source: e,
            })?;
        let mut tries = 0;
        let mut lock = loop {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => break lock,
                Err((f, Errno::EWOULDBLOCK)) if tries < BUSY_RETRIES => {
                    tries += 1;
                    file = f;
                    std::thread::sleep(BUSY_PAUSE);
                }
                Err((mut f, Errno::EWOULDBLOCK)) => {
                    return Err(LockError::InUse {
                        dir: data_dir.to_path_buf(),
                        holder: Holder {
                            pid: read_pid(&mut f),
                        },
                    });
                }
                Err((_, e)) => {
                    return Err(LockError::Io {
                        what: "lock",
                        path,
                        source: e.into(),
                    });
                }
            }
        };
        let pid = std::process::id();
        lock.set_len(0)
            .and_then(|()| writeln!(&mut *lock, "{pid}"))
            .map_err(|e| LockError::Io {
                what: "write this process's pid into",
                path,
                source: e,
            })?;
        Ok(DataDirLock { _file: lock })
    }
}

/// Who holds a data directory, as far as its lock file tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Holder {
    /// The PID the holder wrote; None if it has not written it yet (or the file is
    /// damaged).
    pub pid: Option<u32>,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&describe(self.pid))
    }
}

/// Whether a live process holds `data_dir` (for `check-config`, which only looks): never
/// creates the directory or the lock file. A lock file nobody holds (left by a stopped
/// or killed server) is not a holder.
pub fn holder(data_dir: &Path) -> std::io::Result<Option<Holder>> {
    let path = lock_path(data_dir);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    // A shared lock succeeds only if nobody holds the exclusive one; it is dropped at
    // once (a server starting meanwhile retries, see BUSY_RETRIES).
    match Flock::lock(file, FlockArg::LockSharedNonblock) {
        Ok(_free) => Ok(None),
        Err((mut f, Errno::EWOULDBLOCK)) => Ok(Some(Holder {
            pid: read_pid(&mut f),
        })),
        Err((_, e)) => Err(e.into()),
    }
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

fn describe(pid: Option<u32>) -> String {
    match pid {
        Some(pid) => format!("pid {pid}"),
        None => "pid not known yet".to_string(),
    }
}

/// Why an offline tool (`tandem restore`, `tandem migrate dhcpd-leases`) could not take
/// the data directory.
#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    #[error(
        "data directory {dir} is in use by a running tandem server ({holder}): stop it \
         before {doing}"
    )]
    ServerRunning {
        dir: PathBuf,
        holder: Holder,
        /// What the tool does, and why not under a server (the end of the message).
        doing: &'static str,
    },
    #[error("data directory {0} does not exist")]
    NoDataDir(PathBuf),
    #[error(transparent)]
    Lock(LockError),
}

/// A data directory taken by an offline tool: the lock `tandem serve` takes, held until
/// dropped, so that no server starts on the lease database while the tool writes it.
#[derive(Debug)]
pub struct OfflineDataDir {
    dir: PathBuf,
    lock_created: bool,
    _lock: DataDirLock,
}

impl OfflineDataDir {
    /// Takes `dir` for a tool that is `doing` something no server may see half done
    /// (named in the refusal: "restoring (a restore replaces ...)").
    pub fn take(dir: &Path, doing: &'static str) -> Result<OfflineDataDir, OfflineError> {
        if !dir.is_dir() {
            return Err(OfflineError::NoDataDir(dir.to_path_buf()));
        }
        let lock_created = !lock_path(dir).exists();
        let lock = DataDirLock::acquire(dir).map_err(|e| match e {
            LockError::InUse { dir, holder } => OfflineError::ServerRunning { dir, holder, doing },
            other => OfflineError::Lock(other),
        })?;
        Ok(OfflineDataDir {
            dir: dir.to_path_buf(),
            lock_created,
            _lock: lock,
        })
    }

    /// Gives `files`, and the lock file if this process created it, to the owner of the
    /// data directory: the tools run as root, the server as its service user, which must
    /// still open them.
    pub fn give_to_owner(&self, files: &[PathBuf]) {
        use std::os::unix::fs::MetadataExt;
        let Ok(d) = std::fs::metadata(&self.dir) else {
            return;
        };
        let lock = self.lock_created.then(|| lock_path(&self.dir));
        for path in files.iter().chain(lock.as_ref()) {
            if let Ok(f) = std::fs::metadata(path) {
                if (d.uid(), d.gid()) != (f.uid(), f.gid()) {
                    let _ = std::os::unix::fs::chown(path, Some(d.uid()), Some(d.gid()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_on_one_data_dir_is_refused_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDirLock::acquire(dir.path()).unwrap();
        // flock(2) locks belong to the open file, so a second open in this very process
        // is refused like another process would be.
        let err = format!("{:#}", DataDirLock::acquire(dir.path()).unwrap_err());
        let want = format!(
            "data directory {} is in use by another tandem process (pid {}): two servers on \
             one lease database would give the same address to two clients; stop that \
             process or give this one its own data_dir",
            dir.path().display(),
            std::process::id()
        );
        assert_eq!(err, want);
        assert_eq!(
            holder(dir.path()).unwrap(),
            Some(Holder {
                pid: Some(std::process::id())
            })
        );
        drop(first);
        assert_eq!(holder(dir.path()).unwrap(), None, "released on drop");
        let _again = DataDirLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn a_stale_lock_file_does_not_block_and_is_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        // Left by a killed server with a longer PID, or damaged: nobody holds it.
        std::fs::write(lock_path(dir.path()), "4194303\ngarbage").unwrap();
        assert_eq!(holder(dir.path()).unwrap(), None);
        let _lock = DataDirLock::acquire(dir.path()).unwrap();
        let text = std::fs::read_to_string(lock_path(dir.path())).unwrap();
        assert_eq!(text, format!("{}\n", std::process::id()));
    }

    #[test]
    fn holder_of_a_data_dir_without_lock_file_is_nobody_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(holder(dir.path()).unwrap(), None);
        assert_eq!(holder(&dir.path().join("missing")).unwrap(), None);
        assert!(!lock_path(dir.path()).exists());
        assert!(!dir.path().join("missing").exists());
    }

    #[test]
    fn a_holder_that_has_not_written_its_pid_is_still_a_holder() {
        let dir = tempfile::tempdir().unwrap();
        let file = File::create(lock_path(dir.path())).unwrap();
        let _held = Flock::lock(file, FlockArg::LockExclusiveNonblock).unwrap();
        assert_eq!(holder(dir.path()).unwrap(), Some(Holder { pid: None }));
        let err = format!("{:#}", DataDirLock::acquire(dir.path()).unwrap_err());
        assert!(
            err.contains("in use by another tandem process (pid not known yet)"),
            "{err}"
        );
    }
}
