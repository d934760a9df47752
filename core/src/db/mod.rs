//! `Db`: a transactional key-value database that is a log plus an index.
//!
//! Every change goes to the write-ahead log (a [`Log`] named `wal`) before anything
//! else; the index is either the page-based B+tree in [`crate::btree`], whose pages reach
//! the page file only when the WAL rule allows, or the LSM tree in [`crate::lsm`], whose
//! memtables reach tables only when the WAL rule allows ([`DbConfig::index`]; the
//! differences are tabled in the `index` module, `core/src/db/index.rs`). Transactions,
//! locks, group commit, the WAL and undo are the same for both. A commit is acknowledged
//! only once the WAL sync covering its commit record has completed.
//!
//! # Call order
//! [`Db::open`] (it is recovery) → any mix of [`Db::begin`], [`Db::put`], [`Db::delete`],
//! [`Db::get`], [`Db::scan`], [`Db::commit`], [`Db::abort`] → [`Db::tick`] whenever
//! virtual time moves or the storage may have completed a sync. `tick` drains the
//! storage's completions, acknowledges commits ([`Db::take_acks`]), continues rollbacks,
//! issues group-commit syncs and runs the checkpointer. Events for the trace and the UI
//! accumulate until [`Db::take_events`]. The database owns its storage; the simulation
//! reaches it with [`Db::storage_mut`] (to advance a `SimDisk`) and crashes it with
//! [`Db::into_storage`] followed by a new `open`.
//!
//! # Transactions
//! Several transactions may be open at once. Writes take an exclusive lock on the key,
//! without waiting: a write to a key another transaction holds is
//! [`DbError::Conflict`]. Locks are held until the commit is acknowledged (durable) or the
//! rollback is complete, so readers never see a change that could still vanish: a read
//! outside a transaction of a locked key returns the value from before the holder's first
//! change. Inside a transaction, reads see its own changes.
//!
//! # Group commit
//! A commit appends its commit record and waits. With group commit on, at most one sync is
//! in flight; commits arriving meanwhile wait for the next one, which is issued when the
//! in-flight sync completes and either `max_batch` commits are waiting or the oldest has
//! waited `max_wait_ticks`. With it off, every commit issues its own sync at once.
//!
//! # A failed sync
//! A sync the storage refuses (a full disk or quota: [`DbEvent::SyncDone`] says with
//! what) makes nothing durable; the records it covered stay volatile and a later sync
//! covers them again. That later sync waits: [`SYNC_RETRY_TICKS`] after the first
//! failure, doubling with each failure after it up to [`SYNC_RETRY_MAX_TICKS`], so a
//! storage that keeps refusing is asked about once a second rather than on every tick (a
//! browser tab would otherwise spend its time issuing doomed IndexedDB transactions). The
//! first sync that succeeds resets the wait.
//!
//! # Checkpoints (fuzzy, in virtual time)
//! 1. **Begin**: `redo = wal.next_lsn()`; the tree's full-page-write epoch moves to `redo`
//!    (the first change to any page after this logs a full page image); the pages dirty
//!    now are the ones to write.
//! 2. **Flush**: `pages_per_tick` of them per tick, each once the WAL rule allows.
//! 3. **Record**: append `Checkpoint { redo, active transactions }` and sync; the sync also
//!    makes the page writes durable (a sync covers every file).
//! 4. **Control**: write the control file's other slot pointing at the record, and sync.
//! 5. **Trim**: drop WAL segments below `min(redo, first LSN of every open transaction,
//!    the WAL hold of a change-data-capture reader)` ([`Db::set_wal_hold`]).
//!
//! A crash at any point leaves the previous checkpoint in force.
//!
//! With the LSM index, step 2 is instead: freeze the active memtable and wait until no
//! write below `redo` is outside a durable table ([`Lsm::oldest_unflushed_lsn`]); the
//! flushes themselves are the index's background steps. Step 5 also keeps the WAL from
//! the first LSN above the manifest's durable last flushed LSN, which is where LSM redo
//! starts (so the trim is safe even without the wait, which is there to let it advance).
//!
//! # The LSM index in `tick`
//! Every completion also goes to the index; then up to `lsm_steps_per_tick` of its
//! background steps run (freeze, flush and compaction phases, each a [`DbEvent::Lsm`]).
//! A flush whose memtable is not yet durable in the WAL waits, and the database issues a
//! WAL sync for it (reason `WalRule`). When every memtable is full and waiting, a client
//! write gets [`DbError::WouldBlock`] (a write stall) until a flush makes room.
//! [`Db::compact_now`] asks the index for a manual compaction, which runs as more of the
//! same background steps (the B+tree has none: it says so).
//!
//! # Recovery (ARIES: analysis, redo, undo)
//! `open` runs these phases; each record read matches exactly one case (R1–R5 for the
//! B+tree, R6–R9 for the LSM tree; the other phases are the same for both):
//!
//! | phase    | case | record or state                                  | action |
//! |----------|------|--------------------------------------------------|--------|
//! | start    | S1   | a valid control slot                              | analysis from its checkpoint record, redo from its redo LSN |
//! | start    | S2   | no valid slot, WAL starts at LSN 0                | analysis and redo from LSN 0 (no checkpoint yet, or the first one never became durable) |
//! | start    | S3   | no valid slot, WAL trimmed                        | `DbError::Corrupt`: the history needed is gone |
//! | start    | S4   | slot points outside the WAL or not at a checkpoint| `DbError::Corrupt` |
//! | analysis | A1   | checkpoint record                                 | seed the transaction table with its active transactions |
//! | analysis | A2   | update or CLR                                     | the transaction is open; its last LSN is this one |
//! | analysis | A3   | commit                                            | the transaction is a winner: nothing to undo |
//! | analysis | A4   | abort                                             | the transaction was rolled back completely |
//! | analysis | A5   | create, other checkpoint                          | nothing |
//! | redo     | R1   | page op, page LSN below the record's              | apply it |
//! | redo     | R2   | page op, page LSN at or above                     | skip (already on the page) |
//! | redo     | R3   | full page image, page torn or corrupt             | replace the page (torn-page repair) |
//! | redo     | R4   | full page image, page never written               | format the page |
//! | redo     | R5   | logical op on a torn page                         | `DbError::Tree`: impossible if full page writes held |
//! | redo     | R6   | LSM: the manifest                                 | rebuild the version, delete orphan tables, open the tables |
//! | redo     | R7   | LSM: update or CLR above its last flushed LSN     | back into the memtable, blind (no old-value read) |
//! | redo     | R8   | LSM: update or CLR at or below it                 | skip: already in a table |
//! | redo     | R9   | LSM: tables past the WAL's end, or the WAL trimmed above the last flushed LSN | `DbError::Corrupt` |
//! | undo     | U1   | update of a loser                                 | restore the before value, log a CLR pointing at the update's predecessor |
//! | undo     | U2   | CLR of a loser                                    | jump to its undo-next LSN (never undo an undo) |
//! | undo     | U3   | a loser's chain is exhausted                      | log abort; release its locks |
//!
//! Undo runs as part of [`Db::tick`], like a runtime abort, `undo_records_per_tick`
//! records at a time (so a crash can land in the middle of it, which the CLRs make safe);
//! it may also have to wait for a WAL sync before the pool can evict a page, and the losers' locks keep their keys unreadable in
//! their half-undone state until it finishes ([`Db::is_recovering`]).

mod index;
mod record;

use std::collections::VecDeque;

pub use record::{ActiveTxn, ControlSlot, RecordError, WalRecord, CONTROL_SLOT_STRIDE};

use crate::btree::{BTree, BTreeConfig, BTreeError, PageCopy, PageFile, PageId, RedoOutcome};
use crate::log::{Log, LogConfig, LogError, Lsn, RecoveryReport as LogRecovery};
use crate::lsm::{Lsm, LsmConfig, LsmError, LsmEvent, LsmRecovery};
use crate::meter::ratio_or_zero as ratio;
use crate::storage::{Storage, StorageError, SyncCompletion, SyncId};
use crate::vec_map::VecMap;
pub use index::IndexKind;
use index::{Change, Index, IndexError};

/// After a failed sync, the next waits this many ticks; each failure after it doubles the
/// wait (see "A failed sync" in the module docs).
pub const SYNC_RETRY_TICKS: u64 = 10;
/// The longest wait between two sync attempts while the storage keeps refusing them.
pub const SYNC_RETRY_MAX_TICKS: u64 = 1_000;

/// A key and its value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// A transaction id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TxnId(pub u64);

impl std::fmt::Display for TxnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "txn {}", self.0)
    }
}

/// Group commit knobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupCommitConfig {
    /// Off: every commit issues its own sync at once.
    pub enabled: bool,
    /// Issue the next sync as soon as this many commits wait (if none is in flight).
    pub max_batch: usize,
    /// Or once the oldest waiting commit has waited this long.
    pub max_wait_ticks: u64,
}

impl Default for GroupCommitConfig {
    fn default() -> Self {
        GroupCommitConfig {
            enabled: true,
            max_batch: 64,
            max_wait_ticks: 0,
        }
    }
}

/// Checkpointer knobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckpointConfig {
    /// Start a checkpoint once this many WAL bytes were appended since the last one
    /// began (0: only when asked with [`Db::request_checkpoint`]).
    pub every_wal_bytes: u64,
    /// Pages the checkpointer writes per tick.
    pub pages_per_tick: usize,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        CheckpointConfig {
            every_wal_bytes: 256 * 1024,
            pages_per_tick: 4,
        }
    }
}

