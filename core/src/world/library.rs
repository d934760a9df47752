//! The guided scenario library: one scenario per idea, with narration.
//!
//! The scenarios are defined here in Rust, so the playground links no JSON parser for
//! them (the wasm budget); `core/scenarios/{name}.json` holds each one as JSON — the
//! format authors copy — and `core/tests/world.rs` checks that every file is exactly
//! [`Scenario::to_json`] of its definition and parses back to it.

use super::scenario::{Condition, NarrationStep, Scenario, TimedAction, VERSION};
use super::{Action, IndexChoice, WorldConfig};

fn at(at: u64, action: Action) -> TimedAction {
    TimedAction { at, action }
}

fn on(event: &str, count: u64, text: &str) -> NarrationStep {
    NarrationStep {
        text: text.to_owned(),
        until: Condition::Event {
            event: event.to_owned(),
            count,
        },
    }
}

fn write(key: &str, value: &str) -> Action {
    Action::Write {
        key: key.to_owned(),
        value: value.to_owned(),
    }
}

fn workload(clients: u32, transactions: u32, keys: u32, writes: u32) -> Action {
    Action::Workload {
        clients,
        transactions,
        keys,
        writes,
    }
}

fn build(
    name: &str,
    title: &str,
    seed: u64,
    config: WorldConfig,
    end: u64,
    actions: Vec<TimedAction>,
    narration: Vec<NarrationStep>,
) -> Scenario {
    Scenario {
        version: VERSION,
        name: name.to_owned(),
        title: title.to_owned(),
        seed,
        config,
        end,
        actions,
        narration,
    }
}

fn log_is_the_truth() -> Scenario {
    build(
        "log-is-the-truth",
        "The log is the truth: write, crash, replay",
        1,
        WorldConfig {
            sync_latency: [20, 30],
            group_commit: false,
            ..WorldConfig::default()
        },
        200,
        vec![
            at(1, write("apple", "red")),
            at(2, write("banana", "yellow")),
            at(80, write("cherry", "dark red")),
            at(82, Action::Crash),
            at(120, Action::Read { key: "apple".into() }),
            at(121, Action::Read { key: "cherry".into() }),
        ],
        vec![
            on("record_appended", 1, "Every change is first appended to the write-ahead log, a record with an LSN."),
            on("committed", 2, "A commit is not acknowledged until a sync makes its record durable."),
            on("crash", 1, "The third write is appended, but the disk crashes before its sync completes."),
            on("reopened", 1, "Recovery reads the log from the last checkpoint: what was durable comes back, what was not never happened."),
            on("invariant_checked", 2, "The two acknowledged writes are there; the unacknowledged one is gone, and no reader ever saw it."),
        ],
    )
}

fn group_commit() -> Scenario {
    build(
        "group-commit",
        "Group commit: many commits, one sync",
        2,
        WorldConfig {
            sync_latency: [10, 10],
            max_batch: 16,
            max_wait_ticks: 3,
            ..WorldConfig::default()
        },
        600,
        vec![at(1, workload(12, 300, 5000, 2))],
        vec![
            on("sync_issued", 1, "Twelve clients commit at once. A sync takes 10 ticks, so one sync per commit would cap throughput at one commit per 10 ticks."),
            on("committed", 50, "While one sync is in flight, the commits that arrive wait and share the next one."),
            on("committed", 250, "Every acknowledgement still means durable: the batch's commit records were all covered by the sync."),
        ],
    )
}

fn torn_write() -> Scenario {
    build(
        "torn-write",
        "A torn write and the checksum",
        3,
        WorldConfig {
            sync_latency: [30, 40],
            ..WorldConfig::default()
        },
        300,
        vec![at(1, workload(4, 40, 50, 3)), at(90, Action::Crash)],
        vec![
            on("committed", 5, "Clients commit; each WAL frame carries a CRC32C of its contents."),
            on("crash", 1, "The disk crashes with a sync in flight: some of its sectors reached the platter, some did not."),
            on("reopened", 1, "Recovery reads frames until one's checksum fails: the torn tail is cut off, everything before it is replayed."),
            on("invariant_checked", 2, "Every acknowledged commit survived; nothing half-written is visible."),
        ],
    )
}

