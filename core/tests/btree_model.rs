//! Model-based tests of the page B+tree against a `BTreeMap` oracle, with small pages
//! (512 or 1024 bytes) and a small buffer pool (8 to 16 frames) so that splits, evictions
//! and the WAL rule come into play constantly. The WAL is simulated by the test: every
//! change's page ops are encoded into a "record", the test decides when the WAL becomes
//! durable, and a crash keeps exactly the durable records. Recovery redoes them from the
//! last checkpoint (straight into the page file or through a buffer pool), then reopens
//! the tree; torn page writes are repaired from full page images.
//!
//! The same model runs three ways:
//! * many seeds with operations drawn from the core's own `Rng` (natively and in wasm);
//! * proptest-generated operation lists with shrinking (natively);
//! * one seed replayed: `LOGSPINE_SEED=N cargo test -p logspine-core --test btree_model`.
//!
//! More seeds on demand:
//! `LOGSPINE_SEEDS=20000 cargo test --release -p logspine-core --test btree_model`.
//!
//! Beside it: a redo test that replays recorded ops onto old page-file images and checks
//! the bytes, a torn page test, and a WAL-rule test.

mod common;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::collections::BTreeMap;

use logspine_core::btree::{
    decode_ops, encode_ops, max_entry_bytes, BTree, BTreeConfig, BTreeError, BufferPool, Change,
    Page, PageFile, PageFileConfig, PageId, PageOp, RedoOutcome,
};
use logspine_core::storage::read_all;
use logspine_core::{Lsn, Rng, SimDisk, SimDiskConfig, Storage, SyncLatency};

const FILE: &str = "btree.pages";

/// One step of a model run.
#[derive(Clone, Debug)]
enum Op {
    Put(u16, Vec<u8>),
    Delete(u16),
    Get(u16),
    Range(u16, Option<u16>),
    /// The WAL becomes durable through every record logged so far.
    WalSync,
    /// A storage sync (covers the page writes made so far; completes later).
    DiskSync,
    Advance(u64),
    /// A sharp checkpoint: WAL sync, new epoch, flush every dirty page, sync and settle.
    Checkpoint,
    Crash,
}

/// Everything a run depends on besides its ops.
#[derive(Clone, Debug)]
struct Setup {
    seed: u64,
    page_size: u32,
    frames: usize,
    full_page_writes: bool,
    sector_bytes: u64,
    redo_through_pool: bool,
}

impl Setup {
    fn config(&self) -> BTreeConfig {
        BTreeConfig {
            page_file: PageFileConfig {
                file: FILE.into(),
                page_size: self.page_size,
            },
            pool_frames: self.frames,
            full_page_writes: self.full_page_writes,
        }
    }

    fn disk(&self) -> SimDisk {
        SimDisk::new(
            SimDiskConfig {
                sync_latency: SyncLatency::Uniform { min: 1, max: 20 },
                sector_bytes: self.sector_bytes,
                // Without full page images a torn page cannot be repaired, so tearing is
                // only on when they are.
                tear_on_crash: self.full_page_writes,
                ..SimDiskConfig::default()
            },
            self.seed,
        )
    }
}

/// Distinct keys of 4 to 14 bytes whose order is unrelated to their index.
fn key(idx: u16) -> Vec<u8> {
    let mut k = u32::from(idx)
        .wrapping_mul(2_654_435_761)
        .to_be_bytes()
        .to_vec();
    k.extend(std::iter::repeat_n(b'k', usize::from(idx % 11)));
    k
}

fn gen_value(rng: &mut Rng, page_size: u32, idx: u16) -> Vec<u8> {
    let max = usize::try_from(max_entry_bytes(page_size)).unwrap() - key(idx).len();
    let len = if rng.below(25) == 0 {
        max
    } else {
        rng.index(40)
    };
    let mut v = vec![0; len];
    rng.fill(&mut v);
    v
}

fn gen_op(rng: &mut Rng, page_size: u32, keys: u64) -> Op {
    let k = |rng: &mut Rng| u16::try_from(rng.below(keys)).unwrap();
    match rng.below(100) {
        0..=49 => {
            let i = k(rng);
            Op::Put(i, gen_value(rng, page_size, i))
        }
        50..=61 => Op::Delete(k(rng)),
        62..=71 => Op::Get(k(rng)),
        72..=74 => Op::Range(k(rng), (rng.below(4) != 0).then(|| k(rng))),
        75..=79 => Op::WalSync,
        80..=85 => Op::DiskSync,
        86..=93 => Op::Advance(rng.below(30)),
        94..=96 => Op::Checkpoint,
        _ => Op::Crash,
    }
}

