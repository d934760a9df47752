//! Model test of the LSM tree's parts working together, against a `BTreeMap` oracle.
//!
//! Puts and deletes go into a memtable; a full memtable is frozen and flushed to an L0
//! table (table written, manifest edit appended, storage sync requested); the compaction
//! policy's choices are run through the mechanism and their edits appended (inputs
//! deleted after the edit). After every step every key's `get` and a full range scan must
//! equal the oracle, and the memtable, manifest, version, table set and disk validate.
//!
//! A crash (`SimDisk::crash`, tearing the last in-flight write) is followed by recovery:
//! the manifest is replayed, orphan tables are deleted, and every table the version lists
//! must open. The recovered version must be the version after some edit between the last
//! one known durable and the last one appended; the tables must hold exactly the oracle's
//! data as of that version's `last_flushed_lsn` (there is no WAL here, so writes above it
//! are gone, as they would be before WAL replay).
//!
//! Each seed fixes the configuration (leveled or size-tiered, sizes, fanout, block size,
//! bloom bits) and the operations. A failure prints the seed and the replay command:
//! `LOGSPINE_SEED=N cargo test -p logspine-core --test lsm_model`. More seeds:
//! `LOGSPINE_SEEDS=5000 cargo test --release -p logspine-core --test lsm_model`.

mod common;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;

use logspine_core::lsm::{
    choose, compact, orphan_tables, write_table, CompactionConfig, CompactionStyle,
    ImmutableMemtable, Manifest, ManifestConfig, Memtable, TableConfig, TableSet, Version,
    VersionEdit,
};
use logspine_core::{LogConfig, Lsn, Rng, SimDisk, SimDiskConfig, Storage, SyncLatency};

const KEYS: u64 = 48;

#[derive(Clone, Debug)]
enum Op {
    Put(u64, Vec<u8>),
    Delete(u64),
    Scan(Bound<u64>, Bound<u64>),
    /// Freeze the memtable (if not empty) and flush the oldest frozen one.
    Flush,
    /// Run the compaction the policy chooses, if any.
    Compact,
    Advance(u64),
    Crash,
}

#[derive(Clone, Debug)]
struct Setup {
    memtable_bytes: u64,
    table: TableConfig,
    compaction: CompactionConfig,
    levels: u32,
    auto_compact: bool,
}

#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    flushes: u64,
    compactions: u64,
    tiered_compactions: u64,
    deepest_level: u32,
    tombstones_dropped: u64,
    crashes: u64,
    edits_lost: u64,
    orphans_deleted: u64,
    trivial_moves: u64,
    bloom_skips: u64,
    blocks_read: u64,
    writes_lost: u64,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.flushes += o.flushes;
        self.compactions += o.compactions;
        self.tiered_compactions += o.tiered_compactions;
        self.deepest_level = self.deepest_level.max(o.deepest_level);
        self.tombstones_dropped += o.tombstones_dropped;
        self.crashes += o.crashes;
        self.edits_lost += o.edits_lost;
        self.orphans_deleted += o.orphans_deleted;
        self.trivial_moves += o.trivial_moves;
        self.bloom_skips += o.bloom_skips;
        self.blocks_read += o.blocks_read;
        self.writes_lost += o.writes_lost;
    }
}

fn key(i: u64) -> Vec<u8> {
    // Keys whose order is unrelated to their index, of varied length.
    let mut k = (i.wrapping_mul(2_654_435_761) % 1_000_003)
        .to_be_bytes()
        .to_vec();
    k.extend(std::iter::repeat_n(b'k', usize::try_from(i % 5).unwrap()));
    k
}

fn gen_setup(rng: &mut Rng) -> Setup {
    let style = if rng.below(2) == 0 {
        CompactionStyle::Leveled
    } else {
        CompactionStyle::SizeTiered
    };
    let tier_min_runs = rng.range_inclusive(2, 4);
    let compaction = CompactionConfig {
        style,
        l0_trigger: rng.range_inclusive(2, 4),
        base_level_bytes: rng.range_inclusive(1024, 4096),
        fanout: rng.range_inclusive(2, 4),
        target_file_bytes: rng.range_inclusive(400, 2048),
        tier_min_runs,
        tier_max_runs: tier_min_runs + rng.below(3),
        tier_size_ratio_percent: rng.range_inclusive(150, 400),
    };
    compaction.check().unwrap();
    Setup {
        memtable_bytes: rng.range_inclusive(200, 1200),
        table: TableConfig {
            block_bytes: u32::try_from(rng.range_inclusive(64, 512)).unwrap(),
            bloom_bits_per_key: u32::try_from(rng.range_inclusive(1, 16)).unwrap(),
        },
        compaction,
        levels: if style == CompactionStyle::Leveled {
            u32::try_from(rng.range_inclusive(3, 5)).unwrap()
        } else {
            1
        },
        auto_compact: rng.below(3) != 0,
    }
}

