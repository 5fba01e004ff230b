#!/usr/bin/env bash
# Builds the libFuzzer + ASan harness for the conditions evaluator (fuzz/conditions_fuzz.swift compiled, as one
# module, with Sources/PublicAPI/Callbacks/Conditions.swift and CompiledConditions.swift, Sources/NeoJSON, Basics'
# Timestamp.swift, CivilCalendar.swift and the Validation class and APIError.Detail cut from their files) and runs it for N seconds
# (default 60) from fuzz/conditions-corpus (seeds) and fuzz/conditions-corpus-min (the minimized corpus of the 1 h
# run) with the tokens in fuzz/conditions.dict. Exits non-zero on any crash or broken property (see the harness's
# header). Each run logs to its own file. fuzz/conditions.sh is the other fuzz loop (random trees, in XCTest).
set -uo pipefail
seconds="${1:-60}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/fuzz/out/conditions"
mkdir -p "$out/corpus" "$out/src"
swiftc="$(command -v swiftc || true)"
[ -n "$swiftc" ] || { echo "fuzz-conditions: swiftc not found" >&2; exit 1; }
sources=("$root"/Sources/NeoJSON/*.swift "$root/Sources/Basics/Timestamp.swift" "$root/Sources/Basics/CivilCalendar.swift" "$root/Sources/PublicAPI/Callbacks/Conditions.swift"
         "$root/Sources/PublicAPI/Callbacks/CompiledConditions.swift" "$root/Sources/PublicAPI/Core/Validation.swift"
         "$root/Sources/PublicAPI/Core/APIError.swift" "$root/fuzz/conditions_fuzz.swift")
# Rebuilt only when a source is newer than the harness.
if [ ! -x "$out/conditions_fuzz" ] || [ -n "$(find "${sources[@]}" -newer "$out/conditions_fuzz")" ]; then
  rm -f "$out"/src/*.swift
  # One module: the imports of our own modules go, and only the parts the evaluator uses are cut from the two
  # files that also hold server code (the class Validation less its throwing check(); APIError's Detail).
  for f in "$root"/Sources/NeoJSON/*.swift "$root/Sources/Basics/Timestamp.swift" "$root/Sources/Basics/CivilCalendar.swift" "$root/Sources/PublicAPI/Callbacks/Conditions.swift" \
           "$root/Sources/PublicAPI/Callbacks/CompiledConditions.swift"; do
    sed -E '/^import (Basics|NeoJSON|Store)$/d' "$f" >"$out/src/$(basename "$f")"
  done
  { echo "import Foundation"; awk '/^public final class Validation \{/{on=1} on{print} on&&/^\}/{exit}' "$root/Sources/PublicAPI/Core/Validation.swift" \
      | grep -v 'func check() throws'; } \
    >"$out/src/Validation.swift"
  { echo "public enum APIError {"; awk '/^    public struct Detail/{on=1} on{print} on&&/^    \}/{exit}' "$root/Sources/PublicAPI/Core/APIError.swift"; echo "}"; } \
    >"$out/src/APIErrorDetail.swift"
  cp "$root/fuzz/conditions_fuzz.swift" "$out/src/"
  if ! "$swiftc" -swift-version 6 -sanitize=fuzzer,address -parse-as-library -O -g -module-name ConditionsFuzz "$out"/src/*.swift \
       -o "$out/conditions_fuzz" >"$out/build.log" 2>&1; then
    cat "$out/build.log" >&2; exit 1
  fi
fi
cp -n "$root"/fuzz/conditions-corpus/* "$out/corpus/" 2>/dev/null || true
cp -n "$root"/fuzz/conditions-corpus-min/* "$out/corpus/" 2>/dev/null || true
cd "$out"
log="$out/fuzz-$$.log"
SWIFT_BACKTRACE=enable=no ./conditions_fuzz -max_total_time="$seconds" -print_final_stats=1 -dict="$root/fuzz/conditions.dict" -max_len=1024 corpus >"$log" 2>&1
status=$?
grep -a -E "^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)|^Done" "$log"
grep -a -E "^#[0-9]+.*(DONE|pulse)" "$log" | tail -1
if [ $status -ne 0 ]; then
  grep -a -E "conditions fuzz:|ERROR|SUMMARY|Test unit written" "$log" >&2
  echo "fuzz-conditions: the log is $log" >&2
  echo "fuzz-conditions: FAILED; reproduce with $out/conditions_fuzz <crash file>" >&2
  exit $status
fi
rm -f "$log"
echo "fuzz-conditions: ${seconds}s, no crashes or broken properties"
