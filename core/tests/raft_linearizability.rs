//! Linearizability of the replicated key-value store under faults, checked by a published
//! checker: `todc-utils`' WGL checker (Wing & Gong, with Lowe's memoization), not one
//! written here.
//!
//! Each seed fixes the cluster (3 or 5 nodes), the network (latency, spikes that reorder,
//! loss, duplication), the disks (some with slow syncs now and then, so crashes find
//! writes in flight), whether snapshots are taken, whether servers are added and removed
//! (one at a time), the fault schedule and the workload. Clients issue put, get and compare-and-set on a few keys, one operation at a
//! time each; a request unanswered for a while is retried (same session sequence number,
//! so a write is applied once) at another server, and after a deadline abandoned:
//! a write then counts as *unknown* (it may or may not have happened; its response goes
//! at the end of the history, as Jepsen does) and a read is dropped (it had no effect).
//!
//! * **Safety phase**: crashes (with the disks' crash semantics: torn in-flight writes),
//!   restarts, arbitrary partitions (two random groups, or single directed links), loss
//!   and duplication, membership changes, while the invariant checkers of `raft::check`
//!   run after every step.
//! * **Liveness phase**: the faults heal (every node restarted, no partition, no loss);
//!   the cluster must elect a leader, commit a write of a fresh client, and converge:
//!   every voter's commit index and state machine identical (a server removed from the
//!   configuration, or added but never admitted, receives nothing and is not counted).
//! * Then the history of each key is checked with `WGLChecker`.
//!
//! Seeds: 3,000 in the normal run (about 15 s in a debug build, the core at opt-level 2);
//! more with
//! `LOGSPINE_SEEDS=20000 cargo test --release -p logspine-core --test raft_linearizability`;
//! one replayed with `LOGSPINE_SEED=N cargo test -p logspine-core --test raft_linearizability`.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::collections::BTreeMap;

use logspine_core::raft::kv::{KvOp, KvResponse};
use logspine_core::raft::sim::{
    ClientOp, ClientRequest, ClientResult, Cluster, ClusterConfig, NetConfig, SimError,
};
use logspine_core::raft::RaftConfig;
use logspine_core::{Rng, SimDiskConfig, SyncLatency};
use todc_utils::linearizability::history::{Action, History};
use todc_utils::{Specification, WGLChecker};

/// One key as a register of `u32` values (absent = `None`), for the checker.
#[derive(Clone, Debug)]
enum RegOp {
    Get(Option<u32>),
    Put(u32),
    /// `swapped: None` is unknown (abandoned).
    Cas {
        expected: u32,
        new: u32,
        swapped: Option<bool>,
    },
}

struct RegSpec;

impl Specification for RegSpec {
    type State = Option<u32>;
    type Operation = RegOp;

    fn init() -> Self::State {
        None
    }

    fn apply(op: &RegOp, state: &Option<u32>) -> (bool, Option<u32>) {
        match op {
            RegOp::Get(v) => (v == state, *state),
            RegOp::Put(v) => (true, Some(*v)),
            RegOp::Cas {
                expected,
                new,
                swapped,
            } => {
                let matches = *state == Some(*expected);
                match swapped {
                    Some(true) => (matches, if matches { Some(*new) } else { *state }),
                    Some(false) => (!matches, *state),
                    None => (true, if matches { Some(*new) } else { *state }),
                }
            }
        }
    }
}

#[derive(Clone, Debug)]
struct Pending {
    seq: u64,
    key: u32,
    op: RegOp,
    invoked_at: u64,
    sent_at: u64,
    target: u64,
    /// Index of the call in the key's history.
    call_at: usize,
}

#[derive(Debug)]
struct Client {
    id: u64,
    process: usize,
    seq: u64,
    pending: Option<Pending>,
    next_at: u64,
    leader_guess: u64,
}

type Hist = Vec<Option<(usize, Action<RegOp>)>>;

#[derive(Default, Debug, Clone, Copy)]
struct Coverage {
    ok: u64,
    unknown: u64,
    reads: u64,
    cas_swapped: u64,
    crashes: u64,
    partitions: u64,
    snapshots: u64,
    elections: u64,
    config_changes: u64,
}

