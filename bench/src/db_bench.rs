//! LevelDB's `db_bench` workload shape (issue 4) on our [`Lsm`] index: `fillseq` (keys
//! `0..n` in order), `fillrandom` (the same `n` keys in a seeded random order) and
//! `readrandom` (`n` gets of random existing keys, on the `fillrandom` tree). Keys are 16
//! bytes, zero-padded decimal like `db_bench`'s `%016d`; values are 100 deterministic
//! bytes (a window of a seeded random pool, as `db_bench`'s generator does, so they do not
//! compress).
//!
//! The index is driven the way a background thread would drive it: after every put the
//! storage's completions are handed to [`Lsm::handle_sync_completion`] and [`Lsm::step`]
//! runs while it has work (at most [`STEPS_PER_PUT`] steps); while [`Lsm::write_stalled`]
//! it steps until it is not. A fill ends with [`Lsm::freeze`] and steps until
//! [`Lsm::is_idle`] (every key in a durable table, compactions done): that time counts in
//! the fill. There is no WAL: the [`Lsm`] is the index alone.
//!
//! This module is shared by the native and the wasm runners; the native one
//! (`native_db_bench`) adds the file backend and fjall.

use std::fmt::Write as _;

use logspine_core::lsm::tree::{Lsm, LsmAmplification, LsmConfig};
use logspine_core::lsm::{CompactionConfig, CompactionStyle};
use logspine_core::{Lsn, Rng, SimDisk, SimDiskConfig, Storage, SyncLatency};

use crate::{f, thousands, Clock};

/// Key bytes (`%016d`).
pub const DB_KEY_BYTES: usize = 16;
/// Value bytes.
pub const DB_VALUE_BYTES: usize = 100;
/// Keys in the full run (`db_bench`'s default `--num`).
pub const FULL_KEYS: u64 = 1_000_000;
/// Keys with `--quick`.
pub const QUICK_KEYS: u64 = 100_000;
/// Most background steps after one put.
pub const STEPS_PER_PUT: usize = 64;

const VALUE_POOL_BYTES: usize = 1 << 20;

/// The LSM configuration of every run: LevelDB's shape (4 MiB memtable, 2 MiB files,
/// leveled with an L0 trigger of 4, L1 10 MiB, fanout 10; 4 KiB blocks, 10 bloom bits
/// per key), two frozen memtables at most.
pub fn lsm_config() -> LsmConfig {
    LsmConfig {
        compaction: CompactionConfig {
            style: CompactionStyle::Leveled,
            l0_trigger: 4,
            base_level_bytes: 10 * 1024 * 1024,
            fanout: 10,
            target_file_bytes: 2 * 1024 * 1024,
            ..CompactionConfig::default()
        },
        memtable_bytes: 4 * 1024 * 1024,
        max_immutable_memtables: 2,
        ..LsmConfig::default()
    }
}

/// Keys and values.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Keys.
    pub n: u64,
    pool: Vec<u8>,
}

impl Workload {
    /// `n` keys.
    pub fn new(n: u64) -> Workload {
        let mut pool = vec![0; VALUE_POOL_BYTES];
        Rng::new(0xDB_BE4C).fill(&mut pool);
        Workload { n, pool }
    }

    /// Key `i`: 16 zero-padded decimal digits.
    pub fn key(i: u64) -> [u8; DB_KEY_BYTES] {
        let mut k = [b'0'; DB_KEY_BYTES];
        let mut x = i;
        for b in k.iter_mut().rev() {
            *b = b"0123456789"[usize::try_from(x % 10).expect("a digit")];
            x /= 10;
        }
        k
    }

    /// Key `i`'s value.
    pub fn value(&self, i: u64) -> &[u8] {
        let span = (VALUE_POOL_BYTES - DB_VALUE_BYTES) as u64;
        let at = usize::try_from(i.wrapping_mul(7919) % span).expect("below the pool size");
        &self.pool[at..at + DB_VALUE_BYTES]
    }

    /// `0..n` in a seeded random order (Fisher–Yates).
    pub fn shuffled(&self, seed: u64) -> Vec<u64> {
        let mut order: Vec<u64> = (0..self.n).collect();
        let mut rng = Rng::new(seed);
        for i in (1..order.len()).rev() {
            let j = usize::try_from(rng.below(i as u64 + 1)).expect("at most i");
            order.swap(i, j);
        }
        order
    }

    /// `n` random existing keys (with repeats, as `db_bench`'s readrandom).
    pub fn reads(&self, seed: u64) -> Vec<u64> {
        let mut rng = Rng::new(seed);
        (0..self.n).map(|_| rng.below(self.n)).collect()
    }
}

/// Seeds of the random orders.
pub const FILL_SEED: u64 = 301;
/// Seed of the reads.
pub const READ_SEED: u64 = 302;

/// A storage the driver can let time pass on (SimDisk's syncs complete in virtual time;
/// `FileStorage`'s at once).
pub trait BenchStorage: Storage {
    /// Lets in-flight syncs make progress.
    fn pass_time(&mut self);
}

