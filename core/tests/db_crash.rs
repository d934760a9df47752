//! The database's seeded crash harness: random transactional workloads from several
//! clients, crashes at random points (mid-sync, mid-checkpoint, mid-eviction, with torn
//! WAL tails and torn pages, all from the simulated disk), recovery, then checks:
//!
//! * every acknowledged commit is present;
//! * the recovered state equals the replay, in commit order, of exactly the transactions
//!   whose commit record survived (the WAL survives as a prefix, so that set is "commit
//!   LSN below where the recovered WAL ends"): no aborted, unacknowledged-and-lost or
//!   partial transaction is visible;
//! * `validate()` holds on the database (WAL, tree, locks) after every step.
//!
//! Seeds: 10,000 in the normal run (fewer in wasm); more with
//! `LOGSPINE_SEEDS=100000 cargo test --release -p logspine-core --test db_crash`;
//! one replayed with `LOGSPINE_SEED=N cargo test -p logspine-core --test db_crash`.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::collections::BTreeMap;

use logspine_core::btree::{BTreeConfig, PageFileConfig};
use logspine_core::db::{CheckpointConfig, Db, DbConfig, DbError, GroupCommitConfig, TxnId};
use logspine_core::{LogConfig, Lsn, Rng, SimDisk, SimDiskConfig, SyncLatency};

type Writes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

struct Client {
    txn: Option<TxnId>,
    writes: Writes,
}

#[derive(Default, Debug, Clone, Copy)]
struct Coverage {
    crashes: u64,
    torn_wal: u64,
    torn_pages: u64,
    crash_mid_checkpoint: u64,
    crash_sync_in_flight: u64,
    losers_undone: u64,
    pages_repaired: u64,
    checkpoints: u64,
    commits: u64,
}

fn config(rng: &mut Rng) -> (DbConfig, SimDiskConfig) {
    let page_size = [512u32, 1024][rng.index(2)];
    let db = DbConfig {
        wal: LogConfig {
            segment_bytes: [512, 2048, 16384][rng.index(3)],
            ..LogConfig::new("wal")
        },
        tree: BTreeConfig {
            page_file: PageFileConfig {
                file: "btree.pages".into(),
                page_size,
            },
            pool_frames: 8 + rng.index(12),
            full_page_writes: true,
        },
        control_file: "db.control".into(),
        group_commit: GroupCommitConfig {
            enabled: rng.below(4) != 0,
            max_batch: 1 + rng.index(8),
            max_wait_ticks: rng.below(4),
        },
        checkpoint: CheckpointConfig {
            every_wal_bytes: [0, 2000, 8000][rng.index(3)],
            pages_per_tick: 1 + rng.index(4),
        },
        wal_writer_delay_ticks: 1 + rng.below(30),
    };
    let disk = SimDiskConfig {
        sync_latency: SyncLatency::Uniform {
            min: 1,
            max: 1 + rng.below(8),
        },
        sector_bytes: [64, 512][rng.index(2)],
        tear_on_crash: true,
    };
    (db, disk)
}

