//! Time travel over a run: the trace so far, snapshots of the world every
//! `snapshot_every` events (at the first step boundary after), seeking to any event (restore the nearest snapshot at or before
//! it and replay), and branching (an action applied at a past point discards the recorded
//! future and the run continues from there).
//!
//! Replay is exact because the world is deterministic: replaying from a snapshot produces
//! the very events already recorded (checked in debug builds), so seeking never changes
//! the trace, and only a branch truncates it.
//!
//! Positions are step boundaries: one step applies the actions due at the current tick,
//! then runs one tick. After [`Timeline::seek`] to event `n`, the world is right after the
//! step that produced event `n`.

use crate::vec_map::VecMap;

use super::scenario::{Condition, Scenario};
use super::trace::{TraceEvent, TraceKind};
use super::{Action, TimedAction, World};

/// The part of a run that snapshots copy.
#[derive(Clone, Debug)]
struct Sim {
    world: World,
    /// The next action to apply (index into `Timeline::actions`).
    next_action: usize,
    /// Events produced so far (the trace may hold more: a recorded future).
    produced: u64,
    /// The narration step in progress.
    narration: usize,
    /// Events per kind so far (for narration conditions).
    counts: VecMap<&'static str, u64>,
    /// The final check has run: the run is over.
    finished: bool,
}

/// A run with time travel (module docs).
#[derive(Clone, Debug)]
pub struct Timeline {
    scenario: Scenario,
    /// The scenario's actions and the ones applied by hand, by tick.
    actions: Vec<TimedAction>,
    sim: Sim,
    trace: Vec<TraceEvent>,
    /// States at step boundaries, ascending by events produced.
    snapshots: Vec<Sim>,
    /// Events between snapshots.
    snapshot_every: u64,
}

impl Timeline {
    /// A run of `scenario` (with its seed unless `seed` is given), at its start, keeping
    /// a snapshot every `snapshot_every` events (a seek replays at most about that many;
    /// each snapshot copies the simulated disk).
    pub fn new(
        scenario: Scenario,
        seed: Option<u64>,
        snapshot_every: u64,
    ) -> Result<Timeline, String> {
        scenario.check().map_err(|e| e.to_string())?;
        let seed = seed.unwrap_or(scenario.seed);
        let (world, events) = World::new(scenario.config.clone(), seed)?;
        let mut t = Timeline {
            actions: scenario.actions.clone(),
            scenario,
            sim: Sim {
                world,
                next_action: 0,
                produced: 0,
                narration: 0,
                counts: VecMap::new(),
                finished: false,
            },
            trace: Vec::new(),
            snapshots: Vec::new(),
            snapshot_every: snapshot_every.max(1),
        };
        t.record(events);
        t.narrate();
        t.snapshots.push(t.sim.clone());
        Ok(t)
    }

    /// The scenario.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// The world at the current position.
    pub fn world(&self) -> &World {
        &self.sim.world
    }

    /// The world, mutably (to read the database: a scan moves no time).
    pub fn world_mut(&mut self) -> &mut World {
        &mut self.sim.world
    }

    /// The whole recorded trace (it may run past the current position).
    pub fn trace(&self) -> &[TraceEvent] {
        &self.trace
    }

    /// Events up to the current position.
    pub fn position(&self) -> u64 {
        self.sim.produced
    }

    /// The narration step in progress (`== narration.len()`: all reached).
    pub fn narration_step(&self) -> usize {
        self.sim.narration
    }

    /// Whether the run is over: its end tick passed and the final check ran.
    pub fn finished(&self) -> bool {
        self.sim.finished
    }

    /// Snapshots kept.
    pub fn snapshots(&self) -> usize {
        self.snapshots.len()
    }

    fn record(&mut self, kinds: Vec<TraceKind>) {
        for kind in kinds {
            *self.sim.counts.entry(kind.name()).or_default() += 1;
            let seq = self.sim.produced;
            let event = TraceEvent {
                seq,
                time: self.sim.world.time(),
                kind,
            };
            match self.trace.get(usize::try_from(seq).unwrap_or(usize::MAX)) {
                Some(recorded) => debug_assert_eq!(
                    recorded, &event,
                    "replay diverged from the recorded trace at event {seq}"
                ),
                None => self.trace.push(event),
            }
            self.sim.produced += 1;
        }
    }

