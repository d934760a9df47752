//! WAL record payloads and the control file.
//!
//! # WAL record (the payload of one `Log` record)
//! ```text
//! offset size field
//! 0      1    kind: 1 create, 2 update, 3 clr, 4 commit, 5 abort, 6 checkpoint
//! 1      ..   kind-specific fields, all fixed-width little-endian:
//!   create     ops
//!   update     txn u64 | prev u64 (u64::MAX = none) | key | before | after | ops
//!   clr        txn u64 | undo_next u64 (u64::MAX = none) | key | restored | ops
//!   commit     txn u64
//!   abort      txn u64
//!   checkpoint redo u64 | next_txn u64 | n u32 | n × (txn u64 | first u64 | last u64)
//! bytes   = len u32 | bytes
//! option  = tag u8 (0 none, 1 some) | bytes
//! ops     = len u32 | PageOp encoding (btree::redo::encode_ops)
//! ```
//! Decoding is total: any byte string decodes to a record or to a
//! [`RecordError`] naming what is wrong, never a panic.
//!
//! # Control file (`db.control`)
//! Two 64-byte slots at offsets 0 and 512, so they live in different sectors and a torn
//! write can damage only the slot being written. A slot:
//! ```text
//! 0  8  magic "LSPNCTL1"
//! 8  8  sequence number (u64 LE; the valid slot with the highest wins)
//! 16 8  checkpoint record LSN
//! 24 8  redo LSN of that checkpoint
//! 32 4  CRC32C of bytes 0..32
//! 36 28 zero
//! ```
//! A new checkpoint writes the slot the current one is not in, so the previous
//! checkpoint stays readable until the new slot is durable.

use crate::btree::redo::{decode_ops, encode_ops, PageOp};
use crate::crc32c;
use crate::log::Lsn;

use super::TxnId;

/// A transaction's entry in a checkpoint's active-transaction table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActiveTxn {
    /// The transaction.
    pub txn: TxnId,
    /// Its first WAL record (undo must read back to here).
    pub first: Lsn,
    /// Its last WAL record when the checkpoint was taken.
    pub last: Lsn,
}

/// One WAL record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WalRecord {
    /// The tree was formatted: the meta page and the empty root.
    Create {
        /// Page redo.
        ops: Vec<PageOp>,
    },
    /// A transaction changed a key.
    Update {
        /// The transaction.
        txn: TxnId,
        /// Its previous record, if any (the undo chain).
        prev: Option<Lsn>,
        /// The key.
        key: Vec<u8>,
        /// The value before (None: absent). Undo restores it.
        before: Option<Vec<u8>>,
        /// The value after (None: deleted).
        after: Option<Vec<u8>>,
        /// Page redo.
        ops: Vec<PageOp>,
    },
    /// A compensation record: the undo of one update, never undone itself (ARIES).
    Clr {
        /// The transaction being rolled back.
        txn: TxnId,
        /// The next record of the transaction to undo (the undone update's `prev`).
        undo_next: Option<Lsn>,
        /// The key restored.
        key: Vec<u8>,
        /// The value restored (None: the key was removed).
        restored: Option<Vec<u8>>,
        /// Page redo.
        ops: Vec<PageOp>,
    },
    /// The transaction committed. It is acknowledged once this record is durable.
    Commit {
        /// The transaction.
        txn: TxnId,
    },
    /// The transaction is rolled back completely (ARIES' end record for a loser).
    Abort {
        /// The transaction.
        txn: TxnId,
    },
    /// A checkpoint ended: every page dirtied before `redo` is in the page file.
    Checkpoint {
        /// Where redo starts.
        redo: Lsn,
        /// The next transaction id to hand out.
        next_txn: u64,
        /// Transactions active when the record was written.
        active: Vec<ActiveTxn>,
    },
}

