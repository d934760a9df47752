//! `BTree`: a B+tree over the buffer pool. Values live in leaves; internal pages hold
//! separator keys and child pointers; leaves are chained left to right for range scans.
//!
//! # Changes
//! A mutating call ([`BTree::put`], [`BTree::delete`]) first *plans*: it walks from the
//! root to the leaf, and works out on copies of the pages what every page touched will
//! look like — one [`PageOp`] per page, all stamped with the call's LSN. Then it hands the
//! ops to the pool, which applies them all or none ([`super::buffer_pool`]). So the pages
//! in memory are always exactly "the ops returned so far, applied in order", which is what
//! redo replays.
//!
//! * Room in the leaf: one logical op ([`PageOp::Insert`] or [`PageOp::Delete`]).
//! * No room: the leaf's entries plus the new one are cut where the bytes balance; the
//!   left half stays in the page, the right half goes to a new page after it in the
//!   sibling chain (both [`PageOp::Image`]), and the right half's first key goes up to the
//!   parent as a separator ([`PageOp::InsertChild`]). A full parent splits the same way,
//!   its middle separator moving up instead of being copied; a split root gets a new root
//!   above it, the tree's only way to grow taller, so all leaves stay at the same depth.
//!   Allocation and a new root change the meta page ([`PageOp::Meta`]).
//! * A logical op on a page whose LSN is below the checkpoint epoch is logged as the page's
//!   full image instead (see the parent module, "Full page writes").
//!
//! Deletion is lazy (see the parent module): no merges, empty leaves stay.
//!
//! # Invariants (checked by [`BTree::validate`])
//! * Every page reachable from the root once, and every page below the page count
//!   reachable (nothing is ever freed); internal pages above, leaves at one depth, the
//!   tree's height.
//! * Keys sorted within each page; every key in a child lies within the bounds its
//!   parent's separators give it (`lower <= key < upper`).
//! * The leaves' sibling chain visits every leaf in key order and ends with none.
//! * Every page's LSN is at most the largest LSN the tree has applied; clean pages'
//!   checksums are valid (the pool's own `validate`).
//! * The live key and byte counters equal the leaves' contents; the meta page agrees with
//!   the tree's root and page count; the page file holds no page past the page count.

use crate::meter::ratio;
use std::collections::VecDeque;

use super::buffer_pool::{BufferPool, MIN_FRAMES};
use super::page::{
    internal_entry_bytes, leaf_entry_bytes, max_entry_bytes, max_key_bytes, Meta, Page, PageType,
};
use super::page_file::{PageFile, PageFileConfig};
use super::redo::{apply_to_page, PageOp, RedoOutcome};
use super::{BTreeError, PageId};
use crate::log::Lsn;
use crate::storage::Storage;

/// How a tree is stored and cached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BTreeConfig {
    /// The page file and page size.
    pub page_file: PageFileConfig,
    /// Frames in the buffer pool (at least [`MIN_FRAMES`]; a change that splits `h`
    /// levels needs `2h + 2`).
    pub pool_frames: usize,
    /// Log a full page image for the first change to each page after
    /// [`BTree::begin_checkpoint_epoch`].
    pub full_page_writes: bool,
}

impl Default for BTreeConfig {
    /// `btree.pages`, 4096-byte pages, 64 frames, full page writes on.
    fn default() -> Self {
        BTreeConfig {
            page_file: PageFileConfig::default(),
            pool_frames: 64,
            full_page_writes: true,
        }
    }
}

/// What a mutating call did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Change {
    /// The page-level redo records, at most one per page, to be logged under the call's
    /// LSN. Empty when nothing changed (deleting an absent key).
    pub ops: Vec<PageOp>,
    /// The key's value before the call (the undo information).
    pub old_value: Option<Vec<u8>>,
}

/// Counters of the tree's own work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TreeStats {
    /// Calls to `get`.
    pub lookups: u64,
    /// Pages visited by `get` (height per lookup).
    pub lookup_page_accesses: u64,
    /// Pages `get` had to read from the page file (buffer misses).
    pub lookup_pages_read: u64,
    /// Range scans started.
    pub scans: u64,
    /// Leaves visited by range scans.
    pub scan_leaves: u64,
    /// Successful `put` calls.
    pub puts: u64,
    /// `delete` calls that removed a key.
    pub deletes: u64,
    /// Leaf splits.
    pub leaf_splits: u64,
    /// Internal page splits (root splits included).
    pub internal_splits: u64,
    /// Times the tree grew a level.
    pub root_splits: u64,
    /// Page ops produced.
    pub ops: u64,
    /// Of which full page images logged because of the checkpoint epoch.
    pub full_page_images: u64,
    /// Encoded bytes of all page ops produced (the WAL bytes the index adds).
    pub redo_bytes: u64,
    /// Key plus value bytes given to `put`, key bytes given to `delete`.
    pub logical_bytes: u64,
}

