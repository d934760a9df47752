//! The world: the whole simulated stack behind one deterministic step function, driven by
//! a seed and a list of timed actions; what it does is the typed [`trace`]. Scenarios
//! ([`scenario`]) describe a run as versioned JSON; [`timeline`] gives time travel over a
//! run (seek anywhere, branch from the past).
//!
//! Today the world holds the database (either index, on a [`SimDisk`]) and, with
//! `config.cdc`, change data capture: a broker with the topic `changes`, the connector
//! publishing the database's committed transactions into it exactly once, and three views
//! consuming it — each machine on its own disk, each crashed by its own action — and, with
//! `config.raft_nodes`, a Raft cluster replicating a key-value store (nodes crashed,
//! restarted and partitioned by actions, a client writing through the leader).
//!
//! With CDC, actions also add and remove members of the consumer group `app` on
//! `changes`, set any consumer's pace and reset its offset; `changes` may keep
//! everything, drop old segments (`retention_bytes`) or be log-compacted (`compacted`);
//! `dual_write` adds the application's own writes to a second topic for contrast; and
//! `compare_indexes` runs a shadow database with the other index on the same
//! acknowledged transactions. The mapping of issue 7's fault list: writes (`write`,
//! `delete`), workloads (`workload`), crash (`crash`, `crash_broker`, `crash_connector`,
//! `raft_crash`), restart (a crash reopens at once; `raft_restart`), partition and heal
//! (`raft_partition`, `raft_heal`), drop and delay messages (`raft_loss`, `raft_delay`),
//! slow disk (`slow_disk`), torn write (`crash` with `tear_on_crash` and a sync in
//! flight), bit rot (`flip_bit`), add or remove a consumer (`join_consumer`,
//! `leave_consumer`), rebuild a view (`rebuild_view`, `reset_offset` to `earliest`),
//! compact (`compact`). Compaction is also the engines' own: the LSM's policy after
//! flushes (which `checkpoint` forces), the compacted topic every 50 ticks. `compact`
//! starts one now: the LSM's manual compaction ([`Db::compact_now`], RocksDB's
//! `CompactRange`: the memtable flushed, then each level merged whole into the next) and,
//! with `compacted`, the broker's key compaction of every partition of `changes`
//! ([`Broker::compact_now`]); the trace shows them as any compaction (`compaction_picked`
//! with reason `manual`, `compaction_done`, `topic_compacted`). The B+tree has no
//! compaction (its pages are updated in place and never freed): with it and a topic that
//! is not compacted, `compact` is refused, and a scenario that asks for it is an error.
//!
//! # Partitions
//! `changes` has `config.partitions` partitions (1 to [`MAX_PARTITIONS`]). The connector
//! routes each change by its row's key (the broker's hash, [`crate::topic::partition_of`])
//! and keeps its exactly-once state per partition (a sequence number each); the views
//! read every partition; the group `app` spreads the partitions over its members by
//! ranges; retention and compaction run per partition. Per-key order holds (a row's
//! changes are all in one partition); nothing orders partitions against each other, so a
//! view may see a transaction's changes to two rows in either order — the final views
//! are the same. Trace events about a partition name it; those about a consumer of
//! several partitions list every partition's offset (`positions`, absent with one
//! partition, so one-partition traces are as they were).
//!
//! # Call order
//! [`World::new`] → any mix of [`World::apply`] (an [`Action`]) and [`World::tick`] (one
//! tick of virtual time: the disk completes syncs, the database ticks, the workload's
//! clients act, invariants are checked when a recovery has finished). Both return the
//! [`TraceKind`]s they caused, in order. Nothing reads a clock or OS randomness: the same
//! seed and actions give the same trace on every platform.
//!
//! # Invariants checked (trace kind `invariant_checked`)
//! * `acknowledged_commits_survive`: after a crash, every commit the database
//!   acknowledged is in the recovered WAL.
//! * `recovered_state_is_committed_state`: once recovery (undo included) has finished, the
//!   database's contents equal the replay, in commit order, of exactly the transactions
//!   whose commit record survived.
//! * `final_state_is_committed_state` ([`World::check_final`]): at the end of a run, after
//!   settling, the contents equal every committed transaction.
//! * `views_equal_database_and_rebuilds` (with CDC, at the end): every view equals the
//!   same view rebuilt from offset 0 and the view computed from the database's rows.
//!   With size retention past its first segment no rebuild from offset 0 is possible:
//!   views are compared with the database only, and the detail says so.
//! * `shadow_equals_database` (with `compare_indexes`, at the end, when the database
//!   never crashed): the shadow database holds the same rows.
//! * `raft_safety` (with Raft, every step): the simulator's safety checkers (election
//!   safety, log matching, leader completeness, state machine safety) hold.
//! * `raft_nodes_converge` (with Raft, at the end, after settling): every node that is up
//!   holds the same state, with every acknowledged write.
//! * `raft_replicates_database` (with `config.raft_replicates`, at the end, after
//!   settling): the nodes hold exactly the database's rows.
//!
//! A failed check is recorded ([`World::failures`]), never a panic; the runner's exit
//! status reports it.

mod consumers;
pub mod inspect;
pub mod library;
pub mod scenario;
pub mod timeline;
pub mod trace;

use std::collections::{BTreeMap, VecDeque};

use crate::json::{self, Obj, Unknown, Value, Writer};

use crate::cdc::views::{MaterializedView, View, ViewKind};
use crate::cdc::{CdcConfig, CdcEvent, ChangeEvent, Connector, Op};
use crate::db::{CheckpointConfig, Db, DbConfig, DbError, GroupCommitConfig, IndexKind, TxnId};
use crate::log::{LogConfig, Lsn};
use crate::lsm::{CompactionConfig, LsmConfig};
use crate::raft::kv::KvOp;
use crate::raft::sim::{ClientOp, ClientRequest, ClientResult, Cluster, ClusterConfig};
use crate::rng::Rng;
use crate::sim_disk::{SimDisk, SimDiskConfig, SyncLatency};
use crate::storage::Storage;
use crate::topic::{Broker, BrokerError, Produce, ResetTo, TopicConfig};
use crate::vec_map::{VecMap, VecSet};

/// Whether every node that is up has applied as far as the leader has committed, and
/// there is a leader.
fn raft_converged(c: &Cluster) -> bool {
    let Some(leader) = c.leader() else {
        return false;
    };
    let Some(l) = c.server(leader).and_then(|s| s.node()) else {
        return false;
    };
    let commit = l.commit_index();
    c.servers()
        .iter()
        .filter(|(n, _)| c.is_up(**n))
        .all(|(_, s)| s.kv().applied() >= commit)
}

pub use consumers::GROUP;
pub use scenario::{Condition, NarrationStep, Scenario, ScenarioError, TimedAction};
pub use timeline::Timeline;
pub use trace::{trace_hash, trace_hash_push, TraceEvent, TraceKind, TRACE_HASH_EMPTY};

/// Which index the world's database keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IndexChoice {
    /// The page B+tree.
    #[default]
    Btree,
    /// The LSM tree.
    Lsm,
}

fn default_latency() -> [u64; 2] {
    [5, 15]
}
fn default_batch() -> usize {
    8
}
fn default_wait() -> u64 {
    2
}
fn default_checkpoint() -> u64 {
    64 * 1024
}
fn default_memtable() -> u64 {
    4096
}

/// How the world is set up (the `config` of a scenario). Every field has a default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorldConfig {
    /// The database's index.
    pub index: IndexChoice,
    /// Group commit on or off.
    pub group_commit: bool,
    /// Group commit: the most commits per sync.
    pub max_batch: usize,
    /// Group commit: the longest a commit waits for company, in ticks.
    pub max_wait_ticks: u64,
    /// Sync latency in ticks, uniform in `[min, max]`.
    pub sync_latency: [u64; 2],
    /// Whether a crash tears the last write of a sync in flight.
    pub tear_on_crash: bool,
    /// A checkpoint every this many WAL bytes (0: only when asked).
    pub checkpoint_every_wal_bytes: u64,
    /// LSM: the memtable is frozen at this many bytes.
    pub memtable_bytes: u64,
    /// Change data capture: a broker (its own disk) with the topic `changes`, a connector
    /// (its own disk) publishing the database's committed transactions, and three views
    /// consuming it (`replica`, `aggregate`, `search`).
    pub cdc: bool,
    /// CDC: change events each view consumes per tick at most (its own pace).
    pub view_events_per_tick: u64,
    /// A Raft cluster of this many nodes (0: none; 3 to 7), each on its own disk, a
    /// replicated key-value store; one simulator step (1 ms) per tick.
    pub raft_nodes: u64,
    /// The Raft cluster replicates the database: its one client, the feed, consumes
    /// `changes` (every partition, in order) and puts each batch of change events through
    /// the Raft log as one command, so every node ends holding the database's rows (check
    /// `raft_replicates_database`). Needs `cdc` and `raft_nodes`; `raft_write` is then
    /// refused, since the feed is the cluster's only writer.
    pub raft_replicates: bool,
    /// CDC: dual writes for contrast — after the database acknowledges a commit, the
    /// application itself produces the transaction's writes to a second topic `dual`
    /// ([`DUAL_WRITE_DELAY_TICKS`] later, a plain producer), and a replica view
    /// (`dual-replica`) consumes it. Needs `cdc`.
    pub dual_write: bool,
    /// CDC: drop the oldest segments of `changes` while it holds more than this many
    /// bytes (0: keep everything). A view can then no longer be rebuilt from offset 0: a
    /// rebuild is refused once retention has dropped a segment, and a view that falls
    /// behind the retained start stops and says so. Needs `cdc`; 4 KiB segments.
    pub retention_bytes: u64,
    /// CDC: `changes` is a log-compacted topic: the broker keeps the latest record of
    /// each key (compaction every 50 ticks), so a rebuild from offset 0 still gives the
    /// same views. Needs `cdc`; 4 KiB segments.
    pub compacted: bool,
    /// A shadow database with the other index (on its own disk), fed every transaction
    /// the database acknowledges and every read, so both indexes' amplification can be
    /// compared on the same workload (trace kind `amplification`, every
    /// [`AMPLIFICATION_EVERY_TICKS`] and at the end). A measuring device: `crash` does not
    /// touch it, and its own events stay out of the trace.
    pub compare_indexes: bool,
    /// CDC: partitions of `changes` (1 to [`MAX_PARTITIONS`]; module docs, "Partitions").
    /// More than one needs `cdc`.
    pub partitions: u32,
}

/// The most partitions `changes` may have.
pub const MAX_PARTITIONS: u32 = 8;

/// With `compare_indexes`, both databases' amplification goes in the trace this often.
pub const AMPLIFICATION_EVERY_TICKS: u64 = 200;

fn default_view_rate() -> u64 {
    8
}

impl Default for WorldConfig {
    fn default() -> Self {
        WorldConfig {
            index: IndexChoice::Btree,
            group_commit: true,
            max_batch: default_batch(),
            max_wait_ticks: default_wait(),
            sync_latency: default_latency(),
            tear_on_crash: true,
            checkpoint_every_wal_bytes: default_checkpoint(),
            memtable_bytes: default_memtable(),
            cdc: false,
            view_events_per_tick: default_view_rate(),
            raft_nodes: 0,
            raft_replicates: false,
            dual_write: false,
            retention_bytes: 0,
            compacted: false,
            compare_indexes: false,
            partitions: 1,
        }
    }
}

impl WorldConfig {
    /// The fields of `config` in a scenario's JSON.
    const FIELDS: &'static [&'static str] = &[
        "index",
        "group_commit",
        "max_batch",
        "max_wait_ticks",
        "sync_latency",
        "tear_on_crash",
        "checkpoint_every_wal_bytes",
        "memtable_bytes",
        "cdc",
        "view_events_per_tick",
        "raft_nodes",
        "raft_replicates",
        "dual_write",
        "retention_bytes",
        "compacted",
        "compare_indexes",
        "partitions",
    ];

    /// Reads the configuration from its JSON (an object; an absent field takes its
    /// [`Default`] value, an unknown one is an error). The values are not checked here:
    /// [`WorldConfig::check`].
    pub fn from_json(v: &Value) -> Result<WorldConfig, json::Error> {
        let o = v.object("struct WorldConfig", Self::FIELDS, Unknown::Refuse)?;
        let d = WorldConfig::default();
        Ok(WorldConfig {
            index: o
                .opt_with("index", IndexChoice::from_json)?
                .unwrap_or(d.index),
            group_commit: o.bool_or("group_commit", d.group_commit)?,
            max_batch: o.usize_or("max_batch", d.max_batch)?,
            max_wait_ticks: o.u64_or("max_wait_ticks", d.max_wait_ticks)?,
            sync_latency: o
                .opt_with("sync_latency", |v| {
                    let (min, max) = v.to_pair("an array of length 2")?;
                    Ok([
                        min.to_u64().map_err(|e| e.at_index(0))?,
                        max.to_u64().map_err(|e| e.at_index(1))?,
                    ])
                })?
                .unwrap_or(d.sync_latency),
            tear_on_crash: o.bool_or("tear_on_crash", d.tear_on_crash)?,
            checkpoint_every_wal_bytes: o
                .u64_or("checkpoint_every_wal_bytes", d.checkpoint_every_wal_bytes)?,
            memtable_bytes: o.u64_or("memtable_bytes", d.memtable_bytes)?,
            cdc: o.bool_or("cdc", d.cdc)?,
            view_events_per_tick: o.u64_or("view_events_per_tick", d.view_events_per_tick)?,
            raft_nodes: o.u64_or("raft_nodes", d.raft_nodes)?,
            raft_replicates: o.bool_or("raft_replicates", d.raft_replicates)?,
            dual_write: o.bool_or("dual_write", d.dual_write)?,
            retention_bytes: o.u64_or("retention_bytes", d.retention_bytes)?,
            compacted: o.bool_or("compacted", d.compacted)?,
            compare_indexes: o.bool_or("compare_indexes", d.compare_indexes)?,
            partitions: o.u32_or("partitions", d.partitions)?,
        })
    }
}

