/* Erm-Ktp's two training loops (unlearn/ermktp.h; spec/unlearning_methods.md
 * §4.7): (a) ERM training with the entanglement-reduced mask, (b) knowledge
 * transfer with prohibition into a fresh student on Dr. Both use the shared
 * training machinery of spec §3 (AdamW with LAVIS's decay groups, the LAVIS
 * warm-up/cosine staircase, drop_last shuffled batches), as every ALBEF method
 * here does, so that the comparison stays fair (§3.3 "apply the same
 * simplification to every method"); S7's own SGD at lr 0.1 is kept for the
 * mask only. */
#include "unlearn/ermktp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/clock.h"
#include "core/device.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/rng.h"
#include "nn/optim.h"
#include "nn/schedule.h"
#include "unlearn/retrieval_batch.h"
#include "unlearn/run_driver.h"

#define STREAM_SHUFFLE 0x65726d6b73687500ULL
#define STREAM_DROPOUT 0x65726d6b64726f00ULL
#define STREAM_NEGATIVES 0x65726d6b6e656700ULL

static int is_mask_epoch(const ErmKtpOptions *o, int epoch) {
    return o->mask_period > 0 && epoch % o->mask_period >= o->mask_epoch_min;
}

int ermktp_train_erm(Albef *m, ErmMask *mask, const RetrievalSet *train, const int64_t *pairs, int64_t n_pairs,
                     const Recipe *recipe, const ErmKtpOptions *o, ErmStats *stats) {
    int B = recipe->batch_size, T = model_config_image_tokens(&m->cfg);
    int64_t iters = n_pairs / B;
    if (iters < 1) return error_set("ERM: %lld pairs is fewer than one batch of %d", (long long)n_pairs, B);
    memset(stats, 0, sizeof *stats);
    AdamW opt;
    adamw_init(&opt, &m->params, 0.9f, 0.999f, 1e-8f, (float)recipe->weight_decay);
    adamw_use_lavis_decay_groups(&opt);
    Sgd mask_opt;
    sgd_init(&mask_opt, &mask->ps, (float)o->mask_momentum, (float)o->mask_weight_decay);
    int64_t *order = malloc((size_t)n_pairs * sizeof *order), *ids = malloc((size_t)B * sizeof *ids);
    CHECK(order && ids, "out of memory");
    ImageAugment aug = recipe->augment ? IMAGE_AUG_LAVIS : IMAGE_AUG_NONE;
    double t0 = clock_seconds();
    /* S7 normalises after every iteration, so by its first mask epoch (epoch 2)
     * M is already normalised; doing it up front makes epoch 0 see the same. */
    erm_mask_normalise(mask);
    int rc = 0;
    Progress bar;
    progress_begin(&bar, "erm", (int64_t)o->erm_epochs * iters);
    for (int epoch = 0; epoch < o->erm_epochs && rc == 0; epoch++) {
        memcpy(order, pairs, (size_t)n_pairs * sizeof *order);
        Rng shuffle = rng_make(o->seed, STREAM_SHUFFLE + (uint64_t)epoch);
        rng_shuffle_i64(&shuffle, order, n_pairs);
        int masked = is_mask_epoch(o, epoch);
        double loss_sum = 0.0;
        for (int64_t it = 0; it < iters; it++) {
            float lr = lavis_cosine_lr((float)recipe->init_lr, (float)recipe->min_lr, epoch, o->erm_epochs,
                                       (float)recipe->warmup_lr, recipe->warmup_steps, it);
            AlbefBatch batch;
            if (retrieval_batch_make(train, order + it * B, B, aug, o->seed, (uint64_t)epoch, ids, &batch) < 0) {
                rc = -1;
                break;
            }
            albef_set_mode(m, 1, philox_u32(o->seed, STREAM_DROPOUT, (uint64_t)stats->steps) ^ o->seed);
            /* the class of a pair is its image (ermktp.h) */
            m->image_token_mask = masked ? erm_mask_tokens(mask, ids, B, T) : NULL;
            AlbefLossOptions lo = {.alpha = model_config_alpha_at(&m->cfg, epoch, it, iters),
                                   .sample_seed = o->seed,
                                   .sample_stream = STREAM_NEGATIVES + (uint64_t)stats->steps};
            AlbefLossOutput out;
            Tensor *loss = albef_retrieval_loss(m, &batch, &lo, &out);
            m->image_token_mask = NULL;
            if (!loss) {
                rc = error_prefix("ERM epoch %d step %lld", epoch, (long long)it);
                break;
            }
            float value;
            tensor_copy_to_host(loss, &value); /* the loss lives on the model's device */
            if (!isfinite(value)) {
                rc = error_set("ERM epoch %d step %lld: loss is %g", epoch, (long long)it, value);
                break;
            }
            autograd_backward(loss);
            adamw_step(&opt, lr);
            if (masked) { /* loss = CE + λ_reg R(M): R's gradient is added by hand */
                double r = erm_mask_regulariser(mask, mask->ps.grads, o->reg);
                if (stats->mask_steps == 0) stats->first_reg = r;
                stats->last_reg = r;
                sgd_step(&mask_opt, (float)o->mask_lr);
                stats->mask_steps++;
            }
            erm_mask_normalise(mask); /* after every iteration (S7) */
            params_zero_grad(&m->params);
            params_zero_grad(&mask->ps);
            autograd_step_end();
            loss_sum += value;
            stats->steps++;
            progress_advance(&bar, 1);
        }
        double mean = loss_sum / (double)iters;
        if (epoch == 0) stats->first_loss = mean;
        stats->last_loss = mean;
        log_info("ERM epoch %d%s: mean loss %.4f, R(M) %.4g", epoch, masked ? " (mask)" : "", mean,
                 erm_mask_regulariser(mask, NULL, 0.0));
    }
    progress_end(&bar);
    autograd_step_end();
    albef_set_mode(m, 0, o->seed);
    stats->seconds = clock_seconds() - t0;
    free(order), free(ids);
    adamw_free(&opt);
    sgd_free(&mask_opt);
    return rc;
}

