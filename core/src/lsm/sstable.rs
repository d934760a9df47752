//! The SSTable: an immutable, sorted table of versioned entries in one file
//! (`sst-{id:020}.sst`), written once by [`TableWriter`] and read by [`Table`].
//!
//! # File layout
//! ```text
//! [data block 0][crc]…[data block n-1][crc][bloom block][crc][index block][crc][footer][tail]
//! ```
//! Every block is followed by the CRC32C of its bytes (u32 LE, 4 bytes); a block's
//! *length* never includes that trailer. Blocks tile the file: data block 0 starts at 0,
//! each block starts right after the previous one's trailer, the bloom block right after
//! the last data block's, the index block right after the bloom block's, the footer right
//! after the index block's, and the 20-byte tail ends the file. [`Table::open`] checks
//! every one of these equalities, so bytes out of place are an error, never a misread.
//! All integers are fixed-width little-endian.
//!
//! ## Data block (at most [`TableConfig::block_bytes`] unless one entry is larger)
//! ```text
//! entries   n × entry, packed from offset 0, keys strictly increasing
//!   entry:  kind u8 (1 put, 2 tombstone) | lsn u64 | key_len u32 | value_len u32 | key | value
//!           (a tombstone has value_len 0)
//! offsets   n × u32: the offset of each entry in the block (every entry is a restart
//!           point: keys are stored whole, so a lookup binary-searches this array)
//! n         u32: the number of entries (≥ 1)
//! ```
//!
//! ## Bloom block
//! The serialized [`BloomFilter`] of every key in the table (format in [`super::bloom`]).
//!
//! ## Index block (one entry per data block, in order)
//! ```text
//! n         u32: data blocks (≥ 1)
//! n × ( offset u64 | len u32 | entries u32 | last_key_len u32 | last_key )
//! ```
//! A lookup finds the first block whose last key is at or above the key it wants.
//!
//! ## Footer and tail
//! ```text
//! footer    table id u64 | entries u64 | tombstones u64 | min lsn u64 | max lsn u64 |
//!           bloom offset u64 | bloom len u32 | index offset u64 | index len u32 |
//!           data blocks u32 | min_key_len u32 | min key | max_key_len u32 | max key
//! tail      footer_len u32 | format version u32 (1) |
//!           CRC32C of footer ‖ footer_len ‖ version, u32 | magic "LSPNSSTB" (8 bytes)
//! ```
//! [`Table::open`] reads the tail first: magic, then version, then the footer's length
//! and checksum, then the footer's fields, the index block and the bloom block (each
//! with its CRC). Data blocks are read and checked one at a time, when a lookup or a
//! cursor needs them. Each check that fails is a [`TableCorruption`] in
//! [`LsmError::CorruptTable`]; garbage or truncation anywhere never panics.
//!
//! # Read amplification
//! A [`Table`] counts ([`TableStats`]) lookups, lookups skipped by key range, lookups
//! skipped by the bloom filter, bloom false positives, and data blocks read.

use std::cell::Cell;
use std::fmt;
use std::ops::Bound;

use crate::crc32c;
use crate::log::Lsn;
use crate::storage::{Storage, StorageError};

use super::bloom::{key_hash, BloomDecodeError, BloomFilter};
use super::{check_entry, put_bytes, Cursor, Entry, LsmError, TableId, Value};

/// The last 8 bytes of every table file.
pub const MAGIC: [u8; 8] = *b"LSPNSSTB";

/// The format version this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Bytes of the tail (footer length, version, checksum, magic).
pub const TAIL_BYTES: u64 = 20;

/// Bytes of a block's CRC trailer.
pub const BLOCK_TRAILER_BYTES: u64 = 4;

/// Bytes of an entry's header (kind, LSN, key and value lengths).
pub const ENTRY_HEADER_BYTES: u64 = 17;

/// Bytes of the footer's fixed fields (before the two keys and their lengths).
const FOOTER_FIXED_BYTES: u64 = 8 * 5 + 8 + 4 + 8 + 4 + 4;

const KIND_PUT: u8 = 1;
const KIND_TOMBSTONE: u8 = 2;

/// How tables are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableConfig {
    /// A data block is closed before an entry would take it past this many bytes (a
    /// block holding one larger entry is allowed). 64 bytes to 16 MiB.
    pub block_bytes: u32,
    /// Bloom filter bits per key, 1 to 64.
    pub bloom_bits_per_key: u32,
}

impl Default for TableConfig {
    /// 4 KiB blocks, 10 bits per key (about 0.8 % false positives).
    fn default() -> Self {
        TableConfig {
            block_bytes: 4096,
            bloom_bits_per_key: 10,
        }
    }
}

impl TableConfig {
    /// Checks the ranges in the field docs.
    pub fn check(&self) -> Result<(), LsmError> {
        if !(64..=16 * 1024 * 1024).contains(&self.block_bytes) {
            return Err(LsmError::InvalidConfig(format!(
                "block_bytes {} outside 64..=16 MiB",
                self.block_bytes
            )));
        }
        if !(1..=64).contains(&self.bloom_bits_per_key) {
            return Err(LsmError::InvalidConfig(format!(
                "bloom_bits_per_key {} outside 1..=64",
                self.bloom_bits_per_key
            )));
        }
        Ok(())
    }
}

