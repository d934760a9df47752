//! The Raft cluster view: five Raft nodes ([`crate::raft_run::RaftEngine`], a `Cluster` on in-memory
//! simulated disks) running in the page, each with its role, term, commit and applied
//! indexes and its log; the messages in flight drawn on a ring and listed; an event log;
//! and the controls where they act: crash and restart on each node, a partition chosen by
//! ticking nodes onto side B, message loss, a write form, a workload client.
//!
//! The page is a view of [`RaftViewState`] (pure, in [`crate::raft_state`]) plus the
//! recording ([`RaftRecording`], in [`crate::raft_record`]), held outside the state. Under
//! the cluster the shared [`transport`] bar plays, pauses, steps, scrubs and sets the speed:
//! time travel is replay of the recorded run from its nearest snapshot, and acting in the
//! past branches (the recorded future is discarded; the drive panel says so). Effects: on
//! mount, build the cluster and start the clock (a timer every [`TICK_MS`] moves the
//! recording on by the chosen speed while playing and dispatches a frame); each control
//! makes one call on the recording and dispatches a frame.
//!
//! # DOM hooks (the end-to-end test relies on them)
//! `section[data-testid=raft]` with `data-raft-phase` (starting|running|failed),
//! `data-leader` (the leader's id, empty without one), `data-leader-term`, `data-now`;
//! `ol[aria-label="Raft nodes"] > li[data-node]` with `data-up`, `data-role`, `data-term`,
//! `data-commit`, `data-applied`, `data-last`, `data-snapshot`, `data-state`, `data-side`
//! (a|b), each holding `ol[aria-label="Log of node N"] > li[data-index][data-term]
//! [data-committed]` (and `li[data-snapshot]` for a snapshot box), buttons "Crash node N" /
//! "Restart node N" and the checkbox "Node N on side B"; buttons "Apply partition",
//! "Heal the partition", "Start the client workload" / "Stop the client workload",
//! "Write to the cluster"; inputs "Key to write to the cluster", "Value to write to the
//! cluster"; select "Message loss";
//! the timeline (`[role=group][aria-label="Cluster timeline"]`, [`transport`]): buttons
//! "Back to the start", "Step back", "Play"/"Pause", "Step forward", speed radios, the slider
//! "Position in the cluster timeline"; `section[data-testid=raft]` also has
//! `data-position`, `data-end`, `data-playing`; `ol[aria-label="Timeline markers"] >
//! li[data-kind][data-at]` each with a button "Go to …" (the newest [`LISTED_MARKERS`]);
//! `[data-testid=raft-branch-help]` with `data-in-past`;
//! `[data-testid=raft-write]` with `data-status` (none|waiting|acked), `data-index`,
//! `data-holders`, `data-applied-on`; `ol[aria-label="Messages in flight"]`;
//! `ol[aria-label="Cluster events"] > li[data-kind]`; `[data-testid=raft-charts]` (leaders
//! elected, commit index, entries committed per second, each an `svg[role=img]`); the live region
//! `[data-testid=raft-announce]`; errors in `[role=alert]`.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use logspine_core::raft::NodeId;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::spawn_local;
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::chart::meter_chart;
use crate::raft_record::{Clock, RaftRecording};
use crate::raft_run::{RaftInput, MAX_KEY_BYTES, MAX_VALUE_BYTES, NODES, SNAPSHOT_EVERY};
use crate::raft_state::{
    role_name, ClusterView, NodeView, RaftAction, RaftCharts, RaftFrame, RaftPhase, RaftViewState,
    DEFAULT_SPEED,
};
use crate::transport::{transport, TransportMarker, TransportProps};

/// How often the clock moves the cluster on and redraws.
pub const TICK_MS: u32 = 50;
/// Messages listed at most.
const LISTED_FLIGHTS: usize = 8;
/// Markers listed as buttons (the newest).
pub const LISTED_MARKERS: usize = 8;

