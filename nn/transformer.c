/* The ViT block (pre-norm, spec/albef_blip.md §1.2) and the BERT layer
 * (post-norm, optional cross-attention, §2.3), with the checkpoint names of §8.1. */
#include "nn/transformer.h"

#include <stdio.h>

#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/error.h"
#include "nn/attention.h"

static const char *join_name(char *buf, size_t size, const char *prefix, const char *leaf) {
    int n = snprintf(buf, size, "%s.%s", prefix, leaf);
    CHECK(n > 0 && (size_t)n < size, "parameter name too long: %s.%s", prefix, leaf);
    return buf;
}

void vit_block_declare(VitBlock *b, ParamSet *ps, const char *prefix, int dim, int n_heads, int mlp_hidden,
                       float ln_eps) {
    char name[512];
    CHECK(n_heads > 0 && dim % n_heads == 0, "%s: dim %d not divisible by %d heads", prefix, dim, n_heads);
    b->dim = dim;
    b->n_heads = n_heads;
    layernorm_declare(&b->norm1, ps, join_name(name, sizeof name, prefix, "norm1"), dim, ln_eps);
    /* One fused projection, rows q | k | v (§8.1 "rows: q(768) | k(768) | v(768)"). */
    linear_declare_init(&b->qkv, ps, join_name(name, sizeof name, prefix, "attn.qkv"), dim, 3 * dim, 1,
                        PARAM_INIT_TRUNC_NORMAL);
    linear_declare_init(&b->proj, ps, join_name(name, sizeof name, prefix, "attn.proj"), dim, dim, 1,
                        PARAM_INIT_TRUNC_NORMAL);
    layernorm_declare(&b->norm2, ps, join_name(name, sizeof name, prefix, "norm2"), dim, ln_eps);
    mlp_declare(&b->mlp, ps, join_name(name, sizeof name, prefix, "mlp"), "fc1", "fc2", dim, mlp_hidden);
}

/* The two pre-norms' outputs are read only by products: each norm writes
 * them in the products' type (the bits the products' cast would give, as
 * autocast's cast of a Linear input, without an f32 pass), and after the
 * product they are rematerialized (the norm recomputes them from its input,
 * which its backward keeps, for the product's weight gradient), so neither
 * is held from forward to backward. */
Tensor *vit_block_forward(const VitBlock *b, Tensor *x) {
    CHECK(x->ndim == 3 && x->shape[2] == b->dim, "vit block: input must be [B, N, %d]", b->dim);
    Tensor *normed = layernorm_forward_for_products(&b->norm1, x);
    Tensor *qkv = linear_forward(&b->qkv, normed);
    autograd_rematerialize(normed);
    /* The heads are read inside qkv and written merged (no split or merge
     * copies); attention's backward reads qkv and attn, so both stay. */
    Tensor *attn = attention_heads_packed(qkv, NULL, b->n_heads, NULL); /* ViT: no dropout */
    Tensor *proj = linear_forward(&b->proj, attn);
    /* The intermediates this block uses up go back to the arena at once
     * (autograd_discard; no backward reads them): each residual branch once
     * added. */
    Tensor *normed2 = layernorm_add_forward_for_products(&b->norm2, x, proj, &x); /* x += proj(attn) */
    autograd_discard(proj);
    Tensor *mlp = mlp_forward(&b->mlp, normed2);
    autograd_rematerialize(normed2);
    Tensor *y = op_add(x, mlp);
    autograd_discard(mlp);
    return y;
}

/* A residual branch once added: the dense layer's output and, when dropout
 * ran, its dropped copy. */
static void discard_branch(Tensor *dense, Tensor *dropped) {
    if (dropped != dense) autograd_discard(dropped);
    autograd_discard(dense);
}

/* shared_kv: NULL declares the block's own key and value Linears; otherwise
 * the block uses shared_kv's (no parameter is declared for them). */
static void bert_attention_declare(BertAttentionBlock *a, ParamSet *ps, const char *prefix, int dim, int kv_dim,
                                   float ln_eps, const BertAttentionBlock *shared_kv) {
    char name[512];
    linear_declare(&a->query, ps, join_name(name, sizeof name, prefix, "self.query"), dim, dim, 1);
    if (shared_kv) {
        CHECK(shared_kv->key.in == kv_dim && shared_kv->key.out == dim, "%s: shared key/value of another width",
              prefix);
        a->key = shared_kv->key;
        a->value = shared_kv->value;
    } else {
        linear_declare(&a->key, ps, join_name(name, sizeof name, prefix, "self.key"), kv_dim, dim, 1);
        linear_declare(&a->value, ps, join_name(name, sizeof name, prefix, "self.value"), kv_dim, dim, 1);
    }
    linear_declare(&a->out_dense, ps, join_name(name, sizeof name, prefix, "output.dense"), dim, dim, 1);
    layernorm_declare(&a->out_norm, ps, join_name(name, sizeof name, prefix, "output.LayerNorm"), dim, ln_eps);
}

