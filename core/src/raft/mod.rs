//! Raft replication (Ongaro & Ousterhout 2014; Ongaro's thesis 2014): a sans-IO node whose
//! log is a [`Log`](crate::Log), a replicated key-value state machine, a deterministic
//! cluster simulator and the paper's safety properties as checkers.
//!
//! "Raft's log and Postgres's WAL are the same data structure wearing different hats":
//! entry `i` of node `n` is record `i - 1` of the `Log` named `raft-{n}-log`, on the same
//! [`Storage`](crate::Storage) the database uses, crashed by the same
//! [`SimDisk`](crate::SimDisk).
//!
//! * [`node`]: [`RaftNode`], one server: elections with randomized timeouts and pre-vote,
//!   replication with next/match indexes and fast backtracking, commitment of current-term
//!   entries only, read index, snapshots sent in chunks, one-server membership changes.
//! * [`message`]: entries, their bytes in the log, and the messages.
//! * [`hard_state`]: the term and vote, in a checksummed two-slot file.
//! * [`snapshot`]: snapshot files.
//! * [`state_machine`]: the [`StateMachine`] trait the simulator drives.
//! * [`kv`]: the replicated key-value state machine with client sessions (the default
//!   [`StateMachine`]).
//! * [`sim`]: the cluster simulator: nodes on `SimDisk`s, a faulty network, crashes,
//!   partitions, clients, a typed trace in virtual time.
//! * [`check`]: the invariant checkers run after every simulated step.
//!
//! # Call order (a node)
//! [`RaftNode::open`] first (it is recovery). Then, in any order, the inputs:
//! [`RaftNode::tick`] once per tick of virtual time, [`RaftNode::handle_message`] for each
//! message delivered, [`RaftNode::propose`] / [`RaftNode::propose_config`] /
//! [`RaftNode::read_index`] for clients, [`RaftNode::compact`] when the application has a
//! snapshot, and [`RaftNode::handle_storage`] whenever the storage may have completed a
//! sync (after `SimDisk::advance`). After any input, drain the outputs:
//! [`RaftNode::take_messages`] (send them), [`RaftNode::take_committed`] (apply them in
//! order), [`RaftNode::take_reads`] (serve each once its index is applied) and
//! [`RaftNode::take_events`] (the trace). The node owns its storage; a crash is
//! [`RaftNode::into_storage`], `SimDisk::crash`, and `open` again.
//!
//! # Durability before speech
//! Every input ends by requesting one sync if it changed anything on disk (the hard state,
//! the log, a snapshot file). Responses (votes, pre-votes, acknowledgements) produced while
//! a sync is outstanding are **held** until that sync completes, so a vote is never sent
//! before it is durable and an acknowledgement of entries never before they are (Raft
//! Figure 2, "persistent state … updated on stable storage before responding to RPCs").
//! Requests (RequestVote, AppendEntries, InstallSnapshot) go out at once, in parallel with
//! the sender's own sync (thesis §10.2.1): they promise nothing about the sender's disk,
//! because the leader counts itself towards a majority only through its durable entries
//! ([`RaftNode::durable_index`]) and a candidate wins only once its vote for itself is
//! durable. Writes in one input go hard state first, then the log, so a crash that keeps a
//! prefix of them never keeps log entries of a term the hard state has not reached.
//!
//! # Handling a message
//! Each message matches exactly one row, top-down:
//!
//! | case | message                 | condition                                                  | action |
//! |------|-------------------------|------------------------------------------------------------|--------|
//! | M1   | PreVote                 | term > ours, not in a leader's lease, log up to date       | grant (no state changes) |
//! | M2   | PreVote                 | otherwise                                                  | refuse with our term |
//! | M3   | PreVoteResponse         | granted for our term + 1, we are pre-candidate             | count; a majority → candidate |
//! | M4   | PreVoteResponse         | refused with a higher term                                 | follower in that term |
//! | M5   | PreVoteResponse         | otherwise                                                  | ignore |
//! | M6   | RequestVote             | higher term, in a leader's lease (thesis §4.2.3)           | ignore |
//! | M7   | any other               | higher term                                                | follower in that term, then go on below |
//! | M8   | AppendEntries, InstallSnapshot, RequestVote | lower term                             | refuse with our term |
//! | M9   | any response            | lower term                                                 | ignore |
//! | M10  | RequestVote             | not voted (or voted for it), no leader known, log up to date (§5.4.1) | persist the vote, grant once durable |
//! | M11  | RequestVote             | otherwise                                                  | refuse |
//! | M12  | RequestVoteResponse     | granted, we are candidate                                  | count; a majority and our own vote durable → leader |
//! | M13  | AppendEntries           | prev entry matches (§5.3)                                  | drop a conflicting suffix, append, advance commit, ack once durable |
//! | M14  | AppendEntries           | log too short, or prev term differs                        | refuse with the conflict index (and term) |
//! | M15  | InstallSnapshot         | (same term)                                                | see the snapshot table below |
//! | M16  | AppendEntriesResponse   | we lead, success                                           | match and next forward, try to commit, send more |
//! | M17  | AppendEntriesResponse   | we lead, failure                                           | next = after our last entry of the conflict term, else the conflict index |
//! | M18  | InstallSnapshotResponse | we lead                                                    | next chunk, or match = the snapshot's index once done |
//!
//! Any AppendEntries or InstallSnapshot of our term makes a candidate or pre-candidate a
//! follower of its sender; one from another node while we lead is two leaders in a term,
//! a broken invariant (panic). Every AppendEntries or InstallSnapshot response of our term
//! (success or not) also counts as the follower confirming our leadership for the
//! read-index round it echoes.
//!
//! # Snapshots (thesis ch. 5)
//! The application calls [`RaftNode::compact`] with its state at an applied index; the
//! snapshot file is written at once and, when a sync covering it completes, the log's
//! segments wholly before it and older snapshot files are removed. A leader whose follower
//! needs an entry it no longer has sends its snapshot in chunks of
//! `snapshot_chunk_bytes`; each chunk of an InstallSnapshot matches one row:
//!
//! | case | chunk at the follower                                    | action |
//! |------|----------------------------------------------------------|--------|
//! | S1   | the snapshot ends at or before our commit index          | nothing to install; answer "done" |
//! | S2   | offset 0                                                 | start buffering this snapshot (dropping any other) and go on |
//! | S3   | not the offset we expect (or a transfer we are not in)   | answer the offset we expect |
//! | S4   | the expected offset, not the last chunk                  | buffer; answer the next offset |
//! | S5   | the last chunk; our log holds its last entry, same term  | write the file, keep the log after it, commit and applied jump to it, hand it to the state machine; "done" once durable |
//! | S6   | the last chunk; otherwise                                | the same, but the log restarts empty after the snapshot |
//!
//! # Recovery
//! `open` reads the hard state, the newest valid snapshot and the log:
//!
//! | case | hard state file                       | outcome |
//! |------|---------------------------------------|---------|
//! | H1   | missing                               | term 0, no vote |
//! | H2   | present, no valid slot                | term 0 if the log is empty (the first write was torn), else `Corrupt` |
//! | H3   | a valid slot                          | the newest one |
//!
//! | case | log against the snapshot (index S, term T)      | outcome |
//! |------|--------------------------------------------------|---------|
//! | L1   | no snapshot, log starts at 1                      | keep |
//! | L2   | log starts at S + 1, or holds S with term T       | keep (entries before S go with the next trim) |
//! | L3   | log ends before S or disagrees at S               | reset the log to start after S |
//! | L4   | log starts after S + 1 (or after 1 with no snapshot) | `Corrupt` |
//!
//! The commit index restarts at S (it is not persisted); the state machine starts from the
//! snapshot and replays what the leader commits again.
//!
//! # Invariants (checked by [`RaftNode::validate`])
//! `snapshot ≤ applied ≤ commit ≤ last index`; the log starts at most one past the
//! snapshot and ends at or after it; terms in the log never decrease and never exceed the
//! current term; a leader voted for itself and tracks `match < next ≤ last + 1` for each
//! other voter; only a leader tracks progress.
//!
//! The cluster-wide properties of Raft Figure 3 are checked by [`check::Checker`].

pub mod check;
pub mod hard_state;
pub mod kv;
pub mod message;
pub mod node;
pub mod sim;
pub mod snapshot;
pub mod state_machine;

/// A node's id; 0 is reserved (it means "no vote").
pub type NodeId = u64;

pub use hard_state::HardState;
pub use message::{Entry, EntryKind, Envelope, Message};
pub use node::{Apply, NodeEvent, RaftConfig, RaftError, RaftNode, RaftRecovery, ReadState, Role};
pub use snapshot::Snapshot;
pub use state_machine::{Answer, StateMachine};
