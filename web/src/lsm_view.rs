//! The LSM view: the same workload on a B-tree database and an LSM database (both on
//! in-memory simulated disks, [`LsmEngine`](crate::lsm_engine::LsmEngine)), the LSM tree's
//! structure drawn from its own events, lookups lit up table by table, the amplification
//! meters side by side, a crash of the LSM database with its recovery — and a timeline
//! under it all ([`transport`]): play, pause, step, scrub, speed, with a marker for every
//! flush, compaction, crash and recovery.
//!
//! The page is a view of [`LsmViewState`] (pure, in [`crate::lsm_state`]) plus the recorded
//! run ([`LsmRun`]), held outside the state. Time travel is replay: the run is its seed and
//! its inputs with the virtual millisecond each was applied at, so every position is
//! rebuilt exactly (from the nearest snapshot). The page's clock only decides how far
//! virtual time moves: a timer fires every [`TICK_MS`], and while playing the run advances
//! by the wall time since the last tick times the speed, in whole 1 ms steps (at most
//! [`MAX_STEPS_PER_TICK`] per tick; a late timer, as in a background tab, catches up at
//! most [`MAX_WALL_GAP_MS`]). Each form button is one input at the position — in the past,
//! it branches (the recorded future is discarded) — and a lookup is a read that changes
//! nothing. After a crash the user caused, recovery's steps are revealed a few at a time
//! (all at once under `prefers-reduced-motion: reduce`, or when scrubbing past a crash).
//!
//! # DOM hooks (the end-to-end test relies on them)
//! `section[data-testid=lsm]` with `data-lsm-phase` (opening|ready|failed),
//! `data-recovery` (none|running|done), `data-flushes`, `data-compactions` (finished since
//! the run began, at the position), `data-settled`, `data-position-ms`, `data-end-ms`; inputs labelled "Workload
//! clients", "Workload transactions per second", "Key to write", "Value to write", "Key to
//! look up"; buttons "Start the workload on both databases"/"Stop the workload on both
//! databases", "Write to both databases", "Look up", "Crash the LSM database";
//! `[data-testid=lsm-history]` (what acting does here: live, or a branch);
//! `[data-testid=lsm-memtable]` (a `meter`), `ol[aria-label="LSM levels"] > li[data-level]`
//! each with `li[data-table][data-mark][data-probe]`; `[data-testid=lsm-job]`;
//! `ol[aria-label="LSM events"] > li[data-kind]`; `[data-testid=lsm-lookup]` with
//! `ol[aria-label="Lookup path"] > li[data-outcome]`; `dl[data-testid=amp-btree]` and
//! `dl[data-testid=amp-lsm]` with `[data-meter=write|read|space][data-value]`;
//! `[data-testid=amp-write-chart]` (both write amplifications over time, one `svg[role=img]`);
//! `[data-testid=lsm-recovery][data-keys-before][data-keys-after][data-keys-match]`;
//! `ol[aria-label="LSM recovery steps"] > li[data-case]`; the live region
//! `[data-testid=lsm-announce]`; errors in `[role=alert]`. The timeline is a [`transport`]
//! group named "Timeline of both databases" (buttons "Back to the start", "Step back",
//! "Play"/"Pause", "Step forward", "Back to live"; the slider "Position in the timeline of
//! both databases"; speed radios; status `[data-testid=lsm-time-status]`).

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use logspine_core::db::DbAmplification;
use logspine_core::lsm::table_set::{ProbeOutcome, ProbeSource};
use wasm_bindgen_futures::spawn_local;
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::chart::{lines_chart, Line};
use crate::db_state::{step_case, step_phase, step_text};
use crate::decimal::fixed;
use crate::lsm_engine::{config_text, LsmInput, MAX_KEY_BYTES, MAX_VALUE_BYTES};
use crate::lsm_run::LsmRun;
use crate::lsm_state::{
    bytes_text, AmpCharts, LevelView, LookupView, LsmAction, LsmPhase, LsmViewState, MemtableView,
    PairSnapshot, TimelineView,
};
use crate::transport::{transport, TransportProps};
use crate::workload::{MAX_CLIENTS, MAX_RATE_PER_SEC};

/// How often the clock ticks the run.
pub const TICK_MS: u32 = 25;
/// Virtual ms one tick advances at most (a slow machine plays slower than asked).
pub const MAX_STEPS_PER_TICK: u64 = 200;
/// Wall time one tick accounts for at most (a late timer does not jump far ahead).
pub const MAX_WALL_GAP_MS: u64 = 250;
/// While playing, the view is redrawn at most this often (wall ms); a control redraws at
/// once.
pub const VIEW_EVERY_MS: u64 = 80;
/// The speeds offered, in percent of real time.
pub const SPEEDS: [(u32, &str); 4] = [(25, "¼×"), (100, "1×"), (200, "2×"), (400, "4×")];
/// The recovery animation's step.
const REVEAL_MS: u32 = 50;

