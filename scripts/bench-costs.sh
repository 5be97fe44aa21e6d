#!/usr/bin/env bash
# Load benchmark of the cost engine on a realistic data set, in one go:
#  1. provisions TENANTS tenants (default 1,000; a third pro, the rest free);
#  2. ingests EVENTS usage events (default 10,000,000) over HTTP in batches of
#     1,000 with wrk (CONNECTIONS connections): USERS_PER_TENANT users each
#     (default 100, so 100,000 users), five services with their own units,
#     timestamps spread over the 90 days before today and arriving in time
#     order (as a live platform sends them), unique event ids;
#  3. times each analytics call and dashboard page on the result (and the
#     pages again while a second ingest runs), and prints the table the README
#     shows.
#   scripts/bench-costs.sh                                  SQLite, 10M events
#   ENGINE=postgres scripts/bench-costs.sh                  PostgreSQL (database keyward_bench)
#   EVENTS=1000000 TENANTS=100 scripts/bench-costs.sh       a quicker run
#   BENCH_DATA=/tmp/kb scripts/bench-costs.sh               keep the data set; a second run
#                                                           with the same BENCH_DATA reuses it
#   LIVE=1 EVENTS=3000000 scripts/bench-costs.sh            every event of today so far, as a
#       live platform sends them: the kept user spans (folded daily) take nothing per event.
#       Without LIVE every event is of a day already folded (a backfill), their worst case.
#       (With LIVE the reads see one day of data: use it for the ingest rate.)
#   INGEST_ONLY=1 ...                                       stop once the rollups have caught up
#       with the ingest (the ingest rate and the catch-up time, no reads)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
EVENTS=${EVENTS:-10000000}
CONNECTIONS=${CONNECTIONS:-4}
THREADS=2
TENANTS=${TENANTS:-1000}
USERS_PER_TENANT=${USERS_PER_TENANT:-100}
PORT=${BENCH_PORT:-3902}
ENGINE=${ENGINE:-sqlite}
TOKEN=bench-root-token-0123456789
REUSE=no
if [ -n "${BENCH_DATA:-}" ] && [ -f "$BENCH_DATA/ingested" ]; then REUSE=yes; fi

SERVER_ENV=()
if [ "$ENGINE" = postgres ]; then
  PG=postgres://postgres@127.0.0.1:5432
  if [ "$REUSE" = no ]; then
    psql -q "$PG/test" -c "DROP DATABASE IF EXISTS keyward_bench" -c "CREATE DATABASE keyward_bench"
  fi
  SERVER_ENV=(DATABASE_URL="$PG/keyward_bench")
fi
start_bench_server "$PORT" "${SERVER_ENV[@]}"

