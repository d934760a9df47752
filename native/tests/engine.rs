//! The engine on real files: the `Log` and the `Db` on `FileStorage`, across crashes (a
//! drop without a sync, then a reopen of the directory), and on directories whose files
//! were cut short or overwritten with garbage behind the engine's back.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use logspine_core::btree::{BTreeConfig, PageFileConfig};
use logspine_core::db::{CheckpointConfig, Db, DbConfig, DbError, IndexKind, TxnId};
use logspine_core::lsm::{CompactionConfig, LsmConfig};
use logspine_core::{Log, LogConfig, LogError, Lsn, RecoveryPolicy, Rng, StopReason, Storage};
use logspine_native::{FileStorage, TempDir, LOCK_FILE};

fn temp(prefix: &str) -> TempDir {
    TempDir::new(prefix).expect("temporary directory")
}

fn sync_and_feed(storage: &mut FileStorage, log: &mut Log) {
    log.request_sync(storage).expect("sync");
    for c in storage.take_completions() {
        assert!(c.result.is_ok(), "sync failed: {c:?}");
        log.handle_sync_completion(&c);
    }
}

fn payloads(storage: &FileStorage, log: &Log) -> Vec<String> {
    log.scan(storage, log.first_lsn())
        .expect("scan")
        .map(|r| String::from_utf8(r.expect("record").payload).expect("utf8"))
        .collect()
}

fn segment_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("wal-"))
        .collect();
    names.sort();
    names
}

#[test]
fn the_log_on_files_keeps_exactly_the_synced_records_across_a_crash() {
    let tmp = temp("logspine-log");
    let dir = tmp.path().join("log");
    let cfg = LogConfig {
        segment_bytes: 200,
        ..LogConfig::new("wal")
    };
    let mut storage = FileStorage::open(&dir).unwrap();
    let (mut log, report) = Log::open(&mut storage, cfg.clone()).expect("open");
    assert_eq!(report.records, 0);
    for i in 0..25 {
        log.append(&mut storage, format!("rec-{i}").as_bytes())
            .unwrap();
    }
    sync_and_feed(&mut storage, &mut log);
    assert_eq!(log.durable_next(), Lsn(25));
    let segments = log.segments();
    assert!(segments.len() > 2, "records span several segments");
    let names: Vec<String> = segments.iter().map(|s| s.file.clone()).collect();
    assert_eq!(segment_files(&dir), names, "every segment is a file");
    log.append(&mut storage, b"volatile-1").unwrap();
    log.append(&mut storage, b"volatile-2").unwrap();

    drop(log);
    drop(storage); // the crash
    let mut storage = FileStorage::open(&dir).unwrap();
    let (log, report) = Log::open(&mut storage, cfg.clone()).expect("recover");
    assert_eq!(report.stop, None, "{}", report.describe());
    let want: Vec<String> = (0..25).map(|i| format!("rec-{i}")).collect();
    assert_eq!(payloads(&storage, &log), want);
    assert_eq!(log.durable_next(), Lsn(25), "a fresh load is all durable");
    log.validate();
}

