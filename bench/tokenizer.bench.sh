#!/usr/bin/env bash
# Tokenizer throughput (captions/s on one core, ~30-word captions): bin/bench_tokenizer.
# Pinned to one core; BIN overrides the program directory (default bin).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
OMP_NUM_THREADS=1 taskset -c 0 "$BIN/bench_tokenizer" "$@"
