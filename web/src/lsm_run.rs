//! [`LsmRun`]: the LSM view's recorded run — time travel by replay.
//!
//! A run is its seed plus every [`LsmInput`] with the virtual millisecond at which it was
//! applied. The engine ([`LsmEngine`]) is a pure function of those (its module docs), so
//! any position in `0..=end` can be rebuilt by replaying from the seed; to make that
//! quick the run keeps a copy of the engine (a snapshot) every [`SNAPSHOT_EVERY_MS`] of
//! virtual time. Seeking restores the last snapshot at or before the target and replays
//! the recorded inputs from there, at most one spacing of steps.
//!
//! # Positions, and the order of things inside one
//! The state at position `p` is: the engine after `p` steps, with every input recorded at
//! `p` applied, in the order they were applied. A snapshot at `p` is taken right after the
//! step to `p`, before `p`'s inputs, so that an input added later at `p` (the user paused
//! at `p` and acted) does not invalidate it.
//!
//! # Playing, stepping, branching
//! Playing forward inside the recording replays it; at the end it goes on live and the
//! recording grows. Stepping back goes to the previous moment the LSM database emitted an
//! event (a freeze, a phase of a flush or a compaction, a recovery step) or an input was
//! applied; stepping forward to the next one, or, at the end, runs on until something
//! happens (at most [`MAX_STEP_FORWARD_MS`]). Acting at a position before the end branches:
//! the recorded future — its inputs, snapshots, markers and moments — is discarded and the
//! run goes on from there with the new input. A lookup is not an input (it runs on a copy).
//!
//! # Limits
//! At most [`MAX_SNAPSHOTS`] snapshots holding [`MAX_SNAPSHOT_BYTES`]: beyond that every
//! other one is dropped and the spacing doubles (seeks get slower, memory stays bounded). At most [`MAX_MARKERS`]
//! markers and [`MAX_MOMENTS`] moments, the oldest dropped (stepping back past the oldest
//! kept moment then moves by [`STRIDE_MS`]), and [`MAX_INPUTS`] inputs.

use std::collections::VecDeque;
use std::rc::Rc;

use logspine_core::db::DbError;

use crate::db_engine::EngineError;
use crate::lsm_engine::{LsmEngine, LsmInput};
use crate::lsm_state::{RunView, TimelineView};
use crate::transport::TransportMarker;

/// A snapshot of the engine every this many virtual ms (the longest replay a seek does:
/// about 25 ms natively under a busy workload, at some 50 µs a step).
pub const SNAPSHOT_EVERY_MS: u64 = 500;
/// Snapshots kept at most (the spacing doubles beyond).
pub const MAX_SNAPSHOTS: usize = 1024;
/// The disk bytes ([`LsmEngine::disk_bytes`]) all snapshots may hold (the spacing doubles
/// beyond). A snapshot of a busy run costs 0.3 to 0.7 MB: the LSM manifest is never
/// rewritten, so it grows with the run.
pub const MAX_SNAPSHOT_BYTES: u64 = 128 * 1024 * 1024;
/// Markers kept (the newest).
pub const MAX_MARKERS: usize = 400;
/// Moments (virtual ms at which something happened) kept for stepping, the newest.
pub const MAX_MOMENTS: usize = 100_000;
/// Inputs a recording holds at most.
pub const MAX_INPUTS: usize = 10_000;
/// How far a step back moves when no earlier moment is known.
pub const STRIDE_MS: u64 = 100;
/// How far a step forward at the live end runs at most, waiting for something to happen.
pub const MAX_STEP_FORWARD_MS: u64 = 2_000;

/// The recorded run (module docs).
#[derive(Debug)]
pub struct LsmRun {
    seed: u64,
    /// The engine at the position.
    engine: LsmEngine,
    /// Every input and the position it was applied at, in order.
    inputs: Vec<(u64, LsmInput)>,
    /// Copies of the engine at multiples of `spacing_ms`, before that moment's inputs.
    snapshots: Vec<LsmEngine>,
    spacing_ms: u64,
    /// The disk bytes the snapshots hold.
    snapshot_bytes: u64,
    end_ms: u64,
    markers: VecDeque<TransportMarker>,
    /// `markers` as the transport bar takes them, rebuilt when they change.
    markers_view: Rc<Vec<TransportMarker>>,
    markers_dirty: bool,
    moments: VecDeque<u64>,
    /// Moments were dropped from the front.
    moments_trimmed: bool,
}

