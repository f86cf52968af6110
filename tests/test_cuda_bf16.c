/* bf16 activations on the device (issue 5 Precision: "--precision bf16 keeps
 * activations and GEMM inputs in bf16"), against the CPU's f32 ops at the
 * bf16 bar (normwise 1e-2), forward and backward:
 * - the ops that read and write bf16 directly (products, elementwise,
 *   activations, dropout, shape ops, fused attention) with bf16 inputs;
 * - the output types of PyTorch autocast's rule (products bf16, a bf16 plus
 *   an f32 operand f32, f32-only ops f32);
 * - the f32-only ops (normalisations, softmax, losses) reading bf16 through
 *   op_cast;
 * - a whole pre-LN transformer MLP block as the models run it.
 * Skips without a GPU. */
#include <math.h>
#include <stdio.h>

#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "tests/cuda_parity.h"
#include "tests/test.h"
#ifdef HAVE_CUDA
#include "cuda/backend.h"
#endif

#define ALL_BF16 0xFFu

/* cuda_parity_ready(), then bf16 mode (it selects fp32). */
static int bf16_ready(void) {
    if (!cuda_parity_ready()) return 0;
#ifdef HAVE_CUDA
    cuda_set_precision(PRECISION_BF16);
#endif
    return 1;
}

static void bf16_done(void) {
#ifdef HAVE_CUDA
    cuda_set_precision(PRECISION_FP32);
#endif
}

static Tensor *random_input(int ndim, const int64_t *shape, uint64_t seed) {
    Tensor *t = tensor_random_uniform(ndim, shape, -1.0f, 1.0f, seed);
    t->requires_grad = 1;
    return t;
}

/* Each fn below also asserts the output type autocast gives on the device
 * (bf16 inputs there; the CPU run is f32 throughout). */
static Tensor *expect_type(Tensor *out, DType on_device) {
    DType want = out->device == DEVICE_CPU ? DTYPE_F32 : on_device;
    CHECK(out->dtype == want, "output is %s, autocast gives %s", dtype_name(out->dtype), dtype_name(want));
    return out;
}

static Tensor *apply_linear_bias(Tensor **in, void *ctx) {
    (void)ctx;
    return expect_type(op_linear(in[0], in[1], in[2]), DTYPE_BF16);
}

static Tensor *apply_matmul_nt(Tensor **in, void *ctx) {
    (void)ctx;
    return expect_type(op_matmul(in[0], in[1], 0, 1), DTYPE_BF16);
}

TEST(test_cuda_bf16_products_read_and_write_bf16) {
    if (!bf16_ready()) return;
    static const int64_t sizes[][3] = {{1, 7, 5}, {33, 65, 17}, {577, 64, 96}};
    int rc = 0;
    for (int s = 0; rc == 0 && s < 3; s++) {
        int64_t R = sizes[s][0], in_f = sizes[s][1], out_f = sizes[s][2];
        Tensor *in[3] = {random_input(SHAPE(R, in_f), 10 + s), random_input(SHAPE(out_f, in_f), 20 + s),
                         random_input(SHAPE(out_f), 30 + s)};
        rc = cuda_parity_check_bf16("linear, bf16 x", apply_linear_bias, in, 3, NULL, PARITY_TOL_BF16, 1u);
    }
    for (int s = 0; rc == 0 && s < 2; s++) {
        int64_t B = 3, M = sizes[s + 1][0], K = sizes[s + 1][1], N = sizes[s + 1][2];
        Tensor *in[2] = {random_input(SHAPE(B, M, K), 40 + s), random_input(SHAPE(B, N, K), 50 + s)};
        rc = cuda_parity_check_bf16("batched matmul, bf16 a and b", apply_matmul_nt, in, 2, NULL, PARITY_TOL_BF16,
                                    ALL_BF16);
    }
    bf16_done();
    ASSERT_MSG(rc == 0, "%s", error_message());
}

static Tensor *apply_add(Tensor **in, void *ctx) {
    const DType *want = ctx;
    return expect_type(op_add(in[0], in[1]), *want);
}

static Tensor *apply_mul(Tensor **in, void *ctx) {
    const DType *want = ctx;
    return expect_type(op_mul(in[0], in[1]), *want);
}

static Tensor *apply_affine(Tensor **in, void *ctx) {
    (void)ctx;
    return expect_type(op_add_scalar(op_scale(in[0], -1.5f), 0.25f), DTYPE_BF16);
}

/* One binary case: a [5, 33, 17] and b of shape b_shape, fresh inputs (the
 * harness resets the arena the previous ones lived in). */