impl BenchStorage for SimDisk {
    fn pass_time(&mut self) {
        if self.syncs_in_flight() > 0 {
            self.advance(1);
        }
    }
}

/// The SimDisk of the SimDisk runs: a sync completes one tick after it is issued, and the
/// driver advances one tick whenever a sync is in flight.
pub fn sim_disk() -> SimDisk {
    SimDisk::new(
        SimDiskConfig {
            sync_latency: SyncLatency::Fixed(1),
            tear_on_crash: false,
            ..SimDiskConfig::default()
        },
        1,
    )
}

/// Our index over a storage, with the next LSN.
pub struct Ours<S: BenchStorage> {
    /// The storage.
    pub storage: S,
    /// The index.
    pub lsm: Lsm,
    next_lsn: u64,
}

fn e(x: impl std::fmt::Display) -> String {
    x.to_string()
}

impl<S: BenchStorage> Ours<S> {
    /// Opens a fresh index on `storage`.
    pub fn open(mut storage: S) -> Result<Self, String> {
        let (lsm, _) = Lsm::open(&mut storage, lsm_config()).map_err(e)?;
        Ok(Ours {
            storage,
            lsm,
            next_lsn: 1,
        })
    }

    /// Drains completions and steps while there is work (bounded).
    fn pump(&mut self) -> Result<(), String> {
        self.storage.pass_time();
        for c in self.storage.take_completions() {
            self.lsm.handle_sync_completion(&c);
        }
        for _ in 0..STEPS_PER_PUT {
            if self.lsm.step(&mut self.storage).map_err(e)?.is_none() {
                break;
            }
        }
        Ok(())
    }

    /// One put, then the background work.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), String> {
        self.lsm
            .put(&mut self.storage, key, value, Lsn(self.next_lsn))
            .map_err(e)?;
        self.next_lsn += 1;
        self.pump()?;
        let mut rounds = 0u64;
        while self.lsm.write_stalled() {
            self.pump()?;
            rounds += 1;
            if rounds > 10_000_000 {
                return Err("the write stall did not end".into());
            }
        }
        Ok(())
    }

    /// Freezes and steps until idle: every key in a durable table.
    pub fn finish(&mut self) -> Result<(), String> {
        for _ in 0..100_000_000u64 {
            if !self.lsm.active_memtable().is_empty() {
                self.lsm.freeze();
            }
            if self.lsm.is_idle() && self.lsm.active_memtable().is_empty() {
                return Ok(());
            }
            self.pump()?;
        }
        Err("the index did not become idle".into())
    }

    /// A get.
    pub fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        self.lsm.get(&self.storage, key).map_err(e)
    }

    /// The amplification meters.
    pub fn amplification(&self) -> Result<LsmAmplification, String> {
        self.lsm.amplification(&self.storage).map_err(e)
    }
}

/// One timed workload.
#[derive(Clone, Debug, PartialEq)]
pub struct Timed {
    /// Operations.
    pub ops: u64,
    /// Wall seconds.
    pub secs: f64,
}

impl Timed {
    /// Operations per wall second.
    pub fn ops_per_sec(&self) -> f64 {
        f(self.ops) / self.secs
    }
}

/// What our three workloads measured.
#[derive(Clone, Debug)]
pub struct OursResult {
    /// fillseq.
    pub fillseq: Timed,
    /// fillrandom.
    pub fillrandom: Timed,
    /// readrandom (on the fillrandom tree).
    pub readrandom: Timed,
    /// Write amplification after fillseq (table bytes written per key + value byte).
    pub fillseq_write_amp: f64,
    /// Write amplification after fillrandom.
    pub fillrandom_write_amp: f64,
    /// Space amplification after fillrandom.
    pub fillrandom_space_amp: f64,
    /// Flushes and compactions of fillrandom.
    pub fillrandom_flushes: u64,
    /// Compactions of fillrandom.
    pub fillrandom_compactions: u64,
    /// readrandom: tables probed per get.
    pub tables_probed_per_get: f64,
    /// readrandom: tables skipped by their bloom filter per get.
    pub bloom_skips_per_get: f64,
    /// readrandom: data blocks read per get.
    pub blocks_per_get: f64,
    /// Tables per level after fillrandom.
    pub levels: Vec<usize>,
}

/// Fills `ours` with the keys in `order`, then finishes; timed.
pub fn fill<S: BenchStorage>(
    ours: &mut Ours<S>,
    w: &Workload,
    order: impl Iterator<Item = u64>,
    clock: Clock<'_>,
) -> Result<Timed, String> {
    let t0 = clock();
    let mut ops = 0;
    for i in order {
        ours.put(&Workload::key(i), w.value(i))?;
        ops += 1;
    }
    ours.finish()?;
    Ok(Timed {
        ops,
        secs: clock() - t0,
    })
}

