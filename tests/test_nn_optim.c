/* Optimizers, gradient clipping, freezing, learning-rate schedules and the
 * GCN layer (nn/optim.c, nn/schedule.c, nn/gcn.c). PyTorch parity of AdamW
 * and SGD steps lives in tests/test_nn_parity.c. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/error.h"
#include "nn/gcn.h"
#include "nn/layers.h"
#include "nn/optim.h"
#include "nn/schedule.h"
#include "tests/test.h"

/* ---- clipping ---- */

TEST(test_clip_grad_norm_scales_to_max_norm) {
    ParamSet ps;
    params_init(&ps);
    Tensor *a = params_add(&ps, "a", SHAPE(2));
    Tensor *b = params_add(&ps, "b", SHAPE(1));
    Tensor *frozen = params_add(&ps, "frozen", SHAPE(1));
    params_finalize(&ps);
    frozen->requires_grad = 0;
    float *ga = a->grad, *gb = b->grad, *gf = frozen->grad;
    ga[0] = 3.0f, ga[1] = 4.0f, gb[0] = 12.0f, gf[0] = 100.0f; /* trainable norm 13; frozen ignored */
    float norm = clip_grad_norm(&ps, 6.5f);
    ASSERT_NEAR(norm, 13.0f, 1e-6);
    /* torch: coef = max_norm / (norm + 1e-6) */
    ASSERT_NEAR(ga[0], 1.5f, 1e-6);
    ASSERT_NEAR(ga[1], 2.0f, 1e-6);
    ASSERT_NEAR(gb[0], 6.0f, 1e-6);
    double after = sqrt((double)ga[0] * ga[0] + (double)ga[1] * ga[1] + (double)gb[0] * gb[0]);
    ASSERT_NEAR(after, 6.5, 1e-5);
    ASSERT(gf[0] == 100.0f);
    /* Below the limit nothing changes, bit for bit. */
    float before[2] = {ga[0], ga[1]};
    norm = clip_grad_norm(&ps, 100.0f);
    ASSERT_NEAR(norm, 6.5f, 1e-5);
    ASSERT(memcmp(before, ga, sizeof before) == 0);
    params_free(&ps);
}

TEST(test_clip_grad_norm_is_bitwise_independent_of_thread_count) {
    ParamSet ps;
    params_init(&ps);
    Tensor *w = params_add(&ps, "w", SHAPE(300, 1000)); /* above the parallel threshold */
    params_finalize(&ps);
    Tensor *g = tensor_random_uniform(SHAPE(300, 1000), -1.0f, 1.0f, 9);
    memcpy(w->grad, g->data, sizeof(float) * 300000);
    int prev = omp_get_max_threads();
    omp_set_num_threads(1);
    float n1 = clip_grad_norm(&ps, 1e9f);
    omp_set_num_threads(7);
    float n7 = clip_grad_norm(&ps, 1e9f);
    omp_set_num_threads(prev);
    ASSERT(memcmp(&n1, &n7, sizeof n1) == 0);
    ASSERT_NEAR(n1, sqrt(300000.0 / 3.0), 2.0); /* E[u²] = 1/3 for u ~ U(-1, 1) */
    params_free(&ps);
}

/* ---- freezing ---- */

TEST(test_frozen_parameter_gets_no_gradient_and_stays_bit_identical) {
    ParamSet ps;
    params_init(&ps);
    Linear lin;
    linear_declare(&lin, &ps, "layer", 4, 3, 1);
    params_finalize(&ps);
    params_initialize(&ps, 7);
    lin.weight->requires_grad = 0; /* freeze the weight, train the bias */
    float wbefore[12];
    memcpy(wbefore, lin.weight->data, sizeof wbefore);
    AdamW adam;
    adamw_init(&adam, &ps, 0.9f, 0.999f, 1e-8f, 0.1f);
    Sgd sgd;
    sgd_init(&sgd, &ps, 0.9f, 0.1f);
    for (int step = 0; step < 3; step++) {
        params_zero_grad(&ps);
        Tensor *x = tensor_random_uniform(SHAPE(5, 4), -1.0f, 1.0f, 100 + (uint64_t)step);
        Tensor *loss = op_sum_all(op_mul(linear_forward(&lin, x), linear_forward(&lin, x)));
        autograd_backward(loss);
        const float *gw = lin.weight->grad, *gb = lin.bias->grad;
        for (int k = 0; k < 12; k++) ASSERT(gw[k] == 0.0f);
        ASSERT(gb[0] != 0.0f || gb[1] != 0.0f || gb[2] != 0.0f);
        float bias_before = tensor_f32(lin.bias)[0];
        adamw_step(&adam, 1e-2f);
        sgd_step(&sgd, 1e-2f);
        ASSERT(tensor_f32(lin.bias)[0] != bias_before);
        autograd_step_end();
    }
    ASSERT(memcmp(wbefore, lin.weight->data, sizeof wbefore) == 0);
    /* Moments of the frozen weight were never written either. */
    int64_t off = params_offset(&ps, lin.weight);
    for (int k = 0; k < 12; k++) ASSERT(adam.m[off + k] == 0.0f && adam.v[off + k] == 0.0f && sgd.buf[off + k] == 0.0f);
    adamw_free(&adam);
    sgd_free(&sgd);
    params_free(&ps);
}

