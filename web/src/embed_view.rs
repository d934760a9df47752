//! The embed widget ([`EmbedApp`]): one guided scenario, or one panel of it, for an
//! `<iframe>` in a documentation page. Trunk builds it as its own binary
//! (`src/bin/embed.rs`, loaded by `www/embed.html`, served at `/embed/`).
//!
//! What it shows comes from its link ([`crate::embed_params`]: scenario, seed, panel,
//! theme, autoplay, controls, speed, origins, id); a malformed parameter is shown as a
//! problem (as text: nothing from the link, a message or a scenario is ever markup) and
//! posted to the host as an `error`, and its default is used. The host drives it with the
//! postMessage API of [`crate::embed_api`] (protocol and fields documented there and in
//! `www/docs/embedding.html`); the run is an [`EmbedRun`].
//!
//! # Storage
//! The widget persists nothing: it opens no IndexedDB database, no `localStorage`, no
//! cookie. Widgets in one page therefore cannot touch each other's storage or the
//! playground's (`logspine:playground` and the database view's). Each widget's state lives
//! in its own frame's memory and is gone when the frame is.
//!
//! # Effects
//! A `message` listener on the window (removed when the widget goes); a `ResizeObserver`
//! on the root that posts `resize` when the height changes (the height is also measured
//! after every render); while playing, a timer advances the run every
//! [`PLAY_INTERVAL_MS`]. Autoplay is not honoured when the reader prefers reduced motion
//! (the widget says so); Play still works. No request leaves the page.
//!
//! # Keyboard (with controls on)
//! Space or K plays and pauses (Space on a button presses the button), → steps forward; on
//! the slider Home and End go to the start and the end.
//!
//! # DOM hooks (the end-to-end test relies on them)
//! `main[data-testid=embed]` with `data-widget`, `data-name`, `data-position`,
//! `data-trace-len`, `data-finished`, `data-playing`, `data-panel`, `data-theme`;
//! `[data-testid=embed-problems] li` (the link's problems), errors in `[role=alert]`;
//! buttons "Back to the start", "Play"/"Pause", "Step forward"; the slider "Position in
//! the run"; the scenario view's panels (`section.scenario-narration`, `.scenario-world`,
//! `.scenario-keys`, `.scenario-events`).

use logspine_core::vec_map::VecMap;
use std::rc::Rc;

use js_sys::{Function, Object, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::spawn_local;
use web_sys::{HtmlInputElement, MessageEvent, ResizeObserver};
use yew::prelude::*;

use crate::embed_api::{
    parse_request, ApiError, ErrorCode, Field, MessageId, Outgoing, Request, ScenarioSource,
    SeekTarget, Value, WidgetState,
};
use crate::embed_params::{origin_of_url, EmbedParams, Panel};
use crate::embed_run::EmbedRun;
use crate::scenario_state::{RunView, PLAY_INTERVAL_MS, SPEEDS};
use crate::scenario_view::{
    events_panel, keys_panel, narration, scrubber, shortcut, world_panel, Levels, Shortcut,
};

/// The panels' heading levels here: `h2` under the widget's one `h1`, its title.
const LEVELS: Levels = Levels {
    heading: "h2",
    sub: "h3",
};

/// The most fields a message may have (more is malformed).
const MAX_FIELDS: u32 = 32;

/// The widget's messages.
pub enum Msg {
    /// A `message` event on the window.
    Message(MessageEvent),
    /// The play loop's timer fired (for loop generation `.0`).
    Tick(u64),
    /// Play or pause (the button, the keyboard).
    TogglePlay,
    /// Step forward.
    Step,
    /// Back to the start.
    ToStart,
    /// To the end of the run.
    ToEnd,
    /// The slider moved.
    Scrub(u64),
    /// The root's height may have changed.
    Measure,
}

/// Removes the window's `message` listener when dropped.
struct Listener {
    closure: Closure<dyn FnMut(MessageEvent)>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(w) = web_sys::window() {
            let _ = w.remove_event_listener_with_callback(
                "message",
                self.closure.as_ref().unchecked_ref(),
            );
        }
    }
}

/// Disconnects the `ResizeObserver` when dropped.
struct Observer {
    observer: ResizeObserver,
    _closure: Closure<dyn FnMut()>,
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.observer.disconnect();
    }
}

