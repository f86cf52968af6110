/* The ALBEF retrieval training loss, spec/albef_blip.md §3.1 steps 1-13. */
#include <math.h>
#include <string.h>

#include "autograd/device_kernels.h"
#include "autograd/ops.h"
#include "autograd/scope.h"
#include "autograd/tape.h"
#include "core/arena.h"
#include "core/comm.h"
#include "core/device.h"
#include "core/error.h"
#include "core/finite.h"
#include "core/rng.h"
#include "models/albef.h"

/* The message of a batch row whose pairs all share its image: no negative to draw. */
static int no_negative_for(int64_t image_id, int64_t row) {
    return error_set("hard negatives: every pair of the batch shares image id %lld with pair %lld; "
                     "a batch needs at least two distinct images",
                     (long long)image_id, (long long)row);
}

int albef_sample_hard_negatives_rows(const float *logits, int rows, int cols, const int64_t *row_ids,
                                     const int64_t *col_ids, int first_row, uint64_t seed, uint64_t stream,
                                     int32_t *out) {
    Rng rng = rng_make(seed, stream);
    rng.index = (uint64_t)first_row; /* one draw per row: row r of the whole batch takes draw r */
    for (int b = 0; b < rows; b++) {
        const float *row = logits + (size_t)b * cols;
        double mx = -INFINITY, total = 0.0;
        for (int j = 0; j < cols; j++)
            if (col_ids[j] != row_ids[b] && row[j] > mx) mx = row[j];
        /* Softmax then zeroing equals a softmax over the surviving entries up to
         * the normaliser, which the categorical draw ignores. */
        for (int j = 0; j < cols; j++)
            if (col_ids[j] != row_ids[b]) total += exp(row[j] - mx);
        float u = rng_uniform(&rng); /* one draw per row, also for rows that fail */
        int64_t bad = finite_first_bad_f32(row, cols);
        if (bad >= 0) /* diverged weights: no distribution to draw from, and not a batch problem */
            return error_set("hard negatives: similarity logit (%d, %lld) is %g: the model's features are not "
                             "finite (diverged training or NaN weights)",
                             first_row + b, (long long)bad, (double)row[bad]);
        if (!(total > 0.0)) return no_negative_for(row_ids[b], first_row + b);
        double target = u * total, acc = 0.0;
        int pick = -1;
        for (int j = 0; j < cols; j++) {
            if (col_ids[j] == row_ids[b]) continue;
            acc += exp(row[j] - mx);
            pick = j; /* the last candidate absorbs rounding at the top end */
            if (target < acc) break;
        }
        out[b] = pick;
    }
    return 0;
}

int albef_sample_hard_negatives(const float *logits, const int64_t *ids, int B, uint64_t seed, uint64_t stream,
                                int32_t *out) {
    return albef_sample_hard_negatives_rows(logits, B, B, ids, ids, 0, seed, stream, out);
}

/* [B, N + Q] similarities of rows a [B, E] with in-batch rows [N, E] and the queue columns [E, Q]. */
static Tensor *similarity(Tensor *a, Tensor *in_batch, Tensor *queue) {
    Tensor *batch_part = op_matmul(a, in_batch, 0, 1);
    if (!queue) return batch_part;
    Tensor *parts[2] = {batch_part, op_matmul(a, queue, 0, 0)};
    return op_concat(parts, 2, 1);
}

/* A copy of a queue (on the model's device) in that device's arena: the
 * matmul's backward reads it after the enqueue of this same step has
 * overwritten the live buffer. */
static Tensor *queue_snapshot(const float *queue, int64_t E, int64_t Q, Device device) {
    Tensor *t = tensor_new_on(device, DTYPE_F32, SHAPE(E, Q));
    device_copy(t->data, device, queue, device, (size_t)(E * Q) * sizeof(float));
    return t;
}

/* §3.1 step 4: y[b, j] = [idx_b == idx_all_j] / (number of such j), for this
 * rank's rows against the global batch's columns and the queue's. */
