#!/usr/bin/env bash
# Schedule durability (design §9): `bench/schedule-durability.sh ROUNDS` (default 3). Builds nothing: uses
# .build/debug/neo-server or NEO_SERVER_BIN. See bench/schedule_durability.py.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec timeout --kill-after=10 "${DURABILITY_TIMEOUT:-1200}" python3 "$root/bench/schedule_durability.py" "${1:-3}"
