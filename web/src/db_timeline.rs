//! The database view's timeline: a bounded recording of every payload the view's reducer
//! received, and replay of it ([`DbTimeline`]).
//!
//! The database view's screen is a fold ([`DbViewState::apply`]) over what the engine
//! reported: batches of [`DbEvent`]s with a
//! [`Snapshot`], the crash and the reopening, recovery's steps
//! as the animation reveals them, and what the form did. The database itself runs on
//! IndexedDB, whose bytes are durable: its past cannot be rewritten from the page. So time
//! travel here is replay of the view's own trace, read-only: [`DbRecording`] keeps every
//! payload (each [`DbAction`] but the form's drafts) with a sequence number and the
//! engine's virtual time, and showing position `p` is folding the payloads before `p`.
//!
//! # Positions, checkpoints, bounds
//! * Position `p` is the state after the payloads `seq < p`; the live end is
//!   [`DbRecording::end`] (the next sequence number).
//! * Every [`Limits::checkpoint_every`] payloads the recording keeps a clone of the folded
//!   state (drafts cleared: the form's inputs are not part of the trace). Showing `p`
//!   restores the checkpoint at or before `p` and folds the payloads up to `p`, so a seek
//!   folds at most `checkpoint_every` payloads.
//! * The recording keeps the newest [`MAX_PAYLOADS`] payloads and, as far as whole
//!   checkpoint intervals allow, an estimated [`MAX_RECORDING_BYTES`] (payloads plus
//!   checkpoints; an engine snapshot under load carries the tree's page list, so bytes,
//!   not the count, bind first under a heavy workload). It trims whole checkpoint
//!   intervals from the front, so its first position is always a checkpoint:
//!   [`DbRecording::start`].
//! * Invariant: folding the payloads from the beginning up to `p` equals
//!   [`DbRecording::state_at`]`(p)` for every retained `p` (tested below, trimmed or not).
//!
//! # The cursor
//! [`DbTimeline`] adds where the view is looking: live (the engine's present), or a past
//! position with its folded state. In the past the engine keeps running and recording;
//! the view shows the past state and refuses to act on the engine. Play folds forward at
//! the engine's own pace times the chosen speed (skipping idle stretches) until live.
//!
//! The recording lives in the page's memory: a reload (which is a real crash of the
//! database) starts a new one.

use std::collections::VecDeque;
use std::mem::size_of;
use std::rc::Rc;

use logspine_core::btree::inspect::{PageSummary, TreeShape};
use logspine_core::btree::FrameInfo;
use logspine_core::db::DbEvent;

use crate::db_state::{
    DbAction, DbOpenReason, DbViewState, FormTxn, KeysView, Snapshot, SyncBatch, WalEntry,
};
use crate::decimal::fixed;
use crate::transport::TransportMarker;

/// Payloads the recording keeps at most.
pub const MAX_PAYLOADS: usize = 20_000;
/// Estimated bytes the recording keeps (payloads and checkpoints), trimmed a checkpoint
/// interval at a time.
pub const MAX_RECORDING_BYTES: u64 = 64 * 1024 * 1024;
/// A checkpoint (a clone of the folded state) every this many payloads.
pub const CHECKPOINT_EVERY: u64 = 100;
/// Play's timer step, in real milliseconds.
pub const PLAY_TICK_MS: u32 = 50;
/// Play jumps over a stretch of engine time longer than this with nothing recorded.
pub const IDLE_SKIP_MS: u64 = 1000;
/// The speeds offered: multiples of the engine's own pace.
pub const SPEEDS: [(u32, &str); 4] = [(1, "1×"), (4, "4×"), (16, "16×"), (64, "64×")];

/// The recording's bounds (the page uses [`Limits::default`]; tests use small ones).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Payloads kept at most.
    pub max_payloads: usize,
    /// Estimated bytes kept (trimmed a checkpoint interval at a time).
    pub max_bytes: u64,
    /// Payloads between two checkpoints.
    pub checkpoint_every: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_payloads: MAX_PAYLOADS,
            max_bytes: MAX_RECORDING_BYTES,
            checkpoint_every: CHECKPOINT_EVERY,
        }
    }
}

/// One recorded payload.
#[derive(Clone, Debug, PartialEq)]
pub struct Payload {
    /// Its sequence number (position `seq + 1` shows it folded).
    pub seq: u64,
    /// The engine's virtual time (ms since the page loaded).
    pub at_ms: u64,
    /// What the reducer received.
    pub action: DbAction,
    /// Whether stepping stops at it: anything but a snapshot with no events.
    pub eventful: bool,
    /// Its estimated heap and inline bytes (shared snapshots counted once).
    pub bytes: u64,
}

/// A moment worth marking: a crash, a finished recovery, a checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Marker {
    /// The position that shows it (its payload's `seq + 1`).
    pub at: u64,
    /// `crash`, `recovery` or `checkpoint` (the transport's marker kinds).
    pub kind: &'static str,
}

/// The view's recorded trace and checkpoints. See the module docs.
#[derive(Clone, Debug)]
pub struct DbRecording {
    limits: Limits,
    live: DbViewState,
    payloads: VecDeque<Payload>,
    /// `(position, state there)`, oldest first; the first is at [`DbRecording::start`].
    checkpoints: VecDeque<(u64, DbViewState)>,
    markers: VecDeque<Marker>,
    next: u64,
    bytes: u64,
    trimmed: bool,
    last_shape: Option<Rc<TreeShape>>,
    last_keys: Option<Rc<KeysView>>,
}

impl Default for DbRecording {
    fn default() -> Self {
        DbRecording::new(Limits::default())
    }
}