static Tensor *positive_targets(const int64_t *ids, int64_t B, const int64_t *ids_all, int64_t N,
                                const int64_t *idx_queue, int64_t Q, Device device) {
    Tensor *y = tensor_new(DTYPE_F32, SHAPE(B, N + Q));
    float *v = tensor_f32(y);
    for (int64_t b = 0; b < B; b++) {
        float *row = v + b * (N + Q);
        int count = 0;
        for (int64_t j = 0; j < N + Q; j++) {
            int64_t other = j < N ? ids_all[j] : idx_queue[j - N];
            row[j] = other == ids[b] ? 1.0f : 0.0f;
            count += other == ids[b];
        }
        for (int64_t j = 0; j < N + Q; j++) row[j] /= (float)count; /* count >= 1: the pair itself */
    }
    return tensor_on(y, device);
}

/* alpha · softmax(momentum logits) + (1 - alpha) · y (§3.1 step 6). */
static Tensor *distilled_targets(Tensor *momentum_logits, Tensor *y, float alpha) {
    return op_add(op_scale(op_softmax(momentum_logits, NULL), alpha), op_scale(y, 1.0f - alpha));
}

/* Host indices: op_index_select checks them on the host and sends them. */
static Tensor *i32_tensor(const int32_t *values, int64_t n) {
    Tensor *t = tensor_new(DTYPE_I32, SHAPE(n));
    memcpy(tensor_i32(t), values, (size_t)n * sizeof(int32_t));
    return t;
}

static Tensor *concat3(Tensor *a, Tensor *b, Tensor *c) {
    Tensor *parts[3] = {a, b, c};
    return op_concat(parts, 3, 0);
}

/* In-batch block [B, N] of [B, N + Q] logits on the CPU, as plain floats for sampling. */
static float *in_batch_block(const Tensor *sim, int64_t B, int64_t N) {
    float *w = arena_alloc(arena_activations(), (size_t)(B * N) * sizeof(float));
    int64_t W = sim->shape[1];
    for (int64_t b = 0; b < B; b++) memcpy(w + b * N, tensor_f32(sim) + b * W, (size_t)N * sizeof(float));
    return w;
}

/* Step 10 where the logits live, on a device: the candidates (columns of
 * another image) decided on the host from the ids, the draws by the device
 * (sample_hard_negatives) into device indices, so that nothing is read back
 * and the step never waits for the device. The same draws as the host's
 * albef_sample_hard_negatives_rows; out->neg_* stay NULL (the indices are on
 * the device). -1 with the host's message when a row has no candidate. */
static int draw_on_device(AlbefLossOutput *out, const int64_t *ids, int64_t B, const int64_t *ids_all,
                          int64_t N, int64_t first, const AlbefLossOptions *opt, Tensor **neg_img, Tensor **neg_txt) {
    Device dev = out->sim_t2i->device;
    Tensor *cand = tensor_new(DTYPE_I32, SHAPE(B, N));
    for (int64_t b = 0; b < B; b++) {
        int any = 0;
        for (int64_t j = 0; j < N; j++) {
            tensor_i32(cand)[b * N + j] = ids_all[j] != ids[b];
            any |= ids_all[j] != ids[b];
        }
        if (!any) return no_negative_for(ids[b], first + b);
    }
    cand = tensor_on(cand, dev);
    const DeviceKernels *k = device_kernels(dev, "hard negatives");
    *neg_img = tensor_new_on(dev, DTYPE_I32, 1, (int64_t[]){B});
    *neg_txt = tensor_new_on(dev, DTYPE_I32, 1, (int64_t[]){B});
    k->sample_hard_negatives(tensor_f32(out->sim_t2i), out->sim_t2i->shape[1], (int)B, (int)N, tensor_i32(cand),
                             (int)first, opt->sample_seed, opt->sample_stream, tensor_i32(*neg_img));
    k->sample_hard_negatives(tensor_f32(out->sim_i2t), out->sim_i2t->shape[1], (int)B, (int)N, tensor_i32(cand),
                             (int)first, opt->sample_seed, opt->sample_stream + 1, tensor_i32(*neg_txt));
    out->neg_images = *neg_img;
    out->neg_texts = *neg_txt;
    return 0;
}

