//! The playground page ([`App`]): the database view ([`crate::db_view::DbView`]), the
//! B-tree and LSM tree side by side ([`crate::lsm_view::LsmView`]), the scenario panel
//! ([`crate::scenario_view::ScenarioView`]), the Raft cluster
//! ([`crate::raft_view::RaftView`]) and, below them, the
//! raw log demo ([`LogDemo`]): one write-ahead `Log` named `wal` on
//! IndexedDB (namespace [`NAMESPACE`], apart from the database's).
//!
//! The log demo is a view of [`PlaygroundState`] (pure, in [`crate::state`]) plus an
//! [`Engine`] — the [`IdbStorage`] and the [`Log`] on it — held outside the state because it
//! owns browser resources. Every effect here does one real thing to the engine and then
//! dispatches an [`Action`] describing what happened:
//!
//! * **load / Crash**: close the storage (dropping every volatile change, exactly what a
//!   tab crash loses), open it again from IndexedDB, run `Log::open` (recovery), then draw
//!   the recovered records one by one (no delays under `prefers-reduced-motion: reduce`)
//!   and show the `RecoveryReport`. A page reload takes the same path. If recovery cut a
//!   torn or damaged tail, a sync makes the cut durable at once.
//! * **Try again / Salvage / Erase** (offered when opening fails): reopen; reopen with
//!   `RecoveryPolicy::TruncateAtFirstBadRecord` (when the default policy refused mid-log
//!   damage); delete the database and start empty.
//! * **Append**: `Log::append` (volatile). **Sync**: `Log::request_sync`; the storage's
//!   completion callback drains `take_completions`, hands each to
//!   `Log::handle_sync_completion`, and reports the new `durable_next`.
//! * **Corrupt last durable record**: flips one bit of that record's payload through the
//!   `Storage` API and requests a sync, so the next recovery stops there with a checksum
//!   mismatch.
//!
//! # DOM hooks (the end-to-end tests rely on them)
//! The log demo's root `section[data-ready]` ("true" once storage is open and recovery
//! and its replay finished, "false" while loading, recovering or failed) and `[data-phase]`
//! (opening|replaying|ready|failed); input `aria-label="Record payload"` (Enter appends);
//! buttons named "Append record", "Sync", "Crash", "Corrupt last durable record" —
//! unavailable ones carry `aria-disabled="true"` (not `disabled`, so focus stays on them);
//! `ol[aria-label="Log records"] > li[data-lsn][data-state=durable|volatile]`;
//! `[data-testid=durable-count]` ("5 durable, 2 volatile"), `[data-testid=sync-state]`,
//! `[data-testid=group-commit]`, `section[data-testid=recovery-report][aria-live=polite]`;
//! errors in `[role=alert]`.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use logspine_core::log::HEADER_BYTES;
use logspine_core::{Log, LogConfig, LogError, Lsn, RecoveryPolicy, Storage, SyncId};
use wasm_bindgen_futures::spawn_local;
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::idb::{delete_database, IdbStorage};
use crate::log_timeline::{LogMove, LogTimeline, TimelineMove};
use crate::state::{Action, ErrorSource, OpenReason, Phase, PlaygroundState, SyncView};
use crate::transport::{transport, TransportProps};

/// The IndexedDB namespace of the playground (database `logspine:playground`).
pub const NAMESPACE: &str = "playground";
/// The log's name (segment files `wal-….seg`).
pub const LOG_NAME: &str = "wal";
/// Replay animation: the whole replay takes at most this long...
const REPLAY_TOTAL_MS: u32 = 1500;
/// ...with each step between these bounds.
const REPLAY_STEP_MS: (u32, u32) = (25, 150);

/// The storage and the log on it.
pub struct Engine {
    /// The IndexedDB backend.
    pub storage: IdbStorage,
    /// The write-ahead log.
    pub log: Log,
}

type EngineCell = Rc<RefCell<Option<Engine>>>;
type Dispatcher = UseReducerDispatcher<LogTimeline>;

/// Sends the demo's reducer something the log did.
trait Report {
    fn report(&self, a: Action);
}

impl Report for Dispatcher {
    fn report(&self, a: Action) {
        self.dispatch(LogMove::Engine(a));
    }
}

