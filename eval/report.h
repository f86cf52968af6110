/* The evaluation files of a run directory (DESIGN.md "Run directory",
 * "Metrics"), filled by every method program the same way:
 *
 *   RunReport r;
 *   run_report_init(&r, "multidelete", pair_keys, pair_texts);
 *   ModelResult *o = run_report_add(&r, "original");
 *   model_result_set_dt(o, &dt_original);           // eval/retrieval_eval.h
 *   model_result_set_forget(o, &fm_original);       // eval/forget_metrics.h
 *   ... "unlearned", "retrain" ...
 *   run_report_write(&r, "runs/x");                 // metrics.json, report.md, scores_*.csv
 *   run_report_print_summary(&r, stdout);
 *
 * Files (each written atomically: temporary name, then rename):
 *   metrics.json   {"method", "n_df", "n_dr", "models": {"<name>": {TR@1, TR@5,
 *                  TR@10, IR@1, IR@5, IR@10, tr_mean, ir_mean, r_mean,
 *                  Df_reported, auc_code, auc_chunks, df_vs_unseen, auc_unseen,
 *                  dr_vs_unseen, itm_Df_reported, itm_df_vs_unseen, itm_dr_vs_unseen,
 *                  dt_seconds, df_seconds, time_seconds, mi_p_before, mi_p_after,
 *                  mi_ratio, mi_ratio_mean, mi_ratio_sd, mi_n_splits, mi2_ratio,
 *                  mi_per_sample_ratio, mi_hard_before, mi_hard_after,
 *                  mi_control_ratio}}, "mi_power", "mi2_power", "verdict"?, "method_details"?,
 *                  "config"?}; a value not measured is null. A classification
 *                  report ("task_kind": "classification", "n_classes",
 *                  "score_columns") has per model accuracy, class_accuracy,
 *                  class_count, Df_reported, auc_code, Df_class_aucs (Dr subset
 *                  by subset, the scored columns of each), Df_min, Df_max,
 *                  df_vs_unseen, auc_unseen, dr_vs_unseen, the MI and time keys
 *   report.md      the same as a markdown table and a paragraph reading it
 *   scores_df.csv  pair,image_key,caption,<score of each model> for Df pairs
 *                  (classification: <model>:p<c> for each scored class column c)
 *   scores_dr.csv  the same for the Dr evaluation pairs (all subsets, in order)
 * so anyone can recompute the AUCs from the CSVs (DESIGN.md). */
#ifndef EVAL_REPORT_H
#define EVAL_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "eval/class_metrics.h"
#include "eval/forget_metrics.h"
#include "eval/mi_attack.h"
#include "eval/recall.h"
#include "eval/retrieval_eval.h"

#define REPORT_MAX_MODELS 8

typedef struct {
    char name[32];           /* "original", "unlearned", "retrain", ... */
    int has_dt;
    RetrievalRecall dt;      /* Dt: TR/IR recall in % */
    double dt_seconds;       /* wall-clock of the Dt evaluation */
    int has_forget;
    double auc_code, df_reported;   /* §6.2: mean AUC(Df 0, Dr 1) and 100·(1 − it) */
    double auc_chunks[FORGET_MAX_SUBSETS];
    int n_subsets;
    double auc_unseen, df_vs_unseen; /* NaN when not measured */
    double dr_vs_unseen;             /* the same with the Dr subsets' pairs (forget_metrics.h) */
    /* Df, Df vs unseen and Dr vs unseen on the ITM match probability (forget_metrics.h) */
    double itm_df_reported, itm_df_vs_unseen, itm_dr_vs_unseen;
    double df_seconds;       /* wall-clock of the Df scoring */
    double time_seconds;     /* the method's own wall-clock (training, unlearning); < 0 = not applicable */
    /* Membership inference (spec/unlearning_methods.md §6.3): the attacker
     * trained once on the original model; P = mean P(member) over Df. NaN
     * (null in metrics.json) when !has_mi. */
    int has_mi;
    double p_before, p_after;       /* original / this model */
    double mi_ratio;                /* p_before / p_after: > 1 = more forgetting */
    double mi_per_sample_ratio;     /* mean over Df of P_before(x) / P_after(x) */
    double mi_hard_before, mi_hard_after; /* fraction of Df labelled member */
    double mi_control_ratio;        /* the same ratio on a Dr control sample (§6.3 item 5) */
    /* The ratio under attackers that differ only in Platt scaling's
     * cross-validation fold split (libsvm's rand() seed): mean and standard
     * deviation over mi_n_splits of them; NaN when not measured. */
    double mi_ratio_mean, mi_ratio_sd;
    int mi_n_splits;
    double mi2_ratio;               /* the second attacker's ratio (unlearn/run_eval.h); NaN when not measured */
    /* Per-pair scores (borrowed, they must outlive the report): [n_df] and
     * [n_dr] in the order of RunReport's df_pairs / dr_pairs; NULL = none.
     * A classification task's rows hold RunReport.score_columns class columns each. */
    const double *df_scores, *dr_scores;
    const double *unseen_scores;    /* [n_unseen], the same unseen pairs for every model */
    int64_t n_unseen;
    /* A classification task (eval/class_metrics.h): Dt accuracy instead of
     * recall (has_dt stays 0), and the Df AUC of every Dr subset and class
     * column (auc_chunks stays empty) with the range of their Df values. */
    int has_accuracy;
    ClassAccuracy accuracy;
    double class_aucs[CLASS_MAX_AUCS];
    int n_class_aucs;
    double df_min, df_max;
} ModelResult;