/// The inputs of the amplification meters.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Amplification {
    /// Keys in the tree.
    pub live_keys: u64,
    /// Key plus value bytes in the tree.
    pub live_bytes: u64,
    /// Bytes the tree's pages take (page count × page size).
    pub file_bytes: u64,
    /// Key plus value bytes the caller asked to write.
    pub logical_bytes_written: u64,
    /// Bytes the pool wrote to the page file.
    pub page_bytes_written: u64,
    /// Bytes of page ops produced for the WAL.
    pub redo_bytes: u64,
    /// Lookups.
    pub lookups: u64,
    /// Pages visited by lookups.
    pub lookup_page_accesses: u64,
    /// Pages read from the page file by lookups.
    pub lookup_pages_read: u64,
}

impl Amplification {
    /// File bytes per live byte (`inf` when the tree is empty).
    pub fn space(&self) -> f64 {
        ratio(self.file_bytes, self.live_bytes)
    }

    /// Page file bytes written per logical byte written.
    pub fn page_write(&self) -> f64 {
        ratio(self.page_bytes_written, self.logical_bytes_written)
    }

    /// Redo bytes per logical byte written.
    pub fn redo_write(&self) -> f64 {
        ratio(self.redo_bytes, self.logical_bytes_written)
    }

    /// Pages visited per lookup.
    pub fn read_pages_per_lookup(&self) -> f64 {
        ratio(self.lookup_page_accesses, self.lookups)
    }

    /// Pages read from the file per lookup.
    pub fn disk_reads_per_lookup(&self) -> f64 {
        ratio(self.lookup_pages_read, self.lookups)
    }
}

/// What a full walk of the tree found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Summary {
    height: u32,
    live_keys: u64,
    live_bytes: u64,
    max_lsn: Lsn,
    pages: u64,
}

/// The B+tree. See the module docs.
#[derive(Clone, Debug)]
pub struct BTree {
    pool: BufferPool,
    meta: Meta,
    height: u32,
    last_lsn: Lsn,
    full_page_writes: bool,
    epoch: Lsn,
    live_keys: u64,
    live_bytes: u64,
    stats: TreeStats,
}

fn corrupt(page: PageId, reason: impl Into<String>) -> BTreeError {
    BTreeError::CorruptTree {
        page,
        reason: reason.into(),
    }
}

fn check_config(config: &BTreeConfig) -> Result<PageFile, BTreeError> {
    if config.pool_frames < MIN_FRAMES {
        return Err(BTreeError::InvalidConfig(format!(
            "a buffer pool needs at least {MIN_FRAMES} frames, not {}",
            config.pool_frames
        )));
    }
    PageFile::new(config.page_file.clone())
}

/// The cut that balances bytes: the smallest `i` whose prefix `..i` holds at least half,
/// kept within `lo..=hi`.
fn balanced_cut(sizes: &[usize], lo: usize, hi: usize) -> usize {
    let total: usize = sizes.iter().sum();
    let mut acc = 0;
    let mut cut = sizes.len();
    for (i, s) in sizes.iter().enumerate() {
        acc += s;
        if 2 * acc >= total {
            cut = i + 1;
            break;
        }
    }
    cut.clamp(lo, hi)
}

impl BTree {
    /// Formats a new, empty tree in a page file that does not exist or is empty: a meta
    /// page and an empty root leaf, made by the returned [`Change`] at `lsn` (log it like
    /// any change: recovery can rebuild the file from it). Nothing is written until the
    /// pool may write (the WAL rule), so set the WAL's durable point as usual.
    pub fn create<S: Storage + ?Sized>(
        storage: &mut S,
        config: BTreeConfig,
        lsn: Lsn,
    ) -> Result<(BTree, Change), BTreeError> {
        let file = check_config(&config)?;
        if file.file_bytes(storage)? > 0 {
            return Err(BTreeError::AlreadyExists {
                file: file.file().to_owned(),
            });
        }
        let ps = file.page_size();
        let mut pool = BufferPool::new(file, config.pool_frames)?;
        let meta = Meta {
            root: PageId(1),
            page_count: 2,
            free_head: PageId(0),
        };
        let ops = vec![
            PageOp::Meta {
                root: meta.root,
                page_count: meta.page_count,
                free_head: meta.free_head,
            },
            PageOp::Image {
                page: meta.root,
                bytes: Page::new_leaf(meta.root, ps, lsn, None).bytes().to_vec(),
            },
        ];
        pool.apply_ops(storage, &ops, lsn)?;
        let mut tree = BTree {
            pool,
            meta,
            height: 1,
            last_lsn: lsn,
            full_page_writes: config.full_page_writes,
            epoch: Lsn(0),
            live_keys: 0,
            live_bytes: 0,
            stats: TreeStats::default(),
        };
        tree.count_ops(&ops);
        Ok((
            tree,
            Change {
                ops,
                old_value: None,
            },
        ))
    }

