#!/usr/bin/env bash
# Image loading throughput (spec/albef_blip.md §5.5 pipelines) on synthetic
# 500x375 quality-90 JPEGs (Flickr30K-like): bin/bench_images on THREADS cores
# (decode, decode+eval, decode+train with RandomResizedCrop + flip +
# RandAugment(2,5) + normalise, 384x384 out), then bin/bench_images on 1 core
# and the PIL/numpy equivalent (bench/images_pil.py, Debian python3-pil) on 1
# core. Ends with the cores needed for 1,000 training images/s.
# Env: THREADS (2), IMAGES (600 loads per stage), SIZE (384), BIN (bin).
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
IMAGES=${IMAGES:-600}
SIZE=${SIZE:-384}
BIN=${BIN:-bin}
[ -x "$BIN/bench_images" ] || make -s "$BIN/bench_images" BIN="$BIN"
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
"$BIN/bench_images" --make "$DIR" --count 32
echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "stage threads images/s images/s/core"
echo "== ours, $THREADS cores"
ours=$(OMP_NUM_THREADS=$THREADS taskset -c "0-$((THREADS - 1))" "$BIN/bench_images" --dir "$DIR" --images "$IMAGES" --size "$SIZE")
echo "$ours"
echo "== ours, 1 core"
OMP_NUM_THREADS=1 taskset -c 0 "$BIN/bench_images" --dir "$DIR" --images $((IMAGES / 2)) --size "$SIZE"
if /usr/bin/python3 -c 'import PIL, numpy' 2>/dev/null; then
    echo "== PIL + numpy, 1 core"
    taskset -c 0 /usr/bin/python3 bench/images_pil.py --dir "$DIR" --images $((IMAGES / 3)) --size "$SIZE"
else
    echo "(python3-pil missing: no PIL reference)"
fi
awk '$1 == "decode+train" {printf "cores needed for 1,000 training images/s: %.1f (at %.0f images/s/core)\n", 1000 / $4, $4}' <<< "$ours"
