//! A broker: topics of partitions on one storage, consumer groups, and committed offsets
//! kept in an internal compacted topic, as Kafka keeps them in `__consumer_offsets`.
//!
//! # Call order
//! [`Broker::open`] (recovery: every partition, then the offsets topic replayed into the
//! committed offsets) → [`Broker::create_topic`] → [`Broker::produce`] /
//! [`Broker::fetch`] / group calls → [`Broker::tick`] whenever virtual time moves: it
//! drains the storage's completions into every partition and issues one sync for all
//! partitions holding unsynced records. A produce is acknowledged ([`Broker::acked`])
//! once the partition's high watermark passes its offset.
//!
//! # Routing
//! A record with a key goes to partition `crc32c(key) mod partitions` (the same key, the
//! same partition: per-key order; [`partition_of`] computes it without a broker); without
//! a key, round robin.
//!
//! # Consumer groups
//! Members join and leave a group; every change is a rebalance: a new generation, and
//! the partitions of the group's topic assigned by ranges over the members in name order
//! (Kafka's range assignor). A commit names its generation: a commit from an older
//! generation is refused (a member that was rebalanced away cannot move offsets), and so
//! is one that would move a committed offset backwards — except through
//! [`Broker::reset_offset`], the explicit reset (to earliest, latest or any offset).
//! Committed offsets are records `group/topic/partition → offset` in the compacted topic
//! `__consumer_offsets`; a commit is durable when that record is.

use crate::vec_map::{VecMap, VecSet};

use crate::crc32c;
use crate::storage::{Storage, SyncCompletion};

use super::partition::{Appended, Partition, PartitionConfig, PartitionError, TopicRecord};

/// The internal topic of committed offsets.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// A topic's layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicConfig {
    /// Its name (letters, digits, `-`, `_`, `.`).
    pub name: String,
    /// Partitions (at least 1).
    pub partitions: u32,
    /// Segment size, retention and compaction of every partition (its `name` is ignored).
    pub partition: PartitionConfig,
}

impl TopicConfig {
    /// A plain topic.
    pub fn new(name: &str, partitions: u32) -> Self {
        TopicConfig {
            name: name.to_owned(),
            partitions,
            partition: PartitionConfig::new(name),
        }
    }
}

/// Errors from the broker.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// A partition failed.
    #[error(transparent)]
    Partition(#[from] PartitionError),
    /// The storage failed.
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    /// No such topic.
    #[error("no topic {0:?}")]
    NoTopic(String),
    /// No such partition.
    #[error("topic {topic:?} has no partition {partition}")]
    NoPartition {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
    },
    /// A bad name or count.
    #[error("invalid: {0}")]
    Invalid(String),
    /// A commit from a generation the group has left behind.
    #[error("group {group:?} is at generation {current}, the commit is from {got}")]
    StaleGeneration {
        /// The group.
        group: String,
        /// Its generation.
        current: u64,
        /// The commit's.
        got: u64,
    },
    /// A commit below the committed offset.
    #[error("committed offset of {key} is {current}; {got} would move it backwards")]
    Backwards {
        /// group/topic/partition.
        key: String,
        /// Committed.
        current: u64,
        /// Asked.
        got: u64,
    },
    /// A member that is not in the group, or a partition not assigned to it.
    #[error("{0}")]
    NotAssigned(String),
}

/// A group's state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Group {
    /// The topic it consumes.
    pub topic: String,
    /// Bumped at every rebalance.
    pub generation: u64,
    /// Members, in name order, with their partitions.
    pub assignment: VecMap<String, Vec<u32>>,
}

/// A record to produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Produce<'a> {
    /// The topic.
    pub topic: &'a str,
    /// The partition (`None`: routed by key, module docs).
    pub partition: Option<u32>,
    /// The key.
    pub key: Option<&'a [u8]>,
    /// The value (`None`: a tombstone).
    pub value: Option<&'a [u8]>,
    /// The idempotent producer's id and sequence number.
    pub producer: Option<(u64, u64)>,
}

/// Where a reset puts a group's offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetTo {
    /// The partition's first record.
    Earliest,
    /// After its last acknowledged record.
    Latest,
    /// This offset.
    Offset(u64),
}

/// The broker (module docs).
#[derive(Clone, Debug)]
pub struct Broker {
    topics: VecMap<String, (TopicConfig, Vec<Partition>)>,
    offsets: Partition,
    committed: VecMap<(String, String, u32), u64>,
    groups: VecMap<String, Group>,
    round_robin: u64,
}

fn offsets_key(group: &str, topic: &str, partition: u32) -> String {
    format!("{group}/{topic}/{partition}")
}

