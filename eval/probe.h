/* Linear probes of the unimodal-utility experiment (spec/unlearning_methods.md §6.4).
 *
 * A multinomial logistic regression with L2 penalty is trained on the ORIGINAL
 * model's unimodal features (image or text [CLS]) of the training pairs and
 * tested on another model's features of the test pairs; the accuracy says how
 * much of the original representation the unlearned model kept (Table 5).
 *
 * The model is scikit-learn's LogisticRegression(C=1, solver='lbfgs',
 * multi_class='multinomial') objective:
 *     min_{W,b}  C · Σ_i −log softmax(W x_i + b)_{y_i}  +  ½ ‖W‖²_F
 * (intercept b not penalised), minimised by L-BFGS in double precision from
 * zero. The objective is strictly convex in W; in b it is flat only along
 * b + t·1, and a gradient method from zero stays on Σ_k b_k = 0, which is the
 * solution sklearn's lbfgs returns too. So the result is the unique optimum
 * sklearn converges to, up to the stopping tolerance. Unlike sklearn's default
 * (max_iter = 100, which may stop early with a ConvergenceWarning), we run to
 * convergence (max |gradient| ≤ tol on the objective divided by C·n).
 *
 * Features are NOT standardised: sklearn's LogisticRegression does not
 * standardise either, and §6.4 probes the raw embeddings. The penalty then
 * acts on the raw scale; with C = 1 and thousands of pairs it is weak.
 *
 * Deterministic: every sum runs in a fixed order whatever the thread count. */
#ifndef EVAL_PROBE_H
#define EVAL_PROBE_H

#include <stdint.h>

typedef struct {
    double C;      /* inverse L2 strength: 1 (sklearn's default, §6.4 item 3) */
    double tol;    /* stop when max |∇| of the objective / (C·n) ≤ tol: 1e-8 */
    int max_iter;  /* L-BFGS iterations: 1000 */
    int history;   /* L-BFGS memory: 10 (sklearn's scipy lbfgs uses 10) */
} ProbeOptions;

ProbeOptions probe_options_default(void);

typedef struct {
    int dim, n_classes;
    double *coef;      /* n_classes × dim, row-major (sklearn's coef_) */
    double *intercept; /* n_classes (sklearn's intercept_) */
    int n_iter;        /* L-BFGS iterations taken */
    int converged;     /* 1 when the gradient tolerance was met within max_iter */
} ProbeModel;

/* Fits the probe on n rows of `x` (row-major n × dim floats) with labels y in
 * [0, n_classes). NULL with error_set("probe: <item>: <reason>") when n < 1,
 * dim < 1, n_classes < 2, a label is out of range, or a feature is not finite.
 * `opt` may be NULL (defaults). */
ProbeModel *probe_fit(const float *x, const int *y, int64_t n, int dim, int n_classes, const ProbeOptions *opt);

/* Class probabilities (n × n_classes) and argmax labels (ties: lowest class, as numpy's argmax). */
void probe_predict_proba(const ProbeModel *m, const float *x, int64_t n, double *out);
void probe_predict(const ProbeModel *m, const float *x, int64_t n, int *out);
/* Fraction of rows whose predicted class equals y. */
double probe_accuracy(const ProbeModel *m, const float *x, const int *y, int64_t n);

void probe_free(ProbeModel *m);

/* §6.4 items 3–4 in one call: fit on (train_x, train_y), the original model's
 * features, and return the accuracy on (test_x, test_y), another model's
 * features of the test pairs. −1 with error_set on bad input. */
double probe_transfer_accuracy(const float *train_x, const int *train_y, int64_t n_train, const float *test_x,
                               const int *test_y, int64_t n_test, int dim, int n_classes,
                               const ProbeOptions *opt);

#endif
