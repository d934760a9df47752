//! # logspine-bench
//!
//! The benchmarks issue 3 asks for, as plain deterministic code that the host only times:
//! the native runner (`src/main.rs`, `std::time::Instant`) and the wasm runner
//! (`tests/wasm.rs`, `performance.now()` in Node and in headless Chromium) call the same
//! functions with their own wall clock. `scripts/bench.sh` runs all of them.
//!
//! * [`group_commit`]: clients in a loop — begin, put one key of their own, commit, wait
//!   for the acknowledgement, repeat — against a simulated sync of 1 ms, with group commit
//!   on and off. What the simulated world achieves is measured in **virtual** time
//!   (commits per virtual second, syncs per commit, commit latency); how fast the
//!   simulation runs is measured in **wall** time (commits simulated per wall second).
//! * [`replay`]: a database with a large WAL and no checkpoint, crashed once everything is
//!   durable, then opened (recovery: the WAL's own scan, analysis, redo); MB of WAL
//!   replayed per wall second.
//! * [`db_bench`] (issue 4): LevelDB `db_bench`'s fillseq, fillrandom and readrandom on our
//!   `Lsm` index; natively ([`native_db_bench`], not in wasm) on real files against fjall,
//!   and on SimDisk natively and as wasm (`tests/wasm_db_bench.rs`).
//!
//! Time: one tick is [`TICK_MICROS`] µs of virtual time, so the 1 ms sync is
//! [`SYNC_LATENCY_TICKS`] ticks. The world moves one tick at a time (`advance(1)`, then
//! `tick`), so the checkpointer and the WAL writer see every tick. Clients take no time to think: an acknowledged client begins its next
//! transaction in the tick its acknowledgement arrives.
//!
//! Two sync models (see [`SyncModel`]), both `SimDiskConfig::serial_syncs`: one sync at a
//! time (the default, what a single WAL file gets and what group commit exists for), and
//! overlapping syncs (a device with a deep flush queue).

pub mod amplification;
pub mod db_bench;
#[cfg(not(target_arch = "wasm32"))]
pub mod native_db_bench;
pub mod raft_throughput;
pub mod time_travel;
pub mod topic_throughput;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use logspine_core::btree::BTreeConfig;
use logspine_core::db::{CheckpointConfig, Db, DbConfig, DbError, GroupCommitConfig, TxnId};
use logspine_core::{Rng, SimDisk, SimDiskConfig, Storage, SyncLatency};

/// Virtual microseconds per tick.
pub const TICK_MICROS: u64 = 10;
/// The simulated sync latency: 1 ms.
pub const SYNC_LATENCY_TICKS: u64 = 1000 / TICK_MICROS;
/// Key bytes (`c###-k##########`).
pub const KEY_BYTES: usize = 16;
/// Value bytes.
pub const VALUE_BYTES: usize = 100;
/// Frames in the buffer pool: the group-commit key set fits, so pages are evicted only in
/// the replay build (whose key set is larger).
pub const POOL_FRAMES: usize = 256;

/// A host's wall clock, in seconds from any origin.
pub type Clock<'a> = &'a mut dyn FnMut() -> f64;

/// How the simulated disk runs syncs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncModel {
    /// One at a time (`serial_syncs: true`): a sync asked for while another runs starts
    /// when that one completes; a single WAL file's fsyncs, Postgres's `WALWriteLock`.
    OneAtATime,
    /// `serial_syncs: false`: each sync completes its latency after it was issued, so
    /// concurrent syncs overlap (a device with a deep flush queue).
    Overlapping,
}

impl SyncModel {
    /// For tables.
    pub fn describe(self) -> &'static str {
        match self {
            SyncModel::OneAtATime => "one sync at a time",
            SyncModel::Overlapping => "overlapping syncs",
        }
    }
}

