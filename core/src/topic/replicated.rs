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
//! consumer ── fetch (read index) ──► leader of p;  commit ──► leader of __consumer_offsets
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
//! # Consumer offsets
//! [`ReplicatedTopic::commit`] goes through the `__consumer_offsets` group; applying a
//! commit that would move an offset backwards refuses it
//! ([`ReplicatedError::Backwards`]), so on every replica a committed offset never
//! decreases. [`ReplicatedTopic::read_committed`] is a linearizable read.
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
//! produce command = client u64 | seq u64 | pid u64 | first seq u64 | timestamp u64 | n u32 | n × record
//!          record = flags u8 (bit 0 key, bit 1 value) | [len u32 | key] | [len u32 | value]
//! partition snapshot = n u64 | n × (len u32 | TopicRecord) | m u32 | m × (pid u64 | k u32 | k × (seq u64 | offset u64))
//! commit command  = client u64 | seq u64 | group (len u32 | bytes) | partition u32 | offset u64
//! offsets snapshot = n u32 | n × (group | partition u32 | offset u64)
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

/// A batch of records from one producer for one partition: one Raft entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProduceBatch {
    /// The producer's id.
    pub producer: u64,
    /// The sequence number of the first record; record `i` has `first_sequence + i`.
    pub first_sequence: u64,
    /// When the batch was formed (virtual ticks), every record's timestamp.
    pub timestamp: u64,
    /// The records: key and value (`None` value: a tombstone).
    pub records: Vec<KeyValue>,
}

impl ProduceBatch {
    fn encode(&self, client: u64, seq: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(48 + self.records.len() * 16);
        for x in [
            client,
            seq,
            self.producer,
            self.first_sequence,
            self.timestamp,
        ] {
            out.extend_from_slice(&x.to_le_bytes());
        }
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
    /// The records, in offset order, from the offset asked (none if it is at or past the
    /// high watermark).
    pub records: Vec<TopicRecord>,
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
/// and the idempotent producers' windows (module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartitionMachine {
    records: Vec<TopicRecord>,
    producers: Producers,
    applied: u64,
    /// A running checksum over the records (the state; the producer table follows from
    /// them).
    digest: u32,
}

impl PartitionMachine {
    /// The records, offset `i` at position `i`.
    pub fn records(&self) -> &[TopicRecord] {
        &self.records
    }

    /// The offset after the last record (the high watermark of this replica).
    pub fn next_offset(&self) -> u64 {
        self.records.len() as u64
    }

    /// The producer's recent (sequence, offset) pairs, oldest first.
    pub fn producer_window(&self, producer: u64) -> Option<&VecDeque<(u64, u64)>> {
        self.producers.get(&producer)
    }

    /// Up to `max` records from `offset` on.
    pub fn fetch(&self, offset: u64, max: u32) -> Fetched {
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.records.len());
        let end = start.saturating_add(max as usize).min(self.records.len());
        Fetched {
            high_watermark: self.next_offset(),
            records: self.records[start..end].to_vec(),
        }
    }