fn checkpoint_redo_undo() -> Scenario {
    build(
        "checkpoint-redo-undo",
        "Checkpoints, redo and undo",
        4,
        WorldConfig {
            sync_latency: [4, 8],
            checkpoint_every_wal_bytes: 8192,
            ..WorldConfig::default()
        },
        400,
        vec![at(1, workload(6, 400, 200, 4)), at(150, Action::Crash)],
        vec![
            on("checkpoint_done", 1, "A fuzzy checkpoint writes the dirty pages and records where redo must start."),
            on("crash", 1, "The crash lands with transactions half done."),
            on("reopened", 1, "Analysis finds winners and losers; redo repeats history from the checkpoint's redo point."),
            on("invariant_checked", 2, "Undo rolls the losers back, logging a compensation record for each change it undoes."),
        ],
    )
}

fn btree_vs_lsm() -> Scenario {
    let mut actions = vec![at(1, workload(4, 500, 300, 3))];
    for i in 0..20u64 {
        actions.push(at(
            700 + i,
            Action::Read {
                key: format!("k{:05}", i * 15),
            },
        ));
    }
    build(
        "btree-vs-lsm",
        "B-tree vs LSM: write, read and space amplification on the same workload",
        13,
        WorldConfig {
            index: IndexChoice::Btree,
            sync_latency: [2, 4],
            memtable_bytes: 2048,
            checkpoint_every_wal_bytes: 16384,
            compare_indexes: true,
            ..WorldConfig::default()
        },
        300,
        actions,
        vec![
            on("committed", 20, "One workload, two indexes: every transaction this B-tree database acknowledges is also applied to a shadow database that keeps an LSM tree, on its own disk."),
            on("checkpoint_done", 1, "The B-tree updates pages in place: a checkpoint writes every dirty page, a whole page for a few changed bytes. That is its write amplification, beside the WAL."),
            on("amplification", 2, "The engines' own counters, side by side: bytes written per byte of data (WAL plus pages, or WAL plus tables and their compactions), pages or blocks read per lookup, bytes on disk per live byte."),
            on("amplification", 4, "The LSM tree writes sorted tables and rewrites them as compaction merges them into deeper levels: its write amplification grows with the levels, the B-tree's with the page size over the record size."),
            on("read_result", 20, "Reads: the B-tree walks one root-to-leaf path; the LSM tree probes its memtables and, level by level, the tables whose bloom filters do not rule the key out."),
            on("amplification", 8, "Space: the B-tree's pages are partly empty; the LSM tree keeps old versions until compaction drops them."),
            on("invariant_checked", 2, "And both hold exactly the same rows."),
        ],
    )
}

fn lsm_flush_compaction() -> Scenario {
    build(
        "lsm-flush-compaction",
        "LSM: memtable, flush, compaction and bloom filters",
        5,
        WorldConfig {
            index: IndexChoice::Lsm,
            sync_latency: [2, 4],
            memtable_bytes: 2048,
            checkpoint_every_wal_bytes: 32768,
            ..WorldConfig::default()
        },
        400,
        vec![
            at(1, workload(4, 600, 400, 3)),
            at(500, Action::Read { key: "k00007".into() }),
            at(520, Action::Crash),
        ],
        vec![
            on("memtable_frozen", 1, "Writes go to the WAL and into a sorted memtable in memory."),
            on("flush_done", 1, "A full memtable is frozen and flushed to an immutable sorted file in L0, once the WAL is durable past it."),
            on("compaction_done", 1, "L0 files overlap; compaction merges them into the level below, newest value winning."),
            on("reopened", 1, "A crash loses the memtable; recovery replays the WAL above the last flushed LSN into a new one."),
            on("invariant_checked", 2, "Everything committed is back."),
        ],
    )
}

