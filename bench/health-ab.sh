#!/usr/bin/env bash
# Health throughput of two release binaries in one run (the cost of per-request metrics and tracing):
# BASE_BIN and NEW_BIN are started in turn, each alone, NEO_THREADS=1, and wrk (-t1, BENCH_CONNS, BENCH_SECONDS)
# drives GET /public-api/health, ROUNDS times alternately; prints each run and the median ratios new/base of
# req/s and of the server's CPU time per request (utime+stime from /proc, steadier than req/s on a shared box).
# Only 127.0.0.1; every wrk run bounded by -d. Usage: BASE_BIN=… NEW_BIN=… bash bench/health-ab.sh
set -euo pipefail
base="${BASE_BIN:?BASE_BIN: the release neo-server to compare against}"
new="${NEW_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.build/release/neo-server}"
rounds="${ROUNDS:-5}" duration="${BENCH_SECONDS:-8}" conns="${BENCH_CONNS:-64}"
command -v wrk >/dev/null || { echo "wrk missing: make deps EXTRA_PACKAGES=wrk" >&2; exit 1; }
work="$(mktemp -d /tmp/neo-health-ab.XXXXXX)"
pid=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$work"' EXIT
key="neo_sk_test_BenchKey0123456789abcdefghijklmnopqrstuvwxyzAB"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

measure() {  # $1 binary → prints "req/s cpu-µs-per-request"
  rm -rf "$work/db"; mkdir -p "$work/db"
  NEO_HOST=127.0.0.1 NEO_PORT=0 NEO_DB="$work/db/neo.db" NEO_BOOTSTRAP_ADMIN_KEY="$key" NEO_RATE_LIMIT=0 \
    NEO_LOG_LEVEL=warn NEO_THREADS=1 "$1" serve >"$work/out.log" 2>"$work/err.log" &
  pid=$!
  for _ in $(seq 1 100); do grep -q "listening on" "$work/out.log" 2>/dev/null && break; sleep 0.1; done
  url=$(grep -o 'http://[0-9.:]*' "$work/out.log" | head -1)
  wrk -t1 -c"$conns" -d1s "$url/public-api/health" >/dev/null 2>&1   # warm-up
  local before after out
  before=$(cpu_ticks $pid)
  out=$(wrk -t1 -c"$conns" -d"${duration}s" "$url/public-api/health" 2>&1)
  after=$(cpu_ticks $pid)
  awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" '/^Requests\/sec:/ {rps = $2} / requests in / {n = $1}
    END {printf "%s %.2f\n", rps, t / hz * 1e6 / n}' <<<"$out"
  kill $pid; wait $pid 2>/dev/null || true; pid=""
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
rps_ratios=() cpu_ratios=()
for i in $(seq 1 "$rounds"); do
  read -r brps bcpu <<<"$(measure "$base")"
  read -r nrps ncpu <<<"$(measure "$new")"
  rps_ratios+=("$(awk -v n="$nrps" -v b="$brps" 'BEGIN {printf "%.3f", n / b}')")
  cpu_ratios+=("$(awk -v n="$ncpu" -v b="$bcpu" 'BEGIN {printf "%.3f", n / b}')")
  echo "round $i: base ${brps} req/s (${bcpu} µs CPU/req), new ${nrps} req/s (${ncpu} µs CPU/req)"
done
echo "median new/base over $rounds rounds: req/s $(printf '%s\n' "${rps_ratios[@]}" | median), CPU per request $(printf '%s\n' "${cpu_ratios[@]}" | median)"
