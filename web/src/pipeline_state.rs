//! The pipeline view's pure state: the fold of the world's trace into what the view
//! animates, the engine's picture of the pipeline handed over by
//! [`crate::pipeline_run::PipelineRun::view`] ([`PipelineView`]), and the view's reducer
//! ([`PipelineState`]: the write form, play/pause and speed, the windows over the WAL and
//! the partition, the live region). Tested natively; the effects live in
//! [`crate::pipeline_view`].
//!
//! What the fold keeps, all from trace events the world emitted:
//! * **the followed write** ([`Follow`]): the form's last write, from its action through
//!   its WAL records (`record_appended`: its transaction and commit LSN), the commit's
//!   acknowledgement (`committed`), its capture by CDC (`cdc_captured`), its publication
//!   (`cdc_stored` at or past its commit), or its loss in a crash (`reopened` below its
//!   commit record) or a refusal (`action_refused`); the views that applied it come from
//!   the picture (each view's last applied commit);
//! * **transactions in flight** ([`Token`], at most [`MAX_TOKENS`]): each acknowledged
//!   commit moves WAL → CDC → topic → views as `committed`, `cdc_captured` and
//!   `cdc_stored` arrive, and into the views once every view applied its commit;
//! * tallies, the rebuilds finished, the dual-write losses, a short list of the
//!   pipeline's events ([`MAX_RECENT`], newest first), and one sentence for the polite
//!   live region on crashes, recoveries, rebuilds and divergence.

use logspine_core::vec_map::VecMap;
use std::collections::VecDeque;
use std::rc::Rc;

use logspine_core::world::inspect::{PipelineSnapshot, RecordLine, WalLine};
use logspine_core::world::{Action, TraceEvent, TraceKind};
use yew::Reducible;

use crate::scenario_state::{event_line, EventLine};

/// Records shown per window (WAL and partition).
pub const WINDOW: u64 = 12;
/// Pipeline events listed.
pub const MAX_RECENT: usize = 12;
/// Transactions in flight drawn at most (the newest).
pub const MAX_TOKENS: usize = 24;
/// Play speeds: ticks of virtual time per [`FRAME_MS`] (64 ticks cost a few ms natively:
/// a frame stays short).
pub const SPEEDS: [u32; 4] = [1, 4, 16, 64];
/// How often playing advances the world, in ms.
pub const FRAME_MS: u32 = 100;
/// Workload sizes offered (transactions of [`WORKLOAD_WRITES`] writes).
pub const WORKLOADS: [u32; 3] = [50, 1_000, 25_000];
/// Keys the workload writes (few enough that the views stay small, enough that few
/// transactions collide).
pub const WORKLOAD_KEYS: u32 = 5_000;
/// Writes per workload transaction.
pub const WORKLOAD_WRITES: u32 = 4;
/// Longest key the form accepts (the world's limit).
pub const MAX_KEY_BYTES: usize = 256;
/// Longest value the form accepts (the world's limit).
pub const MAX_VALUE_BYTES: usize = 4096;

/// How far the followed write got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// The action was applied; no WAL record seen yet.
    Sent,
    /// Its commit record is in the WAL (not durable yet).
    Appended,
    /// The commit is durable and acknowledged.
    Durable,
    /// CDC read the commit from the WAL and queued its change events.
    Captured,
    /// The broker acknowledged every event; the connector stored its position past it.
    Published,
    /// A crash lost it before it was durable.
    Lost,
    /// The world refused the write.
    Refused,
}

impl Stage {
    /// For the DOM hooks.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Sent => "sent",
            Stage::Appended => "appended",
            Stage::Durable => "durable",
            Stage::Captured => "captured",
            Stage::Published => "published",
            Stage::Lost => "lost",
            Stage::Refused => "refused",
        }
    }
}

/// The form's last write, followed through the pipeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Follow {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
    /// Its transaction, once its first WAL record is seen.
    pub txn: Option<u64>,
    /// Its commit record's LSN.
    pub commit_lsn: Option<u64>,
    /// How far it got.
    pub stage: Stage,
    /// Why it was refused or lost.
    pub reason: Option<String>,
}

impl Follow {
    /// Whether the view `v` (from the picture) has applied it.
    pub fn applied_by(&self, v: &logspine_core::world::inspect::ViewSnapshot) -> bool {
        self.stage == Stage::Published
            && !v.rebuilding
            && v.topic == logspine_core::world::CHANGES
            && self
                .commit_lsn
                .is_some_and(|c| v.applied_commit.is_some_and(|a| a >= c))
    }
}

/// Where a transaction in flight is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TokenStage {
    /// Committed and durable in the WAL.
    Wal,
    /// Captured by the connector, not yet acknowledged by the broker.
    Cdc,
    /// Acknowledged in the topic.
    Topic,
    /// Applied by every view.
    Views,
}

impl TokenStage {
    /// Every stage, in pipeline order.
    pub const ALL: [TokenStage; 4] = [
        TokenStage::Wal,
        TokenStage::Cdc,
        TokenStage::Topic,
        TokenStage::Views,
    ];

    /// For CSS and the DOM hooks.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenStage::Wal => "wal",
            TokenStage::Cdc => "cdc",
            TokenStage::Topic => "topic",
            TokenStage::Views => "views",
        }
    }

    /// For people.
    pub fn label(self) -> &'static str {
        match self {
            TokenStage::Wal => "Durable in the WAL",
            TokenStage::Cdc => "Captured by CDC",
            TokenStage::Topic => "In the topic",
            TokenStage::Views => "Applied by every view",
        }
    }
}

/// A committed transaction on its way through the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    /// The transaction.
    pub txn: u64,
    /// Its commit record.
    pub commit_lsn: u64,
    /// Its change events (known once captured).
    pub events: u64,
    /// Where it is.
    pub stage: TokenStage,
}