fn cdc_and_views() -> Scenario {
    build(
        "cdc-and-views",
        "CDC: the WAL as a stream, views rebuilt from offset zero",
        6,
        WorldConfig {
            sync_latency: [3, 6],
            cdc: true,
            view_events_per_tick: 4,
            ..WorldConfig::default()
        },
        600,
        vec![
            at(1, workload(4, 250, 40, 3)),
            at(120, Action::CrashConnector),
            at(200, Action::CrashBroker),
            at(260, Action::Crash),
            at(320, Action::RebuildView {
                view: "search".into(),
            }),
        ],
        vec![
            on("cdc_captured", 1, "The connector reads the WAL: only durable records, and only committed transactions become change events, in commit order."),
            on("cdc_stored", 3, "Once the broker acknowledges a transaction's events, the connector stores its position — after, never before."),
            on("component_crashed", 1, "The connector crashes. It restarts from its stored position and publishes again with the same sequence numbers: the broker drops the repeats."),
            on("component_crashed", 2, "The broker crashes and loses what was not durable; the connector resends what was never acknowledged."),
            on("reopened", 1, "The database crashes too. Its WAL is held from the connector's position, so nothing unpublished is trimmed."),
            on("view_rebuilt", 1, "The search index was dropped and rebuilt from offset zero: a view is a disposable projection of the log."),
            on("invariant_checked", 4, "Every view equals its rebuild and the database itself."),
        ],
    )
}

fn raft_election() -> Scenario {
    let w = |k: &str, v: &str| Action::RaftWrite {
        key: k.into(),
        value: v.into(),
    };
    build(
        "raft-election",
        "Raft: an election, a crashed leader, a partition",
        7,
        WorldConfig {
            raft_nodes: 5,
            ..WorldConfig::default()
        },
        1500,
        vec![
            at(400, w("x", "1")),
            at(800, Action::RaftCrash {
                target: "leader".into(),
            }),
            at(1400, w("y", "2")),
            at(1600, Action::RaftPartition {
                side: vec!["leader".into()],
            }),
            at(2200, w("z", "3")),
            at(2600, Action::RaftHeal),
            at(2700, Action::RaftRestart),
        ],
        vec![
            on("raft_role", 1, "Five servers start as followers. One times out first (the timeouts are random) and asks for votes."),
            on("raft_vote", 2, "Each server grants one vote per term, and only once it is durable."),
            on("raft_commit", 3, "With a majority, a leader is elected; it appends writes and commits them once a majority holds them."),
            on("raft_node", 1, "The leader crashes. Followers stop hearing heartbeats; after a timeout a new election begins."),
            on("raft_partition", 1, "The new leader is cut off alone: it cannot commit anything, and the majority elects another."),
            on("raft_partition", 2, "The partition heals: the old leader sees a higher term, steps down and takes the new leader's log."),
            on("invariant_checked", 1, "Every node holds the same state, with every acknowledged write."),
        ],
    )
}

fn raft_catch_up() -> Scenario {
    let mut actions = vec![at(
        300,
        Action::RaftCrash {
            target: "follower".into(),
        },
    )];
    for i in 0..30u64 {
        actions.push(at(
            400 + 20 * i,
            Action::RaftWrite {
                key: format!("k{i:02}"),
                value: format!("v{i}"),
            },
        ));
    }
    actions.push(at(1500, Action::RaftRestart));
    build(
        "raft-catch-up",
        "Raft: a follower catches up by log and by snapshot",
        8,
        WorldConfig {
            raft_nodes: 5,
            ..WorldConfig::default()
        },
        1500,
        actions,
        vec![
            on("raft_role", 1, "A five-node cluster elects a leader."),
            on("raft_node", 1, "A follower crashes; the other four still form a majority, so writes keep committing."),
            on("raft_snapshot", 1, "The others take snapshots and trim their logs behind them."),
            on("raft_node", 2, "The follower restarts from its disk, far behind."),
            on("invariant_checked", 1, "It catches up — from the log where the leader still has the entries, by an InstallSnapshot where it does not — and holds the same state as everyone."),
        ],
    )
}

