#!/usr/bin/env bash
# The one command that sets up and runs every keyward test: formatting and
# lints, unit and property tests, the HTTP/CLI integration suite on SQLite and
# on PostgreSQL, and the browser tests in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
scripts/setup.sh test
# cargo-leptos builds debug wasm with `--cfg erase_components`; the server
# that serves it must be built the same way or hydration fails. Every cargo
# call below shares this flag, so they also share one build of the dependencies.
export RUSTFLAGS="--cfg erase_components"

step "format"
cargo fmt --all -- --check
step "lints"
cargo clippy --features ssr --all-targets -- -D warnings
step "unit, property and integration tests (SQLite)"
cargo test --features ssr
step "integration tests on PostgreSQL"
KEYWARD_TEST_ENGINE=postgres cargo test --features ssr --test api
step "building the site (wasm, css) for the browser tests"
cargo leptos build --frontend-only
step "browser tests (Playwright, headless Chromium, against target/debug/keyward)"
(cd end2end && npx playwright test)
step "all tests passed"
