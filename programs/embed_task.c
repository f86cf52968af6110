/* bin/embed --task T: what a model of any task gives each item, as the
 * unlearning methods and the metrics read it (models/task.h): the image-side
 * (or graph) features, the text-side features, the fused representation z
 * that L_MD moves (spec/unlearning_methods.md §5.2) and the class
 * probabilities the Df AUC and the MI attacker rank (§6.2-6.3), for the
 * items of the splits asked for: Df and Dr of the run's deletion request
 * (--df-size / --df-list, --seed as every program), the training, test or
 * validation split. The model is --checkpoint, else θ0 (--original, or the
 * original the programs train once and cache).
 *
 * Output: <run>/embeddings.safetensors, for each split S:
 *   S.items I64 [n]     the items' indices in their split (Df, Dr: training items)
 *   S.labels I32 [n]    the class labels (classification tasks)
 *   S.image_feat [n, Di], S.text_feat [n, Dt], S.fused [n, Dz], S.probs [n, C]  (F32)
 * metadata: task, splits, model (the resolved config JSON), checkpoint. */
#include "programs/embed_task.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/finite.h"
#include "core/log.h"
#include "core/safetensors.h"
#include "core/xalloc.h"
#include "eval/item_representations.h"
#include "programs/run_program.h"

#define MAX_SPLITS 5

typedef struct {
    char name[8];
    TaskSplit split;
    int64_t *items, n;
    int32_t *labels; /* NULL without labels */
    ItemRepresentations rep;
    float *probs;
    int64_t shape[6][2]; /* items, labels, image, text, fused, probs */
} SplitOut;

static const char *splits;
static char split_names[MAX_SPLITS][8];
static int n_split_names;

/* --splits into split_names, before the run is set up: known names, none empty or twice. */
static int parse_splits(void) {
    static const char *const known[] = {"df", "dr", "train", "test", "val"};
    const int n_known = (int)(sizeof known / sizeof known[0]);
    n_split_names = 0;
    for (const char *p = splits;; p++) {
        size_t len = strcspn(p, ",");
        int k = 0;
        while (k < n_known && (strlen(known[k]) != len || strncmp(p, known[k], len) != 0)) k++;
        if (k == n_known)
            return error_set("--splits \"%s\": \"%.*s\" is not a split (df, dr, train, test, val)", splits, (int)len, p);
        for (int j = 0; j < n_split_names; j++)
            if (strcmp(split_names[j], known[k]) == 0)
                return error_set("--splits \"%s\": %s is listed twice", splits, known[k]);
        snprintf(split_names[n_split_names++], sizeof split_names[0], "%s", known[k]);
        p += len;
        if (!*p) return 0;
    }
}

/* The items of split `name` (one of parse_splits' names), or -1 naming what is wrong. */
static int split_items(const RunContext *ctx, const char *name, SplitOut *s) {
    const Task *t = &ctx->task;
    snprintf(s->name, sizeof s->name, "%.7s", name);
    const int64_t *from = NULL;
    if (strcmp(name, "df") == 0 || strcmp(name, "dr") == 0) {
        int df = name[1] == 'f';
        s->split = TASK_SPLIT_TRAIN;
        from = df ? ctx->split.df : ctx->split.dr;
        s->n = df ? ctx->split.n_df : ctx->split.n_dr;
    } else {
        s->split = name[1] == 'r' ? TASK_SPLIT_TRAIN : name[1] == 'e' ? TASK_SPLIT_TEST : TASK_SPLIT_VAL;
        s->n = t->n_items[s->split];
    }
    if (s->n < 1) return error_set("--splits %s: the %s task's data has no items there", name, t->name);
    s->items = xmalloc((size_t)s->n * sizeof *s->items);
    for (int64_t k = 0; k < s->n; k++) s->items[k] = from ? from[k] : k;
    if (!t->item_label) return 0;
    s->labels = xmalloc((size_t)s->n * sizeof *s->labels);
    for (int64_t k = 0; k < s->n; k++)
        if ((s->labels[k] = t->item_label(t, s->split, s->items[k])) < 0) return error_prefix("--splits %s", name);
    return 0;
}

/* A non-finite representation is written as if it were one only when asked for (DESIGN.md "Nothing silently
 * wrong"): name the tensor, the item and the value. */
static int check_finite(const char *split, const char *what, const float *x, int64_t rows, int64_t cols,
                        const int64_t *items, int allow) {
    int64_t bad = finite_first_bad_f32(x, rows * cols);
    if (bad < 0) return 0;
    if (allow) {
        log_warn("%s.%s: item %lld holds a non-finite value (written: --allow-nonfinite)", split, what,
                 (long long)items[bad / cols]);
        return 0;
    }
    return error_set("%s.%s: item %lld holds %g: the model's outputs are not finite (--allow-nonfinite writes them "
                     "anyway)", split, what, (long long)items[bad / cols], (double)x[bad]);
}

