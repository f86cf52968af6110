#!/usr/bin/env bash
# A test runner's suite split over N processes side by side (MMU_TEST_SHARD,
# tests/main.c), one OpenMP thread each, so that N cores run the mostly
# single-threaded tests at once (make test: the unit suite and its sanitizer
# run). The tests that need several threads set their own count. Each shard
# writes a log of its own; the logs are printed in order once all have ended,
# then the summed counts, and the exit status fails when any shard does.
#   bash tests/run_shards.sh N <run_tests> [args...]
set -uo pipefail
N=$1
shift
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pids=()
for ((k = 0; k < N; k++)); do
    MMU_TEST_SHARD="$k/$N" OMP_NUM_THREADS=1 "$@" >"$T/$k.log" 2>&1 &
    pids+=($!)
done
rc=0
for ((k = 0; k < N; k++)); do
    wait "${pids[$k]}" || { echo "shard $k/$N failed (exit status $?)" >>"$T/failures"; rc=1; }
done
passed=0 failed=0 skipped=0
for ((k = 0; k < N; k++)); do
    cat "$T/$k.log"
    read -r p f s < <(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped$/\1 \2 \3/p' "$T/$k.log" | tail -1)
    passed=$((passed + ${p:-0})) failed=$((failed + ${f:-0})) skipped=$((skipped + ${s:-0}))
done
[ -f "$T/failures" ] && cat "$T/failures"
echo "all $N shards: $passed passed, $failed failed, $skipped skipped"
exit $rc
