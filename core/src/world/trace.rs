//! The typed trace: every event the playground animates, numbered and stamped with virtual
//! time. Its JSON form (one object per line, `type` naming the kind) is a documented
//! contract: the command-line runner prints it, the determinism test hashes it, and the
//! UI folds over it. Engine events are mapped here into plain, stable shapes (numbers and
//! strings, no floats), so the trace does not change when an engine's internals do.

use crate::db::{DbEvent, RecoveryStep, SyncReason};
use crate::lsm::{ChoiceReason, LsmEvent};
use crate::raft::node::{NodeEvent, Role};
use crate::raft::sim::{DropReason, TraceKind as RaftTrace};

use super::Action;
use crate::json::Writer;

/// One event of the trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceEvent {
    /// Its position in the trace, from 0.
    pub seq: u64,
    /// Virtual time (ticks) when it happened.
    pub time: u64,
    /// What happened.
    pub kind: TraceKind,
}

/// What happened. The JSON field `type` is the snake-case variant name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceKind {
    /// A scenario or user action was applied.
    Action {
        /// The action.
        action: Action,
    },
    /// An action could not be applied (for example, a read while the database is
    /// recovering); nothing changed.
    ActionRefused {
        /// The action.
        action: Action,
        /// Why.
        reason: String,
    },
    /// A workload client gave up its transaction (a key another transaction holds: the
    /// locks do not wait; or an error).
    ClientAborted {
        /// The transaction.
        txn: u64,
        /// Why.
        reason: String,
    },
    /// A read's result.
    ReadResult {
        /// The key.
        key: String,
        /// Its value (`None`: absent).
        value: Option<String>,
    },
    /// A WAL record was appended.
    RecordAppended {
        /// Its LSN.
        lsn: u64,
        /// Its kind (`update`, `commit`, `clr`, `abort`, `checkpoint`, `create`).
        kind: String,
        /// Its transaction.
        txn: Option<u64>,
        /// B-tree pages it changed.
        pages: Vec<u64>,
    },
    /// A sync was issued.
    SyncIssued {
        /// The sync.
        sync: u64,
        /// Every WAL record below this LSN is covered.
        covers: u64,
        /// Commits it will acknowledge.
        commits: u64,
        /// Why (`commit`, `wal_rule`, `wal_writer`, `checkpoint`, `recovery`).
        reason: String,
    },
    /// A sync completed.
    SyncDone {
        /// The sync.
        sync: u64,
        /// Whether it succeeded.
        ok: bool,
    },
    /// A commit was acknowledged (durable).
    Committed {
        /// The transaction.
        txn: u64,
        /// Its commit record.
        lsn: Option<u64>,
        /// Ticks from commit to acknowledgement.
        latency: u64,
    },
    /// A transaction was rolled back.
    RolledBack {
        /// The transaction.
        txn: u64,
        /// Updates undone.
        undone: u64,
    },
    /// A checkpoint began.
    CheckpointBegan {
        /// Its redo LSN.
        redo: u64,
        /// Pages to write (B-tree) or memtables to flush (LSM).
        to_write: u64,
    },
    /// The checkpointer wrote a page.
    PageFlushed {
        /// The page.
        page: u64,
    },
    /// A checkpoint finished.
    CheckpointDone {
        /// The checkpoint record.
        lsn: u64,
        /// Its redo LSN.
        redo: u64,
        /// WAL segments dropped.
        trimmed_segments: u64,
    },
    /// Recovery did one step (its case label is in the database's case table).
    Recovery {
        /// `start`, `analysis`, `redo` or `undo`.
        phase: String,
        /// The case label (S1, A2, R7, U1, ...).
        case: String,
        /// The record concerned.
        lsn: Option<u64>,
    },
    /// The LSM froze its active memtable.
    MemtableFrozen {
        /// Keys in it.
        entries: u64,
        /// Its bytes.
        bytes: u64,
    },
    /// The LSM wrote a frozen memtable as an L0 table (its sync in flight).
    FlushStarted {
        /// The table.
        table: u64,
        /// Its bytes.
        bytes: u64,
    },
    /// The flush is durable and recorded in the manifest.
    FlushDone {
        /// The table.
        table: u64,
        /// Everything up to this LSN is in tables.
        last_flushed_lsn: u64,
    },
    /// A compaction was chosen.
    CompactionPicked {
        /// Why (`l0_files`, `level_size`, `tier`; `manual`: a step of a `compact` action).
        reason: String,
        /// Inputs as (level, table), newest first.
        inputs: Vec<(u32, u64)>,
        /// Where the outputs go.
        output_level: u32,
        /// A trivial move (no rewrite).
        trivial_move: bool,
    },
    /// A compaction finished: outputs recorded, inputs deleted.
    CompactionDone {
        /// Where the outputs went.
        output_level: u32,
        /// Bytes read.
        bytes_read: u64,
        /// Bytes written.
        bytes_written: u64,
        /// The outputs.
        tables: Vec<u64>,
    },
    /// The disk crashed: everything volatile is gone.
    Crash {
        /// Syncs in flight that never completed.
        syncs_lost: u64,
        /// Operations lost.
        ops_lost: u64,
        /// The file whose last write was torn, if one was.
        torn: Option<String>,
    },
    /// A bit flipped on the disk (bit rot).
    BitFlipped {
        /// The file.
        file: String,
        /// The bit.
        bit: u64,
    },
    /// The database was opened after a crash (recovery's summary; undo may continue).
    Reopened {
        /// Where the WAL ended.
        wal_end: u64,
        /// Committed transactions found.
        winners: u64,
        /// Transactions being rolled back.
        losers: u64,
        /// One paragraph for people.
        summary: String,
    },
    /// The database could not be opened (a damaged disk); the world stops here.
    OpenFailed {
        /// The error.
        error: String,
    },
    /// An invariant was checked after recovery finished.
    InvariantChecked {
        /// Which.
        name: String,
        /// Whether it held.
        ok: bool,
        /// What was found.
        detail: String,
    },
    /// CDC: a committed transaction's change events were queued for the topic.
    CdcCaptured {
        /// Its commit record.
        commit_lsn: u64,
        /// The transaction.
        txn: u64,
        /// Its change events.
        events: u64,
    },
    /// CDC: an aborted transaction was dropped unpublished.
    CdcDiscarded {
        /// The transaction.
        txn: u64,
    },
    /// CDC: every event up to this commit is acknowledged; the connector stored its
    /// position.
    CdcStored {
        /// Where reading resumes after a crash.
        resume: u64,
        /// The last commit fully published.
        last_commit: Option<u64>,
    },
    /// A machine other than the database's crashed and restarted (`broker`, `connector`).
    ComponentCrashed {
        /// Which.
        component: String,
        /// Operations its disk lost.
        ops_lost: u64,
    },
    /// A view was dropped; it rebuilds from offset 0.
    ViewDropped {
        /// The view.
        view: String,
    },
    /// A dropped view caught up again.
    ViewRebuilt {
        /// The view.
        view: String,
        /// The offset it rebuilt to (in partition 0).
        offset: u64,
        /// With several partitions, each one's offset (partition, offset); absent with one.
        positions: Vec<(u32, u64)>,
    },
    /// Dual writes: the application produced an acknowledged transaction's writes to
    /// the topic `dual` itself.
    DualWriteProduced {
        /// The transaction's commit record.
        commit_lsn: u64,
        /// Records produced.
        records: u64,
    },
    /// Dual writes: the database's machine crashed before the application produced
    /// these acknowledged transactions: the database has them, the topic never will.
    DualWriteLost {
        /// Transactions lost to the topic.
        transactions: u64,
    },
    /// Dual writes: with everything produced and consumed, this many keys differ between
    /// the database and the `dual-replica` view (reported when it changes).
    DualWriteDiverged {
        /// Keys whose value differs.
        keys: u64,
    },
    /// A member joined the consumer group `app` (a rebalance follows).
    ConsumerJoined {
        /// The member.
        consumer: String,
        /// The group's new generation.
        generation: u64,
    },
    /// A member left the consumer group (a rebalance follows).
    ConsumerLeft {
        /// The member.
        consumer: String,
        /// The group's new generation.
        generation: u64,
    },
    /// The group's partitions were assigned anew (after a join, a leave or a broker
    /// restart).
    Rebalanced {
        /// The generation.
        generation: u64,
        /// Each member, in name order, with its partitions of `changes`.
        assignment: Vec<(String, Vec<u32>)>,
    },
    /// A member committed its position (stored in `__consumer_offsets`).
    OffsetCommitted {
        /// The member.
        consumer: String,
        /// The partition.
        partition: u32,
        /// The next offset it will read.
        offset: u64,
    },
    /// A member's offset was moved: by a reset action, or because retention dropped the
    /// records it was about to read (it starts again at the earliest one held).
    OffsetReset {
        /// The member.
        consumer: String,
        /// The partition.
        partition: u32,
        /// Where it reads next.
        offset: u64,
    },
    /// A member that was reset has read up to the high watermark again.
    ConsumerCaughtUp {
        /// The member.
        consumer: String,
        /// Its position (in its first partition).
        offset: u64,
        /// With a topic of several partitions, each assigned partition's position
        /// (partition, offset); absent with one.
        positions: Vec<(u32, u64)>,
    },
    /// Retention dropped whole segments from the front of a partition.
    SegmentsDropped {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// Its first offset now.
        start: u64,
    },
    /// A compaction of a compacted partition finished: only each key's latest record
    /// remains (offsets unchanged, with gaps).
    TopicCompacted {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// Records it holds now.
        records: u64,
        /// Its first offset now.
        start: u64,
    },
    /// A view fell behind the retained start of `changes`: the changes it still needed
    /// are gone, so it stops there rather than skip them (and the final check says so).
    ViewBehindRetention {
        /// The view.
        view: String,
        /// Its position.
        position: u64,
        /// The partition's first offset.
        start: u64,
        /// With several partitions, the partition; absent with one.
        partition: Option<u32>,
    },
    /// `compare_indexes`: one database's amplification so far (hundredths), from the
    /// engine's own counters.
    Amplification {
        /// `btree` or `lsm`.
        index: String,
        /// Bytes written to disk (WAL and index) per byte of data written, ×100.
        write_x100: u64,
        /// The WAL's share, ×100.
        wal_write_x100: u64,
        /// The index's share (pages, or tables and their rewrites by compaction), ×100.
        index_write_x100: u64,
        /// Pages (B-tree) or blocks (LSM) read per lookup, ×100.
        read_x100: u64,
        /// Bytes on disk per byte of live data, ×100.
        space_x100: u64,
        /// Bytes of data written (keys and values).
        logical_bytes: u64,
    },
    /// Raft: a node's role or term changed.
    RaftRole {
        /// The node.
        node: u64,
        /// `follower`, `pre_candidate`, `candidate` or `leader`.
        role: String,
        /// Its term.
        term: u64,
    },
    /// Raft: a node granted its vote (sent once durable).
    RaftVote {
        /// The voter.
        node: u64,
        /// The candidate.
        candidate: u64,
        /// The term.
        term: u64,
    },
    /// Raft: a node's commit index moved (a majority holds the entry).
    RaftCommit {
        /// The node.
        node: u64,
        /// The new commit index.
        index: u64,
    },
    /// Raft: a node took a snapshot (`installed`: received one from the leader).
    RaftSnapshot {
        /// The node.
        node: u64,
        /// Its last index.
        index: u64,
        /// Installed from the leader rather than taken.
        installed: bool,
    },
    /// Raft: a node removed conflicting entries from its log's end.
    RaftTruncated {
        /// The node.
        node: u64,
        /// The first index removed.
        from: u64,
    },
    /// Raft, with `config.raft_replicates`: the cluster committed and answered a batch of
    /// the feed from `changes`.
    RaftReplicated {
        /// The batch (the feed session's sequence number, from 1).
        batch: u64,
        /// Change events in it.
        events: u64,
        /// The feed's positions in `changes` after it, per partition.
        positions: Vec<u64>,
    },
    /// Raft: a node crashed or restarted (`up`).
    RaftNode {
        /// The node.
        node: u64,
        /// Up again (restarted from its disk) or down (crashed).
        up: bool,
    },
    /// Raft: the blocked links changed (empty: healed).
    RaftPartition {
        /// Blocked directed links.
        blocked: Vec<(u64, u64)>,
    },
    /// Raft: a message was dropped (loss, partition, receiver down).
    RaftDropped {
        /// Sender.
        from: u64,
        /// Receiver.
        to: u64,
        /// Why.
        reason: String,
    },
    /// The narration moved to a step.
    Narration {
        /// The step's index.
        step: u64,
        /// Its text.
        text: String,
    },
}

