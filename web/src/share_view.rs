//! The browser side of [`crate::share`] for the scenario panel: the page's URL fragment,
//! the saved session in `localStorage` ([`SESSION_KEY`]), downloading a run file and
//! reading an imported one, and opening a run from any of them with its trace checked.
//!
//! The session is the run's link (scenario, seed, hand-applied actions, position), saved
//! after every move; a reload — or a crash of the tab — reopens it by replaying, so the
//! timeline comes back exactly where it was. Storage that is full or disabled loses only
//! the saved position (the message says so), never the run on screen.

use logspine_core::world::TraceEvent;
use wasm_bindgen::JsCast;

use crate::scenario_run::ScenarioRun;
use crate::share::{RunFile, RunLink};
use crate::shell::local_storage;

/// Where the scenario panel's session lives in `localStorage`.
pub const SESSION_KEY: &str = "logspine:scenario-session";

fn window() -> Option<web_sys::Window> {
    web_sys::window()
}

/// The page's URL fragment (with its `#`), if any.
pub fn location_hash() -> Option<String> {
    window()?.location().hash().ok().filter(|h| h.len() > 1)
}

/// Removes the fragment from the address bar without reloading (the session now holds
/// the run, so a reload resumes it rather than reopening the link).
pub fn clear_hash() {
    let Some(w) = window() else { return };
    let (Ok(history), Ok(path), Ok(search)) =
        (w.history(), w.location().pathname(), w.location().search())
    else {
        return;
    };
    let _ = history.replace_state_with_url(
        &wasm_bindgen::JsValue::NULL,
        "",
        Some(&format!("{path}{search}")),
    );
}

/// The full share URL for a run: this page's address with the run in the fragment.
pub fn share_url(link: &RunLink) -> String {
    let Some(w) = window() else {
        return format!("#{}", link.to_fragment());
    };
    let l = w.location();
    format!(
        "{}{}{}#{}",
        l.origin().unwrap_or_default(),
        l.pathname().unwrap_or_default(),
        l.search().unwrap_or_default(),
        link.to_fragment()
    )
}

/// Saves the run as the session. `Err` with a message when storage refused (full,
/// disabled): the run on screen is unaffected.
pub fn save_session(link: &RunLink) -> Result<(), String> {
    let storage = local_storage().ok_or_else(|| {
        "This browser keeps no local storage here: the session will not survive a reload."
            .to_owned()
    })?;
    storage
        .set_item(SESSION_KEY, &link.to_fragment())
        .map_err(|_| {
            "Local storage is full or refused the write: the session will not survive a reload \
             (the run on screen is unaffected)."
                .to_owned()
        })
}

/// The saved session's link text, if any.
pub fn saved_session() -> Option<String> {
    local_storage()?.get_item(SESSION_KEY).ok().flatten()
}

/// Forgets the saved session (after it failed to open).
pub fn forget_session() {
    if let Some(s) = local_storage() {
        let _ = s.remove_item(SESSION_KEY);
    }
}

/// Opens a run from link text (a fragment, or a stored session). `Ok(None)`: not a link.
pub fn open_link(text: &str) -> Result<Option<ScenarioRun>, String> {
    match RunLink::from_fragment(text) {
        Ok(Some(link)) => ScenarioRun::from_link(&link).map(Some),
        Ok(None) => Ok(None),
        Err(e) => Err(e.0),
    }
}

/// Opens an imported run file: replays its actions, plays on until the file's whole trace
/// is recomputed, checks the hash, then goes to the file's position.
pub fn open_file(text: &str) -> Result<ScenarioRun, String> {
    let file = RunFile::from_json(text).map_err(|e| e.0)?;
    let events = file.trace.lines().count();
    let mut run = ScenarioRun::from_link(&file.link())?;
    run.to_end();
    while run.timeline().trace().len() < events && !run.timeline().finished() {
        run.play(64);
    }
    let trace: &[TraceEvent] = run.timeline().trace();
    if trace.len() < events {
        return Err(format!(
            "This run file records {events} events, but replaying it gives only {}: the file \
             was changed, or was made by an engine that behaves differently.",
            trace.len()
        ));
    }
    file.verify(&trace[..events]).map_err(|e| e.0)?;
    run.seek(file.position);
    Ok(run)
}

/// Offers `text` as a download named `name` (a JSON file). Whether it could.
pub fn download(name: &str, text: &str) -> bool {
    let Some(doc) = window().and_then(|w| w.document()) else {
        return false;
    };
    let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(text));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("application/json");
    let Ok(blob) = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options) else {
        return false;
    };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else {
        return false;
    };
    let ok = doc
        .create_element("a")
        .ok()
        .and_then(|a| a.dyn_into::<web_sys::HtmlAnchorElement>().ok())
        .map(|a| {
            a.set_href(&url);
            a.set_download(name);
            a.click();
        })
        .is_some();
    // Revoked once the download has started (a later task), not before.
    let revoke = wasm_bindgen::closure::Closure::once_into_js(move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    });
    if let Some(w) = window() {
        let _ =
            w.set_timeout_with_callback_and_timeout_and_arguments_0(revoke.unchecked_ref(), 10_000);
    }
    ok
}

/// The text of the first file chosen in a file input (`None`: none chosen, or unreadable).
pub async fn read_chosen_file(input: &web_sys::HtmlInputElement) -> Result<String, String> {
    let file = input
        .files()
        .and_then(|f| f.get(0))
        .ok_or_else(|| "No file was chosen.".to_owned())?;
    if file.size() > 64.0 * 1024.0 * 1024.0 {
        return Err(format!(
            "{} is {} MB; a run file is at most 64 MB.",
            file.name(),
            crate::decimal::fixed(file.size() / 1_048_576.0, 0)
        ));
    }
    let text = wasm_bindgen_futures::JsFuture::from(file.text())
        .await
        .map_err(|_| format!("{} could not be read.", file.name()))?;
    text.as_string()
        .ok_or_else(|| format!("{} is not text.", file.name()))
}
