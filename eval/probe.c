#include "eval/probe.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* Below this many multiply-adds a parallel region costs more than it saves
 * (and spins badly on a loaded machine). */
#define PROBE_PAR_MIN_WORK 200000

ProbeOptions probe_options_default(void) {
    return (ProbeOptions){.C = 1.0, .tol = 1e-8, .max_iter = 1000, .history = 10};
}

/* The data and scratch one objective evaluation needs. θ = [W (K×d) | b (K)]. */
typedef struct {
    const float *x;
    const int *y;
    int64_t n;
    int d, K;
    double C;
    double *resid; /* n × K: softmax − one-hot */
    double *loss;  /* n: per-sample cross-entropy */
} Problem;

/* Row i's logits into z (K doubles). */
static void logits_row(const double *W, const double *b, const float *xi, int d, int K, double *z) {
    for (int k = 0; k < K; k++) {
        const double *w = W + (size_t)k * d;
        double s = b[k];
        for (int j = 0; j < d; j++) s += w[j] * (double)xi[j];
        z[k] = s;
    }
}

/* Softmax of z in place; returns log Σ exp z (stable). */
static double softmax_inplace(double *z, int K) {
    double m = z[0];
    for (int k = 1; k < K; k++) m = z[k] > m ? z[k] : m;
    double s = 0.0;
    for (int k = 0; k < K; k++) {
        z[k] = exp(z[k] - m);
        s += z[k];
    }
    for (int k = 0; k < K; k++) z[k] /= s;
    return m + log(s);
}

/* F(θ) = (1/n) Σ_i CE_i + ‖W‖² / (2·C·n): sklearn's objective divided by C·n,
 * so F and its gradient are O(1) whatever n. Writes ∇F into g. */
static double objective(const Problem *p, const double *theta, double *g) {
    const int d = p->d, K = p->K;
    const int64_t n = p->n;
    const double *W = theta, *b = theta + (size_t)K * d;
    const int par = (double)n * d * K >= PROBE_PAR_MIN_WORK;
#pragma omp parallel for schedule(static) if (par)
    for (int64_t i = 0; i < n; i++) {
        double *z = p->resid + i * K;
        logits_row(W, b, p->x + i * d, d, K, z);
        int yi = p->y[i];
        double logit_y = z[yi];
        /* −log softmax_y = logsumexp − logit_y: exact even when p_y underflows. */
        p->loss[i] = softmax_inplace(z, K) - logit_y;
        z[yi] -= 1.0;
    }
    /* Fixed-order sums: the result does not depend on the thread count. */
    double f = 0.0;
    for (int64_t i = 0; i < n; i++) f += p->loss[i];
    const double inv_n = 1.0 / (double)n, reg = 1.0 / (p->C * (double)n);
    double wsq = 0.0;
    for (size_t q = 0; q < (size_t)K * d; q++) wsq += W[q] * W[q];
    f = f * inv_n + 0.5 * reg * wsq;
    /* ∂F/∂W_kj = (1/n) Σ_i r_ik x_ij + W_kj/(C n): each thread owns feature columns. */
#pragma omp parallel for schedule(static) if (par)
    for (int j = 0; j < d; j++) {
        double acc[64];
        double *a = K <= 64 ? acc : malloc((size_t)K * sizeof *a);
        CHECK(a, "out of memory");
        for (int k = 0; k < K; k++) a[k] = 0.0;
        for (int64_t i = 0; i < n; i++) {
            double xij = (double)p->x[i * d + j];
            const double *r = p->resid + i * K;
            for (int k = 0; k < K; k++) a[k] += r[k] * xij;
        }
        for (int k = 0; k < K; k++) g[(size_t)k * d + j] = a[k] * inv_n + reg * W[(size_t)k * d + j];
        if (a != acc) free(a);
    }
    /* The intercept is not penalised (sklearn's fit_intercept=True). */
    for (int k = 0; k < K; k++) {
        double s = 0.0;
        for (int64_t i = 0; i < n; i++) s += p->resid[i * K + k];
        g[(size_t)K * d + k] = s * inv_n;
    }
    return f;
}

static double dot(const double *a, const double *b, size_t m) {
    double s = 0.0;
    for (size_t q = 0; q < m; q++) s += a[q] * b[q];
    return s;
}

static double max_abs(const double *a, size_t m) {
    double s = 0.0;
    for (size_t q = 0; q < m; q++) s = fabs(a[q]) > s ? fabs(a[q]) : s;
    return s;
}