/// How big the runs are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizes {
    /// Virtual duration of each group-commit run, in ticks.
    pub duration_ticks: u64,
    /// Client counts swept.
    pub clients: &'static [usize],
    /// WAL bytes the replay build writes (at least).
    pub replay_wal_bytes: u64,
    /// Times the crashed image is opened (each on a fresh copy); the median is reported.
    pub replay_repetitions: usize,
}

impl Sizes {
    /// What BENCHMARKS.md reports: 5 virtual seconds per run, a WAL of 32 MB.
    pub const FULL: Sizes = Sizes {
        duration_ticks: 5_000_000 / TICK_MICROS,
        clients: &[1, 4, 16, 64],
        replay_wal_bytes: 32_000_000,
        replay_repetitions: 5,
    };
    /// A smoke run for tests: 50 virtual ms, a WAL of 200 KB.
    pub const QUICK: Sizes = Sizes {
        duration_ticks: 50_000 / TICK_MICROS,
        clients: &[1, 16],
        replay_wal_bytes: 200_000,
        replay_repetitions: 1,
    };
}

/// One group-commit run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupCommitRun {
    /// Concurrent clients.
    pub clients: usize,
    /// Group commit on (`max_wait_ticks` 0) or off.
    pub group_commit: bool,
    /// How the disk runs syncs.
    pub sync_model: SyncModel,
    /// Virtual duration, in ticks.
    pub duration_ticks: u64,
}

/// What a group-commit run measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GroupCommitResult {
    /// The run.
    pub run: GroupCommitRun,
    /// Commits acknowledged within the duration.
    pub commits: u64,
    /// Syncs issued for commits.
    pub commit_syncs: u64,
    /// Every sync issued (commits, checkpoints, the WAL writer, recovery at open).
    pub syncs: u64,
    /// Checkpoints completed.
    pub checkpoints: u64,
    /// Mean commit latency, ticks.
    pub mean_latency_ticks: f64,
    /// Largest commit latency, ticks.
    pub max_latency_ticks: u64,
    /// Puts that had to wait for a WAL sync before the pool could evict (retried next tick).
    pub would_block: u64,
    /// Commits still waiting for their acknowledgement at the end (all of them are
    /// acknowledged once the run is let settle, or the run fails).
    pub unacknowledged: u64,
    /// Wall seconds the run took.
    pub wall_secs: f64,
}

#[expect(
    clippy::cast_precision_loss,
    reason = "benchmark figures: counts far below 2^53"
)]
fn f(n: u64) -> f64 {
    n as f64
}

impl GroupCommitResult {
    /// Virtual seconds the run covered.
    pub fn virtual_secs(&self) -> f64 {
        f(self.run.duration_ticks * TICK_MICROS) / 1e6
    }
    /// Commits per virtual second.
    pub fn commits_per_sec(&self) -> f64 {
        f(self.commits) / self.virtual_secs()
    }
    /// Commits per commit sync (the group-commit factor).
    pub fn commits_per_sync(&self) -> f64 {
        f(self.commits) / f(self.commit_syncs.max(1))
    }
    /// Every sync issued, per commit.
    pub fn syncs_per_commit(&self) -> f64 {
        f(self.syncs) / f(self.commits.max(1))
    }
    /// Mean commit latency, virtual ms.
    pub fn mean_latency_ms(&self) -> f64 {
        self.mean_latency_ticks * f(TICK_MICROS) / 1000.0
    }
    /// Largest commit latency, virtual ms.
    pub fn max_latency_ms(&self) -> f64 {
        f(self.max_latency_ticks * TICK_MICROS) / 1000.0
    }
    /// Commits simulated per wall second.
    pub fn wall_commits_per_sec(&self) -> f64 {
        f(self.commits) / self.wall_secs
    }
}

/// The disks the driver can move through time.
pub trait Disk: Storage {
    /// Moves virtual time forward.
    fn advance(&mut self, ticks: u64);
    /// When the next sync completes, if one is in flight.
    fn next_completion_at(&self) -> Option<u64>;
}

impl Disk for SimDisk {
    fn advance(&mut self, ticks: u64) {
        SimDisk::advance(self, ticks);
    }
    fn next_completion_at(&self) -> Option<u64> {
        SimDisk::next_completion_at(self)
    }
}

