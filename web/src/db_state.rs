//! The database view's state: a pure fold over what the [`Db`](logspine_core::db::Db)
//! reported.
//!
//! [`DbViewState`] never touches the browser or the engine. Its actions are things that
//! already happened — the database opened with this recovery report, these
//! [`DbEvent`]s were drained from the engine along with this [`Snapshot`] of its
//! counters, the form committed transaction 7 — and [`DbViewState::apply`] folds them in.
//! Every item the page draws comes from an event or a snapshot (DESIGN.md, principle 4);
//! the only things of the page's own are the drafts of the form and how far the recovery
//! animation has got. The effects that produce the actions live in [`crate::db_view`];
//! this module is unit-tested natively.
//!
//! # What each panel folds
//! * **WAL strip**: `Appended` records wait in [`DbViewState::pending`] until a
//!   `SyncIssued` covers them (every record below its `covers` LSN); they then form one
//!   [`SyncBatch`] (a group-commit batch, or a sync for the WAL rule, the WAL writer, the
//!   checkpointer or recovery), in flight until its `SyncDone`.
//! * **Checkpointer**: `CheckpointBegan`, `PageFlushed`, `CheckpointDone`.
//! * **Your transactions**: what the form did, then `Appended` (its last LSN), `Committed`
//!   and `RolledBack` for those transactions.
//! * **Recovery**: `DbEvent::Recovery` steps queue in [`RecoveryView::steps`] and are
//!   revealed a few at a time ([`DbAction::Reveal`], driven by a timer in the view; all at
//!   once under `prefers-reduced-motion`, and when there is nothing to replay: a new or
//!   empty log, whose recovery is its start step alone). Undo continues in later ticks, so undo steps of
//!   the losers keep arriving after the open; recovery is finished once the engine says it
//!   is no longer recovering and every step has been shown. Until then every other event
//!   and the snapshots wait in [`DbViewState::deferred`], so that the other panels do not
//!   run ahead of the animation: they show the recovered database once it has been shown
//!   being recovered.
//!
//! # Phases
//! ```text
//! Opening --Opened--> Ready (recovery animating) --all steps shown, engine done--> Ready (finished)
//!    \--OpenFailed--> Failed --Opening (retry, erase)--> Opening
//! Ready --Opening (crash)--> Opening
//! ```

use logspine_core::vec_map::VecMap;
use std::collections::VecDeque;
use std::rc::Rc;

use logspine_core::btree::inspect::TreeShape;
use logspine_core::btree::FrameInfo;
use logspine_core::db::{DbAmplification, DbEvent, DbStats, RecoveryStep, SyncReason};
use logspine_core::storage::StorageError;
use yew::Reducible;

use crate::chart::Series;
use crate::decimal::fixed;
use crate::workload::WorkloadView;

/// Sync batches kept on screen.
pub const MAX_BATCHES: usize = 8;
/// Records drawn per batch (the rest are counted).
pub const MAX_CHIPS: usize = 24;
/// Form transactions kept on screen.
pub const MAX_TXNS: usize = 8;
/// Recovery steps listed on screen (the newest revealed ones; all are counted).
pub const MAX_STEPS_LISTED: usize = 40;
/// The recovery animation reveals every step in at most this many timer steps.
pub const MAX_REVEALS: usize = 75;

/// How often [`EventRate::per_sec`] is recomputed, in the engine's milliseconds.
pub const EVENT_RATE_WINDOW_MS: u64 = 1000;

/// How many events the engine has emitted since the database opened, and how fast.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventRate {
    /// Events folded in (or held back for the recovery animation) since the open.
    pub total: u64,
    /// Events per second over the last completed window of at least
    /// [`EVENT_RATE_WINDOW_MS`] (0 until one has passed).
    pub per_sec: u64,
    /// Where the current window began: the engine's time and `total` then.
    window: Option<(u64, u64)>,
}

impl EventRate {
    /// Counts `n` more events, as of the engine's time `now_ms`.
    pub fn count(&mut self, n: u64, now_ms: u64) {
        self.total += n;
        match self.window {
            None => self.window = Some((now_ms, self.total)),
            Some((at, total)) if now_ms.saturating_sub(at) >= EVENT_RATE_WINDOW_MS => {
                self.per_sec = (self.total - total) * 1000 / (now_ms - at);
                self.window = Some((now_ms, self.total));
            }
            Some(_) => {}
        }
    }
}

/// Engine time between two samples of the database's charts, in ms: the charts'
/// [`crate::chart::MAX_SAMPLES`] then span 30 seconds.
pub const CHART_SAMPLE_MS: u64 = 250;

/// The counters a rate is computed from, as of the last sample.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct RateBase {
    now_ms: u64,
    commits: u64,
    commit_syncs: u64,
    commit_latency_ticks: u64,
}

/// The database view's small charts: the amplification meters and the group-commit
/// figures over time, sampled from the engine's snapshots every [`CHART_SAMPLE_MS`] of
/// its own clock (snapshots come at most every 80 ms and only when something changed,
/// so the engine's time, not their count, sets the pace). Every value comes from the
/// engine's counters ([`DbStats`], [`DbAmplification`]); the rates are the counters'
/// differences between two samples. Cleared when the database (re)opens, since its
/// counters restart at zero then.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DbCharts {
    /// Write amplification (WAL + pages) since the open.
    pub write: Series,
    /// Of which the WAL.
    pub wal_write: Series,
    /// Of which the pages.
    pub index_write: Series,
    /// Pages visited per lookup.
    pub read_pages: Series,
    /// Storage reads per lookup.
    pub disk_reads: Series,
    /// Space amplification.
    pub space: Series,
    /// Commits per commit sync over each sample interval (skipped when it had none).
    pub commits_per_sync: Series,
    /// Mean commit latency in ms over each sample interval (skipped when it had none).
    pub latency_ms: Series,
    /// Commits acknowledged per second of engine time over each sample interval.
    pub commits_per_sec: Series,
    last: Option<RateBase>,
}

impl DbCharts {
    /// Takes a sample from `s` if [`CHART_SAMPLE_MS`] have passed since the last one
    /// (the first snapshot only sets the starting point of the rates).
    pub fn sample(&mut self, s: &Snapshot) {
        let st = &s.stats;
        let now = RateBase {
            now_ms: s.now_ms,
            commits: st.commits,
            commit_syncs: st.commit_syncs,
            commit_latency_ticks: st.commit_latency_ticks,
        };
        let Some(last) = self.last else {
            self.last = Some(now);
            return;
        };
        let elapsed_ms = s.now_ms.saturating_sub(last.now_ms);
        if elapsed_ms < CHART_SAMPLE_MS {
            return;
        }
        let a = &s.amplification;
        self.write.push(a.write);
        self.wal_write.push(a.wal_write);
        self.index_write.push(a.index_write);
        self.read_pages.push(a.read_pages_per_lookup);
        self.disk_reads.push(a.disk_reads_per_lookup);
        self.space.push(a.space);
        // Counters only grow within one open; a smaller one is a bug elsewhere, and a
        // rate of nothing (0 / 0) is not a point (`Series::push` skips NaN).
        let commits = now.commits.saturating_sub(last.commits) as f64;
        let syncs = now.commit_syncs.saturating_sub(last.commit_syncs) as f64;
        let latency = now
            .commit_latency_ticks
            .saturating_sub(last.commit_latency_ticks) as f64;
        self.commits_per_sync.push(commits / syncs);
        // The database's tick is the page's millisecond.
        self.latency_ms.push(latency / commits);
        self.commits_per_sec
            .push(commits * 1000.0 / elapsed_ms as f64);
        self.last = Some(now);
    }
}

/// Where the view is in its life cycle. See the module docs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DbPhase {
    /// Opening IndexedDB and running recovery.
    #[default]
    Opening,
    /// Open (recovery may still be animating or undoing).
    Ready,
    /// Opening failed; the error says why.
    Failed,
}