fn gen_case(seed: u64) -> (Setup, Vec<Op>) {
    let mut rng = Rng::new(seed);
    let setup = Setup {
        seed,
        page_size: if rng.below(4) == 0 { 1024 } else { 512 },
        frames: 8 + rng.index(9),
        full_page_writes: rng.below(5) != 0,
        sector_bytes: [64, 128, 512][rng.index(3)],
        redo_through_pool: rng.below(2) == 0,
    };
    let keys = 50 + rng.below(350);
    let n = 100 + rng.below(400);
    let ops = (0..n)
        .map(|_| gen_op(&mut rng, setup.page_size, keys))
        .collect();
    (setup, ops)
}

/// Paths a run went through, summed over seeds to show the tests reach them.
#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    steps: u64,
    crashes: u64,
    torn_page_writes: u64,
    repaired: u64,
    formatted: u64,
    redone: u64,
    wal_waits: u64,
    evictions: u64,
    dirty_evictions: u64,
    leaf_splits: u64,
    root_splits: u64,
    full_page_images: u64,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.steps += o.steps;
        self.crashes += o.crashes;
        self.torn_page_writes += o.torn_page_writes;
        self.repaired += o.repaired;
        self.formatted += o.formatted;
        self.redone += o.redone;
        self.wal_waits += o.wal_waits;
        self.evictions += o.evictions;
        self.dirty_evictions += o.dirty_evictions;
        self.leaf_splits += o.leaf_splits;
        self.root_splits += o.root_splits;
        self.full_page_images += o.full_page_images;
    }

    fn absorb_tree(&mut self, tree: &BTree) {
        let p = tree.pool().stats();
        let s = tree.stats();
        self.evictions += p.evictions;
        self.dirty_evictions += p.dirty_evictions;
        self.leaf_splits += s.leaf_splits;
        self.root_splits += s.root_splits;
        self.full_page_images += s.full_page_images;
    }
}