/// Tallies from the trace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Commits acknowledged.
    pub commits: u64,
    /// Transactions captured by CDC.
    pub captured: u64,
    /// Change events captured.
    pub events: u64,
    /// Positions the connector stored.
    pub stored: u64,
    /// Database crashes.
    pub db_crashes: u64,
    /// Broker crashes.
    pub broker_crashes: u64,
    /// Connector crashes.
    pub connector_crashes: u64,
    /// Views dropped for a rebuild.
    pub drops: u64,
    /// Rebuilds finished.
    pub rebuilds: u64,
    /// Dual writes produced by the application.
    pub dual_produced: u64,
    /// Acknowledged transactions the application never produced (lost in a crash).
    pub dual_lost: u64,
    /// Times retention dropped segments of a partition.
    pub retention_drops: u64,
    /// Compactions of a compacted partition.
    pub compactions: u64,
    /// Consumer group rebalances.
    pub rebalances: u64,
}

/// The engine's picture of the pipeline now.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PipelineView {
    /// The seed.
    pub seed: u64,
    /// Whether the application also writes to the topic `dual` itself.
    pub dual_write: bool,
    /// How `changes` is cleaned (`keep`, `retention`, `compacted`).
    pub cleanup: &'static str,
    /// The pipeline.
    pub snapshot: PipelineSnapshot,
    /// The WAL records in the window.
    pub wal_window: Vec<WalLine>,
    /// The partition's records in the window.
    pub record_window: Vec<RecordLine>,
    /// Where the followed write's events are in the topic (partition, offset).
    pub follow_offset: Option<(u32, u64)>,
    /// Each view against the database's rows, when the world is settled.
    pub equal: Option<Vec<(String, bool)>>,
    /// Each Raft node that is up against the database's rows, when the world is settled.
    pub raft_equal: Option<Vec<(u64, bool)>>,
    /// Keys in the database, when compared.
    pub db_keys: Option<usize>,
    /// Whether the workload still runs.
    pub workload_running: bool,
    /// Invariant failures, for people.
    pub failures: Vec<String>,
    /// The timeline: the position (events up to it), the first position, events
    /// recorded, whether the run reached its last tick, the markers of the recording.
    pub timeline: TimelineView,
    /// The database's index (`None` once the database could not be reopened).
    pub index: Option<IndexPicture>,
    /// The database disk's sync latency now, in ticks (`None`: closed or not uniform).
    pub sync_latency: Option<(u64, u64)>,
    /// The Raft cluster that replicates the database, and its feed.
    pub raft: Option<logspine_core::world::inspect::RaftPicture>,
}

/// The database's index in the picture.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IndexPicture {
    /// `btree` or `lsm`.
    pub kind: &'static str,
    /// Bytes written to the disk per byte of data written (WAL and index).
    pub write_amplification: f64,
    /// Index units visited per lookup (B-tree pages; LSM sources).
    pub read_amplification: f64,
    /// Bytes on the disk per live byte.
    pub space_amplification: f64,
    /// The index's shape, a line each.
    pub shape: Vec<String>,
    /// The followed key.
    pub key: Option<String>,
    /// Where it lives in the index.
    pub location: Option<String>,
    /// The index in detail, a row each: the B-tree's pages by depth (the root first), or
    /// the LSM tree's memtables and then each level's tables. `None` unless the picture
    /// was asked for it ([`Details::index`]: the panel is expanded).
    pub detail: Option<Vec<DetailRow>>,
}

/// Items listed per row of [`IndexPicture::detail`]; the rest are counted.
pub const DETAIL_ITEMS: usize = 24;

/// A row of the index in detail: a depth of the B-tree, the LSM tree's memtables, or a
/// level of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DetailRow {
    /// `depth 1 (the root)`, `depth 2 (leaves)`, `memtables`, `L0`, ...
    pub label: String,
    /// At most [`DETAIL_ITEMS`] of its pages or tables, in key order (the first followed
    /// one always among them).
    pub items: Vec<DetailItem>,
    /// How many of the row's items are not listed.
    pub more: usize,
}

/// A page, a memtable or a table in [`DetailRow`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DetailItem {
    /// `page 3`, `active`, `#12`.
    pub id: String,
    /// Its numbers: keys, bytes, fill, LSN.
    pub text: String,
    /// Its smallest and largest key, if it has keys.
    pub range: Option<String>,
    /// The followed key lives here, or a lookup of it passes through here (the B-tree's
    /// path from the root; the LSM tables whose range covers it).
    pub followed: bool,
}

impl DetailRow {
    /// A row of `items`, cut to [`DETAIL_ITEMS`] around the first followed one.
    pub fn new(label: String, mut items: Vec<DetailItem>) -> DetailRow {
        let more = items.len().saturating_sub(DETAIL_ITEMS);
        if more > 0 {
            let at = items.iter().position(|i| i.followed).unwrap_or(0);
            let from = at
                .saturating_sub(DETAIL_ITEMS / 2)
                .min(items.len() - DETAIL_ITEMS);
            items = items.drain(from..from + DETAIL_ITEMS).collect();
        }
        DetailRow { label, items, more }
    }
}

/// Where the pipeline's run is on its recording.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TimelineView {
    /// Events up to the position.
    pub position: u64,
    /// The first position (after the world's opening events).
    pub start: u64,
    /// Events recorded.
    pub recorded: u64,
    /// Virtual time at the position.
    pub time: u64,
    /// The run reached its last tick.
    pub finished: bool,
    /// Crashes, recoveries, checkpoints, flushes, compactions, elections.
    pub markers: Vec<crate::transport::TransportMarker>,
}

impl TimelineView {
    /// Whether the position is the end of the recording (play runs the world on).
    pub fn live(&self) -> bool {
        self.position >= self.recorded
    }
}

impl PipelineView {
    /// `true` when every view equals the database, `false` when one differs, `None` when
    /// not compared (the world is busy).
    pub fn views_equal(&self) -> Option<bool> {
        self.equal.as_ref().map(|e| e.iter().all(|(_, ok)| *ok))
    }

    /// The CDC views' partition (`changes`, partition 0).
    pub fn changes(&self) -> Option<&logspine_core::world::inspect::PartitionSnapshot> {
        self.snapshot
            .partitions
            .iter()
            .find(|p| p.topic == logspine_core::world::CHANGES && p.partition == 0)
    }
}

/// Phase of the view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Building the world.
    Starting,
    /// The world runs (or is paused).
    Running,
    /// The world could not be built.
    Failed,
}

impl Phase {
    /// For the DOM hooks.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Running => "running",
            Phase::Failed => "failed",
        }
    }
}

/// Which window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// The WAL (by LSN).
    Wal,
    /// The partition (by offset).
    Records,
}

