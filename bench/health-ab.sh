#!/usr/bin/env bash
# The non-streaming path before and after a change, in one run: wrk on /public-api/health against two release
# binaries (BASE_BIN, NEW_BIN), alternating ROUNDS (7) times so machine noise lands on both; prints each round and
# the median ratio NEW/BASE of req/s, p99 and server CPU time per request (the steadiest on a busy machine). NEO_THREADS=1, rate limit off, log level warn, as `make bench`.
# usage: bench/health-ab.sh BASE_BIN NEW_BIN (or BASE_BIN=… [NEW_BIN=…, default this checkout's release build] in the environment). Only 127.0.0.1; every wrk run is bounded by -d.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
base="${1:-${BASE_BIN:?the release neo-server to compare against (BASE_BIN or the first argument)}}"
new="${2:-${NEW_BIN:-$root/.build/release/neo-server}}"
rounds="${ROUNDS:-7}"; duration="${BENCH_SECONDS:-10}"; conns="${BENCH_CONNS:-64}"
key="neo_sk_test_BenchKey0123456789abcdefghijklmnopqrstuvwxyzAB"
command -v wrk >/dev/null || { echo "wrk missing: make deps EXTRA_PACKAGES=wrk" >&2; exit 1; }
# Server on CPU 0, wrk on CPU 1 (as ../shared/peers/run.sh does), when taskset is there.
pin_server=(env); pin_wrk=(env)
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then pin_server=(taskset -c 0); pin_wrk=(taskset -c 1); fi
measure() {
  local bin="$1" work pid url out
  work="$(mktemp -d /tmp/neo-health-ab.XXXXXX)"
  NEO_HOST=127.0.0.1 NEO_PORT=0 NEO_DB="$work/neo.db" NEO_BOOTSTRAP_ADMIN_KEY="$key" NEO_RATE_LIMIT=0 NEO_LOG_LEVEL=warn NEO_THREADS=1 \
    "${pin_server[@]}" "$bin" serve >"$work/out.log" 2>"$work/err.log" &
  pid=$!
  for _ in $(seq 1 100); do grep -q "listening on" "$work/out.log" 2>/dev/null && break; sleep 0.1; done
  url=$(grep -o 'http://[0-9.:]*' "$work/out.log" | head -1)
  local cpu0 cpu1 reqs
  cpu0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  out=$("${pin_wrk[@]}" wrk -t1 -c"$conns" -d"${duration}s" --latency "$url/public-api/health" 2>&1)
  cpu1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$work"
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  # Server CPU per request (user + system, clock ticks of 1/100 s): what a busy machine disturbs least.
  echo "$(awk '/^Requests\/sec:/ {print $2}' <<<"$out") $(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub("us","",v); v=v/1000} else if (v ~ /ms$/) {sub("ms","",v)} else {sub("s","",v); v=v*1000}; print v}' <<<"$out") $(awk -v c=$((cpu1 - cpu0)) -v n="$reqs" 'BEGIN {printf "%.2f", c * 10000 / n}')"
}
ratios=()
for r in $(seq 1 "$rounds"); do
  # The order flips every round: neither binary always runs first (warm caches, a neighbour's build starting).
  if [ $((r % 2)) -eq 1 ]; then
    read -r brps bp99 bcpu <<<"$(measure "$base")"; read -r nrps np99 ncpu <<<"$(measure "$new")"
  else
    read -r nrps np99 ncpu <<<"$(measure "$new")"; read -r brps bp99 bcpu <<<"$(measure "$base")"
  fi
  echo "round $r: base ${brps} req/s p99 ${bp99} ms ${bcpu} us CPU/req; new ${nrps} req/s p99 ${np99} ms ${ncpu} us CPU/req"
  ratios+=("$(awk -v a="$nrps" -v b="$brps" -v c="$np99" -v d="$bp99" -v e="$ncpu" -v f="$bcpu" 'BEGIN {printf "%.3f %.3f %.3f", a/b, c/d, e/f}')")
done
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
rps=$(printf '%s\n' "${ratios[@]}" | awk '{print $1}' | median)
p99=$(printf '%s\n' "${ratios[@]}" | awk '{print $2}' | median)
cpu=$(printf '%s\n' "${ratios[@]}" | awk '{print $3}' | median)
echo "median new/base over $rounds rounds of ${duration} s: req/s ${rps}, p99 ${p99}, server CPU per request ${cpu}"
