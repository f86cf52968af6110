#include "unlearn/model_selection.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/device.h"
#include "core/error.h"
#include "core/log.h"

#define SELECTION_RULE                                                                                           \
    "after each epoch from the first_epoch-th on: Dt = validation mean recall (%), AUC_code = 100*AUC(Df pairs " \
    "label 0, held-out Dr pairs label 1) of the pairs' own ITC cosine; keep the epoch maximising "              \
    "(Dt + AUC_code)/2 (spec/unlearning_methods.md 5.3 item 5; validation split and a Dr subset disjoint from "   \
    "the reported ones, not the released code's test split)"
#define SELECTION_RULE_CLASSIFICATION                                                                              \
    "after each epoch from the first_epoch-th on: Dt = validation accuracy (%), AUC_code = 100*(the mean over the " \
    "scored class columns of AUC(Df items label 0, held-out Dr items label 1) of the class probabilities); keep "   \
    "the epoch maximising (Dt + AUC_code)/2 (spec/unlearning_methods.md 5.3 item 5, 6.2)"

void model_selection_init(ModelSelection *s, int first_epoch, ModelScoreFn fn, void *ctx) {
    memset(s, 0, sizeof *s);
    s->first_epoch = first_epoch < 0 ? 0 : first_epoch;
    s->score_fn = fn;
    s->score_ctx = ctx;
    s->best = -1;
}

void model_selection_free(ModelSelection *s) {
    free(s->best_values);
    memset(s, 0, sizeof *s);
    s->best = -1;
}

int model_selection_after_epoch(ModelSelection *s, int epoch, TaskModel *m) {
    if (epoch < s->first_epoch) return 0;
    if (s->n_scored >= MODEL_SELECTION_MAX_EPOCHS)
        return error_set("model selection: more than %d candidate epochs", MODEL_SELECTION_MAX_EPOCHS);
    double t0 = clock_seconds();
    EpochScore e = {0};
    int rc = s->score_fn(s->score_ctx, m, &e);
    if (rc < 0 && rc != MODEL_SCORE_NONFINITE) return error_prefix("model selection after epoch %d", epoch + 1);
    if (rc == MODEL_SCORE_NONFINITE) e = (EpochScore){NAN, NAN, NAN}; /* no metric over it */
    e.score = 0.5 * (e.dt + e.auc_code);
    int k = s->n_scored++;
    s->epochs[k] = epoch;
    s->scores[k] = e;
    if (rc == MODEL_SCORE_NONFINITE) {
        s->seconds += clock_seconds() - t0;
        error_prefix("model selection after epoch %d (disqualified)", epoch + 1);
        return LOOP_DIVERGED;
    }
    if (!isfinite(e.score)) { /* no ranking exists for it: never selected, the others still compete */
        s->seconds += clock_seconds() - t0;
        log_warn("selection after epoch %d: score %g (validation Dt %g, AUC_code %g) is not finite: the epoch is "
                 "disqualified", epoch + 1, e.score, e.dt, e.auc_code);
        return 0;
    }
    if (s->best < 0 || e.score > s->scores[s->best].score) {
        if (!s->best_values) {
            s->n_values = m->params->total;
            s->best_values = malloc((size_t)s->n_values * sizeof *s->best_values);
            CHECK(s->best_values != NULL, "out of memory (model selection snapshot of %lld values)",
                  (long long)s->n_values);
        }
        CHECK(m->params->total == s->n_values, "model selection: the model changed size");
        device_copy(s->best_values, DEVICE_CPU, m->params->values, m->params->device,
                    (size_t)s->n_values * sizeof *s->best_values);
        s->best = k;
    }
    s->seconds += clock_seconds() - t0;
    log_info("selection after epoch %d: validation Dt %.2f, AUC_code %.2f (Df %.2f), score %.3f%s", epoch + 1, e.dt,
             e.auc_code, 100.0 - e.auc_code, e.score, s->best == k ? " (best so far)" : "");
    return 0;
}

