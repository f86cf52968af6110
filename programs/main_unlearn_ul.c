/* bin/unlearn_ul: UL, knowledge unlearning (spec/unlearning_methods.md §4.8;
 * unlearn/ul.h): from the original model θ0, gradient ascent on the masked-LM
 * likelihood of the Df texts (captions, hypotheses, statements; conditioned
 * on their images), one full-Df update per epoch, until the Df masked-token
 * accuracy falls to the original model's on unseen (test) texts (UL's MA
 * criterion) or --epochs updates;
 * the text side changes (UL) or only the fusion layers (--fusion-only: UL-F).
 * The MLM head: --mlm-head (the pre-training checkpoint's
 * text_encoder.cls.predictions.*), else trained on D with the model frozen and
 * cached next to the original model. Then the common evaluation. */
#include <stdio.h>
#include <stdlib.h>

#include "core/comm.h"
#include "core/device.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/xalloc.h"
#include "programs/run_program.h"
#include "unlearn/ul.h"

/* FNV-1a over the original's values and the head's training settings (the
 * values read on the host: a model on a device is copied down first, so both
 * devices name the same cache file). */
static uint64_t head_cache_key(const TaskModel *m, int epochs, double lr, float prob, uint64_t seed) {
    const ParamSet *ps = m->params;
    size_t bytes = (size_t)ps->total * sizeof(float);
    float *host = ps->values;
    if (ps->device != DEVICE_CPU) {
        host = xmalloc(bytes);
        device_copy(host, DEVICE_CPU, ps->values, ps->device, bytes);
    }
    uint64_t h = fnv1a_bytes(FNV1A_INIT, host, bytes);
    if (host != ps->values) free(host);
    double fields[4] = {epochs, lr, prob, (double)seed};
    return fnv1a_bytes(h, fields, sizeof fields);
}

/* Loads the head on the host, then moves it to the run's device. */
static int load_head(const RunContext *ctx, MlmHead *head, const char *path) {
    if (mlm_head_load(head, path) < 0) return -1;
    if (ctx->device != DEVICE_CPU) mlm_head_to_device(head, ctx->device);
    return 0;
}

/* The head from the cache entry `path`, or trained on all of D and cached there. */
static int head_from_cache_or_training(RunContext *ctx, TaskModel *original, MlmHead *head, const char *path,
                                       int epochs, double lr, float prob, MlmSpecial sp) {
    if (file_exists(path)) {
        log_info("MLM head: cached %s", path);
        return load_head(ctx, head, path);
    }
    if (ctx->device != DEVICE_CPU) mlm_head_to_device(head, ctx->device);
    const Task *t = &ctx->task;
    int64_t n = t->n_items[TASK_SPLIT_TRAIN];
    int64_t *all = malloc((size_t)n * sizeof *all);
    CHECK(all != NULL, "out of memory");
    for (int64_t k = 0; k < n; k++) all[k] = k;
    log_info("MLM head: the model has none; training it on all %lld items of D for %d epoch(s), model frozen "
             "(cached as %s)", (long long)n, epochs, path);
    double first, last;
    int rc = ul_train_mlm_head(t, original, head, all, n, epochs, lr, ctx->recipe.batch_size, prob, sp,
                               (uint64_t)ctx->flags.seed, &first, &last);
    free(all);
    if (rc < 0) return error_prefix("training the MLM head");
    log_info("MLM head trained: loss %.4f -> %.4f", first, last);
    if (!comm_is_root()) return 0; /* the ranks trained the same head: rank 0 caches it */
    return mlm_head_save(head, path);
}

static int prepare_head(RunContext *ctx, TaskModel *original, MlmHead *head, const char *path_flag, int epochs,
                        double lr, float prob, MlmSpecial sp) {
    mlm_head_init(head, &ctx->cfg, (uint64_t)ctx->flags.seed);
    if (path_flag) {
        log_info("MLM head: %s", path_flag);
        return load_head(ctx, head, path_flag);
    }
    char path[1100];
    snprintf(path, sizeof path, "%s/mlm-head-%s-%016llx.safetensors", RUN_CACHE_DIR, ctx->cfg.name,
             (unsigned long long)head_cache_key(original, epochs, lr, prob, (uint64_t)ctx->flags.seed));
    /* Locked like the original's and Retrain's entries: concurrent runs train the head once. */
    int lock;
    if (make_dirs(RUN_CACHE_DIR) < 0 || run_lock_cache_entry(path, &lock) < 0) return -1;
    int rc = head_from_cache_or_training(ctx, original, head, path, epochs, lr, prob, sp);
    file_unlock(lock);
    return rc;
}

