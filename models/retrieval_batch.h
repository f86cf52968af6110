/* Batches of image-text pairs for ALBEF from a RetrievalSet: pixels through
 * the eval or training transform, token ids and masks, and the image index of
 * each pair (ALBEF's `idx`, which marks captions of one image as positives of
 * each other, spec/albef_blip.md §3.1).
 *
 * Two ways to get them: retrieval_batch_make() builds one batch now, in the
 * activation arena; a RetrievalLoader prepares the batches of a pair order on
 * a background thread (data/prefetch.h) while the current step trains, so
 * decoding and augmentation overlap the model's work. Both give the same
 * numbers: every batch is a pure function of (pairs, seed, epoch). */
#ifndef MODELS_RETRIEVAL_BATCH_H
#define MODELS_RETRIEVAL_BATCH_H

#include <stdint.h>

#include "data/prefetch.h"
#include "data/retrieval_set.h"
#include "models/albef.h"

/* pairs: n text indices of the set. image_ids: caller storage for n ids.
 * Returns 0, or -1 with error_set when an image cannot be read. */
int retrieval_batch_make(const RetrievalSet *s, const int64_t *pairs, int n, ImageAugment aug, uint64_t seed,
                         uint64_t epoch, int64_t *image_ids, AlbefBatch *out);

/* Host memory of one batch, filled by the loader's worker. */
typedef struct {
    float *pixels;      /* [n, 3, S, S] */
    int32_t *ids, *mask; /* [n, L] */
    int64_t *image_ids; /* [n] */
} RetrievalHostBatch;

typedef struct {
    const RetrievalSet *set;
    const int64_t *pairs; /* n_batches · batch pair indices, batch k = pairs[k·batch ..] */
    int64_t n_batches;
    int batch;
    ImageAugment aug;
    uint64_t seed, epoch;
    RetrievalHostBatch host[2];
    Prefetcher *prefetch;
} RetrievalLoader;

/* Starts preparing batches 0 .. n_batches-1 of `pairs` (kept by pointer: it
 * must stay valid and unchanged until retrieval_loader_stop). 0 or -1. */
int retrieval_loader_start(RetrievalLoader *l, const RetrievalSet *s, const int64_t *pairs, int64_t n_batches,
                           int batch, ImageAugment aug, uint64_t seed, uint64_t epoch);
/* The next batch as tensors over the loader's buffers (valid until the next
 * call). 1 with *out, 0 at the end, -1 with error_set (an unreadable image). */
int retrieval_loader_next(RetrievalLoader *l, AlbefBatch *out);
void retrieval_loader_stop(RetrievalLoader *l);

#endif
