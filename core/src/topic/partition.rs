//! One partition of a topic: an ordered, durable sequence of records with offsets.
//!
//! A partition is a [`Log`] of encoded [`TopicRecord`]s. The record's offset is stored in
//! the record (not taken from the log's LSN), so that key compaction can rewrite the
//! partition and keep every surviving record's offset — offsets in a compacted partition
//! have gaps, as in Kafka.
//!
//! # Files
//! * `{name}.g{gen}-{base:020}.seg`: the segments of generation `gen` of the log.
//! * `{name}.control`: two checksummed slots naming the current generation (the newer
//!   valid slot wins): `magic u32 "LSPC" | seq u64 | gen u64 | crc32c u32` (LE), slots at
//!   0 and 64.
//!
//! # Record format (the log payload), little-endian
//! `version u8 (=1) | offset u64 | timestamp u64 | flags u8 | [producer id u64 | sequence
//! u64] | [key len u32 | key] | [value len u32 | value]` — flags: bit 0 key present, bit 1
//! value present (absent: a tombstone), bit 2 producer present.
//!
//! # Call order
//! [`Partition::open`] (recovery: the control file's generation, the log's own recovery,
//! orphan generations deleted, the producer table and offset index rebuilt by a scan) →
//! [`Partition::append`] → [`Partition::request_sync`] → [`Partition::handle_sync_completion`]
//! for every completion; records below [`Partition::high_watermark`] are durable and are
//! the only ones [`Partition::read`] returns. [`Partition::enforce_retention`] and
//! [`Partition::compact`] any time.
//!
//! # Idempotent producers
//! A record may carry `(producer id, sequence)`. Per producer the partition keeps its
//! last [`PRODUCER_WINDOW`] sequences and their offsets: a record with the next sequence is appended; one with a
//! sequence at or below the last is a duplicate — not appended, answered with
//! [`Appended::Duplicate`] — and one that skips ahead is [`PartitionError::OutOfSequence`].
//! The table is rebuilt from the records at recovery (a producer whose every record was
//! removed by retention or compaction is forgotten, as Kafka expires producer state).
//!
//! # Retention and compaction
//! * Retention drops whole segments from the front: while the partition is over
//!   `retention_bytes`, or its oldest segment's newest record is older than
//!   `retention_ticks`. The active (last) segment is never dropped.
//! * Compaction (compacted partitions): a new generation holding, for each key, only its
//!   latest record, where a tombstone is kept until it is `tombstone_retention_ticks` old;
//!   records without a key are kept, and so is each producer's last record (its sequence
//!   survives recovery). The new generation is synced, then the control file
//!   is pointed at it and synced, then the old generation is deleted. A crash before the
//!   control write leaves the old generation current (the new one is an orphan); after,
//!   the new one (the old files are orphans). Offsets never change.
//!
//! # Invariants ([`Partition::validate`])
//! Offsets strictly increase along the log; `high_watermark <= next_offset`; the index
//! holds one entry per record; every producer's last offset is in the partition or below
//! its start.

use crate::vec_map::VecMap;
use std::collections::VecDeque;

use crate::crc32c;
use crate::log::{Log, LogConfig, LogError, Lsn, RecoveryReport};
use crate::storage::{Storage, StorageError, SyncCompletion, SyncId};

/// A record of a topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicRecord {
    /// Its offset in the partition.
    pub offset: u64,
    /// When it was appended (virtual ticks).
    pub timestamp: u64,
    /// Its key (routing and compaction).
    pub key: Option<Vec<u8>>,
    /// Its value; `None` is a tombstone (compaction deletes the key).
    pub value: Option<Vec<u8>>,
    /// The idempotent producer's id and sequence number.
    pub producer: Option<(u64, u64)>,
}

const VERSION: u8 = 1;

