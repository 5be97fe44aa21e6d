#!/usr/bin/env bash
# Proves the README's run command: starts `scripts/serve.sh` exactly as a new
# user does (it sets up, builds the release site and server, and serves with
# zero configuration), moved only to a fresh data directory and a free port so
# it cannot touch ./data or a server already on :3000. Then it checks what a
# user sees first: the pages, the wasm bundle and the stylesheet are served,
# the root token printed at first start signs in (the first-run form), and the
# README's quick start (provision a key, one cache set and get) works word for
# word. Exits non-zero, with the server's log, on the first thing that fails.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
K="http://127.0.0.1:$PORT"
LOG="$WORK/serve.log"
SERVER=
stop() {
  if [ -n "$SERVER" ]; then
    kill -- "-$SERVER" 2>/dev/null || kill "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap stop EXIT
fail() {
  printf '\ncheck-serve: FAILED: %s\n--- the last lines scripts/serve.sh printed ---\n' "$*" >&2
  tail -n 40 "$LOG" >&2 || true
  exit 1
}

step "scripts/serve.sh on a fresh data directory, port $PORT (the first time this builds the release site: see the README for how long)"
# Its own process group, so stopping it stops the build or the server.
set -m
env -u RUSTFLAGS KEYWARD_ADDR="127.0.0.1:$PORT" KEYWARD_DATA_DIR="$WORK/data" \
  scripts/serve.sh >"$LOG" 2>&1 &
SERVER=$!
set +m
until curl -sf "$K/healthz" >/dev/null 2>&1; do
  kill -0 "$SERVER" 2>/dev/null || fail "scripts/serve.sh exited before serving"
  sleep 1
done

step "the pages, the bundle and the stylesheet"
expect_get() { # path content-type-prefix [text the body must hold]
  local body="$WORK/body" type
  type=$(curl -s -o "$body" -w '%{http_code} %{content_type}' "$K$1") || fail "GET $1: no answer"
  case "$type" in
    "200 $2"*) ;;
    *) fail "GET $1 answered '$type', expected 200 $2" ;;
  esac
  if [ -n "${3:-}" ]; then grep -qF -- "$3" "$body" || fail "GET $1 does not contain '$3'"; fi
  echo "  GET $1: $type, $(wc -c <"$body") bytes"
}
expect_get / text/html "<title>keyward</title>"
expect_get / text/html "/pkg/keyward.wasm"
expect_get /admin/sign-in text/html "Sign in to keyward"
expect_get /pkg/keyward.wasm application/wasm
expect_get /pkg/keyward.js text/javascript "keyward_bg.wasm"
expect_get /pkg/keyward.css text/css
[ "$(stat -c %s "$WORK/body")" -gt 100 ] || fail "the stylesheet is empty"

step "the printed root token signs in"
TOKEN=$(grep -oE 'kwroot_[A-Za-z0-9_-]+' "$LOG" | head -n 1 || true)
[ -n "$TOKEN" ] || fail "serve.sh did not print a root token"
[ "$TOKEN" = "$(cat "$WORK/data/root_token")" ] || fail "the printed token is not the one in data/root_token"
first_run() { # root token -> "status location" of POST /admin/first-run
  curl -s -o /dev/null -c "$WORK/cookies" -w '%{http_code} %{redirect_url}' \
    --data-urlencode "root_token=$1" --data-urlencode "email=ops@example.com" \
    --data-urlencode "password=correct horse battery staple" "$K/admin/first-run"
}
wrong=$(first_run "kwroot_not-the-printed-token")
case "$wrong" in 303*/admin/cache-keys) fail "a wrong root token signed in" ;; esac
signed_in=$(first_run "$TOKEN")
case "$signed_in" in
  303*/admin/cache-keys) ;;
  *) fail "first-run sign-in with the printed token answered '$signed_in'" ;;
esac
page=$(curl -s -b "$WORK/cookies" "$K/admin/cache-keys")
grep -qF "<h1>Customers</h1>" <<<"$page" || fail "the dashboard's customers page is not shown to the signed-in admin"
grep -qF "ops@example.com" <<<"$page" || fail "the dashboard does not name the signed-in admin"
echo "  first run: $signed_in; /admin/cache-keys shows Customers to ops@example.com"

step "the README's quick start, word for word"
# The block between the quickstart markers, run with K and T set as the README
# tells the reader to set them (this server's address and printed token).
quickstart=$(awk '/<!-- quickstart:start -->/ { on = 1; next } /<!-- quickstart:end -->/ { on = 0 } on' README.md |
  sed -e '/^```/d' -e '/^K=/d' -e '/^T=/d')
[ -n "$quickstart" ] || fail "README.md has no quickstart block"
out=$(K="$K" T="$TOKEN" bash -euo pipefail -c "$quickstart" 2>&1) || fail "the quick start failed: $out"
echo "$out" | sed 's/^/  /'
grep -qF '"stored":true' <<<"$out" || fail "the quick start's cache set did not store"
grep -qF '"hit":true' <<<"$out" || fail "the quick start's cache get did not hit"

step "scripts/serve.sh works"