/// What a power loss in the middle of a sync can leave, made by hand on the files: the last
/// record cut short, and a stray segment of garbage after the last one.
#[test]
fn a_torn_segment_and_a_garbage_segment_are_reported_and_cut_off() {
    let tmp = temp("logspine-torn");
    let dir = tmp.path().join("log");
    let cfg = LogConfig {
        segment_bytes: 200,
        ..LogConfig::new("wal")
    };
    let mut storage = FileStorage::open(&dir).unwrap();
    let (mut log, _) = Log::open(&mut storage, cfg.clone()).unwrap();
    for i in 0..12 {
        log.append(&mut storage, format!("rec-{i}").as_bytes())
            .unwrap();
    }
    sync_and_feed(&mut storage, &mut log);
    let last = log.segments().pop().unwrap();
    drop(log);
    drop(storage);

    // Cut the last record short by 3 bytes.
    let path = dir.join(&last.file);
    let cut = last.bytes - 3;
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(cut)
        .unwrap();
    let mut storage = FileStorage::open(&dir).unwrap();
    let (mut log, report) = Log::open(&mut storage, cfg.clone()).expect("recover");
    let stop = report.stop.clone().expect("the torn record is reported");
    assert!(
        matches!(stop.reason, StopReason::TornPayload { .. }),
        "{}",
        report.describe()
    );
    assert_eq!(stop.lsn, Lsn(11));
    assert_eq!(report.records, 11);
    assert_eq!(payloads(&storage, &log).len(), 11);
    // The truncation is a change like any other: volatile until synced.
    assert_eq!(fs::metadata(&path).unwrap().len(), cut);
    sync_and_feed(&mut storage, &mut log);
    assert!(
        fs::metadata(&path).unwrap().len() < cut,
        "the sync made the cut durable"
    );
    drop(log);
    drop(storage);

    // A segment of garbage far past the end.
    let mut garbage = vec![0u8; 300];
    Rng::new(3).fill(&mut garbage);
    let stray = "wal-00000000000099999999.seg";
    fs::write(dir.join(stray), &garbage).unwrap();
    let mut storage = FileStorage::open(&dir).unwrap();
    // A non-empty segment past a gap may hold records: the default policy refuses to
    // guess, changing nothing ...
    match Log::open(&mut storage, cfg.clone()) {
        Err(LogError::Corrupt { file, reason, .. }) => {
            assert_eq!(file, stray);
            assert!(matches!(reason, StopReason::SegmentGap { .. }), "{reason}");
        }
        Err(other) => panic!("expected LogError::Corrupt, got {other}"),
        Ok((_, report)) => panic!("opened past a gap: {}", report.describe()),
    }
    assert!(
        !storage.has_volatile_changes(),
        "a refused open changes nothing"
    );
    assert!(storage.exists(stray));
    // ... and salvage mode cuts it off and says so.
    let salvage = LogConfig {
        recovery: RecoveryPolicy::TruncateAtFirstBadRecord,
        ..cfg
    };
    let (mut log, report) = Log::open(&mut storage, salvage).expect("salvage");
    let stop = report.stop.clone().expect("the stray segment is reported");
    assert!(
        matches!(stop.reason, StopReason::SegmentGap { .. }),
        "{}",
        report.describe()
    );
    assert_eq!(stop.file, stray);
    assert_eq!(report.records, 11, "{}", report.describe());
    sync_and_feed(&mut storage, &mut log);
    assert!(!dir.join(stray).exists(), "the stray segment was removed");
}

fn config() -> DbConfig {
    config_for(IndexKind::BTree)
}

/// The same database with either index (the LSM one with 1 KiB memtables, so 200
/// commits flush and compact).
fn config_for(index: IndexKind) -> DbConfig {
    DbConfig {
        index,
        lsm: LsmConfig {
            memtable_bytes: 1024,
            compaction: CompactionConfig {
                l0_trigger: 2,
                base_level_bytes: 4096,
                target_file_bytes: 2048,
                ..CompactionConfig::default()
            },
            ..LsmConfig::default()
        },
        wal: LogConfig {
            segment_bytes: 2048,
            ..LogConfig::new("wal")
        },
        tree: BTreeConfig {
            page_file: PageFileConfig {
                file: "btree.pages".into(),
                page_size: 512,
            },
            pool_frames: 16,
            full_page_writes: true,
        },
        // Checkpoints only when asked, so the WAL's tail is known: commits after one.
        checkpoint: CheckpointConfig {
            every_wal_bytes: 0,
            pages_per_tick: 4,
        },
        ..DbConfig::default()
    }
}

/// Ticks with the clock one step on.
fn tick(db: &mut Db<FileStorage>, now: &mut u64) {
    *now += 1;
    db.tick(*now).expect("tick");
}

/// Runs `f`, ticking while the database waits for a WAL sync.
fn retry<T>(
    db: &mut Db<FileStorage>,
    now: &mut u64,
    mut f: impl FnMut(&mut Db<FileStorage>) -> Result<T, DbError>,
) -> T {
    for _ in 0..1000 {
        match f(db) {
            Err(DbError::WouldBlock(_)) => tick(db, now),
            other => return other.expect("db operation"),
        }
    }
    panic!("blocked on the WAL for 1,000 ticks");
}

