#include "eval/report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/progress.h"
#include "eval/verdict.h"

void run_report_init(RunReport *r, const char *method, const char *const *pair_keys, const char *const *pair_texts) {
    memset(r, 0, sizeof *r);
    r->mi_power = r->mi2_power = NAN;
    snprintf(r->method, sizeof r->method, "%s", method ? method : "");
    r->pair_keys = pair_keys;
    r->pair_texts = pair_texts;
}

ModelResult *run_report_add(RunReport *r, const char *name) {
    CHECK(r->n_models < REPORT_MAX_MODELS, "a report holds at most %d models", REPORT_MAX_MODELS);
    ModelResult *m = &r->models[r->n_models++];
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", name);
    m->dt_seconds = m->df_seconds = m->time_seconds = -1.0;
    m->auc_unseen = m->df_vs_unseen = m->dr_vs_unseen = NAN;
    m->itm_df_reported = m->itm_df_vs_unseen = m->itm_dr_vs_unseen = NAN;
    m->mi_ratio_mean = m->mi_ratio_sd = m->mi2_ratio = NAN;
    m->p_before = m->p_after = m->mi_ratio = m->mi_per_sample_ratio = NAN;
    m->mi_hard_before = m->mi_hard_after = m->mi_control_ratio = NAN;
    m->df_min = m->df_max = NAN;
    return m;
}

const ModelResult *run_report_find(const RunReport *r, const char *name) {
    for (int k = 0; k < r->n_models; k++)
        if (strcmp(r->models[k].name, name) == 0) return &r->models[k];
    return NULL;
}

void model_result_set_dt(ModelResult *m, const RetrievalEvalResult *dt) {
    m->has_dt = 1;
    m->dt = dt->recall;
    m->dt_seconds = dt->seconds;
}

void model_result_set_forget(ModelResult *m, const ForgetMetrics *f) {
    m->has_forget = 1;
    m->auc_code = f->auc_code;
    m->df_reported = f->df_reported;
    m->n_subsets = f->n_subsets;
    memcpy(m->auc_chunks, f->auc_chunks, sizeof m->auc_chunks);
    m->auc_unseen = f->auc_unseen;
    m->df_vs_unseen = f->df_vs_unseen;
    m->df_seconds = f->seconds;
    m->df_scores = f->df_scores;
    m->dr_scores = f->dr_scores;
    m->dr_vs_unseen = f->dr_vs_unseen;
    m->itm_df_reported = f->itm_df_reported;
    m->itm_df_vs_unseen = f->itm_df_vs_unseen;
    m->itm_dr_vs_unseen = f->itm_dr_vs_unseen;
    m->unseen_scores = f->unseen_scores;
    m->n_unseen = f->n_unseen;
}

void model_result_set_mi(ModelResult *m, const MiReport *mi) {
    m->has_mi = 1;
    m->p_before = mi->p_before;
    m->p_after = mi->p_after;
    m->mi_ratio = mi->ratio;
    m->mi_per_sample_ratio = mi->per_sample_ratio;
    m->mi_hard_before = mi->hard_before;
    m->mi_hard_after = mi->hard_after;
    m->mi_control_ratio = mi->control_ratio;
}

void run_report_set_pairs(RunReport *r, const ForgetMetrics *f) {
    r->n_df = f->n_df;
    r->df_pairs = f->df_pairs;
    r->n_dr = (int64_t)f->n_subsets * f->n_df;
    r->dr_pairs = f->dr_pairs;
}

void run_report_set_classes(RunReport *r, int k, int64_t n_df, const int64_t *df_items, int n_subsets,
                            const int64_t *dr_items) {
    r->n_classes = k;
    class_score_columns(k, &r->first_column, &r->score_columns);
    r->n_df = n_df;
    r->df_pairs = df_items;
    r->n_dr = (int64_t)n_subsets * n_df;
    r->dr_pairs = dr_items;
}

void model_result_set_accuracy(ModelResult *m, const ClassAccuracy *a) {
    m->has_accuracy = 1;
    m->accuracy = *a;
}