fn check_name(name: &str) -> Result<(), BrokerError> {
    if name.is_empty()
        || name.len() > 100
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(BrokerError::Invalid(format!(
            "{name:?}: names are 1 to 100 letters, digits, '-', '_' or '.'"
        )));
    }
    Ok(())
}

/// The partition of `partitions` a record keyed `key` goes to (module docs, "Routing").
pub fn partition_of(key: &[u8], partitions: u32) -> u32 {
    assert!(partitions > 0, "a topic has at least one partition");
    crc32c::checksum(key) % partitions
}

impl Broker {
    /// Opens (recovers) the broker with these topics (created empty if new).
    pub fn open<S: Storage + ?Sized>(
        storage: &mut S,
        topics: &[TopicConfig],
    ) -> Result<Broker, BrokerError> {
        let (offsets, _) = Partition::open(
            storage,
            PartitionConfig {
                compacted: true,
                tombstone_retention_ticks: 0,
                ..PartitionConfig::new(OFFSETS_TOPIC)
            },
        )?;
        let mut b = Broker {
            topics: VecMap::new(),
            offsets,
            committed: VecMap::new(),
            groups: VecMap::new(),
            round_robin: 0,
        };
        for t in topics {
            b.create_topic(storage, t.clone())?;
        }
        // Replay the committed offsets.
        let mut at = b.offsets.start_offset();
        loop {
            let batch = b.offsets.read(&*storage, at, 256)?;
            let Some(last) = batch.last() else { break };
            at = last.offset + 1;
            for r in batch {
                let (Some(k), Some(v)) = (r.key, r.value) else {
                    continue;
                };
                let (Ok(k), Ok(v)) = (String::from_utf8(k), <[u8; 8]>::try_from(v.as_slice()))
                else {
                    continue;
                };
                let mut parts = k.rsplitn(3, '/');
                let (Some(p), Some(t), Some(g)) = (parts.next(), parts.next(), parts.next()) else {
                    continue;
                };
                if let Ok(p) = p.parse() {
                    b.committed
                        .insert((g.to_owned(), t.to_owned(), p), u64::from_le_bytes(v));
                }
            }
        }
        Ok(b)
    }