const RETRY_TICKS: u64 = 80;
const GIVE_UP_TICKS: u64 = 700;

fn key_bytes(k: u32) -> Vec<u8> {
    format!("k{k}").into_bytes()
}

fn value_of(b: &[u8]) -> Result<u32, String> {
    Ok(u32::from_le_bytes(
        b.try_into()
            .map_err(|_| format!("value of {} bytes", b.len()))?,
    ))
}

fn request(client: u64, p: &Pending) -> ClientRequest {
    let key = key_bytes(p.key);
    let op = match &p.op {
        RegOp::Get(_) => ClientOp::Get { key },
        RegOp::Put(v) => ClientOp::Write(KvOp::Put {
            key,
            value: v.to_le_bytes().to_vec(),
        }),
        RegOp::Cas { expected, new, .. } => ClientOp::Write(KvOp::Cas {
            key,
            expected: Some(expected.to_le_bytes().to_vec()),
            value: new.to_le_bytes().to_vec(),
        }),
    };
    ClientRequest {
        client,
        seq: p.seq,
        op,
    }
}

fn run_seed(seed: u64, cov: &mut Coverage) -> Result<(), String> {
    let mut rng = Rng::new(seed ^ 0x5EED_0F11_A7E5);
    let nodes = if rng.below(3) == 0 { 5 } else { 3 };
    // A third of the seeds also add and remove servers, one at a time (thesis ch. 4).
    // Those need check-quorum: without it a removed server that missed its removal can
    // disrupt the cluster forever (thesis §4.2.3), a liveness matter.
    let membership = rng.below(3) == 0;
    let latency_max = 1 + rng.below(12);
    let net = NetConfig {
        latency_min: 1,
        latency_max,
        spike_per_million: [0, 20_000, 100_000][rng.index(3)],
        spike_max: 60,
        loss_per_million: [0, 10_000, 50_000][rng.index(3)],
        dup_per_million: [0, 10_000, 30_000][rng.index(3)],
    };
    let config = ClusterConfig {
        nodes,
        raft: RaftConfig {
            max_entries_per_message: 1 + rng.below(16),
            snapshot_chunk_bytes: 16 + rng.below(200),
            segment_bytes: [256, 1024, 16 * 1024][rng.index(3)],
            pre_vote: rng.below(4) != 0,
            check_quorum: membership || rng.below(4) != 0,
            ..RaftConfig::new(1, Vec::new())
        },
        disk: SimDiskConfig {
            sync_latency: if rng.below(2) == 0 {
                SyncLatency::Uniform {
                    min: 1,
                    max: 1 + rng.below(8),
                }
            } else {
                // Slow syncs now and then: wide windows in which a crash loses writes.
                SyncLatency::Spiky {
                    fast: (1, 8),
                    slow: (20, 150),
                    slow_per_million: 50_000,
                }
            },
            sector_bytes: [64, 512][rng.index(2)],
            ..SimDiskConfig::default()
        },
        net,
        snapshot_every: [0, 0, 10, 40][rng.index(4)],
        trace: std::env::var("RAFT_TRACE").is_ok(),
        check: true,
    };
    let mut cluster = Cluster::new(config, seed).map_err(|e| e.to_string())?;
    let keys = 1 + u32::try_from(rng.below(3)).expect("small");
    let mut hist: Vec<Hist> = (0..keys).map(|_| Vec::new()).collect();
    let mut unknown: Vec<Vec<(usize, Action<RegOp>)>> = (0..keys).map(|_| Vec::new()).collect();
    let mut next_process = 0usize;
    let mut clients: Vec<Client> = (0..4)
        .map(|i| {
            next_process += 1;
            Client {
                id: 100 + i,
                process: next_process - 1,
                seq: 0,
                pending: None,
                next_at: 0,
                leader_guess: 1 + rng.below(nodes),
            }
        })
        .collect();
    let mut next_value = 1u32;
    let mut last_seen: BTreeMap<u32, u32> = BTreeMap::new();
    let fault_ticks = 2500 + rng.below(1500);
    let max_down = if membership { 1 } else { (nodes - 1) / 2 };
    let mut ids: Vec<u64> = (1..=nodes).collect();
    let mut next_id = nodes + 1;
    let mut next_fault = 100 + rng.below(300);
    let step = |c: &mut Cluster| -> Result<(), String> {
        c.step().map_err(|e| match e {
            SimError::Violation { .. } => format!("invariant: {e}"),
            e => e.to_string(),
        })
    };

    // Safety phase (clients and faults), then the liveness phase (clients finish).
    let mut healed_at = None;
    let deadline = fault_ticks + 6000;
    while cluster.now() < deadline {
        let now = cluster.now();
        if now >= fault_ticks && healed_at.is_none() {
            cluster.heal();
            cluster.set_network(NetConfig::reliable(1, latency_max));
            for &id in &ids {
                if !cluster.is_up(id) {
                    cluster.restart(id).map_err(|e| e.to_string())?;
                }
            }
            healed_at = Some(now);
        }
        if healed_at.is_none() && now >= next_fault {
            next_fault = now + 50 + rng.below(400);
            let down: Vec<u64> = ids
                .iter()
                .copied()
                .filter(|id| !cluster.is_up(*id))
                .collect();
            let voters: Vec<u64> = cluster
                .leader()
                .and_then(|l| cluster.server(l)?.node())
                .map(|n| n.voters().to_vec())
                .unwrap_or_default();
            match rng.below(if membership { 8 } else { 6 }) {
                0 | 1 if (down.len() as u64) < max_down => {
                    let id = ids[rng.index(ids.len())];
                    cluster.crash(id);
                    cov.crashes += 1;
                }
                0..=2 if !down.is_empty() => {
                    let id = down[rng.index(down.len())];
                    cluster.restart(id).map_err(|e| e.to_string())?;
                }
                3 => {
                    let mut groups = vec![Vec::new(), Vec::new()];
                    for &id in &ids {
                        groups[rng.index(2)].push(id);
                    }
                    cluster.set_partition(&groups);
                    cov.partitions += 1;
                }
                4 => {
                    let a = ids[rng.index(ids.len())];
                    let b = ids[rng.index(ids.len())];
                    if a != b {
                        cluster.block(a, b);
                        cov.partitions += 1;
                    }
                }
                6 if !voters.is_empty() && voters.len() < 5 => {
                    cluster.add_server(next_id).map_err(|e| e.to_string())?;
                    ids.push(next_id);
                    let mut new = voters.clone();
                    new.push(next_id);
                    next_id += 1;
                    match cluster.propose_config(new) {
                        Ok(_) => cov.config_changes += 1,
                        Err(SimError::Raft { .. }) => {} // refused: one change at a time
                        Err(e) => return Err(e.to_string()),
                    }
                }
                7 if voters.len() > 3 => {
                    let gone = voters[rng.index(voters.len())];
                    let new: Vec<u64> = voters.iter().copied().filter(|v| *v != gone).collect();
                    match cluster.propose_config(new) {
                        Ok(_) => cov.config_changes += 1,
                        Err(SimError::Raft { .. }) => {}
                        Err(e) => return Err(e.to_string()),
                    }
                }
                _ => cluster.heal(),
            }
        }
        // Clients.
        for c in clients.iter_mut() {
            if let Some(p) = c.pending.as_mut() {
                if now - p.invoked_at >= GIVE_UP_TICKS {
                    let p = c.pending.take().expect("some");
                    let key = p.key as usize;
                    match p.op {
                        RegOp::Get(_) => hist[key][p.call_at] = None,
                        op => {
                            let op = match op {
                                RegOp::Cas { expected, new, .. } => RegOp::Cas {
                                    expected,
                                    new,
                                    swapped: None,
                                },
                                op => op,
                            };
                            unknown[key].push((c.process, Action::Response(op)));
                            cov.unknown += 1;
                            // The abandoned call may still complete: later calls of
                            // this client belong to a new process in the history.
                            c.process = next_process;
                            next_process += 1;
                        }
                    }
                    c.next_at = now + rng.below(30);
                } else if now - p.sent_at >= RETRY_TICKS {
                    p.target = ids[rng.index(ids.len())];
                    p.sent_at = now;
                    let req = request(c.id, p);
                    cluster.client_send(p.target, req);
                }
                continue;
            }
            if healed_at.is_some() || now < c.next_at {
                continue;
            }
            let key = u32::try_from(rng.below(u64::from(keys))).expect("small");
            let op = match rng.below(10) {
                0..=3 => RegOp::Get(None),
                4..=6 => {
                    next_value += 1;
                    RegOp::Put(next_value)
                }
                _ => {
                    next_value += 1;
                    RegOp::Cas {
                        expected: last_seen.get(&key).copied().unwrap_or(next_value - 2),
                        new: next_value,
                        swapped: None,
                    }
                }
            };
            c.seq += 1;
            hist[key as usize].push(Some((c.process, Action::Call(op.clone()))));
            let p = Pending {
                seq: c.seq,
                key,
                op,
                invoked_at: now,
                sent_at: now,
                target: c.leader_guess,
                call_at: hist[key as usize].len() - 1,
            };
            cluster.client_send(p.target, request(c.id, &p));
            c.pending = Some(p);
        }
        let r = step(&mut cluster);
        for ev in cluster.take_trace() {
            if !matches!(
                ev.kind,
                logspine_core::raft::sim::TraceKind::Delivered { .. }
            ) {
                eprintln!("{ev:?}");
            }
        }
        r?;
        for reply in cluster.take_client_replies() {
            let Some(c) = clients.iter_mut().find(|c| c.id == reply.client) else {
                continue;
            };
            let Some(p) = c.pending.as_mut().filter(|p| p.seq == reply.seq) else {
                continue;
            };
            let key = p.key;
            let response = match (&p.op, reply.result) {
                (_, ClientResult::NotLeader(hint)) => {
                    let next = hint
                        .filter(|h| *h != p.target)
                        .unwrap_or(ids[rng.index(ids.len())]);
                    c.leader_guess = next;
                    p.target = next;
                    p.sent_at = cluster.now();
                    let req = request(c.id, p);
                    cluster.client_send(next, req);
                    continue;
                }
                (RegOp::Get(_), ClientResult::Value(v)) => {
                    let v = v.as_deref().map(value_of).transpose()?;
                    if let Some(v) = v {
                        last_seen.insert(key, v);
                    }
                    cov.reads += 1;
                    RegOp::Get(v)
                }
                (RegOp::Put(v), ClientResult::Done(KvResponse::PutDone)) => RegOp::Put(*v),
                (
                    RegOp::Cas { expected, new, .. },
                    ClientResult::Done(KvResponse::Cas { swapped }),
                ) => {
                    cov.cas_swapped += u64::from(swapped);
                    RegOp::Cas {
                        expected: *expected,
                        new: *new,
                        swapped: Some(swapped),
                    }
                }
                (op, r) => return Err(format!("reply {r:?} to {op:?}")),
            };
            c.leader_guess = reply.from;
            hist[key as usize].push(Some((c.process, Action::Response(response))));
            cov.ok += 1;
            c.pending = None;
            c.next_at = cluster.now() + rng.below(40);
        }
        if healed_at.is_some() && clients.iter().all(|c| c.pending.is_none()) {
            break;
        }
    }
    if clients.iter().any(|c| c.pending.is_some()) {
        return Err("clients still waiting at the deadline".into());
    }

    // Liveness: a fresh write commits and every node converges.
    let heal_start = cluster.now();
    let probe_client = 999;
    let mut probe_done = false;
    let mut target = 1;
    let mut sent_at = 0;
    loop {
        if cluster.now() - heal_start > 8000 {
            let states: Vec<String> = cluster
                .servers()
                .values()
                .map(|s| {
                    let n = s.node().expect("up");
                    format!(
                        "node {} {:?} term {} commit {} last {} applied {}",
                        s.id(),
                        n.role(),
                        n.term(),
                        n.commit_index(),
                        n.last_index(),
                        s.kv().applied()
                    )
                })
                .collect();
            return Err(format!(
                "no convergence 8000 ticks after healing (probe done: {probe_done}): {states:?}"
            ));
        }
        if !probe_done && cluster.now() >= sent_at + RETRY_TICKS {
            target = cluster.leader().unwrap_or(1 + (target % nodes));
            sent_at = cluster.now();
            cluster.client_send(
                target,
                ClientRequest {
                    client: probe_client,
                    seq: 1,
                    op: ClientOp::Write(KvOp::Put {
                        key: b"probe".to_vec(),
                        value: vec![1],
                    }),
                },
            );
        }
        step(&mut cluster)?;
        for r in cluster.take_client_replies() {
            if r.client == probe_client && matches!(r.result, ClientResult::Done(_)) {
                probe_done = true;
            }
        }
        if probe_done {
            // Every voter of the leader's configuration (servers removed, or added but
            // never admitted, receive nothing any more).
            let voters: Vec<u64> = cluster
                .leader()
                .and_then(|l| cluster.server(l)?.node())
                .map(|n| n.voters().to_vec())
                .unwrap_or_default();
            let servers: Vec<_> = voters.iter().filter_map(|v| cluster.server(*v)).collect();
            let converged = !servers.is_empty()
                && servers.iter().all(|s| {
                    let first = servers[0].node().expect("up");
                    let n = s.node().expect("up");
                    n.commit_index() == first.commit_index()
                        && n.last_index() == n.commit_index()
                        && s.kv() == servers[0].kv()
                });
            if converged {
                break;
            }
        }
    }
    cov.elections += cluster
        .servers()
        .values()
        .map(|s| s.node().map_or(0, |n| n.term()))
        .max()
        .unwrap_or(0);
    cov.snapshots += cluster
        .servers()
        .values()
        .map(|s| s.node().map_or(0, |n| n.snapshot_index()))
        .sum::<u64>();

    // The history of each key, checked by the published WGL checker.
    for k in 0..keys as usize {
        let mut actions: Vec<(usize, Action<RegOp>)> = hist[k].iter().flatten().cloned().collect();
        actions.extend(unknown[k].iter().cloned());
        if actions.is_empty() {
            continue;
        }
        let n = actions.len();
        if !WGLChecker::<RegSpec>::is_linearizable(History::from_actions(actions.clone())) {
            return Err(format!(
                "history of key {k} ({n} actions) is not linearizable: {actions:?}"
            ));
        }
    }
    Ok(())
}