# ingest PREFIX COUNT: sends COUNT events (ids PREFIX<thread>-<n>) and prints
# the rate; the wrk output is kept in $DATA/ingest-PREFIX.out.
ingest() {
  local prefix=$1 count=$2
  local now midnight start span
  now=$(date -u +%s)
  midnight=$(( now / 86400 * 86400 ))
  if [ "${LIVE:-0}" = 1 ]; then
    # Today so far, as a live platform sends its events.
    start=$midnight span=$(( now - midnight > 120 ? now - midnight - 60 : 60 ))
  else
    start=$(( midnight - 90 * 86400 )) span=$(( 90 * 86400 ))
  fi
  local batches=$(( count / 1000 / THREADS ))
  rm -f "$DATA/done-$prefix-"*
  cat >"$DATA/events-$prefix.lua" <<LUA
-- Each wrk thread is one stream of events moving through the 90 days in
-- time order; thread k's event n happens at START + n * 90 days / its count.
local thread_id = 0
local tenants, users = $TENANTS, $USERS_PER_TENANT
local start, span = $start, $span
local batches = $batches
local services = {
  {"openai", '"tokens_in":%d,"tokens_out":%d'},
  {"anthropic", '"tokens_in":%d,"tokens_out":%d'},
  {"hume", '"seconds":%d.%d'},
  {"elevenlabs", '"characters":%d%d'},
  {"deepgram", '"minutes":%d.%d'},
}
function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
end
local sent, done = 0, 0
function init(args)
  math.randomseed(os.time() + (tid or 0))
end
request = function()
  local parts = {}
  for i = 1, 1000 do
    local n = sent * 1000 + i
    local s = services[(n % 5) + 1]
    local t = math.random(0, tenants - 1)
    local ts = start + math.floor(n * span / (batches * 1000))
    parts[i] = string.format(
      '{"event_id":"$prefix%s-%d","trace_id":"tr-%d","tenant_id":"t%d","user_id":"u%d","service":"%s","operation":"call",' ..
      '"units":{' .. s[2] .. '},"duration_ms":%d,"timestamp":"%s"}',
      tostring(tid), n, n, t, math.random(0, users - 1), s[1], math.random(1, 999), math.random(1, 999),
      math.random(10, 2000), os.date("!%Y-%m-%dT%H:%M:%SZ", ts))
  end
  sent = sent + 1
  return wrk.format("POST", "/api/usage/events",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer $TOKEN"},
    "[" .. table.concat(parts, ",") .. "]")
end
response = function(status, headers, body)
  done = done + 1
  if done == batches then
    local f = io.open("$DATA/done-$prefix-" .. tostring(tid), "w")
    f:write("done")
    f:close()
    wrk.thread:stop()
  end
end
LUA
  # wrk runs for a fixed time, so the ingest is timed here: from the start
  # until both threads have had their last answer (each writes a file then).
  local t0 t1 pid
  t0=$(date +%s.%N)
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${MAX_DURATION:-2h}" --latency -s "$DATA/events-$prefix.lua" \
    "$BASE/api/usage/events" >"$DATA/ingest-$prefix.out" &
  pid=$!
  until [ -f "$DATA/done-$prefix-1" ] && [ -f "$DATA/done-$prefix-2" ]; do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  t1=$(date +%s.%N)
  kill -INT "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  python3 - "$DATA/ingest-$prefix.out" "$t0" "$t1" "$(( batches * THREADS * 1000 ))" <<'PY'
import re, sys
text, t0, t1, events = open(sys.argv[1]).read(), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M)
print(f"{events / (t1 - t0):,.0f} events/s (p99 {p99.group(1) if p99 else '?'} per batch; "
      f"{events:,} events in {t1 - t0:.1f} s, non-2xx: {errors.group(1) if errors else 0})")
PY
}

if [ "$REUSE" = yes ]; then
  step "reusing the data set in $BENCH_DATA"
  INGEST="(data set reused)"
else
  step "provisioning $TENANTS tenants"
  for i in $(seq 0 $((TENANTS - 1))); do
    tier=$([ $((i % 3)) -eq 0 ] && echo pro || echo free)
    echo "{\"user_id\":\"t$i\",\"integration\":\"files\",\"project_id\":\"jt\",\"tier\":\"$tier\"}"
  done | xargs -d '\n' -P 4 -I{} curl -sf -o /dev/null -X POST "$BASE/api/provision" \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d {}
  step "ingesting $EVENTS events ($CONNECTIONS connections, batches of 1,000)"
  INGEST=$(ingest e "$EVENTS")
  echo "ingest: $INGEST"
  touch "$DATA/ingested"
fi
[ "$ENGINE" = sqlite ] && echo "database: $(du -sh "$DATA" | cut -f1)"

echo 'bench password 0123' | env "${SERVER_ENV[@]}" KEYWARD_DATA_DIR="$DATA" \
  target/release/keyward admin add-user bench@example.com --role admin >/dev/null 2>&1 || true
curl -s -o /dev/null -c "$DATA/cookies" -X POST "$BASE/admin/sign-in" \
  --data-urlencode email=bench@example.com --data-urlencode 'password=bench password 0123'
