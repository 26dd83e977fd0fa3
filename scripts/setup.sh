#!/usr/bin/env bash
# Installs what building and testing Narthex needs, from the package registries only (apt,
# crates.io, npm): the wasm target, Trunk, the wasm-bindgen CLI matching Cargo.lock, a wasm-opt
# that produces working output (npm's binaryen, not Debian's), clang for RocksDB, Debian's
# chromium for the end-to-end tests and the end-to-end suite's npm packages.
# Idempotent: every step checks first, so a second run takes a few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

TRUNK_VERSION=0.21.14
BINARYEN_VERSION=132.0.0
say() { printf '[setup] %s\n' "$*"; }

# Debian packages: clang/libclang for RocksDB's bindings, chromium for end-to-end tests.
missing=()
dpkg -s clang >/dev/null 2>&1 || missing+=(clang)
dpkg -s libclang-dev >/dev/null 2>&1 || missing+=(libclang-dev)
dpkg -s chromium >/dev/null 2>&1 || missing+=(chromium)
# The real Prometheus and node exporter, reference peers and real scrape targets of the tests.
dpkg -s prometheus >/dev/null 2>&1 || missing+=(prometheus)
dpkg -s prometheus-node-exporter >/dev/null 2>&1 || missing+=(prometheus-node-exporter)
dpkg -s prometheus-alertmanager >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if ! trunk --version 2>/dev/null | grep -q "$TRUNK_VERSION"; then
  say "installing trunk $TRUNK_VERSION (several minutes)"
  cargo install trunk --version "$TRUNK_VERSION" --locked
fi

# wasm-bindgen's CLI must be exactly the library version in Cargo.lock. Its own lock file names
# a crate the registry lacks, hence no --locked.
wbg_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if ! wasm-bindgen --version 2>/dev/null | grep -q "$wbg_version"; then
  say "installing wasm-bindgen-cli $wbg_version"
  cargo install wasm-bindgen-cli --version "$wbg_version"
fi

# Debian's wasm-opt (binaryen 108) breaks the output; npm's binaryen is recent and works.
if [ ! -x .tools/node_modules/.bin/wasm-opt ]; then
  say "installing wasm-opt from npm's binaryen $BINARYEN_VERSION"
  mkdir -p .tools
  npm install --prefix .tools --no-audit --no-fund --silent "binaryen@$BINARYEN_VERSION" >/dev/null
fi

if [ -f end2end/package-lock.json ] && [ ! -d end2end/node_modules ] \
   || [ end2end/package-lock.json -nt end2end/node_modules ]; then
  say "installing end-to-end test packages"
  (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent)
fi
# Python's prometheus_client (PyPI), for scraping the seed article's example programs.
PROMETHEUS_CLIENT_VERSION=0.23.1
if ! .tools/venv/bin/python -c "import prometheus_client" 2>/dev/null; then
  say "installing prometheus_client $PROMETHEUS_CLIENT_VERSION into .tools/venv"
  mkdir -p .tools
  python3 -m venv .tools/venv
  .tools/venv/bin/pip install --quiet --disable-pip-version-check \
    "prometheus_client==$PROMETHEUS_CLIENT_VERSION"
fi
say "ready"
