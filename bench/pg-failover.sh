#!/usr/bin/env bash
# Failover of the PostgreSQL primary under a running neo-server: see bench/pg_failover.py. Installs Debian's postgresql
# and creates the unprivileged neo-pg user when missing (as scripts/pg-harness.sh does).
#   bench/pg-failover.sh [--quick]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "pg-failover: installing postgresql" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
if ! id -u neo-pg >/dev/null 2>&1; then useradd --system --no-create-home --shell /usr/sbin/nologin neo-pg; fi
exec python3 "$root/bench/pg_failover.py" "$@"