    /// Opens the tree in the page file (after recovery has redone the WAL into it). Walks
    /// the whole tree once to check it and to count live keys and bytes, so corruption is
    /// found here, as a typed error. The checkpoint epoch starts at 0 (no full page images
    /// until [`BTree::begin_checkpoint_epoch`], which the caller must call with the redo
    /// LSN recovery started from); the WAL's durable point starts at 0 (nothing dirty may
    /// be written until [`BTree::set_wal_durable`]).
    pub fn open<S: Storage + ?Sized>(
        storage: &mut S,
        config: BTreeConfig,
    ) -> Result<BTree, BTreeError> {
        let file = check_config(&config)?;
        if file.file_bytes(storage)? == 0 {
            return Err(BTreeError::NotFormatted {
                file: file.file().to_owned(),
            });
        }
        let (meta, meta_lsn) = file.read_meta(storage)?;
        let pool = BufferPool::new(file, config.pool_frames)?;
        let mut tree = BTree {
            pool,
            meta,
            height: 0,
            last_lsn: meta_lsn,
            full_page_writes: config.full_page_writes,
            epoch: Lsn(0),
            live_keys: 0,
            live_bytes: 0,
            stats: TreeStats::default(),
        };
        let summary = tree.walk(storage)?;
        tree.height = summary.height;
        tree.live_keys = summary.live_keys;
        tree.live_bytes = summary.live_bytes;
        tree.last_lsn = tree.last_lsn.max(summary.max_lsn);
        Ok(tree)
    }

    /// The buffer pool (frames, dirty pages, counters).
    pub fn pool(&self) -> &BufferPool {
        &self.pool
    }

    /// The buffer pool, mutably (pinning, flushing single pages, redo).
    pub fn pool_mut(&mut self) -> &mut BufferPool {
        &mut self.pool
    }

    /// Root, page count and free-list head.
    pub fn meta(&self) -> Meta {
        self.meta
    }

    /// Levels: 1 when the root is a leaf.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Keys in the tree.
    pub fn len(&self) -> u64 {
        self.live_keys
    }

    /// Whether the tree holds no keys.
    pub fn is_empty(&self) -> bool {
        self.live_keys == 0
    }

    /// The largest LSN applied to any page.
    pub fn last_lsn(&self) -> Lsn {
        self.last_lsn
    }

    /// Bytes per page.
    pub fn page_size(&self) -> u32 {
        self.pool.page_file().page_size()
    }

    /// The longest key accepted.
    pub fn max_key_bytes(&self) -> u32 {
        max_key_bytes(self.page_size())
    }

    /// The longest key plus value accepted.
    pub fn max_entry_bytes(&self) -> u32 {
        max_entry_bytes(self.page_size())
    }

    /// The counters.
    pub fn stats(&self) -> TreeStats {
        self.stats
    }

    /// The amplification meters' inputs.
    pub fn amplification(&self) -> Amplification {
        Amplification {
            live_keys: self.live_keys,
            live_bytes: self.live_bytes,
            file_bytes: self.meta.page_count * u64::from(self.page_size()),
            logical_bytes_written: self.stats.logical_bytes,
            page_bytes_written: self.pool.stats().bytes_written,
            redo_bytes: self.stats.redo_bytes,
            lookups: self.stats.lookups,
            lookup_page_accesses: self.stats.lookup_page_accesses,
            lookup_pages_read: self.stats.lookup_pages_read,
        }
    }

    /// Tells the pool the WAL's durable point (see [`BufferPool::set_wal_durable`]).
    pub fn set_wal_durable(&mut self, durable_next: Lsn) {
        self.pool.set_wal_durable(durable_next);
    }

    /// Starts a checkpoint epoch at the checkpoint's redo LSN (the WAL's next LSN when the
    /// checkpoint begins): from now on, a change to any page whose LSN is below `redo_lsn`
    /// — which is exactly the first change to each page since then — is logged as a full
    /// page image. The epoch is an LSN rather than a flag per page, as in Postgres, so it
    /// needs no state but the page LSNs and can be restored after a restart by passing
    /// the redo LSN recovery started from. Epochs only move forward.
    pub fn begin_checkpoint_epoch(&mut self, redo_lsn: Lsn) {
        self.epoch = self.epoch.max(redo_lsn);
    }

    /// The current checkpoint epoch.
    pub fn checkpoint_epoch(&self) -> Lsn {
        self.epoch
    }

    /// Whether a change to `page` now would be logged as a full page image.
    pub fn full_page_image_needed(&self, page: &Page) -> bool {
        self.full_page_writes && page.lsn() < self.epoch
    }

    /// The dirty page table (see [`BufferPool::dirty_pages`]).
    pub fn dirty_pages(&self) -> Vec<(PageId, Lsn)> {
        self.pool.dirty_pages()
    }

    /// Writes every dirty page the WAL rule allows (see [`BufferPool::flush_all`]).
    pub fn flush_all<S: Storage + ?Sized>(&mut self, storage: &mut S) -> Result<u64, BTreeError> {
        self.pool.flush_all(storage)
    }

    fn check_key(&self, key: &[u8]) -> Result<(), BTreeError> {
        let max = self.max_key_bytes();
        if key.len() as u64 > u64::from(max) {
            return Err(BTreeError::KeyTooLarge {
                len: key.len() as u64,
                max,
            });
        }
        Ok(())
    }

