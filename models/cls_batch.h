/* Batches of SNLI-VE / NLVR2 items for ALBEF from a ClsSet (data/cls_set.h):
 * pixels through the eval or the LAVIS training transform, token ids and
 * masks, labels. With `swap`, NLVR2 items get the training-time left/right
 * swap of spec/albef_blip.md §3.3 (images exchanged, "left"/"right" exchanged
 * in the sentence), drawn from Philox (seed, epoch, item). A batch is a pure
 * function of (items, aug, swap, seed, epoch). Tensors live in the activation
 * arena (until autograd_step_end). */
#ifndef MODELS_CLS_BATCH_H
#define MODELS_CLS_BATCH_H

#include <stdint.h>

#include "data/cls_set.h"
#include "data/tokenizer.h"
#include "models/albef_cls.h"

/* NLVR2's image0 and image1 are the two halves of one [2n, 3, S, S] tensor
 * (*both, when not NULL): rows 0..n-1 the left images, n..2n-1 the right. */
int cls_batch_make(const ClsSet *s, const Tokenizer *tok, const int64_t *items, int n, ImageAugment aug, int swap,
                   uint64_t seed, uint64_t epoch, AlbefClsBatch *out, Tensor **both);

#endif
