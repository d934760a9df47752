//! Simulated throughput of a five-node Raft cluster (issue 5): committed puts per second
//! of virtual time, and how many the simulator gets through per second of wall time —
//! the same code natively (`cargo run --profile bench -p logspine-bench -- raft`) and as
//! wasm in Node and headless Chromium (`tests/wasm_raft.rs`, run by `scripts/bench.sh`).
//!
//! `clients` clients each keep one put outstanding at the leader (1 ms one-way latency,
//! 1–3 ms disk syncs, no faults), for 10 s of virtual time (1 tick = 1 ms). The safety
//! checkers and `validate` are off: they are test-time costs, not the simulator's.

use logspine_core::raft::kv::KvOp;
use logspine_core::raft::sim::{
    ClientOp, ClientRequest, ClientResult, Cluster, ClusterConfig, NetConfig,
};

use crate::Clock;

/// Virtual milliseconds per row.
pub const VIRTUAL_MS: u64 = 10_000;

/// One row: clients, committed puts per virtual second, per wall second, wall seconds.
#[derive(Clone, Copy, Debug)]
pub struct Row {
    /// Concurrent clients.
    pub clients: u64,
    /// Committed puts per second of virtual time.
    pub per_virtual_s: f64,
    /// Committed puts per second of wall time.
    pub per_wall_s: f64,
    /// Wall seconds.
    pub wall_s: f64,
}

/// Runs one row.
pub fn measure(clients: u64, clock: Clock<'_>) -> Result<Row, String> {
    let mut config = ClusterConfig::new(5);
    config.net = NetConfig::reliable(1, 1);
    config.check = false;
    let mut c = Cluster::new(config, 1).map_err(|e| e.to_string())?;
    while c.leader().is_none() {
        c.step().map_err(|e| e.to_string())?;
    }
    let start_tick = c.now();
    let n = usize::try_from(clients).map_err(|e| e.to_string())?;
    let mut seq = vec![0u64; n];
    let mut outstanding = vec![false; n];
    let mut committed = 0u64;
    let t0 = clock();
    while c.now() - start_tick < VIRTUAL_MS {
        let leader = c.leader().ok_or("no faults, yet the leader was lost")?;
        for (i, busy) in outstanding.iter_mut().enumerate() {
            if !*busy {
                seq[i] += 1;
                *busy = true;
                c.client_send(
                    leader,
                    ClientRequest {
                        client: i as u64 + 1,
                        seq: seq[i],
                        op: ClientOp::Write(KvOp::Put {
                            key: format!("k{}", seq[i] % 100).into_bytes(),
                            value: seq[i].to_le_bytes().to_vec(),
                        }),
                    },
                );
            }
        }
        c.step().map_err(|e| e.to_string())?;
        for r in c.take_client_replies() {
            let i = usize::try_from(r.client - 1).map_err(|e| e.to_string())?;
            if r.seq == seq[i] && matches!(r.result, ClientResult::Done(_)) {
                outstanding[i] = false;
                committed += 1;
            }
        }
    }
    let wall_s = clock() - t0;
    #[allow(clippy::cast_precision_loss)]
    let committed = committed as f64;
    Ok(Row {
        clients,
        per_virtual_s: committed / (VIRTUAL_MS as f64 / 1000.0),
        per_wall_s: committed / wall_s,
        wall_s,
    })
}

/// The markdown table for 1, 8 and 64 clients.
pub fn report(host: &str, clock: Clock<'_>) -> Result<String, String> {
    let mut out = format!(
        "5-node Raft cluster on the simulator, {host}, 10 s of virtual time per row\n\n| clients | committed puts per virtual s | committed puts per wall s | wall s |\n|---:|---:|---:|---:|\n"
    );
    for clients in [1, 8, 64] {
        let r = measure(clients, clock)?;
        out += &format!(
            "| {} | {} | {} | {:.2} |\n",
            r.clients,
            crate::thousands(r.per_virtual_s),
            crate::thousands(r.per_wall_s),
            r.wall_s
        );
    }
    Ok(out)
}
