/* CUDA parity of the normalisations (cuda/norm.cu) against the CPU ops,
 * forward and backward: softmax with and without a key mask (padding, a batch
 * element masked entirely with -10000 and one entirely with -inf, the mask's
 * own gradient), at attention shape [2, 12, 35, 577] and vocabulary width
 * 30522; log-softmax; LayerNorm with and without affine parameters, on short,
 * wide and very tall inputs (the dw/db partial sums over many chunks); L2
 * normalisation with a zero row and rows below eps; the residual add fused
 * with LayerNorm (op_add_layernorm) against the CPU and, bit for bit, against
 * op_add then op_layernorm (whether the result reads the norm, the sum or
 * both: on a device the norm's backward passes the sum's gradient on); both
 * norms' bf16 outputs (op_layernorm_to, op_add_layernorm_to) against the f32
 * norm cast to bf16, bit for bit. Skips without a GPU. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/device.h"
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

/* ---- residual add + LayerNorm in one pass (op_add_layernorm) ---- */

/* How y = LayerNorm(x + a) is computed. */
typedef enum {
    ADD_THEN_NORM,      /* op_add, then op_layernorm */
    FUSED,              /* op_add_layernorm */
    ADD_THEN_NORM_BF16, /* op_add, then op_layernorm_to bf16 */
    FUSED_BF16,         /* op_add_layernorm_to bf16 */
    FUSED_THEN_CAST,    /* op_add_layernorm, then op_cast to bf16 */
} AddNormWay;

/* Which of y = LayerNorm(x + a) and s = x + a the result reads: both (a
 * pre-norm block: the norm and the residual stream), y alone (a post-norm
 * block; the fused op is not asked for s), or s alone (no gradient reaches
 * the norm, so the sum's node passes s's gradient on by itself). */
typedef enum { READS_BOTH, READS_Y, READS_S } AddNormReads;

/* y + s/2, y or s/2 by `reads`; a bf16 y is read back in f32. */
static Tensor *add_layernorm_both(Tensor **in, AddNormWay way, AddNormReads reads) {
    Tensor *s = NULL, *y, **sum = reads == READS_Y ? NULL : &s;
    switch (way) {
    case ADD_THEN_NORM: y = op_layernorm(s = op_add(in[0], in[1]), in[2], in[3], 1e-6f); break;
    case FUSED: y = op_add_layernorm(in[0], in[1], in[2], in[3], 1e-6f, sum); break;
    case ADD_THEN_NORM_BF16: y = op_layernorm_to(s = op_add(in[0], in[1]), in[2], in[3], 1e-6f, DTYPE_BF16); break;
    case FUSED_BF16: y = op_add_layernorm_to(in[0], in[1], in[2], in[3], 1e-6f, sum, DTYPE_BF16); break;
    default: y = op_cast(op_add_layernorm(in[0], in[1], in[2], in[3], 1e-6f, sum), DTYPE_BF16); break;
    }
    if (reads == READS_Y) return op_scale(op_to_f32(y), 1.0f);
    if (reads == READS_S) return op_scale(s, 0.5f);
    return op_add(op_to_f32(y), op_scale(s, 0.5f));
}

static Tensor *apply_add_layernorm(Tensor **in, void *ctx) {
    (void)ctx;
    return add_layernorm_both(in, FUSED, READS_BOTH);
}

static const Shape ADD_LN_SHAPES[] = {{2, {5, 7}}, {3, {4, 35, 768}}, {2, {3, 1}}, {3, {2, 577, 96}}, {2, {1, 1025}}};

static Tensor **add_layernorm_inputs(const Shape *sh, uint64_t seed, Tensor *in[4]) {
    int64_t C = sh->shape[sh->ndim - 1];
    in[0] = random_input(sh, -3.0f, 5.0f, seed);
    in[1] = random_input(sh, -1.0f, 1.0f, seed + 1);
    in[2] = tensor_random_uniform(SHAPE(C), 0.5f, 1.5f, seed + 2);
    in[3] = tensor_random_uniform(SHAPE(C), -0.5f, 0.5f, seed + 3);
    in[2]->requires_grad = in[3]->requires_grad = 1;
    return in;
}

TEST(test_cuda_add_layernorm_parity) {
    if (!cuda_parity_ready()) return;
    for (size_t s = 0; s < sizeof ADD_LN_SHAPES / sizeof ADD_LN_SHAPES[0]; s++) {
        Tensor *in[4];
        add_layernorm_inputs(&ADD_LN_SHAPES[s], 200 + 4 * s, in);
        char what[64];
        snprintf(what, sizeof what, "add_layernorm shape %zu", s);
        ASSERT_MSG(cuda_parity_check(what, apply_add_layernorm, in, 4, NULL, PARITY_TOL_FP32) == 0, "%s",
                   error_message());
        /* The branch in bf16 (an attention or MLP output under --precision
         * bf16); the check reset the arena, so the inputs are made anew. */
        add_layernorm_inputs(&ADD_LN_SHAPES[s], 200 + 4 * s, in);
        ASSERT_MSG(cuda_parity_check_bf16(what, apply_add_layernorm, in, 4, NULL, PARITY_TOL_BF16, 1u << 1) == 0,
                   "bf16 branch: %s", error_message());
    }
}

/* An input kept on the host across the steps' arena resets. */
typedef struct {
    int ndim;
    int64_t shape[4];
    float *v;
} Kept;

