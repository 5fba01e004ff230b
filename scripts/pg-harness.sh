#!/usr/bin/env bash
# A throw-away PostgreSQL for tests and benchmarks: initdb into a temp directory as the unprivileged user neo-pg
# (created when missing; initdb refuses root), a random free port on 127.0.0.1 only, the Unix socket inside the temp
# directory, stopped and removed at the end. Installs Debian's postgresql when it is missing.
#
#   scripts/pg-harness.sh run CMD ARGS…   start, export NEO_TEST_DB=postgresql://neo:PASSWORD@127.0.0.1:PORT/postgres and
#                                          PG_HARNESS_BIN (initdb, pg_ctl, pgbench…), run CMD, stop; CMD's status
#
# PG_HARNESS_FSYNC=off turns fsync off for speed (the integration suite creates a database per test); benchmarks keep
# the default (on).
set -euo pipefail

user=neo-pg
ensure_postgres() {
    if ! command -v pg_config >/dev/null || [ ! -x "$(pg_config --bindir)/initdb" ]; then
        echo "pg-harness: installing postgresql" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    fi
    # Debian keeps initdb and pg_ctl out of PATH; the server package's bindir has them.
    BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
    [ -x "$BIN/initdb" ] || { echo "pg-harness: no initdb under /usr/lib/postgresql/*/bin" >&2; exit 1; }
    if ! id -u "$user" >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
    fi
}

as_user() {
    if [ "$(id -u)" = 0 ]; then runuser -u "$user" -- "$@"; else "$@"; fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

cmd="${1:-}"
[ "$cmd" = run ] || { echo "usage: $0 run CMD ARGS…" >&2; exit 2; }
shift
ensure_postgres
dir="$(mktemp -d /tmp/neo-pg-XXXXXX)"
chmod 755 "$dir"
[ "$(id -u)" = 0 ] && chown "$user" "$dir"
port="$(free_port)"
stop() {
    as_user "$BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap stop EXIT
# TCP connections authenticate with a password (SCRAM), so a wrong one can be tested; the socket trusts neo-pg.
password="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
printf '%s\n' "$password" >"$dir/pwfile"
[ "$(id -u)" = 0 ] && chown "$user" "$dir/pwfile"
as_user "$BIN/initdb" -D "$dir/data" -U neo --pwfile="$dir/pwfile" --auth-local=trust --auth-host=scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
rm -f "$dir/pwfile"
options="-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=300 -c shared_buffers=128MB"
if [ "${PG_HARNESS_FSYNC:-on}" = off ]; then options="$options -c fsync=off -c full_page_writes=off"; fi
as_user "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o "$options" start >/dev/null \
    || { cat "$dir/server.log" >&2; exit 1; }
export NEO_TEST_DB="postgresql://neo:$password@127.0.0.1:$port/postgres"
export PG_HARNESS_BIN="$BIN"
export PG_HARNESS_LOG="$dir/server.log"
echo "pg-harness: PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data in $dir)" >&2
set +e
"$@"
status=$?
set -e
exit $status