impl DbRecording {
    /// An empty recording with these bounds. `checkpoint_every` must be at least 1 and at
    /// most half of `max_payloads` (so that trimming can always drop an interval).
    pub fn new(limits: Limits) -> DbRecording {
        assert!(
            limits.checkpoint_every >= 1
                && limits.checkpoint_every.saturating_mul(2) <= limits.max_payloads as u64,
            "bad recording limits {limits:?}"
        );
        let first = DbViewState::default();
        let bytes = state_bytes(&first);
        DbRecording {
            limits,
            live: DbViewState::default(),
            payloads: VecDeque::new(),
            checkpoints: VecDeque::from([(0, first)]),
            markers: VecDeque::new(),
            next: 0,
            bytes,
            trimmed: false,
            last_shape: None,
            last_keys: None,
        }
    }

    /// The live state: every action folded, drafts included.
    pub fn live(&self) -> &DbViewState {
        &self.live
    }

    /// The first retained position.
    pub fn start(&self) -> u64 {
        self.checkpoints.front().map_or(self.next, |c| c.0)
    }

    /// The live end: payloads recorded since the page loaded.
    pub fn end(&self) -> u64 {
        self.next
    }

    /// Retained payloads.
    pub fn len(&self) -> usize {
        self.payloads.len()
    }

    /// Whether nothing is retained.
    pub fn is_empty(&self) -> bool {
        self.payloads.is_empty()
    }

    /// Estimated bytes held (payloads and checkpoints).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Checkpoints held.
    pub fn checkpoints(&self) -> usize {
        self.checkpoints.len()
    }

    /// Whether older payloads were dropped to stay within the bounds.
    pub fn trimmed(&self) -> bool {
        self.trimmed
    }

    /// The bounds.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The markers, oldest first.
    pub fn markers(&self) -> impl DoubleEndedIterator<Item = &Marker> {
        self.markers.iter()
    }

    /// The retained payload `seq`, if any.
    pub fn payload(&self, seq: u64) -> Option<&Payload> {
        let first = self.payloads.front()?.seq;
        self.payloads.get(index(seq.checked_sub(first)?))
    }

    /// The engine time position `p` shows: that of its last folded payload (or of the
    /// first retained one at the start).
    pub fn time_at(&self, p: u64) -> u64 {
        p.checked_sub(1)
            .and_then(|s| self.payload(s))
            .or_else(|| self.payloads.front())
            .map_or(0, |x| x.at_ms)
    }

    /// Folds `action` into the live state and, unless it is a draft of the form, records it
    /// at `now_ms` (engine payloads carry their own time). Then trims to the bounds.
    pub fn record(&mut self, action: DbAction, now_ms: u64) {
        if is_draft(&action) {
            self.live.apply(action);
            return;
        }
        let seq = self.next;
        let at_ms = match &action {
            DbAction::Engine { snapshot, .. } | DbAction::Opened { snapshot, .. } => {
                snapshot.now_ms
            }
            _ => now_ms,
        };
        let eventful = !matches!(&action, DbAction::Engine { events, .. } if events.is_empty());
        let crash = matches!(action, DbAction::Opening(DbOpenReason::Crash));
        let checkpoint = action_events(&action)
            .iter()
            .any(|e| matches!(e, DbEvent::CheckpointDone { .. }));
        let bytes = self.payload_bytes(&action);
        let was_finished = self.live.recovery.as_ref().is_some_and(|r| r.finished);
        self.live.apply(action.clone());
        let finished = self.live.recovery.as_ref().is_some_and(|r| r.finished);
        for (hit, kind) in [
            (crash, "crash"),
            (finished && !was_finished, "recovery"),
            (checkpoint, "checkpoint"),
        ] {
            if hit {
                self.markers.push_back(Marker { at: seq + 1, kind });
            }
        }
        self.payloads.push_back(Payload {
            seq,
            at_ms,
            action,
            eventful,
            bytes,
        });
        self.bytes += bytes;
        self.next += 1;
        if self.next.is_multiple_of(self.limits.checkpoint_every) {
            let state = without_drafts(&self.live);
            self.bytes += state_bytes(&state);
            self.checkpoints.push_back((self.next, state));
        }
        self.trim();
    }

    /// Bytes of a new payload; a shape or key list is counted by the first payload that
    /// carries it (the engine hands the same `Rc` out until it changes).
    fn payload_bytes(&mut self, action: &DbAction) -> u64 {
        let mut bytes = size_of::<Payload>() as u64 + action_bytes(action);
        if let DbAction::Engine { snapshot, .. } | DbAction::Opened { snapshot, .. } = action {
            if !self
                .last_shape
                .as_ref()
                .is_some_and(|s| Rc::ptr_eq(s, &snapshot.shape))
            {
                bytes += shape_bytes(&snapshot.shape);
                self.last_shape = Some(snapshot.shape.clone());
            }
            if !self
                .last_keys
                .as_ref()
                .is_some_and(|k| Rc::ptr_eq(k, &snapshot.keys))
            {
                bytes += keys_bytes(&snapshot.keys);
                self.last_keys = Some(snapshot.keys.clone());
            }
        }
        bytes
    }

    /// Drops whole checkpoint intervals from the front while over a bound.
    fn trim(&mut self) {
        while (self.payloads.len() > self.limits.max_payloads || self.bytes > self.limits.max_bytes)
            && self.checkpoints.len() >= 2
        {
            if let Some((_, old)) = self.checkpoints.pop_front() {
                self.bytes = self.bytes.saturating_sub(state_bytes(&old));
            }
            let start = self.start();
            while self.payloads.front().is_some_and(|p| p.seq < start) {
                if let Some(p) = self.payloads.pop_front() {
                    self.bytes = self.bytes.saturating_sub(p.bytes);
                }
            }
            while self.markers.front().is_some_and(|m| m.at <= start) {
                self.markers.pop_front();
            }
            self.trimmed = true;
        }
    }

    /// The folded state at position `p` (clamped to the retained span): the checkpoint at
    /// or before it, then the payloads up to it. Drafts are empty.
    pub fn state_at(&self, p: u64) -> DbViewState {
        let p = p.clamp(self.start(), self.end());
        let i = self
            .checkpoints
            .partition_point(|(at, _)| *at <= p)
            .saturating_sub(1);
        let (at, base) = &self.checkpoints[i];
        let mut state = base.clone();
        self.fold(&mut state, *at, p);
        state
    }

