#!/usr/bin/env bash
# The conditions evaluator's fuzz loop (Tests/PublicAPITests/ConditionsFuzzTests.swift) for N seconds
# (default 60): random react-querybuilder trees over random entities; fails on a crash, a
# non-deterministic answer or an operator disagreeing with its negation. It prints the seed; rerun one
# with NEO_FUZZ_SEED=<seed>. Needs a build with tests (swift build --build-tests).
set -uo pipefail
seconds="${1:-60}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
log="$(mktemp /tmp/neo-fuzz-conditions.XXXXXX)"
trap 'rm -f "$log"' EXIT
NEO_FUZZ_SECONDS="$seconds" swift test --skip-build --filter ConditionsFuzzTests >"$log" 2>&1
status=$?
grep -E "^fuzz conditions:" "$log"
if [ $status -ne 0 ]; then
  grep -E "error:|Fatal|Crash|signal" "$log" | head -20 >&2
  echo "fuzz conditions: FAILED (replay with NEO_FUZZ_SEED=<seed above> bash fuzz/conditions.sh $seconds)" >&2
  exit $status
fi
echo "fuzz conditions: ${seconds}s, no crashes or mismatches"
