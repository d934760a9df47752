//! `Lsm::explain_get` (the lookup path the playground draws) against `Lsm::get`.
//!
//! Each seed runs a small LSM tree (tiny memtables, blocks and levels, so that lookups meet
//! every kind of source) through puts, deletes and background steps. At every lookup the
//! explanation is taken first, then the real `get`; the explanation must
//! * return the same value as `get`,
//! * tally to exactly the `LookupStats` that `get` reports (memtables and tables probed,
//!   range and bloom skips, blocks read),
//! * move no counter: not `Lsm::stats`, not `Lsm::last_lookup`, not the tables' own
//!   `TableStats`,
//! * end at a `Found` step exactly when the key has an entry, and list the sources in
//!   `get`'s order (memtables newest first, then levels in order).
//!
//! A failure prints the seed: `LOGSPINE_SEED=N cargo test -p logspine-core --test lsm_explain`.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::collections::BTreeMap;

use logspine_core::lsm::table_set::{ProbeOutcome, ProbeSource};
use logspine_core::lsm::{
    CompactionConfig, CompactionStyle, Lsm, LsmConfig, ManifestConfig, TableConfig, TableSet,
    TableStats,
};
use logspine_core::{LogConfig, Lsn, Rng, SimDisk, SimDiskConfig, Storage, SyncLatency};

const KEYS: u64 = 120;

fn config(rng: &mut Rng) -> LsmConfig {
    LsmConfig {
        manifest: ManifestConfig {
            log: LogConfig {
                segment_bytes: 1024,
                ..LogConfig::new("manifest")
            },
            levels: 4,
        },
        table: TableConfig {
            block_bytes: 128,
            // Few bits per key: false positives (a block read that finds nothing) happen.
            bloom_bits_per_key: u32::try_from(rng.range_inclusive(2, 10)).unwrap(),
        },
        compaction: CompactionConfig {
            style: CompactionStyle::Leveled,
            l0_trigger: rng.range_inclusive(2, 4),
            base_level_bytes: 1024,
            fanout: 4,
            target_file_bytes: 512,
            ..CompactionConfig::default()
        },
        memtable_bytes: 400,
        max_immutable_memtables: 2,
    }
}

fn key(i: u64) -> Vec<u8> {
    format!("key{i:04}").into_bytes()
}

/// Every open table's counters, by id (from a table set of our own on the same version).
fn table_stats(tables: &TableSet, lsm: &Lsm) -> BTreeMap<u64, TableStats> {
    lsm.version()
        .levels()
        .iter()
        .flatten()
        .map(|t| (t.id.0, tables.table(t.id).expect("open").stats()))
        .collect()
}

#[derive(Default, Debug)]
struct Seen {
    lookups: u64,
    memtable_hits: u64,
    table_hits_deep: u64,
    range_skips: u64,
    bloom_skips: u64,
    false_positives: u64,
    tombstones: u64,
    absent: u64,
}

