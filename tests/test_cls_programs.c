/* The method programs on the classification tasks (SNLI-VE, NLVR2), run as
 * programs on a tiny world: bin/unlearn_multidelete trains and caches the
 * original and Retrain and reports the classification evaluation (Dt
 * accuracy, the class-column Df AUCs, Df vs unseen, MI) for original,
 * retrain and multidelete; bin/retrain takes the same Retrain from the cache
 * (one per deletion request) and reports its row with the same numbers; and
 * bin/evaluate, given the two checkpoints, reproduces both rows exactly. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"
#include "data/synth_image_text.h"
#include "tests/test.h"

static const char *world(void) {
    static char dir[512];
    if (!dir[0]) {
        SynthImageTextOptions o = synth_image_text_defaults();
        o.train_images = 30; /* SNLI-VE 180 items, NLVR2 60 */
        o.val_images = 6;
        o.test_images = 6;
        o.image_size = 32;
        o.vocab_size = 300;
        test_tmp_path(dir, sizeof dir, "cls_programs_world");
        CHECK(synth_image_text_write(&o, dir) == 0, "%s", error_message());
    }
    return dir;
}

static double number(const cJSON *o, const char *name) {
    const cJSON *v = cJSON_GetObjectItem(o, name);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* The row of `model` in <run>/metrics.json (the root is returned for freeing). */
static const cJSON *row_of(const char *run, const char *model, cJSON **root) {
    char path[1100];
    snprintf(path, sizeof path, "%s/metrics.json", run);
    *root = json_read_file(path);
    return *root ? cJSON_GetObjectItem(cJSON_GetObjectItem(*root, "models"), model) : NULL;
}

/* A classification row: accuracy and per-class accuracy in [0, 100], n_aucs
 * AUCs whose mean gives Df_reported and whose range gives Df_min/Df_max. */
static void check_row(const cJSON *r, int n_classes, int n_aucs) {
    ASSERT(r != NULL);
    double acc = number(r, "accuracy");
    ASSERT_MSG(acc >= 0 && acc <= 100, "accuracy %g", acc);
    ASSERT_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(r, "class_accuracy")), n_classes);
    const cJSON *aucs = cJSON_GetObjectItem(r, "Df_class_aucs");
    ASSERT_EQ_INT(cJSON_GetArraySize(aucs), n_aucs);
    double sum = 0.0, lo = INFINITY, hi = -INFINITY;
    for (int k = 0; k < n_aucs; k++) {
        double a = cJSON_GetArrayItem(aucs, k)->valuedouble;
        sum += a;
        lo = fmin(lo, 100.0 * (1.0 - a));
        hi = fmax(hi, 100.0 * (1.0 - a));
    }
    ASSERT_NEAR(number(r, "Df_reported"), 100.0 * (1.0 - sum / n_aucs), 1e-6);
    ASSERT_NEAR(number(r, "Df_min"), lo, 1e-6);
    ASSERT_NEAR(number(r, "Df_max"), hi, 1e-6);
    ASSERT(isfinite(number(r, "df_vs_unseen")));
    ASSERT(isfinite(number(r, "mi_ratio")));
    ASSERT(cJSON_GetObjectItem(r, "TR@1") == NULL); /* no retrieval columns */
}

static void same_metrics(const cJSON *a, const cJSON *b) {
    ASSERT(a && b);
    const char *keys[] = {"accuracy", "Df_reported", "Df_min", "Df_max", "df_vs_unseen", "dr_vs_unseen"};
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
        ASSERT_MSG(number(a, keys[k]) == number(b, keys[k]), "%s: %.17g vs %.17g", keys[k], number(a, keys[k]),
                   number(b, keys[k]));
}

