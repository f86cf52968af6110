/* Softmax (with key-padding masks), log-softmax, LayerNorm and L2
 * normalisation: forward against direct double-precision loops, backward by
 * finite differences, masked and fully masked rows, large offsets. */
#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/error.h"
#include "tests/test.h"

/* softmax of x (+ m) over one row of S, in double; masks of -inf drop a key. */
static void softmax_ref(double *y, const float *x, const float *m, int64_t S) {
    double mx = -INFINITY, sum = 0.0;
    for (int64_t j = 0; j < S; j++) mx = fmax(mx, (double)x[j] + (m ? m[j] : 0.0));
    for (int64_t j = 0; j < S; j++) sum += exp((double)x[j] + (m ? m[j] : 0.0) - mx);
    for (int64_t j = 0; j < S; j++) y[j] = exp((double)x[j] + (m ? m[j] : 0.0) - mx) / sum;
}

static Tensor *apply_softmax(Tensor **in, void *ctx) { return op_softmax(in[0], ctx ? in[1] : NULL); }

TEST(test_softmax_forward_matches_naive_and_survives_large_scores) {
    Tensor *x = tensor_random_uniform(SHAPE(3, 5, 7), -3, 3, 1);
    for (int64_t k = 0; k < 105; k += 2) tensor_f32(x)[k] += 500.0f; /* exp(500) overflows float */
    Tensor *y = op_softmax(x, NULL);
    for (int64_t r = 0; r < 15; r++) {
        double want[7], sum = 0.0;
        softmax_ref(want, tensor_f32(x) + r * 7, NULL, 7);
        for (int j = 0; j < 7; j++) {
            ASSERT_NEAR(tensor_f32(y)[r * 7 + j], want[j], 1e-6);
            sum += tensor_f32(y)[r * 7 + j];
        }
        ASSERT_NEAR(sum, 1.0, 1e-6);
    }
}

/* Scores [B=2, H=3, T=4, S=5]; batch 0 pads keys 3, 4 with -1e9 (BERT style),
 * batch 1 pads key 0 with -inf. Every query row of a batch shares its mask. */
static Tensor *padding_mask(void) {
    Tensor *m = tensor_zeros(DTYPE_F32, SHAPE(2, 5));
    tensor_f32(m)[3] = tensor_f32(m)[4] = -1e9f;
    tensor_f32(m)[5] = -INFINITY;
    return m;
}

TEST(test_softmax_key_padding_mask_zeroes_padded_keys_in_every_row) {
    Tensor *x = tensor_random_uniform(SHAPE(2, 3, 4, 5), -3, 3, 2);
    Tensor *m = padding_mask();
    Tensor *y = op_softmax(x, m);
    for (int64_t r = 0; r < 24; r++) {
        int64_t b = r / 12;
        double want[5];
        softmax_ref(want, tensor_f32(x) + r * 5, tensor_f32(m) + b * 5, 5);
        for (int j = 0; j < 5; j++) ASSERT_NEAR(tensor_f32(y)[r * 5 + j], want[j], 1e-6);
        if (b == 0) ASSERT(tensor_f32(y)[r * 5 + 3] == 0.0f && tensor_f32(y)[r * 5 + 4] == 0.0f);
        else ASSERT(tensor_f32(y)[r * 5 + 0] == 0.0f);
        /* The kept keys still form a distribution. */
        double sum = 0.0;
        for (int j = 0; j < 5; j++) sum += tensor_f32(y)[r * 5 + j];
        ASSERT_NEAR(sum, 1.0, 1e-6);
    }
}

/* A sequence that is all padding: the same -1e9 (or -inf) on every key
 * carries no preference, and the row is softmax(x), not NaN or uniform. */
TEST(test_softmax_fully_masked_row_is_a_valid_distribution) {
    Tensor *x = tensor_random_uniform(SHAPE(2, 3, 5), -3, 3, 3);
    Tensor *m = tensor_zeros(DTYPE_F32, SHAPE(2, 5));
    for (int j = 0; j < 5; j++) {
        tensor_f32(m)[j] = -1e9f;
        tensor_f32(m)[5 + j] = -INFINITY;
    }
    Tensor *y = op_softmax(x, m);
    for (int64_t r = 0; r < 6; r++) {
        double want[5];
        softmax_ref(want, tensor_f32(x) + r * 5, NULL, 5);
        for (int j = 0; j < 5; j++) ASSERT_NEAR(tensor_f32(y)[r * 5 + j], want[j], 1e-6);
    }
}

