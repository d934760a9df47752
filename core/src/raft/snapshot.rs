//! Snapshot files: the state machine as of some index, replacing the log before it
//! (thesis ch. 5).
//!
//! A snapshot lives in its own file `raft-{id}-snap-{index:020}`, written whole, with one
//! checksum over everything:
//!
//! ```text
//! 0   8  magic "LSPNSNP1"
//! 8   8  last included index (u64 LE)
//! 16  8  last included term
//! 24  4  voter count n (u32 LE)
//! 28  8n voter ids
//! ..  8  data length m
//! ..  m  state machine bytes
//! ..  4  CRC32C of everything before
//! ```
//!
//! A new snapshot is written beside the old one; only once a sync covering it completes
//! are the log prefix and the older snapshot files removed, so a crash at any point leaves
//! a valid snapshot (or none) that the log continues.

use crate::crc32c;
use crate::storage::{read_all, Storage, StorageError};

use super::NodeId;

const MAGIC: &[u8; 8] = b"LSPNSNP1";

/// A snapshot: the state machine's bytes as of `index`, and what Raft needs to go on
/// from there.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The last index it includes (0: the empty snapshot every node starts from).
    pub index: u64,
    /// The term of that entry.
    pub term: u64,
    /// The voter configuration as of `index`.
    pub voters: Vec<NodeId>,
    /// The state machine's bytes.
    pub data: Vec<u8>,
}

impl Snapshot {
    /// The file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(40 + self.voters.len() * 8 + self.data.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.index.to_le_bytes());
        out.extend_from_slice(&self.term.to_le_bytes());
        let n = u32::try_from(self.voters.len()).expect("voters fit u32");
        out.extend_from_slice(&n.to_le_bytes());
        for v in &self.voters {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&(self.data.len() as u64).to_le_bytes());
        out.extend_from_slice(&self.data);
        let crc = crc32c::checksum(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes a file: `None` unless it is whole and its checksum matches.
    pub fn decode(b: &[u8]) -> Option<Snapshot> {
        if b.len() < 40 || &b[0..8] != MAGIC {
            return None;
        }
        let (body, crc) = b.split_at(b.len() - 4);
        if u32::from_le_bytes(crc.try_into().ok()?) != crc32c::checksum(body) {
            return None;
        }
        let u64_at = |at: usize| -> Option<u64> {
            Some(u64::from_le_bytes(body.get(at..at + 8)?.try_into().ok()?))
        };
        let index = u64_at(8)?;
        let term = u64_at(16)?;
        let n = u32::from_le_bytes(body.get(24..28)?.try_into().ok()?) as usize;
        let mut at = 28usize;
        let mut voters = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            voters.push(u64_at(at)?);
            at += 8;
        }
        let len = usize::try_from(u64_at(at)?).ok()?;
        at += 8;
        if body.len() != at.checked_add(len)? {
            return None;
        }
        Some(Snapshot {
            index,
            term,
            voters,
            data: body[at..].to_vec(),
        })
    }
}

/// The file name of node `id`'s snapshot at `index`.
pub fn snapshot_file(id: NodeId, index: u64) -> String {
    format!("raft-{id}-snap-{index:020}")
}

/// The snapshot files of node `id` on `storage`, with their indexes, ascending.
pub fn snapshot_files<S: Storage + ?Sized>(storage: &S, id: NodeId) -> Vec<(u64, String)> {
    let prefix = format!("raft-{id}-snap-");
    let mut out: Vec<(u64, String)> = storage
        .list()
        .into_iter()
        .filter_map(|f| {
            let digits = f.strip_prefix(&prefix)?;
            (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
                .then(|| digits.parse().ok().map(|i| (i, f.clone())))
                .flatten()
        })
        .collect();
    crate::sort::sort(&mut out);
    out
}

/// The newest valid snapshot of node `id`, if any (invalid files — torn by a crash while
/// their sync was in flight — are skipped).
pub fn read_latest_snapshot<S: Storage + ?Sized>(
    storage: &S,
    id: NodeId,
) -> Result<Option<Snapshot>, StorageError> {
    for (index, file) in snapshot_files(storage, id).into_iter().rev() {
        let bytes = read_all(storage, &file)?;
        if let Some(s) = Snapshot::decode(&bytes) {
            if s.index == index {
                return Ok(Some(s));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn snapshot_round_trips_and_any_damage_is_rejected() {
        let s = Snapshot {
            index: 10,
            term: 3,
            voters: vec![1, 2, 3],
            data: b"state".to_vec(),
        };
        let b = s.encode();
        assert_eq!(Snapshot::decode(&b), Some(s));
        for i in 0..b.len() {
            let mut d = b.clone();
            d[i] ^= 1;
            assert_eq!(Snapshot::decode(&d), None, "byte {i}");
        }
        assert_eq!(Snapshot::decode(&b[..b.len() - 1]), None);
    }
}
