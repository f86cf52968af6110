#!/usr/bin/env bash
# Tiny-ALBEF MultiDelete ("md") and fine-tuning ("ft") steps on the CPU, this
# project against ../shared/bench/albef_torch_anchor.py at the same sizes and
# thread count, in one run. Sizes: the albef-tiny shape (64 px, width 64,
# 2 heads, 2 ViT blocks, 2 text + 2 fusion layers), b = 16 Df + 16 Dr pairs.
# OMP_WAIT_POLICY=PASSIVE for both: on a shared 2-core machine, spinning
# OpenMP threads of concurrent processes starve each other (measured: 45x
# slower steps), which would measure the neighbours, not the engines.
set -euo pipefail
cd "$(dirname "$0")/.."
ANCHOR=${ANCHOR:-../shared/bench/albef_torch_anchor.py}
SIZES=(--img 64 --d 64 --heads 2 --vit-depth 2 --layers 2 --vocab 293 --txt 24 --b 16)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
ours=$(mktemp) theirs=$(mktemp)
trap 'rm -f "$ours" "$theirs"' EXIT
for round in 1 2 3; do
    ${BIN:-bin}/bench_albef "${SIZES[@]}" --iters 10 >>"$ours"
    /usr/bin/python3 "$ANCHOR" --device cpu "${SIZES[@]}" --modes fp32 --iters 10 2>/dev/null | grep '"step"' >>"$theirs"
done
/usr/bin/python3 - "$ours" "$theirs" <<'PY'
import json, sys, statistics
def load(path):
    out = {}
    for line in open(path):
        line = line.strip()
        if line.startswith("{") and '"step"' in line:
            r = json.loads(line)
            out.setdefault(r["step"], []).append(r["median_s"])
    return {k: statistics.median(v) for k, v in out.items()}
ours, theirs = load(sys.argv[1]), load(sys.argv[2])
print(f"threads {__import__('os').environ['OMP_NUM_THREADS']}, median of 3 rounds x 10 steps, 32 pairs per step")
print("| step | ours ms | ours samples/s | torch ms | torch samples/s | ratio (ours/torch throughput) |")
print("|---|---|---|---|---|---|")
for step in ("md", "ft"):
    o, t = ours[step], theirs[step]
    print(f"| {step} | {o*1e3:.1f} | {32/o:.0f} | {t*1e3:.1f} | {32/t:.0f} | {t/o:.2f} |")
PY
