//! Compaction: a pure policy ([`choose`]) and a mechanism ([`compact`]).
//!
//! # Policy: `choose(&Version, &CompactionConfig) -> Option<Choice>`
//! A pure function of the version: same version, same choice, on every platform (integer
//! arithmetic only). `None` means nothing needs compacting.
//!
//! **Leveled** (LevelDB's `VersionSet::Finalize`/`PickCompaction`, RocksDB's leveled
//! compaction). Each level gets a score: L0's is `files / l0_trigger`; level `n ≥ 1`'s is
//! `bytes / target(n)` with `target(n) = base_level_bytes · fanout^(n-1)`. The last level
//! has no score (there is nowhere below it). The level with the highest score wins if its
//! score is at least 1 (ties go to the lower level):
//! * L0 → L1: every L0 table (their keys overlap, so they move together) plus every L1
//!   table overlapping their key range.
//! * Ln → Ln+1: one table of Ln, the one whose overlapping bytes in Ln+1 are smallest
//!   relative to its own size (RocksDB's `kMinOverlappingRatio`, the write-amplification
//!   friendly pick; ties go to the smallest key), plus those overlapping Ln+1 tables.
//!
//! **Size-tiered** (Cassandra's STCS, restricted to adjacent runs). All tables are runs in
//! L0, newest first. A window of `tier_min_runs..=tier_max_runs` adjacent runs whose
//! largest is at most `tier_size_ratio_percent`% of its smallest is merged into one run,
//! which takes the window's place (adjacency keeps L0's LSN ranges disjoint and ordered).
//! Among windows: the most runs, then the fewest bytes, then the oldest.
//!
//! **Tombstones** are dropped ([`Choice::drop_tombstones`]) only when no table below the
//! output level overlaps the inputs' key range — compacting into the last level that
//! holds data for those keys — since otherwise a dropped tombstone would let an older
//! value resurface.
//!
//! **Trivial moves** ([`Choice::trivial_move`], LevelDB's `IsTrivialMove`): a choice
//! with a single input and nothing to merge it with is done by the manifest edit alone —
//! the table is listed one level down and no byte is read or written. Sequential inserts
//! make these common: each new table's keys are above everything below it.
//!
//! **Manual** ([`choose_manual`], RocksDB's `CompactRange` over the whole key range,
//! LevelDB's `CompactRange`): asked for by the owner, not by a score. Leveled: each level
//! from `from_level` down to `bottom - 1` in turn is merged *whole* — every table of the
//! level plus every table of the next level overlapping them — into the next level, so
//! that at the end everything sits in `bottom` (the deepest level that held data when the
//! compaction was asked for, at least L1). Empty levels are skipped. The bottom level
//! itself is not rewritten (RocksDB's default `bottommost_level_compaction`), so a
//! tree already all in one level has nothing to do. Size-tiered (and a single level):
//! one step merging every L0 run into one (Cassandra's major compaction), when there are
//! two runs or more, or one holding tombstones. Tombstones are dropped by the same rule
//! as above (nothing deeper overlaps).
//!
//! # Mechanism: [`compact`]
//! Opens the inputs, merges them newest first with the [`MergeIterator`], writes the
//! result with [`TableWriter`]s (splitting at `target_file_bytes` for L1+; one run for
//! L0) and returns the outputs and the [`VersionEdit`] that swaps them in. It does not
//! append the edit or delete the inputs: the caller syncs the outputs, appends the edit
//! to the manifest and syncs it, then deletes the input files (see [`super`]'s "why two
//! syncs, not one").

use super::manifest::{Version, VersionEdit};
use super::merge::{MergeIterator, MergeStats, Source};
use super::sstable::{Table, TableConfig, TableMeta, TableWriter};
use super::{LsmError, TableId};
use crate::storage::Storage;
use std::ops::Bound;

/// Which policy [`choose`] applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompactionStyle {
    /// Levels of growing target size; L1+ sorted and non-overlapping.
    Leveled,
    /// Runs of similar size merged together, all in L0.
    SizeTiered,
}