    /// Creates a topic (or opens it: recovery of its partitions).
    pub fn create_topic<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        config: TopicConfig,
    ) -> Result<(), BrokerError> {
        check_name(&config.name)?;
        if config.partitions == 0 || config.partitions > 1024 {
            return Err(BrokerError::Invalid("partitions: 1 to 1024".into()));
        }
        if self.topics.contains_key(&config.name) {
            return Ok(());
        }
        let mut parts = Vec::new();
        for p in 0..config.partitions {
            let (part, _) = Partition::open(
                storage,
                PartitionConfig {
                    name: format!("{}-{p}", config.name),
                    ..config.partition.clone()
                },
            )?;
            parts.push(part);
        }
        self.topics.insert(config.name.clone(), (config, parts));
        Ok(())
    }

    /// The partitions of `topic`.
    pub fn partitions(&self, topic: &str) -> Result<&[Partition], BrokerError> {
        Ok(&self
            .topics
            .get(topic)
            .ok_or_else(|| BrokerError::NoTopic(topic.to_owned()))?
            .1)
    }

    fn partition_mut(
        &mut self,
        topic: &str,
        partition: u32,
    ) -> Result<&mut Partition, BrokerError> {
        let (_, parts) = self
            .topics
            .get_mut(topic)
            .ok_or_else(|| BrokerError::NoTopic(topic.to_owned()))?;
        parts
            .get_mut(partition as usize)
            .ok_or(BrokerError::NoPartition {
                topic: topic.to_owned(),
                partition,
            })
    }

    fn partition(&self, topic: &str, partition: u32) -> Result<&Partition, BrokerError> {
        self.partitions(topic)?
            .get(partition as usize)
            .ok_or(BrokerError::NoPartition {
                topic: topic.to_owned(),
                partition,
            })
    }

    /// The partition a record with `key` goes to (module docs).
    pub fn route(&mut self, topic: &str, key: Option<&[u8]>) -> Result<u32, BrokerError> {
        let n = self.partitions(topic)?.len() as u64;
        let p = match key {
            Some(k) => u64::from(partition_of(k, u32::try_from(n).expect("at most 1024"))),
            None => {
                self.round_robin += 1;
                self.round_robin % n
            }
        };
        Ok(u32::try_from(p).expect("at most 1024 partitions"))
    }

    /// Appends a record (to its partition, or routed by key); returns the partition and
    /// what the append did. Acknowledged once durable ([`Broker::acked`]).
    pub fn produce<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        req: &Produce<'_>,
        now: u64,
    ) -> Result<(u32, Appended), BrokerError> {
        let p = match req.partition {
            Some(p) => p,
            None => self.route(req.topic, req.key)?,
        };
        let a = self.partition_mut(req.topic, p)?.append(
            storage,
            req.key,
            req.value,
            now,
            req.producer,
        )?;
        Ok((p, a))
    }

    /// Whether the record at `offset` of `topic`/`partition` is acknowledged (durable).
    pub fn acked(&self, topic: &str, partition: u32, offset: u64) -> Result<bool, BrokerError> {
        Ok(offset < self.partition(topic, partition)?.high_watermark())
    }

    /// Up to `max` acknowledged records of `topic`/`partition` from `offset` on.
    pub fn fetch<S: Storage + ?Sized>(
        &self,
        storage: &S,
        topic: &str,
        partition: u32,
        offset: u64,
        max: usize,
    ) -> Result<Vec<TopicRecord>, BrokerError> {
        Ok(self
            .partition(topic, partition)?
            .read(storage, offset, max)?)
    }

    /// Time moves: completions reach every partition; one sync covers every partition
    /// with unsynced records; retention and compaction run.
    pub fn tick<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        now: u64,
    ) -> Result<(), BrokerError> {
        let completions: Vec<SyncCompletion> = storage.take_completions();
        for c in &completions {
            self.offsets.handle_sync_completion(storage, c)?;
            for (_, parts) in self.topics.values_mut() {
                for p in parts {
                    p.handle_sync_completion(storage, c)?;
                }
            }
        }
        for (_, parts) in self.topics.values_mut() {
            for p in parts.iter_mut() {
                p.enforce_retention(storage, now)?;
                if p.config().compacted && now.is_multiple_of(50) {
                    p.compact(storage, now)?;
                }
            }
        }
        if now % 50 == 25 && !self.offsets.compacting() {
            self.offsets.compact(storage, now)?;
        }
        let unsynced = self.offsets.has_unsynced()
            || self
                .topics
                .values()
                .any(|(_, ps)| ps.iter().any(Partition::has_unsynced));
        if unsynced {
            let id = storage.sync()?;
            self.offsets.note_sync(id);
            for (_, parts) in self.topics.values_mut() {
                for p in parts {
                    if p.has_unsynced() {
                        p.note_sync(id);
                    }
                }
            }
        }
        Ok(())
    }

    /// Starts a key compaction of every partition of `topic` now, rather than at the next
    /// scheduled one (Kafka's cleaner asked to run; the same [`Partition::compact`]: a new
    /// generation, synced, then switched to in [`Broker::tick`]). A partition already
    /// compacting, or with nothing superseded, is left alone. Returns the partitions
    /// whose compaction started. A topic that is not compacted is
    /// [`BrokerError::Invalid`].
    pub fn compact_now<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        topic: &str,
        now: u64,
    ) -> Result<Vec<u32>, BrokerError> {
        let (config, parts) = self
            .topics
            .get_mut(topic)
            .ok_or_else(|| BrokerError::NoTopic(topic.to_owned()))?;
        if !config.partition.compacted {
            return Err(BrokerError::Invalid(format!(
                "{topic:?} is not a compacted topic: it keeps every record (or drops whole segments by retention)"
            )));
        }
        let mut started = Vec::new();
        for (i, p) in parts.iter_mut().enumerate() {
            if !p.compacting() && p.compact(storage, now)?.is_some() {
                started.push(u32::try_from(i).expect("at most 1024 partitions"));
            }
        }
        Ok(started)
    }

    /// `member` joins `group` (consuming `topic`): a rebalance.
    pub fn join(&mut self, group: &str, topic: &str, member: &str) -> Result<&Group, BrokerError> {
        check_name(group)?;
        check_name(member)?;
        let n = self.partitions(topic)?.len();
        let g = self.groups.entry(group.to_owned()).or_default();
        if !g.topic.is_empty() && g.topic != topic {
            return Err(BrokerError::Invalid(format!(
                "group {group:?} consumes {:?}, not {topic:?}",
                g.topic
            )));
        }
        g.topic = topic.to_owned();
        g.assignment.insert(member.to_owned(), Vec::new());
        Self::rebalance(g, n);
        Ok(&self.groups[group])
    }

    /// `member` leaves `group`: a rebalance.
    pub fn leave(&mut self, group: &str, member: &str) -> Result<(), BrokerError> {
        let g = self
            .groups
            .get_mut(group)
            .ok_or_else(|| BrokerError::NotAssigned(format!("no group {group:?}")))?;
        if g.assignment.remove(member).is_none() {
            return Err(BrokerError::NotAssigned(format!(
                "{member:?} is not in {group:?}"
            )));
        }
        let n = self.topics.get(&g.topic).map_or(0, |(_, ps)| ps.len());
        Self::rebalance(g, n);
        Ok(())
    }

    fn rebalance(g: &mut Group, partitions: usize) {
        g.generation += 1;
        let members: Vec<String> = g.assignment.keys().cloned().collect();
        let m = members.len().max(1);
        for (i, name) in members.iter().enumerate() {
            let lo = i * partitions / m;
            let hi = (i + 1) * partitions / m;
            let ps = (lo..hi)
                .map(|p| u32::try_from(p).expect("at most 1024 partitions"))
                .collect();
            g.assignment.insert(name.clone(), ps);
        }
    }

    /// The group's state.
    pub fn group(&self, group: &str) -> Option<&Group> {
        self.groups.get(group)
    }

    /// The committed offset of `group` on `topic`/`partition` (`None`: never committed).
    pub fn committed(&self, group: &str, topic: &str, partition: u32) -> Option<u64> {
        self.committed
            .get(&(group.to_owned(), topic.to_owned(), partition))
            .copied()
    }

    fn write_commit<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        group: &str,
        topic: &str,
        partition: u32,
        offset: u64,
        now: u64,
    ) -> Result<(), BrokerError> {
        let key = offsets_key(group, topic, partition);
        self.offsets.append(
            storage,
            Some(key.as_bytes()),
            Some(&offset.to_le_bytes()),
            now,
            None,
        )?;
        self.committed
            .insert((group.to_owned(), topic.to_owned(), partition), offset);
        Ok(())
    }

    /// `member` of `group`, at `generation`, commits `offset` (the next offset to
    /// consume) for a partition assigned to it (module docs: stale generations and
    /// backwards moves are refused). Durable with the offsets topic's next sync.
    #[allow(clippy::too_many_arguments)]
    pub fn commit<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        group: &str,
        member: &str,
        generation: u64,
        partition: u32,
        offset: u64,
        now: u64,
    ) -> Result<(), BrokerError> {
        let g = self
            .groups
            .get(group)
            .ok_or_else(|| BrokerError::NotAssigned(format!("no group {group:?}")))?;
        if generation != g.generation {
            return Err(BrokerError::StaleGeneration {
                group: group.to_owned(),
                current: g.generation,
                got: generation,
            });
        }
        if !g
            .assignment
            .get(member)
            .is_some_and(|ps| ps.contains(&partition))
        {
            return Err(BrokerError::NotAssigned(format!(
                "partition {partition} is not assigned to {member:?} in {group:?}"
            )));
        }
        let topic = g.topic.clone();
        if let Some(current) = self.committed(group, &topic, partition) {
            if offset < current {
                return Err(BrokerError::Backwards {
                    key: offsets_key(group, &topic, partition),
                    current,
                    got: offset,
                });
            }
        }
        self.write_commit(storage, group, &topic, partition, offset, now)
    }

    /// Resets `group`'s offset on `topic`/`partition` (an administrative reset; moves
    /// backwards too).
    pub fn reset_offset<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        group: &str,
        topic: &str,
        partition: u32,
        to: ResetTo,
        now: u64,
    ) -> Result<u64, BrokerError> {
        let p = self.partition(topic, partition)?;
        let offset = match to {
            ResetTo::Earliest => p.start_offset(),
            ResetTo::Latest => p.high_watermark(),
            ResetTo::Offset(o) => o,
        };
        self.write_commit(storage, group, topic, partition, offset, now)?;
        Ok(offset)
    }

    /// The committed offsets (for checks).
    pub fn all_committed(&self) -> &VecMap<(String, String, u32), u64> {
        &self.committed
    }

    /// Whether the offsets topic's last commit is durable.
    pub fn commits_durable(&self) -> bool {
        self.offsets.high_watermark() == self.offsets.next_offset()
    }

    /// Checks every partition; panics on a violation (a bug).
    pub fn validate(&self) {
        self.offsets.validate();
        for (_, parts) in self.topics.values() {
            for p in parts {
                p.validate();
            }
        }
        for g in self.groups.values() {
            let mut seen = VecSet::new();
            for ps in g.assignment.values() {
                for p in ps {
                    assert!(seen.insert(*p), "partition {p} assigned twice");
                }
            }
        }
    }
}
