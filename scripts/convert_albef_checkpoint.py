#!/usr/bin/python3
"""Convert an official ALBEF / LAVIS checkpoint (.pth) to safetensors with the
LAVIS parameter names our C model uses (spec/albef_blip.md §8.1-8.2).

    /usr/bin/python3 scripts/convert_albef_checkpoint.py ALBEF.pth out.safetensors \
        --config models/configs/albef-base.json [--task retrieval|snli_ve|nlvr2] [--fold-token-type] [--strict]

--task (default retrieval) picks the model the keys are checked against:
- snli_ve (models/albef_cls.h): visual_encoder, text_encoder, cls_head and their
  _m twins. From ALBEF.pth (§5.1: the VE init) the retrieval heads (vision_proj,
  text_proj, itm_head, temp, queues) are dropped as unexpected and cls_head is
  missing: the C model keeps its freshly initialised head, as LAVIS does.
  albef_snli_ve_lavis.pt is already in these names.
- nlvr2: the 18-layer text encoder. pretrain_model_nlvr.pth and LAVIS's
  albef_nlvr_lavis.pt hold each fusion pair's shared cross-attention key/value
  under both layer names (§8.1); the C model has it once, under the odd layer.
  The even layer's copy must equal the odd one's (else: an error, the pair was
  not shared) and is dropped; a file with only the even copy is renamed to the
  odd name. pretrain_model_nlvr.pth has no momentum half and a 3-way ta_head
  (dropped); the C loader copies online -> momentum (§3.3).

- The state dict is taken from ckpt["model"] when present, else the file is a bare state dict.
- Renames (§8.2): every key containing "bert." loses it (text_encoder.bert.X -> text_encoder.X).
- Dropped with a note: the MLM head (text_encoder[_m].cls.*), embeddings.position_ids
  buffers, token_type_embeddings (LAVIS ignores them, §2.2). With --fold-token-type,
  token-type row 0 is added into every position-embedding row instead, which
  reproduces orig-ALBEF numerics with our (LAVIS-shaped) model.
- pos_embed with another grid is resized to the config's grid with PyTorch bicubic,
  align_corners=False (§1.3), online and momentum.
- Every key is checked against the model the config describes. Missing keys,
  unexpected keys and shape mismatches are listed with shapes. Mismatched tensors
  are dropped (LAVIS does the same) unless --strict, which turns any
  missing/unexpected/mismatched key into a failure (exit status 1).
- Momentum weights that are absent are left absent: the C loader then copies
  online -> momentum, as LAVIS does. A momentum module (or a classification
  cls_head) absent as a whole is reported in one line and is not a --strict failure.
"""
import argparse
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from albef_reference import declare, declare_cls, kv_owner, write_safetensors  # noqa: E402

MOMENTUM_HEADS = ("visual_encoder", "text_encoder", "vision_proj", "text_proj", "cls_head")


def expected_shapes(cfg, task="retrieval"):
    online = declare(cfg) if task == "retrieval" else declare_cls(cfg, task)
    shapes = dict(online)
    if cfg["momentum_distill"]:
        for n, s in online.items():
            head, _, rest = n.partition(".")
            if head in MOMENTUM_HEADS:
                shapes[f"{head}_m.{rest}"] = s
        if task == "retrieval" and cfg["queue_size"] > 0:
            E, Q = cfg["embed_dim"], cfg["queue_size"]
            shapes.update({"image_queue": (E, Q), "text_queue": (E, Q), "idx_queue": (1, Q), "queue_ptr": (1,)})
    return shapes


def interpolate_pos_embed(pe, tokens):
    """[1, 1+g_old^2, D] -> [1, tokens, D] (§1.3)."""
    g_old, g_new = int(math.isqrt(pe.shape[1] - 1)), int(math.isqrt(tokens - 1))
    if g_old * g_old + 1 != pe.shape[1] or g_new * g_new + 1 != tokens:
        raise SystemExit(f"pos_embed {list(pe.shape)}: not a square grid plus a class row")
    cls, grid = pe[:, :1], pe[:, 1:]
    D = pe.shape[2]
    grid = grid.reshape(1, g_old, g_old, D).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(g_new, g_new), mode="bicubic", align_corners=False)
    grid = grid.permute(0, 2, 3, 1).reshape(1, g_new * g_new, D)
    return torch.cat([cls, grid], 1)


def merge_shared_kv(out, cfg, log):
    """NLVR2: one key/value per fusion pair, under the odd layer's name (§3.3, §8.1)."""
    for head in ("text_encoder", "text_encoder_m"):
        for l in range(cfg["fusion_layer"], cfg["text_layers"]):
            owner = kv_owner(cfg, "nlvr2", l)
            if owner == l:
                continue
            for leaf in ("key.weight", "key.bias", "value.weight", "value.bias"):
                even = f"{head}.encoder.layer.{l}.crossattention.self.{leaf}"
                odd = f"{head}.encoder.layer.{owner}.crossattention.self.{leaf}"
                if even not in out:
                    continue
                if odd not in out:
                    out[odd] = out.pop(even)
                    log(f"renamed {even} -> {odd} (the pair's shared tensor)")
                elif out[even].shape != out[odd].shape or not torch.equal(out[even], out[odd]):
                    raise SystemExit(f"{even} differs from {odd}: NLVR2 shares them within the pair (§3.3)")
                else:
                    del out[even]
    log("NLVR2: kept one cross-attention key/value per fusion pair (the odd layer's)")


