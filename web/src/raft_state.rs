//! The Raft cluster view's pure state: a fold over the simulator's trace
//! ([`TraceEvent`]s from [`Cluster::take_trace`](logspine_core::raft::sim::Cluster::take_trace))
//! and the engine's snapshots of the five nodes ([`ClusterView`]), plus the forms.
//! Tested natively; the effects live in [`crate::raft_view`], the engine glue in
//! [`crate::raft_run`].
//!
//! What the fold keeps beyond the last snapshot:
//! * the messages in flight: every `Sent` event until the virtual time it arrives;
//! * a short event log ([`MAX_LOG`] lines, newest first) in plain words: elections, votes,
//!   leaders, commits (the leader's, consecutive ones merged), snapshots, truncations,
//!   crashes, restarts, partitions;
//! * the last known state of a crashed node (greyed out), since a down node has no memory
//!   to show;
//! * one sentence for the polite live region on every election result and leader loss.

use std::collections::{BTreeSet, VecDeque};
use std::rc::Rc;

use logspine_core::raft::sim::{TraceEvent, TraceKind};
use logspine_core::raft::{NodeEvent, NodeId, Role};

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

/// Pictures between two samples of the cluster's charts: with the view's clock at one
/// picture every 50 ms, a sample every quarter second, so the charts'
/// [`crate::chart::MAX_SAMPLES`] span 30 seconds of the page's time whatever the
/// simulation speed.
pub const CHART_SAMPLE_EVERY: u64 = 5;

/// The cluster's small charts, sampled every [`CHART_SAMPLE_EVERY`] pictures from the
/// trace and the engine's pictures (never invented): leaders elected so far, the commit
/// index, and entries committed per second of cluster time between two samples. Cleared
/// if the cluster's clock goes back (a new cluster).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RaftCharts {
    /// Leaders elected since the cluster started (one per leader change).
    pub elections: Series,
    /// The highest commit index any node knows (a down node's last known one included).
    pub commit: Series,
    /// Entries committed per second of cluster time over each sample interval.
    pub commits_per_sec: Series,
    pictures: u64,
    /// Cluster time and commit index at the last sample.
    last: Option<(u64, u64)>,
}

