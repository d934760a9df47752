//! The pipeline view: the log leaving the database. A [`logspine_core::world::World`]
//! with CDC runs in the page (the database, the broker with the topic `changes`, the
//! exactly-once connector and three views, each machine on its own simulated disk): a
//! committed write flows from the WAL through CDC into the partition, each view's offset
//! pointer moves at its own pace, the views update, "rebuild from zero" replays the topic
//! into a fresh view with a progress bar, and the dual-write switch adds the application
//! writing to a second topic itself, which drifts from the database after a crash; and a
//! Raft cluster that replicates the database, fed from `changes` (`config.raft_replicates`).
//!
//! The view is a view of [`PipelineState`] (pure, in [`crate::pipeline_state`]) plus the
//! run ([`PipelineRun`], in [`crate::pipeline_run`]), held outside the state. Effects: on
//! mount, build the world; while playing, a timer runs the chosen number of ticks every
//! [`FRAME_MS`] and dispatches the trace and a picture; every control makes one call on
//! the run and dispatches the same. A picture holds the detailed views of the expanded
//! panels only ([`Details`]: the index's pages or tables, the Raft nodes' logs); opening
//! or closing a panel makes a picture at once, so a paused run shows its detail too.
//! Everything drawn is the world's trace or state. The WAL and the partition are shown
//! through windows of [`WINDOW`](crate::pipeline_state::WINDOW) records (paged by
//! buttons), so the page costs the same with 100,000 records. No request leaves the page.
//!
//! # Time travel
//! The run is a recording ([`PipelineRun`] on the world's `Timeline`): the timeline bar
//! under the controls steps back and forward between moments something happened, scrubs,
//! and marks every crash, recovery, checkpoint, flush and compaction. A move into the
//! past folds the trace again up to the position (the reducer's `Rewound`); Play there
//! replays the recording, and any action there discards the recorded future and goes on
//! from that point.
//!
//! # Session
//! In the playground the run is the page's session: saved to `localStorage`
//! ([`SESSION_KEY`]) after every picture as its mode, world number, play or pause, live or
//! in the past, and the run as a share link carries it (seed, hand-applied actions by
//! tick, position), and
//! reopened on load by replaying that ([`PipelineRun::restore`]): a reload resumes the
//! world where it was, its timeline at the same position. A run that was live was running
//! in the page that died, so the reload is a crash: at that tick every machine of the
//! world crashes and restarts from its disk, and the recovery plays out on screen (a run
//! left in the past comes back as it was). A session that cannot be
//! reopened is said and a new world starts; storage that is full or off loses only the
//! session. Outside a shell (no playground around it) the view starts afresh.
//!
//! # Keyboard
//! Every control is a native button, select, switch or text field (Tab, Enter, Space).
//! Inside the view, outside a text field or a select: `p` plays and pauses, `.` steps one
//! tick.
//!
//! # DOM hooks (the end-to-end test relies on them)
//! `section[data-testid=pipeline]` with `data-phase` (starting|running|failed),
//! `data-time`, `data-position` and `data-recorded` (events up to the timeline's position and
//! recorded), `data-playing`, `data-worlds`, `data-dual-write`, `data-views-equal`
//! (true|false|pending: compared only when nothing is in flight), `data-divergence`
//! (dual-write mode: keys that differ now, writes on their way included), `data-diverged`
//! (the divergence the trace last reported, once everything landed), `data-hw` (the high watermark of `changes`), `data-failures`;
//! inputs "Key to write to the pipeline", "Value to write to the pipeline", button "Write
//! and follow"; select "Workload size", button "Run the workload"; buttons "Crash the
//! database", "Crash the broker", "Crash the connector", "Compact now", "Step one tick"; the timeline
//! ([`transport`]: "Back to the start", "Step back", "Play"/"Pause", "Step forward", "Back
//! to live", speed radios "N ticks every 100 ms", the slider "Position in the pipeline
//! timeline", `[data-testid=pipeline-timeline-status]`); the switch "Dual write" (`role=switch`, `aria-checked`);
//! `[data-testid=pipeline-follow]` with `data-stage` (none|sent|appended|durable|captured|
//! published|lost|refused), `data-commit`, `data-offset`, `data-views-applied`;
//! `ol[aria-label="Pipeline stages"] > li[data-stage][data-count]` holding
//! `li.token[data-txn][data-commit]`; `[data-testid=pipeline-wal]` with `data-first`,
//! `data-durable`, `data-next`, `data-resume`, `data-read-at` and `ol[aria-label="WAL
//! records"] > li[data-lsn][data-kind][data-durable]`, buttons "Oldest WAL records",
//! "Older WAL records", "Newer WAL records", "Newest WAL records";
//! `[data-testid=pipeline-partition]` with `data-topic`, `data-start`, `data-hw`,
//! `data-next`, `data-segments`, `data-generation`, `data-compacting`, and
//! `ol[aria-label="Records of the topic changes"] > li[data-offset][data-key]`, buttons
//! "Oldest records", "Older records", "Newer records", "Newest records";
//! `ul[aria-label="Views"] > li[data-view]` with `data-position`, `data-lag`,
//! `data-rebuilding`, `data-equal` (true|false|pending), `data-entries`, `data-rebuilt`,
//! each with a button "Rebuild the NAME view from offset 0" and, while rebuilding,
//! `progress[aria-label="Rebuild of the NAME view"]`, and the select "Pace of the NAME
//! view" (`data-pace`, `data-behind` on the `li`); the select "Cleanup of the topic
//! changes" (keep|retention|compacted: a new world); the select "Index of the database"
//! (btree|lsm: a new world) and `[data-testid=pipeline-index]` with `data-kind` and
//! `data-location` (where the followed key lives in the index), expanded to its detailed
//! view by the button "Show the B-tree's pages" or "Show the memtables and every table"
//! (`aria-expanded`, `aria-controls`; "Hide ..." collapses it; kept across reloads):
//! `ol#pipeline-index-detail > li[data-row]` (a B-tree depth, `memtables`, `L0`, ...) each with `li.table-box`
//! pages or tables, `data-followed` on the path of the followed key; buttons "Add a consumer to the group",
//! "Remove a consumer from the group", `ul[aria-label="Consumer group app"] >
//! li[data-member][data-generation][data-position]`; `[data-testid=pipeline-dual]` with
//! `data-diverged`, `data-divergence`, `data-lost`; `[data-testid=pipeline-raft]` with
//! `data-leader`, `data-batches`, `data-replicated` (change events through the Raft log),
//! `data-holding` (nodes holding the followed write) and `ul[aria-label="Raft nodes"] >
//! li[data-node]` with `data-role`, `data-up`, `data-term`, `data-commit`, `data-applied`,
//! `data-keys`, `data-cut`, `data-holds`, `data-equal` (true|false|pending: against the
//! database's rows once settled), each with buttons "Crash nN" and "Cut nN off" and,
//! expanded by the button "Show each node's log" ("Hide the nodes' logs"; kept across
//! reloads), `ol[aria-label="Log of nN"] > li[data-index][data-term][data-committed]` (its
//! newest entries); and
//! buttons "Restart the crashed Raft nodes", "Heal the Raft network", selects "Raft messages
//! dropped" (percent) and "Raft message delay"; the select "Sync latency of the database's
//! disk"; the live region `[data-testid=pipeline-announce]`;
//! `ol[aria-label="Pipeline events"] > li[data-kind]`; errors in `[role=alert]`.

use logspine_core::vec_map::VecSet;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

use logspine_core::world::inspect::{
    MemberSnapshot, PartitionSnapshot, Segments, ViewSnapshot, WalSnapshot,
};
use logspine_core::world::{Action, IndexChoice};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::decimal::fixed;
use crate::pipeline_run::{
    Cleanup, Delta, Mode, PipelineRun, RAFT_NODES, SESSION_KEY, VIEW_EVENTS_PER_TICK,
};
use crate::pipeline_state::{
    plural, Details, Move, PipelineAction, PipelineState, PipelineView as Picture, Stage,
    TokenStage, Which, Windows, FRAME_MS, INDEX_PANEL, RAFT_PANEL, SPEEDS, WORKLOADS,
    WORKLOAD_WRITES,
};
use crate::transport::{transport, TransportProps};

/// Paces offered for a view (records per tick; 0 pauses it).
const PACES: [u64; 6] = [0, 1, 3, 10, 50, 1000];
/// Members of the consumer group at most.
const MAX_MEMBERS: usize = 4;
/// Transactions drawn per stage.
const TOKENS_PER_STAGE: usize = 6;
/// Sync latencies offered for the database's disk (ticks; the first is the world's own).
const DISK_LATENCIES: [(u64, u64, &str); 3] = [
    (5, 15, "5 to 15 ticks (as it starts)"),
    (50, 100, "50 to 100 ticks: a slow disk"),
    (200, 400, "200 to 400 ticks: a very slow disk"),
];
/// Message loss offered for the Raft network (percent).
const RAFT_LOSSES: [u32; 4] = [0, 10, 30, 60];
/// Message delays offered for the Raft network (ticks; the first is the cluster's own).
const RAFT_DELAYS: [(u64, u64, &str); 3] = [
    (1, 5, "1 to 5 ticks (as it starts)"),
    (10, 30, "10 to 30 ticks"),
    (50, 100, "50 to 100 ticks"),
];
/// The seed of the first world (each new world adds its number).
const SEED: u64 = 0x5eed_0006;

type RunCell = Rc<RefCell<Option<PipelineRun>>>;
type Dispatcher = UseReducerDispatcher<PipelineState>;

