//! B-tree vs LSM tree: write, read and space amplification on the same workloads
//! (issue 4). Not a timing benchmark: every figure is a count (bytes the simulated disk
//! was given or returned, pages and blocks the index touched), so the table is the same
//! on every machine and in wasm, and a test can check the claim it is about.
//!
//! `cargo run --release -p logspine-bench -- amplification [--quick]` prints the table.
//!
//! # Setup
//! Both databases are the same [`Db`] (same WAL, group commit, checkpoints every 256 KiB
//! of WAL) on a [`SimDisk`]; only [`DbConfig::index`] differs. Keys are 16 bytes, values
//! 100 (LevelDB's db_bench shape); transactions of [`TXN_PUTS`] writes from one client.
//! Memory: the B-tree gets a pool of [`POOL_FRAMES`] 4 KiB pages (256 KiB); the LSM tree
//! gets 64 KiB memtables (at most 2 frozen) and keeps its tables' block indexes and bloom
//! filters in memory (reported), with no data block cache.
//!
//! # Workloads (each on a fresh database)
//! * **sequential insert**: `n` new keys in key order.
//! * **random overwrite**: `n` keys loaded in random order (not measured), then `2n`
//!   overwrites of random keys.
//! * **point reads**: loaded, then `n` operations, 90 % gets of random present keys and
//!   10 % overwrites.
//! * **range scans**: loaded, then `n / 50` scans of 50 keys from a random start.
//!
//! A measured phase ends with a checkpoint and everything settled (the B-tree's dirty
//! pages written, the LSM's memtables flushed and its compactions done), so both pay
//! for all they deferred.
//!
//! # Columns
//! * write amplification: bytes the disk was given (WAL, pages or tables, manifest,
//!   control file) / key + value bytes the clients wrote; then the WAL's and the index's
//!   shares.
//! * reads: storage bytes read per get (or per scan), in 4 KiB units; index units visited
//!   per get (B-tree: pages on the root-to-leaf path, cached or not; LSM: data blocks
//!   read); sources consulted per get (1 for the B-tree; memtables and tables probed for
//!   the LSM) and how many of those a bloom filter ruled out.
//! * space amplification: file bytes on disk / live key + value bytes.

use logspine_core::btree::BTreeConfig;
use logspine_core::db::{Db, DbAmplification, DbConfig, DbError, IndexKind, TxnId};
use logspine_core::lsm::{Lsm, LsmConfig, Table, TableConfig};
use logspine_core::{Rng, SimDisk, SimDiskConfig, Storage, SyncLatency};

/// Key bytes (db_bench).
pub const KEY_BYTES: usize = 16;
/// Value bytes (db_bench).
pub const VALUE_BYTES: usize = 100;
/// Writes per transaction.
pub const TXN_PUTS: usize = 10;
/// The B-tree's buffer pool, in 4 KiB pages.
pub const POOL_FRAMES: usize = 64;
/// Keys in the full run.
pub const FULL_KEYS: u64 = 50_000;
/// Keys in the quick run (and the test).
pub const QUICK_KEYS: u64 = 8_000;
/// Keys per range scan.
pub const SCAN_KEYS: u64 = 50;

/// The workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// New keys in order.
    SequentialInsert,
    /// Overwrites of random keys.
    RandomOverwrite,
    /// 90 % gets, 10 % overwrites.
    PointReads,
    /// Scans of [`SCAN_KEYS`] keys.
    RangeScans,
}

impl Workload {
    /// All of them, in table order.
    pub const ALL: [Workload; 4] = [
        Workload::SequentialInsert,
        Workload::RandomOverwrite,
        Workload::PointReads,
        Workload::RangeScans,
    ];

    /// Its name in the table.
    pub fn name(self) -> &'static str {
        match self {
            Workload::SequentialInsert => "sequential insert",
            Workload::RandomOverwrite => "random overwrite",
            Workload::PointReads => "point reads (90 % get)",
            Workload::RangeScans => "range scans (50 keys)",
        }
    }
}

/// An index and its configuration, as a row label.
#[derive(Clone, Debug)]
pub struct Variant {
    /// The row label.
    pub name: &'static str,
    /// The database configuration.
    pub config: DbConfig,
}

