#include "programs/run_driver.h"

#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/device.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/log.h"
#include "core/xalloc.h"
#include "data/synth_image_text.h"
#include "models/task_retrieval.h"
#include "unlearn/train_loop.h"
#ifdef HAVE_CUDA
#include "cuda/backend.h"
#endif

void run_common_flags(RunFlags *f, CliFlag *out) {
    CliFlag flags[RUN_COMMON_FLAGS] = {
        CLI_FLAG_STRING("model", &f->model, "albef-tiny",
                        "model config: a name in models/configs/ or a JSON path"),
        CLI_FLAG_STRING("task", &f->task, "flickr30k",
                        "task: flickr30k (image-text retrieval), snli_ve, nlvr2 (not built yet)"),
        CLI_FLAG_STRING("data", &f->data, RUN_DEFAULT_DATA,
                        "dataset directory: flickr30k_{train,test}.json (and flickr30k_val.json for the MI "
                        "attacker), images, vocab.txt; "
                        "the default directory is filled with the synthetic world when empty"),
        CLI_FLAG_STRING("image-root", &f->image_root, NULL,
                        "directory the annotations' image paths are relative to (default: <data>/images)"),
        CLI_FLAG_STRING("original", &f->original, NULL,
                        "checkpoint of the original model (default: train it on D once and cache it)"),
        CLI_FLAG_INT("df-size", &f->df_size, "60", "deletion units (images) taken from the top of the list"),
        CLI_FLAG_STRING("df-list", &f->df_list, NULL,
                        "deletion list, one image id per line (default: drawn with --seed)"),
        CLI_FLAG_BOOL("allow-unknown-ids", &f->allow_unknown_ids, "false",
                      "skip (and count) listed ids that no training pair uses instead of stopping"),
        CLI_FLAG_INT("seed", &f->seed, "42", "seed of data order, dropout, negatives, the drawn list"),
        CLI_FLAG_CHOICE("device", &f->device, "cpu", "cpu|cuda", "where to run"),
        CLI_FLAG_CHOICE("precision", &f->precision, "bf16", "bf16|fp32",
                        "on cuda: bf16 activations and GEMM inputs with f32 accumulation (autocast), or fp32 throughout (checking)"),
        CLI_FLAG_BOOL("fusion-only", &f->fusion_only, "false",
                      "update only the fusion layers and ITM head (the paper's -F variant)"),
        CLI_FLAG_BOOL("eval-original", &f->eval_original, "true",
                      "also evaluate the original model, as the comparison row"),
        CLI_FLAG_STRING("out", &f->out, NULL, "run directory (default: runs/<program>_<model>_df<k>_s<seed>)"),
        CLI_FLAG_FLOAT("lr", &f->lr, "0",
                       "learning rate of this program's loop, > 0 (left out: the recipe's for the model and task)"),
        CLI_FLAG_INT("epochs", &f->epochs, "0", "epochs of this program's loop, >= 1 (left out: the recipe's)"),
        CLI_FLAG_INT("k-test", &f->k_test, "0", "ITM rerank candidates per query, >= 1 (left out: the recipe's)"),
    };
    memcpy(out, flags, sizeof flags);
}

const char *run_path(const RunContext *ctx, const char *name, char *buf, size_t size) {
    snprintf(buf, size, "%s/%s", ctx->run_dir, name);
    return buf;
}

/* A config name resolves to models/configs/<name>.json next to the working
 * directory or next to the program (bin/..), so programs run from anywhere. */
static int resolve_model_config(const char *model, char *out, size_t size) {
    if (strchr(model, '/') || strstr(model, ".json")) {
        snprintf(out, size, "%s", model);
        return file_exists(out) ? 0 : error_set("%s: model config not found", model);
    }
    snprintf(out, size, "models/configs/%s.json", model);
    if (file_exists(out)) return 0;
    char exe[1024];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        snprintf(out, size, "%s/../models/configs/%s.json", dirname(exe), model);
        if (file_exists(out)) return 0;
    }
    return error_set("model \"%s\": no models/configs/%s.json (give a config name or a JSON path)", model, model);
}

