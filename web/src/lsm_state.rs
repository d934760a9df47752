//! The LSM view's pure state: [`LsmTrace`], a fold over the LSM database's events
//! ([`DbEvent::Lsm`], [`DbEvent::Recovery`]) kept by the engine itself (so it is part of
//! every snapshot and a function of the timeline's position), the engine's snapshot at the
//! position, the timeline around it, plus the forms. Tested natively; the effects live in
//! [`crate::lsm_view`], the engine glue in [`crate::lsm_engine`], the recording in
//! [`crate::lsm_run`].
//!
//! What the trace keeps beyond the snapshot (all times are virtual milliseconds):
//! * the background job in progress, phase by phase (a flush: table written, edit
//!   appended, done; a compaction: picked, outputs written, edit appended, done), so the
//!   view can highlight a compaction's inputs and then its outputs;
//! * table highlights (just flushed, compaction input, compaction output, moved), each
//!   until a virtual time ([`MARK_MS`] after the event);
//! * a short event log ([`MAX_LOG`] entries, newest first) and counters of freezes,
//!   flushes and compactions since the run began;
//! * one sentence for the polite live region, at most every [`ANNOUNCE_EVERY_MS`], so a
//!   screen reader is told about flushes and compactions without being flooded;
//! * the last crash's recovery, and both databases' write amplification over time.
//!
//! The view state adds what is not part of the run: the last lookup's path (a lookup is a
//! read and runs on a copy of the engine), the recovery animation (steps revealed a few at
//! a time after a crash the user just caused), errors and form drafts.

use logspine_core::vec_map::VecMap;
use std::collections::VecDeque;
use std::rc::Rc;

use logspine_core::db::{DbAmplification, DbEvent, DbStats, RecoveryStep};
use logspine_core::lsm::table_set::{LookupExplanation, ProbeOutcome, ProbeSource};
use logspine_core::lsm::LsmEvent;

use crate::chart::Series;
use crate::db_state::step_case;
use crate::workload::WorkloadView;

/// Event log entries kept.
pub const MAX_LOG: usize = 12;
/// How long a table stays highlighted after a flush or compaction, in ms.
pub const MARK_MS: u64 = 1500;
/// The live region says something at most this often, in ms.
pub const ANNOUNCE_EVERY_MS: u64 = 3000;
/// Recovery steps listed (the rest are counted by case).
pub const MAX_STEPS_LISTED: usize = 40;
/// Recovery steps listed per case label, so every case shows (analysis reads many).
pub const MAX_STEPS_PER_CASE: u64 = 4;
/// The recovery list is revealed in at most this many timer steps.
pub const MAX_REVEALS: usize = 30;

/// A memtable, for the view.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemtableView {
    /// Keys in it.
    pub entries: u64,
    /// Its accounted bytes.
    pub bytes: u64,
    /// Its smallest LSN.
    pub min_lsn: Option<u64>,
    /// Its largest LSN.
    pub max_lsn: Option<u64>,
}

/// A table, for the view.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableView {
    /// Its id.
    pub id: u64,
    /// File bytes.
    pub size_bytes: u64,
    /// Entries (tombstones included).
    pub entries: u64,
    /// Smallest key (lossy UTF-8).
    pub min_key: String,
    /// Largest key.
    pub max_key: String,
}

/// A level, for the view.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LevelView {
    /// 0, 1, …
    pub level: u32,
    /// Bytes of its tables.
    pub bytes: u64,
    /// Its target size (`None` for L0, which is triggered by its table count).
    pub target_bytes: Option<u64>,
    /// Its tables (L0 newest first, deeper levels in key order).
    pub tables: Vec<TableView>,
}

/// The LSM tree's structure now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LsmShape {
    /// The active memtable.
    pub active: MemtableView,
    /// Its freeze threshold.
    pub memtable_limit: u64,
    /// Frozen memtables, newest first.
    pub frozen: Vec<MemtableView>,
    /// The most that may be frozen.
    pub max_frozen: u64,
    /// The levels.
    pub levels: Vec<LevelView>,
    /// `Lsm::job_phase`.
    pub job_phase: Option<&'static str>,
    /// Every write at or below this is in a table.
    pub last_flushed_lsn: Option<u64>,
    /// `Lsm::write_stalled`.
    pub write_stalled: bool,
}

/// Counters of the LSM tree's work since it opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LsmCounters {
    /// Flushes started.
    pub flushes: u64,
    /// Compactions started (trivial moves included).
    pub compactions: u64,
    /// Of which trivial moves.
    pub trivial_moves: u64,
    /// Bytes compactions read.
    pub compaction_bytes_read: u64,
    /// Table bytes written (flushes and compactions).
    pub table_bytes_written: u64,
}

/// The mirror from the B-tree database to the LSM database.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MirrorView {
    /// Transactions replayed on the LSM database and acknowledged there.
    pub mirrored: u64,
    /// Committed on the B-tree, not yet begun on the LSM database.
    pub backlog: u64,
    /// Begun on the LSM database, not yet acknowledged.
    pub in_flight: u64,
    /// Whether new workload transactions wait because the backlog is full, or because
    /// the LSM database is recovering.
    pub paused: bool,
}

/// After a crash: did the acknowledged keys come back?
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyCheck {
    /// Acknowledged keys before the crash.
    pub before: u64,
    /// Keys after recovery (and undo).
    pub after: u64,
    /// Keys whose value changed: commits in flight at the crash whose commit record
    /// survived anyway (allowed: they were never acknowledged, either way is correct).
    pub in_flight_survived: u64,
    /// Every acknowledged key has its value back, and nothing else changed.
    pub matches: bool,
}