impl DbPhase {
    /// The `data-db-phase` attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            DbPhase::Opening => "opening",
            DbPhase::Ready => "ready",
            DbPhase::Failed => "failed",
        }
    }
}

/// Why the database is being (re)opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbOpenReason {
    /// The page loaded (a reload after a crash lands here too), or "Try again".
    Load,
    /// The crash button.
    Crash,
    /// The stored database was deleted first.
    Erase,
}

/// Where the database keeps its bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DbBackend {
    /// IndexedDB: survives a reload; a transaction is atomic, so a crash never tears.
    #[default]
    IndexedDb,
    /// The simulated disk, in memory: a crash may tear the last write in flight at sector
    /// granularity (and a reload starts it empty).
    SimDisk,
}

impl DbBackend {
    /// The `data-backend` value.
    pub fn as_str(self) -> &'static str {
        match self {
            DbBackend::IndexedDb => "indexeddb",
            DbBackend::SimDisk => "simdisk",
        }
    }
}

/// Which part of the view an error came from (decides what clears it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbErrorSource {
    /// Opening or recovery.
    Open,
    /// A form operation.
    Write,
    /// The engine's tick (a storage failure, a poisoned database).
    Engine,
    /// The workload generator.
    Workload,
    /// A sync the storage failed (cleared by the next one that succeeds).
    Sync,
    /// The checkpoint button.
    Checkpoint,
}

/// The WAL's extent as the engine reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WalView {
    /// The oldest LSN still in the WAL (everything below was trimmed).
    pub first: u64,
    /// The LSN the next record gets.
    pub next: u64,
    /// Every record below this is durable.
    pub durable_next: u64,
    /// Bytes in the WAL's segments.
    pub size_bytes: u64,
    /// Segments.
    pub segments: u64,
}

/// The IndexedDB backend's own sync pipeline (one IndexedDB transaction per batch).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StorageView {
    /// Storage syncs the running IndexedDB transaction covers.
    pub in_flight: u64,
    /// Storage syncs waiting for the next IndexedDB transaction.
    pub waiting: u64,
    /// IndexedDB transactions committed since the storage opened.
    pub transactions: u64,
}

/// The acknowledged entries (a scan outside any transaction).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeysView {
    /// The first entries in key order (lossy UTF-8).
    pub entries: Vec<(String, String)>,
    /// Entries in all.
    pub total: u64,
}

/// The engine's state as of the last drain, for the meters and the page panel.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// The database's counters.
    pub stats: DbStats,
    /// Write, read and space amplification.
    pub amplification: DbAmplification,
    /// The WAL.
    pub wal: WalView,
    /// The buffer pool's resident frames.
    pub frames: Vec<FrameInfo>,
    /// Frames in the pool.
    pub pool_capacity: u64,
    /// The tree's pages, from `btree::inspect::shape`.
    pub shape: Rc<TreeShape>,
    /// The acknowledged entries.
    pub keys: Rc<KeysView>,
    /// `Db::is_recovering`: losers (or aborts) are still being rolled back.
    pub recovering: bool,
    /// `Db::checkpoint_running`.
    pub checkpoint_running: bool,
    /// The workload generator.
    pub workload: WorkloadView,
    /// The storage's sync pipeline, when it has one to show.
    pub storage: Option<StorageView>,
    /// The engine's virtual time (milliseconds since the page loaded).
    pub now_ms: u64,
}

/// One WAL record on the strip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalEntry {
    /// Its LSN.
    pub lsn: u64,
    /// Its kind: create, update, clr, commit, abort, checkpoint.
    pub kind: &'static str,
    /// Its transaction.
    pub txn: Option<u64>,
}

/// Where a sync is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchStatus {
    /// Issued, not completed.
    InFlight,
    /// Completed: its records are durable.
    Done,
    /// Failed: its records are not durable (the engine covers them again).
    Failed,
}

impl BatchStatus {
    /// The `data-status` value and the word on screen.
    pub fn as_str(self) -> &'static str {
        match self {
            BatchStatus::InFlight => "in flight",
            BatchStatus::Done => "done",
            BatchStatus::Failed => "failed",
        }
    }
}

/// The records one sync covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncBatch {
    /// The storage's sync id.
    pub sync: u64,
    /// Why it was issued.
    pub reason: SyncReason,
    /// Commits it acknowledges.
    pub commits: u64,
    /// The first LSN it newly covers.
    pub from: u64,
    /// Every record below this is covered.
    pub covers: u64,
    /// The first [`MAX_CHIPS`] records it newly covers.
    pub records: Vec<WalEntry>,
    /// Records it newly covers.
    pub record_count: u64,
    /// Where it is.
    pub status: BatchStatus,
}

/// Words for a sync reason.
pub fn reason_text(reason: SyncReason) -> &'static str {
    match reason {
        SyncReason::Commit => "group commit",
        SyncReason::WalRule => "WAL rule (a page must be evicted)",
        SyncReason::WalWriter => "background WAL writer",
        SyncReason::Checkpoint => "checkpoint",
        SyncReason::Recovery => "recovery",
    }
}

/// The checkpointer as its events describe it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckpointView {
    /// The running checkpoint: its redo LSN and the dirty pages it set out to write.
    pub running: Option<(u64, u64)>,
    /// Pages the running (or last) checkpoint wrote, in order.
    pub flushed: Vec<u64>,
    /// The running checkpoint's record, once appended.
    pub record: Option<u64>,
    /// The last completed checkpoint: record LSN, redo LSN, WAL segments trimmed.
    pub last_done: Option<(u64, u64, u64)>,
}

/// What the form did with a transaction, and what became of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnPhase {
    /// Open: written, not committed.
    Open,
    /// Commit record appended, waiting for its sync.
    Committing,
    /// Acknowledged: durable.
    Acked,
    /// Rolling back (abort asked for).
    Aborting,
    /// Rolled back completely.
    RolledBack,
    /// The database crashed before it finished (recovery decides its fate).
    Interrupted,
}

impl TxnPhase {
    /// The `data-state` value.
    pub fn as_str(self) -> &'static str {
        match self {
            TxnPhase::Open => "open",
            TxnPhase::Committing => "committing",
            TxnPhase::Acked => "acked",
            TxnPhase::Aborting => "aborting",
            TxnPhase::RolledBack => "rolled-back",
            TxnPhase::Interrupted => "interrupted",
        }
    }
}

/// A transaction made with the form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormTxn {
    /// Which open of the database it belongs to (ids restart after a crash).
    pub open: u64,
    /// Its id.
    pub txn: u64,
    /// What it did, for people ("put a = 1").
    pub ops: Vec<String>,
    /// Where it is.
    pub phase: TxnPhase,
    /// Its last WAL record.
    pub last_lsn: Option<u64>,
    /// Commit latency in milliseconds, once acknowledged.
    pub latency_ms: Option<u64>,
}

/// One recovery, from the engine's report and its step events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryView {
    /// What the crash did to the storage, when the storage reports it (the simulated
    /// disk's `CrashReport`).
    pub crash: Option<String>,
    /// `DbRecovery::describe()`.
    pub report: String,
    /// The transactions analysis found without a commit or abort record.
    pub losers: Vec<u64>,
    /// Every step event, in order.
    pub steps: Rc<Vec<RecoveryStep>>,
    /// Steps revealed so far.
    pub shown: usize,
    /// Whether to reveal steps over time (false under `prefers-reduced-motion`).
    pub animate: bool,
    /// The engine is no longer recovering (every loser rolled back).
    pub engine_done: bool,
    /// Losers rolled back: transaction and updates undone (from `RolledBack`).
    pub rolled_back: Vec<(u64, u64)>,
    /// Revealed steps per case label.
    pub tally: VecMap<&'static str, u64>,
    /// Pages redo repaired from a full page image (case R3), revealed so far.
    pub torn: Vec<u64>,
    /// Latched once every step is shown and the engine is done.
    pub finished: bool,
}

