//! The database view: a [`Db`](logspine_core::db::Db) on IndexedDB (namespace
//! [`DB_NAMESPACE`]) or, on request, on the simulated disk, driven by the form, the
//! workload generator and a clock, drawn from the engine's own events.
//!
//! The page is a view of [`DbViewState`] (pure, in [`crate::db_state`]) plus a
//! [`DbEngine`] held outside the state because it owns browser resources. The effects:
//!
//! * **load / Crash the database**: drop the engine and close its storage (every volatile
//!   change goes, exactly what a closed tab loses), open the storage again from IndexedDB,
//!   `Db::open` (analysis and redo; undo starts), then reveal the recovery's step events
//!   a few at a time (all at once under `prefers-reduced-motion: reduce`). A page reload
//!   takes the same path.
//! * **The clock**: virtual time is milliseconds since the page loaded
//!   (`performance.now()`). A timer ticks the engine every [`TICK_MS`], and so does every
//!   IndexedDB completion, so commits are acknowledged as soon as their transaction
//!   commits. IndexedDB transactions are real, so group commit is real: commits that
//!   arrive while one runs ride the next.
//! * **Form, workload, checkpoint**: one call on the engine each, then the events it
//!   emitted go to the reducer.
//! * **Simulated disk** (the "Storage" choice): IndexedDB transactions are atomic, so a
//!   crash there never tears a page. On the simulated disk (in memory, its clock the
//!   page's) "Crash the database" is `SimDisk::crash`, which may tear the last write in
//!   flight, and "Crash during a checkpoint" first runs a checkpoint until a page write is
//!   in flight. Recovery then reports any torn page it repaired (case R3), and only then
//!   does the page panel mark a page torn.
//! * **The timeline** ([`crate::db_timeline`]): every payload the reducer receives is
//!   recorded (bounded), and the transport under the view replays the recording: step,
//!   scrub, play, back to live. In the past the screen is the fold at that position while
//!   the engine keeps running and recording underneath; the engine's controls are
//!   `aria-disabled` and described by the visible reason ([`PAST_REASON`]), since the
//!   durable disk's history cannot be rewritten from here. The recording is the tab's
//!   memory: a reload is still the real crash, and starts a new one.
//!
//! # DOM hooks (the end-to-end tests rely on them)
//! `section[data-testid=db]` with `data-db-ready` ("true" once open and recovery has
//! finished: every step shown, every loser rolled back), `data-db-phase`
//! (opening|ready|failed), `data-recovery` (none|running|done) and `data-backend`
//! (indexeddb|simdisk); inputs labelled "Key", "Value", "Clients", "Transactions per
//! second"; radios "IndexedDB: …" and "Simulated disk: …"; buttons "Commit put",
//! "Commit delete", "Get", "Put in open transaction", "Delete in open transaction",
//! "Commit open transaction", "Abort open transaction", "Start workload"/"Stop workload",
//! "Checkpoint now", "Crash the database", "Crash during a checkpoint" (simulated disk
//! only; unavailable buttons carry `aria-disabled="true"`);
//! `[data-testid=crash-report]` (simulated disk); `li[data-page][data-state][data-torn]`
//! in the page panel; `ol[aria-label="Your transactions"] >
//! li[data-txn][data-state=open|committing|acked|aborting|rolled-back|interrupted]`;
//! `[data-testid=open-txn][data-durable]`; `[data-testid=db-recovery-report]`;
//! `ol[aria-label="Recovery steps"] > li[data-phase][data-case]`;
//! `ol[aria-label="WAL sync batches"] > li[data-sync][data-status]`;
//! `[data-testid=wal-extent]` ("WAL holds lsn first..next, …");
//! `[data-testid=engine-events][data-events]` (events the engine emitted since the open);
//! `[data-testid=commit-charts]` and `[data-testid=amplification]`, each meter with a
//! small chart (`svg[role=img]` named after the meter);
//! `table[aria-label="Stored keys"] tr[data-key]`; errors in `[role=alert]`; the section's
//! `data-timeline` (live|past) and `data-position`; `#db-past-reason` (in the past, and in
//! the `aria-describedby` of every engine control); the transport, a group named "Database
//! timeline" (ids prefixed `db-tl`, status `[data-testid=db-tl-status]`).

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use logspine_core::btree::PageType;
use logspine_core::db::{DbError, DbEvent};
use wasm_bindgen_futures::spawn_local;
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::chart::{meter_chart, sparkline};
use crate::db_engine::{
    describe_crash, playground_sim_disk, DbEngine, EngineError, MAX_KEY_BYTES, MAX_VALUE_BYTES,
};
use crate::db_state::{
    reason_text, step_case, step_phase, step_text, DbAction, DbBackend, DbCharts, DbErrorSource,
    DbOpenReason, DbPhase, DbViewState, RecoveryView, Snapshot, StorageView,
};
use crate::db_timeline::{transport_markers, DbTimeline, TimelineControl, PLAY_TICK_MS, SPEEDS};
use crate::decimal::fixed;
use crate::idb::{delete_database, IdbStorage};
use crate::playground_storage::PlaygroundStorage;
use crate::transport::{transport, TransportProps};
use crate::workload::{MAX_CLIENTS, MAX_RATE_PER_SEC};

/// The database's IndexedDB namespace (database `logspine:playground-db`).
pub const DB_NAMESPACE: &str = "playground-db";
/// How often the clock ticks the engine.
pub const TICK_MS: u32 = 25;
/// The recovery animation's step; every recovery shows in at most
/// [`MAX_REVEALS`](crate::db_state::MAX_REVEALS) of them (3 s).
const REVEAL_MS: u32 = 40;

/// The engine, on IndexedDB or the simulated disk.
type Engine = DbEngine<PlaygroundStorage>;

/// The engine's tick at the page's clock (the simulated disk's clock follows it).
fn tick_engine(e: &mut Engine, now: u64) -> Result<(), DbError> {
    e.advance_disk(now);
    e.tick(now)
}

fn take_view(e: &mut Engine, now: u64, force: bool) -> Option<(Vec<DbEvent>, Snapshot)> {
    e.take_view(now, force, |s| s.idb().map(storage_view))
}

/// The engine and which open it belongs to.
#[derive(Default)]
struct Holder {
    engine: Option<Engine>,
    /// Bumped by every (re)open: timers and callbacks of an older open stop.
    generation: u64,
}

type HolderCell = Rc<RefCell<Holder>>;

/// Sends the reducer's payloads to the timeline (which folds them into the live state and
/// records them) and redraws.
#[derive(Clone)]
struct Dispatcher {
    timeline: Rc<RefCell<DbTimeline>>,
    redraw: UseForceUpdateHandle,
}

impl Dispatcher {
    fn dispatch(&self, action: DbAction) {
        self.timeline
            .borrow_mut()
            .record(action, crate::timer::now_ms());
        self.redraw.force_update();
    }