void model_result_set_class_forget(ModelResult *m, const ClassForget *f) {
    m->has_forget = 1;
    m->auc_code = f->auc_code;
    m->df_reported = f->df_reported;
    m->n_class_aucs = f->n_aucs;
    memcpy(m->class_aucs, f->aucs, sizeof m->class_aucs);
    m->df_min = f->df_min;
    m->df_max = f->df_max;
    m->auc_unseen = f->auc_unseen;
    m->df_vs_unseen = f->df_vs_unseen;
    m->dr_vs_unseen = f->dr_vs_unseen;
    m->df_scores = f->df_scores;
    m->dr_scores = f->dr_scores;
    m->unseen_scores = f->unseen_scores;
    m->n_unseen = f->n_unseen;
}

/* ---- metrics.json ---- */

static void add_number_or_null(cJSON *obj, const char *name, int present, double v) {
    if (present && isfinite(v)) cJSON_AddNumberToObject(obj, name, v);
    else cJSON_AddNullToObject(obj, name);
}

static cJSON *number_array(const double *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int k = 0; k < n; k++) cJSON_AddItemToArray(a, isfinite(v[k]) ? cJSON_CreateNumber(v[k]) : cJSON_CreateNull());
    return a;
}

static void add_mi_and_times(cJSON *o, const ModelResult *m);

/* A classification task's row: accuracy and the class-column Df (report.h). */
static cJSON *class_model_json(const ModelResult *m, int k) {
    cJSON *o = cJSON_CreateObject();
    add_number_or_null(o, "accuracy", m->has_accuracy, m->accuracy.accuracy);
    if (m->has_accuracy) {
        double counts[CLASS_MAX_CLASSES];
        for (int c = 0; c < k; c++) counts[c] = (double)m->accuracy.class_count[c];
        cJSON_AddItemToObject(o, "class_accuracy", number_array(m->accuracy.class_accuracy, k));
        cJSON_AddItemToObject(o, "class_count", number_array(counts, k));
    } else {
        cJSON_AddNullToObject(o, "class_accuracy");
        cJSON_AddNullToObject(o, "class_count");
    }
    add_number_or_null(o, "Df_reported", m->has_forget, m->df_reported);
    add_number_or_null(o, "auc_code", m->has_forget, m->auc_code);
    if (m->has_forget) cJSON_AddItemToObject(o, "Df_class_aucs", number_array(m->class_aucs, m->n_class_aucs));
    else cJSON_AddNullToObject(o, "Df_class_aucs");
    add_number_or_null(o, "Df_min", m->has_forget, m->df_min);
    add_number_or_null(o, "Df_max", m->has_forget, m->df_max);
    add_number_or_null(o, "df_vs_unseen", m->has_forget, m->df_vs_unseen);
    add_number_or_null(o, "auc_unseen", m->has_forget, m->auc_unseen);
    add_number_or_null(o, "dr_vs_unseen", m->has_forget, m->dr_vs_unseen);
    add_mi_and_times(o, m);
    return o;
}

static cJSON *model_json(const ModelResult *m) {
    cJSON *o = cJSON_CreateObject();
    const RetrievalRecall *d = &m->dt;
    add_number_or_null(o, "TR@1", m->has_dt, d->tr1);
    add_number_or_null(o, "TR@5", m->has_dt, d->tr5);
    add_number_or_null(o, "TR@10", m->has_dt, d->tr10);
    add_number_or_null(o, "IR@1", m->has_dt, d->ir1);
    add_number_or_null(o, "IR@5", m->has_dt, d->ir5);
    add_number_or_null(o, "IR@10", m->has_dt, d->ir10);
    add_number_or_null(o, "tr_mean", m->has_dt, d->tr_mean);
    add_number_or_null(o, "ir_mean", m->has_dt, d->ir_mean);
    add_number_or_null(o, "r_mean", m->has_dt, d->r_mean);
    add_number_or_null(o, "Df_reported", m->has_forget, m->df_reported);
    add_number_or_null(o, "auc_code", m->has_forget, m->auc_code);
    if (m->has_forget) {
        cJSON *chunks = cJSON_AddArrayToObject(o, "auc_chunks");
        for (int c = 0; c < m->n_subsets; c++) cJSON_AddItemToArray(chunks, cJSON_CreateNumber(m->auc_chunks[c]));
    } else {
        cJSON_AddNullToObject(o, "auc_chunks");
    }
    add_number_or_null(o, "df_vs_unseen", m->has_forget, m->df_vs_unseen);
    add_number_or_null(o, "auc_unseen", m->has_forget, m->auc_unseen);
    add_number_or_null(o, "dr_vs_unseen", m->has_forget, m->dr_vs_unseen);
    add_number_or_null(o, "itm_Df_reported", m->has_forget, m->itm_df_reported);
    add_number_or_null(o, "itm_df_vs_unseen", m->has_forget, m->itm_df_vs_unseen);
    add_number_or_null(o, "itm_dr_vs_unseen", m->has_forget, m->itm_dr_vs_unseen);
    add_mi_and_times(o, m);
    return o;
}

