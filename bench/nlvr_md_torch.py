#!/usr/bin/python3
"""PyTorch side of bench/nlvr_md.bench.sh: one MultiDelete step of a tiny
ALBEF-NLVR2 (spec/unlearning_methods.md §5.2, classification), plain PyTorch
modules at the sizes bin/bench_nlvr_md takes, printing one JSON line.

The model (spec/albef_blip.md §3.3): ViT (pre-norm blocks) run on both images
as one 2B batch; BERT text layers, then fusion layers alternating image 0 /
image 1 whose cross-attention key/value are shared within each pair; cls_head
on the fused [CLS]. The step: the frozen original without grad on the Df batch
(ViT tokens), the Dr batch (fused [CLS]) and the Df batch with permuted
sentences (fused [CLS]); the unlearned model on Df and Dr with grad; L_MD +
L_MKR + L_UKR (image tokens); backward; AdamW. No dropout, no distillation.
"""
import argparse
import json
import math
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class MHA(nn.Module):
    def __init__(s, d, h, kv_from=None):
        super().__init__()
        s.h = h
        s.q = nn.Linear(d, d)
        s.k = kv_from.k if kv_from else nn.Linear(d, d)  # NLVR2: shared within the fusion pair
        s.v = kv_from.v if kv_from else nn.Linear(d, d)
        s.o = nn.Linear(d, d)

    def forward(s, x, kv=None, mask=None):
        kv = x if kv is None else kv
        B, T, D = x.shape
        S = kv.shape[1]
        q = s.q(x).view(B, T, s.h, D // s.h).transpose(1, 2)
        k = s.k(kv).view(B, S, s.h, D // s.h).transpose(1, 2)
        v = s.v(kv).view(B, S, s.h, D // s.h).transpose(1, 2)
        a = q @ k.transpose(-1, -2) / math.sqrt(D // s.h)
        if mask is not None:
            a = a + mask
        return s.o((a.softmax(-1) @ v).transpose(1, 2).reshape(B, T, D))


class ViTBlock(nn.Module):
    def __init__(s, d, h):
        super().__init__()
        s.n1, s.a, s.n2 = nn.LayerNorm(d, eps=1e-6), MHA(d, h), nn.LayerNorm(d, eps=1e-6)
        s.m = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(s, x):
        x = x + s.a(s.n1(x))
        return x + s.m(s.n2(x))


class BertLayer(nn.Module):
    def __init__(s, d, h, cross=False, kv_from=None):
        super().__init__()
        s.a, s.n1 = MHA(d, h), nn.LayerNorm(d, eps=1e-12)
        s.cross = cross
        if cross:
            s.c, s.nc = MHA(d, h, kv_from.c if kv_from else None), nn.LayerNorm(d, eps=1e-12)
        s.m = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
        s.n2 = nn.LayerNorm(d, eps=1e-12)

    def forward(s, x, mask, img=None):
        x = s.n1(x + s.a(x, mask=mask))
        if s.cross:
            x = s.nc(x + s.c(x, kv=img))
        return s.n2(x + s.m(x))


class AlbefNlvr(nn.Module):
    def __init__(s, img, d, h, vit_depth, txt_layers, fus_layers, vocab, maxlen=64):
        super().__init__()
        s.pe = nn.Conv2d(3, d, 16, 16)
        s.cls = nn.Parameter(torch.zeros(1, 1, d))
        s.pos = nn.Parameter(torch.randn(1, (img // 16) ** 2 + 1, d) * 0.02)
        s.blocks = nn.ModuleList([ViTBlock(d, h) for _ in range(vit_depth)])
        s.vnorm = nn.LayerNorm(d, eps=1e-6)
        s.wemb, s.pemb, s.eln = nn.Embedding(vocab, d), nn.Embedding(maxlen, d), nn.LayerNorm(d, eps=1e-12)
        s.txt = nn.ModuleList([BertLayer(d, h) for _ in range(txt_layers)])
        fus = []
        for _ in range(fus_layers // 2):
            odd = BertLayer(d, h, cross=True)
            fus += [BertLayer(d, h, cross=True, kv_from=odd), odd]
        s.fus = nn.ModuleList(fus)
        s.head = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, 2))

    def vit(s, x):
        x = s.pe(x).flatten(2).transpose(1, 2)
        x = torch.cat([s.cls.expand(x.shape[0], -1, -1), x], 1) + s.pos
        for b in s.blocks:
            x = b(x)
        return s.vnorm(x)

    def forward(s, img0, img1, ids, am):
        B = img0.shape[0]
        tok = s.vit(torch.cat([img0, img1], 0))
        v = (tok[:B], tok[B:])
        x = s.eln(s.wemb(ids) + s.pemb.weight[:ids.shape[1]])
        mask = (1.0 - am[:, None, None, :].float()) * -10000.0
        for l in s.txt:
            x = l(x, mask)
        for i, l in enumerate(s.fus):
            x = l(x, mask, v[i % 2])
        z = x[:, 0]
        return tok, z, s.head(z)


def md_step(un, ori, opt, df, dr, perm):
    (f0, f1, fid, fam), (r0, r1, rid, ram) = df, dr
    with torch.no_grad():
        tok0, _, _ = ori(f0, f1, fid, fam)
        _, z0r, _ = ori(r0, r1, rid, ram)
        _, z0p, _ = ori(f0, f1, fid[perm], fam[perm])  # the pair stays, the sentence moves
    tok, z, _ = un(f0, f1, fid, fam)
    _, zr, _ = un(r0, r1, rid, ram)
    loss = F.mse_loss(z, z0p) + F.mse_loss(zr, z0r) + F.mse_loss(tok, tok0)
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=False)


def batch(B, img, T, vocab, g):
    ids = torch.randint(0, vocab, (B, T), generator=g)
    am = torch.ones(B, T, dtype=torch.long)
    am[:, T - 5:] = 0
    return torch.randn(B, 3, img, img, generator=g), torch.randn(B, 3, img, img, generator=g), ids, am


def main():
    ap = argparse.ArgumentParser()
    for name, default in (("img", 64), ("txt", 24), ("b", 8), ("d", 64), ("heads", 2), ("vit-depth", 2),
                          ("text-layers", 2), ("fusion-layers", 4), ("vocab", 293), ("iters", 10), ("warm", 3)):
        ap.add_argument("--" + name, type=int, default=default)
    a = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    torch.manual_seed(1)
    args = (a.img, a.d, a.heads, a.vit_depth, a.text_layers, a.fusion_layers, a.vocab)
    un, ori = AlbefNlvr(*args), AlbefNlvr(*args)
    ori.load_state_dict(un.state_dict())
    ori.eval()
    opt = torch.optim.AdamW(un.parameters(), lr=1e-5, weight_decay=0.02)
    g = torch.Generator().manual_seed(2)
    df, dr = batch(a.b, a.img, a.txt, a.vocab, g), batch(a.b, a.img, a.txt, a.vocab, g)
    times = []
    for it in range(a.warm + a.iters):
        perm = torch.randperm(a.b, generator=g)
        t0 = time.perf_counter()
        md_step(un, ori, opt, df, dr, perm)
        if it >= a.warm:
            times.append(time.perf_counter() - t0)
    times.sort()
    print(json.dumps({"step": "nlvr_md", "median_s": times[len(times) // 2], "best_s": times[0],
                      "params_M": sum(p.numel() for p in un.parameters()) / 1e6, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
