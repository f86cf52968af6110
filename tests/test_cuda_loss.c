/* CUDA parity of the losses (cuda/loss.cu) and of the device cosine
 * similarity matrix (L2-normalisation kernels + GEMM) against the CPU ops,
 * forward and backward: MSE; cross-entropy with ignored (-100) rows, a batch
 * with every row ignored, and vocabulary-wide rows; soft cross-entropy with a
 * target row that does not sum to 1; the cosine matrix with a zero row.
 * Skips without a GPU. */
#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "core/device.h"
#include "core/error.h"
#include "tests/cuda_parity.h"
#include "tests/test.h"

/* ---- mse ---- */

static Tensor *apply_mse(Tensor **in, void *ctx) {
    (void)ctx;
    return op_mse(in[0], in[1]);
}

TEST(test_cuda_mse_parity) {
    if (!cuda_parity_ready()) return;
    const int64_t shapes[][3] = {{1, 1, 1}, {3, 7, 1}, {257, 129, 1}, {4, 35, 768}, {1, 1, 1000003}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        Tensor *in[2];
        in[0] = tensor_random_uniform(SHAPE(shapes[s][0], shapes[s][1], shapes[s][2]), -2.0f, 2.0f, 200 + s);
        in[1] = tensor_random_uniform(SHAPE(shapes[s][0], shapes[s][1], shapes[s][2]), -2.0f, 2.0f, 210 + s);
        in[0]->requires_grad = in[1]->requires_grad = 1;
        ASSERT_MSG(cuda_parity_check("mse", apply_mse, in, 2, NULL, PARITY_TOL_FP32) == 0, "%s", error_message());
    }
}

/* ---- cross-entropy with class indices ---- */

static Tensor *apply_cross_entropy(Tensor **in, void *ctx) {
    (void)ctx;
    return op_cross_entropy(in[0], in[1]);
}

/* Targets spread over the classes; every `ignore_every`-th row (0: none,
 * 1: all) is -100. */
static Tensor *make_targets(int64_t N, int64_t C, int ignore_every) {
    Tensor *t = tensor_new(DTYPE_I32, SHAPE(N));
    int32_t *v = tensor_i32(t);
    for (int64_t r = 0; r < N; r++)
        v[r] = ignore_every && r % ignore_every == 0 ? -100 : (int32_t)((r * 7919 + 3) % C);
    return t;
}

static int check_cross_entropy(int64_t N, int64_t C, int ignore_every, uint64_t seed) {
    Tensor *in[2];
    in[0] = tensor_random_uniform(SHAPE(N, C), -10.0f, 10.0f, seed);
    in[0]->requires_grad = 1;
    in[1] = make_targets(N, C, ignore_every);
    char what[96];
    snprintf(what, sizeof what, "cross_entropy [%lld, %lld] ignore every %d", (long long)N, (long long)C,
             ignore_every);
    return cuda_parity_check(what, apply_cross_entropy, in, 2, NULL, PARITY_TOL_FP32);
}

TEST(test_cuda_cross_entropy_parity) {
    if (!cuda_parity_ready()) return;
    ASSERT_MSG(check_cross_entropy(1, 1, 0, 300) == 0, "%s", error_message());
    ASSERT_MSG(check_cross_entropy(5, 7, 3, 301) == 0, "%s", error_message());
    ASSERT_MSG(check_cross_entropy(64, 2, 0, 302) == 0, "%s", error_message());
    ASSERT_MSG(check_cross_entropy(300, 257, 4, 303) == 0, "%s", error_message());
    ASSERT_MSG(check_cross_entropy(37, 30522, 5, 304) == 0, "%s", error_message()); /* MLM over BERT's vocabulary */
}

/* Device logits with host targets (what the models pass: the op checks them
 * on the host, then sends them, with no read-back). */
static Tensor *apply_cross_entropy_host_targets(Tensor **in, void *ctx) {
    (void)ctx;
    return op_cross_entropy(in[0], tensor_on(in[1], DEVICE_CPU));
}

