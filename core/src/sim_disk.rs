//! `SimDisk`: a deterministic simulated disk with the page-cache semantics of [`Storage`].
//!
//! Two images are kept, as in redb's crash backend and SQLite's crash VFS: the **live**
//! image (what reads see) and the **durable** image (what survives a crash). Every change
//! is applied to the live image at once and appended to a queue of pending operations.
//! A sync records how much of that queue it covers and when it will complete; latency is
//! drawn from [`SyncLatency`] with the disk's own seeded [`Rng`], and completions are kept
//! in issue order (a sync never completes before an earlier one). Virtual time moves only
//! through [`SimDisk::advance`]; when a sync's completion time is reached its operations are
//! applied to the durable image and its completion is queued for
//! [`Storage::take_completions`].
//!
//! # Crash
//! [`SimDisk::crash`] rebuilds the live image from the durable one plus, for the syncs in
//! flight, a random prefix of their operations in issue order. The last operation of that
//! prefix may be torn: if it is a write, only a random subset of the sectors it touches
//! (at [`SimDiskConfig::sector_bytes`] granularity) reaches the disk, so a torn record may
//! have its end written and its start missing. Operations not covered by any sync are
//! always lost. In-flight syncs never complete.
//!
//! # Invariants (checked by [`SimDisk::validate`])
//! * Pending syncs are in issue order, cover nested prefixes of the queue, and complete at
//!   non-decreasing times no earlier than now.
//! * Replaying the whole pending queue over the durable image gives the live image.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::Arc;

use crate::rng::Rng;
use crate::storage::{check_name, Storage, StorageError, StorageStats, SyncCompletion, SyncId};

/// How long a sync takes, in virtual ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncLatency {
    /// Always the same.
    Fixed(u64),
    /// Uniform in `min..=max`.
    Uniform {
        /// Shortest.
        min: u64,
        /// Longest.
        max: u64,
    },
    /// Usually `fast`, but with probability `slow_per_million / 10^6` a stall in `slow`
    /// (a disk flushing its cache, a noisy neighbour).
    Spiky {
        /// The usual range (inclusive).
        fast: (u64, u64),
        /// The stall range (inclusive).
        slow: (u64, u64),
        /// How often a stall happens, per million syncs.
        slow_per_million: u32,
    },
}

impl SyncLatency {
    fn draw(self, rng: &mut Rng) -> u64 {
        match self {
            SyncLatency::Fixed(t) => t,
            SyncLatency::Uniform { min, max } => rng.range_inclusive(min, max),
            SyncLatency::Spiky {
                fast,
                slow,
                slow_per_million,
            } => {
                let (lo, hi) = if rng.chance(slow_per_million) {
                    slow
                } else {
                    fast
                };
                rng.range_inclusive(lo, hi)
            }
        }
    }
}

/// Knobs of the simulated disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimDiskConfig {
    /// Sync latency in ticks.
    pub sync_latency: SyncLatency,
    /// The unit a torn write is torn at.
    pub sector_bytes: u64,
    /// Whether a crash may tear the last in-flight write (otherwise in-flight syncs are
    /// applied as a prefix of whole operations).
    pub tear_on_crash: bool,
    /// One sync at a time: a sync issued while another is in flight starts when that one
    /// completes, as fsyncs of one log file do (Postgres holds `WALWriteLock` across the
    /// write and the flush). Otherwise syncs overlap, each completing its latency after it
    /// was issued (a device with a deep flush queue), still in issue order.
    pub serial_syncs: bool,
}