/// The engine's state as of its last drain.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PairSnapshot {
    /// The LSM tree's structure.
    pub shape: Rc<LsmShape>,
    /// The B-tree database's amplification (recomputed at most every 500 ms).
    pub btree_amp: DbAmplification,
    /// The LSM database's.
    pub lsm_amp: DbAmplification,
    /// When they were computed.
    pub amp_at_ms: u64,
    /// The B-tree database's counters.
    pub btree_stats: DbStats,
    /// The LSM database's counters.
    pub lsm_stats: DbStats,
    /// The LSM tree's work.
    pub counters: LsmCounters,
    /// The workload (running on the B-tree database).
    pub workload: WorkloadView,
    /// The mirror to the LSM database.
    pub mirror: MirrorView,
    /// The LSM database is rolling back recovery's losers.
    pub recovering: bool,
    /// The last crash's key check, once recovery has finished.
    pub key_check: Option<KeyCheck>,
    /// Nothing in flight: the workload is stopped and both databases hold the same keys.
    pub settled: bool,
    /// The position: virtual milliseconds since the run began.
    pub now_ms: u64,
}

/// The two databases' write amplification over time, side by side: one sample per
/// recomputation of the amplification (every [`crate::lsm_engine::AMP_EVERY_MS`] of
/// virtual time, so the charts' [`crate::chart::MAX_SAMPLES`] span a minute). The values
/// are the engine's own ([`DbAmplification::write`]). Cleared when the LSM database
/// reopens, since its counters restart at zero then (the B-tree's line restarts with it, so
/// the two stay aligned). Part of [`LsmTrace`], so the charts show the run at the position.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AmpCharts {
    /// The B-tree database's write amplification.
    pub btree_write: Series,
    /// The LSM database's.
    pub lsm_write: Series,
    /// The `amp_at_ms` of the last sample.
    at_ms: Option<u64>,
}

impl AmpCharts {
    /// Takes a sample computed at `at_ms`, unless one was already taken then.
    pub fn sample(&mut self, at_ms: u64, btree: &DbAmplification, lsm: &DbAmplification) {
        if self.at_ms == Some(at_ms) {
            return;
        }
        self.at_ms = Some(at_ms);
        self.btree_write.push(btree.write);
        self.lsm_write.push(lsm.write);
    }
}

/// A lookup's result.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LookupView {
    /// The key.
    pub key: String,
    /// Its acknowledged value in the B-tree database.
    pub btree_value: Option<String>,
    /// In the LSM database.
    pub lsm_value: Option<String>,
    /// The LSM tree's path (from `Lsm::explain_get`, taken just before the `get`).
    pub explanation: LookupExplanation,
    /// The key was locked by a commit in flight: `Db::get` answered from the
    /// transaction table without asking the index.
    pub locked: bool,
    /// The `get`'s own counters equal the explanation's tally (`None` when locked).
    pub agrees: Option<bool>,
    /// The table ids per level when the lookup ran (levels searched in order).
    pub levels: Vec<Vec<u64>>,
}

/// How a lookup treated one table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableProbe {
    /// The key's newest entry is here.
    Found,
    /// A data block read that did not find the key (a bloom false positive).
    BlockRead,
    /// Ruled out by its bloom filter.
    Bloom,
    /// Ruled out by its key range.
    Range,
    /// Never consulted: the lookup stopped earlier.
    NotReached,
}

impl TableProbe {
    /// For `data-probe` and CSS.
    pub fn as_str(self) -> &'static str {
        match self {
            TableProbe::Found => "found",
            TableProbe::BlockRead => "block-read",
            TableProbe::Bloom => "bloom",
            TableProbe::Range => "range",
            TableProbe::NotReached => "not-reached",
        }
    }

    /// For people.
    pub fn text(self) -> &'static str {
        match self {
            TableProbe::Found => "found: 1 block read",
            TableProbe::BlockRead => "1 block read, not there (bloom false positive)",
            TableProbe::Bloom => "skipped by bloom filter",
            TableProbe::Range => "skipped by key range",
            TableProbe::NotReached => "not reached",
        }
    }
}

impl LookupView {
    /// How the lookup treated table `id` at `level` (`None`: the table did not exist then).
    /// Below L0 a lookup binary-searches the level's key ranges and consults at most one
    /// table, so the others there were ruled out by key range without a probe.
    pub fn probe_of(&self, level: u32, id: u64) -> Option<TableProbe> {
        let existed = self
            .levels
            .get(level as usize)
            .is_some_and(|ids| ids.contains(&id));
        if !existed {
            return None;
        }
        for s in &self.explanation.steps {
            if let ProbeSource::Table { id: t, .. } = s.source {
                if t.0 == id {
                    return Some(match s.outcome {
                        ProbeOutcome::Found { .. } => TableProbe::Found,
                        ProbeOutcome::NotFound => TableProbe::BlockRead,
                        ProbeOutcome::SkippedByBloom => TableProbe::Bloom,
                        ProbeOutcome::SkippedByRange | ProbeOutcome::NotInMemtable => {
                            TableProbe::Range
                        }
                    });
                }
            }
        }
        // Not consulted: every L0 table is a candidate, so the lookup stopped before it;
        // deeper, a level past the one it stopped at was never reached, and at or above
        // it the binary search ruled the table out by key range.
        let reached = match self.explanation.found_in() {
            Some(ProbeSource::Memtable(_)) => false,
            Some(ProbeSource::Table { level: stop, .. }) => level <= stop,
            None => true,
        };
        Some(if level > 0 && reached {
            TableProbe::Range
        } else {
            TableProbe::NotReached
        })
    }

    /// The memtable the lookup stopped at, and how many it consulted.
    pub fn memtables(&self) -> (u64, Option<usize>) {
        let n = self.explanation.stats().memtables_probed;
        let hit = match self.explanation.found_in() {
            Some(ProbeSource::Memtable(i)) => Some(i),
            _ => None,
        };
        (n, hit)
    }