/// Runs `f` on the run, then sends the reducer the events since the last picture (or,
/// after a move into the past, all of them to fold again) and a picture with `details`.
fn with_run(
    cell: &RunCell,
    dispatch: &Dispatcher,
    windows: Windows,
    follow: Option<u64>,
    details: Details,
    f: impl FnOnce(&mut PipelineRun) -> Result<(), String>,
) {
    let Ok(mut guard) = cell.try_borrow_mut() else {
        dispatch.dispatch(PipelineAction::Error("Busy; try again.".to_owned()));
        return;
    };
    let Some(run) = guard.as_mut() else {
        dispatch.dispatch(PipelineAction::Error(
            "The pipeline is not running.".to_owned(),
        ));
        return;
    };
    let refused = f(run).err();
    let delta = run.delta();
    let view = Rc::new(run.view(windows, follow, details));
    drop(guard);
    dispatch.dispatch(match delta {
        Delta::Forward(events) => PipelineAction::Engine { events, view },
        Delta::Rewound(events) => PipelineAction::Rewound { events, view },
    });
    if let Some(e) = refused {
        dispatch.dispatch(PipelineAction::Error(e));
    }
}

/// Builds a world in `mode` (the `n`-th of the page); its first picture has `details`.
fn start(cell: &RunCell, dispatch: &Dispatcher, mode: Mode, n: u64, details: Details) {
    match PipelineRun::new(mode, SEED ^ n) {
        Ok((mut run, events)) => {
            let view = Rc::new(run.view(Windows::default(), None, details));
            *cell.borrow_mut() = Some(run);
            dispatch.dispatch(PipelineAction::Started { events, view });
        }
        Err(e) => dispatch.dispatch(PipelineAction::Failed(format!(
            "Could not build the pipeline: {e}"
        ))),
    }
}

/// The page's first world: the saved session reopened where it was (a reload resumes the
/// run: mode, seed, hand-applied actions, position, play or pause; a live run with the
/// reload's crash), else a new one. A session that cannot be reopened is said, and a new
/// world starts.
fn start_or_resume(cell: &RunCell, dispatch: &Dispatcher, details: Details) {
    let saved = crate::shell::local_storage().and_then(|s| s.get_item(SESSION_KEY).ok().flatten());
    let Some(text) = saved else {
        return start(cell, dispatch, Mode::default(), 1, details);
    };
    match PipelineRun::restore(&text) {
        Ok(r) => {
            let mut run = r.run;
            let view = Rc::new(run.view(Windows::default(), None, details));
            *cell.borrow_mut() = Some(run);
            dispatch.dispatch(PipelineAction::Started {
                events: r.events,
                view,
            });
            dispatch.dispatch(PipelineAction::Resumed {
                world: r.world,
                playing: r.playing,
                crashed_at: r.crashed_at,
            });
        }
        Err(e) => {
            start(cell, dispatch, Mode::default(), 1, details);
            dispatch.dispatch(PipelineAction::Error(format!(
                "{e} A new pipeline started instead."
            )));
        }
    }
}

/// Saves the run as the session (after every picture). Storage that is full or off loses
/// only the session, never the run on screen; the first refusal is said, once.
fn save_session(
    cell: &RunCell,
    dispatch: &Dispatcher,
    world: u64,
    playing: bool,
    said: &RefCell<bool>,
) {
    let Some(text) = cell
        .try_borrow()
        .ok()
        .and_then(|r| r.as_ref().map(|r| r.session(world, playing)))
    else {
        return;
    };
    let stored =
        crate::shell::local_storage().is_some_and(|s| s.set_item(SESSION_KEY, &text).is_ok());
    if !stored && !said.replace(true) {
        dispatch.dispatch(PipelineAction::Error(
            "Local storage is full or off: a reload will start a new pipeline (the run on \
             screen is unaffected)."
                .to_owned(),
        ));
    }
}

/// The timeline's status line: where the position is and what Play does there.
fn timeline_status(t: &crate::pipeline_state::TimelineView) -> String {
    let place = if t.finished && t.live() {
        "the end of the run: it reached its last tick (switch a mode to start a new world)"
    } else if t.live() {
        "live: Play runs the world on"
    } else {
        "the past: Play replays the recording, and an action here discards the recorded future"
    };
    format!(
        "Tick {} · {} of {} events · at {place}.",
        t.time, t.position, t.recorded
    )
}

/// What a key press inside the view does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shortcut {
    TogglePlay,
    Step,
}

/// The shortcut for `key` pressed on an element `tag` (lower case).
fn shortcut(key: &str, tag: &str) -> Option<Shortcut> {
    if matches!(tag, "input" | "select" | "textarea") {
        return None;
    }
    match key {
        "p" | "P" => Some(Shortcut::TogglePlay),
        "." => Some(Shortcut::Step),
        _ => None,
    }
}

