#!/usr/bin/env bash
# The PGR task on a GPU, one prepared run (about 5 minutes on an H100):
#   1. builds bin/train, bin/evaluate and the test runner with the CUDA backend;
#   2. runs the PyTorch reference tests of the graph-text model, which on a GPU
#      also run the fp32 device variants (nothing may skip);
#   3. trains pgr-tiny on the shipped corpus with --device cuda (EPOCHS, default
#      10) through the run driver (bin/train --task pgr) and evaluates the
#      checkpoint (bin/evaluate: Dt accuracy, Df, MI).
# As bench/gpu_check.sh: carry .gpu-debs (scripts/gpu_machine_debs.sh) with the
# call; logs go to $OUT or build/pgr_gpu.
set -uo pipefail
cd "$(dirname "$0")/.."
LOG=${OUT:-build/pgr_gpu}
EPOCHS=${EPOCHS:-10}
mkdir -p "$LOG"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$LOG/gpu.txt"
MAKE_ARGS=(CUDA=1)
if ! ldconfig -p | grep -q 'libcjson.so.1 ' && [ -d .gpu-debs ]; then
    mkdir -p .gpu-debs/root
    for f in .gpu-debs/*.deb; do dpkg -x "$f" .gpu-debs/root; done
    MAKE_ARGS+=(DEPS_ROOT=.gpu-debs/root)
    export LD_LIBRARY_PATH="$PWD/.gpu-debs/root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
t0=$SECONDS
make -j"$(nproc)" "${MAKE_ARGS[@]}" bin/train bin/evaluate build/release/run_tests >"$LOG/build.log" 2>&1 ||
    { tail -20 "$LOG/build.log"; exit 1; }
echo "build: $((SECONDS - t0)) s"
build/release/run_tests pgr_reference 2>&1 | tee "$LOG/reference.log" | tail -8
tail -1 "$LOG/reference.log" | grep -q ' 0 failed, 0 skipped$' || echo "REFERENCE: a test failed or skipped"
OMP_NUM_THREADS=8 bin/train --task pgr --device cuda --epochs "$EPOCHS" --out "$LOG/train-run" 2>&1 |
    tee "$LOG/train.log" | grep -v 'it/s' | tail -$((EPOCHS + 2))
OMP_NUM_THREADS=8 bin/evaluate --task pgr --device cuda --checkpoints "$LOG/train-run/model.safetensors" \
    --names trained --eval-retrain off --out "$LOG/eval-run" 2>&1 | tee "$LOG/eval.log" | tail -12
