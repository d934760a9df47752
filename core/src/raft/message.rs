//! Log entries (and their bytes in the [`crate::Log`]) and the messages nodes exchange.
//!
//! # Entry payload in the log
//! Raft index `i` is stored as the log record with LSN `i - 1`; the payload is
//! ```text
//! 0  8  term (u64 LE)
//! 8  1  kind: 0 no-op, 1 command, 2 configuration
//! 9  …  command: the bytes; configuration: count u32 LE, then that many node ids u64 LE
//! ```
//! Decoding is total: any bytes decode to an entry or a [`EntryDecodeError`].
//!
//! Messages never leave the process (the simulator carries them as values), so they have
//! no byte encoding.

use super::NodeId;

/// What an entry carries.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// Appended by a new leader (thesis §6.4): commits the entries of earlier terms and
    /// lets the leader serve read-index reads.
    Noop,
    /// An application command (opaque bytes).
    Command(Vec<u8>),
    /// A new voter configuration (thesis ch. 4).
    Config(Vec<NodeId>),
}

/// One log entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    /// Its position, from 1.
    pub index: u64,
    /// The term of the leader that created it.
    pub term: u64,
    /// What it carries.
    pub kind: EntryKind,
}

/// Why a log payload is not an entry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EntryDecodeError {
    /// Shorter than its fixed part.
    #[error("entry payload of {0} bytes is too short")]
    Short(usize),
    /// An unknown kind byte.
    #[error("unknown entry kind {0}")]
    Kind(u8),
    /// A configuration whose length does not match its count.
    #[error("configuration entry is malformed")]
    Config,
}

/// The log payload of an entry of `term` carrying `kind`.
pub fn encode_entry(term: u64, kind: &EntryKind) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    out.extend_from_slice(&term.to_le_bytes());
    match kind {
        EntryKind::Noop => out.push(0),
        EntryKind::Command(data) => {
            out.push(1);
            out.extend_from_slice(data);
        }
        EntryKind::Config(ids) => {
            out.push(2);
            let n = u32::try_from(ids.len()).expect("a configuration fits u32");
            out.extend_from_slice(&n.to_le_bytes());
            for id in ids {
                out.extend_from_slice(&id.to_le_bytes());
            }
        }
    }
    out
}

/// Decodes the payload of the record holding entry `index`.
pub fn decode_entry(index: u64, payload: &[u8]) -> Result<Entry, EntryDecodeError> {
    if payload.len() < 9 {
        return Err(EntryDecodeError::Short(payload.len()));
    }
    let term = u64::from_le_bytes(payload[0..8].try_into().expect("8 bytes"));
    let body = &payload[9..];
    let kind = match payload[8] {
        0 if body.is_empty() => EntryKind::Noop,
        0 => return Err(EntryDecodeError::Short(payload.len())),
        1 => EntryKind::Command(body.to_vec()),
        2 => {
            if body.len() < 4 {
                return Err(EntryDecodeError::Config);
            }
            let n = u32::from_le_bytes(body[0..4].try_into().expect("4 bytes")) as usize;
            let rest = &body[4..];
            if rest.len() != n.checked_mul(8).ok_or(EntryDecodeError::Config)? {
                return Err(EntryDecodeError::Config);
            }
            EntryKind::Config(
                rest.chunks_exact(8)
                    .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
                    .collect(),
            )
        }
        k => return Err(EntryDecodeError::Kind(k)),
    };
    Ok(Entry { index, term, kind })
}

