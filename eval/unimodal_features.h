/* The unimodal features the utility probe reads (spec/unlearning_methods.md
 * §6.4 item 2): each item's image-side and text-side representation
 * (Task.sides image_feat and text_feat), computed in eval mode without a
 * tape over batches of Task.split_batch_make, in the items' order. An item
 * of two images (NLVR2, whose image_feat holds image 0's rows, then image
 * 1's) has both images' features side by side: [left | right]. */
#ifndef EVAL_UNIMODAL_FEATURES_H
#define EVAL_UNIMODAL_FEATURES_H

#include <stdint.h>

#include "models/task.h"

typedef enum { UNIMODAL_IMAGE, UNIMODAL_TEXT } UnimodalSide;

/* Features [n, *dim] of one side of items[0..n) of `split`, in batches of
 * `batch` (a caller's batching fixes the numbers bit for bit). Returns a
 * malloc'd array (free it), or NULL with error_set. The model is left in
 * eval mode. */
float *unimodal_features(const Task *t, TaskModel *m, TaskSplit split, const int64_t *items, int64_t n, int batch,
                         UnimodalSide side, int *dim);

#endif
