//! The replicated key-value state machine: put, compare-and-set, and (outside the log)
//! linearizable get, with client sessions so a retried command is applied once.
//!
//! # Sessions (thesis §6.3)
//! Every command carries `(client, seq)`. Each client has at most one command outstanding
//! and numbers them 1, 2, 3, …; it retries a command with the same number. The state
//! machine remembers, per client, the last number applied and its response:
//!
//! | case | command's seq against the client's last applied `s` | outcome |
//! |------|------------------------------------------------------|---------|
//! | K1   | `seq > s`                                            | apply; remember `(seq, response)` |
//! | K2   | `seq == s`                                           | a retry: do nothing, answer the remembered response |
//! | K3   | `seq < s`                                            | stale (the client moved on): do nothing, no answer |
//!
//! Gets go through [`super::RaftNode::read_index`] instead of the log and read
//! [`KvStateMachine::get`] once the read index is applied.
//!
//! # Bytes
//! ```text
//! command  = client u64 | seq u64 | op u8 | key
//!            op 1 (put): value            op 2 (cas): expected option | value
//! key, value = len u32 | bytes           option = tag u8 (0 none, 1 some) | value
//! snapshot = n u32 | n × (key | value) | m u32 | m × (client u64 | seq u64 | response u8)
//!            response 0: put done, 1: cas failed, 2: cas swapped
//! ```
//! Decoding is total: garbage is a [`KvDecodeError`], never a panic.

use std::collections::BTreeMap;

use super::message::{Entry, EntryKind};
use super::state_machine::{Answer, StateMachine};

/// A command that goes through the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvOp {
    /// Set `key` to `value`.
    Put {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
    },
    /// Set `key` to `value` if its current value is `expected` (`None`: absent).
    Cas {
        /// The key.
        key: Vec<u8>,
        /// The value it must have.
        expected: Option<Vec<u8>>,
        /// The value to set.
        value: Vec<u8>,
    },
    /// Apply these writes in order, as one command (`None`: delete the key). The world's
    /// feed from a database's change topic sends a batch of change events as one.
    Apply {
        /// Keys and their new values, in order.
        writes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    },
}

/// A command with its session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvCommand {
    /// The client.
    pub client: u64,
    /// The client's sequence number for this command (from 1).
    pub seq: u64,
    /// What to do.
    pub op: KvOp,
}

/// What a command did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvResponse {
    /// The put is applied.
    PutDone,
    /// The compare-and-set: whether it swapped.
    Cas {
        /// True if the value matched and was replaced.
        swapped: bool,
    },
}

/// Why bytes are not a command or a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KvDecodeError {
    /// The bytes end too early.
    #[error("truncated at byte {0}")]
    Truncated(usize),
    /// An unknown tag.
    #[error("unknown tag {tag} at byte {at}")]
    Tag {
        /// The tag.
        tag: u8,
        /// Where.
        at: usize,
    },
    /// Bytes left over.
    #[error("{0} trailing bytes")]
    Trailing(usize),
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], KvDecodeError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or(KvDecodeError::Truncated(self.at))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, KvDecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, KvDecodeError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }
    fn u64(&mut self) -> Result<u64, KvDecodeError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }
    fn bytes(&mut self) -> Result<Vec<u8>, KvDecodeError> {
        let n = self.u32()? as usize;
        Ok(self.take(n)?.to_vec())
    }
    /// What [`put_opt_bytes`] wrote.
    fn opt_bytes(&mut self) -> Result<Option<Vec<u8>>, KvDecodeError> {
        let at = self.at;
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.bytes()?)),
            tag => Err(KvDecodeError::Tag { tag, at }),
        }
    }
    fn end(&self) -> Result<(), KvDecodeError> {
        if self.at == self.b.len() {
            Ok(())
        } else {
            Err(KvDecodeError::Trailing(self.b.len() - self.at))
        }
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    let n = u32::try_from(b.len()).expect("a key or value fits u32");
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(b);
}

/// `0`, or `1` and the bytes.
fn put_opt_bytes(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => out.push(0),
        Some(b) => {
            out.push(1);
            put_bytes(out, b);
        }
    }
}

