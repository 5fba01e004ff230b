#!/usr/bin/env bash
# `make bench`: the release neo-server alone under wrk (health, list-50-agents), then, when
# ../shared/peers/run.sh exists, the same routes on the peer servers in the same run, one core
# each, written to bench/peers.md. Quote ratios from one run, not absolute numbers.
# Only 127.0.0.1 is used; every wrk run is bounded by -d.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$root/.build/release/neo-server"
duration="${BENCH_SECONDS:-10}"
conns="${BENCH_CONNS:-64}"
key="neo_sk_test_BenchKey0123456789abcdefghijklmnopqrstuvwxyzAB"
work="$(mktemp -d /tmp/neo-bench.XXXXXX)"
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
[ -x "$bin" ] || { echo "build first: swift build -c release" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk missing: make deps EXTRA_PACKAGES=wrk" >&2; exit 1; }

NEO_HOST=127.0.0.1 NEO_PORT=0 NEO_DB="$work/neo.db" NEO_BOOTSTRAP_ADMIN_KEY="$key" NEO_RATE_LIMIT=0 \
  NEO_LOG_LEVEL=warn NEO_THREADS=1 "$bin" serve >"$work/out.log" 2>"$work/err.log" &
pid=$!
for _ in $(seq 1 100); do grep -q "listening on" "$work/out.log" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'http://[0-9.:]*' "$work/out.log" | head -1)
[ -n "$url" ] || { cat "$work/err.log" >&2; exit 1; }
for i in $(seq 1 50); do
  curl -fsS -o /dev/null -X POST "$url/public-api/agents" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    -d "{\"name\":\"Agent $i\",\"description\":\"Triage tickets for queue $((i % 7))\",\"group_name\":\"group-$((i % 5))\",\"group_order\":$i,\"trigger_type\":\"TRIGGERED\",\"actions\":[]}" \
    || { echo "seeding agents failed (is the agents API built?); measuring health only" >&2; break; }
done
echo "neo-server alone (wrk -t1 -c$conns -d${duration}s, NEO_THREADS=1):"
for path in "/public-api/health" "/public-api/agents?page_size=50"; do
  out=$(wrk -t1 -c"$conns" -d"${duration}s" --latency -H "Authorization: Bearer $key" "$url$path" 2>&1)
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out"); p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  echo "  $path: ${rps} req/s, p99 ${p99}, non-2xx ${non2xx:-0}"
done
echo "  peak RSS: $(awk '/^VmHWM:/ {printf "%.1f MiB", $2/1024}' /proc/$pid/status)"
kill $pid; wait $pid 2>/dev/null || true

peers="$root/../shared/peers/run.sh"
if [ -x "$peers" ] || [ -f "$peers" ]; then
  echo
  echo "peers (same run, one core each):"
  TARGET_CMD="$bin serve" bash "$peers" -d "$duration" -c "$conns" -o "$root/bench/peers.md"
fi