impl TopicRecord {
    /// The log payload (module docs).
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(40);
        b.push(VERSION);
        b.extend_from_slice(&self.offset.to_le_bytes());
        b.extend_from_slice(&self.timestamp.to_le_bytes());
        let flags = u8::from(self.key.is_some())
            | (u8::from(self.value.is_some()) << 1)
            | (u8::from(self.producer.is_some()) << 2);
        b.push(flags);
        if let Some((pid, seq)) = self.producer {
            b.extend_from_slice(&pid.to_le_bytes());
            b.extend_from_slice(&seq.to_le_bytes());
        }
        for part in [&self.key, &self.value].into_iter().flatten() {
            let len = u32::try_from(part.len()).expect("record parts are bounded by the log");
            b.extend_from_slice(&len.to_le_bytes());
            b.extend_from_slice(part);
        }
        b
    }

    /// Decodes a payload; a description of the damage otherwise.
    pub fn decode(bytes: &[u8]) -> Result<TopicRecord, String> {
        let mut at = 0usize;
        let mut take = |n: usize| -> Result<&[u8], String> {
            let s = bytes
                .get(at..at + n)
                .ok_or_else(|| format!("truncated at byte {at} (need {n} more)"))?;
            at += n;
            Ok(s)
        };
        let u64_of = |s: &[u8]| u64::from_le_bytes(s.try_into().expect("8 bytes"));
        let version = take(1)?[0];
        if version != VERSION {
            return Err(format!("unknown record version {version}"));
        }
        let offset = u64_of(take(8)?);
        let timestamp = u64_of(take(8)?);
        let flags = take(1)?[0];
        if flags & !0b111 != 0 {
            return Err(format!("unknown flags {flags:#x}"));
        }
        let producer = if flags & 4 != 0 {
            Some((u64_of(take(8)?), u64_of(take(8)?)))
        } else {
            None
        };
        let mut part = |present: bool| -> Result<Option<Vec<u8>>, String> {
            if !present {
                return Ok(None);
            }
            let len = u32::from_le_bytes(take(4)?.try_into().expect("4 bytes")) as usize;
            Ok(Some(take(len)?.to_vec()))
        };
        let key = part(flags & 1 != 0)?;
        let value = part(flags & 2 != 0)?;
        if at != bytes.len() {
            return Err(format!("{} trailing bytes", bytes.len() - at));
        }
        Ok(TopicRecord {
            offset,
            timestamp,
            key,
            value,
            producer,
        })
    }

    fn size(&self) -> u64 {
        self.key.as_ref().map_or(0, Vec::len) as u64
            + self.value.as_ref().map_or(0, Vec::len) as u64
    }
}

/// How a partition is stored and cleaned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionConfig {
    /// File name prefix (`{topic}-{partition}`).
    pub name: String,
    /// Segment size of its log.
    pub segment_bytes: u64,
    /// Drop the oldest segments while the partition holds more than this (`None`: no limit).
    pub retention_bytes: Option<u64>,
    /// Drop segments whose newest record is older than this many ticks (`None`: forever).
    pub retention_ticks: Option<u64>,
    /// Keep only the latest record per key (a compacted topic).
    pub compacted: bool,
    /// Compaction keeps a tombstone this many ticks before dropping it.
    pub tombstone_retention_ticks: u64,
}

impl PartitionConfig {
    /// A plain partition: 16 KiB segments, no retention limit, not compacted.
    pub fn new(name: &str) -> Self {
        PartitionConfig {
            name: name.to_owned(),
            segment_bytes: 16 * 1024,
            retention_bytes: None,
            retention_ticks: None,
            compacted: false,
            tombstone_retention_ticks: 1000,
        }
    }
}

/// Errors from a partition.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PartitionError {
    /// The storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The log failed (including damage in its middle).
    #[error("partition log: {0}")]
    Log(#[from] LogError),
    /// A record or the control file does not decode.
    #[error("partition {name}: {what}")]
    Corrupt {
        /// The partition.
        name: String,
        /// What is wrong.
        what: String,
    },
    /// A producer's sequence number skipped ahead (a lost request in between).
    #[error("producer {producer}: sequence {got} after {last}: records in between are missing")]
    OutOfSequence {
        /// The producer.
        producer: u64,
        /// Its last appended sequence.
        last: u64,
        /// The sequence received.
        got: u64,
    },
    /// A compaction is switching generations: retry after the next sync (a few ticks).
    #[error("partition {0} is switching to its compacted generation: retry")]
    Busy(String),
    /// An offset before the partition's start (removed by retention) or past its end.
    #[error("offset {offset} is out of range {start}..{end}")]
    OffsetOutOfRange {
        /// Asked for.
        offset: u64,
        /// The first offset held.
        start: u64,
        /// The next offset to be assigned.
        end: u64,
    },
}

