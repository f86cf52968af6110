#!/usr/bin/env bash
# The peak device memory of the ALBEF-base MultiDelete step at the GPU
# benchmark's sizes (bench/gpu_check.sh), and of the fine-tuning step with
# momentum distillation (albef-base's train and Retrain), measured without a
# card: the
# emulated bench_albef with MMU_EMU_ACCOUNTING=1 makes every allocation and
# runs nothing (tests/cuda_emu/emu_scheduler.h). Each case's peak must
# stay within its bound: the measured value (bench/README.md "Peak device
# memory at ALBEF-base size") and 2%, so a change that holds more memory
# fails here; one that holds less lowers the bound with it.
#   bash tests/cuda_emu/memory_check.sh <emulated bin dir>
set -euo pipefail
EMU_BIN=$1
SIZES=(--img 384 --d 768 --heads 12 --vit-depth 12 --layers 6 --vocab 30522 --txt 30 --b 16 --iters 1 --warm 1)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# step, precision, momentum distillation (albef-base's train and Retrain), measured GiB
CASES=("md bf16 0 9.51" "md fp32 0 12.07" "ft bf16 1 15.02")
# The runs at once (each is host bookkeeping on one core, about 3.5 GB of host
# memory), their outputs read after all have ended.
for k in "${!CASES[@]}"; do
    read -r step precision momentum measured <<<"${CASES[$k]}"
    MMU_EMU_ACCOUNTING=1 "$EMU_BIN/bench_albef" --device cuda --precision "$precision" --steps "$step" \
        --momentum-distill "$momentum" "${SIZES[@]}" >"$T/$k.out" 2>&1 &
done
wait
status=0
for k in "${!CASES[@]}"; do
    read -r step precision momentum measured <<<"${CASES[$k]}"
    line=$(grep "\"step\": \"$step\"" "$T/$k.out") || { cat "$T/$k.out"; exit 1; }
    peak=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["peak_mem_GiB"])' "$line")
    what="$step step, $precision"
    if [ "$momentum" = 1 ]; then what+=", momentum distillation"; fi
    if python3 -c 'import sys; p, m = map(float, sys.argv[1:]); sys.exit(0 if p <= m * 1.02 else 1)' "$peak" "$measured"; then
        echo "$what: peak device memory $peak GiB (measured $measured GiB)"
    else
        echo "$what: peak device memory $peak GiB, over the measured $measured GiB + 2%" >&2
        status=1
    fi
done
exit $status
