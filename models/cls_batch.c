#include "models/cls_batch.h"

#include <string.h>

#include "core/error.h"
#include "core/rng.h"
#include "data/nlvr2.h"

/* Philox stream of the swap draws (any constant distinct from the transforms'). */
#define SWAP_STREAM 0x73776170ULL /* "swap" */

int cls_batch_make(const ClsSet *s, const Tokenizer *tok, const int64_t *items, int n, ImageAugment aug, int swap_aug,
                   uint64_t seed, uint64_t epoch, AlbefClsBatch *out, Tensor **both) {
    const int S = s->image_size, L = s->max_len, per = s->images_per_item;
    const int64_t image_floats = 3LL * S * S;
    Tensor *pixels = tensor_new(DTYPE_F32, SHAPE((int64_t)per * n, 3, S, S));
    memset(out, 0, sizeof *out);
    out->text_ids = tensor_new(DTYPE_I32, SHAPE(n, L));
    out->text_mask = tensor_new(DTYPE_I32, SHAPE(n, L));
    out->labels = tensor_new(DTYPE_I32, SHAPE(n));
    for (int i = 0; i < n; i++) {
        int64_t t = items[i];
        CHECK(t >= 0 && t < s->n, "cls batch: item %lld outside the split of %lld", (long long)t, (long long)s->n);
        int32_t *ids = tensor_i32(out->text_ids) + (int64_t)i * L, *mask = tensor_i32(out->text_mask) + (int64_t)i * L;
        int swap = 0;
        if (swap_aug && per == 2) {
            Rng r = rng_make(seed, SWAP_STREAM + epoch * (uint64_t)s->n + (uint64_t)t);
            char text[1024];
            swap = nlvr2_swap_sentence(s->sentences[t], rng_uniform(&r), text, sizeof text);
            if (cls_set_encode(s, tok, text, ids, mask) < 0) return -1;
        } else {
            memcpy(ids, s->ids + t * L, (size_t)L * sizeof *ids);
            memcpy(mask, s->mask + t * L, (size_t)L * sizeof *mask);
        }
        for (int k = 0; k < per; k++) {
            int64_t image = s->item_images[t * per + (swap ? 1 - k : k)];
            float *dst = tensor_f32(pixels) + ((int64_t)k * n + i) * image_floats;
            if (cls_set_pixels(s, image, aug, seed, epoch, dst) < 0) return -1;
        }
        tensor_i32(out->labels)[i] = s->labels[t];
    }
    if (per == 2) {
        out->image0 = tensor_view_rows(pixels, 0, n);
        out->image1 = tensor_view_rows(pixels, n, n);
    } else {
        out->image0 = pixels;
    }
    if (both) *both = pixels;
    return 0;
}