fn raft_replicates_the_database() -> Scenario {
    let node = |t: &str| t.to_owned();
    build(
        "raft-replicates-the-database",
        "Raft replicates the database: the change log through a consensus log",
        21,
        WorldConfig {
            sync_latency: [2, 4],
            cdc: true,
            view_events_per_tick: 8,
            raft_nodes: 3,
            raft_replicates: true,
            ..WorldConfig::default()
        },
        1100,
        vec![
            // The cluster's first election takes about 200 ticks.
            at(240, workload(2, 500, 120, 2)),
            at(
                330,
                Action::RaftCrash {
                    target: node("leader"),
                },
            ),
            at(400, Action::Crash),
            at(
                660,
                Action::RaftPartition {
                    side: vec![node("follower")],
                },
            ),
            at(740, Action::RaftHeal),
            at(820, Action::RaftRestart),
        ],
        vec![
            on("raft_replicated", 1, "The database commits; CDC publishes each transaction's changes to `changes`. A feed reads the topic like any consumer and hands the leader of a three-node Raft cluster each batch as one command. The entry commits once two of the three nodes hold it, and every node applies it to its own copy of the rows."),
            on("raft_node", 1, "The Raft leader crashes. Until the two others time out and elect a new one, nothing commits: the feed's batch waits unanswered, and the changes wait in the topic."),
            on("crash", 1, "Now the database crashes too. What it acknowledged is in its WAL; the connector resumes from its stored position and the feed from its own offsets, so nothing is lost or doubled on the way to the Raft nodes."),
            on("raft_replicated", 7, "A new leader is elected. The feed sends its unanswered batch again, under the same session number (applied once even if an earlier copy got through), and what waited in the topic follows."),
            on("raft_partition", 1, "One of the two nodes still up is cut off. No majority is left: nothing commits, no leader can be elected, and the feed waits again."),
            on("raft_partition", 2, "The network heals. The leader reaches a majority again, and the batches that waited commit."),
            on("raft_node", 2, "The crashed node restarts from its disk and catches up from the leader: from its log, or by a snapshot where the log it needs is gone."),
            on("invariant_checked", 6, "At the end every node holds exactly the database's rows (`raft_replicates_database`): the database's log, carried through a second log."),
        ],
    )
}

fn consumers_own_pace() -> Scenario {
    let join = |c: &str| Action::JoinConsumer { consumer: c.into() };
    let pace = |c: &str, n: u64| Action::SetPace {
        consumer: c.into(),
        events_per_tick: n,
    };
    build(
        "consumers-own-pace",
        "Consumers at their own pace, and replay from offset zero",
        9,
        WorldConfig {
            sync_latency: [3, 6],
            cdc: true,
            view_events_per_tick: 6,
            ..WorldConfig::default()
        },
        500,
        vec![
            at(1, workload(4, 300, 50, 2)),
            at(2, pace("search", 1)),
            at(3, join("alice")),
            at(4, join("bob")),
            at(5, pace("bob", 3)),
            at(220, Action::LeaveConsumer {
                consumer: "bob".into(),
            }),
            at(400, Action::ResetOffset {
                consumer: "alice".into(),
                to: "earliest".into(),
                partition: None,
            }),
            at(420, pace("alice", 40)),
            at(450, pace("search", 30)),
        ],
        vec![
            on("consumer_joined", 1, "The topic does not push: each consumer pulls from its own offset. Alice joins the consumer group `app` on `changes`."),
            on("rebalanced", 2, "Bob joins: a rebalance, a new generation. `changes` has one partition; the range assignor gives it to Bob, and Alice waits with nothing assigned."),
            on("offset_committed", 3, "Bob reads three records a tick and commits his offset to `__consumer_offsets` every ten ticks. The search view reads one a tick and falls behind; the replica keeps up. Nobody waits for anybody."),
            on("consumer_left", 1, "Bob leaves: another rebalance. His partition goes to Alice, who starts from his last committed offset."),
            on("offset_reset", 1, "Alice's offset is reset to the earliest: she reads the whole history again, from offset zero."),
            on("consumer_caught_up", 1, "The replay reaches the end of the log: the history was all there, and reading it changed nothing for anyone else."),
            on("invariant_checked", 2, "The slow search view caught up too, and every view equals the database."),
        ],
    )
}

fn cdc_vs_dual_writes() -> Scenario {
    build(
        "cdc-vs-dual-writes",
        "CDC vs dual writes: a crash between commit and produce",
        10,
        WorldConfig {
            sync_latency: [3, 6],
            cdc: true,
            dual_write: true,
            view_events_per_tick: 8,
            ..WorldConfig::default()
        },
        600,
        vec![
            at(1, workload(4, 300, 40, 2)),
            at(100, Action::Crash),
            at(200, Action::CrashBroker),
        ],
        vec![
            on("cdc_captured", 1, "Two ways to get changes into a topic. CDC reads the database's WAL and publishes what committed, exactly once."),
            on("dual_write_produced", 1, "Dual writes: once the database acknowledges a commit, the application writes the same change to the topic `dual` itself."),
            on("dual_write_lost", 1, "The database's machine crashes after acknowledging commits but before the application produced them: the database has them, `dual` never will."),
            on("component_crashed", 1, "The broker crashes: records the application sent but the broker had not synced are gone, and the application, which did not wait, never resends them."),
            on("dual_write_diverged", 1, "Once everything is produced and consumed, the dual replica and the database disagree on these keys, and nothing will repair them."),
            on("invariant_checked", 4, "CDC's views equal the database: the connector only publishes durable commits and resumes from its stored position."),
        ],
    )
}

