//! `BufferPool`: a bounded set of frames caching pages of one [`PageFile`], with dirty
//! tracking, LRU eviction and the WAL rule.
//!
//! # Frames
//! At most `capacity` pages are in memory. A page is *resident* in one frame; the page
//! table maps page ids to frames. A frame is *dirty* when its page differs from the page
//! file, and then carries `rec_lsn`, the LSN of the first change since it was last clean
//! (ARIES §2: the checkpoint's dirty page table is [`BufferPool::dirty_pages`], and redo
//! starts at the smallest `rec_lsn`). Pinned frames are never evicted.
//!
//! # Eviction: LRU under the WAL rule
//! Every access stamps the frame with a counter; a miss with no empty frame evicts the
//! least recently used frame that is unpinned and either clean or *writable*. A dirty page
//! is writable only if its page LSN is below the WAL's durable point given to
//! [`BufferPool::set_wal_durable`] (the WAL's `durable_next`): the record describing the
//! page's latest change must be durable before the page may reach the file, or a crash
//! could leave a page change that no durable log record explains. The pool starts with a
//! durable point of 0, so nothing dirty is written until it is told otherwise. When no
//! frame qualifies the call fails, changing nothing: [`BTreeError::NeedsWalFlush`] if some
//! unpinned dirty page would become writable once the WAL is durable further, else
//! [`BTreeError::NoEvictablePage`]. Dirty pages of uncommitted changes may be written when
//! the rule allows (steal).
//!
//! # Applying changes atomically
//! `BufferPool::apply_ops` (used by the tree) and [`BufferPool::redo`] (used by
//! recovery) apply a set of [`PageOp`]s, one per page, in two phases. Phase one can fail
//! and changes no page: it pins the pages involved, reads those a logical op needs, builds
//! every new page on the side and evicts until each page that is not resident has an
//! empty frame. Phase two cannot fail: it installs the new pages, marks them dirty and
//! unpins. No page is written between its first and last change of one call, which is
//! what makes redo by page LSN exact.
//!
//! # Invariants (checked by [`BufferPool::validate`])
//! The page table and the frames agree; every frame holds the page its table entry names;
//! a dirty frame's `rec_lsn` is at most its page LSN; a clean frame's checksum is valid
//! and its bytes equal the page file's.

use std::borrow::Cow;

use super::page::Page;
use super::page_file::PageFile;
use super::redo::{apply_to_page, check_redo_page, full_state_page, PageOp, RedoOutcome};
use super::{BTreeError, PageId};
use crate::log::Lsn;
use crate::storage::Storage;
use crate::vec_map::{VecMap, VecSet};

/// The fewest frames a pool may have: a split of a one-level tree touches four pages
/// (the leaf, its new sibling, the new root and the meta page). A change that splits `h`
/// levels touches `2h + 2` pages, all of which must fit in the pool at once.
pub const MIN_FRAMES: usize = 4;

/// Counters, for the amplification meters and the benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Accesses that found the page resident.
    pub hits: u64,
    /// Accesses that had to read the page.
    pub misses: u64,
    /// Pages read from the page file (misses, and redo's checks of page LSNs).
    pub pages_read: u64,
    /// Pages written to the page file.
    pub pages_written: u64,
    /// Bytes written to the page file.
    pub bytes_written: u64,
    /// Frames freed to make room.
    pub evictions: u64,
    /// Evictions that had to write a dirty page first.
    pub dirty_evictions: u64,
    /// Times eviction passed over a dirty page because the WAL was not durable far enough.
    pub wal_rule_skips: u64,
}

/// One frame as the UI and the tests see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameInfo {
    /// The frame's index.
    pub frame: usize,
    /// The page in it.
    pub page: PageId,
    /// The page's LSN.
    pub page_lsn: Lsn,
    /// `Some(rec_lsn)` when dirty.
    pub rec_lsn: Option<Lsn>,
    /// Pin count.
    pub pins: u32,
    /// Whether the WAL rule allows writing it now (always true when clean).
    pub writable: bool,
}

