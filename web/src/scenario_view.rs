//! The scenario panel: a library scenario runs on a [`logspine_core::world::Timeline`] in
//! the page, with its narration, timeline controls (play, pause, step forward and back, a
//! scrub slider with markers, speed), actions that branch history, and the world folded
//! from the trace up to the position.
//!
//! # Share, save, export
//! The run is saved as the session after every move (`localStorage`, [`crate::share_view`]):
//! a reload reopens it where it was. A share link (`#run=1.…`, [`crate::share`]) opened in
//! the address bar takes precedence; a malformed one is reported and the default scenario
//! loads. Either way the page shows this panel at once (its section expanded, focus on its
//! heading, [`crate::shell::ShellContext::show`]): the person came for the run, or needs to
//! read why it did not open. Export writes a run file (the link's fields, the trace and its hash); import
//! replays it and refuses it when the hash differs.
//!
//! The panel is a view of [`ScenarioState`] (pure, in [`crate::scenario_state`]) plus the
//! run ([`ScenarioRun`], in [`crate::scenario_run`]), held outside the state. Effects: on
//! mount, load the picker's scenario; every control makes one call on the run and
//! dispatches its new [`RunView`]; while playing, a timer
//! advances the run by the chosen number of ticks every [`PLAY_INTERVAL_MS`]. No request
//! leaves the page, no script is inline.
//!
//! # Keyboard
//! Inside the panel (not in a text field or the picker): Space or K plays and pauses
//! (Space on a button presses the button), ← and → step back and forward; on the scrub
//! slider also Home and End (start, end of the recording); PageUp and PageDown move it
//! by a tenth.
//!
//! # DOM hooks (the end-to-end test relies on them)
//! `section[data-testid=scenario]` with `data-name`, `data-position`, `data-trace-len`,
//! `data-trace-hash` (16 hex digits, the trace up to the position),
//! `data-time`, `data-finished`, `data-playing`, `data-reached`, `data-steps`,
//! `data-invariants` (none|ok|failed), `data-loads`; the picker "Scenario" (a `select`),
//! "Seed", button "Load scenario"; buttons "Back to the start", "Step back",
//! "Play"/"Pause", "Step forward"; radios "1×", "4×", "16×", "64×" (group "Speed"); the
//! slider "Position in the run" (`input[type=range]`, value = events reached);
//! `ol[aria-label="Markers"] > li[data-kind][data-seq][data-time]` with a button each;
//! `[data-testid=scenario-narration]` (the polite live region),
//! `ol[aria-label="Narration steps"] > li[data-reached]`; inputs "Key to write into the
//! run", "Value to write into the run", buttons "Write a key", "Crash the run",
//! "Checkpoint the run", "Compact the run"; `[data-testid=scenario-counters] [data-counter][data-value]`;
//! `ul[aria-label="Invariant checks"] > li[data-ok]`; button "Embed this" (opens
//! `section[data-testid=scenario-embed]`: select "Panel to embed", read-only textarea
//! "Embed code", button "Copy embed code", `[data-testid=scenario-embed-status]`); buttons
//! "Copy share link" (then the read-only input "Share link"), "Export run (JSON)", the file
//! input "Import a run file (JSON)", `[data-testid=scenario-share-status]`;
//! `table[data-testid=scenario-keys] tr[data-key]`; `ol[aria-label="Recent events"] >
//! li[data-kind][data-seq]`; errors in `[role=alert]`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use logspine_core::world::Action;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use web_sys::{HtmlInputElement, HtmlTextAreaElement};
use yew::prelude::*;

use crate::embed_params::{embed_url, iframe_snippet, site_base, Panel};
use crate::scenario_run::ScenarioRun;
use crate::scenario_state::{
    library_titles, Marker, RunView, ScenarioAction, ScenarioState, MAX_KEYS, PLAY_INTERVAL_MS,
    SPEEDS,
};
use crate::share::RunFile;
use crate::share_view;

/// The id of the playground's section that holds this panel (`web/src/app.rs`).
pub const SECTION_ID: &str = "scenarios";
/// Markers listed as buttons (the track draws up to [`MAX_MARKERS_DRAWN`]).
const MAX_MARKERS_LISTED: usize = 40;
/// Markers drawn on the track.
const MAX_MARKERS_DRAWN: usize = 400;

type RunCell = Rc<RefCell<Option<ScenarioRun>>>;
type Dispatcher = UseReducerDispatcher<ScenarioState>;

/// Runs `f` on the run and dispatches the run's new view (or the error).
fn with_run(
    cell: &RunCell,
    dispatch: &Dispatcher,
    f: impl FnOnce(&mut ScenarioRun) -> Result<(), String>,
) {
    let view = match cell.try_borrow_mut() {
        Ok(mut guard) => match guard.as_mut() {
            Some(run) => f(run).map(|()| run.view()),
            None => Err("No scenario is loaded.".to_owned()),
        },
        Err(_) => Err("Busy; try again.".to_owned()),
    };
    match view {
        Ok(v) => {
            save(cell);
            dispatch.dispatch(ScenarioAction::Updated(Rc::new(v)));
        }
        Err(e) => dispatch.dispatch(ScenarioAction::Failed(e)),
    }
}

/// Saves the run as the session ([`crate::share_view`]); a refusal is logged, not shown
/// on every tick (the share box says it when asked).
fn save(cell: &RunCell) {
    if let Ok(guard) = cell.try_borrow() {
        if let Some(run) = guard.as_ref() {
            if let Err(e) = share_view::save_session(&run.link()) {
                web_sys::console::warn_1(&e.into());
            }
        }
    }
}

