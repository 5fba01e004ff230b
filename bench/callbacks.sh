#!/usr/bin/env bash
# Callback ingest bench (not run in tests; bench/RESULTS.md has the figures): callbacks ingested per
# second and the p99 of the ingest call with 1,000 TRIGGERED agents holding 5-rule conditions, beside a
# raw SQLite commit loop (bench/sqlite_commit_loop.c) on the same disk in the same run, alternating
# (goal: ingest >= 0.5x the loop's commits/s), answering the whole CallbackDetail and the receipt
# (Prefer: return=minimal). Release build, only 127.0.0.1, every run bounded by -d. BENCH_SECONDS per run
# (default 10), BENCH_ROUNDS (3), BENCH_CONNS (8), BENCH_AGENTS (1000); CONFIG=debug skips the release build.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
config="${CONFIG:-release}"
seconds="${BENCH_SECONDS:-10}"
rounds="${BENCH_ROUNDS:-3}"
conns="${BENCH_CONNS:-8}"
agents="${BENCH_AGENTS:-1000}"
key="neo_sk_test_CallbackBench0123456789abcdefghijklmno"
command -v wrk >/dev/null || { echo "wrk missing: make deps EXTRA_PACKAGES=wrk" >&2; exit 1; }
work="$(mktemp -d "${BENCH_DIR:-/tmp}/neo-bench-callbacks.XXXXXX")"
pid=""
floor_dir=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
  [ -n "$floor_dir" ] && rm -rf "$floor_dir"
  return 0
}
trap cleanup EXIT
cc -O2 -Wall -Wextra -Werror -o "$work/sqlite_commit_loop" "$root/bench/sqlite_commit_loop.c" -lsqlite3
cc -O2 -Wall -Wextra -Werror -o "$work/callback_write_floor" "$root/bench/callback_write_floor.c" -lsqlite3
[ "$config" = debug ] || (cd "$root" && swift build -c release >/dev/null)
bin="$root/.build/$config/neo-server"

NEO_HOST=127.0.0.1 NEO_PORT=0 NEO_DB="$work/neo.db" NEO_BOOTSTRAP_ADMIN_KEY="$key" NEO_RATE_LIMIT=0 NEO_LOG_LEVEL=warn \
  "$bin" serve >"$work/out.log" 2>"$work/err.log" &
pid=$!
for _ in $(seq 1 100); do grep -q "listening on" "$work/out.log" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'http://[0-9.:]*' "$work/out.log" | head -1)
[ -n "$url" ] || { cat "$work/err.log" >&2; exit 1; }

python3 "$root/bench/callbacks_seed.py" "$url" "$key" "$agents"
# The write floor: the rows a receipt stores, written in C by one thread, 3 a commit, without the sync and the
# checkpoint (bench/callback_write_floor.c). Its WAL grows ~200 MiB a second, so it runs in /dev/shm when there is
# one: on the bench's disk its writeback would land in the next ingest run.
floor_dir="$work"
[ -d /dev/shm ] && [ -w /dev/shm ] && floor_dir="$(mktemp -d /dev/shm/neo-bench-floor.XXXXXX)"
floor() {
  cp "$work/seeded.db" "$floor_dir/floor.db"
  rm -f "$floor_dir/floor.db-wal" "$floor_dir/floor.db-shm"
  local out
  out=$(FLOOR_NO_SYNC=1 FLOOR_NO_CHECKPOINT=1 "$work/callback_write_floor" "$floor_dir/floor.db" 3 3)
  rm -f "$floor_dir/floor.db" "$floor_dir/floor.db-wal" "$floor_dir/floor.db-shm"
  awk '{print $2}' <<<"$out"
}
loop() { "$work/sqlite_commit_loop" "$work/loop.db" 2000 | awk '{print $2}'; }
run() {  # run NAME PREFER: one wrk run, printing "<req/s> <p99> <non-2xx> <requests>"
  local out
  out=$(BENCH_KEY="$key" BENCH_RUN="$1" BENCH_PREFER="$2" wrk -t2 -c"$conns" -d"${seconds}s" --latency -s "$root/bench/callbacks.lua" "$url" 2>&1)
  local non2xx
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  echo "$(awk '/^Requests\/sec:/ {print $2}' <<<"$out") $(awk '$1=="99%" {print $2}' <<<"$out") ${non2xx:-0} $(awk '/requests in/ {print $1}' <<<"$out")"
}
BENCH_KEY="$key" BENCH_RUN=warm wrk -t1 -c2 -d3s -s "$root/bench/callbacks.lua" "$url" >/dev/null
# The seeded and warmed database (the tenant, the agents, the agent set the first callback stored), for the floor.
sqlite3 "$work/neo.db" ".backup '$work/seeded.db'"
size() { sqlite3 "$work/neo.db" "PRAGMA page_count; PRAGMA page_size;" | paste -sd' ' | awk '{print $1 * $2}'; }
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
# The disk is shared with whatever else the box runs, so the commit loop and the ingest runs alternate,
# and each round's ratio compares runs a few seconds apart.
echo "ingest with $agents TRIGGERED agents x 5 rules ($((agents / 200)) match each event; their runs wait behind"
echo "sleep_before_callback_processing_seconds), wrk -t2 -c$conns -d${seconds}s per run, $rounds rounds:"
: >"$work/ratios"
for round in $(seq 1 "$rounds"); do
  loop_rate=$(loop)
  floor_rate=$(floor)
  read -r mrps mp99 mnon2xx mrequests <<<"$(run "minimal$round" minimal)"
  db_before=$(size)
  read -r rps p99 non2xx requests <<<"$(run "full$round" "")"
  db_after=$(size)
  growth=$(awk -v d="$((db_after - db_before))" -v n="$requests" 'BEGIN {printf "%.1f", d / n / 1024}')
  echo "  round $round: commit loop $loop_rate commits/s; write floor $floor_rate callbacks/s; receipt $mrps callbacks/s (p99 $mp99, non-2xx $mnon2xx);" \
       "CallbackDetail $rps callbacks/s (p99 $p99, non-2xx $non2xx); $growth KiB stored per callback"
  awk -v m="$mrps" -v d="$rps" -v l="$loop_rate" -v f="$floor_rate" 'BEGIN {printf "%.2f %.2f %.2f %.2f\n", m / l, d / l, f / l, m / f}' >>"$work/ratios"
done
echo "  median ratio to the commit loop: receipt $(cut -d' ' -f1 "$work/ratios" | median)x, CallbackDetail $(cut -d' ' -f2 "$work/ratios" | median)x (goal >= 0.5x)"
echo "  the write floor (bench/callback_write_floor.c: a receipt's rows alone, in C, no sync, no checkpoint): $(cut -d' ' -f3 "$work/ratios" | median)x the commit loop; receipts $(cut -d' ' -f4 "$work/ratios" | median)x that floor"
python3 "$root/bench/callbacks_seed.py" "$url" "$key" 0 --sleep 0
read -r rrps rp99 rnon2xx rrequests <<<"$(run running minimal)"
echo "  receipt while the runner executes the matched runs ($((agents / 200)) ADD_NOTE runs per callback): $rrps callbacks/s, p99 $rp99, non-2xx $rnon2xx"
echo "  peak RSS: $(awk '/^VmHWM:/ {printf "%.1f MiB", $2/1024}' /proc/$pid/status)"