    /// Folds the payloads `from..to` into `state` (a state at position `from`).
    pub fn fold(&self, state: &mut DbViewState, from: u64, to: u64) {
        let Some(first) = self.payloads.front().map(|p| p.seq) else {
            return;
        };
        let from = index(from.saturating_sub(first));
        let to = index(to.saturating_sub(first)).min(self.payloads.len());
        for p in self.payloads.range(from.min(to)..to) {
            state.apply(p.action.clone());
        }
    }

    /// The position after the next eventful payload at or after position `p`, if any.
    pub fn next_eventful(&self, p: u64) -> Option<u64> {
        let first = self.payloads.front()?.seq;
        let from = index(p.max(first) - first);
        self.payloads
            .range(from.min(self.payloads.len())..)
            .find(|x| x.eventful)
            .map(|x| x.seq + 1)
    }

    /// The last position before `p` that shows an eventful payload folded (or the start).
    pub fn prev_eventful(&self, p: u64) -> u64 {
        let start = self.start();
        let Some(first) = self.payloads.front().map(|x| x.seq) else {
            return start;
        };
        // Payloads seq <= p - 2, i.e. positions seq + 1 < p.
        let to = index(p.saturating_sub(1).saturating_sub(first)).min(self.payloads.len());
        self.payloads
            .range(..to)
            .rev()
            .find(|x| x.eventful)
            .map_or(start, |x| x.seq + 1)
            .max(start)
    }
}

/// The form's drafts are the page's own, not the engine's trace.
fn is_draft(action: &DbAction) -> bool {
    matches!(
        action,
        DbAction::EditKey(_)
            | DbAction::EditValue(_)
            | DbAction::EditClients(_)
            | DbAction::EditRate(_)
    )
}

/// `state` with the drafts at their defaults (checkpoints hold the trace's fold only).
pub fn without_drafts(state: &DbViewState) -> DbViewState {
    let d = DbViewState::default();
    DbViewState {
        key_draft: d.key_draft,
        value_draft: d.value_draft,
        clients_draft: d.clients_draft,
        rate_draft: d.rate_draft,
        ..state.clone()
    }
}

fn action_events(action: &DbAction) -> &[DbEvent] {
    match action {
        DbAction::Engine { events, .. } | DbAction::Opened { events, .. } => events,
        _ => &[],
    }
}

fn index(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn n(len: usize) -> u64 {
    len as u64
}

fn string_bytes(s: &str) -> u64 {
    n(s.len())
}

fn event_bytes(e: &DbEvent) -> u64 {
    let heap = match e {
        DbEvent::Appended { pages, .. } => n(pages.len() * 8),
        _ => 0,
    };
    n(size_of::<DbEvent>()) + heap
}

fn snapshot_bytes(s: &Snapshot) -> u64 {
    n(s.frames.len() * size_of::<FrameInfo>())
}

fn action_bytes(action: &DbAction) -> u64 {
    match action {
        DbAction::Engine { events, snapshot } => {
            events.iter().map(event_bytes).sum::<u64>() + snapshot_bytes(snapshot)
        }
        DbAction::Opened {
            crash,
            report,
            losers,
            events,
            snapshot,
            ..
        } => {
            crash.as_deref().map_or(0, string_bytes)
                + string_bytes(report)
                + n(losers.len() * 8)
                + events.iter().map(event_bytes).sum::<u64>()
                + snapshot_bytes(snapshot)
        }
        DbAction::FormWrote { op, .. } => string_bytes(op),
        DbAction::Looked { key, value } => {
            string_bytes(key) + value.as_deref().map_or(0, string_bytes)
        }
        DbAction::Failed { message, .. } | DbAction::OpenFailed(message) => string_bytes(message),
        _ => 0,
    }
}

fn shape_bytes(s: &TreeShape) -> u64 {
    n(size_of::<TreeShape>())
        + s.pages
            .iter()
            .map(|p| {
                n(size_of::<PageSummary>())
                    + p.first_key.as_ref().map_or(0, |k| n(k.len()))
                    + p.last_key.as_ref().map_or(0, |k| n(k.len()))
                    + n(p.children.len() * 8)
            })
            .sum::<u64>()
}

fn keys_bytes(k: &KeysView) -> u64 {
    n(size_of::<KeysView>())
        + k.entries
            .iter()
            .map(|(a, b)| n(2 * size_of::<String>()) + string_bytes(a) + string_bytes(b))
            .sum::<u64>()
}

/// A checkpoint's own bytes (what it shares by `Rc` with the payloads is not counted).
fn state_bytes(s: &DbViewState) -> u64 {
    let c = &s.charts;
    let samples = [
        &c.write,
        &c.wal_write,
        &c.index_write,
        &c.read_pages,
        &c.disk_reads,
        &c.space,
        &c.commits_per_sync,
        &c.latency_ms,
        &c.commits_per_sec,
    ]
    .iter()
    .map(|x| n(x.values().len() * 8))
    .sum::<u64>();
    let recovery = s.recovery.as_ref().map_or(0, |r| {
        r.crash.as_deref().map_or(0, string_bytes)
            + string_bytes(&r.report)
            + n((r.losers.len() + r.torn.len() + 2 * r.rolled_back.len()) * 8)
            + n(r.tally.len() * 48)
    });
    n(size_of::<DbViewState>())
        + samples
        + recovery
        + n(s.pending.len() * size_of::<WalEntry>())
        + s.batches
            .iter()
            .map(|b| n(size_of::<SyncBatch>() + b.records.len() * size_of::<WalEntry>()))
            .sum::<u64>()
        + s.txns
            .iter()
            .map(|t| {
                n(size_of::<FormTxn>()) + t.ops.iter().map(|o| 24 + string_bytes(o)).sum::<u64>()
            })
            .sum::<u64>()
        + n(s.checkpoint.flushed.len() * 8)
        + s.snapshot.as_ref().map_or(0, snapshot_bytes)
        + s.deferred.0.iter().map(event_bytes).sum::<u64>()
        + s.deferred.1.as_ref().map_or(0, snapshot_bytes)
}

/// Where the view is looking, and how it moves. See the module docs.
#[derive(Clone, Debug)]
pub struct DbTimeline {
    recording: DbRecording,
    past: Option<Past>,
    playing: bool,
    speed: u32,
}

/// A past position and its folded state.
#[derive(Clone, Debug)]
struct Past {
    position: u64,
    state: DbViewState,
    /// Play's clock: the engine time it has replayed up to.
    clock_ms: u64,
}

impl Default for DbTimeline {
    fn default() -> Self {
        DbTimeline::new(Limits::default())
    }
}

/// What the timeline's controls ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimelineControl {
    /// Show this position (live at or past the end).
    Seek(u64),
    /// Back to the previous eventful payload.
    StepBack,
    /// On to the next eventful payload.
    StepForward,
    /// Play or pause (play from live starts at the recording's start).
    PlayPause,
    /// Play's timer fired after this many real milliseconds.
    PlayTick(u32),
    /// A speed from [`SPEEDS`].
    Speed(u32),
    /// Back to the live end.
    Live,
}

