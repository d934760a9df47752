//! `RaftNode`: one Raft server as a sans-IO state machine. See the module docs of
//! [`crate::raft`] for the call order, the case tables and the invariants.

use std::collections::{BTreeMap, VecDeque};

use crate::log::{Log, LogConfig, LogError, Lsn};
use crate::rng::Rng;
use crate::storage::{Storage, StorageError, SyncId};
use crate::vec_map::VecSet;

use super::hard_state::{
    read_hard_state, write_hard_state, HardState, HardStateRead, HardStateSlot,
};
use super::message::{
    decode_entry, encode_entry, Entry, EntryDecodeError, EntryKind, Envelope, Message,
};
use super::snapshot::{read_latest_snapshot, snapshot_file, snapshot_files, Snapshot};
use super::NodeId;

/// A node's role (Raft §5.1, plus the pre-candidate of thesis §9.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Follows a leader (or waits for one).
    Follower,
    /// Asking whether it could win an election, without changing its term.
    PreCandidate,
    /// Campaigning in its current term.
    Candidate,
    /// Leading its current term.
    Leader,
}

/// How a node behaves. Times are in ticks ([`RaftNode::tick`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaftConfig {
    /// This node's id (never 0).
    pub id: NodeId,
    /// The voters when the log and snapshot hold no configuration (a fresh cluster).
    pub initial_voters: Vec<NodeId>,
    /// Election timeouts are drawn uniformly from `min..=max` (Raft §5.2).
    pub election_timeout_min_ticks: u64,
    /// See `election_timeout_min_ticks`.
    pub election_timeout_max_ticks: u64,
    /// A leader sends AppendEntries to every follower this often.
    pub heartbeat_ticks: u64,
    /// At most this many entries per AppendEntries.
    pub max_entries_per_message: u64,
    /// At most this many snapshot bytes per InstallSnapshot chunk.
    pub snapshot_chunk_bytes: u64,
    /// Pre-vote before every election (thesis §9.6).
    pub pre_vote: bool,
    /// A leader that has not heard from a majority within an election timeout steps
    /// down, and a node that heard from a leader within the minimum election timeout
    /// refuses (pre-)votes (thesis §6.2, §4.2.3).
    pub check_quorum: bool,
    /// Seeds the election-timeout generator.
    pub seed: u64,
    /// The log's segment size.
    pub segment_bytes: u64,
}

impl RaftConfig {
    /// Election timeouts 150–300 ticks, heartbeats every 50, pre-vote and check-quorum on.
    pub fn new(id: NodeId, initial_voters: Vec<NodeId>) -> Self {
        RaftConfig {
            id,
            initial_voters,
            election_timeout_min_ticks: 150,
            election_timeout_max_ticks: 300,
            heartbeat_ticks: 50,
            max_entries_per_message: 64,
            snapshot_chunk_bytes: 1024,
            pre_vote: true,
            check_quorum: true,
            seed: id,
            segment_bytes: 16 * 1024,
        }
    }

    /// The log's name.
    pub fn log_name(&self) -> String {
        format!("raft-{}-log", self.id)
    }

    /// The hard state file's name.
    pub fn state_file(&self) -> String {
        format!("raft-{}-state", self.id)
    }
}

/// Errors from a node.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RaftError {
    /// The storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The log failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// A log record is not an entry.
    #[error("log record for index {index} is not an entry: {source}")]
    Entry {
        /// The index.
        index: u64,
        /// Why.
        source: EntryDecodeError,
    },
    /// What is on disk contradicts itself (see the recovery case table).
    #[error("raft state on disk is corrupt: {0}")]
    Corrupt(String),
    /// This node is not the leader; `leader` is the one it knows of.
    #[error("not the leader (leader hint: {leader:?})")]
    NotLeader {
        /// The leader this node follows, if it knows one.
        leader: Option<NodeId>,
    },
    /// A configuration change is already in progress or the leader has not yet committed
    /// an entry of its term (thesis §4.1, and its §4.1 errata).
    #[error("a configuration change is not allowed now: {0}")]
    ConfigChangeRefused(&'static str),
    /// An argument outside what the node allows.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// Something to apply to the state machine, in log order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Apply {
    /// Replace the state machine with this snapshot (after a restart or an install).
    Snapshot(Snapshot),
    /// Apply this committed entry.
    Entry(Entry),
}

/// A linearizable read may be served once the state machine has applied `index`
/// (read index, thesis §6.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadState {
    /// The caller's tag from [`RaftNode::read_index`].
    pub ctx: u64,
    /// The commit index when the read arrived, confirmed by a majority afterwards.
    pub index: u64,
}

/// What a node did, for the trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeEvent {
    /// The role or term changed.
    RoleChanged {
        /// The new role.
        role: Role,
        /// The term.
        term: u64,
    },
    /// A vote was granted (it is sent once durable).
    VoteGranted {
        /// The candidate.
        candidate: NodeId,
        /// The term.
        term: u64,
    },
    /// The commit index moved.
    Committed {
        /// The new commit index.
        index: u64,
    },
    /// A snapshot became durable and the log before it may go.
    SnapshotTaken {
        /// Its last index.
        index: u64,
    },
    /// A snapshot from the leader was installed.
    SnapshotInstalled {
        /// Its last index.
        index: u64,
    },
    /// Entries were removed from the end of the log (a conflict with the leader's).
    Truncated {
        /// The first index removed.
        from: u64,
    },
}