fn gen_op(rng: &mut Rng) -> Op {
    match rng.below(100) {
        0..=49 => {
            let mut v = vec![0; rng.index(40)];
            rng.fill(&mut v);
            Op::Put(rng.below(KEYS), v)
        }
        50..=66 => Op::Delete(rng.below(KEYS)),
        67..=71 => {
            let b = |rng: &mut Rng| match rng.below(3) {
                0 => Bound::Unbounded,
                1 => Bound::Included(rng.below(KEYS)),
                _ => Bound::Excluded(rng.below(KEYS)),
            };
            Op::Scan(b(rng), b(rng))
        }
        72..=77 => Op::Flush,
        78..=85 => Op::Compact,
        86..=97 => Op::Advance(rng.below(12)),
        _ => Op::Crash,
    }
}

fn gen_case(seed: u64) -> (Setup, Vec<Op>) {
    let mut rng = Rng::new(seed);
    let setup = gen_setup(&mut rng);
    let n = rng.range_inclusive(100, 300);
    (setup, (0..n).map(|_| gen_op(&mut rng)).collect())
}

struct World {
    setup: Setup,
    disk: SimDisk,
    manifest: Manifest,
    tables: TableSet,
    mem: Memtable,
    /// Frozen memtables, newest first.
    frozen: VecDeque<ImmutableMemtable>,
    next_lsn: u64,
    /// Every write still in the model: (lsn, key, value or deletion).
    history: Vec<(u64, Vec<u8>, Option<Vec<u8>>)>,
    oracle: BTreeMap<Vec<u8>, Vec<u8>>,
    /// `versions[i]`: the version after the manifest's first `i` edits.
    versions: Vec<Version>,
    tally: Tally,
}

fn manifest_config(setup: &Setup) -> ManifestConfig {
    ManifestConfig {
        log: LogConfig {
            segment_bytes: 512,
            ..LogConfig::new("manifest")
        },
        levels: setup.levels,
    }
}

