//! The invariant checkers: Raft's safety properties (Raft Figure 3), checked after every
//! simulated step against what the nodes hold and what the state machines applied.
//!
//! Each check is incremental, so thousands of seeds stay cheap:
//!
//! | property | Raft | how it is checked |
//! |---|---|---|
//! | Election safety: at most one leader per term | §5.2 | a map term → leader over the whole run |
//! | Leader append-only: a leader never overwrites or deletes its entries | §5.3 | while a node leads a term, its log epoch (bumped on any removal from the end) is unchanged and its last index never decreases |
//! | Log matching: same index and term ⇒ same entry and same log before it | §5.3 | a map (index, term) → (payload hash, previous term) that every entry of every log must agree with; by induction on the index this is the property |
//! | Leader completeness: an entry committed in a term is in the log of every leader of a later term | §5.4 | every leader's log against the committed prefix, when it becomes leader and whenever the prefix grows, for entries first seen committed in an earlier term |
//! | State machine safety: no two servers apply different entries at one index | §5.4.3 | every applied entry (and every restored snapshot's last entry) against the committed prefix; and the state machine's bytes after each index (or after restoring a snapshot) against the first server's there |
//!
//! The "committed prefix" is built from what servers apply (a server applies only what it
//! knows committed). Each entry remembers the term of the first server seen applying it;
//! the entry was committed in that term or earlier, so requiring it only of leaders of
//! later terms never raises a false alarm.

use std::fmt;

use super::node::Role;
use super::sim::{entry_hash, AppliedRecord, Cluster};
use super::state_machine::StateMachine;
use super::NodeId;
use crate::vec_map::VecMap;

/// A broken property.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The property and its section of the Raft paper.
    pub property: &'static str,
    /// What was seen.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} violated: {}", self.property, self.detail)
    }
}

/// Election safety (Raft §5.2).
pub const ELECTION_SAFETY: &str = "Election Safety (Raft §5.2)";
/// Leader append-only (Raft §5.3).
pub const LEADER_APPEND_ONLY: &str = "Leader Append-Only (Raft §5.3)";
/// Log matching (Raft §5.3).
pub const LOG_MATCHING: &str = "Log Matching (Raft §5.3)";
/// Leader completeness (Raft §5.4).
pub const LEADER_COMPLETENESS: &str = "Leader Completeness (Raft §5.4)";
/// State machine safety (Raft §5.4.3).
pub const STATE_MACHINE_SAFETY: &str = "State Machine Safety (Raft §5.4.3)";

#[derive(Clone, Debug, Default)]
struct NodeView {
    incarnation: u64,
    epoch: u64,
    /// Log entries up to here were checked against the log-matching map.
    checked_through: u64,
    /// (term, last index) while it leads.
    leading: Option<(u64, u64)>,
    /// Committed entries up to here were checked against its log while it leads.
    completeness_through: u64,
    up: bool,
}

/// The checkers' memory across steps. See the module docs.
#[derive(Clone, Debug, Default)]
pub struct Checker {
    leaders: VecMap<u64, NodeId>,
    /// (index, term) → (payload hash, term of index - 1 if known).
    /// Entries come in index order, so the sorted vector mostly appends.
    entries: VecMap<(u64, u64), (u32, Option<u64>)>,
    /// Committed entries from index 1: (term, hash, term of the server that applied it
    /// first, hash of its state machine after it).
    committed: Vec<(u64, u32, u64, Option<u32>)>,
    views: VecMap<NodeId, NodeView>,
    /// Checks run, for the tests' coverage counters.
    pub checks: u64,
}

fn violation(property: &'static str, detail: String) -> Violation {
    Violation { property, detail }
}

impl Checker {
    /// A checker that has seen nothing.
    pub fn new() -> Self {
        Checker::default()
    }

    /// The committed prefix's length as seen so far.
    pub fn committed_len(&self) -> u64 {
        self.committed.len() as u64
    }