/// Puts an opened run on screen.
fn install(cell: &RunCell, dispatch: &Dispatcher, mut run: ScenarioRun) {
    let view = run.view();
    *cell.borrow_mut() = Some(run);
    save(cell);
    dispatch.dispatch(ScenarioAction::Loaded(Rc::new(view)));
}

/// The first run: a share link in the URL, else the saved session, else the default
/// scenario. A link or session that cannot be opened is said, and the default loads.
/// Returns whether the page was opened from a share link (good or damaged), so that the
/// panel can be brought into view: the person came for it.
fn open_initial(cell: &RunCell, dispatch: &Dispatcher, default: &str) -> bool {
    if let Some(hash) = share_view::location_hash() {
        match share_view::open_link(&hash) {
            Ok(Some(run)) => {
                share_view::clear_hash();
                install(cell, dispatch, run);
                return true;
            }
            Ok(None) => {}
            Err(e) => {
                load(cell, dispatch, default, None);
                dispatch.dispatch(ScenarioAction::Failed(format!(
                    "{e} The default scenario is loaded instead."
                )));
                return true;
            }
        }
    }
    if let Some(saved) = share_view::saved_session() {
        match share_view::open_link(&saved) {
            Ok(Some(run)) => {
                install(cell, dispatch, run);
                return false;
            }
            Ok(None) => {}
            Err(e) => {
                share_view::forget_session();
                load(cell, dispatch, default, None);
                dispatch.dispatch(ScenarioAction::Failed(format!(
                    "Your saved session could not be reopened ({e}) The default scenario is \
                     loaded instead."
                )));
                return false;
            }
        }
    }
    load(cell, dispatch, default, None);
    false
}

/// Loads library scenario `name` with `seed`.
fn load(cell: &RunCell, dispatch: &Dispatcher, name: &str, seed: Option<u64>) {
    match ScenarioRun::load(name, seed) {
        Ok(run) => install(cell, dispatch, run),
        Err(e) => dispatch.dispatch(ScenarioAction::Failed(format!(
            "Could not load {name}: {e}"
        ))),
    }
}

/// What a key press inside the panel (or an embedded widget) does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shortcut {
    TogglePlay,
    Back,
    Forward,
    Start,
    End,
}

/// The shortcut for `key` pressed on an element `tag` (lower case) of input `kind`.
pub(crate) fn shortcut(key: &str, tag: &str, kind: &str) -> Option<Shortcut> {
    let slider = tag == "input" && kind == "range";
    if tag == "select" || tag == "textarea" || (tag == "input" && !slider) {
        return None;
    }
    match key {
        " " | "Spacebar" if tag != "button" => Some(Shortcut::TogglePlay),
        "k" | "K" => Some(Shortcut::TogglePlay),
        "ArrowLeft" => Some(Shortcut::Back),
        "ArrowRight" => Some(Shortcut::Forward),
        "ArrowDown" if slider => Some(Shortcut::Back),
        "ArrowUp" if slider => Some(Shortcut::Forward),
        "Home" if slider => Some(Shortcut::Start),
        "End" if slider => Some(Shortcut::End),
        _ => None,
    }
}

