#!/usr/bin/env bash
# Tiny ALBEF-NLVR2 MultiDelete step on the CPU (two images per item), this
# project (bin/bench_nlvr_md) against bench/nlvr_md_torch.py at the same sizes
# and thread count, alternated over 3 rounds in one run. Sizes: 64 px, width
# 64, 2 heads, 2 ViT blocks, 2 text + 4 fusion layers (2 key/value-sharing
# pairs), vocab 293, 24 tokens, b = 8 Df + 8 Dr items (NLVR2's b_f,
# spec/unlearning_methods.md §5.3). OMP_WAIT_POLICY=PASSIVE for both, as
# bench/albef.bench.sh explains. PYTHON: an interpreter with torch (default /usr/bin/python3).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=(--img 64 --d 64 --heads 2 --vit-depth 2 --text-layers 2 --fusion-layers 4 --vocab 293 --txt 24 --b 8)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
ours=$(mktemp) theirs=$(mktemp)
trap 'rm -f "$ours" "$theirs"' EXIT
for round in 1 2 3; do
    ${BIN:-bin}/bench_nlvr_md "${SIZES[@]}" --iters 10 >>"$ours"
    ${PYTHON:-/usr/bin/python3} bench/nlvr_md_torch.py "${SIZES[@]}" --iters 10 >>"$theirs"
done
/usr/bin/python3 - "$ours" "$theirs" <<'PY'
import json, os, statistics, sys
def median(path):
    return statistics.median(json.loads(l)["median_s"] for l in open(path) if l.startswith("{"))
o, t = median(sys.argv[1]), median(sys.argv[2])
print(f"threads {os.environ['OMP_NUM_THREADS']}, median of 3 rounds x 10 steps, 16 items (32 images) per step")
print("| step | ours ms | ours items/s | torch ms | torch items/s | ratio (ours/torch throughput) |")
print("|---|---|---|---|---|---|")
print(f"| nlvr_md | {o*1e3:.1f} | {16/o:.0f} | {t*1e3:.1f} | {16/t:.0f} | {t/o:.2f} |")
PY
