#!/usr/bin/python3
"""PyTorch reference for the C ALBEF and MultiDelete (tests/test_albef_reference.c).

Run with Debian's python3-torch:  /usr/bin/python3 scripts/albef_reference.py
Writes tests/fixtures/albef_tiny_state.safetensors holding, for a tiny ALBEF
with the LAVIS parameter names (spec/albef_blip.md §8.1):
  - every weight: online, momentum ("*_m.*", before the step's EMA), and the
    frozen original model of MultiDelete ("original.<online name>"),
  - the queues before the step (image_queue, text_queue, idx_queue, queue_ptr),
  - inputs ("in.*"): a retrieval batch with two captions of one image, the
    hard-negative indices (drawn here once with torch.multinomial, then fixed so
    the C step uses the same), a Df and a Dr batch and the re-pairing permutation,
  - outputs ("out.*"): image/text tokens and ITC features, fused [CLS], ITC
    logits, ITM logits, ITC/ITM/total loss; the momentum weights and queues
    after the step ("post.*"),
  - MultiDelete ("md.*"): loss and its three terms,
  - gradients of every online parameter: "grad.train.<name>" (ALBEF loss) and
    "grad.md.<name>" (MultiDelete loss; zeros where the loss does not reach).
Determinism: no dropout anywhere (eval-mode numerics), and distillation is ON
with a fixed alpha = 0.4: with dropout off the momentum forward is
deterministic, so the distillation targets are exact.
The ITC/ITM code mirrors LAVIS albef_retrieval.forward; MultiDelete follows
spec/unlearning_methods.md §5.2 (intended retrieval code, both L_MD orientations).

It also writes tests/fixtures/albef_ve_state.safetensors and
albef_nlvr_state.safetensors (tests/test_albef_cls_reference.c): ALBEF-VE and
ALBEF-NLVR2 (spec/albef_blip.md §3.2-3.3; NLVR2 with 4 fusion layers, two
key/value-sharing pairs) with the same kinds of tensors: weights, momentum,
"original.*", inputs (one or two images per item, labels, Df/Dr batches, the
permutation), outputs (image and text tokens, fused [CLS], logits, momentum
logits, CE, distillation and total loss), the momentum after the EMA, the
classification MultiDelete terms (ukr_text on) and every online gradient of
the training loss ("grad.train.*") and of MultiDelete ("grad.md.*").
Usage: albef_reference.py [all|retrieval|snli_ve|nlvr2 [OUT]].
"""
import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

torch.manual_seed(1234)
torch.set_num_threads(1)

CFG = dict(name="albef-fixture", image_size=16, patch_size=8, vision_width=32, vision_depth=2, vision_heads=2,
           vision_mlp_hidden=64, vision_ln_eps=1e-6, vocab_size=40, text_width=32, text_heads=2,
           text_ffn_hidden=64, text_layers=4, fusion_layer=2, max_position_embeddings=16, max_text_len=8,
           max_text_len_eval=8, text_ln_eps=1e-12, text_dropout=0.1, embed_dim=16, temp_init=0.07,
           temp_min=0.001, temp_max=0.5, momentum_distill=True, momentum=0.995, alpha=0.4, alpha_ramp_epochs=2,
           queue_size=8)
RETRIEVAL_CFG = CFG
ALPHA = 0.4  # fixed for the step (the ramp is tested separately)
B, L = 4, 7