impl KvCommand {
    /// The command's bytes (an entry's payload).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&self.client.to_le_bytes());
        out.extend_from_slice(&self.seq.to_le_bytes());
        match &self.op {
            KvOp::Put { key, value } => {
                out.push(1);
                put_bytes(&mut out, key);
                put_bytes(&mut out, value);
            }
            KvOp::Cas {
                key,
                expected,
                value,
            } => {
                out.push(2);
                put_bytes(&mut out, key);
                put_opt_bytes(&mut out, expected.as_deref());
                put_bytes(&mut out, value);
            }
            KvOp::Apply { writes } => {
                out.push(3);
                let n = u32::try_from(writes.len()).expect("a batch fits u32");
                out.extend_from_slice(&n.to_le_bytes());
                for (key, value) in writes {
                    put_bytes(&mut out, key);
                    put_opt_bytes(&mut out, value.as_deref());
                }
            }
        }
        out
    }

    /// Decodes a command.
    pub fn decode(b: &[u8]) -> Result<KvCommand, KvDecodeError> {
        let mut r = Reader { b, at: 0 };
        let client = r.u64()?;
        let seq = r.u64()?;
        let at = r.at;
        let op = match r.u8()? {
            1 => KvOp::Put {
                key: r.bytes()?,
                value: r.bytes()?,
            },
            2 => {
                let key = r.bytes()?;
                let expected = r.opt_bytes()?;
                KvOp::Cas {
                    key,
                    expected,
                    value: r.bytes()?,
                }
            }
            3 => {
                let n = r.u32()?;
                // Each write takes at least 5 bytes: a count beyond what is left is garbage.
                let mut writes = Vec::with_capacity((n as usize).min(r.b.len() / 5));
                for _ in 0..n {
                    let key = r.bytes()?;
                    writes.push((key, r.opt_bytes()?));
                }
                KvOp::Apply { writes }
            }
            tag => return Err(KvDecodeError::Tag { tag, at }),
        };
        r.end()?;
        Ok(KvCommand { client, seq, op })
    }
}

/// The state machine. Deterministic: the same entries give the same state on every node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvStateMachine {
    data: BTreeMap<Vec<u8>, Vec<u8>>,
    sessions: crate::vec_map::VecMap<u64, (u64, KvResponse)>,
    applied: u64,
    /// The running digest: the wrapping sum of every key's and every session's hash,
    /// kept as they change (the state machine safety checker asks for it after every
    /// entry, and hashing a snapshot of every row each time cost more than the rest).
    digest: u32,
}

fn row_hash(key: &[u8], value: &[u8]) -> u32 {
    let n = u32::try_from(key.len())
        .expect("a key fits u32")
        .to_le_bytes();
    let c = crate::crc32c::extend(0, &[0, n[0], n[1], n[2], n[3]]);
    crate::crc32c::extend(crate::crc32c::extend(c, key), value)
}

fn session_hash(client: u64, seq: u64, response: KvResponse) -> u32 {
    let mut b = [0u8; 18];
    b[0] = 1;
    b[1..9].copy_from_slice(&client.to_le_bytes());
    b[9..17].copy_from_slice(&seq.to_le_bytes());
    b[17] = match response {
        KvResponse::PutDone => 0,
        KvResponse::Cas { swapped: false } => 1,
        KvResponse::Cas { swapped: true } => 2,
    };
    crate::crc32c::checksum(&b)
}

/// The outcome of applying one entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvApplied {
    /// A no-op, a configuration, a stale retry (K3), or a command that does not decode
    /// (no client can be answered).
    Nothing,
    /// A command applied (K1) or a retry answered from the session (K2).
    Answer {
        /// The client.
        client: u64,
        /// Its sequence number.
        seq: u64,
        /// The response.
        response: KvResponse,
    },
}

impl KvStateMachine {
    /// An empty state machine.
    pub fn new() -> Self {
        KvStateMachine::default()
    }