/// Where unsolicited messages go: the parent window, at its origin if known.
struct Host {
    parent: JsValue,
    /// The parent's origin (from `ancestorOrigins`, the referrer, or its first request).
    origin: Option<String>,
    /// Whether that origin may read the widget's state and events.
    allowed: bool,
}

/// The embed widget (module docs).
pub struct EmbedApp {
    params: EmbedParams,
    own_origin: String,
    host: Option<Host>,
    run: Option<EmbedRun>,
    view: Option<Rc<RunView>>,
    playing: bool,
    speed: u32,
    /// The play loop's generation: a timer from an older loop does nothing.
    generation: u64,
    /// A failure to show (and that was posted).
    error: Option<String>,
    /// The narration step announced (the polite live region).
    announce: String,
    /// Autoplay was asked for but the reader prefers reduced motion.
    autoplay_held: bool,
    /// The height last posted.
    height: u32,
    root: NodeRef,
    _listener: Option<Listener>,
    observer: Option<Observer>,
}

fn prefers_reduced_motion() -> bool {
    web_sys::window()
        .and_then(|w| {
            w.match_media("(prefers-reduced-motion: reduce)")
                .ok()
                .flatten()
        })
        .is_some_and(|m| m.matches())
}

/// Calls `target.postMessage(message, origin)` (a window of any origin).
fn post_to(target: &JsValue, message: &JsValue, origin: &str) {
    let post = Reflect::get(target, &JsValue::from_str("postMessage"))
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok());
    if let Some(post) = post {
        let _ = post.call2(target, message, &JsValue::from_str(origin));
    }
}

/// An outgoing message as a plain JS object.
fn to_js(v: &Value) -> JsValue {
    match v {
        Value::Null => JsValue::NULL,
        Value::Bool(b) => JsValue::from_bool(*b),
        Value::Number(n) => JsValue::from_f64(*n),
        Value::Text(s) => JsValue::from_str(s),
        Value::Object(fields) => {
            let o = Object::new();
            for (k, v) in fields {
                let _ = Reflect::set(&o, &JsValue::from_str(k), &to_js(v));
            }
            o.into()
        }
    }
}

/// A message's fields, or why it is not a message at all.
fn read_fields(data: &JsValue) -> Result<VecMap<String, Field>, ApiError> {
    let kind = data.js_typeof().as_string().unwrap_or_default();
    if kind != "object" || data.is_null() || js_sys::Array::is_array(data) {
        let what = if data.is_null() {
            "null".to_owned()
        } else if js_sys::Array::is_array(data) {
            "an array".to_owned()
        } else {
            format!("a {kind}")
        };
        return Err(ApiError::new(
            ErrorCode::Malformed,
            format!("a message must be an object like {{ logspine: 1, type: \"get_state\" }}, not {what}"),
        ));
    }
    let object: &Object = data.unchecked_ref();
    let keys = Object::keys(object);
    if keys.length() > MAX_FIELDS {
        return Err(ApiError::new(
            ErrorCode::Malformed,
            format!("a message has at most {MAX_FIELDS} fields"),
        ));
    }
    let mut fields = VecMap::new();
    for key in keys.iter() {
        let Some(name) = key.as_string() else {
            continue;
        };
        let value = Reflect::get(object, &key).unwrap_or(JsValue::UNDEFINED);
        let field = if value.is_null() || value.is_undefined() {
            Field::Null
        } else if let Some(b) = value.as_bool() {
            Field::Bool(b)
        } else if let Some(n) = value.as_f64() {
            Field::Number(n)
        } else if let Some(s) = value.as_string() {
            Field::Text(s)
        } else if value.is_object() && !value.is_function() {
            Field::Object(
                js_sys::JSON::stringify(&value)
                    .ok()
                    .and_then(|s| s.as_string()),
            )
        } else {
            Field::Other(value.js_typeof().as_string().unwrap_or_default())
        };
        fields.insert(name, field);
    }
    Ok(fields)
}

/// The root's height in CSS pixels, rounded up.
fn height_of(root: &NodeRef) -> Option<u32> {
    let el = root.cast::<web_sys::Element>()?;
    let h = el.get_bounding_client_rect().height().ceil();
    // Not `clamp`: its assertion message formats floats (`decimal` module docs).
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a non-negative height, clamped below u32::MAX"
    )]
    let h = h.max(0.0).min(f64::from(u32::MAX)) as u32;
    Some(h)
}