    fn control(&self, c: TimelineControl) {
        self.timeline.borrow_mut().control(c);
        self.redraw.force_update();
    }
}

/// Why the engine's controls are unavailable in the past (`#db-past-reason`).
pub const PAST_REASON: &str = "In the past: the disk is durable, so history cannot be rewritten \
     here \u{2014} Back to live to act. (The scenario panel is where runs branch.)";

/// The database view.
#[function_component(DbView)]
pub fn db_view() -> Html {
    let timeline: Rc<RefCell<DbTimeline>> = use_mut_ref(DbTimeline::default);
    let dispatcher = Dispatcher {
        timeline: timeline.clone(),
        redraw: use_force_update(),
    };
    let cell: HolderCell = use_mut_ref(Holder::default);
    let tl = timeline.borrow();
    // `live` is what the engine's controls act on; `state` is what the screen shows (the
    // past position's fold, or the live state).
    let (live, state, past) = (tl.live(), tl.shown(), tl.is_past());

    {
        let (cell, dispatch) = (cell.clone(), dispatcher.clone());
        use_effect_with((), move |_| {
            spawn_local(open_db(
                cell,
                dispatch,
                DbOpenReason::Load,
                DbBackend::IndexedDb,
            ));
        });
    }
    // The recovery animation (of the live state): one timer step at a time, cancelled when
    // superseded.
    {
        let dispatch = dispatcher.clone();
        let pending = live
            .recovery
            .as_ref()
            .filter(|r| r.shown < r.steps.len())
            .map(|r| (live.opens, r.shown));
        use_effect_with(pending, move |pending| {
            let cancelled = Rc::new(Cell::new(false));
            if pending.is_some() {
                let cancelled = cancelled.clone();
                spawn_local(async move {
                    crate::timer::sleep_ms(REVEAL_MS).await;
                    if !cancelled.get() {
                        dispatch.dispatch(DbAction::Reveal);
                    }
                });
            }
            move || cancelled.set(true)
        });
    }

    // Play: one timer step at a time while playing (the clock moves every step).
    {
        let dispatch = dispatcher.clone();
        let playing = tl.playing().then(|| (tl.position(), tl.clock_ms()));
        use_effect_with(playing, move |playing| {
            let cancelled = Rc::new(Cell::new(false));
            if playing.is_some() {
                let cancelled = cancelled.clone();
                spawn_local(async move {
                    crate::timer::sleep_ms(PLAY_TICK_MS).await;
                    if !cancelled.get() {
                        dispatch.control(TimelineControl::PlayTick(PLAY_TICK_MS));
                    }
                });
            }
            move || cancelled.set(true)
        });
    }

    // The shown state's readiness (data attributes); the engine's controls act on the live
    // state, and not at all in the past.
    let ready = state.is_ready();
    let live_ready = !past && live.is_ready();
    let off = |allowed: bool| (!allowed).to_string();
    // The past's reason joins each engine control's description.
    let why = |help: &str| {
        if past {
            format!("db-past-reason {help}")
        } else {
            help.to_owned()
        }
    };
    let why_alone = past.then_some("db-past-reason");
    let key = live.key_draft.clone();
    let value = live.value_draft.clone();
    let can_write = !past && live.can_write();
    let can_finish = !past && live.can_finish_open();
    let can_checkpoint = !past && live.can_checkpoint();
    let can_crash = !past && live.can_crash();
    let can_crash_mid_checkpoint = live_ready && live.backend == DbBackend::SimDisk;
    let can_reopen = !past && live.phase == DbPhase::Failed;

    let text_input = |make: fn(String) -> DbAction| {
        let dispatch = dispatcher.clone();
        Callback::from(move |e: InputEvent| {
            let input: HtmlInputElement = e.target_unchecked_into();
            dispatch.dispatch(make(input.value()));
        })
    };
    let number_input = |make: fn(u32) -> DbAction, max: u32| {
        let dispatch = dispatcher.clone();
        Callback::from(move |e: InputEvent| {
            let input: HtmlInputElement = e.target_unchecked_into();
            if let Ok(n) = input.value().trim().parse::<u32>() {
                dispatch.dispatch(make(n.clamp(1, max)));
            }
        })
    };

    // Each form button: one engine call, then its action and the engine's events.
    let form_op = |allowed: bool, op: FormOp| {
        let (cell, dispatch) = (cell.clone(), dispatcher.clone());
        let (key, value) = (key.clone(), value.clone());
        Callback::from(move |e: MouseEvent| {
            e.prevent_default();
            if allowed {
                run_form_op(&cell, &dispatch, op, &key, &value);
            }
        })
    };
    let on_submit = {
        let (cell, dispatch) = (cell.clone(), dispatcher.clone());
        let (key, value, allowed) = (key.clone(), value.clone(), !past && live.can_write());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            if allowed {
                run_form_op(&cell, &dispatch, FormOp::CommitPut, &key, &value);
            }
        })
    };
    let on_workload = {
        let (cell, dispatch) = (cell.clone(), dispatcher.clone());
        let (running, allowed) = (live.workload_running(), live_ready);
        let (clients, rate) = (live.clients_draft, live.rate_draft);
        Callback::from(move |_: MouseEvent| {
            if !allowed {
                return;
            }
            with_engine(&cell, &dispatch, DbErrorSource::Workload, |e| {
                if running {
                    e.stop_workload();
                } else {
                    e.start_workload(clients, rate);
                }
                Ok(None)
            });
        })
    };
    let on_checkpoint = {
        let (cell, dispatch, allowed) = (cell.clone(), dispatcher.clone(), can_checkpoint);
        Callback::from(move |_: MouseEvent| {
            if allowed {
                with_engine(&cell, &dispatch, DbErrorSource::Checkpoint, |e| {
                    e.checkpoint()?;
                    Ok(None)
                });
            }
        })
    };
    let reopen = |reason: DbOpenReason, allowed: bool| {
        let (cell, dispatch, backend) = (cell.clone(), dispatcher.clone(), live.backend);
        Callback::from(move |_: MouseEvent| {
            if allowed {
                spawn_local(open_db(cell.clone(), dispatch.clone(), reason, backend));
            }
        })
    };
    let choose_backend = |backend: DbBackend| {
        let (cell, dispatch) = (cell.clone(), dispatcher.clone());
        let allowed = can_crash && live.backend != backend;
        Callback::from(move |_: Event| {
            if allowed {
                spawn_local(open_db(
                    cell.clone(),
                    dispatch.clone(),
                    DbOpenReason::Load,
                    backend,
                ));
            }
        })
    };
    let on_crash_mid_checkpoint = {
        let (cell, dispatch) = (cell.clone(), dispatcher.clone());
        let allowed = can_crash_mid_checkpoint;
        Callback::from(move |_: MouseEvent| {
            if !allowed {
                return;
            }
            let result = match cell.try_borrow_mut() {
                Ok(mut h) => match h.engine.as_mut() {
                    Some(e) => {
                        e.stop_workload();
                        e.checkpoint_writes_in_flight(crate::timer::now_ms())
                            .map_err(|e| e.to_string())
                    }
                    None => Err("The database is not open.".to_owned()),
                },
                Err(_) => Err("Busy; try again.".to_owned()),
            };
            match result {
                Ok(_) => spawn_local(open_db(
                    cell.clone(),
                    dispatch.clone(),
                    DbOpenReason::Crash,
                    DbBackend::SimDisk,
                )),
                Err(message) => dispatch_failed(&dispatch, DbErrorSource::Checkpoint, message),
            }
        })
    };
    let on_dismiss = {
        let (dispatch, allowed) = (dispatcher.clone(), !past);
        Callback::from(move |_: MouseEvent| {
            if allowed {
                dispatch.dispatch(DbAction::DismissError);
            }
        })
    };

    // Tell the shell the page's first view is interactive (it then mounts the others).
    {
        let first = use_context::<crate::shell::ShellContext>();
        let settled = ready || state.phase == DbPhase::Failed;
        use_effect_with(settled, move |settled| {
            if *settled {
                if let Some(f) = first {
                    f.first_ready.emit(());
                }
            }
        });
    }
    let busy = !ready && state.phase != DbPhase::Failed;
    let timeline_bar = timeline_bar(&tl, &dispatcher);
    html! {
        <section class="db" data-testid="db" aria-labelledby="db-heading"
            data-db-ready={ready.to_string()} data-db-phase={state.phase.as_str()}
            data-recovery={state.recovery_state()} data-backend={state.backend.as_str()}
            data-timeline={if past { "past" } else { "live" }} data-position={tl.position().to_string()}
            aria-busy={busy.to_string()}>
            <header class="section-head">
                <h2 id="db-heading">{ "The database: a log plus an index" }</h2>
                <p class="muted">
                    { "A transactional key-value store on IndexedDB. Every change is appended to the \
                       write-ahead log first; a commit is acknowledged only once a sync covering its \
                       commit record has completed; the B-tree's pages reach storage later, under the \
                       WAL rule, when the checkpointer writes them. Crash it, or reload the page, and \
                       recovery rebuilds it from the log: analysis, redo, undo." }
                </p>
            </header>

            if past {
                <p id="db-past-reason" class="db-past-note" role="status" data-testid="db-past-reason">
                    { PAST_REASON }
                </p>
            }

            { error_box(state, past, on_dismiss, reopen(DbOpenReason::Load, can_reopen),
                reopen(DbOpenReason::Erase, can_reopen)) }

            <div class="db-grid">
                <section class="panel db-write" aria-labelledby="db-write-heading">
                    <h3 id="db-write-heading">{ "Write" }</h3>
                    <form class="kv" onsubmit={on_submit}>
                        <div class="field">
                            <label for="db-key">{ "Key" }</label>
                            <input id="db-key" type="text" autocomplete="off" spellcheck="false"
                                maxlength={MAX_KEY_BYTES.to_string()} placeholder="e.g. apple"
                                value={key.clone()} oninput={text_input(DbAction::EditKey)} disabled={!live.is_ready()} />
                        </div>
                        <div class="field">
                            <label for="db-value">{ "Value" }</label>
                            <input id="db-value" type="text" autocomplete="off" spellcheck="false"
                                maxlength={MAX_VALUE_BYTES.to_string()} placeholder="e.g. red"
                                value={value.clone()} oninput={text_input(DbAction::EditValue)} disabled={!live.is_ready()} />
                        </div>
                        <div class="buttons">
                            <button type="submit" aria-disabled={off(can_write)}
                                aria-describedby={why("db-write-help")}>{ "Commit put" }</button>
                            <button type="button" onclick={form_op(can_write, FormOp::CommitDelete)}
                                aria-disabled={off(can_write)} aria-describedby={why_alone}>{ "Commit delete" }</button>
                            <button type="button" class="secondary" onclick={form_op(can_write, FormOp::Get)}
                                aria-disabled={off(can_write)} aria-describedby={why_alone}>{ "Get" }</button>
                        </div>
                        <p id="db-write-help" class="help-text">
                            { "Commit put: begin a transaction, put, commit. It shows as committing until \
                               the sync covering its commit record completes, then as acknowledged." }
                        </p>
                        <fieldset class="open-txn">
                            <legend>{ "An open transaction (to watch undo)" }</legend>
                            <div class="buttons">
                                <button type="button" class="secondary" onclick={form_op(can_write, FormOp::OpenPut)}
                                    aria-disabled={off(can_write)} aria-describedby={why_alone}>{ "Put in open transaction" }</button>
                                <button type="button" class="secondary" onclick={form_op(can_write, FormOp::OpenDelete)}
                                    aria-disabled={off(can_write)} aria-describedby={why_alone}>{ "Delete in open transaction" }</button>
                                <button type="button" onclick={form_op(can_finish, FormOp::CommitOpen)}
                                    aria-disabled={off(can_finish)} aria-describedby={why_alone}>{ "Commit open transaction" }</button>
                                <button type="button" class="danger" onclick={form_op(can_finish, FormOp::AbortOpen)}
                                    aria-disabled={off(can_finish)} aria-describedby={why_alone}>{ "Abort open transaction" }</button>
                            </div>
                            { open_txn_line(state) }
                        </fieldset>
                    </form>
                    if let Some((k, v)) = &state.lookup {
                        <p data-testid="lookup" class="lookup">
                            { match v {
                                Some(v) => format!("get {k:?} → {v:?}"),
                                None => format!("get {k:?} → not found"),
                            } }
                        </p>
                    }
                    <h4>{ "Your transactions" }</h4>
                    if state.txns.is_empty() {
                        <p class="muted">{ "None yet." }</p>
                    }
                    <ol aria-label="Your transactions" class="txns">
                        { for state.txns.iter().rev().map(|t| {
                            let current = t.open == state.opens;
                            let status = match t.phase {
                                crate::db_state::TxnPhase::Acked => format!(
                                    "acknowledged after {} ms", t.latency_ms.unwrap_or(0)),
                                crate::db_state::TxnPhase::Interrupted => "interrupted by a crash".to_owned(),
                                p => p.as_str().replace('-', " "),
                            };
                            html! {
                                <li key={format!("{}-{}", t.open, t.txn)} data-txn={t.txn.to_string()}
                                    data-state={t.phase.as_str()} class={classes!("txn", t.phase.as_str(), (!current).then_some("old"))}>
                                    <span class="txn-id">{ format!("txn {}", t.txn) }</span>
                                    <span class="txn-ops">{ t.ops.join("; ") }</span>
                                    <span class="txn-state">{ status }</span>
                                </li>
                            }
                        }) }
                    </ol>
                </section>

                <section class="panel db-crash" aria-labelledby="db-crash-heading">
                    <h3 id="db-crash-heading">{ "Crash and recover" }</h3>
                    <fieldset class="backend">
                        <legend>{ "Storage" }</legend>
                        <label>
                            <input type="radio" name="db-backend" value="indexeddb"
                                checked={state.backend == DbBackend::IndexedDb} disabled={!can_crash}
                                aria-describedby={why_alone}
                                onchange={choose_backend(DbBackend::IndexedDb)} />
                            { " IndexedDB: survives a reload; its transactions are atomic, so a crash never tears a page" }
                        </label>
                        <label>
                            <input type="radio" name="db-backend" value="simdisk"
                                checked={state.backend == DbBackend::SimDisk} disabled={!can_crash}
                                aria-describedby={why_alone}
                                onchange={choose_backend(DbBackend::SimDisk)} />
                            { " Simulated disk: in memory (a reload empties it); a crash may tear the last write in flight" }
                        </label>
                    </fieldset>
                    <div class="buttons">
                        <button type="button" class="danger" onclick={reopen(DbOpenReason::Crash, can_crash)}
                            aria-disabled={off(can_crash)} aria-describedby={why("db-crash-help")}>
                            { "Crash the database" }
                        </button>
                        if state.backend == DbBackend::SimDisk {
                            <button type="button" class="danger" onclick={on_crash_mid_checkpoint}
                                aria-disabled={off(can_crash_mid_checkpoint)} aria-describedby={why("db-crash-mid-help")}>
                                { "Crash during a checkpoint" }
                            </button>
                        }
                    </div>
                    <p id="db-crash-help" class="help-text">
                        { if state.backend == DbBackend::SimDisk {
                            "Drops the database and everything in memory (unsynced WAL records, dirty pages, \
                             open transactions) and crashes the simulated disk: writes no completed sync \
                             covered are lost, except a random part of those in flight, the last of which may \
                             be torn. Then recovery runs on what the disk kept."
                        } else {
                            "Drops the database and everything in memory (unsynced WAL records, dirty pages, \
                             open transactions), reopens IndexedDB and recovers, exactly as a reload does."
                        } }
                    </p>
                    if state.backend == DbBackend::SimDisk {
                        <p id="db-crash-mid-help" class="help-text">
                            { "Crash during a checkpoint: starts a checkpoint, runs until it has written a page and \
                               the sync after that write is in flight, then crashes. Write some keys first so that \
                               pages are dirty; a torn page shows in the recovery's redo as case R3." }
                        </p>
                    }
                    { recovery_panel(state) }
                </section>

                <div class="stack">
                <section class="panel db-workload" aria-labelledby="db-workload-heading">
                    <h3 id="db-workload-heading">{ "Workload" }</h3>
                    <div class="numbers">
                        <div class="field">
                            <label for="db-clients">{ "Clients" }</label>
                            <input id="db-clients" type="number" min="1" max={MAX_CLIENTS.to_string()}
                                value={live.clients_draft.to_string()}
                                oninput={number_input(DbAction::EditClients, MAX_CLIENTS)} />
                        </div>
                        <div class="field">
                            <label for="db-rate">{ "Transactions per second" }</label>
                            <input id="db-rate" type="number" min="1" max={MAX_RATE_PER_SEC.to_string()}
                                value={live.rate_draft.to_string()}
                                oninput={number_input(DbAction::EditRate, MAX_RATE_PER_SEC)} />
                        </div>
                    </div>
                    <div class="buttons">
                        <button type="button" onclick={on_workload} aria-disabled={off(live_ready)}
                            aria-describedby={why("db-workload-help")}>
                            { if live.workload_running() { "Stop workload" } else { "Start workload" } }
                        </button>
                    </div>
                    <p id="db-workload-help" class="help-text">
                        { "Each client reads a key, writes it and commits, then waits for the acknowledgement \
                           before its next transaction. With more clients than a sync takes, commits share syncs." }
                    </p>
                    { workload_line(state.snapshot.as_ref()) }
                </section>

                <section class="panel db-checkpoint" aria-labelledby="db-checkpoint-heading">
                    <h3 id="db-checkpoint-heading">{ "Checkpointer" }</h3>
                    <p data-testid="checkpoint-state">{ state.checkpoint_text() }</p>
                    if !state.checkpoint.flushed.is_empty() {
                        <p class="muted">
                            { format!("Pages written: {}", state.checkpoint.flushed.iter()
                                .map(|p| format!("p{p}")).collect::<Vec<_>>().join(", ")) }
                        </p>
                    }
                    <div class="buttons">
                        <button type="button" class="secondary" onclick={on_checkpoint}
                            aria-disabled={off(can_checkpoint)} aria-describedby={why("db-checkpoint-help")}>
                            { "Checkpoint now" }
                        </button>
                    </div>
                    <p id="db-checkpoint-help" class="help-text">
                        { "Writes the pages dirty now (each once the WAL rule allows), logs a checkpoint record, \
                           points the control file at it and trims WAL segments no one needs. It also runs by \
                           itself every 48 KiB of WAL." }
                    </p>
                </section>
                </div>

                { wal_panel(state) }
                { pages_panel(state) }
                <div class="wide pair">
                    { meters_panel(state.snapshot.as_ref(), &state.charts) }
                    { keys_panel(state.snapshot.as_ref()) }
                </div>
            </div>
            { timeline_bar }
        </section>
    }
}

