//! Produce and consume throughput of a topic by batch size (issue 6), beside the batching
//! figures of the Kafka paper (Kreps, Narkhede, Rao, *Kafka: a Distributed Messaging
//! System for Log Processing*, NetDB 2011: one producer of 200-byte messages published
//! about 50,000 messages/s one at a time and about 400,000 messages/s in batches of 50,
//! 8×). Natively (`cargo run --profile bench -p logspine-bench -- topic [--quick]`) and as
//! wasm in Node and headless Chromium (`tests/wasm_topic.rs`, run by `scripts/bench.sh`).
//!
//! # The workload
//! One topic of one partition on one [`Broker`]; records of [`RECORD_BYTES`] bytes of
//! value (no key, no producer id), segments of [`SEGMENT_BYTES`]. For each batch size in
//! [`BATCH_SIZES`]:
//! * **produce**: a batch is one produce request: its records are appended
//!   ([`Broker::produce`]), then [`Broker::tick`] issues **one sync** for them, and the
//!   batch is acknowledged when [`Broker::acked`] says its last record is below the high
//!   watermark (acks after the sync). The next batch starts only then.
//! * **consume**: [`Broker::fetch`] of the same batch size from offset 0 until every
//!   record is read back; each record's offset and value are checked.
//!
//! Records/s counts records; MB/s counts value bytes (10^6 bytes), as the paper counts
//! messages of 200 bytes.
//!
//! # Where
//! * **SimDisk** (in memory, natively and in wasm): the engine's CPU cost. A sync
//!   completes one virtual tick after it is issued, and the driver moves that tick at
//!   once: syncs take no wall time. The wasm runner runs exactly this; the ratio wasm /
//!   native is the price of wasm.
//! * **Real files** (natively): `logspine_native::FileStorage`, whose sync writes the
//!   dirty ranges and `fsync`s (`File::sync_all`) before it returns — against two peers
//!   in the same run, each in a fresh directory under the system temp directory:
//!   - a plain `std::fs` log, the hardware's floor: one file kept open, each record framed
//!     `len u32 | crc32c u32 | value`, a batch written with one `write_all` and made durable
//!     with one `File::sync_data` (`fdatasync`); consumed with a `BufReader` over the file
//!     (the page cache), the same batch size per read.
//!   - fjall (an LSM key-value store, not a log: the storage engine at hand that has a
//!     durable batch write): one `WriteBatch` per batch with `PersistMode::SyncAll` (its
//!     journal `fsync`ed, as `sync_all` does for ours), keys the big-endian offset;
//!     consumed with one `Keyspace::range(from..)` per fetch, taking the batch size.
//!
//!   On files a row produces at most `batch × max_syncs` records ([`Sizes`]), so batch 1
//!   measures as many `fsync`s as the others without running for minutes.
//!
//! The paper's producer did not wait for the broker (no acknowledgements) and its broker
//! flushed to disk every so many messages, not per request; here every batch waits for
//! its own `fsync`, so on real files the gain from batching is much larger than 8×: at
//! batch 1 the `fsync` is the whole cost.

use std::fmt::Write as _;

use logspine_core::topic::{Appended, Broker, BrokerError, Produce, TopicConfig};
use logspine_core::{Rng, SimDisk, SimDiskConfig, StorageStats, SyncLatency};

use crate::db_bench::BenchStorage;
use crate::{f, thousands, Clock};

/// Value bytes per record (the paper's messages were 200 bytes).
pub const RECORD_BYTES: usize = 200;
/// The batch sizes (records per produce request and per fetch).
pub const BATCH_SIZES: [usize; 4] = [1, 10, 100, 1000];
/// Segment size of the partition: large enough that rolling segments is rare (Kafka's
/// default is 1 GiB).
pub const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// The topic's name.
pub const TOPIC: &str = "bench";
/// The paper's producer throughput at batch 1, messages/s.
pub const PAPER_BATCH_1: f64 = 50_000.0;
/// The paper's producer throughput at batch 50, messages/s.
pub const PAPER_BATCH_50: f64 = 400_000.0;

/// How big the runs are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizes {
    /// Records per row on SimDisk.
    pub sim_records: u64,
    /// Records per row on real files (at most; see `max_syncs`).
    pub file_records: u64,
    /// Syncs per row on real files, at most: a row produces
    /// `min(file_records, batch × max_syncs)` records.
    pub max_syncs: u64,
    /// Rounds: each round runs every batch size (on real files: ours, the `std::fs` log
    /// and fjall one after the other); each figure is the median over the rounds (the
    /// host's load and a virtual disk's `fsync` latency wander).
    pub rounds: usize,
}

