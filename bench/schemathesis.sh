#!/usr/bin/env bash
# Schema fuzzing: schemathesis (PyPI, in .venv-schemathesis, created when missing) against
# /public-api/openapi.json of a fresh neo-server (NEO_SERVER_BIN or .build/debug/neo-server, temp
# DB, admin key, rate limit off). Checks: no 5xx, status codes, content types and bodies as the spec
# says. usage: bench/schemathesis.sh [MAX_EXAMPLES per operation, default 50]; SCHEMATHESIS_SEED
# fixes the seed. Only 127.0.0.1.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
examples="${1:-50}"
venv="$root/.venv-schemathesis"
version="${SCHEMATHESIS_VERSION:-4.32.5}"
bin="${NEO_SERVER_BIN:-$root/.build/debug/neo-server}"
key="neo_sk_test_SchemathesisAdmin0123456789abcdefgh"
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==$version" || { echo "schemathesis: pip install failed" >&2; exit 1; }
fi
[ -x "$bin" ] || { echo "schemathesis: $bin missing (swift build)" >&2; exit 1; }
work="$(mktemp -d /tmp/neo-schemathesis.XXXXXX)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
# NEO_UPSTREAM_POLICY=loopback: configs schemathesis invents can never make the server reach (or look up) another host.
NEO_HOST=127.0.0.1 NEO_PORT=0 NEO_DB="$work/neo.db" NEO_BOOTSTRAP_ADMIN_KEY="$key" NEO_RATE_LIMIT=0 NEO_UPSTREAM_POLICY=loopback \
  "$bin" serve >"$work/out.log" 2>"$work/err.log" &
pid=$!
for _ in $(seq 1 200); do grep -q "listening on" "$work/out.log" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/out.log" | head -1)
[ -n "$url" ] || { cat "$work/err.log" >&2; exit 1; }
seed=()
[ -n "${SCHEMATHESIS_SEED:-}" ] && seed=(--seed "$SCHEMATHESIS_SEED")
set +e
cd "$work"   # schemathesis writes .hypothesis/ and reports into the current directory
# One worker: with two, CPython 3.11 inside schemathesis intermittently fails its own coverage phase
# ("AST constructor recursion depth mismatch", a linecache KeyError), reported as Runtime Errors.
# The chat event stream is left out: it stays open until the client leaves, which schemathesis reports as a
# timeout; ChatSessionsTests and bench/chat_sse_client.py read it instead.
timeout --kill-after=10 "${SCHEMATHESIS_TIMEOUT:-1800}" "$venv/bin/schemathesis" run "$url/public-api/openapi.json" \
  -H "Authorization: Bearer $key" \
  -c not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  -n "$examples" "${seed[@]}" --no-color --workers 1 --request-timeout 10 --report junit \
  --exclude-operation-id tailChatSessionEvents \
  --report-junit-path "$work/junit.xml" >"$work/run.log" 2>&1
status=$?
set -e
sed -n '/^=* *FAILURES/,$p' "$work/run.log" | grep -v "^💡\|^No links\|^  - \|appears to supply" | head -150 || true
grep -A30 "^=* *SUMMARY" "$work/run.log" | grep -E "Tested|Failures|❌|Test cases|generated|passed|failure" || tail -40 "$work/run.log"
statuses=$(grep -o '"status":[0-9]*' "$work/err.log" | sort | uniq -c | sort -rn | tr '\n' ' ' || true)
echo "schemathesis: $examples examples per operation; server answered: $statuses"
if grep -q '"status":5' "$work/err.log"; then echo "schemathesis: the server logged a 5xx" >&2; status=1; fi
if [ "$status" -ne 0 ]; then echo "schemathesis: exit status $status; the end of its output:" >&2; tail -60 "$work/run.log" >&2; fi
exit $status