/// The timeline under the view: the transport over the recording, and what it is.
fn timeline_bar(tl: &DbTimeline, d: &Dispatcher) -> Html {
    let r = tl.recording();
    let control = |c: TimelineControl| {
        let d = d.clone();
        Callback::from(move |()| d.control(c))
    };
    let on_seek = {
        let d = d.clone();
        Callback::from(move |p: u64| d.control(TimelineControl::Seek(p)))
    };
    let on_speed = {
        let d = d.clone();
        Callback::from(move |s: u32| d.control(TimelineControl::Speed(s)))
    };
    let speeds: Vec<(u32, AttrValue)> = SPEEDS
        .iter()
        .map(|(s, label)| (*s, AttrValue::Static(label)))
        .collect();
    html! {
        <section class="panel db-timeline" aria-labelledby="db-timeline-heading">
            <h3 id="db-timeline-heading">{ "Timeline: replay of this view" }</h3>
            <p class="help-text">
                { format!("Every payload this view received from the engine (event batches with a snapshot, the \
                   crash and the reopening, each recovery step shown, what the form did) is recorded, the newest \
                   {} at most (about {} MiB); step back, scrub or play to see the view as it was. The engine keeps \
                   running meanwhile. The recording lives in this tab's memory only: a reload is still a real crash \
                   (IndexedDB keeps what was durable, and recovery runs) and starts a new recording.",
                   r.limits().max_payloads, r.limits().max_bytes / (1024 * 1024)) }
            </p>
            { transport(TransportProps {
                id: "db-tl".into(),
                label: "Database timeline".into(),
                start: r.start(),
                end: r.end(),
                position: tl.position(),
                markers: transport_markers(r),
                playing: tl.playing(),
                speeds,
                speed: tl.speed(),
                status: tl.status().into(),
                value_text: tl.value_text().into(),
                on_play_pause: control(TimelineControl::PlayPause),
                on_step_back: control(TimelineControl::StepBack),
                on_step_forward: control(TimelineControl::StepForward),
                on_seek,
                on_speed,
                on_live: Some(control(TimelineControl::Live)),
                list_markers: true,
                on_marker: None,
            }) }
        </section>
    }
}