impl Default for SimDiskConfig {
    fn default() -> Self {
        SimDiskConfig {
            sync_latency: SyncLatency::Uniform { min: 5, max: 15 },
            sector_bytes: 512,
            tear_on_crash: true,
            serial_syncs: true,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Op {
    Write {
        file: String,
        offset: u64,
        data: Vec<u8>,
    },
    SetLen {
        file: String,
        len: u64,
    },
    Delete {
        file: String,
    },
}

impl Op {
    fn apply(&self, image: &mut Image) {
        match self {
            Op::Write { file, offset, data } => {
                image
                    .entry(file.clone())
                    .or_default()
                    .write(to_usize(*offset), data);
            }
            Op::SetLen { file, len } => {
                image
                    .entry(file.clone())
                    .or_default()
                    .resize(to_usize(*len));
            }
            Op::Delete { file } => {
                image.remove(file);
            }
        }
    }
}

/// Bytes per chunk of a simulated file.
const CHUNK: usize = 4096;

/// A simulated file: its bytes in fixed chunks shared copy-on-write, so that cloning a
/// disk (the crash image, a time-travel snapshot of a whole world) copies pointers, and a
/// write copies only the chunks it changes. Bytes of the last chunk past `len` are zero.
#[derive(Clone, Debug, Default)]
struct File {
    len: usize,
    chunks: Vec<Arc<[u8; CHUNK]>>,
}

impl File {
    fn resize(&mut self, len: usize) {
        if len < self.len {
            self.chunks.truncate(len.div_ceil(CHUNK));
            let tail = len % CHUNK;
            if tail != 0 {
                if let Some(last) = self.chunks.last_mut() {
                    Arc::make_mut(last)[tail..].fill(0);
                }
            }
        } else {
            let zero = Arc::new([0u8; CHUNK]);
            self.chunks.resize(len.div_ceil(CHUNK), zero);
        }
        self.len = len;
    }

    fn write(&mut self, offset: usize, data: &[u8]) {
        let end = offset + data.len();
        if end > self.len {
            self.resize(end);
        }
        let mut at = offset;
        let mut rest = data;
        while !rest.is_empty() {
            let (c, o) = (at / CHUNK, at % CHUNK);
            let n = rest.len().min(CHUNK - o);
            Arc::make_mut(&mut self.chunks[c])[o..o + n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            at += n;
        }
    }

    /// `buf.len()` bytes from `offset`; the caller checked the range.
    fn read(&self, offset: usize, buf: &mut [u8]) {
        let mut at = offset;
        let mut done = 0;
        while done < buf.len() {
            let (c, o) = (at / CHUNK, at % CHUNK);
            let n = (buf.len() - done).min(CHUNK - o);
            buf[done..done + n].copy_from_slice(&self.chunks[c][o..o + n]);
            done += n;
            at += n;
        }
    }

    fn byte_mut(&mut self, i: usize) -> Option<&mut u8> {
        (i < self.len).then(|| &mut Arc::make_mut(&mut self.chunks[i / CHUNK])[i % CHUNK])
    }

    fn to_vec(&self) -> Vec<u8> {
        let mut out = vec![0; self.len];
        self.read(0, &mut out);
        out
    }
}

impl PartialEq for File {
    fn eq(&self, other: &File) -> bool {
        self.len == other.len
            && self
                .chunks
                .iter()
                .zip(&other.chunks)
                .all(|(a, b)| Arc::ptr_eq(a, b) || a[..] == b[..])
    }
}

impl Eq for File {}

/// A disk image: file name to contents.
type Image = crate::vec_map::VecMap<String, File>;

fn to_usize(n: u64) -> usize {
    usize::try_from(n).expect("simulated file offsets fit in memory")
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct PendingSync {
    id: SyncId,
    /// How many operations at the front of `ops` this sync covers.
    covers: usize,
    complete_at: u64,
}

/// What a crash did, for the trace and the tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CrashReport {
    /// Syncs that were in flight and will never complete.
    pub syncs_lost: u64,
    /// Operations covered by in-flight syncs that reached the disk anyway.
    pub ops_survived: u64,
    /// Operations that were lost.
    pub ops_lost: u64,
    /// The write that was torn, if one was: file, offset, length, sectors kept of total.
    pub torn: Option<TornWrite>,
}

/// A write that a crash left half done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornWrite {
    /// The file written.
    pub file: String,
    /// The write's offset.
    pub offset: u64,
    /// The write's length.
    pub len: u64,
    /// How many of its sectors reached the disk.
    pub sectors_kept: u64,
    /// How many sectors it touched.
    pub sectors_total: u64,
}

/// The deterministic simulated disk. See the module docs.
#[derive(Clone, Debug)]
pub struct SimDisk {
    config: SimDiskConfig,
    rng: Rng,
    now: u64,
    live: Image,
    durable: Image,
    ops: VecDeque<Op>,
    pending: VecDeque<PendingSync>,
    /// Completions delivered by `advance` but not yet drained (still counted in
    /// `syncs_in_flight`).
    completed: Vec<SyncCompletion>,
    next_sync: u64,
    stats: StorageStats,
    /// Reads take `&self`; their counter lives in a cell.
    bytes_read: Cell<u64>,
    crashes: u64,
}

impl SimDisk {
    /// An empty disk whose latencies and crash outcomes are fixed by `seed`.
    pub fn new(config: SimDiskConfig, seed: u64) -> Self {
        assert!(config.sector_bytes > 0, "sector size must be positive");
        if let SyncLatency::Uniform { min, max } = config.sync_latency {
            assert!(min <= max, "sync latency range {min}..={max} is empty");
        }
        SimDisk {
            config,
            rng: Rng::new(seed),
            now: 0,
            live: Image::new(),
            durable: Image::new(),
            ops: VecDeque::new(),
            pending: VecDeque::new(),
            completed: Vec::new(),
            next_sync: 1,
            stats: StorageStats::default(),
            bytes_read: Cell::new(0),
            crashes: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> SimDiskConfig {
        self.config
    }

    /// Changes how long syncs issued from now on take (a disk slowing down or recovering;
    /// syncs in flight keep their completion time).
    pub fn set_sync_latency(&mut self, latency: SyncLatency) {
        self.config.sync_latency = latency;
    }

    /// Changes whether a crash tears the last write of an in-flight sync.
    pub fn set_tear_on_crash(&mut self, tear: bool) {
        self.config.tear_on_crash = tear;
    }

    /// Virtual time now, in ticks.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// When the earliest in-flight sync completes, if any is in flight.
    pub fn next_completion_at(&self) -> Option<u64> {
        self.pending.front().map(|p| p.complete_at)
    }

    /// Moves virtual time forward by `ticks`, completing the syncs that are due.
    pub fn advance(&mut self, ticks: u64) {
        self.now = self.now.checked_add(ticks).expect("virtual time overflow");
        while let Some(front) = self.pending.front() {
            if front.complete_at > self.now {
                break;
            }
            let done = self.pending.pop_front().expect("front exists");
            for op in self.ops.drain(..done.covers) {
                op.apply(&mut self.durable);
            }
            for p in &mut self.pending {
                p.covers -= done.covers;
            }
            self.stats.syncs_completed += 1;
            self.completed.push(SyncCompletion {
                id: done.id,
                result: Ok(()),
            });
        }
    }

    /// Advances time until every sync issued so far has completed.
    pub fn settle(&mut self) {
        if let Some(last) = self.pending.back() {
            let until = last.complete_at;
            self.advance(until - self.now);
        }
    }

    /// Crashes the disk: see the module docs. Returns what was lost and torn.
    pub fn crash(&mut self) -> CrashReport {
        self.crashes += 1;
        let mut report = CrashReport {
            syncs_lost: self.pending.len() as u64,
            ..CrashReport::default()
        };
        let in_flight_ops = self.pending.back().map_or(0, |p| p.covers);
        let total_ops = self.ops.len();
        // How many of the in-flight operations reach the disk: 0..=in_flight_ops.
        let survive = if in_flight_ops == 0 {
            0
        } else {
            self.rng.index(in_flight_ops + 1)
        };
        let mut image = self.durable.clone();
        let ops = std::mem::take(&mut self.ops);
        for (i, op) in ops.iter().take(survive).enumerate() {
            let last = i + 1 == survive;
            match op {
                Op::Write { file, offset, data }
                    if last && self.config.tear_on_crash && !data.is_empty() =>
                {
                    report.torn = self.apply_torn(&mut image, file, *offset, data);
                }
                _ => op.apply(&mut image),
            }
        }
        report.ops_survived = survive as u64;
        report.ops_lost = (total_ops - survive) as u64;
        self.durable = image.clone();
        self.live = image;
        self.pending.clear();
        // Completions already delivered by `advance` but not drained stay valid: they
        // describe syncs that did complete before the crash.
        report
    }

    /// Applies a random subset of the sectors of a write; returns the tear, or `None` when
    /// every sector happened to make it (which is then not a tear).
    fn apply_torn(
        &mut self,
        image: &mut Image,
        file: &str,
        offset: u64,
        data: &[u8],
    ) -> Option<TornWrite> {
        let sector = self.config.sector_bytes;
        let len = data.len() as u64;
        let first = offset / sector;
        let last = (offset + len - 1) / sector;
        let total = last - first + 1;
        let mut kept = 0;
        let buf = image.entry(file.to_owned()).or_default();
        for s in first..=last {
            if self.rng.below(2) == 0 {
                continue;
            }
            kept += 1;
            let lo = (s * sector).max(offset);
            let hi = ((s + 1) * sector).min(offset + len);
            let src = to_usize(lo - offset)..to_usize(hi - offset);
            buf.write(to_usize(lo), &data[src]);
        }
        (kept < total).then(|| TornWrite {
            file: file.to_owned(),
            offset,
            len,
            sectors_kept: kept,
            sectors_total: total,
        })
    }

    /// Flips one bit of `file` in both images (bit rot on the platter, visible to reads).
    pub fn flip_bit(&mut self, file: &str, bit: u64) -> Result<(), StorageError> {
        let byte = to_usize(bit / 8);
        let mask = 1u8 << (bit % 8);
        let mut found = false;
        for image in [&mut self.live, &mut self.durable] {
            if let Some(b) = image.get_mut(file).and_then(|buf| buf.byte_mut(byte)) {
                *b ^= mask;
                found = true;
            }
        }
        if found {
            Ok(())
        } else {
            Err(StorageError::OutOfRange {
                file: file.to_owned(),
                offset: bit / 8,
                len: 1,
                file_len: self.len(file).unwrap_or(0),
            })
        }
    }

    /// The counters.
    pub fn stats(&self) -> StorageStats {
        StorageStats {
            bytes_read: self.bytes_read.get(),
            ..self.stats
        }
    }

    /// How many times this disk has crashed.
    pub fn crashes(&self) -> u64 {
        self.crashes
    }

    /// The durable image of `file`: what a crash right now with no in-flight sync would keep.
    pub fn durable_contents(&self, file: &str) -> Option<Vec<u8>> {
        self.durable.get(file).map(File::to_vec)
    }

    /// Checks the invariants in the module docs; panics on a violation (a bug).
    pub fn validate(&self) {
        let mut prev: Option<&PendingSync> = None;
        for p in &self.pending {
            assert!(
                p.covers <= self.ops.len(),
                "sync covers more ops than queued"
            );
            assert!(p.complete_at > self.now, "a due sync was not completed");
            if let Some(q) = prev {
                assert!(q.id < p.id, "syncs out of issue order");
                assert!(q.covers <= p.covers, "sync coverage not nested");
                assert!(q.complete_at <= p.complete_at, "completions out of order");
            }
            prev = Some(p);
        }
        let mut image = self.durable.clone();
        for op in &self.ops {
            op.apply(&mut image);
        }
        assert!(
            image == self.live,
            "durable image + pending ops != live image"
        );
    }

    fn push(&mut self, op: Op) {
        op.apply(&mut self.live);
        self.ops.push_back(op);
    }
}

impl Storage for SimDisk {
    fn list(&self) -> Vec<String> {
        self.live.keys().cloned().collect()
    }

    fn len(&self, file: &str) -> Result<u64, StorageError> {
        self.live
            .get(file)
            .map(|f| f.len as u64)
            .ok_or_else(|| StorageError::NotFound {
                file: file.to_owned(),
            })
    }

    fn read(&self, file: &str, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        let data = self.live.get(file).ok_or_else(|| StorageError::NotFound {
            file: file.to_owned(),
        })?;
        let file_len = data.len as u64;
        let start = offset
            .checked_add(buf.len() as u64)
            .filter(|&end| end <= file_len)
            .and_then(|_| usize::try_from(offset).ok())
            .ok_or_else(|| StorageError::OutOfRange {
                file: file.to_owned(),
                offset,
                len: buf.len() as u64,
                file_len,
            })?;
        data.read(start, buf);
        self.bytes_read
            .set(self.bytes_read.get() + buf.len() as u64);
        Ok(())
    }

    fn write(&mut self, file: &str, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        check_name(file)?;
        self.stats.writes += 1;
        self.stats.bytes_written += data.len() as u64;
        self.push(Op::Write {
            file: file.to_owned(),
            offset,
            data: data.to_vec(),
        });
        Ok(())
    }

    fn set_len(&mut self, file: &str, len: u64) -> Result<(), StorageError> {
        check_name(file)?;
        self.push(Op::SetLen {
            file: file.to_owned(),
            len,
        });
        Ok(())
    }

    fn delete(&mut self, file: &str) -> Result<(), StorageError> {
        check_name(file)?;
        if self.live.contains_key(file) {
            self.push(Op::Delete {
                file: file.to_owned(),
            });
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<SyncId, StorageError> {
        let id = SyncId(self.next_sync);
        self.next_sync += 1;
        self.stats.syncs_issued += 1;
        let latency = self.config.sync_latency.draw(&mut self.rng).max(1);
        let after_prev = self.pending.back().map_or(0, |p| p.complete_at);
        let complete_at = if self.config.serial_syncs {
            self.now.max(after_prev) + latency
        } else {
            (self.now + latency).max(after_prev)
        };
        self.pending.push_back(PendingSync {
            id,
            covers: self.ops.len(),
            complete_at,
        });
        Ok(id)
    }

    fn take_completions(&mut self) -> Vec<SyncCompletion> {
        std::mem::take(&mut self.completed)
    }

    fn syncs_in_flight(&self) -> u64 {
        (self.pending.len() + self.completed.len()) as u64
    }

    fn has_volatile_changes(&self) -> bool {
        !self.ops.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// Files are chunked copy-on-write: a copy of the disk shares their bytes, and a
    /// change on either side is invisible to the other; writes across chunk edges, holes,
    /// and a truncate then extend (zeros, not the old bytes) read back as a flat buffer
    /// would, compared against a `Vec<u8>` model over seeded random operations.
    #[test]
    fn files_are_copied_on_write_and_read_like_flat_buffers() {
        let mut rng = Rng::new(99);
        let mut file = File::default();
        let mut model: Vec<u8> = Vec::new();
        let mut copies: Vec<(File, Vec<u8>)> = Vec::new();
        for step in 0..2000 {
            match rng.below(4) {
                0 | 1 => {
                    let at = to_usize(rng.below(3 * CHUNK as u64));
                    let n = to_usize(rng.below(CHUNK as u64 + 100));
                    let data: Vec<u8> = (0..n)
                        .map(|i| u8::try_from((i + step) % 255).unwrap() | 1)
                        .collect();
                    file.write(at, &data);
                    if model.len() < at + n {
                        model.resize(at + n, 0);
                    }
                    model[at..at + n].copy_from_slice(&data);
                }
                2 => {
                    let len = to_usize(rng.below(3 * CHUNK as u64));
                    file.resize(len);
                    model.resize(len, 0);
                }
                _ => copies.push((file.clone(), model.clone())),
            }
            assert_eq!(file.len, model.len());
            assert_eq!(file.to_vec(), model, "step {step}");
            if let Some(i) = model.len().checked_sub(1) {
                let mut one = [0u8; 1];
                file.read(i, &mut one);
                assert_eq!(one[0], model[i]);
            }
        }
        assert!(copies.len() > 100);
        for (copy, expected) in &copies {
            assert_eq!(
                &copy.to_vec(),
                expected,
                "a copy changed after it was taken"
            );
        }
        assert!(copies[0].0 == copies[0].0.clone());
    }

    #[test]
    fn write_is_visible_but_volatile_until_sync_completes() {
        let mut d = SimDisk::new(SimDiskConfig::default(), 1);
        d.write("a", 0, b"hello").unwrap();
        let mut buf = [0; 5];
        d.read("a", 0, &mut buf).unwrap();
        assert_eq!(&buf, b"hello");
        let id = d.sync().unwrap();
        assert!(d.take_completions().is_empty());
        // A crash before completion may keep the write or drop it, never anything else.
        let mut lost = d.clone();
        lost.crash();
        let after = lost.durable_contents("a");
        // Lost, kept whole, or torn to nothing (the file created, its one sector not).
        assert!(
            matches!(after.as_deref(), None | Some(b"") | Some(b"hello")),
            "unexpected image {after:?}"
        );
        d.settle();
        assert_eq!(
            d.take_completions(),
            vec![SyncCompletion { id, result: Ok(()) }]
        );
        d.crash();
        d.read("a", 0, &mut buf).unwrap();
        assert_eq!(&buf, b"hello");
        d.validate();
        let stats = d.stats();
        assert_eq!(
            (stats.bytes_written, stats.writes, stats.bytes_read),
            (5, 1, 10)
        );
        assert_eq!((stats.syncs_issued, stats.syncs_completed), (1, 1));
    }

    #[test]
    fn unsynced_writes_never_survive_a_crash() {
        let mut d = SimDisk::new(SimDiskConfig::default(), 2);
        d.write("a", 0, b"synced").unwrap();
        d.sync().unwrap();
        d.settle();
        d.write("a", 0, b"XXXXXX").unwrap();
        d.write("b", 0, b"new").unwrap();
        let r = d.crash();
        assert_eq!(r.ops_lost, 2);
        assert_eq!(r.syncs_lost, 0);
        assert_eq!(d.durable_contents("a").as_deref(), Some(&b"synced"[..]));
        assert!(!d.exists("b"));
        d.validate();
    }

    #[test]
    fn completions_arrive_in_issue_order_even_with_random_latency() {
        let cfg = SimDiskConfig {
            sync_latency: SyncLatency::Uniform { min: 1, max: 100 },
            ..SimDiskConfig::default()
        };
        let mut d = SimDisk::new(cfg, 3);
        let mut ids = Vec::new();
        for i in 0..50u8 {
            d.write("f", u64::from(i), &[i]).unwrap();
            ids.push(d.sync().unwrap());
            d.advance(u64::from(i % 7));
            d.validate();
        }
        d.settle();
        let got: Vec<SyncId> = d.take_completions().into_iter().map(|c| c.id).collect();
        assert_eq!(got, ids);
        assert_eq!(d.syncs_in_flight(), 0);
    }

    #[test]
    fn crash_tears_in_flight_writes_at_sector_granularity_only() {
        let cfg = SimDiskConfig {
            sync_latency: SyncLatency::Fixed(10),
            sector_bytes: 4,
            tear_on_crash: true,
            serial_syncs: true,
        };
        let mut torn_seen = 0;
        for seed in 0..200 {
            let mut d = SimDisk::new(cfg, seed);
            d.write("f", 0, &[1u8; 16]).unwrap();
            d.sync().unwrap();
            d.settle();
            d.write("f", 2, &[9u8; 12]).unwrap();
            d.sync().unwrap();
            let r = d.crash();
            let img = d.durable_contents("f").unwrap();
            assert_eq!(img.len(), 16);
            // Every 4-byte sector of the overwritten range (2..14) is wholly old or new,
            // and bytes outside it are untouched.
            assert_eq!(&img[..2], &[1, 1], "seed {seed}");
            assert_eq!(&img[14..], &[1, 1], "seed {seed}");
            for s in 0..4usize {
                let lo = (s * 4).max(2);
                let sec = &img[lo..((s + 1) * 4).min(14)];
                assert!(
                    sec.iter().all(|&b| b == 1) || sec.iter().all(|&b| b == 9),
                    "seed {seed}: sector {s} mixed: {img:?}"
                );
            }
            if r.torn.is_some() {
                torn_seen += 1;
            }
            d.validate();
        }
        assert!(torn_seen > 20, "only {torn_seen} tears in 200 crashes");
    }

    #[test]
    fn serial_syncs_run_one_at_a_time_and_overlapping_ones_do_not() {
        let completions = |serial_syncs| {
            let cfg = SimDiskConfig {
                sync_latency: SyncLatency::Fixed(10),
                serial_syncs,
                ..SimDiskConfig::default()
            };
            let mut d = SimDisk::new(cfg, 1);
            let mut at = Vec::new();
            for i in 0..3u8 {
                d.write("f", u64::from(i), &[i]).unwrap();
                d.sync().unwrap();
                d.advance(1);
            }
            while let Some(t) = d.next_completion_at() {
                at.push(t);
                d.advance(t - d.now());
            }
            at
        };
        // Issued at 0, 1, 2: one at a time, each starts when the previous completes.
        assert_eq!(completions(true), [10, 20, 30]);
        // Overlapping: each completes 10 ticks after it was issued.
        assert_eq!(completions(false), [10, 11, 12]);
    }

    #[test]
    fn flip_bit_reaches_both_images_and_out_of_range_is_an_error() {
        let mut d = SimDisk::new(SimDiskConfig::default(), 4);
        d.write("f", 0, &[0u8; 4]).unwrap();
        d.sync().unwrap();
        d.settle();
        d.flip_bit("f", 9).unwrap();
        let mut b = [0; 4];
        d.read("f", 0, &mut b).unwrap();
        assert_eq!(b, [0, 2, 0, 0]);
        d.crash();
        d.read("f", 0, &mut b).unwrap();
        assert_eq!(b, [0, 2, 0, 0]);
        assert!(d.flip_bit("f", 32).is_err());
        assert!(d.flip_bit("nope", 0).is_err());
    }

    #[test]
    fn same_seed_same_crash_outcome() {
        let run = |seed| {
            let mut d = SimDisk::new(SimDiskConfig::default(), seed);
            for i in 0..20u64 {
                d.write("f", i * 100, &[u8::try_from(i).unwrap(); 300])
                    .unwrap();
                if i % 3 == 0 {
                    d.sync().unwrap();
                }
                d.advance(3);
            }
            let r = d.crash();
            (r, d.durable_contents("f"))
        };
        assert_eq!(run(9), run(9));
    }
}