static void add_mi_and_times(cJSON *o, const ModelResult *m) {
    add_number_or_null(o, "mi_p_before", m->has_mi, m->p_before);
    add_number_or_null(o, "mi_p_after", m->has_mi, m->p_after);
    add_number_or_null(o, "mi_ratio", m->has_mi, m->mi_ratio);
    add_number_or_null(o, "mi_ratio_mean", m->has_mi, m->mi_ratio_mean);
    add_number_or_null(o, "mi_ratio_sd", m->has_mi, m->mi_ratio_sd);
    add_number_or_null(o, "mi_n_splits", m->has_mi && m->mi_n_splits > 0, m->mi_n_splits);
    add_number_or_null(o, "mi2_ratio", m->has_mi, m->mi2_ratio);
    add_number_or_null(o, "mi_per_sample_ratio", m->has_mi, m->mi_per_sample_ratio);
    add_number_or_null(o, "mi_hard_before", m->has_mi, m->mi_hard_before);
    add_number_or_null(o, "mi_hard_after", m->has_mi, m->mi_hard_after);
    add_number_or_null(o, "mi_control_ratio", m->has_mi, m->mi_control_ratio);
    add_number_or_null(o, "dt_seconds", m->dt_seconds >= 0, m->dt_seconds);
    add_number_or_null(o, "df_seconds", m->df_seconds >= 0, m->df_seconds);
    add_number_or_null(o, "time_seconds", m->time_seconds >= 0, m->time_seconds);
}

int run_report_write_metrics_json(const RunReport *r, const char *path) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "method", r->method);
    cJSON_AddNumberToObject(root, "n_df", (double)r->n_df);
    cJSON_AddNumberToObject(root, "n_dr", (double)r->n_dr);
    if (r->n_classes) {
        cJSON_AddStringToObject(root, "task_kind", "classification");
        cJSON_AddNumberToObject(root, "n_classes", r->n_classes);
        cJSON *cols = cJSON_AddArrayToObject(root, "score_columns");
        for (int j = 0; j < r->score_columns; j++) cJSON_AddItemToArray(cols, cJSON_CreateNumber(r->first_column + j));
    }
    cJSON *models = cJSON_AddObjectToObject(root, "models");
    for (int k = 0; k < r->n_models; k++)
        cJSON_AddItemToObject(models, r->models[k].name, r->n_classes ? class_model_json(&r->models[k], r->n_classes)
                                                                      : model_json(&r->models[k]));
    add_number_or_null(root, "mi_power", 1, r->mi_power);
    add_number_or_null(root, "mi2_power", 1, r->mi2_power);
    char *verdict = NULL;
    size_t verdict_len = 0;
    FILE *vf = open_memstream(&verdict, &verdict_len);
    if (vf) {
        run_report_print_verdict(r, vf);
        fclose(vf);
        if (verdict_len) cJSON_AddStringToObject(root, "verdict", verdict);
        free(verdict);
    }
    if (r->method_details) cJSON_AddItemToObject(root, "method_details", cJSON_Duplicate(r->method_details, 1));
    if (r->config) cJSON_AddItemToObject(root, "config", cJSON_Duplicate(r->config, 1));
    int rc = json_write_file(path, root);
    cJSON_Delete(root);
    return rc;
}

/* ---- report.md ---- */

static void md_number(FILE *f, int present, double v) {
    if (present && isfinite(v)) fprintf(f, " %.2f |", v);
    else fprintf(f, " n/a |");
}

static void md_duration(FILE *f, double seconds) {
    char buf[32];
    if (seconds < 0) {
        fprintf(f, " n/a |");
        return;
    }
    progress_format_duration(seconds, buf, sizeof buf);
    fprintf(f, " %s |", buf);
}

/* What the Df number says (DESIGN.md "Metrics": 50 = indistinguishable, lower = forgotten). */
static const char *df_reading(double df) {
    if (df < 45.0) return "the deleted pairs now score below the retained ones (forgotten)";
    if (df <= 55.0) return "the deleted pairs are indistinguishable from the retained ones";
    return "the deleted pairs still score above the retained ones (remembered)";
}

