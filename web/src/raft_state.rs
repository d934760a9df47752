//! The Raft cluster view's pure state: a fold over the simulator's trace
//! ([`TraceEvent`]s from [`Cluster::take_trace`](logspine_core::raft::sim::Cluster::take_trace))
//! and the engine's snapshots of the five nodes ([`ClusterView`]), plus the forms.
//! Tested natively; the effects live in [`crate::raft_view`], the engine glue in
//! [`crate::raft_run`].
//!
//! The fold ([`TraceFold`]) is kept by the recording ([`crate::raft_record`]), not here:
//! it is part of every snapshot, so that the picture at any position is a pure function of
//! the run (seek restores a snapshot and replays). What it keeps beyond the engine's picture:
//! * the messages in flight: every `Sent` event until the virtual time it arrives;
//! * a short event log ([`MAX_LOG`] lines, newest first) in plain words: elections, votes,
//!   leaders, commits (the leader's, consecutive ones merged), snapshots, truncations,
//!   crashes, restarts, partitions;
//! * one sentence for the polite live region on every election result and leader loss.
//!
//! This module's [`RaftViewState`] holds the last [`RaftFrame`] (picture, fold, the
//! timeline's markers and chart samples at the position) and the forms.

use std::collections::VecDeque;
use std::rc::Rc;

use logspine_core::raft::sim::{TraceEvent, TraceKind};
use logspine_core::raft::{NodeEvent, NodeId, Role};
use logspine_core::vec_map::VecSet;

use crate::chart::Series;

/// Event log lines kept.
pub const MAX_LOG: usize = 15;
/// Messages in flight kept at most (the oldest go first).
pub const MAX_FLIGHTS: usize = 60;

/// One log entry, for the view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryView {
    /// Its index.
    pub index: u64,
    /// Its term.
    pub term: u64,
    /// "no-op", "config", "k=v".
    pub label: String,
    /// On the leader: how many live nodes hold this entry (same index and term).
    pub holders: Option<u8>,
}

/// One node, for the view.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeView {
    /// Its id.
    pub id: NodeId,
    /// Whether it is up (a down node's other fields are its last known state).
    pub up: bool,
    /// Its role.
    pub role: Option<Role>,
    /// Its term.
    pub term: u64,
    /// The leader it knows of.
    pub leader: Option<NodeId>,
    /// Commit index.
    pub commit: u64,
    /// Applied index.
    pub applied: u64,
    /// Last log index.
    pub last: u64,
    /// Highest index durable on its disk.
    pub durable: u64,
    /// The snapshot's last index (0: none).
    pub snapshot: u64,
    /// The first entry still in its log.
    pub first: u64,
    /// The newest entries after the snapshot (at most [`crate::raft_run::MAX_ENTRIES_SHOWN`]).
    pub entries: Vec<EntryView>,
    /// Keys in its state machine.
    pub keys: usize,
    /// CRC32C of its state machine's bytes.
    pub state_hash: u32,
}

impl NodeView {
    /// Entries after the snapshot that are not drawn (older than the drawn ones).
    pub fn hidden(&self) -> u64 {
        let drawn_from = self.entries.first().map_or(self.last + 1, |e| e.index);
        drawn_from.saturating_sub(self.snapshot + 1)
    }
}

/// The last write from the form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteView {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
    /// The node it was last sent to, while unacknowledged.
    pub waiting_on: Option<NodeId>,
    /// Who acknowledged it.
    pub acked_by: Option<NodeId>,
    /// Its log index, once acknowledged (if still in a log).
    pub index: Option<u64>,
    /// Live nodes whose log (or snapshot) holds it.
    pub holders: u8,
    /// Live nodes that applied it.
    pub applied_on: u8,
    /// Attempts so far (retries after a timeout or a redirect).
    pub attempts: u32,
}

