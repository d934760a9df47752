#!/usr/bin/env bash
# The benchmarks in BENCHMARKS.md (issue 3): group commit against a 1 ms simulated sync,
# and WAL replay speed. The same code (crate logspine-bench) runs natively, then as wasm in
# Node, then as wasm in headless Chromium; each prints its tables, and the run ends with
# the wasm/native ratios. Then (issue 4) the db_bench-shaped benchmark: ours vs fjall on
# real files natively, ours on SimDisk natively and as wasm in Node, and its wasm/native
# ratios. Then (issue 5) the Raft cluster's simulated throughput, and (issue 6) a topic's
# produce/consume throughput by batch size: on SimDisk natively and as wasm (with the
# wasm/native ratios), and on real files against a plain std::fs log and fjall.
# Benchmarks, not tests: nothing here fails on a slow figure.
#
# Build profile: `bench` (the release profile at opt-level 3; release itself is tuned for
# size). Full logs go to target/bench-results/.
#
#   BENCH_SIZES=quick   smoke sizes (a few seconds in all)
#   NO_BROWSER=1        skip headless Chromium
#   NO_DB_BENCH=1       skip the db_bench-shaped benchmark (issue 4)
#   NO_RAFT=1           skip the Raft throughput benchmark (issue 5)
#   NO_TOPIC=1          skip the topic produce/consume benchmark (issue 6)
#   NO_IDB=1            skip the IndexedDB durability benchmark (issue 8)
#   NO_PAGE=1           skip the page benchmarks: first interactive render, frame time (issue 8)
#
# Needs what scripts/test.sh installs: the wasm32 target, wasm-bindgen-test-runner,
# Node, Chromium and chromedriver.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

TARGET="wasm32-unknown-unknown"
OUT="$ROOT/target/bench-results"
mkdir -p "$OUT"
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"
export WASM_BINDGEN_TEST_WEBDRIVER_JSON="$ROOT/tests/webdriver.json"
# The wasm runs take a minute or two; the runner's default timeout is 20 s.
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-1200}"

quick_arg=()
if [[ "${BENCH_SIZES:-}" == quick ]]; then
    quick_arg=(--quick)
    export LOGSPINE_BENCH_SIZES=quick
else
    # Read at compile time by bench/tests/wasm.rs; unset means the full sizes.
    unset LOGSPINE_BENCH_SIZES
fi

total_start=$(date +%s)
section() { printf '\n== %s\n' "$*"; }
took() { printf '== took %ss\n' "$(($(date +%s) - $1))"; }

