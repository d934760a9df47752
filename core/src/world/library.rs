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

/// Every library scenario, in teaching order.
pub fn all() -> Vec<Scenario> {
    vec![
        log_is_the_truth(),
        group_commit(),
        torn_write(),
        checkpoint_redo_undo(),
        lsm_flush_compaction(),
        cdc_and_views(),
        raft_election(),
        raft_catch_up(),
    ]
}

/// The names, in teaching order.
pub const NAMES: &[&str] = &[
    "log-is-the-truth",
    "group-commit",
    "torn-write",
    "checkpoint-redo-undo",
    "lsm-flush-compaction",
    "cdc-and-views",
    "raft-election",
    "raft-catch-up",
];

/// The library scenario called `name`.
pub fn scenario(name: &str) -> Option<Scenario> {
    all().into_iter().find(|s| s.name == name)
}

/// The names, in teaching order.
pub fn names() -> impl Iterator<Item = &'static str> {
    NAMES.iter().copied()
}