/// How a window moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Move {
    /// The oldest records held.
    Oldest,
    /// One window back.
    Older,
    /// One window on.
    Newer,
    /// Follow the newest (the window moves with the log).
    Newest,
}

/// Where a window starts: `None` follows the newest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Windows {
    /// The WAL window's first LSN.
    pub wal: Option<u64>,
    /// The partition window's first offset.
    pub records: Option<u64>,
}

/// The index panel's id among the shell's expanded panels.
pub const INDEX_PANEL: &str = "pipeline-index";
/// The Raft panel's id among the shell's expanded panels.
pub const RAFT_PANEL: &str = "pipeline-raft";

/// Which detailed views a picture holds. A picture is made every frame while the run plays
/// (about 10 a second), so each detail is built only while its panel is expanded; opening
/// one makes a picture at once (a paused run makes no other).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Details {
    /// The index in detail ([`IndexPicture::detail`]): the panel [`INDEX_PANEL`].
    pub index: bool,
    /// Each Raft node's newest log entries
    /// ([`RaftNodeSnapshot::log`](logspine_core::world::inspect::RaftNodeSnapshot::log)):
    /// the panel [`RAFT_PANEL`].
    pub raft_logs: bool,
}

impl Details {
    /// The details of the panels `expanded` says are expanded (given a panel's id).
    pub fn of(expanded: impl Fn(&str) -> bool) -> Details {
        Details {
            index: expanded(INDEX_PANEL),
            raft_logs: expanded(RAFT_PANEL),
        }
    }
}

/// The view's reducer actions.
#[derive(Clone, Debug)]
pub enum PipelineAction {
    /// A (new) world was built: the fold starts again.
    Started {
        /// Its first events.
        events: Vec<TraceEvent>,
        /// The picture.
        view: Rc<PipelineView>,
    },
    /// The position moved back: the fold starts again over every event up to it.
    Rewound {
        /// The events up to the position.
        events: Vec<TraceEvent>,
        /// The picture.
        view: Rc<PipelineView>,
    },
    /// The world moved on or was acted on.
    Engine {
        /// The events since the last picture, in order.
        events: Vec<TraceEvent>,
        /// The picture.
        view: Rc<PipelineView>,
    },
    /// The world could not be built.
    Failed(String),
    /// A request was refused (shown in an alert).
    Error(String),
    /// The alert was dismissed.
    DismissError,
    /// Form draft.
    EditKey(String),
    /// Form draft.
    EditValue(String),
    /// Workload size (one of [`WORKLOADS`]).
    SetWorkload(u32),
    /// The world just started was reopened from the saved session: it was the page's
    /// `world`-th, and playing or not.
    Resumed {
        /// Its number (the next new world's seed comes from the one after).
        world: u64,
        /// Whether it was playing.
        playing: bool,
        /// The tick at which the reload crashed its machines (it was live).
        crashed_at: Option<u64>,
    },
    /// Play.
    Play,
    /// Pause.
    Pause,
    /// Ticks per frame (one of [`SPEEDS`]).
    SetSpeed(u32),
    /// A window's start.
    SetWindow(Which, Option<u64>),
}

/// The view's state.
#[derive(Clone, Debug, PartialEq)]
pub struct PipelineState {
    /// Phase.
    pub phase: Phase,
    /// The last picture.
    pub view: Option<Rc<PipelineView>>,
    /// The followed write.
    pub follow: Option<Follow>,
    /// Transactions in flight, oldest first.
    pub tokens: VecDeque<Token>,
    /// Tallies.
    pub counters: Counters,
    /// Rebuilds finished per view: (count, the offset the last one reached).
    pub rebuilt: VecMap<String, (u64, u64)>,
    /// Pipeline events, newest first.
    pub recent: VecDeque<EventLine>,
    /// The last divergence the trace reported (dual-write mode).
    pub diverged: Option<u64>,
    /// Worlds built (a mode switch builds a new one).
    pub worlds: u64,
    /// Pictures received (the clock's heartbeat).
    pub updates: u64,
    /// Whether the clock runs.
    pub playing: bool,
    /// Ticks per [`FRAME_MS`].
    pub speed: u32,
    /// The windows.
    pub windows: Windows,
    /// Form drafts.
    pub key: String,
    /// Form drafts.
    pub value: String,
    /// Workload transactions.
    pub workload: u32,
    /// The live region's text.
    pub announce: String,
    /// An error to show.
    pub error: Option<String>,
    /// Each view's lag (records behind the high watermark), sampled every
    /// [`LAG_SAMPLE_EVERY`] pictures: the views' small charts.
    pub lag_history: VecMap<String, crate::chart::Series>,
}

/// Pictures between two lag samples (the charts span [`crate::chart::MAX_SAMPLES`] of them).
pub const LAG_SAMPLE_EVERY: u64 = 8;

impl Default for PipelineState {
    fn default() -> Self {
        PipelineState {
            phase: Phase::Starting,
            view: None,
            follow: None,
            tokens: VecDeque::new(),
            counters: Counters::default(),
            rebuilt: VecMap::new(),
            recent: VecDeque::new(),
            diverged: None,
            worlds: 0,
            updates: 0,
            playing: true,
            speed: SPEEDS[1],
            windows: Windows::default(),
            key: "apple".to_owned(),
            value: "red fruit".to_owned(),
            workload: WORKLOADS[0],
            announce: String::new(),
            error: None,
            lag_history: VecMap::new(),
        }
    }
}

impl Reducible for PipelineState {
    type Action = PipelineAction;

    fn reduce(self: Rc<Self>, action: PipelineAction) -> Rc<Self> {
        let mut next = (*self).clone();
        next.apply(action);
        Rc::new(next)
    }
}

