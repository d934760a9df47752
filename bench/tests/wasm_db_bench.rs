//! The wasm runner of the db_bench-shaped benchmark (issue 4): our three workloads
//! (fillseq, fillrandom, readrandom) on SimDisk, in memory (there is no file backend in
//! wasm), timed with `performance.now()` and printed with `console.log`; the native runner
//! (`cargo run --profile bench -p logspine-bench -- db-bench`) runs the same on SimDisk,
//! and `scripts/bench.sh` prints wasm/native. Run in Node with
//! `cargo test --profile bench -p logspine-bench --target wasm32-unknown-unknown --test wasm_db_bench -- --nocapture`
//! under `wasm-bindgen-test-runner`. 1,000,000 keys, as natively; `LOGSPINE_BENCH_SIZES=quick`
//! at build time uses 100,000 (the native `--quick`).
#![cfg(target_arch = "wasm32")]

use logspine_bench::db_bench::{sim_report, FULL_KEYS, QUICK_KEYS};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::{console_log, wasm_bindgen_test};

#[wasm_bindgen]
extern "C" {
    /// `performance.now()`: milliseconds, in Node and in browsers.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
}

#[wasm_bindgen_test]
fn db_bench() {
    let n = match option_env!("LOGSPINE_BENCH_SIZES") {
        Some("quick") => QUICK_KEYS,
        _ => FULL_KEYS,
    };
    let host =
        if js_sys::Reflect::has(&js_sys::global(), &JsValue::from_str("window")).unwrap_or(false) {
            "wasm (headless Chromium)"
        } else {
            "wasm (Node)"
        };
    let mut clock = || performance_now() / 1000.0;
    match sim_report(host, n, &mut clock) {
        Ok(text) => console_log!("{text}"),
        Err(e) => panic!("benchmark failed: {e}"),
    }
}