struct Holder {
    run: Option<LsmRun>,
    /// Bumped by every open: an older clock stops.
    generation: u64,
    playing: bool,
    /// Percent of real time.
    speed: u32,
    /// The page's clock at the last tick.
    last_wall_ms: Option<u64>,
    /// Wall ms × speed (percent) not yet turned into steps.
    carry: u64,
    /// The page's clock when the view was last sent while playing.
    last_view_ms: u64,
}

impl Default for Holder {
    fn default() -> Self {
        Holder {
            run: None,
            generation: 0,
            playing: true,
            speed: 100,
            last_wall_ms: None,
            carry: 0,
            last_view_ms: 0,
        }
    }
}

type HolderCell = Rc<RefCell<Holder>>;
type Dispatcher = UseReducerDispatcher<LsmViewState>;

/// Seconds of virtual time, for people.
fn secs(ms: u64) -> String {
    format!("{}.{:03} s", ms / 1000, ms % 1000)
}

/// The status line under the slider.
fn timeline_status(t: &TimelineView) -> String {
    let play = if t.playing { "playing" } else { "paused" };
    if t.at_end() {
        format!(
            "{} of virtual time, {play} at the live end: an action applies now and the run goes on.",
            secs(t.position_ms)
        )
    } else {
        format!(
            "{} of {} recorded, {play} in the past ({} recorded action{} ahead): an action here \
             branches and discards the recorded future.",
            secs(t.position_ms),
            secs(t.end_ms),
            t.future_inputs,
            if t.future_inputs == 1 { "" } else { "s" }
        )
    }
}

