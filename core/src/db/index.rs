//! The database's index: the page B+tree ([`crate::btree`]) or the LSM tree
//! ([`crate::lsm`]), chosen by [`super::DbConfig::index`], behind one set of operations.
//!
//! Both are derived from the same WAL and differ in what recovery and checkpoints do:
//!
//! | | B+tree | LSM tree |
//! |---|---|---|
//! | a write | changes pages in the buffer pool; its page-level redo goes in the WAL record | a memtable insert; the WAL record is the redo (logical) |
//! | the WAL rule | a page is written only once the WAL is durable past its page LSN | a memtable is flushed only once the WAL is durable past its largest LSN |
//! | a checkpoint | writes the pages dirtied before its redo LSN | flushes the memtables holding writes below its redo LSN |
//! | redo | page ops onto the page file, idempotent by page LSN | the manifest gives the tables; WAL writes above its last flushed LSN go back into a memtable |
//! | undo | logical (restore the before value, log a CLR) | the same |

use std::ops::Bound;

use crate::btree::{BTree, BTreeError, PageOp};
use crate::log::Lsn;
use crate::lsm::{Lsm, LsmError};
use crate::storage::Storage;

/// Which index a database keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum IndexKind {
    /// The page-based B+tree: reads touch one root-to-leaf path; writes rewrite pages.
    #[default]
    BTree,
    /// The LSM tree: writes are memtable inserts, flushed and compacted in the
    /// background; reads may probe several tables.
    Lsm,
}

impl IndexKind {
    /// A short name for tables and the UI.
    pub fn name(self) -> &'static str {
        match self {
            IndexKind::BTree => "B-tree",
            IndexKind::Lsm => "LSM tree",
        }
    }
}

/// The index itself.
#[derive(Clone, Debug)]
pub(super) enum Index {
    BTree(Box<BTree>),
    Lsm(Box<Lsm>),
}

/// What a write did to the index.
pub(super) struct Change {
    /// The value before (the undo information; `None` also when not asked for).
    pub old_value: Option<Vec<u8>>,
    /// Page redo for the WAL record (B-tree only).
    pub ops: Vec<PageOp>,
}

/// An index failure, before the database decides what it means.
pub(super) enum IndexError {
    BTree(BTreeError),
    Lsm(LsmError),
}

impl Index {
    pub fn kind(&self) -> IndexKind {
        match self {
            Index::BTree(_) => IndexKind::BTree,
            Index::Lsm(_) => IndexKind::Lsm,
        }
    }

    /// Writes `key = value` (`None`: delete) under `lsn`. With `need_old` false an LSM
    /// write is blind (no lookup): rollbacks log the value they restore, not the one
    /// they replace.
    pub fn write<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        key: &[u8],
        value: Option<&[u8]>,
        lsn: Lsn,
        need_old: bool,
    ) -> Result<Change, IndexError> {
        match self {
            Index::BTree(t) => {
                let c = match value {
                    Some(v) => t.put(storage, key, v, lsn),
                    None => t.delete(storage, key, lsn),
                }
                .map_err(IndexError::BTree)?;
                Ok(Change {
                    old_value: c.old_value,
                    ops: c.ops,
                })
            }
            Index::Lsm(l) => {
                let old_value = if need_old {
                    match value {
                        Some(v) => l.put(storage, key, v, lsn),
                        None => l.delete(storage, key, lsn),
                    }
                    .map_err(IndexError::Lsm)?
                } else {
                    l.redo(key, value, lsn).map_err(IndexError::Lsm)?;
                    None
                };
                Ok(Change {
                    old_value,
                    ops: Vec::new(),
                })
            }
        }
    }

    pub fn get<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, IndexError> {
        match self {
            Index::BTree(t) => t.get(storage, key).map_err(IndexError::BTree),
            Index::Lsm(l) => l.get(storage, key).map_err(IndexError::Lsm),
        }
    }

    /// Every entry with `lo <= key < hi`, in key order, appended to `out`.
    pub fn scan_into<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        lo: &[u8],
        hi: Option<&[u8]>,
        out: &mut Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<(), IndexError> {
        match self {
            Index::BTree(t) => {
                for item in t.range(storage, lo, hi) {
                    out.push(item.map_err(IndexError::BTree)?);
                }
            }
            Index::Lsm(l) => {
                let hi = hi.map_or(Bound::Unbounded, Bound::Excluded);
                for item in l
                    .range(&*storage, Bound::Included(lo), hi)
                    .map_err(IndexError::Lsm)?
                {
                    out.push(item.map_err(IndexError::Lsm)?);
                }
            }
        }
        Ok(())
    }

    /// The WAL is durable below `next` (both indexes obey the WAL rule with it).
    pub fn set_wal_durable(&mut self, next: Lsn) {
        match self {
            Index::BTree(t) => t.set_wal_durable(next),
            Index::Lsm(l) => l.set_wal_durable(next),
        }
    }

    pub fn validate<S: Storage + ?Sized>(&self, storage: &S) {
        match self {
            Index::BTree(t) => t.validate(storage),
            Index::Lsm(l) => l.validate(),
        }
    }
}
