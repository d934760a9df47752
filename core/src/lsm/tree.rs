//! `Lsm`: the assembled LSM index — memtables, tables, manifest and compaction — with
//! flushes and compactions as background steps in virtual time.
//!
//! The index is the second one behind the same log (the first is [`crate::btree`]): the
//! owner (later the `Db`) logs every write in its WAL under an LSN, then hands it to
//! [`Lsm::put`] / [`Lsm::delete`], which record it in the active memtable and return the
//! key's value before the write (the undo information, like the B-tree's
//! `Change::old_value`). Reads ([`Lsm::get`], [`Lsm::range`]) see the memtables and the
//! tables of the current version, newest first.
//!
//! # Call order
//! 1. [`Lsm::open`] is recovery: it replays the manifest into a [`Version`], deletes the
//!    orphan tables (files no recorded edit names: written by a flush or compaction that
//!    crashed before its edit became durable; but with a manifest that records nothing,
//!    any orphan other than table 0 means the manifest was lost, and open refuses), opens the version's tables and reports
//!    [`LsmRecovery::last_flushed_lsn`]. Every write with an LSN at or below it is in a
//!    table; the owner replays its WAL *above* it through `put`/`delete`.
//! 2. Writes with strictly increasing LSNs (above the recovered `last_flushed_lsn`), reads.
//!    Recovery replays the owner's WAL with [`Lsm::redo`], a blind write (no old-value
//!    read: redo needs no undo information). An owner with a WAL calls
//!    [`Lsm::set_wal_durable`] whenever its WAL's durable point moves: from then on a
//!    frozen memtable is flushed only once the WAL is durable past its largest LSN (the
//!    WAL rule; [`Lsm::flush_waits_for_wal`] says when a flush waits, so the owner can
//!    issue a WAL sync). On the backends here a completed sync covers every file, so the
//!    table's own sync would also make the WAL durable before its edit; the rule keeps
//!    that from being an accident of the backend, and the `Db` asserts it.
//! 3. [`Lsm::handle_sync_completion`] for every completion the owner drains from the
//!    storage (the same completions its WAL sees), then [`Lsm::step`] until it returns
//!    `None`, whenever virtual time moves. Each step does one bounded piece of work and
//!    returns the [`LsmEvent`] describing it; `None` means nothing to do, or waiting for a
//!    sync. [`Lsm::durable_flushed_lsn`] is the LSN below which the owner may trim its WAL.
//!
//! # Background work: one job at a time, one phase per step
//! * **Freeze** — when the active memtable holds `memtable_bytes` or more and fewer than
//!   `max_immutable_memtables` are frozen, it becomes immutable and a new one takes
//!   writes ([`LsmEvent::MemtableFrozen`]). With the queue full, writes keep going to the
//!   active memtable ([`Lsm::write_stalled`] says so: a real engine would throttle).
//! * **Flush** (when idle and a memtable is frozen; flushes go before compactions):
//!   1. write the oldest frozen memtable as L0 table `next_table_id`, request a sync
//!      ([`LsmEvent::FlushStarted`]);
//!   2. once *that sync has completed*, append the manifest edit (table at L0,
//!      `next_table_id + 1`, `last_flushed_lsn` = the memtable's largest LSN), request a
//!      sync, and read from the table instead of the memtable ([`LsmEvent::FlushRecorded`]);
//!   3. once that sync has completed, the flush is durable ([`LsmEvent::FlushDone`]).
//! * **Compaction** (when idle, nothing frozen, and [`choose`] has a choice):
//!   1. pick ([`LsmEvent::CompactionPicked`]);
//!   2. [`compact`] writes the outputs, request a sync ([`LsmEvent::CompactionWritten`]);
//!   3. once it has completed, append the edit (outputs in, inputs out), request a sync,
//!      read from the outputs ([`LsmEvent::CompactionRecorded`]);
//!   4. once that has completed, delete the input files ([`LsmEvent::CompactionDone`]).
//!
//!   A trivial move ([`Choice::trivial_move`]) goes through the same phases with nothing
//!   written in 2 and nothing deleted in 4: the edit alone moves the table down.
//! * **Manual compaction** ([`Lsm::request_manual_compaction`], RocksDB's `CompactRange`
//!   over every key): the active memtable is frozen first (as soon as the frozen queue
//!   has room) and flushed like any other; once everything written before the request is
//!   in tables, instead of the policy's choices, the steps of [`choose_manual`] run one
//!   after another — each level merged whole into the next, down to the deepest level
//!   that held data — each a compaction with exactly the four phases above
//!   ([`ChoiceReason::Manual`] in [`LsmEvent::CompactionPicked`]). The policy's own
//!   compactions wait until it is done ([`LsmEvent::ManualCompactionDone`]). Writes go on
//!   meanwhile, and their flushes take turns with the steps: a flush goes first only when
//!   the frozen queue is full. The request lives in memory only: a crash
//!   in the middle recovers by the cases below like any compaction, and the request is
//!   gone (as RocksDB's is); asking again starts over.
//!
//! Only one job runs at a time, so the version a compaction was chosen from is the one
//! its edit applies to, and table ids never collide.
//!
//! # Why a sync between a table and its edit
//! The [`crate::Storage`] contract promises, for a sync in flight at a crash, only a
//! prefix in issue order of its changes — but a native file backend cannot promise even
//! that (separate files' pages reach the disk in any order under power loss). So nothing
//! here relies on order within one sync: a manifest edit is appended only after the sync
//! covering the tables it adds has *completed*, and input files are deleted only after the
//! sync covering the edit that drops them has completed. Recovery cases, after a crash in
//! each phase:
//!
//! | case | crash during                      | recovered version        | files              |
//! |------|-----------------------------------|--------------------------|--------------------|
//! | C1   | flush 1 or compaction 2           | without the new tables   | new tables orphans: deleted |
//! | C2   | flush 2 or compaction 3 (edit lost)| without the new tables  | as C1              |
//! | C3   | flush 2 or compaction 3 (edit kept)| with them (whole: synced)| inputs still there |
//! | C4   | compaction 4 (deletions lost)     | with the outputs         | inputs orphans: deleted |
//!
//! # Amplification
//! * Write: table bytes written (flushes count as L0, compactions as their output level)
//!   over logical bytes (key + value per put, key per delete). Manifest bytes are left out.
//! * Read: per [`Lsm::get`], memtables and tables probed, tables skipped by key range and
//!   by bloom filter, data blocks read. The reads `put`/`delete` make for the old value
//!   are counted apart ([`LsmStats::undo_lookups`]).
//! * Space: bytes of the version's table files over the live bytes *in the tables*: key +
//!   value of every key whose newest table entry is a put. [`Lsm::amplification`] computes
//!   it exactly with a merge over all tables (O(table data) per call); memtable data is in
//!   neither side.
//!
//! # Invariants (checked by [`Lsm::validate`])
//! * The manifest, version, table set and memtables validate on their own.
//! * LSNs increase from the tables (`≤ last_flushed_lsn`) to the oldest frozen memtable,
//!   the newer frozen ones and the active memtable, with disjoint ranges.
//! * At most `max_immutable_memtables` are frozen; `durable_flushed_lsn ≤ last_flushed_lsn`.
//! * The per-level bytes written add up to the total; a job's tables are not in the
//!   version before its edit and are after it.