impl EmbedApp {
    /// Loads `source` with `seed`; on failure keeps the current run.
    fn load(&mut self, source: &ScenarioSource, seed: Option<u64>) -> Result<(), String> {
        let run = match source {
            ScenarioSource::Library(name) => EmbedRun::library(name, seed),
            ScenarioSource::Json(text) => EmbedRun::json(text, seed),
        }?;
        self.run = Some(run);
        self.playing = false;
        self.generation += 1;
        self.error = None;
        self.refresh_quietly();
        Ok(())
    }

    /// Rebuilds the view without reporting events (after a load).
    fn refresh_quietly(&mut self) {
        if let Some(run) = self.run.as_mut() {
            let view = run.view();
            self.announce = announcement(&view);
            self.view = Some(Rc::new(view));
        }
    }

    /// Rebuilds the view after a move, posting `narration` and `finished` events.
    fn refresh(&mut self) {
        let Some(run) = self.run.as_mut() else {
            return;
        };
        let view = run.view();
        let (was_reached, was_at_end) = self.view.as_ref().map_or((Vec::new(), false), |v| {
            (v.fold.reached.clone(), v.finished && v.at_frontier())
        });
        let at_end = view.finished && view.at_frontier();
        if at_end {
            self.playing = false;
        }
        self.announce = announcement(&view);
        let new_steps: Vec<(usize, String)> = view
            .fold
            .reached
            .iter()
            .filter(|i| !was_reached.contains(i))
            .filter_map(|&i| view.steps.get(i).map(|t| (i, t.clone())))
            .collect();
        self.view = Some(Rc::new(view));
        if let Some(state) = self.state() {
            for (i, text) in new_steps {
                self.send_event(Outgoing::event(
                    "narration",
                    &state,
                    vec![
                        ("step", Value::from(i as u64 + 1)),
                        ("text", Value::Text(text)),
                    ],
                ));
            }
            if at_end && !was_at_end {
                self.send_event(Outgoing::event("finished", &state, Vec::new()));
            }
        }
    }

    /// The state the API reports.
    fn state(&self) -> Option<WidgetState> {
        let (run, view) = (self.run.as_ref()?, self.view.as_ref()?);
        Some(WidgetState {
            scenario: view.name.clone(),
            title: view.title.clone(),
            seed: view.seed,
            position: view.position,
            trace_length: view.trace_len,
            time: view.time,
            end_tick: view.end_tick,
            finished: view.finished,
            playing: self.playing,
            trace_hash: run.trace_hash(),
            narration_reached: view.fold.reached.len() as u64,
            narration_steps: view.steps.len() as u64,
            invariants: view.invariants_state(),
        })
    }

    /// Posts an unsolicited message to the parent if it may read it (`ready` and
    /// `resize` go to any parent: module docs of [`crate::embed_api`]).
    fn send(&self, message: &Outgoing, public: bool) {
        let Some(host) = &self.host else {
            return;
        };
        let target = match (&host.origin, host.allowed) {
            (Some(o), true) => o.as_str(),
            (Some(o), false) if public => o.as_str(),
            (None, _) if public => "*",
            _ => return,
        };
        post_to(
            &host.parent,
            &to_js(&message.value(&self.params.id)),
            target,
        );
    }

    fn send_event(&self, message: Outgoing) {
        self.send(&message, false);
    }

    /// Starts playing (from the start if at the end).
    fn play(&mut self, ctx: &Context<Self>) {
        let Some(run) = self.run.as_mut() else {
            return;
        };
        if run.at_end() {
            run.to_start();
            self.refresh();
        }
        self.playing = true;
        self.autoplay_held = false;
        self.generation += 1;
        self.schedule(ctx);
        if let Some(state) = self.state() {
            self.send_event(Outgoing::event("play", &state, Vec::new()));
        }
    }

    fn pause(&mut self) {
        if !self.playing {
            return;
        }
        self.playing = false;
        self.generation += 1;
        if let Some(state) = self.state() {
            self.send_event(Outgoing::event("pause", &state, Vec::new()));
        }
    }

    fn schedule(&self, ctx: &Context<Self>) {
        let (link, generation) = (ctx.link().clone(), self.generation);
        spawn_local(async move {
            crate::timer::sleep_ms(PLAY_INTERVAL_MS).await;
            link.send_message(Msg::Tick(generation));
        });
    }

    /// Moves the run (pausing first) and refreshes.
    fn move_run(&mut self, f: impl FnOnce(&mut EmbedRun)) {
        self.pause();
        if let Some(run) = self.run.as_mut() {
            f(run);
        }
        self.refresh();
    }