typedef struct {
    char method[64];           /* the program's method, echoed in the files */
    int n_models;
    ModelResult models[REPORT_MAX_MODELS];
    /* The evaluation pairs (borrowed): training-pair indices, and for every
     * training pair its deletion key and caption (indexed by pair). */
    int64_t n_df, n_dr;
    const int64_t *df_pairs, *dr_pairs;
    const char *const *pair_keys;
    const char *const *pair_texts;
    const cJSON *config;       /* optional resolved configuration, copied into metrics.json */
    /* Optional (borrowed): the method's own details (e.g. MultiDelete's model
     * selection), copied into metrics.json as "method_details", and a markdown
     * paragraph about them appended to report.md. */
    const cJSON *method_details;
    const char *method_notes;
    /* The MI attacker's power: its AUC on held-out members vs non-members
     * under the original (eval/mi_attack.h); NaN = not measured. */
    double mi_power;
    double mi2_power;          /* the same for the second attacker (ITM entropy and ITC cosine) */
    /* A classification task's report (run_report_set_classes): its tables show
     * accuracy, the class-column Df and its range; the score files one column
     * per scored class column (first_column ..). 0 for retrieval. */
    int n_classes;
    int first_column, score_columns;
} RunReport;

/* Below this power the attacker is at chance and the MI ratio is reported
 * as uninformative: its P(member) does not track membership. */
#define REPORT_MI_MIN_POWER 0.55

void run_report_init(RunReport *r, const char *method, const char *const *pair_keys, const char *const *pair_texts);
/* A new model row (times -1, metrics absent); aborts past REPORT_MAX_MODELS. */
ModelResult *run_report_add(RunReport *r, const char *name);
/* The model of that name, or NULL. */
const ModelResult *run_report_find(const RunReport *r, const char *name);

void model_result_set_dt(ModelResult *m, const RetrievalEvalResult *dt);
/* Copies the AUCs and borrows the per-pair score arrays. */
void model_result_set_forget(ModelResult *m, const ForgetMetrics *f);
/* Copies the MI numbers (sets has_mi). */
void model_result_set_mi(ModelResult *m, const MiReport *mi);
/* Sets the report's Df/Dr pair lists from a ForgetMetrics (borrowed). */
void run_report_set_pairs(RunReport *r, const ForgetMetrics *f);

/* A classification report: k classes, the Df/Dr item lists (borrowed) and the
 * scored class columns (class_score_columns). */
void run_report_set_classes(RunReport *r, int k, int64_t n_df, const int64_t *df_items, int n_subsets,
                            const int64_t *dr_items);
void model_result_set_accuracy(ModelResult *m, const ClassAccuracy *a);
/* Copies the AUCs and borrows the per-item score arrays. */
void model_result_set_class_forget(ModelResult *m, const ClassForget *f);

/* Each file on its own (0, or -1 with error_set naming the file). */
int run_report_write_metrics_json(const RunReport *r, const char *path);
int run_report_write_markdown(const RunReport *r, const char *path);
/* which: 0 = Df pairs, 1 = Dr pairs. */
int run_report_write_scores_csv(const RunReport *r, int which, const char *path);
/* All four into run_dir (created when missing). */
int run_report_write(const RunReport *r, const char *run_dir);

/* The aligned summary table: model, TR mean, IR mean, R mean, Df, Df-vs-unseen (ITC and ITM), MI ratio,
 * time (a classification report: Dt accuracy, Df, its range, Df-vs-unseen, Dr-vs-unseen, MI ratio, time);
 * then the MI attacker's power and, when the report holds "original",
 * "retrain" and other rows, the verdict on each of them (eval/verdict.h). */
void run_report_print_summary(const RunReport *r, FILE *out);

/* The verdict paragraph alone (nothing without "original" and "retrain" rows). */
void run_report_print_verdict(const RunReport *r, FILE *out);

/* A CSV field (RFC 4180): quoted, with quotes doubled, when it holds a comma,
 * a quote, CR or LF; as is otherwise. */
void report_csv_field(FILE *out, const char *text);

#endif