impl TraceKind {
    /// The JSON `type` of this kind (what narration conditions name).
    pub fn name(&self) -> &'static str {
        match self {
            TraceKind::Action { .. } => "action",
            TraceKind::ActionRefused { .. } => "action_refused",
            TraceKind::ClientAborted { .. } => "client_aborted",
            TraceKind::ReadResult { .. } => "read_result",
            TraceKind::RecordAppended { .. } => "record_appended",
            TraceKind::SyncIssued { .. } => "sync_issued",
            TraceKind::SyncDone { .. } => "sync_done",
            TraceKind::Committed { .. } => "committed",
            TraceKind::RolledBack { .. } => "rolled_back",
            TraceKind::CheckpointBegan { .. } => "checkpoint_began",
            TraceKind::PageFlushed { .. } => "page_flushed",
            TraceKind::CheckpointDone { .. } => "checkpoint_done",
            TraceKind::Recovery { .. } => "recovery",
            TraceKind::MemtableFrozen { .. } => "memtable_frozen",
            TraceKind::FlushStarted { .. } => "flush_started",
            TraceKind::FlushDone { .. } => "flush_done",
            TraceKind::CompactionPicked { .. } => "compaction_picked",
            TraceKind::CompactionDone { .. } => "compaction_done",
            TraceKind::Crash { .. } => "crash",
            TraceKind::BitFlipped { .. } => "bit_flipped",
            TraceKind::Reopened { .. } => "reopened",
            TraceKind::OpenFailed { .. } => "open_failed",
            TraceKind::InvariantChecked { .. } => "invariant_checked",
            TraceKind::CdcCaptured { .. } => "cdc_captured",
            TraceKind::CdcDiscarded { .. } => "cdc_discarded",
            TraceKind::CdcStored { .. } => "cdc_stored",
            TraceKind::ComponentCrashed { .. } => "component_crashed",
            TraceKind::ViewDropped { .. } => "view_dropped",
            TraceKind::ViewRebuilt { .. } => "view_rebuilt",
            TraceKind::DualWriteProduced { .. } => "dual_write_produced",
            TraceKind::DualWriteLost { .. } => "dual_write_lost",
            TraceKind::DualWriteDiverged { .. } => "dual_write_diverged",
            TraceKind::ConsumerJoined { .. } => "consumer_joined",
            TraceKind::ConsumerLeft { .. } => "consumer_left",
            TraceKind::Rebalanced { .. } => "rebalanced",
            TraceKind::OffsetCommitted { .. } => "offset_committed",
            TraceKind::OffsetReset { .. } => "offset_reset",
            TraceKind::ConsumerCaughtUp { .. } => "consumer_caught_up",
            TraceKind::SegmentsDropped { .. } => "segments_dropped",
            TraceKind::TopicCompacted { .. } => "topic_compacted",
            TraceKind::ViewBehindRetention { .. } => "view_behind_retention",
            TraceKind::Amplification { .. } => "amplification",
            TraceKind::RaftRole { .. } => "raft_role",
            TraceKind::RaftVote { .. } => "raft_vote",
            TraceKind::RaftCommit { .. } => "raft_commit",
            TraceKind::RaftSnapshot { .. } => "raft_snapshot",
            TraceKind::RaftTruncated { .. } => "raft_truncated",
            TraceKind::RaftReplicated { .. } => "raft_replicated",
            TraceKind::RaftNode { .. } => "raft_node",
            TraceKind::RaftPartition { .. } => "raft_partition",
            TraceKind::RaftDropped { .. } => "raft_dropped",
            TraceKind::Narration { .. } => "narration",
        }
    }

    /// Every kind's name (for checking narration conditions).
    pub const NAMES: &'static [&'static str] = &[
        "action",
        "action_refused",
        "client_aborted",
        "read_result",
        "record_appended",
        "sync_issued",
        "sync_done",
        "committed",
        "rolled_back",
        "checkpoint_began",
        "page_flushed",
        "checkpoint_done",
        "recovery",
        "memtable_frozen",
        "flush_started",
        "flush_done",
        "compaction_picked",
        "compaction_done",
        "crash",
        "bit_flipped",
        "reopened",
        "open_failed",
        "invariant_checked",
        "cdc_captured",
        "cdc_discarded",
        "cdc_stored",
        "component_crashed",
        "view_dropped",
        "view_rebuilt",
        "dual_write_produced",
        "dual_write_lost",
        "dual_write_diverged",
        "consumer_joined",
        "consumer_left",
        "rebalanced",
        "offset_committed",
        "offset_reset",
        "consumer_caught_up",
        "segments_dropped",
        "topic_compacted",
        "view_behind_retention",
        "amplification",
        "raft_role",
        "raft_vote",
        "raft_commit",
        "raft_snapshot",
        "raft_truncated",
        "raft_replicated",
        "raft_node",
        "raft_partition",
        "raft_dropped",
        "narration",
    ];
}

