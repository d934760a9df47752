//! The page's frame around the views: the section bar (every view can be collapsed and
//! expanded; a collapsed view keeps running, it is only hidden; the first view is mounted
//! at once and the others one task after another once it says it is interactive, so it
//! does not wait for the rest), the theme switch (system, light, dark), the keyboard shortcuts and the help overlay that lists them. The settings
//! (theme, collapsed sections) survive a reload in `localStorage` under
//! [`SETTINGS_KEY`]; a malformed stored value is ignored, never an error.
//!
//! The pure part — [`Settings`], its text encoding and [`global_shortcut`] — is tested
//! natively; the components only wire it to the DOM.
//!
//! # Keyboard
//! Anywhere outside a text field: `?` opens the help overlay (Escape closes it and returns
//! focus where it was), `t` cycles the theme, `1`–`9` expand the n-th section and move focus
//! to its heading. The views add their own keys (listed in the overlay).
//!
//! # DOM hooks
//! `nav[aria-label="Sections"]` with one `button[aria-expanded][aria-controls]` per section
//! (named "Show …"/"Hide …" by its title); each section's wrapper `div.fold[id][hidden]`;
//! the theme button is named "Theme: system|light|dark"; the help button "Keyboard
//! shortcuts"; the overlay `[role=dialog][aria-label="Keyboard shortcuts"]`. The root
//! element carries `data-theme` (absent for system).

use logspine_core::vec_map::VecSet;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use yew::prelude::*;

/// Where the settings live in `localStorage`.
pub const SETTINGS_KEY: &str = "logspine:settings";

/// The colour theme.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Theme {
    /// Follow the system (`prefers-color-scheme`).
    #[default]
    System,
    /// Always light.
    Light,
    /// Always dark.
    Dark,
}

impl Theme {
    /// Its name, as stored and shown.
    pub fn name(self) -> &'static str {
        match self {
            Theme::System => "system",
            Theme::Light => "light",
            Theme::Dark => "dark",
        }
    }

    /// The next theme in the cycle system → light → dark → system.
    pub fn next(self) -> Theme {
        match self {
            Theme::System => Theme::Light,
            Theme::Light => Theme::Dark,
            Theme::Dark => Theme::System,
        }
    }

    fn parse(s: &str) -> Option<Theme> {
        [Theme::System, Theme::Light, Theme::Dark]
            .into_iter()
            .find(|t| t.name() == s)
    }
}

/// What the page remembers across reloads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// The theme.
    pub theme: Theme,
    /// The ids of the collapsed sections.
    pub collapsed: VecSet<String>,
    /// The ids of the panels expanded to their detailed views (`pipeline-index`, ...).
    pub expanded: VecSet<String>,
}

impl Settings {
    /// The stored form: `theme=dark;collapsed=db,lsm;expanded=pipeline-raft`.
    pub fn encode(&self) -> String {
        let list = |ids: &VecSet<String>| ids.iter().cloned().collect::<Vec<_>>();
        format!(
            "theme={};collapsed={};expanded={}",
            self.theme.name(),
            list(&self.collapsed).join(","),
            list(&self.expanded).join(",")
        )
    }

    /// Reads the stored form; unknown or malformed parts are ignored (a reload must never
    /// fail on what an older or newer page stored).
    pub fn decode(s: &str) -> Settings {
        let mut out = Settings::default();
        for part in s.split(';') {
            match part.split_once('=') {
                Some(("theme", v)) => out.theme = Theme::parse(v).unwrap_or_default(),
                Some(("collapsed", v)) => out.collapsed = ids(v),
                Some(("expanded", v)) => out.expanded = ids(v),
                _ => {}
            }
        }
        out
    }
}

/// The well-formed section or panel ids in a stored comma-separated list.
fn ids(list: &str) -> VecSet<String> {
    list.split(',')
        .filter(|id| is_section_id(id))
        .map(str::to_owned)
        .collect()
}

/// A section id is short, lower-case ASCII letters, digits and dashes.
fn is_section_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 32
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A page-wide key's meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GlobalKey {
    /// Open or close the help overlay.
    Help,
    /// Close the help overlay.
    Close,
    /// Cycle the theme.
    Theme,
    /// Go to the n-th section (0-based).
    Section(usize),
}

