//! [`transport`]: the timeline bar every view draws under itself — back to the start, step
//! back, play/pause, step forward, back to live, a speed choice, a scrub slider over the
//! recorded span with a marker for each crash, recovery, checkpoint, flush, compaction and
//! election, and a status line. It only draws and reports: the view owns the run (a
//! deterministic engine replayed from its seed and recorded inputs, or a `Timeline`) and
//! answers each callback by moving it.
//!
//! Keys on the bar's buttons: `k` plays or pauses, `←`/`→` step, `Home` goes back to the
//! start and `End` back to live (the slider and the speed radios keep their own keys).
//!
//! Positions are whatever the view counts in (ticks of virtual time, events), between
//! `start` and `end`. Element ids are prefixed with `id` so that several bars can share a
//! page; the controls are named for assistive technology (`label` names the group).

use yew::prelude::*;

/// Markers drawn on the track at most, the newest (the rest are still counted in the
/// summary).
pub const MAX_MARKERS_DRAWN: usize = 400;

/// A moment worth marking on the track.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportMarker {
    /// Where, in the bar's unit.
    pub at: u64,
    /// `crash`, `recovery`, `checkpoint`, `flush`, `compaction`, `election` (the CSS class
    /// that colours it; `.mark.<kind>` in style.css).
    pub kind: &'static str,
}

/// What the bar shows and whom it tells (module docs).
///
/// The bar is a function rather than a component: its callbacks are new on every render of
/// the view, so a component's props never compared equal and it redrew every time anyway.
#[derive(Clone)]
pub struct TransportProps {
    /// Prefix of the bar's element ids (`raft` gives `raft-scrub`, `raft-status`, ...).
    pub id: AttrValue,
    /// The group's accessible name, e.g. "Cluster timeline".
    pub label: AttrValue,
    /// First position.
    pub start: u64,
    /// Last recorded position (the live end).
    pub end: u64,
    /// The position shown.
    pub position: u64,
    /// Markers on the track.
    pub markers: Vec<TransportMarker>,
    /// Whether the run is playing.
    pub playing: bool,
    /// The speeds offered: value and its label.
    pub speeds: Vec<(u32, AttrValue)>,
    /// The speed chosen.
    pub speed: u32,
    /// Status line under the slider (position in words, what happens next).
    pub status: AttrValue,
    /// The slider's `aria-valuetext`.
    pub value_text: AttrValue,
    /// Play or pause (the button shows which).
    pub on_play_pause: Callback<()>,
    /// Step back to the previous moment something happened.
    pub on_step_back: Callback<()>,
    /// Step forward to the next moment something happened.
    pub on_step_forward: Callback<()>,
    /// Scrubbed or jumped (start, a marker) to a position.
    pub on_seek: Callback<u64>,
    /// Speed chosen.
    pub on_speed: Callback<u32>,
    /// Back to live (the end); `None` hides the button.
    pub on_live: Option<Callback<()>>,
    /// List the newest markers as "Go to" buttons under the slider (the track's marks
    /// are not focusable); off for a view that lists them itself.
    pub list_markers: bool,
    /// A listed marker chosen: go to just after it (`None`: [`TransportProps::on_seek`]
    /// with its position, right for views whose every position is a moment).
    pub on_marker: Option<Callback<u64>>,
}

/// Markers listed as buttons at most (the newest).
pub const MARKERS_LISTED: usize = 8;

/// Marker kinds, in the order summaries list them.
pub const MARKER_KINDS: [&str; 6] = [
    "crash",
    "recovery",
    "checkpoint",
    "flush",
    "compaction",
    "election",
];