/// What the manifest records about a table, and what compaction policy looks at.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TableMeta {
    /// Its id (and so its file name).
    pub id: TableId,
    /// The file's length.
    pub size_bytes: u64,
    /// Entries in it (≥ 1).
    pub entries: u64,
    /// How many of them are tombstones.
    pub tombstones: u64,
    /// Its smallest key.
    pub min_key: Vec<u8>,
    /// Its largest key.
    pub max_key: Vec<u8>,
    /// Its smallest LSN.
    pub min_lsn: Lsn,
    /// Its largest LSN.
    pub max_lsn: Lsn,
}

impl TableMeta {
    /// Whether the table's key range meets `lo..=hi`.
    pub fn overlaps(&self, lo: &[u8], hi: &[u8]) -> bool {
        self.min_key.as_slice() <= hi && lo <= self.max_key.as_slice()
    }

    /// Whether `key` lies in the table's key range.
    pub fn covers(&self, key: &[u8]) -> bool {
        self.overlaps(key, key)
    }
}

/// A block of a table, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockKind {
    /// Data block number `n`.
    Data(u64),
    /// The bloom filter.
    Bloom,
    /// The block index.
    Index,
    /// The footer.
    Footer,
}

impl fmt::Display for BlockKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockKind::Data(n) => write!(f, "data block {n}"),
            BlockKind::Bloom => write!(f, "bloom block"),
            BlockKind::Index => write!(f, "index block"),
            BlockKind::Footer => write!(f, "footer"),
        }
    }
}

/// What is wrong with a table file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TableCorruption {
    /// The file is shorter than the tail.
    #[error("only {len} bytes, shorter than a table's {TAIL_BYTES}-byte tail")]
    TooShort {
        /// The file's length.
        len: u64,
    },
    /// The last 8 bytes are not the magic: not a table, or its end is missing.
    #[error("no table magic at the end of the file")]
    BadMagic,
    /// A format version this code does not read.
    #[error("format version {found} (this code reads {FORMAT_VERSION})")]
    UnsupportedVersion {
        /// The version found.
        found: u32,
    },
    /// The footer length is impossible for the file.
    #[error("footer length {len} does not fit the file")]
    BadFooterLength {
        /// The length found.
        len: u64,
    },
    /// A checksum does not match.
    #[error("{block} checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    Checksum {
        /// Which block.
        block: BlockKind,
        /// The checksum stored.
        stored: u32,
        /// The checksum of the bytes.
        computed: u32,
    },
    /// A field runs past the end of its block, or bytes are left over.
    #[error("{block} is truncated or has trailing bytes")]
    Truncated {
        /// Which block.
        block: BlockKind,
    },
    /// Offsets, lengths or counts that contradict each other.
    #[error("bad layout: {detail}")]
    BadLayout {
        /// What disagrees.
        detail: String,
    },
    /// An entry that breaks the format (bad kind, out of order, LSN outside the table's).
    #[error("{block}: {detail}")]
    BadEntry {
        /// Which block.
        block: BlockKind,
        /// What is wrong.
        detail: String,
    },
    /// The bloom block does not decode.
    #[error("bloom filter: {0}")]
    Bloom(BloomDecodeError),
    /// The footer names another table: the file is in the wrong place.
    #[error("the footer says it is {found}")]
    WrongId {
        /// The id in the footer.
        found: TableId,
    },
}

/// Read-amplification counters of one table (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableStats {
    /// Point lookups asked of this table.
    pub gets: u64,
    /// Lookups answered "absent" by the key range alone.
    pub range_skips: u64,
    /// Lookups answered "absent" by the bloom filter.
    pub bloom_skips: u64,
    /// Lookups the filter let through that found nothing.
    pub bloom_false_positives: u64,
    /// Data blocks read (lookups and cursors).
    pub blocks_read: u64,
    /// Bytes of data blocks read.
    pub block_bytes_read: u64,
}