#[test]
fn raft_kv_is_linearizable_under_faults_and_converges_after() {
    let mut cov = Coverage::default();
    let seeds = common::for_each_seed(
        "raft_linearizability",
        "raft_kv_is_linearizable_under_faults_and_converges_after",
        3000,
        |seed| run_seed(seed, &mut cov),
    );
    eprintln!("coverage: {cov:?}");
    if let Some(seeds) = seeds {
        assert!(
            cov.ok > seeds * 100,
            "too few completed operations: {cov:?}"
        );
        assert!(
            cov.unknown > 0 && cov.crashes > seeds && cov.partitions > seeds,
            "{cov:?}"
        );
        assert!(cov.reads > seeds * 20 && cov.cas_swapped > seeds, "{cov:?}");
        assert!(
            cov.snapshots > 0 && cov.config_changes > seeds / 10,
            "{cov:?}"
        );
    }
}

/// The checker does catch a stale read: a history where a read returns an overwritten
/// value after the overwrite completed (so the test above could fail).
#[test]
fn the_checker_rejects_a_stale_read() {
    let h = History::from_actions(vec![
        (0, Action::Call(RegOp::Put(1))),
        (0, Action::Response(RegOp::Put(1))),
        (0, Action::Call(RegOp::Put(2))),
        (0, Action::Response(RegOp::Put(2))),
        (1, Action::Call(RegOp::Get(None))),
        (1, Action::Response(RegOp::Get(Some(1)))),
    ]);
    assert!(!WGLChecker::<RegSpec>::is_linearizable(h));
    // An unknown CAS may take effect at any point after its call.
    let h = History::from_actions(vec![
        (0, Action::Call(RegOp::Put(1))),
        (0, Action::Response(RegOp::Put(1))),
        (
            1,
            Action::Call(RegOp::Cas {
                expected: 1,
                new: 5,
                swapped: None,
            }),
        ),
        (2, Action::Call(RegOp::Get(None))),
        (2, Action::Response(RegOp::Get(Some(5)))),
        (
            1,
            Action::Response(RegOp::Cas {
                expected: 1,
                new: 5,
                swapped: None,
            }),
        ),
    ]);
    assert!(WGLChecker::<RegSpec>::is_linearizable(h));
}
