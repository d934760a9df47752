//! [`RaftEngine`]: the cluster view's five Raft nodes — a [`Cluster`] on in-memory
//! `SimDisk`s with its faulty network — plus two clients (the form and a workload), the
//! [`RaftInput`]s a person applies between ticks, and the picture of the nodes
//! ([`ClusterView`]) the view draws. The recording ([`crate::raft_record`]) runs it.
//!
//! # Time
//! One tick of the cluster is one millisecond of cluster time (network latency 10–30
//! ticks, heartbeats every 50, election timeouts 150–300: the Raft paper's §9.3 setting).
//! The engine knows no wall clock: [`RaftEngine::run_ticks`] steps it, and everything
//! inside a tick (client timeouts, the workload's gaps, retries) is counted in ticks, so
//! the engine after `n` ticks is a pure function of the seed and the [`RaftInput`]s applied
//! between ticks. The page's clock only decides how many ticks to run
//! ([`crate::raft_record`]), which is what makes time travel a replay.
//!
//! # Clients
//! Each client has at most one write outstanding (the state machine's sessions assume it)
//! and sends it to the node it believes leads: a "not the leader" reply redirects it to the
//! hinted leader; no answer within [`CLIENT_TIMEOUT_TICKS`] (a stale leader cut off in a
//! minority never answers) sends the same sequence number to the next node, so a retry is
//! applied once. The form's writes queue behind each other (at most [`MAX_QUEUE`]).
//!
//! # Snapshots
//! Every node snapshots its state machine every [`SNAPSHOT_EVERY`] applied entries and its
//! log is cut into small segments, so the log really is trimmed behind the snapshot and a
//! follower that was down long enough is sent the snapshot in chunks before the log.

use logspine_core::vec_map::VecMap;
use std::collections::VecDeque;

use logspine_core::crc32c;
use logspine_core::raft::kv::{KvCommand, KvOp};
use logspine_core::raft::sim::{
    ClientOp, ClientRequest, ClientResult, Cluster, ClusterConfig, NetConfig, SimError, TraceEvent,
};
use logspine_core::raft::{EntryKind, NodeId, RaftNode, Role};
use logspine_core::{SimDisk, SyncLatency};

use crate::raft_state::{ClusterView, EntryView, NodeView, WriteView};

/// Servers in the cluster.
pub const NODES: u64 = 5;
/// Snapshot every this many applied entries.
pub const SNAPSHOT_EVERY: u64 = 12;
/// Entries drawn per node (the newest).
pub const MAX_ENTRIES_SHOWN: usize = 12;
/// A client gives up on a node after this many ticks and tries the next.
pub const CLIENT_TIMEOUT_TICKS: u64 = 400;
/// The workload waits this long between writes.
pub const WORKLOAD_GAP_TICKS: u64 = 150;
/// Form writes waiting at most.
pub const MAX_QUEUE: usize = 16;
/// Longest key the form takes (bytes).
pub const MAX_KEY_BYTES: usize = 16;
/// Longest value the form takes (bytes).
pub const MAX_VALUE_BYTES: usize = 24;

const FORM_CLIENT: u64 = 1;
const WORKLOAD_CLIENT: u64 = 2;

/// The cluster's configuration: five nodes, the paper's timings, a 10–30 tick network,
/// slow-ish disks, at most 4 entries per AppendEntries (so catching up takes visible round
/// trips), 128-byte snapshot chunks, 512-byte log segments, snapshots every
/// [`SNAPSHOT_EVERY`] entries, the trace on and the safety checkers after every step.
pub fn cluster_config() -> ClusterConfig {
    let mut c = ClusterConfig::new(NODES);
    c.trace = true;
    c.check = true;
    c.snapshot_every = SNAPSHOT_EVERY;
    c.net = NetConfig::reliable(10, 30);
    c.disk.sync_latency = SyncLatency::Uniform { min: 2, max: 8 };
    c.raft.max_entries_per_message = 4;
    c.raft.snapshot_chunk_bytes = 128;
    c.raft.segment_bytes = 512;
    c
}

#[derive(Clone, Debug)]
struct Pending {
    seq: u64,
    key: String,
    value: String,
    to: NodeId,
    /// When to (re)send; `None` once sent.
    send_at: Option<u64>,
    sent_at: u64,
    attempts: u32,
}

#[derive(Clone, Debug)]
struct Client {
    id: u64,
    seq: u64,
    /// The node it believes leads.
    target: NodeId,
    pending: Option<Pending>,
}

