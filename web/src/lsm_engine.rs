//! [`LsmEngine`]: the LSM view's two databases — one with the B-tree index, one with the
//! LSM tree — on in-memory [`SimDisk`]s, fed the same operation stream; plus the fold of
//! the LSM database's events ([`LsmTrace`]) and the snapshot the view draws
//! ([`PairSnapshot`]).
//!
//! # Virtual time, and why replay is exact
//! The engine has no clock. [`LsmEngine::step`] moves virtual time forward by exactly
//! [`STEP_MS`] (1 ms): both disks advance one tick, both databases tick, the workload's
//! token bucket gets one millisecond's worth of tokens, the replay runs, the events are
//! folded, and on every multiple of [`AMP_EVERY_MS`] the amplification is sampled. The page's
//! wall clock only decides how many steps to take per frame ([`crate::lsm_view`]), never
//! what happens inside one. Everything else that changes the engine is an [`LsmInput`]
//! applied between two steps ([`LsmEngine::apply`]). So the engine after `n` steps is a pure
//! function of the seed and the inputs with the step count at which each was applied —
//! which is what [`crate::lsm_run::LsmRun`] records, snapshots and replays. A lookup is a
//! read: [`LsmEngine::lookup`] runs on a copy of both databases (a `get` changes buffer pool
//! frames and counters, which would change the run), so it never changes what happens.
//!
//! Required call order: [`LsmEngine::open`], then any interleaving of `step` and `apply`;
//! [`LsmEngine::view`] and `lookup` at any time (they change nothing).
//!
//! # One operation stream, two databases
//! The workload generator ([`Workload`]) and the "write one key" input run on the B-tree
//! database. Every transaction that commits there is replayed on the LSM database — the
//! same read, the same writes, in commit order — by reading the B-tree database's WAL
//! (change data capture in miniature: the log is the stream). A transaction is replayed
//! once its commit record is in the WAL; updates of transactions that abort are dropped.
//! Transactions touching a key of one still in flight on the LSM database wait (the
//! database would refuse them: locks are held until a commit is durable), later ones that
//! touch other keys go ahead, so each key sees its writes in the B-tree's order and both
//! databases end with the same contents. At most [`MAX_BACKLOG`] wait; beyond that the
//! workload starts nothing new until the LSM database catches up.
//!
//! # The crash
//! [`LsmInput::CrashLsm`] scans the LSM database's acknowledged keys, crashes its disk
//! ([`SimDisk::crash`]) and reopens it (`Db::open`: the manifest replayed, R6; the WAL
//! above the last flushed LSN redone into the memtable, R7/R8; losers undone in `step`).
//! Replayed transactions that were in flight and that recovery did not find committed
//! (case A3) go back to the front of the queue. Until undo has finished, nothing new is
//! replayed; then the keys are scanned again and compared ([`KeyCheck`]).

use logspine_core::vec_map::{VecMap, VecSet};
use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::rc::Rc;

use logspine_core::db::{
    Db, DbAmplification, DbConfig, DbError, DbEvent, IndexKind, RecoveryStep, TxnId, WalRecord,
};
use logspine_core::lsm::{
    CompactionConfig, CompactionStyle, LsmConfig, LsmEvent, ManifestConfig, TableConfig,
};
use logspine_core::{sort, CrashReport, LogConfig, Lsn, SimDisk, Storage};

use crate::db_engine::{playground_config, playground_sim_disk, EngineError};
use crate::lsm_state::{
    KeyCheck, LevelView, LookupView, LsmCounters, LsmShape, LsmTrace, MemtableView, MirrorView,
    PairSnapshot, TableView,
};
use crate::workload::{Workload, MAX_CLIENTS, MAX_RATE_PER_SEC};

/// Virtual milliseconds one [`LsmEngine::step`] moves (the disks' and databases' tick).
pub const STEP_MS: u64 = 1;
/// The amplification is sampled on every multiple of this many virtual ms (the LSM's live
/// bytes are a merge over all of its data, too costly for every step).
pub const AMP_EVERY_MS: u64 = 500;
/// Replayed transactions waiting at most; the workload pauses beyond.
pub const MAX_BACKLOG: usize = 2000;
/// Transactions replayed per step at most.
pub const MAX_REPLAYS_PER_TICK: usize = 512;
/// Longest key the forms take (bytes).
pub const MAX_KEY_BYTES: usize = 64;
/// Longest value the form takes (bytes).
pub const MAX_VALUE_BYTES: usize = 160;

