//! The database's seeded crash harness: random transactional workloads from several
//! clients, crashes at random points (mid-sync, mid-checkpoint, mid-eviction, with torn
//! WAL tails and torn pages, all from the simulated disk), recovery, then checks:
//!
//! * every acknowledged commit is present;
//! * the recovered state equals the replay, in commit order, of exactly the transactions
//!   whose commit record survived (the WAL survives as a prefix, so that set is "commit
//!   LSN below where the recovered WAL ends"): no aborted, unacknowledged-and-lost or
//!   partial transaction is visible;
//! * `validate()` holds on the database (WAL, tree, locks) after every step.
//!
//! The same harness runs against both indexes: `crash_harness` on the B+tree (torn pages
//! repaired from full page images), `crash_harness_lsm` on the LSM tree (with memtables
//! small enough that most runs flush and compact, so crashes land mid-flush and
//! mid-compaction, tear table and manifest writes, and leave orphan tables). Its runs
//! also ask for manual compactions ([`Db::compact_now`], about 2% of the steps), so
//! crashes land in the middle of those too; the B+tree must refuse them.
//!
//! Seeds: 10,000 per index in the normal run (2,000 in wasm); more with
//! `LOGSPINE_SEEDS=100000 cargo test --release -p logspine-core --test db_crash`;
//! one replayed with `LOGSPINE_SEED=N cargo test -p logspine-core --test db_crash -- <test>`.

mod common;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::collections::BTreeMap;

use logspine_core::btree::{BTreeConfig, PageFileConfig};
use logspine_core::db::{
    CheckpointConfig, Db, DbConfig, DbError, GroupCommitConfig, IndexKind, TxnId,
};
use logspine_core::lsm::{
    CompactionConfig, CompactionStyle, LsmConfig, ManifestConfig, TableConfig,
};
use logspine_core::{LogConfig, Lsn, Rng, SimDisk, SimDiskConfig, SyncLatency};

type Writes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

#[derive(Debug)]
struct Client {
    txn: Option<TxnId>,
    writes: Writes,
}

#[derive(Default, Debug, Clone, Copy)]
struct Coverage {
    crashes: u64,
    torn_wal: u64,
    torn_pages: u64,
    crash_mid_checkpoint: u64,
    crash_sync_in_flight: u64,
    crash_mid_undo: u64,
    losers_undone: u64,
    pages_repaired: u64,
    checkpoints: u64,
    commits: u64,
    torn_tables: u64,
    torn_manifest: u64,
    crash_mid_flush: u64,
    crash_mid_compaction: u64,
    orphans_deleted: u64,
    tables_recovered: u64,
    redo_logical: u64,
    manual_compactions: u64,
    crash_mid_manual_compaction: u64,
}

/// An LSM configuration small enough that a run of a few hundred operations flushes
/// and compacts (leveled or size-tiered).
fn lsm_config(rng: &mut Rng) -> LsmConfig {
    let style = if rng.below(2) == 0 {
        CompactionStyle::Leveled
    } else {
        CompactionStyle::SizeTiered
    };
    let tier_min_runs = rng.range_inclusive(2, 3);
    LsmConfig {
        manifest: ManifestConfig {
            log: LogConfig {
                segment_bytes: [256, 1024][rng.index(2)],
                ..LogConfig::new("manifest")
            },
            levels: if style == CompactionStyle::Leveled {
                u32::try_from(rng.range_inclusive(2, 4)).expect("small")
            } else {
                1
            },
        },
        table: TableConfig {
            block_bytes: u32::try_from(rng.range_inclusive(64, 512)).expect("small"),
            bloom_bits_per_key: u32::try_from(rng.range_inclusive(1, 12)).expect("small"),
        },
        compaction: CompactionConfig {
            style,
            l0_trigger: rng.range_inclusive(1, 3),
            base_level_bytes: rng.range_inclusive(512, 2048),
            fanout: rng.range_inclusive(2, 4),
            target_file_bytes: rng.range_inclusive(256, 1024),
            tier_min_runs,
            tier_max_runs: tier_min_runs + rng.below(3),
            tier_size_ratio_percent: rng.range_inclusive(150, 400),
        },
        memtable_bytes: rng.range_inclusive(150, 900),
        max_immutable_memtables: rng.range_inclusive(1, 3),
    }
}