fn reason_name(r: SyncReason) -> &'static str {
    match r {
        SyncReason::Commit => "commit",
        SyncReason::WalRule => "wal_rule",
        SyncReason::WalWriter => "wal_writer",
        SyncReason::Checkpoint => "checkpoint",
        SyncReason::Recovery => "recovery",
    }
}

fn recovery(step: &RecoveryStep) -> TraceKind {
    let (phase, case, lsn) = match step {
        RecoveryStep::Start { case, .. } => ("start", *case, None),
        RecoveryStep::Analyzed { lsn, case, .. } => ("analysis", *case, Some(lsn.0)),
        RecoveryStep::Redo { lsn, case, .. } | RecoveryStep::RedoLogical { lsn, case } => {
            ("redo", *case, Some(lsn.0))
        }
        RecoveryStep::LsmOpened { .. } => ("redo", "R6", None),
        RecoveryStep::Undo { lsn, case, .. } => ("undo", *case, Some(lsn.0)),
    };
    TraceKind::Recovery {
        phase: phase.to_owned(),
        case: case.to_owned(),
        lsn,
    }
}

/// The trace form of a database event; `None` for the ones the trace leaves out (the
/// intermediate LSM phases, which the `*_started`/`*_done` pairs bracket).
pub fn from_db(e: &DbEvent) -> Option<TraceKind> {
    Some(match e {
        DbEvent::Appended {
            lsn,
            kind,
            txn,
            pages,
        } => TraceKind::RecordAppended {
            lsn: lsn.0,
            kind: (*kind).to_owned(),
            txn: txn.map(|t| t.0),
            pages: pages.iter().map(|p| p.0).collect(),
        },
        DbEvent::SyncIssued {
            sync,
            covers,
            commits,
            reason,
        } => TraceKind::SyncIssued {
            sync: sync.0,
            covers: covers.0,
            commits: *commits,
            reason: reason_name(*reason).to_owned(),
        },
        DbEvent::SyncDone { sync, error } => TraceKind::SyncDone {
            sync: sync.0,
            ok: error.is_none(),
        },
        DbEvent::Committed(a) => TraceKind::Committed {
            txn: a.txn.0,
            lsn: a.lsn.map(|l| l.0),
            latency: a.latency_ticks,
        },
        DbEvent::RolledBack { txn, undone } => TraceKind::RolledBack {
            txn: txn.0,
            undone: *undone,
        },
        DbEvent::CheckpointBegan { redo, pages } => TraceKind::CheckpointBegan {
            redo: redo.0,
            to_write: *pages,
        },
        DbEvent::PageFlushed { page } => TraceKind::PageFlushed { page: page.0 },
        DbEvent::CheckpointDone {
            lsn,
            redo,
            trimmed_segments,
        } => TraceKind::CheckpointDone {
            lsn: lsn.0,
            redo: redo.0,
            trimmed_segments: *trimmed_segments,
        },
        DbEvent::Recovery(step) => recovery(step),
        DbEvent::Lsm(e) => return from_lsm(e),
    })
}