/// The playground page: the database view, then the raw log demo.
#[function_component(App)]
pub fn app() -> Html {
    html! {
        <main class="app">
            <header class="intro">
                <h1>{ "Logspine" }</h1>
                <p>
                    { "A database is a log plus indexes. Below, a real storage engine runs in your \
                       browser on IndexedDB: a write-ahead log with group commit, a B-tree whose pages \
                       follow the log, a checkpointer, and ARIES crash recovery. Reloading the page \
                       is a crash; what comes back is what a completed sync made durable." }
                </p>
                <p><a href="docs/">{ "Read the docs: the argument step by step, with live widgets" }</a></p>
            </header>
            <crate::shell::Shell sections={sections()} />
        </main>
    }
}

/// The page's sections, in order: each can be collapsed ([`crate::shell`]); the keys
/// `1`–`9` go to them.
fn sections() -> Vec<crate::shell::Section> {
    use crate::shell::Section;
    vec![
        Section {
            id: "db",
            title: "Database",
            view: html! { <crate::db_view::DbView /> },
        },
        Section {
            id: "lsm",
            title: "B-tree vs LSM",
            view: html! { <crate::lsm_view::LsmView /> },
        },
        Section {
            id: crate::scenario_view::SECTION_ID,
            title: "Scenarios",
            view: html! { <crate::scenario_view::ScenarioView /> },
        },
        Section {
            id: "raft",
            title: "Raft",
            view: html! { <crate::raft_view::RaftView /> },
        },
        Section {
            id: "pipeline",
            title: "Pipeline",
            view: html! { <crate::pipeline_view::PipelineView /> },
        },
        Section {
            id: "log",
            title: "Raw log",
            view: html! { <LogDemo /> },
        },
    ]
}

