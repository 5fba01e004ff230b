#!/usr/bin/env bash
# Builds the libFuzzer + ASan harness for the cron evaluator (fuzz/cron_fuzz.swift compiled with
# Sources/PublicAPI/Schedules/Cron.swift and Sources/Basics/CivilCalendar.swift) and runs it for N seconds (default 60) from fuzz/cron-corpus (seeds) and
# fuzz/cron-corpus-min (the minimized corpus of a 1 h run, 553 edges) with the tokens in fuzz/cron.dict. Exits
# non-zero on any crash or broken property (see the harness's header). Each run logs to its own file.
set -uo pipefail
seconds="${1:-60}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/fuzz/out/cron"
mkdir -p "$out/corpus"
swiftc="$(command -v swiftc || true)"
[ -n "$swiftc" ] || { echo "fuzz-cron: swiftc not found" >&2; exit 1; }
sources=("$root/Sources/PublicAPI/Schedules/Cron.swift" "$root/Sources/Basics/CivilCalendar.swift" "$root/fuzz/cron_fuzz.swift")
# Rebuilt only when a source is newer than the harness.
if [ ! -x "$out/cron_fuzz" ] || [ -n "$(find "${sources[@]}" -newer "$out/cron_fuzz")" ]; then
  if ! "$swiftc" -sanitize=fuzzer,address -parse-as-library -O -g "${sources[@]}" -o "$out/cron_fuzz" >"$out/build.log" 2>&1; then
    cat "$out/build.log" >&2; exit 1
  fi
fi
cp -n "$root"/fuzz/cron-corpus/* "$root"/fuzz/cron-corpus-min/* "$out/corpus/" 2>/dev/null || true
cd "$out"
log="$out/fuzz-$$.log"
./cron_fuzz -max_total_time="$seconds" -print_final_stats=1 -dict="$root/fuzz/cron.dict" -max_len=96 corpus >"$log" 2>&1
status=$?
grep -a -E "^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)|^Done" "$log"
if [ $status -ne 0 ]; then
  grep -a -E "cron fuzz:|ERROR|SUMMARY|Test unit written" "$log" >&2
  echo "fuzz-cron: the log is $log" >&2
  echo "fuzz-cron: FAILED; reproduce with $out/cron_fuzz <crash file>" >&2
  exit $status
fi
rm -f "$log"
echo "fuzz-cron: ${seconds}s, no crashes or broken properties"