def declare(c=None):
    """Online parameter names and shapes, in LAVIS naming (spec/albef_blip.md §8.1)."""
    c = c or CFG
    D, p, G = c["vision_width"], c["patch_size"], c["image_size"] // c["patch_size"]
    T, E = c["text_width"], c["embed_dim"]
    s = {}
    P = "visual_encoder."
    s[P + "cls_token"] = (1, 1, D)
    s[P + "pos_embed"] = (1, 1 + G * G, D)
    s[P + "patch_embed.proj.weight"] = (D, 3, p, p)
    s[P + "patch_embed.proj.bias"] = (D,)
    for i in range(c["vision_depth"]):
        b = f"{P}blocks.{i}."
        for n in ("norm1", "norm2"):
            s[b + n + ".weight"] = (D,)
            s[b + n + ".bias"] = (D,)
        s[b + "attn.qkv.weight"] = (3 * D, D)
        s[b + "attn.qkv.bias"] = (3 * D,)
        s[b + "attn.proj.weight"] = (D, D)
        s[b + "attn.proj.bias"] = (D,)
        s[b + "mlp.fc1.weight"] = (c["vision_mlp_hidden"], D)
        s[b + "mlp.fc1.bias"] = (c["vision_mlp_hidden"],)
        s[b + "mlp.fc2.weight"] = (D, c["vision_mlp_hidden"])
        s[b + "mlp.fc2.bias"] = (D,)
    s[P + "norm.weight"] = (D,)
    s[P + "norm.bias"] = (D,)
    X = "text_encoder."
    s[X + "embeddings.word_embeddings.weight"] = (c["vocab_size"], T)
    s[X + "embeddings.position_embeddings.weight"] = (c["max_position_embeddings"], T)
    s[X + "embeddings.LayerNorm.weight"] = (T,)
    s[X + "embeddings.LayerNorm.bias"] = (T,)
    for l in range(c["text_layers"]):
        b = f"{X}encoder.layer.{l}."
        blocks = [("attention", T)] + ([("crossattention", D)] if l >= c["fusion_layer"] else [])
        for blk, kv in blocks:
            s[b + blk + ".self.query.weight"] = (T, T)
            s[b + blk + ".self.query.bias"] = (T,)
            s[b + blk + ".self.key.weight"] = (T, kv)
            s[b + blk + ".self.key.bias"] = (T,)
            s[b + blk + ".self.value.weight"] = (T, kv)
            s[b + blk + ".self.value.bias"] = (T,)
            s[b + blk + ".output.dense.weight"] = (T, T)
            s[b + blk + ".output.dense.bias"] = (T,)
            s[b + blk + ".output.LayerNorm.weight"] = (T,)
            s[b + blk + ".output.LayerNorm.bias"] = (T,)
        s[b + "intermediate.dense.weight"] = (c["text_ffn_hidden"], T)
        s[b + "intermediate.dense.bias"] = (c["text_ffn_hidden"],)
        s[b + "output.dense.weight"] = (T, c["text_ffn_hidden"])
        s[b + "output.dense.bias"] = (T,)
        s[b + "output.LayerNorm.weight"] = (T,)
        s[b + "output.LayerNorm.bias"] = (T,)
    s["vision_proj.weight"] = (E, D)
    s["vision_proj.bias"] = (E,)
    s["text_proj.weight"] = (E, T)
    s["text_proj.bias"] = (E,)
    s["itm_head.weight"] = (2, T)
    s["itm_head.bias"] = (2,)
    s["temp"] = ()
    return s


def init_value(name, shape):
    """Values large enough that every path carries signal (not a training init)."""
    if name == "temp":
        return torch.tensor(CFG["temp_init"])
    if "LayerNorm.weight" in name or ".norm" in name and name.endswith("weight"):
        return 1.0 + 0.1 * torch.randn(shape)
    if name.endswith("bias"):
        return 0.1 * torch.randn(shape)
    if len(shape) >= 2 and "embed" not in name and "cls_token" not in name:
        fan_in = shape[1] if len(shape) == 2 else int(torch.tensor(shape[1:]).prod())
        return torch.randn(shape) / math.sqrt(fan_in)
    return 0.5 * torch.randn(shape)


def momentum_name(n):
    head, rest = n.split(".", 1)
    return f"{head}_m.{rest}"


MOMENTUM_HEADS = ("visual_encoder", "text_encoder", "vision_proj", "text_proj")


# ---------------------------------------------------------------- the model
def lin(P, x, pre):
    return F.linear(x, P[pre + ".weight"], P[pre + ".bias"])


def ln(P, x, pre, eps):
    return F.layer_norm(x, (x.shape[-1],), P[pre + ".weight"], P[pre + ".bias"], eps)