static int prepare_data(RunContext *ctx) {
    snprintf(ctx->data_dir, sizeof ctx->data_dir, "%s", ctx->flags.data);
    if (ctx->flags.image_root)
        snprintf(ctx->image_root, sizeof ctx->image_root, "%s", ctx->flags.image_root);
    else
        snprintf(ctx->image_root, sizeof ctx->image_root, "%s/images", ctx->data_dir);
    char train_json[1100];
    snprintf(train_json, sizeof train_json, "%s/flickr30k_train.json", ctx->data_dir);
    if (file_exists(train_json)) return 0;
    if (strcmp(ctx->flags.data, RUN_DEFAULT_DATA) != 0)
        return error_set("%s: no flickr30k_train.json (is --data a Flickr30K-format directory?)", ctx->data_dir);
    log_info("writing the synthetic image-text world to %s", ctx->data_dir);
    SynthImageTextOptions opt = synth_image_text_defaults();
    return synth_image_text_write(&opt, ctx->data_dir);
}

static int load_splits(RunContext *ctx) {
    char path[1100], vocab[1100];
    snprintf(vocab, sizeof vocab, "%s/vocab.txt", ctx->data_dir);
    if (!(ctx->tok = tokenizer_load(vocab))) return -1;
    if (model_config_use_vocab_file(&ctx->cfg, vocab) < 0) return -1;
    /* Keep decoded images in memory up to 2 GiB (the synthetic world: ~12 MB). */
    int64_t cache = (int64_t)2 << 30;
    snprintf(path, sizeof path, "%s/flickr30k_train.json", ctx->data_dir);
    if (retrieval_set_load(&ctx->train, path, FLICKR30K_TRAIN, ctx->image_root, ctx->tok, ctx->cfg.max_text_len,
                           ctx->cfg.image_size, cache) < 0)
        return -1;
    snprintf(path, sizeof path, "%s/flickr30k_test.json", ctx->data_dir);
    if (retrieval_set_load(&ctx->test, path, FLICKR30K_EVAL, ctx->image_root, ctx->tok, ctx->cfg.max_text_len_eval,
                           ctx->cfg.image_size, cache) < 0)
        return -1;
    /* The validation split only feeds the MI attacker (§6.3 item 2); a real
     * dataset directory without it still runs, with MI skipped. */
    snprintf(path, sizeof path, "%s/flickr30k_val.json", ctx->data_dir);
    if (!file_exists(path)) {
        log_warn("%s: no flickr30k_val.json; membership inference (MI ratio) will be skipped", ctx->data_dir);
        return 0;
    }
    return retrieval_set_load(&ctx->val, path, FLICKR30K_EVAL, ctx->image_root, ctx->tok, ctx->cfg.max_text_len_eval,
                              ctx->cfg.image_size, cache);
}

static int prepare_deletion(RunContext *ctx) {
    int64_t n = ctx->train.split.n_texts;
    const char **keys = malloc((size_t)n * sizeof *keys);
    CHECK(keys != NULL, "out of memory");
    for (int64_t t = 0; t < n; t++) keys[t] = retrieval_set_pair_key(&ctx->train, t);
    char list_path[1100];
    const char *list = ctx->flags.df_list;
    int rc = 0;
    if (!list) {
        /* No list given: draw df_size images (spec §1.2) and keep the list in the run directory. */
        const char **units = NULL;
        int64_t n_units = deletion_unique_keys(keys, n, 1, &units);
        list = run_path(ctx, "df_list.txt", list_path, sizeof list_path);
        rc = deletion_list_generate(units, n_units, ctx->flags.df_size, (uint64_t)ctx->flags.seed, list);
        free(units);
    }
    if (rc == 0) rc = deletion_list_read(list, ctx->flags.df_size, &ctx->list);
    if (rc == 0) rc = deletion_split(&ctx->list, keys, n, ctx->flags.allow_unknown_ids, &ctx->split);
    if (rc == 0) rc = deletion_eval_sets(&ctx->split, DELETION_EVAL_SUBSETS, (uint64_t)ctx->flags.seed, &ctx->eval_sets);
    free(keys);
    if (rc == 0 && ctx->split.n_unknown)
        log_warn("%lld listed ids are not in the training set and were skipped", (long long)ctx->split.n_unknown);
    return rc;
}

static const RunKnob *knob_find(const RunKnob *knobs, int n, const char *flag) {
    static const RunKnob k_test = RUN_KNOB_INT("k-test", k_test); /* every program evaluates */
    if (strcmp(flag, "k-test") == 0) return &k_test;
    for (int k = 0; k < n; k++)
        if (strcmp(knobs[k].flag, flag) == 0) return &knobs[k];
    return NULL;
}

/* Applies the knobs: a given value (> 0) goes into the recipe, else the
 * recipe's value into the flag; a common knob this program does not read must
 * not be given, and is left out of config.json. */