fn config(rng: &mut Rng, index: IndexKind) -> (DbConfig, SimDiskConfig) {
    let page_size = [512u32, 1024][rng.index(2)];
    let lsm = lsm_config(rng);
    let db = DbConfig {
        index,
        lsm,
        lsm_steps_per_tick: 1 + rng.index(4),
        wal: LogConfig {
            segment_bytes: [512, 2048, 16384][rng.index(3)],
            ..LogConfig::new("wal")
        },
        tree: BTreeConfig {
            page_file: PageFileConfig {
                file: "btree.pages".into(),
                page_size,
            },
            pool_frames: 8 + rng.index(12),
            full_page_writes: true,
        },
        control_file: "db.control".into(),
        group_commit: GroupCommitConfig {
            enabled: rng.below(4) != 0,
            max_batch: 1 + rng.index(8),
            max_wait_ticks: rng.below(4),
        },
        checkpoint: CheckpointConfig {
            every_wal_bytes: [0, 2000, 8000][rng.index(3)],
            pages_per_tick: 1 + rng.index(4),
        },
        wal_writer_delay_ticks: 1 + rng.below(30),
        undo_records_per_tick: 1 + rng.index(8),
    };
    let disk = SimDiskConfig {
        sync_latency: SyncLatency::Uniform {
            min: 1,
            max: 1 + rng.below(8),
        },
        sector_bytes: [64, 512][rng.index(2)],
        tear_on_crash: true,
        serial_syncs: rng.below(2) == 0,
    };
    (db, disk)
}