/// The engine's picture of the cluster now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterView {
    /// Virtual time in ticks (1 tick = 1 ms of cluster time).
    pub now: u64,
    /// The five nodes.
    pub nodes: Vec<NodeView>,
    /// The live leader with the highest term.
    pub leader: Option<NodeId>,
    /// Nodes cut off on side B (empty: no partition).
    pub side_b: Vec<NodeId>,
    /// Message loss, percent.
    pub loss_pct: u32,
    /// Whether the client workload runs.
    pub workload: bool,
    /// Workload writes acknowledged.
    pub workload_acked: u64,
    /// The form's last write.
    pub write: Option<WriteView>,
    /// Form writes waiting behind it.
    pub queued: usize,
    /// Why the simulation stopped, if it did.
    pub stopped: Option<String>,
}

/// Cluster ticks between two samples of the charts: 120 samples span 12 seconds of
/// cluster time (two minutes of the page's time at the default 0.1×).
pub const CHART_EVERY_TICKS: u64 = 100;

/// One sample of the charts, taken by the recording at every [`CHART_EVERY_TICKS`]th tick.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChartSample {
    /// The tick.
    pub at: u64,
    /// Leaders elected since the cluster started.
    pub elections: u64,
    /// The highest commit index any node knows (a down node's last known one included).
    pub commit: u64,
}

/// The cluster's small charts at the position: the last [`crate::chart::MAX_SAMPLES`]
/// samples at or before it (never invented: each is a fold count and an engine figure at
/// its tick). Leaders elected so far, the commit index, and entries committed per second
/// of cluster time between two samples.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RaftCharts {
    /// Leaders elected since the cluster started (one per leader change).
    pub elections: Series,
    /// The highest commit index any node knows (a down node's last known one included).
    pub commit: Series,
    /// Entries committed per second of cluster time over each sample interval.
    pub commits_per_sec: Series,
}

impl RaftCharts {
    /// The charts drawn from `samples` (oldest first; only the newest
    /// [`crate::chart::MAX_SAMPLES`] are kept, plus one before them for the first rate).
    pub fn from_samples(samples: &[ChartSample]) -> RaftCharts {
        let mut c = RaftCharts::default();
        let from = samples.len().saturating_sub(crate::chart::MAX_SAMPLES + 1);
        let mut prev: Option<&ChartSample> = None;
        for (i, s) in samples[from..].iter().enumerate() {
            if i > 0 || from == 0 {
                c.elections.push(s.elections as f64);
                c.commit.push(s.commit as f64);
            }
            if let Some(p) = prev {
                // 1 tick = 1 ms of cluster time.
                let ticks = s.at.saturating_sub(p.at);
                if ticks > 0 {
                    c.commits_per_sec
                        .push(s.commit.saturating_sub(p.commit) as f64 * 1000.0 / ticks as f64);
                }
            }
            prev = Some(s);
        }
        c
    }
}

/// A moment marked on the timeline: a crash, a restart, a leader elected, a snapshot taken
/// or installed (a log compaction).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaftMarker {
    /// Its tick.
    pub at: u64,
    /// `crash`, `recovery`, `election` or `compaction` (the transport's marker classes).
    pub kind: &'static str,
    /// In plain words.
    pub text: String,
}

/// A message in flight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flight {
    /// Sender.
    pub from: NodeId,
    /// Receiver.
    pub to: NodeId,
    /// `AppendEntries`, …
    pub kind: &'static str,
    /// Its term.
    pub term: u64,
    /// Entries (or snapshot bytes) carried.
    pub entries: u64,
    /// For responses.
    pub ok: Option<bool>,
    /// Sent at (virtual tick).
    pub sent_at: u64,
    /// Arrives at.
    pub arrives_at: u64,
}