use crate::meter::ratio;
use std::collections::VecDeque;
use std::ops::Bound;

use crate::log::{Lsn, RecoveryReport};
use crate::storage::{Storage, SyncCompletion, SyncId};

use super::compaction::{
    choose, choose_manual, compact, manual_bottom, Choice, ChoiceReason, Compacted,
    CompactionConfig,
};
use super::manifest::{orphan_tables, Manifest, ManifestConfig, Version, VersionEdit};
use super::memtable::{ImmutableMemtable, Memtable};
use super::merge::MergeIter;
use super::sstable::{write_table, TableConfig, TableMeta};
use super::table_set::{LookupExplanation, LookupStats, TableSet};
use super::{LsmError, TableId, Value};

/// How an [`Lsm`] is stored and when it flushes and compacts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LsmConfig {
    /// The manifest's log and the number of levels.
    pub manifest: ManifestConfig,
    /// Block size and bloom bits of new tables.
    pub table: TableConfig,
    /// The compaction policy.
    pub compaction: CompactionConfig,
    /// The active memtable is frozen once it holds this many bytes (at least 1).
    pub memtable_bytes: u64,
    /// The most frozen memtables waiting for a flush (at least 1).
    pub max_immutable_memtables: u64,
}

impl Default for LsmConfig {
    /// The parts' defaults, 64 KiB memtables, two frozen at most.
    fn default() -> Self {
        LsmConfig {
            manifest: ManifestConfig::default(),
            table: TableConfig::default(),
            compaction: CompactionConfig::default(),
            memtable_bytes: 64 * 1024,
            max_immutable_memtables: 2,
        }
    }
}