const SPEEDS: [(u32, &str); 4] = [
    (50, "0.05× (slowest)"),
    (100, "0.1×"),
    (250, "0.25×"),
    (1000, "1× (real time)"),
];
const LOSSES: [u32; 4] = [0, 5, 20, 50];

struct Holder {
    rec: Option<RaftRecording>,
    clock: Clock,
    speed: u32,
    playing: bool,
    generation: u64,
}

impl Default for Holder {
    fn default() -> Self {
        Holder {
            rec: None,
            clock: Clock::default(),
            speed: DEFAULT_SPEED,
            playing: true,
            generation: 0,
        }
    }
}

type HolderCell = Rc<RefCell<Holder>>;
type Dispatcher = UseReducerDispatcher<RaftViewState>;

/// The cluster view.
#[function_component(RaftView)]
pub fn raft_view() -> Html {
    let state = use_reducer(RaftViewState::default);
    let cell: HolderCell = use_mut_ref(Holder::default);
    {
        let (cell, dispatch) = (cell.clone(), state.dispatcher());
        use_effect_with((), move |_| start(&cell, &dispatch));
    }

    let running = state.is_running();
    let off = |allowed: bool| (!allowed).to_string();
    // One input, applied at the position (a branch when in the past).
    let act = |input: Rc<dyn Fn() -> RaftInput>| {
        let (cell, dispatch) = (cell.clone(), state.dispatcher());
        move || {
            if running {
                with_rec(&cell, &dispatch, |r| r.act(input()));
            }
        }
    };
    let text_input = |make: fn(String) -> RaftAction| {
        let dispatch = state.dispatcher();
        Callback::from(move |e: InputEvent| {
            let input: HtmlInputElement = e.target_unchecked_into();
            dispatch.dispatch(make(input.value()));
        })
    };
    // Read from the inputs at submit time: a click may come before the render of the last
    // keystroke.
    let (key_ref, value_ref) = (use_node_ref(), use_node_ref());
    let on_write = {
        let (cell, dispatch) = (cell.clone(), state.dispatcher());
        let (key_ref, value_ref) = (key_ref.clone(), value_ref.clone());
        Callback::from(move |ev: SubmitEvent| {
            ev.prevent_default();
            let read = |r: &NodeRef| {
                r.cast::<HtmlInputElement>()
                    .map(|i| i.value())
                    .unwrap_or_default()
            };
            let (key, value) = (read(&key_ref), read(&value_ref));
            if running {
                with_rec(&cell, &dispatch, |r| r.act(RaftInput::Write { key, value }));
            }
        })
    };
    let view = state.view();
    let frame = state.frame.as_ref();
    let in_past = frame.is_some_and(|f| !f.at_end());
    let workload_on = view.is_some_and(|v| v.workload);
    let on_workload = {
        let go = act(Rc::new(move || RaftInput::Workload(!workload_on)));
        Callback::from(move |_: MouseEvent| go())
    };
    let on_apply = {
        let sides: Vec<NodeId> = state.side_b.iter().copied().collect();
        let go = act(Rc::new(move || RaftInput::Partition(sides.clone())));
        let pending = state.partition_pending();
        Callback::from(move |_: MouseEvent| {
            if pending {
                go();
            }
        })
    };
    let partitioned = view.is_some_and(|v| !v.side_b.is_empty());
    let on_heal = {
        let go = act(Rc::new(|| RaftInput::Partition(Vec::new())));
        let dispatch = state.dispatcher();
        Callback::from(move |_: MouseEvent| {
            dispatch.dispatch(RaftAction::ClearSides);
            if partitioned {
                go();
            }
        })
    };
    let on_loss = {
        let (cell, dispatch) = (cell.clone(), state.dispatcher());
        Callback::from(move |e: Event| {
            if let Some(n) = select_value(&e) {
                if running {
                    with_rec(&cell, &dispatch, |r| r.act(RaftInput::Loss(n)));
                }
            }
        })
    };
    let on_dismiss = {
        let dispatch = state.dispatcher();
        Callback::from(move |_: MouseEvent| dispatch.dispatch(RaftAction::DismissError))
    };
    let node_controls = |id: NodeId, up: bool| -> (Callback<MouseEvent>, Callback<Event>) {
        let go = act(Rc::new(move || {
            if up {
                RaftInput::Crash(id)
            } else {
                RaftInput::Restart(id)
            }
        }));
        let dispatch = state.dispatcher();
        (
            Callback::from(move |_: MouseEvent| go()),
            Callback::from(move |_: Event| dispatch.dispatch(RaftAction::ToggleSide(id))),
        )
    };

    // The timeline.
    let move_to = |f: fn(&mut RaftRecording, u64), pause: bool| {
        let (cell, dispatch) = (cell.clone(), state.dispatcher());
        Callback::from(move |t: u64| {
            if pause {
                set_playing(&cell, &dispatch, false);
            }
            with_rec(&cell, &dispatch, |r| {
                f(r, t);
                Ok(())
            });
        })
    };
    let on_seek = move_to(|r, t| r.seek(t), false);
    let on_step_back = {
        let go = move_to(|r, _| r.step_back(), true);
        Callback::from(move |()| go.emit(0))
    };
    let on_step_forward = {
        let go = move_to(|r, _| r.step_forward(), true);
        Callback::from(move |()| go.emit(0))
    };
    let on_play_pause = {
        let (cell, dispatch) = (cell.clone(), state.dispatcher());
        let playing = state.playing;
        Callback::from(move |()| set_playing(&cell, &dispatch, !playing))
    };
    let on_speed = {
        let (cell, dispatch) = (cell.clone(), state.dispatcher());
        Callback::from(move |n: u32| {
            if let Ok(mut h) = cell.try_borrow_mut() {
                h.speed = n;
            }
            dispatch.dispatch(RaftAction::SetSpeed(n));
        })
    };

    let leader = view.and_then(|v| v.leader);
    let leader_term = leader
        .and_then(|l| state.node(l))
        .map(|n| n.term.to_string());
    html! {
        <section class="raft" data-testid="raft" aria-labelledby="raft-heading"
            data-raft-phase={state.phase.as_str()}
            data-leader={leader.map(|l| l.to_string()).unwrap_or_default()}
            data-leader-term={leader_term.unwrap_or_default()}
            data-now={view.map(|v| v.now.to_string()).unwrap_or_default()}
            data-position={view.map(|v| v.now.to_string()).unwrap_or_default()}
            data-end={frame.map(|f| f.end.to_string()).unwrap_or_default()}
            data-playing={state.playing.to_string()}
            aria-busy={(state.phase == RaftPhase::Starting).to_string()}>
            <header class="section-head">
                <h2 id="raft-heading">{ "Replication: five Raft nodes, one log" }</h2>
                <p class="muted">
                    { format!("Five Raft servers run here in slow motion, each with its log in a Log on its own \
                       simulated disk, talking over a simulated network. A leader appends each write to its log \
                       and sends it to the others; once a majority holds it, the leader's commit index moves \
                       and every node applies it. Crash nodes, cut the cluster in two, lose messages, and watch \
                       elections, a stale leader, and a lagging follower catching up entry by entry or, once the \
                       others have compacted their logs (a snapshot every {SNAPSHOT_EVERY} entries), by a \
                       snapshot. Everything drawn is an event the simulator emitted, and the timeline under the \
                       nodes replays any moment of the run.") }
                </p>
            </header>

            if let Some(message) = &state.error {
                <div class="alert" role="alert">
                    <p>{ message }</p>
                    if state.phase != RaftPhase::Failed {
                        <div class="buttons">
                            <button type="button" onclick={on_dismiss}>{ "Dismiss the cluster error" }</button>
                        </div>
                    }
                </div>
            }
            <p class="visually-hidden" aria-live="polite" data-testid="raft-announce">
                { state.announcement.clone() }
            </p>

            <div class="raft-grid">
                <section class="panel" aria-labelledby="raft-drive-heading">
                    <h3 id="raft-drive-heading">{ "Drive the cluster" }</h3>
                    <p class={classes!("raft-branch-help", in_past.then_some("in-past"))} id="raft-branch-help"
                        data-testid="raft-branch-help" data-in-past={in_past.to_string()}>
                        { if in_past {
                            "You are in the past: an action here branches. The recorded future is discarded \
                             and the run goes on from here with your action."
                        } else {
                            "At the end of the recording: an action is applied now and the run goes on."
                        } }
                    </p>
                    <form class="kv" onsubmit={on_write}>
                        <div class="numbers">
                            <div class="field">
                                <label for="raft-key">{ "Key to write to the cluster" }</label>
                                <input id="raft-key" ref={key_ref} type="text" autocomplete="off" spellcheck="false"
                                    maxlength={MAX_KEY_BYTES.to_string()} value={state.key.clone()}
                                    oninput={text_input(RaftAction::EditKey)} />
                            </div>
                            <div class="field">
                                <label for="raft-value">{ "Value to write to the cluster" }</label>
                                <input id="raft-value" ref={value_ref} type="text" autocomplete="off" spellcheck="false"
                                    maxlength={MAX_VALUE_BYTES.to_string()} value={state.value.clone()}
                                    oninput={text_input(RaftAction::EditValue)} />
                            </div>
                        </div>
                        <div class="buttons">
                            <button type="submit" aria-disabled={off(running)}
                                aria-describedby="raft-branch-help">{ "Write to the cluster" }</button>
                            <button type="button" onclick={on_workload} aria-disabled={off(running)}
                                aria-describedby="raft-branch-help">
                                { if workload_on { "Stop the client workload" } else { "Start the client workload" } }
                            </button>
                        </div>
                    </form>
                    { write_line(view) }
                    <div class="numbers">
                        <div class="field">
                            <label for="raft-loss">{ "Message loss" }</label>
                            <select id="raft-loss" onchange={on_loss}>
                                { for LOSSES.iter().map(|n| html! {
                                    <option value={n.to_string()}
                                        selected={view.is_some_and(|v| v.loss_pct == *n)}>{ format!("{n} %") }</option>
                                }) }
                            </select>
                        </div>
                    </div>
                    <p class="help-text" id="raft-partition-help">
                        { "Partition: tick \"on side B\" on the nodes to cut off, then apply. Links between the \
                           two sides drop every message; clients still reach every node." }
                    </p>
                    <div class="buttons">
                        <button type="button" onclick={on_apply} aria-describedby="raft-partition-help"
                            aria-disabled={off(running && state.partition_pending())}>{ "Apply partition" }</button>
                        <button type="button" onclick={on_heal}
                            aria-disabled={off(running && (partitioned || !state.side_b.is_empty()))}>
                            { "Heal the partition" }
                        </button>
                    </div>
                    { summary_line(&state) }
                    { charts(frame.map(|f| &f.charts)) }
                </section>
                { network_panel(&state) }
            </div>

            <ol class="raft-nodes" aria-label="Raft nodes">
                { for (1..=NODES).map(|id| {
                    let up = state.node(id).is_none_or(|n| n.up);
                    let (on_crash, on_side) = node_controls(id, up);
                    node_card(&state, id, on_crash, on_side, running)
                }) }
            </ol>

            if let Some(f) = frame {
                <section class="panel raft-timeline" aria-labelledby="raft-timeline-heading">
                    <h3 id="raft-timeline-heading">{ "Cluster timeline" }</h3>
                    { transport(TransportProps {
                        id: "raft".into(),
                        label: "Cluster timeline".into(),
                        start: 0,
                        end: f.end,
                        position: f.view.now,
                        markers: transport_markers(f),
                        playing: state.playing,
                        speeds: SPEEDS.iter().map(|(n, l)| (*n, AttrValue::Static(l))).collect::<Vec<_>>(),
                        speed: state.speed,
                        status: status_words(f, state.playing).into(),
                        value_text: value_words(f).into(),
                        on_play_pause,
                        on_step_back,
                        on_step_forward,
                        on_seek: on_seek.clone(),
                        on_speed,
                        on_live: None,
                        list_markers: false,
                        on_marker: None,
                    }) }
                    { marker_list(f, &on_seek) }
                </section>
            }

            <section class="panel raft-events" aria-labelledby="raft-events-heading">
                <h3 id="raft-events-heading">{ "What just happened in the cluster" }</h3>
                <ol class="events" aria-label="Cluster events">
                    { for state.fold().into_iter().flat_map(|f| f.log.iter()).map(|l| html! {
                        <li class={classes!("event", l.kind)} data-kind={l.kind}>
                            <span class="muted">{ format!("{} ms ", l.at) }</span>{ &l.text }
                        </li>
                    }) }
                </ol>
            </section>
        </section>
    }
}

