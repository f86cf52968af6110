/* CUDA parity of op_matmul and op_linear (cuBLASLt, cuda/gemm.cu), forward and
 * backward: every transpose combination, strided batches, a 2-d B shared by
 * the batch (folded into rows, or one product per batch when A is
 * transposed), bias epilogue and bias gradient, sizes that are and are not
 * multiples of GEMM tiles; then the same in bf16 mode at its tolerance.
 * Skips without a GPU. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/device_kernels.h"
#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "autograd/params.h"
#include "core/device.h"
#include "core/error.h"
#include "core/xalloc.h"
#include "tests/cuda_parity.h"
#include "tests/test.h"
#ifdef HAVE_CUDA
#include "cuda/backend.h"
#endif

typedef struct {
    int trans_a, trans_b;
} Trans;

static Tensor *apply_matmul(Tensor **in, void *ctx) {
    const Trans *t = ctx;
    return op_matmul(in[0], in[1], t->trans_a, t->trans_b);
}

static Tensor *apply_linear(Tensor **in, void *ctx) {
    (void)ctx;
    return op_linear(in[0], in[1], NULL);
}

static Tensor *apply_linear_bias(Tensor **in, void *ctx) {
    (void)ctx;
    return op_linear(in[0], in[1], in[2]);
}

/* op(a) [.., M, K] @ op(b) [.., K, N] with the batch dims `lead` (0 to 2 of
 * them) on a, and on b unless b_shared. */
static int check_matmul(const int64_t *lead, int n_lead, int b_shared, int64_t M, int64_t K, int64_t N,
                        int trans_a, int trans_b, uint64_t seed, double tol) {
    int64_t sa[4], sb[4];
    int na = 0, nb = 0;
    for (int d = 0; d < n_lead; d++) {
        sa[na++] = lead[d];
        if (!b_shared) sb[nb++] = lead[d];
    }
    sa[na++] = trans_a ? K : M;
    sa[na++] = trans_a ? M : K;
    sb[nb++] = trans_b ? N : K;
    sb[nb++] = trans_b ? K : N;
    Tensor *in[2] = {tensor_random_uniform(na, sa, -1.0f, 1.0f, seed),
                     tensor_random_uniform(nb, sb, -1.0f, 1.0f, seed + 1)};
    in[0]->requires_grad = 1;
    in[1]->requires_grad = 1;
    Trans t = {trans_a, trans_b};
    char what[160];
    snprintf(what, sizeof what, "matmul %d batch dims%s M=%lld K=%lld N=%lld trans %d/%d", n_lead,
             b_shared ? " (shared b)" : "", (long long)M, (long long)K, (long long)N, trans_a, trans_b);
    return cuda_parity_check(what, apply_matmul, in, 2, &t, tol);
}

static const int64_t SIZES_2D[][3] = {{1, 1, 1}, {7, 33, 1}, {1, 577, 7}, {33, 7, 577}, {577, 33, 65}, {128, 64, 256}};

