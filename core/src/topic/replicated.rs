//! A topic whose partitions are replicated by Raft groups over simulated brokers, so that
//! an acknowledged record (acks = all) survives broker crashes.
//!
//! # Shape
//! `B` brokers (3 to 7) host `P` partitions and the consumer-offsets group
//! [`OFFSETS_TOPIC`]. Each partition is a Raft group ([`Cluster`] of [`PartitionMachine`])
//! with a replica on every broker; the offsets are one more group ([`Cluster`] of
//! [`OffsetsMachine`]). Broker `b` is node `b` of every group: crashing broker `b` crashes
//! its replica of every group (each replica's log and snapshots on that broker's disk, a
//! [`SimDisk`](crate::SimDisk) with its crash semantics), restarting it restarts them,
//! and a network partition or a change of the network applies to every group. Every
//! group runs Raft's safety checkers after every step ([`check`](crate::raft::check)).
//!
//! ```text
//! producer ── batch (one Raft entry) ──► leader of partition p ── AppendEntries ──► followers
//!    ▲                                         │ committed (majority durable) → applied
//!    └──────── acks = all: offsets ◄───────────┘  (offsets assigned at apply time)
//! consumer ── fetch (read index) ──► leader of p;  commit / join / leave ──► leader of __consumer_offsets
//! ```
//!
//! # Produce (acks = all)
//! [`ReplicatedTopic::send`] routes a record by key (`crc32c(key) mod P`, as
//! [`Broker`](super::Broker) does; no key: round robin) into its producer's open batch for
//! that partition. A batch goes out when it holds `batch_records` records or is
//! `linger_ticks` old, one batch in flight per producer and partition (so sequence numbers
//! reach the partition in order). The batch is one Raft entry: record `i` carries
//! `(producer id, first sequence + i)`. The request goes to the broker believed to lead
//! the partition; a `NotLeader` answer redirects it, and silence for `retry_ticks` sends it
//! again — the same batch with the same sequences — to the next broker. Applying the entry
//! (every replica, in log order) assigns offsets and drops records already present:
//!
//! | case | record's sequence `s` against the producer's last `l` in this partition | placement |
//! |------|-------------------------------------------------------------------------|-----------|
//! | P1   | producer unknown, or `s == l + 1`                                        | appended at the next offset ([`Placement::New`]) |
//! | P2   | `s <= l`                                                                 | a duplicate: not appended; its original offset if among the last [`PRODUCER_WINDOW`] ([`Placement::Duplicate`]) |
//! | P3   | `s > l + 1`                                                              | refused ([`Placement::OutOfSequence`]) |
//!
//! The server that proposed the entry answers once it has applied it, so a send is
//! acknowledged ([`Completion::Acked`]) only when its entry is committed by the group. A
//! retry after a leader change is a second entry with the same sequences: whichever is
//! applied first places the records, the other is answered from the window with the same
//! offsets — exactly-once placement.
//!
//! **acks = 1** ([`Acks::Leader`]) exists only as a measured contrast: a send is
//! acknowledged as soon as the leader has appended the entry to its own log (not yet
//! durable, not yet replicated), with the offsets the leader predicts by placing its log's
//! unapplied suffix. A leader that crashes or is cut off before replicating loses such
//! records; the tests count how often.
//!
//! # Fetch and the high watermark
//! The high watermark is the commit index: a replica's state machine holds exactly the
//! records of the entries applied, and only committed entries are applied, so a fetch can
//! return nothing uncommitted. [`ReplicatedTopic::fetch`] is a linearizable read (read
//! index, thesis §6.4): it sees every record acknowledged before it was sent.
//!
//! # Retention and compaction
//! The topic's [`Retention`] travels in every batch (a Raft state machine starts from
//! nothing, so the policy must be in the log to be the same on every replica at every
//! index), and is applied **at apply time**, right after a batch that placed new records,
//! so every replica drops exactly the same records at the same index. Offsets fall into
//! segments of `segment_records` offsets; the active segment (the one holding the last
//! offset assigned) is never touched. The partition's clock is the highest batch
//! timestamp applied (a replica has no clock of its own).
//!
//! * **Compaction** (compacted topics), first: in the closed segments a keyed record is
//!   dropped if a later record has its key, and a tombstone that is its key's latest is
//!   dropped once it is more than `tombstone_ticks` old. Records without a key stay.
//! * **Retention**, then: while the oldest closed segment holding records is over the
//!   size limit (the records held exceed `retention_bytes`) or too old (its newest record
//!   is more than `retention_ticks` older than the clock), the whole segment goes and the
//!   start offset moves to its end.
//!
//! Offsets are never reused (the next offset only grows) and never change. A fetch below
//! the start offset is [`ReplicatedError::OffsetOutOfRange`] (the consumer resets); a
//! fetch from an offset compaction removed returns the next record held. Snapshots hold
//! only the records kept. Producer windows are not expired with their records, so a late
//! retry of a dropped batch is still a duplicate (unlike Kafka, which forgets producer
//! state with its last record).
//!
//! # Consumer offsets and groups
//! Commits, joins and leaves are commands of the `__consumer_offsets` group: the
//! committed offsets **and the group metadata** (members, generation, assignment) are
//! its replicated state, so a group survives the crash of any minority of brokers, its
//! coordinator included (the single-broker [`Broker`](super::Broker) keeps groups in
//! memory).
//!
//! * [`ReplicatedTopic::join`] / [`ReplicatedTopic::leave`]: a member that is new (or was
//!   there) is a rebalance: the generation goes up by one and the partitions are assigned
//!   again over the members in name order ([`Assignor::Range`] or
//!   [`Assignor::RoundRobin`], the group's first join's choice). A join or leave carries
//!   its request number; one not newer than the member's last applied (a retry's twin
//!   applied late) changes nothing. Members learn of rebalances from the answers and from
//!   [`ReplicatedTopic::describe_group`] (a linearizable read: their heartbeat).
//! * [`ReplicatedTopic::commit_as`]: a member's commit carries the generation it was
//!   assigned the partition in; applying it refuses a generation other than the group's
//!   ([`ReplicatedError::StaleGeneration`]: a fenced member), a non-member
//!   ([`ReplicatedError::NotMember`]) and a partition not the member's
//!   ([`ReplicatedError::NotAssigned`]). So at most one member commits a partition per
//!   generation. [`ReplicatedTopic::commit`] is a standalone consumer's commit, refused
//!   while the group has members.
//! * Applying a commit that would move an offset backwards refuses it
//!   ([`ReplicatedError::Backwards`]), so on every replica a committed offset never
//!   decreases. [`ReplicatedTopic::read_committed`] is a linearizable read.
//!
//! # Call order
//! [`ReplicatedTopic::new`], then [`ReplicatedTopic::step`] once per tick, with sends,
//! fetches, commits and faults ([`ReplicatedTopic::crash`], [`ReplicatedTopic::restart`],
//! [`ReplicatedTopic::set_partition`], [`ReplicatedTopic::heal`],
//! [`ReplicatedTopic::set_network`]) between steps; outcomes are drained with
//! [`ReplicatedTopic::take_completions`].
//!
//! # Bytes (little-endian)
//! ```text
//! produce command = client u64 | seq u64 | pid u64 | first seq u64 | timestamp u64 | retention | n u32 | n × record
//!       retention = flags u8 (bit 0 bytes, bit 1 ticks, bit 2 compacted) | segment u64 | bytes u64 | ticks u64 | tombstone ticks u64
//!          record = flags u8 (bit 0 key, bit 1 value) | [len u32 | key] | [len u32 | value]
//! partition snapshot = start u64 | next u64 | clock u64 | digest u32 | retention
//!                    | n u64 | n × (len u32 | TopicRecord) | m u32 | m × (pid u64 | k u32 | k × (seq u64 | offset u64))
//! offsets command = client u64 | seq u64 | tag u8 | body;  string = len u32 | UTF-8
//!    0 commit = group | partition u32 | offset u64 | 0 u8, or 1 u8 | member | generation u64
//!    1 join   = group | member | partitions u32 | assignor u8 (0 range, 1 round robin)
//!    2 leave  = group | member
//! offsets snapshot = n u32 | n × (group | partition u32 | offset u64)
//!                  | g u32 | g × (group | generation u64 | partitions u32 | assignor u8 | m u32 | m × (member | k u32 | k × partition u32))
//!                  | r u32 | r × (group | member | last request u64)
//! ```
//! Decoding is total: a command that does not decode is applied as a no-op, a snapshot
//! that does not decode is an error.

use std::collections::{BTreeMap, VecDeque};

use crate::crc32c;
use crate::raft::message::{Entry, EntryKind};
use crate::raft::node::{NodeEvent, RaftConfig, Role};
use crate::raft::sim::{
    ClientOp, ClientRequest, ClientResult, Cluster, ClusterConfig, NetConfig, SimError, TraceKind,
};
use crate::raft::state_machine::{Answer, StateMachine};
use crate::raft::NodeId;
use crate::sim_disk::{SimDiskConfig, SyncLatency};

use super::broker::OFFSETS_TOPIC;
use super::partition::{TopicRecord, PRODUCER_WINDOW};

/// Why bytes do not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ReplicatedDecodeError(String);

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(b: &'a [u8]) -> Self {
        Reader { b, at: 0 }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], ReplicatedDecodeError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or_else(|| ReplicatedDecodeError(format!("truncated at byte {}", self.at)))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, ReplicatedDecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, ReplicatedDecodeError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }
    fn u64(&mut self) -> Result<u64, ReplicatedDecodeError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }
    fn bytes(&mut self) -> Result<Vec<u8>, ReplicatedDecodeError> {
        let n = self.u32()? as usize;
        Ok(self.take(n)?.to_vec())
    }
    fn end(&self) -> Result<(), ReplicatedDecodeError> {
        if self.at == self.b.len() {
            Ok(())
        } else {
            Err(ReplicatedDecodeError(format!(
                "{} trailing bytes",
                self.b.len() - self.at
            )))
        }
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    let n = u32::try_from(b.len()).expect("a key or value fits u32");
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(b);
}

/// A record's key and value as a producer sends it (`None` value: a tombstone).
pub type KeyValue = (Option<Vec<u8>>, Option<Vec<u8>>);

/// How a partition keeps its records (module docs, "Retention and compaction"): offsets
/// fall into segments of `segment_records` offsets; whole closed segments are dropped
/// from the front by size and by age, and a compacted partition keeps, in its closed
/// segments, only the latest record of each key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Offsets per segment (at least 1): segment `k` holds offsets `k·s .. (k+1)·s`.
    pub segment_records: u64,
    /// Drop the oldest closed segment while the records held exceed this many bytes
    /// (encoded [`TopicRecord`]s).
    pub retention_bytes: Option<u64>,
    /// Drop the oldest closed segment while its newest record is older than this (ticks
    /// of the partition's clock, the highest batch timestamp applied).
    pub retention_ticks: Option<u64>,
    /// Keep only the latest record per key in closed segments.
    pub compacted: bool,
    /// A compacted tombstone (the latest record of its key) goes once it is older than
    /// this.
    pub tombstone_ticks: u64,
}