/* Step 10 on the host: the given negatives (checked, on any device), or
 * draws from the in-batch logits on the CPU. */
static int draw_on_host(AlbefLossOutput *out, const int64_t *ids, int64_t B, const int64_t *ids_all, int64_t N,
                        int64_t first, const AlbefLossOptions *opt, Tensor **neg_img, Tensor **neg_txt) {
    out->neg_image_for_text = arena_alloc(arena_activations(), (size_t)B * sizeof(int32_t));
    out->neg_text_for_image = arena_alloc(arena_activations(), (size_t)B * sizeof(int32_t));
    if (opt->neg_image_for_text && opt->neg_text_for_image) {
        for (int64_t b = 0; b < B; b++) {
            int32_t ni = opt->neg_image_for_text[b], nt = opt->neg_text_for_image[b];
            CHECK(ni >= 0 && ni < N && nt >= 0 && nt < N && ids_all[ni] != ids[b] && ids_all[nt] != ids[b],
                  "given hard negatives of pair %lld (%d, %d) are not negatives", (long long)b, ni, nt);
            out->neg_image_for_text[b] = ni;
            out->neg_text_for_image[b] = nt;
        }
    } else {
        if (albef_sample_hard_negatives_rows(in_batch_block(out->sim_t2i, B, N), (int)B, (int)N, ids, ids_all,
                                             (int)first, opt->sample_seed, opt->sample_stream,
                                             out->neg_image_for_text) ||
            albef_sample_hard_negatives_rows(in_batch_block(out->sim_i2t, B, N), (int)B, (int)N, ids, ids_all,
                                             (int)first, opt->sample_seed, opt->sample_stream + 1,
                                             out->neg_text_for_image))
            return -1;
    }

    *neg_img = out->neg_images = i32_tensor(out->neg_image_for_text, B);
    *neg_txt = out->neg_texts = i32_tensor(out->neg_text_for_image, B);
    return 0;
}

/* Data parallel (core/comm.h): this rank holds B pairs of the global batch's
 * N = ranks·B, and every coupling of §3.1 runs over the global batch, by
 * all-gathering what it needs as ALBEF's distributed code does: the ITC rows
 * of this rank meet every rank's (momentum) features and the queue, the
 * queue receives the whole global batch in rank order, hard negatives are
 * drawn from the global in-batch logits (row r of the global batch takes
 * draw r), and the ITM pass takes a negative's states from the gathered
 * tokens. The gathers carry gradients (op_all_gather), and ITC and ITM are
 * means over this rank's rows, so the mean over ranks of this loss and of its
 * gradient is the global batch's. With one rank every gather is the tensor
 * itself and this is the loss of §3.1 on the batch. */