macro_rules! check {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

fn err(e: BTreeError) -> String {
    e.to_string()
}

/// The tree, the disk, the simulated WAL and the oracle.
struct World {
    setup: Setup,
    disk: SimDisk,
    tree: BTree,
    oracle: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Every logical change since the start: (LSN, key, new value or deleted).
    history: Vec<(u64, Vec<u8>, Option<Vec<u8>>)>,
    /// The WAL from the last checkpoint's redo LSN: (LSN, encoded page ops).
    wal: Vec<(u64, Vec<u8>)>,
    next_lsn: u64,
    /// Records below this LSN are durable.
    durable: u64,
    /// The last completed checkpoint's redo LSN (0: none, redo from the start).
    redo_from: u64,
    tally: Tally,
}

impl World {
    fn new(setup: Setup) -> Result<World, String> {
        let mut disk = setup.disk();
        let (tree, change) = BTree::create(&mut disk, setup.config(), Lsn(0)).map_err(err)?;
        let mut w = World {
            setup,
            disk,
            tree,
            oracle: BTreeMap::new(),
            history: Vec::new(),
            wal: Vec::new(),
            next_lsn: 0,
            durable: 0,
            redo_from: 0,
            tally: Tally::default(),
        };
        w.log(&change);
        w.wal_sync();
        Ok(w)
    }

    fn log(&mut self, change: &Change) {
        self.wal.push((self.next_lsn, encode_ops(&change.ops)));
        self.next_lsn += 1;
    }

    fn wal_sync(&mut self) {
        self.durable = self.next_lsn;
        self.tree.set_wal_durable(Lsn(self.durable));
    }

    /// Runs a tree call; if the pool cannot evict because the WAL is behind, checks that
    /// the call changed nothing, makes the WAL durable and runs it again.
    fn retry<T>(
        &mut self,
        mut f: impl FnMut(&mut BTree, &mut SimDisk, Lsn) -> Result<T, BTreeError>,
    ) -> Result<T, String> {
        match f(&mut self.tree, &mut self.disk, Lsn(self.next_lsn)) {
            Ok(t) => Ok(t),
            Err(BTreeError::NeedsWalFlush { lsn, durable }) => {
                check!(
                    durable.0 == self.durable && lsn.0 >= self.durable && lsn.0 < self.next_lsn,
                    "NeedsWalFlush names {lsn} with the WAL durable below {durable} (model: {}, next {})",
                    self.durable,
                    self.next_lsn
                );
                self.tree.validate(&self.disk);
                self.tally.wal_waits += 1;
                self.wal_sync();
                f(&mut self.tree, &mut self.disk, Lsn(self.next_lsn))
                    .map_err(|e| format!("after a WAL sync: {e}"))
            }
            Err(e) => Err(err(e)),
        }
    }

    fn check_change(&self, change: &Change, k: &[u8]) -> Result<(), String> {
        check!(
            change.old_value.as_ref() == self.oracle.get(k),
            "old value {:?}, oracle {:?}",
            change.old_value,
            self.oracle.get(k)
        );
        let mut pages: Vec<PageId> = change.ops.iter().map(PageOp::page).collect();
        pages.sort();
        pages.dedup();
        check!(
            pages.len() == change.ops.len(),
            "two ops for one page: {:?}",
            change.ops
        );
        check!(
            pages.iter().all(|p| p.0 < self.tree.meta().page_count),
            "an op past the page count"
        );
        let bytes = encode_ops(&change.ops);
        check!(
            decode_ops(&bytes).map_err(|e| e.to_string())? == change.ops,
            "ops do not roundtrip"
        );
        Ok(())
    }

    fn compare_all(&mut self) -> Result<(), String> {
        let got: Vec<(Vec<u8>, Vec<u8>)> = self.retry(|t, d, _| t.range(d, b"", None).collect())?;
        let want: Vec<(Vec<u8>, Vec<u8>)> = self
            .oracle
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        check!(
            got == want,
            "tree holds {} entries, oracle {} (first difference at {:?})",
            got.len(),
            want.len(),
            got.iter().zip(&want).position(|(a, b)| a != b)
        );
        check!(self.tree.len() == want.len() as u64, "len() disagrees");
        Ok(())
    }

    /// The WAL rule, checked on the page file itself: every page that reached it has a
    /// page LSN below the WAL's durable point, and is whole.
    fn check_page_file(&self) -> Result<(), String> {
        let Ok(bytes) = read_all(&self.disk, FILE) else {
            return Ok(());
        };
        let ps = usize::try_from(self.setup.page_size).unwrap();
        for (n, page) in bytes.chunks(ps).enumerate() {
            if page.iter().all(|&b| b == 0) {
                continue;
            }
            let lsn = u64::from_le_bytes(page[4..12].try_into().unwrap());
            check!(
                lsn < self.durable,
                "page {n} on disk has LSN {lsn}, the WAL is durable only below {}",
                self.durable
            );
        }
        Ok(())
    }

    fn step(&mut self, op: &Op) -> Result<(), String> {
        match op {
            Op::Put(i, v) => {
                let k = key(*i);
                let change = self.retry(|t, d, lsn| t.put(d, &k, v, lsn))?;
                self.check_change(&change, &k)?;
                check!(!change.ops.is_empty(), "a put with no ops");
                self.log(&change);
                self.history
                    .push((self.next_lsn - 1, k.clone(), Some(v.clone())));
                self.oracle.insert(k, v.clone());
            }
            Op::Delete(i) => {
                let k = key(*i);
                let change = self.retry(|t, d, lsn| t.delete(d, &k, lsn))?;
                self.check_change(&change, &k)?;
                check!(
                    change.ops.is_empty() == change.old_value.is_none(),
                    "ops {:?} for old value {:?}",
                    change.ops,
                    change.old_value
                );
                self.log(&change);
                self.history.push((self.next_lsn - 1, k.clone(), None));
                self.oracle.remove(&k);
            }
            Op::Get(i) => {
                let k = key(*i);
                let got = self.retry(|t, d, _| t.get(d, &k))?;
                check!(got.as_ref() == self.oracle.get(&k), "get {k:?}: {got:?}");
            }
            Op::Range(a, b) => {
                let lo = key(*a);
                let hi = b.map(key);
                let got: Vec<(Vec<u8>, Vec<u8>)> =
                    self.retry(|t, d, _| t.range(d, &lo, hi.as_deref()).collect())?;
                let want: Vec<(Vec<u8>, Vec<u8>)> = match &hi {
                    Some(hi) if *hi <= lo => Vec::new(),
                    Some(hi) => self
                        .oracle
                        .range(lo.clone()..hi.clone())
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                    None => self
                        .oracle
                        .range(lo.clone()..)
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                };
                check!(
                    got == want,
                    "range {lo:?}..{hi:?}: {} entries, oracle {}",
                    got.len(),
                    want.len()
                );
            }
            Op::WalSync => self.wal_sync(),
            Op::DiskSync => {
                self.disk.sync().map_err(|e| e.to_string())?;
            }
            Op::Advance(t) => {
                self.disk.advance(*t);
                self.disk.take_completions();
            }
            Op::Checkpoint => self.checkpoint()?,
            Op::Crash => self.crash_and_recover()?,
        }
        self.tally.steps += 1;
        self.tree.validate(&self.disk);
        self.check_page_file()
    }

    fn checkpoint(&mut self) -> Result<(), String> {
        self.wal_sync();
        let redo = self.next_lsn;
        self.tree.begin_checkpoint_epoch(Lsn(redo));
        for (page, rec_lsn) in self.tree.dirty_pages() {
            check!(
                rec_lsn.0 < redo,
                "{page} dirty since {rec_lsn}, after the redo LSN {redo}"
            );
        }
        self.tree.flush_all(&mut self.disk).map_err(err)?;
        check!(
            self.tree.dirty_pages().is_empty(),
            "dirty pages after flush_all"
        );
        self.disk.sync().map_err(|e| e.to_string())?;
        self.disk.settle();
        self.disk.take_completions();
        self.redo_from = redo;
        self.wal.retain(|(lsn, _)| *lsn >= redo);
        Ok(())
    }

    fn crash_and_recover(&mut self) -> Result<(), String> {
        let report = self.disk.crash();
        self.disk.validate();
        self.tally.crashes += 1;
        if report.torn.as_ref().is_some_and(|t| t.file == FILE) {
            self.tally.torn_page_writes += 1;
        }
        // The WAL keeps its durable records; the oracle goes back to them.
        let durable = self.durable;
        self.wal.retain(|(lsn, _)| *lsn < durable);
        self.history.retain(|(lsn, _, _)| *lsn < durable);
        self.oracle.clear();
        for (_, k, v) in &self.history {
            match v {
                Some(v) => self.oracle.insert(k.clone(), v.clone()),
                None => self.oracle.remove(k),
            };
        }
        self.next_lsn = durable;
        self.recover()
    }

    fn recover(&mut self) -> Result<(), String> {
        let cfg = self.setup.config();
        let file = PageFile::new(cfg.page_file.clone()).map_err(err)?;
        let records: Vec<(u64, Vec<PageOp>)> = self
            .wal
            .iter()
            .map(|(lsn, bytes)| decode_ops(bytes).map(|ops| (*lsn, ops)))
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        check!(
            records
                .first()
                .is_none_or(|(lsn, _)| *lsn >= self.redo_from),
            "WAL starts before the checkpoint"
        );
        let mut outcomes = Vec::new();
        if self.setup.redo_through_pool {
            let mut pool = BufferPool::new(file.clone(), cfg.pool_frames).map_err(err)?;
            pool.set_wal_durable(Lsn(self.durable));
            for (lsn, ops) in &records {
                let o = pool
                    .redo(&mut self.disk, ops, Lsn(*lsn))
                    .map_err(|e| format!("redo at lsn {lsn} through the pool: {e}"))?;
                outcomes.extend(o);
            }
            pool.flush_all(&mut self.disk).map_err(err)?;
        } else {
            for (lsn, ops) in &records {
                for op in ops {
                    let o = file
                        .redo(&mut self.disk, op, Lsn(*lsn))
                        .map_err(|e| format!("redo at lsn {lsn} of {op:?}: {e}"))?;
                    outcomes.push(o);
                }
            }
        }
        for o in &outcomes {
            match o {
                RedoOutcome::Repaired => self.tally.repaired += 1,
                RedoOutcome::Formatted => self.tally.formatted += 1,
                RedoOutcome::Applied => self.tally.redone += 1,
                RedoOutcome::Skipped { .. } => {}
            }
        }
        // Redo again: every page now holds every record, so nothing may change.
        let before = read_all(&self.disk, FILE).map_err(|e| e.to_string())?;
        for (lsn, ops) in &records {
            for op in ops {
                let o = file.redo(&mut self.disk, op, Lsn(*lsn)).map_err(err)?;
                check!(
                    matches!(o, RedoOutcome::Skipped { .. }),
                    "second redo of lsn {lsn} {op:?}: {o:?}"
                );
            }
        }
        check!(
            read_all(&self.disk, FILE).map_err(|e| e.to_string())? == before,
            "second redo changed the page file"
        );
        self.tally.absorb_tree(&self.tree);
        self.tree =
            BTree::open(&mut self.disk, cfg).map_err(|e| format!("open after recovery: {e}"))?;
        self.tree.set_wal_durable(Lsn(self.durable));
        // The first change to a page after recovery must log a full image too, because the
        // next recovery starts from the same checkpoint.
        self.tree.begin_checkpoint_epoch(Lsn(self.redo_from));
        self.tree.validate(&self.disk);
        self.compare_all()
    }
}

/// Runs one model; returns the paths it took, or a description of the first divergence.
fn run_model(setup: Setup, ops: &[Op]) -> Result<Tally, String> {
    let mut w = World::new(setup)?;
    for (step, op) in ops.iter().enumerate() {
        w.step(op)
            .map_err(|e| format!("step {step} ({op:?}): {e}"))?;
        if step % 16 == 15 {
            w.compare_all().map_err(|e| format!("step {step}: {e}"))?;
        }
    }
    w.compare_all()?;
    // A last crash: recovery must also be right from wherever the run ended.
    w.crash_and_recover()
        .map_err(|e| format!("final crash: {e}"))?;
    w.tally.absorb_tree(&w.tree);
    Ok(w.tally)
}

fn run_seed(seed: u64) -> Result<Tally, String> {
    let (setup, ops) = gen_case(seed);
    run_model(setup, &ops)
}

#[test]
fn seeded_model_runs() {
    let default = if cfg!(target_arch = "wasm32") {
        60
    } else {
        600
    };
    let mut total = Tally::default();
    let Some(seeds) = common::for_each_seed("btree_model", "seeded_model_runs", default, |seed| {
        total.add(&run_seed(seed)?);
        Ok(())
    }) else {
        return;
    };
    eprintln!("{seeds} seeds: {total:?}");
    // The model must actually reach the paths it is meant to test.
    assert!(total.crashes >= seeds, "{total:?}");
    assert!(total.leaf_splits > 5 * seeds, "{total:?}");
    assert!(2 * total.root_splits > seeds, "{total:?}");
    assert!(
        total.evictions > 10 * seeds && total.dirty_evictions > seeds,
        "{total:?}"
    );
    assert!(total.wal_waits > 0, "{total:?}");
    assert!(
        total.full_page_images > 0 && total.redone > 0 && total.formatted > 0,
        "{total:?}"
    );
    assert!(
        total.torn_page_writes > 0 && total.repaired > 0,
        "{total:?}"
    );
}

#[test]
fn seeds_are_deterministic() {
    let image = |seed| {
        let (setup, ops) = gen_case(seed);
        let mut w = World::new(setup).unwrap();
        for op in ops.iter().filter(|op| !matches!(op, Op::Crash)) {
            w.step(op).unwrap();
        }
        read_all(&w.disk, FILE).unwrap_or_default()
    };
    assert_eq!(image(3), image(3));
    assert_ne!(image(3), image(4));
}

/// Replays recorded page ops onto old images of the page file: one flushed at a point,
/// one fuzzy (whatever evictions had written, redo starting at the smallest `rec_lsn`).
/// Both must end byte for byte equal to the live tree's flushed file, and a second replay
/// of every record must change nothing.
fn redo_case(seed: u64) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let cfg = BTreeConfig {
        page_file: PageFileConfig {
            file: FILE.into(),
            page_size: 512,
        },
        pool_frames: 8,
        full_page_writes: rng.below(2) == 0,
    };
    let mut disk = SimDisk::new(SimDiskConfig::default(), seed);
    let (mut tree, change) = BTree::create(&mut disk, cfg.clone(), Lsn(0)).map_err(err)?;
    tree.set_wal_durable(Lsn(u64::MAX));
    let mut records: Vec<(u64, Vec<PageOp>)> = vec![(0, change.ops)];
    let mut oracle = BTreeMap::new();
    let n = 100 + rng.below(400);
    let flushed_at = rng.below(n);
    let fuzzy_at = rng.below(n);
    let mut flushed: Option<(SimDisk, u64)> = None;
    let mut fuzzy: Option<(SimDisk, u64)> = None;
    for step in 0..n {
        let lsn = step + 1;
        if step == flushed_at {
            tree.flush_all(&mut disk).map_err(err)?;
            flushed = Some((disk.clone(), lsn));
        }
        if step == fuzzy_at {
            let start = tree
                .dirty_pages()
                .iter()
                .map(|(_, r)| r.0)
                .min()
                .unwrap_or(lsn);
            fuzzy = Some((disk.clone(), start));
        }
        if step % 50 == 0 {
            tree.begin_checkpoint_epoch(Lsn(lsn));
        }
        let i = u16::try_from(rng.below(150)).unwrap();
        let k = key(i);
        let change = if rng.below(4) == 0 {
            oracle.remove(&k);
            tree.delete(&mut disk, &k, Lsn(lsn)).map_err(err)?
        } else {
            let v = gen_value(&mut rng, 512, i);
            oracle.insert(k.clone(), v.clone());
            tree.put(&mut disk, &k, &v, Lsn(lsn)).map_err(err)?
        };
        records.push((lsn, change.ops));
        tree.validate(&disk);
    }
    tree.flush_all(&mut disk).map_err(err)?;
    let want = read_all(&disk, FILE).map_err(|e| e.to_string())?;
    let file = PageFile::new(cfg.page_file.clone()).map_err(err)?;
    for (name, snap) in [("flushed", flushed), ("fuzzy", fuzzy)] {
        let (mut old, from) = snap.expect("both points are inside the run");
        for (lsn, ops) in records.iter().filter(|(l, _)| *l >= from) {
            for op in ops {
                file.redo(&mut old, op, Lsn(*lsn))
                    .map_err(|e| format!("{name}: redo at {lsn}: {e}"))?;
            }
        }
        let got = read_all(&old, FILE).map_err(|e| e.to_string())?;
        check!(
            got == want,
            "{name} image from lsn {from}: redo gave different bytes"
        );
        for (lsn, ops) in &records {
            for op in ops {
                let o = file.redo(&mut old, op, Lsn(*lsn)).map_err(err)?;
                check!(
                    matches!(o, RedoOutcome::Skipped { .. }),
                    "{name}: second redo of {lsn}: {o:?}"
                );
            }
        }
        check!(
            read_all(&old, FILE).map_err(|e| e.to_string())? == want,
            "{name}: second redo changed bytes"
        );
        let mut reopened = BTree::open(&mut old, cfg.clone()).map_err(err)?;
        reopened.validate(&old);
        let all: Vec<(Vec<u8>, Vec<u8>)> = reopened
            .range(&mut old, b"", None)
            .collect::<Result<_, _>>()
            .map_err(err)?;
        let expect: Vec<(Vec<u8>, Vec<u8>)> =
            oracle.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        check!(all == expect, "{name}: redone tree differs from the oracle");
    }
    Ok(())
}

