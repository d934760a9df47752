//! The merge iterator: several sorted sources in, one sorted stream out, newest wins.
//!
//! Sources are given newest first (the active memtable, the frozen ones newest first, L0
//! tables newest first, then L1, L2, …). Each yields entries in strictly increasing key
//! order. For each key the merge yields exactly one entry: the one with the highest LSN,
//! ties going to the earlier (newer) source; the others are *shadowed* and dropped.
//! A tombstone that wins is yielded or, with `drop_tombstones`, dropped too — correct only
//! when nothing older than the sources can hold the key (a compaction into the last level
//! that holds data for the range, or a read, which wants live values only).
//!
//! Table sources read blocks from storage, but the iterator does not borrow it: each call
//! to [`MergeIterator::next`] takes the storage, so a compaction can alternate reading its
//! inputs and writing its outputs. [`MergeIterator::iter`] wraps it as a plain iterator.
//!
//! # Invariants
//! Output keys strictly increase (checked as it goes: a source out of order is
//! [`LsmError::Unsorted`]). After an error the iterator ends.

use crate::storage::Storage;

use super::sstable::TableCursor;
use super::{Entry, LsmError};

/// One sorted input of a merge.
pub enum Source<'a> {
    /// Entries already in memory (a memtable's range), in key order.
    Entries(Box<dyn Iterator<Item = Entry> + 'a>),
    /// A table, read block by block.
    Table(TableCursor<'a>),
}

impl std::fmt::Debug for Source<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Entries(_) => f.write_str("Source::Entries"),
            Source::Table(c) => f.debug_tuple("Source::Table").field(c).finish(),
        }
    }
}

impl Source<'_> {
    fn next<S: Storage + ?Sized>(&mut self, storage: &S) -> Option<Result<Entry, LsmError>> {
        match self {
            Source::Entries(it) => it.next().map(Ok),
            Source::Table(c) => c.next(storage),
        }
    }
}

/// What a merge did, for compaction statistics and the playground.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MergeStats {
    /// Entries read from all sources.
    pub entries_in: u64,
    /// Entries yielded.
    pub entries_out: u64,
    /// Older versions dropped because a newer one of the same key won.
    pub shadowed: u64,
    /// Winning tombstones dropped (`drop_tombstones`).
    pub tombstones_dropped: u64,
}

/// Merges sorted sources (module docs).
#[derive(Debug)]
pub struct MergeIterator<'a> {
    sources: Vec<Source<'a>>,
    heads: Vec<Option<Entry>>,
    started: bool,
    finished: bool,
    drop_tombstones: bool,
    last_key: Option<Vec<u8>>,
    /// An error met while moving past the entry just yielded; reported next.
    pending: Option<LsmError>,
    stats: MergeStats,
}

impl<'a> MergeIterator<'a> {
    /// A merge of `sources`, newest first.
    pub fn new(sources: Vec<Source<'a>>, drop_tombstones: bool) -> Self {
        let n = sources.len();
        MergeIterator {
            sources,
            heads: vec![None; n],
            started: false,
            finished: false,
            drop_tombstones,
            last_key: None,
            pending: None,
            stats: MergeStats::default(),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> MergeStats {
        self.stats
    }

    /// Pulls the next entry of source `i` into its head, checking its order.
    fn refill<S: Storage + ?Sized>(&mut self, storage: &S, i: usize) -> Result<(), LsmError> {
        let prev = self.heads[i].take();
        match self.sources[i].next(storage) {
            None => Ok(()),
            Some(Err(e)) => Err(e),
            Some(Ok(e)) => {
                self.stats.entries_in += 1;
                if let Some(p) = prev {
                    if e.key <= p.key {
                        return Err(LsmError::Unsorted {
                            previous: p.key,
                            key: e.key,
                        });
                    }
                }
                self.heads[i] = Some(e);
                Ok(())
            }
        }
    }

    fn step<S: Storage + ?Sized>(&mut self, storage: &S) -> Result<Option<Entry>, LsmError> {
        if let Some(e) = self.pending.take() {
            return Err(e);
        }
        if !self.started {
            self.started = true;
            for i in 0..self.sources.len() {
                self.refill(storage, i)?;
            }
        }
        loop {
            // The smallest key, and among its holders the highest LSN (first on ties).
            let mut win: Option<usize> = None;
            for (i, h) in self.heads.iter().enumerate() {
                let Some(h) = h else { continue };
                let better = match win.and_then(|w| self.heads[w].as_ref()) {
                    None => true,
                    Some(w) => h.key < w.key || (h.key == w.key && h.lsn > w.lsn),
                };
                if better {
                    win = Some(i);
                }
            }
            let Some(w) = win else { return Ok(None) };
            let winner = self.heads[w].clone().expect("the winner has a head");
            for i in 0..self.heads.len() {
                if self.heads[i].as_ref().is_some_and(|h| h.key == winner.key) {
                    if i != w {
                        self.stats.shadowed += 1;
                    }
                    if let Err(e) = self.refill(storage, i) {
                        self.pending = Some(e);
                        break;
                    }
                }
            }
            if self.last_key.as_ref().is_some_and(|k| *k >= winner.key) {
                return Err(LsmError::Unsorted {
                    previous: self.last_key.clone().unwrap_or_default(),
                    key: winner.key,
                });
            }
            self.last_key = Some(winner.key.clone());
            if self.drop_tombstones && winner.value.is_tombstone() {
                self.stats.tombstones_dropped += 1;
                if let Some(e) = self.pending.take() {
                    return Err(e);
                }
                continue;
            }
            self.stats.entries_out += 1;
            return Ok(Some(winner));
        }
    }

    /// The next merged entry; `None` at the end. After an error it ends.
    pub fn next<S: Storage + ?Sized>(&mut self, storage: &S) -> Option<Result<Entry, LsmError>> {
        if self.finished {
            return None;
        }
        match self.step(storage) {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => {
                self.finished = true;
                None
            }
            Err(e) => {
                self.finished = true;
                Some(Err(e))
            }
        }
    }

    /// The merge as an iterator borrowing the storage.
    pub fn iter<'s, S: Storage + ?Sized>(self, storage: &'s S) -> MergeIter<'a, 's, S> {
        MergeIter {
            merge: self,
            storage,
        }
    }
}

/// [`MergeIterator`] with its storage: a plain iterator.
#[derive(Debug)]
pub struct MergeIter<'a, 's, S: Storage + ?Sized> {
    merge: MergeIterator<'a>,
    storage: &'s S,
}

impl<S: Storage + ?Sized> MergeIter<'_, '_, S> {
    /// The counters so far.
    pub fn stats(&self) -> MergeStats {
        self.merge.stats()
    }
}

impl<S: Storage + ?Sized> Iterator for MergeIter<'_, '_, S> {
    type Item = Result<Entry, LsmError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.merge.next(self.storage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::Lsn;
    use crate::lsm::Value;
    use crate::sim_disk::{SimDisk, SimDiskConfig};
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn e(key: &str, lsn: u64, v: Option<&str>) -> Entry {
        Entry {
            key: key.as_bytes().to_vec(),
            lsn: Lsn(lsn),
            value: v.map_or(Value::Tombstone, |v| Value::Put(v.as_bytes().to_vec())),
        }
    }

    fn src(es: Vec<Entry>) -> Source<'static> {
        Source::Entries(Box::new(es.into_iter()))
    }

