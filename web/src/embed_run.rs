//! The embed widget's run: a scenario (from the library, or a host's JSON) on a
//! [`Timeline`], and the moves the widget and its postMessage API make on it. Pure Rust,
//! tested natively.
//!
//! Positions are the timeline's: the number of events up to a step boundary. The moves:
//! * **play** runs `ticks` steps (replaying the recorded trace while in the past, running
//!   the world on at the frontier) until the run is finished;
//! * **step** steps until at least one event happened (or the run is finished);
//! * **seek** `n` goes to the first step boundary with at least `n` events: in the
//!   recorded trace by [`Timeline::seek`], past it by running the world on (bounded by the
//!   scenario's end, since a finished run takes no more steps); `n` at or below the first
//!   position goes to the start. The position reached is reported back, so a host always
//!   knows where it landed.
//! * **to end** runs to the end of the run (its final check).
//!
//! [`EmbedRun::trace_hash`] is [`trace_hash`] over the events up to the position: at the end of
//! a run it equals what `logspine run <scenario> --seed <seed>` prints as `trace_hash`.
//!
//! Unlike the playground's scenario panel ([`crate::scenario_run`]), the widget never
//! branches history (it has no action form): a documentation page shows the scenario as
//! written, for every reader the same.

use logspine_core::world::{library, trace_hash, Scenario, Timeline};

use crate::scenario_run::{run_view, SNAPSHOT_EVERY};
use crate::scenario_state::RunView;

/// Longest scenario JSON a host may load, in bytes.
pub const MAX_SCENARIO_JSON_BYTES: usize = 256 * 1024;
/// The most steps a seek past the recorded trace, a step or a run to the end takes (a
/// scenario ends by itself long before: this bounds a livelock, it is not a budget).
pub const MAX_STEPS: u64 = 5_000_000;

/// A scenario running on a [`Timeline`] (module docs).
pub struct EmbedRun {
    /// The library name, or the JSON scenario's own `name`.
    name: String,
    /// Whether it came from the library.
    from_library: bool,
    timeline: Timeline,
    /// The first position (the events of opening the database).
    start: u64,
    /// The scenario and seed, to rebuild the timeline when the start is position 0.
    scenario: Scenario,
    seed: Option<u64>,
}

impl EmbedRun {
    /// Library scenario `name` with `seed` (the scenario's own when `None`).
    pub fn library(name: &str, seed: Option<u64>) -> Result<EmbedRun, String> {
        let scenario = library::scenario(name)
            .ok_or_else(|| format!("There is no scenario called {name:?}."))?;
        EmbedRun::new(scenario, seed, true)
    }

    /// A scenario given as JSON (the format of `core/scenarios/*.json`).
    pub fn json(text: &str, seed: Option<u64>) -> Result<EmbedRun, String> {
        if text.len() > MAX_SCENARIO_JSON_BYTES {
            return Err(format!(
                "The scenario is {} bytes of JSON; at most {MAX_SCENARIO_JSON_BYTES} are read.",
                text.len()
            ));
        }
        let scenario =
            Scenario::from_json(text).map_err(|e| format!("The scenario is not valid: {e}"))?;
        EmbedRun::new(scenario, seed, false)
    }

    fn new(scenario: Scenario, seed: Option<u64>, from_library: bool) -> Result<EmbedRun, String> {
        let timeline = Timeline::new(scenario.clone(), seed, SNAPSHOT_EVERY)?;
        Ok(EmbedRun {
            name: scenario.name.clone(),
            from_library,
            start: timeline.position(),
            timeline,
            scenario,
            seed,
        })
    }

    /// The scenario's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the scenario is the library's (not a host's JSON).
    pub fn from_library(&self) -> bool {
        self.from_library
    }

    /// The timeline.
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// The seed the run uses.
    pub fn seed(&self) -> u64 {
        self.timeline.world().seed()
    }

    /// The position: events up to it.
    pub fn position(&self) -> u64 {
        self.timeline.position()
    }

    /// The first position.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// Whether the run is over (its final check ran).
    pub fn finished(&self) -> bool {
        self.timeline.finished()
    }

    /// Whether the position is the end of the run: finished and at the frontier.
    pub fn at_end(&self) -> bool {
        self.finished() && self.position() >= self.timeline.trace().len() as u64
    }

    /// [`trace_hash`] of the events up to the position.
    pub fn trace_hash(&self) -> u64 {
        let trace = self.timeline.trace();
        let upto = usize::try_from(self.position())
            .unwrap_or(usize::MAX)
            .min(trace.len());
        trace_hash(&trace[..upto])
    }

    /// Plays `ticks` steps (fewer once the run is finished).
    pub fn play(&mut self, ticks: u32) {
        for _ in 0..ticks {
            if self.finished() {
                return;
            }
            self.timeline.step();
        }
    }