    /// Handles a `message` event: ignored unless from an allowed origin; a malformed one
    /// gets an error reply.
    fn handle_message(&mut self, ctx: &Context<Self>, event: &MessageEvent) {
        let origin = event.origin();
        if !self.params.allows(&origin, &self.own_origin) {
            return;
        }
        let Some(source) = event.source().map(JsValue::from) else {
            return;
        };
        // The parent's first request tells its origin when nothing else did.
        if let Some(host) = self.host.as_mut() {
            if Object::is(&host.parent, &source) {
                host.origin = Some(origin.clone());
                host.allowed = true;
            }
        }
        let reply = match read_fields(&event.data()) {
            Err(e) => Outgoing::error(None, &e),
            Ok(fields) => match parse_request(&fields, &SPEEDS) {
                Err((id, e)) => Outgoing::error(id.as_ref(), &e),
                Ok(incoming) => self.execute(ctx, incoming.id.as_ref(), &incoming.request),
            },
        };
        post_to(&source, &to_js(&reply.value(&self.params.id)), &origin);
    }

    /// Carries out a parsed request; the reply.
    fn execute(
        &mut self,
        ctx: &Context<Self>,
        id: Option<&MessageId>,
        request: &Request,
    ) -> Outgoing {
        match request {
            Request::Play { speed } => {
                if let Some(s) = speed {
                    self.speed = *s;
                }
                if !self.playing {
                    self.play(ctx);
                }
            }
            Request::Pause => self.pause(),
            Request::Step => self.move_run(EmbedRun::step),
            Request::Seek(target) => {
                let target = *target;
                self.move_run(|r| match target {
                    SeekTarget::Start => r.to_start(),
                    SeekTarget::End => r.to_end(),
                    SeekTarget::Position(n) => r.seek(n),
                });
            }
            Request::Load { scenario, seed } => {
                self.pause();
                if let Err(e) = self.load(scenario, *seed) {
                    let error = ApiError::new(ErrorCode::LoadFailed, e);
                    self.error = Some(format!("Could not load the scenario: {}", error.message));
                    return Outgoing::error(id, &error);
                }
                if let Some(state) = self.state() {
                    self.send_event(Outgoing::event("loaded", &state, Vec::new()));
                }
            }
            Request::GetState => {}
        }
        match self.state() {
            Some(state) => Outgoing::reply(id, request, &state),
            None => Outgoing::error(
                id,
                &ApiError::new(ErrorCode::LoadFailed, "no scenario is loaded"),
            ),
        }
    }

    fn measure(&mut self) {
        if let Some(h) = height_of(&self.root) {
            if h != self.height && h > 0 {
                self.height = h;
                self.send(&Outgoing::resize(h), true);
            }
        }
    }

    fn observe(&mut self, ctx: &Context<Self>) {
        let Some(el) = self.root.cast::<web_sys::Element>() else {
            return;
        };
        let link = ctx.link().clone();
        let closure = Closure::<dyn FnMut()>::new(move || link.send_message(Msg::Measure));
        if let Ok(observer) = ResizeObserver::new(closure.as_ref().unchecked_ref()) {
            observer.observe(&el);
            self.observer = Some(Observer {
                observer,
                _closure: closure,
            });
        }
    }
}

/// The live region's sentence: the newest narration step reached.
fn announcement(run: &RunView) -> String {
    match &run.fold.narration {
        Some((i, text)) => format!("Step {} of {}: {text}", i + 1, run.steps.len()),
        None => String::new(),
    }
}

/// The parent window and its origin, when the widget is in a frame.
fn find_host(params: &EmbedParams, own_origin: &str) -> Option<Host> {
    let window = web_sys::window()?;
    let parent: JsValue = window.parent().ok().flatten()?.into();
    if Object::is(&parent, &window) {
        return None;
    }
    // `location.ancestorOrigins` (Chromium, WebKit) is not in web-sys: read it by name.
    let ancestor = Reflect::get(&window.location(), &JsValue::from_str("ancestorOrigins"))
        .ok()
        .filter(|list| list.is_object())
        .and_then(|list| Reflect::get(&list, &JsValue::from_f64(0.0)).ok())
        .and_then(|o| o.as_string());
    let origin = ancestor
        .or_else(|| {
            window
                .document()
                .map(|d| d.referrer())
                .filter(|r| !r.is_empty())
        })
        .and_then(|url| origin_of_url(&url));
    let allowed = origin
        .as_deref()
        .is_some_and(|o| params.allows(o, own_origin));
    Some(Host {
        parent,
        origin,
        allowed,
    })
}

