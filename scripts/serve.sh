#!/usr/bin/env bash
# Installs what is missing (scripts/tools.sh), builds the site in release mode and serves it
# on http://127.0.0.1:8080 (Trunk rebuilds and reloads the page when a source file changes).
# Stop with Ctrl-C. Another port: PORT=9000 bash scripts/serve.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

export PATH="$HOME/.cargo/bin:$ROOT/tests/e2e/node_modules/.bin:$PATH"
export TRUNK_SKIP_VERSION_CHECK=true
PORT="${PORT:-8080}"

bash scripts/tools.sh
echo "serve: building, then serving on http://127.0.0.1:$PORT/"
exec trunk serve --release --address 127.0.0.1 --port "$PORT"
