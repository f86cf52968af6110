#include "eval/unimodal_features.h"

#include <stdlib.h>
#include <string.h>

#include "autograd/tape.h"
#include "core/device.h"
#include "core/error.h"
#include "core/xalloc.h"

float *unimodal_features(const Task *t, TaskModel *m, TaskSplit split, const int64_t *items, int64_t n, int batch,
                         UnimodalSide side, int *dim) {
    if (n < 1 || batch < 1) return error_set("unimodal features: %lld items in batches of %d", (long long)n, batch), NULL;
    int prev = autograd_set_enabled(0);
    t->model_set_mode(t, m, 0, 0);
    float *out = NULL;
    int D = 0, rc = 0;
    for (int64_t at = 0; at < n && rc == 0; at += batch) {
        int k = (int)(n - at < batch ? n - at : batch);
        TaskBatch b;
        rc = t->split_batch_make(t, split, items + at, k, &b);
        if (rc == 0) {
            TaskSides s = t->sides(t, m, &b);
            Tensor *f = side == UNIMODAL_IMAGE ? s.image_feat : s.text_feat;
            /* An item of several images (NLVR2) has `per` row blocks of k rows: image 0's, then image 1's. */
            int per = (int)(f->shape[0] / k), cols = (int)f->shape[1];
            if (!out) {
                D = per * cols;
                out = xmalloc((size_t)n * (size_t)D * sizeof *out);
            }
            if (f->shape[0] != (int64_t)per * k || per * cols != D) {
                rc = error_set("unimodal features: %lld rows of %d for a batch of %d items (%d per item before)",
                               (long long)f->shape[0], cols, k, D);
            } else if (per == 1) {
                tensor_copy_to_host(f, out + at * D);
            } else {
                float *rows = xmalloc((size_t)f->shape[0] * (size_t)cols * sizeof *rows);
                tensor_copy_to_host(f, rows);
                for (int i = 0; i < k; i++)
                    for (int r = 0; r < per; r++)
                        memcpy(out + (at + i) * D + r * cols, rows + ((int64_t)r * k + i) * cols,
                               (size_t)cols * sizeof *rows);
                free(rows);
            }
        }
        autograd_step_end();
    }
    autograd_set_enabled(prev);
    if (rc < 0) {
        free(out);
        return NULL;
    }
    *dim = D;
    return out;
}