/// Whether an event goes in the pipeline's event list.
fn listed(kind: &TraceKind) -> bool {
    matches!(
        kind,
        TraceKind::Action { .. }
            | TraceKind::ActionRefused { .. }
            | TraceKind::Crash { .. }
            | TraceKind::Reopened { .. }
            | TraceKind::OpenFailed { .. }
            | TraceKind::ComponentCrashed { .. }
            | TraceKind::ViewDropped { .. }
            | TraceKind::ViewRebuilt { .. }
            | TraceKind::InvariantChecked { .. }
            | TraceKind::DualWriteLost { .. }
            | TraceKind::DualWriteDiverged { .. }
            | TraceKind::SegmentsDropped { .. }
            | TraceKind::TopicCompacted { .. }
            | TraceKind::ViewBehindRetention { .. }
            | TraceKind::ConsumerJoined { .. }
            | TraceKind::ConsumerLeft { .. }
            | TraceKind::Rebalanced { .. }
            | TraceKind::OffsetReset { .. }
            | TraceKind::ConsumerCaughtUp { .. }
    )
}

impl PipelineState {
    /// Folds one action in.
    pub fn apply(&mut self, action: PipelineAction) {
        match action {
            PipelineAction::Started { events, view } => {
                self.restart(true, events, view);
            }
            PipelineAction::Rewound { events, view } => {
                self.restart(false, events, view);
            }
            PipelineAction::Engine { events, view } => {
                self.updates += 1;
                if self.phase == Phase::Running {
                    self.engine(events, view);
                }
            }
            PipelineAction::Failed(e) => {
                self.phase = Phase::Failed;
                self.playing = false;
                self.error = Some(e);
            }
            PipelineAction::Error(e) => self.error = Some(e),
            PipelineAction::DismissError => {
                if self.phase != Phase::Failed {
                    self.error = None;
                }
            }
            PipelineAction::EditKey(k) => self.key = k,
            PipelineAction::EditValue(v) => self.value = v,
            PipelineAction::SetWorkload(n) => {
                if WORKLOADS.contains(&n) {
                    self.workload = n;
                }
            }
            PipelineAction::Play => self.playing = self.phase != Phase::Failed,
            PipelineAction::Pause => self.playing = false,
            PipelineAction::Resumed {
                world,
                playing,
                crashed_at,
            } => {
                self.worlds = world.max(1);
                self.playing = playing && self.phase != Phase::Failed;
                self.announce = match crashed_at {
                    Some(tick) => format!(
                        "The page was reloaded, and that was a crash: at tick {tick} every \
                         machine of the pipeline crashed and restarted from its disk. The \
                         database recovers from its WAL, the connector resumes from its \
                         stored position, the Raft nodes from their logs."
                    ),
                    None => "The page was reloaded: the run is back where it was.".to_owned(),
                };
            }
            PipelineAction::SetSpeed(s) => {
                if SPEEDS.contains(&s) {
                    self.speed = s;
                }
            }
            PipelineAction::SetWindow(which, from) => match which {
                Which::Wal => self.windows.wal = from,
                Which::Records => self.windows.records = from,
            },
        }
    }

    /// The fold starts again over `events`: a new world (`new_world`) or a move into the
    /// past. The visitor's choices (play, speed, drafts, workload size; on a rewind also
    /// the windows) are kept.
    fn restart(&mut self, new_world: bool, events: Vec<TraceEvent>, view: Rc<PipelineView>) {
        *self = PipelineState {
            worlds: self.worlds + u64::from(new_world),
            updates: self.updates + 1,
            playing: self.playing,
            speed: self.speed,
            key: std::mem::take(&mut self.key),
            value: std::mem::take(&mut self.value),
            workload: self.workload,
            windows: if new_world {
                Windows::default()
            } else {
                self.windows
            },
            ..PipelineState::default()
        };
        self.phase = Phase::Running;
        self.engine(events, view);
    }

    fn engine(&mut self, events: Vec<TraceEvent>, view: Rc<PipelineView>) {
        if self.updates % LAG_SAMPLE_EVERY == 1 {
            for v in &view.snapshot.views {
                if let Some(lag) = v.lag {
                    self.lag_history
                        .entry(v.name.clone())
                        .or_default()
                        .push(lag as f64);
                }
            }
        }
        let mut said = Vec::new();
        for e in &events {
            self.fold(e, &mut said);
        }
        // Into the views: every CDC view (not rebuilding) applied the commit.
        let views: Vec<_> = view
            .snapshot
            .views
            .iter()
            .filter(|v| v.topic == logspine_core::world::CHANGES && !v.rebuilding)
            .collect();
        for t in &mut self.tokens {
            if t.stage == TokenStage::Topic
                && !views.is_empty()
                && views
                    .iter()
                    .all(|v| v.applied_commit.is_some_and(|a| a >= t.commit_lsn))
            {
                t.stage = TokenStage::Views;
            }
        }
        if let Some(f) = &self.follow {
            if f.stage == Stage::Published {
                let prev = self.view.as_ref().map_or(0, |v| {
                    v.snapshot.views.iter().filter(|v| f.applied_by(v)).count()
                });
                let now = view
                    .snapshot
                    .views
                    .iter()
                    .filter(|v| f.applied_by(v))
                    .count();
                if now == views.len() && prev < now && !views.is_empty() {
                    said.push(format!("{} = {} reached every view.", f.key, f.value));
                }
            }
        }
        if !said.is_empty() {
            self.announce = said.join(" ");
        }
        self.view = Some(view);
    }

    fn token(&mut self, commit_lsn: u64) -> Option<&mut Token> {
        self.tokens.iter_mut().find(|t| t.commit_lsn == commit_lsn)
    }

    fn push_token(&mut self, t: Token) {
        self.tokens.push_back(t);
        while self.tokens.len() > MAX_TOKENS {
            self.tokens.pop_front();
        }
    }

