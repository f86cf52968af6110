/* Losses and similarities: mean squared error, cross-entropy with hard (i32)
 * and soft targets, and the all-pairs cosine similarity matrix.
 *
 * Log-softmax is computed with the row maximum subtracted and accumulated in
 * double, so the reference stays accurate for large logits (ITC logits are
 * similarities / temp with temp down to 0.001, spec/albef_blip.md §1).
 *
 * On a device the losses run in the kernels of autograd/device_kernels.h: the
 * loss stays a scalar on the device, the forward saves softmax(logits) there
 * for the backward, and the cosine matrix is composed from the L2
 * normalisation kernels and a GEMM. */
#include <math.h>

#include "autograd/device_kernels.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/arena.h"
#include "core/device.h"
#include "core/error.h"

#define IGNORE_INDEX (-100) /* PyTorch's CrossEntropyLoss default; MLM labels use it */

static void check_f32(const Tensor *x, const char *op) {
    CHECK(x->dtype == DTYPE_F32 && tensor_is_contiguous(x), "%s: needs a contiguous f32 tensor", op);
}

/* log Σ_c exp(x[c]) of one row, stable. */
static double row_logsumexp(const float *x, int64_t n) {
    float m = -INFINITY;
    for (int64_t c = 0; c < n; c++) m = x[c] > m ? x[c] : m;
    double s = 0.0;
    for (int64_t c = 0; c < n; c++) s += exp((double)x[c] - m);
    return m + log(s);
}

/* ---- mse ---- */

static void mse_backward(TapeNode *node) {
    const float *a = tensor_f32(node->in[0]), *b = tensor_f32(node->in[1]);
    int64_t n = tensor_numel(node->in[0]);
    float *da = tape_input_grad(node, 0), *db = tape_input_grad(node, 1);
    if (node->out->device != DEVICE_CPU) {
        device_kernels(node->out->device, "mse")->mse_backward(a, b, node->out->grad, da, db, n);
        return;
    }
    float s = 2.0f * ((const float *)node->out->grad)[0] / (float)n;
#pragma omp parallel for if (n > 65536)
    for (int64_t k = 0; k < n; k++) {
        float d = s * (a[k] - b[k]);
        if (da) da[k] += d;
        if (db) db[k] -= d;
    }
}

Tensor *op_mse(Tensor *a, Tensor *b) {
    a = op_to_f32(a);
    b = op_to_f32(b);
    check_f32(a, "mse");
    check_f32(b, "mse");
    char sa[64], sb[64];
    CHECK(tensor_same_shape(a, b), "mse: shapes %s and %s differ", tensor_shape_str(a, sa, sizeof sa),
          tensor_shape_str(b, sb, sizeof sb));
    int64_t n = tensor_numel(a);
    const float *x = tensor_f32(a), *y = tensor_f32(b);
    Device dev = ops_device("mse", a, b, NULL);
    if (dev != DEVICE_CPU) {
        Tensor *out = tensor_new_on(dev, DTYPE_F32, 0, NULL);
        device_kernels(dev, "mse")->mse_forward(x, y, tensor_f32(out), n);
        tape_maybe_record("mse", mse_backward, out, a, b, NULL, NULL);
        return out;
    }
    double s = 0.0;
#pragma omp parallel for reduction(+ : s) if (n > 65536)
    for (int64_t k = 0; k < n; k++) {
        double d = (double)x[k] - y[k];
        s += d * d;
    }
    Tensor *out = tensor_scalar_f32((float)(s / (double)n));
    tape_maybe_record("mse", mse_backward, out, a, b, NULL, NULL);
    return out;
}

/* ---- cross-entropy with class indices ----
 * loss = (1/N_valid) Σ_{r valid} (lse_r - x[r, t_r]);
 * dx[r, c] = g/N_valid · (softmax_r[c] - [c == t_r]) for valid rows, 0 otherwise.
 * With every row ignored PyTorch gives NaN (0/0); we return 0 with zero
 * gradients instead, so an MLM batch without masked tokens cannot poison a
 * run with NaN (DESIGN.md "Nothing silently wrong": NaN loss stops a run). */

typedef struct {
    double *lse;  /* per row, saved from the forward (CPU) */
    float *probs; /* softmax of the logits [N, C], saved by the device forward */
    int64_t n_valid;
} CrossEntropySaved;

