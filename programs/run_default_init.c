#include "programs/run_default_init.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "core/xalloc.h"
#include "models/task_retrieval.h"

static int is_cls_task(const char *task) { return strcmp(task, "snli_ve") == 0 || strcmp(task, "nlvr2") == 0; }

/* The retrieval config of a classification config: its name less "-ve" / "-nlvr"; 0 if none. */
static int retrieval_config_of(const char *cls_name, char *out, size_t size) {
    static const char *const suffixes[] = {"-ve", "-nlvr"};
    size_t n = strlen(cls_name);
    for (int k = 0; k < 2; k++) {
        size_t s = strlen(suffixes[k]);
        if (n > s && n - s < size && strcmp(cls_name + n - s, suffixes[k]) == 0) {
            memcpy(out, cls_name, n - s);
            out[n - s] = '\0';
            return 1;
        }
    }
    return 0;
}

/* The retrieval original of ctx's world, trained now if its cache entry is
 * absent, and its path: a run context of --task flickr30k with the recipe
 * row as a default run has it (no knobs), so the cache entry is the one
 * `train --task flickr30k` with the same seed, device and world uses. */
static int world_retrieval_original(const RunContext *ctx, const char *config, char *path, size_t size) {
    RunContext *sub = xcalloc(1, sizeof *sub);
    sub->flags = ctx->flags;
    sub->flags.task = "flickr30k";
    sub->flags.model = config;
    sub->flags.init = sub->flags.original = NULL;
    sub->flags.ukr_text = 0;
    sub->program = ctx->program;
    sub->device = ctx->device;
    sub->dir.lock_fd = -1;
    TaskModel m = {0};
    int rc = -1, have_model = 0;
    if (model_config_resolve(config, sub->config_path, sizeof sub->config_path) < 0 ||
        model_config_load(&sub->cfg, sub->config_path) < 0 || recipe_find(sub->cfg.name, "flickr30k", &sub->recipe) < 0 ||
        run_data_load(sub) < 0)
        goto done;
    task_retrieval_init(&sub->task, &sub->cfg, &sub->train, &sub->test, &sub->val);
    sub->config = cJSON_CreateObject();
    cJSON_AddItemToObject(sub->config, "model", model_config_to_json(&sub->cfg));
    log_info("initialisation: the world's retrieval original (%s, --task flickr30k)", config);
    have_model = 1;
    if (run_original_model(sub, &m) < 0 || run_original_cache_path(sub, path, size) < 0) goto done;
    rc = 0;
done:
    if (have_model) sub->task.model_free(&sub->task, &m);
    if (sub->task.free) sub->task.free(&sub->task);
    retrieval_set_free(&sub->train);
    retrieval_set_free(&sub->test);
    retrieval_set_free(&sub->val);
    if (sub->tok) tokenizer_free(sub->tok);
    if (sub->config) cJSON_Delete(sub->config);
    free(sub);
    return rc < 0 ? error_prefix("the world's retrieval original (the default --init of --task %s)", ctx->flags.task)
                  : 0;
}

int run_default_cls_init(RunContext *ctx) {
    const RunFlags *f = &ctx->flags;
    if (!is_cls_task(f->task) || f->init || f->data) return 0;
    if (f->original && !run_wants_retrain(ctx)) return 0; /* nothing is trained here */
    char config[256];
    if (!retrieval_config_of(ctx->cfg.name, config, sizeof config)) {
        log_warn("--task %s: model %s names no retrieval config (<name>-ve / <name>-nlvr): random initialisation",
                 f->task, ctx->cfg.name);
        return 0;
    }
    if (world_retrieval_original(ctx, config, ctx->default_init, sizeof ctx->default_init) < 0) return -1;
    ctx->flags.init = ctx->default_init;
    log_info("initialisation: %s (as --init)", ctx->default_init);
    return 0;
}

const char *run_init_describe(const RunContext *ctx, char *buf, size_t size) {
    const RunFlags *f = &ctx->flags;
    if (f->init && f->init == ctx->default_init)
        snprintf(buf, size, "pretrained: the world's retrieval original %s", f->init);
    else if (f->init)
        snprintf(buf, size, "pretrained weights %s", f->init);
    else if (is_cls_task(f->task) && f->data)
        snprintf(buf, size, "random (seed %d): no --init was given for the user's data (--data), so no pretrained "
                 "weights; the paper starts from a pretrained ALBEF (give --init)", f->seed);
    else
        snprintf(buf, size, "random (seed %d)", f->seed);
    return buf;
}
