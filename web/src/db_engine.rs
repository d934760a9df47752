//! [`DbEngine`]: the database the page drives, with what the page needs around it — the
//! workload generator, the form's open transaction, and the drain that turns the engine's
//! events and counters into [`DbAction::Engine`](crate::db_state::DbAction::Engine)
//! payloads.
//!
//! Generic over [`Storage`], so the same glue runs on IndexedDB in the browser
//! ([`crate::db_view`]) and on a [`SimDisk`] in this module's
//! native tests. The caller owns the clock: every call that moves time takes `now_ms`
//! (milliseconds since the page loaded), which becomes the engine's virtual time.

use std::rc::Rc;

use logspine_core::btree::inspect;
use logspine_core::btree::{BTreeConfig, PageFileConfig};
use logspine_core::db::{
    CheckpointConfig, Db, DbConfig, DbError, DbEvent, DbRecovery, GroupCommitConfig, TxnId,
};
use logspine_core::{CrashReport, LogConfig, SimDisk, SimDiskConfig, Storage, SyncLatency};

use crate::db_state::{KeysView, Snapshot, StorageView, WalView};
use crate::playground_storage::PlaygroundStorage;
use crate::workload::Workload;

/// Pages the page panel inspects at most.
pub const MAX_PAGES_SHOWN: usize = 160;
/// Entries the keys panel lists at most.
pub const MAX_KEYS_SHOWN: usize = 200;
/// Longest key the form accepts (bytes).
pub const MAX_KEY_BYTES: usize = 64;
/// Longest value the form accepts (bytes).
pub const MAX_VALUE_BYTES: usize = 160;
/// The page sends the view at most this often while nothing is asked of it.
pub const VIEW_EVERY_MS: u64 = 80;
/// The stored-keys panel rescans at most this often (a scan is a real read through the
/// buffer pool, so it counts in the pool's counters), unless asked.
pub const KEYS_EVERY_MS: u64 = 400;

/// The playground's database layout: small pages and a small pool and WAL segments, so
/// that splits, evictions, checkpoints and WAL trimming happen within a minute of use.
pub fn playground_config() -> DbConfig {
    DbConfig {
        wal: LogConfig {
            segment_bytes: 16 * 1024,
            ..LogConfig::new("wal")
        },
        tree: BTreeConfig {
            page_file: PageFileConfig {
                file: "btree.pages".to_owned(),
                page_size: 1024,
            },
            pool_frames: 24,
            full_page_writes: true,
        },
        control_file: "db.control".to_owned(),
        group_commit: GroupCommitConfig {
            enabled: true,
            max_batch: 64,
            max_wait_ticks: 0,
        },
        checkpoint: CheckpointConfig {
            every_wal_bytes: 48 * 1024,
            pages_per_tick: 2,
        },
        wal_writer_delay_ticks: 20,
        ..DbConfig::default()
    }
}

/// The database and the page's glue around it. See the module docs.
pub struct DbEngine<S: Storage> {
    db: Db<S>,
    workload: Workload,
    open_txn: Option<TxnId>,
    /// Events drained from the engine and not yet sent to the view.
    pending: Vec<DbEvent>,
    shape: Rc<inspect::TreeShape>,
    keys: Rc<KeysView>,
    shape_stale: bool,
    keys_stale: bool,
    last_sent: Option<Snapshot>,
    last_sent_ms: u64,
    last_scan_ms: Option<u64>,
    /// Set when a tick failed: the database must be reopened.
    stopped: Option<String>,
}

impl<S: Storage> DbEngine<S> {
    /// Opens (recovers) the database on `storage` with [`playground_config`].
    pub fn open(storage: S, seed: u64) -> Result<(DbEngine<S>, DbRecovery), DbError> {
        let (db, recovery) = Db::open(storage, playground_config())?;
        let mut engine = DbEngine {
            db,
            workload: Workload::new(seed),
            open_txn: None,
            pending: Vec::new(),
            shape: Rc::default(),
            keys: Rc::default(),
            shape_stale: true,
            keys_stale: true,
            last_sent: None,
            last_sent_ms: 0,
            last_scan_ms: None,
            stopped: None,
        };
        engine.drain();
        Ok((engine, recovery))
    }

