//! The scenario panel's pure state: the fold of a run's trace into what the panel shows
//! ([`fold`], [`markers`], [`describe`]), the snapshot of a run handed over by the engine
//! glue ([`RunView`], built by [`crate::scenario_run::ScenarioRun::view`]) and the
//! panel's reducer ([`ScenarioState`]: the picker, the seed, the write form, play/pause and
//! speed, the live region). Tested natively; the effects live in
//! [`crate::scenario_view`].
//!
//! Everything the panel animates comes from the trace up to the run's position: the
//! counters, the recent events, the invariant checks, the narration reached, and the
//! markers on the scrub track (from the whole recorded trace). The only other things read
//! from the world are its virtual time and, for the key list, a scan of its database.

use std::rc::Rc;

use logspine_core::world::{library, Action, TraceEvent, TraceKind};
use yew::Reducible;

/// Recent events shown.
pub const MAX_RECENT: usize = 15;
/// Keys shown (the rest are counted).
pub const MAX_KEYS: usize = 50;
/// Play speeds: ticks of virtual time per [`PLAY_INTERVAL_MS`].
pub const SPEEDS: [u32; 4] = [1, 4, 16, 64];
/// How often playing advances the run, in ms.
pub const PLAY_INTERVAL_MS: u32 = 50;
/// Longest key the write form accepts (the world's limit).
pub const MAX_KEY_BYTES: usize = 256;
/// Longest value the write form accepts (the world's limit).
pub const MAX_VALUE_BYTES: usize = 4096;

/// Counts of the events the panel tallies, up to the position.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Commits acknowledged (`committed`).
    pub commits: u64,
    /// Crashes (`crash`).
    pub crashes: u64,
    /// Checkpoints finished (`checkpoint_done`).
    pub checkpoints: u64,
    /// LSM flushes finished (`flush_done`).
    pub flushes: u64,
    /// LSM compactions finished (`compaction_done`).
    pub compactions: u64,
    /// WAL records appended (`record_appended`).
    pub records: u64,
    /// Syncs completed (`sync_done`).
    pub syncs: u64,
}

/// One event, for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventLine {
    /// Its sequence number.
    pub seq: u64,
    /// Its virtual time.
    pub time: u64,
    /// Its kind's JSON name (`crash`, `committed`, ...).
    pub kind: &'static str,
    /// What happened, in a sentence fragment.
    pub text: String,
}

/// An invariant check from the trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvariantView {
    /// The event's sequence number.
    pub seq: u64,
    /// When.
    pub time: u64,
    /// Which invariant.
    pub name: String,
    /// Whether it held.
    pub ok: bool,
    /// What was found.
    pub detail: String,
}

/// The trace up to a position, folded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fold {
    /// The tallies.
    pub counters: Counters,
    /// The last [`MAX_RECENT`] events, newest first.
    pub recent: Vec<EventLine>,
    /// Every invariant check, oldest first.
    pub invariants: Vec<InvariantView>,
    /// Narration steps reached (indexes, ascending).
    pub reached: Vec<usize>,
    /// The newest narration step reached and its text.
    pub narration: Option<(usize, String)>,
}

/// Folds `events` (a trace prefix) into what the panel shows.
pub fn fold(events: &[TraceEvent]) -> Fold {
    let mut f = Fold::default();
    for e in events {
        let c = &mut f.counters;
        match &e.kind {
            TraceKind::Committed { .. } => c.commits += 1,
            TraceKind::Crash { .. } | TraceKind::ComponentCrashed { .. } => c.crashes += 1,
            TraceKind::CheckpointDone { .. } => c.checkpoints += 1,
            TraceKind::FlushDone { .. } => c.flushes += 1,
            TraceKind::CompactionDone { .. } => c.compactions += 1,
            TraceKind::RecordAppended { .. } => c.records += 1,
            TraceKind::SyncDone { .. } => c.syncs += 1,
            TraceKind::InvariantChecked { name, ok, detail } => {
                f.invariants.push(InvariantView {
                    seq: e.seq,
                    time: e.time,
                    name: name.clone(),
                    ok: *ok,
                    detail: detail.clone(),
                });
            }
            TraceKind::Narration { step, text } => {
                let step = usize::try_from(*step).unwrap_or(usize::MAX);
                f.reached.push(step);
                f.narration = Some((step, text.clone()));
            }
            _ => {}
        }
    }
    f.recent = events
        .iter()
        .rev()
        .take(MAX_RECENT)
        .map(event_line)
        .collect();
    f
}

