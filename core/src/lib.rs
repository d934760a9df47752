//! # logspine-core
//!
//! The engine of Logspine: "every database is a log plus indexes", made runnable.
//!
//! This crate is sans-IO and deterministic (DESIGN.md, principle 2): no clock, no OS
//! randomness, no threads, no `std::fs`, no web APIs. Bytes go through the [`Storage`]
//! trait, time arrives as ticks ([`SimDisk::advance`]), randomness comes from a seeded
//! [`Rng`]. It builds for `wasm32-unknown-unknown` with no imports at all (CI checks the
//! import section of `examples/wasm_probe.rs`).
//!
//! * [`storage`]: the page-cache-over-a-disk contract every backend implements.
//! * [`sim_disk`]: the simulated disk: sync latency, crashes, torn writes, bit rot.
//! * [`log`]: the one append-only `Log` every layer reuses.
//! * [`conformance`]: the suite every `Storage` implementation must pass.
//! * [`btree`]: the page-based B+tree index: checksummed pages, a buffer pool that obeys
//!   the WAL rule, page-level redo records.
//! * [`db`]: the database: WAL, transactions, group commit, checkpoints, ARIES recovery.
//! * [`lsm`]: the LSM tree's parts: memtable, bloom filters, SSTables, the merge iterator,
//!   the manifest of version edits, compaction policy and mechanism.
//! * [`cdc`]: change data capture from the WAL into a topic, exactly once; views.
//! * [`topic`]: topic partitions: offsets, idempotent producers, retention, compaction.
//! * [`world`]: the whole stack behind one deterministic step function, its typed trace,
//!   scenarios as versioned JSON, and time travel.
//! * [`json`]: the small JSON reader and writer of the scenario, trace and share formats.
//! * [`raft`]: Raft replication: a sans-IO node whose log is a `Log`, a replicated
//!   key-value state machine, a deterministic cluster simulator and safety checkers.

pub mod btree;
pub mod cdc;
pub mod conformance;
pub mod crc32c;
pub mod db;
pub mod json;
pub mod log;
pub mod lsm;
mod meter;
pub mod raft;
pub mod rng;
pub mod sim_disk;
pub mod sort;
pub mod storage;
pub mod topic;
pub mod vec_map;
pub mod world;

pub use log::{
    Log, LogConfig, LogError, LogScan, LogStop, Lsn, Record, RecoveryPolicy, RecoveryReport,
    SegmentInfo, StopReason,
};
pub use rng::Rng;
pub use sim_disk::{CrashReport, SimDisk, SimDiskConfig, SyncLatency, TornWrite};
pub use storage::{Storage, StorageError, StorageStats, SyncCompletion, SyncId};
