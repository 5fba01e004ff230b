#!/usr/bin/env bash
# Crash durability (design §7): `bench/crash-durability.sh ROUNDS` (default 3). Builds nothing:
# uses .build/debug/neo-server or NEO_SERVER_BIN. See bench/crash_durability.py.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec timeout --kill-after=10 "${DURABILITY_TIMEOUT:-1800}" python3 "$root/bench/crash_durability.py" "${1:-3}"
