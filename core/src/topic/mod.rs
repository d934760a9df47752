//! Topics: partitioned, durable, replayable logs of records — the organization's spine.
//!
//! * [`partition`]: one partition — a [`crate::Log`] of records with offsets, idempotent
//!   producers, retention by size and age, key compaction by generations.
//! * [`broker`]: topics of partitions on one storage, routing by key, acknowledgements
//!   at the high watermark, consumer groups (range assignment, generations) and committed
//!   offsets in the compacted topic `__consumer_offsets`.
//!
//! Replication of each partition by a Raft group (issue 5's Raft) and CDC build on this.

pub mod broker;
pub mod partition;

pub use broker::{Broker, BrokerError, Group, Produce, ResetTo, TopicConfig, OFFSETS_TOPIC};

pub use partition::{
    Appended, Partition, PartitionConfig, PartitionError, PartitionRecovery, TopicRecord,
    PRODUCER_WINDOW,
};