impl Flight {
    /// Short class for colouring: vote, append, ack, snapshot.
    pub fn class(&self) -> &'static str {
        match self.kind {
            "PreVote" | "RequestVote" | "PreVoteResponse" | "RequestVoteResponse" => "vote",
            "AppendEntries" if self.entries == 0 => "heartbeat",
            "AppendEntries" => "append",
            "InstallSnapshot" | "InstallSnapshotResponse" => "snapshot",
            _ => "ack",
        }
    }

    /// In plain words.
    pub fn text(&self) -> String {
        let what = match (self.kind, self.ok) {
            ("PreVote", _) => "pre-vote request".to_owned(),
            ("RequestVote", _) => "vote request".to_owned(),
            ("PreVoteResponse", Some(true)) => "pre-vote granted".to_owned(),
            ("PreVoteResponse", _) => "pre-vote refused".to_owned(),
            ("RequestVoteResponse", Some(true)) => "vote granted".to_owned(),
            ("RequestVoteResponse", _) => "vote refused".to_owned(),
            ("AppendEntries", _) if self.entries == 0 => "heartbeat".to_owned(),
            ("AppendEntries", _) => format!(
                "append {} {}",
                self.entries,
                plural(self.entries, "entry", "entries")
            ),
            ("AppendEntriesResponse", Some(true)) => "ack".to_owned(),
            ("AppendEntriesResponse", _) => "nack (log mismatch)".to_owned(),
            ("InstallSnapshot", _) => format!("snapshot chunk, {} bytes", self.entries),
            ("InstallSnapshotResponse", Some(true)) => "snapshot installed".to_owned(),
            ("InstallSnapshotResponse", _) => "snapshot chunk ack".to_owned(),
            (k, _) => k.to_owned(),
        };
        format!("n{} → n{}: {what} (term {})", self.from, self.to, self.term)
    }

    /// How far along its way it is at `now`, in thousandths.
    pub fn progress_permille(&self, now: u64) -> u64 {
        let span = self.arrives_at.saturating_sub(self.sent_at).max(1);
        now.saturating_sub(self.sent_at).min(span) * 1000 / span
    }
}

fn plural(n: u64, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// One line of the event log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// Virtual tick.
    pub at: u64,
    /// `election`, `leader`, `vote`, `commit`, `snapshot`, `crash`, `restart`, `partition`, `truncate`.
    pub kind: &'static str,
    /// The node it is about (to merge consecutive commits).
    pub node: NodeId,
    /// In plain words.
    pub text: String,
}

/// Where the view is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RaftPhase {
    /// The cluster is being built.
    Starting,
    /// Running.
    Running,
    /// Stopped by an error.
    Failed,
}

impl RaftPhase {
    /// For `data-raft-phase`.
    pub fn as_str(self) -> &'static str {
        match self {
            RaftPhase::Starting => "starting",
            RaftPhase::Running => "running",
            RaftPhase::Failed => "failed",
        }
    }
}

/// The name of a role.
pub fn role_name(role: Option<Role>) -> &'static str {
    match role {
        Some(Role::Leader) => "leader",
        Some(Role::Candidate) => "candidate",
        Some(Role::PreCandidate) => "pre-candidate",
        Some(Role::Follower) => "follower",
        None => "down",
    }
}

/// The fold over the trace (module docs): part of the recording's snapshots, so it is
/// the fold at the position whatever path led there.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceFold {
    /// Messages in flight.
    pub flights: VecDeque<Flight>,
    /// Newest first.
    pub log: VecDeque<LogLine>,
    /// The leader the trace last named, and its term.
    pub leader: Option<(NodeId, u64)>,
    /// Elections won since the cluster started.
    pub elections: u64,
    /// Messages sent, and dropped (loss, partition, receiver down).
    pub sent: u64,
    /// See `sent`.
    pub dropped: u64,
    /// Snapshots installed on followers.
    pub installs: u64,
}

impl TraceFold {
    /// Folds the events of one tick (or of one input) in, then forgets the messages that
    /// arrived by `now`; announcements go to `announce`.
    pub fn apply(&mut self, events: Vec<TraceEvent>, now: u64, announce: &mut Vec<String>) {
        for e in events {
            self.fold(e, announce);
        }
        self.flights.retain(|f| f.arrives_at > now);
    }

