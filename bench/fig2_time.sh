#!/usr/bin/env bash
# The paper's Figure 2, timed with the programs a user runs: how long
# MultiDelete takes to unlearn |Df| images (bin/unlearn_multidelete, the
# recipe's epochs) against Retrain (bin/retrain, the recipe on Dr from the
# initialisation), on one device.
#
#   bash bench/fig2_time.sh [--device cpu|cuda] [--model albef-tiny] [--df 100]
#                           [--budget 480] [--bin bin] [--work build/fig2]
# On a GPU (bench/gpu_check.sh step fig2): --device cuda --model albef-base --df 1000.
#
# Two synthetic worlds at the model's image size (bin/mkdata), sharing one
# vocab.txt padded to the config's vocab_size:
#   small  400 training images: the original (bin/train, one epoch: its
#          quality does not change a step's time) and one measured epoch of
#          Retrain on its Dr;
#   large  6·|Df| + 20 training images, so that Dr holds the 5·|Df| pairs the
#          deletion evaluation sets need (spec/unlearning_methods.md §6.2);
#          MultiDelete unlearns |Df| of its images from the original above.
# Both times are the unlearning loop alone, as §6.5 times Figure 2 (the
# programs' "unlearned in" / "trained" seconds: every step, without model
# selection's scoring, the epoch checkpoints and the evaluation, which the
# table lists beside). Retrain's full time is extrapolated from its measured
# seconds per step: floor(|Dr| / batch) steps per epoch (the loaders drop a
# last partial batch) times the recipe's epochs, for the large world's Dr and
# for Flickr30K's (145,000 pairs, paper Table 1, less the 5·|Df| deleted).
#
# Each phase runs under a cap cut to what is left of --budget seconds; a phase
# stopped at its cap is reported so, and the table says what finished. The
# work folder is emptied first: Retrain caches its model under
# <cwd>/runs/cache, and a cached model would time nothing.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEVICE=cpu MODEL=albef-tiny DF=100 BUDGET=480 BIN=$ROOT/bin WORK=$ROOT/build/fig2 SMALL=400
while [ $# -gt 0 ]; do
    case $1 in
    --device) DEVICE=$2 ;;
    --model) MODEL=$2 ;;
    --df) DF=$2 ;;
    --budget) BUDGET=$2 ;;
    --bin) BIN=$(cd "$2" && pwd) ;;
    --work) WORK=$2 ;;
    --small-images) SMALL=$2 ;;
    -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "fig2_time.sh: unknown flag $1 (see --help)" >&2; exit 2 ;;
    esac
    shift 2
done
for p in mkdata train retrain unlearn_multidelete; do
    [ -x "$BIN/$p" ] || { echo "fig2_time.sh: $BIN/$p is not built (make $p)" >&2; exit 2; }
done
CONFIG=$ROOT/models/configs/$MODEL.json
[ -f "$CONFIG" ] || { echo "fig2_time.sh: no model config $CONFIG" >&2; exit 2; }
SIZE=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["image_size"])' "$CONFIG") || exit 2
rm -rf "$WORK"
mkdir -p "$WORK"
cd "$WORK" || exit 2
START=$SECONDS
COMMON=(--model "$MODEL" --device "$DEVICE" --no-eval-original)

# phase NAME MIN CMD...: CMD with its log NAME.log, capped at what is left of
# the budget; with less than MIN seconds left it is not run. Its status line
# goes to phases.txt and stdout; returns CMD's status (124: stopped at the cap).
phase() {
    local name=$1 min=$2
    shift 2
    local left=$((BUDGET - (SECONDS - START)))
    if [ "$left" -lt "$min" ]; then
        echo "$name: not run (${left} s left of the ${BUDGET}-s budget, it needs ${min})" | tee -a phases.txt
        return 3
    fi
    local t0=$SECONDS rc=0
    timeout -k 5 "$left" "$@" >"$name.log" 2>&1 || rc=$?
    local what="ok"
    [ "$rc" = 0 ] || what="FAILED rc=$rc"
    [ "$rc" = 124 ] || [ "$rc" = 137 ] && what="STOPPED at the budget's end"
    echo "$name: $what ($((SECONDS - t0)) s wall)" | tee -a phases.txt
    [ "$rc" = 0 ] || tail -3 "$name.log" | sed 's/^/    | /'
    return "$rc"
}

LARGE=$((6 * DF + 20))
echo "fig2_time: $MODEL on $DEVICE, |Df| = $DF images, ${SIZE}-px worlds of $SMALL and $LARGE training images, budget ${BUDGET} s"
phase world_small 5 "$BIN/mkdata" --out small --train-images "$SMALL" --val-images 50 --test-images 50 \
    --image-size "$SIZE" --seed 1 &&
    phase world_large 5 "$BIN/mkdata" --out large --train-images "$LARGE" --val-images 50 --test-images 50 \
        --image-size "$SIZE" --seed 2 &&
    phase vocab 1 python3 - "$CONFIG" large/vocab.txt small/vocab.txt <<'PY' &&