    fn check_lsn(&self, lsn: Lsn) -> Result<(), BTreeError> {
        if lsn <= self.last_lsn {
            return Err(BTreeError::LsnNotIncreasing {
                lsn,
                last: self.last_lsn,
            });
        }
        Ok(())
    }

    /// Walks from the root to the leaf for `key`, checking each page's kind against its
    /// depth. Returns the internal pages on the way and the leaf, and runs `at_leaf` on it.
    fn descend<S: Storage + ?Sized, R>(
        &mut self,
        storage: &mut S,
        key: &[u8],
        at_leaf: impl FnOnce(&Page) -> R,
    ) -> Result<(Vec<PageId>, PageId, R), BTreeError> {
        let mut path = Vec::new();
        let mut id = self.meta.root;
        let page_count = self.meta.page_count;
        for depth in 1..=self.height {
            if id.0 == 0 || id.0 >= page_count {
                return Err(corrupt(
                    id,
                    format!("child pointer past the page count {page_count}"),
                ));
            }
            let page = self.pool.fetch(storage, id)?;
            let want = if depth == self.height {
                PageType::Leaf
            } else {
                PageType::Internal
            };
            if page.page_type() != want {
                return Err(corrupt(
                    id,
                    format!(
                        "a {:?} page at depth {depth}, expected {want:?}",
                        page.page_type()
                    ),
                ));
            }
            if want == PageType::Leaf {
                let r = at_leaf(page);
                return Ok((path, id, r));
            }
            path.push(id);
            id = page.child_for(key);
        }
        unreachable!("the height is at least 1");
    }

    /// The value of `key`, if present.
    pub fn get<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, BTreeError> {
        let misses = self.pool.stats().misses;
        self.stats.lookups += 1;
        self.stats.lookup_page_accesses += u64::from(self.height);
        let result = self.descend(storage, key, |leaf| {
            leaf.search(key).ok().map(|i| leaf.value(i).to_vec())
        });
        self.stats.lookup_pages_read += self.pool.stats().misses - misses;
        Ok(result?.2)
    }

