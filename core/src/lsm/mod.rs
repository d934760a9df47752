//! The LSM tree's building blocks: memtables, bloom filters, SSTables, a merge iterator,
//! the manifest of version edits, and compaction as a pure policy plus a mechanism.
//!
//! This is the second index of "a database is a log plus indexes". Writes go to a sorted
//! in-memory [`Memtable`]; a full memtable is frozen ([`ImmutableMemtable`]) and flushed to
//! an immutable sorted file, an SSTable ([`sstable`], one file per table). Which tables
//! exist, and at which level, is itself a log: the manifest ([`Manifest`], a
//! [`crate::Log`] named `manifest`) of [`VersionEdit`]s, whose replay gives the current
//! [`Version`]. Compaction merges tables down the levels; *which* tables is a pure
//! function ([`choose`]), *how* is the [`MergeIterator`] feeding a [`TableWriter`]
//! ([`compact`]). [`tree::Lsm`] assembles them; `crate::db::Db` keeps it as its index
//! when `DbConfig::index` is `IndexKind::Lsm` (WAL replay above
//! [`Version::last_flushed_lsn`], background steps in virtual time, the WAL rule).
//!
//! # Modules, bottom up
//! * [`bloom`]: the bloom filter, its own 64-bit hash and its serialized form.
//! * [`memtable`]: the sorted memtable and its frozen form, with byte accounting.
//! * [`sstable`]: the table file format (byte by byte), [`TableWriter`], [`Table`] (open,
//!   point get, range cursor) and its read-amplification counters.
//! * [`merge`]: [`MergeIterator`]: several sorted sources, newest LSN wins per key.
//! * [`manifest`]: [`VersionEdit`] (its encoding), [`Version`] (levels and their
//!   invariants) and [`Manifest`] (the log of edits and its replay).
//! * [`compaction`]: [`choose`] (leveled and size-tiered) and [`compact`].
//! * [`table_set`]: [`TableSet`], the read path over memtables and open tables.
//!
//! # Call order (for the owner: the `Db`, and the model test)
//! 1. [`Manifest::open`] (it is recovery: replays the edits, the `Log` truncates a torn
//!    tail); delete the files [`orphan_tables`] names (tables written but never recorded);
//!    [`TableSet::refresh`] opens the tables the version lists.
//! 2. Writes: [`Memtable::put`] / [`Memtable::delete`] with strictly increasing LSNs.
//!    When [`Memtable::size_bytes`] passes the owner's limit, [`Memtable::freeze`] it and
//!    start a new one; reads consult the active memtable, then the frozen ones newest
//!    first, then the tables ([`TableSet::get`], [`TableSet::range`]).
//! 3. Flush: [`write_table`] the oldest frozen memtable under
//!    [`Version::next_table_id`] and sync; once that sync has completed,
//!    [`Manifest::append`] a [`VersionEdit`] adding it at level 0 with
//!    `next_table_id + 1` and `last_flushed_lsn`, and sync again. Only after the second
//!    sync completes may the WAL be trimmed below the flushed LSN.
//! 4. Compaction: [`choose`] on the current version; [`compact`] writes the outputs and
//!    returns the edit; sync; append the edit and sync; only then delete the input files.
//!    A manual compaction ([`choose_manual`], asked for with
//!    [`tree::Lsm::request_manual_compaction`]) is the same mechanism with another
//!    policy: the same phases, the same syncs, the same recovery.
//!
//! [`tree::Lsm`] does exactly this, one phase per step (its module docs list the crash
//! cases).
//!
//! # Why two syncs, not one
//! The [`crate::Storage`] contract keeps, after a crash, a prefix in issue order of the
//! changes a sync in flight covered, so on `SimDisk` one sync covering a table and the
//! edit that names it would do. A real file system keeps no such order across files
//! under power loss (`logspine_native::FileStorage` says so in its docs): the edit could
//! survive while the table it names did not. So a table's sync completes before its edit
//! is appended, and inputs are deleted only after the edit dropping them is durable.