fn disk_config(model: SyncModel) -> SimDiskConfig {
    SimDiskConfig {
        sync_latency: SyncLatency::Fixed(SYNC_LATENCY_TICKS),
        serial_syncs: model == SyncModel::OneAtATime,
        ..SimDiskConfig::default()
    }
}

/// The database configuration of every run: the defaults, a pool of [`POOL_FRAMES`],
/// group commit on (`max_wait_ticks` 0) or off, checkpoints every 256 KB of WAL (the
/// default) or never.
pub fn db_config(group_commit: bool, checkpoints: bool) -> DbConfig {
    DbConfig {
        tree: BTreeConfig {
            pool_frames: POOL_FRAMES,
            ..BTreeConfig::default()
        },
        group_commit: GroupCommitConfig {
            enabled: group_commit,
            max_wait_ticks: 0,
            ..GroupCommitConfig::default()
        },
        checkpoint: if checkpoints {
            CheckpointConfig::default()
        } else {
            CheckpointConfig {
                every_wal_bytes: 0,
                ..CheckpointConfig::default()
            }
        },
        ..DbConfig::default()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientState {
    Idle,
    /// Began; the put has to be retried (the pool waited for a WAL sync).
    Writing(TxnId),
    Committing(TxnId),
}

/// The workload: clients each updating keys of their own, round robin.
struct Driver<S: Disk> {
    db: Db<S>,
    now: u64,
    keys_per_client: u64,
    clients: Vec<(ClientState, u64)>,
    waiting: BTreeMap<TxnId, usize>,
    rng: Rng,
    value: Vec<u8>,
    would_block: u64,
}

fn err(e: DbError) -> String {
    e.to_string()
}

impl<S: Disk> Driver<S> {
    fn new(
        disk: S,
        config: DbConfig,
        clients: usize,
        keys_per_client: u64,
    ) -> Result<Self, String> {
        assert!((1..=999).contains(&clients), "keys hold a 3-digit client");
        let (db, _) = Db::open(disk, config).map_err(err)?;
        Ok(Driver {
            db,
            now: 0,
            keys_per_client,
            clients: vec![(ClientState::Idle, 0); clients],
            waiting: BTreeMap::new(),
            rng: Rng::new(0xBE4C),
            value: vec![0; VALUE_BYTES],
            would_block: 0,
        })
    }

    /// One tick: time moves, the database ticks, acknowledged clients become idle, and
    /// (if `issue`) every idle client runs its next transaction up to its commit.
    fn step(&mut self, issue: bool) -> Result<(), String> {
        self.now += 1;
        self.db.storage_mut().advance(1);
        self.db.tick(self.now).map_err(err)?;
        for ack in self.db.take_acks() {
            let c = self
                .waiting
                .remove(&ack.txn)
                .ok_or_else(|| format!("acknowledgement for unknown {}", ack.txn))?;
            self.clients[c].0 = ClientState::Idle;
        }
        self.db.take_events();
        if issue {
            for c in 0..self.clients.len() {
                self.client_step(c)?;
            }
        }
        Ok(())
    }

    fn client_step(&mut self, c: usize) -> Result<(), String> {
        let (state, n) = self.clients[c];
        let txn = match state {
            ClientState::Committing(_) => return Ok(()),
            ClientState::Writing(txn) => txn,
            ClientState::Idle => self.db.begin(),
        };
        let key = format!("c{c:03}-k{:010}", n % self.keys_per_client);
        debug_assert_eq!(key.len(), KEY_BYTES);
        self.rng.fill(&mut self.value);
        match self.db.put(txn, key.as_bytes(), &self.value) {
            Ok(()) => {}
            Err(DbError::WouldBlock(_)) => {
                self.would_block += 1;
                self.clients[c].0 = ClientState::Writing(txn);
                return Ok(());
            }
            Err(e) => return Err(format!("client {c}: put: {e}")),
        }
        self.db
            .commit(txn)
            .map_err(|e| format!("client {c}: commit: {e}"))?;
        self.waiting.insert(txn, c);
        self.clients[c] = (ClientState::Committing(txn), n + 1);
        Ok(())
    }

    /// Ticks without new transactions until every commit is acknowledged and no sync is
    /// in flight.
    fn settle(&mut self) -> Result<(), String> {
        for _ in 0..1_000_000 {
            if self.waiting.is_empty()
                && self.db.is_quiescent()
                && self.db.storage().next_completion_at().is_none()
            {
                return Ok(());
            }
            self.step(false)?;
        }
        Err("the database did not settle within 1,000,000 ticks".into())
    }
}

/// Runs one group-commit configuration.
pub fn group_commit(run: GroupCommitRun, clock: Clock<'_>) -> Result<GroupCommitResult, String> {
    let config = db_config(run.group_commit, true);
    let keys_per_client = 32;
    let disk = SimDisk::new(disk_config(run.sync_model), 1);
    let d = Driver::new(disk, config, run.clients, keys_per_client)?;
    measure(d, run, clock)
}

fn measure<S: Disk>(
    mut d: Driver<S>,
    run: GroupCommitRun,
    clock: Clock<'_>,
) -> Result<GroupCommitResult, String> {
    let start = clock();
    for _ in 0..run.duration_ticks {
        d.step(true)?;
    }
    let wall_secs = clock() - start;
    let s = d.db.stats();
    let unacknowledged = d.waiting.len() as u64;
    // Untimed: every commit still waiting must be acknowledged once the syncs complete.
    d.settle()?;
    if d.db.stats().commits != s.commits + unacknowledged {
        return Err(format!(
            "{} commits were waiting at the end, {} were acknowledged after",
            unacknowledged,
            d.db.stats().commits - s.commits
        ));
    }
    Ok(GroupCommitResult {
        run,
        commits: s.commits,
        commit_syncs: s.commit_syncs,
        syncs: s.syncs,
        checkpoints: s.checkpoints,
        mean_latency_ticks: s.mean_commit_latency(),
        max_latency_ticks: s.max_commit_latency_ticks,
        would_block: d.would_block,
        unacknowledged,
        wall_secs,
    })
}

/// The sweep: every client count, group commit off and on, both sync models.
pub fn group_commit_sweep(
    sizes: &Sizes,
    clock: Clock<'_>,
) -> Result<Vec<GroupCommitResult>, String> {
    let mut out = Vec::new();
    for sync_model in [SyncModel::OneAtATime, SyncModel::Overlapping] {
        for &clients in sizes.clients {
            for on in [false, true] {
                let run = GroupCommitRun {
                    clients,
                    group_commit: on,
                    sync_model,
                    duration_ticks: sizes.duration_ticks,
                };
                out.push(group_commit(run, &mut *clock)?);
            }
        }
    }
    Ok(out)
}

/// What the replay benchmark measured.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplayResult {
    /// WAL bytes before the crash (`wal().size_bytes()`), all of them replayed.
    pub wal_bytes: u64,
    /// WAL records.
    pub records: u64,
    /// Transactions committed in the build.
    pub commits: u64,
    /// Page changes redo applied.
    pub redo_applied: u64,
    /// Page changes redo skipped (the page was already newer).
    pub redo_skipped: u64,
    /// Wall seconds the build took (the workload, not timed as replay).
    pub build_wall_secs: f64,
    /// Wall seconds of each `Db::open`, sorted.
    pub open_wall_secs: Vec<f64>,
}

impl ReplayResult {
    /// The median open time.
    pub fn median_secs(&self) -> f64 {
        self.open_wall_secs[self.open_wall_secs.len() / 2]
    }
    /// WAL MB (10^6 bytes) replayed per wall second, at the median.
    pub fn mb_per_sec(&self) -> f64 {
        f(self.wal_bytes) / 1e6 / self.median_secs()
    }
    /// WAL records recovered per wall second, at the median.
    pub fn records_per_sec(&self) -> f64 {
        f(self.records) / self.median_secs()
    }
}

/// Builds a database whose WAL holds at least `sizes.replay_wal_bytes` (64 clients, group
/// commit on, checkpoints off, 256 keys per client so the tree outgrows the pool and
/// some pages reach the page file), lets every sync complete, crashes it, then times
/// `Db::open` on copies of the crashed disk.
pub fn replay(sizes: &Sizes, clock: Clock<'_>) -> Result<ReplayResult, String> {
    let config = db_config(true, false);
    let build_start = clock();
    let mut d = Driver::new(
        SimDisk::new(disk_config(SyncModel::Overlapping), 2),
        config.clone(),
        64,
        256,
    )?;
    while d.db.wal().size_bytes() < sizes.replay_wal_bytes {
        d.step(true)?;
    }
    d.settle()?;
    let build_wall_secs = clock() - build_start;
    let wal_bytes = d.db.wal().size_bytes();
    let next_lsn = d.db.wal().next_lsn();
    let commits = d.db.stats().commits;
    if d.db.wal().first_lsn().0 != 0 {
        return Err("the WAL was trimmed: a checkpoint ran".into());
    }
    let mut disk = d.db.into_storage();
    let crash = disk.crash();
    if crash.ops_lost != 0 {
        return Err(format!(
            "the crash lost {} operations: not settled",
            crash.ops_lost
        ));
    }
    let mut open_wall_secs = Vec::new();
    let mut last = None;
    for _ in 0..sizes.replay_repetitions.max(1) {
        let copy = disk.clone();
        let t0 = clock();
        let (db, rec) = Db::open(copy, config.clone()).map_err(err)?;
        let t1 = clock();
        open_wall_secs.push(t1 - t0);
        drop(db);
        if rec.wal.next_lsn != next_lsn || !rec.losers.is_empty() || rec.checkpoint.is_some() {
            return Err(format!("unexpected recovery: {}", rec.describe()));
        }
        last = Some(rec);
    }
    open_wall_secs.sort_by(f64::total_cmp);
    let rec = last.expect("at least one repetition");
    Ok(ReplayResult {
        wal_bytes,
        records: rec.wal.records,
        commits,
        redo_applied: rec.redo_applied,
        redo_skipped: rec.redo_skipped,
        build_wall_secs,
        open_wall_secs,
    })
}

/// The group-commit tables, one per sync model, in markdown.
pub fn group_commit_tables(results: &[GroupCommitResult]) -> String {
    let mut out = String::new();
    for model in [SyncModel::OneAtATime, SyncModel::Overlapping] {
        let rows: Vec<&GroupCommitResult> = results
            .iter()
            .filter(|r| r.run.sync_model == model)
            .collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "Sync model: {}; sync 1 ms; {} virtual s per row.\n",
            model.describe(),
            rows[0].virtual_secs()
        );
        out.push_str(
            "| clients | group commit | commits/s (virtual) | commits per commit sync | syncs per commit (all) | mean latency (ms) | max latency (ms) | commits simulated per wall s |\n",
        );
        out.push_str("|---:|:---:|---:|---:|---:|---:|---:|---:|\n");
        for r in rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.1} | {:.3} | {:.2} | {:.2} | {} |",
                r.run.clients,
                if r.run.group_commit { "on" } else { "off" },
                thousands(r.commits_per_sec()),
                r.commits_per_sync(),
                r.syncs_per_commit(),
                r.mean_latency_ms(),
                r.max_latency_ms(),
                thousands(r.wall_commits_per_sec()),
            );
        }
        out.push('\n');
    }
    out
}