/// "2 crash, 1 election": how many markers of each kind (empty when none).
pub fn marker_summary(markers: &[TransportMarker]) -> String {
    MARKER_KINDS
        .iter()
        .filter_map(|k| {
            let n = markers.iter().filter(|m| m.kind == *k).count();
            (n > 0).then(|| format!("{n} {k}"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a key does on the bar's buttons.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportKey {
    /// `k`: play or pause.
    PlayPause,
    /// `←`: step back.
    StepBack,
    /// `→`: step forward.
    StepForward,
    /// `Home`: back to the start.
    Start,
    /// `End`: back to live (the end).
    End,
}

/// The bar's key for `key` pressed on an element `tag` (lower case): only on its buttons
/// (the slider and the speed radios keep their own arrows, Home and End; text fields are
/// elsewhere), and never with a modifier.
pub fn transport_key(key: &str, tag: &str, modified: bool) -> Option<TransportKey> {
    if modified || tag != "button" {
        return None;
    }
    match key {
        "k" | "K" => Some(TransportKey::PlayPause),
        "ArrowLeft" => Some(TransportKey::StepBack),
        "ArrowRight" => Some(TransportKey::StepForward),
        "Home" => Some(TransportKey::Start),
        "End" => Some(TransportKey::End),
        _ => None,
    }
}

/// The x of position `v` on a track 1000 wide spanning `start..=end`.
pub fn track_x(start: u64, end: u64, v: u64) -> u64 {
    let span = end.saturating_sub(start).max(1);
    (v.saturating_sub(start).min(span) * 1000) / span
}

/// The timeline bar (module docs).
pub fn transport(p: TransportProps) -> Html {
    let id = |s: &str| format!("{}-{s}", p.id);
    let off = |enabled: bool| (!enabled).then_some(AttrValue::Static("true"));
    let can_back = p.position > p.start;
    let can_forward = p.position < p.end;
    let press = |cb: &Callback<()>, enabled: bool| {
        let cb = cb.clone();
        Callback::from(move |_: MouseEvent| {
            if enabled {
                cb.emit(());
            }
        })
    };
    let on_start = {
        let (cb, start) = (p.on_seek.clone(), p.start);
        Callback::from(move |_: MouseEvent| {
            if can_back {
                cb.emit(start);
            }
        })
    };
    let on_scrub = {
        let cb = p.on_seek.clone();
        Callback::from(move |e: InputEvent| {
            let input: web_sys::HtmlInputElement = e.target_unchecked_into();
            if let Ok(v) = input.value().parse::<u64>() {
                cb.emit(v);
            }
        })
    };
    let on_keydown = {
        let p = p.clone();
        Callback::from(move |e: KeyboardEvent| {
            use wasm_bindgen::JsCast;
            let tag = e
                .target()
                .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                .map(|el| el.tag_name().to_ascii_lowercase())
                .unwrap_or_default();
            let modified = e.ctrl_key() || e.alt_key() || e.meta_key() || e.shift_key();
            let Some(k) = transport_key(&e.key(), &tag, modified) else {
                return;
            };
            e.prevent_default();
            // Keep the key from the view's own shortcuts too.
            e.stop_propagation();
            match k {
                TransportKey::PlayPause => p.on_play_pause.emit(()),
                TransportKey::StepBack if p.position > p.start => p.on_step_back.emit(()),
                TransportKey::StepForward => p.on_step_forward.emit(()),
                TransportKey::Start if p.position > p.start => p.on_seek.emit(p.start),
                TransportKey::End if p.position < p.end => match &p.on_live {
                    Some(live) => live.emit(()),
                    None => p.on_seek.emit(p.end),
                },
                _ => {}
            }
        })
    };
    let x = |v: u64| track_x(p.start, p.end, v);
    let summary = marker_summary(&p.markers);
    html! {
        <div class="transport" role="group" aria-label={p.label.clone()} onkeydown={on_keydown}>
            <div class="buttons scenario-transport">
                <button type="button" class="secondary" onclick={on_start}
                    aria-disabled={off(can_back)} aria-keyshortcuts="Home">{ "Back to the start" }</button>
                <button type="button" onclick={press(&p.on_step_back, can_back)}
                    aria-disabled={off(can_back)} aria-keyshortcuts="ArrowLeft">{ "Step back" }</button>
                <button type="button" class="play" onclick={press(&p.on_play_pause, true)}
                    aria-pressed={if p.playing { "true" } else { "false" }} aria-keyshortcuts="K">
                    { if p.playing { "Pause" } else { "Play" } }
                </button>
                <button type="button" onclick={press(&p.on_step_forward, true)}
                    aria-keyshortcuts="ArrowRight">{ "Step forward" }</button>
                if let Some(live) = &p.on_live {
                    <button type="button" class="secondary" onclick={press(live, can_forward)}
                        aria-disabled={off(can_forward)} aria-keyshortcuts="End">{ "Back to live" }</button>
                }
            </div>
            <fieldset class="scenario-speed">
                <legend>{ "Speed" }</legend>
                { for p.speeds.iter().map(|(s, label)| {
                    let (s, cb) = (*s, p.on_speed.clone());
                    let rid = id(&format!("speed-{s}"));
                    html! {
                        <label for={rid.clone()}>
                            <input type="radio" id={rid} name={id("speed")} value={s.to_string()}
                                checked={p.speed == s}
                                onchange={Callback::from(move |_: Event| cb.emit(s))} />
                            { label.clone() }
                        </label>
                    }
                }) }
            </fieldset>
            <div class="scrub">
                <label for={id("scrub")}>{ format!("Position in the {}", p.label.to_ascii_lowercase()) }</label>
                <svg class="scrub-track" viewBox="0 0 1000 20" preserveAspectRatio="none"
                    aria-hidden="true" focusable="false">
                    <rect class="scrub-rail" x="0" y="9" width="1000" height="2" />
                    <rect class="scrub-done" x="0" y="8" width={x(p.position).to_string()} height="4" />
                    { for p.markers[p.markers.len().saturating_sub(MAX_MARKERS_DRAWN)..].iter().map(|m| html! {
                        <rect class={classes!("mark", m.kind)}
                            x={x(m.at).saturating_sub(2).to_string()} y="1" width="4" height="18" />
                    }) }
                </svg>
                <input id={id("scrub")} type="range" min={p.start.to_string()}
                    max={p.end.max(p.start).to_string()} step="1"
                    value={p.position.to_string()} aria-valuetext={p.value_text.clone()}
                    aria-describedby={id("status")} oninput={on_scrub} />
                <p id={id("status")} class="scenario-status" data-testid={id("status")}>
                    { p.status.clone() }
                    if !summary.is_empty() {
                        <span class="muted">{ format!(" Markers: {summary}.") }</span>
                    }
                </p>
                if p.list_markers && !p.markers.is_empty() {
                    { marker_buttons(&p) }
                }
            </div>
        </div>
    }
}

/// The newest markers, newest first: each a button that seeks to it.
fn marker_buttons(p: &TransportProps) -> Html {
    let mut newest: Vec<&TransportMarker> = p.markers.iter().collect();
    logspine_core::sort::sort_by(&mut newest, |a, b| b.at.cmp(&a.at));
    newest.truncate(MARKERS_LISTED);
    html! {
        <details class="scenario-markers transport-markers">
            <summary>{ format!("Go to a marker (the newest {} of {})", newest.len(), p.markers.len()) }</summary>
            <ol aria-label={format!("Markers of the {}", p.label.to_ascii_lowercase())}>
                { for newest.into_iter().map(|m| {
                    let (cb, at) = (p.on_marker.clone().unwrap_or_else(|| p.on_seek.clone()), m.at);
                    html! {
                        <li class={classes!("marker", m.kind)} data-kind={m.kind} data-at={at.to_string()}>
                            <button type="button" class="secondary"
                                onclick={Callback::from(move |_: MouseEvent| cb.emit(at))}>
                                { format!("Go to the {} at {at}", m.kind) }
                            </button>
                        </li>
                    }
                }) }
            </ol>
        </details>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn track_positions_are_clamped_and_proportional() {
        assert_eq!(track_x(10, 20, 10), 0);
        assert_eq!(track_x(10, 20, 15), 500);
        assert_eq!(track_x(10, 20, 20), 1000);
        assert_eq!(track_x(10, 20, 99), 1000);
        assert_eq!(track_x(10, 20, 0), 0);
        // An empty span does not divide by zero.
        assert_eq!(track_x(7, 7, 7), 0);
    }

    #[test]
    fn keys_act_only_on_the_bars_buttons_and_without_modifiers() {
        assert_eq!(
            transport_key("k", "button", false),
            Some(TransportKey::PlayPause)
        );
        assert_eq!(
            transport_key("K", "button", false),
            Some(TransportKey::PlayPause)
        );
        assert_eq!(
            transport_key("ArrowLeft", "button", false),
            Some(TransportKey::StepBack)
        );
        assert_eq!(
            transport_key("ArrowRight", "button", false),
            Some(TransportKey::StepForward)
        );
        assert_eq!(
            transport_key("Home", "button", false),
            Some(TransportKey::Start)
        );
        assert_eq!(
            transport_key("End", "button", false),
            Some(TransportKey::End)
        );
        // The slider and the radios keep their own keys; modifiers are the browser's.
        assert_eq!(transport_key("ArrowLeft", "input", false), None);
        assert_eq!(transport_key("End", "input", false), None);
        assert_eq!(transport_key("k", "button", true), None);
        assert_eq!(transport_key("x", "button", false), None);
    }

    #[test]
    fn summary_counts_each_kind_in_order() {
        let m = |at, kind| TransportMarker { at, kind };
        assert_eq!(marker_summary(&[]), "");
        assert_eq!(
            marker_summary(&[
                m(5, "election"),
                m(1, "crash"),
                m(9, "election"),
                m(3, "flush")
            ]),
            "1 crash, 1 flush, 2 election"
        );
    }
}