impl Client {
    fn new(id: u64) -> Self {
        Client {
            id,
            seq: 0,
            target: 1,
            pending: None,
        }
    }

    fn start(&mut self, key: String, value: String, now: u64) {
        self.seq += 1;
        self.pending = Some(Pending {
            seq: self.seq,
            key,
            value,
            to: self.target,
            send_at: Some(now),
            sent_at: now,
            attempts: 0,
        });
    }

    /// Sends or resends what is due.
    fn poll(&mut self, c: &mut Cluster) {
        let now = c.now();
        let Some(p) = &mut self.pending else { return };
        if p.send_at.is_none() && now >= p.sent_at + CLIENT_TIMEOUT_TICKS {
            p.to = p.to % NODES + 1;
            p.send_at = Some(now);
        }
        if p.send_at.is_some_and(|at| at <= now) {
            p.send_at = None;
            p.sent_at = now;
            p.attempts += 1;
            self.target = p.to;
            c.client_send(
                p.to,
                ClientRequest {
                    client: self.id,
                    seq: p.seq,
                    op: ClientOp::Write(KvOp::Put {
                        key: p.key.clone().into_bytes(),
                        value: p.value.clone().into_bytes(),
                    }),
                },
            );
        }
    }

    /// Handles a reply; returns the acknowledged write and who acknowledged it.
    fn reply(
        &mut self,
        seq: u64,
        from: NodeId,
        result: &ClientResult,
        now: u64,
    ) -> Option<(Pending, NodeId)> {
        let p = self.pending.as_mut().filter(|p| p.seq == seq)?;
        match result {
            ClientResult::Done(_) => self.pending.take().map(|p| (p, from)),
            ClientResult::NotLeader(hint) => {
                if p.send_at.is_none() {
                    p.to = match hint {
                        Some(l) if *l != from => *l,
                        _ => from % NODES + 1,
                    };
                    // With no leader known, give the election time.
                    p.send_at = Some(now + if hint.is_some() { 1 } else { 60 });
                }
                None
            }
            ClientResult::Value(_) => None,
        }
    }
}

/// The form's last write, once known.
#[derive(Clone, Debug)]
struct LastWrite {
    key: String,
    value: String,
    attempts: u32,
    acked_by: Option<NodeId>,
    /// Index and term, once acknowledged and found in a log.
    at: Option<(u64, u64)>,
}

/// Something the user does to the cluster, between two ticks. A run is its seed plus these,
/// each at the tick it was applied ([`crate::raft_record::RaftRecording`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RaftInput {
    /// A write of key = value through the form's client (queued behind earlier ones).
    Write {
        /// Key (1 to [`MAX_KEY_BYTES`] bytes).
        key: String,
        /// Value (at most [`MAX_VALUE_BYTES`] bytes).
        value: String,
    },
    /// The workload client on or off.
    Workload(bool),
    /// Crash a node.
    Crash(NodeId),
    /// Restart a node from its disk.
    Restart(NodeId),
    /// Cut these nodes off from the others (empty: heal).
    Partition(Vec<NodeId>),
    /// Lose this percentage of messages.
    Loss(u32),
}

impl RaftInput {
    /// In plain words, for the event log and the tests.
    pub fn describe(&self) -> String {
        match self {
            RaftInput::Write { key, value } => format!("write {key}={value}"),
            RaftInput::Workload(on) => format!("workload {}", if *on { "on" } else { "off" }),
            RaftInput::Crash(id) => format!("crash n{id}"),
            RaftInput::Restart(id) => format!("restart n{id}"),
            RaftInput::Partition(b) if b.is_empty() => "heal".to_owned(),
            RaftInput::Partition(b) => format!("partition {b:?}"),
            RaftInput::Loss(p) => format!("loss {p} %"),
        }
    }
}

/// The five nodes and the clients. Cloning it is how the recording keeps snapshots.
#[derive(Clone, Debug)]
pub struct RaftEngine {
    cluster: Cluster,
    form: Client,
    workload: Client,
    workload_on: bool,
    workload_next: u64,
    workload_acked: u64,
    queue: VecDeque<(String, String)>,
    last: Option<LastWrite>,
    side_b: Vec<NodeId>,
    loss_pct: u32,
    /// Each crashed node's state when it went down (a down node has no memory to show).
    last_known: VecMap<NodeId, NodeView>,
    stopped: Option<String>,
    trace: Vec<TraceEvent>,
}