#[test]
fn redo_rebuilds_the_exact_page_file_from_old_images() {
    let seeds = if cfg!(target_arch = "wasm32") {
        10
    } else {
        100
    };
    for seed in 0..seeds {
        if let Err(e) = redo_case(seed) {
            panic!("redo seed {seed}: {e}");
        }
    }
}

#[test]
fn a_torn_page_is_a_typed_error_and_a_full_page_image_repairs_it() {
    let cfg = BTreeConfig {
        page_file: PageFileConfig {
            file: FILE.into(),
            page_size: 512,
        },
        pool_frames: 8,
        full_page_writes: true,
    };
    let (mut torn, mut whole) = (0, 0);
    for seed in 0..200 {
        let mut disk = SimDisk::new(
            SimDiskConfig {
                sync_latency: SyncLatency::Fixed(10),
                sector_bytes: 64,
                tear_on_crash: true,
                ..SimDiskConfig::default()
            },
            seed,
        );
        let (mut tree, _) = BTree::create(&mut disk, cfg.clone(), Lsn(0)).unwrap();
        tree.set_wal_durable(Lsn(u64::MAX));
        for i in 0..60u16 {
            tree.put(&mut disk, &key(i), &[7; 20], Lsn(u64::from(i) + 1))
                .unwrap();
        }
        // A checkpoint: everything durable, then a new epoch.
        tree.flush_all(&mut disk).unwrap();
        disk.sync().unwrap();
        disk.settle();
        tree.begin_checkpoint_epoch(Lsn(100));
        let change = tree
            .put(&mut disk, &key(5), b"new value", Lsn(100))
            .unwrap();
        let [PageOp::Image { page, .. }] = change.ops[..] else {
            panic!(
                "the first change after a checkpoint logs a full image: {:?}",
                change.ops
            );
        };
        assert!(tree.pool_mut().flush_page(&mut disk, page).unwrap());
        disk.sync().unwrap();
        disk.crash();
        let file = PageFile::new(cfg.page_file.clone()).unwrap();
        match file.read_page(&disk, page) {
            Ok(p) => {
                // The write was lost or landed whole: the old page or the new one.
                assert!(
                    p.lsn() == Lsn(100) || p.lsn() < Lsn(61),
                    "seed {seed}: {p:?}"
                );
                whole += 1;
                continue;
            }
            Err(BTreeError::TornPage { page: p, .. }) => assert_eq!(p, page),
            Err(e) => panic!("seed {seed}: {e}"),
        }
        torn += 1;
        // Opening the tree walks it: the torn page is a typed error, not a panic.
        match BTree::open(&mut disk, cfg.clone()) {
            Err(BTreeError::TornPage { page: p, .. }) => assert_eq!(p, page),
            other => panic!("seed {seed}: open gave {other:?}"),
        }
        // Redo from the checkpoint: the full page image repairs it.
        assert_eq!(
            file.redo(&mut disk, &change.ops[0], Lsn(100)),
            Ok(RedoOutcome::Repaired)
        );
        let mut t = BTree::open(&mut disk, cfg.clone()).unwrap();
        t.validate(&disk);
        assert_eq!(
            t.get(&mut disk, &key(5)).unwrap(),
            Some(b"new value".to_vec())
        );
        assert_eq!(t.len(), 60);
    }
    assert!(torn > 20 && whole > 20, "torn {torn}, whole {whole}");
}

