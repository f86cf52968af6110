/* The evaluation every program ends with: for each model, Dt on the test
 * split (retrieval recall with the ITM rerank; a classification task's
 * accuracy), the Df metrics (Df vs Dr subsets, Df vs unseen; a classification
 * task's per class column, eval/class_metrics.h) and membership inference on
 * the task's output distribution (spec/unlearning_methods.md §6.1-6.3),
 * collected into a RunReport and written to the run directory.
 *
 *   RunEvaluation ev;
 *   run_evaluation_init(&ev, &ctx, "multidelete");
 *   run_evaluation_set_original(&ev, &ctx, &original);  // MI: attacker + P_before
 *   run_evaluation_add(&ev, &ctx, &original, "original", -1.0);
 *   run_evaluation_add(&ev, &ctx, &unlearned, "multidelete", seconds);
 *   run_evaluation_finish(&ev, &ctx);
 *   run_evaluation_free(&ev);
 *
 * Without run_evaluation_set_original (or when it skipped MI: no validation
 * split), rows carry no MI numbers (null in metrics.json, "-" in the table).
 *
 * The unimodal-utility probe of §6.4 is not part of this evaluation: it
 * trains classifiers on class labels, and a retrieval dataset has none (the
 * paper's Table 5 uses a classification task). */
#ifndef PROGRAMS_RUN_EVAL_H
#define PROGRAMS_RUN_EVAL_H

#include "eval/class_metrics.h"
#include "eval/forget_metrics.h"
#include "eval/mi_attack.h"
#include "eval/report.h"
#include "programs/run_driver.h"

/* Attackers per evaluation that differ only in libsvm's cross-validation
 * fold split (the rand() seed of Platt scaling): one split moved the default
 * run's MI ratio by a third of its effect. */
#define RUN_EVAL_MI_SPLITS 5

typedef struct {
    RunReport report;
    ForgetMetrics forget[REPORT_MAX_MODELS]; /* own the per-pair scores the report borrows (retrieval) */
    ClassForget class_forget[REPORT_MAX_MODELS]; /* the same for a classification task */
    const char **pair_keys, **pair_texts;
    int n;
    /* Membership inference (§6.3), filled by run_evaluation_set_original. */
    MiFeature mi_feature;       /* φ: MI_FEATURE_ENTROPY (default) or MI_FEATURE_PROBS; set before set_original */
    MiAttacker *mi_attacker;    /* NULL: MI not measured */
    int mi_dim;                 /* feature dimension */
    int64_t mi_n_df, mi_n_ctrl; /* Df pairs, Dr control pairs */
    const int64_t *mi_df_pairs; /* borrowed from ctx->eval_sets */
    int64_t *mi_ctrl_pairs;     /* the Dr control pairs (training-pair indices) */
    double *mi_df_before, *mi_ctrl_before; /* θ0's features [n, mi_dim] */
    uint64_t mi_original_hash;  /* FNV-1a (32-bit words) of θ0's online parameters */
    int64_t mi_n_val, mi_n_members; /* the attacker's training set sizes */
    double mi_power;            /* its AUC on held-out Dr members vs test non-members (NaN: not measured) */
    /* The same attacker with other Platt fold splits ([0] is mi_attacker): the
     * ratio's spread over them is reported beside it (report.h) */
    MiAttacker *mi_splits[RUN_EVAL_MI_SPLITS];
    /* A second, stronger attacker beside the paper's (§6.3 keeps the first):
     * the same RBF-SVM on φ = (H(p_ITM), cos_ITC) of the pair, the
     * contrastive similarity the model was trained to raise on its training
     * pairs being the per-example loss signal of loss-threshold attacks
     * (Yeom et al., CSF 2018). Trained on the same members and non-members.
     * Retrieval only (NULL for a classification task). */
    MiAttacker *mi2_attacker;
    double *mi2_df_before;      /* θ0's 2-D features of Df */
    double mi2_power;
} RunEvaluation;

void run_evaluation_init(RunEvaluation *e, const RunContext *ctx, const char *method);
void run_evaluation_free(RunEvaluation *e);

/* §6.3 port specification item 2: trains the MI attacker ONCE on the original
 * model θ0's outputs (non-members = every validation pair, members = a Philox
 * sample of Dr of the same size) and keeps θ0's Df features (P_before) and
 * those of a Dr control sample (item 5). Call it before adding rows. Returns
 * 0 also when MI is skipped (no validation pairs: logged, fields stay null);
 * -1 with error_set on a failure (an image, the SVM). */
int run_evaluation_set_original(RunEvaluation *e, RunContext *ctx, TaskModel *original);

/* Evaluates one model and adds its row; time_seconds is the method's own
 * wall-clock (negative: not applicable). With an attacker, also P_after on Df
 * and on the Dr control and the MiReport; a model with θ0's parameters gets
 * θ0's features back (ratio exactly 1). 0, or -1 with error_set. */
int run_evaluation_add(RunEvaluation *e, RunContext *ctx, TaskModel *m, const char *name, double time_seconds);
/* Writes metrics.json, report.md, scores_*.csv and prints the summary table. */
int run_evaluation_finish(RunEvaluation *e, const RunContext *ctx);

#endif
