#include "unlearn/ul.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/arena.h"
#include "core/clock.h"
#include "core/comm.h"
#include "core/device.h"
#include "core/error.h"
#include "core/log.h"
#include "core/rng.h"
#include "nn/optim.h"

#define STREAM_EVAL_MASK 0x756c6576616cULL /* fixed evaluation masks */
#define STREAM_TRAIN_MASK 0x756c747261696eULL
#define STREAM_HEAD_MASK 0x756c68656164ULL
#define STREAM_HEAD_SHUFFLE 0x756c736875ULL
#define STREAM_DROPOUT 0x756c64726fULL

/* A batch of items[0..n) of `split` with masked texts; *labels [n·L] in the
 * activation arena, like the batch. Each text's masks are keyed by its item
 * index, so a text gets the same masks in whichever batch it lands. Returns
 * the number of masked tokens, or -1. */
static int64_t masked_batch(const Task *t, TaskSplit split, const int64_t *items, int n, float prob, MlmSpecial sp,
                            int vocab, uint64_t seed, uint64_t stream, int32_t **labels, TaskBatch *b) {
    if (t->split_batch_make(t, split, items, n, b) < 0) return -1;
    int L = (int)b->text_ids->shape[1];
    int32_t *ids = arena_alloc(arena_activations(), (size_t)n * L * sizeof *ids);
    *labels = arena_alloc(arena_activations(), (size_t)n * L * sizeof **labels);
    tensor_copy_to_host(b->text_ids, ids);
    Tensor *masked = tensor_new(DTYPE_I32, SHAPE(n, L));
    int64_t total = 0;
    for (int k = 0; k < n; k++)
        total += mlm_mask(ids + (int64_t)k * L, tensor_i32(b->text_mask) + (int64_t)k * L, 1, L, prob, sp, vocab, seed,
                          stream + (uint64_t)items[k] * 0x9e3779b97f4a7c15ULL, tensor_i32(masked) + (int64_t)k * L,
                          *labels + (int64_t)k * L);
    b->text_ids = tensor_on(masked, b->text_ids->device);
    return total;
}

/* Data parallel (core/comm.h): UL's passes over Df (the score, the count,
 * the accumulated gradient) are sums over its minibatches, so each rank takes
 * whole minibatches (comm_shard_rows: the same batches, and each batch's
 * dropout seed, as one process) and the sums are all-reduced. */

/* The masked tokens of the texts of items under (seed, stream), as masked_batch draws them (every rank's). */
static int64_t count_masked(const Task *t, const int64_t *items, int64_t n, int batch, float prob, MlmSpecial sp,
                            int vocab, uint64_t seed, uint64_t stream) {
    int64_t total = 0, lo, hi;
    comm_shard_rows(n, batch, &lo, &hi);
    for (int64_t k = lo; k < hi && total >= 0; k += batch) {
        int b = (int)(n - k < batch ? n - k : batch);
        TaskBatch bt;
        int32_t *labels;
        int64_t got = masked_batch(t, TASK_SPLIT_TRAIN, items + k, b, prob, sp, vocab, seed, stream, &labels, &bt);
        total = got < 0 ? -1 : total + got;
        autograd_step_end();
    }
    if (total >= 0) comm_allreduce_i64(&total, 1, COMM_SUM);
    return total;
}

int ul_mlm_score(const Task *t, TaskModel *m, const MlmHead *h, TaskSplit split, const int64_t *items, int64_t n,
                 int batch, float mask_prob, MlmSpecial sp, uint64_t seed, double *accuracy, double *nll) {
    int prev = autograd_set_enabled(0);
    t->model_set_mode(t, m, 0, seed);
    int64_t counts[2] = {0, 0}, lo, hi; /* labelled, correct */
    double nll_sum = 0;
    int rc = 0;
    comm_shard_rows(n, batch, &lo, &hi);
    for (int64_t k = lo; k < hi && rc == 0; k += batch) {
        int b = (int)(n - k < batch ? n - k : batch);
        TaskBatch bt;
        int32_t *labels;
        rc = masked_batch(t, split, items + k, b, mask_prob, sp, h->vocab, seed, STREAM_EVAL_MASK, &labels, &bt) < 0
                 ? -1
                 : 0;
        if (rc == 0) {
            MlmOutput out;
            mlm_head_loss(h, t->word_embeddings(t, m), t->text_states(t, m, &bt), labels, &out);
            counts[0] += out.n_labelled;
            counts[1] += out.n_correct;
            nll_sum += out.nll_sum;
        }
        autograd_step_end();
    }
    autograd_set_enabled(prev);
    if (rc < 0) return -1;
    comm_allreduce_i64(counts, 2, COMM_SUM);
    comm_allreduce_f64(&nll_sum, 1, COMM_SUM);
    int64_t labelled = counts[0], correct = counts[1];
    if (labelled == 0) rc = error_set("MLM score: no token was masked in %lld texts", (long long)n);
    if (rc == 0) {
        *accuracy = (double)correct / (double)labelled;
        *nll = nll_sum / (double)labelled;
    }
    return rc;
}