static const char *unseen_reading(double v) {
    if (!isfinite(v)) return NULL;
    if (v < 45.0) return "they score below unseen test pairs, an over-forgetting that itself reveals membership";
    if (v <= 55.0) return "they look like pairs the model never saw (the ideal)";
    return "they still score above unseen test pairs, so membership remains visible";
}

static void md_reading(const RunReport *r, FILE *f) {
    const ModelResult *orig = run_report_find(r, "original");
    for (int k = 0; k < r->n_models; k++) {
        const ModelResult *m = &r->models[k];
        if (k) fputc(' ', f);
        fprintf(f, "**%s**:", m->name);
        if (m->has_dt) {
            fprintf(f, " Dt mean recall %.2f", m->dt.r_mean);
            if (orig && orig != m && orig->has_dt) {
                double delta = m->dt.r_mean - orig->dt.r_mean;
                const char *kept = delta >= -1.0 ? "utility kept" : delta >= -5.0 ? "a small utility loss"
                                                                                : "a large utility loss";
                fprintf(f, " (%+.2f against the original: %s)", delta, kept);
            }
            fputc(m->has_forget ? ';' : '.', f);
        }
        if (m->has_accuracy) {
            fprintf(f, " Dt accuracy %.2f", m->accuracy.accuracy);
            if (orig && orig != m && orig->has_accuracy) {
                double delta = m->accuracy.accuracy - orig->accuracy.accuracy;
                const char *kept = delta >= -1.0 ? "utility kept" : delta >= -5.0 ? "a small utility loss"
                                                                                : "a large utility loss";
                fprintf(f, " (%+.2f against the original: %s)", delta, kept);
            }
            fputc(m->has_forget ? ';' : '.', f);
        }
        if (m->has_forget) {
            fprintf(f, " Df %.2f: %s", m->df_reported, df_reading(m->df_reported));
            const char *u = unseen_reading(m->df_vs_unseen);
            if (u) fprintf(f, "; Df vs unseen %.2f: %s", m->df_vs_unseen, u);
            fputc('.', f);
        }
        if (m->has_mi && isfinite(m->mi_ratio)) {
            fprintf(f, " MI ratio %.3f (P(member) of Df %.3f -> %.3f", m->mi_ratio, m->p_before, m->p_after);
            if (isfinite(m->mi_control_ratio)) fprintf(f, "; Dr control ratio %.3f", m->mi_control_ratio);
            fprintf(f, ").");
        }
        if (!m->has_dt && !m->has_accuracy && !m->has_forget && !m->has_mi) fprintf(f, " not evaluated.");
    }
    fputc('\n', f);
}

static void md_mi_cell(const RunReport *r, const ModelResult *m, FILE *f) {
    if (!m->has_mi || !isfinite(m->mi_ratio)) fprintf(f, " n/a |");
    else if (isfinite(r->mi_power) && r->mi_power < REPORT_MI_MIN_POWER) fprintf(f, " uninformative |");
    else if (isfinite(m->mi_ratio_sd)) fprintf(f, " %.3f ± %.3f |", m->mi_ratio_mean, m->mi_ratio_sd);
    else fprintf(f, " %.3f |", m->mi_ratio);
}

