#!/usr/bin/env bash
# Times the customers table (/admin/cache-keys) with 10,000 tenants: release
# server on a fresh SQLite database, tenants provisioned over HTTP, first admin
# made through the first-run form, then a few page views (curl time, rows).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
TOKEN=bench-root-token-0123456789
start_bench_server 3903
step "provisioning 10,000 tenants"
seq 0 9999 | sed 's/.*/{"user_id":"t&","integration":"files","project_id":"jt","tier":"pro"}/' \
  | xargs -d '\n' -P 8 -I{} curl -sf -o /dev/null -X POST "$BASE/api/provision" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d {}
curl -sf -X POST "$BASE/admin/first-run" -d "root_token=$TOKEN&email=ops@example.com&password=correct+horse+battery" -D "$DATA/h" -o /dev/null
C=$(grep -i set-cookie "$DATA/h" | sed 's/.*keyward_session=\([^;]*\).*/\1/')
t() { curl -s -o "$DATA/page.html" -w "%{http_code} %{time_total}s" "$BASE/admin/cache-keys$1" -H "Cookie: keyward_session=$C"; echo " $(grep -o 'data-tenant' "$DATA/page.html" | wc -l) rows  $1"; }
t ""; t ""; t "?page=150"; t "?q=t99"; t "?sort=created"; t "?plan=pro&page=200"
