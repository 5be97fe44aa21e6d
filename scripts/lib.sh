# Shared by keyward's scripts: tool locations and pinned versions.
# shellcheck shell=bash
export PATH="$HOME/.cargo/bin:$PWD/.tools/node_modules/.bin:$PATH"
CARGO_LEPTOS_VERSION=0.3.5
BINARYEN_VERSION=132.0.0
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