    /// Iterates over the entries with `lo <= key < hi` (no upper bound when `hi` is
    /// `None`), in key order, following the leaves' sibling chain.
    pub fn range<'a, S: Storage + ?Sized>(
        &'a mut self,
        storage: &'a mut S,
        lo: &[u8],
        hi: Option<&[u8]>,
    ) -> Range<'a, S> {
        self.stats.scans += 1;
        Range {
            tree: self,
            storage,
            lo: lo.to_vec(),
            hi: hi.map(<[u8]>::to_vec),
            next_leaf: None,
            started: false,
            done: false,
            buffered: VecDeque::new(),
            leaves: 0,
        }
    }

    /// A logical op for `page`, or the page's full image after the op if the checkpoint
    /// epoch asks for one.
    fn logical_or_image(&mut self, page: &Page, op: PageOp, lsn: Lsn) -> PageOp {
        if !self.full_page_image_needed(page) {
            return op;
        }
        let mut after = page.clone();
        let outcome = apply_to_page(&mut after, &op, lsn).expect("planned op applies");
        assert_eq!(outcome, RedoOutcome::Applied, "planned op applies");
        self.stats.full_page_images += 1;
        PageOp::Image {
            page: page.id(),
            bytes: after.bytes().to_vec(),
        }
    }

    fn count_ops(&mut self, ops: &[PageOp]) {
        self.stats.ops += ops.len() as u64;
        self.stats.redo_bytes += ops.iter().map(PageOp::encoded_len).sum::<u64>();
    }

    /// Inserts `key` or overwrites its value, as the change logged at `lsn` (which must
    /// be above every LSN given before). All or nothing: on error nothing changed.
    pub fn put<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        key: &[u8],
        value: &[u8],
        lsn: Lsn,
    ) -> Result<Change, BTreeError> {
        self.check_key(key)?;
        let max = self.max_entry_bytes();
        let entry = key.len() as u64 + value.len() as u64;
        if entry > u64::from(max) {
            return Err(BTreeError::EntryTooLarge { len: entry, max });
        }
        self.check_lsn(lsn)?;
        let (path, _, leaf) = self.descend(storage, key, Page::clone)?;
        let old_value = leaf.search(key).ok().map(|i| leaf.value(i).to_vec());
        let ps = self.page_size();
        let mut meta = self.meta;
        let mut height = self.height;
        let mut ops = Vec::new();
        let mut splits = (0u64, 0u64, 0u64);
        if leaf.leaf_fits(key, value.len()) {
            let op = PageOp::Insert {
                page: leaf.id(),
                key: key.to_vec(),
                value: value.to_vec(),
            };
            ops.push(self.logical_or_image(&leaf, op, lsn));
        } else {
            // Split the leaf: entries with the new one in place, cut where bytes balance.
            let mut entries = leaf.leaf_entries();
            match entries.binary_search_by(|(k, _)| k.as_slice().cmp(key)) {
                Ok(i) => entries[i].1 = value.to_vec(),
                Err(i) => entries.insert(i, (key.to_vec(), value.to_vec())),
            }
            let sizes: Vec<usize> = entries
                .iter()
                .map(|(k, v)| leaf_entry_bytes(k.len(), v.len()))
                .collect();
            let cut = balanced_cut(&sizes, 1, entries.len() - 1);
            let right_entries = entries.split_off(cut);
            let right_id = PageId(meta.page_count);
            meta.page_count += 1;
            let left = Page::build_leaf(leaf.id(), ps, lsn, Some(right_id), &entries);
            let right = Page::build_leaf(right_id, ps, lsn, leaf.sibling(), &right_entries);
            ops.push(image(&left));
            ops.push(image(&right));
            splits.0 += 1;
            let mut sep = right_entries[0].0.clone();
            let mut new_child = right_id;
            let mut placed = false;
            for &parent_id in path.iter().rev() {
                let parent = self.pool.fetch(storage, parent_id)?.clone();
                if parent.internal_fits(&sep) {
                    let op = PageOp::InsertChild {
                        page: parent_id,
                        key: sep.clone(),
                        child: new_child,
                    };
                    ops.push(self.logical_or_image(&parent, op, lsn));
                    placed = true;
                    break;
                }
                let mut entries = parent.internal_entries();
                let at = entries.partition_point(|(k, _)| k.as_slice() < sep.as_slice());
                assert!(
                    entries.get(at).is_none_or(|(k, _)| *k != sep),
                    "a new separator is not in its parent yet"
                );
                entries.insert(at, (sep, new_child));
                let sizes: Vec<usize> = entries
                    .iter()
                    .map(|(k, _)| internal_entry_bytes(k.len()))
                    .collect();
                // The entry at `mid` moves up; both sides keep at least one separator.
                let mid = balanced_cut(&sizes, 2, entries.len() - 1) - 1;
                let right_entries = entries.split_off(mid + 1);
                let (up_key, up_child) = entries.pop().expect("mid is in range");
                let right_id = PageId(meta.page_count);
                meta.page_count += 1;
                let left =
                    Page::build_internal(parent_id, ps, lsn, parent.leftmost_child(), &entries);
                let right = Page::build_internal(right_id, ps, lsn, up_child, &right_entries);
                ops.push(image(&left));
                ops.push(image(&right));
                splits.1 += 1;
                sep = up_key;
                new_child = right_id;
            }
            if !placed {
                let root_id = PageId(meta.page_count);
                meta.page_count += 1;
                let root = Page::build_internal(root_id, ps, lsn, meta.root, &[(sep, new_child)]);
                ops.push(image(&root));
                meta.root = root_id;
                height += 1;
                splits.2 += 1;
            }
            ops.push(PageOp::Meta {
                root: meta.root,
                page_count: meta.page_count,
                free_head: meta.free_head,
            });
        }
        self.pool.apply_ops(storage, &ops, lsn)?;
        // Applied: now the tree's own state follows.
        self.meta = meta;
        self.height = height;
        self.last_lsn = lsn;
        match &old_value {
            Some(old) => {
                self.live_bytes = self.live_bytes - old.len() as u64 + value.len() as u64;
            }
            None => {
                self.live_keys += 1;
                self.live_bytes += entry;
            }
        }
        self.stats.puts += 1;
        self.stats.logical_bytes += entry;
        self.stats.leaf_splits += splits.0;
        self.stats.internal_splits += splits.1 + splits.2;
        self.stats.root_splits += splits.2;
        self.count_ops(&ops);
        Ok(Change { ops, old_value })
    }

    /// Removes `key`, as the change logged at `lsn` (which must be above every LSN given
    /// before). Deleting an absent key changes nothing and returns no ops. All or nothing.
    pub fn delete<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        key: &[u8],
        lsn: Lsn,
    ) -> Result<Change, BTreeError> {
        self.check_key(key)?;
        self.check_lsn(lsn)?;
        let (_, _, leaf) = self.descend(storage, key, Page::clone)?;
        self.stats.logical_bytes += key.len() as u64;
        let Ok(i) = leaf.search(key) else {
            self.last_lsn = lsn;
            return Ok(Change::default());
        };
        let old = leaf.value(i).to_vec();
        let op = PageOp::Delete {
            page: leaf.id(),
            key: key.to_vec(),
        };
        let ops = vec![self.logical_or_image(&leaf, op, lsn)];
        self.pool.apply_ops(storage, &ops, lsn)?;
        self.last_lsn = lsn;
        self.live_keys -= 1;
        self.live_bytes -= key.len() as u64 + old.len() as u64;
        self.stats.deletes += 1;
        self.count_ops(&ops);
        Ok(Change {
            ops,
            old_value: Some(old),
        })
    }

    /// Walks the whole tree (without disturbing the cache) checking the invariants of the
    /// module docs that concern pages; a violation is a typed error.
    fn walk<S: Storage + ?Sized>(&self, storage: &S) -> Result<Summary, BTreeError> {
        let meta = self.meta;
        let mut summary = Summary::default();
        let mut visited = super::Visited::default();
        // Depth-first, left to right: (page, depth, lower bound, upper bound).
        type Item = (PageId, u32, Option<Vec<u8>>, Option<Vec<u8>>);
        let mut stack: Vec<Item> = vec![(meta.root, 1, None, None)];
        let mut leaf_depth: Option<u32> = None;
        let mut prev_leaf: Option<(PageId, Option<PageId>)> = None;
        let mut prev_key: Option<Vec<u8>> = None;
        while let Some((id, depth, lo, hi)) = stack.pop() {
            if id.0 == 0 || id.0 >= meta.page_count {
                return Err(corrupt(
                    id,
                    format!("child pointer past the page count {}", meta.page_count),
                ));
            }
            let page = self.pool.peek(storage, id)?;
            if !visited.first(id) {
                return Err(corrupt(id, "page reachable twice"));
            }
            page.check_structure(id)
                .map_err(|reason| BTreeError::CorruptPage { page: id, reason })?;
            summary.max_lsn = summary.max_lsn.max(page.lsn());
            let n = page.len();
            if n > 0 {
                if lo.as_deref().is_some_and(|lo| page.key(0) < lo) {
                    return Err(corrupt(id, "a key below its parent's lower bound"));
                }
                if hi.as_deref().is_some_and(|hi| page.key(n - 1) >= hi) {
                    return Err(corrupt(id, "a key at or above its parent's upper bound"));
                }
            }
            match page.page_type() {
                PageType::Internal => {
                    if leaf_depth.is_some_and(|d| depth >= d) {
                        return Err(corrupt(id, "an internal page at or below leaf depth"));
                    }
                    // Push right to left so the leftmost child is visited first.
                    for pos in (0..=n).rev() {
                        let child = page.child_at(pos);
                        let clo = if pos == 0 {
                            lo.clone()
                        } else {
                            Some(page.key(pos - 1).to_vec())
                        };
                        let chi = if pos == n {
                            hi.clone()
                        } else {
                            Some(page.key(pos).to_vec())
                        };
                        stack.push((child, depth + 1, clo, chi));
                    }
                }
                PageType::Leaf => {
                    if *leaf_depth.get_or_insert(depth) != depth {
                        return Err(corrupt(id, "leaves at different depths"));
                    }
                    if let Some((prev, sibling)) = prev_leaf {
                        if sibling != Some(id) {
                            return Err(corrupt(
                                prev,
                                format!("sibling is {sibling:?}, the next leaf is {id}"),
                            ));
                        }
                    }
                    for i in 0..n {
                        let key = page.key(i);
                        if prev_key.as_deref().is_some_and(|p| p >= key) {
                            return Err(corrupt(id, "keys out of order across leaves"));
                        }
                        summary.live_bytes += key.len() as u64 + page.value(i).len() as u64;
                    }
                    if n > 0 {
                        prev_key = Some(page.key(n - 1).to_vec());
                    }
                    summary.live_keys += n as u64;
                    prev_leaf = Some((id, page.sibling()));
                }
                other => return Err(corrupt(id, format!("a {other:?} page inside the tree"))),
            }
        }
        if let Some((last, Some(sibling))) = prev_leaf {
            return Err(corrupt(
                last,
                format!("the last leaf has a sibling, {sibling}"),
            ));
        }
        summary.pages = visited.count();
        if summary.pages != meta.page_count - 1 {
            return Err(corrupt(
                meta.root,
                format!(
                    "{} pages reachable, the page count says {}",
                    summary.pages,
                    meta.page_count - 1
                ),
            ));
        }
        summary.height = leaf_depth.expect("the root leads to a leaf");
        Ok(summary)
    }

    /// Checks every invariant of the module docs, and the pool's; panics on a violation
    /// (a bug). Reads pages that are not resident straight from the page file without
    /// caching them, so it changes nothing, counters included.
    pub fn validate<S: Storage + ?Sized>(&self, storage: &S) {
        self.pool.validate(storage);
        let meta_page = self
            .pool
            .peek(storage, PageId::META)
            .unwrap_or_else(|e| panic!("reading the meta page: {e}"));
        assert_eq!(
            meta_page.page_type(),
            PageType::Meta,
            "page 0 is the meta page"
        );
        assert_eq!(meta_page.meta(), self.meta, "meta page and tree disagree");
        let summary = self
            .walk(storage)
            .unwrap_or_else(|e| panic!("B-tree invariant broken: {e}"));
        assert_eq!(summary.height, self.height, "height");
        assert_eq!(summary.live_keys, self.live_keys, "live key counter");
        assert_eq!(summary.live_bytes, self.live_bytes, "live byte counter");
        let max_lsn = summary.max_lsn.max(meta_page.lsn());
        assert!(
            max_lsn <= self.last_lsn,
            "a page has {max_lsn}, above the last LSN applied {}",
            self.last_lsn
        );
        let file_pages = self
            .pool
            .page_file()
            .file_bytes(storage)
            .expect("page file length")
            .div_ceil(u64::from(self.page_size()));
        assert!(
            file_pages <= self.meta.page_count,
            "the page file holds {file_pages} pages, the page count is {}",
            self.meta.page_count
        );
    }
}

