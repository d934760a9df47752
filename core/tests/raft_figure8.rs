//! Raft §5.4.2, Figure 8, played out deterministically on five nodes: an entry from an
//! earlier term stored on a majority must not be committed by counting replicas, because a
//! later leader may still overwrite it; once an entry of the leader's own term is on a
//! majority, both commit and the overwriting leader can no longer be elected.
//!
//! The nodes run on `SimDisk`s, their messages are delivered by hand (each phase says which
//! links and which messages go through), elections are started with `campaign()`, and no
//! tick is ever given, so no timeout fires on its own.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::collections::{BTreeMap, VecDeque};

use logspine_core::raft::{Envelope, Message, RaftConfig, RaftNode, Role};
use logspine_core::{SimDisk, SimDiskConfig};

struct Harness {
    nodes: BTreeMap<u64, Option<RaftNode<SimDisk>>>,
    down: BTreeMap<u64, SimDisk>,
}

fn config(id: u64) -> RaftConfig {
    RaftConfig {
        pre_vote: false,
        check_quorum: false,
        // One entry per AppendEntries, so a phase can stop between two entries.
        max_entries_per_message: 1,
        ..RaftConfig::new(id, vec![1, 2, 3, 4, 5])
    }
}

impl Harness {
    fn new() -> Self {
        let nodes = (1..=5)
            .map(|id| {
                let disk = SimDisk::new(SimDiskConfig::default(), id);
                (id, Some(RaftNode::open(disk, config(id)).unwrap().0))
            })
            .collect();
        Harness {
            nodes,
            down: BTreeMap::new(),
        }
    }

    fn node(&self, id: u64) -> &RaftNode<SimDisk> {
        self.nodes[&id].as_ref().expect("up")
    }

    fn node_mut(&mut self, id: u64) -> &mut RaftNode<SimDisk> {
        self.nodes.get_mut(&id).unwrap().as_mut().expect("up")
    }

    fn crash(&mut self, id: u64) {
        let mut disk = self
            .nodes
            .get_mut(&id)
            .unwrap()
            .take()
            .unwrap()
            .into_storage();
        disk.settle();
        disk.crash();
        self.down.insert(id, disk);
    }

    fn restart(&mut self, id: u64) {
        let disk = self.down.remove(&id).unwrap();
        let node = RaftNode::open(disk, config(id)).unwrap().0;
        *self.nodes.get_mut(&id).unwrap() = Some(node);
    }

    /// Delivers messages until none is left: syncs complete at once; a message is
    /// delivered if both ends are up and `allow` says so, otherwise dropped.
    fn pump(&mut self, allow: impl Fn(&Envelope) -> bool) {
        self.pump_map(|e| allow(&e).then_some(e));
    }

    /// Like `pump`, but `map` may also change a message (or drop it with `None`).
    fn pump_map(&mut self, map: impl Fn(Envelope) -> Option<Envelope>) {
        let mut queue: VecDeque<Envelope> = VecDeque::new();
        for _ in 0..10_000 {
            for n in self.nodes.values_mut().flatten() {
                n.storage_mut().settle();
                n.handle_storage().unwrap();
                queue.extend(n.take_messages());
                n.validate();
            }
            let Some(env) = queue.pop_front() else {
                return;
            };
            let Some(env) = map(env) else {
                continue;
            };
            if let Some(Some(n)) = self.nodes.get_mut(&env.to) {
                n.handle_message(env.from, env.msg).unwrap();
            }
        }
        panic!("messages never stopped");
    }

    /// `id` campaigns (again, in a higher term, while voters refuse because they voted in
    /// the current one) with only `voters` reachable, until it wins.
    fn elect(&mut self, id: u64, voters: &[u64]) {
        let group: Vec<u64> = voters.iter().copied().chain([id]).collect();
        for _ in 0..3 {
            self.node_mut(id).campaign().unwrap();
            // Votes only: the new leader's first AppendEntries belong to the next phase.
            self.pump(|e| {
                group.contains(&e.from)
                    && group.contains(&e.to)
                    && matches!(
                        e.msg,
                        Message::RequestVote { .. } | Message::RequestVoteResponse { .. }
                    )
            });
            if self.node(id).role() == Role::Leader {
                return;
            }
        }
        panic!("node {id} did not win with {voters:?}");
    }

    /// Ticks only the leader `id` through one heartbeat interval, so it sends
    /// AppendEntries to everyone again (its first ones were dropped with the votes).
    fn heartbeat(&mut self, id: u64) {
        let n = self.node_mut(id);
        for _ in 0..n.config().heartbeat_ticks {
            n.tick().unwrap();
        }
    }

    fn terms(&self, id: u64) -> Vec<u64> {
        let n = self.node(id);
        (1..=n.last_index())
            .map(|i| n.term_at(i).unwrap())
            .collect()
    }
}

/// Removes the entries at or after `index` from an AppendEntries (as if the leader had
/// sent fewer): the follower still acknowledges what comes before.
fn without_entries_from(mut e: Envelope, index: u64) -> Envelope {
    if let Message::AppendEntries { entries, .. } = &mut e.msg {
        entries.retain(|x| x.index < index);
    }
    e
}

