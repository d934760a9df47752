//! Change data capture: a connector that reads the database's WAL, decodes committed
//! transactions into row-level change events, and publishes them to a topic exactly once
//! across crashes of the database, the connector and the broker. Then the views that
//! consume them ([`views`]).
//!
//! # What is published
//! For each committed transaction, in commit order, one [`ChangeEvent`] per update it
//! made (in the order it made them): the update's LSN, the commit's LSN, the transaction,
//! its position and the transaction's event count (the boundary: a reader knows when it
//! has all of a transaction), the operation, the key, the value before and after. A
//! transaction that aborted (or was rolled back by recovery) publishes nothing. The
//! connector reads only WAL records that are durable, so nothing it publishes can be
//! undone by a database crash. The record key is the row's key, and an event goes to the
//! partition its key hashes to ([`crate::topic::partition_of`], the broker's routing, over
//! [`CdcConfig::partitions`]): every change of a row is in one partition, in commit
//! order, so per-key order holds however many partitions there are. With one partition
//! commit order is offset order; with several, a transaction's events may be spread
//! over partitions and nothing orders partitions against each other (as with Kafka). Values
//! are the event in a small binary form ([`ChangeEvent::encode`]).
//!
//! # Exactly once
//! The connector is an idempotent producer with a fixed producer id. Sequence numbers
//! are per partition, as a broker keeps them (Kafka's are per producer and partition):
//! the `n`-th event it ever publishes to partition `p` has sequence number `n` there.
//! Its durable state (a two-slot checksummed file on its own storage) is: the WAL
//! position to resume reading from (the first LSN of the oldest transaction still open at
//! the last fully acknowledged commit), the last published commit LSN, and each
//! partition's next sequence number. It is written only after every event up to that
//! commit is acknowledged by the broker. After any crash the connector
//! re-reads from the stored position, skips commits at or below the stored one, and
//! re-publishes the rest with the same sequence numbers as the first time (the order is
//! the commit order, deterministic): the broker drops the ones it already has. After a
//! broker crash, events sent but not acknowledged are re-sent in order.
//!
//! The database must keep the WAL from the connector's position: the connector sets the
//! database's WAL hold ([`crate::db::Db::set_wal_hold`]) to it on every step. A position
//! below the WAL's first LSN (the hold was missing) is [`CdcError::Gap`]: events would be
//! missing, so the connector stops rather than skip them.
//!
//! # Call order
//! [`Connector::open`] (recovers the state) → [`Connector::step`] whenever time moves,
//! after the database's and the broker's ticks; [`Connector::handle_sync_completion`] for
//! completions of its own storage.

pub mod views;

use std::collections::VecDeque;

use crate::crc32c;
use crate::db::{TxnId, WalRecord};
use crate::log::{Log, LogError, Lsn};
use crate::storage::{Storage, StorageError, SyncCompletion, SyncId};
use crate::topic::{partition_of, Broker, BrokerError, PartitionError, Produce};

/// What a change did to its row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// The key was absent before.
    Insert,
    /// The key had a value before and after.
    Update,
    /// The key has no value after.
    Delete,
}

/// One row-level change (module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeEvent {
    /// The update's LSN.
    pub lsn: u64,
    /// The commit record's LSN.
    pub commit_lsn: u64,
    /// The transaction.
    pub txn: u64,
    /// Its position in the transaction, from 0.
    pub index: u32,
    /// The transaction's number of events.
    pub count: u32,
    /// What happened.
    pub op: Op,
    /// The row's key (lossy UTF-8).
    pub key: String,
    /// The value before.
    pub before: Option<String>,
    /// The value after.
    pub after: Option<String>,
}

