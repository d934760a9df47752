//! Simulated throughput of a five-node Raft cluster: committed entries per second of
//! virtual time, and how many the simulator gets through per second of wall time.
//!
//! `clients` clients each keep one put outstanding at the leader (1 ms one-way latency,
//! 1–3 ms disk syncs, no faults), for 10 s of virtual time (1 tick = 1 ms). The safety
//! checkers and `validate` are off: they are test-time costs (`validate` walks every log
//! every 16 ticks), not the simulator's.
//!
//! ```text
//! cargo run -p logspine-core --example raft_throughput            # 1, 8, 64 clients
//! cargo run -p logspine-core --example raft_throughput -- 16      # one row
//! ```

use std::time::Instant;

use logspine_core::raft::kv::KvOp;
use logspine_core::raft::sim::{
    ClientOp, ClientRequest, ClientResult, Cluster, ClusterConfig, NetConfig,
};

const VIRTUAL_MS: u64 = 10_000;

fn row(clients: u64) {
    let mut config = ClusterConfig::new(5);
    config.net = NetConfig::reliable(1, 1);
    config.check = false;
    let mut c = Cluster::new(config, 1).expect("valid");
    while c.leader().is_none() {
        c.step().expect("step");
    }
    let start_tick = c.now();
    let mut seq = vec![0u64; usize::try_from(clients).expect("fits")];
    let mut outstanding = vec![false; seq.len()];
    let mut committed = 0u64;
    let wall = Instant::now();
    while c.now() - start_tick < VIRTUAL_MS {
        let leader = c.leader().expect("no faults: the leader stays");
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
        c.step().expect("step");
        for r in c.take_client_replies() {
            let i = usize::try_from(r.client - 1).expect("fits");
            if r.seq == seq[i] && matches!(r.result, ClientResult::Done(_)) {
                outstanding[i] = false;
                committed += 1;
            }
        }
    }
    let secs = wall.elapsed().as_secs_f64();
    println!(
        "| {clients} | {:.0} | {:.0} | {:.2} |",
        committed as f64 / (VIRTUAL_MS as f64 / 1000.0),
        committed as f64 / secs,
        secs
    );
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    println!("5-node Raft cluster on the simulator, 10 s of virtual time per row\n");
    println!("| clients | committed puts per virtual s | committed puts per wall s | wall s |");
    println!("|---|---|---|---|");
    if args.is_empty() {
        for clients in [1, 8, 64] {
            row(clients);
        }
    } else {
        for clients in args {
            row(clients);
        }
    }
}
