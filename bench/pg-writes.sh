#!/usr/bin/env bash
# Acknowledged writes per second (POST /public-api/agents, each a committed transaction) on one node, SQLite beside
# PostgreSQL, and pgbench's TPC-B-like load on the same PostgreSQL, in one run, alternating so each round compares
# runs seconds apart on the same busy box. PostgreSQL is a throw-away cluster from scripts/pg-harness.sh with fsync
# and synchronous_commit on (as SQLite's synchronous=FULL). Release build, 127.0.0.1 only, every run bounded by -d/-T.
# BENCH_SECONDS per run (default 10), BENCH_ROUNDS (3), BENCH_CONNS (8); CONFIG=debug skips the release build.
#   make bench-pg
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${NEO_TEST_DB:-}" ]; then exec "$root/scripts/pg-harness.sh" run "$0" "$@"; fi
config="${CONFIG:-release}"
seconds="${BENCH_SECONDS:-10}"
rounds="${BENCH_ROUNDS:-3}"
conns="${BENCH_CONNS:-8}"
key="neo_sk_test_PgWritesBench0123456789abcdefghijklmnop"
command -v wrk >/dev/null || { echo "wrk missing: make deps EXTRA_PACKAGES=wrk" >&2; exit 1; }
[ "$config" = debug ] || (cd "$root" && swift build -c release --product neo-server >/dev/null)
bin="$root/.build/$config/neo-server"
work="$(mktemp -d /tmp/neo-bench-pg.XXXXXX)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT

# pgbench gets a database of its own on the same cluster.
psql -qAt "$NEO_TEST_DB" -c "CREATE DATABASE pgbench" >/dev/null
pgbench_url="${NEO_TEST_DB%/postgres}/pgbench"
"$PG_HARNESS_BIN/pgbench" -q -i -s 10 "$pgbench_url" >/dev/null 2>&1
psql -qAt "$NEO_TEST_DB" -c "CREATE SCHEMA bench" >/dev/null

start() {  # start NAME NEO_DB: a server (not in a subshell, so cleanup knows its pid)
  NEO_HOST=127.0.0.1 NEO_PORT=0 NEO_DB="$2" NEO_BOOTSTRAP_ADMIN_KEY="$key" NEO_RATE_LIMIT=0 NEO_LOG_LEVEL=warn NEO_THREADS=2 \
    NEO_SECRET_KEY_FILE="$work/secret.key" "$bin" serve >"$work/$1.out" 2>"$work/$1.err" &
  pids+=($!)
}
url_of() {  # url_of NAME: the URL the server printed
  for _ in $(seq 1 200); do grep -q "listening on" "$work/$1.out" 2>/dev/null && break; sleep 0.1; done
  grep -o 'http://[0-9.:]*' "$work/$1.out" | head -1
}
start sqlite "$work/neo.db"
start postgres "$NEO_TEST_DB?options=-csearch_path%3Dbench"
sqlite_url=$(url_of sqlite)
pg_url=$(url_of postgres)
[ -n "$sqlite_url" ] && [ -n "$pg_url" ] || { cat "$work"/*.err >&2; exit 1; }

writes() {  # writes URL RUN: "<req/s> <non-2xx> <p99>"
  local out non2xx
  out=$(BENCH_KEY="$key" BENCH_RUN="$2" wrk -t2 -c"$conns" -d"${seconds}s" --latency -s "$root/bench/agents_post.lua" "$1" 2>&1)
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  echo "$(awk '/^Requests\/sec:/ {print $2}' <<<"$out") ${non2xx:-0} $(awk '$1=="99%" {print $2}' <<<"$out")"
}
tpcb() { "$PG_HARNESS_BIN/pgbench" -n -M prepared -c "$conns" -j 2 -T "$seconds" "$pgbench_url" 2>/dev/null | awk '/^tps/ {print $3; exit}'; }
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

writes "$sqlite_url" warm >/dev/null
writes "$pg_url" warm >/dev/null
echo "POST /public-api/agents (one committed write each), wrk -t2 -c$conns -d${seconds}s; pgbench -M prepared -c$conns -j2 -T$seconds (TPC-B-like, scale 10):"
: >"$work/ratios"
for round in $(seq 1 "$rounds"); do
  read -r s_rps s_non s_p99 <<<"$(writes "$sqlite_url" "s$round")"
  read -r p_rps p_non p_p99 <<<"$(writes "$pg_url" "p$round")"
  t=$(tpcb)
  echo "  round $round: SQLite $s_rps writes/s (p99 $s_p99, non-2xx $s_non); PostgreSQL $p_rps writes/s (p99 $p_p99, non-2xx $p_non); pgbench $t tps"
  awk -v s="$s_rps" -v p="$p_rps" -v t="$t" 'BEGIN {printf "%.2f %.2f\n", p / s, p / t}' >>"$work/ratios"
done
echo "  median ratios: PostgreSQL/SQLite $(cut -d' ' -f1 "$work/ratios" | median)x, neo-server on PostgreSQL/pgbench $(cut -d' ' -f2 "$work/ratios" | median)x"