impl RecoveryView {
    /// Revealed steps of one phase: "start", "analysis", "redo" or "undo".
    pub fn phase_count(&self, phase: &str) -> u64 {
        self.steps[..self.shown]
            .iter()
            .filter(|s| step_phase(s) == phase)
            .count() as u64
    }

    /// Steps of one phase in all (revealed or not).
    pub fn phase_total(&self, phase: &str) -> u64 {
        self.steps.iter().filter(|s| step_phase(s) == phase).count() as u64
    }

    /// The newest revealed steps, oldest first, with their indexes.
    pub fn listed(&self) -> impl Iterator<Item = (usize, &RecoveryStep)> {
        let from = self.shown.saturating_sub(MAX_STEPS_LISTED);
        self.steps[from..self.shown]
            .iter()
            .enumerate()
            .map(move |(i, s)| (from + i, s))
    }
}

/// The phase a step belongs to.
pub fn step_phase(step: &RecoveryStep) -> &'static str {
    match step {
        RecoveryStep::Start { .. } => "start",
        RecoveryStep::Analyzed { .. } => "analysis",
        RecoveryStep::Redo { .. }
        | RecoveryStep::LsmOpened { .. }
        | RecoveryStep::RedoLogical { .. } => "redo",
        RecoveryStep::Undo { .. } => "undo",
    }
}

/// The case label of a step.
pub fn step_case(step: &RecoveryStep) -> &'static str {
    match step {
        RecoveryStep::Start { case, .. }
        | RecoveryStep::Analyzed { case, .. }
        | RecoveryStep::Redo { case, .. }
        | RecoveryStep::RedoLogical { case, .. }
        | RecoveryStep::Undo { case, .. } => case,
        RecoveryStep::LsmOpened { .. } => "R6",
    }
}

/// One step, for people: what the engine's case label means for this record (the case
/// table in `logspine_core::db`).
pub fn step_text(step: &RecoveryStep) -> String {
    match step {
        RecoveryStep::Start {
            checkpoint: Some(c),
            redo,
            ..
        } => format!("start from the checkpoint at {c}; redo from {redo}"),
        RecoveryStep::Start { redo, .. } => {
            format!("no checkpoint: analysis and redo from {redo}")
        }
        RecoveryStep::Analyzed { lsn, case, txn } => {
            let who = txn.map_or(String::new(), |t| format!(" ({t})"));
            let what = match *case {
                "A1/A5" => "checkpoint record: seeds the transaction table",
                "A2" => "update or CLR: the transaction is open",
                "A3" => "commit: a winner, nothing to undo",
                "A4" => "abort: already rolled back",
                "A5" => "nothing to do",
                _ => "read",
            };
            format!("{lsn}{who}: {what}")
        }
        RecoveryStep::Redo { lsn, page, case } => {
            let what = match *case {
                "R1" => "applied (page LSN was older)",
                "R2" => "skipped (already on the page)",
                "R3" => "torn page replaced by its full image",
                "R4" => "formatted from its full image",
                _ => "handled",
            };
            format!("{lsn} → {page}: {what}")
        }
        RecoveryStep::LsmOpened {
            last_flushed_lsn,
            tables,
            orphans_deleted,
        } => {
            let flushed = last_flushed_lsn.map_or("nothing flushed yet".to_owned(), |l| {
                format!("everything up to {l} is in tables")
            });
            let orphans = match orphans_deleted {
                0 => String::new(),
                n => format!(
                    "; deleted {n} orphan table{}",
                    if *n == 1 { "" } else { "s" }
                ),
            };
            format!("manifest replayed: {tables} tables, {flushed}{orphans}")
        }
        RecoveryStep::RedoLogical { lsn, case } => {
            let what = match *case {
                "R7" => "back into the memtable",
                "R8" => "skipped (already in a table)",
                _ => "handled",
            };
            format!("{lsn}: {what}")
        }
        RecoveryStep::Undo { lsn, txn, case } => {
            let what = match *case {
                "U1" => format!("undid the update at {lsn}, logged a CLR"),
                "U2" => format!("CLR at {lsn}: jumped to its undo-next"),
                "U3" => "chain exhausted: logged its abort, released its locks".to_owned(),
                _ => format!("{lsn}"),
            };
            format!("{txn}: {what}")
        }
    }
}

/// Something that happened, to fold into the state.
#[derive(Clone, Debug, PartialEq)]
pub enum DbAction {
    /// The key input changed.
    EditKey(String),
    /// The value input changed.
    EditValue(String),
    /// The workload's client count input changed.
    EditClients(u32),
    /// The workload's rate input changed.
    EditRate(u32),
    /// (Re)opening began: the old engine and everything volatile are gone.
    Opening(DbOpenReason),
    /// The database opened: recovery's report, and what the engine emitted so far.
    Opened {
        /// The storage it opened on.
        backend: DbBackend,
        /// What the crash before it did to the storage, if the storage says.
        crash: Option<String>,
        /// `DbRecovery::describe()`.
        report: String,
        /// `DbRecovery::losers`.
        losers: Vec<u64>,
        /// Reveal recovery steps over time (false under reduced motion).
        animate: bool,
        /// Events drained right after `Db::open` (the recovery steps among them).
        events: Vec<DbEvent>,
        /// The engine's state then.
        snapshot: Snapshot,
    },
    /// Opening or recovery failed.
    OpenFailed(String),
    /// Events drained from the engine, and its state after them.
    Engine {
        /// In the order the engine emitted them.
        events: Vec<DbEvent>,
        /// Its state.
        snapshot: Snapshot,
    },
    /// Reveal the next recovery steps (the animation's timer).
    Reveal,
    /// The form wrote in a transaction (beginning it if new); `commit`: and committed it.
    FormWrote {
        /// The transaction.
        txn: u64,
        /// What it did ("put a = 1").
        op: String,
        /// Whether the form also committed it.
        commit: bool,
    },
    /// The form committed its open transaction.
    FormCommitted(u64),
    /// The form aborted its open transaction.
    FormAborted(u64),
    /// A lookup's result.
    Looked {
        /// The key.
        key: String,
        /// Its acknowledged value.
        value: Option<String>,
    },
    /// An operation failed; the data stays as it was.
    Failed {
        /// Where.
        source: DbErrorSource,
        /// Why.
        message: String,
    },
    /// The user dismissed the error.
    DismissError,
}

/// The database view's state. See the module docs.
#[derive(Clone, Debug, PartialEq)]
pub struct DbViewState {
    /// Life-cycle phase.
    pub phase: DbPhase,
    /// The storage of the current (or last) open.
    pub backend: DbBackend,
    /// Opens so far (this one included).
    pub opens: u64,
    /// The error to show, and where it came from.
    pub error: Option<(DbErrorSource, String)>,
    /// The key input.
    pub key_draft: String,
    /// The value input.
    pub value_draft: String,
    /// The workload's client count input.
    pub clients_draft: u32,
    /// The workload's rate input (transactions per second).
    pub rate_draft: u32,
    /// The engine's state as of the last drain.
    pub snapshot: Option<Snapshot>,
    /// Records appended and not yet covered by a sync.
    pub pending: Vec<WalEntry>,
    /// How many there are (`pending` keeps the first [`MAX_CHIPS`]).
    pub pending_count: u64,
    /// The newest sync batches, oldest first.
    pub batches: VecDeque<SyncBatch>,
    /// The checkpointer.
    pub checkpoint: CheckpointView,
    /// The form's transactions, oldest first.
    pub txns: VecDeque<FormTxn>,
    /// The form's open transaction.
    pub open_txn: Option<u64>,
    /// The last recovery.
    pub recovery: Option<RecoveryView>,
    /// The last lookup.
    pub lookup: Option<(String, Option<String>)>,
    /// Events and the newest snapshot held back while the recovery animation runs.
    pub deferred: (Vec<DbEvent>, Option<Snapshot>),
    /// The engine's events since the open, and their rate.
    pub events: EventRate,
    /// The small charts (cleared on every open).
    pub charts: DbCharts,
}

