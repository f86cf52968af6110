/* bin/retrain (spec/unlearning_methods.md §4.1, the gold standard), run as a
 * program on a tiny world: its model is the original recipe trained on Dr
 * alone from the original's initialisation, i.e. equal to
 * albef_train_retrieval on the retained pairs with the same seed and recipe,
 * and different from the same training on all of D; its report carries the
 * retrain row with the Df metrics, and it refuses --fusion-only. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"
#include "tests/eval_world.h"
#include "models/task_retrieval.h"
#include "tests/test.h"
#include "unlearn/recipe.h"
#include "unlearn/train_loop.h"

#define EPOCHS 3
#define LR 1e-3 /* large enough that three steps on Dr and on D end far apart */

/* The largest |a - b| over two models' online parameters. */
static double max_difference(const Albef *a, const Albef *b) {
    double worst = 0.0;
    for (int64_t k = 0; k < a->params.total; k++)
        worst = fmax(worst, fabs((double)a->params.values[k] - (double)b->params.values[k]));
    return worst;
}

TEST(test_retrain_program_trains_on_dr_alone_from_the_original_initialisation) {
    const char *bin = getenv("MMU_BIN") ? getenv("MMU_BIN") : "bin";
    char tool[512];
    snprintf(tool, sizeof tool, "%s/retrain", bin);
    if (!file_exists(tool)) {
        test_fail(__FILE__, __LINE__, "%s not built (make %s)", tool, tool);
        return;
    }
    Tokenizer *tok = eval_world_tokenizer();
    ASSERT_MSG(tok, "%s", error_message());
    Albef original;
    ASSERT_MSG(eval_world_model(&original, tok, 5) == 0, "%s", error_message());
    RetrievalSet train;
    ASSERT_MSG(eval_world_set(&train, "train", tok, &original.cfg) == 0, "%s", error_message());

    char cfg[512], ckpt[512], list[512], out[512], cmd[8192], path[1024];
    test_tmp_path(cfg, sizeof cfg, "retrain_cfg.json");
    test_tmp_path(ckpt, sizeof ckpt, "retrain_original.safetensors");
    test_tmp_path(list, sizeof list, "retrain_df.txt");
    test_tmp_path(out, sizeof out, "retrain_run");
    /* The tiny test model under the name of a recipe row: albef-base's (no warm-up, so three steps move it) */
    snprintf(original.cfg.name, sizeof original.cfg.name, "albef-base");
    cJSON *cj = model_config_to_json(&original.cfg);
    ASSERT(json_write_file(cfg, cj) == 0);
    cJSON_Delete(cj);
    ASSERT_MSG(albef_save(&original, ckpt) == 0, "%s", error_message());
    /* Df: images 3 and 7 (ids 1000003, 1000007), all their captions */
    FILE *f = fopen(list, "w");
    ASSERT(f);
    fprintf(f, "%d\n%d\n", 1000003, 1000007);
    fclose(f);
    /* run in a directory of its own: Retrain is cached under <cwd>/runs/cache */
    char work[512], abs_tool[1024];
    test_tmp_path(work, sizeof work, "retrain_cwd");
    ASSERT(make_dirs(work) == 0);
    ASSERT(realpath(tool, abs_tool) != NULL);
    snprintf(cmd, sizeof cmd,
             "cd %s && OMP_NUM_THREADS=1 %s --model %s --data %s --original %s --df-list %s --df-size 2 --epochs %d "
             "--lr %g --k-test 4 --out %s 2>&1",
             work, abs_tool, cfg, eval_world_dir(), ckpt, list, EPOCHS, LR, out);
    int status;
    char *log = test_run_command(cmd, &status);
    ASSERT(log);
    ASSERT_MSG(status == 0, "status %d: %s", status, log);
    ASSERT_STR_CONTAINS(log, "retraining on Dr: 50 pairs");
    ASSERT_STR_CONTAINS(log, "Retrain: training");
    free(log);
    /* a second run (into another run directory) takes the cached model */
    char cmd2[8300];
    snprintf(cmd2, sizeof cmd2, "%s", cmd);
    char *o = strstr(cmd2, " --out ");
    ASSERT(o);
    snprintf(o, sizeof cmd2 - (size_t)(o - cmd2), " --out %s_again 2>&1", out);
    log = test_run_command(cmd2, &status);
    ASSERT(log);
    ASSERT_MSG(status == 0, "status %d: %s", status, log);
    ASSERT_STR_CONTAINS(log, "Retrain: cached");
    free(log);

    /* The same training in process: the program's recipe, seed and initialisation on Dr. */
    int64_t n = train.split.n_texts, n_dr = 0;
    int64_t *dr = malloc((size_t)n * sizeof *dr), *all = malloc((size_t)n * sizeof *all);
    ASSERT(dr && all);
    for (int64_t t = 0; t < n; t++) {
        all[t] = t;
        int64_t img = train.split.txt2img[t];
        if (img != 3 && img != 7) dr[n_dr++] = t;
    }
    ASSERT_EQ_INT(n_dr, 50);
    Recipe recipe = recipe_get(original.cfg.name, "flickr30k");
    recipe.epochs = EPOCHS;
    recipe.init_lr = LR;
    Albef want, on_d, got;
    TrainStats ts;
    Task task;
    task_retrieval_init(&task, &original.cfg, &train, NULL, NULL);
    albef_init(&want, &original.cfg, 42);
    albef_init(&on_d, &original.cfg, 42);
    TaskModel t_want = task_retrieval_wrap(&want), t_on_d = task_retrieval_wrap(&on_d);
    ASSERT_MSG(train_task_model(&task, &t_want, dr, n_dr, &recipe, 42, &ts) == 0, "%s", error_message());
    ASSERT_MSG(train_task_model(&task, &t_on_d, all, n, &recipe, 42, &ts) == 0, "%s", error_message());
    albef_init(&got, &original.cfg, 1);
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    ASSERT_MSG(albef_load(&got, path) == 0, "%s", error_message());
    double to_dr = max_difference(&got, &want), to_d = max_difference(&got, &on_d);
    ASSERT_MSG(to_dr < 1e-5, "bin/retrain's weights differ from training on Dr by %g", to_dr);
    ASSERT_MSG(to_d > 1e-3, "bin/retrain's weights are within %g of training on all of D", to_d);

    /* The report: the original and the retrain row, Df measured on both */
    snprintf(path, sizeof path, "%s/metrics.json", out);
    cJSON *metrics = json_read_file(path);
    ASSERT_MSG(metrics, "%s", error_message());
    char *text = cJSON_PrintUnformatted(metrics);
    ASSERT_STR_CONTAINS(text, "\"retrain\"");
    ASSERT_STR_CONTAINS(text, "\"original\"");
    ASSERT_STR_CONTAINS(text, "\"df_vs_unseen\"");
    free(text);
    cJSON_Delete(metrics);

    snprintf(cmd, sizeof cmd, "cd %s && %s --fusion-only --model %s --data %s --original %s --df-size 2 --out %s_f 2>&1",
             work, abs_tool, cfg, eval_world_dir(), ckpt, out);
    log = test_run_command(cmd, &status);
    ASSERT(log);
    ASSERT_MSG(status != 0 && status != 127, "--fusion-only: status %d", status);
    ASSERT_STR_CONTAINS(log, "no -F variant");
    free(log);

    albef_free(&want);
    albef_free(&on_d);
    albef_free(&got);
    albef_free(&original);
    free(dr), free(all);
    retrieval_set_free(&train);
    tokenizer_free(tok);
}