impl DbTimeline {
    /// Live, with an empty recording with these bounds.
    pub fn new(limits: Limits) -> DbTimeline {
        DbTimeline {
            recording: DbRecording::new(limits),
            past: None,
            playing: false,
            speed: 1,
        }
    }

    /// The recording.
    pub fn recording(&self) -> &DbRecording {
        &self.recording
    }

    /// The live state.
    pub fn live(&self) -> &DbViewState {
        self.recording.live()
    }

    /// The past state shown, if the position is in the past.
    pub fn past(&self) -> Option<&DbViewState> {
        self.past.as_ref().map(|p| &p.state)
    }

    /// What the view draws: the past state, or the live one.
    pub fn shown(&self) -> &DbViewState {
        self.past().unwrap_or(self.recording.live())
    }

    /// The position shown (the end when live).
    pub fn position(&self) -> u64 {
        self.past
            .as_ref()
            .map_or(self.recording.end(), |p| p.position)
    }

    /// Whether the position is in the past.
    pub fn is_past(&self) -> bool {
        self.past.is_some()
    }

    /// Play's clock (the engine time replayed up to), in the past.
    pub fn clock_ms(&self) -> Option<u64> {
        self.past.as_ref().map(|p| p.clock_ms)
    }

    /// Whether play is on.
    pub fn playing(&self) -> bool {
        self.playing
    }

    /// The chosen speed.
    pub fn speed(&self) -> u32 {
        self.speed
    }

    /// Records a reducer payload (see [`DbRecording::record`]); a past position stays where
    /// it is unless trimming dropped it, and then moves to the new start.
    pub fn record(&mut self, action: DbAction, now_ms: u64) {
        self.recording.record(action, now_ms);
        let start = self.recording.start();
        if self.past.as_ref().is_some_and(|p| p.position < start) {
            self.seek(start);
        }
    }

    /// Answers one of the transport's controls.
    pub fn control(&mut self, c: TimelineControl) {
        match c {
            TimelineControl::Seek(p) => {
                self.playing = false;
                self.seek(p);
            }
            TimelineControl::StepBack => {
                self.playing = false;
                let p = self.recording.prev_eventful(self.position());
                self.seek(p);
            }
            TimelineControl::StepForward => {
                self.playing = false;
                if self.is_past() {
                    let p = self
                        .recording
                        .next_eventful(self.position())
                        .unwrap_or(self.recording.end());
                    self.seek(p);
                }
            }
            TimelineControl::PlayPause => {
                if self.playing {
                    self.playing = false;
                } else {
                    if !self.is_past() {
                        self.seek(self.recording.start());
                    }
                    self.playing = self.is_past();
                }
            }
            TimelineControl::PlayTick(real_ms) => self.play_tick(real_ms),
            TimelineControl::Speed(s) => {
                if SPEEDS.iter().any(|(v, _)| *v == s) {
                    self.speed = s;
                }
            }
            TimelineControl::Live => {
                self.playing = false;
                self.past = None;
            }
        }
    }

    /// Shows position `p`: live at or past the end; forward from the shown past state when
    /// that is closer than a checkpoint, else from the checkpoint at or before `p`.
    fn seek(&mut self, p: u64) {
        let (start, end) = (self.recording.start(), self.recording.end());
        if p >= end {
            self.past = None;
            self.playing = false;
            return;
        }
        let p = p.max(start);
        let clock_ms = self.recording.time_at(p);
        let every = self.recording.limits().checkpoint_every;
        match &mut self.past {
            // Onwards from the shown state, if it is still in the recording and near.
            Some(past)
                if past.position >= start && past.position <= p && p - past.position <= every =>
            {
                self.recording.fold(&mut past.state, past.position, p);
                past.position = p;
                past.clock_ms = clock_ms;
            }
            _ => {
                self.past = Some(Past {
                    position: p,
                    state: self.recording.state_at(p),
                    clock_ms,
                });
            }
        }
    }

    /// Play: the clock moves `real_ms × speed` of engine time, and every payload up to it
    /// is folded; a longer idle stretch than [`IDLE_SKIP_MS`] is skipped.
    fn play_tick(&mut self, real_ms: u32) {
        let Some(past) = &self.past else {
            self.playing = false;
            return;
        };
        if !self.playing {
            return;
        }
        let mut clock = past
            .clock_ms
            .saturating_add(u64::from(real_ms) * u64::from(self.speed));
        let mut to = past.position;
        if let Some(next) = self.recording.payload(to) {
            if next.at_ms > clock.saturating_add(IDLE_SKIP_MS) {
                clock = next.at_ms;
            }
        }
        while self.recording.payload(to).is_some_and(|x| x.at_ms <= clock) {
            to += 1;
        }
        self.seek(to);
        if let Some(past) = &mut self.past {
            past.clock_ms = clock.max(past.clock_ms);
        }
    }

