//! [`RaftRecording`]: the cluster view's run, recorded so that it can travel in time.
//!
//! A run is its seed plus every [`RaftInput`] the user applied, each at the cluster tick
//! it was applied (inputs only ever happen between two ticks). The engine
//! ([`RaftEngine`]) knows no wall clock, so its state after `t` ticks is a pure function of
//! (seed, inputs, `t`): time travel is replay.
//!
//! # Position and end
//! The position is the engine's tick: its state after that many ticks *and* after every
//! input recorded at that tick. `end` is the last recorded tick. Moving forward from a
//! position before the end replays the recording (its inputs are re-applied at their
//! ticks); moving forward from the end records new time. Acting at a position before the
//! end *branches*: the recorded future (inputs, markers, chart samples, snapshots after
//! the position) is discarded, the input is applied, and the end becomes the position.
//!
//! # Seek
//! Every `snapshot_every` ticks (at first [`SNAPSHOT_EVERY_TICKS`]) the recording keeps a
//! clone of the engine and of the trace fold ([`TraceFold`]) taken right after the tick,
//! before that tick's inputs. Seeking to `t` restores the nearest snapshot at or before `t`
//! (or keeps going from the position, when that is nearer), re-applies the snapshot
//! tick's inputs and replays up to `t`. A seek costs one clone plus at most
//! `snapshot_every` replayed ticks. The snapshots are bounded ([`MAX_SNAPSHOTS`]): past
//! that, the spacing doubles and every other snapshot goes.
//!
//! # Steps
//! Step back goes to the previous tick at which some trace event happened (a message sent,
//! delivered or dropped, a role change, a vote, a commit, a crash, ...); step forward to the
//! next one (recording new time at the end, at most [`MAX_STEP_TICKS`] ticks). With
//! heartbeats every 50 ticks no step is longer than that on a healthy cluster, and each step
//! shows one thing changing.
//!
//! # Markers and charts
//! Each crash, restart (recovery), leader elected (election) and snapshot taken or
//! installed (compaction: the log is trimmed behind it) is a [`RaftMarker`] at its tick; the
//! newest [`MAX_MARKERS`] are kept, and compaction markers within
//! [`COMPACTION_MERGE_TICKS`] of the previous one are merged into it (five nodes snapshot
//! at nearly the same moment). The charts are sampled every [`CHART_EVERY_TICKS`] ticks
//! while recording; the charts at a position are the samples at or before it.
//!
//! # Limits
//! The recording stops growing at [`MAX_RECORDED_TICKS`] (play pauses there; stepping
//! back and branching still works).

use std::collections::VecDeque;

use logspine_core::raft::sim::{TraceEvent, TraceKind};
use logspine_core::raft::{NodeEvent, Role};

use crate::raft_run::{RaftEngine, RaftInput};
use crate::raft_state::{
    ChartSample, RaftCharts, RaftFrame, RaftMarker, TraceFold, CHART_EVERY_TICKS,
};

/// Ticks between two snapshots at first.
pub const SNAPSHOT_EVERY_TICKS: u64 = 1_000;
/// Snapshots kept at most (then the spacing doubles).
pub const MAX_SNAPSHOTS: usize = 128;
/// Markers kept (the newest).
pub const MAX_MARKERS: usize = crate::transport::MAX_MARKERS_DRAWN;
/// A compaction marker this close after the previous one is merged into it.
pub const COMPACTION_MERGE_TICKS: u64 = 100;
/// Step forward runs at most this many ticks looking for an event.
pub const MAX_STEP_TICKS: u64 = 1_000;
/// The longest recording (ticks).
pub const MAX_RECORDED_TICKS: u64 = 1_000_000;
/// Ticks one call of [`Clock::ticks`] may hand out at most (so that a tab coming back from
/// the background does not stall).
pub const MAX_TICKS_PER_CALL: u64 = 300;