    /// Steps until an event happens (or the run is finished).
    pub fn step(&mut self) {
        let from = self.position();
        for _ in 0..MAX_STEPS {
            if self.finished() || self.position() > from {
                return;
            }
            self.timeline.step();
        }
    }

    /// Goes to the first boundary with at least `target` events (module docs).
    pub fn seek(&mut self, target: u64) {
        if target <= self.start {
            return self.to_start();
        }
        let recorded = self.timeline.trace().len() as u64;
        self.timeline.seek(target.min(recorded) - 1);
        for _ in 0..MAX_STEPS {
            if self.position() >= target || self.finished() {
                return;
            }
            self.timeline.step();
        }
    }

    /// Goes to the start.
    pub fn to_start(&mut self) {
        if self.start > 0 {
            self.timeline.seek(self.start - 1);
        } else if self.position() > 0 {
            // Nothing happened before the first step: start over (the scenario checked
            // out once, so it does again).
            if let Ok(t) = Timeline::new(self.scenario.clone(), self.seed, SNAPSHOT_EVERY) {
                self.timeline = t;
            }
        }
    }

    /// Runs to the end of the run (its final check).
    pub fn to_end(&mut self) {
        self.seek(u64::MAX);
    }

    /// The run at its position, for the view.
    pub fn view(&mut self) -> RunView {
        // The hash is computed on request instead (`get_state`: [`EmbedRun::trace_hash`]).
        run_view(&self.name, self.start, &mut self.timeline, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_hash(name: &str, seed: Option<u64>) -> u64 {
        let mut t = Timeline::new(library::scenario(name).unwrap(), seed, 200).unwrap();
        t.run_to_end();
        trace_hash(t.trace())
    }

    #[test]
    fn at_the_end_the_hash_is_the_whole_runs() {
        for name in ["log-is-the-truth", "group-commit"] {
            let mut r = EmbedRun::library(name, Some(5)).unwrap();
            r.to_end();
            assert!(r.at_end(), "{name}");
            assert_eq!(r.trace_hash(), full_hash(name, Some(5)), "{name}");
            assert_eq!(r.seed(), 5);
        }
    }

    #[test]
    fn seeking_lands_on_the_first_boundary_at_or_after_the_target() {
        let mut r = EmbedRun::library("log-is-the-truth", None).unwrap();
        let start = r.start();
        assert!(start > 0, "opening the database is in the trace");
        // Past the recorded trace: the world runs on.
        r.seek(start + 10);
        let p = r.position();
        assert!(p >= start + 10, "{p}");
        let hash = r.trace_hash();
        // A fresh run sought to the same target reaches the same point, step by step or not.
        let mut fresh = EmbedRun::library("log-is-the-truth", None).unwrap();
        while fresh.position() < start + 10 {
            fresh.step();
        }
        assert_eq!(fresh.position(), p);
        assert_eq!(fresh.trace_hash(), hash);
        // Back and forth in the recorded trace gives the same point again.
        r.to_end();
        let end = r.position();
        r.seek(start + 10);
        assert_eq!((r.position(), r.trace_hash()), (p, hash));
        r.seek(0);
        assert_eq!(r.position(), start);
        r.seek(end + 1000);
        assert_eq!(r.position(), end, "the end is as far as a run goes");
        assert!(r.at_end());
    }

    #[test]
    fn playing_and_stepping_move_forward_until_the_end() {
        let mut r = EmbedRun::library("torn-write", None).unwrap();
        let before = r.position();
        r.step();
        assert!(r.position() > before);
        while !r.finished() {
            r.play(64);
        }
        let end = r.position();
        r.play(64);
        r.step();
        assert_eq!(r.position(), end);
        let v = r.view();
        assert!(v.finished && v.all_reached());
        assert_eq!(v.invariants_state(), "ok");
    }

    #[test]
    fn json_scenarios_load_and_bad_ones_are_refused_with_the_field() {
        let text = library::scenario("group-commit").unwrap().to_json();
        let mut r = EmbedRun::json(&text, Some(9)).unwrap();
        assert!(!r.from_library());
        assert_eq!(r.name(), "group-commit");
        r.to_end();
        assert_eq!(r.trace_hash(), full_hash("group-commit", Some(9)));

        let e = EmbedRun::json("{\"version\": 2}", None).err().unwrap();
        assert!(e.contains("version 2 is not supported"), "{e}");
        let e = EmbedRun::json("not json", None).err().unwrap();
        assert!(e.starts_with("The scenario is not valid"), "{e}");
        let big = " ".repeat(MAX_SCENARIO_JSON_BYTES + 1);
        assert!(EmbedRun::json(&big, None)
            .err()
            .unwrap()
            .contains("at most"));
        assert!(EmbedRun::library("nope", None).is_err());
    }
}
