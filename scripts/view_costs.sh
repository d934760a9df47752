#!/usr/bin/env bash
# What each view of the playground costs in the release bundle: builds the playground's
# wasm once as it is and once without each section's view (its `view: html! { <X /> }` in
# web/src/app.rs replaced by nothing, so the linker drops everything only it reaches), and
# prints a markdown table of raw and gzipped sizes and the difference. Runs in a throwaway
# git worktree of HEAD with its own target directory, so the checkout is untouched.
# Each build is cargo release + wasm-bindgen + wasm-opt -Oz, as Trunk does (about a minute
# each on 2 cores after the first). Needs the tools of scripts/tools.sh.
# Usage: bash scripts/view_costs.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$ROOT/tests/e2e/node_modules/.bin:$PATH"
WT="$(mktemp -d /tmp/logspine-view-costs.XXXXXX)"
OUT="$WT.out"
mkdir -p "$OUT"
cleanup() {
    git -C "$ROOT" worktree remove --force "$WT" 2>/dev/null || rm -rf "$WT"
    rm -rf "$OUT"
}
trap cleanup EXIT
git -C "$ROOT" worktree add -q --detach "$WT" HEAD
cd "$WT"

# The wasm-opt features wasm-bindgen's output uses (as Trunk passes them).
FEATURES=(--enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext
    --enable-mutable-globals --enable-reference-types --enable-multivalue)

size() {
    cargo build -q --release --offline --locked --target wasm32-unknown-unknown \
        -p logspine-web --bin logspine-web
    wasm-bindgen --target web --no-typescript --out-dir "$OUT" \
        target/wasm32-unknown-unknown/release/logspine-web.wasm
    wasm-opt -Oz "${FEATURES[@]}" "$OUT/logspine-web_bg.wasm" -o "$OUT/opt.wasm"
    echo "$(stat -c %s "$OUT/opt.wasm") $(gzip -9c "$OUT/opt.wasm" | wc -c)"
}

read -r raw gz <<<"$(size)"
echo "| playground | wasm bytes | gzip -9 | the view costs (gzip) |"
echo "|---|---:|---:|---:|"
echo "| whole | $raw | $gz | |"
cp web/src/app.rs "$OUT/app.rs"
for view in $(grep -o 'view: html! { <[A-Za-z:_]* /> }' web/src/app.rs | sed 's/.*<\([A-Za-z:_]*\) .*/\1/'); do
    cp "$OUT/app.rs" web/src/app.rs
    sed -i "s|view: html! { <$view /> },|view: html! {},|" web/src/app.rs
    read -r r g <<<"$(size)"
    echo "| without \`${view##*::}\` | $r | $g | $((gz - g)) |"
done
cp "$OUT/app.rs" web/src/app.rs