/// The event for people.
pub fn event_line(e: &TraceEvent) -> EventLine {
    EventLine {
        seq: e.seq,
        time: e.time,
        kind: e.kind.name(),
        text: describe(&e.kind),
    }
}

/// What kind of marker an event puts on the scrub track.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkerKind {
    /// `crash`.
    Crash,
    /// `reopened`: recovery brought the database back.
    Recovery,
    /// `checkpoint_done`.
    Checkpoint,
    /// `flush_done`.
    Flush,
    /// `compaction_done`.
    Compaction,
    /// `raft_role` to leader: an election won.
    Election,
}

impl MarkerKind {
    /// For CSS and the DOM hooks.
    pub fn as_str(self) -> &'static str {
        match self {
            MarkerKind::Crash => "crash",
            MarkerKind::Recovery => "recovery",
            MarkerKind::Checkpoint => "checkpoint",
            MarkerKind::Flush => "flush",
            MarkerKind::Compaction => "compaction",
            MarkerKind::Election => "election",
        }
    }

    /// For people.
    pub fn label(self) -> &'static str {
        match self {
            MarkerKind::Crash => "Crash",
            MarkerKind::Recovery => "Recovered",
            MarkerKind::Checkpoint => "Checkpoint",
            MarkerKind::Flush => "Flush",
            MarkerKind::Compaction => "Compaction",
            MarkerKind::Election => "Leader elected",
        }
    }
}

/// A marker on the scrub track: an event worth finding again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Marker {
    /// The event's sequence number (the track's value once it is reached is `seq + 1`).
    pub seq: u64,
    /// Its virtual time.
    pub time: u64,
    /// What it marks.
    pub kind: MarkerKind,
}

/// The markers of a whole recorded trace, in trace order.
pub fn markers(trace: &[TraceEvent]) -> Vec<Marker> {
    trace
        .iter()
        .filter_map(|e| {
            let kind = match e.kind {
                TraceKind::Crash { .. }
                | TraceKind::ComponentCrashed { .. }
                | TraceKind::RaftNode { up: false, .. } => MarkerKind::Crash,
                TraceKind::Reopened { .. } | TraceKind::ViewRebuilt { .. } => MarkerKind::Recovery,
                TraceKind::CheckpointDone { .. } => MarkerKind::Checkpoint,
                TraceKind::FlushDone { .. } => MarkerKind::Flush,
                TraceKind::CompactionDone { .. } | TraceKind::TopicCompacted { .. } => {
                    MarkerKind::Compaction
                }
                TraceKind::RaftRole { ref role, .. } if role == "leader" => MarkerKind::Election,
                _ => return None,
            };
            Some(Marker {
                seq: e.seq,
                time: e.time,
                kind,
            })
        })
        .collect()
}