/* L-BFGS (Nocedal & Wright, Alg. 7.4/7.5) with a backtracking Armijo line
 * search. The objective is smooth and convex, so s·y > 0 holds on every step
 * that decreases F; pairs that fail it are skipped rather than stored. */
static void lbfgs(const Problem *p, double *theta, const ProbeOptions *o, int *n_iter, int *converged) {
    const size_t m = (size_t)p->K * ((size_t)p->d + 1);
    const int H = o->history > 0 ? o->history : 10;
    double *g = malloc(m * sizeof *g), *gn = malloc(m * sizeof *gn), *dir = malloc(m * sizeof *dir);
    double *tn = malloc(m * sizeof *tn);
    double *S = malloc((size_t)H * m * sizeof *S), *Y = malloc((size_t)H * m * sizeof *Y);
    double *rho = malloc((size_t)H * sizeof *rho), *alpha = malloc((size_t)H * sizeof *alpha);
    CHECK(g && gn && dir && tn && S && Y && rho && alpha, "out of memory");
    double f = objective(p, theta, g);
    int stored = 0, head = 0; /* ring of the latest `stored` pairs, newest at head−1 */
    *converged = 0;
    int it = 0;
    for (; it < o->max_iter; it++) {
        if (max_abs(g, m) <= o->tol) {
            *converged = 1;
            break;
        }
        /* Two-loop recursion: dir = −H·g. */
        for (size_t q = 0; q < m; q++) dir[q] = -g[q];
        for (int c = 0; c < stored; c++) {
            int s = (head - 1 - c + H) % H;
            alpha[s] = rho[s] * dot(S + (size_t)s * m, dir, m);
            for (size_t q = 0; q < m; q++) dir[q] -= alpha[s] * Y[(size_t)s * m + q];
        }
        if (stored > 0) {
            int s = (head - 1 + H) % H;
            double gamma = dot(S + (size_t)s * m, Y + (size_t)s * m, m) / dot(Y + (size_t)s * m, Y + (size_t)s * m, m);
            for (size_t q = 0; q < m; q++) dir[q] *= gamma;
        }
        for (int c = stored - 1; c >= 0; c--) {
            int s = (head - 1 - c + H) % H;
            double beta = rho[s] * dot(Y + (size_t)s * m, dir, m);
            for (size_t q = 0; q < m; q++) dir[q] += (alpha[s] - beta) * S[(size_t)s * m + q];
        }
        double slope = dot(g, dir, m);
        if (!(slope < 0)) { /* not a descent direction (numerical): restart from −g */
            stored = 0;
            for (size_t q = 0; q < m; q++) dir[q] = -g[q];
            slope = dot(g, dir, m);
        }
        /* First step without curvature information: scale to a unit move. */
        double step = stored > 0 ? 1.0 : 1.0 / fmax(1.0, sqrt(-slope));
        double fn = f;
        int ok = 0;
        for (int ls = 0; ls < 60; ls++) {
            for (size_t q = 0; q < m; q++) tn[q] = theta[q] + step * dir[q];
            fn = objective(p, tn, gn);
            if (fn <= f + 1e-4 * step * slope) {
                ok = 1;
                break;
            }
            step *= 0.5;
        }
        if (!ok) {
            if (stored == 0) break; /* no decrease along −g: at the optimum to machine precision */
            stored = 0;               /* drop the curvature pairs and retry along −g */
            continue;
        }
        double *s_new = S + (size_t)head * m, *y_new = Y + (size_t)head * m;
        for (size_t q = 0; q < m; q++) {
            s_new[q] = tn[q] - theta[q];
            y_new[q] = gn[q] - g[q];
        }
        double sy = dot(s_new, y_new, m);
        if (sy > 1e-12 * sqrt(dot(s_new, s_new, m) * dot(y_new, y_new, m))) {
            rho[head] = 1.0 / sy;
            head = (head + 1) % H;
            if (stored < H) stored++;
        }
        memcpy(theta, tn, m * sizeof *theta);
        memcpy(g, gn, m * sizeof *g);
        f = fn;
    }
    if (!*converged && max_abs(g, m) <= o->tol) *converged = 1;
    *n_iter = it;
    free(g), free(gn), free(dir), free(tn), free(S), free(Y), free(rho), free(alpha);
}