impl ChangeEvent {
    /// The topic record's value: `version u8 (=1) | lsn u64 | commit_lsn u64 | txn u64 |
    /// index u32 | count u32 | op u8 (0 insert, 1 update, 2 delete) | key | before |
    /// after`, little-endian, where the key is `len u32 | UTF-8` and before and after are
    /// `present u8 | [len u32 | UTF-8]`. (Binary rather than JSON: the playground links no
    /// JSON codec for it.)
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(48 + self.key.len());
        b.push(1);
        for x in [self.lsn, self.commit_lsn, self.txn] {
            b.extend_from_slice(&x.to_le_bytes());
        }
        b.extend_from_slice(&self.index.to_le_bytes());
        b.extend_from_slice(&self.count.to_le_bytes());
        b.push(match self.op {
            Op::Insert => 0,
            Op::Update => 1,
            Op::Delete => 2,
        });
        let put = |b: &mut Vec<u8>, s: &str| {
            let len = u32::try_from(s.len()).expect("keys and values are bounded");
            b.extend_from_slice(&len.to_le_bytes());
            b.extend_from_slice(s.as_bytes());
        };
        put(&mut b, &self.key);
        for v in [&self.before, &self.after] {
            match v {
                Some(v) => {
                    b.push(1);
                    put(&mut b, v);
                }
                None => b.push(0),
            }
        }
        b
    }

    /// Parses a topic record's value (a description of the damage otherwise).
    pub fn decode(bytes: &[u8]) -> Result<ChangeEvent, String> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(1)?[0] != 1 {
            return Err("unknown change event version".into());
        }
        let (lsn, commit_lsn, txn) = (r.u64()?, r.u64()?, r.u64()?);
        let (index, count) = (r.u32()?, r.u32()?);
        let op = match r.take(1)?[0] {
            0 => Op::Insert,
            1 => Op::Update,
            2 => Op::Delete,
            other => return Err(format!("unknown operation {other}")),
        };
        let key = r.string()?;
        let before = r.optional()?;
        let after = r.optional()?;
        if r.at != bytes.len() {
            return Err(format!("{} trailing bytes", bytes.len() - r.at));
        }
        Ok(ChangeEvent {
            lsn,
            commit_lsn,
            txn,
            index,
            count,
            op,
            key,
            before,
            after,
        })
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let s = self
            .bytes
            .get(self.at..self.at + n)
            .ok_or_else(|| format!("change event truncated at byte {}", self.at))?;
        self.at += n;
        Ok(s)
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn string(&mut self) -> Result<String, String> {
        let len = self.u32()? as usize;
        String::from_utf8(self.take(len)?.to_vec()).map_err(|e| e.to_string())
    }

    fn optional(&mut self) -> Result<Option<String>, String> {
        match self.take(1)?[0] {
            0 => Ok(None),
            1 => self.string().map(Some),
            other => Err(format!("bad presence flag {other}")),
        }
    }
}

/// Errors from the connector.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CdcError {
    /// Its storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Reading the WAL failed.
    #[error("reading the WAL: {0}")]
    Wal(#[from] LogError),
    /// A WAL record does not decode.
    #[error("WAL record at {lsn}: {error}")]
    Record {
        /// Where.
        lsn: Lsn,
        /// What.
        error: String,
    },
    /// The broker failed.
    #[error("publishing: {0}")]
    Broker(#[from] BrokerError),
    /// A configuration that cannot work (the partitions, or a topic that does not have
    /// them).
    #[error("connector configuration: {0}")]
    Config(String),
    /// The WAL no longer holds the connector's position.
    #[error("the WAL starts at {first} but the connector resumes at {position}: changes in between are gone")]
    Gap {
        /// The connector's position.
        position: Lsn,
        /// The WAL's first LSN.
        first: Lsn,
    },
}

/// How the connector is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CdcConfig {
    /// The topic it publishes to.
    pub topic: String,
    /// The topic's partitions (1 to [`MAX_PARTITIONS`]): an event goes to the one its key
    /// hashes to (module docs). The state file's layout depends on it.
    pub partitions: u32,
    /// Its idempotent producer id.
    pub producer_id: u64,
    /// Its state file (on its own storage).
    pub state_file: String,
    /// WAL records read per step, at most.
    pub records_per_step: usize,
}

impl Default for CdcConfig {
    fn default() -> Self {
        CdcConfig {
            topic: "changes".into(),
            partitions: 1,
            producer_id: 0xCDC,
            state_file: "cdc.state".into(),
            records_per_step: 256,
        }
    }
}

/// The most partitions the connector publishes to.
pub const MAX_PARTITIONS: u32 = 64;

/// The connector's durable state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CdcState {
    /// Where reading resumes.
    pub resume: Lsn,
    /// The last commit all of whose events are acknowledged.
    pub last_commit: Option<Lsn>,
    /// Each partition's next sequence number (index: partition).
    pub next_seq: Vec<u64>,
}

impl CdcState {
    /// A fresh state for `partitions` partitions.
    fn new(partitions: u32) -> CdcState {
        CdcState {
            resume: Lsn(0),
            last_commit: None,
            next_seq: vec![0; partitions as usize],
        }
    }