/// The knobs of the policies (module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompactionConfig {
    /// The policy.
    pub style: CompactionStyle,
    /// Leveled: L0 tables that trigger an L0 → L1 compaction.
    pub l0_trigger: u64,
    /// Leveled: L1's target size.
    pub base_level_bytes: u64,
    /// Leveled: each level's target is `fanout` times the previous one's.
    pub fanout: u64,
    /// Leveled: outputs are split once a table reaches this size.
    pub target_file_bytes: u64,
    /// Size-tiered: the fewest runs merged at once.
    pub tier_min_runs: u64,
    /// Size-tiered: the most runs merged at once.
    pub tier_max_runs: u64,
    /// Size-tiered: runs are similar when the largest is at most this percentage of the
    /// smallest (200: within a factor of two).
    pub tier_size_ratio_percent: u64,
}

impl Default for CompactionConfig {
    /// Leveled, L0 trigger 4, L1 target 256 KiB, fanout 10, 64 KiB files; tiers of 4 to 8
    /// runs within a factor of two.
    fn default() -> Self {
        CompactionConfig {
            style: CompactionStyle::Leveled,
            l0_trigger: 4,
            base_level_bytes: 256 * 1024,
            fanout: 10,
            target_file_bytes: 64 * 1024,
            tier_min_runs: 4,
            tier_max_runs: 8,
            tier_size_ratio_percent: 200,
        }
    }
}

impl CompactionConfig {
    /// Checks that the knobs make sense.
    pub fn check(&self) -> Result<(), LsmError> {
        let bad = |m: &str| Err(LsmError::InvalidConfig(m.to_owned()));
        if self.l0_trigger == 0 {
            return bad("l0_trigger must be at least 1");
        }
        if self.base_level_bytes == 0 || self.target_file_bytes == 0 {
            return bad("level and file targets must be positive");
        }
        if self.fanout < 2 {
            return bad("fanout must be at least 2");
        }
        if self.tier_min_runs < 2 || self.tier_max_runs < self.tier_min_runs {
            return bad("tiers need 2 <= tier_min_runs <= tier_max_runs");
        }
        if self.tier_size_ratio_percent < 100 {
            return bad("tier_size_ratio_percent must be at least 100");
        }
        Ok(())
    }

    /// Leveled: the target size of level `n ≥ 1` (saturating).
    pub fn level_target_bytes(&self, level: u32) -> u64 {
        let mut t = self.base_level_bytes;
        for _ in 1..level {
            t = t.saturating_mul(self.fanout);
        }
        t
    }
}

/// Why a compaction was chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChoiceReason {
    /// Leveled: L0 holds too many tables.
    L0Files {
        /// Tables in L0.
        files: u64,
        /// The trigger.
        trigger: u64,
    },
    /// Leveled: a level is over its target size.
    LevelSize {
        /// The level.
        level: u32,
        /// Its size.
        bytes: u64,
        /// Its target.
        target_bytes: u64,
    },
    /// Size-tiered: similar runs to merge.
    Tier {
        /// Runs merged.
        runs: u64,
        /// Their bytes.
        bytes: u64,
    },
    /// Asked for by the owner ([`choose_manual`]): the whole of `level` goes down.
    Manual {
        /// The level merged whole.
        level: u32,
        /// The level everything ends in.
        bottom: u32,
    },
}

/// One input table of a compaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Input {
    /// The level it is in.
    pub level: u32,
    /// The table.
    pub table: TableMeta,
}

/// A compaction to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    /// Why.
    pub reason: ChoiceReason,
    /// The inputs, newest first: L0 tables newest first, then the lower level's in key
    /// order.
    pub inputs: Vec<Input>,
    /// Where the outputs go.
    pub output_level: u32,
    /// Whether winning tombstones are dropped (module docs).
    pub drop_tombstones: bool,
}

impl Choice {
    /// The input ids, in order (for tests and the trace).
    pub fn input_ids(&self) -> Vec<u64> {
        self.inputs.iter().map(|i| i.table.id.0).collect()
    }

    /// Bytes of the inputs.
    pub fn input_bytes(&self) -> u64 {
        self.inputs.iter().map(|i| i.table.size_bytes).sum()
    }