/// A database with `n` acknowledged commits over 80 keys and a checkpoint half way, left
/// by a crash; returns the acknowledged contents.
fn build(dir: &Path, n: u32, index: IndexKind) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let (mut db, rec) =
        Db::open(FileStorage::open(dir).unwrap(), config_for(index)).expect("create");
    assert_eq!(rec.winners, 0);
    let mut now = 0;
    let mut pending: BTreeMap<TxnId, (Vec<u8>, Vec<u8>)> = BTreeMap::new();
    let mut acked = BTreeMap::new();
    for i in 0..n {
        let key = format!("key{:03}", i % 80).into_bytes();
        let value = format!("value-{i}-{}", "x".repeat((i % 7) as usize * 5)).into_bytes();
        if i == n / 2 {
            db.request_checkpoint().unwrap();
        }
        let t = db.begin();
        retry(&mut db, &mut now, |db| db.put(t, &key, &value));
        retry(&mut db, &mut now, |db| db.commit(t));
        pending.insert(t, (key, value));
        tick(&mut db, &mut now);
        for ack in db.take_acks() {
            let (k, v) = pending.remove(&ack.txn).expect("acked once");
            acked.insert(k, v);
        }
    }
    for _ in 0..1000 {
        if pending.is_empty() && db.is_quiescent() {
            break;
        }
        tick(&mut db, &mut now);
        for ack in db.take_acks() {
            let (k, v) = pending.remove(&ack.txn).expect("acked once");
            acked.insert(k, v);
        }
    }
    assert!(pending.is_empty(), "every commit acknowledged");
    assert!(db.stats().checkpoints >= 1, "a checkpoint completed");
    assert!(
        db.stats().commits_per_sync() > 0.0,
        "commits were acknowledged by syncs"
    );
    db.validate();
    // Dropped here: a crash. Page writes since the last sync may be lost; the WAL has
    // every acknowledged commit.
    acked
}

#[test]
fn the_db_on_files_keeps_acknowledged_commits_across_a_crash() {
    for index in [IndexKind::BTree, IndexKind::Lsm] {
        keeps_acknowledged_commits_across_a_crash(index);
    }
}

fn keeps_acknowledged_commits_across_a_crash(index: IndexKind) {
    let config = || config_for(index);
    let tmp = temp("logspine-db");
    let dir = tmp.path().join("db");
    let mut acked = build(&dir, 200, index);
    if index == IndexKind::Lsm {
        let files = fs::read_dir(&dir).unwrap().count();
        let tables = fs::read_dir(&dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("sst-")
            })
            .count();
        assert!(
            tables > 0,
            "the LSM flushed tables to files ({files} files)"
        );
    }
    assert_eq!(acked.len(), 80);
    let wal_segments = segment_files(&dir);
    assert!(
        !wal_segments.contains(&"wal-00000000000000000000.seg".to_owned()),
        "the checkpoint trimmed the WAL: {wal_segments:?}"
    );

    // Reopen, then leave three things behind at the crash: a transaction still open (its
    // update becomes durable with the next sync), a commit whose sync completes at once
    // (durable, though never acknowledged: no tick drained it), and a commit that waits
    // behind that sync for the next one (group commit), which never comes.
    let (mut db, rec) = Db::open(FileStorage::open(&dir).unwrap(), config()).expect("reopen");
    assert_eq!(db.index_kind(), index);
    assert_eq!(rec.wal.stop, None, "{}", rec.describe());
    assert_eq!(
        db.scan(b"", None)
            .unwrap()
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
        acked
    );
    let mut now = 0;
    for _ in 0..50 {
        tick(&mut db, &mut now);
    }
    assert!(db.is_quiescent());
    let open = db.begin();
    retry(&mut db, &mut now, |db| db.put(open, b"open-key", b"never"));
    let a = db.begin();
    retry(&mut db, &mut now, |db| db.put(a, b"a-key", b"durable"));
    db.commit(a).unwrap();
    let b = db.begin();
    retry(&mut db, &mut now, |db| db.put(b, b"b-key", b"waits"));
    db.commit(b).unwrap();
    assert!(
        db.storage().has_volatile_changes(),
        "b's records wait for the next sync"
    );
    drop(db); // the crash

    let (mut db, rec) = Db::open(FileStorage::open(&dir).unwrap(), config()).expect("recover");
    if index == IndexKind::Lsm {
        assert!(
            rec.lsm.as_ref().is_some_and(|l| l.tables > 0),
            "{}",
            rec.describe()
        );
    }
    assert_eq!(
        rec.wal.stop,
        None,
        "a drop tears nothing: {}",
        rec.describe()
    );
    assert_eq!(rec.losers, [open], "{}", rec.describe());
    let mut now = 0;
    for _ in 0..1000 {
        if !db.is_recovering() {
            break;
        }
        tick(&mut db, &mut now);
    }
    assert!(!db.is_recovering(), "undo finished");
    acked.insert(b"a-key".to_vec(), b"durable".to_vec());
    let got: BTreeMap<_, _> = db.scan(b"", None).unwrap().into_iter().collect();
    assert_eq!(
        got, acked,
        "exactly what a completed sync covered: the acknowledged commits and a, not b, not the open transaction"
    );
    db.validate();
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != LOCK_FILE {
            fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// Opens and uses a damaged database directory; returns what happened, for the tally.
fn exercise(dir: &Path) -> &'static str {
    let storage = match FileStorage::open(dir) {
        Ok(s) => s,
        Err(e) => {
            let _ = e.to_string();
            return "refused: storage";
        }
    };
    let (mut db, rec) = match Db::open(storage, config()) {
        Ok(x) => x,
        Err(DbError::Log(_)) => return "refused: WAL corrupt",
        Err(DbError::Tree(_)) => return "refused: page corrupt",
        Err(DbError::Record { .. }) => return "refused: record corrupt",
        Err(DbError::Corrupt(_)) => return "refused: files disagree",
        Err(e) => {
            let _ = e.to_string();
            return "refused: other";
        }
    };
    let _ = rec.describe();
    for now in 1..=200 {
        if db.tick(now).is_err() {
            return "failed while undoing";
        }
    }
    match db.scan(b"", None) {
        Ok(_) if rec.wal.stop.is_some() => "opened: WAL truncated",
        Ok(_) => "opened",
        Err(_) => "failed on read",
    }
}

