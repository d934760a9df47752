//! The hard state file: a Raft node's current term and vote, in two checksummed slots.
//!
//! Raft requires `currentTerm` and `votedFor` to be on stable storage before the node
//! answers a vote or acknowledges entries (Raft §5.1, Figure 2). They live beside the
//! log in a small file (`raft-{id}-state`) laid out like the database's control file
//! (`core/src/db/record.rs`): two 64-byte slots at offsets 0 and 512, so they sit in
//! different sectors and a torn write can damage only the slot being written. A slot:
//!
//! ```text
//! 0  8  magic "LSPNRFT1"
//! 8  8  sequence number (u64 LE; the valid slot with the highest wins)
//! 16 8  current term
//! 24 8  vote (node id, 0 = none)
//! 32 4  CRC32C of bytes 0..32
//! 36 28 zero
//! ```
//!
//! Each write goes to the slot the current state is not in (`seq % 2`), so the previous
//! state stays readable until the new one is durable.

use crate::crc32c;
use crate::storage::{Storage, StorageError};

use super::NodeId;

/// Offset of the second slot (a different sector from the first).
pub const HARD_STATE_SLOT_STRIDE: u64 = 512;
/// Bytes in one slot.
pub const HARD_STATE_SLOT_BYTES: usize = 64;
const MAGIC: &[u8; 8] = b"LSPNRFT1";

/// What Raft must persist before it speaks: the current term and the vote cast in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HardState {
    /// The latest term this node has seen.
    pub term: u64,
    /// Whom it voted for in `term`, if anyone.
    pub vote: Option<NodeId>,
}

/// One slot of the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HardStateSlot {
    /// Higher is newer.
    pub seq: u64,
    /// The state.
    pub state: HardState,
}

impl HardStateSlot {
    /// The slot's bytes.
    pub fn encode(&self) -> [u8; HARD_STATE_SLOT_BYTES] {
        let mut b = [0u8; HARD_STATE_SLOT_BYTES];
        b[0..8].copy_from_slice(MAGIC);
        b[8..16].copy_from_slice(&self.seq.to_le_bytes());
        b[16..24].copy_from_slice(&self.state.term.to_le_bytes());
        b[24..32].copy_from_slice(&self.state.vote.unwrap_or(0).to_le_bytes());
        let crc = crc32c::checksum(&b[0..32]);
        b[32..36].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes a slot: `None` if it is not a whole, valid slot (never written, torn, rotten).
    pub fn decode(b: &[u8]) -> Option<HardStateSlot> {
        if b.len() < 36 || &b[0..8] != MAGIC {
            return None;
        }
        let crc = u32::from_le_bytes(b[32..36].try_into().ok()?);
        if crc != crc32c::checksum(&b[0..32]) {
            return None;
        }
        let vote = u64::from_le_bytes(b[24..32].try_into().ok()?);
        Some(HardStateSlot {
            seq: u64::from_le_bytes(b[8..16].try_into().ok()?),
            state: HardState {
                term: u64::from_le_bytes(b[16..24].try_into().ok()?),
                vote: (vote != 0).then_some(vote),
            },
        })
    }

    /// The byte offset this slot is written at.
    pub fn offset(&self) -> u64 {
        (self.seq % 2) * HARD_STATE_SLOT_STRIDE
    }
}

/// What [`read_hard_state`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HardStateRead {
    /// No file: a node that never persisted anything.
    Missing,
    /// The file exists but neither slot is valid (its first write was torn, or rot).
    NoValidSlot,
    /// The newest valid slot.
    Valid(HardStateSlot),
}

/// Reads both slots of `file` and returns the newest valid one.
pub fn read_hard_state<S: Storage + ?Sized>(
    storage: &S,
    file: &str,
) -> Result<HardStateRead, StorageError> {
    let len = match storage.len(file) {
        Ok(len) => len,
        Err(StorageError::NotFound { .. }) => return Ok(HardStateRead::Missing),
        Err(e) => return Err(e),
    };
    let mut best: Option<HardStateSlot> = None;
    for offset in [0, HARD_STATE_SLOT_STRIDE] {
        let n = HARD_STATE_SLOT_BYTES as u64;
        if offset + n > len {
            continue;
        }
        let mut buf = [0u8; HARD_STATE_SLOT_BYTES];
        storage.read(file, offset, &mut buf)?;
        if let Some(slot) = HardStateSlot::decode(&buf) {
            if slot.offset() == offset && best.is_none_or(|b| b.seq < slot.seq) {
                best = Some(slot);
            }
        }
    }
    Ok(best.map_or(HardStateRead::NoValidSlot, HardStateRead::Valid))
}

/// Writes `slot` at its offset (volatile until the next sync completes).
pub fn write_hard_state<S: Storage + ?Sized>(
    storage: &mut S,
    file: &str,
    slot: &HardStateSlot,
) -> Result<(), StorageError> {
    storage.write(file, slot.offset(), &slot.encode())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim_disk::{SimDisk, SimDiskConfig};
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn slots_round_trip_and_detect_damage() {
        let s = HardStateSlot {
            seq: 7,
            state: HardState {
                term: 42,
                vote: Some(3),
            },
        };
        let b = s.encode();
        assert_eq!(HardStateSlot::decode(&b), Some(s));
        for i in 0..36 {
            let mut d = b;
            d[i] ^= 0x10;
            assert_eq!(HardStateSlot::decode(&d), None, "byte {i}");
        }
        assert_eq!(HardStateSlot::decode(&[0; 64]), None);
    }

    #[test]
    fn newest_valid_slot_wins_and_a_torn_slot_falls_back() {
        let mut d = SimDisk::new(SimDiskConfig::default(), 1);
        assert_eq!(read_hard_state(&d, "st").unwrap(), HardStateRead::Missing);
        let a = HardStateSlot {
            seq: 1,
            state: HardState {
                term: 1,
                vote: None,
            },
        };
        let b = HardStateSlot {
            seq: 2,
            state: HardState {
                term: 2,
                vote: Some(1),
            },
        };
        write_hard_state(&mut d, "st", &a).unwrap();
        write_hard_state(&mut d, "st", &b).unwrap();
        assert_eq!(read_hard_state(&d, "st").unwrap(), HardStateRead::Valid(b));
        // Damage the newer slot: the older one is the answer.
        d.flip_bit("st", 8 * 20).unwrap();
        assert_eq!(read_hard_state(&d, "st").unwrap(), HardStateRead::Valid(a));
        d.flip_bit("st", 8 * (512 + 20)).unwrap();
        assert_eq!(
            read_hard_state(&d, "st").unwrap(),
            HardStateRead::NoValidSlot
        );
    }
}