def heads_attention(q, k, v, H, mask_add=None):
    Bq, Tq, D = q.shape
    S = k.shape[1]
    dh = D // H
    q = q.view(Bq, Tq, H, dh).transpose(1, 2)
    k = k.view(Bq, S, H, dh).transpose(1, 2)
    v = v.view(Bq, S, H, dh).transpose(1, 2)
    s = q @ k.transpose(-1, -2) / math.sqrt(dh)
    if mask_add is not None:
        s = s + mask_add[:, None, None, :]
    return (s.softmax(-1) @ v).transpose(1, 2).reshape(Bq, Tq, D)


def vit(P, pre, images):
    c = CFG
    eps = c["vision_ln_eps"]
    x = F.conv2d(images, P[pre + "patch_embed.proj.weight"], P[pre + "patch_embed.proj.bias"],
                 stride=c["patch_size"])
    x = x.flatten(2).transpose(1, 2)
    x = torch.cat([P[pre + "cls_token"].expand(x.shape[0], -1, -1), x], 1) + P[pre + "pos_embed"]
    D = c["vision_width"]
    for i in range(c["vision_depth"]):
        b = f"{pre}blocks.{i}."
        a = ln(P, x, b + "norm1", eps)
        q, k, v = lin(P, a, b + "attn.qkv").split(D, -1)
        x = x + lin(P, heads_attention(q, k, v, c["vision_heads"]), b + "attn.proj")
        a = ln(P, x, b + "norm2", eps)
        x = x + lin(P, F.gelu(lin(P, a, b + "mlp.fc1")), b + "mlp.fc2")
    return ln(P, x, pre + "norm", eps)


def bert_layer(P, b, h, mask_add, image=None, kv_b=None):
    """kv_b: the layer whose cross-attention key/value this one uses (NLVR2 pairs)."""
    c = CFG
    eps, H = c["text_ln_eps"], c["text_heads"]
    kv_b = kv_b or b
    a = heads_attention(lin(P, h, b + "attention.self.query"), lin(P, h, b + "attention.self.key"),
                        lin(P, h, b + "attention.self.value"), H, mask_add)
    h = ln(P, h + lin(P, a, b + "attention.output.dense"), b + "attention.output.LayerNorm", eps)
    if image is not None:
        a = heads_attention(lin(P, h, b + "crossattention.self.query"),
                            lin(P, image, kv_b + "crossattention.self.key"),
                            lin(P, image, kv_b + "crossattention.self.value"), H)
        h = ln(P, h + lin(P, a, b + "crossattention.output.dense"), b + "crossattention.output.LayerNorm", eps)
    f = lin(P, F.gelu(lin(P, h, b + "intermediate.dense")), b + "output.dense")
    return ln(P, h + f, b + "output.LayerNorm", eps)


def bert_text(P, pre, ids, mask):
    c = CFG
    mask_add = (1.0 - mask.float()) * -10000.0
    pos = torch.arange(ids.shape[1])
    h = P[pre + "embeddings.word_embeddings.weight"][ids] + P[pre + "embeddings.position_embeddings.weight"][pos]
    h = ln(P, h, pre + "embeddings.LayerNorm", c["text_ln_eps"])
    for l in range(c["fusion_layer"]):
        h = bert_layer(P, f"{pre}encoder.layer.{l}.", h, mask_add)
    return h


def bert_fusion(P, pre, h, mask, image):
    c = CFG
    mask_add = (1.0 - mask.float()) * -10000.0
    for l in range(c["fusion_layer"], c["text_layers"]):
        h = bert_layer(P, f"{pre}encoder.layer.{l}.", h, mask_add, image)
    return h


def embed_image(P, images, m=""):
    tok = vit(P, f"visual_encoder{m}.", images)
    return tok, F.normalize(lin(P, tok[:, 0], f"vision_proj{m}"), dim=-1)


def embed_text(P, ids, mask, m=""):
    tok = bert_text(P, f"text_encoder{m}.", ids, mask)
    return tok, F.normalize(lin(P, tok[:, 0], f"text_proj{m}"), dim=-1)


def fused_cls(P, text_tok, mask, image_tok):
    return bert_fusion(P, "text_encoder.", text_tok, mask, image_tok)[:, 0]