    #[test]
    fn newest_lsn_wins_and_tombstones_are_kept_or_dropped() {
        let disk = SimDisk::new(SimDiskConfig::default(), 0);
        let run = |drop| {
            let newer = vec![
                e("b", 9, None),
                e("c", 8, Some("c9")),
                e("e", 7, Some("e7")),
            ];
            let older = vec![
                e("a", 1, Some("a1")),
                e("b", 2, Some("b2")),
                e("c", 3, Some("c3")),
                e("d", 4, None),
            ];
            let m = MergeIterator::new(vec![src(newer), src(older)], drop);
            let mut it = m.iter(&disk);
            let out: Vec<Entry> = it.by_ref().map(Result::unwrap).collect();
            (out, it.stats())
        };
        let (kept, stats) = run(false);
        assert_eq!(
            kept,
            [
                e("a", 1, Some("a1")),
                e("b", 9, None),
                e("c", 8, Some("c9")),
                e("d", 4, None),
                e("e", 7, Some("e7"))
            ]
        );
        assert_eq!(
            stats,
            MergeStats {
                entries_in: 7,
                entries_out: 5,
                shadowed: 2,
                tombstones_dropped: 0
            }
        );
        let (dropped, stats) = run(true);
        assert_eq!(
            dropped,
            [
                e("a", 1, Some("a1")),
                e("c", 8, Some("c9")),
                e("e", 7, Some("e7"))
            ]
        );
        assert_eq!(stats.tombstones_dropped, 2);
    }

    #[test]
    fn higher_lsn_wins_even_from_a_later_source_and_ties_go_first() {
        let disk = SimDisk::new(SimDiskConfig::default(), 0);
        let m = MergeIterator::new(
            vec![
                src(vec![e("k", 5, Some("first")), e("x", 1, Some("x-first"))]),
                src(vec![e("k", 6, Some("second")), e("x", 1, Some("x-second"))]),
            ],
            false,
        );
        let out: Vec<Entry> = m.iter(&disk).map(Result::unwrap).collect();
        assert_eq!(out, [e("k", 6, Some("second")), e("x", 1, Some("x-first"))]);
    }

    #[test]
    fn an_unsorted_source_is_an_error_and_ends_the_merge() {
        let disk = SimDisk::new(SimDiskConfig::default(), 0);
        let m = MergeIterator::new(
            vec![src(vec![e("b", 1, Some("")), e("a", 2, Some(""))])],
            false,
        );
        let out: Vec<Result<Entry, LsmError>> = m.iter(&disk).collect();
        assert_eq!(out.len(), 2);
        assert!(matches!(out[1], Err(LsmError::Unsorted { .. })));
        let empty = MergeIterator::new(Vec::new(), true);
        assert_eq!(empty.iter(&disk).count(), 0);
    }
}
