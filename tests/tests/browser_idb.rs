//! Browser tests of the IndexedDB backend, in headless Chromium:
//! * the `Storage` conformance suite (the same one `SimDisk` passes) on `IdbStorage`;
//! * the `Log` on `IdbStorage` across crashes (close and reopen from IndexedDB, which is
//!   what a page reload does): synced records come back, unsynced ones do not, and a
//!   corrupted record is found, reported and cut off;
//! * a second writer on the same namespace is refused with a clear error.
//!
//! Run: `cargo test -p logspine-tests --target wasm32-unknown-unknown` with
//! `CHROMEDRIVER=/usr/bin/chromedriver` (scripts/test.sh does this).
#![cfg(target_arch = "wasm32")]

use logspine_core::conformance::{self, Harness};
use logspine_core::{Log, LogConfig, Lsn, StopReason, Storage, StorageError};
use logspine_web::idb::{delete_database, IdbHarness, IdbStorage};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn idb_passes_the_storage_conformance_suite() {
    let mut h = IdbHarness::new("conformance");
    conformance::run_all(&mut h).await;
    h.clean_up().await;
}

async fn sync_and_feed(storage: &mut IdbStorage, log: &mut Log) {
    log.request_sync(storage).expect("sync");
    storage.settled().await;
    for c in storage.take_completions() {
        assert!(c.result.is_ok(), "sync failed: {c:?}");
        log.handle_sync_completion(&c);
    }
}

fn payloads(storage: &IdbStorage, log: &Log) -> Vec<String> {
    log.scan(storage, log.first_lsn())
        .expect("scan")
        .map(|r| String::from_utf8(r.expect("record").payload).expect("utf8"))
        .collect()
}

#[wasm_bindgen_test]
async fn log_on_idb_keeps_synced_records_and_drops_the_rest_across_a_crash() {
    let mut h = IdbHarness::new("log-crash");
    let mut storage = h.fresh().await;
    let cfg = LogConfig {
        segment_bytes: 200,
        ..LogConfig::new("wal")
    };
    let (mut log, report) = Log::open(&mut storage, cfg.clone()).expect("open");
    assert_eq!(report.records, 0);
    for i in 0..25 {
        log.append(&mut storage, format!("rec-{i}").as_bytes())
            .unwrap();
    }
    sync_and_feed(&mut storage, &mut log).await;
    assert_eq!(log.durable_next(), Lsn(25));
    assert!(log.segments().len() > 2, "records span several segments");
    log.append(&mut storage, b"volatile-1").unwrap();
    log.append(&mut storage, b"volatile-2").unwrap();

    let mut storage = h.crash(storage).await;
    let (log, report) = Log::open(&mut storage, cfg.clone()).expect("recover");
    assert_eq!(report.stop, None, "{}", report.describe());
    let want: Vec<String> = (0..25).map(|i| format!("rec-{i}")).collect();
    assert_eq!(payloads(&storage, &log), want);
    assert_eq!(log.durable_next(), Lsn(25), "a fresh load is all durable");
    h.clean_up().await;
}

#[wasm_bindgen_test]
async fn a_corrupted_last_record_is_found_reported_and_cut_off() {
    let mut h = IdbHarness::new("log-corrupt");
    let mut storage = h.fresh().await;
    let cfg = LogConfig::new("wal");
    let (mut log, _) = Log::open(&mut storage, cfg.clone()).unwrap();
    for i in 0..5 {
        log.append(&mut storage, format!("rec-{i}").as_bytes())
            .unwrap();
    }
    sync_and_feed(&mut storage, &mut log).await;
    // Flip one bit in the last byte of the last record and make that durable: bit rot.
    let seg = log.segments().pop().unwrap();
    let mut last = [0u8; 1];
    storage.read(&seg.file, seg.bytes - 1, &mut last).unwrap();
    storage
        .write(&seg.file, seg.bytes - 1, &[last[0] ^ 0x01])
        .unwrap();
    sync_and_feed(&mut storage, &mut log).await;

    let mut storage = h.crash(storage).await;
    let (log, report) = Log::open(&mut storage, cfg.clone()).expect("recover");
    let stop = report
        .stop
        .clone()
        .expect("recovery must stop at the bad record");
    assert!(
        matches!(stop.reason, StopReason::ChecksumMismatch { .. }),
        "{}",
        report.describe()
    );
    assert_eq!(stop.lsn, Lsn(4));
    assert!(
        report.describe().contains("checksum mismatch"),
        "{}",
        report.describe()
    );
    assert_eq!(
        payloads(&storage, &log),
        ["rec-0", "rec-1", "rec-2", "rec-3"]
    );
    h.clean_up().await;
}

#[wasm_bindgen_test]
async fn a_second_writer_is_refused_with_a_clear_message() {
    let _ = delete_database("two-writers").await;
    let first = IdbStorage::open("two-writers").await.expect("first writer");
    let second = IdbStorage::open("two-writers").await;
    match second {
        Err(StorageError::Unavailable { detail }) => {
            assert!(detail.contains("another tab"), "unclear message: {detail}");
        }
        Err(other) => panic!("expected Unavailable, got {other}"),
        Ok(_) => panic!("a second writer was allowed"),
    }
    first.close().await;
    let again = IdbStorage::open("two-writers")
        .await
        .expect("open after the first closed");
    again.close().await;
    let _ = delete_database("two-writers").await;
}