/// The LSM database's layout: the database view's WAL and checkpointer, and a small LSM
/// tree (4 KiB memtables, L0 compacted at 3 tables, L1 8 KiB, fanout 4, 4 levels, 512-byte
/// blocks) so that flushes and compactions happen within seconds of a workload.
pub fn lsm_playground_config() -> DbConfig {
    DbConfig {
        index: IndexKind::Lsm,
        lsm: LsmConfig {
            manifest: ManifestConfig {
                log: LogConfig {
                    segment_bytes: 16 * 1024,
                    ..LogConfig::new("manifest")
                },
                levels: 4,
            },
            table: TableConfig {
                block_bytes: 512,
                bloom_bits_per_key: 10,
            },
            compaction: CompactionConfig {
                style: CompactionStyle::Leveled,
                l0_trigger: 3,
                base_level_bytes: 8 * 1024,
                fanout: 4,
                target_file_bytes: 4 * 1024,
                ..CompactionConfig::default()
            },
            memtable_bytes: 4 * 1024,
            max_immutable_memtables: 2,
        },
        ..playground_config()
    }
}

/// The LSM configuration in words, for the view.
pub fn config_text() -> String {
    let c = lsm_playground_config().lsm;
    format!(
        "memtable {} B (frozen at that size, at most {} waiting to flush); leveled compaction: \
         L0 → L1 at {} tables, L1 target {} KiB, each level {}× the one above, {} levels, \
         output tables split at {} KiB; {}-byte data blocks, bloom filters of {} bits per key",
        c.memtable_bytes,
        c.max_immutable_memtables,
        c.compaction.l0_trigger,
        c.compaction.base_level_bytes / 1024,
        c.compaction.fanout,
        c.manifest.levels,
        c.compaction.target_file_bytes / 1024,
        c.table.block_bytes,
        c.table.bloom_bits_per_key
    )
}

/// Something the user did to the run, applied between two steps (module docs). A lookup is
/// not one: it is a read and changes nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LsmInput {
    /// Start or retune the workload on the B-tree database.
    StartWorkload {
        /// Clients, `1..=MAX_CLIENTS`.
        clients: u32,
        /// Transactions a second of virtual time, `1..=MAX_RATE_PER_SEC`.
        rate_per_sec: u32,
    },
    /// Stop the workload (transactions in flight still finish, and are replayed).
    StopWorkload,
    /// Write one key in its own transaction on the B-tree database; it reaches the LSM
    /// database through the replay once committed.
    Write {
        /// The key (1..=[`MAX_KEY_BYTES`] bytes).
        key: String,
        /// The value (at most [`MAX_VALUE_BYTES`] bytes).
        value: String,
    },
    /// Crash the LSM database's disk and reopen it (module docs, "The crash").
    CrashLsm,
}

impl LsmInput {
    /// Checks the input before anything is recorded or changed: a clear error for a bad
    /// key, value, client count or rate.
    pub fn validate(&self) -> Result<(), EngineError> {
        match self {
            LsmInput::StartWorkload {
                clients,
                rate_per_sec,
            } => {
                if !(1..=MAX_CLIENTS).contains(clients) {
                    return Err(EngineError::Input(format!(
                        "The workload takes 1 to {MAX_CLIENTS} clients, not {clients}."
                    )));
                }
                if !(1..=MAX_RATE_PER_SEC).contains(rate_per_sec) {
                    return Err(EngineError::Input(format!(
                        "The workload takes 1 to {MAX_RATE_PER_SEC} transactions a second, not \
                         {rate_per_sec}."
                    )));
                }
                Ok(())
            }
            LsmInput::Write { key, value } => {
                check_key(key)?;
                if value.len() > MAX_VALUE_BYTES {
                    return Err(EngineError::Input(format!(
                        "The value is {} bytes; the playground takes at most {MAX_VALUE_BYTES}.",
                        value.len()
                    )));
                }
                Ok(())
            }
            LsmInput::StopWorkload | LsmInput::CrashLsm => Ok(()),
        }
    }

    /// In words, for the timeline's status line.
    pub fn text(&self) -> String {
        match self {
            LsmInput::StartWorkload {
                clients,
                rate_per_sec,
            } => format!("workload started: {clients} clients at {rate_per_sec}/s"),
            LsmInput::StopWorkload => "workload stopped".to_owned(),
            LsmInput::Write { key, .. } => format!("wrote {key:?}"),
            LsmInput::CrashLsm => "crashed the LSM database".to_owned(),
        }
    }
}

/// What one step did, for the timeline.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepReport {
    /// The LSM database emitted at least one event (a moment to step to).
    pub events: bool,
    /// Marker kinds for the transport bar: `flush` (a flush finished), `compaction` (a
    /// compaction or trivial move finished), `recovery` (recovery after a crash finished).
    pub markers: Vec<&'static str>,
}

type Write = (Vec<u8>, Option<Vec<u8>>);

/// A B-tree transaction to replay on the LSM database.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Replay {
    writes: Vec<Write>,
}

impl Replay {
    fn keys(&self) -> impl Iterator<Item = &Vec<u8>> {
        self.writes.iter().map(|(k, _)| k)
    }
}

/// A crash whose key check is not in yet.
#[derive(Clone, Debug)]
struct PendingCheck {
    before: BTreeMap<Vec<u8>, Vec<u8>>,
    /// The last write per key of the replays in flight at the crash.
    in_flight: VecMap<Vec<u8>, Option<Vec<u8>>>,
}

