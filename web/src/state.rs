//! The playground page's state: a pure fold over what the engine reported.
//!
//! [`PlaygroundState`] never touches the browser or the engine. Every [`Action`] is
//! something that already happened — storage opened, a record appended, sync `n`
//! completed, one replay step drawn — and [`PlaygroundState::apply`] folds it in (DESIGN.md,
//! principle 4: the UI is a fold over events the engine emitted). The effects that produce
//! these actions live in [`crate::app`]; this module is unit-tested natively.
//!
//! # Phases
//! ```text
//! Opening --Opened--> Replaying --ReplayStep*--> --ReplayDone--> Ready --Opening--> Opening
//!    \--OpenFailed--> Failed --Opening (retry, salvage, erase)--> Opening
//! ```
//! The page is "ready" (root `data-ready="true"`) only in `Ready`: storage open, recovery
//! run and its records replayed onto the screen.

use std::rc::Rc;

use yew::Reducible;

/// Where the page is in its life cycle. See the module docs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Phase {
    /// Opening IndexedDB and running recovery.
    #[default]
    Opening,
    /// Recovery finished; its records are being drawn one by one.
    Replaying,
    /// Accepting input.
    Ready,
    /// Opening failed; the error says why.
    Failed,
}

impl Phase {
    /// The `data-phase` attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Opening => "opening",
            Phase::Replaying => "replaying",
            Phase::Ready => "ready",
            Phase::Failed => "failed",
        }
    }
}

/// Why the storage is being (re)opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenReason {
    /// The page loaded (or "Try again" after a failure).
    Load,
    /// The Crash button: volatile state dropped, log replayed from IndexedDB.
    Crash,
    /// Salvage after mid-log damage: truncate at the first bad record.
    Salvage,
    /// Erase: the database deleted, an empty log created.
    Erase,
}

/// One record on screen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordView {
    /// Its LSN.
    pub lsn: u64,
    /// Its payload as text (lossy UTF-8).
    pub text: String,
    /// Whether a completed sync covers it.
    pub durable: bool,
}

/// Which part of the page an error came from (decides what clears it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorSource {
    /// Opening or recovery.
    Open,
    /// An append.
    Append,
    /// Requesting a sync, or a sync's completion.
    Sync,
    /// The corrupt button.
    Corrupt,
}

/// The sync pipeline as last reported by the storage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncView {
    /// Syncs the running IndexedDB transaction covers.
    pub in_flight: Vec<u64>,
    /// Syncs waiting to ride the next transaction together.
    pub waiting: Vec<u64>,
    /// Syncs requested since the storage opened.
    pub issued: u64,
    /// IndexedDB transactions committed since the storage opened.
    pub transactions: u64,
    /// The newest completion: its id and, if it failed, why.
    pub last: Option<(u64, Option<String>)>,
}

/// Something that happened, to fold into the state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// The payload input changed.
    Edit(String),
    /// (Re)opening began: everything on screen is dropped, as a crash drops memory.
    Opening(OpenReason),
    /// Storage open and recovery done: these records survived (all durable).
    Opened {
        /// `(lsn, text)` of each recovered record, in order.
        records: Vec<(u64, String)>,
        /// `RecoveryReport::describe()`.
        report: String,
        /// Whether recovery stopped before the end (damage or a torn tail).
        stopped: bool,
    },
    /// Draw the next recovered record.
    ReplayStep,
    /// Replay finished; ready for input.
    ReplayDone,
    /// Opening or recovery failed.
    OpenFailed {
        /// The error, for people.
        error: String,
        /// Recovery refused mid-log damage: offer salvage.
        damaged: bool,
    },
    /// A record was appended (volatile).
    Appended {
        /// Its LSN.
        lsn: u64,
        /// Its text.
        text: String,
    },
    /// A sync was requested.
    SyncIssued {
        /// Its id.
        id: u64,
        /// The pipeline now.
        sync: SyncView,
    },
    /// Sync completions arrived.
    SyncsCompleted {
        /// `(id, error)` of each, in order.
        results: Vec<(u64, Option<String>)>,
        /// The log's `durable_next` after handling them.
        durable_next: u64,
        /// The pipeline now.
        sync: SyncView,
    },
    /// A bit of record `lsn` was flipped and sync `id` requested to make it durable.
    Corrupted {
        /// The damaged record.
        lsn: u64,
        /// The sync that carries the damage.
        id: u64,
        /// The pipeline now.
        sync: SyncView,
    },
    /// An operation failed; the data stays as it was.
    Failed {
        /// Where.
        source: ErrorSource,
        /// Why.
        message: String,
    },
    /// The user dismissed the error.
    DismissError,
}