/// The scenario panel.
#[function_component(ScenarioView)]
pub fn scenario_view() -> Html {
    let state = use_reducer(ScenarioState::default);
    let cell: RunCell = use_mut_ref(|| None);
    // Parsed once: the picker's options.
    let titles = use_memo((), |_| library_titles());

    let shell = use_context::<crate::shell::ShellContext>();
    {
        let (cell, dispatch, name) = (cell.clone(), state.dispatcher(), state.picked.clone());
        use_effect_with((), move |_| {
            if open_initial(&cell, &dispatch, &name) {
                if let Some(shell) = shell {
                    shell.show.emit(SECTION_ID);
                }
            }
        });
    }
    // The play loop: one interval, then the next render schedules the next.
    {
        let (cell, dispatch) = (cell.clone(), state.dispatcher());
        let pending = state
            .playing
            .then_some((state.loads, state.updates, state.speed));
        use_effect_with(pending, move |pending| {
            let cancelled = Rc::new(Cell::new(false));
            if let Some((_, _, speed)) = *pending {
                let cancelled = cancelled.clone();
                spawn_local(async move {
                    crate::timer::sleep_ms(PLAY_INTERVAL_MS).await;
                    if !cancelled.get() {
                        with_run(&cell, &dispatch, |r| {
                            r.play(speed);
                            Ok(())
                        });
                    }
                });
            }
            move || cancelled.set(true)
        });
    }

    let run = state.run.clone();
    let off = |allowed: bool| (!allowed).to_string();
    let mover = |f: fn(&mut ScenarioRun), allowed: bool, pause: bool| {
        let (cell, dispatch) = (cell.clone(), state.dispatcher());
        Callback::from(move |_: MouseEvent| {
            if allowed {
                if pause {
                    dispatch.dispatch(ScenarioAction::Pause);
                }
                with_run(&cell, &dispatch, |r| {
                    f(r);
                    Ok(())
                });
            }
        })
    };
    let (can_back, can_forward) = (state.can_step_back(), state.can_step_forward());
    let on_start = mover(ScenarioRun::to_start, can_back, true);
    let on_back = mover(ScenarioRun::step_back, can_back, true);
    let on_forward = mover(ScenarioRun::step_forward, can_forward, true);
    let at_end = run.as_ref().is_some_and(|r| r.finished && r.at_frontier());
    let on_play = {
        let (cell, dispatch, playing) = (cell.clone(), state.dispatcher(), state.playing);
        let loaded = run.is_some();
        Callback::from(move |_: MouseEvent| {
            if playing {
                dispatch.dispatch(ScenarioAction::Pause);
            } else if loaded {
                if at_end {
                    // Played to the end: play it again from the start.
                    with_run(&cell, &dispatch, |r| {
                        r.to_start();
                        Ok(())
                    });
                }
                dispatch.dispatch(ScenarioAction::Play);
            }
        })
    };
    let on_keydown = {
        let (cell, dispatch) = (cell.clone(), state.dispatcher());
        let playing = state.playing;
        Callback::from(move |e: KeyboardEvent| {
            if e.ctrl_key() || e.alt_key() || e.meta_key() {
                return;
            }
            let element = e
                .target()
                .and_then(|t| t.dyn_into::<web_sys::Element>().ok());
            let (tag, kind) = element.map_or((String::new(), String::new()), |el| {
                (
                    el.tag_name().to_ascii_lowercase(),
                    el.get_attribute("type").unwrap_or_default(),
                )
            });
            let Some(s) = shortcut(&e.key(), &tag, &kind) else {
                return;
            };
            e.prevent_default();
            let step = |f: fn(&mut ScenarioRun)| {
                dispatch.dispatch(ScenarioAction::Pause);
                with_run(&cell, &dispatch, |r| {
                    f(r);
                    Ok(())
                });
            };
            match s {
                Shortcut::TogglePlay if playing => dispatch.dispatch(ScenarioAction::Pause),
                Shortcut::TogglePlay => {
                    if at_end {
                        step(ScenarioRun::to_start);
                    }
                    dispatch.dispatch(ScenarioAction::Play);
                }
                Shortcut::Back => step(ScenarioRun::step_back),
                Shortcut::Forward => step(ScenarioRun::step_forward),
                Shortcut::Start => step(ScenarioRun::to_start),
                Shortcut::End => step(ScenarioRun::to_end),
            }
        })
    };
    let on_scrub = {
        let (cell, dispatch) = (cell.clone(), state.dispatcher());
        Callback::from(move |e: InputEvent| {
            let input: HtmlInputElement = e.target_unchecked_into();
            if let Ok(v) = input.value().parse::<u64>() {
                with_run(&cell, &dispatch, |r| {
                    r.seek(v);
                    Ok(())
                });
            }
        })
    };
    let on_marker = |seq: u64| {
        let (cell, dispatch) = (cell.clone(), state.dispatcher());
        Callback::from(move |_: MouseEvent| {
            with_run(&cell, &dispatch, |r| {
                r.seek_after(seq);
                Ok(())
            });
        })
    };
    let on_pick = {
        let dispatch = state.dispatcher();
        Callback::from(move |e: Event| {
            let value = crate::shell::event_value(&e);
            if let Some(name) = value {
                dispatch.dispatch(ScenarioAction::Pick(name));
            }
        })
    };
    let text_input = |make: fn(String) -> ScenarioAction| {
        let dispatch = state.dispatcher();
        Callback::from(move |e: InputEvent| {
            let input: HtmlInputElement = e.target_unchecked_into();
            dispatch.dispatch(make(input.value()));
        })
    };
    let on_load = {
        let (cell, dispatch) = (cell.clone(), state.dispatcher());
        let (name, seed) = (state.picked.clone(), state.seed());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            match &seed {
                Ok(seed) => load(&cell, &dispatch, &name, *seed),
                Err(msg) => dispatch.dispatch(ScenarioAction::Failed(msg.clone())),
            }
        })
    };
    let can_act = state.can_act();
    let act = |action: Result<Action, String>| {
        let (cell, dispatch) = (cell.clone(), state.dispatcher());
        move || {
            if !can_act {
                return;
            }
            match &action {
                Ok(a) => with_run(&cell, &dispatch, |r| r.act(a.clone())),
                Err(msg) => dispatch.dispatch(ScenarioAction::Failed(msg.clone())),
            }
        }
    };
    let on_write = {
        let f = act(state.write_action());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            f();
        })
    };
    let on_crash = {
        let f = act(Ok(Action::Crash));
        Callback::from(move |_: MouseEvent| f())
    };
    let on_checkpoint = {
        let f = act(Ok(Action::Checkpoint));
        Callback::from(move |_: MouseEvent| f())
    };
    let on_compact = {
        let f = act(Ok(Action::Compact));
        Callback::from(move |_: MouseEvent| f())
    };
    let on_dismiss = {
        let dispatch = state.dispatcher();
        Callback::from(move |_: MouseEvent| dispatch.dispatch(ScenarioAction::DismissError))
    };
    // Share, export, import: what the box last said, and the link it made.
    let share_status = use_state(String::new);
    let share_link = use_state(|| None::<String>);
    let on_share = {
        let (cell, status, link) = (cell.clone(), share_status.clone(), share_link.clone());
        Callback::from(move |_: MouseEvent| {
            let url = match cell.try_borrow() {
                Ok(g) => g.as_ref().map(|r| share_view::share_url(&r.link())),
                Err(_) => None,
            };
            let Some(url) = url else {
                status.set("Nothing to share yet: no scenario is loaded.".to_owned());
                return;
            };
            link.set(Some(url.clone()));
            let status = status.clone();
            spawn_local(async move {
                status.set(if write_clipboard(&url).await {
                    "Link copied. Opening it replays this run exactly: same scenario, seed, \
                     changes and position."
                        .to_owned()
                } else {
                    "Copy the link from the box below (this browser does not allow copying here)."
                        .to_owned()
                });
            });
        })
    };
    let on_export = {
        let (cell, status) = (cell.clone(), share_status.clone());
        Callback::from(move |_: MouseEvent| {
            let file = match cell.try_borrow() {
                Ok(g) => g.as_ref().map(|r| {
                    let l = r.link();
                    (
                        format!("logspine-{}-seed-{}.json", l.scenario, l.seed),
                        RunFile::new(&l, r.timeline().trace()),
                    )
                }),
                Err(_) => None,
            };
            let Some((name, file)) = file else {
                status.set("Nothing to export yet: no scenario is loaded.".to_owned());
                return;
            };
            let events = file.trace.lines().count();
            status.set(if share_view::download(&name, &file.to_json()) {
                format!(
                    "Exported {name}: {events} events, trace hash {}.",
                    file.trace_hash
                )
            } else {
                "This browser refused the download.".to_owned()
            });
        })
    };
    let on_import = {
        let (cell, dispatch, status) = (cell.clone(), state.dispatcher(), share_status.clone());
        Callback::from(move |e: Event| {
            let input: HtmlInputElement = e.target_unchecked_into();
            let (cell, dispatch, status) = (cell.clone(), dispatch.clone(), status.clone());
            spawn_local(async move {
                let opened = match share_view::read_chosen_file(&input).await {
                    Ok(text) => share_view::open_file(&text),
                    Err(e) => Err(e),
                };
                // The same file can be chosen again.
                input.set_value("");
                match opened {
                    Ok(run) => {
                        dispatch.dispatch(ScenarioAction::Pause);
                        install(&cell, &dispatch, run);
                        status.set(
                            "Imported: the run was replayed and its trace hash matches the file."
                                .to_owned(),
                        );
                    }
                    Err(e) => {
                        status.set(String::new());
                        dispatch.dispatch(ScenarioAction::Failed(format!(
                            "Could not import the run: {e}"
                        )));
                    }
                }
            });
        })
    };
    let embed_open = use_state(|| false);
    let embed_panel = use_state(|| Panel::All);
    let copy_status = use_state(String::new);
    let on_embed_toggle = {
        let (open, status) = (embed_open.clone(), copy_status.clone());
        Callback::from(move |_: MouseEvent| {
            open.set(!*open);
            status.set(String::new());
        })
    };

    let attr = |f: fn(&RunView) -> String| run.as_deref().map(f).unwrap_or_default();
    html! {
        <section class="scenario" data-testid="scenario" aria-labelledby="scenario-heading"
            onkeydown={on_keydown}
            data-name={attr(|r| r.name.clone())}
            data-position={attr(|r| r.position.to_string())}
            data-trace-len={attr(|r| r.trace_len.to_string())}
            data-trace-hash={attr(|r| r.trace_hash.clone().unwrap_or_default())}
            data-time={attr(|r| r.time.to_string())}
            data-finished={attr(|r| r.finished.to_string())}
            data-reached={attr(|r| r.fold.reached.len().to_string())}
            data-steps={attr(|r| r.steps.len().to_string())}
            data-invariants={attr(|r| r.invariants_state().to_owned())}
            data-playing={state.playing.to_string()}
            data-loads={state.loads.to_string()}>
            <header class="section-head">
                <h2 id="scenario-heading">{ "Scenarios: a run is a log too" }</h2>
                <p class="muted">
                    { "A guided scenario runs a simulated world (the database on a simulated disk, \
                       a seed for every random choice) and records everything it does as a trace of \
                       typed events. What you see below is a fold over that trace up to the slider. \
                       Scrubbing back restores a snapshot and replays, so the past comes back exactly; \
                       acting in the past discards the recorded future and the run goes on from there." }
                </p>
                <p>
                    <a href="docs/">{ "Read the docs" }</a>
                    { ": the argument step by step, with these scenarios embedded as live widgets." }
                </p>
            </header>

            if let Some(message) = &state.error {
                <div class="alert" role="alert">
                    <p>{ message }</p>
                    <div class="buttons">
                        <button type="button" class="secondary" onclick={on_dismiss}>
                            { "Dismiss the scenario error" }
                        </button>
                    </div>
                </div>
            }

            <div class="scenario-grid">
                <section class="panel scenario-pick" aria-labelledby="scenario-pick-heading">
                    <h3 id="scenario-pick-heading">{ "Pick a scenario" }</h3>
                    <form class="kv" onsubmit={on_load}>
                        <div class="field scenario-name">
                            <label for="scenario-pick">{ "Scenario" }</label>
                            <select id="scenario-pick" onchange={on_pick}>
                                { for titles.iter().map(|(name, title)| html! {
                                    <option value={*name} selected={*name == state.picked}>
                                        { format!("{title} ({name})") }
                                    </option>
                                }) }
                            </select>
                        </div>
                        <div class="field scenario-seed">
                            <label for="scenario-seed">{ "Seed" }</label>
                            <input id="scenario-seed" type="number" min="0" step="1" inputmode="numeric"
                                value={state.seed_draft.clone()} oninput={text_input(ScenarioAction::EditSeed)}
                                aria-describedby="scenario-seed-help" />
                        </div>
                        <div class="buttons">
                            <button type="submit">{ "Load scenario" }</button>
                        </div>
                        <p id="scenario-seed-help" class="help-text muted">
                            { "The same scenario and seed give the same run, event for event, here, in Node \
                               and natively (the command-line runner: logspine run <name> --seed <seed>)." }
                        </p>
                    </form>
                    if let Some(r) = run.as_deref() {
                        <p class="scenario-title">
                            <strong>{ &r.title }</strong>
                            { format!(" — seed {}, ends at tick {}", r.seed, r.end_tick) }
                        </p>
                        <div class="buttons">
                            <button type="button" class="secondary" onclick={on_embed_toggle}
                                aria-expanded={embed_open.to_string()} aria-controls="scenario-embed">
                                { "Embed this" }
                            </button>
                            <button type="button" class="secondary" onclick={on_share}>
                                { "Copy share link" }
                            </button>
                            <button type="button" class="secondary" onclick={on_export}>
                                { "Export run (JSON)" }
                            </button>
                            <span class="file-button">
                                <label for="scenario-import">{ "Import run…" }</label>
                                <input id="scenario-import" class="visually-hidden" type="file"
                                    accept="application/json,.json" aria-label="Import a run file (JSON)"
                                    onchange={on_import} />
                            </span>
                        </div>
                        if let Some(url) = &*share_link {
                            <label for="scenario-share-link">{ "Share link" }</label>
                            <input id="scenario-share-link" type="text" readonly=true value={url.clone()}
                                data-testid="scenario-share-link" />
                        }
                        <p class="muted" role="status" aria-live="polite" data-testid="scenario-share-status">
                            { (*share_status).clone() }
                        </p>
                    }
                </section>

                if *embed_open {
                    if let Some(r) = run.as_deref() {
                        { embed_box(r, &embed_panel, &copy_status) }
                    }
                }

                <section class="panel scenario-narration" aria-labelledby="scenario-narration-heading">
                    <h3 id="scenario-narration-heading">{ "Narration" }</h3>
                    { narration(run.as_deref(), &state.announce) }
                </section>

                <section class="panel wide scenario-timeline" aria-labelledby="scenario-timeline-heading">
                    <h3 id="scenario-timeline-heading">{ "Scenario timeline" }</h3>
                    <div class="buttons scenario-transport">
                        <button type="button" class="secondary" onclick={on_start}
                            aria-disabled={off(can_back)}>{ "Back to the start" }</button>
                        <button type="button" onclick={on_back} aria-disabled={off(can_back)}
                            aria-keyshortcuts="ArrowLeft">{ "Step back" }</button>
                        <button type="button" class="play" onclick={on_play}
                            aria-disabled={off(run.is_some())} aria-keyshortcuts="Space K">
                            { if state.playing { "Pause" } else { "Play" } }
                        </button>
                        <button type="button" onclick={on_forward} aria-disabled={off(can_forward)}
                            aria-keyshortcuts="ArrowRight">{ "Step forward" }</button>
                    </div>
                    <fieldset class="scenario-speed">
                        <legend>{ "Speed" }</legend>
                        { for SPEEDS.iter().map(|&s| {
                            let dispatch = state.dispatcher();
                            let id = format!("scenario-speed-{s}");
                            html! {
                                <label for={id.clone()}>
                                    <input type="radio" id={id} name="scenario-speed" value={s.to_string()}
                                        checked={state.speed == s}
                                        onchange={Callback::from(move |_: Event| dispatch.dispatch(ScenarioAction::SetSpeed(s)))} />
                                    { format!("{s}×") }
                                </label>
                            }
                        }) }
                        <span class="muted">{ format!("ticks of virtual time every {PLAY_INTERVAL_MS} ms") }</span>
                    </fieldset>
                    if let Some(r) = run.as_deref() {
                        { scrubber(r, on_scrub) }
                        { marker_list(r, on_marker) }
                    }
                    <ul class="help scenario-keys-help" aria-label="Keyboard shortcuts">
                        <li>{ "Space or K: play or pause (Space on a button presses the button)." }</li>
                        <li>{ "← and →: step back and forward to the previous or next moment something happened." }</li>
                        <li>{ "On the slider: Home and End go to the start and the end of the recording; \
                               PageUp and PageDown move by a tenth." }</li>
                    </ul>
                </section>

                <section class="panel scenario-act" aria-labelledby="scenario-act-heading">
                    <h3 id="scenario-act-heading">{ "Change history" }</h3>
                    <p class="muted" id="scenario-act-help">
                        { if run.as_ref().is_some_and(|r| r.finished) {
                            "The run is over (its final check has run). Step back or scrub to an earlier \
                             moment to act there."
                        } else if run.as_ref().is_some_and(|r| !r.at_frontier()) {
                            "You are in the past: an action here branches. The recorded future is \
                             discarded and the run goes on from here with your action."
                        } else {
                            "At the end of the recording: an action is applied now and the run goes on."
                        } }
                    </p>
                    <form class="kv" onsubmit={on_write}>
                        <div class="field">
                            <label for="scenario-key">{ "Key to write into the run" }</label>
                            <input id="scenario-key" type="text" autocomplete="off" spellcheck="false"
                                maxlength="256" value={state.key_draft.clone()}
                                oninput={text_input(ScenarioAction::EditKey)} />
                        </div>
                        <div class="field">
                            <label for="scenario-value">{ "Value to write into the run" }</label>
                            <input id="scenario-value" type="text" autocomplete="off" spellcheck="false"
                                maxlength="4096" value={state.value_draft.clone()}
                                oninput={text_input(ScenarioAction::EditValue)} />
                        </div>
                        <div class="buttons">
                            <button type="submit" aria-disabled={off(can_act)}
                                aria-describedby="scenario-act-help">{ "Write a key" }</button>
                            <button type="button" class="danger" onclick={on_crash}
                                aria-disabled={off(can_act)} aria-describedby="scenario-act-help">
                                { "Crash the run" }
                            </button>
                            <button type="button" class="secondary" onclick={on_checkpoint}
                                aria-disabled={off(can_act)} aria-describedby="scenario-act-help">
                                { "Checkpoint the run" }
                            </button>
                            <button type="button" class="secondary" onclick={on_compact}
                                aria-disabled={off(can_act)} aria-describedby="scenario-act-help"
                                title="A manual compaction of the LSM tree (and of a compacted topic); a B-tree world refuses it, and the trace says why">
                                { "Compact the run" }
                            </button>
                        </div>
                    </form>
                </section>

                if let Some(r) = run.as_deref() {
                    { world(r) }
                }
            </div>
        </section>
    }
}