/// What the leader knows about one follower (Raft Figure 2: nextIndex, matchIndex).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Progress {
    next: u64,
    matched: u64,
    /// An AppendEntries or snapshot chunk is outstanding.
    inflight: bool,
    last_heard: u64,
    acked_round: u64,
    /// A snapshot being sent: its index and the offset the follower expects.
    snapshot: Option<(u64, u64)>,
    /// The commit index carried by the last AppendEntries sent to it.
    commit_sent: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct PendingRead {
    ctx: u64,
    index: u64,
    round: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct IncomingSnapshot {
    term: u64,
    index: u64,
    last_term: u64,
    voters: Vec<NodeId>,
    data: Vec<u8>,
}

/// One Raft server. See [`crate::raft`].
#[derive(Clone, Debug)]
pub struct RaftNode<S: Storage> {
    config: RaftConfig,
    storage: S,
    log: Log,
    /// Terms of the entries in the log, from `first_log_index()`.
    terms: Vec<u64>,
    /// Bumped whenever entries leave the end of the log or the log is reset.
    epoch: u64,
    hard: HardState,
    hard_seq: u64,
    hard_dirty: bool,
    hard_sync: Option<SyncId>,
    role: Role,
    leader: Option<NodeId>,
    votes: VecSet<NodeId>,
    commit: u64,
    applied: u64,
    snapshot: Snapshot,
    /// Deliver `snapshot` to the state machine before the next entry.
    snapshot_to_apply: bool,
    /// Snapshots written, waiting for their sync: (index, sync).
    snapshots_pending: Vec<(u64, Option<SyncId>)>,
    /// Configuration entries in the log: (index, voters), ascending.
    configs: Vec<(u64, Vec<NodeId>)>,
    now: u64,
    election_elapsed: u64,
    election_timeout: u64,
    heartbeat_elapsed: u64,
    heard_leader_at: Option<u64>,
    leader_since: u64,
    rng: Rng,
    progress: crate::vec_map::VecMap<NodeId, Progress>,
    read_round: u64,
    reads_pending: Vec<PendingRead>,
    reads_waiting_commit: Vec<u64>,
    reads_ready: Vec<ReadState>,
    incoming: Option<IncomingSnapshot>,
    staged: Vec<Envelope>,
    held: VecDeque<(SyncId, Envelope)>,
    ready: Vec<Envelope>,
    dirty: bool,
    retag: bool,
    last_requested: Option<SyncId>,
    last_completed: Option<SyncId>,
    events: Vec<NodeEvent>,
}

/// What [`RaftNode::open`] found on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaftRecovery {
    /// The hard state recovered.
    pub hard_state: HardState,
    /// The case of the hard-state table that applied.
    pub hard_state_case: &'static str,
    /// The snapshot's last index (0 if none).
    pub snapshot_index: u64,
    /// The case of the log-versus-snapshot table that applied.
    pub log_case: &'static str,
    /// The log's first and last index after recovery.
    pub log_range: (u64, u64),
    /// The log's own recovery report.
    pub log_report: String,
}

fn quorum(n: usize) -> usize {
    n / 2 + 1
}

impl<S: Storage> RaftNode<S> {
    /// Opens (recovers) node `config.id` from `storage`; a fresh node on empty storage.
    pub fn open(mut storage: S, config: RaftConfig) -> Result<(Self, RaftRecovery), RaftError> {
        if config.id == 0 {
            return Err(RaftError::InvalidArgument("node id 0 is reserved".into()));
        }
        if config.election_timeout_min_ticks == 0
            || config.election_timeout_min_ticks > config.election_timeout_max_ticks
            || config.heartbeat_ticks == 0
            || config.max_entries_per_message == 0
            || config.snapshot_chunk_bytes == 0
        {
            return Err(RaftError::InvalidArgument(format!(
                "bad timing or size knobs: {config:?}"
            )));
        }
        let (hard, hard_seq, hard_state_case) =
            match read_hard_state(&storage as &dyn Storage, &config.state_file())? {
                HardStateRead::Missing => (HardState::default(), 0, "H1"),
                HardStateRead::NoValidSlot => (HardState::default(), 0, "H2"),
                HardStateRead::Valid(slot) => (slot.state, slot.seq, "H3"),
            };
        let snapshot =
            read_latest_snapshot(&storage as &dyn Storage, config.id)?.unwrap_or_else(|| {
                Snapshot {
                    voters: config.initial_voters.clone(),
                    ..Snapshot::default()
                }
            });
        let log_config = LogConfig {
            segment_bytes: config.segment_bytes,
            ..LogConfig::new(&config.log_name())
        };
        let (mut log, report) = Log::open(&mut storage as &mut dyn Storage, log_config)?;
        if hard_state_case == "H2" && !log.is_empty() {
            return Err(RaftError::Corrupt(
                "the hard state file has no valid slot but the log holds entries (case H2)".into(),
            ));
        }
        // Terms of the log as recovered.
        let mut terms = Vec::with_capacity(usize::try_from(log.len()).unwrap_or(0));
        let mut configs = Vec::new();
        for rec in log.scan(&storage as &dyn Storage, log.first_lsn())? {
            let rec = rec?;
            let index = rec.lsn.0 + 1;
            let e = decode_entry(index, &rec.payload)
                .map_err(|source| RaftError::Entry { index, source })?;
            terms.push(e.term);
            if let EntryKind::Config(v) = e.kind {
                configs.push((index, v));
            }
        }
        let first = log.first_lsn().0 + 1;
        let last = log.next_lsn().0;
        let term_in_log = |i: u64| -> Option<u64> {
            (i >= first && i <= last).then(|| terms[usize::try_from(i - first).expect("fits")])
        };
        // The log against the snapshot (see the recovery table in the module docs).
        let log_case = if snapshot.index == 0 {
            if first != 1 {
                return Err(RaftError::Corrupt(format!(
                    "no snapshot but the log starts at index {first} (case L4)"
                )));
            }
            "L1"
        } else if first > snapshot.index + 1 {
            return Err(RaftError::Corrupt(format!(
                "the log starts at {first}, after the snapshot's next index {} (case L4)",
                snapshot.index + 1
            )));
        } else if first == snapshot.index + 1 || term_in_log(snapshot.index) == Some(snapshot.term)
        {
            "L2"
        } else {
            // The log ends before the snapshot, or disagrees with it at its index: the
            // snapshot is committed state, so the log is stale.
            log.reset(&mut storage as &mut dyn Storage, Lsn(snapshot.index))?;
            terms.clear();
            configs.clear();
            "L3"
        };
        configs.retain(|(i, _)| *i > snapshot.index);
        if hard.term < terms.last().copied().unwrap_or(snapshot.term) {
            return Err(RaftError::Corrupt(format!(
                "the hard state's term {} is older than the log's last term",
                hard.term
            )));
        }
        let recovery = RaftRecovery {
            hard_state: hard,
            hard_state_case,
            snapshot_index: snapshot.index,
            log_case,
            log_range: (log.first_lsn().0 + 1, log.next_lsn().0),
            log_report: report.describe(),
        };
        let mut rng = Rng::new(config.seed);
        let election_timeout = rng.range_inclusive(
            config.election_timeout_min_ticks,
            config.election_timeout_max_ticks,
        );
        let snapshot_index = snapshot.index;
        let dirty = storage.has_volatile_changes();
        let node = RaftNode {
            storage,
            log,
            terms,
            epoch: 0,
            hard,
            hard_seq,
            hard_dirty: false,
            hard_sync: None,
            role: Role::Follower,
            leader: None,
            votes: VecSet::new(),
            commit: snapshot_index,
            applied: snapshot_index,
            snapshot_to_apply: snapshot_index > 0,
            snapshot,
            snapshots_pending: Vec::new(),
            configs,
            now: 0,
            election_elapsed: 0,
            election_timeout,
            heartbeat_elapsed: 0,
            heard_leader_at: None,
            leader_since: 0,
            rng,
            progress: crate::vec_map::VecMap::new(),
            read_round: 0,
            reads_pending: Vec::new(),
            reads_waiting_commit: Vec::new(),
            reads_ready: Vec::new(),
            incoming: None,
            staged: Vec::new(),
            held: VecDeque::new(),
            ready: Vec::new(),
            dirty,
            retag: false,
            last_requested: None,
            last_completed: None,
            events: Vec::new(),
            config,
        };
        node.validate();
        Ok((node, recovery))
    }