/// The page's clock, turned into a number of ticks to run: `speed` ticks per second of
/// wall time. It decides how many ticks run, never what happens inside them.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    last_ms: Option<u64>,
    /// Wall milliseconds × speed not yet turned into ticks (thousandths of a tick).
    carry: u64,
}

impl Clock {
    /// Ticks due at `now_ms` since the last call (the first call starts the clock).
    pub fn ticks(&mut self, now_ms: u64, speed: u32) -> u64 {
        let last = *self.last_ms.get_or_insert(now_ms);
        self.last_ms = Some(now_ms);
        self.carry += now_ms.saturating_sub(last) * u64::from(speed);
        let ticks = (self.carry / 1000).min(MAX_TICKS_PER_CALL);
        self.carry %= 1000;
        ticks
    }

    /// Forgets the last reading (after a pause, the paused time does not count).
    pub fn reset(&mut self) {
        self.last_ms = None;
        self.carry = 0;
    }
}

#[derive(Clone, Debug)]
struct Snapshot {
    at: u64,
    engine: RaftEngine,
    fold: TraceFold,
}

/// The recorded run (module docs).
#[derive(Debug)]
pub struct RaftRecording {
    seed: u64,
    inputs: Vec<(u64, RaftInput)>,
    engine: RaftEngine,
    fold: TraceFold,
    end: u64,
    snapshots: Vec<Snapshot>,
    snapshot_every: u64,
    markers: VecDeque<RaftMarker>,
    /// One bit per tick up to `end`: some trace event happened at it.
    busy: Vec<u64>,
    samples: Vec<ChartSample>,
    announce: Vec<String>,
    /// The whole trace as recorded (cut at branches), for the tests.
    kept: Option<Vec<TraceEvent>>,
}

impl RaftRecording {
    /// A new recording of a fresh cluster from `seed`.
    pub fn new(seed: u64) -> Result<RaftRecording, String> {
        RaftRecording::with_spacing(seed, SNAPSHOT_EVERY_TICKS)
    }

    /// [`RaftRecording::new`] with snapshots every `snapshot_every` ticks (at least 1).
    pub fn with_spacing(seed: u64, snapshot_every: u64) -> Result<RaftRecording, String> {
        let engine = RaftEngine::new(seed).map_err(|e| e.to_string())?;
        let mut r = RaftRecording {
            seed,
            inputs: Vec::new(),
            snapshots: vec![Snapshot {
                at: 0,
                engine: engine.clone(),
                fold: TraceFold::default(),
            }],
            engine,
            fold: TraceFold::default(),
            end: 0,
            snapshot_every: snapshot_every.max(1),
            markers: VecDeque::new(),
            busy: vec![0],
            samples: Vec::new(),
            announce: Vec::new(),
            kept: None,
        };
        r.samples.push(r.sample());
        Ok(r)
    }

    /// Keeps the whole trace from now on (tests compare it with a straight run).
    pub fn keep_trace(&mut self) {
        self.kept.get_or_insert_with(Vec::new);
    }