/// The page's state. See the module docs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlaygroundState {
    /// Life-cycle phase.
    pub phase: Phase,
    /// Why the current/last open happened.
    pub open_reason: Option<OpenReason>,
    /// Records drawn on screen.
    pub records: Vec<RecordView>,
    /// Records recovery found, drawn one by one while replaying.
    pub recovered: Vec<RecordView>,
    /// The last recovery's report sentence.
    pub report: Option<String>,
    /// Whether the last recovery stopped before the end of the log.
    pub report_stopped: bool,
    /// The error to show in the alert, and where it came from.
    pub error: Option<(ErrorSource, String)>,
    /// Opening failed on mid-log damage (salvage possible).
    pub damaged: bool,
    /// The sync pipeline.
    pub sync: SyncView,
    /// The record whose bit was flipped since the last recovery.
    pub corrupted: Option<u64>,
    /// The payload input.
    pub draft: String,
}

impl Reducible for PlaygroundState {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut next = (*self).clone();
        next.apply(action);
        Rc::new(next)
    }
}

impl PlaygroundState {
    /// Folds one action in.
    pub fn apply(&mut self, action: Action) {
        match action {
            Action::Edit(text) => self.draft = text,
            Action::Opening(reason) => {
                self.phase = Phase::Opening;
                self.open_reason = Some(reason);
                self.records.clear();
                self.recovered.clear();
                self.report = None;
                self.report_stopped = false;
                self.error = None;
                self.damaged = false;
                self.sync = SyncView::default();
                self.corrupted = None;
            }
            Action::Opened {
                records,
                report,
                stopped,
            } => {
                self.phase = Phase::Replaying;
                self.recovered = records
                    .into_iter()
                    .map(|(lsn, text)| RecordView {
                        lsn,
                        text,
                        durable: true,
                    })
                    .collect();
                self.records.clear();
                self.report = Some(report);
                self.report_stopped = stopped;
            }
            Action::ReplayStep => {
                if self.phase == Phase::Replaying {
                    if let Some(next) = self.recovered.get(self.records.len()) {
                        self.records.push(next.clone());
                    }
                }
            }
            Action::ReplayDone => {
                if self.phase == Phase::Replaying {
                    self.records = std::mem::take(&mut self.recovered);
                    self.phase = Phase::Ready;
                }
            }
            Action::OpenFailed { error, damaged } => {
                self.phase = Phase::Failed;
                self.error = Some((ErrorSource::Open, error));
                self.damaged = damaged;
            }
            Action::Appended { lsn, text } => {
                self.records.push(RecordView {
                    lsn,
                    text,
                    durable: false,
                });
                self.draft.clear();
                self.clear_error(ErrorSource::Append);
            }
            Action::SyncIssued { id: _, sync } => {
                self.sync = SyncView {
                    last: self.sync.last.take(),
                    ..sync
                };
                self.clear_error(ErrorSource::Sync);
            }
            Action::SyncsCompleted {
                results,
                durable_next,
                sync,
            } => {
                for record in &mut self.records {
                    record.durable = record.lsn < durable_next;
                }
                let failed: Vec<String> = results
                    .iter()
                    .filter_map(|(id, err)| err.as_ref().map(|e| format!("sync#{id} failed: {e}")))
                    .collect();
                self.sync = SyncView {
                    last: results.last().cloned().or_else(|| self.sync.last.take()),
                    ..sync
                };
                if failed.is_empty() {
                    self.clear_error(ErrorSource::Sync);
                } else {
                    self.error = Some((
                        ErrorSource::Sync,
                        format!(
                            "{}. Nothing was lost: the records are still here, volatile; press Sync to retry.",
                            failed.join("; ")
                        ),
                    ));
                }
            }
            Action::Corrupted { lsn, id: _, sync } => {
                self.corrupted = Some(lsn);
                self.sync = SyncView {
                    last: self.sync.last.take(),
                    ..sync
                };
                self.clear_error(ErrorSource::Corrupt);
            }
            Action::Failed { source, message } => self.error = Some((source, message)),
            Action::DismissError => {
                if self.phase != Phase::Failed {
                    self.error = None;
                }
            }
        }
    }

