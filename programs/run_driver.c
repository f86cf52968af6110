#include "programs/run_driver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autograd/params_io.h"
#include "core/comm.h"
#include "core/device.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/log.h"
#include "core/xalloc.h"
#include "data/synth_image_text.h"
#include "models/task_cls.h"
#include "models/task_retrieval.h"
#include "programs/run_data_pgr.h"
#include "programs/run_default_init.h"
#include "unlearn/loop.h"
#include "unlearn/train_loop.h"
#ifdef HAVE_CUDA
#include "cuda/backend.h"
#include "cuda/comm_nccl.h"
#endif

void run_common_flags(RunFlags *f, CliFlag *out) {
    CliFlag flags[RUN_COMMON_FLAGS] = {
        CLI_FLAG_STRING("model", &f->model, "albef-tiny",
                        "model config: a name in models/configs/ or a JSON path"),
        CLI_FLAG_STRING("task", &f->task, "flickr30k",
                        "task: flickr30k (image-text retrieval), snli_ve and nlvr2 (image-text classification), "
                        "pgr (graph-text, the shipped corpus data/pgr_corpus and the model pgr-tiny by default)"),
        CLI_FLAG_STRING("data", &f->data, NULL,
                        "dataset directory: flickr30k_{train,test}.json (and flickr30k_val.json for the MI "
                        "attacker), images, vocab.txt (default: runs/synth-<world>, filled with the synthetic "
                        "world when empty); --task pgr: a PGR corpus directory (default: the shipped data/pgr_corpus)"),
        CLI_FLAG_CHOICE("world", &f->world, SYNTH_WORLD_DEFAULT, SYNTH_WORLD_NAMES,
                        "the synthetic world used without --data (data/synth_image_text.h): longtail memorises "
                        "what it saw, scenes generalises"),
        CLI_FLAG_STRING("image-root", &f->image_root, NULL,
                        "directory the annotations' image paths are relative to (default: <data>/images)"),
        CLI_FLAG_STRING("original", &f->original, NULL,
                        "checkpoint of the original model (default: train it on D once and cache it)"),
        CLI_FLAG_STRING("init", &f->init, NULL,
                        "pretrained weights that train's model, the original trained here and Retrain start from "
                        "(a checkpoint of the task, or a converted pretrained ALBEF for snli_ve/nlvr2; spec "
                        "§3.4, §4.1); default: for snli_ve/nlvr2 without --data, the synthetic world's retrieval original "
                        "(the model --task flickr30k trains and caches; programs/run_default_init.h), else random "
                        "initialisation from --seed"),
        CLI_FLAG_INT("df-size", &f->df_size, "60",
                     "deletion units (images; --task pgr: rows, 200 by default) taken from the top of the list"),
        CLI_FLAG_STRING("df-list", &f->df_list, NULL,
                        "deletion list, one image id per line (--task pgr: a row key, data/pgr_corpus.h) (default: "
                        "drawn with --seed)"),
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
        CLI_FLAG_CHOICE("eval-retrain", &f->eval_retrain, "auto", "auto|on|off",
                        "also evaluate Retrain (the recipe on Dr, trained once per deletion and cached), the gold "
                        "standard row the verdict measures against; auto: when the original is trained here "
                        "(no --original)"),
        CLI_FLAG_BOOL("allow-nonfinite", &f->allow_nonfinite, "false",
                      "load checkpoints holding NaN/inf values (warned by tensor name) instead of stopping"),
        CLI_FLAG_BOOL("resume", &f->resume, "false",
                      "continue the interrupted run in <out>.partial (same configuration) from its last completed "
                      "epoch instead of starting afresh"),
        CLI_FLAG_STRING("out", &f->out, NULL, "run directory (default: runs/<program>_<model>_df<k>_s<seed>)"),
        CLI_FLAG_FLOAT("lr", &f->lr, "0",
                       "learning rate of this program's loop, > 0 (left out: the recipe's for the model and task)"),
        CLI_FLAG_INT("epochs", &f->epochs, "0", "epochs of this program's loop, >= 1 (left out: the recipe's)"),
        CLI_FLAG_INT("k-test", &f->k_test, "0", "ITM rerank candidates per query, >= 1 (left out: the recipe's)"),
    };
    memcpy(out, flags, sizeof flags);
    run_pgr_flags(f, out + RUN_COMMON_FLAGS - RUN_PGR_FLAGS);
}

