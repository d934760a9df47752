//! Corrupt bytes anywhere in the database's files — WAL segments, the page file, the
//! control file — give a typed error or a reported truncation when the database is
//! opened and used, never a panic. Each round damages a copy of one healthy database.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use logspine_core::btree::{BTreeConfig, PageFileConfig};
use logspine_core::db::{CheckpointConfig, Db, DbConfig, DbError};
use logspine_core::storage::read_all;
use logspine_core::{LogConfig, Rng, SimDisk, SimDiskConfig, Storage, SyncLatency};

fn config() -> DbConfig {
    DbConfig {
        wal: LogConfig {
            segment_bytes: 2048,
            ..LogConfig::new("wal")
        },
        tree: BTreeConfig {
            page_file: PageFileConfig {
                file: "btree.pages".into(),
                page_size: 512,
            },
            pool_frames: 8,
            full_page_writes: true,
        },
        checkpoint: CheckpointConfig {
            every_wal_bytes: 4000,
            pages_per_tick: 4,
        },
        ..DbConfig::default()
    }
}

/// A healthy database: committed data, a completed checkpoint, an open transaction, all
/// durable.
fn healthy() -> SimDisk {
    let disk = SimDisk::new(
        SimDiskConfig {
            sync_latency: SyncLatency::Fixed(2),
            ..SimDiskConfig::default()
        },
        7,
    );
    let (mut db, _) = Db::open(disk, config()).unwrap();
    let mut now = 0;
    for i in 0..150u32 {
        let t = db.begin();
        db.put(
            t,
            format!("key{:03}", i % 60).as_bytes(),
            &[u8::try_from(i % 251).unwrap(); 30],
        )
        .unwrap();
        db.commit(t).unwrap();
        for _ in 0..3 {
            now += 1;
            db.storage_mut().advance(1);
            db.tick(now).unwrap();
        }
    }
    let open = db.begin();
    db.put(open, b"uncommitted", b"x").unwrap();
    db.request_checkpoint().unwrap();
    for _ in 0..200 {
        now += 1;
        db.storage_mut().advance(1);
        db.tick(now).unwrap();
    }
    assert!(db.stats().checkpoints >= 1, "the fixture has a checkpoint");
    // More history after the checkpoint, so a cut in the WAL's tail can miss it.
    for i in 0..40u32 {
        let t = db.begin();
        db.put(t, format!("late{i:02}").as_bytes(), &[7; 40])
            .unwrap();
        db.commit(t).unwrap();
        for _ in 0..3 {
            now += 1;
            db.storage_mut().advance(1);
            db.tick(now).unwrap();
        }
    }
    let mut disk = db.into_storage();
    disk.settle();
    disk.crash();
    disk
}

/// Opens and uses a damaged database; returns what happened, for the tally.
fn exercise(disk: SimDisk) -> &'static str {
    disk.validate();
    let (mut db, rec) = match Db::open(disk, config()) {
        Ok(x) => x,
        Err(DbError::Log(_)) => return "refused: WAL corrupt",
        Err(DbError::Tree(_)) => return "refused: page corrupt",
        Err(DbError::Record { .. }) => return "refused: record corrupt",
        Err(DbError::Corrupt(_)) => return "refused: files disagree",
        Err(e) => {
            // Any other typed error is acceptable too; name it so a new kind shows up.
            let _ = e.to_string();
            return "refused: other";
        }
    };
    let _ = rec.describe();
    let mut now = 0;
    for _ in 0..200 {
        now += 1;
        db.storage_mut().advance(1);
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

#[test]
fn damaged_files_give_typed_errors_never_panics() {
    let base = healthy();
    let files = base.list();
    assert!(files.iter().any(|f| f.starts_with("wal-")));
    assert!(files.contains(&"btree.pages".to_owned()));
    assert!(files.contains(&"db.control".to_owned()));
    let mut rng = Rng::new(0xDA7A);
    let rounds = if cfg!(target_arch = "wasm32") {
        150
    } else {
        1500
    };
    let mut tally = std::collections::BTreeMap::<&str, u32>::new();
    for round in 0..rounds {
        let mut disk = base.clone();
        let file = &files[rng.index(files.len())];
        let len = read_all(&disk, file).unwrap().len() as u64;
        if len == 0 {
            continue;
        }
        match rng.below(4) {
            // Bit rot: a few flipped bits.
            0 | 1 => {
                for _ in 0..1 + rng.below(3) {
                    disk.flip_bit(file, rng.below(len * 8)).unwrap();
                }
            }
            // A run of garbage bytes.
            2 => {
                let at = rng.below(len);
                let mut junk = vec![0u8; usize::try_from(1 + rng.below(64)).unwrap()];
                rng.fill(&mut junk);
                disk.write(file, at, &junk).unwrap();
            }
            // Truncation.
            _ => disk.set_len(file, rng.below(len)).unwrap(),
        }
        disk.sync().unwrap();
        disk.settle();
        disk.take_completions();
        #[cfg(not(target_arch = "wasm32"))]
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| exercise(disk)))
            .unwrap_or_else(|_| panic!("round {round}: damaging {file} made the database panic"));
        #[cfg(target_arch = "wasm32")]
        let outcome = {
            let _ = round;
            exercise(disk)
        };
        *tally.entry(outcome).or_default() += 1;
    }
    // The damage must actually have been noticed in several ways.
    assert!(tally.keys().any(|k| k.starts_with("refused")), "{tally:?}");
    assert!(tally.contains_key("opened: WAL truncated"), "{tally:?}");
    #[cfg(not(target_arch = "wasm32"))]
    println!("{rounds} rounds: {tally:?}");
}
