#!/usr/bin/env bash
# Builds the libFuzzer + ASan + UBSan harness for the C HTTP parser and runs it for N seconds
# (default 60) over a copy of the seed corpus (fuzz/corpus: hand-written requests; fuzz/corpus-min: the
# minimized corpus of a 1 h run, 310 edges). Exits non-zero on any crash or mismatch.
set -uo pipefail
seconds="${1:-60}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/fuzz/out"
mkdir -p "$out/corpus"
cc="$(command -v clang || true)"
[ -n "$cc" ] || { echo "fuzz: clang not found (it ships with the Swift toolchain)" >&2; exit 1; }
if ! "$cc" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I "$root/Sources/CShim/include" "$root/Sources/CShim/http_parser.c" "$root/fuzz/http_parser_fuzz.c" \
  -o "$out/http_parser_fuzz" >"$out/build.log" 2>&1; then
  cat "$out/build.log" >&2; exit 1
fi
cp -n "$root"/fuzz/corpus/* "$root"/fuzz/corpus-min/* "$out/corpus/" 2>/dev/null || true
cd "$out"
./http_parser_fuzz -max_total_time="$seconds" -print_final_stats=1 corpus >"$out/fuzz.log" 2>&1
status=$?
grep -E "^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)|^Done" "$out/fuzz.log"
if [ $status -ne 0 ]; then
  grep -E "ERROR|SUMMARY|crash|Test unit written" "$out/fuzz.log" >&2
  echo "fuzz: FAILED; reproduce with $out/http_parser_fuzz <crash file>" >&2
  exit $status
fi
echo "fuzz: ${seconds}s, no crashes"
