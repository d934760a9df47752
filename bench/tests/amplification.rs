//! The B-tree vs LSM claim, checked on counts (not times): the LSM tree writes less per
//! logical byte and reads more per lookup. The table in BENCHMARKS.md is the same code at
//! a larger size (`cargo run --release -p logspine-bench -- amplification`).
#![cfg(not(target_arch = "wasm32"))]

use logspine_bench::amplification::{measure, variants, Row, Workload, QUICK_KEYS};

fn rows(w: Workload) -> (Row, Row, Row) {
    let v = variants();
    let m = |i: usize| measure(w, &v[i], QUICK_KEYS).unwrap_or_else(|e| panic!("{e}"));
    (m(0), m(1), m(2))
}

#[test]
fn lsm_writes_less_per_logical_byte() {
    for w in [Workload::SequentialInsert, Workload::RandomOverwrite] {
        let (btree, lsm, _) = rows(w);
        assert!(
            lsm.write < btree.write,
            "{}: LSM {:.2} vs B-tree {:.2}",
            w.name(),
            lsm.write,
            btree.write
        );
        assert!(
            lsm.index_write > 1.0,
            "{}: tables rewritten {lsm:?}",
            w.name()
        );
    }
    // Random overwrites are where the B-tree pays most: a page (and, after each
    // checkpoint, its full image in the WAL) per small update.
    let (btree, lsm, _) = rows(Workload::RandomOverwrite);
    assert!(btree.write > 3.0 * lsm.write, "{btree:?} {lsm:?}");
}

#[test]
fn lsm_reads_more_per_lookup() {
    let (btree, lsm, weak) = rows(Workload::PointReads);
    // One B-tree path against several sources (memtables, L0 tables, one per level).
    assert!(
        (btree.amp.sources_per_lookup - 1.0).abs() < 1e-9,
        "{btree:?}"
    );
    assert!(lsm.amp.sources_per_lookup > 2.0, "{lsm:?}");
    // The bloom filters are what keep the LSM's storage reads near one block per get:
    // with 1-bit filters it reads more, and more than the B-tree.
    assert!(lsm.amp.bloom_skips_per_lookup > weak.amp.bloom_skips_per_lookup);
    assert!(
        weak.reads_4k_per_op > lsm.reads_4k_per_op,
        "{weak:?} {lsm:?}"
    );
    assert!(
        weak.reads_4k_per_op > btree.reads_4k_per_op,
        "{weak:?} {btree:?}"
    );
    // Range scans merge every level: no filter helps.
    let (btree, lsm, _) = rows(Workload::RangeScans);
    assert!(
        lsm.reads_4k_per_op > btree.reads_4k_per_op,
        "scan: LSM {:.2} vs B-tree {:.2}",
        lsm.reads_4k_per_op,
        btree.reads_4k_per_op
    );
}