impl Sizes {
    /// What BENCHMARKS.md reports.
    pub const FULL: Sizes = Sizes {
        sim_records: 1_000_000,
        file_records: 200_000,
        max_syncs: 1_000,
        rounds: 3,
    };
    /// `--quick` (`BENCH_SIZES=quick`): a smoke run of a few seconds.
    pub const QUICK: Sizes = Sizes {
        sim_records: 50_000,
        file_records: 20_000,
        max_syncs: 100,
        rounds: 1,
    };

    /// Records of a file row at batch size `batch`.
    pub fn file_records_for(&self, batch: usize) -> u64 {
        self.file_records.min(batch as u64 * self.max_syncs)
    }
}

/// The values: record `i`'s is a window of a seeded random pool (they do not repeat in
/// step with the batch sizes, and they do not compress).
#[derive(Clone, Debug)]
pub struct Values {
    pool: Vec<u8>,
}

const POOL_BYTES: usize = 1 << 16;

impl Values {
    /// The pool.
    pub fn new() -> Values {
        let mut pool = vec![0; POOL_BYTES];
        Rng::new(0x70_91C).fill(&mut pool);
        Values { pool }
    }

    /// Record `i`'s value.
    pub fn get(&self, i: u64) -> &[u8] {
        let span = (POOL_BYTES - RECORD_BYTES) as u64;
        let at = usize::try_from(i.wrapping_mul(131) % span).expect("below the pool size");
        &self.pool[at..at + RECORD_BYTES]
    }
}

impl Default for Values {
    fn default() -> Self {
        Values::new()
    }
}

/// One row: a batch size, produce and consume of the same records.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Row {
    /// Records per produce request and per fetch.
    pub batch: usize,
    /// Records produced and read back.
    pub records: u64,
    /// Syncs issued while producing.
    pub syncs: u64,
    /// Wall seconds to produce (every batch acknowledged).
    pub produce_secs: f64,
    /// Wall seconds to read every record back.
    pub consume_secs: f64,
}

impl Row {
    /// Records produced per wall second.
    pub fn produce_per_sec(&self) -> f64 {
        f(self.records) / self.produce_secs
    }
    /// Records consumed per wall second.
    pub fn consume_per_sec(&self) -> f64 {
        f(self.records) / self.consume_secs
    }
    /// Value MB (10^6 bytes) produced per wall second.
    pub fn produce_mb_per_sec(&self) -> f64 {
        self.produce_per_sec() * RECORD_BYTES as f64 / 1e6
    }
    /// Value MB consumed per wall second.
    pub fn consume_mb_per_sec(&self) -> f64 {
        self.consume_per_sec() * RECORD_BYTES as f64 / 1e6
    }
}

/// A storage the topic driver can run on: time passes (db_bench's trait) and syncs are
/// counted.
pub trait TopicStorage: BenchStorage {
    /// The storage's counters.
    fn storage_stats(&self) -> StorageStats;
}

impl TopicStorage for SimDisk {
    fn storage_stats(&self) -> StorageStats {
        self.stats()
    }
}

/// The SimDisk of the SimDisk rows: a sync completes one tick after it is issued (the
/// driver moves that tick at once), whole operations only on a crash (there is none).
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

/// The topic of every run: one partition, [`SEGMENT_BYTES`] segments, no retention.
pub fn topic_config() -> TopicConfig {
    let mut t = TopicConfig::new(TOPIC, 1);
    t.partition.segment_bytes = SEGMENT_BYTES;
    t
}

fn be(e: BrokerError) -> String {
    e.to_string()
}

