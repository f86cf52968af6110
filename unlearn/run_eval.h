/* The evaluation every program ends with (issue: "Every program ends with the
 * same evaluation"): for each model, Dt on the test split (retrieval recall
 * with the ITM rerank) and the Df metrics (Df vs Dr subsets, Df vs unseen),
 * collected into a RunReport and written to the run directory. */
#ifndef UNLEARN_RUN_EVAL_H
#define UNLEARN_RUN_EVAL_H

#include "eval/forget_metrics.h"
#include "eval/report.h"
#include "unlearn/run_driver.h"

typedef struct {
    RunReport report;
    ForgetMetrics forget[REPORT_MAX_MODELS]; /* own the per-pair scores the report borrows */
    const char **pair_keys, **pair_texts;
    int n;
} RunEvaluation;

void run_evaluation_init(RunEvaluation *e, const RunContext *ctx, const char *method);
void run_evaluation_free(RunEvaluation *e);
/* Evaluates one model and adds its row; time_seconds is the method's own
 * wall-clock (negative: not applicable). 0, or -1 with error_set. */
int run_evaluation_add(RunEvaluation *e, RunContext *ctx, Albef *m, const char *name, double time_seconds);
/* Writes metrics.json, report.md, scores_*.csv and prints the summary table. */
int run_evaluation_finish(RunEvaluation *e, const RunContext *ctx);

#endif
