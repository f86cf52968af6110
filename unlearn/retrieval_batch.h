/* Batches of image-text pairs for ALBEF from a RetrievalSet: pixels through
 * the eval or training transform, token ids and masks, and the image index of
 * each pair (ALBEF's `idx`, which marks captions of one image as positives of
 * each other, spec/albef_blip.md §3.1). Tensors live in the activation arena. */
#ifndef UNLEARN_RETRIEVAL_BATCH_H
#define UNLEARN_RETRIEVAL_BATCH_H

#include <stdint.h>

#include "data/retrieval_set.h"
#include "models/albef.h"

/* pairs: n text indices of the set. image_ids: caller storage for n ids.
 * Returns 0, or -1 with error_set when an image cannot be read. */
int retrieval_batch_make(const RetrievalSet *s, const int64_t *pairs, int n, ImageAugment aug, uint64_t seed,
                         uint64_t epoch, int64_t *image_ids, AlbefBatch *out);

#endif
