#!/usr/bin/env bash
# A client generated from our spec works: openapi-python-client (PyPI, in .venv-openapi-client, created when
# missing) generates a Python client from openapi/openapi.json; any generator warning fails the run. The
# generated package is installed into the venv and bench/openapi_client_check.py drives a fresh neo-server
# (NEO_SERVER_BIN or .build/debug/neo-server, temp DB, admin key, rate limit off) with it: create, patch
# (PUT), run-now and poll until succeeded, list; an OAuth2 external-API config read back. Only 127.0.0.1.
# usage: bench/openapi-client.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-openapi-client"
version="${OPENAPI_PYTHON_CLIENT_VERSION:-0.29.1}"
poetry_core="${POETRY_CORE_VERSION:-2.2.1}"   # the generated pyproject's build backend, installed once
bin="${NEO_SERVER_BIN:-$root/.build/debug/neo-server}"
key="neo_sk_test_OpenapiClientAdmin0123456789abcdefgh"
if ! "$venv/bin/openapi-python-client" --version 2>/dev/null | grep -q "version: $version\$"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "openapi-python-client==$version" "poetry-core==$poetry_core" \
    || { echo "openapi-client: pip install failed" >&2; exit 1; }
fi
[ -x "$bin" ] || { echo "openapi-client: $bin missing (swift build)" >&2; exit 1; }
work="$(mktemp -d /tmp/neo-openapi-client.XXXXXX)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# No post hooks (the default runs ruff, which is not needed to build or import the client).
printf 'post_hooks: []\nproject_name_override: neo-server-client\npackage_name_override: neo_server_client\n' >"$work/config.yml"
set +e
(cd "$work" && "$venv/bin/openapi-python-client" generate --path "$root/openapi/openapi.json" --config "$work/config.yml" \
  --output-path "$work/client" --fail-on-warning) >"$work/generate.log" 2>&1
status=$?
set -e
sed 's/^/  generator: /' "$work/generate.log"
if [ "$status" -ne 0 ] || grep -qi -e "warning" -e "unable to" "$work/generate.log"; then
  echo "openapi-client: the generator warned or failed (exit status $status)" >&2
  exit 1
fi
# The dependencies (httpx, attrs) came with the generator; the build backend is in the venv: no network here.
"$venv/bin/pip" install -q --no-deps --no-build-isolation --force-reinstall "$work/client" \
  || { echo "openapi-client: installing the generated package failed" >&2; exit 1; }
"$venv/bin/pip" check >/dev/null || { "$venv/bin/pip" check >&2; exit 1; }

NEO_HOST=127.0.0.1 NEO_PORT=0 NEO_DB="$work/neo.db" NEO_BOOTSTRAP_ADMIN_KEY="$key" NEO_RATE_LIMIT=0 NEO_UPSTREAM_POLICY=loopback \
  "$bin" serve >"$work/out.log" 2>"$work/err.log" &
pid=$!
for _ in $(seq 1 200); do grep -q "listening on" "$work/out.log" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/out.log" | head -1)
[ -n "$url" ] || { cat "$work/err.log" >&2; exit 1; }
cd "$work"   # so the import finds the installed package, not a directory of the same name
if ! "$venv/bin/python" "$root/bench/openapi_client_check.py" "$url" "$key"; then
  echo "openapi-client: the server's log:" >&2; tail -20 "$work/err.log" >&2
  exit 1
fi
if grep -q '"status":5' "$work/err.log"; then echo "openapi-client: the server logged a 5xx" >&2; exit 1; fi