/* The code the programs were built from (Makefile: a digest of the library's
 * sources), part of every run's identity and of the original-model cache key. */
#ifndef MMU_SOURCE_DIGEST
#define MMU_SOURCE_DIGEST "unversioned"
#endif

const char *run_path(const RunContext *ctx, const char *name, char *buf, size_t size) {
    snprintf(buf, size, "%s/%s", ctx->run_dir, name);
    return buf;
}

/* Rank 0's answer to a yes/no question about shared files (a cache entry, a
 * complete earlier run), so that every rank takes the same branch: the
 * branches differ in their collectives (training or loading). */
static int rank0_says(int answer) {
    int64_t a = answer;
    comm_broadcast_i64(&a, 1, 0);
    return (int)a;
}

/* SNLI-VE or NLVR2 (models/task_cls.h), or -1 for another task. */
static int cls_task_of(const char *task) {
    AlbefClsTask which;
    if (strcmp(task, "snli_ve") && strcmp(task, "nlvr2")) return -1;
    CHECK(albef_cls_task_parse(task, &which) == 0, "%s", error_message());
    return (int)which;
}

/* The fingerprint of the training data (split 0), the test (1) or the
 * validation data (2) of the run's image-text task (PGR: run_pgr_fingerprint). */
static int data_fingerprint(const RunContext *ctx, int split, uint64_t *h) {
    if (cls_task_of(ctx->flags.task) >= 0) {
        const ClsSet *sets[3] = {&ctx->cls_train, &ctx->cls_test, &ctx->cls_val};
        return cls_set_fingerprint(sets[split], h);
    }
    const RetrievalSet *sets[3] = {&ctx->train, &ctx->test, &ctx->val};
    return retrieval_set_fingerprint(sets[split], h);
}

/* Annotation files of a classification task: train, test, validation (spec/albef_blip.md §6.2-6.3). */
static void cls_files(AlbefClsTask which, const char *names[3]) {
    static const char *const ve[3] = {"ve_train.json", "ve_test.json", "ve_dev.json"};
    static const char *const nlvr[3] = {"nlvr_train.json", "nlvr_test.json", "nlvr_dev.json"};
    for (int k = 0; k < 3; k++) names[k] = which == ALBEF_TASK_NLVR2 ? nlvr[k] : ve[k];
}

static int prepare_data(RunContext *ctx) {
    if (ctx->flags.data)
        snprintf(ctx->data_dir, sizeof ctx->data_dir, "%s", ctx->flags.data);
    else
        snprintf(ctx->data_dir, sizeof ctx->data_dir, "%s%s", RUN_DEFAULT_DATA_PREFIX, ctx->flags.world);
    if (ctx->flags.image_root)
        snprintf(ctx->image_root, sizeof ctx->image_root, "%s", ctx->flags.image_root);
    else
        snprintf(ctx->image_root, sizeof ctx->image_root, "%s/images", ctx->data_dir);
    char train_json[1100];
    const char *names[3] = {"flickr30k_train.json", NULL, NULL};
    int cls = cls_task_of(ctx->flags.task);
    if (cls >= 0) cls_files((AlbefClsTask)cls, names);
    snprintf(train_json, sizeof train_json, "%s/%s", ctx->data_dir, names[0]);
    if (file_exists(train_json)) return 0;
    if (ctx->flags.data)
        return error_set("%s: no %s (is --data a %s-format directory?)", ctx->data_dir, names[0],
                         cls < 0 ? "Flickr30K" : ctx->flags.task);
    log_info("writing the synthetic image-text world \"%s\" to %s", ctx->flags.world, ctx->data_dir);
    SynthImageTextOptions opt;
    int rc = synth_image_text_world(ctx->flags.world, &opt);
    if (rc == 0 && comm_is_root()) rc = synth_image_text_write(&opt, ctx->data_dir);
    comm_barrier(); /* rank 0 has written the world (or failed, and stops the job) */
    return rc;
}