    fn clear_error(&mut self, source: ErrorSource) {
        if self.error.as_ref().is_some_and(|(s, _)| *s == source) {
            self.error = None;
        }
    }

    /// Storage open, recovery and replay finished.
    pub fn is_ready(&self) -> bool {
        self.phase == Phase::Ready
    }

    /// Records on screen that are durable.
    pub fn durable_count(&self) -> usize {
        self.records.iter().filter(|r| r.durable).count()
    }

    /// Records on screen that are volatile.
    pub fn volatile_count(&self) -> usize {
        self.records.len() - self.durable_count()
    }

    /// "5 durable, 2 volatile".
    pub fn count_text(&self) -> String {
        format!(
            "{} durable, {} volatile",
            self.durable_count(),
            self.volatile_count()
        )
    }

    /// "sync#3 in flight; sync#4, sync#5 waiting for the next transaction".
    pub fn sync_text(&self) -> String {
        let ids = |v: &[u64]| {
            v.iter()
                .map(|i| format!("sync#{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let now = match (self.sync.in_flight.as_slice(), self.sync.waiting.as_slice()) {
            ([], []) => "no sync in flight".to_owned(),
            (f, []) => format!("{} in flight", ids(f)),
            ([], w) => format!("{} waiting", ids(w)),
            (f, w) => format!(
                "{} in flight; {} waiting for the next transaction",
                ids(f),
                ids(w)
            ),
        };
        match &self.sync.last {
            None => now,
            Some((id, None)) => format!("{now}; last completed: sync#{id} ok"),
            Some((id, Some(_))) => format!("{now}; last completed: sync#{id} failed"),
        }
    }

    /// "4 syncs in 3 IndexedDB transactions" (group commit at work).
    pub fn group_commit_text(&self) -> String {
        let plural =
            |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        format!(
            "{} in {}",
            plural(self.sync.issued, "sync", "syncs"),
            plural(
                self.sync.transactions,
                "IndexedDB transaction",
                "IndexedDB transactions"
            )
        )
    }

    /// The LSN of the last durable record, if any.
    pub fn last_durable(&self) -> Option<u64> {
        self.records.iter().rev().find(|r| r.durable).map(|r| r.lsn)
    }

    /// Whether Append can act: ready and something typed.
    pub fn can_append(&self) -> bool {
        self.is_ready() && !self.draft.is_empty()
    }

    /// Whether Sync can act: ready and some record volatile.
    pub fn can_sync(&self) -> bool {
        self.is_ready() && self.volatile_count() > 0
    }

    /// Whether Crash can act.
    pub fn can_crash(&self) -> bool {
        self.is_ready()
    }

    /// Whether the corrupt button can act: a durable record not already damaged.
    pub fn can_corrupt(&self) -> bool {
        self.is_ready() && self.last_durable().is_some() && self.corrupted != self.last_durable()
    }

    /// Whether "Try again" / "Erase" can act (the page is not busy opening).
    pub fn can_reopen(&self) -> bool {
        matches!(self.phase, Phase::Ready | Phase::Failed)
    }

    /// Text for the recovery-report section.
    pub fn report_text(&self) -> String {
        match self.phase {
            Phase::Opening => "Recovering: loading the log from IndexedDB…".to_owned(),
            Phase::Replaying => format!(
                "Replaying the log: {} of {} records…",
                self.records.len(),
                self.recovered.len()
            ),
            Phase::Failed => "Recovery did not finish; see the error above.".to_owned(),
            Phase::Ready => self.report.clone().unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready_with(records: &[&str]) -> PlaygroundState {
        let mut s = PlaygroundState::default();
        s.apply(Action::Opening(OpenReason::Load));
        s.apply(Action::Opened {
            records: records
                .iter()
                .enumerate()
                .map(|(i, t)| (i as u64, (*t).to_owned()))
                .collect(),
            report: "Recovered.".to_owned(),
            stopped: false,
        });
        s.apply(Action::ReplayDone);
        s
    }

    fn sync_view(in_flight: &[u64], waiting: &[u64], issued: u64, transactions: u64) -> SyncView {
        SyncView {
            in_flight: in_flight.to_vec(),
            waiting: waiting.to_vec(),
            issued,
            transactions,
            last: None,
        }
    }

    #[test]
    fn opening_replays_recovered_records_one_by_one() {
        let mut s = PlaygroundState::default();
        assert!(!s.is_ready());
        assert_eq!(
            s.report_text(),
            "Recovering: loading the log from IndexedDB…"
        );
        s.apply(Action::Opened {
            records: vec![(0, "a".into()), (1, "b".into())],
            report: "Recovered 2 records (lsn 0..=1) from 1 segment; the log ended cleanly.".into(),
            stopped: false,
        });
        assert_eq!(s.phase, Phase::Replaying);
        assert!(s.records.is_empty());
        s.apply(Action::ReplayStep);
        assert_eq!(s.records.len(), 1);
        assert_eq!(s.report_text(), "Replaying the log: 1 of 2 records…");
        assert!(!s.is_ready(), "not ready while replaying");
        s.apply(Action::ReplayStep);
        s.apply(Action::ReplayStep); // one too many is harmless
        assert_eq!(s.records.len(), 2);
        s.apply(Action::ReplayDone);
        assert!(s.is_ready());
        assert_eq!(s.count_text(), "2 durable, 0 volatile");
        assert!(s.report_text().contains("ended cleanly"));
    }

    #[test]
    fn append_is_volatile_until_its_sync_completes() {
        let mut s = ready_with(&["a"]);
        s.apply(Action::Edit("b".into()));
        assert!(s.can_append());
        assert!(!s.can_sync());
        s.apply(Action::Appended {
            lsn: 1,
            text: "b".into(),
        });
        s.apply(Action::Appended {
            lsn: 2,
            text: "c".into(),
        });
        assert_eq!(s.draft, "");
        assert!(!s.can_append(), "nothing typed");
        assert_eq!(s.count_text(), "1 durable, 2 volatile");
        assert!(s.can_sync());

        s.apply(Action::SyncIssued {
            id: 1,
            sync: sync_view(&[1], &[], 1, 0),
        });
        s.apply(Action::SyncIssued {
            id: 2,
            sync: sync_view(&[1], &[2], 2, 0),
        });
        assert_eq!(
            s.sync_text(),
            "sync#1 in flight; sync#2 waiting for the next transaction"
        );
        // sync#1 covered only lsn 1.
        s.apply(Action::SyncsCompleted {
            results: vec![(1, None)],
            durable_next: 2,
            sync: sync_view(&[2], &[], 2, 1),
        });
        assert_eq!(s.count_text(), "2 durable, 1 volatile");
        assert_eq!(s.sync_text(), "sync#2 in flight; last completed: sync#1 ok");
        s.apply(Action::SyncsCompleted {
            results: vec![(2, None)],
            durable_next: 3,
            sync: sync_view(&[], &[], 2, 2),
        });
        assert_eq!(s.count_text(), "3 durable, 0 volatile");
        assert_eq!(s.group_commit_text(), "2 syncs in 2 IndexedDB transactions");
        assert!(s.records.iter().all(|r| r.durable));
    }

    #[test]
    fn a_failed_sync_keeps_records_volatile_and_alerts() {
        let mut s = ready_with(&[]);
        s.apply(Action::Appended {
            lsn: 0,
            text: "x".into(),
        });
        s.apply(Action::SyncIssued {
            id: 1,
            sync: sync_view(&[1], &[], 1, 0),
        });
        s.apply(Action::SyncsCompleted {
            results: vec![(1, Some("storage quota exceeded: full".into()))],
            durable_next: 0,
            sync: sync_view(&[], &[], 1, 0),
        });
        assert_eq!(s.count_text(), "0 durable, 1 volatile");
        let (source, message) = s.error.clone().expect("an alert");
        assert_eq!(source, ErrorSource::Sync);
        assert!(
            message.contains("sync#1 failed: storage quota exceeded"),
            "{message}"
        );
        assert!(s.sync_text().ends_with("sync#1 failed"));
        assert!(s.can_sync(), "the user can retry");
        // An append does not hide a sync failure; a successful sync does.
        s.apply(Action::Appended {
            lsn: 1,
            text: "y".into(),
        });
        assert!(s.error.is_some());
        s.apply(Action::SyncIssued {
            id: 2,
            sync: sync_view(&[2], &[], 2, 0),
        });
        assert!(s.error.is_none());
    }

    #[test]
    fn crash_drops_everything_on_screen_and_replays() {
        let mut s = ready_with(&["a", "b"]);
        s.apply(Action::Appended {
            lsn: 2,
            text: "c".into(),
        });
        s.apply(Action::Opening(OpenReason::Crash));
        assert!(s.records.is_empty());
        assert!(!s.is_ready());
        assert!(!s.can_crash() && !s.can_append() && !s.can_sync());
        s.apply(Action::Opened {
            records: vec![(0, "a".into()), (1, "b".into())],
            report: "Recovered 2 records (lsn 0..=1) from 1 segment; the log ended cleanly.".into(),
            stopped: false,
        });
        s.apply(Action::ReplayDone);
        assert_eq!(s.count_text(), "2 durable, 0 volatile");
    }

    #[test]
    fn corrupting_is_offered_once_per_durable_record() {
        let s = ready_with(&[]);
        assert!(!s.can_corrupt(), "nothing durable yet");
        let mut s = ready_with(&["a", "b"]);
        assert_eq!(s.last_durable(), Some(1));
        assert!(s.can_corrupt());
        s.apply(Action::Corrupted {
            lsn: 1,
            id: 1,
            sync: sync_view(&[1], &[], 1, 0),
        });
        assert!(
            !s.can_corrupt(),
            "flipping the same bit again would repair it"
        );
        s.apply(Action::Opening(OpenReason::Crash));
        s.apply(Action::Opened {
            records: vec![(0, "a".into())],
            report: "Recovered 1 record (lsn 0..=0) from 1 segment; stopped at wal-00000000000000000000.seg offset 17 (lsn 1): checksum mismatch (stored 0x1, computed 0x2); truncated 17 bytes.".into(),
            stopped: true,
        });
        s.apply(Action::ReplayDone);
        assert!(s.report_stopped);
        assert!(s.report_text().contains("checksum mismatch"));
        assert_eq!(s.corrupted, None);
        assert!(s.can_corrupt());
    }

    #[test]
    fn open_failures_alert_and_stay_not_ready() {
        let mut s = PlaygroundState::default();
        s.apply(Action::OpenFailed {
            error: "storage unavailable: Logspine is open in another tab".into(),
            damaged: false,
        });
        assert_eq!(s.phase, Phase::Failed);
        assert!(!s.is_ready());
        assert!(s.can_reopen());
        assert!(!s.can_crash());
        s.apply(Action::DismissError);
        assert!(
            s.error.is_some(),
            "the open error stays while the page cannot work"
        );
        s.apply(Action::Opening(OpenReason::Load));
        assert!(s.error.is_none());
        assert!(!s.can_reopen(), "busy");
    }

    #[test]
    fn append_errors_clear_on_the_next_append_or_dismiss() {
        let mut s = ready_with(&[]);
        s.apply(Action::Failed {
            source: ErrorSource::Append,
            message: "record of 2000000 bytes is over the 1048576-byte limit".into(),
        });
        assert!(s.error.is_some());
        s.apply(Action::DismissError);
        assert!(s.error.is_none());
        s.apply(Action::Failed {
            source: ErrorSource::Append,
            message: "too large".into(),
        });
        s.apply(Action::Appended {
            lsn: 0,
            text: "ok".into(),
        });
        assert!(s.error.is_none());
    }
}