    /// Advances the narration while its conditions hold (each reached step is a
    /// `narration` event).
    fn narrate(&mut self) {
        loop {
            let Some(step) = self.scenario.narration.get(self.sim.narration) else {
                return;
            };
            let done = match &step.until {
                Condition::Event { event, count } => {
                    self.sim.counts.get(event.as_str()).copied().unwrap_or(0) >= *count
                }
                Condition::Tick { tick } => self.sim.world.time() >= *tick,
            };
            if !done {
                return;
            }
            let text = step.text.clone();
            let step = self.sim.narration as u64;
            self.sim.narration += 1;
            self.record(vec![TraceKind::Narration { step, text }]);
        }
    }

    /// One step: the actions due now, then one tick; at the scenario's end tick, the
    /// last step settles the world and runs the final check. Nothing once finished.
    pub fn step(&mut self) {
        if self.sim.finished {
            return;
        }
        let now = self.sim.world.time();
        if now >= self.scenario.end_tick() {
            let events = self.sim.world.check_final(100_000);
            self.record(events);
            self.narrate();
            self.sim.finished = true;
            self.snapshots.push(self.sim.clone());
            return;
        }
        while let Some(a) = self.actions.get(self.sim.next_action) {
            if a.at > now {
                break;
            }
            let action = a.action.clone();
            self.sim.next_action += 1;
            let events = self.sim.world.apply(&action);
            self.record(events);
        }
        let events = self.sim.world.tick();
        self.record(events);
        self.narrate();
        let last = self.snapshots.last().map_or(0, |s| s.produced);
        if self.sim.produced >= last + self.snapshot_every
            && usize::try_from(self.sim.produced).is_ok_and(|p| p >= self.trace.len())
        {
            self.snapshots.push(self.sim.clone());
        }
    }

    /// Steps to the scenario's end, then settles and runs the final check.
    pub fn run_to_end(&mut self) {
        while !self.sim.finished {
            self.step();
        }
    }

    /// Moves to right after the step that produced event `seq` (or the last recorded
    /// event): restores the latest snapshot at or before it and replays.
    pub fn seek(&mut self, seq: u64) {
        let target = seq.min(self.trace.len().saturating_sub(1) as u64);
        if self.sim.produced == target + 1 {
            return;
        }
        // The latest snapshot at or before the target; from here instead if here is
        // later and not past the target.
        let i = self
            .snapshots
            .partition_point(|s| s.produced <= target)
            .saturating_sub(1);
        if self.sim.produced > target || self.snapshots[i].produced > self.sim.produced {
            self.sim = self.snapshots[i].clone();
        }
        while self.sim.produced <= target && !self.sim.finished {
            self.step();
        }
    }

    /// Seeks to the last step at or before virtual time `tick`.
    pub fn seek_time(&mut self, tick: u64) {
        let n = self.trace.partition_point(|e| e.time <= tick);
        if n == 0 {
            self.seek(0);
        } else {
            self.seek(n as u64 - 1);
        }
    }

    /// Applies `action` at the current position: the recorded future (events after the
    /// position, snapshots after it, actions applied by hand later) is discarded and the
    /// run continues from here with the action due at the current tick.
    pub fn branch(&mut self, action: Action) {
        let now = self.sim.world.time();
        self.trace
            .truncate(usize::try_from(self.sim.produced).unwrap_or(usize::MAX));
        let produced = self.sim.produced;
        self.snapshots.retain(|s| s.produced <= produced);
        // Hand-applied actions not applied yet were part of the discarded future (those
        // due now too: the position is before this tick's step, their events after it).
        let scenario = &self.scenario.actions;
        let mut kept: Vec<TimedAction> = Vec::with_capacity(self.actions.len() + 1);
        for (i, a) in self.actions.iter().enumerate() {
            let from_script = scenario.contains(a);
            if i < self.sim.next_action || from_script {
                kept.push(a.clone());
            }
        }
        let at = kept
            .partition_point(|a| a.at <= now)
            .max(self.sim.next_action);
        kept.insert(at, TimedAction { at: now, action });
        self.actions = kept;
        self.step();
    }
}
