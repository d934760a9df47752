//! The raw log demo's timeline: every [`Action`] the log reported, recorded, and any past
//! moment shown by folding them again ([`LogTimeline`], the demo's reducer).
//!
//! The log lives on IndexedDB, whose bytes are durable: its past cannot be rewritten from
//! the page. So, as in the database view, time travel here is replay of the view's own
//! trace, read-only. Position `p` is the state after the first `p` recorded actions (the
//! input's drafts are not recorded: they are not something the log did). A clone of the
//! folded state every [`CHECKPOINT_EVERY`] actions bounds a seek to that many folds. The
//! recording keeps the newest [`MAX_ACTIONS`]; older ones are dropped a checkpoint
//! interval at a time, so the first kept position is always a checkpoint.
//!
//! While the position is in the past the log keeps running (new actions are recorded and
//! folded into the live state); the demo shows the past state and refuses to act.

use std::collections::VecDeque;
use std::rc::Rc;

use yew::Reducible;

use crate::state::{Action, OpenReason, PlaygroundState};
use crate::transport::TransportMarker;

/// Actions kept at most.
pub const MAX_ACTIONS: usize = 10_000;
/// A checkpoint every this many actions.
pub const CHECKPOINT_EVERY: u64 = 50;
/// Markers kept at most (the newest).
pub const MAX_MARKERS: usize = 400;

/// A move on the timeline (the demo's buttons and slider).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimelineMove {
    /// Show the state after `p` actions (clamped to what is recorded).
    Seek(u64),
    /// One action back.
    StepBack,
    /// One action forward (at the end: nothing).
    StepForward,
    /// Back to the live state.
    Live,
}

/// What the demo's reducer receives: something the log did, or a move in time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogMove {
    /// The log reported this (folded into the live state and recorded, drafts aside).
    Engine(Action),
    /// A move in time.
    Time(TimelineMove),
}

impl From<Action> for LogMove {
    fn from(a: Action) -> LogMove {
        LogMove::Engine(a)
    }
}

/// The demo's state: live, recorded, and where the view is looking (module docs).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogTimeline {
    live: PlaygroundState,
    /// Recorded actions; the first is number `first`.
    actions: VecDeque<Action>,
    first: u64,
    /// `(p, state after p actions)`, ascending; the first is at `first`.
    checkpoints: VecDeque<(u64, PlaygroundState)>,
    /// `(position, markers)` of crashes and finished recoveries.
    markers: VecDeque<TransportMarker>,
    /// The past position shown and its state (`None`: live).
    past: Option<(u64, PlaygroundState)>,
}

impl Reducible for LogTimeline {
    type Action = LogMove;

    fn reduce(self: Rc<Self>, m: LogMove) -> Rc<Self> {
        let mut next = (*self).clone();
        next.apply(m);
        Rc::new(next)
    }
}

impl LogTimeline {
    /// The state on screen: the past one, or the live one.
    pub fn shown(&self) -> &PlaygroundState {
        self.past.as_ref().map_or(&self.live, |(_, s)| s)
    }

    /// The live state.
    pub fn live(&self) -> &PlaygroundState {
        &self.live
    }

    /// Whether a past moment is shown.
    pub fn is_past(&self) -> bool {
        self.past.is_some()
    }

    /// The first recorded position.
    pub fn start(&self) -> u64 {
        self.first
    }

    /// The live end: actions recorded so far.
    pub fn end(&self) -> u64 {
        self.first + self.actions.len() as u64
    }

    /// The position shown.
    pub fn position(&self) -> u64 {
        self.past.as_ref().map_or(self.end(), |(p, _)| *p)
    }

    /// Crashes and finished recoveries, oldest first.
    pub fn markers(&self) -> Vec<TransportMarker> {
        self.markers.iter().cloned().collect()
    }

    /// The recorded action that led to position `p` (`p - 1`), for the status line.
    pub fn action_before(&self, p: u64) -> Option<&Action> {
        let i = p.checked_sub(self.first + 1)?;
        self.actions.get(usize::try_from(i).ok()?)
    }