impl RaftCharts {
    /// Counts one picture and samples on every [`CHART_SAMPLE_EVERY`]th (the first
    /// included); `elections` is the fold's count so far.
    pub fn sample(&mut self, view: &ClusterView, elections: u64) {
        if self.last.is_some_and(|(at, _)| view.now < at) {
            *self = RaftCharts::default();
        }
        self.pictures += 1;
        if self.pictures % CHART_SAMPLE_EVERY != 1 {
            return;
        }
        let commit = view.nodes.iter().map(|n| n.commit).max().unwrap_or(0);
        self.elections.push(elections as f64);
        self.commit.push(commit as f64);
        if let Some((at, before)) = self.last {
            // 1 tick = 1 ms of cluster time; no time passed (a paused clock) is no rate.
            let ticks = view.now - at;
            if ticks > 0 {
                self.commits_per_sec
                    .push(commit.saturating_sub(before) as f64 * 1000.0 / ticks as f64);
            }
        }
        self.last = Some((view.now, commit));
    }
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

/// What can happen to the view.
#[derive(Clone, Debug, PartialEq)]
pub enum RaftAction {
    /// The engine's trace since the last call and its picture now.
    Engine {
        /// Trace events, in order.
        events: Vec<TraceEvent>,
        /// The cluster now (boxed: the other actions are small).
        view: Box<ClusterView>,
    },
    /// The engine could not start or stopped.
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
    /// The speed select (virtual ticks per second of wall time).
    SetSpeed(u32),
}

/// The view's state.
#[derive(Clone, Debug, PartialEq)]
pub struct RaftViewState {
    /// Phase.
    pub phase: RaftPhase,
    /// The last picture (down nodes keep their last known state).
    pub view: Option<ClusterView>,
    /// Messages in flight.
    pub flights: VecDeque<Flight>,
    /// Newest first.
    pub log: VecDeque<LogLine>,
    /// The leader the trace last named, and its term.
    pub leader: Option<(NodeId, u64)>,
    /// Elections won since the page loaded.
    pub elections: u64,
    /// Messages sent, and dropped (loss, partition, receiver down).
    pub sent: u64,
    /// See `sent`.
    pub dropped: u64,
    /// Snapshots installed on followers.
    pub installs: u64,
    /// The live region's text.
    pub announcement: String,
    /// An error to show.
    pub error: Option<String>,
    /// Form drafts.
    pub key: String,
    /// Form drafts.
    pub value: String,
    /// Nodes ticked for side B (not yet applied).
    pub side_b: BTreeSet<NodeId>,
    /// Virtual ticks per second of wall time.
    pub speed: u32,
    /// The small charts.
    pub charts: RaftCharts,
}

impl Default for RaftViewState {
    fn default() -> Self {
        RaftViewState {
            phase: RaftPhase::Starting,
            view: None,
            flights: VecDeque::new(),
            log: VecDeque::new(),
            leader: None,
            elections: 0,
            sent: 0,
            dropped: 0,
            installs: 0,
            announcement: String::new(),
            error: None,
            key: "x".to_owned(),
            value: "1".to_owned(),
            side_b: BTreeSet::new(),
            speed: crate::raft_run::DEFAULT_SPEED,
            charts: RaftCharts::default(),
        }
    }
}

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
            RaftAction::Engine { events, view } => {
                let mut announce = Vec::new();
                for e in events {
                    self.fold(e, &mut announce);
                }
                let now = view.now;
                self.flights.retain(|f| f.arrives_at > now);
                self.merge_view(*view);
                if let Some(v) = &self.view {
                    self.charts.sample(v, self.elections);
                }
                if let Some(stopped) = self.view.as_ref().and_then(|v| v.stopped.clone()) {
                    self.phase = RaftPhase::Failed;
                    self.error = Some(stopped);
                } else {
                    self.phase = RaftPhase::Running;
                }
                if !announce.is_empty() {
                    self.announcement = announce.join(" ");
                }
            }
            RaftAction::Failed(message) => {
                self.phase = RaftPhase::Failed;
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
        }
    }

    /// Keeps a down node's last known state, marked down.
    fn merge_view(&mut self, mut view: ClusterView) {
        if let Some(old) = &self.view {
            for n in &mut view.nodes {
                if n.up {
                    continue;
                }
                if let Some(prev) = old.nodes.iter().find(|p| p.id == n.id) {
                    *n = NodeView {
                        up: false,
                        role: None,
                        ..prev.clone()
                    };
                }
            }
        }
        self.view = Some(view);
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

    /// Whether the cluster runs.
    pub fn is_running(&self) -> bool {
        self.phase == RaftPhase::Running
    }

    /// The node with this id in the last picture.
    pub fn node(&self, id: NodeId) -> Option<&NodeView> {
        self.view.as_ref()?.nodes.iter().find(|n| n.id == id)
    }

    /// The partition the checkboxes describe differs from the one applied.
    pub fn partition_pending(&self) -> bool {
        let applied: BTreeSet<NodeId> = self
            .view
            .as_ref()
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

    fn view(now: u64, nodes: Vec<NodeView>) -> Box<ClusterView> {
        Box::new(ClusterView {
            now,
            nodes,
            ..ClusterView::default()
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

    #[test]
    fn charts_sample_every_few_pictures_from_the_trace_and_the_pictures() {
        // The view says the charts span 30 seconds at one picture every 50 ms.
        assert_eq!(
            crate::chart::MAX_SAMPLES as u64 * CHART_SAMPLE_EVERY * 50,
            30_000
        );
        let mut s = RaftViewState::default();
        let picture = |s: &mut RaftViewState, now: u64, events: Vec<TraceEvent>, commit: u64| {
            s.apply(RaftAction::Engine {
                events,
                view: view(now, vec![node(1, true, commit), node(2, false, commit / 2)]),
            });
        };
        picture(&mut s, 0, vec![], 0);
        assert_eq!(s.charts.commit.values(), vec![0.0]);
        assert_eq!(s.charts.commits_per_sec.values(), Vec::<f64>::new());
        picture(&mut s, 100, vec![role(90, 1, Role::Leader, 2)], 3);
        for i in 2..CHART_SAMPLE_EVERY {
            picture(&mut s, 100 * i, vec![], 3);
        }
        // The sixth picture is the second sample: 10 entries in 500 ticks.
        picture(&mut s, 500, vec![], 10);
        assert_eq!(s.charts.elections.values(), vec![0.0, 1.0]);
        assert_eq!(s.charts.commit.values(), vec![0.0, 10.0]);
        assert_eq!(s.charts.commits_per_sec.values(), vec![20.0]);
        // A paused clock: a sample of the index, no rate.
        for _ in 0..CHART_SAMPLE_EVERY {
            picture(&mut s, 500, vec![], 10);
        }
        assert_eq!(s.charts.commit.values(), vec![0.0, 10.0, 10.0]);
        assert_eq!(s.charts.commits_per_sec.values(), vec![20.0]);
        // A new cluster (its clock starts again): the charts start again.
        picture(&mut s, 10, vec![], 0);
        assert_eq!(s.charts.commit.values(), vec![0.0]);
        assert_eq!(s.charts.elections.values(), vec![1.0]);
        assert_eq!(s.charts.commits_per_sec.values(), Vec::<f64>::new());
    }

    #[test]
    fn an_election_is_logged_and_announced_and_a_crash_of_the_leader_too() {
        let mut s = RaftViewState::default();
        s.apply(RaftAction::Engine {
            events: vec![
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
            view: view(10, vec![node(1, true, 0), node(3, true, 0)]),
        });
        assert!(s.is_running());
        assert_eq!(s.leader, Some((3, 1)));
        assert_eq!(s.elections, 1);
        assert_eq!(s.announcement, "Node 3 is the leader in term 1.");
        let kinds: Vec<_> = s.log.iter().map(|l| l.kind).collect();
        assert_eq!(kinds, ["leader", "vote", "election", "election"]);
        assert!(s.log[0].text.contains("leader of term 1"));

        s.apply(RaftAction::Engine {
            events: vec![ev(20, TraceKind::Crashed { node: 3 })],
            view: view(20, vec![node(1, true, 0), node(3, false, 0)]),
        });
        assert_eq!(s.leader, None);
        assert!(s.announcement.contains("Leader node 3 crashed"));
    }

    #[test]
    fn consecutive_leader_commits_merge_and_follower_commits_are_not_logged() {
        let mut s = RaftViewState::default();
        let commit = |at, node, index| {
            ev(
                at,
                TraceKind::Node {
                    node,
                    event: NodeEvent::Committed { index },
                },
            )
        };
        s.apply(RaftAction::Engine {
            events: vec![
                role(1, 2, Role::Leader, 4),
                commit(2, 2, 5),
                commit(3, 1, 5),
                commit(4, 2, 6),
                commit(5, 2, 7),
            ],
            view: view(5, vec![]),
        });
        assert_eq!(s.log.len(), 2, "{:?}", s.log);
        assert_eq!(s.log[0].kind, "commit");
        assert!(s.log[0].text.contains("up to 7"));
        for i in 0..40 {
            s.apply(RaftAction::Engine {
                events: vec![ev(10 + i, TraceKind::Crashed { node: 4 })],
                view: view(10 + i, vec![]),
            });
        }
        assert_eq!(s.log.len(), MAX_LOG);
    }

    #[test]
    fn messages_stay_in_flight_until_they_arrive() {
        let mut s = RaftViewState::default();
        s.apply(RaftAction::Engine {
            events: vec![
                sent(10, 1, 2, "AppendEntries", 30),
                sent(12, 1, 3, "RequestVote", 15),
            ],
            view: view(12, vec![]),
        });
        assert_eq!(s.flights.len(), 2);
        assert_eq!(s.sent, 2);
        assert_eq!(s.flights[0].class(), "append");
        assert_eq!(s.flights[0].text(), "n1 → n2: append 3 entries (term 2)");
        assert_eq!(s.flights[0].progress_permille(20), 500);
        s.apply(RaftAction::Engine {
            events: vec![],
            view: view(15, vec![]),
        });
        assert_eq!(s.flights.len(), 1, "the vote request arrived at 15");
        s.apply(RaftAction::Engine {
            events: vec![],
            view: view(30, vec![]),
        });
        assert!(s.flights.is_empty());
    }

    #[test]
    fn a_down_node_keeps_its_last_known_log() {
        let mut s = RaftViewState::default();
        let mut n2 = node(2, true, 7);
        n2.entries = vec![EntryView {
            index: 7,
            term: 1,
            label: "x=1".into(),
            holders: None,
        }];
        s.apply(RaftAction::Engine {
            events: vec![],
            view: view(1, vec![n2]),
        });
        s.apply(RaftAction::Engine {
            events: vec![],
            view: view(
                2,
                vec![NodeView {
                    id: 2,
                    ..NodeView::default()
                }],
            ),
        });
        let n = s.node(2).unwrap();
        assert!(!n.up);
        assert_eq!(n.role, None);
        assert_eq!(n.commit, 7);
        assert_eq!(n.entries.len(), 1);
    }

    #[test]
    fn the_partition_checkboxes_are_pending_until_applied() {
        let mut s = RaftViewState::default();
        s.apply(RaftAction::Engine {
            events: vec![],
            view: view(1, vec![]),
        });
        assert!(!s.partition_pending());
        s.apply(RaftAction::ToggleSide(4));
        s.apply(RaftAction::ToggleSide(5));
        assert!(s.partition_pending());
        s.apply(RaftAction::Engine {
            events: vec![ev(
                2,
                TraceKind::Partitioned {
                    blocked: vec![(4, 1)],
                },
            )],
            view: Box::new(ClusterView {
                side_b: vec![4, 5],
                ..*view(2, vec![])
            }),
        });
        assert!(!s.partition_pending());
        assert_eq!(s.log[0].kind, "partition");
        s.apply(RaftAction::ToggleSide(5));
        assert!(s.partition_pending());
    }

    #[test]
    fn a_stopped_engine_fails_the_view_and_errors_stay() {
        let mut s = RaftViewState::default();
        s.apply(RaftAction::Engine {
            events: vec![],
            view: Box::new(ClusterView {
                stopped: Some("boom".into()),
                ..*view(1, vec![])
            }),
        });
        assert_eq!(s.phase, RaftPhase::Failed);
        s.apply(RaftAction::DismissError);
        assert_eq!(s.error.as_deref(), Some("boom"));
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
