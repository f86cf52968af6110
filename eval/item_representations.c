#include "eval/item_representations.h"

#include <stdlib.h>
#include <string.h>

#include "autograd/tape.h"
#include "core/device.h"
#include "core/error.h"
#include "core/xalloc.h"

/* Rows [at, at+k) of out (allocated at the first batch, *dim per item) from f, whose rows are `per` blocks of k
 * rows: block r holds the items' r-th row (NLVR2: image 0's, then image 1's). */
static int take_rows(const Tensor *f, int k, int64_t at, int64_t n, float **out, int *dim, const char *what) {
    if (f->ndim != 2) return error_set("item representations: %s has %d dimensions, not [rows, features]", what, f->ndim);
    int per = (int)(f->shape[0] / k), cols = (int)f->shape[1];
    if (!*out) {
        *dim = per * cols;
        *out = xmalloc((size_t)n * (size_t)*dim * sizeof **out);
    }
    if (f->shape[0] != (int64_t)per * k || per * cols != *dim)
        return error_set("item representations: %s of %lld rows of %d for a batch of %d items (%d per item before)",
                         what, (long long)f->shape[0], cols, k, *dim);
    if (per == 1) {
        tensor_copy_to_host(f, *out + at * *dim);
        return 0;
    }
    float *rows = xmalloc((size_t)f->shape[0] * (size_t)cols * sizeof *rows);
    tensor_copy_to_host(f, rows);
    for (int i = 0; i < k; i++)
        for (int r = 0; r < per; r++)
            memcpy(*out + (at + i) * *dim + r * cols, rows + ((int64_t)r * k + i) * cols, (size_t)cols * sizeof *rows);
    free(rows);
    return 0;
}

int item_representations(const Task *t, TaskModel *m, TaskSplit split, const int64_t *items, int64_t n, int batch,
                         unsigned want, ItemRepresentations *out) {
    memset(out, 0, sizeof *out);
    if (n < 1 || batch < 1 || !want)
        return error_set("item representations: %lld items in batches of %d", (long long)n, batch);
    int prev = autograd_set_enabled(0);
    t->model_set_mode(t, m, 0, 0);
    int rc = 0;
    for (int64_t at = 0; at < n && rc == 0; at += batch) {
        int k = (int)(n - at < batch ? n - at : batch);
        TaskBatch b;
        rc = t->split_batch_make(t, split, items + at, k, &b);
        if (rc == 0) {
            TaskSides s = t->sides(t, m, &b);
            if (want & ITEM_REP_IMAGE) rc = take_rows(s.image_feat, k, at, n, &out->image, &out->image_dim, "image side");
            if (rc == 0 && (want & ITEM_REP_TEXT))
                rc = take_rows(s.text_feat, k, at, n, &out->text, &out->text_dim, "text side");
            if (rc == 0 && (want & ITEM_REP_FUSED))
                rc = take_rows(t->fused(t, m, &b, &s), k, at, n, &out->fused, &out->fused_dim, "fused z");
        }
        autograd_step_end();
    }
    autograd_set_enabled(prev);
    if (rc < 0) item_representations_free(out);
    return rc;
}

void item_representations_free(ItemRepresentations *r) {
    free(r->image), free(r->text), free(r->fused);
    memset(r, 0, sizeof *r);
}