static void cross_entropy_backward(TapeNode *node) {
    float *dx = tape_input_grad(node, 0);
    const CrossEntropySaved *s = node->saved;
    if (!dx || s->n_valid == 0) return;
    const Tensor *logits = node->in[0];
    int64_t N = logits->shape[0], C = logits->shape[1];
    if (logits->device != DEVICE_CPU) {
        device_kernels(logits->device, "cross_entropy")
            ->cross_entropy_backward(s->probs, tensor_i32(node->in[1]), node->out->grad, dx, N, C);
        return;
    }
    const float *x = tensor_f32(logits);
    const int32_t *t = tensor_i32(node->in[1]);
    double g = ((const float *)node->out->grad)[0] / (double)s->n_valid;
#pragma omp parallel for if (N * C > 65536)
    for (int64_t r = 0; r < N; r++) {
        if (t[r] == IGNORE_INDEX) continue;
        const float *row = x + r * C;
        float *d = dx + r * C;
        for (int64_t c = 0; c < C; c++) d[c] += (float)(g * exp((double)row[c] - s->lse[r]));
        d[t[r]] -= (float)g;
    }
}

static void check_targets(const int32_t *t, int64_t N, int64_t C) {
    for (int64_t r = 0; r < N; r++)
        CHECK(t[r] == IGNORE_INDEX || (t[r] >= 0 && t[r] < C),
              "cross_entropy: target %d of row %lld outside %lld classes", (int)t[r], (long long)r, (long long)C);
}

/* Records the tape node of either path: the CPU saves each row's
 * log-sum-exp, the device the probabilities (one of lse / probs is NULL). */
static Tensor *record_cross_entropy(Tensor *out, Tensor *logits, Tensor *targets, double *lse, float *probs,
                                    int64_t n_valid) {
    TapeNode *node = tape_maybe_record("cross_entropy", cross_entropy_backward, out, logits, targets, NULL, NULL);
    if (node) {
        CrossEntropySaved *s = arena_alloc(arena_activations(), sizeof *s);
        s->lse = lse;
        s->probs = probs;
        s->n_valid = n_valid;
        node->saved = s;
    }
    return out;
}

/* The targets are checked on the host (a kernel must not index outside the
 * row), which also gives the count of valid rows, so the backward of an
 * all-ignored batch is skipped as on the CPU. Host targets (what the models
 * pass) are checked, then sent; device targets are read back first, a wait
 * for the device. */
static Tensor *cross_entropy_on_device(Tensor *logits, Tensor *targets, Device dev) {
    int64_t N = logits->shape[0], C = logits->shape[1], n_valid = 0;
    const int32_t *t = tensor_i32(targets);
    if (targets->device != DEVICE_CPU) {
        int32_t *host = arena_alloc(arena_activations(), (size_t)(N > 0 ? N : 1) * sizeof *host);
        tensor_copy_to_host(targets, host);
        t = host;
    }
    check_targets(t, N, C);
    for (int64_t r = 0; r < N; r++) n_valid += t[r] != IGNORE_INDEX;
    targets = tensor_on(targets, dev);
    float *probs = arena_alloc(arena_activations_on(dev), (size_t)(N * C + 1) * sizeof *probs);
    Tensor *out = tensor_new_on(dev, DTYPE_F32, 0, NULL);
    device_kernels(dev, "cross_entropy")
        ->cross_entropy_forward(tensor_f32(logits), tensor_i32(targets), probs, tensor_f32(out), N, C);
    return record_cross_entropy(out, logits, targets, NULL, probs, n_valid);
}

Tensor *op_cross_entropy(Tensor *logits, Tensor *targets) {
    logits = op_to_f32(logits);
    check_f32(logits, "cross_entropy");
    CHECK(logits->ndim == 2, "cross_entropy: logits must be [N, C], got %d dims", logits->ndim);
    CHECK(targets->dtype == DTYPE_I32 && tensor_is_contiguous(targets) && targets->ndim == 1 &&
              targets->shape[0] == logits->shape[0],
          "cross_entropy: targets must be i32 [%lld]", (long long)logits->shape[0]);
    int64_t N = logits->shape[0], C = logits->shape[1];
    const float *x = tensor_f32(logits);
    /* Device logits take their targets from either side (as the embedding op its ids). */
    Device dev = logits->device;
    CHECK(targets->device == DEVICE_CPU || targets->device == dev, "cross_entropy: logits on the %s, targets on the %s",
          device_name(dev), device_name(targets->device));
    if (dev != DEVICE_CPU) return cross_entropy_on_device(logits, targets, dev);
    const int32_t *t = tensor_i32(targets);
    check_targets(t, N, C);
    double *lse = arena_alloc(arena_activations(), (size_t)(N > 0 ? N : 1) * sizeof *lse);
    double total = 0.0;
    int64_t n_valid = 0;
#pragma omp parallel for reduction(+ : total, n_valid) if (N * C > 65536)
    for (int64_t r = 0; r < N; r++) {
        if (t[r] == IGNORE_INDEX) continue;
        lse[r] = row_logsumexp(x + r * C, C);
        total += lse[r] - x[r * C + t[r]];
        n_valid++;
    }
    Tensor *out = tensor_scalar_f32(n_valid ? (float)(total / (double)n_valid) : 0.0f);
    return record_cross_entropy(out, logits, targets, lse, NULL, n_valid);
}