/// Why a WAL payload or control slot could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The payload ended early.
    #[error("record truncated: needed {needed} more bytes at offset {at}")]
    Truncated {
        /// Where.
        at: usize,
        /// How many more bytes.
        needed: usize,
    },
    /// Unknown record kind.
    #[error("unknown record kind {0}")]
    UnknownKind(u8),
    /// An option tag other than 0 or 1.
    #[error("bad option tag {tag} at offset {at}")]
    BadTag {
        /// Where.
        at: usize,
        /// The tag.
        tag: u8,
    },
    /// The embedded page ops do not decode.
    #[error("bad page ops: {0}")]
    Ops(String),
    /// Bytes left over after the record.
    #[error("{0} trailing bytes after the record")]
    Trailing(usize),
}

const NONE_LSN: u64 = u64::MAX;

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u32(u32::try_from(b.len()).expect("keys and values are bounded by the page size"));
        self.0.extend_from_slice(b);
    }
    fn opt(&mut self, b: Option<&[u8]>) {
        match b {
            None => self.u8(0),
            Some(b) => {
                self.u8(1);
                self.bytes(b);
            }
        }
    }
    fn lsn(&mut self, l: Option<Lsn>) {
        self.u64(l.map_or(NONE_LSN, |l| l.0));
    }
    fn ops(&mut self, ops: &[PageOp]) {
        self.bytes(&encode_ops(ops));
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RecordError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.buf.len());
        match end {
            Some(end) => {
                let s = &self.buf[self.at..end];
                self.at = end;
                Ok(s)
            }
            None => Err(RecordError::Truncated {
                at: self.at,
                needed: n - (self.buf.len() - self.at),
            }),
        }
    }
    fn u8(&mut self) -> Result<u8, RecordError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, RecordError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64, RecordError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn bytes(&mut self) -> Result<Vec<u8>, RecordError> {
        let n = self.u32()?;
        let n = usize::try_from(n).map_err(|_| RecordError::Truncated {
            at: self.at,
            needed: usize::MAX,
        })?;
        Ok(self.take(n)?.to_vec())
    }
    fn opt(&mut self) -> Result<Option<Vec<u8>>, RecordError> {
        let at = self.at;
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.bytes()?)),
            tag => Err(RecordError::BadTag { at, tag }),
        }
    }
    fn lsn(&mut self) -> Result<Option<Lsn>, RecordError> {
        let v = self.u64()?;
        Ok((v != NONE_LSN).then_some(Lsn(v)))
    }
    fn ops(&mut self) -> Result<Vec<PageOp>, RecordError> {
        let b = self.bytes()?;
        decode_ops(&b).map_err(|e| RecordError::Ops(e.to_string()))
    }
}

impl WalRecord {
    /// The transaction the record belongs to, if any.
    pub fn txn(&self) -> Option<TxnId> {
        match self {
            WalRecord::Update { txn, .. }
            | WalRecord::Clr { txn, .. }
            | WalRecord::Commit { txn }
            | WalRecord::Abort { txn } => Some(*txn),
            WalRecord::Create { .. } | WalRecord::Checkpoint { .. } => None,
        }
    }

    /// The page redo the record carries.
    pub fn ops(&self) -> &[PageOp] {
        match self {
            WalRecord::Create { ops }
            | WalRecord::Update { ops, .. }
            | WalRecord::Clr { ops, .. } => ops,
            _ => &[],
        }
    }

