/* ALBEF for the two classification tasks (spec/albef_blip.md §3.2-3.3):
 *   SNLI-VE: one image + hypothesis, 3 classes (contradiction 0, neutral 1,
 *            entailment 2);
 *   NLVR2:   two images + statement, 2 classes (False 0, True 1); the BERT has
 *            text_layers (18 in albef-base-nlvr) of which the fusion layers
 *            alternate between image 0 and image 1 and share their
 *            cross-attention key/value within each pair (models/bert.h).
 * Both classify the fused [CLS] with cls_head = Linear(D, D) -> ReLU ->
 * Linear(D, C) and train with cross-entropy mixed with momentum distillation.
 *
 * Parameters carry the LAVIS names (§8.1):
 *   params   visual_encoder.*, text_encoder.*, cls_head.{0,2}.{weight,bias}
 *   momentum visual_encoder_m.*, text_encoder_m.*, cls_head_m.*  (when
 *            cfg.momentum_distill; never trained)
 * There is no ITC projection, ITM head, temperature or queue.
 *
 * Typical use:
 *   albef_cls_init(&m, &cfg, ALBEF_TASK_NLVR2, seed);
 *   albef_cls_set_mode(&m, 1, step_seed);
 *   Tensor *loss = albef_cls_loss(&m, &batch, alpha, &out);   // EMA inside
 *   autograd_backward(loss); ... */
#ifndef MODELS_ALBEF_CLS_H
#define MODELS_ALBEF_CLS_H

#include <stdint.h>

#include "autograd/params.h"
#include "core/tensor.h"
#include "models/bert.h"
#include "models/model_config.h"
#include "models/vit.h"
#include "nn/layers.h"

typedef enum { ALBEF_TASK_SNLI_VE, ALBEF_TASK_NLVR2 } AlbefClsTask;

/* "snli_ve" / "nlvr2" -> the task; -1 with error_set for another name. */
int albef_cls_task_parse(const char *name, AlbefClsTask *out);
const char *albef_cls_task_name(AlbefClsTask task);
int albef_cls_task_classes(AlbefClsTask task);  /* 3 or 2 */
int albef_cls_task_images(AlbefClsTask task);   /* images per item: 1 or 2 */

/* The modules that have a momentum twin (§3.2: visual_encoder_m,
 * text_encoder_m, cls_head_m). */
typedef struct {
    Vit visual;
    Bert text;
    Linear head0, head2; /* cls_head.0 and cls_head.2 (Sequential indices; 1 is the ReLU) */
} AlbefClsModules;

typedef struct {
    ModelConfig cfg;
    AlbefClsTask task;
    int n_classes, n_images;
    ParamSet params, momentum;
    AlbefClsModules online, ema;
    DropoutState dropout; /* BERT dropout; training = 0 in eval mode */
    /* Optional channel mask on the ViT output tokens ([R, Nv, Dv] or [Dv]),
     * multiplied into every token before the fusion layers, online and
     * momentum: Erm-Ktp's mask (spec/unlearning_methods.md §4.7). NULL = none. */
    Tensor *image_token_mask;
} AlbefCls;

/* One batch of items. image1 is NULL for SNLI-VE. */
typedef struct {
    Tensor *image0, *image1; /* f32 [B, 3, H, W], normalised (§5.5) */
    Tensor *text_ids;        /* i32 [B, L] */
    Tensor *text_mask;       /* i32 [B, L] */
    Tensor *labels;          /* i32 [B] class ids; may be NULL outside the loss */
} AlbefClsBatch;

/* What one forward pass produces: the tensors the losses, MultiDelete
 * (spec/unlearning_methods.md §2.5) and the metrics read. */
typedef struct {
    Tensor *image_tokens[2]; /* [B, Nv, Dv] ViT states per image ([1] NULL for VE) */
    Tensor *text_tokens;     /* [B, L, D] text-mode states (layers 0..fusion_layer-1) */
    Tensor *fused_cls;       /* [B, D] z: last hidden state at position 0 */
    Tensor *logits;          /* [B, C] cls_head(z) */
} AlbefClsOutput;

/* Declares every parameter (online; momentum when cfg->momentum_distill),
 * fills them from `seed` (BERT/timm init; cls_head PyTorch's default Linear
 * init, §3.2) and copies online into momentum. */
