//! One `RaftNode` (or a few, wired by hand) against the rules that must hold whatever the
//! timing: durability before speech, recovery from what was durable, fast backtracking,
//! pre-vote, leader step-down, randomized timeouts, read index.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use logspine_core::raft::hard_state::{write_hard_state, HardState, HardStateSlot};
use logspine_core::raft::sim::{Cluster, ClusterConfig};
use logspine_core::raft::{Entry, EntryKind, Message, RaftConfig, RaftError, RaftNode, Role};
use logspine_core::{SimDisk, SimDiskConfig, Storage, SyncLatency};

fn slow_disk(seed: u64) -> SimDisk {
    SimDisk::new(
        SimDiskConfig {
            sync_latency: SyncLatency::Fixed(10),
            ..SimDiskConfig::default()
        },
        seed,
    )
}

fn node(id: u64, disk: SimDisk) -> RaftNode<SimDisk> {
    RaftNode::open(disk, RaftConfig::new(id, vec![1, 2, 3]))
        .unwrap()
        .0
}

fn advance(n: &mut RaftNode<SimDisk>, ticks: u64) {
    n.storage_mut().advance(ticks);
    n.handle_storage().unwrap();
}

#[test]
fn a_vote_is_sent_only_once_it_is_durable_and_survives_a_crash_then() {
    let mut n = node(2, slow_disk(1));
    let vote = Message::RequestVote {
        term: 1,
        last_index: 0,
        last_term: 0,
    };
    n.handle_message(1, vote.clone()).unwrap();
    assert_eq!(n.vote(), Some(1));
    assert!(
        n.take_messages().is_empty(),
        "vote sent before its sync completed"
    );
    assert_eq!(n.held_messages(), 1);
    // Crash before the sync completes: the vote was never sent; the disk may keep a
    // prefix of the in-flight writes (term 1, then the vote), nothing else.
    let mut disk = n.into_storage();
    disk.crash();
    let (mut n, rec) = RaftNode::open(disk, RaftConfig::new(2, vec![1, 2, 3])).unwrap();
    assert!(
        [
            HardState::default(),
            HardState {
                term: 1,
                vote: None
            },
            HardState {
                term: 1,
                vote: Some(1)
            }
        ]
        .contains(&rec.hard_state),
        "{:?}",
        rec.hard_state
    );
    // Again, and this time the sync completes: the vote goes out, and survives a crash.
    n.handle_message(1, vote).unwrap();
    advance(&mut n, 9);
    assert!(n.take_messages().is_empty());
    advance(&mut n, 1);
    let out = n.take_messages();
    assert!(
        matches!(out.as_slice(), [e] if e.msg == Message::RequestVoteResponse { term: 1, granted: true }),
        "{out:?}"
    );
    let mut disk = n.into_storage();
    disk.crash();
    let (n, rec) = RaftNode::open(disk, RaftConfig::new(2, vec![1, 2, 3])).unwrap();
    assert_eq!(
        rec.hard_state,
        HardState {
            term: 1,
            vote: Some(1)
        }
    );
    assert_eq!(rec.hard_state_case, "H3");
    // A second candidate in the same term is refused.
    let mut n = n;
    n.handle_message(
        3,
        Message::RequestVote {
            term: 1,
            last_index: 5,
            last_term: 1,
        },
    )
    .unwrap();
    advance(&mut n, 20);
    let out = n.take_messages();
    assert!(
        matches!(out.as_slice(), [e] if e.msg == Message::RequestVoteResponse { term: 1, granted: false }),
        "{out:?}"
    );
}

fn entries(from: u64, terms: &[u64]) -> Vec<Entry> {
    terms
        .iter()
        .enumerate()
        .map(|(i, t)| Entry {
            index: from + i as u64,
            term: *t,
            kind: EntryKind::Command(vec![u8::try_from(i).unwrap(); 3]),
        })
        .collect()
}

fn append(term: u64, prev_index: u64, prev_term: u64, e: Vec<Entry>, commit: u64) -> Message {
    Message::AppendEntries {
        term,
        prev_index,
        prev_term,
        entries: e,
        commit,
        round: 0,
    }
}