    /// The table to move down a level without rewriting it, if this compaction is a
    /// *trivial move* (LevelDB's `IsTrivialMove`): one input, going to another level,
    /// where nothing overlaps it (the policy put every overlapping table of the output
    /// level among the inputs, so one input means none), and no tombstone that the merge
    /// would have dropped. The manifest edit alone moves it: 0 bytes read or written.
    pub fn trivial_move(&self) -> Option<&TableMeta> {
        match self.inputs.as_slice() {
            [only]
                if only.level != self.output_level
                    && !(self.drop_tombstones && only.table.tombstones > 0) =>
            {
                Some(&only.table)
            }
            _ => None,
        }
    }
}

/// The smallest and largest key over `tables` (which must not be empty).
fn key_span<'a>(tables: impl Iterator<Item = &'a TableMeta>) -> (Vec<u8>, Vec<u8>) {
    let mut lo: Option<&[u8]> = None;
    let mut hi: Option<&[u8]> = None;
    for t in tables {
        lo = Some(lo.map_or(&t.min_key[..], |l| l.min(&t.min_key[..])));
        hi = Some(hi.map_or(&t.max_key[..], |h| h.max(&t.max_key[..])));
    }
    (
        lo.expect("at least one table").to_vec(),
        hi.expect("at least one table").to_vec(),
    )
}

/// Whether any table below `level` overlaps `lo..=hi`.
fn deeper_overlap(version: &Version, level: u32, lo: &[u8], hi: &[u8]) -> bool {
    (level + 1..version.num_levels()).any(|l| !version.overlapping(l, lo, hi).is_empty())
}

fn finish_choice(
    version: &Version,
    reason: ChoiceReason,
    inputs: Vec<Input>,
    output_level: u32,
) -> Choice {
    let (lo, hi) = key_span(inputs.iter().map(|i| &i.table));
    Choice {
        reason,
        drop_tombstones: !deeper_overlap(version, output_level, &lo, &hi),
        inputs,
        output_level,
    }
}

/// The compaction the policy wants now, if any (module docs). Pure.
pub fn choose(version: &Version, config: &CompactionConfig) -> Option<Choice> {
    match config.style {
        CompactionStyle::Leveled => choose_leveled(version, config),
        CompactionStyle::SizeTiered => choose_tiered(version, config),
    }
}

fn choose_leveled(version: &Version, config: &CompactionConfig) -> Option<Choice> {
    let last = version.num_levels().checked_sub(1)?;
    // Scores as fractions (numerator, denominator), compared by cross-multiplying.
    let mut best: Option<(u32, u64, u64)> = None;
    for level in 0..last {
        let (num, den) = if level == 0 {
            (version.level(0).len() as u64, config.l0_trigger)
        } else {
            (version.level_bytes(level), config.level_target_bytes(level))
        };
        if num < den {
            continue;
        }
        let better = best.is_none_or(|(_, bn, bd)| {
            u128::from(num) * u128::from(bd) > u128::from(bn) * u128::from(den)
        });
        if better {
            best = Some((level, num, den));
        }
    }
    let (level, num, den) = best?;
    if level == 0 {
        let l0 = version.level(0);
        let (lo, hi) = key_span(l0.iter());
        let mut inputs: Vec<Input> = l0
            .iter()
            .map(|t| Input {
                level: 0,
                table: t.clone(),
            })
            .collect();
        inputs.extend(version.overlapping(1, &lo, &hi).into_iter().map(|t| Input {
            level: 1,
            table: t.clone(),
        }));
        let reason = ChoiceReason::L0Files {
            files: num,
            trigger: den,
        };
        return Some(finish_choice(version, reason, inputs, 1));
    }
    // Ln → Ln+1: the table with the smallest overlap ratio.
    let overlap_bytes = |t: &TableMeta| -> u64 {
        version
            .overlapping(level + 1, &t.min_key, &t.max_key)
            .iter()
            .map(|o| o.size_bytes)
            .sum()
    };
    let mut pick: Option<(&TableMeta, u64)> = None;
    for t in version.level(level) {
        let o = overlap_bytes(t);
        let better = pick.is_none_or(|(p, po)| {
            // o / t.size < po / p.size, sizes are positive for real tables.
            u128::from(o) * u128::from(p.size_bytes.max(1))
                < u128::from(po) * u128::from(t.size_bytes.max(1))
        });
        if better {
            pick = Some((t, o));
        }
    }
    let (t, _) = pick?;
    let mut inputs = vec![Input {
        level,
        table: t.clone(),
    }];
    inputs.extend(
        version
            .overlapping(level + 1, &t.min_key, &t.max_key)
            .into_iter()
            .map(|o| Input {
                level: level + 1,
                table: o.clone(),
            }),
    );
    let reason = ChoiceReason::LevelSize {
        level,
        bytes: num,
        target_bytes: den,
    };
    Some(finish_choice(version, reason, inputs, level + 1))
}

