//! Durability under SIGKILL: every lease acknowledged before the kill is on disk after it.
//!
//! The test re-runs its own binary as a child (`TANDEM_STORE_CHILD_DB` set), which submits
//! leases from several threads and prints `ACK n` only from the commit callback, i.e.
//! after the group's fsync. The parent kills it with SIGKILL at a pseudo-random moment and
//! checks every printed ACK against the reopened database. Printing the ACK before the
//! commit (or acknowledging from `submit`) makes this test fail.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;

use common::*;
use tandem_core::LeaseChange;
use tandem_store::{Batch, GroupCommitWriter, LeaseStore, SqliteStore};

const CHILD_ENV: &str = "TANDEM_STORE_CHILD_DB";

#[test]
fn acknowledged_leases_survive_sigkill() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        return child_writer(&path);
    }
    // A different kill point every run; the seed is in every failure message to replay it.
    let seed = std::env::var("TANDEM_STORE_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos() as u64)
                .unwrap_or(1)
        });
    for round in 0..3u64 {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("leases.db");
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "acknowledged_leases_survive_sigkill",
                "--nocapture",
            ])
            .env(CHILD_ENV, &db)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // Kill after a pseudo-random number of acknowledgements (replay with the seed).
        let kill_after = 50
            + (seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(round * 7919)
                >> 33)
                % 750;
        let mut acked = Vec::new();
        for line in lines.by_ref() {
            if let Some(n) = line.unwrap().strip_prefix("ACK ") {
                acked.push(n.parse::<u32>().unwrap());
                if acked.len() as u64 >= kill_after {
                    break;
                }
            }
        }
        child.kill().unwrap(); // SIGKILL
                               // ACKs already in the pipe were printed before the kill: they count too.
        for line in lines {
            if let Some(n) = line.unwrap().strip_prefix("ACK ") {
                acked.push(n.parse::<u32>().unwrap());
            }
        }
        child.wait().unwrap();
        let mut store = SqliteStore::open(&db).unwrap();
        let stored: std::collections::HashSet<_> = store
            .load_all()
            .unwrap()
            .into_iter()
            .map(|l| l.resource)
            .collect();
        let lost: Vec<_> = acked
            .iter()
            .filter(|n| !stored.contains(&address(**n)))
            .collect();
        assert!(
            lost.is_empty(),
            "seed {seed} round {round}: {} acknowledged leases lost, e.g. {:?}",
            lost.len(),
            &lost[..lost.len().min(5)]
        );
        assert!(acked.len() as u64 >= kill_after);
    }
}

fn child_writer(path: &str) {
    let writer =
        Arc::new(GroupCommitWriter::start(SqliteStore::open(path.as_ref()).unwrap()).unwrap());
    let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let threads: Vec<_> = (0..4u32)
        .map(|t| {
            let writer = Arc::clone(&writer);
            let out = Arc::clone(&out);
            std::thread::spawn(move || {
                for i in 0..100_000u32 {
                    let n = t * 100_000 + i;
                    let out = Arc::clone(&out);
                    writer.submit(
                        Batch::leases(vec![LeaseChange::Upsert(lease(address(n), n))]),
                        Box::new(move |r| {
                            if r.is_ok() {
                                let mut o = out.lock().unwrap();
                                let _ = writeln!(o, "ACK {n}");
                                let _ = o.flush();
                            }
                        }),
                    );
                    std::thread::sleep(std::time::Duration::from_micros(200));
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}