/// How a database is laid out and tuned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbConfig {
    /// The WAL.
    pub wal: LogConfig,
    /// Which index: the B+tree (`tree`) or the LSM tree (`lsm`).
    pub index: IndexKind,
    /// The B+tree, when `index` is [`IndexKind::BTree`].
    pub tree: BTreeConfig,
    /// The LSM tree, when `index` is [`IndexKind::Lsm`].
    pub lsm: LsmConfig,
    /// LSM background steps (freeze, flush and compaction phases) per tick at most.
    pub lsm_steps_per_tick: usize,
    /// The control file's name.
    pub control_file: String,
    /// Group commit.
    pub group_commit: GroupCommitConfig,
    /// The checkpointer.
    pub checkpoint: CheckpointConfig,
    /// The background WAL writer syncs WAL records no sync covers once the oldest has
    /// waited this many ticks (Postgres's `wal_writer_delay`), so rollbacks and
    /// checkpoints never leave dirty pages pinned by an unsynced log forever.
    pub wal_writer_delay_ticks: u64,
    /// Records a rollback undoes (or skips) per tick, for all rolling-back transactions
    /// together: rollbacks run in the background in virtual time, like the checkpointer,
    /// so a crash can land in the middle of one (which is what CLRs are for).
    pub undo_records_per_tick: usize,
}

impl Default for DbConfig {
    fn default() -> Self {
        DbConfig {
            wal: LogConfig::new("wal"),
            index: IndexKind::BTree,
            tree: BTreeConfig::default(),
            lsm: LsmConfig::default(),
            lsm_steps_per_tick: 4,
            control_file: "db.control".to_owned(),
            group_commit: GroupCommitConfig::default(),
            checkpoint: CheckpointConfig::default(),
            wal_writer_delay_ticks: 20,
            undo_records_per_tick: 8,
        }
    }
}

/// Errors from the database.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The WAL failed (including corruption it found).
    #[error("WAL: {0}")]
    Log(#[from] LogError),
    /// The index failed (including torn or corrupt pages it found).
    #[error("index: {0}")]
    Tree(#[from] BTreeError),
    /// The LSM index failed (including damaged tables or manifest).
    #[error("LSM index: {0}")]
    Lsm(#[from] LsmError),
    /// A WAL record whose frame is valid but whose contents are not.
    #[error("WAL record at {lsn} does not decode: {error}")]
    Record {
        /// Where.
        lsn: Lsn,
        /// What.
        error: RecordError,
    },
    /// The database's files contradict each other.
    #[error("database is corrupt: {0}")]
    Corrupt(String),
    /// No open transaction has this id.
    #[error("{0} is not open")]
    NoSuchTxn(TxnId),
    /// The transaction is committing or rolling back and takes no more operations.
    #[error("{0} is finishing and takes no more operations")]
    TxnFinishing(TxnId),
    /// Another transaction holds the key.
    #[error("key {key:?} is locked by {holder}")]
    Conflict {
        /// The key (lossy UTF-8).
        key: String,
        /// Who holds it.
        holder: TxnId,
    },
    /// The change needs a WAL sync first (the buffer pool has no page it may evict);
    /// one was requested. Retry after a tick.
    #[error("waiting for a WAL sync: {0}")]
    WouldBlock(String),
    /// A previous failure left memory ahead of the log; reopen the database.
    #[error("database must be reopened after an earlier failure: {0}")]
    Poisoned(String),
    /// The index does not do what was asked (e.g. [`Db::compact_now`] on the B+tree).
    #[error("{0}")]
    Unsupported(String),
}

/// A commit that became durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommitAck {
    /// The transaction.
    pub txn: TxnId,
    /// Its commit record (`None` for a transaction that wrote nothing).
    pub lsn: Option<Lsn>,
    /// Virtual ticks from `commit` to the acknowledgement.
    pub latency_ticks: u64,
}

/// Why a sync was issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncReason {
    /// Group commit (or a lone commit with group commit off).
    Commit,
    /// The buffer pool needs the WAL durable to evict a page.
    WalRule,
    /// The background WAL writer.
    WalWriter,
    /// The checkpointer.
    Checkpoint,
    /// Recovery made its repairs durable.
    Recovery,
}

/// What the database did, for the trace and the UI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DbEvent {
    /// A WAL record was appended.
    Appended {
        /// Its LSN.
        lsn: Lsn,
        /// Its kind.
        kind: &'static str,
        /// Its transaction.
        txn: Option<TxnId>,
        /// Pages it changed.
        pages: Vec<PageId>,
    },
    /// A sync was issued.
    SyncIssued {
        /// Which.
        sync: SyncId,
        /// Every WAL record below this is covered.
        covers: Lsn,
        /// Commits it will acknowledge.
        commits: u64,
        /// Why.
        reason: SyncReason,
    },
    /// A sync completed.
    SyncDone {
        /// Which.
        sync: SyncId,
        /// `None` when it succeeded; otherwise what the storage refused it with (for
        /// example [`StorageError::QuotaExceeded`]: nothing it covered became durable).
        error: Option<StorageError>,
    },
    /// A commit was acknowledged.
    Committed(CommitAck),
    /// A rollback finished.
    RolledBack {
        /// The transaction.
        txn: TxnId,
        /// Updates undone.
        undone: u64,
    },
    /// A checkpoint began.
    CheckpointBegan {
        /// Its redo LSN.
        redo: Lsn,
        /// Pages it must write.
        pages: u64,
    },
    /// The checkpointer wrote a page.
    PageFlushed {
        /// The page.
        page: PageId,
    },
    /// A checkpoint finished: the control file points at it.
    CheckpointDone {
        /// The checkpoint record.
        lsn: Lsn,
        /// Its redo LSN.
        redo: Lsn,
        /// WAL segments dropped.
        trimmed_segments: u64,
    },
    /// Recovery: one step (see the case table in the module docs).
    Recovery(RecoveryStep),
    /// The LSM index did a piece of background work (freeze, flush, compaction phase).
    Lsm(LsmEvent),
}

/// One step of recovery, labelled with its case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecoveryStep {
    /// Where analysis and redo start (case S1 or S2).
    Start {
        /// The case label.
        case: &'static str,
        /// The checkpoint record, if any.
        checkpoint: Option<Lsn>,
        /// Where redo starts.
        redo: Lsn,
    },
    /// Analysis read a record.
    Analyzed {
        /// The record.
        lsn: Lsn,
        /// The case label.
        case: &'static str,
        /// Its transaction.
        txn: Option<TxnId>,
    },
    /// Redo handled one page op.
    Redo {
        /// The record.
        lsn: Lsn,
        /// The page.
        page: PageId,
        /// The case label (R1..R4).
        case: &'static str,
    },
    /// The LSM index was opened from its manifest (case R6).
    LsmOpened {
        /// Every write at or below this is in a table (`None`: nothing flushed).
        last_flushed_lsn: Option<Lsn>,
        /// Tables in the recovered version.
        tables: u64,
        /// Orphan table files deleted (written by a flush or compaction whose edit was lost).
        orphans_deleted: u64,
    },
    /// Redo handled one logical change for the LSM index (case R7 or R8).
    RedoLogical {
        /// The record.
        lsn: Lsn,
        /// The case label.
        case: &'static str,
    },
    /// Undo handled a record of a loser.
    Undo {
        /// The record undone or followed.
        lsn: Lsn,
        /// The loser.
        txn: TxnId,
        /// The case label (U1..U3).
        case: &'static str,
    },
}

/// What recovery found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbRecovery {
    /// The WAL's own recovery (where it ended and why).
    pub wal: LogRecovery,
    /// The checkpoint recovery started from.
    pub checkpoint: Option<Lsn>,
    /// Where redo started.
    pub redo_from: Lsn,
    /// Records read by analysis.
    pub analyzed: u64,
    /// Page ops applied by redo.
    pub redo_applied: u64,
    /// Page ops skipped (already on the page).
    pub redo_skipped: u64,
    /// Torn or corrupt pages replaced from a full page image.
    pub pages_repaired: u64,
    /// Transactions that had committed.
    pub winners: u64,
    /// Transactions to roll back (undo continues in `tick`).
    pub losers: Vec<TxnId>,
    /// The LSM index's own recovery (manifest replay, orphans), if that is the index.
    pub lsm: Option<LsmRecovery>,
}

impl DbRecovery {
    /// One paragraph for people.
    pub fn describe(&self) -> String {
        if let Some(lsm) = &self.lsm {
            return format!(
                "{} Recovery started from {} (redo from {}); analysis read {} records: {} committed, {} to roll back. The LSM manifest ({} edits) lists {} tables with everything up to {} flushed{}; redo put {} logged changes back into the memtable and skipped {} already in tables.",
                self.wal.describe(),
                self.checkpoint
                    .map_or("the start of the WAL (no checkpoint)".to_owned(), |c| format!("the checkpoint at {c}")),
                self.redo_from,
                self.analyzed,
                self.winners,
                self.losers.len(),
                lsm.edits,
                lsm.tables,
                lsm.last_flushed_lsn.map_or("nothing".to_owned(), |l| l.to_string()),
                match lsm.orphans_deleted.len() {
                    0 => String::new(),
                    n => format!(", {n} orphan table{} deleted", if n == 1 { "" } else { "s" }),
                },
                self.redo_applied,
                self.redo_skipped,
            );
        }
        format!(
            "{} Recovery started from {} (redo from {}); analysis read {} records: {} committed, {} to roll back. Redo applied {} page changes, skipped {} already on disk, repaired {} torn page{}.",
            self.wal.describe(),
            self.checkpoint
                .map_or("the start of the WAL (no checkpoint)".to_owned(), |c| format!("the checkpoint at {c}")),
            self.redo_from,
            self.analyzed,
            self.winners,
            self.losers.len(),
            self.redo_applied,
            self.redo_skipped,
            self.pages_repaired,
            if self.pages_repaired == 1 { "" } else { "s" }
        )
    }
}