/* The heads the student takes over frozen from the teacher (spec §4.7 "freeze and copy the heads"). */
static const char *const HEADS[] = {"vision_proj.", "text_proj.", "itm_head.", "temp", NULL};

static void copy_heads(Albef *student, const Albef *teacher, const unsigned char *prohibited) {
    for (int p = 0; p < student->params.count; p++) {
        Tensor *t = student->params.items[p];
        for (int h = 0; HEADS[h]; h++) {
            if (strncmp(t->name, HEADS[h], strlen(HEADS[h])) != 0) continue;
            const Tensor *src = params_find(&teacher->params, t->name);
            device_copy(tensor_f32(t), t->device, tensor_f32(src), src->device,
                        (size_t)tensor_numel(t) * sizeof(float));
        }
    }
    params_set_trainable_prefixes(&student->params, HEADS, 0);
    /* S7 zeroes the FC weight columns of the target-relevant channels: here the
     * Linear right after the masked features, vision_proj (on the [CLS] token).
     * On a device the (small) weight is zeroed on a host copy and sent back. */
    Tensor *w = student->online.vision_proj.weight;
    int64_t rows = w->shape[0], C = w->shape[1];
    float *host = w->device == DEVICE_CPU ? tensor_f32(w) : malloc((size_t)tensor_nbytes(w));
    CHECK(host, "out of memory");
    if (w->device != DEVICE_CPU) tensor_copy_to_host(w, host);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < C; c++)
            if (prohibited[c]) host[r * C + c] = 0.0f;
    if (w->device != DEVICE_CPU) {
        tensor_copy_from_host(w, host);
        free(host);
    }
}