    // ---- accessors ---------------------------------------------------------------------

    /// The configuration.
    pub fn config(&self) -> &RaftConfig {
        &self.config
    }
    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.config.id
    }
    /// The storage (to read it).
    pub fn storage(&self) -> &S {
        &self.storage
    }
    /// The storage (the simulation advances a `SimDisk` through it; call
    /// [`RaftNode::handle_storage`] afterwards).
    pub fn storage_mut(&mut self) -> &mut S {
        &mut self.storage
    }
    /// Gives the storage back (to crash it and reopen).
    pub fn into_storage(self) -> S {
        self.storage
    }
    /// The current role.
    pub fn role(&self) -> Role {
        self.role
    }
    /// The current term.
    pub fn term(&self) -> u64 {
        self.hard.term
    }
    /// The vote cast in the current term.
    pub fn vote(&self) -> Option<NodeId> {
        self.hard.vote
    }
    /// The leader this node knows of in its term.
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }
    /// The commit index.
    pub fn commit_index(&self) -> u64 {
        self.commit
    }
    /// The index handed out by [`RaftNode::take_committed`] so far.
    pub fn applied_index(&self) -> u64 {
        self.applied
    }
    /// The index of the last entry (or of the snapshot, if the log is empty after it).
    pub fn last_index(&self) -> u64 {
        self.log.next_lsn().0
    }
    /// The first index still in the log.
    pub fn first_log_index(&self) -> u64 {
        self.log.first_lsn().0 + 1
    }
    /// The last index covered by the snapshot (0 without one).
    pub fn snapshot_index(&self) -> u64 {
        self.snapshot.index
    }
    /// The latest snapshot (index 0 and no data without one).
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }
    /// Bumped whenever entries leave the end of the log or the log is reset (never by a
    /// prefix trim); the invariant checkers use it to re-examine a log.
    pub fn log_epoch(&self) -> u64 {
        self.epoch
    }
    /// The log itself (read-only, for views).
    pub fn log(&self) -> &Log {
        &self.log
    }
    /// The highest index known durable on this node's disk.
    pub fn durable_index(&self) -> u64 {
        self.log.durable_next().0.min(self.last_index())
    }
    /// The voters in force: those of the latest configuration in the log, committed or
    /// not (thesis §4.1).
    pub fn voters(&self) -> &[NodeId] {
        self.configs
            .last()
            .map_or(self.snapshot.voters.as_slice(), |(_, v)| v.as_slice())
    }
    /// Node-local time in ticks.
    pub fn now(&self) -> u64 {
        self.now
    }
    /// For the leader: each follower's match index.
    pub fn match_indexes(&self) -> BTreeMap<NodeId, u64> {
        self.progress
            .iter()
            .map(|(id, p)| (*id, p.matched))
            .collect()
    }
    /// Messages waiting for a sync before they may be sent.
    pub fn held_messages(&self) -> usize {
        self.held.len()
    }

    /// The term of the entry at `index`, if this node knows it (the snapshot's last entry
    /// included; index 0 has term 0).
    pub fn term_at(&self, index: u64) -> Option<u64> {
        if index == self.snapshot.index {
            return Some(self.snapshot.term);
        }
        let first = self.first_log_index();
        if index < first || index > self.last_index() {
            return None;
        }
        Some(self.terms[usize::try_from(index - first).expect("fits")])
    }

    /// Reads entry `index` from the log.
    pub fn entry(&self, index: u64) -> Result<Entry, RaftError> {
        if index == 0 || index < self.first_log_index() {
            return Err(LogError::Compacted {
                requested: Lsn(index.saturating_sub(1)),
                first: self.log.first_lsn(),
            }
            .into());
        }
        let payload = self
            .log
            .read(&self.storage as &dyn Storage, Lsn(index - 1))?;
        decode_entry(index, &payload).map_err(|source| RaftError::Entry { index, source })
    }

    // ---- inputs ------------------------------------------------------------------------

    /// One tick of time: election timeouts, heartbeats, check-quorum.
    pub fn tick(&mut self) -> Result<(), RaftError> {
        self.now += 1;
        match self.role {
            Role::Leader => {
                self.heartbeat_elapsed += 1;
                if self.heartbeat_elapsed >= self.config.heartbeat_ticks {
                    self.heartbeat_elapsed = 0;
                    self.broadcast_append(true)?;
                }
                if self.config.check_quorum && !self.quorum_recently_heard() {
                    let term = self.hard.term;
                    self.become_follower(term, None)?;
                }
            }
            _ => {
                self.election_elapsed += 1;
                if self.election_elapsed >= self.election_timeout && self.is_voter() {
                    if self.config.pre_vote {
                        self.become_pre_candidate()?;
                    } else {
                        self.become_candidate()?;
                    }
                }
            }
        }
        self.finish()
    }

    /// Starts an election now, skipping pre-vote (tests; leadership transfer).
    pub fn campaign(&mut self) -> Result<(), RaftError> {
        if self.is_voter() && self.role != Role::Leader {
            self.become_candidate()?;
        }
        self.finish()
    }

    /// Proposes a command; returns its index. Only the leader accepts.
    pub fn propose(&mut self, data: Vec<u8>) -> Result<u64, RaftError> {
        self.propose_kind(EntryKind::Command(data))
    }

    /// Proposes adding or removing one voter (thesis §4.1: one server at a time).
    pub fn propose_config(&mut self, voters: Vec<NodeId>) -> Result<u64, RaftError> {
        if self.role != Role::Leader {
            return Err(RaftError::NotLeader {
                leader: self.leader,
            });
        }
        if self.configs.last().is_some_and(|(i, _)| *i > self.commit) {
            return Err(RaftError::ConfigChangeRefused(
                "the previous configuration change is not committed yet",
            ));
        }
        if self.term_at(self.commit) != Some(self.hard.term) {
            return Err(RaftError::ConfigChangeRefused(
                "the leader has not committed an entry of its term yet",
            ));
        }
        let old: VecSet<NodeId> = self.voters().iter().copied().collect();
        let new: VecSet<NodeId> = voters.iter().copied().collect();
        if new.len() != voters.len() || new.contains(&0) || new.is_empty() {
            return Err(RaftError::InvalidArgument(format!(
                "bad voter set {voters:?}"
            )));
        }
        let only_in =
            |a: &VecSet<NodeId>, b: &VecSet<NodeId>| a.iter().filter(|n| !b.contains(*n)).count();
        if only_in(&old, &new) + only_in(&new, &old) != 1 {
            return Err(RaftError::ConfigChangeRefused(
                "a change must add or remove exactly one server",
            ));
        }
        self.propose_kind(EntryKind::Config(voters))
    }

    fn propose_kind(&mut self, kind: EntryKind) -> Result<u64, RaftError> {
        if self.role != Role::Leader {
            return Err(RaftError::NotLeader {
                leader: self.leader,
            });
        }
        let index = self.append_local(self.hard.term, &kind)?;
        if let EntryKind::Config(v) = kind {
            self.configs.push((index, v));
            self.sync_progress_with_voters();
        }
        self.broadcast_append(false)?;
        self.maybe_commit()?;
        self.finish()?;
        Ok(index)
    }

    /// Asks for a linearizable read (read index, thesis §6.4). When a majority has
    /// confirmed this node's leadership after the call, a [`ReadState`] with `ctx` comes
    /// out of [`RaftNode::take_reads`]; serve the read once the state machine has applied
    /// its index. A leader that loses leadership first drops the read silently.
    pub fn read_index(&mut self, ctx: u64) -> Result<(), RaftError> {
        if self.role != Role::Leader {
            return Err(RaftError::NotLeader {
                leader: self.leader,
            });
        }
        if self.term_at(self.commit) != Some(self.hard.term) {
            // Not yet committed an entry of its term: its commit index may be behind.
            self.reads_waiting_commit.push(ctx);
        } else {
            self.start_read(ctx)?;
        }
        self.finish()
    }

    fn start_read(&mut self, ctx: u64) -> Result<(), RaftError> {
        self.read_round += 1;
        self.reads_pending.push(PendingRead {
            ctx,
            index: self.commit,
            round: self.read_round,
        });
        self.broadcast_append(true)?;
        self.check_reads();
        Ok(())
    }

    /// Takes a snapshot of the state machine as of `index` (which must be applied): the
    /// file is written now; once a sync covers it the log before it is trimmed (thesis
    /// ch. 5).
    pub fn compact(&mut self, index: u64, data: Vec<u8>) -> Result<(), RaftError> {
        if index > self.applied || index <= self.snapshot.index {
            return Err(RaftError::InvalidArgument(format!(
                "cannot snapshot at {index}: applied {}, snapshot at {}",
                self.applied, self.snapshot.index
            )));
        }
        let term = self.term_at(index).ok_or_else(|| {
            RaftError::InvalidArgument(format!("no term known for index {index}"))
        })?;
        let voters = self.voters_at(index);
        let snap = Snapshot {
            index,
            term,
            voters,
            data,
        };
        self.storage
            .write(&snapshot_file(self.config.id, index), 0, &snap.encode())?;
        self.snapshot = snap;
        self.configs.retain(|(i, _)| *i > index);
        self.snapshots_pending.push((index, None));
        self.dirty = true;
        self.finish()
    }

    fn voters_at(&self, index: u64) -> Vec<NodeId> {
        self.configs
            .iter()
            .rev()
            .find(|(i, _)| *i <= index)
            .map_or_else(|| self.snapshot.voters.clone(), |(_, v)| v.clone())
    }

    /// Drains the storage's completions: moves the log's durable point, releases the
    /// messages that waited for them, lets the leader count its own durable entries and
    /// a candidate its own durable vote, trims the log behind durable snapshots.
    pub fn handle_storage(&mut self) -> Result<(), RaftError> {
        for c in self.storage.take_completions() {
            self.log.handle_sync_completion(&c);
            if c.result.is_ok() {
                self.last_completed = self.last_completed.max(Some(c.id));
            } else {
                // Nothing became durable; sync again and keep everything waiting on it.
                self.dirty = true;
                self.retag = true;
            }
        }
        while let Some((id, _)) = self.held.front() {
            if Some(*id) > self.last_completed {
                break;
            }
            let (_, env) = self.held.pop_front().expect("front exists");
            self.ready.push(env);
        }
        // Snapshots whose file is durable: trim the log behind them, drop older files.
        let done: Vec<u64> = self
            .snapshots_pending
            .iter()
            .filter(|(_, s)| s.is_some() && *s <= self.last_completed)
            .map(|(i, _)| *i)
            .collect();
        if !done.is_empty() {
            self.snapshots_pending
                .retain(|(_, s)| s.is_none() || *s > self.last_completed);
            let index = *done.iter().max().expect("non-empty");
            let keep_from = index.min(self.snapshot.index);
            let before = self.first_log_index();
            self.log
                .trim_prefix(&mut self.storage as &mut dyn Storage, Lsn(keep_from))?;
            let removed = self.first_log_index() - before;
            self.terms.drain(..usize::try_from(removed).expect("fits"));
            for (i, f) in snapshot_files(&self.storage as &dyn Storage, self.config.id) {
                if i < keep_from {
                    self.storage.delete(&f)?;
                }
            }
            self.dirty = true;
            self.events.push(NodeEvent::SnapshotTaken { index });
        }
        if self.role == Role::Leader {
            self.maybe_commit()?;
        }
        if self.role == Role::Candidate {
            self.maybe_win()?;
        }
        self.finish()
    }

    /// Handles a message from another node.
    pub fn handle_message(&mut self, from: NodeId, msg: Message) -> Result<(), RaftError> {
        if from == self.config.id || from == 0 {
            return Ok(());
        }
        self.step(from, msg)?;
        self.finish()
    }

    // ---- outputs -----------------------------------------------------------------------

    /// Messages that may be sent now (everything they depend on is durable).
    pub fn take_messages(&mut self) -> Vec<Envelope> {
        std::mem::take(&mut self.ready)
    }

    /// Committed entries (and snapshots to restore) not yet handed out, in order.
    pub fn take_committed(&mut self) -> Result<Vec<Apply>, RaftError> {
        let mut out = Vec::new();
        if self.snapshot_to_apply {
            self.snapshot_to_apply = false;
            out.push(Apply::Snapshot(self.snapshot.clone()));
        }
        while self.applied < self.commit {
            let e = self.entry(self.applied + 1)?;
            self.applied += 1;
            out.push(Apply::Entry(e));
        }
        Ok(out)
    }

    /// Reads confirmed since the last call.
    pub fn take_reads(&mut self) -> Vec<ReadState> {
        std::mem::take(&mut self.reads_ready)
    }

    /// Events since the last call.
    pub fn take_events(&mut self) -> Vec<NodeEvent> {
        std::mem::take(&mut self.events)
    }

    // ---- the protocol ------------------------------------------------------------------

    fn is_voter(&self) -> bool {
        self.voters().contains(&self.config.id)
    }

    fn in_lease(&self) -> bool {
        self.config.check_quorum
            && (self.role == Role::Leader
                || (self.leader.is_some()
                    && self.heard_leader_at.is_some_and(|t| {
                        self.now.saturating_sub(t) < self.config.election_timeout_min_ticks
                    })))
    }

    fn last_term(&self) -> u64 {
        self.term_at(self.last_index())
            .expect("the last entry's term is known")
    }

    /// Raft §5.4.1: the candidate's log is at least as up-to-date as ours.
    fn log_ok(&self, last_index: u64, last_term: u64) -> bool {
        (last_term, last_index) >= (self.last_term(), self.last_index())
    }

    fn reset_election_timer(&mut self) {
        self.election_elapsed = 0;
        self.election_timeout = self.rng.range_inclusive(
            self.config.election_timeout_min_ticks,
            self.config.election_timeout_max_ticks,
        );
    }

    fn set_hard_state(&mut self, term: u64, vote: Option<NodeId>) -> Result<(), RaftError> {
        let state = HardState { term, vote };
        if state == self.hard {
            return Ok(());
        }
        assert!(
            term > self.hard.term || (term == self.hard.term && self.hard.vote.is_none()),
            "hard state may only move forward: {:?} -> {state:?}",
            self.hard
        );
        self.hard_seq += 1;
        let slot = HardStateSlot {
            seq: self.hard_seq,
            state,
        };
        write_hard_state(
            &mut self.storage as &mut dyn Storage,
            &self.config.state_file(),
            &slot,
        )?;
        self.hard = state;
        self.hard_dirty = true;
        self.dirty = true;
        Ok(())
    }

    fn hard_state_durable(&self) -> bool {
        !self.hard_dirty
            && self
                .hard_sync
                .is_none_or(|s| Some(s) <= self.last_completed)
    }

    fn set_role(&mut self, role: Role) {
        self.role = role;
        self.events.push(NodeEvent::RoleChanged {
            role,
            term: self.hard.term,
        });
    }

    fn become_follower(&mut self, term: u64, leader: Option<NodeId>) -> Result<(), RaftError> {
        let changed = self.role != Role::Follower || term > self.hard.term;
        if term > self.hard.term {
            self.set_hard_state(term, None)?;
        }
        self.leader = leader;
        self.votes.clear();
        self.progress.clear();
        self.reads_pending.clear();
        self.reads_waiting_commit.clear();
        self.reset_election_timer();
        if changed {
            self.set_role(Role::Follower);
        }
        Ok(())
    }

    fn become_pre_candidate(&mut self) -> Result<(), RaftError> {
        self.set_role(Role::PreCandidate);
        self.leader = None;
        self.votes.clear();
        self.votes.insert(self.config.id);
        self.reset_election_timer();
        let (term, last_index, last_term) =
            (self.hard.term + 1, self.last_index(), self.last_term());
        for to in self.other_voters() {
            self.send(
                to,
                Message::PreVote {
                    term,
                    last_index,
                    last_term,
                },
            );
        }
        if self.votes.len() >= quorum(self.voters().len()) {
            self.become_candidate()?;
        }
        Ok(())
    }

    fn become_candidate(&mut self) -> Result<(), RaftError> {
        let term = self.hard.term + 1;
        self.set_hard_state(term, Some(self.config.id))?;
        self.set_role(Role::Candidate);
        self.leader = None;
        self.votes.clear();
        self.votes.insert(self.config.id);
        self.reset_election_timer();
        let (last_index, last_term) = (self.last_index(), self.last_term());
        for to in self.other_voters() {
            self.send(
                to,
                Message::RequestVote {
                    term,
                    last_index,
                    last_term,
                },
            );
        }
        // A single voter wins at once, but only once its vote for itself is durable.
        Ok(())
    }

    fn maybe_win(&mut self) -> Result<(), RaftError> {
        if self.role == Role::Candidate
            && self.votes.len() >= quorum(self.voters().len())
            && self.hard_state_durable()
        {
            self.become_leader()?;
        }
        Ok(())
    }

    fn become_leader(&mut self) -> Result<(), RaftError> {
        self.set_role(Role::Leader);
        self.leader = Some(self.config.id);
        self.leader_since = self.now;
        self.heartbeat_elapsed = 0;
        self.progress.clear();
        self.sync_progress_with_voters();
        // Thesis §6.4: a no-op of the new term commits what earlier terms left.
        self.append_local(self.hard.term, &EntryKind::Noop)?;
        self.broadcast_append(true)?;
        self.maybe_commit()
    }

    fn other_voters(&self) -> Vec<NodeId> {
        self.voters()
            .iter()
            .copied()
            .filter(|v| *v != self.config.id)
            .collect()
    }

    /// The leader tracks exactly the other voters of the configuration in force.
    fn sync_progress_with_voters(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        let others = self.other_voters();
        self.progress.retain(|id, _| others.contains(id));
        let next = self.last_index() + 1;
        let now = self.now;
        for id in others {
            self.progress.entry(id).or_insert(Progress {
                next,
                matched: 0,
                inflight: false,
                last_heard: now,
                acked_round: 0,
                snapshot: None,
                commit_sent: 0,
            });
        }
    }

    fn quorum_recently_heard(&self) -> bool {
        let window = self.config.election_timeout_max_ticks;
        if self.now - self.leader_since < window {
            return true;
        }
        let mut heard = usize::from(self.is_voter());
        heard += self
            .progress
            .values()
            .filter(|p| self.now - p.last_heard < window)
            .count();
        heard >= quorum(self.voters().len())
    }

    fn send(&mut self, to: NodeId, msg: Message) {
        self.staged.push(Envelope {
            from: self.config.id,
            to,
            msg,
        });
    }

    fn append_local(&mut self, term: u64, kind: &EntryKind) -> Result<u64, RaftError> {
        let payload = encode_entry(term, kind);
        let lsn = self
            .log
            .append(&mut self.storage as &mut dyn Storage, &payload)?;
        self.terms.push(term);
        self.dirty = true;
        Ok(lsn.0 + 1)
    }

    fn truncate_from(&mut self, index: u64) -> Result<(), RaftError> {
        assert!(
            index > self.commit,
            "node {}: truncating committed entry {index} (commit {})",
            self.config.id,
            self.commit
        );
        let first = self.first_log_index();
        self.log
            .truncate_suffix(&mut self.storage as &mut dyn Storage, Lsn(index - 1))?;
        self.terms
            .truncate(usize::try_from(index - first).expect("fits"));
        self.configs.retain(|(i, _)| *i < index);
        self.epoch += 1;
        self.dirty = true;
        self.events.push(NodeEvent::Truncated { from: index });
        Ok(())
    }

    fn step(&mut self, from: NodeId, msg: Message) -> Result<(), RaftError> {
        let term = msg.term();
        let my_term = self.hard.term;
        // Term comparison first (Raft §5.1), with the pre-vote exceptions (thesis §9.6).
        match &msg {
            Message::PreVote { .. } => return self.handle_pre_vote(from, msg),
            Message::PreVoteResponse { term, granted } => {
                if *granted && *term == my_term + 1 && self.role == Role::PreCandidate {
                    self.votes.insert(from);
                    if self.votes.len() >= quorum(self.voters().len()) {
                        self.become_candidate()?;
                    }
                } else if !*granted && *term > my_term {
                    self.become_follower(*term, None)?;
                }
                return Ok(());
            }
            _ => {}
        }
        if term > my_term {
            if matches!(msg, Message::RequestVote { .. }) && self.in_lease() {
                // Thesis §4.2.3: a node hearing from a leader ignores disruptive votes.
                return Ok(());
            }
            let leader = match msg {
                Message::AppendEntries { .. } | Message::InstallSnapshot { .. } => Some(from),
                _ => None,
            };
            self.become_follower(term, leader)?;
        } else if term < my_term {
            // A stale sender: tell leaders and candidates about the newer term.
            match msg {
                Message::AppendEntries { .. } | Message::InstallSnapshot { .. } => self.send(
                    from,
                    Message::AppendEntriesResponse {
                        term: my_term,
                        success: false,
                        match_index: 0,
                        conflict_index: 0,
                        conflict_term: None,
                        round: 0,
                    },
                ),
                Message::RequestVote { .. } => self.send(
                    from,
                    Message::RequestVoteResponse {
                        term: my_term,
                        granted: false,
                    },
                ),
                _ => {}
            }
            return Ok(());
        }
        match msg {
            Message::RequestVote {
                last_index,
                last_term,
                ..
            } => {
                let can_vote = self.hard.vote.is_none_or(|v| v == from) && self.leader.is_none();
                let granted = can_vote && self.log_ok(last_index, last_term);
                if granted {
                    self.set_hard_state(self.hard.term, Some(from))?;
                    self.reset_election_timer();
                    self.events.push(NodeEvent::VoteGranted {
                        candidate: from,
                        term: self.hard.term,
                    });
                }
                self.send(
                    from,
                    Message::RequestVoteResponse {
                        term: self.hard.term,
                        granted,
                    },
                );
            }
            Message::RequestVoteResponse { granted, .. } => {
                if self.role == Role::Candidate && granted {
                    self.votes.insert(from);
                    self.maybe_win()?;
                }
            }
            Message::AppendEntries {
                prev_index,
                prev_term,
                entries,
                commit,
                round,
                ..
            } => {
                self.follow(from);
                self.handle_append(from, prev_index, prev_term, entries, commit, round)?;
            }
            Message::InstallSnapshot {
                last_index,
                last_term,
                voters,
                offset,
                data,
                done,
                round,
                ..
            } => {
                self.follow(from);
                self.handle_snapshot_chunk(
                    from, last_index, last_term, voters, offset, data, done, round,
                )?;
            }
            Message::AppendEntriesResponse {
                success,
                match_index,
                conflict_index,
                conflict_term,
                round,
                ..
            } => {
                if self.role == Role::Leader {
                    self.handle_append_response(
                        from,
                        success,
                        match_index,
                        conflict_index,
                        conflict_term,
                        round,
                    )?;
                }
            }
            Message::InstallSnapshotResponse {
                last_index,
                next_offset,
                done,
                round,
                ..
            } => {
                if self.role == Role::Leader {
                    self.handle_snapshot_response(from, last_index, next_offset, done, round)?;
                }
            }
            Message::PreVote { .. } | Message::PreVoteResponse { .. } => {
                unreachable!("handled above")
            }
        }
        Ok(())
    }

    fn handle_pre_vote(&mut self, from: NodeId, msg: Message) -> Result<(), RaftError> {
        let Message::PreVote {
            term,
            last_index,
            last_term,
        } = msg
        else {
            unreachable!("only pre-votes come here")
        };
        let granted = term > self.hard.term
            && !self.in_lease()
            && self.role != Role::Leader
            && self.log_ok(last_index, last_term);
        self.send(
            from,
            Message::PreVoteResponse {
                term: if granted { term } else { self.hard.term },
                granted,
            },
        );
        Ok(())
    }

    /// A message from the leader of our term: follow it.
    fn follow(&mut self, leader: NodeId) {
        assert!(
            self.role != Role::Leader,
            "node {}: two leaders in term {} ({} and {leader})",
            self.config.id,
            self.hard.term,
            self.config.id
        );
        if self.role != Role::Follower {
            self.set_role(Role::Follower);
            self.votes.clear();
        }
        self.leader = Some(leader);
        self.heard_leader_at = Some(self.now);
        self.election_elapsed = 0;
    }

    fn handle_append(
        &mut self,
        from: NodeId,
        prev_index: u64,
        prev_term: u64,
        entries: Vec<Entry>,
        leader_commit: u64,
        round: u64,
    ) -> Result<(), RaftError> {
        let reject = |conflict_index: u64, conflict_term: Option<u64>, term: u64| {
            Message::AppendEntriesResponse {
                term,
                success: false,
                match_index: 0,
                conflict_index,
                conflict_term,
                round,
            }
        };
        let term = self.hard.term;
        // Entries at or below the snapshot are committed, hence already ours (§5.4).
        let (prev_index, prev_term, entries) = if prev_index < self.snapshot.index {
            let skip = usize::try_from(self.snapshot.index - prev_index).expect("fits");
            if entries.len() < skip {
                // Entirely old news: acknowledge what we know is committed.
                self.send(
                    from,
                    Message::AppendEntriesResponse {
                        term,
                        success: true,
                        match_index: self.snapshot.index,
                        conflict_index: 0,
                        conflict_term: None,
                        round,
                    },
                );
                return Ok(());
            }
            let rest = entries[skip..].to_vec();
            (self.snapshot.index, self.snapshot.term, rest)
        } else {
            (prev_index, prev_term, entries)
        };
        if prev_index > self.last_index() {
            self.send(from, reject(self.last_index() + 1, None, term));
            return Ok(());
        }
        match self.term_at(prev_index) {
            Some(t) if t == prev_term => {}
            Some(t) => {
                // Fast backtracking: the first index of the conflicting term.
                let mut first = prev_index;
                while first > self.first_log_index() && self.term_at(first - 1) == Some(t) {
                    first -= 1;
                }
                self.send(from, reject(first.max(self.commit + 1), Some(t), term));
                return Ok(());
            }
            None => unreachable!("prev_index within snapshot..=last always has a term"),
        }
        let match_index = prev_index + entries.len() as u64;
        for e in entries {
            if e.index <= self.last_index() {
                if self.term_at(e.index) == Some(e.term) {
                    continue;
                }
                self.truncate_from(e.index)?;
            }
            debug_assert_eq!(e.index, self.last_index() + 1);
            let index = self.append_local(e.term, &e.kind)?;
            if let EntryKind::Config(v) = e.kind {
                self.configs.push((index, v));
            }
        }
        let new_commit = leader_commit.min(match_index);
        if new_commit > self.commit {
            self.commit = new_commit;
            self.events.push(NodeEvent::Committed { index: new_commit });
        }
        self.send(
            from,
            Message::AppendEntriesResponse {
                term,
                success: true,
                match_index,
                conflict_index: 0,
                conflict_term: None,
                round,
            },
        );
        Ok(())
    }

    #[expect(clippy::too_many_arguments, reason = "the fields of one message")]
    fn handle_snapshot_chunk(
        &mut self,
        from: NodeId,
        last_index: u64,
        last_term: u64,
        voters: Vec<NodeId>,
        offset: u64,
        data: Vec<u8>,
        done: bool,
        round: u64,
    ) -> Result<(), RaftError> {
        let term = self.hard.term;
        let respond = |next_offset: u64, done: bool| Message::InstallSnapshotResponse {
            term,
            last_index,
            next_offset,
            done,
            round,
        };
        if last_index <= self.commit {
            // We already have everything it holds.
            self.incoming = None;
            self.send(from, respond(u64::MAX, true));
            return Ok(());
        }
        if offset == 0 {
            self.incoming = Some(IncomingSnapshot {
                term,
                index: last_index,
                last_term,
                voters,
                data: Vec::new(),
            });
        }
        let Some(inc) = self
            .incoming
            .as_mut()
            .filter(|i| i.term == term && i.index == last_index)
        else {
            self.send(from, respond(0, false));
            return Ok(());
        };
        if offset != inc.data.len() as u64 {
            let have = inc.data.len() as u64;
            self.send(from, respond(have, false));
            return Ok(());
        }
        inc.data.extend_from_slice(&data);
        if !done {
            let have = inc.data.len() as u64;
            self.send(from, respond(have, false));
            return Ok(());
        }
        let inc = self.incoming.take().expect("checked above");
        let snap = Snapshot {
            index: inc.index,
            term: inc.last_term,
            voters: inc.voters,
            data: inc.data,
        };
        self.storage.write(
            &snapshot_file(self.config.id, snap.index),
            0,
            &snap.encode(),
        )?;
        if self.term_at(snap.index) == Some(snap.term) {
            // Our log continues the snapshot: keep the entries after it (thesis §5.3).
        } else {
            self.log
                .reset(&mut self.storage as &mut dyn Storage, Lsn(snap.index))?;
            self.terms.clear();
            self.configs.clear();
            self.epoch += 1;
        }
        self.configs.retain(|(i, _)| *i > snap.index);
        self.commit = snap.index;
        self.applied = snap.index;
        self.snapshot_to_apply = true;
        self.events
            .push(NodeEvent::SnapshotInstalled { index: snap.index });
        self.events.push(NodeEvent::Committed { index: snap.index });
        let len = snap.data.len() as u64;
        self.snapshots_pending.push((snap.index, None));
        self.snapshot = snap;
        self.dirty = true;
        // Sent after the sync covering the snapshot file and the log reset completes.
        self.send(from, respond(len, true));
        Ok(())
    }

    fn handle_append_response(
        &mut self,
        from: NodeId,
        success: bool,
        match_index: u64,
        conflict_index: u64,
        conflict_term: Option<u64>,
        round: u64,
    ) -> Result<(), RaftError> {
        let last = self.last_index();
        let leader_last_of_term = |t: u64| -> Option<u64> {
            let first = self.first_log_index();
            (first..=last).rev().find(|i| self.term_at(*i) == Some(t))
        };
        let backtrack = match conflict_term {
            Some(t) if !success => leader_last_of_term(t).map(|i| i + 1),
            _ => None,
        };
        let now = self.now;
        let Some(p) = self.progress.get_mut(&from) else {
            return Ok(());
        };
        p.last_heard = now;
        p.acked_round = p.acked_round.max(round);
        p.inflight = false;
        if success {
            p.matched = p.matched.max(match_index);
            p.next = p.next.max(p.matched + 1);
        } else {
            let next = backtrack.unwrap_or(conflict_index);
            p.next = next.clamp(p.matched + 1, last + 1);
        }
        let more = p.next <= last;
        if success {
            self.maybe_commit()?;
        }
        // A follower that has not heard the current commit index yet hears it now
        // rather than at the next heartbeat.
        let more = more
            || self
                .progress
                .get(&from)
                .is_some_and(|p| p.commit_sent < self.commit);
        // (Committing may have ended this leadership: a configuration removing it.)
        if (more || !success) && self.progress.contains_key(&from) {
            self.send_append(from)?;
        }
        self.check_reads();
        Ok(())
    }

    fn handle_snapshot_response(
        &mut self,
        from: NodeId,
        last_index: u64,
        next_offset: u64,
        done: bool,
        round: u64,
    ) -> Result<(), RaftError> {
        let now = self.now;
        let Some(p) = self.progress.get_mut(&from) else {
            return Ok(());
        };
        p.last_heard = now;
        p.acked_round = p.acked_round.max(round);
        p.inflight = false;
        if done {
            p.snapshot = None;
            p.matched = p.matched.max(last_index);
            p.next = p.next.max(last_index + 1);
            self.maybe_commit()?;
        } else if let Some((i, off)) = p.snapshot.as_mut() {
            if *i == last_index {
                *off = next_offset;
            }
        }
        if self.progress.contains_key(&from) {
            self.send_append(from)?;
        }
        self.check_reads();
        Ok(())
    }

    fn broadcast_append(&mut self, heartbeat: bool) -> Result<(), RaftError> {
        let peers: Vec<NodeId> = self.progress.keys().copied().collect();
        for to in peers {
            let p = &self.progress[&to];
            if heartbeat || !p.inflight {
                self.send_append(to)?;
            }
        }
        Ok(())
    }

    /// Sends `to` the entries from its next index (or the next snapshot chunk).
    fn send_append(&mut self, to: NodeId) -> Result<(), RaftError> {
        let last = self.last_index();
        let round = self.read_round;
        let term = self.hard.term;
        let need_snapshot = self
            .progress
            .get(&to)
            .is_some_and(|p| self.term_at(p.next - 1).is_none());
        let p = self.progress.get_mut(&to).expect("a tracked peer");
        p.inflight = true;
        if need_snapshot {
            // The entries it needs were compacted: send the snapshot, in chunks.
            let snap_index = self.snapshot.index;
            let offset = match p.snapshot {
                Some((i, off)) if i == snap_index => off,
                _ => 0,
            };
            p.snapshot = Some((snap_index, offset));
            let bytes = &self.snapshot.data;
            let start = usize::try_from(offset.min(bytes.len() as u64)).expect("fits");
            let chunk = usize::try_from(self.config.snapshot_chunk_bytes).unwrap_or(usize::MAX);
            let end = start.saturating_add(chunk).min(bytes.len());
            let msg = Message::InstallSnapshot {
                term,
                last_index: snap_index,
                last_term: self.snapshot.term,
                voters: self.snapshot.voters.clone(),
                offset: start as u64,
                data: bytes[start..end].to_vec(),
                done: end == bytes.len(),
                round,
            };
            self.send(to, msg);
            return Ok(());
        }
        p.commit_sent = self.commit;
        let next = p.next;
        let prev_index = next - 1;
        let prev_term = self
            .term_at(prev_index)
            .expect("prev is in the log or the snapshot");
        let end = last.min(next + self.config.max_entries_per_message - 1);
        let mut entries = Vec::new();
        for i in next..=end {
            entries.push(self.entry(i)?);
        }
        let msg = Message::AppendEntries {
            term,
            prev_index,
            prev_term,
            entries,
            commit: self.commit,
            round,
        };
        self.send(to, msg);
        Ok(())
    }

    /// Raft §5.3/§5.4.2: commit the highest index stored on a majority, but only if its
    /// entry is of the current term (Figure 8). The leader counts itself only through
    /// its durable entries.
    fn maybe_commit(&mut self) -> Result<(), RaftError> {
        let voters = self.voters().to_vec();
        let mut matched: Vec<u64> = voters
            .iter()
            .map(|v| {
                if *v == self.config.id {
                    self.durable_index()
                } else {
                    self.progress.get(v).map_or(0, |p| p.matched)
                }
            })
            .collect();
        crate::sort::sort_by(&mut matched, |a, b| b.cmp(a));
        let n = matched[quorum(voters.len()) - 1];
        if n > self.commit && self.term_at(n) == Some(self.hard.term) {
            self.commit = n;
            self.events.push(NodeEvent::Committed { index: n });
            // Reads that waited for an entry of this term can start now.
            for ctx in std::mem::take(&mut self.reads_waiting_commit) {
                self.start_read(ctx)?;
            }
            // A leader removed by a committed configuration steps down (thesis §4.2.2).
            if !self.is_voter() && self.configs.last().is_none_or(|(i, _)| *i <= n) {
                let term = self.hard.term;
                self.become_follower(term, None)?;
                return Ok(());
            }
            self.broadcast_append(false)?;
        }
        Ok(())
    }

    fn check_reads(&mut self) {
        if self.reads_pending.is_empty() {
            return;
        }
        let voters = self.voters().to_vec();
        let mut rounds: Vec<u64> = voters
            .iter()
            .map(|v| {
                if *v == self.config.id {
                    self.read_round
                } else {
                    self.progress.get(v).map_or(0, |p| p.acked_round)
                }
            })
            .collect();
        crate::sort::sort_by(&mut rounds, |a, b| b.cmp(a));
        let confirmed = rounds[quorum(voters.len()) - 1];
        let (ready, pending): (Vec<_>, Vec<_>) = std::mem::take(&mut self.reads_pending)
            .into_iter()
            .partition(|r| r.round <= confirmed);
        self.reads_pending = pending;
        self.reads_ready
            .extend(ready.into_iter().map(|r| ReadState {
                ctx: r.ctx,
                index: r.index,
            }));
    }

    /// Ends every input: syncs what changed and releases or holds the messages produced.
    fn finish(&mut self) -> Result<(), RaftError> {
        if self.dirty {
            let id = self
                .log
                .request_sync(&mut self.storage as &mut dyn Storage)?;
            self.last_requested = Some(id);
            if self.hard_dirty {
                self.hard_sync = Some(id);
                self.hard_dirty = false;
            }
            for (_, s) in &mut self.snapshots_pending {
                if s.is_none() {
                    *s = Some(id);
                }
            }
            if self.retag {
                for (s, _) in &mut self.held {
                    *s = id;
                }
                self.retag = false;
            }
            self.dirty = false;
        }
        let gate = self
            .last_requested
            .filter(|r| Some(*r) > self.last_completed);
        for env in self.staged.drain(..) {
            // A candidate's or leader's requests promise nothing about its own disk: they
            // go out at once, in parallel with its sync (thesis §10.2.1); it counts its
            // own vote and its own entries only once they are durable.
            let request = matches!(
                env.msg,
                Message::RequestVote { .. }
                    | Message::AppendEntries { .. }
                    | Message::InstallSnapshot { .. }
            );
            match gate {
                Some(id) if !request => self.held.push_back((id, env)),
                _ => self.ready.push(env),
            }
        }
        Ok(())
    }

    /// Checks the invariants in the module docs; panics on a violation (a bug).
    pub fn validate(&self) {
        self.log.validate();
        let first = self.first_log_index();
        let last = self.last_index();
        assert_eq!(
            self.terms.len() as u64,
            last + 1 - first,
            "term cache out of step with the log"
        );
        assert!(
            self.terms.windows(2).all(|w| w[0] <= w[1]),
            "terms in the log decrease"
        );
        assert!(
            first <= self.snapshot.index + 1,
            "the log starts after the snapshot"
        );
        assert!(
            last >= self.snapshot.index,
            "the log ends before the snapshot"
        );
        assert!(
            self.snapshot.index <= self.applied
                && self.applied <= self.commit
                && self.commit <= last,
            "snapshot {} <= applied {} <= commit {} <= last {} violated",
            self.snapshot.index,
            self.applied,
            self.commit,
            last
        );
        assert!(
            self.terms.last().is_none_or(|t| *t <= self.hard.term),
            "an entry from a future term"
        );
        if self.role == Role::Leader {
            assert_eq!(
                self.hard.vote,
                Some(self.config.id),
                "a leader voted for itself"
            );
            assert_eq!(self.leader, Some(self.config.id));
            for (id, p) in &self.progress {
                assert!(p.matched < p.next, "peer {id}: match >= next");
                assert!(p.next <= last + 1, "peer {id}: next past the log");
            }
        } else {
            assert!(self.progress.is_empty(), "a non-leader tracks progress");
        }
        assert!(
            self.configs.windows(2).all(|w| w[0].0 < w[1].0),
            "configurations out of order"
        );
        assert!(
            self.configs
                .iter()
                .all(|(i, _)| *i > self.snapshot.index && *i <= last),
            "a configuration outside the log"
        );
    }
}