static void check_task(const char *task, int n_classes, int df_size) {
    const char *bin = getenv("MMU_BIN") ? getenv("MMU_BIN") : "bin";
    char abs_bin[1024], work[512], md[600], rt[600], ev[600], cmd[8192], path[1200];
    ASSERT(realpath(bin, abs_bin) != NULL);
    const int n_aucs = 5 * (n_classes == 2 ? 1 : n_classes);
    char name[64];
    snprintf(name, sizeof name, "cls_programs_%s", task);
    test_tmp_path(work, sizeof work, name); /* the caches go under <work>/runs/cache */
    ASSERT(make_dirs(work) == 0);
    snprintf(md, sizeof md, "%s/md", work);
    snprintf(rt, sizeof rt, "%s/retrain", work);
    snprintf(ev, sizeof ev, "%s/evaluate", work);
    char common[2048];
    snprintf(common, sizeof common, "--task %s --data %s --df-size %d", task, world(), df_size);

    snprintf(cmd, sizeof cmd, "cd %s && OMP_NUM_THREADS=1 %s/unlearn_multidelete %s --epochs 2 --select-from 1 --out %s 2>&1",
             work, abs_bin, common, md);
    int status;
    char *log = test_run_command(cmd, &status);
    ASSERT(log);
    ASSERT_MSG(status == 0, "%s: status %d: %s", cmd, status, log);
    ASSERT_STR_CONTAINS(log, "Dt acc");
    ASSERT_STR_CONTAINS(log, "Retrain: training");
    ASSERT_STR_CONTAINS(log, "model selection: epoch"); /* selection on the validation split ran */
    free(log);
    cJSON *m_md, *m_rt, *m_ev;
    const cJSON *md_orig = row_of(md, "original", &m_md);
    ASSERT_MSG(m_md, "%s", error_message());
    ASSERT_STR_CONTAINS(cJSON_GetStringValue(cJSON_GetObjectItem(m_md, "task_kind")), "classification");
    ASSERT_EQ_INT((int)number(m_md, "n_classes"), n_classes);
    check_row(md_orig, n_classes, n_aucs);
    /* the model selection's candidates were scored by validation accuracy */
    const cJSON *sel = cJSON_GetObjectItem(cJSON_GetObjectItem(m_md, "method_details"), "model_selection");
    const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItem(sel, "candidates"), 0);
    double val_acc = number(first, "val_accuracy");
    ASSERT_MSG(val_acc >= 0 && val_acc <= 100, "val_accuracy %g", val_acc);
    const cJSON *md_retrain = cJSON_GetObjectItem(cJSON_GetObjectItem(m_md, "models"), "retrain");
    const cJSON *md_md = cJSON_GetObjectItem(cJSON_GetObjectItem(m_md, "models"), "multidelete");
    check_row(md_retrain, n_classes, n_aucs);
    check_row(md_md, n_classes, n_aucs);
    /* the score files: one column per scored class column and model */
    snprintf(path, sizeof path, "%s/scores_df.csv", md);
    FILE *f = fopen(path, "r");
    char header[1024] = "";
    ASSERT(f && fgets(header, sizeof header, f));
    fclose(f);
    ASSERT_STR_CONTAINS(header, n_classes == 2 ? "original:p1,retrain:p1" : "original:p0,original:p1,original:p2");
    snprintf(path, sizeof path, "%s/report.md", md);
    char *report = file_read_all(path, NULL);
    ASSERT(report);
    ASSERT_STR_CONTAINS(report, "| model | Dt accuracy |");
    free(report);

    /* bin/retrain: the same deletion request, so the same cached Retrain and the same row */
    snprintf(cmd, sizeof cmd, "cd %s && OMP_NUM_THREADS=1 %s/retrain %s --out %s 2>&1", work, abs_bin, common, rt);
    log = test_run_command(cmd, &status);
    ASSERT(log);
    ASSERT_MSG(status == 0, "%s: status %d: %s", cmd, status, log);
    ASSERT_STR_CONTAINS(log, "Retrain: cached");
    free(log);
    const cJSON *rt_retrain = row_of(rt, "retrain", &m_rt);
    ASSERT_MSG(m_rt, "%s", error_message());
    same_metrics(rt_retrain, md_retrain);

    /* bin/evaluate of the two checkpoints against the cached original: the same rows */
    char original[1100] = "";
    snprintf(cmd, sizeof cmd, "ls %s/runs/cache/original-*.safetensors", work);
    log = test_run_command(cmd, &status);
    ASSERT(log && status == 0);
    sscanf(log, "%1099s", original);
    free(log);
    snprintf(cmd, sizeof cmd,
             "cd %s && OMP_NUM_THREADS=1 %s/evaluate %s --original %s --checkpoints %s/model.safetensors,%s/model.safetensors "
             "--names multidelete,retrain --out %s 2>&1",
             work, abs_bin, common, original, md, rt, ev);
    log = test_run_command(cmd, &status);
    ASSERT(log);
    ASSERT_MSG(status == 0, "%s: status %d: %s", cmd, status, log);
    free(log);
    const cJSON *ev_md = row_of(ev, "multidelete", &m_ev);
    ASSERT_MSG(m_ev, "%s", error_message());
    same_metrics(ev_md, md_md);
    same_metrics(cJSON_GetObjectItem(cJSON_GetObjectItem(m_ev, "models"), "retrain"), md_retrain);
    ASSERT(number(ev_md, "mi_ratio") == number(md_md, "mi_ratio")); /* the same attacker on the same θ0 */
    cJSON_Delete(m_md);
    cJSON_Delete(m_rt);
    cJSON_Delete(m_ev);
}

/* VE: 3 images = 18 Df items, at least one MultiDelete half-batch of 16; 15 Df AUCs. */
TEST(test_cls_programs_snli_ve_multidelete_retrain_evaluate) { check_task("snli_ve", 3, 3); }
/* NLVR2: 8 image pairs = 8 Df items (one statement per pair; a half-batch of 8), 52 Dr items: 5 subsets
 * and 8 held out for the model selection; 5 Df AUCs. */
TEST(test_cls_programs_nlvr2_multidelete_retrain_evaluate) { check_task("nlvr2", 2, 8); }