fn from_lsm(e: &LsmEvent) -> Option<TraceKind> {
    Some(match e {
        LsmEvent::MemtableFrozen { entries, bytes, .. } => TraceKind::MemtableFrozen {
            entries: *entries,
            bytes: *bytes,
        },
        LsmEvent::FlushStarted { table, bytes, .. } => TraceKind::FlushStarted {
            table: table.0,
            bytes: *bytes,
        },
        LsmEvent::FlushDone {
            table,
            last_flushed_lsn,
            ..
        } => TraceKind::FlushDone {
            table: table.0,
            last_flushed_lsn: last_flushed_lsn.0,
        },
        LsmEvent::CompactionPicked {
            reason,
            inputs,
            output_level,
            trivial_move,
            ..
        } => TraceKind::CompactionPicked {
            reason: match reason {
                ChoiceReason::L0Files { .. } => "l0_files",
                ChoiceReason::LevelSize { .. } => "level_size",
                ChoiceReason::Tier { .. } => "tier",
                ChoiceReason::Manual { .. } => "manual",
            }
            .to_owned(),
            inputs: inputs.iter().map(|(l, t)| (*l, t.0)).collect(),
            output_level: *output_level,
            trivial_move: *trivial_move,
        },
        LsmEvent::CompactionDone {
            output_level,
            bytes_read,
            bytes_written,
            tables,
            ..
        } => TraceKind::CompactionDone {
            output_level: *output_level,
            bytes_read: *bytes_read,
            bytes_written: *bytes_written,
            tables: tables.iter().map(|t| t.0).collect(),
        },
        _ => return None,
    })
}

