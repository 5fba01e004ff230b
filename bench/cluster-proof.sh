#!/usr/bin/env bash
# Cluster proof (design §11): `bench/cluster-proof.sh KILLS` (default 20): 3 nodes on one throw-away PostgreSQL,
# a random node SIGKILLed and restarted KILLS times under 6 writers; lost writes, double claims, end states, scheduler
# slots, then writes/s across 3 nodes beside pgbench. Builds nothing: .build/debug/neo-server or NEO_SERVER_BIN.
# See bench/cluster_proof.py.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
command -v wrk >/dev/null || { echo "wrk missing: make deps EXTRA_PACKAGES=wrk" >&2; exit 1; }
exec timeout --kill-after=10 "${CLUSTER_TIMEOUT:-900}" "$root/scripts/pg-harness.sh" run python3 "$root/bench/cluster_proof.py" "${1:-20}"