TEST(test_adamw_lavis_groups_exclude_biases_and_norms_from_decay) {
    ParamSet ps;
    params_init(&ps);
    Tensor *w = params_add_init(&ps, "blocks.0.attn.qkv.weight", SHAPE(2, 2), PARAM_INIT_ONES, 0);
    Tensor *bias = params_add_init(&ps, "blocks.0.attn.qkv.bias", SHAPE(2), PARAM_INIT_ONES, 0);
    Tensor *norm = params_add_init(&ps, "blocks.0.norm1.weight", SHAPE(2), PARAM_INIT_ONES, 0);
    Tensor *ln = params_add_init(&ps, "ln_post.scale", SHAPE(2, 2), PARAM_INIT_ONES, 0);
    Tensor *pos = params_add_init(&ps, "pos_embed", SHAPE(1, 2, 2), PARAM_INIT_ONES, 0);
    params_finalize(&ps);
    params_initialize(&ps, 1);
    AdamW opt;
    adamw_init(&opt, &ps, 0.9f, 0.999f, 1e-8f, 0.05f);
    ASSERT_EQ_INT(adamw_use_lavis_decay_groups(&opt), 3);
    /* Zero gradients: Adam's update is 0, so only decay moves a parameter. */
    adamw_step(&opt, 0.1f);
    const float decayed = 1.0f - 0.1f * 0.05f;
    ASSERT_NEAR(tensor_f32(w)[0], decayed, 1e-7);
    ASSERT_NEAR(tensor_f32(pos)[3], decayed, 1e-7); /* §5.3: pos_embed is decayed */
    ASSERT(tensor_f32(bias)[0] == 1.0f && tensor_f32(norm)[1] == 1.0f && tensor_f32(ln)[2] == 1.0f);
    adamw_free(&opt);
    params_free(&ps);
}

/* ---- schedules ---- */

TEST(test_warmup_cosine_values_at_known_steps) {
    WarmupCosine s = {.peak = 1e-4f, .min_lr = 1e-6f, .warmup_start = 0.0f, .warmup_steps = 10, .total_steps = 110};
    ASSERT_NEAR(warmup_cosine_lr(&s, 0), 0.0, 1e-12);
    ASSERT_NEAR(warmup_cosine_lr(&s, 5), 5e-5, 1e-11);
    ASSERT_NEAR(warmup_cosine_lr(&s, 10), 1e-4, 1e-11);
    ASSERT_NEAR(warmup_cosine_lr(&s, 35), 1e-6 + 99e-6 * 0.5 * (1 + cos(M_PI / 4)), 1e-11);
    ASSERT_NEAR(warmup_cosine_lr(&s, 60), 1e-6 + 99e-6 * 0.5, 1e-11);
    ASSERT_NEAR(warmup_cosine_lr(&s, 110), 1e-6, 1e-11);
    ASSERT_NEAR(warmup_cosine_lr(&s, 500), 1e-6, 1e-11);
}

TEST(test_lavis_cosine_staircase_matches_spec_table) {
    /* spec/albef_blip.md §5.2, "Resulting per-epoch LR" (4 significant digits). */
    const double albef_flickr[5] = {1e-5, 9.141e-6, 6.891e-6, 4.109e-6, 1.859e-6};
    const double blip_flickr[5] = {1e-5, 9.045e-6, 6.545e-6, 3.455e-6, 9.549e-7};
    const double albef_nlvr[5] = {2e-5, 1.819e-5, 1.344e-5, 7.564e-6, 2.814e-6};
    for (int e = 0; e < 5; e++) {
        ASSERT_NEAR(lavis_cosine_lr(1e-5f, 1e-6f, e, 5, -1.0f, 0, 1234), albef_flickr[e], 1e-3 * albef_flickr[e]);
        ASSERT_NEAR(lavis_cosine_lr(1e-5f, 0.0f, e, 5, -1.0f, 0, 1234), blip_flickr[e], 1e-3 * blip_flickr[e]);
        ASSERT_NEAR(lavis_cosine_lr(2e-5f, 1e-6f, e, 5, 1e-5f, 650, 5000), albef_nlvr[e], 1e-3 * albef_nlvr[e]);
    }
    /* ALBEF VE: 3 epochs, min 0. */
    ASSERT_NEAR(lavis_cosine_lr(2e-5f, 0.0f, 1, 3, -1.0f, 0, 0), 1.5e-5, 1e-11);
    ASSERT_NEAR(lavis_cosine_lr(2e-5f, 0.0f, 2, 3, -1.0f, 0, 0), 5e-6, 1e-11);
    /* ALBEF NLVR2 warm-up: 1e-5 -> 2e-5 over 650 iterations of epoch 0, then flat. */
    ASSERT_NEAR(lavis_cosine_lr(2e-5f, 1e-6f, 0, 5, 1e-5f, 650, 0), 1e-5, 1e-12);
    ASSERT_NEAR(lavis_cosine_lr(2e-5f, 1e-6f, 0, 5, 1e-5f, 650, 325), 1.5e-5, 1e-11);
    ASSERT_NEAR(lavis_cosine_lr(2e-5f, 1e-6f, 0, 5, 1e-5f, 650, 650), 2e-5, 1e-11);
    ASSERT_NEAR(lavis_cosine_lr(2e-5f, 1e-6f, 0, 5, 1e-5f, 650, 2000), 2e-5, 1e-11);
    /* Constant within an epoch (a staircase, not a per-step cosine). */
    ASSERT(lavis_cosine_lr(2e-5f, 1e-6f, 2, 5, 1e-5f, 650, 0) == lavis_cosine_lr(2e-5f, 1e-6f, 2, 5, 1e-5f, 650, 999));
}