/// The LSM view.
#[function_component(LsmView)]
pub fn lsm_view() -> Html {
    let state = use_reducer(LsmViewState::default);
    let cell: HolderCell = use_mut_ref(Holder::default);

    {
        let (cell, dispatch) = (cell.clone(), state.dispatcher());
        use_effect_with((), move |_| open(&cell, &dispatch));
    }
    // The recovery animation.
    {
        let dispatch = state.dispatcher();
        let pending = state
            .trace
            .recovery
            .as_ref()
            .filter(|r| state.steps_shown() < r.steps.len())
            .map(|r| (r.crash, state.steps_shown()));
        use_effect_with(pending, move |pending| {
            let cancelled = Rc::new(Cell::new(false));
            if pending.is_some() {
                let cancelled = cancelled.clone();
                spawn_local(async move {
                    crate::timer::sleep_ms(REVEAL_MS).await;
                    if !cancelled.get() {
                        dispatch.dispatch(LsmAction::Reveal);
                    }
                });
            }
            move || cancelled.set(true)
        });
    }

    let ready = state.is_ready();
    let off = |allowed: bool| (!allowed).to_string();
    let text_input = |make: fn(String) -> LsmAction| {
        let dispatch = state.dispatcher();
        Callback::from(move |e: InputEvent| {
            let input: HtmlInputElement = e.target_unchecked_into();
            dispatch.dispatch(make(input.value()));
        })
    };
    let number_input = |make: fn(u32) -> LsmAction, max: u32| {
        let dispatch = state.dispatcher();
        Callback::from(move |e: InputEvent| {
            let input: HtmlInputElement = e.target_unchecked_into();
            if let Ok(n) = input.value().trim().parse::<u32>() {
                dispatch.dispatch(make(n.clamp(1, max)));
            }
        })
    };
    let on_workload = {
        let (cell, dispatch) = (cell.clone(), state.dispatcher());
        let (running, clients, rate) = (state.workload_running(), state.clients, state.rate);
        Callback::from(move |_: MouseEvent| {
            if ready {
                let input = if running {
                    LsmInput::StopWorkload
                } else {
                    LsmInput::StartWorkload {
                        clients,
                        rate_per_sec: rate,
                    }
                };
                act(&cell, &dispatch, input);
            }
        })
    };
    let on_write = {
        let (cell, dispatch) = (cell.clone(), state.dispatcher());
        let (key, value) = (state.write_key.clone(), state.write_value.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            if ready {
                act(
                    &cell,
                    &dispatch,
                    LsmInput::Write {
                        key: key.clone(),
                        value: value.clone(),
                    },
                );
            }
        })
    };
    let on_lookup = {
        let (cell, dispatch) = (cell.clone(), state.dispatcher());
        let key = state.lookup_key.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            if ready {
                lookup(&cell, &dispatch, &key);
            }
        })
    };
    let can_crash = ready && state.recovery_state() != "running";
    let on_crash = {
        let (cell, dispatch) = (cell.clone(), state.dispatcher());
        Callback::from(move |_: MouseEvent| {
            if can_crash {
                act(&cell, &dispatch, LsmInput::CrashLsm);
            }
        })
    };
    let on_dismiss = {
        let dispatch = state.dispatcher();
        Callback::from(move |_: MouseEvent| dispatch.dispatch(LsmAction::DismissError))
    };

    let snap = state.snapshot.as_ref();
    let t = &state.timeline;
    html! {
        <section class="lsm" data-testid="lsm" aria-labelledby="lsm-heading"
            data-lsm-phase={state.phase.as_str()} data-recovery={state.recovery_state()}
            data-flushes={state.trace.flushes_done.to_string()}
            data-compactions={state.trace.compactions_done.to_string()}
            data-settled={snap.is_some_and(|s| s.settled).to_string()}
            data-position-ms={t.position_ms.to_string()} data-end-ms={t.end_ms.to_string()}
            aria-busy={(state.phase == LsmPhase::Opening).to_string()}>
            <header class="section-head">
                <h2 id="lsm-heading">{ "Two indexes, one log: B-tree and LSM tree side by side" }</h2>
                <p class="muted">
                    { "The same workload runs on two databases on simulated disks in memory: one keeps a \
                       B-tree, the other an LSM tree. Every transaction that commits on the B-tree database \
                       is read back from its write-ahead log and replayed, same reads, same writes, in \
                       commit order, on the LSM database. Watch the memtable fill, flush into L0, and \
                       compactions merge tables down the levels; look a key up to see which tables a read \
                       touches; compare what each index costs. The timeline under the view goes back to \
                       any moment: the run is replayed from its seed and your actions, exactly." }
                </p>
                <p class="muted lsm-config" data-testid="lsm-config">
                    { format!("LSM configuration: {}.", config_text()) }
                </p>
            </header>

            if let Some(message) = &state.error {
                <div class="alert" role="alert">
                    <p>{ message }</p>
                    if state.phase != LsmPhase::Failed {
                        <div class="buttons">
                            <button type="button" onclick={on_dismiss}>{ "Dismiss the LSM view error" }</button>
                        </div>
                    }
                </div>
            }

            <p class="visually-hidden" aria-live="polite" data-testid="lsm-announce">
                { state.trace.announcement.clone() }
            </p>

            <div class="lsm-grid">
                <section class="panel" aria-labelledby="lsm-drive-heading">
                    <h3 id="lsm-drive-heading">{ "Drive both databases" }</h3>
                    <p class={classes!("muted", "lsm-history", (!t.at_end()).then_some("past"))}
                        id="lsm-history" data-testid="lsm-history"
                        data-past={(!t.at_end()).to_string()}>
                        { if t.at_end() {
                            "At the live end of the timeline: an action applies now and the run goes on."
                        } else {
                            "You are in the past: an action here branches. The recorded future is \
                             discarded and the run goes on from here with your action. A lookup is \
                             a read and changes nothing."
                        } }
                    </p>
                    <div class="numbers">
                        <div class="field">
                            <label for="lsm-clients">{ "Workload clients" }</label>
                            <input id="lsm-clients" type="number" min="1" max={MAX_CLIENTS.to_string()}
                                value={state.clients.to_string()}
                                oninput={number_input(LsmAction::EditClients, MAX_CLIENTS)} />
                        </div>
                        <div class="field">
                            <label for="lsm-rate">{ "Workload transactions per second" }</label>
                            <input id="lsm-rate" type="number" min="1" max={MAX_RATE_PER_SEC.to_string()}
                                value={state.rate.to_string()}
                                oninput={number_input(LsmAction::EditRate, MAX_RATE_PER_SEC)} />
                        </div>
                    </div>
                    <div class="buttons">
                        <button type="button" onclick={on_workload} aria-disabled={off(ready)}
                            aria-describedby="lsm-history">
                            { if state.workload_running() { "Stop the workload on both databases" }
                              else { "Start the workload on both databases" } }
                        </button>
                    </div>
                    { workload_line(snap) }
                    <form class="kv" onsubmit={on_write}>
                        <div class="field">
                            <label for="lsm-write-key">{ "Key to write" }</label>
                            <input id="lsm-write-key" type="text" autocomplete="off" spellcheck="false"
                                maxlength={MAX_KEY_BYTES.to_string()} placeholder="e.g. k042"
                                value={state.write_key.clone()} oninput={text_input(LsmAction::EditWriteKey)} />
                        </div>
                        <div class="field">
                            <label for="lsm-write-value">{ "Value to write" }</label>
                            <input id="lsm-write-value" type="text" autocomplete="off" spellcheck="false"
                                maxlength={MAX_VALUE_BYTES.to_string()} placeholder="e.g. blue"
                                value={state.write_value.clone()} oninput={text_input(LsmAction::EditWriteValue)} />
                        </div>
                        <div class="buttons">
                            <button type="submit" aria-disabled={off(ready)}
                                aria-describedby="lsm-history">{ "Write to both databases" }</button>
                        </div>
                    </form>
                    <div class="buttons crash-row">
                        <button type="button" class="danger" onclick={on_crash} aria-disabled={off(can_crash)}
                            aria-describedby="lsm-crash-help">{ "Crash the LSM database" }</button>
                    </div>
                    <p id="lsm-crash-help" class="help-text">
                        { "Crashes the LSM database's simulated disk (unsynced writes are lost, the last write \
                           in flight may tear) and reopens it: the manifest is replayed (R6), the WAL above the \
                           last flushed LSN goes back into the memtable (R7, R8 skips what tables hold), \
                           unfinished transactions are undone." }
                    </p>
                </section>

                { structure_panel(&state) }
                { lookup_panel(&state, on_lookup, text_input(LsmAction::EditLookupKey), ready) }
                { meters_panel(snap, &state.trace.charts) }
                { events_panel(&state) }
                { recovery_panel(&state) }
            </div>
            { timeline_panel(&cell, &state) }
        </section>
    }
}

