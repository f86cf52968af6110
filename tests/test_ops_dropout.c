/* Dropout: the mask is philox_uniform(seed, stream, k) >= p (the contract the
 * CUDA kernel reproduces), about 1-p of the elements are kept, the same
 * (seed, stream) gives the same mask and another stream another one, and the
 * backward passes the gradient through the same mask. */
#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/error.h"
#include "core/rng.h"
#include "tests/test.h"

TEST(test_dropout_keeps_about_one_minus_p_and_scales_kept) {
    const int64_t n = 200000;
    const float p = 0.3f;
    Tensor *x = tensor_random_uniform(SHAPE(n), 0.5f, 1.5f, 2); /* never zero */
    Tensor *y = op_dropout(x, p, 1234, 7);
    int64_t kept = 0;
    for (int64_t k = 0; k < n; k++) {
        float v = tensor_f32(y)[k];
        int keep = philox_uniform(1234, 7, (uint64_t)k) >= p;
        ASSERT_MSG(keep ? v == tensor_f32(x)[k] * (1.0f / (1.0f - p)) : v == 0.0f, "element %lld: %g", (long long)k, v);
        kept += keep;
    }
    /* Binomial standard deviation sqrt(p(1-p)/n) ≈ 0.001: 0.005 is five sigma. */
    ASSERT_NEAR((double)kept / (double)n, 1.0 - p, 0.005);
}

TEST(test_dropout_mask_repeats_for_same_stream_and_differs_across_streams) {
    const int64_t n = 4096;
    Tensor *x = tensor_random_uniform(SHAPE(64, 64), 0.5f, 1.5f, 3);
    Tensor *a = op_dropout(x, 0.5f, 99, 1), *b = op_dropout(x, 0.5f, 99, 1);
    Tensor *c = op_dropout(x, 0.5f, 99, 2), *d = op_dropout(x, 0.5f, 100, 1);
    int64_t diff_stream = 0, diff_seed = 0;
    for (int64_t k = 0; k < n; k++) {
        ASSERT(tensor_f32(a)[k] == tensor_f32(b)[k]);
        diff_stream += (tensor_f32(a)[k] == 0.0f) != (tensor_f32(c)[k] == 0.0f);
        diff_seed += (tensor_f32(a)[k] == 0.0f) != (tensor_f32(d)[k] == 0.0f);
    }
    /* Independent masks at p = 0.5 disagree on half the elements. */
    ASSERT_NEAR((double)diff_stream / (double)n, 0.5, 0.05);
    ASSERT_NEAR((double)diff_seed / (double)n, 0.5, 0.05);
}

TEST(test_dropout_p_zero_returns_input_and_p_one_zeroes) {
    Tensor *x = tensor_random_uniform(SHAPE(3, 5), -1.0f, 1.0f, 4);
    ASSERT(op_dropout(x, 0.0f, 1, 1) == x);
    Tensor *y = op_dropout(x, 1.0f, 1, 1);
    for (int k = 0; k < 15; k++) ASSERT(tensor_f32(y)[k] == 0.0f);
}

static Tensor *apply_dropout(Tensor **in, void *ctx) {
    (void)ctx;
    return op_dropout(in[0], 0.4f, 5, 11); /* fixed seed and stream: a fixed mask */
}

TEST(test_dropout_gradient_uses_the_forward_mask) {
    Tensor *x = tensor_random_uniform(SHAPE(5, 9), -1.0f, 1.0f, 6);
    x->requires_grad = 1;
    Tensor *y = apply_dropout(&x, NULL);
    float up[45];
    for (int k = 0; k < 45; k++) up[k] = 1.0f + (float)k;
    autograd_backward_with(y, up);
    int zeros = 0;
    for (int k = 0; k < 45; k++) {
        float want = philox_uniform(5, 11, (uint64_t)k) >= 0.4f ? up[k] / 0.6f : 0.0f;
        ASSERT_NEAR(((float *)x->grad)[k], want, 1e-5);
        zeros += want == 0.0f;
    }
    ASSERT(zeros > 5 && zeros < 40); /* the mask really drops some and keeps some */
    tape_clear();
    ASSERT_MSG(gradcheck(apply_dropout, &x, 1, NULL, gradcheck_defaults()) == 0, "%s", error_message());
}