macro_rules! check {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

fn err(e: DbError) -> String {
    e.to_string()
}

/// One step of a run.
#[derive(Clone, Debug)]
enum Op {
    /// Client `c` begins a transaction if it has none, else writes `key = value`
    /// (None: delete).
    Write {
        c: usize,
        key: usize,
        value: Option<Vec<u8>>,
    },
    /// Client `c` reads `key` inside its transaction.
    Read { c: usize, key: usize },
    /// Client `c` commits.
    Commit { c: usize },
    /// Client `c` rolls back.
    Abort { c: usize },
    /// Ask for a checkpoint.
    Checkpoint,
    /// Ask for a manual compaction (refused by the B+tree).
    CompactNow,
    /// Move virtual time.
    Advance(u64),
    /// Crash the disk, recover, and check everything.
    Crash,
    /// Crash, recover, let undo run for this many ticks, crash again mid-rollback,
    /// recover, and check everything.
    DoubleCrash(u64),
}

/// The database under test and the oracle.
struct Model {
    db: Option<Db<SimDisk>>,
    cfg: DbConfig,
    now: u64,
    keys: Vec<Vec<u8>>,
    clients: Vec<Client>,
    /// The committed state as of the last recovery.
    base: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Transactions since, whose commit record was appended: commit LSN → writes.
    committing: BTreeMap<Lsn, (TxnId, Writes)>,
    /// Commit LSNs acknowledged since the last recovery.
    acked: Vec<Lsn>,
    crashes: u64,
}

impl Model {
    fn new(
        seed: u64,
        cfg: DbConfig,
        disk_cfg: SimDiskConfig,
        keys: usize,
        clients: usize,
    ) -> Result<Model, String> {
        let disk = SimDisk::new(disk_cfg, seed ^ 0x5EED);
        let (db, _) = Db::open(disk, cfg.clone()).map_err(err)?;
        Ok(Model {
            db: Some(db),
            cfg,
            now: 0,
            keys: (0..keys).map(|i| format!("k{i:03}").into_bytes()).collect(),
            clients: (0..clients)
                .map(|_| Client {
                    txn: None,
                    writes: Writes::new(),
                })
                .collect(),
            base: BTreeMap::new(),
            committing: BTreeMap::new(),
            acked: Vec::new(),
            crashes: 0,
        })
    }

    fn db(&mut self) -> &mut Db<SimDisk> {
        self.db.as_mut().expect("the database is open")
    }

    fn advance(&mut self, dt: u64) -> Result<(), String> {
        self.now += dt;
        let now = self.now;
        let db = self.db();
        db.storage_mut().advance(dt);
        db.tick(now).map_err(|e| format!("tick: {e}"))?;
        for a in db.take_acks() {
            if let Some(lsn) = a.lsn {
                self.acked.push(lsn);
            }
        }
        self.db().take_events();
        Ok(())
    }

    /// Retries `f` across ticks while it would block on a WAL sync.
    fn retry<T>(
        &mut self,
        mut f: impl FnMut(&mut Db<SimDisk>) -> Result<T, DbError>,
    ) -> Result<T, String> {
        for _ in 0..1000 {
            match f(self.db()) {
                Err(DbError::WouldBlock(_)) => self.advance(1)?,
                other => return other.map_err(err),
            }
        }
        Err("blocked on the WAL for 1,000 ticks".into())
    }

    fn apply(&mut self, op: &Op, cov: &mut Coverage) -> Result<(), String> {
        match op {
            Op::Write { c, key, value } => {
                let (c, key) = (
                    c % self.clients.len(),
                    self.keys[key % self.keys.len()].clone(),
                );
                let Some(txn) = self.clients[c].txn else {
                    self.clients[c].txn = Some(self.db().begin());
                    self.clients[c].writes.clear();
                    return Ok(());
                };
                let r = match value {
                    Some(v) => self.db().put(txn, &key, v),
                    None => self.db().delete(txn, &key),
                };
                match r {
                    Ok(()) => {
                        self.clients[c].writes.insert(key, value.clone());
                    }
                    Err(DbError::Conflict { .. }) => {
                        self.db().abort(txn).map_err(err)?;
                        self.clients[c].txn = None;
                        self.clients[c].writes.clear();
                    }
                    Err(DbError::WouldBlock(_)) => {}
                    Err(e) => return Err(format!("write: {e}")),
                }
            }
            Op::Read { c, key } => {
                let (c, key) = (
                    c % self.clients.len(),
                    self.keys[key % self.keys.len()].clone(),
                );
                let txn = self.clients[c].txn;
                match self.db().get(txn, &key) {
                    Ok(v) => {
                        if let Some(w) = txn.and(self.clients[c].writes.get(&key)) {
                            check!(&v == w, "txn read of {key:?} missed its own write");
                        }
                    }
                    Err(DbError::WouldBlock(_)) => {}
                    Err(e) => return Err(format!("get: {e}")),
                }
            }
            Op::Commit { c } => {
                let c = c % self.clients.len();
                if let Some(txn) = self.clients[c].txn.take() {
                    let before = self.db().wal().next_lsn();
                    self.db().commit(txn).map_err(|e| format!("commit: {e}"))?;
                    let writes = std::mem::take(&mut self.clients[c].writes);
                    if self.db().wal().next_lsn() > before && !writes.is_empty() {
                        self.committing.insert(before, (txn, writes));
                    }
                }
            }
            Op::Abort { c } => {
                let c = c % self.clients.len();
                if let Some(txn) = self.clients[c].txn.take() {
                    self.db().abort(txn).map_err(|e| format!("abort: {e}"))?;
                    self.clients[c].writes.clear();
                }
            }
            Op::Checkpoint => self.db().request_checkpoint().map_err(err)?,
            Op::CompactNow => match (self.cfg.index, self.db().compact_now()) {
                (IndexKind::Lsm, Ok(asked)) => cov.manual_compactions += u64::from(asked),
                (IndexKind::BTree, Err(DbError::Unsupported(why))) => {
                    check!(why.contains("no compaction"), "B+tree refusal: {why}");
                }
                (_, r) => return Err(format!("compact_now: {r:?}")),
            },
            Op::Advance(dt) => self.advance(*dt)?,
            Op::Crash => self.crash_and_check(cov, None)?,
            Op::DoubleCrash(ticks) => self.crash_and_check(cov, Some(*ticks))?,
        }
        self.db().validate();
        Ok(())
    }

    fn crash(&mut self, cov: &mut Coverage) -> SimDisk {
        let db = self.db.take().expect("open");
        cov.crash_mid_checkpoint += u64::from(db.checkpoint_running());
        cov.crash_sync_in_flight += u64::from(db.storage().next_completion_at().is_some());
        cov.crash_mid_undo += u64::from(db.is_recovering());
        cov.crash_mid_manual_compaction += u64::from(db.lsm().is_some_and(|l| l.job_is_manual()));
        if let Some(phase) = db.lsm().and_then(|l| l.job_phase()) {
            if phase.starts_with("flush") {
                cov.crash_mid_flush += 1;
            } else {
                cov.crash_mid_compaction += 1;
            }
        }
        let mut disk = db.into_storage();
        let report = disk.crash();
        if let Some(t) = &report.torn {
            if t.file.starts_with("wal") {
                cov.torn_wal += 1;
            } else if t.file.starts_with("btree") {
                cov.torn_pages += 1;
            } else if t.file.starts_with("sst") {
                cov.torn_tables += 1;
            } else if t.file.starts_with("manifest") {
                cov.torn_manifest += 1;
            }
        }
        disk
    }

    fn crash_and_check(
        &mut self,
        cov: &mut Coverage,
        recrash_after: Option<u64>,
    ) -> Result<(), String> {
        let cycle = self.crashes;
        self.crashes += 1;
        cov.crashes += 1;
        let disk = self.crash(cov);
        let (db, rec) = Db::open(disk, self.cfg.clone())
            .map_err(|e| format!("crash {cycle}: recovery failed: {e}"))?;
        self.db = Some(db);
        // The WAL survives as a prefix, up to here (recovery's own records come after,
        // and nothing commits between this crash and a second one).
        let survived = rec.wal.next_lsn;
        let rec = match recrash_after {
            None => rec,
            Some(ticks) => {
                for _ in 0..ticks {
                    self.advance(1)?;
                }
                let disk = self.crash(cov);
                let (db, rec2) = Db::open(disk, self.cfg.clone()).map_err(|e| {
                    format!("crash {cycle}: recovery after a crash mid-recovery failed: {e}")
                })?;
                self.db = Some(db);
                check!(
                    rec2.wal.next_lsn >= survived,
                    "crash {cycle}: the second crash lost history the first recovery had"
                );
                rec2
            }
        };
        cov.pages_repaired += rec.pages_repaired;
        if let Some(l) = &rec.lsm {
            cov.orphans_deleted += l.orphans_deleted.len() as u64;
            cov.tables_recovered += l.tables;
            cov.redo_logical += rec.redo_applied;
        }
        cov.losers_undone += rec.losers.len() as u64;
        cov.checkpoints += u64::from(rec.checkpoint.is_some());
        for lsn in &self.acked {
            check!(
                *lsn < survived,
                "crash {cycle}: acknowledged commit at {lsn} lost (WAL recovered below {survived})"
            );
        }
        for (_, writes) in self.committing.range(..survived).map(|(_, w)| w) {
            for (k, v) in writes {
                match v {
                    Some(v) => self.base.insert(k.clone(), v.clone()),
                    None => self.base.remove(k),
                };
            }
        }
        cov.commits += self.committing.range(..survived).count() as u64;
        self.committing.clear();
        self.acked.clear();
        for cl in &mut self.clients {
            cl.txn = None;
            cl.writes.clear();
        }
        // Readers never see a loser's changes, even while it is being rolled back.
        for k in self.keys.clone() {
            let v = self.retry(|db| db.get(None, &k))?;
            check!(
                v.as_ref() == self.base.get(&k),
                "crash {cycle}: during undo, {k:?} reads {v:?}, the committed value is {:?}",
                self.base.get(&k)
            );
        }
        // Undo of the losers continues in tick.
        for _ in 0..10_000 {
            if !self.db().is_recovering() && self.db().storage().next_completion_at().is_none() {
                break;
            }
            self.advance(1)?;
        }
        check!(
            !self.db().is_recovering(),
            "crash {cycle}: undo unfinished after 10,000 ticks (livelock)"
        );
        self.db().validate();
        let got: BTreeMap<Vec<u8>, Vec<u8>> =
            self.retry(|db| db.scan(b"", None))?.into_iter().collect();
        if got != self.base {
            let name = |k: &Vec<u8>| String::from_utf8_lossy(k).into_owned();
            let missing: Vec<_> = self
                .base
                .keys()
                .filter(|k| !got.contains_key(*k))
                .map(name)
                .collect();
            let extra: Vec<_> = got
                .keys()
                .filter(|k| !self.base.contains_key(*k))
                .map(name)
                .collect();
            let differ: Vec<_> = self
                .base
                .iter()
                .filter(|(k, v)| got.get(*k).is_some_and(|g| g != *v))
                .map(|(k, _)| name(k))
                .collect();
            return Err(format!(
                "crash {cycle}: recovered state differs from the replay of committed transactions: missing {missing:?}, extra {extra:?}, different {differ:?} ({})",
                rec.describe()
            ));
        }
        for k in self.keys.clone() {
            let v = self.retry(|db| db.get(None, &k))?;
            check!(
                v.as_ref() == self.base.get(&k),
                "crash {cycle}: get {k:?} disagrees with scan"
            );
        }
        Ok(())
    }
}

fn gen_op(rng: &mut Rng, index: IndexKind, clients: usize, keys: usize) -> Op {
    let c = rng.index(clients);
    match rng.below(100) {
        0..=54 => Op::Write {
            c,
            key: rng.index(keys),
            value: (rng.below(5) != 0).then(|| {
                let mut v = vec![0u8; rng.index(60)];
                rng.fill(&mut v);
                v
            }),
        },
        55..=64 => Op::Read {
            c,
            key: rng.index(keys),
        },
        65..=84 => Op::Commit { c },
        85..=92 => Op::Abort { c },
        93..=94 => Op::Checkpoint,
        // (The B+tree's runs keep the operation stream they always had.)
        95..=96 if index == IndexKind::Lsm => Op::CompactNow,
        _ => Op::Advance(rng.below(3)),
    }
}

fn run_seed(seed: u64, index: IndexKind, cov: &mut Coverage) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let (cfg, disk_cfg) = config(&mut rng, index);
    let keys = 24 + rng.index(40);
    let clients = 1 + rng.index(6);
    let mut m = Model::new(seed, cfg, disk_cfg, keys, clients)?;
    for cycle in 0..1 + rng.below(3) {
        for step in 0..50 + rng.below(250) {
            let op = gen_op(&mut rng, index, clients, keys);
            m.apply(&op, cov)
                .map_err(|e| format!("cycle {cycle} step {step} ({op:?}): {e}"))?;
            let dt = rng.below(3);
            m.advance(dt)
                .map_err(|e| format!("cycle {cycle} step {step}: {e}"))?;
        }
        let crash = if rng.below(3) == 0 {
            Op::DoubleCrash(rng.below(20))
        } else {
            Op::Crash
        };
        m.apply(&crash, cov)?;
    }
    Ok(())
}