/// The B-tree, the LSM tree (leveled, 10 bloom bits per key), and the LSM tree with
/// 1-bit bloom filters (about 60 % false positives: the filters barely help, which
/// shows what they save).
pub fn variants() -> Vec<Variant> {
    let base = DbConfig {
        tree: BTreeConfig {
            pool_frames: POOL_FRAMES,
            ..BTreeConfig::default()
        },
        ..DbConfig::default()
    };
    let lsm = |bits| DbConfig {
        index: IndexKind::Lsm,
        lsm: LsmConfig {
            table: TableConfig {
                bloom_bits_per_key: bits,
                ..TableConfig::default()
            },
            ..LsmConfig::default()
        },
        ..base.clone()
    };
    vec![
        Variant {
            name: "B-tree",
            config: base.clone(),
        },
        Variant {
            name: "LSM tree",
            config: lsm(10),
        },
        Variant {
            name: "LSM, 1-bit blooms",
            config: lsm(1),
        },
    ]
}

/// One cell row of the table.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The workload.
    pub workload: Workload,
    /// The variant's label.
    pub variant: &'static str,
    /// Disk bytes written / client bytes written in the measured phase.
    pub write: f64,
    /// Of which the WAL.
    pub wal_write: f64,
    /// Of which the index (pages, or tables and manifest).
    pub index_write: f64,
    /// Storage bytes read per get (or per scan) / 4096.
    pub reads_4k_per_op: f64,
    /// The database's own meters at the end of the phase.
    pub amp: DbAmplification,
    /// File bytes / live bytes at the end.
    pub space: f64,
    /// LSM: bytes of block indexes and bloom filters held in memory; B-tree: the pool.
    pub index_memory_bytes: u64,
    /// LSM: trivial moves, compactions; B-tree: (0, 0).
    pub compactions: (u64, u64),
}

fn err(e: DbError) -> String {
    e.to_string()
}

fn key(i: u64) -> Vec<u8> {
    let k = format!("key{i:013}");
    debug_assert_eq!(k.len(), KEY_BYTES);
    k.into_bytes()
}

struct Run {
    db: Db<SimDisk>,
    now: u64,
    rng: Rng,
    value: Vec<u8>,
    logical: u64,
}

impl Run {
    fn new(config: DbConfig) -> Result<Run, String> {
        let disk = SimDisk::new(
            SimDiskConfig {
                sync_latency: SyncLatency::Fixed(1),
                ..SimDiskConfig::default()
            },
            7,
        );
        let (db, _) = Db::open(disk, config).map_err(err)?;
        Ok(Run {
            db,
            now: 0,
            rng: Rng::new(0xA3F1),
            value: vec![0; VALUE_BYTES],
            logical: 0,
        })
    }

    fn tick(&mut self) -> Result<(), String> {
        self.now += 1;
        self.db.storage_mut().advance(1);
        self.db.tick(self.now).map_err(err)?;
        self.db.take_acks();
        self.db.take_events();
        Ok(())
    }

    fn retry<T>(
        &mut self,
        mut f: impl FnMut(&mut Db<SimDisk>) -> Result<T, DbError>,
    ) -> Result<T, String> {
        for _ in 0..100_000 {
            match f(&mut self.db) {
                Ok(v) => return Ok(v),
                Err(DbError::WouldBlock(_)) => self.tick()?,
                Err(e) => return Err(err(e)),
            }
        }
        Err("blocked for 100,000 ticks".into())
    }

    /// One transaction writing `keys`, committed and acknowledged.
    fn write_txn(&mut self, keys: impl Iterator<Item = u64>) -> Result<(), String> {
        let txn: TxnId = self.db.begin();
        for k in keys {
            self.rng.fill(&mut self.value);
            let (k, v) = (key(k), self.value.clone());
            self.retry(|db| db.put(txn, &k, &v))?;
            self.logical += (KEY_BYTES + VALUE_BYTES) as u64;
        }
        self.db.commit(txn).map_err(err)?;
        // Acknowledged (and nothing else pending) before the next one: one client.
        for _ in 0..100_000 {
            self.tick()?;
            if self.db.is_quiescent() {
                return Ok(());
            }
        }
        Err("a commit was not acknowledged in 100,000 ticks".into())
    }

