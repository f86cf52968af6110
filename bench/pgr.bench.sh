#!/usr/bin/env bash
# One training step of the tiny PGR graph-text model: this project
# (bin/bench_pgr) against PyTorch CPU (bench/pgr_torch.py, torch.sparse
# aggregation) at the same sizes, pinned to the same cores with the same
# thread count, ROUNDS rounds alternating the two. Reported: the best round's
# median and the minimum; ratio = PyTorch median / our median (>= 1: we are faster).
# Env: THREADS (2), ITERS per round (10), ROUNDS (3), BIN (bin), OMP_WAIT_POLICY.
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
ITERS=${ITERS:-10}
ROUNDS=${ROUNDS:-3}
BIN=${BIN:-bin}
[ -x "$BIN/bench_pgr" ] || make -s "$BIN/bench_pgr" BIN="$BIN"
CPUS="0-$((THREADS - 1))"
have_torch=0
/usr/bin/python3 -c 'import torch' 2>/dev/null && have_torch=1
ours="" theirs=""
for _ in $(seq "$ROUNDS"); do
    ours+=$(OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS taskset -c "$CPUS" \
        "$BIN/bench_pgr" --iters "$ITERS")$'\n'
    if ((have_torch)); then
        theirs+=$(OMP_NUM_THREADS=$THREADS taskset -c "$CPUS" \
            /usr/bin/python3 bench/pgr_torch.py --threads "$THREADS" --iters "$ITERS")$'\n'
    fi
done
((have_torch)) || echo "(python3-torch missing: PyTorch columns left empty)"
best() { awk 'NF == 3 { if (md == "" || $2 < md) md = $2; if (mn == "" || $3 < mn) mn = $3 } END { print md, mn }'; }
read -r ms mn < <(echo "$ours" | best)
read -r tms tmn < <(echo "$theirs" | best) || true
echo "threads=$THREADS iters=$ITERS rounds=$ROUNDS OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-default}" \
     "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
printf '%-10s %10s %10s %10s %10s %7s\n' case ours_med ours_min torch_med torch_min ratio
ratio="-"
[ -n "${tms:-}" ] && ratio=$(awk -v a="$tms" -v b="$ms" 'BEGIN {printf "%.2f", a / b}')
printf '%-10s %10s %10s %10s %10s %7s\n' pgr_step "$ms" "$mn" "${tms:--}" "${tmn:--}" "$ratio"
