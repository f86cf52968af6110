/* Patchify (ViT patch embedding, spec/albef_blip.md §1.2) and sparse-dense
 * products (GCN propagation). */
#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/error.h"
#include "tests/test.h"

TEST(test_patchify_times_conv_weight_equals_strided_conv2d) {
    /* images [2, 3, 8, 12], patch 4: a 2 x 3 grid, patches of 3·4·4 = 48. */
    const int B = 2, C = 3, H = 8, W = 12, P = 4, D = 5, GH = H / P, GW = W / P, K = C * P * P;
    Tensor *img = tensor_random_uniform(SHAPE(B, C, H, W), -1.0f, 1.0f, 51);
    Tensor *w = tensor_random_uniform(SHAPE(D, C, P, P), -1.0f, 1.0f, 52); /* Conv2d weight layout */
    Tensor *patches = op_patchify(img, P);
    ASSERT_EQ_INT(patches->ndim, 3);
    ASSERT_EQ_INT(patches->shape[0], B);
    ASSERT_EQ_INT(patches->shape[1], GH * GW);
    ASSERT_EQ_INT(patches->shape[2], K);
    const float *x = tensor_f32(img), *wt = tensor_f32(w), *pt = tensor_f32(patches);
    for (int b = 0; b < B; b++)
        for (int gy = 0; gy < GH; gy++)
            for (int gx = 0; gx < GW; gx++)
                for (int d = 0; d < D; d++) {
                    /* Conv2d(kernel = stride = P) output at (b, d, gy, gx) ... */
                    double conv = 0.0;
                    for (int c = 0; c < C; c++)
                        for (int i = 0; i < P; i++)
                            for (int j = 0; j < P; j++)
                                conv += (double)wt[((d * C + c) * P + i) * P + j] *
                                        x[((b * C + c) * H + gy * P + i) * W + gx * P + j];
                    /* ... equals patch (gy·GW + gx) dotted with the weight reshaped to [D, K]. */
                    const float *row = pt + ((int64_t)b * GH * GW + gy * GW + gx) * K;
                    double lin = 0.0;
                    for (int k = 0; k < K; k++) lin += (double)wt[d * K + k] * row[k];
                    ASSERT_NEAR(lin, conv, 1e-5);
                }
}

static Tensor *apply_patchify(Tensor **in, void *ctx) { return op_patchify(in[0], *(int *)ctx); }

TEST(test_patchify_gradient_non_square) {
    Tensor *img = tensor_random_uniform(SHAPE(2, 2, 6, 4), -1.0f, 1.0f, 53);
    img->requires_grad = 1;
    int p = 2;
    ASSERT_MSG(gradcheck(apply_patchify, &img, 1, &p, gradcheck_defaults()) == 0, "%s", error_message());
    p = 1; /* degenerate patch: a pixel per patch, C values each */
    ASSERT_MSG(gradcheck(apply_patchify, &img, 1, &p, gradcheck_defaults()) == 0, "%s", error_message());
}

/* A 4 x 5 sparse matrix with an empty row and column 2 used by three rows:
 *   [ 0.5  0    1    0    0  ]
 *   [ 0    0    0    0    0  ]
 *   [ 0   -2    3    0    0.25]
 *   [ 1    0   -1    0    0  ] */
static const int64_t csr_row_ptr[] = {0, 2, 2, 5, 7};
static const int32_t csr_col[] = {0, 2, 1, 2, 4, 0, 2};
static const float csr_val[] = {0.5f, 1.0f, -2.0f, 3.0f, 0.25f, 1.0f, -1.0f};
static const CsrMatrix csr = {4, 5, 7, csr_row_ptr, csr_col, csr_val};
static const float csr_dense[4][5] = {
    {0.5f, 0, 1, 0, 0}, {0, 0, 0, 0, 0}, {0, -2, 3, 0, 0.25f}, {1, 0, -1, 0, 0}};

static Tensor *apply_spmm(Tensor **in, void *ctx) {
    (void)ctx;
    return op_spmm(&csr, in[0]);
}

TEST(test_spmm_matches_dense_product_and_transposed_backward) {
    Tensor *x = tensor_random_uniform(SHAPE(5, 3), -1.0f, 1.0f, 61);
    x->requires_grad = 1;
    Tensor *y = op_spmm(&csr, x);
    ASSERT_EQ_INT(y->shape[0], 4);
    ASSERT_EQ_INT(y->shape[1], 3);
    for (int r = 0; r < 4; r++)
        for (int d = 0; d < 3; d++) {
            double s = 0.0;
            for (int c = 0; c < 5; c++) s += csr_dense[r][c] * tensor_f32(x)[c * 3 + d];
            ASSERT_NEAR(tensor_f32(y)[r * 3 + d], s, 1e-6);
        }
    /* dx = Aᵀ g, checked exactly against the dense transpose. */
    float g[12];
    for (int k = 0; k < 12; k++) g[k] = 0.1f * (float)(k + 1);
    autograd_backward_with(y, g);
    for (int c = 0; c < 5; c++)
        for (int d = 0; d < 3; d++) {
            double s = 0.0;
            for (int r = 0; r < 4; r++) s += csr_dense[r][c] * g[r * 3 + d];
            ASSERT_NEAR(((float *)x->grad)[c * 3 + d], s, 1e-6);
        }
    tape_clear();
    ASSERT_MSG(gradcheck(apply_spmm, &x, 1, NULL, gradcheck_defaults()) == 0, "%s", error_message());
}

TEST(test_spmm_large_random_graph_parallel_paths) {
    /* 300 x 200 with about 6 entries a row and D = 128: above the OpenMP
     * thresholds; forward and Aᵀ g against a dense reference. */
    enum { R = 300, Cc = 200, D = 128 };
    static int64_t row_ptr[R + 1];
    static int32_t col[R * 6];
    static float val[R * 6];
    static float dense[R][Cc];
    memset(dense, 0, sizeof dense);
    int64_t nnz = 0;
    for (int r = 0; r < R; r++) {
        row_ptr[r] = nnz;
        for (int k = 0; k < r % 7; k++) {
            col[nnz] = (int32_t)((r * 31 + k * 17) % Cc);
            val[nnz] = 0.1f * (float)((r + k) % 11) - 0.5f;
            dense[r][col[nnz]] += val[nnz]; /* duplicate columns add, as in CSR products */
            nnz++;
        }
    }
    row_ptr[R] = nnz;
    CsrMatrix a = {R, Cc, nnz, row_ptr, col, val};
    Tensor *x = tensor_random_uniform(SHAPE(Cc, D), -1.0f, 1.0f, 62);
    x->requires_grad = 1;
    Tensor *y = op_spmm(&a, x);
    Tensor *g = tensor_random_uniform(SHAPE(R, D), -1.0f, 1.0f, 63);
    autograd_backward_with(y, tensor_f32(g));
    for (int r = 0; r < R; r += 7)
        for (int d = 0; d < D; d++) {
            double s = 0.0;
            for (int c = 0; c < Cc; c++) s += dense[r][c] * tensor_f32(x)[c * D + d];
            ASSERT_NEAR(tensor_f32(y)[r * D + d], s, 1e-5);
        }
    for (int c = 0; c < Cc; c++)
        for (int d = 0; d < D; d++) {
            double s = 0.0;
            for (int r = 0; r < R; r++) s += dense[r][c] * tensor_f32(g)[r * D + d];
            ASSERT_NEAR(((float *)x->grad)[c * D + d], s, 1e-4);
        }
}