type R<T = ()> = Result<T, String>;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl World {
    fn new(setup: Setup, seed: u64) -> R<World> {
        let mut disk = SimDisk::new(
            SimDiskConfig {
                sync_latency: SyncLatency::Uniform { min: 1, max: 15 },
                ..SimDiskConfig::default()
            },
            seed,
        );
        let (manifest, _) = Manifest::open(&mut disk, manifest_config(&setup)).map_err(err)?;
        let versions = vec![manifest.version().clone()];
        Ok(World {
            setup,
            disk,
            manifest,
            tables: TableSet::new(),
            mem: Memtable::new(),
            frozen: VecDeque::new(),
            next_lsn: 1,
            history: Vec::new(),
            oracle: BTreeMap::new(),
            versions,
            tally: Tally::default(),
        })
    }

    fn write(&mut self, k: u64, value: Option<Vec<u8>>) -> R {
        let lsn = Lsn(self.next_lsn);
        self.next_lsn += 1;
        let key = key(k);
        match &value {
            Some(v) => self.mem.put(&key, v, lsn).map_err(err)?,
            None => self.mem.delete(&key, lsn).map_err(err)?,
        }
        match &value {
            Some(v) => self.oracle.insert(key.clone(), v.clone()),
            None => self.oracle.remove(&key),
        };
        self.history.push((lsn.0, key, value));
        if self.mem.size_bytes() >= self.setup.memtable_bytes {
            self.freeze();
            // Bound the frozen queue: a real engine stalls writes here.
            while self.frozen.len() > 2 {
                self.flush_one()?;
            }
        }
        Ok(())
    }

    fn freeze(&mut self) {
        if !self.mem.is_empty() {
            let m = std::mem::take(&mut self.mem);
            self.frozen.push_front(m.freeze());
        }
    }

    fn append(&mut self, edit: &VersionEdit) -> R {
        self.manifest.append(&mut self.disk, edit).map_err(err)?;
        self.versions.push(self.manifest.version().clone());
        Ok(())
    }

    fn flush_one(&mut self) -> R {
        let Some(oldest) = self.frozen.back() else {
            return Ok(());
        };
        let id = self.manifest.version().next_table_id();
        let max_lsn = oldest.max_lsn().expect("frozen memtables are not empty");
        let meta = write_table(&mut self.disk, id, self.setup.table, oldest.iter()).map_err(err)?;
        self.append(&VersionEdit {
            added: vec![(0, meta)],
            next_table_id: Some(id.0 + 1),
            last_flushed_lsn: Some(max_lsn),
            ..VersionEdit::default()
        })?;
        self.manifest.request_sync(&mut self.disk).map_err(err)?;
        self.frozen.pop_back();
        self.tally.flushes += 1;
        self.tables
            .refresh(&self.disk, self.manifest.version())
            .map_err(err)?;
        if self.setup.auto_compact {
            for _ in 0..20 {
                if !self.compact_one()? {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Runs the policy's choice; false if there was none.
    fn compact_one(&mut self) -> R<bool> {
        let Some(choice) = choose(self.manifest.version(), &self.setup.compaction) else {
            return Ok(false);
        };
        let next = self.manifest.version().next_table_id();
        let done = compact(
            &mut self.disk,
            &choice,
            next,
            self.setup.table,
            self.setup.compaction.target_file_bytes,
        )
        .map_err(|e| format!("compaction {:?}: {e}", choice.input_ids()))?;
        self.append(&done.edit)?;
        if done.moved {
            // A trivial move: the table changed level, its file stays.
            self.tally.trivial_moves += 1;
        } else {
            for input in &choice.inputs {
                self.disk.delete(&input.table.id.file_name()).map_err(err)?;
            }
        }
        self.manifest.request_sync(&mut self.disk).map_err(err)?;
        self.tally.compactions += 1;
        if choice.output_level == 0 {
            self.tally.tiered_compactions += 1;
        }
        self.tally.deepest_level = self.tally.deepest_level.max(choice.output_level);
        self.tally.tombstones_dropped += done.stats.merge.tombstones_dropped;
        self.tables
            .refresh(&self.disk, self.manifest.version())
            .map_err(err)?;
        Ok(true)
    }

    fn drain(&mut self) {
        for c in self.disk.take_completions() {
            self.manifest.handle_sync_completion(&c);
        }
    }

    fn memtables(&self) -> Vec<&Memtable> {
        std::iter::once(&self.mem)
            .chain(self.frozen.iter().map(ImmutableMemtable::as_memtable))
            .collect()
    }

    fn scan(&self, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> R<Vec<(Vec<u8>, Vec<u8>)>> {
        let mems = self.memtables();
        let merge = self
            .tables
            .range(self.manifest.version(), &mems, lo, hi)
            .map_err(err)?;
        merge
            .iter(&self.disk)
            .map(|e| {
                let e = e.map_err(err)?;
                let v = e.value.as_put().ok_or("a tombstone in a read")?.to_vec();
                Ok((e.key, v))
            })
            .collect()
    }

    fn check(&mut self) -> R {
        self.mem.validate();
        self.frozen.iter().for_each(|m| m.validate());
        self.manifest.validate();
        let version = self.manifest.version();
        self.tables.validate(version);
        self.disk.validate();
        let mems = self.memtables();
        let (mut bloom_skips, mut blocks_read) = (0, 0);
        for k in 0..KEYS {
            let key = key(k);
            let (got, stats) = self
                .tables
                .get(&self.disk, version, &mems, &key)
                .map_err(err)?;
            if got.as_ref() != self.oracle.get(&key) {
                return Err(format!(
                    "get(key {k}) = {got:?}, oracle has {:?}",
                    self.oracle.get(&key)
                ));
            }
            bloom_skips += stats.bloom_skips;
            blocks_read += stats.blocks_read;
        }
        self.tally.bloom_skips += bloom_skips;
        self.tally.blocks_read += blocks_read;
        let all = self.scan(Bound::Unbounded, Bound::Unbounded)?;
        let want: Vec<(Vec<u8>, Vec<u8>)> = self
            .oracle
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if all != want {
            return Err(format!(
                "full scan has {} entries, oracle {}",
                all.len(),
                want.len()
            ));
        }
        Ok(())
    }

    fn crash_and_recover(&mut self) -> R {
        self.drain();
        let durable = self.manifest.durable_edits();
        let appended = self.manifest.edits();
        self.disk.crash();
        self.tally.crashes += 1;
        let (manifest, _) = Manifest::open(&mut self.disk, manifest_config(&self.setup))
            .map_err(|e| format!("manifest recovery: {e}"))?;
        let k = manifest.edits();
        if k < durable || k > appended {
            return Err(format!(
                "recovered {k} edits; {durable} were durable and {appended} appended"
            ));
        }
        let want = &self.versions[usize::try_from(k).unwrap()];
        if manifest.version() != want {
            return Err(format!(
                "the version after {k} edits differs from the recovered one"
            ));
        }
        self.tally.edits_lost += appended - k;
        for f in orphan_tables(&self.disk.list(), manifest.version()) {
            self.disk.delete(&f).map_err(err)?;
            self.tally.orphans_deleted += 1;
        }
        let mut tables = TableSet::new();
        tables
            .refresh(&self.disk, manifest.version())
            .map_err(|e| format!("a table the recovered manifest lists: {e}"))?;
        // The data as of the last flushed LSN.
        let flushed = manifest.version().last_flushed_lsn().map_or(0, |l| l.0);
        let before = self.history.len();
        self.history.retain(|(lsn, _, _)| *lsn <= flushed);
        self.tally.writes_lost += (before - self.history.len()) as u64;
        self.oracle.clear();
        for (_, key, value) in &self.history {
            match value {
                Some(v) => self.oracle.insert(key.clone(), v.clone()),
                None => self.oracle.remove(key),
            };
        }
        self.versions.truncate(usize::try_from(k).unwrap() + 1);
        self.manifest = manifest;
        self.tables = tables;
        self.mem = Memtable::new();
        self.frozen.clear();
        Ok(())
    }

    fn step(&mut self, op: &Op) -> R {
        match op {
            Op::Put(k, v) => self.write(*k, Some(v.clone()))?,
            Op::Delete(k) => self.write(*k, None)?,
            Op::Scan(lo, hi) => {
                let (lo_k, hi_k) = (lo.map(key), hi.map(key));
                let got = self.scan(
                    lo_k.as_ref().map(Vec::as_slice),
                    hi_k.as_ref().map(Vec::as_slice),
                )?;
                let inverted = match (&lo_k, &hi_k) {
                    (
                        Bound::Included(a) | Bound::Excluded(a),
                        Bound::Included(b) | Bound::Excluded(b),
                    ) => {
                        a > b
                            || (a == b
                                && !(matches!(lo_k, Bound::Included(_))
                                    && matches!(hi_k, Bound::Included(_))))
                    }
                    _ => false,
                };
                let want: Vec<(Vec<u8>, Vec<u8>)> = if inverted {
                    Vec::new()
                } else {
                    self.oracle
                        .range::<Vec<u8>, _>((lo_k.clone(), hi_k.clone()))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                };
                if got != want {
                    return Err(format!(
                        "scan {lo:?}..{hi:?}: {} entries, oracle {}",
                        got.len(),
                        want.len()
                    ));
                }
            }
            Op::Flush => {
                self.freeze();
                self.flush_one()?;
            }
            Op::Compact => {
                self.compact_one()?;
            }
            Op::Advance(t) => {
                self.disk.advance(*t);
                self.drain();
            }
            Op::Crash => self.crash_and_recover()?,
        }
        Ok(())
    }
}

fn run_seed(seed: u64) -> R<Tally> {
    let (setup, ops) = gen_case(seed);
    let mut w = World::new(setup, seed)?;
    for (i, op) in ops.iter().enumerate() {
        w.step(op).map_err(|e| format!("step {i} ({op:?}): {e}"))?;
        w.check()
            .map_err(|e| format!("after step {i} ({op:?}): {e}"))?;
    }
    // Make everything durable, crash, and nothing flushed may be lost.
    w.freeze();
    while !w.frozen.is_empty() {
        w.flush_one()?;
    }
    w.disk.settle();
    w.drain();
    let all = w.oracle.clone();
    w.crash_and_recover()
        .map_err(|e| format!("final crash: {e}"))?;
    w.check()
        .map_err(|e| format!("after the final crash: {e}"))?;
    if w.oracle != all {
        return Err("a settled crash lost flushed data".into());
    }
    Ok(w.tally)
}

#[test]
fn seeded_model_runs() {
    let default = if cfg!(target_arch = "wasm32") {
        100
    } else {
        400
    };
    let mut total = Tally::default();
    let Some(seeds) = common::for_each_seed("lsm_model", "seeded_model_runs", default, |seed| {
        total.add(&run_seed(seed)?);
        Ok(())
    }) else {
        return;
    };
    #[cfg(not(target_arch = "wasm32"))]
    println!("{seeds} seeds: {total:?}");
    // The model must reach the paths it is meant to test.
    assert!(total.flushes > 10 * seeds, "{total:?}");
    assert!(total.compactions > 2 * seeds, "{total:?}");
    assert!(
        total.tiered_compactions > 0 && total.deepest_level >= 2,
        "{total:?}"
    );
    assert!(total.tombstones_dropped > 0, "{total:?}");
    assert!(total.trivial_moves > 0, "{total:?}");
    assert!(total.crashes > seeds, "{total:?}");
    assert!(
        total.edits_lost > 0 && total.orphans_deleted > 0,
        "{total:?}"
    );
    assert!(total.bloom_skips > 0 && total.blocks_read > 0, "{total:?}");
}

#[test]
fn seeds_are_deterministic() {
    let image = |seed| {
        let (setup, ops) = gen_case(seed);
        let mut w = World::new(setup, seed).unwrap();
        for op in ops.iter().filter(|op| !matches!(op, Op::Crash)) {
            w.step(op).unwrap();
        }
        let files = w.disk.list();
        (files, w.manifest.version().clone())
    };
    assert_eq!(image(3), image(3));
    assert_ne!(image(3).1, image(4).1);
}
