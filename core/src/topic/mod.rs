//! Topics: partitioned, durable, replayable logs of records — the organization's spine.
//!
//! * [`partition`]: one partition — a [`crate::Log`] of records with offsets, idempotent
//!   producers, retention by size and age, key compaction by generations.
//! * [`broker`]: topics of partitions on one storage, routing by key, acknowledgements
//!   at the high watermark, consumer groups (range assignment, generations) and committed
//!   offsets in the compacted topic `__consumer_offsets`.
//!
//! * [`replicated`]: a topic whose partitions (and consumer offsets and groups) are each
//!   replicated by a Raft group over simulated brokers: acks=all, batching, exactly-once
//!   placement across leader failover, linearizable fetches, offsets that never go
//!   backwards, consumer groups with generations and fencing, retention by size and age
//!   and key compaction applied at apply time.

pub mod broker;
pub mod partition;
pub mod replicated;

pub use broker::{
    partition_of, Broker, BrokerError, Group, Produce, ResetTo, TopicConfig, OFFSETS_TOPIC,
};

pub use replicated::{
    Acks, Assignor, GroupState, ReplicatedConfig, ReplicatedError, ReplicatedTopic, Retention,
};

pub use partition::{
    Appended, Partition, PartitionConfig, PartitionError, PartitionRecovery, TopicRecord,
    PRODUCER_WINDOW,
};
