//! Compaction policy as a table of cases (version in, choice out), and the mechanism on
//! real tables: merge, newest wins, tombstones dropped only when allowed, outputs split at
//! the target size, the edit applies to the version.
//!
//! A case's version is written as levels of tables `id:min-max:size` (L0 newest first).
//! The expected choice is a line: `reason -> L<out> [input ids] drop=<bool>`.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::collections::BTreeMap;
use std::ops::Bound;

use logspine_core::lsm::{
    choose, choose_manual, compact, manual_bottom, write_table, Choice, ChoiceReason,
    CompactionConfig, CompactionStyle, Entry, Manifest, ManifestConfig, Memtable, TableConfig,
    TableId, TableMeta, TableSet, Value, Version, VersionEdit,
};
use logspine_core::{Lsn, SimDisk, SimDiskConfig, Storage};

fn parse_table(spec: &str, lsn: u64) -> TableMeta {
    let mut parts = spec.split(':');
    let id: u64 = parts.next().unwrap().parse().unwrap();
    let (lo, hi) = parts.next().unwrap().split_once('-').unwrap();
    let size: u64 = parts.next().unwrap().parse().unwrap();
    TableMeta {
        id: TableId(id),
        size_bytes: size,
        entries: 1,
        tombstones: 0,
        min_key: lo.as_bytes().to_vec(),
        max_key: hi.as_bytes().to_vec(),
        min_lsn: Lsn(lsn),
        max_lsn: Lsn(lsn),
    }
}

/// `levels[i]` is the space-separated tables of level i.
fn version(num_levels: u32, levels: &[&str]) -> Version {
    let mut v = Version::new(num_levels).unwrap();
    let mut edit = VersionEdit::default();
    let mut max_id = 0;
    for (l, spec) in levels.iter().enumerate() {
        let tables: Vec<&str> = spec.split_whitespace().collect();
        let n = tables.len() as u64;
        for (i, t) in tables.iter().enumerate() {
            // L0 is newest first: the first table gets the highest LSN.
            let lsn = if l == 0 { 1000 + n - i as u64 } else { 1 };
            let meta = parse_table(t, lsn);
            max_id = max_id.max(meta.id.0);
            edit.added.push((u32::try_from(l).unwrap(), meta));
        }
    }
    edit.next_table_id = Some(max_id + 1);
    edit.last_flushed_lsn = Some(Lsn(10_000));
    v.apply(&edit).unwrap();
    v.validate();
    v
}

fn describe(c: &Option<Choice>) -> String {
    let Some(c) = c else {
        return "none".into();
    };
    let reason = match &c.reason {
        ChoiceReason::L0Files { files, trigger } => format!("L0 files {files}/{trigger}"),
        ChoiceReason::LevelSize {
            level,
            bytes,
            target_bytes,
        } => format!("L{level} size {bytes}/{target_bytes}"),
        ChoiceReason::Tier { runs, bytes } => format!("tier {runs} runs {bytes} bytes"),
        ChoiceReason::Manual { level, bottom } => format!("manual L{level} to L{bottom}"),
    };
    format!(
        "{reason} -> L{} {:?} drop={}",
        c.output_level,
        c.input_ids(),
        c.drop_tombstones
    )
}

fn leveled() -> CompactionConfig {
    CompactionConfig {
        style: CompactionStyle::Leveled,
        l0_trigger: 4,
        base_level_bytes: 1000,
        fanout: 10,
        target_file_bytes: 500,
        ..CompactionConfig::default()
    }
}

fn tiered() -> CompactionConfig {
    CompactionConfig {
        style: CompactionStyle::SizeTiered,
        tier_min_runs: 3,
        tier_max_runs: 4,
        tier_size_ratio_percent: 200,
        ..CompactionConfig::default()
    }
}

