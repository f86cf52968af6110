/* bin/probe: the unimodal utility probe (paper Table 5; spec/unlearning_methods.md
 * §6.4). Logistic-regression probes (L2, C = 1) are fit on the ORIGINAL
 * model's unimodal features — image and text ITC features of the retained
 * pairs Dr — and scored on each other model's features of the test split and
 * of the deleted pairs Df. An unlearning method that keeps unimodal knowledge
 * keeps the original's accuracy. Labels: the synthetic world's object count
 * per scene (eval/scene_labels.h); real retrieval data has no class labels. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/json.h"
#include "core/log.h"
#include "eval/probe.h"
#include "eval/retrieval_eval.h"
#include "eval/scene_labels.h"
#include "models/task_retrieval.h"
#include "programs/run_program.h"

typedef struct {
    double image_test, text_test, image_df, text_df;
} ProbeRow;

/* Rows of `feat` (dim E) picked by idx, with their labels. */
static void gather_rows(const float *feat, int E, const int64_t *idx, int64_t n, float *out) {
    for (int64_t k = 0; k < n; k++) memcpy(out + k * E, feat + idx[k] * E, (size_t)E * sizeof(float));
}

static int embed(Albef *m, const RetrievalSet *s, int batch, RetrievalEmbeddings *e) {
    RetrievalEvalOptions o = retrieval_eval_defaults();
    o.image_batch = o.text_batch = batch;
    o.progress = 0;
    return retrieval_eval_embed_set(m, s, &o, e);
}