    /// The transport's status line.
    pub fn status(&self) -> String {
        let r = &self.recording;
        let secs = |ms: u64| format!("{} s", fixed(ms as f64 / 1000.0, 1));
        let mut out = match &self.past {
            None => format!(
                "Live: {} payloads recorded, {} kept ({} MiB estimated), in this tab's memory only: \
                 a reload (a real crash) starts a new recording.",
                r.end(),
                r.len(),
                fixed(r.bytes() as f64 / (1024.0 * 1024.0), 1)
            ),
            Some(p) => {
                let behind = r.time_at(r.end()).saturating_sub(r.time_at(p.position));
                format!(
                    "Replaying: position {} of {}, engine time {}, {} behind live ({} newer payloads recorded meanwhile).{}",
                    p.position,
                    r.end(),
                    secs(r.time_at(p.position)),
                    secs(behind),
                    r.end() - p.position,
                    p.position
                        .checked_sub(1)
                        .and_then(|s| r.payload(s))
                        .map_or(String::new(), |x| format!(" Last: {}.", describe(&x.action)))
                )
            }
        };
        if r.trimmed() {
            out.push_str(&format!(
                " The recording starts at {} (position {}): older payloads were dropped to keep it within {} payloads and about {} MiB.",
                secs(r.time_at(r.start())),
                r.start(),
                r.limits().max_payloads,
                r.limits().max_bytes / (1024 * 1024)
            ));
        }
        out
    }

    /// The scrub slider's `aria-valuetext`.
    pub fn value_text(&self) -> String {
        let r = &self.recording;
        let p = self.position();
        let at = format!("{} s", fixed(r.time_at(p) as f64 / 1000.0, 1));
        if self.is_past() {
            format!("position {p} of {}, engine time {at}", r.end())
        } else {
            format!("live, position {p}, engine time {at}")
        }
    }
}

/// The markers for the transport, most telling first: the transport draws the first
/// [`MAX_MARKERS_DRAWN`](crate::transport::MAX_MARKERS_DRAWN) and counts them all, so every crash and recovery comes before the
/// checkpoints, and the newest checkpoints before the older ones.
pub fn transport_markers(r: &DbRecording) -> Vec<TransportMarker> {
    let rare = r.markers().filter(|m| m.kind != "checkpoint");
    let checkpoints = r.markers().rev().filter(|m| m.kind == "checkpoint");
    rare.chain(checkpoints)
        .map(|m| TransportMarker {
            at: m.at,
            kind: m.kind,
        })
        .collect()
}