static int embed_split(const RunContext *ctx, TaskModel *m, SplitOut *s) {
    const Task *t = &ctx->task;
    const int batch = ctx->recipe.batch_eval;
    if (item_representations(t, m, s->split, s->items, s->n, batch, ITEM_REP_IMAGE | ITEM_REP_TEXT | ITEM_REP_FUSED,
                             &s->rep) < 0)
        return error_prefix("--splits %s", s->name);
    s->probs = xmalloc((size_t)s->n * (size_t)t->n_classes * sizeof *s->probs);
    if (t->item_probs(t, m, s->split, s->items, s->n, batch, s->probs) < 0) return error_prefix("--splits %s", s->name);
    const struct {
        const char *what;
        const float *x;
        int cols;
    } outs[] = {{"image_feat", s->rep.image, s->rep.image_dim}, {"text_feat", s->rep.text, s->rep.text_dim},
                {"fused", s->rep.fused, s->rep.fused_dim}, {"probs", s->probs, t->n_classes}};
    for (size_t k = 0; k < sizeof outs / sizeof *outs; k++)
        if (check_finite(s->name, outs[k].what, outs[k].x, s->n, outs[k].cols, s->items, ctx->flags.allow_nonfinite) < 0)
            return -1;
    return 0;
}

/* Up to 6 tensors of one split into t[]; returns how many. */
static int split_tensors(const Task *task, SplitOut *s, char names[6][32], StWriteTensor *t) {
    const char *what[6] = {"items", "labels", "image_feat", "text_feat", "fused", "probs"};
    const StDType dt[6] = {ST_I64, ST_I32, ST_F32, ST_F32, ST_F32, ST_F32};
    const void *data[6] = {s->items, s->labels, s->rep.image, s->rep.text, s->rep.fused, s->probs};
    const int64_t cols[6] = {0, 0, s->rep.image_dim, s->rep.text_dim, s->rep.fused_dim, task->n_classes};
    int count = 0;
    for (int k = 0; k < 6; k++) {
        if (!data[k]) continue;
        snprintf(names[k], 32, "%.7s.%.16s", s->name, what[k]);
        s->shape[k][0] = s->n, s->shape[k][1] = cols[k];
        t[count++] = (StWriteTensor){names[k], dt[k], cols[k] ? 2 : 1, s->shape[k], data[k]};
    }
    return count;
}

int embed_task_main(int argc, char **argv) {
    RunContext ctx = {.check_flags = parse_splits};
    CliFlag own[] = {
        CLI_FLAG_STRING("checkpoint", &ctx.flags.checkpoints, NULL,
                        "the task's checkpoint to embed (default: the original, --original or the cached one)"),
        CLI_FLAG_STRING("splits", &splits, "df,test", "comma-separated: df, dr (the deletion request's), train, test, val"),
    };
    run_program_start(&ctx, "embed",
                      "With --task: writes each item's image-side (or graph), text-side and fused representations "
                      "and class probabilities, as the unlearning methods and metrics read them, for Df, Dr or a "
                      "split of the task's data. Without --task: the ALBEF image/caption lists mode (bin/embed "
                      "--help without --task).",
                      own, CLI_COUNT(own), NULL, 0, argc, argv);
    const Task *t = &ctx.task;
    SplitOut s[MAX_SPLITS];
    memset(s, 0, sizeof s);
    const int n_splits = n_split_names;
    for (int k = 0; k < n_splits; k++) error_exit_if(split_items(&ctx, split_names[k], &s[k]));

    TaskModel m;
    const char *checkpoint = ctx.flags.checkpoints;
    if (checkpoint) {
        error_exit_if(t->model_init(t, &m, (uint64_t)ctx.flags.seed));
        if (t->model_load(t, &m, checkpoint) < 0) error_exit_if(error_prefix("--checkpoint"));
        run_model_to_device(&ctx, &m);
    } else {
        error_exit_if(run_original_model(&ctx, &m));
    }
    StWriteTensor tensors[6 * MAX_SPLITS];
    char names[MAX_SPLITS][6][32];
    int count = 0;
    for (int k = 0; k < n_splits; k++) {
        error_exit_if(embed_split(&ctx, &m, &s[k]));
        count += split_tensors(t, &s[k], names[k], tensors + count);
    }
    cJSON *model = cJSON_GetObjectItem(ctx.config, "model");
    char *model_text = cJSON_PrintUnformatted(model);
    StMetaEntry meta[] = {{"task", (char *)ctx.flags.task},
                          {"splits", (char *)splits},
                          {"model", model_text},
                          {"checkpoint", (char *)(checkpoint ? checkpoint : "original")}};
    char path[1100];
    error_exit_if(safetensors_write(run_path(&ctx, "embeddings.safetensors", path, sizeof path), tensors, count, meta,
                                    4));
    /* the run directory is renamed into place by run_free: name the final path */
    printf("%s/embeddings.safetensors: %s, model %s\n", ctx.out_dir, t->name, checkpoint ? checkpoint : "the original");
    for (int k = 0; k < n_splits; k++)
        printf("  %-5s %6lld items: image side %d, text side %d, fused %d, %d class probabilities%s\n", s[k].name,
               (long long)s[k].n, s[k].rep.image_dim, s[k].rep.text_dim, s[k].rep.fused_dim, t->n_classes,
               s[k].labels ? ", labels" : "");
    free(model_text);
    for (int k = 0; k < n_splits; k++) {
        free(s[k].items), free(s[k].labels), free(s[k].probs);
        item_representations_free(&s[k].rep);
    }
    t->model_free(t, &m);
    run_free(&ctx);
    return 0;
}