macro_rules! check {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

fn err(e: DbError) -> String {
    e.to_string()
}

/// Ticks until recovery's undo and all syncs are done.
fn settle(db: &mut Db<SimDisk>, now: &mut u64) -> Result<(), String> {
    for _ in 0..10_000 {
        if !db.is_recovering() && db.storage().next_completion_at().is_none() {
            return Ok(());
        }
        *now += 1;
        db.storage_mut().advance(1);
        db.tick(*now).map_err(err)?;
    }
    Err("recovery did not finish within 10,000 ticks (livelock)".into())
}

fn run_seed(seed: u64, cov: &mut Coverage) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let (cfg, disk_cfg) = config(&mut rng);
    let disk = SimDisk::new(disk_cfg, seed ^ 0x5EED);
    let (mut db, _) = Db::open(disk, cfg.clone()).map_err(err)?;
    let mut now = 0u64;
    // The committed state as of the last recovery, and every transaction since whose
    // commit record was appended (commit LSN → its writes).
    let mut base: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut committing: BTreeMap<Lsn, (TxnId, Writes)> = BTreeMap::new();
    let mut acked: Vec<Lsn> = Vec::new();
    let keys: Vec<Vec<u8>> = (0..24 + rng.below(40))
        .map(|i| format!("k{i:03}").into_bytes())
        .collect();
    let n_clients = 1 + rng.index(6);
    let mut clients: Vec<Client> = (0..n_clients)
        .map(|_| Client {
            txn: None,
            writes: Writes::new(),
        })
        .collect();
    let cycles = 1 + rng.below(3);
    for cycle in 0..cycles {
        let steps = 50 + rng.below(250);
        for step in 0..steps {
            let ctx = |m: String| format!("cycle {cycle} step {step}: {m}");
            let c = rng.index(clients.len());
            match (clients[c].txn, rng.below(100)) {
                (None, _) => {
                    clients[c].txn = Some(db.begin());
                    clients[c].writes.clear();
                }
                (Some(txn), 0..=54) => {
                    let key = keys[rng.index(keys.len())].clone();
                    let value = if rng.below(5) == 0 {
                        None
                    } else {
                        let mut v = vec![0u8; rng.index(60)];
                        rng.fill(&mut v);
                        Some(v)
                    };
                    let r = match &value {
                        Some(v) => db.put(txn, &key, v),
                        None => db.delete(txn, &key),
                    };
                    match r {
                        Ok(()) => {
                            clients[c].writes.insert(key, value);
                        }
                        Err(DbError::Conflict { .. }) => {
                            db.abort(txn).map_err(|e| ctx(err(e)))?;
                            clients[c].txn = None;
                        }
                        Err(DbError::WouldBlock(_)) => {}
                        Err(e) => return Err(ctx(format!("write: {e}"))),
                    }
                }
                (Some(txn), 55..=64) => {
                    // Reads inside the transaction see its own writes.
                    let key = keys[rng.index(keys.len())].clone();
                    match db.get(Some(txn), &key) {
                        Ok(v) => {
                            if let Some(w) = clients[c].writes.get(&key) {
                                check!(
                                    &v == w,
                                    "{}",
                                    ctx(format!("txn read of {key:?} missed its own write"))
                                );
                            }
                        }
                        Err(DbError::WouldBlock(_)) => {}
                        Err(e) => return Err(ctx(format!("get: {e}"))),
                    }
                }
                (Some(txn), 65..=84) => {
                    let lsn_before = db.wal().next_lsn();
                    db.commit(txn).map_err(|e| ctx(format!("commit: {e}")))?;
                    let writes = std::mem::take(&mut clients[c].writes);
                    if db.wal().next_lsn() > lsn_before && !writes.is_empty() {
                        committing.insert(lsn_before, (txn, writes));
                    }
                    clients[c].txn = None;
                }
                (Some(txn), 85..=92) => {
                    db.abort(txn).map_err(|e| ctx(format!("abort: {e}")))?;
                    clients[c].txn = None;
                }
                (Some(_), _) => {
                    if rng.below(4) == 0 {
                        db.request_checkpoint().map_err(|e| ctx(err(e)))?;
                    }
                }
            }
            let dt = rng.below(3);
            now += dt;
            db.storage_mut().advance(dt);
            db.tick(now).map_err(|e| ctx(format!("tick: {e}")))?;
            for a in db.take_acks() {
                if let Some(lsn) = a.lsn {
                    acked.push(lsn);
                }
            }
            db.take_events();
            db.validate();
        }

        // Crash.
        cov.crashes += 1;
        cov.crash_mid_checkpoint += u64::from(db.checkpoint_running());
        if !db.is_quiescent() {
            cov.crash_sync_in_flight += u64::from(db.storage().next_completion_at().is_some());
        }
        let mut disk = db.into_storage();
        let report = disk.crash();
        if let Some(t) = &report.torn {
            if t.file.starts_with("wal") {
                cov.torn_wal += 1;
            } else if t.file.starts_with("btree") {
                cov.torn_pages += 1;
            }
        }
        let (db2, rec) = Db::open(disk, cfg.clone())
            .map_err(|e| format!("cycle {cycle}: recovery failed: {e}"))?;
        db = db2;
        cov.pages_repaired += rec.pages_repaired;
        cov.losers_undone += rec.losers.len() as u64;
        if rec.checkpoint.is_some() {
            cov.checkpoints += 1;
        }
        // The WAL survived up to here (records appended by recovery come after).
        let survived = rec.wal.next_lsn;
        for lsn in &acked {
            check!(
                *lsn < survived,
                "cycle {cycle}: acknowledged commit at {lsn} lost (WAL recovered below {survived})"
            );
        }
        for (lsn, (_, writes)) in committing.range(..survived) {
            let _ = lsn;
            for (k, v) in writes {
                match v {
                    Some(v) => base.insert(k.clone(), v.clone()),
                    None => base.remove(k),
                };
            }
        }
        cov.commits += committing.range(..survived).count() as u64;
        committing.clear();
        acked.clear();
        for cl in &mut clients {
            cl.txn = None;
            cl.writes.clear();
        }
        settle(&mut db, &mut now).map_err(|e| format!("cycle {cycle}: {e}"))?;
        db.validate();
        check!(!db.is_recovering(), "cycle {cycle}: undo unfinished");
        // A read may have to wait for a WAL sync before the pool can evict a page.
        let mut got = None;
        for _ in 0..1000 {
            match db.scan(b"", None) {
                Ok(all) => {
                    got = Some(all.into_iter().collect::<BTreeMap<_, _>>());
                    break;
                }
                Err(DbError::WouldBlock(_)) => {
                    now += 1;
                    db.storage_mut().advance(1);
                    db.tick(now).map_err(err)?;
                }
                Err(e) => return Err(format!("cycle {cycle}: scan: {e}")),
            }
        }
        let got = got.ok_or_else(|| format!("cycle {cycle}: scan blocked for 1000 ticks"))?;
        if got != base {
            let missing: Vec<_> = base
                .keys()
                .filter(|k| !got.contains_key(*k))
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .collect();
            let extra: Vec<_> = got
                .keys()
                .filter(|k| !base.contains_key(*k))
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .collect();
            let differ: Vec<_> = base
                .iter()
                .filter(|(k, v)| got.get(*k).is_some_and(|g| g != *v))
                .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
                .collect();
            return Err(format!(
                "cycle {cycle}: recovered state differs from the replay of committed transactions: missing {missing:?}, extra {extra:?}, different {differ:?} ({})",
                rec.describe()
            ));
        }
        for k in &keys {
            let mut v = db.get(None, k);
            for _ in 0..1000 {
                if !matches!(v, Err(DbError::WouldBlock(_))) {
                    break;
                }
                now += 1;
                db.storage_mut().advance(1);
                db.tick(now).map_err(err)?;
                v = db.get(None, k);
            }
            let v = v.map_err(err)?;
            check!(
                v.as_ref() == base.get(k),
                "cycle {cycle}: get {k:?} disagrees with scan"
            );
        }
    }
    Ok(())
}

