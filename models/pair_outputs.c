#include "models/pair_outputs.h"

#include <math.h>
#include <stdlib.h>

#include "autograd/tape.h"
#include "core/device.h"
#include "core/error.h"
#include "models/retrieval_batch.h"

int pair_itm_probs(Albef *m, const RetrievalSet *s, const int64_t *pairs, int64_t n, int batch, float *probs) {
    CHECK(batch > 0 && n >= 0, "batch %d, n %lld", batch, (long long)n);
    if (n == 0) return 0;
    if (s->image_size != m->cfg.image_size)
        return error_set("retrieval set prepared for %d-pixel images, the model takes %d", s->image_size,
                         m->cfg.image_size);
    for (int64_t p = 0; p < n; p++)
        if (pairs[p] < 0 || pairs[p] >= s->split.n_texts)
            return error_set("pair %lld out of range (the split has %lld pairs)", (long long)pairs[p],
                             (long long)s->split.n_texts);
    int64_t *image_ids = malloc((size_t)batch * sizeof *image_ids);
    CHECK(image_ids != NULL, "out of memory");
    /* Eval mode without a tape (as eval/retrieval_eval.c): dropout would make
     * the attacker's features random, and no gradient is needed. */
    DropoutState saved_dropout = m->dropout;
    int saved_grad = autograd_set_enabled(0);
    albef_set_mode(m, 0, 0);
    int rc = 0;
    for (int64_t start = 0; start < n && rc == 0; start += batch) {
        int B = (int)(n - start < batch ? n - start : batch);
        AlbefBatch b;
        /* IMAGE_AUG_NONE: the eval transform, so seed and epoch play no part. */
        rc = retrieval_batch_make(s, pairs + start, B, IMAGE_AUG_NONE, 0, 0, image_ids, &b);
        if (rc == 0) {
            /* Each pair's own image embedded per pair: images repeat when a
             * batch holds several captions of one image, which costs a little
             * compute and keeps the batch exactly the fused input. */
            AlbefImageEmbed img = albef_embed_image(m, b.images);
            AlbefTextEmbed txt = albef_embed_text(m, b.text_ids, b.text_mask);
            Tensor *logits = albef_itm_logits(m, albef_fused_cls(m, &txt, img.tokens));
            CHECK(tensor_numel(logits) == (int64_t)B * 2, "ITM logits: %lld values for %d pairs",
                  (long long)tensor_numel(logits), B);
            const Tensor *c = logits->device != DEVICE_CPU ? tensor_to_device(logits, DEVICE_CPU)
                              : tensor_is_contiguous(logits) ? logits
                                                             : tensor_contiguous_copy(logits);
            const float *z = tensor_f32(c);
            for (int i = 0; i < B; i++) {
                /* Softmax of two logits in double, shifted by the max so
                 * neither exponential overflows. */
                double z0 = z[2 * i], z1 = z[2 * i + 1], mx = z0 > z1 ? z0 : z1;
                double e0 = exp(z0 - mx), e1 = exp(z1 - mx);
                probs[2 * (start + i)] = (float)(e0 / (e0 + e1));
                probs[2 * (start + i) + 1] = (float)(e1 / (e0 + e1));
            }
        }
        autograd_step_end();
    }
    m->dropout = saved_dropout;
    autograd_set_enabled(saved_grad);
    free(image_ids);
    return rc;
}