    /// One sentence.
    pub fn summary(&self) -> String {
        let s = self.explanation.stats();
        let value = match &self.lsm_value {
            Some(v) => format!("{v:?}"),
            None => "not found".to_owned(),
        };
        if self.locked {
            return format!(
                "get {:?} → {value}: the key is locked by a commit in flight, so the database \
                 answered from that transaction's before-image; had it asked the tree, the path \
                 would be as below.",
                self.key
            );
        }
        format!(
            "get {:?} → {value}: {} memtable{} and {} table{} consulted; {} skipped by key range, \
             {} by bloom filter; {} data block{} read.",
            self.key,
            s.memtables_probed,
            plural(s.memtables_probed),
            s.tables_probed,
            plural(s.tables_probed),
            s.range_skips,
            s.bloom_skips,
            s.blocks_read,
            plural(s.blocks_read),
        )
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Bytes for people: "812 B", "3.4 KiB".
pub fn bytes_text(n: u64) -> String {
    if n < 1024 {
        format!("{n} B")
    } else {
        #[expect(
            clippy::cast_precision_loss,
            reason = "byte counts far below 2^53, shown to one decimal"
        )]
        let k = n as f64 / 1024.0;
        format!("{} KiB", crate::decimal::fixed(k, 1))
    }
}

/// A highlight on a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkKind {
    /// Just flushed into L0.
    Flushed,
    /// An input of the compaction in progress.
    Input,
    /// An output of the last compaction.
    Output,
    /// Moved down a level by a trivial move (no bytes rewritten).
    Moved,
}

impl MarkKind {
    /// For `data-mark` and CSS.
    pub fn as_str(self) -> &'static str {
        match self {
            MarkKind::Flushed => "flushed",
            MarkKind::Input => "input",
            MarkKind::Output => "output",
            MarkKind::Moved => "moved",
        }
    }
}

/// A highlight and until when (virtual ms; `None`: until the job ends).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    /// What.
    pub kind: MarkKind,
    /// Until.
    pub until_ms: Option<u64>,
}

/// The background job in progress, as the events told it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobView {
    /// A flush.
    Flush {
        /// The new L0 table.
        table: u64,
        /// Its bytes.
        bytes: u64,
        /// Its entries.
        entries: u64,
        /// The phase reached.
        phase: &'static str,
    },
    /// A compaction (or a trivial move).
    Compaction {
        /// Inputs (level, table).
        inputs: Vec<(u32, u64)>,
        /// Where the outputs go.
        output_level: u32,
        /// A trivial move.
        trivial: bool,
        /// Outputs, once written.
        outputs: Vec<u64>,
        /// The phase reached.
        phase: &'static str,
    },
}

impl JobView {
    /// One line.
    pub fn text(&self) -> String {
        match self {
            JobView::Flush {
                table,
                bytes,
                entries,
                phase,
            } => format!(
                "Flush into L0: table {table} ({}, {entries} entries) — {phase}",
                bytes_text(*bytes)
            ),
            JobView::Compaction {
                inputs,
                output_level,
                trivial,
                outputs,
                phase,
            } => {
                let ins = inputs
                    .iter()
                    .map(|(l, t)| format!("L{l}:{t}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let outs = if outputs.is_empty() {
                    String::new()
                } else {
                    format!(
                        " → {}",
                        outputs
                            .iter()
                            .map(u64::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                let what = if *trivial {
                    "Trivial move"
                } else {
                    "Compaction"
                };
                format!("{what} of {ins} into L{output_level}{outs} — {phase}")
            }
        }
    }
}

/// One entry of the event log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// A running number (for keys).
    pub seq: u64,
    /// When (virtual ms).
    pub at_ms: u64,
    /// freeze, flush, compaction, move.
    pub kind: &'static str,
    /// For people.
    pub text: String,
}

/// The last crash and its recovery.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryView {
    /// Which crash of the run (1, 2, …): the recovery animation follows one.
    pub crash: u64,
    /// When it crashed (virtual ms).
    pub at_ms: u64,
    /// What the crash did (the disk's report).
    pub crash_text: String,
    /// `DbRecovery::describe`.
    pub report: String,
    /// The first few steps of each case, in order.
    pub steps: Vec<RecoveryStep>,
    /// Steps per case label, all of them.
    pub tally: VecMap<&'static str, u64>,
    /// Steps in all.
    pub total: u64,
}

impl RecoveryView {
    fn add(&mut self, step: RecoveryStep) {
        let n = self.tally.entry(step_case(&step)).or_default();
        *n += 1;
        self.total += 1;
        if *n <= MAX_STEPS_PER_CASE && self.steps.len() < MAX_STEPS_LISTED {
            self.steps.push(step);
        }
    }
}

/// The fold over the LSM database's events, kept by the engine (module docs): it is part of
/// every snapshot of the engine, so seeking restores it and replay rebuilds it exactly.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LsmTrace {
    /// The job in progress.
    pub job: Option<JobView>,
    /// Table highlights.
    pub marks: VecMap<u64, Mark>,
    /// The event log, newest first.
    pub log: VecDeque<LogEntry>,
    /// Memtables frozen since the run began.
    pub freezes: u64,
    /// Flushes finished since the run began.
    pub flushes_done: u64,
    /// Compactions finished (trivial moves included).
    pub compactions_done: u64,
    /// Of which trivial moves.
    pub moves_done: u64,
    /// The live region's sentence.
    pub announcement: String,
    announced_at: Option<u64>,
    seq: u64,
    /// Crashes of the LSM database so far.
    pub crashes: u64,
    /// The last crash's recovery.
    pub recovery: Option<RecoveryView>,
    /// Write amplification over time (cleared on every crash).
    pub charts: AmpCharts,
}

impl LsmTrace {
    /// Folds the events of the step that ended at `now` (virtual ms); highlights whose time
    /// is up fade first.
    pub fn fold(&mut self, now: u64, events: impl IntoIterator<Item = DbEvent>) {
        if !self.marks.is_empty() {
            self.marks
                .retain(|_, m| m.until_ms.is_none_or(|until| until > now));
        }
        for e in events {
            match e {
                DbEvent::Lsm(e) => self.fold_lsm(e, now),
                DbEvent::Recovery(step) => {
                    if let Some(r) = &mut self.recovery {
                        r.add(step);
                    }
                }
                _ => {}
            }
        }
    }

