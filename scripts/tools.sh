#!/usr/bin/env bash
# Installs what building and testing Logspine needs, and skips whatever is already there at
# the right version. Safe to run again and again; the README's two commands both start with it.
#
#   rustup: the wasm32-unknown-unknown target, rustfmt, clippy
#   cargo:  wasm-bindgen-cli at exactly the wasm-bindgen version in Cargo.lock, trunk 0.21.14
#           (both into ~/.cargo/bin, which is the cache)
#   apt:    chromium and chromium-driver (headless browser tests and the end-to-end test)
#   npm:    tests/e2e (playwright-core, axe-core, and binaryen whose wasm-opt Trunk uses)
#   cargo fetch, so that Trunk's `cargo build --offline` finds every crate
#
# Nothing here downloads prebuilt binaries outside the package registries.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

TRUNK_VERSION="0.21.14"
TARGET="wasm32-unknown-unknown"
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf 'tools: %s\n' "$*"; }
skip() { printf 'tools: skip %s\n' "$*"; }
die() { printf 'tools: error: %s\n' "$*" >&2; exit 1; }

for cmd in rustup cargo node npm python3; do
    command -v "$cmd" >/dev/null || die "'$cmd' is not installed; install it first (rustup, Node.js with npm, Python 3)"
done

# --- rustup: target and components -------------------------------------------------------
if rustup target list --installed | grep -qx "$TARGET"; then
    skip "rustup target $TARGET (installed)"
else
    say "rustup target add $TARGET"
    rustup target add "$TARGET"
fi
for component in rustfmt clippy; do
    if rustup component list --installed | grep -q "^$component"; then
        skip "rustup component $component (installed)"
    else
        say "rustup component add $component"
        rustup component add "$component"
    fi
done

# --- wasm-bindgen-cli: exactly the version in Cargo.lock ----------------------------------
if [[ ! -f Cargo.lock ]]; then
    say "no Cargo.lock yet: cargo generate-lockfile"
    cargo generate-lockfile
fi
WBG_VERSION="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/^version = "|"$/, ""); print; exit }' Cargo.lock)"
[[ -n "$WBG_VERSION" ]] || die "wasm-bindgen is not in Cargo.lock"

# `cargo install --locked` uses the tool's own lock file. When a crate it locks has since
# been yanked from the registry, that fails, and we retry with fresh resolution (what
# cargo itself suggests); the tool's version is still the exact one asked for.
cargo_install() {
    local crate="$1" version="$2"
    say "cargo install --locked $crate --version $version (several minutes)"
    if ! cargo install --locked "$crate" --version "$version"; then
        say "--locked failed (a locked dependency is unavailable); retrying without --locked"
        cargo install --force "$crate" --version "$version"
    fi
}

have_version() { # have_version BINARY EXPECTED: BINARY --version mentions EXPECTED as a word
    command -v "$1" >/dev/null && "$1" --version 2>/dev/null | grep -qwF -- "$2"
}

if have_version wasm-bindgen "$WBG_VERSION" && have_version wasm-bindgen-test-runner "$WBG_VERSION"; then
    skip "wasm-bindgen-cli $WBG_VERSION (installed)"
else
    cargo_install wasm-bindgen-cli "$WBG_VERSION"
    have_version wasm-bindgen "$WBG_VERSION" || die "wasm-bindgen $WBG_VERSION not on PATH after install"
fi

# --- trunk ---------------------------------------------------------------------------------
if have_version trunk "$TRUNK_VERSION"; then
    skip "trunk $TRUNK_VERSION (installed)"
else
    cargo_install trunk "$TRUNK_VERSION"
    have_version trunk "$TRUNK_VERSION" || die "trunk $TRUNK_VERSION not on PATH after install"
fi

# --- chromium and chromedriver (Debian packages) -------------------------------------------
if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
    skip "chromium, chromium-driver ($(/usr/bin/chromium --version 2>/dev/null | head -n1))"
else
    SUDO=""
    if [[ "$(id -u)" != 0 ]]; then
        command -v sudo >/dev/null || die "chromium is missing and installing it needs root (or sudo)"
        SUDO="sudo"
    fi
    say "apt-get install chromium chromium-driver"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver
fi

# --- npm packages for the end-to-end test and wasm-opt -------------------------------------
E2E="$ROOT/tests/e2e"
STAMP="$E2E/node_modules/.logspine-lock.sha256"
LOCK_SUM="$(sha256sum "$E2E/package-lock.json" | cut -d' ' -f1)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$LOCK_SUM" ]]; then
    skip "npm ci in tests/e2e (node_modules matches package-lock.json)"
else
    say "npm ci in tests/e2e"
    (cd "$E2E" && npm ci --no-audit --no-fund)
    echo "$LOCK_SUM" >"$STAMP"
fi

# Trunk looks wasm-opt up on PATH and, offline, insists on the version pinned in Trunk.toml.
WASM_OPT_PIN="$(sed -n 's/^wasm_opt *= *"\(.*\)"/\1/p' Trunk.toml)"
WASM_OPT_GOT="$("$E2E/node_modules/.bin/wasm-opt" --version)"
[[ "$WASM_OPT_GOT" == *"($WASM_OPT_PIN)"* ]] ||
    die "Trunk.toml pins wasm_opt = \"$WASM_OPT_PIN\" but tests/e2e's binaryen has '$WASM_OPT_GOT'; keep them in step"

# --- crates, so that Trunk's offline cargo build finds them --------------------------------
say "cargo fetch"
cargo fetch --quiet

say "ready: $(wasm-bindgen --version), $(trunk --version), ${WASM_OPT_GOT}, $(/usr/bin/chromium --version 2>/dev/null | head -n1)"
