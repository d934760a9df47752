//! The scenario panel's engine glue: a library scenario's [`Timeline`] and the moves the
//! panel makes on it, each followed by [`ScenarioRun::view`] (the snapshot the reducer in
//! [`crate::scenario_state`] keeps). Pure Rust, tested natively.
//!
//! Positions are the timeline's: the number of events up to a step boundary (one step
//! applies the actions due at a tick, then runs the tick). The panel moves between
//! boundaries that have events:
//! * **play** runs `ticks` steps (replaying the recorded trace while in the past, running
//!   the world on at the frontier) until the run is finished;
//! * **step forward** steps until at least one event happened;
//! * **step back** goes to the previous boundary: known from the steps seen so far
//!   (consecutive boundaries are remembered), else found by bisection over
//!   [`Timeline::seek`], whose target lands on the first boundary after it;
//! * **seek** lands on the last boundary at or before a slider value (the first boundary
//!   after it, then a step back);
//! * **act** applies an action at the position: [`Timeline::branch`] (which, at the
//!   frontier, just appends; in the past, discards the recorded future first). A
//!   finished run takes no more actions (its final check has run).
//!
//! Reading the keys for the view scans the database (`World::contents`); a test checks
//! that this does not change the run (the same trace with or without scans).

use logspine_core::vec_map::VecMap;

use logspine_core::world::{
    library, trace_hash_push, Action, Scenario, Timeline, TRACE_HASH_EMPTY,
};

use crate::scenario_state::{event_line, fold, markers, RunView, MAX_KEYS};
use crate::share::{HandAction, RunLink};

/// Events between the timeline's snapshots (a seek replays at most about this many).
pub const SNAPSHOT_EVERY: u64 = 1000;
/// The most ticks one "step forward" runs looking for an event.
pub const MAX_QUIET_TICKS: u32 = 1_000_000;

/// A library scenario running on a [`Timeline`] (module docs).
pub struct ScenarioRun {
    name: String,
    timeline: Timeline,
    /// The first position (the events of opening the database).
    start: u64,
    /// Consecutive boundaries seen: `a → b` means no boundary lies between them.
    next: VecMap<u64, u64>,
    /// The actions applied by hand that the timeline still holds, in order: with the
    /// scenario and seed, all a share link needs ([`crate::share`]).
    hand: Vec<HandAction>,
    /// `hashes[n]`: the trace hash of the first `n` events (extended as the view needs
    /// it, cut where a branch rewrites the trace).
    hashes: Vec<u64>,
}

impl ScenarioRun {
    /// Loads library scenario `name` with `seed` (the scenario's own when `None`).
    pub fn load(name: &str, seed: Option<u64>) -> Result<ScenarioRun, String> {
        let scenario =
            library::scenario(name).ok_or_else(|| format!("No scenario called {name:?}."))?;
        ScenarioRun::with_scenario(name, scenario, seed, SNAPSHOT_EVERY)
    }

    /// A run of `scenario` (not necessarily from the library: the pipeline view builds its
    /// own), named `name` in links, keeping a snapshot every `snapshot_every` events.
    pub fn with_scenario(
        name: &str,
        scenario: Scenario,
        seed: Option<u64>,
        snapshot_every: u64,
    ) -> Result<ScenarioRun, String> {
        let timeline = Timeline::new(scenario, seed, snapshot_every)?;
        Ok(ScenarioRun {
            name: name.to_owned(),
            start: timeline.position(),
            timeline,
            next: VecMap::new(),
            hand: Vec::new(),
            hashes: vec![TRACE_HASH_EMPTY],
        })
    }

    /// The run written down as a link: scenario, seed, hand-applied actions, position.
    pub fn link(&self) -> RunLink {
        RunLink {
            scenario: self.name.clone(),
            seed: self.timeline.world().seed(),
            position: self.position(),
            actions: self.hand.clone(),
        }
    }

    /// Reproduces a linked run: loads the scenario with the link's seed, steps to each
    /// hand-applied action's tick and applies it, then seeks to the link's position. The
    /// world is deterministic, so the trace is the one the link was made from.
    pub fn from_link(link: &RunLink) -> Result<ScenarioRun, String> {
        link.check().map_err(|e| e.0)?;
        ScenarioRun::load(&link.scenario, Some(link.seed))?.replay(link)
    }