impl IndexChoice {
    /// Its name in scenarios and on the page: `"btree"` or `"lsm"`.
    pub fn name(self) -> &'static str {
        match self {
            IndexChoice::Btree => "btree",
            IndexChoice::Lsm => "lsm",
        }
    }

    /// From [`IndexChoice::name`].
    pub fn parse(name: &str) -> Option<IndexChoice> {
        [IndexChoice::Btree, IndexChoice::Lsm]
            .into_iter()
            .find(|c| c.name() == name)
    }

    /// Reads `"btree"` or `"lsm"`.
    pub fn from_json(v: &Value) -> Result<IndexChoice, json::Error> {
        let name = v.to_str()?;
        IndexChoice::parse(name).ok_or_else(|| {
            json::Error::new(format!(
                "unknown variant `{name}`, expected `btree` or `lsm`"
            ))
        })
    }
}

impl WorldConfig {
    /// Checks the values; the error names the field.
    pub fn check(&self) -> Result<(), String> {
        let [min, max] = self.sync_latency;
        if min == 0 || min > max || max > 1_000_000 {
            return Err(format!(
                "config.sync_latency: [{min}, {max}] must be 1 <= min <= max <= 1000000"
            ));
        }
        if self.max_batch == 0 || self.max_batch > 10_000 {
            return Err("config.max_batch: must be 1 to 10000".into());
        }
        if !(256..=1 << 30).contains(&self.memtable_bytes) {
            return Err("config.memtable_bytes: must be 256 to 2^30".into());
        }
        if self.raft_nodes != 0 && !(3..=7).contains(&self.raft_nodes) {
            return Err("config.raft_nodes: must be 0 (no cluster) or 3 to 7".into());
        }
        if self.raft_replicates && (!self.cdc || self.raft_nodes == 0) {
            return Err(
                "config.raft_replicates: needs config.cdc (the feed reads `changes`) \
                 and config.raft_nodes"
                    .into(),
            );
        }
        if !(1..=100_000).contains(&self.view_events_per_tick) {
            return Err("config.view_events_per_tick: must be 1 to 100000".into());
        }
        if self.dual_write && !self.cdc {
            return Err(
                "config.dual_write: needs config.cdc (the topics live on CDC's broker)".into(),
            );
        }
        // At least three 4 KiB segments: a segment is then dropped long after it became
        // readable, so a consumer that keeps up never loses one (retention runs in the
        // broker's tick, before the consumers read).
        if self.retention_bytes != 0 && !(12_288..=1 << 30).contains(&self.retention_bytes) {
            return Err(
                "config.retention_bytes: must be 0 (keep all) or 12288 (three segments) to 2^30"
                    .into(),
            );
        }
        if !(1..=MAX_PARTITIONS).contains(&self.partitions) {
            return Err(format!("config.partitions: must be 1 to {MAX_PARTITIONS}"));
        }
        if self.partitions > 1 && !self.cdc {
            return Err(
                "config.partitions: needs config.cdc (it shapes the topic `changes`)".into(),
            );
        }
        if (self.retention_bytes != 0 || self.compacted) && !self.cdc {
            return Err(format!(
                "config.{}: needs config.cdc (it shapes the topic `changes`)",
                if self.compacted {
                    "compacted"
                } else {
                    "retention_bytes"
                }
            ));
        }
        Ok(())
    }

    fn db(&self) -> DbConfig {
        self.db_with(self.index)
    }

    fn db_with(&self, index: IndexChoice) -> DbConfig {
        DbConfig {
            index: match index {
                IndexChoice::Btree => IndexKind::BTree,
                IndexChoice::Lsm => IndexKind::Lsm,
            },
            wal: LogConfig {
                segment_bytes: 16 * 1024,
                ..LogConfig::new("wal")
            },
            lsm: LsmConfig {
                memtable_bytes: self.memtable_bytes,
                compaction: CompactionConfig {
                    l0_trigger: 2,
                    base_level_bytes: 4 * self.memtable_bytes,
                    fanout: 4,
                    target_file_bytes: self.memtable_bytes,
                    ..CompactionConfig::default()
                },
                ..LsmConfig::default()
            },
            group_commit: GroupCommitConfig {
                enabled: self.group_commit,
                max_batch: self.max_batch,
                max_wait_ticks: self.max_wait_ticks,
            },
            checkpoint: CheckpointConfig {
                every_wal_bytes: self.checkpoint_every_wal_bytes,
                ..CheckpointConfig::default()
            },
            ..DbConfig::default()
        }
    }

    fn disk(&self) -> SimDiskConfig {
        SimDiskConfig {
            sync_latency: SyncLatency::Uniform {
                min: self.sync_latency[0],
                max: self.sync_latency[1],
            },
            tear_on_crash: self.tear_on_crash,
            ..SimDiskConfig::default()
        }
    }
}

/// Something done to the world. JSON: an object whose `do` names the action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// A client writes `key = value` in a transaction of its own and commits.
    Write {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// A client deletes `key` in a transaction of its own and commits.
    Delete {
        /// The key.
        key: String,
    },
    /// A client reads `key` (the latest acknowledged value).
    Read {
        /// The key.
        key: String,
    },
    /// A background workload: `clients` clients run `transactions` transactions in all,
    /// each writing `writes` random keys of `keys` (some deletes), one transaction at a
    /// time per client.
    Workload {
        /// Concurrent clients.
        clients: u32,
        /// Transactions in all.
        transactions: u32,
        /// Distinct keys.
        keys: u32,
        /// Writes per transaction.
        writes: u32,
    },
    /// Ask for a checkpoint (the LSM: it flushes the memtables).
    Checkpoint,
    /// Crash the disk (volatile changes lost, a write in flight maybe torn) and reopen
    /// the database: recovery.
    Crash,
    /// Syncs issued from now on take `min..=max` ticks.
    SlowDisk {
        /// Fewest ticks.
        min: u64,
        /// Most ticks.
        max: u64,
    },
    /// Flip bit `bit` of `file` on the disk (bit rot), then crash and reopen: recovery
    /// meets a checksum that does not match.
    FlipBit {
        /// The file.
        file: String,
        /// The bit (from the file's start).
        bit: u64,
    },
    /// CDC: the broker's machine crashes (volatile records lost) and the broker restarts.
    CrashBroker,
    /// CDC: the connector's machine crashes and the connector restarts from its stored
    /// position.
    CrashConnector,
    /// CDC: drop a view (`replica`, `aggregate` or `search`) and rebuild it from offset 0.
    RebuildView {
        /// The view.
        view: String,
    },
    /// CDC: `consumer` joins the consumer group `app` on `changes`: a rebalance (a new
    /// generation; partitions assigned by ranges over the members in name order).
    JoinConsumer {
        /// The member's name (letters, digits, `-`, `_`).
        consumer: String,
    },
    /// CDC: `consumer` leaves the group: a rebalance; its partitions go to the others,
    /// which read them from the committed offsets.
    LeaveConsumer {
        /// The member.
        consumer: String,
    },
    /// CDC: a view (`replica`, `aggregate`, `search`, `dual-replica`) or a group member
    /// reads at most `events_per_tick` records per tick from now on (0: paused).
    SetPace {
        /// The view or member.
        consumer: String,
        /// Records per tick.
        events_per_tick: u64,
    },
    /// CDC: move a consumer's offset to `earliest`, `latest` or an offset (a number). A
    /// group member's committed offsets move with it (back: it replays; forward: it
    /// skips), in every partition assigned to it, or only in `partition`. A view can only
    /// go back to `earliest` in every partition — a rebuild, as `rebuild_view` — since
    /// anywhere else it would skip or repeat changes.
    ResetOffset {
        /// The view or member.
        consumer: String,
        /// `earliest`, `latest` or an offset.
        to: String,
        /// Only this partition of `changes` (absent: every one the member has).
        partition: Option<u32>,
    },
    /// Compact now (module docs): the LSM index's manual compaction, and with
    /// `config.compacted` the key compaction of `changes`. Refused when neither applies
    /// (the B+tree has no compaction) or there is nothing to compact.
    Compact,
    /// Raft: crash a node — `leader` (the current one), `follower` (the first that is up
    /// and not leading) or a number.
    RaftCrash {
        /// Which node.
        target: String,
    },
    /// Raft: restart every crashed node from its disk.
    RaftRestart,
    /// Raft: cut these nodes (`leader`, `follower` or numbers) off from the others.
    RaftPartition {
        /// One side of the cut.
        side: Vec<String>,
    },
    /// Raft: heal every partition.
    RaftHeal,
    /// Raft: a client writes `key = value` through the leader (retried until committed).
    RaftWrite {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// Raft: the network drops `percent` of the messages from now on (0 to 90; 0: none).
    RaftLoss {
        /// Messages lost, in percent.
        percent: u32,
    },
    /// Raft: messages take `min..=max` ticks from now on (1 ms ticks; the default is 1
    /// to 5).
    RaftDelay {
        /// Fewest ticks.
        min: u64,
        /// Most ticks.
        max: u64,
    },
}

impl Action {
    /// Checks the fields; the error names the field.
    pub fn check(&self) -> Result<(), String> {
        match self {
            Action::Write { key, value } => {
                if key.is_empty() || key.len() > 256 {
                    return Err("key: must be 1 to 256 bytes".into());
                }
                if value.len() > 4096 {
                    return Err("value: must be at most 4096 bytes".into());
                }
            }
            Action::Delete { key } | Action::Read { key } => {
                if key.is_empty() || key.len() > 256 {
                    return Err("key: must be 1 to 256 bytes".into());
                }
            }
            Action::Workload {
                clients,
                transactions,
                keys,
                writes,
            } => {
                if !(1..=64).contains(clients) {
                    return Err("clients: must be 1 to 64".into());
                }
                if *transactions > 1_000_000 {
                    return Err("transactions: must be at most 1000000".into());
                }
                if !(1..=100_000).contains(keys) {
                    return Err("keys: must be 1 to 100000".into());
                }
                if !(1..=64).contains(writes) {
                    return Err("writes: must be 1 to 64".into());
                }
            }
            Action::SlowDisk { min, max } => {
                if *min == 0 || min > max || *max > 1_000_000 {
                    return Err("min, max: must be 1 <= min <= max <= 1000000".into());
                }
            }
            Action::RebuildView { view } => {
                if !VIEWS.contains(&view.as_str()) {
                    return Err(format!("view: {view:?} is not one of {}", VIEWS.join(", ")));
                }
            }
            Action::RaftCrash { target } => check_target(target)?,
            Action::RaftPartition { side } => {
                if side.is_empty() {
                    return Err("side: name at least one node".into());
                }
                for t in side {
                    check_target(t)?;
                }
            }
            Action::RaftWrite { key, value } => {
                if key.is_empty() || key.len() > 256 || value.len() > 4096 {
                    return Err("key: 1 to 256 bytes, value at most 4096".into());
                }
            }
            Action::JoinConsumer { consumer } | Action::LeaveConsumer { consumer } => {
                check_consumer(consumer)?;
            }
            Action::SetPace {
                consumer,
                events_per_tick,
            } => {
                check_consumer(consumer)?;
                if *events_per_tick > 100_000 {
                    return Err("events_per_tick: must be 0 (paused) to 100000".into());
                }
            }
            Action::ResetOffset {
                consumer,
                to,
                partition,
            } => {
                check_consumer(consumer)?;
                reset_to(to)?;
                if partition.is_some_and(|p| p >= MAX_PARTITIONS) {
                    return Err(format!("partition: must be 0 to {}", MAX_PARTITIONS - 1));
                }
            }
            Action::RaftLoss { percent } => {
                if *percent > 90 {
                    return Err("percent: must be 0 to 90".into());
                }
            }
            Action::RaftDelay { min, max } => {
                if *min == 0 || min > max || *max > 10_000 {
                    return Err("min, max: must be 1 <= min <= max <= 10000".into());
                }
            }
            Action::Checkpoint
            | Action::Compact
            | Action::Crash
            | Action::FlipBit { .. }
            | Action::CrashBroker
            | Action::CrashConnector
            | Action::RaftRestart
            | Action::RaftHeal => {}
        }
        Ok(())
    }
}

/// Every action's JSON name (`do`), in declaration order.
pub const ACTION_NAMES: [&str; 23] = [
    "write",
    "delete",
    "read",
    "workload",
    "checkpoint",
    "crash",
    "slow_disk",
    "flip_bit",
    "crash_broker",
    "crash_connector",
    "rebuild_view",
    "join_consumer",
    "leave_consumer",
    "set_pace",
    "reset_offset",
    "compact",
    "raft_crash",
    "raft_restart",
    "raft_partition",
    "raft_heal",
    "raft_write",
    "raft_loss",
    "raft_delay",
];

impl Action {
    /// Reads an action from its JSON: an object whose `do` names it ([`Action::name`]),
    /// with the action's fields. An unknown field is an error, except in an action
    /// without fields (`crash`), whose other members are ignored, as serde's derive did.
    /// The values are not checked here: [`Action::check`].
    pub fn from_json(v: &Value) -> Result<Action, json::Error> {
        const TYPE: &str = "internally tagged enum Action";
        let tag = v
            .object(TYPE, &["do"], Unknown::Ignore)?
            .with("do", Value::to_str)?;
        let fields = |names: &'static [&'static str]| -> Result<Obj<'_>, json::Error> {
            v.object(TYPE, names, Unknown::Refuse)
        };
        Ok(match tag {
            "write" => {
                let o = fields(&["do", "key", "value"])?;
                Action::Write {
                    key: o.string("key")?,
                    value: o.string("value")?,
                }
            }
            "delete" => Action::Delete {
                key: fields(&["do", "key"])?.string("key")?,
            },
            "read" => Action::Read {
                key: fields(&["do", "key"])?.string("key")?,
            },
            "workload" => {
                let o = fields(&["do", "clients", "transactions", "keys", "writes"])?;
                Action::Workload {
                    clients: o.u32("clients")?,
                    transactions: o.u32("transactions")?,
                    keys: o.u32("keys")?,
                    writes: o.u32("writes")?,
                }
            }
            "checkpoint" => Action::Checkpoint,
            "crash" => Action::Crash,
            "slow_disk" => {
                let o = fields(&["do", "min", "max"])?;
                Action::SlowDisk {
                    min: o.u64("min")?,
                    max: o.u64("max")?,
                }
            }
            "flip_bit" => {
                let o = fields(&["do", "file", "bit"])?;
                Action::FlipBit {
                    file: o.string("file")?,
                    bit: o.u64("bit")?,
                }
            }
            "crash_broker" => Action::CrashBroker,
            "crash_connector" => Action::CrashConnector,
            "rebuild_view" => Action::RebuildView {
                view: fields(&["do", "view"])?.string("view")?,
            },
            "join_consumer" => Action::JoinConsumer {
                consumer: fields(&["do", "consumer"])?.string("consumer")?,
            },
            "leave_consumer" => Action::LeaveConsumer {
                consumer: fields(&["do", "consumer"])?.string("consumer")?,
            },
            "set_pace" => {
                let o = fields(&["do", "consumer", "events_per_tick"])?;
                Action::SetPace {
                    consumer: o.string("consumer")?,
                    events_per_tick: o.u64("events_per_tick")?,
                }
            }
            "reset_offset" => {
                let o = fields(&["do", "consumer", "to", "partition"])?;
                Action::ResetOffset {
                    consumer: o.string("consumer")?,
                    to: o.string("to")?,
                    partition: o.opt_u32("partition")?,
                }
            }
            "compact" => Action::Compact,
            "raft_crash" => Action::RaftCrash {
                target: fields(&["do", "target"])?.string("target")?,
            },
            "raft_restart" => Action::RaftRestart,
            "raft_partition" => Action::RaftPartition {
                side: fields(&["do", "side"])?
                    .with("side", |v| v.to_vec(|s| s.to_str().map(str::to_owned)))?,
            },
            "raft_heal" => Action::RaftHeal,
            "raft_write" => {
                let o = fields(&["do", "key", "value"])?;
                Action::RaftWrite {
                    key: o.string("key")?,
                    value: o.string("value")?,
                }
            }
            "raft_loss" => Action::RaftLoss {
                percent: fields(&["do", "percent"])?.u32("percent")?,
            },
            "raft_delay" => {
                let o = fields(&["do", "min", "max"])?;
                Action::RaftDelay {
                    min: o.u64("min")?,
                    max: o.u64("max")?,
                }
            }
            other => {
                return Err(json::Error::new(format!(
                    "unknown variant `{other}`, expected {}",
                    json::one_of(&ACTION_NAMES)
                ))
                .at_key("do"))
            }
        })
    }
}