void albef_cls_init(AlbefCls *m, const ModelConfig *cfg, AlbefClsTask task, uint64_t seed);
void albef_cls_free(AlbefCls *m);
/* Online parameters of the model a config describes, counted from the
 * declarations without allocating them (spec/albef_blip.md §7: albef-base
 * 209,756,931 for SNLI-VE and 259,379,714 for NLVR2 at 384 px). */
int64_t albef_cls_param_count(const ModelConfig *cfg, AlbefClsTask task);
void albef_cls_set_mode(AlbefCls *m, int training, uint64_t step_seed);
void albef_cls_to_device(AlbefCls *m, Device device);

/* The online model on a batch (gradients flow when enabled). */
AlbefClsOutput albef_cls_forward(AlbefCls *m, const AlbefClsBatch *batch);
/* The pieces of albef_cls_forward, for callers that keep them apart (the
 * task layer's unimodal sides and fused representation):
 *   image tokens [R, Nv, Dv] of any image rows (NLVR2: both images stacked);
 *   text-mode states [B, L, D] and the additive mask [B, L] they were made with;
 *   the fused [CLS] z [B, D] of text states over image0 (and image1 for
 *   NLVR2) tokens, and the logits [B, C] when `logits` is not NULL. */
Tensor *albef_cls_image_tokens(AlbefCls *m, Tensor *images);
Tensor *albef_cls_text_tokens(AlbefCls *m, Tensor *ids, Tensor *mask01, Tensor **additive_mask);
Tensor *albef_cls_fuse(AlbefCls *m, Tensor *text_tokens, Tensor *additive_mask, Tensor *image0, Tensor *image1,
                       Tensor **logits);
/* The momentum logits [B, C] (no gradient): visual_encoder_m and cls_head_m;
 * the text encoder is text_encoder_m for SNLI-VE and the ONLINE one for NLVR2,
 * as LAVIS computes them (§3.3 "LAVIS quirk", §9 item 5). */
Tensor *albef_cls_momentum_logits(AlbefCls *m, const AlbefClsBatch *batch);
/* theta_m <- momentum·theta_m + (1 - momentum)·theta over every twin. */
void albef_cls_momentum_update(AlbefCls *m);

typedef struct {
    Tensor *loss, *ce, *distill; /* loss = (1 - alpha)·ce + alpha·distill */
    Tensor *logits, *momentum_logits;
} AlbefClsLossOutput;

/* One training step's loss (§3.2): EMA update of the twins, then
 *   (1 - alpha)·CE(p, y) - alpha·mean_b Σ_c softmax(p_m)_bc log_softmax(p)_bc
 * with alpha from model_config_alpha_at (VE ramps over 1 epoch, NLVR2 over 2:
 * the configs' alpha_ramp_epochs). Without momentum_distill: plain CE. */
Tensor *albef_cls_loss(AlbefCls *m, const AlbefClsBatch *batch, float alpha, AlbefClsLossOutput *out);

/* "-F" (spec/unlearning_methods.md §2.3): only the fusion layers
 * (text_encoder.encoder.layer.{fusion_layer..}) and cls_head stay trainable.
 * Returns the number of trainable tensors. */
int albef_cls_set_fusion_only(AlbefCls *m);

/* Checkpoints: one safetensors file, the online and momentum parameters under
 * their LAVIS names and the config as metadata "config". Loading is strict
 * within each module (visual_encoder, text_encoder, cls_head and the _m
 * twins): a gap or an extra tensor is named. A file with no cls_head at all
 * (a converted pretrained ALBEF.pth / pretrain_model_nlvr.pth) leaves the head
 * as initialised; a module without its momentum twin in the file (LAVIS
 * fine-tuned files, §4.3; pretrain_model_nlvr.pth, §3.3) copies online ->
 * momentum. Load on the host, before albef_cls_to_device. */
int albef_cls_save(const AlbefCls *m, const char *path);
int albef_cls_load(AlbefCls *m, const char *path);
/* Starts the encoders (visual_encoder, text_encoder and their _m twins; the
 * online ones copied when the file has no twins) from a retrieval ALBEF
 * checkpoint of the same widths, as LAVIS starts VE from ALBEF.pth (§5.1);
 * cls_head keeps its initialisation and the retrieval heads are ignored.
 * NLVR2 reads each of its fusion layers l from the file's layer
 * (l + fusion_layer) / 2: the duplication that made pretrain_model_nlvr.pth
 * (§3.3), without its text-assignment pre-training epoch; a file that already
 * holds every NLVR2 layer (pretrain_model_nlvr.pth) is read layer for layer. */
int albef_cls_init_from_albef(AlbefCls *m, const char *path);

#endif