TEST(test_softmax_gradients_match_finite_differences_with_and_without_mask) {
    Tensor *in[2] = {tensor_random_uniform(SHAPE(3, 5, 7), -3, 3, 4), NULL};
    in[0]->requires_grad = 1;
    ASSERT_MSG(gradcheck(apply_softmax, in, 1, NULL, gradcheck_defaults()) == 0, "no mask: %s", error_message());

    /* Constant mask with padded keys, an -inf key and a fully masked batch row. */
    in[0] = tensor_random_uniform(SHAPE(3, 2, 4, 5), -3, 3, 5);
    in[0]->requires_grad = 1;
    in[1] = tensor_zeros(DTYPE_F32, SHAPE(3, 5));
    float *m = tensor_f32(in[1]);
    m[4] = -1e9f;
    m[5] = -INFINITY;
    for (int j = 0; j < 5; j++) m[10 + j] = -1e9f;
    ASSERT_MSG(gradcheck(apply_softmax, in, 2, (void *)1, gradcheck_defaults()) == 0, "mask: %s",
               error_message());

    /* A learned (finite) additive bias as the mask also gets its gradient. */
    in[1] = tensor_random_uniform(SHAPE(3, 5), -2, 0, 6);
    in[1]->requires_grad = 1;
    ASSERT_MSG(gradcheck(apply_softmax, in, 2, (void *)1, gradcheck_defaults()) == 0, "mask grad: %s",
               error_message());
}

static Tensor *apply_log_softmax(Tensor **in, void *ctx) {
    (void)ctx;
    return op_log_softmax(in[0]);
}

TEST(test_log_softmax_forward_stable_and_gradient) {
    Tensor *x = tensor_random_uniform(SHAPE(3, 5, 7), -3, 3, 7);
    for (int64_t k = 0; k < 105; k += 3) tensor_f32(x)[k] -= 200.0f; /* softmax underflows to 0 here */
    Tensor *y = op_log_softmax(x);
    for (int64_t r = 0; r < 15; r++) {
        const float *xr = tensor_f32(x) + r * 7;
        double mx = -INFINITY, sum = 0.0;
        for (int j = 0; j < 7; j++) mx = fmax(mx, xr[j]);
        for (int j = 0; j < 7; j++) sum += exp(xr[j] - mx);
        for (int j = 0; j < 7; j++) ASSERT_NEAR(tensor_f32(y)[r * 7 + j], xr[j] - mx - log(sum), 2e-5);
    }
    x = tensor_random_uniform(SHAPE(3, 5, 7), -3, 3, 8);
    x->requires_grad = 1;
    ASSERT_MSG(gradcheck(apply_log_softmax, &x, 1, NULL, gradcheck_defaults()) == 0, "%s", error_message());
}

/* ctx bit 0: weight present, bit 1: bias present. */
static Tensor *apply_layernorm(Tensor **in, void *ctx) {
    intptr_t f = (intptr_t)ctx;
    return op_layernorm(in[0], (f & 1) ? in[1] : NULL, (f & 2) ? in[2] : NULL, 1e-5f);
}

static void layernorm_inputs(Tensor **in, float offset) {
    in[0] = tensor_random_uniform(SHAPE(3, 5, 7), -2, 2, 9);
    for (int64_t k = 0; k < 105; k++) tensor_f32(in[0])[k] += offset;
    in[1] = tensor_random_uniform(SHAPE(7), 0.5f, 1.5f, 10);
    in[2] = tensor_random_uniform(SHAPE(7), -1, 1, 11);
    for (int k = 0; k < 3; k++) in[k]->requires_grad = 1;
}

TEST(test_layernorm_forward_matches_naive_every_affine_combination) {
    for (intptr_t f = 0; f < 4; f++) {
        Tensor *in[3];
        layernorm_inputs(in, f == 3 ? 1000.0f : 0.0f); /* an offset the variance must not lose */
        Tensor *y = apply_layernorm(in, (void *)f);
        for (int64_t r = 0; r < 15; r++) {
            const float *xr = tensor_f32(in[0]) + r * 7;
            double mu = 0.0, var = 0.0;
            for (int j = 0; j < 7; j++) mu += xr[j] / 7.0;
            for (int j = 0; j < 7; j++) var += (xr[j] - mu) * (xr[j] - mu) / 7.0;
            for (int j = 0; j < 7; j++) {
                double want = (xr[j] - mu) / sqrt(var + 1e-5);
                if (f & 1) want *= tensor_f32(in[1])[j];
                if (f & 2) want += tensor_f32(in[2])[j];
                ASSERT_MSG(fabs(tensor_f32(y)[r * 7 + j] - want) < 2e-5, "affine %d row %lld: %g vs %g", (int)f,
                           (long long)r, tensor_f32(y)[r * 7 + j], want);
            }
        }
    }
}

