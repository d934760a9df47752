#!/usr/bin/env bash
# Every check and test Logspine has, in order, stopping at the first failure.
# Each step ends with a line "== step: <name> (<seconds>s)"; the last line is
# "N passed, 0 failed" (or "N passed, 1 failed" and a non-zero exit).
#
# CI runs exactly this (.ci/run). It installs what is missing first (scripts/tools.sh), so it
# also works on a fresh machine that has only rustup, cargo, node, npm and python3.
#
# KEEP_GOING=1 runs every step even after a failure (for a local overview; still exits 1).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

TARGET="wasm32-unknown-unknown"
E2E="$ROOT/tests/e2e"
# ~/.cargo/bin: wasm-bindgen, wasm-bindgen-test-runner, trunk. tests/e2e/node_modules/.bin:
# binaryen's wasm-opt, which Trunk finds on PATH (Trunk.toml pins its version).
export PATH="$HOME/.cargo/bin:$E2E/node_modules/.bin:$PATH"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# wasm-bindgen-test-runner drives Chromium through chromedriver with these capabilities
# (headless, no sandbox: we run as root in a container). The path is absolute because the
# runner looks for webdriver.json in the directory of the crate under test.
export CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"
export WASM_BINDGEN_TEST_WEBDRIVER_JSON="$ROOT/tests/webdriver.json"
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-120}"
export TRUNK_SKIP_VERSION_CHECK=true
# One-shot builds gain nothing from incremental caches, which took a third of target/ (~3 GB).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

passed=0
failed=0
failed_names=()
total_start=$(date +%s)
printf 'disk free at start: %s\n' "$(df -h --output=avail "$ROOT" | tail -1 | tr -d ' ')"

disk() { df -h --output=avail,target "$ROOT" | tail -1; du -sh "$ROOT/target" 2>/dev/null || true; }

finish() {
    printf '\ndisk free, target size: %s\n' "$(disk | tr '\n' ' ')"
    printf 'total %ss\n' "$(($(date +%s) - total_start))"
    ((failed == 0)) || printf 'failed: %s\n' "${failed_names[*]}"
    printf '%d passed, %d failed\n' "$passed" "$failed"
    ((failed == 0))
}

step() { # step NAME COMMAND...
    local name="$1"
    shift
    printf '\n-- %s: %s\n' "$name" "$*"
    local start=$(date +%s) rc=0
    "$@" || rc=$?
    local took=$(($(date +%s) - start))
    if ((rc != 0)); then
        printf '== step: %s FAILED with exit code %d (%ss)\n' "$name" "$rc" "$took"
        failed=$((failed + 1))
        failed_names+=("[$name]")
        [[ "${KEEP_GOING:-}" == 1 ]] || { finish; exit 1; }
        return 0
    fi
    passed=$((passed + 1))
    printf '== step: %s (%ss)\n' "$name" "$took"
}

# cargo test for wasm32, each test binary run by wasm-bindgen-test-runner.
# Extra environment goes first: wasm_test VAR=value... -- cargo args...
wasm_test() {
    local envs=()
    while [[ "$1" != "--" ]]; do envs+=("$1"); shift; done
    shift
    env ${envs[@]+"${envs[@]}"} CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
        cargo test --target "$TARGET" "$@"
}

bundle_sizes() {
    local f found=0
    printf '%-44s %10s %10s\n' file bytes gzip-9
    for f in dist/*.wasm dist/*.js dist/embed/*.wasm dist/embed/*.js dist/embed/*.css; do
        [[ -f "$f" ]] || continue
        found=1
        printf '%-44s %10d %10d\n' "$f" "$(stat -c %s "$f")" "$(gzip -9 -c "$f" | wc -c)"
    done
    ((found)) || { echo "no .wasm or .js in dist/" >&2; return 1; }
}

# Inside `step`, `set -e` does not apply (the call is tested with ||), so functions below
# check each command themselves.
portability_imports() {
    cargo build -p logspine-core --example wasm_probe --target "$TARGET" --release || return
    python3 scripts/wasm_imports.py --deny-module env \
        "target/$TARGET/release/examples/wasm_probe.wasm"
}

portability_tree() {
    local tree
    tree="$(cargo tree -p logspine-core --target "$TARGET" -e normal)" || return
    echo "$tree"
    if grep -E '(^|[^[:alnum:]_-])(web-sys|js-sys|wasm-bindgen) v' <<<"$tree"; then
        echo "FAIL: logspine-core depends on the crates above on $TARGET; the core must stay host-free" >&2
        return 1
    fi
    echo "ok: no web-sys, js-sys or wasm-bindgen in logspine-core's normal dependencies"
}

step "tools" bash scripts/tools.sh
step "fmt" cargo fmt --all --check
step "clippy (native)" cargo clippy --workspace --all-targets -- -D warnings
step "clippy (wasm32)" cargo clippy -p logspine-core -p logspine-web -p logspine-tests -p logspine-bench \
    --target "$TARGET" -- -D warnings
step "docs" env RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
step "test (native)" cargo test --workspace
step "test core (wasm32, Node)" wasm_test -- -p logspine-core
step "test core (wasm32, headless Chromium)" wasm_test WASM_BINDGEN_USE_BROWSER=1 -- -p logspine-core
step "test logspine-tests (wasm32, headless Chromium)" wasm_test -- -p logspine-tests
step "build the site (playground, docs, embed widget)" bash scripts/build-site.sh
step "bundle sizes" bundle_sizes
step "portability: wasm_probe imports nothing from env" portability_imports
step "portability: core has no web-sys/js-sys/wasm-bindgen" portability_tree
step "e2e (Chromium, built site)" node --test --test-concurrency=1 "$E2E/log-recovery.test.mjs" \
    "$E2E/db-recovery.test.mjs" "$E2E/lsm-view.test.mjs" "$E2E/scenario-timeline.test.mjs" \
    "$E2E/raft-cluster.test.mjs" "$E2E/pipeline.test.mjs" "$E2E/playground.test.mjs" \
    "$E2E/embed.test.mjs" "$E2E/a11y.test.mjs"

finish