fn transport_markers(f: &RaftFrame) -> Vec<TransportMarker> {
    f.markers
        .iter()
        .map(|m| TransportMarker {
            at: m.at,
            kind: m.kind,
        })
        .collect()
}

/// The status line under the slider.
pub fn status_words(f: &RaftFrame, playing: bool) -> String {
    let p = f.view.now;
    let what = if p < f.end {
        if playing {
            "Replaying the recording"
        } else {
            "Paused in the past"
        }
    } else if playing {
        "Recording"
    } else {
        "Paused at the end of the recording"
    };
    let (snaps, every) = f.snapshots;
    format!(
        "{what}: tick {p} of {} (1 tick = 1 ms of cluster time); {} inputs recorded; \
         {snaps} snapshots, one every {every} ticks.",
        f.end, f.inputs
    )
}

/// The slider's `aria-valuetext`: the tick and who leads there.
pub fn value_words(f: &RaftFrame) -> String {
    let leader = match f.view.leader {
        Some(l) => format!("node {l} leads"),
        None => "no leader".to_owned(),
    };
    format!("tick {} of {}: {leader}", f.view.now, f.end)
}

/// The newest markers as buttons (the track's marks are not focusable).
fn marker_list(f: &RaftFrame, on_seek: &Callback<u64>) -> Html {
    let skip = f.markers.len().saturating_sub(LISTED_MARKERS);
    html! {
        <>
            <h4>{ format!("Markers ({} kept; the newest {} listed)", f.markers.len(), LISTED_MARKERS.min(f.markers.len())) }</h4>
            <ol class="raft-markers" aria-label="Timeline markers">
                { for f.markers.iter().skip(skip).rev().map(|m| {
                    let (cb, at) = (on_seek.clone(), m.at);
                    html! {
                        <li class={classes!("raft-marker", m.kind)} data-kind={m.kind} data-at={m.at.to_string()}>
                            <button type="button" class="secondary"
                                onclick={Callback::from(move |_: MouseEvent| cb.emit(at))}>
                                { format!("Go to {} ms: {}", m.at, m.text) }
                            </button>
                        </li>
                    }
                }) }
            </ol>
        </>
    }
}