fn image(page: &Page) -> PageOp {
    PageOp::Image {
        page: page.id(),
        bytes: page.bytes().to_vec(),
    }
}

/// A range scan, from [`BTree::range`]. Reads one leaf at a time through the pool; an
/// error ends the scan.
pub struct Range<'a, S: Storage + ?Sized> {
    tree: &'a mut BTree,
    storage: &'a mut S,
    lo: Vec<u8>,
    hi: Option<Vec<u8>>,
    next_leaf: Option<PageId>,
    started: bool,
    done: bool,
    buffered: VecDeque<(Vec<u8>, Vec<u8>)>,
    leaves: u64,
}

impl<S: Storage + ?Sized> Range<'_, S> {
    /// Buffers the next leaf's entries in range; `Ok(false)` at the end.
    fn fill(&mut self) -> Result<bool, BTreeError> {
        let id = if self.started {
            match self.next_leaf {
                Some(id) => id,
                None => return Ok(false),
            }
        } else {
            self.started = true;
            let lo = self.lo.clone();
            self.tree.descend(self.storage, &lo, |_| ())?.1
        };
        self.leaves += 1;
        let page_count = self.tree.meta.page_count;
        if self.leaves > page_count || id.0 == 0 || id.0 >= page_count {
            return Err(corrupt(id, "the sibling chain leaves the tree or loops"));
        }
        self.tree.stats.scan_leaves += 1;
        let page = self.tree.pool.fetch(self.storage, id)?;
        if page.page_type() != PageType::Leaf {
            return Err(corrupt(id, "the sibling chain reaches a non-leaf"));
        }
        let start = match page.search(&self.lo) {
            Ok(i) | Err(i) => i,
        };
        for i in start..page.len() {
            let key = page.key(i);
            if self.hi.as_deref().is_some_and(|hi| key >= hi) {
                self.next_leaf = None;
                return Ok(true);
            }
            self.buffered
                .push_back((key.to_vec(), page.value(i).to_vec()));
        }
        self.next_leaf = page.sibling();
        Ok(true)
    }
}