static int check_binary(const char *what, ParityFn fn, int b_ndim, const int64_t *b_shape, DType want,
                        unsigned bf16_inputs, uint64_t seed) {
    Tensor *in[2] = {random_input(SHAPE(5, 33, 17), seed), random_input(b_ndim, b_shape, seed + 1)};
    return cuda_parity_check_bf16(what, fn, in, 2, &want, PARITY_TOL_BF16, bf16_inputs);
}

TEST(test_cuda_bf16_elementwise_types_and_values) {
    if (!bf16_ready()) return;
    const int64_t full[3] = {5, 33, 17}, row[1] = {17}, one[1] = {1};
    int rc = check_binary("add bf16 + bf16", apply_add, 3, full, DTYPE_BF16, ALL_BF16, 1);
    /* A bf16 branch added to the f32 residual stream gives f32. */
    if (rc == 0) rc = check_binary("add f32 + bf16", apply_add, 3, full, DTYPE_F32, 2u, 3);
    if (rc == 0) rc = check_binary("bias add bf16 + f32 [C]", apply_add, 1, row, DTYPE_F32, 1u, 5);
    if (rc == 0) rc = check_binary("mul bf16 * bf16 [C]", apply_mul, 1, row, DTYPE_BF16, ALL_BF16, 7);
    if (rc == 0) rc = check_binary("mul bf16 * scalar", apply_mul, 1, one, DTYPE_BF16, ALL_BF16, 9);
    if (rc == 0) {
        Tensor *x[1] = {random_input(SHAPE(7, 129), 11)};
        rc = cuda_parity_check_bf16("scale, add_scalar", apply_affine, x, 1, NULL, PARITY_TOL_BF16, 1u);
    }
    bf16_done();
    ASSERT_MSG(rc == 0, "%s", error_message());
}

static Tensor *apply_activations(Tensor **in, void *ctx) {
    (void)ctx;
    /* Each activation on its own input slice, summed so one output carries all. */
    Tensor *parts[4] = {op_gelu(op_slice(in[0], 0, 0, 2)), op_relu(op_slice(in[0], 0, 2, 2)),
                        op_tanh(op_slice(in[0], 0, 4, 2)), op_sigmoid(op_slice(in[0], 0, 6, 2))};
    return expect_type(op_concat(parts, 4, 0), DTYPE_BF16);
}

static Tensor *apply_dropout_permute(Tensor **in, void *ctx) {
    (void)ctx;
    const int perm[3] = {2, 0, 1};
    Tensor *d = op_dropout(in[0], 0.2f, 99, 3);
    Tensor *r = op_reshape(op_permute(d, perm), 2, (const int64_t[]){17, 5 * 33});
    return expect_type(r, DTYPE_BF16);
}

TEST(test_cuda_bf16_activations_dropout_and_shape_ops) {
    if (!bf16_ready()) return;
    Tensor *x[1] = {tensor_random_uniform(SHAPE(8, 301), -4.0f, 4.0f, 8)};
    x[0]->requires_grad = 1;
    int rc = cuda_parity_check_bf16("gelu, relu, tanh, sigmoid, slice, concat", apply_activations, x, 1, NULL,
                                    PARITY_TOL_BF16, 1u);
    if (rc == 0) {
        Tensor *y[1] = {random_input(SHAPE(5, 33, 17), 9)};
        rc = cuda_parity_check_bf16("dropout, permute, reshape", apply_dropout_permute, y, 1, NULL, PARITY_TOL_BF16,
                                    1u);
    }
    bf16_done();
    ASSERT_MSG(rc == 0, "%s", error_message());
}

typedef struct {
    float scale, p;
} AttnCase;

static Tensor *apply_attention(Tensor **in, void *ctx) {
    const AttnCase *c = ctx;
    return expect_type(op_attention(in[0], in[1], in[2], in[3], c->scale, c->p, 4321, 5), DTYPE_BF16);
}

/* q, k, v [B, H, T|S, Dh] as bf16 on the device; mask row b keeps keep[b]
 * keys and gives the others `pad` (keep NULL: half of sample 0 padded). */
static int check_attention(int64_t B, int64_t H, int64_t T, int64_t S, int64_t Dh, const int *keep, float pad,
                           float p, uint64_t seed) {
    Tensor *in[4] = {random_input(SHAPE(B, H, T, Dh), seed), random_input(SHAPE(B, H, S, Dh), seed + 1),
                     random_input(SHAPE(B, H, S, Dh), seed + 2), tensor_zeros(DTYPE_F32, SHAPE(B, S))};
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0; j < S; j++)
            if (keep ? j >= keep[b] : b == 0 && j >= S / 2) tensor_f32(in[3])[b * S + j] = pad;
    AttnCase c = {(float)(1.0 / sqrt((double)Dh)), p};
    char what[160];
    snprintf(what, sizeof what, "attention %lldx%lldx%lldx%lldx%lld, bf16 q k v, pad %g, dropout %g", (long long)B,
             (long long)H, (long long)T, (long long)S, (long long)Dh, (double)pad, (double)p);
    return cuda_parity_check_bf16(what, apply_attention, in, 4, &c, PARITY_TOL_BF16, 7u);
}

