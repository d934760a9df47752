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
//! same seed and the same calls give the same trace, which is why
//! [`PipelineRun::session`] (a few hundred bytes) is all a reload needs to
//! [`PipelineRun::restore`] the run.
//!
//! # Comparing the views with the database
//! Only when the world is settled (nothing in flight) does the picture compare each view
//! with the database's rows: before that a view is allowed to lag. The comparison scans
//! the database, so it is made once per settled state (a test checks that scans do not
//! change the run).

use logspine_core::btree::inspect::shape;
use logspine_core::sim_disk::SyncLatency;
use logspine_core::world::{Action, IndexChoice, Scenario, TraceEvent, World, WorldConfig};
use logspine_core::Storage;

use crate::pipeline_state::{
    DetailItem, DetailRow, Details, IndexPicture, PipelineView, TimelineView, Windows, WINDOW,
};
use crate::scenario_run::ScenarioRun;
use crate::scenario_state::{markers, Marker};
use crate::share::RunLink;
use crate::transport::{TransportMarker, MAX_MARKERS_DRAWN};

/// Change events each view consumes per tick: slow enough that lag and offset pointers
/// are visible.
pub const VIEW_EVENTS_PER_TICK: u64 = 3;
/// Ticks one [`PipelineRun::tick`] call runs at most.
pub const MAX_TICKS_PER_CALL: u32 = 1024;
/// Events between the timeline's snapshots (a seek replays at most about this many).
pub const SNAPSHOT_EVERY: u64 = 1000;
/// The run ends this many ticks after the last action (the most a scenario may run): at
/// the page's fastest speed, about a quarter of an hour of playing.
pub const MAX_RUN_TICKS: u64 = 1_000_000;

/// The LSM index's memtable size in the pipeline (flushes every few dozen transactions).
pub const LSM_MEMTABLE_BYTES: u64 = 4 * 1024;
/// Pages of the B-tree a picture walks at most.
pub const MAX_PAGES_WALKED: usize = 256;

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
    /// The database's index.
    pub index: IndexChoice,
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
            index: self.index,
            // The LSM: a small memtable, so that flushes and compactions happen at the
            // page's sizes (the default suits the B-tree's checkpoints too).
            memtable_bytes: if self.index == IndexChoice::Lsm {
                LSM_MEMTABLE_BYTES
            } else {
                WorldConfig::default().memtable_bytes
            },
            // The Raft cluster replicates the database, fed from `changes`.
            raft_nodes: RAFT_NODES,
            raft_replicates: true,
            ..WorldConfig::default()
        }
    }
}

impl Mode {
    /// The stored form: `btree.keep.0` (index, cleanup, dual write).
    fn encode(self) -> String {
        format!(
            "{}.{}.{}",
            self.index.name(),
            self.cleanup.as_str(),
            u8::from(self.dual_write)
        )
    }

    /// From [`Mode::encode`].
    fn decode(s: &str) -> Option<Mode> {
        let mut parts = s.split('.');
        let index = IndexChoice::parse(parts.next()?)?;
        let cleanup = Cleanup::parse(parts.next()?)?;
        let dual_write = match parts.next()? {
            "0" => false,
            "1" => true,
            _ => return None,
        };
        parts.next().is_none().then_some(Mode {
            dual_write,
            cleanup,
            index,
        })
    }
}

/// Where the pipeline's session lives in `localStorage` ([`PipelineRun::session`]).
pub const SESSION_KEY: &str = "logspine:pipeline-session";
/// The version of the session's form.
const SESSION_VERSION: &str = "pipeline=1";

/// A pipeline run reopened from its session ([`PipelineRun::restore`]).
pub struct Restored {
    /// The run, at the saved position.
    pub run: PipelineRun,
    /// Its events up to the position (the fold starts over them).
    pub events: Vec<TraceEvent>,
    /// Which world of the page it was (its seed came from this).
    pub world: u64,
    /// Whether it was playing.
    pub playing: bool,
    /// The tick at which the reload crashed the world's machines ([`PipelineRun::restore`]),
    /// if it was live; `None` when the run was left in the past.
    pub crashed_at: Option<u64>,
}

/// The page that ran the world died (a reload, a closed tab): at the position's tick every
/// machine of the world crashes and restarts from its disk, as a reload crashes the
/// database view's engine. The database recovers from its WAL, the broker loses its
/// volatile records, the connector resumes from its stored position, and each Raft node
/// crashes and restarts (one already down restarts too: the page started every machine
/// again). Returns that tick.
fn crash_every_machine(run: &mut ScenarioRun) -> Result<u64, String> {
    let tick = run.timeline().world().time();
    for action in [Action::Crash, Action::CrashBroker, Action::CrashConnector] {
        run.act(action)?;
    }
    let up: Option<Vec<u64>> = run
        .timeline()
        .world()
        .raft_picture(None, false)
        .map(|p| p.nodes.iter().filter(|n| n.up).map(|n| n.id).collect());
    if let Some(up) = up {
        for id in up {
            run.act(Action::RaftCrash {
                target: id.to_string(),
            })?;
        }
        run.act(Action::RaftRestart)?;
    }
    Ok(tick)
}

/// Nodes of the Raft cluster that replicates the pipeline's database.
pub const RAFT_NODES: u64 = 3;

/// The pipeline's world, its recorded trace and its markers (module docs).
pub struct PipelineRun {
    run: ScenarioRun,
    mode: Mode,
    /// Events the reducer has been sent: the next delta starts here (or rewinds).
    sent: u64,
    /// The key of the last write applied by hand (located in the index).
    /// The followed write's key and value.
    follow: Option<(String, String)>,
    /// Markers of the recorded trace's first `marked` events.
    markers: Vec<Marker>,
    marked: u64,
    /// What the last comparison was made on, and its result.
    compared: Option<Compared>,
}

/// What happened to the run since the reducer last heard: new events in order, or (after
/// a move into the past) every event up to the position, to fold again from the start.
#[derive(Clone, Debug, PartialEq)]
pub enum Delta {
    /// Events after the ones already sent.
    Forward(Vec<TraceEvent>),
    /// The position moved back: the fold starts again over these (all up to it).
    Rewound(Vec<TraceEvent>),
}

/// What a comparison with the database depends on.
type Signature = (u64, u64, u64, Vec<u64>, u64);

