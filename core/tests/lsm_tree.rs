//! Model test of `Lsm`, the assembled LSM index, against a `BTreeMap` oracle, with its
//! background steps interleaved with virtual time and crashes.
//!
//! Each seed fixes the configuration (leveled or size-tiered, small memtables, tables,
//! blocks and levels so that flushes and compactions happen all the time) and a stream of
//! puts, deletes, gets, range scans, `step`s, `SimDisk::advance`s and crashes. After every
//! operation the index validates and every key and a full scan equal the oracle.
//!
//! A crash is followed by `Lsm::open`. There is no WAL here, so the index must hold exactly
//! the oracle as of the recovered `last_flushed_lsn` (rebuilt from the per-LSN history),
//! which must lie between the flushed LSN known durable before the crash and the last one
//! appended: nothing flushed and recorded is lost, nothing half-compacted shows.
//!
//! A failure prints the seed and the replay command:
//! `LOGSPINE_SEED=N cargo test -p logspine-core --test lsm_tree`. More seeds:
//! `LOGSPINE_SEEDS=5000 cargo test --release -p logspine-core --test lsm_tree`.

mod common;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::collections::BTreeMap;
use std::ops::Bound;

use logspine_core::lsm::{
    ChoiceReason, CompactionConfig, CompactionStyle, Lsm, LsmConfig, LsmEvent, ManifestConfig,
    TableConfig,
};
use logspine_core::{LogConfig, Lsn, Rng, SimDisk, SimDiskConfig, Storage, SyncLatency};

const KEYS: u64 = 48;

#[derive(Clone, Debug)]
enum Op {
    Put(u64, Vec<u8>),
    Delete(u64),
    Get(u64),
    Scan(Bound<u64>, Bound<u64>),
    /// Up to this many `step` calls.
    Step(u64),
    Advance(u64),
    Crash,
    /// Ask for a manual compaction.
    CompactNow,
}

#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    frozen: u64,
    flushes_done: u64,
    compactions_done: u64,
    tiered_compactions: u64,
    deepest_level: u32,
    tombstones_dropped: u64,
    crashes: u64,
    flushes_lost: u64,
    orphans_deleted: u64,
    bloom_skips: u64,
    writes_lost: u64,
    manual_requested: u64,
    manual_steps: u64,
    manual_done: u64,
    crash_mid_manual: u64,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.frozen += o.frozen;
        self.flushes_done += o.flushes_done;
        self.compactions_done += o.compactions_done;
        self.tiered_compactions += o.tiered_compactions;
        self.deepest_level = self.deepest_level.max(o.deepest_level);
        self.tombstones_dropped += o.tombstones_dropped;
        self.crashes += o.crashes;
        self.flushes_lost += o.flushes_lost;
        self.orphans_deleted += o.orphans_deleted;
        self.bloom_skips += o.bloom_skips;
        self.writes_lost += o.writes_lost;
        self.manual_requested += o.manual_requested;
        self.manual_steps += o.manual_steps;
        self.manual_done += o.manual_done;
        self.crash_mid_manual += o.crash_mid_manual;
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

fn gen_config(rng: &mut Rng) -> LsmConfig {
    let style = if rng.below(2) == 0 {
        CompactionStyle::Leveled
    } else {
        CompactionStyle::SizeTiered
    };
    let tier_min_runs = rng.range_inclusive(2, 4);
    let levels = if style == CompactionStyle::Leveled {
        u32::try_from(rng.range_inclusive(3, 5)).unwrap()
    } else {
        1
    };
    LsmConfig {
        manifest: ManifestConfig {
            log: LogConfig {
                segment_bytes: 512,
                ..LogConfig::new("manifest")
            },
            levels,
        },
        table: TableConfig {
            block_bytes: u32::try_from(rng.range_inclusive(64, 512)).unwrap(),
            bloom_bits_per_key: u32::try_from(rng.range_inclusive(1, 16)).unwrap(),
        },
        compaction: CompactionConfig {
            style,
            l0_trigger: rng.range_inclusive(2, 4),
            base_level_bytes: rng.range_inclusive(1024, 4096),
            fanout: rng.range_inclusive(2, 4),
            target_file_bytes: rng.range_inclusive(400, 2048),
            tier_min_runs,
            tier_max_runs: tier_min_runs + rng.below(3),
            tier_size_ratio_percent: rng.range_inclusive(150, 400),
        },
        memtable_bytes: rng.range_inclusive(200, 1200),
        max_immutable_memtables: rng.range_inclusive(1, 3),
    }
}