static int apply_knobs(RunContext *ctx, const CliSpec *spec, const RunKnob *knobs, int n_knobs, cJSON *flags_json) {
    static const char *const common[] = {"lr", "epochs"};
    for (int k = 0; k < n_knobs; k++) {
        const CliFlag *f = NULL;
        for (int j = 0; j < spec->count && !f; j++)
            if (strcmp(spec->flags[j].name, knobs[k].flag) == 0) f = &spec->flags[j];
        CHECK(f && f->type == (knobs[k].is_int ? CLI_INT : CLI_FLOAT), "%s: knob --%s has no flag of its type",
              ctx->program, knobs[k].flag);
    }
    for (int j = 0; j < spec->count; j++) {
        const CliFlag *f = &spec->flags[j];
        const RunKnob *knob = knob_find(knobs, n_knobs, f->name);
        int given = cli_was_given(f->dest);
        if (!knob) {
            for (int c = 0; c < 2; c++)
                if (given && strcmp(f->name, common[c]) == 0)
                    return error_set("--%s: %s has no %s to set (see --help)", f->name, ctx->program, f->name);
            continue;
        }
        char *field = (char *)&ctx->recipe + knob->offset;
        double recipe_value = knob->is_int ? *(int *)field : *(double *)field;
        double value = knob->is_int ? *(int *)f->dest : *(double *)f->dest;
        if (!given) {
            if (knob->is_int) *(int *)f->dest = *(int *)field;
            else *(double *)f->dest = *(double *)field;
        } else if (!(value > 0)) {
            return error_set("--%s %g: must be %s (the recipe's value for %s on %s is %g; leave the flag out to use it)",
                             f->name, value, knob->is_int ? ">= 1" : "> 0", ctx->cfg.name, ctx->flags.task,
                             recipe_value);
        } else if (knob->is_int) {
            *(int *)field = *(int *)f->dest;
        } else {
            *(double *)field = *(double *)f->dest;
        }
    }
    cli_to_json(spec, flags_json);
    for (int c = 0; c < 2; c++)
        if (!knob_find(knobs, n_knobs, common[c])) cJSON_DeleteItemFromObject(flags_json, common[c]);
    return 0;
}

static cJSON *recipe_to_json(const Recipe *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "init_lr", r->init_lr);
    cJSON_AddNumberToObject(o, "min_lr", r->min_lr);
    cJSON_AddNumberToObject(o, "warmup_lr", r->warmup_lr);
    cJSON_AddNumberToObject(o, "warmup_steps", r->warmup_steps);
    cJSON_AddNumberToObject(o, "weight_decay", r->weight_decay);
    cJSON_AddNumberToObject(o, "epochs", r->epochs);
    cJSON_AddNumberToObject(o, "batch_size", r->batch_size);
    cJSON_AddBoolToObject(o, "augment", r->augment);
    cJSON_AddNumberToObject(o, "batch_eval", r->batch_eval);
    cJSON_AddNumberToObject(o, "k_test", r->k_test);
    cJSON_AddNumberToObject(o, "unlearn_lr", r->unlearn_lr);
    cJSON_AddNumberToObject(o, "unlearn_epochs", r->unlearn_epochs);
    cJSON_AddNumberToObject(o, "unlearn_batch_df", r->unlearn_batch_df);
    cJSON_AddNumberToObject(o, "finetune_lr", r->finetune_lr);
    /* The baselines' defaults (unlearn/recipe.h), so a report names every number a run used. */
    const struct {
        const char *name;
        double value;
    } fields[] = {
        {"finetune_lr_mult", r->finetune_lr_mult},   {"finetune_epochs", r->finetune_epochs},
        {"neggrad_epochs", r->neggrad_epochs},       {"neggrad_stop_at_chance", r->neggrad_stop_at_chance},
        {"neggrad_lr", r->neggrad_lr},               {"dtd_descent_epochs", r->dtd_descent_epochs},
        {"dtd_T", r->dtd_T},                         {"dtd_epsilon", r->dtd_epsilon},
        {"ul_lr", r->ul_lr},                         {"ul_mask_prob", r->ul_mask_prob},
        {"mlm_head_lr", r->mlm_head_lr},             {"ul_max_epochs", r->ul_max_epochs},
        {"mlm_head_epochs", r->mlm_head_epochs},     {"lcodec_perturbations", r->lcodec_perturbations},
        {"lcodec_batch", r->lcodec_batch},           {"lcodec_hessian_batches", r->lcodec_hessian_batches},
        {"lcodec_l2_reg", r->lcodec_l2_reg},         {"lcodec_epsilon", r->lcodec_epsilon},
        {"lcodec_delta", r->lcodec_delta},           {"lcodec_guard_gap", r->lcodec_guard_gap},
        {"ermktp_erm_epochs", r->ermktp_erm_epochs}, {"ermktp_ktp_epochs", r->ermktp_ktp_epochs},
        {"ermktp_mask_period", r->ermktp_mask_period}, {"ermktp_mask_epoch_min", r->ermktp_mask_epoch_min},
        {"ermktp_mask_lr", r->ermktp_mask_lr},       {"ermktp_reg", r->ermktp_reg},
        {"ermktp_ktp_lr", r->ermktp_ktp_lr},
    };
    for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) cJSON_AddNumberToObject(o, fields[k].name, fields[k].value);
    return o;
}