#[test]
fn the_wal_rule_holds_and_a_blocked_pool_is_a_typed_error() {
    let cfg = BTreeConfig {
        page_file: PageFileConfig {
            file: FILE.into(),
            page_size: 512,
        },
        pool_frames: 6,
        full_page_writes: true,
    };
    let mut disk = SimDisk::new(SimDiskConfig::default(), 5);
    let (mut tree, _) = BTree::create(&mut disk, cfg.clone(), Lsn(0)).unwrap();
    // The WAL is durable below 0: nothing may be written, so the pool fills up.
    let mut lsn = 1;
    let blocked = loop {
        assert!(lsn < 1000, "the pool never filled up");
        match tree.put(
            &mut disk,
            &key(u16::try_from(lsn).unwrap()),
            &[1; 40],
            Lsn(lsn),
        ) {
            Ok(_) => lsn += 1,
            Err(e) => break e,
        }
    };
    assert!(
        matches!(blocked, BTreeError::NeedsWalFlush { lsn: l, durable: Lsn(0) } if l.0 < lsn),
        "{blocked:?}"
    );
    assert!(!disk.exists(FILE), "not one page was written");
    assert_eq!(tree.pool().stats().pages_written, 0);
    assert_eq!(tree.len(), lsn - 1, "the failed put changed nothing");
    tree.validate(&disk);
    // Make half of it durable: only pages whose LSN is below that may be written.
    let half = lsn / 2;
    tree.set_wal_durable(Lsn(half));
    let scan = |disk: &SimDisk, durable: u64| {
        let bytes = read_all(disk, FILE).unwrap_or_default();
        for (n, page) in bytes.chunks(512).enumerate() {
            let page_lsn = u64::from_le_bytes(page[4..12].try_into().unwrap());
            assert!(
                page.iter().all(|&b| b == 0) || page_lsn < durable,
                "page {n} on disk has LSN {page_lsn}, WAL durable below {durable}"
            );
        }
    };
    let mut durable = half;
    for _ in 0..300 {
        match tree.put(
            &mut disk,
            &key(u16::try_from(lsn).unwrap()),
            &[2; 40],
            Lsn(lsn),
        ) {
            Ok(_) => lsn += 1,
            Err(BTreeError::NeedsWalFlush { .. }) => {
                durable = lsn;
                tree.set_wal_durable(Lsn(durable));
            }
            Err(e) => panic!("{e}"),
        }
        scan(&disk, durable);
        tree.validate(&disk);
    }
    let s = tree.pool().stats();
    assert!(s.dirty_evictions > 0 && s.wal_rule_skips > 0, "{s:?}");
    // Everything pinned: the pool cannot make room and says so.
    tree.set_wal_durable(Lsn(u64::MAX));
    let resident: Vec<PageId> = tree.pool().frames().iter().map(|f| f.page).collect();
    assert_eq!(resident.len(), 6);
    for &p in &resident {
        tree.pool_mut().pin(&mut disk, p).unwrap();
    }
    let far = (1..tree.meta().page_count)
        .map(PageId)
        .find(|p| !resident.contains(p))
        .unwrap();
    assert_eq!(
        tree.pool_mut().fetch(&mut disk, far).map(|_| ()),
        Err(BTreeError::NoEvictablePage {
            frames: 6,
            pinned: 6
        })
    );
    for &p in &resident {
        tree.pool_mut().unpin(p);
    }
    tree.pool_mut().fetch(&mut disk, far).unwrap();
    tree.validate(&disk);
}