/// The replay table, in markdown.
pub fn replay_table(r: &ReplayResult) -> String {
    let mut out = String::from(
        "| WAL bytes | records | commits | redo applied / skipped | open (median of runs) | MB/s | records/s | build (wall) |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} / {} | {:.3} s | {:.1} | {} | {:.1} s |",
        thousands(f(r.wal_bytes)),
        thousands(f(r.records)),
        thousands(f(r.commits)),
        thousands(f(r.redo_applied)),
        thousands(f(r.redo_skipped)),
        r.median_secs(),
        r.mb_per_sec(),
        thousands(r.records_per_sec()),
        r.build_wall_secs,
    );
    let runs: Vec<String> = r.open_wall_secs.iter().map(|s| format!("{s:.3}")).collect();
    let _ = writeln!(out, "\nOpen times (s, sorted): {}", runs.join(", "));
    out
}

/// Everything, as the runners print it: the tables, then one `SUMMARY` line that
/// `scripts/bench.sh` reads to compute the wasm/native ratios.
pub fn report(host: &str, sizes: &Sizes, clock: Clock<'_>) -> Result<String, String> {
    // Warm-up, untimed: lets a wasm engine tier the hot code of both disk types up before
    // the first row.
    for sync_model in [SyncModel::OneAtATime, SyncModel::Overlapping] {
        let warm_up = GroupCommitRun {
            clients: 64,
            group_commit: true,
            sync_model,
            duration_ticks: sizes.duration_ticks / 10,
        };
        group_commit(warm_up, &mut *clock)?;
    }
    let gc = group_commit_sweep(sizes, &mut *clock)?;
    let rp = replay(sizes, clock)?;
    let mut out = String::new();
    let _ = writeln!(out, "## {host}: group commit\n");
    out.push_str(&group_commit_tables(&gc));
    let _ = writeln!(out, "## {host}: replay\n");
    out.push_str(&replay_table(&rp));
    let commits: u64 = gc.iter().map(|r| r.commits).sum();
    let wall: f64 = gc.iter().map(|r| r.wall_secs).sum();
    let _ = writeln!(
        out,
        "\nSUMMARY host={} sim_commits_per_wall_s={:.0} replay_mb_per_s={:.2} group_commit_wall_s={:.2}",
        host.replace(' ', "_"),
        f(commits) / wall,
        rp.mb_per_sec(),
        wall
    );
    Ok(out)
}