    /// The LSM database crashed at `now` and reopened: what the crash did, recovery's
    /// report and its steps so far (undo follows as events). The job and the highlights
    /// went with the old database; the charts restart with its counters.
    pub fn crashed(&mut self, now: u64, crash: String, report: String, steps: Vec<RecoveryStep>) {
        self.crashes += 1;
        self.job = None;
        self.marks.clear();
        let mut r = RecoveryView {
            crash: self.crashes,
            at_ms: now,
            crash_text: crash,
            report,
            ..RecoveryView::default()
        };
        for step in steps {
            r.add(step);
        }
        self.recovery = Some(r);
        self.push_log(now, "crash", "Crashed and recovered".to_owned());
        self.charts = AmpCharts::default();
    }

    /// The highlight on a table, if any.
    pub fn mark_of(&self, id: u64) -> Option<MarkKind> {
        self.marks.get(&id).map(|m| m.kind)
    }

    fn fold_lsm(&mut self, e: LsmEvent, now: u64) {
        let until = Some(now + MARK_MS);
        match e {
            LsmEvent::MemtableFrozen {
                entries,
                bytes,
                immutable,
                ..
            } => {
                self.freezes += 1;
                self.push_log(
                    now,
                    "freeze",
                    format!(
                        "Memtable frozen: {entries} keys, {} ({immutable} waiting to flush)",
                        bytes_text(bytes)
                    ),
                );
            }
            LsmEvent::FlushStarted {
                table,
                bytes,
                entries,
            } => {
                self.job = Some(JobView::Flush {
                    table: table.0,
                    bytes,
                    entries,
                    phase: "table written, syncing",
                });
            }
            LsmEvent::FlushRecorded { table, .. } => {
                if let Some(JobView::Flush { phase, .. }) = &mut self.job {
                    *phase = "manifest edit appended, syncing";
                }
                self.marks.insert(
                    table.0,
                    Mark {
                        kind: MarkKind::Flushed,
                        until_ms: until,
                    },
                );
            }
            LsmEvent::FlushDone { table, bytes, .. } => {
                self.job = None;
                self.flushes_done += 1;
                self.marks.insert(
                    table.0,
                    Mark {
                        kind: MarkKind::Flushed,
                        until_ms: until,
                    },
                );
                let text = format!(
                    "Flushed a memtable into L0 as table {} ({})",
                    table.0,
                    bytes_text(bytes)
                );
                self.announce(now, &text);
                self.push_log(now, "flush", text);
            }
            LsmEvent::CompactionPicked {
                inputs,
                output_level,
                trivial_move,
                ..
            } => {
                for (_, t) in &inputs {
                    self.marks.insert(
                        t.0,
                        Mark {
                            kind: MarkKind::Input,
                            until_ms: None,
                        },
                    );
                }
                self.job = Some(JobView::Compaction {
                    inputs: inputs.iter().map(|(l, t)| (*l, t.0)).collect(),
                    output_level,
                    trivial: trivial_move,
                    outputs: Vec::new(),
                    phase: "picked",
                });
            }
            LsmEvent::CompactionWritten { outputs, .. } => {
                if let Some(JobView::Compaction {
                    outputs: o, phase, ..
                }) = &mut self.job
                {
                    *o = outputs.iter().map(|t| t.0).collect();
                    *phase = "outputs written, syncing";
                }
            }
            LsmEvent::CompactionRecorded { outputs } => {
                let trivial = matches!(self.job, Some(JobView::Compaction { trivial: true, .. }));
                if let Some(JobView::Compaction { phase, .. }) = &mut self.job {
                    *phase = "manifest edit appended, syncing";
                }
                for t in outputs {
                    self.marks.insert(
                        t.0,
                        Mark {
                            kind: if trivial {
                                MarkKind::Moved
                            } else {
                                MarkKind::Output
                            },
                            until_ms: None,
                        },
                    );
                }
            }
            LsmEvent::CompactionDone {
                output_level,
                bytes_read,
                bytes_written,
                tables,
                ..
            } => {
                let (inputs, trivial) = match self.job.take() {
                    Some(JobView::Compaction {
                        inputs, trivial, ..
                    }) => (inputs, trivial),
                    _ => (Vec::new(), false),
                };
                // Inputs are gone (or, moved, are the output); outputs glow a while.
                for (_, t) in &inputs {
                    self.marks.remove(t);
                }
                for t in &tables {
                    self.marks.insert(
                        t.0,
                        Mark {
                            kind: if trivial {
                                MarkKind::Moved
                            } else {
                                MarkKind::Output
                            },
                            until_ms: until,
                        },
                    );
                }
                self.compactions_done += 1;
                let from = logspine_core::vec_map::VecSet::from_iter(
                    inputs.iter().map(|(l, _)| format!("L{l}")),
                )
                .into_iter()
                .collect::<Vec<_>>()
                .join("+");
                let ids = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
                let (kind, text) = if trivial {
                    self.moves_done += 1;
                    (
                        "move",
                        format!(
                            "Trivial move: table {} from {from} to L{output_level}, no bytes rewritten",
                            ids(&tables.iter().map(|t| t.0).collect::<Vec<_>>())
                        ),
                    )
                } else {
                    (
                        "compaction",
                        format!(
                            "Compaction {from} → L{output_level}: tables {} merged into {}; {} bytes read, {} written",
                            ids(&inputs.iter().map(|(_, t)| *t).collect::<Vec<_>>()),
                            if tables.is_empty() {
                                "nothing (all deleted)".to_owned()
                            } else {
                                ids(&tables.iter().map(|t| t.0).collect::<Vec<_>>())
                            },
                            bytes_read,
                            bytes_written
                        ),
                    )
                };
                self.announce(now, &text);
                self.push_log(now, kind, text);
            }
            _ => {}
        }
    }

