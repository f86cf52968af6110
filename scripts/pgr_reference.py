#!/usr/bin/python3
"""PyTorch reference for the C graph-text model of the PGR task (tests/test_pgr_reference.c).
Head dim 16: the smallest the CUDA attention kernels take, so the GPU variant runs too.

Run with Debian's python3-torch:  /usr/bin/python3 scripts/pgr_reference.py
Writes tests/fixtures/pgr_tiny_state.safetensors holding, for a tiny GCN + BERT
+ fusion FFN + classifier (models/pgr_model.h, spec/unlearning_methods.md §2.4):
  - every weight of the model θ ("model.<name>") and of the original model θ0
    ("original.<name>"),
  - inputs ("in.*"): five samples, each a small enclosing subgraph (global node
    ids, local edges; local 0 the gene, 1 the phenotype), a token row and mask,
    a label; the node-name word pieces of the 9 graph nodes; the Df/Dr split
    (samples 0-2 / 3-4) and the re-pairing permutation of MultiDelete,
  - outputs ("out.*") on samples 0-2: u_G, u_T, z, logits and the task loss
    (cross-entropy, mean over the batch),
  - MultiDelete ("md.*", spec §5.2 "Graph-text"): the loss and its terms
        L_MD  = MSE(z0(G_i, T_π(i)), z(G_i, T_i)) on Df
        L_MKR = MSE(z0, z) on Dr
        L_UKR = MSE([u_G0; u_T0], [u_G; u_T]) on Df
  - the gradients of every parameter: "grad.train.<name>", "grad.md.<name>" (zeros where
    the loss does not reach: the classifier under MultiDelete).
The graph convolution is written independently of the C code: Â = D^-1/2 (A+I)
D^-1/2 built densely from the edge list, applied with torch.sparse.mm. No
dropout (eval-mode numerics), so the step is deterministic.
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from albef_reference import write_safetensors  # noqa: E402

torch.manual_seed(20261205)
torch.set_num_threads(1)

CFG = dict(name="pgr-fixture", node_features="name_tokens", node_dim=8, gcn_layers=2, gcn_hidden=6, vocab_size=30,
           text_width=32, text_heads=2, text_ffn_hidden=48, text_layers=2, max_position_embeddings=12,
           max_text_len=10, text_ln_eps=1e-12, text_dropout=0.1, fusion_hidden=12, fusion_dim=10,
           classifier_hidden=8)
L = 10
NAME_LEN = 4
N_GRAPH = 9
# Per sample: global nodes (gene first, phenotype second, then neighbours) and local edges.
SAMPLES = [
    ([0, 5, 6, 1, 2], [(0, 2), (1, 3), (2, 3), (3, 4), (1, 4)]),
    ([1, 6, 5, 0], [(0, 2), (1, 3), (2, 3)]),
    ([2, 7], []),
    ([3, 8, 5, 4, 0], [(0, 2), (1, 3), (2, 4), (3, 4), (0, 1)]),
    ([4, 5, 3, 1], [(0, 2), (1, 2), (1, 3)]),
]
LABELS = [1, 0, 1, 0, 1]
LENGTHS = [10, 7, 4, 9, 6]
NAME_COUNTS = [1, 3, 2, 4, 1, 2, 3, 1, 2]
PERM = [2, 0, 1]
DF, DR = [0, 1, 2], [3, 4]


def declare(c):
    s = {"graph.node_embedding.weight": (c["vocab_size"], c["node_dim"])}
    for l in range(c["gcn_layers"]):
        s[f"graph.gcn.{l}.weight"] = (c["gcn_hidden"], c["node_dim"] if l == 0 else c["gcn_hidden"])
        s[f"graph.gcn.{l}.bias"] = (c["gcn_hidden"],)
    T, P = c["text_width"], "text_encoder."
    s[P + "embeddings.word_embeddings.weight"] = (c["vocab_size"], T)
    s[P + "embeddings.position_embeddings.weight"] = (c["max_position_embeddings"], T)
    s[P + "embeddings.LayerNorm.weight"] = (T,)
    s[P + "embeddings.LayerNorm.bias"] = (T,)
    for l in range(c["text_layers"]):
        b = f"{P}encoder.layer.{l}."
        for n in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            s[b + n + ".weight"] = (T, T)
            s[b + n + ".bias"] = (T,)
        s[b + "intermediate.dense.weight"] = (c["text_ffn_hidden"], T)
        s[b + "intermediate.dense.bias"] = (c["text_ffn_hidden"],)
        s[b + "output.dense.weight"] = (T, c["text_ffn_hidden"])
        s[b + "output.dense.bias"] = (T,)
        for n in ("attention.output.LayerNorm", "output.LayerNorm"):
            s[b + n + ".weight"] = (T,)
            s[b + n + ".bias"] = (T,)
    ug = 2 * c["gcn_hidden"]
    s["fusion.fc1.weight"] = (c["fusion_hidden"], ug + T)
    s["fusion.fc1.bias"] = (c["fusion_hidden"],)
    s["fusion.fc2.weight"] = (c["fusion_dim"], c["fusion_hidden"])
    s["fusion.fc2.bias"] = (c["fusion_dim"],)
    s["classifier.fc1_graph.weight"] = (c["classifier_hidden"], ug)
    s["classifier.fc1.weight"] = (c["classifier_hidden"], T + c["fusion_dim"])
    s["classifier.fc1.bias"] = (c["classifier_hidden"],)
    s["classifier.fc2.weight"] = (2, c["classifier_hidden"])
    s["classifier.fc2.bias"] = (2,)
    return s


def init_value(name, shape):
    """Values large enough that every path carries signal (not a training init)."""
    if "LayerNorm.weight" in name:
        return 1.0 + 0.1 * torch.randn(shape)
    if name.endswith("bias"):
        return 0.1 * torch.randn(shape)
    if "embedding" in name:
        return 0.5 * torch.randn(shape)
    return torch.randn(shape) / math.sqrt(shape[1])


def lin(P, x, pre):
    return F.linear(x, P[pre + ".weight"], P[pre + ".bias"])


def ln(P, x, pre):
    return F.layer_norm(x, (x.shape[-1],), P[pre + ".weight"], P[pre + ".bias"], CFG["text_ln_eps"])


def attention(q, k, v, H, mask_add):
    B, T, D = q.shape
    dh = D // H
    q, k, v = (t.view(B, T, H, dh).transpose(1, 2) for t in (q, k, v))
    s = q @ k.transpose(-1, -2) / math.sqrt(dh) + mask_add[:, None, None, :]
    return (s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, D)


def bert_cls(P, ids, mask):
    pre = "text_encoder."
    mask_add = (1.0 - mask.float()) * -10000.0
    h = P[pre + "embeddings.word_embeddings.weight"][ids] + \
        P[pre + "embeddings.position_embeddings.weight"][torch.arange(ids.shape[1])]
    h = ln(P, h, pre + "embeddings.LayerNorm")
    for l in range(CFG["text_layers"]):
        b = f"{pre}encoder.layer.{l}."
        a = attention(lin(P, h, b + "attention.self.query"), lin(P, h, b + "attention.self.key"),
                      lin(P, h, b + "attention.self.value"), CFG["text_heads"], mask_add)
        h = ln(P, h + lin(P, a, b + "attention.output.dense"), b + "attention.output.LayerNorm")
        f = lin(P, F.gelu(lin(P, h, b + "intermediate.dense")), b + "output.dense")
        h = ln(P, h + f, b + "output.LayerNorm")
    return h[:, 0]


def batch_graph(idx):
    """Block-diagonal Â (sparse), the node list and the target rows of samples idx."""
    nodes, edges, targets = [], [], []
    for i in idx:
        g, e = SAMPLES[i]
        base = len(nodes)
        targets += [base, base + 1]
        nodes += g
        edges += [(base + a, base + b) for a, b in e]
    n = len(nodes)
    A = torch.eye(n)
    for a, b in edges:
        A[a, b] = A[b, a] = 1.0
    d = A.sum(1).rsqrt()
    return (d[:, None] * A * d[None, :]).to_sparse(), nodes, targets


def graph_embed(P, idx, name_tokens):
    adj, nodes, targets = batch_graph(idx)
    table = P["graph.node_embedding.weight"]
    x = torch.stack([table[name_tokens[g][:NAME_COUNTS[g]]].mean(0) for g in nodes])
    for l in range(CFG["gcn_layers"]):
        x = F.relu(torch.sparse.mm(adj, x @ P[f"graph.gcn.{l}.weight"].t()) + P[f"graph.gcn.{l}.bias"])
    return x[targets].reshape(len(idx), -1)


def forward(P, idx, ids, mask, name_tokens):
    ug = graph_embed(P, idx, name_tokens)
    ut = bert_cls(P, ids[idx], mask[idx])
    return ug, ut


def fuse(P, ug, ut):
    return lin(P, F.relu(lin(P, torch.cat([ug, ut], 1), "fusion.fc1")), "fusion.fc2")


def classify(P, ug, ut, z):
    """V1 [u_G; u_T; z] + c1 with V1's u_G columns a weight of their own (classifier.fc1_graph)."""
    w = torch.cat([P["classifier.fc1_graph.weight"], P["classifier.fc1.weight"]], 1)
    h = F.linear(torch.cat([ug, ut, z], 1), w, P["classifier.fc1.bias"])
    return lin(P, F.relu(h), "classifier.fc2")