int ul_set_trainable(const Task *t, TaskModel *m, int fusion_only) {
    if (fusion_only) return t->model_set_fusion_only(t, m);
    params_set_trainable_all(m->params, 0);
    return params_set_trainable_prefixes(m->params, t->text_prefixes, 1);
}

int ul_train_mlm_head(const Task *t, TaskModel *m, MlmHead *h, const int64_t *items, int64_t n, int epochs,
                      double lr, int batch, float mask_prob, MlmSpecial sp, uint64_t seed, double *first_loss,
                      double *last_loss) {
    int64_t iters = n / batch;
    if (iters < 1) return error_set("MLM head: %lld items, fewer than one batch of %d", (long long)n, batch);
    ParamSet *ps = m->params;
    /* The model is frozen here: its flags are saved and restored. */
    int *flags = malloc((size_t)ps->count * sizeof *flags);
    int64_t *order = malloc((size_t)n * sizeof *order);
    CHECK(flags && order, "out of memory");
    for (int k = 0; k < ps->count; k++) flags[k] = ps->items[k]->requires_grad;
    params_set_trainable_all(ps, 0);
    params_set_trainable_all(&h->params, 1);
    AdamW opt;
    adamw_init(&opt, &h->params, 0.9f, 0.999f, 1e-8f, 0.0f);
    t->model_set_mode(t, m, 0, seed);
    /* Data parallel: each rank takes its rows of every batch. The batch's loss
     * is the mean over all its masked tokens, so a rank's mean weighs by its
     * share of them and the head's gradients are summed over the ranks. */
    int64_t lo, hi;
    comm_shard_rows(batch, 1, &lo, &hi);
    int rc = 0;
    for (int e = 0; e < epochs && rc == 0; e++) {
        memcpy(order, items, (size_t)n * sizeof *order);
        Rng r = rng_make(seed, STREAM_HEAD_SHUFFLE + (uint64_t)e);
        rng_shuffle_i64(&r, order, n);
        double sum = 0;
        for (int64_t it = 0; it < iters && rc == 0; it++) {
            TaskBatch bt;
            int32_t *labels;
            MlmOutput out = {0};
            if (hi > lo) {
                if (masked_batch(t, TASK_SPLIT_TRAIN, order + it * batch + lo, (int)(hi - lo), mask_prob, sp,
                                 h->vocab, seed, STREAM_HEAD_MASK + (uint64_t)e, &labels, &bt) < 0) {
                    rc = -1;
                    break;
                }
                mlm_head_loss(h, t->word_embeddings(t, m), t->text_states(t, m, &bt), labels, &out);
            }
            float value = 0.0f;
            if (out.loss) tensor_copy_to_host(out.loss, &value); /* any device */
            double tokens[2] = {(double)out.n_labelled, (double)out.n_labelled * value};
            comm_allreduce_f64(tokens, 2, COMM_SUM);
            if (tokens[0] > 0) {
                sum += tokens[1] / tokens[0];
                if (out.loss)
                    autograd_backward(out.n_labelled == (int64_t)tokens[0]
                                          ? out.loss
                                          : op_scale(out.loss, (float)((double)out.n_labelled / tokens[0])));
                comm_allreduce_f32(h->params.device, h->params.grads, h->params.total, COMM_SUM);
                adamw_step(&opt, (float)lr);
                params_zero_grad(&h->params);
            }
            autograd_step_end();
        }
        double mean = sum / (double)iters;
        if (e == 0) *first_loss = mean;
        *last_loss = mean;
        log_info("MLM head epoch %d: mean loss %.4f", e, mean);
    }
    autograd_step_end();
    params_set_trainable_all(&h->params, 0);
    for (int k = 0; k < ps->count; k++) ps->items[k]->requires_grad = flags[k];
    adamw_free(&opt);
    free(flags);
    free(order);
    return rc;
}