    fn chain(digest: u32, record: &TopicRecord) -> u32 {
        let mut b = digest.to_le_bytes().to_vec();
        b.extend_from_slice(&record.encode());
        crc32c::checksum(&b)
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

    /// Checks the invariants: offsets are positions, every window's offsets point at the
    /// producer's records with those sequences, windows are bounded.
    pub fn validate(&self) {
        for (i, r) in self.records.iter().enumerate() {
            assert_eq!(r.offset, i as u64, "offsets are dense from 0");
        }
        for (pid, w) in &self.producers {
            assert!(w.len() <= PRODUCER_WINDOW);
            for &(seq, offset) in w {
                let r = &self.records[usize::try_from(offset).expect("fits")];
                assert_eq!(r.producer, Some((*pid, seq)), "window entry {pid}/{seq}");
            }
        }
    }
}

impl StateMachine for PartitionMachine {
    type Command = ProduceBatch;
    type Response = Vec<Placement>;
    type Query = FetchQuery;
    type Value = Fetched;
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
        let mut next = self.next_offset();
        let placements = place(&mut self.producers, &mut next, &batch);
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
                self.digest = Self::chain(self.digest, &record);
                self.records.push(record);
            }
        }
        debug_assert_eq!(next, self.next_offset());
        Some(Answer {
            client,
            seq,
            response: placements,
        })
    }

    fn query(&self, q: &FetchQuery) -> Fetched {
        self.fetch(q.offset, q.max_records)
    }

    fn snapshot(&self) -> Vec<u8> {
        let mut out = Vec::new();
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
        let n = r.u64()?;
        for i in 0..n {
            let record = TopicRecord::decode(&r.bytes()?).map_err(ReplicatedDecodeError)?;
            if record.offset != i {
                return Err(ReplicatedDecodeError(format!(
                    "record {i} has offset {}",
                    record.offset
                )));
            }
            sm.digest = Self::chain(sm.digest, &record);
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
                if offset >= n {
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

/// A consumer group's commit of the next offset to consume in a partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetCommit {
    /// The consumer group.
    pub group: String,
    /// The partition.
    pub partition: u32,
    /// The next offset to consume.
    pub offset: u64,
}

/// What applying a commit did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitOutcome {
    /// The offset is committed (it was at or past the current one).
    Committed,
    /// Refused: it would move the committed offset back from `current`.
    Backwards {
        /// The committed offset.
        current: u64,
    },
}

/// The key of a committed offset: group and partition.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct OffsetKey {
    /// The consumer group.
    pub group: String,
    /// The partition.
    pub partition: u32,
}

/// The replicated `__consumer_offsets` state machine: committed offsets that never move
/// backwards.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OffsetsMachine {
    committed: BTreeMap<OffsetKey, u64>,
    applied: u64,
}

impl OffsetsMachine {
    /// Every committed offset.
    pub fn committed(&self) -> &BTreeMap<OffsetKey, u64> {
        &self.committed
    }
}

impl StateMachine for OffsetsMachine {
    type Command = OffsetCommit;
    type Response = CommitOutcome;
    type Query = OffsetKey;
    type Value = Option<u64>;
    type DecodeError = ReplicatedDecodeError;

    fn empty() -> Self {
        OffsetsMachine::default()
    }