/// A message between two nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// Pre-vote (thesis §9.6): "would you vote for me in `term`?" (the sender's term + 1).
    /// Changes no state at the receiver.
    PreVote {
        /// The term the sender would campaign in.
        term: u64,
        /// Index of the sender's last entry.
        last_index: u64,
        /// Term of the sender's last entry.
        last_term: u64,
    },
    /// Answer to [`Message::PreVote`].
    PreVoteResponse {
        /// When granted, the term asked about; otherwise the responder's current term.
        term: u64,
        /// Whether the responder would vote.
        granted: bool,
    },
    /// RequestVote (Raft §5.2).
    RequestVote {
        /// The candidate's term.
        term: u64,
        /// Index of the candidate's last entry.
        last_index: u64,
        /// Term of the candidate's last entry.
        last_term: u64,
    },
    /// Answer to [`Message::RequestVote`]; sent only once the vote is durable.
    RequestVoteResponse {
        /// The responder's current term.
        term: u64,
        /// Whether the vote was granted.
        granted: bool,
    },
    /// AppendEntries (Raft §5.3); with no entries, a heartbeat.
    AppendEntries {
        /// The leader's term.
        term: u64,
        /// Index of the entry just before `entries`.
        prev_index: u64,
        /// Its term.
        prev_term: u64,
        /// Entries to store (may be empty).
        entries: Vec<Entry>,
        /// The leader's commit index.
        commit: u64,
        /// The leader's read-index round when this was sent, echoed in the response.
        round: u64,
    },
    /// Answer to [`Message::AppendEntries`]; a success is sent only once the entries it
    /// acknowledges are durable.
    AppendEntriesResponse {
        /// The responder's current term.
        term: u64,
        /// Whether the entries were accepted.
        success: bool,
        /// On success, the index through which the log matches the leader's.
        match_index: u64,
        /// On failure, the first index of `conflict_term` in the follower's log, or its
        /// last index + 1 when its log is too short (fast backtracking, Raft §5.3).
        conflict_index: u64,
        /// On failure, the term of the follower's entry at `prev_index`, if it has one.
        conflict_term: Option<u64>,
        /// The round echoed from the request.
        round: u64,
    },
    /// InstallSnapshot (Raft §7), one chunk of it.
    InstallSnapshot {
        /// The leader's term.
        term: u64,
        /// The last index the snapshot covers.
        last_index: u64,
        /// The term of that entry.
        last_term: u64,
        /// The voters as of `last_index`.
        voters: Vec<NodeId>,
        /// Where this chunk starts in the snapshot's bytes.
        offset: u64,
        /// The chunk.
        data: Vec<u8>,
        /// Whether this is the last chunk.
        done: bool,
        /// The leader's read-index round.
        round: u64,
    },
    /// Answer to [`Message::InstallSnapshot`].
    InstallSnapshotResponse {
        /// The responder's current term.
        term: u64,
        /// The snapshot's last index (identifies the transfer).
        last_index: u64,
        /// The offset the follower expects next (the whole length once installed).
        next_offset: u64,
        /// Whether the snapshot is installed and durable.
        done: bool,
        /// The round echoed.
        round: u64,
    },
}

impl Message {
    /// The term the message carries.
    pub fn term(&self) -> u64 {
        match self {
            Message::PreVote { term, .. }
            | Message::PreVoteResponse { term, .. }
            | Message::RequestVote { term, .. }
            | Message::RequestVoteResponse { term, .. }
            | Message::AppendEntries { term, .. }
            | Message::AppendEntriesResponse { term, .. }
            | Message::InstallSnapshot { term, .. }
            | Message::InstallSnapshotResponse { term, .. } => *term,
        }
    }

    /// A short name for traces.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Message::PreVote { .. } => "PreVote",
            Message::PreVoteResponse { .. } => "PreVoteResponse",
            Message::RequestVote { .. } => "RequestVote",
            Message::RequestVoteResponse { .. } => "RequestVoteResponse",
            Message::AppendEntries { .. } => "AppendEntries",
            Message::AppendEntriesResponse { .. } => "AppendEntriesResponse",
            Message::InstallSnapshot { .. } => "InstallSnapshot",
            Message::InstallSnapshotResponse { .. } => "InstallSnapshotResponse",
        }
    }
}

/// A message with its addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// Sender.
    pub from: NodeId,
    /// Receiver.
    pub to: NodeId,
    /// The message.
    pub msg: Message,
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn entries_round_trip_and_garbage_is_an_error() {
        for kind in [
            EntryKind::Noop,
            EntryKind::Command(b"put x 1".to_vec()),
            EntryKind::Command(Vec::new()),
            EntryKind::Config(vec![1, 2, 5]),
        ] {
            let bytes = encode_entry(9, &kind);
            assert_eq!(
                decode_entry(4, &bytes),
                Ok(Entry {
                    index: 4,
                    term: 9,
                    kind
                })
            );
        }
        assert_eq!(decode_entry(1, &[0; 3]), Err(EntryDecodeError::Short(3)));
        let mut bad = encode_entry(1, &EntryKind::Noop);
        bad[8] = 7;
        assert_eq!(decode_entry(1, &bad), Err(EntryDecodeError::Kind(7)));
        let mut cfg = encode_entry(1, &EntryKind::Config(vec![1, 2]));
        cfg.pop();
        assert_eq!(decode_entry(1, &cfg), Err(EntryDecodeError::Config));
    }
}