/// What a key pressed with focus on an element `tag` (lower case) of input `kind` means
/// page-wide; `None` inside text fields (typing `t` in a key box must type a `t`) and for
/// keys with Ctrl, Alt or Meta (`modified`).
pub fn global_shortcut(key: &str, tag: &str, kind: &str, modified: bool) -> Option<GlobalKey> {
    if key == "Escape" {
        return Some(GlobalKey::Close);
    }
    let typing = matches!(tag, "textarea" | "select")
        || (tag == "input"
            && !matches!(kind, "button" | "checkbox" | "radio" | "range" | "submit"));
    if modified || typing {
        return None;
    }
    match key {
        "?" => Some(GlobalKey::Help),
        "t" | "T" => Some(GlobalKey::Theme),
        d if d.len() == 1 && ("1"..="9").contains(&d) => {
            Some(GlobalKey::Section(usize::from(d.as_bytes()[0] - b'1')))
        }
        _ => None,
    }
}

/// The keys the help overlay lists: (keys, what they do, where).
pub const SHORTCUTS: &[(&str, &str, &str)] = &[
    ("?", "Open this list", "anywhere"),
    ("Esc", "Close this list", "anywhere"),
    ("t", "Switch theme: system, light, dark", "anywhere"),
    ("1 – 9", "Go to a section (and expand it)", "anywhere"),
    ("Tab / Shift+Tab", "Move between controls", "anywhere"),
    (
        "Enter",
        "Append / write the value typed",
        "in a key or value box",
    ),
    ("Space or k", "Play or pause", "scenario panel"),
    ("← / →", "Step back / forward one event", "scenario panel"),
    (
        "Home / End",
        "Go to the start / the end",
        "scenario timeline slider",
    ),
    (
        "k",
        "Play or pause",
        "on a timeline's buttons (under every view)",
    ),
    (
        "← / →",
        "Step back / forward",
        "on a timeline's buttons (under every view)",
    ),
    (
        "Home / End",
        "Back to the start / back to live",
        "on a timeline's buttons (under every view)",
    ),
    ("p", "Play or pause", "pipeline"),
    (".", "Step one tick", "pipeline"),
];

/// The `value` of the element an event (`change`, `input`) came from: a select's chosen
/// option, an input's text.
pub(crate) fn event_value(e: &Event) -> Option<String> {
    e.target()
        .and_then(|t| js_sys::Reflect::get(&t, &"value".into()).ok())
        .and_then(|v| v.as_string())
}

/// The page's `localStorage`, if the browser gives one (the shell's settings, the saved
/// session).
pub(crate) fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

fn load_settings() -> Settings {
    local_storage()
        .and_then(|s| s.get_item(SETTINGS_KEY).ok().flatten())
        .map(|s| Settings::decode(&s))
        .unwrap_or_default()
}

fn store_settings(s: &Settings) {
    // A full or disabled localStorage only loses the preference: nothing durable.
    if let Some(storage) = local_storage() {
        let _ = storage.set_item(SETTINGS_KEY, &s.encode());
    }
}

fn apply_theme(theme: Theme) {
    let Some(root) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.document_element())
    else {
        return;
    };
    let _ = match theme {
        Theme::System => root.remove_attribute("data-theme"),
        t => root.set_attribute("data-theme", t.name()),
    };
}

/// One section of the page: its id (for links, `aria-controls` and the stored setting),
/// its title and the view.
#[derive(Clone, PartialEq)]
pub struct Section {
    /// Short id (`db`, `lsm`, ...).
    pub id: &'static str,
    /// The title shown on its toggle.
    pub title: &'static str,
    /// The view.
    pub view: Html,
}

/// The shell's properties: the sections, in page order.
#[derive(Properties, PartialEq)]
pub struct ShellProps {
    /// The sections.
    pub sections: Vec<Section>,
}

/// A change to the settings (stored, then shown).
type SettingsUpdate = Callback<Box<dyn Fn(&mut Settings)>>;

/// Expands section `id` and, after the re-render that shows it, moves focus to its
/// heading and scrolls it into view: what the section keys do, and what a share link asks
/// of the section it opens in.
fn show_section(update: &SettingsUpdate, id: &'static str) {
    update.emit(Box::new(move |s: &mut Settings| {
        s.collapsed.remove(id);
    }));
    let cb = Closure::once_into_js(move || focus_section(id));
    if let Some(w) = web_sys::window() {
        let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(cb.unchecked_ref(), 0);
    }
}

fn focus_section(id: &str) {
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    // The first heading of the section's view, made focusable for the jump.
    let heading = doc.query_selector(&format!("#fold-{id} h2")).ok().flatten();
    if let Some(h) = heading.and_then(|h| h.dyn_into::<web_sys::HtmlElement>().ok()) {
        let _ = h.set_attribute("tabindex", "-1");
        let _ = h.focus();
        h.scroll_into_view();
    }
}