/// A dirty page as it was when copied ([`BufferPool::copy_page`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageCopy {
    page: Page,
    /// The frame's `rec_lsn` when copied: the same value at write time means the page
    /// has not been written (and dirtied again) since.
    rec_lsn: Lsn,
}

impl PageCopy {
    /// The page.
    pub fn id(&self) -> PageId {
        self.page.id()
    }

    /// Its LSN when copied: the WAL must be durable past it before the copy is written.
    pub fn lsn(&self) -> Lsn {
        self.page.lsn()
    }
}

#[derive(Clone, Debug)]
struct Frame {
    page: Page,
    pins: u32,
    dirty: bool,
    rec_lsn: Lsn,
    last_used: u64,
}

/// Whether [`BufferPool::apply_ops`] runs forward (the tree's changes) or replays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Forward,
    Redo,
}

/// A page computed in phase one, to be installed in phase two.
struct Prepared {
    id: PageId,
    outcome: RedoOutcome,
    page: Option<Page>,
}

/// The buffer pool. See the module docs.
#[derive(Clone, Debug)]
pub struct BufferPool {
    file: PageFile,
    frames: Vec<Option<Frame>>,
    table: VecMap<PageId, usize>,
    clock: u64,
    wal_durable: Lsn,
    stats: PoolStats,
    /// One past the highest page id ever resident: with the file's length, how far redo
    /// may create pages.
    high_water: u64,
}

impl BufferPool {
    /// A pool of `capacity` frames (at least [`MIN_FRAMES`]) over `file`.
    pub fn new(file: PageFile, capacity: usize) -> Result<BufferPool, BTreeError> {
        if capacity < MIN_FRAMES {
            return Err(BTreeError::InvalidConfig(format!(
                "a buffer pool needs at least {MIN_FRAMES} frames, not {capacity}"
            )));
        }
        Ok(BufferPool {
            file,
            frames: vec![None; capacity],
            table: VecMap::new(),
            clock: 0,
            wal_durable: Lsn(0),
            stats: PoolStats::default(),
            high_water: 0,
        })
    }

    /// The page file.
    pub fn page_file(&self) -> &PageFile {
        &self.file
    }

    /// Frames in the pool.
    pub fn capacity(&self) -> usize {
        self.frames.len()
    }

    /// Pages resident now.
    pub fn resident(&self) -> usize {
        self.table.len()
    }

    /// Whether `id` is resident.
    pub fn contains(&self, id: PageId) -> bool {
        self.table.contains_key(&id)
    }

    /// The counters.
    pub fn stats(&self) -> PoolStats {
        self.stats
    }

    /// Tells the pool the WAL's durable point: every record below `durable_next` is
    /// durable, so a page whose LSN is below it may be written.
    pub fn set_wal_durable(&mut self, durable_next: Lsn) {
        self.wal_durable = durable_next;
    }

    /// The WAL's durable point as last given.
    pub fn wal_durable(&self) -> Lsn {
        self.wal_durable
    }

    /// Whether the WAL rule allows writing a page with this LSN now.
    pub fn writable(&self, page_lsn: Lsn) -> bool {
        page_lsn < self.wal_durable
    }

    fn frame(&self, slot: usize) -> &Frame {
        self.frames[slot]
            .as_ref()
            .expect("slot in the page table holds a frame")
    }

    fn frame_mut(&mut self, slot: usize) -> &mut Frame {
        self.frames[slot]
            .as_mut()
            .expect("slot in the page table holds a frame")
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    fn free_frames(&self) -> usize {
        self.frames.iter().filter(|f| f.is_none()).count()
    }

    /// The page, read into a frame if it is not resident (which may evict another).
    pub fn fetch<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        id: PageId,
    ) -> Result<&Page, BTreeError> {
        let slot = self.load(storage, id)?;
        Ok(&self.frame(slot).page)
    }