/// A comparison: what it was made on, each view's result, each Raft node's that is up,
/// the database's key count.
type Compared = (Signature, Vec<(String, bool)>, Vec<(u64, bool)>, usize);

/// The scenario the pipeline runs: `mode`'s world, no scripted actions (every action is
/// the visitor's), as long as a scenario may run.
fn scenario(mode: Mode, seed: u64) -> Scenario {
    Scenario {
        version: logspine_core::world::scenario::VERSION,
        name: "pipeline".to_owned(),
        title: "The pipeline".to_owned(),
        seed,
        config: mode.config(),
        end: MAX_RUN_TICKS,
        actions: Vec::new(),
        narration: Vec::new(),
    }
}

impl PipelineRun {
    /// A world in `mode` with `seed`, and its opening events.
    pub fn new(mode: Mode, seed: u64) -> Result<(PipelineRun, Vec<TraceEvent>), String> {
        let run =
            ScenarioRun::with_scenario("pipeline", scenario(mode, seed), None, SNAPSHOT_EVERY)?;
        Ok(PipelineRun::around(run, mode))
    }

    /// The pipeline around `run` (in `mode`), and its events up to the position.
    fn around(run: ScenarioRun, mode: Mode) -> (PipelineRun, Vec<TraceEvent>) {
        let follow = run
            .link()
            .actions
            .iter()
            .rev()
            .find_map(|h| match &h.action {
                Action::Write { key, value } => Some((key.clone(), value.clone())),
                _ => None,
            });
        let mut run = PipelineRun {
            run,
            mode,
            sent: 0,
            follow,
            markers: Vec::new(),
            marked: 0,
            compared: None,
        };
        let events = match run.delta() {
            Delta::Forward(e) | Delta::Rewound(e) => e,
        };
        (run, events)
    }

    /// The run written down for `localStorage`, so that a reload reopens it where it was:
    /// `pipeline=1;btree.keep.0;3;playing;live;run=1.…` (the mode, the page's world number,
    /// play or pause, live or in the past (`past.N`: N events recorded), then the run as a
    /// share link carries it: seed, hand-applied actions by tick, position). The world is
    /// deterministic, so that is all of it.
    pub fn session(&self, world: u64, playing: bool) -> String {
        format!(
            "{SESSION_VERSION};{};{world};{};{};{}",
            self.mode.encode(),
            if playing { "playing" } else { "paused" },
            if self.position() >= self.recorded() {
                "live".to_owned()
            } else {
                format!("past.{}", self.recorded())
            },
            self.run.link().to_fragment()
        )
    }

    /// Reopens a run from [`PipelineRun::session`]'s text: builds the world in its mode
    /// with its seed, applies its actions at their ticks and seeks to its position. A run
    /// that was live was running in the page that died, so its machines crash there and
    /// restart (`crash_every_machine`): a reload is a real crash, recovered on screen. A
    /// run left in the past was only being looked at, and comes back as it was. Any
    /// damage is an error for people (the caller starts a new world and says so).
    pub fn restore(text: &str) -> Result<Restored, String> {
        let damaged = |what: &str| format!("The saved pipeline is damaged ({what}).");
        let mut parts = text.splitn(6, ';');
        if parts.next() != Some(SESSION_VERSION) {
            return Err(
                "The saved pipeline was written by another version of Logspine.".to_owned(),
            );
        }
        let mode = parts
            .next()
            .and_then(Mode::decode)
            .ok_or_else(|| damaged("its mode"))?;
        let world = parts
            .next()
            .and_then(|w| w.parse::<u64>().ok())
            .ok_or_else(|| damaged("its world number"))?;
        let playing = match parts.next() {
            Some("playing") => true,
            Some("paused") => false,
            _ => return Err(damaged("play or pause")),
        };
        // `None`: live; `Some(n)`: in the past of a recording of `n` events.
        let past = match parts.next() {
            Some("live") => None,
            Some(p) => Some(
                p.strip_prefix("past.")
                    .and_then(|n| n.parse::<u64>().ok())
                    .ok_or_else(|| damaged("live or past"))?,
            ),
            None => return Err(damaged("live or past")),
        };
        let mut link = match parts.next().map(RunLink::parse_fragment) {
            Some(Ok(Some(link))) => link,
            Some(Err(e)) => return Err(damaged(&e.0)),
            _ => return Err(damaged("its run")),
        };
        if link.scenario != "pipeline" {
            return Err(damaged("not a pipeline run"));
        }
        link.check_actions().map_err(|e| damaged(&e.0))?;
        // In the past, the recording is replayed to its end first, so that the future the
        // person was looking back from is there again.
        let position = link.position;
        link.position = past.unwrap_or(position).max(position);
        let mut run = ScenarioRun::with_scenario(
            "pipeline",
            scenario(mode, link.seed),
            None,
            SNAPSHOT_EVERY,
        )?
        .replay(&link)
        .map_err(|e| damaged(&e))?;
        run.seek(position);
        let crashed_at = if past.is_none() && !run.timeline().finished() {
            Some(crash_every_machine(&mut run)?)
        } else {
            None
        };
        let (run, events) = PipelineRun::around(run, mode);
        Ok(Restored {
            run,
            events,
            world,
            playing,
            crashed_at,
        })
    }

    /// The events since the last delta (module docs of [`Delta`]).
    pub fn delta(&mut self) -> Delta {
        let trace = self.run.timeline().trace();
        let at = usize::try_from(self.run.position())
            .unwrap_or(usize::MAX)
            .min(trace.len());
        let sent = usize::try_from(self.sent).unwrap_or(usize::MAX);
        self.sent = at as u64;
        if at >= sent {
            Delta::Forward(trace[sent..at].to_vec())
        } else {
            Delta::Rewound(trace[..at].to_vec())
        }
    }