    /// Checks every property against the cluster as it is now.
    pub fn check<M: StateMachine>(&mut self, cluster: &Cluster<M>) -> Result<(), Violation> {
        self.checks += 1;
        let old_committed = self.committed.len();
        // State machine safety, and the committed prefix grows.
        for (id, server) in cluster.servers() {
            let term_now = server.node().map_or(0, |n| n.term());
            for rec in server.applied_last_step() {
                let (index, term, hash, state) = match *rec {
                    AppliedRecord::Entry {
                        index,
                        term,
                        hash,
                        state,
                    } => (index, term, Some(hash), state),
                    AppliedRecord::Snapshot { index, term, state } => (index, term, None, state),
                };
                if index == 0 {
                    continue;
                }
                let i = usize::try_from(index - 1).expect("fits");
                if let Some(&(t, h, _, st)) = self.committed.get(i) {
                    if t != term || hash.is_some_and(|x| x != h) {
                        return Err(violation(
                            STATE_MACHINE_SAFETY,
                            format!(
                                "node {id} applied index {index} term {term} hash {hash:?}, but term {t} hash {h} was applied there before"
                            ),
                        ));
                    }
                    if let (Some(a), Some(b)) = (state, st) {
                        if a != b {
                            return Err(violation(
                                STATE_MACHINE_SAFETY,
                                format!(
                                    "node {id}'s state machine at index {index} differs from the first one there{}",
                                    if hash.is_none() { " (after restoring a snapshot)" } else { "" }
                                ),
                            ));
                        }
                    }
                } else if i == self.committed.len() {
                    let Some(hash) = hash else {
                        return Err(violation(
                            STATE_MACHINE_SAFETY,
                            format!(
                                "node {id} restored a snapshot at {index} past every applied entry"
                            ),
                        ));
                    };
                    self.committed.push((term, hash, term_now, state));
                } else {
                    return Err(violation(
                        STATE_MACHINE_SAFETY,
                        format!(
                            "node {id} applied index {index} with only {} entries known committed",
                            self.committed.len()
                        ),
                    ));
                }
            }
        }
        for (id, server) in cluster.servers() {
            let view = self.views.entry(*id).or_default();
            let Some(node) = server.node() else {
                view.up = false;
                view.leading = None;
                continue;
            };
            if !view.up || view.incarnation != server.incarnation() {
                *view = NodeView {
                    incarnation: server.incarnation(),
                    up: true,
                    ..NodeView::default()
                };
            }
            let term = node.term();
            let last = node.last_index();
            // Election safety.
            if node.role() == Role::Leader {
                if let Some(&other) = self.leaders.get(&term) {
                    if other != *id {
                        return Err(violation(
                            ELECTION_SAFETY,
                            format!("nodes {other} and {id} both led term {term}"),
                        ));
                    }
                } else {
                    self.leaders.insert(term, *id);
                }
            }
            // Leader append-only.
            let view = self.views.get_mut(id).expect("inserted");
            match (node.role() == Role::Leader, view.leading) {
                (true, Some((t, prev_last))) if t == term => {
                    if node.log_epoch() != view.epoch || last < prev_last {
                        return Err(violation(
                            LEADER_APPEND_ONLY,
                            format!(
                                "leader {id} of term {term} went from last index {prev_last} to {last} (epoch {} -> {})",
                                view.epoch,
                                node.log_epoch()
                            ),
                        ));
                    }
                    view.leading = Some((term, last));
                }
                (true, _) => {
                    view.leading = Some((term, last));
                    view.completeness_through = 0;
                }
                (false, _) => view.leading = None,
            }
            // Log matching: new entries (or all of them after a removal) against the map.
            if view.epoch != node.log_epoch() {
                view.epoch = node.log_epoch();
                view.checked_through = 0;
            }
            let from = view.checked_through.max(node.first_log_index() - 1) + 1;
            for index in from..=last {
                let e = node.entry(index).map_err(|e| {
                    violation(
                        LOG_MATCHING,
                        format!("node {id} cannot read entry {index}: {e}"),
                    )
                })?;
                let prev = node.term_at(index - 1);
                let hash = entry_hash(&e);
                match self.entries.get_mut(&(index, e.term)) {
                    None => {
                        self.entries.insert((index, e.term), (hash, prev));
                    }
                    Some((h, p)) => {
                        if *h != hash {
                            return Err(violation(
                                LOG_MATCHING,
                                format!(
                                    "node {id} holds a different entry at index {index} term {}",
                                    e.term
                                ),
                            ));
                        }
                        match (*p, prev) {
                            (Some(a), Some(b)) if a != b => {
                                return Err(violation(
                                    LOG_MATCHING,
                                    format!(
                                        "node {id}: entry {index} term {} follows term {b}, elsewhere term {a}",
                                        e.term
                                    ),
                                ))
                            }
                            (None, Some(b)) => *p = Some(b),
                            _ => {}
                        }
                    }
                }
            }
            let view = self.views.get_mut(id).expect("inserted");
            view.checked_through = last;
            // Leader completeness.
            if node.role() == Role::Leader {
                let through = self.committed.len() as u64;
                let start = view.completeness_through.min(old_committed as u64) + 1;
                for index in start..=through {
                    let (t, h, seen_in, _) =
                        self.committed[usize::try_from(index - 1).expect("fits")];
                    if seen_in >= term {
                        continue;
                    }
                    let ok = if index < node.first_log_index() || index > last {
                        index <= node.snapshot_index()
                    } else {
                        node.term_at(index) == Some(t)
                            && node.entry(index).is_ok_and(|e| entry_hash(&e) == h)
                    };
                    if !ok {
                        return Err(violation(
                            LEADER_COMPLETENESS,
                            format!(
                                "leader {id} of term {term} lacks entry {index} (term {t}), committed by term {seen_in}"
                            ),
                        ));
                    }
                }
                view.completeness_through = through;
            }
        }
        Ok(())
    }
}