impl Retention {
    /// Keep everything: segments of 64 offsets, no limits, not compacted.
    pub fn keep_all() -> Self {
        Retention {
            segment_records: 64,
            retention_bytes: None,
            retention_ticks: None,
            compacted: false,
            tombstone_ticks: 1000,
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        let flags = u8::from(self.retention_bytes.is_some())
            | (u8::from(self.retention_ticks.is_some()) << 1)
            | (u8::from(self.compacted) << 2);
        out.push(flags);
        for x in [
            self.segment_records,
            self.retention_bytes.unwrap_or(0),
            self.retention_ticks.unwrap_or(0),
            self.tombstone_ticks,
        ] {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Retention, ReplicatedDecodeError> {
        let flags = r.u8()?;
        if flags & !0b111 != 0 {
            return Err(ReplicatedDecodeError(format!(
                "unknown retention flags {flags:#x}"
            )));
        }
        let segment_records = r.u64()?;
        if segment_records == 0 {
            return Err(ReplicatedDecodeError("segments of 0 records".into()));
        }
        let bytes = r.u64()?;
        let ticks = r.u64()?;
        Ok(Retention {
            segment_records,
            retention_bytes: (flags & 1 != 0).then_some(bytes),
            retention_ticks: (flags & 2 != 0).then_some(ticks),
            compacted: flags & 4 != 0,
            tombstone_ticks: r.u64()?,
        })
    }
}

impl Default for Retention {
    fn default() -> Self {
        Retention::keep_all()
    }
}

/// A batch of records from one producer for one partition: one Raft entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProduceBatch {
    /// The producer's id.
    pub producer: u64,
    /// The sequence number of the first record; record `i` has `first_sequence + i`.
    pub first_sequence: u64,
    /// When the batch was formed (virtual ticks), every record's timestamp.
    pub timestamp: u64,
    /// The topic's retention policy, applied with this entry (module docs).
    pub retention: Retention,
    /// The records: key and value (`None` value: a tombstone).
    pub records: Vec<KeyValue>,
}

impl ProduceBatch {
    fn encode(&self, client: u64, seq: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(82 + self.records.len() * 16);
        for x in [
            client,
            seq,
            self.producer,
            self.first_sequence,
            self.timestamp,
        ] {
            out.extend_from_slice(&x.to_le_bytes());
        }
        self.retention.encode(&mut out);
        let n = u32::try_from(self.records.len()).expect("a batch is bounded");
        out.extend_from_slice(&n.to_le_bytes());
        for (k, v) in &self.records {
            out.push(u8::from(k.is_some()) | (u8::from(v.is_some()) << 1));
            for part in [k, v].into_iter().flatten() {
                put_bytes(&mut out, part);
            }
        }
        out
    }

    /// Decodes an entry payload: the client, its request number and the batch.
    fn decode(b: &[u8]) -> Result<(u64, u64, ProduceBatch), ReplicatedDecodeError> {
        let mut r = Reader::new(b);
        let client = r.u64()?;
        let seq = r.u64()?;
        let producer = r.u64()?;
        let first_sequence = r.u64()?;
        let timestamp = r.u64()?;
        let retention = Retention::decode(&mut r)?;
        let n = r.u32()?;
        let mut records = Vec::with_capacity((n as usize).min(1024));
        for _ in 0..n {
            let at = r.at;
            let flags = r.u8()?;
            if flags & !0b11 != 0 {
                return Err(ReplicatedDecodeError(format!(
                    "unknown record flags {flags:#x} at byte {at}"
                )));
            }
            let key = if flags & 1 != 0 {
                Some(r.bytes()?)
            } else {
                None
            };
            let value = if flags & 2 != 0 {
                Some(r.bytes()?)
            } else {
                None
            };
            records.push((key, value));
        }
        r.end()?;
        Ok((
            client,
            seq,
            ProduceBatch {
                producer,
                first_sequence,
                timestamp,
                retention,
                records,
            },
        ))
    }
}

/// Where applying a batch put one of its records (module docs, cases P1–P3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Appended at this offset (P1).
    New(u64),
    /// Already in the partition: at this offset, if still in the producer's window (P2).
    Duplicate(Option<u64>),
    /// Refused: the producer's last sequence in the partition is `last` (P3).
    OutOfSequence {
        /// The producer's last sequence.
        last: u64,
    },
}

impl Placement {
    /// The record's offset, if it is in the partition and known.
    pub fn offset(self) -> Option<u64> {
        match self {
            Placement::New(o) | Placement::Duplicate(Some(o)) => Some(o),
            _ => None,
        }
    }
}

/// A fetch: up to `max_records` records from `offset` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FetchQuery {
    /// The first offset wanted.
    pub offset: u64,
    /// At most this many records.
    pub max_records: u32,
}

/// What a fetch returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    /// The high watermark: the offset after the last committed record.
    pub high_watermark: u64,
    /// The log start offset: offsets below it were dropped by retention.
    pub start_offset: u64,
    /// The records, in increasing offset order, the first at or after the offset asked
    /// (compaction leaves gaps); none if it is at or past the high watermark.
    pub records: Vec<TopicRecord>,
}

impl Fetched {
    /// Where a consumer that fetched from `offset` goes on: after the last record
    /// returned, else (nothing left before the high watermark) the high watermark.
    pub fn next_offset(&self, offset: u64) -> u64 {
        self.records
            .last()
            .map_or(offset.max(self.high_watermark), |r| r.offset + 1)
    }
}

/// A fetch below the partition's start offset (the records were dropped by retention).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfRange {
    /// The offset asked.
    pub offset: u64,
    /// The partition's start offset.
    pub start: u64,
    /// Its high watermark.
    pub end: u64,
}

type Producers = BTreeMap<u64, VecDeque<(u64, u64)>>;

/// Places a batch against a producer table and the next offset (cases P1–P3), moving both.
fn place(producers: &mut Producers, next_offset: &mut u64, batch: &ProduceBatch) -> Vec<Placement> {
    let pid = batch.producer;
    let mut out = Vec::with_capacity(batch.records.len());
    for i in 0..batch.records.len() as u64 {
        let seq = batch.first_sequence.saturating_add(i);
        let last = producers
            .get(&pid)
            .and_then(VecDeque::back)
            .map(|&(s, _)| s);
        let placement = match last {
            Some(l) if seq <= l => Placement::Duplicate(
                producers[&pid]
                    .iter()
                    .find(|&&(s, _)| s == seq)
                    .map(|&(_, o)| o),
            ),
            Some(l) if seq != l + 1 => Placement::OutOfSequence { last: l },
            _ => {
                let w = producers.entry(pid).or_default();
                w.push_back((seq, *next_offset));
                if w.len() > PRODUCER_WINDOW {
                    w.pop_front();
                }
                *next_offset += 1;
                Placement::New(*next_offset - 1)
            }
        };
        out.push(placement);
    }
    out
}

/// A partition's replicated state machine: its records, offsets assigned at apply time,
/// the idempotent producers' windows, and retention and compaction applied at apply time
/// (module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartitionMachine {
    /// The records held, in increasing offset order (gaps where compaction removed some).
    records: Vec<TopicRecord>,
    /// The log start offset (offsets below were dropped by retention).
    start: u64,
    /// The next offset to assign; never reused.
    next: u64,
    /// The partition's clock: the highest batch timestamp applied.
    clock: u64,
    /// The encoded size of the records held.
    bytes: u64,
    /// The retention policy of the last batch applied.
    retention: Retention,
    producers: Producers,
    applied: u64,
    /// A running checksum over the records appended and every cleaning (part of the
    /// state: it travels in snapshots).
    digest: u32,
}

impl PartitionMachine {
    /// The records held, in increasing offset order.
    pub fn records(&self) -> &[TopicRecord] {
        &self.records
    }

    /// The record at `offset`, if held.
    pub fn record(&self, offset: u64) -> Option<&TopicRecord> {
        self.records
            .binary_search_by_key(&offset, |r| r.offset)
            .ok()
            .map(|i| &self.records[i])
    }

    /// The offset after the last record (the high watermark of this replica).
    pub fn next_offset(&self) -> u64 {
        self.next
    }

    /// The log start offset: offsets below it were dropped by retention.
    pub fn start_offset(&self) -> u64 {
        self.start
    }

    /// The partition's clock: the highest batch timestamp applied.
    pub fn clock(&self) -> u64 {
        self.clock
    }

    /// The encoded size of the records held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The retention policy in force (the last batch's).
    pub fn retention(&self) -> Retention {
        self.retention
    }

    /// The producer's recent (sequence, offset) pairs, oldest first (offsets may have
    /// been dropped since by retention or compaction; the producer is not forgotten, so a
    /// late retry is still a duplicate).
    pub fn producer_window(&self, producer: u64) -> Option<&VecDeque<(u64, u64)>> {
        self.producers.get(&producer)
    }

    /// Up to `max` records from `offset` on; below the start offset an error.
    pub fn fetch(&self, offset: u64, max: u32) -> Result<Fetched, OutOfRange> {
        if offset < self.start {
            return Err(OutOfRange {
                offset,
                start: self.start,
                end: self.next,
            });
        }
        let from = self.records.partition_point(|r| r.offset < offset);
        let end = from.saturating_add(max as usize).min(self.records.len());
        Ok(Fetched {
            high_watermark: self.next,
            start_offset: self.start,
            records: self.records[from..end].to_vec(),
        })
    }

    fn chain(digest: u32, bytes: &[u8]) -> u32 {
        let mut b = digest.to_le_bytes().to_vec();
        b.extend_from_slice(bytes);
        crc32c::checksum(&b)
    }

    /// Compaction, then retention (module docs); at apply time, after a batch placed new
    /// records.
    fn clean(&mut self) {
        let policy = self.retention;
        let s = policy.segment_records;
        // The active segment holds the last offset assigned; it is never cleaned.
        let active_base = (self.next.saturating_sub(1) / s) * s;
        let before = (self.start, self.records.len());
        if policy.compacted {
            let mut latest: BTreeMap<&[u8], u64> = BTreeMap::new();
            for r in &self.records {
                if let Some(k) = &r.key {
                    latest.insert(k, r.offset);
                }
            }
            let clock = self.clock;
            let keep: Vec<bool> = self
                .records
                .iter()
                .map(|r| {
                    let Some(k) = &r.key else { return true };
                    r.offset >= active_base
                        || (latest[k.as_slice()] == r.offset
                            && (r.value.is_some()
                                || clock.saturating_sub(r.timestamp) <= policy.tombstone_ticks))
                })
                .collect();
            let mut i = 0;
            self.records.retain(|r| {
                i += 1;
                if !keep[i - 1] {
                    self.bytes -= r.encode().len() as u64;
                }
                keep[i - 1]
            });
        }
        while let Some(first) = self.records.first() {
            let base = first.offset / s * s;
            if base >= active_base {
                break;
            }
            let end = base + s;
            let n = self.records.partition_point(|r| r.offset < end);
            let over_size = policy.retention_bytes.is_some_and(|b| self.bytes > b);
            let too_old = policy
                .retention_ticks
                .is_some_and(|t| self.clock.saturating_sub(self.records[n - 1].timestamp) > t);
            if !(over_size || too_old) {
                break;
            }
            for r in self.records.drain(..n) {
                self.bytes -= r.encode().len() as u64;
            }
            self.start = end;
        }
        if before != (self.start, self.records.len()) {
            let mut b = self.start.to_le_bytes().to_vec();
            b.extend_from_slice(&(self.records.len() as u64).to_le_bytes());
            self.digest = Self::chain(self.digest, &b);
        }
    }

    /// The placements applying `entries` (this machine's unapplied successors, in order)
    /// would give the last one, without changing anything: what an acks=1 leader tells
    /// its producer. `None` if the last entry is not a batch.
    pub fn predict(&self, entries: &[Entry]) -> Option<Vec<Placement>> {
        let mut producers = self.producers.clone();
        let mut next = self.next_offset();
        let mut last = None;
        for e in entries {
            last = None;
            if let EntryKind::Command(bytes) = &e.kind {
                if let Ok((_, _, batch)) = ProduceBatch::decode(bytes) {
                    last = Some(place(&mut producers, &mut next, &batch));
                }
            }
        }
        last
    }

    /// Checks the invariants: offsets strictly increase within `[start, next)`, the byte
    /// count is the records' size, every window entry is below `next` and, if its record
    /// is still held, points at the producer's record with that sequence; windows are
    /// bounded.
    pub fn validate(&self) {
        let mut bytes = 0;
        for (i, r) in self.records.iter().enumerate() {
            assert!(
                r.offset >= self.start && r.offset < self.next,
                "offset {} outside [{}, {})",
                r.offset,
                self.start,
                self.next
            );
            if i > 0 {
                assert!(self.records[i - 1].offset < r.offset, "offsets increase");
            }
            bytes += r.encode().len() as u64;
        }
        assert_eq!(bytes, self.bytes, "the byte count");
        for (pid, w) in &self.producers {
            assert!(w.len() <= PRODUCER_WINDOW);
            for &(seq, offset) in w {
                assert!(offset < self.next, "window entry {pid}/{seq} past the end");
                if let Some(r) = self.record(offset) {
                    assert_eq!(r.producer, Some((*pid, seq)), "window entry {pid}/{seq}");
                }
            }
        }
    }
}