    fn push_log(&mut self, at_ms: u64, kind: &'static str, text: String) {
        self.seq += 1;
        self.log.push_front(LogEntry {
            seq: self.seq,
            at_ms,
            kind,
            text,
        });
        self.log.truncate(MAX_LOG);
    }

    fn announce(&mut self, now: u64, text: &str) {
        if self
            .announced_at
            .is_none_or(|at| now.saturating_sub(at) >= ANNOUNCE_EVERY_MS)
        {
            self.announcement = format!("{text}.");
            self.announced_at = Some(now);
        }
    }
}

/// The timeline around the position, for the transport bar.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TimelineView {
    /// The position, virtual ms.
    pub position_ms: u64,
    /// The recorded end (the live edge), virtual ms.
    pub end_ms: u64,
    /// Markers (the newest [`crate::lsm_run::MAX_MARKERS`]).
    pub markers: Rc<Vec<crate::transport::TransportMarker>>,
    /// Inputs recorded after the position (an action here discards them).
    pub future_inputs: u64,
    /// Whether the run plays.
    pub playing: bool,
    /// The speed, in percent of real time.
    pub speed: u32,
}

impl TimelineView {
    /// Whether the position is the live end of the recording.
    pub fn at_end(&self) -> bool {
        self.position_ms >= self.end_ms
    }
}

/// The run at the position: what the engine hands the view.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunView {
    /// The fold at the position.
    pub trace: Rc<LsmTrace>,
    /// The engine's state at the position.
    pub snapshot: PairSnapshot,
    /// The timeline.
    pub timeline: TimelineView,
}

/// Where the view is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LsmPhase {
    /// Opening.
    #[default]
    Opening,
    /// Open.
    Ready,
    /// Failed to open, or the engine stopped.
    Failed,
}

impl LsmPhase {
    /// For `data-lsm-phase`.
    pub fn as_str(self) -> &'static str {
        match self {
            LsmPhase::Opening => "opening",
            LsmPhase::Ready => "ready",
            LsmPhase::Failed => "failed",
        }
    }
}

/// Something that happened, to fold into the state.
#[derive(Clone, Debug, PartialEq)]
pub enum LsmAction {
    /// Opening (first load).
    Opening,
    /// Open: the run at position 0.
    Opened(RunView),
    /// Opening failed, or the engine stopped.
    Failed(String),
    /// The run at the (new) position.
    Show(RunView),
    /// The user crashed the LSM database: the run after the crash; `animate` reveals the
    /// recovery steps one timer step at a time (false: all at once).
    Crashed {
        /// The run after the crash.
        view: RunView,
        /// Reveal the steps gradually.
        animate: bool,
    },
    /// One recovery animation step.
    Reveal,
    /// A lookup ran.
    LookedUp(LookupView),
    /// An error to show (a form operation).
    Error(String),
    /// The error was dismissed.
    DismissError,
    /// Form drafts.
    EditWriteKey(String),
    /// Form drafts.
    EditWriteValue(String),
    /// Form drafts.
    EditLookupKey(String),
    /// Form drafts.
    EditClients(u32),
    /// Form drafts.
    EditRate(u32),
}

/// The LSM view's state.
#[derive(Clone, Debug, PartialEq)]
pub struct LsmViewState {
    /// Where the view is.
    pub phase: LsmPhase,
    /// The fold at the position.
    pub trace: Rc<LsmTrace>,
    /// The engine's state at the position.
    pub snapshot: Option<PairSnapshot>,
    /// The timeline.
    pub timeline: TimelineView,
    /// The recovery animation: which crash, and how many of its listed steps are shown.
    pub reveal: Option<(u64, usize)>,
    /// The last lookup.
    pub lookup: Option<LookupView>,
    /// The error shown.
    pub error: Option<String>,
    /// Form drafts.
    pub write_key: String,
    /// Form drafts.
    pub write_value: String,
    /// Form drafts.
    pub lookup_key: String,
    /// Form drafts.
    pub clients: u32,
    /// Form drafts.
    pub rate: u32,
}

impl Default for LsmViewState {
    fn default() -> Self {
        LsmViewState {
            phase: LsmPhase::Opening,
            trace: Rc::default(),
            snapshot: None,
            timeline: TimelineView::default(),
            reveal: None,
            lookup: None,
            error: None,
            write_key: String::new(),
            write_value: String::new(),
            lookup_key: String::new(),
            clients: 8,
            rate: 400,
        }
    }
}

impl yew::Reducible for LsmViewState {
    type Action = LsmAction;

    fn reduce(self: Rc<Self>, action: LsmAction) -> Rc<Self> {
        let mut s = (*self).clone();
        s.apply(action);
        Rc::new(s)
    }
}