    fn fold(&mut self, e: &TraceEvent, said: &mut Vec<String>) {
        if listed(&e.kind) {
            self.recent.push_front(event_line(e));
            self.recent.truncate(MAX_RECENT);
        }
        let c = &mut self.counters;
        match &e.kind {
            TraceKind::Action {
                action: Action::Write { key, value },
            } => {
                self.follow = Some(Follow {
                    key: key.clone(),
                    value: value.clone(),
                    txn: None,
                    commit_lsn: None,
                    stage: Stage::Sent,
                    reason: None,
                });
            }
            TraceKind::ActionRefused {
                action: Action::Write { key, value },
                reason,
            } => {
                self.follow = Some(Follow {
                    key: key.clone(),
                    value: value.clone(),
                    txn: None,
                    commit_lsn: None,
                    stage: Stage::Refused,
                    reason: Some(reason.clone()),
                });
                said.push(format!("The write of {key} was refused: {reason}"));
            }
            TraceKind::ActionRefused { action, reason } => {
                said.push(format!(
                    "Refused: {} ({reason}).",
                    crate::scenario_state::action_text(action)
                ));
            }
            TraceKind::SegmentsDropped {
                topic,
                partition,
                start,
            } => {
                c.retention_drops += 1;
                said.push(format!(
                    "Retention dropped the oldest segments of {topic}/{partition}: it starts at offset {start} now."
                ));
            }
            TraceKind::TopicCompacted {
                topic,
                partition,
                records,
                ..
            } => {
                c.compactions += 1;
                said.push(format!(
                    "Compaction of {topic}/{partition} kept each key's latest record: {} left.",
                    plural(*records, "record", "records")
                ));
            }
            TraceKind::ViewBehindRetention {
                view,
                position,
                start,
                ..
            } => {
                said.push(format!(
                    "The {view} view stopped at offset {position}: retention deleted the changes it needed (the topic starts at {start})."
                ));
            }
            TraceKind::Rebalanced { .. } => c.rebalances += 1,
            TraceKind::RecordAppended { lsn, kind, txn, .. } => {
                if let Some(f) = &mut self.follow {
                    match (f.stage, kind.as_str(), f.txn) {
                        (Stage::Sent, "update", None) => f.txn = *txn,
                        (Stage::Sent, "commit", Some(t)) if *txn == Some(t) => {
                            f.commit_lsn = Some(*lsn);
                            f.stage = Stage::Appended;
                        }
                        _ => {}
                    }
                }
            }
            TraceKind::Committed { txn, lsn, .. } => {
                c.commits += 1;
                if let Some(l) = lsn {
                    if self.token(*l).is_none() {
                        self.push_token(Token {
                            txn: *txn,
                            commit_lsn: *l,
                            events: 0,
                            stage: TokenStage::Wal,
                        });
                    }
                }
                if let Some(f) = &mut self.follow {
                    if f.stage == Stage::Appended && f.txn == Some(*txn) {
                        f.stage = Stage::Durable;
                    }
                }
            }
            TraceKind::CdcCaptured {
                commit_lsn,
                txn,
                events,
            } => {
                c.captured += 1;
                c.events += events;
                match self.token(*commit_lsn) {
                    Some(t) => {
                        t.events = *events;
                        t.stage = t.stage.max(TokenStage::Cdc);
                    }
                    None => self.push_token(Token {
                        txn: *txn,
                        commit_lsn: *commit_lsn,
                        events: *events,
                        stage: TokenStage::Cdc,
                    }),
                }
                if let Some(f) = &mut self.follow {
                    if f.commit_lsn == Some(*commit_lsn) && f.stage <= Stage::Durable {
                        f.stage = Stage::Captured;
                    }
                }
            }
            TraceKind::CdcStored { last_commit, .. } => {
                c.stored += 1;
                if let Some(last) = last_commit {
                    for t in &mut self.tokens {
                        if t.commit_lsn <= *last && t.stage < TokenStage::Topic {
                            t.stage = TokenStage::Topic;
                        }
                    }
                    if let Some(f) = &mut self.follow {
                        if f.commit_lsn.is_some_and(|l| l <= *last)
                            && (Stage::Durable..=Stage::Captured).contains(&f.stage)
                        {
                            f.stage = Stage::Published;
                        }
                    }
                }
            }
            TraceKind::Crash { .. } => {
                c.db_crashes += 1;
                said.push("The database crashed; recovery replays its WAL.".to_owned());
            }
            TraceKind::Reopened {
                wal_end, winners, ..
            } => {
                if let Some(f) = &mut self.follow {
                    let lost = match (f.stage, f.commit_lsn) {
                        (Stage::Sent, _) => true,
                        (Stage::Appended, Some(l)) => l >= *wal_end,
                        _ => false,
                    };
                    if lost {
                        f.stage = Stage::Lost;
                        f.reason = Some(format!(
                            "its commit record was not durable: the WAL recovered up to lsn {wal_end}"
                        ));
                    }
                }
                said.push(format!(
                    "The database recovered: its WAL ends at lsn {wal_end}, {winners} committed transactions found."
                ));
            }
            TraceKind::OpenFailed { error } => {
                said.push(format!("The database could not be reopened: {error}"));
            }
            TraceKind::ComponentCrashed { component, .. } => {
                match component.as_str() {
                    "broker" => c.broker_crashes += 1,
                    _ => c.connector_crashes += 1,
                }
                said.push(format!("The {component} crashed and restarted."));
            }
            TraceKind::ViewDropped { view } => {
                c.drops += 1;
                said.push(format!(
                    "The {view} view was dropped; it rebuilds from offset 0."
                ));
            }
            TraceKind::ViewRebuilt { view, offset, .. } => {
                c.rebuilds += 1;
                let r = self.rebuilt.entry(view.clone()).or_default();
                r.0 += 1;
                r.1 = *offset;
                said.push(format!(
                    "The {view} view was rebuilt from offset 0 to offset {offset}."
                ));
            }
            TraceKind::DualWriteProduced { .. } => c.dual_produced += 1,
            TraceKind::DualWriteLost { transactions } => {
                c.dual_lost += transactions;
                said.push(format!(
                    "Dual write: {} never reached the topic dual.",
                    plural(
                        *transactions,
                        "acknowledged transaction",
                        "acknowledged transactions"
                    )
                ));
            }
            TraceKind::DualWriteDiverged { keys } => {
                self.diverged = Some(*keys);
                said.push(if *keys == 0 {
                    "Dual write: the database and the dual replica agree again.".to_owned()
                } else {
                    format!(
                        "Dual write: the database and the dual replica differ on {}.",
                        plural(*keys, "key", "keys")
                    )
                });
            }
            _ => {}
        }
    }

    /// The tokens at `stage`, newest first, at most `n`.
    pub fn tokens_at(&self, stage: TokenStage, n: usize) -> Vec<Token> {
        self.tokens
            .iter()
            .rev()
            .filter(|t| t.stage == stage)
            .take(n)
            .copied()
            .collect()
    }