/// The page frame (module docs).
#[function_component(Shell)]
pub fn shell(props: &ShellProps) -> Html {
    let settings = use_state(load_settings);
    let help_open = use_state(|| false);
    // Where focus was before the overlay opened, to give it back on close.
    let return_focus = use_mut_ref(|| None::<web_sys::HtmlElement>);
    let close_ref = use_node_ref();

    {
        let theme = settings.theme;
        use_effect_with(theme, move |t| apply_theme(*t));
    }

    let update = {
        let settings = settings.clone();
        Callback::from(move |f: Box<dyn Fn(&mut Settings)>| {
            let mut s = (*settings).clone();
            f(&mut s);
            store_settings(&s);
            settings.set(s);
        })
    };

    let open_help = {
        let (help_open, return_focus) = (help_open.clone(), return_focus.clone());
        Callback::from(move |()| {
            *return_focus.borrow_mut() = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.active_element())
                .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok());
            help_open.set(true);
        })
    };
    let close_help = {
        let (help_open, return_focus) = (help_open.clone(), return_focus.clone());
        Callback::from(move |()| {
            help_open.set(false);
            if let Some(el) = return_focus.borrow_mut().take() {
                let _ = el.focus();
            }
        })
    };

    // Focus the overlay's close button when it opens.
    {
        let close_ref = close_ref.clone();
        use_effect_with(*help_open, move |open| {
            if *open {
                if let Some(b) = close_ref.cast::<web_sys::HtmlElement>() {
                    let _ = b.focus();
                }
            }
        });
    }

    // Page-wide keys: one listener on the document for the page's lifetime; it reads the
    // current state through the callbacks, which are refreshed on every render.
    let keys = use_mut_ref(|| None::<Callback<web_sys::KeyboardEvent>>);
    {
        let ids: Vec<&'static str> = props.sections.iter().map(|s| s.id).collect();
        let (update, open_help, close_help) =
            (update.clone(), open_help.clone(), close_help.clone());
        let help_is_open = *help_open;
        let close_ref = close_ref.clone();
        *keys.borrow_mut() = Some(Callback::from(move |e: web_sys::KeyboardEvent| {
            // The overlay is modal: its one control keeps the focus while it is open.
            if help_is_open && e.key() == "Tab" {
                e.prevent_default();
                if let Some(b) = close_ref.cast::<web_sys::HtmlElement>() {
                    let _ = b.focus();
                }
                return;
            }
            let el = e
                .target()
                .and_then(|t| t.dyn_into::<web_sys::Element>().ok());
            let (tag, kind) = el.map_or((String::new(), String::new()), |el| {
                (
                    el.tag_name().to_ascii_lowercase(),
                    el.get_attribute("type").unwrap_or_default(),
                )
            });
            let modified = e.ctrl_key() || e.alt_key() || e.meta_key();
            match global_shortcut(&e.key(), &tag, &kind, modified) {
                Some(GlobalKey::Help) => {
                    e.prevent_default();
                    if help_is_open {
                        close_help.emit(());
                    } else {
                        open_help.emit(());
                    }
                }
                Some(GlobalKey::Close) if help_is_open => {
                    e.prevent_default();
                    close_help.emit(());
                }
                Some(GlobalKey::Theme) if !help_is_open => {
                    update.emit(Box::new(|s: &mut Settings| s.theme = s.theme.next()));
                }
                Some(GlobalKey::Section(n)) if !help_is_open => {
                    if let Some(id) = ids.get(n).copied() {
                        e.prevent_default();
                        show_section(&update, id);
                    }
                }
                _ => {}
            }
        }));
    }
    {
        let keys = keys.clone();
        use_effect_with((), move |_| {
            let listener =
                Closure::<dyn Fn(web_sys::KeyboardEvent)>::new(move |e: web_sys::KeyboardEvent| {
                    if let Some(cb) = keys.borrow().as_ref() {
                        cb.emit(e);
                    }
                });
            let doc = web_sys::window().and_then(|w| w.document());
            if let Some(d) = &doc {
                let _ = d
                    .add_event_listener_with_callback("keydown", listener.as_ref().unchecked_ref());
            }
            move || {
                if let Some(d) = doc {
                    let _ = d.remove_event_listener_with_callback(
                        "keydown",
                        listener.as_ref().unchecked_ref(),
                    );
                }
            }
        });
    }

    let theme = settings.theme;
    let on_theme = {
        let update = update.clone();
        Callback::from(move |_: MouseEvent| {
            update.emit(Box::new(|s: &mut Settings| s.theme = s.theme.next()));
        })
    };
    let on_help = {
        let open_help = open_help.clone();
        Callback::from(move |_: MouseEvent| open_help.emit(()))
    };

    let toggles = props.sections.iter().enumerate().map(|(i, s)| {
        let open = !settings.collapsed.contains(s.id);
        let id = s.id;
        let onclick = {
            let update = update.clone();
            Callback::from(move |_: MouseEvent| {
                update.emit(Box::new(move |st: &mut Settings| {
                    if !st.collapsed.remove(id) {
                        st.collapsed.insert(id.to_owned());
                    }
                }));
            })
        };
        let label = format!(
            "{} {} (key {})",
            if open { "Hide" } else { "Show" },
            s.title,
            i + 1
        );
        html! {
            <li>
                <button type="button" class="fold-toggle" aria-expanded={open.to_string()}
                    aria-controls={format!("fold-{id}")} aria-label={label} {onclick}>
                    <span aria-hidden="true">{ if open { "▾ " } else { "▸ " } }</span>
                    { s.title }
                </button>
            </li>
        }
    });

    // Mount the first section at once and the others one task after another, once the
    // first has said it is interactive (through [`ShellContext::first_ready`]; or after
    // [`FIRST_VIEW_WAIT_MS`] if it never does): each view starts an engine when it mounts,
    // and starting them while the first was opening IndexedDB and recovering kept it from
    // becoming interactive until they were done.
    let mounted = use_state(|| 1usize);
    let first_ready = use_state(|| false);
    let context = ShellContext {
        expanded: settings.expanded.clone(),
        toggle: {
            let update = update.clone();
            Callback::from(move |id: &'static str| {
                update.emit(Box::new(move |s: &mut Settings| {
                    if !s.expanded.remove(id) {
                        s.expanded.insert(id.to_owned());
                    }
                }));
            })
        },
        first_ready: {
            let first_ready = first_ready.clone();
            Callback::from(move |()| first_ready.set(true))
        },
        show: {
            let update = update.clone();
            Callback::from(move |id: &'static str| show_section(&update, id))
        },
    };
    {
        let first_ready = first_ready.clone();
        use_effect_with((), move |_| {
            let cb = Closure::once_into_js(move || first_ready.set(true));
            if let Some(w) = web_sys::window() {
                let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(
                    cb.unchecked_ref(),
                    FIRST_VIEW_WAIT_MS,
                );
            }
        });
    }
    {
        let (mounted, total) = (mounted.clone(), props.sections.len());
        use_effect_with((*mounted, *first_ready), move |(m, ready)| {
            if *ready && *m < total {
                let next = *m + 1;
                let cb = Closure::once_into_js(move || mounted.set(next));
                if let Some(w) = web_sys::window() {
                    let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(
                        cb.unchecked_ref(),
                        0,
                    );
                }
            }
        });
    }
    let folds = props.sections.iter().enumerate().map(|(i, s)| {
        let open = !settings.collapsed.contains(s.id);
        html! {
            <div class="fold" id={format!("fold-{}", s.id)} hidden={!open}>
                if i < *mounted {
                    { s.view.clone() }
                } else {
                    <p class="muted">{ format!("Starting {}…", s.title) }</p>
                }
            </div>
        }
    });

    let overlay = if *help_open {
        let on_close = {
            let close_help = close_help.clone();
            Callback::from(move |_: MouseEvent| close_help.emit(()))
        };
        let rows = SHORTCUTS.iter().map(|(k, what, wher)| {
            html! { <tr><th scope="row"><kbd>{ *k }</kbd></th><td>{ *what }</td><td>{ *wher }</td></tr> }
        });
        html! {
            <div class="help-backdrop">
                <div class="help" role="dialog" aria-modal="true" aria-label="Keyboard shortcuts">
                    <h2>{ "Keyboard shortcuts" }</h2>
                    <table>
                        <thead><tr><th scope="col">{ "Key" }</th><th scope="col">{ "Does" }</th>
                            <th scope="col">{ "Where" }</th></tr></thead>
                        <tbody>{ for rows }</tbody>
                    </table>
                    <p class="muted">{ "Every control is also reachable with Tab; buttons work with Enter and Space." }</p>
                    <button type="button" ref={close_ref} onclick={on_close}>{ "Close" }</button>
                </div>
            </div>
        }
    } else {
        Html::default()
    };

    html! {
        <>
            <div class="shell-bar">
                <nav aria-label="Sections">
                    <ul class="fold-list">{ for toggles }</ul>
                </nav>
                <div class="shell-tools">
                    <button type="button" onclick={on_theme}
                        aria-label={format!("Theme: {} (key t)", theme.name())}>
                        { format!("Theme: {}", theme.name()) }
                    </button>
                    <button type="button" onclick={on_help} aria-label="Keyboard shortcuts"
                        aria-haspopup="dialog" aria-keyshortcuts="?">{ "Shortcuts ?" }</button>
                </div>
            </div>
            <ContextProvider<ShellContext> {context}>
                { for folds }
            </ContextProvider<ShellContext>>
            { overlay }
        </>
    }
}