/// The site's root URL, as this page was loaded from (the embed page is under it).
fn page_base() -> String {
    let Some(location) = web_sys::window().map(|w| w.location()) else {
        return String::new();
    };
    site_base(
        &location.origin().unwrap_or_default(),
        &location.pathname().unwrap_or_default(),
    )
}

/// Writes `text` to the clipboard (where the Clipboard API is available: a secure
/// context); whether it did.
async fn write_clipboard(text: &str) -> bool {
    use js_sys::{Function, Promise, Reflect};
    use wasm_bindgen::JsValue;
    let get = |o: &JsValue, k: &str| Reflect::get(o, &JsValue::from_str(k)).ok();
    let clipboard = get(&js_sys::global(), "navigator")
        .filter(|n| n.is_object())
        .and_then(|n| get(&n, "clipboard"))
        .filter(|c| c.is_object());
    let Some(clipboard) = clipboard else {
        return false;
    };
    let Some(write) = get(&clipboard, "writeText").and_then(|f| f.dyn_into::<Function>().ok())
    else {
        return false;
    };
    match write.call1(&clipboard, &JsValue::from_str(text)) {
        Ok(p) => match p.dyn_into::<Promise>() {
            Ok(p) => wasm_bindgen_futures::JsFuture::from(p).await.is_ok(),
            Err(_) => false,
        },
        Err(_) => false,
    }
}