# One vocabulary for both worlds (the original trained on the small one loads
# into the model of the large one), padded with BERT's [unusedN] tokens to the
# config's vocab_size: a world's vocab.txt sets the model's embedding table
# (programs/run_driver.c), and the real table's size is the config's.
import json, shutil, sys
config, large, small = sys.argv[1:]
want = json.load(open(config)).get("vocab_size", 0)
have = sum(1 for _ in open(large, encoding="utf-8"))
with open(large, "a", encoding="utf-8") as f:
    for k in range(max(0, want - have)):
        f.write(f"[unused{k}]\n")
shutil.copyfile(large, small)
print(f"vocab.txt: {have} tokens of the world, padded to {max(want, have)}")
PY
    phase original 20 "$BIN/train" "${COMMON[@]}" --data small --df-size 40 --epochs 1 --out original &&
    { phase retrain_epoch 20 "$BIN/retrain" "${COMMON[@]}" --data small --df-size 40 --epochs 1 \
        --original original/model.safetensors --out retrain_epoch
      phase multidelete 20 "$BIN/unlearn_multidelete" "${COMMON[@]}" --data large --df-size "$DF" \
        --original original/model.safetensors --eval-retrain off --out multidelete; }

# ---- the table, from the runs' logs and metrics ----
echo
echo "Figure 2 timing table:"
python3 - "$MODEL" "$DEVICE" "$DF" <<'PY'
import json, re, sys
model, device, df_images = sys.argv[1], sys.argv[2], int(sys.argv[3])
def text(path):
    try:
        return open(path).read()
    except OSError:
        return ""
def config(run):
    try:
        return json.load(open(run + "/config.json"))
    except (OSError, ValueError):
        return {}
phases = text("phases.txt")
md_log, rt_log = text("multidelete/train.log") or text("multidelete.partial/train.log"), text("retrain_epoch/train.log")
rt = re.search(r"Retrain trained: (\d+) steps in ([0-9.]+) s", rt_log)
md = re.search(r"unlearned in ([0-9.]+) s \((\d+) steps\)", md_log)
md_pairs = re.search(r"unlearning (\d+) Df pairs \((\d+) images\) against (\d+) Dr pairs: (\d+) epochs", md_log)
recipe = config("multidelete").get("recipe") or config("multidelete.partial").get("recipe") \
    or config("retrain_epoch").get("recipe", {})
print(f"{model} on {device}; |Df| = {df_images} images. Phases:")
print("\n".join("  " + l for l in phases.splitlines()))
print()
print("| what | steps | seconds | s/step | note |")
print("|---|---|---|---|---|")
s_step = None
if rt:
    steps, secs = int(rt.group(1)), float(rt.group(2))
    s_step = secs / steps
    print(f"| Retrain, one epoch measured (small world's Dr) | {steps} | {secs:.1f} | {s_step:.3f} | "
          f"batch {recipe.get('batch_size', '?')}; the basis of the extrapolations below |")
else:
    print("| Retrain, one epoch measured | - | - | - | did not finish (see retrain_epoch.log) |")
md_secs = None
if md:
    md_secs, md_steps = float(md.group(1)), int(md.group(2))
    n_df, n_img, n_dr, ep = (int(x) for x in md_pairs.groups()) if md_pairs else (0, 0, 0, 0)
    sel = re.search(r"([0-9.]+) s of scoring", md_log)
    wall = re.search(r"^multidelete: ok \((\d+) s wall\)", phases, re.M)
    print(f"| MultiDelete, measured | {md_steps} | {md_secs:.1f} | {md_secs / md_steps:.3f} | "
          f"{n_df} Df pairs ({n_img} images), {ep} epochs, Df batch {recipe.get('unlearn_batch_df', '?')}; "
          f"besides: {sel.group(1) + ' s of model selection scoring, ' if sel else ''}"
          f"{wall.group(1) + ' s for the whole program with loading and evaluation' if wall else ''} |")
else:
    done = re.findall(r"unlearn epoch (\d+):", md_log)
    print(f"| MultiDelete | - | - | - | did not finish ({len(done)} epochs logged; see multidelete.log) |")
if s_step and recipe:
    batch, epochs = recipe["batch_size"], recipe["epochs"]
    rows = []
    if md and md_pairs:
        rows.append(("this world's Dr", int(md_pairs.group(3))))
    rows.append(("Flickr30K's Dr (145,000 pairs less 5 per deleted image)", 145000 - 5 * df_images))
    for name, pairs in rows:
        steps = pairs // batch * epochs  # the loop drops a last partial batch, as the programs do
        secs = steps * s_step
        ratio = f"; {secs / md_secs:.1f}x MultiDelete's time" if md_secs else ""
        print(f"| Retrain on {name}, extrapolated | {steps} | {secs:.0f} | {s_step:.3f} | "
              f"{pairs} pairs, {epochs} epochs of batch {batch}{ratio} |")
    print("\nThe extrapolations take the measured epoch's mean seconds per step, start-up included (the first "
          "steps' GEMM plans and allocations), so they lean long by that start-up over one epoch.")
PY
