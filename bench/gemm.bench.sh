#!/usr/bin/env bash
# CPU GEMM throughput at ViT-B / BERT-base shapes: the kernel behind core/gemm.h
# (OpenBLAS) and the handwritten AVX2/FMA candidate (bin/bench_gemm), against
# PyTorch CPU (bench/gemm_torch.py, Debian python3-torch) on the same cores with
# the same thread count, in one run. Ratios are GFLOP/s over PyTorch's
# (>= 1: we are faster). The C and Python runs alternate ROUNDS times and each
# cell is the median over rounds, so a burst of load on the machine hits both.
# Env: THREADS (2), REPS (10 calls per timing), ROUNDS (3), BIN (bin).
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
REPS=${REPS:-10}
ROUNDS=${ROUNDS:-3}
BIN=${BIN:-bin}
[ -x "$BIN/bench_gemm" ] || make -s "$BIN/bench_gemm" BIN="$BIN"
CPUS="0-$((THREADS - 1))"
have_torch=0
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    have_torch=1
else
    echo "(python3-torch missing: PyTorch columns left empty)"
fi
ours="" torch_out=""
for ((r = 0; r < ROUNDS; r++)); do
    ours+=$(OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS taskset -c "$CPUS" \
        "$BIN/bench_gemm" --reps "$REPS")$'\n'
    if [ "$have_torch" = 1 ]; then
        torch_out+=$(OMP_NUM_THREADS=$THREADS taskset -c "$CPUS" /usr/bin/python3 bench/gemm_torch.py \
            --threads "$THREADS" --reps "$REPS")$'\n'
    fi
done
median() { sort -g | awk '{v[NR] = $1} END {if (NR) print v[int((NR + 1) / 2)]; else print "-"}'; }
echo "threads=$THREADS reps=$REPS rounds=$ROUNDS $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "GFLOP/s (median over rounds); ratio = ours / torch"
printf '%-11s %-15s %-7s %9s %9s %9s %10s %10s %9s\n' case MxNxK op openblas handwrit torch blas/torch hand/torch maxrelerr
for name in $(awk 'NF {print $1}' <<< "$ours" | awk '!seen[$0]++'); do
    read -r M N K ta tb err < <(awk -v n="$name" '$1 == n {print $2, $3, $4, $5, $6, $9; exit}' <<< "$ours")
    blas=$(awk -v n="$name" '$1 == n {print $7}' <<< "$ours" | median)
    hand=$(awk -v n="$name" '$1 == n {print $8}' <<< "$ours" | median)
    tch=$(awk -v n="$name" '$1 == n {print $2}' <<< "$torch_out" | median)
    op="$([ "$ta" = 1 ] && echo "A^T" || echo "A")*$([ "$tb" = 1 ] && echo "B^T" || echo "B")"
    if [ "$tch" != "-" ]; then
        rb=$(awk -v a="$blas" -v b="$tch" 'BEGIN {printf "%.2f", a / b}')
        rh=$(awk -v a="$hand" -v b="$tch" 'BEGIN {printf "%.2f", a / b}')
    else
        rb="-" rh="-"
    fi
    printf '%-11s %-15s %-7s %9s %9s %9s %10s %10s %9s\n' "$name" "${M}x${N}x${K}" "$op" "$blas" "$hand" "$tch" "$rb" "$rh" "$err"
done
