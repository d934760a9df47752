//! A wasm module built from the core alone (no wasm-bindgen, no JS glue). CI builds it for
//! `wasm32-unknown-unknown` and reads its import section: it must import nothing, which
//! proves the core reaches for no host function (no clock, no randomness, no `env`).
//! The exported function exercises the Log on a SimDisk, crash and recovery included, so
//! the code under test is really linked in; a second one runs a Raft cluster.

use logspine_core::{Log, LogConfig, SimDisk, SimDiskConfig, Storage};

/// Appends `records` records, syncs some, crashes, recovers; returns records recovered.
#[expect(
    unsafe_code,
    reason = "an unmangled export is the only way to keep the probe's code in the module"
)]
#[no_mangle]
pub extern "C" fn probe(seed: u64, records: u32) -> u64 {
    let mut disk = SimDisk::new(SimDiskConfig::default(), seed);
    let Ok((mut log, _)) = Log::open(&mut disk, LogConfig::new("wal")) else {
        return u64::MAX;
    };
    for i in 0..records {
        if log.append(&mut disk, &i.to_le_bytes()).is_err() {
            return u64::MAX;
        }
        if i % 7 == 0 && log.request_sync(&mut disk).is_err() {
            return u64::MAX;
        }
        disk.advance(3);
        for c in disk.take_completions() {
            log.handle_sync_completion(&c);
        }
    }
    disk.crash();
    match Log::open(&mut disk, LogConfig::new("wal")) {
        Ok((_, report)) => report.records,
        Err(_) => u64::MAX,
    }
}

/// Runs a three-node Raft cluster on simulated disks and network for `ticks` ticks, crashing
/// and restarting one node halfway; returns the highest commit index (so the Raft node,
/// the simulator and the checkers are linked in, and shown to import nothing either).
#[expect(
    unsafe_code,
    reason = "an unmangled export is the only way to keep the probe's code in the module"
)]
#[no_mangle]
pub extern "C" fn raft_probe(seed: u64, ticks: u64) -> u64 {
    use logspine_core::raft::sim::{Cluster, ClusterConfig};
    let Ok(mut c) = Cluster::new(ClusterConfig::new(3), seed) else {
        return u64::MAX;
    };
    for t in 0..ticks {
        if t == ticks / 2 {
            c.crash(1);
            if c.restart(1).is_err() {
                return u64::MAX;
            }
        }
        if c.step().is_err() {
            return u64::MAX;
        }
    }
    c.servers()
        .values()
        .filter_map(|s| s.node().map(|n| n.commit_index()))
        .max()
        .unwrap_or(0)
}