    /// A run just built (with the link's seed) made into the linked run: steps to each
    /// of the link's hand-applied actions and applies it, then seeks to its position.
    /// [`ScenarioRun::from_link`] for library scenarios; the pipeline's saved session
    /// for its own.
    pub fn replay(mut self, link: &RunLink) -> Result<ScenarioRun, String> {
        let run = &mut self;
        for (i, h) in link.actions.iter().enumerate() {
            // A page's links list hand actions in tick order (acting in the past discards
            // the later ones). One out of order (a link written by hand) goes back to
            // before that tick's step and branches there, as the page would.
            if run.timeline.world().time() > h.tick {
                run.timeline.seek_time(h.tick.saturating_sub(1));
            }
            while run.timeline.world().time() < h.tick && !run.timeline.finished() {
                run.step_once();
            }
            if run.timeline.world().time() != h.tick {
                return Err(format!(
                    "Action {} of this link is at tick {}, which this run cannot reach \
                     (it is at tick {}).",
                    i + 1,
                    h.tick,
                    run.timeline.world().time()
                ));
            }
            run.act(h.action.clone())?;
        }
        let len = run.timeline.trace().len() as u64;
        if link.position > len {
            run.to_end();
            while run.position() < link.position && !run.timeline.finished() {
                run.step_once();
            }
        }
        run.seek(link.position);
        Ok(self)
    }

    /// The timeline.
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// The timeline, mutably (to read the world's database: a scan moves no time).
    pub fn timeline_mut(&mut self) -> &mut Timeline {
        &mut self.timeline
    }

    /// The position: events up to it.
    pub fn position(&self) -> u64 {
        self.timeline.position()
    }

    /// The first position.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// One step of the timeline, remembering the boundaries it joins.
    fn step_once(&mut self) {
        let from = self.timeline.position();
        self.timeline.step();
        let to = self.timeline.position();
        if to > from {
            self.next.insert(from, to);
        }
    }

    /// Plays `ticks` steps (fewer once the run is finished).
    pub fn play(&mut self, ticks: u32) {
        for _ in 0..ticks {
            if self.timeline.finished() {
                return;
            }
            self.step_once();
        }
    }

    /// Steps until an event happens (or the run is finished).
    pub fn step_forward(&mut self) {
        let from = self.timeline.position();
        for _ in 0..MAX_QUIET_TICKS {
            if self.timeline.finished() || self.timeline.position() > from {
                return;
            }
            self.step_once();
        }
    }

    /// Lands on the first boundary after event `target` (`Timeline::seek`).
    fn land(&mut self, target: u64) -> u64 {
        self.timeline.seek(target);
        self.timeline.position()
    }