#[test]
fn entries_are_acknowledged_only_once_durable_and_survive_a_crash_then() {
    let mut n = node(2, slow_disk(2));
    n.handle_message(1, append(1, 0, 0, entries(1, &[1, 1, 1]), 0))
        .unwrap();
    assert_eq!(n.last_index(), 3);
    assert!(n.take_messages().is_empty(), "ack before durable");
    // A crash now loses them (nothing was acknowledged).
    let mut lost = SimDisk::clone(n.storage());
    lost.crash();
    let (lost, _) = RaftNode::open(lost, RaftConfig::new(2, vec![1, 2, 3])).unwrap();
    assert!(lost.last_index() <= 3);
    advance(&mut n, 10);
    let out = n.take_messages();
    assert!(
        matches!(out.as_slice(), [e] if matches!(e.msg, Message::AppendEntriesResponse { success: true, match_index: 3, .. })),
        "{out:?}"
    );
    let mut disk = n.into_storage();
    disk.crash();
    let (n, rec) = RaftNode::open(disk, RaftConfig::new(2, vec![1, 2, 3])).unwrap();
    assert_eq!(n.last_index(), 3);
    assert_eq!(rec.log_range, (1, 3));
    assert_eq!(n.term(), 1);
    // The commit index is not persisted: it restarts at the snapshot (none).
    assert_eq!(n.commit_index(), 0);
}

#[test]
fn fast_backtracking_skips_a_whole_conflicting_term_per_round_trip() {
    // The follower holds 50 entries of term 2 that the leader (term 3) never had; the
    // leader has 60 entries of term 1 then 3.
    let mut f = node(2, SimDisk::new(SimDiskConfig::default(), 3));
    let mut t: Vec<u64> = vec![1; 10];
    t.extend([2; 50]);
    f.handle_message(1, append(2, 0, 0, entries(1, &t), 10))
        .unwrap();
    // Backtracking as a leader would: the follower's rejection names the term and its
    // first index, so one more round trip finds the match.
    f.handle_message(3, append(3, 60, 3, Vec::new(), 10))
        .unwrap();
    f.storage_mut().settle();
    f.handle_storage().unwrap();
    let out = f.take_messages();
    let reject = out
        .iter()
        .find_map(|e| match e.msg {
            Message::AppendEntriesResponse {
                success: false,
                conflict_index,
                conflict_term,
                ..
            } => Some((conflict_index, conflict_term)),
            _ => None,
        })
        .expect("a rejection");
    assert_eq!(reject, (11, Some(2)), "first index of the conflicting term");
    // The leader has no term-2 entry, so it jumps straight to index 11: one AppendEntries
    // with prev 10 (term 1) replaces all fifty.
    let mut lt: Vec<u64> = Vec::new();
    lt.extend([3; 50]);
    f.handle_message(3, append(3, 10, 1, entries(11, &lt), 60))
        .unwrap();
    assert_eq!(f.last_index(), 60);
    assert_eq!(f.term_at(11), Some(3));
    assert_eq!(f.term_at(60), Some(3));
    assert_eq!(f.commit_index(), 60);
    f.validate();
}

#[test]
fn recovery_refuses_a_log_without_a_valid_hard_state() {
    let mut n = node(2, SimDisk::new(SimDiskConfig::default(), 4));
    n.handle_message(1, append(1, 0, 0, entries(1, &[1, 1]), 0))
        .unwrap();
    let mut disk = n.into_storage();
    disk.settle();
    // Rot both hard-state slots.
    disk.flip_bit("raft-2-state", 8 * 20).unwrap();
    let slot = HardStateSlot {
        seq: 7,
        state: HardState {
            term: 1,
            vote: None,
        },
    };
    // (Write a garbage slot 2 as well, then rot it.)
    write_hard_state(&mut disk, "raft-2-state", &slot).unwrap();
    disk.settle();
    disk.flip_bit("raft-2-state", 8 * (512 + 20)).unwrap();
    let err = RaftNode::open(disk, RaftConfig::new(2, vec![1, 2, 3])).unwrap_err();
    assert!(
        matches!(err, RaftError::Corrupt(ref m) if m.contains("H2")),
        "{err}"
    );
}

#[test]
fn a_fresh_node_on_a_torn_first_hard_state_write_starts_at_term_zero() {
    let mut disk = SimDisk::new(SimDiskConfig::default(), 5);
    disk.write("raft-2-state", 0, &[0xAB; 30]).unwrap();
    disk.settle();
    let (n, rec) = RaftNode::open(disk, RaftConfig::new(2, vec![1, 2, 3])).unwrap();
    assert_eq!((rec.hard_state_case, n.term()), ("H2", 0));
}

fn quiet_cluster(nodes: u64, pre_vote: bool, seed: u64) -> Cluster {
    let mut cfg = ClusterConfig::new(nodes);
    cfg.raft.pre_vote = pre_vote;
    Cluster::new(cfg, seed).unwrap()
}