/// Runs fillseq on one fresh storage, fillrandom then readrandom on another.
pub fn run_ours<S: BenchStorage>(
    w: &Workload,
    mut fresh: impl FnMut() -> Result<S, String>,
    clock: Clock<'_>,
) -> Result<OursResult, String> {
    let mut seq = Ours::open(fresh()?)?;
    let fillseq = fill(&mut seq, w, 0..w.n, &mut *clock)?;
    let seq_amp = seq.amplification()?;
    drop(seq);

    let mut rnd = Ours::open(fresh()?)?;
    let order = w.shuffled(FILL_SEED);
    let fillrandom = fill(&mut rnd, w, order.into_iter(), &mut *clock)?;
    let rnd_amp = rnd.amplification()?;
    let stats = rnd.lsm.stats().clone();
    let levels = (0..rnd.lsm.version().num_levels())
        .map(|l| rnd.lsm.version().level(l).len())
        .collect();

    let reads = w.reads(READ_SEED);
    let before = rnd.amplification()?;
    let t0 = clock();
    for &i in &reads {
        let v = rnd.get(&Workload::key(i))?;
        if v.as_deref() != Some(w.value(i)) {
            return Err(format!("readrandom: key {i} read {v:?}"));
        }
    }
    let readrandom = Timed {
        ops: reads.len() as u64,
        secs: clock() - t0,
    };
    let after = rnd.amplification()?;
    let gets = f(after.lookups - before.lookups);
    Ok(OursResult {
        fillseq,
        fillrandom,
        readrandom,
        fillseq_write_amp: seq_amp.write(),
        fillrandom_write_amp: rnd_amp.write(),
        fillrandom_space_amp: rnd_amp.space(),
        fillrandom_flushes: stats.flushes,
        fillrandom_compactions: stats.compactions,
        tables_probed_per_get: f(after.lookup.tables_probed - before.lookup.tables_probed) / gets,
        bloom_skips_per_get: f(after.lookup.bloom_skips - before.lookup.bloom_skips) / gets,
        blocks_per_get: f(after.lookup.blocks_read - before.lookup.blocks_read) / gets,
        levels,
    })
}

/// Our amplification table, in markdown.
pub fn ours_details_table(label: &str, r: &OursResult) -> String {
    let mut out = String::from(
        "| storage | write amp, fillseq | write amp, fillrandom | space amp, fillrandom | flushes / compactions (fillrandom) | tables per level | readrandom: tables probed / bloom skips / blocks read per get |\n|---|---:|---:|---:|---:|---|---:|\n",
    );
    let levels: Vec<String> = r.levels.iter().map(ToString::to_string).collect();
    let _ = writeln!(
        out,
        "| {label} | {:.2} | {:.2} | {:.2} | {} / {} | {} | {:.2} / {:.2} / {:.2} |",
        r.fillseq_write_amp,
        r.fillrandom_write_amp,
        r.fillrandom_space_amp,
        r.fillrandom_flushes,
        r.fillrandom_compactions,
        levels.join(" "),
        r.tables_probed_per_get,
        r.bloom_skips_per_get,
        r.blocks_per_get,
    );
    out
}

/// Our three workloads on SimDisk (in memory), as the wasm/native comparison runs them:
/// a table and a `DBBENCH` line `scripts/bench.sh` reads.
pub fn sim_report(host: &str, n: u64, clock: Clock<'_>) -> Result<String, String> {
    let w = Workload::new(n);
    // Warm-up, untimed (lets a wasm engine tier the hot code up).
    run_ours(&Workload::new(n / 10), || Ok(sim_disk()), &mut *clock)?;
    let r = run_ours(&w, || Ok(sim_disk()), clock)?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## {host}: db_bench shape on SimDisk, {} keys\n",
        thousands(f(n))
    );
    out.push_str("| workload | ops/s | wall s |\n|---|---:|---:|\n");
    for (name, t) in [
        ("fillseq", &r.fillseq),
        ("fillrandom", &r.fillrandom),
        ("readrandom", &r.readrandom),
    ] {
        let _ = writeln!(
            out,
            "| {name} | {} | {:.2} |",
            thousands(t.ops_per_sec()),
            t.secs
        );
    }
    out.push('\n');
    out.push_str(&ours_details_table("SimDisk", &r));
    let _ = writeln!(
        out,
        "\nDBBENCH host={} keys={} fillseq={:.0} fillrandom={:.0} readrandom={:.0}",
        host.replace(' ', "_"),
        n,
        r.fillseq.ops_per_sec(),
        r.fillrandom.ops_per_sec(),
        r.readrandom.ops_per_sec()
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_db_bench_shaped() {
        assert_eq!(&Workload::key(42), b"0000000000000042");
        let w = Workload::new(10);
        assert_eq!(w.value(3).len(), DB_VALUE_BYTES);
        let mut o = w.shuffled(1);
        o.sort_unstable();
        assert_eq!(o, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn tiny_run_on_sim_disk_reads_back_every_key() {
        let mut t = 0.0;
        let mut clock = move || {
            t += 1.0;
            t
        };
        let r = run_ours(&Workload::new(2_000), || Ok(sim_disk()), &mut clock).unwrap();
        assert_eq!(r.fillseq.ops, 2_000);
        assert_eq!(r.readrandom.ops, 2_000);
        assert!(r.fillrandom_write_amp >= 1.0);
    }
}