/// The trace form of a Raft simulator event; `None` for sends and deliveries (the
/// heartbeats would drown everything else).
pub fn from_raft(e: &RaftTrace) -> Option<TraceKind> {
    Some(match e {
        RaftTrace::Node { node, event } => match event {
            NodeEvent::RoleChanged { role, term } => TraceKind::RaftRole {
                node: *node,
                role: match role {
                    Role::Follower => "follower",
                    Role::PreCandidate => "pre_candidate",
                    Role::Candidate => "candidate",
                    Role::Leader => "leader",
                }
                .to_owned(),
                term: *term,
            },
            NodeEvent::VoteGranted { candidate, term } => TraceKind::RaftVote {
                node: *node,
                candidate: *candidate,
                term: *term,
            },
            NodeEvent::Committed { index } => TraceKind::RaftCommit {
                node: *node,
                index: *index,
            },
            NodeEvent::SnapshotTaken { index } => TraceKind::RaftSnapshot {
                node: *node,
                index: *index,
                installed: false,
            },
            NodeEvent::SnapshotInstalled { index } => TraceKind::RaftSnapshot {
                node: *node,
                index: *index,
                installed: true,
            },
            NodeEvent::Truncated { from } => TraceKind::RaftTruncated {
                node: *node,
                from: *from,
            },
        },
        RaftTrace::Crashed { node } => TraceKind::RaftNode {
            node: *node,
            up: false,
        },
        RaftTrace::Restarted { node, .. } => TraceKind::RaftNode {
            node: *node,
            up: true,
        },
        RaftTrace::Partitioned { blocked } => TraceKind::RaftPartition {
            blocked: blocked.clone(),
        },
        RaftTrace::Dropped {
            from, to, reason, ..
        } => TraceKind::RaftDropped {
            from: *from,
            to: *to,
            reason: match reason {
                DropReason::Loss => "loss",
                DropReason::Partition => "partition",
                DropReason::Down => "receiver down",
            }
            .to_owned(),
        },
        RaftTrace::Sent { .. } | RaftTrace::Delivered { .. } => return None,
    })
}

