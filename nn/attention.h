/* Multi-head scaled dot-product attention.
 *
 * attention_heads() is the core every attention layer shares:
 *   out = concat_h softmax(q_h k_hᵀ / √d_h + mask) v_h
 * with q [B, T, D], k and v [B, S, D], head h owning columns h·d_h .. (h+1)·d_h-1
 * (spec/albef_blip.md §1.2, §2.3), and mask NULL or an additive key-padding
 * mask [B, S] (0 keep, -10000 pad, as BERT's extended attention mask).
 * Attention-probability dropout is applied when `dropout` is non-NULL and training. */
#ifndef NN_ATTENTION_H
#define NN_ATTENTION_H

#include "core/tensor.h"
#include "nn/layers.h"

Tensor *attention_heads(Tensor *q, Tensor *k, Tensor *v, Tensor *mask, int n_heads, DropoutState *dropout);
/* The same for self-attention on one packed projection qkv [B, T, 3·D] (q,
 * k, v side by side: the ViT's fused attn.qkv), read in place. */
Tensor *attention_heads_packed(Tensor *qkv, Tensor *mask, int n_heads, DropoutState *dropout);

/* [B, S] 0/1 attention mask (i32 or f32) -> additive f32 mask (1 - m) · -10000. */
Tensor *attention_additive_mask(Tensor *mask01);

#endif