/// The raw log demo: append, sync, crash, corrupt.
#[function_component(LogDemo)]
pub fn log_demo() -> Html {
    let timeline = use_reducer(LogTimeline::default);
    let state = timeline.shown();
    // In the past nothing acts on the log: its disk is durable, history stays as it was.
    let past = timeline.is_past();
    let engine: EngineCell = use_mut_ref(|| None);
    let input_ref = use_node_ref();

    {
        let engine = engine.clone();
        let dispatch = timeline.dispatcher();
        use_effect_with((), move |_| {
            spawn_local(open_and_recover(engine, dispatch, OpenReason::Load, None));
        });
    }

    let on_input = {
        let dispatch = timeline.dispatcher();
        Callback::from(move |e: InputEvent| {
            let input: HtmlInputElement = e.target_unchecked_into();
            dispatch.report(Action::Edit(input.value()));
        })
    };
    // A form, so Enter in the input appends too. Buttons that cannot act now are marked
    // `aria-disabled` rather than `disabled`: they stay focusable, so keyboard focus is not
    // thrown to the page when, say, Sync becomes unavailable as its sync completes. Each
    // handler therefore checks that its action is allowed.
    let on_submit = {
        let (engine, dispatch, draft) =
            (engine.clone(), timeline.dispatcher(), state.draft.clone());
        let (allowed, input_ref) = ((!past && state.can_append()), input_ref.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            if allowed {
                append(&engine, &dispatch, &draft);
                focus(&input_ref);
            }
        })
    };
    let on_sync = {
        let (engine, dispatch, allowed) = (
            engine.clone(),
            timeline.dispatcher(),
            (!past && state.can_sync()),
        );
        Callback::from(move |_: MouseEvent| {
            if allowed {
                sync(&engine, &dispatch);
            }
        })
    };
    let on_crash = {
        let (engine, dispatch, allowed) = (
            engine.clone(),
            timeline.dispatcher(),
            (!past && state.can_crash()),
        );
        Callback::from(move |_: MouseEvent| {
            if allowed {
                spawn_local(open_and_recover(
                    engine.clone(),
                    dispatch.clone(),
                    OpenReason::Crash,
                    None,
                ));
            }
        })
    };
    // From the alert, whose buttons vanish on reopening: focus the input once ready.
    let reopen = |reason: OpenReason| {
        let (engine, dispatch, allowed) = (
            engine.clone(),
            timeline.dispatcher(),
            (!past && state.can_reopen()),
        );
        let input_ref = input_ref.clone();
        Callback::from(move |_: MouseEvent| {
            if allowed {
                let focus_after = Some(input_ref.clone());
                spawn_local(open_and_recover(
                    engine.clone(),
                    dispatch.clone(),
                    reason,
                    focus_after,
                ));
            }
        })
    };
    let on_corrupt = {
        let (engine, dispatch, allowed) = (
            engine.clone(),
            timeline.dispatcher(),
            (!past && state.can_corrupt()),
        );
        Callback::from(move |_: MouseEvent| {
            if allowed {
                corrupt_last_durable(&engine, &dispatch);
            }
        })
    };
    let off = |allowed: bool| (!allowed).to_string();
    let on_dismiss = {
        let dispatch = timeline.dispatcher();
        Callback::from(move |_: MouseEvent| dispatch.report(Action::DismissError))
    };

    // The timeline: play replays the recording forward, one action a beat, until live.
    let playing = use_state(|| false);
    let speed = use_state(|| 1u32);
    {
        let (dispatch, playing) = (timeline.dispatcher(), playing.clone());
        let pending = (*playing && past).then_some((timeline.position(), *speed));
        use_effect_with(pending, move |pending| {
            let cancelled = Rc::new(std::cell::Cell::new(false));
            if let Some((_, speed)) = *pending {
                let cancelled = cancelled.clone();
                spawn_local(async move {
                    crate::timer::sleep_ms(LOG_PLAY_MS / speed.max(1)).await;
                    if !cancelled.get() {
                        dispatch.dispatch(LogMove::Time(TimelineMove::StepForward));
                    }
                });
            } else if *playing {
                playing.set(false);
            }
            move || cancelled.set(true)
        });
    }
    let travel = |m: TimelineMove, stop: bool| {
        let (dispatch, playing) = (timeline.dispatcher(), playing.clone());
        Callback::from(move |()| {
            if stop {
                playing.set(false);
            }
            dispatch.dispatch(LogMove::Time(m));
        })
    };
    let on_seek = {
        let (dispatch, playing) = (timeline.dispatcher(), playing.clone());
        Callback::from(move |p: u64| {
            playing.set(false);
            dispatch.dispatch(LogMove::Time(TimelineMove::Seek(p)));
        })
    };
    let on_play_pause = {
        let (dispatch, playing, start) = (timeline.dispatcher(), playing.clone(), timeline.start());
        Callback::from(move |()| {
            if *playing {
                playing.set(false);
            } else {
                // Play at the live end replays the recording from its start.
                if !past {
                    dispatch.dispatch(LogMove::Time(TimelineMove::Seek(start)));
                }
                playing.set(true);
            }
        })
    };
    let on_speed = {
        let speed = speed.clone();
        Callback::from(move |s: u32| speed.set(s))
    };
    let position = timeline.position();
    let status = format!(
        "{} · action {} of {} recorded{}.",
        if past {
            "In the past: the log's disk is durable, so history cannot be rewritten here — Back to live to act"
        } else {
            "Live"
        },
        position,
        timeline.end(),
        timeline
            .action_before(position)
            .map(|a| format!(" · last: {}", action_name(a)))
            .unwrap_or_default(),
    );

    let ready = state.is_ready();
    html! {
        <section class="playground" aria-labelledby="log-heading" data-ready={ready.to_string()}
            data-phase={state.phase.as_str()}
            aria-busy={(!ready && state.phase != Phase::Failed).to_string()}>
            <header class="section-head">
                <h2 id="log-heading">{ "Underneath: the log on its own" }</h2>
                <p class="muted">
                    { "The same Log type the database's WAL is made of, bare, in its own IndexedDB \
                       database. Appends are visible at once but volatile; a sync makes them durable; \
                       a crash keeps only what a completed sync covered, and recovery replays the log." }
                </p>
            </header>

            { error_box(state, on_dismiss, reopen(OpenReason::Load), reopen(OpenReason::Salvage), reopen(OpenReason::Erase)) }

            <section class="panel controls" aria-labelledby="controls-heading">
                <h3 id="controls-heading">{ "Append" }</h3>
                if past {
                    <p class="past-note" data-testid="log-past-reason">
                        { "In the past: the log's disk is durable, so history cannot be rewritten here. \
                           Back to live (under the timeline) to append, sync or crash." }
                    </p>
                }
                <form class="append" onsubmit={on_submit}>
                    <label for="payload">{ "Record payload" }</label>
                    <div class="append-row">
                        <input id="payload" ref={input_ref} type="text" aria-label="Record payload"
                            autocomplete="off" spellcheck="false" maxlength="200"
                            placeholder="e.g. set x = 1"
                            value={state.draft.clone()} oninput={on_input}
                            disabled={!ready || past} />
                        <button type="submit" aria-label="Append record" aria-disabled={off(!past && state.can_append())}>
                            { "Append" }
                        </button>
                    </div>
                </form>
                <div class="buttons">
                    <button type="button" onclick={on_sync} aria-disabled={off(!past && state.can_sync())}
                        aria-describedby="sync-help">{ "Sync" }</button>
                    <button type="button" class="danger" onclick={on_crash}
                        aria-disabled={off(!past && state.can_crash())} aria-describedby="crash-help">{ "Crash" }</button>
                    <button type="button" class="danger" onclick={on_corrupt}
                        aria-disabled={off(!past && state.can_corrupt())} aria-describedby="corrupt-help">
                        { "Corrupt last durable record" }
                    </button>
                </div>
                <ul class="help">
                    <li id="sync-help">{ "Sync: one IndexedDB transaction makes every append so far durable. \
                        Syncs issued while one is in flight share the next transaction (group commit)." }</li>
                    <li id="crash-help">{ "Crash: drop everything in memory and recover from IndexedDB, \
                        as a reload would." }</li>
                    <li id="corrupt-help">{ "Corrupt: flip one bit of the newest durable record and sync it, \
                        so the next recovery finds a checksum mismatch." }</li>
                </ul>
            </section>

            <section class="panel status" aria-labelledby="status-heading">
                <h3 id="status-heading">{ "Status" }</h3>
                <p data-testid="durable-count" class="count">{ state.count_text() }</p>
                <p data-testid="sync-state">{ state.sync_text() }</p>
                <p data-testid="group-commit" class="muted">{ state.group_commit_text() }</p>
                if let Some(lsn) = state.corrupted {
                    <p class="muted" data-testid="corrupt-note">
                        { format!("Flipped one bit of lsn {lsn}. Press Crash to watch recovery find it.") }
                    </p>
                }
                <section data-testid="recovery-report" aria-live="polite"
                    class={classes!("report", state.report_stopped.then_some("stopped"))}>
                    <h4>{ "Recovery" }</h4>
                    <p>{ state.report_text() }</p>
                </section>
            </section>

            <section class="panel log" aria-labelledby="log-records-heading">
                <h3 id="log-records-heading">{ "The log" }</h3>
                if state.records.is_empty() && state.phase == Phase::Ready {
                    <p class="muted">{ "No records yet. Type a payload and press Append." }</p>
                }
                <ol aria-label="Log records" class="records">
                    { for state.records.iter().map(|r| {
                        let kind = if r.durable { "durable" } else { "volatile" };
                        let damaged = state.corrupted == Some(r.lsn);
                        html! {
                            <li key={r.lsn.to_string()} data-lsn={r.lsn.to_string()} data-state={kind}
                                class={classes!("record", kind, damaged.then_some("damaged"))}>
                                <span class="lsn">{ format!("lsn {}", r.lsn) }</span>
                                <span class="payload">{ &r.text }</span>
                                <span class="state">{ if damaged { "durable, bit flipped" } else { kind } }</span>
                            </li>
                        }
                    }) }
                </ol>
            </section>

            <section class="panel wide log-timeline" aria-labelledby="log-timeline-heading"
                data-testid="log-timeline" data-position={position.to_string()}
                data-end={timeline.end().to_string()} data-past={past.to_string()}>
                <h3 id="log-timeline-heading">{ "Log timeline" }</h3>
                <p class="muted">
                    { "Every step the log reported is recorded in this tab (not across a reload: a reload is \
                       a crash, and starts a new recording). Step back or scrub to see the log as it was; \
                       the log keeps running underneath." }
                </p>
                { transport(TransportProps {
                    id: "log-timeline".into(),
                    label: "Log timeline".into(),
                    start: timeline.start(),
                    end: timeline.end(),
                    position,
                    markers: timeline.markers(),
                    playing: *playing,
                    speeds: vec![(1, AttrValue::from("1 step every 400 ms")), (4, AttrValue::from("4×")), (16, AttrValue::from("16×"))],
                    speed: *speed,
                    status: status.into(),
                    value_text: format!("action {} of {}", position, timeline.end()).into(),
                    on_play_pause,
                    on_step_back: travel(TimelineMove::StepBack, true),
                    on_step_forward: travel(TimelineMove::StepForward, true),
                    on_seek,
                    on_speed,
                    on_live: Some(travel(TimelineMove::Live, true)),
                    list_markers: true,
                    on_marker: None,
                }) }
            </section>
        </section>
    }
}