/// What a crash of the LSM database did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrashOutcome {
    /// The disk's crash report, in words.
    pub crash: String,
    /// `DbRecovery::describe`.
    pub report: String,
    /// Recovery's steps from `Db::open` (undo follows in steps).
    pub steps: Vec<RecoveryStep>,
}

/// The two databases and the glue. See the module docs. `Clone` copies everything, both
/// simulated disks included: that is a snapshot of the run.
#[derive(Clone, Debug)]
pub struct LsmEngine {
    btree: Db<SimDisk>,
    /// `None` only if reopening after a crash failed.
    lsm: Option<Db<SimDisk>>,
    workload: Workload,
    /// Virtual time, ms.
    now_ms: u64,
    /// The next B-tree WAL record to read.
    scanned: Lsn,
    /// B-tree transactions seen in the WAL and not finished.
    open: VecMap<TxnId, Vec<Write>>,
    queue: VecDeque<Replay>,
    /// LSM transactions begun and not acknowledged, by LSM transaction id.
    in_flight: VecMap<TxnId, Replay>,
    mirrored: u64,
    /// The last amplification sample: B-tree, LSM, when.
    amp: (DbAmplification, DbAmplification, u64),
    check: Option<PendingCheck>,
    key_check: Option<KeyCheck>,
    trace: LsmTrace,
    stopped: Option<String>,
}

impl LsmEngine {
    /// Opens both databases, each on a fresh simulated disk, at virtual time 0.
    pub fn open(seed: u64) -> Result<LsmEngine, DbError> {
        let (btree, _) = Db::open(playground_sim_disk(seed), playground_config())?;
        let (lsm, _) = Db::open(playground_sim_disk(seed ^ 1), lsm_playground_config())?;
        let scanned = btree.wal().next_lsn();
        let mut e = LsmEngine {
            btree,
            lsm: Some(lsm),
            workload: Workload::new(seed),
            now_ms: 0,
            scanned,
            open: VecMap::new(),
            queue: VecDeque::new(),
            in_flight: VecMap::new(),
            mirrored: 0,
            amp: Default::default(),
            check: None,
            key_check: None,
            trace: LsmTrace::default(),
            stopped: None,
        };
        e.drain();
        e.sample_amp();
        Ok(e)
    }

    /// The B-tree database.
    pub fn btree(&self) -> &Db<SimDisk> {
        &self.btree
    }

    /// The LSM database (`None` only after a failed reopen).
    pub fn lsm(&self) -> Option<&Db<SimDisk>> {
        self.lsm.as_ref()
    }

    /// Why the engine stopped, if it did.
    pub fn stopped(&self) -> Option<&str> {
        self.stopped.as_deref()
    }

    /// Virtual time: milliseconds (steps) since the run began.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// The fold of the LSM database's events so far.
    pub fn trace(&self) -> &LsmTrace {
        &self.trace
    }

    fn lsm_mut(&mut self) -> Result<&mut Db<SimDisk>, DbError> {
        match &mut self.lsm {
            Some(db) => Ok(db),
            None => Err(DbError::Poisoned(
                "the LSM database did not reopen".to_owned(),
            )),
        }
    }

    /// Moves virtual time forward by [`STEP_MS`]: both disks' clocks, both databases'
    /// ticks, the workload, the replay, the fold, the amplification sample when due. An
    /// error stops the engine (every later step returns it).
    pub fn step(&mut self) -> Result<StepReport, DbError> {
        if let Some(why) = &self.stopped {
            return Err(DbError::Poisoned(why.clone()));
        }
        self.now_ms += STEP_MS;
        let result = self.tick_inner();
        let mut report = self.drain();
        match result {
            Ok(recovered) => {
                if recovered {
                    report.markers.push("recovery");
                }
                if self.now_ms.is_multiple_of(AMP_EVERY_MS) {
                    self.sample_amp();
                }
                Ok(report)
            }
            Err(e) => {
                self.stopped = Some(e.to_string());
                self.workload.stop();
                Err(e)
            }
        }
    }

    /// One step's work; `true` when recovery's key check came in.
    fn tick_inner(&mut self) -> Result<bool, DbError> {
        let now = self.now_ms;
        self.btree.storage_mut().advance(STEP_MS);
        let lsm = self.lsm_mut()?;
        lsm.storage_mut().advance(STEP_MS);
        self.btree.tick(now)?;
        self.workload.handle_acks(&self.btree.take_acks());
        if !self.paused() {
            self.workload.step(&mut self.btree, now)?;
        }
        self.read_wal()?;
        let lsm = self.lsm_mut()?;
        lsm.tick(now)?;
        for ack in lsm.take_acks() {
            if self.in_flight.remove(&ack.txn).is_some() {
                self.mirrored += 1;
            }
        }
        let recovered = self.finish_check()?;
        if self.check.is_none() {
            self.replay()?;
        }
        Ok(recovered)
    }

