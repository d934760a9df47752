//! [`LsmEngine`]: the LSM view's two databases — one with the B-tree index, one with the
//! LSM tree — on in-memory [`SimDisk`]s, fed the same operation stream and ticked by the
//! page's clock; plus the drain that turns the LSM database's events and both databases'
//! counters into [`LsmAction::Engine`](crate::lsm_state::LsmAction::Engine) payloads.
//!
//! # One operation stream, two databases
//! The workload generator ([`Workload`]) and the "write one key" form run on the B-tree
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
//! [`LsmEngine::crash_lsm`] scans the LSM database's acknowledged keys, crashes its disk
//! ([`SimDisk::crash`]) and reopens it (`Db::open`: the manifest replayed, R6; the WAL
//! above the last flushed LSN redone into the memtable, R7/R8; losers undone in `tick`).
//! Replayed transactions that were in flight and that recovery did not find committed
//! (case A3) go back to the front of the queue. Until undo has finished, nothing new is
//! replayed; then the keys are scanned again and compared ([`KeyCheck`]).
//!
//! The caller owns the clock: every call that moves time takes `now_ms`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;

use logspine_core::db::{
    Db, DbAmplification, DbConfig, DbError, DbEvent, IndexKind, RecoveryStep, TxnId, WalRecord,
};
use logspine_core::lsm::{
    CompactionConfig, CompactionStyle, LsmConfig, ManifestConfig, TableConfig,
};
use logspine_core::{CrashReport, LogConfig, Lsn, SimDisk};

use crate::db_engine::{playground_config, playground_sim_disk, EngineError};
use crate::lsm_state::{
    KeyCheck, LevelView, LookupView, LsmCounters, LsmShape, MemtableView, MirrorView, PairSnapshot,
    TableView,
};
use crate::workload::Workload;

/// Amplification is recomputed at most this often (the LSM's live bytes are a merge over
/// all of its data).
pub const AMP_EVERY_MS: u64 = 500;
/// The view is sent at most this often unless forced.
pub const VIEW_EVERY_MS: u64 = 80;
/// Replayed transactions waiting at most; the workload pauses beyond.
pub const MAX_BACKLOG: usize = 2000;
/// Transactions replayed per tick at most.
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
struct PendingCheck {
    before: BTreeMap<Vec<u8>, Vec<u8>>,
    /// The last write per key of the replays in flight at the crash.
    in_flight: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

/// What [`LsmEngine::crash_lsm`] reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrashOutcome {
    /// The disk's crash report, in words.
    pub crash: String,
    /// `DbRecovery::describe`.
    pub report: String,
    /// Recovery's steps from `Db::open` (undo follows in ticks).
    pub steps: Vec<RecoveryStep>,
}

/// The two databases and the glue. See the module docs.
pub struct LsmEngine {
    btree: Db<SimDisk>,
    /// `None` only if reopening after a crash failed.
    lsm: Option<Db<SimDisk>>,
    workload: Workload,
    /// The next B-tree WAL record to read.
    scanned: Lsn,
    /// B-tree transactions seen in the WAL and not finished.
    open: BTreeMap<TxnId, Vec<Write>>,
    queue: VecDeque<Replay>,
    /// LSM transactions begun and not acknowledged, by LSM transaction id.
    in_flight: BTreeMap<TxnId, Replay>,
    mirrored: u64,
    pending: Vec<DbEvent>,
    amp: Option<(DbAmplification, DbAmplification, u64)>,
    check: Option<PendingCheck>,
    key_check: Option<KeyCheck>,
    shape: Rc<LsmShape>,
    last_sent: Option<PairSnapshot>,
    last_sent_ms: u64,
    stopped: Option<String>,
}

fn lsm_error(e: DbError) -> EngineError {
    EngineError::Db(e)
}