def albef_step(P, M, Qs, batch, neg=None):
    """LAVIS albef_retrieval.forward with dropout off. Mutates M (EMA) and Qs (enqueue)."""
    images, ids, mask, idx = batch
    with torch.no_grad():
        P["temp"].clamp_(CFG["temp_min"], CFG["temp_max"])
    temp = P["temp"]
    image_tok, image_feat = embed_image(P, images)
    text_tok, text_feat = embed_text(P, ids, mask)
    idx = idx.view(-1, 1)
    idx_all = torch.cat([idx.t(), Qs["idx_queue"].clone()], 1)
    pos_idx = torch.eq(idx, idx_all).float()
    sim_targets = pos_idx / pos_idx.sum(1, keepdim=True)
    with torch.no_grad():
        for n in list(M):
            head = n.split(".", 1)[0][:-2]
            M[n] = M[n] * CFG["momentum"] + P[head + "." + n.split(".", 1)[1]].detach() * (1.0 - CFG["momentum"])
        _, image_feat_m = embed_image(M, images, "_m")
        _, text_feat_m = embed_text(M, ids, mask, "_m")
        image_feat_m_all = torch.cat([image_feat_m.t(), Qs["image_queue"].clone()], 1)
        text_feat_m_all = torch.cat([text_feat_m.t(), Qs["text_queue"].clone()], 1)
        sim_i2t_m = image_feat_m @ text_feat_m_all / temp
        sim_t2i_m = text_feat_m @ image_feat_m_all / temp
        sim_i2t_targets = ALPHA * F.softmax(sim_i2t_m, dim=1) + (1 - ALPHA) * sim_targets
        sim_t2i_targets = ALPHA * F.softmax(sim_t2i_m, dim=1) + (1 - ALPHA) * sim_targets
    sim_i2t = image_feat @ text_feat_m_all / temp
    sim_t2i = text_feat @ image_feat_m_all / temp
    loss_i2t = -torch.sum(F.log_softmax(sim_i2t, dim=1) * sim_i2t_targets, dim=1).mean()
    loss_t2i = -torch.sum(F.log_softmax(sim_t2i, dim=1) * sim_t2i_targets, dim=1).mean()
    loss_itc = (loss_i2t + loss_t2i) / 2
    with torch.no_grad():  # enqueue
        bs = image_feat_m.shape[0]
        ptr = int(Qs["queue_ptr"][0])
        Qs["image_queue"][:, ptr:ptr + bs] = image_feat_m.t()
        Qs["text_queue"][:, ptr:ptr + bs] = text_feat_m.t()
        Qs["idx_queue"][:, ptr:ptr + bs] = idx.t()
        Qs["queue_ptr"][0] = (ptr + bs) % CFG["queue_size"]
    pos_cls = fused_cls(P, text_tok, mask, image_tok)
    bs = images.shape[0]
    if neg is None:
        with torch.no_grad():
            same = torch.eq(idx, idx.t())
            w_i2t = F.softmax(sim_i2t[:, :bs] + 1e-4, dim=1).masked_fill(same, 0)
            w_t2i = F.softmax(sim_t2i[:, :bs] + 1e-4, dim=1).masked_fill(same, 0)
            neg_img = torch.stack([torch.multinomial(w_t2i[b], 1)[0] for b in range(bs)])
            neg_txt = torch.stack([torch.multinomial(w_i2t[b], 1)[0] for b in range(bs)])
        neg = (neg_img, neg_txt)
    neg_img, neg_txt = neg
    text_all = torch.cat([text_tok, text_tok[neg_txt]], 0)
    mask_all = torch.cat([mask, mask[neg_txt]], 0)
    image_all = torch.cat([image_tok[neg_img], image_tok], 0)
    neg_cls = fused_cls(P, text_all, mask_all, image_all)
    itm_logits = lin(P, torch.cat([pos_cls, neg_cls], 0), "itm_head")
    labels = torch.cat([torch.ones(bs, dtype=torch.long), torch.zeros(2 * bs, dtype=torch.long)])
    loss_itm = F.cross_entropy(itm_logits, labels)
    out = dict(image_tokens=image_tok, image_feat=image_feat, text_tokens=text_tok, text_feat=text_feat,
               fused_cls=pos_cls, sim_i2t=sim_i2t, sim_t2i=sim_t2i, itm_logits=itm_logits, loss_itc=loss_itc,
               loss_itm=loss_itm, loss=loss_itc + loss_itm)
    return out, neg


