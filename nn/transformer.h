/* Transformer blocks in the two layouts the models use, with the parameter
 * names of the original checkpoints (spec/albef_blip.md §8.1).
 *
 * ViT block (pre-norm, timm names under the prefix):
 *   norm1, attn.qkv (fused [3D, D]), attn.proj, norm2, mlp.fc1, mlp.fc2
 *   x = x + proj(attn(norm1(x)));  x = x + fc2(gelu(fc1(norm2(x))))     (§1.2)
 *
 * BERT layer (post-norm, Hugging Face names under the prefix):
 *   attention.self.{query,key,value}, attention.output.{dense,LayerNorm},
 *   [crossattention.self.{query,key,value}, crossattention.output.{dense,LayerNorm}],
 *   intermediate.dense, output.{dense,LayerNorm}
 *   h = LN(h + dense(selfattn(h)));  [h = LN(h + dense(crossattn(h, enc)))];
 *   h = LN(h + dense2(gelu(dense1(h))))                                  (§2.3) */
#ifndef NN_TRANSFORMER_H
#define NN_TRANSFORMER_H

#include "autograd/params.h"
#include "core/tensor.h"
#include "nn/layers.h"

typedef struct {
    LayerNorm norm1, norm2;
    Linear qkv, proj;
    Mlp mlp;
    int dim, n_heads;
} VitBlock;

void vit_block_declare(VitBlock *b, ParamSet *ps, const char *prefix, int dim, int n_heads, int mlp_hidden,
                       float ln_eps);
Tensor *vit_block_forward(const VitBlock *b, Tensor *x);

typedef struct {
    Linear query, key, value, out_dense;
    LayerNorm out_norm;
} BertAttentionBlock;

typedef struct {
    BertAttentionBlock self_attn;
    BertAttentionBlock cross_attn; /* used when has_cross */
    int has_cross;
    Linear intermediate, output;
    LayerNorm output_norm;
    int dim, n_heads;
} BertLayer;

/* encoder_dim: width of the tokens cross-attention reads (the image tokens). */
void bert_layer_declare(BertLayer *l, ParamSet *ps, const char *prefix, int dim, int n_heads, int ffn_hidden,
                        int has_cross, int encoder_dim, float ln_eps);
/* A layer with cross-attention whose key and value Linears are kv_owner's
 * (declared there, under kv_owner's names): ALBEF-NLVR2 shares them within
 * each pair of fusion layers (spec/albef_blip.md §3.3). Gradients of both
 * layers accumulate into the one tensor. */
void bert_layer_declare_shared_kv(BertLayer *l, ParamSet *ps, const char *prefix, int dim, int n_heads,
                                  int ffn_hidden, int encoder_dim, float ln_eps, const BertLayer *kv_owner);
/* h [B, L, D]; self_mask additive [B, L] or NULL; enc [B, S, E] and enc_mask
 * [B, S] or NULL are used only when the layer has cross-attention and enc is
 * non-NULL. dropout may be NULL (no dropout). */
Tensor *bert_layer_forward(const BertLayer *l, Tensor *h, Tensor *self_mask, Tensor *enc, Tensor *enc_mask,
                           DropoutState *dropout);

#endif