impl Action {
    /// Writes the action's JSON: `do` ([`Action::name`]), then its fields in declaration
    /// order (`partition` only when present).
    pub fn write_json(&self, w: &mut Writer) {
        w.begin_object();
        w.field_str("do", self.name());
        match self {
            Action::Write { key, value } | Action::RaftWrite { key, value } => {
                w.field_str("key", key);
                w.field_str("value", value);
            }
            Action::Delete { key } | Action::Read { key } => w.field_str("key", key),
            Action::Workload {
                clients,
                transactions,
                keys,
                writes,
            } => {
                w.field_u64("clients", u64::from(*clients));
                w.field_u64("transactions", u64::from(*transactions));
                w.field_u64("keys", u64::from(*keys));
                w.field_u64("writes", u64::from(*writes));
            }
            Action::SlowDisk { min, max } | Action::RaftDelay { min, max } => {
                w.field_u64("min", *min);
                w.field_u64("max", *max);
            }
            Action::FlipBit { file, bit } => {
                w.field_str("file", file);
                w.field_u64("bit", *bit);
            }
            Action::RebuildView { view } => w.field_str("view", view),
            Action::JoinConsumer { consumer } | Action::LeaveConsumer { consumer } => {
                w.field_str("consumer", consumer);
            }
            Action::SetPace {
                consumer,
                events_per_tick,
            } => {
                w.field_str("consumer", consumer);
                w.field_u64("events_per_tick", *events_per_tick);
            }
            Action::ResetOffset {
                consumer,
                to,
                partition,
            } => {
                w.field_str("consumer", consumer);
                w.field_str("to", to);
                if let Some(p) = partition {
                    w.field_u64("partition", u64::from(*p));
                }
            }
            Action::RaftCrash { target } => w.field_str("target", target),
            Action::RaftPartition { side } => {
                w.key("side");
                w.begin_array();
                for s in side {
                    w.str(s);
                }
                w.end_array();
            }
            Action::RaftLoss { percent } => w.field_u64("percent", u64::from(*percent)),
            Action::Checkpoint
            | Action::Crash
            | Action::CrashBroker
            | Action::CrashConnector
            | Action::Compact
            | Action::RaftRestart
            | Action::RaftHeal => {}
        }
        w.end_object();
    }
}

impl WorldConfig {
    /// Writes the configuration's JSON: every field, in declaration order.
    pub fn write_json(&self, w: &mut Writer) {
        w.begin_object();
        w.field_str("index", self.index.name());
        w.field_bool("group_commit", self.group_commit);
        w.field_u64("max_batch", self.max_batch as u64);
        w.field_u64("max_wait_ticks", self.max_wait_ticks);
        w.field_u64s("sync_latency", &mut self.sync_latency.iter().copied());
        w.field_bool("tear_on_crash", self.tear_on_crash);
        w.field_u64(
            "checkpoint_every_wal_bytes",
            self.checkpoint_every_wal_bytes,
        );
        w.field_u64("memtable_bytes", self.memtable_bytes);
        w.field_bool("cdc", self.cdc);
        w.field_u64("view_events_per_tick", self.view_events_per_tick);
        w.field_u64("raft_nodes", self.raft_nodes);
        w.field_bool("raft_replicates", self.raft_replicates);
        w.field_bool("dual_write", self.dual_write);
        w.field_u64("retention_bytes", self.retention_bytes);
        w.field_bool("compacted", self.compacted);
        w.field_bool("compare_indexes", self.compare_indexes);
        w.field_u64("partitions", u64::from(self.partitions));
        w.end_object();
    }
}

impl Action {
    /// The action's JSON name (`do`).
    pub fn name(&self) -> &'static str {
        match self {
            Action::Write { .. } => "write",
            Action::Delete { .. } => "delete",
            Action::Read { .. } => "read",
            Action::Workload { .. } => "workload",
            Action::Checkpoint => "checkpoint",
            Action::Crash => "crash",
            Action::SlowDisk { .. } => "slow_disk",
            Action::FlipBit { .. } => "flip_bit",
            Action::CrashBroker => "crash_broker",
            Action::CrashConnector => "crash_connector",
            Action::RebuildView { .. } => "rebuild_view",
            Action::JoinConsumer { .. } => "join_consumer",
            Action::LeaveConsumer { .. } => "leave_consumer",
            Action::SetPace { .. } => "set_pace",
            Action::ResetOffset { .. } => "reset_offset",
            Action::Compact => "compact",
            Action::RaftCrash { .. } => "raft_crash",
            Action::RaftRestart => "raft_restart",
            Action::RaftPartition { .. } => "raft_partition",
            Action::RaftHeal => "raft_heal",
            Action::RaftWrite { .. } => "raft_write",
            Action::RaftLoss { .. } => "raft_loss",
            Action::RaftDelay { .. } => "raft_delay",
        }
    }

    /// Checks that the action is possible in a world configured by `config` (a scenario
    /// asking for what its world cannot do is an error, not a run of refusals); the
    /// error names the field: `do` and the configuration field that rules it out, or the
    /// action's own field.
    pub fn check_config(&self, config: &WorldConfig) -> Result<(), String> {
        let name = self.name();
        match self {
            Action::Compact if config.index == IndexChoice::Btree && !config.compacted => {
                Err(format!(
                    "do: {name} is impossible here: config.index is btree (the B+tree has no \
                     compaction: it updates pages in place and never frees one) and \
                     config.compacted is false (the topic keeps every record)"
                ))
            }
            Action::CrashBroker
            | Action::CrashConnector
            | Action::RebuildView { .. }
            | Action::JoinConsumer { .. }
            | Action::LeaveConsumer { .. }
            | Action::SetPace { .. }
            | Action::ResetOffset { .. }
                if !config.cdc =>
            {
                Err(format!(
                    "do: {name} needs config.cdc (there is no topic to consume)"
                ))
            }
            Action::ResetOffset {
                partition: Some(p), ..
            } if *p >= config.partitions => Err(format!(
                "partition: {p} is not a partition of `changes` (config.partitions is {})",
                config.partitions
            )),
            Action::RaftWrite { .. } if config.raft_replicates => Err(
                "do: raft_write is refused with config.raft_replicates (the feed from \
                 `changes` is the cluster's only writer)"
                    .into(),
            ),
            Action::RaftCrash { .. }
            | Action::RaftRestart
            | Action::RaftPartition { .. }
            | Action::RaftHeal
            | Action::RaftWrite { .. }
            | Action::RaftLoss { .. }
            | Action::RaftDelay { .. }
                if config.raft_nodes == 0 =>
            {
                Err(format!(
                    "do: {name} needs config.raft_nodes (there is no Raft cluster)"
                ))
            }
            _ => Ok(()),
        }
    }
}

fn check_consumer(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(format!(
            "consumer: {name:?} must be 1 to 64 letters, digits, '-' or '_'"
        ));
    }
    Ok(())
}

fn reset_to(to: &str) -> Result<ResetTo, String> {
    match to {
        "earliest" => Ok(ResetTo::Earliest),
        "latest" => Ok(ResetTo::Latest),
        n => n
            .parse()
            .map(ResetTo::Offset)
            .map_err(|_| format!("to: {n:?} is not earliest, latest or an offset")),
    }
}

fn check_target(t: &str) -> Result<(), String> {
    match t {
        "leader" | "follower" => Ok(()),
        n if n.parse::<u64>().is_ok_and(|n| (1..=7).contains(&n)) => Ok(()),
        other => Err(format!(
            "target: {other:?} is not leader, follower or a node number 1 to 7"
        )),
    }
}

type Writes = VecMap<Vec<u8>, Option<Vec<u8>>>;

/// What the database must hold: the committed state as of the last recovery with every
/// acknowledged transaction since folded in (in commit order), plus the transactions
/// whose commit record was appended but not acknowledged yet (by commit LSN).
///
/// Folding keeps the oracle's size bounded by the database's, not by the run's length,
/// and loses nothing a check needs: a crash must keep every acknowledged commit, so the
/// largest acknowledged LSN below the recovered end says it did (`acknowledged_commits_survive`),
/// and a folded commit that recovery lost anyway shows as a difference from the base
/// (`recovered_state_is_committed_state`).
#[derive(Clone, Debug, Default)]
struct Oracle {
    base: BTreeMap<Vec<u8>, Vec<u8>>,
    committing: VecMap<Lsn, Writes>,
    /// Acknowledged commits since the last recovery, and the largest.
    acked: u64,
    acked_max: Option<Lsn>,
    /// Acknowledged and still in `committing` (a commit is folded into the base once it
    /// and every commit before it are acknowledged).
    acked_pending: VecSet<Lsn>,
    open: VecMap<TxnId, Writes>,
}

impl Oracle {
    fn apply(base: &mut BTreeMap<Vec<u8>, Vec<u8>>, writes: &Writes) {
        for (k, v) in writes {
            match v {
                Some(v) => base.insert(k.clone(), v.clone()),
                None => base.remove(k),
            };
        }
    }

    /// Records that the commit at `lsn` was acknowledged, and folds the acknowledged
    /// prefix of `committing` into the base.
    fn ack(&mut self, lsn: Lsn) {
        self.acked += 1;
        self.acked_max = self.acked_max.max(Some(lsn));
        self.acked_pending.insert(lsn);
        while let Some((&first, _)) = self.committing.first_key_value() {
            if !self.acked_pending.remove(&first) {
                break;
            }
            if let Some((_, w)) = self.committing.pop_first() {
                Oracle::apply(&mut self.base, &w);
            }
        }
    }

    /// Every committed transaction applied.
    fn all_committed(&self) -> BTreeMap<Vec<u8>, Vec<u8>> {
        let mut m = self.base.clone();
        for w in self.committing.values() {
            Oracle::apply(&mut m, w);
        }
        m
    }
}

#[derive(Clone, Debug)]
struct Client {
    txn: Option<TxnId>,
    writes_left: u32,
}

#[derive(Clone, Debug)]
struct Workload {
    clients: Vec<Client>,
    remaining: u32,
    keys: u32,
    writes: u32,
}

/// The views a CDC world keeps.
pub const VIEWS: [&str; 3] = ["replica", "aggregate", "search"];

