#!/usr/bin/env bash
# Executor bench (not run in tests): executor calls/s against a local upstream vs a plain libcurl
# loop with the same options (bench/curl_loop.c) in the same run, the CPU per call of both (getrusage,
# the in-process upstream's included: on a shared box less noisy than the rates), the same loop split across two
# threads as the executor is (bench/curl_handoff_loop.c, the floor of that design), and OAuth2 token fetches counted
# under 1000 concurrent calls on a cold config (goal: 1). Only 127.0.0.1. Interleaved rounds (plain, ours,
# plain, ours, …, plain; NEO_BENCH_ROUNDS, default 5) of NEO_BENCH_CALLS calls each (default 20000): each executor
# run is set against the mean of the plain runs on either side, and the medians over the rounds are reported
# (~15 s on a quiet box, ~40 s at load 5). CONFIG=debug skips the release build.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
config="${CONFIG:-release}"
work="$(mktemp -d /tmp/neo-bench-executor.XXXXXX)"
trap 'rm -rf "$work"' EXIT
cc -O2 -Wall -Wextra -Werror -o "$work/curl_loop" "$root/bench/curl_loop.c" -lcurl
cc -O2 -Wall -Wextra -Werror -pthread -o "$work/curl_handoff_loop" "$root/bench/curl_handoff_loop.c" -lcurl
cd "$root"
swift build -c "$config" --build-tests -Xswiftc -enable-testing >/dev/null
NEO_BENCH_CURL_LOOP="$work/curl_loop" NEO_BENCH_CURL_HANDOFF_LOOP="$work/curl_handoff_loop" timeout 600 swift test -c "$config" -Xswiftc -enable-testing --skip-build --filter ExecutorBenchmarks 2>&1 \
  | grep -E '^bench |error:' | sed 's/^bench /  /'
