//! Topics: partitioned, durable, replayable logs of records — the organization's spine.
//!
//! * [`partition`]: one partition — a [`crate::Log`] of records with offsets, idempotent
//!   producers, retention by size and age, key compaction by generations.
//!
//! Replication of each partition by a Raft group, consumer groups and CDC build on this.

pub mod partition;

pub use partition::{
    Appended, Partition, PartitionConfig, PartitionError, PartitionRecovery, TopicRecord,
    PRODUCER_WINDOW,
};