/// "Embed this": the `<iframe>` snippet for the run's scenario, seed and a panel, in a
/// read-only text area (always selectable) with a copy button.
fn embed_box(r: &RunView, panel: &UseStateHandle<Panel>, status: &UseStateHandle<String>) -> Html {
    let url = embed_url(&page_base(), &r.name, Some(r.seed), **panel);
    let snippet = iframe_snippet(&url, &r.title, **panel);
    let on_panel = {
        let (panel, status) = (panel.clone(), status.clone());
        Callback::from(move |e: Event| {
            let value = crate::shell::event_value(&e);
            if let Some(p) = value.as_deref().and_then(Panel::parse) {
                panel.set(p);
                status.set(String::new());
            }
        })
    };
    let on_copy = {
        let (text, status) = (snippet.clone(), status.clone());
        Callback::from(move |_: MouseEvent| {
            let (text, status) = (text.clone(), status.clone());
            spawn_local(async move {
                status.set(if write_clipboard(&text).await {
                    "Copied to the clipboard.".to_owned()
                } else {
                    "This browser did not let the page copy: select the code above and copy it \
                     (Ctrl+C or ⌘C)."
                        .to_owned()
                });
            });
        })
    };
    let on_focus = Callback::from(|e: FocusEvent| {
        let area: HtmlTextAreaElement = e.target_unchecked_into();
        area.select();
    });
    html! {
        <section class="panel wide scenario-embed" id="scenario-embed"
            aria-labelledby="scenario-embed-heading" data-testid="scenario-embed">
            <h3 id="scenario-embed-heading">{ "Embed this scenario" }</h3>
            <p class="muted">
                { "Paste this into a page to show this scenario with this seed as a live widget. \
                   The widget can report its height and be driven by the page through its \
                   postMessage API; " }
                <a href="docs/embedding.html">{ "how to embed" }</a>
                { "." }
            </p>
            <div class="field">
                <label for="scenario-embed-panel">{ "Panel to embed" }</label>
                <select id="scenario-embed-panel" onchange={on_panel}>
                    { for Panel::ALL.iter().map(|p| html! {
                        <option value={p.as_str()} selected={*p == **panel}>{ p.label() }</option>
                    }) }
                </select>
            </div>
            <div class="field">
                <label for="scenario-embed-code">{ "Embed code" }</label>
                <textarea id="scenario-embed-code" class="embed-code" readonly=true rows="4"
                    spellcheck="false" value={snippet} onfocus={on_focus} />
            </div>
            <div class="buttons">
                <button type="button" onclick={on_copy}>{ "Copy embed code" }</button>
                <a href={url} target="_blank" rel="noopener">{ "Open the widget on its own" }</a>
            </div>
            <p class="muted" role="status" data-testid="scenario-embed-status">{ (**status).clone() }</p>
        </section>
    }
}

