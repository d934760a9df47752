//! SSTables under damage: seeded random corruption (bit flips, overwritten ranges, zeroed
//! ranges, truncation, garbage appended), every truncation length, pure garbage, and
//! (natively) proptest mutations. Opening and reading a damaged table gives a typed
//! [`LsmError::CorruptTable`] or the table's true contents — never a panic and never
//! wrong data (every byte of a table is covered by a CRC32C or checked exactly).
//!
//! A failing round prints its seed; replay one with
//! `LOGSPINE_SEED=N cargo test -p logspine-core --test lsm_sstable`.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::ops::Bound;

use logspine_core::lsm::{
    write_table, Entry, LsmError, Probe, Table, TableConfig, TableCorruption, TableId, Value,
};
use logspine_core::storage::read_all;
use logspine_core::{Lsn, Rng, SimDisk, SimDiskConfig, Storage};

const ID: TableId = TableId(4);

fn entries(rng: &mut Rng, n: usize) -> Vec<Entry> {
    let mut keys: Vec<Vec<u8>> = (0..n)
        .map(|_| {
            let mut k = vec![0; 1 + rng.index(12)];
            rng.fill(&mut k);
            k
        })
        .collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .enumerate()
        .map(|(i, key)| Entry {
            key,
            lsn: Lsn(100 + i as u64),
            value: if rng.below(5) == 0 {
                Value::Tombstone
            } else {
                let mut v = vec![0; rng.index(60)];
                rng.fill(&mut v);
                Value::Put(v)
            },
        })
        .collect()
}

fn healthy(seed: u64) -> (SimDisk, Vec<Entry>) {
    let mut rng = Rng::new(seed);
    let mut disk = SimDisk::new(SimDiskConfig::default(), seed);
    let es = entries(&mut rng, 200);
    let config = TableConfig {
        block_bytes: 256 + 64 * u32::try_from(rng.below(8)).unwrap(),
        bloom_bits_per_key: 1 + u32::try_from(rng.below(16)).unwrap(),
    };
    write_table(&mut disk, ID, config, es.clone()).unwrap();
    (disk, es)
}

fn is_corrupt(e: &LsmError) -> bool {
    matches!(e, LsmError::CorruptTable { .. })
}

/// Opens the table in `disk` and reads it every way; every answer must be a corruption
/// error or the truth. Returns whether open succeeded.
fn check_damaged(disk: &SimDisk, truth: &[Entry], rng: &mut Rng) -> Result<bool, String> {
    let t = match Table::open(disk, ID) {
        Ok(t) => t,
        Err(e) if is_corrupt(&e) => return Ok(false),
        Err(e) => return Err(format!("open: unexpected error {e}")),
    };
    // A full scan: a prefix of the truth, then possibly one error.
    let mut got = Vec::new();
    for r in t.cursor(Bound::Unbounded, Bound::Unbounded).iter(disk) {
        match r {
            Ok(e) => got.push(e),
            Err(e) if is_corrupt(&e) => break,
            Err(e) => return Err(format!("scan: unexpected error {e}")),
        }
    }
    if truth.get(..got.len()) != Some(&got[..]) {
        return Err("scan returned entries that are not the table's".into());
    }
    // Point gets of present keys and random ones.
    for _ in 0..40 {
        let (key, want) = if rng.below(2) == 0 {
            let e = &truth[rng.index(truth.len())];
            (e.key.clone(), Some(e))
        } else {
            let mut k = vec![0; 1 + rng.index(12)];
            rng.fill(&mut k);
            let want = truth.iter().find(|e| e.key == k);
            (k, want)
        };
        match t.get(disk, &key) {
            Ok(Probe::Found { lsn, value }) => {
                let w = want.ok_or("found a key the table does not hold")?;
                if (lsn, &value) != (w.lsn, &w.value) {
                    return Err("get returned the wrong entry".into());
                }
            }
            Ok(_) if want.is_some() => return Err("a present key was reported absent".into()),
            Ok(_) => {}
            Err(e) if is_corrupt(&e) => {}
            Err(e) => return Err(format!("get: unexpected error {e}")),
        }
    }
    Ok(true)
}

fn damage(rng: &mut Rng, bytes: &mut Vec<u8>) -> &'static str {
    let len = bytes.len();
    match rng.below(6) {
        0 => {
            for _ in 0..1 + rng.below(3) {
                let bit = rng.index(len * 8);
                bytes[bit / 8] ^= 1 << (bit % 8);
            }
            "bit flips"
        }
        1 => {
            let at = rng.index(len);
            let n = (1 + rng.index(64)).min(len - at);
            rng.fill(&mut bytes[at..at + n]);
            "random bytes"
        }
        2 => {
            let at = rng.index(len);
            let n = (1 + rng.index(600)).min(len - at);
            bytes[at..at + n].fill(0);
            "zeroed range"
        }
        3 => {
            bytes.truncate(rng.index(len));
            "truncated"
        }
        4 => {
            let mut extra = vec![0; 1 + rng.index(40)];
            rng.fill(&mut extra);
            bytes.extend_from_slice(&extra);
            "garbage appended"
        }
        _ => {
            // A torn write: one 512-byte sector of the file never written.
            let sector = rng.index(len.div_ceil(512));
            let end = ((sector + 1) * 512).min(len);
            bytes[sector * 512..end].fill(0);
            "torn sector"
        }
    }
}