/// The transport bar under the view, wired to the run.
fn timeline_panel(cell: &HolderCell, state: &UseReducerHandle<LsmViewState>) -> Html {
    let t = &state.timeline;
    let dispatch = state.dispatcher();
    let control = |f: fn(&mut Holder) -> Result<(), String>| {
        let (cell, dispatch) = (cell.clone(), dispatch.clone());
        Callback::from(move |()| drive(&cell, &dispatch, f))
    };
    let on_seek = {
        let (cell, dispatch) = (cell.clone(), dispatch.clone());
        Callback::from(move |to: u64| {
            drive(&cell, &dispatch, move |h| {
                h.playing = false;
                seek(h, to)
            });
        })
    };
    let on_speed = {
        let (cell, dispatch) = (cell.clone(), dispatch.clone());
        Callback::from(move |speed: u32| {
            drive(&cell, &dispatch, move |h| {
                h.speed = speed;
                Ok(())
            });
        })
    };
    let speeds = SPEEDS
        .iter()
        .map(|(s, l)| (*s, AttrValue::Static(l)))
        .collect::<Vec<_>>();
    html! {
        <section class="panel lsm-timeline" aria-labelledby="lsm-timeline-heading">
            <h3 id="lsm-timeline-heading">{ "Timeline of both databases" }</h3>
            <p class="muted">
                { "Virtual time, in milliseconds: the run is a pure function of its seed and of your \
                   actions at the moments you took them, so any moment is replayed exactly. Step back \
                   and forward go to the previous or next moment the LSM database did something." }
            </p>
            { transport(TransportProps {
                id: "lsm-time".into(),
                label: "Timeline of both databases".into(),
                start: 0,
                end: t.end_ms,
                position: t.position_ms,
                markers: (*t.markers).clone(),
                playing: t.playing,
                speeds,
                speed: t.speed,
                status: timeline_status(t).into(),
                value_text: format!("{} of {}", secs(t.position_ms), secs(t.end_ms)).into(),
                on_play_pause: control(|h| {
                    h.playing = !h.playing;
                    h.last_wall_ms = None;
                    Ok(())
                }),
                on_step_back: control(|h| {
                    h.playing = false;
                    run_of(h)?.step_back().map_err(|e| e.to_string())
                }),
                on_step_forward: control(|h| {
                    h.playing = false;
                    run_of(h)?.step_forward().map_err(|e| e.to_string())
                }),
                on_seek,
                on_speed,
                on_live: Some(control(|h| {
                    let end = run_of(h)?.end_ms();
                    seek(h, end)?;
                    h.playing = true;
                    h.last_wall_ms = None;
                    Ok(())
                })),
                list_markers: true,
                on_marker: None,
            }) }
        </section>
    }
}

fn workload_line(snap: Option<&PairSnapshot>) -> Html {
    let Some(s) = snap else { return html! {} };
    let w = s.workload;
    let m = s.mirror;
    html! {
        <p class="muted" data-testid="lsm-workload" data-running={w.running.to_string()}>
            { format!("{}: {} clients at {}/s; B-tree database: {} commits; LSM database: {} commits \
                (replayed {}, {} waiting, {} in flight){}.",
                if w.running { "Running" } else { "Stopped" },
                w.clients, w.rate_per_sec, s.btree_stats.commits, s.lsm_stats.commits,
                m.mirrored, m.backlog, m.in_flight,
                if m.paused { "; new transactions wait for the LSM database" } else { "" }) }
        </p>
    }
}

fn memtable_box(m: &MemtableView, label: String, class: &'static str) -> Html {
    html! {
        <li class={classes!("memtable", class)}>
            <span class="t-id">{ label }</span>
            <span>{ format!("{} keys, {}", m.entries, bytes_text(m.bytes)) }</span>
            if let (Some(lo), Some(hi)) = (m.min_lsn, m.max_lsn) {
                <span class="muted">{ format!("lsn {lo}–{hi}") }</span>
            }
        </li>
    }
}