    fn fold(&mut self, e: TraceEvent, announce: &mut Vec<String>) {
        let at = e.at;
        match e.kind {
            TraceKind::Sent {
                from,
                to,
                msg,
                arrives_at,
            } => {
                self.sent += 1;
                if self.flights.len() >= MAX_FLIGHTS {
                    self.flights.pop_front();
                }
                self.flights.push_back(Flight {
                    from,
                    to,
                    kind: msg.kind,
                    term: msg.term,
                    entries: msg.entries,
                    ok: msg.ok,
                    sent_at: at,
                    arrives_at,
                });
            }
            TraceKind::Delivered { .. } => {}
            TraceKind::Dropped { .. } => self.dropped += 1,
            TraceKind::Node { node, event } => self.fold_node(at, node, event, announce),
            TraceKind::Crashed { node } => {
                self.push(
                    at,
                    "crash",
                    node,
                    format!("n{node} crashed: memory gone, its disk keeps what was synced"),
                );
                if self.leader.is_some_and(|(l, _)| l == node) {
                    announce.push(format!(
                        "Leader node {node} crashed; the others will elect a new one."
                    ));
                    self.leader = None;
                }
            }
            TraceKind::Restarted { node, log_range } => self.push(
                at,
                "restart",
                node,
                format!(
                    "n{node} restarted from its disk with log {}–{}",
                    log_range.0, log_range.1
                ),
            ),
            TraceKind::Partitioned { blocked } => {
                let text = if blocked.is_empty() {
                    "The partition healed: every link works".to_owned()
                } else {
                    format!("Partition: {} one-way links blocked", blocked.len())
                };
                self.push(at, "partition", 0, text);
            }
        }
    }

    fn fold_node(&mut self, at: u64, node: NodeId, event: NodeEvent, announce: &mut Vec<String>) {
        match event {
            NodeEvent::RoleChanged { role, term } => match role {
                Role::PreCandidate => self.push(
                    at,
                    "election",
                    node,
                    format!(
                        "n{node} timed out and asks for pre-votes (would be term {})",
                        term + 1
                    ),
                ),
                Role::Candidate => self.push(
                    at,
                    "election",
                    node,
                    format!("n{node} starts an election for term {term}"),
                ),
                Role::Leader => {
                    self.elections += 1;
                    self.leader = Some((node, term));
                    self.push(
                        at,
                        "leader",
                        node,
                        format!("n{node} won: leader of term {term}"),
                    );
                    announce.push(format!("Node {node} is the leader in term {term}."));
                }
                Role::Follower => {
                    if self.leader.is_some_and(|(l, _)| l == node) {
                        self.leader = None;
                        self.push(
                            at,
                            "leader",
                            node,
                            format!("n{node} stepped down in term {term}"),
                        );
                        announce.push(format!("Node {node} stepped down in term {term}."));
                    } else {
                        self.push(
                            at,
                            "election",
                            node,
                            format!("n{node} follows in term {term}"),
                        );
                    }
                }
            },
            NodeEvent::VoteGranted { candidate, term } => self.push(
                at,
                "vote",
                node,
                format!("n{node} votes for n{candidate} in term {term}"),
            ),
            NodeEvent::Committed { index } => {
                if self.leader.is_some_and(|(l, _)| l == node) {
                    let text =
                        format!("n{node} (leader) commits up to {index}: a majority holds it");
                    match self.log.front_mut() {
                        Some(l) if l.kind == "commit" && l.node == node => {
                            l.at = at;
                            l.text = text;
                        }
                        _ => self.push(at, "commit", node, text),
                    }
                }
            }
            NodeEvent::SnapshotTaken { index } => self.push(
                at,
                "snapshot",
                node,
                format!("n{node} snapshots its state at {index}; the log before it may go"),
            ),
            NodeEvent::SnapshotInstalled { index } => {
                self.installs += 1;
                self.push(
                    at,
                    "snapshot",
                    node,
                    format!("n{node} installs the leader's snapshot up to {index}"),
                );
            }
            NodeEvent::Truncated { from } => self.push(
                at,
                "truncate",
                node,
                format!("n{node} drops its log from {from} on: it conflicts with the leader's"),
            ),
        }
    }

