#include "unlearn/retrieval_batch.h"

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