fn select_value(e: &Event) -> Option<u32> {
    let target: JsValue = e.target()?.into();
    js_sys::Reflect::get(&target, &JsValue::from_str("value"))
        .ok()?
        .as_string()?
        .parse()
        .ok()
}

fn write_line(view: Option<&ClusterView>) -> Html {
    let w = view.and_then(|v| v.write.as_ref());
    let queued = view.map_or(0, |v| v.queued);
    let (status, text) = match w {
        None => ("none", "No write yet: type a key and a value.".to_owned()),
        Some(w) => match (w.acked_by, w.index) {
            (Some(by), Some(i)) => (
                "acked",
                format!(
                    "{}={} committed at index {i} and acknowledged by node {by}: in the log of {} of {NODES} \
                     nodes, applied on {}.",
                    w.key, w.value, w.holders, w.applied_on
                ),
            ),
            (Some(by), None) => ("acked", format!("{}={} acknowledged by node {by}.", w.key, w.value)),
            _ => (
                "waiting",
                format!(
                    "Writing {}={}: sent to node {} (attempt {}); waiting for a leader to commit it.",
                    w.key,
                    w.value,
                    w.waiting_on.map_or_else(|| "?".to_owned(), |n| n.to_string()),
                    w.attempts.max(1)
                ),
            ),
        },
    };
    html! {
        <p class="raft-write" data-testid="raft-write" data-status={status}
            data-index={w.and_then(|w| w.index).map(|i| i.to_string())}
            data-holders={w.map(|w| w.holders.to_string())}
            data-applied-on={w.map(|w| w.applied_on.to_string())}>
            { text }
            if queued > 0 { { format!(" {queued} more queued.") } }
        </p>
    }
}