    fn push(&mut self, at: u64, kind: &'static str, node: NodeId, text: String) {
        self.log.push_front(LogLine {
            at,
            kind,
            node,
            text,
        });
        self.log.truncate(MAX_LOG);
    }
}

/// What the view draws at the position, handed over by the recording after every move.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RaftFrame {
    /// The engine's picture.
    pub view: ClusterView,
    /// The fold over the trace up to the position.
    pub fold: TraceFold,
    /// For the live region: what the ticks just run announced, or where a seek landed.
    pub announce: Option<String>,
    /// The recorded end (the position is `view.now`).
    pub end: u64,
    /// The recorded markers (all of them, oldest first; bounded by the recording).
    pub markers: Vec<RaftMarker>,
    /// The charts at the position.
    pub charts: RaftCharts,
    /// Snapshots the recording holds, and ticks between two.
    pub snapshots: (usize, u64),
    /// Inputs recorded.
    pub inputs: usize,
}

impl RaftFrame {
    /// Whether the position is the recorded end (playing records new time; acting does
    /// not branch).
    pub fn at_end(&self) -> bool {
        self.view.now >= self.end
    }
}

/// What can happen to the view.
#[derive(Clone, Debug, PartialEq)]
pub enum RaftAction {
    /// The recording moved (or an input was applied): the picture at the position.
    Frame(Box<RaftFrame>),
    /// The engine could not start.
    Failed(String),
    /// A request was refused (shown in an alert).
    Error(String),
    /// The alert was dismissed.
    DismissError,
    /// Form draft.
    EditKey(String),
    /// Form draft.
    EditValue(String),
    /// A node's partition checkbox.
    ToggleSide(NodeId),
    /// Every checkbox cleared (the partition healed).
    ClearSides,
    /// The speed (virtual ticks per second of wall time).
    SetSpeed(u32),
    /// Play or pause.
    SetPlaying(bool),
}

/// The view's state.
#[derive(Clone, Debug, PartialEq)]
pub struct RaftViewState {
    /// Phase.
    pub phase: RaftPhase,
    /// The last frame (`None` until the cluster is built).
    pub frame: Option<RaftFrame>,
    /// The live region's text.
    pub announcement: String,
    /// An error to show.
    pub error: Option<String>,
    /// The engine stopped at the position (the error is its message).
    pub stopped: bool,
    /// Form drafts.
    pub key: String,
    /// Form drafts.
    pub value: String,
    /// Nodes ticked for side B (not yet applied).
    pub side_b: VecSet<NodeId>,
    /// Virtual ticks per second of wall time.
    pub speed: u32,
    /// Whether the clock moves the recording on.
    pub playing: bool,
}

impl Default for RaftViewState {
    fn default() -> Self {
        RaftViewState {
            phase: RaftPhase::Starting,
            frame: None,
            announcement: String::new(),
            error: None,
            stopped: false,
            key: "x".to_owned(),
            value: "1".to_owned(),
            side_b: VecSet::new(),
            speed: DEFAULT_SPEED,
            playing: true,
        }
    }
}

/// Default speed: cluster ticks per second of wall time (0.1× real time).
pub const DEFAULT_SPEED: u32 = 100;

impl yew::Reducible for RaftViewState {
    type Action = RaftAction;

    fn reduce(self: Rc<Self>, action: RaftAction) -> Rc<Self> {
        let mut s = (*self).clone();
        s.apply(action);
        Rc::new(s)
    }
}