int ul_unlearn(const Task *t, TaskModel *m, const MlmHead *h, const int64_t *df, int64_t n_df, const UlRun *run,
               UlStats *stats) {
    memset(stats, 0, sizeof *stats);
    int B = run->batch_size;
    double ma, nll;
    if (ul_mlm_score(t, m, h, TASK_SPLIT_TRAIN, df, n_df, B, run->mask_prob, run->special, run->seed, &ma, &nll) < 0)
        return -1;
    stats->first_ma = stats->last_ma = ma;
    stats->first_nll = stats->last_nll = nll;
    AdamW opt; /* S8: Adam(0.9, 0.98), no weight decay */
    adamw_init(&opt, m->params, 0.9f, 0.98f, 1e-8f, 0.0f);
    double t0 = clock_seconds();
    int rc = 0;
    for (int e = 0; e < run->max_epochs && rc == 0; e++) {
        /* One update over the whole Df: each minibatch's mean loss weighted by
         * its share of the masked tokens, negated (ascent), accumulated. The
         * share needs the epoch's total first, which counts the masks batch by
         * batch as the loop below draws them. */
        params_zero_grad(m->params);
        uint64_t stream = STREAM_TRAIN_MASK + (uint64_t)e;
        int64_t total = count_masked(t, df, n_df, B, run->mask_prob, run->special, h->vocab, run->seed, stream);
        if (total < 0) rc = -1;
        else if (total == 0) rc = error_set("UL epoch %d: no Df token was masked", e);
        int64_t lo = 0, hi = 0;
        comm_shard_rows(n_df, B, &lo, &hi);
        for (int64_t k = lo; k < hi && rc == 0; k += B) {
            int b = (int)(n_df - k < B ? n_df - k : B);
            TaskBatch bt;
            int32_t *labels;
            t->model_set_mode(t, m, 1, philox_u32(run->seed, STREAM_DROPOUT, (uint64_t)(e * n_df + k)) ^ run->seed);
            if (masked_batch(t, TASK_SPLIT_TRAIN, df + k, b, run->mask_prob, run->special, h->vocab, run->seed, stream,
                             &labels, &bt) < 0) {
                rc = -1;
                break;
            }
            MlmOutput out;
            mlm_head_loss(h, t->word_embeddings(t, m), t->text_states(t, m, &bt), labels, &out);
            if (out.loss && out.loss->requires_grad)
                autograd_backward(op_scale(out.loss, -(float)out.n_labelled / (float)total));
            autograd_step_end();
        }
        if (rc < 0) break;
        /* The ranks' minibatches together are Df: their gradients add up to the update's. */
        comm_allreduce_f32(m->params->device, m->params->grads, m->params->total, COMM_SUM);
        adamw_step(&opt, (float)run->lr);
        params_zero_grad(m->params);
        stats->epochs++;
        if (ul_mlm_score(t, m, h, TASK_SPLIT_TRAIN, df, n_df, B, run->mask_prob, run->special, run->seed, &ma, &nll) <
            0) {
            rc = -1;
            break;
        }
        if (!isfinite(nll)) {
            rc = error_set("UL epoch %d: Df MLM NLL is %g", e, nll);
            break;
        }
        stats->last_ma = ma;
        stats->last_nll = nll;
        log_info("UL update %d: Df masked-token accuracy %.4f (stop at %.4f), NLL %.4f", e + 1, ma,
                 run->stop_accuracy, nll);
        if (run->stop_accuracy >= 0 && ma <= run->stop_accuracy) {
            stats->stopped = 1;
            break;
        }
    }
    /* The stopping checks are part of UL's loop (S8 evaluates after every epoch). */
    stats->seconds = clock_seconds() - t0;
    t->model_set_mode(t, m, 0, run->seed);
    autograd_step_end();
    adamw_free(&opt);
    return rc;
}