#[test]
fn policy_cases() {
    // (name, config, levels, level specs, expected)
    let cases: &[(&str, CompactionConfig, u32, &[&str], &str)] = &[
        ("empty", leveled(), 4, &[], "none"),
        (
            "L0 below its trigger",
            leveled(),
            4,
            &["3:a-c:10 2:b-d:10 1:x-z:10"],
            "none",
        ),
        (
            "L0 at its trigger takes all of L0 and the L1 tables it overlaps; L2 overlaps",
            leveled(),
            4,
            &[
                "4:b-c:10 3:c-e:10 2:d-d:10 1:a-b:10",
                "10:a-b:100 11:c-f:100 12:g-k:100 13:w-z:100",
                "20:e-h:100",
            ],
            "L0 files 4/4 -> L1 [4, 3, 2, 1, 10, 11] drop=false",
        ),
        (
            "L0 at its trigger, nothing deeper: tombstones go",
            leveled(),
            4,
            &["4:b-c:10 3:c-e:10 2:d-d:10 1:a-b:10", "12:g-k:100"],
            "L0 files 4/4 -> L1 [4, 3, 2, 1] drop=true",
        ),
        (
            "L1 over target picks the table with the smallest overlap ratio",
            leveled(),
            4,
            &[
                "2:a-z:10",
                "10:a-b:400 11:c-f:400 12:g-k:400",
                "20:a-c:300 21:d-h:5000",
            ],
            "L1 size 1200/1000 -> L2 [10, 20] drop=true",
        ),
        (
            "equal scores go to the lower level",
            leveled(),
            4,
            &["4:a-a:1 3:b-b:1 2:c-c:1 1:d-d:1", "10:a-b:1000"],
            "L0 files 4/4 -> L1 [4, 3, 2, 1, 10] drop=true",
        ),
        (
            "the higher score wins",
            leveled(),
            4,
            &["4:a-a:1 3:b-b:1 2:c-c:1 1:d-d:1", "10:a-b:1500 11:x-z:1500"],
            "L1 size 3000/1000 -> L2 [10] drop=true",
        ),
        (
            "the last level is never compacted",
            leveled(),
            2,
            &["", "10:a-b:100000"],
            "none",
        ),
        (
            "L2 over 10x base: zero-overlap ties go to the smallest key, into the last level",
            leveled(),
            4,
            &["", "", "20:m-p:6000 21:a-c:6000", ""],
            "L2 size 12000/10000 -> L3 [21] drop=true",
        ),
        (
            "tier: the newest similar runs, not the oldest, so tombstones stay",
            tiered(),
            1,
            &["4:a-z:100 3:a-z:110 2:a-z:90 1:a-z:1000"],
            "tier 3 runs 300 bytes -> L0 [4, 3, 2] drop=false",
        ),
        (
            "tier: a window that includes the oldest run drops tombstones",
            tiered(),
            1,
            &["4:a-z:1000 3:a-z:100 2:a-z:110 1:a-z:90"],
            "tier 3 runs 300 bytes -> L0 [3, 2, 1] drop=true",
        ),
        (
            "tier: but not when another level holds data",
            tiered(),
            2,
            &["4:a-z:1000 3:a-z:100 2:a-z:110 1:a-z:90", "9:q-r:5"],
            "tier 3 runs 300 bytes -> L0 [3, 2, 1] drop=false",
        ),
        (
            "tier: no three similar adjacent runs",
            tiered(),
            1,
            &["4:a-z:100 3:a-z:1000 2:a-z:100 1:a-z:1000"],
            "none",
        ),
        (
            "tier: at most max runs; equal windows go to the oldest",
            tiered(),
            1,
            &["6:a-z:10 5:a-z:10 4:a-z:10 3:a-z:10 2:a-z:10 1:a-z:10"],
            "tier 4 runs 40 bytes -> L0 [4, 3, 2, 1] drop=true",
        ),
        (
            "tier: more runs beat fewer bytes",
            tiered(),
            1,
            &["7:a-z:50 6:a-z:50 5:a-z:50 4:a-z:400 3:a-z:400 2:a-z:400 1:a-z:400"],
            "tier 4 runs 1600 bytes -> L0 [4, 3, 2, 1] drop=true",
        ),
    ];
    let mut failures = Vec::new();
    for (name, config, levels, specs, want) in cases {
        config.check().unwrap();
        let v = version(*levels, specs);
        let got = describe(&choose(&v, config));
        // Pure: the same version gives the same choice.
        assert_eq!(got, describe(&choose(&v.clone(), config)));
        if got != *want {
            failures.push(format!("{name}\n  want {want}\n  got  {got}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// The manual policy, step by step: the bottom it aims at, then each step from the level
/// after the previous one (the next call starts where the step before left off).
#[test]
fn manual_cases() {
    /// (name, config, levels, level specs, expected bottom, expected first step)
    type Case<'a> = (&'a str, CompactionConfig, u32, &'a [&'a str], u32, &'a str);
    let cases: &[Case<'_>] = &[
        ("empty: nothing", leveled(), 4, &[], 1, "none"),
        (
            "only L0: into L1, tombstones go (nothing deeper)",
            leveled(),
            4,
            &["2:a-c:10 1:b-d:10"],
            1,
            "manual L0 to L1 -> L1 [2, 1] drop=true",
        ),
        (
            "already all in the bottom level: nothing (the bottom is not rewritten)",
            leveled(),
            4,
            &["", "", "5:a-c:10 6:d-f:10"],
            2,
            "none",
        ),
        (
            "L0 and L2: L0 whole into L1 (skipping nothing), keeping tombstones over L2",
            leveled(),
            4,
            &["2:a-c:10 1:m-p:10", "", "20:b-e:100"],
            2,
            "manual L0 to L2 -> L1 [2, 1] drop=false",
        ),
        (
            "an empty L0 is skipped: L1 whole with the L2 tables it overlaps",
            leveled(),
            4,
            &["", "10:a-c:10 11:f-h:10", "20:b-d:100 21:x-z:100"],
            2,
            "manual L1 to L2 -> L2 [10, 11, 20] drop=true",
        ),
        (
            "one table, nothing below it overlapping: a trivial move",
            leveled(),
            4,
            &["", "10:a-c:10", "20:x-z:100"],
            2,
            "manual L1 to L2 -> L2 [10] drop=true",
        ),
        (
            "size-tiered: every run into one",
            tiered(),
            1,
            &["3:a-z:10 2:a-z:400 1:a-z:10"],
            0,
            "manual L0 to L0 -> L0 [3, 2, 1] drop=true",
        ),
        (
            "size-tiered, one run without tombstones: nothing",
            tiered(),
            1,
            &["3:a-z:10"],
            0,
            "none",
        ),
    ];
    let mut failures = Vec::new();
    for (name, config, levels, specs, bottom, want) in cases {
        let v = version(*levels, specs);
        let b = manual_bottom(&v, config);
        let got = describe(&choose_manual(&v, 0, b).map(|(_, c)| c));
        if b != *bottom || got != *want {
            failures.push(format!(
                "{name}\n  want L{bottom}: {want}\n  got  L{b}: {got}"
            ));
        }
        // Pure, and resumable: after the step at level l, the next starts below it.
        if let Some((l, c)) = choose_manual(&v, 0, b) {
            assert_eq!(Some((l, c)), choose_manual(&v.clone(), 0, b));
            let later = choose_manual(&v, l + 1, b);
            assert!(later.is_none_or(|(l2, _)| l2 > l), "{name}");
        }
    }
    // A single run holding tombstones is rewritten to drop them.
    let mut v = Version::new(1).unwrap();
    let mut t = parse_table("1:a-z:10", 5);
    t.tombstones = 1;
    let edit = VersionEdit {
        added: vec![(0, t)],
        next_table_id: Some(2),
        last_flushed_lsn: Some(Lsn(10)),
        ..VersionEdit::default()
    };
    v.apply(&edit).unwrap();
    assert_eq!(
        describe(&choose_manual(&v, 0, 0).map(|(_, c)| c)),
        "manual L0 to L0 -> L0 [1] drop=true"
    );
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn bad_configs_are_refused() {
    let bad = [
        CompactionConfig {
            l0_trigger: 0,
            ..leveled()
        },
        CompactionConfig {
            fanout: 1,
            ..leveled()
        },
        CompactionConfig {
            target_file_bytes: 0,
            ..leveled()
        },
        CompactionConfig {
            tier_min_runs: 1,
            ..tiered()
        },
        CompactionConfig {
            tier_max_runs: 2,
            ..tiered()
        },
        CompactionConfig {
            tier_size_ratio_percent: 50,
            ..tiered()
        },
    ];
    for c in bad {
        assert!(c.check().is_err(), "{c:?}");
    }
    assert_eq!(leveled().level_target_bytes(1), 1000);
    assert_eq!(leveled().level_target_bytes(3), 100_000);
}

fn entry(key: &str, lsn: u64, value: Option<&str>) -> Entry {
    Entry {
        key: key.as_bytes().to_vec(),
        lsn: Lsn(lsn),
        value: value.map_or(Value::Tombstone, |v| Value::Put(v.as_bytes().to_vec())),
    }
}

/// Flushes `entries` as the next L0 table through the manifest.
fn flush(disk: &mut SimDisk, m: &mut Manifest, entries: Vec<Entry>, config: TableConfig) {
    let id = m.version().next_table_id();
    let max_lsn = entries.iter().map(|e| e.lsn).max().unwrap();
    let meta = write_table(disk, id, config, entries).unwrap();
    m.append(
        disk,
        &VersionEdit {
            added: vec![(0, meta)],
            next_table_id: Some(id.0 + 1),
            last_flushed_lsn: Some(max_lsn),
            ..VersionEdit::default()
        },
    )
    .unwrap();
}

#[test]
fn compact_merges_splits_and_drops_tombstones_only_when_told() {
    let mut disk = SimDisk::new(SimDiskConfig::default(), 1);
    let (mut m, _) = Manifest::open(&mut disk, ManifestConfig::default()).unwrap();
    let tc = TableConfig {
        block_bytes: 128,
        bloom_bits_per_key: 10,
    };
    // Older: 100 keys. Newer: overwrites of even keys, tombstones of keys divisible by 3.
    let older: Vec<Entry> = (0..100)
        .map(|i| entry(&format!("k{i:03}"), i, Some(&format!("old{i}"))))
        .collect();
    let newer: Vec<Entry> = (0..100)
        .filter(|i| i % 2 == 0 || i % 3 == 0)
        .map(|i| {
            let v = (i % 3 != 0).then(|| format!("new{i}"));
            entry(&format!("k{i:03}"), 1000 + i, v.as_deref())
        })
        .collect();
    flush(&mut disk, &mut m, older, tc);
    flush(&mut disk, &mut m, newer, tc);
    let config = CompactionConfig {
        l0_trigger: 2,
        target_file_bytes: 600,
        ..leveled()
    };
    let choice = choose(m.version(), &config).expect("L0 at its trigger");
    assert_eq!(choice.input_ids(), [1, 0]);
    for drop in [false, true] {
        let c = Choice {
            drop_tombstones: drop,
            ..choice.clone()
        };
        let next = m.version().next_table_id();
        let done = compact(&mut disk, &c, next, tc, config.target_file_bytes).unwrap();
        assert!(done.outputs.len() > 2, "split at the target size");
        for w in done.outputs.windows(2) {
            assert!(w[0].max_key < w[1].min_key, "outputs sorted and disjoint");
        }
        let tombstones: u64 = done.outputs.iter().map(|t| t.tombstones).sum();
        let entries: u64 = done.outputs.iter().map(|t| t.entries).sum();
        let deleted = (0..100).filter(|i| i % 3 == 0).count() as u64;
        if drop {
            assert_eq!((entries, tombstones), (100 - deleted, 0));
            assert_eq!(done.stats.merge.tombstones_dropped, deleted);
        } else {
            assert_eq!((entries, tombstones), (100, deleted));
        }
        assert_eq!(
            done.stats.merge.shadowed,
            (0..100).filter(|i| i % 2 == 0 || i % 3 == 0).count() as u64
        );
        assert_eq!(done.stats.input_tables, 2);
        // The edit applies to a copy of the version; the data reads back right.
        let mut v = m.version().clone();
        v.apply(&done.edit).unwrap();
        v.validate();
        assert!(v.level(0).is_empty());
        assert_eq!(v.level(1).len(), done.outputs.len());
        let mut set = TableSet::new();
        set.refresh(&disk, &v).unwrap();
        set.validate(&v);
        let empty = Memtable::new();
        let live: BTreeMap<Vec<u8>, Vec<u8>> = set
            .range(&v, &[&empty], Bound::Unbounded, Bound::Unbounded)
            .unwrap()
            .iter(&disk)
            .map(|e| {
                let e = e.unwrap();
                (e.key, e.value.as_put().unwrap().to_vec())
            })
            .collect();
        assert_eq!(live.len() as u64, 100 - deleted);
        for i in 0..100u64 {
            let key = format!("k{i:03}");
            let want = if i % 3 == 0 {
                None
            } else if i % 2 == 0 {
                Some(format!("new{i}"))
            } else {
                Some(format!("old{i}"))
            };
            let (got, _) = set.get(&disk, &v, &[], key.as_bytes()).unwrap();
            assert_eq!(got, want.map(String::into_bytes), "{key}");
        }
    }
}

/// One L0 table and nothing in L1 to merge it with: the compaction is a trivial move —
/// the edit lists the same table one level down, no file is written, and it reads back
/// the same. With a tombstone that the move would have to drop, it is a real merge.
#[test]
fn single_input_with_nothing_below_is_a_trivial_move() {
    let tc = TableConfig {
        block_bytes: 128,
        bloom_bits_per_key: 10,
    };
    let config = CompactionConfig {
        l0_trigger: 1,
        ..leveled()
    };
    for with_tombstone in [false, true] {
        let mut disk = SimDisk::new(SimDiskConfig::default(), 1);
        let (mut m, _) = Manifest::open(&mut disk, ManifestConfig::default()).unwrap();
        let mut entries: Vec<Entry> = (0..40)
            .map(|i| entry(&format!("k{i:03}"), i + 1, Some("v")))
            .collect();
        if with_tombstone {
            entries.push(entry("k999", 100, None));
        }
        flush(&mut disk, &mut m, entries, tc);
        let choice = choose(m.version(), &config).expect("L0 at its trigger");
        assert_eq!(choice.input_ids(), [0]);
        assert!(choice.drop_tombstones, "nothing below L1");
        let files_before = disk.list();
        let next = m.version().next_table_id();
        let done = compact(&mut disk, &choice, next, tc, config.target_file_bytes).unwrap();
        let mut v = m.version().clone();
        v.apply(&done.edit).unwrap();
        v.validate();
        assert!(v.level(0).is_empty());
        if with_tombstone {
            assert!(choice.trivial_move().is_none());
            assert!(!done.moved);
            assert_eq!(done.stats.merge.tombstones_dropped, 1);
            assert_ne!(v.level(1)[0].id, TableId(0), "rewritten");
        } else {
            assert!(choice.trivial_move().is_some());
            assert!(done.moved);
            assert_eq!(disk.list(), files_before, "no file written");
            assert_eq!((done.stats.input_bytes, done.stats.output_bytes), (0, 0));
            assert_eq!(v.level(1), &[m.version().level(0)[0].clone()][..]);
        }
        let mut set = TableSet::new();
        set.refresh(&disk, &v).unwrap();
        let (got, _) = set.get(&disk, &v, &[], b"k007").unwrap();
        assert_eq!(got.as_deref(), Some(&b"v"[..]));
    }
}
