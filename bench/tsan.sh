#!/usr/bin/env bash
# `make tsan`, after the ThreadSanitizer build (swift build --build-tests --sanitize=thread
# --scratch-path .build-tsan): runs the test suite, whose integration tests start the TSan-built
# server, then a short mixed load against that server (bench/tsan_load.py), and fails on a failing
# test, a load error, or any ThreadSanitizer report from any of these processes. Only 127.0.0.1.
# TSAN_SCRATCH names another build directory; TSAN_KEEP=1 keeps the reports and logs.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
scratch="${TSAN_SCRATCH:-$root/.build-tsan}"
work="$(mktemp -d /tmp/neo-tsan.XXXXXX)"
# Every TSan-built process (the test runner, each server it starts, the load's server) writes its
# reports to $work/report.<pid>; halt_on_error=0 lets a run go on and show all of them.
export TSAN_OPTIONS="halt_on_error=0 log_path=$work/report${TSAN_OPTIONS:+ $TSAN_OPTIONS}"
cd "$root"
failed=""
started=$SECONDS
if ! timeout --kill-after=10 900 swift test --skip-build --sanitize=thread --scratch-path "$scratch" >"$work/tests.log" 2>&1; then
  failed="tests"
  grep -E "error:|failed \(" "$work/tests.log" | head -20 || true
fi
echo "tsan: test suite $((SECONDS - started)) s$([ -n "$failed" ] && echo ", FAILED")"
NEO_SERVER_BIN="$scratch/debug/neo-server" timeout --kill-after=10 300 python3 bench/tsan_load.py "$work" || failed="${failed:+$failed, }load"
reports=$(cat "$work"/report.* "$work/tests.log" "$work/server.log" 2>/dev/null | grep -c "WARNING: ThreadSanitizer" || true)
if [ "$reports" -gt 0 ]; then
  echo "tsan: $reports ThreadSanitizer report(s); first frames of each:"
  cat "$work"/report.* "$work/tests.log" "$work/server.log" 2>/dev/null \
    | grep -A4 "WARNING: ThreadSanitizer" | grep -E "WARNING|#[01] " | cut -c1-200 | head -60
  failed="${failed:+$failed, }reports"
fi
if [ -n "$failed" ] || [ "${TSAN_KEEP:-0}" = 1 ]; then
  echo "tsan: reports and logs kept in $work"
else
  rm -rf "$work"
fi
if [ -n "$failed" ]; then
  echo "tsan: FAILED ($failed) after $((SECONDS - started)) s"
  exit 1
fi
echo "tsan: no ThreadSanitizer reports, every test passed, load clean ($((SECONDS - started)) s)"