/// The pipeline view.
#[function_component(PipelineView)]
pub fn pipeline_view() -> Html {
    let state = use_reducer(PipelineState::default);
    let cell: RunCell = use_mut_ref(|| None);
    let running = state.phase == crate::pipeline_state::Phase::Running;
    // Which panels are expanded to their detailed views: the shell keeps them with the
    // page's settings (a reload keeps them); outside a shell, this view does.
    let panels = use_context::<crate::shell::ShellContext>();
    let own = use_state(VecSet::<&'static str>::new);
    let is_open = |id: &str| {
        panels
            .as_ref()
            .map_or_else(|| own.contains(id), |p| p.expanded.contains(id))
    };
    let panel = |id: &'static str| -> (bool, Callback<MouseEvent>) {
        let open = is_open(id);
        let (panels, own) = (panels.clone(), own.clone());
        let toggle = Callback::from(move |_: MouseEvent| match &panels {
            Some(p) => p.toggle.emit(id),
            None => {
                let mut s = (*own).clone();
                if !s.remove(id) {
                    s.insert(id);
                }
                own.set(s);
            }
        });
        (open, toggle)
    };
    let (index_open, raft_open) = (panel(INDEX_PANEL), panel(RAFT_PANEL));
    // The pictures hold the detailed views of the expanded panels only.
    let details = Details::of(is_open);
    // In the playground (a shell around it) the run is the page's session: resumed on
    // load, saved after every picture. Alone, it starts afresh.
    let keeps_session = panels.is_some();
    {
        let (cell, dispatch) = (cell.clone(), state.dispatcher());
        use_effect_with((), move |_| {
            if keeps_session {
                start_or_resume(&cell, &dispatch, details);
            } else {
                start(&cell, &dispatch, Mode::default(), 1, details);
            }
        });
    }
    {
        let (cell, dispatch) = (cell.clone(), state.dispatcher());
        let said = use_mut_ref(|| false);
        use_effect_with(
            (state.updates, state.worlds, state.playing),
            move |&(_, world, playing)| {
                if keeps_session && running {
                    save_session(&cell, &dispatch, world, playing, &said);
                }
            },
        );
    }
    let follow = state.follow.as_ref().and_then(|f| f.commit_lsn);
    let windows = state.windows;
    // The clock: one frame, then the next render schedules the next.
    {
        let (cell, dispatch) = (cell.clone(), state.dispatcher());
        let pending = (state.playing && running).then_some((
            state.worlds,
            state.updates,
            state.speed,
            windows,
            follow,
            details,
        ));
        use_effect_with(pending, move |pending| {
            let cancelled = Rc::new(Cell::new(false));
            if let Some((_, _, speed, windows, follow, details)) = *pending {
                let cancelled = cancelled.clone();
                spawn_local(async move {
                    crate::timer::sleep_ms(FRAME_MS).await;
                    if !cancelled.get() {
                        with_run(&cell, &dispatch, windows, follow, details, |r| {
                            r.tick(speed);
                            Ok(())
                        });
                    }
                });
            }
            move || cancelled.set(true)
        });
    }
    // A panel opened or closed: a picture with its detail now, not at the next frame (a
    // paused run makes no other picture). Not at mount: `start` made the first one.
    {
        let (cell, dispatch) = (cell.clone(), state.dispatcher());
        let painted = use_mut_ref(|| details);
        use_effect_with(details, move |&details| {
            let changed = *painted.borrow() != details;
            *painted.borrow_mut() = details;
            if changed && running {
                with_run(&cell, &dispatch, windows, follow, details, |_| Ok(()));
            }
        });
    }

    let off = |allowed: bool| (!allowed).to_string();
    let act = |action: Result<Action, String>| {
        let (cell, dispatch) = (cell.clone(), state.dispatcher());
        Callback::from(move |_: MouseEvent| {
            if !running {
                return;
            }
            match &action {
                Ok(a) => with_run(&cell, &dispatch, windows, follow, details, |r| r.act(a)),
                Err(msg) => dispatch.dispatch(PipelineAction::Error(msg.clone())),
            }
        })
    };
    // A select whose options are actions: (option value, action).
    let act_select = |choices: Vec<(String, Action)>| {
        let (cell, dispatch) = (cell.clone(), state.dispatcher());
        Callback::from(move |e: Event| {
            let value = crate::shell::event_value(&e);
            let chosen = choices.iter().find(|(v, _)| Some(v) == value.as_ref());
            if let (Some((_, a)), true) = (chosen, running) {
                with_run(&cell, &dispatch, windows, follow, details, |r| r.act(a));
            }
        })
    };
    let (key_ref, value_ref) = (use_node_ref(), use_node_ref());
    let on_write = {
        let (cell, dispatch) = (cell.clone(), state.dispatcher());
        let (key_ref, value_ref) = (key_ref.clone(), value_ref.clone());
        let base = (*state).clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            if !running {
                return;
            }
            // Read the inputs now: a click may come before the render of the last key.
            let read = |r: &NodeRef| r.cast::<HtmlInputElement>().map(|i| i.value());
            let mut s = base.clone();
            if let Some(k) = read(&key_ref) {
                s.key = k;
            }
            if let Some(v) = read(&value_ref) {
                s.value = v;
            }
            match s.write_action() {
                Ok(a) => with_run(&cell, &dispatch, windows, follow, details, |r| r.act(&a)),
                Err(msg) => dispatch.dispatch(PipelineAction::Error(msg)),
            }
        })
    };
    let text_input = |make: fn(String) -> PipelineAction| {
        let dispatch = state.dispatcher();
        Callback::from(move |e: InputEvent| {
            let input: HtmlInputElement = e.target_unchecked_into();
            dispatch.dispatch(make(input.value()));
        })
    };
    let select = |make: fn(u32) -> PipelineAction| {
        let dispatch = state.dispatcher();
        Callback::from(move |e: Event| {
            let value = crate::shell::event_value(&e).and_then(|v| v.parse().ok());
            if let Some(n) = value {
                dispatch.dispatch(make(n));
            }
        })
    };
    let on_play_pause = {
        let (dispatch, playing) = (state.dispatcher(), state.playing);
        Callback::from(move |()| {
            dispatch.dispatch(if playing {
                PipelineAction::Pause
            } else {
                PipelineAction::Play
            });
        })
    };
    // A move on the timeline pauses, then moves the run (in the past: a replay).
    let mover_cb = |f: fn(&mut PipelineRun)| {
        let (cell, dispatch) = (cell.clone(), state.dispatcher());
        Callback::from(move |()| {
            if running {
                dispatch.dispatch(PipelineAction::Pause);
                with_run(&cell, &dispatch, windows, follow, details, |r| {
                    f(r);
                    Ok(())
                });
            }
        })
    };
    // The same for a move to a position (the slider's value, a marker's event).
    let seek_cb = |f: fn(&mut PipelineRun, u64)| {
        let (cell, dispatch) = (cell.clone(), state.dispatcher());
        Callback::from(move |at: u64| {
            if running {
                dispatch.dispatch(PipelineAction::Pause);
                with_run(&cell, &dispatch, windows, follow, details, |r| {
                    f(r, at);
                    Ok(())
                });
            }
        })
    };
    let on_seek = seek_cb(PipelineRun::seek);
    let on_marker = seek_cb(PipelineRun::seek_marker);
    let on_speed = {
        let dispatch = state.dispatcher();
        Callback::from(move |s: u32| dispatch.dispatch(PipelineAction::SetSpeed(s)))
    };
    let step = {
        let (cell, dispatch) = (cell.clone(), state.dispatcher());
        move || {
            if running {
                dispatch.dispatch(PipelineAction::Pause);
                with_run(&cell, &dispatch, windows, follow, details, |r| {
                    r.tick(1);
                    Ok(())
                });
            }
        }
    };
    let on_step = {
        let step = step.clone();
        Callback::from(move |_: MouseEvent| step())
    };
    let dual = state.view.as_ref().is_some_and(|v| v.dual_write);
    let cleanup = state
        .view
        .as_ref()
        .and_then(|v| Cleanup::parse(v.cleanup))
        .unwrap_or_default();
    let mode = Mode {
        dual_write: dual,
        cleanup,
        index: if state
            .view
            .as_ref()
            .and_then(|v| v.index.as_ref())
            .is_some_and(|i| i.kind == "lsm")
        {
            IndexChoice::Lsm
        } else {
            IndexChoice::Btree
        },
    };
    let on_dual = {
        let (cell, dispatch, worlds) = (cell.clone(), state.dispatcher(), state.worlds);
        Callback::from(move |_: MouseEvent| {
            let mode = Mode {
                dual_write: !dual,
                ..mode
            };
            start(&cell, &dispatch, mode, worlds + 1, details);
        })
    };
    // A select that starts a new world in the mode it changes.
    let remode = |set: fn(Mode, &str) -> Option<Mode>| {
        let (cell, dispatch, worlds) = (cell.clone(), state.dispatcher(), state.worlds);
        Callback::from(move |e: Event| {
            let value = crate::shell::event_value(&e);
            if let Some(next) = value.and_then(|v| set(mode, &v)) {
                start(&cell, &dispatch, next, worlds + 1, details);
            }
        })
    };
    let on_cleanup = remode(|m, v| Cleanup::parse(v).map(|cleanup| Mode { cleanup, ..m }));
    let on_index = remode(|m, v| IndexChoice::parse(v).map(|index| Mode { index, ..m }));
    let on_pace = |name: String| {
        let (cell, dispatch) = (cell.clone(), state.dispatcher());
        Callback::from(move |e: Event| {
            let value = crate::shell::event_value(&e).and_then(|v| v.parse::<u64>().ok());
            if let (Some(n), true) = (value, running) {
                let a = Action::SetPace {
                    consumer: name.clone(),
                    events_per_tick: n,
                };
                with_run(&cell, &dispatch, windows, follow, details, |r| r.act(&a));
            }
        })
    };
    let members: Vec<String> = state
        .view
        .as_ref()
        .map(|v| v.snapshot.members.iter().map(|m| m.name.clone()).collect())
        .unwrap_or_default();
    let next_member = (1..)
        .map(|i| format!("c{i}"))
        .find(|n| !members.contains(n))
        .unwrap_or_default();
    let can_join = members.len() < MAX_MEMBERS;
    let on_join = act(if can_join {
        Ok(Action::JoinConsumer {
            consumer: next_member,
        })
    } else {
        Err(format!("At most {MAX_MEMBERS} consumers in the group."))
    });
    let on_leave = act(match members.last() {
        Some(m) => Ok(Action::LeaveConsumer {
            consumer: m.clone(),
        }),
        None => Err("The group has no consumer to remove.".to_owned()),
    });
    let on_keydown = {
        let (dispatch, playing) = (state.dispatcher(), state.playing);
        Callback::from(move |e: KeyboardEvent| {
            if e.ctrl_key() || e.alt_key() || e.meta_key() {
                return;
            }
            let tag = e
                .target()
                .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                .map(|el| el.tag_name().to_ascii_lowercase())
                .unwrap_or_default();
            match shortcut(&e.key(), &tag) {
                Some(Shortcut::TogglePlay) => {
                    e.prevent_default();
                    dispatch.dispatch(if playing {
                        PipelineAction::Pause
                    } else {
                        PipelineAction::Play
                    });
                }
                Some(Shortcut::Step) => {
                    e.prevent_default();
                    step();
                }
                None => {}
            }
        })
    };
    let mover = |which: Which, m: Move| {
        let (cell, dispatch) = (cell.clone(), state.dispatcher());
        let to = state.moved(which, m);
        let allowed = running && to != state.window(which);
        let mut next = windows;
        match which {
            Which::Wal => next.wal = to,
            Which::Records => next.records = to,
        }
        let cb = Callback::from(move |_: MouseEvent| {
            if allowed {
                dispatch.dispatch(PipelineAction::SetWindow(which, to));
                with_run(&cell, &dispatch, next, follow, details, |_| Ok(()));
            }
        });
        (cb, allowed)
    };
    let rebuild = |name: &str| {
        act(Ok(Action::RebuildView {
            view: name.to_owned(),
        }))
    };
    let on_dismiss = {
        let dispatch = state.dispatcher();
        Callback::from(move |_: MouseEvent| dispatch.dispatch(PipelineAction::DismissError))
    };

    let view = state.view.as_deref();
    let attr = |f: fn(&Picture) -> String| view.map(f).unwrap_or_default();
    let equal = match view.and_then(Picture::views_equal) {
        Some(true) => "true",
        Some(false) => "false",
        None => "pending",
    };
    html! {
        <section class="pipeline" data-testid="pipeline" aria-labelledby="pipeline-heading"
            onkeydown={on_keydown}
            data-phase={state.phase.as_str()}
            data-time={attr(|v| v.snapshot.time.to_string())}
            data-position={attr(|v| v.timeline.position.to_string())}
            data-recorded={attr(|v| v.timeline.recorded.to_string())}
            data-playing={state.playing.to_string()}
            data-worlds={state.worlds.to_string()}
            data-dual-write={dual.to_string()}
            data-views-equal={equal}
            data-divergence={attr(|v| v.snapshot.divergence.map(|d| d.to_string()).unwrap_or_default())}
            data-diverged={state.diverged.map(|d| d.to_string()).unwrap_or_default()}
            data-hw={attr(|v| v.changes().map(|p| p.high_watermark.to_string()).unwrap_or_default())}
            data-failures={attr(|v| v.failures.len().to_string())}
            aria-busy={(state.phase == crate::pipeline_state::Phase::Starting).to_string()}>
            <header class="section-head">
                <h2 id="pipeline-heading">{ "The pipeline: the log leaves the database" }</h2>
                <p class="muted">
                    { format!("A simulated world runs here: the database on its disk, a broker with the topic \
                       changes on another, a CDC connector on a third, reading the database's write-ahead log and \
                       publishing every committed transaction to the topic exactly once, and three views consuming \
                       the topic, each at its own offset ({VIEW_EVENTS_PER_TICK} events per tick). Crash any machine: \
                       the views stay equal to the database. Drop a view and it is rebuilt from offset 0. Switch on \
                       dual writes and the application also writes to a second topic itself — crash the database \
                       and the two stores drift apart. A Raft cluster of {RAFT_NODES} nodes replicates the \
                       database, fed from the topic: crash or cut off its nodes and it still ends holding every \
                       row. Everything drawn is the world's trace and state.") }
                </p>
            </header>

            if let Some(message) = &state.error {
                <div class="alert" role="alert">
                    <p>{ message }</p>
                    if state.phase != crate::pipeline_state::Phase::Failed {
                        <div class="buttons">
                            <button type="button" class="secondary" onclick={on_dismiss}>
                                { "Dismiss the pipeline error" }
                            </button>
                        </div>
                    }
                </div>
            }
            <p class="pipeline-announce" aria-live="polite" aria-atomic="true" data-testid="pipeline-announce">
                { state.announce.clone() }
            </p>

            <div class="pipeline-grid">
                <section class="panel pipeline-drive" aria-labelledby="pipeline-drive-heading">
                    <h3 id="pipeline-drive-heading">{ "Drive the pipeline" }</h3>
                    <form class="kv" onsubmit={on_write}>
                        <div class="numbers">
                            <div class="field">
                                <label for="pipeline-key">{ "Key to write to the pipeline" }</label>
                                <input id="pipeline-key" ref={key_ref} type="text" autocomplete="off"
                                    spellcheck="false" maxlength="256" value={state.key.clone()}
                                    oninput={text_input(PipelineAction::EditKey)} />
                            </div>
                            <div class="field">
                                <label for="pipeline-value">{ "Value to write to the pipeline" }</label>
                                <input id="pipeline-value" ref={value_ref} type="text" autocomplete="off"
                                    spellcheck="false" maxlength="4096" value={state.value.clone()}
                                    oninput={text_input(PipelineAction::EditValue)} />
                            </div>
                        </div>
                        <div class="buttons">
                            <button type="submit" aria-disabled={off(running)}>{ "Write and follow" }</button>
                        </div>
                    </form>
                    <div class="numbers">
                        <div class="field">
                            <label for="pipeline-workload">{ "Workload size" }</label>
                            <select id="pipeline-workload" onchange={select(PipelineAction::SetWorkload)}>
                                { for WORKLOADS.iter().map(|n| html! {
                                    <option value={n.to_string()} selected={*n == state.workload}>
                                        { format!("{} transactions (up to {} change events)", group(u64::from(*n)),
                                            group(u64::from(*n * WORKLOAD_WRITES))) }
                                    </option>
                                }) }
                            </select>
                        </div>
                    </div>
                    <div class="buttons">
                        <button type="button" onclick={act(Ok(state.workload_action()))} aria-disabled={off(running)}>
                            { "Run the workload" }
                        </button>
                        <button type="button" class="secondary" onclick={on_step} aria-disabled={off(running)}
                            aria-keyshortcuts=".">
                            { "Step one tick" }
                        </button>
                    </div>
                    if let Some(t) = view.map(|v| &v.timeline) {
                        { transport(TransportProps {
                            id: "pipeline-timeline".into(),
                            label: "Pipeline timeline".into(),
                            start: t.start,
                            end: t.recorded,
                            position: t.position,
                            markers: t.markers.clone(),
                            playing: state.playing,
                            speeds: SPEEDS.iter().map(|n| (*n, AttrValue::from(format!("{n} ticks every {FRAME_MS} ms")))).collect::<Vec<_>>(),
                            speed: state.speed,
                            status: timeline_status(t).into(),
                            value_text: format!("tick {}, event {} of {}", t.time, t.position, t.recorded).into(),
                            on_play_pause,
                            on_step_back: mover_cb(PipelineRun::step_back),
                            on_step_forward: mover_cb(PipelineRun::step_forward),
                            on_seek,
                            on_speed,
                            on_live: Some(mover_cb(PipelineRun::to_end)),
                            list_markers: true,
                            on_marker: Some(on_marker),
                        }) }
                    }
                    <div class="buttons">
                        <button type="button" class="danger" onclick={act(Ok(Action::Crash))} aria-disabled={off(running)}>
                            { "Crash the database" }
                        </button>
                        <button type="button" class="danger" onclick={act(Ok(Action::CrashBroker))} aria-disabled={off(running)}>
                            { "Crash the broker" }
                        </button>
                        <button type="button" class="danger" onclick={act(Ok(Action::CrashConnector))} aria-disabled={off(running)}>
                            { "Crash the connector" }
                        </button>
                        <button type="button" class="secondary" onclick={act(Ok(Action::Compact))} aria-disabled={off(running)}
                            title="A manual compaction: the LSM tree's levels merged down, a compacted topic compacted now">
                            { "Compact now" }
                        </button>
                    </div>
                    <div class="field">
                        <label for="pipeline-disk">{ "Sync latency of the database's disk" }</label>
                        <select id="pipeline-disk" aria-describedby="pipeline-disk-help"
                            onchange={act_select(DISK_LATENCIES.iter()
                                .map(|(min, max, _)| (format!("{min}-{max}"), Action::SlowDisk { min: *min, max: *max }))
                                .collect())}>
                            { for DISK_LATENCIES.iter().map(|(min, max, label)| html! {
                                <option value={format!("{min}-{max}")}
                                    selected={view.and_then(|v| v.sync_latency) == Some((*min, *max))}>{ *label }</option>
                            }) }
                        </select>
                        <p class="help-text" id="pipeline-disk-help">
                            { "A slow disk makes each sync take longer: group commit then gathers more commits per \
                               sync. A crash tears a write that is in flight; recovery finds it by its checksum." }
                        </p>
                    </div>
                    <div class="pipeline-switch">
                        <button type="button" role="switch" class="switch" aria-checked={dual.to_string()}
                            aria-describedby="pipeline-dual-help" onclick={on_dual}>
                            <span class="switch-track" aria-hidden="true"><span class="switch-thumb"></span></span>
                            { "Dual write" }
                        </button>
                        <p class="help-text" id="pipeline-dual-help">
                            { "The application writes each acknowledged transaction to a second topic, dual, itself \
                               (a moment later, no stored position). Switching starts a new world." }
                        </p>
                    </div>
                    <div class="field">
                        <label for="pipeline-index">{ "Index of the database" }</label>
                        <select id="pipeline-index" onchange={on_index} aria-describedby="pipeline-index-help">
                            <option value="btree" selected={mode.index == IndexChoice::Btree}>{ "B-tree: pages updated in place" }</option>
                            <option value="lsm" selected={mode.index == IndexChoice::Lsm}>{ "LSM tree: memtable, flushes, compactions" }</option>
                        </select>
                        <p class="help-text" id="pipeline-index-help">
                            { "The same WAL, commits and CDC either way: the log does not care how the index \
                               is built. Switching starts a new world." }
                        </p>
                    </div>
                    <div class="field">
                        <label for="pipeline-cleanup">{ "Cleanup of the topic changes" }</label>
                        <select id="pipeline-cleanup" onchange={on_cleanup} aria-describedby="pipeline-cleanup-help">
                            { for Cleanup::ALL.iter().map(|c| html! {
                                <option value={c.as_str()} selected={*c == cleanup}>{ c.label() }</option>
                            }) }
                        </select>
                        <p class="help-text" id="pipeline-cleanup-help">
                            { "Retention drops whole old segments (a view can no longer be rebuilt from offset 0); \
                               compaction keeps each key's latest record (it can). Changing it starts a new world." }
                        </p>
                    </div>
                    <div class="buttons">
                        <button type="button" class="secondary" onclick={on_join}
                            aria-disabled={off(running && can_join)}>{ "Add a consumer to the group" }</button>
                        <button type="button" class="secondary" onclick={on_leave}
                            aria-disabled={off(running && !members.is_empty())}>{ "Remove a consumer from the group" }</button>
                    </div>
                    <p class="help-text">{ "Keys inside the view: p plays or pauses, . steps one tick." }</p>
                </section>
                { follow_panel(&state) }
            </div>

            { stages(&state) }

            <div class="pipeline-grid">
                { wal_panel(view, &state, &mover) }
                { index_panel(view, &index_open) }
                { partition_panel(view, &state, &mover) }
            </div>

            { views_panel(view, &state, &rebuild, &on_pace) }

            { raft_panel(view, state.follow.as_ref(), &act, &act_select, running, &raft_open) }

            if dual {
                { dual_panel(view, &state) }
            }

            <section class="panel pipeline-events" aria-labelledby="pipeline-events-heading">
                <h3 id="pipeline-events-heading">{ "What just happened" }</h3>
                { counters(&state) }
                <ol class="events" aria-label="Pipeline events">
                    { for state.recent.iter().map(|e| html! {
                        <li key={e.seq.to_string()} class={classes!("scenario-event", e.kind)} data-kind={e.kind}>
                            <span class="event-when">{ format!("t{} ", e.time) }</span>
                            <span>{ &e.text }</span>
                        </li>
                    }) }
                </ol>
                if let Some(v) = view {
                    if !v.failures.is_empty() {
                        <ul aria-label="Invariant failures" class="pipeline-failures">
                            { for v.failures.iter().map(|f| html! { <li>{ f }</li> }) }
                        </ul>
                    }
                }
            </section>
        </section>
    }
}