impl LsmConfig {
    /// Checks every part.
    pub fn check(&self) -> Result<(), LsmError> {
        self.table.check()?;
        self.compaction.check()?;
        if self.memtable_bytes == 0 || self.max_immutable_memtables == 0 {
            return Err(LsmError::InvalidConfig(
                "memtable_bytes and max_immutable_memtables must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// What [`Lsm::open`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LsmRecovery {
    /// Every write with an LSN at or below this is in a table (`None`: nothing flushed).
    /// The owner replays its WAL above it.
    pub last_flushed_lsn: Option<Lsn>,
    /// The manifest log's own recovery.
    pub manifest: RecoveryReport,
    /// Manifest edits replayed.
    pub edits: u64,
    /// Tables in the recovered version.
    pub tables: u64,
    /// Orphan table files deleted.
    pub orphans_deleted: Vec<String>,
}

/// One piece of background work done by [`Lsm::step`] (for the trace and the playground).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LsmEvent {
    /// The active memtable became immutable.
    MemtableFrozen {
        /// Its keys.
        entries: u64,
        /// Its accounted bytes.
        bytes: u64,
        /// Its largest LSN.
        max_lsn: Lsn,
        /// Frozen memtables now.
        immutable: u64,
    },
    /// The oldest frozen memtable was written as an L0 table; its sync is in flight.
    FlushStarted {
        /// The table.
        table: TableId,
        /// Its file size.
        bytes: u64,
        /// Its entries.
        entries: u64,
    },
    /// The table is durable; the edit adding it was appended (its sync is in flight) and
    /// reads now use the table.
    FlushRecorded {
        /// The table.
        table: TableId,
        /// The new last flushed LSN.
        last_flushed_lsn: Lsn,
    },
    /// The edit is durable: the WAL may be trimmed up to `last_flushed_lsn`.
    FlushDone {
        /// The table.
        table: TableId,
        /// Its file size.
        bytes: u64,
        /// The durable last flushed LSN.
        last_flushed_lsn: Lsn,
    },
    /// A compaction was chosen.
    CompactionPicked {
        /// Why.
        reason: ChoiceReason,
        /// Its inputs (level, table), newest first.
        inputs: Vec<(u32, TableId)>,
        /// Where the outputs go.
        output_level: u32,
        /// Whether tombstones are dropped.
        drop_tombstones: bool,
        /// A trivial move: the one input changes level by a manifest edit, unrewritten.
        trivial_move: bool,
    },
    /// The outputs were written; their sync is in flight.
    CompactionWritten {
        /// The outputs, in key order.
        outputs: Vec<TableId>,
        /// Their bytes.
        bytes: u64,
    },
    /// The outputs are durable; the edit swapping them in was appended and reads use them.
    CompactionRecorded {
        /// The outputs.
        outputs: Vec<TableId>,
    },
    /// A manual compaction asked for with [`Lsm::request_manual_compaction`] has done
    /// every step: everything that was above `bottom` is in it.
    ManualCompactionDone {
        /// The level everything went to.
        bottom: u32,
        /// Its compactions (trivial moves included).
        compactions: u64,
    },
    /// The edit is durable and the input files were deleted.
    CompactionDone {
        /// Where the outputs went.
        output_level: u32,
        /// Bytes of the inputs.
        bytes_read: u64,
        /// Bytes of the outputs.
        bytes_written: u64,
        /// The outputs.
        tables: Vec<TableId>,
        /// Tombstones the merge dropped.
        tombstones_dropped: u64,
    },
}

/// Counters of the tree's work (the amplification meters' inputs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LsmStats {
    /// `put` calls.
    pub puts: u64,
    /// `delete` calls.
    pub deletes: u64,
    /// Key + value bytes given to `put`, key bytes given to `delete`.
    pub logical_bytes: u64,
    /// Table bytes written per level (flushes count as L0, compactions as their output).
    pub level_bytes_written: Vec<u64>,
    /// Flushes started.
    pub flushes: u64,
    /// Compactions started (trivial moves included).
    pub compactions: u64,
    /// Of which steps of manual compactions.
    pub manual_compactions: u64,
    /// Of which trivial moves (a manifest edit, no table rewritten).
    pub trivial_moves: u64,
    /// Writes replayed from the WAL by [`Lsm::redo`] (no old-value read).
    pub redo_writes: u64,
    /// Bytes compactions read.
    pub compaction_bytes_read: u64,
    /// Tombstones compactions dropped.
    pub tombstones_dropped: u64,
    /// `get` calls.
    pub lookups: u64,
    /// Their summed costs.
    pub lookup: LookupStats,
    /// Reads `put`/`delete` made for the old value.
    pub undo_lookups: u64,
    /// Their summed costs.
    pub undo_lookup: LookupStats,
    /// Range scans started.
    pub scans: u64,
}

impl LsmStats {
    /// Table bytes written over all levels.
    pub fn table_bytes_written(&self) -> u64 {
        self.level_bytes_written.iter().sum()
    }
}

fn add_lookup(to: &mut LookupStats, s: &LookupStats) {
    to.memtables_probed += s.memtables_probed;
    to.tables_probed += s.tables_probed;
    to.range_skips += s.range_skips;
    to.bloom_skips += s.bloom_skips;
    to.blocks_read += s.blocks_read;
}

/// The amplification meters (module docs).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LsmAmplification {
    /// Keys live in the tables.
    pub live_keys: u64,
    /// Their key + value bytes.
    pub live_bytes: u64,
    /// Bytes of the version's table files.
    pub file_bytes: u64,
    /// Key + value bytes the caller wrote.
    pub logical_bytes_written: u64,
    /// Table bytes written per level.
    pub level_bytes_written: Vec<u64>,
    /// Lookups.
    pub lookups: u64,
    /// Their summed costs.
    pub lookup: LookupStats,
}

impl LsmAmplification {
    /// Table bytes written per logical byte written.
    pub fn write(&self) -> f64 {
        ratio(
            self.level_bytes_written.iter().sum(),
            self.logical_bytes_written,
        )
    }

    /// Table file bytes per live byte in the tables (`inf` when nothing is live).
    pub fn space(&self) -> f64 {
        ratio(self.file_bytes, self.live_bytes)
    }

    /// Tables probed per lookup (skipped ones included).
    pub fn tables_probed_per_lookup(&self) -> f64 {
        ratio(self.lookup.tables_probed, self.lookups)
    }

    /// Tables skipped by their bloom filter per lookup.
    pub fn bloom_skips_per_lookup(&self) -> f64 {
        ratio(self.lookup.bloom_skips, self.lookups)
    }

    /// Data blocks read per lookup.
    pub fn blocks_read_per_lookup(&self) -> f64 {
        ratio(self.lookup.blocks_read, self.lookups)
    }
}

/// A sync a job waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wait {
    Pending(SyncId),
    Failed,
    Done,
}

/// The background job in progress (module docs, "Background work").
#[derive(Clone, Debug)]
enum Job {
    Idle,
    /// Flush 1 done: the table is written, waiting for its sync.
    FlushTable {
        meta: TableMeta,
        max_lsn: Lsn,
        wait: Wait,
    },
    /// Flush 2 done: the edit is appended, waiting for its sync.
    FlushEdit {
        meta: TableMeta,
        max_lsn: Lsn,
        wait: Wait,
    },
    /// Compaction 1 done.
    Picked {
        choice: Choice,
    },
    /// Compaction 2 done: outputs written, waiting for their sync.
    Outputs {
        choice: Choice,
        done: Compacted,
        wait: Wait,
    },
    /// Compaction 3 done: edit appended, waiting for its sync.
    Edit {
        choice: Choice,
        done: Compacted,
        wait: Wait,
    },
}