/// What a point lookup in one table found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// The key is outside the table's key range; nothing was read.
    SkippedByRange,
    /// The bloom filter says the key is absent; nothing was read.
    SkippedByBloom,
    /// One block was read and the key is not in it.
    NotFound,
    /// One block was read and holds the key.
    Found {
        /// The entry's LSN.
        lsn: Lsn,
        /// Its value or tombstone.
        value: Value,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct IndexEntry {
    last_key: Vec<u8>,
    offset: u64,
    len: u32,
    entries: u32,
}

fn corrupt(file: &str, offset: u64, reason: TableCorruption) -> LsmError {
    LsmError::CorruptTable {
        file: file.to_owned(),
        offset,
        reason,
    }
}

fn layout(detail: impl Into<String>) -> TableCorruption {
    TableCorruption::BadLayout {
        detail: detail.into(),
    }
}

/// Builds one table file from entries in strictly increasing key order. Call order:
/// [`TableWriter::create`], [`TableWriter::add`] for each entry, [`TableWriter::finish`].
/// Data blocks are written as they fill; the bloom filter, index and footer at `finish`.
/// A writer dropped before `finish` leaves a partial file that no manifest names.
#[derive(Debug)]
pub struct TableWriter {
    id: TableId,
    file: String,
    config: TableConfig,
    offset: u64,
    block: Vec<u8>,
    block_offsets: Vec<u32>,
    index: Vec<IndexEntry>,
    hashes: Vec<u64>,
    first_key: Option<Vec<u8>>,
    last_key: Option<Vec<u8>>,
    entries: u64,
    tombstones: u64,
    min_lsn: u64,
    max_lsn: u64,
}

impl TableWriter {
    /// Starts table `id`, truncating any file of that name (a leftover of a write that
    /// never reached the manifest).
    pub fn create<S: Storage + ?Sized>(
        storage: &mut S,
        id: TableId,
        config: TableConfig,
    ) -> Result<TableWriter, LsmError> {
        config.check()?;
        let file = id.file_name();
        storage.set_len(&file, 0)?;
        Ok(TableWriter {
            id,
            file,
            config,
            offset: 0,
            block: Vec::new(),
            block_offsets: Vec::new(),
            index: Vec::new(),
            hashes: Vec::new(),
            first_key: None,
            last_key: None,
            entries: 0,
            tombstones: 0,
            min_lsn: u64::MAX,
            max_lsn: 0,
        })
    }

    /// Entries added so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Bytes written so far plus the open block: what the table would take without its
    /// bloom filter, index and footer.
    pub fn estimated_bytes(&self) -> u64 {
        self.offset + self.block.len() as u64
    }

    /// Adds the next entry; its key must be above the previous one's.
    pub fn add<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        entry: &Entry,
    ) -> Result<(), LsmError> {
        if let Some(prev) = &self.last_key {
            if entry.key <= *prev {
                return Err(LsmError::Unsorted {
                    previous: prev.clone(),
                    key: entry.key.clone(),
                });
            }
        }
        check_entry(&entry.key, &entry.value)?;
        let value = entry.value.as_put().unwrap_or(&[]);
        let entry_bytes = ENTRY_HEADER_BYTES + entry.key.len() as u64 + value.len() as u64;
        let block_after =
            self.block.len() as u64 + entry_bytes + 4 * (self.block_offsets.len() as u64 + 2);
        if !self.block.is_empty() && block_after > u64::from(self.config.block_bytes) {
            self.flush_block(storage)?;
        }
        self.block_offsets
            .push(u32::try_from(self.block.len()).expect("a block stays under 4 GiB"));
        self.block.push(if entry.value.is_tombstone() {
            KIND_TOMBSTONE
        } else {
            KIND_PUT
        });
        self.block.extend_from_slice(&entry.lsn.0.to_le_bytes());
        let klen = u32::try_from(entry.key.len()).expect("checked against MAX_KEY_BYTES");
        let vlen = u32::try_from(value.len()).expect("checked against MAX_VALUE_BYTES");
        self.block.extend_from_slice(&klen.to_le_bytes());
        self.block.extend_from_slice(&vlen.to_le_bytes());
        self.block.extend_from_slice(&entry.key);
        self.block.extend_from_slice(value);
        self.hashes.push(key_hash(&entry.key));
        if self.first_key.is_none() {
            self.first_key = Some(entry.key.clone());
        }
        self.last_key = Some(entry.key.clone());
        self.entries += 1;
        self.tombstones += u64::from(entry.value.is_tombstone());
        self.min_lsn = self.min_lsn.min(entry.lsn.0);
        self.max_lsn = self.max_lsn.max(entry.lsn.0);
        Ok(())
    }

    /// Writes `contents` and its CRC at the end of the file; returns its offset.
    fn write_block<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        mut contents: Vec<u8>,
    ) -> Result<(u64, u32), LsmError> {
        let len = u32::try_from(contents.len()).map_err(|_| {
            LsmError::InvalidArgument(format!("a block of {} bytes", contents.len()))
        })?;
        let crc = crc32c::checksum(&contents);
        contents.extend_from_slice(&crc.to_le_bytes());
        let at = self.offset;
        storage.write(&self.file, at, &contents)?;
        self.offset += contents.len() as u64;
        Ok((at, len))
    }

    fn flush_block<S: Storage + ?Sized>(&mut self, storage: &mut S) -> Result<(), LsmError> {
        let mut contents = std::mem::take(&mut self.block);
        for o in &self.block_offsets {
            contents.extend_from_slice(&o.to_le_bytes());
        }
        let n = u32::try_from(self.block_offsets.len()).expect("entries per block fit u32");
        contents.extend_from_slice(&n.to_le_bytes());
        self.block_offsets.clear();
        let (offset, len) = self.write_block(storage, contents)?;
        self.index.push(IndexEntry {
            last_key: self.last_key.clone().expect("a block has entries"),
            offset,
            len,
            entries: n,
        });
        Ok(())
    }

    /// Writes the last block, the bloom filter, the index and the footer; returns what
    /// the manifest records. A table must hold at least one entry.
    pub fn finish<S: Storage + ?Sized>(mut self, storage: &mut S) -> Result<TableMeta, LsmError> {
        if self.entries == 0 {
            return Err(LsmError::InvalidArgument(
                "a table needs at least one entry".into(),
            ));
        }
        if !self.block.is_empty() {
            self.flush_block(storage)?;
        }
        let bloom = BloomFilter::from_hashes(&self.hashes, self.config.bloom_bits_per_key);
        let (bloom_off, bloom_len) = self.write_block(storage, bloom.encode())?;
        let mut index = Vec::new();
        let blocks = u32::try_from(self.index.len()).expect("blocks fit u32");
        index.extend_from_slice(&blocks.to_le_bytes());
        for e in &self.index {
            index.extend_from_slice(&e.offset.to_le_bytes());
            index.extend_from_slice(&e.len.to_le_bytes());
            index.extend_from_slice(&e.entries.to_le_bytes());
            put_bytes(&mut index, &e.last_key);
        }
        let (index_off, index_len) = self.write_block(storage, index)?;
        let min_key = self.first_key.clone().expect("entries > 0");
        let max_key = self.last_key.clone().expect("entries > 0");
        let mut footer = Vec::new();
        for v in [
            self.id.0,
            self.entries,
            self.tombstones,
            self.min_lsn,
            self.max_lsn,
            bloom_off,
        ] {
            footer.extend_from_slice(&v.to_le_bytes());
        }
        footer.extend_from_slice(&bloom_len.to_le_bytes());
        footer.extend_from_slice(&index_off.to_le_bytes());
        footer.extend_from_slice(&index_len.to_le_bytes());
        footer.extend_from_slice(&blocks.to_le_bytes());
        put_bytes(&mut footer, &min_key);
        put_bytes(&mut footer, &max_key);
        let footer_len = u32::try_from(footer.len()).expect("keys are bounded");
        footer.extend_from_slice(&footer_len.to_le_bytes());
        footer.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        let crc = crc32c::checksum(&footer);
        footer.extend_from_slice(&crc.to_le_bytes());
        footer.extend_from_slice(&MAGIC);
        storage.write(&self.file, self.offset, &footer)?;
        self.offset += footer.len() as u64;
        Ok(TableMeta {
            id: self.id,
            size_bytes: self.offset,
            entries: self.entries,
            tombstones: self.tombstones,
            min_key,
            max_key,
            min_lsn: Lsn(self.min_lsn),
            max_lsn: Lsn(self.max_lsn),
        })
    }
}