impl RaftEngine {
    /// A fresh cluster from `seed`.
    pub fn new(seed: u64) -> Result<RaftEngine, SimError> {
        Ok(RaftEngine {
            cluster: Cluster::new(cluster_config(), seed)?,
            form: Client::new(FORM_CLIENT),
            workload: Client::new(WORKLOAD_CLIENT),
            workload_on: false,
            workload_next: 0,
            workload_acked: 0,
            queue: VecDeque::new(),
            last: None,
            side_b: Vec::new(),
            loss_pct: 0,
            last_known: VecMap::new(),
            stopped: None,
            trace: Vec::new(),
        })
    }

    /// The simulator (read-only).
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Cluster time in ticks.
    pub fn now(&self) -> u64 {
        self.cluster.now()
    }

    /// Why the simulation stopped, if it did.
    pub fn stopped(&self) -> Option<&str> {
        self.stopped.as_deref()
    }

    /// Whether `input` would be refused without touching the engine (a bad key, a full
    /// queue, a node that does not exist): such an input is not part of the run.
    pub fn check(&self, input: &RaftInput) -> Result<(), String> {
        match input {
            RaftInput::Write { key, value } => {
                let key = key.trim();
                if key.is_empty() || key.len() > MAX_KEY_BYTES {
                    return Err(format!("A key is 1 to {MAX_KEY_BYTES} bytes."));
                }
                if value.len() > MAX_VALUE_BYTES {
                    return Err(format!("A value is at most {MAX_VALUE_BYTES} bytes."));
                }
                if self.queue.len() >= MAX_QUEUE {
                    return Err("Too many writes are waiting; let the cluster catch up.".to_owned());
                }
                Ok(())
            }
            RaftInput::Crash(id) | RaftInput::Restart(id) if !(1..=NODES).contains(id) => {
                Err(format!("There is no node {id}."))
            }
            _ => Ok(()),
        }
    }

    /// Applies `input` now (between two ticks). An error after [`RaftEngine::check`]
    /// passed (a restart whose recovery failed) is deterministic: replaying the input gives
    /// the same error.
    pub fn apply(&mut self, input: &RaftInput) -> Result<(), String> {
        self.check(input)?;
        match input {
            RaftInput::Write { key, value } => self.write(key, value),
            RaftInput::Workload(on) => {
                self.set_workload(*on);
                Ok(())
            }
            RaftInput::Crash(id) => {
                self.crash(*id);
                Ok(())
            }
            RaftInput::Restart(id) => self.restart(*id),
            RaftInput::Partition(b) => {
                self.partition(b);
                Ok(())
            }
            RaftInput::Loss(p) => {
                self.set_loss(*p);
                Ok(())
            }
        }
    }

    /// The trace since the last call.
    pub fn take_trace(&mut self) -> Vec<TraceEvent> {
        std::mem::take(&mut self.trace)
    }

    /// CRC32C over everything that decides what happens next: the clock, each node's
    /// role, term, indexes, vote-relevant state and state machine bytes, the clients and
    /// the controls. Two runs with equal hashes at every tick made the same run.
    pub fn state_hash(&self) -> u32 {
        let mut b: Vec<u8> = Vec::new();
        let mut put = |v: u64| b.extend_from_slice(&v.to_le_bytes());
        put(self.cluster.now());
        for s in self.cluster.servers().values() {
            put(s.id());
            put(s.incarnation());
            match s.node() {
                None => put(u64::MAX),
                Some(n) => {
                    put(role_code(n.role()));
                    put(n.term());
                    put(n.leader().unwrap_or(0));
                    put(n.commit_index());
                    put(n.applied_index());
                    put(n.last_index());
                    put(n.durable_index());
                    put(n.snapshot_index());
                    put(n.first_log_index());
                    put(u64::from(crc32c::checksum(&s.kv().snapshot())));
                }
            }
        }
        put(self.cluster.in_flight() as u64);
        put(self.cluster.delivered());
        for c in [&self.form, &self.workload] {
            put(c.seq);
            put(c.target);
            if let Some(p) = &c.pending {
                put(p.seq);
                put(p.to);
                put(p.send_at.unwrap_or(u64::MAX));
                put(p.sent_at);
                put(u64::from(p.attempts));
            }
        }
        put(u64::from(self.workload_on));
        put(self.workload_next);
        put(self.workload_acked);
        put(self.queue.len() as u64);
        put(u64::from(self.loss_pct));
        for id in &self.side_b {
            put(*id);
        }
        crc32c::checksum(&b)
    }

