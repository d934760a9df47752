//! The wasm benchmark runner: the library's benchmarks compiled to wasm32, timed with
//! `performance.now()` and printed with `console.log`. Not a test of anything (it asserts
//! only that the benchmarks ran); `scripts/bench.sh` runs it with
//! `cargo test --profile bench -p logspine-bench --target wasm32-unknown-unknown --test wasm -- --nocapture`
//! under `wasm-bindgen-test-runner`, in Node and (with `WASM_BINDGEN_USE_BROWSER=1`) in
//! headless Chromium. `LOGSPINE_BENCH_SIZES=quick` at build time selects the smoke sizes.
#![cfg(target_arch = "wasm32")]

use logspine_bench::{report, Sizes};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::{console_log, wasm_bindgen_test};

#[wasm_bindgen]
extern "C" {
    /// `performance.now()`: milliseconds, in Node and in browsers.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
}

fn host() -> &'static str {
    let global = js_sys::global();
    if js_sys::Reflect::has(&global, &JsValue::from_str("window")).unwrap_or(false) {
        "wasm (headless Chromium)"
    } else {
        "wasm (Node)"
    }
}

#[wasm_bindgen_test]
fn benchmarks() {
    let sizes = match option_env!("LOGSPINE_BENCH_SIZES") {
        Some("quick") => Sizes::QUICK,
        _ => Sizes::FULL,
    };
    let mut clock = || performance_now() / 1000.0;
    match report(host(), &sizes, &mut clock) {
        Ok(text) => console_log!("{text}"),
        Err(e) => panic!("benchmark failed: {e}"),
    }
}