/* ---- cross-entropy with soft targets (ALBEF distillation, spec/albef_blip.md §1) ----
 * loss = (1/N) Σ_r Σ_c -q[r, c] (x[r, c] - lse_r);
 * dx[r, c] = g/N · (softmax_r[c] · Σ_c' q[r, c'] - q[r, c]) (exact even when a
 * row of q does not sum to 1). */

typedef struct {
    Tensor *q;    /* the soft targets, a constant */
    double *lse;  /* per row, saved from the forward (CPU) */
    float *probs; /* softmax of the logits [N, C], saved by the device forward */
} SoftCrossEntropySaved;

static void soft_cross_entropy_backward(TapeNode *node) {
    float *dx = tape_input_grad(node, 0);
    if (!dx) return;
    const Tensor *logits = node->in[0];
    int64_t N = logits->shape[0], C = logits->shape[1];
    const SoftCrossEntropySaved *s = node->saved;
    if (logits->device != DEVICE_CPU) {
        device_kernels(logits->device, "soft_cross_entropy")
            ->soft_cross_entropy_backward(s->probs, tensor_f32(s->q), node->out->grad, dx, N, C);
        return;
    }
    const float *x = tensor_f32(logits), *q = tensor_f32(s->q);
    const double *lse = s->lse;
    double g = ((const float *)node->out->grad)[0] / (double)N;
#pragma omp parallel for if (N * C > 65536)
    for (int64_t r = 0; r < N; r++) {
        const float *row = x + r * C, *qr = q + r * C;
        double qsum = 0.0;
        for (int64_t c = 0; c < C; c++) qsum += qr[c];
        for (int64_t c = 0; c < C; c++) dx[r * C + c] += (float)(g * (exp((double)row[c] - lse[r]) * qsum - qr[c]));
    }
}

Tensor *op_soft_cross_entropy(Tensor *logits, Tensor *target_probs) {
    logits = op_to_f32(logits);
    target_probs = op_to_f32(target_probs);
    check_f32(logits, "soft_cross_entropy");
    check_f32(target_probs, "soft_cross_entropy");
    char sa[64], sb[64];
    CHECK(logits->ndim == 2 && tensor_same_shape(logits, target_probs),
          "soft_cross_entropy: logits %s and targets %s must be the same [N, C]",
          tensor_shape_str(logits, sa, sizeof sa), tensor_shape_str(target_probs, sb, sizeof sb));
    int64_t N = logits->shape[0], C = logits->shape[1];
    const float *x = tensor_f32(logits), *q = tensor_f32(target_probs);
    Device dev = ops_device("soft_cross_entropy", logits, target_probs, NULL);
    double *lse = NULL;
    float *probs = NULL;
    Tensor *out;
    if (dev != DEVICE_CPU) {
        probs = arena_alloc(arena_activations_on(dev), (size_t)(N * C + 1) * sizeof *probs);
        out = tensor_new_on(dev, DTYPE_F32, 0, NULL);
        device_kernels(dev, "soft_cross_entropy")->soft_cross_entropy_forward(x, q, probs, tensor_f32(out), N, C);
    } else {
        lse = arena_alloc(arena_activations(), (size_t)(N > 0 ? N : 1) * sizeof *lse);
        double total = 0.0;
#pragma omp parallel for reduction(+ : total) if (N * C > 65536)
        for (int64_t r = 0; r < N; r++) {
            lse[r] = row_logsumexp(x + r * C, C);
            for (int64_t c = 0; c < C; c++) total -= (double)q[r * C + c] * ((double)x[r * C + c] - lse[r]);
        }
        out = tensor_scalar_f32(N ? (float)(total / (double)N) : 0.0f);
    }
    /* The targets are a constant (the momentum model's output): only the
     * logits are recorded as an input that may take a gradient. */
    TapeNode *node =
        tape_maybe_record("soft_cross_entropy", soft_cross_entropy_backward, out, logits, target_probs, NULL, NULL);
    if (node) {
        SoftCrossEntropySaved *s = arena_alloc(arena_activations(), sizeof *s);
        s->q = target_probs;
        s->lse = lse;
        s->probs = probs;
        node->saved = s;
    }
    return out;
}