ProbeModel *probe_fit(const float *x, const int *y, int64_t n, int dim, int n_classes, const ProbeOptions *opt) {
    ProbeOptions o = opt ? *opt : probe_options_default();
    if (n < 1) return error_set("probe: training features: none given"), NULL;
    if (dim < 1) return error_set("probe: training features: dimension %d < 1", dim), NULL;
    if (n_classes < 2) return error_set("probe: labels: %d classes, need at least 2", n_classes), NULL;
    if (!(o.C > 0)) return error_set("probe: options: C = %g must be positive", o.C), NULL;
    for (int64_t i = 0; i < n; i++) {
        if (y[i] < 0 || y[i] >= n_classes)
            return error_set("probe: labels: row %lld has label %d outside [0, %d)", (long long)i, y[i], n_classes),
                   NULL;
        for (int j = 0; j < dim; j++)
            if (!isfinite(x[i * dim + j]))
                return error_set("probe: training features: row %lld, feature %d is not finite", (long long)i, j),
                       NULL;
    }
    const size_t m = (size_t)n_classes * ((size_t)dim + 1);
    ProbeModel *model = calloc(1, sizeof *model);
    double *theta = calloc(m, sizeof *theta); /* zero start, as sklearn */
    Problem p = {.x = x, .y = y, .n = n, .d = dim, .K = n_classes, .C = o.C};
    p.resid = malloc((size_t)n * (size_t)n_classes * sizeof *p.resid);
    p.loss = malloc((size_t)n * sizeof *p.loss);
    CHECK(model && theta && p.resid && p.loss, "out of memory");
    lbfgs(&p, theta, &o, &model->n_iter, &model->converged);
    free(p.resid);
    free(p.loss);
    model->dim = dim;
    model->n_classes = n_classes;
    model->coef = malloc((size_t)n_classes * (size_t)dim * sizeof *model->coef);
    model->intercept = malloc((size_t)n_classes * sizeof *model->intercept);
    CHECK(model->coef && model->intercept, "out of memory");
    memcpy(model->coef, theta, (size_t)n_classes * (size_t)dim * sizeof *theta);
    memcpy(model->intercept, theta + (size_t)n_classes * dim, (size_t)n_classes * sizeof *theta);
    free(theta);
    return model;
}

void probe_predict_proba(const ProbeModel *m, const float *x, int64_t n, double *out) {
#pragma omp parallel for schedule(static) if ((double)n * m->dim * m->n_classes >= PROBE_PAR_MIN_WORK)
    for (int64_t i = 0; i < n; i++) {
        double *z = out + i * m->n_classes;
        logits_row(m->coef, m->intercept, x + i * m->dim, m->dim, m->n_classes, z);
        softmax_inplace(z, m->n_classes);
    }
}

void probe_predict(const ProbeModel *m, const float *x, int64_t n, int *out) {
    const int K = m->n_classes;
#pragma omp parallel for schedule(static) if ((double)n * m->dim * K >= PROBE_PAR_MIN_WORK)
    for (int64_t i = 0; i < n; i++) {
        double zbuf[64];
        double *z = K <= 64 ? zbuf : malloc((size_t)K * sizeof *z);
        CHECK(z, "out of memory");
        logits_row(m->coef, m->intercept, x + i * m->dim, m->dim, K, z);
        int best = 0;
        for (int k = 1; k < K; k++)
            if (z[k] > z[best]) best = k; /* the first maximum wins, as numpy's argmax */
        out[i] = best;
        if (z != zbuf) free(z);
    }
}

double probe_accuracy(const ProbeModel *m, const float *x, const int *y, int64_t n) {
    if (n < 1) return NAN;
    int *pred = malloc((size_t)n * sizeof *pred);
    CHECK(pred, "out of memory");
    probe_predict(m, x, n, pred);
    int64_t hit = 0;
    for (int64_t i = 0; i < n; i++) hit += pred[i] == y[i];
    free(pred);
    return (double)hit / (double)n;
}

void probe_free(ProbeModel *m) {
    if (!m) return;
    free(m->coef);
    free(m->intercept);
    free(m);
}

double probe_transfer_accuracy(const float *train_x, const int *train_y, int64_t n_train, const float *test_x,
                               const int *test_y, int64_t n_test, int dim, int n_classes,
                               const ProbeOptions *opt) {
    if (n_test < 1) return error_set("probe: test features: none given");
    ProbeModel *m = probe_fit(train_x, train_y, n_train, dim, n_classes, opt);
    if (!m) return -1;
    double acc = probe_accuracy(m, test_x, test_y, n_test);
    probe_free(m);
    return acc;
}