/* A classification task's table and its legend (spec/unlearning_methods.md §6.1-6.3). */
static void md_class_table(const RunReport *r, FILE *f) {
    int aucs = 0;
    for (int k = 0; k < r->n_models && !aucs; k++) aucs = r->models[k].n_class_aucs;
    fprintf(f, "| model | Dt accuracy |");
    for (int c = 0; c < r->n_classes; c++) fprintf(f, " accuracy, class %d |", c);
    fprintf(f, " Df | Df min | Df max | AUC code | Df vs unseen | Dr vs unseen | MI ratio | time |\n|---|---:|");
    for (int c = 0; c < r->n_classes; c++) fprintf(f, "---:|");
    fprintf(f, "---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int k = 0; k < r->n_models; k++) {
        const ModelResult *m = &r->models[k];
        fprintf(f, "| %s |", m->name);
        md_number(f, m->has_accuracy, m->accuracy.accuracy);
        for (int c = 0; c < r->n_classes; c++) md_number(f, m->has_accuracy, m->accuracy.class_accuracy[c]);
        md_number(f, m->has_forget, m->df_reported);
        md_number(f, m->has_forget, m->df_min);
        md_number(f, m->has_forget, m->df_max);
        if (m->has_forget) fprintf(f, " %.4f |", m->auc_code);
        else fprintf(f, " n/a |");
        md_number(f, m->has_forget, m->df_vs_unseen);
        md_number(f, m->has_forget, m->dr_vs_unseen);
        md_mi_cell(r, m, f);
        md_duration(f, m->time_seconds);
        fputc('\n', f);
    }
    fprintf(f, "\nDt accuracy in %% on the test split (the argmax class against the label; per class over the items "
               "of that label). Df = 100·(1 − AUC code), AUC code being the mean of %d AUCs of the Df items against "
               "five random Dr subsets, one per subset and scored class column of the softmax probabilities (%s; "
               "spec/unlearning_methods.md §6.2), with Df as the positive class: 50 = indistinguishable, lower = "
               "forgotten; Df min and max are the range of the %d per-column values. Df vs unseen is the same (mean "
               "over the columns) against test items (50 is ideal); Dr vs unseen the same with the Dr subsets' items. "
               "MI ratio = P_before / P_after, the mean membership probability of the Df items under the original "
               "model over the same under this model, from an RBF-SVM attacker trained once on the original model's "
               "entropies of the class probabilities (validation items as non-members, an equal Dr sample as "
               "members; §6.3): 1 = unchanged, higher = Df looks less like training data.\n\n",
            aucs, r->score_columns == 1 ? "column 1 of a 2-class task: column 0 is its complement" : "every column",
            aucs);
}

/* The retrieval table and its legend. */
static void md_retrieval_table(const RunReport *r, FILE *f) {
    fprintf(f, "| model | TR@1 | TR@5 | TR@10 | IR@1 | IR@5 | IR@10 | TR mean | IR mean | R mean | Df | AUC code |"
               " Df vs unseen | Dr vs unseen | Df (ITM) | Df vs unseen (ITM) | MI ratio | time |\n");
    fprintf(f, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int k = 0; k < r->n_models; k++) {
        const ModelResult *m = &r->models[k];
        const RetrievalRecall *d = &m->dt;
        fprintf(f, "| %s |", m->name);
        const double dt[] = {d->tr1, d->tr5, d->tr10, d->ir1, d->ir5, d->ir10, d->tr_mean, d->ir_mean, d->r_mean};
        for (size_t j = 0; j < sizeof dt / sizeof dt[0]; j++) md_number(f, m->has_dt, dt[j]);
        md_number(f, m->has_forget, m->df_reported);
        if (m->has_forget) fprintf(f, " %.4f |", m->auc_code);
        else fprintf(f, " n/a |");
        md_number(f, m->has_forget, m->df_vs_unseen);
        md_number(f, m->has_forget, m->dr_vs_unseen);
        md_number(f, m->has_forget, m->itm_df_reported);
        md_number(f, m->has_forget, m->itm_df_vs_unseen);
        md_mi_cell(r, m, f);
        md_duration(f, m->time_seconds);
        fputc('\n', f);
    }
    fprintf(f, "\nRecall in %% (spec/albef_blip.md §4.1). Df = 100·(1 − AUC code), the AUC of Df pairs against five "
               "random Dr subsets with Df as the positive class (spec/unlearning_methods.md §6.2): 50 = "
               "indistinguishable, lower = forgotten. Df vs unseen is the same against test pairs (50 is ideal); "
               "Dr vs unseen the same with the Dr subsets' pairs (above 50: the model fits its training pairs beyond "
               "unseen ones). The (ITM) columns score each pair by its ITM match probability instead of the ITC "
               "cosine. "
               "MI ratio = P_before / P_after, the mean membership probability of the Df pairs under the original "
               "model over the same under this model, from an RBF-SVM attacker trained once on the original model's "
               "ITM-output entropies (validation pairs as non-members, an equal Dr sample as members; §6.3): "
               "1 = "
               "unchanged, higher = Df looks less like training data.\n\n");
}