fn gen_op(rng: &mut Rng) -> Op {
    match rng.below(1000) {
        0..=399 => {
            let mut v = vec![0; rng.index(40)];
            rng.fill(&mut v);
            Op::Put(rng.below(KEYS), v)
        }
        400..=549 => Op::Delete(rng.below(KEYS)),
        550..=599 => Op::Get(rng.below(KEYS)),
        600..=639 => {
            let b = |rng: &mut Rng| match rng.below(3) {
                0 => Bound::Unbounded,
                1 => Bound::Included(rng.below(KEYS)),
                _ => Bound::Excluded(rng.below(KEYS)),
            };
            Op::Scan(b(rng), b(rng))
        }
        640..=829 => Op::Step(rng.range_inclusive(1, 6)),
        830..=839 => Op::CompactNow,
        840..=993 => Op::Advance(rng.below(12)),
        _ => Op::Crash,
    }
}

fn gen_case(seed: u64) -> (LsmConfig, Vec<Op>) {
    let mut rng = Rng::new(seed);
    let config = gen_config(&mut rng);
    let n = rng.range_inclusive(150, 400);
    (config, (0..n).map(|_| gen_op(&mut rng)).collect())
}

type R<T = ()> = Result<T, String>;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

struct World {
    config: LsmConfig,
    disk: SimDisk,
    lsm: Lsm,
    next_lsn: u64,
    /// Every write still in the model: (lsn, key, value or deletion).
    history: Vec<(u64, Vec<u8>, Option<Vec<u8>>)>,
    oracle: BTreeMap<Vec<u8>, Vec<u8>>,
    /// The largest flushed LSN the index has recorded (appended, maybe not durable).
    appended_flushed: Option<Lsn>,
    tally: Tally,
}

impl World {
    fn new(config: LsmConfig, seed: u64) -> R<World> {
        let mut disk = SimDisk::new(
            SimDiskConfig {
                sync_latency: SyncLatency::Uniform { min: 1, max: 15 },
                ..SimDiskConfig::default()
            },
            seed,
        );
        let (lsm, rec) = Lsm::open(&mut disk, config.clone()).map_err(err)?;
        if rec.last_flushed_lsn.is_some() || rec.tables != 0 {
            return Err("a fresh disk recovered something".into());
        }
        Ok(World {
            config,
            disk,
            lsm,
            next_lsn: 1,
            history: Vec::new(),
            oracle: BTreeMap::new(),
            appended_flushed: None,
            tally: Tally::default(),
        })
    }

    fn write(&mut self, k: u64, value: Option<Vec<u8>>) -> R {
        let lsn = Lsn(self.next_lsn);
        self.next_lsn += 1;
        let key = key(k);
        let old = match &value {
            Some(v) => self.lsm.put(&mut self.disk, &key, v, lsn),
            None => self.lsm.delete(&mut self.disk, &key, lsn),
        }
        .map_err(err)?;
        if old.as_ref() != self.oracle.get(&key) {
            return Err(format!(
                "old value of key {k}: {old:?}, oracle {:?}",
                self.oracle.get(&key)
            ));
        }
        match &value {
            Some(v) => self.oracle.insert(key.clone(), v.clone()),
            None => self.oracle.remove(&key),
        };
        self.history.push((lsn.0, key, value));
        Ok(())
    }

