/* bin/probe: the unimodal utility probe (paper Table 5; spec/unlearning_methods.md
 * §6.4). Logistic-regression probes (L2, C = 1) are fit on the ORIGINAL
 * model's unimodal features (Task.sides: image_feat and text_feat, through
 * eval/unimodal_features.h) of the retained items Dr, and scored on each other
 * model's features of the test split and of the deleted items Df. An
 * unlearning method that keeps unimodal knowledge keeps the original's
 * accuracy. Labels: a classification task's own (Task.item_label); retrieval
 * has none, so the synthetic world's object count per scene
 * (eval/scene_labels.h), one image row per image. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/json.h"
#include "core/log.h"
#include "core/xalloc.h"
#include "eval/probe.h"
#include "eval/scene_labels.h"
#include "eval/unimodal_features.h"
#include "programs/run_program.h"

/* The rows of one split. Image rows are units: a retrieval split's images
 * (each read through its first caption, in image order, as the image pass of
 * the retrieval evaluation batches them), a classification split's items.
 * Text rows are the split's items. */
typedef struct {
    int64_t n_units, n_items;
    int64_t *unit_item; /* [n_units] the item whose image side stands for the unit */
    int *unit_y;        /* [n_units] */
    int64_t *item_unit; /* [n_items] */
    int *item_y;        /* [n_items] */
} SplitRows;

static void rows_free(SplitRows *r) {
    free(r->unit_item), free(r->unit_y), free(r->item_unit), free(r->item_y);
}

static int retrieval_rows(const RetrievalSet *s, const char *scenes, SplitRows *r) {
    r->n_units = s->split.n_images, r->n_items = s->split.n_texts;
    r->unit_item = xmalloc((size_t)r->n_units * sizeof *r->unit_item);
    r->unit_y = xmalloc((size_t)r->n_units * sizeof *r->unit_y);
    r->item_unit = xmalloc((size_t)r->n_items * sizeof *r->item_unit);
    r->item_y = xmalloc((size_t)r->n_items * sizeof *r->item_y);
    if (scene_labels_for_split(scenes, s, r->unit_y) < 0) return -1;
    for (int64_t i = 0; i < r->n_units; i++) r->unit_item[i] = -1;
    for (int64_t k = r->n_items - 1; k >= 0; k--) {
        r->item_unit[k] = s->split.txt2img[k];
        r->item_y[k] = r->unit_y[r->item_unit[k]];
        r->unit_item[r->item_unit[k]] = k;
    }
    for (int64_t i = 0; i < r->n_units; i++)
        if (r->unit_item[i] < 0) return error_set("probe: image %lld has no caption", (long long)i);
    return 0;
}

static int labelled_rows(const Task *t, TaskSplit split, SplitRows *r) {
    r->n_units = r->n_items = t->n_items[split];
    r->unit_item = xmalloc((size_t)(r->n_items + 1) * sizeof *r->unit_item);
    r->unit_y = xmalloc((size_t)(r->n_items + 1) * sizeof *r->unit_y);
    r->item_unit = xmalloc((size_t)(r->n_items + 1) * sizeof *r->item_unit);
    r->item_y = xmalloc((size_t)(r->n_items + 1) * sizeof *r->item_y);
    for (int64_t k = 0; k < r->n_items; k++) {
        int32_t y = t->item_label(t, split, k);
        if (y < 0) return -1;
        r->unit_item[k] = r->item_unit[k] = k;
        r->unit_y[k] = r->item_y[k] = y;
    }
    return 0;
}

/* Features of every unit (image side) and every item (text side) of a split. */
typedef struct {
    float *image, *text;
    int image_dim, text_dim;
} SplitFeatures;

static int split_features(const Task *t, TaskModel *m, TaskSplit split, const SplitRows *r, int batch,
                          SplitFeatures *f) {
    int64_t *all = xmalloc((size_t)r->n_items * sizeof *all);
    for (int64_t k = 0; k < r->n_items; k++) all[k] = k;
    f->text = unimodal_features(t, m, split, all, r->n_items, batch, UNIMODAL_TEXT, &f->text_dim);
    f->image = unimodal_features(t, m, split, r->unit_item, r->n_units, batch, UNIMODAL_IMAGE, &f->image_dim);
    free(all);
    return f->text && f->image ? 0 : -1;
}

static void features_free(SplitFeatures *f) { free(f->image), free(f->text); }

