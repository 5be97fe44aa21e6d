# Shared by keyward's scripts: tool locations and pinned versions.
# shellcheck shell=bash
export PATH="$HOME/.cargo/bin:$PWD/.tools/node_modules/.bin:$PATH"
CARGO_LEPTOS_VERSION=0.3.5
BINARYEN_VERSION=132.0.0
SCHEMATHESIS_VERSION=4.32.5
STANDARDWEBHOOKS_VERSION=1.3.0
# wasm-bindgen-cli must match the wasm-bindgen crate in Cargo.lock exactly.
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)

step() { printf '\n==> %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}
# The name of the wasm/js bundle. cargo-leptos sets it for its own builds;
# exporting it here makes plain cargo builds (tests) bake in the same name, so
# the test binary can serve the site that `cargo leptos build` produced.
export LEPTOS_OUTPUT_NAME=keyward

# For the load benchmarks: installs wrk if missing, builds the release server
# and starts it on a fresh data directory ($DATA) at $BASE with root token
# $TOKEN (extra environment in "$@"); it is stopped and removed on exit.
start_bench_server() { # port [VAR=value ...]
  local port=$1
  shift
  if ! command -v wrk >/dev/null 2>&1; then
    step "installing wrk"
    as_root apt-get install -y -qq wrk >/dev/null
  fi
  step "building keyward (release)"
  cargo build --release --features ssr --bin keyward
  if [ -n "${BENCH_DATA:-}" ]; then
    # A kept data directory (BENCH_DATA): reused by the next run.
    DATA=$BENCH_DATA
    mkdir -p "$DATA"
    trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true' EXIT
  else
    DATA=$(mktemp -d)
    trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$DATA"' EXIT
  fi
  env KEYWARD_ADDR="127.0.0.1:$port" KEYWARD_DATA_DIR="$DATA" KEYWARD_ROOT_TOKEN="$TOKEN" RUST_LOG=warn "$@" \
    target/release/keyward serve >"$DATA/server.log" 2>&1 &
  SERVER=$!
  BASE=http://127.0.0.1:$port
  for _ in $(seq 1 100); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.1; done
}
