/* bin/unlearn_multidelete: MultiDelete (paper §2; spec/unlearning_methods.md
 * §5). From the original model θ0, minimises λ1·L_MD + λ2·L_MKR + λ3·L_UKR
 * over batches of half Df, half Dr, then evaluates θ0 and the unlearned θ
 * side by side. With no arguments it runs the embedded default: the synthetic
 * image-text world (written when absent), the tiny ALBEF (trained once and
 * cached), a deletion of 60 images (300 pairs).
 *
 * Model selection (spec §5.3 item 5, unlearn/model_selection.h) is on by
 * default: from the 3rd epoch on, the epoch maximising (validation Dt +
 * AUC_code on Df vs a held-out Dr subset)/2 is kept; --no-select-epoch keeps
 * the last epoch. The rule, the candidates and the selected epoch go into
 * metrics.json ("method_details") and report.md. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/params.h"
#include "core/error.h"
#include "core/log.h"
#include "eval/forget_metrics.h"
#include "models/task_retrieval.h"
#include "programs/run_program.h"
#include "unlearn/multidelete_loop.h"

/* --trace-similarity, where L_MD's decrease goes: the mean ITC cosine of the
 * Df pairs with their own captions, the off-diagonal mean over Df (the
 * entries L_MD matches to θ0's re-paired targets besides the diagonal, spec
 * §5.2), and the same two for the first Dr evaluation subset, before the
 * first step and after every epoch. Df's forgetting shows as Df own falling
 * below Dr own; a common fall of both, or a change only off the diagonal,
 * lowers L_MD without it. */
typedef struct {
    RunContext *ctx;
    cJSON *rows;
} SimilarityTrace;

static int trace_similarity(void *p, int epoch, TaskModel *m) {
    SimilarityTrace *tr = p;
    RunContext *ctx = tr->ctx;
    const int64_t n = ctx->eval_sets.n_df;
    const int batch = ctx->recipe.batch_eval;
    double df_own, df_off, dr_own, dr_off;
    if (forget_pair_similarity(task_albef(m), &ctx->train, ctx->eval_sets.df, n, batch, &df_own, &df_off) < 0 ||
        forget_pair_similarity(task_albef(m), &ctx->train, ctx->eval_sets.dr_subsets, n, batch, &dr_own, &dr_off) < 0)
        return error_prefix("similarity trace after epoch %d", epoch + 1);
    log_info("similarity trace, %s %d: Df own %.4f, Df off-diagonal %.4f, Dr own %.4f, Dr off-diagonal %.4f "
             "(Df own - Dr own %+.4f)", epoch < 0 ? "before epoch" : "after epoch", epoch < 0 ? 1 : epoch + 1, df_own,
             df_off, dr_own, dr_off, df_own - dr_own);
    cJSON *row = cJSON_CreateObject();
    cJSON_AddNumberToObject(row, "after_epoch", epoch + 1); /* 0: before unlearning */
    cJSON_AddNumberToObject(row, "df_own", df_own);
    cJSON_AddNumberToObject(row, "df_off_diagonal", df_off);
    cJSON_AddNumberToObject(row, "dr_own", dr_own);
    cJSON_AddNumberToObject(row, "dr_off_diagonal", dr_off);
    cJSON_AddItemToArray(tr->rows, row);
    return 0;
}

