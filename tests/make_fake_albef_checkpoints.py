#!/usr/bin/python3
"""Fake official ALBEF checkpoints for tests/test_albef_cls_convert.c.

    make_fake_albef_checkpoints.py CONFIG_DIR OUT_DIR

Writes, for the tiny VE and NLVR2 configs:
  ve_src.pth      shaped like ALBEF.pth (§8.2): "text_encoder.bert.*" names,
                  token types, the MLM head, the retrieval heads and queues,
                  momentum copies, a 16x16-grid pos_embed of another size;
  nlvr_src.pth    shaped like pretrain_model_nlvr.pth: no "bert.", every fusion
                  pair's cross key/value stored under both layer names (equal),
                  token types, ITC projections, temp, a 3-way ta_head, no
                  momentum half;
  expected_ve.safetensors / expected_nlvr.safetensors: the tensors the C model
                  must hold after loading the converted files (LAVIS names,
                  pos_embed resized by the converter's own bicubic).
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from albef_reference import declare_cls, kv_owner, write_safetensors  # noqa: E402
from convert_albef_checkpoint import interpolate_pos_embed  # noqa: E402


def encoder_weights(cfg, task):
    """Target online weights without cls_head (a pretrained encoder checkpoint has none)."""
    return {n: torch.randn(s) for n, s in declare_cls(cfg, task).items() if not n.startswith("cls_head")}


def other_grid_pos_embed(cfg):
    g = cfg["image_size"] // cfg["patch_size"] + 2  # a pre-training resolution above the model's
    return torch.randn(1, 1 + g * g, cfg["vision_width"])


def fake_ve(cfg, out):
    T = encoder_weights(cfg, "snli_ve")
    Tm = {n.replace(".", "_m.", 1): torch.randn(v.shape) for n, v in T.items()}
    src, expected = {}, {}
    for d in (T, Tm):
        pe_name = next(n for n in d if n.endswith("pos_embed"))
        d[pe_name] = other_grid_pos_embed(cfg)
        for n, v in d.items():
            head, rest = n.split(".", 1)
            src[f"{head}.bert.{rest}" if head.startswith("text_encoder") else n] = v
            tokens = 1 + (cfg["image_size"] // cfg["patch_size"]) ** 2
            expected[n] = interpolate_pos_embed(v, tokens) if n == pe_name else v
        head = "text_encoder" if d is T else "text_encoder_m"
        src[f"{head}.bert.embeddings.token_type_embeddings.weight"] = torch.randn(2, cfg["text_width"])
        src[f"{head}.cls.predictions.bias"] = torch.randn(cfg["vocab_size"])
    D, E = cfg["text_width"], cfg["embed_dim"]
    for h in ("", "_m"):
        src[f"vision_proj{h}.weight"] = torch.randn(E, cfg["vision_width"])
        src[f"text_proj{h}.weight"] = torch.randn(E, D)
    src.update({"itm_head.weight": torch.randn(2, D), "temp": torch.tensor(0.07),
                "image_queue": torch.randn(E, 8), "text_queue": torch.randn(E, 8),
                "queue_ptr": torch.zeros(1, dtype=torch.long)})
    torch.save({"model": src}, os.path.join(out, "ve_src.pth"))
    write_safetensors(os.path.join(out, "expected_ve.safetensors"), expected, {})


def fake_nlvr(cfg, out):
    T = encoder_weights(cfg, "nlvr2")
    src = dict(T)
    for l in range(cfg["fusion_layer"], cfg["text_layers"]):
        owner = kv_owner(cfg, "nlvr2", l)
        if owner != l:  # the shared tensor under the even layer's name too
            for leaf in ("key.weight", "key.bias", "value.weight", "value.bias"):
                src[f"text_encoder.encoder.layer.{l}.crossattention.self.{leaf}"] = \
                    T[f"text_encoder.encoder.layer.{owner}.crossattention.self.{leaf}"].clone()
    D = cfg["text_width"]
    src.update({"text_encoder.embeddings.token_type_embeddings.weight": torch.randn(2, D),
                "vision_proj.weight": torch.randn(cfg["embed_dim"], cfg["vision_width"]),
                "text_proj.weight": torch.randn(cfg["embed_dim"], D), "temp": torch.tensor(0.07),
                "ta_head.weight": torch.randn(3, D), "ta_head.bias": torch.randn(3)})
    torch.save({"model": src}, os.path.join(out, "nlvr_src.pth"))
    write_safetensors(os.path.join(out, "expected_nlvr.safetensors"), T, {})


def main():
    config_dir, out = sys.argv[1], sys.argv[2]
    torch.manual_seed(11)
    fake_ve(json.load(open(os.path.join(config_dir, "albef-tiny-ve.json"))), out)
    fake_nlvr(json.load(open(os.path.join(config_dir, "albef-tiny-nlvr.json"))), out)


if __name__ == "__main__":
    main()