    /// The database.
    pub fn db(&self) -> &Db<S> {
        &self.db
    }

    /// The database, mutably (a simulation moves its disk's clock).
    pub fn db_mut(&mut self) -> &mut Db<S> {
        &mut self.db
    }

    /// Gives the storage back (to crash it).
    pub fn into_storage(self) -> S {
        self.db.into_storage()
    }

    /// Why the engine stopped, if a tick failed.
    pub fn stopped(&self) -> Option<&str> {
        self.stopped.as_deref()
    }

    /// Moves virtual time to `now_ms`: the database's tick (completions, acks, group
    /// commit, rollbacks, checkpointer), then the workload. An error stops the engine
    /// until it is reopened (the database poisons itself on failures that leave memory
    /// ahead of the log).
    pub fn tick(&mut self, now_ms: u64) -> Result<(), DbError> {
        if let Some(why) = &self.stopped {
            return Err(DbError::Poisoned(why.clone()));
        }
        let result = self.db.tick(now_ms).and_then(|()| {
            self.workload.handle_acks(&self.db.take_acks());
            self.workload.step(&mut self.db, now_ms)
        });
        self.drain();
        if let Err(e) = &result {
            if !matches!(e, DbError::Conflict { .. } | DbError::WouldBlock(_)) {
                self.stopped = Some(e.to_string());
                self.workload.stop();
            }
        }
        result
    }

    fn drain(&mut self) {
        self.workload.handle_acks(&self.db.take_acks());
        let events = self.db.take_events();
        for e in &events {
            match e {
                DbEvent::Committed(_) | DbEvent::RolledBack { .. } => {
                    self.keys_stale = true;
                    self.shape_stale = true;
                }
                DbEvent::Appended { .. } | DbEvent::PageFlushed { .. } => self.shape_stale = true,
                DbEvent::Recovery(_) => {
                    self.shape_stale = true;
                    self.keys_stale = true;
                }
                _ => {}
            }
        }
        self.pending.extend(events);
    }

    /// Begins a transaction, writes `key` (`Some(value)`: put, `None`: delete) and
    /// commits; the acknowledgement arrives as a `Committed` event once its sync is done.
    pub fn commit_write(&mut self, key: &str, value: Option<&str>) -> Result<TxnId, EngineError> {
        check_sizes(key, value)?;
        let txn = self.db.begin();
        let result = self
            .write(txn, key, value)
            .and_then(|()| self.db.commit(txn));
        if result.is_err() {
            let _ = self.db.abort(txn);
        }
        self.drain();
        Ok(result.map(|()| txn)?)
    }

    /// Writes `key` in the form's open transaction, beginning one if there is none.
    pub fn open_write(&mut self, key: &str, value: Option<&str>) -> Result<TxnId, EngineError> {
        check_sizes(key, value)?;
        let txn = match self.open_txn {
            Some(t) => t,
            None => self.db.begin(),
        };
        let result = self.write(txn, key, value);
        // A new transaction whose first write failed wrote nothing: drop it.
        match (&result, self.open_txn) {
            (Err(_), None) => {
                let _ = self.db.abort(txn);
            }
            _ => self.open_txn = Some(txn),
        }
        self.drain();
        Ok(result.map(|()| txn)?)
    }

    fn write(&mut self, txn: TxnId, key: &str, value: Option<&str>) -> Result<(), DbError> {
        match value {
            Some(v) => self.db.put(txn, key.as_bytes(), v.as_bytes()),
            None => self.db.delete(txn, key.as_bytes()),
        }
    }

    /// Commits the form's open transaction.
    pub fn commit_open(&mut self) -> Result<TxnId, EngineError> {
        let txn = self.take_open()?;
        let result = self.db.commit(txn);
        self.drain();
        Ok(result.map(|()| txn)?)
    }

