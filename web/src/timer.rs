//! A `setTimeout` future, so the crate needs no timer dependency beyond `js-sys`, and the
//! page's clock.
//!
//! Works on any global that has `setTimeout` (a window or a worker). Browser-only: natively
//! the crate is type-checked and its pure parts unit-tested, and nothing calls this.

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// Resolves after about `ms` milliseconds (at once when `ms` is 0 or there is no
/// `setTimeout`).
pub async fn sleep_ms(ms: u32) {
    if ms == 0 {
        return;
    }
    let global = js_sys::global();
    let Some(set_timeout) = Reflect::get(&global, &JsValue::from_str("setTimeout"))
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
    else {
        return;
    };
    let mut scheduled = true;
    let promise = Promise::new(&mut |resolve, _reject| {
        scheduled = set_timeout
            .call2(&global, &resolve, &JsValue::from(ms))
            .is_ok();
    });
    if scheduled {
        // A timer promise never rejects.
        let _ = JsFuture::from(promise).await;
    }
}

/// Milliseconds since the page loaded (`performance.now()`): the views' virtual time.
pub fn now_ms() -> u64 {
    let ms = web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now());
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a non-negative number of milliseconds well below 2^53"
    )]
    let ms = ms.max(0.0) as u64;
    ms
}
