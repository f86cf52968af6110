#include "unlearn/multidelete_loop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "core/error.h"
#include "core/log.h"
#include "core/safetensors.h"
#include "core/xalloc.h"
#include "unlearn/loop_checkpoint.h"

#define STREAM_DF_ORDER 0x6d6464666f726400ULL
#define STREAM_DR_ORDER 0x6d646472666f7200ULL
#define STREAM_DROPOUT 0x6d6464726f706f00ULL
#define STREAM_PERMUTE 0x6d647065726d7500ULL

/* A scalar loss term's value, read back from any device (0 when absent). */
static double term_value(const Tensor *t) {
    if (!t) return 0.0;
    float v;
    tensor_copy_to_host(t, &v);
    return v;
}

typedef struct {
    const Task *task;
    TaskModel *unlearned, *original;
    const MultiDeleteRun *run;
    MultiDeleteStats *stats;
    int32_t *perm;
    double md, mkr, ukr; /* sums over the current epoch */
} MultiDeleteCtx;

static Tensor *multidelete_step_loss(void *ctx, LoopStep *s, double *value) {
    MultiDeleteCtx *c = ctx;
    /* Over the global Df batch: L_MD re-pairs across all ranks' items (models/task_retrieval.c). */
    multidelete_random_permutation(c->run->seed ^ STREAM_PERMUTE, (uint64_t)s->step, s->global_batch, c->perm);
    MultiDeleteTerms terms;
    Tensor *loss = multidelete_loss(c->task, c->unlearned, c->original, &s->batch, &s->side, c->perm, &c->run->loss,
                                    &terms);
    *value = (float)term_value(loss);
    /* L_MD is the global batch's on every rank, L_MKR and L_UKR this rank's shard's: the means over ranks are the global values. */
    double t3[3] = {term_value(terms.md), term_value(terms.mkr), term_value(terms.ukr)};
    comm_allreduce_f64(t3, 3, COMM_MEAN);
    c->md += t3[0];
    c->mkr += t3[1];
    c->ukr += t3[2];
    return loss;
}

static int multidelete_epoch_end(void *ctx, int epoch, double mean) {
    (void)mean;
    MultiDeleteCtx *c = ctx;
    MultiDeleteStats *st = c->stats;
    double iters = (double)(c->stats->steps_per_epoch);
    double md = c->md / iters, mkr = c->mkr / iters, ukr = c->ukr / iters;
    c->md = c->mkr = c->ukr = 0;
    if (epoch == 0) {
        st->first_md = md;
        st->first_mkr = mkr;
        st->first_ukr = ukr;
    }
    st->last_md = md;
    st->last_mkr = mkr;
    st->last_ukr = ukr;
    log_info("unlearn epoch %d: L_MD %.5f  L_MKR %.5f  L_UKR %.5f", epoch, md, mkr, ukr);
    if (c->run->trace && c->run->trace(c->run->trace_ctx, epoch, c->unlearned) < 0) return -1;
    /* Scoring is not unlearning time (§6.5): the skeleton keeps it apart. */
    return c->run->select ? model_selection_after_epoch(c->run->select, epoch, c->unlearned) : 0;
}

/* The loop's own state across epochs (LoopHooks.state_save): the first and
 * last epochs' mean terms and, with selection, the selector's candidates and
 * kept parameters, so that a resumed run reports and selects as an
 * uninterrupted one. */
enum { TERMS = 6 };

static int multidelete_state_save(void *ctx, const char *path) {
    const MultiDeleteCtx *c = ctx;
    const MultiDeleteStats *st = c->stats;
    const double terms[TERMS] = {st->first_md, st->first_mkr, st->first_ukr, st->last_md, st->last_mkr, st->last_ukr};
    LoopStateFile f = {0};
    loop_state_add_doubles(&f, "multidelete.terms", terms, TERMS);
    if (c->run->select) model_selection_state_add(c->run->select, &f);
    return loop_state_write(&f, path);
}

static int multidelete_state_load(void *ctx, const char *path) {
    MultiDeleteCtx *c = ctx;
    SafetensorsFile f;
    if (safetensors_open(&f, path) < 0) return -1;
    double terms[TERMS];
    int rc = loop_state_read_doubles(&f, "multidelete.terms", terms, TERMS);
    if (rc == 0 && c->run->select) rc = model_selection_state_read(c->run->select, &f, c->unlearned);
    safetensors_close(&f);
    if (rc < 0) return -1;
    MultiDeleteStats *st = c->stats;
    st->first_md = terms[0], st->first_mkr = terms[1], st->first_ukr = terms[2];
    st->last_md = terms[3], st->last_mkr = terms[4], st->last_ukr = terms[5];
    return 0;
}

int multidelete_unlearn(const Task *t, TaskModel *unlearned, TaskModel *original, const int64_t *df, int64_t n_df,
                        const int64_t *dr, int64_t n_dr, const MultiDeleteRun *run, MultiDeleteStats *stats) {
    memset(stats, 0, sizeof *stats);
    if (comm_size() > 1 && t->kind != TASK_RETRIEVAL)
        return error_set("MultiDelete on %s runs on one rank: its L_MD re-pairs sentences across the whole batch, "
                         "which the data-parallel path builds for retrieval only",
                         t->name);
    int b = run->batch_df;
    stats->steps_per_epoch = b > 0 ? n_df / b : 0;
    MultiDeleteCtx ctx = {.task = t, .unlearned = unlearned, .original = original, .run = run, .stats = stats,
                          .perm = xmalloc((size_t)(b > 0 ? b : 1) * sizeof(int32_t))};
    LoopConfig c = {
        .name = "unlearn", .task = t, .model = unlearned, .items = df, .n_items = n_df, .side_items = dr,
        .n_side = n_dr, .epochs = run->epochs, .batch = b, .augment = run->augment, .seed = run->seed,
        .stream_shuffle = STREAM_DF_ORDER, .stream_side = STREAM_DR_ORDER, .stream_dropout = STREAM_DROPOUT,
        .lr = run->lr, .min_lr = run->min_lr, .warmup_lr = run->lr,
        .hooks = {.loss = multidelete_step_loss, .epoch_end = multidelete_epoch_end,
                  .state_save = multidelete_state_save, .state_load = multidelete_state_load, .ctx = &ctx},
        .end_on_divergence = run->select != NULL,
    };
    loop_use_lavis_adamw(&c, 0.02); /* the training recipe's weight decay (spec §5.3) */
    t->model_set_mode(t, original, 0, run->seed);
    LoopStats st = {0};
    int rc = run->trace ? run->trace(run->trace_ctx, -1, unlearned) : 0;
    if (rc == 0) rc = loop_run(&c, &st);
    stats->steps = st.steps;
    stats->seconds = st.seconds;
    stats->select_seconds = st.hook_seconds;
    stats->selected_epoch = run->epochs - 1;
    stats->diverged = st.diverged;
    snprintf(stats->diverged_at, sizeof stats->diverged_at, "%s", st.diverged_at);
    if (rc == 0 && run->select) {
        int best = model_selection_restore(run->select, unlearned);
        if (best >= 0) stats->selected_epoch = best;
        else if (st.diverged)
            rc = error_set("%s; model selection holds no earlier epoch: no usable model", st.diverged_at);
        if (rc == 0 && st.diverged)
            log_warn("model selection keeps epoch %d; the diverged epoch is no candidate", best + 1);
    }
    free(ctx.perm);
    return rc;
}
