/* The ALBEF retrieval loss (models/albef_loss.c) over the ranks against one
 * rank on the global batch: every rank runs the one-rank reference alone
 * (comm_solo_begin) on all N pairs, then its shard of N / ranks pairs with
 * the others, through the gradient buckets and AdamW, for two steps (the
 * second step's ITC reads the queue the first one filled). ITC over the
 * batch and the queue, the hard negatives and the ITM pass couple the pairs,
 * so a rank that saw only its shard would differ. Once more with text
 * dropout 0.1 (online and momentum encoders, the fused passes), each rank's
 * rows placed in the global batch as the training loop places them
 * (nn/layers.h dropout_set_batch_rows).
 * Tolerance: the mean loss and every parameter within 2e-5 + 2e-4 |x| of
 * the reference (the same sums, grouped differently), except the attention
 * key biases (zero_gradient_element): within 2·lr·steps; the queues within
 * 1e-5; the image ids in the queue and the drawn negatives exactly. */
#include <stdlib.h>

#include "autograd/grad_sync.h"
#include "autograd/tape.h"
#include "core/comm.h"
#include "core/device.h"
#include "core/error.h"
#include "core/json.h"
#include "core/rng.h"
#include "models/albef.h"
#include "nn/layers.h"
#include "nn/optim.h"
#include "tests/test.h"

#define N_GLOBAL 6
#define STEPS 2
#define LR 1e-3f

/* The attention key biases: a softmax row is unchanged by a shift, so their
 * gradient is zero in exact arithmetic and rounding noise in floats, which
 * AdamW turns into steps of up to lr whatever the noise's size. ViT keeps
 * them in the middle third of attn.qkv.bias. */
static int zero_gradient_element(const char *name, int64_t k, int64_t n) {
    size_t len = strlen(name);
    if (len >= 13 && strcmp(name + len - 13, "attn.qkv.bias") == 0) return k >= n / 3 && k < 2 * n / 3;
    return len >= 8 && strcmp(name + len - 8, "key.bias") == 0;
}

static const char *CONFIG =
    "{\"name\": \"dp\", \"image_size\": 16, \"patch_size\": 8, \"vision_width\": 32, \"vision_depth\": 2,"
    " \"vision_heads\": 2, \"vision_mlp_hidden\": 64, \"vision_ln_eps\": 1e-6, \"vocab_size\": 40,"
    " \"text_width\": 32, \"text_heads\": 2, \"text_ffn_hidden\": 64, \"text_layers\": 4, \"fusion_layer\": 2,"
    " \"max_position_embeddings\": 16, \"max_text_len\": 8, \"max_text_len_eval\": 8, \"text_ln_eps\": 1e-12,"
    " \"text_dropout\": 0.0, \"embed_dim\": 16, \"temp_init\": 0.07, \"temp_min\": 0.001, \"temp_max\": 0.5,"
    " \"momentum_distill\": true, \"momentum\": 0.9, \"alpha\": 0.4, \"alpha_ramp_epochs\": 2,"
    " \"queue_size\": 16}";

static const int64_t image_ids[STEPS][N_GLOBAL] = {{0, 1, 2, 0, 3, 1}, {4, 2, 5, 6, 4, 0}};

/* Pairs [first, first + n) of step `step`'s global batch: a pure function of
 * (step, pair), so any rank builds any shard. */
static AlbefBatch batch_rows(int step, int64_t first, int64_t n) {
    const int S = 16, L = 8;
    Tensor *images = tensor_new(DTYPE_F32, SHAPE(n, 3, S, S));
    Tensor *ids = tensor_new(DTYPE_I32, SHAPE(n, L)), *mask = tensor_new(DTYPE_I32, SHAPE(n, L));
    for (int64_t b = 0; b < n; b++) {
        int64_t pair = first + b;
        for (int64_t k = 0; k < 3 * S * S; k++)
            tensor_f32(images)[b * 3 * S * S + k] = philox_normal(61, (uint64_t)(step * 100 + pair), (uint64_t)k);
        int len = 4 + (int)(pair % 4);
        for (int t = 0; t < L; t++) {
            int token = t == 0 ? 1 : t == len - 1 ? 2 : 3 + (int)(philox_u32(62, (uint64_t)(step * 100 + pair), t) % 37);
            tensor_i32(ids)[b * L + t] = t < len ? token : 0;
            tensor_i32(mask)[b * L + t] = t < len;
        }
    }
    return (AlbefBatch){images, ids, mask, image_ids[step] + first};
}

typedef struct {
    double loss[STEPS];
    int64_t negatives[STEPS][2 * N_GLOBAL];
} Trace;