impl Default for DbViewState {
    fn default() -> Self {
        DbViewState {
            phase: DbPhase::Opening,
            backend: DbBackend::IndexedDb,
            opens: 0,
            error: None,
            key_draft: String::new(),
            value_draft: String::new(),
            clients_draft: 16,
            rate_draft: 200,
            snapshot: None,
            pending: Vec::new(),
            pending_count: 0,
            batches: VecDeque::new(),
            checkpoint: CheckpointView::default(),
            txns: VecDeque::new(),
            open_txn: None,
            recovery: None,
            lookup: None,
            deferred: (Vec::new(), None),
            events: EventRate::default(),
            charts: DbCharts::default(),
        }
    }
}

impl Reducible for DbViewState {
    type Action = DbAction;

    fn reduce(self: Rc<Self>, action: DbAction) -> Rc<Self> {
        let mut next = (*self).clone();
        next.apply(action);
        Rc::new(next)
    }
}

impl DbViewState {
    /// Folds one action in.
    pub fn apply(&mut self, action: DbAction) {
        match action {
            DbAction::EditKey(k) => self.key_draft = k,
            DbAction::EditValue(v) => self.value_draft = v,
            DbAction::EditClients(n) => self.clients_draft = n,
            DbAction::EditRate(n) => self.rate_draft = n,
            DbAction::Opening(_) => {
                self.phase = DbPhase::Opening;
                self.opens += 1;
                self.error = None;
                self.snapshot = None;
                self.pending.clear();
                self.pending_count = 0;
                self.batches.clear();
                self.checkpoint = CheckpointView::default();
                self.open_txn = None;
                self.recovery = None;
                self.lookup = None;
                self.deferred = (Vec::new(), None);
                self.events = EventRate::default();
                self.charts = DbCharts::default();
                for t in &mut self.txns {
                    if !matches!(t.phase, TxnPhase::Acked | TxnPhase::RolledBack) {
                        t.phase = TxnPhase::Interrupted;
                    }
                }
            }
            DbAction::Opened {
                backend,
                crash,
                report,
                losers,
                animate,
                events,
                snapshot,
            } => {
                self.phase = DbPhase::Ready;
                self.backend = backend;
                self.recovery = Some(RecoveryView {
                    crash,
                    report,
                    losers,
                    animate,
                    ..RecoveryView::default()
                });
                self.fold(events, snapshot);
            }
            DbAction::OpenFailed(message) => {
                self.phase = DbPhase::Failed;
                self.error = Some((DbErrorSource::Open, message));
            }
            DbAction::Engine { events, snapshot } => {
                if self.phase == DbPhase::Ready {
                    self.fold(events, snapshot);
                }
            }
            DbAction::Reveal => {
                if let Some(r) = &mut self.recovery {
                    let batch = r.steps.len().div_ceil(MAX_REVEALS).max(1);
                    reveal(r, (r.shown + batch).min(r.steps.len()));
                }
                self.check_finished();
            }
            DbAction::FormWrote { txn, op, commit } => {
                let open = self.opens;
                let phase = if commit {
                    TxnPhase::Committing
                } else {
                    TxnPhase::Open
                };
                match self.form_txn(txn) {
                    Some(t) => {
                        t.ops.push(op);
                        t.phase = phase;
                    }
                    None => {
                        self.txns.push_back(FormTxn {
                            open,
                            txn,
                            ops: vec![op],
                            phase,
                            last_lsn: None,
                            latency_ms: None,
                        });
                        while self.txns.len() > MAX_TXNS {
                            self.txns.pop_front();
                        }
                    }
                }
                self.open_txn = (!commit).then_some(txn);
                self.clear_error(DbErrorSource::Write);
            }
            DbAction::FormCommitted(txn) | DbAction::FormAborted(txn) => {
                let phase = if matches!(action, DbAction::FormCommitted(_)) {
                    TxnPhase::Committing
                } else {
                    TxnPhase::Aborting
                };
                if let Some(t) = self.form_txn(txn) {
                    // The events may have settled it already (a rollback with nothing
                    // to wait for finishes inside `abort`).
                    if t.phase == TxnPhase::Open {
                        t.phase = phase;
                    }
                }
                if self.open_txn == Some(txn) {
                    self.open_txn = None;
                }
                self.clear_error(DbErrorSource::Write);
            }
            DbAction::Looked { key, value } => {
                self.lookup = Some((key, value));
                self.clear_error(DbErrorSource::Write);
            }
            DbAction::Failed { source, message } => self.error = Some((source, message)),
            DbAction::DismissError => {
                if self.phase != DbPhase::Failed {
                    self.error = None;
                }
            }
        }
    }

    fn form_txn(&mut self, txn: u64) -> Option<&mut FormTxn> {
        let open = self.opens;
        self.txns
            .iter_mut()
            .find(|t| t.open == open && t.txn == txn)
    }

    fn clear_error(&mut self, source: DbErrorSource) {
        if self.has_error(source) {
            self.error = None;
        }
    }

    fn has_error(&self, source: DbErrorSource) -> bool {
        self.error.as_ref().is_some_and(|(s, _)| *s == source)
    }

    /// Folds engine events, then takes the snapshot; while recovery is being shown, only
    /// its steps (the rest waits in `deferred`).
    fn fold(&mut self, events: Vec<DbEvent>, snapshot: Snapshot) {
        self.events.count(events.len() as u64, snapshot.now_ms);
        let animating = self.recovery.as_ref().is_some_and(|r| !r.finished);
        if animating {
            for event in events {
                if matches!(event, DbEvent::Recovery(_)) {
                    self.fold_event(event);
                } else {
                    self.deferred.0.push(event);
                }
            }
            if let Some(r) = &mut self.recovery {
                r.engine_done = !snapshot.recovering;
                // Nothing to replay (a new or empty log: only the start step) is nothing
                // to watch either; the page is ready at once.
                let nothing_to_replay = r.engine_done
                    && r.losers.is_empty()
                    && r.steps
                        .iter()
                        .all(|s| matches!(s, RecoveryStep::Start { .. }));
                if !r.animate || nothing_to_replay {
                    reveal(r, r.steps.len());
                }
            }
            self.deferred.1 = Some(snapshot);
            self.check_finished();
        } else {
            for event in events {
                self.fold_event(event);
            }
            self.charts.sample(&snapshot);
            self.snapshot = Some(snapshot);
        }
    }

    /// Latches the end of recovery, then folds what waited for it.
    fn check_finished(&mut self) {
        let Some(r) = &mut self.recovery else { return };
        if r.finished || !(r.engine_done && r.shown == r.steps.len()) {
            return;
        }
        r.finished = true;
        let (events, snapshot) = std::mem::take(&mut self.deferred);
        for event in events {
            self.fold_event(event);
        }
        if let Some(s) = snapshot {
            self.charts.sample(&s);
            self.snapshot = Some(s);
        }
    }