impl Job {
    fn wait_mut(&mut self) -> Option<&mut Wait> {
        match self {
            Job::FlushTable { wait, .. }
            | Job::FlushEdit { wait, .. }
            | Job::Outputs { wait, .. }
            | Job::Edit { wait, .. } => Some(wait),
            Job::Idle | Job::Picked { .. } => None,
        }
    }
}

/// A manual compaction in progress (module docs, "Manual compaction").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Manual {
    /// The active memtable still has to be frozen.
    freeze_first: bool,
    /// Steps start once everything up to this LSN (the last written when it was asked
    /// for) is in tables.
    flush_to: Option<Lsn>,
    /// The next level to merge down.
    next_level: u32,
    /// The level everything goes to.
    bottom: u32,
    /// Steps started so far.
    compactions: u64,
}

/// The assembled LSM index (module docs).
#[derive(Clone, Debug)]
pub struct Lsm {
    config: LsmConfig,
    manifest: Manifest,
    tables: TableSet,
    active: Memtable,
    /// Newest first.
    frozen: VecDeque<ImmutableMemtable>,
    /// The largest LSN written or recovered.
    last_lsn: Option<Lsn>,
    durable_flushed_lsn: Option<Lsn>,
    /// The owner's WAL is durable below this (`None`: no WAL rule, a standalone index).
    wal_durable: Option<Lsn>,
    job: Job,
    /// A manual compaction asked for and not finished.
    manual: Option<Manual>,
    stats: LsmStats,
    last_lookup: LookupStats,
}

impl Lsm {
    /// Opens (recovers) the index: replays the manifest, deletes orphan tables, opens the
    /// version's tables (module docs, call order 1).
    pub fn open<S: Storage + ?Sized>(
        storage: &mut S,
        config: LsmConfig,
    ) -> Result<(Lsm, LsmRecovery), LsmError> {
        config.check()?;
        let (manifest, report) = Manifest::open(storage, config.manifest.clone())?;
        // Right after a crash or a fresh load everything read is durable; on a storage with
        // unsynced changes the replayed edits may not be, so nothing is claimed yet.
        let durable_flushed_lsn = if storage.has_volatile_changes() {
            None
        } else {
            manifest.version().last_flushed_lsn()
        };
        let orphans = orphan_tables(&storage.list(), manifest.version());
        // A manifest that records nothing can leave at most one orphan, table 0 (the
        // first flush, crashed before its edit). Others mean the manifest was lost:
        // deleting them would delete the data, so refuse.
        if manifest.edits() == 0
            && orphans
                .iter()
                .any(|f| TableId::parse_file_name(f) != Some(TableId(0)))
        {
            return Err(LsmError::Inconsistent(format!(
                "{} table files but the manifest records no edit (lost or replaced?): refusing to delete them as orphans",
                orphans.len()
            )));
        }
        for f in &orphans {
            storage.delete(f)?;
        }
        let mut tables = TableSet::new();
        tables.refresh(storage, manifest.version())?;
        let last_flushed_lsn = manifest.version().last_flushed_lsn();
        let recovery = LsmRecovery {
            last_flushed_lsn,
            manifest: report,
            edits: manifest.edits(),
            tables: manifest.version().table_count() as u64,
            orphans_deleted: orphans,
        };
        let levels = manifest.version().num_levels() as usize;
        let lsm = Lsm {
            config,
            manifest,
            tables,
            active: Memtable::new(),
            frozen: VecDeque::new(),
            last_lsn: last_flushed_lsn,
            durable_flushed_lsn,
            wal_durable: None,
            job: Job::Idle,
            manual: None,
            stats: LsmStats {
                level_bytes_written: vec![0; levels],
                ..LsmStats::default()
            },
            last_lookup: LookupStats::default(),
        };
        lsm.validate();
        Ok((lsm, recovery))
    }

    /// The configuration.
    pub fn config(&self) -> &LsmConfig {
        &self.config
    }

    /// The current version (tables per level).
    pub fn version(&self) -> &Version {
        self.manifest.version()
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The counters.
    pub fn stats(&self) -> &LsmStats {
        &self.stats
    }

    /// What the last [`Lsm::get`] cost.
    pub fn last_lookup(&self) -> LookupStats {
        self.last_lookup
    }

    /// The active memtable.
    pub fn active_memtable(&self) -> &Memtable {
        &self.active
    }

    /// The frozen memtables, newest first.
    pub fn immutable_memtables(&self) -> impl Iterator<Item = &Memtable> {
        self.frozen.iter().map(ImmutableMemtable::as_memtable)
    }

    /// The largest LSN whose flush edit is known durable: the owner may trim its WAL up
    /// to it. After [`Lsm::open`] it is the recovered `last_flushed_lsn` if the storage held
    /// no unsynced changes (right after a crash or a fresh load), else `None` until a
    /// flush's edit sync completes.
    pub fn durable_flushed_lsn(&self) -> Option<Lsn> {
        self.durable_flushed_lsn
    }

    /// Tells the index that its owner's WAL is durable below `next` (the WAL rule: a
    /// memtable is written to a table only once every record it holds is durable in the
    /// WAL, so no table can hold a change a crash takes out of the log). An index that is
    /// never told flushes without waiting (standalone use, no WAL).
    pub fn set_wal_durable(&mut self, next: Lsn) {
        self.wal_durable = Some(next);
    }

    /// The WAL point the next flush waits for (its memtable's largest LSN + 1), if it
    /// is waiting for the owner's WAL to become durable.
    pub fn flush_waits_for_wal(&self) -> Option<Lsn> {
        let durable = self.wal_durable?;
        if !matches!(self.job, Job::Idle) {
            return None;
        }
        let max = self.frozen.back()?.max_lsn()?;
        (max >= durable).then(|| max.next())
    }

    /// The smallest LSN whose write is not yet in a durable table (in a memtable, or in
    /// a flush whose edit is not durable); `None` when every write is. A checkpoint may
    /// put its redo point at `x` once this is `None` or at least `x`.
    pub fn oldest_unflushed_lsn(&self) -> Option<Lsn> {
        let in_flush = matches!(self.job, Job::FlushEdit { .. })
            .then(|| self.durable_flushed_lsn.map_or(Lsn(0), Lsn::next));
        self.frozen
            .iter()
            .map(ImmutableMemtable::as_memtable)
            .chain(std::iter::once(&self.active))
            .filter_map(Memtable::min_lsn)
            .chain(in_flush)
            .min()
    }

    /// The background job in progress and its phase, for the playground and the crash
    /// harness: `"flush: table written"`, `"flush: edit appended"`, `"compaction: picked"`,
    /// `"compaction: outputs written"`, `"compaction: edit appended"`; `None` when idle.
    pub fn job_phase(&self) -> Option<&'static str> {
        match self.job {
            Job::Idle => None,
            Job::FlushTable { .. } => Some("flush: table written"),
            Job::FlushEdit { .. } => Some("flush: edit appended"),
            Job::Picked { .. } => Some("compaction: picked"),
            Job::Outputs { .. } => Some("compaction: outputs written"),
            Job::Edit { .. } => Some("compaction: edit appended"),
        }
    }

