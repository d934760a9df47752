//! The cluster simulator: N Raft nodes, each on its own [`SimDisk`], replicating any
//! [`StateMachine`] (the key-value store [`KvStateMachine`] unless told otherwise), a network that delays,
//! loses, duplicates and reorders messages and can be partitioned arbitrarily, crashes
//! with the disk's crash semantics, restarts, and clients — all in virtual time from one
//! seed, with a typed trace.
//!
//! # Call order
//! [`Cluster::new`], then [`Cluster::step`] once per tick (1 tick = 1 ms of virtual time
//! in the experiments), with faults ([`Cluster::crash`], [`Cluster::restart`],
//! [`Cluster::set_partition`], [`Cluster::block`], [`Cluster::heal`],
//! [`Cluster::set_network`]) and client requests ([`Cluster::client_send`]) between steps.
//! Replies to clients are drained with [`Cluster::take_client_replies`], the trace with
//! [`Cluster::take_trace`]. With `check` on, [`check::Checker`](super::check::Checker)
//! runs after every step and a violation ends the step with [`SimError::Violation`];
//! [`Cluster::validate`] (every node's and disk's own invariants) runs every
//! [`VALIDATE_EVERY_TICKS`] ticks.
//!
//! # One step
//! 1. Virtual time moves one tick.
//! 2. Every packet due by now is delivered in (due time, send order) order; one to a
//!    crashed node is dropped.
//! 3. Each live node in id order: [`RaftNode::tick`], its disk advances one tick,
//!    [`RaftNode::handle_storage`].
//! 4. After every input to a node its outputs are drained: messages enter the network,
//!    committed entries are applied to the node's [`StateMachine`] (answering the
//!    clients whose requests this node took), confirmed reads are served once applied, and
//!    a snapshot is taken when `snapshot_every` entries were applied since the last.
//!
//! # The network
//! Each packet draws a latency from `latency_min..=latency_max` ticks, plus, with
//! probability `spike_per_million`, up to `spike_max` more (so later packets overtake
//! earlier ones: reordering). It is lost with probability `loss_per_million` and
//! delivered twice (each copy with its own latency) with `dup_per_million`. A blocked
//! link (partition) drops packets between servers at send time; links to clients are
//! never blocked, only lossy.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::vec_map::{VecMap, VecSet};

use crate::crc32c;
use crate::rng::Rng;
use crate::sim_disk::{SimDisk, SimDiskConfig, SyncLatency};

use super::check::{Checker, Violation};
use super::kv::{KvOp, KvResponse, KvStateMachine};
use super::message::{encode_entry, Entry, Message};
use super::node::{Apply, NodeEvent, RaftConfig, RaftError, RaftNode, Role};
use super::state_machine::{Answer, StateMachine};
use super::NodeId;

/// How often [`Cluster::step`] runs [`Cluster::validate`] when checks are on.
pub const VALIDATE_EVERY_TICKS: u64 = 16;

/// The network's knobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetConfig {
    /// Shortest one-way latency in ticks (at least 1).
    pub latency_min: u64,
    /// Longest usual one-way latency.
    pub latency_max: u64,
    /// How often a packet is delayed further, per million.
    pub spike_per_million: u32,
    /// Up to this many extra ticks.
    pub spike_max: u64,
    /// Loss probability per million.
    pub loss_per_million: u32,
    /// Duplication probability per million.
    pub dup_per_million: u32,
}

impl NetConfig {
    /// A perfect network with the given one-way latency range.
    pub fn reliable(latency_min: u64, latency_max: u64) -> Self {
        NetConfig {
            latency_min,
            latency_max,
            spike_per_million: 0,
            spike_max: 0,
            loss_per_million: 0,
            dup_per_million: 0,
        }
    }
}

/// The cluster's knobs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterConfig {
    /// Servers, with ids `1..=nodes`.
    pub nodes: u64,
    /// The template every node's configuration is made from (`id`, `initial_voters` and
    /// `seed` are filled in per node).
    pub raft: RaftConfig,
    /// Every node's disk.
    pub disk: SimDiskConfig,
    /// The network.
    pub net: NetConfig,
    /// Take a snapshot once this many entries were applied since the last one (0: never).
    pub snapshot_every: u64,
    /// Record the trace.
    pub trace: bool,
    /// Run the invariant checkers after every step, and `validate` every
    /// [`VALIDATE_EVERY_TICKS`].
    pub check: bool,
}

