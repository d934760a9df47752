//! Logspine's cross-crate tests. This library is empty on purpose: the tests live in
//! `tests/` (run natively with `cargo test -p logspine-tests`, and as wasm in headless
//! Chromium with `cargo test -p logspine-tests --target wasm32-unknown-unknown`), and the
//! browser end-to-end test against the built site lives in `e2e/` (`node --test`).
//! `scripts/test.sh` runs all of them.
