//! The cluster simulator's scenarios: a follower catching up from the log and, once the
//! leader's log is compacted past it, by a snapshot sent in chunks; servers joining and
//! leaving one at a time; and the invariant checkers catching a broken assumption (a
//! disk that forgets), so a green run means something.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use logspine_core::raft::check::{
    ELECTION_SAFETY, LEADER_COMPLETENESS, LOG_MATCHING, STATE_MACHINE_SAFETY,
};
use logspine_core::raft::kv::KvOp;
use logspine_core::raft::sim::{
    ClientOp, ClientRequest, ClientResult, Cluster, ClusterConfig, SimError, TraceEvent, TraceKind,
};
use logspine_core::raft::{NodeEvent, RaftError, Role};

fn run_until(c: &mut Cluster, max: u64, mut done: impl FnMut(&Cluster) -> bool) {
    for _ in 0..max {
        if done(c) {
            return;
        }
        c.step().unwrap();
    }
    assert!(done(c), "not done after {max} ticks");
}

/// Writes `n` puts through whichever node leads, waiting for each.
fn write(c: &mut Cluster, client: u64, seqs: std::ops::Range<u64>) {
    for seq in seqs {
        let mut acked = false;
        for _attempt in 0..20 {
            let leader = c.leader().expect("a leader");
            c.client_send(
                leader,
                ClientRequest {
                    client,
                    seq,
                    op: ClientOp::Write(KvOp::Put {
                        key: format!("key{}", seq % 7).into_bytes(),
                        value: seq.to_le_bytes().to_vec(),
                    }),
                },
            );
            for _ in 0..100 {
                c.step().unwrap();
                if c.take_client_replies()
                    .iter()
                    .any(|r| r.seq == seq && matches!(r.result, ClientResult::Done(_)))
                {
                    acked = true;
                    break;
                }
            }
            if acked {
                break;
            }
        }
        assert!(acked, "write {seq} never acknowledged");
    }
}

fn all_equal(c: &Cluster, ids: &[u64]) -> bool {
    let kv = |id: u64| c.server(id).unwrap().kv().clone();
    let commit = |id: u64| c.server(id).unwrap().node().unwrap().commit_index();
    ids.iter()
        .all(|id| c.is_up(*id) && kv(*id) == kv(ids[0]) && commit(*id) == commit(ids[0]))
}

fn sent_to(trace: &[TraceEvent], to: u64, kind: &str) -> Vec<u64> {
    trace
        .iter()
        .filter_map(|e| match &e.kind {
            TraceKind::Sent { to: t, msg, .. } if *t == to && msg.kind == kind => Some(msg.entries),
            _ => None,
        })
        .collect()
}

#[test]
fn a_partitioned_follower_catches_up_from_the_log() {
    let mut cfg = ClusterConfig::new(3);
    cfg.trace = true;
    let mut c = Cluster::new(cfg, 21).unwrap();
    run_until(&mut c, 2000, |c| c.leader().is_some());
    let leader = c.leader().unwrap();
    let lagging = (1..=3).find(|i| *i != leader).unwrap();
    let rest: Vec<u64> = (1..=3).filter(|i| *i != lagging).collect();
    c.set_partition(&[rest, vec![lagging]]);
    write(&mut c, 1, 1..60);
    let behind = c.server(lagging).unwrap().node().unwrap().last_index();
    assert!(behind < 10, "the partitioned follower has {behind} entries");
    c.take_trace();
    c.heal();
    run_until(&mut c, 3000, |c| all_equal(c, &[1, 2, 3]));
    let trace = c.take_trace();
    let carried: u64 = sent_to(&trace, lagging, "AppendEntries").iter().sum();
    assert!(carried >= 50, "caught up with {carried} entries sent");
    assert!(sent_to(&trace, lagging, "InstallSnapshot").is_empty());
}

#[test]
fn a_follower_behind_the_compacted_log_gets_a_snapshot_in_chunks_then_the_log() {
    let mut cfg = ClusterConfig::new(3);
    cfg.trace = true;
    cfg.snapshot_every = 20;
    cfg.raft.snapshot_chunk_bytes = 48;
    let mut c = Cluster::new(cfg, 22).unwrap();
    run_until(&mut c, 2000, |c| c.leader().is_some());
    let leader = c.leader().unwrap();
    let lagging = (1..=3).find(|i| *i != leader).unwrap();
    c.crash(lagging);
    write(&mut c, 1, 1..80);
    let leader_node = c.server(c.leader().unwrap()).unwrap().node().unwrap();
    assert!(leader_node.snapshot_index() >= 60);
    assert!(
        leader_node.first_log_index() > 2,
        "the leader's log was trimmed behind its snapshot"
    );
    c.take_trace();
    c.restart(lagging).unwrap();
    run_until(&mut c, 3000, |c| all_equal(c, &[1, 2, 3]));
    let trace = c.take_trace();
    let chunks = sent_to(&trace, lagging, "InstallSnapshot");
    assert!(
        chunks.len() >= 3,
        "snapshot sent in {} chunks",
        chunks.len()
    );
    assert!(chunks.iter().all(|bytes| *bytes <= 48));
    assert!(trace.iter().any(|e| matches!(
        e.kind,
        TraceKind::Node { node, event: NodeEvent::SnapshotInstalled { .. } } if node == lagging
    )));
    // More writes reach it through the log again.
    write(&mut c, 1, 80..90);
    run_until(&mut c, 3000, |c| all_equal(c, &[1, 2, 3]));
    let trace = c.take_trace();
    assert!(
        sent_to(&trace, lagging, "AppendEntries")
            .iter()
            .sum::<u64>()
            >= 10
    );
    // And it survives a crash: it restarts from its own snapshot and log.
    c.crash(lagging);
    c.restart(lagging).unwrap();
    let n = c.server(lagging).unwrap().node().unwrap();
    assert!(n.snapshot_index() >= 60 && n.last_index() >= 90);
    run_until(&mut c, 3000, |c| all_equal(c, &[1, 2, 3]));
}