/// The Raft cluster that replicates the database: the feed from `changes`, each node's
/// log and copy of the rows (the followed write highlighted where it is held), and the
/// faults that act on the cluster: crash a node, cut it off, restart, heal.
fn raft_panel(
    view: Option<&Picture>,
    follow: Option<&crate::pipeline_state::Follow>,
    act: &dyn Fn(Result<Action, String>) -> Callback<MouseEvent>,
    act_select: &dyn Fn(Vec<(String, Action)>) -> Callback<Event>,
    running: bool,
    open: &(bool, Callback<MouseEvent>),
) -> Html {
    let Some(r) = view.and_then(|v| v.raft.as_ref()) else {
        return html! {};
    };
    let off = |allowed: bool| (!allowed).to_string();
    let majority = r.nodes.len() / 2 + 1;
    let holding = r.nodes.iter().filter(|n| n.holds).count();
    let feed = r.feed.clone().unwrap_or_default();
    let feed_text = if feed.behind {
        "The feed fell behind retention: changes it had not read are gone, so the nodes can no \
         longer equal the database."
            .to_owned()
    } else {
        let at = feed
            .positions
            .iter()
            .enumerate()
            .map(|(p, o)| format!("{o} in changes/{p}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut t = format!(
            "The feed has put {} through the Raft log in {}; it reads on at offset {at}.",
            plural(feed.events, "change", "changes"),
            plural(feed.batches, "batch", "batches"),
        );
        match (feed.inflight, r.leader) {
            (Some((batch, events)), Some(l)) => t.push_str(&format!(
                " Batch {batch} ({}) is with the leader n{l}, waiting for a majority ({majority} of {}).",
                plural(events, "change", "changes"),
                r.nodes.len()
            )),
            (Some((batch, _)), None) => t.push_str(&format!(
                " Batch {batch} waits: there is no leader, so nothing can commit."
            )),
            (None, _) => {}
        }
        t
    };
    let role = |n: &logspine_core::world::inspect::RaftNodeSnapshot| match n.role {
        "pre_candidate" => "pre-candidate",
        other => other,
    };
    let followed = follow.filter(|f| f.stage == Stage::Published || holding > 0);
    let down = r.nodes.iter().any(|n| !n.up);
    let equal = view.and_then(|v| v.raft_equal.as_ref());
    let equal_of = |id: u64| match equal {
        None => "pending",
        Some(e) => match e.iter().find(|(n, _)| *n == id) {
            Some((_, true)) => "true",
            Some((_, false)) => "false",
            None => "pending",
        },
    };
    html! {
        <section class="panel pipeline-raft" aria-labelledby="pipeline-raft-heading"
            data-testid="pipeline-raft"
            data-leader={r.leader.map(|l| l.to_string()).unwrap_or_default()}
            data-batches={feed.batches.to_string()} data-replicated={feed.events.to_string()}
            data-holding={holding.to_string()}>
            <h3 id="pipeline-raft-heading">{ "Raft replicates the database" }</h3>
            { detail_toggle(open, "pipeline-raft-nodes", "Show each node's log", "Hide the nodes' logs") }
            <p class="muted">
                { "The feed reads changes like a view and puts each batch through the Raft log as one \
                   entry: it commits once a majority of the nodes hold it, and every node then applies it \
                   to its own copy of the rows. At the end of a run every node holds exactly the \
                   database's rows (the check raft_replicates_database)." }
            </p>
            <p class="pipeline-raft-feed">{ feed_text }</p>
            if let Some(f) = followed {
                <p class={classes!("pipeline-raft-follow", (holding > 0).then_some("followed"))}>
                    { format!("{} = {} is held by {holding} of {} nodes{}.", f.key, f.value, r.nodes.len(),
                        if holding >= majority { ": a majority, so it survives any minority of crashes" } else { "" }) }
                </p>
            }
            <ul id="pipeline-raft-nodes" class={classes!("pipeline-raft-nodes", open.0.then_some("expanded"))}
                aria-label="Raft nodes">
                { for r.nodes.iter().map(|n| {
                    let id = n.id.to_string();
                    html! {
                        <li key={id.clone()}
                            class={classes!("raft-node", n.role, n.cut_off.then_some("cut"), n.holds.then_some("followed"))}
                            data-node={id.clone()} data-role={n.role} data-up={n.up.to_string()}
                            data-term={n.term.to_string()} data-commit={n.commit_index.to_string()}
                            data-applied={n.applied.to_string()} data-keys={n.keys.to_string()}
                            data-cut={n.cut_off.to_string()} data-holds={n.holds.to_string()}
                            data-equal={equal_of(n.id)}>
                            <strong>{ format!("n{id} ") }</strong>
                            <span class="raft-node-role">{ role(n) }</span>
                            if n.cut_off { <span class="raft-node-cut">{ " · cut off" }</span> }
                            <span class="raft-node-log">
                                { if n.up {
                                    format!("term {}, log to {} (snapshot at {}), committed {}, applied {}, {}",
                                        n.term, n.last_index, n.snapshot_index, n.commit_index, n.applied,
                                        plural(n.keys, "key", "keys"))
                                } else {
                                    "crashed: its log and snapshot wait on its disk".to_owned()
                                } }
                            </span>
                            if equal_of(n.id) != "pending" {
                                <span class="raft-node-equal">
                                    { if equal_of(n.id) == "true" {
                                        "✓ equals the database's rows (settled)"
                                    } else {
                                        "✗ differs from the database's rows"
                                    } }
                                </span>
                            }
                            if open.0 && n.up {
                                <ol class="raft-log" aria-label={format!("Log of n{id}")}>
                                    if n.snapshot_index > 0 {
                                        <li class="entry snap">{ format!("snapshot ≤ {}", n.snapshot_index) }</li>
                                    }
                                    { for n.log.iter().map(|&(index, term)| {
                                        let committed = index <= n.commit_index;
                                        html! {
                                            <li class={classes!("entry", format!("term-{}", term % 6),
                                                    (!committed).then_some("uncommitted"))}
                                                data-index={index.to_string()} data-term={term.to_string()}
                                                data-committed={committed.to_string()}>
                                                <span class="e-index">{ index }</span>
                                                <span class="e-term">{ format!("t{term}") }</span>
                                                if !committed { <span class="visually-hidden">{ " uncommitted" }</span> }
                                            </li>
                                        }
                                    }) }
                                </ol>
                            }
                            if let Some(f) = followed {
                                <span class="raft-node-value">
                                    { match &n.value {
                                        Some(v) => format!("{} = {v}", f.key),
                                        None => format!("{} not here yet", f.key),
                                    } }
                                </span>
                            }
                            <span class="buttons">
                                <button type="button" class="danger"
                                    onclick={act(Ok(Action::RaftCrash { target: id.clone() }))}
                                    aria-disabled={off(running && n.up)}>{ format!("Crash n{id}") }</button>
                                <button type="button" class="secondary"
                                    onclick={act(Ok(Action::RaftPartition { side: vec![id.clone()] }))}
                                    aria-disabled={off(running && !n.cut_off)}>{ format!("Cut n{id} off") }</button>
                            </span>
                        </li>
                    }
                }) }
            </ul>
            <div class="buttons">
                <button type="button" class="secondary" onclick={act(Ok(Action::RaftRestart))}
                    aria-disabled={off(running && down)}>{ "Restart the crashed Raft nodes" }</button>
                <button type="button" class="secondary" onclick={act(Ok(Action::RaftHeal))}
                    aria-disabled={off(running && r.blocked > 0)}>{ "Heal the Raft network" }</button>
            </div>
            <div class="numbers">
                <div class="field">
                    <label for="pipeline-raft-loss">{ "Raft messages dropped" }</label>
                    <select id="pipeline-raft-loss"
                        onchange={act_select(RAFT_LOSSES.iter()
                            .map(|p| (p.to_string(), Action::RaftLoss { percent: *p }))
                            .collect())}>
                        { for RAFT_LOSSES.iter().map(|p| html! {
                            <option value={p.to_string()} selected={r.loss_percent == u64::from(*p)}>
                                { if *p == 0 { "none".to_owned() } else { format!("{p} %") } }
                            </option>
                        }) }
                    </select>
                </div>
                <div class="field">
                    <label for="pipeline-raft-delay">{ "Raft message delay" }</label>
                    <select id="pipeline-raft-delay"
                        onchange={act_select(RAFT_DELAYS.iter()
                            .map(|(min, max, _)| (format!("{min}-{max}"), Action::RaftDelay { min: *min, max: *max }))
                            .collect())}>
                        { for RAFT_DELAYS.iter().map(|(min, max, label)| html! {
                            <option value={format!("{min}-{max}")} selected={r.delay == (*min, *max)}>{ *label }</option>
                        }) }
                    </select>
                </div>
            </div>
        </section>
    }
}

/// `n` with thin spaces between thousands (`25 000`).
fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    out
}

