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
