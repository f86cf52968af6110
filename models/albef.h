/* ALBEF for image-text retrieval (spec/albef_blip.md §3.1): ViT + BERT text
 * encoder + cross-attention fusion, ITC with a learnable temperature and a
 * momentum encoder with feature queues, ITM with hard negatives.
 *
 * Parameters carry the exact LAVIS names (§8.1), so a converted official
 * checkpoint loads unchanged:
 *   params   (online, trainable): visual_encoder.*, text_encoder.*,
 *            vision_proj.*, text_proj.*, itm_head.*, temp
 *   momentum (EMA twins, never trained): visual_encoder_m.*, text_encoder_m.*,
 *            vision_proj_m.*, text_proj_m.*  (empty when !cfg.momentum_distill)
 *   buffers: image_queue [E, Q], text_queue [E, Q] (columns are features),
 *            idx_queue [1, Q] (image ids, -100 = empty), queue_ptr.
 *
 * Typical use (training or the unlearning driver):
 *   albef_init(&m, &cfg, seed);              // random weights, momentum = online
 *   albef_set_mode(&m, 1, step_seed);        // train mode: dropout on
 *   Tensor *loss = albef_retrieval_loss(&m, &batch, &opts, &out);
 *   autograd_backward(loss); adamw_step(...); params_zero_grad(&m.params);
 *   autograd_step_end();
 * Evaluation and MultiDelete use the pieces: albef_embed_image,
 * albef_embed_text, albef_fused_cls, albef_itm_logits. */
#ifndef MODELS_ALBEF_H
#define MODELS_ALBEF_H

#include <stdint.h>

#include "autograd/params.h"
#include "core/tensor.h"
#include "models/bert.h"
#include "models/model_config.h"
#include "models/vit.h"
#include "nn/layers.h"

/* The modules that have a momentum twin (§3.1). */
typedef struct {
    Vit visual;
    Bert text;
    Linear vision_proj, text_proj;
} AlbefEncoders;

typedef struct {
    ModelConfig cfg;
    ParamSet params;
    ParamSet momentum;
    AlbefEncoders online, ema;
    Linear itm_head;
    Tensor *temp;            /* scalar, clamped into [temp_min, temp_max] before each loss */
    /* The feature queues live where the parameters do (params.device): host
     * memory, or device memory after albef_to_device. */
    float *image_queue;      /* [E, Q] row-major: column j is queued feature j */
    float *text_queue;       /* [E, Q] */
    int64_t *idx_queue;      /* [Q], always on the host (the targets are built there) */
    int64_t queue_ptr;
    DropoutState dropout;    /* BERT dropout; training = 0 in eval mode */
    /* Optional channel mask on the ViT output tokens, [B, Nv, Dv] (or [Dv]),
     * multiplied into every token before the ITC projection and the fusion
     * layers: Erm-Ktp's entanglement-reduced mask "after the visual feature
     * maps" (spec/unlearning_methods.md §4.7). NULL (the default) = no mask. */
    Tensor *image_token_mask;
} Albef;

/* One batch of training pairs. */
typedef struct {
    Tensor *images;            /* f32 [B, 3, H, W], normalised (§5.5) */
    Tensor *text_ids;          /* i32 [B, L]: [CLS] w.. [SEP] [PAD].. */
    Tensor *text_mask;         /* i32 [B, L]: 1 real token, 0 padding */
    const int64_t *image_ids;  /* [B] image index: captions of one image share it (§6.1) */
} AlbefBatch;

typedef struct {
    Tensor *tokens; /* [B, Nv, Dv] ViT states after the final norm */
    Tensor *feat;   /* [B, E] l2norm(vision_proj(tokens[:, 0])) */
} AlbefImageEmbed;

typedef struct {
    Tensor *tokens; /* [B, L, D] text-mode states (layers 0..fusion_layer-1) */
    Tensor *feat;   /* [B, E] l2norm(text_proj(tokens[:, 0])) */
    Tensor *mask;   /* additive [B, L]: 0 keep, -10000 padding */
} AlbefTextEmbed;

/* Declares every parameter (online, momentum), allocates the queues, fills the
 * weights from `seed` (BERT/timm init, temp = temp_init), copies online into
 * momentum and initialises the queues (standard normal, unit columns, ids -100). */
void albef_init(Albef *m, const ModelConfig *cfg, uint64_t seed);
void albef_free(Albef *m);
/* Train mode (dropout on, masks drawn from step_seed) or eval mode. */
void albef_set_mode(Albef *m, int training, uint64_t step_seed);

/* Online encoders (gradients flow when enabled). */
AlbefImageEmbed albef_embed_image(Albef *m, Tensor *images);
AlbefTextEmbed albef_embed_text(Albef *m, Tensor *ids, Tensor *mask01);
/* The same through the momentum twins (no gradient; needs momentum_distill). */
AlbefImageEmbed albef_embed_image_momentum(Albef *m, Tensor *images);
AlbefTextEmbed albef_embed_text_momentum(Albef *m, Tensor *ids, Tensor *mask01);
/* Fused [CLS] z [B, D]: the fusion layers on (text-mode states, image tokens),
 * last hidden state at position 0 (spec/unlearning_methods.md §2.1). */