#[test]
fn crash_harness() {
    let mut cov = Coverage::default();
    let default = if cfg!(target_arch = "wasm32") {
        2_000
    } else {
        10_000
    };
    let Some(seeds) = common::for_each_seed("db_crash", "crash_harness", default, |seed| {
        run_seed(seed, IndexKind::BTree, &mut cov)
    }) else {
        return;
    };
    #[cfg(not(target_arch = "wasm32"))]
    println!("{seeds} seeds: {cov:?}");
    // The harness must actually reach the hard cases, or it proves little.
    if seeds >= 1000 {
        assert!(
            cov.torn_wal > 0,
            "no torn WAL tail in {seeds} seeds: {cov:?}"
        );
        assert!(cov.torn_pages > 0, "no torn page in {seeds} seeds: {cov:?}");
        assert!(
            cov.pages_repaired > 0,
            "no torn page repaired in {seeds} seeds: {cov:?}"
        );
        assert!(
            cov.losers_undone > 0,
            "no loser undone in {seeds} seeds: {cov:?}"
        );
        assert!(
            cov.checkpoints > 0,
            "no recovery from a checkpoint in {seeds} seeds: {cov:?}"
        );
        assert!(
            cov.crash_mid_undo > 0,
            "no crash in the middle of a rollback in {seeds} seeds: {cov:?}"
        );
        assert!(
            cov.crash_mid_checkpoint > 0,
            "no crash mid-checkpoint in {seeds} seeds: {cov:?}"
        );
        assert!(
            cov.crash_sync_in_flight > 0,
            "no crash mid-sync in {seeds} seeds: {cov:?}"
        );
    }
}