/// Writes table `id` from entries in strictly increasing key order (a flush).
pub fn write_table<S: Storage + ?Sized>(
    storage: &mut S,
    id: TableId,
    config: TableConfig,
    entries: impl IntoIterator<Item = Entry>,
) -> Result<TableMeta, LsmError> {
    let mut w = TableWriter::create(storage, id, config)?;
    for e in entries {
        w.add(storage, &e)?;
    }
    w.finish(storage)
}

/// One checked data block in memory.
#[derive(Clone, Debug)]
struct Block {
    data: Vec<u8>,
    /// Entry offsets, each checked to start a whole, valid entry.
    offsets: Vec<u32>,
}

impl Block {
    fn len(&self) -> usize {
        self.offsets.len()
    }

    /// The entry at `i`: (kind, lsn, key, value). Offsets were checked by `decode`.
    fn raw(&self, i: usize) -> (u8, u64, &[u8], &[u8]) {
        let at = self.offsets[i] as usize;
        let d = &self.data[at..];
        let kind = d[0];
        let lsn = u64::from_le_bytes(d[1..9].try_into().expect("8 bytes"));
        let klen = u32::from_le_bytes(d[9..13].try_into().expect("4 bytes")) as usize;
        let vlen = u32::from_le_bytes(d[13..17].try_into().expect("4 bytes")) as usize;
        (
            kind,
            lsn,
            &d[17..17 + klen],
            &d[17 + klen..17 + klen + vlen],
        )
    }

    fn key(&self, i: usize) -> &[u8] {
        self.raw(i).2
    }

    fn entry(&self, i: usize) -> Entry {
        let (kind, lsn, key, value) = self.raw(i);
        Entry {
            key: key.to_vec(),
            lsn: Lsn(lsn),
            value: if kind == KIND_TOMBSTONE {
                Value::Tombstone
            } else {
                Value::Put(value.to_vec())
            },
        }
    }

    /// The first entry whose key is not below `lo`.
    fn lower_bound(&self, lo: Bound<&[u8]>) -> usize {
        match lo {
            Bound::Unbounded => 0,
            Bound::Included(k) => {
                let (mut a, mut b) = (0, self.len());
                while a < b {
                    let m = (a + b) / 2;
                    if self.key(m) < k {
                        a = m + 1;
                    } else {
                        b = m;
                    }
                }
                a
            }
            Bound::Excluded(k) => {
                let (mut a, mut b) = (0, self.len());
                while a < b {
                    let m = (a + b) / 2;
                    if self.key(m) <= k {
                        a = m + 1;
                    } else {
                        b = m;
                    }
                }
                a
            }
        }
    }

