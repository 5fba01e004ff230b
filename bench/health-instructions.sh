#!/usr/bin/env bash
# Instructions per health request of two release binaries, counted by valgrind's callgrind (a count, not a
# time: unaffected by other work on a shared box; user space only). Each binary runs twice for the same time,
# serving GET /public-api/health under wrk for 2 s then idle BENCH_SECONDS s, and under wrk for 2 + BENCH_SECONDS s;
# the difference of the two runs' totals over the difference of their request counts is the cost of one request. Prints it and the ratio new/base. Release binaries must be
# stripped (callgrind cannot read Swift's debug info). Only 127.0.0.1. Usage: BASE_BIN=… NEW_BIN=… bash bench/health-instructions.sh
set -euo pipefail
base="${BASE_BIN:?BASE_BIN: the release neo-server to compare against}"
new="${NEW_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.build/release/neo-server}"
duration="${BENCH_SECONDS:-5}" conns="${BENCH_CONNS:-16}"
command -v valgrind >/dev/null && command -v callgrind_control >/dev/null || { echo "valgrind missing" >&2; exit 1; }
work="$(mktemp -d /tmp/neo-health-ir.XXXXXX)"
pid=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$work"' EXIT
key="neo_sk_test_BenchKey0123456789abcdefghijklmnopqrstuvwxyzAB"

total() {  # $1 binary, $2 seconds of wrk, $3 idle seconds after it → "instructions requests" for the whole process run
  rm -rf "$work/db" "$work"/cg.*; mkdir -p "$work/db"
  NEO_HOST=127.0.0.1 NEO_PORT=0 NEO_DB="$work/db/neo.db" NEO_BOOTSTRAP_ADMIN_KEY="$key" NEO_RATE_LIMIT=0 NEO_LOG_LEVEL=warn \
    NEO_THREADS=1 valgrind --tool=callgrind --callgrind-out-file="$work/cg.%p" "$1" serve >"$work/out.log" 2>"$work/err.log" &
  pid=$!
  for _ in $(seq 1 300); do grep -q "listening on" "$work/out.log" 2>/dev/null && break; sleep 0.1; done
  url=$(grep -o 'http://[0-9.:]*' "$work/out.log" | head -1)
  n=$(wrk -t1 -c"$conns" -d"$2s" "$url/public-api/health" 2>&1 | awk '/ requests in / {print $1}')
  sleep "$3"
  kill -TERM $pid; wait $pid 2>/dev/null || true; pid=""
  echo "$(grep -h '^summary:' "$work"/cg.* | awk '{s += $2} END {printf "%.0f", s}') $n"
}

# Both runs of a binary last as long (start-up, 2 + BENCH_SECONDS s, shutdown), so start-up and the work that
# follows the clock (runner polls, the health probe's once-a-second query) cancel: the difference is the requests'.
per_request() {  # $1 binary → instructions per request
  read -r ir1 n1 <<<"$(total "$1" 2 "$duration")"
  read -r ir2 n2 <<<"$(total "$1" $((2 + duration)) 0)"
  awk -v a="$ir1" -v b="$ir2" -v m="$n1" -v n="$n2" 'BEGIN {printf "%.0f\n", (b - a) / (n - m)}'
}

b=$(per_request "$base")
n=$(per_request "$new")
echo "instructions per health request: base $b, new $n, new/base $(awk -v n="$n" -v b="$b" 'BEGIN {printf "%.3f", n / b}')"
