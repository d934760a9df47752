//! The wasm runner of the Raft throughput benchmark (issue 5): the same rows as
//! `cargo run --profile bench -p logspine-bench -- raft`, timed with `performance.now()`.
//! Run with `cargo test --profile bench -p logspine-bench --target wasm32-unknown-unknown
//! --test wasm_raft -- --nocapture` under `wasm-bindgen-test-runner` (Node), or with
//! `WASM_BINDGEN_USE_BROWSER=1` (headless Chromium); `scripts/bench.sh` runs both.
#![cfg(target_arch = "wasm32")]

use wasm_bindgen::prelude::*;
use wasm_bindgen_test::{console_log, wasm_bindgen_test};

#[wasm_bindgen]
extern "C" {
    /// `performance.now()`: milliseconds, in Node and in browsers.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
}

#[wasm_bindgen_test]
fn raft_throughput() {
    let host =
        if js_sys::Reflect::has(&js_sys::global(), &JsValue::from_str("window")).unwrap_or(false) {
            "wasm (headless Chromium)"
        } else {
            "wasm (Node)"
        };
    let mut clock = || performance_now() / 1000.0;
    match logspine_bench::raft_throughput::report(host, &mut clock) {
        Ok(text) => console_log!("{text}"),
        Err(e) => panic!("benchmark failed: {e}"),
    }
}
