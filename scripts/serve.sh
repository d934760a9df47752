#!/usr/bin/env bash
# Installs what is missing (scripts/tools.sh), builds the whole site in release mode
# (scripts/build-site.sh: the playground and the docs into dist/, the embed widget into
# dist/embed/) and serves dist/ on http://127.0.0.1:8080 (scripts/serve_dist.py, which also
# sends the frame-ancestors header a page cannot set itself). `trunk serve` would serve only
# one of the two Trunk targets. After a change, run this again (or bash scripts/build-site.sh
# in another terminal and reload the page).
# Stop with Ctrl-C. Another port: PORT=9000 bash scripts/serve.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

export PATH="$HOME/.cargo/bin:$ROOT/tests/e2e/node_modules/.bin:$PATH"
export TRUNK_SKIP_VERSION_CHECK=true
PORT="${PORT:-8080}"

bash scripts/tools.sh
echo "serve: building, then serving on http://127.0.0.1:$PORT/"
bash scripts/build-site.sh
exec python3 scripts/serve_dist.py --dir dist --address 127.0.0.1 --port "$PORT"