impl StateMachine for PartitionMachine {
    type Command = ProduceBatch;
    type Response = Vec<Placement>;
    type Query = FetchQuery;
    type Value = Result<Fetched, OutOfRange>;
    type DecodeError = ReplicatedDecodeError;

    fn empty() -> Self {
        PartitionMachine::default()
    }

    fn encode_command(client: u64, seq: u64, command: &ProduceBatch) -> Vec<u8> {
        command.encode(client, seq)
    }

    fn apply(&mut self, entry: &Entry) -> Option<Answer<Vec<Placement>>> {
        assert_eq!(
            entry.index,
            self.applied + 1,
            "entries are applied in order"
        );
        self.applied = entry.index;
        let EntryKind::Command(bytes) = &entry.kind else {
            return None;
        };
        let (client, seq, batch) = ProduceBatch::decode(bytes).ok()?;
        let mut next = self.next;
        let placements = place(&mut self.producers, &mut next, &batch);
        let mut placed = false;
        for (i, p) in placements.iter().enumerate() {
            if let Placement::New(offset) = *p {
                let (key, value) = batch.records[i].clone();
                let record = TopicRecord {
                    offset,
                    timestamp: batch.timestamp,
                    key,
                    value,
                    producer: Some((batch.producer, batch.first_sequence + i as u64)),
                };
                let encoded = record.encode();
                self.digest = Self::chain(self.digest, &encoded);
                self.bytes += encoded.len() as u64;
                self.records.push(record);
                placed = true;
            }
        }
        self.next = next;
        if placed {
            self.retention = batch.retention;
            self.clock = self.clock.max(batch.timestamp);
            self.clean();
        }
        Some(Answer {
            client,
            seq,
            response: placements,
        })
    }

    fn query(&self, q: &FetchQuery) -> Result<Fetched, OutOfRange> {
        self.fetch(q.offset, q.max_records)
    }

    fn snapshot(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for x in [self.start, self.next, self.clock] {
            out.extend_from_slice(&x.to_le_bytes());
        }
        out.extend_from_slice(&self.digest.to_le_bytes());
        self.retention.encode(&mut out);
        out.extend_from_slice(&(self.records.len() as u64).to_le_bytes());
        for r in &self.records {
            put_bytes(&mut out, &r.encode());
        }
        let m = u32::try_from(self.producers.len()).expect("fits u32");
        out.extend_from_slice(&m.to_le_bytes());
        for (pid, w) in &self.producers {
            out.extend_from_slice(&pid.to_le_bytes());
            let k = u32::try_from(w.len()).expect("a window holds at most 64");
            out.extend_from_slice(&k.to_le_bytes());
            for (seq, offset) in w {
                out.extend_from_slice(&seq.to_le_bytes());
                out.extend_from_slice(&offset.to_le_bytes());
            }
        }
        out
    }

    fn restore(index: u64, bytes: &[u8]) -> Result<Self, ReplicatedDecodeError> {
        let mut sm = PartitionMachine {
            applied: index,
            ..PartitionMachine::default()
        };
        if bytes.is_empty() && index == 0 {
            return Ok(sm);
        }
        let mut r = Reader::new(bytes);
        sm.start = r.u64()?;
        sm.next = r.u64()?;
        sm.clock = r.u64()?;
        sm.digest = r.u32()?;
        sm.retention = Retention::decode(&mut r)?;
        if sm.start > sm.next {
            return Err(ReplicatedDecodeError(format!(
                "start offset {} past the next offset {}",
                sm.start, sm.next
            )));
        }
        let n = r.u64()?;
        for i in 0..n {
            let bytes = r.bytes()?;
            let record = TopicRecord::decode(&bytes).map_err(ReplicatedDecodeError)?;
            let low = sm.records.last().map_or(sm.start, |p| p.offset + 1);
            if record.offset < low || record.offset >= sm.next {
                return Err(ReplicatedDecodeError(format!(
                    "record {i} has offset {} (expected {low} to {})",
                    record.offset, sm.next
                )));
            }
            sm.bytes += bytes.len() as u64;
            sm.records.push(record);
        }
        for _ in 0..r.u32()? {
            let pid = r.u64()?;
            let k = r.u32()?;
            if k as usize > PRODUCER_WINDOW {
                return Err(ReplicatedDecodeError(format!(
                    "producer {pid}: a window of {k}"
                )));
            }
            let mut w = VecDeque::new();
            for _ in 0..k {
                let seq = r.u64()?;
                let offset = r.u64()?;
                if offset >= sm.next {
                    return Err(ReplicatedDecodeError(format!(
                        "producer {pid}: offset {offset} past the records"
                    )));
                }
                w.push_back((seq, offset));
            }
            sm.producers.insert(pid, w);
        }
        r.end()?;
        Ok(sm)
    }

    fn applied(&self) -> u64 {
        self.applied
    }

    fn digest(&self) -> u32 {
        self.digest
    }
}

/// A commit of the next offset to consume in a partition, for a consumer group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetCommit {
    /// The consumer group.
    pub group: String,
    /// The committing member and the generation it was assigned the partition in;
    /// `None`: a standalone consumer (allowed only while the group has no members).
    pub member: Option<(String, u64)>,
    /// The partition.
    pub partition: u32,
    /// The next offset to consume.
    pub offset: u64,
}

/// How a group's partitions are spread over its members (members in name order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assignor {
    /// Member `i` of `m` gets partitions `i·P/m .. (i+1)·P/m` (Kafka's range assignor).
    Range,
    /// Partition `p` goes to member `p mod m` (Kafka's round-robin assignor).
    RoundRobin,
}

impl Assignor {
    /// Partitions `0..partitions` spread over `members` (sorted, deduplicated by the
    /// caller): member name → its partitions, ascending.
    pub fn assign(self, members: &[&str], partitions: u32) -> BTreeMap<String, Vec<u32>> {
        let m = members.len();
        let mut out: BTreeMap<String, Vec<u32>> = members
            .iter()
            .map(|n| ((*n).to_owned(), Vec::new()))
            .collect();
        if m == 0 {
            return out;
        }
        for p in 0..partitions {
            let i = match self {
                Assignor::Range => (0..m)
                    .find(|&i| (p as usize) < (i + 1) * partitions as usize / m)
                    .expect("the last range ends at the partition count"),
                Assignor::RoundRobin => p as usize % m,
            };
            out.get_mut(members[i]).expect("a member").push(p);
        }
        out
    }

    fn code(self) -> u8 {
        match self {
            Assignor::Range => 0,
            Assignor::RoundRobin => 1,
        }
    }

    fn from_code(c: u8) -> Option<Assignor> {
        match c {
            0 => Some(Assignor::Range),
            1 => Some(Assignor::RoundRobin),
            _ => None,
        }
    }
}

/// A consumer group as the offsets group holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupState {
    /// Bumped by every rebalance (a member joining or leaving); 0 before the first.
    pub generation: u64,
    /// How partitions are assigned (the first join's choice).
    pub assignor: Assignor,
    /// The topic's partition count.
    pub partitions: u32,
    /// Member → its partitions in this generation.
    pub members: BTreeMap<String, Vec<u32>>,
}

impl GroupState {
    fn rebalance(&mut self) {
        self.generation += 1;
        let names: Vec<String> = self.members.keys().cloned().collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        self.members = self.assignor.assign(&names, self.partitions);
    }

    /// The member that owns partition `p` in this generation.
    pub fn owner(&self, p: u32) -> Option<&str> {
        self.members
            .iter()
            .find(|(_, ps)| ps.contains(&p))
            .map(|(m, _)| m.as_str())
    }
}

/// A command of the `__consumer_offsets` group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OffsetsCommand {
    /// Commit an offset.
    Commit(OffsetCommit),
    /// `member` joins `group` (a rebalance if it is new).
    Join {
        /// The group.
        group: String,
        /// The member.
        member: String,
        /// The topic's partition count.
        partitions: u32,
        /// The assignor, if the group is new.
        assignor: Assignor,
    },
    /// `member` leaves `group` (a rebalance if it was there).
    Leave {
        /// The group.
        group: String,
        /// The member.
        member: String,
    },
}

/// What applying an offsets command did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommitOutcome {
    /// The offset is committed (it was at or past the current one).
    Committed,
    /// Refused: it would move the committed offset back from `current`.
    Backwards {
        /// The committed offset.
        current: u64,
    },
    /// Refused: the commit's generation is not the group's (a fenced, stale member).
    StaleGeneration {
        /// The group's generation.
        current: u64,
    },
    /// Refused: the committer is not a member of the group (or, standalone, the group
    /// has members).
    NotMember,
    /// Refused: the partition is not assigned to the committing member.
    NotAssigned,
    /// A join or leave: the group after it.
    Group(GroupState),
}

/// The key of a committed offset: group and partition.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct OffsetKey {
    /// The consumer group.
    pub group: String,
    /// The partition.
    pub partition: u32,
}

/// A read of the offsets group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OffsetsQuery {
    /// A committed offset.
    Offset(OffsetKey),
    /// A group's state.
    Group(String),
}

/// The answer to an [`OffsetsQuery`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OffsetsValue {
    /// The committed offset, if any.
    Offset(Option<u64>),
    /// The group, if it exists.
    Group(Option<GroupState>),
}

/// The replicated `__consumer_offsets` state machine: committed offsets that never move
/// backwards, and the consumer groups (members, generations, assignments), so that a
/// group survives the crash of any minority of brokers, its coordinator included.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OffsetsMachine {
    committed: BTreeMap<OffsetKey, u64>,
    groups: BTreeMap<String, GroupState>,
    /// (group, member) → the request number of its last join or leave applied: an older
    /// or repeated one (a retry's twin, applied late) changes nothing.
    member_ops: BTreeMap<(String, String), u64>,
    applied: u64,
}

impl OffsetsMachine {
    /// Every committed offset.
    pub fn committed(&self) -> &BTreeMap<OffsetKey, u64> {
        &self.committed
    }

    /// Every group.
    pub fn groups(&self) -> &BTreeMap<String, GroupState> {
        &self.groups
    }

    fn decode_command(b: &[u8]) -> Result<(u64, u64, OffsetsCommand), ReplicatedDecodeError> {
        let mut r = Reader::new(b);
        let (client, seq) = (r.u64()?, r.u64()?);
        let text = |r: &mut Reader<'_>| {
            String::from_utf8(r.bytes()?)
                .map_err(|_| ReplicatedDecodeError("a name is not UTF-8".into()))
        };
        let c = match r.u8()? {
            0 => {
                let group = text(&mut r)?;
                let partition = r.u32()?;
                let offset = r.u64()?;
                let member = match r.u8()? {
                    0 => None,
                    1 => Some((text(&mut r)?, r.u64()?)),
                    f => return Err(ReplicatedDecodeError(format!("member flag {f}"))),
                };
                OffsetsCommand::Commit(OffsetCommit {
                    group,
                    member,
                    partition,
                    offset,
                })
            }
            1 => OffsetsCommand::Join {
                group: text(&mut r)?,
                member: text(&mut r)?,
                partitions: r.u32()?,
                assignor: Assignor::from_code(r.u8()?)
                    .ok_or_else(|| ReplicatedDecodeError("unknown assignor".into()))?,
            },
            2 => OffsetsCommand::Leave {
                group: text(&mut r)?,
                member: text(&mut r)?,
            },
            t => return Err(ReplicatedDecodeError(format!("unknown command {t}"))),
        };
        r.end()?;
        Ok((client, seq, c))
    }

    fn commit(&mut self, c: OffsetCommit) -> CommitOutcome {
        if let Some(g) = self.groups.get(&c.group) {
            match &c.member {
                None if !g.members.is_empty() => return CommitOutcome::NotMember,
                None => {}
                Some((_, generation)) if *generation != g.generation => {
                    return CommitOutcome::StaleGeneration {
                        current: g.generation,
                    }
                }
                Some((m, _)) => match g.members.get(m) {
                    None => return CommitOutcome::NotMember,
                    Some(ps) if !ps.contains(&c.partition) => return CommitOutcome::NotAssigned,
                    Some(_) => {}
                },
            }
        } else if c.member.is_some() {
            return CommitOutcome::NotMember;
        }
        let key = OffsetKey {
            group: c.group,
            partition: c.partition,
        };
        match self.committed.get(&key) {
            Some(&current) if c.offset < current => CommitOutcome::Backwards { current },
            _ => {
                self.committed.insert(key, c.offset);
                CommitOutcome::Committed
            }
        }
    }

    fn membership(&mut self, seq: u64, c: OffsetsCommand) -> CommitOutcome {
        let (group, member, join) = match c {
            OffsetsCommand::Join {
                group,
                member,
                partitions,
                assignor,
            } => (group, member, Some((partitions, assignor))),
            OffsetsCommand::Leave { group, member } => (group, member, None),
            OffsetsCommand::Commit(c) => return self.commit(c),
        };
        let key = (group.clone(), member.clone());
        let fresh = self.member_ops.get(&key).is_none_or(|&last| seq > last);
        if fresh {
            self.member_ops.insert(key, seq);
            match join {
                Some((partitions, assignor)) => {
                    let g = self.groups.entry(group.clone()).or_insert(GroupState {
                        generation: 0,
                        assignor,
                        partitions,
                        members: BTreeMap::new(),
                    });
                    if !g.members.contains_key(&member) {
                        g.partitions = partitions;
                        g.members.insert(member, Vec::new());
                        g.rebalance();
                    }
                }
                None => {
                    if let Some(g) = self.groups.get_mut(&group) {
                        if g.members.remove(&member).is_some() {
                            g.rebalance();
                        }
                    }
                }
            }
        }
        CommitOutcome::Group(self.groups.get(&group).cloned().unwrap_or(GroupState {
            generation: 0,
            assignor: Assignor::Range,
            partitions: 0,
            members: BTreeMap::new(),
        }))
    }
}