impl ClusterConfig {
    /// `nodes` servers with the default Raft timings, fast disks, a 1–5 tick network,
    /// checks on, trace off.
    pub fn new(nodes: u64) -> Self {
        ClusterConfig {
            nodes,
            raft: RaftConfig::new(1, Vec::new()),
            disk: SimDiskConfig {
                sync_latency: SyncLatency::Uniform { min: 1, max: 3 },
                ..SimDiskConfig::default()
            },
            net: NetConfig::reliable(1, 5),
            snapshot_every: 0,
            trace: false,
            check: true,
        }
    }
}

/// A network address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Addr {
    /// A server.
    Node(NodeId),
    /// A client.
    Client(u64),
}

/// What a client asks: `C` is the state machine's command and `Q` its query
/// ([`StateMachine::Command`], [`StateMachine::Query`]); the defaults are the key-value
/// store's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientOp<C = KvOp, Q = Vec<u8>> {
    /// A linearizable read (read index).
    Get {
        /// The key (the query).
        key: Q,
    },
    /// A command through the log.
    Write(C),
}

/// A client's request (type parameters as for [`ClientOp`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientRequest<C = KvOp, Q = Vec<u8>> {
    /// The client.
    pub client: u64,
    /// Its sequence number (writes are deduplicated by it).
    pub seq: u64,
    /// What to do.
    pub op: ClientOp<C, Q>,
}

/// What a server answered: `R` is the state machine's response and `V` its read value
/// ([`StateMachine::Response`], [`StateMachine::Value`]); the defaults are the key-value
/// store's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientResult<R = KvResponse, V = Option<Vec<u8>>> {
    /// A write was applied.
    Done(R),
    /// A read's value.
    Value(V),
    /// Not the leader; try this one.
    NotLeader(Option<NodeId>),
}

/// A reply delivered to a client (type parameters as for [`ClientResult`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientReply<R = KvResponse, V = Option<Vec<u8>>> {
    /// The client.
    pub client: u64,
    /// The sequence number answered.
    pub seq: u64,
    /// The server that answered.
    pub from: NodeId,
    /// The answer.
    pub result: ClientResult<R, V>,
}

/// A write a server accepted into its log (recorded only when
/// [`Cluster::record_proposals`] is on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// The server that proposed it (the leader then).
    pub node: NodeId,
    /// The client.
    pub client: u64,
    /// The client's request number.
    pub seq: u64,
    /// Its index in that leader's log.
    pub index: u64,
    /// The leader's term.
    pub term: u64,
}

#[derive(Clone, Debug)]
enum Packet<M: StateMachine> {
    Raft(Message),
    Request(ClientRequest<M::Command, M::Query>),
    Reply(ClientReply<M::Response, M::Value>),
}

#[derive(Clone, Debug)]
struct InFlight<M: StateMachine> {
    at: u64,
    seq: u64,
    from: Addr,
    to: Addr,
    packet: Packet<M>,
}

impl<M: StateMachine> PartialEq for InFlight<M> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<M: StateMachine> Eq for InFlight<M> {}
impl<M: StateMachine> PartialOrd for InFlight<M> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<M: StateMachine> Ord for InFlight<M> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// A short description of a Raft message, for the trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageSummary {
    /// `AppendEntries`, `RequestVote`, …
    pub kind: &'static str,
    /// The term it carries.
    pub term: u64,
    /// Entries carried (AppendEntries) or snapshot bytes (InstallSnapshot).
    pub entries: u64,
    /// For responses: granted / success / done.
    pub ok: Option<bool>,
}

impl MessageSummary {
    fn of(msg: &Message) -> Self {
        let (entries, ok) = match msg {
            Message::AppendEntries { entries, .. } => (entries.len() as u64, None),
            Message::InstallSnapshot { data, .. } => (data.len() as u64, None),
            Message::PreVoteResponse { granted, .. }
            | Message::RequestVoteResponse { granted, .. } => (0, Some(*granted)),
            Message::AppendEntriesResponse { success, .. } => (0, Some(*success)),
            Message::InstallSnapshotResponse { done, .. } => (0, Some(*done)),
            _ => (0, None),
        };
        MessageSummary {
            kind: msg.kind_name(),
            term: msg.term(),
            entries,
            ok,
        }
    }
}