int run_report_write_markdown(const RunReport *r, const char *path) {
    AtomicFile af;
    if (atomic_open(&af, path) < 0) return -1;
    FILE *f = af.fp;
    fprintf(f, "# %s\n\n", r->method[0] ? r->method : "evaluation");
    fprintf(f, "Df: %lld deleted %s against %lld retained %s.\n\n", (long long)r->n_df, r->n_classes ? "items" : "pairs",
            (long long)r->n_dr, r->n_classes ? "items" : "pairs");
    /* What the models trained here (the original without --original, Retrain) started from (config.json "init"). */
    const cJSON *init = r->config ? cJSON_GetObjectItem(r->config, "init") : NULL;
    if (cJSON_IsString(init))
        fprintf(f, "Initialisation of the models trained here (Retrain; the original unless --original): %s.\n\n",
                init->valuestring);
    if (r->n_classes) md_class_table(r, f);
    else md_retrieval_table(r, f);
    md_reading(r, f);
    if (isfinite(r->mi_power))
        fprintf(f, "\nThe MI attacker's power on the original: AUC %.3f on held-out Dr members vs test non-members%s\n",
                r->mi_power, r->mi_power < REPORT_MI_MIN_POWER ? " (at chance: the MI ratios are uninformative)." : ".");
    if (isfinite(r->mi2_power)) {
        fprintf(f, "\nA second attacker (the same RBF-SVM on the pair's ITM entropy and ITC cosine; the cosine is the "
                   "per-example loss signal of loss-threshold attacks): power AUC %.3f; MI ratios", r->mi2_power);
        for (int k = 0; k < r->n_models; k++)
            if (r->models[k].has_mi && isfinite(r->models[k].mi2_ratio))
                fprintf(f, " %s %.3f", r->models[k].name, r->models[k].mi2_ratio);
        fprintf(f, "%s\n", r->mi2_power < REPORT_MI_MIN_POWER ? " (uninformative: at chance)." : ".");
    }
    fputc('\n', f);
    run_report_print_verdict(r, f);
    if (r->method_notes) fprintf(f, "\n%s", r->method_notes);
    if (ferror(f)) return atomic_fail(&af);
    return atomic_commit(&af);
}

/* ---- scores_df.csv / scores_dr.csv ---- */

void report_csv_field(FILE *out, const char *text) {
    if (!text) return;
    if (!strpbrk(text, ",\"\r\n")) {
        fputs(text, out);
        return;
    }
    fputc('"', out);
    for (const char *c = text; *c; c++) {
        if (*c == '"') fputc('"', out);
        fputc(*c, out);
    }
    fputc('"', out);
}

int run_report_write_scores_csv(const RunReport *r, int which, const char *path) {
    const int64_t n = which ? r->n_dr : r->n_df;
    const int64_t *pairs = which ? r->dr_pairs : r->df_pairs;
    if (n > 0 && !pairs) return error_set("%s: the report has no %s pair list", path, which ? "Dr" : "Df");
    AtomicFile af;
    if (atomic_open(&af, path) < 0) return -1;
    FILE *f = af.fp;
    const int cols = r->n_classes ? r->score_columns : 1;
    fputs("pair,image_key,caption", f);
    for (int k = 0; k < r->n_models; k++) {
        const double *s = which ? r->models[k].dr_scores : r->models[k].df_scores;
        if (!s) continue;
        for (int j = 0; j < cols; j++) {
            char name[48];
            if (r->n_classes) snprintf(name, sizeof name, "%s:p%d", r->models[k].name, r->first_column + j);
            fputc(',', f);
            report_csv_field(f, r->n_classes ? name : r->models[k].name);
        }
    }
    fputc('\n', f);
    for (int64_t row = 0; row < n; row++) {
        int64_t p = pairs[row];
        fprintf(f, "%lld,", (long long)p);
        if (r->pair_keys) report_csv_field(f, r->pair_keys[p]);
        fputc(',', f);
        if (r->pair_texts) report_csv_field(f, r->pair_texts[p]);
        for (int k = 0; k < r->n_models; k++) {
            const double *s = which ? r->models[k].dr_scores : r->models[k].df_scores;
            for (int j = 0; s && j < cols; j++) fprintf(f, ",%.9g", s[row * cols + j]);
        }
        fputc('\n', f);
    }
    if (ferror(f)) return atomic_fail(&af);
    return atomic_commit(&af);
}

int run_report_write(const RunReport *r, const char *run_dir) {
    if (make_dirs(run_dir) < 0) return -1;
    char path[4096];
    snprintf(path, sizeof path, "%s/metrics.json", run_dir);
    if (run_report_write_metrics_json(r, path) < 0) return -1;
    snprintf(path, sizeof path, "%s/report.md", run_dir);
    if (run_report_write_markdown(r, path) < 0) return -1;
    snprintf(path, sizeof path, "%s/scores_df.csv", run_dir);
    if (run_report_write_scores_csv(r, 0, path) < 0) return -1;
    snprintf(path, sizeof path, "%s/scores_dr.csv", run_dir);
    return run_report_write_scores_csv(r, 1, path);
}