    /// Aborts (rolls back) the form's open transaction.
    pub fn abort_open(&mut self) -> Result<TxnId, EngineError> {
        let txn = self.take_open()?;
        let result = self.db.abort(txn);
        self.drain();
        Ok(result.map(|()| txn)?)
    }

    fn take_open(&mut self) -> Result<TxnId, EngineError> {
        self.open_txn
            .take()
            .ok_or_else(|| EngineError::Input("There is no open transaction.".to_owned()))
    }

    /// The form's open transaction.
    pub fn open_txn(&self) -> Option<TxnId> {
        self.open_txn
    }

    /// The acknowledged value of `key` (a lookup outside any transaction: it counts in
    /// the read-amplification meter).
    pub fn get(&mut self, key: &str) -> Result<Option<String>, EngineError> {
        let v = self.db.get(None, key.as_bytes());
        self.drain();
        self.shape_stale = true;
        Ok(v?.map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Starts a checkpoint now.
    pub fn checkpoint(&mut self) -> Result<(), DbError> {
        let r = self.db.request_checkpoint();
        self.drain();
        r
    }

    /// Starts or retunes the workload.
    pub fn start_workload(&mut self, clients: u32, rate_per_sec: u32) {
        self.workload.start(clients, rate_per_sec);
    }

    /// Stops the workload (commits in flight still complete).
    pub fn stop_workload(&mut self) {
        self.workload.stop();
    }

    /// What the view needs now: the events since the last call and a snapshot, unless
    /// nothing changed, or (when not `force`d) the last one went out under
    /// [`VIEW_EVERY_MS`] ago. `storage_view` reads the backend's own sync pipeline.
    pub fn take_view(
        &mut self,
        now_ms: u64,
        force: bool,
        storage_view: impl FnOnce(&S) -> Option<StorageView>,
    ) -> Option<(Vec<DbEvent>, Snapshot)> {
        if !force && now_ms.saturating_sub(self.last_sent_ms) < VIEW_EVERY_MS {
            return None;
        }
        let snapshot = self.snapshot(now_ms, force, storage_view);
        let same = self.last_sent.as_ref().is_some_and(|last| {
            Snapshot {
                now_ms: last.now_ms,
                ..snapshot.clone()
            } == *last
        });
        if self.pending.is_empty() && same {
            return None;
        }
        self.last_sent = Some(snapshot.clone());
        self.last_sent_ms = now_ms;
        Some((std::mem::take(&mut self.pending), snapshot))
    }

    fn snapshot(
        &mut self,
        now_ms: u64,
        force: bool,
        storage_view: impl FnOnce(&S) -> Option<StorageView>,
    ) -> Snapshot {
        if self.shape_stale {
            // A failed walk (a page the engine will report torn itself) keeps the last shape.
            if let Some(Ok(shape)) = self
                .db
                .tree()
                .map(|t| inspect::shape(t, self.db.storage() as &dyn Storage, MAX_PAGES_SHOWN))
            {
                self.shape = Rc::new(shape);
                self.shape_stale = false;
            }
        }
        let scan_due = force
            || self
                .last_scan_ms
                .is_none_or(|at| now_ms.saturating_sub(at) >= KEYS_EVERY_MS);
        if self.keys_stale && scan_due {
            self.last_scan_ms = Some(now_ms);
            // A scan may have to wait for a WAL sync (the pool cannot evict): next time.
            if let Ok(entries) = self.db.scan(b"", None) {
                let total = entries.len() as u64;
                let entries = entries
                    .into_iter()
                    .take(MAX_KEYS_SHOWN)
                    .map(|(k, v)| {
                        (
                            String::from_utf8_lossy(&k).into_owned(),
                            String::from_utf8_lossy(&v).into_owned(),
                        )
                    })
                    .collect();
                self.keys = Rc::new(KeysView { entries, total });
                self.keys_stale = false;
            }
            // The scan's events (a WAL-rule sync) go out with the next view.
            self.drain();
        }
        let wal = self.db.wal();
        Snapshot {
            stats: self.db.stats(),
            amplification: self.db.amplification(),
            wal: WalView {
                first: wal.first_lsn().0,
                next: wal.next_lsn().0,
                durable_next: wal.durable_next().0,
                size_bytes: wal.size_bytes(),
                segments: wal.segments().len() as u64,
            },
            frames: self
                .db
                .tree()
                .map(|t| t.pool().frames())
                .unwrap_or_default(),
            pool_capacity: self.db.tree().map_or(0, |t| t.pool().capacity() as u64),
            shape: self.shape.clone(),
            keys: self.keys.clone(),
            recovering: self.db.is_recovering(),
            checkpoint_running: self.db.checkpoint_running(),
            workload: self.workload.view(),
            storage: storage_view(self.db.storage()),
            now_ms,
        }
    }
}

/// Steps [`DbEngine::checkpoint_writes_in_flight`] takes at most.
pub const MAX_CHECKPOINT_STEPS: u64 = 5000;

/// The simulated disk of the "simulated disk" mode: 2–12 ms syncs, one at a time (like
/// IndexedDB's one transaction at a time), 512-byte sectors, and a crash tears the last
/// write that reaches the disk.
pub fn playground_sim_disk(seed: u64) -> SimDisk {
    SimDisk::new(
        SimDiskConfig {
            sync_latency: SyncLatency::Uniform { min: 2, max: 12 },
            sector_bytes: 512,
            tear_on_crash: true,
            serial_syncs: true,
        },
        seed,
    )
}

/// A storage whose clock the page drives: the simulated disk, alone or inside a
/// [`PlaygroundStorage`].
pub trait DiskClock {
    /// The simulated disk, if this storage is one.
    fn disk(&mut self) -> Option<&mut SimDisk>;
}

impl DiskClock for SimDisk {
    fn disk(&mut self) -> Option<&mut SimDisk> {
        Some(self)
    }
}

impl DiskClock for PlaygroundStorage {
    fn disk(&mut self) -> Option<&mut SimDisk> {
        self.sim_disk_mut()
    }
}

impl<S: Storage + DiskClock> DbEngine<S> {
    /// Moves the simulated disk's clock up to `now_ms` (never back), completing the syncs
    /// due by then; nothing for a storage with a clock of its own. Call before
    /// [`DbEngine::tick`].
    pub fn advance_disk(&mut self, now_ms: u64) {
        if let Some(disk) = self.db.storage_mut().disk() {
            let at = disk.now();
            if now_ms > at {
                disk.advance(now_ms - at);
            }
        }
    }

    /// Starts a checkpoint and runs the database, the simulated disk one millisecond a
    /// step (at most [`MAX_CHECKPOINT_STEPS`] steps, the workload paused), until the
    /// checkpointer has written a page and a sync issued after that write is still in
    /// flight: the moment a crash can tear a page. Returns whether it got there (not when
    /// no page is dirty). Only on the simulated disk.
    pub fn checkpoint_writes_in_flight(&mut self, now_ms: u64) -> Result<bool, EngineError> {
        if self.db.storage_mut().disk().is_none() {
            return Err(EngineError::Input(
                "Crashing during a checkpoint needs the simulated disk.".to_owned(),
            ));
        }
        self.db.request_checkpoint()?;
        self.drain();
        let from = self.pending.len();
        for _ in 0..MAX_CHECKPOINT_STEPS {
            if page_write_in_flight(&self.pending[from..]) {
                return Ok(true);
            }
            if !self.db.checkpoint_running() {
                return Ok(false);
            }
            let disk_now = match self.db.storage_mut().disk() {
                Some(disk) => {
                    disk.advance(1);
                    disk.now()
                }
                None => return Ok(false),
            };
            self.db.tick(now_ms.max(disk_now))?;
            self.drain();
        }
        Ok(false)
    }
}

/// Whether, in `events`, a page was flushed and a sync issued after it has not completed.
fn page_write_in_flight(events: &[DbEvent]) -> bool {
    let Some(flush) = events
        .iter()
        .rposition(|e| matches!(e, DbEvent::PageFlushed { .. }))
    else {
        return false;
    };
    events[flush..].iter().any(|e| match e {
        DbEvent::SyncIssued { sync, .. } => !events
            .iter()
            .any(|d| matches!(d, DbEvent::SyncDone { sync: s, .. } if s == sync)),
        _ => false,
    })
}

/// What a simulated crash did, in words (from the disk's own report).
pub fn describe_crash(report: &CrashReport, page_size: u32) -> String {
    let mut out = format!(
        "The crash dropped every volatile write. {} sync{} {} in flight: {} of the writes {} covered reached the disk anyway, {} did not.",
        report.syncs_lost,
        if report.syncs_lost == 1 { "" } else { "s" },
        if report.syncs_lost == 1 { "was" } else { "were" },
        report.ops_survived,
        if report.syncs_lost == 1 { "it" } else { "they" },
        report.ops_lost
    );
    match &report.torn {
        Some(t) => {
            let page = if t.file == playground_config().tree.page_file.file {
                format!(" (page {})", t.offset / u64::from(page_size.max(1)))
            } else {
                String::new()
            };
            out.push_str(&format!(
                " The last write to reach the disk was torn: of the {} bytes written at offset {} of {}{page}, {} of {} sectors made it.",
                t.len, t.offset, t.file, t.sectors_kept, t.sectors_total
            ));
        }
        None => out.push_str(" No write was torn."),
    }
    out
}

/// What a form operation can fail with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineError {
    /// The database refused or failed.
    Db(DbError),
    /// The input is not something the playground takes.
    Input(String),
}

impl From<DbError> for EngineError {
    fn from(e: DbError) -> Self {
        EngineError::Db(e)
    }
}

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineError::Db(DbError::Conflict { key, holder }) => write!(
                f,
                "Key {key:?} is locked by {holder}, which has written it and not finished: \
                 commit or abort that transaction first (locks are held until a commit is durable)."
            ),
            EngineError::Db(DbError::WouldBlock(why)) => write!(
                f,
                "The buffer pool is full of pages it may not write yet ({why}); a WAL sync was \
                 requested. Try again in a moment."
            ),
            EngineError::Db(e) => write!(f, "{e}"),
            EngineError::Input(why) => write!(f, "{why}"),
        }
    }
}