/// Every file of a healthy database cut short or overwritten with garbage, one at a time
/// on a copy: a typed error or a reported truncation, never a panic.
#[test]
fn damaged_files_give_typed_errors_or_reported_truncation() {
    let tmp = temp("logspine-damage");
    let healthy = tmp.path().join("healthy");
    let acked = build(&healthy, 120, IndexKind::BTree);
    let mut files: Vec<String> = fs::read_dir(&healthy)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != LOCK_FILE)
        .collect();
    files.sort();
    assert!(files.contains(&"btree.pages".to_owned()) && files.contains(&"db.control".to_owned()));
    let last_segment = segment_files(&healthy).pop().expect("a WAL segment");

    let mut rng = Rng::new(11);
    let mut tally: BTreeMap<&'static str, u32> = BTreeMap::new();
    let mut case = 0;
    for file in &files {
        let len = fs::metadata(healthy.join(file)).unwrap().len();
        let damages = [
            "cut to 0",
            "cut to half",
            "cut by 1",
            "garbage inside",
            "garbage appended",
        ];
        for damage in damages {
            case += 1;
            let dir = tmp.path().join(format!("case{case}"));
            copy_dir(&healthy, &dir);
            let path = dir.join(file);
            let mut bytes = fs::read(&path).unwrap();
            match damage {
                "cut to 0" => bytes.clear(),
                "cut to half" => bytes.truncate(usize::try_from(len / 2).unwrap()),
                "cut by 1" => bytes.truncate(usize::try_from(len.saturating_sub(1)).unwrap()),
                "garbage inside" => {
                    let at = usize::try_from(rng.below(len.max(1))).unwrap();
                    let end = (at + 64).min(bytes.len());
                    rng.fill(&mut bytes[at..end]);
                }
                _ => {
                    let mut junk = vec![0u8; 100];
                    rng.fill(&mut junk);
                    bytes.extend_from_slice(&junk);
                }
            }
            fs::write(&path, &bytes).unwrap();
            let outcome = exercise(&dir);
            if *file == last_segment && damage == "cut by 1" {
                assert_eq!(outcome, "opened: WAL truncated", "{file}: {damage}");
            }
            *tally.entry(outcome).or_default() += 1;
            fs::remove_dir_all(&dir).unwrap();
        }
    }
    eprintln!("damage outcomes over {case} cases: {tally:?}");
    assert!(tally.contains_key("opened: WAL truncated"));

    // A file the database does not know is loaded and left alone.
    let mut junk = vec![0u8; 5000];
    rng.fill(&mut junk);
    fs::write(healthy.join("junk.bin"), &junk).unwrap();
    let (db, rec) = Db::open(FileStorage::open(&healthy).unwrap(), config()).expect("open");
    assert_eq!(rec.wal.stop, None);
    let mut db = db;
    let got: BTreeMap<_, _> = db.scan(b"", None).unwrap().into_iter().collect();
    assert_eq!(got, acked);
    assert!(db.storage().exists("junk.bin"));
}