/// Phases (a)–(c) of Figure 8, after which index 2 holds S1's term-2 entry on S1, S2 and
/// S3 (a majority) while S5 holds a term-3 entry there.
fn figure_8_up_to_c() -> Harness {
    let mut h = Harness::new();
    // Term 1: S1 leads with everyone; its no-op (index 1) commits everywhere.
    h.elect(1, &[2, 3, 4, 5]);
    h.heartbeat(1);
    h.pump(|_| true);
    assert!(h.nodes.values().flatten().all(|n| n.commit_index() == 1));
    // (a) S1 crashes and restarts (so it is no longer leader), wins term 2 with S2 and
    // S3, and its term-2 no-op at index 2 reaches S2 only.
    h.crash(1);
    h.restart(1);
    h.elect(1, &[2, 3]);
    assert_eq!(h.node(1).term(), 2);
    h.heartbeat(1);
    h.pump(|e| e.from == 1 && e.to == 2 || e.from == 2 && e.to == 1);
    assert_eq!(h.terms(1), [1, 2]);
    assert_eq!(h.terms(2), [1, 2]);
    assert!(h.node(1).commit_index() < 2, "index 2 is on 2 of 5 only");
    // (b) S1 crashes; S5 wins term 3 with S3 and S4 (S3 voted in term 2, so S5's first
    // try, in term 2, fails), and its term-3 no-op at index 2 stays on S5.
    h.crash(1);
    h.elect(5, &[3, 4]);
    assert_eq!(h.node(5).term(), 3);
    assert_eq!(h.terms(5), [1, 3]);
    // (c) S5 crashes; S1 restarts and wins term 4 with S2 and S3, then replicates its
    // term-2 entry at index 2 to S3 — but not its term-4 no-op at index 3.
    h.crash(5);
    h.restart(1);
    h.elect(1, &[2, 3]);
    assert_eq!(h.node(1).term(), 4);
    h.heartbeat(1);
    // The leader keeps retrying index 3; after a few stripped deliveries (which let S2
    // acknowledge index 2) those messages are dropped.
    let s123 = |e: &Envelope| [1, 2, 3].contains(&e.from) && [1, 2, 3].contains(&e.to);
    let budget = std::cell::Cell::new(8);
    h.pump_map(|e| {
        if !s123(&e) {
            return None;
        }
        let stripped = without_entries_from(e.clone(), 3);
        if stripped == e {
            return Some(e);
        }
        budget.set(budget.get() - 1);
        (budget.get() > 0).then_some(stripped)
    });
    assert!(
        h.node(1)
            .match_indexes()
            .values()
            .filter(|m| **m >= 2)
            .count()
            >= 2,
        "S1 knows S2 and S3 hold index 2: {:?}",
        h.node(1).match_indexes()
    );
    for id in [1, 2, 3] {
        assert_eq!(
            h.terms(id)[..2],
            [1, 2],
            "node {id} holds the term-2 entry at index 2"
        );
    }
    h
}

#[test]
fn an_old_term_entry_on_a_majority_is_not_committed_and_may_be_overwritten() {
    let mut h = figure_8_up_to_c();
    // The term-2 entry is on S1, S2, S3 — a majority — but is not of S1's term (4):
    // counting replicas must not commit it (Raft §5.4.2).
    // (Its commit index restarted at 0 with it and index 1 commits only through a
    // later entry of the leader's term.)
    assert!(
        h.node(1).commit_index() < 2,
        "S1 committed an entry of an earlier term by counting replicas"
    );
    // (d) S1 crashes; S5 restarts and wins term 5 with S2, S3 and S4 (its last term, 3, is
    // newer than their 2), then overwrites index 2 everywhere: that entry was never
    // committed, so nothing committed is lost.
    h.crash(1);
    h.restart(5);
    h.elect(5, &[2, 3, 4]);
    h.heartbeat(5);
    h.pump(|e| e.from != 1 && e.to != 1);
    for id in [2, 3, 4, 5] {
        assert_eq!(h.terms(id)[..2], [1, 3], "node {id}");
        assert!(h.node(id).commit_index() >= 2);
    }
}

#[test]
fn once_a_current_term_entry_is_on_a_majority_both_commit_and_the_old_leader_cannot_win() {
    let mut h = figure_8_up_to_c();
    // (e) S1 replicates its term-4 entry (index 3) to S2 and S3 as well: now index 3 and,
    // with it, index 2 commit.
    h.heartbeat(1);
    h.pump(|e| [1, 2, 3].contains(&e.from) && [1, 2, 3].contains(&e.to));
    assert_eq!(h.node(1).commit_index(), 3);
    for id in [2, 3] {
        assert_eq!(h.terms(id), [1, 2, 4], "node {id}");
    }
    // S1 crashes; S5 comes back and campaigns: S2 and S3 refuse (their last term, 4, is
    // newer than S5's 3), so at most S4 votes for it and it cannot win.
    h.crash(1);
    h.restart(5);
    h.node_mut(5).campaign().unwrap();
    h.pump(|e| e.from != 1 && e.to != 1);
    assert_ne!(h.node(5).role(), Role::Leader);
    // The committed entries are still where they were.
    for id in [2, 3] {
        assert_eq!(h.terms(id)[..3], [1, 2, 4], "node {id}");
    }
}