fn put_group(out: &mut Vec<u8>, name: &str, g: &GroupState) {
    put_bytes(out, name.as_bytes());
    out.extend_from_slice(&g.generation.to_le_bytes());
    out.extend_from_slice(&g.partitions.to_le_bytes());
    out.push(g.assignor.code());
    let m = u32::try_from(g.members.len()).expect("fits u32");
    out.extend_from_slice(&m.to_le_bytes());
    for (member, ps) in &g.members {
        put_bytes(out, member.as_bytes());
        let k = u32::try_from(ps.len()).expect("at most 64 partitions");
        out.extend_from_slice(&k.to_le_bytes());
        for p in ps {
            out.extend_from_slice(&p.to_le_bytes());
        }
    }
}

impl StateMachine for OffsetsMachine {
    type Command = OffsetsCommand;
    type Response = CommitOutcome;
    type Query = OffsetsQuery;
    type Value = OffsetsValue;
    type DecodeError = ReplicatedDecodeError;

    fn empty() -> Self {
        OffsetsMachine::default()
    }

    fn encode_command(client: u64, seq: u64, c: &OffsetsCommand) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&client.to_le_bytes());
        out.extend_from_slice(&seq.to_le_bytes());
        match c {
            OffsetsCommand::Commit(c) => {
                out.push(0);
                put_bytes(&mut out, c.group.as_bytes());
                out.extend_from_slice(&c.partition.to_le_bytes());
                out.extend_from_slice(&c.offset.to_le_bytes());
                match &c.member {
                    None => out.push(0),
                    Some((m, generation)) => {
                        out.push(1);
                        put_bytes(&mut out, m.as_bytes());
                        out.extend_from_slice(&generation.to_le_bytes());
                    }
                }
            }
            OffsetsCommand::Join {
                group,
                member,
                partitions,
                assignor,
            } => {
                out.push(1);
                put_bytes(&mut out, group.as_bytes());
                put_bytes(&mut out, member.as_bytes());
                out.extend_from_slice(&partitions.to_le_bytes());
                out.push(assignor.code());
            }
            OffsetsCommand::Leave { group, member } => {
                out.push(2);
                put_bytes(&mut out, group.as_bytes());
                put_bytes(&mut out, member.as_bytes());
            }
        }
        out
    }

    fn apply(&mut self, entry: &Entry) -> Option<Answer<CommitOutcome>> {
        assert_eq!(
            entry.index,
            self.applied + 1,
            "entries are applied in order"
        );
        self.applied = entry.index;
        let EntryKind::Command(bytes) = &entry.kind else {
            return None;
        };
        let (client, seq, c) = Self::decode_command(bytes).ok()?;
        let response = self.membership(seq, c);
        Some(Answer {
            client,
            seq,
            response,
        })
    }

    fn query(&self, q: &OffsetsQuery) -> OffsetsValue {
        match q {
            OffsetsQuery::Offset(k) => OffsetsValue::Offset(self.committed.get(k).copied()),
            OffsetsQuery::Group(g) => OffsetsValue::Group(self.groups.get(g).cloned()),
        }
    }

    fn snapshot(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let n = u32::try_from(self.committed.len()).expect("fits u32");
        out.extend_from_slice(&n.to_le_bytes());
        for (k, o) in &self.committed {
            put_bytes(&mut out, k.group.as_bytes());
            out.extend_from_slice(&k.partition.to_le_bytes());
            out.extend_from_slice(&o.to_le_bytes());
        }
        let n = u32::try_from(self.groups.len()).expect("fits u32");
        out.extend_from_slice(&n.to_le_bytes());
        for (name, g) in &self.groups {
            put_group(&mut out, name, g);
        }
        let n = u32::try_from(self.member_ops.len()).expect("fits u32");
        out.extend_from_slice(&n.to_le_bytes());
        for ((g, m), seq) in &self.member_ops {
            put_bytes(&mut out, g.as_bytes());
            put_bytes(&mut out, m.as_bytes());
            out.extend_from_slice(&seq.to_le_bytes());
        }
        out
    }

    fn restore(index: u64, bytes: &[u8]) -> Result<Self, ReplicatedDecodeError> {
        let mut sm = OffsetsMachine {
            applied: index,
            ..OffsetsMachine::default()
        };
        if bytes.is_empty() && index == 0 {
            return Ok(sm);
        }
        let mut r = Reader::new(bytes);
        let text = |r: &mut Reader<'_>| {
            String::from_utf8(r.bytes()?)
                .map_err(|_| ReplicatedDecodeError("a name is not UTF-8".into()))
        };
        for _ in 0..r.u32()? {
            let group = text(&mut r)?;
            let partition = r.u32()?;
            let offset = r.u64()?;
            sm.committed.insert(OffsetKey { group, partition }, offset);
        }
        for _ in 0..r.u32()? {
            let name = text(&mut r)?;
            let generation = r.u64()?;
            let partitions = r.u32()?;
            let assignor = Assignor::from_code(r.u8()?)
                .ok_or_else(|| ReplicatedDecodeError("unknown assignor".into()))?;
            let mut members = BTreeMap::new();
            for _ in 0..r.u32()? {
                let m = text(&mut r)?;
                let k = r.u32()?;
                if k > 64 {
                    return Err(ReplicatedDecodeError(format!("{k} partitions assigned")));
                }
                let ps = (0..k).map(|_| r.u32()).collect::<Result<Vec<_>, _>>()?;
                members.insert(m, ps);
            }
            sm.groups.insert(
                name,
                GroupState {
                    generation,
                    assignor,
                    partitions,
                    members,
                },
            );
        }
        for _ in 0..r.u32()? {
            let g = text(&mut r)?;
            let m = text(&mut r)?;
            sm.member_ops.insert((g, m), r.u64()?);
        }
        r.end()?;
        Ok(sm)
    }

    fn applied(&self) -> u64 {
        self.applied
    }
}

/// When a send is acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acks {
    /// When its entry is committed by the group and applied (`acks=all`).
    All,
    /// When the leader has appended it to its own log (`acks=1`): the contrast that loses
    /// acknowledged records.
    Leader,
}

/// The replicated topic's knobs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicatedConfig {
    /// Brokers, with ids `1..=brokers` (3 to 7).
    pub brokers: u64,
    /// Partitions (1 to 64).
    pub partitions: u32,
    /// The Raft template of every replica (ids, voters and seeds are filled in).
    pub raft: RaftConfig,
    /// Every replica's disk.
    pub disk: SimDiskConfig,
    /// The network between brokers (and to clients).
    pub net: NetConfig,
    /// A replica takes a snapshot every this many applied entries (0: never).
    pub snapshot_every: u64,
    /// Run Raft's checkers after every step of every group.
    pub check: bool,
    /// When sends are acknowledged.
    pub acks: Acks,
    /// At most this many records per batch (1 to [`PRODUCER_WINDOW`]).
    pub batch_records: u32,
    /// A partial batch goes out after this many ticks.
    pub linger_ticks: u64,
    /// A request unanswered this long is sent again, to the next broker.
    pub retry_ticks: u64,
    /// Every partition's retention and compaction (carried in every batch).
    pub retention: Retention,
}

impl ReplicatedConfig {
    /// `brokers` brokers and `partitions` partitions; elections in 40–80 ticks,
    /// heartbeats every 10, a 1–4 tick network, fast disks, snapshots every 32 entries,
    /// batches of up to 16 records lingering 2 ticks, retries after 60 ticks, acks=all,
    /// checks on.
    pub fn new(brokers: u64, partitions: u32) -> Self {
        ReplicatedConfig {
            brokers,
            partitions,
            raft: RaftConfig {
                election_timeout_min_ticks: 40,
                election_timeout_max_ticks: 80,
                heartbeat_ticks: 10,
                max_entries_per_message: 16,
                snapshot_chunk_bytes: 512,
                ..RaftConfig::new(1, Vec::new())
            },
            disk: SimDiskConfig {
                sync_latency: SyncLatency::Uniform { min: 1, max: 3 },
                ..SimDiskConfig::default()
            },
            net: NetConfig::reliable(1, 4),
            snapshot_every: 32,
            check: true,
            acks: Acks::All,
            batch_records: 16,
            linger_ticks: 2,
            retry_ticks: 60,
            retention: Retention::keep_all(),
        }
    }

    fn cluster(&self) -> ClusterConfig {
        ClusterConfig {
            nodes: self.brokers,
            raft: self.raft.clone(),
            disk: self.disk,
            net: self.net,
            snapshot_every: self.snapshot_every,
            trace: true,
            check: self.check,
        }
    }
}

/// Errors from the replicated topic.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplicatedError {
    /// A configuration out of range.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// No such partition.
    #[error("no partition {partition}: the topic has {partitions}")]
    NoPartition {
        /// Asked for.
        partition: u32,
        /// How many there are.
        partitions: u32,
    },
    /// No such broker.
    #[error("no broker {0}")]
    NoBroker(NodeId),
    /// A producer id out of range.
    #[error("producer id {0} is reserved (ids are below 2^63)")]
    ReservedProducer(u64),
    /// A commit that would move a committed offset backwards.
    #[error(
        "group {group:?} partition {partition}: offset {offset} is below the committed {current}; committed offsets never go backwards"
    )]
    Backwards {
        /// The group.
        group: String,
        /// The partition.
        partition: u32,
        /// The committed offset.
        current: u64,
        /// The offset refused.
        offset: u64,
    },
    /// A fetch below the partition's start offset: those records were dropped by
    /// retention (the consumer must reset, e.g. to the start).
    #[error("partition {partition}: offset {offset} is below the start offset {start} (retention dropped it; the high watermark is {end})")]
    OffsetOutOfRange {
        /// The partition.
        partition: u32,
        /// The offset asked.
        offset: u64,
        /// The start offset.
        start: u64,
        /// The high watermark.
        end: u64,
    },
    /// A commit from a generation the group has left behind (a fenced member).
    #[error("group {group:?} is at generation {current}, the commit is from {got}")]
    StaleGeneration {
        /// The group.
        group: String,
        /// The group's generation.
        current: u64,
        /// The commit's.
        got: u64,
    },
    /// A commit from a consumer that is not a member of the group (or a standalone
    /// commit into a group with members).
    #[error("group {group:?}: {member:?} is not a member")]
    NotMember {
        /// The group.
        group: String,
        /// The committer (empty: standalone).
        member: String,
    },
    /// A commit for a partition not assigned to the member.
    #[error("group {group:?}: partition {partition} is not assigned to {member:?}")]
    NotAssigned {
        /// The group.
        group: String,
        /// The member.
        member: String,
        /// The partition.
        partition: u32,
    },
    /// A bad argument (a group or member name).
    #[error("invalid: {0}")]
    Invalid(String),
    /// A batch refused by the partition (its sequences skip ahead).
    #[error("producer {producer} partition {partition}: sequence {sequence} after {last}: records in between are missing")]
    OutOfSequence {
        /// The producer.
        producer: u64,
        /// The partition.
        partition: u32,
        /// The first sequence refused.
        sequence: u64,
        /// The producer's last sequence in the partition.
        last: u64,
    },
    /// A Raft group failed (a bug or a checker's violation).
    #[error("group {group}: {error}")]
    Sim {
        /// The partition, or [`OFFSETS_TOPIC`].
        group: String,
        /// What.
        error: SimError,
    },
}