/// The button that expands a panel to its detailed view (`controls`: the id of what it
/// shows) and collapses it again.
fn detail_toggle(
    open: &(bool, Callback<MouseEvent>),
    controls: &str,
    show: &str,
    hide: &str,
) -> Html {
    html! {
        <button type="button" class="secondary detail-toggle" aria-expanded={open.0.to_string()}
            aria-controls={controls.to_owned()} onclick={open.1.clone()}>
            { if open.0 { hide } else { show } }
        </button>
    }
}

/// The database's index: its kind, amplification so far, shape, and where the followed
/// key lives in it; expanded, its pages or memtables and tables.
fn index_panel(view: Option<&Picture>, open: &(bool, Callback<MouseEvent>)) -> Html {
    let Some(i) = view.and_then(|v| v.index.as_ref()) else {
        return html! {};
    };
    let name = if i.kind == "lsm" {
        "LSM tree"
    } else {
        "B-tree"
    };
    html! {
        <section class={classes!("panel", "pipeline-index", open.0.then_some("expanded"))}
            aria-labelledby="pipeline-index-heading"
            data-testid="pipeline-index" data-kind={i.kind}
            data-location={i.location.clone().unwrap_or_default()}>
            <h3 id="pipeline-index-heading">{ format!("The index: {name}") }</h3>
            <p class="muted">
                { "Every committed update in the WAL is applied to the index too; recovery rebuilds \
                   what the index lost from the WAL." }
            </p>
            <dl class="pipeline-index-amp">
                <dt>{ "Write amplification" }</dt><dd>{ fixed(i.write_amplification, 2) }</dd>
                <dt>{ "Read amplification" }</dt>
                <dd>{ if i.read_amplification > 0.0 {
                    format!("{} {} per lookup", fixed(i.read_amplification, 2),
                        if i.kind == "lsm" { "sources" } else { "pages" })
                } else {
                    "no lookups yet (the pipeline's clients only write)".to_owned()
                } }</dd>
                <dt>{ "Space amplification" }</dt><dd>{ fixed(i.space_amplification, 2) }</dd>
            </dl>
            <ul class="pipeline-index-shape" aria-label="Shape of the index">
                { for i.shape.iter().map(|line| html! { <li>{ line.clone() }</li> }) }
            </ul>
            if let (Some(k), Some(at)) = (&i.key, &i.location) {
                <p class="pipeline-index-follow followed">
                    { format!("The followed key {k:?} is {at}.") }
                </p>
            }
            { detail_toggle(open, "pipeline-index-detail",
                if i.kind == "lsm" { "Show the memtables and every table" } else { "Show the B-tree's pages" },
                if i.kind == "lsm" { "Hide the memtables and tables" } else { "Hide the pages" }) }
            <ol id="pipeline-index-detail" class="index-detail" hidden={!open.0}
                aria-label={if i.kind == "lsm" { "Memtables and levels of the LSM tree" } else { "Pages of the B-tree by depth" }}>
                if open.0 {
                    { for i.detail.iter().flatten().map(|row| html! {
                        <li class="index-detail-row" data-row={row.label.clone()}>
                            <h4>{ &row.label }</h4>
                            if row.items.is_empty() {
                                <p class="muted">{ "empty" }</p>
                            } else {
                                <ol class="tables" aria-label={row.label.clone()}>
                                    { for row.items.iter().map(|it| html! {
                                        <li class={classes!("table-box", it.followed.then_some("followed"))}
                                            data-followed={it.followed.to_string()}>
                                            <span class="t-id">{ &it.id }</span>
                                            <span>{ &it.text }</span>
                                            if let Some(r) = &it.range { <span class="t-range">{ r }</span> }
                                            if it.followed {
                                                <span class="visually-hidden">
                                                    { if i.kind == "lsm" { " (may hold the followed key)" } else { " (on the followed key's path)" } }
                                                </span>
                                            }
                                        </li>
                                    }) }
                                </ol>
                            }
                            if row.more > 0 {
                                <p class="muted">{ format!("and {} more not listed", row.more) }</p>
                            }
                        </li>
                    }) }
                }
            </ol>
        </section>
    }
}