/// `1234567.8` → `1,234,568`.
pub fn thousands(x: f64) -> String {
    let s = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_clock() -> impl FnMut() -> f64 {
        let mut t = 0.0;
        move || {
            t += 1.0;
            t
        }
    }

    #[test]
    fn group_commit_batches_and_acknowledges_every_commit() {
        let mut clock = no_clock();
        for sync_model in [SyncModel::OneAtATime, SyncModel::Overlapping] {
            let run = |on| GroupCommitRun {
                clients: 16,
                group_commit: on,
                sync_model,
                duration_ticks: Sizes::QUICK.duration_ticks,
            };
            let off = group_commit(run(false), &mut clock).unwrap();
            let on = group_commit(run(true), &mut clock).unwrap();
            for r in [&off, &on] {
                assert!(r.commits > 0, "{r:?}");
                assert!(r.unacknowledged <= 16, "{r:?}");
                assert_eq!(r.would_block, 0, "{r:?}");
            }
            // Off: one sync per commit, acknowledged or still waiting.
            assert_eq!(
                off.commit_syncs,
                off.commits + off.unacknowledged,
                "{off:?}"
            );
            assert!(on.commits_per_sync() > 4.0, "{on:?}");
            assert!(
                on.syncs_per_commit() < off.syncs_per_commit(),
                "{on:?} {off:?}"
            );
            if sync_model == SyncModel::OneAtATime {
                assert!(on.commits > 4 * off.commits, "{on:?} {off:?}");
            }
        }
    }

    #[test]
    fn replay_recovers_the_whole_wal() {
        let mut clock = no_clock();
        let r = replay(&Sizes::QUICK, &mut clock).unwrap();
        assert!(r.wal_bytes >= Sizes::QUICK.replay_wal_bytes);
        assert!(r.records > r.commits);
        assert!(r.redo_applied > 0);
    }

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(1_234_567.8), "1,234,568");
    }
}