/// Produces `records` records in batches of `batch` on a fresh broker over `storage`,
/// each batch acknowledged after its one sync, then fetches them all back in batches of
/// `batch`; both timed.
pub fn run_ours<S: TopicStorage>(
    mut storage: S,
    batch: usize,
    records: u64,
    values: &Values,
    clock: Clock<'_>,
) -> Result<Row, String> {
    if batch == 0 {
        return Err("the batch size must be at least 1".into());
    }
    let mut broker = Broker::open(&mut storage, &[topic_config()]).map_err(be)?;
    let mut now = 0u64;
    // Whatever opening wrote, made durable before the clock starts.
    if storage.has_volatile_changes() {
        storage.sync().map_err(|e| e.to_string())?;
    }
    while storage.syncs_in_flight() > 0 {
        storage.pass_time();
        now += 1;
        broker.tick(&mut storage, now).map_err(be)?;
        if now > 1000 {
            return Err("the fresh broker did not settle".into());
        }
    }
    let syncs_before = storage.storage_stats().syncs_issued;

    let t0 = clock();
    let mut next = 0u64;
    while next < records {
        let end = records.min(next + batch as u64);
        for i in next..end {
            let req = Produce {
                topic: TOPIC,
                partition: Some(0),
                key: None,
                value: Some(values.get(i)),
                producer: None,
            };
            let (_, appended) = broker.produce(&mut storage, &req, now).map_err(be)?;
            if appended != Appended::New(i) {
                return Err(format!("record {i} was appended as {appended:?}"));
            }
        }
        // The batch's one sync, then its acknowledgement.
        now += 1;
        broker.tick(&mut storage, now).map_err(be)?;
        let mut waited = 0;
        while !broker.acked(TOPIC, 0, end - 1).map_err(be)? {
            storage.pass_time();
            now += 1;
            broker.tick(&mut storage, now).map_err(be)?;
            waited += 1;
            if waited > 1000 {
                return Err(format!("records {next}..{end} were not acknowledged"));
            }
        }
        next = end;
    }
    let produce_secs = clock() - t0;
    let syncs = storage.storage_stats().syncs_issued - syncs_before;

    let t0 = clock();
    let mut at = 0u64;
    while at < records {
        let got = broker.fetch(&storage, TOPIC, 0, at, batch).map_err(be)?;
        if got.is_empty() {
            return Err(format!("fetch at {at} returned nothing of {records}"));
        }
        for r in &got {
            if r.offset != at || r.value.as_deref() != Some(values.get(at)) {
                return Err(format!(
                    "fetch: offset {} where {at} was expected, or its value differs",
                    r.offset
                ));
            }
            at += 1;
        }
    }
    let consume_secs = clock() - t0;
    Ok(Row {
        batch,
        records,
        syncs,
        produce_secs,
        consume_secs,
    })
}

/// The median produce time and the median consume time of `runs` (of one system and
/// batch size).
pub fn median(mut runs: Vec<Row>) -> Result<Row, String> {
    let mut row = *runs.first().ok_or("no rounds")?;
    runs.sort_by(|a, b| a.produce_secs.total_cmp(&b.produce_secs));
    row.produce_secs = runs[runs.len() / 2].produce_secs;
    runs.sort_by(|a, b| a.consume_secs.total_cmp(&b.consume_secs));
    row.consume_secs = runs[runs.len() / 2].consume_secs;
    Ok(row)
}

/// Every batch size on SimDisk: `rounds` rounds, each running every batch size in turn;
/// medians.
pub fn sim_rows(
    records: u64,
    rounds: usize,
    values: &Values,
    clock: Clock<'_>,
) -> Result<Vec<Row>, String> {
    let mut runs: Vec<Vec<Row>> = BATCH_SIZES.iter().map(|_| Vec::new()).collect();
    for _ in 0..rounds.max(1) {
        for (&b, runs) in BATCH_SIZES.iter().zip(&mut runs) {
            runs.push(run_ours(sim_disk(), b, records, values, &mut *clock)?);
        }
    }
    runs.into_iter().map(median).collect()
}

/// `x / base` as `8.0×`.
fn times(x: f64, base: f64) -> String {
    format!("{:.1}×", x / base)
}

/// The SimDisk table (produce and consume, with the batch-N / batch-1 ratios) and the
/// paper's shape, in markdown.
pub fn sim_table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| batch | records | syncs | produce records/s | MB/s | × batch 1 | consume records/s | MB/s | × batch 1 |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let Some(first) = rows.first() else {
        return out;
    };
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.1} | {} | {} | {:.1} | {} |",
            r.batch,
            thousands(f(r.records)),
            thousands(f(r.syncs)),
            thousands(r.produce_per_sec()),
            r.produce_mb_per_sec(),
            times(r.produce_per_sec(), first.produce_per_sec()),
            thousands(r.consume_per_sec()),
            r.consume_mb_per_sec(),
            times(r.consume_per_sec(), first.consume_per_sec()),
        );
    }
    out
}

/// The paper's shape, one line of markdown.
pub fn paper_line() -> String {
    format!(
        "The Kafka paper's producer (200-byte messages, no acknowledgements, the broker flushing every so many messages): {} messages/s at batch 1, {} at batch 50: {}.\n",
        thousands(PAPER_BATCH_1),
        thousands(PAPER_BATCH_50),
        times(PAPER_BATCH_50, PAPER_BATCH_1)
    )
}