/// An acknowledged record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ack {
    /// The producer.
    pub producer: u64,
    /// Its sequence number in the partition.
    pub sequence: u64,
    /// The partition.
    pub partition: u32,
    /// The offset it has.
    pub offset: u64,
    /// Its timestamp (its batch's).
    pub timestamp: u64,
    /// Its key.
    pub key: Option<Vec<u8>>,
    /// Its value.
    pub value: Option<Vec<u8>>,
}

/// What the topic reports back to its clients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Completion {
    /// A record was acknowledged.
    Acked(Ack),
    /// A batch was refused; its records are not in the partition.
    Refused {
        /// The producer.
        producer: u64,
        /// The partition.
        partition: u32,
        /// Why.
        error: ReplicatedError,
    },
    /// A fetch's answer.
    Fetched {
        /// The request ([`ReplicatedTopic::fetch`]).
        request: u64,
        /// The partition.
        partition: u32,
        /// The offset asked for.
        offset: u64,
        /// The answer, or [`ReplicatedError::OffsetOutOfRange`].
        fetched: Result<Fetched, ReplicatedError>,
    },
    /// A commit's outcome.
    Committed {
        /// The request ([`ReplicatedTopic::commit`]).
        request: u64,
        /// What was committed.
        commit: OffsetCommit,
        /// Done, or refused ([`ReplicatedError::Backwards`],
        /// [`ReplicatedError::StaleGeneration`], [`ReplicatedError::NotMember`],
        /// [`ReplicatedError::NotAssigned`]).
        result: Result<(), ReplicatedError>,
    },
    /// A join or leave applied: the group after it.
    Membership {
        /// The request ([`ReplicatedTopic::join`], [`ReplicatedTopic::leave`]).
        request: u64,
        /// The group.
        group: String,
        /// The member.
        member: String,
        /// Whether it was a join.
        joined: bool,
        /// The group after it (its generation and assignment).
        state: GroupState,
    },
    /// A group read ([`ReplicatedTopic::describe_group`]).
    GroupDescribed {
        /// The request.
        request: u64,
        /// The group.
        group: String,
        /// Its state, if it exists.
        state: Option<GroupState>,
    },
    /// A committed offset read.
    CommittedOffset {
        /// The request ([`ReplicatedTopic::read_committed`]).
        request: u64,
        /// Which.
        key: OffsetKey,
        /// The committed offset, if any.
        offset: Option<u64>,
    },
}

/// Counters over the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TopicStats {
    /// Records acknowledged.
    pub acked: u64,
    /// Batches sent (first attempts).
    pub batches: u64,
    /// Requests sent again (timeouts and redirects).
    pub retries: u64,
    /// Leaders elected, over every group.
    pub elections: u64,
    /// Snapshots installed from a leader, over every group.
    pub snapshots_installed: u64,
    /// Broker crashes.
    pub crashes: u64,
}

/// The producer id space above this is the topic's own (consumer requests).
const CONSUMER_CLIENT: u64 = 1 << 63;

#[derive(Clone, Debug)]
struct Queue {
    next_sequence: u64,
    open: VecDeque<KeyValue>,
    opened_at: u64,
    /// The batch in flight and its request number.
    in_flight: Option<ProduceBatch>,
}

#[derive(Clone, Debug)]
enum Op {
    Produce(ProduceBatch),
    Fetch(FetchQuery),
    Offsets(OffsetsCommand),
    OffsetsRead(OffsetsQuery),
}

#[derive(Clone, Debug)]
struct Outstanding {
    /// The partition, or `None`: the offsets group.
    group: Option<u32>,
    client: u64,
    seq: u64,
    op: Op,
    to: NodeId,
    sent_at: u64,
}

/// The replicated topic (module docs).
#[derive(Clone, Debug)]
pub struct ReplicatedTopic {
    config: ReplicatedConfig,
    now: u64,
    partitions: Vec<Cluster<PartitionMachine>>,
    offsets: Cluster<OffsetsMachine>,
    /// (producer, partition) → its queue.
    queues: BTreeMap<(u64, u32), Queue>,
    /// Requests waiting for an answer, by (group, client, seq).
    outstanding: BTreeMap<(Option<u32>, u64, u64), Outstanding>,
    /// The broker believed to lead each partition, then the offsets group.
    leader_hint: Vec<NodeId>,
    /// The highest term seen led, per group (for counting elections).
    led_terms: Vec<u64>,
    round_robin: u64,
    next_request: u64,
    completions: Vec<Completion>,
    stats: TopicStats,
}

/// A group or member name: 1 to 255 bytes, no control characters.
fn check_name(what: &str, name: &str) -> Result<(), ReplicatedError> {
    if name.is_empty() || name.len() > 255 || name.chars().any(char::is_control) {
        return Err(ReplicatedError::Invalid(format!(
            "a {what} name is 1 to 255 bytes without control characters, not {name:?}"
        )));
    }
    Ok(())
}

fn sim_err(group: Option<u32>) -> impl Fn(SimError) -> ReplicatedError {
    move |error| ReplicatedError::Sim {
        group: group.map_or_else(|| OFFSETS_TOPIC.to_owned(), |p| format!("partition {p}")),
        error,
    }
}

