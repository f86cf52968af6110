#!/usr/bin/env bash
# Runs every ALBEF retrieval program on one small world and keeps what each
# wrote (metrics.json, model.safetensors, scores_*.csv), so that two builds
# can be compared number for number: a refactor must change no number.
#   check_refactor_numbers.sh run <bin dir> <out dir> [name...]
#   check_refactor_numbers.sh compare <out dir A> <out dir B>
# `run` (only the named runs, and the trainings they start from, when names
# are given) uses the small world and flags of tests/cuda_emu/program_check.sh (CPU
# only). `compare` prints, per program, whether every metric (times excluded)
# and every weight and per-pair score is bit-identical, and the largest
# difference where not; it exits 1 on any difference. MMU_LAUNCH (e.g.
# "mpirun --allow-run-as-root --oversubscribe -np 2") runs every program under
# that launcher: `compare` against a plain run then measures data parallel.
set -euo pipefail
mode=$1
if [ "$mode" = run ]; then
    BIN=$(cd "$2" && pwd) OUT=$3 ROOT=$(pwd)
    ONLY=" ${*:4} "
    mkdir -p "$OUT"
    OUT=$(cd "$OUT" && pwd)
    W=$OUT/work
    rm -rf "$W"
    mkdir -p "$W"
    "$BIN/mkdata" --out "$W/world" --train-images 40 --val-images 12 --test-images 12 >/dev/null
    "$BIN/mkdata" --out "$W/world16" --train-images 16 --val-images 8 --test-images 8 >/dev/null
    "$BIN/mkdata" --out "$W/world64" --train-images 64 --val-images 8 --test-images 8 >/dev/null
    run() { # run <name> <program> <flags...>: in a directory of its own (UL caches its head under runs/)
        local name=$1 prog=$2
        shift 2
        case "$name" in train*) ;; *) [ "$ONLY" = "  " ] || [[ "$ONLY" == *" $name "* ]] || return 0 ;; esac
        mkdir -p "$W/wd/$name"
        (cd "$W/wd/$name" && OMP_NUM_THREADS=1 ${MMU_LAUNCH:-} "$BIN/$prog" "$@" --out "$OUT/$name") >"$OUT/$name.log" 2>&1 ||
            { echo "$name failed:"; tail -20 "$OUT/$name.log"; exit 1; }
        echo "$name done"
    }
    M=(--model "$ROOT/models/configs/albef-tiny.json")
    run train train "${M[@]}" --data "$W/world" --epochs 1 --df-size 6 --eval-original=false
    run train16 train "${M[@]}" --data "$W/world16" --epochs 1 --df-size 2 --eval-original=false
    run train64 train "${M[@]}" --data "$W/world64" --epochs 1 --df-size 7 --eval-original=false
    C=("${M[@]}" --data "$W/world" --original "$OUT/train/model.safetensors"
       --df-size 6)
    run retrain retrain "${M[@]}" --data "$W/world" --epochs 1 --df-size 6 --eval-original=false
    run multidelete unlearn_multidelete "${C[@]}" --epochs 3 --select-from 2
    run multidelete_f unlearn_multidelete "${C[@]}" --epochs 1 --fusion-only --no-ukr
    run finetune unlearn_finetune "${C[@]}" --eval-original=false
    # NegGrad's batch is the training batch (32): 7 images of a 64-image world give 35 Df pairs (one
    # step) and leave the 5 x 35 Dr pairs the evaluation subsets need.
    run neggrad unlearn_neggrad "${M[@]}" --data "$W/world64" --original "$OUT/train64/model.safetensors" \
        --df-size 7 --eval-original=false
    run dtd unlearn_dtd "${C[@]}" --descent-epochs 1 --k-test 4 --eval-original=false
    run ul unlearn_ul "${C[@]}" --epochs 2 --stop-accuracy 0 --eval-original=false
    run lcodec unlearn_lcodec "${C[@]}" --perturbations 4 --batch 16 --hessian-batches 1 --foci full \
        --max-units 4 --guard-pairs 16 --k-test 4 --eval-original=false
    run ermktp unlearn_ermktp --model "$ROOT/models/configs/albef-tiny.json" --data "$W/world16" \
        --original "$OUT/train16/model.safetensors" --df-size 2 --erm-epochs 1 --ktp-epochs 1 --mask-period 1 \
        --mask-epoch-min 0 --prohibit-threshold 0.999 --eval-original=false
    run evaluate evaluate "${C[@]}" --checkpoints "$OUT/multidelete/model.safetensors,$OUT/finetune/model.safetensors"
    rm -rf "$W"
    exit 0
