//! A storage that refuses every sync (a full disk, a browser's full storage quota): the
//! database retries after a wait that starts at `SYNC_RETRY_TICKS` and doubles up to
//! `SYNC_RETRY_MAX_TICKS`, not on every tick; it acknowledges nothing meanwhile; and once
//! the storage accepts again, the next attempt makes the waiting commit durable and the
//! wait starts over.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use logspine_core::db::{Db, DbConfig, DbEvent, SYNC_RETRY_MAX_TICKS, SYNC_RETRY_TICKS};
use logspine_core::{
    SimDisk, SimDiskConfig, Storage, StorageError, SyncCompletion, SyncId, SyncLatency,
};

/// A simulated disk whose sync completions are turned into refusals while `refuse` is on.
struct Refusing {
    disk: SimDisk,
    refuse: bool,
}

impl Storage for Refusing {
    fn list(&self) -> Vec<String> {
        self.disk.list()
    }
    fn len(&self, file: &str) -> Result<u64, StorageError> {
        self.disk.len(file)
    }
    fn read(&self, file: &str, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        self.disk.read(file, offset, buf)
    }
    fn write(&mut self, file: &str, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        self.disk.write(file, offset, data)
    }
    fn set_len(&mut self, file: &str, len: u64) -> Result<(), StorageError> {
        self.disk.set_len(file, len)
    }
    fn delete(&mut self, file: &str) -> Result<(), StorageError> {
        self.disk.delete(file)
    }
    fn sync(&mut self) -> Result<SyncId, StorageError> {
        self.disk.sync()
    }
    fn take_completions(&mut self) -> Vec<SyncCompletion> {
        let mut done = self.disk.take_completions();
        if self.refuse {
            for c in &mut done {
                c.result = Err(StorageError::QuotaExceeded {
                    detail: "the test's quota is full".into(),
                });
            }
        }
        done
    }
    fn syncs_in_flight(&self) -> u64 {
        self.disk.syncs_in_flight()
    }
    fn has_volatile_changes(&self) -> bool {
        self.disk.has_volatile_changes()
    }
}

/// Ticks the database and its disk one tick at a time up to `until`; returns the ticks at
/// which it issued a sync and how many syncs failed.
fn run(db: &mut Db<Refusing>, now: &mut u64, until: u64) -> (Vec<u64>, usize) {
    let (mut issued, mut failed) = (Vec::new(), 0);
    while *now < until {
        *now += 1;
        db.storage_mut().disk.advance(1);
        db.tick(*now).unwrap();
        for e in db.take_events() {
            match e {
                DbEvent::SyncIssued { .. } => issued.push(*now),
                DbEvent::SyncDone { error: Some(_), .. } => failed += 1,
                _ => {}
            }
        }
    }
    (issued, failed)
}

#[test]
fn a_refused_sync_is_retried_after_a_doubling_wait_and_a_success_resets_it() {
    let disk = SimDisk::new(
        SimDiskConfig {
            sync_latency: SyncLatency::Fixed(2),
            ..SimDiskConfig::default()
        },
        7,
    );
    let storage = Refusing {
        disk,
        refuse: false,
    };
    let (mut db, _) = Db::open(storage, DbConfig::default()).unwrap();
    let mut now = 0;
    run(&mut db, &mut now, 50);
    db.take_acks();

    // The storage fills up; a commit waits.
    db.storage_mut().refuse = true;
    let t = db.begin();
    db.put(t, b"k", b"v").unwrap();
    db.commit(t).unwrap();
    let (issued, failed) = run(&mut db, &mut now, 50 + 5_000);
    assert!(
        db.take_acks().is_empty(),
        "nothing is acknowledged while every sync fails"
    );
    assert!(failed >= 5, "the syncs were tried and failed: {failed}");
    // Without the wait, a sync would go out every few ticks (hundreds in 5,000 ticks).
    // With it: gaps of 10, 20, 40, ... 640 ticks, then 1,000 (plus the disk's 2).
    let gaps: Vec<u64> = issued.windows(2).map(|w| w[1] - w[0]).collect();
    let first = &issued[..issued.len().min(16)];
    for (i, gap) in gaps.iter().enumerate() {
        let wait = (SYNC_RETRY_TICKS << i).min(SYNC_RETRY_MAX_TICKS);
        assert!(
            *gap >= wait,
            "retry {} came {gap} ticks after the one before, before its wait of {wait} (issued at {first:?}…)",
            i + 1
        );
        assert!(
            *gap <= wait + 10,
            "retry {} waited {gap} ticks, far past {wait} (issued at {first:?}…)",
            i + 1
        );
    }
    assert!(
        issued.len() <= 12,
        "{} syncs in 5,000 ticks of a refusing storage (issued at {first:?}…)",
        issued.len()
    );

    // Space again: the next attempt succeeds and acknowledges the commit.
    db.storage_mut().refuse = false;
    let before = now;
    run(&mut db, &mut now, before + SYNC_RETRY_MAX_TICKS + 20);
    let acks = db.take_acks();
    assert_eq!(
        acks.len(),
        1,
        "the waiting commit is acknowledged: {acks:?}"
    );
    assert_eq!(acks[0].txn, t);

    // And the wait is gone: a new commit is synced within a few ticks.
    let t2 = db.begin();
    db.put(t2, b"k2", b"v2").unwrap();
    db.commit(t2).unwrap();
    let start = now;
    while db.take_acks().is_empty() {
        let next = now + 1;
        run(&mut db, &mut now, next);
        assert!(
            now - start <= 10,
            "a commit after a success waits for no retry"
        );
    }
}