/// What an append did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Appended {
    /// Appended at this offset.
    New(u64),
    /// A retry of a record already appended, at this offset if it is among the
    /// producer's last [`PRODUCER_WINDOW`] records (else `None`): nothing appended.
    Duplicate(Option<u64>),
}

impl Appended {
    /// The record's offset, if known.
    pub fn offset(self) -> Option<u64> {
        match self {
            Appended::New(o) => Some(o),
            Appended::Duplicate(o) => o,
        }
    }
}

/// How many recent (sequence, offset) pairs a partition remembers per producer.
pub const PRODUCER_WINDOW: usize = 64;

/// What opening found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionRecovery {
    /// The generation in use.
    pub generation: u64,
    /// The log's own recovery.
    pub log: RecoveryReport,
    /// Files of other generations deleted.
    pub orphans_deleted: u64,
    /// Records in the partition.
    pub records: u64,
}

const CONTROL_MAGIC: u32 = u32::from_le_bytes(*b"LSPC");
const SLOT: u64 = 64;
const SLOT_BYTES: usize = 24;

fn encode_slot(seq: u64, gen: u64) -> [u8; SLOT_BYTES] {
    let mut b = [0u8; SLOT_BYTES];
    b[..4].copy_from_slice(&CONTROL_MAGIC.to_le_bytes());
    b[4..12].copy_from_slice(&seq.to_le_bytes());
    b[12..20].copy_from_slice(&gen.to_le_bytes());
    let crc = crc32c::checksum(&b[..20]);
    b[20..].copy_from_slice(&crc.to_le_bytes());
    b
}

fn decode_slot(b: &[u8]) -> Option<(u64, u64)> {
    if b.len() != SLOT_BYTES
        || u32::from_le_bytes(b[..4].try_into().ok()?) != CONTROL_MAGIC
        || u32::from_le_bytes(b[20..].try_into().ok()?) != crc32c::checksum(&b[..20])
    {
        return None;
    }
    Some((
        u64::from_le_bytes(b[4..12].try_into().ok()?),
        u64::from_le_bytes(b[12..20].try_into().ok()?),
    ))
}

/// A compaction in progress (module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Cleaning {
    Idle,
    /// The new generation's log holds the cleaned records up to `copied` (exclusive
    /// offset); waiting for its sync.
    Written {
        log: Log,
        sync: SyncId,
        copied: u64,
    },
    /// The records appended meanwhile were copied too; appends are refused until this
    /// sync completes, so nothing is left behind in the old generation.
    Draining {
        log: Log,
        sync: SyncId,
    },
    /// The control file names the new generation; waiting for its sync. Appends go to
    /// the new generation but are not acknowledged before the switch is durable.
    Switched {
        old_gen: u64,
        sync: SyncId,
    },
}

/// One partition (module docs).
#[derive(Clone, Debug)]
pub struct Partition {
    config: PartitionConfig,
    gen: u64,
    control_seq: u64,
    log: Log,
    /// (offset, LSN) of every record, in order.
    index: VecDeque<(u64, Lsn)>,
    next_offset: u64,
    /// Offsets below this are durable (the high watermark).
    durable_offset: u64,
    /// Per producer: its recent (sequence, offset), oldest first, at most
    /// [`PRODUCER_WINDOW`].
    producers: VecMap<u64, VecDeque<(u64, u64)>>,
    bytes: u64,
    cleaning: Cleaning,
    /// Compactions completed and tombstones dropped (for the trace).
    pub compactions: u64,
}

impl Partition {
    fn log_config(config: &PartitionConfig, gen: u64) -> LogConfig {
        LogConfig {
            segment_bytes: config.segment_bytes,
            ..LogConfig::new(&format!("{}.g{gen}", config.name))
        }
    }

    fn control_file(&self) -> String {
        format!("{}.control", self.config.name)
    }