    /// Checks a block's bytes (without its trailer) against its index entry and the
    /// footer: tightly packed entries in the offset array, valid kinds, keys strictly
    /// increasing above `prev_last` and ending at the index's last key, LSNs inside the
    /// table's range.
    fn decode(
        data: Vec<u8>,
        block: u64,
        index: &IndexEntry,
        prev_last: Option<&[u8]>,
        lsns: (u64, u64),
    ) -> Result<Block, TableCorruption> {
        let bad = |detail: String| TableCorruption::BadEntry {
            block: BlockKind::Data(block),
            detail,
        };
        let truncated = TableCorruption::Truncated {
            block: BlockKind::Data(block),
        };
        let len = data.len();
        if len < 4 {
            return Err(truncated);
        }
        let n = u32::from_le_bytes(data[len - 4..].try_into().expect("4 bytes"));
        if n == 0 || n != index.entries {
            return Err(bad(format!(
                "{n} entries, the index says {}",
                index.entries
            )));
        }
        let n = usize::try_from(n).map_err(|_| truncated.clone())?;
        let offsets_bytes = n.checked_mul(4).ok_or_else(|| truncated.clone())?;
        let entries_end = (len - 4)
            .checked_sub(offsets_bytes)
            .ok_or_else(|| truncated.clone())?;
        let mut offsets = Vec::with_capacity(n);
        let mut c = Cursor::new(&data[entries_end..len - 4]);
        let mut pos = 0usize;
        let mut prev: Option<&[u8]> = prev_last;
        for i in 0..n {
            let off = c.u32().ok_or_else(|| truncated.clone())?;
            if off as usize != pos {
                return Err(bad(format!("entry {i} at offset {off}, expected {pos}")));
            }
            let mut e = Cursor::new(&data[pos..entries_end]);
            let (Some(kind), Some(lsn), Some(klen), Some(vlen)) =
                (e.u8(), e.u64(), e.u32(), e.u32())
            else {
                return Err(truncated);
            };
            let key = e.take(klen as usize).ok_or_else(|| truncated.clone())?;
            e.take(vlen as usize).ok_or_else(|| truncated.clone())?;
            match kind {
                KIND_PUT => {}
                KIND_TOMBSTONE if vlen == 0 => {}
                KIND_TOMBSTONE => return Err(bad(format!("entry {i}: tombstone with a value"))),
                k => return Err(bad(format!("entry {i}: unknown kind {k}"))),
            }
            if lsn < lsns.0 || lsn > lsns.1 {
                return Err(bad(format!(
                    "entry {i}: lsn {lsn} outside the table's {}..={}",
                    lsns.0, lsns.1
                )));
            }
            if prev.is_some_and(|p| key <= p) {
                return Err(bad(format!("entry {i}: keys out of order")));
            }
            prev = Some(key);
            offsets.push(off);
            pos += e.position();
        }
        if pos != entries_end {
            return Err(truncated);
        }
        if prev != Some(index.last_key.as_slice()) {
            return Err(bad("last key differs from the index".into()));
        }
        Ok(Block { data, offsets })
    }
}

/// An open table: its footer, index and bloom filter in memory; data blocks read on
/// demand. Reads take `&self`; the counters live in a cell.
#[derive(Clone, Debug)]
pub struct Table {
    meta: TableMeta,
    file: String,
    index: Vec<IndexEntry>,
    bloom: BloomFilter,
    stats: Cell<TableStats>,
}