fn summary_line(state: &RaftViewState) -> Html {
    let (Some(v), Some(f)) = (state.view(), state.fold()) else {
        return html! {};
    };
    let leader = match v.leader.and_then(|l| state.node(l)) {
        Some(n) => format!("leader: node {} (term {})", n.id, n.term),
        None => "no leader".to_owned(),
    };
    html! {
        <p class="muted" data-testid="raft-summary">
            { format!("Cluster time {} ms; {leader}; {} elections won; {} messages sent, {} dropped; \
                {} snapshots installed; workload: {} ({} writes acknowledged).",
                v.now, f.elections, f.sent, f.dropped, f.installs,
                if v.workload { "on" } else { "off" }, v.workload_acked) }
        </p>
    }
}

/// The cluster's figures over time (sampled in [`crate::raft_state::RaftCharts`]).
fn charts(c: Option<&RaftCharts>) -> Html {
    let empty = RaftCharts::default();
    let c = c.unwrap_or(&empty);
    let rows = [
        (
            "Leaders elected",
            "leader changes since the cluster started",
            &c.elections,
            0,
        ),
        ("Commit index", "highest any node knows", &c.commit, 0),
        (
            "Entries committed per second",
            "of cluster time",
            &c.commits_per_sec,
            1,
        ),
    ];
    html! {
        <dl class="meters raft-charts" data-testid="raft-charts">
            { for rows.iter().map(|(name, what, series, digits)| html! {
                { meter_chart(name, what, &series.values(), *digits) }
            }) }
        </dl>
    }
}