/* ---- cosine similarity matrix ----
 * S[i, j] = â_i · b̂_j with v̂ = v / max(‖v‖, eps): each vector normalised on
 * its own with the norm clamped at eps, as PyTorch's F.cosine_similarity
 * (≥ 1.12) and F.normalize do. Backward through v̂ = v / n:
 * dv = (dv̂ - v̂ (v̂ · dv̂)) / n when ‖v‖ > eps, else dv̂ / eps (constant divisor). */

typedef struct {
    float *an, *bn;      /* normalised rows of a [N, D] and b [M, D] */
    double *na, *nb;     /* max(‖v‖, eps), negated where the clamp applied */
} CosineSaved;

static void normalise_rows(const float *v, int64_t rows, int64_t D, float eps, float *out, double *norms) {
#pragma omp parallel for if (rows * D > 65536)
    for (int64_t r = 0; r < rows; r++) {
        double s = 0.0;
        for (int64_t d = 0; d < D; d++) s += (double)v[r * D + d] * v[r * D + d];
        double n = sqrt(s);
        norms[r] = n > eps ? n : -(double)eps; /* negative marks a clamped row */
        double inv = 1.0 / fabs(norms[r]);
        for (int64_t d = 0; d < D; d++) out[r * D + d] = (float)(v[r * D + d] * inv);
    }
}

/* dv for the rows of one side: dvn[r] = Σ_k g(r, k) · other_n[k] is formed
 * first, then pushed through the normalisation. g(r, k) is G[r, k] when
 * transposed == 0 (side a) and G[k, r] otherwise (side b). */
static void cosine_side_backward(float *dv, const float *vn, const double *norms, const float *other_n,
                                 const float *G, int64_t rows, int64_t others, int64_t D, int transposed) {
    double *dvn_all = arena_alloc(arena_activations(), (size_t)(rows * D + 1) * sizeof(double));
#pragma omp parallel for if (rows * others * D > 65536)
    for (int64_t r = 0; r < rows; r++) {
        double *dvn = dvn_all + r * D;
        for (int64_t d = 0; d < D; d++) dvn[d] = 0.0;
        for (int64_t k = 0; k < others; k++) {
            double g = transposed ? G[k * rows + r] : G[r * others + k];
            const float *o = other_n + k * D;
            for (int64_t d = 0; d < D; d++) dvn[d] += g * o[d];
        }
        const float *v = vn + r * D;
        if (norms[r] > 0) {
            double dot = 0.0;
            for (int64_t d = 0; d < D; d++) dot += v[d] * dvn[d];
            for (int64_t d = 0; d < D; d++) dv[r * D + d] += (float)((dvn[d] - v[d] * dot) / norms[r]);
        } else {
            for (int64_t d = 0; d < D; d++) dv[r * D + d] += (float)(dvn[d] / -norms[r]);
        }
    }
}

static void cosine_backward(TapeNode *node) {
    const CosineSaved *s = node->saved;
    int64_t N = node->in[0]->shape[0], M = node->in[1]->shape[0], D = node->in[0]->shape[1];
    const float *G = node->out->grad;
    float *da = tape_input_grad(node, 0), *db = tape_input_grad(node, 1);
    if (da) cosine_side_backward(da, s->an, s->na, s->bn, G, N, M, D, 0);
    if (db) cosine_side_backward(db, s->bn, s->nb, s->an, G, M, N, D, 1);
}

/* The device composition: â and b̂ by the L2-normalisation kernels (the same
 * clamp at eps), S = â b̂ᵀ by one GEMM; the backward forms dâ = G b̂ and
 * db̂ = Gᵀ â by GEMMs and pushes them through the normalisation's backward. */
typedef struct {
    float *an, *bn; /* normalised rows of a [N, D] and b [M, D] */
    float *na, *nb; /* ‖v‖ of each row */
} CosineDeviceSaved;

static void cosine_backward_device(TapeNode *node) {
    const CosineDeviceSaved *s = node->saved;
    Device dev = node->out->device;
    const DeviceKernels *k = device_kernels(dev, "cosine_similarity_matrix");
    int64_t N = node->in[0]->shape[0], M = node->in[1]->shape[0], D = node->in[0]->shape[1];
    const float eps = node->f[0], *G = node->out->grad;
    float *da = tape_input_grad(node, 0), *db = tape_input_grad(node, 1);
    if (N == 0 || M == 0 || D == 0) return;
    if (da) {
        float *dan = arena_alloc(arena_activations_on(dev), (size_t)(N * D) * sizeof *dan);
        k->gemm(0, 0, N, D, M, 1.0f, G, DTYPE_F32, 0, s->bn, DTYPE_F32, 0, 0.0f, dan, DTYPE_F32, 0, 1);
        k->l2_normalize_backward(tensor_f32(node->in[0]), s->an, s->na, dan, da, N, D, eps);
    }
    if (db) {
        float *dbn = arena_alloc(arena_activations_on(dev), (size_t)(M * D) * sizeof *dbn);
        k->gemm(1, 0, M, D, N, 1.0f, G, DTYPE_F32, 0, s->an, DTYPE_F32, 0, 0.0f, dbn, DTYPE_F32, 0, 1);
        k->l2_normalize_backward(tensor_f32(node->in[1]), s->bn, s->nb, dbn, db, M, D, eps);
    }
}