    /// Runs `ticks` steps of the cluster with the clients (stops at the first error).
    pub fn run_ticks(&mut self, ticks: u64) {
        for _ in 0..ticks {
            if self.stopped.is_some() {
                return;
            }
            if let Err(e) = self.step() {
                self.stopped = Some(format!(
                    "The cluster stopped at tick {}: {e}. Reload the page to start again.",
                    self.cluster.now()
                ));
            }
        }
    }

    fn step(&mut self) -> Result<(), SimError> {
        let now = self.cluster.now();
        if self.form.pending.is_none() {
            if let Some((key, value)) = self.queue.pop_front() {
                self.last = Some(LastWrite {
                    key: key.clone(),
                    value: value.clone(),
                    attempts: 0,
                    acked_by: None,
                    at: None,
                });
                self.form.start(key, value, now);
            }
        }
        if self.workload_on && self.workload.pending.is_none() && now >= self.workload_next {
            let n = self.workload.seq + 1;
            self.workload
                .start(format!("w{}", n % 8), n.to_string(), now);
        }
        self.form.poll(&mut self.cluster);
        self.workload.poll(&mut self.cluster);
        if let Some(p) = &self.form.pending {
            if let Some(l) = &mut self.last {
                l.attempts = p.attempts;
            }
        }
        self.cluster.step()?;
        self.trace.extend(self.cluster.take_trace());
        let now = self.cluster.now();
        for r in self.cluster.take_client_replies() {
            if r.client == FORM_CLIENT {
                if let Some((p, by)) = self.form.reply(r.seq, r.from, &r.result, now) {
                    let at = find_entry(&self.cluster, FORM_CLIENT, p.seq);
                    if let Some(l) = &mut self.last {
                        l.acked_by = Some(by);
                        l.at = at;
                        l.attempts = p.attempts;
                    }
                }
            } else if self.workload.reply(r.seq, r.from, &r.result, now).is_some() {
                self.workload_acked += 1;
                self.workload_next = now + WORKLOAD_GAP_TICKS;
            }
        }
        Ok(())
    }

    /// Queues a write of `key` = `value` through the form's client.
    fn write(&mut self, key: &str, value: &str) -> Result<(), String> {
        let key = key.trim();
        self.queue.push_back((key.to_owned(), value.to_owned()));
        Ok(())
    }

    /// Starts or stops the workload client.
    fn set_workload(&mut self, on: bool) {
        self.workload_on = on;
    }

    /// Crashes node `id` (its disk keeps what completed syncs covered).
    fn crash(&mut self, id: NodeId) {
        let leader = self.cluster.leader();
        if let Some(s) = self.cluster.server(id) {
            if let Some(n) = s.node() {
                let v = node_view(&self.cluster, n, s.kv(), leader == Some(id));
                self.last_known.insert(id, v);
            }
        }
        self.cluster.crash(id);
        self.trace.extend(self.cluster.take_trace());
    }

    /// Restarts node `id` from its disk.
    fn restart(&mut self, id: NodeId) -> Result<(), String> {
        let r = self.cluster.restart(id).map_err(|e| e.to_string());
        self.trace.extend(self.cluster.take_trace());
        r
    }

    /// Cuts the nodes in `side_b` off from the others (empty: heal).
    fn partition(&mut self, side_b: &[NodeId]) {
        let mut b: Vec<NodeId> = side_b
            .iter()
            .copied()
            .filter(|id| (1..=NODES).contains(id))
            .collect();
        logspine_core::sort::sort(&mut b);
        b.dedup();
        if b.is_empty() {
            self.cluster.heal();
        } else {
            let a: Vec<NodeId> = (1..=NODES).filter(|id| !b.contains(id)).collect();
            self.cluster.set_partition(&[a, b.clone()]);
        }
        self.side_b = b;
        self.trace.extend(self.cluster.take_trace());
    }

    /// Loses this percentage of messages (client links included).
    fn set_loss(&mut self, pct: u32) {
        let pct = pct.min(90);
        self.loss_pct = pct;
        let mut net = self.cluster.config().net;
        net.loss_per_million = pct * 10_000;
        self.cluster.set_network(net);
    }