fn structure_panel(state: &LsmViewState) -> Html {
    let Some(s) = &state.snapshot else {
        return html! {};
    };
    let shape = &s.shape;
    let job = state
        .trace
        .job
        .as_ref()
        .map(crate::lsm_state::JobView::text)
        .or_else(|| shape.job_phase.map(str::to_owned))
        .unwrap_or_else(|| "idle".to_owned());
    let lookup = state.lookup.as_ref();
    let (mem_probed, mem_hit) = lookup.map_or((0, None), LookupView::memtables);
    let mem_probe = |i: usize| -> Option<&'static str> {
        lookup?;
        if mem_hit == Some(i) {
            Some("found")
        } else if (i as u64) < mem_probed {
            Some("missed")
        } else {
            Some("not-reached")
        }
    };
    html! {
        <section class="panel wide lsm-structure" aria-labelledby="lsm-structure-heading">
            <h3 id="lsm-structure-heading">{ "The LSM tree" }</h3>
            <p data-testid="lsm-job" class="job" data-phase={shape.job_phase.unwrap_or("idle")}>
                <strong>{ "Background job: " }</strong>{ job }
            </p>
            <div class="memtables">
                <label for="lsm-memtable" class="meter-label">
                    { format!("Active memtable: {} of {} ({} keys)",
                        bytes_text(shape.active.bytes), bytes_text(shape.memtable_limit), shape.active.entries) }
                </label>
                <meter id="lsm-memtable" data-testid="lsm-memtable" min="0"
                    max={shape.memtable_limit.to_string()} value={shape.active.bytes.to_string()}
                    data-probe={mem_probe(0)}>
                    { format!("{} of {}", shape.active.bytes, shape.memtable_limit) }
                </meter>
                if shape.write_stalled {
                    <p class="stalled">{ "Write stall: every memtable is full and waiting for a flush." }</p>
                }
                <ol class="frozen" aria-label="Frozen memtables">
                    { for shape.frozen.iter().enumerate().map(|(i, m)| {
                        let probe = mem_probe(i + 1);
                        html! {
                            <li class={classes!("memtable", "frozen-mt", probe)} data-probe={probe}>
                                <span class="t-id">{ format!("frozen #{}", i + 1) }</span>
                                <span>{ format!("{} keys, {}", m.entries, bytes_text(m.bytes)) }</span>
                                if let (Some(lo), Some(hi)) = (m.min_lsn, m.max_lsn) {
                                    <span class="muted">{ format!("lsn {lo}–{hi}") }</span>
                                }
                            </li>
                        }
                    }) }
                    if shape.frozen.is_empty() {
                        { memtable_box(&MemtableView::default(), format!("no frozen memtable (at most {})", shape.max_frozen), "empty") }
                    }
                </ol>
            </div>
            <p class="muted">
                { shape.last_flushed_lsn.map_or("Nothing flushed yet.".to_owned(),
                    |l| format!("Everything up to lsn {l} is in tables."))}
            </p>
            <ol class="levels" aria-label="LSM levels">
                { for shape.levels.iter().map(|l| level_row(state, l, lookup)) }
            </ol>
            <ul class="legend lsm-legend" aria-label="Legend">
                <li class="table-box" data-mark="flushed">{ "just flushed" }</li>
                <li class="table-box" data-mark="input">{ "compaction input" }</li>
                <li class="table-box" data-mark="output">{ "compaction output" }</li>
                <li class="table-box" data-mark="moved">{ "trivial move" }</li>
                <li class="table-box" data-probe="found">{ "lookup: found" }</li>
                <li class="table-box" data-probe="block-read">{ "lookup: block read, not there" }</li>
                <li class="table-box" data-probe="bloom">{ "lookup: bloom skip" }</li>
                <li class="table-box" data-probe="range">{ "lookup: key-range skip" }</li>
            </ul>
        </section>
    }
}

fn level_row(state: &LsmViewState, l: &LevelView, lookup: Option<&LookupView>) -> Html {
    let size = match l.target_bytes {
        Some(t) => format!("{} of {} target", bytes_text(l.bytes), bytes_text(t)),
        None => format!("{} tables, {}", l.tables.len(), bytes_text(l.bytes)),
    };
    html! {
        <li class="level" data-level={l.level.to_string()}>
            <h4 class="level-head">{ format!("L{}", l.level) }<span class="muted">{ format!(" {size}") }</span></h4>
            if l.tables.is_empty() {
                <p class="muted empty-level">{ "empty" }</p>
            } else {
                <ol class="tables" aria-label={format!("Tables in L{}", l.level)}>
                    { for l.tables.iter().map(|t| {
                        let mark = state.mark_of(t.id).map(|m| m.as_str());
                        let probe = lookup.and_then(|v| v.probe_of(l.level, t.id));
                        let note = [mark.map(|m| match m {
                                "flushed" => "just flushed",
                                "input" => "compaction input",
                                "output" => "compaction output",
                                _ => "moved by a trivial move",
                            }), probe.map(crate::lsm_state::TableProbe::text)]
                            .into_iter().flatten().collect::<Vec<_>>().join("; ");
                        html! {
                            <li key={t.id.to_string()} class="table-box" data-table={t.id.to_string()}
                                data-mark={mark} data-probe={probe.map(crate::lsm_state::TableProbe::as_str)}>
                                <span class="t-id">{ format!("#{}", t.id) }</span>
                                <span>{ format!("{} · {} keys", bytes_text(t.size_bytes), t.entries) }</span>
                                <span class="t-range">{ format!("{} … {}", t.min_key, t.max_key) }</span>
                                if !note.is_empty() { <span class="t-note">{ note }</span> }
                            </li>
                        }
                    }) }
                </ol>
            }
        </li>
    }
}

