#include "models/retrieval_batch.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

int retrieval_batch_make(const RetrievalSet *s, const int64_t *pairs, int n, ImageAugment aug, uint64_t seed,
                         uint64_t epoch, int64_t *image_ids, AlbefBatch *out) {
    int S = s->image_size, L = s->max_len;
    Tensor *images = tensor_new(DTYPE_F32, SHAPE(n, 3, S, S));
    Tensor *ids = tensor_new(DTYPE_I32, SHAPE(n, L));
    Tensor *mask = tensor_new(DTYPE_I32, SHAPE(n, L));
    int failed = 0;
#pragma omp parallel for schedule(dynamic, 4) if (n > 8)
    for (int b = 0; b < n; b++) {
        int64_t t = pairs[b];
        int64_t img = s->split.txt2img[t];
        image_ids[b] = img;
        memcpy(tensor_i32(ids) + (int64_t)b * L, s->ids + t * L, (size_t)L * sizeof(int32_t));
        memcpy(tensor_i32(mask) + (int64_t)b * L, s->mask + t * L, (size_t)L * sizeof(int32_t));
        if (retrieval_set_pixels(s, img, aug, seed, epoch, tensor_f32(images) + (int64_t)b * 3 * S * S) < 0) {
#pragma omp atomic write
            failed = 1;
        }
    }
    if (failed) {
        /* Re-read on this thread so the (thread-local) message is the caller's. */
        for (int b = 0; b < n; b++)
            if (retrieval_set_pixels(s, s->split.txt2img[pairs[b]], aug, seed, epoch, tensor_f32(images)) < 0)
                return -1;
    }
    *out = (AlbefBatch){.images = images, .text_ids = ids, .text_mask = mask, .image_ids = image_ids};
    return 0;
}

/* Worker side: one batch into host memory, serially (the training threads
 * own the cores; this thread only has to stay ahead of them). */
static int loader_fill(void *ctx, int64_t index, void *buffer) {
    const RetrievalLoader *l = ctx;
    RetrievalHostBatch *h = buffer;
    const RetrievalSet *s = l->set;
    int S = s->image_size, L = s->max_len;
    const int64_t *pairs = l->pairs + index * l->batch;
    for (int b = 0; b < l->batch; b++) {
        int64_t t = pairs[b], img = s->split.txt2img[t];
        h->image_ids[b] = img;
        memcpy(h->ids + (int64_t)b * L, s->ids + t * L, (size_t)L * sizeof(int32_t));
        memcpy(h->mask + (int64_t)b * L, s->mask + t * L, (size_t)L * sizeof(int32_t));
        if (retrieval_set_pixels(s, img, l->aug, l->seed, l->epoch, h->pixels + (int64_t)b * 3 * S * S) < 0)
            return -1;
    }
    return 0;
}

int retrieval_loader_start(RetrievalLoader *l, const RetrievalSet *s, const int64_t *pairs, int64_t n_batches,
                           int batch, ImageAugment aug, uint64_t seed, uint64_t epoch) {
    memset(l, 0, sizeof *l);
    *l = (RetrievalLoader){.set = s, .pairs = pairs, .n_batches = n_batches, .batch = batch, .aug = aug,
                           .seed = seed, .epoch = epoch};
    int S = s->image_size, L = s->max_len;
    void *buffers[2];
    for (int k = 0; k < 2; k++) {
        RetrievalHostBatch *h = &l->host[k];
        h->pixels = malloc((size_t)batch * 3 * S * S * sizeof(float));
        h->ids = malloc((size_t)batch * L * sizeof(int32_t));
        h->mask = malloc((size_t)batch * L * sizeof(int32_t));
        h->image_ids = malloc((size_t)batch * sizeof(int64_t));
        CHECK(h->pixels && h->ids && h->mask && h->image_ids, "out of memory");
        buffers[k] = h;
    }
    l->prefetch = prefetch_start(n_batches, buffers, 2, loader_fill, l);
    if (!l->prefetch) {
        retrieval_loader_stop(l);
        return -1;
    }
    return 0;
}

int retrieval_loader_next(RetrievalLoader *l, AlbefBatch *out) {
    void *buffer;
    int64_t index;
    int rc = prefetch_next(l->prefetch, &buffer, &index);
    if (rc <= 0) return rc;
    const RetrievalHostBatch *h = buffer;
    int n = l->batch, S = l->set->image_size, L = l->set->max_len;
    *out = (AlbefBatch){
        .images = tensor_wrap(DTYPE_F32, SHAPE(n, 3, S, S), h->pixels),
        .text_ids = tensor_wrap(DTYPE_I32, SHAPE(n, L), h->ids),
        .text_mask = tensor_wrap(DTYPE_I32, SHAPE(n, L), h->mask),
        .image_ids = h->image_ids,
    };
    return 1;
}

void retrieval_loader_stop(RetrievalLoader *l) {
    prefetch_stop(l->prefetch);
    l->prefetch = NULL;
    for (int k = 0; k < 2; k++) {
        free(l->host[k].pixels);
        free(l->host[k].ids);
        free(l->host[k].mask);
        free(l->host[k].image_ids);
    }
    memset(l->host, 0, sizeof l->host);
}