LAST_MONTH=$(date -u -d "$(date -u +%Y-%m-01) -1 day" +%Y-%m)
FROM_90=$(date -u -d '89 days ago' +%F)
TO_90=$(date -u -d 'tomorrow' +%F)
# (label|method|path|body) of each call timed; pages use the admin's cookie.
CALLS=(
  "ingest over HTTP, batches of 1,000|-|-|-"
  "/admin/costs, all tenants, last 30 days|page|/admin/costs?period=last-30-days|"
  "/admin/costs, all tenants, last month|page|/admin/costs?period=last-month|"
  "/admin/costs, all tenants, last 90 days|page|/admin/costs?period=last-90-days|"
  "/admin/costs?tenant=t0, 30 days|page|/admin/costs?period=last-30-days&tenant=t0|"
  "/admin/optimize|page|/admin/optimize|"
  "GET /api/analytics/optimize|api|/api/analytics/optimize|"
  "GET /api/analytics/forecast|api|/api/analytics/forecast?quarters=1|"
  "invoices for a month ($TENANTS tenants)|post|/api/xero/generate-invoices|{\"period\":\"$LAST_MONTH\"}"
  "TPC one tenant, monthly|api|/api/analytics/tpc/t0?period=monthly&from=$LAST_MONTH-01|"
  "TPC one tenant, 90 days|api|/api/analytics/tpc/t0?period=daily&from=$FROM_90&to=$TO_90|"
  "customer page|page|/admin/customers/t0|"
)
# time_call METHOD PATH BODY: "<seconds> <bytes> <status>" of one call.
time_call() {
  local fmt="%{time_total} %{size_download} %{http_code}"
  case $1 in
    page) curl -s -o /dev/null -b "$DATA/cookies" -w "$fmt" "$BASE$2" ;;
    api) curl -s -o /dev/null -H "Authorization: Bearer $TOKEN" -w "$fmt" "$BASE$2" ;;
    post) curl -s -o /dev/null -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
            -X POST -d "$3" -w "$fmt" "$BASE$2" ;;
  esac
}
# measure: each call RUNS times, the median kept; "ms KB status" per label.
measure() {
  local out=$1
  : >"$out"
  for entry in "${CALLS[@]}"; do
    IFS='|' read -r label method path body <<<"$entry"
    [ "$method" = - ] && continue
    for _ in $(seq 1 "${RUNS:-3}"); do time_call "$method" "$path" "$body"; echo; done |
      sort -n | awk -v l="$label" 'NR == 2 || (NR == 1 && RUNS == 1) { printf "%s|%.0f ms|%d KB|%s\n", l, $1 * 1000, $2 / 1024, $3 }' RUNS="${RUNS:-3}" >>"$out"
  done
}

step "the rollups catch up with the ingest (the first read applies what is queued)"
echo "$(time_call api "/api/analytics/tpc/t1?period=daily") (s, bytes, status)"
if [ "${INGEST_ONLY:-0}" = 1 ]; then exit 0; fi
step "timing each call on a quiet server (median of ${RUNS:-3})"
measure "$DATA/quiet.txt"
cat "$DATA/quiet.txt"

step "the same calls while $((EVENTS / 10)) more events are ingested"
ingest "f$(date +%s)" $((EVENTS / 10)) >"$DATA/busy-ingest.txt" &
BUSY=$!
sleep 2
measure "$DATA/busy.txt"
wait "$BUSY"
cat "$DATA/busy.txt"
echo "ingest during the reads: $(cat "$DATA/busy-ingest.txt")"

python3 - "$DATA/quiet.txt" "$DATA/busy.txt" "$ENGINE" "$INGEST" "$(cat "$DATA/busy-ingest.txt")" <<'PY'
import sys
quiet = [l.rstrip("\n").split("|") for l in open(sys.argv[1]) if l.strip()]
busy = {l.split("|")[0]: l.rstrip("\n").split("|") for l in open(sys.argv[2]) if l.strip()}
engine, ingest, busy_ingest = sys.argv[3], sys.argv[4], sys.argv[5]
print(f"\n| call ({engine}) | quiet | size | while ingesting |")
print("|---|---|---|---|")
print(f"| ingest over HTTP, batches of 1,000 | {ingest} | | {busy_ingest} |")
for label, ms, kb, status in quiet:
    b = busy.get(label, ["", "-", "", ""])
    note = "" if status.startswith("2") else f" (HTTP {status})"
    print(f"| {label} | {ms}{note} | {kb} | {b[1]} |")
PY