/// A B-tree of 300 keys on 512-byte pages, flushed: its config and page file.
fn three_hundred_keys() -> (BTreeConfig, Vec<u8>) {
    let cfg = BTreeConfig {
        page_file: PageFileConfig {
            file: FILE.into(),
            page_size: 512,
        },
        pool_frames: 8,
        full_page_writes: true,
    };
    let mut disk = SimDisk::new(SimDiskConfig::default(), 9);
    let (mut tree, _) = BTree::create(&mut disk, cfg.clone(), Lsn(0)).unwrap();
    tree.set_wal_durable(Lsn(u64::MAX));
    for i in 0..300u16 {
        tree.put(&mut disk, &key(i), &[3; 12], Lsn(u64::from(i) + 1))
            .unwrap();
    }
    tree.flush_all(&mut disk).unwrap();
    (cfg, read_all(&disk, FILE).unwrap())
}

/// A root whose first two children are the same page (a well-formed page, its checksum
/// right): opening walks the tree and refuses it, naming the page reached twice.
#[test]
fn a_page_reachable_twice_is_a_corrupt_tree() {
    let (cfg, mut bytes) = three_hundred_keys();
    let root = Page::decode(PageId::META, bytes[..512].to_vec())
        .unwrap()
        .meta()
        .root;
    let at = usize::try_from(root.0).unwrap() * 512;
    let page = Page::decode(root, bytes[at..at + 512].to_vec()).unwrap();
    let mut entries = page.internal_entries();
    assert!(!entries.is_empty(), "the root is an internal page");
    let twice = page.leftmost_child();
    entries[0].1 = twice;
    let mut damaged = Page::build_internal(root, 512, page.lsn(), twice, &entries);
    damaged.seal();
    bytes[at..at + 512].copy_from_slice(damaged.bytes());
    let mut d = SimDisk::new(SimDiskConfig::default(), 1);
    d.write(FILE, 0, &bytes).unwrap();
    match BTree::open(&mut d, cfg) {
        Err(BTreeError::CorruptTree { page, reason }) => {
            assert_eq!((page, reason.as_str()), (twice, "page reachable twice"));
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a tree with a page reachable twice opened"),
    }
}

/// Damage one page of a valid page file (noise, or changes with the checksum fixed up so
/// the format and tree checks must catch them): opening gives a typed error, never a
/// panic; and a tree that opens anyway is valid and serves reads and writes.
#[test]
fn a_corrupt_page_file_is_a_typed_error_never_a_panic() {
    let (cfg, good) = three_hundred_keys();
    let pages = good.len() / 512;
    assert!(pages > 20);
    let mut rng = Rng::new(0xC0FFEE);
    let (mut opened, mut refused) = (0, 0);
    let rounds = if cfg!(target_arch = "wasm32") {
        300
    } else {
        3000
    };
    for round in 0..rounds {
        let mut bytes = good.clone();
        let page = rng.index(pages);
        let chunk = &mut bytes[page * 512..(page + 1) * 512];
        for _ in 0..1 + rng.below(3) {
            // Half the time aim at the header and slot array, where it hurts most.
            let at = if rng.below(2) == 0 {
                4 + rng.index(60)
            } else {
                4 + rng.index(508)
            };
            chunk[at] = rng.next_u64().to_le_bytes()[0];
        }
        if round % 4 != 0 {
            let crc = logspine_core::crc32c::checksum(&chunk[4..]);
            chunk[0..4].copy_from_slice(&crc.to_le_bytes());
        }
        let mut d = SimDisk::new(SimDiskConfig::default(), round);
        d.write(FILE, 0, &bytes).unwrap();
        match BTree::open(&mut d, cfg.clone()) {
            Ok(mut t) => {
                opened += 1;
                t.validate(&d);
                t.set_wal_durable(Lsn(u64::MAX));
                for i in (0..300u16).step_by(7) {
                    t.get(&mut d, &key(i)).unwrap();
                }
                let n = t.range(&mut d, b"", None).map(Result::unwrap).count();
                assert_eq!(n as u64, t.len(), "round {round}");
                let lsn = Lsn(t.last_lsn().0 + 1);
                t.put(&mut d, b"after", b"damage", lsn).unwrap();
                t.validate(&d);
            }
            Err(
                BTreeError::TornPage { .. }
                | BTreeError::CorruptPage { .. }
                | BTreeError::CorruptTree { .. },
            ) => refused += 1,
            Err(e) => panic!("round {round}: unexpected error {e}"),
        }
    }
    assert!(
        opened > 50 && refused > 50,
        "opened {opened}, refused {refused}"
    );
}

#[cfg(not(target_arch = "wasm32"))]
mod prop {
    use super::*;
    use proptest::prelude::*;

    fn op() -> impl Strategy<Value = Op> {
        let value = proptest::collection::vec(any::<u8>(), 0..60);
        prop_oneof![
            10 => (0u16..120, value).prop_map(|(k, v)| Op::Put(k, v)),
            4 => (0u16..120).prop_map(Op::Delete),
            2 => (0u16..120).prop_map(Op::Get),
            1 => (0u16..120, proptest::option::of(0u16..120)).prop_map(|(a, b)| Op::Range(a, b)),
            3 => Just(Op::WalSync),
            2 => Just(Op::DiskSync),
            2 => (0u64..30).prop_map(Op::Advance),
            1 => Just(Op::Checkpoint),
            1 => Just(Op::Crash),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]
        #[test]
        fn btree_matches_btreemap_across_crashes(
            seed in any::<u64>(),
            ops in proptest::collection::vec(op(), 1..200),
            frames in 8usize..=12,
            sector_bytes in prop_oneof![Just(64u64), Just(512)],
            redo_through_pool in any::<bool>(),
        ) {
            let setup = Setup {
                seed,
                page_size: 512,
                frames,
                full_page_writes: true,
                sector_bytes,
                redo_through_pool,
            };
            if let Err(e) = run_model(setup, &ops) {
                return Err(TestCaseError::fail(e));
            }
        }
    }
}