fn run_round(seed: u64) -> Result<(), String> {
    let (mut disk, truth) = healthy(seed % 16);
    let file = ID.file_name();
    let mut bytes = read_all(&disk, &file).unwrap();
    let original = bytes.clone();
    let mut rng = Rng::new(seed);
    let what = damage(&mut rng, &mut bytes);
    disk.delete(&file).unwrap();
    disk.write(&file, 0, &bytes).unwrap();
    let opened = check_damaged(&disk, &truth, &mut rng).map_err(|e| format!("{what}: {e}"))?;
    if bytes != original && opened {
        // Damage inside a data block is found when that block is read; damage anywhere
        // else must fail the open.
        let t = Table::open(&disk, ID).unwrap();
        let full: Result<Vec<Entry>, LsmError> = t.read_all(&disk);
        if full.as_ref().is_ok_and(|f| f == &truth) {
            return Err(format!("{what}: damage went unnoticed"));
        }
    }
    Ok(())
}

fn env_u64(name: &str) -> Option<u64> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        std::env::var(name).ok().and_then(|v| v.parse().ok())
    }
    #[cfg(target_arch = "wasm32")]
    {
        let _ = name;
        None
    }
}

#[test]
fn seeded_random_corruption_is_detected() {
    let hint =
        |s| format!("replay: LOGSPINE_SEED={s} cargo test -p logspine-core --test lsm_sstable");
    if let Some(seed) = env_u64("LOGSPINE_SEED") {
        if let Err(e) = run_round(seed) {
            panic!("seed {seed}: {e}\n{}", hint(seed));
        }
        return;
    }
    let rounds = if cfg!(target_arch = "wasm32") {
        300
    } else {
        3000
    };
    for seed in 0..rounds {
        if let Err(e) = run_round(seed) {
            panic!("seed {seed}: {e}\n{}", hint(seed));
        }
    }
}

#[test]
fn every_truncation_is_a_typed_error() {
    let (mut disk, _) = healthy(1);
    let file = ID.file_name();
    let bytes = read_all(&disk, &file).unwrap();
    for len in 0..bytes.len() {
        disk.set_len(&file, len as u64).unwrap();
        disk.write(&file, 0, &bytes[..len]).unwrap();
        match Table::open(&disk, ID) {
            Err(LsmError::CorruptTable {
                reason: TableCorruption::TooShort { .. } | TableCorruption::BadMagic,
                ..
            }) => {}
            other => panic!("truncated to {len}: {other:?}"),
        }
    }
}

#[test]
fn every_single_bit_flip_is_detected() {
    let (mut disk, truth) = healthy(2);
    let file = ID.file_name();
    let bytes = read_all(&disk, &file).unwrap();
    let t = Table::open(&disk, ID).unwrap();
    let stats_before = t.stats();
    assert_eq!(stats_before.blocks_read, 0, "open reads no data block");
    let mut rng = Rng::new(2);
    // Every byte is covered by a checksum or checked exactly: a flip outside the data
    // blocks fails the open, one inside a data block fails the read of that block.
    for at in 0..bytes.len() {
        let mut b = bytes.clone();
        b[at] ^= 1 << (at % 8);
        disk.write(&file, 0, &b).unwrap();
        let opened = check_damaged(&disk, &truth, &mut rng)
            .unwrap_or_else(|e| panic!("flip at byte {at}: {e}"));
        if opened {
            // Then the flip is in a data block, and reading that block must say so.
            let t = Table::open(&disk, ID).unwrap();
            assert!(
                matches!(t.read_all(&disk), Err(LsmError::CorruptTable { .. })),
                "flip at byte {at} went unnoticed"
            );
        }
    }
}

#[test]
fn garbage_files_are_typed_errors() {
    let mut rng = Rng::new(99);
    let mut disk = SimDisk::new(SimDiskConfig::default(), 0);
    let file = ID.file_name();
    for round in 0..500 {
        let mut b = vec![0; rng.index(300)];
        rng.fill(&mut b);
        if round % 3 == 0 && b.len() >= 8 {
            // Give some of them the magic so the deeper checks run.
            let n = b.len();
            b[n - 8..].copy_from_slice(b"LSPNSSTB");
            if round % 2 == 0 && n >= 16 {
                b[n - 16..n - 12].copy_from_slice(&1u32.to_le_bytes());
            }
        }
        disk.delete(&file).unwrap();
        disk.write(&file, 0, &b).unwrap();
        match Table::open(&disk, ID) {
            Err(LsmError::CorruptTable { .. }) => {}
            other => panic!("round {round}: {other:?}"),
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn mutated_tables_never_panic_or_lie(
            seed in 0u64..8,
            edits in proptest::collection::vec((any::<u64>(), any::<u8>()), 1..6),
            cut in proptest::option::of(any::<u64>()),
        ) {
            let (mut disk, truth) = healthy(seed);
            let file = ID.file_name();
            let mut bytes = read_all(&disk, &file).unwrap();
            for (at, v) in edits {
                let n = bytes.len() as u64;
                bytes[usize::try_from(at % n).unwrap()] = v;
            }
            if let Some(c) = cut {
                let n = bytes.len() as u64;
                bytes.truncate(usize::try_from(c % n).unwrap());
            }
            disk.delete(&file).unwrap();
            disk.write(&file, 0, &bytes).unwrap();
            let mut rng = logspine_core::Rng::new(seed);
            let r = check_damaged(&disk, &truth, &mut rng);
            prop_assert!(r.is_ok(), "{:?}", r);
        }

        #[test]
        fn arbitrary_bytes_never_open(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut disk = SimDisk::new(SimDiskConfig::default(), 0);
            disk.write(&ID.file_name(), 0, &bytes).unwrap();
            let r = Table::open(&disk, ID);
            prop_assert!(matches!(r, Err(LsmError::CorruptTable { .. })), "{:?}", r.map(|t| t.meta().clone()));
        }
    }
}