impl TraceEvent {
    /// The event as one line of JSON (`{"seq":0,"time":0,"type":"crash",...}`): the
    /// trace's documented form, which [`trace_hash`] hashes.
    pub fn to_json(&self) -> String {
        let mut w = Writer::compact();
        self.write_json(&mut w);
        w.finish()
    }

    /// Writes the event: `seq`, `time`, `type`, then the kind's fields in declaration
    /// order.
    pub fn write_json(&self, w: &mut Writer) {
        w.begin_object();
        w.field_u64("seq", self.seq);
        w.field_u64("time", self.time);
        w.field_str("type", self.kind.name());
        match &self.kind {
            TraceKind::Action { action } => {
                w.key("action");
                action.write_json(w);
            }
            TraceKind::ActionRefused { action, reason } => {
                w.key("action");
                action.write_json(w);
                w.field_str("reason", reason);
            }
            TraceKind::ClientAborted { txn, reason } => {
                w.field_u64("txn", *txn);
                w.field_str("reason", reason);
            }
            TraceKind::ReadResult { key, value } => {
                w.field_str("key", key);
                w.field_opt_str("value", value.as_deref());
            }
            TraceKind::RecordAppended {
                lsn,
                kind,
                txn,
                pages,
            } => {
                w.field_u64("lsn", *lsn);
                w.field_str("kind", kind);
                w.field_opt_u64("txn", *txn);
                w.field_u64s("pages", &mut pages.iter().copied());
            }
            TraceKind::SyncIssued {
                sync,
                covers,
                commits,
                reason,
            } => {
                w.field_u64("sync", *sync);
                w.field_u64("covers", *covers);
                w.field_u64("commits", *commits);
                w.field_str("reason", reason);
            }
            TraceKind::SyncDone { sync, ok } => {
                w.field_u64("sync", *sync);
                w.field_bool("ok", *ok);
            }
            TraceKind::Committed { txn, lsn, latency } => {
                w.field_u64("txn", *txn);
                w.field_opt_u64("lsn", *lsn);
                w.field_u64("latency", *latency);
            }
            TraceKind::RolledBack { txn, undone } => {
                w.field_u64("txn", *txn);
                w.field_u64("undone", *undone);
            }
            TraceKind::CheckpointBegan { redo, to_write } => {
                w.field_u64("redo", *redo);
                w.field_u64("to_write", *to_write);
            }
            TraceKind::PageFlushed { page } => {
                w.field_u64("page", *page);
            }
            TraceKind::CheckpointDone {
                lsn,
                redo,
                trimmed_segments,
            } => {
                w.field_u64("lsn", *lsn);
                w.field_u64("redo", *redo);
                w.field_u64("trimmed_segments", *trimmed_segments);
            }
            TraceKind::Recovery { phase, case, lsn } => {
                w.field_str("phase", phase);
                w.field_str("case", case);
                w.field_opt_u64("lsn", *lsn);
            }
            TraceKind::MemtableFrozen { entries, bytes } => {
                w.field_u64("entries", *entries);
                w.field_u64("bytes", *bytes);
            }
            TraceKind::FlushStarted { table, bytes } => {
                w.field_u64("table", *table);
                w.field_u64("bytes", *bytes);
            }
            TraceKind::FlushDone {
                table,
                last_flushed_lsn,
            } => {
                w.field_u64("table", *table);
                w.field_u64("last_flushed_lsn", *last_flushed_lsn);
            }
            TraceKind::CompactionPicked {
                reason,
                inputs,
                output_level,
                trivial_move,
            } => {
                w.field_str("reason", reason);
                w.field_pairs(
                    "inputs",
                    &mut inputs.iter().map(|&(a, b)| (u64::from(a), b)),
                );
                w.field_u64("output_level", u64::from(*output_level));
                w.field_bool("trivial_move", *trivial_move);
            }
            TraceKind::CompactionDone {
                output_level,
                bytes_read,
                bytes_written,
                tables,
            } => {
                w.field_u64("output_level", u64::from(*output_level));
                w.field_u64("bytes_read", *bytes_read);
                w.field_u64("bytes_written", *bytes_written);
                w.field_u64s("tables", &mut tables.iter().copied());
            }
            TraceKind::Crash {
                syncs_lost,
                ops_lost,
                torn,
            } => {
                w.field_u64("syncs_lost", *syncs_lost);
                w.field_u64("ops_lost", *ops_lost);
                w.field_opt_str("torn", torn.as_deref());
            }
            TraceKind::BitFlipped { file, bit } => {
                w.field_str("file", file);
                w.field_u64("bit", *bit);
            }
            TraceKind::Reopened {
                wal_end,
                winners,
                losers,
                summary,
            } => {
                w.field_u64("wal_end", *wal_end);
                w.field_u64("winners", *winners);
                w.field_u64("losers", *losers);
                w.field_str("summary", summary);
            }
            TraceKind::OpenFailed { error } => {
                w.field_str("error", error);
            }
            TraceKind::InvariantChecked { name, ok, detail } => {
                w.field_str("name", name);
                w.field_bool("ok", *ok);
                w.field_str("detail", detail);
            }
            TraceKind::CdcCaptured {
                commit_lsn,
                txn,
                events,
            } => {
                w.field_u64("commit_lsn", *commit_lsn);
                w.field_u64("txn", *txn);
                w.field_u64("events", *events);
            }
            TraceKind::CdcDiscarded { txn } => {
                w.field_u64("txn", *txn);
            }
            TraceKind::CdcStored {
                resume,
                last_commit,
            } => {
                w.field_u64("resume", *resume);
                w.field_opt_u64("last_commit", *last_commit);
            }
            TraceKind::ComponentCrashed {
                component,
                ops_lost,
            } => {
                w.field_str("component", component);
                w.field_u64("ops_lost", *ops_lost);
            }
            TraceKind::ViewDropped { view } => {
                w.field_str("view", view);
            }
            TraceKind::ViewRebuilt {
                view,
                offset,
                positions,
            } => {
                w.field_str("view", view);
                w.field_u64("offset", *offset);
                if !positions.is_empty() {
                    w.field_pairs(
                        "positions",
                        &mut positions.iter().map(|&(a, b)| (u64::from(a), b)),
                    );
                }
            }
            TraceKind::DualWriteProduced {
                commit_lsn,
                records,
            } => {
                w.field_u64("commit_lsn", *commit_lsn);
                w.field_u64("records", *records);
            }
            TraceKind::DualWriteLost { transactions } => {
                w.field_u64("transactions", *transactions);
            }
            TraceKind::DualWriteDiverged { keys } => {
                w.field_u64("keys", *keys);
            }
            TraceKind::ConsumerJoined {
                consumer,
                generation,
            } => {
                w.field_str("consumer", consumer);
                w.field_u64("generation", *generation);
            }
            TraceKind::ConsumerLeft {
                consumer,
                generation,
            } => {
                w.field_str("consumer", consumer);
                w.field_u64("generation", *generation);
            }
            TraceKind::Rebalanced {
                generation,
                assignment,
            } => {
                w.field_u64("generation", *generation);
                w.key("assignment");
                w.begin_array();
                for (member, partitions) in assignment {
                    w.begin_array();
                    w.str(member);
                    w.begin_array();
                    for p in partitions {
                        w.u64(u64::from(*p));
                    }
                    w.end_array();
                    w.end_array();
                }
                w.end_array();
            }
            TraceKind::OffsetCommitted {
                consumer,
                partition,
                offset,
            } => {
                w.field_str("consumer", consumer);
                w.field_u64("partition", u64::from(*partition));
                w.field_u64("offset", *offset);
            }
            TraceKind::OffsetReset {
                consumer,
                partition,
                offset,
            } => {
                w.field_str("consumer", consumer);
                w.field_u64("partition", u64::from(*partition));
                w.field_u64("offset", *offset);
            }
            TraceKind::ConsumerCaughtUp {
                consumer,
                offset,
                positions,
            } => {
                w.field_str("consumer", consumer);
                w.field_u64("offset", *offset);
                if !positions.is_empty() {
                    w.field_pairs(
                        "positions",
                        &mut positions.iter().map(|&(a, b)| (u64::from(a), b)),
                    );
                }
            }
            TraceKind::SegmentsDropped {
                topic,
                partition,
                start,
            } => {
                w.field_str("topic", topic);
                w.field_u64("partition", u64::from(*partition));
                w.field_u64("start", *start);
            }
            TraceKind::TopicCompacted {
                topic,
                partition,
                records,
                start,
            } => {
                w.field_str("topic", topic);
                w.field_u64("partition", u64::from(*partition));
                w.field_u64("records", *records);
                w.field_u64("start", *start);
            }
            TraceKind::ViewBehindRetention {
                view,
                position,
                start,
                partition,
            } => {
                w.field_str("view", view);
                w.field_u64("position", *position);
                w.field_u64("start", *start);
                if let Some(p) = partition {
                    w.field_u64("partition", u64::from(*p));
                }
            }
            TraceKind::Amplification {
                index,
                write_x100,
                wal_write_x100,
                index_write_x100,
                read_x100,
                space_x100,
                logical_bytes,
            } => {
                w.field_str("index", index);
                w.field_u64("write_x100", *write_x100);
                w.field_u64("wal_write_x100", *wal_write_x100);
                w.field_u64("index_write_x100", *index_write_x100);
                w.field_u64("read_x100", *read_x100);
                w.field_u64("space_x100", *space_x100);
                w.field_u64("logical_bytes", *logical_bytes);
            }
            TraceKind::RaftRole { node, role, term } => {
                w.field_u64("node", *node);
                w.field_str("role", role);
                w.field_u64("term", *term);
            }
            TraceKind::RaftVote {
                node,
                candidate,
                term,
            } => {
                w.field_u64("node", *node);
                w.field_u64("candidate", *candidate);
                w.field_u64("term", *term);
            }
            TraceKind::RaftCommit { node, index } => {
                w.field_u64("node", *node);
                w.field_u64("index", *index);
            }
            TraceKind::RaftSnapshot {
                node,
                index,
                installed,
            } => {
                w.field_u64("node", *node);
                w.field_u64("index", *index);
                w.field_bool("installed", *installed);
            }
            TraceKind::RaftTruncated { node, from } => {
                w.field_u64("node", *node);
                w.field_u64("from", *from);
            }
            TraceKind::RaftReplicated {
                batch,
                events,
                positions,
            } => {
                w.field_u64("batch", *batch);
                w.field_u64("events", *events);
                w.field_u64s("positions", &mut positions.iter().copied());
            }
            TraceKind::RaftNode { node, up } => {
                w.field_u64("node", *node);
                w.field_bool("up", *up);
            }
            TraceKind::RaftPartition { blocked } => {
                w.field_pairs("blocked", &mut blocked.iter().copied());
            }
            TraceKind::RaftDropped { from, to, reason } => {
                w.field_u64("from", *from);
                w.field_u64("to", *to);
                w.field_str("reason", reason);
            }
            TraceKind::Narration { step, text } => {
                w.field_u64("step", *step);
                w.field_str("text", text);
            }
        }
        w.end_object();
    }
}

/// FNV-1a, 64 bits, over the trace's JSON lines (each followed by `\n`): the same trace
/// gives the same hash on every platform.
pub fn trace_hash(events: &[TraceEvent]) -> u64 {
    events.iter().fold(TRACE_HASH_EMPTY, trace_hash_push)
}

/// [`trace_hash`] of the empty trace.
pub const TRACE_HASH_EMPTY: u64 = 0xcbf2_9ce4_8422_2325;

/// [`trace_hash`] of a trace whose hash is `h`, with `e` appended: a view can keep the
/// hash of a growing trace without hashing it again from the start.
pub fn trace_hash_push(mut h: u64, e: &TraceEvent) -> u64 {
    let line = e.to_json();
    for b in line.bytes().chain(std::iter::once(b'\n')) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}