int run_setup(RunContext *ctx, const char *program, const CliSpec *spec, const RunKnob *knobs, int n_knobs) {
    RunFlags flags = ctx->flags;
    memset(ctx, 0, sizeof *ctx);
    ctx->flags = flags;
    ctx->program = program;
    ctx->device = DEVICE_CPU;
    if (task_check_name(flags.task) < 0) return -1;
    if (strcmp(flags.device, "cuda") == 0) {
#ifdef HAVE_CUDA
        char why[256];
        if (cuda_backend_init(why, sizeof why) != 0) return error_set("--device cuda: %s", why);
        cuda_set_precision(strcmp(flags.precision, "fp32") == 0 ? PRECISION_FP32 : PRECISION_BF16);
        ctx->device = DEVICE_CUDA;
#else
        return error_set("--device cuda: this build has no CUDA backend (nvcc was not found, or CUDA=0)");
#endif
    }
    /* The model config, its recipe row and the knobs first: a bad name or flag
     * value stops the run before it writes or loads anything. */
    if (resolve_model_config(flags.model, ctx->config_path, sizeof ctx->config_path) < 0) return -1;
    if (model_config_load(&ctx->cfg, ctx->config_path) < 0) return -1;
    if (recipe_find(ctx->cfg.name, flags.task, &ctx->recipe) < 0) return -1;
    ctx->config = cJSON_CreateObject();
    cJSON_AddStringToObject(ctx->config, "program", program);
    if (apply_knobs(ctx, spec, knobs, n_knobs, cJSON_AddObjectToObject(ctx->config, "flags")) < 0) return -1;
    if (flags.out)
        snprintf(ctx->run_dir, sizeof ctx->run_dir, "%s", flags.out);
    else
        snprintf(ctx->run_dir, sizeof ctx->run_dir, "runs/%s_%s_df%d_s%d", program, flags.model, flags.df_size,
                 flags.seed);
    if (make_dirs(ctx->run_dir) < 0) return -1;
    char log_path[1100];
    if (log_open_file(run_path(ctx, "train.log", log_path, sizeof log_path)) < 0) return -1;
    log_info("%s: run directory %s", program, ctx->run_dir);
    if (prepare_data(ctx) < 0 || load_splits(ctx) < 0 || prepare_deletion(ctx) < 0) return -1;
    task_retrieval_init(&ctx->task, &ctx->cfg, &ctx->train, &ctx->test, &ctx->val);
    log_info("data %s: %lld training pairs over %lld images, %lld test images, %lld val images; Df %lld pairs "
             "(%lld images), Dr %lld",
             ctx->data_dir, (long long)ctx->train.split.n_texts, (long long)ctx->train.split.n_images,
             (long long)ctx->test.split.n_images, (long long)ctx->val.split.n_images, (long long)ctx->split.n_df,
             (long long)ctx->split.n_units, (long long)ctx->split.n_dr);
    cJSON_AddItemToObject(ctx->config, "model", model_config_to_json(&ctx->cfg));
    cJSON_AddItemToObject(ctx->config, "recipe", recipe_to_json(&ctx->recipe));
    cJSON *split = cJSON_AddObjectToObject(ctx->config, "deletion");
    cJSON_AddNumberToObject(split, "df_units", (double)ctx->split.n_units);
    cJSON_AddNumberToObject(split, "df_pairs", (double)ctx->split.n_df);
    cJSON_AddNumberToObject(split, "dr_pairs", (double)ctx->split.n_dr);
    cJSON_AddNumberToObject(split, "unknown_ids_skipped", (double)ctx->split.n_unknown);
    char path[1100];
    return json_write_file(run_path(ctx, "config.json", path, sizeof path), ctx->config);
}