fn rebuild_a_view() -> Scenario {
    build(
        "rebuild-a-view",
        "Rebuilding a view from offset zero",
        11,
        WorldConfig {
            sync_latency: [3, 6],
            cdc: true,
            view_events_per_tick: 5,
            ..WorldConfig::default()
        },
        500,
        vec![
            at(1, workload(4, 200, 30, 3)),
            at(150, Action::RebuildView {
                view: "aggregate".into(),
            }),
            at(151, Action::SetPace {
                consumer: "aggregate".into(),
                events_per_tick: 25,
            }),
            at(300, Action::ResetOffset {
                consumer: "search".into(),
                to: "earliest".into(),
                partition: None,
            }),
        ],
        vec![
            on("cdc_captured", 10, "Three views consume `changes`: a replica table, counts and sums by key prefix, and a search index. None is the source of truth; the log is."),
            on("view_dropped", 1, "The aggregate view is dropped: its state is gone, and it starts again at offset zero."),
            on("view_rebuilt", 1, "It replays the whole history, faster than it was written, and catches up with the others."),
            on("view_rebuilt", 2, "Resetting the search index to the earliest offset is the same thing: drop the state, replay the log."),
            on("invariant_checked", 2, "Each view equals its rebuild from offset zero and the view computed from the database's rows."),
        ],
    )
}

fn compacted_topic() -> Scenario {
    build(
        "compacted-topic",
        "A log-compacted topic keeps the latest record per key",
        12,
        WorldConfig {
            sync_latency: [3, 6],
            cdc: true,
            compacted: true,
            view_events_per_tick: 8,
            ..WorldConfig::default()
        },
        500,
        vec![
            at(1, workload(4, 400, 12, 2)),
            at(360, Action::RebuildView {
                view: "replica".into(),
            }),
            at(361, Action::RebuildView {
                view: "aggregate".into(),
            }),
            at(362, Action::RebuildView {
                view: "search".into(),
            }),
        ],
        vec![
            on("cdc_captured", 5, "Clients rewrite the same twelve keys over and over; every change goes to `changes`, a log-compacted topic."),
            on("topic_compacted", 1, "The broker compacts the partition: for each key only the latest record stays, offsets unchanged, with gaps."),
            on("topic_compacted", 3, "However long the history, the partition stays about as big as the table."),
            on("view_dropped", 3, "All three views are dropped and rebuilt from the start of the compacted log."),
            on("view_rebuilt", 3, "The rebuild reads far fewer records than were ever written, and ends in the same state: the latest value of every key is all a table needs."),
            on("invariant_checked", 2, "Every view equals its rebuild and the database."),
        ],
    )
}

