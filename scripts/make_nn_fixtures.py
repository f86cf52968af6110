#!/usr/bin/python3
"""Writes tests/fixtures/nn_reference.safetensors: PyTorch reference values for
the nn/ layer parity tests (tests/test_nn_parity.c).

Run with Debian's python3-torch (1.13):  /usr/bin/python3 scripts/make_nn_fixtures.py

Contents (all float32):
  (a) one ViT block, timm's pre-norm layout (spec/albef_blip.md §1.2): dim 32,
      4 heads, mlp 64, LayerNorm eps 1e-6. Parameters under "vit.<timm name>".
  (b) one BERT layer with cross-attention, Hugging Face's post-norm layout
      (§2.3): dim 32, 4 heads, ffn 64, encoder width 24, eps 1e-12, a key-padding
      mask on the text and on the image tokens, dropout off. Parameters under
      "bert.<HF name>".
  For each: "<m>.input.*" the inputs, "<m>.out" the output, "<m>.loss_weights"
  R and "<m>.loss" = sum(out * R), "<m>.grad.<name>" d loss / d every parameter
  and input.
  (c) two steps of AdamW and of SGD-momentum on two parameters with given
      gradients: "<opt>.p<i>.init", "<opt>.p<i>.grad<s>", "<opt>.p<i>.after<s>";
      hyper-parameters in __metadata__.

The layers are written out with torch.nn.functional rather than imported from
timm / transformers (not installed here); each line follows the forward of the
library it names. safetensors is written by hand (8-byte little-endian header
length, JSON header, raw little-endian data) so the script needs only torch.
"""
import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

torch.manual_seed(1234)
torch.set_default_dtype(torch.float32)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures",
                   "nn_reference.safetensors")
tensors = {}
meta = {}


def put(name, t):
    assert name not in tensors, name
    tensors[name] = t.detach().to(torch.float32).contiguous().clone()


def rand_param(shape, scale):
    return (torch.randn(*shape) * scale).requires_grad_(True)


def layer_params(prefix, spec):
    """spec: list of (name, shape, kind); weights random so every path is exercised."""
    ps = {}
    for name, shape, kind in spec:
        if kind == "ln_w":
            p = (1.0 + 0.1 * torch.randn(*shape)).requires_grad_(True)
        elif kind == "bias":
            p = rand_param(shape, 0.1)
        else:  # a weight [out, in]: std 1/sqrt(in) keeps activations O(1)
            p = rand_param(shape, 1.0 / math.sqrt(shape[1]))
        ps[f"{prefix}.{name}"] = p
    return ps


def finish(prefix, params, inputs, out):
    r = torch.randn(*out.shape)
    loss = (out * r).sum()
    loss.backward()
    for n, p in params.items():
        put(n, p)
        put(f"{prefix}.grad.{n}", p.grad)
    for n, x in inputs.items():
        put(f"{prefix}.input.{n}", x)
        if x.requires_grad:
            put(f"{prefix}.grad.{n}", x.grad)
    put(f"{prefix}.out", out)
    put(f"{prefix}.loss_weights", r)
    put(f"{prefix}.loss", loss.reshape(1))