    fn load(&mut self, n: u64) -> Result<(), String> {
        for start in (0..n).step_by(TXN_PUTS) {
            self.write_txn(start..(start + TXN_PUTS as u64).min(n))?;
        }
        Ok(())
    }

    /// A checkpoint, then ticks until nothing is pending: no sync, no checkpoint, no LSM
    /// background work.
    fn settle(&mut self) -> Result<(), String> {
        self.db.request_checkpoint().map_err(err)?;
        for _ in 0..1_000_000 {
            self.tick()?;
            let lsm_idle = self
                .db
                .lsm()
                .is_none_or(|l| l.is_idle() && l.oldest_unflushed_lsn().is_none());
            if self.db.is_quiescent()
                && lsm_idle
                && self.db.storage().next_completion_at().is_none()
            {
                return Ok(());
            }
            if self.db.lsm().is_some_and(|l| l.is_idle()) && !self.db.checkpoint_running() {
                // Memtable data below the checkpoint is flushed; the rest waits for the
                // next checkpoint: ask for one so the phase ends with nothing in memory.
                self.db.request_checkpoint().map_err(err)?;
            }
        }
        Err("did not settle in 1,000,000 ticks".into())
    }
}

/// Counters at the start of the measured phase.
struct Baseline {
    written: u64,
    wal: u64,
    index: u64,
    logical: u64,
}

/// Runs one workload on one variant with `n` keys.
pub fn measure(workload: Workload, variant: &Variant, n: u64) -> Result<Row, String> {
    let mut run = Run::new(variant.config.clone())?;
    if workload != Workload::SequentialInsert {
        // Loaded in random order, as a table filled over time would be (a B-tree loaded
        // in key order splits its leaves 50/50 and keeps them half full).
        let mut order: Vec<u64> = (0..n).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, run.rng.index(i + 1));
        }
        for chunk in order.chunks(TXN_PUTS) {
            run.write_txn(chunk.iter().copied())?;
        }
        run.settle()?;
    }
    let base = Baseline {
        written: run.db.storage().stats().bytes_written,
        wal: run.db.stats().wal_bytes,
        index: index_bytes_written(&run.db),
        logical: run.logical,
    };
    // Storage bytes read by the measured reads, and how many there were.
    let (mut read_bytes, mut reads) = (0u64, 0u64);
    match workload {
        Workload::SequentialInsert => run.load(n)?,
        Workload::RandomOverwrite => {
            for _ in 0..(2 * n).div_ceil(TXN_PUTS as u64) {
                let mut keys: Vec<u64> = (0..TXN_PUTS).map(|_| run.rng.below(n)).collect();
                keys.sort_unstable();
                keys.dedup();
                run.write_txn(keys.into_iter())?;
            }
        }
        Workload::PointReads => {
            for _ in 0..n {
                if run.rng.below(10) == 0 {
                    let k = run.rng.below(n);
                    run.write_txn(std::iter::once(k))?;
                    continue;
                }
                let k = key(run.rng.below(n));
                let before = run.db.storage().stats().bytes_read;
                let got = run.retry(|db| db.get(None, &k))?;
                if got.is_none() {
                    return Err(format!("{} lost", String::from_utf8_lossy(&k)));
                }
                read_bytes += run.db.storage().stats().bytes_read - before;
                reads += 1;
            }
        }
        Workload::RangeScans => {
            for _ in 0..(n / SCAN_KEYS).max(1) {
                let start = run.rng.below(n - SCAN_KEYS.min(n - 1));
                let (lo, hi) = (key(start), key(start + SCAN_KEYS));
                let before = run.db.storage().stats().bytes_read;
                let got = run.retry(|db| db.scan(&lo, Some(&hi)))?;
                if got.len() as u64 != SCAN_KEYS.min(n - start) {
                    return Err(format!("a scan from {start} found {} keys", got.len()));
                }
                read_bytes += run.db.storage().stats().bytes_read - before;
                reads += 1;
            }
        }
    }
    run.settle()?;
    let db = &run.db;
    let logical = run.logical - base.logical;
    let amp = db.amplification();
    let (index_memory_bytes, compactions) = match db.lsm() {
        Some(l) => (
            lsm_memory(db, l)?,
            (l.stats().trivial_moves, l.stats().compactions),
        ),
        None => ((POOL_FRAMES * 4096) as u64, (0, 0)),
    };
    let files: u64 = db
        .storage()
        .list()
        .iter()
        .map(|f| db.storage().len(f).unwrap_or(0))
        .sum();
    let live = live_bytes(&run.db)?;
    Ok(Row {
        workload,
        variant: variant.name,
        write: ratio(db.storage().stats().bytes_written - base.written, logical),
        wal_write: ratio(db.stats().wal_bytes - base.wal, logical),
        index_write: ratio(index_bytes_written(db) - base.index, logical),
        reads_4k_per_op: ratio(read_bytes, reads * 4096),
        amp,
        space: ratio(files, live),
        index_memory_bytes,
        compactions,
    })
}