impl LsmRun {
    /// A new run from `seed`, at position 0.
    pub fn open(seed: u64) -> Result<LsmRun, DbError> {
        let engine = LsmEngine::open(seed)?;
        Ok(LsmRun {
            seed,
            snapshot_bytes: engine.disk_bytes(),
            snapshots: vec![engine.clone()],
            engine,
            inputs: Vec::new(),
            spacing_ms: SNAPSHOT_EVERY_MS,
            end_ms: 0,
            markers: VecDeque::new(),
            markers_view: Rc::default(),
            markers_dirty: false,
            moments: VecDeque::new(),
            moments_trimmed: false,
        })
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The engine at the position.
    pub fn engine(&self) -> &LsmEngine {
        &self.engine
    }

    /// The position, virtual ms.
    pub fn position_ms(&self) -> u64 {
        self.engine.now_ms()
    }

    /// The recorded end, virtual ms.
    pub fn end_ms(&self) -> u64 {
        self.end_ms
    }

    /// The recorded inputs and their positions.
    pub fn inputs(&self) -> &[(u64, LsmInput)] {
        &self.inputs
    }

    /// Markers, oldest first.
    pub fn markers(&self) -> impl Iterator<Item = &TransportMarker> {
        self.markers.iter()
    }

    /// Snapshots kept and the current spacing between them, ms.
    pub fn snapshots(&self) -> (usize, u64) {
        (self.snapshots.len(), self.spacing_ms)
    }

    /// The disk bytes all snapshots hold ([`LsmEngine::disk_bytes`]).
    pub fn snapshot_bytes(&self) -> u64 {
        self.snapshot_bytes
    }

    /// Inputs recorded after the position (acting here discards them).
    pub fn future_inputs(&self) -> u64 {
        let p = self.position_ms();
        (self.inputs.len() - self.inputs.partition_point(|(t, _)| *t <= p)) as u64
    }

    /// Applies `input` at the position (validated first: a bad input changes nothing).
    /// Before the end this branches (module docs). Returns whether it branched.
    pub fn act(&mut self, input: LsmInput) -> Result<bool, EngineError> {
        input.validate()?;
        if self.inputs.len() >= MAX_INPUTS {
            return Err(EngineError::Input(format!(
                "The recording holds at most {MAX_INPUTS} actions; reload the page to start \
                 a new run."
            )));
        }
        if let Some(why) = self.engine.stopped() {
            return Err(EngineError::Input(format!("The databases stopped: {why}")));
        }
        let p = self.position_ms();
        let branched = p < self.end_ms;
        if branched {
            self.branch(p);
        }
        // Recorded even if it fails: a failed write still began (and aborted) a
        // transaction, and replay fails it the same way.
        let result = self.engine.apply(&input);
        if matches!(input, LsmInput::CrashLsm) {
            self.marker(p, "crash");
        }
        self.inputs.push((p, input));
        self.moment(p);
        result.map(|()| branched)
    }

    /// Discards everything recorded after `p`.
    fn branch(&mut self, p: u64) {
        let keep = self.inputs.partition_point(|(t, _)| *t <= p);
        self.inputs.truncate(keep);
        let keep = self.snapshots.partition_point(|s| s.now_ms() <= p);
        self.snapshots.truncate(keep);
        self.snapshot_bytes = self.snapshots.iter().map(LsmEngine::disk_bytes).sum();
        while self.markers.back().is_some_and(|m| m.at > p) {
            self.markers.pop_back();
            self.markers_dirty = true;
        }
        while self.moments.back().is_some_and(|m| *m > p) {
            self.moments.pop_back();
        }
        self.end_ms = p;
    }

    /// Plays `ms` virtual milliseconds forward: a replay inside the recording, live past
    /// its end.
    pub fn advance(&mut self, ms: u64) -> Result<(), DbError> {
        for _ in 0..ms {
            self.forward_one()?;
        }
        Ok(())
    }

    /// One step (module docs, "Positions").
    fn forward_one(&mut self) -> Result<(), DbError> {
        let report = self.engine.step()?;
        let at = self.engine.now_ms();
        if at > self.end_ms {
            self.end_ms = at;
            if report.events {
                self.moment(at);
            }
            for kind in report.markers {
                self.marker(at, kind);
            }
        }
        if at.is_multiple_of(self.spacing_ms)
            && self.snapshots.last().is_none_or(|s| s.now_ms() < at)
        {
            self.snapshot_bytes += self.engine.disk_bytes();
            self.snapshots.push(self.engine.clone());
            while self.snapshots.len() > MAX_SNAPSHOTS || self.snapshot_bytes > MAX_SNAPSHOT_BYTES {
                self.spacing_ms *= 2;
                let spacing = self.spacing_ms;
                self.snapshots.retain(|s| s.now_ms() % spacing == 0);
                self.snapshot_bytes = self.snapshots.iter().map(LsmEngine::disk_bytes).sum();
                if self.snapshots.len() == 1 {
                    break;
                }
            }
        }
        self.apply_recorded(at);
        Ok(())
    }

    /// Applies the inputs recorded at `at`, in order. Their results are those of the run
    /// that recorded them (errors included), so they are not looked at again.
    fn apply_recorded(&mut self, at: u64) {
        let from = self.inputs.partition_point(|(t, _)| *t < at);
        for (t, input) in &self.inputs[from..] {
            if *t != at {
                break;
            }
            let _ = self.engine.apply(input);
        }
    }

    /// Moves to `target_ms` (clamped to the recording): from the last snapshot at or
    /// before it, or from the position when that is on the way.
    pub fn seek(&mut self, target_ms: u64) -> Result<(), DbError> {
        let t = target_ms.min(self.end_ms);
        let now = self.position_ms();
        if t == now {
            return Ok(());
        }
        let base = self
            .snapshots
            .partition_point(|s| s.now_ms() <= t)
            .checked_sub(1)
            .expect("the snapshot at 0 is never dropped");
        let base_at = self.snapshots[base].now_ms();
        if !(base_at <= now && now < t) {
            self.engine = self.snapshots[base].clone();
            self.apply_recorded(base_at);
        }
        while self.position_ms() < t {
            self.forward_one()?;
        }
        Ok(())
    }

    /// The moment to step back to from the position (module docs).
    pub fn previous_moment(&self) -> u64 {
        let p = self.position_ms();
        match self.moments.partition_point(|m| *m < p) {
            0 if self.moments_trimmed => p.saturating_sub(STRIDE_MS),
            0 => 0,
            i => self.moments[i - 1],
        }
    }

    /// Steps back to the previous moment something happened.
    pub fn step_back(&mut self) -> Result<(), DbError> {
        self.seek(self.previous_moment())
    }

    /// Steps forward to the next moment something happened; at the end, runs on until
    /// something does (at most [`MAX_STEP_FORWARD_MS`]).
    pub fn step_forward(&mut self) -> Result<(), DbError> {
        let p = self.position_ms();
        let i = self.moments.partition_point(|m| *m <= p);
        if let Some(&m) = self.moments.get(i) {
            return self.seek(m);
        }
        if p < self.end_ms {
            return self.seek(self.end_ms);
        }
        let limit = p + MAX_STEP_FORWARD_MS;
        while self.position_ms() < limit {
            self.forward_one()?;
            if self.moments.back().is_some_and(|m| *m > p) {
                break;
            }
        }
        Ok(())
    }

    fn moment(&mut self, at: u64) {
        if self.moments.back() == Some(&at) {
            return;
        }
        self.moments.push_back(at);
        if self.moments.len() > MAX_MOMENTS {
            self.moments.pop_front();
            self.moments_trimmed = true;
        }
    }

    fn marker(&mut self, at: u64, kind: &'static str) {
        self.markers.push_back(TransportMarker { at, kind });
        if self.markers.len() > MAX_MARKERS {
            self.markers.pop_front();
        }
        self.markers_dirty = true;
    }

    /// The timeline for the transport bar.
    pub fn timeline(&mut self, playing: bool, speed: u32) -> TimelineView {
        if self.markers_dirty {
            self.markers_view = Rc::new(self.markers.iter().cloned().collect());
            self.markers_dirty = false;
        }
        TimelineView {
            position_ms: self.position_ms(),
            end_ms: self.end_ms,
            markers: self.markers_view.clone(),
            future_inputs: self.future_inputs(),
            playing,
            speed,
        }
    }

    /// The run at the position, for the view.
    pub fn view(&mut self, playing: bool, speed: u32) -> RunView {
        RunView {
            trace: Rc::new(self.engine.trace().clone()),
            snapshot: self.engine.view(),
            timeline: self.timeline(playing, speed),
        }
    }
}

/// Replays a recording from its seed alone, without snapshots: a fresh engine, the inputs
/// applied at their positions, stepped to `until_ms`. What [`LsmRun`] does is only ever a
/// faster way to get this engine.
pub fn replay(seed: u64, inputs: &[(u64, LsmInput)], until_ms: u64) -> Result<LsmEngine, DbError> {
    let mut e = LsmEngine::open(seed)?;
    let mut next = 0;
    loop {
        while let Some((t, input)) = inputs.get(next) {
            if *t != e.now_ms() {
                break;
            }
            let _ = e.apply(input);
            next += 1;
        }
        if e.now_ms() >= until_ms {
            return Ok(e);
        }
        e.step()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logspine_core::Rng;
    use std::time::Instant;

    const REPLAY: &str = "cargo test -p logspine-web --lib lsm_run";

    /// A random input (bounded so that the runs stay small).
    fn random_input(rng: &mut Rng) -> LsmInput {
        match rng.below(10) {
            0..=3 => LsmInput::StartWorkload {
                clients: 1 + u32::try_from(rng.below(24)).unwrap(),
                rate_per_sec: 100 + u32::try_from(rng.below(1500)).unwrap(),
            },
            4 | 5 => LsmInput::StopWorkload,
            6..=8 => LsmInput::Write {
                key: format!("k{:03}", rng.below(420)),
                value: format!("v{}", rng.below(1000)),
            },
            _ => LsmInput::CrashLsm,
        }
    }

    /// A run driven like a person would: play a while, act, now and then go back and act
    /// there (a branch), look keys up.
    fn random_run(seed: u64, actions: usize) -> LsmRun {
        let mut rng = Rng::new(seed ^ 0x5eed);
        let mut run = LsmRun::open(seed).unwrap();
        run.act(LsmInput::StartWorkload {
            clients: 12,
            rate_per_sec: 800,
        })
        .unwrap();
        for _ in 0..actions {
            run.advance(1 + rng.below(700)).unwrap();
            if rng.below(4) == 0 && run.end_ms() > 0 {
                let to = rng.below(run.end_ms() + 1);
                run.seek(to).unwrap();
                assert_eq!(run.position_ms(), to, "seed {seed}");
            }
            if rng.below(3) == 0 {
                let before = run.engine().fingerprint();
                run.engine()
                    .lookup(&format!("k{:03}", rng.below(400)))
                    .unwrap();
                assert_eq!(
                    run.engine().fingerprint(),
                    before,
                    "seed {seed}: a lookup changed the run; replay: {REPLAY}"
                );
            }
            let input = random_input(&mut rng);
            let future = run.future_inputs();
            let was_end = run.end_ms();
            let at = run.position_ms();
            let crash = input == LsmInput::CrashLsm;
            let branched = run.act(input).unwrap();
            assert_eq!(branched, at < was_end, "seed {seed}");
            assert_eq!(run.future_inputs(), 0, "seed {seed}: {future} discarded");
            assert_eq!(run.end_ms(), at, "seed {seed}");
            if crash {
                // Let recovery finish before the next crash, most of the time.
                run.advance(300).unwrap();
            }
        }
        run.advance(500).unwrap();
        run
    }

    #[test]
    fn a_recording_replayed_from_its_seed_is_the_live_run() {
        for seed in [1_u64, 2, 3, 4, 5] {
            let run = random_run(seed, 14);
            let live = run.engine().fingerprint();
            let replayed = replay(seed, run.inputs(), run.position_ms()).unwrap();
            assert_eq!(
                replayed.fingerprint(),
                live,
                "seed {seed}: replay from the seed differs from the live run; replay: {REPLAY}"
            );
            assert_eq!(replayed.trace(), run.engine().trace(), "seed {seed}");
            assert_eq!(replayed.view(), run.engine().view(), "seed {seed}");
            // The same inputs acted again on a fresh run (no seeks, no branches) give the
            // same markers too.
            let mut again = LsmRun::open(seed).unwrap();
            for (t, input) in run.inputs() {
                again.advance(t - again.position_ms()).unwrap();
                assert!(!again.act(input.clone()).unwrap_or(false), "seed {seed}");
            }
            again.advance(run.end_ms() - again.position_ms()).unwrap();
            assert_eq!(again.engine().fingerprint(), live, "seed {seed}");
            assert_eq!(
                again.markers().collect::<Vec<_>>(),
                run.markers().collect::<Vec<_>>(),
                "seed {seed}: markers; replay: {REPLAY}"
            );
            assert_eq!(again.moments, run.moments, "seed {seed}: moments");
            // Something happened in these runs: the check is not vacuous.
            let kinds: Vec<_> = run.markers().map(|m| m.kind).collect();
            assert!(kinds.contains(&"flush"), "seed {seed}: {kinds:?}");
            assert!(run.engine().trace().flushes_done > 0, "seed {seed}");
        }
    }

    #[test]
    fn a_seek_then_forward_equals_the_straight_run() {
        let seed = 11;
        let mut run = LsmRun::open(seed).unwrap();
        run.act(LsmInput::StartWorkload {
            clients: 16,
            rate_per_sec: 1000,
        })
        .unwrap();
        let mut straight = Vec::new();
        for i in 0..40 {
            run.advance(97 + (i % 5) * 31).unwrap();
            if i == 17 {
                run.act(LsmInput::CrashLsm).unwrap();
            }
            if i == 25 {
                run.act(LsmInput::Write {
                    key: "apple".into(),
                    value: "red".into(),
                })
                .unwrap();
            }
            straight.push((run.position_ms(), run.engine().fingerprint()));
        }
        assert!(run.engine().trace().compactions_done > 0);
        assert!(run.markers().any(|m| m.kind == "recovery"));
        let mut rng = Rng::new(seed);
        for _ in 0..60 {
            let (t, want) = straight[usize::try_from(rng.below(straight.len() as u64)).unwrap()];
            run.seek(t).unwrap();
            assert_eq!(run.position_ms(), t);
            assert_eq!(
                run.engine().fingerprint(),
                want,
                "seek to {t}; replay: {REPLAY}"
            );
        }
        // Seek somewhere, then play forward to a recorded point.
        for (i, &(t, want)) in straight.iter().enumerate().skip(1) {
            let from = straight[i - 1].0 - 13;
            run.seek(from).unwrap();
            run.advance(t - from).unwrap();
            assert_eq!(run.engine().fingerprint(), want, "{from} → {t}");
        }
        // Step back and forward move between moments and agree with seeks.
        let end = run.end_ms();
        run.seek(end).unwrap();
        let prev = run.previous_moment();
        assert!(prev < end);
        run.step_back().unwrap();
        assert_eq!(run.position_ms(), prev);
        run.step_forward().unwrap();
        assert!(run.position_ms() > prev && run.position_ms() <= end);
        // Nothing was discarded by any of that.
        assert_eq!(run.end_ms(), end);
        assert_eq!(run.inputs().len(), 3);
    }

    #[test]
    fn acting_in_the_past_discards_the_recorded_future() {
        let mut run = LsmRun::open(5).unwrap();
        run.act(LsmInput::StartWorkload {
            clients: 16,
            rate_per_sec: 1000,
        })
        .unwrap();
        run.advance(3000).unwrap();
        run.act(LsmInput::CrashLsm).unwrap();
        run.advance(2000).unwrap();
        assert!(run.markers().any(|m| m.kind == "crash"));
        let (snaps, _) = run.snapshots();
        // A bad input changes nothing, even in the past.
        run.seek(1000).unwrap();
        assert!(run
            .act(LsmInput::Write {
                key: String::new(),
                value: "v".into()
            })
            .is_err());
        assert_eq!(run.end_ms(), 5000);
        assert_eq!(run.future_inputs(), 1);
        // A good one branches.
        assert!(run.act(LsmInput::StopWorkload).unwrap());
        assert_eq!(run.end_ms(), 1000);
        assert!(run.markers().all(|m| m.at <= 1000));
        assert!(!run.markers().any(|m| m.kind == "crash"));
        assert!(run.snapshots().0 < snaps);
        assert_eq!(
            run.inputs().iter().map(|(t, _)| *t).collect::<Vec<_>>(),
            vec![0, 1000]
        );
        run.advance(2000).unwrap();
        let replayed = replay(5, run.inputs(), run.position_ms()).unwrap();
        assert_eq!(replayed.fingerprint(), run.engine().fingerprint());
        assert!(!run.engine().view().workload.running);
    }

    /// The worst seek in a long recording. Figures: `cargo test -p logspine-web --release
    /// --lib lsm_run::tests::seeks_in_a_long_recording -- --nocapture`. The time bound is
    /// only asserted in an optimized build.
    #[test]
    fn seeks_in_a_long_recording_are_quick() {
        let long_ms: u64 = if cfg!(debug_assertions) {
            20_000
        } else {
            100_000
        };
        let mut run = LsmRun::open(21).unwrap();
        run.act(LsmInput::StartWorkload {
            clients: 16,
            rate_per_sec: 1000,
        })
        .unwrap();
        let t0 = Instant::now();
        run.advance(long_ms).unwrap();
        let record = t0.elapsed();
        let (count, spacing) = run.snapshots();
        let bytes = run.snapshot_bytes();
        let last = run.snapshots.last().unwrap().disk_bytes();
        assert_eq!(
            bytes,
            run.snapshots.iter().map(LsmEngine::disk_bytes).sum::<u64>()
        );
        assert!(bytes <= MAX_SNAPSHOT_BYTES && count <= MAX_SNAPSHOTS);
        // The worst targets: one step before each snapshot (a whole spacing of replay),
        // visited from far away so that every seek restores a snapshot.
        let mut rng = Rng::new(21);
        let mut times = Vec::new();
        for i in 0..100 {
            let k = 1 + rng.below(long_ms / spacing - 1);
            let target = k * spacing - 1;
            let away = if i % 2 == 0 { 0 } else { long_ms };
            run.seek(away).unwrap();
            let t = Instant::now();
            run.seek(target).unwrap();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(run.position_ms(), target);
        }
        times.sort_by(f64::total_cmp);
        run.seek(long_ms).unwrap();
        let worst = times[times.len() - 1];
        let median = times[times.len() / 2];
        println!(
            "long recording: {long_ms} ms of workload (16 clients, 1000/s) recorded in {:.2} s \
             ({:.1} µs a step); {count} snapshots every {spacing} ms, {} disk bytes in all \
             ({} on average, {} the last); seeks to just before a snapshot: median {median:.2} \
             ms, worst {worst:.2} ms; {} markers, {} flushes, {} compactions",
            record.as_secs_f64(),
            record.as_secs_f64() * 1e6 / long_ms as f64,
            bytes,
            bytes / count as u64,
            last,
            run.markers.len(),
            run.engine().trace().flushes_done,
            run.engine().trace().compactions_done,
        );
        assert!(run.engine().trace().compactions_done > 10);
        if !cfg!(debug_assertions) {
            assert!(worst < 100.0, "worst seek {worst:.2} ms");
        }
    }
}
