#!/usr/bin/env bash
# Load benchmark of the cost engine on a realistic data set, in one go:
#  1. provisions TENANTS tenants (default 1,000; a third pro, the rest free);
#  2. ingests EVENTS usage events (default 10,000,000) over HTTP in batches of
#     1,000 with wrk (CONNECTIONS connections): USERS_PER_TENANT users each
#     (default 100, so 100,000 users), five services with their own units,
#     timestamps spread over the 90 days before today and arriving in time
#     order (as a live platform sends them), unique event ids;
#  3. times each analytics call on the result (TPC monthly and over 90 days,
#     the weekly optimisation, the forecast, invoice generation for a month).
#   scripts/bench-costs.sh
#   EVENTS=1000000 TENANTS=100 scripts/bench-costs.sh     a quicker run
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
EVENTS=${EVENTS:-10000000}
CONNECTIONS=${CONNECTIONS:-4}
THREADS=2
TENANTS=${TENANTS:-1000}
USERS_PER_TENANT=${USERS_PER_TENANT:-100}
PORT=${BENCH_PORT:-3902}
TOKEN=bench-root-token-0123456789

start_bench_server "$PORT"

step "provisioning $TENANTS tenants"
for i in $(seq 0 $((TENANTS - 1))); do
  tier=$([ $((i % 3)) -eq 0 ] && echo pro || echo free)
  echo "{\"user_id\":\"t$i\",\"integration\":\"files\",\"project_id\":\"jt\",\"tier\":\"$tier\"}"
done | xargs -d '\n' -P 4 -I{} curl -sf -o /dev/null -X POST "$BASE/api/provision" \
  -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d {}

START=$(( $(date -u +%s) / 86400 * 86400 - 90 * 86400 ))
BATCHES_PER_THREAD=$(( EVENTS / 1000 / THREADS ))
cat >"$DATA/events.lua" <<LUA
-- Each wrk thread is one stream of events moving through the 90 days in
-- time order; thread k's event n happens at START + n * 90 days / its count.
local thread_id = 0
local tenants, users = $TENANTS, $USERS_PER_TENANT
local start, span = $START, 90 * 86400
local batches = $BATCHES_PER_THREAD
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
      '{"event_id":"e%s-%d","trace_id":"tr-%d","tenant_id":"t%d","user_id":"u%d","service":"%s","operation":"call",' ..
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
    local f = io.open("$DATA/done-" .. tostring(tid), "w")
    f:write("done")
    f:close()
    wrk.thread:stop()
  end
end
LUA

step "ingesting $EVENTS events ($CONNECTIONS connections, batches of 1,000)"
# wrk runs for a fixed time, so the ingest is timed here: from the start
# until both threads have had their last answer (each writes a file then).
T0=$(date +%s.%N)
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${MAX_DURATION:-2h}" --latency -s "$DATA/events.lua" "$BASE/api/usage/events" >"$DATA/ingest.out" &
WRK=$!
until [ -f "$DATA/done-1" ] && [ -f "$DATA/done-2" ]; do
  kill -0 "$WRK" 2>/dev/null || break
  sleep 0.2
done
T1=$(date +%s.%N)
kill -INT "$WRK" 2>/dev/null || true
wait "$WRK" 2>/dev/null || true
python3 - "$DATA/ingest.out" "$T0" "$T1" "$(( BATCHES_PER_THREAD * THREADS * 1000 ))" <<'PY'
import re, sys
text, t0, t1, events = open(sys.argv[1]).read(), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M)
print(f"ingest: {events:,} events in {t1 - t0:.1f} s = {events / (t1 - t0):,.0f} events/s "
      f"(p99 {p99.group(1) if p99 else '?'} per batch), non-2xx: {errors.group(1) if errors else 0}")
PY
echo "database: $(du -sh "$DATA" | cut -f1)"

step "analytics calls (each applies pending rollups first; the first one also the ingest's tail)"
t() { curl -s -o /dev/null -w "%{http_code} %{time_total}s" "$BASE$1" -H "Authorization: Bearer $TOKEN" ${2:+-X POST -H 'Content-Type: application/json' -d "$2"}; }
LAST_MONTH=$(date -u -d "$(date -u +%Y-%m-01) -1 day" +%Y-%m)
echo "rollups caught up:        $(t "/api/analytics/tpc/t1?period=daily")"
echo "tpc t0 monthly:           $(t "/api/analytics/tpc/t0?period=monthly&from=$(date -u -d "$LAST_MONTH-01" +%F)")"
echo "tpc t0 90 days:           $(t "/api/analytics/tpc/t0?period=daily&from=$(date -u -d '90 days ago' +%F)&to=$(date -u +%F)")"
echo "optimize (last week):     $(t "/api/analytics/optimize")"
echo "forecast (90 days):       $(t "/api/analytics/forecast?quarters=1")"
echo "invoices for $LAST_MONTH:    $(t /api/xero/generate-invoices "{\"period\":\"$LAST_MONTH\"}")"

step "dashboard pages over the same data (signed in as an admin; server-rendered with charts)"
echo 'bench password 0123' | KEYWARD_DATA_DIR="$DATA" target/release/keyward admin add-user bench@example.com --role admin >/dev/null
curl -s -o /dev/null -c "$DATA/cookies" -X POST "$BASE/admin/sign-in" --data-urlencode email=bench@example.com --data-urlencode 'password=bench password 0123'
p() { curl -s -o /dev/null -b "$DATA/cookies" -w "%{http_code} %{time_total}s %{size_download} bytes" "$BASE$1"; }
echo "costs, last 30 days:      $(p "/admin/costs?period=last-30-days")"
echo "costs, last month:        $(p "/admin/costs?period=last-month")"
echo "costs, last 90 days:      $(p "/admin/costs?period=last-90-days")"
echo "costs of t0, 30 days:     $(p "/admin/costs?period=last-30-days&tenant=t0")"
echo "optimisation report:      $(p "/admin/optimize")"
echo "customer page t0:         $(p "/admin/customers/t0")"
