#include "models/pgr_train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/device.h"
#include "core/error.h"

static void batch_of(PgrBatch *b, const PgrCorpus *c, const PgrSamples *s, const int64_t *idx, int64_t n) {
    pgr_batch_build(b, s, idx, n, c->opt.max_len, c->node_tokens, c->node_token_count, c->opt.name_len);
}

void pgr_score(const PgrModel *m, const PgrCorpus *c, const PgrSamples *s, int batch, Device device, PgrScores *out) {
    memset(out, 0, sizeof *out);
    out->n = s->n;
    out->p_true = malloc((size_t)(s->n ? s->n : 1) * sizeof *out->p_true);
    int64_t *idx = malloc((size_t)batch * sizeof *idx);
    CHECK(out->p_true && idx, "out of memory");
    int prev = autograd_set_enabled(0);
    for (int64_t start = 0; start < s->n; start += batch) {
        int64_t n = s->n - start < batch ? s->n - start : batch;
        for (int64_t k = 0; k < n; k++) idx[k] = start + k;
        PgrBatch b;
        batch_of(&b, c, s, idx, n);
        PgrInputs in = pgr_inputs(&b, device);
        Tensor *ug = pgr_model_graph(m, &in), *ut = pgr_model_text(m, &in, NULL);
        Tensor *logits = pgr_model_classify(m, ug, ut, pgr_model_fuse(m, ug, ut));
        float *host = malloc((size_t)(2 * n) * sizeof *host);
        CHECK(host, "out of memory");
        tensor_copy_to_host(logits, host);
        for (int64_t k = 0; k < n; k++) /* softmax over two logits = sigmoid of their difference */
            out->p_true[start + k] = 1.0f / (1.0f + expf(host[2 * k] - host[2 * k + 1]));
        free(host);
        autograd_step_end();
        pgr_batch_free(&b);
    }
    autograd_set_enabled(prev);
    free(idx);
    for (int64_t i = 0; i < s->n; i++) {
        int pred = out->p_true[i] > 0.5f, y = s->label[i];
        out->n_pos += y;
        out->tp += pred && y;
        out->fp += pred && !y;
        out->tn += !pred && !y;
        out->fn += !pred && y;
    }
    out->accuracy = s->n ? (double)(out->tp + out->tn) / (double)s->n : 0.0;
    out->precision = out->tp + out->fp ? (double)out->tp / (double)(out->tp + out->fp) : 0.0;
    out->recall = out->tp + out->fn ? (double)out->tp / (double)(out->tp + out->fn) : 0.0;
    out->f1 = out->precision + out->recall > 0 ? 2 * out->precision * out->recall / (out->precision + out->recall) : 0.0;
}

void pgr_scores_free(PgrScores *s) {
    free(s->p_true);
    memset(s, 0, sizeof *s);
}

double pgr_train_epoch(const PgrModel *m, AdamW *opt, const PgrCorpus *c, const PgrSamples *s, int batch, float lr,
                       DropoutState *dropout, Rng *rng, Device device) {
    int64_t *order = malloc((size_t)s->n * sizeof *order);
    CHECK(order, "out of memory");
    for (int64_t i = 0; i < s->n; i++) order[i] = i;
    rng_shuffle_i64(rng, order, s->n);
    double total = 0.0;
    int64_t steps = 0;
    for (int64_t start = 0; start < s->n; start += batch, steps++) {
        int64_t n = s->n - start < batch ? s->n - start : batch;
        PgrBatch b;
        batch_of(&b, c, s, order + start, n);
        PgrInputs in = pgr_inputs(&b, device);
        params_zero_grad(opt->params);
        Tensor *ug = pgr_model_graph(m, &in), *ut = pgr_model_text(m, &in, dropout);
        Tensor *logits = pgr_model_classify(m, ug, ut, pgr_model_fuse(m, ug, ut));
        Tensor *loss = op_cross_entropy(logits, in.labels);
        autograd_backward(loss);
        float value;
        tensor_copy_to_host(loss, &value);
        CHECK(isfinite(value), "pgr training: loss %g at step %lld", value, (long long)steps);
        total += value;
        adamw_step(opt, lr);
        autograd_step_end();
        pgr_batch_free(&b);
    }
    free(order);
    return steps ? total / (double)steps : 0.0;
}