/// Counters for the meters and the benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DbStats {
    /// Commits acknowledged.
    pub commits: u64,
    /// Transactions rolled back.
    pub aborts: u64,
    /// Syncs issued.
    pub syncs: u64,
    /// Of which for commits.
    pub commit_syncs: u64,
    /// Sum of commit latencies, in ticks.
    pub commit_latency_ticks: u64,
    /// Largest commit latency, in ticks.
    pub max_commit_latency_ticks: u64,
    /// WAL bytes appended (frames).
    pub wal_bytes: u64,
    /// Key and value bytes written by clients.
    pub logical_bytes: u64,
    /// Checkpoints completed.
    pub checkpoints: u64,
}

impl DbStats {
    /// Commits per commit sync (the group-commit factor).
    pub fn commits_per_sync(&self) -> f64 {
        ratio(self.commits, self.commit_syncs)
    }
    /// Mean commit latency in ticks.
    pub fn mean_commit_latency(&self) -> f64 {
        ratio(self.commit_latency_ticks, self.commits)
    }
}

/// Write, read and space amplification of the database (WAL and index together).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DbAmplification {
    /// (WAL bytes + index bytes written) / logical bytes written.
    pub write: f64,
    /// WAL bytes / logical bytes.
    pub wal_write: f64,
    /// Index bytes written (B-tree: pages; LSM: tables, flushes and compactions) /
    /// logical bytes.
    pub index_write: f64,
    /// Index units visited per lookup: B-tree pages on the root-to-leaf path (cached or
    /// not); LSM data blocks read (tables not skipped by key range or bloom filter).
    pub read_pages_per_lookup: f64,
    /// Of those, read from storage per lookup (the B-tree's buffer pool misses; the LSM
    /// has no block cache, so all of its blocks).
    pub disk_reads_per_lookup: f64,
    /// Sources consulted per lookup: 1 for the B-tree; memtables plus tables probed for
    /// the LSM (bloom-skipped tables included).
    pub sources_per_lookup: f64,
    /// LSM tables a bloom filter ruled out per lookup (0 for the B-tree).
    pub bloom_skips_per_lookup: f64,
    /// (WAL file bytes + index file bytes) / live bytes.
    pub space: f64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum TxnState {
    Active,
    Committing {
        lsn: Lsn,
        at: u64,
    },
    /// Rolling back; `next` is the next record to undo (None: write the abort record).
    Aborting {
        next: Option<Lsn>,
        undone: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Txn {
    first: Option<Lsn>,
    last: Option<Lsn>,
    /// Keys written, with the value before the transaction's first change.
    before: VecMap<Vec<u8>, Option<Vec<u8>>>,
    state: TxnState,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Checkpointer {
    Idle,
    Flushing {
        redo: Lsn,
        pages: VecDeque<PageId>,
        /// Copies of pages changed faster than the WAL became durable behind them,
        /// waiting for a sync past their LSN.
        copies: VecDeque<PageCopy>,
    },
    RecordSync {
        lsn: Lsn,
        redo: Lsn,
    },
    ControlSync {
        lsn: Lsn,
        redo: Lsn,
        sync: SyncId,
    },
}

/// The database. See the module docs. `Clone` copies everything, the storage included
/// (time travel keeps snapshots of a simulated world).
///
/// A thin typed wrapper: the engine is a private state type whose methods take the
/// storage as `dyn Storage`, so a program (the wasm bundle) holds one copy of it however
/// many storage types it opens databases on; each method here forwards in one line.
#[derive(Debug)]
pub struct Db<S: Storage> {
    storage: S,
    state: DbState,
}

impl<S: Storage + Clone> Clone for Db<S> {
    fn clone(&self) -> Self {
        Db {
            storage: self.storage.clone(),
            state: self.state.clone_out_of_line(),
        }
    }
}

/// Everything a [`Db`] holds but its storage, and the engine's code: not generic, so it is
/// compiled once (the storage comes in as `dyn Storage` on each call that needs it). The
/// methods behind [`Db`]'s public ones keep their names; their docs are on [`Db`].
#[derive(Clone, Debug)]
struct DbState {
    config: DbConfig,
    wal: Log,
    index: Index,
    page_file: PageFile,
    now: u64,
    next_txn: u64,
    txns: VecMap<TxnId, Txn>,
    locks: VecMap<Vec<u8>, TxnId>,
    /// Syncs issued and not completed: id, WAL covered below, reason.
    in_flight: VecDeque<(SyncId, Lsn, SyncReason)>,
    /// The highest WAL point any issued sync covers.
    covered: Lsn,
    /// When the oldest WAL record no sync covers was appended.
    uncovered_since: Option<u64>,
    /// After a failed sync no other is issued before this tick (see [`SYNC_RETRY_TICKS`]).
    retry_at: u64,
    /// The wait before the next retry: 0 while syncs succeed, then doubling.
    retry_backoff: u64,
    checkpointer: Checkpointer,
    control_seq: u64,
    wal_bytes_at_checkpoint: u64,
    acks: Vec<CommitAck>,
    events: Vec<DbEvent>,
    stats: DbStats,
    poisoned: Option<String>,
    /// Checkpoints keep the WAL from here on (a change-data-capture reader's position).
    wal_hold: Option<Lsn>,
}

fn lossy(key: &[u8]) -> String {
    String::from_utf8_lossy(key).into_owned()
}

fn read_record(wal: &Log, storage: &dyn Storage, lsn: Lsn) -> Result<WalRecord, DbError> {
    let bytes = wal.read(storage, lsn)?;
    WalRecord::decode(&bytes).map_err(|error| DbError::Record { lsn, error })
}

fn read_control(storage: &dyn Storage, file: &str) -> Result<Option<ControlSlot>, DbError> {
    let Ok(len) = storage.len(file) else {
        return Ok(None);
    };
    let mut best: Option<ControlSlot> = None;
    for off in [0, CONTROL_SLOT_STRIDE] {
        let n = record::CONTROL_SLOT_BYTES as u64;
        if off + n > len {
            continue;
        }
        let mut buf = [0u8; record::CONTROL_SLOT_BYTES];
        storage.read(file, off, &mut buf)?;
        if let Some(slot) = ControlSlot::decode(&buf) {
            if best.is_none_or(|b| slot.seq > b.seq) {
                best = Some(slot);
            }
        }
    }
    Ok(best)
}

impl<S: Storage> Db<S> {
    /// Opens the database on `storage`, recovering it (see the module docs), or creates
    /// an empty one. Undo of the losers continues in [`Db::tick`].
    pub fn open(mut storage: S, config: DbConfig) -> Result<(Db<S>, DbRecovery), DbError> {
        let (state, report) = DbState::open(&mut storage, config)?;
        Ok((Db { storage, state }, report))
    }

    /// Starts a transaction.
    pub fn begin(&mut self) -> TxnId {
        self.state.begin()
    }

    /// Writes `key = value` in `txn`.
    pub fn put(&mut self, txn: TxnId, key: &[u8], value: &[u8]) -> Result<(), DbError> {
        self.state.put(&mut self.storage, txn, key, value)
    }

    /// Deletes `key` in `txn` (deleting an absent key is not an error).
    pub fn delete(&mut self, txn: TxnId, key: &[u8]) -> Result<(), DbError> {
        self.state.delete(&mut self.storage, txn, key)
    }

    /// Reads `key`: inside `txn`, including its own changes; outside any transaction,
    /// the latest acknowledged value.
    pub fn get(&mut self, txn: Option<TxnId>, key: &[u8]) -> Result<Option<Vec<u8>>, DbError> {
        self.state.get(&mut self.storage, txn, key)
    }

    /// The acknowledged entries with `lo <= key < hi`, in key order.
    pub fn scan(&mut self, lo: &[u8], hi: Option<&[u8]>) -> Result<Vec<Entry>, DbError> {
        self.state.scan(&mut self.storage, lo, hi)
    }

    /// Commits `txn`: appends its commit record; the acknowledgement comes from
    /// [`Db::take_acks`] once a sync covering it has completed.
    pub fn commit(&mut self, txn: TxnId) -> Result<(), DbError> {
        self.state.commit(&mut self.storage, txn)
    }

    /// Rolls `txn` back (continued by `tick` if it has to wait for a sync).
    pub fn abort(&mut self, txn: TxnId) -> Result<(), DbError> {
        self.state.abort(&mut self.storage, txn)
    }

    /// Moves virtual time to `now` (never backwards) and does everything due: drains sync
    /// completions, acknowledges commits, continues rollbacks, issues group-commit syncs
    /// and steps the checkpointer.
    pub fn tick(&mut self, now: u64) -> Result<(), DbError> {
        self.state.tick(&mut self.storage, now)
    }

    /// Asks the index to compact now, as a person would with RocksDB's `CompactRange`
    /// (LSM: [`Lsm::request_manual_compaction`] — the memtable frozen and flushed, then
    /// every level merged whole into the next, down to the deepest holding data — as
    /// background steps in [`Db::tick`], with the WAL rule, the manifest edits and the
    /// crash cases of any flush and compaction). Returns whether there was anything to
    /// do. The B+tree has no compaction: [`DbError::Unsupported`] says why.
    pub fn compact_now(&mut self) -> Result<bool, DbError> {
        self.state.compact_now()
    }

    /// Asks for a checkpoint now (if none is running).
    pub fn request_checkpoint(&mut self) -> Result<(), DbError> {
        self.state.request_checkpoint(&mut self.storage)
    }

    /// Holds the WAL from `lsn` on (`None`: no hold): checkpoints trim nothing at or
    /// above it. A change-data-capture connector sets it to the position it resumes from,
    /// so the records it has not published yet are still there after a crash. The hold is
    /// not durable: the reader sets it again after a restart, before any checkpoint can
    /// complete.
    pub fn set_wal_hold(&mut self, lsn: Option<Lsn>) {
        self.state.set_wal_hold(lsn)
    }

    /// Acknowledged commits since the last call.
    pub fn take_acks(&mut self) -> Vec<CommitAck> {
        self.state.take_acks()
    }

    /// Events since the last call.
    pub fn take_events(&mut self) -> Vec<DbEvent> {
        self.state.take_events()
    }

    /// Whether losers from recovery (or aborts) are still being rolled back.
    pub fn is_recovering(&self) -> bool {
        self.state.is_recovering()
    }

    /// Whether a checkpoint is under way.
    pub fn checkpoint_running(&self) -> bool {
        self.state.checkpoint_running()
    }

    /// Whether nothing is pending: no sync in flight, no commit waiting, no rollback,
    /// no checkpoint running.
    pub fn is_quiescent(&self) -> bool {
        self.state.is_quiescent()
    }

    /// The storage.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// The storage, mutably (for a simulation to move its clock).
    pub fn storage_mut(&mut self) -> &mut S {
        &mut self.storage
    }

    /// Gives the storage back (to crash it and reopen).
    pub fn into_storage(self) -> S {
        self.storage
    }

    /// The WAL.
    pub fn wal(&self) -> &Log {
        self.state.wal()
    }

    /// Which index this database keeps.
    pub fn index_kind(&self) -> IndexKind {
        self.state.index_kind()
    }

    /// The B+tree, if that is the index.
    pub fn tree(&self) -> Option<&BTree> {
        self.state.tree()
    }

    /// The LSM tree, if that is the index.
    pub fn lsm(&self) -> Option<&Lsm> {
        self.state.lsm()
    }

    /// Counters.
    pub fn stats(&self) -> DbStats {
        self.state.stats()
    }

    /// Virtual time as of the last tick.
    pub fn now(&self) -> u64 {
        self.state.now()
    }

    /// Write, read and space amplification. For the LSM tree the live bytes come from a
    /// merge over the memtables and every table: O(data) per call.
    pub fn amplification(&self) -> DbAmplification {
        self.state.amplification(&self.storage)
    }

    /// Checks the invariants; panics on a violation (a bug).
    pub fn validate(&self) {
        self.state.validate(&self.storage)
    }
}

impl DbState {
    /// `clone`, kept out of line so that each `Db<S>::clone` calls one copy.
    #[inline(never)]
    fn clone_out_of_line(&self) -> DbState {
        self.clone()
    }

    fn open(storage: &mut dyn Storage, config: DbConfig) -> Result<(DbState, DbRecovery), DbError> {
        let page_file = PageFile::new(config.tree.page_file.clone())?;
        let (mut wal, wal_report) = Log::open(storage, config.wal.clone())?;
        let mut events = Vec::new();
        let mut step = |s: RecoveryStep| events.push(DbEvent::Recovery(s));

        // Start: S1..S4.
        let control = read_control(storage, &config.control_file)?;
        let (checkpoint, redo_from, mut att, mut next_txn) = match control {
            Some(slot) => {
                if slot.checkpoint < wal.first_lsn() || slot.checkpoint >= wal.next_lsn() {
                    return Err(DbError::Corrupt(format!(
                        "control file points at {} but the WAL holds {}..{} (case S4)",
                        slot.checkpoint,
                        wal.first_lsn(),
                        wal.next_lsn()
                    )));
                }
                match read_record(&wal, storage, slot.checkpoint)? {
                    WalRecord::Checkpoint { redo, next_txn, active } if redo == slot.redo => {
                        let att: VecMap<TxnId, (Lsn, Lsn)> =
                            active.iter().map(|a| (a.txn, (a.first, a.last))).collect();
                        step(RecoveryStep::Start {
                            case: "S1",
                            checkpoint: Some(slot.checkpoint),
                            redo,
                        });
                        (Some(slot.checkpoint), redo, att, next_txn)
                    }
                    other => {
                        return Err(DbError::Corrupt(format!(
                            "control file points at {} which holds a {} record, not its checkpoint (case S4)",
                            slot.checkpoint,
                            other.kind()
                        )))
                    }
                }
            }
            None if wal.first_lsn() == Lsn(0) => {
                step(RecoveryStep::Start {
                    case: "S2",
                    checkpoint: None,
                    redo: Lsn(0),
                });
                (None, Lsn(0), VecMap::new(), 1)
            }
            None => {
                return Err(DbError::Corrupt(format!(
                    "no valid control slot, and the WAL was trimmed to start at {} (case S3)",
                    wal.first_lsn()
                )))
            }
        };

        // Analysis: A1..A5, from the checkpoint record (or the start) to the end.
        let mut winners = 0;
        let mut analyzed = 0;
        let analysis_from = checkpoint.unwrap_or(Lsn(0));
        for rec in wal.scan(storage, analysis_from)? {
            let rec = rec?;
            let lsn = rec.lsn;
            let r =
                WalRecord::decode(&rec.payload).map_err(|error| DbError::Record { lsn, error })?;
            analyzed += 1;
            let case = match &r {
                WalRecord::Checkpoint { .. } => "A1/A5",
                WalRecord::Update { txn, .. } | WalRecord::Clr { txn, .. } => {
                    att.entry(*txn)
                        .and_modify(|e| e.1 = lsn)
                        .or_insert((lsn, lsn));
                    "A2"
                }
                WalRecord::Commit { txn } => {
                    att.remove(txn);
                    winners += 1;
                    "A3"
                }
                WalRecord::Abort { txn } => {
                    att.remove(txn);
                    "A4"
                }
                WalRecord::Create { .. } => "A5",
            };
            if let Some(t) = r.txn() {
                next_txn = next_txn.max(t.0 + 1);
            }
            step(RecoveryStep::Analyzed {
                lsn,
                case,
                txn: r.txn(),
            });
        }

        let (index, applied, skipped, repaired, lsm_report) = match config.index {
            IndexKind::BTree => {
                let (tree, applied, skipped, repaired) =
                    Self::redo_btree(storage, &mut wal, &page_file, &config, redo_from, &mut step)?;
                (
                    Index::BTree(Box::new(tree)),
                    applied,
                    skipped,
                    repaired,
                    None,
                )
            }
            IndexKind::Lsm => {
                let (lsm, applied, skipped, report) =
                    Self::redo_lsm(storage, &wal, &config, redo_from, &mut step)?;
                (Index::Lsm(Box::new(lsm)), applied, skipped, 0, Some(report))
            }
        };

        let losers: Vec<TxnId> = att.keys().copied().collect();
        let mut db = DbState {
            index,
            page_file,
            now: 0,
            next_txn,
            txns: VecMap::new(),
            locks: VecMap::new(),
            in_flight: VecDeque::new(),
            covered: wal.durable_next(),
            uncovered_since: None,
            retry_at: 0,
            retry_backoff: 0,
            checkpointer: Checkpointer::Idle,
            control_seq: control.map_or(0, |c| c.seq),
            wal_bytes_at_checkpoint: 0,
            acks: Vec::new(),
            events,
            stats: DbStats::default(),
            poisoned: None,
            wal_hold: None,
            config,
            wal,
        };
        if let Index::BTree(t) = &mut db.index {
            t.begin_checkpoint_epoch(redo_from);
        }
        db.index.set_wal_durable(db.wal.durable_next());

        // Undo: register the losers; `tick` (and this first call) rolls them back.
        for (&txn, &(first, last)) in &att {
            let before = db.loser_keys(storage, last)?;
            for key in before.keys() {
                db.locks.insert(key.clone(), txn);
            }
            db.txns.insert(
                txn,
                Txn {
                    first: Some(first),
                    last: Some(last),
                    before,
                    state: TxnState::Aborting {
                        next: Some(last),
                        undone: 0,
                    },
                },
            );
        }
        // Make the repairs and the create record durable before anything else.
        db.issue_sync(storage, SyncReason::Recovery)?;
        db.continue_rollbacks(storage);
        let report = DbRecovery {
            wal: wal_report,
            checkpoint,
            redo_from,
            analyzed,
            redo_applied: applied,
            redo_skipped: skipped,
            pages_repaired: repaired,
            winners,
            losers,
            lsm: lsm_report,
        };
        Ok((db, report))
    }

    /// Redo for the B+tree: R1..R5, from the redo LSN to the end, straight on the page
    /// file; then the tree is opened (or created, with its create record).
    fn redo_btree(
        storage: &mut dyn Storage,
        wal: &mut Log,
        page_file: &PageFile,
        config: &DbConfig,
        redo_from: Lsn,
        step: &mut impl FnMut(RecoveryStep),
    ) -> Result<(BTree, u64, u64, u64), DbError> {
        let (mut applied, mut skipped, mut repaired) = (0, 0, 0);
        // (A loop over LSNs rather than `scan`: redo writes the storage it reads the WAL from.)
        let mut lsn = redo_from;
        while lsn < wal.next_lsn() {
            let r = read_record(wal, &*storage, lsn)?;
            for op in r.ops() {
                let outcome = page_file.redo(storage, op, lsn)?;
                let case = match outcome {
                    RedoOutcome::Applied => {
                        applied += 1;
                        "R1"
                    }
                    RedoOutcome::Skipped { .. } => {
                        skipped += 1;
                        "R2"
                    }
                    RedoOutcome::Repaired => {
                        repaired += 1;
                        applied += 1;
                        "R3"
                    }
                    RedoOutcome::Formatted => {
                        applied += 1;
                        "R4"
                    }
                };
                step(RecoveryStep::Redo {
                    lsn,
                    page: op.page(),
                    case,
                });
            }
            lsn = lsn.next();
        }

        // The index: open what redo rebuilt, or create it.
        let fresh = page_file.file_bytes(&*storage)? == 0;
        let tree = if fresh {
            None
        } else {
            Some(BTree::open(storage, config.tree.clone())?)
        };

        let tree = match tree {
            Some(t) => t,
            None => {
                let lsn = wal.next_lsn();
                let (t, change) = BTree::create(storage, config.tree.clone(), lsn)?;
                let got = wal.append(storage, &WalRecord::Create { ops: change.ops }.encode())?;
                assert_eq!(got, lsn, "the tree was stamped with the LSN its record got");
                t
            }
        };
        Ok((tree, applied, skipped, repaired))
    }

    /// Redo for the LSM tree: R6..R9. The manifest says which tables hold everything up
    /// to its last flushed LSN; the WAL's updates and CLRs above it go back into the
    /// memtable, blind (redo needs no old values), in LSN order.
    fn redo_lsm(
        storage: &mut dyn Storage,
        wal: &Log,
        config: &DbConfig,
        redo_from: Lsn,
        step: &mut impl FnMut(RecoveryStep),
    ) -> Result<(Lsm, u64, u64, LsmRecovery), DbError> {
        let (mut lsm, report) = Lsm::open(storage, config.lsm.clone())?;
        step(RecoveryStep::LsmOpened {
            last_flushed_lsn: report.last_flushed_lsn,
            tables: report.tables,
            orphans_deleted: report.orphans_deleted.len() as u64,
        });
        let first_unflushed = report.last_flushed_lsn.map_or(Lsn(0), Lsn::next);
        if first_unflushed < wal.first_lsn() {
            return Err(DbError::Corrupt(format!(
                "the LSM manifest has everything below {first_unflushed} in tables, but the WAL was trimmed to start at {} (case R9)",
                wal.first_lsn()
            )));
        }
        if first_unflushed > wal.next_lsn() {
            return Err(DbError::Corrupt(format!(
                "the LSM tables hold writes up to {} but the WAL ends below {} (case R9)",
                first_unflushed.0 - 1,
                wal.next_lsn()
            )));
        }
        let (mut applied, mut skipped) = (0, 0);
        for rec in wal.scan(&*storage, redo_from.min(first_unflushed))? {
            let rec = rec?;
            let lsn = rec.lsn;
            let r =
                WalRecord::decode(&rec.payload).map_err(|error| DbError::Record { lsn, error })?;
            let (key, value) = match &r {
                WalRecord::Update { key, after, .. } => (key, after),
                WalRecord::Clr { key, restored, .. } => (key, restored),
                _ => continue,
            };
            if lsn < first_unflushed {
                skipped += 1;
                step(RecoveryStep::RedoLogical { lsn, case: "R8" });
            } else {
                lsm.redo(key, value.as_deref(), lsn)?;
                applied += 1;
                step(RecoveryStep::RedoLogical { lsn, case: "R7" });
            }
        }
        Ok((lsm, applied, skipped, report))
    }

    /// The keys a loser wrote (from its undo chain) with their values from before it:
    /// its locks, and what readers see while it is rolled back.
    fn loser_keys(
        &self,
        storage: &dyn Storage,
        last: Lsn,
    ) -> Result<VecMap<Vec<u8>, Option<Vec<u8>>>, DbError> {
        let mut keys = VecMap::new();
        let mut next = Some(last);
        let mut guard = 0u64;
        while let Some(lsn) = next {
            guard += 1;
            if guard > self.wal.len() + 1 {
                return Err(DbError::Corrupt(format!("undo chain from {last} loops")));
            }
            next = match read_record(&self.wal, storage, lsn)? {
                WalRecord::Update {
                    key, before, prev, ..
                } => {
                    keys.insert(key, before);
                    prev
                }
                WalRecord::Clr {
                    key,
                    undo_next,
                    restored,
                    ..
                } => {
                    // The value the undone update had replaced. Walking backwards, an
                    // earlier update of the same key (seen later) overwrites it, so the
                    // value from before the transaction wins.
                    keys.insert(key, restored);
                    undo_next
                }
                other => {
                    return Err(DbError::Corrupt(format!(
                        "undo chain reached a {} record at {lsn}",
                        other.kind()
                    )))
                }
            };
        }
        Ok(keys)
    }

    fn check_poisoned(&self) -> Result<(), DbError> {
        match &self.poisoned {
            Some(why) => Err(DbError::Poisoned(why.clone())),
            None => Ok(()),
        }
    }

    fn poison<T>(&mut self, e: DbError) -> Result<T, DbError> {
        self.poisoned = Some(e.to_string());
        Err(e)
    }

    /// Appends a record whose LSN the tree was already given.
    fn append(
        &mut self,
        storage: &mut dyn Storage,
        planned: Lsn,
        rec: &WalRecord,
    ) -> Result<(), DbError> {
        let bytes = rec.encode();
        match self.wal.append(storage, &bytes) {
            Ok(lsn) => {
                self.uncovered_since.get_or_insert(self.now);
                assert_eq!(lsn, planned, "WAL LSN differs from the one the tree used");
                self.stats.wal_bytes += bytes.len() as u64 + crate::log::HEADER_BYTES;
                self.events.push(DbEvent::Appended {
                    lsn,
                    kind: rec.kind(),
                    txn: rec.txn(),
                    pages: rec.ops().iter().map(|o| o.page()).collect(),
                });
                Ok(())
            }
            // The tree already holds the change in memory: nothing may continue.
            Err(e) => self.poison(e.into()),
        }
    }

    fn begin(&mut self) -> TxnId {
        let id = TxnId(self.next_txn);
        self.next_txn += 1;
        self.txns.insert(
            id,
            Txn {
                first: None,
                last: None,
                before: VecMap::new(),
                state: TxnState::Active,
            },
        );
        id
    }

    fn active(&self, txn: TxnId) -> Result<&Txn, DbError> {
        let t = self.txns.get(&txn).ok_or(DbError::NoSuchTxn(txn))?;
        if t.state != TxnState::Active {
            return Err(DbError::TxnFinishing(txn));
        }
        Ok(t)
    }

    fn index_error(&mut self, storage: &mut dyn Storage, e: IndexError) -> DbError {
        match e {
            IndexError::BTree(e) => self.tree_error(storage, e),
            IndexError::Lsm(e) => e.into(),
        }
    }

    /// Writes to the index under `lsn` (see [`Index::write`]).
    fn index_write(
        &mut self,
        storage: &mut dyn Storage,
        key: &[u8],
        value: Option<&[u8]>,
        lsn: Lsn,
        need_old: bool,
    ) -> Result<Change, DbError> {
        let r = self.index.write(storage, key, value, lsn, need_old);
        r.map_err(|e| self.index_error(storage, e))
    }

    fn tree_error(&mut self, storage: &mut dyn Storage, e: BTreeError) -> DbError {
        if let BTreeError::NeedsWalFlush { lsn, durable } = e {
            // One sync covering `lsn` is enough: under load every blocked write would
            // otherwise add a sync to the disk's queue.
            if lsn >= self.covered {
                if let Err(e) = self.issue_sync(storage, SyncReason::WalRule) {
                    return e;
                }
            }
            return DbError::WouldBlock(format!(
                "every evictable page has changes at {lsn} or later, the WAL is durable below {durable}"
            ));
        }
        e.into()
    }

    fn put(
        &mut self,
        storage: &mut dyn Storage,
        txn: TxnId,
        key: &[u8],
        value: &[u8],
    ) -> Result<(), DbError> {
        self.write(storage, txn, key, Some(value))
    }

    fn delete(&mut self, storage: &mut dyn Storage, txn: TxnId, key: &[u8]) -> Result<(), DbError> {
        self.write(storage, txn, key, None)
    }

    fn write(
        &mut self,
        storage: &mut dyn Storage,
        txn: TxnId,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<(), DbError> {
        self.check_poisoned()?;
        let prev = self.active(txn)?.last;
        if let Some(&holder) = self.locks.get(key) {
            if holder != txn {
                return Err(DbError::Conflict {
                    key: lossy(key),
                    holder,
                });
            }
        }
        if let Index::Lsm(l) = &self.index {
            if l.write_stalled() {
                // Every memtable is full and waiting for a flush: throttle the client
                // (a flush may itself be waiting for the WAL rule).
                let frozen = l.immutable_memtables().count();
                if l.flush_waits_for_wal().is_some() && self.sync_idle() {
                    self.issue_sync(storage, SyncReason::WalRule)?;
                }
                return Err(DbError::WouldBlock(format!(
                    "write stall: the memtable is full and {frozen} more wait for a flush"
                )));
            }
        }
        let lsn = self.wal.next_lsn();
        let change = self.index_write(storage, key, value, lsn, true)?;
        self.locks.insert(key.to_vec(), txn);
        let t = self.txns.get_mut(&txn).expect("checked active");
        t.before
            .entry(key.to_vec())
            .or_insert(change.old_value.clone());
        self.stats.logical_bytes += key.len() as u64 + value.map_or(0, |v| v.len() as u64);
        // Logged even when nothing changed (deleting an absent key): the tree has used the
        // LSN, and the record keeps the transaction's history complete.
        t.first.get_or_insert(lsn);
        t.last = Some(lsn);
        let rec = WalRecord::Update {
            txn,
            prev,
            key: key.to_vec(),
            before: change.old_value,
            after: value.map(<[u8]>::to_vec),
            ops: change.ops,
        };
        self.append(storage, lsn, &rec)
    }

    fn get(
        &mut self,
        storage: &mut dyn Storage,
        txn: Option<TxnId>,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, DbError> {
        self.check_poisoned()?;
        if let Some(&holder) = self.locks.get(key) {
            if Some(holder) != txn {
                return Ok(self.txns[&holder].before.get(key).cloned().flatten());
            }
        }
        let r = self.index.get(storage, key);
        r.map_err(|e| self.index_error(storage, e))
    }

    fn scan(
        &mut self,
        storage: &mut dyn Storage,
        lo: &[u8],
        hi: Option<&[u8]>,
    ) -> Result<Vec<Entry>, DbError> {
        self.check_poisoned()?;
        let mut found = Vec::new();
        let r = self.index.scan_into(storage, lo, hi, &mut found);
        r.map_err(|e| self.index_error(storage, e))?;
        // The index's rows, in key order; then each locked key in range gets its value from
        // before the transaction holding it (uncommitted writes are not visible).
        let mut out = found;
        debug_assert!(
            out.windows(2).all(|w| w[0].0 < w[1].0),
            "a scan is in key order"
        );
        for (key, holder) in &self.locks {
            if key.as_slice() < lo || hi.is_some_and(|h| key.as_slice() >= h) {
                continue;
            }
            let before = self.txns[holder].before.get(key).cloned().flatten();
            match (out.binary_search_by(|(k, _)| k.cmp(key)), before) {
                (Ok(i), Some(v)) => out[i].1 = v,
                (Ok(i), None) => {
                    out.remove(i);
                }
                (Err(i), Some(v)) => out.insert(i, (key.clone(), v)),
                (Err(_), None) => {}
            }
        }
        Ok(out)
    }

    fn commit(&mut self, storage: &mut dyn Storage, txn: TxnId) -> Result<(), DbError> {
        self.check_poisoned()?;
        let t = self.active(txn)?;
        if t.last.is_none() {
            // Wrote nothing: nothing to make durable.
            let t = self.txns.remove(&txn).expect("exists");
            for key in t.before.keys() {
                self.locks.remove(key);
            }
            let ack = CommitAck {
                txn,
                lsn: None,
                latency_ticks: 0,
            };
            self.acks.push(ack);
            self.events.push(DbEvent::Committed(ack));
            return Ok(());
        }
        let lsn = self.wal.next_lsn();
        self.append(storage, lsn, &WalRecord::Commit { txn })?;
        let now = self.now;
        let t = self.txns.get_mut(&txn).expect("exists");
        t.last = Some(lsn);
        t.state = TxnState::Committing { lsn, at: now };
        self.maybe_sync_commits(storage)?;
        Ok(())
    }

    fn abort(&mut self, storage: &mut dyn Storage, txn: TxnId) -> Result<(), DbError> {
        self.check_poisoned()?;
        let t = self.txns.get_mut(&txn).ok_or(DbError::NoSuchTxn(txn))?;
        if t.state != TxnState::Active {
            return Err(DbError::TxnFinishing(txn));
        }
        t.state = TxnState::Aborting {
            next: t.last,
            undone: 0,
        };
        self.continue_rollbacks(storage);
        Ok(())
    }

    /// Undoes up to `undo_records_per_tick` records of the rolling-back transactions.
    fn continue_rollbacks(&mut self, storage: &mut dyn Storage) {
        let mut budget = self.config.undo_records_per_tick.max(1);
        let aborting: Vec<TxnId> = self
            .txns
            .iter()
            .filter(|(_, t)| matches!(t.state, TxnState::Aborting { .. }))
            .map(|(id, _)| *id)
            .collect();
        for txn in aborting {
            if budget == 0 {
                return;
            }
            match self.rollback_steps(storage, txn, &mut budget) {
                Ok(()) | Err(DbError::WouldBlock(_)) => {}
                Err(e) => {
                    let _ = self.poison::<()>(e);
                    return;
                }
            }
        }
    }

    fn rollback_steps(
        &mut self,
        storage: &mut dyn Storage,
        txn: TxnId,
        budget: &mut usize,
    ) -> Result<(), DbError> {
        loop {
            if *budget == 0 {
                return Ok(());
            }
            let TxnState::Aborting { next, undone } = self.txns[&txn].state.clone() else {
                unreachable!("only aborting transactions roll back");
            };
            let Some(lsn) = next else {
                // U3: the chain is exhausted.
                if self.txns[&txn].last.is_some() {
                    let at = self.wal.next_lsn();
                    self.append(storage, at, &WalRecord::Abort { txn })?;
                }
                self.events.push(DbEvent::Recovery(RecoveryStep::Undo {
                    lsn: self.wal.next_lsn(),
                    txn,
                    case: "U3",
                }));
                let t = self.txns.remove(&txn).expect("exists");
                for key in t.before.keys() {
                    self.locks.remove(key);
                }
                self.stats.aborts += 1;
                self.events.push(DbEvent::RolledBack { txn, undone });
                return Ok(());
            };
            *budget -= 1;
            let (next, did_undo) = match read_record(&self.wal, storage, lsn)? {
                WalRecord::Update {
                    key, before, prev, ..
                } => {
                    // U1: restore the before value under a CLR.
                    let at = self.wal.next_lsn();
                    let change = self.index_write(storage, &key, before.as_deref(), at, false)?;
                    let clr = WalRecord::Clr {
                        txn,
                        undo_next: prev,
                        key,
                        restored: before,
                        ops: change.ops,
                    };
                    self.append(storage, at, &clr)?;
                    self.txns.get_mut(&txn).expect("exists").last = Some(at);
                    self.events.push(DbEvent::Recovery(RecoveryStep::Undo {
                        lsn,
                        txn,
                        case: "U1",
                    }));
                    (prev, 1)
                }
                WalRecord::Clr { undo_next, .. } => {
                    // U2: never undo an undo.
                    self.events.push(DbEvent::Recovery(RecoveryStep::Undo {
                        lsn,
                        txn,
                        case: "U2",
                    }));
                    (undo_next, 0)
                }
                other => {
                    return Err(DbError::Corrupt(format!(
                        "undo of {txn} reached a {} record at {lsn}",
                        other.kind()
                    )))
                }
            };
            self.txns.get_mut(&txn).expect("exists").state = TxnState::Aborting {
                next,
                undone: undone + did_undo,
            };
        }
    }

    fn issue_sync(&mut self, storage: &mut dyn Storage, reason: SyncReason) -> Result<(), DbError> {
        let covers = self.wal.next_lsn();
        let id = self.wal.request_sync(storage)?;
        let commits = self
            .txns
            .values()
            .filter(|t| matches!(t.state, TxnState::Committing { lsn, .. } if lsn >= self.covered))
            .count() as u64;
        self.covered = covers;
        self.uncovered_since = None;
        self.in_flight.push_back((id, covers, reason));
        self.stats.syncs += 1;
        if reason == SyncReason::Commit {
            self.stats.commit_syncs += 1;
        }
        self.events.push(DbEvent::SyncIssued {
            sync: id,
            covers,
            commits,
            reason,
        });
        Ok(())
    }

    /// Issues a commit sync if the group-commit policy says so.
    fn maybe_sync_commits(&mut self, storage: &mut dyn Storage) -> Result<(), DbError> {
        let waiting: Vec<u64> = self
            .txns
            .values()
            .filter_map(|t| match t.state {
                TxnState::Committing { lsn, at } if lsn >= self.covered => Some(at),
                _ => None,
            })
            .collect();
        let Some(&oldest) = waiting.iter().min() else {
            return Ok(());
        };
        let gc = self.config.group_commit;
        let due = self.now >= self.retry_at
            && (!gc.enabled
                || (self.in_flight.is_empty()
                    && (waiting.len() >= gc.max_batch.max(1)
                        || self.now - oldest >= gc.max_wait_ticks)));
        if due {
            self.issue_sync(storage, SyncReason::Commit)?;
        }
        Ok(())
    }

    fn tick(&mut self, storage: &mut dyn Storage, now: u64) -> Result<(), DbError> {
        self.check_poisoned()?;
        self.now = self.now.max(now);
        let completions = storage.take_completions();
        for c in &completions {
            self.handle_completion(storage, c);
        }
        self.index.set_wal_durable(self.wal.durable_next());
        self.ack_durable_commits();
        self.continue_rollbacks(storage);
        self.check_poisoned()?;
        self.maybe_sync_commits(storage)?;
        self.step_lsm(storage)?;
        self.step_checkpointer(storage)?;
        if let Some(since) = self.uncovered_since {
            if self.sync_idle() && self.now - since >= self.config.wal_writer_delay_ticks {
                self.issue_sync(storage, SyncReason::WalWriter)?;
            }
        }
        Ok(())
    }

    /// The LSM index's background work: up to `lsm_steps_per_tick` steps, and a WAL
    /// sync if a flush waits for one (the WAL rule).
    fn step_lsm(&mut self, storage: &mut dyn Storage) -> Result<(), DbError> {
        let Index::Lsm(lsm) = &mut self.index else {
            return Ok(());
        };
        for _ in 0..self.config.lsm_steps_per_tick.max(1) {
            match lsm.step(storage) {
                Ok(Some(e)) => self.events.push(DbEvent::Lsm(e)),
                Ok(None) => break,
                // A failed flush or compaction leaves the index's job half done.
                Err(e) => return self.poison(e.into()),
            }
        }
        let waits = lsm.flush_waits_for_wal();
        if waits.is_some_and(|need| need > self.covered) && self.sync_idle() {
            self.issue_sync(storage, SyncReason::WalRule)?;
        }
        Ok(())
    }

    fn handle_completion(&mut self, storage: &mut dyn Storage, c: &SyncCompletion) {
        self.wal.handle_sync_completion(c);
        if let Index::Lsm(l) = &mut self.index {
            l.handle_sync_completion(c);
        }
        while self.in_flight.front().is_some_and(|(id, _, _)| *id <= c.id) {
            self.in_flight.pop_front();
        }
        if c.result.is_err() {
            // Nothing became durable: whatever waited on it must be covered again, after
            // a wait that doubles while the storage keeps refusing.
            self.covered = self.covered.min(self.wal.durable_next());
            self.uncovered_since.get_or_insert(self.now);
            self.retry_backoff =
                (self.retry_backoff * 2).clamp(SYNC_RETRY_TICKS, SYNC_RETRY_MAX_TICKS);
            self.retry_at = self.now + self.retry_backoff;
        } else {
            self.retry_backoff = 0;
            self.retry_at = 0;
        }
        self.events.push(DbEvent::SyncDone {
            sync: c.id,
            error: c.result.clone().err(),
        });
        if let Checkpointer::ControlSync { lsn, redo, sync } = self.checkpointer {
            if c.id >= sync {
                if c.result.is_ok() {
                    self.finish_checkpoint(storage, lsn, redo);
                } else {
                    // Write the control slot again with the next sync.
                    self.checkpointer = Checkpointer::RecordSync { lsn, redo };
                }
            }
        }
    }

    fn ack_durable_commits(&mut self) {
        let durable = self.wal.durable_next();
        let done: Vec<TxnId> = self
            .txns
            .iter()
            .filter(|(_, t)| matches!(t.state, TxnState::Committing { lsn, .. } if lsn < durable))
            .map(|(id, _)| *id)
            .collect();
        for txn in done {
            let t = self.txns.remove(&txn).expect("exists");
            let TxnState::Committing { lsn, at } = t.state else {
                unreachable!("filtered on Committing");
            };
            for key in t.before.keys() {
                self.locks.remove(key);
            }
            let ack = CommitAck {
                txn,
                lsn: Some(lsn),
                latency_ticks: self.now - at,
            };
            self.stats.commits += 1;
            self.stats.commit_latency_ticks += ack.latency_ticks;
            self.stats.max_commit_latency_ticks =
                self.stats.max_commit_latency_ticks.max(ack.latency_ticks);
            self.acks.push(ack);
            self.events.push(DbEvent::Committed(ack));
        }
    }

    fn compact_now(&mut self) -> Result<bool, DbError> {
        self.check_poisoned()?;
        match &mut self.index {
            Index::BTree(_) => Err(DbError::Unsupported(
                "the B+tree updates its pages in place and has no compaction: there are no \
                 files to merge, and this format never frees a page (deletion is lazy; a \
                 vacuum that rebuilds the tree is future work)"
                    .into(),
            )),
            Index::Lsm(lsm) => Ok(lsm.request_manual_compaction()),
        }
    }

    fn request_checkpoint(&mut self, storage: &mut dyn Storage) -> Result<(), DbError> {
        self.check_poisoned()?;
        if self.checkpointer == Checkpointer::Idle {
            self.begin_checkpoint(storage)?;
        }
        Ok(())
    }

    fn begin_checkpoint(&mut self, storage: &mut dyn Storage) -> Result<(), DbError> {
        let redo = self.wal.next_lsn();
        let (pages, to_write) = match &mut self.index {
            Index::BTree(tree) => {
                tree.begin_checkpoint_epoch(redo);
                let pages: VecDeque<PageId> = tree
                    .dirty_pages()
                    .into_iter()
                    .filter(|(_, rec_lsn)| *rec_lsn < redo)
                    .map(|(p, _)| p)
                    .collect();
                let n = pages.len() as u64;
                (pages, n)
            }
            Index::Lsm(lsm) => {
                // The memtables holding writes below `redo` must reach durable tables.
                let frozen = lsm.freeze();
                let n = lsm.immutable_memtables().count() as u64
                    + u64::from(!lsm.active_memtable().is_empty());
                if let Some(e) = frozen {
                    self.events.push(DbEvent::Lsm(e));
                }
                (VecDeque::new(), n)
            }
        };
        self.wal_bytes_at_checkpoint = self.stats.wal_bytes;
        self.events.push(DbEvent::CheckpointBegan {
            redo,
            pages: to_write,
        });
        self.checkpointer = Checkpointer::Flushing {
            redo,
            pages,
            copies: VecDeque::new(),
        };
        if self.wal.durable_next() < redo && self.sync_idle() {
            // The pages may be written only once the WAL is durable up to them.
            self.issue_sync(storage, SyncReason::Checkpoint)?;
        }
        Ok(())
    }

    fn step_checkpointer(&mut self, storage: &mut dyn Storage) -> Result<(), DbError> {
        match std::mem::replace(&mut self.checkpointer, Checkpointer::Idle) {
            Checkpointer::Idle => {
                let every = self.config.checkpoint.every_wal_bytes;
                if every > 0 && self.stats.wal_bytes - self.wal_bytes_at_checkpoint >= every {
                    self.begin_checkpoint(storage)?;
                }
            }
            Checkpointer::Flushing {
                redo,
                pages,
                copies,
            } if self.index.kind() == IndexKind::Lsm => {
                let Index::Lsm(lsm) = &mut self.index else {
                    unreachable!("checked the kind")
                };
                if lsm.active_memtable().min_lsn().is_some_and(|l| l < redo) {
                    // The queue of frozen memtables was full at the start: try again.
                    if let Some(e) = lsm.freeze() {
                        self.events.push(DbEvent::Lsm(e));
                    }
                }
                if lsm.oldest_unflushed_lsn().is_some_and(|l| l < redo) {
                    if self.wal.durable_next() < redo && self.sync_idle() {
                        // Their flush waits for the WAL rule.
                        self.issue_sync(storage, SyncReason::Checkpoint)?;
                    }
                    self.checkpointer = Checkpointer::Flushing {
                        redo,
                        pages,
                        copies,
                    };
                } else {
                    self.write_checkpoint_record(storage, redo)?;
                }
            }
            Checkpointer::Flushing {
                redo,
                mut pages,
                mut copies,
            } => {
                let Index::BTree(tree) = &mut self.index else {
                    unreachable!("the LSM arm is above")
                };
                let per_tick = self.config.checkpoint.pages_per_tick.max(1);
                let mut budget = per_tick;
                // Copies whose WAL is durable now.
                while budget > 0 {
                    let Some(copy) = copies.front_mut() else {
                        break;
                    };
                    let page = copy.id();
                    match tree.pool_mut().write_copy(storage, copy) {
                        Ok(wrote) => {
                            copies.pop_front();
                            if wrote {
                                budget -= 1;
                                self.events.push(DbEvent::PageFlushed { page });
                            }
                        }
                        Err(BTreeError::NeedsWalFlush { .. }) => break,
                        Err(e) => return Err(e.into()),
                    }
                }
                while budget > 0 {
                    let Some(&page) = pages.front() else { break };
                    match tree.pool_mut().flush_page(storage, page) {
                        Ok(wrote) => {
                            pages.pop_front();
                            if wrote {
                                budget -= 1;
                                self.events.push(DbEvent::PageFlushed { page });
                            }
                        }
                        Err(BTreeError::NeedsWalFlush { .. }) => {
                            // The page may change again before the WAL catches up with
                            // it (a hot page under load would never be written): copy it
                            // as it is now and write the copy once the WAL is durable
                            // past the copy's LSN (copy-on-write checkpointing).
                            if copies.len() >= 8 * per_tick {
                                break;
                            }
                            pages.pop_front();
                            if let Some(copy) = tree.pool().copy_page(page) {
                                copies.push_back(copy);
                            }
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                let waiting = copies.iter().map(PageCopy::lsn).max();
                if waiting.is_some_and(|l| l >= self.wal.durable_next()) && self.sync_idle() {
                    self.issue_sync(storage, SyncReason::Checkpoint)?;
                }
                if pages.is_empty() && copies.is_empty() {
                    self.write_checkpoint_record(storage, redo)?;
                } else {
                    self.checkpointer = Checkpointer::Flushing {
                        redo,
                        pages,
                        copies,
                    };
                }
            }
            Checkpointer::RecordSync { lsn, redo } if self.now < self.retry_at => {
                // A failed sync's retry wait: the control slot is written with the next.
                self.checkpointer = Checkpointer::RecordSync { lsn, redo };
            }
            Checkpointer::RecordSync { lsn, redo } => {
                if self.wal.durable_next() > lsn {
                    let slot = ControlSlot {
                        seq: self.control_seq + 1,
                        checkpoint: lsn,
                        redo,
                    };
                    storage.write(&self.config.control_file, slot.offset(), &slot.encode())?;
                    self.control_seq = slot.seq;
                    self.issue_sync(storage, SyncReason::Checkpoint)?;
                    let sync = self.in_flight.back().expect("just issued").0;
                    self.checkpointer = Checkpointer::ControlSync { lsn, redo, sync };
                } else {
                    if self.in_flight.is_empty() {
                        self.issue_sync(storage, SyncReason::Checkpoint)?;
                    }
                    self.checkpointer = Checkpointer::RecordSync { lsn, redo };
                }
            }
            state @ Checkpointer::ControlSync { .. } => self.checkpointer = state,
        }
        Ok(())
    }

    /// Checkpoint step 3: every change below `redo` is in the index's files; log the
    /// checkpoint record and sync it.
    fn write_checkpoint_record(
        &mut self,
        storage: &mut dyn Storage,
        redo: Lsn,
    ) -> Result<(), DbError> {
        let lsn = self.wal.next_lsn();
        // Committing transactions are left out: their commit record comes
        // before this one, so wherever this record survives, so does their
        // commit, and recovery must not take them for losers.
        let active = self
            .txns
            .iter()
            .filter(|(_, t)| !matches!(t.state, TxnState::Committing { .. }))
            .filter_map(|(id, t)| {
                Some(ActiveTxn {
                    txn: *id,
                    first: t.first?,
                    last: t.last?,
                })
            })
            .collect();
        let rec = WalRecord::Checkpoint {
            redo,
            next_txn: self.next_txn,
            active,
        };
        self.append(storage, lsn, &rec)?;
        self.issue_sync(storage, SyncReason::Checkpoint)?;
        self.checkpointer = Checkpointer::RecordSync { lsn, redo };
        Ok(())
    }

    fn finish_checkpoint(&mut self, storage: &mut dyn Storage, lsn: Lsn, redo: Lsn) {
        self.checkpointer = Checkpointer::Idle;
        self.stats.checkpoints += 1;
        // Keep every record a rollback could need: those of transactions that are open
        // or whose commit is not durable yet (a crash could still make them losers).
        let durable = self.wal.durable_next();
        let keep = self
            .txns
            .values()
            .filter(|t| !matches!(t.state, TxnState::Committing { lsn, .. } if lsn < durable))
            .filter_map(|t| t.first)
            .fold(redo, Lsn::min);
        // A reader of the WAL (change data capture) holds it from its position.
        let keep = self.wal_hold.map_or(keep, |h| keep.min(h));
        // The LSM's recovery replays from its manifest's last flushed LSN: keep the WAL
        // from there even when nothing below `redo` needed a flush.
        let keep = match &self.index {
            Index::Lsm(l) => keep.min(l.durable_flushed_lsn().map_or(Lsn(0), Lsn::next)),
            Index::BTree(_) => keep,
        };
        let trimmed = match self.wal.trim_prefix(storage, keep) {
            Ok(n) => n,
            Err(e) => {
                let _ = self.poison::<()>(e.into());
                0
            }
        };
        self.events.push(DbEvent::CheckpointDone {
            lsn,
            redo,
            trimmed_segments: trimmed,
        });
    }

    fn set_wal_hold(&mut self, lsn: Option<Lsn>) {
        self.wal_hold = lsn;
    }

    fn take_acks(&mut self) -> Vec<CommitAck> {
        std::mem::take(&mut self.acks)
    }

    fn take_events(&mut self) -> Vec<DbEvent> {
        std::mem::take(&mut self.events)
    }

    fn is_recovering(&self) -> bool {
        self.txns
            .values()
            .any(|t| matches!(t.state, TxnState::Aborting { .. }))
    }

    fn checkpoint_running(&self) -> bool {
        self.checkpointer != Checkpointer::Idle
    }

    /// Whether a new sync may be issued now: none in flight, and no failed sync's retry
    /// wait running.
    fn sync_idle(&self) -> bool {
        self.in_flight.is_empty() && self.now >= self.retry_at
    }

    fn is_quiescent(&self) -> bool {
        self.in_flight.is_empty()
            && self.checkpointer == Checkpointer::Idle
            && self.txns.values().all(|t| t.state == TxnState::Active)
    }

    fn wal(&self) -> &Log {
        &self.wal
    }

    fn index_kind(&self) -> IndexKind {
        self.index.kind()
    }

    fn tree(&self) -> Option<&BTree> {
        match &self.index {
            Index::BTree(t) => Some(&**t),
            Index::Lsm(_) => None,
        }
    }

    fn lsm(&self) -> Option<&Lsm> {
        match &self.index {
            Index::Lsm(l) => Some(&**l),
            Index::BTree(_) => None,
        }
    }

    fn stats(&self) -> DbStats {
        self.stats
    }

    fn now(&self) -> u64 {
        self.now
    }

    fn amplification(&self, storage: &dyn Storage) -> DbAmplification {
        let logical = self.stats.logical_bytes;
        let wal = self.stats.wal_bytes;
        let wal_file = self.wal.size_bytes();
        match &self.index {
            Index::BTree(tree) => {
                let a = tree.amplification();
                let page = a.page_bytes_written;
                let page_file = self.page_file.file_bytes(storage).unwrap_or(0);
                DbAmplification {
                    write: ratio(wal + page, logical),
                    wal_write: ratio(wal, logical),
                    index_write: ratio(page, logical),
                    read_pages_per_lookup: a.read_pages_per_lookup(),
                    disk_reads_per_lookup: a.disk_reads_per_lookup(),
                    sources_per_lookup: if a.lookups > 0 { 1.0 } else { 0.0 },
                    bloom_skips_per_lookup: 0.0,
                    space: ratio(wal_file + page_file, a.live_bytes),
                }
            }
            Index::Lsm(lsm) => {
                let st = lsm.stats();
                let tables = st.table_bytes_written();
                let live = lsm.live(storage).map_or(0, |(_, bytes)| bytes);
                let files = lsm.version().total_bytes() + lsm.manifest().log().size_bytes();
                let blocks = ratio(st.lookup.blocks_read, st.lookups);
                DbAmplification {
                    write: ratio(wal + tables, logical),
                    wal_write: ratio(wal, logical),
                    index_write: ratio(tables, logical),
                    read_pages_per_lookup: blocks,
                    disk_reads_per_lookup: blocks,
                    sources_per_lookup: ratio(
                        st.lookup.memtables_probed + st.lookup.tables_probed,
                        st.lookups,
                    ),
                    bloom_skips_per_lookup: ratio(st.lookup.bloom_skips, st.lookups),
                    space: ratio(wal_file + files, live),
                }
            }
        }
    }

    fn validate(&self, storage: &dyn Storage) {
        self.wal.validate();
        self.index.validate(storage);
        if let Index::Lsm(l) = &self.index {
            // The WAL rule for flushes: no table holds a change the WAL could still lose.
            assert!(
                l.version()
                    .last_flushed_lsn()
                    .is_none_or(|f| f < self.wal.durable_next()),
                "a table holds changes up to {:?} but the WAL is durable only below {}",
                l.version().last_flushed_lsn(),
                self.wal.durable_next()
            );
        }
        for (key, holder) in &self.locks {
            let t = self.txns.get(holder).expect("a lock's holder is open");
            assert!(t.before.contains_key(key), "lock without a before value");
        }
        for (id, t) in &self.txns {
            for key in t.before.keys() {
                assert_eq!(self.locks.get(key), Some(id), "a written key is not locked");
            }
            if let (Some(first), Some(last)) = (t.first, t.last) {
                assert!(first <= last, "{id}: first after last");
                let committed = matches!(t.state, TxnState::Committing { lsn, .. } if lsn < self.wal.durable_next());
                assert!(
                    committed || first >= self.wal.first_lsn(),
                    "{id}: WAL trimmed past a transaction that may still roll back"
                );
            }
        }
        assert!(
            self.in_flight
                .iter()
                .zip(self.in_flight.iter().skip(1))
                .all(|(a, b)| a.0 < b.0),
            "syncs in flight out of order"
        );
        assert!(
            self.covered <= self.wal.next_lsn(),
            "covered past the end of the WAL"
        );
    }
}
