//! Recovery's labelled cases (log.rs module docs), one test each, plus garbage fed to the
//! decoder and to `Log::open`: a typed error or a reported truncation, never a panic.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use logspine_core::log::{decode_frame, encode_frame, Decoded, HEADER_BYTES};
use logspine_core::storage::read_all;
use logspine_core::{
    Log, LogConfig, LogError, Lsn, RecoveryPolicy, Rng, SimDisk, SimDiskConfig, StopReason,
    Storage, SyncLatency,
};

const SEG0: &str = "wal-00000000000000000000.seg";

fn disk() -> SimDisk {
    SimDisk::new(
        SimDiskConfig {
            sync_latency: SyncLatency::Fixed(1),
            ..SimDiskConfig::default()
        },
        1,
    )
}

/// A log with `n` durable records `rec-0`.. in segments of `segment_bytes`.
fn durable_log(n: u32, segment_bytes: u64) -> (SimDisk, LogConfig) {
    let mut d = disk();
    let cfg = LogConfig {
        segment_bytes,
        ..LogConfig::new("wal")
    };
    let (mut log, _) = Log::open(&mut d, cfg.clone()).unwrap();
    for i in 0..n {
        log.append(&mut d, format!("rec-{i}").as_bytes()).unwrap();
    }
    log.request_sync(&mut d).unwrap();
    d.settle();
    for c in d.take_completions() {
        log.handle_sync_completion(&c);
    }
    assert_eq!(log.durable_next(), Lsn(u64::from(n)));
    (d, cfg)
}

fn payloads(d: &SimDisk, log: &Log) -> Vec<String> {
    log.scan(d, log.first_lsn())
        .unwrap()
        .map(|r| String::from_utf8(r.unwrap().payload).unwrap())
        .collect()
}

fn image(d: &SimDisk) -> Vec<(String, Vec<u8>)> {
    d.list()
        .into_iter()
        .map(|f| (f.clone(), read_all(d, &f).unwrap()))
        .collect()
}

#[test]
fn case_a_clean_end_and_durability_tracking() {
    let mut d = disk();
    let (mut log, report) = Log::open(&mut d, LogConfig::new("wal")).unwrap();
    assert_eq!(
        report.describe(),
        "Recovered no records from 1 segment; the log ended cleanly."
    );
    for i in 0..5 {
        log.append(&mut d, format!("rec-{i}").as_bytes()).unwrap();
    }
    assert_eq!(log.durable_next(), Lsn(0), "nothing durable before a sync");
    let id = log.request_sync(&mut d).unwrap();
    log.append(&mut d, b"after").unwrap();
    d.settle();
    let done = d.take_completions();
    assert_eq!(done[0].id, id);
    log.handle_sync_completion(&done[0]);
    assert_eq!(
        log.durable_next(),
        Lsn(5),
        "the sync covers what came before it only"
    );
    d.crash();
    let (log, report) = Log::open(&mut d, LogConfig::new("wal")).unwrap();
    assert_eq!(
        payloads(&d, &log),
        ["rec-0", "rec-1", "rec-2", "rec-3", "rec-4"]
    );
    assert_eq!(report.stop, None);
    assert_eq!(
        report.describe(),
        "Recovered 5 records (lsn 0..=4) from 1 segment; the log ended cleanly."
    );
}

#[test]
fn case_b_segments_roll_and_recover_across_files() {
    let (mut d, cfg) = durable_log(40, 100);
    let (log, report) = Log::open(&mut d, cfg).unwrap();
    assert!(
        report.segments > 5,
        "expected many segments, got {}",
        report.segments
    );
    assert_eq!(report.records, 40);
    assert_eq!(payloads(&d, &log).len(), 40);
    assert_eq!(
        log.scan(&d, Lsn(37))
            .unwrap()
            .map(|r| r.unwrap().lsn.0)
            .collect::<Vec<_>>(),
        [37, 38, 39]
    );
    for s in log.segments() {
        assert!(
            s.bytes <= 100 || s.records == 1,
            "segment {s:?} over its limit"
        );
    }
}

