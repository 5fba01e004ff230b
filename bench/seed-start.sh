#!/usr/bin/env bash
# Cold start to `listening` with a 100-agent CI fixture (design §12; goal < 50 ms): `bench/seed-start.sh`. Builds
# nothing: uses .build/release/neo-server or NEO_SERVER_BIN (make seed-bench builds the static release binary,
# .build-static/release/neo-server, and passes it); BASELINE_BIN=old binary adds a before/after in the same rounds.
# See bench/seed_start.py.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec timeout --kill-after=10 "${BENCH_TIMEOUT:-600}" python3 "$root/bench/seed_start.py"
