//! The page-based B+tree index: fixed-size checksummed pages in a page file, a bounded
//! buffer pool that obeys the WAL rule, and a B+tree whose every change is described by
//! page-level redo records.
//!
//! This is the index half of "a database is a log plus indexes". The WAL, transactions,
//! the checkpointer and recovery live above it and drive it through the API below; the
//! tree never touches the WAL itself, it is only told LSNs.
//!
//! # Layers, bottom up
//! * [`page`]: one page as bytes — header, slotted cells, checksum, page LSN — with the
//!   byte layout in its module docs. Decoding never panics: garbage is a typed error.
//! * [`redo`]: [`PageOp`], the page-level redo records a change produces, their
//!   fixed-width encoding, and [`apply_redo`], which is idempotent by page LSN.
//! * [`page_file`]: pages in one file over [`Storage`](crate::Storage); page `n` at `n * page_size`.
//! * [`buffer_pool`]: a bounded set of frames with LRU eviction, dirty tracking,
//!   `rec_lsn` per dirty page and the WAL rule.
//! * [`tree`]: the B+tree: get, put, delete, range scans, splits, `validate()`.
//!
//! # Call order (for the database above)
//! 1. [`BTree::create`] once for a new database (its [`Change`] is the first thing to log),
//!    or, after recovery, [`BTree::open`]. Recovery replays logged [`PageOp`]s first, in
//!    LSN order from the last checkpoint's redo LSN, with [`PageFile::redo`] straight to
//!    the file or [`BufferPool::redo`] through a pool (then `flush_all` it). After `open`,
//!    call [`BTree::begin_checkpoint_epoch`] with that same redo LSN: a page first changed
//!    after recovery must log a full image too, since the next recovery may start from the
//!    same checkpoint and meet that page torn.
//! 2. Whenever the WAL's durable point moves, [`BTree::set_wal_durable`] with the WAL's
//!    `durable_next` (every record *below* it is durable).
//! 3. For each change: pick the LSN the WAL record will get (`log.next_lsn()`), call
//!    [`BTree::put`] or [`BTree::delete`] with it, then append the WAL record carrying the
//!    returned [`Change::ops`] (and, for undo, [`Change::old_value`]). A mutating call
//!    either applies completely or returns an error having changed nothing, so there is
//!    nothing to log on error. LSNs must strictly increase from call to call.
//! 4. A checkpoint: [`BTree::begin_checkpoint_epoch`] with the checkpoint's redo LSN, then
//!    [`BTree::dirty_pages`] for the dirty page table, then [`BTree::flush_all`] (or
//!    [`BufferPool::flush_page`] page by page) and a storage sync.
//!
//! # The WAL rule, steal, no force
//! The pool writes a page only if its page LSN is below the WAL's durable point: the log
//! record describing a change is durable before the change can reach the page file, so
//! redo can always rebuild it. Eviction skips pages it may not write; when nothing can be
//! evicted the call fails with [`BTreeError::NeedsWalFlush`] (flush the WAL and retry) or
//! [`BTreeError::NoEvictablePage`] (everything pinned). Dirty pages of uncommitted changes
//! may be written (steal); commit never forces pages (no force). Undo is the database's
//! job, using [`Change::old_value`].
//!
//! # Full page writes
//! A change to a page whose page LSN is below the epoch set by
//! [`BTree::begin_checkpoint_epoch`] is logged as a [`PageOp::Image`] of the page after the
//! change rather than as a logical op (Postgres's `full_page_writes`, decided as Postgres
//! does, by comparing the page LSN with the checkpoint's redo pointer). So once recovery
//! starts at that checkpoint, the first record it meets for any page is a full image, and
//! a page torn by a crash mid-write is rebuilt from it ([`RedoOutcome::Repaired`]).
//!
//! # Deletion is lazy
//! Deleting removes the entry from its leaf and nothing else: leaves may become empty and
//! stay in the tree and in the sibling chain, nodes never merge, and pages are never freed
//! (the meta page's free-list head is always 0 in this format version). Every page below
//! the page count is therefore reachable from the root, which `validate` checks. Space
//! amplification after heavy deletion shows in [`Amplification`]; reclaiming it (merges
//! or a vacuum that rebuilds the tree) is future work.

pub mod buffer_pool;
pub mod inspect;
pub mod page;
pub mod page_file;
pub mod redo;
pub mod tree;

use std::fmt;

use crate::log::Lsn;
use crate::storage::StorageError;

pub use buffer_pool::{BufferPool, FrameInfo, PageCopy, PoolStats, MIN_FRAMES};
pub use page::{
    max_entry_bytes, max_key_bytes, Meta, Page, PageCorruption, PageType, DEFAULT_PAGE_BYTES,
    MAX_PAGE_BYTES, MIN_PAGE_BYTES,
};
pub use page_file::{PageFile, PageFileConfig};
pub use redo::{apply_redo, decode_ops, encode_ops, PageOp, PageOpDecodeError, RedoOutcome};
pub use tree::{Amplification, BTree, BTreeConfig, Change, Range, TreeStats};

/// The number of a page in the page file: page `n` lives at byte `n * page_size`.
/// Page 0 is the meta page, so 0 doubles as "none" in sibling and free-list fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PageId(pub u64);

impl PageId {
    /// The meta page.
    pub const META: PageId = PageId(0);
}