fn follow_panel(state: &PipelineState) -> Html {
    let view = state.view.as_deref();
    let f = state.follow.as_ref();
    let cdc_views: Vec<&ViewSnapshot> = view
        .map(|v| {
            v.snapshot
                .views
                .iter()
                .filter(|x| x.topic == logspine_core::world::CHANGES)
                .collect()
        })
        .unwrap_or_default();
    let applied: Vec<&str> = match f {
        Some(f) => cdc_views
            .iter()
            .filter(|v| f.applied_by(v))
            .map(|v| v.name.as_str())
            .collect(),
        None => Vec::new(),
    };
    let offset = view.and_then(|v| v.follow_offset);
    let raft = view.and_then(|v| v.raft.as_ref());
    let raft_held =
        raft.is_some_and(|r| r.nodes.iter().filter(|n| n.holds).count() > r.nodes.len() / 2);
    let steps: [(&str, bool); 6] = match f {
        None => [("", false); 6],
        Some(f) => [
            (
                "Appended to the WAL",
                f.stage >= Stage::Appended && f.stage <= Stage::Published,
            ),
            (
                "Durable and acknowledged",
                f.stage >= Stage::Durable && f.stage <= Stage::Published,
            ),
            (
                "Captured by CDC",
                f.stage >= Stage::Captured && f.stage <= Stage::Published,
            ),
            ("Published to the topic", f.stage == Stage::Published),
            (
                "Applied by every view",
                !cdc_views.is_empty() && applied.len() == cdc_views.len(),
            ),
            (
                "Held by a majority of the Raft nodes",
                f.stage == Stage::Published && raft_held,
            ),
        ],
    };
    let text = match f {
        None => "Write a key: it is followed through every stage.".to_owned(),
        Some(f) => {
            let what = format!("{} = {}", f.key, f.value);
            match f.stage {
                Stage::Refused => format!(
                    "{what} was refused: {}",
                    f.reason.clone().unwrap_or_default()
                ),
                Stage::Lost => format!("{what} was lost: {}", f.reason.clone().unwrap_or_default()),
                _ => {
                    let mut t = format!("{what}: {}", f.stage.as_str());
                    if let Some(l) = f.commit_lsn {
                        t.push_str(&format!(", commit record at lsn {l}"));
                    }
                    if let Some((p, o)) = offset {
                        t.push_str(&format!(", at offset {o} of changes/{p}"));
                    }
                    if f.stage == Stage::Published {
                        t.push_str(&format!(
                            ", applied by {} of {} views{}",
                            applied.len(),
                            cdc_views.len(),
                            if applied.is_empty() {
                                String::new()
                            } else {
                                format!(" ({})", applied.join(", "))
                            }
                        ));
                    }
                    t.push('.');
                    t
                }
            }
        }
    };
    html! {
        <section class="panel pipeline-follow" aria-labelledby="pipeline-follow-heading"
            data-testid="pipeline-follow"
            data-stage={f.map_or("none", |f| f.stage.as_str())}
            data-commit={f.and_then(|f| f.commit_lsn).map(|l| l.to_string()).unwrap_or_default()}
            data-offset={offset.map(|(_, o)| o.to_string()).unwrap_or_default()}
            data-views-applied={applied.len().to_string()}>
            <h3 id="pipeline-follow-heading">{ "Follow the write" }</h3>
            <p>{ text }</p>
            if f.is_some() {
                <ol class="follow-steps" aria-label="Stages of the write">
                    { for steps.iter().map(|(label, done)| html! {
                        <li class={classes!("follow-step", done.then_some("done"))} data-done={done.to_string()}>
                            <span aria-hidden="true">{ if *done { "✓ " } else { "· " } }</span>
                            { *label }
                            if !*done { <span class="visually-hidden">{ " (not yet)" }</span> }
                        </li>
                    }) }
                </ol>
            }
        </section>
    }
}

/// The transactions in flight, stage by stage.
fn stages(state: &PipelineState) -> Html {
    html! {
        <section class="panel pipeline-stages-panel" aria-labelledby="pipeline-stages-heading">
            <h3 id="pipeline-stages-heading">{ "Committed transactions on their way" }</h3>
            <ol class="pipeline-stages" aria-label="Pipeline stages">
                { for TokenStage::ALL.iter().map(|&stage| {
                    let all = state.tokens.iter().filter(|t| t.stage == stage).count();
                    let shown = state.tokens_at(stage, TOKENS_PER_STAGE);
                    html! {
                        <li class={classes!("pipeline-stage", stage.as_str())} data-stage={stage.as_str()}
                            data-count={all.to_string()}>
                            <h4>{ stage.label() }</h4>
                            <ul class="tokens" aria-label={format!("Transactions: {}", stage.label().to_ascii_lowercase())}>
                                { for shown.iter().map(|t| html! {
                                    <li key={format!("{}-{}", t.commit_lsn, stage.as_str())}
                                        class={classes!("token", stage.as_str())}
                                        data-txn={t.txn.to_string()} data-commit={t.commit_lsn.to_string()}>
                                        { format!("txn {} @{}", t.txn, t.commit_lsn) }
                                        if t.events > 0 { <span class="muted">{ format!(" ×{}", t.events) }</span> }
                                    </li>
                                }) }
                            </ul>
                            if all > shown.len() {
                                <p class="muted">{ format!("+{} more", all - shown.len()) }</p>
                            }
                            if all == 0 { <p class="muted">{ "none" }</p> }
                        </li>
                    }
                }) }
            </ol>
        </section>
    }
}

/// Permille of `x` in `[0, total]` as an SVG x in a 1000-wide box.
fn at(x: u64, from: u64, to: u64) -> u64 {
    let span = to.saturating_sub(from).max(1);
    x.clamp(from, to.max(from)).saturating_sub(from) * 1000 / span
}

/// A log's segments as rects in `[from, to)`: (x, width, index) per listed segment, and
/// the older ones as one.
fn segment_rects(segs: &Segments, first: u64, end: u64, from: u64, to: u64) -> Html {
    let starts: Vec<u64> = segs
        .newest
        .iter()
        .scan(first, |prev, s| {
            let start = s.first.unwrap_or(*prev).max(*prev);
            *prev = start;
            Some(start)
        })
        .collect();
    let older_end = starts.first().copied().unwrap_or(end);
    html! {
        <>
            if segs.older > 0 {
                <rect class="seg older" x={at(first, from, to).to_string()} y="14"
                    width={at(older_end, from, to).saturating_sub(at(first, from, to)).max(1).to_string()} height="22" />
            }
            { for starts.iter().enumerate().map(|(i, &s)| {
                let e = starts.get(i + 1).copied().unwrap_or(end).max(s);
                let (x0, x1) = (at(s, from, to), at(e, from, to));
                html! { <rect class={classes!("seg", if i % 2 == 0 { "even" } else { "odd" })}
                    x={x0.to_string()} y="14" width={x1.saturating_sub(x0).max(1).to_string()} height="22" /> }
            }) }
        </>
    }
}

/// A pointer on a bar: a line and its label above or below.
fn pointer(class: &str, x: u64, label: &str, below: bool) -> Html {
    let y = if below { "56" } else { "10" };
    html! {
        <g class={classes!("pointer", class.to_owned())}>
            <line x1={x.to_string()} x2={x.to_string()} y1="6" y2="44" />
            <text x={x.to_string()} y={y} text-anchor="middle">{ label.to_owned() }</text>
        </g>
    }
}

