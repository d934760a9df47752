//! The replicated state machine, as the cluster simulator sees it: entries in, answers
//! out, snapshots both ways.
//!
//! Raft replicates a log; what the log means belongs to the application (Raft §1, "the
//! replicated state machine"). [`Cluster`](super::sim::Cluster) drives any type that
//! implements [`StateMachine`]: the key-value store of [`kv`](super::kv) (the default),
//! and the topic partitions and consumer offsets of
//! [`topic::replicated`](crate::topic::replicated).
//!
//! # Contract
//! * **Deterministic**: the same entries from the same snapshot give the same state and
//!   the same [`StateMachine::digest`] on every server (the checkers compare digests after
//!   every applied index: State Machine Safety, Raft §5.4.3).
//! * **Total**: an entry whose payload does not decode is applied as a no-op (the index
//!   still moves), never a panic; a snapshot that does not decode is
//!   [`StateMachine::DecodeError`].
//! * **In order**: [`StateMachine::apply`] is called with index `applied() + 1`, or the
//!   machine is replaced by [`StateMachine::restore`].
//! * **Sessions**: a command carries the client and its request number
//!   ([`StateMachine::encode_command`]); applying it answers that pair, so the server that
//!   proposed it can reply. Retries of one request must be answered the same (exactly
//!   once, thesis §6.3) — how is the machine's business (client sessions in the KV store,
//!   producer sequence numbers in a partition).

use std::fmt;

use crate::crc32c;

use super::message::Entry;

/// What applying a client's command answers: whom, and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer<R> {
    /// The client.
    pub client: u64,
    /// The client's request number.
    pub seq: u64,
    /// The response.
    pub response: R,
}

/// A state machine replicated by Raft (module docs).
pub trait StateMachine: Clone + fmt::Debug {
    /// A write a client sends through the log.
    type Command: Clone + fmt::Debug + PartialEq + Eq;
    /// What applying a command answers.
    type Response: Clone + fmt::Debug + PartialEq + Eq;
    /// A read served outside the log, at a read index (thesis §6.4).
    type Query: Clone + fmt::Debug + PartialEq + Eq;
    /// What a read returns.
    type Value: Clone + fmt::Debug + PartialEq + Eq;
    /// Why snapshot bytes do not decode.
    type DecodeError: fmt::Display;

    /// The machine before any entry (applied index 0).
    fn empty() -> Self;
    /// The entry payload for `command`, request `seq` of `client`.
    fn encode_command(client: u64, seq: u64, command: &Self::Command) -> Vec<u8>;
    /// Applies the next committed entry; the answer for the client that sent it, if any.
    fn apply(&mut self, entry: &Entry) -> Option<Answer<Self::Response>>;
    /// Serves a read against the applied state.
    fn query(&self, query: &Self::Query) -> Self::Value;
    /// The state's bytes (everything [`StateMachine::restore`] needs).
    fn snapshot(&self) -> Vec<u8>;
    /// The machine from a snapshot's bytes taken at `index`.
    fn restore(index: u64, bytes: &[u8]) -> Result<Self, Self::DecodeError>;
    /// The last index applied.
    fn applied(&self) -> u64;
    /// A checksum of the state: equal states have equal digests. The default hashes the
    /// snapshot; a machine whose state grows (a partition's records) keeps a running one.
    fn digest(&self) -> u32 {
        crc32c::checksum(&self.snapshot())
    }
}