    /// Events published over all partitions (the sum of the next sequence numbers).
    pub fn published(&self) -> u64 {
        self.next_seq.iter().sum()
    }
}

const MAGIC: u32 = u32::from_le_bytes(*b"LSCD");

/// A slot's bytes for `partitions`: `magic u32 "LSCD" | seq u64 | resume u64 |
/// last_commit + 1 u64 (0: none) | next_seq u64 × partitions | 0 u32 | crc32c u32` (LE;
/// the CRC covers everything before it). One partition: 44 bytes, as before partitions.
fn slot_bytes(partitions: u32) -> usize {
    28 + 8 * partitions as usize + 8
}

/// Where the second slot starts: the slot size rounded up to 64 bytes.
fn slot_stride(partitions: u32) -> u64 {
    (slot_bytes(partitions) as u64).div_ceil(64) * 64
}

fn encode_state(seq: u64, s: &CdcState) -> Vec<u8> {
    let n = u32::try_from(s.next_seq.len()).expect("bounded by MAX_PARTITIONS");
    let len = slot_bytes(n);
    let mut b = Vec::with_capacity(len);
    b.extend_from_slice(&MAGIC.to_le_bytes());
    b.extend_from_slice(&seq.to_le_bytes());
    b.extend_from_slice(&s.resume.0.to_le_bytes());
    b.extend_from_slice(&s.last_commit.map_or(0, |l| l.0 + 1).to_le_bytes());
    for q in &s.next_seq {
        b.extend_from_slice(&q.to_le_bytes());
    }
    b.extend_from_slice(&[0; 4]);
    let crc = crc32c::checksum(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    debug_assert_eq!(b.len(), len);
    b
}

fn decode_state(b: &[u8], partitions: u32) -> Option<(u64, CdcState)> {
    let u = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
    let len = slot_bytes(partitions);
    if b.len() != len
        || u32::from_le_bytes(b[..4].try_into().ok()?) != MAGIC
        || u32::from_le_bytes(b[len - 4..].try_into().ok()?) != crc32c::checksum(&b[..len - 4])
    {
        return None;
    }
    let last = u(20);
    Some((
        u(4),
        CdcState {
            resume: Lsn(u(12)),
            last_commit: last.checked_sub(1).map(Lsn),
            next_seq: (0..partitions as usize).map(|p| u(28 + 8 * p)).collect(),
        },
    ))
}

/// An update read from the WAL: its LSN, key, value before and after.
type Change = (Lsn, Vec<u8>, Option<Vec<u8>>, Option<Vec<u8>>);

/// An event waiting to be acknowledged.
#[derive(Clone, Debug)]
struct Outgoing {
    /// The partition its key hashes to.
    partition: u32,
    /// Its sequence number in that partition.
    seq: u64,
    event: ChangeEvent,
    /// Where reading may resume once this (the last of its transaction) is acknowledged.
    resume_after: Lsn,
    /// Sent and not refused (the broker has it, maybe not durably).
    sent: bool,
}

/// What a step did (for the trace).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CdcEvent {
    /// A committed transaction's events were queued for publishing.
    Captured {
        /// The commit.
        commit_lsn: Lsn,
        /// The transaction.
        txn: TxnId,
        /// Its events.
        events: u32,
    },
    /// An aborted (or rolled back) transaction was dropped.
    Discarded {
        /// The transaction.
        txn: TxnId,
    },
    /// Every event up to this commit is acknowledged; the state was written.
    Stored(CdcState),
}

