/* CUDA parity of the normalisations (cuda/norm.cu) against the CPU ops,
 * forward and backward: softmax with and without a key mask (padding, a batch
 * element masked entirely with -10000 and one entirely with -inf, the mask's
 * own gradient), at attention shape [2, 12, 35, 577] and vocabulary width
 * 30522; log-softmax; LayerNorm with and without affine parameters, on short,
 * wide and very tall inputs (the dw/db partial sums over many chunks); L2
 * normalisation with a zero row and rows below eps. Skips without a GPU. */
#include <math.h>

#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "tests/cuda_parity.h"
#include "tests/test.h"

typedef struct {
    int ndim;
    int64_t shape[4];
} Shape;

static Tensor *random_input(const Shape *s, float lo, float hi, uint64_t seed) {
    Tensor *x = tensor_random_uniform(s->ndim, s->shape, lo, hi, seed);
    x->requires_grad = 1;
    return x;
}

/* ---- softmax ---- */

static Tensor *apply_softmax(Tensor **in, void *ctx) { return op_softmax(in[0], ctx ? in[1] : NULL); }

static const Shape ROW_SHAPES[] = {{2, {1, 1}},  {2, {3, 7}},         {2, {3, 30522}},
                                   {3, {5, 3, 257}}, {4, {2, 12, 35, 577}}, {2, {1000, 33}}};

TEST(test_cuda_softmax_parity) {
    if (!cuda_parity_ready()) return;
    for (size_t s = 0; s < sizeof ROW_SHAPES / sizeof ROW_SHAPES[0]; s++) {
        Tensor *x = random_input(&ROW_SHAPES[s], -8.0f, 8.0f, 40 + s);
        ASSERT_MSG(cuda_parity_check("softmax", apply_softmax, &x, 1, NULL, PARITY_TOL_FP32) == 0, "%s",
                   error_message());
    }
}

/* A key mask [B, S] whose batch element b is, by b % 4: padding (the last
 * third of keys at -10000), every key at -10000, every key at -inf, and
 * -inf padding after a few open keys. */
static Tensor *key_mask(int64_t B, int64_t S) {
    Tensor *m = tensor_zeros(DTYPE_F32, SHAPE(B, S));
    float *v = tensor_f32(m);
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0; j < S; j++) {
            float *e = &v[b * S + j];
            switch (b % 4) {
            case 0: *e = j >= S - S / 3 ? -10000.0f : 0.0f; break;
            case 1: *e = -10000.0f; break;
            case 2: *e = -INFINITY; break;
            default: *e = j >= 3 ? -INFINITY : 0.0f; break;
            }
        }
    return m;
}

static int check_masked(int64_t B, int64_t H, int64_t T, int64_t S, int mask_grad, uint64_t seed) {
    Tensor *in[2];
    in[0] = tensor_random_uniform(SHAPE(B, H, T, S), -6.0f, 6.0f, seed);
    in[0]->requires_grad = 1;
    in[1] = key_mask(B, S);
    in[1]->requires_grad = mask_grad;
    char what[96];
    snprintf(what, sizeof what, "masked softmax [%lld, %lld, %lld, %lld] mask grad %d", (long long)B, (long long)H,
             (long long)T, (long long)S, mask_grad);
    return cuda_parity_check(what, apply_softmax, in, 2, (void *)1, PARITY_TOL_FP32);
}

TEST(test_cuda_softmax_key_mask_parity) {
    if (!cuda_parity_ready()) return;
    /* B = 4 covers all four mask kinds; the attention shape at B = 2 has
     * padding and an all -10000 element. */
    ASSERT_MSG(check_masked(4, 2, 5, 37, 0, 50) == 0, "%s", error_message());
    ASSERT_MSG(check_masked(4, 3, 7, 577, 0, 51) == 0, "%s", error_message());
    ASSERT_MSG(check_masked(2, 12, 35, 577, 0, 52) == 0, "%s", error_message());
    ASSERT_MSG(check_masked(1, 1, 1, 1, 0, 53) == 0, "%s", error_message());
}

TEST(test_cuda_softmax_mask_gradient_parity) {
    if (!cuda_parity_ready()) return;
    /* The mask's gradient sums over each batch's rows and skips -inf keys,
     * including a batch element masked entirely with -inf. */
    ASSERT_MSG(check_masked(4, 2, 5, 37, 1, 60) == 0, "%s", error_message());
    ASSERT_MSG(check_masked(4, 12, 35, 577, 1, 61) == 0, "%s", error_message());
    ASSERT_MSG(check_masked(3, 1, 1, 5, 1, 62) == 0, "%s", error_message());
}