/* The tensor-core kernels (cuda/attention_tc.cu): head dims 64, 16, 32; several
 * query and key tiles (64-row blocks, 32-row streams) with ragged ends; dropout;
 * op_softmax's conventions for an all-padding sample and −inf keys. */
TEST(test_cuda_bf16_fused_attention) {
    if (!bf16_ready()) return;
    const int keep[3] = {40, 0, 7};
    int rc = check_attention(2, 2, 35, 35, 64, NULL, -10000.0f, 0.0f, 60);
    if (rc == 0) rc = check_attention(2, 3, 9, 77, 16, NULL, -10000.0f, 0.1f, 70);
    if (rc == 0) rc = check_attention(1, 2, 17, 33, 32, NULL, -10000.0f, 0.0f, 80);
    if (rc == 0) rc = check_attention(1, 2, 130, 70, 64, NULL, -10000.0f, 0.1f, 90);
    if (rc == 0) rc = check_attention(3, 2, 9, 40, 64, keep, -10000.0f, 0.0f, 100);
    if (rc == 0) rc = check_attention(3, 2, 9, 40, 64, keep, -INFINITY, 0.0f, 110);
    bf16_done();
    ASSERT_MSG(rc == 0, "%s", error_message());
}

static Tensor *apply_f32_only_ops(Tensor **in, void *ctx) {
    (void)ctx;
    Tensor *x = in[0]; /* bf16 on the device */
    Tensor *ln = expect_type(op_layernorm(x, in[1], in[2], 1e-6f), DTYPE_F32);
    Tensor *sm = expect_type(op_softmax(x, NULL), DTYPE_F32);
    Tensor *ls = expect_type(op_log_softmax(x), DTYPE_F32);
    Tensor *l2 = expect_type(op_l2_normalize(x, 1e-12f), DTYPE_F32);
    Tensor *mse = expect_type(op_mse(x, in[3]), DTYPE_F32);
    Tensor *parts[4] = {ln, sm, ls, l2};
    Tensor *all = op_reshape(op_concat(parts, 4, 0), 1, (const int64_t[]){4 * 9 * 40});
    return op_add(all, mse);
}

TEST(test_cuda_bf16_f32_only_ops_read_bf16_through_cast) {
    if (!bf16_ready()) return;
    Tensor *in[4] = {random_input(SHAPE(9, 40), 11), random_input(SHAPE(40), 12), random_input(SHAPE(40), 13),
                     random_input(SHAPE(9, 40), 14)};
    int rc = cuda_parity_check_bf16("layernorm, softmax, log_softmax, l2_normalize, mse on bf16", apply_f32_only_ops,
                                    in, 4, NULL, PARITY_TOL_BF16, 9u);
    bf16_done();
    ASSERT_MSG(rc == 0, "%s", error_message());
}

/* x + fc2(gelu(fc1(LN(x)))) with f32 x and parameters: the residual stream
 * and LN stay f32, the hidden activations are bf16. */
static Tensor *apply_mlp_block(Tensor **in, void *ctx) {
    (void)ctx;
    Tensor *h = op_layernorm(in[0], in[1], in[2], 1e-6f);
    Tensor *u = expect_type(op_gelu(op_linear(h, in[3], in[4])), DTYPE_BF16);
    Tensor *v = expect_type(op_linear(u, in[5], in[6]), DTYPE_BF16);
    return expect_type(op_add(in[0], op_dropout(v, 0.1f, 7, 1)), DTYPE_F32);
}

TEST(test_cuda_bf16_transformer_mlp_block) {
    if (!bf16_ready()) return;
    const int64_t B = 3, T = 35, D = 64, F = 256;
    Tensor *in[7] = {random_input(SHAPE(B, T, D), 90), random_input(SHAPE(D), 91),     random_input(SHAPE(D), 92),
                     random_input(SHAPE(F, D), 93),    random_input(SHAPE(F), 94),     random_input(SHAPE(D, F), 95),
                     random_input(SHAPE(D), 96)};
    for (int i = 3; i < 7; i += 2) /* fan-in scaled weights keep the activations O(1) */
        for (int64_t k = 0; k < tensor_numel(in[i]); k++) tensor_f32(in[i])[k] *= i == 3 ? 0.125f : 0.0625f;
    int rc = cuda_parity_check_bf16("pre-LN MLP block", apply_mlp_block, in, 7, NULL, PARITY_TOL_BF16, 0u);
    bf16_done();
    ASSERT_MSG(rc == 0, "%s", error_message());
}