fn lookup_panel(
    state: &LsmViewState,
    on_lookup: Callback<SubmitEvent>,
    on_input: Callback<InputEvent>,
    ready: bool,
) -> Html {
    html! {
        <section class="panel" aria-labelledby="lsm-lookup-heading">
            <h3 id="lsm-lookup-heading">{ "Look up a key" }</h3>
            <form class="kv" onsubmit={on_lookup}>
                <div class="field">
                    <label for="lsm-lookup-key">{ "Key to look up" }</label>
                    <input id="lsm-lookup-key" type="text" autocomplete="off" spellcheck="false"
                        maxlength={MAX_KEY_BYTES.to_string()} placeholder="e.g. k042"
                        value={state.lookup_key.clone()} oninput={on_input} />
                </div>
                <div class="buttons">
                    <button type="submit" aria-disabled={(!ready).to_string()}>{ "Look up" }</button>
                </div>
            </form>
            if let Some(v) = &state.lookup {
                <div data-testid="lsm-lookup" class="lookup-result"
                    data-tables-probed={v.explanation.stats().tables_probed.to_string()}
                    data-agrees={v.agrees.map_or("n/a", |a| if a { "true" } else { "false" })}>
                    <p>{ v.summary() }</p>
                    <p class="muted">{ format!("B-tree database: {}", v.btree_value.as_deref()
                        .map_or("not found".to_owned(), |b| format!("{b:?}"))) }</p>
                    <ol aria-label="Lookup path" class="path">
                        { for v.explanation.steps.iter().map(|s| {
                            let (outcome, what) = match &s.outcome {
                                ProbeOutcome::NotInMemtable => ("missed", "not there".to_owned()),
                                ProbeOutcome::SkippedByRange => ("range", "skipped: key outside its range".to_owned()),
                                ProbeOutcome::SkippedByBloom => ("bloom", "skipped: bloom filter says absent".to_owned()),
                                ProbeOutcome::NotFound => ("block-read", format!(
                                    "bloom said maybe; read 1 of its {} data blocks: not there", s.table_blocks)),
                                ProbeOutcome::Found { lsn, tombstone } => ("found", format!("{} at {lsn}{}",
                                    if *tombstone { "tombstone" } else { "found" },
                                    if s.read_block() { format!(" (read 1 of {} data blocks)", s.table_blocks) } else { String::new() })),
                            };
                            let source = match s.source {
                                ProbeSource::Memtable(0) => "active memtable".to_owned(),
                                ProbeSource::Memtable(i) => format!("frozen memtable #{i}"),
                                ProbeSource::Table { level, id } => format!("L{level} table #{}", id.0),
                            };
                            html! { <li data-outcome={outcome} class={classes!("probe", outcome)}>
                                <strong>{ source }</strong>{ format!(": {what}") }</li> }
                        }) }
                    </ol>
                    if v.agrees == Some(false) {
                        <p class="stalled">{ "The get's counters differ from the explained path." }</p>
                    }
                </div>
            }
        </section>
    }
}

