#!/usr/bin/env bash
# The one command that proves the GPU side in a device slot:
#   build    bin/bench_albef and the test runner, CUDA on, warnings not fatal
#            (an unknown host gcc must not stop the run);
#   parity   every tests/test_cuda_* test in a process of its own (run_tests
#            --each), each operation waited for (MMU_CUDA_SYNC=1), so a CUDA
#            error fails its own test, named at the launch that caused it;
#   graphs   the CUDA-graph tests (tests/test_cuda_graph.c), which the
#            parity and memcheck steps leave out: a capture cannot wait for
#            each operation, and under MMU_ARENA_GUARD=1 no step is captured;
#   reference  the ALBEF train and MultiDelete steps against PyTorch's
#            numbers, fp32 and bf16, on the GPU;
#   nccl     NCCL with one rank (cuda/comm_nccl.cu): the communicator, every
#            collective and the gradient buckets' stream;
#   memcheck compute-sanitizer memcheck of the parity tests with every arena
#            request its own allocation (MMU_ARENA_GUARD=1), so an overrun
#            into a neighbouring tensor is seen;
#   bench_bf16 the ALBEF-base MultiDelete and fine-tuning steps (16 Df + 16
#            Dr pairs, 384 px, ViT-B/16, 6+6 BERT layers) in bf16, then the
#            per-operation profile of each (--profile);
#   anchor   ../shared/bench/albef_torch_anchor.py (bf16 eager and
#            torch.compile) on the same card;
#   bench_graphs the same two steps in bf16, each captured and launched as
#            one CUDA graph (--graphs 1, cuda/graph.cu);
#   cudnn    cuDNN's fused attention forward (cuda/attention_cudnn.cu), then
#            the kernels' backward, against the CPU, and "faster" whichever
#            it picks (tests/test_cuda_attention_cudnn.c), which parity and
#            memcheck leave out;
#   bench_cudnn the two bf16 steps with --attention faster: per attention
#            shape, cuDNN's forward time against the kernels' and the pick
#            (in its log), and the steps' times with the picks;
#   bench_fp32 the MultiDelete step in fp32;
#   bench_casts the MultiDelete step in bf16 with every weight cast per
#            product (--param-copies 0): what the parameter blocks' bf16
#            copies (cuda/param_copies.cu) save;
#   racecheck  compute-sanitizer racecheck of the attention tests (the fused
#            kernels' shared tiles), with the time left;
#   fig2     the paper's Figure 2 with the programs (bench/fig2_time.sh):
#            MultiDelete unlearning |Df| = FIG2_DF (default 1,000) images of an
#            ALBEF-base at 384 px against Retrain, extrapolated from a
#            measured epoch; last, and only with 240 s or more left, so it
#            takes no time from the steps above (a call of its own:
#            GPU_CHECK_STEPS="build fig2").
# Each step prints its status line when it ends and has a time cap, cut to
# what is left of GPU_CHECK_BUDGET (seconds, default 500, so a 600-s device
# call ends with the table); a step with too little time left is reported as
# not run. GPU_CHECK_STEPS="build parity ..." runs only those steps (a rerun
# after a fix). The table comes last.
#
# What comes back: $OUT/summary.txt (status lines and table) and
# $OUT/gpu_check_logs.tgz (every step's log), both rewritten after each step,
# so a run cut short still returns them; without $OUT they stay in
# build/gpu_check.
#
# The GPU machines cannot install packages or reach ../shared: run
# scripts/gpu_machine_debs.sh here first, which fills .gpu-debs (git-ignored)
# with the Debian packages the build links and a copy of the anchor, and
# carry .gpu-debs with the call.
set -uo pipefail
cd "$(dirname "$0")/.."
LOG=build/gpu_check
rm -rf "$LOG"
mkdir -p "$LOG"
BUDGET=${GPU_CHECK_BUDGET:-500}
STEPS=${GPU_CHECK_STEPS:-build parity graphs reference nccl memcheck bench_bf16 anchor bench_graphs cudnn bench_cudnn bench_fp32 bench_casts racecheck fig2}
BASE=(--img 384 --d 768 --heads 12 --vit-depth 12 --layers 6 --vocab 30522 --txt 30 --b 16)
status=()