fn run(seed: u64, seen: &mut Seen) {
    let mut rng = Rng::new(seed);
    let config = config(&mut rng);
    let mut disk = SimDisk::new(
        SimDiskConfig {
            sync_latency: SyncLatency::Uniform { min: 1, max: 6 },
            ..SimDiskConfig::default()
        },
        seed,
    );
    let (mut lsm, _) = Lsm::open(&mut disk, config).unwrap();
    let mut oracle: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut lsn = 0;
    for _ in 0..1500 {
        match rng.below(100) {
            0..=49 => {
                lsn += 1;
                let k = key(rng.below(KEYS));
                let v = format!("v{lsn}").into_bytes();
                lsm.put(&mut disk, &k, &v, Lsn(lsn)).unwrap();
                oracle.insert(k, v);
            }
            50..=57 => {
                lsn += 1;
                let k = key(rng.below(KEYS));
                lsm.delete(&mut disk, &k, Lsn(lsn)).unwrap();
                oracle.remove(&k);
            }
            58..=79 => {
                disk.advance(rng.below(4));
                for c in disk.take_completions() {
                    lsm.handle_sync_completion(&c);
                }
                while lsm.step(&mut disk).unwrap().is_some() {}
            }
            _ => {
                // Keys outside the written range too (absent everywhere).
                let k = key(rng.below(KEYS + KEYS / 4));
                let stats_before = lsm.stats().clone();
                let last_before = lsm.last_lookup();
                let mut tables = TableSet::new();
                tables.refresh(&disk, lsm.version()).unwrap();
                let tstats_before = table_stats(&tables, &lsm);
                let memtables: Vec<_> = std::iter::once(lsm.active_memtable())
                    .chain(lsm.immutable_memtables())
                    .collect();
                let own = tables
                    .explain_get(&disk, lsm.version(), &memtables, &k)
                    .unwrap();
                assert_eq!(
                    table_stats(&tables, &lsm),
                    tstats_before,
                    "seed {seed}: explain_get moved a table's counters"
                );
                let e = lsm.explain_get(&disk, &k).unwrap();
                assert_eq!(e, own, "seed {seed}: Lsm and TableSet explain alike");
                assert_eq!(lsm.stats(), &stats_before, "seed {seed}: stats moved");
                assert_eq!(lsm.last_lookup(), last_before, "seed {seed}");

                let v = lsm.get(&disk, &k).unwrap();
                assert_eq!(v, e.value, "seed {seed}: value of {k:?}");
                assert_eq!(v.as_ref(), oracle.get(&k), "seed {seed}: oracle");
                assert_eq!(
                    lsm.last_lookup(),
                    e.stats(),
                    "seed {seed}: the explanation tallies to get's counters for {k:?}: {e:?}"
                );
                check_order(&e.steps, seed);

                seen.lookups += 1;
                match e.found_in() {
                    Some(ProbeSource::Memtable(_)) => seen.memtable_hits += 1,
                    Some(ProbeSource::Table { level, .. }) if level > 0 => {
                        seen.table_hits_deep += 1;
                    }
                    Some(_) => {}
                    None => seen.absent += 1,
                }
                for s in &e.steps {
                    match s.outcome {
                        ProbeOutcome::SkippedByRange => seen.range_skips += 1,
                        ProbeOutcome::SkippedByBloom => seen.bloom_skips += 1,
                        ProbeOutcome::NotFound => seen.false_positives += 1,
                        ProbeOutcome::Found {
                            tombstone: true, ..
                        } => seen.tombstones += 1,
                        _ => {}
                    }
                    assert_eq!(
                        s.read_block(),
                        matches!(s.source, ProbeSource::Table { .. })
                            && matches!(
                                s.outcome,
                                ProbeOutcome::NotFound | ProbeOutcome::Found { .. }
                            )
                    );
                }
            }
        }
        lsm.validate();
    }
}

/// Memtables first (0, 1, ...), then tables with non-decreasing levels; only the last
/// step may be `Found`; at most one table per level below L0.
fn check_order(steps: &[logspine_core::lsm::table_set::ProbeStep], seed: u64) {
    let mut memtables_done = false;
    let mut next_memtable = 0;
    let mut level = 0;
    let mut per_level: BTreeMap<u32, u32> = BTreeMap::new();
    for (i, s) in steps.iter().enumerate() {
        if matches!(s.outcome, ProbeOutcome::Found { .. }) {
            assert_eq!(i, steps.len() - 1, "seed {seed}: found before the end");
        }
        match s.source {
            ProbeSource::Memtable(m) => {
                assert!(!memtables_done, "seed {seed}: a memtable after a table");
                assert_eq!(m, next_memtable, "seed {seed}: memtables newest first");
                next_memtable += 1;
            }
            ProbeSource::Table { level: l, .. } => {
                memtables_done = true;
                assert!(l >= level, "seed {seed}: levels in order");
                level = l;
                let n = per_level.entry(l).or_default();
                *n += 1;
                assert!(l == 0 || *n == 1, "seed {seed}: two tables at L{l}");
            }
        }
    }
}

#[test]
fn explain_get_agrees_with_get_and_moves_no_counter() {
    let seeds: Vec<u64> = match std::env::var("LOGSPINE_SEED") {
        Ok(s) => vec![s.parse().expect("LOGSPINE_SEED is a number")],
        Err(_) => (0..12).collect(),
    };
    let mut seen = Seen::default();
    for seed in seeds.iter().copied() {
        run(seed, &mut seen);
    }
    if seeds.len() > 1 {
        // The runs reach every kind of step, so the agreement above means something.
        assert!(seen.lookups > 1000, "{seen:?}");
        assert!(seen.memtable_hits > 0, "{seen:?}");
        assert!(seen.table_hits_deep > 0, "{seen:?}");
        assert!(seen.range_skips > 0, "{seen:?}");
        assert!(seen.bloom_skips > 0, "{seen:?}");
        assert!(seen.false_positives > 0, "{seen:?}");
        assert!(seen.tombstones > 0, "{seen:?}");
        assert!(seen.absent > 0, "{seen:?}");
    }
}
