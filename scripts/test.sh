#!/usr/bin/env bash
# The one command that sets up and runs every keyward test: formatting and
# lints, the README's run command itself (scripts/serve.sh, which builds the
# release site and server, on a fresh data directory), the API contract
# (schemathesis against the release server's OpenAPI document), unit and property
# tests, the HTTP/CLI integration suite on SQLite and on PostgreSQL, and the
# browser tests in headless Chromium against the release build users run.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
scripts/setup.sh test

step "format"
cargo fmt --all -- --check

# First what a user runs: the release site (wasm bundle without erased
# component types, so a view too deep for the compiler fails here) and the
# release server, built and started by scripts/serve.sh itself.
step "the run command (scripts/serve.sh: release build, first start, sign-in, quick start)"
scripts/check-serve.sh

# The API contract, checked by a tool nobody here wrote, against that same
# release server: every operation of /api/openapi.json, every check.
step "the API contract (schemathesis against /api/openapi.json, --checks all)"
scripts/check-openapi.sh

# The debug builds below pass `--cfg erase_components` (as cargo-leptos does
# for debug builds), so clippy and both test runs share one build of the
# dependencies.
export RUSTFLAGS="--cfg erase_components"
step "lints"
cargo clippy --features ssr --all-targets -- -D warnings
step "unit, property and integration tests (SQLite)"
cargo test --features ssr
step "integration tests on PostgreSQL"
KEYWARD_TEST_ENGINE=postgres cargo test --features ssr --test api
unset RUSTFLAGS

step "browser tests (Playwright, headless Chromium, against the release build: target/release/keyward and target/site)"
(cd end2end && KEYWARD_BIN=target/release/keyward npx playwright test)
step "all tests passed"