#[test]
fn crash_harness_lsm() {
    let mut cov = Coverage::default();
    let default = if cfg!(target_arch = "wasm32") {
        2_000
    } else {
        10_000
    };
    let Some(seeds) = common::for_each_seed("db_crash", "crash_harness_lsm", default, |seed| {
        run_seed(seed, IndexKind::Lsm, &mut cov)
    }) else {
        return;
    };
    #[cfg(not(target_arch = "wasm32"))]
    println!("{seeds} seeds: {cov:?}");
    if seeds >= 1000 {
        for (what, n) in [
            ("torn WAL tail", cov.torn_wal),
            ("torn table write", cov.torn_tables),
            ("torn manifest write", cov.torn_manifest),
            ("crash mid-flush", cov.crash_mid_flush),
            ("crash mid-compaction", cov.crash_mid_compaction),
            ("manual compaction", cov.manual_compactions),
            (
                "crash mid-manual-compaction",
                cov.crash_mid_manual_compaction,
            ),
            ("orphan table deleted", cov.orphans_deleted),
            ("recovery with tables", cov.tables_recovered),
            ("logical redo into the memtable", cov.redo_logical),
            ("loser undone", cov.losers_undone),
            ("recovery from a checkpoint", cov.checkpoints),
            ("crash mid-rollback", cov.crash_mid_undo),
            ("crash mid-checkpoint", cov.crash_mid_checkpoint),
            ("crash mid-sync", cov.crash_sync_in_flight),
        ] {
            assert!(n > 0, "no {what} in {seeds} seeds: {cov:?}");
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod prop {
    use super::*;
    use proptest::prelude::*;

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            10 => (0usize..4, 0usize..12, proptest::option::weighted(0.8, proptest::collection::vec(any::<u8>(), 0..40)))
                .prop_map(|(c, key, value)| Op::Write { c, key, value }),
            2 => (0usize..4, 0usize..12).prop_map(|(c, key)| Op::Read { c, key }),
            4 => (0usize..4).prop_map(|c| Op::Commit { c }),
            2 => (0usize..4).prop_map(|c| Op::Abort { c }),
            1 => Just(Op::Checkpoint),
            1 => Just(Op::CompactNow),
            4 => (0u64..4).prop_map(Op::Advance),
            1 => Just(Op::Crash),
            1 => (0u64..10).prop_map(Op::DoubleCrash),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]
        /// The database against a `BTreeMap` oracle, with crashes (torn WAL tails and
        /// pages), aborts and checkpoints in the operation mix; shrinks to a minimal
        /// failing sequence.
        #[test]
        fn db_matches_btreemap_oracle_across_crashes(
            seed in any::<u64>(),
            ops in proptest::collection::vec(op(), 1..200),
            group_commit in any::<bool>(),
            sector in prop_oneof![Just(64u64), Just(512)],
            lsm in any::<bool>(),
        ) {
            let cfg = DbConfig {
                index: if lsm { IndexKind::Lsm } else { IndexKind::BTree },
                lsm: LsmConfig {
                    memtable_bytes: 300,
                    compaction: CompactionConfig {
                        l0_trigger: 2,
                        base_level_bytes: 1024,
                        target_file_bytes: 512,
                        ..CompactionConfig::default()
                    },
                    ..LsmConfig::default()
                },
                wal: LogConfig { segment_bytes: 1024, ..LogConfig::new("wal") },
                tree: BTreeConfig {
                    page_file: PageFileConfig { file: "btree.pages".into(), page_size: 512 },
                    pool_frames: 8,
                    full_page_writes: true,
                },
                group_commit: GroupCommitConfig { enabled: group_commit, max_batch: 4, max_wait_ticks: 1 },
                checkpoint: CheckpointConfig { every_wal_bytes: 3000, pages_per_tick: 2 },
                wal_writer_delay_ticks: 5,
                undo_records_per_tick: 2,
                ..DbConfig::default()
            };
            let disk = SimDiskConfig {
                sync_latency: SyncLatency::Uniform { min: 1, max: 4 },
                sector_bytes: sector,
                tear_on_crash: true,
                serial_syncs: group_commit,
            };
            let mut cov = Coverage::default();
            let mut m = Model::new(seed, cfg, disk, 12, 4).map_err(TestCaseError::fail)?;
            for (i, op) in ops.iter().enumerate() {
                m.apply(op, &mut cov).map_err(|e| TestCaseError::fail(format!("op {i} ({op:?}): {e}")))?;
            }
            m.apply(&Op::Crash, &mut cov).map_err(|e| TestCaseError::fail(format!("final crash: {e}")))?;
        }
    }
}
