/* SNLI-VE and NLVR2 on ALBEF as Tasks (models/task.h; spec/albef_blip.md
 * §3.2-3.3, §6.2-6.3): an item is an image-hypothesis pair (SNLI-VE) or an
 * image pair with a statement (NLVR2), its group the premise image or the
 * image pair (the deletion units, spec/unlearning_methods.md §1.1); the task
 * loss is CE with momentum distillation (models/albef_cls.h); L_MD compares
 * θ's fused [CLS] on the Df items with θ0's on the items re-paired with
 * another Df item's sentence (the NLVR2 image pair stays with its slot);
 * L_UKR keeps the ViT token sequences (NLVR2: image 0's then image 1's rows),
 * plus the text-mode [CLS] with ukr_text (§5.2); item_probs is the softmax of
 * the class logits.
 *
 * A batch's image side is one [n, 3, S, S] tensor for SNLI-VE and
 * [2n, 3, S, S] for NLVR2 (rows 0..n-1 the left images, n..2n-1 the right);
 * TaskSides.image_tokens follows the same row order. */
#ifndef MODELS_TASK_CLS_H
#define MODELS_TASK_CLS_H

#include "data/cls_set.h"
#include "data/tokenizer.h"
#include "models/albef_cls.h"
#include "models/task.h"

/* The task over borrowed sets and tokenizer (they must outlive it); test and
 * val may be NULL. ukr_text adds the text term to L_UKR's retained tensors. */
void task_cls_init(Task *t, AlbefClsTask which, const ModelConfig *cfg, const Tokenizer *tok, const ClsSet *train,
                   const ClsSet *test, const ClsSet *val, int ukr_text);

/* A TaskModel over an AlbefCls the caller owns, and the network inside one. */
TaskModel task_cls_wrap(AlbefCls *m);
AlbefCls *task_albef_cls(const TaskModel *m);
/* A TaskBatch over an AlbefClsBatch whose NLVR2 images are the halves of
 * `both` (cls_batch_make's block); items NULL. */
TaskBatch task_cls_batch(const AlbefClsBatch *b, Tensor *both);

#endif