    /// The kept trace (empty unless [`RaftRecording::keep_trace`]).
    pub fn kept_trace(&self) -> &[TraceEvent] {
        self.kept.as_deref().unwrap_or(&[])
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The inputs, each at its tick, in the order applied.
    pub fn inputs(&self) -> &[(u64, RaftInput)] {
        &self.inputs
    }

    /// The engine at the position.
    pub fn engine(&self) -> &RaftEngine {
        &self.engine
    }

    /// The fold at the position.
    pub fn fold(&self) -> &TraceFold {
        &self.fold
    }

    /// The position (a tick).
    pub fn position(&self) -> u64 {
        self.engine.now()
    }

    /// The last recorded tick.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Snapshots held, and the ticks between two.
    pub fn snapshots(&self) -> (usize, u64) {
        (self.snapshots.len(), self.snapshot_every)
    }

    /// The markers kept, oldest first.
    pub fn markers(&self) -> impl Iterator<Item = &RaftMarker> {
        self.markers.iter()
    }

    /// Whether play can go on (the engine did not stop, the recording is not full).
    pub fn can_advance(&self) -> bool {
        self.engine.stopped().is_none()
            && (self.position() < self.end || self.end < MAX_RECORDED_TICKS)
    }

    /// Moves forward up to `ticks` ticks (replaying, then recording at the end); returns
    /// how many ran.
    pub fn advance(&mut self, ticks: u64) -> u64 {
        let mut ran = 0;
        while ran < ticks && self.tick_once() {
            ran += 1;
        }
        ran
    }

    /// Applies `input` at the position; before the end this branches (module docs). A
    /// refused input (bad key, full queue) changes nothing.
    pub fn act(&mut self, input: RaftInput) -> Result<(), String> {
        self.engine.check(&input)?;
        if let Some(why) = self.engine.stopped() {
            return Err(why.to_owned());
        }
        let p = self.position();
        if p < self.end {
            self.branch(p);
        }
        let r = self.engine.apply(&input);
        self.inputs.push((p, input));
        let events = self.engine.take_trace();
        self.record(&events);
        self.fold.apply(events, p, &mut self.announce);
        r
    }

    /// Moves to tick `t` (clamped to the recording) by replay (module docs).
    pub fn seek(&mut self, t: u64) {
        let t = t.min(self.end);
        let p = self.position();
        if t == p {
            return;
        }
        let i = self.snapshots.partition_point(|s| s.at <= t) - 1;
        let at = self.snapshots[i].at;
        if t < p || at > p {
            let s = &self.snapshots[i];
            self.engine = s.engine.clone();
            self.fold = s.fold.clone();
            self.apply_inputs_at(at, &mut Vec::new());
        }
        let mut quiet = Vec::new();
        while self.position() < t {
            let before = self.position();
            self.replay_tick(&mut quiet);
            assert!(self.position() > before, "replay made progress");
        }
        self.announce.clear();
        self.announce.push(self.where_words());
    }

    /// To the previous tick at which something happened (the start if none).
    pub fn step_back(&mut self) {
        let p = self.position();
        let t = (0..p).rev().find(|t| self.is_busy(*t)).unwrap_or(0);
        self.seek(t);
    }

    /// To the next tick at which something happened (module docs).
    pub fn step_forward(&mut self) {
        for _ in 0..MAX_STEP_TICKS {
            if !self.tick_once() || self.is_busy(self.position()) {
                break;
            }
        }
    }

    /// What the view draws at the position (takes the pending announcements).
    pub fn frame(&mut self) -> RaftFrame {
        let p = self.position();
        let n = self.samples.partition_point(|s| s.at <= p);
        let announce = (!self.announce.is_empty()).then(|| self.announce.join(" "));
        self.announce.clear();
        RaftFrame {
            view: self.engine.view(),
            fold: self.fold.clone(),
            announce,
            end: self.end,
            markers: self.markers.iter().cloned().collect(),
            charts: RaftCharts::from_samples(&self.samples[..n]),
            snapshots: self.snapshots(),
            inputs: self.inputs.len(),
        }
    }

    /// One tick forward; false if none could run.
    fn tick_once(&mut self) -> bool {
        if !self.can_advance() {
            return false;
        }
        if self.position() < self.end {
            let mut announce = std::mem::take(&mut self.announce);
            self.replay_tick(&mut announce);
            self.announce = announce;
            return true;
        }
        self.engine.run_ticks(1);
        let now = self.engine.now();
        self.end = now;
        let events = self.engine.take_trace();
        self.record(&events);
        self.fold.apply(events, now, &mut self.announce);
        if now.is_multiple_of(CHART_EVERY_TICKS) {
            self.samples.push(self.sample());
        }
        if now.is_multiple_of(self.snapshot_every) {
            self.snapshots.push(Snapshot {
                at: now,
                engine: self.engine.clone(),
                fold: self.fold.clone(),
            });
            if self.snapshots.len() > MAX_SNAPSHOTS {
                self.snapshot_every *= 2;
                let every = self.snapshot_every;
                self.snapshots.retain(|s| s.at.is_multiple_of(every));
            }
        }
        true
    }

    /// One recorded tick again: the step, then the inputs recorded at the new tick.
    fn replay_tick(&mut self, announce: &mut Vec<String>) {
        debug_assert!(self.position() < self.end);
        self.engine.run_ticks(1);
        let now = self.engine.now();
        let events = self.engine.take_trace();
        self.fold.apply(events, now, announce);
        self.apply_inputs_at(now, announce);
    }

    fn apply_inputs_at(&mut self, t: u64, announce: &mut Vec<String>) {
        let from = self.inputs.partition_point(|(at, _)| *at < t);
        let to = self.inputs.partition_point(|(at, _)| *at <= t);
        for (_, input) in &self.inputs[from..to] {
            // Its error, if any, was shown when it was first applied; replay gives the same.
            let _ = self.engine.apply(input);
            let events = self.engine.take_trace();
            self.fold.apply(events, t, announce);
        }
    }

    /// Forgets everything after `p` (module docs).
    fn branch(&mut self, p: u64) {
        self.inputs
            .truncate(self.inputs.partition_point(|(at, _)| *at <= p));
        self.snapshots
            .truncate(self.snapshots.partition_point(|s| s.at <= p));
        while self.markers.back().is_some_and(|m| m.at > p) {
            self.markers.pop_back();
        }
        self.samples
            .truncate(self.samples.partition_point(|s| s.at <= p));
        let words = usize::try_from(p / 64 + 1).expect("a bounded recording");
        self.busy.truncate(words);
        let keep = p % 64 + 1;
        if keep < 64 {
            self.busy[words - 1] &= (1u64 << keep) - 1;
        }
        if let Some(k) = &mut self.kept {
            k.retain(|e| e.at <= p);
        }
        self.end = p;
    }

    /// Notes new events: busy ticks, markers and the kept trace.
    fn record(&mut self, events: &[TraceEvent]) {
        for e in events {
            self.set_busy(e.at);
            if let Some(m) = marker(e) {
                let merged = m.kind == "compaction"
                    && self
                        .markers
                        .iter()
                        .rev()
                        .find(|o| o.kind == "compaction")
                        .is_some_and(|o| m.at <= o.at + COMPACTION_MERGE_TICKS);
                if !merged {
                    if self.markers.len() == MAX_MARKERS {
                        self.markers.pop_front();
                    }
                    self.markers.push_back(m);
                }
            }
        }
        if let Some(k) = &mut self.kept {
            k.extend_from_slice(events);
        }
    }

    fn set_busy(&mut self, t: u64) {
        let w = usize::try_from(t / 64).expect("a bounded recording");
        if self.busy.len() <= w {
            self.busy.resize(w + 1, 0);
        }
        self.busy[w] |= 1 << (t % 64);
    }

    fn is_busy(&self, t: u64) -> bool {
        usize::try_from(t / 64)
            .ok()
            .and_then(|w| self.busy.get(w))
            .is_some_and(|w| w & (1 << (t % 64)) != 0)
    }

    fn sample(&self) -> ChartSample {
        let v = self.engine.view_commits();
        ChartSample {
            at: self.position(),
            elections: self.fold.elections,
            commit: v,
        }
    }

    /// "At 1234 ms: node 3 leads (term 2)." for the live region after a seek.
    fn where_words(&self) -> String {
        let p = self.position();
        let leader = match self.engine.cluster().leader() {
            Some(l) => format!("node {l} leads"),
            None => "no leader".to_owned(),
        };
        let tail = if p < self.end {
            format!(
                "; {} ms of recorded future after it (acting here discards it)",
                self.end - p
            )
        } else {
            String::new()
        };
        format!("At {p} ms of cluster time: {leader}{tail}.")
    }
}

/// The marker an event makes, if any (module docs).
fn marker(e: &TraceEvent) -> Option<RaftMarker> {
    let (kind, text) = match &e.kind {
        TraceKind::Crashed { node } => ("crash", format!("n{node} crashed")),
        TraceKind::Restarted { node, .. } => ("recovery", format!("n{node} restarted")),
        TraceKind::Node {
            node,
            event:
                NodeEvent::RoleChanged {
                    role: Role::Leader,
                    term,
                },
        } => ("election", format!("n{node} elected leader of term {term}")),
        TraceKind::Node {
            node,
            event: NodeEvent::SnapshotTaken { index },
        } => (
            "compaction",
            format!("n{node} snapshots at {index} and trims its log"),
        ),
        TraceKind::Node {
            node,
            event: NodeEvent::SnapshotInstalled { index },
        } => (
            "compaction",
            format!("n{node} installs a snapshot up to {index}"),
        ),
        _ => return None,
    };
    Some(RaftMarker {
        at: e.at,
        kind,
        text,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use logspine_core::raft::NodeId;
    use logspine_core::Rng;

    use super::*;
    use crate::raft_run::NODES;
    use crate::raft_state::ClusterView;

    /// What a straight run (no recording, no seek) gives after every tick: the trace, the
    /// state hash and the fold.
    struct Straight {
        trace: Vec<TraceEvent>,
        hashes: Vec<u32>,
        folds: Vec<TraceFold>,
        views: Vec<ClusterView>,
    }

    /// Runs the engine from `seed` to `end`, applying `inputs` at their ticks.
    fn straight(seed: u64, inputs: &[(u64, RaftInput)], end: u64, views: bool) -> Straight {
        let mut e = RaftEngine::new(seed).unwrap();
        let mut fold = TraceFold::default();
        let mut s = Straight {
            trace: Vec::new(),
            hashes: Vec::new(),
            folds: Vec::new(),
            views: Vec::new(),
        };
        let mut next = 0;
        for t in 0..=end {
            if t > 0 {
                e.run_ticks(1);
                let ev = e.take_trace();
                s.trace.extend(ev.iter().cloned());
                fold.apply(ev, t, &mut Vec::new());
            }
            while next < inputs.len() && inputs[next].0 == t {
                let _ = e.apply(&inputs[next].1);
                let ev = e.take_trace();
                s.trace.extend(ev.iter().cloned());
                fold.apply(ev, t, &mut Vec::new());
                next += 1;
            }
            s.hashes.push(e.state_hash());
            s.folds.push(fold.clone());
            if views {
                s.views.push(e.view());
            }
        }
        assert_eq!(next, inputs.len(), "every input is at or before the end");
        s
    }

    fn random_input(rng: &mut Rng, n: u64) -> RaftInput {
        let id = rng.range_inclusive(1, NODES);
        match rng.below(7) {
            0 | 1 => RaftInput::Write {
                key: format!("k{}", rng.below(5)),
                value: n.to_string(),
            },
            2 => RaftInput::Workload(rng.chance(600_000)),
            3 => RaftInput::Crash(id),
            4 => RaftInput::Restart(id),
            5 => {
                let b: Vec<NodeId> = (1..=NODES).filter(|_| rng.chance(300_000)).collect();
                RaftInput::Partition(b)
            }
            _ => RaftInput::Loss([0, 5, 20][rng.index(3)]),
        }
    }

    /// Drives a recording the way a person might: play, act, seek back, act there
    /// (a branch), step, play on. Returns it with the whole trace kept.
    fn drive(seed: u64, moves: u32, spacing: u64) -> (RaftRecording, u32) {
        let mut rng = Rng::new(seed ^ 0xd1ce);
        let mut r = RaftRecording::with_spacing(seed, spacing).unwrap();
        r.keep_trace();
        let mut branches = 0;
        for n in 0..u64::from(moves) {
            match rng.below(10) {
                0..=3 => {
                    r.advance(rng.range_inclusive(1, 400));
                }
                4..=6 => {
                    let past = r.position() < r.end();
                    if r.act(random_input(&mut rng, n)).is_ok() && past {
                        branches += 1;
                    }
                }
                7 => r.seek(rng.range_inclusive(0, r.end())),
                8 => r.step_back(),
                _ => r.step_forward(),
            }
            assert!(r.position() <= r.end());
        }
        // Always end with a branch in the past and some recorded time after it.
        r.seek(r.end() / 2);
        r.act(RaftInput::Restart(rng.range_inclusive(1, NODES)))
            .unwrap();
        r.advance(300);
        (r, branches + 1)
    }

    const REPLAY: &str = "cargo test -p logspine-web --lib raft_record";

    #[test]
    fn a_recording_replayed_from_its_seed_is_the_run_that_made_it() {
        for seed in 1..=8u64 {
            let (mut r, branches) = drive(seed, 80, 200);
            let end = r.end();
            r.seek(end);
            let s = straight(seed, r.inputs(), end, false);
            assert_eq!(
                r.kept_trace().len(),
                s.trace.len(),
                "seed {seed}: trace lengths differ; replay: {REPLAY}"
            );
            if let Some(i) = (0..s.trace.len()).find(|i| r.kept_trace()[*i] != s.trace[*i]) {
                panic!(
                    "seed {seed}: trace differs at event {i}: live {:?} vs replay {:?}; replay: {REPLAY}",
                    r.kept_trace()[i],
                    s.trace[i]
                );
            }
            assert_eq!(
                r.engine().state_hash(),
                s.hashes[usize::try_from(end).unwrap()],
                "seed {seed}: state at the end; replay: {REPLAY}"
            );
            assert_eq!(
                r.fold(),
                &s.folds[usize::try_from(end).unwrap()],
                "seed {seed}"
            );
            println!(
                "seed {seed}: {end} ticks, {} inputs after {branches} branches, {} events, state {:08x}",
                r.inputs().len(),
                s.trace.len(),
                r.engine().state_hash()
            );
        }
    }

    #[test]
    fn seek_to_any_tick_then_forward_equals_the_straight_run() {
        for seed in [3u64, 8] {
            let (mut r, _) = drive(seed, 40, 250);
            let end = r.end();
            let s = straight(seed, r.inputs(), end, true);
            let mut rng = Rng::new(seed);
            let mut targets: Vec<u64> = (0..40).map(|_| rng.range_inclusive(0, end)).collect();
            targets.extend([0, end, 1, end - 1]);
            targets.extend(r.inputs().iter().map(|(t, _)| *t));
            for t in targets {
                r.seek(t);
                let i = usize::try_from(t).unwrap();
                assert_eq!(r.position(), t);
                assert_eq!(
                    r.engine().state_hash(),
                    s.hashes[i],
                    "seed {seed}: state at tick {t} after a seek; replay: {REPLAY}"
                );
                assert_eq!(r.fold(), &s.folds[i], "seed {seed}: fold at tick {t}");
                assert_eq!(r.engine().view(), s.views[i], "seed {seed}: picture at {t}");
                let ahead = rng.range_inclusive(0, 700).min(end - t);
                r.advance(ahead);
                let j = usize::try_from(t + ahead).unwrap();
                assert_eq!(
                    r.engine().state_hash(),
                    s.hashes[j],
                    "seed {seed}: seek to {t}, then {ahead} ticks; replay: {REPLAY}"
                );
                assert_eq!(r.end(), end, "replaying records nothing");
            }
            // Stepping back and forth visits busy ticks and stays on the run.
            r.seek(end / 2);
            let p = r.position();
            r.step_back();
            assert!(r.position() < p);
            let back = r.position();
            assert!(s.trace.iter().any(|e| e.at == back) || back == 0);
            r.step_forward();
            assert!(r.position() > back);
            assert!(s.trace.iter().any(|e| e.at == r.position()));
            assert!(
                !s.trace.iter().any(|e| e.at > back && e.at < r.position()),
                "no event skipped"
            );
            let i = usize::try_from(r.position()).unwrap();
            assert_eq!(r.engine().state_hash(), s.hashes[i]);
        }
    }

    #[test]
    fn a_branch_discards_the_recorded_future() {
        let mut r = RaftRecording::with_spacing(21, 100).unwrap();
        r.act(RaftInput::Workload(true)).unwrap();
        r.advance(1500);
        r.act(RaftInput::Crash(2)).unwrap();
        r.advance(1500);
        let crash_markers = |r: &RaftRecording| r.markers().filter(|m| m.kind == "crash").count();
        assert_eq!(crash_markers(&r), 1);
        assert_eq!(r.inputs().len(), 2);
        r.seek(1000);
        assert!(r.engine().cluster().is_up(2), "before the crash");
        assert_eq!(r.end(), 3000, "seeking keeps the recording");
        r.act(RaftInput::Write {
            key: "b".into(),
            value: "1".into(),
        })
        .unwrap();
        assert_eq!(r.end(), 1000, "the future is gone");
        assert_eq!(crash_markers(&r), 0);
        assert_eq!(
            r.inputs().iter().map(|(t, _)| *t).collect::<Vec<_>>(),
            [0, 1000]
        );
        assert!(r.snapshots.iter().all(|s| s.at <= 1000));
        assert!(!r.is_busy(1001));
        r.advance(200);
        assert_eq!(r.end(), 1200);
        assert!(r.engine().cluster().is_up(2));
    }

    #[test]
    fn markers_are_at_the_ticks_of_their_events() {
        let mut r = RaftRecording::new(4).unwrap();
        r.keep_trace();
        r.act(RaftInput::Workload(true)).unwrap();
        r.advance(3000);
        let leader = r.engine().cluster().leader().expect("a leader");
        r.act(RaftInput::Crash(leader)).unwrap();
        let crashed_at = r.position();
        r.advance(2000);
        let new = r.engine().cluster().leader().expect("a new leader");
        assert_ne!(new, leader);
        r.act(RaftInput::Restart(leader)).unwrap();
        let restarted_at = r.position();
        r.advance(6000);
        let m: Vec<&RaftMarker> = r.markers().collect();
        assert!(m.iter().any(|m| m.kind == "crash" && m.at == crashed_at));
        assert!(m
            .iter()
            .any(|m| m.kind == "recovery" && m.at == restarted_at));
        // Every leader elected in the trace has an election marker at its tick, and every
        // marker has its event at its tick.
        let trace = r.kept_trace();
        let elected: Vec<u64> = trace
            .iter()
            .filter(|e| {
                matches!(
                    e.kind,
                    TraceKind::Node {
                        event: NodeEvent::RoleChanged {
                            role: Role::Leader,
                            ..
                        },
                        ..
                    }
                )
            })
            .map(|e| e.at)
            .collect();
        assert!(elected.len() >= 2, "{elected:?}");
        assert!(elected.iter().any(|t| *t > crashed_at && *t < restarted_at));
        let marked: Vec<u64> = m
            .iter()
            .filter(|m| m.kind == "election")
            .map(|m| m.at)
            .collect();
        assert_eq!(marked, elected);
        for mk in &m {
            assert!(
                trace
                    .iter()
                    .any(|e| e.at == mk.at && marker(e).is_some_and(|x| x.kind == mk.kind)),
                "{mk:?} has no event"
            );
        }
        let compactions: Vec<u64> = trace
            .iter()
            .filter_map(|e| marker(e).filter(|m| m.kind == "compaction").map(|_| e.at))
            .collect();
        assert!(!compactions.is_empty(), "the workload made snapshots");
        assert!(m
            .iter()
            .filter(|m| m.kind == "compaction")
            .all(|mk| compactions.contains(&mk.at)));
        // Each compaction event is within the merge window of a compaction marker.
        for t in compactions {
            assert!(m.iter().any(|mk| mk.kind == "compaction"
                && mk.at <= t
                && t <= mk.at + COMPACTION_MERGE_TICKS));
        }
        // The charts at a position are the samples up to it.
        r.seek(crashed_at);
        let f = r.frame();
        assert_eq!(
            f.charts.commit.values().len(),
            usize::try_from(crashed_at / CHART_EVERY_TICKS + 1).unwrap()
        );
        assert_eq!(f.charts.elections.last(), Some(1.0));
        assert!(!f.at_end());
    }

    #[test]
    fn the_clock_runs_at_the_chosen_speed_and_bounds_a_long_gap() {
        let mut c = Clock::default();
        assert_eq!(c.ticks(1000, 100), 0);
        assert_eq!(c.ticks(1500, 100), 50);
        assert_eq!(c.ticks(1505, 100), 0, "half a tick carried");
        assert_eq!(c.ticks(1510, 100), 1);
        assert_eq!(c.ticks(1_000_000, 100), MAX_TICKS_PER_CALL);
        c.reset();
        assert_eq!(c.ticks(5_000_000, 1000), 0, "a pause does not count");
    }

    /// Seek cost in a long recording (release: 100,000 ticks; debug: 20,000). Prints the
    /// figures; asserts what does not depend on the machine: no seek replays more than one
    /// snapshot spacing, and the snapshots stay bounded.
    #[test]
    fn seek_cost_in_a_long_recording() {
        let ticks: u64 = if cfg!(debug_assertions) {
            20_000
        } else {
            100_000
        };
        let rss = || -> Option<u64> {
            let s = std::fs::read_to_string("/proc/self/statm").ok()?;
            s.split_whitespace()
                .nth(1)?
                .parse::<u64>()
                .ok()
                .map(|p| p * 4096)
        };
        let before = rss();
        let started = Instant::now();
        let mut r = RaftRecording::new(0x5eed_0005).unwrap();
        r.act(RaftInput::Workload(true)).unwrap();
        let mut rng = Rng::new(99);
        while r.end() < ticks {
            r.advance(rng.range_inclusive(500, 3000).min(ticks - r.end()));
            let id = rng.range_inclusive(1, NODES);
            let input = if r.engine().cluster().is_up(id) {
                RaftInput::Crash(id)
            } else {
                RaftInput::Restart(id)
            };
            r.act(input).unwrap();
        }
        let record_ms = started.elapsed().as_secs_f64() * 1000.0;
        let after = rss();
        let (snaps, every) = r.snapshots();
        assert!(snaps <= MAX_SNAPSHOTS);
        let mut times = Vec::new();
        for _ in 0..200 {
            let t = rng.range_inclusive(0, r.end());
            let from = r.position();
            let s = Instant::now();
            r.seek(t);
            times.push(s.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(r.position(), t, "from {from}");
        }
        // The worst case by construction: just before a snapshot, from after it.
        for k in 1..20u64 {
            let t = (k * every * 3 - 1).min(r.end());
            r.seek(r.end());
            let s = Instant::now();
            r.seek(t);
            times.push(s.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        let worst = times[times.len() - 1];
        let top: Vec<String> = times
            .iter()
            .rev()
            .take(5)
            .map(|t| format!("{t:.2}"))
            .collect();
        let markers = r.markers().count();
        println!(
            "raft recording: {ticks} ticks recorded in {record_ms:.0} ms ({:.0} ticks/s), {} inputs, \
             {snaps} snapshots every {every} ticks, {markers} markers; seek median {median:.2} ms, \
             worst {worst:.2} ms over {} seeks (slowest: {}); resident memory {:?} → {:?} bytes (+{:?})",
            ticks as f64 / record_ms * 1000.0,
            r.inputs().len(),
            times.len(),
            top.join(", "),
            before,
            after,
            before.zip(after).map(|(b, a)| a.saturating_sub(b))
        );
    }
}
