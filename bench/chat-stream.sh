#!/usr/bin/env bash
# `make chat-bench`: chat event streams on the release neo-server (NEO_THREADS=1, as `make bench`): time from the
# model's first token to the first text-delta a tailer reads, RSS of 1,000 idle tailers, and /health p99 with 500
# active streams beside none, in one run (bench/chat_stream.py). Only 127.0.0.1; wrk bounded by -d.
# Env: CHAT_BENCH_TURNS (50), CHAT_BENCH_IDLE (1000), CHAT_BENCH_ACTIVE (500), CHAT_BENCH_SECONDS (10); CHAT_BENCH_DB (a
# postgres:// URL, e.g. scripts/pg-harness.sh's NEO_TEST_DB, instead of a fresh SQLite file); NEO_SERVER_BIN (another binary).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${NEO_SERVER_BIN:-$root/.build/release/neo-server}"
key="neo_sk_test_ChatBenchKey0123456789abcdefghijklmnopqrst"
[ -x "$bin" ] || { echo "build first: swift build -c release" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk missing: make deps EXTRA_PACKAGES=wrk" >&2; exit 1; }
work="$(mktemp -d /tmp/neo-chat-bench.XXXXXX)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
NEO_HOST=127.0.0.1 NEO_PORT=0 NEO_DB="${CHAT_BENCH_DB:-$work/neo.db}" NEO_SECRET_KEY_FILE="$work/secret.key" NEO_BOOTSTRAP_ADMIN_KEY="$key" NEO_RATE_LIMIT=0 NEO_UPSTREAM_POLICY=loopback \
  NEO_LOG_LEVEL=warn NEO_THREADS=1 NEO_CHAT_MAX_STREAMS=5000 NEO_CHAT_MAX_STREAMS_PER_KEY=5000 \
  "$bin" serve >"$work/out.log" 2>"$work/err.log" &
pid=$!
for _ in $(seq 1 100); do grep -q "listening on" "$work/out.log" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/out.log" | head -1)
[ -n "$url" ] || { cat "$work/err.log" >&2; exit 1; }
echo "chat streams (release, NEO_THREADS=1, $([ -n "${CHAT_BENCH_DB:-}" ] && echo PostgreSQL || echo SQLite)):"
python3 "$root/bench/chat_stream.py" "$url" "$key" "$pid" | sed 's/^/  /'
