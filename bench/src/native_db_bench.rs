//! The native half of the `db_bench`-shaped benchmark (issue 4): our [`Lsm`] over
//! `logspine_native::FileStorage` and fjall, in the same run, each in a fresh directory
//! under the system temp directory (removed afterwards).
//!
//! * Ours: the driver of [`crate::db_bench`]; `FileStorage::sync` writes and fsyncs at
//!   once. No WAL: the index alone. A fill ends when every key is in a durable table and
//!   no compaction is due.
//! * fjall (defaults: journal on, `manual_journal_persist(false)`, so each insert is
//!   written to the journal file in the OS page cache with no fsync; 64 MiB memtables, LZ4
//!   on the deeper levels, background flush and compaction threads): `Keyspace::insert`
//!   per key; a fill ends with `Database::persist(PersistMode::SyncAll)` (journal fsynced:
//!   the data is durable) and `Keyspace::rotate_memtable_and_wait` (the memtable flushed
//!   to a table, as ours is; compactions may still run in the background).
//!
//! [`Lsm`]: logspine_core::lsm::tree::Lsm

use std::fmt::Write as _;
use std::path::PathBuf;

use logspine_native::FileStorage;

use crate::db_bench::{
    fill, ours_details_table, run_ours, BenchStorage, OursResult, Timed, Workload, FILL_SEED,
    READ_SEED,
};
use crate::{f, thousands, Clock};

impl BenchStorage for FileStorage {
    fn pass_time(&mut self) {}
}

/// A fresh directory under the system temp directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `logspine-db-bench-<pid>-<name>-<counter>`.
    pub fn new(name: &str) -> Result<TempDir, String> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "logspine-db-bench-{}-{name}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(TempDir(dir))
    }

    /// The path.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What fjall's three workloads measured.
#[derive(Clone, Debug)]
pub struct FjallResult {
    /// fillseq.
    pub fillseq: Timed,
    /// fillrandom.
    pub fillrandom: Timed,
    /// readrandom (on the fillrandom keyspace).
    pub readrandom: Timed,
    /// Bytes on disk after fillrandom (`Database::disk_space`, journal included).
    pub fillrandom_disk_bytes: u64,
}

fn fe(e: fjall::Error) -> String {
    format!("fjall: {e}")
}

fn fjall_fill(
    w: &Workload,
    order: &[u64],
    clock: Clock<'_>,
) -> Result<(Timed, TempDir, fjall::Database, fjall::Keyspace), String> {
    let dir = TempDir::new("fjall")?;
    let db = fjall::Database::builder(dir.path()).open().map_err(fe)?;
    let ks = db
        .keyspace("db_bench", fjall::KeyspaceCreateOptions::default)
        .map_err(fe)?;
    let t0 = clock();
    for &i in order {
        ks.insert(Workload::key(i), w.value(i)).map_err(fe)?;
    }
    db.persist(fjall::PersistMode::SyncAll).map_err(fe)?;
    ks.rotate_memtable_and_wait().map_err(fe)?;
    let timed = Timed {
        ops: order.len() as u64,
        secs: clock() - t0,
    };
    Ok((timed, dir, db, ks))
}

/// fjall: fillseq, fillrandom, readrandom.
pub fn run_fjall(w: &Workload, clock: Clock<'_>) -> Result<FjallResult, String> {
    let seq: Vec<u64> = (0..w.n).collect();
    let (fillseq, dir, db, ks) = fjall_fill(w, &seq, &mut *clock)?;
    drop(ks);
    drop(db);
    drop(dir);

    let order = w.shuffled(FILL_SEED);
    let (fillrandom, dir, db, ks) = fjall_fill(w, &order, &mut *clock)?;
    let fillrandom_disk_bytes = db.disk_space().map_err(fe)?;
    let reads = w.reads(READ_SEED);
    let t0 = clock();
    for &i in &reads {
        let v = ks.get(Workload::key(i)).map_err(fe)?;
        if v.as_deref() != Some(w.value(i)) {
            return Err(format!("fjall readrandom: key {i} read {v:?}"));
        }
    }
    let readrandom = Timed {
        ops: reads.len() as u64,
        secs: clock() - t0,
    };
    drop(ks);
    drop(db);
    drop(dir);
    Ok(FjallResult {
        fillseq,
        fillrandom,
        readrandom,
        fillrandom_disk_bytes,
    })
}

/// Ours on `FileStorage`, each fill in a fresh directory.
pub fn run_ours_on_files(w: &Workload, clock: Clock<'_>) -> Result<OursResult, String> {
    let mut dirs = Vec::new();
    run_ours(
        w,
        || {
            let dir = TempDir::new("ours")?;
            let s = FileStorage::open(dir.path()).map_err(|e| e.to_string())?;
            dirs.push(dir);
            Ok(s)
        },
        clock,
    )
}

/// The whole native report: ours vs fjall on files, then ours on SimDisk (for the
/// wasm/native ratio), with a `DBBENCH` line.
pub fn report(n: u64, sim_n: u64, clock: Clock<'_>) -> Result<String, String> {
    let w = Workload::new(n);
    // Warm-up, untimed, small: page cache, allocator.
    let warm = Workload::new(n / 20);
    let warm_dir = TempDir::new("warm")?;
    let mut scratch = crate::db_bench::Ours::open(
        FileStorage::open(warm_dir.path()).map_err(|e| e.to_string())?,
    )?;
    fill(&mut scratch, &warm, 0..warm.n, &mut *clock)?;
    drop(scratch);
    drop(warm_dir);

    let ours = run_ours_on_files(&w, &mut *clock)?;
    let fj = run_fjall(&w, &mut *clock)?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## native: db_bench shape, ours (Lsm on FileStorage, no WAL) vs fjall {}, {} keys of 16 B, 100-byte values\n",
        FJALL_VERSION,
        thousands(f(n))
    );
    out.push_str("| workload | ours ops/s | fjall ops/s | ours / fjall | ours wall s | fjall wall s |\n|---|---:|---:|---:|---:|---:|\n");
    for (name, o, j) in [
        ("fillseq", &ours.fillseq, &fj.fillseq),
        ("fillrandom", &ours.fillrandom, &fj.fillrandom),
        ("readrandom", &ours.readrandom, &fj.readrandom),
    ] {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {:.2} | {:.2} | {:.2} |",
            thousands(o.ops_per_sec()),
            thousands(j.ops_per_sec()),
            o.ops_per_sec() / j.ops_per_sec(),
            o.secs,
            j.secs
        );
    }
    out.push('\n');
    out.push_str(&ours_details_table("ours, FileStorage", &ours));
    let _ = writeln!(
        out,
        "\nfjall disk space after fillrandom (journal included): {} bytes\n",
        thousands(f(fj.fillrandom_disk_bytes))
    );
    out.push_str(&crate::db_bench::sim_report("native", sim_n, clock)?);
    Ok(out)
}

/// The fjall version this crate is built against (Cargo.toml pins it).
pub const FJALL_VERSION: &str = "3.1.13";
