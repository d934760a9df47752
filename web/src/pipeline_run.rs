//! The pipeline view's engine glue: a [`World`] with CDC (the database, the broker with
//! the topic `changes`, the exactly-once connector and three views, each machine on its
//! own simulated disk; in dual-write mode also the application's own topic `dual` and its
//! replica), the trace stamped as the world produces it, and [`PipelineRun::view`], the
//! picture the reducer in [`crate::pipeline_state`] keeps. Pure Rust, tested natively.
//!
//! # Call order
//! [`PipelineRun::new`] (returns the opening events) → any mix of [`PipelineRun::act`] (an
//! [`Action`]) and [`PipelineRun::tick`] (ticks of virtual time), each returning the
//! events it caused → [`PipelineRun::view`] for the picture. Nothing reads a clock: the
//! same seed and the same calls give the same trace.
//!
//! # Comparing the views with the database
//! Only when the world is settled (nothing in flight) does the picture compare each view
//! with the database's rows: before that a view is allowed to lag. The comparison scans
//! the database, so it is made once per settled state (a test checks that scans do not
//! change the run).

use logspine_core::world::{Action, TraceEvent, TraceKind, World, WorldConfig};

use crate::pipeline_state::{PipelineView, Windows, WINDOW};

/// Change events each view consumes per tick: slow enough that lag and offset pointers
/// are visible.
pub const VIEW_EVENTS_PER_TICK: u64 = 3;
/// Ticks one [`PipelineRun::tick`] call runs at most.
pub const MAX_TICKS_PER_CALL: u32 = 1024;

/// The size limit of `changes` with [`Cleanup::Retention`] (four 4 KiB segments).
pub const RETENTION_BYTES: u64 = 16 * 1024;

/// How the topic `changes` is cleaned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Cleanup {
    /// Every record is kept: any view can be rebuilt from offset 0.
    #[default]
    Keep,
    /// Whole segments are dropped beyond [`RETENTION_BYTES`]: a rebuild from offset 0 is
    /// refused once one was, and a view that falls behind stops.
    Retention,
    /// Log compaction keeps the latest record of each key: a rebuild still works.
    Compacted,
}

impl Cleanup {
    /// Every choice, as offered.
    pub const ALL: [Cleanup; 3] = [Cleanup::Keep, Cleanup::Retention, Cleanup::Compacted];

    /// For the select and the DOM hooks.
    pub fn as_str(self) -> &'static str {
        match self {
            Cleanup::Keep => "keep",
            Cleanup::Retention => "retention",
            Cleanup::Compacted => "compacted",
        }
    }

    /// From [`Cleanup::as_str`].
    pub fn parse(s: &str) -> Option<Cleanup> {
        Cleanup::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// For people.
    pub fn label(self) -> &'static str {
        match self {
            Cleanup::Keep => "Keep every record",
            Cleanup::Retention => "Retention: drop old segments beyond 16 KiB",
            Cleanup::Compacted => "Log compaction: keep each key's latest record",
        }
    }
}

/// How the pipeline's world is built.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mode {
    /// The application also writes each acknowledged transaction to the topic `dual`.
    pub dual_write: bool,
    /// How `changes` is cleaned.
    pub cleanup: Cleanup,
}

impl Mode {
    /// The world's configuration.
    pub fn config(self) -> WorldConfig {
        WorldConfig {
            cdc: true,
            view_events_per_tick: VIEW_EVENTS_PER_TICK,
            dual_write: self.dual_write,
            retention_bytes: if self.cleanup == Cleanup::Retention {
                RETENTION_BYTES
            } else {
                0
            },
            compacted: self.cleanup == Cleanup::Compacted,
            ..WorldConfig::default()
        }
    }
}

/// The pipeline's world and its trace (module docs).
pub struct PipelineRun {
    world: World,
    mode: Mode,
    /// Events produced so far (the next event's sequence number).
    produced: u64,
    /// What the last comparison was made on, and its result.
    compared: Option<Compared>,
}

/// What a comparison with the database depends on.
type Signature = (u64, u64, Vec<u64>, u64);

/// A comparison: what it was made on, each view's result, the database's key count.
type Compared = (Signature, Vec<(String, bool)>, usize);

