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
//!
//! [`TableSet::explain_get`] walks the same path as `get` and reports every source it
//! consults ([`ProbeStep`]), for the playground; it reads the same data block `get` would
//! but through a copy of the table, so no counter anywhere moves.

use std::ops::Bound;

use crate::storage::Storage;

use super::manifest::Version;
use super::memtable::Memtable;
use super::merge::{MergeIterator, Source};
use super::sstable::{Probe, Table, TableMeta};
use super::{LsmError, TableId};
use crate::log::Lsn;

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

/// Where a lookup looked ([`TableSet::explain_get`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeSource {
    /// A memtable: 0 is the active one, 1.. the frozen ones newest first.
    Memtable(usize),
    /// A table at a level.
    Table {
        /// The level.
        level: u32,
        /// The table.
        id: TableId,
    },
}

/// What a lookup found in one source ([`TableSet::explain_get`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// A memtable without the key.
    NotInMemtable,
    /// The key is outside the table's key range: nothing read.
    SkippedByRange,
    /// The table's bloom filter rules the key out: nothing read.
    SkippedByBloom,
    /// One data block read, and the key is not in it (a bloom false positive).
    NotFound,
    /// The newest entry of the key: the lookup stops here.
    Found {
        /// Its LSN.
        lsn: Lsn,
        /// Whether it is a tombstone (the key is deleted).
        tombstone: bool,
    },
}

/// One source a lookup consulted, in the order [`TableSet::get`] consults them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeStep {
    /// Where.
    pub source: ProbeSource,
    /// What it found.
    pub outcome: ProbeOutcome,
    /// Data blocks in the table (0 for a memtable).
    pub table_blocks: u64,
}

impl ProbeStep {
    /// Whether this probe read a data block (a table neither skip ruled out).
    pub fn read_block(&self) -> bool {
        matches!(self.source, ProbeSource::Table { .. })
            && matches!(
                self.outcome,
                ProbeOutcome::NotFound | ProbeOutcome::Found { .. }
            )
    }
}

/// The path of one point lookup ([`TableSet::explain_get`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LookupExplanation {
    /// Every source consulted, in order; the last one found the key, if any did.
    pub steps: Vec<ProbeStep>,
    /// The live value (`None`: absent or deleted), as [`TableSet::get`] returns it.
    pub value: Option<Vec<u8>>,
}

impl LookupExplanation {
    /// The counters [`TableSet::get`] reports for the same lookup.
    pub fn stats(&self) -> LookupStats {
        let mut s = LookupStats::default();
        for step in &self.steps {
            match (step.source, &step.outcome) {
                (ProbeSource::Memtable(_), _) => s.memtables_probed += 1,
                (ProbeSource::Table { .. }, outcome) => {
                    s.tables_probed += 1;
                    match outcome {
                        ProbeOutcome::SkippedByRange => s.range_skips += 1,
                        ProbeOutcome::SkippedByBloom => s.bloom_skips += 1,
                        ProbeOutcome::NotFound | ProbeOutcome::Found { .. } => s.blocks_read += 1,
                        ProbeOutcome::NotInMemtable => {}
                    }
                }
            }
        }
        s
    }

    /// Where the lookup stopped (the source holding the key's newest entry).
    pub fn found_in(&self) -> Option<ProbeSource> {
        self.steps
            .last()
            .filter(|s| matches!(s.outcome, ProbeOutcome::Found { .. }))
            .map(|s| s.source)
    }
}

/// The open tables of a version (module docs).
#[derive(Clone, Debug, Default)]
pub struct TableSet {
    tables: crate::vec_map::VecMap<TableId, Table>,
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
        for m in memtables {
            stats.memtables_probed += 1;
            if let Some((_, v)) = m.get(key) {
                return Ok((v.into_put(), stats));
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
                        return Ok((value.into_put(), stats));
                    }
                }
            }
        }
        Ok((None, stats))
    }

    /// The path [`TableSet::get`] takes for `key`, source by source (module docs): the
    /// same order, the same skips and the same block reads, so
    /// [`LookupExplanation::stats`] equals the [`LookupStats`] `get` returns. Read-only:
    /// the block read goes through a copy of the table, so the table's own counters
    /// ([`Table::stats`](super::sstable::Table::stats)) do not move.
    pub fn explain_get<S: Storage + ?Sized>(
        &self,
        storage: &S,
        version: &Version,
        memtables: &[&Memtable],
        key: &[u8],
    ) -> Result<LookupExplanation, LsmError> {
        let mut steps = Vec::new();
        for (i, m) in memtables.iter().enumerate() {
            let source = ProbeSource::Memtable(i);
            if let Some((lsn, v)) = m.get(key) {
                steps.push(ProbeStep {
                    source,
                    outcome: ProbeOutcome::Found {
                        lsn,
                        tombstone: v.is_tombstone(),
                    },
                    table_blocks: 0,
                });
                let value = v.into_put();
                return Ok(LookupExplanation { steps, value });
            }
            steps.push(ProbeStep {
                source,
                outcome: ProbeOutcome::NotInMemtable,
                table_blocks: 0,
            });
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
                let source = ProbeSource::Table { level, id: t.id };
                let table_blocks = table.blocks();
                // The same checks, in the same order, as `Table::get`; the read through a
                // copy, whose counters are thrown away.
                let outcome = if !table.meta().covers(key) {
                    ProbeOutcome::SkippedByRange
                } else if !table.bloom().may_contain(key) {
                    ProbeOutcome::SkippedByBloom
                } else {
                    match table.clone().get(storage, key)? {
                        Probe::SkippedByRange => ProbeOutcome::SkippedByRange,
                        Probe::SkippedByBloom => ProbeOutcome::SkippedByBloom,
                        Probe::NotFound => ProbeOutcome::NotFound,
                        Probe::Found { lsn, value } => {
                            steps.push(ProbeStep {
                                source,
                                outcome: ProbeOutcome::Found {
                                    lsn,
                                    tombstone: value.is_tombstone(),
                                },
                                table_blocks,
                            });
                            let value = value.as_put().map(<[u8]>::to_vec);
                            return Ok(LookupExplanation { steps, value });
                        }
                    }
                };
                steps.push(ProbeStep {
                    source,
                    outcome,
                    table_blocks,
                });
            }
        }
        Ok(LookupExplanation { steps, value: None })
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