    /// The write form's action, or why it cannot be applied.
    pub fn write_action(&self) -> Result<Action, String> {
        let key = self.key.trim();
        if key.is_empty() {
            return Err("Type a key to write.".to_owned());
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(format!("A key is at most {MAX_KEY_BYTES} bytes."));
        }
        if self.value.len() > MAX_VALUE_BYTES {
            return Err(format!("A value is at most {MAX_VALUE_BYTES} bytes."));
        }
        Ok(Action::Write {
            key: key.to_owned(),
            value: self.value.clone(),
        })
    }

    /// The workload action for the chosen size.
    pub fn workload_action(&self) -> Action {
        Action::Workload {
            clients: 8,
            transactions: self.workload,
            keys: WORKLOAD_KEYS,
            writes: WORKLOAD_WRITES,
        }
    }

    /// The range `[first, end)` a window moves in, from the last picture.
    fn bounds(&self, which: Which) -> (u64, u64) {
        let Some(v) = &self.view else { return (0, 0) };
        match which {
            Which::Wal => v
                .snapshot
                .wal
                .as_ref()
                .map_or((0, 0), |w| (w.first_lsn, w.next_lsn)),
            Which::Records => v
                .changes()
                .map_or((0, 0), |p| (p.start_offset, p.high_watermark)),
        }
    }

    /// Where window `which` starts now (resolving "the newest").
    pub fn window_start(&self, which: Which) -> u64 {
        let (first, end) = self.bounds(which);
        let from = match which {
            Which::Wal => self.windows.wal,
            Which::Records => self.windows.records,
        };
        resolve(from, first, end)
    }

    /// The window's start after `m` (`None`: follow the newest).
    pub fn moved(&self, which: Which, m: Move) -> Option<u64> {
        let (first, end) = self.bounds(which);
        let newest = resolve(None, first, end);
        let at = self.window_start(which);
        let to = match m {
            Move::Newest => return None,
            Move::Oldest => first,
            Move::Older => at.saturating_sub(WINDOW).max(first),
            Move::Newer => at.saturating_add(WINDOW),
        };
        (to < newest).then_some(to)
    }

    /// Where window `which` was set to start (`None`: it follows the newest).
    pub fn window(&self, which: Which) -> Option<u64> {
        match which {
            Which::Wal => self.windows.wal,
            Which::Records => self.windows.records,
        }
    }

    /// Whether window `which` follows the newest records.
    pub fn following(&self, which: Which) -> bool {
        self.window(which).is_none()
    }

    /// The rebuild progress of view `name` in permille of the partition's high
    /// watermark (`None` when it is not rebuilding).
    pub fn rebuild_permille(&self, name: &str) -> Option<u64> {
        let v = self.view.as_ref()?;
        let view = v.snapshot.views.iter().find(|x| x.name == name)?;
        if !view.rebuilding {
            return None;
        }
        let hw = v.changes().map_or(0, |p| p.high_watermark);
        Some(
            (view.position.min(hw) * 1000)
                .checked_div(hw)
                .unwrap_or(1000),
        )
    }
}