/// Play's beat at 1×, in milliseconds.
const LOG_PLAY_MS: u32 = 400;

/// One recorded action, in a few words (the timeline's status line).
fn action_name(a: &Action) -> String {
    match a {
        Action::Edit(_) => "an edit".to_owned(),
        Action::Opening(r) => format!("opening ({r:?})").to_ascii_lowercase(),
        Action::Opened { records, .. } => format!("opened: {} records recovered", records.len()),
        Action::ReplayStep => "a recovered record drawn".to_owned(),
        Action::ReplayDone => "recovery finished".to_owned(),
        Action::OpenFailed { .. } => "opening failed".to_owned(),
        Action::Appended { lsn, .. } => format!("lsn {lsn} appended"),
        Action::SyncIssued { id, .. } => format!("sync#{id} issued"),
        Action::SyncsCompleted { durable_next, .. } => {
            format!("syncs completed: durable below lsn {durable_next}")
        }
        Action::Corrupted { lsn, .. } => format!("a bit of lsn {lsn} flipped"),
        Action::Failed { message, .. } => format!("failed: {message}"),
        Action::DismissError => "the error dismissed".to_owned(),
    }
}

/// The alert, with the ways out of a failed open.
fn error_box(
    state: &PlaygroundState,
    on_dismiss: Callback<MouseEvent>,
    on_retry: Callback<MouseEvent>,
    on_salvage: Callback<MouseEvent>,
    on_erase: Callback<MouseEvent>,
) -> Html {
    let Some((source, message)) = &state.error else {
        return html! {};
    };
    let failed = state.phase == Phase::Failed;
    html! {
        <div class="alert" role="alert">
            <p>{ message }</p>
            if failed && state.damaged {
                <p>{ "The log is damaged in the middle, with valid records after the damage, so \
                      recovery changed nothing. Salvage truncates at the first bad record and \
                      drops everything after it." }</p>
            }
            <div class="buttons">
                if failed {
                    <button type="button" onclick={on_retry}>{ "Try again" }</button>
                    if state.damaged {
                        <button type="button" class="danger" onclick={on_salvage}>
                            { "Salvage: truncate at the first bad record" }
                        </button>
                    }
                    <button type="button" class="danger" onclick={on_erase}>{ "Erase the stored log" }</button>
                } else if *source != ErrorSource::Open {
                    <button type="button" onclick={on_dismiss}>{ "Dismiss" }</button>
                }
            </div>
        </div>
    }
}