    /// The last index applied.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// The value of `key`.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.data.get(key).map(Vec::as_slice)
    }

    /// Every key and value.
    pub fn data(&self) -> &BTreeMap<Vec<u8>, Vec<u8>> {
        &self.data
    }

    /// A digest of the state (keys, values and sessions): equal states have equal
    /// digests. Kept as the state changes, so it costs nothing to ask.
    pub fn digest(&self) -> u32 {
        self.digest
    }

    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        if let Some(old) = self.data.get(&key) {
            self.digest = self.digest.wrapping_sub(row_hash(&key, old));
        }
        self.digest = self.digest.wrapping_add(row_hash(&key, &value));
        self.data.insert(key, value);
    }

    fn remove(&mut self, key: &[u8]) {
        if let Some(old) = self.data.remove(key) {
            self.digest = self.digest.wrapping_sub(row_hash(key, &old));
        }
    }

    fn set_session(&mut self, client: u64, seq: u64, response: KvResponse) {
        self.digest = self
            .digest
            .wrapping_add(session_hash(client, seq, response));
        if let Some((s, r)) = self.sessions.insert(client, (seq, response)) {
            self.digest = self.digest.wrapping_sub(session_hash(client, s, r));
        }
    }

    /// Applies the next committed entry (its index must follow the last applied).
    pub fn apply(&mut self, entry: &Entry) -> KvApplied {
        assert_eq!(
            entry.index,
            self.applied + 1,
            "entries must be applied in order"
        );
        self.applied = entry.index;
        let EntryKind::Command(bytes) = &entry.kind else {
            return KvApplied::Nothing;
        };
        let Ok(cmd) = KvCommand::decode(bytes) else {
            return KvApplied::Nothing;
        };
        match self.sessions.get(&cmd.client) {
            Some((seq, response)) if *seq == cmd.seq => {
                return KvApplied::Answer {
                    client: cmd.client,
                    seq: cmd.seq,
                    response: *response,
                }
            }
            Some((seq, _)) if *seq > cmd.seq => return KvApplied::Nothing,
            _ => {}
        }
        let response = match cmd.op {
            KvOp::Put { key, value } => {
                self.put(key, value);
                KvResponse::PutDone
            }
            KvOp::Cas {
                key,
                expected,
                value,
            } => {
                let swapped = self.data.get(&key) == expected.as_ref();
                if swapped {
                    self.put(key, value);
                }
                KvResponse::Cas { swapped }
            }
            KvOp::Apply { writes } => {
                for (key, value) in writes {
                    match value {
                        Some(v) => self.put(key, v),
                        None => self.remove(&key),
                    }
                }
                KvResponse::PutDone
            }
        };
        self.set_session(cmd.client, cmd.seq, response);
        KvApplied::Answer {
            client: cmd.client,
            seq: cmd.seq,
            response,
        }
    }

    /// The state's bytes, for a snapshot.
    pub fn snapshot(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let n = u32::try_from(self.data.len()).expect("fits u32");
        out.extend_from_slice(&n.to_le_bytes());
        for (k, v) in &self.data {
            put_bytes(&mut out, k);
            put_bytes(&mut out, v);
        }
        let m = u32::try_from(self.sessions.len()).expect("fits u32");
        out.extend_from_slice(&m.to_le_bytes());
        for (client, (seq, resp)) in &self.sessions {
            out.extend_from_slice(&client.to_le_bytes());
            out.extend_from_slice(&seq.to_le_bytes());
            out.push(match resp {
                KvResponse::PutDone => 0,
                KvResponse::Cas { swapped: false } => 1,
                KvResponse::Cas { swapped: true } => 2,
            });
        }
        out
    }

    /// Rebuilds the state from a snapshot's bytes taken at `index`.
    pub fn restore(index: u64, bytes: &[u8]) -> Result<KvStateMachine, KvDecodeError> {
        let mut r = Reader { b: bytes, at: 0 };
        let mut sm = KvStateMachine {
            applied: index,
            ..KvStateMachine::default()
        };
        if bytes.is_empty() && index == 0 {
            return Ok(sm);
        }
        for _ in 0..r.u32()? {
            let k = r.bytes()?;
            let v = r.bytes()?;
            sm.put(k, v);
        }
        for _ in 0..r.u32()? {
            let client = r.u64()?;
            let seq = r.u64()?;
            let at = r.at;
            let resp = match r.u8()? {
                0 => KvResponse::PutDone,
                1 => KvResponse::Cas { swapped: false },
                2 => KvResponse::Cas { swapped: true },
                tag => return Err(KvDecodeError::Tag { tag, at }),
            };
            sm.set_session(client, seq, resp);
        }
        r.end()?;
        Ok(sm)
    }
}

impl StateMachine for KvStateMachine {
    type Command = KvOp;
    type Response = KvResponse;
    type Query = Vec<u8>;
    type Value = Option<Vec<u8>>;
    type DecodeError = KvDecodeError;