/// `n` and the noun for it.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A window's start: `from`, or the newest [`WINDOW`] records of `[first, end)`.
fn resolve(from: Option<u64>, first: u64, end: u64) -> u64 {
    match from {
        Some(f) => f.clamp(first, end.max(first)),
        None => end.saturating_sub(WINDOW).max(first),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logspine_core::world::inspect::{PartitionSnapshot, ViewSnapshot, WalSnapshot};

    fn ev(seq: u64, kind: TraceKind) -> TraceEvent {
        TraceEvent {
            seq,
            time: seq,
            kind,
        }
    }

    fn write(key: &str) -> TraceKind {
        TraceKind::Action {
            action: Action::Write {
                key: key.into(),
                value: "v".into(),
            },
        }
    }

    fn appended(lsn: u64, kind: &str, txn: u64) -> TraceKind {
        TraceKind::RecordAppended {
            lsn,
            kind: kind.into(),
            txn: Some(txn),
            pages: vec![],
        }
    }

    fn view_of(applied: [Option<u64>; 3], rebuilding: [bool; 3], hw: u64) -> Rc<PipelineView> {
        let views = ["replica", "aggregate", "search"]
            .iter()
            .zip(applied)
            .zip(rebuilding)
            .map(|((name, applied_commit), rebuilding)| ViewSnapshot {
                name: (*name).into(),
                kind: "replica",
                topic: "changes".into(),
                position: hw / 2,
                lag: Some(hw - hw / 2),
                rebuilding,
                applied_commit,
                ..ViewSnapshot::default()
            })
            .collect();
        Rc::new(PipelineView {
            snapshot: PipelineSnapshot {
                wal: Some(WalSnapshot {
                    first_lsn: 10,
                    durable_next: 90,
                    next_lsn: 100,
                    ..WalSnapshot::default()
                }),
                partitions: vec![PartitionSnapshot {
                    topic: "changes".into(),
                    start_offset: 0,
                    high_watermark: hw,
                    next_offset: hw,
                    ..PartitionSnapshot::default()
                }],
                views,
                ..PipelineSnapshot::default()
            },
            ..PipelineView::default()
        })
    }

    fn started() -> PipelineState {
        let mut s = PipelineState::default();
        s.apply(PipelineAction::Started {
            events: vec![],
            view: view_of([None; 3], [false; 3], 0),
        });
        s
    }

    fn engine(s: &mut PipelineState, events: Vec<TraceKind>, view: Rc<PipelineView>) {
        let base = s.updates * 100;
        let events = events
            .into_iter()
            .enumerate()
            .map(|(i, k)| ev(base + i as u64, k))
            .collect();
        s.apply(PipelineAction::Engine { events, view });
    }

    #[test]
    fn a_followed_write_moves_through_every_stage_to_the_views() {
        let mut s = started();
        let idle = view_of([None; 3], [false; 3], 0);
        engine(
            &mut s,
            vec![
                write("apple"),
                appended(5, "update", 3),
                appended(6, "commit", 3),
            ],
            idle.clone(),
        );
        let f = s.follow.clone().unwrap();
        assert_eq!(
            (f.txn, f.commit_lsn, f.stage),
            (Some(3), Some(6), Stage::Appended)
        );
        // Another transaction's commit does not move it.
        engine(
            &mut s,
            vec![TraceKind::Committed {
                txn: 9,
                lsn: Some(4),
                latency: 1,
            }],
            idle.clone(),
        );
        assert_eq!(s.follow.as_ref().unwrap().stage, Stage::Appended);
        engine(
            &mut s,
            vec![TraceKind::Committed {
                txn: 3,
                lsn: Some(6),
                latency: 4,
            }],
            idle.clone(),
        );
        assert_eq!(s.follow.as_ref().unwrap().stage, Stage::Durable);
        assert_eq!(s.tokens_at(TokenStage::Wal, 10).len(), 2);
        engine(
            &mut s,
            vec![TraceKind::CdcCaptured {
                commit_lsn: 6,
                txn: 3,
                events: 1,
            }],
            idle.clone(),
        );
        assert_eq!(s.follow.as_ref().unwrap().stage, Stage::Captured);
        assert_eq!(s.tokens_at(TokenStage::Cdc, 10)[0].txn, 3);
        engine(
            &mut s,
            vec![TraceKind::CdcStored {
                resume: 7,
                last_commit: Some(6),
            }],
            idle,
        );
        assert_eq!(s.follow.as_ref().unwrap().stage, Stage::Published);
        // Both commits (4 and 6) are in the topic; the views have applied only 4.
        assert_eq!(s.tokens_at(TokenStage::Topic, 10).len(), 2);
        engine(
            &mut s,
            vec![],
            view_of([Some(6), Some(6), Some(4)], [false; 3], 2),
        );
        assert_eq!(s.tokens_at(TokenStage::Views, 10).len(), 1, "only commit 4");
        let v = s.view.clone().unwrap();
        let f = s.follow.clone().unwrap();
        assert_eq!(
            v.snapshot.views.iter().filter(|x| f.applied_by(x)).count(),
            2
        );
        assert!(!s.announce.contains("every view"));
        engine(&mut s, vec![], view_of([Some(6); 3], [false; 3], 2));
        assert_eq!(s.tokens_at(TokenStage::Views, 10).len(), 2);
        assert_eq!(s.announce, "apple = v reached every view.");
        // A rebuilding view has not applied it (it starts again from offset 0).
        let v = view_of([Some(6); 3], [false, false, true], 2);
        assert_eq!(
            v.snapshot.views.iter().filter(|x| f.applied_by(x)).count(),
            2
        );
        assert_eq!(s.counters.commits, 2);
        assert_eq!(
            (s.counters.captured, s.counters.events, s.counters.stored),
            (1, 1, 1)
        );
    }

    #[test]
    fn a_write_not_durable_at_a_crash_is_lost_and_a_refused_one_says_why() {
        let mut s = started();
        let idle = view_of([None; 3], [false; 3], 0);
        engine(
            &mut s,
            vec![
                write("fig"),
                appended(20, "update", 8),
                appended(21, "commit", 8),
            ],
            idle.clone(),
        );
        engine(
            &mut s,
            vec![
                TraceKind::Crash {
                    syncs_lost: 1,
                    ops_lost: 2,
                    torn: None,
                },
                TraceKind::Reopened {
                    wal_end: 20,
                    winners: 3,
                    losers: 0,
                    summary: String::new(),
                },
            ],
            idle.clone(),
        );
        let f = s.follow.clone().unwrap();
        assert_eq!(f.stage, Stage::Lost);
        assert!(f.reason.unwrap().contains("lsn 20"));
        assert_eq!(s.counters.db_crashes, 1);
        assert!(s.announce.contains("recovered"), "{}", s.announce);
        assert_eq!(s.recent.len(), 3, "the action, the crash, the reopening");
        assert_eq!(s.recent[0].kind, "reopened", "newest first");
        // A durable commit survives a crash.
        engine(
            &mut s,
            vec![
                write("kiwi"),
                appended(22, "update", 9),
                appended(23, "commit", 9),
                TraceKind::Committed {
                    txn: 9,
                    lsn: Some(23),
                    latency: 3,
                },
                TraceKind::Reopened {
                    wal_end: 24,
                    winners: 4,
                    losers: 0,
                    summary: String::new(),
                },
            ],
            idle.clone(),
        );
        assert_eq!(s.follow.as_ref().unwrap().stage, Stage::Durable);
        engine(
            &mut s,
            vec![TraceKind::ActionRefused {
                action: Action::Write {
                    key: "x".into(),
                    value: "y".into(),
                },
                reason: "the database is still rolling back losers".into(),
            }],
            idle,
        );
        let f = s.follow.clone().unwrap();
        assert_eq!((f.key.as_str(), f.stage), ("x", Stage::Refused));
        assert!(s.announce.contains("refused"));
    }

    #[test]
    fn tokens_are_bounded_and_rebuilds_and_dual_writes_are_tallied() {
        let mut s = started();
        let idle = view_of([None; 3], [false; 3], 0);
        let commits = (0..40)
            .map(|i| TraceKind::Committed {
                txn: i,
                lsn: Some(100 + i),
                latency: 1,
            })
            .collect();
        engine(&mut s, commits, idle.clone());
        assert_eq!(s.tokens.len(), MAX_TOKENS);
        assert_eq!(
            s.tokens.front().unwrap().txn,
            40 - MAX_TOKENS as u64,
            "the newest kept"
        );
        assert_eq!(s.tokens_at(TokenStage::Wal, 5).len(), 5);
        assert_eq!(s.tokens_at(TokenStage::Wal, 5)[0].txn, 39, "newest first");
        engine(
            &mut s,
            vec![
                TraceKind::ViewDropped {
                    view: "search".into(),
                },
                TraceKind::ViewRebuilt {
                    view: "search".into(),
                    offset: 77,
                    positions: vec![],
                },
                TraceKind::DualWriteProduced {
                    commit_lsn: 5,
                    records: 2,
                },
                TraceKind::DualWriteLost { transactions: 2 },
                TraceKind::DualWriteDiverged { keys: 3 },
                TraceKind::ComponentCrashed {
                    component: "broker".into(),
                    ops_lost: 1,
                },
                TraceKind::ComponentCrashed {
                    component: "connector".into(),
                    ops_lost: 0,
                },
            ],
            idle,
        );
        let c = s.counters;
        assert_eq!((c.drops, c.rebuilds), (1, 1));
        assert_eq!(s.rebuilt.get("search"), Some(&(1, 77)));
        assert_eq!((c.dual_produced, c.dual_lost), (1, 2));
        assert_eq!(s.diverged, Some(3));
        assert_eq!((c.broker_crashes, c.connector_crashes), (1, 1));
        assert!(s.announce.contains("differ on 3 keys"), "{}", s.announce);
        // A new world starts the fold again but keeps the settings.
        s.apply(PipelineAction::SetSpeed(64));
        s.apply(PipelineAction::EditKey("pear".into()));
        s.apply(PipelineAction::Started {
            events: vec![],
            view: view_of([None; 3], [false; 3], 0),
        });
        assert_eq!((s.worlds, s.speed, s.key.as_str()), (2, 64, "pear"));
        assert_eq!(s.counters, Counters::default());
        assert!(s.tokens.is_empty() && s.rebuilt.is_empty() && s.diverged.is_none());
    }

    #[test]
    fn retention_compaction_and_refusals_are_told() {
        let mut s = started();
        let idle = view_of([None; 3], [false; 3], 0);
        engine(
            &mut s,
            vec![TraceKind::SegmentsDropped {
                topic: "changes".into(),
                partition: 0,
                start: 120,
            }],
            idle.clone(),
        );
        assert_eq!(s.counters.retention_drops, 1);
        assert!(
            s.announce.contains("starts at offset 120"),
            "{}",
            s.announce
        );
        engine(
            &mut s,
            vec![TraceKind::ActionRefused {
                action: Action::RebuildView {
                    view: "replica".into(),
                },
                reason: "retention dropped offsets below 120".into(),
            }],
            idle.clone(),
        );
        assert!(s.announce.starts_with("Refused: "), "{}", s.announce);
        assert!(
            s.follow.is_none(),
            "a refused rebuild is not a followed write"
        );
        engine(
            &mut s,
            vec![
                TraceKind::ViewBehindRetention {
                    view: "search".into(),
                    position: 40,
                    start: 120,
                    partition: None,
                },
                TraceKind::TopicCompacted {
                    topic: "changes".into(),
                    partition: 0,
                    records: 1,
                    start: 7,
                },
            ],
            idle,
        );
        assert_eq!(s.counters.compactions, 1);
        assert!(
            s.announce.contains("search view stopped at offset 40"),
            "{}",
            s.announce
        );
        assert!(s.announce.contains("1 record left."), "{}", s.announce);
        let kinds: Vec<&str> = s.recent.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                "topic_compacted",
                "view_behind_retention",
                "action_refused",
                "segments_dropped"
            ]
        );
    }

    #[test]
    fn rebuild_progress_is_the_position_over_the_high_watermark() {
        let mut s = started();
        engine(
            &mut s,
            vec![],
            view_of([None; 3], [true, false, false], 400),
        );
        assert_eq!(s.rebuild_permille("replica"), Some(500));
        assert_eq!(s.rebuild_permille("aggregate"), None, "not rebuilding");
        assert_eq!(s.rebuild_permille("nope"), None);
    }

    #[test]
    fn windows_page_through_the_log_and_follow_the_newest() {
        let mut s = started();
        engine(&mut s, vec![], view_of([None; 3], [false; 3], 100));
        // WAL: lsn 10..100; the newest window starts at 88.
        assert!(s.following(Which::Wal));
        assert_eq!(s.window_start(Which::Wal), 100 - WINDOW);
        assert_eq!(s.moved(Which::Wal, Move::Newer), None, "already the newest");
        let older = s.moved(Which::Wal, Move::Older);
        assert_eq!(older, Some(100 - 2 * WINDOW));
        s.apply(PipelineAction::SetWindow(Which::Wal, older));
        assert!(!s.following(Which::Wal));
        assert_eq!(s.window_start(Which::Wal), 100 - 2 * WINDOW);
        assert_eq!(s.moved(Which::Wal, Move::Newer), None, "back to the newest");
        assert_eq!(s.moved(Which::Wal, Move::Oldest), Some(10));
        s.apply(PipelineAction::SetWindow(Which::Wal, Some(10)));
        assert_eq!(
            s.moved(Which::Wal, Move::Older),
            Some(10),
            "not below the first"
        );
        assert_eq!(s.moved(Which::Wal, Move::Newer), Some(10 + WINDOW));
        // Records: offsets 0..100.
        assert_eq!(s.window_start(Which::Records), 100 - WINDOW);
        assert_eq!(s.moved(Which::Records, Move::Oldest), Some(0));
        // A window past the end is clamped.
        s.apply(PipelineAction::SetWindow(Which::Records, Some(5000)));
        assert_eq!(s.window_start(Which::Records), 100);
        // Fewer records than a window: the oldest is the newest.
        assert_eq!(resolve(None, 3, 7), 3);
    }

    #[test]
    fn the_forms_check_their_input_and_settings_take_only_offered_values() {
        let mut s = PipelineState::default();
        s.apply(PipelineAction::EditKey("  ".into()));
        assert!(s.write_action().is_err());
        s.apply(PipelineAction::EditKey(" kiwi ".into()));
        s.apply(PipelineAction::EditValue("green".into()));
        assert_eq!(
            s.write_action(),
            Ok(Action::Write {
                key: "kiwi".into(),
                value: "green".into()
            })
        );
        s.apply(PipelineAction::EditValue("x".repeat(MAX_VALUE_BYTES + 1)));
        assert!(s.write_action().is_err());
        s.apply(PipelineAction::SetSpeed(3));
        assert_eq!(s.speed, SPEEDS[1]);
        s.apply(PipelineAction::SetWorkload(7));
        assert_eq!(s.workload, WORKLOADS[0]);
        s.apply(PipelineAction::SetWorkload(25_000));
        assert!(matches!(
            s.workload_action(),
            Action::Workload {
                transactions: 25_000,
                ..
            }
        ));
        assert!(s.workload_action().check().is_ok());
        s.apply(PipelineAction::Failed("boom".into()));
        assert!(!s.playing);
        s.apply(PipelineAction::Play);
        assert!(!s.playing, "a failed world does not play");
        s.apply(PipelineAction::DismissError);
        assert_eq!(s.error.as_deref(), Some("boom"), "the failure stays");
    }
}