/// A form button's engine call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FormOp {
    CommitPut,
    CommitDelete,
    Get,
    OpenPut,
    OpenDelete,
    CommitOpen,
    AbortOpen,
}

fn run_form_op(cell: &HolderCell, dispatch: &Dispatcher, op: FormOp, key: &str, value: &str) {
    with_engine(cell, dispatch, DbErrorSource::Write, |e| {
        Ok(Some(match op {
            FormOp::CommitPut | FormOp::CommitDelete => {
                let v = (op == FormOp::CommitPut).then_some(value);
                let txn = e.commit_write(key, v)?;
                DbAction::FormWrote {
                    txn: txn.0,
                    op: op_text(key, v),
                    commit: true,
                }
            }
            FormOp::OpenPut | FormOp::OpenDelete => {
                let v = (op == FormOp::OpenPut).then_some(value);
                let txn = e.open_write(key, v)?;
                DbAction::FormWrote {
                    txn: txn.0,
                    op: op_text(key, v),
                    commit: false,
                }
            }
            FormOp::CommitOpen => DbAction::FormCommitted(e.commit_open()?.0),
            FormOp::AbortOpen => DbAction::FormAborted(e.abort_open()?.0),
            FormOp::Get => DbAction::Looked {
                key: key.to_owned(),
                value: e.get(key)?,
            },
        }))
    });
}