void run_free(RunContext *ctx) {
    if (ctx->task.free) ctx->task.free(&ctx->task);
    deletion_eval_sets_free(&ctx->eval_sets);
    deletion_split_free(&ctx->split);
    deletion_list_free(&ctx->list);
    retrieval_set_free(&ctx->train);
    retrieval_set_free(&ctx->test);
    retrieval_set_free(&ctx->val);
    if (ctx->tok) tokenizer_free(ctx->tok);
    if (ctx->config) cJSON_Delete(ctx->config);
    if (ctx->method_details) cJSON_Delete(ctx->method_details);
    free(ctx->method_notes);
    log_close_file();
    memset(ctx, 0, sizeof *ctx);
}

/* FNV-1a over the things the original model depends on. */
static int original_cache_key(const RunContext *ctx, uint64_t *key) {
    uint64_t h = FNV1A_INIT;
    char *cfg_text = cJSON_PrintUnformatted(cJSON_GetObjectItem(ctx->config, "model"));
    h = fnv1a_bytes(h, cfg_text, strlen(cfg_text));
    free(cfg_text);
    h = fnv1a_bytes(h, &ctx->recipe.init_lr, sizeof ctx->recipe.init_lr);
    h = fnv1a_bytes(h, &ctx->recipe.min_lr, sizeof ctx->recipe.min_lr);
    h = fnv1a_bytes(h, &ctx->recipe.epochs, sizeof ctx->recipe.epochs);
    h = fnv1a_bytes(h, &ctx->recipe.batch_size, sizeof ctx->recipe.batch_size);
    h = fnv1a_bytes(h, &ctx->recipe.warmup_steps, sizeof ctx->recipe.warmup_steps);
    h = fnv1a_bytes(h, &ctx->flags.seed, sizeof ctx->flags.seed);
    if (ctx->device != DEVICE_CPU) { /* a model trained on the GPU is a different model */
        h = fnv1a_bytes(h, ctx->flags.device, strlen(ctx->flags.device));
        h = fnv1a_bytes(h, ctx->flags.precision, strlen(ctx->flags.precision));
    }
    const char *files[] = {"flickr30k_train.json", "vocab.txt"};
    for (int k = 0; k < 2; k++) {
        char path[1100];
        size_t n;
        snprintf(path, sizeof path, "%s/%s", ctx->data_dir, files[k]);
        char *text = file_read_all(path, &n);
        if (!text) return -1;
        h = fnv1a_bytes(h, text, n);
        free(text);
    }
    *key = h;
    return 0;
}

void run_model_to_device(const RunContext *ctx, TaskModel *m) {
    if (ctx->device != DEVICE_CPU) ctx->task.model_to_device(&ctx->task, m, ctx->device);
}

/* Loads a checkpoint on the host, then moves the model to the run's device. */
static int load_on_device(RunContext *ctx, TaskModel *m, const char *path) {
    if (ctx->task.model_load(&ctx->task, m, path) < 0) return -1;
    run_model_to_device(ctx, m);
    return 0;
}

int run_original_model(RunContext *ctx, TaskModel *original) {
    const Task *t = &ctx->task;
    if (t->model_init(t, original, (uint64_t)ctx->flags.seed) < 0) return -1;
    if (ctx->flags.original) {
        log_info("original model: %s", ctx->flags.original);
        return load_on_device(ctx, original, ctx->flags.original);
    }
    uint64_t key;
    if (original_cache_key(ctx, &key) < 0) return -1;
    char path[1100];
    snprintf(path, sizeof path, "%s/original-%s-%016llx.safetensors", RUN_CACHE_DIR, ctx->cfg.name,
             (unsigned long long)key);
    if (file_exists(path)) {
        log_info("original model: cached %s", path);
        return load_on_device(ctx, original, path);
    }
    run_model_to_device(ctx, original);
    log_info("original model: training %s on all %lld pairs of D (cached as %s)", ctx->cfg.name,
             (long long)ctx->train.split.n_texts, path);
    int64_t n = t->n_items[TASK_SPLIT_TRAIN];
    int64_t *all = xmalloc((size_t)n * sizeof *all);
    for (int64_t k = 0; k < n; k++) all[k] = k;
    TrainStats stats;
    int rc = train_task_model(t, original, all, n, &ctx->recipe, (uint64_t)ctx->flags.seed, &stats);
    free(all);
    if (rc < 0) return error_prefix("training the original model");
    log_info("original model trained: %lld steps in %.1f s, loss %.3f -> %.3f", (long long)stats.steps, stats.seconds,
             stats.first_loss, stats.last_loss);
    if (make_dirs(RUN_CACHE_DIR) < 0) return -1;
    return t->model_save(t, original, path);
}
