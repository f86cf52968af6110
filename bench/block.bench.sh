#!/usr/bin/env bash
# One transformer block forward+backward: this project (bin/bench_block) against
# PyTorch CPU (bench/block_torch.py, Debian python3-torch) pinned to the same
# cores with the same thread count, in one run, ROUNDS rounds alternating the
# two so that background load hits both alike. Reported: the best round's
# median and the minimum over all iterations; ratio = PyTorch min / our min
# (our throughput relative to PyTorch's; >= 1 means we are faster).
# Env: THREADS (2), ITERS per round (10), ROUNDS (3), BIN (bin),
#      OMP_WAIT_POLICY (unset = libgomp's default spinning; passed to both sides).
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
ITERS=${ITERS:-10}
ROUNDS=${ROUNDS:-3}
BIN=${BIN:-bin}
[ -x "$BIN/bench_block" ] || make -s "$BIN/bench_block" BIN="$BIN"
CPUS="0-$((THREADS - 1))"
have_torch=0
/usr/bin/python3 -c 'import torch' 2>/dev/null && have_torch=1
ours="" theirs=""
for _ in $(seq "$ROUNDS"); do
    ours+=$(OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS taskset -c "$CPUS" \
        "$BIN/bench_block" --iters "$ITERS")$'\n'
    if ((have_torch)); then
        theirs+=$(OMP_NUM_THREADS=$THREADS taskset -c "$CPUS" \
            /usr/bin/python3 bench/block_torch.py --threads "$THREADS" --iters "$ITERS")$'\n'
    fi
done
((have_torch)) || echo "(python3-torch missing: PyTorch columns left empty)"
# best round's median and overall min per case, as "case median min"
best() { awk 'NF == 3 { if (!($1 in md) || $2 < md[$1]) md[$1] = $2; if (!($1 in mn) || $3 < mn[$1]) mn[$1] = $3 }
              END { for (c in md) print c, md[c], mn[c] }'; }
ours_best=$(echo "$ours" | best)
theirs_best=$(echo "$theirs" | best)
echo "threads=$THREADS iters=$ITERS rounds=$ROUNDS OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-default}" \
     "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
printf '%-11s %10s %10s %10s %10s %7s\n' case ours_med ours_min torch_med torch_min ratio
for name in vit_block bert_cross; do
    read -r ms mn < <(echo "$ours_best" | awk -v n="$name" '$1 == n {print $2, $3}')
    read -r tms tmn < <(echo "$theirs_best" | awk -v n="$name" '$1 == n {print $2, $3}') || true
    if [ -n "${tmn:-}" ]; then
        ratio=$(awk -v a="$tmn" -v b="$mn" 'BEGIN {printf "%.2f", a / b}')
    else
        tms="-" tmn="-" ratio="-"
    fi
    printf '%-11s %10s %10s %10s %10s %7s\n' "$name" "$ms" "$mn" "$tms" "$tmn" "$ratio"
    tms="" tmn=""
done
