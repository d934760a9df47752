//! The wasm runner of the topic throughput benchmark (issue 6): produce and consume by
//! batch size (1, 10, 100, 1,000) on SimDisk, in memory (there is no file backend in
//! wasm), the same rows as the SimDisk table of
//! `cargo run --profile bench -p logspine-bench -- topic`, timed with `performance.now()`
//! and printed with `console.log`. Run with `cargo test --profile bench -p logspine-bench
//! --target wasm32-unknown-unknown --test wasm_topic -- --nocapture` under
//! `wasm-bindgen-test-runner` (Node), or with `WASM_BINDGEN_USE_BROWSER=1` (headless
//! Chromium); `scripts/bench.sh` runs both and prints wasm/native. 1,000,000 records per
//! row, as natively; `LOGSPINE_BENCH_SIZES=quick` at build time uses the `--quick` size.
#![cfg(target_arch = "wasm32")]

use logspine_bench::topic_throughput::{sim_report, Sizes};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::{console_log, wasm_bindgen_test};

#[wasm_bindgen]
extern "C" {
    /// `performance.now()`: milliseconds, in Node and in browsers.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
}

#[wasm_bindgen_test]
fn topic_throughput() {
    let sizes = match option_env!("LOGSPINE_BENCH_SIZES") {
        Some("quick") => Sizes::QUICK,
        _ => Sizes::FULL,
    };
    let host =
        if js_sys::Reflect::has(&js_sys::global(), &JsValue::from_str("window")).unwrap_or(false) {
            "wasm (headless Chromium)"
        } else {
            "wasm (Node)"
        };
    let mut clock = || performance_now() / 1000.0;
    match sim_report(host, &sizes, &mut clock) {
        Ok(text) => console_log!("{text}"),
        Err(e) => panic!("benchmark failed: {e}"),
    }
}