    /// A short name for traces and the UI.
    pub fn kind(&self) -> &'static str {
        match self {
            WalRecord::Create { .. } => "create",
            WalRecord::Update { .. } => "update",
            WalRecord::Clr { .. } => "clr",
            WalRecord::Commit { .. } => "commit",
            WalRecord::Abort { .. } => "abort",
            WalRecord::Checkpoint { .. } => "checkpoint",
        }
    }

    /// Encodes the record (see the module docs).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(Vec::new());
        match self {
            WalRecord::Create { ops } => {
                w.u8(1);
                w.ops(ops);
            }
            WalRecord::Update {
                txn,
                prev,
                key,
                before,
                after,
                ops,
            } => {
                w.u8(2);
                w.u64(txn.0);
                w.lsn(*prev);
                w.bytes(key);
                w.opt(before.as_deref());
                w.opt(after.as_deref());
                w.ops(ops);
            }
            WalRecord::Clr {
                txn,
                undo_next,
                key,
                restored,
                ops,
            } => {
                w.u8(3);
                w.u64(txn.0);
                w.lsn(*undo_next);
                w.bytes(key);
                w.opt(restored.as_deref());
                w.ops(ops);
            }
            WalRecord::Commit { txn } => {
                w.u8(4);
                w.u64(txn.0);
            }
            WalRecord::Abort { txn } => {
                w.u8(5);
                w.u64(txn.0);
            }
            WalRecord::Checkpoint {
                redo,
                next_txn,
                active,
            } => {
                w.u8(6);
                w.u64(redo.0);
                w.u64(*next_txn);
                w.u32(u32::try_from(active.len()).expect("active transactions are bounded"));
                for a in active {
                    w.u64(a.txn.0);
                    w.u64(a.first.0);
                    w.u64(a.last.0);
                }
            }
        }
        w.0
    }

    /// Decodes a record; never panics.
    pub fn decode(buf: &[u8]) -> Result<WalRecord, RecordError> {
        let mut r = Reader { buf, at: 0 };
        let rec = match r.u8()? {
            1 => WalRecord::Create { ops: r.ops()? },
            2 => WalRecord::Update {
                txn: TxnId(r.u64()?),
                prev: r.lsn()?,
                key: r.bytes()?,
                before: r.opt()?,
                after: r.opt()?,
                ops: r.ops()?,
            },
            3 => WalRecord::Clr {
                txn: TxnId(r.u64()?),
                undo_next: r.lsn()?,
                key: r.bytes()?,
                restored: r.opt()?,
                ops: r.ops()?,
            },
            4 => WalRecord::Commit {
                txn: TxnId(r.u64()?),
            },
            5 => WalRecord::Abort {
                txn: TxnId(r.u64()?),
            },
            6 => {
                let redo = Lsn(r.u64()?);
                let next_txn = r.u64()?;
                let n = r.u32()?;
                let mut active = Vec::new();
                for _ in 0..n {
                    active.push(ActiveTxn {
                        txn: TxnId(r.u64()?),
                        first: Lsn(r.u64()?),
                        last: Lsn(r.u64()?),
                    });
                }
                WalRecord::Checkpoint {
                    redo,
                    next_txn,
                    active,
                }
            }
            k => return Err(RecordError::UnknownKind(k)),
        };
        if r.at != buf.len() {
            return Err(RecordError::Trailing(buf.len() - r.at));
        }
        Ok(rec)
    }
}

/// Offset of the second control slot (a different sector from the first).
pub const CONTROL_SLOT_STRIDE: u64 = 512;
/// Bytes in one control slot.
pub const CONTROL_SLOT_BYTES: usize = 64;
const CONTROL_MAGIC: &[u8; 8] = b"LSPNCTL1";

/// What a control slot says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlSlot {
    /// Higher is newer.
    pub seq: u64,
    /// The checkpoint record.
    pub checkpoint: Lsn,
    /// Its redo LSN.
    pub redo: Lsn,
}