# The summary and the tarball, as they stand: after every step and at exit.
publish() {
    { printf '%s\n' "${status[@]}"; [ -f "$LOG/table.txt" ] && cat "$LOG/table.txt"; } >"$LOG/summary.txt"
    if [ -n "${OUT:-}" ]; then
        mkdir -p "$OUT"
        cp "$LOG/summary.txt" "$OUT/summary.txt"
        # with the fig2 step's program logs and metrics (not its worlds)
        tar czf "$OUT/gpu_check_logs.tgz" -C build gpu_check \
            $(cd build && ls fig2/*.log fig2/*/train.log fig2/*/metrics.json 2>/dev/null) 2>/dev/null
    fi
}
trap publish EXIT

note() { # a status line that is not a step's
    status+=("$1")
    echo "== $1"
    publish
}

wanted() { [[ " $STEPS " == *" $1 "* ]]; }

# step NAME CAP MIN CMD...: runs CMD with its log under a time cap of CAP
# seconds, cut to what is left of the budget; with less than MIN left it is
# not run. Prints and records its status line.
step() {
    local name=$1 cap=$2 min=$3
    shift 3
    wanted "$name" || return 0
    local left=$((BUDGET - SECONDS))
    if [ "$left" -lt "$min" ]; then
        note "$name: not run (${left} s left of the ${BUDGET}-s budget, it needs ${min})"
        return 0
    fi
    [ "$cap" -gt "$left" ] && cap=$left
    local t0=$SECONDS rc=0
    echo "== $name: started at ${t0} s, cap ${cap} s"
    timeout -k 5 "$cap" "$@" >"$LOG/$name.log" 2>&1 || rc=$?
    # On a GPU no test may skip: a skipped GPU test means the backend did not come up.
    if [ "$rc" = 0 ] && grep -q '^skip ' "$LOG/$name.log"; then rc=skips; fi
    local line
    if [ "$rc" = 0 ]; then line="$name: ok ($((SECONDS - t0)) s)"
    elif [ "$rc" = skips ]; then line="$name: FAILED: tests skipped, the CUDA backend did not come up ($((SECONDS - t0)) s)"
    elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then line="$name: STOPPED at its ${cap}-s cap"
    else line="$name: FAILED rc=$rc ($((SECONDS - t0)) s)"; fi
    # A test step also says how far it got.
    if grep -q '^\(ok\|FAIL\|skip\) ' "$LOG/$name.log"; then
        line+=", tests: $(grep -c '^ok ' "$LOG/$name.log") ok, $(grep -c '^FAIL ' "$LOG/$name.log") failed, $(grep -c '^skip ' "$LOG/$name.log") skipped"
        grep '^FAIL ' "$LOG/$name.log" | head -5 | sed 's/^/    /'
    fi
    [ "$rc" = 0 ] || tail -4 "$LOG/$name.log" | sed 's/^/    | /'
    note "$line"
}

# ---- the machine and its tools ----
{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    (command -v nvcc || ls /usr/local/cuda/bin/nvcc) && (nvcc --version 2>/dev/null || /usr/local/cuda/bin/nvcc --version) | tail -1
    gcc --version | head -1
    python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
    command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer
    python3 -m pip show nvidia-cudnn-cu13 nvidia-cudnn-cu12 2>/dev/null | grep -E '^(Name|Version)'
} >"$LOG/machine.txt" 2>&1
cat "$LOG/machine.txt"
note "machine: $(head -1 "$LOG/machine.txt")"

# Missing pieces of the toolchain fail here, at once, instead of in the build.
missing=""
command -v make >/dev/null || missing+=" make"
ls /usr/local/cuda/lib64/libcublasLt.so* >/dev/null 2>&1 || missing+=" /usr/local/cuda/lib64/libcublasLt.so"
[ -n "$(ls .gpu-debs/*.deb 2>/dev/null)" ] || missing+=" .gpu-debs (run scripts/gpu_machine_debs.sh here and carry it)"
if [ -n "$missing" ]; then
    note "toolchain: MISSING$missing: nothing built"
    exit 1
fi
# The carried libraries, always: the machine's own package set is unknown and
# nothing can be installed there (scripts/install_deps.sh would wait on apt).
mkdir -p .gpu-debs/root
for f in .gpu-debs/*.deb; do dpkg -x "$f" .gpu-debs/root; done
# The programs' RUNPATH does not reach the libraries' own needs (libgfortran for OpenBLAS).
export LD_LIBRARY_PATH="$PWD/.gpu-debs/root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
MAKE_ARGS=(CUDA=1 DEPS_ROOT=.gpu-debs/root EXTRA_CFLAGS=-Wno-error "EXTRA_NVCCFLAGS=-Xcompiler -Wno-error")

# cuDNN (cuda/cudnn.h loads it at run time): the machines have it as
# PyTorch's pip package, outside the loader's path.
if [ -z "${MMU_CUDNN_LIB:-}" ]; then
    CUDNN_DIR=$(python3 -c 'import nvidia.cudnn as m; print(m.__path__[0] + "/lib")' 2>/dev/null || true)
    if [ -n "$CUDNN_DIR" ] && [ -f "$CUDNN_DIR/libcudnn.so.9" ]; then
        export MMU_CUDNN_LIB="$CUDNN_DIR/libcudnn.so.9"
        # its engines and cuDNN's own dependencies are found beside it
        export LD_LIBRARY_PATH="$CUDNN_DIR:$LD_LIBRARY_PATH:/usr/local/cuda/lib64"
    fi
fi
echo "cuDNN: ${MMU_CUDNN_LIB:-not found beside PyTorch, libcudnn.so.9 from the loader path}" >>"$LOG/machine.txt"

SAN=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
ANCHOR=${ANCHOR:-}
for a in .gpu-debs/anchor/albef_torch_anchor.py ../shared/bench/albef_torch_anchor.py; do
    [ -z "$ANCHOR" ] && [ -f "$a" ] && ANCHOR=$a
done
PY=python3
$PY -c 'import torch' 2>/dev/null || PY=/usr/bin/python3

step build 240 60 make -j"$(nproc)" "${MAKE_ARGS[@]}" bin/bench_albef build/release/run_tests \
    bin/mkdata bin/train bin/retrain bin/unlearn_multidelete
if ! [ -x build/release/run_tests ] || ! [ -x bin/bench_albef ]; then
    note "the build produced no test runner or benchmark: nothing else can run"
    exit 1
fi
# The tests that every step but its own leaves out (see graphs, cudnn).
OWN_STEP_TESTS="test_cuda_graph test_cuda_attention_cudnn"
step parity 150 30 env MMU_CUDA_SYNC=1 MMU_TEST_EXCLUDE="$OWN_STEP_TESTS" build/release/run_tests --each 60 test_cuda_
step graphs 60 20 build/release/run_tests --each 60 test_cuda_graph
step reference 150 30 env MMU_CUDA_SYNC=1 build/release/run_tests --each 120 _on_gpu_
step nccl 60 20 env MMU_CUDA_SYNC=1 build/release/run_tests --each 60 nccl
if [ -z "$SAN" ]; then
    wanted memcheck && note "memcheck: not run (compute-sanitizer is not installed on this machine)"
else
    step memcheck 80 40 env MMU_ARENA_GUARD=1 MMU_TEST_EXCLUDE="$OWN_STEP_TESTS" "$SAN" --tool memcheck \
        --error-exitcode 1 build/release/run_tests test_cuda_
fi
step bench_bf16 150 60 bin/bench_albef --device cuda --precision bf16 --steps md,ft "${BASE[@]}" --iters 10 \
    --warm 3 --profile 25
if [ -z "$ANCHOR" ]; then
    wanted anchor && note "anchor: not run (albef_torch_anchor.py not found: carry .gpu-debs made by scripts/gpu_machine_debs.sh)"
else
    step anchor 200 60 $PY "$ANCHOR" --device cuda "${BASE[@]}" --modes bf16,compile --iters 10
fi
step bench_graphs 90 45 bin/bench_albef --device cuda --precision bf16 --steps md,ft "${BASE[@]}" --iters 10 \
    --warm 3 --graphs 1
# (cuDNN's header may be missing there, and the fallback test is the emulator's: both run in CI)
step cudnn 60 20 env MMU_TEST_EXCLUDE="test_cudnn_api_constants test_attention_cudnn_falls_back" \
    build/release/run_tests --each 60 cudnn
step bench_cudnn 90 45 bin/bench_albef --device cuda --precision bf16 --steps md,ft "${BASE[@]}" --iters 10 \
    --warm 3 --attention faster
step bench_fp32 90 45 bin/bench_albef --device cuda --precision fp32 --steps md "${BASE[@]}" --iters 5 --warm 2
step bench_casts 60 30 bin/bench_albef --device cuda --precision bf16 --param-copies 0 --steps md "${BASE[@]}" \
    --iters 5 --warm 2
if [ -n "$SAN" ]; then
    step racecheck 90 30 "$SAN" --tool racecheck --error-exitcode 1 build/release/run_tests attention
fi
# Its own budget ends 20 s before the step's cap, so that its table is printed.
# FIG2_DEVICE=cpu FIG2_MODEL=albef-tiny: a dry run of the step without a card.
step fig2 600 240 bash bench/fig2_time.sh --device "${FIG2_DEVICE:-cuda}" --model "${FIG2_MODEL:-albef-base}" \
    --df "${FIG2_DF:-1000}" --budget $((BUDGET - SECONDS - 20)) --work build/fig2

# ---- the table ----
$PY - "$LOG" >"$LOG/table.txt" <<'PY'
import json, sys, os
log = sys.argv[1]
def lines(name):
    try:
        return [l.rstrip("\n") for l in open(os.path.join(log, name + ".log"))]
    except OSError:
        return []
def rows(name):
    out = []
    for line in lines(name):
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out
anchor = rows("anchor")
head = next((r for r in anchor if "gflop_md_step" in r), {})
gflop = {"md": head.get("gflop_md_step") or 17810.0, "ft": head.get("gflop_ft_step") or 14400.0}
if head:
    print(f"anchor: {head.get('device')}, torch {head.get('torch')}")
if not any(rows(n) for n in ("bench_bf16", "bench_fp32", "anchor")):
    print("no step was timed (see the status lines and the logs)")
for step, title in (("md", "MultiDelete step, 16 Df + 16 Dr pairs"), ("ft", "fine-tuning step (ITC + ITM), 32 pairs")):
    table = [("ours", r) for n in ("bench_bf16", "bench_graphs", "bench_cudnn", "bench_fp32", "bench_casts")
             for r in rows(n) if r.get("step") == step]
    for who, r in table:
        if r.get("param_copies") == 0 and r["mode"] == "bf16":
            r["mode"] = "bf16, weights cast per product"
        if r.get("graphs") and r["mode"] == "bf16":
            r["mode"] = "bf16, CUDA graphs"
        if r.get("attention") == "faster" and r["mode"] == "bf16":
            r["mode"] = "bf16, attention: faster of cuDNN and kernels"
    table += [("torch", r) for r in anchor if r.get("step") == step]
    if not table:
        continue
    fl = gflop[step]
    print(f"\nALBEF-base {title}, {fl / 1e3:.2f} TFLOP/step (the anchor's count)")
    print("| who | mode | ms/step | samples/s | TFLOP/s | peak GiB |")
    print("|---|---|---|---|---|---|")
    for who, r in table:
        print(f"| {who} | {r['mode']} | {r['median_s'] * 1e3:.1f} | {32 / r['median_s']:.1f} | "
              f"{fl / 1e3 / r['median_s']:.1f} | {(r.get('peak_mem_GiB') or 0):.1f} |")
    print("(peak GiB: ours, all the process took from cudaMalloc, each kind of step measured from its own start; "
          "torch, torch.cuda.max_memory_allocated: live tensors only, its cache's extra not counted)")
    ours = {r["mode"]: r["median_s"] for w, r in table if w == "ours"}
    theirs = {r["mode"]: r["median_s"] for w, r in table if w == "torch"}
    for m in ("bf16", "compile"):
        if "bf16" in ours and m in theirs:
            print(f"{step}: ours bf16 vs torch {m}: {theirs[m] / ours['bf16']:.2f}x torch's throughput")
    graphs = "bf16, CUDA graphs"
    if "bf16" in ours and graphs in ours:
        print(f"{step}: CUDA graphs make ours bf16 {ours['bf16'] / ours[graphs]:.2f}x as fast (each step waited for)")
        for m in ("bf16", "compile"):
            if m in theirs:
                print(f"{step}: ours bf16 with graphs vs torch {m}: {theirs[m] / ours[graphs]:.2f}x torch's throughput")
    piped = {r["mode"]: r["pipelined_s"] for w, r in table if w == "ours" and "pipelined_s" in r}
    if "bf16" in piped and graphs in piped:
        g = next((r for w, r in table if r["mode"] == graphs), {})
        print(f"{step}: 10 steps waited for once: {piped['bf16'] * 1e3:.1f} ms/step eager, {piped[graphs] * 1e3:.1f} "
              f"with graphs ({g.get('graph_eager_steps')} eager steps while memory settled, "
              f"{g.get('graph_updates')} updates, {g.get('graph_instantiations')} instantiations, "
              f"{g.get('graph_nodes')} nodes)")
    faster = "bf16, attention: faster of cuDNN and kernels"
    if "bf16" in ours and faster in ours:
        f = next((r for w, r in table if r["mode"] == faster), {})
        print(f"{step}: with each attention forward on the faster of cuDNN and the kernels, ours bf16 is "
              f"{ours['bf16'] / ours[faster]:.2f}x as fast ({f.get('cudnn_attention_calls')} cuDNN attention "
              "forwards so far; the picks are in the bench_cudnn log)")
    cast = "bf16, weights cast per product"
    if "bf16" in ours and cast in ours:
        print(f"{step}: the weights' bf16 copies make ours bf16 {ours[cast] / ours['bf16']:.2f}x as fast as casting "
              "them per product")
# The attention picks of bench_cudnn (one line per shape).
picks = [l for l in lines("bench_cudnn") if l.startswith("attention: ")]
if picks:
    print("\ncuDNN's fused attention forward against the kernels', ALBEF-base bf16 (bench_cudnn):")
    print("\n".join(picks[:16]))
# Figure 2's table (bench/fig2_time.sh prints it last).
fig2 = lines("fig2")
if "Figure 2 timing table:" in fig2:
    print("\n" + "\n".join(fig2[fig2.index("Figure 2 timing table:"):]))
# The profiles' heads (the full tables are in the bench_bf16 log).
prof = lines("bench_bf16")
for i, l in enumerate(prof):
    if l.startswith("profile of"):
        print("\n" + l)
        print("\n".join(x for x in prof[i + 1:i + 13] if x.startswith("|")))
        print(next((x for x in prof[i + 1:] if x.startswith("device time")), ""))
PY
echo
printf '%s\n' "${status[@]}"
cat "$LOG/table.txt"
publish