def multidelete(P, P0, df, dr, perm):
    """spec/unlearning_methods.md §5.2, retrieval; weights 1, all terms."""
    dfi, dft, dfm = df
    dri, drt, drm = dr
    with torch.no_grad():
        _, v0 = embed_image(P0, dfi)
        _, t0 = embed_text(P0, dft, dfm)
        t0p = t0[perm]
        s0 = v0 @ t0p.t()
        s0t = t0p @ v0.t()
        rtok0, _ = embed_image(P0, dri)
        ttok0, _ = embed_text(P0, drt, drm)
        z0 = fused_cls(P0, ttok0, drm, rtok0)
    _, v = embed_image(P, dfi)
    _, t = embed_text(P, dft, dfm)
    md = F.mse_loss(v @ t.t(), s0) + F.mse_loss(t @ v.t(), s0t)
    ukr = F.mse_loss(v, v0) + F.mse_loss(t, t0)
    rtok, _ = embed_image(P, dri)
    ttok, _ = embed_text(P, drt, drm)
    mkr = F.mse_loss(fused_cls(P, ttok, drm, rtok), z0)
    return dict(loss=md + mkr + ukr, md=md, mkr=mkr, ukr=ukr)


# ---------------------------------------------------------------- SNLI-VE and NLVR2 (§3.2-3.3)
CLS_BASE = dict(CFG, queue_size=0)
CLS_CFG = {"snli_ve": dict(CLS_BASE, name="albef-ve-fixture", alpha_ramp_epochs=1),
           "nlvr2": dict(CLS_BASE, name="albef-nlvr-fixture", text_layers=6, alpha_ramp_epochs=2)}
CLS_CLASSES = {"snli_ve": 3, "nlvr2": 2}
CLS_HEADS = ("visual_encoder", "text_encoder", "cls_head")


def kv_owner(c, task, l):
    """NLVR2 shares each fusion pair's cross key/value; the odd layer owns them (§3.3)."""
    if task == "nlvr2" and l >= c["fusion_layer"] and (l - c["fusion_layer"]) % 2 == 0:
        return l + 1
    return l


def declare_cls(c, task):
    s = {n: v for n, v in declare(c).items() if n.split(".", 1)[0] in ("visual_encoder", "text_encoder")}
    for l in range(c["fusion_layer"], c["text_layers"]):
        if kv_owner(c, task, l) != l:
            for kv in ("key", "value"):
                for wb in ("weight", "bias"):
                    del s[f"text_encoder.encoder.layer.{l}.crossattention.self.{kv}.{wb}"]
    T = c["text_width"]
    s["cls_head.0.weight"] = (T, T)
    s["cls_head.0.bias"] = (T,)
    s["cls_head.2.weight"] = (CLS_CLASSES[task], T)
    s["cls_head.2.bias"] = (CLS_CLASSES[task],)
    return s


def cls_forward(P, images, ids, mask, task, vm="", tm="", hm=""):
    """Online (or teacher: vm/tm/hm = "_m" per module) forward; returns the pieces."""
    c = CFG
    if task == "nlvr2":  # both images through the one ViT as a 2B batch, then split (§3.3)
        tok = vit(P, f"visual_encoder{vm}.", torch.cat(images, 0))
        tokens = list(tok.split(images[0].shape[0], 0))
    else:
        tokens = [vit(P, f"visual_encoder{vm}.", images[0])]
    pre = f"text_encoder{tm}."
    text = bert_text(P, pre, ids, mask)
    mask_add = (1.0 - mask.float()) * -10000.0
    h = text
    for l in range(c["fusion_layer"], c["text_layers"]):
        image = tokens[(l - c["fusion_layer"]) % 2] if task == "nlvr2" else tokens[0]
        h = bert_layer(P, f"{pre}encoder.layer.{l}.", h, mask_add, image,
                       f"{pre}encoder.layer.{kv_owner(c, task, l)}.")
    z = h[:, 0]
    logits = lin(P, F.relu(lin(P, z, f"cls_head{hm}.0")), f"cls_head{hm}.2")
    return dict(tokens=tokens, text=text, z=z, logits=logits)


