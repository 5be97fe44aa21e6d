#!/usr/bin/env bash
# The one command that sets up and runs keyward: installs the pinned build
# tools if missing, builds the release site and server, and serves on
# KEYWARD_ADDR (default 127.0.0.1:3000) with SQLite in ./data.
# Arguments are passed to the binary (default subcommand: serve).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
scripts/setup.sh
step "building keyward (release)"
cargo leptos build --release
step "starting keyward"
export LEPTOS_SITE_ROOT="${LEPTOS_SITE_ROOT:-target/site}"
exec target/release/keyward "$@"