def convert(state, cfg, fold_token_type, log, task="retrieval"):
    out, notes = {}, []
    token_type = {}
    for key, value in state.items():
        if not torch.is_tensor(value):
            notes.append(f"skipped non-tensor {key}")
            continue
        name = key.replace("bert.", "") if "bert." in key else key
        head = name.split(".", 1)[0]
        if head in ("text_encoder", "text_encoder_m") and name.split(".")[1] == "cls":
            notes.append(f"dropped MLM head {key} {list(value.shape)}")
            continue
        if name.endswith("embeddings.position_ids"):
            notes.append(f"dropped buffer {key}")
            continue
        if name.endswith("embeddings.token_type_embeddings.weight"):
            token_type[head] = value
            continue
        out[name] = value
    for head, table in token_type.items():
        pos = f"{head}.embeddings.position_embeddings.weight"
        if fold_token_type and pos in out:
            out[pos] = out[pos] + table[0]
            notes.append(f"folded {head} token_type_embeddings row 0 into {pos}")
        else:
            notes.append(f"dropped {head}.embeddings.token_type_embeddings.weight {list(table.shape)} (LAVIS ignores it)")
    tokens = 1 + (cfg["image_size"] // cfg["patch_size"]) ** 2
    for n in ("visual_encoder.pos_embed", "visual_encoder_m.pos_embed"):
        if n in out and out[n].shape[1] != tokens:
            notes.append(f"interpolated {n} {list(out[n].shape)} -> [1, {tokens}, {out[n].shape[2]}]")
            out[n] = interpolate_pos_embed(out[n].float(), tokens)
    if task == "nlvr2":
        merge_shared_kv(out, cfg, notes.append)
    for n in notes:
        log(n)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("output")
    ap.add_argument("--config", default="models/configs/albef-base.json")
    ap.add_argument("--task", choices=("retrieval", "snli_ve", "nlvr2"), default="retrieval")
    ap.add_argument("--fold-token-type", action="store_true")
    ap.add_argument("--strict", action="store_true")
    a = ap.parse_args()
    cfg = json.load(open(a.config))
    if "vocab_size" not in cfg:
        raise SystemExit(f"{a.config}: the converter needs an explicit vocab_size")
    ckpt = torch.load(a.checkpoint, map_location="cpu")
    state = ckpt["model"] if isinstance(ckpt, dict) and "model" in ckpt else ckpt
    print(f"{a.checkpoint}: {len(state)} keys")
    out = convert(state, cfg, a.fold_token_type, lambda m: print("  " + m), a.task)

    want = expected_shapes(cfg, a.task)
    missing = [n for n in want if n not in out]
    # A module absent as a whole is one line: a momentum twin the C loader fills
    # from the online weights, or a new task head it keeps as initialised.
    absent = sorted(h for h in {n.split(".", 1)[0] for n in missing} - {n.split(".", 1)[0] for n in out}
                    if h.endswith("_m") or h == "cls_head")
    for head in absent:
        count = sum(n.split(".", 1)[0] == head for n in missing)
        why = "copied from the online weights on load" if head.endswith("_m") else "kept as initialised on load"
        print(f"  ABSENT     {head}.* ({count} tensors): {why}")
    missing = [n for n in missing if n.split(".", 1)[0] not in absent]
    unexpected = [n for n in out if n not in want]
    mismatched = [n for n in out if n in want and tuple(out[n].shape) != tuple(want[n])]
    for n in missing:
        print(f"  MISSING    {n} {list(want[n])}")
    for n in unexpected:
        print(f"  UNEXPECTED {n} {list(out[n].shape)} (dropped)")
    for n in mismatched:
        print(f"  WRONG SHAPE {n}: checkpoint {list(out[n].shape)}, model {list(want[n])} (dropped)")
    if a.strict and (missing or unexpected or mismatched):
        raise SystemExit(f"--strict: {len(missing)} missing, {len(unexpected)} unexpected, "
                         f"{len(mismatched)} wrong shape")
    keep = {}
    for n, v in out.items():
        if n in unexpected or n in mismatched:
            continue
        if n in ("idx_queue", "queue_ptr"):
            keep[n] = v.to(torch.int64).reshape(want[n])
        else:
            keep[n] = v.to(torch.float32).reshape(want[n]).contiguous()
    if ("image_queue" in keep) != ("text_queue" in keep) or ("queue_ptr" in keep and "image_queue" not in keep):
        for n in ("image_queue", "text_queue", "idx_queue", "queue_ptr"):
            keep.pop(n, None)
        print("  queues incomplete: dropped all queue buffers (the model initialises fresh ones)")
    meta = {"format": "albef" if a.task == "retrieval" else "albef_cls", "source": os.path.basename(a.checkpoint),
            "config": json.dumps(cfg)}
    if a.task != "retrieval":
        meta["task"] = a.task
    write_safetensors(a.output, keep, meta)
    print(f"wrote {a.output}: {len(keep)} tensors ({len(missing)} missing, {len(unexpected)} unexpected, "
          f"{len(mismatched)} wrong shape)")


if __name__ == "__main__":
    main()