impl Table {
    /// Opens table `id`: reads and checks the tail, footer, index and bloom filter (module
    /// docs). Anything wrong is [`LsmError::CorruptTable`]; a missing file is
    /// [`StorageError::NotFound`].
    pub fn open<S: Storage + ?Sized>(storage: &S, id: TableId) -> Result<Table, LsmError> {
        let file = id.file_name();
        let len = storage.len(&file)?;
        let err = |offset: u64, reason: TableCorruption| corrupt(&file, offset, reason);
        if len < TAIL_BYTES {
            return Err(err(0, TableCorruption::TooShort { len }));
        }
        let tail_at = len - TAIL_BYTES;
        let mut tail = [0u8; 20];
        storage.read(&file, tail_at, &mut tail)?;
        if tail[12..20] != MAGIC {
            return Err(err(tail_at, TableCorruption::BadMagic));
        }
        let version = u32::from_le_bytes(tail[4..8].try_into().expect("4 bytes"));
        if version != FORMAT_VERSION {
            return Err(err(
                tail_at,
                TableCorruption::UnsupportedVersion { found: version },
            ));
        }
        let footer_len = u64::from(u32::from_le_bytes(tail[0..4].try_into().expect("4 bytes")));
        if footer_len < FOOTER_FIXED_BYTES + 8 || footer_len > tail_at {
            return Err(err(
                tail_at,
                TableCorruption::BadFooterLength { len: footer_len },
            ));
        }
        let footer_at = tail_at - footer_len;
        let mut footer = read_exact(storage, &file, footer_at, footer_len)?;
        let stored = u32::from_le_bytes(tail[8..12].try_into().expect("4 bytes"));
        footer.extend_from_slice(&tail[0..8]);
        let computed = crc32c::checksum(&footer);
        if stored != computed {
            return Err(err(
                footer_at,
                TableCorruption::Checksum {
                    block: BlockKind::Footer,
                    stored,
                    computed,
                },
            ));
        }
        let footer_trunc = || {
            err(
                footer_at,
                TableCorruption::Truncated {
                    block: BlockKind::Footer,
                },
            )
        };
        let mut c = Cursor::new(&footer[..footer.len() - 8]);
        let fixed = (|| {
            Some((
                [c.u64()?, c.u64()?, c.u64()?, c.u64()?, c.u64()?, c.u64()?],
                c.u32()?,
                c.u64()?,
                c.u32()?,
                c.u32()?,
            ))
        })();
        let Some((
            [found_id, entries, tombstones, min_lsn, max_lsn, bloom_off],
            bloom_len,
            index_off,
            index_len,
            blocks,
        )) = fixed
        else {
            return Err(footer_trunc());
        };
        let (Some(min_key), Some(max_key)) = (c.bytes(), c.bytes()) else {
            return Err(footer_trunc());
        };
        if c.remaining() != 0 {
            return Err(footer_trunc());
        }
        if found_id != id.0 {
            return Err(err(
                footer_at,
                TableCorruption::WrongId {
                    found: TableId(found_id),
                },
            ));
        }
        let meta = TableMeta {
            id,
            size_bytes: len,
            entries,
            tombstones,
            min_key: min_key.to_vec(),
            max_key: max_key.to_vec(),
            min_lsn: Lsn(min_lsn),
            max_lsn: Lsn(max_lsn),
        };
        // The blocks must tile the file exactly.
        let bloom_end = bloom_off
            .checked_add(u64::from(bloom_len) + BLOCK_TRAILER_BYTES)
            .filter(|&e| e == index_off);
        let index_end = index_off
            .checked_add(u64::from(index_len) + BLOCK_TRAILER_BYTES)
            .filter(|&e| e == footer_at);
        if bloom_end.is_none() || index_end.is_none() {
            return Err(err(
                footer_at,
                layout(format!(
                    "bloom {bloom_off}+{bloom_len}, index {index_off}+{index_len}, footer at {footer_at}"
                )),
            ));
        }
        if entries == 0
            || tombstones > entries
            || min_lsn > max_lsn
            || meta.min_key > meta.max_key
            || blocks == 0
            || u64::from(blocks) > entries
        {
            return Err(err(
                footer_at,
                layout(format!(
                    "entries {entries}, tombstones {tombstones}, lsns {min_lsn}..={max_lsn}, {blocks} blocks, keys out of order: {}",
                    meta.min_key > meta.max_key
                )),
            ));
        }
        // The index.
        let index_bytes = read_block(storage, &file, index_off, index_len, BlockKind::Index)?;
        let index_trunc = || {
            err(
                index_off,
                TableCorruption::Truncated {
                    block: BlockKind::Index,
                },
            )
        };
        let mut c = Cursor::new(&index_bytes);
        if c.u32() != Some(blocks) {
            return Err(err(
                index_off,
                layout(format!("the index does not hold {blocks} blocks")),
            ));
        }
        let mut index: Vec<IndexEntry> = Vec::new();
        let mut next_offset = 0u64;
        let mut total = 0u64;
        for b in 0..blocks {
            let (Some(offset), Some(blen), Some(n), Some(last_key)) =
                (c.u64(), c.u32(), c.u32(), c.bytes())
            else {
                return Err(index_trunc());
            };
            if offset != next_offset || n == 0 {
                return Err(err(
                    index_off,
                    layout(format!(
                        "data block {b} at {offset} with {n} entries, expected at {next_offset}"
                    )),
                ));
            }
            if index
                .last()
                .is_some_and(|p| p.last_key.as_slice() >= last_key)
            {
                return Err(err(
                    index_off,
                    layout(format!("index keys out of order at data block {b}")),
                ));
            }
            next_offset = offset + u64::from(blen) + BLOCK_TRAILER_BYTES;
            total += u64::from(n);
            index.push(IndexEntry {
                last_key: last_key.to_vec(),
                offset,
                len: blen,
                entries: n,
            });
        }
        if c.remaining() != 0 {
            return Err(index_trunc());
        }
        if next_offset != bloom_off
            || total != entries
            || index.last().map(|e| e.last_key.as_slice()) != Some(max_key)
            || min_key > index[0].last_key.as_slice()
        {
            return Err(err(
                index_off,
                layout("the index disagrees with the footer".to_owned()),
            ));
        }
        // The bloom filter.
        let bloom_bytes = read_block(storage, &file, bloom_off, bloom_len, BlockKind::Bloom)?;
        let bloom = BloomFilter::decode(&bloom_bytes)
            .map_err(|e| err(bloom_off, TableCorruption::Bloom(e)))?;
        Ok(Table {
            meta,
            file,
            index,
            bloom,
            stats: Cell::new(TableStats::default()),
        })
    }

    /// What the manifest records about it (as read from the footer).
    pub fn meta(&self) -> &TableMeta {
        &self.meta
    }

    /// Its id.
    pub fn id(&self) -> TableId {
        self.meta.id
    }

    /// Its data blocks.
    pub fn blocks(&self) -> u64 {
        self.index.len() as u64
    }

    /// Its bloom filter.
    pub fn bloom(&self) -> &BloomFilter {
        &self.bloom
    }

    /// The read-amplification counters.
    pub fn stats(&self) -> TableStats {
        self.stats.get()
    }

    fn bump(&self, f: impl FnOnce(&mut TableStats)) {
        let mut s = self.stats.get();
        f(&mut s);
        self.stats.set(s);
    }

    /// Reads and checks data block `i`.
    fn read_data_block<S: Storage + ?Sized>(
        &self,
        storage: &S,
        i: usize,
    ) -> Result<Block, LsmError> {
        let e = &self.index[i];
        let data = read_block(
            storage,
            &self.file,
            e.offset,
            e.len,
            BlockKind::Data(i as u64),
        )?;
        self.bump(|s| {
            s.blocks_read += 1;
            s.block_bytes_read += u64::from(e.len);
        });
        let prev = i.checked_sub(1).map(|p| self.index[p].last_key.as_slice());
        Block::decode(
            data,
            i as u64,
            e,
            prev,
            (self.meta.min_lsn.0, self.meta.max_lsn.0),
        )
        .map_err(|r| corrupt(&self.file, e.offset, r))
    }