impl LsmEngine {
    /// Opens both databases, each on a fresh simulated disk.
    pub fn open(seed: u64) -> Result<LsmEngine, DbError> {
        let (btree, _) = Db::open(playground_sim_disk(seed), playground_config())?;
        let (lsm, _) = Db::open(playground_sim_disk(seed ^ 1), lsm_playground_config())?;
        let scanned = btree.wal().next_lsn();
        let mut e = LsmEngine {
            btree,
            lsm: Some(lsm),
            workload: Workload::new(seed),
            scanned,
            open: BTreeMap::new(),
            queue: VecDeque::new(),
            in_flight: BTreeMap::new(),
            mirrored: 0,
            pending: Vec::new(),
            amp: None,
            check: None,
            key_check: None,
            shape: Rc::default(),
            last_sent: None,
            last_sent_ms: 0,
            stopped: None,
        };
        e.drain();
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

    fn lsm_mut(&mut self) -> Result<&mut Db<SimDisk>, DbError> {
        match &mut self.lsm {
            Some(db) => Ok(db),
            None => Err(DbError::Poisoned(
                "the LSM database did not reopen".to_owned(),
            )),
        }
    }

    /// Moves virtual time to `now_ms`: both disks' clocks, both databases' ticks, the
    /// workload, the replay. An error stops the engine.
    pub fn tick(&mut self, now_ms: u64) -> Result<(), DbError> {
        if let Some(why) = &self.stopped {
            return Err(DbError::Poisoned(why.clone()));
        }
        let result = self.tick_inner(now_ms);
        self.drain();
        if let Err(e) = &result {
            self.stopped = Some(e.to_string());
            self.workload.stop();
        }
        result
    }

    fn tick_inner(&mut self, now_ms: u64) -> Result<(), DbError> {
        advance(self.btree.storage_mut(), now_ms);
        advance(self.lsm_mut()?.storage_mut(), now_ms);
        self.btree.tick(now_ms)?;
        self.workload.handle_acks(&self.btree.take_acks());
        if !self.paused() {
            self.workload.step(&mut self.btree, now_ms)?;
        }
        self.read_wal()?;
        let lsm = self.lsm_mut()?;
        lsm.tick(now_ms)?;
        for ack in lsm.take_acks() {
            if self.in_flight.remove(&ack.txn).is_some() {
                self.mirrored += 1;
            }
        }
        self.finish_check()?;
        if self.check.is_none() {
            self.replay()?;
        }
        Ok(())
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
        let mut busy: BTreeSet<Vec<u8>> = self
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

    fn drain(&mut self) {
        self.btree.take_events();
        if let Some(lsm) = &mut self.lsm {
            self.pending.extend(
                lsm.take_events()
                    .into_iter()
                    .filter(|e| matches!(e, DbEvent::Lsm(_) | DbEvent::Recovery(_))),
            );
        }
    }

    /// Starts or retunes the workload.
    pub fn start_workload(&mut self, clients: u32, rate_per_sec: u32) {
        self.workload.start(clients, rate_per_sec);
    }

    /// Stops the workload (transactions in flight still finish, and are replayed).
    pub fn stop_workload(&mut self) {
        self.workload.stop();
    }

    /// Writes one key in its own transaction on the B-tree database; it reaches the LSM
    /// database through the replay once committed.
    pub fn write(&mut self, key: &str, value: &str) -> Result<TxnId, EngineError> {
        check_key(key)?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(EngineError::Input(format!(
                "The value is {} bytes; the playground takes at most {MAX_VALUE_BYTES}.",
                value.len()
            )));
        }
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
        Ok(txn)
    }

    /// Looks `key` up in both databases; for the LSM tree, first the path a lookup takes
    /// (`Lsm::explain_get`, which changes nothing), then the real `Db::get`, whose counters
    /// must agree with it.
    pub fn lookup(&mut self, key: &str) -> Result<LookupView, EngineError> {
        check_key(key)?;
        let k = key.as_bytes();
        let lsm = self
            .lsm
            .as_mut()
            .ok_or_else(|| EngineError::Input("The LSM database is not open.".to_owned()))?;
        let tree = lsm.lsm().expect("the LSM database keeps an LSM tree");
        let explanation = tree
            .explain_get(lsm.storage(), k)
            .map_err(|e| lsm_error(e.into()))?;
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
        let btree_value = self.btree.get(None, k)?;
        self.drain();
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
    pub fn crash_lsm(&mut self) -> Result<CrashOutcome, EngineError> {
        let lsm = self.lsm_mut()?;
        let before: BTreeMap<_, _> = lsm.scan(b"", None)?.into_iter().collect();
        let mut in_flight_writes = BTreeMap::new();
        for r in self.in_flight.values() {
            for (k, v) in &r.writes {
                in_flight_writes.insert(k.clone(), v.clone());
            }
        }
        // Events of the database that is about to go: the caller took what it wanted.
        self.drain();
        self.pending.clear();
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
        let committed: BTreeSet<TxnId> = steps
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
        self.amp = None;
        Ok(CrashOutcome {
            crash: describe_lsm_crash(&report),
            report: recovery.describe(),
            steps,
        })
    }

    /// Once undo has finished after a crash: scan and compare (module docs).
    fn finish_check(&mut self) -> Result<(), DbError> {
        let Some(lsm) = self.lsm.as_mut() else {
            return Ok(());
        };
        if self.check.is_none() || lsm.is_recovering() {
            return Ok(());
        }
        let after: BTreeMap<_, _> = lsm.scan(b"", None)?.into_iter().collect();
        let check = self.check.take().expect("checked");
        let keys: BTreeSet<&Vec<u8>> = check.before.keys().chain(after.keys()).collect();
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
        Ok(())
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

    /// What the view needs now: the events since the last call and a snapshot, unless
    /// nothing changed or (when not `force`d) the last went out under [`VIEW_EVERY_MS`]
    /// ago.
    pub fn take_view(&mut self, now_ms: u64, force: bool) -> Option<(Vec<DbEvent>, PairSnapshot)> {
        if !force && now_ms.saturating_sub(self.last_sent_ms) < VIEW_EVERY_MS {
            return None;
        }
        let snapshot = self.snapshot(now_ms);
        let same = self.last_sent.as_ref().is_some_and(|last| {
            PairSnapshot {
                now_ms: last.now_ms,
                ..snapshot.clone()
            } == *last
        });
        if self.pending.is_empty() && same && !force {
            return None;
        }
        self.last_sent = Some(snapshot.clone());
        self.last_sent_ms = now_ms;
        Some((std::mem::take(&mut self.pending), snapshot))
    }

    fn snapshot(&mut self, now_ms: u64) -> PairSnapshot {
        let due = self
            .amp
            .is_none_or(|(_, _, at)| now_ms.saturating_sub(at) >= AMP_EVERY_MS);
        if due {
            if let Some(lsm) = &self.lsm {
                self.amp = Some((self.btree.amplification(), lsm.amplification(), now_ms));
            }
        }
        let (btree_amp, lsm_amp, amp_at_ms) = self.amp.unwrap_or_default();
        let mut counters = LsmCounters::default();
        let mut lsm_stats = Default::default();
        let mut recovering = false;
        if let Some(db) = &self.lsm {
            let shape = shape_of(db);
            if *self.shape != shape {
                self.shape = Rc::new(shape);
            }
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
            shape: self.shape.clone(),
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
            now_ms,
        }
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

fn advance(disk: &mut SimDisk, now_ms: u64) {
    let at = disk.now();
    if now_ms > at {
        disk.advance(now_ms - at);
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
    use crate::lsm_state::{LsmAction, LsmViewState};
    use logspine_core::db::Entry;

    /// Runs the page's loop for `ms` milliseconds in `step` ms ticks into the state.
    fn run(e: &mut LsmEngine, s: &mut LsmViewState, from: u64, ms: u64, step: u64) -> u64 {
        let mut now = from;
        while now < from + ms {
            now += step;
            e.tick(now).unwrap();
            if let Some((events, snapshot)) = e.take_view(now, false) {
                s.apply(LsmAction::Engine { events, snapshot });
            }
        }
        now
    }

    fn settle(e: &mut LsmEngine, s: &mut LsmViewState, mut now: u64) -> u64 {
        for _ in 0..400 {
            if e.is_settled() {
                break;
            }
            now = run(e, s, now, 25, 5);
        }
        assert!(e.is_settled(), "did not settle");
        let (events, snapshot) = e.take_view(now, true).unwrap();
        s.apply(LsmAction::Engine { events, snapshot });
        now
    }

    fn scans(e: &mut LsmEngine) -> (Vec<Entry>, Vec<Entry>) {
        let b = e.btree.scan(b"", None).unwrap();
        let l = e.lsm.as_mut().unwrap().scan(b"", None).unwrap();
        (b, l)
    }

    fn opened() -> (LsmEngine, LsmViewState) {
        let mut s = LsmViewState::default();
        let mut e = LsmEngine::open(7).unwrap();
        let (_, snapshot) = e.take_view(0, true).unwrap();
        s.apply(LsmAction::Opened {
            recovery: None,
            animate: false,
            snapshot,
        });
        (e, s)
    }

    #[test]
    fn both_databases_hold_the_same_keys_and_the_lsm_writes_less() {
        let (mut e, mut s) = opened();
        e.write("apple", "red").unwrap();
        e.start_workload(16, 1000);
        let now = run(&mut e, &mut s, 0, 4000, 5);
        e.stop_workload();
        let now = settle(&mut e, &mut s, now);
        let (b, l) = scans(&mut e);
        assert!(
            b.len() > 300,
            "the workload wrote most of its 400 keys: {}",
            b.len()
        );
        assert!(b.iter().any(|(k, v)| k == b"apple" && v == b"red"));
        assert_eq!(b, l, "a scan of one equals a scan of the other");
        let snap = s.snapshot.clone().unwrap();
        assert_eq!(snap.btree_stats.commits, snap.lsm_stats.commits);
        assert_eq!(snap.mirror.mirrored, snap.lsm_stats.commits);
        assert!(s.flushes_done >= 3, "flushes: {}", s.flushes_done);
        assert!(
            s.compactions_done >= 1,
            "compactions: {}",
            s.compactions_done
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
        assert!(s.log.iter().any(|l| l.kind == "flush"));
        assert!(!s.announcement.is_empty());
        // Amplification, after the 500 ms refresh.
        let (_, snapshot) = e.take_view(now + AMP_EVERY_MS, true).unwrap();
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
    fn a_lookup_explains_the_path_and_agrees_with_the_get() {
        let (mut e, mut s) = opened();
        e.start_workload(8, 1000);
        let now = run(&mut e, &mut s, 0, 2500, 5);
        e.stop_workload();
        settle(&mut e, &mut s, now);
        let mut probed = 0;
        for i in 0..40 {
            let key = format!("k{:03}", i * 10);
            let v = e.lookup(&key).unwrap();
            assert_eq!(v.btree_value, v.lsm_value, "{key}");
            assert_eq!(v.agrees, Some(true), "{key}: {v:?}");
            assert!(!v.locked);
            probed += v.explanation.stats().tables_probed;
            s.apply(LsmAction::LookedUp(v));
        }
        assert!(probed > 0, "lookups reached the tables");
        let absent = e.lookup("nope").unwrap();
        assert_eq!(absent.lsm_value, None);
        assert!(absent.summary().contains("not found"));
        assert!(e.lookup("").is_err());
        assert!(e.write(&"k".repeat(MAX_KEY_BYTES + 1), "v").is_err());
    }

    #[test]
    fn a_crash_of_the_lsm_brings_the_acknowledged_keys_back_and_the_replay_catches_up() {
        for seed in [7, 8, 9] {
            let mut s = LsmViewState::default();
            let mut e = LsmEngine::open(seed).unwrap();
            let (_, snapshot) = e.take_view(0, true).unwrap();
            s.apply(LsmAction::Opened {
                recovery: None,
                animate: false,
                snapshot,
            });
            e.start_workload(16, 1000);
            let now = run(&mut e, &mut s, 0, 1500 + seed * 37, 5);
            // Mid-workload, with replays in flight.
            let out = e.crash_lsm().unwrap();
            assert!(
                out.steps
                    .iter()
                    .any(|st| matches!(st, RecoveryStep::LsmOpened { .. })),
                "seed {seed}: R6"
            );
            assert!(
                out.steps
                    .iter()
                    .any(|st| matches!(st, RecoveryStep::RedoLogical { .. })),
                "seed {seed}: R7/R8"
            );
            let (events, snapshot) = e.take_view(now, true).unwrap();
            assert!(events.is_empty());
            s.apply(LsmAction::Opened {
                recovery: Some((out.crash, out.report, out.steps)),
                animate: false,
                snapshot,
            });
            assert_eq!(s.recovery_state(), "running");
            let now = run(&mut e, &mut s, now, 500, 5);
            assert_eq!(s.recovery_state(), "done", "seed {seed}");
            let check = s.snapshot.as_ref().unwrap().key_check.clone().unwrap();
            assert!(check.matches, "seed {seed}: {check:?}");
            assert!(check.before > 100, "seed {seed}: {check:?}");
            // The workload went on; stop, settle, compare.
            let now = run(&mut e, &mut s, now, 500, 5);
            e.stop_workload();
            settle(&mut e, &mut s, now);
            let (b, l) = scans(&mut e);
            assert_eq!(b, l, "seed {seed}: equal again after the crash");
            e.lsm().unwrap().validate();
        }
    }

    #[test]
    fn a_crash_when_settled_brings_back_exactly_the_same_keys() {
        let (mut e, mut s) = opened();
        e.start_workload(8, 800);
        let now = run(&mut e, &mut s, 0, 1000, 5);
        e.stop_workload();
        let now = settle(&mut e, &mut s, now);
        let (_, before) = scans(&mut e);
        e.crash_lsm().unwrap();
        let now = run(&mut e, &mut s, now, 200, 5);
        let check = e.key_check.clone().unwrap();
        assert_eq!(check.in_flight_survived, 0);
        assert!(check.matches && check.before == check.after, "{check:?}");
        settle(&mut e, &mut s, now);
        let (b, after) = scans(&mut e);
        assert_eq!(before, after);
        assert_eq!(b, after);
    }
}