fn op_text(key: &str, value: Option<&str>) -> String {
    match value {
        Some(v) => format!("put {key} = {v}"),
        None => format!("delete {key}"),
    }
}

/// Runs `f` on the engine; its action (if any) is dispatched, then the engine's events.
fn with_engine(
    cell: &HolderCell,
    dispatch: &Dispatcher,
    source: DbErrorSource,
    f: impl FnOnce(&mut Engine) -> Result<Option<DbAction>, EngineError>,
) {
    let (result, generation) = match cell.try_borrow_mut() {
        Ok(mut h) => {
            let generation = h.generation;
            match h.engine.as_mut() {
                Some(e) => (f(e).map_err(|e| e.to_string()), generation),
                None => (Err("The database is not open.".to_owned()), generation),
            }
        }
        Err(_) => return dispatch_failed(dispatch, source, "Busy; try again.".to_owned()),
    };
    match result {
        Ok(Some(action)) => dispatch.dispatch(action),
        Ok(None) => {}
        Err(message) => dispatch_failed(dispatch, source, message),
    }
    pump(cell, dispatch, generation, true);
}

fn dispatch_failed(dispatch: &Dispatcher, source: DbErrorSource, message: String) {
    dispatch.dispatch(DbAction::Failed { source, message });
}

/// Ticks the engine at the page's clock and sends the view what changed.
fn pump(cell: &HolderCell, dispatch: &Dispatcher, generation: u64, force: bool) {
    let Ok(mut h) = cell.try_borrow_mut() else {
        // Busy in a handler right now: the next timer tick catches up.
        return;
    };
    if h.generation != generation {
        return;
    }
    let Some(e) = h.engine.as_mut() else { return };
    let now = crate::timer::now_ms();
    let mut failure = None;
    if e.stopped().is_none() {
        if let Err(err) = tick_engine(e, now) {
            if e.stopped().is_some() {
                failure = Some(format!(
                    "The database stopped: {err}. Press \u{201c}Crash the database\u{201d} to reopen it and recover from IndexedDB."
                ));
            }
        }
    }
    let view = take_view(e, now, force);
    drop(h);
    if let Some((events, snapshot)) = view {
        dispatch.dispatch(DbAction::Engine { events, snapshot });
    }
    if let Some(message) = failure {
        dispatch_failed(dispatch, DbErrorSource::Engine, message);
    }
}

fn storage_view(storage: &IdbStorage) -> StorageView {
    let s = storage.sync_status();
    StorageView {
        in_flight: s.in_flight.len() as u64,
        waiting: s.waiting.len() as u64,
        transactions: s.transactions_committed,
    }
}

/// The clock: ticks the engine of one open until a newer open replaces it.
async fn ticker(cell: Weak<RefCell<Holder>>, dispatch: Dispatcher, generation: u64) {
    loop {
        crate::timer::sleep_ms(TICK_MS).await;
        let Some(cell) = cell.upgrade() else { return };
        if cell.borrow().generation != generation {
            return;
        }
        pump(&cell, &dispatch, generation, false);
    }
}

/// Load, crash, erase or a change of storage: drop the engine, open the storage again (from
/// IndexedDB, or the simulated disk after its crash), recover.
async fn open_db(cell: HolderCell, dispatch: Dispatcher, reason: DbOpenReason, backend: DbBackend) {
    dispatch.dispatch(DbAction::Opening(reason));
    let (old, generation) = {
        let mut h = cell.borrow_mut();
        h.generation += 1;
        (h.engine.take(), h.generation)
    };
    let seed = 0x5eed ^ generation;
    // The crash: every volatile change goes with the old storage.
    let mut crashed_disk = None;
    if let Some(old) = old {
        let page_size = old.db().tree().map_or(4096, |t| t.page_size());
        match old.into_storage() {
            PlaygroundStorage::IndexedDb(s) => s.close().await,
            PlaygroundStorage::SimDisk(mut disk)
                if backend == DbBackend::SimDisk && reason == DbOpenReason::Crash =>
            {
                let report = disk.crash();
                crashed_disk = Some((disk, describe_crash(&report, page_size)));
            }
            PlaygroundStorage::SimDisk(_) => {}
        }
    }
    let opened = if backend == DbBackend::SimDisk {
        let (disk, crash) = match crashed_disk {
            Some((disk, text)) => (disk, Some(text)),
            None => (Box::new(playground_sim_disk(seed)), None),
        };
        DbEngine::open(PlaygroundStorage::SimDisk(disk), seed).map(|(e, r)| (e, r, crash))
    } else {
        if reason == DbOpenReason::Erase {
            if let Err(e) = delete_database(DB_NAMESPACE).await {
                dispatch.dispatch(DbAction::OpenFailed(format!(
                    "Could not erase the stored database: {e}"
                )));
                return;
            }
        }
        let storage = match IdbStorage::open(DB_NAMESPACE).await {
            Ok(s) => s,
            Err(e) => {
                dispatch.dispatch(DbAction::OpenFailed(format!(
                    "Could not open the stored database: {e}"
                )));
                return;
            }
        };
        if cell.borrow().generation != generation {
            // A newer open started meanwhile; it wins.
            storage.close().await;
            return;
        }
        let on_completion = {
            let (weak, dispatch) = (Rc::downgrade(&cell), dispatch.clone());
            Rc::new(move || {
                if let Some(cell) = weak.upgrade() {
                    pump(&cell, &dispatch, generation, false);
                }
            }) as Rc<dyn Fn()>
        };
        storage.set_on_completion(on_completion);
        DbEngine::open(PlaygroundStorage::IndexedDb(storage), seed).map(|(e, r)| (e, r, None))
    };
    let (mut engine, recovery, crash) = match opened {
        Ok(opened) => opened,
        Err(e) => {
            dispatch.dispatch(DbAction::OpenFailed(format!(
                "Recovery failed: {e}. Nothing was changed in storage; erasing the stored database starts afresh."
            )));
            return;
        }
    };
    let Some((events, snapshot)) = take_view(&mut engine, crate::timer::now_ms(), true) else {
        unreachable!("the first view after opening always has a snapshot");
    };
    cell.borrow_mut().engine = Some(engine);
    dispatch.dispatch(DbAction::Opened {
        backend,
        crash,
        report: recovery.describe(),
        losers: recovery.losers.iter().map(|t| t.0).collect(),
        animate: !crate::app::prefers_reduced_motion(),
        events,
        snapshot,
    });
    spawn_local(ticker(Rc::downgrade(&cell), dispatch, generation));
}