int main(int argc, char **argv) {
    RunContext ctx = {0};
    const char *head_path;
    int head_epochs;
    double mask_prob, stop_accuracy;
    CliFlag own[] = {
        CLI_FLAG_STRING("mlm-head", &head_path, NULL,
                        "safetensors with text_encoder.cls.predictions.{transform.dense,transform.LayerNorm,bias} "
                        "(ALBEF's pre-training checkpoint has them; LAVIS's retrieval model has none); default: "
                        "train the head on D with the model frozen, decoder tied to the word embeddings, and cache it"),
        CLI_FLAG_INT("mlm-head-epochs", &head_epochs, "-1", "epochs of that head training (-1: the recipe's)"),
        CLI_FLAG_FLOAT("mask-prob", &mask_prob, "-1", "MLM masking probability (-1: the recipe's 0.15, ALBEF's)"),
        CLI_FLAG_FLOAT("stop-accuracy", &stop_accuracy, "-1",
                       "stop once the Df masked-token accuracy (UL's MA; EL_10 needs generation and is not used) is "
                       "<= this; -1: the original model's on unseen test texts (UL's rule); 0: run all --epochs"),
    };
    const RunKnob knobs[] = {RUN_KNOB_DOUBLE("lr", ul_lr), RUN_KNOB_INT("epochs", ul_max_epochs)};
    run_program_start(&ctx, "unlearn_ul",
                    "UL (knowledge unlearning): gradient ascent on the masked-LM likelihood of the Df texts "
                    "(image-conditioned, ALBEF's MLM), Adam(0.9, 0.98) without weight decay, one full-Df update "
                    "per epoch up to --epochs (recipe: 20), stopped by UL's memorisation-accuracy rule; only the "
                    "text side changes (the image encoder is frozen: UL is a text-only method), only the fusion "
                    "layers with --fusion-only (UL-F). Reports Dt, Df and time.",
                      own, CLI_COUNT(own), knobs, CLI_COUNT(knobs), argc, argv);
    if (ctx.flags.resume) /* its loops are its own, not the checkpointed skeleton's (unlearn/loop.h) */
        log_warn("--resume: UL keeps no epoch checkpoints; its MLM head and ascent run again from the start (the "
                 "same results: every draw is seeded)");
    TokenizerSpecial ts = tokenizer_special(ctx.tok);
    if (ts.mask < 0) fatal("UL needs a [MASK] token for its MLM loss, and %s/vocab.txt has none", ctx.data_dir);
    MlmSpecial sp = {.mask = ts.mask, .cls = ts.cls, .sep = ts.sep, .pad = ts.pad};
    if (head_epochs < 0) head_epochs = ctx.recipe.mlm_head_epochs;
    if (mask_prob < 0) mask_prob = ctx.recipe.ul_mask_prob;

    const Task *t = &ctx.task;
    TaskModel original, unlearned;
    error_exit_if(run_original_model(&ctx, &original));
    MlmHead head;
    error_exit_if(prepare_head(&ctx, &original, &head, head_path, head_epochs, ctx.recipe.mlm_head_lr,
                               (float)mask_prob, sp));
    UlRun run = {
        .lr = ctx.recipe.ul_lr,
        .max_epochs = ctx.recipe.ul_max_epochs,
        .batch_size = ctx.recipe.batch_size,
        .mask_prob = (float)mask_prob,
        .stop_accuracy = stop_accuracy,
        .special = sp,
        .seed = (uint64_t)ctx.flags.seed,
    };
    double unseen_ma = -1, unseen_nll = -1;
    int64_t n_test = t->n_items[TASK_SPLIT_TEST];
    int64_t *test_items = malloc((size_t)(n_test > 0 ? n_test : 1) * sizeof *test_items);
    CHECK(test_items != NULL, "out of memory");
    for (int64_t k = 0; k < n_test; k++) test_items[k] = k;
    error_exit_if(ul_mlm_score(t, &original, &head, TASK_SPLIT_TEST, test_items, n_test, ctx.recipe.batch_eval,
                               run.mask_prob, sp, run.seed, &unseen_ma, &unseen_nll));
    free(test_items);
    if (stop_accuracy < 0) run.stop_accuracy = unseen_ma;
    if (stop_accuracy == 0) run.stop_accuracy = -1;
    log_info("original model on unseen test texts: masked-token accuracy %.4f, NLL %.4f", unseen_ma, unseen_nll);

    error_exit_if(t->model_init(t, &unlearned, (uint64_t)ctx.flags.seed));
    run_model_to_device(&ctx, &unlearned);
    task_model_copy(&unlearned, &original);
    int trainable = ul_set_trainable(t, &unlearned, ctx.flags.fusion_only);
    log_info("UL%s: %d trainable tensors (%s); ascent on %lld Df texts, <= %d updates at lr %g, stop at MA <= %.4f",
             ctx.flags.fusion_only ? "-F" : "", trainable,
             ctx.flags.fusion_only ? "fusion layers" : "text encoder and fusion layers", (long long)ctx.split.n_df,
             run.max_epochs, run.lr, run.stop_accuracy);
    UlStats stats;
    error_exit_if(ul_unlearn(t, &unlearned, &head, ctx.split.df, ctx.split.n_df, &run, &stats));
    log_info("UL: %d update(s) in %.1f s (%s); Df masked-token accuracy %.4f -> %.4f, NLL %.4f -> %.4f", stats.epochs,
             stats.seconds, stats.stopped ? "stopped by the MA rule" : "update budget spent", stats.first_ma,
             stats.last_ma, stats.first_nll, stats.last_nll);
    cJSON *ul = cJSON_AddObjectToObject(ctx.config, "ul");
    cJSON_AddNumberToObject(ul, "unseen_masked_accuracy", unseen_ma);
    cJSON_AddNumberToObject(ul, "stop_accuracy", run.stop_accuracy);
    cJSON_AddNumberToObject(ul, "updates", stats.epochs);
    cJSON_AddBoolToObject(ul, "stopped_by_rule", stats.stopped);
    cJSON_AddNumberToObject(ul, "df_masked_accuracy_before", stats.first_ma);
    cJSON_AddNumberToObject(ul, "df_masked_accuracy_after", stats.last_ma);
    cJSON_AddNumberToObject(ul, "df_nll_before", stats.first_nll);
    cJSON_AddNumberToObject(ul, "df_nll_after", stats.last_nll);
    run_program_finish(&ctx, "ul", &original, &unlearned, stats.seconds);
    mlm_head_free(&head);
    t->model_free(t, &unlearned);
    t->model_free(t, &original);
    run_free(&ctx);
    return 0;
}
