#!/usr/bin/env bash
# The emulated GPU suite's two passes at once (make test-cuda-emu): as built,
# and with MMU_ARENA_GUARD=1 (every arena block its own mapping, unmapped when
# released, discarded or rewound, so a late read of a block stops the
# emulator). Each pass runs one host thread (OMP_NUM_THREADS=1, so that the
# two share CI's 2 cores without oversubscription) and writes a log of its
# own; both logs are printed once both have ended, and the exit status fails
# when either pass does.
#   bash tests/cuda_emu/both_passes.sh <run_tests_emu>
set -uo pipefail
RUNNER=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
OMP_NUM_THREADS=1 "$RUNNER" >"$T/plain.log" 2>&1 &
plain=$!
MMU_ARENA_GUARD=1 OMP_NUM_THREADS=1 "$RUNNER" >"$T/guarded.log" 2>&1 &
guarded=$!
wait "$plain"
rc_plain=$?
wait "$guarded"
rc_guarded=$?
echo "== the GPU parity tests against cuda/*.cu, run on the CPU (tests/cuda_emu) =="
cat "$T/plain.log"
echo "== the same, every arena block its own mapping, unmapped when released, discarded or rewound (MMU_ARENA_GUARD=1) =="
cat "$T/guarded.log"
[ "$rc_plain" = 0 ] || echo "the pass as built failed (exit status $rc_plain)"
[ "$rc_guarded" = 0 ] || echo "the MMU_ARENA_GUARD=1 pass failed (exit status $rc_guarded)"
[ "$rc_plain" = 0 ] && [ "$rc_guarded" = 0 ]