    /// The page without caching it or counting the access: the resident copy if there is
    /// one, otherwise read from the file. For `validate` and for walks that should not
    /// disturb the cache.
    pub fn peek<'a, S: Storage + ?Sized>(
        &'a self,
        storage: &S,
        id: PageId,
    ) -> Result<Cow<'a, Page>, BTreeError> {
        match self.table.get(&id) {
            Some(&slot) => Ok(Cow::Borrowed(&self.frame(slot).page)),
            None => Ok(Cow::Owned(self.file.read_page(storage, id)?)),
        }
    }

    /// Makes `id` resident and returns its frame.
    fn load<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        id: PageId,
    ) -> Result<usize, BTreeError> {
        let now = self.tick();
        if let Some(&slot) = self.table.get(&id) {
            self.stats.hits += 1;
            self.frame_mut(slot).last_used = now;
            return Ok(slot);
        }
        self.stats.misses += 1;
        let slot = match self.frames.iter().position(Option::is_none) {
            Some(slot) => slot,
            None => self.evict_one(storage)?,
        };
        // If the read fails the frame just stays empty.
        let page = self.file.read_page(storage, id)?;
        self.stats.pages_read += 1;
        self.frames[slot] = Some(Frame {
            page,
            pins: 0,
            dirty: false,
            rec_lsn: Lsn(0),
            last_used: now,
        });
        self.table.insert(id, slot);
        self.high_water = self.high_water.max(id.0 + 1);
        Ok(slot)
    }

    /// Frees one frame (see "Eviction" in the module docs); returns it, now empty.
    fn evict_one<S: Storage + ?Sized>(&mut self, storage: &mut S) -> Result<usize, BTreeError> {
        let mut victim: Option<(u64, usize)> = None;
        let mut blocked: Option<Lsn> = None;
        let mut pinned = 0u64;
        for (slot, frame) in self.frames.iter().enumerate() {
            let Some(f) = frame else { continue };
            if f.pins > 0 {
                pinned += 1;
                continue;
            }
            if f.dirty && !self.writable(f.page.lsn()) {
                blocked = Some(blocked.map_or(f.page.lsn(), |b| b.min(f.page.lsn())));
                continue;
            }
            if victim.is_none_or(|(used, _)| f.last_used < used) {
                victim = Some((f.last_used, slot));
            }
        }
        let Some((_, slot)) = victim else {
            if let Some(lsn) = blocked {
                self.stats.wal_rule_skips += 1;
                return Err(BTreeError::NeedsWalFlush {
                    lsn,
                    durable: self.wal_durable,
                });
            }
            return Err(BTreeError::NoEvictablePage {
                frames: self.frames.len() as u64,
                pinned,
            });
        };
        if blocked.is_some() {
            self.stats.wal_rule_skips += 1;
        }
        if self.frame(slot).dirty {
            self.write_frame(storage, slot)?;
            self.stats.dirty_evictions += 1;
        }
        let frame = self.frames[slot].take().expect("victim holds a frame");
        self.table.remove(&frame.page.id());
        self.stats.evictions += 1;
        Ok(slot)
    }

    /// Writes a dirty frame's page; the caller has checked the WAL rule.
    fn write_frame<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        slot: usize,
    ) -> Result<(), BTreeError> {
        let durable = self.wal_durable;
        let file = self.file.clone();
        let frame = self.frames[slot].as_mut().expect("a frame");
        assert!(frame.dirty, "writing a clean frame");
        assert!(
            frame.page.lsn() < durable,
            "WAL rule: {} has {} but the WAL is durable only below {durable}",
            frame.page.id(),
            frame.page.lsn()
        );
        file.write_page(storage, &mut frame.page)?;
        frame.dirty = false;
        self.stats.pages_written += 1;
        self.stats.bytes_written += u64::from(file.page_size());
        Ok(())
    }

    /// Pins `id` (reading it in if needed): it stays resident until unpinned.
    pub fn pin<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        id: PageId,
    ) -> Result<(), BTreeError> {
        let slot = self.load(storage, id)?;
        self.frame_mut(slot).pins += 1;
        Ok(())
    }

    /// Undoes one [`BufferPool::pin`]. Panics if `id` is not pinned (a bug).
    pub fn unpin(&mut self, id: PageId) {
        let slot = *self
            .table
            .get(&id)
            .expect("unpin of a page that is not resident");
        let frame = self.frame_mut(slot);
        assert!(frame.pins > 0, "unpin of a page that is not pinned");
        frame.pins -= 1;
    }

    /// The dirty page table: each dirty page and its `rec_lsn`, by page id.
    pub fn dirty_pages(&self) -> Vec<(PageId, Lsn)> {
        self.table
            .iter()
            .filter_map(|(&id, &slot)| {
                let f = self.frame(slot);
                f.dirty.then_some((id, f.rec_lsn))
            })
            .collect()
    }

    /// Every frame, for the UI.
    pub fn frames(&self) -> Vec<FrameInfo> {
        self.frames
            .iter()
            .enumerate()
            .filter_map(|(frame, f)| {
                f.as_ref().map(|f| FrameInfo {
                    frame,
                    page: f.page.id(),
                    page_lsn: f.page.lsn(),
                    rec_lsn: f.dirty.then_some(f.rec_lsn),
                    pins: f.pins,
                    writable: !f.dirty || self.writable(f.page.lsn()),
                })
            })
            .collect()
    }

    /// Writes `id` if it is resident and dirty; returns whether it wrote. A dirty page the
    /// WAL rule forbids writing is [`BTreeError::NeedsWalFlush`].
    pub fn flush_page<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        id: PageId,
    ) -> Result<bool, BTreeError> {
        let Some(&slot) = self.table.get(&id) else {
            return Ok(false);
        };
        let f = self.frame(slot);
        if !f.dirty {
            return Ok(false);
        }
        if !self.writable(f.page.lsn()) {
            return Err(BTreeError::NeedsWalFlush {
                lsn: f.page.lsn(),
                durable: self.wal_durable,
            });
        }
        self.write_frame(storage, slot)?;
        Ok(true)
    }

    /// A copy of dirty page `id` as it is now (`None` if it is not resident or clean),
    /// for [`BufferPool::write_copy`]: the checkpointer's way past a page that is changed
    /// faster than the WAL becomes durable behind it.
    pub fn copy_page(&self, id: PageId) -> Option<PageCopy> {
        let &slot = self.table.get(&id)?;
        let f = self.frame(slot);
        f.dirty.then(|| PageCopy {
            page: f.page.clone(),
            rec_lsn: f.rec_lsn,
        })
    }

    /// Writes `copy` once the WAL is durable past its LSN (else
    /// [`BTreeError::NeedsWalFlush`]). If the page has not changed since the copy, it is
    /// clean now; if it has, it stays dirty with `rec_lsn` moved past the copy's LSN (every
    /// change up to there is on the page file). Returns whether it wrote (a page evicted
    /// meanwhile was written already).
    pub fn write_copy<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        copy: &mut PageCopy,
    ) -> Result<bool, BTreeError> {
        let lsn = copy.page.lsn();
        if !self.writable(lsn) {
            return Err(BTreeError::NeedsWalFlush {
                lsn,
                durable: self.wal_durable,
            });
        }
        let Some(&slot) = self.table.get(&copy.page.id()) else {
            // Evicted since the copy: eviction wrote the page, as new or newer.
            return Ok(false);
        };
        let frame = self.frames[slot].as_mut().expect("a frame");
        if !frame.dirty || frame.rec_lsn != copy.rec_lsn {
            // Written since the copy (by eviction or a flush), maybe dirtied again: the
            // file holds a newer image than the copy; writing the copy would regress it.
            return Ok(false);
        }
        if frame.page.lsn() == lsn {
            // Unchanged since the copy: write the page itself, which makes it clean.
            self.write_frame(storage, slot)?;
            return Ok(true);
        }
        let file = self.file.clone();
        file.write_page(storage, &mut copy.page)?;
        let frame = self.frames[slot].as_mut().expect("a frame");
        frame.rec_lsn = frame.rec_lsn.max(lsn.next());
        self.stats.pages_written += 1;
        self.stats.bytes_written += u64::from(file.page_size());
        Ok(true)
    }

    /// Writes every dirty page the WAL rule allows, in page order; returns how many.
    /// If some dirty page may not be written yet, the others are still written and the
    /// result is [`BTreeError::NeedsWalFlush`] naming the smallest blocked page LSN.
    pub fn flush_all<S: Storage + ?Sized>(&mut self, storage: &mut S) -> Result<u64, BTreeError> {
        let mut written = 0;
        let mut blocked: Option<Lsn> = None;
        let slots: Vec<usize> = self.table.values().copied().collect();
        for slot in slots {
            let f = self.frame(slot);
            if !f.dirty {
                continue;
            }
            if !self.writable(f.page.lsn()) {
                blocked = Some(blocked.map_or(f.page.lsn(), |b| b.min(f.page.lsn())));
                continue;
            }
            self.write_frame(storage, slot)?;
            written += 1;
        }
        match blocked {
            None => Ok(written),
            Some(lsn) => Err(BTreeError::NeedsWalFlush {
                lsn,
                durable: self.wal_durable,
            }),
        }
    }

    /// Drops every frame, dirty or not, without writing (what a crash does to memory).
    pub fn discard_all(&mut self) {
        self.frames.iter_mut().for_each(|f| *f = None);
        self.table.clear();
    }

    /// Applies the tree's changes atomically (see the module docs). Every op must apply:
    /// a skipped op here is a bug.
    pub(crate) fn apply_ops<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        ops: &[PageOp],
        lsn: Lsn,
    ) -> Result<(), BTreeError> {
        let outcomes = self.apply(storage, ops, lsn, Mode::Forward)?;
        assert!(
            outcomes.iter().all(|o| *o == RedoOutcome::Applied),
            "a forward change was skipped: {outcomes:?}"
        );
        Ok(())
    }

    /// Redoes the ops of one WAL record through the pool, idempotently by page LSN: the
    /// pages end up dirty in the pool (with `rec_lsn` = `lsn` if they were clean) instead
    /// of being written at once. Pages needed by a logical op are read; a full-state op
    /// reads the page only to compare LSNs, and replaces it if it is torn, corrupt,
    /// unwritten or missing. All or nothing, like the tree's own changes.
    pub fn redo<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        ops: &[PageOp],
        lsn: Lsn,
    ) -> Result<Vec<RedoOutcome>, BTreeError> {
        self.apply(storage, ops, lsn, Mode::Redo)
    }

    fn apply<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        ops: &[PageOp],
        lsn: Lsn,
        mode: Mode,
    ) -> Result<Vec<RedoOutcome>, BTreeError> {
        let mut seen = VecSet::new();
        for op in ops {
            if !seen.insert(op.page()) {
                return Err(BTreeError::InvalidArgument(format!(
                    "two ops for {} in one change",
                    op.page()
                )));
            }
        }
        if ops.len() > self.frames.len() {
            return Err(BTreeError::PoolTooSmall {
                needed: ops.len() as u64,
                frames: self.frames.len() as u64,
            });
        }
        let mut pinned = Vec::new();
        let prepared = self.prepare(storage, ops, lsn, mode, &mut pinned);
        for id in pinned {
            self.unpin(id);
        }
        let prepared = prepared?;
        // Phase two: nothing below can fail, and nothing is evicted or written.
        let mut outcomes = Vec::with_capacity(prepared.len());
        for p in prepared {
            outcomes.push(p.outcome);
            let Some(page) = p.page else { continue };
            let now = self.tick();
            match self.table.get(&p.id) {
                Some(&slot) => {
                    let f = self.frame_mut(slot);
                    if !f.dirty {
                        f.rec_lsn = lsn;
                        f.dirty = true;
                    }
                    f.page = page;
                    f.last_used = now;
                }
                None => {
                    let slot = self
                        .frames
                        .iter()
                        .position(Option::is_none)
                        .expect("phase one freed a frame for every new page");
                    self.frames[slot] = Some(Frame {
                        page,
                        pins: 0,
                        dirty: true,
                        rec_lsn: lsn,
                        last_used: now,
                    });
                    self.table.insert(p.id, slot);
                    self.high_water = self.high_water.max(p.id.0 + 1);
                }
            }
        }
        Ok(outcomes)
    }

    /// Phase one: may fail, changes no page. Pins what it touches into `pinned`.
    fn prepare<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        ops: &[PageOp],
        lsn: Lsn,
        mode: Mode,
        pinned: &mut Vec<PageId>,
    ) -> Result<Vec<Prepared>, BTreeError> {
        let page_size = self.file.page_size();
        for op in ops {
            if let Some(&slot) = self.table.get(&op.page()) {
                self.frame_mut(slot).pins += 1;
                pinned.push(op.page());
            }
        }
        for op in ops {
            if !op.is_full_state() && !self.contains(op.page()) {
                let slot = self.load(storage, op.page())?;
                self.frame_mut(slot).pins += 1;
                pinned.push(op.page());
            }
        }
        let mut out = Vec::with_capacity(ops.len());
        let mut new_frames = 0;
        for op in ops {
            let id = op.page();
            if let Some(&slot) = self.table.get(&id) {
                let mut page = self.frame(slot).page.clone();
                let outcome = apply_to_page(&mut page, op, lsn)?;
                let page = (outcome == RedoOutcome::Applied).then_some(page);
                out.push(Prepared { id, outcome, page });
                continue;
            }
            if mode == Mode::Redo {
                let file_pages = self
                    .file
                    .file_bytes(storage)?
                    .div_ceil(u64::from(page_size));
                check_redo_page(id, file_pages.max(self.high_water), lsn)?;
            }
            let new_page = full_state_page(op, page_size, lsn)?.expect("logical ops were loaded");
            let outcome = match mode {
                Mode::Forward => RedoOutcome::Applied,
                Mode::Redo => match self.file.read_page(storage, id) {
                    Ok(old) => {
                        self.stats.pages_read += 1;
                        if old.lsn() >= lsn {
                            RedoOutcome::Skipped {
                                page_lsn: old.lsn(),
                            }
                        } else {
                            RedoOutcome::Applied
                        }
                    }
                    Err(BTreeError::UnwrittenPage { .. } | BTreeError::MissingPage { .. }) => {
                        RedoOutcome::Formatted
                    }
                    Err(BTreeError::TornPage { .. } | BTreeError::CorruptPage { .. }) => {
                        RedoOutcome::Repaired
                    }
                    Err(e) => return Err(e),
                },
            };
            let skipped = matches!(outcome, RedoOutcome::Skipped { .. });
            if !skipped {
                new_frames += 1;
            }
            out.push(Prepared {
                id,
                outcome,
                page: (!skipped).then_some(new_page),
            });
        }
        while self.free_frames() < new_frames {
            self.evict_one(storage)?;
        }
        Ok(out)
    }

    /// Checks the invariants in the module docs against `storage`; panics on a violation.
    pub fn validate<S: Storage + ?Sized>(&self, storage: &S) {
        let resident = self.frames.iter().filter(|f| f.is_some()).count();
        assert_eq!(resident, self.table.len(), "page table and frames disagree");
        for (&id, &slot) in &self.table {
            let f = self.frames[slot]
                .as_ref()
                .expect("table entry names a full frame");
            assert_eq!(f.page.id(), id, "frame {slot} holds the wrong page");
            assert!(f.last_used <= self.clock, "frame used in the future");
            if f.dirty {
                assert!(
                    f.rec_lsn <= f.page.lsn(),
                    "{id}: rec_lsn {} above page LSN {}",
                    f.rec_lsn,
                    f.page.lsn()
                );
            } else {
                assert!(
                    f.page.checksum_ok(),
                    "{id} is clean but its checksum is stale"
                );
                let on_disk = self
                    .file
                    .read_raw(storage, id)
                    .unwrap_or_else(|e| panic!("{id}: reading the page file: {e}"));
                assert!(
                    on_disk == f.page.bytes(),
                    "{id} is clean but differs from the page file"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btree::page_file::PageFileConfig;
    use crate::sim_disk::{SimDisk, SimDiskConfig};
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn setup(pages: u64, frames: usize) -> (SimDisk, BufferPool) {
        let file = PageFile::new(PageFileConfig {
            file: "p".into(),
            page_size: 512,
        })
        .unwrap();
        let mut disk = SimDisk::new(SimDiskConfig::default(), 1);
        for id in 1..=pages {
            let mut p = Page::new_leaf(PageId(id), 512, Lsn(0), None);
            file.write_page(&mut disk, &mut p).unwrap();
        }
        (disk, BufferPool::new(file, frames).unwrap())
    }

    fn put(page: u64, key: &[u8]) -> PageOp {
        PageOp::Insert {
            page: PageId(page),
            key: key.to_vec(),
            value: b"v".to_vec(),
        }
    }

    #[test]
    fn lru_hits_misses_and_evictions_are_counted() {
        let (mut disk, mut pool) = setup(6, 4);
        for id in [1, 2, 3, 4, 1, 5] {
            pool.fetch(&mut disk, PageId(id)).unwrap();
        }
        // 2 was the least recently used when 5 came in.
        assert!(!pool.contains(PageId(2)));
        assert!(pool.contains(PageId(1)) && pool.contains(PageId(5)));
        let s = pool.stats();
        assert_eq!((s.hits, s.misses, s.evictions, s.pages_read), (1, 5, 1, 5));
        assert_eq!(s.pages_written, 0, "clean evictions write nothing");
        assert!(matches!(
            pool.fetch(&mut disk, PageId(99)),
            Err(BTreeError::MissingPage { .. })
        ));
        pool.validate(&disk);
    }

    #[test]
    fn wal_rule_blocks_writes_until_the_wal_is_durable() {
        let (mut disk, mut pool) = setup(6, 4);
        for id in 1..=4 {
            pool.apply_ops(&mut disk, &[put(id, b"k")], Lsn(10 + id))
                .unwrap();
        }
        assert_eq!(
            pool.dirty_pages(),
            vec![
                (PageId(1), Lsn(11)),
                (PageId(2), Lsn(12)),
                (PageId(3), Lsn(13)),
                (PageId(4), Lsn(14))
            ]
        );
        let written = disk.stats().bytes_written;
        pool.set_wal_durable(Lsn(11));
        assert_eq!(
            pool.fetch(&mut disk, PageId(5)).map(|_| ()),
            Err(BTreeError::NeedsWalFlush {
                lsn: Lsn(11),
                durable: Lsn(11)
            })
        );
        assert_eq!(
            pool.flush_page(&mut disk, PageId(1)),
            Err(BTreeError::NeedsWalFlush {
                lsn: Lsn(11),
                durable: Lsn(11)
            })
        );
        assert_eq!(disk.stats().bytes_written, written, "nothing written");
        pool.set_wal_durable(Lsn(13));
        // Pages 1 and 2 are writable now; 1 is the least recently used.
        pool.fetch(&mut disk, PageId(5)).unwrap();
        assert!(!pool.contains(PageId(1)));
        assert_eq!(pool.stats().dirty_evictions, 1);
        let on_disk = pool.page_file().read_page(&disk, PageId(1)).unwrap();
        assert_eq!(on_disk.lsn(), Lsn(11));
        assert_eq!(
            pool.flush_all(&mut disk),
            Err(BTreeError::NeedsWalFlush {
                lsn: Lsn(13),
                durable: Lsn(13)
            })
        );
        assert_eq!(
            pool.dirty_pages(),
            vec![(PageId(3), Lsn(13)), (PageId(4), Lsn(14))]
        );
        pool.set_wal_durable(Lsn(100));
        assert_eq!(pool.flush_all(&mut disk), Ok(2));
        assert!(pool.dirty_pages().is_empty());
        pool.validate(&disk);
    }

    #[test]
    fn pinned_frames_are_never_evicted() {
        let (mut disk, mut pool) = setup(6, 4);
        pool.set_wal_durable(Lsn(u64::MAX));
        for id in 1..=4 {
            pool.pin(&mut disk, PageId(id)).unwrap();
        }
        assert_eq!(
            pool.fetch(&mut disk, PageId(5)).map(|_| ()),
            Err(BTreeError::NoEvictablePage {
                frames: 4,
                pinned: 4
            })
        );
        pool.unpin(PageId(3));
        pool.fetch(&mut disk, PageId(5)).unwrap();
        assert!(!pool.contains(PageId(3)));
        pool.validate(&disk);
    }

    #[test]
    fn a_change_either_applies_whole_or_not_at_all() {
        let (mut disk, mut pool) = setup(6, 4);
        // Three dirty pages that may not be written, then a change to two more pages:
        // only one frame is free, so it fails, leaving every page as it was.
        for id in 1..=3 {
            pool.apply_ops(&mut disk, &[put(id, b"a")], Lsn(id))
                .unwrap();
        }
        let before: Vec<_> = pool.frames();
        let err = pool
            .apply_ops(&mut disk, &[put(4, b"b"), put(5, b"b")], Lsn(9))
            .unwrap_err();
        assert_eq!(
            err,
            BTreeError::NeedsWalFlush {
                lsn: Lsn(1),
                durable: Lsn(0)
            }
        );
        let after: Vec<_> = pool
            .frames()
            .into_iter()
            .filter(|f| f.rec_lsn.is_some())
            .collect();
        assert_eq!(
            after,
            before
                .into_iter()
                .filter(|f| f.rec_lsn.is_some())
                .collect::<Vec<_>>()
        );
        assert!(pool.frames().iter().all(|f| f.pins == 0), "pins released");
        assert!(matches!(
            pool.apply_ops(&mut disk, &[put(1, b"x"), put(1, b"y")], Lsn(9)),
            Err(BTreeError::InvalidArgument(_))
        ));
        let five: Vec<PageOp> = (1..=5).map(|i| put(i, b"z")).collect();
        assert_eq!(
            pool.apply_ops(&mut disk, &five, Lsn(9)),
            Err(BTreeError::PoolTooSmall {
                needed: 5,
                frames: 4
            })
        );
        pool.validate(&disk);
    }

    #[test]
    fn redo_through_the_pool_skips_what_pages_already_hold() {
        let (mut disk, mut pool) = setup(3, 4);
        pool.set_wal_durable(Lsn(u64::MAX));
        pool.apply_ops(&mut disk, &[put(1, b"a")], Lsn(5)).unwrap();
        pool.flush_all(&mut disk).unwrap();
        pool.discard_all();
        assert_eq!(
            pool.redo(&mut disk, &[put(1, b"a")], Lsn(5)).unwrap(),
            vec![RedoOutcome::Skipped { page_lsn: Lsn(5) }]
        );
        assert_eq!(
            pool.redo(&mut disk, &[put(1, b"b")], Lsn(6)).unwrap(),
            vec![RedoOutcome::Applied]
        );
        assert_eq!(pool.dirty_pages(), vec![(PageId(1), Lsn(6))]);
        let image = PageOp::Image {
            page: PageId(2),
            bytes: Page::new_leaf(PageId(2), 512, Lsn(0), None)
                .bytes()
                .to_vec(),
        };
        disk.flip_bit("p", 2 * 512 * 8 + 100).unwrap();
        assert_eq!(
            pool.redo(&mut disk, std::slice::from_ref(&image), Lsn(7))
                .unwrap(),
            vec![RedoOutcome::Repaired]
        );
        assert_eq!(
            pool.redo(&mut disk, &[image], Lsn(7)).unwrap(),
            vec![RedoOutcome::Skipped { page_lsn: Lsn(7) }]
        );
        pool.flush_all(&mut disk).unwrap();
        assert_eq!(
            pool.page_file().read_page(&disk, PageId(2)).unwrap().lsn(),
            Lsn(7)
        );
        // A record naming a page far past the file is refused, not written out there.
        let far = PageOp::Image {
            page: PageId(1_000_000_000),
            bytes: Page::new_leaf(PageId(1_000_000_000), 512, Lsn(0), None)
                .bytes()
                .to_vec(),
        };
        assert!(matches!(
            pool.redo(&mut disk, std::slice::from_ref(&far), Lsn(8)),
            Err(BTreeError::RedoMismatch { .. })
        ));
        assert!(matches!(
            pool.page_file().redo(&mut disk, &far, Lsn(8)),
            Err(BTreeError::RedoMismatch { .. })
        ));
        assert_eq!(disk.len("p").unwrap(), 4 * 512);
        pool.validate(&disk);
    }
}