#[test]
fn pre_vote_keeps_a_partitioned_node_from_inflating_its_term_and_disrupting_the_leader() {
    for pre_vote in [true, false] {
        let mut c = quiet_cluster(3, pre_vote, 7);
        c.run(1000).unwrap();
        let leader = c.leader().expect("a leader");
        let term = c.server(leader).unwrap().node().unwrap().term();
        let lone = if leader == 3 { 2 } else { 3 };
        let others: Vec<u64> = (1..=3).filter(|i| *i != lone).collect();
        c.set_partition(&[others, vec![lone]]);
        c.run(3000).unwrap();
        let lone_term = c.server(lone).unwrap().node().unwrap().term();
        c.heal();
        c.run(1000).unwrap();
        let after = c
            .server(c.leader().unwrap())
            .unwrap()
            .node()
            .unwrap()
            .term();
        if pre_vote {
            assert_eq!(lone_term, term, "the isolated node's term moved");
            assert_eq!(after, term, "the leader was disrupted on rejoin");
            assert_eq!(c.leader(), Some(leader));
        } else {
            assert!(
                lone_term > term + 5,
                "without pre-vote it campaigns: {lone_term}"
            );
            assert!(after > term, "and its rejoin forces a new election");
        }
    }
}

#[test]
fn a_leader_that_cannot_hear_a_majority_steps_down() {
    let mut c = quiet_cluster(5, true, 9);
    c.run(1000).unwrap();
    let leader = c.leader().expect("a leader");
    let others: Vec<u64> = (1..=5).filter(|i| *i != leader).collect();
    c.set_partition(&[vec![leader], others]);
    let window = c.config().raft.election_timeout_max_ticks;
    let mut stepped_down_at = None;
    for t in 0..3 * window {
        c.step().unwrap();
        if c.server(leader).unwrap().node().unwrap().role() != Role::Leader {
            stepped_down_at = Some(t);
            break;
        }
    }
    let t = stepped_down_at.expect("the isolated leader never stepped down");
    assert!(t <= window + 1, "stepped down after {t} ticks");
    // The majority side elected someone else meanwhile or soon after.
    c.run(1000).unwrap();
    assert!(c.leader().is_some_and(|l| l != leader));
}

#[test]
fn election_timeouts_are_randomized_from_the_seed_and_runs_replay_exactly() {
    let trace = |seed| {
        let mut cfg = ClusterConfig::new(3);
        cfg.trace = true;
        let mut c = Cluster::new(cfg, seed).unwrap();
        c.run(1500).unwrap();
        c.take_trace()
    };
    let a = trace(11);
    assert!(a.len() > 100);
    assert_eq!(a, trace(11), "same seed, different run");
    assert_ne!(a, trace(12), "the seed changes nothing");
    // The first node to campaign differs across seeds (timeouts come from the seed).
    let first_candidate = |seed| {
        trace(seed).into_iter().find_map(|e| match e.kind {
            logspine_core::raft::sim::TraceKind::Node {
                node,
                event:
                    logspine_core::raft::NodeEvent::RoleChanged {
                        role: Role::PreCandidate,
                        ..
                    },
            } => Some((node, e.at)),
            _ => None,
        })
    };
    let firsts: std::collections::BTreeSet<(u64, u64)> =
        (0..8).filter_map(first_candidate).collect();
    assert!(firsts.len() >= 4, "{firsts:?}");
    for (_, at) in &firsts {
        assert!((150..=300).contains(at), "first timeout at {at}");
    }
}

#[test]
fn read_index_waits_for_a_majority_after_the_read_arrives() {
    let mut c = quiet_cluster(3, true, 13);
    c.run(1000).unwrap();
    let leader = c.leader().unwrap();
    let others: Vec<u64> = (1..=3).filter(|i| *i != leader).collect();
    // Cut the leader off, then ask it for a read: it must not answer.
    c.set_partition(&[vec![leader], others]);
    c.client_send(
        leader,
        logspine_core::raft::sim::ClientRequest {
            client: 1,
            seq: 1,
            op: logspine_core::raft::sim::ClientOp::Get { key: b"k".to_vec() },
        },
    );
    c.run(400).unwrap();
    assert!(
        c.take_client_replies()
            .iter()
            .all(|r| !matches!(r.result, logspine_core::raft::sim::ClientResult::Value(_))),
        "a leader cut off from the majority served a read"
    );
    // Healed, a read at the (possibly new) leader is answered.
    c.heal();
    c.run(1000).unwrap();
    let leader = c.leader().unwrap();
    c.client_send(
        leader,
        logspine_core::raft::sim::ClientRequest {
            client: 1,
            seq: 2,
            op: logspine_core::raft::sim::ClientOp::Get { key: b"k".to_vec() },
        },
    );
    c.run(100).unwrap();
    let replies = c.take_client_replies();
    assert!(
        replies
            .iter()
            .any(|r| r.seq == 2 && r.result == logspine_core::raft::sim::ClientResult::Value(None)),
        "{replies:?}"
    );
}
