#!/usr/bin/env bash
# The single command that proves the GPU side (issue 5). On a GPU machine:
#   1. builds everything (CUDA backend included) and runs the whole test suite,
#      where the GPU tests now run instead of skipping;
#   2. times the ALBEF-base MultiDelete step (16 Df + 16 Dr pairs, 384 px,
#      ViT-B/16, 6+6 BERT layers) in bf16 and fp32 and the fine-tuning step
#      in bf16, and
#      ../shared/bench/albef_torch_anchor.py (eager bf16 and torch.compile) on
#      the same card, in this same run;
#   3. runs the attention tests under compute-sanitizer racecheck (shared
#      memory hazards of the fused kernels, 2 minutes at most) and the CUDA
#      parity suite under memcheck (when installed) in the time that is left;
#   4. prints a short table last.
# Budget: under 8 minutes on an H100 (memcheck gets what is left of 7).
# Logs go to $OUT (the device tool's folder) or build/gpu_check.
#
# The GPU machines cannot install packages: run scripts/gpu_machine_debs.sh
# here first and carry .gpu-debs with the call; the libraries are unpacked
# into .gpu-debs/root and the build uses them (make DEPS_ROOT=...).
set -uo pipefail
cd "$(dirname "$0")/.."
LOG=${OUT:-build/gpu_check}
mkdir -p "$LOG"
ANCHOR=${ANCHOR:-../shared/bench/albef_torch_anchor.py}
BASE=(--img 384 --d 768 --heads 12 --vit-depth 12 --layers 6 --vocab 30522 --txt 30 --b 16)
status=()
step() { # name, command...: runs it with its log, records ok/FAILED
    local name=$1; shift
    local t0=$SECONDS
    if "$@" >"$LOG/$name.log" 2>&1; then status+=("$name: ok ($((SECONDS - t0)) s)")
    else status+=("$name: FAILED rc=$? ($((SECONDS - t0)) s), see $LOG/$name.log"); fi
    tail -3 "$LOG/$name.log"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$LOG/gpu.txt"
# The tools the build and the anchor need, printed first: a missing one is then plain at a glance.
{ (command -v nvcc || ls /usr/local/cuda/bin/nvcc) && (nvcc --version 2>/dev/null || /usr/local/cuda/bin/nvcc --version) | tail -1
  gcc --version | head -1; python3 -c 'import torch; print("torch", torch.__version__)'; } 2>&1 | tee -a "$LOG/gpu.txt"
MAKE_ARGS=(CUDA=1)
if { ! ldconfig -p | grep -q 'libcjson.so.1 ' || ! ldconfig -p | grep -q 'libmpi.so.40 '; } && [ -d .gpu-debs ]; then
    mkdir -p .gpu-debs/root
    for f in .gpu-debs/*.deb; do dpkg -x "$f" .gpu-debs/root; done
    MAKE_ARGS+=(DEPS_ROOT=.gpu-debs/root)
    # The programs' RUNPATH does not reach the libraries' own needs (libgfortran for OpenBLAS).
    export LD_LIBRARY_PATH="$PWD/.gpu-debs/root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    echo "libraries: the carried Debian packages, unpacked in .gpu-debs/root"
fi
step build make -j"$(nproc)" "${MAKE_ARGS[@]}" all build/release/run_tests
step tests env OMP_NUM_THREADS=8 build/release/run_tests
# On a GPU nothing may skip: a skipped GPU test here means the backend did not come up.
gpu_tests() { build/release/run_tests "$1" | tee /dev/stderr | tail -1 | grep -q ' 0 failed, 0 skipped$'; }
step parity gpu_tests cuda
step reference_gpu gpu_tests reference
# NCCL with one rank (cuda/comm_nccl.cu): the communicator, every collective and the bucket stream.
step nccl_one_rank gpu_tests nccl
step bench_bf16 bin/bench_albef --device cuda --precision bf16 --steps md,ft "${BASE[@]}" --iters 10 --warm 3
step bench_fp32 bin/bench_albef --device cuda --precision fp32 --steps md "${BASE[@]}" --iters 5 --warm 2
PY=python3
$PY -c 'import torch' 2>/dev/null || PY=/usr/bin/python3
step anchor timeout 240 $PY "$ANCHOR" --device cuda "${BASE[@]}" --modes bf16,compile --iters 10
SAN=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
left=$((420 - SECONDS))
if [ -z "$SAN" ]; then
    status+=("racecheck, memcheck: not run (compute-sanitizer is not installed on this machine)")
elif [ "$left" -lt 30 ]; then
    status+=("racecheck, memcheck: not run (no time left in the 8-minute budget)")
else
    # The fused attention kernels share tiles within warps and blocks: racecheck them first.
    step racecheck timeout $((left < 120 ? left : 120)) "$SAN" --tool racecheck --error-exitcode 1 \
        build/release/run_tests attention
    left=$((420 - SECONDS))
    if [ "$left" -lt 30 ]; then status+=("memcheck: not run (no time left in the 8-minute budget)")
    else step memcheck timeout "$left" "$SAN" --tool memcheck --error-exitcode 1 build/release/run_tests test_cuda_; fi
fi

echo
printf '%s\n' "${status[@]}"
$PY - "$LOG" <<'PY'
import json, sys, os
log = sys.argv[1]
def rows(name):
    out = []
    try:
        for line in open(os.path.join(log, name + ".log")):
            line = line.strip()
            if line.startswith("{"):
                out.append(json.loads(line))
    except (OSError, ValueError):
        pass
    return out
anchor = rows("anchor")
head = next((r for r in anchor if "gflop_md_step" in r), {})
gflop = {"md": head.get("gflop_md_step") or 17810.0, "ft": head.get("gflop_ft_step")}
for step, title in (("md", "MultiDelete step, 16 Df + 16 Dr pairs"), ("ft", "fine-tuning step (ITC + ITM), 32 pairs")):
    table = [("ours", r) for n in ("bench_bf16", "bench_fp32") for r in rows(n) if r.get("step") == step]
    table += [("torch", r) for r in anchor if r.get("step") == step]
    if not table:
        continue
    fl = gflop[step]
    print(f"\nALBEF-base {title}" + (f", {fl / 1e3:.2f} TFLOP/step (anchor's count)" if fl else ""))
    print("| who | mode | ms/step | samples/s | TFLOP/s | peak GiB |")
    print("|---|---|---|---|---|---|")
    for who, r in table:
        tf = f"{fl / 1e3 / r['median_s']:.1f}" if fl else "-"
        print(f"| {who} | {r['mode']} | {r['median_s'] * 1e3:.1f} | {32 / r['median_s']:.1f} | {tf} | "
              f"{(r.get('peak_mem_GiB') or 0):.1f} |")
    ours = {r["mode"]: r["median_s"] for w, r in table if w == "ours"}
    theirs = {r["mode"]: r["median_s"] for w, r in table if w == "torch"}
    for m in ("bf16", "compile"):
        if "bf16" in ours and m in theirs:
            print(f"{step}: ours bf16 vs torch {m}: {theirs[m] / ours['bf16']:.2f}x torch's throughput")
PY