/* ---- the summary table ---- */

static void summary_number(FILE *out, int width, int present, double v) {
    if (present && isfinite(v)) fprintf(out, "  %*.2f", width, v);
    else fprintf(out, "  %*s", width, "-");
}

/* The MI ratio cell: the mean over fold splits ± their spread when measured, else the ratio. */
static void summary_mi(FILE *out, const RunReport *r, const ModelResult *m) {
    char cell[32] = "-";
    if (m->has_mi && isfinite(m->mi_ratio)) {
        if (isfinite(r->mi_power) && r->mi_power < REPORT_MI_MIN_POWER) snprintf(cell, sizeof cell, "uninform.");
        else if (isfinite(m->mi_ratio_sd)) snprintf(cell, sizeof cell, "%.3f±%.3f", m->mi_ratio_mean, m->mi_ratio_sd);
        else snprintf(cell, sizeof cell, "%.3f", m->mi_ratio);
    }
    fprintf(out, "  %11s", cell);
}

static void print_duration(FILE *out, double seconds) {
    char t[32] = "-";
    if (seconds >= 0) progress_format_duration(seconds, t, sizeof t);
    fprintf(out, "  %8s\n", t);
}

/* A classification task's rows: Dt accuracy, Df (the mean over Dr subsets and class columns) and its range. */
static void print_class_rows(const RunReport *r, FILE *out, int w) {
    fprintf(out, "%-*s  %8s  %8s  %13s  %12s  %12s  %11s  %8s\n", w, "model", "Dt acc", "Df", "Df range",
            "Df-vs-unseen", "Dr-vs-unseen", "MI ratio", "time");
    for (int k = 0; k < r->n_models; k++) {
        const ModelResult *m = &r->models[k];
        fprintf(out, "%-*s", w, m->name);
        summary_number(out, 8, m->has_accuracy, m->accuracy.accuracy);
        summary_number(out, 8, m->has_forget, m->df_reported);
        char range[32] = "-";
        if (m->has_forget && isfinite(m->df_min)) snprintf(range, sizeof range, "%.1f-%.1f", m->df_min, m->df_max);
        fprintf(out, "  %13s", range);
        summary_number(out, 12, m->has_forget, m->df_vs_unseen);
        summary_number(out, 12, m->has_forget, m->dr_vs_unseen);
        summary_mi(out, r, m);
        print_duration(out, m->time_seconds);
    }
    int aucs = 0;
    for (int k = 0; k < r->n_models && !aucs; k++) aucs = r->models[k].n_class_aucs;
    fprintf(out, "\nDt acc: test accuracy in %%. Df: 100·(1 − mean of %d AUCs, Df items vs 5 Dr subsets on %s of the "
                 "class probabilities), 50 = indistinguishable, lower = forgotten; Df range: the per-AUC values.\n",
            aucs, r->score_columns == 1 ? "column 1" : "each column");
}

static void print_retrieval_rows(const RunReport *r, FILE *out, int w) {
    fprintf(out, "%-*s  %8s  %8s  %8s  %8s  %12s  %8s  %12s  %11s  %8s\n", w, "model", "TR mean", "IR mean", "R mean",
            "Df", "Df-vs-unseen", "Df ITM", "vs-unseen ITM", "MI ratio", "time");
    for (int k = 0; k < r->n_models; k++) {
        const ModelResult *m = &r->models[k];
        fprintf(out, "%-*s", w, m->name);
        summary_number(out, 8, m->has_dt, m->dt.tr_mean);
        summary_number(out, 8, m->has_dt, m->dt.ir_mean);
        summary_number(out, 8, m->has_dt, m->dt.r_mean);
        summary_number(out, 8, m->has_forget, m->df_reported);
        summary_number(out, 12, m->has_forget, m->df_vs_unseen);
        summary_number(out, 8, m->has_forget, m->itm_df_reported);
        summary_number(out, 12, m->has_forget, m->itm_df_vs_unseen);
        summary_mi(out, r, m);
        print_duration(out, m->time_seconds);
    }
}