/// Node `id`'s place on the ring, in tenths of the viewBox `0 0 200 200` (a pentagon of
/// radius 72 around the centre, node 1 at the top).
fn ring_xy(id: NodeId) -> (i64, i64) {
    const RING: [(i64, i64); 5] = [
        (1000, 280),
        (1685, 778),
        (1423, 1582),
        (577, 1582),
        (315, 778),
    ];
    RING[usize::try_from(id.saturating_sub(1)).unwrap_or(0) % RING.len()]
}

/// Tenths as an SVG number.
fn tenths(x: i64) -> String {
    format!("{}.{}", x / 10, x % 10)
}

fn network_panel(state: &RaftViewState) -> Html {
    let (Some(v), Some(fold)) = (state.view(), state.fold()) else {
        return html! {};
    };
    let still = crate::app::prefers_reduced_motion();
    let n = fold.flights.len();
    let f1 = tenths;
    html! {
        <section class="panel raft-net" aria-labelledby="raft-net-heading">
            <h3 id="raft-net-heading">{ "The network" }</h3>
            <svg class="raft-ring" viewBox="0 0 200 200" role="img"
                aria-label={format!("{NODES} nodes in a ring; {n} messages in flight")}>
                { for (1..=NODES).flat_map(|a| ((a + 1)..=NODES).map(move |b| (a, b))).map(|(a, b)| {
                    let ((x1, y1), (x2, y2)) = (ring_xy(a), ring_xy(b));
                    let cut = v.side_b.contains(&a) != v.side_b.contains(&b);
                    html! { <line class={classes!("link", cut.then_some("cut"))}
                        x1={f1(x1)} y1={f1(y1)} x2={f1(x2)} y2={f1(y2)} /> }
                }) }
                { for fold.flights.iter().map(|f| {
                    let ((x1, y1), (x2, y2)) = (ring_xy(f.from), ring_xy(f.to));
                    let p = if still { 500 } else { i64::try_from(f.progress_permille(v.now)).unwrap_or(0) };
                    html! { <circle class={classes!("flight", f.class())} r="4"
                        cx={f1(x1 + (x2 - x1) * p / 1000)} cy={f1(y1 + (y2 - y1) * p / 1000)} /> }
                }) }
                { for v.nodes.iter().map(|node| {
                    let (x, y) = ring_xy(node.id);
                    let cls = classes!("ring-node", role_name(node.role),
                        v.side_b.contains(&node.id).then_some("side-b"));
                    html! {
                        <g class={cls}>
                            <circle cx={f1(x)} cy={f1(y)} r="17" />
                            <text x={f1(x)} y={f1(y + 40)} text-anchor="middle">{ format!("n{}", node.id) }</text>
                        </g>
                    }
                }) }
            </svg>
            <p class="raft-legend muted">
                <span class="key vote">{ "vote" }</span>
                <span class="key append">{ "entries" }</span>
                <span class="key heartbeat">{ "heartbeat" }</span>
                <span class="key ack">{ "ack" }</span>
                <span class="key snapshot">{ "snapshot" }</span>
            </p>
            <h4>{ format!("Messages in flight ({n})") }</h4>
            <ol class="flights" aria-label="Messages in flight">
                { for fold.flights.iter().rev().take(LISTED_FLIGHTS).map(|f| html! {
                    <li class={classes!("flight-line", f.class())}>{ f.text() }
                        <span class="muted">{ format!(", arrives at {} ms", f.arrives_at) }</span></li>
                }) }
            </ol>
            if n > LISTED_FLIGHTS {
                <p class="muted">{ format!("…and {} more.", n - LISTED_FLIGHTS) }</p>
            }
        </section>
    }
}