/// Where a manual compaction asked for now ends: the deepest level holding a table, at
/// least L1 (leveled, with more than one level); 0 for size-tiered or a single level
/// (module docs, "Manual"). Pure.
pub fn manual_bottom(version: &Version, config: &CompactionConfig) -> u32 {
    let levels = version.num_levels();
    if config.style == CompactionStyle::SizeTiered || levels < 2 {
        return 0;
    }
    let deepest = (0..levels)
        .rev()
        .find(|&l| !version.level(l).is_empty())
        .unwrap_or(0);
    deepest.max(1)
}

/// The next step of a manual compaction (module docs, "Manual"): the first level from
/// `from_level` on, below `bottom`, that holds tables, merged whole into the next level —
/// or, when `bottom` is 0, every L0 run merged into one. Returns the level chosen and the
/// compaction; `None` when nothing is left to do. Pure.
pub fn choose_manual(version: &Version, from_level: u32, bottom: u32) -> Option<(u32, Choice)> {
    if bottom == 0 {
        let runs = version.level(0);
        let worth = runs.len() >= 2 || runs.first().is_some_and(|t| t.tombstones > 0);
        if from_level > 0 || !worth {
            return None;
        }
        let inputs: Vec<Input> = runs
            .iter()
            .map(|t| Input {
                level: 0,
                table: t.clone(),
            })
            .collect();
        let reason = ChoiceReason::Manual { level: 0, bottom };
        // Every run is an input, so no older run in L0 can hold the keys: tombstones go
        // unless a deeper level overlaps (finish_choice's rule).
        return Some((0, finish_choice(version, reason, inputs, 0)));
    }
    let bottom = bottom.min(version.num_levels().saturating_sub(1));
    for level in from_level..bottom {
        let tables = version.level(level);
        if tables.is_empty() {
            continue;
        }
        let (lo, hi) = key_span(tables.iter());
        let mut inputs: Vec<Input> = tables
            .iter()
            .map(|t| Input {
                level,
                table: t.clone(),
            })
            .collect();
        inputs.extend(
            version
                .overlapping(level + 1, &lo, &hi)
                .into_iter()
                .map(|t| Input {
                    level: level + 1,
                    table: t.clone(),
                }),
        );
        let reason = ChoiceReason::Manual { level, bottom };
        return Some((level, finish_choice(version, reason, inputs, level + 1)));
    }
    None
}

fn choose_tiered(version: &Version, config: &CompactionConfig) -> Option<Choice> {
    let runs = version.level(0);
    let max_runs = usize::try_from(config.tier_max_runs).unwrap_or(usize::MAX);
    let min_runs = usize::try_from(config.tier_min_runs).unwrap_or(usize::MAX);
    // (start, len, bytes) of the best window.
    let mut best: Option<(usize, usize, u64)> = None;
    for start in 0..runs.len() {
        let (mut lo, mut hi) = (u64::MAX, 0u64);
        let mut len = 0;
        let mut bytes = 0u64;
        for r in runs.iter().skip(start).take(max_runs) {
            let (l, h) = (lo.min(r.size_bytes), hi.max(r.size_bytes));
            if u128::from(h) * 100 > u128::from(l) * u128::from(config.tier_size_ratio_percent) {
                break;
            }
            (lo, hi) = (l, h);
            len += 1;
            bytes += r.size_bytes;
        }
        if len < min_runs {
            continue;
        }
        let better = best.is_none_or(|(_, bl, bb)| len > bl || (len == bl && bytes <= bb));
        if better {
            best = Some((start, len, bytes));
        }
    }
    let (start, len, bytes) = best?;
    let inputs: Vec<Input> = runs[start..start + len]
        .iter()
        .map(|t| Input {
            level: 0,
            table: t.clone(),
        })
        .collect();
    let includes_oldest = start + len == runs.len();
    let mut choice = finish_choice(
        version,
        ChoiceReason::Tier {
            runs: len as u64,
            bytes,
        },
        inputs,
        0,
    );
    // Older runs in L0 itself may hold the keys too.
    choice.drop_tombstones &= includes_oldest;
    Some(choice)
}