/// Load, crash, salvage or erase: drop the engine, open the storage from IndexedDB, recover
/// the log, replay the records onto the screen.
async fn open_and_recover(
    engine: EngineCell,
    dispatch: Dispatcher,
    reason: OpenReason,
    focus_after: Option<NodeRef>,
) {
    dispatch.report(Action::Opening(reason));
    // A crash: every volatile change goes with the old storage.
    let old = engine.borrow_mut().take();
    if let Some(old) = old {
        old.storage.close().await;
    }
    if reason == OpenReason::Erase {
        if let Err(e) = delete_database(NAMESPACE).await {
            dispatch.report(Action::OpenFailed {
                error: format!("Could not erase the stored log: {e}"),
                damaged: false,
            });
            return;
        }
    }
    let mut storage = match IdbStorage::open(NAMESPACE).await {
        Ok(storage) => storage,
        Err(e) => {
            dispatch.report(Action::OpenFailed {
                error: format!("Could not open the stored log: {e}"),
                damaged: false,
            });
            return;
        }
    };
    let mut config = LogConfig::new(LOG_NAME);
    if reason == OpenReason::Salvage {
        config.recovery = RecoveryPolicy::TruncateAtFirstBadRecord;
    }
    let (mut log, report) = match Log::open(&mut storage as &mut dyn Storage, config) {
        Ok(opened) => opened,
        Err(e) => {
            let damaged = matches!(e, LogError::Corrupt { .. });
            storage.close().await;
            dispatch.report(Action::OpenFailed {
                error: format!("Recovery failed: {e}"),
                damaged,
            });
            return;
        }
    };
    let records = match recovered_records(&log, &storage) {
        Ok(records) => records,
        Err(e) => {
            storage.close().await;
            dispatch.report(Action::OpenFailed {
                error: format!("Reading the recovered log failed: {e}"),
                damaged: false,
            });
            return;
        }
    };
    // Recovery that cut a torn or damaged tail changed the image only in memory; make the
    // cut durable now, as a database fsyncs its WAL after recovery, so that the next crash
    // does not meet the same damage (after a salvage it would refuse to open again).
    let repair = if storage.has_volatile_changes() {
        Some(
            log.request_sync(&mut storage as &mut dyn Storage)
                .map(|id| (id, sync_view(&storage))),
        )
    } else {
        None
    };
    let weak = Rc::downgrade(&engine);
    let on_completion = {
        let dispatch = dispatch.clone();
        Rc::new(move || handle_completions(&weak, &dispatch)) as Rc<dyn Fn()>
    };
    storage.set_on_completion(on_completion);
    *engine.borrow_mut() = Some(Engine { storage, log });

    let count = u32::try_from(records.len()).unwrap_or(u32::MAX);
    dispatch.report(Action::Opened {
        records,
        report: report.describe(),
        stopped: report.stop.is_some(),
    });
    match repair {
        Some(Ok((SyncId(id), sync))) => dispatch.report(Action::SyncIssued { id, sync }),
        Some(Err(e)) => dispatch.report(Action::Failed {
            source: ErrorSource::Sync,
            message: format!("Could not make recovery's truncation durable: {e}"),
        }),
        None => {}
    }
    let step_ms = if prefers_reduced_motion() || count == 0 {
        0
    } else {
        (REPLAY_TOTAL_MS / count).clamp(REPLAY_STEP_MS.0, REPLAY_STEP_MS.1)
    };
    for _ in 0..count {
        crate::timer::sleep_ms(step_ms).await;
        dispatch.report(Action::ReplayStep);
    }
    dispatch.report(Action::ReplayDone);
    if let Some(input) = focus_after {
        // After the render that enables the input.
        crate::timer::sleep_ms(1).await;
        focus(&input);
    }
}