    /// Opens (recovers) the partition, or creates it empty (module docs).
    pub fn open<S: Storage + ?Sized>(
        storage: &mut S,
        config: PartitionConfig,
    ) -> Result<(Partition, PartitionRecovery), PartitionError> {
        let control = format!("{}.control", config.name);
        let mut best: Option<(u64, u64)> = None;
        if let Ok(len) = storage.len(&control) {
            for off in [0, SLOT] {
                if off + SLOT_BYTES as u64 > len {
                    continue;
                }
                let mut b = [0u8; SLOT_BYTES];
                storage.read(&control, off, &mut b)?;
                if let Some(s) = decode_slot(&b) {
                    if best.is_none_or(|b| s.0 > b.0) {
                        best = Some(s);
                    }
                }
            }
        }
        let (control_seq, gen) = best.unwrap_or((0, 0));
        // Files of other generations: a compaction that crashed before or after its switch.
        let ours = format!("{}.g{gen}-", config.name);
        let prefix = format!("{}.g", config.name);
        let mut orphans = 0;
        for f in storage.list() {
            if f.starts_with(&prefix) && !f.starts_with(&ours) {
                storage.delete(&f)?;
                orphans += 1;
            }
        }
        let (log, report) = Log::open(storage, Self::log_config(&config, gen))?;
        let mut p = Partition {
            config,
            gen,
            control_seq,
            log,
            index: VecDeque::new(),
            next_offset: 0,
            durable_offset: 0,
            producers: VecMap::new(),
            bytes: 0,
            cleaning: Cleaning::Idle,
            compactions: 0,
        };
        let mut records = 0;
        for rec in p.log.scan(&*storage, p.log.first_lsn())? {
            let rec = rec?;
            let r = TopicRecord::decode(&rec.payload).map_err(|what| PartitionError::Corrupt {
                name: p.config.name.clone(),
                what: format!("record at {}: {what}", rec.lsn),
            })?;
            if r.offset < p.next_offset {
                return Err(PartitionError::Corrupt {
                    name: p.config.name.clone(),
                    what: format!("offset {} after {}", r.offset, p.next_offset),
                });
            }
            p.index.push_back((r.offset, rec.lsn));
            p.next_offset = r.offset + 1;
            p.bytes += r.size();
            if let Some((pid, seq)) = r.producer {
                let w = p.producers.entry(pid).or_default();
                w.push_back((seq, r.offset));
                if w.len() > PRODUCER_WINDOW {
                    w.pop_front();
                }
            }
            records += 1;
        }
        // Offsets continue after the last record the log kept (a compaction may have
        // removed later ones only if they were not the last: the last is always kept).
        p.durable_offset = p.next_offset;
        let recovery = PartitionRecovery {
            generation: gen,
            log: report,
            orphans_deleted: orphans,
            records,
        };
        p.validate();
        Ok((p, recovery))
    }

    /// Its configuration.
    pub fn config(&self) -> &PartitionConfig {
        &self.config
    }

    /// The next offset to be assigned (the log end offset).
    pub fn next_offset(&self) -> u64 {
        self.next_offset
    }

    /// The first offset held (after retention).
    pub fn start_offset(&self) -> u64 {
        self.index.front().map_or(self.next_offset, |e| e.0)
    }

    /// Records below this offset are durable; consumers see only those.
    pub fn high_watermark(&self) -> u64 {
        self.durable_offset
    }

    /// Records held.
    pub fn len(&self) -> u64 {
        self.index.len() as u64
    }

    /// Whether it holds no record.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Key and value bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The log (segments, sizes).
    pub fn log(&self) -> &Log {
        &self.log
    }

    /// The current generation (compactions so far, across restarts).
    pub fn generation(&self) -> u64 {
        self.gen
    }

