//! The world's consumers of the change topic: how a view reads it (at its own pace, on a
//! plain, size-retained or compacted topic) and the members of the consumer group
//! [`GROUP`] (Kafka's consumers: a generation, assigned partitions, positions, committed
//! offsets).
//!
//! # Reading a topic that loses records
//! * **Compaction** removes records superseded by a later record of the same key. A
//!   reader whose position fell below the partition's start (or into a gap) skips to the
//!   next record held: nothing it needs is gone, since every key's latest record stays.
//!   But a surviving change event's `before` may name a value the reader never saw (the
//!   record that set it was compacted away), so a view reads a compacted topic as a table:
//!   the `before` it applies is its own last value for the key (Kafka Streams reads a
//!   compacted changelog the same way). A rebuild from offset zero then equals the view
//!   maintained incrementally.
//! * **Size retention** drops whole segments from the front. A reader below the start
//!   would miss changes for good: a view there stops ([`ConsumeError::Behind`]) and says
//!   so, rather than skipping to a wrong state; a group member resets to the earliest
//!   offset held and says so (Kafka's `auto.offset.reset = earliest`).
//!
//! # Partitions
//! Both rules hold per partition: `changes` may have several (`config.partitions`), each
//! with its own start, retention and compactions. A view reads all of them, taking turns
//! ([`MaterializedView::poll_table`]); a member reads the ones assigned to it, taking
//! turns too, `pace` records per tick in all. A row's changes are all in one partition
//! (the connector routes by key), so per-key order — all a view needs — holds.

use crate::cdc::views::MaterializedView;
use crate::storage::Storage;
use crate::topic::{Broker, BrokerError};
use crate::vec_map::VecMap;

/// The consumer group whose members the world's actions add and remove.
pub const GROUP: &str = "app";

/// Why a view could not read on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum ConsumeError {
    /// Retention dropped the records from `position` to `start` of `partition`.
    Behind {
        /// The partition.
        partition: u32,
        /// The view's position.
        position: u64,
        /// The partition's first offset.
        start: u64,
    },
    /// The broker failed.
    Broker(String),
}

impl From<BrokerError> for ConsumeError {
    fn from(e: BrokerError) -> Self {
        ConsumeError::Broker(e.to_string())
    }
}

/// Consumes up to `max` acknowledged change events of `topic` (every partition) into
/// `v`; returns how many were applied. `table`: the topic is compacted, and `seen` is the
/// view's own last value per key (module docs).
pub(super) fn consume_view<S: Storage + ?Sized>(
    v: &mut MaterializedView,
    seen: Option<&mut crate::cdc::views::Rows>,
    broker: &Broker,
    storage: &S,
    topic: &str,
    max: usize,
) -> Result<u64, ConsumeError> {
    for (p, part) in broker.partitions(topic)?.iter().enumerate() {
        let p = u32::try_from(p).expect("at most 1024 partitions");
        let start = part.start_offset();
        if v.position(p) < start {
            if seen.is_none() {
                return Err(ConsumeError::Behind {
                    partition: p,
                    position: v.position(p),
                    start,
                });
            }
            v.set_position(p, start);
        }
    }
    if max == 0 {
        return Ok(0);
    }
    Ok(v.poll_table(broker, storage, topic, max, seen)?)
}

/// A member of [`GROUP`], consuming the partitions assigned to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Member {
    /// The generation of its assignment.
    pub(super) generation: u64,
    /// Its partitions and the next offset to read in each.
    pub(super) positions: VecMap<u32, u64>,
    /// What it last committed per partition.
    pub(super) committed: VecMap<u32, u64>,
    /// Records it reads per tick, at most.
    pub(super) pace: u64,
    /// Records read since it joined.
    pub(super) consumed: u64,
    /// It was reset and has not caught up yet.
    pub(super) replaying: bool,
    /// Which of its partitions it reads first next tick (they take turns).
    pub(super) turn: usize,
}

impl Member {
    /// A member with nothing assigned yet.
    pub(super) fn new(pace: u64) -> Self {
        Member {
            generation: 0,
            positions: VecMap::new(),
            committed: VecMap::new(),
            pace,
            consumed: 0,
            replaying: false,
            turn: 0,
        }
    }

    /// Takes the assignment of `generation`: each partition is read from the group's
    /// committed offset (what another member consumed and did not commit is read again:
    /// at least once), or from the start when nothing was committed.
    pub(super) fn assign(&mut self, broker: &Broker, topic: &str, generation: u64, parts: &[u32]) {
        self.generation = generation;
        let starts: Vec<u64> = broker
            .partitions(topic)
            .map(|ps| ps.iter().map(|p| p.start_offset()).collect())
            .unwrap_or_default();
        self.positions = VecMap::from_iter(parts.iter().map(|&p| {
            let at = broker
                .committed(GROUP, topic, p)
                .or_else(|| starts.get(p as usize).copied())
                .unwrap_or(0);
            (p, at)
        }));
        self.committed = VecMap::from_iter(
            parts
                .iter()
                .filter_map(|&p| broker.committed(GROUP, topic, p).map(|o| (p, o))),
        );
    }
}