    /// The boundary before the position (`None` at the start).
    fn previous_boundary(&mut self) -> Option<u64> {
        let p = self.timeline.position();
        if p <= self.start {
            return None;
        }
        // The boundary `q` before `p` is the smallest target that lands on `p` (every
        // target in `q..p` does; every one below `q` lands at `q` or before).
        let mut lo = self.start;
        if let Some((&a, &b)) = self.next.range(..p).next_back() {
            if b == p {
                return Some(a);
            }
            lo = lo.max(if b < p { b } else { a });
        }
        let mut hi = p - 1;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.land(mid) >= p {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        self.next.insert(lo, p);
        Some(lo)
    }

    /// Goes to the previous boundary that has events.
    pub fn step_back(&mut self) {
        if let Some(q) = self.previous_boundary() {
            self.goto(q);
        }
    }

    /// Lands on boundary `q` (known to be one).
    fn goto(&mut self, q: u64) {
        let at = self.land(q.saturating_sub(1));
        debug_assert!(
            at == q || q <= self.start,
            "boundary {q} is not one: at {at}"
        );
    }

    /// Seeks to the last boundary with at most `value` events (the slider's value: the
    /// run as it was once `value` events had happened; the start if none is that early).
    pub fn seek(&mut self, value: u64) {
        if self.land(value.saturating_sub(1)) > value {
            self.step_back();
        }
    }

    /// Goes to the first boundary after event `seq` (just after a marker's event).
    pub fn seek_after(&mut self, seq: u64) {
        self.land(seq);
    }

    /// Goes to the start.
    pub fn to_start(&mut self) {
        self.goto(self.start);
    }

    /// Goes to the end of the recorded trace.
    pub fn to_end(&mut self) {
        let len = self.timeline.trace().len() as u64;
        self.land(len.saturating_sub(1));
    }

    /// Applies `action` at the position (module docs).
    pub fn act(&mut self, action: Action) -> Result<(), String> {
        if self.timeline.finished() {
            return Err(
                "The run is over (its final check has run): step back or scrub to an earlier \
                 point to change its history."
                    .to_owned(),
            );
        }
        let from = self.timeline.position();
        let now = self.timeline.world().time();
        // The recorded future goes: so do the boundaries learned in it, and the hand
        // actions applied in it (from this tick on: the position is before its step).
        self.next.retain(|_, b| *b <= from);
        self.hand.retain(|h| h.tick < now);
        self.hashes.truncate(
            usize::try_from(from)
                .unwrap_or(usize::MAX)
                .saturating_add(1),
        );
        self.hand.push(HandAction {
            tick: now,
            action: action.clone(),
        });
        self.timeline.branch(action);
        let to = self.timeline.position();
        if to > from {
            self.next.insert(from, to);
        }
        Ok(())
    }

    /// The trace hash of the first `n` events ([`logspine_core::world::trace_hash`]),
    /// each event hashed once however often this is asked.
    pub fn trace_hash_at(&mut self, n: u64) -> u64 {
        let trace = self.timeline.trace();
        let n = usize::try_from(n).unwrap_or(usize::MAX).min(trace.len());
        while self.hashes.len() <= n {
            let i = self.hashes.len() - 1;
            let h = trace_hash_push(self.hashes[i], &trace[i]);
            self.hashes.push(h);
        }
        self.hashes[n]
    }

    /// The run at its position, for the reducer.
    pub fn view(&mut self) -> RunView {
        let position = self.timeline.position();
        let trace_hash = Some(format!("{:016x}", self.trace_hash_at(position)));
        run_view(&self.name, self.start, &mut self.timeline, trace_hash)
    }
}

/// The view of a run on `timeline` at its position (shared by the scenario panel and the
/// embed widget): the trace folded up to the position, the markers, the database's keys.
pub(crate) fn run_view(
    name: &str,
    start: u64,
    timeline: &mut Timeline,
    trace_hash: Option<String>,
) -> RunView {
    let position = timeline.position();
    let trace = timeline.trace();
    let upto = &trace[..usize::try_from(position)
        .unwrap_or(usize::MAX)
        .min(trace.len())];
    let fold = fold(upto);
    let last = upto.last().map(event_line);
    let markers = markers(trace);
    let trace_len = trace.len() as u64;
    let scenario = timeline.scenario();
    let (title, end_tick) = (scenario.title.clone(), scenario.end_tick());
    let steps = scenario.narration.iter().map(|n| n.text.clone()).collect();
    let finished = timeline.finished();
    let world = timeline.world_mut();
    let (seed, time) = (world.seed(), world.time());
    let all = world.contents();
    let key_count = all.len();
    let keys = all.into_iter().take(MAX_KEYS).collect();
    RunView {
        name: name.to_owned(),
        title,
        seed,
        position,
        start,
        trace_len,
        time,
        end_tick,
        finished,
        steps,
        fold,
        last,
        keys,
        key_count,
        markers,
        trace_hash,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logspine_core::world::TraceKind;

    fn played(name: &str) -> ScenarioRun {
        let mut r = ScenarioRun::load(name, None).expect("a library scenario");
        while !r.timeline().finished() {
            r.play(64);
        }
        r
    }

    /// A session of plays, seeks back, hand actions (some in the past: branches) and
    /// steps, written down as a link, reopened: the same trace up to the position, and
    /// the same trace when both are played to the end.
    #[test]
    fn a_share_link_reproduces_the_run_exactly() {
        use logspine_core::world::trace_hash;
        let moves = |r: &mut ScenarioRun, k: u64| {
            r.play(40 + u32::try_from(k * 7 % 60).unwrap());
            let p = r.position();
            r.seek(p - (p - r.start()) / 3);
            r.act(Action::Write {
                key: format!("share{k}"),
                value: "v".into(),
            })
            .unwrap();
            r.play(15);
            if k.is_multiple_of(2) && !r.timeline().finished() {
                r.act(Action::Crash).unwrap();
            }
            r.step_forward();
            r.step_back();
        };
        for (k, name) in ["log-is-the-truth", "group-commit", "checkpoint-redo-undo"]
            .into_iter()
            .enumerate()
        {
            let mut a = ScenarioRun::load(name, Some(100 + k as u64)).unwrap();
            for m in 0..3 {
                moves(&mut a, k as u64 * 3 + m);
            }
            let link = a.link();
            assert!(!link.actions.is_empty());
            let fragment = link.to_fragment();
            let back = RunLink::from_fragment(&fragment).unwrap().unwrap();
            assert_eq!(back, link);
            let mut b = ScenarioRun::from_link(&back).unwrap();
            assert_eq!(b.position(), a.position(), "{name}");
            assert_eq!(a.view().trace_hash, b.view().trace_hash, "{name}");
            assert_eq!(
                a.view().trace_hash.unwrap(),
                format!(
                    "{:016x}",
                    trace_hash(&a.timeline().trace()[..usize::try_from(a.position()).unwrap()])
                ),
                "{name}: the cached hash is the hash"
            );
            let p = usize::try_from(a.position()).unwrap();
            assert_eq!(
                trace_hash(&a.timeline().trace()[..p]),
                trace_hash(&b.timeline().trace()[..p]),
                "{name}: the trace up to the position"
            );
            for r in [&mut a, &mut b] {
                while !r.timeline().finished() {
                    r.play(64);
                }
            }
            assert_eq!(
                a.timeline().trace(),
                b.timeline().trace(),
                "{name}: played to the end"
            );
            // The run file carries the trace and its hash; replaying verifies it.
            let file = crate::share::RunFile::new(&a.link(), a.timeline().trace());
            let read = crate::share::RunFile::from_json(&file.to_json()).unwrap();
            let mut c = ScenarioRun::from_link(&read.link()).unwrap();
            while !c.timeline().finished() {
                c.play(64);
            }
            read.verify(c.timeline().trace()).unwrap();
            assert!(read.verify(&c.timeline().trace()[1..]).is_err());
        }
    }

    #[test]
    fn loading_starts_at_the_first_boundary() {
        let mut r = ScenarioRun::load("log-is-the-truth", Some(9)).unwrap();
        let v = r.view();
        assert_eq!(v.name, "log-is-the-truth");
        assert_eq!(v.seed, 9);
        assert!(v.start > 0, "opening the database is in the trace");
        assert_eq!(v.position, v.start);
        assert!(v.at_frontier());
        assert!(!v.finished);
        assert_eq!(v.steps.len(), 5);
        assert!(v.fold.reached.is_empty());
        assert!(ScenarioRun::load("no-such-scenario", None).is_err());
    }

    #[test]
    fn playing_to_the_end_reaches_every_narration_step_with_invariants_held() {
        for name in library::names() {
            let mut r = played(name);
            let v = r.view();
            assert!(v.finished, "{name}");
            assert!(v.at_frontier(), "{name}");
            assert!(v.all_reached(), "{name}: reached {:?}", v.fold.reached);
            assert_eq!(
                v.fold.reached.len(),
                r.timeline().narration_step(),
                "{name}: the fold agrees with the timeline"
            );
            assert_eq!(
                v.invariants_state(),
                "ok",
                "{name}: {:?}",
                v.fold.invariants
            );
            assert_eq!(v.trace_len, r.timeline().trace().len() as u64);
            // (The Raft scenarios write to the cluster, not to the database.)
            assert!(
                v.key_count > 0 || name.starts_with("raft"),
                "{name}: the database holds keys"
            );
        }
    }

    /// Scanning the database for the view (as the panel does after every move) leaves
    /// the run exactly as without scans.
    #[test]
    fn reading_the_keys_does_not_change_the_run() {
        for name in library::names() {
            let mut quiet = Timeline::new(library::scenario(name).unwrap(), None, 200).unwrap();
            quiet.run_to_end();
            let mut r = ScenarioRun::load(name, None).unwrap();
            while !r.timeline().finished() {
                r.play(3);
                let _ = r.view();
            }
            assert_eq!(r.timeline().trace(), quiet.trace(), "{name}");
        }
    }

    #[test]
    fn log_is_the_truth_before_the_crash_holds_apple_and_banana() {
        let mut r = played("log-is-the-truth");
        let v = r.view();
        let crash = v
            .markers
            .iter()
            .find(|m| m.kind.as_str() == "crash")
            .copied()
            .expect("a crash marker");
        assert_eq!(crash.time, 82);
        let keys: Vec<String> = v.keys.iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(keys, ["apple", "banana"], "cherry was never acknowledged");
        // Just before the crash: the slider at the crash event's own seq (not reached).
        r.seek(crash.seq);
        let before = r.view();
        assert!(
            before.position <= crash.seq,
            "{} {}",
            before.position,
            crash.seq
        );
        assert!(before.time <= 82, "{}", before.time);
        assert_eq!(before.fold.counters.crashes, 0);
        let keys: Vec<String> = before.keys.iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(keys, ["apple", "banana"]);
        assert_eq!(before.keys[0].1, "red");
        // One step on: the crash and recovery.
        r.step_forward();
        let after = r.view();
        assert_eq!(after.fold.counters.crashes, 1);
        assert!(after.position > crash.seq);
    }

    #[test]
    fn seeking_back_and_forward_gives_the_same_contents() {
        let mut r = played("checkpoint-redo-undo");
        let len = r.view().trace_len;
        let mut seen = std::collections::BTreeMap::new();
        for value in [len / 2, len / 5, len - 3, len / 2, 7, len / 5, len - 3, len] {
            r.seek(value);
            let v = r.view();
            assert!(v.position <= value.max(v.start), "{} > {value}", v.position);
            assert_eq!(v.trace_len, len, "seeking does not change the trace");
            let first = seen.entry(value).or_insert_with(|| v.clone());
            assert_eq!(first.keys, v.keys, "contents at {value}");
            assert_eq!(first.fold, v.fold, "fold at {value}");
            assert_eq!(first.time, v.time);
        }
    }

    #[test]
    fn stepping_back_retraces_the_boundaries_stepping_forward_found() {
        let mut r = ScenarioRun::load("log-is-the-truth", None).unwrap();
        let mut forward = vec![r.position()];
        while !r.timeline().finished() {
            r.step_forward();
            forward.push(r.position());
        }
        forward.dedup();
        let mut back = vec![r.position()];
        while r.position() > r.start() {
            r.step_back();
            back.push(r.position());
        }
        back.reverse();
        assert_eq!(back, forward);
        // The same without the remembered boundaries: found by bisection.
        let mut fresh = played("log-is-the-truth");
        fresh.next.clear();
        let mut back = vec![fresh.position()];
        while fresh.position() > fresh.start() {
            fresh.step_back();
            back.push(fresh.position());
        }
        back.reverse();
        assert_eq!(back, forward);
    }

    #[test]
    fn branching_in_the_past_truncates_the_future() {
        let mut r = played("log-is-the-truth");
        let full = r.timeline().trace().to_vec();
        let crash = full
            .iter()
            .find(|e| matches!(e.kind, TraceKind::Crash { .. }))
            .unwrap()
            .seq;
        // Just after the crash and its recovery (a write just before it may be lost, or
        // may tear the WAL's tail so that an unacknowledged commit survives: both are
        // allowed).
        r.seek(crash);
        r.step_forward();
        let at = r.position();
        assert!(at > crash);
        assert!(!r.timeline().finished());
        r.act(Action::Write {
            key: "fig".into(),
            value: "purple".into(),
        })
        .unwrap();
        let v = r.view();
        assert!(v.at_frontier(), "the future is gone");
        assert!(v.trace_len < full.len() as u64);
        assert_eq!(
            &r.timeline().trace()[..usize::try_from(at).unwrap()],
            &full[..usize::try_from(at).unwrap()]
        );
        assert_eq!(v.fold.counters.crashes, 1);
        while !r.timeline().finished() {
            r.play(16);
        }
        let v = r.view();
        let keys: Vec<&str> = v.keys.iter().map(|(k, _)| k.as_str()).collect();
        assert!(keys.contains(&"fig"), "{keys:?}");
        assert_eq!(v.invariants_state(), "ok", "{:?}", v.fold.invariants);
        assert_eq!(v.fold.counters.crashes, 1);
        assert!(
            v.fold.reached.len() == v.steps.len(),
            "the narration is reached in the branch too"
        );
        // Over: no more actions.
        assert!(r.act(Action::Crash).is_err());
        // At the frontier of an unfinished run, an action just appends.
        let mut fresh = ScenarioRun::load("log-is-the-truth", None).unwrap();
        fresh.play(5);
        let before = fresh.timeline().trace().to_vec();
        fresh.act(Action::Checkpoint).unwrap();
        assert!(fresh.timeline().trace().starts_with(&before));
        assert!(fresh.timeline().trace().len() > before.len());
    }
}