impl PipelineRun {
    /// A world in `mode` with `seed`, and its opening events.
    pub fn new(mode: Mode, seed: u64) -> Result<(PipelineRun, Vec<TraceEvent>), String> {
        let (world, kinds) = World::new(mode.config(), seed)?;
        let mut run = PipelineRun {
            world,
            mode,
            produced: 0,
            compared: None,
        };
        let events = run.stamp(kinds);
        Ok((run, events))
    }

    fn stamp(&mut self, kinds: Vec<TraceKind>) -> Vec<TraceEvent> {
        let time = self.world.time();
        kinds
            .into_iter()
            .map(|kind| {
                let seq = self.produced;
                self.produced += 1;
                TraceEvent { seq, time, kind }
            })
            .collect()
    }

    /// The world.
    pub fn world(&self) -> &World {
        &self.world
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Applies `action` now; its events.
    pub fn act(&mut self, action: &Action) -> Vec<TraceEvent> {
        let kinds = self.world.apply(action);
        self.stamp(kinds)
    }

    /// Runs `ticks` ticks (at most [`MAX_TICKS_PER_CALL`]); their events.
    pub fn tick(&mut self, ticks: u32) -> Vec<TraceEvent> {
        let mut out = Vec::new();
        for _ in 0..ticks.min(MAX_TICKS_PER_CALL) {
            let kinds = self.world.tick();
            out.extend(self.stamp(kinds));
        }
        out
    }

    /// The picture: the pipeline, the windows' records, where the followed commit's
    /// events are, and (settled) each view against the database.
    pub fn view(&mut self, windows: Windows, follow_commit: Option<u64>) -> PipelineView {
        let snapshot = self.world.pipeline().unwrap_or_default();
        let (wal_first, wal_end) = snapshot
            .wal
            .as_ref()
            .map_or((0, 0), |w| (w.first_lsn, w.next_lsn));
        let wal_from = windows
            .wal
            .unwrap_or_else(|| wal_end.saturating_sub(WINDOW).max(wal_first));
        let changes = snapshot.partitions.first();
        let (rec_first, rec_end) = changes.map_or((0, 0), |p| (p.start_offset, p.high_watermark));
        let rec_from = windows
            .records
            .unwrap_or_else(|| rec_end.saturating_sub(WINDOW).max(rec_first));
        let n = usize::try_from(WINDOW).unwrap_or(usize::MAX);
        let wal_window = self.world.wal_window(wal_from, n);
        let record_window = self.world.partition_window(0, rec_from, n);
        let follow_offset = follow_commit.and_then(|c| self.world.change_offset(c));
        let (equal, db_keys) = if self.world.is_settled() && self.world.db().is_some() {
            let signature: Signature = (
                wal_end,
                self.world.crashes(),
                snapshot.views.iter().map(|v| v.position).collect(),
                snapshot.views.iter().map(|v| v.applied).sum(),
            );
            match &self.compared {
                Some((s, result, keys)) if *s == signature => (Some(result.clone()), Some(*keys)),
                _ => {
                    let rows = self.world.contents();
                    let result = self.world.views_against(&rows);
                    self.compared = Some((signature, result.clone(), rows.len()));
                    (Some(result), Some(rows.len()))
                }
            }
        } else {
            (None, None)
        };
        PipelineView {
            seed: self.world.seed(),
            dual_write: self.mode.dual_write,
            cleanup: self.mode.cleanup.as_str(),
            snapshot,
            wal_window,
            record_window,
            follow_offset,
            equal,
            db_keys,
            workload_running: self.world.workload_running(),
            failures: self.world.failures().to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline_state::{PipelineAction, PipelineState, Stage, TokenStage};
    use std::rc::Rc;

    /// Runs until settled (at most `max` ticks), folding into `state`.
    fn settle(run: &mut PipelineRun, state: &mut PipelineState, max: u32) {
        for _ in 0..max / 16 {
            let events = run.tick(16);
            let view = run.view(
                state.windows,
                state.follow.as_ref().and_then(|f| f.commit_lsn),
            );
            state.apply(PipelineAction::Engine {
                events,
                view: Rc::new(view),
            });
            if run.world().is_settled() {
                return;
            }
        }
        panic!(
            "not settled (seed {}): {}",
            run.world().seed(),
            run.world().busy_with()
        );
    }

    fn started(mode: Mode, seed: u64) -> (PipelineRun, PipelineState) {
        let (mut run, events) = PipelineRun::new(mode, seed).expect("a world");
        let mut state = PipelineState::default();
        let view = run.view(state.windows, None);
        state.apply(PipelineAction::Started {
            events,
            view: Rc::new(view),
        });
        (run, state)
    }

    fn act(run: &mut PipelineRun, state: &mut PipelineState, action: &Action) {
        let events = run.act(action);
        let view = run.view(
            state.windows,
            state.follow.as_ref().and_then(|f| f.commit_lsn),
        );
        state.apply(PipelineAction::Engine {
            events,
            view: Rc::new(view),
        });
    }

    #[test]
    fn a_write_is_followed_into_the_topic_and_every_view_and_survives_a_crash() {
        let (mut run, mut s) = started(Mode::default(), 42);
        act(
            &mut run,
            &mut s,
            &Action::Write {
                key: "apple".into(),
                value: "red fruit".into(),
            },
        );
        assert_eq!(s.follow.as_ref().unwrap().stage, Stage::Appended);
        settle(&mut run, &mut s, 4000);
        let f = s.follow.clone().unwrap();
        assert_eq!(f.stage, Stage::Published, "{f:?}");
        let v = s.view.clone().unwrap();
        assert_eq!(v.follow_offset, Some((0, 0)));
        assert_eq!(
            v.snapshot.views.iter().filter(|x| f.applied_by(x)).count(),
            3
        );
        assert_eq!(v.views_equal(), Some(true), "{:?}", v.equal);
        assert_eq!(v.db_keys, Some(1));
        assert!(v
            .record_window
            .iter()
            .any(|r| r.key.as_deref() == Some("apple")));
        assert!(v.wal_window.iter().any(|r| r.kind == "commit"));
        assert_eq!(s.tokens_at(TokenStage::Views, 5).len(), 1);
        // A workload, a database crash in the middle of it: once settled, the views
        // still equal the database.
        let w = s.workload_action();
        act(&mut run, &mut s, &w);
        for _ in 0..20 {
            let events = run.tick(4);
            s.apply(PipelineAction::Engine {
                events,
                view: Rc::new(run.view(s.windows, None)),
            });
        }
        act(&mut run, &mut s, &Action::Crash);
        assert_eq!(s.counters.db_crashes, 1);
        settle(&mut run, &mut s, 40_000);
        let v = s.view.clone().unwrap();
        assert_eq!(v.views_equal(), Some(true), "{:?}", v.equal);
        assert!(v.failures.is_empty(), "{:?}", v.failures);
        assert!(s.counters.captured > 10);
    }

    #[test]
    fn a_rebuild_from_zero_reports_progress_and_finishes_equal() {
        let (mut run, mut s) = started(Mode::default(), 5);
        let w = s.workload_action();
        act(&mut run, &mut s, &w);
        settle(&mut run, &mut s, 40_000);
        let hw = s.view.as_ref().unwrap().changes().unwrap().high_watermark;
        assert!(hw > 50, "{hw}");
        act(
            &mut run,
            &mut s,
            &Action::RebuildView {
                view: "replica".into(),
            },
        );
        assert_eq!(s.rebuild_permille("replica"), Some(0));
        let mut seen = vec![];
        while s.rebuild_permille("replica").is_some() {
            let events = run.tick(2);
            s.apply(PipelineAction::Engine {
                events,
                view: Rc::new(run.view(s.windows, None)),
            });
            seen.push(s.rebuild_permille("replica"));
            assert!(seen.len() < 10_000, "the rebuild never finished");
        }
        let progress: Vec<u64> = seen.iter().flatten().copied().collect();
        assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
        assert!(
            progress.len() > 3,
            "the rebuild took a few frames: {progress:?}"
        );
        assert_eq!(s.rebuilt.get("replica").map(|r| r.0), Some(1));
        assert_eq!(s.rebuilt["replica"].1, hw);
        settle(&mut run, &mut s, 4000);
        assert_eq!(s.view.as_ref().unwrap().views_equal(), Some(true));
    }

    #[test]
    fn dual_writes_drift_from_the_database_after_a_crash() {
        // Some seed loses a dual write in a crash: the trace says so and the divergence
        // shows; CDC's views stay equal to the database on every seed.
        let mut diverged = vec![];
        for seed in 1..=8 {
            let (mut run, mut s) = started(
                Mode {
                    dual_write: true,
                    ..Mode::default()
                },
                seed,
            );
            let w = s.workload_action();
            act(&mut run, &mut s, &w);
            for _ in 0..10 {
                let events = run.tick(3);
                s.apply(PipelineAction::Engine {
                    events,
                    view: Rc::new(run.view(s.windows, None)),
                });
            }
            act(&mut run, &mut s, &Action::Crash);
            settle(&mut run, &mut s, 40_000);
            // The application's last produce and the replica may trail the settling.
            for _ in 0..20 {
                let events = run.tick(16);
                s.apply(PipelineAction::Engine {
                    events,
                    view: Rc::new(run.view(s.windows, None)),
                });
            }
            let v = s.view.clone().unwrap();
            assert!(v.dual_write);
            assert_eq!(v.views_equal(), Some(true), "seed {seed}: CDC's views");
            let d = v.snapshot.divergence.expect("dual-write mode");
            if s.counters.dual_lost > 0 {
                assert!(d > 0, "seed {seed}: lost dual writes but no divergence");
                assert_eq!(s.diverged, Some(d), "seed {seed}: the trace reported it");
                diverged.push(seed);
            }
        }
        assert!(!diverged.is_empty(), "no seed of 1..=8 lost a dual write");
    }

    /// The picture (scans and comparisons included) does not change the run.
    #[test]
    fn looking_does_not_change_the_run() {
        let script = |look: bool| {
            let (mut run, events) = PipelineRun::new(Mode::default(), 9).unwrap();
            let mut all = events;
            all.extend(run.act(&Action::Workload {
                clients: 4,
                transactions: 40,
                keys: 20,
                writes: 2,
            }));
            for i in 0..300 {
                all.extend(run.tick(3));
                if i == 100 {
                    all.extend(run.act(&Action::Crash));
                }
                if look {
                    let _ = run.view(Windows::default(), Some(5));
                }
            }
            all
        };
        assert_eq!(script(true), script(false));
    }

    #[test]
    fn retention_eats_old_segments_and_compaction_keeps_rebuilds_possible() {
        for cleanup in [Cleanup::Retention, Cleanup::Compacted] {
            let mode = Mode {
                cleanup,
                ..Mode::default()
            };
            assert_eq!(Cleanup::parse(cleanup.as_str()), Some(cleanup));
            let (mut run, mut s) = started(mode, 21);
            let a = Action::SetPace {
                consumer: "replica".into(),
                events_per_tick: 1000,
            };
            act(&mut run, &mut s, &a);
            let w = s.workload_action();
            act(&mut run, &mut s, &w);
            settle(&mut run, &mut s, 100_000);
            // Compaction runs every 50 ticks, in the background of a settled world.
            for _ in 0..20 {
                let events = run.tick(16);
                s.apply(PipelineAction::Engine {
                    events,
                    view: Rc::new(run.view(s.windows, None)),
                });
            }
            let v = s.view.clone().unwrap();
            let p = v.changes().unwrap();
            assert_eq!(v.cleanup, cleanup.as_str());
            match cleanup {
                Cleanup::Retention => {
                    assert!(p.start_offset > 0, "{p:?}");
                    assert!(s.counters.retention_drops > 0);
                    // A rebuild from offset 0 is refused: the first records are gone.
                    act(
                        &mut run,
                        &mut s,
                        &Action::RebuildView {
                            view: "replica".into(),
                        },
                    );
                    assert!(s.announce.starts_with("Refused"), "{}", s.announce);
                }
                _ => {
                    assert!(p.compacted);
                    assert!(s.counters.compactions > 0, "{p:?}");
                    act(
                        &mut run,
                        &mut s,
                        &Action::RebuildView {
                            view: "replica".into(),
                        },
                    );
                    settle(&mut run, &mut s, 100_000);
                    assert_eq!(s.rebuilt.get("replica").map(|r| r.0), Some(1));
                    assert_eq!(s.view.as_ref().unwrap().views_equal(), Some(true));
                }
            }
        }
    }

    #[test]
    fn ticks_per_call_are_bounded() {
        let (mut run, _) = PipelineRun::new(Mode::default(), 1).unwrap();
        let _ = run.tick(u32::MAX);
        assert_eq!(run.world().time(), u64::from(MAX_TICKS_PER_CALL));
        assert!(!run.mode().dual_write);
    }
}