TEST(test_layernorm_gradients_match_finite_differences_every_affine_combination) {
    for (intptr_t f = 0; f < 4; f++) {
        Tensor *in[3];
        layernorm_inputs(in, 0.0f);
        in[1]->requires_grad = (int)(f & 1); /* an absent parameter is not an input */
        in[2]->requires_grad = (int)(f >> 1);
        ASSERT_MSG(gradcheck(apply_layernorm, in, 3, (void *)f, gradcheck_defaults()) == 0, "affine %d: %s",
                   (int)f, error_message());
    }
}

/* ViT-sized rows: past the threading threshold, weight and bias gradients
 * (split by columns) must still be the plain sums over rows. */
TEST(test_layernorm_parameter_gradients_at_threaded_size) {
    Tensor *x = tensor_random_uniform(SHAPE(40, 768), -2, 2, 12);
    Tensor *w = tensor_random_uniform(SHAPE(768), 0.5f, 1.5f, 13), *b = tensor_random_uniform(SHAPE(768), -1, 1, 14);
    w->requires_grad = b->requires_grad = 1;
    Tensor *y = op_layernorm(x, w, b, 1e-6f);
    Tensor *up = tensor_random_uniform(SHAPE(40, 768), -1, 1, 15);
    autograd_backward_with(y, tensor_f32(up));
    for (int64_t j = 0; j < 768; j += 97) {
        double dw = 0.0, db = 0.0;
        for (int64_t r = 0; r < 40; r++) {
            double g = tensor_f32(up)[r * 768 + j];
            db += g;
            dw += g * ((double)tensor_f32(y)[r * 768 + j] - tensor_f32(b)[j]) / tensor_f32(w)[j];
        }
        ASSERT_NEAR(((float *)w->grad)[j], dw, 1e-3);
        ASSERT_NEAR(((float *)b->grad)[j], db, 1e-4);
    }
}

static Tensor *apply_l2(Tensor **in, void *ctx) { return op_l2_normalize(in[0], *(float *)ctx); }

TEST(test_l2_normalize_forward_and_gradient_both_regimes) {
    /* eps = 1e-12: every row is divided by its norm; eps = 10 > every row norm
     * of [-1, 1]^7 (at most √7): rows are divided by eps. */
    const float epss[2] = {1e-12f, 10.0f};
    for (int e = 0; e < 2; e++) {
        Tensor *x = tensor_random_uniform(SHAPE(3, 5, 7), -1, 1, 16);
        x->requires_grad = 1;
        Tensor *y = op_l2_normalize(x, epss[e]);
        for (int64_t r = 0; r < 15; r++) {
            const float *xr = tensor_f32(x) + r * 7;
            double n = 0.0;
            for (int j = 0; j < 7; j++) n += (double)xr[j] * xr[j];
            n = fmax(sqrt(n), epss[e]);
            for (int j = 0; j < 7; j++) ASSERT_NEAR(tensor_f32(y)[r * 7 + j], xr[j] / n, 1e-6);
        }
        ASSERT_MSG(gradcheck(apply_l2, &x, 1, (void *)&epss[e], gradcheck_defaults()) == 0, "eps %g: %s",
                   epss[e], error_message());
    }
}

TEST(test_norm_gradients_accumulate_over_two_backward_calls) {
    Tensor *in[3];
    layernorm_inputs(in, 0.0f);
    Tensor *m = tensor_random_uniform(SHAPE(3, 7), -1, 0, 17);
    Tensor *up = tensor_random_uniform(SHAPE(3, 5, 7), -1, 1, 18);
    const int64_t sizes[3] = {105, 7, 7};
    float *first[3];
    /* softmax(layernorm(x)) + log_softmax(l2_normalize(layernorm(x))): every op
     * of this file on one tape, run forward and backward twice. */
    for (int pass = 0; pass < 2; pass++) {
        Tensor *h = op_layernorm(in[0], in[1], in[2], 1e-5f);
        Tensor *y = op_add(op_softmax(h, m), op_log_softmax(op_l2_normalize(h, 1e-12f)));
        autograd_backward_with(y, tensor_f32(up));
        tape_clear();
        for (int k = 0; k < 3; k++) {
            const float *g = in[k]->grad;
            if (pass == 0) {
                first[k] = tensor_f32(tensor_new(DTYPE_F32, 1, &sizes[k]));
                for (int64_t e = 0; e < sizes[k]; e++) first[k][e] = g[e];
            } else {
                for (int64_t e = 0; e < sizes[k]; e++) ASSERT_NEAR(g[e], 2.0 * first[k][e], 1e-5);
            }
        }
    }
}