impl ControlSlot {
    /// The slot's bytes.
    pub fn encode(&self) -> [u8; CONTROL_SLOT_BYTES] {
        let mut b = [0u8; CONTROL_SLOT_BYTES];
        b[0..8].copy_from_slice(CONTROL_MAGIC);
        b[8..16].copy_from_slice(&self.seq.to_le_bytes());
        b[16..24].copy_from_slice(&self.checkpoint.0.to_le_bytes());
        b[24..32].copy_from_slice(&self.redo.0.to_le_bytes());
        let crc = crc32c::checksum(&b[0..32]);
        b[32..36].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes a slot: `None` if it is not a whole, valid slot (never written, torn,
    /// rotten).
    pub fn decode(b: &[u8]) -> Option<ControlSlot> {
        if b.len() < 36 || &b[0..8] != CONTROL_MAGIC {
            return None;
        }
        let crc = u32::from_le_bytes(b[32..36].try_into().ok()?);
        if crc != crc32c::checksum(&b[0..32]) {
            return None;
        }
        Some(ControlSlot {
            seq: u64::from_le_bytes(b[8..16].try_into().ok()?),
            checkpoint: Lsn(u64::from_le_bytes(b[16..24].try_into().ok()?)),
            redo: Lsn(u64::from_le_bytes(b[24..32].try_into().ok()?)),
        })
    }

    /// The byte offset this slot is written at.
    pub fn offset(&self) -> u64 {
        (self.seq % 2) * CONTROL_SLOT_STRIDE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btree::PageId;
    use crate::rng::Rng;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn samples() -> Vec<WalRecord> {
        vec![
            WalRecord::Create {
                ops: vec![PageOp::Meta {
                    root: PageId(1),
                    page_count: 2,
                    free_head: PageId(0),
                }],
            },
            WalRecord::Update {
                txn: TxnId(7),
                prev: None,
                key: b"k".to_vec(),
                before: None,
                after: Some(b"v".to_vec()),
                ops: vec![],
            },
            WalRecord::Update {
                txn: TxnId(7),
                prev: Some(Lsn(3)),
                key: vec![],
                before: Some(vec![]),
                after: None,
                ops: vec![],
            },
            WalRecord::Clr {
                txn: TxnId(9),
                undo_next: Some(Lsn(0)),
                key: b"x".to_vec(),
                restored: Some(b"old".to_vec()),
                ops: vec![],
            },
            WalRecord::Commit { txn: TxnId(1) },
            WalRecord::Abort { txn: TxnId(2) },
            WalRecord::Checkpoint {
                redo: Lsn(40),
                next_txn: 12,
                active: vec![ActiveTxn {
                    txn: TxnId(11),
                    first: Lsn(30),
                    last: Lsn(41),
                }],
            },
        ]
    }

    #[test]
    fn records_round_trip() {
        for r in samples() {
            assert_eq!(
                WalRecord::decode(&r.encode()),
                Ok(r.clone()),
                "{}",
                r.kind()
            );
        }
    }

    #[test]
    fn truncated_and_garbage_records_are_errors_not_panics() {
        for r in samples() {
            let b = r.encode();
            for cut in 0..b.len() {
                assert!(
                    WalRecord::decode(&b[..cut]).is_err(),
                    "{} cut at {cut}",
                    r.kind()
                );
            }
            let mut long = b.clone();
            long.push(0);
            assert_eq!(WalRecord::decode(&long), Err(RecordError::Trailing(1)));
        }
        let mut rng = Rng::new(3);
        for _ in 0..5000 {
            let mut b = vec![0u8; rng.index(64)];
            rng.fill(&mut b);
            if !b.is_empty() {
                b[0] = u8::try_from(rng.below(8)).unwrap();
            }
            let _ = WalRecord::decode(&b);
        }
    }

    #[test]
    fn control_slots_detect_damage() {
        let s = ControlSlot {
            seq: 5,
            checkpoint: Lsn(100),
            redo: Lsn(90),
        };
        let b = s.encode();
        assert_eq!(ControlSlot::decode(&b), Some(s));
        assert_eq!(s.offset(), CONTROL_SLOT_STRIDE);
        for i in 0..36 {
            let mut d = b;
            d[i] ^= 0x10;
            assert_eq!(ControlSlot::decode(&d), None, "byte {i}");
        }
        assert_eq!(ControlSlot::decode(&[0; 64]), None);
        assert_eq!(ControlSlot::decode(&b[..20]), None);
    }
}
