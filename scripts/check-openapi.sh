#!/usr/bin/env bash
# The API contract, checked by a tool nobody here wrote: schemathesis
# generates requests from /api/openapi.json (valid ones and deliberately
# invalid ones) and runs every check it has against the release server,
# authenticated with the root token, on a fresh data directory. Any failure
# (a 5xx, an undocumented status, a body that does not match its schema, a
# schema-valid request refused, an invalid one accepted, ...) fails the run.
#   scripts/check-openapi.sh [extra schemathesis arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

BIN=${KEYWARD_BIN:-target/release/keyward}
[ -x "$BIN" ] || { echo "check-openapi: $BIN is missing; run scripts/serve.sh or cargo leptos build --release first" >&2; exit 1; }
WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
K="http://127.0.0.1:$PORT"
TOKEN="schemathesis-root-token-$(date +%s%N)"
SERVER=
PROVIDERS=
stop() {
  [ -n "$PROVIDERS" ] && kill "$PROVIDERS" 2>/dev/null || true
  [ -n "$SERVER" ] && { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; }
  rm -rf "$WORK"
}
trap stop EXIT

# The AI providers keyward asks whether a key is valid (or to provision
# one) are stood in for by a local HTTP server that says yes to everything:
# without it every vault write would be a 503 (provider unreachable).
PROVIDER_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 - "$PROVIDER_PORT" >"$WORK/providers.log" 2>&1 <<'PY' &
import http.server, json, sys
class Yes(http.server.BaseHTTPRequestHandler):
    def answer(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        body = json.dumps({"api_key": "sk-provisioned-by-the-stub-0123456789"}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = do_PUT = do_DELETE = answer
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Yes).serve_forever()
PY
PROVIDERS=$!
PROVIDER="http://127.0.0.1:$PROVIDER_PORT"
env -u DATABASE_URL KEYWARD_ADDR="127.0.0.1:$PORT" KEYWARD_DATA_DIR="$WORK/data" \
  KEYWARD_ROOT_TOKEN="$TOKEN" RUST_LOG=warn \
  KEYWARD_PROVIDER_OPENAI_URL="$PROVIDER" KEYWARD_PROVIDER_ANTHROPIC_URL="$PROVIDER" \
  KEYWARD_PROVIDER_HUME_URL="$PROVIDER" KEYWARD_PROVIDER_ELEVENLABS_URL="$PROVIDER" \
  KEYWARD_PROVIDER_DEEPGRAM_URL="$PROVIDER" \
  "$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER=$!
until curl -sf "$K/healthz" >/dev/null 2>&1; do
  kill -0 "$SERVER" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
  sleep 0.2
done
# A tenant for the generated requests to find (ids are generated too, so
# most will not exist: a 404 is a documented answer).
KW_API_KEY=$(curl -sf -X POST "$K/api/provision" -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  -d '{"user_id":"acme","integration":"files","project_id":"jt","tier":"pro"}' |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["api_key"])')
export KW_ROOT_TOKEN=$TOKEN KW_API_KEY

step "schemathesis $(.tools/venv/bin/schemathesis --version | awk '{print $NF}') against $K/api/openapi.json (--checks all)"
status=0
.tools/venv/bin/schemathesis --config-file scripts/schemathesis.toml run "$K/api/openapi.json" \
  --checks all --max-examples "${SCHEMATHESIS_EXAMPLES:-30}" --seed "${SCHEMATHESIS_SEED:-1}" \
  --suppress-health-check all --no-color "$@" || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- the server's log ---" >&2
  tail -n 40 "$WORK/server.log" >&2
fi
exit "$status"