fn wal_panel(
    view: Option<&Picture>,
    state: &PipelineState,
    mover: &impl Fn(Which, Move) -> (Callback<MouseEvent>, bool),
) -> Html {
    let Some(v) = view else { return html! {} };
    let Some(w) = &v.snapshot.wal else {
        return html! {
            <section class="panel" data-testid="pipeline-wal">
                <h3>{ "The write-ahead log" }</h3>
                <p class="muted">{ "The database could not be reopened." }</p>
            </section>
        };
    };
    let c = &v.snapshot.connector;
    let WalSnapshot {
        first_lsn,
        durable_next,
        next_lsn,
        ..
    } = *w;
    let (from, to) = (first_lsn, next_lsn.max(first_lsn + 1));
    let label = format!(
        "The WAL holds lsn {first_lsn} to {}: {} segments, {} bytes; durable below {durable_next}; \
         the connector reads at {} and resumes at {} after a crash.",
        next_lsn.saturating_sub(1),
        w.segments.newest.len() as u64 + w.segments.older,
        group(w.bytes),
        c.read_at,
        c.resume
    );
    let start = state.window_start(Which::Wal);
    html! {
        <section class="panel pipeline-wal" aria-labelledby="pipeline-wal-heading" data-testid="pipeline-wal"
            data-first={first_lsn.to_string()} data-durable={durable_next.to_string()}
            data-next={next_lsn.to_string()} data-resume={c.resume.to_string()} data-read-at={c.read_at.to_string()}>
            <h3 id="pipeline-wal-heading">{ "The write-ahead log → CDC" }</h3>
            <svg class="pipeline-bar" viewBox="0 0 1000 60" role="img" aria-label={label.clone()}>
                { segment_rects(&w.segments, first_lsn, next_lsn, from, to) }
                <rect class="volatile" x={at(durable_next, from, to).to_string()} y="14"
                    width={at(next_lsn, from, to).saturating_sub(at(durable_next, from, to)).to_string()} height="22" />
                { pointer("resume", at(c.resume, from, to), "resume", false) }
                { pointer("read-at", at(c.read_at, from, to), "CDC", true) }
            </svg>
            <p class="muted">{ label }</p>
            <p class="muted">
                { format!("Connector: {} events waiting for the broker's acknowledgement; last commit published: {}; \
                    next sequence number {}. Checkpoints trim the WAL, but never past the connector's resume point.",
                    c.backlog, c.last_commit.map_or_else(|| "none".to_owned(), |l| format!("lsn {l}")), c.next_seq) }
                if w.recovering { { " The database is rolling back losers." } }
            </p>
            { window_buttons(Which::Wal, "WAL records", state, mover) }
            <ol class="pipeline-records" aria-label="WAL records" start={start.to_string()}>
                { for v.wal_window.iter().map(|r| html! {
                    <li key={r.lsn.to_string()} data-lsn={r.lsn.to_string()} data-kind={r.kind}
                        data-durable={r.durable.to_string()}
                        class={classes!("precord", r.kind, if r.durable { "durable" } else { "volatile" })}>
                        <span class="p-pos">{ format!("lsn {}", r.lsn) }</span>
                        <span class="p-kind">{ r.kind }</span>
                        <span class="p-body">
                            { r.txn.map(|t| format!("txn {t} ")).unwrap_or_default() }
                            { r.key.clone().unwrap_or_default() }
                            { r.value.as_ref().map(|v| format!(" = {v}")).unwrap_or_default() }
                        </span>
                        <span class="p-state">{ if r.durable { "durable" } else { "volatile" } }</span>
                    </li>
                }) }
            </ol>
        </section>
    }
}

fn window_buttons(
    which: Which,
    noun: &str,
    state: &PipelineState,
    mover: &impl Fn(Which, Move) -> (Callback<MouseEvent>, bool),
) -> Html {
    let moves = [
        (Move::Oldest, "Oldest"),
        (Move::Older, "Older"),
        (Move::Newer, "Newer"),
        (Move::Newest, "Newest"),
    ];
    html! {
        <div class="buttons pipeline-window">
            { for moves.iter().map(|(m, word)| {
                let (cb, allowed) = mover(which, *m);
                html! {
                    <button type="button" class="secondary" onclick={cb} aria-disabled={(!allowed).to_string()}>
                        { format!("{word} {noun}") }
                    </button>
                }
            }) }
            <span class="muted">
                { if state.following(which) { "following the newest" } else { "paused at a window" } }
            </span>
        </div>
    }
}

fn partition_panel(
    view: Option<&Picture>,
    state: &PipelineState,
    mover: &impl Fn(Which, Move) -> (Callback<MouseEvent>, bool),
) -> Html {
    let Some(v) = view else { return html! {} };
    let Some(p) = v.changes() else {
        return html! {};
    };
    html! {
        <section class="panel pipeline-topic" aria-labelledby="pipeline-topic-heading">
            <h3 id="pipeline-topic-heading">{ "The topic changes → the views" }</h3>
            { partition_figure(p, &v.snapshot.views, &v.snapshot.members) }
            { members_list(v) }
            { window_buttons(Which::Records, "records", state, mover) }
            <ol class="pipeline-records" aria-label="Records of the topic changes">
                { for v.record_window.iter().map(|r| {
                    let followed = v.follow_offset.is_some_and(|(_, o)| {
                        r.commit_lsn.is_some() && r.commit_lsn == state.follow.as_ref().and_then(|f| f.commit_lsn) && r.offset >= o
                    });
                    html! {
                        <li key={r.offset.to_string()} data-offset={r.offset.to_string()}
                            data-key={r.key.clone().unwrap_or_default()}
                            class={classes!("precord", r.op, followed.then_some("followed"))}>
                            <span class="p-pos">{ format!("@{}", r.offset) }</span>
                            <span class="p-kind">{ r.op }</span>
                            <span class="p-body">
                                { r.key.clone().unwrap_or_default() }
                                { r.value.as_ref().map(|v| format!(" = {v}")).unwrap_or_default() }
                            </span>
                            <span class="p-state">
                                { match (r.txn, r.part) {
                                    (Some(t), Some((i, n))) => format!("txn {t} {}/{n}", i + 1),
                                    _ => String::new(),
                                } }
                            </span>
                        </li>
                    }
                }) }
            </ol>
            { for v.snapshot.partitions.iter().filter(|x| x.topic != logspine_core::world::CHANGES || x.partition != 0)
                .map(|x| partition_figure(x, &v.snapshot.views, &v.snapshot.members)) }
        </section>
    }
}

