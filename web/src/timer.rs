//! A `setTimeout` future, so the crate needs no timer dependency beyond `js-sys`.
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
