#include "tests/mpi/dp_world.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "models/task_retrieval.h"
#include "tests/eval_world.h"

int dp_world_open(DpWorld *w, float dropout) {
    memset(w, 0, sizeof *w);
    if (!(w->tok = eval_world_tokenizer())) return -1;
    Albef *ms[4] = {&w->ref, &w->dp, &w->ref0, &w->dp0};
    for (int k = 0; k < 4; k++) {
        if (eval_world_model(ms[k], w->tok, 3) < 0) return -1;
        ms[k]->cfg.text_dropout = dropout;
    }
    if (eval_world_set(&w->train, "train", w->tok, &w->ref.cfg) < 0) return -1;
    task_retrieval_init(&w->task, &w->ref.cfg, &w->train, NULL, NULL);
    w->tref = task_retrieval_wrap(&w->ref);
    w->tdp = task_retrieval_wrap(&w->dp);
    w->tref0 = task_retrieval_wrap(&w->ref0);
    w->tdp0 = task_retrieval_wrap(&w->dp0);
    return 0;
}

void dp_world_close(DpWorld *w) {
    retrieval_set_free(&w->train);
    albef_free(&w->ref);
    albef_free(&w->dp);
    albef_free(&w->ref0);
    albef_free(&w->dp0);
    tokenizer_free(w->tok);
}

/* ViT keeps its key biases in the middle third of attn.qkv.bias. */
static int zero_gradient_element(const char *name, int64_t k, int64_t n) {
    size_t len = strlen(name);
    if (len >= 13 && strcmp(name + len - 13, "attn.qkv.bias") == 0) return k >= n / 3 && k < 2 * n / 3;
    return len >= 8 && strcmp(name + len - 8, "key.bias") == 0;
}

int dp_params_match(const ParamSet *a, const ParamSet *b, double lr, int steps, double slack, char *why,
                    size_t size) {
    int64_t total = 0, in_band = 0;
    char first_in_band[256] = "";
    for (int p = 0; p < b->count; p++) {
        const Tensor *x = a->items[p], *y = b->items[p];
        total += tensor_numel(y);
        for (int64_t k = 0; k < tensor_numel(y); k++) {
            double u = tensor_f32(x)[k], v = tensor_f32(y)[k], d = fabs(u - v);
            double tol = zero_gradient_element(y->name, k, tensor_numel(y))
                             ? 2.0 * lr * steps
                             : 2e-5 + 2e-4 * fabs(v) + slack * lr * steps;
            if (d <= tol) continue;
            if (d <= 2.0 * lr * steps) { /* AdamW's sign-noise band (dp_world.h) */
                if (in_band++ == 0)
                    snprintf(first_in_band, sizeof first_in_band, "%s[%lld] = %.9g, one rank: %.9g", y->name,
                             (long long)k, u, v);
                continue;
            }
            snprintf(why, size, "%s[%lld] = %.9g, one rank: %.9g", y->name, (long long)k, u, v);
            return -1;
        }
    }
    if (in_band > 1 + total / 10000) {
        snprintf(why, size, "%lld of %lld elements differ by more than rounding (first: %s)", (long long)in_band,
                 (long long)total, first_in_band);
        return -1;
    }
    return 0;
}

int64_t *dp_items(int64_t n, int64_t stride, int64_t offset) {
    int64_t *items = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *items);
    for (int64_t k = 0; k < n; k++) items[k] = k * stride + offset;
    return items;
}
