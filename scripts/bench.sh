#!/usr/bin/env bash
# Load benchmark of the hot path, in one go: a bare axum handler in the same
# binary (/bench/bare), POST /api/keys/verify, and POST /api/cache/get hits
# (with a plain key, and with a key that carries its own overall limits),
# each with 64 concurrent connections (wrk), printing requests/s, p50 and p99
# and each one's throughput relative to the bare handler.
#   scripts/bench.sh              10 s per target
#   DURATION=30s scripts/bench.sh
#   (with Redis answering at REDIS_URL, default redis://127.0.0.1:6379, the
#   cache-get targets run again on a second server with limits shared in
#   Redis, and the table shows their ratio to the local ones: "vs local";
#   BENCH_REDIS=off skips that)
#   BENCH_ENV="VAR=value ..." scripts/bench.sh   extra server environment
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

# Limits shared in Redis are measured too, in the same run, on a second
# server (BENCH_REDIS=off skips them; REDIS_URL picks the Redis).
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
redis_answers() {
  local hostport=${REDIS_URL#redis://}
  hostport=${hostport%%/*}
  (exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}" && printf 'PING\r\n' >&3 && head -c 5 <&3 | grep -q PONG) 2>/dev/null
}

start_bench_server "$PORT" KEYWARD_BENCH_ROUTES=1 ${BENCH_ENV:-}

api() { curl -sf -X "$1" "$BASE$2" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' ${3:+-d "$3"}; }
GET_BODY='{"provider":"openai","model":"gpt-4o","namespace":"jt_bench","messages":[{"role":"user","content":"What is keyward?"}]}'
GET_BODY2=${GET_BODY/jt_bench/jt_bench2}
prepare() { # provisions the two keys ($KEY, $KEY2) and their cached entries on $BASE
  # Limits out of the way: this measures the path, not the refusals.
  api PUT /api/plans/enterprise '{"requests_per_month":1000000000000,"requests_per_second":1000000000,"concurrent_requests":100000,"max_payload_bytes":10485760}' >/dev/null
  KEY=$(api POST /api/provision '{"user_id":"bench","integration":"files","project_id":"jt","tier":"enterprise"}' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
  curl -sf "$BASE/api/cache/set" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d '{"provider":"openai","model":"gpt-4o","namespace":"jt_bench","messages":[{"role":"user","content":"What is keyward?"}],"response":{"choices":[{"message":{"role":"assistant","content":"A self-hosted API-key and cost control plane."}}]},"ttl":3600}' >/dev/null
  # A second key that also carries its own overall limits (a pooled key's
  # per-second figure and monthly quota over all its tenants): the extra
  # counters on the hot path.
  KEY2=$(api POST /api/provision '{"user_id":"bench2","integration":"files","project_id":"jt","tier":"enterprise","overall_requests_per_second":10000000,"overall_requests_per_month":1000000000000}' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
  curl -sf "$BASE/api/cache/set" -H "Authorization: Bearer $KEY2" -H 'Content-Type: application/json' \
    -d '{"provider":"openai","model":"gpt-4o","namespace":"jt_bench2","messages":[{"role":"user","content":"What is keyward?"}],"response":{"choices":[{"message":{"role":"assistant","content":"A self-hosted API-key and cost control plane."}}]},"ttl":3600}' >/dev/null
}
prepare

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

warm_up() {
  step "warming up"
  wrk -t1 -c8 -d2s "$BASE/healthz" >/dev/null
  # Check that the measured calls succeed before measuring them.
  curl -sf "$BASE/api/cache/get" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d "$GET_BODY" | grep -q '"hit":true'
  curl -sf "$BASE/api/cache/get" -H "Authorization: Bearer $KEY2" -H 'Content-Type: application/json' -d "$GET_BODY2" | grep -q '"hit":true'
}
warm_up

step "measuring ($CONNECTIONS connections, $THREADS wrk threads, $DURATION each)"
RESULTS=$(
  run bare /bench/bare '{"ok":true}' ""
  run verify /api/keys/verify "{\"key\":\"$KEY\",\"namespace\":\"jt_bench\"}" ""
  run cache_get_hit /api/cache/get "$GET_BODY" "$KEY"
  run get_hit_overall /api/cache/get "$GET_BODY2" "$KEY2"
)

if [ "${BENCH_REDIS:-on}" != off ] && [ -z "${BENCH_ENV:-}" ] && redis_answers; then
  step "the same cache-get hits with limits shared in Redis ($REDIS_URL), on a second server"
  kill "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
  rm -rf "$DATA"
  start_bench_server "$PORT" KEYWARD_BENCH_ROUTES=1 KEYWARD_REDIS_URL="$REDIS_URL"
  for _ in $(seq 1 50); do
    curl -sf "$BASE/healthz" | grep -q '"mode":"redis"' && break
    sleep 0.1
  done
  curl -sf "$BASE/healthz" | grep -q '"mode":"redis"' || { echo "the server never reached Redis" >&2; exit 1; }
  prepare
  warm_up
  RESULTS+=$'\n'$(
    run redis_get_hit /api/cache/get "$GET_BODY" "$KEY"
    run redis_hit_overall /api/cache/get "$GET_BODY2" "$KEY2"
  )
  echo "lease calls to Redis: $(curl -sf "$BASE/healthz" | python3 -c 'import json,sys; print(json.load(sys.stdin)["limits"]["lease_calls"])')" >&2
fi

python3 - "$RESULTS" <<'PY'
import sys
rows = [l.split("\t") for l in sys.argv[1].strip().splitlines()]
by_name = {r[0]: r for r in rows}
bare = float(rows[0][1])
local = {"redis_get_hit": "cache_get_hit", "redis_hit_overall": "get_hit_overall"}
print(f"{'target':<18}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'vs bare':>10}{'vs local':>10}{'non-2xx':>10}{'server us/req':>15}{'wrk us/req':>12}")
for name, rps, p50, p99, errs, server_us, wrk_us in rows:
    vs_local = f"{float(rps) / float(by_name[local[name]][1]):.2f}" if name in local else "-"
    print(f"{name:<18}{float(rps):>10.0f}{float(p50):>10.2f}{float(p99):>10.2f}{float(rps)/bare:>10.2f}{vs_local:>10}{int(errs):>10}{float(server_us):>15.1f}{float(wrk_us):>12.1f}")
PY