/// The connector (module docs).
#[derive(Clone, Debug)]
pub struct Connector {
    config: CdcConfig,
    /// The last durable state (or the one being written).
    state: CdcState,
    control_seq: u64,
    state_sync: Option<(SyncId, CdcState)>,
    /// A newer state to write once the write in flight completes.
    next_state: Option<CdcState>,
    read_at: Lsn,
    open: crate::vec_map::VecMap<TxnId, (Lsn, Vec<Change>)>,
    outbox: VecDeque<Outgoing>,
    /// The sequence number the next captured event of each partition gets.
    seq: Vec<u64>,
    /// Per partition, the sequence after the last acknowledged event.
    acked_seq: Vec<u64>,
    /// The newest commit captured (skipped on re-reads).
    captured: Option<Lsn>,
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Connector {
    /// Opens the connector on its storage (recovers its state; a fresh one starts at the
    /// beginning of the WAL).
    pub fn open<S: Storage + ?Sized>(
        storage: &S,
        config: CdcConfig,
    ) -> Result<Connector, CdcError> {
        let n = config.partitions;
        if n == 0 || n > MAX_PARTITIONS {
            return Err(CdcError::Config(format!(
                "partitions: {n} is not 1 to {MAX_PARTITIONS}"
            )));
        }
        let mut best: Option<(u64, CdcState)> = None;
        if let Ok(len) = storage.len(&config.state_file) {
            let bytes = slot_bytes(n);
            for off in [0, slot_stride(n)] {
                if off + bytes as u64 > len {
                    continue;
                }
                let mut b = vec![0u8; bytes];
                storage.read(&config.state_file, off, &mut b)?;
                if let Some(s) = decode_state(&b, n) {
                    if best.as_ref().is_none_or(|b| s.0 > b.0) {
                        best = Some(s);
                    }
                }
            }
        }
        let (control_seq, state) = best.unwrap_or_else(|| (0, CdcState::new(n)));
        Ok(Connector {
            config,
            control_seq,
            state_sync: None,
            next_state: None,
            read_at: state.resume,
            open: crate::vec_map::VecMap::new(),
            outbox: VecDeque::new(),
            seq: state.next_seq.clone(),
            acked_seq: state.next_seq.clone(),
            captured: state.last_commit,
            state,
        })
    }

    /// The durable state.
    pub fn state(&self) -> &CdcState {
        &self.state
    }

    /// Where the database must keep its WAL from.
    pub fn hold(&self) -> Lsn {
        self.state.resume
    }

    /// Events captured and not yet acknowledged.
    pub fn backlog(&self) -> usize {
        self.outbox.len()
    }

    /// Where reading is (the next WAL LSN).
    pub fn read_at(&self) -> Lsn {
        self.read_at
    }

    /// The broker restarted: every event not acknowledged is sent again, in order.
    pub fn broker_restarted(&mut self) {
        for o in &mut self.outbox {
            o.sent = false;
        }
    }

    /// A completion of the connector's own storage.
    pub fn handle_sync_completion(&mut self, c: &SyncCompletion) {
        if self.state_sync.as_ref().is_some_and(|(id, _)| c.id >= *id) {
            if let Some((_, state)) = self.state_sync.take() {
                if c.result.is_ok() {
                    self.state = state;
                } else {
                    // Write it again (or a newer one).
                    self.next_state.get_or_insert(state);
                }
            }
        }
    }

    /// One step: read newly durable WAL records, capture committed transactions, send,
    /// collect acknowledgements, store the state (module docs).
    #[allow(clippy::too_many_arguments)]
    pub fn step<D: Storage + ?Sized, B: Storage + ?Sized, C: Storage + ?Sized>(
        &mut self,
        wal: &Log,
        db_storage: &D,
        broker: &mut Broker,
        broker_storage: &mut B,
        own: &mut C,
        now: u64,
    ) -> Result<Vec<CdcEvent>, CdcError> {
        let mut out = Vec::new();
        if self.read_at < wal.first_lsn() {
            return Err(CdcError::Gap {
                position: self.read_at,
                first: wal.first_lsn(),
            });
        }
        // 1. Read durable records.
        let end = wal.durable_next();
        let mut n = 0;
        while self.read_at < end && n < self.config.records_per_step {
            let lsn = self.read_at;
            let bytes = wal.read(db_storage, lsn)?;
            let rec = WalRecord::decode(&bytes).map_err(|e| CdcError::Record {
                lsn,
                error: e.to_string(),
            })?;
            match rec {
                WalRecord::Update {
                    txn,
                    key,
                    before,
                    after,
                    ..
                } => {
                    self.open
                        .entry(txn)
                        .or_insert((lsn, Vec::new()))
                        .1
                        .push((lsn, key, before, after));
                }
                WalRecord::Commit { txn } => {
                    let (_, changes) = self.open.remove(&txn).unwrap_or_default();
                    if self.captured.is_none_or(|c| lsn > c) {
                        self.capture(txn, lsn, changes, &mut out);
                    }
                }
                WalRecord::Abort { txn } => {
                    if self.open.remove(&txn).is_some() {
                        out.push(CdcEvent::Discarded { txn });
                    }
                }
                // CLRs belong to a transaction that will end with an abort; checkpoints
                // and the create record carry no row changes.
                WalRecord::Clr { .. } | WalRecord::Checkpoint { .. } | WalRecord::Create { .. } => {
                }
            }
            self.read_at = lsn.next();
            n += 1;
        }
        // 2. Send what was not sent, in order (a refusal stops the batch: order matters
        // within a partition; stopping all of them keeps it simple).
        for o in self.outbox.iter_mut().filter(|o| !o.sent) {
            let value = o.event.encode();
            let req = Produce {
                topic: &self.config.topic,
                partition: Some(o.partition),
                key: Some(o.event.key.as_bytes()),
                value: Some(&value),
                producer: Some((self.config.producer_id, o.seq)),
            };
            match broker.produce(broker_storage, &req, now) {
                Ok(_) => o.sent = true,
                Err(BrokerError::Partition(PartitionError::Busy(_))) => break,
                Err(e) => return Err(e.into()),
            }
        }
        // 3. Acknowledgements: the broker's producer table says which sequences it has
        // durably (a record at or below the high watermark).
        let mut acked_state = None;
        // The sequences move with every acknowledged event; the state takes them at a
        // transaction's last one.
        while let Some(o) = self.outbox.front() {
            if !o.sent || !self.is_acked(broker, o.partition, o.seq)? {
                break;
            }
            let o = self.outbox.pop_front().expect("front");
            self.acked_seq[o.partition as usize] = o.seq + 1;
            if o.event.index + 1 == o.event.count {
                acked_state = Some(CdcState {
                    resume: o.resume_after,
                    last_commit: Some(Lsn(o.event.commit_lsn)),
                    next_seq: self.acked_seq.clone(),
                });
            }
        }
        if let Some(s) = acked_state {
            self.next_state = Some(s);
        }
        // 4. Store the state.
        if self.state_sync.is_none() {
            if let Some(s) = self.next_state.take() {
                let seq = self.control_seq + 1;
                let slot = if seq.is_multiple_of(2) {
                    0
                } else {
                    slot_stride(self.config.partitions)
                };
                own.write(&self.config.state_file, slot, &encode_state(seq, &s))?;
                self.control_seq = seq;
                let id = own.sync()?;
                self.state_sync = Some((id, s.clone()));
                out.push(CdcEvent::Stored(s));
            }
        }
        Ok(out)
    }

    fn capture(&mut self, txn: TxnId, commit: Lsn, changes: Vec<Change>, out: &mut Vec<CdcEvent>) {
        self.captured = Some(commit);
        // Reading may resume after this commit, or at the oldest transaction still open.
        let resume_after = self
            .open
            .values()
            .map(|(first, _)| *first)
            .min()
            .unwrap_or(commit.next())
            .min(commit.next());
        let count = u32::try_from(changes.len()).expect("transactions are bounded");
        if count == 0 {
            // Nothing to publish, but the position may move past it.
            self.next_state = Some(CdcState {
                resume: resume_after,
                last_commit: Some(commit),
                next_seq: self.seq.clone(),
            })
            .filter(|_| self.outbox.is_empty());
            return;
        }
        for (index, (lsn, key, before, after)) in changes.into_iter().enumerate() {
            let op = match (&before, &after) {
                (None, Some(_)) => Op::Insert,
                (Some(_), Some(_)) => Op::Update,
                (_, None) => Op::Delete,
            };
            let event = ChangeEvent {
                lsn: lsn.0,
                commit_lsn: commit.0,
                txn: txn.0,
                index: u32::try_from(index).expect("bounded"),
                count,
                op,
                key: lossy(&key),
                before: before.as_deref().map(lossy),
                after: after.as_deref().map(lossy),
            };
            let partition = partition_of(event.key.as_bytes(), self.config.partitions);
            let seq = &mut self.seq[partition as usize];
            self.outbox.push_back(Outgoing {
                partition,
                seq: *seq,
                event,
                resume_after,
                sent: false,
            });
            *seq += 1;
        }
        out.push(CdcEvent::Captured {
            commit_lsn: commit,
            txn,
            events: count,
        });
    }

    fn is_acked(&self, broker: &Broker, partition: u32, seq: u64) -> Result<bool, CdcError> {
        let part = broker
            .partitions(&self.config.topic)?
            .get(partition as usize)
            .ok_or_else(|| {
                CdcError::Config(format!(
                    "{:?} has no partition {partition}",
                    self.config.topic
                ))
            })?;
        Ok(part.producer_acked(self.config.producer_id, seq))
    }
}