Tensor *albef_retrieval_loss(Albef *m, const AlbefBatch *batch, const AlbefLossOptions *opt, AlbefLossOutput *out) {
    const ModelConfig *c = &m->cfg;
    const int64_t B = batch->images->shape[0], E = c->embed_dim, Q = c->queue_size;
    const int64_t N = B * comm_size(), first = B * comm_rank();
    const int64_t *ids = batch->image_ids;
    int64_t *ids_all = arena_alloc(arena_activations(), (size_t)N * sizeof *ids_all);
    comm_allgather_i64(ids, ids_all, B);
    memset(out, 0, sizeof *out);

    albef_clamp_temp(m); /* step 1 */
    AlbefImageEmbed img = albef_embed_image(m, batch->images);                     /* step 2 */
    AlbefTextEmbed txt = albef_embed_text(m, batch->text_ids, batch->text_mask);   /* step 3 */
    Tensor *y = positive_targets(ids, B, ids_all, N, m->idx_queue, Q, img.feat->device); /* step 4 */

    Tensor *tgt_i2t, *tgt_t2i;
    if (c->momentum_distill) {
        albef_momentum_update(m); /* step 5: EMA before the momentum forward */
        /* The momentum forward has no tape and only its features are used: in
         * a scope, its activations are released for the rest of the step
         * (autograd/scope.h; ALBEF-base: bench/README.md). */
        int prev_tape = autograd_set_enabled(0);
        ActivationScope scope = activation_scope_begin();
        AlbefImageEmbed img_m = albef_embed_image_momentum(m, batch->images);
        AlbefTextEmbed txt_m = albef_embed_text_momentum(m, batch->text_ids, batch->text_mask);
        Tensor *momentum_feats[2] = {img_m.feat, txt_m.feat};
        activation_scope_end(&scope, momentum_feats, 2);
        autograd_set_enabled(prev_tape);
        img_m = (AlbefImageEmbed){.feat = momentum_feats[0]};
        txt_m = (AlbefTextEmbed){.feat = momentum_feats[1]};
        Tensor *img_m_all = op_all_gather(img_m.feat), *txt_m_all = op_all_gather(txt_m.feat);
        Tensor *iq = Q ? queue_snapshot(m->image_queue, E, Q, img.feat->device) : NULL;
        Tensor *tq = Q ? queue_snapshot(m->text_queue, E, Q, img.feat->device) : NULL;
        /* step 7: online features against momentum features and the queues */
        out->sim_i2t = op_div_by_scalar(similarity(img.feat, txt_m_all, tq), m->temp);
        out->sim_t2i = op_div_by_scalar(similarity(txt.feat, img_m_all, iq), m->temp);
        int prev = autograd_set_enabled(0); /* step 6: distillation targets, constants */
        tgt_i2t = distilled_targets(op_div_by_scalar(similarity(img_m.feat, txt_m_all, tq), m->temp), y,
                                    opt->alpha);
        tgt_t2i = distilled_targets(op_div_by_scalar(similarity(txt_m.feat, img_m_all, iq), m->temp), y,
                                    opt->alpha);
        autograd_set_enabled(prev);
        albef_enqueue(m, img_m_all, txt_m_all, ids_all); /* step 8 */
    } else {
        /* Without the momentum encoder: in-batch online-online ITC, hard targets. */
        out->sim_i2t = op_div_by_scalar(similarity(img.feat, op_all_gather(txt.feat), NULL), m->temp);
        out->sim_t2i = op_div_by_scalar(similarity(txt.feat, op_all_gather(img.feat), NULL), m->temp);
        tgt_i2t = tgt_t2i = y;
    }
    out->itc = op_scale(op_add(op_soft_cross_entropy(out->sim_i2t, tgt_i2t),
                               op_soft_cross_entropy(out->sim_t2i, tgt_t2i)),
                        0.5f);

    /* Step 10: hard negatives (global indices) from the in-batch logits (online vs momentum in ALBEF, §9 item 4). */
    Tensor *neg_img = NULL, *neg_txt = NULL;
    int drawn_on_device = !(opt->neg_image_for_text && opt->neg_text_for_image) && out->sim_t2i->device != DEVICE_CPU;
    if (drawn_on_device ? draw_on_device(out, ids, B, ids_all, N, first, opt, &neg_img, &neg_txt) < 0
                        : draw_on_host(out, ids, B, ids_all, N, first, opt, &neg_img, &neg_txt) < 0)
        return NULL;
    /* Steps 9, 11, 12: one fused pass over [positives; (text, neg image); (neg text, image)]. */
    Tensor *(*select)(Tensor *, int, Tensor *) = drawn_on_device ? op_index_select_in_range : op_index_select;
    AlbefTextEmbed all_txt = {
        .tokens = concat3(txt.tokens, txt.tokens, select(op_all_gather(txt.tokens), 0, neg_txt)),
        .mask = concat3(txt.mask, txt.mask, select(op_all_gather(txt.mask), 0, neg_txt)),
    };
    Tensor *all_img = concat3(img.tokens, select(op_all_gather(img.tokens), 0, neg_img), img.tokens);
    out->itm_logits = albef_itm_logits(m, albef_fused_cls(m, &all_txt, all_img));
    Tensor *labels = tensor_new(DTYPE_I32, SHAPE(3 * B));
    for (int64_t k = 0; k < 3 * B; k++) tensor_i32(labels)[k] = k < B ? 1 : 0;
    out->itm = op_cross_entropy(out->itm_logits, labels);

    out->loss = op_add(out->itc, out->itm); /* step 13 */
    return out->loss;
}
