#!/usr/bin/env bash
# The data-parallel tests of `make test` (core/comm.h, autograd/grad_sync.h):
#   1. the test binary alone (one rank: MPI linked, never started);
#   2. under mpirun -np 2 and -np 3 (an odd world);
#   3. the failure path: a rank that stops with an error while the other is
#      in an all-reduce ends the job with the failing rank's message; a rank
#      that hangs makes the other stop at the collective's timeout, saying so.
# Ends with "N passed, N failed" and fails when anything failed.
# Usage: tests/mpi/run.sh build/release/run_tests_mpi
set -uo pipefail
BIN=${1:?usage: tests/mpi/run.sh <run_tests_mpi>}
# The machines here run as root, which Open MPI refuses unless told.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
# No network beyond this host (and no warnings about the missing ones).
MPIRUN=(mpirun --oversubscribe --bind-to none --mca btl self,vader --mca btl_vader_single_copy_mechanism none)
LOG=$(mktemp -d /tmp/mmu_mpi_tests.XXXXXX)
passed=0 failed=0
verdict() { # name, status (0 = ok), detail
    if [ "$2" = 0 ]; then passed=$((passed + 1)); echo "ok   $1"
    else failed=$((failed + 1)); echo "FAIL $1: $3"; fi
}

suite() { # name, command...: the binary's own cases must all pass
    local name=$1; shift
    "$@" >"$LOG/$name.out" 2>&1
    local rc=$? last
    last=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$LOG/$name.out" | tail -1)
    sed 's/^/    /' "$LOG/$name.out"
    [[ $rc = 0 && $last =~ ^[1-9][0-9]*\ passed,\ 0\ failed$ ]]
    verdict "$name" $? "exit $rc, last line '$last' (log $LOG/$name.out)"
}
suite "one rank, no mpirun" "$BIN"
suite "mpirun -np 2" "${MPIRUN[@]}" -np 2 "$BIN"
suite "mpirun -np 3" "${MPIRUN[@]}" -np 3 "$BIN"

failure() { # name, mode, timeout (s), limit (s), expected message (regex)
    local name=$1 mode=$2 timeout=$3 limit=$4 want=$5 t0=$SECONDS rc
    MMU_COMM_TIMEOUT=$timeout timeout 120 "${MPIRUN[@]}" -np 2 "$BIN" "$mode" >"$LOG/$mode.out" 2>&1
    rc=$?
    local took=$((SECONDS - t0))
    sed 's/^/    /' "$LOG/$mode.out" | head -20
    if [ $rc = 0 ]; then verdict "$name" 1 "the job exited 0"
    elif [ $rc = 124 ]; then verdict "$name" 1 "the job hung until the outer 120 s limit"
    elif [ $took -gt "$limit" ]; then verdict "$name" 1 "the job took $took s (limit $limit s)"
    elif ! grep -Eq "$want" "$LOG/$mode.out"; then verdict "$name" 1 "no message matching '$want'"
    elif grep -q "completed, which it must not" "$LOG/$mode.out"; then verdict "$name" 1 "an all-reduce completed"
    else verdict "$name (exit $rc after $took s)" 0 ""; fi
}
failure "a rank stops: the job ends with its rank and reason" --die 60 30 \
    "error: rank 1 of 2: stopping on purpose before the all-reduce"
failure "a rank hangs: the other stops at the timeout" --hang 3 30 \
    "error: rank 0 of 2: all-reduce of 3 elements did not complete within 3 s"

[ $failed = 0 ] && rm -rf "$LOG"
echo "$passed passed, $failed failed"
[ $failed = 0 ]