    /// Asks for a manual compaction of the whole tree (module docs, "Manual compaction"):
    /// freeze and flush the memtable, then merge every level whole into the next, down to
    /// the deepest level holding data. Returns whether there is anything to do — `false`
    /// (and nothing asked) when the memtables are empty and [`choose_manual`] has no step
    /// (everything is already in one level, or one run without tombstones). Asking while
    /// one is in progress starts it over from the top.
    pub fn request_manual_compaction(&mut self) -> bool {
        let version = self.manifest.version();
        let bottom = manual_bottom(version, &self.config.compaction);
        let memtables = !self.active.is_empty() || !self.frozen.is_empty();
        if !memtables && choose_manual(version, 0, bottom).is_none() {
            return false;
        }
        // Data still in memtables lands in L0 (and, size-tiered, as another run), so the
        // bottom is at least what it is now.
        self.manual = Some(Manual {
            freeze_first: !self.active.is_empty(),
            flush_to: self.last_lsn,
            next_level: 0,
            bottom,
            compactions: 0,
        });
        true
    }

    /// Whether a manual compaction was asked for and has not finished.
    pub fn manual_compaction_pending(&self) -> bool {
        self.manual.is_some()
    }

    /// Whether the job in progress is a step of a manual compaction.
    pub fn job_is_manual(&self) -> bool {
        match &self.job {
            Job::Picked { choice } | Job::Outputs { choice, .. } | Job::Edit { choice, .. } => {
                matches!(choice.reason, ChoiceReason::Manual { .. })
            }
            _ => false,
        }
    }

    /// Whether the active memtable is over its limit and cannot be frozen because the
    /// frozen queue is full (the owner should slow writes down).
    pub fn write_stalled(&self) -> bool {
        self.active.size_bytes() >= self.config.memtable_bytes
            && self.frozen.len() as u64 >= self.config.max_immutable_memtables
    }

    /// Whether no background work is in progress or due: no job, nothing frozen, the
    /// active memtable under its limit and no compaction the policy wants.
    pub fn is_idle(&self) -> bool {
        matches!(self.job, Job::Idle)
            && self.manual.is_none()
            && self.frozen.is_empty()
            && self.active.size_bytes() < self.config.memtable_bytes
            && choose(self.manifest.version(), &self.config.compaction).is_none()
    }

    fn memtables(&self) -> Vec<&Memtable> {
        std::iter::once(&self.active)
            .chain(self.frozen.iter().map(ImmutableMemtable::as_memtable))
            .collect()
    }

    fn lookup<S: Storage + ?Sized>(
        &self,
        storage: &S,
        key: &[u8],
    ) -> Result<(Option<Vec<u8>>, LookupStats), LsmError> {
        self.tables
            .get(storage, self.manifest.version(), &self.memtables(), key)
    }

    fn write<S: Storage + ?Sized>(
        &mut self,
        storage: &S,
        key: &[u8],
        value: Value,
        lsn: Lsn,
    ) -> Result<Option<Vec<u8>>, LsmError> {
        if let Some(last) = self.last_lsn {
            if lsn <= last {
                return Err(LsmError::LsnNotIncreasing { lsn, last });
            }
        }
        let (old, cost) = self.lookup(storage, key)?;
        let logical = key.len() as u64 + value.len_bytes();
        let is_put = !value.is_tombstone();
        self.active.apply(key, value, lsn)?;
        self.last_lsn = Some(lsn);
        self.stats.undo_lookups += 1;
        add_lookup(&mut self.stats.undo_lookup, &cost);
        self.stats.logical_bytes += logical;
        if is_put {
            self.stats.puts += 1;
        } else {
            self.stats.deletes += 1;
        }
        Ok(old)
    }