/// The narration: the newest step reached (a polite live region) and every step.
pub(crate) fn narration(run: Option<&RunView>, announce: &str) -> Html {
    let Some(r) = run else {
        return html! { <p class="muted">{ "Loading…" }</p> };
    };
    let newest = r.fold.narration.as_ref().map(|(i, _)| *i);
    html! {
        <>
            <p class="scenario-now" data-testid="scenario-narration" aria-live="polite" aria-atomic="true">
                { if announce.is_empty() {
                    "Press Play: the narration moves on as the run reaches each step."
                } else {
                    announce
                } }
            </p>
            <ol class="scenario-steps" aria-label="Narration steps">
                { for r.steps.iter().enumerate().map(|(i, text)| {
                    let reached = r.reached(i);
                    html! {
                        <li data-reached={reached.to_string()}
                            class={classes!("scenario-step", reached.then_some("reached"))}
                            aria-current={(newest == Some(i)).then_some("step")}>
                            <span class="scenario-step-state">{ if reached { "✓ reached" } else { "to come" } }</span>
                            <span>{ text }</span>
                        </li>
                    }
                }) }
            </ol>
        </>
    }
}

/// The scrub slider over the recorded trace, with the markers drawn on its track.
pub(crate) fn scrubber(r: &RunView, on_scrub: Callback<InputEvent>) -> Html {
    let span = r.trace_len.saturating_sub(r.start).max(1);
    // The track's x for "value `v` reached", in a 1000-wide box.
    let x = |v: u64| (v.saturating_sub(r.start).min(span) * 1000) / span;
    let place = if r.at_frontier() {
        if r.finished {
            "the end of the run"
        } else {
            "the end of the recording"
        }
    } else {
        "the past: Play replays the recording"
    };
    html! {
        <div class="scrub">
            <label for="scenario-scrub">{ "Position in the run" }</label>
            <svg class="scrub-track" viewBox="0 0 1000 20" preserveAspectRatio="none"
                aria-hidden="true" focusable="false">
                <rect class="scrub-rail" x="0" y="9" width="1000" height="2" />
                <rect class="scrub-done" x="0" y="8" width={x(r.position).to_string()} height="4" />
                { for r.markers.iter().take(MAX_MARKERS_DRAWN).map(|m| html! {
                    <rect class={classes!("mark", m.kind.as_str())}
                        x={x(m.seq + 1).saturating_sub(2).to_string()} y="1" width="4" height="18" />
                }) }
            </svg>
            <input id="scenario-scrub" type="range" min={r.start.to_string()}
                max={r.trace_len.max(r.start).to_string()} step="1"
                value={r.position.to_string()} aria-valuetext={r.value_text()}
                aria-describedby="scenario-status" oninput={on_scrub} />
            <p id="scenario-status" class="scenario-status" data-testid="scenario-status">
                { format!(
                    "Tick {} of {} · {} of {} events · at {place}.",
                    r.time, r.end_tick, r.position, r.trace_len
                ) }
                if let Some(h) = &r.trace_hash {
                    <span class="muted" title="FNV-1a of the trace's JSON lines up to here: the command-line runner prints the same for the same events">
                        { format!(" Trace hash {h}.") }
                    </span>
                }
            </p>
        </div>
    }
}