/// The alert, with the ways out of a failed open.
fn error_box(
    state: &DbViewState,
    past: bool,
    on_dismiss: Callback<MouseEvent>,
    on_retry: Callback<MouseEvent>,
    on_erase: Callback<MouseEvent>,
) -> Html {
    let Some((source, message)) = &state.error else {
        return html! {};
    };
    let failed = state.phase == DbPhase::Failed;
    // In the past the alert is the past's; its buttons would act on the present.
    let off = past.then_some("true");
    let why = past.then_some("db-past-reason");
    html! {
        <div class="alert" role="alert">
            <p>{ message }</p>
            <div class="buttons">
                if failed {
                    <button type="button" onclick={on_retry} aria-disabled={off} aria-describedby={why}>
                        { "Try opening the database again" }</button>
                    <button type="button" class="danger" onclick={on_erase} aria-disabled={off}
                        aria-describedby={why}>{ "Erase the stored database" }</button>
                } else if *source != DbErrorSource::Open {
                    <button type="button" class="secondary" onclick={on_dismiss} aria-disabled={off}
                        aria-describedby={why}>{ "Dismiss the database error" }</button>
                }
            </div>
        </div>
    }
}

fn open_txn_line(state: &DbViewState) -> Html {
    match state.open_form_txn() {
        None => html! {
            <p data-testid="open-txn" data-txn="" data-durable="false" class="muted">
                { "No open transaction. Its writes stay uncommitted until you commit or abort it, or a crash \
                   makes recovery undo them." }
            </p>
        },
        Some(t) => {
            let durable = t.last_lsn.is_some_and(|l| state.is_durable(l));
            let where_ = match t.last_lsn {
                Some(l) if durable => {
                    format!("its last record, lsn {l}, is durable (recovery will undo it)")
                }
                Some(l) => {
                    format!("its last record, lsn {l}, is not durable yet (a crash now loses it)")
                }
                None => "nothing logged yet".to_owned(),
            };
            html! {
                <p data-testid="open-txn" data-txn={t.txn.to_string()} data-durable={durable.to_string()}>
                    { format!("txn {} is open: {}; {where_}.", t.txn, t.ops.join("; ")) }
                </p>
            }
        }
    }
}

fn workload_line(snapshot: Option<&Snapshot>) -> Html {
    let Some(s) = snapshot else { return html! {} };
    let w = s.workload;
    if !w.running && w.started == 0 {
        return html! {
            <p data-testid="workload-stats" data-running="false" class="muted">
                { "Not started since the database opened." }
            </p>
        };
    }
    html! {
        <p data-testid="workload-stats" data-running={w.running.to_string()}>
            { format!(
                "{}: {} clients at {} transactions/s. Started {}, acknowledged {}, waiting for a sync {}; \
                 aborted on a lock conflict {}, on a full buffer pool {}.",
                if w.running { "Running" } else { "Stopped" },
                w.clients, w.rate_per_sec, w.started, w.acked, w.waiting, w.conflicts, w.blocked
            ) }
        </p>
    }
}

fn recovery_panel(state: &DbViewState) -> Html {
    let Some(r) = &state.recovery else {
        let text = match state.phase {
            DbPhase::Failed => "Recovery did not finish; see the error above.",
            _ => "Opening the database from IndexedDB…",
        };
        return html! {
            <section class="report" data-testid="db-recovery-report" aria-live="polite">
                <h4>{ "Recovery" }</h4><p>{ text }</p>
            </section>
        };
    };
    let phases = [("analysis", "Analysis"), ("redo", "Redo"), ("undo", "Undo")];
    html! {
        <>
            <section class="report" data-testid="db-recovery-report" aria-live="polite">
                <h4>{ "Recovery" }</h4>
                if let Some(crash) = &r.crash {
                    <p data-testid="crash-report">{ crash }</p>
                }
                <p>{ &r.report }</p>
                <p>{ undo_text(r) }</p>
                <p class="muted">{ if r.finished { "Recovery finished." } else { "Recovering…" } }</p>
            </section>
            <ol class="phases" aria-label="Recovery phases">
                { for phases.iter().map(|(id, name)| {
                    let (shown, total) = (r.phase_count(id), r.phase_total(id));
                    let state = if total == 0 { "empty" } else if shown == total { "done" } else if shown > 0 { "active" } else { "waiting" };
                    html! {
                        <li class={classes!("phase", state)} data-phase={*id} data-state={state}>
                            <span class="phase-name">{ *name }</span>
                            <progress max={total.max(1).to_string()} value={shown.to_string()}
                                aria-label={format!("{name}: {shown} of {total} steps")}></progress>
                            <span class="phase-count">{ format!("{shown} / {total}") }</span>
                        </li>
                    }
                }) }
            </ol>
            if !r.tally.is_empty() {
                <p class="tally muted">
                    { format!("Cases so far: {}", r.tally.iter().map(|(c, n)| format!("{c}×{n}"))
                        .collect::<Vec<_>>().join(", ")) }
                </p>
            }
            <p class="muted help-text">{ "Newest step first:" }</p>
            <ol class="steps" aria-label="Recovery steps" tabindex="0">
                { for r.listed().collect::<Vec<_>>().into_iter().rev().map(|(i, s)| {
                    let latest = i + 1 == r.shown && !r.finished;
                    html! {
                        <li key={i.to_string()} data-phase={step_phase(s)} data-case={step_case(s)}
                            class={classes!("step", step_phase(s), latest.then_some("latest"))}>
                            <span class="case">{ step_case(s) }</span>
                            <span>{ step_text(s) }</span>
                        </li>
                    }
                }) }
            </ol>
        </>
    }
}