/// What the LSM keeps in memory besides its memtables: each table's bloom filter and
/// block index (estimated as one max-key plus 16 bytes of handle per block).
fn lsm_memory(db: &Db<SimDisk>, l: &Lsm) -> Result<u64, String> {
    let mut bytes = 0;
    for level in l.version().levels() {
        for meta in level {
            let t = Table::open(db.storage(), meta.id).map_err(|e| e.to_string())?;
            bytes += t.bloom().num_bits() / 8 + t.blocks() * (meta.max_key.len() as u64 + 16);
        }
    }
    Ok(bytes)
}

fn live_bytes(db: &Db<SimDisk>) -> Result<u64, String> {
    // Every key is live with a value of VALUE_BYTES (no workload deletes).
    let n = match db.tree() {
        Some(t) => t.amplification().live_bytes,
        None => {
            db.lsm()
                .ok_or("no index")?
                .live(db.storage())
                .map_err(|e| e.to_string())?
                .1
        }
    };
    Ok(n)
}

#[allow(clippy::cast_precision_loss)]
fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

fn index_bytes_written(db: &Db<SimDisk>) -> u64 {
    match (db.tree(), db.lsm()) {
        (Some(t), _) => t.amplification().page_bytes_written,
        (_, Some(l)) => l.stats().table_bytes_written(),
        _ => 0,
    }
}

/// Every workload on every variant.
pub fn run_all(n: u64) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for w in Workload::ALL {
        for v in variants() {
            rows.push(measure(w, &v, n).map_err(|e| format!("{} on {}: {e}", w.name(), v.name))?);
        }
    }
    Ok(rows)
}

/// The markdown table.
pub fn table(rows: &[Row], n: u64) -> String {
    let mut out = format!(
        "B-tree vs LSM tree, {n} keys of {KEY_BYTES} B with {VALUE_BYTES}-B values, transactions of {TXN_PUTS} writes; \
         every figure is a count (`cargo run --release -p logspine-bench -- amplification`).\n\n\
         | workload | index | write amp | of which WAL | of which index | 4 KiB storage reads per op | index units per get | sources per get | bloom skips per get | space amp | index memory | moves / compactions |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n"
    );
    for r in rows {
        let show = |yes: bool, x: f64| {
            if yes {
                format!("{x:.2}")
            } else {
                "–".to_owned()
            }
        };
        let writes = r.workload != Workload::RangeScans;
        let reads = matches!(r.workload, Workload::PointReads | Workload::RangeScans);
        let gets = r.workload == Workload::PointReads;
        let moves = if r.variant == "B-tree" {
            "–".to_owned()
        } else {
            format!("{} / {}", r.compactions.0, r.compactions.1)
        };
        out += &format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} | {} KiB | {moves} |\n",
            r.workload.name(),
            r.variant,
            show(writes, r.write),
            show(writes, r.wal_write),
            show(writes, r.index_write),
            show(reads, r.reads_4k_per_op),
            show(gets, r.amp.read_pages_per_lookup),
            show(gets, r.amp.sources_per_lookup),
            show(gets, r.amp.bloom_skips_per_lookup),
            r.space,
            r.index_memory_bytes / 1024,
        );
    }
    out
}