/// Why a packet did not arrive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Random loss.
    Loss,
    /// A blocked link.
    Partition,
    /// The receiver was down.
    Down,
}

/// What happened, for the UI and the tests. Every animation is one of these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceKind {
    /// A Raft message entered the network (votes, append-entries, acks, snapshots).
    Sent {
        /// Sender.
        from: NodeId,
        /// Receiver.
        to: NodeId,
        /// What.
        msg: MessageSummary,
        /// When it will arrive.
        arrives_at: u64,
    },
    /// A Raft message was delivered.
    Delivered {
        /// Sender.
        from: NodeId,
        /// Receiver.
        to: NodeId,
        /// What.
        msg: MessageSummary,
    },
    /// A Raft message was dropped.
    Dropped {
        /// Sender.
        from: NodeId,
        /// Receiver.
        to: NodeId,
        /// What.
        msg: MessageSummary,
        /// Why.
        reason: DropReason,
    },
    /// Something a node did: role changes, votes, commits, snapshots.
    Node {
        /// The node.
        node: NodeId,
        /// What.
        event: NodeEvent,
    },
    /// A node crashed.
    Crashed {
        /// The node.
        node: NodeId,
    },
    /// A node restarted from its disk.
    Restarted {
        /// The node.
        node: NodeId,
        /// Its first and last log index after recovery.
        log_range: (u64, u64),
    },
    /// The set of blocked links changed.
    Partitioned {
        /// Blocked directed links.
        blocked: Vec<(NodeId, NodeId)>,
    },
}

/// One trace event in virtual time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceEvent {
    /// The tick.
    pub at: u64,
    /// What.
    pub kind: TraceKind,
}

/// An entry a server applied in the last step, for the checkers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppliedRecord {
    /// An entry: index, term and a hash of its payload.
    Entry {
        /// Index.
        index: u64,
        /// Term.
        term: u64,
        /// CRC32C of the entry's log payload.
        hash: u32,
        /// CRC32C of the state machine's snapshot bytes after applying it (with checks
        /// on): every server must reach the same state at the same index.
        state: Option<u32>,
    },
    /// A snapshot restored: its last index and term.
    Snapshot {
        /// Index.
        index: u64,
        /// Term.
        term: u64,
        /// CRC32C of the state machine's snapshot bytes once restored (with checks on).
        state: Option<u32>,
    },
}

/// The hash the checkers compare entries by.
pub fn entry_hash(e: &Entry) -> u32 {
    crc32c::checksum(&encode_entry(e.term, &e.kind))
}

/// One server: its node (or its disk while it is down) and its state machine (by default
/// the key-value store).
#[derive(Clone, Debug)]
pub struct Server<M: StateMachine = KvStateMachine> {
    id: NodeId,
    node: Option<RaftNode<SimDisk>>,
    down_disk: Option<SimDisk>,
    sm: M,
    /// Client writes this server proposed: answered when applied here.
    waiting: VecSet<(u64, u64)>,
    /// Read contexts: ctx → (client, seq, query).
    read_ctx: VecMap<u64, (u64, u64, M::Query)>,
    /// Confirmed reads: (ctx, index).
    reads: Vec<(u64, u64)>,
    next_ctx: u64,
    incarnation: u64,
    applied: Vec<AppliedRecord>,
    /// The voters it starts from when its disk holds no configuration: the initial
    /// cluster for the first servers, none for servers added later (they learn the
    /// configuration from the leader).
    initial_voters: Vec<NodeId>,
}

impl<M: StateMachine> Server<M> {
    /// A server that has just opened its node, with an empty state machine.
    fn new(id: NodeId, node: RaftNode<SimDisk>, initial_voters: Vec<NodeId>) -> Self {
        Server {
            id,
            node: Some(node),
            down_disk: None,
            sm: M::empty(),
            waiting: VecSet::new(),
            read_ctx: VecMap::new(),
            reads: Vec::new(),
            next_ctx: 1,
            incarnation: 0,
            applied: Vec::new(),
            initial_voters,
        }
    }