impl LsmViewState {
    /// Folds one action in.
    pub fn apply(&mut self, action: LsmAction) {
        match action {
            LsmAction::Opening => {
                self.phase = LsmPhase::Opening;
                self.error = None;
            }
            LsmAction::Opened(view) => {
                self.phase = LsmPhase::Ready;
                self.lookup = None;
                self.reveal = None;
                self.show(view);
            }
            LsmAction::Failed(message) => {
                self.phase = LsmPhase::Failed;
                self.error = Some(message);
            }
            LsmAction::Show(view) => self.show(view),
            LsmAction::Crashed { view, animate } => {
                self.show(view);
                self.reveal = match (&self.trace.recovery, animate) {
                    (Some(r), true) => Some((r.crash, 0)),
                    _ => None,
                };
            }
            LsmAction::Reveal => {
                if let (Some((crash, shown)), Some(r)) = (&mut self.reveal, &self.trace.recovery) {
                    if *crash == r.crash {
                        let chunk = r.steps.len().div_ceil(MAX_REVEALS).max(1);
                        *shown = (*shown + chunk).min(r.steps.len());
                    }
                }
            }
            LsmAction::LookedUp(view) => {
                self.lookup = Some(view);
                self.error = None;
            }
            LsmAction::Error(message) => self.error = Some(message),
            LsmAction::DismissError => {
                if self.phase != LsmPhase::Failed {
                    self.error = None;
                }
            }
            LsmAction::EditWriteKey(v) => self.write_key = v,
            LsmAction::EditWriteValue(v) => self.write_value = v,
            LsmAction::EditLookupKey(v) => self.lookup_key = v,
            LsmAction::EditClients(n) => self.clients = n,
            LsmAction::EditRate(n) => self.rate = n,
        }
    }

    fn show(&mut self, view: RunView) {
        // Steps that arrive once the animation has caught up (undo, in later steps) show
        // at once; another crash (or none, scrubbed back) ends the animation.
        let listed = self.trace.recovery.as_ref().map_or(0, |r| r.steps.len());
        self.reveal = match (self.reveal, &view.trace.recovery) {
            (Some((crash, shown)), Some(r)) if crash == r.crash => Some((
                crash,
                if shown >= listed {
                    r.steps.len()
                } else {
                    shown
                },
            )),
            _ => None,
        };
        self.trace = view.trace;
        self.snapshot = Some(view.snapshot);
        self.timeline = view.timeline;
    }

    /// Whether the forms may act.
    pub fn is_ready(&self) -> bool {
        self.phase == LsmPhase::Ready
    }

    /// How many of the last recovery's listed steps are shown (all, unless the animation
    /// of that crash is under way).
    pub fn steps_shown(&self) -> usize {
        let Some(r) = &self.trace.recovery else {
            return 0;
        };
        match self.reveal {
            Some((crash, shown)) if crash == r.crash => shown.min(r.steps.len()),
            _ => r.steps.len(),
        }
    }