static int matmul_2d_all(double tol) {
    for (size_t s = 0; s < sizeof SIZES_2D / sizeof SIZES_2D[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                if (check_matmul(NULL, 0, 0, SIZES_2D[s][0], SIZES_2D[s][1], SIZES_2D[s][2], ta, tb, 10 + s, tol))
                    return -1;
    return 0;
}

/* Attention's shapes: [2, 3, T, Dh] @ [2, 3, Dh, S] and the transposed forms. */
static const int64_t SIZES_4D[][3] = {{1, 7, 33}, {7, 33, 577}, {35, 64, 35}, {33, 1, 7}};

static int matmul_batched_all(double tol) {
    const int64_t lead[2] = {2, 3};
    for (size_t s = 0; s < sizeof SIZES_4D / sizeof SIZES_4D[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                if (check_matmul(lead, 2, 0, SIZES_4D[s][0], SIZES_4D[s][1], SIZES_4D[s][2], ta, tb, 20 + s, tol))
                    return -1;
    return 0;
}

static int matmul_shared_all(double tol) {
    const int64_t lead[2] = {2, 5};
    const int64_t sizes[][3] = {{7, 33, 65}, {35, 768, 33}, {1, 7, 1}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                if (check_matmul(lead, 2, 1, sizes[s][0], sizes[s][1], sizes[s][2], ta, tb, 30 + s, tol)) return -1;
                if (check_matmul(lead, 1, 1, sizes[s][0], sizes[s][1], sizes[s][2], ta, tb, 40 + s, tol)) return -1;
            }
    return 0;
}

/* x [shape] @ w [out, in]ᵀ (+ bias [out]). */
static int check_linear(int ndim, const int64_t *x_shape, int64_t out, int with_bias, uint64_t seed, double tol) {
    int64_t in_f = x_shape[ndim - 1];
    Tensor *in[3] = {tensor_random_uniform(ndim, x_shape, -1.0f, 1.0f, seed),
                     tensor_random_uniform(SHAPE(out, in_f), -0.1f, 0.1f, seed + 1),
                     tensor_random_uniform(SHAPE(out), -1.0f, 1.0f, seed + 2)};
    for (int i = 0; i < 3; i++) in[i]->requires_grad = 1;
    char what[160];
    snprintf(what, sizeof what, "linear rows=%lld in=%lld out=%lld%s", (long long)tensor_rows(in[0]),
             (long long)in_f, (long long)out, with_bias ? " with bias" : "");
    return cuda_parity_check(what, with_bias ? apply_linear_bias : apply_linear, in, with_bias ? 3 : 2, NULL, tol);
}

static int linear_all(double tol) {
    const int64_t bert[3] = {4, 35, 768}, odd[3] = {3, 7, 33}, one[2] = {1, 5}, tall[2] = {577, 65};
    for (int bias = 0; bias < 2; bias++) {
        if (check_linear(3, bert, 3072, bias, 50, tol)) return -1;
        if (check_linear(3, odd, 1, bias, 60, tol)) return -1;
        if (check_linear(3, odd, 577, bias, 70, tol)) return -1;
        if (check_linear(2, one, 577, bias, 80, tol)) return -1;
        if (check_linear(2, tall, 7, bias, 90, tol)) return -1;
    }
    return 0;
}

TEST(test_cuda_matmul_2d_parity) {
    if (!cuda_parity_ready()) return;
    ASSERT_MSG(matmul_2d_all(PARITY_TOL_FP32) == 0, "%s", error_message());
}

TEST(test_cuda_matmul_batched_every_transpose_parity) {
    if (!cuda_parity_ready()) return;
    ASSERT_MSG(matmul_batched_all(PARITY_TOL_FP32) == 0, "%s", error_message());
}

TEST(test_cuda_matmul_shared_b_parity) {
    if (!cuda_parity_ready()) return;
    ASSERT_MSG(matmul_shared_all(PARITY_TOL_FP32) == 0, "%s", error_message());
}

TEST(test_cuda_linear_with_and_without_bias_parity) {
    if (!cuda_parity_ready()) return;
    ASSERT_MSG(linear_all(PARITY_TOL_FP32) == 0, "%s", error_message());
}

/* bf16 inputs with f32 accumulation: the same cases at the bf16 bar. */
TEST(test_cuda_linalg_bf16_parity) {
    if (!cuda_parity_ready()) return;
#ifdef HAVE_CUDA
    cuda_set_precision(PRECISION_BF16);
    int rc = matmul_2d_all(PARITY_TOL_BF16);
    if (rc == 0) rc = matmul_batched_all(PARITY_TOL_BF16);
    if (rc == 0) rc = matmul_shared_all(PARITY_TOL_BF16);
    if (rc == 0) rc = linear_all(PARITY_TOL_BF16);
    cuda_set_precision(PRECISION_FP32);
    ASSERT_MSG(rc == 0, "bf16: %s", error_message());
#endif
}

/* A bias inside the packed parameter block starts wherever the tensor before
 * it ended (autograd/params.c): here at byte 84 of the block, 4 past a
 * 16-byte boundary. cuBLASLt's bias epilogue may load it 16 bytes at a time
 * (the emulator's stand-in stops on such a bias), so cuda/gemm.cu realigns
 * it; the product must still match the CPU's, in fp32 and in bf16. */
#ifdef HAVE_CUDA /* only the CUDA build calls it */
static int check_unaligned_bias(int bf16) {
    ParamSet ps;
    params_init(&ps);
    Tensor *w = params_add_init(&ps, "w", SHAPE(7, 3), PARAM_INIT_NORMAL, 0.5f);
    Tensor *b = params_add_init(&ps, "b", SHAPE(7), PARAM_INIT_NORMAL, 0.5f);
    params_finalize(&ps);
    params_initialize(&ps, 11);
    Tensor *x = tensor_random_uniform(SHAPE(9, 3), -1.0f, 1.0f, 12);
    Tensor *want = op_linear(x, w, b);
    params_to_device(&ps, DEVICE_CUDA);
    int rc = 0;
    if ((uintptr_t)b->data % 16 == 0) {
        rc = error_set("the bias landed 16-byte aligned (at %p): the test checks nothing", b->data);
    } else {
        Tensor *got = tensor_to_device(op_linear(tensor_to_device(x, DEVICE_CUDA), w, b), DEVICE_CPU);
        long long bad = test_close_array(got->data, want->data, tensor_numel(want), bf16 ? 1e-2 : 1e-5,
                                         bf16 ? 1e-2 : 1e-5);
        if (bad >= 0)
            rc = error_set("%s linear with an unaligned bias: element %lld is %g, the CPU's %g", bf16 ? "bf16" : "fp32",
                           bad, (double)((float *)got->data)[bad], (double)((float *)want->data)[bad]);
    }
    params_free(&ps);
    return rc;
}
#endif

TEST(test_cuda_linear_bias_at_an_unaligned_offset_of_the_parameter_block) {
    if (!cuda_parity_ready()) return;
#ifdef HAVE_CUDA
    int rc = check_unaligned_bias(0);
    cuda_set_precision(PRECISION_BF16);
    if (rc == 0) rc = check_unaligned_bias(1);
    cuda_set_precision(PRECISION_FP32);
    ASSERT_MSG(rc == 0, "%s", error_message());
#endif
}

/* A bf16 Linear's backward has the bias gradient's pass over dy write dy's
 * bf16 copy for the two products (cuda/gemm.cu): the copy must be the cast's
 * bits at every element (slab edges included) and the sums those of the pass
 * without a copy. Rows below, at and across the 64-row slabs, up to the cap
 * of 64 slabs (9232 = 16 ViT-B/16 sequences of 577). */
TEST(test_cuda_bias_gradient_pass_writes_the_cast_of_dy) {
    if (!cuda_parity_ready()) return;
    const int64_t shapes[][2] = {{1, 1}, {63, 7}, {65, 257}, {577, 33}, {9232, 3}};
    const DeviceKernels *k = device_kernels(DEVICE_CUDA, "test");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t rows = shapes[s][0], cols = shapes[s][1], n = rows * cols;
        Tensor *g = tensor_to_device(tensor_random_uniform(SHAPE(rows, cols), -3.0f, 3.0f, 100 + s), DEVICE_CUDA);
        Tensor *start = tensor_random_uniform(SHAPE(cols), -1.0f, 1.0f, 200 + s);
        Tensor *db_fused = tensor_to_device(start, DEVICE_CUDA), *db_alone = tensor_to_device(start, DEVICE_CUDA);
        Tensor *copy_fused = tensor_new_on(DEVICE_CUDA, DTYPE_BF16, 2, g->shape);
        Tensor *copy_cast = tensor_new_on(DEVICE_CUDA, DTYPE_BF16, 2, g->shape);
        k->add_column_sums(tensor_f32(db_fused), tensor_f32(g), rows, cols, copy_fused->data, DTYPE_BF16);
        k->add_column_sums(tensor_f32(db_alone), tensor_f32(g), rows, cols, NULL, DTYPE_F32);
        k->convert(g->data, DTYPE_F32, copy_cast->data, DTYPE_BF16, n);
        /* bf16 comes back widened to f32 (exactly), so equal floats are equal bits. */
        float *fused = xmalloc((size_t)n * sizeof *fused), *cast = xmalloc((size_t)n * sizeof *cast);
        float sum_fused[257], sum_alone[257];
        tensor_copy_to_host(copy_fused, fused);
        tensor_copy_to_host(copy_cast, cast);
        tensor_copy_to_host(db_fused, sum_fused);
        tensor_copy_to_host(db_alone, sum_alone);
        for (int64_t i = 0; i < n; i++)
            ASSERT_MSG(memcmp(&fused[i], &cast[i], sizeof(float)) == 0, "%lldx%lld: copy element %lld is %g, the cast's %g",
                       (long long)rows, (long long)cols, (long long)i, (double)fused[i], (double)cast[i]);
        ASSERT_MSG(memcmp(sum_fused, sum_alone, (size_t)cols * sizeof(float)) == 0,
                   "%lldx%lld: the sums differ when the pass writes the copy", (long long)rows, (long long)cols);
        free(fused);
        free(cast);
    }
}