static int load_splits(RunContext *ctx) {
    char path[1100], vocab[1100];
    snprintf(vocab, sizeof vocab, "%s/vocab.txt", ctx->data_dir);
    if (!(ctx->tok = tokenizer_load(vocab))) return -1;
    if (model_config_use_vocab_file(&ctx->cfg, vocab) < 0) return -1;
    /* Keep decoded images in memory up to 2 GiB (the synthetic world: ~12 MB). */
    int64_t cache = (int64_t)2 << 30;
    int cls = cls_task_of(ctx->flags.task);
    if (cls >= 0) {
        const char *names[3];
        cls_files((AlbefClsTask)cls, names);
        ClsSetKind kind = cls == ALBEF_TASK_NLVR2 ? CLS_SET_NLVR2 : CLS_SET_SNLI_VE;
        ClsSet *sets[3] = {&ctx->cls_train, &ctx->cls_test, &ctx->cls_val};
        for (int k = 0; k < 3; k++) {
            snprintf(path, sizeof path, "%s/%s", ctx->data_dir, names[k]);
            if (k == 2 && !file_exists(path)) {
                log_warn("%s: no %s; membership inference will be skipped", ctx->data_dir, names[k]);
                break;
            }
            if (cls_set_load(sets[k], kind, path, ctx->image_root, ctx->tok,
                             k == 0 ? ctx->cfg.max_text_len : ctx->cfg.max_text_len_eval, ctx->cfg.image_size,
                             cache) < 0)
                return -1;
        }
        return 0;
    }
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

int run_data_load(RunContext *ctx) { return prepare_data(ctx) < 0 || load_splits(ctx) < 0 ? -1 : 0; }

static int prepare_deletion(RunContext *ctx) {
    /* The deletion unit (spec/unlearning_methods.md §1.1): an image for
     * Flickr30K and SNLI-VE (the premise), the image pair for NLVR2, a row
     * (one pair's association in one sentence) for PGR. */
    int cls = cls_task_of(ctx->flags.task) >= 0, pgr = run_is_pgr(ctx->flags.task);
    int64_t n = cls ? ctx->cls_train.n : pgr ? ctx->pgr.split[PGR_SPLIT_TRAIN].n : ctx->train.split.n_texts;
    const char **keys = malloc((size_t)(n ? n : 1) * sizeof *keys);
    CHECK(keys != NULL, "out of memory");
    for (int64_t t = 0; t < n; t++)
        keys[t] = cls ? ctx->cls_train.keys[t]
                : pgr ? ctx->pgr.split[PGR_SPLIT_TRAIN].key[t] /* a row (data/pgr_corpus.h) */
                      : retrieval_set_pair_key(&ctx->train, t);
    char list_path[1100];
    const char *list = ctx->flags.df_list;
    int rc = 0;
    if (!list) {
        /* No list given: draw df_size units (spec §1.2) and keep the list in the run directory. */
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
    cJSON_DeleteItemFromObject(flags_json, "resume"); /* how the run was reached, not what it computes */
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

static void add_hex(cJSON *o, const char *name, uint64_t h) {
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
    cJSON_AddStringToObject(o, name, hex);
}

/* What the results depend on beyond the flags: the content of the data (the
 * splits' fingerprints), of the deletion list and of --original, and the
 * code version. Two runs are the same run only when all of it is equal. */
static int add_inputs(RunContext *ctx) {
    cJSON *in = cJSON_AddObjectToObject(ctx->config, "inputs");
    const char *names[3] = {"train_data", "test_data", "val_data"};
    for (int k = 0; k < 3 && !run_is_pgr(ctx->flags.task); k++) {
        uint64_t h = FNV1A_INIT;
        if (data_fingerprint(ctx, k, &h) < 0) return -1;
        add_hex(in, names[k], h);
    }
    uint64_t h = FNV1A_INIT;
    if (run_is_pgr(ctx->flags.task)) { /* one corpus makes every split */
        if (run_pgr_fingerprint(ctx, &h) < 0) return -1;
        add_hex(in, "pgr_corpus", h);
        h = FNV1A_INIT;
    }
    for (int64_t i = 0; i < ctx->list.n; i++) h = fnv1a_str(fnv1a_str(h, ctx->list.ids[i]), "\n");
    add_hex(in, "df_ids", h);
    if (ctx->flags.original) {
        h = FNV1A_INIT;
        if (file_fnv1a(&h, ctx->flags.original) < 0) return error_prefix("--original");
        add_hex(in, "original", h);
    }
    if (ctx->flags.checkpoints) {
        cJSON *hashes = cJSON_AddArrayToObject(in, "checkpoints");
        for (const char *p = ctx->flags.checkpoints; *p;) {
            size_t len = strcspn(p, ",");
            char path[1024];
            snprintf(path, sizeof path, "%.*s", (int)len, p);
            h = FNV1A_INIT;
            if (len > 0 && file_fnv1a(&h, path) < 0) return error_prefix("checkpoint %s", path);
            char hex[17];
            snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
            cJSON_AddItemToArray(hashes, cJSON_CreateString(hex));
            p += len + (p[len] == ',');
        }
    }
    if (ctx->flags.init) {
        h = FNV1A_INIT;
        if (file_fnv1a(&h, ctx->flags.init) < 0) return error_prefix("--init");
        add_hex(in, "init", h);
        ctx->init_hash = h;
    }
    cJSON_AddStringToObject(in, "code", MMU_SOURCE_DIGEST);
    return 0;
}

static int setup_run(RunContext *ctx, const char *program, const CliSpec *spec, const RunKnob *knobs, int n_knobs) {
    RunFlags flags = ctx->flags;
    memset(ctx, 0, sizeof *ctx);
    ctx->dir.lock_fd = -1;
    ctx->flags = flags;
    ctx->program = program;
    ctx->device = DEVICE_CPU;
    if (task_check_name(flags.task) < 0 || run_pgr_check_flags(&ctx->flags) < 0) return -1;
    if (flags.fusion_only && flags.no_fusion_only) return error_set("--fusion-only: %s", flags.no_fusion_only);
    /* A job of several ranks (mpirun): rank 0 writes the run directory, the
     * caches, logs and reports; the others print errors only and keep their
     * files in a scratch directory removed at the end (run_free). */
    if (comm_init() < 0) return -1;
    if (!comm_is_root()) {
        log_set_level(LOG_ERROR);
        if (!freopen("/dev/null", "w", stdout)) return error_set("rank %d: cannot silence stdout", comm_rank());
    }
    if (comm_size() > 1 && flags.resume)
        return error_set("--resume runs on one rank: the epoch checkpoints are rank 0's alone");
    if (flags.ukr_text && cls_task_of(flags.task) < 0)
        return error_set("--ukr-text: --task %s has no image-only L_UKR to extend (retrieval's and PGR's already "
                         "keep both sides, spec/unlearning_methods.md §5.2); it is for snli_ve and nlvr2", flags.task);
    /* Without --model, a classification task takes the tiny config of its own layout. */
    if (cls_task_of(flags.task) >= 0 && !cli_was_given(&ctx->flags.model))
        ctx->flags.model = flags.model = cls_task_of(flags.task) == ALBEF_TASK_NLVR2 ? "albef-tiny-nlvr" : "albef-tiny-ve";
    if (run_is_pgr(flags.task)) { /* the task's own defaults (programs/run_data_pgr.h) */
        if (!cli_was_given(&ctx->flags.model)) ctx->flags.model = flags.model = RUN_PGR_DEFAULT_MODEL;
        if (!cli_was_given(&ctx->flags.df_size)) ctx->flags.df_size = flags.df_size = RUN_PGR_DEFAULT_DF_SIZE;
    }
    if (strcmp(flags.device, "cuda") == 0) {
#ifdef HAVE_CUDA
        char why[256];
        if (cuda_backend_init(why, sizeof why) != 0) return error_set("--device cuda: %s", why);
        cuda_set_precision(strcmp(flags.precision, "fp32") == 0 ? PRECISION_FP32 : PRECISION_BF16);
        ctx->device = DEVICE_CUDA;
        if (comm_size() > 1 && cuda_comm_init(why, sizeof why) != 0) return error_set("--device cuda: %s", why);
#else
        return error_set("--device cuda: this build has no CUDA backend (nvcc was not found, or CUDA=0)");
#endif
    }
    /* The model config, its recipe row and the knobs first: a bad name or flag
     * value stops the run before it writes or loads anything. */
    if (model_config_resolve(flags.model, ctx->config_path, sizeof ctx->config_path) < 0) return -1;
    if (run_is_pgr(flags.task) ? run_pgr_model_config(ctx) < 0 : model_config_load(&ctx->cfg, ctx->config_path) < 0)
        return -1;
    if (recipe_find(ctx->cfg.name, flags.task, &ctx->recipe) < 0) return -1;
    ctx->config = cJSON_CreateObject();
    cJSON_AddStringToObject(ctx->config, "program", program);
    if (apply_knobs(ctx, spec, knobs, n_knobs, cJSON_AddObjectToObject(ctx->config, "flags")) < 0) return -1;
    params_allow_nonfinite(flags.allow_nonfinite);
    char out[1024];
    if (flags.out)
        snprintf(out, sizeof out, "%s", flags.out);
    else
        snprintf(out, sizeof out, "runs/%s_%s_df%d_s%d", program, flags.model, flags.df_size, flags.seed);
    if (strlen(out) + sizeof ".partial" > sizeof ctx->run_dir)
        return error_set("--out %s: path longer than %zu characters", out, sizeof ctx->run_dir - sizeof ".partial");
    if (comm_is_root()) {
        if (run_dir_begin(&ctx->dir, out, flags.resume) < 0) return -1;
        memcpy(ctx->out_dir, ctx->dir.out, strlen(ctx->dir.out) + 1);
        memcpy(ctx->run_dir, ctx->dir.work, strlen(ctx->dir.work) + 1);
        char log_path[4300];
        if (log_open_file(run_path(ctx, "train.log", log_path, sizeof log_path)) < 0) return -1;
    } else {
        snprintf(ctx->out_dir, sizeof ctx->out_dir, "%s", out);
        snprintf(ctx->run_dir, sizeof ctx->run_dir, "/tmp/mmu-rank%d-%d", comm_rank(), (int)getpid());
        if (make_dirs(ctx->run_dir) < 0) return -1;
    }
    log_info("%s: run directory %s (written as %s until complete)", program, ctx->out_dir, ctx->run_dir);
    if (run_is_pgr(flags.task) ? run_pgr_load(ctx) < 0 : run_data_load(ctx) < 0) return -1;
    if (prepare_deletion(ctx) < 0) return -1;
    if (run_is_pgr(flags.task)) {
        run_pgr_describe(ctx);
    } else if (cls_task_of(flags.task) >= 0) {
        task_cls_init(&ctx->task, (AlbefClsTask)cls_task_of(flags.task), &ctx->cfg, ctx->tok, &ctx->cls_train,
                      &ctx->cls_test, ctx->cls_val.n ? &ctx->cls_val : NULL, ctx->flags.ukr_text);
        log_info("data %s: %s, %lld training items over %lld images, %lld test items, %lld validation items; Df %lld "
                 "items (%lld units), Dr %lld",
                 ctx->data_dir, flags.task, (long long)ctx->cls_train.n, (long long)ctx->cls_train.n_images,
                 (long long)ctx->cls_test.n, (long long)ctx->cls_val.n, (long long)ctx->split.n_df,
                 (long long)ctx->split.n_units, (long long)ctx->split.n_dr);
    } else {
        task_retrieval_init(&ctx->task, &ctx->cfg, &ctx->train, &ctx->test, &ctx->val);
        log_info("data %s: %lld training pairs over %lld images, %lld test images, %lld val images; Df %lld pairs "
                 "(%lld images), Dr %lld",
                 ctx->data_dir, (long long)ctx->train.split.n_texts, (long long)ctx->train.split.n_images,
                 (long long)ctx->test.split.n_images, (long long)ctx->val.split.n_images, (long long)ctx->split.n_df,
                 (long long)ctx->split.n_units, (long long)ctx->split.n_dr);
    }
    cJSON_AddItemToObject(ctx->config, "model", run_is_pgr(flags.task) ? pgr_config_to_json(&ctx->pgr_task.cfg)
                                                                        : model_config_to_json(&ctx->cfg));
    cJSON_AddItemToObject(ctx->config, "recipe", recipe_to_json(&ctx->recipe));
    cJSON *split = cJSON_AddObjectToObject(ctx->config, "deletion");
    cJSON_AddNumberToObject(split, "df_units", (double)ctx->split.n_units);
    cJSON_AddNumberToObject(split, "df_pairs", (double)ctx->split.n_df);
    cJSON_AddNumberToObject(split, "dr_pairs", (double)ctx->split.n_dr);
    cJSON_AddNumberToObject(split, "unknown_ids_skipped", (double)ctx->split.n_unknown);
    if (run_default_cls_init(ctx) < 0) return -1; /* before add_inputs, which hashes the init file */
    if (add_inputs(ctx) < 0) return -1;
    char init[1300];
    cJSON_AddStringToObject(ctx->config, "init", run_init_describe(ctx, init, sizeof init));
    /* Every loop writes its state into the run directory after each epoch (rank 0's). */
    loop_set_checkpoint_dir(comm_is_root() ? ctx->run_dir : NULL);
    if (flags.resume) {
        int resumable = run_dir_config_matches(ctx->run_dir, ctx->config);
        if (resumable < 0) return -1;
        char partial_config[4300];
        if (resumable == 0 && file_exists(run_path(ctx, "config.json", partial_config, sizeof partial_config)))
            return error_set("--resume: %s holds an interrupted run with another configuration; run without "
                             "--resume to start afresh", ctx->run_dir);
    }
    int same = comm_is_root() ? run_dir_config_matches(ctx->out_dir, ctx->config) : 0;
    if (same < 0) return -1;
    if (rank0_says(same)) {
        log_info("%s: a complete run with this configuration is there already; nothing to do", ctx->out_dir);
        if (comm_is_root()) {
            log_close_file();
            run_dir_release(&ctx->dir);
        }
        run_dir_remove_tree(ctx->run_dir);
        return RUN_SETUP_DONE_BEFORE;
    }
    char path[4300];
    return json_write_file(run_path(ctx, "config.json", path, sizeof path), ctx->config);
}

int run_setup(RunContext *ctx, const char *program, const CliSpec *spec, const RunKnob *knobs, int n_knobs) {
    int rc = setup_run(ctx, program, spec, knobs, n_knobs);
    if (rc != 0) loop_set_checkpoint_dir(NULL);
    if (rc < 0 && ctx->dir.out[0] && ctx->dir.lock_fd >= 0) { /* a failed setup is no run: unlock, keep out_dir as it was */
        log_close_file();
        run_dir_release(&ctx->dir);
    }
    return rc;
}

void run_free(RunContext *ctx) {
    loop_set_checkpoint_dir(NULL);
    if (ctx->dir.out[0] && ctx->dir.lock_fd >= 0) { /* set up by run_setup (a zeroed RunContext has no run) */
        log_close_file();
        if (run_dir_commit(&ctx->dir) < 0) fprintf(stderr, "error: %s\n", error_message());
    } else if (!comm_is_root() && ctx->run_dir[0]) {
        run_dir_remove_tree(ctx->run_dir); /* a rank's scratch copy of what rank 0 wrote */
    }
    if (ctx->task.free) ctx->task.free(&ctx->task);
    deletion_eval_sets_free(&ctx->eval_sets);
    deletion_split_free(&ctx->split);
    deletion_list_free(&ctx->list);
    retrieval_set_free(&ctx->train);
    retrieval_set_free(&ctx->test);
    retrieval_set_free(&ctx->val);
    cls_set_free(&ctx->cls_train);
    cls_set_free(&ctx->cls_test);
    cls_set_free(&ctx->cls_val);
    if (ctx->tok && ctx->tok != ctx->pgr.tok) tokenizer_free(ctx->tok);
    run_pgr_free(ctx);
    if (ctx->config) cJSON_Delete(ctx->config);
    if (ctx->method_details) cJSON_Delete(ctx->method_details);
    free(ctx->method_notes);
    log_close_file();
    memset(ctx, 0, sizeof *ctx);
}

/* FNV-1a over everything the original model depends on: the model config,
 * the training recipe, the seed, the device and precision, the task, the
 * training data (annotations, tokenised captions, vocabulary, and each image
 * by path, size and modification time: data/retrieval_set.h; PGR: every
 * corpus file by content and the corpus options, programs/run_data_pgr.h) and
 * the code version. A run on other images, another --image-root or another build
 * trains its own original. */
static int original_cache_key(const RunContext *ctx, uint64_t *key) {
    uint64_t h = FNV1A_INIT;
    char *cfg_text = cJSON_PrintUnformatted(cJSON_GetObjectItem(ctx->config, "model"));
    h = fnv1a_str(h, cfg_text);
    free(cfg_text);
    const Recipe *r = &ctx->recipe;
    const double reals[] = {r->init_lr, r->min_lr, r->warmup_lr, r->weight_decay};
    const int ints[] = {r->epochs, r->batch_size, r->warmup_steps, r->augment, ctx->flags.seed};
    h = fnv1a_bytes(h, reals, sizeof reals);
    h = fnv1a_bytes(h, ints, sizeof ints);
    h = fnv1a_str(h, ctx->flags.task);
    if (ctx->device != DEVICE_CPU) { /* a model trained on the GPU is a different model */
        h = fnv1a_str(h, ctx->flags.device);
        h = fnv1a_str(h, ctx->flags.precision);
    }
    if (ctx->flags.init) h = fnv1a_bytes(h, &ctx->init_hash, sizeof ctx->init_hash); /* its content */
    if ((run_is_pgr(ctx->flags.task) ? run_pgr_fingerprint(ctx, &h) : data_fingerprint(ctx, 0, &h)) < 0)
        return error_prefix("original-model cache key");
    h = fnv1a_str(h, MMU_SOURCE_DIGEST);
    *key = h;
    return 0;
}

int run_original_cache_path(const RunContext *ctx, char *path, size_t size) {
    uint64_t key = 0;
    if (original_cache_key(ctx, &key) < 0) return -1;
    snprintf(path, size, "%s/original-%s-%016llx.safetensors", RUN_CACHE_DIR, ctx->cfg.name, (unsigned long long)key);
    return 0;
}

int run_apply_init(const RunContext *ctx, TaskModel *m) {
    if (!ctx->flags.init) return 0;
    if (ctx->task.model_init_from(&ctx->task, m, ctx->flags.init) < 0) return error_prefix("--init");
    log_info("initialised from %s", ctx->flags.init);
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

int run_lock_cache_entry(const char *path, int *fd) {
    *fd = comm_is_root() ? file_lock(path) : -1;
    return rank0_says(comm_is_root() && *fd < 0) ? -1 : 0;
}

static int original_from_cache_or_training(RunContext *ctx, TaskModel *original, const char *path);

int run_original_model(RunContext *ctx, TaskModel *original) {
    const Task *t = &ctx->task;
    if (t->model_init(t, original, (uint64_t)ctx->flags.seed) < 0) return -1;
    if (ctx->flags.original) {
        log_info("original model: %s", ctx->flags.original);
        return load_on_device(ctx, original, ctx->flags.original);
    }
    char path[1100];
    int lock;
    if (run_original_cache_path(ctx, path, sizeof path) < 0 || run_lock_cache_entry(path, &lock) < 0) return -1;
    int rc = original_from_cache_or_training(ctx, original, path);
    file_unlock(lock);
    return rc;
}

static int original_from_cache_or_training(RunContext *ctx, TaskModel *original, const char *path) {
    const Task *t = &ctx->task;
    int exists = rank0_says(comm_is_root() && file_exists(path));
    if (exists) {
        if (rank0_says(comm_is_root() && file_checksum_ok(path))) {
            log_info("original model: cached %s", path);
            return load_on_device(ctx, original, path);
        }
        log_warn("original model: cache entry %s does not match its checksum (damaged or unfinished): rebuilding it",
                 path);
    }
    if (run_apply_init(ctx, original) < 0) return -1;
    run_model_to_device(ctx, original);
    int64_t n = t->n_items[TASK_SPLIT_TRAIN];
    log_info("original model: training %s on all %lld items of D (cached as %s)", ctx->cfg.name, (long long)n, path);
    int64_t *all = xmalloc((size_t)n * sizeof *all);
    for (int64_t k = 0; k < n; k++) all[k] = k;
    TrainStats stats;
    int rc = train_task_model(t, original, all, n, &ctx->recipe, (uint64_t)ctx->flags.seed, &stats);
    free(all);
    if (rc < 0) return error_prefix("training the original model");
    log_info("original model trained: %lld steps in %.1f s, loss %.3f -> %.3f", (long long)stats.steps, stats.seconds,
             stats.first_loss, stats.last_loss);
    if (!comm_is_root()) return 0; /* the ranks hold the same parameters: rank 0 caches them */
    if (make_dirs(RUN_CACHE_DIR) < 0) return -1;
    if (t->model_save(t, original, path) < 0) return -1;
    return file_checksum_write(path);
}

static int retrain_from_cache_or_training(RunContext *ctx, TaskModel *retrained, double *seconds, const char *path);

int run_retrain_model(RunContext *ctx, TaskModel *retrained, double *seconds) {
    const Task *t = &ctx->task;
    if (t->model_init(t, retrained, (uint64_t)ctx->flags.seed) < 0) return -1;
    uint64_t key;
    if (original_cache_key(ctx, &key) < 0) return -1;
    key = fnv1a_bytes(key, ctx->split.dr, (size_t)ctx->split.n_dr * sizeof *ctx->split.dr);
    char path[1100];
    snprintf(path, sizeof path, "%s/retrain-%s-%016llx.safetensors", RUN_CACHE_DIR, ctx->cfg.name,
             (unsigned long long)key);
    int lock;
    if (run_lock_cache_entry(path, &lock) < 0) return -1;
    int rc = retrain_from_cache_or_training(ctx, retrained, seconds, path);
    file_unlock(lock);
    return rc;
}

static int retrain_from_cache_or_training(RunContext *ctx, TaskModel *retrained, double *seconds, const char *path) {
    const Task *t = &ctx->task;
    char time_path[1200];
    snprintf(time_path, sizeof time_path, "%s.seconds", path);
    if (rank0_says(comm_is_root() && file_exists(path))) {
        if (rank0_says(comm_is_root() && file_checksum_ok(path))) {
            log_info("Retrain: cached %s", path);
            *seconds = -1.0;
            FILE *f = fopen(time_path, "r");
            if (f) {
                if (fscanf(f, "%lf", seconds) != 1) *seconds = -1.0;
                fclose(f);
            }
            return load_on_device(ctx, retrained, path);
        }
        log_warn("Retrain: cache entry %s does not match its checksum (damaged or unfinished): rebuilding it", path);
    }
    if (run_apply_init(ctx, retrained) < 0) return -1;
    run_model_to_device(ctx, retrained);
    log_info("Retrain: training %s on the %lld pairs of Dr (cached as %s)", ctx->cfg.name, (long long)ctx->split.n_dr,
             path);
    TrainStats stats;
    if (train_task_model(t, retrained, ctx->split.dr, ctx->split.n_dr, &ctx->recipe, (uint64_t)ctx->flags.seed,
                         &stats) < 0)
        return error_prefix("training Retrain");
    *seconds = stats.seconds;
    log_info("Retrain trained: %lld steps in %.1f s, loss %.3f -> %.3f", (long long)stats.steps, stats.seconds,
             stats.first_loss, stats.last_loss);
    if (!comm_is_root()) return 0;
    if (make_dirs(RUN_CACHE_DIR) < 0) return -1;
    FILE *f = fopen(time_path, "w");
    if (!f) return error_set("%s: cannot write", time_path);
    fprintf(f, "%.3f\n", stats.seconds);
    if (fclose(f) != 0) return error_set("%s: write failed", time_path);
    if (t->model_save(t, retrained, path) < 0) return -1;
    return file_checksum_write(path); /* last: an entry without it is rebuilt */
}

int run_wants_retrain(const RunContext *ctx) {
    if (strcmp(ctx->flags.eval_retrain, "auto") == 0) return ctx->flags.original == NULL;
    return strcmp(ctx->flags.eval_retrain, "on") == 0;
}
