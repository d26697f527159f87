//! Leases per second: one fsync per lease vs the group-commit writer.
//!
//! `cargo run --release -p tandem-store --example throughput [single_n] [threads] [per_thread]`
//! Each submitter waits for its acknowledgement before submitting the next lease, as a
//! server waits before replying to a client, so concurrency comes only from the threads.

use std::net::Ipv6Addr;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::Instant;

use tandem_core::{BindingStatus, Duid, FailoverFields, Lease, LeaseChange, Resource, Time};
use tandem_store::{Batch, GroupCommitWriter, LeaseStore, SqliteStore};

fn lease(n: u32) -> Lease {
    Lease {
        resource: Resource::Address(Ipv6Addr::from(
            0x2001_0db8_0000_0000_0000_0000_0000_0000u128 | u128::from(n),
        )),
        status: BindingStatus::Active,
        duid: Duid(n.to_be_bytes().to_vec()),
        hw_address: Vec::new(),
        iaid: n,
        subnet_id: 1,
        preferred_lifetime: 3000,
        valid_lifetime: 4000,
        t1: 1500,
        t2: 2400,
        cltt: Time(1_800_000_000),
        start_time_of_state: Time(1_800_000_000),
        state_expiration: Some(Time(1_800_004_000)),
        failover: FailoverFields::default(),
    }
}

fn arg(i: usize, default: u32) -> u32 {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let single_n = arg(1, 1000);
    let threads = arg(2, 16);
    let per_thread = arg(3, 1000);
    let dir = std::env::temp_dir().join(format!("tandem-store-throughput-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;

    let mut store = SqliteStore::open(&dir.join("single.db"))?;
    let start = Instant::now();
    for n in 0..single_n {
        store.commit(&Batch::leases(vec![LeaseChange::Upsert(lease(n))]))?;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "single commit : {single_n} leases in {secs:.2}s = {:.0} leases/s (one fsync each)",
        f64::from(single_n) / secs
    );
    drop(store);

    let writer = Arc::new(GroupCommitWriter::start(SqliteStore::open(
        &dir.join("group.db"),
    )?)?);
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let writer = Arc::clone(&writer);
            std::thread::spawn(move || {
                for i in 0..per_thread {
                    let (tx, rx) = mpsc::sync_channel(1);
                    writer.submit(
                        Batch::leases(vec![LeaseChange::Upsert(lease(t * 1_000_000 + i))]),
                        Box::new(move |r| {
                            let _ = tx.send(r.is_ok());
                        }),
                    );
                    assert!(rx.recv().unwrap_or(false), "commit failed");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().map_err(|_| "submitter panicked")?;
    }
    let secs = start.elapsed().as_secs_f64();
    let stats = Arc::clone(writer.stats());
    drop(writer);
    let total = threads * per_thread;
    let groups = stats.groups.load(Ordering::Relaxed);
    println!(
        "group commit  : {total} leases from {threads} submitters in {secs:.2}s = {:.0} leases/s \
         ({groups} groups, avg {:.1}, largest {})",
        f64::from(total) / secs,
        total as f64 / groups.max(1) as f64,
        stats.largest_group.load(Ordering::Relaxed)
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
