#!/usr/bin/env bash
# The program-level check of the device path (issue 5 "The same models and
# programs run with --device cuda"): bin/train and bin/unlearn_multidelete run
# once on the CPU and once with --device cuda --precision fp32 linked against
# the CUDA kernel emulator, on the same small world (and, for MultiDelete, the
# same original checkpoint and deletion list). The trained weights must be
# close, every metric of the two MultiDelete runs must agree (fp32 on both
# sides: only summation orders differ), and so must the unlearned weights.
# Usage: program_check.sh <bin dir> <emulated bin dir>
set -euo pipefail
BIN=$1 EMU_BIN=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
"$BIN/mkdata" --out "$T/world" --train-images 40 --val-images 12 --test-images 12 >/dev/null
"$BIN/train" --data "$T/world" --epochs 1 --df-size 6 --eval-original=false --out "$T/original" >"$T/train.log" 2>&1 ||
    { cat "$T/train.log"; exit 1; }
"$EMU_BIN/train" --data "$T/world" --epochs 1 --df-size 6 --eval-original=false --device cuda --precision fp32 \
    --out "$T/original_cuda" >"$T/train_cuda.log" 2>&1 || { cat "$T/train_cuda.log"; exit 1; }
COMMON=(--data "$T/world" --original "$T/original/model.safetensors" --df-size 6 --epochs 1)
"$BIN/unlearn_multidelete" "${COMMON[@]}" --device cpu --out "$T/cpu" >"$T/cpu.log" 2>&1 ||
    { cat "$T/cpu.log"; exit 1; }
"$EMU_BIN/unlearn_multidelete" "${COMMON[@]}" --device cuda --precision fp32 --out "$T/cuda" >"$T/cuda.log" 2>&1 ||
    { cat "$T/cuda.log"; exit 1; }
python3 - "$T/cpu" "$T/cuda" "$T/original" "$T/original_cuda" <<'PY'
import json, math, struct, sys
cpu_dir, cuda_dir, train_cpu_dir, train_cuda_dir = sys.argv[1:5]

def numbers(node, prefix=""):
    """Every number in a JSON tree, by its path (times excluded: they differ by nature)."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from numbers(v, f"{prefix}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from numbers(v, f"{prefix}[{i}]")
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        if "second" not in prefix and "time" not in prefix and "per_s" not in prefix:
            yield prefix, float(node)

def tensors(path):
    """The f32 tensors of a safetensors file as flat lists."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] != "F32":
            continue
        a, b = info["data_offsets"]
        out[name] = struct.unpack(f"<{(b - a) // 4}f", data[a:b])
    return out

cpu = dict(numbers(json.load(open(f"{cpu_dir}/metrics.json"))))
cuda = dict(numbers(json.load(open(f"{cuda_dir}/metrics.json"))))
assert cpu.keys() == cuda.keys(), f"metrics differ in keys: {sorted(cpu.keys() ^ cuda.keys())}"
bad = []
for k in cpu:
    a, b = cpu[k], cuda[k]
    # Recalls and AUCs are percentages over a few dozen items: one rank flip
    # from a rounding difference moves them by a few points at most.
    tol = 5.0 if abs(a) > 1.5 else 1e-3 + 1e-3 * abs(a)
    if not (math.isfinite(b) and abs(a - b) <= tol):
        bad.append(f"{k}: cpu {a} vs cuda {b}")
def worst_difference(a_path, b_path):
    a, b = tensors(a_path), tensors(b_path)
    assert a.keys() == b.keys(), f"{a_path} and {b_path} hold different tensors"
    return max((abs(x - y), name) for name in a for x, y in zip(a[name], b[name]))

# Six AdamW steps from the same initialisation: rounding differences grow but stay small.
trained = worst_difference(f"{train_cpu_dir}/model.safetensors", f"{train_cuda_dir}/model.safetensors")
if trained[0] > 1e-4:
    bad.append(f"trained weights differ by {trained[0]:.3g} in {trained[1]}")
worst = worst_difference(f"{cpu_dir}/model.safetensors", f"{cuda_dir}/model.safetensors")
if worst[0] > 1e-4:
    bad.append(f"unlearned weights differ by {worst[0]:.3g} in {worst[1]}")
print(f"train: weights agree to {trained[0]:.2g} (worst: {trained[1]})")
print(f"unlearn_multidelete: {len(cpu)} metrics compared; weights agree to {worst[0]:.2g} (worst: {worst[1]})")
if bad:
    print("MISMATCH between --device cpu and --device cuda (emulated):\n  " + "\n  ".join(bad))
    sys.exit(1)
print("train and unlearn_multidelete with --device cuda (emulated) match --device cpu")
PY