def cls_step(P, M, batch, task):
    """LAVIS albef_classification / albef_nlvr forward with dropout off. Mutates M (EMA)."""
    images, ids, mask, labels = batch
    with torch.no_grad():
        for n in list(M):
            head, rest = n.split(".", 1)
            M[n] = M[n] * CFG["momentum"] + P[head[:-2] + "." + rest].detach() * (1.0 - CFG["momentum"])
    out = cls_forward(P, images, ids, mask, task)
    with torch.no_grad():  # LAVIS's NLVR2 teacher reads the online text encoder (§3.3)
        teacher = cls_forward({**P, **M}, images, ids, mask, task, vm="_m", tm="" if task == "nlvr2" else "_m",
                              hm="_m")
    p = out["logits"]
    ce = F.cross_entropy(p, labels)
    distill = -torch.sum(F.log_softmax(p, dim=1) * F.softmax(teacher["logits"], dim=1), dim=1).mean()
    loss = (1 - ALPHA) * ce + ALPHA * distill
    return dict(out, momentum_logits=teacher["logits"], ce=ce, distill=distill, loss=loss)


def cls_multidelete(P, P0, df, dr, perm, task):
    """spec/unlearning_methods.md §5.2 classification, weights 1, ukr_text on."""
    dfi, dft, dfm = df
    dri, drt, drm = dr
    with torch.no_grad():
        f0 = cls_forward(P0, dfi, dft, dfm, task)
        z0r = cls_forward(P0, dri, drt, drm, task)["z"]
        z0p = cls_forward(P0, dfi, dft[perm], dfm[perm], task)["z"]  # images stay, sentences move
    f = cls_forward(P, dfi, dft, dfm, task)
    md = F.mse_loss(f["z"], z0p)
    ukr_image = F.mse_loss(torch.cat(f["tokens"], 0), torch.cat(f0["tokens"], 0))
    ukr_text = F.mse_loss(f["text"][:, 0], f0["text"][:, 0])
    mkr = F.mse_loss(cls_forward(P, dri, drt, drm, task)["z"], z0r)
    return dict(loss=md + mkr + ukr_image + ukr_text, md=md, mkr=mkr, ukr_image=ukr_image, ukr_text=ukr_text)


