#!/usr/bin/env bash
# What each view of the playground costs in the release bundle: builds the playground's
# wasm once as it is and once without each section's view (its `view: html! { <X /> }` in
# web/src/app.rs replaced by nothing, so the linker drops everything only it reaches), and
# prints a markdown table of raw and gzipped sizes and the difference; then two floors: the
# engines alone (every library scenario run on the world's timeline, a JSON scenario read
# and the trace written as JSON; no UI) and a minimal Yew app (a counter). Runs in a throwaway
# git worktree of HEAD with its own target directory, so the checkout is untouched.
# Each build is cargo release + wasm-bindgen + wasm-opt -Oz, as Trunk does (about a minute
# each on 2 cores after the first). Needs the tools of scripts/tools.sh.
# Usage: bash scripts/view_costs.sh                 (each view alone, then the floors)
#        bash scripts/view_costs.sh "A B" "A B C"   (each argument: views removed together,
#                                                   by component name, e.g. "LsmView RaftView")
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

# The wasm-opt features wasm-bindgen's output uses, and the options www/index.html gives
# Trunk's wasm-opt after -Oz (data-wasm-opt-params), so the sizes are the ones Trunk ships.
FEATURES=(--enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext
    --enable-mutable-globals --enable-reference-types --enable-multivalue
    --low-memory-unused --reorder-functions-by-name)

size() {
    local bin="${1:-logspine-web}"
    cargo build -q --release --offline --locked --target wasm32-unknown-unknown \
        -p logspine-web --bin "$bin"
    wasm-bindgen --target web --no-typescript --out-dir "$OUT" \
        "target/wasm32-unknown-unknown/release/$bin.wasm"
    wasm-opt -Oz "${FEATURES[@]}" "$OUT/${bin}_bg.wasm" -o "$OUT/opt.wasm"
    echo "$(stat -c %s "$OUT/opt.wasm") $(gzip -9c "$OUT/opt.wasm" | wc -c)"
}

# `size` runs in a command substitution: assigning it first makes a failed build stop the
# script (set -e) instead of printing the previous build's figures.
sz="$(size)"
read -r raw gz <<<"$sz"
echo "| playground | wasm bytes | gzip -9 | the view costs (gzip) |"
echo "|---|---:|---:|---:|"
echo "| whole | $raw | $gz | |"
cp web/src/app.rs "$OUT/app.rs"
if (($# > 0)); then
    for set in "$@"; do
        cp "$OUT/app.rs" web/src/app.rs
        for view in $set; do
            grep -q "view: html! { <[A-Za-z:_]*\b$view /> }," web/src/app.rs ||
                { echo "view_costs: no section shows $view in web/src/app.rs" >&2; exit 1; }
            sed -i "s|view: html! { <[A-Za-z:_]*\b$view /> },|view: html! {},|" web/src/app.rs
        done
        sz="$(size)"
        read -r r g <<<"$sz"
        echo "| without $set | $r | $g | $((gz - g)) |"
    done
    exit 0
fi
for view in $(grep -o 'view: html! { <[A-Za-z:_]* /> }' web/src/app.rs | sed 's/.*<\([A-Za-z:_]*\) .*/\1/'); do
    cp "$OUT/app.rs" web/src/app.rs
    sed -i "s|view: html! { <$view /> },|view: html! {},|" web/src/app.rs
    sz="$(size)"
    read -r r g <<<"$sz"
    echo "| without \`${view##*::}\` | $r | $g | $((gz - g)) |"
done
cp "$OUT/app.rs" web/src/app.rs

# The floors: two throwaway binaries in the worktree.
cat >>web/Cargo.toml <<'TOML'

[[bin]]
name = "floor-engines"
path = "src/bin/floor_engines.rs"

[[bin]]
name = "floor-yew"
path = "src/bin/floor_yew.rs"
TOML
cat >web/src/bin/floor_engines.rs <<'RS'
use logspine_core::world::{library, timeline::Timeline, Scenario};
use wasm_bindgen::prelude::*;
#[wasm_bindgen]
pub fn run_all(json: &str) -> String {
    let mut scenarios: Vec<Scenario> = library::names().filter_map(library::scenario).collect();
    scenarios.extend(Scenario::from_json(json));
    let mut out = String::new();
    for s in scenarios {
        let Ok(mut t) = Timeline::new(s, None, 1000) else { continue };
        t.run_to_end();
        t.seek(t.position() / 2);
        for e in t.trace() {
            out.push_str(&e.to_json());
        }
    }
    out
}
fn main() {}
RS
cat >web/src/bin/floor_yew.rs <<'RS'
use yew::prelude::*;
#[function_component(App)]
fn app() -> Html {
    let n = use_state(|| 0u32);
    let onclick = {
        let n = n.clone();
        Callback::from(move |_: MouseEvent| n.set(*n + 1))
    };
    html! { <main><h1>{ format!("Clicked {}", *n) }</h1><button {onclick}>{ "Click" }</button></main> }
}
fn main() {
    yew::Renderer::<App>::new().render();
}
RS
sz="$(size floor-engines)"
read -r r g <<<"$sz"
echo "| floor: the engines alone, no UI | $r | $g | |"
sz="$(size floor-yew)"
read -r r g <<<"$sz"
echo "| floor: a minimal Yew app | $r | $g | |"