/// What a compaction did (write amplification: `output_bytes` were written to move
/// `input_bytes`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompactionStats {
    /// Tables read.
    pub input_tables: u64,
    /// Their bytes.
    pub input_bytes: u64,
    /// Tables written.
    pub output_tables: u64,
    /// Their bytes.
    pub output_bytes: u64,
    /// The merge's counters.
    pub merge: MergeStats,
}

/// The result of [`compact`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compacted {
    /// The tables written, in key order (none if everything was dropped).
    pub outputs: Vec<TableMeta>,
    /// The edit that removes the inputs and adds the outputs.
    pub edit: VersionEdit,
    /// The counters.
    pub stats: CompactionStats,
    /// A trivial move ([`Choice::trivial_move`]): `outputs` is the input itself, now in
    /// the output level; no file was written and none may be deleted.
    pub moved: bool,
}

/// Runs `choice`: merges its inputs into new tables numbered from `next_table_id`,
/// splitting at `target_file_bytes` unless the output level is 0 (module docs). Writes
/// table files only; the caller appends the returned edit and deletes the inputs.
pub fn compact<S: Storage + ?Sized>(
    storage: &mut S,
    choice: &Choice,
    next_table_id: TableId,
    table_config: TableConfig,
    target_file_bytes: u64,
) -> Result<Compacted, LsmError> {
    if choice.inputs.is_empty() {
        return Err(LsmError::InvalidArgument(
            "a compaction needs inputs".into(),
        ));
    }
    if let Some(moved) = choice.trivial_move() {
        // Nothing to merge: the table changes level in the manifest and is not rewritten.
        return Ok(Compacted {
            outputs: vec![moved.clone()],
            edit: VersionEdit {
                added: vec![(choice.output_level, moved.clone())],
                removed: vec![(choice.inputs[0].level, moved.id)],
                next_table_id: None,
                last_flushed_lsn: None,
            },
            stats: CompactionStats {
                input_tables: 1,
                input_bytes: 0,
                output_tables: 1,
                output_bytes: 0,
                merge: MergeStats::default(),
            },
            moved: true,
        });
    }
    let mut tables = Vec::with_capacity(choice.inputs.len());
    for input in &choice.inputs {
        let t = Table::open(storage, input.table.id)?;
        if *t.meta() != input.table {
            return Err(LsmError::Inconsistent(format!(
                "{} on disk differs from the version's record of it",
                input.table.id
            )));
        }
        tables.push(t);
    }
    let sources = tables
        .iter()
        .map(|t| Source::Table(t.cursor(Bound::Unbounded, Bound::Unbounded)))
        .collect();
    let mut merge = MergeIterator::new(sources, choice.drop_tombstones);
    let split = choice.output_level > 0;
    let mut next_id = next_table_id.0;
    let mut outputs = Vec::new();
    let mut writer: Option<TableWriter> = None;
    while let Some(entry) = merge.next(&*storage) {
        let entry = entry?;
        let w = match &mut writer {
            Some(w) => w,
            None => {
                let w = TableWriter::create(storage, TableId(next_id), table_config)?;
                next_id += 1;
                writer.insert(w)
            }
        };
        w.add(storage, &entry)?;
        if split && w.estimated_bytes() >= target_file_bytes {
            let w = writer.take().expect("just used");
            outputs.push(w.finish(storage)?);
        }
    }
    if let Some(w) = writer {
        outputs.push(w.finish(storage)?);
    }
    let stats = CompactionStats {
        input_tables: choice.inputs.len() as u64,
        input_bytes: choice.input_bytes(),
        output_tables: outputs.len() as u64,
        output_bytes: outputs.iter().map(|t| t.size_bytes).sum(),
        merge: merge.stats(),
    };
    let edit = VersionEdit {
        added: outputs
            .iter()
            .map(|t| (choice.output_level, t.clone()))
            .collect(),
        removed: choice
            .inputs
            .iter()
            .map(|i| (i.level, i.table.id))
            .collect(),
        next_table_id: Some(next_id),
        last_flushed_lsn: None,
    };
    Ok(Compacted {
        outputs,
        edit,
        stats,
        moved: false,
    })
}
