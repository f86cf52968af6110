/* The model-free parts of L-codec (unlearn/lcodec.h): the CODEC coefficient
 * and FOCI selection (spec/unlearning_methods.md §4.6 step 2), the Woodbury
 * solve of the low-rank Newton system (step 6) and the calibrated noise
 * (step 7). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"
#include "unlearn/lcodec.h"

double lcodec_noise_sigma(double n, double lambda, double epsilon, double delta) {
    const double M = 0.25, L = 1.0, m = 1.0; /* the reference's constants (m = 1 even for batches) */
    double gamma = 2.0 * M * L * L * m * m / (n * n * lambda * lambda * lambda);
    return gamma / epsilon * sqrt(2.0 * log(1.25 / delta));
}

void lcodec_add_noise(float *w, int64_t n, double sigma, uint64_t seed, uint64_t stream, uint64_t first) {
    for (int64_t k = 0; k < n; k++) w[k] += (float)(sigma * philox_normal(seed, stream, first + (uint64_t)k));
}

/* ---- CODEC (Azadkia & Chatterjee), as torch_codec computes it ---- */

static int by_key_then_index(const void *a, const void *b, void *keys) {
    const float *y = keys;
    int i = *(const int *)a, j = *(const int *)b;
    if (y[i] != y[j]) return y[i] < y[j] ? -1 : 1;
    return i - j; /* ties: the earlier sample ranks first (the reference's argsort is arbitrary) */
}

/* R[i] = 1-based ascending rank of Y[i]. */
static void ranks(const float *Y, int P, int *R) {
    int *idx = malloc((size_t)P * sizeof *idx);
    CHECK(idx, "out of memory");
    for (int i = 0; i < P; i++) idx[i] = i;
    qsort_r(idx, (size_t)P, sizeof *idx, by_key_then_index, (void *)Y);
    for (int pos = 0; pos < P; pos++) R[idx[pos]] = pos + 1;
    free(idx);
}

/* D[i, k] += Σ_{c in cols} (X[i, c] - X[k, c])². */
static void add_sq_dist(double *D, const float *X, int P, int U, const int *cols, int n_cols) {
    for (int i = 0; i < P; i++)
        for (int k = 0; k < P; k++) {
            double s = 0.0;
            for (int c = 0; c < n_cols; c++) {
                double d = (double)X[(int64_t)i * U + cols[c]] - X[(int64_t)k * U + cols[c]];
                s += d * d;
            }
            D[i * P + k] += s;
        }
}

/* Nearest other row (Euclidean); ties go to the lowest index. */
static void nearest(const double *D, int P, int *nn) {
    for (int i = 0; i < P; i++) {
        int best = -1;
        for (int k = 0; k < P; k++)
            if (k != i && (best < 0 || D[i * P + k] < D[i * P + best])) best = k;
        nn[i] = best;
    }
}

static double imin(int a, int b) { return (double)(a < b ? a : b); }

/* Unconditional (N == NULL) or conditional coefficient from the neighbours. */
static double codec_from_neighbours(const int *R, int P, const int *M, const int *N) {
    double num = 0.0, den = 0.0;
    for (int i = 0; i < P; i++) {
        if (N) {
            num += imin(R[i], R[M[i]]) - imin(R[i], R[N[i]]);
            den += R[i] - imin(R[i], R[N[i]]);
        } else {
            double Li = (double)(P + 1 - R[i]);
            num += (double)P * imin(R[i], R[M[i]]) - Li * Li;
            den += Li * ((double)P - Li);
        }
    }
    return den != 0.0 ? num / den : 0.0;
}

double lcodec_codec(const float *X, int P, int U, const float *Y, const int *cols, int n_cols, const int *cond,
                    int n_cond) {
    int *R = malloc((size_t)P * sizeof *R), *M = malloc((size_t)P * sizeof *M), *N = malloc((size_t)P * sizeof *N);
    double *D = calloc((size_t)P * P, sizeof *D);
    CHECK(R && M && N && D, "out of memory");
    ranks(Y, P, R);
    if (n_cond > 0) {
        add_sq_dist(D, X, P, U, cond, n_cond);
        nearest(D, P, N);
    }
    add_sq_dist(D, X, P, U, cols, n_cols);
    nearest(D, P, M);
    double v = codec_from_neighbours(R, P, M, n_cond > 0 ? N : NULL);
    free(R), free(M), free(N), free(D);
    return v;
}

int lcodec_foci(const float *X, int P, int U, const float *Y, LcodecFoci type, int max_units, int *selected) {
    int *R = malloc((size_t)P * sizeof *R), *M = malloc((size_t)P * sizeof *M), *N = malloc((size_t)P * sizeof *N);
    double *DS = calloc((size_t)P * P, sizeof *DS), *D = malloc((size_t)P * P * sizeof *D);
    unsigned char *in_s = calloc((size_t)U, 1);
    CHECK(R && M && N && DS && D && in_s, "out of memory");
    ranks(Y, P, R);
    int cap = type == LCODEC_FOCI_CHEAP ? 1 : (max_units < 1 ? 1 : max_units);
    int n = 0;
    while (n < cap) {
        if (n > 0) nearest(DS, P, N); /* N(i) over X_S is shared by every candidate */
        int best = -1;
        double best_v = 0.0;
        for (int j = 0; j < U; j++) {
            if (in_s[j]) continue;
            memcpy(D, DS, (size_t)P * P * sizeof *D);
            add_sq_dist(D, X, P, U, &j, 1);
            nearest(D, P, M);
            double v = codec_from_neighbours(R, P, M, n > 0 ? N : NULL);
            if (best < 0 || v > best_v) best = j, best_v = v;
        }
        /* The first unit is taken unconditionally; later ones only while the
         * conditional dependence stays positive (FOCI's early stop). */
        if (best < 0 || (n > 0 && best_v <= 0.0)) break;
        selected[n++] = best;
        in_s[best] = 1;
        add_sq_dist(DS, X, P, U, &best, 1);
    }
    free(R), free(M), free(N), free(DS), free(D), free(in_s);
    return n;
}