fn focus(node: &NodeRef) {
    if let Some(input) = node.cast::<HtmlInputElement>() {
        let _ = input.focus();
    }
}

fn recovered_records(log: &Log, storage: &IdbStorage) -> Result<Vec<(u64, String)>, LogError> {
    log.scan(storage as &dyn Storage, log.first_lsn())?
        .map(|r| r.map(|r| (r.lsn.0, String::from_utf8_lossy(&r.payload).into_owned())))
        .collect()
}

/// The storage's completion callback: feed every completion to the log, report.
fn handle_completions(engine: &Weak<RefCell<Option<Engine>>>, dispatch: &Dispatcher) {
    let Some(cell) = engine.upgrade() else { return };
    let Ok(mut guard) = cell.try_borrow_mut() else {
        // Busy in a handler right now: try again once it returns.
        let (engine, dispatch) = (engine.clone(), dispatch.clone());
        spawn_local(async move { handle_completions(&engine, &dispatch) });
        return;
    };
    let Some(e) = guard.as_mut() else { return };
    let completions = e.storage.take_completions();
    if completions.is_empty() {
        return;
    }
    for c in &completions {
        e.log.handle_sync_completion(c);
    }
    let durable_next = e.log.durable_next().0;
    let sync = sync_view(&e.storage);
    drop(guard);
    dispatch.report(Action::SyncsCompleted {
        results: completions
            .into_iter()
            .map(|c| (c.id.0, c.result.err().map(|e| e.to_string())))
            .collect(),
        durable_next,
        sync,
    });
}

fn sync_view(storage: &IdbStorage) -> SyncView {
    let status = storage.sync_status();
    SyncView {
        in_flight: status.in_flight.iter().map(|id| id.0).collect(),
        waiting: status.waiting.iter().map(|id| id.0).collect(),
        issued: storage.stats().syncs_issued,
        transactions: status.transactions_committed,
        last: None,
    }
}