fn replay_hint(seed: u64) -> String {
    format!(
        "replay: LOGSPINE_SEED={seed} cargo test -p logspine-core --test db_crash -- crash_harness"
    )
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

fn run_checked(seed: u64, cov: &mut Coverage) {
    #[cfg(not(target_arch = "wasm32"))]
    let result = {
        let mut local = *cov;
        let r =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_seed(seed, &mut local)))
                .unwrap_or_else(|p| {
                    Err(format!(
                        "panicked: {}",
                        p.downcast_ref::<String>()
                            .map(String::as_str)
                            .or(p.downcast_ref::<&str>().copied())
                            .unwrap_or("?")
                    ))
                });
        *cov = local;
        r
    };
    #[cfg(target_arch = "wasm32")]
    let result = run_seed(seed, cov);
    if let Err(e) = result {
        panic!("seed {seed}: {e}\n{}", replay_hint(seed));
    }
}

#[test]
fn crash_harness() {
    let mut cov = Coverage::default();
    if let Some(seed) = env_u64("LOGSPINE_SEED") {
        run_checked(seed, &mut cov);
        return;
    }
    let default = if cfg!(target_arch = "wasm32") {
        200
    } else {
        10_000
    };
    let seeds = env_u64("LOGSPINE_SEEDS").unwrap_or(default);
    for seed in 0..seeds {
        run_checked(seed, &mut cov);
    }
    #[cfg(not(target_arch = "wasm32"))]
    println!("{seeds} seeds: {cov:?}");
    // The harness must actually reach the hard cases, or it proves little.
    if seeds >= 1000 {
        assert!(
            cov.torn_wal > 0,
            "no torn WAL tail in {seeds} seeds: {cov:?}"
        );
        assert!(cov.torn_pages > 0, "no torn page in {seeds} seeds: {cov:?}");
        assert!(
            cov.pages_repaired > 0,
            "no torn page repaired in {seeds} seeds: {cov:?}"
        );
        assert!(
            cov.losers_undone > 0,
            "no loser undone in {seeds} seeds: {cov:?}"
        );
        assert!(
            cov.checkpoints > 0,
            "no recovery from a checkpoint in {seeds} seeds: {cov:?}"
        );
        assert!(
            cov.crash_mid_checkpoint > 0,
            "no crash mid-checkpoint in {seeds} seeds: {cov:?}"
        );
        assert!(
            cov.crash_sync_in_flight > 0,
            "no crash mid-sync in {seeds} seeds: {cov:?}"
        );
    }
}
