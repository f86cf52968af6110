/* The ALBEF text/fusion encoder: a BERT whose first `fusion_layer` layers
 * encode text alone and whose remaining layers add cross-attention to the image
 * tokens (spec/albef_blip.md §2.4). Names are Hugging Face's under a prefix
 * ("text_encoder" or "text_encoder_m"): "<prefix>.embeddings.*",
 * "<prefix>.encoder.layer.{l}.*" (§8.1).
 *
 * Token types: LAVIS's ALBEF sets add_type_embeddings = false, so there is no
 * token-type table and nothing is added (§2.2, §9 item 1). We follow LAVIS,
 * because its configs produce the numbers the project reproduces; the
 * checkpoint converter can fold orig-ALBEF's type row 0 into the position table
 * for orig-ALBEF numerics (scripts/convert_albef_checkpoint.py --fold-token-type). */
#ifndef MODELS_BERT_H
#define MODELS_BERT_H

#include "autograd/params.h"
#include "core/tensor.h"
#include "models/model_config.h"
#include "nn/layers.h"
#include "nn/transformer.h"

typedef struct {
    Embedding word, position;
    LayerNorm emb_norm;
    BertLayer *layers;
    int n_layers, fusion_layer, dim, max_positions;
    int nlvr_pairs; /* 1: the ALBEF-NLVR2 layout (bert_declare_nlvr) */
} Bert;

void bert_declare(Bert *b, ParamSet *ps, const char *prefix, const ModelConfig *c);
/* ALBEF-NLVR2 (spec/albef_blip.md §3.3): the same layers (text_layers in all,
 * e.g. 18), but the fusion layers come in pairs (f+2i, f+2i+1) whose
 * cross-attention key and value Linears are one tensor, declared under the
 * odd layer's name ("<prefix>.encoder.layer.{f+2i+1}.crossattention.self.key.*");
 * a checkpoint's copies under the even layer's name are the same values. */
void bert_declare_nlvr(Bert *b, ParamSet *ps, const char *prefix, const ModelConfig *c);
void bert_free(Bert *b);
/* LN(word[ids] + position[0..L-1]), then dropout (§2.2). ids i32 [B, L]. */
Tensor *bert_embed(const Bert *b, Tensor *ids, DropoutState *dropout);
/* "text" mode: embeddings and layers [0, fusion_layer) -> [B, L, D].
 * mask: additive [B, L] (attention_additive_mask). */
Tensor *bert_text_forward(const Bert *b, Tensor *ids, Tensor *mask, DropoutState *dropout);
/* "fusion" mode: layers [fusion_layer, n_layers) on text-mode states h [B, L, D],
 * each cross-attending to every image token [B, Nv, Dv] (the image mask is all
 * ones, so there is no cross mask, §2.3). */
Tensor *bert_fusion_forward(const Bert *b, Tensor *h, Tensor *mask, Tensor *image, DropoutState *dropout);

/* NLVR2 fusion (§3.3): layers [fusion_layer, n_layers) with layer l
 * cross-attending to image0 when (l - fusion_layer) is even, image1 when odd. */
Tensor *bert_fusion_forward_pair(const Bert *b, Tensor *h, Tensor *mask, Tensor *image0, Tensor *image1,
                                 DropoutState *dropout);

#endif
