#!/usr/bin/env bash
# The console in headless Chromium (Debian `chromium`) against a real neo-server: bench/console_test.py.
# Screenshots go to bench/out/console/; CONSOLE_DOCS=DIR also copies the README's two into DIR.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bin="${NEO_SERVER_BIN:-.build/debug/neo-server}"
command -v chromium >/dev/null || { echo "console-test: chromium is not installed (make console-test installs it)" >&2; exit 1; }
args=(--bin "$bin" --out bench/out/console)
if [ -n "${CONSOLE_DOCS:-}" ]; then args+=(--docs "$CONSOLE_DOCS"); fi
exec python3 bench/console_test.py "${args[@]}"