    fn fold_event(&mut self, event: DbEvent) {
        match event {
            DbEvent::Appended { lsn, kind, txn, .. } => {
                if self.pending.len() < MAX_CHIPS {
                    self.pending.push(WalEntry {
                        lsn: lsn.0,
                        kind,
                        txn: txn.map(|t| t.0),
                    });
                }
                self.pending_count += 1;
                if let Some(t) = txn.and_then(|t| self.form_txn(t.0)) {
                    t.last_lsn = Some(lsn.0);
                }
                if kind == "checkpoint" && self.checkpoint.running.is_some() {
                    self.checkpoint.record = Some(lsn.0);
                }
            }
            DbEvent::SyncIssued {
                sync,
                covers,
                commits,
                reason,
            } => {
                let records = std::mem::take(&mut self.pending);
                let from = records.first().map_or(covers.0, |r| r.lsn);
                self.batches.push_back(SyncBatch {
                    sync: sync.0,
                    reason,
                    commits,
                    from,
                    covers: covers.0,
                    records,
                    record_count: std::mem::take(&mut self.pending_count),
                    status: BatchStatus::InFlight,
                });
                while self.batches.len() > MAX_BATCHES {
                    self.batches.pop_front();
                }
            }
            DbEvent::SyncDone { sync, error } => {
                if let Some(b) = self.batches.iter_mut().find(|b| b.sync == sync.0) {
                    b.status = if error.is_none() {
                        BatchStatus::Done
                    } else {
                        BatchStatus::Failed
                    };
                }
                match error {
                    None => self.clear_error(DbErrorSource::Sync),
                    // The first failure's message stays while the syncs after it fail too (a
                    // full disk fails every one, many a second under the workload): an alert
                    // whose text changed with each would be read out again each time.
                    Some(_) if self.has_error(DbErrorSource::Sync) => {}
                    Some(e) => self.error = Some((DbErrorSource::Sync, sync_failed(sync.0, &e))),
                }
            }
            DbEvent::Committed(ack) => {
                if let Some(t) = self.form_txn(ack.txn.0) {
                    t.phase = TxnPhase::Acked;
                    t.latency_ms = Some(ack.latency_ticks);
                }
            }
            DbEvent::RolledBack { txn, undone } => {
                if let Some(t) = self.form_txn(txn.0) {
                    t.phase = TxnPhase::RolledBack;
                }
                if self.open_txn == Some(txn.0) {
                    self.open_txn = None;
                }
                if let Some(r) = &mut self.recovery {
                    if r.losers.contains(&txn.0) && !r.rolled_back.iter().any(|(t, _)| *t == txn.0)
                    {
                        r.rolled_back.push((txn.0, undone));
                    }
                }
            }
            DbEvent::CheckpointBegan { redo, pages } => {
                self.checkpoint.running = Some((redo.0, pages));
                self.checkpoint.flushed.clear();
                self.checkpoint.record = None;
            }
            DbEvent::PageFlushed { page } => self.checkpoint.flushed.push(page.0),
            DbEvent::CheckpointDone {
                lsn,
                redo,
                trimmed_segments,
            } => {
                self.checkpoint.running = None;
                self.checkpoint.record = None;
                self.checkpoint.last_done = Some((lsn.0, redo.0, trimmed_segments));
            }
            DbEvent::Recovery(step) => {
                let Some(r) = &mut self.recovery else { return };
                // Undo steps also come from ordinary aborts: the recovery shows those of
                // its losers only, and only until it has finished.
                let ours = match &step {
                    RecoveryStep::Undo { txn, .. } => r.losers.contains(&txn.0),
                    _ => true,
                };
                if ours && !r.finished {
                    Rc::make_mut(&mut r.steps).push(step);
                }
            }
            // The LSM index's background work (the database view shows the B-tree).
            DbEvent::Lsm(_) => {}
        }
    }

    /// Open, and recovery finished (every step shown, every loser rolled back).
    pub fn is_ready(&self) -> bool {
        self.phase == DbPhase::Ready && self.recovery.as_ref().is_some_and(|r| r.finished)
    }

    /// The `data-recovery` value: "running" or "done" (or "none" before an open).
    pub fn recovery_state(&self) -> &'static str {
        match &self.recovery {
            None => "none",
            Some(r) if r.finished => "done",
            Some(_) => "running",
        }
    }

    /// Whether the form's write buttons can act: ready and a key typed.
    pub fn can_write(&self) -> bool {
        self.is_ready() && !self.key_draft.is_empty()
    }

    /// Whether the open transaction can be committed or aborted.
    pub fn can_finish_open(&self) -> bool {
        self.is_ready() && self.open_txn.is_some()
    }

    /// Whether "Checkpoint now" can act.
    pub fn can_checkpoint(&self) -> bool {
        self.is_ready() && !self.snapshot.as_ref().is_some_and(|s| s.checkpoint_running)
    }

    /// Whether the crash button can act (not while opening).
    pub fn can_crash(&self) -> bool {
        self.phase != DbPhase::Opening
    }

    /// Whether the workload is running.
    pub fn workload_running(&self) -> bool {
        self.snapshot.as_ref().is_some_and(|s| s.workload.running)
    }

    /// Whether a record is durable (a completed sync covers it).
    pub fn is_durable(&self, lsn: u64) -> bool {
        self.snapshot
            .as_ref()
            .is_some_and(|s| lsn < s.wal.durable_next)
    }

    /// The form's open transaction.
    pub fn open_form_txn(&self) -> Option<&FormTxn> {
        let open = self.open_txn?;
        self.txns
            .iter()
            .find(|t| t.open == self.opens && t.txn == open)
    }

    /// "3 commits in 1 sync …": the group-commit line.
    pub fn group_commit_text(&self) -> String {
        let Some(s) = &self.snapshot else {
            return String::new();
        };
        let st = s.stats;
        let n = |count: u64, one: &str, many: &str| {
            format!("{count} {}", if count == 1 { one } else { many })
        };
        format!(
            "{} in {} ({} per sync); {} in all. Commit latency: mean {} ms, max {} ms.",
            n(st.commits, "commit", "commits"),
            n(st.commit_syncs, "commit sync", "commit syncs"),
            fixed(st.commits_per_sync(), 1),
            n(st.syncs, "sync", "syncs"),
            fixed(st.mean_commit_latency(), 1),
            st.max_commit_latency_ticks
        )
    }

    /// The checkpointer's state in words.
    pub fn checkpoint_text(&self) -> String {
        let c = &self.checkpoint;
        match (c.running, c.record) {
            (Some((redo, pages)), None) => format!(
                "Running: redo from lsn {redo}; wrote {} of the {pages} pages that were dirty when it began.",
                c.flushed.len()
            ),
            (Some((redo, _)), Some(rec)) => format!(
                "Running: redo from lsn {redo}; pages written ({}); checkpoint record at lsn {rec} logged, waiting for it and then the control file to be durable.",
                c.flushed.len()
            ),
            (None, _) => match c.last_done {
                Some((lsn, redo, trimmed)) => format!(
                    "Idle. Last checkpoint: record at lsn {lsn}, redo from lsn {redo}; wrote {} page{}; trimmed {trimmed} WAL segment{}.",
                    c.flushed.len(),
                    if c.flushed.len() == 1 { "" } else { "s" },
                    if trimmed == 1 { "" } else { "s" }
                ),
                None => "Idle. No checkpoint since the database opened.".to_owned(),
            },
        }
    }
}

/// Reveals steps up to `to`, counting what they show.
fn reveal(r: &mut RecoveryView, to: usize) {
    while r.shown < to {
        let step = &r.steps[r.shown];
        *r.tally.entry(step_case(step)).or_insert(0) += 1;
        if let RecoveryStep::Redo {
            page, case: "R3", ..
        } = step
        {
            if !r.torn.contains(&page.0) {
                r.torn.push(page.0);
            }
        }
        r.shown += 1;
    }
}