section "machine"
{
    printf 'cpu: %s, %s cores; memory: %s\n' \
        "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')" \
        "$(nproc)" "$(free -h | awk '/^Mem:/ {print $2}')"
    printf '%s; node %s\n' "$(rustc --version)" "$(node --version)"
    printf 'load before: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/machine.txt"

section "native (cargo run --profile bench -p logspine-bench)"
start=$(date +%s)
cargo build --profile bench -p logspine-bench --bin logspine-bench
cargo run --profile bench -q -p logspine-bench --bin logspine-bench -- ${quick_arg[@]+"${quick_arg[@]}"} |
    tee "$OUT/native.md"
took "$start"

# The wasm runner is a wasm-bindgen test that prints the same tables with console.log.
wasm_bench() { # wasm_bench LOGFILE [VAR=value...]
    local log="$1"
    shift
    env "$@" CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
        cargo test --profile bench -p logspine-bench --target "$TARGET" --test wasm -- --nocapture |
        tee "$log"
}

section "wasm in Node (wasm-bindgen-test-runner)"
start=$(date +%s)
wasm_bench "$OUT/wasm-node.log"
took "$start"

if [[ "${NO_BROWSER:-}" != 1 ]]; then
    section "wasm in headless Chromium (wasm-bindgen-test-runner, WASM_BINDGEN_USE_BROWSER=1)"
    start=$(date +%s)
    wasm_bench "$OUT/wasm-chromium.log" WASM_BINDGEN_USE_BROWSER=1
    took "$start"
fi

section "wasm/native ratios (wall-clock speed; below 1 means wasm is slower)"
printf 'load after: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt"
cat "$OUT"/native.md "$OUT"/wasm-*.log 2>/dev/null | grep '^SUMMARY ' | awk '
    {
        host = ""; sim = 0; mb = 0
        for (i = 2; i <= NF; i++) {
            split($i, kv, "=")
            if (kv[1] == "host") host = kv[2]
            if (kv[1] == "sim_commits_per_wall_s") sim = kv[2]
            if (kv[1] == "replay_mb_per_s") mb = kv[2]
        }
        hosts[++n] = host; sims[n] = sim; mbs[n] = mb
        if (host == "native") { nsim = sim; nmb = mb }
    }
    END {
        printf "| host | group commit: commits simulated per wall s | ratio | replay MB/s | ratio |\n"
        printf "|---|---:|---:|---:|---:|\n"
        for (i = 1; i <= n; i++) {
            h = hosts[i]; gsub("_", " ", h)
            printf "| %s | %d | %.2f | %.1f | %.2f |\n", h, sims[i], \
                (nsim ? sims[i] / nsim : 0), mbs[i], (nmb ? mbs[i] / nmb : 0)
        }
    }' | tee "$OUT/ratios.md"

if [[ "${NO_DB_BENCH:-}" != 1 ]]; then
    section "db_bench shape, native: ours vs fjall on files, ours on SimDisk (cargo run --profile bench -p logspine-bench -- db-bench)"
    start=$(date +%s)
    cargo run --profile bench -q -p logspine-bench --bin logspine-bench -- db-bench ${quick_arg[@]+"${quick_arg[@]}"} |
        tee "$OUT/db-bench-native.md"
    took "$start"

    section "db_bench shape, wasm in Node (SimDisk)"
    start=$(date +%s)
    env CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
        cargo test --profile bench -p logspine-bench --target "$TARGET" --test wasm_db_bench -- --nocapture |
        tee "$OUT/db-bench-wasm-node.log"
    took "$start"

    section "db_bench shape on SimDisk: wasm/native (ops/s; below 1 means wasm is slower)"
    cat "$OUT/db-bench-native.md" "$OUT/db-bench-wasm-node.log" | grep '^DBBENCH ' | awk '
        {
            host = ""; keys = 0; fs = 0; fr = 0; rr = 0
            for (i = 2; i <= NF; i++) {
                split($i, kv, "=")
                if (kv[1] == "host") host = kv[2]
                if (kv[1] == "keys") keys = kv[2]
                if (kv[1] == "fillseq") fs = kv[2]
                if (kv[1] == "fillrandom") fr = kv[2]
                if (kv[1] == "readrandom") rr = kv[2]
            }
            hosts[++n] = host; ks[n] = keys; fss[n] = fs; frs[n] = fr; rrs[n] = rr
            if (host == "native") { nfs = fs; nfr = fr; nrr = rr }
        }
        END {
            printf "| host | keys | fillseq ops/s | ratio | fillrandom ops/s | ratio | readrandom ops/s | ratio |\n"
            printf "|---|---:|---:|---:|---:|---:|---:|---:|\n"
            for (i = 1; i <= n; i++) {
                h = hosts[i]; gsub("_", " ", h)
                printf "| %s | %d | %d | %.2f | %d | %.2f | %d | %.2f |\n", h, ks[i], \
                    fss[i], (nfs ? fss[i] / nfs : 0), frs[i], (nfr ? frs[i] / nfr : 0), \
                    rrs[i], (nrr ? rrs[i] / nrr : 0)
            }
        }' | tee "$OUT/db-bench-ratios.md"
fi

if [[ "${NO_RAFT:-}" != 1 ]]; then
    section "Raft: simulated throughput of a 5-node cluster, native (cargo run --profile bench -p logspine-bench -- raft)"
    start=$(date +%s)
    cargo run --profile bench -q -p logspine-bench --bin logspine-bench -- raft | tee "$OUT/raft-native.md"
    took "$start"
    section "Raft: the same as wasm in Node"
    env CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
        cargo test --profile bench -p logspine-bench --target "$TARGET" --test wasm_raft -- --nocapture |
        tee "$OUT/raft-wasm-node.log"
    if [[ "${NO_BROWSER:-}" != 1 ]]; then
        section "Raft: the same as wasm in headless Chromium"
        env WASM_BINDGEN_USE_BROWSER=1 CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
            cargo test --profile bench -p logspine-bench --target "$TARGET" --test wasm_raft -- --nocapture |
            tee "$OUT/raft-wasm-chromium.log"
    fi
    took "$start"
fi

if [[ "${NO_TOPIC:-}" != 1 ]]; then
    section "Topic: produce/consume by batch size, native: SimDisk, then ours vs a std::fs log and fjall on files (cargo run --profile bench -p logspine-bench -- topic)"
    start=$(date +%s)
    cargo run --profile bench -q -p logspine-bench --bin logspine-bench -- topic ${quick_arg[@]+"${quick_arg[@]}"} |
        tee "$OUT/topic-native.md"
    section "Topic: the SimDisk rows as wasm in Node"
    env CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
        cargo test --profile bench -p logspine-bench --target "$TARGET" --test wasm_topic -- --nocapture |
        tee "$OUT/topic-wasm-node.log"
    if [[ "${NO_BROWSER:-}" != 1 ]]; then
        section "Topic: the SimDisk rows as wasm in headless Chromium"
        env WASM_BINDGEN_USE_BROWSER=1 CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
            cargo test --profile bench -p logspine-bench --target "$TARGET" --test wasm_topic -- --nocapture |
            tee "$OUT/topic-wasm-chromium.log"
    fi
    section "Topic on SimDisk: wasm/native (records/s; below 1 means wasm is slower)"
    cat "$OUT/topic-native.md" "$OUT"/topic-wasm-*.log 2>/dev/null | grep '^TOPIC ' | awk '
        {
            host = ""
            for (i = 2; i <= NF; i++) {
                split($i, kv, "=")
                if (kv[1] == "host") host = kv[2]; else v[kv[1]] = kv[2]
            }
            hosts[++n] = host
            for (k in v) val[n, k] = v[k]
            if (host == "native") nat = n
        }
        END {
            printf "| host | produce b1 | b10 | b100 | b1000 | consume b1 | b10 | b100 | b1000 |\n"
            printf "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
            for (i = 1; i <= n; i++) {
                h = hosts[i]; gsub("_", " ", h); line = "| " h
                for (d = 0; d < 2; d++) {
                    for (b = 1; b <= 1000; b *= 10) {
                        k = (d ? "consume_b" : "produce_b") b
                        r = (nat && val[nat, k]) ? val[i, k] / val[nat, k] : 0
                        line = line sprintf(" | %d (%.2f)", val[i, k], r)
                    }
                }
                print line " |"
            }
        }' | tee "$OUT/topic-ratios.md"
    took "$start"
fi

if [[ "${NO_BROWSER:-}" != 1 && "${NO_IDB:-}" != 1 ]]; then
    section "IndexedDB durability: Db on IdbStorage (group commit on / off) vs dexie bulkPut, headless Chromium"
    start=$(date +%s)
    # dexie's ESM build becomes a wasm-bindgen snippet of the bench crate (the test runner
    # serves only its own output). Named .js: the runner serves .mjs with a MIME type
    # browsers refuse for module scripts.
    cp "$ROOT/tests/e2e/node_modules/dexie/dist/dexie.mjs" "$ROOT/bench/js/dexie.js"
    env WASM_BINDGEN_USE_BROWSER=1 CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
        cargo test --profile bench -p logspine-bench --target "$TARGET" --test wasm_idb -- --nocapture |
        tee "$OUT/idb-durability-chromium.log"
    took "$start"
fi

if [[ "${NO_BROWSER:-}" != 1 && "${NO_PAGE:-}" != 1 ]]; then
    runs=9 duration=10
    [[ "${BENCH_SIZES:-}" == quick ]] && runs=3 duration=3
    section "The site, release build (scripts/build-site.sh)"
    start=$(date +%s)
    # binaryen's wasm-opt comes from tests/e2e/node_modules/.bin (Trunk.toml).
    bash "$ROOT/scripts/build-site.sh"
    took "$start"
    section "First interactive render: $runs cold loads of dist/ (node tests/e2e/bench/first-render.mjs)"
    start=$(date +%s)
    RUNS=$runs node "$ROOT/tests/e2e/bench/first-render.mjs" | tee "$OUT/first-render.md"
    took "$start"
    section "Frame time at the workload's maximum with 100,000 records through the WAL (node tests/e2e/bench/frame-time.mjs)"
    start=$(date +%s)
    DURATION_S=$duration node "$ROOT/tests/e2e/bench/frame-time.mjs" | tee "$OUT/frame-time.md"
    took "$start"
fi

printf '\ntotal %ss (logs in %s)\n' "$(($(date +%s) - total_start))" "${OUT#"$ROOT"/}"