    /// Point lookup: key range, then bloom filter, then a binary search of the block
    /// index, one block read, and a binary search in the block.
    pub fn get<S: Storage + ?Sized>(&self, storage: &S, key: &[u8]) -> Result<Probe, LsmError> {
        self.bump(|s| s.gets += 1);
        if !self.meta.covers(key) {
            self.bump(|s| s.range_skips += 1);
            return Ok(Probe::SkippedByRange);
        }
        if !self.bloom.may_contain(key) {
            self.bump(|s| s.bloom_skips += 1);
            return Ok(Probe::SkippedByBloom);
        }
        let i = self.index.partition_point(|e| e.last_key.as_slice() < key);
        if i == self.index.len() {
            // Cannot happen for a key <= max_key, which open checked is the last index key.
            return Ok(Probe::NotFound);
        }
        let block = self.read_data_block(storage, i)?;
        let j = block.lower_bound(Bound::Included(key));
        if j < block.len() && block.key(j) == key {
            let e = block.entry(j);
            return Ok(Probe::Found {
                lsn: e.lsn,
                value: e.value,
            });
        }
        self.bump(|s| s.bloom_false_positives += 1);
        Ok(Probe::NotFound)
    }

    /// A cursor over the entries with keys in the bounds, in key order.
    pub fn cursor(&self, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> TableCursor<'_> {
        let block = match lo {
            Bound::Unbounded => 0,
            Bound::Included(k) => self.index.partition_point(|e| e.last_key.as_slice() < k),
            Bound::Excluded(k) => self.index.partition_point(|e| e.last_key.as_slice() <= k),
        };
        let below_min = match hi {
            Bound::Unbounded => false,
            Bound::Included(k) => k < self.meta.min_key.as_slice(),
            Bound::Excluded(k) => k <= self.meta.min_key.as_slice(),
        };
        TableCursor {
            table: self,
            next_block: block,
            block: None,
            pos: 0,
            lo: lo.map(<[u8]>::to_vec),
            hi: hi.map(<[u8]>::to_vec),
            done: below_min,
        }
    }

    /// Every entry, in key order, checking every block (used by tests and tools).
    pub fn read_all<S: Storage + ?Sized>(&self, storage: &S) -> Result<Vec<Entry>, LsmError> {
        self.cursor(Bound::Unbounded, Bound::Unbounded)
            .iter(storage)
            .collect()
    }
}

fn read_exact<S: Storage + ?Sized>(
    storage: &S,
    file: &str,
    offset: u64,
    len: u64,
) -> Result<Vec<u8>, LsmError> {
    let n = usize::try_from(len).map_err(|_| StorageError::Io {
        detail: format!("{len} bytes do not fit in memory"),
    })?;
    let mut buf = vec![0; n];
    storage.read(file, offset, &mut buf)?;
    Ok(buf)
}

/// Reads a block and its trailer and checks the CRC; returns the block without it.
fn read_block<S: Storage + ?Sized>(
    storage: &S,
    file: &str,
    offset: u64,
    len: u32,
    kind: BlockKind,
) -> Result<Vec<u8>, LsmError> {
    let mut buf = read_exact(storage, file, offset, u64::from(len) + BLOCK_TRAILER_BYTES)?;
    let split = buf.len() - 4;
    let stored = u32::from_le_bytes(buf[split..].try_into().expect("4 bytes"));
    buf.truncate(split);
    let computed = crc32c::checksum(&buf);
    if stored != computed {
        return Err(corrupt(
            file,
            offset,
            TableCorruption::Checksum {
                block: kind,
                stored,
                computed,
            },
        ));
    }
    Ok(buf)
}

/// A position in a table's entries, reading one block at a time. It does not borrow the
/// storage, so a compaction can read its inputs and write its outputs in turn: call
/// [`TableCursor::next`] with the storage each time, or [`TableCursor::iter`].
#[derive(Debug)]
pub struct TableCursor<'t> {
    table: &'t Table,
    next_block: usize,
    block: Option<Block>,
    pos: usize,
    lo: Bound<Vec<u8>>,
    hi: Bound<Vec<u8>>,
    done: bool,
}