//! # Invariants (each type's `validate()` checks its own)
//! * Memtable: LSNs strictly increase; the byte count equals the sum of entry sizes.
//! * Version: L0 tables are newest first with disjoint LSN ranges; L1+ tables are sorted
//!   by key and do not overlap; ids are unique and below `next_table_id`; no table holds
//!   an LSN above `last_flushed_lsn`.
//! * Merge: output keys strictly increase; for each key the entry with the highest LSN
//!   wins (ties go to the earlier, newer source).

pub mod bloom;
pub mod compaction;
pub mod manifest;
pub mod memtable;
pub mod merge;
pub mod sstable;
pub mod table_set;
pub mod tree;

use std::fmt;

use crate::log::{LogError, Lsn};
use crate::storage::StorageError;

pub use bloom::{BloomDecodeError, BloomFilter};
pub use compaction::{
    choose, choose_manual, compact, manual_bottom, Choice, ChoiceReason, Compacted,
    CompactionConfig, CompactionStats, CompactionStyle, Input,
};
pub use manifest::{
    orphan_tables, EditDecodeError, Manifest, ManifestConfig, Version, VersionEdit, MAX_LEVELS,
};
pub use memtable::{ImmutableMemtable, Memtable};
pub use merge::{MergeIter, MergeIterator, MergeStats, Source};
pub use sstable::{
    write_table, BlockKind, Probe, Table, TableConfig, TableCorruption, TableCursor, TableMeta,
    TableStats, TableWriter,
};
pub use table_set::{LookupStats, TableSet};
pub use tree::{Lsm, LsmAmplification, LsmConfig, LsmEvent, LsmRange, LsmRecovery, LsmStats};

/// The largest key a table accepts.
pub const MAX_KEY_BYTES: u32 = 64 * 1024;

/// The largest value a table accepts.
pub const MAX_VALUE_BYTES: u32 = 16 * 1024 * 1024;

/// The number of a table: its file is `sst-{id:020}.sst`. Ids are handed out by the
/// manifest ([`Version::next_table_id`]) and never reused once recorded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TableId(pub u64);

impl TableId {
    /// The table's file name.
    pub fn file_name(self) -> String {
        format!("sst-{:020}.sst", self.0)
    }

    /// The id in a table file name, or `None` if `file` is not one.
    pub fn parse_file_name(file: &str) -> Option<TableId> {
        let digits = file.strip_prefix("sst-")?.strip_suffix(".sst")?;
        if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok().map(TableId)
    }
}

impl fmt::Display for TableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "table {}", self.0)
    }
}

/// What a key maps to in one place: a value, or a tombstone that hides older values.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    /// The key holds these bytes.
    Put(Vec<u8>),
    /// The key was deleted.
    Tombstone,
}

impl Value {
    /// The bytes of a put, `None` for a tombstone.
    pub fn as_put(&self) -> Option<&[u8]> {
        match self {
            Value::Put(v) => Some(v),
            Value::Tombstone => None,
        }
    }

    /// The bytes of a put, `None` for a tombstone.
    pub fn into_put(self) -> Option<Vec<u8>> {
        match self {
            Value::Put(v) => Some(v),
            Value::Tombstone => None,
        }
    }

    /// Whether this is a tombstone.
    pub fn is_tombstone(&self) -> bool {
        matches!(self, Value::Tombstone)
    }

    /// Bytes of the value (0 for a tombstone).
    pub fn len_bytes(&self) -> u64 {
        self.as_put().map_or(0, |v| v.len() as u64)
    }
}

/// One versioned entry: a key, the LSN of the write that made it, and its value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    /// The key.
    pub key: Vec<u8>,
    /// The LSN of the write (newer writes have larger LSNs).
    pub lsn: Lsn,
    /// The value or a tombstone.
    pub value: Value,
}