#[test]
fn case_c_segment_gap_in_the_middle_is_corruption_not_truncation() {
    let (mut d, cfg) = durable_log(40, 100);
    let files = d.list();
    d.delete(&files[2]).unwrap();
    let before = image(&d);
    let err = Log::open(&mut d, cfg.clone()).unwrap_err();
    assert!(
        matches!(
            err,
            LogError::Corrupt {
                reason: StopReason::SegmentGap { .. },
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(image(&d), before, "a refused recovery changes nothing");
    // Salvage mode keeps what is before the gap and says it dropped valid data.
    let salvage = LogConfig {
        recovery: RecoveryPolicy::TruncateAtFirstBadRecord,
        ..cfg
    };
    let (log, report) = Log::open(&mut d, salvage).unwrap();
    let stop = report.stop.unwrap();
    assert!(stop.valid_data_dropped);
    assert!(!stop.removed_segments.is_empty());
    assert_eq!(
        log.next_lsn().0,
        log.segments().last().unwrap().base_lsn.0 + log.segments().last().unwrap().records
    );
    assert_eq!(payloads(&d, &log).len() as u64, log.next_lsn().0);
}

fn append_raw(d: &mut SimDisk, file: &str, bytes: &[u8]) {
    let at = d.len(file).unwrap();
    d.write(file, at, bytes).unwrap();
}

fn reopen_expect_stop(d: &mut SimDisk, cfg: &LogConfig) -> (Log, logspine_core::LogStop) {
    let (log, report) = Log::open(d, cfg.clone()).unwrap();
    let stop = report
        .stop
        .clone()
        .expect("recovery should have stopped early");
    assert!(report.describe().contains(&stop.reason.to_string()));
    (log, stop)
}

#[test]
fn case_d_and_f_zeroed_tail() {
    let (mut d, cfg) = durable_log(3, 4096);
    append_raw(&mut d, SEG0, &[0; 10]);
    let (log, stop) = reopen_expect_stop(&mut d, &cfg);
    assert_eq!(stop.reason, StopReason::Zeroed { len: 10 });
    assert_eq!(stop.truncated_bytes, 10);
    assert_eq!(log.next_lsn(), Lsn(3));
    append_raw(&mut d, SEG0, &[0; 700]);
    let (_, stop) = reopen_expect_stop(&mut d, &cfg);
    assert_eq!(stop.reason, StopReason::Zeroed { len: 700 });
}

#[test]
fn case_e_torn_header() {
    let (mut d, cfg) = durable_log(3, 4096);
    let end = d.len(SEG0).unwrap();
    append_raw(&mut d, SEG0, &encode_frame(Lsn(3), b"next")[..7]);
    let (log, stop) = reopen_expect_stop(&mut d, &cfg);
    assert_eq!(stop.reason, StopReason::TornHeader { have: 7 });
    assert_eq!((stop.offset, stop.lsn), (end, Lsn(3)));
    assert_eq!(d.len(SEG0).unwrap(), end, "truncated at the stop");
    assert_eq!(payloads(&d, &log), ["rec-0", "rec-1", "rec-2"]);
}

#[test]
fn case_g_length_over_limit() {
    let (mut d, cfg) = durable_log(3, 4096);
    let mut f = encode_frame(Lsn(3), b"x");
    f[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
    append_raw(&mut d, SEG0, &f);
    let (_, stop) = reopen_expect_stop(&mut d, &cfg);
    assert!(
        matches!(stop.reason, StopReason::LengthTooLarge { len, .. } if len == u64::from(u32::MAX))
    );
}

#[test]
fn case_h_torn_payload() {
    let (mut d, cfg) = durable_log(3, 4096);
    let f = encode_frame(Lsn(3), &[7; 100]);
    append_raw(&mut d, SEG0, &f[..60]);
    let (_, stop) = reopen_expect_stop(&mut d, &cfg);
    assert_eq!(
        stop.reason,
        StopReason::TornPayload {
            need: 116,
            have: 60
        }
    );
}

#[test]
fn case_i_checksum_mismatch_in_the_last_record_truncates() {
    let (mut d, cfg) = durable_log(5, 4096);
    let (log, _) = Log::open(&mut d, cfg.clone()).unwrap();
    let last = log.segments()[0].bytes;
    // Flip a bit in the payload of the last record (its last byte).
    d.flip_bit(SEG0, (last - 1) * 8).unwrap();
    let (log, stop) = reopen_expect_stop(&mut d, &cfg);
    assert!(matches!(stop.reason, StopReason::ChecksumMismatch { .. }));
    assert_eq!(stop.lsn, Lsn(4));
    assert!(!stop.valid_data_dropped);
    assert_eq!(payloads(&d, &log), ["rec-0", "rec-1", "rec-2", "rec-3"]);
}

#[test]
fn case_i_checksum_mismatch_in_the_middle_is_refused_then_salvaged() {
    let (mut d, cfg) = durable_log(5, 4096);
    // Record 1 starts at offset 21 (record 0 is 16 + 5 bytes); flip a payload bit.
    d.flip_bit(SEG0, (21 + HEADER_BYTES + 2) * 8).unwrap();
    let before = image(&d);
    let err = Log::open(&mut d, cfg.clone()).unwrap_err();
    match &err {
        LogError::Corrupt {
            offset,
            lsn,
            reason: StopReason::ChecksumMismatch { .. },
            ..
        } => {
            assert_eq!((*offset, *lsn), (21, Lsn(1)));
        }
        other => panic!("expected mid-log corruption, got {other}"),
    }
    assert!(err.to_string().contains("valid records follow"), "{err}");
    assert_eq!(image(&d), before, "nothing durable was touched");
    // The same damage read through an open log is a typed error too.
    let salvage = LogConfig {
        recovery: RecoveryPolicy::TruncateAtFirstBadRecord,
        ..cfg
    };
    let (log, stop) = reopen_expect_stop(&mut d, &salvage);
    assert!(stop.valid_data_dropped);
    assert_eq!(payloads(&d, &log), ["rec-0"]);
}

#[test]
fn case_j_lsn_mismatch() {
    let (mut d, cfg) = durable_log(3, 4096);
    append_raw(&mut d, SEG0, &encode_frame(Lsn(9), b"stale"));
    let (_, stop) = reopen_expect_stop(&mut d, &cfg);
    assert_eq!(
        stop.reason,
        StopReason::LsnMismatch {
            expected: Lsn(3),
            found: Lsn(9)
        }
    );
}

#[test]
fn bit_rot_after_open_is_a_typed_error_on_read_and_scan() {
    let (mut d, cfg) = durable_log(3, 4096);
    let (log, _) = Log::open(&mut d, cfg).unwrap();
    d.flip_bit(SEG0, 8 * 18).unwrap();
    assert!(matches!(
        log.read(&d, Lsn(0)),
        Err(LogError::Corrupt { .. })
    ));
    let results: Vec<_> = log.scan(&d, Lsn(0)).unwrap().collect();
    assert_eq!(results.len(), 1, "a scan stops at the first bad record");
    assert!(results[0].is_err());
    assert!(matches!(
        log.read(&d, Lsn(3)),
        Err(LogError::NotFound { .. })
    ));
}

#[test]
fn trim_prefix_drops_whole_segments_and_remembers_the_next_lsn() {
    let (mut d, cfg) = durable_log(30, 100);
    let (mut log, _) = Log::open(&mut d, cfg.clone()).unwrap();
    let segs = log.segments();
    let cut = segs[2].base_lsn;
    let removed = log.trim_prefix(&mut d, Lsn(cut.0 + 1)).unwrap();
    assert_eq!(removed, 2);
    assert_eq!(log.first_lsn(), cut, "keeps the segment holding the bound");
    assert!(matches!(
        log.read(&d, Lsn(0)),
        Err(LogError::Compacted { .. })
    ));
    assert!(
        log.trim_prefix(&mut d, Lsn(31)).is_err(),
        "past the end is refused"
    );
    log.trim_prefix(&mut d, Lsn(30)).unwrap();
    assert!(log.is_empty());
    log.request_sync(&mut d).unwrap();
    d.settle();
    d.crash();
    let (mut log, report) = Log::open(&mut d, cfg).unwrap();
    assert_eq!(
        (report.first_lsn, report.next_lsn, report.records),
        (Lsn(30), Lsn(30), 0)
    );
    assert_eq!(log.append(&mut d, b"x").unwrap(), Lsn(30));
}

#[test]
fn truncate_suffix_and_reset() {
    let (mut d, cfg) = durable_log(30, 100);
    let (mut log, _) = Log::open(&mut d, cfg.clone()).unwrap();
    log.truncate_suffix(&mut d, Lsn(12)).unwrap();
    assert_eq!(log.next_lsn(), Lsn(12));
    assert_eq!(log.durable_next(), Lsn(12));
    assert_eq!(log.append(&mut d, b"new-12").unwrap(), Lsn(12));
    log.request_sync(&mut d).unwrap();
    d.settle();
    d.crash();
    let (mut log, report) = Log::open(&mut d, cfg.clone()).unwrap();
    assert_eq!(report.stop, None);
    assert_eq!(payloads(&d, &log).last().unwrap(), "new-12");
    log.reset(&mut d, Lsn(100)).unwrap();
    log.validate();
    assert_eq!((log.first_lsn(), log.next_lsn()), (Lsn(100), Lsn(100)));
    assert_eq!(d.list(), vec!["wal-00000000000000000100.seg"]);
}

#[test]
fn oversized_records_and_bad_configs_are_errors() {
    let mut d = disk();
    let cfg = LogConfig {
        max_record_bytes: 10,
        ..LogConfig::new("wal")
    };
    let (mut log, _) = Log::open(&mut d, cfg).unwrap();
    assert!(matches!(
        log.append(&mut d, &[0; 11]),
        Err(LogError::TooLarge { len: 11, max: 10 })
    ));
    let bad = LogConfig {
        segment_bytes: 3,
        ..LogConfig::new("wal")
    };
    assert!(Log::open(&mut d, bad).is_err());
    let bad_name = LogConfig::new("a/b");
    assert!(matches!(
        Log::open(&mut d, bad_name),
        Err(LogError::Storage(_))
    ));
}

/// Garbage of every shape fed to the decoder and to recovery, from the seeded generator
/// (runs in wasm too). `cargo test` natively adds proptest's version below.
#[test]
fn garbage_never_panics() {
    let mut rng = Rng::new(0xBAD);
    for round in 0..2000 {
        let len = usize::try_from(rng.below(200)).unwrap();
        let mut bytes = vec![0; len];
        rng.fill(&mut bytes);
        // Sometimes start from a valid frame and damage it.
        if round % 3 == 0 {
            bytes = encode_frame(Lsn(rng.below(4)), &bytes);
            let i = rng.index(bytes.len());
            bytes[i] ^= 1 << rng.below(8);
            bytes.truncate(rng.index(bytes.len() + 1));
        }
        let _ = decode_frame(&bytes, Lsn(0), 1 << 20);
        let mut d = disk();
        d.write(SEG0, 0, &bytes).unwrap();
        if round % 5 == 0 {
            d.write("wal-00000000000000000003.seg", 0, &bytes).unwrap();
        }
        for policy in [
            RecoveryPolicy::TruncateTornTail,
            RecoveryPolicy::TruncateAtFirstBadRecord,
        ] {
            let cfg = LogConfig {
                recovery: policy,
                ..LogConfig::new("wal")
            };
            if let Ok((log, _)) = Log::open(&mut d.clone(), cfg) {
                log.validate();
            }
        }
    }
    // A valid frame decodes.
    let f = encode_frame(Lsn(2), b"ok");
    assert_eq!(
        decode_frame(&f, Lsn(2), 100),
        Decoded::Frame {
            lsn: Lsn(2),
            frame_bytes: 18
        }
    );
}

#[cfg(not(target_arch = "wasm32"))]
mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
        #[test]
        fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..100), expected in any::<u64>()) {
            let _ = decode_frame(&bytes, Lsn(expected), 64);
        }

        #[test]
        fn recovery_never_panics_and_keeps_a_valid_prefix(
            prefix in 0u32..6,
            garbage in proptest::collection::vec(any::<u8>(), 0..300),
            salvage in any::<bool>(),
        ) {
            let (mut d, cfg) = durable_log(prefix, 4096);
            append_raw(&mut d, SEG0, &garbage);
            let recovery = if salvage { RecoveryPolicy::TruncateAtFirstBadRecord } else { RecoveryPolicy::TruncateTornTail };
            match Log::open(&mut d, LogConfig { recovery, ..cfg }) {
                Ok((log, _)) => {
                    log.validate();
                    // The durable prefix is always kept: garbage comes after it.
                    prop_assert!(log.next_lsn().0 >= u64::from(prefix));
                    let got = payloads(&d, &log);
                    for (i, p) in got.iter().take(prefix as usize).enumerate() {
                        prop_assert_eq!(p, &format!("rec-{i}"));
                    }
                }
                Err(e) => prop_assert!(matches!(e, LogError::Corrupt { .. }), "unexpected error {}", e),
            }
        }
    }
}