    /// The id.
    pub fn id(&self) -> NodeId {
        self.id
    }
    /// The node, if the server is up.
    pub fn node(&self) -> Option<&RaftNode<SimDisk>> {
        self.node.as_ref()
    }
    /// The state machine (empty while down).
    pub fn state_machine(&self) -> &M {
        &self.sm
    }
    /// Bumped on every restart.
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }
    /// What it applied during the last step (and between it and the one before).
    pub fn applied_last_step(&self) -> &[AppliedRecord] {
        &self.applied
    }
}

impl Server {
    /// The key-value state machine (empty while down).
    pub fn kv(&self) -> &KvStateMachine {
        &self.sm
    }
}

/// Errors from the simulation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// A node returned an error.
    #[error("node {node}: {error}")]
    Raft {
        /// The node.
        node: NodeId,
        /// The error.
        error: RaftError,
    },
    /// An invariant checker failed.
    #[error("at tick {at}: {violation}")]
    Violation {
        /// When.
        at: u64,
        /// What.
        violation: Violation,
    },
    /// A bad request to the simulator.
    #[error("invalid: {0}")]
    Invalid(String),
}

/// The simulated cluster, replicating the state machine `M` (by default the key-value
/// store). See the module docs.
#[derive(Clone, Debug)]
pub struct Cluster<M: StateMachine = KvStateMachine> {
    config: ClusterConfig,
    now: u64,
    rng: Rng,
    servers: crate::vec_map::VecMap<NodeId, Server<M>>,
    net: BinaryHeap<Reverse<InFlight<M>>>,
    net_seq: u64,
    blocked: VecSet<(NodeId, NodeId)>,
    trace: Vec<TraceEvent>,
    client_inbox: Vec<ClientReply<M::Response, M::Value>>,
    checker: Option<Checker>,
    delivered: u64,
    /// Writes accepted into a leader's log, when recorded.
    proposals: Option<Vec<Proposal>>,
}

impl Cluster {
    /// A fresh key-value cluster; everything random in it comes from `seed`. (Any other
    /// state machine: [`Cluster::with_machine`].)
    pub fn new(config: ClusterConfig, seed: u64) -> Result<Self, SimError> {
        Cluster::with_machine(config, seed)
    }
}

impl<M: StateMachine> Cluster<M> {
    /// A fresh cluster replicating `M`; everything random in it comes from `seed`.
    pub fn with_machine(config: ClusterConfig, seed: u64) -> Result<Self, SimError> {
        if config.nodes == 0 || config.net.latency_min == 0 {
            return Err(SimError::Invalid(
                "a cluster needs nodes and a positive latency".into(),
            ));
        }
        let mut rng = Rng::new(seed);
        let voters: Vec<NodeId> = (1..=config.nodes).collect();
        let mut servers = crate::vec_map::VecMap::new();
        for id in 1..=config.nodes {
            let disk = SimDisk::new(config.disk, rng.next_u64());
            let raft = RaftConfig {
                id,
                initial_voters: voters.clone(),
                seed: rng.next_u64(),
                ..config.raft.clone()
            };
            let (node, _) =
                RaftNode::open(disk, raft).map_err(|error| SimError::Raft { node: id, error })?;
            servers.insert(id, Server::new(id, node, voters.clone()));
        }
        let checker = config.check.then(Checker::new);
        Ok(Cluster {
            config,
            now: 0,
            rng,
            servers,
            net: BinaryHeap::new(),
            net_seq: 0,
            blocked: VecSet::new(),
            trace: Vec::new(),
            client_inbox: Vec::new(),
            checker,
            delivered: 0,
            proposals: None,
        })
    }

    /// Starts (or stops) recording every write a leader accepts into its log, drained
    /// with [`Cluster::take_proposals`]. A client of an "acks=1" system is answered at
    /// that moment, before the write is replicated; the topic's contrast mode uses it.
    pub fn record_proposals(&mut self, on: bool) {
        self.proposals = on.then(Vec::new);
    }

