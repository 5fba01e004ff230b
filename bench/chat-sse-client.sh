#!/usr/bin/env bash
# Reads a chat session's event stream with a stock SSE client from PyPI (httpx + httpx-sse, in .venv-chat-sse,
# created when missing) against a fresh neo-server (NEO_SERVER_BIN or .build/debug/neo-server, temp DB, admin
# key, rate limit off): see bench/chat_sse_client.py. Only 127.0.0.1. usage: bench/chat-sse-client.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-chat-sse"
bin="${NEO_SERVER_BIN:-$root/.build/debug/neo-server}"
key="neo_sk_test_ChatSseClientAdmin0123456789abcdefgh"
if ! "$venv/bin/python" -c "import httpx, httpx_sse" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "httpx==${HTTPX_VERSION:-0.28.1}" "httpx-sse==${HTTPX_SSE_VERSION:-0.4.3}" \
    || { echo "chat-sse-client: pip install failed" >&2; exit 1; }
fi
[ -x "$bin" ] || { echo "chat-sse-client: $bin missing (swift build)" >&2; exit 1; }
work="$(mktemp -d /tmp/neo-chat-sse.XXXXXX)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
NEO_HOST=127.0.0.1 NEO_PORT=0 NEO_DB="$work/neo.db" NEO_BOOTSTRAP_ADMIN_KEY="$key" NEO_RATE_LIMIT=0 NEO_UPSTREAM_POLICY=loopback \
  NEO_LOG_LEVEL=warn "$bin" serve >"$work/out.log" 2>"$work/err.log" &
pid=$!
for _ in $(seq 1 200); do grep -q "listening on" "$work/out.log" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/out.log" | head -1)
[ -n "$url" ] || { cat "$work/err.log" >&2; exit 1; }
"$venv/bin/python" "$root/bench/chat_sse_client.py" "$url" "$key" || { echo "chat-sse-client: failed; server log:" >&2; tail -20 "$work/err.log" >&2; exit 1; }