/// Errors from the LSM tree's parts.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LsmError {
    /// The storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The manifest's log failed (including damage it found in the middle).
    #[error("manifest: {0}")]
    Log(#[from] LogError),
    /// A table file is damaged or is not a table.
    #[error("table file {file:?} is corrupt at offset {offset}: {reason}")]
    CorruptTable {
        /// The file.
        file: String,
        /// Where the damage was found (the start of the block or footer that is wrong).
        offset: u64,
        /// What is wrong.
        reason: TableCorruption,
    },
    /// A manifest record whose frame is valid but whose contents do not decode.
    #[error("manifest record at {lsn} does not decode: {reason}")]
    BadEdit {
        /// The record.
        lsn: Lsn,
        /// What is wrong.
        reason: EditDecodeError,
    },
    /// An edit that does not apply to the version (a table removed that is not there, a
    /// duplicate id, overlapping tables in a level): the manifest contradicts itself.
    #[error("inconsistent version edit: {0}")]
    Inconsistent(String),
    /// A configuration that cannot be used.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A key over [`MAX_KEY_BYTES`].
    #[error("key of {len} bytes is over the {max}-byte limit")]
    KeyTooLarge {
        /// Its length.
        len: u64,
        /// The limit.
        max: u32,
    },
    /// A value over [`MAX_VALUE_BYTES`].
    #[error("value of {len} bytes is over the {max}-byte limit")]
    ValueTooLarge {
        /// Its length.
        len: u64,
        /// The limit.
        max: u32,
    },
    /// A write whose LSN is not above the memtable's last one.
    #[error("{lsn} is not after {last}: every write needs a new, larger LSN")]
    LsnNotIncreasing {
        /// The LSN given.
        lsn: Lsn,
        /// The largest LSN in the memtable.
        last: Lsn,
    },
    /// Entries handed to a writer or a merge out of key order.
    #[error("keys out of order: {key:?} after {previous:?}")]
    Unsorted {
        /// The earlier key.
        previous: Vec<u8>,
        /// The key that should have been larger.
        key: Vec<u8>,
    },
    /// An argument outside what the call allows.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// A bounds-checked little-endian reader over bytes from outside; every read returns
/// `None` rather than panicking when the bytes run out.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, at: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.at
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.at
    }

    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.buf.len())?;
        let s = &self.buf[self.at..end];
        self.at = end;
        Some(s)
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    /// A `u32` length followed by that many bytes.
    pub(crate) fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.u32()?).ok()?;
        self.take(n)
    }
}

/// Appends a `u32` length and the bytes. Callers bound the length first.
pub(crate) fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    let len = u32::try_from(b.len()).expect("length bounded by the caller");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(b);
}

/// Checks a key and value against the limits.
pub(crate) fn check_entry(key: &[u8], value: &Value) -> Result<(), LsmError> {
    if key.len() as u64 > u64::from(MAX_KEY_BYTES) {
        return Err(LsmError::KeyTooLarge {
            len: key.len() as u64,
            max: MAX_KEY_BYTES,
        });
    }
    if value.len_bytes() > u64::from(MAX_VALUE_BYTES) {
        return Err(LsmError::ValueTooLarge {
            len: value.len_bytes(),
            max: MAX_VALUE_BYTES,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn table_file_names_round_trip() {
        for id in [0, 1, 42, u64::MAX] {
            let name = TableId(id).file_name();
            assert_eq!(TableId::parse_file_name(&name), Some(TableId(id)));
        }
        assert_eq!(TableId(7).file_name(), "sst-00000000000000000007.sst");
        for bad in [
            "sst-7.sst",
            "sst-0000000000000000000x.sst",
            "manifest-00000000000000000000.seg",
            "sst-00000000000000000007.ss",
            "sst-99999999999999999999.sst",
        ] {
            assert_eq!(TableId::parse_file_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn cursor_never_reads_past_the_end() {
        let mut c = Cursor::new(&[1, 0, 0, 0, 9]);
        assert_eq!(c.u32(), Some(1));
        assert_eq!(c.u32(), None);
        assert_eq!(c.u8(), Some(9));
        assert_eq!(c.u8(), None);
        let mut c = Cursor::new(&[0xFF, 0xFF, 0xFF, 0xFF, 1]);
        assert_eq!(c.bytes(), None);
    }
}