fn partitioned_group() -> Scenario {
    let join = |c: &str| Action::JoinConsumer { consumer: c.into() };
    build(
        "partitioned-group",
        "Partitions: a consumer group splits the topic",
        13,
        WorldConfig {
            sync_latency: [3, 6],
            cdc: true,
            partitions: 4,
            view_events_per_tick: 8,
            ..WorldConfig::default()
        },
        500,
        vec![
            at(1, workload(4, 300, 60, 2)),
            at(3, join("alice")),
            at(4, join("bob")),
            at(5, join("carol")),
            at(6, Action::SetPace {
                consumer: "carol".into(),
                events_per_tick: 2,
            }),
            at(200, Action::LeaveConsumer {
                consumer: "carol".into(),
            }),
            at(330, Action::ResetOffset {
                consumer: "bob".into(),
                to: "earliest".into(),
                partition: Some(3),
            }),
        ],
        vec![
            on("cdc_captured", 1, "`changes` has four partitions. The connector routes each change by its row's key, so every change of a row lands in the same partition, in commit order; its exactly-once state keeps one sequence number per partition."),
            on("rebalanced", 3, "Alice, Bob and Carol join the group `app`. The range assignor splits the four partitions between them: Alice reads partition 0, Bob 1, Carol 2 and 3."),
            on("offset_committed", 8, "Each member reads only its own partitions, at its own pace, and commits one offset per partition. Carol reads two records a tick across her two partitions and falls behind; nobody waits for her."),
            on("consumer_left", 1, "Carol leaves: a rebalance. Alice now has partitions 0 and 1, Bob 2 and 3, and each picks up Carol's partitions from the offsets she committed."),
            on("offset_reset", 1, "Bob's offset in partition 3 alone goes back to the earliest: he replays that partition, and his position in partition 2 does not move."),
            on("consumer_caught_up", 1, "The replay reaches the end of partition 3."),
            on("invariant_checked", 2, "The views read all four partitions in turn. Partitions are not ordered against each other, but a row's changes all sit in one partition, so each view still equals the database."),
        ],
    )
}

fn compact_now() -> Scenario {
    build(
        "compact-now",
        "Compact now: a manual compaction, and a crash in the middle",
        14,
        WorldConfig {
            index: IndexChoice::Lsm,
            sync_latency: [2, 4],
            memtable_bytes: 1024,
            checkpoint_every_wal_bytes: 32768,
            cdc: true,
            compacted: true,
            partitions: 2,
            view_events_per_tick: 8,
            ..WorldConfig::default()
        },
        400,
        vec![
            at(1, workload(4, 400, 200, 3)),
            at(230, Action::Compact),
            at(263, Action::Crash),
            at(300, Action::Compact),
        ],
        vec![
            on("flush_done", 1, "Writes fill memtables, which flush to L0 tables; the policy compacts a level when its score says so. `changes` is a compacted topic with two partitions."),
            on("action", 2, "Someone asks for a compaction now, as with RocksDB's CompactRange: the memtable is frozen and flushed, then each level is merged whole into the next, down to the deepest level holding data. The broker starts a key compaction of both partitions of `changes` too."),
            on("crash", 1, "The database crashes in the middle of the manual compaction. It has the same phases, syncs and manifest edits as any compaction, so recovery is the usual case table: until its edit is durable the recovered version does not have its outputs (any that reached the disk are orphans, deleted), and the request itself is gone, as RocksDB's is."),
            on("reopened", 1, "Recovery replays the WAL above the last flushed LSN into a new memtable; the policy's own compaction of the many L0 tables follows."),
            on("action", 4, "Asked again, the compaction runs to the end: what was in L0 when it was asked for is merged whole into L1 (the trace marks it `manual`), while new writes keep flushing beside it."),
            on("invariant_checked", 4, "Everything committed is there, and the views, rebuilt from the compacted partitions, equal the database."),
        ],
    )
}

/// Every library scenario, in teaching order.
pub fn all() -> Vec<Scenario> {
    vec![
        log_is_the_truth(),
        group_commit(),
        torn_write(),
        checkpoint_redo_undo(),
        btree_vs_lsm(),
        lsm_flush_compaction(),
        cdc_and_views(),
        consumers_own_pace(),
        cdc_vs_dual_writes(),
        rebuild_a_view(),
        compacted_topic(),
        partitioned_group(),
        compact_now(),
        raft_election(),
        raft_catch_up(),
        raft_replicates_the_database(),
    ]
}

/// The names, in teaching order.
pub const NAMES: &[&str] = &[
    "log-is-the-truth",
    "group-commit",
    "torn-write",
    "checkpoint-redo-undo",
    "btree-vs-lsm",
    "lsm-flush-compaction",
    "cdc-and-views",
    "consumers-own-pace",
    "cdc-vs-dual-writes",
    "rebuild-a-view",
    "compacted-topic",
    "partitioned-group",
    "compact-now",
    "raft-election",
    "raft-catch-up",
    "raft-replicates-the-database",
];

/// The library scenario called `name`.
pub fn scenario(name: &str) -> Option<Scenario> {
    all().into_iter().find(|s| s.name == name)
}

/// The names, in teaching order.
pub fn names() -> impl Iterator<Item = &'static str> {
    NAMES.iter().copied()
}