    /// Appends a record (module docs, idempotent producers). Durable once a sync covering
    /// it completes ([`Partition::high_watermark`] passes its offset).
    pub fn append<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp: u64,
        producer: Option<(u64, u64)>,
    ) -> Result<Appended, PartitionError> {
        if matches!(self.cleaning, Cleaning::Draining { .. }) {
            return Err(PartitionError::Busy(self.config.name.clone()));
        }
        if let Some((pid, seq)) = producer {
            if let Some(&(last, _)) = self.producers.get(&pid).and_then(VecDeque::back) {
                if seq <= last {
                    let offset = self.producers[&pid]
                        .iter()
                        .find(|&&(s, _)| s == seq)
                        .map(|&(_, o)| o);
                    return Ok(Appended::Duplicate(offset));
                }
                if seq != last + 1 {
                    return Err(PartitionError::OutOfSequence {
                        producer: pid,
                        last,
                        got: seq,
                    });
                }
            }
        }
        let record = TopicRecord {
            offset: self.next_offset,
            timestamp,
            key: key.map(<[u8]>::to_vec),
            value: value.map(<[u8]>::to_vec),
            producer,
        };
        let lsn = self.log.append(storage, &record.encode())?;
        self.index.push_back((record.offset, lsn));
        self.next_offset += 1;
        self.bytes += record.size();
        if let Some(id) = producer {
            self.remember(id, record.offset);
        }
        Ok(Appended::New(record.offset))
    }

    /// Whether producer `pid`'s record with sequence `seq` is in the partition and
    /// durable (at or below the high watermark). A sequence older than the producer's
    /// window was appended before the window's oldest, so it is durable if that one is.
    pub fn producer_acked(&self, pid: u64, seq: u64) -> bool {
        let Some(w) = self.producers.get(&pid) else {
            return false;
        };
        if let Some(&(_, offset)) = w.iter().find(|&&(s, _)| s == seq) {
            return offset < self.durable_offset;
        }
        w.front()
            .is_some_and(|&(s0, o0)| seq < s0 && o0 <= self.durable_offset)
    }

    fn remember(&mut self, (pid, seq): (u64, u64), offset: u64) {
        let w = self.producers.entry(pid).or_default();
        w.push_back((seq, offset));
        if w.len() > PRODUCER_WINDOW {
            w.pop_front();
        }
    }

    /// Asks for a sync of what was appended.
    pub fn request_sync<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
    ) -> Result<SyncId, PartitionError> {
        Ok(self.log.request_sync(storage)?)
    }

    /// Registers a storage-wide sync issued by the owner (one sync for many partitions).
    pub fn note_sync(&mut self, id: SyncId) {
        self.log.note_sync(id);
    }

    /// Whether records were appended that no sync covers yet.
    pub fn has_unsynced(&self) -> bool {
        self.log.covered_next() < self.log.next_lsn()
    }

    /// Hands a storage completion to the partition: the high watermark moves, and a
    /// compaction in progress advances (module docs).
    pub fn handle_sync_completion<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        completion: &SyncCompletion,
    ) -> Result<(), PartitionError> {
        self.log.handle_sync_completion(completion);
        if let Cleaning::Written { log, .. } | Cleaning::Draining { log, .. } = &mut self.cleaning {
            log.handle_sync_completion(completion);
        }
        match std::mem::replace(&mut self.cleaning, Cleaning::Idle) {
            Cleaning::Written {
                mut log,
                sync,
                copied,
            } if completion.id >= sync => {
                if completion.result.is_err() {
                    // Abandoned: its files are orphans (deleted by the next compaction
                    // or open).
                    self.update_watermark();
                    return Ok(());
                }
                // Records appended since the copy: copy them too, and hold appends until
                // that sync completes.
                let from = self.index.partition_point(|&(o, _)| o < copied);
                let tail: Vec<Lsn> = self.index.iter().skip(from).map(|&(_, l)| l).collect();
                if tail.is_empty() {
                    self.switch(storage, log)?;
                } else {
                    for lsn in tail {
                        let bytes = self.log.read(&*storage, lsn)?;
                        log.append(storage, &bytes)?;
                    }
                    let sync = log.request_sync(storage)?;
                    self.cleaning = Cleaning::Draining { log, sync };
                }
            }
            Cleaning::Draining { log, sync } if completion.id >= sync => {
                if completion.result.is_err() {
                    self.update_watermark();
                    return Ok(());
                }
                self.switch(storage, log)?;
            }
            Cleaning::Switched { old_gen, sync } if completion.id >= sync => {
                if completion.result.is_ok() {
                    let prefix = format!("{}.g{old_gen}-", self.config.name);
                    for f in storage.list() {
                        if f.starts_with(&prefix) {
                            storage.delete(&f)?;
                        }
                    }
                    self.compactions += 1;
                } else {
                    // Write the control slot again.
                    self.write_control(storage, self.gen)?;
                    let sync = storage.sync()?;
                    self.cleaning = Cleaning::Switched { old_gen, sync };
                }
            }
            other => self.cleaning = other,
        }
        self.update_watermark();
        Ok(())
    }

    fn update_watermark(&mut self) {
        if matches!(self.cleaning, Cleaning::Switched { .. }) {
            return; // nothing new is acknowledged until the switch is durable
        }
        let durable = self.log.durable_next();
        let i = self.index.partition_point(|&(_, lsn)| lsn < durable);
        self.durable_offset = self
            .index
            .get(i)
            .map_or(self.next_offset, |&(o, _)| o)
            .max(self.durable_offset);
    }

    fn write_control<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        gen: u64,
    ) -> Result<(), PartitionError> {
        let seq = self.control_seq + 1;
        let slot = if seq.is_multiple_of(2) { 0 } else { SLOT };
        storage.write(&self.control_file(), slot, &encode_slot(seq, gen))?;
        self.control_seq = seq;
        Ok(())
    }

    /// Points the control file at the new generation (durable: it holds every record)
    /// and makes it current.
    fn switch<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        log: Log,
    ) -> Result<(), PartitionError> {
        let old_gen = self.gen;
        self.write_control(storage, old_gen + 1)?;
        let sync = storage.sync()?;
        self.gen = old_gen + 1;
        self.log = log;
        self.rebuild_index(storage)?;
        self.cleaning = Cleaning::Switched { old_gen, sync };
        Ok(())
    }

    fn rebuild_index<S: Storage + ?Sized>(&mut self, storage: &S) -> Result<(), PartitionError> {
        self.index.clear();
        self.bytes = 0;
        for rec in self.log.scan(storage, self.log.first_lsn())? {
            let rec = rec?;
            let r = TopicRecord::decode(&rec.payload).map_err(|what| PartitionError::Corrupt {
                name: self.config.name.clone(),
                what,
            })?;
            self.index.push_back((r.offset, rec.lsn));
            self.bytes += r.size();
        }
        Ok(())
    }

    /// Up to `max` durable records from `offset` on (the first at or after it: compaction
    /// leaves gaps). An offset below the start is [`PartitionError::OffsetOutOfRange`]
    /// (the consumer must reset); at or past the high watermark, nothing.
    pub fn read<S: Storage + ?Sized>(
        &self,
        storage: &S,
        offset: u64,
        max: usize,
    ) -> Result<Vec<TopicRecord>, PartitionError> {
        if offset < self.start_offset() && !(self.index.is_empty() && offset == self.next_offset) {
            return Err(PartitionError::OffsetOutOfRange {
                offset,
                start: self.start_offset(),
                end: self.next_offset,
            });
        }
        if offset > self.next_offset {
            return Err(PartitionError::OffsetOutOfRange {
                offset,
                start: self.start_offset(),
                end: self.next_offset,
            });
        }
        let from = self.index.partition_point(|&(o, _)| o < offset);
        let mut out = Vec::new();
        for &(o, lsn) in self.index.iter().skip(from) {
            if o >= self.durable_offset || out.len() >= max {
                break;
            }
            let bytes = self.log.read(storage, lsn)?;
            let r = TopicRecord::decode(&bytes).map_err(|what| PartitionError::Corrupt {
                name: self.config.name.clone(),
                what,
            })?;
            out.push(r);
        }
        Ok(out)
    }

    /// Drops whole segments from the front (module docs); returns how many.
    pub fn enforce_retention<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        now: u64,
    ) -> Result<u64, PartitionError> {
        let segments = self.log.segments();
        let mut total: u64 = segments.iter().map(|s| s.bytes).sum();
        let mut cut: Option<Lsn> = None;
        for (i, s) in segments.iter().enumerate() {
            if i + 1 == segments.len() || s.records == 0 {
                break; // never the active segment
            }
            let end = Lsn(s.base_lsn.0 + s.records);
            let over_size = self.config.retention_bytes.is_some_and(|b| total > b);
            let too_old = match self.config.retention_ticks {
                Some(t) => {
                    let last = self.log.read(&*storage, Lsn(end.0 - 1))?;
                    let r = TopicRecord::decode(&last).map_err(|what| PartitionError::Corrupt {
                        name: self.config.name.clone(),
                        what,
                    })?;
                    now.saturating_sub(r.timestamp) > t
                }
                None => false,
            };
            // Only durable segments go: a record a consumer has not been allowed to see
            // is not dropped before it could be read.
            if !(over_size || too_old) || end > self.log.durable_next() {
                break;
            }
            total -= s.bytes;
            cut = Some(end);
        }
        let Some(cut) = cut else { return Ok(0) };
        let dropped = self.log.trim_prefix(storage, cut)?;
        while self.index.front().is_some_and(|&(_, lsn)| lsn < cut) {
            self.index.pop_front();
        }
        self.bytes = 0;
        // (Bytes are recounted lazily: approximate by the remaining log size.)
        self.bytes = self.log.size_bytes();
        Ok(dropped)
    }

    /// Starts a compaction (compacted partitions, when none is running): writes the new
    /// generation and requests its sync; the switch happens in
    /// [`Partition::handle_sync_completion`]. Returns the records kept and dropped, or
    /// `None` when there is nothing to do. Only durable records are compacted; any others
    /// are copied as they are.
    pub fn compact<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        now: u64,
    ) -> Result<Option<(u64, u64)>, PartitionError> {
        if !self.config.compacted || self.cleaning != Cleaning::Idle || self.index.len() < 2 {
            return Ok(None);
        }
        // Any leftovers of an abandoned compaction.
        let new_gen = self.gen + 1;
        let prefix = format!("{}.g{new_gen}-", self.config.name);
        for f in storage.list() {
            if f.starts_with(&prefix) {
                storage.delete(&f)?;
            }
        }
        let mut records = Vec::with_capacity(self.index.len());
        for &(_, lsn) in &self.index {
            let bytes = self.log.read(&*storage, lsn)?;
            records.push(
                TopicRecord::decode(&bytes).map_err(|what| PartitionError::Corrupt {
                    name: self.config.name.clone(),
                    what,
                })?,
            );
        }
        // Each key's records in offset order, keys sorted (stably): a key's latest record
        // is the last of its run.
        let mut by_key: Vec<(&[u8], u64)> = records
            .iter()
            .filter_map(|r| r.key.as_deref().map(|k| (k, r.offset)))
            .collect();
        crate::sort::sort_by(&mut by_key, |a, b| a.0.cmp(b.0));
        let is_latest = |k: &[u8], offset: u64| {
            let end = by_key.partition_point(|&(x, _)| x <= k);
            end > 0 && by_key[end - 1] == (k, offset)
        };
        let last_offset = records.last().map(|r| r.offset);
        // Each producer's last record stays (as Kafka's cleaner keeps each producer's
        // last batch): recovery rebuilds the producer table from the records, and a
        // forgotten producer's next sequence would look out of order.
        let mut producer_last: VecMap<u64, u64> = VecMap::new();
        for r in &records {
            if let Some((pid, _)) = r.producer {
                producer_last.insert(pid, r.offset);
            }
        }
        let keep = |r: &TopicRecord| -> bool {
            if r.offset >= self.durable_offset
                || Some(r.offset) == last_offset
                || r.producer
                    .is_some_and(|(pid, _)| producer_last.get(&pid) == Some(&r.offset))
            {
                return true; // not yet durable, the last, or a producer's last
            }
            match &r.key {
                None => true,
                Some(k) => {
                    is_latest(k, r.offset)
                        && (r.value.is_some()
                            || now.saturating_sub(r.timestamp)
                                <= self.config.tombstone_retention_ticks)
                }
            }
        };
        let kept: Vec<&TopicRecord> = records.iter().filter(|r| keep(r)).collect();
        let dropped = records.len() - kept.len();
        if dropped == 0 {
            return Ok(None);
        }
        let (mut log, _) = Log::open(storage, Self::log_config(&self.config, new_gen))?;
        for r in &kept {
            log.append(storage, &r.encode())?;
        }
        let sync = log.request_sync(storage)?;
        let copied = self.next_offset;
        self.cleaning = Cleaning::Written { log, sync, copied };
        Ok(Some((kept.len() as u64, dropped as u64)))
    }

    /// Whether a compaction is waiting for its syncs.
    pub fn compacting(&self) -> bool {
        self.cleaning != Cleaning::Idle
    }

    /// Checks the invariants in the module docs; panics on a violation (a bug).
    pub fn validate(&self) {
        self.log.validate();
        assert_eq!(
            self.index.len() as u64,
            self.log.len(),
            "one index entry per record"
        );
        for w in self.index.iter().zip(self.index.iter().skip(1)) {
            assert!(w.0 .0 < w.1 .0, "offsets increase");
            assert!(w.0 .1 < w.1 .1, "LSNs increase");
        }
        assert!(
            self.durable_offset <= self.next_offset,
            "high watermark past the end"
        );
        if let Some(&(o, _)) = self.index.back() {
            assert!(o < self.next_offset, "next offset not after the last");
        }
    }
}