    /// The highest commit index any node knows (a down node's last known one included),
    /// without drawing the whole picture.
    pub fn view_commits(&self) -> u64 {
        let live = self
            .cluster
            .servers()
            .values()
            .filter_map(|s| s.node())
            .map(|n| n.commit_index());
        let down = self
            .cluster
            .servers()
            .values()
            .filter(|s| s.node().is_none())
            .filter_map(|s| self.last_known.get(&s.id()))
            .map(|v| v.commit);
        live.chain(down).max().unwrap_or(0)
    }

    /// The picture of the cluster now.
    pub fn view(&self) -> ClusterView {
        let c = &self.cluster;
        let leader = c.leader();
        let leader_node = leader.and_then(|l| c.server(l)).and_then(|s| s.node());
        let nodes = c
            .servers()
            .values()
            .map(|s| match s.node() {
                None => NodeView {
                    up: false,
                    role: None,
                    ..self.last_known.get(&s.id()).cloned().unwrap_or(NodeView {
                        id: s.id(),
                        ..NodeView::default()
                    })
                },
                Some(n) => node_view(
                    c,
                    n,
                    s.kv(),
                    leader_node.filter(|l| l.id() == n.id()).is_some(),
                ),
            })
            .collect();
        let write = self.last.as_ref().map(|l| {
            let (holders, applied_on) = l.at.map_or((0, 0), |(index, term)| {
                let up = c.servers().values().filter_map(|s| s.node());
                let holders = up.clone().filter(|n| holds(n, index, term)).count();
                let applied = up.filter(|n| n.applied_index() >= index).count();
                (count_u8(holders), count_u8(applied))
            });
            WriteView {
                key: l.key.clone(),
                value: l.value.clone(),
                waiting_on: self
                    .form
                    .pending
                    .as_ref()
                    .map(|p| p.to)
                    .filter(|_| l.acked_by.is_none()),
                acked_by: l.acked_by,
                index: l.at.map(|(i, _)| i),
                holders,
                applied_on,
                attempts: l.attempts,
            }
        });
        ClusterView {
            now: c.now(),
            nodes,
            leader,
            side_b: self.side_b.clone(),
            loss_pct: self.loss_pct,
            workload: self.workload_on,
            workload_acked: self.workload_acked,
            write,
            queued: self.queue.len(),
            stopped: self.stopped.clone(),
        }
    }
}

fn role_code(r: Role) -> u64 {
    match r {
        Role::Follower => 1,
        Role::PreCandidate => 2,
        Role::Candidate => 3,
        Role::Leader => 4,
    }
}

fn count_u8(n: usize) -> u8 {
    u8::try_from(n).unwrap_or(u8::MAX)
}

/// Whether `n` holds entry `index` of `term` in its log or its snapshot.
fn holds(n: &RaftNode<SimDisk>, index: u64, term: u64) -> bool {
    n.snapshot_index() >= index || n.term_at(index) == Some(term)
}

/// The index and term of the form client's command `seq`, in any live log.
fn find_entry(c: &Cluster, client: u64, seq: u64) -> Option<(u64, u64)> {
    c.servers().values().filter_map(|s| s.node()).find_map(|n| {
        let lo = n.first_log_index().max(n.last_index().saturating_sub(256));
        (lo..=n.last_index()).rev().find_map(|i| {
            let e = n.entry(i).ok()?;
            let EntryKind::Command(b) = &e.kind else {
                return None;
            };
            let cmd = KvCommand::decode(b).ok()?;
            (cmd.client == client && cmd.seq == seq).then_some((e.index, e.term))
        })
    })
}

fn short(b: &[u8], max: usize) -> String {
    logspine_core::world::inspect::clip_to(&String::from_utf8_lossy(b), max)
}

fn entry_label(kind: &EntryKind) -> String {
    match kind {
        EntryKind::Noop => "no-op".to_owned(),
        EntryKind::Config(_) => "config".to_owned(),
        EntryKind::Command(b) => match KvCommand::decode(b) {
            Ok(KvCommand {
                op: KvOp::Put { key, value },
                ..
            }) => format!("{}={}", short(&key, 6), short(&value, 6)),
            Ok(KvCommand {
                op: KvOp::Cas { key, .. },
                ..
            }) => format!("cas {}", short(&key, 6)),
            Ok(KvCommand {
                op: KvOp::Apply { writes },
                ..
            }) => format!("{} writes", writes.len()),
            Err(_) => "?".to_owned(),
        },
    }
}