    fn encode_command(client: u64, seq: u64, c: &OffsetCommit) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&client.to_le_bytes());
        out.extend_from_slice(&seq.to_le_bytes());
        put_bytes(&mut out, c.group.as_bytes());
        out.extend_from_slice(&c.partition.to_le_bytes());
        out.extend_from_slice(&c.offset.to_le_bytes());
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
        let mut r = Reader::new(bytes);
        let (client, seq) = (r.u64().ok()?, r.u64().ok()?);
        let group = String::from_utf8(r.bytes().ok()?).ok()?;
        let partition = r.u32().ok()?;
        let offset = r.u64().ok()?;
        r.end().ok()?;
        let key = OffsetKey { group, partition };
        let response = match self.committed.get(&key) {
            Some(&current) if offset < current => CommitOutcome::Backwards { current },
            _ => {
                self.committed.insert(key, offset);
                CommitOutcome::Committed
            }
        };
        Some(Answer {
            client,
            seq,
            response,
        })
    }

    fn query(&self, key: &OffsetKey) -> Option<u64> {
        self.committed.get(key).copied()
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
        for _ in 0..r.u32()? {
            let group = String::from_utf8(r.bytes()?)
                .map_err(|_| ReplicatedDecodeError("a group name is not UTF-8".into()))?;
            let partition = r.u32()?;
            let offset = r.u64()?;
            sm.committed.insert(OffsetKey { group, partition }, offset);
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
        /// The answer.
        fetched: Fetched,
    },
    /// A commit's outcome.
    Committed {
        /// The request ([`ReplicatedTopic::commit`]).
        request: u64,
        /// What was committed.
        commit: OffsetCommit,
        /// Done, or refused ([`ReplicatedError::Backwards`]).
        result: Result<(), ReplicatedError>,
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
    Commit(OffsetCommit),
    Read(OffsetKey),
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
            (Op::Commit(c), None) => self.offsets.client_send(
                o.to,
                ClientRequest {
                    client: o.client,
                    seq: o.seq,
                    op: ClientOp::Write(c.clone()),
                },
            ),
            (Op::Read(k), None) => self.offsets.client_send(
                o.to,
                ClientRequest {
                    client: o.client,
                    seq: o.seq,
                    op: ClientOp::Get { key: k.clone() },
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

    /// Commits `offset` (the next to consume) for `group` on partition `p` through the
    /// offsets group; answered by a [`Completion::Committed`] with the returned id.
    pub fn commit(&mut self, group: &str, p: u32, offset: u64) -> Result<u64, ReplicatedError> {
        self.check_partition(p)?;
        let id = self.next_request();
        let c = OffsetCommit {
            group: group.to_owned(),
            partition: p,
            offset,
        };
        self.request(None, CONSUMER_CLIENT, id, Op::Commit(c));
        Ok(id)
    }

    /// Reads `group`'s committed offset on partition `p` (a linearizable read); answered
    /// by a [`Completion::CommittedOffset`] with the returned id.
    pub fn read_committed(&mut self, group: &str, p: u32) -> Result<u64, ReplicatedError> {
        self.check_partition(p)?;
        let id = self.next_request();
        let k = OffsetKey {
            group: group.to_owned(),
            partition: p,
        };
        self.request(None, CONSUMER_CLIENT, id, Op::Read(k));
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
            let (client, seq, from) = (r.client, r.seq, r.from);
            let result = match r.result {
                ClientResult::Done(o) => ClientResult::Done(Answered::Commit(o)),
                ClientResult::Value(v) => ClientResult::Value(Answered::Offset(v)),
                ClientResult::NotLeader(l) => ClientResult::NotLeader(l),
            };
            self.leader_hint[g] = match result {
                ClientResult::NotLeader(Some(l)) => l,
                _ => from,
            };
            self.handle_offsets_reply(client, seq, result)?;
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
        result: ClientResult<Vec<Placement>, Fetched>,
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
                    fetched,
                });
            }
        }
        Ok(())
    }

    fn handle_offsets_reply(
        &mut self,
        client: u64,
        seq: u64,
        result: ClientResult<Answered, Answered>,
    ) -> Result<(), ReplicatedError> {
        let key = (None, client, seq);
        let Some(o) = self.outstanding.get(&key) else {
            return Ok(());
        };
        match (result, o.op.clone()) {
            (ClientResult::NotLeader(hint), _) => self.redirect(key, hint),
            (ClientResult::Done(Answered::Commit(outcome)), Op::Commit(commit)) => {
                self.outstanding.remove(&key);
                let result = match outcome {
                    CommitOutcome::Committed => Ok(()),
                    CommitOutcome::Backwards { current } => Err(ReplicatedError::Backwards {
                        group: commit.group.clone(),
                        partition: commit.partition,
                        current,
                        offset: commit.offset,
                    }),
                };
                self.completions.push(Completion::Committed {
                    request: seq,
                    commit,
                    result,
                });
            }
            (ClientResult::Value(Answered::Offset(offset)), Op::Read(key_read)) => {
                self.outstanding.remove(&key);
                self.completions.push(Completion::CommittedOffset {
                    request: seq,
                    key: key_read,
                    offset,
                });
            }
            _ => {}
        }
        Ok(())
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

/// An offsets group's answer, in one type for the reply handler.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Answered {
    Commit(CommitOutcome),
    Offset(Option<u64>),
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
                &OffsetCommit {
                    group: "g".into(),
                    partition: 0,
                    offset,
                },
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
        assert_eq!(sm.query(&k), Some(5));
        assert_eq!(
            OffsetsMachine::restore(3, &StateMachine::snapshot(&sm)).unwrap(),
            sm
        );
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
    }
}
