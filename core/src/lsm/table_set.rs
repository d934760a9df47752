//! The read path: memtables, then tables level by level, with per-lookup counters.
//!
//! A [`TableSet`] holds the open [`Table`]s of a version (footer, index and bloom filter of
//! each in memory). A point lookup checks the memtables newest first, then every L0 table
//! newest first, then at most one table per deeper level (the one whose key range covers
//! the key, found by binary search); within a table the key range and the bloom filter may
//! skip it without a read. The first entry found wins — a tombstone means "absent" — which
//! is correct because of the version's invariants (newer data is always in an earlier
//! place: memtables, then L0 by descending LSN, then L1, L2, …).
//!
//! A range scan merges all of them with the [`MergeIterator`], dropping tombstones.
//!
//! # Call order
//! [`TableSet::refresh`] after opening the manifest and after every edit applied to it,
//! before reading; then [`TableSet::get`] and [`TableSet::range`] with that version.

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::storage::Storage;

use super::manifest::Version;
use super::memtable::Memtable;
use super::merge::{MergeIterator, Source};
use super::sstable::{Probe, Table, TableMeta};
use super::{LsmError, TableId, Value};

/// What one lookup cost (read amplification).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LookupStats {
    /// Memtables consulted.
    pub memtables_probed: u64,
    /// Tables consulted (including those then skipped by range or bloom filter).
    pub tables_probed: u64,
    /// Tables skipped by their key range.
    pub range_skips: u64,
    /// Tables skipped by their bloom filter.
    pub bloom_skips: u64,
    /// Data blocks read.
    pub blocks_read: u64,
}

/// The open tables of a version (module docs).
#[derive(Clone, Debug, Default)]
pub struct TableSet {
    tables: BTreeMap<TableId, Table>,
}

fn meets(t: &TableMeta, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> bool {
    let above_lo = match lo {
        Bound::Unbounded => true,
        Bound::Included(k) => t.max_key.as_slice() >= k,
        Bound::Excluded(k) => t.max_key.as_slice() > k,
    };
    let below_hi = match hi {
        Bound::Unbounded => true,
        Bound::Included(k) => t.min_key.as_slice() <= k,
        Bound::Excluded(k) => t.min_key.as_slice() < k,
    };
    above_lo && below_hi
}

impl TableSet {
    /// No tables open.
    pub fn new() -> Self {
        TableSet::default()
    }

    /// Opens the version's tables not open yet and closes the ones it no longer lists. A
    /// table whose footer disagrees with the version is [`LsmError::Inconsistent`].
    pub fn refresh<S: Storage + ?Sized>(
        &mut self,
        storage: &S,
        version: &Version,
    ) -> Result<(), LsmError> {
        self.tables.retain(|id, _| version.find(*id).is_some());
        for t in version.levels().iter().flatten() {
            if self.tables.contains_key(&t.id) {
                continue;
            }
            let table = Table::open(storage, t.id)?;
            if table.meta() != t {
                return Err(LsmError::Inconsistent(format!(
                    "{} on disk differs from the manifest's record of it",
                    t.id
                )));
            }
            self.tables.insert(t.id, table);
        }
        Ok(())
    }

    /// An open table.
    pub fn table(&self, id: TableId) -> Option<&Table> {
        self.tables.get(&id)
    }

    /// Tables open.
    pub fn len(&self) -> usize {
        self.tables.len()
    }

    /// Whether no table is open.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    fn open_table(&self, id: TableId) -> Result<&Table, LsmError> {
        self.tables.get(&id).ok_or_else(|| {
            LsmError::InvalidArgument(format!("{id} is not open: refresh the table set"))
        })
    }

    /// The live value of `key`: the first entry found in the memtables (newest first),
    /// then L0 (newest first), then one table per deeper level; `None` if absent or
    /// deleted.
    pub fn get<S: Storage + ?Sized>(
        &self,
        storage: &S,
        version: &Version,
        memtables: &[&Memtable],
        key: &[u8],
    ) -> Result<(Option<Vec<u8>>, LookupStats), LsmError> {
        let mut stats = LookupStats::default();
        let live = |v: &Value| v.as_put().map(<[u8]>::to_vec);
        for m in memtables {
            stats.memtables_probed += 1;
            if let Some((_, v)) = m.get(key) {
                return Ok((live(v), stats));
            }
        }
        for level in 0..version.num_levels() {
            let tables = version.level(level);
            let candidates: &[TableMeta] = if level == 0 {
                tables
            } else {
                let i = tables.partition_point(|t| t.max_key.as_slice() < key);
                match tables.get(i) {
                    Some(t) if t.covers(key) => &tables[i..=i],
                    _ => &[],
                }
            };
            for t in candidates {
                let table = self.open_table(t.id)?;
                stats.tables_probed += 1;
                match table.get(storage, key)? {
                    Probe::SkippedByRange => stats.range_skips += 1,
                    Probe::SkippedByBloom => stats.bloom_skips += 1,
                    Probe::NotFound => stats.blocks_read += 1,
                    Probe::Found { value, .. } => {
                        stats.blocks_read += 1;
                        return Ok((live(&value), stats));
                    }
                }
            }
        }
        Ok((None, stats))
    }

    /// A merge of every source that may hold keys in the bounds, dropping tombstones: the
    /// live entries in key order.
    pub fn range<'a>(
        &'a self,
        version: &Version,
        memtables: &[&'a Memtable],
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
    ) -> Result<MergeIterator<'a>, LsmError> {
        let mut sources: Vec<Source<'a>> = memtables
            .iter()
            .map(|m| Source::Entries(Box::new(m.range(lo, hi))))
            .collect();
        for t in version.levels().iter().flatten() {
            if meets(t, lo, hi) {
                sources.push(Source::Table(self.open_table(t.id)?.cursor(lo, hi)));
            }
        }
        Ok(MergeIterator::new(sources, true))
    }

    /// Checks that exactly the version's tables are open; panics otherwise (a bug).
    pub fn validate(&self, version: &Version) {
        assert_eq!(
            self.tables.len(),
            version.table_count(),
            "open tables differ from the version's"
        );
        for t in version.levels().iter().flatten() {
            let open = self
                .tables
                .get(&t.id)
                .expect("every table of the version is open");
            assert_eq!(open.meta(), t, "{} differs from the version's record", t.id);
            open.bloom().validate();
        }
    }
}