/* What follows the rows: the MI attackers' power and the verdict. */
static void print_summary_notes(const RunReport *r, FILE *out) {
    if (isfinite(r->mi_power)) {
        if (r->mi_power < REPORT_MI_MIN_POWER)
            fprintf(out, "\nMI: the attacker is at chance on the original (AUC %.3f on held-out members vs "
                         "non-members, below %.2f), so its ratios say nothing about membership.\n",
                    r->mi_power, REPORT_MI_MIN_POWER);
        else
            fprintf(out, "\nMI: the attacker's power on the original is AUC %.3f (held-out members vs non-members); "
                         "ratios are the mean ± sd over Platt scaling's fold splits.\n",
                    r->mi_power);
    }
    if (isfinite(r->mi2_power)) {
        fprintf(out, "MI, second attacker (RBF-SVM on ITM entropy and ITC cosine): power AUC %.3f; ratios", r->mi2_power);
        for (int k = 0; k < r->n_models; k++)
            if (r->models[k].has_mi && isfinite(r->models[k].mi2_ratio))
                fprintf(out, " %s %.3f", r->models[k].name, r->models[k].mi2_ratio);
        fprintf(out, "%s\n", r->mi2_power < REPORT_MI_MIN_POWER ? " (uninformative: at chance)" : "");
    }
    const ModelResult *o = run_report_find(r, "original"), *rt = run_report_find(r, "retrain");
    if (o && rt && r->n_models > 2) {
        fprintf(out, "\n");
        run_report_print_verdict(r, out);
    }
}

void run_report_print_summary(const RunReport *r, FILE *out) {
    int w = 5; /* "model" */
    for (int k = 0; k < r->n_models; k++) {
        int len = (int)strlen(r->models[k].name);
        if (len > w) w = len;
    }
    if (r->n_classes) print_class_rows(r, out, w);
    else print_retrieval_rows(r, out, w);
    print_summary_notes(r, out);
}

/* Bootstrap replicates of the verdict's intervals. */
#define VERDICT_BOOTSTRAP 1000

void run_report_print_verdict(const RunReport *r, FILE *out) {
    const ModelResult *o = run_report_find(r, "original"), *rt = run_report_find(r, "retrain");
    if (!o || !rt || !o->has_forget || !rt->has_forget) return;
    for (int k = 0; k < r->n_models; k++) {
        const ModelResult *m = &r->models[k];
        if (m == o || m == rt || !m->has_forget || !m->df_scores || !m->unseen_scores || m->n_unseen < 1) continue;
        if (o->n_unseen != m->n_unseen || rt->n_unseen != m->n_unseen || !o->unseen_scores || !rt->unseen_scores)
            continue;
        VerdictShift v;
        verdict_df_vs_unseen(o->df_scores, rt->df_scores, m->df_scores, r->n_df, o->unseen_scores,
                             rt->unseen_scores, m->unseen_scores, m->n_unseen, r->n_classes ? r->score_columns : 1,
                             VERDICT_BOOTSTRAP, 42, &v);
        char text[768];
        verdict_sentence(&v, "Df vs unseen", m->name, text, sizeof text);
        fprintf(out, "%s\n", text);
        if (m->has_mi && rt->has_mi && isfinite(m->mi2_ratio) && isfinite(rt->mi2_ratio) && isfinite(r->mi2_power) &&
            r->mi2_power >= REPORT_MI_MIN_POWER)
            fprintf(out, "MI ratio, second attacker (power AUC %.3f): %s %.3f, Retrain %.3f.\n", r->mi2_power, m->name,
                    m->mi2_ratio, rt->mi2_ratio);
        if (!m->has_mi || !rt->has_mi || !isfinite(m->mi_ratio_mean)) continue;
        if (isfinite(r->mi_power) && r->mi_power < REPORT_MI_MIN_POWER) {
            fprintf(out, "MI: uninformative (the attacker is at chance on the original).\n");
            continue;
        }
        /* Retrain's ratio is where a model that never saw Df lands; the spread is over fold splits only. */
        fprintf(out, "MI ratio: %s %.3f ± %.3f, Retrain %.3f ± %.3f (original 1 by definition; sd over %d fold "
                     "splits of the attacker, not over Df draws).\n",
                m->name, m->mi_ratio_mean, m->mi_ratio_sd, rt->mi_ratio_mean, rt->mi_ratio_sd, m->mi_n_splits);
    }
}