impl RaftViewState {
    /// Folds one action in.
    pub fn apply(&mut self, action: RaftAction) {
        match action {
            RaftAction::Frame(frame) => {
                if self.phase == RaftPhase::Failed && !self.stopped {
                    // The cluster could not be built: nothing moves any more.
                    return;
                }
                match &frame.view.stopped {
                    Some(message) => {
                        self.phase = RaftPhase::Failed;
                        self.error = Some(message.clone());
                        self.stopped = true;
                        self.playing = false;
                    }
                    None => {
                        if self.stopped {
                            // Moved back before the tick where it stopped.
                            self.error = None;
                            self.stopped = false;
                        }
                        self.phase = RaftPhase::Running;
                    }
                }
                if let Some(a) = &frame.announce {
                    self.announcement = a.clone();
                }
                self.frame = Some(*frame);
            }
            RaftAction::Failed(message) => {
                self.phase = RaftPhase::Failed;
                self.stopped = false;
                self.playing = false;
                self.error = Some(message);
            }
            RaftAction::Error(message) => self.error = Some(message),
            RaftAction::DismissError => {
                if self.phase != RaftPhase::Failed {
                    self.error = None;
                }
            }
            RaftAction::EditKey(v) => self.key = v,
            RaftAction::EditValue(v) => self.value = v,
            RaftAction::ToggleSide(id) => {
                if !self.side_b.remove(&id) {
                    self.side_b.insert(id);
                }
            }
            RaftAction::ClearSides => self.side_b.clear(),
            RaftAction::SetSpeed(n) => self.speed = n,
            RaftAction::SetPlaying(on) => self.playing = on,
        }
    }

    /// The engine's picture at the position.
    pub fn view(&self) -> Option<&ClusterView> {
        self.frame.as_ref().map(|f| &f.view)
    }

    /// The fold at the position.
    pub fn fold(&self) -> Option<&TraceFold> {
        self.frame.as_ref().map(|f| &f.fold)
    }

    /// Whether the cluster runs (controls act).
    pub fn is_running(&self) -> bool {
        self.phase == RaftPhase::Running
    }

    /// The node with this id in the picture.
    pub fn node(&self, id: NodeId) -> Option<&NodeView> {
        self.view()?.nodes.iter().find(|n| n.id == id)
    }

    /// The partition the checkboxes describe differs from the one applied.
    pub fn partition_pending(&self) -> bool {
        let applied: VecSet<NodeId> = self
            .view()
            .map(|v| v.side_b.iter().copied().collect())
            .unwrap_or_default();
        applied != self.side_b
    }
}

#[cfg(test)]
mod tests {
    use logspine_core::raft::sim::MessageSummary;

    use super::*;

    fn node(id: NodeId, up: bool, commit: u64) -> NodeView {
        NodeView {
            id,
            up,
            role: up.then_some(Role::Follower),
            term: 1,
            commit,
            applied: commit,
            last: commit,
            ..NodeView::default()
        }
    }

    fn frame(now: u64, nodes: Vec<NodeView>) -> Box<RaftFrame> {
        Box::new(RaftFrame {
            view: ClusterView {
                now,
                nodes,
                ..ClusterView::default()
            },
            end: now,
            ..RaftFrame::default()
        })
    }

    fn ev(at: u64, kind: TraceKind) -> TraceEvent {
        TraceEvent { at, kind }
    }

    fn role(at: u64, node: NodeId, role: Role, term: u64) -> TraceEvent {
        ev(
            at,
            TraceKind::Node {
                node,
                event: NodeEvent::RoleChanged { role, term },
            },
        )
    }

    fn sent(at: u64, from: NodeId, to: NodeId, kind: &'static str, arrives_at: u64) -> TraceEvent {
        ev(
            at,
            TraceKind::Sent {
                from,
                to,
                msg: MessageSummary {
                    kind,
                    term: 2,
                    entries: 3,
                    ok: None,
                },
                arrives_at,
            },
        )
    }

