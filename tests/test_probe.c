/* Logistic-regression probes of the unimodal-utility experiment
 * (spec/unlearning_methods.md §6.4): the fit against scikit-learn's
 * LogisticRegression(C=1, lbfgs, multinomial) on the fixture of
 * scripts/make_mi_fixtures.py, the transfer accuracy on same / scrambled
 * features, determinism across thread counts, and input errors. */
#include <omp.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/json.h"
#include "core/rng.h"
#include "eval/probe.h"
#include "tests/fixture_json.h"
#include "tests/test.h"

static float *to_float(const double *x, int n) {
    float *out = malloc((size_t)n * sizeof *out);
    for (int i = 0; i < n; i++) out[i] = (float)x[i]; /* exact: the fixture holds float32 values */
    return out;
}

static int *to_int(const double *x, int n) {
    int *out = malloc((size_t)n * sizeof *out);
    for (int i = 0; i < n; i++) out[i] = (int)x[i];
    return out;
}

/* Two references: sklearn's own coef_ / intercept_ / predict_proba (its lbfgs
 * stops at scipy's relative-decrease test, ftol = 64 eps, leaving a gradient of
 * ~1e-6 and coefficients 6e-5 from the optimum), and that answer polished by
 * Newton steps in the fixture script to the exact optimum (gradient 2e-17).
 * Tolerances: against the optimum, coefficients and intercepts 1e-6 (we stop
 * at max|∇| ≤ 1e-8); against sklearn, coefficients 2e-4 and probabilities 1e-4;
 * test accuracy exactly sklearn's. */
TEST(test_probe_matches_sklearn_logistic_regression) {
    char path[512];
    snprintf(path, sizeof path, "%s/mi/logreg.json", test_fixture_dir());
    cJSON *root = json_read_file(path);
    ASSERT_MSG(root != NULL, "%s", error_message());
    int d = cJSON_GetObjectItem(root, "dim")->valueint, K = cJSON_GetObjectItem(root, "n_classes")->valueint;
    double want_acc = cJSON_GetObjectItem(root, "test_accuracy")->valuedouble;
    int ntr, nytr, nte, nyte, nc, ni, np, nco, nio;
    double *xtr = fixture_json_flat(cJSON_GetObjectItem(root, "train_x"), &ntr);
    double *ytr = fixture_json_flat(cJSON_GetObjectItem(root, "train_y"), &nytr);
    double *xte = fixture_json_flat(cJSON_GetObjectItem(root, "test_x"), &nte);
    double *yte = fixture_json_flat(cJSON_GetObjectItem(root, "test_y"), &nyte);
    double *coef = fixture_json_flat(cJSON_GetObjectItem(root, "coef"), &nc);
    double *icpt = fixture_json_flat(cJSON_GetObjectItem(root, "intercept"), &ni);
    double *proba = fixture_json_flat(cJSON_GetObjectItem(root, "test_proba"), &np);
    double *coef_opt = fixture_json_flat(cJSON_GetObjectItem(root, "coef_opt"), &nco);
    double *icpt_opt = fixture_json_flat(cJSON_GetObjectItem(root, "intercept_opt"), &nio);
    cJSON_Delete(root);
    float *ftr = to_float(xtr, ntr), *fte = to_float(xte, nte);
    int *itr = to_int(ytr, nytr), *ite = to_int(yte, nyte);
    ProbeModel *m = probe_fit(ftr, itr, nytr, d, K, NULL);
    double *p = malloc((size_t)np * sizeof *p);
    double coef_err = 0, icpt_err = 0, opt_err = 0, p_err = 0, acc = -1, acc_transfer = -1;
    int converged = 0;
    if (m) {
        for (int q = 0; q < K * d; q++) coef_err = fmax(coef_err, fabs(m->coef[q] - coef[q]));
        for (int k = 0; k < K; k++) icpt_err = fmax(icpt_err, fabs(m->intercept[k] - icpt[k]));
        for (int q = 0; q < K * d; q++) opt_err = fmax(opt_err, fabs(m->coef[q] - coef_opt[q]));
        for (int k = 0; k < K; k++) opt_err = fmax(opt_err, fabs(m->intercept[k] - icpt_opt[k]));
        probe_predict_proba(m, fte, nyte, p);
        for (int q = 0; q < np; q++) p_err = fmax(p_err, fabs(p[q] - proba[q]));
        acc = probe_accuracy(m, fte, ite, nyte);
        converged = m->converged;
    }
    acc_transfer = probe_transfer_accuracy(ftr, itr, nytr, fte, ite, nyte, d, K, NULL);
    probe_free(m);
    free(xtr), free(ytr), free(xte), free(yte), free(coef), free(icpt), free(proba), free(p);
    free(coef_opt), free(icpt_opt);
    free(ftr), free(fte), free(itr), free(ite);
    ASSERT_MSG(m != NULL, "%s", error_message());
    ASSERT_EQ_INT(nc, K * d);
    ASSERT_EQ_INT(np, nyte * K);
    ASSERT(converged);
    ASSERT_EQ_INT(nco, K * d);
    ASSERT_EQ_INT(nio, K);
    ASSERT_MSG(opt_err <= 1e-6, "coef/intercept differ from the exact optimum by %g", opt_err);
    ASSERT_MSG(coef_err <= 2e-4, "coef differs from sklearn by %g", coef_err);
    ASSERT_MSG(icpt_err <= 2e-4, "intercept differs from sklearn by %g", icpt_err);
    ASSERT_MSG(p_err <= 1e-4, "predict_proba differs from sklearn by %g", p_err);
    ASSERT_NEAR(acc, want_acc, 0);
    ASSERT_NEAR(acc_transfer, want_acc, 0);
}