impl ReplicatedTopic {
    /// A fresh topic; everything random in it comes from `seed`.
    pub fn new(config: ReplicatedConfig, seed: u64) -> Result<Self, ReplicatedError> {
        if !(3..=7).contains(&config.brokers) {
            return Err(ReplicatedError::Config(format!(
                "{} brokers: 3 to 7",
                config.brokers
            )));
        }
        if !(1..=64).contains(&config.partitions) {
            return Err(ReplicatedError::Config(format!(
                "{} partitions: 1 to 64",
                config.partitions
            )));
        }
        if config.batch_records == 0 || config.batch_records as usize > PRODUCER_WINDOW {
            return Err(ReplicatedError::Config(format!(
                "batches of {} records: 1 to {PRODUCER_WINDOW} (a retried batch must fit the producer window)",
                config.batch_records
            )));
        }
        if config.retry_ticks == 0 {
            return Err(ReplicatedError::Config(
                "retry_ticks must be positive".into(),
            ));
        }
        let mut rng = crate::Rng::new(seed);
        let cc = config.cluster();
        let mut partitions = Vec::new();
        for p in 0..config.partitions {
            let mut c =
                Cluster::with_machine(cc.clone(), rng.next_u64()).map_err(sim_err(Some(p)))?;
            c.record_proposals(config.acks == Acks::Leader);
            partitions.push(c);
        }
        let offsets = Cluster::with_machine(cc, rng.next_u64()).map_err(sim_err(None))?;
        let groups = config.partitions as usize + 1;
        Ok(ReplicatedTopic {
            leader_hint: (0..groups).map(|g| 1 + g as u64 % config.brokers).collect(),
            led_terms: vec![0; groups],
            config,
            now: 0,
            partitions,
            offsets,
            queues: BTreeMap::new(),
            outstanding: BTreeMap::new(),
            round_robin: 0,
            next_request: 1,
            completions: Vec::new(),
            stats: TopicStats::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ReplicatedConfig {
        &self.config
    }
    /// Virtual time in ticks.
    pub fn now(&self) -> u64 {
        self.now
    }
    /// The counters.
    pub fn stats(&self) -> TopicStats {
        self.stats
    }
    /// Partition `p`'s Raft group.
    pub fn partition_group(&self, p: u32) -> Result<&Cluster<PartitionMachine>, ReplicatedError> {
        self.partitions
            .get(p as usize)
            .ok_or(ReplicatedError::NoPartition {
                partition: p,
                partitions: self.config.partitions,
            })
    }
    /// The `__consumer_offsets` Raft group.
    pub fn offsets_group(&self) -> &Cluster<OffsetsMachine> {
        &self.offsets
    }
    /// Broker `b`'s replica of partition `p` (`None` while the broker is down).
    pub fn replica(&self, p: u32, b: NodeId) -> Option<&PartitionMachine> {
        let s = self.partitions.get(p as usize)?.server(b)?;
        s.node().map(|_| s.state_machine())
    }
    /// Whether broker `b` is up.
    pub fn is_up(&self, b: NodeId) -> bool {
        self.offsets.is_up(b)
    }
    /// Sends (or records) waiting for an answer, records not yet in a batch included.
    pub fn unacknowledged(&self) -> usize {
        self.outstanding.len()
            + self
                .queues
                .values()
                .map(|q| q.open.len() + usize::from(q.in_flight.is_some()))
                .sum::<usize>()
    }
    /// What happened since the last call.
    pub fn take_completions(&mut self) -> Vec<Completion> {
        std::mem::take(&mut self.completions)
    }

    fn check_partition(&self, p: u32) -> Result<(), ReplicatedError> {
        if p < self.config.partitions {
            Ok(())
        } else {
            Err(ReplicatedError::NoPartition {
                partition: p,
                partitions: self.config.partitions,
            })
        }
    }

    /// The partition a record with `key` goes to (`crc32c(key) mod P`; no key: round
    /// robin).
    pub fn route(&mut self, key: Option<&[u8]>) -> u32 {
        let n = u64::from(self.config.partitions);
        let p = match key {
            Some(k) => u64::from(crc32c::checksum(k)) % n,
            None => {
                self.round_robin += 1;
                self.round_robin % n
            }
        };
        u32::try_from(p).expect("at most 64 partitions")
    }

    /// Producer `producer` sends a record, routed by key; returns its partition. The
    /// record gets its sequence number when its batch is formed; it is acknowledged by a
    /// [`Completion::Acked`] (or its batch refused by a [`Completion::Refused`]).
    pub fn send(
        &mut self,
        producer: u64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Result<u32, ReplicatedError> {
        if producer >= CONSUMER_CLIENT {
            return Err(ReplicatedError::ReservedProducer(producer));
        }
        let p = self.route(key);
        let now = self.now;
        let q = self.queues.entry((producer, p)).or_insert(Queue {
            next_sequence: 0,
            open: VecDeque::new(),
            opened_at: now,
            in_flight: None,
        });
        if q.open.is_empty() {
            q.opened_at = now;
        }
        q.open
            .push_back((key.map(<[u8]>::to_vec), value.map(<[u8]>::to_vec)));
        Ok(p)
    }

    fn request(&mut self, group: Option<u32>, client: u64, seq: u64, op: Op) {
        let g = group.map_or(self.config.partitions as usize, |p| p as usize);
        let to = self.leader_hint[g];
        let o = Outstanding {
            group,
            client,
            seq,
            op,
            to,
            sent_at: self.now,
        };
        self.transmit(&o);
        self.outstanding.insert((group, client, seq), o);
    }

    fn transmit(&mut self, o: &Outstanding) {
        match (&o.op, o.group) {
            (Op::Produce(b), Some(p)) => self.partitions[p as usize].client_send(
                o.to,
                ClientRequest {
                    client: o.client,
                    seq: o.seq,
                    op: ClientOp::Write(b.clone()),
                },
            ),
            (Op::Fetch(q), Some(p)) => self.partitions[p as usize].client_send(
                o.to,
                ClientRequest {
                    client: o.client,
                    seq: o.seq,
                    op: ClientOp::Get { key: *q },
                },
            ),
            (Op::Offsets(c), None) => self.offsets.client_send(
                o.to,
                ClientRequest {
                    client: o.client,
                    seq: o.seq,
                    op: ClientOp::Write(c.clone()),
                },
            ),
            (Op::OffsetsRead(q), None) => self.offsets.client_send(
                o.to,
                ClientRequest {
                    client: o.client,
                    seq: o.seq,
                    op: ClientOp::Get { key: q.clone() },
                },
            ),
            _ => unreachable!("produce and fetch go to partitions, commits and reads to offsets"),
        }
    }

    fn next_request(&mut self) -> u64 {
        self.next_request += 1;
        self.next_request - 1
    }

    /// Asks for up to `max_records` committed records of partition `p` from `offset` on
    /// (a linearizable read); answered by a [`Completion::Fetched`] with the returned id.
    pub fn fetch(&mut self, p: u32, offset: u64, max_records: u32) -> Result<u64, ReplicatedError> {
        self.check_partition(p)?;
        let id = self.next_request();
        self.request(
            Some(p),
            CONSUMER_CLIENT,
            id,
            Op::Fetch(FetchQuery {
                offset,
                max_records,
            }),
        );
        Ok(id)
    }

    /// A standalone consumer commits `offset` (the next to consume) for `group` on
    /// partition `p` through the offsets group (refused while the group has members);
    /// answered by a [`Completion::Committed`] with the returned id.
    pub fn commit(&mut self, group: &str, p: u32, offset: u64) -> Result<u64, ReplicatedError> {
        self.commit_command(group, None, p, offset)
    }

    /// `member` of `group`, in `generation`, commits `offset` for partition `p` (assigned
    /// to it in that generation): refused if the group has moved on to another
    /// generation (fencing), if the partition is not the member's, or if it would move
    /// the committed offset backwards; answered by a [`Completion::Committed`].
    pub fn commit_as(
        &mut self,
        group: &str,
        member: &str,
        generation: u64,
        p: u32,
        offset: u64,
    ) -> Result<u64, ReplicatedError> {
        check_name("member", member)?;
        self.commit_command(group, Some((member.to_owned(), generation)), p, offset)
    }

    fn commit_command(
        &mut self,
        group: &str,
        member: Option<(String, u64)>,
        p: u32,
        offset: u64,
    ) -> Result<u64, ReplicatedError> {
        self.check_partition(p)?;
        check_name("group", group)?;
        let id = self.next_request();
        let c = OffsetCommit {
            group: group.to_owned(),
            member,
            partition: p,
            offset,
        };
        self.request(
            None,
            CONSUMER_CLIENT,
            id,
            Op::Offsets(OffsetsCommand::Commit(c)),
        );
        Ok(id)
    }

    /// Reads `group`'s committed offset on partition `p` (a linearizable read); answered
    /// by a [`Completion::CommittedOffset`] with the returned id.
    pub fn read_committed(&mut self, group: &str, p: u32) -> Result<u64, ReplicatedError> {
        self.check_partition(p)?;
        check_name("group", group)?;
        let id = self.next_request();
        let k = OffsetKey {
            group: group.to_owned(),
            partition: p,
        };
        self.request(
            None,
            CONSUMER_CLIENT,
            id,
            Op::OffsetsRead(OffsetsQuery::Offset(k)),
        );
        Ok(id)
    }

    /// `member` joins `group` (a consumer group of this topic; `assignor` is used if the
    /// group is new): a rebalance, replicated through the offsets group; answered by a
    /// [`Completion::Membership`] with the new generation and assignment. Joining again
    /// while a member changes nothing.
    pub fn join(
        &mut self,
        group: &str,
        member: &str,
        assignor: Assignor,
    ) -> Result<u64, ReplicatedError> {
        check_name("group", group)?;
        check_name("member", member)?;
        let id = self.next_request();
        let c = OffsetsCommand::Join {
            group: group.to_owned(),
            member: member.to_owned(),
            partitions: self.config.partitions,
            assignor,
        };
        self.request(None, CONSUMER_CLIENT, id, Op::Offsets(c));
        Ok(id)
    }

    /// `member` leaves `group`: a rebalance (none if it was not a member); answered by a
    /// [`Completion::Membership`].
    pub fn leave(&mut self, group: &str, member: &str) -> Result<u64, ReplicatedError> {
        check_name("group", group)?;
        check_name("member", member)?;
        let id = self.next_request();
        let c = OffsetsCommand::Leave {
            group: group.to_owned(),
            member: member.to_owned(),
        };
        self.request(None, CONSUMER_CLIENT, id, Op::Offsets(c));
        Ok(id)
    }

    /// Reads `group`'s generation and assignment (a linearizable read: a member's
    /// heartbeat); answered by a [`Completion::GroupDescribed`].
    pub fn describe_group(&mut self, group: &str) -> Result<u64, ReplicatedError> {
        check_name("group", group)?;
        let id = self.next_request();
        self.request(
            None,
            CONSUMER_CLIENT,
            id,
            Op::OffsetsRead(OffsetsQuery::Group(group.to_owned())),
        );
        Ok(id)
    }

    fn each_group(&mut self, mut f: impl FnMut(&mut dyn FaultTarget)) {
        for c in &mut self.partitions {
            f(c);
        }
        f(&mut self.offsets);
    }

    /// Crashes broker `b`: its replica of every group.
    pub fn crash(&mut self, b: NodeId) -> Result<(), ReplicatedError> {
        if b == 0 || b > self.config.brokers {
            return Err(ReplicatedError::NoBroker(b));
        }
        if self.is_up(b) {
            self.stats.crashes += 1;
        }
        self.each_group(|c| c.crash_node(b));
        Ok(())
    }

    /// Restarts broker `b` from its disks (every replica's recovery).
    pub fn restart(&mut self, b: NodeId) -> Result<(), ReplicatedError> {
        if b == 0 || b > self.config.brokers {
            return Err(ReplicatedError::NoBroker(b));
        }
        for (p, c) in self.partitions.iter_mut().enumerate() {
            let p = u32::try_from(p).expect("at most 64 partitions");
            c.restart(b).map_err(sim_err(Some(p)))?;
        }
        self.offsets.restart(b).map_err(sim_err(None))
    }

    /// Blocks every link between brokers in different groups, in every Raft group.
    pub fn set_partition(&mut self, groups: &[Vec<NodeId>]) {
        self.each_group(|c| c.partition_nodes(groups));
    }

    /// Unblocks every link.
    pub fn heal(&mut self) {
        self.each_group(|c| c.heal_all());
    }

    /// Changes the network of every group.
    pub fn set_network(&mut self, net: NetConfig) {
        self.config.net = net;
        self.each_group(|c| c.set_net(net));
    }

    /// One tick: every group steps (Raft's checkers run), answers are matched to
    /// requests, batches go out, silent requests are sent again.
    pub fn step(&mut self) -> Result<(), ReplicatedError> {
        self.now += 1;
        for p in 0..self.partitions.len() {
            let pid = u32::try_from(p).expect("at most 64 partitions");
            let g = Some(pid);
            let c = &mut self.partitions[p];
            c.step().map_err(sim_err(g))?;
            let trace = c.take_trace();
            let replies = c.take_client_replies();
            let proposals = c.take_proposals();
            self.count(p, &trace);
            for r in replies {
                self.leader_hint[p] = match r.result {
                    ClientResult::NotLeader(Some(l)) => l,
                    _ => r.from,
                };
                self.handle_reply(g, r.client, r.seq, r.result)?;
            }
            for pr in proposals {
                self.early_ack(pid, pr.node, pr.client, pr.seq, pr.index);
            }
        }
        let g = self.partitions.len();
        self.offsets.step().map_err(sim_err(None))?;
        let trace = self.offsets.take_trace();
        self.count(g, &trace);
        for r in self.offsets.take_client_replies() {
            self.leader_hint[g] = match r.result {
                ClientResult::NotLeader(Some(l)) => l,
                _ => r.from,
            };
            self.handle_offsets_reply(r.client, r.seq, r.result);
        }
        self.flush_batches();
        self.retry();
        Ok(())
    }

    fn count(&mut self, g: usize, trace: &[crate::raft::sim::TraceEvent]) {
        for e in trace {
            if let TraceKind::Node { event, .. } = &e.kind {
                match event {
                    NodeEvent::RoleChanged {
                        role: Role::Leader,
                        term,
                    } if *term > self.led_terms[g] => {
                        self.led_terms[g] = *term;
                        self.stats.elections += 1;
                    }
                    NodeEvent::SnapshotInstalled { .. } => self.stats.snapshots_installed += 1,
                    _ => {}
                }
            }
        }
    }

    fn handle_reply(
        &mut self,
        group: Option<u32>,
        client: u64,
        seq: u64,
        result: ClientResult<Vec<Placement>, Result<Fetched, OutOfRange>>,
    ) -> Result<(), ReplicatedError> {
        let key = (group, client, seq);
        let Some(o) = self.outstanding.get_mut(&key) else {
            return Ok(()); // an answer to a request already answered (a retry's twin)
        };
        let p = group.expect("partition replies");
        match result {
            ClientResult::NotLeader(hint) => {
                self.redirect(key, hint);
            }
            ClientResult::Done(placements) => {
                let Op::Produce(batch) = o.op.clone() else {
                    return Ok(());
                };
                self.outstanding.remove(&key);
                self.complete_batch(p, &batch, &placements);
            }
            ClientResult::Value(fetched) => {
                let Op::Fetch(q) = o.op else {
                    return Ok(());
                };
                self.outstanding.remove(&key);
                self.completions.push(Completion::Fetched {
                    request: seq,
                    partition: p,
                    offset: q.offset,
                    fetched: fetched.map_err(|e| ReplicatedError::OffsetOutOfRange {
                        partition: p,
                        offset: e.offset,
                        start: e.start,
                        end: e.end,
                    }),
                });
            }
        }
        Ok(())
    }

    fn handle_offsets_reply(
        &mut self,
        client: u64,
        seq: u64,
        result: ClientResult<CommitOutcome, OffsetsValue>,
    ) {
        let key = (None, client, seq);
        let Some(o) = self.outstanding.get(&key) else {
            return;
        };
        let completion = match (result, o.op.clone()) {
            (ClientResult::NotLeader(hint), _) => {
                self.redirect(key, hint);
                return;
            }
            (ClientResult::Done(outcome), Op::Offsets(OffsetsCommand::Commit(commit))) => {
                let group = commit.group.clone();
                let (member, got) = commit.member.clone().unwrap_or_default();
                let partition = commit.partition;
                let result = match outcome {
                    CommitOutcome::Committed => Ok(()),
                    CommitOutcome::Backwards { current } => Err(ReplicatedError::Backwards {
                        group,
                        partition,
                        current,
                        offset: commit.offset,
                    }),
                    CommitOutcome::StaleGeneration { current } => {
                        Err(ReplicatedError::StaleGeneration {
                            group,
                            current,
                            got,
                        })
                    }
                    CommitOutcome::NotMember => Err(ReplicatedError::NotMember { group, member }),
                    CommitOutcome::NotAssigned => Err(ReplicatedError::NotAssigned {
                        group,
                        member,
                        partition,
                    }),
                    CommitOutcome::Group(_) => return, // not an answer to a commit
                };
                Completion::Committed {
                    request: seq,
                    commit,
                    result,
                }
            }
            (
                ClientResult::Done(CommitOutcome::Group(state)),
                Op::Offsets(OffsetsCommand::Join { group, member, .. }),
            ) => Completion::Membership {
                request: seq,
                group,
                member,
                joined: true,
                state,
            },
            (
                ClientResult::Done(CommitOutcome::Group(state)),
                Op::Offsets(OffsetsCommand::Leave { group, member }),
            ) => Completion::Membership {
                request: seq,
                group,
                member,
                joined: false,
                state,
            },
            (
                ClientResult::Value(OffsetsValue::Offset(offset)),
                Op::OffsetsRead(OffsetsQuery::Offset(key_read)),
            ) => Completion::CommittedOffset {
                request: seq,
                key: key_read,
                offset,
            },
            (
                ClientResult::Value(OffsetsValue::Group(state)),
                Op::OffsetsRead(OffsetsQuery::Group(group)),
            ) => Completion::GroupDescribed {
                request: seq,
                group,
                state,
            },
            _ => return,
        };
        self.outstanding.remove(&key);
        self.completions.push(completion);
    }

    /// Sends a request again at once: to the leader named, else to the next broker.
    fn redirect(&mut self, key: (Option<u32>, u64, u64), hint: Option<NodeId>) {
        let brokers = self.config.brokers;
        let now = self.now;
        let Some(o) = self.outstanding.get_mut(&key) else {
            return;
        };
        o.to = match hint {
            Some(l) if l != o.to => l,
            _ => o.to % brokers + 1,
        };
        o.sent_at = now;
        let o = o.clone();
        self.stats.retries += 1;
        self.transmit(&o);
    }

    fn retry(&mut self) {
        let due: Vec<_> = self
            .outstanding
            .iter()
            .filter(|(_, o)| self.now >= o.sent_at + self.config.retry_ticks)
            .map(|(k, _)| *k)
            .collect();
        for k in due {
            self.redirect(k, None);
        }
    }

    /// Acknowledges (or refuses) the batch in flight for its producer and partition.
    fn complete_batch(&mut self, p: u32, batch: &ProduceBatch, placements: &[Placement]) {
        let Some(q) = self.queues.get_mut(&(batch.producer, p)) else {
            return;
        };
        if q.in_flight.as_ref() != Some(batch) {
            return; // already acknowledged (acks=1) or refused
        }
        q.in_flight = None;
        let refused = placements.iter().zip(0u64..).find_map(|(pl, i)| match pl {
            Placement::OutOfSequence { last } => Some((batch.first_sequence + i, *last)),
            _ => None,
        });
        if let Some((sequence, last)) = refused {
            // Records before this batch were lost (only acks=1 loses them): the batch is
            // dropped and the producer goes on from the partition's last sequence, as a
            // Kafka producer resets its sequence after an out-of-order error.
            q.next_sequence = last + 1;
            self.completions.push(Completion::Refused {
                producer: batch.producer,
                partition: p,
                error: ReplicatedError::OutOfSequence {
                    producer: batch.producer,
                    partition: p,
                    sequence,
                    last,
                },
            });
            return;
        }
        for (i, (pl, (key, value))) in placements.iter().zip(&batch.records).enumerate() {
            let Some(offset) = pl.offset() else {
                // A duplicate older than the window: in the partition, offset unknown
                // (impossible for a batch in flight, whose records are the newest).
                continue;
            };
            self.stats.acked += 1;
            self.completions.push(Completion::Acked(Ack {
                producer: batch.producer,
                sequence: batch.first_sequence + i as u64,
                partition: p,
                offset,
                timestamp: batch.timestamp,
                key: key.clone(),
                value: value.clone(),
            }));
        }
    }

    /// acks=1: the leader `node` appended the batch at `index`; acknowledge it now with
    /// the offsets it predicts.
    fn early_ack(&mut self, p: u32, node: NodeId, client: u64, seq: u64, index: u64) {
        let key = (Some(p), client, seq);
        let Some(Op::Produce(batch)) = self.outstanding.get(&key).map(|o| o.op.clone()) else {
            return;
        };
        let Some(server) = self.partitions[p as usize].server(node) else {
            return;
        };
        let Some(n) = server.node() else { return };
        let sm = server.state_machine();
        if sm.applied() >= index {
            return; // applied already: the ordinary answer is on its way
        }
        let entries: Result<Vec<Entry>, _> =
            (sm.applied() + 1..=index).map(|i| n.entry(i)).collect();
        let Some(placements) = entries.ok().and_then(|es| sm.predict(&es)) else {
            return;
        };
        if placements.iter().any(|pl| pl.offset().is_none()) {
            return; // the leader would refuse it: no early acknowledgement
        }
        self.outstanding.remove(&key);
        self.complete_batch(p, &batch, &placements);
    }

    fn flush_batches(&mut self) {
        let max = self.config.batch_records as usize;
        let linger = self.config.linger_ticks;
        let retention = self.config.retention;
        let now = self.now;
        let mut out = Vec::new();
        for (&(producer, p), q) in &mut self.queues {
            if q.in_flight.is_some()
                || q.open.is_empty()
                || (q.open.len() < max && now < q.opened_at + linger)
            {
                continue;
            }
            let n = q.open.len().min(max);
            let batch = ProduceBatch {
                producer,
                first_sequence: q.next_sequence,
                timestamp: now,
                retention,
                records: q.open.drain(..n).collect(),
            };
            q.next_sequence += n as u64;
            q.opened_at = now;
            q.in_flight = Some(batch.clone());
            out.push((p, batch));
        }
        for (p, batch) in out {
            self.stats.batches += 1;
            let (client, seq) = (batch.producer, batch.first_sequence);
            self.request(Some(p), client, seq, Op::Produce(batch));
        }
    }
}

/// The fault operations every group takes, whatever its state machine.
trait FaultTarget {
    fn crash_node(&mut self, b: NodeId);
    fn partition_nodes(&mut self, groups: &[Vec<NodeId>]);
    fn heal_all(&mut self);
    fn set_net(&mut self, net: NetConfig);
}

impl<M: StateMachine> FaultTarget for Cluster<M> {
    fn crash_node(&mut self, b: NodeId) {
        self.crash(b);
    }
    fn partition_nodes(&mut self, groups: &[Vec<NodeId>]) {
        self.set_partition(groups);
    }
    fn heal_all(&mut self) {
        self.heal();
    }
    fn set_net(&mut self, net: NetConfig) {
        self.set_network(net);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn entry(index: u64, client: u64, seq: u64, batch: &ProduceBatch) -> Entry {
        Entry {
            index,
            term: 1,
            kind: EntryKind::Command(batch.encode(client, seq)),
        }
    }

    fn batch(pid: u64, first: u64, n: usize) -> ProduceBatch {
        ProduceBatch {
            producer: pid,
            first_sequence: first,
            timestamp: 5,
            retention: Retention::keep_all(),
            records: (0..n)
                .map(|i| {
                    (
                        Some(vec![u8::try_from(i).unwrap()]),
                        Some(format!("{pid}-{}", first + i as u64).into_bytes()),
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn batches_get_offsets_at_apply_and_duplicates_their_original_offsets() {
        let mut sm = PartitionMachine::empty();
        let b1 = batch(7, 0, 3);
        let a = StateMachine::apply(&mut sm, &entry(1, 7, 0, &b1)).unwrap();
        assert_eq!(
            a.response,
            vec![Placement::New(0), Placement::New(1), Placement::New(2)]
        );
        // Another producer, then the first batch again (a retry through a new leader).
        StateMachine::apply(&mut sm, &entry(2, 8, 0, &batch(8, 0, 1))).unwrap();
        let again = StateMachine::apply(&mut sm, &entry(3, 7, 0, &b1)).unwrap();
        assert_eq!(
            again.response,
            vec![
                Placement::Duplicate(Some(0)),
                Placement::Duplicate(Some(1)),
                Placement::Duplicate(Some(2))
            ]
        );
        // Skipping ahead is refused.
        let skip = StateMachine::apply(&mut sm, &entry(4, 7, 9, &batch(7, 9, 1))).unwrap();
        assert_eq!(skip.response, vec![Placement::OutOfSequence { last: 2 }]);
        assert_eq!(sm.next_offset(), 4);
        sm.validate();
        // A snapshot restores the same state and digest; garbage is an error.
        let r = PartitionMachine::restore(4, &StateMachine::snapshot(&sm)).unwrap();
        assert_eq!(r, sm);
        assert_eq!(r.digest(), sm.digest());
        assert!(PartitionMachine::restore(4, &[1, 2, 3]).is_err());
        // A command that does not decode is a no-op that still moves the index.
        let junk = Entry {
            index: 5,
            term: 1,
            kind: EntryKind::Command(vec![1, 2]),
        };
        assert_eq!(StateMachine::apply(&mut sm, &junk), None);
        assert_eq!(sm.applied(), 5);
        // Prediction places an unapplied suffix without changing anything.
        let suffix = [
            entry(6, 7, 3, &batch(7, 3, 2)),
            entry(7, 7, 3, &batch(7, 3, 2)),
        ];
        assert_eq!(
            sm.predict(&suffix),
            Some(vec![
                Placement::Duplicate(Some(4)),
                Placement::Duplicate(Some(5))
            ])
        );
        assert_eq!(sm.next_offset(), 4);
    }

    #[test]
    fn commands_round_trip_and_every_prefix_is_an_error() {
        let b = batch(3, 10, 2);
        let bytes = b.encode(3, 10);
        assert_eq!(ProduceBatch::decode(&bytes), Ok((3, 10, b)));
        for n in 0..bytes.len() {
            assert!(ProduceBatch::decode(&bytes[..n]).is_err(), "prefix {n}");
        }
    }

    #[test]
    fn committed_offsets_never_go_backwards() {
        let mut sm = OffsetsMachine::empty();
        let c = |index, offset| Entry {
            index,
            term: 1,
            kind: EntryKind::Command(OffsetsMachine::encode_command(
                1,
                index,
                &OffsetsCommand::Commit(OffsetCommit {
                    group: "g".into(),
                    member: None,
                    partition: 0,
                    offset,
                }),
            )),
        };
        assert_eq!(
            StateMachine::apply(&mut sm, &c(1, 5)).unwrap().response,
            CommitOutcome::Committed
        );
        assert_eq!(
            StateMachine::apply(&mut sm, &c(2, 5)).unwrap().response,
            CommitOutcome::Committed
        );
        assert_eq!(
            StateMachine::apply(&mut sm, &c(3, 4)).unwrap().response,
            CommitOutcome::Backwards { current: 5 }
        );
        let k = OffsetKey {
            group: "g".into(),
            partition: 0,
        };
        assert_eq!(
            sm.query(&OffsetsQuery::Offset(k)),
            OffsetsValue::Offset(Some(5))
        );
        assert_eq!(
            OffsetsMachine::restore(3, &StateMachine::snapshot(&sm)).unwrap(),
            sm
        );
    }

    fn kv_batch(
        pid: u64,
        first: u64,
        ts: u64,
        policy: Retention,
        kvs: &[(&str, Option<&str>)],
    ) -> ProduceBatch {
        ProduceBatch {
            producer: pid,
            first_sequence: first,
            timestamp: ts,
            retention: policy,
            records: kvs
                .iter()
                .map(|(k, v)| {
                    (
                        Some(k.as_bytes().to_vec()),
                        v.map(|v| v.as_bytes().to_vec()),
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn retention_drops_whole_closed_segments_by_size_and_age_and_never_reuses_offsets() {
        let policy = Retention {
            segment_records: 4,
            retention_bytes: None,
            retention_ticks: Some(100),
            ..Retention::keep_all()
        };
        let mut sm = PartitionMachine::empty();
        // Offsets 0..10 at ticks 0, 10, ..., 90: nothing is older than 100 ticks.
        for i in 0..10u64 {
            let b = kv_batch(1, i, i * 10, policy, &[("k", Some("v"))]);
            StateMachine::apply(&mut sm, &entry(i + 1, 1, i, &b)).unwrap();
        }
        assert_eq!((sm.start_offset(), sm.records().len()), (0, 10));
        // At tick 145 segment 0 (newest record at 30) is 115 old: dropped; segment 1
        // (newest at 70) is 75 old: kept.
        let b = kv_batch(1, 10, 145, policy, &[("k", Some("v"))]);
        StateMachine::apply(&mut sm, &entry(11, 1, 10, &b)).unwrap();
        assert_eq!(sm.start_offset(), 4);
        assert_eq!(sm.records()[0].offset, 4);
        assert_eq!(sm.next_offset(), 11);
        sm.validate();
        assert_eq!(
            sm.fetch(3, 10),
            Err(OutOfRange {
                offset: 3,
                start: 4,
                end: 11
            })
        );
        assert_eq!(sm.fetch(4, 1).unwrap().records[0].offset, 4);
        // Much later: every closed segment whose newest record is old goes; [8, 12)
        // holds offset 11 of this batch, and [12, 16) is the active segment.
        let b = kv_batch(1, 11, 1000, policy, &[("k", Some("v")), ("k", Some("w"))]);
        StateMachine::apply(&mut sm, &entry(12, 1, 11, &b)).unwrap();
        assert_eq!((sm.start_offset(), sm.next_offset()), (8, 13));
        assert_eq!(sm.records().len(), 5);
        let b = kv_batch(1, 13, 2000, policy, &[("k", Some("x")); 4]);
        StateMachine::apply(&mut sm, &entry(13, 1, 13, &b)).unwrap();
        // [8, 12) is old now; [12, 16) holds this batch's 13..16.
        assert_eq!((sm.start_offset(), sm.next_offset()), (12, 17));
        assert_eq!(sm.records().len(), 5);
        // A retry of an old batch is still a duplicate at its original offset.
        let again = kv_batch(1, 0, 0, policy, &[("k", Some("v"))]);
        let a = StateMachine::apply(&mut sm, &entry(14, 1, 0, &again)).unwrap();
        assert_eq!(
            a.response,
            vec![Placement::Duplicate(Some(0))],
            "its offset, dropped since"
        );
        let r = PartitionMachine::restore(14, &StateMachine::snapshot(&sm)).unwrap();
        assert_eq!(r, sm);
        r.validate();

        // The age limit is strict: exactly `retention_ticks` old stays.
        let policy = Retention {
            segment_records: 1,
            retention_ticks: Some(100),
            ..Retention::keep_all()
        };
        let mut sm = PartitionMachine::empty();
        for ((ts, start), i) in [(0u64, 0u64), (100, 0), (101, 1)].into_iter().zip(0u64..) {
            let b = kv_batch(1, i, ts, policy, &[("k", Some("v"))]);
            StateMachine::apply(&mut sm, &entry(i + 1, 1, i, &b)).unwrap();
            assert_eq!(sm.start_offset(), start, "at tick {ts}");
        }

        // By size: each record is the same size; keep at most 5 records' worth.
        let size = TopicRecord {
            offset: 0,
            timestamp: 0,
            key: Some(b"k".to_vec()),
            value: Some(b"v".to_vec()),
            producer: Some((1, 0)),
        }
        .encode()
        .len() as u64;
        let policy = Retention {
            segment_records: 2,
            retention_bytes: Some(5 * size),
            ..Retention::keep_all()
        };
        let mut sm = PartitionMachine::empty();
        for i in 0..9u64 {
            let b = kv_batch(1, i, 0, policy, &[("k", Some("v"))]);
            StateMachine::apply(&mut sm, &entry(i + 1, 1, i, &b)).unwrap();
            assert!(sm.bytes() <= 5 * size || sm.start_offset() == i / 2 * 2);
        }
        // 9 records: segments [0,1] [2,3] dropped, 5 left (4..9).
        assert_eq!(sm.start_offset(), 4);
        assert_eq!(sm.bytes(), 5 * size);
        sm.validate();
    }

    #[test]
    fn compaction_keeps_the_latest_record_per_key_and_expires_tombstones() {
        let policy = Retention {
            segment_records: 3,
            compacted: true,
            tombstone_ticks: 50,
            ..Retention::keep_all()
        };
        let mut sm = PartitionMachine::empty();
        let b = kv_batch(
            1,
            0,
            0,
            policy,
            &[
                ("a", Some("1")),
                ("b", Some("1")),
                ("a", Some("2")),
                ("b", None),
            ],
        );
        StateMachine::apply(&mut sm, &entry(1, 1, 0, &b)).unwrap();
        // Closed segment [0, 3): a@0 is superseded by a@2; b@1 by the tombstone b@3 in
        // the active segment (kept there).
        let offsets: Vec<u64> = sm.records().iter().map(|r| r.offset).collect();
        assert_eq!(offsets, vec![2, 3]);
        // Later, the tombstone's segment closes; at tick 40 it is kept, at 100 it goes.
        let b = kv_batch(1, 4, 40, policy, &[("c", Some("1")), ("c", Some("2"))]);
        StateMachine::apply(&mut sm, &entry(2, 1, 4, &b)).unwrap();
        let offsets: Vec<u64> = sm.records().iter().map(|r| r.offset).collect();
        assert_eq!(offsets, vec![2, 3, 4, 5]);
        let b = kv_batch(1, 6, 100, policy, &[("d", Some("1"))]);
        StateMachine::apply(&mut sm, &entry(3, 1, 6, &b)).unwrap();
        let offsets: Vec<u64> = sm.records().iter().map(|r| r.offset).collect();
        assert_eq!(offsets, vec![2, 5, 6], "a's latest, c's latest, d");
        assert_eq!(sm.start_offset(), 0, "compaction never moves the start");
        // A fetch from a removed offset returns the next record held.
        let f = sm.fetch(3, 10).unwrap();
        assert_eq!(f.records[0].offset, 5);
        assert_eq!(f.next_offset(3), 7);
        sm.validate();
        let r = PartitionMachine::restore(3, &StateMachine::snapshot(&sm)).unwrap();
        assert_eq!(r, sm);
        assert_eq!(r.digest(), sm.digest());
    }

    fn offsets_entry(index: u64, c: &OffsetsCommand) -> Entry {
        Entry {
            index,
            term: 1,
            kind: EntryKind::Command(OffsetsMachine::encode_command(7, index, c)),
        }
    }

    fn join(g: &str, m: &str, assignor: Assignor) -> OffsetsCommand {
        OffsetsCommand::Join {
            group: g.into(),
            member: m.into(),
            partitions: 5,
            assignor,
        }
    }

    fn member_commit(m: &str, generation: u64, partition: u32, offset: u64) -> OffsetsCommand {
        OffsetsCommand::Commit(OffsetCommit {
            group: "g".into(),
            member: Some((m.into(), generation)),
            partition,
            offset,
        })
    }

    #[test]
    fn assignors_spread_partitions_deterministically() {
        let r = Assignor::Range.assign(&["a", "b"], 5);
        assert_eq!(r["a"], vec![0, 1]);
        assert_eq!(r["b"], vec![2, 3, 4]);
        let rr = Assignor::RoundRobin.assign(&["a", "b"], 5);
        assert_eq!(rr["a"], vec![0, 2, 4]);
        assert_eq!(rr["b"], vec![1, 3]);
        let more = Assignor::Range.assign(&["a", "b", "c"], 2);
        assert_eq!(more.values().map(Vec::len).sum::<usize>(), 2);
        assert!(Assignor::Range.assign(&[], 3).is_empty());
    }

    #[test]
    fn groups_rebalance_with_generations_and_fence_stale_commits() {
        let mut sm = OffsetsMachine::empty();
        let apply = |sm: &mut OffsetsMachine, i: u64, c: &OffsetsCommand| {
            StateMachine::apply(sm, &offsets_entry(i, c))
                .unwrap()
                .response
        };
        let CommitOutcome::Group(g1) = apply(&mut sm, 1, &join("g", "a", Assignor::Range)) else {
            panic!("a join answers with the group")
        };
        assert_eq!(g1.generation, 1);
        assert_eq!(g1.members["a"], vec![0, 1, 2, 3, 4]);
        assert_eq!(
            apply(&mut sm, 2, &member_commit("a", 1, 3, 10)),
            CommitOutcome::Committed
        );
        let CommitOutcome::Group(g2) = apply(&mut sm, 3, &join("g", "b", Assignor::RoundRobin))
        else {
            panic!()
        };
        assert_eq!((g2.generation, g2.assignor), (2, Assignor::Range));
        assert_eq!(g2.members["b"], vec![2, 3, 4]);
        // a's commit from generation 1 is fenced; b owns 3 now.
        assert_eq!(
            apply(&mut sm, 4, &member_commit("a", 1, 3, 20)),
            CommitOutcome::StaleGeneration { current: 2 }
        );
        assert_eq!(
            apply(&mut sm, 5, &member_commit("a", 2, 3, 20)),
            CommitOutcome::NotAssigned
        );
        assert_eq!(
            apply(&mut sm, 6, &member_commit("z", 2, 3, 20)),
            CommitOutcome::NotMember
        );
        assert_eq!(
            apply(
                &mut sm,
                7,
                &OffsetsCommand::Commit(OffsetCommit {
                    group: "g".into(),
                    member: None,
                    partition: 3,
                    offset: 20
                })
            ),
            CommitOutcome::NotMember
        );
        assert_eq!(
            apply(&mut sm, 8, &member_commit("b", 2, 3, 9)),
            CommitOutcome::Backwards { current: 10 }
        );
        assert_eq!(
            apply(&mut sm, 9, &member_commit("b", 2, 3, 12)),
            CommitOutcome::Committed
        );
        // A join already applied, replayed late (a retry's twin), changes nothing; nor
        // does joining again.
        let b_join = OffsetsEntryReplay::new(3, join("g", "b", Assignor::Range));
        let leave_b = OffsetsCommand::Leave {
            group: "g".into(),
            member: "b".into(),
        };
        let CommitOutcome::Group(g3) = apply(&mut sm, 10, &leave_b) else {
            panic!()
        };
        assert_eq!(g3.generation, 3);
        let late = StateMachine::apply(&mut sm, &b_join.at(11))
            .unwrap()
            .response;
        assert_eq!(
            late,
            CommitOutcome::Group(g3.clone()),
            "a stale join is ignored"
        );
        let CommitOutcome::Group(same) = apply(&mut sm, 12, &join("g", "a", Assignor::Range))
        else {
            panic!()
        };
        assert_eq!(same, g3);
        let k = OffsetKey {
            group: "g".into(),
            partition: 3,
        };
        assert_eq!(
            sm.query(&OffsetsQuery::Offset(k)),
            OffsetsValue::Offset(Some(12))
        );
        assert_eq!(
            sm.query(&OffsetsQuery::Group("g".into())),
            OffsetsValue::Group(Some(g3))
        );
        let r = OffsetsMachine::restore(12, &StateMachine::snapshot(&sm)).unwrap();
        assert_eq!(r, sm);
        for c in [
            join("g", "a", Assignor::RoundRobin),
            member_commit("a", 3, 1, 4),
            leave_b,
        ] {
            let bytes = OffsetsMachine::encode_command(1, 2, &c);
            assert_eq!(OffsetsMachine::decode_command(&bytes), Ok((1, 2, c)));
            for n in 0..bytes.len() {
                assert!(
                    OffsetsMachine::decode_command(&bytes[..n]).is_err(),
                    "prefix {n}"
                );
            }
        }
    }

    /// An offsets command encoded with a fixed request number, applied at any index.
    struct OffsetsEntryReplay(u64, OffsetsCommand);

    impl OffsetsEntryReplay {
        fn new(seq: u64, c: OffsetsCommand) -> Self {
            OffsetsEntryReplay(seq, c)
        }
        fn at(&self, index: u64) -> Entry {
            Entry {
                index,
                term: 1,
                kind: EntryKind::Command(OffsetsMachine::encode_command(7, self.0, &self.1)),
            }
        }
    }

    #[test]
    fn bad_configurations_are_errors() {
        for (b, p) in [(2, 1), (8, 1), (3, 0), (3, 65)] {
            assert!(matches!(
                ReplicatedTopic::new(ReplicatedConfig::new(b, p), 1),
                Err(ReplicatedError::Config(_))
            ));
        }
        let mut t = ReplicatedTopic::new(ReplicatedConfig::new(3, 2), 1).unwrap();
        assert_eq!(
            t.fetch(2, 0, 1),
            Err(ReplicatedError::NoPartition {
                partition: 2,
                partitions: 2
            })
        );
        assert_eq!(
            t.send(u64::MAX, None, None),
            Err(ReplicatedError::ReservedProducer(u64::MAX))
        );
        assert_eq!(t.crash(4), Err(ReplicatedError::NoBroker(4)));
        assert!(matches!(
            t.join("", "m", Assignor::Range),
            Err(ReplicatedError::Invalid(_))
        ));
        assert!(matches!(
            t.leave("g", "a\nb"),
            Err(ReplicatedError::Invalid(_))
        ));
    }
}