    fn drain(&mut self) {
        for c in self.disk.take_completions() {
            self.lsm.handle_sync_completion(&c);
        }
    }

    /// One `step`; false when it had nothing to do.
    fn step_once(&mut self) -> R<bool> {
        self.drain();
        let Some(event) = self.lsm.step(&mut self.disk).map_err(err)? else {
            return Ok(false);
        };
        match event {
            LsmEvent::MemtableFrozen { .. } => self.tally.frozen += 1,
            LsmEvent::FlushRecorded {
                last_flushed_lsn, ..
            } => self.appended_flushed = Some(last_flushed_lsn),
            LsmEvent::FlushDone { .. } => self.tally.flushes_done += 1,
            LsmEvent::CompactionPicked {
                reason: ChoiceReason::Manual { .. },
                ..
            } => self.tally.manual_steps += 1,
            LsmEvent::ManualCompactionDone { .. } => self.tally.manual_done += 1,
            LsmEvent::CompactionDone {
                output_level,
                tombstones_dropped,
                ..
            } => {
                self.tally.compactions_done += 1;
                if output_level == 0 {
                    self.tally.tiered_compactions += 1;
                }
                self.tally.deepest_level = self.tally.deepest_level.max(output_level);
                self.tally.tombstones_dropped += tombstones_dropped;
            }
            _ => {}
        }
        self.lsm.validate();
        Ok(true)
    }