def cls_fixture(task, out_path):
    global CFG
    CFG = CLS_CFG[task]
    torch.manual_seed(4321 if task == "snli_ve" else 5432)
    shapes = declare_cls(CFG, task)
    P0 = {n: init_value(n, s).float() for n, s in shapes.items()}
    M0 = {momentum_name(n): (v + 0.05 * torch.randn(v.shape)).float() for n, v in P0.items()}
    Orig = {n: (v + 0.05 * torch.randn(v.shape)).float() for n, v in P0.items()}
    S, n_img = CFG["image_size"], 2 if task == "nlvr2" else 1

    def images():
        return [torch.randn(B, 3, S, S) for _ in range(n_img)]

    imgs = images()
    ids, mask = make_text([7, 5, 6, 4], CFG["vocab_size"])
    labels = torch.tensor([0, 1, 2, 1] if task == "snli_ve" else [1, 0, 0, 1], dtype=torch.long)
    df_imgs, dr_imgs = images(), images()
    df_ids, df_mask = make_text([6, 7, 4, 5], CFG["vocab_size"])
    dr_ids, dr_mask = make_text([5, 4, 7, 6], CFG["vocab_size"])
    perm = torch.tensor([2, 0, 3, 1], dtype=torch.long)

    P = {n: v.clone().requires_grad_(True) for n, v in P0.items()}
    M = {n: v.clone() for n, v in M0.items()}
    out = cls_step(P, M, (imgs, ids, mask, labels), task)
    out["loss"].backward()
    grad_train = {n: (p.grad if p.grad is not None else torch.zeros_like(p)) for n, p in P.items()}
    P = {n: v.clone().requires_grad_(True) for n, v in P0.items()}
    md = cls_multidelete(P, Orig, (df_imgs, df_ids, df_mask), (dr_imgs, dr_ids, dr_mask), perm, task)
    md["loss"].backward()
    grad_md = {n: (p.grad if p.grad is not None else torch.zeros_like(p)) for n, p in P.items()}

    T = dict(P0)
    T.update(M0)
    T.update({"original." + n: v for n, v in Orig.items()})
    for k in range(n_img):
        T[f"in.image{k}"], T[f"in.df_image{k}"], T[f"in.dr_image{k}"] = imgs[k], df_imgs[k], dr_imgs[k]
        T[f"out.image_tokens{k}"] = out["tokens"][k]
    T.update({"in.text_ids": ids, "in.text_mask": mask, "in.labels": labels, "in.df_text_ids": df_ids,
              "in.df_text_mask": df_mask, "in.dr_text_ids": dr_ids, "in.dr_text_mask": dr_mask, "in.perm": perm})
    T.update({"out.text_tokens": out["text"], "out.fused_cls": out["z"], "out.logits": out["logits"],
              "out.momentum_logits": out["momentum_logits"], "out.loss_ce": out["ce"].reshape(-1),
              "out.loss_distill": out["distill"].reshape(-1), "out.loss": out["loss"].reshape(-1)})
    T.update({"post." + n: v for n, v in M.items()})
    T.update({"md." + k: v.reshape(-1) for k, v in md.items()})
    T.update({"grad.train." + n: g for n, g in grad_train.items()})
    T.update({"grad.md." + n: g for n, g in grad_md.items()})
    meta = {"config": json.dumps(CFG), "task": task, "alpha": repr(ALPHA),
            "generator": "scripts/albef_reference.py", "torch": torch.__version__}
    write_safetensors(out_path, T, meta)
    print(f"wrote {out_path}: {len(T)} tensors; loss {out['loss'].item():.6f} (ce {out['ce'].item():.6f}, "
          f"distill {out['distill'].item():.6f}); md {md['md'].item():.6f} mkr {md['mkr'].item():.6f} "
          f"ukr {md['ukr_image'].item():.6f} + {md['ukr_text'].item():.6f}")


# ---------------------------------------------------------------- safetensors by hand
def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        if t.dtype == torch.float32:
            dt, raw = "F32", t.numpy().astype("<f4").tobytes()
        elif t.dtype == torch.int64:
            dt, raw = "I64", t.numpy().astype("<i8").tobytes()
        else:
            raise ValueError(f"{name}: dtype {t.dtype}")
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def make_text(lengths, vocab):
    ids = torch.zeros(len(lengths), L, dtype=torch.long)
    mask = torch.zeros(len(lengths), L, dtype=torch.long)
    for b, n in enumerate(lengths):
        ids[b, :n] = torch.randint(1, vocab, (n,))
        mask[b, :n] = 1
    return ids, mask


FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")