int main(int argc, char **argv) {
    RunContext ctx = {0};
    double lambda_md, lambda_mkr, lambda_ukr;
    int use_md, use_mkr, use_ukr, select_epoch, select_from, batch_df, trace;
    CliFlag own[] = {
        CLI_FLAG_FLOAT("lambda-md", &lambda_md, "1", "weight of L_MD, modality decoupling on Df (spec §5.1)"),
        CLI_FLAG_FLOAT("lambda-mkr", &lambda_mkr, "1", "weight of L_MKR, multimodal knowledge retention on Dr"),
        CLI_FLAG_FLOAT("lambda-ukr", &lambda_ukr, "1", "weight of L_UKR, unimodal knowledge retention on Df"),
        CLI_FLAG_BOOL("md", &use_md, "true", "keep L_MD (--no-md: the ablation without it, paper Table 4)"),
        CLI_FLAG_BOOL("mkr", &use_mkr, "true", "keep L_MKR (--no-mkr: ablation)"),
        CLI_FLAG_BOOL("ukr", &use_ukr, "true", "keep L_UKR (--no-ukr: ablation)"),
        CLI_FLAG_BOOL("ukr-text", &ctx.flags.ukr_text, "false",
                      "snli_ve/nlvr2: L_UKR also keeps the text-mode [CLS] (the paper's [u_I; u_T]); off by default, "
                      "as the released code keeps the image tokens only (spec/unlearning_methods.md §5.2)"),
        CLI_FLAG_INT("batch-df", &batch_df, "0",
                     "Df pairs per step, the Dr half as many, >= 1 (left out: the recipe's unlearn_batch_df)"),
        CLI_FLAG_BOOL("trace-similarity", &trace, "false",
                      "log the Df and Dr pairs' own and off-diagonal ITC cosines before and after every epoch "
                      "(where L_MD's decrease goes; metrics.json method_details.similarity_trace)"),
        CLI_FLAG_BOOL("select-epoch", &select_epoch, "true",
                      "model selection (spec §5.3 item 5): keep the epoch maximising (validation Dt + AUC of Df vs a "
                      "held-out Dr subset)/2 (--no-select-epoch: keep the last epoch)"),
        CLI_FLAG_INT("select-from", &select_from, "3",
                     "first epoch (1-based, >= 1) the model selection considers"),
    };
    const RunKnob knobs[] = {RUN_KNOB_DOUBLE("lr", unlearn_lr), RUN_KNOB_INT("epochs", unlearn_epochs),
                             RUN_KNOB_INT("batch-df", unlearn_batch_df)};
    run_program_start(&ctx, "unlearn_multidelete",
                      "MultiDelete: makes a trained ALBEF forget the image-text pairs of a deletion list while "
                      "keeping its multimodal and unimodal knowledge, then reports Dt, Df, MI and time.",
                      own, CLI_COUNT(own), knobs, CLI_COUNT(knobs), argc, argv);
    if (select_from < 1) fatal("--select-from %d: must be >= 1 (epochs are counted from 1)", select_from);
    const int retrieval = ctx.task.kind == TASK_RETRIEVAL;
    if (trace && !retrieval) /* the trace reads ALBEF's ITC features */
        fatal("--trace-similarity: the pairs' ITC cosines exist for retrieval only, not --task %s", ctx.flags.task);
    if (trace && ctx.flags.resume)
        fatal("--trace-similarity with --resume: the trace of the epochs before the interruption was not kept; run "
              "without --resume to trace every epoch");
    TaskModel original, unlearned;
    run_program_models(&ctx, &original, &unlearned);
    params_freeze(original.params); /* the frozen θ0 runs only without a tape (§5) */
    params_freeze_to_product_type(original.params); /* bf16 weights under --precision bf16 on a device */
    if (original.params->product_values)
        log_info("frozen original: its Linear weights kept in bf16 only, the products' type (%lld values stay f32)",
                 (long long)original.params->total);

    MultiDeleteRun run = {
        .lr = ctx.recipe.unlearn_lr,
        .min_lr = ctx.recipe.min_lr,
        .epochs = ctx.recipe.unlearn_epochs,
        .batch_df = ctx.recipe.unlearn_batch_df,
        .augment = ctx.recipe.augment,
        .seed = (uint64_t)ctx.flags.seed,
        .loss = multidelete_default_options(),
    };
    run.loss.lambda_md = (float)lambda_md;
    run.loss.lambda_mkr = (float)lambda_mkr;
    run.loss.lambda_ukr = (float)lambda_ukr;
    run.loss.use_md = use_md;
    run.loss.use_mkr = use_mkr;
    run.loss.use_ukr = use_ukr;
    log_info("unlearning %lld Df pairs (%lld images) against %lld Dr pairs: %d epochs, lr %g",
             (long long)ctx.split.n_df, (long long)ctx.split.n_units, (long long)ctx.split.n_dr, run.epochs, run.lr);
    ValidationScorer scorer = {0};
    ModelSelection selection;
    model_selection_init(&selection, select_from - 1, validation_scorer_score, &scorer);
    selection.dt_accuracy = !retrieval;
    /* Without the data selection needs (no validation split, no Dr pair outside the
     * reported subsets) the run goes on with the last epoch, saying so in the log and the report. */
    char select_skipped[700] = "";
    if (!select_epoch) {
        snprintf(select_skipped, sizeof select_skipped, "off (--no-select-epoch): the last epoch is kept");
    } else if ((retrieval ? validation_scorer_init(&scorer, &ctx.val, &ctx.train, &ctx.split, &ctx.eval_sets,
                                                   (uint64_t)ctx.flags.seed, ctx.recipe.k_test, ctx.recipe.batch_eval)
                          : validation_scorer_init_task(&scorer, &ctx.task, &ctx.split, &ctx.eval_sets,
                                                        (uint64_t)ctx.flags.seed, ctx.recipe.batch_eval)) < 0) {
        snprintf(select_skipped, sizeof select_skipped, "skipped (%s); the last epoch is kept", error_message());
        log_warn("model selection %s", select_skipped);
    } else {
        run.select = &selection;
        log_info("model selection from epoch %d: validation Dt on %lld %s, AUC of %lld Df %s vs %lld held-out Dr %s",
                 select_from, (long long)(retrieval ? ctx.val.split.n_images : ctx.task.n_items[TASK_SPLIT_VAL]),
                 retrieval ? "images" : "items", (long long)scorer.n_df, retrieval ? "pairs" : "items",
                 (long long)scorer.n_heldout, retrieval ? "pairs" : "items");
    }
    SimilarityTrace tr = {&ctx, cJSON_CreateArray()};
    if (trace) {
        run.trace = trace_similarity;
        run.trace_ctx = &tr;
    }
    MultiDeleteStats stats;
    error_exit_if(multidelete_unlearn(&ctx.task, &unlearned, &original, ctx.split.df, ctx.split.n_df, ctx.split.dr,
                                      ctx.split.n_dr, &run, &stats));
    log_info("unlearned in %.1f s (%lld steps); L_MD %.5f -> %.5f, L_MKR %.5f -> %.5f, L_UKR %.5f -> %.5f",
             stats.seconds, (long long)stats.steps, stats.first_md, stats.last_md, stats.first_mkr, stats.last_mkr,
             stats.first_ukr, stats.last_ukr);
    if (run.select) {
        ctx.method_details = cJSON_CreateObject();
        cJSON_AddItemToObject(ctx.method_details, "model_selection", model_selection_to_json(&selection, run.epochs));
        ctx.method_notes = model_selection_to_markdown(&selection, run.epochs);
        int best = model_selection_best_epoch(&selection);
        if (best >= 0)
            snprintf(ctx.method_summary, sizeof ctx.method_summary,
                     "model selection: epoch %d of %d kept, the highest (validation Dt + AUC code)/2 from epoch %d on "
                     "(%.2f; %.1f s of scoring; report.md lists every candidate)",
                     best + 1, run.epochs, select_from, selection.scores[selection.best].score,
                     stats.select_seconds);
        else
            snprintf(ctx.method_summary, sizeof ctx.method_summary,
                     "model selection: no epoch from %d on among %d; the last epoch is kept", select_from,
                     run.epochs);
        log_info("%s", ctx.method_summary);
    } else {
        ctx.method_details = cJSON_CreateObject();
        cJSON *o = cJSON_AddObjectToObject(ctx.method_details, "model_selection");
        cJSON_AddStringToObject(o, "rule", select_skipped);
        cJSON_AddNumberToObject(o, "selected_epoch", run.epochs);
        snprintf(ctx.method_summary, sizeof ctx.method_summary, "model selection %s", select_skipped);
        size_t n = strlen(ctx.method_summary) + 48;
        ctx.method_notes = malloc(n);
        CHECK(ctx.method_notes != NULL, "out of memory");
        snprintf(ctx.method_notes, n, "Model selection (spec §5.3 item 5): %s.\n", select_skipped);
    }
    if (trace) cJSON_AddItemToObject(ctx.method_details, "similarity_trace", tr.rows);
    else cJSON_Delete(tr.rows);

    run_program_finish(&ctx, "multidelete", &original, &unlearned, stats.seconds);
    model_selection_free(&selection);
    validation_scorer_free(&scorer);
    ctx.task.model_free(&ctx.task, &unlearned);
    ctx.task.model_free(&ctx.task, &original);
    run_free(&ctx);
    return 0;
}
