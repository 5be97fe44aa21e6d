#!/usr/bin/env bash
# Load benchmark of the hot path, in one go: a bare axum handler in the same
# binary (/bench/bare), POST /api/keys/verify, and POST /api/cache/get hits
# (with a plain key, and with a key that carries its own overall limits),
# each with 64 concurrent connections (wrk), printing requests/s, p50 and p99
# and each one's throughput relative to the bare handler.
#   scripts/bench.sh              10 s per target
#   DURATION=30s scripts/bench.sh
#   BENCH_ENV=KEYWARD_REDIS_URL=redis://127.0.0.1:6379 scripts/bench.sh   limits shared in Redis
#   PROFILE=cache_get_hit scripts/bench.sh   also perf-record the server during
#                                            that target (target/perf-<name>.data)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
PORT=${BENCH_PORT:-3901}
TOKEN=bench-root-token-0123456789

start_bench_server "$PORT" KEYWARD_BENCH_ROUTES=1 ${BENCH_ENV:-}

api() { curl -sf -X "$1" "$BASE$2" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' ${3:+-d "$3"}; }
# Limits out of the way: this measures the path, not the refusals.
api PUT /api/plans/enterprise '{"requests_per_month":1000000000000,"requests_per_second":1000000000,"concurrent_requests":100000,"max_payload_bytes":10485760}' >/dev/null
KEY=$(api POST /api/provision '{"user_id":"bench","integration":"files","project_id":"jt","tier":"enterprise"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
GET_BODY='{"provider":"openai","model":"gpt-4o","namespace":"jt_bench","messages":[{"role":"user","content":"What is keyward?"}]}'
curl -sf "$BASE/api/cache/set" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
  -d '{"provider":"openai","model":"gpt-4o","namespace":"jt_bench","messages":[{"role":"user","content":"What is keyward?"}],"response":{"choices":[{"message":{"role":"assistant","content":"A self-hosted API-key and cost control plane."}}]},"ttl":3600}' >/dev/null
# A second key that also carries its own overall limits (a pooled key's
# per-second figure and monthly quota over all its tenants): the extra
# counters on the hot path.
KEY2=$(api POST /api/provision '{"user_id":"bench2","integration":"files","project_id":"jt","tier":"enterprise","overall_requests_per_second":10000000,"overall_requests_per_month":1000000000000}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
GET_BODY2=${GET_BODY/jt_bench/jt_bench2}
curl -sf "$BASE/api/cache/set" -H "Authorization: Bearer $KEY2" -H 'Content-Type: application/json' \
  -d '{"provider":"openai","model":"gpt-4o","namespace":"jt_bench2","messages":[{"role":"user","content":"What is keyward?"}],"response":{"choices":[{"message":{"role":"assistant","content":"A self-hosted API-key and cost control plane."}}]},"ttl":3600}' >/dev/null

# CPU time the server has used so far, in clock ticks (user + system).
server_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$SERVER/stat"; }

run() { # name path body auth
  local lua="$DATA/$1.lua"
  {
    echo 'wrk.method = "POST"'
    echo 'wrk.headers["Content-Type"] = "application/json"'
    [ -n "$4" ] && echo "wrk.headers[\"Authorization\"] = \"Bearer $4\""
    printf 'wrk.body = [[%s]]\n' "$3"
  } >"$lua"
  local perf=
  if [ "${PROFILE:-}" = "$1" ]; then
    perf record ${PERF_ARGS:--F 499 -g} -p "$SERVER" -o "target/perf-$1.data" -- sleep "${DURATION%s}" 2>/dev/null &
    perf=$!
  fi
  local before wrk_cpu
  before=$(server_cpu_ticks)
  wrk_cpu=$( { TIMEFORMAT='%U %S'; time wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$lua" "$BASE$2" >"$DATA/$1.out"; } 2>&1 | tail -1)
  echo "server_ticks $(( $(server_cpu_ticks) - before ))" >>"$DATA/$1.out"
  echo "wrk_cpu $wrk_cpu" >>"$DATA/$1.out"
  [ -z "$perf" ] || wait "$perf"
  python3 - "$1" "$DATA/$1.out" <<'PY'
import re, sys
name, path = sys.argv[1], sys.argv[2]
text = open(path).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
def pct(p):
    m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    v, unit = float(m.group(1)), m.group(2)
    return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
total = int(re.search(r"(\d+) requests in", text).group(1))
ticks = int(re.search(r"server_ticks (\d+)", text).group(1))
wrk_user, wrk_sys = map(float, re.search(r"wrk_cpu ([\d.]+) ([\d.]+)", text).groups())
hz = 100
server_us = ticks / hz / total * 1e6
wrk_us = (wrk_user + wrk_sys) / total * 1e6
print(f"{name}\t{rps:.0f}\t{pct(50):.2f}\t{pct(99):.2f}\t{errors.group(1) if errors else 0}\t{server_us:.1f}\t{wrk_us:.1f}")
PY
}

step "warming up"
wrk -t1 -c8 -d2s "$BASE/healthz" >/dev/null
# Check that the measured calls succeed before measuring them.
curl -sf "$BASE/api/cache/get" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d "$GET_BODY" | grep -q '"hit":true'
curl -sf "$BASE/api/cache/get" -H "Authorization: Bearer $KEY2" -H 'Content-Type: application/json' -d "$GET_BODY2" | grep -q '"hit":true'

step "measuring ($CONNECTIONS connections, $THREADS wrk threads, $DURATION each)"
RESULTS=$(
  run bare /bench/bare '{"ok":true}' ""
  run verify /api/keys/verify "{\"key\":\"$KEY\",\"namespace\":\"jt_bench\"}" ""
  run cache_get_hit /api/cache/get "$GET_BODY" "$KEY"
  run get_hit_overall /api/cache/get "$GET_BODY2" "$KEY2"
)
python3 - "$RESULTS" <<'PY'
import sys
rows = [l.split("\t") for l in sys.argv[1].strip().splitlines()]
bare = float(rows[0][1])
print(f"{'target':<16}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'vs bare':>10}{'non-2xx':>10}{'server us/req':>15}{'wrk us/req':>12}")
for name, rps, p50, p99, errs, server_us, wrk_us in rows:
    print(f"{name:<16}{float(rps):>10.0f}{float(p50):>10.2f}{float(p99):>10.2f}{float(rps)/bare:>10.2f}{int(errs):>10}{float(server_us):>15.1f}{float(wrk_us):>12.1f}")
PY