int model_selection_best_epoch(const ModelSelection *s) { return s->best < 0 ? -1 : s->epochs[s->best]; }

int model_selection_restore(const ModelSelection *s, TaskModel *m) {
    if (s->best < 0) return -1;
    CHECK(m->params->total == s->n_values, "model selection: restoring into a model of another size");
    device_copy(m->params->values, m->params->device, s->best_values, DEVICE_CPU,
                (size_t)s->n_values * sizeof *s->best_values);
    return s->epochs[s->best];
}

enum { SEL_N_SCORED, SEL_BEST, SEL_FIRST_EPOCH, SEL_N_VALUES, SEL_HEADER };

void model_selection_state_add(const ModelSelection *s, LoopStateFile *f) {
    int64_t header[SEL_HEADER];
    header[SEL_N_SCORED] = s->n_scored;
    header[SEL_BEST] = s->best;
    header[SEL_FIRST_EPOCH] = s->first_epoch;
    header[SEL_N_VALUES] = s->best_values ? s->n_values : 0;
    loop_state_add_i64(f, "selection.header", header, SEL_HEADER);
    /* per candidate: its epoch, Dt, AUC_code and score; then the seconds spent */
    int64_t n = 4 * (int64_t)s->n_scored + 1;
    double *v = malloc((size_t)n * sizeof *v);
    CHECK(v != NULL, "out of memory");
    for (int k = 0; k < s->n_scored; k++) {
        v[4 * k] = s->epochs[k];
        v[4 * k + 1] = s->scores[k].dt;
        v[4 * k + 2] = s->scores[k].auc_code;
        v[4 * k + 3] = s->scores[k].score;
    }
    v[n - 1] = s->seconds;
    loop_state_add_doubles(f, "selection.candidates", v, n);
    free(v);
    if (s->best_values) loop_state_add_floats(f, "selection.best_values", s->best_values, DEVICE_CPU, s->n_values);
}

int model_selection_state_read(ModelSelection *s, const SafetensorsFile *f, const TaskModel *m) {
    int64_t h[SEL_HEADER];
    if (loop_state_read_i64(f, "selection.header", h, SEL_HEADER) < 0) return -1;
    if (h[SEL_FIRST_EPOCH] != s->first_epoch)
        return error_set("%s: selection.header: selection from epoch %lld, this run selects from epoch %d", f->path,
                         (long long)h[SEL_FIRST_EPOCH] + 1, s->first_epoch + 1);
    if (h[SEL_N_SCORED] < 0 || h[SEL_N_SCORED] > MODEL_SELECTION_MAX_EPOCHS || h[SEL_BEST] < -1 ||
        h[SEL_BEST] >= h[SEL_N_SCORED] || (h[SEL_BEST] >= 0) != (h[SEL_N_VALUES] > 0) ||
        (h[SEL_N_VALUES] > 0 && h[SEL_N_VALUES] != m->params->total))
        return error_set("%s: selection.header: %lld candidates, best %lld, %lld kept values: no state of a "
                         "selection over a model of %lld values",
                         f->path, (long long)h[SEL_N_SCORED], (long long)h[SEL_BEST], (long long)h[SEL_N_VALUES],
                         (long long)m->params->total);
    int64_t n = 4 * h[SEL_N_SCORED] + 1;
    double *v = malloc((size_t)n * sizeof *v);
    float *values = h[SEL_N_VALUES] > 0 ? malloc((size_t)h[SEL_N_VALUES] * sizeof *values) : NULL;
    CHECK(v && (values || h[SEL_N_VALUES] == 0), "out of memory (model selection state)");
    if (loop_state_read_doubles(f, "selection.candidates", v, n) < 0 ||
        (values && loop_state_read_floats(f, "selection.best_values", values, DEVICE_CPU, h[SEL_N_VALUES]) < 0)) {
        free(v);
        free(values);
        return -1;
    }
    free(s->best_values);
    s->best_values = values;
    s->n_values = h[SEL_N_VALUES];
    s->n_scored = (int)h[SEL_N_SCORED];
    s->best = (int)h[SEL_BEST];
    for (int k = 0; k < s->n_scored; k++) {
        s->epochs[k] = (int)v[4 * k];
        s->scores[k] = (EpochScore){.dt = v[4 * k + 1], .auc_code = v[4 * k + 2], .score = v[4 * k + 3]};
    }
    s->seconds = v[n - 1];
    free(v);
    return 0;
}