    /// The world at the position.
    pub fn world(&self) -> &World {
        self.run.timeline().world()
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Applies `action` at the position (in the past: the recorded future is discarded
    /// and the run goes on from here).
    pub fn act(&mut self, action: &Action) -> Result<(), String> {
        let from = self.run.position();
        self.run.act(action.clone())?;
        if let Action::Write { key, value } = action {
            self.follow = Some((key.clone(), value.clone()));
        }
        // The markers of the discarded future go too.
        if self.marked > from {
            self.markers.retain(|m| m.seq < from);
            self.marked = from;
        }
        Ok(())
    }

    /// Runs `ticks` steps (at most [`MAX_TICKS_PER_CALL`]): in the past they replay the
    /// recording, at its end they run the world on.
    pub fn tick(&mut self, ticks: u32) {
        self.run.play(ticks.min(MAX_TICKS_PER_CALL));
    }

    /// Steps to the next moment something happens.
    pub fn step_forward(&mut self) {
        self.run.step_forward();
    }

    /// Steps back to the previous moment something happened.
    pub fn step_back(&mut self) {
        self.run.step_back();
    }

    /// Seeks to the last moment with at most `value` events.
    pub fn seek(&mut self, value: u64) {
        self.run.seek(value);
    }

    /// Goes to just after the marker at `at` (the first moment once its event happened:
    /// the moment that produced it).
    pub fn seek_marker(&mut self, at: u64) {
        self.run.seek_after(at.saturating_sub(1));
    }

    /// Back to the end of the recording.
    pub fn to_end(&mut self) {
        self.run.to_end();
    }

    /// Events up to the position.
    pub fn position(&self) -> u64 {
        self.run.position()
    }

    /// The first position (after the world's opening events).
    pub fn start(&self) -> u64 {
        self.run.start()
    }

    /// Events recorded (the end of the recording).
    pub fn recorded(&self) -> u64 {
        self.run.timeline().trace().len() as u64
    }

    /// Whether the run has reached its last tick ([`MAX_RUN_TICKS`] after the last action).
    pub fn finished(&self) -> bool {
        self.run.timeline().finished()
    }

    /// The markers of the whole recording (kept up to date incrementally).
    pub fn markers(&mut self) -> &[Marker] {
        let trace = self.run.timeline().trace();
        let from = usize::try_from(self.marked)
            .unwrap_or(usize::MAX)
            .min(trace.len());
        self.markers.extend(markers(&trace[from..]));
        self.marked = trace.len() as u64;
        &self.markers
    }

    /// The picture: the pipeline, the windows' records, where the followed commit's
    /// events are, (settled) each view against the database, and the `details` asked for
    /// (the expanded panels' detailed views; the others are left out).
    pub fn view(
        &mut self,
        windows: Windows,
        follow_commit: Option<u64>,
        details: Details,
    ) -> PipelineView {
        let world = self.run.timeline_mut().world_mut();
        let snapshot = world.pipeline().unwrap_or_default();
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
        let wal_window = world.wal_window(wal_from, n);
        let record_window = world.partition_window(0, rec_from, n);
        let follow_offset = follow_commit.and_then(|c| world.change_offset(c));
        let (equal, raft_equal, db_keys) = if world.is_settled() && world.db().is_some() {
            let signature: Signature = (
                world.time(),
                wal_end,
                world.crashes(),
                snapshot.views.iter().map(|v| v.position).collect(),
                snapshot.views.iter().map(|v| v.applied).sum(),
            );
            match &self.compared {
                Some((s, result, raft, keys)) if *s == signature => {
                    (Some(result.clone()), Some(raft.clone()), Some(*keys))
                }
                _ => {
                    let rows = world.contents();
                    let result = world.views_against(&rows);
                    let raft = world.raft_against(&rows);
                    self.compared = Some((signature, result.clone(), raft.clone(), rows.len()));
                    (Some(result), Some(raft), Some(rows.len()))
                }
            }
        } else {
            (None, None, None)
        };
        PipelineView {
            seed: world.seed(),
            dual_write: self.mode.dual_write,
            cleanup: self.mode.cleanup.as_str(),
            snapshot,
            wal_window,
            record_window,
            follow_offset,
            equal,
            raft_equal,
            db_keys,
            workload_running: world.workload_running(),
            failures: world.failures().to_vec(),
            index: index_picture(
                world,
                self.follow.as_ref().map(|f| f.0.as_str()),
                details.index,
            ),
            sync_latency: world
                .db()
                .and_then(|db| match db.storage().config().sync_latency {
                    SyncLatency::Uniform { min, max } => Some((min, max)),
                    SyncLatency::Fixed(t) => Some((t, t)),
                    _ => None,
                }),
            raft: world.raft_picture(
                self.follow
                    .as_ref()
                    .map(|(k, v)| (k.as_bytes(), v.as_bytes())),
                details.raft_logs,
            ),
            timeline: TimelineView {
                time: world.time(),
                position: self.run.position(),
                start: self.run.start(),
                recorded: self.recorded(),
                finished: self.finished(),
                markers: {
                    let all = self.markers();
                    all[all.len().saturating_sub(MAX_MARKERS_DRAWN)..]
                        .iter()
                        .map(|m| TransportMarker {
                            at: m.seq + 1,
                            kind: m.kind.as_str(),
                        })
                        .collect()
                },
            },
        }
    }
}

/// `first … last`, each clipped, for people.
fn key_range(first: &[u8], last: &[u8]) -> String {
    let clip = |k: &[u8]| logspine_core::world::inspect::clip_to(&String::from_utf8_lossy(k), 17);
    format!("{} … {}", clip(first), clip(last))
}

/// The database's index at this moment: its kind, its amplification so far, its shape,
/// where `key` lives in it and, with `detail`, its pages or memtables and tables. Reads
/// only what is resident or on the simulated disk, through read-only inspection: nothing
/// moves (no counter, no cache).
fn index_picture(world: &World, key: Option<&str>, detail: bool) -> Option<IndexPicture> {
    let db = world.db()?;
    let a = db.amplification();
    let mut p = IndexPicture {
        kind: if db.lsm().is_some() { "lsm" } else { "btree" },
        write_amplification: a.write,
        read_amplification: a.sources_per_lookup.max(a.read_pages_per_lookup),
        space_amplification: a.space,
        shape: Vec::new(),
        key: key.map(str::to_owned),
        location: None,
        detail: None,
    };
    if let Some(lsm) = db.lsm() {
        let active = lsm.active_memtable();
        let frozen = lsm.immutable_memtables().count();
        p.shape.push(format!(
            "memtable: {} {}{}",
            active.len(),
            if active.len() == 1 {
                "entry"
            } else {
                "entries"
            },
            if frozen > 0 {
                format!(", {frozen} frozen and being flushed")
            } else {
                String::new()
            }
        ));
        let version = lsm.version();
        for (level, tables) in version.levels().iter().enumerate() {
            if tables.is_empty() {
                continue;
            }
            p.shape.push(format!(
                "L{level}: {} {} ({} bytes, {} entries)",
                tables.len(),
                if tables.len() == 1 { "table" } else { "tables" },
                tables.iter().map(|t| t.size_bytes).sum::<u64>(),
                tables.iter().map(|t| t.entries).sum::<u64>(),
            ));
        }
        let k = key.map(str::as_bytes);
        p.detail = detail.then(|| {
            let mut memtables = vec![DetailItem {
                id: "active".to_owned(),
                text: format!("{} keys · {} bytes", active.len(), active.size_bytes()),
                range: None,
                followed: k.is_some_and(|k| active.get(k).is_some()),
            }];
            memtables.extend(
                lsm.immutable_memtables()
                    .enumerate()
                    .map(|(i, m)| DetailItem {
                        id: format!("frozen {}", i + 1),
                        text: format!(
                            "{} keys · {} bytes · being flushed",
                            m.len(),
                            m.size_bytes()
                        ),
                        range: None,
                        followed: k.is_some_and(|k| m.get(k).is_some()),
                    }),
            );
            let mut rows = vec![DetailRow::new("memtables".to_owned(), memtables)];
            for (level, tables) in version.levels().iter().enumerate() {
                let items = tables
                    .iter()
                    .map(|t| DetailItem {
                        id: format!("#{}", t.id),
                        text: format!("{} keys · {} bytes", t.entries, t.size_bytes),
                        range: Some(key_range(&t.min_key, &t.max_key)),
                        followed: k.is_some_and(|k| {
                            t.min_key.as_slice() <= k && k <= t.max_key.as_slice()
                        }),
                    })
                    .collect();
                rows.push(DetailRow::new(format!("L{level}"), items));
            }
            rows
        });
        if let Some(k) = key {
            let k = k.as_bytes();
            p.location = Some(if active.get(k).is_some() {
                "in the active memtable (in memory; the WAL makes it durable)".to_owned()
            } else if lsm.immutable_memtables().any(|m| m.get(k).is_some()) {
                "in a frozen memtable, being flushed to a table".to_owned()
            } else {
                let covering: Vec<String> = version
                    .levels()
                    .iter()
                    .enumerate()
                    .flat_map(|(level, tables)| {
                        tables
                            .iter()
                            .filter(|t| t.min_key.as_slice() <= k && k <= t.max_key.as_slice())
                            .map(move |t| format!("L{level} {}", t.id))
                    })
                    .collect();
                if covering.is_empty() {
                    "in no memtable or table yet".to_owned()
                } else {
                    format!(
                        "in a table: a lookup probes {} (newest first; bloom filters skip the others)",
                        covering.join(", ")
                    )
                }
            });
        }
    } else if let Some(tree) = db.tree() {
        match shape(tree, db.storage() as &dyn Storage, MAX_PAGES_WALKED) {
            Ok(t) => {
                let leaves = t.pages.iter().filter(|pg| pg.children.is_empty()).count();
                p.shape.push(format!(
                    "height {}, {} pages of {} bytes ({} reached{})",
                    t.height,
                    t.page_count,
                    t.page_size,
                    if leaves == 1 {
                        "1 leaf".to_owned()
                    } else {
                        format!("{leaves} leaves")
                    },
                    if t.truncated { ", walk cut short" } else { "" }
                ));
                let mut path = Vec::new();
                if let Some(k) = key {
                    let k = k.as_bytes();
                    // The leaf whose range holds the key, else the leftmost leaf after
                    // it: where a put of the key landed.
                    let leaves: Vec<_> =
                        t.pages.iter().filter(|pg| pg.children.is_empty()).collect();
                    let holder = leaves
                        .iter()
                        .find(|pg| pg.last_key.as_deref().is_none_or(|last| k <= last))
                        .or(leaves.last());
                    p.location = holder.map(|pg| {
                        format!(
                            "in leaf {} (depth {}, {} keys, page LSN {})",
                            pg.id, pg.depth, pg.keys, pg.lsn.0
                        )
                    });
                    // A lookup's path: the leaf, then each parent up to the root (marked
                    // in the detail only).
                    let mut at = holder.filter(|_| detail).map(|pg| pg.id);
                    while let Some(id) = at {
                        path.push(id);
                        at = t
                            .pages
                            .iter()
                            .find(|pg| pg.children.contains(&id))
                            .map(|pg| pg.id);
                    }
                }
                p.detail = detail.then(|| {
                    (1..=t.height)
                        .map(|depth| {
                            let items = t
                                .level(depth)
                                .map(|pg| DetailItem {
                                    id: pg.id.to_string(),
                                    text: format!(
                                        "{} keys · {} % full · LSN {}",
                                        pg.keys,
                                        pg.used_bytes * 100 / u64::from(t.page_size.max(1)),
                                        pg.lsn.0
                                    ),
                                    range: match (&pg.first_key, &pg.last_key) {
                                        (Some(a), Some(b)) => Some(key_range(a, b)),
                                        _ => None,
                                    },
                                    followed: path.contains(&pg.id),
                                })
                                .collect();
                            let label = match (depth, t.height) {
                                (1, 1) => "depth 1 (the root is the only leaf)".to_owned(),
                                (1, _) => "depth 1 (the root)".to_owned(),
                                (d, h) if d == h => format!("depth {d} (leaves)"),
                                (d, _) => format!("depth {d}"),
                            };
                            DetailRow::new(label, items)
                        })
                        .collect()
                });
            }
            Err(e) => p.shape.push(format!("the tree could not be read: {e}")),
        }
    }
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline_state::{PipelineAction, PipelineState, Stage, TokenStage};
    use logspine_core::world::inspect::RAFT_LOG_SHOWN;
    use std::collections::BTreeSet;
    use std::rc::Rc;

    /// Every detailed view, as with every panel expanded: the tests look at them all.
    const ALL: Details = Details {
        index: true,
        raft_logs: true,
    };

    /// The events since the last call (the position only moves forward here).
    fn forward(run: &mut PipelineRun) -> Vec<TraceEvent> {
        match run.delta() {
            Delta::Forward(e) => e,
            Delta::Rewound(_) => panic!("the run moved back"),
        }
    }

    /// `calls` calls of `ticks` ticks each, every one folded into `state` with a picture.
    fn play(run: &mut PipelineRun, state: &mut PipelineState, calls: u32, ticks: u32) {
        for _ in 0..calls {
            run.tick(ticks);
            let events = forward(run);
            state.apply(PipelineAction::Engine {
                events,
                view: Rc::new(run.view(state.windows, None, ALL)),
            });
        }
    }

    /// Runs until settled (at most `max` ticks), folding into `state`.
    fn settle(run: &mut PipelineRun, state: &mut PipelineState, max: u32) {
        for _ in 0..max / 16 {
            run.tick(16);
            let events = forward(run);
            let view = run.view(
                state.windows,
                state.follow.as_ref().and_then(|f| f.commit_lsn),
                ALL,
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
        let view = run.view(state.windows, None, ALL);
        state.apply(PipelineAction::Started {
            events,
            view: Rc::new(view),
        });
        (run, state)
    }

    /// The form's first write.
    fn apple() -> Action {
        Action::Write {
            key: "apple".into(),
            value: "red fruit".into(),
        }
    }

    /// Four clients, 60 transactions of two writes over 20 keys.
    fn small_workload() -> Action {
        Action::Workload {
            clients: 4,
            transactions: 60,
            keys: 20,
            writes: 2,
        }
    }

    fn act(run: &mut PipelineRun, state: &mut PipelineState, action: &Action) {
        run.act(action).expect("accepted");
        let events = forward(run);
        let view = run.view(
            state.windows,
            state.follow.as_ref().and_then(|f| f.commit_lsn),
            ALL,
        );
        state.apply(PipelineAction::Engine {
            events,
            view: Rc::new(view),
        });
    }

    #[test]
    fn a_write_is_followed_into_the_topic_and_every_view_and_survives_a_crash() {
        let (mut run, mut s) = started(Mode::default(), 42);
        act(&mut run, &mut s, &apple());
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
        play(&mut run, &mut s, 20, 4);
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
        // The action applies at the position and the run takes one tick with it.
        let first = s.rebuild_permille("replica");
        assert!(first.is_some_and(|p| p < 100), "{first:?}");
        let mut seen = vec![];
        while s.rebuild_permille("replica").is_some() {
            run.tick(2);
            let events = forward(&mut run);
            s.apply(PipelineAction::Engine {
                events,
                view: Rc::new(run.view(s.windows, None, ALL)),
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
            play(&mut run, &mut s, 10, 3);
            act(&mut run, &mut s, &Action::Crash);
            settle(&mut run, &mut s, 40_000);
            // The application's last produce and the replica may trail the settling.
            play(&mut run, &mut s, 20, 16);
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
            run.act(&Action::Workload {
                clients: 4,
                transactions: 40,
                keys: 20,
                writes: 2,
            })
            .unwrap();
            all.extend(forward(&mut run));
            for i in 0..300 {
                run.tick(3);
                all.extend(forward(&mut run));
                if i == 100 {
                    run.act(&Action::Crash).unwrap();
                    all.extend(forward(&mut run));
                }
                if look {
                    let _ = run.view(Windows::default(), Some(5), ALL);
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
            play(&mut run, &mut s, 20, 16);
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

    /// The Raft cluster replicates the pipeline's database: the followed write reaches
    /// every node; with the leader crashed, a node cut off and the database crashed under
    /// a workload, every node that is up ends holding exactly the database's rows.
    #[test]
    fn raft_replicates_the_pipeline_through_its_faults() {
        let (mut run, mut s) = started(Mode::default(), 8);
        let write = Action::Write {
            key: "apple".into(),
            value: "red fruit".into(),
        };
        act(&mut run, &mut s, &write);
        settle(&mut run, &mut s, 4000);
        let v = s.view.clone().unwrap();
        let r = v.raft.clone().expect("a cluster");
        assert_eq!(r.nodes.len() as u64, RAFT_NODES);
        assert!(r.nodes.iter().all(|n| n.holds), "{r:?}");
        assert!(r
            .feed
            .as_ref()
            .is_some_and(|f| f.batches >= 1 && f.events == 1));
        assert_eq!(v.raft_equal.as_deref().map(<[_]>::len), Some(3));
        assert!(v.raft_equal.clone().unwrap().iter().all(|(_, ok)| *ok));
        let w = s.workload_action();
        act(&mut run, &mut s, &w);
        play(&mut run, &mut s, 10, 4);
        act(
            &mut run,
            &mut s,
            &Action::RaftCrash {
                target: "leader".into(),
            },
        );
        play(&mut run, &mut s, 10, 4);
        act(&mut run, &mut s, &Action::Crash);
        act(
            &mut run,
            &mut s,
            &Action::RaftPartition {
                side: vec!["follower".into()],
            },
        );
        play(&mut run, &mut s, 20, 4);
        let cut = s.view.as_ref().unwrap().raft.as_ref().unwrap();
        assert_eq!(cut.nodes.iter().filter(|n| n.cut_off).count(), 1, "{cut:?}");
        assert_eq!(cut.nodes.iter().filter(|n| !n.up).count(), 1, "{cut:?}");
        act(&mut run, &mut s, &Action::RaftHeal);
        act(&mut run, &mut s, &Action::RaftRestart);
        settle(&mut run, &mut s, 60_000);
        let v = s.view.clone().unwrap();
        assert!(v.failures.is_empty(), "{:?}", v.failures);
        let equal = v.raft_equal.clone().unwrap();
        assert_eq!(equal.len(), 3, "every node is up again");
        assert!(equal.iter().all(|(_, ok)| *ok), "{equal:?}");
        assert!(v.db_keys.unwrap() > 10);
        // Each node's newest log entries, for the panel's detailed view: consecutive
        // indexes ending at its last, after its snapshot, terms never going down, the
        // newest in the node's term or before it.
        for n in &v.raft.as_ref().unwrap().nodes {
            let log = &n.log;
            assert!(
                !log.is_empty() && log.len() as u64 <= RAFT_LOG_SHOWN,
                "{n:?}"
            );
            assert_eq!(log.last().unwrap().0, n.last_index, "{n:?}");
            assert!(log[0].0 > n.snapshot_index, "{n:?}");
            assert!(
                log.windows(2)
                    .all(|w| w[1].0 == w[0].0 + 1 && w[1].1 >= w[0].1),
                "{n:?}"
            );
            assert!(log.last().unwrap().1 <= n.term, "{n:?}");
        }
        // The end check says the same.
        let mut world = run.world().clone();
        let end = world.check_final(1000);
        assert!(
            end.iter().any(
                |k| matches!(k, logspine_core::world::TraceKind::InvariantChecked { name, ok: true, .. }
                if name == "raft_replicates_database")
            ),
            "{end:?}"
        );
    }

    /// The fold of everything up to a position, as the reducer gets it after a rewind.
    fn refold(run: &mut PipelineRun, events: Vec<TraceEvent>) -> PipelineState {
        let mut s = PipelineState::default();
        s.apply(PipelineAction::Rewound {
            events,
            view: Rc::new(run.view(s.windows, None, ALL)),
        });
        s
    }

    /// Time travel: back to before a crash the picture and the fold are the ones of that
    /// moment; forward again replays the very same events; an action in the past
    /// discards the recorded future and the run goes on from there.
    #[test]
    fn stepping_back_and_scrubbing_replay_the_recording_and_acting_in_the_past_branches() {
        let (mut run, _) = PipelineRun::new(Mode::default(), 77).unwrap();
        run.act(&small_workload()).unwrap();
        run.tick(40);
        let before_crash = run.position();
        let time_before = run.world().time();
        run.act(&Action::Crash).unwrap();
        run.tick(400);
        let _ = run.delta();
        let end = run.position();
        let recorded: Vec<TraceEvent> = run.run.timeline().trace().to_vec();
        assert_eq!(end, recorded.len() as u64);
        let view = run.view(Windows::default(), None, ALL);
        assert!(view.timeline.live());
        assert!(
            view.timeline
                .markers
                .iter()
                .any(|m| m.kind == "crash" && m.at > before_crash),
            "{:?}",
            view.timeline.markers
        );

        // Go to the crash marker: the first moment after its event.
        let crash_at = view
            .timeline
            .markers
            .iter()
            .find(|m| m.kind == "crash")
            .map(|m| m.at)
            .unwrap();
        run.seek_marker(crash_at);
        assert!(run.position() >= crash_at && run.position() < end);
        assert!(matches!(
            recorded[usize::try_from(crash_at - 1).unwrap()].kind,
            logspine_core::world::TraceKind::Crash { .. }
        ));
        let _ = run.delta();

        // Scrub back to before the crash: a rewind with exactly the recorded prefix.
        run.seek(before_crash);
        assert!(run.position() <= before_crash);
        assert_eq!(run.world().time(), time_before);
        let Delta::Rewound(events) = run.delta() else {
            panic!("a seek back is a rewind");
        };
        assert_eq!(events[..], recorded[..events.len()]);
        let s = refold(&mut run, events);
        assert_eq!(s.counters.db_crashes, 0);
        let v = s.view.clone().unwrap();
        assert!(!v.timeline.live());
        assert_eq!(v.timeline.recorded, end);

        // Step back twice, forward once: positions move by whole steps, never past the ends.
        let p = run.position();
        run.step_back();
        let q = run.position();
        assert!(q < p, "{q} < {p}");
        run.step_forward();
        assert!(run.position() > q);

        // Playing from the past replays the recording: the same events.
        run.seek(run.start());
        let _ = run.delta();
        while run.position() < end {
            run.tick(64);
        }
        let Delta::Forward(replayed) = run.delta() else {
            panic!("forward");
        };
        let start = usize::try_from(run.start()).unwrap();
        assert_eq!(replayed[..], recorded[start..replayed.len() + start]);

        // Back before the crash, act: the recorded crash is gone, the run goes on.
        run.seek(before_crash);
        let _ = run.delta();
        let cut = usize::try_from(run.position()).unwrap();
        run.act(&Action::Checkpoint).unwrap();
        run.tick(400);
        let trace = run.run.timeline().trace();
        assert_eq!(trace[..cut], recorded[..cut]);
        let crashes = |t: &[TraceEvent]| {
            t.iter()
                .filter(|e| matches!(e.kind, logspine_core::world::TraceKind::Crash { .. }))
                .count()
        };
        assert_eq!(crashes(trace), 0, "the recorded crash was discarded");
        assert_eq!(crashes(&recorded), 1);
        let view = run.view(Windows::default(), None, ALL);
        assert!(view.timeline.markers.iter().all(|m| m.kind != "crash"));
    }

    /// The index switch: the same pipeline over an LSM tree (memtable, flushes, tables)
    /// or a B-tree (a leaf page), the followed key located in it, CDC's views equal to
    /// the database either way, also after a crash.
    #[test]
    fn the_pipeline_runs_over_either_index_and_locates_the_followed_key() {
        for index in [IndexChoice::Lsm, IndexChoice::Btree] {
            let mode = Mode {
                index,
                ..Mode::default()
            };
            let (mut run, mut s) = started(mode, 31);
            act(
                &mut run,
                &mut s,
                &Action::Write {
                    key: "apple".into(),
                    value: "red fruit".into(),
                },
            );
            settle(&mut run, &mut s, 4000);
            let i = s.view.as_ref().unwrap().index.clone().expect("an index");
            let at = i.location.clone().unwrap_or_default();
            match index {
                IndexChoice::Lsm => {
                    assert_eq!(i.kind, "lsm");
                    assert!(at.starts_with("in the active memtable"), "{at}");
                }
                IndexChoice::Btree => {
                    assert_eq!(i.kind, "btree");
                    assert!(at.starts_with("in leaf page"), "{at}");
                }
            }
            let w = s.workload_action();
            act(&mut run, &mut s, &w);
            play(&mut run, &mut s, 30, 8);
            act(
                &mut run,
                &mut s,
                &Action::Write {
                    key: "apple".into(),
                    value: "green".into(),
                },
            );
            settle(&mut run, &mut s, 100_000);
            // More workloads until the B-tree's root has split.
            for _ in 0..6 {
                if index == IndexChoice::Lsm
                    || s.view
                        .as_ref()
                        .unwrap()
                        .index
                        .as_ref()
                        .unwrap()
                        .detail
                        .as_ref()
                        .map_or(0, Vec::len)
                        >= 2
                {
                    break;
                }
                let w = s.workload_action();
                act(&mut run, &mut s, &w);
                settle(&mut run, &mut s, 100_000);
            }
            // The detailed view: the B-tree's pages by depth with the key's path from the
            // root (one page a depth, each parent holding the next), or the LSM tree's
            // memtables and levels with the tables whose range covers the key.
            let i = s.view.as_ref().unwrap().index.clone().unwrap();
            let detail = i.detail.clone().expect("asked for");
            assert!(!detail.is_empty(), "{i:?}");
            let followed = |r: &DetailRow| r.items.iter().filter(|it| it.followed).count();
            match index {
                IndexChoice::Btree => {
                    assert!(detail.len() >= 2, "a workload makes the root split: {i:?}");
                    assert!(detail[0].label.contains("root"), "{:?}", detail[0]);
                    assert_eq!(detail[0].items.len(), 1, "one root");
                    for r in &detail {
                        assert_eq!(followed(r), 1, "one page a depth on the path: {r:?}");
                    }
                    let leaf = detail.last().unwrap();
                    let page = leaf.items.iter().find(|it| it.followed).unwrap();
                    assert!(
                        i.location
                            .as_deref()
                            .unwrap()
                            .contains(&format!("leaf {}", page.id)),
                        "{:?} {page:?}",
                        i.location
                    );
                }
                IndexChoice::Lsm => {
                    assert_eq!(detail[0].label, "memtables");
                    let tables: usize = detail[1..].iter().map(|r| r.items.len()).sum();
                    assert!(tables > 0, "the workload filled tables: {i:?}");
                    let covering: usize = detail.iter().map(followed).sum();
                    assert!(
                        covering >= 1,
                        "the key is in a memtable or a table covers it: {i:?}"
                    );
                    for r in &detail[1..] {
                        for it in &r.items {
                            let range = it.range.as_deref().unwrap();
                            assert!(range.contains(" … "), "{range}");
                        }
                    }
                }
            }
            // (The counters start again at a reopen: read them before the crash.)
            let i = s.view.as_ref().unwrap().index.clone().unwrap();
            assert!(i.write_amplification > 1.0, "{i:?}");
            act(&mut run, &mut s, &Action::Crash);
            settle(&mut run, &mut s, 100_000);
            let v = s.view.clone().unwrap();
            assert_eq!(v.views_equal(), Some(true), "{index:?}: {:?}", v.equal);
            assert!(v.failures.is_empty(), "{:?}", v.failures);
            let i = v.index.clone().unwrap();
            if index == IndexChoice::Lsm {
                assert!(s.counters.db_crashes == 1);
                assert!(
                    i.shape
                        .iter()
                        .any(|l| l.starts_with("L0") || l.starts_with("L1")),
                    "the memtable was flushed into tables: {:?}",
                    i.shape
                );
                assert!(
                    run.markers().iter().any(|m| m.kind.as_str() == "flush"),
                    "flushes are marked on the timeline"
                );
            }
            // Compact now: the LSM tree's levels merge down (a compaction marker); the
            // B-tree refuses and says why.
            let compactions = |run: &mut PipelineRun| {
                run.markers()
                    .iter()
                    .filter(|m| m.kind.as_str() == "compaction")
                    .count()
            };
            let before = compactions(&mut run);
            act(&mut run, &mut s, &Action::Compact);
            match index {
                IndexChoice::Lsm => {
                    settle(&mut run, &mut s, 100_000);
                    assert!(compactions(&mut run) > before, "a manual compaction ran");
                    let v = s.view.clone().unwrap();
                    assert_eq!(v.views_equal(), Some(true));
                }
                IndexChoice::Btree => {
                    assert!(s.announce.starts_with("Refused"), "{}", s.announce);
                }
            }
        }
    }

    /// The index's detail and the Raft nodes' logs are in a picture only while their
    /// panels are expanded (the shell's ids): none collapsed; asked for at the same moment
    /// (a paused run: no tick in between), each is there at once and the rest of the
    /// picture is the same.
    #[test]
    fn a_picture_holds_each_detail_only_while_its_panel_is_expanded() {
        for index in [IndexChoice::Btree, IndexChoice::Lsm] {
            let mode = Mode {
                index,
                ..Mode::default()
            };
            let (mut run, mut s) = started(mode, 5);
            act(
                &mut run,
                &mut s,
                &Action::Write {
                    key: "apple".into(),
                    value: "red".into(),
                },
            );
            settle(&mut run, &mut s, 4000);
            let at = run.position();
            let picture = |run: &mut PipelineRun, expanded: &[&str]| {
                let expanded: BTreeSet<&str> = expanded.iter().copied().collect();
                run.view(
                    Windows::default(),
                    None,
                    Details::of(|id| expanded.contains(id)),
                )
            };
            let logs = |v: &PipelineView| -> usize {
                v.raft
                    .as_ref()
                    .unwrap()
                    .nodes
                    .iter()
                    .map(|n| n.log.len())
                    .sum()
            };

            let collapsed = picture(&mut run, &[]);
            let i = collapsed.index.as_ref().expect("an index");
            assert_eq!(i.detail, None, "{index:?}: built while collapsed");
            assert!(
                !i.shape.is_empty() && i.location.is_some(),
                "the panel itself still has its shape and the key's place: {i:?}"
            );
            assert_eq!(logs(&collapsed), 0, "{:?}", collapsed.raft);

            let index_open = picture(&mut run, &["pipeline-index"]);
            let rows = index_open.index.as_ref().unwrap().detail.clone();
            let rows = rows.expect("built while expanded");
            assert!(!rows.is_empty());
            assert!(
                rows.iter().any(|r| r.items.iter().any(|it| it.followed)),
                "{index:?}: the followed key is marked: {rows:?}"
            );
            assert_eq!(logs(&index_open), 0, "only the expanded panel's detail");
            let mut without = index_open.clone();
            without.index.as_mut().unwrap().detail = None;
            assert_eq!(
                without, collapsed,
                "{index:?}: the rest is the same picture"
            );

            let raft_open = picture(&mut run, &["pipeline-raft"]);
            assert_eq!(raft_open.index.as_ref().unwrap().detail, None);
            let up = raft_open.raft.as_ref().unwrap().nodes.iter();
            assert!(
                up.filter(|n| n.up).all(|n| !n.log.is_empty()),
                "{raft_open:?}"
            );

            let both = picture(&mut run, &["pipeline-index", "pipeline-raft"]);
            assert_eq!(both.index.as_ref().unwrap().detail, Some(rows));
            assert_eq!(logs(&both), logs(&raft_open));
            assert_eq!(run.position(), at, "looking does not move the run");
        }
    }

    #[test]
    fn ticks_per_call_are_bounded() {
        let (mut run, _) = PipelineRun::new(Mode::default(), 1).unwrap();
        run.tick(u32::MAX);
        assert_eq!(run.world().time(), u64::from(MAX_TICKS_PER_CALL));
        assert!(!run.mode().dual_write);
    }

    #[test]
    fn a_saved_session_reopens_the_run_exactly_where_it_was() {
        let mode = Mode {
            dual_write: true,
            cleanup: Cleanup::Compacted,
            index: IndexChoice::Lsm,
        };
        let (mut run, _) = PipelineRun::new(mode, 0x5eed_0006 ^ 3).unwrap();
        run.act(&small_workload()).unwrap();
        run.tick(40);
        run.act(&apple()).unwrap();
        run.tick(30);
        run.act(&Action::Crash).unwrap();
        run.tick(300);
        // Back into the past: the session keeps the position and the recording's length,
        // and the reopened run has the same recorded future ahead.
        run.step_back();
        run.step_back();
        let (position, recorded) = (run.position(), run.recorded());
        assert!(position < recorded);
        let trace: Vec<TraceEvent> =
            run.run.timeline().trace()[..usize::try_from(position).unwrap()].to_vec();
        let text = run.session(3, false);
        assert!(
            text.starts_with(&format!(
                "pipeline=1;lsm.compacted.1;3;paused;past.{recorded};run=1."
            )),
            "{text}"
        );

        let r = PipelineRun::restore(&text).expect("reopened");
        assert_eq!((r.world, r.playing, r.crashed_at), (3, false, None));
        assert_eq!(r.run.mode(), mode);
        assert_eq!(r.run.position(), position);
        assert_eq!(r.events, trace, "the fold starts over the same events");
        assert_eq!(
            r.run.follow,
            Some(("apple".to_owned(), "red fruit".to_owned()))
        );
        let again = r.run;
        assert_eq!(
            again.session(3, false),
            text,
            "saving it again gives the same text"
        );
        assert_eq!(again.recorded(), recorded, "the recorded future is back");
        assert_eq!(
            again.run.timeline().trace(),
            run.run.timeline().trace(),
            "the same world, the same trace"
        );
    }

    #[test]
    fn a_damaged_session_is_a_message_not_a_panic() {
        let (mut run, _) = PipelineRun::new(Mode::default(), 9).unwrap();
        run.act(&Action::Crash).unwrap();
        run.tick(50);
        let good = run.session(1, true);
        assert!(PipelineRun::restore(&good).is_ok());
        let link = good.split_once(";run=").unwrap().1;
        let scenario_link = crate::scenario_run::ScenarioRun::load("group-commit", None)
            .unwrap()
            .link()
            .to_fragment();
        for (text, says) in [
            (String::new(), "another version"),
            (
                "pipeline=2;btree.keep.0;1;playing;live;run=1.e30".to_owned(),
                "another version",
            ),
            (
                format!("pipeline=1;btree.keep;1;playing;live;run={link}"),
                "its mode",
            ),
            (
                format!("pipeline=1;avl.keep.0;1;playing;live;run={link}"),
                "its mode",
            ),
            (
                format!("pipeline=1;btree.keep.0;one;playing;live;run={link}"),
                "its world number",
            ),
            (
                format!("pipeline=1;btree.keep.0;1;running;live;run={link}"),
                "play or pause",
            ),
            (
                "pipeline=1;btree.keep.0;1;playing;live;".to_owned(),
                "its run",
            ),
            (
                format!("pipeline=1;btree.keep.0;1;playing;now;run={link}"),
                "live or past",
            ),
            (
                "pipeline=1;btree.keep.0;1;playing;live;run=1.!!!".to_owned(),
                "damaged",
            ),
            (
                good[..good.len() - 7].to_owned(),
                "The saved pipeline is damaged",
            ),
            (
                format!("pipeline=1;btree.keep.0;1;playing;live;{scenario_link}"),
                "not a pipeline run",
            ),
        ] {
            let e = PipelineRun::restore(&text)
                .err()
                .unwrap_or_else(|| panic!("{text:?} reopened"));
            assert!(e.contains(says), "{text:?}: {e}");
        }
    }

    #[test]
    fn a_reload_of_a_live_run_crashes_every_machine_and_it_recovers() {
        let (mut run, mut s) = started(Mode::default(), 11);
        act(&mut run, &mut s, &apple());
        let w = s.workload_action();
        act(&mut run, &mut s, &w);
        play(&mut run, &mut s, 10, 4);
        // Mid-workload, live: the page dies.
        let (time, position) = (run.world().time(), run.position());
        let text = run.session(1, true);
        assert!(text.contains(";playing;live;run=1."), "{text}");
        let r = PipelineRun::restore(&text).expect("reopened");
        assert_eq!(r.crashed_at, Some(time));
        let kinds: Vec<&str> = r.events[usize::try_from(position).unwrap()..]
            .iter()
            .filter_map(|e| match &e.kind {
                logspine_core::world::TraceKind::Action { action } => Some(action.name()),
                _ => None,
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "crash",
                "crash_broker",
                "crash_connector",
                "raft_crash",
                "raft_crash",
                "raft_crash",
                "raft_restart"
            ],
            "every machine crashed, then the Raft nodes restarted"
        );
        // The fold sees the crashes; played on, everything recovers and agrees.
        let mut run = r.run;
        let mut s = PipelineState::default();
        let view = run.view(s.windows, None, ALL);
        s.apply(PipelineAction::Started {
            events: r.events,
            view: Rc::new(view),
        });
        assert_eq!((s.counters.db_crashes, s.counters.broker_crashes), (1, 1));
        settle(&mut run, &mut s, 60_000);
        let v = s.view.clone().unwrap();
        assert_eq!(v.views_equal(), Some(true), "{:?}", v.equal);
        assert!(v.failures.is_empty(), "{:?}", v.failures);
        let equal = v.raft_equal.clone().unwrap();
        assert_eq!(equal.len(), 3, "every Raft node is up again");
        assert!(equal.iter().all(|(_, ok)| *ok), "{equal:?}");
        assert!(v.db_keys.unwrap() > 1, "the acknowledged writes are back");
        // Saved again, it is live once more, and the next reload crashes it again.
        let again = PipelineRun::restore(&run.session(1, true)).unwrap();
        assert!(again.crashed_at.is_some());
    }
}