/// The alert for a failed sync: what the storage said, in words, and what it means.
pub fn sync_failed(sync: u64, error: &StorageError) -> String {
    let why = match error {
        StorageError::QuotaExceeded { .. } => {
            "this site's storage quota is full: IndexedDB refused the write. Free disk space \
             or storage for this site"
                .to_owned()
        }
        e => format!("the storage refused it ({e})"),
    };
    format!(
        "sync#{sync} failed: {why}. Nothing durable was lost: the records it covered stay \
         volatile and their commits unacknowledged. The engine tries again, waiting longer \
         each time (up to a second); this goes away when a sync succeeds."
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use logspine_core::btree::PageId;
    use logspine_core::db::{CommitAck, TxnId};
    use logspine_core::{Lsn, SyncId};

    fn appended(lsn: u64, kind: &'static str, txn: Option<u64>) -> DbEvent {
        DbEvent::Appended {
            lsn: Lsn(lsn),
            kind,
            txn: txn.map(TxnId),
            pages: vec![PageId(1)],
        }
    }

    fn snap(durable_next: u64, recovering: bool) -> Snapshot {
        Snapshot {
            wal: WalView {
                durable_next,
                next: durable_next,
                ..WalView::default()
            },
            recovering,
            ..Snapshot::default()
        }
    }

    fn opened(
        animate: bool,
        losers: Vec<u64>,
        events: Vec<DbEvent>,
        recovering: bool,
    ) -> DbViewState {
        let mut s = DbViewState::default();
        s.apply(DbAction::Opening(DbOpenReason::Load));
        s.apply(DbAction::Opened {
            backend: DbBackend::IndexedDb,
            crash: None,
            report: "Recovered.".into(),
            losers,
            animate,
            events,
            snapshot: snap(0, recovering),
        });
        s
    }

    fn step_events() -> Vec<DbEvent> {
        vec![
            DbEvent::Recovery(RecoveryStep::Start {
                case: "S2",
                checkpoint: None,
                redo: Lsn(0),
            }),
            DbEvent::Recovery(RecoveryStep::Analyzed {
                lsn: Lsn(0),
                case: "A5",
                txn: None,
            }),
            DbEvent::Recovery(RecoveryStep::Analyzed {
                lsn: Lsn(1),
                case: "A2",
                txn: Some(TxnId(4)),
            }),
            DbEvent::Recovery(RecoveryStep::Redo {
                lsn: Lsn(0),
                page: PageId(1),
                case: "R3",
            }),
            DbEvent::Recovery(RecoveryStep::Redo {
                lsn: Lsn(1),
                page: PageId(1),
                case: "R1",
            }),
        ]
    }

    fn counted(now_ms: u64, commits: u64, commit_syncs: u64, latency: u64, write: f64) -> Snapshot {
        Snapshot {
            stats: DbStats {
                commits,
                commit_syncs,
                syncs: commit_syncs,
                commit_latency_ticks: latency,
                ..DbStats::default()
            },
            amplification: DbAmplification {
                write,
                space: 1.5,
                ..DbAmplification::default()
            },
            now_ms,
            ..Snapshot::default()
        }
    }

    #[test]
    fn charts_sample_the_counters_every_quarter_second_and_restart_with_the_database() {
        // The view says the charts span 30 seconds.
        assert_eq!(crate::chart::MAX_SAMPLES as u64 * CHART_SAMPLE_MS, 30_000);
        let mut s = opened(false, vec![], vec![], false);
        assert!(s.is_ready());
        let engine = |s: &mut DbViewState, snapshot| {
            s.apply(DbAction::Engine {
                events: vec![],
                snapshot,
            });
        };
        // The open's snapshot (now 0) is the starting point; 100 ms later is too soon.
        engine(&mut s, counted(100, 4, 2, 40, 3.0));
        assert_eq!(s.charts.write.values(), Vec::<f64>::new());
        // 300 ms after the start: 30 commits in 10 syncs, 600 ms of latency in all.
        engine(&mut s, counted(300, 30, 10, 600, 4.0));
        assert_eq!(s.charts.write.values(), vec![4.0]);
        assert_eq!(s.charts.space.values(), vec![1.5]);
        assert_eq!(s.charts.commits_per_sync.values(), vec![3.0]);
        assert_eq!(s.charts.latency_ms.values(), vec![20.0]);
        assert_eq!(s.charts.commits_per_sec.values(), vec![100.0]);
        // Nothing committed over the next 500 ms: throughput 0, and no ratio of nothing.
        engine(&mut s, counted(800, 30, 10, 600, 4.0));
        assert_eq!(s.charts.commits_per_sec.values(), vec![100.0, 0.0]);
        assert_eq!(s.charts.commits_per_sync.values(), vec![3.0]);
        assert_eq!(s.charts.latency_ms.values(), vec![20.0]);
        assert_eq!(s.charts.write.values(), vec![4.0, 4.0]);
        // A crash: the counters restart at zero, and so do the charts.
        s.apply(DbAction::Opening(DbOpenReason::Crash));
        assert_eq!(s.charts, DbCharts::default());
        s.apply(DbAction::Opened {
            backend: DbBackend::IndexedDb,
            crash: None,
            report: "Recovered.".into(),
            losers: vec![],
            animate: false,
            events: vec![],
            snapshot: counted(900, 0, 0, 0, 0.0),
        });
        engine(&mut s, counted(1200, 5, 5, 50, 2.0));
        assert_eq!(
            s.charts.commits_per_sec.values(),
            vec![5.0 * 1000.0 / 300.0]
        );
        assert_eq!(s.charts.commits_per_sync.values(), vec![1.0]);
        assert_eq!(s.charts.write.values(), vec![2.0]);
    }

    #[test]
    fn charts_wait_for_the_recovery_animation() {
        let mut s = opened(true, vec![4], step_events(), true);
        assert!(!s.is_ready());
        s.apply(DbAction::Engine {
            events: vec![],
            snapshot: counted(1000, 3, 1, 30, 2.0),
        });
        // Held back with the snapshot: no sample yet.
        assert_eq!(s.charts, DbCharts::default());
        // Once every step is shown, the held-back snapshot is the charts' starting point.
        for _ in 0..MAX_REVEALS {
            s.apply(DbAction::Reveal);
        }
        assert!(s.is_ready());
        s.apply(DbAction::Engine {
            events: vec![],
            snapshot: counted(1300, 9, 3, 90, 2.5),
        });
        assert_eq!(s.charts.commits_per_sec.values(), vec![20.0]);
        assert_eq!(s.charts.write.values(), vec![2.5]);
    }

    #[test]
    fn a_group_commit_batch_forms_when_a_sync_covers_the_pending_records() {
        let mut s = opened(false, vec![], vec![], false);
        assert!(s.is_ready(), "nothing to recover: ready at once");
        s.apply(DbAction::FormWrote {
            txn: 1,
            op: "put a = 1".into(),
            commit: true,
        });
        s.apply(DbAction::Engine {
            events: vec![
                appended(1, "update", Some(1)),
                appended(2, "commit", Some(1)),
                appended(3, "update", Some(2)),
                appended(4, "commit", Some(2)),
                DbEvent::SyncIssued {
                    sync: SyncId(1),
                    covers: Lsn(5),
                    commits: 2,
                    reason: SyncReason::Commit,
                },
                appended(5, "update", Some(3)),
            ],
            snapshot: snap(1, false),
        });
        assert_eq!(s.batches.len(), 1);
        let b = &s.batches[0];
        assert_eq!((b.sync, b.from, b.covers, b.commits), (1, 1, 5, 2));
        assert_eq!(b.record_count, 4);
        assert_eq!(b.status, BatchStatus::InFlight);
        assert_eq!(
            s.pending_count, 1,
            "lsn 5 arrived after the sync was issued"
        );
        assert_eq!(s.txns[0].phase, TxnPhase::Committing);
        assert_eq!(s.txns[0].last_lsn, Some(2));
        assert!(!s.is_durable(2));

        s.apply(DbAction::Engine {
            events: vec![
                DbEvent::SyncDone {
                    sync: SyncId(1),
                    error: None,
                },
                DbEvent::Committed(CommitAck {
                    txn: TxnId(1),
                    lsn: Some(Lsn(2)),
                    latency_ticks: 7,
                }),
            ],
            snapshot: snap(5, false),
        });
        assert_eq!(s.batches[0].status, BatchStatus::Done);
        assert_eq!(s.txns[0].phase, TxnPhase::Acked);
        assert_eq!(s.txns[0].latency_ms, Some(7));
        assert!(s.is_durable(4) && !s.is_durable(5));
    }

    #[test]
    fn a_failed_sync_alerts_until_one_succeeds() {
        let mut s = opened(false, vec![], vec![], false);
        let issued = |id| DbEvent::SyncIssued {
            sync: SyncId(id),
            covers: Lsn(2),
            commits: 1,
            reason: SyncReason::Commit,
        };
        let full = || StorageError::QuotaExceeded {
            detail: "playground-db: write: The quota has been exceeded.".into(),
        };
        s.apply(DbAction::Engine {
            events: vec![
                appended(1, "commit", Some(1)),
                issued(1),
                DbEvent::SyncDone {
                    sync: SyncId(1),
                    error: Some(full()),
                },
            ],
            snapshot: snap(1, false),
        });
        assert_eq!(s.batches[0].status, BatchStatus::Failed);
        let (source, message) = s.error.clone().expect("an alert");
        assert_eq!(source, DbErrorSource::Sync);
        assert!(
            message.starts_with("sync#1 failed: this site's storage quota is full"),
            "{message}"
        );
        // The syncs after it fail too: the alert keeps its text (a screen reader would
        // read a changed alert out again, many times a second under the workload).
        s.apply(DbAction::Engine {
            events: vec![
                issued(2),
                DbEvent::SyncDone {
                    sync: SyncId(2),
                    error: Some(full()),
                },
            ],
            snapshot: snap(2, false),
        });
        assert_eq!(s.error.as_ref().map(|(_, m)| m), Some(&message));
        assert_eq!(s.batches[1].status, BatchStatus::Failed);
        s.apply(DbAction::Engine {
            events: vec![
                issued(3),
                DbEvent::SyncDone {
                    sync: SyncId(3),
                    error: None,
                },
            ],
            snapshot: snap(3, false),
        });
        assert!(s.error.is_none());
        assert_eq!(s.batches[2].status, BatchStatus::Done);
    }

    #[test]
    fn a_sync_failure_says_what_the_storage_said() {
        let io = StorageError::Io {
            detail: "playground-db: write: UnknownError: disk I/O".into(),
        };
        let m = sync_failed(7, &io);
        assert!(
            m.starts_with("sync#7 failed: the storage refused it ("),
            "{m}"
        );
        assert!(m.contains("UnknownError: disk I/O"), "{m}");
        assert!(m.contains("Nothing durable was lost"), "{m}");
    }

    #[test]
    fn an_empty_log_has_nothing_to_animate_and_is_ready_at_once() {
        let start = step_events()[..1].to_vec();
        let s = opened(true, vec![], start.clone(), false);
        assert!(s.is_ready(), "only the start step: nothing to replay");
        assert_eq!(s.recovery.as_ref().unwrap().shown, 1);
        // Still animated: records to replay, or an undo still running.
        assert!(!opened(true, vec![], step_events(), false).is_ready());
        assert!(!opened(true, vec![], start, true).is_ready());
    }

    #[test]
    fn the_event_rate_counts_every_event_over_whole_windows() {
        let mut r = EventRate::default();
        r.count(5, 100);
        assert_eq!((r.total, r.per_sec), (5, 0), "no window has passed");
        r.count(300, 700);
        assert_eq!(r.per_sec, 0);
        r.count(1200, 1100);
        assert_eq!(r.total, 1505);
        assert_eq!(
            r.per_sec, 1500,
            "1500 events in the 1000 ms after the first"
        );
        r.count(0, 3100);
        assert_eq!(r.per_sec, 0, "nothing in the next 2 s");

        // The state counts what it folds, held back or not, and restarts at each open.
        let mut s = DbViewState::default();
        s.apply(DbAction::Engine {
            events: vec![appended(0, "create", None)],
            snapshot: snap(0, false),
        });
        assert_eq!(s.events.total, 0, "not open yet: nothing folded");
        let mut s = opened(false, vec![], step_events(), false);
        let n = s.events.total;
        assert_eq!(n, step_events().len() as u64);
        s.apply(DbAction::Engine {
            events: vec![
                appended(1, "update", Some(1)),
                appended(2, "commit", Some(1)),
            ],
            snapshot: snap(0, false),
        });
        assert_eq!(s.events.total, n + 2);
        s.apply(DbAction::Opening(DbOpenReason::Crash));
        assert_eq!(s.events, EventRate::default());
    }

    #[test]
    fn batches_and_chips_are_bounded() {
        let mut s = opened(false, vec![], vec![], false);
        let mut events = Vec::new();
        for i in 0..100u64 {
            events.push(appended(i, "update", Some(i)));
        }
        events.push(DbEvent::SyncIssued {
            sync: SyncId(1),
            covers: Lsn(100),
            commits: 0,
            reason: SyncReason::WalWriter,
        });
        for i in 2..20u64 {
            events.push(DbEvent::SyncIssued {
                sync: SyncId(i),
                covers: Lsn(100),
                commits: 0,
                reason: SyncReason::Checkpoint,
            });
        }
        s.apply(DbAction::Engine {
            events,
            snapshot: snap(0, false),
        });
        assert_eq!(s.batches.len(), MAX_BATCHES);
        assert_eq!(s.batches.back().unwrap().sync, 19);
        assert_eq!(s.batches.back().unwrap().record_count, 0);
        assert_eq!(s.batches.back().unwrap().from, 100);
        // The first batch (100 records, 24 drawn) scrolled away; check a fresh one.
        let mut s = opened(false, vec![], vec![], false);
        let events: Vec<DbEvent> = (0..100u64)
            .map(|i| appended(i, "update", None))
            .chain([DbEvent::SyncIssued {
                sync: SyncId(1),
                covers: Lsn(100),
                commits: 0,
                reason: SyncReason::WalWriter,
            }])
            .collect();
        s.apply(DbAction::Engine {
            events,
            snapshot: snap(0, false),
        });
        assert_eq!(s.batches[0].records.len(), MAX_CHIPS);
        assert_eq!(s.batches[0].record_count, 100);
    }

    #[test]
    fn recovery_steps_are_revealed_in_batches_and_undo_arrives_later() {
        let mut s = opened(true, vec![4], step_events(), true);
        let r = s.recovery.as_ref().unwrap();
        assert_eq!((r.shown, r.steps.len()), (0, 5));
        assert!(!s.is_ready());
        assert_eq!(s.recovery_state(), "running");
        s.apply(DbAction::Reveal);
        let r = s.recovery.as_ref().unwrap();
        assert_eq!(r.shown, 1, "5 steps: one per timer step");
        assert_eq!(r.phase_count("start"), 1);
        for _ in 0..4 {
            s.apply(DbAction::Reveal);
        }
        let r = s.recovery.as_ref().unwrap();
        assert_eq!(r.shown, 5);
        assert_eq!(r.torn, vec![1], "R3 marks page 1 torn and repaired");
        assert_eq!(r.tally.get("A2"), Some(&1));
        assert!(!r.finished, "the loser is still being rolled back");

        // Undo of the loser arrives from a later tick; an ordinary abort's steps do not count.
        s.apply(DbAction::Engine {
            events: vec![
                DbEvent::Recovery(RecoveryStep::Undo {
                    lsn: Lsn(9),
                    txn: TxnId(77),
                    case: "U3",
                }),
                DbEvent::Recovery(RecoveryStep::Undo {
                    lsn: Lsn(1),
                    txn: TxnId(4),
                    case: "U1",
                }),
                DbEvent::Recovery(RecoveryStep::Undo {
                    lsn: Lsn(3),
                    txn: TxnId(4),
                    case: "U3",
                }),
                DbEvent::RolledBack {
                    txn: TxnId(4),
                    undone: 1,
                },
            ],
            snapshot: snap(4, false),
        });
        s.apply(DbAction::Engine {
            events: vec![
                appended(5, "clr", Some(4)),
                DbEvent::SyncIssued {
                    sync: SyncId(2),
                    covers: Lsn(6),
                    commits: 0,
                    reason: SyncReason::WalWriter,
                },
            ],
            snapshot: snap(6, false),
        });
        let r = s.recovery.as_ref().unwrap();
        assert_eq!(r.steps.len(), 7);
        assert!(!r.finished, "two undo steps not shown yet");
        // The other panels wait for the animation: nothing runs ahead of it.
        assert!(r.rolled_back.is_empty());
        assert!(s.snapshot.is_none() && s.batches.is_empty());
        s.apply(DbAction::Reveal);
        s.apply(DbAction::Reveal);
        assert!(s.is_ready());
        assert_eq!(s.recovery_state(), "done");
        assert_eq!(s.batches.len(), 1, "the held-back events are folded in");
        assert_eq!(s.snapshot.as_ref().unwrap().wal.durable_next, 6);
        let r = s.recovery.as_ref().unwrap();
        assert_eq!(r.rolled_back, vec![(4, 1)]);
        assert_eq!(r.phase_count("undo"), 2);
        assert_eq!(r.listed().count(), 7);
        assert_eq!(
            step_text(&r.steps[6]),
            "txn 4: chain exhausted: logged its abort, released its locks"
        );

        // After it finished, undo steps (of ordinary aborts) no longer join it.
        s.apply(DbAction::Engine {
            events: vec![DbEvent::Recovery(RecoveryStep::Undo {
                lsn: Lsn(20),
                txn: TxnId(4),
                case: "U3",
            })],
            snapshot: snap(21, false),
        });
        assert_eq!(s.recovery.as_ref().unwrap().steps.len(), 7);
    }

    #[test]
    fn reduced_motion_shows_every_step_at_once() {
        let s = opened(false, vec![], step_events(), false);
        let r = s.recovery.as_ref().unwrap();
        assert_eq!(r.shown, 5);
        assert!(s.is_ready());
        assert_eq!(r.phase_total("redo"), 2);
        assert_eq!(
            step_text(&r.steps[3]),
            "lsn 0 → page 1: torn page replaced by its full image"
        );
    }

    #[test]
    fn a_big_recovery_reveals_in_at_most_max_reveals_steps() {
        let events: Vec<DbEvent> = (0..10_000u64)
            .map(|i| {
                DbEvent::Recovery(RecoveryStep::Analyzed {
                    lsn: Lsn(i),
                    case: "A3",
                    txn: Some(TxnId(i)),
                })
            })
            .collect();
        let mut s = opened(true, vec![], events, false);
        let mut reveals = 0;
        while !s.is_ready() {
            s.apply(DbAction::Reveal);
            reveals += 1;
            assert!(reveals <= MAX_REVEALS, "too many timer steps");
        }
        let r = s.recovery.as_ref().unwrap();
        assert_eq!(r.listed().count(), MAX_STEPS_LISTED);
        assert_eq!(r.listed().last().unwrap().0, 9_999);
    }

    #[test]
    fn the_open_transaction_is_tracked_until_it_finishes_or_crashes() {
        let mut s = opened(false, vec![], vec![], false);
        s.apply(DbAction::FormWrote {
            txn: 3,
            op: "put d = 4".into(),
            commit: false,
        });
        s.apply(DbAction::FormWrote {
            txn: 3,
            op: "delete e".into(),
            commit: false,
        });
        assert_eq!(s.open_txn, Some(3));
        assert!(s.can_finish_open());
        s.apply(DbAction::Engine {
            events: vec![appended(8, "update", Some(3))],
            snapshot: snap(9, false),
        });
        let t = s.open_form_txn().unwrap();
        assert_eq!(t.ops, vec!["put d = 4", "delete e"]);
        assert_eq!(t.last_lsn, Some(8));
        assert!(s.is_durable(8), "the WAL writer's sync covered it");

        s.apply(DbAction::Opening(DbOpenReason::Crash));
        assert_eq!(s.txns[0].phase, TxnPhase::Interrupted);
        assert_eq!(s.open_txn, None);
        assert!(!s.is_ready() && !s.can_crash());
        assert!(s.snapshot.is_none() && s.batches.is_empty());

        // Ids restart after a crash: a new txn 3 is a new row.
        s.apply(DbAction::Opened {
            backend: DbBackend::SimDisk,
            crash: Some("tore a write".into()),
            report: "r".into(),
            losers: vec![3],
            animate: false,
            events: vec![DbEvent::RolledBack {
                txn: TxnId(3),
                undone: 2,
            }],
            snapshot: snap(12, false),
        });
        assert_eq!(
            s.txns[0].phase,
            TxnPhase::Interrupted,
            "an old row is not this open's txn 3"
        );
        assert_eq!(s.recovery.as_ref().unwrap().rolled_back, vec![(3, 2)]);
        s.apply(DbAction::FormWrote {
            txn: 3,
            op: "put x = 1".into(),
            commit: false,
        });
        assert_eq!(s.txns.len(), 2);
        s.apply(DbAction::FormAborted(3));
        assert_eq!(s.txns[1].phase, TxnPhase::Aborting);
        s.apply(DbAction::Engine {
            events: vec![DbEvent::RolledBack {
                txn: TxnId(3),
                undone: 1,
            }],
            snapshot: snap(14, false),
        });
        assert_eq!(s.txns[1].phase, TxnPhase::RolledBack);
        assert_eq!(s.txns[0].phase, TxnPhase::Interrupted);
    }

    #[test]
    fn the_checkpointer_is_followed_through_its_steps() {
        let mut s = opened(false, vec![], vec![], false);
        assert!(s.checkpoint_text().starts_with("Idle. No checkpoint"));
        s.apply(DbAction::Engine {
            events: vec![
                DbEvent::CheckpointBegan {
                    redo: Lsn(10),
                    pages: 3,
                },
                DbEvent::PageFlushed { page: PageId(2) },
            ],
            snapshot: Snapshot {
                checkpoint_running: true,
                ..snap(10, false)
            },
        });
        assert!(!s.can_checkpoint());
        assert_eq!(
            s.checkpoint_text(),
            "Running: redo from lsn 10; wrote 1 of the 3 pages that were dirty when it began."
        );
        s.apply(DbAction::Engine {
            events: vec![
                DbEvent::PageFlushed { page: PageId(5) },
                appended(11, "checkpoint", None),
            ],
            snapshot: Snapshot {
                checkpoint_running: true,
                ..snap(10, false)
            },
        });
        assert!(s.checkpoint_text().contains("checkpoint record at lsn 11"));
        s.apply(DbAction::Engine {
            events: vec![DbEvent::CheckpointDone {
                lsn: Lsn(11),
                redo: Lsn(10),
                trimmed_segments: 2,
            }],
            snapshot: snap(12, false),
        });
        assert_eq!(
            s.checkpoint_text(),
            "Idle. Last checkpoint: record at lsn 11, redo from lsn 10; wrote 2 pages; trimmed 2 WAL segments."
        );
        assert_eq!(s.checkpoint.flushed, vec![2, 5]);
        assert!(s.can_checkpoint());
    }

    #[test]
    fn errors_alert_and_clear_by_source() {
        let mut s = DbViewState::default();
        s.apply(DbAction::Opening(DbOpenReason::Load));
        s.apply(DbAction::OpenFailed(
            "storage unavailable: another tab".into(),
        ));
        assert_eq!(s.phase, DbPhase::Failed);
        assert!(s.can_crash(), "a failed open can be retried");
        s.apply(DbAction::DismissError);
        assert!(s.error.is_some(), "an open error stays");

        let mut s = opened(false, vec![], vec![], false);
        s.apply(DbAction::EditKey("a".into()));
        assert!(s.can_write());
        s.apply(DbAction::Failed {
            source: DbErrorSource::Write,
            message: "key \"a\" is locked by txn 3".into(),
        });
        s.apply(DbAction::Failed {
            source: DbErrorSource::Write,
            message: "key \"a\" is locked by txn 3".into(),
        });
        assert!(s.error.is_some());
        s.apply(DbAction::FormWrote {
            txn: 5,
            op: "put a = 1".into(),
            commit: true,
        });
        assert!(s.error.is_none(), "the next successful write clears it");
        s.apply(DbAction::Failed {
            source: DbErrorSource::Engine,
            message: "poisoned".into(),
        });
        s.apply(DbAction::Looked {
            key: "a".into(),
            value: None,
        });
        assert!(s.error.is_some(), "a lookup does not clear an engine error");
        s.apply(DbAction::DismissError);
        assert!(s.error.is_none());
    }
}