    fn scan(&mut self, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> R<Vec<(Vec<u8>, Vec<u8>)>> {
        self.lsm
            .range(&self.disk, lo, hi)
            .map_err(err)?
            .map(|e| e.map_err(err))
            .collect()
    }

    fn check(&mut self) -> R {
        self.lsm.validate();
        self.disk.validate();
        for k in 0..KEYS {
            let key = key(k);
            let got = self.lsm.get(&self.disk, &key).map_err(err)?;
            if got.as_ref() != self.oracle.get(&key) {
                return Err(format!(
                    "get(key {k}) = {got:?}, oracle has {:?}",
                    self.oracle.get(&key)
                ));
            }
            self.tally.bloom_skips += self.lsm.last_lookup().bloom_skips;
        }
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
        let durable = self.lsm.durable_flushed_lsn();
        let appended = self.appended_flushed.or(durable);
        if self.lsm.job_is_manual() {
            self.tally.crash_mid_manual += 1;
        }
        self.disk.crash();
        self.tally.crashes += 1;
        let (lsm, rec) =
            Lsm::open(&mut self.disk, self.config.clone()).map_err(|e| format!("recovery: {e}"))?;
        let flushed = rec.last_flushed_lsn;
        if flushed < durable || flushed > appended {
            return Err(format!(
                "recovered last flushed {flushed:?}; {durable:?} was durable, {appended:?} appended"
            ));
        }
        if flushed < appended {
            self.tally.flushes_lost += 1;
        }
        if lsm.durable_flushed_lsn() != flushed {
            return Err("after a crash the recovered flush is durable".into());
        }
        self.tally.orphans_deleted += rec.orphans_deleted.len() as u64;
        let flushed = flushed.map_or(0, |l| l.0);
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
        self.appended_flushed = rec.last_flushed_lsn;
        self.lsm = lsm;
        Ok(())
    }

    fn apply(&mut self, op: &Op) -> R {
        match op {
            Op::Put(k, v) => self.write(*k, Some(v.clone()))?,
            Op::Delete(k) => self.write(*k, None)?,
            Op::Get(k) => {
                let got = self.lsm.get(&self.disk, &key(*k)).map_err(err)?;
                if got.as_ref() != self.oracle.get(&key(*k)) {
                    return Err(format!("get(key {k}) = {got:?}"));
                }
            }
            Op::Scan(lo, hi) => {
                let (lo_k, hi_k) = (lo.map(key), hi.map(key));
                let got = self.scan(
                    lo_k.as_ref().map(Vec::as_slice),
                    hi_k.as_ref().map(Vec::as_slice),
                )?;
                let want: Vec<(Vec<u8>, Vec<u8>)> = self
                    .oracle
                    .iter()
                    .filter(|(k, _)| {
                        let above = match &lo_k {
                            Bound::Unbounded => true,
                            Bound::Included(l) => *k >= l,
                            Bound::Excluded(l) => *k > l,
                        };
                        let below = match &hi_k {
                            Bound::Unbounded => true,
                            Bound::Included(h) => *k <= h,
                            Bound::Excluded(h) => *k < h,
                        };
                        above && below
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if got != want {
                    return Err(format!(
                        "scan {lo:?}..{hi:?}: {} entries, oracle {}",
                        got.len(),
                        want.len()
                    ));
                }
            }
            Op::Step(n) => {
                for _ in 0..*n {
                    if !self.step_once()? {
                        break;
                    }
                }
            }
            Op::Advance(t) => {
                self.disk.advance(*t);
                self.drain();
            }
            Op::Crash => self.crash_and_recover()?,
            Op::CompactNow => {
                if self.lsm.request_manual_compaction() {
                    self.tally.manual_requested += 1;
                }
            }
        }
        Ok(())
    }

    /// Steps and advances time until the index is idle (bounded: a livelock fails).
    fn settle(&mut self) -> R {
        for _ in 0..100_000 {
            if self.step_once()? {
                continue;
            }
            if self.lsm.is_idle() {
                return Ok(());
            }
            self.disk.advance(1);
        }
        Err("the index did not settle".into())
    }
}

fn run_seed(seed: u64) -> R<Tally> {
    let (config, ops) = gen_case(seed);
    let mut w = World::new(config, seed)?;
    for (i, op) in ops.iter().enumerate() {
        w.apply(op).map_err(|e| format!("op {i} ({op:?}): {e}"))?;
        w.check()
            .map_err(|e| format!("after op {i} ({op:?}): {e}"))?;
    }
    // Liveness: flush everything, let every sync land; a crash then loses nothing.
    w.settle()?;
    w.lsm.freeze();
    w.settle()?;
    w.disk.settle();
    w.drain();
    if w.lsm.durable_flushed_lsn().map_or(0, |l| l.0) != w.next_lsn - 1
        && w.history.last().is_some_and(|h| h.0 == w.next_lsn - 1)
    {
        return Err(format!(
            "settled, but only {:?} of {} is durably flushed",
            w.lsm.durable_flushed_lsn(),
            w.next_lsn - 1
        ));
    }
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
        300
    };
    let mut total = Tally::default();
    let Some(seeds) = common::for_each_seed("lsm_tree", "seeded_model_runs", default, |seed| {
        total.add(&run_seed(seed)?);
        Ok(())
    }) else {
        return;
    };
    #[cfg(not(target_arch = "wasm32"))]
    println!("{seeds} seeds: {total:?}");
    // The model must reach the paths it is meant to test.
    assert!(total.flushes_done > 3 * seeds, "{total:?}");
    assert!(total.compactions_done > seeds, "{total:?}");
    assert!(
        total.tiered_compactions > 0 && total.deepest_level >= 2,
        "{total:?}"
    );
    assert!(total.tombstones_dropped > 0, "{total:?}");
    assert!(total.crashes > seeds, "{total:?}");
    assert!(
        total.flushes_lost > 0 && total.orphans_deleted > 0 && total.writes_lost > 0,
        "{total:?}"
    );
    assert!(total.bloom_skips > 0, "{total:?}");
    assert!(
        total.manual_requested > 0
            && total.manual_steps > 0
            && total.manual_done > 0
            && total.crash_mid_manual > 0,
        "{total:?}"
    );
}

/// A manual compaction with no writes meanwhile ends with everything in one level: the
/// memtables flushed, leveled: every level above the bottom empty and the bottom no
/// shallower than before; size-tiered: one run, without tombstones. Contents unchanged,
/// before and after a crash; asking again has nothing to do.
#[test]
fn a_manual_compaction_moves_everything_to_the_bottom() {
    let default = if cfg!(target_arch = "wasm32") {
        20
    } else {
        100
    };
    common::for_each_seed(
        "lsm_tree",
        "a_manual_compaction_moves_everything_to_the_bottom",
        default,
        |seed| {
            let (config, ops) = gen_case(seed);
            let mut w = World::new(config.clone(), seed)?;
            for op in ops
                .iter()
                .filter(|op| !matches!(op, Op::Crash | Op::CompactNow))
            {
                w.apply(op)?;
            }
            w.settle()?;
            let deepest_before = (0..w.lsm.version().num_levels())
                .rev()
                .find(|&l| !w.lsm.version().level(l).is_empty());
            // Not asked (nothing to do): the end conditions below must hold already.
            let asked = w.lsm.request_manual_compaction();
            let (mut steps, mut done) = (0, 0);
            for _ in 0..100_000 {
                w.drain();
                match w.lsm.step(&mut w.disk).map_err(err)? {
                    Some(LsmEvent::CompactionPicked {
                        reason: ChoiceReason::Manual { .. },
                        ..
                    }) => steps += 1,
                    Some(LsmEvent::CompactionPicked { reason, .. }) => {
                        if w.lsm.manual_compaction_pending() {
                            return Err(format!(
                                "the policy picked {reason:?} during a manual compaction"
                            ));
                        }
                    }
                    Some(LsmEvent::FlushRecorded {
                        last_flushed_lsn, ..
                    }) => w.appended_flushed = Some(last_flushed_lsn),
                    Some(LsmEvent::ManualCompactionDone { compactions, .. }) => {
                        done += 1;
                        if compactions != steps {
                            return Err(format!("{compactions} steps reported, {steps} seen"));
                        }
                    }
                    Some(_) => {}
                    None if w.lsm.is_idle() => break,
                    None => w.disk.advance(1),
                }
                w.lsm.validate();
            }
            if asked != (done == 1) {
                return Err(format!("asked {asked}, {done} manual compactions done"));
            }
            if !w.lsm.active_memtable().is_empty() || w.lsm.immutable_memtables().count() > 0 {
                return Err("memtables not flushed".into());
            }
            let v = w.lsm.version();
            match config.compaction.style {
                CompactionStyle::Leveled => {
                    let levels: Vec<u32> = (0..v.num_levels())
                        .filter(|&l| !v.level(l).is_empty())
                        .collect();
                    if levels.len() > 1 {
                        return Err(format!("tables left in levels {levels:?}"));
                    }
                    if let (Some(&l), Some(before)) = (levels.first(), deepest_before) {
                        if l < before.max(1) {
                            return Err(format!("everything in L{l}, above L{before}"));
                        }
                    }
                }
                CompactionStyle::SizeTiered => {
                    let runs = v.level(0);
                    if runs.len() > 1 || runs.iter().any(|t| t.tombstones > 0) {
                        return Err(format!("{} runs left", runs.len()));
                    }
                }
            }
            if asked && w.lsm.request_manual_compaction() {
                return Err("a second manual compaction found something to do".into());
            }
            w.check()?;
            w.disk.settle();
            w.drain();
            let all = w.oracle.clone();
            w.crash_and_recover()?;
            w.check()?;
            if w.oracle != all {
                return Err("a crash after the manual compaction lost data".into());
            }
            Ok(())
        },
    );
}

#[test]
fn amplification_counters_move_as_expected() {
    let config = LsmConfig {
        table: TableConfig {
            block_bytes: 512,
            bloom_bits_per_key: 10,
        },
        compaction: CompactionConfig {
            l0_trigger: 2,
            base_level_bytes: 8 * 1024,
            fanout: 4,
            target_file_bytes: 4 * 1024,
            ..CompactionConfig::default()
        },
        memtable_bytes: 4 * 1024,
        ..LsmConfig::default()
    };
    let mut disk = SimDisk::new(SimDiskConfig::default(), 7);
    let (lsm, _) = Lsm::open(&mut disk, config).unwrap();
    let mut w = World {
        config: lsm.config().clone(),
        disk,
        lsm,
        next_lsn: 1,
        history: Vec::new(),
        oracle: BTreeMap::new(),
        appended_flushed: None,
        tally: Tally::default(),
    };
    // Even keys only, each written three times: overwrites make compaction work.
    let even = |i: u64| (i * 2).to_be_bytes().to_vec();
    for round in 0..3u8 {
        for i in 0..2000 {
            let lsn = Lsn(w.next_lsn);
            w.next_lsn += 1;
            w.lsm.put(&mut w.disk, &even(i), &[round; 24], lsn).unwrap();
            if i % 16 == 0 {
                w.settle().unwrap();
            }
        }
    }
    w.settle().unwrap();
    w.lsm.validate();
    let amp = w.lsm.amplification(&w.disk).unwrap();
    let stats = w.lsm.stats().clone();
    assert_eq!(stats.puts, 6000);
    assert_eq!(amp.logical_bytes_written, 6000 * (8 + 24));
    assert!(stats.flushes > 10 && stats.compactions > 2, "{stats:?}");
    assert!(amp.level_bytes_written[0] > 0 && amp.level_bytes_written[1] > 0);
    // Compaction rewrites what flushes wrote: more than one table byte per logical byte.
    assert!(amp.write() > 1.0, "write amplification {}", amp.write());
    // Every key is live once, in tables (the active memtable aside).
    assert!(amp.live_keys <= 2000 && amp.live_keys > 1000, "{amp:?}");
    assert!(amp.space() > 1.0 && amp.space().is_finite(), "{amp:?}");

    // Absent keys between present ones: key ranges do not help, bloom filters do.
    let before = w.lsm.stats().lookup;
    for i in 0..2000u64 {
        let k = (i * 2 + 1).to_be_bytes();
        assert_eq!(w.lsm.get(&w.disk, &k).unwrap(), None);
    }
    let after = w.lsm.stats().lookup;
    let probed = after.tables_probed - before.tables_probed;
    let range_skips = after.range_skips - before.range_skips;
    let bloom_skips = after.bloom_skips - before.bloom_skips;
    let blocks = after.blocks_read - before.blocks_read;
    assert!(probed > 2000, "{probed} tables probed for 2000 lookups");
    assert!(
        bloom_skips * 10 >= (probed - range_skips) * 9,
        "{bloom_skips} bloom skips of {} in-range probes",
        probed - range_skips
    );
    assert!(
        blocks * 10 < 2000,
        "{blocks} blocks read for 2000 absent keys"
    );
    // A present key costs at least one block read.
    assert_eq!(w.lsm.get(&w.disk, &even(5)).unwrap(), Some(vec![2; 24]));
    assert!(w.lsm.last_lookup().blocks_read >= 1 || w.lsm.last_lookup().memtables_probed >= 1);
    let amp = w.lsm.amplification(&w.disk).unwrap();
    #[cfg(not(target_arch = "wasm32"))]
    println!(
        "write {:.2}, space {:.2}, tables probed/lookup {:.2}, bloom skips/lookup {:.2}, \
         blocks/lookup {:.3}, {amp:?}",
        amp.write(),
        amp.space(),
        amp.tables_probed_per_lookup(),
        amp.bloom_skips_per_lookup(),
        amp.blocks_read_per_lookup()
    );
    assert!(amp.tables_probed_per_lookup() >= 1.0, "{amp:?}");
    assert!(amp.bloom_skips_per_lookup() > 0.5, "{amp:?}");
}

#[test]
fn events_follow_the_flush_and_compaction_order() {
    let (config, ops) = gen_case(11);
    let mut w = World::new(config, 11).unwrap();
    let mut events = Vec::new();
    for op in ops.iter().filter(|op| !matches!(op, Op::Crash)) {
        if let Op::Step(n) = op {
            for _ in 0..*n {
                w.drain();
                match w.lsm.step(&mut w.disk).unwrap() {
                    Some(e) => events.push(e),
                    None => break,
                }
            }
        } else {
            w.apply(op).unwrap();
        }
    }
    for _ in 0..100_000 {
        w.drain();
        match w.lsm.step(&mut w.disk).unwrap() {
            Some(e) => events.push(e),
            None if w.lsm.is_idle() => break,
            None => w.disk.advance(1),
        }
    }
    // Each flush is started, recorded, done in that order, before anything else starts;
    // each compaction picked, written, recorded, done.
    let mut expect_next: Option<&str> = None;
    for e in &events {
        let name = match e {
            LsmEvent::MemtableFrozen { .. } => continue,
            LsmEvent::FlushStarted { .. } => "flush started",
            LsmEvent::FlushRecorded { .. } => "flush recorded",
            LsmEvent::FlushDone { .. } => "flush done",
            LsmEvent::CompactionPicked { .. } => "compaction picked",
            LsmEvent::CompactionWritten { .. } => "compaction written",
            LsmEvent::CompactionRecorded { .. } => "compaction recorded",
            LsmEvent::CompactionDone { .. } => "compaction done",
            LsmEvent::ManualCompactionDone { .. } => {
                assert!(expect_next.is_none(), "a manual compaction ended mid-job");
                continue;
            }
            _ => unreachable!(),
        };
        if let Some(want) = expect_next {
            assert_eq!(name, want, "{events:?}");
        } else {
            assert!(
                name == "flush started" || name == "compaction picked",
                "{name} while idle"
            );
        }
        expect_next = match name {
            "flush started" => Some("flush recorded"),
            "flush recorded" => Some("flush done"),
            "compaction picked" => Some("compaction written"),
            "compaction written" => Some("compaction recorded"),
            "compaction recorded" => Some("compaction done"),
            _ => None,
        };
    }
    assert!(
        events
            .iter()
            .any(|e| matches!(e, LsmEvent::CompactionDone { .. })),
        "{events:?}"
    );
}

/// A lost manifest (its files deleted) with tables on disk: open refuses instead of
/// deleting every table as an orphan, and the tables are still there afterwards.
#[test]
fn a_lost_manifest_is_refused_not_taken_for_orphans() {
    let mut disk = SimDisk::new(SimDiskConfig::default(), 3);
    let config = LsmConfig {
        memtable_bytes: 256,
        ..LsmConfig::default()
    };
    let (mut lsm, _) = Lsm::open(&mut disk, config.clone()).unwrap();
    for i in 0..200u64 {
        lsm.put(&mut disk, &key(i), b"value-value-value", Lsn(i + 1))
            .unwrap();
        loop {
            disk.advance(1);
            for c in disk.take_completions() {
                lsm.handle_sync_completion(&c);
            }
            if lsm.step(&mut disk).unwrap().is_none() && disk.next_completion_at().is_none() {
                break;
            }
        }
    }
    let tables: Vec<String> = disk
        .list()
        .into_iter()
        .filter(|f| f.starts_with("sst-"))
        .collect();
    assert!(tables.len() > 1, "{tables:?}");
    // A crash with everything durable, then the manifest goes missing.
    disk.settle();
    disk.crash();
    for f in disk.list() {
        if f.starts_with("manifest") {
            disk.delete(&f).unwrap();
        }
    }
    let e = Lsm::open(&mut disk, config).unwrap_err();
    assert!(e.to_string().contains("manifest records no edit"), "{e}");
    for t in &tables {
        assert!(disk.exists(t), "{t} was deleted");
    }
}