fn node_view(
    c: &Cluster,
    n: &RaftNode<SimDisk>,
    kv: &logspine_core::raft::kv::KvStateMachine,
    is_leader: bool,
) -> NodeView {
    let last = n.last_index();
    let snapshot = n.snapshot_index();
    let lo = n
        .first_log_index()
        .max(snapshot + 1)
        .max((last + 1).saturating_sub(MAX_ENTRIES_SHOWN as u64));
    let live: Vec<&RaftNode<SimDisk>> = c.servers().values().filter_map(|s| s.node()).collect();
    let entries = (lo..=last)
        .filter_map(|i| {
            let e = n.entry(i).ok()?;
            let holders =
                is_leader.then(|| count_u8(live.iter().filter(|o| holds(o, i, e.term)).count()));
            Some(EntryView {
                index: i,
                term: e.term,
                label: entry_label(&e.kind),
                holders,
            })
        })
        .collect();
    NodeView {
        id: n.id(),
        up: true,
        role: Some(n.role()),
        term: n.term(),
        leader: n.leader().filter(|_| n.role() != Role::Leader),
        commit: n.commit_index(),
        applied: n.applied_index(),
        last,
        durable: n.durable_index(),
        snapshot,
        first: n.first_log_index(),
        entries,
        keys: kv.data().len(),
        state_hash: crc32c::checksum(&kv.snapshot()),
    }
}

#[cfg(test)]
mod tests {
    use logspine_core::raft::sim::TraceKind;
    use logspine_core::raft::NodeEvent;

    use super::*;

    fn run_until(e: &mut RaftEngine, max: u64, mut done: impl FnMut(&RaftEngine) -> bool) {
        for _ in 0..max {
            if done(e) {
                return;
            }
            e.run_ticks(1);
            assert_eq!(e.stopped(), None);
        }
        assert!(done(e), "not done after {max} ticks");
    }

    fn leader(e: &RaftEngine) -> Option<NodeId> {
        e.cluster().leader()
    }

    fn converged(e: &RaftEngine) -> bool {
        let v = e.view();
        let up: Vec<&NodeView> = v.nodes.iter().filter(|n| n.up).collect();
        up.len() == 5
            && e.form.pending.is_none()
            && e.queue.is_empty()
            && up.iter().all(|n| {
                n.commit == up[0].commit
                    && n.applied == n.commit
                    && n.state_hash == up[0].state_hash
                    && n.last == up[0].last
            })
    }

    #[test]
    fn a_write_commits_on_a_majority_and_the_view_shows_it() {
        let mut e = RaftEngine::new(7).unwrap();
        run_until(&mut e, 3000, |e| leader(e).is_some());
        e.write("x", "1").unwrap();
        run_until(&mut e, 3000, |e| {
            e.last.as_ref().is_some_and(|l| l.acked_by.is_some())
        });
        let (trace, v) = (e.take_trace(), e.view());
        let w = v.write.unwrap();
        let index = w.index.expect("found in a log");
        assert!(w.holders >= 3, "{w:?}");
        let l = v.nodes.iter().find(|n| Some(n.id) == v.leader).unwrap();
        assert!(l.commit >= index);
        assert!(l
            .entries
            .iter()
            .any(|en| en.label == "x=1" && en.holders.unwrap() >= 3));
        assert!(trace.iter().any(|t| matches!(
            t.kind,
            TraceKind::Node {
                event: NodeEvent::RoleChanged {
                    role: Role::Leader,
                    ..
                },
                ..
            }
        )));
    }

    #[test]
    fn partitions_and_crashes_then_heal_converge_to_one_state() {
        let mut e = RaftEngine::new(11).unwrap();
        e.set_workload(true);
        run_until(&mut e, 3000, |e| leader(e).is_some());
        let old = leader(&e).unwrap();
        let buddy = old % NODES + 1;
        e.partition(&[old, buddy]);
        e.write("p", "1").unwrap();
        run_until(&mut e, 6000, |e| {
            leader(e).is_some_and(|l| l != old && l != buddy)
        });
        let new = leader(&e).unwrap();
        run_until(&mut e, 3000, |e| {
            e.last.as_ref().is_some_and(|l| l.acked_by == Some(new))
        });
        e.set_loss(20);
        let victim = (1..=NODES)
            .find(|id| ![old, buddy, new].contains(id))
            .unwrap();
        e.crash(victim);
        e.run_ticks(1500);
        e.restart(victim).unwrap();
        e.set_loss(0);
        e.partition(&[]);
        e.set_workload(false);
        run_until(&mut e, 20_000, |e| {
            e.workload.pending.is_none() && converged(e)
        });
        let (_, v) = (e.take_trace(), e.view());
        assert!(v.nodes.iter().all(|n| n.keys >= 2), "{:?}", v.nodes);
    }