impl Component for EmbedApp {
    type Message = Msg;
    type Properties = ();

    fn create(ctx: &Context<Self>) -> Self {
        let window = web_sys::window();
        let location = window.as_ref().map(web_sys::Window::location);
        let search = location
            .as_ref()
            .and_then(|l| l.search().ok())
            .unwrap_or_default();
        let own_origin = location
            .as_ref()
            .and_then(|l| l.origin().ok())
            .unwrap_or_default();
        let params = EmbedParams::parse(&search);
        if let Some(root) = window
            .as_ref()
            .and_then(web_sys::Window::document)
            .and_then(|d| d.document_element())
        {
            let _ = root.set_attribute("data-theme", params.theme.as_str());
        }
        let listener = window.as_ref().and_then(|w| {
            let link = ctx.link().clone();
            let closure = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
                link.send_message(Msg::Message(e));
            });
            w.add_event_listener_with_callback("message", closure.as_ref().unchecked_ref())
                .ok()
                .map(|()| Listener { closure })
        });
        let host = find_host(&params, &own_origin);
        let mut app = EmbedApp {
            speed: params.speed,
            autoplay_held: params.autoplay && prefers_reduced_motion(),
            own_origin,
            host,
            run: None,
            view: None,
            playing: false,
            generation: 0,
            error: None,
            announce: String::new(),
            height: 0,
            root: NodeRef::default(),
            _listener: listener,
            observer: None,
            params,
        };
        let source = ScenarioSource::Library(app.params.scenario.clone());
        if let Err(e) = app.load(&source, app.params.seed) {
            // The seed made the scenario fail to start: try its own seed.
            let first = format!("Could not load {}: {e}", app.params.scenario);
            if let Err(e) = app.load(&source, None) {
                app.error = Some(format!("{first}; with its own seed: {e}"));
            } else {
                app.error = Some(format!("{first}; showing its own seed instead."));
            }
        }
        app
    }

    fn update(&mut self, ctx: &Context<Self>, msg: Msg) -> bool {
        match msg {
            Msg::Message(event) => {
                self.handle_message(ctx, &event);
                true
            }
            Msg::Tick(generation) => {
                if generation != self.generation || !self.playing {
                    return false;
                }
                let speed = self.speed;
                if let Some(run) = self.run.as_mut() {
                    run.play(speed);
                }
                self.refresh();
                if self.playing {
                    self.schedule(ctx);
                } else if let Some(state) = self.state() {
                    // Played to the end.
                    self.send_event(Outgoing::event("pause", &state, Vec::new()));
                }
                true
            }
            Msg::TogglePlay => {
                if self.playing {
                    self.pause();
                } else {
                    self.play(ctx);
                }
                true
            }
            Msg::Step => {
                self.move_run(EmbedRun::step);
                true
            }
            Msg::ToStart => {
                self.move_run(EmbedRun::to_start);
                true
            }
            Msg::ToEnd => {
                self.move_run(EmbedRun::to_end);
                true
            }
            Msg::Scrub(v) => {
                self.move_run(|r| r.seek(v));
                true
            }
            Msg::Measure => {
                self.measure();
                false
            }
        }
    }

    fn rendered(&mut self, ctx: &Context<Self>, first_render: bool) {
        if first_render {
            self.observe(ctx);
            self.measure();
            let state = self.state();
            let visible = self.host.as_ref().is_some_and(|h| h.allowed);
            self.send(&Outgoing::ready(state.as_ref().filter(|_| visible)), true);
            for problem in &self.params.problems {
                let e = ApiError::new(ErrorCode::BadParameter, problem.clone());
                self.send_event(Outgoing::error(None, &e));
            }
            if let Some(message) = &self.error {
                let e = ApiError::new(ErrorCode::LoadFailed, message.clone());
                self.send_event(Outgoing::error(None, &e));
            }
            if self.params.autoplay && !self.autoplay_held {
                self.play(ctx);
            }
        } else {
            self.measure();
        }
    }

    fn view(&self, ctx: &Context<Self>) -> Html {
        let view = self.view.as_deref();
        let attr = |f: fn(&RunView) -> String| view.map(f).unwrap_or_default();
        let panel = self.params.panel;
        let controls = self.params.controls;
        let link = ctx.link();
        let on_keydown = controls.then(|| {
            link.batch_callback(|e: KeyboardEvent| {
                if e.ctrl_key() || e.alt_key() || e.meta_key() {
                    return None;
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
                let msg = match shortcut(&e.key(), &tag, &kind)? {
                    Shortcut::TogglePlay => Msg::TogglePlay,
                    Shortcut::Forward => Msg::Step,
                    Shortcut::Start => Msg::ToStart,
                    Shortcut::End => Msg::ToEnd,
                    // The widget has no step back (it never branches; scrub instead).
                    Shortcut::Back => return None,
                };
                e.prevent_default();
                Some(msg)
            })
        });
        let at_end = view.is_some_and(|r| r.finished && r.at_frontier());
        let off = |allowed: bool| (!allowed).to_string();
        html! {
            <main class="embed" ref={self.root.clone()} data-testid="embed"
                onkeydown={on_keydown}
                data-widget={self.params.id.clone()}
                data-name={attr(|r| r.name.clone())}
                data-position={attr(|r| r.position.to_string())}
                data-trace-len={attr(|r| r.trace_len.to_string())}
                data-finished={attr(|r| r.finished.to_string())}
                data-playing={self.playing.to_string()}
                data-panel={panel.as_str()}
                data-theme={self.params.theme.as_str()}>
                if !self.params.problems.is_empty() {
                    <div class="embed-problems" role="status" data-testid="embed-problems">
                        <p>{ "This widget's link has problems; the defaults are used instead:" }</p>
                        <ul>
                            { for self.params.problems.iter().map(|p| html! { <li>{ p }</li> }) }
                        </ul>
                    </div>
                }
                if let Some(message) = &self.error {
                    <div class="alert" role="alert"><p>{ message }</p></div>
                }
                <header class="embed-head">
                    <h1 class="embed-title">
                        <strong>{ view.map(|r| r.title.clone()).unwrap_or_default() }</strong>
                        if let Some(r) = view {
                            <span class="muted">{ format!(" · seed {} · tick {} of {}", r.seed, r.time, r.end_tick) }</span>
                        }
                    </h1>
                    <a class="embed-open" href="../" target="_blank" rel="noopener">{ "Open Logspine" }</a>
                </header>
                if self.autoplay_held {
                    <p class="muted embed-note">
                        { "Autoplay is off because your system asks for reduced motion. Press Play to run the scenario." }
                    </p>
                }
                if controls {
                    <div class="embed-controls">
                        <div class="buttons scenario-transport">
                            <button type="button" class="secondary"
                                onclick={link.callback(|_: MouseEvent| Msg::ToStart)}
                                aria-disabled={off(view.is_some_and(|r| r.position > r.start))}>
                                { "Back to the start" }
                            </button>
                            <button type="button" class="play"
                                onclick={link.callback(|_: MouseEvent| Msg::TogglePlay)}
                                aria-keyshortcuts="Space K">
                                { if self.playing { "Pause" } else { "Play" } }
                            </button>
                            <button type="button" onclick={link.callback(|_: MouseEvent| Msg::Step)}
                                aria-disabled={off(!at_end)} aria-keyshortcuts="ArrowRight">
                                { "Step forward" }
                            </button>
                        </div>
                        if let Some(r) = view {
                            { scrubber(r, link.batch_callback(|e: InputEvent| {
                                let input: HtmlInputElement = e.target_unchecked_into();
                                input.value().parse::<u64>().ok().map(Msg::Scrub)
                            })) }
                        }
                    </div>
                }
                <div class={classes!("embed-panels", (panel == Panel::All).then_some("all"))}>
                    if panel.shows(Panel::Narration) {
                        <section class="panel scenario-narration" aria-labelledby="scenario-narration-heading">
                            <h2 id="scenario-narration-heading">{ "Narration" }</h2>
                            { narration(view, &self.announce) }
                        </section>
                    } else {
                        // The live region stays, so a screen reader still hears each step.
                        <p class="visually-hidden" aria-live="polite" aria-atomic="true">{ &self.announce }</p>
                    }
                    if let Some(r) = view {
                        if panel.shows(Panel::World) { { world_panel(r, LEVELS) } }
                        if panel.shows(Panel::Keys) { { keys_panel(r, LEVELS) } }
                        if panel.shows(Panel::Events) { { events_panel(r, LEVELS) } }
                    }
                </div>
            </main>
        }
    }
}
