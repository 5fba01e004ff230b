#!/usr/bin/env bash
# AGENTIC bench (not run in tests): our AGENTIC runs/s and time per model turn beside a raw request loop and the
# OpenAI Agents SDK, on the same scripted model server and upstream (../shared/peers/agents-sdk/peer.py), in one
# run; see bench/agentic.py. The SDK goes into a venv under $PEERS_WORK (default /tmp/neo-peers), from PyPI
# (openai-agents). Only 127.0.0.1. AGENTIC_RUNS (default 500) runs per measurement; CONFIG=debug skips the release build.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
config="${CONFIG:-release}"
peer="$root/../shared/peers/agents-sdk/peer.py"
work="${PEERS_WORK:-/tmp/neo-peers}"
venv="$work/agents-sdk-venv"
mkdir -p "$work"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import agents' 2>/dev/null; then
  echo "installing openai-agents into $venv ..." >&2
  python3 -m venv "$venv" && "$venv/bin/pip" install -q openai-agents >"$work/agents-sdk-pip.log" 2>&1 \
    || { echo "pip install failed: $work/agents-sdk-pip.log" >&2; exit 1; }
fi
cd "$root"
swift build -c "$config" >/dev/null
python3 "$root/bench/agentic.py" --server "$root/.build/$config/neo-server" --peer "$peer" --sdk-python "$venv/bin/python" \
  -n "${AGENTIC_RUNS:-500}" "$@"