/// Runs `f` on the engine, or reports that there is none.
fn with_engine<T>(
    engine: &EngineCell,
    dispatch: &Dispatcher,
    source: ErrorSource,
    f: impl FnOnce(&mut Engine) -> Result<T, String>,
) -> Option<T> {
    let result = match engine.try_borrow_mut() {
        Ok(mut guard) => match guard.as_mut() {
            Some(e) => f(e),
            None => Err("The log is not open.".to_owned()),
        },
        Err(_) => Err("Busy; try again.".to_owned()),
    };
    result
        .map_err(|message| dispatch.report(Action::Failed { source, message }))
        .ok()
}

fn append(engine: &EngineCell, dispatch: &Dispatcher, text: &str) {
    let appended = with_engine(engine, dispatch, ErrorSource::Append, |e| {
        e.log
            .append(&mut e.storage as &mut dyn Storage, text.as_bytes())
            .map_err(|err| format!("Append failed: {err}"))
    });
    if let Some(lsn) = appended {
        dispatch.report(Action::Appended {
            lsn: lsn.0,
            text: text.to_owned(),
        });
    }
}

fn sync(engine: &EngineCell, dispatch: &Dispatcher) {
    let issued = with_engine(engine, dispatch, ErrorSource::Sync, |e| {
        let id = e
            .log
            .request_sync(&mut e.storage as &mut dyn Storage)
            .map_err(|err| format!("Sync failed: {err}"))?;
        Ok((id, sync_view(&e.storage)))
    });
    if let Some((SyncId(id), sync)) = issued {
        dispatch.report(Action::SyncIssued { id, sync });
    }
}

fn corrupt_last_durable(engine: &EngineCell, dispatch: &Dispatcher) {
    let done = with_engine(engine, dispatch, ErrorSource::Corrupt, |e| {
        let lsn = flip_bit_of_last_durable(e)
            .map_err(|err| format!("Could not corrupt the record: {err}"))?;
        let id = e
            .log
            .request_sync(&mut e.storage as &mut dyn Storage)
            .map_err(|err| format!("Flipped a bit of {lsn}, but the sync failed: {err}"))?;
        Ok((lsn, id, sync_view(&e.storage)))
    });
    if let Some((lsn, id, sync)) = done {
        dispatch.report(Action::Corrupted {
            lsn: lsn.0,
            id: id.0,
            sync,
        });
    }
}

/// Flips the lowest bit of the first payload byte of the newest durable record (of its
/// LSN field when the payload is empty; both lie under the frame's CRC32C), walking the
/// segment's frame headers to find it. See `logspine_core::log` for the frame format.
fn flip_bit_of_last_durable(e: &mut Engine) -> Result<Lsn, String> {
    let durable_next = e.log.durable_next();
    if durable_next <= e.log.first_lsn() {
        return Err("no record is durable yet; append and sync first".to_owned());
    }
    let target = Lsn(durable_next.0 - 1);
    let segment = e
        .log
        .segments()
        .into_iter()
        .find(|s| s.base_lsn <= target && target.0 < s.base_lsn.0 + s.records)
        .ok_or_else(|| format!("no segment holds {target}"))?;
    let mut header = [0; 16];
    let mut offset = 0;
    for lsn in segment.base_lsn.0..=target.0 {
        e.storage
            .read(&segment.file, offset, &mut header)
            .map_err(|err| err.to_string())?;
        let stored_lsn = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
        if stored_lsn != lsn {
            return Err(format!(
                "{} offset {offset} holds lsn {stored_lsn}, expected lsn {lsn}",
                segment.file
            ));
        }
        if lsn < target.0 {
            let len = u64::from(u32::from_le_bytes(
                header[0..4].try_into().expect("4 bytes"),
            ));
            offset += HEADER_BYTES + len;
        }
    }
    let payload_len = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes"));
    let at = if payload_len > 0 {
        offset + HEADER_BYTES
    } else {
        offset + 8
    };
    let mut byte = [0; 1];
    e.storage
        .read(&segment.file, at, &mut byte)
        .map_err(|err| err.to_string())?;
    byte[0] ^= 1;
    e.storage
        .write(&segment.file, at, &byte)
        .map_err(|err| err.to_string())?;
    Ok(target)
}

/// Whether the user asked for less motion (then replays and recoveries draw at once).
pub fn prefers_reduced_motion() -> bool {
    web_sys::window()
        .and_then(|w| {
            w.match_media("(prefers-reduced-motion: reduce)")
                .ok()
                .flatten()
        })
        .is_some_and(|m| m.matches())
}