/// The markers as a list of buttons (jump to just after the event).
fn marker_list(r: &RunView, on_marker: impl Fn(u64) -> Callback<MouseEvent>) -> Html {
    if r.markers.is_empty() {
        return html! {
            <p class="muted scenario-markers-none">
                { "No crash, recovery, checkpoint, flush, compaction or election recorded yet." }
            </p>
        };
    }
    let count = |k: &str| r.markers.iter().filter(|m| m.kind.as_str() == k).count();
    let summary = crate::transport::MARKER_KINDS
        .iter()
        .filter_map(|k| {
            let n = count(k);
            (n > 0).then(|| format!("{n} {k}"))
        })
        .collect::<Vec<_>>()
        .join(", ");
    let shown: Vec<&Marker> = r.markers.iter().take(MAX_MARKERS_LISTED).collect();
    html! {
        <details class="scenario-markers">
            <summary>{ format!("Markers on the track: {summary}") }</summary>
            <ol aria-label="Markers">
                { for shown.into_iter().map(|m| html! {
                    <li data-kind={m.kind.as_str()} data-seq={m.seq.to_string()} data-time={m.time.to_string()}
                        class={classes!("marker", m.kind.as_str())}>
                        <button type="button" class="secondary" onclick={on_marker(m.seq)}>
                            { format!("{} at tick {} (event {})", m.kind.label(), m.time, m.seq) }
                        </button>
                    </li>
                }) }
            </ol>
            if r.markers.len() > MAX_MARKERS_LISTED {
                <p class="muted">{ format!("and {} more on the track", r.markers.len() - MAX_MARKERS_LISTED) }</p>
            }
        </details>
    }
}

/// The world at the position: counters, invariant checks, keys, recent events.
fn world(r: &RunView) -> Html {
    html! {
        <>
            { world_panel(r, IN_SECTION) }
            { keys_panel(r, IN_SECTION) }
            { events_panel(r, IN_SECTION) }
        </>
    }
}

/// The heading levels of a panel: `h3` (with `h4` under it) in the playground, where the
/// section's title is the `h2`; `h2` (and `h3`) in the widget, under its one `h1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Levels {
    /// The panel's heading.
    pub heading: &'static str,
    /// A heading inside the panel.
    pub sub: &'static str,
}

