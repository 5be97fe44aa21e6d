#!/usr/bin/env bash
# Idempotent set-up of every tool keyward's build (and, with `test`, its tests)
# needs. Anything already present at the pinned version is skipped.
#   scripts/setup.sh          tools to build and run the server
#   scripts/setup.sh test     ... plus Chromium and the end2end npm packages
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
MODE=${1:-server}

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# The tools are built without their own fat LTO (cargo-leptos asks for
# lto = true, codegen-units = 1): the same binaries in about half the time.
export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16

if ! cargo leptos --version 2>/dev/null | grep -q " ${CARGO_LEPTOS_VERSION}\$"; then
  step "installing cargo-leptos ${CARGO_LEPTOS_VERSION} (about 11 minutes on 2 cores, once)"
  cargo install "cargo-leptos@${CARGO_LEPTOS_VERSION}" --locked --features no_downloads
fi

if ! wasm-bindgen --version 2>/dev/null | grep -q " ${WASM_BINDGEN_VERSION}\$"; then
  step "installing wasm-bindgen-cli ${WASM_BINDGEN_VERSION} (about 2 minutes, once)"
  # Not --locked: the locked build asks for a crate version the registry lacks.
  cargo install wasm-bindgen-cli --version "${WASM_BINDGEN_VERSION}"
fi

if ! wasm-opt --version 2>/dev/null | grep -q "version ${BINARYEN_VERSION%%.*}"; then
  step "installing wasm-opt (npm binaryen ${BINARYEN_VERSION}) into .tools/"
  npm install --prefix .tools --no-save --no-audit --no-fund --loglevel=error "binaryen@${BINARYEN_VERSION}"
fi

if [ "$MODE" = "test" ]; then
  if ! command -v chromium >/dev/null 2>&1; then
    step "installing Debian's Chromium for the end2end tests"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
  if ! .tools/venv/bin/schemathesis --version 2>/dev/null | grep -q " ${SCHEMATHESIS_VERSION}\$"; then
    step "installing schemathesis ${SCHEMATHESIS_VERSION} (PyPI) into .tools/venv"
    python3 -m venv .tools/venv
    .tools/venv/bin/pip install --quiet --disable-pip-version-check "schemathesis==${SCHEMATHESIS_VERSION}"
  fi
  if ! .tools/venv/bin/python -c "import standardwebhooks" 2>/dev/null \
      || ! .tools/venv/bin/pip show standardwebhooks 2>/dev/null | grep -q "^Version: ${STANDARDWEBHOOKS_VERSION}\$"; then
    step "installing standardwebhooks ${STANDARDWEBHOOKS_VERSION} (PyPI) into .tools/venv"
    .tools/venv/bin/pip install --quiet --disable-pip-version-check "standardwebhooks==${STANDARDWEBHOOKS_VERSION}"
  fi
  if ! command -v promtool >/dev/null 2>&1; then
    step "installing Debian's prometheus package (for promtool check metrics)"
    as_root apt-get update -qq
    # Only its promtool is used; a container without systemd does not start the server.
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  fi
  if [ ! -d end2end/node_modules/@playwright/test ]; then
    step "installing the end2end npm packages (no browser download)"
    (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
  fi
  if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    step "starting PostgreSQL"
    as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  fi
fi