/// A payload in a few words.
pub fn describe(action: &DbAction) -> String {
    let plural =
        |k: usize, one: &str, many: &str| format!("{k} {}", if k == 1 { one } else { many });
    match action {
        DbAction::Engine { events, .. } if events.is_empty() => "an engine snapshot".to_owned(),
        DbAction::Engine { events, .. } => plural(events.len(), "engine event", "engine events"),
        DbAction::Opening(DbOpenReason::Crash) => "the crash".to_owned(),
        DbAction::Opening(DbOpenReason::Erase) => "erasing and reopening".to_owned(),
        DbAction::Opening(DbOpenReason::Load) => "opening the database".to_owned(),
        DbAction::Opened { events, .. } => format!(
            "the database opened ({})",
            plural(events.len(), "event", "events")
        ),
        DbAction::OpenFailed(_) => "opening failed".to_owned(),
        DbAction::Reveal => "recovery steps shown".to_owned(),
        DbAction::FormWrote { op, commit, .. } => {
            format!("the form: {op}{}", if *commit { ", commit" } else { "" })
        }
        DbAction::FormCommitted(t) => format!("the form committed txn {t}"),
        DbAction::FormAborted(t) => format!("the form aborted txn {t}"),
        DbAction::Looked { key, .. } => format!("the form looked up {key:?}"),
        DbAction::Failed { .. } => "an error".to_owned(),
        DbAction::DismissError => "the error dismissed".to_owned(),
        DbAction::EditKey(_)
        | DbAction::EditValue(_)
        | DbAction::EditClients(_)
        | DbAction::EditRate(_) => "a draft".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db_engine::{describe_crash, playground_sim_disk, DbEngine};
    use crate::db_state::{DbBackend, DbErrorSource};
    use logspine_core::{Rng, SimDisk};

    /// How a seeded run drives the page: mostly the workload, or mostly the form.
    #[derive(Clone, Copy)]
    enum Mix {
        Form,
        Busy,
    }

    /// The page's loop on a simulated disk that tears, with seeded user actions: the form,
    /// the workload, checkpoints, crashes (and crashes mid-checkpoint), the recovery
    /// animation's reveals, drafts. Every action goes to `record`, as the page's dispatcher
    /// sends it; runs until `payloads` are recorded (or a bounded number of ticks).
    fn drive(
        seed: u64,
        payloads: u64,
        mix: Mix,
        t: &mut DbTimeline,
        log: &mut Vec<(DbAction, u64)>,
    ) {
        let mut rng = Rng::new(seed);
        let mut now = 0u64;
        let mut rec = |a: DbAction, now: u64, t: &mut DbTimeline| {
            log.push((a.clone(), now));
            t.record(a, now);
        };
        rec(DbAction::Opening(DbOpenReason::Load), now, t);
        let open = |disk: SimDisk,
                    crash: Option<String>,
                    animate: bool,
                    now: u64|
         -> (DbEngine<SimDisk>, DbAction) {
            let (mut e, r) = DbEngine::open(disk, seed)
                .unwrap_or_else(|err| panic!("seed {seed}: reopening failed: {err}"));
            let (events, snapshot) = e.take_view(now, true, |_| None).expect("a first view");
            let opened = DbAction::Opened {
                backend: DbBackend::SimDisk,
                crash,
                report: r.describe(),
                losers: r.losers.iter().map(|t| t.0).collect(),
                animate,
                events,
                snapshot,
            };
            (e, opened)
        };
        let (mut e, opened) = open(playground_sim_disk(seed), None, false, now);
        rec(opened, now, t);
        if matches!(mix, Mix::Busy) {
            e.start_workload(16, 200);
        }
        let mut reveal_due = 0;
        for _ in 0..2_000_000u64 {
            if t.recording().end() >= payloads {
                return;
            }
            now += 25;
            // The recovery animation's timer, every 40 ms while steps are hidden.
            let hidden = t
                .live()
                .recovery
                .as_ref()
                .is_some_and(|r| r.shown < r.steps.len());
            if hidden && now >= reveal_due {
                reveal_due = now + 40;
                rec(DbAction::Reveal, now, t);
            }
            let per_mille = |rng: &mut Rng, k: u64| rng.below(1000) < k;
            let busy = matches!(mix, Mix::Busy);
            let mut forced = false;
            let key = format!("k{:03}", rng.below(420));
            if per_mille(&mut rng, 6) {
                rec(DbAction::EditKey(key.clone()), now, t);
            }
            if per_mille(&mut rng, if busy { 4 } else { 40 }) {
                forced = true;
                let value = format!("v{}", rng.below(1000));
                let action = match rng.below(6) {
                    0 | 1 => e
                        .commit_write(&key, Some(&value))
                        .map(|t| DbAction::FormWrote {
                            txn: t.0,
                            op: format!("put {key} = {value}"),
                            commit: true,
                        }),
                    2 => e.open_write(&key, None).map(|t| DbAction::FormWrote {
                        txn: t.0,
                        op: format!("delete {key}"),
                        commit: false,
                    }),
                    3 => e.commit_open().map(|t| DbAction::FormCommitted(t.0)),
                    4 => e.abort_open().map(|t| DbAction::FormAborted(t.0)),
                    _ => e.get(&key).map(|value| DbAction::Looked { key, value }),
                };
                rec(
                    action.unwrap_or_else(|err| DbAction::Failed {
                        source: DbErrorSource::Write,
                        message: err.to_string(),
                    }),
                    now,
                    t,
                );
            }
            if per_mille(&mut rng, 3) {
                forced = true;
                if let Err(err) = e.checkpoint() {
                    rec(
                        DbAction::Failed {
                            source: DbErrorSource::Checkpoint,
                            message: err.to_string(),
                        },
                        now,
                        t,
                    );
                }
            }
            if per_mille(&mut rng, if busy { 1 } else { 4 }) {
                forced = true;
                if e.db().stats().commits % 2 == 0 && !busy {
                    e.stop_workload();
                } else {
                    e.start_workload(
                        u32::try_from(rng.range_inclusive(1, 32)).unwrap_or(1),
                        u32::try_from(rng.range_inclusive(50, 800)).unwrap_or(50),
                    );
                }
            }
            if per_mille(&mut rng, if busy { 1 } else { 3 })
                && rng.below(if busy { 4 } else { 2 }) == 0
            {
                // The crash: the page dispatches Opening first, then reopens what survived.
                let mid_checkpoint = rng.below(2) == 0;
                if mid_checkpoint {
                    e.stop_workload();
                    let _ = e.checkpoint_writes_in_flight(now);
                }
                rec(DbAction::Opening(DbOpenReason::Crash), now, t);
                let page_size = e.db().tree().map_or(4096, |t| t.page_size());
                let mut disk = e.into_storage();
                let report = disk.crash();
                now += 5;
                let (next, opened) = open(
                    disk,
                    Some(describe_crash(&report, page_size)),
                    rng.below(3) != 0,
                    now,
                );
                e = next;
                rec(opened, now, t);
                if busy {
                    e.start_workload(16, 200);
                }
                continue;
            }
            e.advance_disk(now);
            if let Err(err) = e.tick(now) {
                if e.stopped().is_some() {
                    panic!("seed {seed}: the engine stopped: {err}");
                }
            }
            if let Some((events, snapshot)) = e.take_view(now, forced, |_| None) {
                rec(DbAction::Engine { events, snapshot }, now, t);
            }
        }
        panic!("seed {seed}: {payloads} payloads not recorded in 2,000,000 ticks");
    }

    /// A recording of `payloads` and every action that went into it, in order.
    fn recorded(
        seed: u64,
        payloads: u64,
        mix: Mix,
        limits: Limits,
    ) -> (DbTimeline, Vec<(DbAction, u64)>) {
        let mut t = DbTimeline::new(limits);
        let mut all = Vec::new();
        drive(seed, payloads, mix, &mut t, &mut all);
        (t, all)
    }

    fn replay_hint(test: &str, seed: u64) -> String {
        format!(
            "seed {seed}; replay: cargo test -p logspine-web --lib {test} (the seeds are fixed)"
        )
    }

    /// Folding the payloads 0..p directly equals checkpoint + replay for every p, with
    /// and without trimming; the live state is the fold of everything (drafts aside).
    #[test]
    fn db_timeline_checkpoint_and_replay_equal_the_direct_fold_for_every_position() {
        for (seed, limits) in [
            (
                1,
                Limits {
                    max_payloads: 100_000,
                    max_bytes: u64::MAX,
                    checkpoint_every: 16,
                },
            ),
            (
                2,
                Limits {
                    max_payloads: 400,
                    max_bytes: u64::MAX,
                    checkpoint_every: 32,
                },
            ),
            (
                3,
                Limits {
                    max_payloads: 100_000,
                    max_bytes: 600_000,
                    checkpoint_every: 20,
                },
            ),
        ] {
            let hint = replay_hint("db_timeline_checkpoint", seed);
            let (t, all) = recorded(seed, 2_500, Mix::Form, limits);
            let r = t.recording();
            let trimmed = limits.max_payloads < 100_000 || limits.max_bytes < u64::MAX;
            assert_eq!(r.trimmed(), trimmed, "{hint}");
            if trimmed {
                assert!(r.start() > 0, "{hint}");
                assert!(r.len() <= limits.max_payloads, "{hint}");
                assert!(
                    r.bytes() <= limits.max_bytes || r.checkpoints() == 1,
                    "{hint}: {} bytes",
                    r.bytes()
                );
            }
            assert_eq!(
                r.start() % limits.checkpoint_every,
                0,
                "{hint}: the start is a checkpoint"
            );
            let mut direct = DbViewState::default();
            let mut p = 0;
            let mut drafts = 0;
            let mut kinds = std::collections::BTreeSet::new();
            for (a, _) in all {
                if is_draft(&a) {
                    drafts += 1;
                    continue;
                }
                if p >= r.start() {
                    assert_eq!(r.state_at(p), direct, "{hint}: position {p}");
                }
                kinds.insert(describe(&a).split(' ').next().unwrap_or("").to_owned());
                direct.apply(a);
                p += 1;
            }
            assert_eq!(p, r.end(), "{hint}");
            assert_eq!(r.state_at(p), direct, "{hint}: the end");
            assert_eq!(without_drafts(r.live()), direct, "{hint}: live");
            assert!(drafts > 0, "{hint}: drafts were typed, and not recorded");
            // The run covers what the page does (the trimmed runs keep only their end).
            if !trimmed {
                assert!(r.markers().any(|m| m.kind == "crash"), "{hint}");
                assert!(r.markers().any(|m| m.kind == "checkpoint"), "{hint}");
                assert!(kinds.len() >= 8, "{hint}: {kinds:?}");
            }
        }
    }

    /// Each marker sits where its payload is shown folded, and every such payload has one.
    #[test]
    fn db_timeline_markers_are_at_the_right_positions() {
        let seed = 4;
        let hint = replay_hint("db_timeline_markers", seed);
        let limits = Limits {
            max_payloads: 100_000,
            max_bytes: u64::MAX,
            checkpoint_every: 50,
        };
        let (t, _) = recorded(seed, 3_000, Mix::Form, limits);
        let r = t.recording();
        let mut expected = Vec::new();
        let mut finished = false;
        for seq in r.start()..r.end() {
            let x = r.payload(seq).expect("untrimmed");
            if matches!(x.action, DbAction::Opening(DbOpenReason::Crash)) {
                expected.push(Marker {
                    at: seq + 1,
                    kind: "crash",
                });
            }
            let after = r
                .state_at(seq + 1)
                .recovery
                .as_ref()
                .is_some_and(|r| r.finished);
            if after && !finished {
                expected.push(Marker {
                    at: seq + 1,
                    kind: "recovery",
                });
            }
            finished = after;
            if action_events(&x.action)
                .iter()
                .any(|e| matches!(e, DbEvent::CheckpointDone { .. }))
            {
                expected.push(Marker {
                    at: seq + 1,
                    kind: "checkpoint",
                });
            }
        }
        let got: Vec<Marker> = r.markers().copied().collect();
        assert_eq!(got, expected, "{hint}");
        for kind in ["crash", "recovery", "checkpoint"] {
            assert!(got.iter().any(|m| m.kind == kind), "{hint}: no {kind}");
        }
        // For the transport: all of them, crashes and recoveries first, newest checkpoints next.
        let drawn = transport_markers(r);
        assert_eq!(drawn.len(), got.len(), "{hint}");
        let rare = got.iter().filter(|m| m.kind != "checkpoint").count();
        assert!(
            drawn[..rare].iter().all(|m| m.kind != "checkpoint"),
            "{hint}"
        );
        assert!(
            drawn[rare..].windows(2).all(|w| w[0].at > w[1].at),
            "{hint}"
        );
        // The state just before a crash marker is the open database; at it, the crash.
        let crash = got.iter().find(|m| m.kind == "crash").unwrap();
        assert!(r.state_at(crash.at - 1).snapshot.is_some(), "{hint}");
        assert_eq!(
            r.state_at(crash.at).phase,
            crate::db_state::DbPhase::Opening,
            "{hint}"
        );
    }

    /// The cursor: steps stop at eventful payloads, a seek forward folds on from the shown
    /// state, the past stays put while the engine records, play reaches live, trimming
    /// moves a dropped position to the new start.
    #[test]
    fn db_timeline_the_cursor_steps_plays_and_stays_in_the_past() {
        let seed = 5;
        let hint = replay_hint("db_timeline_the_cursor", seed);
        let limits = Limits {
            max_payloads: 1_000,
            max_bytes: u64::MAX,
            checkpoint_every: 25,
        };
        let (mut t, _) = recorded(seed, 800, Mix::Form, limits);
        let end = t.recording().end();
        assert!(!t.is_past() && t.position() == end);
        t.control(TimelineControl::StepForward);
        assert!(!t.is_past(), "{hint}: nothing after live");
        // Step back to the start, each stop showing an eventful payload.
        let mut stops = 0;
        let mut last = t.position();
        while t.position() > t.recording().start() {
            t.control(TimelineControl::StepBack);
            let p = t.position();
            assert!(p < last, "{hint}");
            assert_eq!(
                t.shown(),
                &t.recording().state_at(p),
                "{hint}: position {p}"
            );
            if p > t.recording().start() {
                assert!(
                    t.recording().payload(p - 1).unwrap().eventful,
                    "{hint}: {p}"
                );
            }
            // Nothing eventful was skipped.
            assert!(
                (p..last.saturating_sub(1)).all(|s| !t.recording().payload(s).unwrap().eventful),
                "{hint}: {p}..{last}"
            );
            last = p;
            stops += 1;
        }
        assert!(stops > 10, "{hint}");
        // Forward again.
        t.control(TimelineControl::StepForward);
        let p = t.position();
        assert_eq!(t.recording().next_eventful(0), Some(p), "{hint}");
        for q in [p + 3, p + 40, p + 41, 700, 650, 651] {
            t.control(TimelineControl::Seek(q));
            assert_eq!(t.position(), q, "{hint}");
            assert_eq!(t.shown(), &t.recording().state_at(q), "{hint}: seek {q}");
        }
        // The engine keeps recording: the position stays, the live end moves.
        let shown = t.shown().clone();
        let mut live = t.live().clone();
        for i in 0..200 {
            let a = DbAction::Failed {
                source: DbErrorSource::Engine,
                message: format!("e{i}"),
            };
            live.apply(a.clone());
            t.record(a, 10_000_000 + i);
        }
        assert_eq!((t.position(), t.shown()), (651, &shown), "{hint}");
        assert_eq!(t.live(), &live, "{hint}");
        // Trimming beyond the position moves it to the new start.
        for i in 0..1_000 {
            t.record(DbAction::DismissError, 20_000_000 + i);
        }
        assert!(t.recording().start() > 651, "{hint}");
        assert_eq!(
            t.position(),
            t.recording().start(),
            "{hint}: start {} end {}",
            t.recording().start(),
            t.recording().end()
        );
        assert_eq!(t.shown(), &t.recording().state_at(t.position()), "{hint}");
        // Play at 64x reaches live, each tick folding what its clock passed.
        t.control(TimelineControl::Speed(64));
        t.control(TimelineControl::Speed(3));
        assert_eq!(t.speed(), 64, "{hint}: only offered speeds");
        t.control(TimelineControl::PlayPause);
        assert!(t.playing());
        let mut ticks = 0;
        while t.is_past() {
            let before = t.position();
            t.control(TimelineControl::PlayTick(PLAY_TICK_MS));
            assert!(t.position() >= before, "{hint}");
            if t.is_past() {
                assert_eq!(t.shown(), &t.recording().state_at(t.position()), "{hint}");
            }
            ticks += 1;
            assert!(ticks < 100_000, "{hint}: play never reached live");
        }
        assert!(!t.playing() && !t.is_past(), "{hint}");
        // Play from live replays from the start; pause stops; live returns.
        t.control(TimelineControl::PlayPause);
        assert!(
            t.playing() && t.position() == t.recording().start(),
            "{hint}"
        );
        t.control(TimelineControl::PlayPause);
        assert!(!t.playing() && t.is_past(), "{hint}");
        t.control(TimelineControl::Live);
        assert!(!t.is_past() && t.shown() == t.live(), "{hint}");
        assert!(t.status().starts_with("Live:"), "{}", t.status());
        assert!(
            t.status().contains("The recording starts at"),
            "{}",
            t.status()
        );
    }

    /// The figures of the brief: a recording of 20,000 payloads from the page's loop with
    /// the workload running; every position sought from the checkpoints (not from the
    /// shown state). Run in release:
    /// `cargo test --release -p logspine-web --lib db_timeline_seek_figures -- --ignored --nocapture`
    #[test]
    #[ignore = "a measurement: run in release (see the doc comment)"]
    fn db_timeline_seek_figures() {
        let seed = 7;
        let build = std::time::Instant::now();
        let limits = Limits {
            max_bytes: u64::MAX,
            ..Limits::default()
        };
        let (t, _) = recorded(seed, MAX_PAYLOADS as u64, Mix::Busy, limits);
        let r = t.recording();
        println!(
            "recorded {} payloads ({} kept, {} checkpoints) in {:.1} s of engine time, built in {:.1} s; \
             estimated {:.1} MiB ({:.0} bytes a payload); {} markers",
            r.end(),
            r.len(),
            r.checkpoints(),
            r.time_at(r.end()) as f64 / 1000.0,
            build.elapsed().as_secs_f64(),
            r.bytes() as f64 / (1024.0 * 1024.0),
            r.bytes() as f64 / r.len().max(1) as f64,
            r.markers().count()
        );
        // Each position sought three times: the best of three is the seek's cost (the
        // machine is shared; a preemption is not the seek's), the first is reported too.
        let mut best: Vec<(f64, u64)> = Vec::new();
        let mut first: Vec<f64> = Vec::new();
        for p in r.start()..=r.end() {
            let mut runs = [0.0f64; 3];
            for run in &mut runs {
                let at = std::time::Instant::now();
                let s = r.state_at(p);
                *run = at.elapsed().as_secs_f64() * 1000.0;
                std::hint::black_box(s);
            }
            first.push(runs[0]);
            best.push((runs.iter().copied().fold(f64::MAX, f64::min), p));
        }
        best.sort_by(|a, b| a.0.total_cmp(&b.0));
        first.sort_by(f64::total_cmp);
        let worst = best[best.len() - 1].0;
        println!(
            "seek over {} positions (best of 3): median {:.3} ms, p99 {:.3} ms, worst {:.3} ms; \
             single runs: median {:.3} ms, p99 {:.3} ms, worst {:.3} ms",
            best.len(),
            best[best.len() / 2].0,
            best[best.len() * 99 / 100].0,
            worst,
            first[first.len() / 2],
            first[first.len() * 99 / 100],
            first[first.len() - 1]
        );
        for (ms, p) in best.iter().rev().take(5) {
            let cp = p - p % r.limits().checkpoint_every;
            let heavy = (cp.max(r.start())..*p)
                .filter_map(|s| r.payload(s))
                .max_by_key(|x| x.bytes)
                .map_or(String::new(), |x| {
                    format!("{} ({} bytes)", describe(&x.action), x.bytes)
                });
            println!(
                "  {ms:.3} ms at position {p} (folds {} payloads; the heaviest: {heavy})",
                p - cp.max(r.start())
            );
        }
        // With the page's byte budget, how much of it would be kept.
        let mut bounded = DbRecording::default();
        for seq in r.start()..r.end() {
            let x = r.payload(seq).unwrap();
            bounded.record(x.action.clone(), x.at_ms);
        }
        println!(
            "with the page's bounds ({} payloads, {} MiB): {} payloads kept, {:.1} MiB, from {:.1} s",
            MAX_PAYLOADS,
            MAX_RECORDING_BYTES / (1024 * 1024),
            bounded.len(),
            bounded.bytes() as f64 / (1024.0 * 1024.0),
            bounded.time_at(bounded.start()) as f64 / 1000.0
        );
        assert!(worst < 100.0, "worst seek {worst:.1} ms");
    }
}