fn node_card(
    state: &RaftViewState,
    id: NodeId,
    on_crash: Callback<MouseEvent>,
    on_side: Callback<Event>,
    running: bool,
) -> Html {
    let fresh = NodeView {
        id,
        up: true,
        ..NodeView::default()
    };
    let n = state.node(id).unwrap_or(&fresh);
    let applied_b = state.view().is_some_and(|v| v.side_b.contains(&id));
    let role = role_name(n.role);
    let side_id = format!("raft-side-{id}");
    let hidden = n.hidden();
    html! {
        <li class={classes!("raft-node", "panel", role, (!n.up).then_some("down"), applied_b.then_some("side-b"))}
            data-node={id.to_string()} data-up={n.up.to_string()} data-role={role}
            data-term={n.term.to_string()} data-commit={n.commit.to_string()}
            data-applied={n.applied.to_string()} data-last={n.last.to_string()}
            data-snapshot={n.snapshot.to_string()} data-state={format!("{:08x}", n.state_hash)}
            data-side={if applied_b { "b" } else { "a" }}>
            <h3 class="node-head">
                <span>{ format!("Node {id}") }</span>
                <span class="role-badge">{ if n.up { role } else { "crashed" } }</span>
                if applied_b { <span class="side-badge">{ "side B" }</span> }
            </h3>
            <p class="node-nums">
                { format!("term {} · commit {} · applied {} · last {}", n.term, n.commit, n.applied, n.last) }
                if n.up && n.durable < n.last { { format!(" · durable {}", n.durable) } }
                <br />
                { format!("{} keys, state {:08x}", n.keys, n.state_hash) }
                if let Some(l) = n.leader { { format!(" · follows node {l}") } }
                if !n.up { <br /><span class="muted">{ "Last known state; the disk keeps what was synced." }</span> }
            </p>
            <ol class="raft-log" aria-label={format!("Log of node {id}")}>
                if n.snapshot > 0 {
                    <li class="entry snap" data-snapshot={n.snapshot.to_string()}>{ format!("snapshot ≤ {}", n.snapshot) }</li>
                }
                if hidden > 0 {
                    <li class="entry more">{ format!("+{hidden}") }</li>
                }
                { for n.entries.iter().map(|e| {
                    let committed = e.index <= n.commit;
                    html! {
                        <li class={classes!("entry", format!("term-{}", e.term % 6), (!committed).then_some("uncommitted"))}
                            data-index={e.index.to_string()} data-term={e.term.to_string()}
                            data-committed={committed.to_string()}>
                            <span class="e-index">{ e.index }</span>
                            <span class="e-term">{ format!("t{}", e.term) }</span>
                            <span class="e-label">{ &e.label }</span>
                            if let Some(h) = e.holders { <span class="e-holders">{ format!("{h}/{NODES}") }</span> }
                            if !committed { <span class="visually-hidden">{ " uncommitted" }</span> }
                        </li>
                    }
                }) }
            </ol>
            <div class="node-controls">
                <button type="button" class="danger" onclick={on_crash} aria-disabled={(!running).to_string()}
                    aria-label={format!("{} node {id}", if n.up { "Crash" } else { "Restart" })}>
                    { if n.up { "Crash" } else { "Restart" } }
                </button>
                <span class="side-check">
                    <input type="checkbox" id={side_id.clone()} checked={state.side_b.contains(&id)}
                        onchange={on_side} />
                    <label for={side_id}>{ format!("Node {id} on side B") }</label>
                </span>
            </div>
        </li>
    }
}