# ---- (a) ViT block (timm VisionTransformer Block) ----
D, H, MLP, EPS_VIT = 32, 4, 64, 1e-6
B, N = 2, 5
vit = layer_params("vit", [
    ("norm1.weight", (D,), "ln_w"), ("norm1.bias", (D,), "bias"),
    ("attn.qkv.weight", (3 * D, D), "w"), ("attn.qkv.bias", (3 * D,), "bias"),
    ("attn.proj.weight", (D, D), "w"), ("attn.proj.bias", (D,), "bias"),
    ("norm2.weight", (D,), "ln_w"), ("norm2.bias", (D,), "bias"),
    ("mlp.fc1.weight", (MLP, D), "w"), ("mlp.fc1.bias", (MLP,), "bias"),
    ("mlp.fc2.weight", (D, MLP), "w"), ("mlp.fc2.bias", (D,), "bias"),
])
x = torch.randn(B, N, D).requires_grad_(True)
g = lambda n: vit["vit." + n]
a = F.layer_norm(x, (D,), g("norm1.weight"), g("norm1.bias"), EPS_VIT)
qkv = F.linear(a, g("attn.qkv.weight"), g("attn.qkv.bias")).reshape(B, N, 3, H, D // H).permute(2, 0, 3, 1, 4)
q, k, v = qkv.unbind(0)
attn = ((q @ k.transpose(-2, -1)) * (D // H) ** -0.5).softmax(dim=-1)
o = (attn @ v).transpose(1, 2).reshape(B, N, D)
h1 = x + F.linear(o, g("attn.proj.weight"), g("attn.proj.bias"))
m = F.layer_norm(h1, (D,), g("norm2.weight"), g("norm2.bias"), EPS_VIT)
m = F.linear(F.gelu(F.linear(m, g("mlp.fc1.weight"), g("mlp.fc1.bias"))), g("mlp.fc2.weight"), g("mlp.fc2.bias"))
out = h1 + m
finish("vit", vit, {"x": x}, out)

# ---- (b) BERT layer with cross-attention (Hugging Face BertLayer, ALBEF/BLIP MED) ----
D, H, FFN, E, EPS_BERT = 32, 4, 64, 24, 1e-12
B, L, S = 2, 6, 7
spec = []
for blk, kv in (("attention", D), ("crossattention", E)):
    spec += [
        (f"{blk}.self.query.weight", (D, D), "w"), (f"{blk}.self.query.bias", (D,), "bias"),
        (f"{blk}.self.key.weight", (D, kv), "w"), (f"{blk}.self.key.bias", (D,), "bias"),
        (f"{blk}.self.value.weight", (D, kv), "w"), (f"{blk}.self.value.bias", (D,), "bias"),
        (f"{blk}.output.dense.weight", (D, D), "w"), (f"{blk}.output.dense.bias", (D,), "bias"),
        (f"{blk}.output.LayerNorm.weight", (D,), "ln_w"), (f"{blk}.output.LayerNorm.bias", (D,), "bias"),
    ]
spec += [
    ("intermediate.dense.weight", (FFN, D), "w"), ("intermediate.dense.bias", (FFN,), "bias"),
    ("output.dense.weight", (D, FFN), "w"), ("output.dense.bias", (D,), "bias"),
    ("output.LayerNorm.weight", (D,), "ln_w"), ("output.LayerNorm.bias", (D,), "bias"),
]
bert = layer_params("bert", spec)
g = lambda n: bert["bert." + n]
hidden = torch.randn(B, L, D).requires_grad_(True)
enc = torch.randn(B, S, E).requires_grad_(True)
mask01 = torch.ones(B, L)
mask01[1, 4:] = 0  # sample 1: two padding tokens
enc_mask01 = torch.ones(B, S)
enc_mask01[0, 5:] = 0  # sample 0: two padded image tokens (exercises the cross mask)


def extended(m01):  # BertModel.get_extended_attention_mask
    return ((1.0 - m01) * -10000.0)[:, None, None, :]


def bert_attention(blk, h, kv, mask):
    def heads(t):  # transpose_for_scores
        return t.view(t.shape[0], t.shape[1], H, D // H).permute(0, 2, 1, 3)
    q = heads(F.linear(h, g(f"{blk}.self.query.weight"), g(f"{blk}.self.query.bias")))
    k = heads(F.linear(kv, g(f"{blk}.self.key.weight"), g(f"{blk}.self.key.bias")))
    v = heads(F.linear(kv, g(f"{blk}.self.value.weight"), g(f"{blk}.self.value.bias")))
    scores = q @ k.transpose(-1, -2) / math.sqrt(D // H) + mask
    probs = scores.softmax(dim=-1)  # dropout off
    ctx = (probs @ v).permute(0, 2, 1, 3).contiguous().view(h.shape[0], h.shape[1], D)
    o = F.linear(ctx, g(f"{blk}.output.dense.weight"), g(f"{blk}.output.dense.bias"))
    return F.layer_norm(o + h, (D,), g(f"{blk}.output.LayerNorm.weight"), g(f"{blk}.output.LayerNorm.bias"),
                        EPS_BERT)


h = bert_attention("attention", hidden, hidden, extended(mask01))
h = bert_attention("crossattention", h, enc, extended(enc_mask01))
i = F.gelu(F.linear(h, g("intermediate.dense.weight"), g("intermediate.dense.bias")))
o = F.linear(i, g("output.dense.weight"), g("output.dense.bias"))
out = F.layer_norm(o + h, (D,), g("output.LayerNorm.weight"), g("output.LayerNorm.bias"), EPS_BERT)
finish("bert", bert, {"hidden": hidden, "enc": enc, "mask01": mask01, "enc_mask01": enc_mask01}, out)

# ---- (c) optimizers: two steps each on two parameters with given gradients ----
OPT = {
    "adamw": dict(lr=0.01, betas=(0.85, 0.99), eps=1e-6, weight_decay=0.05),
    "sgd": dict(lr=0.1, momentum=0.9, weight_decay=0.01),
}
for name, hp in OPT.items():
    ps = [torch.randn(4, 5), torch.randn(7)]
    for j, p in enumerate(ps):
        put(f"{name}.p{j}.init", p)
    ps = [p.clone().requires_grad_(True) for p in ps]
    if name == "adamw":
        opt = torch.optim.AdamW(ps, foreach=False, **hp)
    else:
        opt = torch.optim.SGD(ps, foreach=False, **hp)
    for s in (1, 2):
        for j, p in enumerate(ps):
            p.grad = torch.randn(*p.shape)
            put(f"{name}.p{j}.grad{s}", p.grad)
        opt.step()
        for j, p in enumerate(ps):
            put(f"{name}.p{j}.after{s}", p)
    meta[f"{name}.hparams"] = json.dumps(hp)
meta["generator"] = "scripts/make_nn_fixtures.py, torch " + torch.__version__


def write_safetensors(path, named, metadata):
    header = {"__metadata__": metadata}
    blobs, offset = [], 0
    for n in sorted(named):
        t = named[n]
        raw = t.numpy().astype("<f4").tobytes()
        header[n] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * (-len(hj) % 8)  # data region 8-byte aligned, as the Hugging Face writer does
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


write_safetensors(OUT, tensors, meta)
print(f"wrote {os.path.normpath(OUT)}: {len(tensors)} tensors, {os.path.getsize(OUT)} bytes", file=sys.stderr)