    /// none | running | done (for `data-recovery`), at the position: done once every
    /// listed step is shown and the key check is in.
    pub fn recovery_state(&self) -> &'static str {
        match &self.trace.recovery {
            None => "none",
            Some(r)
                if self.steps_shown() >= r.steps.len()
                    && self
                        .snapshot
                        .as_ref()
                        .is_some_and(|s| s.key_check.is_some() && !s.recovering) =>
            {
                "done"
            }
            Some(_) => "running",
        }
    }

    /// Whether the workload runs at the position.
    pub fn workload_running(&self) -> bool {
        self.snapshot.as_ref().is_some_and(|s| s.workload.running)
    }

    /// The highlight on a table, if any.
    pub fn mark_of(&self, id: u64) -> Option<MarkKind> {
        self.trace.mark_of(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logspine_core::lsm::table_set::ProbeStep;
    use logspine_core::lsm::{ChoiceReason, TableId};
    use logspine_core::Lsn;

    fn snap(now_ms: u64) -> PairSnapshot {
        PairSnapshot {
            now_ms,
            ..PairSnapshot::default()
        }
    }

    fn engine(s: &mut LsmTrace, now: u64, events: Vec<LsmEvent>) {
        s.fold(now, events.into_iter().map(DbEvent::Lsm));
    }

    fn ready() -> LsmTrace {
        LsmTrace::default()
    }

    fn amp(write: f64) -> DbAmplification {
        DbAmplification {
            write,
            ..DbAmplification::default()
        }
    }

    #[test]
    fn write_amplification_is_charted_once_per_recomputation_and_restarts_with_the_lsm() {
        let mut s = ready();
        s.charts.sample(0, &amp(0.0), &amp(0.0));
        s.charts.sample(500, &amp(6.0), &amp(3.0));
        s.charts.sample(500, &amp(6.0), &amp(3.0));
        s.charts.sample(1000, &amp(5.5), &amp(2.5));
        assert_eq!(s.charts.btree_write.values(), vec![0.0, 6.0, 5.5]);
        assert_eq!(s.charts.lsm_write.values(), vec![0.0, 3.0, 2.5]);
        // A crash of the LSM database: both lines restart.
        s.crashed(1200, "torn".into(), "recovered".into(), vec![]);
        assert!(s.charts.btree_write.values().is_empty());
        s.charts.sample(1200, &amp(5.4), &amp(0.0));
        assert_eq!(s.charts.btree_write.values(), vec![5.4]);
        assert_eq!(s.charts.lsm_write.values(), vec![0.0]);
    }

    #[test]
    fn a_flush_moves_through_its_phases_and_marks_its_table() {
        let mut s = ready();
        engine(
            &mut s,
            10,
            vec![LsmEvent::MemtableFrozen {
                entries: 40,
                bytes: 4100,
                max_lsn: Lsn(80),
                immutable: 1,
            }],
        );
        assert_eq!(s.freezes, 1);
        engine(
            &mut s,
            20,
            vec![LsmEvent::FlushStarted {
                table: TableId(3),
                bytes: 2000,
                entries: 40,
            }],
        );
        assert!(s.job.as_ref().unwrap().text().contains("table written"));
        engine(
            &mut s,
            40,
            vec![LsmEvent::FlushRecorded {
                table: TableId(3),
                last_flushed_lsn: Lsn(80),
            }],
        );
        assert_eq!(s.mark_of(3), Some(MarkKind::Flushed));
        engine(
            &mut s,
            60,
            vec![LsmEvent::FlushDone {
                table: TableId(3),
                bytes: 2000,
                last_flushed_lsn: Lsn(80),
            }],
        );
        assert_eq!(s.job, None);
        assert_eq!(s.flushes_done, 1);
        assert_eq!(s.log[0].kind, "flush");
        assert_eq!(s.log[1].kind, "freeze");
        assert!(
            s.announcement.contains("into L0 as table 3"),
            "{}",
            s.announcement
        );
        // The highlight fades after MARK_MS.
        engine(&mut s, 60 + MARK_MS, vec![]);
        assert_eq!(s.mark_of(3), None);
    }

    fn compaction(s: &mut LsmTrace, now: u64, trivial: bool) {
        let inputs = if trivial {
            vec![(1, TableId(5))]
        } else {
            vec![(0, TableId(7)), (0, TableId(6)), (1, TableId(2))]
        };
        engine(
            s,
            now,
            vec![LsmEvent::CompactionPicked {
                reason: ChoiceReason::L0Files {
                    files: 2,
                    trigger: 2,
                },
                inputs,
                output_level: 2 - u32::from(!trivial),
                drop_tombstones: false,
                trivial_move: trivial,
            }],
        );
    }

    #[test]
    fn a_compaction_marks_inputs_then_outputs_and_counts_bytes() {
        let mut s = ready();
        compaction(&mut s, 100, false);
        for t in [7, 6, 2] {
            assert_eq!(s.mark_of(t), Some(MarkKind::Input));
        }
        engine(
            &mut s,
            125,
            vec![LsmEvent::CompactionWritten {
                outputs: vec![TableId(8), TableId(9)],
                bytes: 5000,
            }],
        );
        engine(
            &mut s,
            150,
            vec![LsmEvent::CompactionRecorded {
                outputs: vec![TableId(8), TableId(9)],
            }],
        );
        assert_eq!(s.mark_of(8), Some(MarkKind::Output));
        assert_eq!(
            s.mark_of(7),
            Some(MarkKind::Input),
            "inputs glow until done"
        );
        // Input marks do not fade by time while the job runs.
        engine(&mut s, 150 + 10 * MARK_MS, vec![]);
        assert_eq!(s.mark_of(7), Some(MarkKind::Input));
        let now = 200 + 10 * MARK_MS;
        engine(
            &mut s,
            now,
            vec![LsmEvent::CompactionDone {
                output_level: 1,
                bytes_read: 6100,
                bytes_written: 5000,
                tables: vec![TableId(8), TableId(9)],
                tombstones_dropped: 0,
            }],
        );
        assert_eq!(s.mark_of(7), None);
        assert_eq!(s.mark_of(8), Some(MarkKind::Output));
        assert_eq!(s.compactions_done, 1);
        let text = &s.log[0].text;
        assert!(text.contains("L0+L1 → L1"), "{text}");
        assert!(text.contains("6100 bytes read, 5000 written"), "{text}");
        assert!(text.contains("7, 6, 2 merged into 8, 9"), "{text}");
        assert_eq!(s.announcement, format!("{text}."));
    }

    #[test]
    fn a_trivial_move_is_labelled_and_announcements_are_throttled() {
        let mut s = ready();
        engine(
            &mut s,
            10,
            vec![LsmEvent::FlushDone {
                table: TableId(1),
                bytes: 10,
                last_flushed_lsn: Lsn(1),
            }],
        );
        let first = s.announcement.clone();
        compaction(&mut s, 20, true);
        assert!(s.job.as_ref().unwrap().text().starts_with("Trivial move"));
        engine(
            &mut s,
            30,
            vec![
                LsmEvent::CompactionRecorded {
                    outputs: vec![TableId(5)],
                },
                LsmEvent::CompactionDone {
                    output_level: 2,
                    bytes_read: 0,
                    bytes_written: 0,
                    tables: vec![TableId(5)],
                    tombstones_dropped: 0,
                },
            ],
        );
        assert_eq!(s.mark_of(5), Some(MarkKind::Moved));
        assert_eq!(s.moves_done, 1);
        assert_eq!(s.log[0].kind, "move");
        assert!(s.log[0].text.contains("no bytes rewritten"));
        assert_eq!(
            s.announcement, first,
            "within ANNOUNCE_EVERY_MS: not repeated"
        );
        engine(
            &mut s,
            10 + ANNOUNCE_EVERY_MS,
            vec![LsmEvent::FlushDone {
                table: TableId(9),
                bytes: 10,
                last_flushed_lsn: Lsn(2),
            }],
        );
        assert!(s.announcement.contains("table 9"));
        // The log is bounded.
        for i in 0..(MAX_LOG as u64 + 5) {
            engine(
                &mut s,
                20_000 + i,
                vec![LsmEvent::FlushDone {
                    table: TableId(100 + i),
                    bytes: 10,
                    last_flushed_lsn: Lsn(3 + i),
                }],
            );
        }
        assert_eq!(s.log.len(), MAX_LOG);
    }

    fn step(source: ProbeSource, outcome: ProbeOutcome) -> ProbeStep {
        ProbeStep {
            source,
            outcome,
            table_blocks: 4,
        }
    }

    #[test]
    fn a_lookup_classifies_every_table() {
        let t = |level, id| ProbeSource::Table {
            level,
            id: TableId(id),
        };
        let view = LookupView {
            key: "k042".into(),
            btree_value: Some("v".into()),
            lsm_value: Some("v".into()),
            explanation: LookupExplanation {
                steps: vec![
                    step(ProbeSource::Memtable(0), ProbeOutcome::NotInMemtable),
                    step(t(0, 9), ProbeOutcome::SkippedByRange),
                    step(t(0, 8), ProbeOutcome::SkippedByBloom),
                    step(t(1, 4), ProbeOutcome::NotFound),
                    step(
                        t(2, 2),
                        ProbeOutcome::Found {
                            lsn: Lsn(7),
                            tombstone: false,
                        },
                    ),
                ],
                value: Some(b"v".to_vec()),
            },
            locked: false,
            agrees: Some(true),
            levels: vec![vec![9, 8], vec![3, 4, 5], vec![1, 2], vec![10]],
        };
        assert_eq!(view.probe_of(0, 9), Some(TableProbe::Range));
        assert_eq!(view.probe_of(0, 8), Some(TableProbe::Bloom));
        assert_eq!(view.probe_of(1, 4), Some(TableProbe::BlockRead));
        assert_eq!(
            view.probe_of(1, 3),
            Some(TableProbe::Range),
            "binary search"
        );
        assert_eq!(view.probe_of(2, 2), Some(TableProbe::Found));
        assert_eq!(view.probe_of(2, 1), Some(TableProbe::Range));
        assert_eq!(view.probe_of(3, 10), Some(TableProbe::NotReached));
        assert_eq!(view.probe_of(1, 77), None, "a table made after the lookup");
        assert_eq!(view.memtables(), (1, None));
        let text = view.summary();
        assert!(
            text.contains("1 memtable and 4 tables consulted; 1 skipped by key range, 1 by bloom filter; 2 data blocks read"),
            "{text}"
        );
        // Found in a memtable: no table is reached.
        let mem = LookupView {
            explanation: LookupExplanation {
                steps: vec![step(
                    ProbeSource::Memtable(0),
                    ProbeOutcome::Found {
                        lsn: Lsn(9),
                        tombstone: false,
                    },
                )],
                value: Some(b"v".to_vec()),
            },
            ..view
        };
        assert_eq!(mem.probe_of(0, 9), Some(TableProbe::NotReached));
        assert_eq!(mem.memtables(), (1, Some(0)));
    }

    #[test]
    fn recovery_steps_are_revealed_and_done_after_the_key_check() {
        let mut trace = ready();
        let mut steps = vec![RecoveryStep::LsmOpened {
            last_flushed_lsn: Some(Lsn(40)),
            tables: 3,
            orphans_deleted: 0,
        }];
        for i in 41..100 {
            steps.push(RecoveryStep::RedoLogical {
                lsn: Lsn(i),
                case: "R7",
            });
        }
        trace.crashed(500, "crash".into(), "report".into(), steps);
        let r = trace.recovery.as_ref().unwrap();
        assert_eq!((r.crash, r.at_ms), (1, 500));
        assert_eq!(r.total, 60);
        assert_eq!(r.steps.len(), 5, "a few per case");
        assert_eq!(r.tally["R6"], 1);
        assert_eq!(r.tally["R7"], 59);
        assert_eq!(trace.log[0].kind, "crash");
        let view = |trace: &LsmTrace, snapshot| RunView {
            trace: Rc::new(trace.clone()),
            snapshot,
            timeline: TimelineView::default(),
        };
        let mut s = LsmViewState::default();
        s.apply(LsmAction::Opened(view(&LsmTrace::default(), snap(0))));
        assert!(s.is_ready());
        assert_eq!(s.recovery_state(), "none");
        s.apply(LsmAction::Crashed {
            view: view(
                &trace,
                PairSnapshot {
                    recovering: true,
                    ..snap(500)
                },
            ),
            animate: true,
        });
        assert_eq!(s.steps_shown(), 0);
        assert_eq!(s.recovery_state(), "running");
        for _ in 0..MAX_REVEALS {
            s.apply(LsmAction::Reveal);
        }
        assert_eq!(s.steps_shown(), 5);
        assert_eq!(s.recovery_state(), "running", "the key check is not in");
        // Undo arrives as events, after the reveal.
        trace.fold(
            600,
            [DbEvent::Recovery(RecoveryStep::Undo {
                lsn: Lsn(99),
                txn: logspine_core::db::TxnId(4),
                case: "U3",
            })],
        );
        s.apply(LsmAction::Show(view(
            &trace,
            PairSnapshot {
                key_check: Some(KeyCheck {
                    before: 5,
                    after: 5,
                    in_flight_survived: 0,
                    matches: true,
                }),
                ..snap(600)
            },
        )));
        assert_eq!(s.trace.recovery.as_ref().unwrap().tally["U3"], 1);
        assert_eq!(s.steps_shown(), 6, "steps after the reveal show at once");
        assert_eq!(s.recovery_state(), "done");
        // Scrubbed back before the crash: no recovery; forward past it again without an
        // animation: every step at once.
        s.apply(LsmAction::Show(view(&LsmTrace::default(), snap(100))));
        assert_eq!(s.recovery_state(), "none");
        let mut second = trace.clone();
        second.crashed(900, "again".into(), "report".into(), vec![]);
        s.apply(LsmAction::Show(view(&second, snap(900))));
        assert_eq!(s.steps_shown(), 0);
        assert_eq!(s.trace.recovery.as_ref().unwrap().crash, 2);
    }

    #[test]
    fn bytes_read_like_people_write_them() {
        assert_eq!(bytes_text(812), "812 B");
        assert_eq!(bytes_text(3482), "3.4 KiB");
    }
}