/* ---- the Newton step ---- */

/* Solves A y = b in place (A n×n, row-major) by Gaussian elimination with
 * partial pivoting. -1 when singular. */
static int solve_small(double *A, double *b, int n) {
    for (int col = 0; col < n; col++) {
        int piv = col;
        for (int r = col + 1; r < n; r++)
            if (fabs(A[r * n + col]) > fabs(A[piv * n + col])) piv = r;
        if (!(fabs(A[piv * n + col]) > 1e-300)) return -1;
        if (piv != col) {
            for (int c = 0; c < n; c++) {
                double t = A[col * n + c];
                A[col * n + c] = A[piv * n + c], A[piv * n + c] = t;
            }
            double t = b[col];
            b[col] = b[piv], b[piv] = t;
        }
        for (int r = col + 1; r < n; r++) {
            double f = A[r * n + col] / A[col * n + col];
            for (int c = col; c < n; c++) A[r * n + c] -= f * A[col * n + c];
            b[r] -= f * b[col];
        }
    }
    for (int r = n - 1; r >= 0; r--) {
        double s = b[r];
        for (int c = r + 1; c < n; c++) s -= A[r * n + c] * b[c];
        b[r] = s / A[r * n + r];
    }
    return 0;
}

int lcodec_woodbury_solve(int64_t d, int r, const float *U, const double *c, double lambda, const float *v,
                          float *x) {
    if (!(lambda > 0.0)) return error_set("Woodbury solve: λ must be positive (got %g)", lambda);
    int *rows = malloc((size_t)(r > 0 ? r : 1) * sizeof *rows);
    CHECK(rows, "out of memory");
    int q = 0;
    for (int i = 0; i < r; i++)
        if (c[i] != 0.0) rows[q++] = i;
    double *A = calloc((size_t)(q * q + 1), sizeof *A), *y = calloc((size_t)q + 1, sizeof *y);
    CHECK(A && y, "out of memory");
    /* A = λC^{-1} + U Uᵀ, y = U v (double accumulation: d reaches 10^5 values) */
    for (int a = 0; a < q; a++) {
        const float *ua = U + (int64_t)rows[a] * d;
        double s = 0.0;
        for (int64_t k = 0; k < d; k++) s += (double)ua[k] * v[k];
        y[a] = s;
        for (int b = a; b < q; b++) {
            const float *ub = U + (int64_t)rows[b] * d;
            double g = 0.0;
            for (int64_t k = 0; k < d; k++) g += (double)ua[k] * ub[k];
            A[a * q + b] = A[b * q + a] = g;
        }
        A[a * q + a] += lambda / c[rows[a]];
    }
    int rc = 0;
    if (q > 0 && solve_small(A, y, q) < 0) {
        rc = error_set("Woodbury solve: the %dx%d capacitance system is singular", q, q);
    } else {
        for (int64_t k = 0; k < d; k++) {
            double s = v[k];
            for (int a = 0; a < q; a++) s -= (double)U[(int64_t)rows[a] * d + k] * y[a];
            x[k] = (float)(s / lambda);
        }
    }
    free(rows), free(A), free(y);
    return rc;
}

int lcodec_newton_step(int64_t d, const float *g, const float *G, int k, const LcodecOptions *o, float *delta) {
    double n = (double)o->n_train;
    if (o->newton == LCODEC_NEWTON_CR) { /* (g gᵀ + λI)^{-1} g */
        double c = 1.0;
        return lcodec_woodbury_solve(d, 1, g, &c, o->l2_reg, g, delta);
    }
    if (!(n > 1.0)) return error_set("L-codec Sekhari step: n = |D| must exceed 1 (got %g)", n);
    int mean = o->hessian == LCODEC_HESSIAN_MEAN;
    int r = (mean ? 1 : k) + 1;
    float *U = malloc((size_t)r * (size_t)d * sizeof *U);
    double *c = malloc((size_t)r * sizeof *c);
    CHECK(U && c, "out of memory");
    if (mean) { /* ḡ = (1/k) Σ g_i; H_old = ḡḡᵀ */
        for (int64_t e = 0; e < d; e++) {
            double s = 0.0;
            for (int i = 0; i < k; i++) s += G[(int64_t)i * d + e];
            U[e] = (float)(s / k);
        }
        c[0] = n / (n - 1.0);
    } else { /* H_old = (1/k) Σ g_i g_iᵀ */
        memcpy(U, G, (size_t)k * (size_t)d * sizeof *U);
        for (int i = 0; i < k; i++) c[i] = n / ((n - 1.0) * k);
    }
    /* H = (n H_old - H_samp)/(n-1), H_samp = g gᵀ (the Fisher form of §4.6 step 5) */
    memcpy(U + (int64_t)(r - 1) * d, g, (size_t)d * sizeof *U);
    c[r - 1] = -1.0 / (n - 1.0);
    int rc = lcodec_woodbury_solve(d, r, U, c, o->l2_reg, g, delta);
    if (rc == 0)
        for (int64_t e = 0; e < d; e++) delta[e] = (float)(delta[e] / (n - 1.0));
    free(U), free(c);
    return rc;
}