    /// Folds one move in.
    pub fn apply(&mut self, m: LogMove) {
        match m {
            LogMove::Engine(a) => self.record(a),
            LogMove::Time(t) => self.travel(t),
        }
    }

    fn record(&mut self, a: Action) {
        if matches!(a, Action::Edit(_)) {
            self.live.apply(a);
            return;
        }
        if self.actions.is_empty() && self.checkpoints.is_empty() {
            self.checkpoints
                .push_back((self.first, drafts_cleared(&self.live)));
        }
        let kind = match &a {
            Action::Opening(OpenReason::Crash) => Some("crash"),
            Action::ReplayDone => Some("recovery"),
            _ => None,
        };
        self.live.apply(a.clone());
        self.actions.push_back(a);
        let end = self.end();
        if let Some(kind) = kind {
            self.markers.push_back(TransportMarker { at: end, kind });
            if self.markers.len() > MAX_MARKERS {
                self.markers.pop_front();
            }
        }
        if (end - self.first).is_multiple_of(CHECKPOINT_EVERY) {
            self.checkpoints
                .push_back((end, drafts_cleared(&self.live)));
        }
        while self.actions.len() > MAX_ACTIONS && self.checkpoints.len() > 1 {
            // Drop the oldest checkpoint interval.
            let next = self.checkpoints[1].0;
            let n = usize::try_from(next - self.first).unwrap_or(usize::MAX);
            self.actions.drain(..n.min(self.actions.len()));
            self.first = next;
            self.checkpoints.pop_front();
            while self.markers.front().is_some_and(|m| m.at <= self.first) {
                self.markers.pop_front();
            }
            if let Some((p, _)) = &self.past {
                if *p < self.first {
                    self.past = Some((self.first, self.state_at(self.first)));
                }
            }
        }
    }

    /// The state after `p` actions: the checkpoint at or before `p`, then the actions up
    /// to `p` folded in.
    pub fn state_at(&self, p: u64) -> PlaygroundState {
        let p = p.clamp(self.first, self.end());
        let i = self.checkpoints.partition_point(|(q, _)| *q <= p);
        let Some((from, state)) = i.checked_sub(1).and_then(|i| self.checkpoints.get(i)) else {
            return drafts_cleared(&self.live);
        };
        let mut s = state.clone();
        let skip = usize::try_from(from - self.first).unwrap_or(usize::MAX);
        let take = usize::try_from(p - from).unwrap_or(usize::MAX);
        for a in self.actions.iter().skip(skip).take(take) {
            s.apply(a.clone());
        }
        s
    }

    fn travel(&mut self, t: TimelineMove) {
        let here = self.position();
        let to = match t {
            TimelineMove::Seek(p) => p,
            TimelineMove::StepBack => here.saturating_sub(1),
            TimelineMove::StepForward => here + 1,
            TimelineMove::Live => self.end(),
        }
        .clamp(self.first, self.end());
        self.past = (to < self.end()).then(|| (to, self.state_at(to)));
    }
}