/* The output and the four inputs' gradients on `device`, one after another
 * in a host array of *n floats. */
static float *run_add_layernorm(const Kept kept[4], Device device, AddNormWay way, AddNormReads reads,
                                int bf16_branch, int64_t *n) {
    autograd_step_end();
    Tensor *in[4];
    int64_t counts[5], total = 0;
    for (int i = 0; i < 4; i++) {
        in[i] = tensor_from_f32(kept[i].ndim, kept[i].shape, kept[i].v);
        if (device != DEVICE_CPU) in[i] = tensor_to_device(in[i], device);
        in[i]->requires_grad = 1;
        counts[i + 1] = tensor_numel(in[i]);
    }
    Tensor *args[4] = {in[0], bf16_branch ? op_cast(in[1], DTYPE_BF16) : in[1], in[2], in[3]};
    Tensor *out = add_layernorm_both(args, way, reads);
    counts[0] = tensor_numel(out);
    for (int i = 0; i < 5; i++) total += counts[i];
    float *host = malloc((size_t)total * sizeof *host), *up = malloc((size_t)counts[0] * sizeof *up);
    for (int64_t k = 0; k < counts[0]; k++) up[k] = (float)((k * 7919) % 23) / 11.0f - 1.0f;
    tensor_copy_to_host(out, host);
    autograd_backward_with(out, up);
    int64_t at = counts[0];
    for (int i = 0; i < 4; i++) {
        if (in[i]->grad != NULL) /* none for the norm's weight and bias when only s is read */
            device_copy(host + at, DEVICE_CPU, in[i]->grad, device, (size_t)counts[i + 1] * sizeof(float));
        else
            memset(host + at, 0, (size_t)counts[i + 1] * sizeof(float));
        at += counts[i + 1];
    }
    free(up);
    autograd_step_end();
    *n = total;
    return host;
}

/* The fused pass is an exact rewrite: the same bits as op_add then
 * op_layernorm for the output and every gradient, on the CPU and on the
 * device, with the branch in f32 and (on the device) in bf16. */
static void keep_add_layernorm_inputs(Kept kept[4]) {
    const Shape sh = {3, {2, 35, 768}};
    Tensor *in[4];
    add_layernorm_inputs(&sh, 300, in);
    for (int i = 0; i < 4; i++) {
        kept[i].ndim = in[i]->ndim;
        memcpy(kept[i].shape, in[i]->shape, sizeof kept[i].shape);
        kept[i].v = malloc(tensor_nbytes(in[i]));
        memcpy(kept[i].v, in[i]->data, tensor_nbytes(in[i]));
    }
}

/* The output and every gradient of two ways, bit for bit. */
static int same_bits(const Kept kept[4], Device device, AddNormWay a, AddNormWay b, AddNormReads reads,
                     int bf16_branch) {
    int64_t n_a, n_b;
    float *ya = run_add_layernorm(kept, device, a, reads, bf16_branch, &n_a);
    float *yb = run_add_layernorm(kept, device, b, reads, bf16_branch, &n_b);
    int same = n_a == n_b && memcmp(ya, yb, (size_t)n_a * sizeof *ya) == 0;
    free(ya);
    free(yb);
    return same;
}

TEST(test_cuda_add_layernorm_matches_add_then_layernorm_bit_for_bit) {
    if (!cuda_parity_ready()) return;
    Kept kept[4];
    keep_add_layernorm_inputs(kept);
    static const char *const READS[] = {"y and s", "y alone", "s alone"};
    int same = 1;
    const char *where = "", *reading = "";
    for (int reads = READS_BOTH; reads <= READS_S && same; reads++)
        for (int run = 0; run < 3 && same; run++) {
            same = same_bits(kept, run == 0 ? DEVICE_CPU : DEVICE_CUDA, FUSED, ADD_THEN_NORM, (AddNormReads)reads,
                             run == 2);
            where = run == 0 ? "cpu" : run == 1 ? "cuda" : "cuda, bf16 branch";
            reading = READS[reads];
        }
    for (int i = 0; i < 4; i++) free(kept[i].v);
    ASSERT_MSG(same, "%s, reading %s: the fused add + LayerNorm differs from add then LayerNorm", where, reading);
}

/* A norm that writes its output in bf16 (a pre-norm read only by products,
 * nn/transformer.c) gives the bits of the f32 norm cast to bf16, and the same
 * gradients: both norms, with the branch in f32 and in bf16. */
TEST(test_cuda_layernorm_to_bf16_is_the_cast_of_the_f32_norm_bit_for_bit) {
    if (!cuda_parity_ready()) return;
    Kept kept[4];
    keep_add_layernorm_inputs(kept);
    const AddNormWay ways[2] = {ADD_THEN_NORM_BF16, FUSED_BF16};
    for (int w = 0; w < 2; w++)
        for (int bf16_branch = 0; bf16_branch < 2; bf16_branch++)
            ASSERT_MSG(same_bits(kept, DEVICE_CUDA, ways[w], FUSED_THEN_CAST, READS_BOTH, bf16_branch),
                       "%s with a%s branch: the bf16 output differs from the f32 norm cast to bf16",
                       w == 0 ? "op_layernorm_to" : "op_add_layernorm_to", bf16_branch ? " bf16" : "n f32");
    for (int i = 0; i < 4; i++) free(kept[i].v);
}