/// What undo did, from the losers and their `RolledBack` events.
fn undo_text(r: &RecoveryView) -> String {
    if r.losers.is_empty() {
        return "Undo: no transaction was left uncommitted.".to_owned();
    }
    let done: Vec<String> = r
        .rolled_back
        .iter()
        .map(|(t, n)| {
            format!(
                "rolled back txn {t} ({n} update{} undone)",
                if *n == 1 { "" } else { "s" }
            )
        })
        .collect();
    let waiting: Vec<String> = r
        .losers
        .iter()
        .filter(|t| !r.rolled_back.iter().any(|(d, _)| d == *t))
        .map(|t| format!("txn {t}"))
        .collect();
    let mut parts = done;
    if !waiting.is_empty() {
        parts.push(format!("{} still to roll back", waiting.join(", ")));
    }
    format!("Undo: {}.", parts.join("; "))
}

fn wal_panel(state: &DbViewState) -> Html {
    let snap = state.snapshot.as_ref();
    html! {
        <section class="panel db-wal wide" aria-labelledby="db-wal-heading">
            <h3 id="db-wal-heading">{ "The write-ahead log and its syncs" }</h3>
            if let Some(s) = snap {
                <p data-testid="wal-extent">
                    { format!(
                        "WAL holds lsn {}..{}, durable below lsn {}; {} bytes in {} segment{}.",
                        s.wal.first, s.wal.next, s.wal.durable_next, s.wal.size_bytes, s.wal.segments,
                        if s.wal.segments == 1 { "" } else { "s" }
                    ) }
                </p>
                <p data-testid="group-commit-stats">{ state.group_commit_text() }</p>
                { commit_charts(&state.charts) }
                <p data-testid="engine-events" data-events={state.events.total.to_string()}>
                    { format!("{} engine event{} since the database opened (appends, syncs, acknowledgements, \
                        checkpoint steps), about {} a second.", state.events.total,
                        if state.events.total == 1 { "" } else { "s" }, state.events.per_sec) }
                </p>
                if let Some(st) = s.storage {
                    <p class="muted" data-testid="idb-syncs">
                        { format!(
                            "IndexedDB: {} transaction{} committed; {} sync{} in the running transaction, {} waiting for the next.",
                            st.transactions, if st.transactions == 1 { "" } else { "s" },
                            st.in_flight, if st.in_flight == 1 { "" } else { "s" }, st.waiting
                        ) }
                    </p>
                }
            }
            <ol class="batches" aria-label="WAL sync batches">
                { for state.batches.iter().rev().map(|b| {
                    let more = b.record_count.saturating_sub(b.records.len() as u64);
                    let range = if b.record_count == 0 {
                        "no new records".to_owned()
                    } else {
                        format!("lsn {}..{} ({} record{})", b.from, b.covers - 1, b.record_count,
                            if b.record_count == 1 { "" } else { "s" })
                    };
                    html! {
                        <li key={b.sync.to_string()} class={classes!("batch", b.status.as_str().replace(' ', "-"))}
                            data-sync={b.sync.to_string()} data-status={b.status.as_str()}>
                            <div class="batch-head">
                                <span class="batch-id">{ format!("sync#{}", b.sync) }</span>
                                <span>{ reason_text(b.reason) }</span>
                                <span>{ format!("{} commit{}", b.commits, if b.commits == 1 { "" } else { "s" }) }</span>
                                <span>{ range }</span>
                                <span class="batch-status">{ b.status.as_str() }</span>
                            </div>
                            { chips(&b.records, more) }
                        </li>
                    }
                }) }
            </ol>
            if state.pending_count > 0 {
                <div class="batch pending" data-testid="wal-pending">
                    <div class="batch-head">
                        <span class="batch-id">{ "no sync yet" }</span>
                        <span>{ format!("{} record{} appended, volatile", state.pending_count,
                            if state.pending_count == 1 { "" } else { "s" }) }</span>
                    </div>
                    { chips(&state.pending, state.pending_count.saturating_sub(state.pending.len() as u64)) }
                </div>
            }
            if snap.is_none() {
                <p class="muted">{ "Waiting for recovery to finish: the panels below then show the recovered database." }</p>
            } else if state.batches.is_empty() && state.pending_count == 0 {
                <p class="muted">{ "No WAL records since the database opened." }</p>
            }
        </section>
    }
}

fn chips(records: &[crate::db_state::WalEntry], more: u64) -> Html {
    html! {
        <ul class="chips" aria-label="Records">
            { for records.iter().map(|r| html! {
                <li class={classes!("chip", r.kind)} data-kind={r.kind}>
                    { match r.txn {
                        Some(t) => format!("{} {} t{}", r.lsn, r.kind, t),
                        None => format!("{} {}", r.lsn, r.kind),
                    } }
                </li>
            }) }
            if more > 0 {
                <li class="chip more">{ format!("+{more} more") }</li>
            }
        </ul>
    }
}