/// `s` without the input's draft (not part of the recording).
fn drafts_cleared(s: &PlaygroundState) -> PlaygroundState {
    PlaygroundState {
        draft: String::new(),
        ..s.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::SyncView;

    /// A seeded stream of what the log reports: opens, appends, syncs, crashes.
    fn stream(seed: u64, n: usize) -> Vec<Action> {
        let mut rng = logspine_core::Rng::new(seed);
        let mut out = vec![
            Action::Opening(OpenReason::Load),
            Action::Opened {
                records: vec![],
                report: "empty".into(),
                stopped: false,
            },
            Action::ReplayDone,
        ];
        let mut lsn: u64 = 0;
        while out.len() < n {
            match rng.below(10) {
                0 => {
                    out.push(Action::Opening(OpenReason::Crash));
                    out.push(Action::Opened {
                        records: (lsn.saturating_sub(20)..lsn)
                            .map(|l| (l, format!("r{l}")))
                            .collect(),
                        report: format!("{lsn} records"),
                        stopped: false,
                    });
                    out.push(Action::ReplayStep);
                    out.push(Action::ReplayDone);
                }
                1 => out.push(Action::Edit(format!("draft {lsn}"))),
                2 | 3 => out.push(Action::SyncsCompleted {
                    results: vec![(lsn, None)],
                    durable_next: lsn,
                    sync: SyncView::default(),
                }),
                _ => {
                    out.push(Action::Appended {
                        lsn,
                        text: format!("r{lsn}"),
                    });
                    lsn += 1;
                }
            }
        }
        out
    }

    /// Folding from the start up to `p` (drafts aside).
    fn folded(actions: &[Action], p: usize) -> PlaygroundState {
        let mut s = PlaygroundState::default();
        for a in actions
            .iter()
            .filter(|a| !matches!(a, Action::Edit(_)))
            .take(p)
        {
            s.apply(a.clone());
        }
        s
    }

    #[test]
    fn every_position_replays_to_the_straight_fold_and_live_is_untouched() {
        for seed in 1..=4 {
            let actions = stream(seed, 600);
            let mut t = LogTimeline::default();
            for a in &actions {
                t.apply(a.clone().into());
            }
            let recorded = actions
                .iter()
                .filter(|a| !matches!(a, Action::Edit(_)))
                .count();
            assert_eq!(t.end(), recorded as u64, "seed {seed}");
            for p in 0..=recorded {
                assert_eq!(
                    t.state_at(p as u64),
                    folded(&actions, p),
                    "seed {seed} p {p}"
                );
            }
            let live = t.live().clone();
            t.apply(LogMove::Time(TimelineMove::Seek(10)));
            assert!(t.is_past());
            assert_eq!(t.position(), 10);
            assert_eq!(t.shown(), &folded(&actions, 10));
            // The log goes on while the past is shown.
            t.apply(
                Action::Appended {
                    lsn: 999,
                    text: "late".into(),
                }
                .into(),
            );
            assert_eq!(t.position(), 10);
            assert_ne!(t.live(), &live);
            t.apply(LogMove::Time(TimelineMove::StepBack));
            assert_eq!(t.position(), 9);
            t.apply(LogMove::Time(TimelineMove::StepForward));
            t.apply(LogMove::Time(TimelineMove::StepForward));
            assert_eq!(t.position(), 11);
            t.apply(LogMove::Time(TimelineMove::Live));
            assert!(!t.is_past());
            assert_eq!(t.shown(), t.live());
        }
    }

    #[test]
    fn markers_sit_after_crashes_and_recoveries_and_trimming_keeps_replay_exact() {
        let actions = stream(9, 3 * MAX_ACTIONS);
        let mut t = LogTimeline::default();
        for a in &actions {
            t.apply(a.clone().into());
        }
        let recorded: Vec<Action> = actions
            .iter()
            .filter(|a| !matches!(a, Action::Edit(_)))
            .cloned()
            .collect();
        assert!(t.start() > 0, "the oldest actions were dropped");
        assert!(t.end() - t.start() <= MAX_ACTIONS as u64);
        assert_eq!(t.start() % CHECKPOINT_EVERY, 0);
        for m in t.markers() {
            let a = &recorded[usize::try_from(m.at - 1).unwrap()];
            match m.kind {
                "crash" => assert_eq!(a, &Action::Opening(OpenReason::Crash)),
                "recovery" => assert_eq!(a, &Action::ReplayDone),
                k => panic!("unexpected marker {k}"),
            }
            assert!(m.at > t.start());
        }
        assert!(!t.markers().is_empty());
        // One straight fold, compared at every 97th kept position.
        let mut s = PlaygroundState::default();
        for (i, a) in recorded.iter().enumerate() {
            let p = i as u64;
            if p >= t.start() && p.is_multiple_of(97) {
                assert_eq!(t.state_at(p), s, "p {p}");
            }
            s.apply(a.clone());
        }
        assert_eq!(t.state_at(t.end()), s);
        // A seek before the start lands on it.
        t.apply(LogMove::Time(TimelineMove::Seek(0)));
        assert_eq!(t.position(), t.start());
    }
}