/* ---- log-softmax ---- */

static Tensor *apply_log_softmax(Tensor **in, void *ctx) {
    (void)ctx;
    return op_log_softmax(in[0]);
}

TEST(test_cuda_log_softmax_parity) {
    if (!cuda_parity_ready()) return;
    for (size_t s = 0; s < sizeof ROW_SHAPES / sizeof ROW_SHAPES[0]; s++) {
        Tensor *x = random_input(&ROW_SHAPES[s], -8.0f, 8.0f, 70 + s);
        ASSERT_MSG(cuda_parity_check("log_softmax", apply_log_softmax, &x, 1, NULL, PARITY_TOL_FP32) == 0, "%s",
                   error_message());
    }
}

/* ---- LayerNorm ---- */

typedef struct {
    int weight, bias;
} Affine;

static Tensor *apply_layernorm(Tensor **in, void *ctx) {
    const Affine *a = ctx;
    return op_layernorm(in[0], a->weight ? in[1] : NULL, a->bias ? in[2] : NULL, 1e-12f);
}

static const Shape LN_SHAPES[] = {{2, {5, 7}},     {3, {4, 35, 768}}, {2, {3, 1}},
                                  {3, {2, 1000, 33}}, {2, {70001, 3}},  {2, {1, 1025}}};

TEST(test_cuda_layernorm_parity) {
    if (!cuda_parity_ready()) return;
    const Affine kinds[] = {{1, 1}, {0, 0}, {1, 0}};
    for (size_t s = 0; s < sizeof LN_SHAPES / sizeof LN_SHAPES[0]; s++)
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            const Shape *sh = &LN_SHAPES[s];
            int64_t C = sh->shape[sh->ndim - 1];
            Tensor *in[3];
            in[0] = random_input(sh, -3.0f, 5.0f, 80 + s);
            in[1] = tensor_random_uniform(SHAPE(C), 0.5f, 1.5f, 90 + s);
            in[2] = tensor_random_uniform(SHAPE(C), -0.5f, 0.5f, 100 + s);
            in[1]->requires_grad = in[2]->requires_grad = 1;
            char what[96];
            snprintf(what, sizeof what, "layernorm shape %zu weight %d bias %d", s, kinds[k].weight, kinds[k].bias);
            ASSERT_MSG(cuda_parity_check(what, apply_layernorm, in, 3, (void *)&kinds[k], PARITY_TOL_FP32) == 0,
                       "%s", error_message());
        }
}

/* ---- L2 normalisation ---- */

static Tensor *apply_l2_normalize(Tensor **in, void *ctx) { return op_l2_normalize(in[0], *(const float *)ctx); }

TEST(test_cuda_l2_normalize_parity) {
    if (!cuda_parity_ready()) return;
    const float albef_eps = 1e-12f; /* F.normalize's default, ALBEF's projections */
    const Shape shapes[] = {{2, {3, 256}}, {3, {4, 35, 768}}, {2, {3, 1}}, {2, {2, 30522}}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        Tensor *x = random_input(&shapes[s], -2.0f, 2.0f, 110 + s);
        ASSERT_MSG(cuda_parity_check("l2_normalize", apply_l2_normalize, &x, 1, (void *)&albef_eps,
                                     PARITY_TOL_FP32) == 0,
                   "%s", error_message());
    }
}

TEST(test_cuda_l2_normalize_zero_and_clamped_rows_parity) {
    if (!cuda_parity_ready()) return;
    /* eps large enough that the clamped rows' gradient g/eps does not dwarf
     * the others in the normwise error. */
    const float eps = 0.5f;
    Tensor *x = tensor_random_uniform(SHAPE(6, 7), -1.0f, 1.0f, 120);
    float *v = tensor_f32(x);
    for (int j = 0; j < 7; j++) {
        v[1 * 7 + j] = 0.0f;          /* a zero row: y = 0, dx = g/eps */
        v[4 * 7 + j] = 0.01f * (j + 1); /* norm below eps: clamped */
    }
    x->requires_grad = 1;
    ASSERT_MSG(cuda_parity_check("l2_normalize zero rows", apply_l2_normalize, &x, 1, (void *)&eps,
                                 PARITY_TOL_FP32) == 0,
               "%s", error_message());
}