def main():
    """No argument: all three fixtures. "retrieval|snli_ve|nlvr2 [OUT]": one of them."""
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    if what in ("snli_ve", "nlvr2", "all"):
        for task, name in (("snli_ve", "albef_ve_state"), ("nlvr2", "albef_nlvr_state")):
            if what in (task, "all"):
                cls_fixture(task, sys.argv[2] if len(sys.argv) > 2 else os.path.join(FIXTURES, name + ".safetensors"))
        if what != "all":
            return
    global CFG
    CFG = RETRIEVAL_CFG
    torch.manual_seed(1234)
    out_path = sys.argv[2] if what == "retrieval" and len(sys.argv) > 2 else os.path.join(
        FIXTURES, "albef_tiny_state.safetensors")
    shapes = declare()
    P0 = {n: init_value(n, s).float() for n, s in shapes.items()}  # the starting (online) weights
    M0 = {momentum_name(n): (v + 0.05 * torch.randn(v.shape)).float()
          for n, v in P0.items() if n.split(".", 1)[0] in MOMENTUM_HEADS}
    Orig = {n: (v + 0.05 * torch.randn(v.shape)).float() if n != "temp" else v.clone() for n, v in P0.items()}
    E, Q = CFG["embed_dim"], CFG["queue_size"]
    Q0 = dict(image_queue=F.normalize(torch.randn(E, Q), dim=0), text_queue=F.normalize(torch.randn(E, Q), dim=0),
              idx_queue=torch.tensor([[-100, 1, 0, 7, -100, 2, 5, 0]], dtype=torch.long),
              queue_ptr=torch.zeros(1, dtype=torch.long))
    S = CFG["image_size"]
    images = torch.randn(B, 3, S, S)
    image_ids = torch.tensor([0, 1, 0, 2], dtype=torch.long)
    images[2] = images[0]  # two captions of image 0
    ids, mask = make_text([7, 5, 6, 4], CFG["vocab_size"])
    df_images = torch.randn(B, 3, S, S)
    df_ids, df_mask = make_text([6, 7, 4, 5], CFG["vocab_size"])
    dr_images = torch.randn(B, 3, S, S)
    dr_ids, dr_mask = make_text([5, 4, 7, 6], CFG["vocab_size"])
    perm = torch.tensor([2, 0, 3, 1], dtype=torch.long)

    # ALBEF train step
    P = {n: v.clone().requires_grad_(True) for n, v in P0.items()}
    M = {n: v.clone() for n, v in M0.items()}
    Qs = {n: v.clone() for n, v in Q0.items()}
    out, (neg_img, neg_txt) = albef_step(P, M, Qs, (images, ids, mask, image_ids))
    out["loss"].backward()
    grad_train = {n: (p.grad if p.grad is not None else torch.zeros_like(p)) for n, p in P.items()}

    # MultiDelete on the starting weights against the original model
    P = {n: v.clone().requires_grad_(True) for n, v in P0.items()}
    md = multidelete(P, Orig, (df_images, df_ids, df_mask), (dr_images, dr_ids, dr_mask), perm)
    md["loss"].backward()
    grad_md = {n: (p.grad if p.grad is not None else torch.zeros_like(p)) for n, p in P.items()}

    T = {}
    T.update(P0)
    T.update(M0)
    T.update(Q0)
    T.update({"original." + n: v for n, v in Orig.items()})
    T.update({"in.images": images, "in.text_ids": ids, "in.text_mask": mask, "in.image_ids": image_ids,
              "in.neg_image_for_text": neg_img, "in.neg_text_for_image": neg_txt,
              "in.df_images": df_images, "in.df_text_ids": df_ids, "in.df_text_mask": df_mask,
              "in.dr_images": dr_images, "in.dr_text_ids": dr_ids, "in.dr_text_mask": dr_mask, "in.perm": perm})
    T.update({"out." + k: v.reshape(-1) if v.dim() == 0 else v for k, v in out.items()})
    T.update({"post." + n: v for n, v in M.items()})
    T.update({"post." + n: v for n, v in Qs.items()})
    T.update({"md." + k: v.reshape(-1) for k, v in md.items()})
    T.update({"grad.train." + n: g for n, g in grad_train.items()})
    T.update({"grad.md." + n: g for n, g in grad_md.items()})
    meta = {"config": json.dumps(CFG), "alpha": repr(ALPHA), "generator": "scripts/albef_reference.py",
            "torch": torch.__version__}
    write_safetensors(out_path, T, meta)
    print(f"wrote {out_path}: {len(T)} tensors, {os.path.getsize(out_path)} bytes; "
          f"loss_itc {out['loss_itc'].item():.6f} loss_itm {out['loss_itm'].item():.6f} "
          f"md {md['md'].item():.6f} mkr {md['mkr'].item():.6f} ukr {md['ukr'].item():.6f} "
          f"neg_img {neg_img.tolist()} neg_txt {neg_txt.tolist()}")


if __name__ == "__main__":
    main()
