/* CUDA parity of the fused attention (cuda/attention.cu) against the CPU
 * op_attention, forward and backward: self attention with a padding mask,
 * cross attention (T != S, as text over ViT patches), a single key, head dims
 * 32 and 16, sizes that are not multiples of the 32-row tiles, with and without
 * dropout, dropout on a rank's shard (RngRows), and the masked-row conventions
 * (an all-padding sample under −10000, −inf keys, an all −inf sample). Skips
 * without a GPU. */
#include <math.h>

#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "tests/cuda_parity.h"
#include "tests/test.h"

typedef struct {
    int has_mask;
    float scale, p;
} AttnCase;

/* inputs: q, k, v and, when the case has one, the mask (no gradient). */
static Tensor *apply_attention(Tensor **in, void *ctx) {
    const AttnCase *c = ctx;
    return op_attention(in[0], in[1], in[2], c->has_mask ? in[3] : NULL, c->scale, c->p, 1234, 17);
}

static Tensor *apply_attention_rows(Tensor **in, void *ctx) {
    return op_attention_rows(in[0], in[1], in[2], NULL, 0.25f, 0.1f, 1234, 17, *(const RngRows *)ctx);
}

/* keep[b] < 0: no mask; otherwise sample b keeps its first keep[b] keys and
 * the others get `pad`. */
static int check_case(const char *what, int64_t B, int64_t H, int64_t T, int64_t S, int64_t Dh, const int *keep,
                      float pad, float p) {
    Tensor *in[4];
    in[0] = tensor_random_uniform(SHAPE(B, H, T, Dh), -2.0f, 2.0f, 50);
    in[1] = tensor_random_uniform(SHAPE(B, H, S, Dh), -2.0f, 2.0f, 51);
    in[2] = tensor_random_uniform(SHAPE(B, H, S, Dh), -2.0f, 2.0f, 52);
    for (int i = 0; i < 3; i++) in[i]->requires_grad = 1;
    AttnCase c = {keep != NULL, (float)(1.0 / sqrt((double)Dh)), p};
    if (keep) {
        in[3] = tensor_new(DTYPE_F32, SHAPE(B, S));
        for (int64_t b = 0; b < B; b++)
            for (int64_t s = 0; s < S; s++) tensor_f32(in[3])[b * S + s] = s < keep[b] ? 0.0f : pad;
    }
    return cuda_parity_check(what, apply_attention, in, keep ? 4 : 3, &c, PARITY_TOL_FP32);
}

/* Each shape without and with dropout (p = 0.1). */
static int check_both(const char *what, int64_t B, int64_t H, int64_t T, int64_t S, int64_t Dh, const int *keep,
                      float pad) {
    if (check_case(what, B, H, T, S, Dh, keep, pad, 0.0f) != 0) return -1;
    return check_case(what, B, H, T, S, Dh, keep, pad, 0.1f);
}

TEST(test_cuda_attention_self_with_padding_mask_parity) {
    if (!cuda_parity_ready()) return;
    const int keep[2] = {35, 20};
    ASSERT_MSG(check_both("self 2x2x35x35x64, padded", 2, 2, 35, 35, 64, keep, -10000.0f) == 0, "%s",
               error_message());
    ASSERT_MSG(check_both("self 2x2x35x35x64, no mask", 2, 2, 35, 35, 64, NULL, 0.0f) == 0, "%s", error_message());
}

TEST(test_cuda_attention_cross_parity) {
    if (!cuda_parity_ready()) return;
    ASSERT_MSG(check_both("cross 2x12x35x577x64", 2, 12, 35, 577, 64, NULL, 0.0f) == 0, "%s", error_message());
    const int keep[2] = {577, 300};
    ASSERT_MSG(check_case("cross 2x12x35x577x64, masked", 2, 12, 35, 577, 64, keep, -10000.0f, 0.1f) == 0, "%s",
               error_message());
}

TEST(test_cuda_attention_single_key_parity) {
    if (!cuda_parity_ready()) return;
    ASSERT_MSG(check_both("1x1x1x1x64", 1, 1, 1, 1, 64, NULL, 0.0f) == 0, "%s", error_message());
}

TEST(test_cuda_attention_head_dim_32_odd_sizes_parity) {
    if (!cuda_parity_ready()) return;
    const int keep[3] = {33, 1, 17};
    ASSERT_MSG(check_both("3x2x17x33x32", 3, 2, 17, 33, 32, NULL, 0.0f) == 0, "%s", error_message());
    ASSERT_MSG(check_both("3x2x17x33x32, padded", 3, 2, 17, 33, 32, keep, -10000.0f) == 0, "%s", error_message());
    ASSERT_MSG(check_both("2x1x65x31x32", 2, 1, 65, 31, 32, NULL, 0.0f) == 0, "%s", error_message());
}

/* Head dim 16 (the ALBEF reference model's): half of each warp holds no
 * output column. */
TEST(test_cuda_attention_head_dim_16_parity) {
    if (!cuda_parity_ready()) return;
    const int keep[2] = {9, 3};
    ASSERT_MSG(check_both("2x2x9x33x16, padded", 2, 2, 9, 33, 16, keep, -10000.0f) == 0, "%s", error_message());
    ASSERT_MSG(check_both("1x3x40x7x16", 1, 3, 40, 7, 16, NULL, 0.0f) == 0, "%s", error_message());
}

/* op_softmax's conventions: an all-padding sample (−10000 everywhere) gets
 * softmax(scores), −inf keys get weight 0, an all −inf sample is unmasked. */
TEST(test_cuda_attention_masked_rows_follow_cpu_conventions) {
    if (!cuda_parity_ready()) return;
    const int keep[3] = {40, 0, 7};
    ASSERT_MSG(check_both("all-padding sample, -10000", 3, 2, 9, 40, 64, keep, -10000.0f) == 0, "%s",
               error_message());
    ASSERT_MSG(check_both("-inf keys and an all -inf sample", 3, 2, 9, 40, 64, keep, -INFINITY) == 0, "%s",
               error_message());
}

/* A rank's shard (rows 2..3 of each 6-row segment, two segments): the
 * kernels map each probability's index as the CPU does (core/rng.h). */
TEST(test_cuda_attention_rows_parity) {
    if (!cuda_parity_ready()) return;
    RngRows rows = {2, 6, 2};
    Tensor *in[3] = {tensor_random_uniform(SHAPE(4, 2, 9, 16), -2.0f, 2.0f, 70),
                     tensor_random_uniform(SHAPE(4, 2, 11, 16), -2.0f, 2.0f, 71),
                     tensor_random_uniform(SHAPE(4, 2, 11, 16), -2.0f, 2.0f, 72)};
    for (int i = 0; i < 3; i++) in[i]->requires_grad = 1;
    ASSERT_MSG(cuda_parity_check("attention rows", apply_attention_rows, in, 3, &rows, PARITY_TOL_FP32) == 0, "%s",
               error_message());
}
