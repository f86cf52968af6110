#!/usr/bin/python3
"""PyTorch side of bench/pgr.bench.sh: one training step of the tiny PGR
graph-text model at the sizes of bench/main_bench_pgr.c (B 32, 64 tokens,
subgraphs of 28 nodes and 29 edges, 4 name pieces a node, vocabulary 8000,
models/configs/pgr-tiny.json), with torch.sparse for the node pooling and the
GCN aggregation, Hugging Face's BertLayer arithmetic, AdamW. Dropout off.
Prints "step <median ms> <min ms>".
Run with Debian's torch: /usr/bin/python3 bench/pgr_torch.py [--threads 2]"""
import argparse
import json
import math
import time

import torch
import torch.nn.functional as F

B, L, NODES, NAME = 32, 64, 28, 4


def param(*shape, std=0.02):
    return (torch.randn(*shape) * std).requires_grad_()


def lin(o, i):
    return [param(o, i), torch.zeros(o).requires_grad_()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--config", default="models/configs/pgr-tiny.json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    c = json.load(open(a.config))
    V, D, T, H = c["vocab_size"], c["node_dim"], c["text_width"], c["text_heads"]
    G, FH, FD, CH = c["gcn_hidden"], c["fusion_hidden"], c["fusion_dim"], c["classifier_hidden"]

    # The batch graph: block-diagonal Â with self loops, D^-1/2 (A + I) D^-1/2, sparse.
    n = B * NODES
    edges = []
    for b in range(B):
        o = b * NODES
        edges += [(o, o + k) for k in range(2, 15)] + [(o + 1, o + k) for k in range(15, NODES)]
        edges += [(o + 2 + k, o + 15 + k) for k in range(3)]
    src = torch.tensor([e[0] for e in edges] + [e[1] for e in edges] + list(range(n)))
    dst = torch.tensor([e[1] for e in edges] + [e[0] for e in edges] + list(range(n)))
    deg = torch.zeros(n).index_add_(0, src, torch.ones(len(src)))
    val = deg[src].rsqrt() * deg[dst].rsqrt()
    adj = torch.sparse_coo_tensor(torch.stack([src, dst]), val, (n, n)).coalesce()
    pool = torch.sparse_coo_tensor(torch.stack([torch.arange(n).repeat_interleave(NAME), torch.arange(n * NAME)]),
                                   torch.full((n * NAME,), 1.0 / NAME), (n, n * NAME)).coalesce()
    tokens = torch.randint(5, V, (n * NAME,))
    targets = torch.stack([torch.arange(B) * NODES, torch.arange(B) * NODES + 1], 1).reshape(-1)
    ids = torch.randint(5, V, (B, L))
    mask_add = torch.zeros(B, L)
    labels = (torch.arange(B) % 3 == 0).long()

    node_emb = param(V, D)
    gcn = [lin(G, D if l == 0 else G) for l in range(c["gcn_layers"])]
    word, pos = param(V, T), param(c["max_position_embeddings"], T)
    emb_ln = [torch.ones(T).requires_grad_(), torch.zeros(T).requires_grad_()]
    layers = []
    for _ in range(c["text_layers"]):
        layers.append(dict(q=lin(T, T), k=lin(T, T), v=lin(T, T), o=lin(T, T),
                           ln1=[torch.ones(T).requires_grad_(), torch.zeros(T).requires_grad_()],
                           i=lin(c["text_ffn_hidden"], T), out=lin(T, c["text_ffn_hidden"]),
                           ln2=[torch.ones(T).requires_grad_(), torch.zeros(T).requires_grad_()]))
    f1, f2 = lin(FH, 2 * G + T), lin(FD, FH)
    c1g, c1, c2 = param(CH, 2 * G), lin(CH, T + FD), lin(2, CH)
    params = [node_emb, word, pos] + emb_ln + [p for g in gcn for p in g] + \
        [p for ly in layers for v in ly.values() for p in v] + f1 + f2 + [c1g] + c1 + c2
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=1e-4)
    eps, dh = c["text_ln_eps"], T // H

    def heads(t):
        return t.view(B, L, H, dh).transpose(1, 2)

    def step():
        opt.zero_grad()
        x = torch.sparse.mm(pool, node_emb[tokens])
        for w, b in gcn:
            x = F.relu(torch.sparse.mm(adj, x @ w.t()) + b)
        ug = x[targets].reshape(B, 2 * G)
        h = F.layer_norm(word[ids] + pos[:L], (T,), *emb_ln, eps)
        for ly in layers:
            q, k, v = heads(F.linear(h, *ly["q"])), heads(F.linear(h, *ly["k"])), heads(F.linear(h, *ly["v"]))
            p = (q @ k.transpose(-1, -2) / math.sqrt(dh) + mask_add[:, None, None, :]).softmax(-1)
            a = (p @ v).transpose(1, 2).reshape(B, L, T)
            h = F.layer_norm(h + F.linear(a, *ly["o"]), (T,), *ly["ln1"], eps)
            h = F.layer_norm(h + F.linear(F.gelu(F.linear(h, *ly["i"])), *ly["out"]), (T,), *ly["ln2"], eps)
        ut = h[:, 0]
        z = F.linear(F.relu(F.linear(torch.cat([ug, ut], 1), *f1)), *f2)
        logits = F.linear(F.relu(ug @ c1g.t() + F.linear(torch.cat([ut, z], 1), *c1)), *c2)
        F.cross_entropy(logits, labels).backward()
        opt.step()

    times = []
    for it in range(-a.warmup, a.iters):
        t0 = time.perf_counter()
        step()
        if it >= 0:
            times.append(1e3 * (time.perf_counter() - t0))
    times.sort()
    print(f"step {times[len(times) // 2]:.2f} {times[0]:.2f}")


if __name__ == "__main__":
    main()