/* ---- GCN ---- */

TEST(test_gcn_adjacency_matches_dense_formula) {
    /* 6 nodes: a duplicate edge (0,1)/(1,0), an explicit self loop on 2,
     * an isolated node 5. */
    const int32_t src[] = {0, 1, 1, 2, 2, 3, 0};
    const int32_t dst[] = {1, 0, 2, 2, 3, 4, 1};
    const int n = 6, ne = 7;
    CsrMatrix m = gcn_normalized_adjacency(n, src, dst, ne);
    double a[6][6] = {{0}};
    for (int e = 0; e < ne; e++) a[src[e]][dst[e]] = a[dst[e]][src[e]] = 1.0;
    for (int i = 0; i < n; i++) a[i][i] = 1.0; /* A + I with the self loop counted once */
    double deg[6];
    for (int i = 0; i < n; i++) {
        deg[i] = 0;
        for (int j = 0; j < n; j++) deg[i] += a[i][j];
    }
    double dense[6][6] = {{0}};
    int nnz = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            dense[i][j] = a[i][j] / sqrt(deg[i] * deg[j]);
            nnz += a[i][j] != 0.0;
        }
    ASSERT_EQ_INT(m.rows, n);
    ASSERT_EQ_INT(m.nnz, nnz);
    double got[6][6] = {{0}};
    for (int i = 0; i < n; i++)
        for (int64_t k = m.row_ptr[i]; k < m.row_ptr[i + 1]; k++) {
            if (k > m.row_ptr[i]) ASSERT(m.col_idx[k] > m.col_idx[k - 1]); /* sorted, no repeats */
            got[i][m.col_idx[k]] = m.values[k];
        }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) ASSERT_NEAR(got[i][j], dense[i][j], 1e-7);
    ASSERT_NEAR(got[5][5], 1.0, 0); /* isolated node: only its self loop */
    csr_free(&m);
}

typedef struct {
    const CsrMatrix *adj;
    int in, out;
} GcnCtx;

static Tensor *gcn_apply(Tensor **inputs, void *ctx) {
    const GcnCtx *c = ctx;
    GcnLayer g = {.linear = {.weight = inputs[1], .bias = inputs[2], .in = c->in, .out = c->out}};
    return gcn_layer_forward(&g, c->adj, inputs[0]);
}

TEST(test_gcn_layer_gradcheck) {
    const int32_t src[] = {0, 1, 2, 3, 0};
    const int32_t dst[] = {1, 2, 3, 4, 4};
    CsrMatrix adj = gcn_normalized_adjacency(5, src, dst, 5);
    GcnCtx ctx = {&adj, 4, 3};
    Tensor *in[3] = {
        tensor_random_uniform(SHAPE(5, 4), -1.0f, 1.0f, 1),
        tensor_random_uniform(SHAPE(3, 4), -1.0f, 1.0f, 2),
        tensor_random_uniform(SHAPE(3), -1.0f, 1.0f, 3),
    };
    for (int k = 0; k < 3; k++) in[k]->requires_grad = 1;
    /* Forward against Â (H Wᵀ) + b computed densely by hand. */
    Tensor *y = gcn_apply(in, &ctx);
    const float *h = tensor_f32(in[0]), *w = tensor_f32(in[1]), *b = tensor_f32(in[2]);
    for (int i = 0; i < 5; i++)
        for (int o = 0; o < 3; o++) {
            double s = b[o];
            for (int64_t k = adj.row_ptr[i]; k < adj.row_ptr[i + 1]; k++) {
                int j = adj.col_idx[k];
                double hw = 0;
                for (int c = 0; c < 4; c++) hw += (double)h[j * 4 + c] * w[o * 4 + c];
                s += adj.values[k] * hw;
            }
            ASSERT_NEAR(tensor_f32(y)[i * 3 + o], s, 1e-5);
        }
    int rc = gradcheck(gcn_apply, in, 3, &ctx, gradcheck_defaults());
    csr_free(&adj);
    ASSERT_MSG(rc == 0, "%s", error_message());
}