Tensor *albef_fused_cls(Albef *m, const AlbefTextEmbed *text, Tensor *image_tokens);
/* ITM logits [B, 2] from fused [CLS] states; column 1 = "match" (§3.1 step 12). */
Tensor *albef_itm_logits(Albef *m, Tensor *fused_cls);

/* Momentum EMA of §3.1 step 5: theta_m <- mu theta_m + (1 - mu) theta. */
void albef_momentum_update(Albef *m);
/* Writes features f32 [B, E] and ids into the queues at queue_ptr (wrapping
 * modulo Q), then advances queue_ptr by B modulo Q (§3.1 step 8). On a device
 * the features never leave it: two kernels transpose them into the columns. */
void albef_enqueue(Albef *m, const Tensor *image_feat, const Tensor *text_feat, const int64_t *ids);
/* Clamps temp into [temp_min, temp_max] in place (§3.1 step 1; §9 item 12). */
void albef_clamp_temp(Albef *m);
/* Moves the parameters (and the momentum copy) to `device`: one allocation
 * for values and one for gradients each (issue 5 "Memory"), and the two
 * feature queues, so that a training step sends none of them. Initialise or
 * load first. */
void albef_to_device(Albef *m, Device device);

/* "-F" variants (spec/unlearning_methods.md §2.3): only the fusion layers
 * (text_encoder.encoder.layer.{fusion_layer..}) and itm_head stay trainable;
 * everything else, temp and the ITC projections included, is frozen.
 * Returns the number of trainable parameter tensors. */
int albef_set_fusion_only(Albef *m);

/* ---- checkpoints (models/albef_checkpoint.c) ----
 * One safetensors file with the online parameters, the momentum twins and the
 * buffers image_queue, text_queue, idx_queue (I64 [1, Q]), queue_ptr (I64 [1]),
 * under their LAVIS names, and the resolved config as metadata "config". */
int albef_save(const Albef *m, const char *path);
/* Strict load: every online parameter must be present with its shape, and
 * every tensor of the file must belong to the model; offenders are named.
 * A file without any momentum tensor (LAVIS fine-tuned checkpoints omit them,
 * §4.3) copies online -> momentum; a file without queues keeps the current
 * ones. The model is left unchanged for the tensors that failed. On any
 * device (host copies). */
int albef_load(Albef *m, const char *path);

/* ---- the retrieval training loss (models/albef_loss.c) ---- */
typedef struct {
    float alpha;                      /* distillation weight this step (model_config_alpha_at) */
    const int32_t *neg_image_for_text;/* [B] fixed hard negatives, or NULL to sample */
    const int32_t *neg_text_for_image;/* [B] */
    uint64_t sample_seed;             /* Philox seed and stream of the negative sampling */
    uint64_t sample_stream;
} AlbefLossOptions;

typedef struct {
    Tensor *loss, *itc, *itm;          /* scalars; loss = itc + itm (§3.1 step 13) */
    Tensor *sim_i2t, *sim_t2i;         /* [B, N + Q] logits (already / temp); N = ranks·B, the global batch */
    Tensor *itm_logits;                /* [3B, 2]: positives, (text, neg image), (neg text, image) */
    int32_t *neg_image_for_text;       /* [B] the negatives used (arena), indices into the global batch; */
    int32_t *neg_text_for_image;       /* [B] NULL when drawn on a device (they stay there, unread) */
    Tensor *neg_images, *neg_texts;    /* the same two as i32 tensors [B], on the logits' device */
} AlbefLossOutput;

/* One ALBEF retrieval step's loss, with the side effects ALBEF has inside its
 * forward: temp clamp, momentum EMA update, and enqueueing the momentum
 * features. In a job of several ranks `batch` is this rank's shard of the
 * global batch and every rank calls it together: the batch-coupled terms
 * run over the global batch (models/albef_loss.c). Returns NULL with
 * error_set when hard negatives cannot be drawn (every pair of the batch has
 * the same image id). */
Tensor *albef_retrieval_loss(Albef *m, const AlbefBatch *batch, const AlbefLossOptions *opt, AlbefLossOutput *out);

/* Hard-negative sampling of §3.1 step 10: for each row b of logits [B, B]
 * draws an index j with probability softmax(logits[b])_j, after zeroing every
 * j with ids[j] == ids[b]. Draws come from Philox (seed, stream), one uniform
 * per row in row order. -1 with error_set when a row has no candidate. */
int albef_sample_hard_negatives(const float *logits, const int64_t *ids, int B, uint64_t seed, uint64_t stream,
                                int32_t *out);
/* The same for `rows` rows of a larger batch: logits [rows, cols] of rows
 * first_row.. of the whole batch against its cols columns; row r of the
 * whole batch takes draw r, so the rows of every rank together draw what one
 * call on the whole batch draws. */
int albef_sample_hard_negatives_rows(const float *logits, int rows, int cols, const int64_t *row_ids,
                                     const int64_t *col_ids, int first_row, uint64_t seed, uint64_t stream,
                                     int32_t *out);

#endif