    fn empty() -> Self {
        KvStateMachine::new()
    }
    fn encode_command(client: u64, seq: u64, command: &KvOp) -> Vec<u8> {
        KvCommand {
            client,
            seq,
            op: command.clone(),
        }
        .encode()
    }
    fn apply(&mut self, entry: &Entry) -> Option<Answer<KvResponse>> {
        match KvStateMachine::apply(self, entry) {
            KvApplied::Nothing => None,
            KvApplied::Answer {
                client,
                seq,
                response,
            } => Some(Answer {
                client,
                seq,
                response,
            }),
        }
    }
    fn query(&self, key: &Vec<u8>) -> Option<Vec<u8>> {
        self.get(key).map(<[u8]>::to_vec)
    }
    fn snapshot(&self) -> Vec<u8> {
        KvStateMachine::snapshot(self)
    }
    fn restore(index: u64, bytes: &[u8]) -> Result<Self, KvDecodeError> {
        KvStateMachine::restore(index, bytes)
    }
    fn digest(&self) -> u32 {
        self.digest
    }
    fn applied(&self) -> u64 {
        self.applied
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn entry(index: u64, client: u64, seq: u64, op: KvOp) -> Entry {
        Entry {
            index,
            term: 1,
            kind: EntryKind::Command(KvCommand { client, seq, op }.encode()),
        }
    }

    #[test]
    fn a_retried_command_is_applied_once_and_stale_ones_not_at_all() {
        let mut sm = KvStateMachine::new();
        let cas = |expected: Option<&[u8]>, value: &[u8]| KvOp::Cas {
            key: b"k".to_vec(),
            expected: expected.map(<[u8]>::to_vec),
            value: value.to_vec(),
        };
        // K1: create-if-absent swaps.
        assert_eq!(
            sm.apply(&entry(1, 7, 1, cas(None, b"a"))),
            KvApplied::Answer {
                client: 7,
                seq: 1,
                response: KvResponse::Cas { swapped: true }
            }
        );
        // K2: the same command again (a retry) answers the same and changes nothing,
        // although applying it again would now fail the comparison.
        assert_eq!(
            sm.apply(&entry(2, 7, 1, cas(None, b"a"))),
            KvApplied::Answer {
                client: 7,
                seq: 1,
                response: KvResponse::Cas { swapped: true }
            }
        );
        let put = KvOp::Put {
            key: b"k".to_vec(),
            value: b"b".to_vec(),
        };
        assert!(matches!(
            sm.apply(&entry(3, 7, 2, put.clone())),
            KvApplied::Answer { seq: 2, .. }
        ));
        // K3: an old retry of seq 1 arriving late does nothing.
        assert_eq!(
            sm.apply(&entry(4, 7, 1, cas(None, b"z"))),
            KvApplied::Nothing
        );
        assert_eq!(sm.get(b"k"), Some(&b"b"[..]));
        let restored = KvStateMachine::restore(4, &sm.snapshot()).unwrap();
        assert_eq!(restored, sm);
        assert!(KvStateMachine::restore(4, &[1, 0, 0]).is_err());
    }

    #[test]
    fn commands_round_trip_and_garbage_is_an_error() {
        let c = KvCommand {
            client: 3,
            seq: 9,
            op: KvOp::Cas {
                key: b"x".to_vec(),
                expected: Some(b"1".to_vec()),
                value: b"2".to_vec(),
            },
        };
        let b = c.encode();
        assert_eq!(KvCommand::decode(&b), Ok(c));
        for n in 0..b.len() {
            assert!(KvCommand::decode(&b[..n]).is_err(), "prefix {n}");
        }
        let mut extra = b.clone();
        extra.push(0);
        assert_eq!(KvCommand::decode(&extra), Err(KvDecodeError::Trailing(1)));
    }

    #[test]
    fn a_batch_applies_its_writes_in_order_and_round_trips() {
        let op = KvOp::Apply {
            writes: vec![
                (b"a".to_vec(), Some(b"1".to_vec())),
                (b"b".to_vec(), Some(b"2".to_vec())),
                (b"a".to_vec(), None),
                (b"b".to_vec(), Some(b"3".to_vec())),
            ],
        };
        let c = KvCommand {
            client: 5,
            seq: 1,
            op: op.clone(),
        };
        let b = c.encode();
        assert_eq!(KvCommand::decode(&b), Ok(c));
        for n in 0..b.len() {
            assert!(KvCommand::decode(&b[..n]).is_err(), "prefix {n}");
        }
        // A count far beyond the bytes is an error, not an allocation.
        let mut huge = b[..17].to_vec();
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(KvCommand::decode(&huge), Err(KvDecodeError::Truncated(21)));
        let mut sm = KvStateMachine::new();
        sm.apply(&entry(
            1,
            6,
            1,
            KvOp::Put {
                key: b"a".to_vec(),
                value: b"0".to_vec(),
            },
        ));
        assert!(matches!(
            sm.apply(&entry(2, 5, 1, op.clone())),
            KvApplied::Answer {
                response: KvResponse::PutDone,
                ..
            }
        ));
        assert_eq!(sm.get(b"a"), None);
        assert_eq!(sm.get(b"b"), Some(&b"3"[..]));
        // A retry of the batch is answered from the session and applied once.
        sm.apply(&entry(
            3,
            6,
            2,
            KvOp::Put {
                key: b"a".to_vec(),
                value: b"9".to_vec(),
            },
        ));
        assert!(matches!(
            sm.apply(&entry(4, 5, 1, op)),
            KvApplied::Answer { seq: 1, .. }
        ));
        assert_eq!(sm.get(b"a"), Some(&b"9"[..]));
        // The running digest is the digest of the state, however it was reached.
        let restored = KvStateMachine::restore(4, &sm.snapshot()).unwrap();
        assert_eq!(restored.digest(), sm.digest());
        assert_ne!(sm.digest(), KvStateMachine::new().digest());
    }
}