impl<'t> TableCursor<'t> {
    /// The next entry in the bounds; `None` at the end. After an error it ends.
    pub fn next<S: Storage + ?Sized>(&mut self, storage: &S) -> Option<Result<Entry, LsmError>> {
        loop {
            if self.done {
                return None;
            }
            if let Some(b) = &self.block {
                if self.pos < b.len() {
                    let e = b.entry(self.pos);
                    self.pos += 1;
                    let past = match &self.hi {
                        Bound::Unbounded => false,
                        Bound::Included(k) => e.key > *k,
                        Bound::Excluded(k) => e.key >= *k,
                    };
                    if past {
                        self.done = true;
                        return None;
                    }
                    return Some(Ok(e));
                }
            }
            if self.next_block >= self.table.index.len() {
                self.done = true;
                return None;
            }
            match self.table.read_data_block(storage, self.next_block) {
                Ok(b) => {
                    self.pos = b.lower_bound(self.lo.as_ref().map(Vec::as_slice));
                    self.block = Some(b);
                    self.next_block += 1;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }

    /// The cursor as an iterator borrowing the storage.
    pub fn iter<'s, S: Storage + ?Sized>(
        mut self,
        storage: &'s S,
    ) -> impl Iterator<Item = Result<Entry, LsmError>> + 's
    where
        't: 's,
    {
        std::iter::from_fn(move || self.next(storage))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim_disk::{SimDisk, SimDiskConfig};
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn entries(n: u32) -> Vec<Entry> {
        (0..n)
            .map(|i| Entry {
                key: format!("key{i:05}").into_bytes(),
                lsn: Lsn(u64::from(i) + 10),
                value: if i % 7 == 3 {
                    Value::Tombstone
                } else {
                    Value::Put(vec![u8::try_from(i % 251).unwrap(); (i % 40) as usize])
                },
            })
            .collect()
    }

    fn config() -> TableConfig {
        TableConfig {
            block_bytes: 256,
            bloom_bits_per_key: 10,
        }
    }

    #[test]
    fn write_then_read_everything_back() {
        let mut disk = SimDisk::new(SimDiskConfig::default(), 1);
        let es = entries(300);
        let meta = write_table(&mut disk, TableId(3), config(), es.clone()).unwrap();
        assert_eq!(meta.entries, 300);
        assert_eq!(meta.tombstones, 43);
        assert_eq!(meta.min_key, b"key00000");
        assert_eq!(meta.max_key, b"key00299");
        assert_eq!((meta.min_lsn, meta.max_lsn), (Lsn(10), Lsn(309)));
        assert_eq!(
            meta.size_bytes,
            disk.len("sst-00000000000000000003.sst").unwrap()
        );
        let t = Table::open(&disk, TableId(3)).unwrap();
        assert_eq!(t.meta(), &meta);
        assert!(t.blocks() > 10, "{} blocks", t.blocks());
        assert_eq!(t.read_all(&disk).unwrap(), es);
        for e in &es {
            assert_eq!(
                t.get(&disk, &e.key).unwrap(),
                Probe::Found {
                    lsn: e.lsn,
                    value: e.value.clone()
                }
            );
        }
        assert_eq!(t.get(&disk, b"a").unwrap(), Probe::SkippedByRange);
        assert_eq!(t.get(&disk, b"key9").unwrap(), Probe::SkippedByRange);
        let stats = t.stats();
        assert_eq!(stats.gets, 302);
        assert_eq!(stats.range_skips, 2);
        // Ranges.
        let keys = |lo: Bound<&[u8]>, hi: Bound<&[u8]>| -> Vec<Vec<u8>> {
            t.cursor(lo, hi)
                .iter(&disk)
                .map(|e| e.unwrap().key)
                .collect()
        };
        let got = keys(Bound::Excluded(b"key00010"), Bound::Included(b"key00013"));
        assert_eq!(got, [b"key00011", b"key00012", b"key00013"]);
        assert_eq!(
            keys(Bound::Included(b"key000105"), Bound::Unbounded).len(),
            300 - 11
        );
        assert!(keys(Bound::Unbounded, Bound::Excluded(b"key00000")).is_empty());
        assert!(keys(Bound::Excluded(b"key00299"), Bound::Unbounded).is_empty());
    }

    #[test]
    fn writer_refuses_unsorted_and_empty_input() {
        let mut disk = SimDisk::new(SimDiskConfig::default(), 1);
        let mut es = entries(3);
        es.swap(0, 1);
        assert!(matches!(
            write_table(&mut disk, TableId(1), config(), es),
            Err(LsmError::Unsorted { .. })
        ));
        assert!(matches!(
            write_table(&mut disk, TableId(1), config(), Vec::new()),
            Err(LsmError::InvalidArgument(_))
        ));
        assert!(matches!(
            write_table(
                &mut disk,
                TableId(1),
                TableConfig {
                    block_bytes: 10,
                    ..config()
                },
                entries(1)
            ),
            Err(LsmError::InvalidConfig(_))
        ));
    }

    #[test]
    fn one_entry_larger_than_a_block_is_fine() {
        let mut disk = SimDisk::new(SimDiskConfig::default(), 1);
        let es = vec![
            Entry {
                key: b"a".to_vec(),
                lsn: Lsn(1),
                value: Value::Put(vec![7; 1000]),
            },
            Entry {
                key: b"b".to_vec(),
                lsn: Lsn(2),
                value: Value::Tombstone,
            },
        ];
        write_table(&mut disk, TableId(0), config(), es.clone()).unwrap();
        let t = Table::open(&disk, TableId(0)).unwrap();
        assert_eq!(t.blocks(), 2);
        assert_eq!(t.read_all(&disk).unwrap(), es);
    }

    #[test]
    fn wrong_file_and_bad_tail_are_typed_errors() {
        let mut disk = SimDisk::new(SimDiskConfig::default(), 1);
        write_table(&mut disk, TableId(1), config(), entries(20)).unwrap();
        // A copy under another id.
        let bytes = crate::storage::read_all(&disk, &TableId(1).file_name()).unwrap();
        disk.write(&TableId(2).file_name(), 0, &bytes).unwrap();
        assert!(matches!(
            Table::open(&disk, TableId(2)),
            Err(LsmError::CorruptTable {
                reason: TableCorruption::WrongId { found: TableId(1) },
                ..
            })
        ));
        assert!(matches!(
            Table::open(&disk, TableId(9)),
            Err(LsmError::Storage(StorageError::NotFound { .. }))
        ));
        let n = bytes.len() as u64;
        disk.set_len(&TableId(2).file_name(), n - 1).unwrap();
        assert!(matches!(
            Table::open(&disk, TableId(2)),
            Err(LsmError::CorruptTable {
                reason: TableCorruption::BadMagic,
                ..
            })
        ));
        disk.set_len(&TableId(2).file_name(), 5).unwrap();
        assert!(matches!(
            Table::open(&disk, TableId(2)),
            Err(LsmError::CorruptTable {
                reason: TableCorruption::TooShort { len: 5 },
                ..
            })
        ));
    }
}