/// The playground's levels (see [`Levels`]).
pub(crate) const IN_SECTION: Levels = Levels {
    heading: "h3",
    sub: "h4",
};

/// The counters and the invariant checks at the position.
pub(crate) fn world_panel(r: &RunView, levels: Levels) -> Html {
    let c = r.fold.counters;
    let counters = [
        ("commits", "Commits acknowledged", c.commits),
        ("crashes", "Crashes", c.crashes),
        ("checkpoints", "Checkpoints", c.checkpoints),
        ("flushes", "Flushes", c.flushes),
        ("compactions", "Compactions", c.compactions),
        ("records", "WAL records", c.records),
        ("syncs", "Syncs completed", c.syncs),
    ];
    html! {
        <section class="panel scenario-world" aria-labelledby="scenario-world-heading">
            <@{levels.heading} id="scenario-world-heading">{ format!("The world at tick {}", r.time) }</@>
            <dl class="meters scenario-counters" data-testid="scenario-counters">
                { for counters.iter().map(|(id, label, n)| html! {
                    <div class="meter" data-counter={*id} data-value={n.to_string()}>
                        <dt>{ *label }</dt>
                        <dd><strong>{ n.to_string() }</strong></dd>
                    </div>
                }) }
            </dl>
            <@{levels.sub}>{ "Invariant checks" }</@>
            if r.fold.invariants.is_empty() {
                <p class="muted">{ "None yet: they run after each recovery and at the end." }</p>
            }
            <ul class="scenario-invariants" aria-label="Invariant checks">
                { for r.fold.invariants.iter().map(|i| html! {
                    <li data-ok={i.ok.to_string()} class={classes!("invariant", if i.ok { "ok" } else { "failed" })}>
                        <span class="invariant-state">{ if i.ok { "✓ held" } else { "✗ failed" } }</span>
                        <span class="invariant-name">{ &i.name }</span>
                        <span class="muted">{ format!("tick {}: {}", i.time, i.detail) }</span>
                    </li>
                }) }
            </ul>
        </section>
    }
}

/// The database's keys at the position.
pub(crate) fn keys_panel(r: &RunView, levels: Levels) -> Html {
    html! {
        <section class="panel scenario-keys" aria-labelledby="scenario-keys-heading">
            <@{levels.heading} id="scenario-keys-heading">{ format!("Keys in the database: {}", r.key_count) }</@>
            if r.key_count == 0 {
                <p class="muted">{ "None (or the database is busy recovering)." }</p>
            } else {
                <div class="table-wrap" tabindex="0" role="region" aria-label="Table of the keys in the database">
                    <table data-testid="scenario-keys">
                        <thead><tr><th scope="col">{ "Key" }</th><th scope="col">{ "Value" }</th></tr></thead>
                        <tbody>
                            { for r.keys.iter().map(|(k, v)| html! {
                                <tr key={k.clone()} data-key={k.clone()}><td>{ k }</td><td>{ v }</td></tr>
                            }) }
                        </tbody>
                    </table>
                </div>
                if r.key_count > MAX_KEYS {
                    <p class="muted">{ format!("The first {MAX_KEYS} of {} keys.", r.key_count) }</p>
                }
            }
        </section>
    }
}

/// The recent events up to the position.
pub(crate) fn events_panel(r: &RunView, levels: Levels) -> Html {
    html! {
        <section class="panel wide scenario-events" aria-labelledby="scenario-events-heading">
            <@{levels.heading} id="scenario-events-heading">{ "Recent events" }</@>
            <ol class="events scenario-event-list" aria-label="Recent events">
                { for r.fold.recent.iter().map(|e| html! {
                    <li key={e.seq.to_string()} data-kind={e.kind} data-seq={e.seq.to_string()}
                        class={classes!("scenario-event", e.kind)}>
                        <span class="event-when">{ format!("t{} #{}", e.time, e.seq) }</span>
                        <span>{ &e.text }</span>
                    </li>
                }) }
            </ol>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortcuts_leave_text_fields_and_buttons_alone() {
        assert_eq!(shortcut(" ", "section", ""), Some(Shortcut::TogglePlay));
        assert_eq!(shortcut(" ", "input", "range"), Some(Shortcut::TogglePlay));
        assert_eq!(
            shortcut(" ", "button", ""),
            None,
            "Space presses the button"
        );
        assert_eq!(shortcut("k", "button", ""), Some(Shortcut::TogglePlay));
        assert_eq!(shortcut("ArrowLeft", "button", ""), Some(Shortcut::Back));
        assert_eq!(
            shortcut("ArrowRight", "input", "range"),
            Some(Shortcut::Forward)
        );
        assert_eq!(
            shortcut("ArrowUp", "input", "range"),
            Some(Shortcut::Forward)
        );
        assert_eq!(shortcut("ArrowUp", "button", ""), None);
        assert_eq!(shortcut("Home", "input", "range"), Some(Shortcut::Start));
        assert_eq!(shortcut("End", "button", ""), None, "the page's own End");
        assert_eq!(shortcut("ArrowLeft", "input", "text"), None);
        assert_eq!(shortcut("k", "input", "number"), None);
        assert_eq!(
            shortcut("ArrowRight", "input", "radio"),
            None,
            "radios move the speed"
        );
        assert_eq!(shortcut("ArrowDown", "select", ""), None);
    }
}