    /// Whether new workload transactions wait: the backlog is full, or the LSM database
    /// is recovering.
    fn paused(&self) -> bool {
        self.queue.len() >= MAX_BACKLOG || self.check.is_some()
    }

    /// Reads the B-tree database's WAL from where the last call stopped: updates are
    /// held per transaction, a commit queues them for replay, an abort drops them.
    fn read_wal(&mut self) -> Result<(), DbError> {
        let wal = self.btree.wal();
        let next = wal.next_lsn();
        if self.scanned >= next {
            return Ok(());
        }
        for r in wal.scan(self.btree.storage(), self.scanned)? {
            let r = r?;
            self.scanned = r.lsn.next();
            let record = WalRecord::decode(&r.payload)
                .map_err(|error| DbError::Record { lsn: r.lsn, error })?;
            match record {
                WalRecord::Update {
                    txn, key, after, ..
                } => self.open.entry(txn).or_default().push((key, after)),
                WalRecord::Commit { txn } => {
                    if let Some(writes) = self.open.remove(&txn) {
                        self.queue.push_back(Replay { writes });
                    }
                }
                WalRecord::Abort { txn } => {
                    self.open.remove(&txn);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Begins the queued transactions whose keys no replay in flight holds, in order.
    fn replay(&mut self) -> Result<(), DbError> {
        let Some(lsm) = self.lsm.as_mut() else {
            return Ok(());
        };
        let mut busy: VecSet<Vec<u8>> = self
            .in_flight
            .values()
            .flat_map(|r| r.keys().cloned())
            .collect();
        let (mut i, mut started) = (0, 0);
        while i < self.queue.len() && started < MAX_REPLAYS_PER_TICK {
            let r = &self.queue[i];
            if r.keys().any(|k| busy.contains(k)) {
                // Later writes to these keys wait behind this one.
                busy.extend(r.keys().cloned());
                i += 1;
                continue;
            }
            match replay_one(lsm, r) {
                Ok(txn) => {
                    let r = self.queue.remove(i).expect("in range");
                    busy.extend(r.keys().cloned());
                    self.in_flight.insert(txn, r);
                    started += 1;
                }
                // A loser of recovery still holds the key: later.
                Err(DbError::Conflict { .. }) => {
                    busy.extend(r.keys().cloned());
                    i += 1;
                }
                // A write stall: the memtables wait for a flush.
                Err(DbError::WouldBlock(_)) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Folds the LSM database's new events into the trace at the current virtual time
    /// (the B-tree database's are not drawn).
    fn drain(&mut self) -> StepReport {
        self.btree.take_events();
        let Some(lsm) = &mut self.lsm else {
            return StepReport::default();
        };
        let events: Vec<DbEvent> = lsm
            .take_events()
            .into_iter()
            .filter(|e| matches!(e, DbEvent::Lsm(_) | DbEvent::Recovery(_)))
            .collect();
        let mut report = StepReport {
            events: !events.is_empty(),
            markers: Vec::new(),
        };
        for e in &events {
            match e {
                DbEvent::Lsm(LsmEvent::FlushDone { .. }) => report.markers.push("flush"),
                DbEvent::Lsm(LsmEvent::CompactionDone { .. }) => {
                    report.markers.push("compaction");
                }
                _ => {}
            }
        }
        self.trace.fold(self.now_ms, events);
        report
    }

    /// Recomputes both databases' amplification and charts it.
    fn sample_amp(&mut self) {
        if let Some(lsm) = &self.lsm {
            self.amp = (self.btree.amplification(), lsm.amplification(), self.now_ms);
            let (b, l, at) = &self.amp;
            self.trace.charts.sample(*at, b, l);
        }
    }

    /// Applies one input at the current virtual time (validated first; module docs).
    pub fn apply(&mut self, input: &LsmInput) -> Result<(), EngineError> {
        input.validate()?;
        if let Some(why) = &self.stopped {
            return Err(EngineError::Db(DbError::Poisoned(why.clone())));
        }
        match input {
            LsmInput::StartWorkload {
                clients,
                rate_per_sec,
            } => self.workload.start(*clients, *rate_per_sec),
            LsmInput::StopWorkload => self.workload.stop(),
            LsmInput::Write { key, value } => {
                let txn = self.btree.begin();
                let result = self
                    .btree
                    .put(txn, key.as_bytes(), value.as_bytes())
                    .and_then(|()| self.btree.commit(txn));
                if result.is_err() {
                    let _ = self.btree.abort(txn);
                }
                self.drain();
                result?;
            }
            LsmInput::CrashLsm => {
                let out = self.crash_lsm()?;
                self.trace
                    .crashed(self.now_ms, out.crash, out.report, out.steps);
                self.sample_amp();
            }
        }
        Ok(())
    }

    /// Looks `key` up in both databases, on copies of them (a lookup is a read and must
    /// not change the run: a `get` moves buffer pool frames and counters). For the LSM
    /// tree, first the path a lookup takes (`Lsm::explain_get`, which changes nothing),
    /// then the real `Db::get`, whose counters must agree with it.
    pub fn lookup(&self, key: &str) -> Result<LookupView, EngineError> {
        check_key(key)?;
        let k = key.as_bytes();
        let mut lsm = self
            .lsm
            .clone()
            .ok_or_else(|| EngineError::Input("The LSM database is not open.".to_owned()))?;
        let mut btree = self.btree.clone();
        let tree = lsm.lsm().expect("the LSM database keeps an LSM tree");
        let explanation = tree
            .explain_get(lsm.storage(), k)
            .map_err(|e| EngineError::Db(e.into()))?;
        let levels = tree
            .version()
            .levels()
            .iter()
            .map(|l| l.iter().map(|t| t.id.0).collect())
            .collect();
        let lookups = tree.stats().lookups;
        let lsm_value = lsm.get(None, k)?;
        let tree = lsm.lsm().expect("the LSM database keeps an LSM tree");
        let asked = tree.stats().lookups > lookups;
        let agrees = asked.then(|| tree.last_lookup() == explanation.stats());
        let btree_value = btree.get(None, k)?;
        let text = |v: Option<Vec<u8>>| v.map(|v| String::from_utf8_lossy(&v).into_owned());
        Ok(LookupView {
            key: key.to_owned(),
            btree_value: text(btree_value),
            lsm_value: text(lsm_value),
            explanation,
            locked: !asked,
            agrees,
            levels,
        })
    }

    /// Crashes the LSM database's disk and reopens it (module docs, "The crash").
    fn crash_lsm(&mut self) -> Result<CrashOutcome, EngineError> {
        let lsm = self.lsm_mut()?;
        let before = sort::map_from(lsm.scan(b"", None)?);
        let mut in_flight_writes = VecMap::new();
        for r in self.in_flight.values() {
            for (k, v) in &r.writes {
                in_flight_writes.insert(k.clone(), v.clone());
            }
        }
        // What the database that is about to go did last goes into the trace.
        self.drain();
        let db = self.lsm.take().expect("checked above");
        let mut disk = db.into_storage();
        let report = disk.crash();
        let (mut db, recovery) = match Db::open(disk, lsm_playground_config()) {
            Ok(opened) => opened,
            Err(e) => {
                let why = format!("Recovery of the LSM database failed: {e}");
                self.stopped = Some(why.clone());
                self.workload.stop();
                return Err(EngineError::Input(why));
            }
        };
        let steps: Vec<RecoveryStep> = db
            .take_events()
            .into_iter()
            .filter_map(|e| match e {
                DbEvent::Recovery(s) => Some(s),
                _ => None,
            })
            .collect();
        let committed: VecSet<TxnId> = steps
            .iter()
            .filter_map(|s| match s {
                RecoveryStep::Analyzed {
                    case: "A3",
                    txn: Some(t),
                    ..
                } => Some(*t),
                _ => None,
            })
            .collect();
        // Replays whose commit survived are done; the others go again, first, in order.
        let (done, lost): (Vec<_>, Vec<_>) = std::mem::take(&mut self.in_flight)
            .into_iter()
            .partition(|(t, _)| committed.contains(t));
        self.mirrored += done.len() as u64;
        let lost: Vec<Replay> = lost.into_iter().map(|(_, r)| r).collect();
        for r in lost.into_iter().rev() {
            self.queue.push_front(r);
        }
        self.lsm = Some(db);
        self.check = Some(PendingCheck {
            before,
            in_flight: in_flight_writes,
        });
        self.key_check = None;
        Ok(CrashOutcome {
            crash: describe_lsm_crash(&report),
            report: recovery.describe(),
            steps,
        })
    }

    /// Once undo has finished after a crash: scan and compare (module docs); `true` when
    /// the check came in.
    fn finish_check(&mut self) -> Result<bool, DbError> {
        let Some(lsm) = self.lsm.as_mut() else {
            return Ok(false);
        };
        if self.check.is_none() || lsm.is_recovering() {
            return Ok(false);
        }
        let after = sort::map_from(lsm.scan(b"", None)?);
        let check = self.check.take().expect("checked");
        let keys = VecSet::from_iter(check.before.keys().chain(after.keys()));
        let mut matches = true;
        let mut survived = 0;
        for k in keys {
            let (b, a) = (check.before.get(k), after.get(k));
            if a == b {
                continue;
            }
            // Only a commit in flight at the crash may have changed a key.
            match check.in_flight.get(k) {
                Some(w) if w.as_ref() == a => survived += 1,
                _ => matches = false,
            }
        }
        self.key_check = Some(KeyCheck {
            before: check.before.len() as u64,
            after: after.len() as u64,
            in_flight_survived: survived,
            matches,
        });
        Ok(true)
    }

    /// Whether nothing is in flight: the workload stopped and idle, every committed
    /// transaction replayed and acknowledged, no recovery running.
    pub fn is_settled(&self) -> bool {
        let w = self.workload.view();
        !w.running
            && w.waiting == 0
            && self.open.is_empty()
            && self.queue.is_empty()
            && self.in_flight.is_empty()
            && self.check.is_none()
            && self.scanned >= self.btree.wal().next_lsn()
    }

    /// What the view draws at the current virtual time (changes nothing).
    pub fn view(&self) -> PairSnapshot {
        let (btree_amp, lsm_amp, amp_at_ms) = self.amp;
        let mut counters = LsmCounters::default();
        let mut lsm_stats = Default::default();
        let mut recovering = false;
        let mut shape = LsmShape::default();
        if let Some(db) = &self.lsm {
            shape = shape_of(db);
            let st = db.lsm().expect("an LSM tree").stats();
            counters = LsmCounters {
                flushes: st.flushes,
                compactions: st.compactions,
                trivial_moves: st.trivial_moves,
                compaction_bytes_read: st.compaction_bytes_read,
                table_bytes_written: st.table_bytes_written(),
            };
            lsm_stats = db.stats();
            recovering = db.is_recovering();
        }
        PairSnapshot {
            shape: Rc::new(shape),
            btree_amp,
            lsm_amp,
            amp_at_ms,
            btree_stats: self.btree.stats(),
            lsm_stats,
            counters,
            workload: self.workload.view(),
            mirror: MirrorView {
                mirrored: self.mirrored,
                backlog: self.queue.len() as u64,
                in_flight: self.in_flight.len() as u64,
                paused: self.paused(),
            },
            recovering,
            key_check: self.key_check.clone(),
            settled: self.is_settled(),
            now_ms: self.now_ms,
        }
    }

    /// A hash (FNV-1a, 64 bits) of everything the engine holds — both databases with
    /// their disks' live and durable images, the workload and its random generator, the
    /// replay queue, the trace — for the determinism checks: two engines with the same
    /// fingerprint went through the same run.
    pub fn fingerprint(&self) -> u64 {
        let mut h = Fnv(0xcbf2_9ce4_8422_2325);
        // Writing into the hasher cannot fail.
        let _ = write!(h, "{self:?}");
        h.0
    }

    /// The bytes of both simulated disks' files, live and durable images: what a copy of
    /// the engine (a snapshot) costs, to within its in-memory structures (memtables, the
    /// B-tree's buffer pool of 24 KiB, the replay queue).
    pub fn disk_bytes(&self) -> u64 {
        let disk = |d: &SimDisk| -> u64 {
            d.list()
                .iter()
                .map(|f| {
                    d.len(f).unwrap_or(0) + d.durable_contents(f).map_or(0, |b| b.len() as u64)
                })
                .sum()
        };
        disk(self.btree.storage()) + self.lsm.as_ref().map_or(0, |l| disk(l.storage()))
    }
}

/// FNV-1a over formatted text.
struct Fnv(u64);

impl std::fmt::Write for Fnv {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        for b in s.bytes() {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        Ok(())
    }
}

/// One replay: begin, then per write the workload's read and the write, then commit.
fn replay_one(lsm: &mut Db<SimDisk>, r: &Replay) -> Result<TxnId, DbError> {
    let txn = lsm.begin();
    let result = (|| {
        for (k, v) in &r.writes {
            lsm.get(Some(txn), k)?;
            match v {
                Some(v) => lsm.put(txn, k, v)?,
                None => lsm.delete(txn, k)?,
            }
        }
        lsm.commit(txn)
    })();
    match result {
        Ok(()) => Ok(txn),
        Err(e) => {
            let _ = lsm.abort(txn);
            Err(e)
        }
    }
}

fn check_key(key: &str) -> Result<(), EngineError> {
    if key.is_empty() {
        return Err(EngineError::Input("Type a key first.".to_owned()));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(EngineError::Input(format!(
            "The key is {} bytes; the playground takes at most {MAX_KEY_BYTES}.",
            key.len()
        )));
    }
    Ok(())
}

fn memtable_view(m: &logspine_core::lsm::Memtable) -> MemtableView {
    MemtableView {
        entries: m.len() as u64,
        bytes: m.size_bytes(),
        min_lsn: m.min_lsn().map(|l| l.0),
        max_lsn: m.max_lsn().map(|l| l.0),
    }
}

/// The LSM tree's structure, read without touching any counter.
fn shape_of(db: &Db<SimDisk>) -> LsmShape {
    let tree = db.lsm().expect("an LSM tree");
    let config = tree.config();
    let text = |k: &[u8]| String::from_utf8_lossy(k).into_owned();
    LsmShape {
        active: memtable_view(tree.active_memtable()),
        memtable_limit: config.memtable_bytes,
        frozen: tree.immutable_memtables().map(memtable_view).collect(),
        max_frozen: config.max_immutable_memtables,
        levels: tree
            .version()
            .levels()
            .iter()
            .zip(0u32..)
            .map(|(tables, level)| LevelView {
                level,
                bytes: tables.iter().map(|t| t.size_bytes).sum(),
                target_bytes: (level > 0).then(|| config.compaction.level_target_bytes(level)),
                tables: tables
                    .iter()
                    .map(|t| TableView {
                        id: t.id.0,
                        size_bytes: t.size_bytes,
                        entries: t.entries,
                        min_key: text(&t.min_key),
                        max_key: text(&t.max_key),
                    })
                    .collect(),
            })
            .collect(),
        job_phase: tree.job_phase(),
        last_flushed_lsn: tree.version().last_flushed_lsn().map(|l| l.0),
        write_stalled: tree.write_stalled(),
    }
}

/// What a simulated crash of the LSM database's disk did, in words.
pub fn describe_lsm_crash(report: &CrashReport) -> String {
    let mut out =
        format!(
        "The crash dropped every volatile write. {} sync{} in flight: {} of the writes reached \
         the disk anyway, {} did not.",
        report.syncs_lost,
        if report.syncs_lost == 1 { " was" } else { "s were" },
        report.ops_survived,
        report.ops_lost
    );
    match &report.torn {
        Some(t) => out.push_str(&format!(
            " The last write to reach the disk was torn: {} of {} sectors of {} bytes at offset {} of {}.",
            t.sectors_kept, t.sectors_total, t.len, t.offset, t.file
        )),
        None => out.push_str(" No write was torn."),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use logspine_core::db::Entry;

    fn run(e: &mut LsmEngine, ms: u64) {
        for _ in 0..ms {
            e.step().unwrap();
        }
    }

    fn settle(e: &mut LsmEngine) {
        for _ in 0..400 {
            if e.is_settled() {
                break;
            }
            run(e, 25);
        }
        assert!(e.is_settled(), "did not settle");
    }

    fn scans(e: &LsmEngine) -> (Vec<Entry>, Vec<Entry>) {
        let b = e.btree.clone().scan(b"", None).unwrap();
        let l = e.lsm.clone().unwrap().scan(b"", None).unwrap();
        (b, l)
    }

    fn start(clients: u32, rate_per_sec: u32) -> LsmInput {
        LsmInput::StartWorkload {
            clients,
            rate_per_sec,
        }
    }

    #[test]
    fn both_databases_hold_the_same_keys_and_the_lsm_writes_less() {
        let mut e = LsmEngine::open(7).unwrap();
        e.apply(&LsmInput::Write {
            key: "apple".into(),
            value: "red".into(),
        })
        .unwrap();
        e.apply(&start(16, 1000)).unwrap();
        run(&mut e, 4000);
        e.apply(&LsmInput::StopWorkload).unwrap();
        settle(&mut e);
        let (b, l) = scans(&e);
        assert!(
            b.len() > 300,
            "the workload wrote most of its 400 keys: {}",
            b.len()
        );
        assert!(b.iter().any(|(k, v)| k == b"apple" && v == b"red"));
        assert_eq!(b, l, "a scan of one equals a scan of the other");
        let snap = e.view();
        assert_eq!(snap.btree_stats.commits, snap.lsm_stats.commits);
        assert_eq!(snap.mirror.mirrored, snap.lsm_stats.commits);
        let t = e.trace();
        assert!(t.flushes_done >= 3, "flushes: {}", t.flushes_done);
        assert!(
            t.compactions_done >= 1,
            "compactions: {}",
            t.compactions_done
        );
        assert!(
            snap.shape
                .levels
                .iter()
                .skip(1)
                .any(|l| !l.tables.is_empty()),
            "compactions moved data below L0: {:?}",
            snap.shape.levels
        );
        assert!(t.log.iter().any(|l| l.kind == "flush"));
        assert!(!t.announcement.is_empty());
        // Amplification, sampled every AMP_EVERY_MS of virtual time.
        run(&mut e, AMP_EVERY_MS);
        let snapshot = e.view();
        assert_eq!(snapshot.amp_at_ms % AMP_EVERY_MS, 0);
        assert!(e.trace().charts.lsm_write.values().len() >= 8);
        let (bt, ls) = (snapshot.btree_amp, snapshot.lsm_amp);
        assert!(ls.write > 1.0 && bt.write > 1.0, "{bt:?} {ls:?}");
        assert!(
            ls.write < bt.write,
            "the LSM tree writes less per logical byte: {} vs {}",
            ls.write,
            bt.write
        );
        assert!(
            ls.sources_per_lookup > bt.sources_per_lookup,
            "{bt:?} {ls:?}"
        );
        assert!(ls.space > 0.0 && bt.space > 0.0);
        e.btree().validate();
        e.lsm().unwrap().validate();
    }

    #[test]
    fn a_lookup_explains_the_path_agrees_with_the_get_and_changes_nothing() {
        let mut e = LsmEngine::open(7).unwrap();
        e.apply(&start(8, 1000)).unwrap();
        run(&mut e, 2500);
        e.apply(&LsmInput::StopWorkload).unwrap();
        settle(&mut e);
        let before = e.fingerprint();
        let mut probed = 0;
        for i in 0..40 {
            let key = format!("k{:03}", i * 10);
            let v = e.lookup(&key).unwrap();
            assert_eq!(v.btree_value, v.lsm_value, "{key}");
            assert_eq!(v.agrees, Some(true), "{key}: {v:?}");
            assert!(!v.locked);
            probed += v.explanation.stats().tables_probed;
        }
        assert!(probed > 0, "lookups reached the tables");
        let absent = e.lookup("nope").unwrap();
        assert_eq!(absent.lsm_value, None);
        assert!(absent.summary().contains("not found"));
        assert_eq!(e.fingerprint(), before, "a lookup is a read");
        assert!(e.lookup("").is_err());
        let long = LsmInput::Write {
            key: "k".repeat(MAX_KEY_BYTES + 1),
            value: "v".into(),
        };
        assert!(e.apply(&long).is_err());
        assert!(e.apply(&start(0, 10)).is_err());
        assert!(e.apply(&start(1, MAX_RATE_PER_SEC + 1)).is_err());
        assert_eq!(e.fingerprint(), before, "a refused input changes nothing");
    }

    #[test]
    fn a_crash_of_the_lsm_brings_the_acknowledged_keys_back_and_the_replay_catches_up() {
        for seed in [7, 8, 9] {
            let mut e = LsmEngine::open(seed).unwrap();
            e.apply(&start(16, 1000)).unwrap();
            run(&mut e, 1500 + seed * 37);
            // Mid-workload, with replays in flight.
            e.apply(&LsmInput::CrashLsm).unwrap();
            let r = e.trace().recovery.clone().unwrap();
            assert!(r.tally.contains_key("R6"), "seed {seed}: R6 {:?}", r.tally);
            assert!(
                r.tally.contains_key("R7") || r.tally.contains_key("R8"),
                "seed {seed}: R7/R8 {:?}",
                r.tally
            );
            assert_eq!(r.at_ms, e.now_ms());
            assert!(e.view().key_check.is_none());
            let mut recovered = false;
            for _ in 0..500 {
                recovered |= e.step().unwrap().markers.contains(&"recovery");
            }
            assert!(recovered, "seed {seed}: a recovery marker");
            let check = e.view().key_check.unwrap();
            assert!(check.matches, "seed {seed}: {check:?}");
            assert!(check.before > 100, "seed {seed}: {check:?}");
            // The workload went on; stop, settle, compare.
            run(&mut e, 500);
            e.apply(&LsmInput::StopWorkload).unwrap();
            settle(&mut e);
            let (b, l) = scans(&e);
            assert_eq!(b, l, "seed {seed}: equal again after the crash");
            e.lsm().unwrap().validate();
        }
    }

    #[test]
    fn a_crash_when_settled_brings_back_exactly_the_same_keys() {
        let mut e = LsmEngine::open(7).unwrap();
        e.apply(&start(8, 800)).unwrap();
        run(&mut e, 1000);
        e.apply(&LsmInput::StopWorkload).unwrap();
        settle(&mut e);
        let (_, before) = scans(&e);
        e.apply(&LsmInput::CrashLsm).unwrap();
        run(&mut e, 200);
        let check = e.key_check.clone().unwrap();
        assert_eq!(check.in_flight_survived, 0);
        assert!(check.matches && check.before == check.after, "{check:?}");
        settle(&mut e);
        let (b, after) = scans(&e);
        assert_eq!(before, after);
        assert_eq!(b, after);
    }

    #[test]
    fn steps_report_the_moments_and_markers_of_the_run() {
        let mut e = LsmEngine::open(3).unwrap();
        let mut idle = LsmEngine::open(3).unwrap();
        run(&mut idle, 300);
        assert_eq!(idle.trace().log.len(), 0, "nothing happens without input");
        e.apply(&start(16, 1000)).unwrap();
        let (mut events, mut flushes, mut compactions) = (0, 0, 0);
        for _ in 0..4000 {
            let r = e.step().unwrap();
            events += u64::from(r.events);
            flushes += r.markers.iter().filter(|k| **k == "flush").count() as u64;
            compactions += r.markers.iter().filter(|k| **k == "compaction").count() as u64;
        }
        assert_eq!(flushes, e.trace().flushes_done);
        assert_eq!(compactions, e.trace().compactions_done);
        assert!(events >= flushes + compactions && flushes > 0 && compactions > 0);
        assert_eq!(e.now_ms(), 4000 * STEP_MS);
    }
}