    /// The writes accepted since the last call (empty unless recording).
    pub fn take_proposals(&mut self) -> Vec<Proposal> {
        self.proposals
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Virtual time in ticks.
    pub fn now(&self) -> u64 {
        self.now
    }
    /// The configuration.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }
    /// The servers, by id.
    pub fn servers(&self) -> &crate::vec_map::VecMap<NodeId, Server<M>> {
        &self.servers
    }
    /// One server.
    pub fn server(&self, id: NodeId) -> Option<&Server<M>> {
        self.servers.get(&id)
    }
    /// Whether `id` is up.
    pub fn is_up(&self, id: NodeId) -> bool {
        self.servers.get(&id).is_some_and(|s| s.node.is_some())
    }
    /// Packets in flight.
    pub fn in_flight(&self) -> usize {
        self.net.len()
    }
    /// Packets delivered so far.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }
    /// The live leader with the highest term, if any.
    pub fn leader(&self) -> Option<NodeId> {
        self.servers
            .values()
            .filter_map(|s| s.node.as_ref())
            .filter(|n| n.role() == Role::Leader)
            .max_by_key(|n| n.term())
            .map(RaftNode::id)
    }
    /// The trace since the last call.
    pub fn take_trace(&mut self) -> Vec<TraceEvent> {
        std::mem::take(&mut self.trace)
    }
    /// Replies delivered to clients since the last call.
    pub fn take_client_replies(&mut self) -> Vec<ClientReply<M::Response, M::Value>> {
        std::mem::take(&mut self.client_inbox)
    }
    /// Changes the network's behaviour from now on.
    pub fn set_network(&mut self, net: NetConfig) {
        self.config.net = net;
    }
    /// The cluster's random generator (the tests' fault schedules draw from it so one
    /// seed fixes everything).
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    fn record(&mut self, kind: TraceKind) {
        if self.config.trace {
            self.trace.push(TraceEvent { at: self.now, kind });
        }
    }

    /// The blocked links `(from, to)`.
    pub fn blocked(&self) -> &VecSet<(NodeId, NodeId)> {
        &self.blocked
    }

    /// Blocks every link between servers in different groups; servers in no group are
    /// cut off from everyone.
    pub fn set_partition(&mut self, groups: &[Vec<NodeId>]) {
        self.blocked.clear();
        let group_of = |id: NodeId| groups.iter().position(|g| g.contains(&id));
        let ids: Vec<NodeId> = self.servers.keys().copied().collect();
        for &a in &ids {
            for &b in &ids {
                if a != b && (group_of(a).is_none() || group_of(a) != group_of(b)) {
                    self.blocked.insert((a, b));
                }
            }
        }
        let blocked = self.blocked.iter().copied().collect();
        self.record(TraceKind::Partitioned { blocked });
    }

    /// Blocks the directed link `from → to` (asymmetric partitions).
    pub fn block(&mut self, from: NodeId, to: NodeId) {
        self.blocked.insert((from, to));
        let blocked = self.blocked.iter().copied().collect();
        self.record(TraceKind::Partitioned { blocked });
    }

    /// Unblocks every link.
    pub fn heal(&mut self) {
        self.blocked.clear();
        self.record(TraceKind::Partitioned {
            blocked: Vec::new(),
        });
    }

    /// Crashes `id`: its disk keeps what completed syncs covered (and perhaps part of
    /// what was in flight, torn); its memory, outbox and state machine are gone.
    pub fn crash(&mut self, id: NodeId) {
        let Some(server) = self.servers.get_mut(&id) else {
            return;
        };
        let Some(node) = server.node.take() else {
            return;
        };
        let mut disk = node.into_storage();
        disk.crash();
        server.down_disk = Some(disk);
        server.sm = M::empty();
        server.waiting.clear();
        server.read_ctx.clear();
        server.reads.clear();
        self.record(TraceKind::Crashed { node: id });
    }

    /// Restarts `id` from its disk (recovery).
    pub fn restart(&mut self, id: NodeId) -> Result<(), SimError> {
        let seed = self.rng.next_u64();
        let template = self.config.raft.clone();
        let Some(server) = self.servers.get_mut(&id) else {
            return Err(SimError::Invalid(format!("no server {id}")));
        };
        let Some(disk) = server.down_disk.take() else {
            return Ok(());
        };
        let raft = RaftConfig {
            id,
            initial_voters: server.initial_voters.clone(),
            seed,
            ..template
        };
        let (node, rec) =
            RaftNode::open(disk, raft).map_err(|error| SimError::Raft { node: id, error })?;
        server.node = Some(node);
        server.incarnation += 1;
        self.record(TraceKind::Restarted {
            node: id,
            log_range: rec.log_range,
        });
        self.drain(id)
    }

    /// Adds server `id` with an empty disk and no configuration of its own: it does not
    /// campaign, and it joins once the leader replicates a configuration naming it
    /// ([`Cluster::propose_config`]).
    pub fn add_server(&mut self, id: NodeId) -> Result<(), SimError> {
        if self.servers.contains_key(&id) || id == 0 {
            return Err(SimError::Invalid(format!("server {id} exists or is 0")));
        }
        let disk = SimDisk::new(self.config.disk, self.rng.next_u64());
        let raft = RaftConfig {
            id,
            initial_voters: Vec::new(),
            seed: self.rng.next_u64(),
            ..self.config.raft.clone()
        };
        let (node, _) =
            RaftNode::open(disk, raft).map_err(|error| SimError::Raft { node: id, error })?;
        self.servers.insert(id, Server::new(id, node, Vec::new()));
        Ok(())
    }

    /// Asks the current leader to change the voters (one server added or removed, thesis
    /// ch. 4); returns the configuration entry's index. Fails with the node's error if
    /// there is no leader or the change is refused.
    pub fn propose_config(&mut self, voters: Vec<NodeId>) -> Result<u64, SimError> {
        let leader = self
            .leader()
            .ok_or_else(|| SimError::Invalid("no leader".into()))?;
        let node = self.node_mut(leader);
        let r = node.propose_config(voters);
        let index = r.map_err(|error| SimError::Raft {
            node: leader,
            error,
        })?;
        self.drain(leader)?;
        Ok(index)
    }

    /// Replaces `id`'s disk with an empty one while it is down: the node forgets its
    /// term, vote and log. That breaks Raft's assumption of stable storage, so the
    /// invariant checkers may (and should be able to) report a violation afterwards.
    pub fn wipe_disk(&mut self, id: NodeId) -> Result<(), SimError> {
        let seed = self.rng.next_u64();
        let disk_config = self.config.disk;
        let server = self
            .servers
            .get_mut(&id)
            .ok_or_else(|| SimError::Invalid(format!("no server {id}")))?;
        if server.down_disk.is_none() {
            return Err(SimError::Invalid(format!("server {id} is up")));
        }
        server.down_disk = Some(SimDisk::new(disk_config, seed));
        Ok(())
    }

    /// Sends a client request to server `to` through the network.
    pub fn client_send(&mut self, to: NodeId, request: ClientRequest<M::Command, M::Query>) {
        let from = Addr::Client(request.client);
        self.transmit(from, Addr::Node(to), Packet::Request(request));
    }

    fn transmit(&mut self, from: Addr, to: Addr, packet: Packet<M>) {
        let summary = match &packet {
            Packet::Raft(m) => Some(MessageSummary::of(m)),
            _ => None,
        };
        let (Addr::Node(f), Addr::Node(t)) = (from, to) else {
            // Client links: lossy but never partitioned.
            if self.rng.chance(self.config.net.loss_per_million) {
                return;
            }
            self.schedule(from, to, packet);
            return;
        };
        let summary = summary.expect("server to server is Raft");
        if self.blocked.contains(&(f, t)) {
            self.record(TraceKind::Dropped {
                from: f,
                to: t,
                msg: summary,
                reason: DropReason::Partition,
            });
            return;
        }
        if self.rng.chance(self.config.net.loss_per_million) {
            self.record(TraceKind::Dropped {
                from: f,
                to: t,
                msg: summary,
                reason: DropReason::Loss,
            });
            return;
        }
        if self.rng.chance(self.config.net.dup_per_million) {
            let at = self.schedule(from, to, packet.clone());
            self.record(TraceKind::Sent {
                from: f,
                to: t,
                msg: summary.clone(),
                arrives_at: at,
            });
        }
        let at = self.schedule(from, to, packet);
        self.record(TraceKind::Sent {
            from: f,
            to: t,
            msg: summary,
            arrives_at: at,
        });
    }

    fn schedule(&mut self, from: Addr, to: Addr, packet: Packet<M>) -> u64 {
        let net = self.config.net;
        let mut latency = self
            .rng
            .range_inclusive(net.latency_min, net.latency_max.max(net.latency_min));
        if net.spike_max > 0 && self.rng.chance(net.spike_per_million) {
            latency += self.rng.range_inclusive(0, net.spike_max);
        }
        let at = self.now + latency.max(1);
        self.net_seq += 1;
        self.net.push(Reverse(InFlight {
            at,
            seq: self.net_seq,
            from,
            to,
            packet,
        }));
        at
    }

    /// One tick. See the module docs.
    pub fn step(&mut self) -> Result<(), SimError> {
        self.now += 1;
        while self.net.peek().is_some_and(|Reverse(p)| p.at <= self.now) {
            let Reverse(p) = self.net.pop().expect("peeked");
            self.deliver(p)?;
        }
        let ids: Vec<NodeId> = self.servers.keys().copied().collect();
        for id in ids {
            let server = self.servers.get_mut(&id).expect("listed");
            let Some(node) = server.node.as_mut() else {
                continue;
            };
            let r = node.tick().and_then(|()| {
                node.storage_mut().advance(1);
                node.handle_storage()
            });
            r.map_err(|error| SimError::Raft { node: id, error })?;
            self.drain(id)?;
        }
        if self.config.check && self.now.is_multiple_of(VALIDATE_EVERY_TICKS) {
            self.validate();
        }
        if let Some(mut checker) = self.checker.take() {
            let r = checker.check(self);
            self.checker = Some(checker);
            r.map_err(|violation| SimError::Violation {
                at: self.now,
                violation,
            })?;
        }
        // What was applied since the last check (including between steps, by a restart's
        // recovery or a proposal) has been seen.
        for s in self.servers.values_mut() {
            s.applied.clear();
        }
        Ok(())
    }

    /// Checks every live node's and disk's invariants ([`RaftNode::validate`],
    /// [`SimDisk::validate`]); panics on a violation (a bug). With `check` on, `step` calls
    /// it every [`VALIDATE_EVERY_TICKS`] ticks (each call walks every log).
    pub fn validate(&self) {
        for s in self.servers.values() {
            if let Some(n) = &s.node {
                n.validate();
                n.storage().validate();
                assert_eq!(
                    s.sm.applied(),
                    n.applied_index(),
                    "node {}: the state machine is not where the node says",
                    s.id
                );
            }
        }
    }

    /// Runs `ticks` steps.
    pub fn run(&mut self, ticks: u64) -> Result<(), SimError> {
        for _ in 0..ticks {
            self.step()?;
        }
        Ok(())
    }

    fn deliver(&mut self, p: InFlight<M>) -> Result<(), SimError> {
        match (p.to, p.packet) {
            (Addr::Client(_), Packet::Reply(r)) => {
                self.client_inbox.push(r);
                Ok(())
            }
            (Addr::Node(to), Packet::Raft(msg)) => {
                let Addr::Node(from) = p.from else {
                    return Ok(());
                };
                let summary = MessageSummary::of(&msg);
                if !self.is_up(to) {
                    self.record(TraceKind::Dropped {
                        from,
                        to,
                        msg: summary,
                        reason: DropReason::Down,
                    });
                    return Ok(());
                }
                self.delivered += 1;
                self.record(TraceKind::Delivered {
                    from,
                    to,
                    msg: summary,
                });
                let node = self.node_mut(to);
                node.handle_message(from, msg)
                    .map_err(|error| SimError::Raft { node: to, error })?;
                self.drain(to)
            }
            (Addr::Node(to), Packet::Request(req)) => {
                if self.is_up(to) {
                    self.handle_request(to, req)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn node_mut(&mut self, id: NodeId) -> &mut RaftNode<SimDisk> {
        self.servers
            .get_mut(&id)
            .and_then(|s| s.node.as_mut())
            .expect("a live node")
    }

    fn reply(
        &mut self,
        from: NodeId,
        client: u64,
        seq: u64,
        result: ClientResult<M::Response, M::Value>,
    ) {
        self.transmit(
            Addr::Node(from),
            Addr::Client(client),
            Packet::Reply(ClientReply {
                client,
                seq,
                from,
                result,
            }),
        );
    }

    fn handle_request(
        &mut self,
        id: NodeId,
        req: ClientRequest<M::Command, M::Query>,
    ) -> Result<(), SimError> {
        let server = self.servers.get_mut(&id).expect("exists");
        let node = server.node.as_mut().expect("up");
        let result = match req.op {
            ClientOp::Get { key } => {
                let ctx = server.next_ctx;
                server.next_ctx += 1;
                let r = node.read_index(ctx);
                if r.is_ok() {
                    server.read_ctx.insert(ctx, (req.client, req.seq, key));
                }
                r
            }
            ClientOp::Write(op) => {
                let payload = M::encode_command(req.client, req.seq, &op);
                let r = node.propose(payload);
                if let Ok(index) = r {
                    server.waiting.insert((req.client, req.seq));
                    if let Some(p) = self.proposals.as_mut() {
                        p.push(Proposal {
                            node: id,
                            client: req.client,
                            seq: req.seq,
                            index,
                            term: node.term(),
                        });
                    }
                }
                r.map(|_| ())
            }
        };
        match result {
            Ok(()) => {}
            Err(RaftError::NotLeader { leader }) => {
                self.reply(id, req.client, req.seq, ClientResult::NotLeader(leader));
            }
            Err(error) => return Err(SimError::Raft { node: id, error }),
        }
        self.drain(id)
    }

    /// Moves a node's outputs along: messages out, entries applied, reads served.
    fn drain(&mut self, id: NodeId) -> Result<(), SimError> {
        let err = |error| SimError::Raft { node: id, error };
        let server = self.servers.get_mut(&id).expect("exists");
        let Some(node) = server.node.as_mut() else {
            return Ok(());
        };
        let msgs = node.take_messages();
        let events = node.take_events();
        let reads = node.take_reads();
        let applies = node.take_committed().map_err(err)?;
        let check = self.config.check;
        let mut replies = Vec::new();
        for a in applies {
            match a {
                Apply::Snapshot(s) => {
                    server.sm = M::restore(s.index, &s.data).map_err(|e| {
                        SimError::Invalid(format!("node {id}: snapshot does not decode: {e}"))
                    })?;
                    server.applied.push(AppliedRecord::Snapshot {
                        index: s.index,
                        term: s.term,
                        state: check.then(|| server.sm.digest()),
                    });
                }
                Apply::Entry(e) => {
                    if let Some(Answer {
                        client,
                        seq,
                        response,
                    }) = server.sm.apply(&e)
                    {
                        if server.waiting.remove(&(client, seq)) {
                            replies.push((client, seq, ClientResult::Done(response)));
                        }
                    }
                    server.applied.push(AppliedRecord::Entry {
                        index: e.index,
                        term: e.term,
                        hash: entry_hash(&e),
                        state: check.then(|| server.sm.digest()),
                    });
                }
            }
        }
        server.reads.extend(reads.iter().map(|r| (r.ctx, r.index)));
        let applied = server.sm.applied();
        let mut still = Vec::new();
        for (ctx, index) in std::mem::take(&mut server.reads) {
            if index <= applied {
                if let Some((client, seq, query)) = server.read_ctx.remove(&ctx) {
                    let v = server.sm.query(&query);
                    replies.push((client, seq, ClientResult::Value(v)));
                }
            } else {
                still.push((ctx, index));
            }
        }
        server.reads = still;
        // Compaction policy: every `snapshot_every` applied entries.
        let every = self.config.snapshot_every;
        if every > 0 && applied >= node.snapshot_index() + every {
            node.compact(applied, server.sm.snapshot()).map_err(err)?;
            // compact() may have produced nothing to send, but keep the order uniform.
        }
        for env in msgs {
            self.transmit(
                Addr::Node(env.from),
                Addr::Node(env.to),
                Packet::Raft(env.msg),
            );
        }
        for event in events {
            self.record(TraceKind::Node { node: id, event });
        }
        for (client, seq, result) in replies {
            self.reply(id, client, seq, result);
        }
        Ok(())
    }
}