fn pages_panel(state: &DbViewState) -> Html {
    let Some(s) = &state.snapshot else {
        return html! {};
    };
    let shape = &s.shape;
    let torn: &[u64] = state.recovery.as_ref().map_or(&[], |r| r.torn.as_slice());
    let frame_of = |page: u64| s.frames.iter().find(|f| f.page.0 == page);
    let dirty = s.frames.iter().filter(|f| f.rec_lsn.is_some()).count();
    html! {
        <section class="panel db-pages wide" aria-labelledby="db-pages-heading">
            <h3 id="db-pages-heading">{ "The B-tree's pages" }</h3>
            <p data-testid="tree-shape">
                { format!(
                    "Height {}, {} pages of {} bytes (page 0 is the meta page); {} of {} buffer frames in use, {} dirty.",
                    shape.height, shape.page_count, shape.page_size, s.frames.len(), s.pool_capacity, dirty
                ) }
                if shape.truncated { { " Only the first pages are drawn." } }
            </p>
            <ul class="legend" aria-label="Legend">
                <li class="tpage dirty">{ "dirty: changed in memory, not yet written" }</li>
                <li class="tpage clean">{ "clean: in memory, same as on storage" }</li>
                <li class="tpage on-disk">{ "on storage only" }</li>
                <li class="tpage torn">{ "torn: repaired by recovery (R3)" }</li>
            </ul>
            { for (1..=shape.height).map(|depth| {
                let kind = if depth == shape.height { "leaves" } else if depth == 1 { "root" } else { "internal" };
                html! {
                    <div class="level">
                        <h4 class="level-name">{ format!("Level {depth}: {kind}") }</h4>
                        <ol class="pages" aria-label={format!("Pages at level {depth}")}>
                            { for shape.level(depth).map(|p| {
                                let frame = frame_of(p.id.0);
                                let st = match frame {
                                    Some(f) if f.rec_lsn.is_some() => "dirty",
                                    Some(_) => "clean",
                                    None => "on-disk",
                                };
                                let was_torn = torn.contains(&p.id.0);
                                let flushed = state.checkpoint.flushed.contains(&p.id.0);
                                let range = match (&p.first_key, &p.last_key) {
                                    (Some(a), Some(b)) => format!("{}…{}", String::from_utf8_lossy(a), String::from_utf8_lossy(b)),
                                    _ => "empty".to_owned(),
                                };
                                let kind = match p.page_type { PageType::Leaf => "leaf", _ => "internal" };
                                html! {
                                    <li key={p.id.0.to_string()} data-page={p.id.0.to_string()} data-state={st}
                                        data-torn={was_torn.to_string()}
                                        class={classes!("tpage", st, was_torn.then_some("torn"))}>
                                        <span class="page-id">{ format!("p{}", p.id.0) }</span>
                                        <span>{ format!("{kind}, {} key{}", p.keys, if p.keys == 1 { "" } else { "s" }) }</span>
                                        <span class="muted">{ range }</span>
                                        <span class="muted">{ format!("page lsn {}", p.lsn.0) }</span>
                                        <span class="page-state">{ st.replace('-', " ") }</span>
                                        if was_torn { <span class="badge">{ "was torn, repaired" }</span> }
                                        if flushed { <span class="badge">{ "written by the last checkpoint" }</span> }
                                    </li>
                                }
                            }) }
                        </ol>
                    </div>
                }
            }) }
            <details class="frames">
                <summary>{ format!("Buffer pool: {} of {} frames", s.frames.len(), s.pool_capacity) }</summary>
                <ol aria-label="Buffer pool frames" class="frame-list">
                    { for s.frames.iter().map(|f| {
                        let text = match f.rec_lsn {
                            Some(rec) => format!(
                                "frame {}: page {}, dirty since lsn {} (page lsn {}); WAL rule: {}",
                                f.frame, f.page.0, rec.0, f.page_lsn.0,
                                if f.writable { "may be written" } else { "must wait for the WAL" }),
                            None => format!("frame {}: page {}, clean (page lsn {})", f.frame, f.page.0, f.page_lsn.0),
                        };
                        html! { <li class={if f.rec_lsn.is_some() { "dirty" } else { "clean" }}>{ text }</li> }
                    }) }
                </ol>
            </details>
        </section>
    }
}

fn meters_panel(snapshot: Option<&Snapshot>, charts: &DbCharts) -> Html {
    let Some(s) = snapshot else { return html! {} };
    let a = s.amplification;
    let rows = [
        (
            "Write amplification",
            a.write,
            "(WAL + page bytes written) / bytes the clients wrote",
            &charts.write,
        ),
        (
            "… of which WAL",
            a.wal_write,
            "WAL bytes / client bytes",
            &charts.wal_write,
        ),
        (
            "… of which pages",
            a.index_write,
            "page file bytes / client bytes",
            &charts.index_write,
        ),
        (
            "Read: pages per lookup",
            a.read_pages_per_lookup,
            "pages visited per get",
            &charts.read_pages,
        ),
        (
            "Read: storage reads per lookup",
            a.disk_reads_per_lookup,
            "buffer misses per get",
            &charts.disk_reads,
        ),
        (
            "Space amplification",
            a.space,
            "(WAL + page file bytes) / live key and value bytes",
            &charts.space,
        ),
    ];
    html! {
        <section class="panel db-meters" aria-labelledby="db-meters-heading">
            <h3 id="db-meters-heading">{ "Amplification" }</h3>
            <dl class="meters" data-testid="amplification">
                { for rows.iter().map(|(name, v, what, series)| html! {
                    <div class="meter">
                        <dt>{ *name }</dt>
                        <dd>
                            <strong>{ fixed(*v, 2) }</strong>{ " " }<span class="muted">{ *what }</span>
                            <span class="meter-chart">
                                { sparkline(name, &series.values(), 2) }
                            </span>
                        </dd>
                    </div>
                }) }
            </dl>
            <p class="muted">
                { format!("Counters start at zero each time the database opens: since then {} commits, \
                    {} rollbacks, {} checkpoints, {} WAL bytes. {CHART_TEXT}",
                    s.stats.commits, s.stats.aborts, s.stats.checkpoints, s.stats.wal_bytes) }
            </p>
        </section>
    }
}

/// What the small charts span, for people ([`crate::chart::MAX_SAMPLES`] samples every
/// [`crate::db_state::CHART_SAMPLE_MS`]; a test in `db_state` keeps the two in step).
const CHART_TEXT: &str =
    "The small charts show the last 30 seconds of engine time, a sample every quarter second.";

/// The group-commit figures over time: commits per sync, commit latency, throughput.
fn commit_charts(charts: &DbCharts) -> Html {
    let rows = [
        (
            "Commits per commit sync",
            "per quarter second",
            &charts.commits_per_sync,
            1,
        ),
        (
            "Commit latency (ms)",
            "mean per quarter second",
            &charts.latency_ms,
            1,
        ),
        (
            "Throughput (commits per second)",
            "of engine time",
            &charts.commits_per_sec,
            0,
        ),
    ];
    html! {
        <dl class="meters db-commit-charts" data-testid="commit-charts">
            { for rows.iter().map(|(name, what, series, digits)| html! {
                { meter_chart(name, what, &series.values(), *digits) }
            }) }
        </dl>
    }
}

fn keys_panel(snapshot: Option<&Snapshot>) -> Html {
    let Some(s) = snapshot else { return html! {} };
    let k = &s.keys;
    html! {
        <section class="panel db-keys" aria-labelledby="db-keys-heading">
            <h3 id="db-keys-heading">{ "Stored keys" }</h3>
            <p class="muted" data-testid="key-count">
                { format!("{} acknowledged key{} (a scan outside any transaction: uncommitted writes do not show).",
                    k.total, if k.total == 1 { "" } else { "s" }) }
                if (k.entries.len() as u64) < k.total { { format!(" The first {} are listed.", k.entries.len()) } }
            </p>
            <div class="table-wrap" tabindex="0" role="region" aria-label="Table of the stored keys">
                <table aria-label="Stored keys">
                    <thead><tr><th scope="col">{ "Key" }</th><th scope="col">{ "Value" }</th></tr></thead>
                    <tbody>
                        { for k.entries.iter().map(|(key, value)| html! {
                            <tr key={key.clone()} data-key={key.clone()}>
                                <td>{ key }</td><td>{ value }</td>
                            </tr>
                        }) }
                    </tbody>
                </table>
            </div>
        </section>
    }
}