/// The `TOPIC` line `scripts/bench.sh` reads for the wasm/native ratios: produce and
/// consume records/s per batch size.
pub fn summary_line(host: &str, rows: &[Row]) -> String {
    let mut out = format!("TOPIC host={}", host.replace(' ', "_"));
    for r in rows {
        let _ = write!(
            out,
            " produce_b{}={:.0} consume_b{}={:.0}",
            r.batch,
            r.produce_per_sec(),
            r.batch,
            r.consume_per_sec()
        );
    }
    out.push('\n');
    out
}

/// The SimDisk rows as the runners print them: a warm-up (untimed, lets a wasm engine
/// tier the hot code up), the table, the paper's shape and the `TOPIC` line.
pub fn sim_report(host: &str, sizes: &Sizes, clock: Clock<'_>) -> Result<String, String> {
    let values = Values::new();
    let records = sizes.sim_records;
    sim_rows((records / 10).max(1000), 1, &values, &mut *clock)?;
    let rows = sim_rows(records, sizes.rounds, &values, clock)?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## {host}: topic produce/consume on SimDisk (engine CPU; syncs take no wall time), {} records of {RECORD_BYTES} bytes per row\n",
        thousands(f(records))
    );
    out.push_str(&sim_table(&rows));
    out.push('\n');
    out.push_str(&paper_line());
    out.push('\n');
    out.push_str(&summary_line(host, &rows));
    Ok(out)
}

#[cfg(not(target_arch = "wasm32"))]
pub use files::{file_report, file_rows, run_fjall, run_std_fs, FileRow};

/// The real-file rows (natively only).
#[cfg(not(target_arch = "wasm32"))]
mod files {
    use std::fmt::Write as _;
    use std::fs::{File, OpenOptions};
    use std::io::{BufReader, Read, Write};

    use logspine_core::crc32c;
    use logspine_core::StorageStats;
    use logspine_native::{FileStorage, TempDir};

    use super::{
        median, run_ours, times, Row, Sizes, TopicStorage, Values, BATCH_SIZES, RECORD_BYTES,
    };
    use crate::{f, thousands, Clock};

    impl TopicStorage for FileStorage {
        fn storage_stats(&self) -> StorageStats {
            self.stats()
        }
    }

    fn io(what: &str, e: impl std::fmt::Display) -> String {
        format!("{what}: {e}")
    }

    fn temp(name: &str) -> Result<TempDir, String> {
        TempDir::new(&format!("logspine-topic-bench-{name}")).map_err(|e| io("temp dir", e))
    }

    /// The hardware's floor: a plain `std::fs` log (module docs).
    pub fn run_std_fs(
        batch: usize,
        records: u64,
        values: &Values,
        clock: Clock<'_>,
    ) -> Result<Row, String> {
        let dir = temp("std-fs")?;
        let path = dir.path().join("log");
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| io("open", e))?;
        // The file's name made durable before the clock starts, as ours is.
        file.sync_all().map_err(|e| io("fsync", e))?;
        File::open(dir.path())
            .and_then(|d| d.sync_all())
            .map_err(|e| io("fsync dir", e))?;
        let mut buf = Vec::with_capacity(batch * (RECORD_BYTES + 8));
        let mut syncs = 0u64;
        let t0 = clock();
        let mut next = 0u64;
        while next < records {
            let end = records.min(next + batch as u64);
            buf.clear();
            for i in next..end {
                let v = values.get(i);
                let len = u32::try_from(v.len()).map_err(|e| io("record length", e))?;
                buf.extend_from_slice(&len.to_le_bytes());
                buf.extend_from_slice(&crc32c::checksum(v).to_le_bytes());
                buf.extend_from_slice(v);
            }
            file.write_all(&buf).map_err(|e| io("write", e))?;
            file.sync_data().map_err(|e| io("fdatasync", e))?;
            syncs += 1;
            next = end;
        }
        let produce_secs = clock() - t0;
        drop(file);