static void bert_layer_declare_with(BertLayer *l, ParamSet *ps, const char *prefix, int dim, int n_heads,
                                    int ffn_hidden, int has_cross, int encoder_dim, float ln_eps,
                                    const BertAttentionBlock *shared_cross_kv) {
    char name[512];
    CHECK(n_heads > 0 && dim % n_heads == 0, "%s: dim %d not divisible by %d heads", prefix, dim, n_heads);
    l->dim = dim;
    l->n_heads = n_heads;
    l->has_cross = has_cross;
    bert_attention_declare(&l->self_attn, ps, join_name(name, sizeof name, prefix, "attention"), dim, dim, ln_eps,
                           NULL);
    if (has_cross)
        bert_attention_declare(&l->cross_attn, ps, join_name(name, sizeof name, prefix, "crossattention"), dim,
                               encoder_dim, ln_eps, shared_cross_kv);
    linear_declare(&l->intermediate, ps, join_name(name, sizeof name, prefix, "intermediate.dense"), dim,
                   ffn_hidden, 1);
    linear_declare(&l->output, ps, join_name(name, sizeof name, prefix, "output.dense"), ffn_hidden, dim, 1);
    layernorm_declare(&l->output_norm, ps, join_name(name, sizeof name, prefix, "output.LayerNorm"), dim, ln_eps);
}

void bert_layer_declare(BertLayer *l, ParamSet *ps, const char *prefix, int dim, int n_heads, int ffn_hidden,
                        int has_cross, int encoder_dim, float ln_eps) {
    bert_layer_declare_with(l, ps, prefix, dim, n_heads, ffn_hidden, has_cross, encoder_dim, ln_eps, NULL);
}

void bert_layer_declare_shared_kv(BertLayer *l, ParamSet *ps, const char *prefix, int dim, int n_heads,
                                  int ffn_hidden, int encoder_dim, float ln_eps, const BertLayer *kv_owner) {
    CHECK(kv_owner && kv_owner->has_cross, "%s: the key/value owner has no cross-attention", prefix);
    bert_layer_declare_with(l, ps, prefix, dim, n_heads, ffn_hidden, 1, encoder_dim, ln_eps, &kv_owner->cross_attn);
}

/* h = LN(h + dropout(dense(attention(q(h), k(kv), v(kv))))), Hugging Face's
 * BertAttention (self) and its cross-attention twin. */
static Tensor *bert_attention_forward(const BertAttentionBlock *a, int n_heads, Tensor *h, Tensor *kv,
                                      Tensor *mask, DropoutState *dropout) {
    /* h (f32: a LayerNorm's output, also the residual) in the products' type,
     * cast once for q, and for k and v when they read it too (each product
     * would cast it for its forward and again for its weight gradient);
     * cross-attention's kv comes cast once per encoder (bert_fusion_forward). */
    Tensor *h_product = op_to_product_type(h);
    Tensor *kv_product = kv == h ? h_product : op_to_product_type(kv);
    Tensor *q = linear_forward(&a->query, h_product);
    Tensor *k = linear_forward(&a->key, kv_product);
    Tensor *v = linear_forward(&a->value, kv_product);
    Tensor *ctx = attention_heads(q, k, v, mask, n_heads, dropout);
    /* The projections go back once attention has read them when no backward
     * will (a forward without the tape; autograd_discard keeps what a
     * backward reads), the branch once added. */
    autograd_discard(q);
    autograd_discard(k);
    autograd_discard(v);
    Tensor *dense = linear_forward(&a->out_dense, ctx);
    Tensor *o = dropout_forward(dropout, dense);
    Tensor *out = layernorm_add_forward(&a->out_norm, h, o, NULL);
    discard_branch(dense, o);
    return out;
}

Tensor *bert_layer_forward(const BertLayer *l, Tensor *h, Tensor *self_mask, Tensor *enc, Tensor *enc_mask,
                           DropoutState *dropout) {
    CHECK(h->ndim == 3 && h->shape[2] == l->dim, "bert layer: input must be [B, L, %d]", l->dim);
    h = bert_attention_forward(&l->self_attn, l->n_heads, h, h, self_mask, dropout);
    if (l->has_cross && enc) h = bert_attention_forward(&l->cross_attn, l->n_heads, h, enc, enc_mask, dropout);
    Tensor *i = op_gelu(linear_forward(&l->intermediate, h));
    Tensor *dense = linear_forward(&l->output, i);
    autograd_rematerialize(i); /* as in mlp_forward (nn/layers.c) */
    Tensor *o = dropout_forward(dropout, dense);
    Tensor *out = layernorm_add_forward(&l->output_norm, h, o, NULL);
    discard_branch(dense, o);
    return out;
}
