/* Each item's representations as the unlearning methods read them
 * (models/task.h "sides()/fused()"): the image-side and text-side features
 * (Task.sides image_feat, text_feat) and the fused representation z
 * (Task.fused: ALBEF the fused [CLS], PGR the fusion FFN's output), computed
 * in eval mode without a tape over batches of Task.split_batch_make, in the
 * items' order. What the probe fits (spec/unlearning_methods.md §6.4) and what
 * bin/embed --task writes for inspection. An item of two images (NLVR2, whose
 * image_feat holds image 0's rows, then image 1's) has both images' features
 * side by side: [left | right]. */
#ifndef EVAL_ITEM_REPRESENTATIONS_H
#define EVAL_ITEM_REPRESENTATIONS_H

#include <stdint.h>

#include "models/task.h"

enum { ITEM_REP_IMAGE = 1, ITEM_REP_TEXT = 2, ITEM_REP_FUSED = 4 };

typedef struct {
    float *image, *text, *fused; /* [n, *_dim] each, malloc'd; NULL when not asked for */
    int image_dim, text_dim, fused_dim;
} ItemRepresentations;

/* The representations in `want` (ITEM_REP_* or'ed) of items[0..n) of `split`,
 * in batches of `batch` (a caller's batching fixes the numbers bit for bit).
 * The model is left in eval mode. 0, or -1 with error_set (nothing allocated). */
int item_representations(const Task *t, TaskModel *m, TaskSplit split, const int64_t *items, int64_t n, int batch,
                         unsigned want, ItemRepresentations *out);
void item_representations_free(ItemRepresentations *r);

#endif