/* n samples of K Gaussian classes in d dimensions (class means from stream 0). */
static void gaussian_classes(float *x, int *y, int n, int d, int K, uint64_t stream) {
    Rng rm = rng_make(42, 0), r = rng_make(42, stream);
    float means[8 * 32];
    for (int q = 0; q < K * d; q++) means[q] = 1.5f * rng_normal(&rm);
    for (int i = 0; i < n; i++) {
        y[i] = (int)rng_below(&r, (uint64_t)K);
        for (int j = 0; j < d; j++) x[i * d + j] = means[y[i] * d + j] + rng_normal(&r);
    }
}

TEST(test_probe_same_features_keep_accuracy_scrambled_give_chance) {
    /* §6.4: a probe trained on θ0's features and tested on an unchanged model's
     * features gives θ0's own accuracy; features that no longer carry the
     * class (rows shuffled against the labels, as a destroyed encoder) give
     * chance, 1/3 here. Tolerance ±0.06 at n = 900 (3.5 binomial σ). */
    enum { N = 900, D = 16, K = 3 };
    static float xtr[N * D], xte[N * D], xsh[N * D];
    static int ytr[N], yte[N];
    gaussian_classes(xtr, ytr, N, D, K, 1);
    gaussian_classes(xte, yte, N, D, K, 2);
    int64_t perm[N];
    for (int i = 0; i < N; i++) perm[i] = i;
    Rng r = rng_make(7, 3);
    rng_shuffle_i64(&r, perm, N);
    for (int i = 0; i < N; i++) memcpy(xsh + i * D, xte + perm[i] * D, D * sizeof *xsh);
    ProbeModel *m = probe_fit(xtr, ytr, N, D, K, NULL);
    ASSERT_MSG(m != NULL, "%s", error_message());
    double own = probe_accuracy(m, xte, yte, N);
    probe_free(m);
    double same = probe_transfer_accuracy(xtr, ytr, N, xte, yte, N, D, K, NULL);
    double shuffled = probe_transfer_accuracy(xtr, ytr, N, xsh, yte, N, D, K, NULL);
    ASSERT(own > 0.9);
    ASSERT_NEAR(same, own, 0);
    ASSERT_NEAR(shuffled, 1.0 / 3.0, 0.06);
}

TEST(test_probe_deterministic_across_thread_counts) {
    /* Large enough (N·D·K ≥ 2e5) for the threaded paths of eval/probe.c to run. */
    enum { N = 2500, D = 24, K = 4 };
    static float x[N * D];
    static int y[N];
    gaussian_classes(x, y, N, D, K, 5);
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    ProbeModel *a = probe_fit(x, y, N, D, K, NULL);
    omp_set_num_threads(4);
    ProbeModel *b = probe_fit(x, y, N, D, K, NULL);
    omp_set_num_threads(saved);
    ASSERT(a && b);
    int same = a->n_iter == b->n_iter;
    for (int q = 0; q < K * D; q++) same &= a->coef[q] == b->coef[q];
    for (int k = 0; k < K; k++) same &= a->intercept[k] == b->intercept[k];
    /* Zero start and zero-sum gradients keep Σ_k b_k = 0 (the sklearn solution). */
    double bsum = 0;
    for (int k = 0; k < K; k++) bsum += a->intercept[k];
    int conv = a->converged;
    probe_free(a);
    probe_free(b);
    ASSERT(same);
    ASSERT(conv);
    ASSERT_NEAR(bsum, 0.0, 1e-10);
}

TEST(test_probe_rejects_bad_input) {
    float x[6] = {0, 1, 2, 3, 4, 5};
    int y[3] = {0, 1, 2};
    error_clear();
    ASSERT(probe_fit(x, y, 3, 2, 2, NULL) == NULL);
    ASSERT_STR_CONTAINS(error_message(), "probe: labels: row 2 has label 2 outside [0, 2)");
    x[3] = NAN;
    ASSERT(probe_fit(x, y, 3, 2, 3, NULL) == NULL);
    ASSERT_STR_CONTAINS(error_message(), "probe: training features: row 1, feature 1 is not finite");
    ASSERT(probe_fit(x, y, 3, 2, 1, NULL) == NULL);
    ASSERT_STR_CONTAINS(error_message(), "need at least 2");
    ASSERT_NEAR(probe_transfer_accuracy(x, y, 3, x, y, 0, 2, 3, NULL), -1, 0);
    ASSERT_STR_CONTAINS(error_message(), "probe: test features: none given");
}