    #[test]
    fn a_crashed_follower_catches_up_by_snapshot_after_many_writes() {
        let mut e = RaftEngine::new(3).unwrap();
        run_until(&mut e, 3000, |e| leader(e).is_some());
        let l = leader(&e).unwrap();
        let f = l % NODES + 1;
        e.crash(f);
        for i in 0..(SNAPSHOT_EVERY * 2 + 3) {
            e.write(&format!("k{i}"), "v").unwrap();
            run_until(&mut e, 3000, |e| {
                e.queue.is_empty() && e.form.pending.is_none()
            });
        }
        let _ = (e.take_trace(), e.view());
        e.restart(f).unwrap();
        run_until(&mut e, 10_000, converged);
        let (trace, v) = (e.take_trace(), e.view());
        assert!(trace.iter().any(|t| matches!(t.kind, TraceKind::Node { node, event: NodeEvent::SnapshotInstalled { .. } } if node == f)));
        let n = v.nodes.iter().find(|n| n.id == f).unwrap();
        assert!(n.snapshot > 0 && n.keys >= 24, "{n:?}");
    }

    #[test]
    fn a_briefly_crashed_follower_catches_up_entry_by_entry() {
        let mut e = RaftEngine::new(5).unwrap();
        run_until(&mut e, 3000, |e| leader(e).is_some());
        let l = leader(&e).unwrap();
        let f = l % NODES + 1;
        e.crash(f);
        for i in 0..5 {
            e.write(&format!("k{i}"), "v").unwrap();
        }
        run_until(&mut e, 5000, |e| {
            e.queue.is_empty() && e.form.pending.is_none()
        });
        let _ = (e.take_trace(), e.view());
        e.restart(f).unwrap();
        run_until(&mut e, 10_000, converged);
        let (trace, _) = (e.take_trace(), e.view());
        let restarted_at = trace.iter().find_map(|t| match t.kind {
            TraceKind::Restarted { node, log_range } if node == f => Some(log_range.1),
            _ => None,
        });
        let v = e.view();
        let caught = v.nodes.iter().find(|n| n.id == f).unwrap().last;
        assert!(
            restarted_at.unwrap() + 5 <= caught,
            "restarted with {restarted_at:?}, caught up to {caught}"
        );
        let kinds = |kind: &str| {
            trace
                .iter()
                .filter(|t| matches!(&t.kind, TraceKind::Sent { to, msg, .. } if *to == f && msg.kind == kind && msg.entries > 0))
                .count()
        };
        assert!(kinds("AppendEntries") >= 1);
        assert_eq!(kinds("InstallSnapshot"), 0, "no snapshot needed");
    }

    #[test]
    fn refused_inputs_leave_the_engine_alone_and_down_nodes_show_their_last_state() {
        let mut e = RaftEngine::new(1).unwrap();
        let before = e.state_hash();
        for bad in [
            RaftInput::Write {
                key: String::new(),
                value: "v".into(),
            },
            RaftInput::Write {
                key: "a-key-that-is-far-too-long".into(),
                value: "v".into(),
            },
            RaftInput::Write {
                key: "k".into(),
                value: "v".repeat(MAX_VALUE_BYTES + 1),
            },
            RaftInput::Crash(0),
            RaftInput::Restart(NODES + 1),
        ] {
            assert!(e.apply(&bad).is_err(), "{bad:?}");
        }
        assert_eq!(e.state_hash(), before);
        run_until(&mut e, 3000, |e| leader(e).is_some());
        let l = leader(&e).unwrap();
        let commit = e.view().nodes[usize::try_from(l - 1).unwrap()].commit;
        e.apply(&RaftInput::Crash(l)).unwrap();
        e.run_ticks(10);
        let v = e.view();
        let n = v.nodes.iter().find(|n| n.id == l).unwrap();
        assert!(!n.up && n.role.is_none());
        assert_eq!(n.commit, commit, "its last known commit index");
    }
}