impl<S: Storage + ?Sized> Iterator for Range<'_, S> {
    type Item = Result<(Vec<u8>, Vec<u8>), BTreeError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.buffered.pop_front() {
                return Some(Ok(item));
            }
            if self.done {
                return None;
            }
            match self.fill() {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim_disk::{SimDisk, SimDiskConfig};
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn small() -> BTreeConfig {
        BTreeConfig {
            page_file: PageFileConfig {
                file: "t.pages".into(),
                page_size: 512,
            },
            pool_frames: 8,
            full_page_writes: true,
        }
    }

    fn key(i: u32) -> Vec<u8> {
        format!("key{i:06}").into_bytes()
    }

    #[test]
    fn splits_grow_the_tree_and_scans_see_everything_in_order() {
        let mut disk = SimDisk::new(SimDiskConfig::default(), 1);
        let (mut t, change) = BTree::create(&mut disk, small(), Lsn(0)).unwrap();
        assert_eq!(change.ops.len(), 2);
        t.set_wal_durable(Lsn(u64::MAX));
        // Insert in a scrambled order.
        let n = 2000u32;
        for j in 0..n {
            let i = (j * 7919) % n;
            let c = t
                .put(&mut disk, &key(i), &[1; 30], Lsn(u64::from(j) + 1))
                .unwrap();
            assert_eq!(c.old_value, None);
            assert!(c.ops.iter().all(|op| op.page().0 < t.meta().page_count));
        }
        t.validate(&disk);
        assert!(t.height() >= 3, "height {}", t.height());
        assert_eq!(t.len(), u64::from(n));
        let s = t.stats();
        assert!(
            s.leaf_splits > 50 && s.internal_splits > 0 && s.root_splits >= 2,
            "{s:?}"
        );
        assert!(
            t.pool().stats().evictions > 0,
            "eight frames cannot hold the tree"
        );
        let all: Vec<_> = t
            .range(&mut disk, b"", None)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(all.len(), n as usize);
        assert!(all.windows(2).all(|w| w[0].0 < w[1].0));
        let some: Vec<_> = t
            .range(&mut disk, &key(100), Some(&key(110)))
            .map(|r| r.unwrap().0)
            .collect();
        assert_eq!(some, (100..110).map(key).collect::<Vec<_>>());
        assert_eq!(t.get(&mut disk, &key(1234)).unwrap(), Some(vec![1; 30]));
        assert_eq!(t.get(&mut disk, b"nope").unwrap(), None);
        let amp = t.amplification();
        assert_eq!(amp.lookups, 2);
        assert_eq!(amp.read_pages_per_lookup(), f64::from(t.height()));
        assert!(amp.space() > 1.0);
        // Reopen from the page file alone.
        t.flush_all(&mut disk).unwrap();
        let mut again = BTree::open(&mut disk, small()).unwrap();
        again.validate(&disk);
        assert_eq!((again.len(), again.height()), (t.len(), t.height()));
        assert_eq!(again.get(&mut disk, &key(1999)).unwrap(), Some(vec![1; 30]));
    }

    #[test]
    fn overwrite_delete_and_lazy_empty_leaves() {
        let mut disk = SimDisk::new(SimDiskConfig::default(), 2);
        let (mut t, _) = BTree::create(&mut disk, small(), Lsn(1)).unwrap();
        t.set_wal_durable(Lsn(u64::MAX));
        let mut lsn = 1;
        let mut next = || {
            lsn += 1;
            Lsn(lsn)
        };
        for i in 0..300 {
            t.put(&mut disk, &key(i), b"v1", next()).unwrap();
        }
        let c = t.put(&mut disk, &key(5), b"second", next()).unwrap();
        assert_eq!(c.old_value, Some(b"v1".to_vec()));
        for i in 0..300 {
            let c = t.delete(&mut disk, &key(i), next()).unwrap();
            assert_eq!(c.ops.len(), 1);
            assert!(c.old_value.is_some());
        }
        let c = t.delete(&mut disk, &key(0), next()).unwrap();
        assert_eq!(
            c,
            Change::default(),
            "deleting an absent key changes nothing"
        );
        t.validate(&disk);
        assert!(t.is_empty());
        assert!(t.meta().page_count > 3, "pages are kept (lazy deletion)");
        assert_eq!(t.range(&mut disk, b"", None).count(), 0);
        assert_eq!(t.amplification().space(), f64::INFINITY);
    }

    #[test]
    fn limits_and_lsn_order_are_enforced() {
        let mut disk = SimDisk::new(SimDiskConfig::default(), 3);
        let (mut t, _) = BTree::create(&mut disk, small(), Lsn(5)).unwrap();
        assert_eq!(
            t.put(&mut disk, b"k", b"v", Lsn(5)),
            Err(BTreeError::LsnNotIncreasing {
                lsn: Lsn(5),
                last: Lsn(5)
            })
        );
        assert_eq!(
            t.put(&mut disk, &[0; 107], b"", Lsn(6)),
            Err(BTreeError::KeyTooLarge { len: 107, max: 106 })
        );
        assert_eq!(
            t.put(&mut disk, &[0; 100], &[0; 13], Lsn(6)),
            Err(BTreeError::EntryTooLarge { len: 113, max: 112 })
        );
        t.put(&mut disk, &[0; 100], &[0; 12], Lsn(6)).unwrap();
        assert!(matches!(
            BTree::create(
                &mut disk,
                BTreeConfig {
                    pool_frames: 3,
                    ..small()
                },
                Lsn(0)
            ),
            Err(BTreeError::InvalidConfig(_))
        ));
        assert!(matches!(
            BTree::open(
                &mut disk,
                BTreeConfig {
                    page_file: PageFileConfig {
                        file: "none".into(),
                        page_size: 512
                    },
                    ..small()
                }
            ),
            Err(BTreeError::NotFormatted { .. })
        ));
        t.validate(&disk);
    }

    #[test]
    fn checkpoint_epoch_turns_the_first_change_of_each_page_into_an_image() {
        let mut disk = SimDisk::new(SimDiskConfig::default(), 4);
        let (mut t, _) = BTree::create(&mut disk, small(), Lsn(1)).unwrap();
        let c = t.put(&mut disk, b"a", b"1", Lsn(2)).unwrap();
        assert!(matches!(c.ops[..], [PageOp::Insert { .. }]));
        t.begin_checkpoint_epoch(Lsn(3));
        let c = t.put(&mut disk, b"b", b"2", Lsn(3)).unwrap();
        assert!(matches!(c.ops[..], [PageOp::Image { .. }]), "{:?}", c.ops);
        let c = t.put(&mut disk, b"c", b"3", Lsn(4)).unwrap();
        assert!(matches!(c.ops[..], [PageOp::Insert { .. }]), "{:?}", c.ops);
        assert_eq!(t.stats().full_page_images, 1);
        let off = BTreeConfig {
            full_page_writes: false,
            page_file: PageFileConfig {
                file: "u.pages".into(),
                page_size: 512,
            },
            ..small()
        };
        let (mut u, _) = BTree::create(&mut disk, off, Lsn(1)).unwrap();
        u.begin_checkpoint_epoch(Lsn(10));
        let c = u.put(&mut disk, b"a", b"1", Lsn(11)).unwrap();
        assert!(matches!(c.ops[..], [PageOp::Insert { .. }]));
        t.validate(&disk);
        u.validate(&disk);
    }

    #[test]
    fn balanced_cut_stays_in_bounds() {
        assert_eq!(balanced_cut(&[10, 10, 10, 10], 1, 3), 2);
        assert_eq!(balanced_cut(&[100, 1, 1, 1], 1, 3), 1);
        assert_eq!(balanced_cut(&[1, 1, 1, 100], 1, 3), 3);
        assert_eq!(balanced_cut(&[100, 1, 1, 1, 1], 2, 4), 2);
    }
}
