#!/usr/bin/env bash
# What NEO_RATE_LIMIT_MODE=shared costs: requests/s of a cheap authenticated GET (GET /public-api/tenant: a key check
# from the in-memory key cache and one indexed read) on PostgreSQL, a server counting in memory (local) beside one
# counting in the shared row (one INSERT … ON CONFLICT DO UPDATE … RETURNING per request, all requests on one tenant's
# row: the worst case), both on the same throw-away cluster (scripts/pg-harness.sh, fsync and synchronous_commit on),
# interleaved so each pair runs seconds apart on the same busy box. The limit is set out of reach (10,000,000 per 60 s)
# so every request is counted and none refused. BENCH_SECONDS (10), BENCH_ROUNDS (3), BENCH_CONNS (16); CONFIG=debug
# skips the release build.   make bench-rate-limit
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${NEO_TEST_DB:-}" ]; then exec "$root/scripts/pg-harness.sh" run "$0" "$@"; fi
config="${CONFIG:-release}"
seconds="${BENCH_SECONDS:-10}"
rounds="${BENCH_ROUNDS:-3}"
conns="${BENCH_CONNS:-16}"
key="neo_sk_test_RateLimitBench0123456789abcdefghijklmno"
command -v wrk >/dev/null || { echo "wrk missing: make deps EXTRA_PACKAGES=wrk" >&2; exit 1; }
[ "$config" = debug ] || (cd "$root" && swift build -c release --product neo-server >/dev/null)
bin="$root/.build/$config/neo-server"
work="$(mktemp -d /tmp/neo-bench-rl.XXXXXX)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
psql -qAt "$NEO_TEST_DB" -c "CREATE SCHEMA bench" >/dev/null
db="$NEO_TEST_DB?options=-csearch_path%3Dbench"

start() {  # start NAME MODE (not in a subshell, so cleanup knows its pid)
  NEO_HOST=127.0.0.1 NEO_PORT=0 NEO_DB="$db" NEO_BOOTSTRAP_ADMIN_KEY="$key" NEO_RATE_LIMIT=10000000 NEO_RATE_LIMIT_MODE="$2" \
    NEO_LOG_LEVEL=warn NEO_THREADS=2 NEO_SECRET_KEY_FILE="$work/secret.key" "$bin" serve >"$work/$1.out" 2>"$work/$1.err" &
  pids+=($!)
}
url_of() {
  for _ in $(seq 1 200); do grep -q "listening on" "$work/$1.out" 2>/dev/null && break; sleep 0.1; done
  grep -o 'http://[0-9.:]*' "$work/$1.out" | head -1
}
start local local
local_url=$(url_of local)
start shared shared
shared_url=$(url_of shared)
[ -n "$local_url" ] && [ -n "$shared_url" ] || { cat "$work"/*.err >&2; exit 1; }
cat >"$work/get.lua" <<LUA
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer $key"
LUA
gets() {  # gets URL: "<req/s> <non-2xx> <p99>"
  local out non2xx
  out=$(wrk -t2 -c"$conns" -d"${seconds}s" --latency -s "$work/get.lua" "$1/public-api/tenant" 2>&1)
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  echo "$(awk '/^Requests\/sec:/ {print $2}' <<<"$out") ${non2xx:-0} $(awk '$1=="99%" {print $2}' <<<"$out")"
}
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
# The shared server really counts in the row (and the local one does not).
curl -sf -o /dev/null -H "Authorization: Bearer $key" "$shared_url/public-api/tenant"
rows=$(psql -qAt "$db" -c "SELECT COUNT(*) FROM rate_limit_windows")
[ "$rows" = 1 ] || { echo "rate-limit bench: expected one shared row, found $rows" >&2; exit 1; }
gets "$local_url" >/dev/null
gets "$shared_url" >/dev/null
echo "GET /public-api/tenant, wrk -t2 -c$conns -d${seconds}s, PostgreSQL $("$PG_HARNESS_BIN/postgres" --version | awk '{print $3}'); load: $(uptime | sed 's/.*load average: //')"
: >"$work/ratios"
for round in $(seq 1 "$rounds"); do
  read -r l_rps l_non l_p99 <<<"$(gets "$local_url")"
  read -r s_rps s_non s_p99 <<<"$(gets "$shared_url")"
  echo "  round $round: local $l_rps req/s (p99 $l_p99, non-2xx $l_non); shared $s_rps req/s (p99 $s_p99, non-2xx $s_non)"
  awk -v l="$l_rps" -v s="$s_rps" 'BEGIN {printf "%.2f\n", s / l}' >>"$work/ratios"
done
echo "  shared/local req/s: median $(median <"$work/ratios")x (rounds: $(tr '\n' ' ' <"$work/ratios"))"
echo "  counted in the shared row: $(psql -qAt "$db" -c "SELECT SUM(this_count + prev_count) FROM rate_limit_windows") requests of the last two windows"
