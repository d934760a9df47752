#!/usr/bin/env bash
# Builds the whole site in release mode into dist/ (or $DIST):
#   dist/            the playground (www/index.html) and the docs (www/docs/, copied by Trunk)
#   dist/embed/      the embed widget (www/embed.html, its own wasm binary: logspine-embed)
# Trunk builds one HTML target per run and empties its dist directory first, so the
# playground goes first and the widget second, into a directory inside it.
# scripts/test.sh and scripts/serve.sh call this. Needs trunk, wasm-bindgen and wasm-opt on
# PATH (bash scripts/tools.sh installs them; the line below puts them there).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

export PATH="$HOME/.cargo/bin:$ROOT/tests/e2e/node_modules/.bin:$PATH"
export TRUNK_SKIP_VERSION_CHECK=true
DIST="${DIST:-dist}"

trunk build --release --dist "$DIST"
trunk build www/embed.html --release --dist "$DIST/embed" --public-url /embed/

for f in "$DIST/index.html" "$DIST/embed/index.html" "$DIST/docs/index.html"; do
    [[ -f "$f" ]] || { echo "build-site: $f is missing" >&2; exit 1; }
done
echo "build-site: $DIST/ (playground, docs) and $DIST/embed/ (widget) built"