/// The longest the shell waits for the first section to say it is interactive before it
/// mounts the others anyway (a collapsed or failing first view).
pub const FIRST_VIEW_WAIT_MS: i32 = 1500;

/// Given to the sections (one context: each context type is its own copy of Yew's
/// generic code in the wasm).
#[derive(Clone, PartialEq)]
pub struct ShellContext {
    /// The ids of the panels expanded to their detailed views (kept in the [`Settings`],
    /// so a reload keeps them).
    pub expanded: VecSet<String>,
    /// Expands the panel with this id, or collapses it if it is expanded.
    pub toggle: Callback<&'static str>,
    /// The first section calls it once it is interactive, and the shell then mounts the
    /// others (calls from the others, or repeated calls, change nothing).
    pub first_ready: Callback<()>,
    /// Expands the section with this id and moves focus to its heading (a page opened
    /// from a share link shows the run it links to, or what was wrong with the link).
    pub show: Callback<&'static str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip() {
        let s = Settings {
            theme: Theme::Dark,
            collapsed: ["db".to_owned(), "raft".to_owned()].into_iter().collect(),
            expanded: ["pipeline-index".to_owned()].into_iter().collect(),
        };
        assert_eq!(
            s.encode(),
            "theme=dark;collapsed=db,raft;expanded=pipeline-index"
        );
        assert_eq!(Settings::decode(&s.encode()), s);
        assert_eq!(
            Settings::decode(&Settings::default().encode()),
            Settings::default()
        );
    }

    #[test]
    fn malformed_settings_are_ignored_not_errors() {
        for junk in [
            "",
            ";;;",
            "theme=purple",
            "collapsed=<script>,DB,a b",
            "expanded=<img src=x>,,Pipeline",
            "\u{0}\u{ffff}",
            "theme",
        ] {
            let s = Settings::decode(junk);
            assert_eq!(s.theme, Theme::System, "{junk:?}");
            assert!(s.collapsed.is_empty(), "{junk:?}: {:?}", s.collapsed);
            assert!(s.expanded.is_empty(), "{junk:?}: {:?}", s.expanded);
        }
        let s = Settings::decode("collapsed=lsm,<b>;theme=light;future=1");
        assert_eq!(s.theme, Theme::Light);
        assert_eq!(s.collapsed.iter().collect::<Vec<_>>(), ["lsm"]);
    }

    #[test]
    fn theme_cycles_through_all_three() {
        let mut t = Theme::System;
        let mut seen = vec![];
        for _ in 0..3 {
            t = t.next();
            seen.push(t);
        }
        assert_eq!(seen, [Theme::Light, Theme::Dark, Theme::System]);
    }

    #[test]
    fn shortcuts_stay_out_of_text_fields() {
        assert_eq!(
            global_shortcut("?", "body", "", false),
            Some(GlobalKey::Help)
        );
        assert_eq!(
            global_shortcut("t", "button", "", false),
            Some(GlobalKey::Theme)
        );
        assert_eq!(
            global_shortcut("3", "div", "", false),
            Some(GlobalKey::Section(2))
        );
        assert_eq!(global_shortcut("t", "input", "text", false), None);
        assert_eq!(global_shortcut("t", "input", "", false), None);
        assert_eq!(global_shortcut("1", "textarea", "", false), None);
        assert_eq!(
            global_shortcut("t", "input", "range", false),
            Some(GlobalKey::Theme)
        );
        assert_eq!(global_shortcut("t", "body", "", true), None);
        assert_eq!(global_shortcut("0", "body", "", false), None);
        // Escape always closes, even from a text field.
        assert_eq!(
            global_shortcut("Escape", "input", "text", false),
            Some(GlobalKey::Close)
        );
    }
}
