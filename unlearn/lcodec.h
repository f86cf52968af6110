/* L-codec (Mehta et al., CVPR 2022) as spec/unlearning_methods.md §4.6 adapts
 * it to image-text pairs, written against the task interface (models/task.h).
 * Df is removed in shuffled batches; for each batch:
 *   1. P perturbed copies of the batch (pixel noise on the image side and one
 *      replaced token per text) run through the model in eval mode; each gives
 *      the task's item loss Y_p (Task.item_loss: the cross-entropy of each
 *      item's own prediction) and the mean output a_p of every Linear unit
 *      (read off the tape);
 *   2. FOCI on (X = [a_p], Y) picks the units whose activations the loss
 *      depends on; unit r of a Linear owns weight row r and bias entry r;
 *   3. a Newton step on those slices, w_S += (1/(n-1))(H + λI)^{-1} g_S, with
 *      a low-rank Hessian from Dr gradients and the batch's own gradient,
 *      solved exactly by Woodbury;
 *   4. Gaussian noise of the certified-removal scale σ on the same slices;
 *   5. the guard: a step that lowers the task's accuracy on Dr items
 *      (Task.item_accuracy) by more than a gap is reverted and the batch
 *      counted as skipped.
 * Nothing outside the selected slices changes; under -F only trainable
 * (fusion) tensors are candidates, because the tape records frozen layers
 * that see no trainable input as nothing. */
#ifndef UNLEARN_LCODEC_H
#define UNLEARN_LCODEC_H

#include <stdint.h>

#include "models/task.h"

typedef enum {
    LCODEC_FOCI_CHEAP = 0, /* S = {argmax_j codec(X_j, Y)} (spec's recommendation for large models) */
    LCODEC_FOCI_FULL = 1,  /* greedy conditional FOCI, capped at max_units */
} LcodecFoci;

typedef enum {
    /* H_old = ḡ ḡᵀ with ḡ the mean gradient of the sampled Dr batches: the
     * spec's fallback when θ0's FD gradient banks are unavailable (§4.6). */
    LCODEC_HESSIAN_MEAN = 0,
    /* H_old = (1/k) Σ g_i g_iᵀ over the k sampled Dr batch gradients: an
     * empirical Fisher of rank k (Woodbury rank k + 1). */
    LCODEC_HESSIAN_SAMPLES = 1,
} LcodecHessian;

typedef enum {
    LCODEC_NEWTON_SEKHARI = 0, /* H = (n H_old - H_samp)/(n-1); step scaled 1/(n-1); noise */
    LCODEC_NEWTON_CR = 1,      /* w += (H_samp + λI)^{-1} g; no noise */
} LcodecNewton;

typedef struct {
    int perturbations;         /* P */
    int batch;                 /* Df items removed per Newton step */
    float image_noise;         /* std of the pixel noise on the normalised input */
    int32_t token_lo, token_hi;/* replacement token ids, uniform in [lo, hi] */
    LcodecFoci foci;
    int max_units;             /* cap on |S| for full FOCI */
    LcodecHessian hessian;
    int hessian_batches;       /* k Dr batches of `batch` items */
    LcodecNewton newton;
    double l2_reg;             /* λ */
    double epsilon, delta;     /* certified-removal budget of the noise */
    int64_t n_train;           /* n = |D| */
    int noise;                 /* add the noise (Sekhari only) */
    double guard_gap;          /* revert a step losing more Dr accuracy than this; < 0: off */
    int guard_pairs;
    uint64_t seed;
} LcodecOptions;

typedef struct {
    int64_t batches, applied, skipped;
    int64_t units_selected;    /* over applied batches */
    int64_t values_changed;    /* parameter elements inside the applied slices */
    double sigma;              /* noise std used (0 when off) */
    double guard_first, guard_last;
    double seconds;            /* the removal loop only (spec §6.5) */
} LcodecStats;

/* σ = (Γ/ε)·sqrt(2 ln(1.25/δ)), Γ = 2·M·L²·m²/(n²·λ³), M = 0.25, L = 1, m = 1
 * (spec §4.6 step 7). */
double lcodec_noise_sigma(double n, double lambda, double epsilon, double delta);
/* w[k] += σ·N(0,1) from Philox (seed, stream, first + k). */
void lcodec_add_noise(float *w, int64_t n, double sigma, uint64_t seed, uint64_t stream, uint64_t first);

/* CODEC of Y on the columns `cols` of X [P, U] (row-major) given the columns
 * `cond` (n_cond = 0: the unconditional coefficient). Spec §4.6 step 2. */
double lcodec_codec(const float *X, int P, int U, const float *Y, const int *cols, int n_cols, const int *cond,
                    int n_cond);
/* FOCI: writes the selected column indices into selected (room for
 * max(1, max_units)) and returns how many. */
int lcodec_foci(const float *X, int P, int U, const float *Y, LcodecFoci type, int max_units, int *selected);

/* x = (λI + Σ_i c_i u_i u_iᵀ)^{-1} v by Woodbury, with the r rows u_i of
 * U [r, d]: x = (v - Uᵀ(λC^{-1} + UUᵀ)^{-1} U v)/λ. Rows with c_i = 0 are
 * skipped. -1 with error_set when the small system is singular. */
int lcodec_woodbury_solve(int64_t d, int r, const float *U, const double *c, double lambda, const float *v,
                          float *x);
/* The Newton removal step Δ on a slice of d values: g = the removed batch's
 * gradient, G [k, d] the Dr batch gradients (spec §4.6 step 6). */
int lcodec_newton_step(int64_t d, const float *g, const float *G, int k, const LcodecOptions *o, float *delta);

/* Removes the Df items (training items of t) from m in place. touched: NULL,
 * or m->params->total bytes set to 1 for every element of an applied slice.
 * 0, or -1 with error_set. */
int lcodec_unlearn(const Task *t, TaskModel *m, const int64_t *df, int64_t n_df, const int64_t *dr, int64_t n_dr,
                   const LcodecOptions *o, unsigned char *touched, LcodecStats *stats);

#endif