/// One partition: its offsets from 0 (what retention dropped, hatched), its segments, the
/// high watermark, and each consuming view's offset pointer.
fn partition_figure(
    p: &PartitionSnapshot,
    views: &[ViewSnapshot],
    members: &[MemberSnapshot],
) -> Html {
    let to = p.next_offset.max(1);
    // Every reader of this partition: the views (partition 0), the group's members.
    let mut readers: Vec<(String, u64, &'static str)> = views
        .iter()
        .filter(|v| v.topic == p.topic && p.partition == 0)
        .map(|v| (v.name.clone(), v.position, "view"))
        .collect();
    if p.topic == logspine_core::world::CHANGES {
        for m in members {
            if let Some((_, o)) = m.positions.iter().find(|(q, _)| *q == p.partition) {
                readers.push((m.name.clone(), *o, "member"));
            }
        }
    }
    let positions: Vec<String> = readers
        .iter()
        .map(|(name, at, _)| format!("{name} at {at}"))
        .collect();
    let label = format!(
        "Partition {} of {}: offsets {} to {} held ({} records, {} bytes, {} segments), high watermark {}{}; {}.",
        p.partition,
        p.topic,
        p.start_offset,
        p.next_offset.saturating_sub(1),
        group(p.records),
        group(p.bytes),
        p.segments.newest.len() as u64 + p.segments.older,
        p.high_watermark,
        if p.start_offset > 0 {
            format!(
                "; offsets below {} {}",
                p.start_offset,
                if p.compacted {
                    "compacted away (superseded by later records of their keys)"
                } else {
                    "dropped by retention"
                }
            )
        } else {
            String::new()
        },
        if positions.is_empty() {
            "no readers".to_owned()
        } else {
            positions.join(", ")
        }
    );
    html! {
        <figure class="pipeline-partition" data-testid="pipeline-partition"
            data-topic={p.topic.clone()} data-partition={p.partition.to_string()}
            data-start={p.start_offset.to_string()} data-hw={p.high_watermark.to_string()}
            data-next={p.next_offset.to_string()}
            data-segments={(p.segments.newest.len() as u64 + p.segments.older).to_string()}
            data-generation={p.generation.to_string()} data-compacting={p.compacting.to_string()}>
            <svg class="pipeline-bar" viewBox="0 0 1000 60" role="img" aria-label={label.clone()}>
                if p.start_offset > 0 {
                    <rect class="dropped" x="0" y="14" width={at(p.start_offset, 0, to).to_string()} height="22" />
                }
                { segment_rects(&p.segments, p.start_offset, p.next_offset, 0, to) }
                <rect class="volatile" x={at(p.high_watermark, 0, to).to_string()} y="14"
                    width={at(p.next_offset, 0, to).saturating_sub(at(p.high_watermark, 0, to)).to_string()} height="22" />
                { for readers.iter().enumerate().map(|(i, (name, position, what))| {
                    let label = if *what == "view" {
                        name.chars().next().map(|c| c.to_ascii_uppercase().to_string()).unwrap_or_default()
                    } else {
                        name.clone()
                    };
                    pointer(&format!("{what} {name}"), at(*position, 0, to), &label, i % 2 == 1)
                }) }
            </svg>
            <figcaption class="muted">
                { label }
                if p.compacted { { format!(" Compacted: generation {}{}.", p.generation, if p.compacting { ", compacting now" } else { "" }) } }
                if let Some(r) = p.retention_bytes { { format!(" Retention: {} bytes.", group(r)) } }
            </figcaption>
        </figure>
    }
}

/// The consumer group's members: their partitions, positions and committed offsets.
fn members_list(v: &Picture) -> Html {
    let members = &v.snapshot.members;
    if members.is_empty() {
        return html! {
            <p class="muted">{ "No consumer group member: add one to see committed offsets." }</p>
        };
    }
    html! {
        <ul class="pipeline-members" aria-label="Consumer group app">
            { for members.iter().map(|m| {
                let parts: Vec<String> = m.positions.iter().map(|(p, o)| {
                    let c = m.committed.iter().find(|(q, _)| q == p).map(|(_, c)| c.to_string());
                    format!("partition {p} at {o} (committed {})", c.unwrap_or_else(|| "nothing".to_owned()))
                }).collect();
                html! {
                    <li data-member={m.name.clone()} data-generation={m.generation.to_string()}
                        data-position={m.positions.first().map(|(_, o)| o.to_string()).unwrap_or_default()}>
                        <strong>{ &m.name }</strong>
                        { format!(" (generation {}, {} per tick, {} read{}): {}", m.generation, m.pace, group(m.consumed),
                            if m.replaying { ", replaying" } else { "" },
                            if parts.is_empty() { "no partition assigned".to_owned() } else { parts.join("; ") }) }
                    </li>
                }
            }) }
        </ul>
    }
}

fn views_panel(
    view: Option<&Picture>,
    state: &PipelineState,
    rebuild: &impl Fn(&str) -> Callback<MouseEvent>,
    on_pace: &impl Fn(String) -> Callback<Event>,
) -> Html {
    let Some(v) = view else { return html! {} };
    let hw = v.changes().map_or(0, |p| p.high_watermark);
    let start = v.changes().map_or(0, |p| p.start_offset);
    html! {
        <section class="panel pipeline-views-panel" aria-labelledby="pipeline-views-heading">
            <h3 id="pipeline-views-heading">
                { match v.views_equal() {
                    Some(true) => format!("The views: all equal to the database ({} keys)", v.db_keys.unwrap_or(0)),
                    Some(false) => "The views: one differs from the database".to_owned(),
                    None => "The views: catching up (compared with the database once nothing is in flight)".to_owned(),
                } }
            </h3>
            <ul class="pipeline-views" aria-label="Views">
                { for v.snapshot.views.iter().map(|x| {
                    let equal = v.equal.as_ref().and_then(|e| e.iter().find(|(n, _)| *n == x.name).map(|(_, ok)| *ok));
                    let permille = state.rebuild_permille(&x.name);
                    let rebuilt = state.rebuilt.get(&x.name).copied();
                    let is_cdc = x.topic == logspine_core::world::CHANGES;
                    let pace_id = format!("pipeline-pace-{}", x.name);
                    html! {
                        <li class={classes!("panel", "pipeline-view", x.rebuilding.then_some("rebuilding"))}
                            data-view={x.name.clone()} data-position={x.position.to_string()}
                            data-lag={x.lag.map(|l| l.to_string()).unwrap_or_default()}
                            data-rebuilding={x.rebuilding.to_string()}
                            data-equal={match equal { Some(true) => "true", Some(false) => "false", None => "pending" }}
                            data-entries={x.entries.to_string()}
                            data-rebuilt={rebuilt.map_or(0, |r| r.0).to_string()}
                            data-pace={x.pace.to_string()} data-behind={x.behind.to_string()}>
                            <h4>{ format!("{} ({}, reads {})", x.name, x.kind, x.topic) }</h4>
                            <p class="view-nums">
                                { format!("offset {} · lag {} · {} applied · {} entries",
                                    x.position, x.lag.map_or_else(|| "?".to_owned(), |l| l.to_string()),
                                    group(x.applied), group(x.entries)) }
                                { crate::chart::sparkline(&format!("Lag of {}", x.name),
                                    &state.lag_history.get(&x.name).map(crate::chart::Series::values).unwrap_or_default(), 0) }
                                <br />
                                { match equal {
                                    Some(true) => "✓ equals the database".to_owned(),
                                    Some(false) => "✗ differs from the database".to_owned(),
                                    None => "compared once caught up".to_owned(),
                                } }
                                if let Some((n, o)) = rebuilt { { format!(" · rebuilt {n}× (last to offset {o})") } }
                            </p>
                            if let Some(pm) = permille {
                                <div class="rebuild">
                                    <label for={format!("pipeline-rebuild-{}", x.name)}>
                                        { format!("Rebuilding from offset 0: {} of {hw}", x.position.min(hw)) }
                                    </label>
                                    <progress id={format!("pipeline-rebuild-{}", x.name)} max="1000"
                                        value={pm.to_string()} aria-label={format!("Rebuild of the {} view", x.name)}
                                        aria-valuetext={format!("{} of {hw} events replayed", x.position.min(hw))} />
                                </div>
                            }
                            if x.behind {
                                <p class="alert-inline">
                                    { format!("Stopped at offset {}: retention deleted the changes it still needed \
                                        (the topic starts at {start}).", x.position) }
                                </p>
                            } else if is_cdc && start > 0 && v.cleanup == "retention" {
                                <p class="muted">
                                    { format!("Offsets below {start} were deleted by retention: a rebuild from \
                                        offset 0 is refused.") }
                                </p>
                            }
                            <div class="field pace">
                                <label for={pace_id.clone()}>{ format!("Pace of the {} view", x.name) }</label>
                                <select id={pace_id} onchange={on_pace(x.name.clone())}>
                                    { for PACES.iter().map(|n| html! {
                                        <option value={n.to_string()} selected={*n == x.pace}>
                                            { if *n == 0 { "paused".to_owned() } else { format!("{n} per tick") } }
                                        </option>
                                    }) }
                                    if !PACES.contains(&x.pace) {
                                        <option value={x.pace.to_string()} selected=true>{ format!("{} per tick", x.pace) }</option>
                                    }
                                </select>
                            </div>
                            if !x.sample.is_empty() {
                                <div class="table-wrap" tabindex="0" role="region"
                                    aria-label={format!("The first entries of {}", x.name)}>
                                    <table>
                                        <caption class="visually-hidden">{ format!("The first entries of {}", x.name) }</caption>
                                        <tbody>
                                            { for x.sample.iter().map(|(k, val)| html! {
                                                <tr key={k.clone()}><th scope="row">{ k }</th><td>{ val }</td></tr>
                                            }) }
                                        </tbody>
                                    </table>
                                </div>
                            }
                            if is_cdc {
                                <div class="buttons">
                                    <button type="button" class="secondary" onclick={rebuild(&x.name)}
                                        aria-disabled={(state.phase != crate::pipeline_state::Phase::Running).to_string()}>
                                        { format!("Rebuild the {} view from offset 0", x.name) }
                                    </button>
                                </div>
                            }
                        </li>
                    }
                }) }
            </ul>
        </section>
    }
}

fn dual_panel(view: Option<&Picture>, state: &PipelineState) -> Html {
    let Some(v) = view else { return html! {} };
    // Exact: what the trace last reported once everything in flight had landed.
    let exact = state.diverged.unwrap_or(0);
    // Now: writes the application has not produced (or the replica not read) count too.
    let now = v.snapshot.divergence.unwrap_or(0);
    let lost = state.counters.dual_lost;
    let text = if exact == 0 && lost == 0 {
        "The database and the dual replica agree once the application's writes land (so far: crash the \
         database right after a commit, before the application writes the topic)."
            .to_owned()
    } else if exact == 0 {
        "The database and the dual replica agree again: later writes covered the lost ones."
            .to_owned()
    } else {
        format!(
            "The database and the dual replica differ on {}: {} never reached the topic dual, and nothing \
             will ever send {}. CDC's views still equal the database.",
            plural(exact, "key", "keys"),
            plural(lost, "acknowledged transaction", "acknowledged transactions"),
            if lost == 1 { "it" } else { "them" }
        )
    };
    html! {
        <section class={classes!("panel", "pipeline-dual", (exact > 0).then_some("diverged"))}
            aria-labelledby="pipeline-dual-heading" data-testid="pipeline-dual"
            data-diverged={exact.to_string()} data-divergence={now.to_string()}
            data-lost={lost.to_string()}>
            <h3 id="pipeline-dual-heading">{ "Dual write: two stores, no log between them" }</h3>
            <p class="pipeline-divergence"><strong>{ exact.to_string() }</strong>
                { if exact == 1 { " key differs between the database and the dual replica" }
                  else { " keys differ between the database and the dual replica" } }</p>
            <p>{ text }</p>
            <p class="muted">
                { format!("Right now {} (the application's writes still on their way count too). {} produced by \
                    the application; {} waiting to be produced; {} lost in crashes.",
                    plural(now, "key differs", "keys differ"),
                    plural(state.counters.dual_produced, "transaction", "transactions"),
                    v.snapshot.dual_pending, lost) }
            </p>
        </section>
    }
}

fn counters(state: &PipelineState) -> Html {
    let c = state.counters;
    let items = [
        ("commits", "Commits acknowledged", c.commits),
        ("captured", "Transactions captured", c.captured),
        ("events", "Change events captured", c.events),
        ("db-crashes", "Database crashes", c.db_crashes),
        ("broker-crashes", "Broker crashes", c.broker_crashes),
        (
            "connector-crashes",
            "Connector crashes",
            c.connector_crashes,
        ),
        ("rebuilds", "Views rebuilt", c.rebuilds),
    ];
    html! {
        <dl class="meters pipeline-counters" data-testid="pipeline-counters">
            { for items.iter().map(|(id, label, n)| html! {
                <div class="meter" data-counter={*id} data-value={n.to_string()}>
                    <dt>{ *label }</dt>
                    <dd><strong>{ group(*n) }</strong></dd>
                </div>
            }) }
        </dl>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortcuts_leave_fields_alone() {
        assert_eq!(shortcut("p", "section"), Some(Shortcut::TogglePlay));
        assert_eq!(shortcut("P", "button"), Some(Shortcut::TogglePlay));
        assert_eq!(shortcut(".", "button"), Some(Shortcut::Step));
        assert_eq!(shortcut("p", "input"), None);
        assert_eq!(shortcut(".", "select"), None);
        assert_eq!(shortcut("x", "section"), None);
    }

    #[test]
    fn bars_scale_into_a_thousand_and_numbers_group() {
        assert_eq!(at(5, 0, 10), 500);
        assert_eq!(at(0, 0, 0), 0, "an empty range");
        assert_eq!(at(20, 0, 10), 1000, "clamped");
        assert_eq!(at(3, 5, 10), 0, "clamped below");
        assert_eq!(group(25_000), "25\u{202f}000");
        assert_eq!(group(999), "999");
        assert_eq!(group(1_234_567), "1\u{202f}234\u{202f}567");
    }
}
