//! The Raft paper's election-time experiment (Ongaro & Ousterhout 2014, §9.3, Figure 16),
//! on the simulated cluster.
//!
//! Five servers; a broadcast (RequestVote out, the voter's sync of its vote, the answer
//! back) takes about 15 ms: one-way network latency uniform in 0.5–1.5 ms and disks that
//! sync in 12–14 ms (as in the paper's setting, the time is the disk's, so a RequestVote
//! reaches the other servers within a millisecond or so of the candidate's timeout; the
//! candidate syncs its own vote in parallel). No pre-vote and no check-quorum (the
//! paper's Raft has neither); heartbeats every half the minimum election timeout. For
//! each election-timeout range, the leader is crashed at a uniformly random point of its
//! heartbeat interval, `trials` times, and the time until a new leader is elected is
//! measured. After each trial the old leader restarts and the cluster settles before the
//! next crash. One tick is 0.1 ms of virtual time; an election still undecided after
//! 10 s counts as "≥ 10 s" (the paper: "consistently took longer than 10 seconds").
//!
//! ```text
//! cargo run -p logspine-core --example raft_election_time            # 1,000 trials each
//! cargo run -p logspine-core --example raft_election_time -- 200 7   # trials, seed
//! ```

use logspine_core::raft::sim::{Cluster, ClusterConfig, NetConfig};
use logspine_core::raft::{RaftConfig, Role};
use logspine_core::{SimDiskConfig, SyncLatency};

/// Ticks per virtual millisecond: timers at 0.1 ms resolution, so a 1 ms range of
/// timeouts still holds ten distinct values (real timers are finer still).
const TICKS_PER_MS: u64 = 10;
/// Give up on one election after this long (virtual ms): the paper reports "> 10 s".
const CAP_MS: u64 = 10_000;

struct Outcome {
    /// Milliseconds from the crash to a new leader, per trial (`CAP_MS` if none).
    times: Vec<u64>,
}

fn cluster(min: u64, max: u64, seed: u64) -> Cluster {
    let config = ClusterConfig {
        nodes: 5,
        raft: RaftConfig {
            election_timeout_min_ticks: min * TICKS_PER_MS,
            election_timeout_max_ticks: max * TICKS_PER_MS,
            heartbeat_ticks: min * TICKS_PER_MS / 2,
            pre_vote: false,
            check_quorum: false,
            ..RaftConfig::new(1, Vec::new())
        },
        disk: SimDiskConfig {
            sync_latency: SyncLatency::Uniform {
                min: 12 * TICKS_PER_MS,
                max: 14 * TICKS_PER_MS,
            },
            ..SimDiskConfig::default()
        },
        net: NetConfig::reliable(TICKS_PER_MS / 2, 3 * TICKS_PER_MS / 2),
        snapshot_every: 0,
        trace: false,
        check: true,
    };
    Cluster::new(config, seed).expect("a valid configuration")
}

/// Everyone follows one live leader that has committed an entry of its term.
fn settled(c: &Cluster) -> Option<u64> {
    let leader = c.leader()?;
    let l = c.server(leader)?.node()?;
    let term = l.term();
    let ok = l.term_at(l.commit_index()) == Some(term)
        && c.servers().values().all(|s| {
            s.node()
                .is_some_and(|n| n.term() == term && n.leader() == Some(leader))
        });
    ok.then_some(leader)
}

/// A cluster whose servers boot at random points of one timeout: booted on one tick with
/// no randomness in their timeouts, they would split the vote forever.
fn booted(min: u64, max: u64, seed: u64) -> Cluster {
    let mut c = cluster(min, max, seed);
    for id in 1..=5 {
        c.crash(id);
    }
    let mut boot: Vec<(u64, u64)> = (1..=5)
        .map(|id| (c.rng().below(max * TICKS_PER_MS), id))
        .collect();
    boot.sort_unstable();
    for (at, id) in boot {
        c.run(at.saturating_sub(c.now())).expect("simulation step");
        c.restart(id).expect("restart");
    }
    c
}

fn run(min: u64, max: u64, trials: u64, seed: u64) -> Outcome {
    let mut c = booted(min, max, seed);
    let mut times = Vec::new();
    let mut rebuilds = 0;
    while (times.len() as u64) < trials {
        // Settle. After a trial that split the vote until the cap, the survivors may be in
        // lockstep for good (timeouts without randomness never drift apart): start over
        // with freshly booted servers.
        let mut leader = None;
        for _ in 0..5 * max * TICKS_PER_MS {
            if let Some(l) = settled(&c) {
                leader = Some(l);
                break;
            }
            c.step().expect("simulation step");
        }
        let Some(leader) = leader else {
            rebuilds += 1;
            c = booted(min, max, seed.wrapping_add(rebuilds));
            continue;
        };
        let old_term = c.server(leader).unwrap().node().unwrap().term();
        // Crash at a uniformly random point of the heartbeat interval.
        let heartbeat = c.config().raft.heartbeat_ticks;
        let wait = c.rng().below(heartbeat);
        c.run(wait).expect("simulation step");
        if c.leader() != Some(leader) {
            continue;
        }
        c.crash(leader);
        let mut elapsed = CAP_MS;
        for t in 1..=CAP_MS * TICKS_PER_MS {
            c.step().expect("simulation step");
            let new = c.servers().values().any(|s| {
                s.node()
                    .is_some_and(|n| n.role() == Role::Leader && n.term() > old_term)
            });
            if new {
                elapsed = t / TICKS_PER_MS;
                break;
            }
        }
        times.push(elapsed);
        c.restart(leader).expect("restart");
    }
    Outcome { times }
}

fn percentile(sorted: &[u64], p: usize) -> u64 {
    // Nearest rank, in integers: p is given in thousandths.
    let i = (sorted.len() - 1) * p / 1000;
    sorted[i]
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let trials = args.first().copied().unwrap_or(1000);
    let seed = args.get(1).copied().unwrap_or(1);
    println!(
        "Raft §9.3 / Figure 16 on the simulator: 5 servers, ~15 ms broadcast, {trials} leader crashes per row (seed {seed})\n"
    );
    println!(
        "| election timeout | min | median | mean | p90 | p99 | max | ≥ 1 s | ≥ 10 s | paper |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let paper = [
        "no randomness: consistently > 10 s (split votes)",
        "",
        "median 287 ms",
        "",
        "worst of 1,000: 513 ms",
        "",
        "mean 35 ms, worst 152 ms",
    ];
    let rows = [
        (150, 150),
        (150, 151),
        (150, 155),
        (150, 175),
        (150, 200),
        (150, 300),
        (12, 24),
    ];
    for (i, (min, max)) in rows.into_iter().enumerate() {
        let mut t = run(min, max, trials, seed).times;
        t.sort_unstable();
        let mean = t.iter().sum::<u64>() as f64 / t.len() as f64;
        let over = |ms: u64| t.iter().filter(|x| **x >= ms).count();
        let fmt = |ms: u64| {
            if ms >= CAP_MS {
                format!("≥ {} s", CAP_MS / 1000)
            } else {
                format!("{ms}")
            }
        };
        println!(
            "| {min}–{max} ms | {} | {} | {mean:.0} | {} | {} | {} | {} | {} | {} |",
            fmt(t[0]),
            fmt(percentile(&t, 500)),
            fmt(percentile(&t, 900)),
            fmt(percentile(&t, 990)),
            fmt(*t.last().unwrap()),
            over(1000),
            over(10_000),
            paper[i]
        );
    }
}