int main(int argc, char **argv) {
    RunContext ctx = {0};
    const char *checkpoints, *names, *scenes;
    CliFlag own[] = {
        CLI_FLAG_STRING("checkpoints", &checkpoints, NULL, "comma-separated unlearned checkpoints to probe"),
        CLI_FLAG_STRING("names", &names, NULL, "comma-separated row names (default: model1, model2, ...)"),
        CLI_FLAG_STRING("scenes", &scenes, NULL, "scene facts giving the labels (default: <data>/scenes.json)"),
    };
    run_program_start(&ctx, "probe",
                      "Unimodal utility probe (paper Table 5): logistic-regression probes fit on the original "
                      "model's image and text features of Dr, scored on other models' features of the test split "
                      "and of Df. Labels: the synthetic world's object count per scene.",
                      own, CLI_COUNT(own), NULL, 0, argc, argv);
    char scenes_path[1200];
    snprintf(scenes_path, sizeof scenes_path, "%s", scenes ? scenes : "");
    if (!scenes) snprintf(scenes_path, sizeof scenes_path, "%s/scenes.json", ctx.data_dir);
    int *train_labels = malloc((size_t)ctx.train.split.n_images * sizeof(int));
    int *test_labels = malloc((size_t)ctx.test.split.n_images * sizeof(int));
    CHECK(train_labels && test_labels, "out of memory");
    error_exit_if(scene_labels_for_split(scenes_path, &ctx.train, train_labels));
    error_exit_if(scene_labels_for_split(scenes_path, &ctx.test, test_labels));

    /* Df images are the deleted units; every other training image is Dr's. */
    int64_t n_img = ctx.train.split.n_images, n_txt = ctx.train.split.n_texts;
    char *in_df = calloc((size_t)n_img, 1);
    for (int64_t k = 0; k < ctx.split.n_df; k++) in_df[ctx.train.split.txt2img[ctx.split.df[k]]] = 1;
    int64_t *dr_img = malloc((size_t)n_img * sizeof(int64_t)), *df_img = malloc((size_t)n_img * sizeof(int64_t));
    int64_t n_dr_img = 0, n_df_img = 0;
    for (int64_t i = 0; i < n_img; i++) {
        if (in_df[i]) df_img[n_df_img++] = i;
        else dr_img[n_dr_img++] = i;
    }
    int *y_dr_img = malloc((size_t)n_dr_img * sizeof(int)), *y_df_img = malloc((size_t)(n_df_img + 1) * sizeof(int));
    for (int64_t k = 0; k < n_dr_img; k++) y_dr_img[k] = train_labels[dr_img[k]];
    for (int64_t k = 0; k < n_df_img; k++) y_df_img[k] = train_labels[df_img[k]];
    int *y_dr_txt = malloc((size_t)ctx.split.n_dr * sizeof(int)), *y_df_txt = malloc((size_t)ctx.split.n_df * sizeof(int));
    for (int64_t k = 0; k < ctx.split.n_dr; k++) y_dr_txt[k] = train_labels[ctx.train.split.txt2img[ctx.split.dr[k]]];
    for (int64_t k = 0; k < ctx.split.n_df; k++) y_df_txt[k] = train_labels[ctx.train.split.txt2img[ctx.split.df[k]]];
    int *y_test_txt = malloc((size_t)ctx.test.split.n_texts * sizeof(int));
    for (int64_t t = 0; t < ctx.test.split.n_texts; t++) y_test_txt[t] = test_labels[ctx.test.split.txt2img[t]];
    (void)n_txt;

    /* Fit on θ0's features of Dr (§6.4 item 3). */
    TaskModel original_model;
    error_exit_if(run_original_model(&ctx, &original_model));
    Albef *original = task_albef(&original_model);
    RetrievalEmbeddings e0;
    error_exit_if(embed(original, &ctx.train, ctx.recipe.batch_eval, &e0));
    int E = e0.embed_dim;
    float *x = malloc((size_t)(ctx.split.n_dr > n_img ? ctx.split.n_dr : n_img) * E * sizeof(float));
    gather_rows(e0.image_feat, E, dr_img, n_dr_img, x);
    ProbeModel *image_probe = probe_fit(x, y_dr_img, n_dr_img, E, SCENE_LABEL_CLASSES, NULL);
    gather_rows(e0.text_feat, E, ctx.split.dr, ctx.split.n_dr, x);
    ProbeModel *text_probe = probe_fit(x, y_dr_txt, ctx.split.n_dr, E, SCENE_LABEL_CLASSES, NULL);
    if (!image_probe || !text_probe) error_exit_if(-1);
    retrieval_embeddings_free(&e0);

    /* Score each model (§6.4 items 4-5: the original's own row is the upper bound). */
    char *ckpts = checkpoints ? strdup(checkpoints) : NULL, *labels = names ? strdup(names) : NULL;
    char *save_c = NULL, *save_n = NULL;
    cJSON *out = cJSON_CreateObject();
    printf("\nmodel            image(test)  text(test)   mean(test)  image(Df)  text(Df)\n");
    for (int k = -1;; k++) {
        char fallback[32], *name = NULL, *path = NULL;
        TaskModel m;
        Albef *model = original;
        if (k >= 0) {
            path = ckpts ? strtok_r(k == 0 ? ckpts : NULL, ",", &save_c) : NULL;
            if (!path) break;
            name = labels ? strtok_r(k == 0 ? labels : NULL, ",", &save_n) : NULL;
            snprintf(fallback, sizeof fallback, "model%d", k + 1);
            error_exit_if(ctx.task.model_init(&ctx.task, &m, (uint64_t)ctx.flags.seed));
            error_exit_if(ctx.task.model_load(&ctx.task, &m, path));
            run_model_to_device(&ctx, &m);
            model = task_albef(&m);
        }
        RetrievalEmbeddings test, train;
        error_exit_if(embed(model, &ctx.test, ctx.recipe.batch_eval, &test));
        error_exit_if(embed(model, &ctx.train, ctx.recipe.batch_eval, &train));
        ProbeRow r;
        r.image_test = probe_accuracy(image_probe, test.image_feat, test_labels, test.n_images);
        r.text_test = probe_accuracy(text_probe, test.text_feat, y_test_txt, test.n_texts);
        gather_rows(train.image_feat, E, df_img, n_df_img, x);
        r.image_df = probe_accuracy(image_probe, x, y_df_img, n_df_img);
        gather_rows(train.text_feat, E, ctx.split.df, ctx.split.n_df, x);
        r.text_df = probe_accuracy(text_probe, x, y_df_txt, ctx.split.n_df);
        const char *row = k < 0 ? "original" : (name ? name : fallback);
        printf("%-16s %10.2f %11.2f %12.2f %10.2f %9.2f\n", row, 100 * r.image_test, 100 * r.text_test,
               50 * (r.image_test + r.text_test), 100 * r.image_df, 100 * r.text_df);
        cJSON *j = cJSON_AddObjectToObject(out, row);
        cJSON_AddNumberToObject(j, "image_test", 100 * r.image_test);
        cJSON_AddNumberToObject(j, "text_test", 100 * r.text_test);
        cJSON_AddNumberToObject(j, "mean_test", 50 * (r.image_test + r.text_test));
        cJSON_AddNumberToObject(j, "image_df", 100 * r.image_df);
        cJSON_AddNumberToObject(j, "text_df", 100 * r.text_df);
        retrieval_embeddings_free(&test);
        retrieval_embeddings_free(&train);
        if (k >= 0) ctx.task.model_free(&ctx.task, &m);
        if (!ckpts) break;
    }
    char path[1100];
    error_exit_if(json_write_file(run_path(&ctx, "probe.json", path, sizeof path), out));
    printf("\naccuracy in %% of %d-class probes (object count); written to %s\n", SCENE_LABEL_CLASSES, path);
    cJSON_Delete(out);
    free(ckpts);
    free(labels);
    probe_free(image_probe);
    probe_free(text_probe);
    free(x);
    free(in_df);
    free(dr_img);
    free(df_img);
    free(y_dr_img);
    free(y_df_img);
    free(y_dr_txt);
    free(y_df_txt);
    free(y_test_txt);
    free(train_labels);
    free(test_labels);
    ctx.task.model_free(&ctx.task, &original_model);
    run_free(&ctx);
    return 0;
}