    fn sample(at: u64, elections: u64, commit: u64) -> ChartSample {
        ChartSample {
            at,
            elections,
            commit,
        }
    }

    #[test]
    fn charts_are_the_samples_at_or_before_the_position() {
        let c = RaftCharts::from_samples(&[]);
        assert_eq!(c.commit.values(), Vec::<f64>::new());
        let c = RaftCharts::from_samples(&[sample(0, 0, 0)]);
        assert_eq!(c.commit.values(), vec![0.0]);
        assert_eq!(c.commits_per_sec.values(), Vec::<f64>::new());
        // 10 entries in 500 ticks (500 ms): 20 per second.
        let c = RaftCharts::from_samples(&[sample(0, 0, 0), sample(500, 1, 10)]);
        assert_eq!(c.elections.values(), vec![0.0, 1.0]);
        assert_eq!(c.commit.values(), vec![0.0, 10.0]);
        assert_eq!(c.commits_per_sec.values(), vec![20.0]);
        // A long recording: the newest MAX_SAMPLES, the rate of the first from the one
        // before it.
        let n = crate::chart::MAX_SAMPLES as u64 + 30;
        let all: Vec<ChartSample> = (0..n).map(|i| sample(i * 100, i / 10, i * 2)).collect();
        let c = RaftCharts::from_samples(&all);
        assert_eq!(c.commit.values().len(), crate::chart::MAX_SAMPLES);
        assert_eq!(c.commit.values()[0], 60.0);
        assert_eq!(c.commits_per_sec.values().len(), crate::chart::MAX_SAMPLES);
        assert!(c.commits_per_sec.values().iter().all(|r| *r == 20.0));
    }

    #[test]
    fn an_election_is_logged_and_announced_and_a_crash_of_the_leader_too() {
        let mut f = TraceFold::default();
        let mut announce = Vec::new();
        f.apply(
            vec![
                role(5, 3, Role::PreCandidate, 0),
                role(6, 3, Role::Candidate, 1),
                ev(
                    8,
                    TraceKind::Node {
                        node: 1,
                        event: NodeEvent::VoteGranted {
                            candidate: 3,
                            term: 1,
                        },
                    },
                ),
                role(9, 3, Role::Leader, 1),
            ],
            10,
            &mut announce,
        );
        assert_eq!(f.leader, Some((3, 1)));
        assert_eq!(f.elections, 1);
        assert_eq!(announce, ["Node 3 is the leader in term 1."]);
        let kinds: Vec<_> = f.log.iter().map(|l| l.kind).collect();
        assert_eq!(kinds, ["leader", "vote", "election", "election"]);
        assert!(f.log[0].text.contains("leader of term 1"));

        announce.clear();
        f.apply(
            vec![ev(20, TraceKind::Crashed { node: 3 })],
            20,
            &mut announce,
        );
        assert_eq!(f.leader, None);
        assert!(announce[0].contains("Leader node 3 crashed"));
    }

    #[test]
    fn frames_set_the_phase_and_announce() {
        let mut s = RaftViewState::default();
        assert_eq!(s.phase, RaftPhase::Starting);
        let mut fr = frame(10, vec![node(1, true, 0)]);
        fr.announce = Some("Node 1 is the leader in term 1.".into());
        s.apply(RaftAction::Frame(fr));
        assert!(s.is_running());
        assert_eq!(s.announcement, "Node 1 is the leader in term 1.");
        // A frame without an announcement keeps the last one.
        s.apply(RaftAction::Frame(frame(11, vec![])));
        assert_eq!(s.announcement, "Node 1 is the leader in term 1.");
        assert_eq!(s.view().unwrap().now, 11);
        assert!(s.frame.as_ref().unwrap().at_end());
    }

