/* CUDA parity of the reductions (cuda/reduce.cu), forward and backward: sum
 * and mean over each dim (negative dims, keepdim) of shapes with short, long
 * and odd rows; sum_all and mean_all from one element to a million; and the
 * table's sum of squares (gradient clipping) against a double sum on the
 * host, twice for determinism. Skips without a GPU. */
#include <stdlib.h>
#include <string.h>

#include "autograd/device_kernels.h"
#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/device.h"
#include "core/error.h"
#include "tests/cuda_parity.h"
#include "tests/test.h"

typedef struct {
    Tensor *(*fn)(Tensor *, int, int);
    int dim, keepdim;
} DimOp;

static Tensor *apply_dim(Tensor **in, void *ctx) {
    const DimOp *op = ctx;
    return op->fn(in[0], op->dim, op->keepdim);
}

typedef struct {
    int ndim;
    int64_t shape[4];
} Shape;

static const Shape SHAPES[] = {
    {1, {1}},          {1, {1000003}}, {2, {3, 7}},          {3, {3, 7, 5}},
    {3, {4, 35, 768}}, {3, {2, 577, 33}}, {4, {2, 3, 1, 129}}, {2, {4097, 2}},
};

static int check_dims(const char *name, Tensor *(*fn)(Tensor *, int, int)) {
    for (size_t s = 0; s < sizeof SHAPES / sizeof SHAPES[0]; s++)
        for (int dim = -1; dim < SHAPES[s].ndim; dim++)
            for (int keepdim = 0; keepdim < 2; keepdim++) {
                Tensor *x = tensor_random_uniform(SHAPES[s].ndim, SHAPES[s].shape, -2.0f, 2.0f, 700 + s);
                x->requires_grad = 1;
                DimOp op = {fn, dim, keepdim};
                char what[96];
                snprintf(what, sizeof what, "%s shape %zu dim %d keepdim %d", name, s, dim, keepdim);
                if (cuda_parity_check(what, apply_dim, &x, 1, &op, PARITY_TOL_FP32) != 0) return -1;
            }
    return 0;
}

TEST(test_cuda_sum_every_dim_parity) {
    if (!cuda_parity_ready()) return;
    ASSERT_MSG(check_dims("sum", op_sum) == 0, "%s", error_message());
}

TEST(test_cuda_mean_every_dim_parity) {
    if (!cuda_parity_ready()) return;
    ASSERT_MSG(check_dims("mean", op_mean) == 0, "%s", error_message());
}

static Tensor *apply_all(Tensor **in, void *ctx) { return ((Tensor * (*)(Tensor *)) ctx)(in[0]); }

static int check_all(const char *name, Tensor *(*fn)(Tensor *)) {
    for (size_t s = 0; s < sizeof SHAPES / sizeof SHAPES[0]; s++) {
        Tensor *x = tensor_random_uniform(SHAPES[s].ndim, SHAPES[s].shape, -2.0f, 2.0f, 800 + s);
        x->requires_grad = 1;
        char what[64];
        snprintf(what, sizeof what, "%s shape %zu", name, s);
        if (cuda_parity_check(what, apply_all, &x, 1, (void *)fn, PARITY_TOL_FP32) != 0) return -1;
    }
    return 0;
}

TEST(test_cuda_sum_all_parity) {
    if (!cuda_parity_ready()) return;
    ASSERT_MSG(check_all("sum_all", op_sum_all) == 0, "%s", error_message());
}

TEST(test_cuda_mean_all_parity) {
    if (!cuda_parity_ready()) return;
    ASSERT_MSG(check_all("mean_all", op_mean_all) == 0, "%s", error_message());
}

/* A positive sum keeps the normwise bar meaningful: the sum of 1e6 uniform
 * values in [1, 2) checked as one number. */
TEST(test_cuda_sum_all_long_positive_parity) {
    if (!cuda_parity_ready()) return;
    Tensor *x = tensor_random_uniform(SHAPE(1000003), 1.0f, 2.0f, 900);
    x->requires_grad = 1;
    ASSERT_MSG(cuda_parity_check("sum_all positive", apply_all, &x, 1, (void *)op_sum_all, PARITY_TOL_FP32) == 0,
               "%s", error_message());
}

TEST(test_cuda_sum_squares_matches_double_sum) {
    if (!cuda_parity_ready()) return;
    const int64_t sizes[] = {1, 255, 257, 4097, 1000003};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        Tensor *x = tensor_random_uniform(SHAPE(sizes[s]), -2.0f, 2.0f, 1000 + s);
        const float *h = tensor_f32(x);
        double want = 0.0;
        for (int64_t k = 0; k < sizes[s]; k++) want += (double)h[k] * h[k];
        Tensor *d = tensor_to_device(x, DEVICE_CUDA);
        double *out = device_alloc(DEVICE_CUDA, sizeof(double));
        double got[2];
        for (int run = 0; run < 2; run++) {
            device_kernels(DEVICE_CUDA, "sum_squares")->sum_squares(tensor_f32(d), out, sizes[s]);
            device_copy(&got[run], DEVICE_CPU, out, DEVICE_CUDA, sizeof(double));
        }
        device_release(DEVICE_CUDA, out);
        autograd_step_end();
        ASSERT_MSG(fabs(got[0] - want) <= 1e-12 * want, "n=%lld: cuda %.17g vs host %.17g", (long long)sizes[s],
                   got[0], want);
        ASSERT_MSG(memcmp(&got[0], &got[1], sizeof(double)) == 0, "n=%lld: two runs differ", (long long)sizes[s]);
    }
}