/* Rows `idx` of feat (dim D) and their labels. */
static void gather(const float *feat, int D, const int *y, const int64_t *idx, int64_t n, float *x_out, int *y_out) {
    for (int64_t k = 0; k < n; k++) {
        memcpy(x_out + k * D, feat + idx[k] * D, (size_t)D * sizeof(float));
        y_out[k] = y[idx[k]];
    }
}

typedef struct {
    int64_t *idx, n;
} Index;

typedef struct {
    double image_test, text_test, image_df, text_df;
} ProbeRow;

static double score(const ProbeModel *p, const float *feat, int D, const int *y, Index ix) {
    float *x = xmalloc((size_t)(ix.n + 1) * (size_t)D * sizeof *x);
    int *yy = xmalloc((size_t)(ix.n + 1) * sizeof *yy);
    gather(feat, D, y, ix.idx, ix.n, x, yy);
    double acc = probe_accuracy(p, x, yy, ix.n);
    free(x), free(yy);
    return acc;
}

int main(int argc, char **argv) {
    RunContext ctx = {0};
    const char *names, *scenes;
    CliFlag own[] = {
        CLI_FLAG_STRING("checkpoints", &ctx.flags.checkpoints, NULL, "comma-separated unlearned checkpoints to probe"),
        CLI_FLAG_STRING("names", &names, NULL, "comma-separated row names (default: model1, model2, ...)"),
        CLI_FLAG_STRING("scenes", &scenes, NULL,
                        "retrieval: scene facts giving the labels (default: <data>/scenes.json)"),
    };
    run_program_start(&ctx, "probe",
                      "Unimodal utility probe (paper Table 5): logistic-regression probes fit on the original "
                      "model's image and text features of Dr, scored on other models' features of the test split "
                      "and of Df. Labels: the task's classes; for retrieval the synthetic world's object count "
                      "per scene.",
                      own, CLI_COUNT(own), NULL, 0, argc, argv);
    const char *checkpoints = ctx.flags.checkpoints;
    const Task *t = &ctx.task;
    SplitRows train = {0}, test = {0};
    int n_classes;
    if (t->item_label) {
        n_classes = t->n_classes;
        error_exit_if(labelled_rows(t, TASK_SPLIT_TRAIN, &train));
        error_exit_if(labelled_rows(t, TASK_SPLIT_TEST, &test));
    } else {
        char scenes_path[1200];
        snprintf(scenes_path, sizeof scenes_path, "%s", scenes ? scenes : "");
        if (!scenes) snprintf(scenes_path, sizeof scenes_path, "%s/scenes.json", ctx.data_dir);
        n_classes = SCENE_LABEL_CLASSES;
        error_exit_if(retrieval_rows(&ctx.train, scenes_path, &train));
        error_exit_if(retrieval_rows(&ctx.test, scenes_path, &test));
    }

    /* Units with a Df item are the deleted ones; every other training unit is Dr's. */
    char *in_df = xcalloc((size_t)train.n_units + 1, 1);
    for (int64_t k = 0; k < ctx.split.n_df; k++) in_df[train.item_unit[ctx.split.df[k]]] = 1;
    Index dr_units = {xmalloc((size_t)(train.n_units + 1) * sizeof(int64_t)), 0};
    Index df_units = {xmalloc((size_t)(train.n_units + 1) * sizeof(int64_t)), 0};
    for (int64_t u = 0; u < train.n_units; u++) {
        Index *ix = in_df[u] ? &df_units : &dr_units;
        ix->idx[ix->n++] = u;
    }
    Index dr_items = {ctx.split.dr, ctx.split.n_dr}, df_items = {ctx.split.df, ctx.split.n_df};
    Index test_units = {xmalloc((size_t)(test.n_units + 1) * sizeof(int64_t)), test.n_units};
    Index test_items = {xmalloc((size_t)(test.n_items + 1) * sizeof(int64_t)), test.n_items};
    for (int64_t u = 0; u < test.n_units; u++) test_units.idx[u] = u;
    for (int64_t k = 0; k < test.n_items; k++) test_items.idx[k] = k;

    /* Fit on θ0's features of Dr (§6.4 item 3). */
    TaskModel original_model;
    error_exit_if(run_original_model(&ctx, &original_model));
    const int batch = ctx.recipe.batch_eval;
    SplitFeatures f0;
    error_exit_if(split_features(t, &original_model, TASK_SPLIT_TRAIN, &train, batch, &f0));
    int64_t rows = dr_units.n > dr_items.n ? dr_units.n : dr_items.n;
    int D = f0.image_dim > f0.text_dim ? f0.image_dim : f0.text_dim;
    float *x = xmalloc((size_t)(rows + 1) * (size_t)D * sizeof *x);
    int *y = xmalloc((size_t)(rows + 1) * sizeof *y);
    gather(f0.image, f0.image_dim, train.unit_y, dr_units.idx, dr_units.n, x, y);
    ProbeModel *image_probe = probe_fit(x, y, dr_units.n, f0.image_dim, n_classes, NULL);
    gather(f0.text, f0.text_dim, train.item_y, dr_items.idx, dr_items.n, x, y);
    ProbeModel *text_probe = probe_fit(x, y, dr_items.n, f0.text_dim, n_classes, NULL);
    if (!image_probe || !text_probe) error_exit_if(-1);
    features_free(&f0);
    free(x), free(y);

    /* Score each model (§6.4 items 4-5: the original's own row is the upper bound). */
    char *ckpts = checkpoints ? strdup(checkpoints) : NULL, *labels = names ? strdup(names) : NULL;
    char *save_c = NULL, *save_n = NULL;
    cJSON *out = cJSON_CreateObject();
    printf("\nmodel            image(test)  text(test)   mean(test)  image(Df)  text(Df)\n");
    for (int k = -1;; k++) {
        char fallback[32], *name = NULL, *path = NULL;
        TaskModel m, *model = &original_model;
        if (k >= 0) {
            path = ckpts ? strtok_r(k == 0 ? ckpts : NULL, ",", &save_c) : NULL;
            if (!path) break;
            name = labels ? strtok_r(k == 0 ? labels : NULL, ",", &save_n) : NULL;
            snprintf(fallback, sizeof fallback, "model%d", k + 1);
            error_exit_if(t->model_init(t, &m, (uint64_t)ctx.flags.seed));
            error_exit_if(t->model_load(t, &m, path));
            run_model_to_device(&ctx, &m);
            model = &m;
        }
        SplitFeatures ft, fr;
        error_exit_if(split_features(t, model, TASK_SPLIT_TEST, &test, batch, &ft));
        error_exit_if(split_features(t, model, TASK_SPLIT_TRAIN, &train, batch, &fr));
        ProbeRow r = {
            .image_test = score(image_probe, ft.image, ft.image_dim, test.unit_y, test_units),
            .text_test = score(text_probe, ft.text, ft.text_dim, test.item_y, test_items),
            .image_df = score(image_probe, fr.image, fr.image_dim, train.unit_y, df_units),
            .text_df = score(text_probe, fr.text, fr.text_dim, train.item_y, df_items),
        };
        const char *row = k < 0 ? "original" : (name ? name : fallback);
        printf("%-16s %10.2f %11.2f %12.2f %10.2f %9.2f\n", row, 100 * r.image_test, 100 * r.text_test,
               50 * (r.image_test + r.text_test), 100 * r.image_df, 100 * r.text_df);
        cJSON *j = cJSON_AddObjectToObject(out, row);
        cJSON_AddNumberToObject(j, "image_test", 100 * r.image_test);
        cJSON_AddNumberToObject(j, "text_test", 100 * r.text_test);
        cJSON_AddNumberToObject(j, "mean_test", 50 * (r.image_test + r.text_test));
        cJSON_AddNumberToObject(j, "image_df", 100 * r.image_df);
        cJSON_AddNumberToObject(j, "text_df", 100 * r.text_df);
        features_free(&ft);
        features_free(&fr);
        if (k >= 0) t->model_free(t, &m);
        if (!ckpts) break;
    }
    char path[1100];
    error_exit_if(json_write_file(run_path(&ctx, "probe.json", path, sizeof path), out));
    /* the run directory is renamed into place by run_free: name the final path */
    printf("\naccuracy in %% of %d-class probes (%s); written to %s/probe.json\n", n_classes,
           t->item_label ? "the task's classes" : "object count", ctx.out_dir);
    cJSON_Delete(out);
    free(ckpts), free(labels);
    probe_free(image_probe);
    probe_free(text_probe);
    free(in_df), free(dr_units.idx), free(df_units.idx), free(test_units.idx), free(test_items.idx);
    rows_free(&train);
    rows_free(&test);
    t->model_free(t, &original_model);
    run_free(&ctx);
    return 0;
}