/* STEPS steps of AdamW on `m`: this rank's shard, or the whole batch in a solo section. */
static void run_steps(Albef *m, Trace *trace) {
    int64_t n = N_GLOBAL / comm_size(), first = n * comm_rank();
    dropout_set_batch_rows((RngRows){n, N_GLOBAL, first});
    AdamW opt;
    adamw_init(&opt, &m->params, 0.9f, 0.999f, 1e-8f, 0.02f);
    GradSync gs;
    grad_sync_init(&gs, &m->params, 5000);
    grad_sync_broadcast_params(&m->params, 0);
    for (int step = 0; step < STEPS; step++) {
        AlbefBatch batch = batch_rows(step, first, n);
        AlbefLossOptions lo = {.alpha = 0.4f, .sample_seed = 7, .sample_stream = 100 + (uint64_t)step};
        AlbefLossOutput out;
        Tensor *loss = albef_retrieval_loss(m, &batch, &lo, &out);
        CHECK(loss, "%s", error_message());
        float v;
        tensor_copy_to_host(loss, &v);
        double mean = v;
        comm_allreduce_f64(&mean, 1, COMM_MEAN);
        trace->loss[step] = mean;
        int64_t neg[2 * N_GLOBAL], mine[2 * N_GLOBAL];
        for (int64_t b = 0; b < n; b++) {
            mine[b] = out.neg_image_for_text[b];
            mine[n + b] = out.neg_text_for_image[b];
        }
        comm_allgather_i64(mine, neg, 2 * n);
        for (int r = 0; r < comm_size(); r++)
            for (int64_t b = 0; b < n; b++) {
                trace->negatives[step][r * n + b] = neg[r * 2 * n + b];
                trace->negatives[step][N_GLOBAL + r * n + b] = neg[r * 2 * n + n + b];
            }
        grad_sync_begin(&gs);
        autograd_backward(loss);
        grad_sync_end(&gs);
        adamw_step(&opt, LR);
        params_zero_grad(&m->params);
        autograd_step_end();
    }
    dropout_set_batch_rows(RNG_ROWS_ONE);
    grad_sync_free(&gs);
    adamw_free(&opt);
}

static void check_loss(float dropout) {
    ASSERT(N_GLOBAL % comm_size() == 0);
    cJSON *root = json_parse_text(CONFIG, "dp config");
    ModelConfig c;
    ASSERT(root && model_config_from_json(&c, root, "dp config") == 0);
    cJSON_Delete(root);
    c.text_dropout = dropout;
    Albef ref, dp;
    Trace tr_ref, tr_dp;
    albef_init(&ref, &c, 3);
    albef_init(&dp, &c, 3);
    albef_set_mode(&ref, 1, 11);
    albef_set_mode(&dp, 1, 11);
    comm_solo_begin();
    run_steps(&ref, &tr_ref);
    comm_solo_end();
    run_steps(&dp, &tr_dp);

    for (int s = 0; s < STEPS; s++) {
        ASSERT_NEAR(tr_dp.loss[s], tr_ref.loss[s], 2e-5 + 2e-4 * fabs(tr_ref.loss[s]));
        for (int k = 0; k < 2 * N_GLOBAL; k++)
            ASSERT_MSG(tr_dp.negatives[s][k] == tr_ref.negatives[s][k], "step %d negative %d: %lld vs %lld", s, k,
                       (long long)tr_dp.negatives[s][k], (long long)tr_ref.negatives[s][k]);
    }
    for (int p = 0; p < ref.params.count; p++) {
        const Tensor *a = dp.params.items[p], *b = ref.params.items[p];
        for (int64_t k = 0; k < tensor_numel(b); k++) {
            double x = tensor_f32(a)[k], want = tensor_f32(b)[k];
            double tol = zero_gradient_element(b->name, k, tensor_numel(b)) ? 2.0 * LR * STEPS
                                                                             : 2e-5 + 2e-4 * fabs(want);
            ASSERT_MSG(fabs(x - want) <= tol, "%s[%lld] = %.9g, one rank: %.9g (after %d steps)", b->name,
                       (long long)k, x, want, STEPS);
        }
    }
    int64_t EQ = (int64_t)c.embed_dim * c.queue_size;
    ASSERT(test_close_array(dp.image_queue, ref.image_queue, EQ, 1e-5, 0) < 0);
    ASSERT(test_close_array(dp.text_queue, ref.text_queue, EQ, 1e-5, 0) < 0);
    ASSERT(memcmp(dp.idx_queue, ref.idx_queue, (size_t)c.queue_size * sizeof(int64_t)) == 0);
    ASSERT_EQ_INT(dp.queue_ptr, ref.queue_ptr);
    albef_free(&ref);
    albef_free(&dp);
}

TEST(test_albef_loss_ranks_match_one_rank_on_the_global_batch) { check_loss(0.0f); }

TEST(test_albef_loss_with_dropout_ranks_match_one_rank) { check_loss(0.1f); }
