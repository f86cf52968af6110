#!/usr/bin/python3
"""PyTorch side of bench/gemm.bench.sh: the GEMM shapes of bench/main_bench_gemm.c
with the same operand layouts (transposed operands are passed as .t() views,
so PyTorch hands the transpose to its BLAS as we do), the same beta (a fresh
product for forward cases, addmm_ into an existing output for backward ones),
and the same timing: median of --reps calls after 2 warm-ups.
Prints "<name> <GFLOP/s>".
Run with Debian's torch: /usr/bin/python3 bench/gemm_torch.py --threads 2"""
import argparse
import time

import torch

# name, M, N, K, trans_a, trans_b, beta: as in bench/main_bench_gemm.c
CASES = [
    ("fwd_qkv", 197, 2304, 768, 0, 1, 0),
    ("fwd_fc1", 197, 3072, 768, 0, 1, 0),
    ("fwd_fc2", 197, 768, 3072, 0, 1, 0),
    ("fwd_qkv_b8", 1576, 2304, 768, 0, 1, 0),
    ("bwd_dx_fc1", 197, 768, 3072, 0, 0, 1),
    ("bwd_dw_fc1", 3072, 768, 197, 1, 0, 1),
    ("bwd_dw_qkv", 2304, 768, 197, 1, 0, 1),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with torch.no_grad():
        for name, M, N, K, ta, tb, beta in CASES:
            a = torch.rand(K, M) * 2 - 1 if ta else torch.rand(M, K) * 2 - 1
            b = torch.rand(N, K) * 2 - 1 if tb else torch.rand(K, N) * 2 - 1
            opa, opb = (a.t() if ta else a), (b.t() if tb else b)
            c0 = torch.rand(M, N)
            c = c0.clone()
            times = []
            for r in range(args.reps + 2):
                if beta:
                    c.copy_(c0)
                t0 = time.perf_counter()
                if beta:
                    c.addmm_(opa, opb)
                else:
                    c = torch.mm(opa, opb)
                dt = time.perf_counter() - t0
                if r >= 2:
                    times.append(dt)
            times.sort()
            print(f"{name} {2.0 * M * N * K / times[len(times) // 2] * 1e-9:.1f}", flush=True)


if __name__ == "__main__":
    main()