#[test]
fn servers_join_and_leave_one_at_a_time() {
    let mut c = Cluster::new(ClusterConfig::new(3), 23).unwrap();
    run_until(&mut c, 2000, |c| c.leader().is_some());
    write(&mut c, 1, 1..20);
    // A change of two servers at once is refused.
    let err = c.propose_config(vec![1, 2, 3, 4, 5]).unwrap_err();
    assert!(matches!(
        err,
        SimError::Raft {
            error: RaftError::ConfigChangeRefused(_),
            ..
        }
    ));
    for new in [4, 5] {
        c.add_server(new).unwrap();
        let mut voters: Vec<u64> = (1..new).collect();
        voters.push(new);
        c.propose_config(voters.clone()).unwrap();
        let all: Vec<u64> = (1..=new).collect();
        run_until(&mut c, 3000, |c| all_equal(c, &all));
        let n = c.server(new).unwrap().node().unwrap();
        assert_eq!(n.voters(), voters.as_slice());
        write(&mut c, 1, new * 100..new * 100 + 5);
    }
    // Remove the leader itself: it commits the change, steps down, and the other four
    // elect a leader among themselves.
    let old = c.leader().unwrap();
    let rest: Vec<u64> = (1..=5).filter(|i| *i != old).collect();
    c.propose_config(rest.clone()).unwrap();
    run_until(&mut c, 3000, |c| c.leader().is_some_and(|l| l != old));
    write(&mut c, 1, 600..610);
    run_until(&mut c, 3000, |c| all_equal(c, &rest));
    // The removed server never campaigns again, whatever time passes.
    c.run(2000).unwrap();
    let removed = c.server(old).unwrap().node().unwrap();
    assert_ne!(removed.role(), Role::Leader);
    assert!(!removed.voters().contains(&old));
}

#[test]
fn the_checkers_catch_servers_that_forget_their_disks() {
    let mut c = Cluster::new(ClusterConfig::new(3), 24).unwrap();
    run_until(&mut c, 2000, |c| c.leader().is_some());
    write(&mut c, 1, 1..20);
    let leader = c.leader().unwrap();
    // Two servers lose their disks (Raft assumes stable storage) and the leader dies:
    // the amnesiacs form a majority with no memory of the committed entries.
    for id in (1..=3).filter(|i| *i != leader) {
        c.crash(id);
        c.wipe_disk(id).unwrap();
        c.restart(id).unwrap();
    }
    c.crash(leader);
    let mut violation = None;
    for _ in 0..5000 {
        match c.step() {
            Ok(()) => {}
            Err(SimError::Violation { violation: v, .. }) => {
                violation = Some(v);
                break;
            }
            Err(e) => panic!("{e}"),
        }
        if c.leader().is_some() {
            // Give the new leader something to commit over the old entries.
            let l = c.leader().unwrap();
            c.client_send(
                l,
                ClientRequest {
                    client: 2,
                    seq: 1,
                    op: ClientOp::Write(KvOp::Put {
                        key: b"x".to_vec(),
                        value: b"y".to_vec(),
                    }),
                },
            );
        }
    }
    let v = violation.expect("no checker noticed");
    assert!(
        [
            ELECTION_SAFETY,
            LEADER_COMPLETENESS,
            LOG_MATCHING,
            STATE_MACHINE_SAFETY
        ]
        .contains(&v.property),
        "{v}"
    );
}

#[test]
fn the_trace_names_every_kind_of_step() {
    let mut cfg = ClusterConfig::new(3);
    cfg.trace = true;
    cfg.snapshot_every = 10;
    let mut c = Cluster::new(cfg, 25).unwrap();
    run_until(&mut c, 2000, |c| c.leader().is_some());
    write(&mut c, 1, 1..15);
    let leader = c.leader().unwrap();
    c.crash(leader);
    c.run(1500).unwrap();
    c.restart(leader).unwrap();
    c.run(1000).unwrap();
    let trace = c.take_trace();
    let has = |f: &dyn Fn(&TraceKind) -> bool| trace.iter().any(|e| f(&e.kind));
    for kind in [
        "PreVote",
        "RequestVote",
        "RequestVoteResponse",
        "AppendEntries",
        "AppendEntriesResponse",
    ] {
        assert!(
            has(&|k| matches!(k, TraceKind::Sent { msg, .. } if msg.kind == kind)),
            "{kind}"
        );
    }
    assert!(has(&|k| matches!(
        k,
        TraceKind::Node {
            event: NodeEvent::VoteGranted { .. },
            ..
        }
    )));
    assert!(has(&|k| matches!(
        k,
        TraceKind::Node {
            event: NodeEvent::RoleChanged {
                role: Role::Leader,
                ..
            },
            ..
        }
    )));
    assert!(has(&|k| matches!(
        k,
        TraceKind::Node {
            event: NodeEvent::Committed { .. },
            ..
        }
    )));
    assert!(has(&|k| matches!(
        k,
        TraceKind::Node {
            event: NodeEvent::SnapshotTaken { .. },
            ..
        }
    )));
    assert!(has(&|k| matches!(k, TraceKind::Crashed { .. })));
    assert!(has(&|k| matches!(k, TraceKind::Restarted { .. })));
    // Virtual time in the trace never goes backwards.
    assert!(trace.windows(2).all(|w| w[0].at <= w[1].at));
}
