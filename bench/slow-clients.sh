#!/usr/bin/env bash
# Slow and many clients: 2,000 slowloris sockets + 5,000 idle keep-alive connections while wrk
# measures GET /public-api/health (p99 beside the unloaded p99), then VmRSS with 10,000 idle
# connections. Uses NEO_SERVER_BIN, else .build/release/neo-server (built when missing).
# Sizes: SLOWLORIS, IDLE, RSS_IDLE, WRK_SECONDS, WRK_CONNS, SLOW_INTERVAL (see slow_clients.py).
# `--quick`: 200 + 500 sockets, 2 s wrk runs, 1,000 idle for RSS (what make test runs).
# Raises this process's file limit only (ulimit -n), never the system's. 127.0.0.1 only.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "${1:-}" = "--quick" ]; then
  export SLOWLORIS="${SLOWLORIS:-200}" IDLE="${IDLE:-500}" RSS_IDLE="${RSS_IDLE:-1000}" WRK_SECONDS="${WRK_SECONDS:-2}"
fi
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
if [ -z "${NEO_SERVER_BIN:-}" ] && [ ! -x "$root/.build/release/neo-server" ]; then
  (cd "$root" && swift build -c release)
fi
need=$(( ${SLOWLORIS:-2000} + ${IDLE:-5000} + ${RSS_IDLE:-10000} + 512 ))
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] && hard=$need
ulimit -n $(( need < hard ? need : hard ))
exec timeout --kill-after=10 600 python3 "$root/bench/slow_clients.py"