/// The change topic.
pub const CHANGES: &str = "changes";

/// The topic the application writes to itself in dual-write mode.
pub const DUAL: &str = "dual";

/// The view consuming [`DUAL`].
pub const DUAL_REPLICA: &str = "dual-replica";
/// The name `config.raft_replicates`'s feed goes by where a consumer of `changes` is named
/// (trace kind `view_behind_retention`).
pub const RAFT_FEED: &str = "raft-feed";

/// Dual writes: ticks from a commit's acknowledgement to the application's produce (the
/// window in which a database crash loses the topic write).
pub const DUAL_WRITE_DELAY_TICKS: u64 = 6;

/// Group members commit their positions every this many ticks (auto-commit).
pub const COMMIT_EVERY_TICKS: u64 = 10;

/// A transaction the application will produce to [`DUAL`] (dual-write mode).
#[derive(Clone, Debug)]
struct AppWrite {
    /// The tick it is produced at.
    due: u64,
    /// Its commit record.
    commit_lsn: Lsn,
    writes: Writes,
}

/// Change data capture in the world: the broker, the connector and the views, each
/// machine on its own disk.
#[derive(Clone, Debug)]
struct Cdc {
    broker: Broker,
    broker_disk: SimDisk,
    connector: Connector,
    connector_disk: SimDisk,
    views: Vec<MaterializedView>,
    /// Views reset and not caught up yet.
    rebuilding: Vec<bool>,
    /// Dual-write mode: the replica view consuming the topic `dual`.
    dual: Option<MaterializedView>,
    /// Dual-write mode: acknowledged transactions the application has yet to produce.
    app_outbox: VecDeque<AppWrite>,
    /// Dual-write mode: the divergence last put in the trace.
    dual_reported: u64,
    /// Members of the consumer group [`GROUP`], by name.
    members: VecMap<String, consumers::Member>,
    /// Views' paces set by [`Action::SetPace`] (others: `config.view_events_per_tick`).
    paces: VecMap<String, u64>,
    /// A compacted `changes`: each view's last value per key (`consumers` docs).
    seen: Vec<crate::cdc::views::Rows>,
    /// Views stopped below the retained start (reported once).
    behind: Vec<bool>,
    /// `changes`, as last reported: each partition's start offset and compactions.
    topic_marks: Vec<(u64, u64)>,
}

/// Each partition of `changes`: its start offset and compactions so far.
fn topic_marks(broker: &Broker) -> Vec<(u64, u64)> {
    broker.partitions(CHANGES).map_or(Vec::new(), |ps| {
        ps.iter()
            .map(|p| (p.start_offset(), p.compactions))
            .collect()
    })
}

/// Each partition's start offset in `changes`.
fn changes_start(broker: &Broker) -> Vec<u64> {
    broker.partitions(CHANGES).map_or(Vec::new(), |ps| {
        ps.iter().map(|p| p.start_offset()).collect()
    })
}

/// Every partition's offset, when there are several (the trace's `positions`).
fn positions_if_many(parts: u32, at: impl Fn(u32) -> u64) -> Vec<(u32, u64)> {
    if parts > 1 {
        (0..parts).map(|p| (p, at(p))).collect()
    } else {
        Vec::new()
    }
}

fn cdc_config(config: &WorldConfig) -> CdcConfig {
    CdcConfig {
        partitions: config.partitions,
        ..CdcConfig::default()
    }
}

fn cdc_topics(config: &WorldConfig) -> Vec<TopicConfig> {
    let mut changes = TopicConfig::new(CHANGES, config.partitions);
    if config.retention_bytes > 0 || config.compacted {
        changes.partition.segment_bytes = 4096;
        changes.partition.retention_bytes = Some(config.retention_bytes).filter(|&b| b > 0);
        changes.partition.compacted = config.compacted;
    }
    let mut t = vec![changes];
    if config.dual_write {
        t.push(TopicConfig::new(DUAL, 1));
    }
    t
}

/// The simulated world (module docs). `Clone` is a snapshot.
#[derive(Clone, Debug)]
pub struct World {
    config: WorldConfig,
    seed: u64,
    time: u64,
    db: Option<Db<SimDisk>>,
    rng: Rng,
    workload: Option<Workload>,
    oracle: Oracle,
    /// A recovery whose end state must be checked once undo has finished.
    check_pending: bool,
    failures: Vec<String>,
    crashes: u64,
    cdc: Option<Box<Cdc>>,
    raft: Option<Box<RaftWorld>>,
    /// `config.compare_indexes`: the database with the other index.
    shadow: Option<Box<Shadow>>,
}

/// The shadow database of `config.compare_indexes`, with the acknowledged transactions
/// it has yet to apply (one at a time, in acknowledgement order).
#[derive(Clone, Debug)]
struct Shadow {
    db: Db<SimDisk>,
    queue: VecDeque<Writes>,
}

/// The Raft cluster in the world, with its client.
#[derive(Clone, Debug)]
struct RaftWorld {
    cluster: Cluster,
    /// Writes not yet acknowledged: (sequence, key, value).
    pending: Vec<(u64, Vec<u8>, Vec<u8>)>,
    next_seq: u64,
    /// Acknowledged writes, in order: what every node must hold at the end.
    acked: BTreeMap<Vec<u8>, Vec<u8>>,
    /// `config.raft_replicates`: the feed from `changes`.
    feed: Option<Feed>,
}

/// The feed of `config.raft_replicates`: a consumer of `changes` that is the Raft
/// cluster's one client session. It sends one batch at a time and resends it (the same
/// sequence number, so the session applies it once) until the cluster answers; its
/// positions move only then, so every change reaches the nodes exactly once and in order.
#[derive(Clone, Debug, Default)]
struct Feed {
    /// The next offset to read, per partition.
    positions: Vec<u64>,
    /// The batch the cluster has not answered yet.
    inflight: Option<FeedBatch>,
    /// The session's last sequence number.
    seq: u64,
    /// The partition read first next time (turns, as the views take them).
    turn: usize,
    /// Retention dropped changes the feed had not read (it stops: the nodes can no
    /// longer equal the database).
    behind: bool,
    /// Batches committed, and change events in them.
    batches: u64,
    events: u64,
}

#[derive(Clone, Debug)]
struct FeedBatch {
    seq: u64,
    writes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// The positions once it is applied.
    next: Vec<u64>,
    /// Sent at least once.
    sent: bool,
}

