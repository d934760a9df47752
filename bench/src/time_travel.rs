//! Time travel speed (issue 7): seeking anywhere in a run of 100,000 trace events must take
//! under 100 ms natively. A run of the `group-commit`-style workload long enough to
//! produce the events, then seeks to seeded random positions (each from wherever the last
//! one left the timeline), timed with the caller's clock.
//!
//! `cargo run --profile bench -p logspine-bench -- seek` prints the table.

use logspine_core::world::{Action, Scenario, TimedAction, Timeline, WorldConfig};
use logspine_core::Rng;

use crate::Clock;

/// Events the run must reach.
pub const EVENTS: u64 = 100_000;
/// Seeks measured.
pub const SEEKS: usize = 200;

/// The worlds measured: the database alone (the scenario panel's usual world) and the
/// pipeline view's (CDC: broker, connector and three views reading 3 events per tick; a
/// Raft cluster of 3 nodes replicating the database, fed from the topic).
pub const WORLDS: [&str; 2] = ["database", "pipeline"];

/// The configuration of world `name` (one of [`WORLDS`]).
pub fn config(name: &str) -> WorldConfig {
    match name {
        "pipeline" => WorldConfig {
            cdc: true,
            view_events_per_tick: 3,
            raft_nodes: 3,
            raft_replicates: true,
            ..WorldConfig::default()
        },
        _ => WorldConfig::default(),
    }
}

/// A scenario that produces at least [`EVENTS`] events: 16 clients, 40,000 transactions,
/// crashes every 2,000 ticks.
pub fn scenario(config: WorldConfig) -> Scenario {
    let mut actions = vec![TimedAction {
        at: 1,
        action: Action::Workload {
            clients: 16,
            transactions: 40_000,
            keys: 20_000,
            writes: 2,
        },
    }];
    for i in 1..=10 {
        actions.push(TimedAction {
            at: i * 2_000,
            action: Action::Crash,
        });
    }
    Scenario {
        version: 1,
        name: "seek-benchmark".into(),
        title: "A long run to seek in".into(),
        seed: 11,
        config,
        end: 5_000,
        actions,
        narration: vec![],
    }
}

/// What one configuration measured.
#[derive(Clone, Debug)]
pub struct SeekResult {
    /// The world ([`WORLDS`]).
    pub world: &'static str,
    /// Events between snapshots.
    pub snapshot_every: u64,
    /// Snapshots kept.
    pub snapshots: usize,
    /// Events in the run.
    pub events: u64,
    /// Seconds to record the run.
    pub record_s: f64,
    /// Seek times in milliseconds, sorted.
    pub seeks_ms: Vec<f64>,
}

/// Records the run with snapshots every `snapshot_every` ticks, then times [`SEEKS`]
/// seeks.
pub fn measure(
    world: &'static str,
    snapshot_every: u64,
    clock: Clock<'_>,
) -> Result<SeekResult, String> {
    let t0 = clock();
    let mut t = Timeline::new(scenario(config(world)), None, snapshot_every)?;
    while (t.trace().len() as u64) < EVENTS && !t.finished() {
        t.step();
    }
    let record_s = clock() - t0;
    let events = t.trace().len() as u64;
    if events < EVENTS {
        return Err(format!("the run produced only {events} events"));
    }
    let mut rng = Rng::new(7);
    let mut seeks_ms = Vec::with_capacity(SEEKS);
    for _ in 0..SEEKS {
        let target = rng.below(events);
        let s = clock();
        t.seek(target);
        seeks_ms.push((clock() - s) * 1000.0);
        if t.position() <= target {
            return Err(format!("seek to {target} stopped at {}", t.position()));
        }
    }
    seeks_ms.sort_by(f64::total_cmp);
    Ok(SeekResult {
        world,
        snapshot_every,
        snapshots: t.snapshots(),
        events,
        record_s,
        seeks_ms,
    })
}

/// The markdown table over several snapshot intervals.
pub fn report(clock: Clock<'_>) -> Result<String, String> {
    let mut out = String::from(
        "| world | snapshot every (events) | snapshots | events | record (s) | seek median (ms) | p95 (ms) | max (ms) |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (world, every) in [
        ("database", 1_000),
        ("database", 2_500),
        ("database", 5_000),
        ("pipeline", 500),
        ("pipeline", 1_000),
        ("pipeline", 2_000),
    ] {
        let r = measure(world, every, clock)?;
        let q = |percent: usize| r.seeks_ms[(r.seeks_ms.len() - 1) * percent / 100];
        out += &format!(
            "| {} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} |\n",
            r.world,
            r.snapshot_every,
            r.snapshots,
            r.events,
            r.record_s,
            q(50),
            q(95),
            q(100)
        );
    }
    Ok(out)
}
