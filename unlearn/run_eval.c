#include "unlearn/run_eval.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "eval/retrieval_eval.h"

void run_evaluation_init(RunEvaluation *e, const RunContext *ctx, const char *method) {
    memset(e, 0, sizeof *e);
    int64_t n = ctx->train.split.n_texts;
    e->pair_keys = malloc((size_t)n * sizeof *e->pair_keys);
    e->pair_texts = malloc((size_t)n * sizeof *e->pair_texts);
    CHECK(e->pair_keys && e->pair_texts, "out of memory");
    for (int64_t t = 0; t < n; t++) {
        e->pair_keys[t] = retrieval_set_pair_key(&ctx->train, t);
        e->pair_texts[t] = ctx->train.split.texts[t];
    }
    run_report_init(&e->report, method, e->pair_keys, e->pair_texts);
    e->report.config = ctx->config;
}

void run_evaluation_free(RunEvaluation *e) {
    for (int k = 0; k < e->n; k++) forget_metrics_free(&e->forget[k]);
    free(e->pair_keys);
    free(e->pair_texts);
    memset(e, 0, sizeof *e);
}

int run_evaluation_add(RunEvaluation *e, RunContext *ctx, Albef *m, const char *name, double time_seconds) {
    CHECK(e->n < REPORT_MAX_MODELS, "too many models in one report");
    log_info("evaluating %s", name);
    RetrievalEvalOptions o = retrieval_eval_defaults();
    o.k_test = ctx->recipe.k_test;
    o.image_batch = o.text_batch = o.pair_batch = ctx->recipe.batch_eval;
    RetrievalEvalResult dt;
    if (retrieval_eval_run(m, &ctx->test, &o, &dt) < 0) return error_prefix("evaluating %s on the test split", name);
    ForgetMetrics *fm = &e->forget[e->n];
    if (forget_metrics_compute(m, &ctx->train, &ctx->eval_sets, &ctx->test, (uint64_t)ctx->flags.seed,
                               ctx->recipe.batch_eval, 1, fm) < 0) {
        retrieval_eval_result_free(&dt);
        return error_prefix("evaluating %s on Df", name);
    }
    e->n++;
    ModelResult *row = run_report_add(&e->report, name);
    model_result_set_dt(row, &dt);
    model_result_set_forget(row, fm);
    row->time_seconds = time_seconds;
    if (e->n == 1) run_report_set_pairs(&e->report, fm);
    log_info("%s: Dt R mean %.2f (TR %.2f, IR %.2f); Df %.2f; Df vs unseen %.2f", name, dt.recall.r_mean,
             dt.recall.tr_mean, dt.recall.ir_mean, fm->df_reported, fm->df_vs_unseen);
    retrieval_eval_result_free(&dt);
    return 0;
}

int run_evaluation_finish(RunEvaluation *e, const RunContext *ctx) {
    if (run_report_write(&e->report, ctx->run_dir) < 0) return -1;
    printf("\n");
    run_report_print_summary(&e->report, stdout);
    printf("\nrun directory: %s (metrics.json, report.md, scores_df.csv, scores_dr.csv, train.log)\n", ctx->run_dir);
    return 0;
}