/// The feed's session number: far from the one-per-write sessions of `raft_write`.
const FEED_CLIENT: u64 = 1 << 62;
/// Change events per batch at most.
const FEED_BATCH: usize = 128;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl World {
    /// A world with an empty database on a fresh simulated disk.
    pub fn new(config: WorldConfig, seed: u64) -> Result<(World, Vec<TraceKind>), String> {
        config.check()?;
        let disk = SimDisk::new(config.disk(), seed ^ 0xD15C);
        let (mut db, _) = Db::open(disk, config.db()).map_err(|e| e.to_string())?;
        let events = db.take_events().iter().filter_map(trace::from_db).collect();
        let cdc = if config.cdc {
            let disk = |salt: u64| SimDisk::new(config.disk(), seed ^ salt);
            let mut broker_disk = disk(0xB20C);
            let broker = Broker::open(&mut broker_disk as &mut dyn Storage, &cdc_topics(&config))
                .map_err(|e| e.to_string())?;
            let connector_disk = disk(0xCDC0);
            let connector =
                Connector::open(&connector_disk, cdc_config(&config)).map_err(|e| e.to_string())?;
            Some(Box::new(Cdc {
                broker,
                broker_disk,
                connector,
                connector_disk,
                views: vec![
                    MaterializedView::new("replica", ViewKind::Replica),
                    MaterializedView::new("aggregate", ViewKind::Aggregate),
                    MaterializedView::new("search", ViewKind::Search),
                ],
                rebuilding: vec![false; 3],
                dual: config
                    .dual_write
                    .then(|| MaterializedView::new(DUAL_REPLICA, ViewKind::Replica)),
                app_outbox: VecDeque::new(),
                dual_reported: 0,
                members: VecMap::new(),
                paces: VecMap::new(),
                seen: vec![crate::cdc::views::Rows::new(); 3],
                behind: vec![false; 3],
                topic_marks: vec![(0, 0); config.partitions as usize],
            }))
        } else {
            None
        };
        let raft = if config.raft_nodes > 0 {
            let mut cc = ClusterConfig::new(config.raft_nodes);
            cc.trace = true;
            // Snapshots every 16 entries, so a follower that was down long enough catches
            // up by InstallSnapshot. The feed's entries are batches of up to 128 changes,
            // and a snapshot holds every row of the database: every 64 entries there.
            cc.snapshot_every = if config.raft_replicates { 64 } else { 16 };
            let cluster = Cluster::new(cc, seed ^ 0x4AF7).map_err(|e| e.to_string())?;
            Some(Box::new(RaftWorld {
                cluster,
                pending: Vec::new(),
                next_seq: 0,
                acked: BTreeMap::new(),
                feed: config.raft_replicates.then(|| Feed {
                    positions: vec![0; config.partitions as usize],
                    ..Feed::default()
                }),
            }))
        } else {
            None
        };
        let shadow = if config.compare_indexes {
            let other = match config.index {
                IndexChoice::Btree => IndexChoice::Lsm,
                IndexChoice::Lsm => IndexChoice::Btree,
            };
            let disk = SimDisk::new(config.disk(), seed ^ 0x5AD0);
            let (db, _) = Db::open(disk, config.db_with(other)).map_err(|e| e.to_string())?;
            Some(Box::new(Shadow {
                db,
                queue: VecDeque::new(),
            }))
        } else {
            None
        };
        Ok((
            World {
                config,
                seed,
                time: 0,
                db: Some(db),
                rng: Rng::new(seed),
                workload: None,
                oracle: Oracle::default(),
                check_pending: false,
                failures: Vec::new(),
                crashes: 0,
                cdc,
                raft,
                shadow,
            },
            events,
        ))
    }

    /// Virtual time, in ticks.
    pub fn time(&self) -> u64 {
        self.time
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The configuration.
    pub fn config(&self) -> &WorldConfig {
        &self.config
    }

    /// The database (`None` once it could not be reopened).
    pub fn db(&self) -> Option<&Db<SimDisk>> {
        self.db.as_ref()
    }

    /// Invariant failures so far, and a reopen that failed, for people.
    pub fn failures(&self) -> &[String] {
        &self.failures
    }

    /// Crashes so far.
    pub fn crashes(&self) -> u64 {
        self.crashes
    }

    /// Whether a workload still has transactions to run or in flight.
    pub fn workload_running(&self) -> bool {
        self.workload
            .as_ref()
            .is_some_and(|w| w.remaining > 0 || w.clients.iter().any(|c| c.txn.is_some()))
    }

    /// What keeps the world from settling, for people.
    pub fn busy_with(&self) -> String {
        let mut why = Vec::new();
        if self.workload_running() {
            why.push("the workload".to_owned());
        }
        if let Some(db) = &self.db {
            if !db.is_quiescent() || db.storage().next_completion_at().is_some() {
                why.push("the database".to_owned());
            }
        }
        if let Some(r) = &self.raft {
            if !r.pending.is_empty() {
                why.push(format!("{} Raft writes unacknowledged", r.pending.len()));
            }
            if r.feed.as_ref().is_some_and(|f| f.inflight.is_some()) {
                why.push("a batch of changes the Raft cluster has not committed".to_owned());
            }
            if !raft_converged(&r.cluster) {
                let nodes: Vec<String> = r
                    .cluster
                    .servers()
                    .iter()
                    .map(|(n, s)| {
                        format!(
                            "n{n} {} applied {}",
                            if r.cluster.is_up(*n) { "up" } else { "down" },
                            s.kv().applied()
                        )
                    })
                    .collect();
                why.push(format!(
                    "Raft not converged (leader {:?}: {})",
                    r.cluster.leader(),
                    nodes.join(", ")
                ));
            }
        }
        if why.is_empty() {
            why.push("CDC or a recovery check".to_owned());
        }
        why.join("; ")
    }

    /// Whether nothing is pending: no workload, no commit waiting, no sync in flight, no
    /// recovery or checkpoint running, no LSM background work due.
    pub fn is_settled(&self) -> bool {
        let Some(db) = &self.db else { return true };
        let cdc_settled = self.cdc.as_ref().is_none_or(|c| {
            c.connector.backlog() == 0
                && c.connector.read_at() >= db.wal().durable_next()
                && c.views
                    .iter()
                    .zip(&c.behind)
                    .all(|(v, behind)| *behind || v.lag(&c.broker, CHANGES).is_ok_and(|l| l == 0))
                && c.app_outbox.is_empty()
                && c.dual
                    .as_ref()
                    .is_none_or(|d| d.lag(&c.broker, DUAL).is_ok_and(|l| l == 0))
                && c.members.values().all(|m| {
                    m.pace == 0
                        || m.positions.iter().all(|(p, at)| {
                            c.broker.partitions(CHANGES).is_ok_and(|ps| {
                                ps.get(*p as usize)
                                    .is_none_or(|x| *at >= x.high_watermark())
                            })
                        })
                })
        });
        let raft_settled = self.raft.as_ref().is_none_or(|r| {
            r.pending.is_empty()
                && raft_converged(&r.cluster)
                && r.feed.as_ref().is_none_or(|f| {
                    f.behind
                        || f.inflight.is_none()
                            && self.cdc.as_ref().is_some_and(|c| {
                                c.broker.partitions(CHANGES).is_ok_and(|ps| {
                                    ps.iter()
                                        .zip(&f.positions)
                                        .all(|(p, at)| *at >= p.high_watermark())
                                })
                            })
                })
        });
        let shadow_settled = self.shadow.as_ref().is_none_or(|sh| {
            sh.queue.is_empty()
                && sh.db.is_quiescent()
                && sh.db.storage().next_completion_at().is_none()
                && sh.db.lsm().is_none_or(|l| l.is_idle())
        });
        cdc_settled
            && shadow_settled
            && raft_settled
            && !self.workload_running()
            && db.is_quiescent()
            && db.storage().next_completion_at().is_none()
            && db.lsm().is_none_or(|l| l.is_idle())
            && !self.check_pending
    }

    fn drain(&mut self, out: &mut Vec<TraceKind>) {
        let Some(db) = &mut self.db else { return };
        for a in db.take_acks() {
            if let Some(lsn) = a.lsn {
                if let (Some(sh), Some(w)) = (&mut self.shadow, self.oracle.committing.get(&lsn)) {
                    sh.queue.push_back(w.clone());
                }
                // Dual writes: the application, told the commit is durable, will write
                // the same changes to the topic itself.
                if let Some(c) = self.cdc.as_mut().filter(|c| c.dual.is_some()) {
                    if let Some(w) = self.oracle.committing.get(&lsn) {
                        c.app_outbox.push_back(AppWrite {
                            due: self.time + DUAL_WRITE_DELAY_TICKS,
                            commit_lsn: lsn,
                            writes: w.clone(),
                        });
                    }
                }
                self.oracle.ack(lsn);
            }
        }
        out.extend(db.take_events().iter().filter_map(trace::from_db));
    }

    /// Begins a transaction that writes `writes` and commits; records it in the oracle.
    fn one_shot(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), String> {
        let db = self.db.as_mut().ok_or("the database is not open")?;
        if db.is_recovering() {
            return Err("the database is still rolling back losers".into());
        }
        let txn = db.begin();
        let r = match value {
            Some(v) => db.put(txn, key, v),
            None => db.delete(txn, key),
        };
        if let Err(e) = r {
            let _ = db.abort(txn);
            return Err(e.to_string());
        }
        let lsn = db.wal().next_lsn();
        db.commit(txn).map_err(|e| e.to_string())?;
        let mut w = Writes::new();
        w.insert(key.to_vec(), value.map(<[u8]>::to_vec));
        self.oracle.committing.insert(lsn, w);
        Ok(())
    }

    /// Applies `action` now.
    pub fn apply(&mut self, action: &Action) -> Vec<TraceKind> {
        let mut out = Vec::new();
        if let Err(reason) = action.check() {
            out.push(TraceKind::ActionRefused {
                action: action.clone(),
                reason,
            });
            return out;
        }
        out.push(TraceKind::Action {
            action: action.clone(),
        });
        let refused = |reason: String| TraceKind::ActionRefused {
            action: action.clone(),
            reason,
        };
        if self.db.is_none() {
            out.push(refused("the database could not be reopened".into()));
            return out;
        }
        match action {
            Action::Write { key, value } => {
                if let Err(e) = self.one_shot(key.as_bytes(), Some(value.as_bytes())) {
                    out.push(refused(e));
                }
            }
            Action::Delete { key } => {
                if let Err(e) = self.one_shot(key.as_bytes(), None) {
                    out.push(refused(e));
                }
            }
            Action::Read { key } => {
                if let Some(sh) = &mut self.shadow {
                    // The same lookup on the other index, for its read amplification
                    // (a stall or a key still on its way is fine: it is not compared).
                    let _ = sh.db.get(None, key.as_bytes());
                }
                let db = self.db.as_mut().expect("checked");
                match db.get(None, key.as_bytes()) {
                    Ok(v) => out.push(TraceKind::ReadResult {
                        key: key.clone(),
                        value: v.map(|v| text(&v)),
                    }),
                    Err(e) => out.push(refused(e.to_string())),
                }
            }
            Action::Workload {
                clients,
                transactions,
                keys,
                writes,
            } => {
                let w = self.workload.get_or_insert(Workload {
                    clients: Vec::new(),
                    remaining: 0,
                    keys: *keys,
                    writes: *writes,
                });
                w.remaining += transactions;
                w.keys = *keys;
                w.writes = *writes;
                while w.clients.len() < *clients as usize {
                    w.clients.push(Client {
                        txn: None,
                        writes_left: 0,
                    });
                }
            }
            Action::Checkpoint => {
                if let Err(e) = self.db.as_mut().expect("checked").request_checkpoint() {
                    out.push(refused(e.to_string()));
                }
            }
            Action::Crash => self.crash(&mut out),
            Action::SlowDisk { min, max } => {
                let db = self.db.as_mut().expect("checked");
                db.storage_mut().set_sync_latency(SyncLatency::Uniform {
                    min: *min,
                    max: *max,
                });
            }
            Action::Compact => self.compact(&mut out),
            Action::CrashBroker
            | Action::CrashConnector
            | Action::RebuildView { .. }
            | Action::JoinConsumer { .. }
            | Action::LeaveConsumer { .. }
            | Action::SetPace { .. }
            | Action::ResetOffset { .. } => {
                self.apply_cdc(action, &mut out);
            }
            Action::RaftCrash { .. }
            | Action::RaftRestart
            | Action::RaftPartition { .. }
            | Action::RaftHeal
            | Action::RaftWrite { .. }
            | Action::RaftLoss { .. }
            | Action::RaftDelay { .. } => self.apply_raft(action, &mut out),
            Action::FlipBit { file, bit } => {
                let db = self.db.as_mut().expect("checked");
                match db.storage_mut().flip_bit(file, *bit) {
                    Ok(()) => {
                        out.push(TraceKind::BitFlipped {
                            file: file.clone(),
                            bit: *bit,
                        });
                        self.crash(&mut out);
                    }
                    Err(e) => out.push(refused(e.to_string())),
                }
            }
        }
        self.drain(&mut out);
        out
    }

    fn crash(&mut self, out: &mut Vec<TraceKind>) {
        let Some(db) = self.db.take() else { return };
        self.crashes += 1;
        let config = db.storage().config();
        let mut disk = db.into_storage();
        let report = disk.crash();
        out.push(TraceKind::Crash {
            syncs_lost: report.syncs_lost,
            ops_lost: report.ops_lost,
            torn: report.torn.map(|t| t.file),
        });
        debug_assert_eq!(disk.config(), config);
        if let Some(w) = &mut self.workload {
            for c in &mut w.clients {
                c.txn = None;
            }
        }
        // The application ran on the database's machine: the topic writes it had not
        // made yet are gone, although their commits are durable.
        if let Some(c) = &mut self.cdc {
            if !c.app_outbox.is_empty() {
                out.push(TraceKind::DualWriteLost {
                    transactions: c.app_outbox.len() as u64,
                });
                c.app_outbox.clear();
            }
        }
        self.oracle.open.clear();
        match Db::open(disk, self.config.db()) {
            Ok((mut db, rec)) => {
                out.extend(db.take_events().iter().filter_map(trace::from_db));
                let survived = rec.wal.next_lsn;
                out.push(TraceKind::Reopened {
                    wal_end: survived.0,
                    winners: rec.winners,
                    losers: rec.losers.len() as u64,
                    summary: rec.describe(),
                });
                let lost = self.oracle.acked_max.filter(|l| *l >= survived);
                let ok = lost.is_none();
                let detail = if ok {
                    format!(
                        "{} acknowledged commits, all below the recovered end {survived}",
                        self.oracle.acked
                    )
                } else {
                    format!(
                        "acknowledged commits up to {} lost (WAL recovered below {survived})",
                        lost.map_or(0, |l| l.0)
                    )
                };
                self.check("acknowledged_commits_survive", ok, detail, out);
                let survivors: Vec<Writes> = self
                    .oracle
                    .committing
                    .iter()
                    .take_while(|(lsn, _)| **lsn < survived)
                    .map(|(_, w)| w.clone())
                    .collect();
                for w in &survivors {
                    Oracle::apply(&mut self.oracle.base, w);
                }
                self.oracle.committing.clear();
                self.oracle.acked = 0;
                self.oracle.acked_max = None;
                self.oracle.acked_pending.clear();
                self.check_pending = true;
                self.db = Some(db);
            }
            Err(e) => {
                // A damaged disk (bit rot past the torn tail): a clear error, and the
                // world stops changing. Refusing to open is right (nothing durable is
                // overwritten), but the run has shown nothing held: a failure.
                self.failures.push(format!(
                    "t={} open_failed: the database could not be reopened, so no end \
                     checks ran: {e} (seed {})",
                    self.time, self.seed
                ));
                out.push(TraceKind::OpenFailed {
                    error: e.to_string(),
                });
            }
        }
    }

    fn check(&mut self, name: &str, ok: bool, detail: String, out: &mut Vec<TraceKind>) {
        if !ok {
            self.failures.push(format!(
                "t={} {name}: {detail} (seed {})",
                self.time, self.seed
            ));
        }
        out.push(TraceKind::InvariantChecked {
            name: name.to_owned(),
            ok,
            detail,
        });
    }

    fn scan_all(&mut self) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, DbError> {
        let db = self.db.as_mut().expect("open");
        // The rows come sorted; inserting them spares `collect`'s sort (its code).
        Ok(crate::sort::map_from(db.scan(b"", None)?))
    }

    fn compare(
        &mut self,
        name: &str,
        want: &BTreeMap<Vec<u8>, Vec<u8>>,
        out: &mut Vec<TraceKind>,
    ) -> bool {
        match self.scan_all() {
            Ok(got) => {
                let ok = &got == want;
                let detail = if ok {
                    format!("{} keys, as committed", got.len())
                } else {
                    let missing: Vec<String> = want
                        .keys()
                        .filter(|k| !got.contains_key(*k))
                        .map(|k| text(k))
                        .collect();
                    let extra: Vec<String> = got
                        .keys()
                        .filter(|k| !want.contains_key(*k))
                        .map(|k| text(k))
                        .collect();
                    let differ: Vec<String> = want
                        .iter()
                        .filter(|(k, v)| got.get(*k).is_some_and(|g| g != *v))
                        .map(|(k, _)| text(k))
                        .collect();
                    format!("missing {missing:?}, extra {extra:?}, different {differ:?}")
                };
                self.check(name, ok, detail, out);
                true
            }
            // Waiting for a WAL sync: check on a later tick.
            Err(DbError::WouldBlock(_)) => false,
            Err(e) => {
                self.check(name, false, format!("scan failed: {e}"), out);
                true
            }
        }
    }

    /// One tick of virtual time (module docs).
    pub fn tick(&mut self) -> Vec<TraceKind> {
        let mut out = Vec::new();
        self.time += 1;
        let now = self.time;
        let Some(db) = &mut self.db else {
            return out;
        };
        db.storage_mut().advance(1);
        if let Err(e) = db.tick(now) {
            let name = "database_keeps_running";
            self.check(name, false, e.to_string(), &mut out);
            self.db = None;
            return out;
        }
        self.drain(&mut out);
        self.step_workload(&mut out);
        self.drain(&mut out);
        self.step_cdc(&mut out);
        self.step_raft(&mut out);
        self.step_shadow(&mut out);
        if self.check_pending && !self.db.as_ref().is_some_and(Db::is_recovering) {
            let want = self.oracle.base.clone();
            if self.compare("recovered_state_is_committed_state", &want, &mut out) {
                self.check_pending = false;
            }
            self.drain(&mut out);
        }
        out
    }

    fn apply_cdc(&mut self, action: &Action, out: &mut Vec<TraceKind>) {
        let now = self.time;
        let default_pace = self.config.view_events_per_tick;
        let compacted = self.config.compacted;
        let Some(c) = &mut self.cdc else {
            out.push(TraceKind::ActionRefused {
                action: action.clone(),
                reason: "this world has no CDC (config.cdc is false)".into(),
            });
            return;
        };
        let refuse = |reason: String| TraceKind::ActionRefused {
            action: action.clone(),
            reason,
        };
        let mut failed = None;
        match action {
            Action::CrashBroker => {
                let r = c.broker_disk.crash();
                out.push(TraceKind::ComponentCrashed {
                    component: "broker".into(),
                    ops_lost: r.ops_lost,
                });
                match Broker::open(
                    &mut c.broker_disk as &mut dyn Storage,
                    &cdc_topics(&self.config),
                ) {
                    Ok(b) => {
                        c.broker = b;
                        c.connector.broker_restarted();
                        c.topic_marks = topic_marks(&c.broker);
                        // Group membership lived in the broker's memory: the members
                        // join again and read on from the durable committed offsets.
                        if !c.members.is_empty() {
                            let names: Vec<String> = c.members.keys().cloned().collect();
                            for name in &names {
                                if let Err(e) = c.broker.join(GROUP, CHANGES, name) {
                                    failed = Some(("broker_recovers", e.to_string()));
                                }
                            }
                            Self::rebalance(c, out);
                        }
                    }
                    Err(e) => failed = Some(("broker_recovers", e.to_string())),
                }
            }
            Action::CrashConnector => {
                let r = c.connector_disk.crash();
                out.push(TraceKind::ComponentCrashed {
                    component: "connector".into(),
                    ops_lost: r.ops_lost,
                });
                match Connector::open(&c.connector_disk, cdc_config(&self.config)) {
                    Ok(conn) => c.connector = conn,
                    Err(e) => failed = Some(("connector_recovers", e.to_string())),
                }
            }
            Action::RebuildView { view } => {
                if let Err(reason) = Self::rebuild(c, compacted, view, out) {
                    out.push(refuse(reason));
                }
            }
            Action::JoinConsumer { consumer } => {
                if c.members.contains_key(consumer) {
                    out.push(refuse(format!("{consumer} is already in the group")));
                } else {
                    Self::commit_members(c, now, out);
                    match c.broker.join(GROUP, CHANGES, consumer) {
                        Ok(g) => {
                            out.push(TraceKind::ConsumerJoined {
                                consumer: consumer.clone(),
                                generation: g.generation,
                            });
                            c.members
                                .insert(consumer.clone(), consumers::Member::new(default_pace));
                            Self::rebalance(c, out);
                        }
                        Err(e) => out.push(refuse(e.to_string())),
                    }
                }
            }
            Action::LeaveConsumer { consumer } => {
                if c.members.contains_key(consumer) {
                    Self::commit_members(c, now, out);
                    match c.broker.leave(GROUP, consumer) {
                        Ok(()) => {
                            c.members.remove(consumer);
                            out.push(TraceKind::ConsumerLeft {
                                consumer: consumer.clone(),
                                generation: c.broker.group(GROUP).map_or(0, |g| g.generation),
                            });
                            Self::rebalance(c, out);
                        }
                        Err(e) => out.push(refuse(e.to_string())),
                    }
                } else {
                    out.push(refuse(format!("{consumer} is not in the group")));
                }
            }
            Action::SetPace {
                consumer,
                events_per_tick,
            } => {
                let is_view = VIEWS.contains(&consumer.as_str())
                    || (consumer == DUAL_REPLICA && c.dual.is_some());
                if is_view {
                    c.paces.insert(consumer.clone(), *events_per_tick);
                } else if let Some(m) = c.members.get_mut(consumer) {
                    m.pace = *events_per_tick;
                } else {
                    out.push(refuse(Self::no_consumer(c, consumer)));
                }
            }
            Action::ResetOffset {
                consumer,
                to,
                partition,
            } => {
                let to = reset_to(to).expect("checked");
                if VIEWS.contains(&consumer.as_str()) {
                    if let Some(p) = partition {
                        out.push(refuse(format!(
                            "a view is rebuilt whole: its state mixes the rows of every \
                             partition, so partition {p} cannot be replayed alone"
                        )));
                    } else if to == ResetTo::Earliest {
                        if let Err(reason) = Self::rebuild(c, compacted, consumer, out) {
                            out.push(refuse(reason));
                        }
                    } else {
                        out.push(refuse(format!(
                            "a view resets only to earliest (a rebuild): starting {consumer} \
                             anywhere else would skip or repeat changes"
                        )));
                    }
                } else if let Some(m) = c.members.get(consumer) {
                    if m.positions.is_empty() {
                        out.push(refuse(format!(
                            "{consumer} has no partition assigned (generation {})",
                            m.generation
                        )));
                    } else if let Err(reason) =
                        Self::reset_member(c, consumer, to, *partition, now, out)
                    {
                        out.push(refuse(reason));
                    }
                } else {
                    out.push(refuse(Self::no_consumer(c, consumer)));
                }
            }
            _ => {}
        }
        if let Some((name, detail)) = failed {
            self.check(name, false, detail, out);
        }
    }

    fn no_consumer(c: &Cdc, consumer: &str) -> String {
        let mut names: Vec<&str> = VIEWS.to_vec();
        if c.dual.is_some() {
            names.push(DUAL_REPLICA);
        }
        names.extend(c.members.keys().map(String::as_str));
        format!(
            "no view or group member {consumer:?} (there are: {})",
            names.join(", ")
        )
    }

    /// Drops a view and rebuilds it from offset 0 — refused when retention has dropped
    /// the first segments of a topic that is not compacted (the rebuild would miss them).
    fn rebuild(
        c: &mut Cdc,
        compacted: bool,
        view: &str,
        out: &mut Vec<TraceKind>,
    ) -> Result<(), String> {
        let Some(i) = VIEWS.iter().position(|v| *v == view) else {
            return Err(format!("no view {view:?}"));
        };
        let starts = changes_start(&c.broker);
        if let Some((p, &start)) = starts.iter().enumerate().find(|(_, s)| **s > 0) {
            if !compacted {
                let which = if starts.len() > 1 {
                    format!("partition {p} of {CHANGES}")
                } else {
                    CHANGES.to_owned()
                };
                return Err(format!(
                    "retention dropped offsets 0 to {} of {which}: a rebuild from offset 0 \
                     would miss those changes, so {view} is kept as it is (keep everything, \
                     or use a compacted topic, to rebuild views)",
                    start - 1
                ));
            }
        }
        c.views[i].reset();
        c.seen[i].clear();
        c.behind[i] = false;
        c.rebuilding[i] = true;
        out.push(TraceKind::ViewDropped {
            view: view.to_owned(),
        });
        Ok(())
    }

    /// Every member takes its assignment of the group's current generation.
    fn rebalance(c: &mut Cdc, out: &mut Vec<TraceKind>) {
        let Some(g) = c.broker.group(GROUP).cloned() else {
            return;
        };
        for (name, m) in &mut c.members {
            let parts = g.assignment.get(name).cloned().unwrap_or_default();
            m.assign(&c.broker, CHANGES, g.generation, &parts);
        }
        out.push(TraceKind::Rebalanced {
            generation: g.generation,
            assignment: g.assignment.into_iter().collect(),
        });
    }

    /// Every member commits its positions (at a rebalance, and every
    /// [`COMMIT_EVERY_TICKS`]).
    fn commit_members(c: &mut Cdc, now: u64, out: &mut Vec<TraceKind>) {
        for (name, m) in &mut c.members {
            for (&p, &at) in &m.positions {
                if m.committed.get(&p) == Some(&at) {
                    continue;
                }
                // A refusal (the offsets topic switching generations: busy) is retried
                // at the next commit.
                if c.broker
                    .commit(
                        &mut c.broker_disk as &mut dyn Storage,
                        GROUP,
                        name,
                        m.generation,
                        p,
                        at,
                        now,
                    )
                    .is_ok()
                {
                    m.committed.insert(p, at);
                    out.push(TraceKind::OffsetCommitted {
                        consumer: name.clone(),
                        partition: p,
                        offset: at,
                    });
                }
            }
        }
    }

    fn reset_member(
        c: &mut Cdc,
        consumer: &str,
        to: ResetTo,
        only: Option<u32>,
        now: u64,
        out: &mut Vec<TraceKind>,
    ) -> Result<(), String> {
        let mut parts: Vec<u32> = c.members[consumer].positions.keys().copied().collect();
        if let Some(p) = only {
            if !parts.contains(&p) {
                return Err(format!(
                    "partition {p} is not assigned to {consumer} (it has {parts:?})"
                ));
            }
            parts = vec![p];
        }
        // Every offset is checked before any moves: a refusal changes nothing.
        for &p in &parts {
            let part = &c.broker.partitions(CHANGES).map_err(|e| e.to_string())?[p as usize];
            let (start, end) = (part.start_offset(), part.high_watermark());
            if let ResetTo::Offset(o) = to {
                if o < start || o > end {
                    return Err(format!(
                        "offset {o} is outside partition {p}'s {start}..={end}"
                    ));
                }
            }
        }
        for p in parts {
            let offset = c
                .broker
                .reset_offset(
                    &mut c.broker_disk as &mut dyn Storage,
                    GROUP,
                    CHANGES,
                    p,
                    to,
                    now,
                )
                .map_err(|e| e.to_string())?;
            let m = c.members.get_mut(consumer).expect("a member");
            m.positions.insert(p, offset);
            m.committed.insert(p, offset);
            m.replaying = true;
            out.push(TraceKind::OffsetReset {
                consumer: consumer.to_owned(),
                partition: p,
                offset,
            });
        }
        Ok(())
    }

    /// The group's members read at their own pace (`pace` records per tick over their
    /// partitions, which take turns); they commit every [`COMMIT_EVERY_TICKS`] ticks.
    fn step_members(c: &mut Cdc, now: u64, compacted: bool, out: &mut Vec<TraceKind>) {
        let topic_parts = c.broker.partitions(CHANGES).map_or(0, |ps| ps.len());
        for (name, m) in &mut c.members {
            let mut caught_up = true;
            let mut parts: Vec<(u32, u64)> = m.positions.iter().map(|(p, o)| (*p, *o)).collect();
            if !parts.is_empty() {
                let turn = m.turn % parts.len();
                parts.rotate_left(turn);
                m.turn = turn + 1;
            }
            let mut budget = usize::try_from(m.pace).unwrap_or(usize::MAX);
            for (p, mut at) in parts {
                let Ok(ps) = c.broker.partitions(CHANGES) else {
                    continue;
                };
                let Some(part) = ps.get(p as usize) else {
                    continue;
                };
                if at < part.start_offset() {
                    // Below the start: compaction removed only superseded records (skip
                    // to the start); retention removed records for good (Kafka's
                    // `auto.offset.reset = earliest`, in the trace).
                    at = part.start_offset();
                    if !compacted {
                        out.push(TraceKind::OffsetReset {
                            consumer: name.clone(),
                            partition: p,
                            offset: at,
                        });
                    }
                }
                if budget > 0 {
                    if let Ok(batch) =
                        c.broker
                            .fetch(&c.broker_disk as &dyn Storage, CHANGES, p, at, budget)
                    {
                        if let Some(last) = batch.last() {
                            at = last.offset + 1;
                        }
                        budget -= batch.len();
                        m.consumed += batch.len() as u64;
                    }
                }
                caught_up &= at >= part.high_watermark();
                m.positions.insert(p, at);
            }
            if m.replaying && caught_up {
                m.replaying = false;
                let positions = if topic_parts > 1 {
                    m.positions.iter().map(|(p, o)| (*p, *o)).collect()
                } else {
                    Vec::new()
                };
                out.push(TraceKind::ConsumerCaughtUp {
                    consumer: name.clone(),
                    offset: m.positions.values().copied().next().unwrap_or(0),
                    positions,
                });
            }
        }
        if now.is_multiple_of(COMMIT_EVERY_TICKS) {
            Self::commit_members(c, now, out);
        }
    }

    fn apply_raft(&mut self, action: &Action, out: &mut Vec<TraceKind>) {
        let Some(r) = &mut self.raft else {
            out.push(TraceKind::ActionRefused {
                action: action.clone(),
                reason: "this world has no Raft cluster (config.raft_nodes is 0)".into(),
            });
            return;
        };
        let resolve = |c: &Cluster, t: &str| -> Option<u64> {
            match t {
                "leader" => c.leader(),
                "follower" => c
                    .servers()
                    .keys()
                    .copied()
                    .find(|&n| c.is_up(n) && Some(n) != c.leader()),
                n => n.parse().ok().filter(|n| c.server(*n).is_some()),
            }
        };
        let refuse = |reason: &str| TraceKind::ActionRefused {
            action: action.clone(),
            reason: reason.to_owned(),
        };
        match action {
            Action::RaftCrash { target } => match resolve(&r.cluster, target) {
                Some(n) if r.cluster.is_up(n) => r.cluster.crash(n),
                _ => out.push(refuse("no such node is up")),
            },
            Action::RaftRestart => {
                let down: Vec<u64> = r
                    .cluster
                    .servers()
                    .keys()
                    .copied()
                    .filter(|&n| !r.cluster.is_up(n))
                    .collect();
                for n in down {
                    if let Err(e) = r.cluster.restart(n) {
                        out.push(refuse(&e.to_string()));
                    }
                }
            }
            Action::RaftPartition { side } => {
                let cut: Vec<u64> = side.iter().filter_map(|t| resolve(&r.cluster, t)).collect();
                let rest: Vec<u64> = r
                    .cluster
                    .servers()
                    .keys()
                    .copied()
                    .filter(|n| !cut.contains(n))
                    .collect();
                r.cluster.set_partition(&[cut, rest]);
            }
            Action::RaftHeal => r.cluster.heal(),
            Action::RaftLoss { percent } => {
                let mut net = r.cluster.config().net;
                net.loss_per_million = percent * 10_000;
                r.cluster.set_network(net);
            }
            Action::RaftDelay { min, max } => {
                let mut net = r.cluster.config().net;
                net.latency_min = *min;
                net.latency_max = *max;
                r.cluster.set_network(net);
            }
            Action::RaftWrite { key, value } => {
                r.next_seq += 1;
                r.pending.push((
                    r.next_seq,
                    key.as_bytes().to_vec(),
                    value.as_bytes().to_vec(),
                ));
            }
            _ => {}
        }
        self.drain_raft(out);
    }

    /// One simulator step; the client (re)sends pending writes to the leader every 50
    /// ticks until acknowledged.
    fn step_raft(&mut self, out: &mut Vec<TraceKind>) {
        let Some(r) = &mut self.raft else { return };
        if let (Some(f), Some(c)) = (&mut r.feed, &self.cdc) {
            Self::feed_fill(f, c, out);
        }
        if let Some(leader) = r.cluster.leader() {
            if let Some(b) = r.feed.as_mut().and_then(|f| f.inflight.as_mut()) {
                // A new batch goes at once; an unanswered one again every 50 ticks.
                if !b.sent || self.time.is_multiple_of(50) {
                    b.sent = true;
                    r.cluster.client_send(
                        leader,
                        ClientRequest {
                            client: FEED_CLIENT,
                            seq: b.seq,
                            op: ClientOp::Write(KvOp::Apply {
                                writes: b.writes.clone(),
                            }),
                        },
                    );
                }
            }
            if self.time.is_multiple_of(50) || r.cluster.now() < 2 {
                for (seq, key, value) in &r.pending {
                    r.cluster.client_send(
                        leader,
                        // One client session per write (sessions expect one request
                        // outstanding per client): a retry is applied once.
                        ClientRequest {
                            client: *seq,
                            seq: 1,
                            op: ClientOp::Write(KvOp::Put {
                                key: key.clone(),
                                value: value.clone(),
                            }),
                        },
                    );
                }
            }
        }
        if let Err(e) = r.cluster.step() {
            let (name, detail) = ("raft_safety", e.to_string());
            self.check(name, false, detail, out);
            self.raft = None;
            return;
        }
        for reply in r.cluster.take_client_replies() {
            if reply.client == FEED_CLIENT {
                if let Some(f) = &mut r.feed {
                    let done = matches!(reply.result, ClientResult::Done(_));
                    if done && f.inflight.as_ref().is_some_and(|b| b.seq == reply.seq) {
                        let b = f.inflight.take().expect("checked");
                        f.positions = b.next;
                        f.batches += 1;
                        f.events += b.writes.len() as u64;
                        out.push(TraceKind::RaftReplicated {
                            batch: b.seq,
                            events: b.writes.len() as u64,
                            positions: f.positions.clone(),
                        });
                    }
                }
                continue;
            }
            if matches!(reply.result, ClientResult::Done(_)) {
                if let Some(i) = r.pending.iter().position(|p| p.0 == reply.client) {
                    let (_, k, v) = r.pending.remove(i);
                    r.acked.insert(k, v);
                }
            }
        }
        self.drain_raft(out);
    }

    /// The feed's next batch, when none is in flight: up to [`FEED_BATCH`] acknowledged
    /// change events of `changes`, partitions taking turns. A compacted partition's reader
    /// skips to its start (every key's latest change is kept); below a retained start it
    /// stops for good and says so.
    fn feed_fill(f: &mut Feed, c: &Cdc, out: &mut Vec<TraceKind>) {
        if f.inflight.is_some() || f.behind {
            return;
        }
        let Ok(parts) = c.broker.partitions(CHANGES) else {
            return;
        };
        let n = parts.len();
        let mut next = f.positions.clone();
        next.resize(n, 0);
        let mut writes = Vec::new();
        for i in 0..n {
            let p = (f.turn + i) % n;
            let start = parts[p].start_offset();
            if next[p] < start {
                if !parts[p].config().compacted {
                    f.behind = true;
                    out.push(TraceKind::ViewBehindRetention {
                        view: RAFT_FEED.to_owned(),
                        position: next[p],
                        start,
                        partition: (n > 1).then(|| u32::try_from(p).expect("few partitions")),
                    });
                    return;
                }
                next[p] = start;
            }
            let budget = FEED_BATCH - writes.len();
            if budget == 0 {
                break;
            }
            let part = u32::try_from(p).expect("at most 1024 partitions");
            let Ok(batch) = c.broker.fetch(
                &c.broker_disk as &dyn Storage,
                CHANGES,
                part,
                next[p],
                budget,
            ) else {
                continue;
            };
            for rec in &batch {
                next[p] = rec.offset + 1;
                if let Some(e) = rec
                    .value
                    .as_deref()
                    .and_then(|b| ChangeEvent::decode(b).ok())
                {
                    writes.push((e.key.into_bytes(), e.after.map(String::into_bytes)));
                }
            }
        }
        f.turn = (f.turn + 1) % n.max(1);
        if next != f.positions {
            f.seq += 1;
            f.inflight = Some(FeedBatch {
                seq: f.seq,
                writes,
                next,
                sent: false,
            });
        }
    }

    fn drain_raft(&mut self, out: &mut Vec<TraceKind>) {
        let Some(r) = &mut self.raft else { return };
        for e in r.cluster.take_trace() {
            if let Some(k) = trace::from_raft(&e.kind) {
                out.push(k);
            }
        }
    }

    /// CDC's machines: the broker ticks, the connector reads the WAL and publishes, the
    /// views consume at their own pace.
    fn step_cdc(&mut self, out: &mut Vec<TraceKind>) {
        let (Some(c), Some(db)) = (&mut self.cdc, &mut self.db) else {
            return;
        };
        let now = self.time;
        db.set_wal_hold(Some(c.connector.hold()));
        c.broker_disk.advance(1);
        c.connector_disk.advance(1);
        for done in c.connector_disk.take_completions() {
            c.connector.handle_sync_completion(&done);
        }
        let mut failed = None;
        if let Err(e) = c.broker.tick(&mut c.broker_disk as &mut dyn Storage, now) {
            failed = Some(("broker_keeps_running", e.to_string()));
        } else {
            match c.connector.step(
                db.wal(),
                db.storage() as &dyn Storage,
                &mut c.broker,
                &mut c.broker_disk as &mut dyn Storage,
                &mut c.connector_disk,
                now,
            ) {
                Ok(events) => {
                    for e in events {
                        out.push(match e {
                            CdcEvent::Captured {
                                commit_lsn,
                                txn,
                                events,
                            } => TraceKind::CdcCaptured {
                                commit_lsn: commit_lsn.0,
                                txn: txn.0,
                                events: u64::from(events),
                            },
                            CdcEvent::Discarded { txn } => TraceKind::CdcDiscarded { txn: txn.0 },
                            CdcEvent::Stored(s) => TraceKind::CdcStored {
                                resume: s.resume.0,
                                last_commit: s.last_commit.map(|l| l.0),
                            },
                        });
                    }
                }
                Err(e) => failed = Some(("connector_keeps_running", e.to_string())),
            }
        }
        if failed.is_none() {
            if let Err(e) = Self::step_app(c, now, out) {
                failed = Some(("broker_keeps_running", e.to_string()));
            }
        }
        Self::report_topic(c, out);
        let compacted = self.config.compacted;
        let pace = |name: &str| {
            let p = c.paces.get(name).copied();
            usize::try_from(p.unwrap_or(self.config.view_events_per_tick)).unwrap_or(usize::MAX)
        };
        let rates: Vec<usize> = VIEWS.iter().map(|v| pace(v)).collect();
        let parts = self.config.partitions;
        let dual_rate = pace(DUAL_REPLICA);
        for (i, v) in c.views.iter_mut().enumerate() {
            let seen = compacted.then_some(&mut c.seen[i]);
            match consumers::consume_view(
                v,
                seen,
                &c.broker,
                &c.broker_disk as &dyn Storage,
                CHANGES,
                rates[i],
            ) {
                Ok(_) => {}
                Err(consumers::ConsumeError::Behind {
                    partition,
                    position,
                    start,
                }) => {
                    if !c.behind[i] {
                        c.behind[i] = true;
                        out.push(TraceKind::ViewBehindRetention {
                            view: v.name.clone(),
                            position,
                            start,
                            partition: (parts > 1).then_some(partition),
                        });
                    }
                    continue;
                }
                Err(consumers::ConsumeError::Broker(_)) => continue,
            }
            if c.rebuilding[i] && v.lag(&c.broker, CHANGES).is_ok_and(|l| l == 0) {
                c.rebuilding[i] = false;
                out.push(TraceKind::ViewRebuilt {
                    view: v.name.clone(),
                    offset: v.position(0),
                    positions: positions_if_many(parts, |p| v.position(p)),
                });
            }
        }
        if let Some(d) = &mut c.dual {
            let _ = d.poll(&c.broker, &c.broker_disk as &dyn Storage, DUAL, dual_rate);
        }
        Self::step_members(c, now, compacted, out);
        if let Some((name, detail)) = failed {
            self.check(name, false, detail, out);
        }
        self.report_divergence(out);
    }

    /// Retention and compaction of `changes`, as the broker's tick left it, partition by
    /// partition: segments dropped from the front, a compaction finished.
    fn report_topic(c: &mut Cdc, out: &mut Vec<TraceKind>) {
        let Ok(ps) = c.broker.partitions(CHANGES) else {
            return;
        };
        c.topic_marks.resize(ps.len(), (0, 0));
        for (i, p) in ps.iter().enumerate() {
            let partition = u32::try_from(i).expect("at most 1024 partitions");
            let marks = (p.start_offset(), p.compactions);
            let before = c.topic_marks[i];
            if marks.1 != before.1 {
                out.push(TraceKind::TopicCompacted {
                    topic: CHANGES.to_owned(),
                    partition,
                    records: p.len(),
                    start: marks.0,
                });
            } else if marks.0 > before.0 && !p.config().compacted {
                out.push(TraceKind::SegmentsDropped {
                    topic: CHANGES.to_owned(),
                    partition,
                    start: marks.0,
                });
            }
            c.topic_marks[i] = marks;
        }
    }

    /// [`Action::Compact`] (module docs): the index's manual compaction and the key
    /// compaction of a compacted `changes`; refused, naming why, when neither starts.
    fn compact(&mut self, out: &mut Vec<TraceKind>) {
        let mut started = false;
        let mut why_not = Vec::new();
        let db = self.db.as_mut().expect("checked by apply");
        match db.compact_now() {
            Ok(true) => started = true,
            Ok(false) => why_not.push(
                "the LSM has nothing to compact: its memtables are empty and every table is \
                 already in its deepest level"
                    .to_owned(),
            ),
            Err(e) => why_not.push(format!("config.index is btree: {e}")),
        }
        if self.config.compacted {
            if let Some(c) = &mut self.cdc {
                match c.broker.compact_now(
                    &mut c.broker_disk as &mut dyn Storage,
                    CHANGES,
                    self.time,
                ) {
                    Ok(parts) if !parts.is_empty() => started = true,
                    Ok(_) => why_not.push(format!(
                        "{CHANGES} has no superseded record to drop (or is compacting already)"
                    )),
                    Err(e) => why_not.push(e.to_string()),
                }
            }
        } else if !started {
            why_not.push(format!(
                "config.compacted is false: {CHANGES} is not a compacted topic"
            ));
        }
        if !started {
            out.push(TraceKind::ActionRefused {
                action: Action::Compact,
                reason: why_not.join("; "),
            });
        }
    }

    /// Dual writes: the application produces the transactions now due, in order, each
    /// write a record of `dual` keyed by its row (a plain producer: no sequence numbers,
    /// no stored position, no waiting for the acknowledgement).
    fn step_app(c: &mut Cdc, now: u64, out: &mut Vec<TraceKind>) -> Result<(), BrokerError> {
        while c.app_outbox.front().is_some_and(|w| w.due <= now) {
            let w = c.app_outbox.pop_front().expect("front");
            let count = u32::try_from(w.writes.len()).expect("transactions are bounded");
            for (index, (key, value)) in w.writes.iter().enumerate() {
                let event = ChangeEvent {
                    lsn: w.commit_lsn.0,
                    commit_lsn: w.commit_lsn.0,
                    txn: 0,
                    index: u32::try_from(index).expect("bounded"),
                    count,
                    op: if value.is_some() {
                        Op::Update
                    } else {
                        Op::Delete
                    },
                    key: text(key),
                    before: None,
                    after: value.as_deref().map(text),
                };
                let bytes = event.encode();
                let req = Produce {
                    topic: DUAL,
                    partition: None,
                    key: Some(key),
                    value: Some(&bytes),
                    producer: None,
                };
                c.broker
                    .produce(&mut c.broker_disk as &mut dyn Storage, &req, now)?;
            }
            out.push(TraceKind::DualWriteProduced {
                commit_lsn: w.commit_lsn.0,
                records: u64::from(count),
            });
        }
        Ok(())
    }

    /// Dual writes: once the application has produced every acknowledged transaction and
    /// the replica has consumed everything durable, the divergence is exact; it goes in
    /// the trace when it changed.
    fn report_divergence(&mut self, out: &mut Vec<TraceKind>) {
        let Some(c) = &self.cdc else { return };
        let Some(d) = &c.dual else { return };
        let caught_up = c.app_outbox.is_empty()
            && c.broker.partitions(DUAL).is_ok_and(|ps| {
                ps.iter().zip(0..).all(|(p, i)| {
                    p.high_watermark() == p.next_offset() && d.position(i) >= p.next_offset()
                })
            });
        if !caught_up {
            return;
        }
        let Some(keys) = self.dual_write_divergence() else {
            return;
        };
        if let Some(c) = &mut self.cdc {
            if keys != c.dual_reported {
                c.dual_reported = keys;
                out.push(TraceKind::DualWriteDiverged { keys });
            }
        }
    }

    /// Dual-write mode: the number of keys whose value differs between the database's
    /// committed contents (every acknowledged commit, and whatever recovery found
    /// committed) and the `dual-replica` view; `None` without `config.dual_write`. Exact
    /// once the application has produced and the replica consumed everything; until then
    /// it also counts writes still on their way.
    pub fn dual_write_divergence(&self) -> Option<u64> {
        let c = self.cdc.as_ref()?;
        let View::Replica(replica) = &c.dual.as_ref()?.view else {
            return None;
        };
        let mut want = self.oracle.base.clone();
        for (lsn, w) in &self.oracle.committing {
            if self.oracle.acked_pending.contains(lsn) {
                Oracle::apply(&mut want, w);
            }
        }
        // As the change events carry them: text, then its bytes.
        let want = crate::sort::map_from(
            want.iter()
                .map(|(k, v)| (text(k).into_bytes(), text(v).into_bytes())),
        );
        let differ = want
            .iter()
            .filter(|(k, v)| replica.get(*k) != Some(*v))
            .count()
            + replica.keys().filter(|k| !want.contains_key(*k)).count();
        Some(differ as u64)
    }

    /// The shadow database ticks and applies the acknowledged transactions it has not
    /// applied yet, in order (a write stall or a lock still held: again next tick).
    fn step_shadow(&mut self, out: &mut Vec<TraceKind>) {
        let Some(sh) = &mut self.shadow else { return };
        let now = self.time;
        sh.db.storage_mut().advance(1);
        let mut failed = sh.db.tick(now).err().map(|e| e.to_string());
        while failed.is_none() && !sh.db.is_recovering() {
            let Some(w) = sh.queue.front() else { break };
            let txn = sh.db.begin();
            let r = w.iter().try_for_each(|(k, v)| match v {
                Some(v) => sh.db.put(txn, k, v),
                None => sh.db.delete(txn, k),
            });
            match r.and_then(|()| sh.db.commit(txn)) {
                Ok(()) => {
                    sh.queue.pop_front();
                }
                Err(DbError::WouldBlock(_) | DbError::Conflict { .. }) => {
                    let _ = sh.db.abort(txn);
                    break;
                }
                Err(e) => failed = Some(e.to_string()),
            }
        }
        sh.db.take_acks();
        sh.db.take_events();
        if let Some(e) = failed {
            self.check("shadow_keeps_running", false, e, out);
            self.shadow = None;
            return;
        }
        if now.is_multiple_of(AMPLIFICATION_EVERY_TICKS) {
            self.report_amplification(out);
        }
    }

    /// Both databases' amplification, in the trace (hundredths: the trace has no floats).
    fn report_amplification(&self, out: &mut Vec<TraceKind>) {
        let Some(sh) = &self.shadow else { return };
        for db in self.db.iter().chain(std::iter::once(&sh.db)) {
            let a = db.amplification();
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "ratios are small and never negative; `as` saturates"
            )]
            let x100 = |f: f64| (f * 100.0).round() as u64;
            out.push(TraceKind::Amplification {
                index: match db.index_kind() {
                    IndexKind::BTree => "btree",
                    IndexKind::Lsm => "lsm",
                }
                .to_owned(),
                write_x100: x100(a.write),
                wal_write_x100: x100(a.wal_write),
                index_write_x100: x100(a.index_write),
                read_x100: x100(a.read_pages_per_lookup),
                space_x100: x100(a.space),
                logical_bytes: db.stats().logical_bytes,
            });
        }
    }

    fn step_workload(&mut self, out: &mut Vec<TraceKind>) {
        let Some(mut w) = self.workload.take() else {
            return;
        };
        let Some(db) = &mut self.db else {
            self.workload = Some(w);
            return;
        };
        if db.is_recovering() {
            self.workload = Some(w);
            return;
        }
        for c in &mut w.clients {
            // A client with no transaction starts one if any are left; one with a
            // transaction writes its next key, or commits once it has written them all.
            let txn = match c.txn {
                Some(t) => t,
                None => {
                    if w.remaining == 0 {
                        continue;
                    }
                    w.remaining -= 1;
                    let t = db.begin();
                    c.txn = Some(t);
                    c.writes_left = w.writes;
                    self.oracle.open.insert(t, Writes::new());
                    continue;
                }
            };
            if c.writes_left == 0 {
                let lsn = db.wal().next_lsn();
                match db.commit(txn) {
                    Ok(()) => {
                        let writes = self.oracle.open.remove(&txn).unwrap_or_default();
                        self.oracle.committing.insert(lsn, writes);
                        c.txn = None;
                    }
                    Err(DbError::TxnFinishing(_)) => {}
                    Err(e) => {
                        out.push(TraceKind::ClientAborted {
                            txn: txn.0,
                            reason: format!("commit failed: {e}"),
                        });
                        self.oracle.open.remove(&txn);
                        c.txn = None;
                    }
                }
                continue;
            }
            let key = format!("k{:05}", self.rng.below(u64::from(w.keys))).into_bytes();
            let value = (self.rng.below(8) != 0)
                .then(|| format!("v{}-{}", self.time, self.rng.below(1_000_000)).into_bytes());
            let r = match &value {
                Some(v) => db.put(txn, &key, v),
                None => db.delete(txn, &key),
            };
            match r {
                Ok(()) => {
                    c.writes_left -= 1;
                    self.oracle.open.entry(txn).or_default().insert(key, value);
                }
                // A write stall or the WAL rule: try again next tick.
                Err(DbError::WouldBlock(_)) => {}
                // Another client holds the key (no-wait locks), or worse: give up.
                Err(e) => {
                    let _ = db.abort(txn);
                    self.oracle.open.remove(&txn);
                    c.txn = None;
                    out.push(TraceKind::ClientAborted {
                        txn: txn.0,
                        reason: e.to_string(),
                    });
                }
            }
        }
        self.workload = Some(w);
    }

    /// Ticks until settled (at most `max_ticks`), then checks that the database holds
    /// exactly the committed transactions. Returns the events.
    pub fn check_final(&mut self, max_ticks: u64) -> Vec<TraceKind> {
        let mut out = Vec::new();
        for _ in 0..max_ticks {
            if self.is_settled() {
                break;
            }
            out.extend(self.tick());
        }
        if self.db.is_none() {
            return out;
        }
        if !self.is_settled() {
            let name = "run_settles";
            self.check(
                name,
                false,
                format!("still busy after {max_ticks} ticks: {}", self.busy_with()),
                &mut out,
            );
            return out;
        }
        let want = self.oracle.all_committed();
        for _ in 0..1000 {
            if self.compare("final_state_is_committed_state", &want, &mut out) {
                break;
            }
            out.extend(self.tick());
        }
        self.drain(&mut out);
        self.check_cdc(&mut out);
        self.check_raft(&mut out);
        self.check_shadow(&mut out);
        out
    }

    /// `compare_indexes` at the end: both amplifications, and (when the database never
    /// crashed: a crash can keep commits nobody acknowledged) the shadow holds the same
    /// rows.
    fn check_shadow(&mut self, out: &mut Vec<TraceKind>) {
        if self.shadow.is_none() {
            return;
        }
        self.report_amplification(out);
        if self.crashes > 0 {
            return;
        }
        let main = self.scan_all();
        let Some(sh) = &mut self.shadow else { return };
        let other = sh.db.scan(b"", None).map(crate::sort::map_from);
        let (ok, detail) = match (main, other) {
            (Ok(a), Ok(b)) if a == b => {
                (true, format!("both indexes hold the same {} rows", a.len()))
            }
            (Ok(a), Ok(b)) => (
                false,
                format!(
                    "the database holds {} rows, the shadow {}",
                    a.len(),
                    b.len()
                ),
            ),
            (Err(e), _) | (_, Err(e)) => (false, format!("scan failed: {e}")),
        };
        self.check("shadow_equals_database", ok, detail, out);
    }

    /// CDC at the end: every view equals the same view rebuilt from offset 0 and the
    /// view computed from the database's rows. With size retention, once segments were
    /// dropped no rebuild from offset 0 is possible: the views are compared with the
    /// database only, and the detail says so.
    fn check_cdc(&mut self, out: &mut Vec<TraceKind>) {
        if self.cdc.is_none() {
            return;
        }
        let rows = self.contents();
        let compacted = self.config.compacted;
        let Some(c) = &self.cdc else { return };
        let starts = changes_start(&c.broker);
        // One partition: its start; several: each one's (the details name them).
        let start = match starts.as_slice() {
            [one] => one.to_string(),
            many => format!(
                "{many:?} (partitions 0 to {})",
                many.len().saturating_sub(1)
            ),
        };
        let rebuildable = compacted || starts.iter().all(|s| *s == 0);
        let mut problems = Vec::new();
        for (i, v) in c.views.iter().enumerate() {
            let kind = match v.view {
                View::Replica(_) => ViewKind::Replica,
                View::Aggregate(_) => ViewKind::Aggregate,
                View::Search(_) => ViewKind::Search,
            };
            if c.behind[i] {
                let at = match v.positions.as_slice() {
                    [] => "0".to_owned(),
                    [one] => one.to_string(),
                    many => format!("{many:?}"),
                };
                problems.push(format!(
                    "{}: stopped at offset {at} below the retained start {start}",
                    v.name
                ));
            }
            let direct = View::of_rows(kind, rows.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            if v.view != direct {
                problems.push(format!("{}: differs from the database", v.name));
            }
            if !rebuildable {
                continue;
            }
            let mut rebuilt = MaterializedView::new(&v.name, kind);
            let mut seen = crate::cdc::views::Rows::new();
            loop {
                let seen = compacted.then_some(&mut seen);
                match consumers::consume_view(
                    &mut rebuilt,
                    seen,
                    &c.broker,
                    &c.broker_disk as &dyn Storage,
                    CHANGES,
                    4096,
                ) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => {
                        problems.push(format!("{}: rebuild failed: {e:?}", v.name));
                        break;
                    }
                }
            }
            if v.view != rebuilt.view {
                problems.push(format!("{}: differs from its rebuild", v.name));
            }
        }
        let ok = problems.is_empty();
        let detail = if !ok {
            problems.join("; ")
        } else if rebuildable {
            format!("{} rows; replica, aggregate and search equal their rebuilds from offset 0 and the database", rows.len())
        } else {
            format!("{} rows; replica, aggregate and search equal the database (no rebuild from offset 0: retention dropped offsets below {start})", rows.len())
        };
        self.check("views_equal_database_and_rebuilds", ok, detail, out);
    }

    /// Raft at the end: every node up holds the same state, and it has every
    /// acknowledged write.
    fn check_raft(&mut self, out: &mut Vec<TraceKind>) {
        let Some(r) = &self.raft else { return };
        let c = &r.cluster;
        type State<'a> = (u64, &'a BTreeMap<Vec<u8>, Vec<u8>>);
        let states: Vec<State<'_>> = c
            .servers()
            .iter()
            .filter(|(n, _)| c.is_up(**n))
            .map(|(n, s)| (*n, s.kv().data()))
            .collect();
        let same = states.windows(2).all(|w| w[0].1 == w[1].1);
        let missing: Vec<String> = r
            .acked
            .iter()
            .filter(|(k, v)| states.first().is_none_or(|s| s.1.get(*k) != Some(*v)))
            .map(|(k, _)| text(k))
            .collect();
        let ok = same && missing.is_empty();
        let detail = if ok {
            format!(
                "{} nodes up hold the same {} keys, every acknowledged write among them",
                states.len(),
                states.first().map_or(0, |s| s.1.len())
            )
        } else if !same {
            "nodes that are up disagree".to_owned()
        } else {
            format!("acknowledged writes missing: {missing:?}")
        };
        self.check("raft_nodes_converge", ok, detail, out);
        self.check_feed(out);
    }

    /// `config.raft_replicates` at the end: the nodes hold the database's rows.
    fn check_feed(&mut self, out: &mut Vec<TraceKind>) {
        let Some(f) = self.raft.as_ref().and_then(|r| r.feed.as_ref()) else {
            return;
        };
        let (behind, batches, events) = (f.behind, f.batches, f.events);
        let rows = self.scan_all();
        let Some(r) = &self.raft else { return };
        let c = &r.cluster;
        let node = c.servers().iter().find(|(n, _)| c.is_up(**n));
        let (ok, detail) = match (rows, node) {
            _ if behind => (
                false,
                "retention dropped changes the feed had not read".to_owned(),
            ),
            (Err(e), _) => (false, format!("scan failed: {e}")),
            (Ok(_), None) => (false, "no node is up".to_owned()),
            (Ok(rows), Some((n, s))) if s.kv().data() == &rows => (
                true,
                format!(
                    "n{n} holds the database's {} rows, from {events} changes in {batches} \
                     batches through the Raft log",
                    rows.len()
                ),
            ),
            (Ok(rows), Some((n, s))) => {
                let data = s.kv().data();
                let differ: Vec<String> = crate::vec_map::VecSet::from_iter(
                    rows.keys()
                        .chain(data.keys())
                        .filter(|k| rows.get(*k) != data.get(*k))
                        .map(|k| text(k)),
                )
                .into_iter()
                .take(5)
                .collect();
                (
                    false,
                    format!(
                        "n{n} holds {} rows, the database {}; keys that differ: {differ:?}",
                        data.len(),
                        rows.len()
                    ),
                )
            }
        };
        self.check("raft_replicates_database", ok, detail, out);
    }

    /// The database's keys and values now (a scan; empty when closed or blocked).
    pub fn contents(&mut self) -> Vec<(String, String)> {
        self.scan_all()
            .map(|m| m.iter().map(|(k, v)| (text(k), text(v))).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// The oracle folds acknowledged commits into its base: over a crash-free run it holds
    /// only what is not acknowledged yet, however many transactions went by, and a crash
    /// after that still checks every acknowledged commit.
    #[test]
    fn the_oracle_stays_the_size_of_the_database_not_of_the_run() {
        let (mut w, _) = World::new(WorldConfig::default(), 3).unwrap();
        w.apply(&Action::Workload {
            clients: 8,
            transactions: 2_000,
            keys: 50,
            writes: 2,
        });
        let mut most = 0;
        for _ in 0..20_000 {
            w.tick();
            most = most.max(w.oracle.committing.len());
            if w.is_settled() {
                break;
            }
        }
        assert!(w.is_settled(), "{}", w.busy_with());
        assert!(w.oracle.acked > 400, "{}", w.oracle.acked);
        assert!(
            most < 100,
            "at most {most} commits waited for their acknowledgement"
        );
        assert!(w.oracle.committing.is_empty() && w.oracle.acked_pending.is_empty());
        assert!(w.oracle.base.len() <= 50);
        let out = w.apply(&Action::Crash);
        let end = w.check_final(5_000);
        assert!(w.failures().is_empty(), "{:?}", w.failures());
        assert!(out.iter().chain(&end).any(|k| matches!(k,
            TraceKind::InvariantChecked { name, ok: true, .. } if name == "recovered_state_is_committed_state")));
    }
}
