/* ALBEF's masked-language-modelling head (BertOnlyMLMHead of ALBEF
 * pre-training, spec/albef_blip.md §2.4 note and §8.2), for UL
 * (spec/unlearning_methods.md §4.8), which ascends the token likelihood of the
 * deleted captions. LAVIS's retrieval model has no such head; the pre-training
 * checkpoint ALBEF.pth has one, under the names this module uses:
 *   text_encoder.cls.predictions.transform.dense.{weight,bias}      [D, D], [D]
 *   text_encoder.cls.predictions.transform.LayerNorm.{weight,bias}  [D]
 *   text_encoder.cls.predictions.bias                               [V]
 * The decoder weight is tied to the model's word embeddings
 * (text_encoder.embeddings.word_embeddings.weight), as in BERT, so it is not
 * a parameter of the head. The head keeps its own ParamSet, outside the
 * ALBEF checkpoint.
 *
 * As in ALBEF's pre-training MLM, the masked caption runs through the text
 * layers and then the fusion layers with its image, and the head reads the
 * fused states: the caption's likelihood is conditioned on its image, so the
 * fusion layers (the "-F" set) take part in it. */
#ifndef MODELS_ALBEF_MLM_H
#define MODELS_ALBEF_MLM_H

#include <stdint.h>

#include "models/albef.h"

#define ALBEF_MLM_PREFIX "text_encoder.cls.predictions."
#define ALBEF_MLM_IGNORE (-100)

typedef struct {
    ParamSet params;
    Linear dense;
    LayerNorm norm;
    Tensor *bias; /* [V] */
    int vocab, dim;
} AlbefMlmHead;

/* Token ids the masking needs (the vocabulary's [MASK], [CLS], [SEP], [PAD]). */
typedef struct {
    int32_t mask, cls, sep, pad;
} AlbefMlmSpecial;

/* Declares the head for cfg (BERT init: dense N(0, 0.02²), LayerNorm 1/0, bias 0). */
void albef_mlm_init(AlbefMlmHead *h, const ModelConfig *cfg, uint64_t seed);
void albef_mlm_free(AlbefMlmHead *h);
int albef_mlm_save(const AlbefMlmHead *h, const char *path);
/* Reads the head's tensors from a file (an ALBEF.pth converted to safetensors,
 * or a file albef_mlm_save wrote); other tensors of the file are ignored.
 * Error when one of the head's tensors is missing or has another shape. */
int albef_mlm_load(AlbefMlmHead *h, const char *path);
/* Moves the head's parameters to `device` (after init or load on the host),
 * where the model it reads (the tied word embeddings) lives. */
void albef_mlm_to_device(AlbefMlmHead *h, Device device);

/* ALBEF pre-training masking: each real token other than [CLS]/[SEP]/[PAD] is
 * chosen with probability prob; a chosen token becomes [MASK] (80%), a random
 * token (10%) or stays (10%), and its label is the original id; every other
 * label is ALBEF_MLM_IGNORE. Draws come from Philox (seed, stream) keyed by the
 * element index, so a (seed, stream) pair fixes the masks. ids, mask, out_ids,
 * labels: [n, L]. Returns the number of chosen tokens. */
int64_t albef_mlm_mask(const int32_t *ids, const int32_t *mask, int n, int L, float prob, AlbefMlmSpecial sp,
                       int vocab, uint64_t seed, uint64_t stream, int32_t *out_ids, int32_t *labels);

/* The fused token states [B, L, D] of a batch (text layers, then fusion with
 * the batch's images), in the model's current mode. */
Tensor *albef_mlm_hidden(Albef *m, const AlbefBatch *batch);

typedef struct {
    Tensor *loss;        /* mean cross-entropy over the labelled tokens (NULL when none) */
    int64_t n_labelled;  /* tokens with a label */
    int64_t n_correct;   /* of which the argmax prediction is the label */
    double nll_sum;      /* Σ −log p(label) over them */
} AlbefMlmOutput;

/* The head on hidden [B, L, D] at the labelled positions (labels [B·L]). */
void albef_mlm_head_loss(const AlbefMlmHead *h, const Albef *m, Tensor *hidden, const int32_t *labels,
                         AlbefMlmOutput *out);

#endif
