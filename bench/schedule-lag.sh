#!/usr/bin/env bash
# Scheduler lag with 10,000 agents due in the same minute (design §9): `bench/schedule-lag.sh`. Builds nothing:
# uses .build/release/neo-server or NEO_SERVER_BIN (make schedule-bench builds it). See bench/schedule_lag.py.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec timeout --kill-after=10 "${BENCH_TIMEOUT:-600}" python3 "$root/bench/schedule_lag.py"