/// Runs `f` on the recording, then sends the view a frame; an error goes to the alert.
fn with_rec(
    cell: &HolderCell,
    dispatch: &Dispatcher,
    f: impl FnOnce(&mut RaftRecording) -> Result<(), String>,
) {
    let Ok(mut h) = cell.try_borrow_mut() else {
        dispatch.dispatch(RaftAction::Error("Busy; try again.".to_owned()));
        return;
    };
    let Some(rec) = h.rec.as_mut() else {
        dispatch.dispatch(RaftAction::Error("The cluster is not running.".to_owned()));
        return;
    };
    let result = f(rec);
    let frame = rec.frame();
    drop(h);
    if let Err(message) = result {
        dispatch.dispatch(RaftAction::Error(message));
    }
    dispatch.dispatch(RaftAction::Frame(Box::new(frame)));
}

/// Plays or pauses (the paused time does not count when play resumes).
fn set_playing(cell: &HolderCell, dispatch: &Dispatcher, on: bool) {
    if let Ok(mut h) = cell.try_borrow_mut() {
        h.playing = on;
        h.clock.reset();
    }
    dispatch.dispatch(RaftAction::SetPlaying(on));
}

/// While playing, moves the recording on to the page's clock and sends a frame.
fn pump(cell: &HolderCell, dispatch: &Dispatcher, generation: u64) {
    let Ok(mut h) = cell.try_borrow_mut() else {
        return;
    };
    if h.generation != generation || !h.playing {
        return;
    }
    let speed = h.speed;
    let ticks = h.clock.ticks(crate::timer::now_ms(), speed);
    let Some(rec) = h.rec.as_mut() else { return };
    if !rec.can_advance() {
        let frame = rec.frame();
        h.playing = false;
        drop(h);
        dispatch.dispatch(RaftAction::Frame(Box::new(frame)));
        dispatch.dispatch(RaftAction::SetPlaying(false));
        return;
    }
    if ticks == 0 {
        return;
    }
    rec.advance(ticks);
    let frame = rec.frame();
    drop(h);
    dispatch.dispatch(RaftAction::Frame(Box::new(frame)));
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

fn start(cell: &HolderCell, dispatch: &Dispatcher) {
    let generation = {
        let mut h = cell.borrow_mut();
        h.generation += 1;
        h.generation
    };
    match RaftRecording::new(0x5eed_0005 ^ generation) {
        Ok(mut rec) => {
            let frame = rec.frame();
            cell.borrow_mut().rec = Some(rec);
            dispatch.dispatch(RaftAction::Frame(Box::new(frame)));
            spawn_local(ticker(Rc::downgrade(cell), dispatch.clone(), generation));
        }
        Err(e) => dispatch.dispatch(RaftAction::Failed(format!(
            "Could not build the cluster: {e}"
        ))),
    }
}