/// The pages a walk has reached, one flag per page number. The walks read a page before
/// they mark it, so the flags reach only as far as pages that exist (a corrupt child
/// pointer fails its read first, however large the corrupt page count).
#[derive(Default)]
pub(crate) struct Visited {
    marks: Vec<bool>,
    count: u64,
}

impl Visited {
    /// Marks `id`; false if it was marked already (a page reachable twice).
    pub(crate) fn first(&mut self, id: PageId) -> bool {
        let i = usize::try_from(id.0).unwrap_or(usize::MAX);
        if self.marks.len() <= i {
            self.marks.resize(i + 1, false);
        }
        let first = !std::mem::replace(&mut self.marks[i], true);
        self.count += u64::from(first);
        first
    }

    /// The pages marked.
    pub(crate) fn count(&self) -> u64 {
        self.count
    }
}

impl fmt::Display for PageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "page {}", self.0)
    }
}

/// Errors from the B-tree, its pages, page file and buffer pool.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BTreeError {
    /// The storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The page's checksum does not match its bytes: a write torn by a crash, or bit rot.
    /// A full page image from the WAL repairs it.
    #[error("{page} is torn or corrupt: checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    TornPage {
        /// The page.
        page: PageId,
        /// The checksum in the header.
        stored: u32,
        /// The checksum of the bytes.
        computed: u32,
    },
    /// The page is all zeros: allocated (the file was extended past it) but never written.
    #[error("{page} was never written (all zeros)")]
    UnwrittenPage {
        /// The page.
        page: PageId,
    },
    /// The page lies past the end of the page file.
    #[error("{page} is missing: the page file holds {file_pages} whole pages")]
    MissingPage {
        /// The page.
        page: PageId,
        /// Whole pages in the file.
        file_pages: u64,
    },
    /// The checksum matches but the contents break the page format.
    #[error("{page} is corrupt: {reason}")]
    CorruptPage {
        /// The page.
        page: PageId,
        /// What is wrong.
        reason: PageCorruption,
    },
    /// Pages that are each well formed do not make a valid tree (a bad child pointer, a
    /// key outside its parent's bounds, a broken sibling chain).
    #[error("the tree is corrupt at {page}: {reason}")]
    CorruptTree {
        /// Where the problem was found.
        page: PageId,
        /// What is wrong.
        reason: String,
    },
    /// There is no B-tree in the page file (it is missing or empty).
    #[error("the page file {file:?} holds no B-tree")]
    NotFormatted {
        /// The page file.
        file: String,
    },
    /// `create` found a page file that is not empty.
    #[error("the page file {file:?} already exists")]
    AlreadyExists {
        /// The page file.
        file: String,
    },
    /// A configuration the tree cannot use.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A key over [`max_key_bytes`] for the page size.
    #[error("key of {len} bytes is over the {max}-byte limit for this page size")]
    KeyTooLarge {
        /// Its length.
        len: u64,
        /// The limit.
        max: u32,
    },
    /// A key plus value over [`max_entry_bytes`] for the page size.
    #[error("entry of {len} bytes (key + value) is over the {max}-byte limit for this page size")]
    EntryTooLarge {
        /// Key plus value length.
        len: u64,
        /// The limit.
        max: u32,
    },
    /// A mutating call's LSN is not above the previous one's.
    #[error("{lsn} is not after {last}: every mutating call needs a new, larger LSN")]
    LsnNotIncreasing {
        /// The LSN given.
        lsn: Lsn,
        /// The largest LSN applied so far.
        last: Lsn,
    },
    /// No frame can be freed because every frame is pinned.
    #[error("no buffer frame can be freed: {pinned} of {frames} frames are pinned and the rest are empty or reserved")]
    NoEvictablePage {
        /// Frames in the pool.
        frames: u64,
        /// Frames pinned.
        pinned: u64,
    },
    /// No frame can be freed until the WAL is durable further: every unpinned frame is
    /// dirty with a page LSN at or above the WAL's durable point (the WAL rule).
    #[error("no buffer frame can be freed until the WAL is durable through {lsn} (durable below {durable} now)")]
    NeedsWalFlush {
        /// The smallest page LSN among the pages that could be evicted: once the WAL is
        /// durable through it (`durable_next > lsn`), that page can be written.
        lsn: Lsn,
        /// The WAL's durable point the pool was last given.
        durable: Lsn,
    },
    /// A change touches more pages than the pool has frames.
    #[error("this change touches {needed} pages but the pool has only {frames} frames")]
    PoolTooSmall {
        /// Pages the change touches.
        needed: u64,
        /// Frames in the pool.
        frames: u64,
    },
    /// A redo record that does not decode.
    #[error("bad redo record: {0}")]
    BadPageOp(#[from] PageOpDecodeError),
    /// A redo record that does not apply to the page it names: the page is not in the
    /// state the record was made from (history diverged, or a page was lost).
    #[error("redo at {lsn} does not apply to {page}: {reason}")]
    RedoMismatch {
        /// The page.
        page: PageId,
        /// The record's LSN.
        lsn: Lsn,
        /// Why.
        reason: String,
    },
    /// An argument outside what the call allows.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// Reads a little-endian `u16` at `at`. Callers check bounds first.
fn get_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

/// Reads a little-endian `u32` at `at`. Callers check bounds first.
fn get_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// Reads a little-endian `u64` at `at`. Callers check bounds first.
fn get_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn put_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}