        let t0 = clock();
        let mut reader =
            BufReader::with_capacity(64 * 1024, File::open(&path).map_err(|e| io("open", e))?);
        let mut at = 0u64;
        while at < records {
            let n = (records - at).min(batch as u64);
            let mut got: Vec<Vec<u8>> = Vec::with_capacity(batch);
            for _ in 0..n {
                let mut head = [0u8; 8];
                reader.read_exact(&mut head).map_err(|e| io("read", e))?;
                let len = u32::from_le_bytes(head[..4].try_into().expect("4 bytes")) as usize;
                let crc = u32::from_le_bytes(head[4..].try_into().expect("4 bytes"));
                let mut v = vec![0u8; len];
                reader.read_exact(&mut v).map_err(|e| io("read", e))?;
                if crc32c::checksum(&v) != crc {
                    return Err(format!("std::fs log: record {at}: bad checksum"));
                }
                got.push(v);
            }
            for v in &got {
                if v.as_slice() != values.get(at) {
                    return Err(format!("std::fs log: record {at} differs"));
                }
                at += 1;
            }
        }
        let consume_secs = clock() - t0;
        Ok(Row {
            batch,
            records,
            syncs,
            produce_secs,
            consume_secs,
        })
    }

    fn fe(e: fjall::Error) -> String {
        format!("fjall: {e}")
    }

    /// fjall: a durable `WriteBatch` per batch, a range read per fetch (module docs).
    pub fn run_fjall(
        batch: usize,
        records: u64,
        values: &Values,
        clock: Clock<'_>,
    ) -> Result<Row, String> {
        let dir = temp("fjall")?;
        let db = fjall::Database::builder(dir.path()).open().map_err(fe)?;
        let ks = db
            .keyspace("topic", fjall::KeyspaceCreateOptions::default)
            .map_err(fe)?;
        db.persist(fjall::PersistMode::SyncAll).map_err(fe)?;
        let mut syncs = 0u64;
        let t0 = clock();
        let mut next = 0u64;
        while next < records {
            let end = records.min(next + batch as u64);
            let mut wb = db.batch().durability(Some(fjall::PersistMode::SyncAll));
            for i in next..end {
                wb.insert(&ks, i.to_be_bytes(), values.get(i));
            }
            wb.commit().map_err(fe)?;
            syncs += 1;
            next = end;
        }
        let produce_secs = clock() - t0;

        let t0 = clock();
        let mut at = 0u64;
        while at < records {
            let got: Vec<(fjall::UserKey, fjall::UserValue)> = ks
                .range(at.to_be_bytes()..)
                .take(batch)
                .map(|g| g.into_inner().map_err(fe))
                .collect::<Result<_, _>>()?;
            if got.is_empty() {
                return Err(format!(
                    "fjall: range at {at} returned nothing of {records}"
                ));
            }
            for (k, v) in &got {
                if k.as_ref() != at.to_be_bytes() || v.as_ref() != values.get(at) {
                    return Err(format!("fjall: record {at} differs"));
                }
                at += 1;
            }
        }
        let consume_secs = clock() - t0;
        drop(ks);
        drop(db);
        drop(dir);
        Ok(Row {
            batch,
            records,
            syncs,
            produce_secs,
            consume_secs,
        })
    }

    /// One batch size on real files: ours on `FileStorage`, the `std::fs` log, fjall.
    #[derive(Clone, Copy, Debug)]
    pub struct FileRow {
        /// Ours.
        pub ours: Row,
        /// The plain `std::fs` log.
        pub std_fs: Row,
        /// fjall.
        pub fjall: Row,
    }

    /// Every batch size on real files: `sizes.rounds` rounds, each running ours, the
    /// `std::fs` log and fjall one after the other per batch size; medians.
    pub fn file_rows(sizes: &Sizes, clock: Clock<'_>) -> Result<Vec<FileRow>, String> {
        let values = Values::new();
        let mut runs: Vec<[Vec<Row>; 3]> = BATCH_SIZES.iter().map(|_| Default::default()).collect();
        for _ in 0..sizes.rounds.max(1) {
            for (&batch, runs) in BATCH_SIZES.iter().zip(&mut runs) {
                let n = sizes.file_records_for(batch);
                let dir = temp("ours")?;
                let storage = FileStorage::open(dir.path()).map_err(|e| io("FileStorage", e))?;
                runs[0].push(run_ours(storage, batch, n, &values, &mut *clock)?);
                drop(dir);
                runs[1].push(run_std_fs(batch, n, &values, &mut *clock)?);
                runs[2].push(run_fjall(batch, n, &values, &mut *clock)?);
            }
        }
        runs.into_iter()
            .map(|[ours, std_fs, fjall]| {
                Ok(FileRow {
                    ours: median(ours)?,
                    std_fs: median(std_fs)?,
                    fjall: median(fjall)?,
                })
            })
            .collect()
    }

    /// The real-file tables, produce then consume, in markdown.
    pub fn file_report(sizes: &Sizes, clock: Clock<'_>) -> Result<String, String> {
        let rows = file_rows(sizes, clock)?;
        let mut out = format!(
            "## native: topic produce/consume on real files (a sync per batch; at most {} records or {} syncs per row), {RECORD_BYTES}-byte records, median of {} rounds\n\n",
            thousands(f(sizes.file_records)),
            thousands(f(sizes.max_syncs)),
            sizes.rounds.max(1),
        );
        out.push_str("Produce (every batch acknowledged after its sync), records/s:\n\n");
        out.push_str(
            "| batch | records | ours (FileStorage, fsync) | × batch 1 | std::fs log (fdatasync) | × batch 1 | fjall (SyncAll) | × batch 1 | ours / std::fs | ours / fjall | ours MB/s |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        let Some(first) = rows.first() else {
            return Ok(out);
        };
        for r in &rows {
            let (o, s, j) = (
                r.ours.produce_per_sec(),
                r.std_fs.produce_per_sec(),
                r.fjall.produce_per_sec(),
            );
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {:.2} | {:.2} | {:.1} |",
                r.ours.batch,
                thousands(f(r.ours.records)),
                thousands(o),
                times(o, first.ours.produce_per_sec()),
                thousands(s),
                times(s, first.std_fs.produce_per_sec()),
                thousands(j),
                times(j, first.fjall.produce_per_sec()),
                o / s,
                o / j,
                r.ours.produce_mb_per_sec(),
            );
        }
        out.push_str(
            "\nConsume (fetches of the batch size, from memory or the page cache), records/s:\n\n",
        );
        out.push_str(
            "| batch | ours | × batch 1 | std::fs log | × batch 1 | fjall | × batch 1 | ours / std::fs | ours / fjall | ours MB/s |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for r in &rows {
            let (o, s, j) = (
                r.ours.consume_per_sec(),
                r.std_fs.consume_per_sec(),
                r.fjall.consume_per_sec(),
            );
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {:.2} | {:.2} | {:.1} |",
                r.ours.batch,
                thousands(o),
                times(o, first.ours.consume_per_sec()),
                thousands(s),
                times(s, first.std_fs.consume_per_sec()),
                thousands(j),
                times(j, first.fjall.consume_per_sec()),
                o / s,
                o / j,
                r.ours.consume_mb_per_sec(),
            );
        }
        let syncs: Vec<String> = rows
            .iter()
            .map(|r| format!("{} / {} / {}", r.ours.syncs, r.std_fs.syncs, r.fjall.syncs))
            .collect();
        let _ = writeln!(
            out,
            "\nSyncs per row (ours / std::fs / fjall), batch 1 → 1000: {}",
            syncs.join("; ")
        );
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_clock() -> impl FnMut() -> f64 {
        let mut t = 0.0;
        move || {
            t += 1.0;
            t
        }
    }

    #[test]
    fn every_record_is_read_back_and_each_batch_takes_one_sync() {
        let values = Values::new();
        let mut clock = fake_clock();
        for batch in BATCH_SIZES {
            let r = run_ours(sim_disk(), batch, 2_500, &values, &mut clock).unwrap();
            assert_eq!(r.records, 2_500);
            assert_eq!(r.syncs, 2_500u64.div_ceil(batch as u64), "{r:?}");
        }
    }

    #[test]
    fn file_rows_are_capped_by_syncs() {
        assert_eq!(Sizes::FULL.file_records_for(1), 1_000);
        assert_eq!(Sizes::FULL.file_records_for(1000), 200_000);
        assert_eq!(Sizes::QUICK.file_records_for(10), 1_000);
    }

    #[test]
    fn a_zero_batch_is_an_error() {
        let mut clock = fake_clock();
        assert!(run_ours(sim_disk(), 0, 10, &Values::new(), &mut clock).is_err());
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn the_peers_read_back_every_record() {
        let values = Values::new();
        let mut clock = fake_clock();
        for batch in [1, 7] {
            let s = run_std_fs(batch, 50, &values, &mut clock).unwrap();
            assert_eq!((s.records, s.syncs), (50, 50u64.div_ceil(batch as u64)));
            let j = run_fjall(batch, 50, &values, &mut clock).unwrap();
            assert_eq!((j.records, j.syncs), (50, 50u64.div_ceil(batch as u64)));
        }
    }
}