int ermktp_transfer(Albef *student, Albef *teacher, const ErmMask *mask, const RetrievalSet *train, const int64_t *df,
                    int64_t n_df, const int64_t *dr, int64_t n_dr, const Recipe *recipe, const ErmKtpOptions *o,
                    KtpStats *stats) {
    int B = recipe->batch_size, C = mask->channels;
    int64_t iters = n_dr / B;
    if (iters < 1) return error_set("KTP: Dr has %lld pairs, fewer than one batch of %d", (long long)n_dr, B);
    memset(stats, 0, sizeof *stats);
    double t0 = clock_seconds();
    /* the targets: the Df images (the classes to forget); the retained classes: the Dr images */
    int64_t *targets = malloc((size_t)n_df * sizeof *targets), *retained = malloc((size_t)n_dr * sizeof *retained);
    unsigned char *prohibited = malloc((size_t)C);
    int64_t *order = malloc((size_t)n_dr * sizeof *order), *ids = malloc((size_t)B * sizeof *ids);
    CHECK(targets && retained && prohibited && order && ids, "out of memory");
    for (int64_t k = 0; k < n_df; k++) targets[k] = train->split.txt2img[df[k]];
    for (int64_t k = 0; k < n_dr; k++) retained[k] = train->split.txt2img[dr[k]];
    stats->target_channels = erm_mask_prohibited(mask, targets, n_df, NULL, 0, o->prohibit_threshold, prohibited);
    stats->prohibited = erm_mask_prohibited(mask, targets, n_df, retained, n_dr, o->prohibit_threshold, prohibited);
    free(retained);
    copy_heads(student, teacher, prohibited);
    float *keep = malloc((size_t)C * sizeof *keep);
    CHECK(keep, "out of memory");
    for (int c = 0; c < C; c++) keep[c] = prohibited[c] ? 0.0f : 1.0f;
    Device device = teacher->params.device;
    AdamW opt;
    adamw_init(&opt, &student->params, 0.9f, 0.999f, 1e-8f, (float)recipe->weight_decay);
    adamw_use_lavis_decay_groups(&opt);
    albef_set_mode(teacher, 0, o->seed);
    ImageAugment aug = recipe->augment ? IMAGE_AUG_LAVIS : IMAGE_AUG_NONE;
    int rc = 0;
    Progress bar;
    progress_begin(&bar, "ktp", (int64_t)o->ktp_epochs * iters);
    for (int epoch = 0; epoch < o->ktp_epochs && rc == 0; epoch++) {
        memcpy(order, dr, (size_t)n_dr * sizeof *order);
        Rng shuffle = rng_make(o->seed, STREAM_SHUFFLE + 0x100 + (uint64_t)epoch);
        rng_shuffle_i64(&shuffle, order, n_dr);
        double loss_sum = 0.0;
        for (int64_t it = 0; it < iters; it++) {
            float lr = lavis_cosine_lr((float)o->ktp_lr, (float)recipe->min_lr, epoch, o->ktp_epochs,
                                       (float)recipe->warmup_lr, recipe->warmup_steps, it);
            AlbefBatch b;
            if (retrieval_batch_make(train, order + it * B, B, aug, o->seed, (uint64_t)epoch + 1000, ids, &b) < 0) {
                rc = -1;
                break;
            }
            int prev = autograd_set_enabled(0); /* teacher: F0_T unmasked tokens, F1_T with prohibition */
            AlbefImageEmbed ti = albef_embed_image(teacher, b.images);
            AlbefTextEmbed tt = albef_embed_text(teacher, b.text_ids, b.text_mask);
            Tensor *keep_t = tensor_on(tensor_wrap(DTYPE_F32, SHAPE(C), keep), device); /* sent each step */
            Tensor *f1_t = albef_fused_cls(teacher, &tt, op_mul(ti.tokens, keep_t));
            autograd_set_enabled(prev);
            albef_set_mode(student, 1, philox_u32(o->seed, STREAM_DROPOUT + 1, (uint64_t)stats->steps) ^ o->seed);
            AlbefImageEmbed si = albef_embed_image(student, b.images);
            AlbefTextEmbed st = albef_embed_text(student, b.text_ids, b.text_mask);
            Tensor *f1_s = albef_fused_cls(student, &st, si.tokens);
            Tensor *loss = op_add(op_mse(si.tokens, ti.tokens), op_mse(f1_s, f1_t));
            float value;
            tensor_copy_to_host(loss, &value);
            if (!isfinite(value)) {
                rc = error_set("KTP epoch %d step %lld: loss is %g", epoch, (long long)it, value);
                break;
            }
            autograd_backward(loss);
            adamw_step(&opt, lr);
            params_zero_grad(&student->params);
            autograd_step_end();
            loss_sum += value;
            stats->steps++;
            progress_advance(&bar, 1);
        }
        double mean = loss_sum / (double)iters;
        if (epoch == 0) stats->first_loss = mean;
        stats->last_loss = mean;
        log_info("KTP epoch %d: mean distillation loss %.5f", epoch, mean);
    }
    progress_end(&bar);
    autograd_step_end();
    albef_set_mode(student, 0, o->seed);
    /* the momentum twins follow the trained online encoders (as albef_init sets them) */
    if (student->cfg.momentum_distill)
        device_copy(student->momentum.values, student->momentum.device, student->params.values,
                    student->params.device, (size_t)student->momentum.total * sizeof(float));
    params_set_trainable_all(&student->params, 1);
    stats->seconds = clock_seconds() - t0;
    free(keep), free(targets), free(prohibited), free(order), free(ids);
    adamw_free(&opt);
    return rc;
}