/// An action, for people.
pub fn action_text(a: &Action) -> String {
    match a {
        Action::Write { key, value } => format!("write {key} = {value}"),
        Action::Delete { key } => format!("delete {key}"),
        Action::Read { key } => format!("read {key}"),
        Action::Workload {
            clients,
            transactions,
            keys,
            writes,
        } => format!(
            "workload: {clients} clients, {transactions} transactions of {writes} writes over {keys} keys"
        ),
        Action::Checkpoint => "checkpoint".to_owned(),
        Action::Crash => "crash".to_owned(),
        Action::SlowDisk { min, max } => format!("slow disk: syncs take {min} to {max} ticks"),
        Action::FlipBit { file, bit } => format!("flip bit {bit} of {file}"),
        Action::CrashBroker => "crash the broker".to_owned(),
        Action::CrashConnector => "crash the CDC connector".to_owned(),
        Action::RebuildView { view } => format!("drop and rebuild the {view} view"),
        Action::RaftCrash { target } => format!("crash Raft node {target}"),
        Action::RaftRestart => "restart the crashed Raft nodes".to_owned(),
        Action::RaftPartition { side } => format!("cut {} off from the others", side.join(", ")),
        Action::RaftHeal => "heal the Raft partition".to_owned(),
        Action::RaftWrite { key, value } => format!("write {key} = {value} through the Raft leader"),
        Action::JoinConsumer { consumer } => format!("{consumer} joins the consumer group"),
        Action::LeaveConsumer { consumer } => format!("{consumer} leaves the consumer group"),
        Action::SetPace {
            consumer,
            events_per_tick,
        } => format!("{consumer} reads {events_per_tick} records per tick"),
        Action::ResetOffset {
            consumer,
            to,
            partition,
        } => match partition {
            Some(p) => format!("reset {consumer}'s offset on partition {p} to {to}"),
            None => format!("reset {consumer}'s offset to {to}"),
        },
        Action::Compact => "compact now (the LSM tree, and a compacted topic)".to_owned(),
        Action::RaftLoss { percent } => format!("the Raft network loses {percent}% of messages"),
        Action::RaftDelay { min, max } => {
            format!("Raft messages take {min} to {max} ticks")
        }
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A trace event's kind, for people.
pub fn describe(kind: &TraceKind) -> String {
    match kind {
        TraceKind::Action { action } => format!("Action: {}", action_text(action)),
        TraceKind::ActionRefused { action, reason } => {
            format!("Refused: {} ({reason})", action_text(action))
        }
        TraceKind::ClientAborted { txn, reason } => format!("txn {txn} aborted: {reason}"),
        TraceKind::ReadResult { key, value } => match value {
            Some(v) => format!("Read {key}: {v}"),
            None => format!("Read {key}: absent"),
        },
        TraceKind::RecordAppended {
            lsn,
            kind,
            txn,
            pages: _,
        } => match txn {
            Some(t) => format!("WAL lsn {lsn} appended: {kind} (txn {t})"),
            None => format!("WAL lsn {lsn} appended: {kind}"),
        },
        TraceKind::SyncIssued {
            sync,
            covers,
            commits,
            reason,
        } => format!(
            "Sync {sync} issued ({reason}): covers lsn < {covers}, {}",
            plural(*commits, "commit", "commits")
        ),
        TraceKind::SyncDone { sync, ok } => {
            if *ok {
                format!("Sync {sync} done: durable")
            } else {
                format!("Sync {sync} failed")
            }
        }
        TraceKind::Committed { txn, lsn, latency } => match lsn {
            Some(l) => format!("txn {txn} committed at lsn {l}, acknowledged after {latency} ticks"),
            None => format!("txn {txn} committed (nothing written)"),
        },
        TraceKind::RolledBack { txn, undone } => format!(
            "txn {txn} rolled back ({} undone)",
            plural(*undone, "update", "updates")
        ),
        TraceKind::CheckpointBegan { redo, to_write } => {
            format!("Checkpoint began: redo from lsn {redo}, {to_write} to write")
        }
        TraceKind::PageFlushed { page } => format!("Page {page} written by the checkpointer"),
        TraceKind::CheckpointDone {
            lsn,
            redo,
            trimmed_segments,
        } => format!(
            "Checkpoint done at lsn {lsn} (redo {redo}), {} trimmed",
            plural(*trimmed_segments, "WAL segment", "WAL segments")
        ),
        TraceKind::Recovery { phase, case, lsn } => match lsn {
            Some(l) => format!("Recovery {phase} {case} at lsn {l}"),
            None => format!("Recovery {phase} {case}"),
        },
        TraceKind::MemtableFrozen { entries, bytes } => format!(
            "Memtable frozen: {}, {bytes} bytes",
            plural(*entries, "key", "keys")
        ),
        TraceKind::FlushStarted { table, bytes } => {
            format!("Flush started: table {table}, {bytes} bytes")
        }
        TraceKind::FlushDone {
            table,
            last_flushed_lsn,
        } => format!("Flush done: table {table} in L0, lsn ≤ {last_flushed_lsn} in tables"),
        TraceKind::CompactionPicked {
            reason,
            inputs,
            output_level,
            trivial_move,
        } => format!(
            "Compaction picked ({reason}): {} into L{output_level}{}",
            plural(inputs.len() as u64, "table", "tables"),
            if *trivial_move { ", a trivial move" } else { "" }
        ),
        TraceKind::CompactionDone {
            output_level,
            bytes_read,
            bytes_written,
            tables,
        } => format!(
            "Compaction done: {} in L{output_level}, {bytes_read} bytes read, {bytes_written} written",
            plural(tables.len() as u64, "table", "tables")
        ),
        TraceKind::Crash {
            syncs_lost,
            ops_lost,
            torn,
        } => format!(
            "Crash: {} in flight lost, {} lost{}",
            plural(*syncs_lost, "sync", "syncs"),
            plural(*ops_lost, "write", "writes"),
            torn.as_ref()
                .map(|f| format!(", last write to {f} torn"))
                .unwrap_or_default()
        ),
        TraceKind::BitFlipped { file, bit } => format!("Bit {bit} of {file} flipped"),
        TraceKind::Reopened {
            wal_end,
            winners,
            losers,
            summary: _,
        } => format!(
            "Reopened: WAL ends at lsn {wal_end}, {} found, {} to roll back",
            plural(*winners, "committed transaction", "committed transactions"),
            plural(*losers, "loser", "losers")
        ),
        TraceKind::OpenFailed { error } => format!("Could not reopen: {error}"),
        TraceKind::InvariantChecked { name, ok, detail } => format!(
            "Invariant {name}: {} ({detail})",
            if *ok { "held" } else { "FAILED" }
        ),
        TraceKind::CdcCaptured {
            commit_lsn,
            txn,
            events,
        } => format!(
            "CDC: txn {txn} (commit at lsn {commit_lsn}) captured as {}",
            plural(*events, "change event", "change events")
        ),
        TraceKind::CdcDiscarded { txn } => format!("CDC: txn {txn} aborted, nothing published"),
        TraceKind::CdcStored {
            resume,
            last_commit,
        } => match last_commit {
            Some(c) => format!("CDC: published through lsn {c}; resumes at lsn {resume}"),
            None => format!("CDC: position stored; resumes at lsn {resume}"),
        },
        TraceKind::ComponentCrashed {
            component,
            ops_lost,
        } => format!(
            "The {component} crashed ({} lost) and restarted",
            plural(*ops_lost, "write", "writes")
        ),
        TraceKind::ViewDropped { view } => format!("View {view} dropped: rebuilding from offset 0"),
        TraceKind::ViewRebuilt { view, offset, .. } => {
            format!("View {view} rebuilt to offset {offset}")
        }
        TraceKind::RaftRole { node, role, term } => {
            format!("Raft n{node} is {} in term {term}", role.replace('_', "-"))
        }
        TraceKind::RaftVote {
            node,
            candidate,
            term,
        } => format!("Raft n{node} votes for n{candidate} in term {term}"),
        TraceKind::RaftCommit { node, index } => {
            format!("Raft n{node} commits up to {index}: a majority holds it")
        }
        TraceKind::RaftSnapshot {
            node,
            index,
            installed,
        } => {
            if *installed {
                format!("Raft n{node} installs the leader's snapshot up to {index}")
            } else {
                format!("Raft n{node} snapshots its state at {index}; the log before it may go")
            }
        }
        TraceKind::RaftTruncated { node, from } => {
            format!("Raft n{node} drops its conflicting entries from {from}")
        }
        TraceKind::RaftReplicated { batch, events, .. } => format!(
            "Raft commits the feed's batch {batch}: {events} changes of the database, now on a \
             majority of the nodes"
        ),
        TraceKind::RaftNode { node, up } => {
            if *up {
                format!("Raft n{node} restarts from its disk")
            } else {
                format!("Raft n{node} crashes")
            }
        }
        TraceKind::RaftPartition { blocked } => {
            if blocked.is_empty() {
                "Raft: the partition healed".to_owned()
            } else {
                format!("Raft: {} links cut", blocked.len())
            }
        }
        TraceKind::RaftDropped { from, to, reason } => {
            format!("Raft: a message n{from} → n{to} was dropped ({reason})")
        }
        TraceKind::DualWriteProduced {
            commit_lsn,
            records,
        } => format!(
            "Dual write: the application produced commit {commit_lsn}'s {} to the topic itself",
            plural(*records, "record", "records")
        ),
        TraceKind::DualWriteLost { transactions } => format!(
            "Dual write: {} acknowledged by the database never reached the topic",
            plural(*transactions, "transaction", "transactions")
        ),
        TraceKind::DualWriteDiverged { keys } => format!(
            "Dual write: {} differ between the database and the dual replica",
            plural(*keys, "key", "keys")
        ),
        TraceKind::ConsumerJoined {
            consumer,
            generation,
        } => format!("{consumer} joins the group (generation {generation})"),
        TraceKind::ConsumerLeft {
            consumer,
            generation,
        } => format!("{consumer} leaves the group (generation {generation})"),
        TraceKind::Rebalanced {
            generation,
            assignment,
        } => format!(
            "Rebalance, generation {generation}: {}",
            assignment
                .iter()
                .map(|(m, ps)| format!("{m} {ps:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        TraceKind::OffsetCommitted {
            consumer,
            partition,
            offset,
        } => format!("{consumer} commits offset {offset} of partition {partition}"),
        TraceKind::OffsetReset {
            consumer,
            partition,
            offset,
        } => format!("{consumer}'s offset on partition {partition} moves to {offset}"),
        TraceKind::ConsumerCaughtUp {
            consumer, offset, ..
        } => {
            format!("{consumer} has replayed up to offset {offset}")
        }
        TraceKind::SegmentsDropped {
            topic,
            partition,
            start,
        } => format!("Retention drops old segments of {topic}-{partition}: it starts at offset {start}"),
        TraceKind::TopicCompacted {
            topic,
            partition,
            records,
            start: _,
        } => format!(
            "{topic}-{partition} compacted: {} left, the latest per key",
            plural(*records, "record", "records")
        ),
        TraceKind::ViewBehindRetention {
            view,
            position,
            start,
            ..
        } => format!(
            "View {view} stopped at offset {position}: retention dropped everything below {start}"
        ),
        TraceKind::Amplification {
            index,
            write_x100,
            read_x100,
            space_x100,
            ..
        } => format!(
            "{index}: write amplification {}.{:02}, {}.{:02} reads per lookup, space {}.{:02}",
            write_x100 / 100,
            write_x100 % 100,
            read_x100 / 100,
            read_x100 % 100,
            space_x100 / 100,
            space_x100 % 100
        ),
        TraceKind::Narration { step, text: _ } => format!("Narration step {} reached", step + 1),
    }
}

/// A run at its position, as the engine glue hands it over.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunView {
    /// The library name.
    pub name: String,
    /// The title.
    pub title: String,
    /// The seed the run uses.
    pub seed: u64,
    /// Events up to the position (the scrub track's value).
    pub position: u64,
    /// The first position (events of opening the database).
    pub start: u64,
    /// Events recorded (the scrub track's end).
    pub trace_len: u64,
    /// Virtual time at the position.
    pub time: u64,
    /// The tick the scenario ends at (then the run settles and checks).
    pub end_tick: u64,
    /// The run is over (the final check ran): nothing more happens.
    pub finished: bool,
    /// Every narration step's text.
    pub steps: Vec<String>,
    /// The trace up to the position, folded.
    pub fold: Fold,
    /// The last event reached.
    pub last: Option<EventLine>,
    /// The database's keys and values (at most [`MAX_KEYS`]).
    pub keys: Vec<(String, String)>,
    /// How many keys there are.
    pub key_count: usize,
    /// The markers of the whole recorded trace.
    pub markers: Vec<Marker>,
    /// The trace hash up to the position (16 hex digits): what the command-line runner
    /// prints for the same events (`None` where the view does not keep it).
    pub trace_hash: Option<String>,
}

impl RunView {
    /// At the end of the recorded trace: playing runs the world on, not a replay.
    pub fn at_frontier(&self) -> bool {
        self.position >= self.trace_len
    }

    /// Every narration step reached.
    pub fn all_reached(&self) -> bool {
        self.fold.reached.len() >= self.steps.len()
    }

    /// Whether step `i` of the narration has been reached.
    pub fn reached(&self, i: usize) -> bool {
        self.fold.reached.contains(&i)
    }

    /// `ok` when every check so far held, `failed` when one did, `none` before any.
    pub fn invariants_state(&self) -> &'static str {
        if self.fold.invariants.is_empty() {
            "none"
        } else if self.fold.invariants.iter().all(|i| i.ok) {
            "ok"
        } else {
            "failed"
        }
    }

    /// The scrub slider's `aria-valuetext`: time and the last event.
    pub fn value_text(&self) -> String {
        let at = format!(
            "tick {} of {}, event {} of {}",
            self.time, self.end_tick, self.position, self.trace_len
        );
        match &self.last {
            Some(e) => format!("{at}: {}", e.text),
            None => at,
        }
    }
}

/// The panel's reducer actions.
#[derive(Clone, Debug)]
pub enum ScenarioAction {
    /// The picker changed (the seed field takes that scenario's seed).
    Pick(String),
    /// The seed field changed.
    EditSeed(String),
    /// The write form's key changed.
    EditKey(String),
    /// The write form's value changed.
    EditValue(String),
    /// A run was loaded.
    Loaded(Rc<RunView>),
    /// The run moved or changed.
    Updated(Rc<RunView>),
    /// Play (replaying the recorded trace, then running the world on).
    Play,
    /// Pause.
    Pause,
    /// Ticks per interval (one of [`SPEEDS`]).
    SetSpeed(u32),
    /// Something failed.
    Failed(String),
    /// The error was read.
    DismissError,
}

/// The panel's state (module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct ScenarioState {
    /// The scenario the picker shows.
    pub picked: String,
    /// The seed field (empty: the scenario's own).
    pub seed_draft: String,
    /// The write form.
    pub key_draft: String,
    /// The write form.
    pub value_draft: String,
    /// Playing.
    pub playing: bool,
    /// Ticks per [`PLAY_INTERVAL_MS`].
    pub speed: u32,
    /// The run.
    pub run: Option<Rc<RunView>>,
    /// Runs loaded (the play loop of an older run stops).
    pub loads: u64,
    /// Updates of the run (the play loop's clock).
    pub updates: u64,
    /// An error to show.
    pub error: Option<String>,
    /// What the polite live region says: the newest narration reached.
    pub announce: String,
}

impl Default for ScenarioState {
    fn default() -> Self {
        let picked = library::names().next().unwrap_or_default().to_owned();
        ScenarioState {
            seed_draft: default_seed(&picked),
            picked,
            key_draft: "fig".to_owned(),
            value_draft: "purple".to_owned(),
            playing: false,
            speed: SPEEDS[1],
            run: None,
            loads: 0,
            updates: 0,
            error: None,
            announce: String::new(),
        }
    }
}

/// The library scenario's own seed, as the seed field shows it.
pub fn default_seed(name: &str) -> String {
    library::scenario(name)
        .map(|s| s.seed.to_string())
        .unwrap_or_default()
}

/// (name, title) of every library scenario, in teaching order.
pub fn library_titles() -> Vec<(&'static str, String)> {
    library::names()
        .map(|n| {
            let title = library::scenario(n).map(|s| s.title).unwrap_or_default();
            (n, title)
        })
        .collect()
}

impl Reducible for ScenarioState {
    type Action = ScenarioAction;

    fn reduce(self: Rc<Self>, action: ScenarioAction) -> Rc<Self> {
        let mut next = (*self).clone();
        next.apply(action);
        Rc::new(next)
    }
}

impl ScenarioState {
    /// Folds one action in.
    pub fn apply(&mut self, action: ScenarioAction) {
        match action {
            ScenarioAction::Pick(name) => {
                self.seed_draft = default_seed(&name);
                self.picked = name;
            }
            ScenarioAction::EditSeed(s) => self.seed_draft = s,
            ScenarioAction::EditKey(k) => self.key_draft = k,
            ScenarioAction::EditValue(v) => self.value_draft = v,
            ScenarioAction::Loaded(run) => {
                self.playing = false;
                self.loads += 1;
                self.updates += 1;
                self.error = None;
                self.announce = announcement(&run);
                self.run = Some(run);
            }
            ScenarioAction::Updated(run) => {
                if run.finished && run.at_frontier() {
                    self.playing = false;
                }
                let said = announcement(&run);
                if said != self.announce {
                    self.announce = said;
                }
                self.updates += 1;
                self.run = Some(run);
            }
            ScenarioAction::Play => {
                if self.run.is_some() {
                    self.playing = true;
                }
            }
            ScenarioAction::Pause => self.playing = false,
            ScenarioAction::SetSpeed(s) => {
                if SPEEDS.contains(&s) {
                    self.speed = s;
                }
            }
            ScenarioAction::Failed(e) => {
                self.playing = false;
                self.error = Some(e);
            }
            ScenarioAction::DismissError => self.error = None,
        }
    }

    /// The seed to load with: `None` for the scenario's own (empty field).
    pub fn seed(&self) -> Result<Option<u64>, String> {
        let s = self.seed_draft.trim();
        if s.is_empty() {
            return Ok(None);
        }
        s.parse::<u64>()
            .map(Some)
            .map_err(|_| format!("The seed must be a whole number from 0 to {}.", u64::MAX))
    }

    /// The write form's action, or why it cannot be applied.
    pub fn write_action(&self) -> Result<Action, String> {
        let key = self.key_draft.trim();
        if key.is_empty() {
            return Err("Type a key to write.".to_owned());
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(format!("A key is at most {MAX_KEY_BYTES} bytes."));
        }
        if self.value_draft.len() > MAX_VALUE_BYTES {
            return Err(format!("A value is at most {MAX_VALUE_BYTES} bytes."));
        }
        Ok(Action::Write {
            key: key.to_owned(),
            value: self.value_draft.clone(),
        })
    }

    /// Whether an action (write, crash, checkpoint) can be applied now: a run is loaded
    /// and not over.
    pub fn can_act(&self) -> bool {
        self.run.as_ref().is_some_and(|r| !r.finished)
    }

    /// Whether the run can step back.
    pub fn can_step_back(&self) -> bool {
        self.run.as_ref().is_some_and(|r| r.position > r.start)
    }

    /// Whether the run can step forward.
    pub fn can_step_forward(&self) -> bool {
        self.run
            .as_ref()
            .is_some_and(|r| !(r.finished && r.at_frontier()))
    }
}

/// The live region's sentence for a run: its newest narration reached.
fn announcement(run: &RunView) -> String {
    match &run.fold.narration {
        Some((i, text)) => format!("Step {} of {}: {text}", i + 1, run.steps.len()),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(seq: u64, time: u64, kind: TraceKind) -> TraceEvent {
        TraceEvent { seq, time, kind }
    }

    fn crash() -> TraceKind {
        TraceKind::Crash {
            syncs_lost: 1,
            ops_lost: 2,
            torn: Some("wal-0.seg".into()),
        }
    }

    fn sample() -> Vec<TraceEvent> {
        vec![
            ev(
                0,
                0,
                TraceKind::Action {
                    action: Action::Write {
                        key: "apple".into(),
                        value: "red".into(),
                    },
                },
            ),
            ev(
                1,
                1,
                TraceKind::Committed {
                    txn: 1,
                    lsn: Some(2),
                    latency: 20,
                },
            ),
            ev(
                2,
                2,
                TraceKind::Narration {
                    step: 0,
                    text: "first".into(),
                },
            ),
            ev(3, 5, crash()),
            ev(
                4,
                5,
                TraceKind::Reopened {
                    wal_end: 3,
                    winners: 1,
                    losers: 0,
                    summary: String::new(),
                },
            ),
            ev(
                5,
                6,
                TraceKind::InvariantChecked {
                    name: "acknowledged_commits_survive".into(),
                    ok: true,
                    detail: "fine".into(),
                },
            ),
            ev(
                6,
                7,
                TraceKind::CheckpointDone {
                    lsn: 9,
                    redo: 4,
                    trimmed_segments: 1,
                },
            ),
            ev(
                7,
                8,
                TraceKind::FlushDone {
                    table: 3,
                    last_flushed_lsn: 9,
                },
            ),
            ev(
                8,
                9,
                TraceKind::CompactionDone {
                    output_level: 1,
                    bytes_read: 10,
                    bytes_written: 8,
                    tables: vec![4],
                },
            ),
            ev(
                9,
                9,
                TraceKind::Narration {
                    step: 1,
                    text: "second".into(),
                },
            ),
        ]
    }

    #[test]
    fn the_fold_counts_lists_and_narrates_up_to_the_prefix() {
        let t = sample();
        let f = fold(&t[..4]);
        assert_eq!(f.counters.commits, 1);
        assert_eq!(f.counters.crashes, 1);
        assert_eq!(f.counters.checkpoints, 0);
        assert_eq!(f.reached, vec![0]);
        assert_eq!(f.narration, Some((0, "first".to_owned())));
        assert_eq!(
            f.recent.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![3, 2, 1, 0],
            "newest first"
        );
        assert!(f.invariants.is_empty());
        let f = fold(&t);
        assert_eq!(
            (
                f.counters.checkpoints,
                f.counters.flushes,
                f.counters.compactions
            ),
            (1, 1, 1)
        );
        assert_eq!(f.reached, vec![0, 1]);
        assert_eq!(f.narration, Some((1, "second".to_owned())));
        assert_eq!(f.invariants.len(), 1);
        assert!(f.invariants[0].ok);
        assert_eq!(f.invariants[0].time, 6);
    }

    #[test]
    fn the_recent_list_keeps_the_newest_few() {
        let t: Vec<TraceEvent> = (0..40).map(|i| ev(i, i, crash())).collect();
        let f = fold(&t);
        assert_eq!(f.recent.len(), MAX_RECENT);
        assert_eq!(f.recent[0].seq, 39);
        assert_eq!(f.recent[MAX_RECENT - 1].seq, 40 - MAX_RECENT as u64);
        assert_eq!(f.counters.crashes, 40);
    }

    #[test]
    fn markers_are_the_crashes_recoveries_checkpoints_flushes_and_compactions() {
        let m = markers(&sample());
        let got: Vec<(u64, &str)> = m.iter().map(|m| (m.seq, m.kind.as_str())).collect();
        assert_eq!(
            got,
            vec![
                (3, "crash"),
                (4, "recovery"),
                (6, "checkpoint"),
                (7, "flush"),
                (8, "compaction")
            ]
        );
        assert_eq!(m[0].time, 5);
        // A Raft election won is a marker; a node becoming a follower is not; a Raft node
        // crashing is a crash.
        let raft = vec![
            ev(
                0,
                1,
                TraceKind::RaftRole {
                    node: 2,
                    role: "follower".into(),
                    term: 1,
                },
            ),
            ev(
                1,
                2,
                TraceKind::RaftRole {
                    node: 3,
                    role: "leader".into(),
                    term: 1,
                },
            ),
            ev(2, 3, TraceKind::RaftNode { node: 3, up: false }),
        ];
        let got: Vec<(u64, &str)> = markers(&raft)
            .iter()
            .map(|m| (m.seq, m.kind.as_str()))
            .collect();
        assert_eq!(got, vec![(1, "election"), (2, "crash")]);
    }

    #[test]
    fn every_kind_reads_as_a_sentence() {
        for e in sample() {
            let text = describe(&e.kind);
            assert!(!text.is_empty());
        }
        assert_eq!(
            describe(&crash()),
            "Crash: 1 sync in flight lost, 2 writes lost, last write to wal-0.seg torn"
        );
        assert_eq!(
            describe(&TraceKind::ReadResult {
                key: "cherry".into(),
                value: None
            }),
            "Read cherry: absent"
        );
    }

    fn run_view(position: u64, trace_len: u64, finished: bool, reached: usize) -> Rc<RunView> {
        let steps = vec!["a".to_owned(), "b".to_owned()];
        let mut fold = Fold::default();
        for (i, text) in steps.iter().enumerate().take(reached) {
            fold.reached.push(i);
            fold.narration = Some((i, text.clone()));
        }
        Rc::new(RunView {
            name: "log-is-the-truth".into(),
            position,
            start: 3,
            trace_len,
            finished,
            steps,
            fold,
            ..RunView::default()
        })
    }

    #[test]
    fn playing_stops_at_the_end_and_the_live_region_follows_the_narration() {
        let mut s = ScenarioState::default();
        assert_eq!(s.picked, "log-is-the-truth");
        assert_eq!(s.seed_draft, "1");
        s.apply(ScenarioAction::Play);
        assert!(!s.playing, "nothing to play before a run is loaded");
        s.apply(ScenarioAction::Loaded(run_view(3, 3, false, 0)));
        assert_eq!(s.announce, "");
        assert!(!s.can_step_back());
        assert!(s.can_step_forward());
        s.apply(ScenarioAction::Play);
        assert!(s.playing);
        s.apply(ScenarioAction::Updated(run_view(10, 10, false, 1)));
        assert!(s.playing);
        assert_eq!(s.announce, "Step 1 of 2: a");
        // Scrubbed back into a finished run's past: still playing (a replay).
        s.apply(ScenarioAction::Updated(run_view(5, 20, false, 1)));
        assert!(s.playing);
        assert!(s.can_act(), "not the run's end: an action branches");
        s.apply(ScenarioAction::Updated(run_view(20, 20, true, 2)));
        assert!(!s.playing, "the run is over");
        assert_eq!(s.announce, "Step 2 of 2: b");
        assert!(!s.can_act());
        assert!(!s.can_step_forward());
        assert!(s.can_step_back());
    }

    #[test]
    fn picking_sets_the_seed_and_bad_input_is_refused() {
        let mut s = ScenarioState::default();
        s.apply(ScenarioAction::Pick("group-commit".into()));
        assert_eq!(s.seed_draft, "2");
        assert_eq!(s.seed(), Ok(Some(2)));
        s.apply(ScenarioAction::EditSeed(" ".into()));
        assert_eq!(s.seed(), Ok(None));
        s.apply(ScenarioAction::EditSeed("-4".into()));
        assert!(s.seed().is_err());
        s.apply(ScenarioAction::EditKey("  ".into()));
        assert!(s.write_action().is_err());
        s.apply(ScenarioAction::EditKey(" kiwi ".into()));
        s.apply(ScenarioAction::EditValue("green".into()));
        assert_eq!(
            s.write_action(),
            Ok(Action::Write {
                key: "kiwi".into(),
                value: "green".into()
            })
        );
        s.apply(ScenarioAction::SetSpeed(3));
        assert_eq!(s.speed, SPEEDS[1], "only the offered speeds");
        s.apply(ScenarioAction::SetSpeed(64));
        assert_eq!(s.speed, 64);
        s.apply(ScenarioAction::Failed("boom".into()));
        assert_eq!(s.error.as_deref(), Some("boom"));
        s.apply(ScenarioAction::DismissError);
        assert_eq!(s.error, None);
    }

    #[test]
    fn the_library_is_offered_with_titles() {
        let l = library_titles();
        assert!(l.len() >= 5);
        assert_eq!(l[0].0, "log-is-the-truth");
        assert!(l.iter().all(|(_, t)| !t.is_empty()));
    }

    #[test]
    fn the_slider_text_names_the_time_and_the_event() {
        let mut r = (*run_view(4, 10, false, 0)).clone();
        r.time = 82;
        r.end_tick = 321;
        r.last = Some(event_line(&ev(3, 82, crash())));
        assert_eq!(
            r.value_text(),
            "tick 82 of 321, event 4 of 10: Crash: 1 sync in flight lost, 2 writes lost, last write to wal-0.seg torn"
        );
        assert_eq!(r.invariants_state(), "none");
        assert!(!r.at_frontier());
    }
}