static Tensor *cosine_on_device(Tensor *a, Tensor *b, float eps, Device dev) {
    const DeviceKernels *k = device_kernels(dev, "cosine_similarity_matrix");
    int64_t N = a->shape[0], M = b->shape[0], D = a->shape[1];
    Arena *arena = arena_activations_on(dev);
    CosineDeviceSaved *s = arena_alloc(arena_activations(), sizeof *s);
    s->an = arena_alloc(arena, (size_t)(N * D + 1) * sizeof(float));
    s->bn = arena_alloc(arena, (size_t)(M * D + 1) * sizeof(float));
    s->na = arena_alloc(arena, (size_t)(N + 1) * sizeof(float));
    s->nb = arena_alloc(arena, (size_t)(M + 1) * sizeof(float));
    k->l2_normalize_forward(tensor_f32(a), s->an, s->na, N, D, eps);
    k->l2_normalize_forward(tensor_f32(b), s->bn, s->nb, M, D, eps);
    Tensor *out = tensor_new_on(dev, DTYPE_F32, SHAPE(N, M));
    if (N > 0 && M > 0) {
        if (D > 0)
            k->gemm(0, 1, N, M, D, 1.0f, s->an, DTYPE_F32, 0, s->bn, DTYPE_F32, 0, 0.0f, out->data, DTYPE_F32, 0, 1);
        else device_zero(dev, tensor_f32(out), tensor_nbytes(out)); /* empty dot products */
    }
    TapeNode *node = tape_maybe_record("cosine_similarity_matrix", cosine_backward_device, out, a, b, NULL, NULL);
    if (node) {
        node->saved = s;
        node->f[0] = eps;
    }
    return out;
}

Tensor *op_cosine_similarity_matrix(Tensor *a, Tensor *b, float eps) {
    a = op_to_f32(a);
    b = op_to_f32(b);
    check_f32(a, "cosine_similarity_matrix");
    check_f32(b, "cosine_similarity_matrix");
    char sa[64], sb[64];
    CHECK(a->ndim == 2 && b->ndim == 2 && a->shape[1] == b->shape[1],
          "cosine_similarity_matrix: a %s and b %s must be [N, D] and [M, D]", tensor_shape_str(a, sa, sizeof sa),
          tensor_shape_str(b, sb, sizeof sb));
    CHECK(eps > 0.0f, "cosine_similarity_matrix: eps %g must be positive", (double)eps);
    Device dev = ops_device("cosine_similarity_matrix", a, b, NULL);
    if (dev != DEVICE_CPU) return cosine_on_device(a, b, eps, dev);
    int64_t N = a->shape[0], M = b->shape[0], D = a->shape[1];
    CosineSaved *s = arena_alloc(arena_activations(), sizeof *s);
    s->an = arena_alloc(arena_activations(), (size_t)(N * D + 1) * sizeof(float));
    s->bn = arena_alloc(arena_activations(), (size_t)(M * D + 1) * sizeof(float));
    s->na = arena_alloc(arena_activations(), (size_t)(N + 1) * sizeof(double));
    s->nb = arena_alloc(arena_activations(), (size_t)(M + 1) * sizeof(double));
    normalise_rows(tensor_f32(a), N, D, eps, s->an, s->na);
    normalise_rows(tensor_f32(b), M, D, eps, s->bn, s->nb);
    Tensor *out = tensor_new(DTYPE_F32, SHAPE(N, M));
    float *y = tensor_f32(out);
#pragma omp parallel for collapse(2) if (N * M * D > 65536)
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < M; j++) {
            const float *u = s->an + i * D, *v = s->bn + j * D;
            float dot = 0.0f;
            for (int64_t d = 0; d < D; d++) dot += u[d] * v[d];
            y[i * M + j] = dot;
        }
    TapeNode *node = tape_maybe_record("cosine_similarity_matrix", cosine_backward, out, a, b, NULL, NULL);
    if (node) node->saved = s;
    return out;
}