fn check_sizes(key: &str, value: Option<&str>) -> Result<(), EngineError> {
    let too_long = |what: &str, len: usize, max: usize| {
        EngineError::Input(format!(
            "The {what} is {len} bytes; the playground takes at most {max}."
        ))
    };
    if key.is_empty() {
        return Err(EngineError::Input("Type a key first.".to_owned()));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(too_long("key", key.len(), MAX_KEY_BYTES));
    }
    if let Some(v) = value {
        if v.len() > MAX_VALUE_BYTES {
            return Err(too_long("value", v.len(), MAX_VALUE_BYTES));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db_state::{DbAction, DbBackend, DbOpenReason, DbViewState, TxnPhase};
    use logspine_core::btree::max_entry_bytes;
    use logspine_core::{SimDisk, SimDiskConfig, SyncLatency};

    fn disk() -> SimDisk {
        SimDisk::new(
            SimDiskConfig {
                sync_latency: SyncLatency::Fixed(5),
                // IndexedDB never tears; the simulated disk's tearing is tested in core.
                tear_on_crash: false,
                ..SimDiskConfig::default()
            },
            11,
        )
    }

    /// Runs the page's loop for `ms` milliseconds: disk, tick, view into the state.
    fn run(e: &mut DbEngine<SimDisk>, s: &mut DbViewState, from: u64, ms: u64) {
        for now in from..from + ms {
            e.advance_disk(now);
            e.tick(now).unwrap();
            if let Some((events, snapshot)) = e.take_view(now, false, |_| None) {
                s.apply(DbAction::Engine { events, snapshot });
            }
        }
        let (events, snapshot) = e
            .take_view(from + ms, true, |_| None)
            .unwrap_or_else(|| (Vec::new(), s.snapshot.clone().unwrap()));
        s.apply(DbAction::Engine { events, snapshot });
    }

    fn open(storage: SimDisk, s: &mut DbViewState, now: u64) -> DbEngine<SimDisk> {
        s.apply(DbAction::Opening(DbOpenReason::Load));
        let (mut e, rec) = DbEngine::open(storage, 5).unwrap();
        let (events, snapshot) = e.take_view(now, true, |_| None).unwrap();
        s.apply(DbAction::Opened {
            backend: DbBackend::SimDisk,
            crash: None,
            report: rec.describe(),
            losers: rec.losers.iter().map(|t| t.0).collect(),
            animate: false,
            events,
            snapshot,
        });
        e
    }

    #[test]
    fn the_playground_config_takes_the_forms_largest_entry() {
        let c = playground_config();
        assert!(
            u64::try_from(MAX_KEY_BYTES + MAX_VALUE_BYTES).unwrap()
                <= u64::from(max_entry_bytes(c.tree.page_file.page_size))
        );
    }

    #[test]
    fn committed_keys_survive_a_crash_and_the_open_transaction_is_undone() {
        let mut s = DbViewState::default();
        let mut e = open(disk(), &mut s, 0);
        assert!(s.is_ready());
        for (k, v) in [("a", "1"), ("b", "2"), ("c", "3")] {
            let txn = e.commit_write(k, Some(v)).unwrap();
            s.apply(DbAction::FormWrote {
                txn: txn.0,
                op: format!("put {k} = {v}"),
                commit: true,
            });
        }
        run(&mut e, &mut s, 1, 30);
        assert!(
            s.txns.iter().all(|t| t.phase == TxnPhase::Acked),
            "{:?}",
            s.txns
        );
        let txn = e.open_write("d", Some("4")).unwrap();
        s.apply(DbAction::FormWrote {
            txn: txn.0,
            op: "put d = 4".into(),
            commit: false,
        });
        // The background WAL writer makes the open transaction's update durable.
        run(&mut e, &mut s, 31, 60);
        let open_txn = s.open_form_txn().unwrap();
        assert!(s.is_durable(open_txn.last_lsn.unwrap()));
        let keys = &s.snapshot.as_ref().unwrap().keys;
        assert_eq!(keys.total, 3, "an uncommitted write is not acknowledged");

        // The crash.
        let mut storage = e.into_storage();
        storage.crash();
        s.apply(DbAction::Opening(DbOpenReason::Crash));
        let mut e = open(storage, &mut s, 100);
        run(&mut e, &mut s, 100, 20);
        assert!(s.is_ready());
        let r = s.recovery.as_ref().unwrap();
        assert_eq!(r.losers, vec![txn.0]);
        assert_eq!(r.rolled_back, vec![(txn.0, 1)]);
        assert!(
            r.tally.contains_key("U1") && r.tally.contains_key("U3"),
            "{:?}",
            r.tally
        );
        assert!(r.report.contains("1 to roll back"), "{}", r.report);
        let keys = &s.snapshot.as_ref().unwrap().keys;
        assert_eq!(
            keys.entries,
            vec![
                ("a".to_owned(), "1".to_owned()),
                ("b".to_owned(), "2".to_owned()),
                ("c".to_owned(), "3".to_owned())
            ]
        );
        e.db().validate();
    }

    #[test]
    fn conflicts_and_bad_input_are_errors_not_panics() {
        let mut s = DbViewState::default();
        let mut e = open(disk(), &mut s, 0);
        e.open_write("a", Some("1")).unwrap();
        let err = e.commit_write("a", Some("2")).unwrap_err();
        assert!(
            matches!(err, EngineError::Db(DbError::Conflict { .. })),
            "{err}"
        );
        assert!(e.commit_write("", Some("x")).is_err());
        assert!(e
            .commit_write(&"k".repeat(MAX_KEY_BYTES + 1), None)
            .is_err());
        assert!(e
            .commit_write("k", Some(&"v".repeat(MAX_VALUE_BYTES + 1)))
            .is_err());
        assert_eq!(
            e.db().stats().aborts,
            1,
            "the conflicting transaction was aborted"
        );
        let t = e.abort_open().unwrap();
        assert!(e.abort_open().is_err(), "no open transaction left");
        run(&mut e, &mut s, 1, 10);
        assert!(s.batches.iter().all(|b| b.record_count < 100));
        assert_eq!(e.get("a").unwrap(), None, "{t} was rolled back");
        e.db().validate();
    }

    #[test]
    fn the_workload_and_the_checkpointer_move_the_meters() {
        let mut s = DbViewState::default();
        let mut e = open(disk(), &mut s, 0);
        e.start_workload(16, 1000);
        run(&mut e, &mut s, 1, 1500);
        e.checkpoint().unwrap();
        e.stop_workload();
        run(&mut e, &mut s, 1501, 200);
        let snap = s.snapshot.as_ref().unwrap();
        assert!(snap.stats.commits > 500, "{:?}", snap.stats);
        assert!(
            snap.stats.commits_per_sync() > 2.0,
            "group commit: {:?}",
            snap.stats
        );
        assert!(snap.stats.checkpoints >= 1);
        assert!(snap.amplification.write > 1.0);
        assert!(snap.shape.height >= 2, "400 keys split 1 KiB pages");
        assert!(snap.shape.pages.len() > 5);
        assert!(!snap.frames.is_empty());
        assert!(s.checkpoint.last_done.is_some());
        assert!(!snap.workload.running && snap.workload.waiting == 0);
        assert!(s.batches.iter().any(|b| b.commits > 1));
        e.db().validate();
    }

    /// A crash while the checkpointer's page writes are in flight, on a disk that tears:
    /// whenever recovery reports a torn page repaired (R3), the crash tore a write of that
    /// page, and the view marks exactly those pages torn.
    #[test]
    fn a_crash_mid_checkpoint_can_tear_a_page_and_redo_repairs_it() {
        let mut repaired = 0;
        for seed in 0..24 {
            let mut s = DbViewState::default();
            s.apply(DbAction::Opening(DbOpenReason::Load));
            let (mut e, _) = DbEngine::open(playground_sim_disk(seed), seed).unwrap();
            e.start_workload(8, 2000);
            for now in 0..300 {
                e.advance_disk(now);
                e.tick(now).unwrap();
            }
            e.stop_workload();
            assert!(e.checkpoint_writes_in_flight(300).unwrap(), "seed {seed}");
            let page_size = e
                .db()
                .tree()
                .expect("the playground keeps a B-tree")
                .page_size();
            let mut disk = e.into_storage();
            let report = disk.crash();
            let text = describe_crash(&report, page_size);
            let (mut e, rec) = DbEngine::open(disk, seed).unwrap();
            let (events, snapshot) = e.take_view(400, true, |_| None).unwrap();
            s.apply(DbAction::Opened {
                backend: DbBackend::SimDisk,
                crash: Some(text.clone()),
                report: rec.describe(),
                losers: vec![],
                animate: false,
                events,
                snapshot,
            });
            assert!(s.is_ready(), "seed {seed}");
            let torn = s.recovery.as_ref().unwrap().torn.clone();
            assert_eq!(torn.len() as u64, rec.pages_repaired, "seed {seed}");
            if let Some(t) = report.torn.filter(|t| t.file == "btree.pages") {
                assert!(text.contains("was torn"), "{text}");
                let first = t.offset / u64::from(page_size);
                let last = (t.offset + t.len - 1) / u64::from(page_size);
                assert!(
                    torn.iter().all(|p| (first..=last).contains(p)),
                    "seed {seed}: {torn:?} vs {t:?}"
                );
            } else {
                assert!(
                    torn.is_empty(),
                    "seed {seed}: nothing tore a page, yet {torn:?}"
                );
            }
            repaired += torn.len();
            e.tick(401).unwrap();
            e.db().validate();
        }
        assert!(
            repaired > 0,
            "no seed tore a page: the mode would never show one"
        );
    }

    #[test]
    fn an_idle_engine_sends_nothing_new() {
        let mut s = DbViewState::default();
        let mut e = open(disk(), &mut s, 0);
        run(&mut e, &mut s, 1, 200);
        e.tick(300).unwrap();
        assert!(e.take_view(300, true, |_| None).is_none());
    }
}