TEST(test_cuda_cross_entropy_with_host_targets_parity) {
    if (!cuda_parity_ready()) return;
    Tensor *in[2] = {tensor_random_uniform(SHAPE(37, 257), -10.0f, 10.0f, 320), make_targets(37, 257, 5)};
    in[0]->requires_grad = 1;
    ASSERT_MSG(cuda_parity_check("cross_entropy, host targets", apply_cross_entropy_host_targets, in, 2, NULL,
                                 PARITY_TOL_FP32) == 0,
               "%s", error_message());
}

TEST(test_cuda_cross_entropy_all_ignored_gives_zero) {
    if (!cuda_parity_ready()) return;
    /* Loss 0 and input gradients untouched, as the CPU op (not PyTorch's NaN). */
    ASSERT_MSG(check_cross_entropy(6, 11, 1, 310) == 0, "%s", error_message());
}

/* ---- cross-entropy with soft targets ---- */

static Tensor *apply_soft_cross_entropy(Tensor **in, void *ctx) {
    (void)ctx;
    return op_soft_cross_entropy(in[0], in[1]);
}

/* Rows of q sum to 1, except row 1 (sums to 0.5 of that) when N > 1. */
static Tensor *make_soft_targets(int64_t N, int64_t C, uint64_t seed) {
    Tensor *q = tensor_random_uniform(SHAPE(N, C), 0.0f, 1.0f, seed);
    float *v = tensor_f32(q);
    for (int64_t r = 0; r < N; r++) {
        double s = 0.0;
        for (int64_t c = 0; c < C; c++) s += v[r * C + c];
        double scale = (r == 1 ? 0.5 : 1.0) / s;
        for (int64_t c = 0; c < C; c++) v[r * C + c] = (float)(v[r * C + c] * scale);
    }
    return q;
}

TEST(test_cuda_soft_cross_entropy_parity) {
    if (!cuda_parity_ready()) return;
    const int64_t shapes[][2] = {{1, 1}, {6, 10}, {64, 65}, {257, 300}, {17, 30522}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        Tensor *in[2];
        in[0] = tensor_random_uniform(SHAPE(shapes[s][0], shapes[s][1]), -10.0f, 10.0f, 400 + s);
        in[0]->requires_grad = 1;
        in[1] = make_soft_targets(shapes[s][0], shapes[s][1], 410 + s);
        ASSERT_MSG(cuda_parity_check("soft_cross_entropy", apply_soft_cross_entropy, in, 2, NULL, PARITY_TOL_FP32) ==
                       0,
                   "%s", error_message());
    }
}

/* ---- cosine similarity matrix ---- */

static Tensor *apply_cosine(Tensor **in, void *ctx) {
    return op_cosine_similarity_matrix(in[0], in[1], *(const float *)ctx);
}

static int check_cosine(int64_t N, int64_t M, int64_t D, float eps, int zero_row, uint64_t seed) {
    Tensor *in[2];
    in[0] = tensor_random_uniform(SHAPE(N, D), -1.0f, 1.0f, seed);
    in[1] = tensor_random_uniform(SHAPE(M, D), -1.0f, 1.0f, seed + 1);
    if (zero_row)
        for (int64_t d = 0; d < D; d++) tensor_f32(in[0])[d] = 0.0f;
    in[0]->requires_grad = in[1]->requires_grad = 1;
    char what[96];
    snprintf(what, sizeof what, "cosine_similarity_matrix [%lld, %lld] x [%lld, %lld]", (long long)N, (long long)D,
             (long long)M, (long long)D);
    return cuda_parity_check(what, apply_cosine, in, 2, &eps, PARITY_TOL_FP32);
}

TEST(test_cuda_cosine_similarity_matrix_parity) {
    if (!cuda_parity_ready()) return;
    ASSERT_MSG(check_cosine(1, 1, 1, 1e-8f, 0, 500) == 0, "%s", error_message());
    ASSERT_MSG(check_cosine(5, 3, 7, 1e-8f, 0, 502) == 0, "%s", error_message());
    ASSERT_MSG(check_cosine(64, 67, 256, 1e-8f, 0, 504) == 0, "%s", error_message());
    ASSERT_MSG(check_cosine(33, 130, 768, 1e-8f, 0, 506) == 0, "%s", error_message());
    /* A zero row (clamped at eps; eps moderate so that its gradient g/eps
     * does not hide the other rows in the normwise error). */
    ASSERT_MSG(check_cosine(5, 4, 9, 0.25f, 1, 508) == 0, "%s", error_message());
}