cJSON *model_selection_to_json(const ModelSelection *s, int epochs_run) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "rule", s->dt_accuracy ? SELECTION_RULE_CLASSIFICATION : SELECTION_RULE);
    cJSON_AddNumberToObject(o, "first_epoch", s->first_epoch + 1);
    cJSON_AddNumberToObject(o, "epochs_run", epochs_run);
    cJSON *c = cJSON_AddArrayToObject(o, "candidates");
    for (int k = 0; k < s->n_scored; k++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "epoch", s->epochs[k] + 1);
        cJSON_AddNumberToObject(e, s->dt_accuracy ? "val_accuracy" : "val_r_mean", s->scores[k].dt);
        cJSON_AddNumberToObject(e, "auc_code", s->scores[k].auc_code);
        cJSON_AddNumberToObject(e, "score", s->scores[k].score);
        if (!isfinite(s->scores[k].score)) cJSON_AddBoolToObject(e, "disqualified", 1);
        cJSON_AddItemToArray(c, e);
    }
    if (s->best >= 0) cJSON_AddNumberToObject(o, "selected_epoch", s->epochs[s->best] + 1);
    else cJSON_AddNullToObject(o, "selected_epoch");
    cJSON_AddNumberToObject(o, "seconds", s->seconds);
    return o;
}

char *model_selection_to_markdown(const ModelSelection *s, int epochs_run) {
    size_t cap = 4096 + (size_t)s->n_scored * 96;
    char *md = malloc(cap);
    CHECK(md != NULL, "out of memory");
    size_t n = 0;
    if (s->best < 0) {
        n += (size_t)snprintf(md + n, cap - n,
                              "Model selection (spec/unlearning_methods.md §5.3 item 5): no candidate epoch (%d epochs "
                              "run, selection starts at epoch %d); the last epoch is kept.\n",
                              epochs_run, s->first_epoch + 1);
        return md;
    }
    n += (size_t)snprintf(md + n, cap - n,
                          "Model selection (spec/unlearning_methods.md §5.3 item 5): after each epoch from epoch %d on, "
                          "Dt = %s on the validation split and AUC code = 100·AUC of the Df %s (label 0) "
                          "against a held-out Dr subset (label 1, disjoint from the five reported subsets%s); the epoch "
                          "maximising (Dt + AUC code)/2 is kept. Selected: epoch %d of %d.\n\n"
                          "| epoch | %s | AUC code | score |\n|---:|---:|---:|---:|\n",
                          s->first_epoch + 1, s->dt_accuracy ? "accuracy" : "mean recall",
                          s->dt_accuracy ? "items" : "pairs", s->dt_accuracy ? "; the mean over class columns" : "",
                          s->epochs[s->best] + 1, epochs_run, s->dt_accuracy ? "val accuracy" : "val R mean");
    for (int k = 0; k < s->n_scored && n < cap; k++)
        n += (size_t)snprintf(md + n, cap - n, "| %d%s | %.2f | %.2f | %.3f |\n", s->epochs[k] + 1,
                              k == s->best                      ? " (selected)"
                              : !isfinite(s->scores[k].score) ? " (disqualified: not finite)"
                                                                : "",
                              s->scores[k].dt, s->scores[k].auc_code, s->scores[k].score);
    return md;
}