def main():
    out_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "pgr_tiny_state.safetensors")
    shapes = declare(CFG)
    P = {n: init_value(n, s).requires_grad_() for n, s in shapes.items()}
    P0 = {n: (P[n].detach() + 0.1 * torch.randn(s)) for n, s in shapes.items()}

    ids = torch.zeros(len(SAMPLES), L, dtype=torch.long)
    mask = torch.zeros(len(SAMPLES), L, dtype=torch.long)
    for b, n in enumerate(LENGTHS):
        ids[b, :n] = torch.randint(1, CFG["vocab_size"], (n,))
        mask[b, :n] = 1
    name_tokens = torch.zeros(N_GRAPH, NAME_LEN, dtype=torch.long)
    for g, n in enumerate(NAME_COUNTS):
        name_tokens[g, :n] = torch.randint(1, CFG["vocab_size"], (n,))
    labels = torch.tensor(LABELS)

    T = {}
    # Task forward and loss on Df's three samples.
    ug, ut = forward(P, DF, ids, mask, name_tokens)
    z = fuse(P, ug, ut)
    logits = classify(P, ug, ut, z)
    loss = F.cross_entropy(logits, labels[DF])
    for n in P:
        P[n].grad = None
    loss.backward()
    T.update({"out.u_g": ug, "out.u_t": ut, "out.z": z, "out.logits": logits, "out.loss": loss.reshape(1)})
    T.update({f"grad.train.{n}": P[n].grad.clone() for n in P})

    # MultiDelete (spec/unlearning_methods.md §5.2 "Graph-text").
    for n in P:
        P[n].grad = None
    with torch.no_grad():
        ug0, ut0 = forward(P0, DF, ids, mask, name_tokens)
        z0_perm = fuse(P0, ug0, ut0[PERM])
        ug0r, ut0r = forward(P0, DR, ids, mask, name_tokens)
        z0r = fuse(P0, ug0r, ut0r)
    ugf, utf = forward(P, DF, ids, mask, name_tokens)
    zf = fuse(P, ugf, utf)
    ugr, utr = forward(P, DR, ids, mask, name_tokens)
    zr = fuse(P, ugr, utr)
    md = F.mse_loss(zf, z0_perm)
    mkr = F.mse_loss(zr, z0r)
    ukr = F.mse_loss(torch.cat([ugf, utf], 1), torch.cat([ug0, ut0], 1))
    total = md + mkr + ukr
    total.backward()
    T.update({"md.loss": total.reshape(1), "md.md": md.reshape(1), "md.mkr": mkr.reshape(1),
              "md.ukr": ukr.reshape(1)})
    T.update({f"grad.md.{n}": P[n].grad.clone() if P[n].grad is not None else torch.zeros_like(P[n])
              for n in P})  # the classifier is outside the loss: zeros

    T.update({f"model.{n}": P[n].detach() for n in P})
    T.update({f"original.{n}": P0[n] for n in P0})
    T["in.ids"] = ids
    T["in.mask"] = mask
    T["in.labels"] = labels
    T["in.name_tokens"] = name_tokens
    T["in.name_counts"] = torch.tensor(NAME_COUNTS)
    T["in.perm"] = torch.tensor(PERM)
    for i, (g, e) in enumerate(SAMPLES):
        T[f"in.sample{i}.nodes"] = torch.tensor(g)
        T[f"in.sample{i}.edges"] = torch.tensor(e, dtype=torch.long).reshape(-1, 2)
    meta = {"config": json.dumps(CFG), "n_samples": str(len(SAMPLES)), "name_len": str(NAME_LEN),
            "n_graph_nodes": str(N_GRAPH), "df": json.dumps(DF), "dr": json.dumps(DR)}
    write_safetensors(out_path, {k: v.detach().float() if v.dtype.is_floating_point else v.long()
                                 for k, v in T.items()}, meta)
    print(f"wrote {out_path}: loss {loss.item():.6f}, multidelete {total.item():.6f} "
          f"(md {md.item():.6f} mkr {mkr.item():.6f} ukr {ukr.item():.6f})")


if __name__ == "__main__":
    main()