fi
[ "$mode" = compare ] || { echo "usage: $0 run <bin> <out> | compare <a> <b>"; exit 2; }
python3 - "$2" "$3" <<'PY'
import csv, json, os, struct, sys
a_root, b_root = sys.argv[1], sys.argv[2]

def numbers(node, prefix=""):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from numbers(v, f"{prefix}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from numbers(v, f"{prefix}[{i}]")
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        if "second" not in prefix and "time" not in prefix and "per_s" not in prefix:
            yield prefix, float(node)

def weights(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    return {k: data[v["data_offsets"][0]:v["data_offsets"][1]] for k, v in header.items() if k != "__metadata__"}

bad = 0
def runs(root):
    return {d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)) and d != "work"}
for name in sorted(runs(a_root) ^ runs(b_root)):
    print(f"{name:14s} only in {a_root if name in runs(a_root) else b_root}: not compared")
for name in sorted(runs(a_root) & runs(b_root)):
    a, b = os.path.join(a_root, name), os.path.join(b_root, name)
    notes = []
    ja, jb = (dict(numbers(json.load(open(os.path.join(d, "metrics.json"))))) if
              os.path.exists(os.path.join(d, "metrics.json")) else {} for d in (a, b))
    # The echoed configuration is reported apart: it may record more (a resolved flag, a new recipe field).
    ma, mb = ({k: v for k, v in j.items() if not k.startswith(".config.")} for j in (ja, jb))
    ca, cb = ({k: v for k, v in j.items() if k.startswith(".config.")} for j in (ja, jb))
    if ma.keys() != mb.keys():
        notes.append(f"metric keys differ: {sorted(ma.keys() ^ mb.keys())[:5]}")
    diff = [(abs(ma[k] - mb[k]), k) for k in ma.keys() & mb.keys() if ma[k] != mb[k]]
    if diff:
        notes.append(f"{len(diff)} of {len(ma)} metrics differ (largest {max(diff)[0]:.3g} in {max(diff)[1]})")
    config_changes = [f"{k[8:]} {ca.get(k)} -> {cb.get(k)}" for k in sorted(ca.keys() | cb.keys())
                      if ca.get(k) != cb.get(k)]
    wa, wb = os.path.join(a, "model.safetensors"), os.path.join(b, "model.safetensors")
    nw = 0
    if os.path.exists(wa):
        ta, tb = weights(wa), weights(wb)
        nw = len(ta)
        if ta.keys() != tb.keys():
            notes.append("tensor names differ")
        changed = [k for k in ta.keys() & tb.keys() if ta[k] != tb[k]]
        if changed:
            notes.append(f"{len(changed)} of {len(ta)} tensors differ ({changed[0]})")
    ns = 0
    for split in ("df", "dr"):
        pa, pb = os.path.join(a, f"scores_{split}.csv"), os.path.join(b, f"scores_{split}.csv")
        if os.path.exists(pa):
            ns += 1
            if open(pa).read() != open(pb).read():
                notes.append(f"scores_{split}.csv differs")
    status = "identical" if not notes else "DIFFERENT: " + "; ".join(notes)
    bad += bool(notes)
    print(f"{name:14s} {len(ma):4d} metrics, {nw:3d} tensors, {ns} score files: {status}")
    if config_changes:
        print(f"{'':14s} config.json echo: {', '.join(config_changes)}")
sys.exit(1 if bad else 0)
PY