    #[test]
    fn consecutive_leader_commits_merge_and_follower_commits_are_not_logged() {
        let mut f = TraceFold::default();
        let commit = |at, node, index| {
            ev(
                at,
                TraceKind::Node {
                    node,
                    event: NodeEvent::Committed { index },
                },
            )
        };
        f.apply(
            vec![
                role(1, 2, Role::Leader, 4),
                commit(2, 2, 5),
                commit(3, 1, 5),
                commit(4, 2, 6),
                commit(5, 2, 7),
            ],
            5,
            &mut Vec::new(),
        );
        assert_eq!(f.log.len(), 2, "{:?}", f.log);
        assert_eq!(f.log[0].kind, "commit");
        assert!(f.log[0].text.contains("up to 7"));
        for i in 0..40 {
            f.apply(
                vec![ev(10 + i, TraceKind::Crashed { node: 4 })],
                10 + i,
                &mut Vec::new(),
            );
        }
        assert_eq!(f.log.len(), MAX_LOG);
    }

    #[test]
    fn messages_stay_in_flight_until_they_arrive() {
        let mut f = TraceFold::default();
        f.apply(
            vec![
                sent(10, 1, 2, "AppendEntries", 30),
                sent(12, 1, 3, "RequestVote", 15),
            ],
            12,
            &mut Vec::new(),
        );
        assert_eq!(f.flights.len(), 2);
        assert_eq!(f.sent, 2);
        assert_eq!(f.flights[0].class(), "append");
        assert_eq!(f.flights[0].text(), "n1 → n2: append 3 entries (term 2)");
        assert_eq!(f.flights[0].progress_permille(20), 500);
        f.apply(vec![], 15, &mut Vec::new());
        assert_eq!(f.flights.len(), 1, "the vote request arrived at 15");
        f.apply(vec![], 30, &mut Vec::new());
        assert!(f.flights.is_empty());
    }

    #[test]
    fn the_partition_checkboxes_are_pending_until_applied() {
        let mut s = RaftViewState::default();
        s.apply(RaftAction::Frame(frame(1, vec![])));
        assert!(!s.partition_pending());
        s.apply(RaftAction::ToggleSide(4));
        s.apply(RaftAction::ToggleSide(5));
        assert!(s.partition_pending());
        let mut fr = frame(2, vec![]);
        fr.view.side_b = vec![4, 5];
        s.apply(RaftAction::Frame(fr));
        assert!(!s.partition_pending());
        s.apply(RaftAction::ToggleSide(5));
        assert!(s.partition_pending());
    }

    #[test]
    fn a_stopped_engine_fails_the_view_until_the_position_moves_back() {
        let mut s = RaftViewState::default();
        let mut fr = frame(9, vec![]);
        fr.view.stopped = Some("boom".into());
        s.apply(RaftAction::Frame(fr));
        assert_eq!(s.phase, RaftPhase::Failed);
        assert!(!s.playing);
        s.apply(RaftAction::DismissError);
        assert_eq!(s.error.as_deref(), Some("boom"));
        // Scrubbed back before the tick where it stopped: running again.
        s.apply(RaftAction::Frame(frame(5, vec![])));
        assert!(s.is_running());
        assert_eq!(s.error, None);
        // A cluster that could not be built stays failed.
        s.apply(RaftAction::Failed("no".into()));
        s.apply(RaftAction::Frame(frame(6, vec![])));
        assert_eq!(s.phase, RaftPhase::Failed);
        assert_eq!(s.error.as_deref(), Some("no"));
    }

    #[test]
    fn hidden_counts_entries_between_the_snapshot_and_the_drawn_ones() {
        let mut n = node(1, true, 30);
        n.snapshot = 10;
        n.last = 30;
        n.entries = (21..=30)
            .map(|index| EntryView {
                index,
                term: 1,
                label: String::new(),
                holders: None,
            })
            .collect();
        assert_eq!(n.hidden(), 10);
        n.entries.clear();
        n.last = 10;
        assert_eq!(n.hidden(), 0);
    }
}