fn meter_rows(a: &DbAmplification) -> [(&'static str, &'static str, f64, &'static str); 4] {
    [
        (
            "write",
            "Write",
            a.write,
            "(WAL + index bytes written) / client bytes",
        ),
        (
            "read",
            "Read",
            a.read_pages_per_lookup,
            "pages (B-tree) or data blocks (LSM) read per lookup",
        ),
        (
            "sources",
            "Sources",
            a.sources_per_lookup,
            "structures consulted per lookup (memtables + tables)",
        ),
        (
            "space",
            "Space",
            a.space,
            "(WAL + index file bytes) / live bytes",
        ),
    ]
}

fn meters_panel(snap: Option<&PairSnapshot>, charts: &AmpCharts) -> Html {
    let Some(s) = snap else { return html! {} };
    let column = |name: &'static str, id: &'static str, a: &DbAmplification| {
        html! {
            <div class="amp-col">
                <h4>{ name }</h4>
                <dl class="meters" data-testid={id}>
                    { for meter_rows(a).iter().map(|(key, label, v, what)| html! {
                        <div class="meter" data-meter={*key} data-value={fixed(*v, 3)}>
                            <dt>{ *label }</dt>
                            <dd><strong>{ fixed(*v, 2) }</strong>{ " " }<span class="muted">{ *what }</span></dd>
                        </div>
                    }) }
                </dl>
            </div>
        }
    };
    html! {
        <section class="panel" aria-labelledby="lsm-amp-heading">
            <h3 id="lsm-amp-heading">{ "Amplification, same workload" }</h3>
            <div class="amp-pair">
                { column("B-tree", "amp-btree", &s.btree_amp) }
                { column("LSM tree", "amp-lsm", &s.lsm_amp) }
            </div>
            <div class="amp-chart" data-testid="amp-write-chart">
                <h4>{ "Write amplification over the last minute" }</h4>
                { lines_chart(
                    "Write amplification over the last minute, B-tree and LSM tree on one scale",
                    &[
                        Line { name: "B-tree".into(), values: charts.btree_write.values() },
                        Line { name: "LSM tree".into(), values: charts.lsm_write.values() },
                    ],
                    2,
                ) }
            </div>
            <p class="muted">
                { format!("Recomputed every half second of virtual time (the LSM's live bytes are a merge over all its data); \
                    the LSM database's counters restart at zero when it reopens after a crash. \
                    LSM: {} flushes, {} compactions ({} trivial moves), {} of tables written, {} read by compactions.",
                    s.counters.flushes, s.counters.compactions, s.counters.trivial_moves,
                    bytes_text(s.counters.table_bytes_written), bytes_text(s.counters.compaction_bytes_read)) }
            </p>
        </section>
    }
}

fn events_panel(state: &LsmViewState) -> Html {
    html! {
        <section class="panel" aria-labelledby="lsm-events-heading">
            <h3 id="lsm-events-heading">{ "LSM events" }</h3>
            <p class="muted">{ format!("Since the run began: {} freezes, {} flushes, {} compactions ({} trivial moves).",
                state.trace.freezes, state.trace.flushes_done, state.trace.compactions_done, state.trace.moves_done) }</p>
            <ol aria-label="LSM events" class="events">
                { for state.trace.log.iter().map(|e| html! {
                    <li key={e.seq.to_string()} data-kind={e.kind} class={classes!("event", e.kind)}>
                        <span class="muted">{ format!("{} s ", fixed(e.at_ms as f64 / 1000.0, 1)) }</span>{ &e.text }
                    </li>
                }) }
            </ol>
        </section>
    }
}

fn recovery_panel(state: &LsmViewState) -> Html {
    let Some(r) = &state.trace.recovery else {
        return html! {};
    };
    let check = state.snapshot.as_ref().and_then(|s| s.key_check.clone());
    let tally = r
        .tally
        .iter()
        .map(|(c, n)| format!("{c} ×{n}"))
        .collect::<Vec<_>>()
        .join(", ");
    html! {
        <section class="panel wide" aria-labelledby="lsm-recovery-heading" data-testid="lsm-recovery"
            data-keys-before={check.as_ref().map(|c| c.before.to_string())}
            data-keys-after={check.as_ref().map(|c| c.after.to_string())}
            data-keys-match={check.as_ref().map(|c| c.matches.to_string())}>
            <h3 id="lsm-recovery-heading">{ "The LSM database's last crash" }</h3>
            <p>{ format!("At {}: {}", secs(r.at_ms), r.crash_text) }</p>
            <p>{ &r.report }</p>
            <p class="muted">{ format!("{} recovery steps by case: {tally}.", r.total) }</p>
            <ol aria-label="LSM recovery steps" class="steps" tabindex="0">
                { for r.steps.iter().take(state.steps_shown()).map(|s| html! {
                    <li data-phase={step_phase(s)} data-case={step_case(s)} class={classes!("step", step_phase(s))}>
                        <span class="case">{ step_case(s) }</span>{ " " }{ step_text(s) }
                    </li>
                }) }
            </ol>
            if (r.steps.len() as u64) < r.total {
                <p class="muted">{ format!("The first {} steps of each case are listed.", crate::lsm_state::MAX_STEPS_PER_CASE) }</p>
            }
            <p aria-live="polite" data-testid="lsm-key-check">
                { match &check {
                    None => "Recovery running: undoing unfinished transactions…".to_owned(),
                    Some(c) if c.matches => format!(
                        "Recovery finished: {} acknowledged keys before the crash, {} after; every acknowledged \
                         value is back{}.", c.before, c.after,
                        if c.in_flight_survived > 0 { format!(" ({} commits in flight at the crash survived too)", c.in_flight_survived) }
                        else { String::new() }),
                    Some(c) => format!("Recovery finished, but the keys differ: {} before, {} after.", c.before, c.after),
                } }
            </p>
        </section>
    }
}

fn run_of(h: &mut Holder) -> Result<&mut LsmRun, String> {
    h.run
        .as_mut()
        .ok_or_else(|| "The databases are not open.".to_owned())
}

fn seek(h: &mut Holder, to: u64) -> Result<(), String> {
    run_of(h)?.seek(to).map_err(|e| e.to_string())
}

/// Sends the run at the position to the view.
fn show(h: &mut Holder, dispatch: &Dispatcher) {
    let (playing, speed) = (h.playing, h.speed);
    if let Some(run) = h.run.as_mut() {
        dispatch.dispatch(LsmAction::Show(run.view(playing, speed)));
    }
}

/// A transport control: `f` moves the run (or the play state), then the view follows.
fn drive(
    cell: &HolderCell,
    dispatch: &Dispatcher,
    f: impl FnOnce(&mut Holder) -> Result<(), String>,
) {
    let Ok(mut h) = cell.try_borrow_mut() else {
        dispatch.dispatch(LsmAction::Error("Busy; try again.".to_owned()));
        return;
    };
    let result = f(&mut h);
    show(&mut h, dispatch);
    drop(h);
    if let Err(message) = result {
        dispatch.dispatch(LsmAction::Error(message));
    }
}

/// One input at the position (a branch in the past); a crash also starts the recovery
/// animation.
fn act(cell: &HolderCell, dispatch: &Dispatcher, input: LsmInput) {
    let Ok(mut h) = cell.try_borrow_mut() else {
        dispatch.dispatch(LsmAction::Error("Busy; try again.".to_owned()));
        return;
    };
    let crash = input == LsmInput::CrashLsm;
    let (playing, speed) = (h.playing, h.speed);
    let Some(run) = h.run.as_mut() else { return };
    let result = run.act(input);
    let view = run.view(playing, speed);
    drop(h);
    if crash && result.is_ok() {
        dispatch.dispatch(LsmAction::Crashed {
            view,
            animate: !crate::app::prefers_reduced_motion(),
        });
    } else {
        dispatch.dispatch(LsmAction::Show(view));
    }
    if let Err(e) = result {
        dispatch.dispatch(LsmAction::Error(e.to_string()));
    }
}

/// A lookup at the position: a read on a copy of the engine, so it changes nothing.
fn lookup(cell: &HolderCell, dispatch: &Dispatcher, key: &str) {
    let result = match cell.try_borrow() {
        Ok(h) => match h.run.as_ref() {
            Some(run) => run.engine().lookup(key).map_err(|e| e.to_string()),
            None => Err("The databases are not open.".to_owned()),
        },
        Err(_) => Err("Busy; try again.".to_owned()),
    };
    dispatch.dispatch(match result {
        Ok(v) => LsmAction::LookedUp(v),
        Err(message) => LsmAction::Error(message),
    });
}

/// One tick of the page's clock: while playing, the run advances by the wall time since the
/// last tick times the speed, in whole 1 ms steps (module docs).
fn pump(cell: &HolderCell, dispatch: &Dispatcher, generation: u64) {
    let Ok(mut guard) = cell.try_borrow_mut() else {
        return;
    };
    let h = &mut *guard;
    if h.generation != generation {
        return;
    }
    let now = crate::timer::now_ms();
    let elapsed = h
        .last_wall_ms
        .map_or(0, |last| now.saturating_sub(last).min(MAX_WALL_GAP_MS));
    h.last_wall_ms = Some(now);
    let (playing, speed) = (h.playing, h.speed);
    let Some(run) = h.run.as_mut() else { return };
    if !playing || run.engine().stopped().is_some() {
        h.carry = 0;
        return;
    }
    h.carry += elapsed * u64::from(speed);
    let mut steps = h.carry / 100;
    h.carry %= 100;
    if steps > MAX_STEPS_PER_TICK {
        // Too slow for this speed: play slower rather than fall further behind.
        steps = MAX_STEPS_PER_TICK;
    }
    if steps == 0 {
        return;
    }
    let result = run.advance(steps);
    let due = now.saturating_sub(h.last_view_ms) >= VIEW_EVERY_MS || result.is_err();
    if due {
        h.last_view_ms = now;
    }
    let view = due.then(|| run.view(playing, speed));
    drop(guard);
    if let Some(view) = view {
        dispatch.dispatch(LsmAction::Show(view));
    }
    if let Err(err) = result {
        dispatch.dispatch(LsmAction::Failed(format!(
            "The LSM view's databases stopped: {err}. Step back to an earlier moment, or reload \
             the page to start again."
        )));
    }
}

async fn ticker(cell: Weak<RefCell<Holder>>, dispatch: Dispatcher, generation: u64) {
    loop {
        crate::timer::sleep_ms(TICK_MS).await;
        let Some(cell) = cell.upgrade() else { return };
        if cell.borrow().generation != generation {
            return;
        }
        pump(&cell, &dispatch, generation);
    }
}

fn open(cell: &HolderCell, dispatch: &Dispatcher) {
    dispatch.dispatch(LsmAction::Opening);
    let generation = {
        let mut h = cell.borrow_mut();
        h.generation += 1;
        h.generation
    };
    match LsmRun::open(0x15a5 ^ generation) {
        Ok(mut run) => {
            let mut h = cell.borrow_mut();
            let view = run.view(h.playing, h.speed);
            h.run = Some(run);
            h.last_wall_ms = None;
            drop(h);
            dispatch.dispatch(LsmAction::Opened(view));
            spawn_local(ticker(Rc::downgrade(cell), dispatch.clone(), generation));
        }
        Err(e) => dispatch.dispatch(LsmAction::Failed(format!(
            "Could not open the databases: {e}"
        ))),
    }
}
