#!/usr/bin/python3
"""PyTorch side of bench/block.bench.sh: the same blocks, shapes and iteration
as bench/main_bench_block.c (forward + backward with a fixed upstream
gradient), written with torch.nn.functional as timm's ViT Block and Hugging
Face's BertLayer compute them. Prints "<case> <median ms> <min ms>".
Run with Debian's torch: /usr/bin/python3 bench/block_torch.py [--threads 2]"""
import argparse
import math
import time

import torch
import torch.nn.functional as F

D, H, HIDDEN = 768, 12, 3072


def lin(o, i):
    return [(torch.randn(o, i) * 0.02).requires_grad_(), torch.zeros(o).requires_grad_()]


def ln():
    return [torch.ones(D).requires_grad_(), torch.zeros(D).requires_grad_()]


def heads(t):
    return t.view(t.shape[0], t.shape[1], H, D // H).permute(0, 2, 1, 3)


def attention(q, k, v):
    p = (q @ k.transpose(-1, -2) / math.sqrt(D // H)).softmax(-1)
    return (p @ v).permute(0, 2, 1, 3).reshape(q.shape[0], q.shape[2], D)


def vit_case():
    n1, qkv, proj, n2, fc1, fc2 = ln(), lin(3 * D, D), lin(D, D), ln(), lin(HIDDEN, D), lin(D, HIDDEN)
    params = n1 + qkv + proj + n2 + fc1 + fc2
    x = torch.rand(1, 197, D).requires_grad_()

    def fwd():
        B, N, _ = x.shape
        a = F.layer_norm(x, (D,), *n1, 1e-6)
        t = F.linear(a, *qkv).reshape(B, N, 3, H, D // H).permute(2, 0, 3, 1, 4)
        q, k, v = t.unbind(0)
        h = x + F.linear(attention(q, k, v), *proj)
        m = F.linear(F.gelu(F.linear(F.layer_norm(h, (D,), *n2, 1e-6), *fc1)), *fc2)
        return h + m
    return fwd, params + [x]


def bert_case():
    sq, sk, sv, so, sn = lin(D, D), lin(D, D), lin(D, D), lin(D, D), ln()
    cq, ck, cv, co, cn = lin(D, D), lin(D, D), lin(D, D), lin(D, D), ln()
    fi, fo, fn = lin(HIDDEN, D), lin(D, HIDDEN), ln()
    params = sq + sk + sv + so + sn + cq + ck + cv + co + cn + fi + fo + fn
    x = torch.rand(4, 35, D).requires_grad_()
    enc = torch.rand(4, 577, D).requires_grad_()

    def block(h, kv, q, k, v, o, n):
        c = attention(heads(F.linear(h, *q)), heads(F.linear(kv, *k)), heads(F.linear(kv, *v)))
        return F.layer_norm(h + F.linear(c, *o), (D,), *n, 1e-12)

    def fwd():
        h = block(x, x, sq, sk, sv, so, sn)
        h = block(h, enc, cq, ck, cv, co, cn)
        return F.layer_norm(h + F.linear(F.gelu(F.linear(h, *fi)), *fo), (D,), *fn, 1e-12)
    return fwd, params + [x, enc]


def run(name, make, warmup, iters):
    fwd, leaves = make()
    g = torch.rand_like(fwd().detach())
    times = []
    for it in range(warmup + iters):
        t0 = time.perf_counter()
        for p in leaves:
            p.grad = None
        fwd().backward(g)
        t1 = time.perf_counter()
        if it >= warmup:
            times.append((t1 - t0) * 1e3)
    times.sort()
    print(f"{name} {times[len(times) // 2]:.2f} {times[0]:.2f}", flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--case", choices=["vit_block", "bert_cross"])
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    for name, make in (("vit_block", vit_case), ("bert_cross", bert_case)):
        if a.case in (None, name):
            run(name, make, a.warmup, a.iters)
