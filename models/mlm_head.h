/* A BERT masked-language-modelling head (BertOnlyMLMHead, as ALBEF
 * pre-training has it, spec/albef_blip.md §2.4 note and §8.2), for UL
 * (spec/unlearning_methods.md §4.8), which ascends the token likelihood of the
 * deleted texts. LAVIS's task models have no such head; the pre-training
 * checkpoint ALBEF.pth has one, under the names this module uses:
 *   text_encoder.cls.predictions.transform.dense.{weight,bias}      [D, D], [D]
 *   text_encoder.cls.predictions.transform.LayerNorm.{weight,bias}  [D]
 *   text_encoder.cls.predictions.bias                               [V]
 * The decoder weight is tied to the model's word embeddings (the task's
 * Task.word_embeddings), as in BERT, so it is not a parameter of the head.
 * The head keeps its own ParamSet, outside the model's checkpoint.
 *
 * The head reads the token states the task gives (Task.text_states): for the
 * ALBEF tasks, as in ALBEF's pre-training MLM, the masked text runs through
 * the text layers and then the fusion layers with its image, so the text's
 * likelihood is conditioned on its image and the fusion layers (the "-F" set)
 * take part in it. */
#ifndef MODELS_MLM_HEAD_H
#define MODELS_MLM_HEAD_H

#include <stdint.h>

#include "autograd/params.h"
#include "core/device.h"
#include "core/tensor.h"
#include "models/model_config.h"
#include "nn/layers.h"

#define MLM_HEAD_PREFIX "text_encoder.cls.predictions."
#define MLM_IGNORE (-100)

typedef struct {
    ParamSet params;
    Linear dense;
    LayerNorm norm;
    Tensor *bias; /* [V] */
    int vocab, dim;
} MlmHead;

/* Token ids the masking needs (the vocabulary's [MASK], [CLS], [SEP], [PAD]). */
typedef struct {
    int32_t mask, cls, sep, pad;
} MlmSpecial;

/* Declares the head for cfg (BERT init: dense N(0, 0.02²), LayerNorm 1/0, bias 0). */
void mlm_head_init(MlmHead *h, const ModelConfig *cfg, uint64_t seed);
void mlm_head_free(MlmHead *h);
int mlm_head_save(const MlmHead *h, const char *path);
/* Reads the head's tensors from a file (an ALBEF.pth converted to safetensors,
 * or a file mlm_head_save wrote); other tensors of the file are ignored.
 * Error when one of the head's tensors is missing or has another shape. */
int mlm_head_load(MlmHead *h, const char *path);
/* Moves the head's parameters to `device` (after init or load on the host),
 * where the model it reads (the tied word embeddings) lives. */
void mlm_head_to_device(MlmHead *h, Device device);

/* ALBEF pre-training masking: each real token other than [CLS]/[SEP]/[PAD] is
 * chosen with probability prob; a chosen token becomes [MASK] (80%), a random
 * token (10%) or stays (10%), and its label is the original id; every other
 * label is MLM_IGNORE. Draws come from Philox (seed, stream) keyed by the
 * element index, so a (seed, stream) pair fixes the masks. ids, mask, out_ids,
 * labels: [n, L]. Returns the number of chosen tokens. */
int64_t mlm_mask(const int32_t *ids, const int32_t *mask, int n, int L, float prob, MlmSpecial sp,
                 int vocab, uint64_t seed, uint64_t stream, int32_t *out_ids, int32_t *labels);

typedef struct {
    Tensor *loss;        /* mean cross-entropy over the labelled tokens (NULL when none) */
    int64_t n_labelled;  /* tokens with a label */
    int64_t n_correct;   /* of which the argmax prediction is the label */
    double nll_sum;      /* Σ −log p(label) over them */
} MlmOutput;

/* The head on hidden [B, L, D] at the labelled positions (labels [B·L]), the
 * decoder being word_embeddings [V, D]. */
void mlm_head_loss(const MlmHead *h, Tensor *word_embeddings, Tensor *hidden, const int32_t *labels, MlmOutput *out);

#endif