    /// Records `key = value` under `lsn` (above every LSN so far) in the active memtable;
    /// returns the value before (the undo information).
    pub fn put<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        key: &[u8],
        value: &[u8],
        lsn: Lsn,
    ) -> Result<Option<Vec<u8>>, LsmError> {
        self.write(storage, key, Value::Put(value.to_vec()), lsn)
    }

    /// Replays a write from the owner's WAL during recovery: like [`Lsm::put`] (or
    /// [`Lsm::delete`] for `None`) but *blind* — redo needs no undo information, so it
    /// reads nothing (an LSM write is a memtable insert; only the old-value read for undo
    /// costs a lookup).
    pub fn redo(&mut self, key: &[u8], value: Option<&[u8]>, lsn: Lsn) -> Result<(), LsmError> {
        if let Some(last) = self.last_lsn {
            if lsn <= last {
                return Err(LsmError::LsnNotIncreasing { lsn, last });
            }
        }
        let value = value.map_or(Value::Tombstone, |v| Value::Put(v.to_vec()));
        self.active.apply(key, value, lsn)?;
        self.last_lsn = Some(lsn);
        self.stats.redo_writes += 1;
        Ok(())
    }

    /// Records a tombstone for `key` under `lsn`; returns the value before (`None`: the
    /// key was absent, and the tombstone is still written, as a blind LSM delete would).
    pub fn delete<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        key: &[u8],
        lsn: Lsn,
    ) -> Result<Option<Vec<u8>>, LsmError> {
        self.write(storage, key, Value::Tombstone, lsn)
    }

    /// The live value of `key` (memtables, then L0 newest first, then one table per level).
    pub fn get<S: Storage + ?Sized>(
        &mut self,
        storage: &S,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, LsmError> {
        let (v, cost) = self.lookup(storage, key)?;
        self.stats.lookups += 1;
        add_lookup(&mut self.stats.lookup, &cost);
        self.last_lookup = cost;
        Ok(v)
    }

    /// The path [`Lsm::get`] would take for `key` — every memtable and table it would
    /// consult, which ones their key range or bloom filter rules out, which data blocks it
    /// reads — without doing the lookup: read-only, no counter moves (neither
    /// [`Lsm::stats`], [`Lsm::last_lookup`] nor the tables' own). Its
    /// [`LookupExplanation::stats`] equal the [`LookupStats`] a `get` now would report.
    pub fn explain_get<S: Storage + ?Sized>(
        &self,
        storage: &S,
        key: &[u8],
    ) -> Result<LookupExplanation, LsmError> {
        self.tables
            .explain_get(storage, self.manifest.version(), &self.memtables(), key)
    }

    /// The live entries with keys in the bounds, in key order: a merge over the memtables
    /// and every table that may hold such keys, newest first, tombstones hidden.
    pub fn range<'a, S: Storage + ?Sized>(
        &'a mut self,
        storage: &'a S,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
    ) -> Result<LsmRange<'a, S>, LsmError> {
        self.stats.scans += 1;
        let this: &'a Lsm = self;
        let merge = this
            .tables
            .range(this.manifest.version(), &this.memtables(), lo, hi)?;
        Ok(LsmRange {
            inner: merge.iter(storage),
        })
    }

    /// Hands a storage completion to the index (every completion the owner drains).
    pub fn handle_sync_completion(&mut self, completion: &SyncCompletion) {
        self.manifest.handle_sync_completion(completion);
        if let Some(wait) = self.job.wait_mut() {
            if let Wait::Pending(id) = *wait {
                if completion.id >= id {
                    // A later success covers every earlier sync; a failure of ours (or
                    // of a later one, which means ours was never reported) needs a retry.
                    *wait = if completion.result.is_ok() {
                        Wait::Done
                    } else {
                        Wait::Failed
                    };
                }
            }
        }
    }

    /// Freezes the active memtable now if it is not empty and the frozen queue has room
    /// (to flush everything, e.g. before a shutdown).
    pub fn freeze(&mut self) -> Option<LsmEvent> {
        if self.active.is_empty() || self.frozen.len() as u64 >= self.config.max_immutable_memtables
        {
            return None;
        }
        let m = std::mem::take(&mut self.active);
        let event = LsmEvent::MemtableFrozen {
            entries: m.len() as u64,
            bytes: m.size_bytes(),
            max_lsn: m.max_lsn().expect("not empty"),
            immutable: self.frozen.len() as u64 + 1,
        };
        self.frozen.push_front(m.freeze());
        Some(event)
    }

    fn request_sync<S: Storage + ?Sized>(&mut self, storage: &mut S) -> Result<Wait, LsmError> {
        Ok(Wait::Pending(self.manifest.request_sync(storage)?))
    }

    /// Does one bounded piece of background work (module docs); `None` when there is
    /// nothing to do or the current job waits for a sync.
    pub fn step<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
    ) -> Result<Option<LsmEvent>, LsmError> {
        if self.active.size_bytes() >= self.config.memtable_bytes {
            if let Some(e) = self.freeze() {
                return Ok(Some(e));
            }
        }
        if self.manual.is_some_and(|m| m.freeze_first) {
            // A manual compaction starts by freezing what the memtable holds (once the
            // frozen queue has room).
            let frozen = self.freeze();
            if frozen.is_some() || self.active.is_empty() {
                if let Some(m) = &mut self.manual {
                    m.freeze_first = false;
                }
            }
            if let Some(e) = frozen {
                return Ok(Some(e));
            }
        }
        let job = std::mem::replace(&mut self.job, Job::Idle);
        let (job, event) = self.advance_job(storage, job)?;
        self.job = job;
        Ok(event)
    }

    fn advance_job<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        job: Job,
    ) -> Result<(Job, Option<LsmEvent>), LsmError> {
        // A failed sync is retried first, whatever the phase.
        let mut job = job;
        if let Some(w) = job.wait_mut() {
            match *w {
                Wait::Failed => {
                    *w = self.request_sync(storage)?;
                    return Ok((job, None));
                }
                Wait::Pending(_) => return Ok((job, None)),
                Wait::Done => {}
            }
        }
        Ok(match job {
            Job::Idle => self.start_job(storage)?,
            Job::FlushTable { meta, max_lsn, .. } => {
                let edit = VersionEdit {
                    added: vec![(0, meta.clone())],
                    next_table_id: Some(meta.id.0 + 1),
                    last_flushed_lsn: Some(max_lsn),
                    ..VersionEdit::default()
                };
                self.manifest.append(storage, &edit)?;
                let wait = self.request_sync(storage)?;
                self.tables.refresh(storage, self.manifest.version())?;
                let flushed = self.frozen.pop_back().expect("the memtable being flushed");
                assert_eq!(flushed.max_lsn(), Some(max_lsn), "flushed the oldest");
                let event = LsmEvent::FlushRecorded {
                    table: meta.id,
                    last_flushed_lsn: max_lsn,
                };
                (
                    Job::FlushEdit {
                        meta,
                        max_lsn,
                        wait,
                    },
                    Some(event),
                )
            }
            Job::FlushEdit { meta, max_lsn, .. } => {
                self.durable_flushed_lsn = Some(max_lsn);
                let event = LsmEvent::FlushDone {
                    table: meta.id,
                    bytes: meta.size_bytes,
                    last_flushed_lsn: max_lsn,
                };
                (Job::Idle, Some(event))
            }
            Job::Picked { choice } => {
                let done = compact(
                    storage,
                    &choice,
                    self.manifest.version().next_table_id(),
                    self.config.table,
                    self.config.compaction.target_file_bytes,
                )?;
                let wait = self.request_sync(storage)?;
                self.stats.level_bytes_written[choice.output_level as usize] +=
                    done.stats.output_bytes;
                let event = LsmEvent::CompactionWritten {
                    outputs: done.outputs.iter().map(|t| t.id).collect(),
                    bytes: done.stats.output_bytes,
                };
                (Job::Outputs { choice, done, wait }, Some(event))
            }
            Job::Outputs { choice, done, .. } => {
                self.manifest.append(storage, &done.edit)?;
                let wait = self.request_sync(storage)?;
                self.tables.refresh(storage, self.manifest.version())?;
                let event = LsmEvent::CompactionRecorded {
                    outputs: done.outputs.iter().map(|t| t.id).collect(),
                };
                (Job::Edit { choice, done, wait }, Some(event))
            }
            Job::Edit { choice, done, .. } => {
                if done.moved {
                    self.stats.trivial_moves += 1;
                } else {
                    for input in &choice.inputs {
                        storage.delete(&input.table.id.file_name())?;
                    }
                }
                self.stats.compaction_bytes_read += done.stats.input_bytes;
                self.stats.tombstones_dropped += done.stats.merge.tombstones_dropped;
                let event = LsmEvent::CompactionDone {
                    output_level: choice.output_level,
                    bytes_read: done.stats.input_bytes,
                    bytes_written: done.stats.output_bytes,
                    tables: done.outputs.iter().map(|t| t.id).collect(),
                    tombstones_dropped: done.stats.merge.tombstones_dropped,
                };
                (Job::Idle, Some(event))
            }
        })
    }

    fn start_job<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
    ) -> Result<(Job, Option<LsmEvent>), LsmError> {
        // A manual compaction whose data is all in tables takes turns with flushes: a
        // flush goes first only when the frozen queue is full (else, under a steady write
        // load, flushes would always go first and the manual compaction never run).
        let manual_ready = self.manual.is_some_and(|m| {
            !m.freeze_first
                && m.flush_to.is_none_or(|t| {
                    self.manifest
                        .version()
                        .last_flushed_lsn()
                        .is_some_and(|f| f >= t)
                })
        });
        let flush_first =
            !manual_ready || self.frozen.len() as u64 >= self.config.max_immutable_memtables;
        if let Some(oldest) = self.frozen.back().filter(|_| flush_first) {
            let id = self.manifest.version().next_table_id();
            let max_lsn = oldest.max_lsn().expect("frozen memtables are not empty");
            if self.wal_durable.is_some_and(|d| max_lsn >= d) {
                // The WAL rule: wait (flushes go before compactions, so nothing else runs).
                return Ok((Job::Idle, None));
            }
            let meta = write_table(storage, id, self.config.table, oldest.iter())?;
            let wait = self.request_sync(storage)?;
            self.stats.flushes += 1;
            self.stats.level_bytes_written[0] += meta.size_bytes;
            let event = LsmEvent::FlushStarted {
                table: id,
                bytes: meta.size_bytes,
                entries: meta.entries,
            };
            return Ok((
                Job::FlushTable {
                    meta,
                    max_lsn,
                    wait,
                },
                Some(event),
            ));
        }
        let choice = match self.manual {
            // What was written before the request is not in tables yet: wait for it.
            Some(_) if !manual_ready => return Ok((Job::Idle, None)),
            Some(m) => match choose_manual(self.manifest.version(), m.next_level, m.bottom) {
                Some((level, choice)) => {
                    self.manual = Some(Manual {
                        next_level: level + 1,
                        compactions: m.compactions + 1,
                        ..m
                    });
                    self.stats.manual_compactions += 1;
                    choice
                }
                None => {
                    self.manual = None;
                    let event = LsmEvent::ManualCompactionDone {
                        bottom: m.bottom,
                        compactions: m.compactions,
                    };
                    return Ok((Job::Idle, Some(event)));
                }
            },
            None => {
                let Some(choice) = choose(self.manifest.version(), &self.config.compaction) else {
                    return Ok((Job::Idle, None));
                };
                choice
            }
        };
        self.stats.compactions += 1;
        let event = LsmEvent::CompactionPicked {
            reason: choice.reason.clone(),
            inputs: choice
                .inputs
                .iter()
                .map(|i| (i.level, i.table.id))
                .collect(),
            output_level: choice.output_level,
            drop_tombstones: choice.drop_tombstones,
            trivial_move: choice.trivial_move().is_some(),
        };
        Ok((Job::Picked { choice }, Some(event)))
    }

    /// Live keys and their key + value bytes over the memtables *and* the tables (a
    /// merge, newest entry per key wins, tombstones dropped): O(data).
    pub fn live<S: Storage + ?Sized>(&self, storage: &S) -> Result<(u64, u64), LsmError> {
        let merge = self.tables.range(
            self.manifest.version(),
            &self.memtables(),
            Bound::Unbounded,
            Bound::Unbounded,
        )?;
        let (mut keys, mut bytes) = (0, 0);
        for e in merge.iter(storage) {
            let e = e?;
            keys += 1;
            bytes += e.key.len() as u64 + e.value.len_bytes();
        }
        Ok((keys, bytes))
    }

    /// The amplification meters. Live bytes come from a merge over every table
    /// (newest entry per key wins, tombstones dropped): exact, O(table data).
    pub fn amplification<S: Storage + ?Sized>(
        &self,
        storage: &S,
    ) -> Result<LsmAmplification, LsmError> {
        let version = self.manifest.version();
        let merge = self
            .tables
            .range(version, &[], Bound::Unbounded, Bound::Unbounded)?;
        let (mut live_keys, mut live_bytes) = (0, 0);
        for e in merge.iter(storage) {
            let e = e?;
            live_keys += 1;
            live_bytes += e.key.len() as u64 + e.value.len_bytes();
        }
        Ok(LsmAmplification {
            live_keys,
            live_bytes,
            file_bytes: version.total_bytes(),
            logical_bytes_written: self.stats.logical_bytes,
            level_bytes_written: self.stats.level_bytes_written.clone(),
            lookups: self.stats.lookups,
            lookup: self.stats.lookup,
        })
    }

    /// Checks the invariants in the module docs; panics on a violation (a bug).
    pub fn validate(&self) {
        self.manifest.validate();
        let version = self.manifest.version();
        self.tables.validate(version);
        self.active.validate();
        assert!(
            self.frozen.iter().all(|m| !m.is_empty()),
            "an empty frozen memtable"
        );
        assert!(
            self.frozen.len() as u64 <= self.config.max_immutable_memtables,
            "too many frozen memtables"
        );
        // LSNs increase from the tables to the oldest frozen memtable to the active one.
        let mut floor = version.last_flushed_lsn();
        for m in self
            .frozen
            .iter()
            .rev()
            .map(ImmutableMemtable::as_memtable)
            .chain(std::iter::once(&self.active))
        {
            m.validate();
            let (Some(lo), Some(hi)) = (m.min_lsn(), m.max_lsn()) else {
                continue;
            };
            assert!(
                floor.is_none_or(|f| lo > f),
                "memtable LSNs {lo}..={hi} not above {floor:?}"
            );
            floor = Some(hi);
        }
        assert!(
            floor.is_none_or(|f| self.last_lsn.is_some_and(|l| l >= f)),
            "last LSN below the data"
        );
        assert!(
            self.durable_flushed_lsn
                .is_none_or(|d| version.last_flushed_lsn().is_some_and(|l| d <= l)),
            "durable flushed LSN above the version's"
        );
        if let Some(m) = self.manual {
            assert!(
                m.bottom < version.num_levels(),
                "manual compaction below the last level"
            );
        }
        assert_eq!(
            self.stats.level_bytes_written.len(),
            version.num_levels() as usize,
            "one write counter per level"
        );
        match &self.job {
            Job::Idle => {}
            Job::FlushTable { meta, max_lsn, .. } => {
                assert!(
                    version.find(meta.id).is_none(),
                    "flushed table recorded early"
                );
                assert_eq!(self.frozen.back().and_then(|m| m.max_lsn()), Some(*max_lsn));
            }
            Job::FlushEdit { meta, .. } => {
                assert!(
                    version.find(meta.id).is_some(),
                    "flushed table not recorded"
                );
            }
            Job::Picked { choice } | Job::Outputs { choice, .. } => {
                for i in &choice.inputs {
                    assert!(version.find(i.table.id).is_some(), "input gone early");
                }
            }
            Job::Edit { choice, done, .. } => {
                for i in &choice.inputs {
                    assert!(
                        done.moved || version.find(i.table.id).is_none(),
                        "input still listed"
                    );
                }
                for t in &done.outputs {
                    assert!(version.find(t.id).is_some(), "output not listed");
                }
            }
        }
    }
}

/// The live entries of a range scan (see [`Lsm::range`]).
pub struct LsmRange<'a, S: Storage + ?Sized> {
    inner: MergeIter<'a, 'a, S>,
}

impl<S: Storage + ?Sized> Iterator for LsmRange<'_, S> {
    type Item = Result<(Vec<u8>, Vec<u8>), LsmError>;

    fn next(&mut self) -> Option<Self::Item> {
        let e = self.inner.next()?;
        Some(e.map(|e| {
            let v = match e.value {
                Value::Put(v) => v,
                Value::Tombstone => unreachable!("the merge drops tombstones"),
            };
            (e.key, v)
        }))
    }
}

impl<S: Storage + ?Sized> std::fmt::Debug for LsmRange<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LsmRange").finish_non_exhaustive()
    }
}
