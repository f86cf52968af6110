/* Erm-Ktp's two training loops (unlearn/ermktp.h; spec/unlearning_methods.md
 * §4.7): (a) ERM training with the entanglement-reduced mask, (b) knowledge
 * transfer with prohibition into a fresh student on Dr. Both run on the
 * training-loop skeleton of spec §3 (unlearn/loop.h: AdamW with LAVIS's decay
 * groups, the LAVIS warm-up/cosine staircase, drop_last shuffled batches), as
 * every method here does, so that the comparison stays fair (§3.3 "apply the
 * same simplification to every method"); S7's own SGD at lr 0.1 is kept for
 * the mask only. */
#include "unlearn/ermktp.h"

#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/clock.h"
#include "core/comm.h"
#include "core/device.h"
#include "core/log.h"
#include "core/xalloc.h"
#include "nn/optim.h"
#include "unlearn/loop_checkpoint.h"

#define STREAM_SHUFFLE 0x65726d6b73687500ULL
#define STREAM_DROPOUT 0x65726d6b64726f00ULL
#define STREAM_NEGATIVES 0x65726d6b6e656700ULL
/* KTP's streams and augmentation epochs, apart from ERM's */
#define KTP_STREAM_OFFSET 0x100
#define KTP_TRANSFORM_EPOCH 1000

static int is_mask_epoch(const ErmKtpOptions *o, int epoch) {
    return o->mask_period > 0 && epoch % o->mask_period >= o->mask_epoch_min;
}

typedef struct {
    const Task *task;
    TaskModel *model;
    ErmMask *mask;
    Sgd mask_opt;
    const ErmKtpOptions *o;
    ErmStats *stats;
} ErmCtx;

static Tensor *erm_loss(void *ctx, LoopStep *s, double *value) {
    ErmCtx *c = ctx;
    const Task *t = c->task;
    /* the class of an item is its group (ermktp.h) */
    int masked = is_mask_epoch(c->o, s->epoch);
    t->set_image_token_mask(t, c->model,
                            masked ? erm_mask_tokens(c->mask, s->batch.groups, s->batch.n, t->image_tokens) : NULL);
    TaskLossOptions lo = {.epoch = s->epoch, .step_in_epoch = s->it, .steps_per_epoch = s->iters,
                          .sample_seed = c->o->seed, .sample_stream = STREAM_NEGATIVES + (uint64_t)s->step};
    TaskLossOutput out;
    Tensor *loss = t->loss(t, c->model, &s->batch, &lo, &out);
    t->set_image_token_mask(t, c->model, NULL);
    if (loss) {
        float v;
        tensor_copy_to_host(loss, &v); /* the loss lives on the model's device */
        *value = v;
    }
    return loss;
}

static void erm_after_step(void *ctx, LoopStep *s) {
    ErmCtx *c = ctx;
    if (is_mask_epoch(c->o, s->epoch)) { /* loss = CE + λ_reg R(M): R's gradient is added by hand */
        /* M is no model parameter, so the loop's gradient buckets leave it
         * alone: its task-loss gradient is this rank's shard's until averaged
         * over the ranks (the global batch's, as the model's); R(M) is the
         * same on every rank. */
        comm_allreduce_f32(c->mask->ps.device, c->mask->ps.grads, c->mask->ps.total, COMM_MEAN);
        double r = erm_mask_regulariser(c->mask, c->mask->ps.grads, c->o->reg);
        if (c->stats->mask_steps == 0) c->stats->first_reg = r;
        c->stats->last_reg = r;
        sgd_step(&c->mask_opt, (float)c->o->mask_lr);
        c->stats->mask_steps++;
    }
    erm_mask_normalise(c->mask); /* after every iteration (S7) */
    params_zero_grad(&c->mask->ps);
}

static int erm_epoch_end(void *ctx, int epoch, double mean) {
    ErmCtx *c = ctx;
    log_info("ERM epoch %d%s: mean loss %.4f, R(M) %.4g", epoch, is_mask_epoch(c->o, epoch) ? " (mask)" : "", mean,
             erm_mask_regulariser(c->mask, NULL, 0.0));
    return 0;
}

/* The mask, its SGD momentum and the mask statistics, kept across a resume
 * (LoopHooks.state_save): the model and AdamW are the loop's. */
static int erm_state_save(void *ctx, const char *path) {
    const ErmCtx *c = ctx;
    const ParamSet *ps = &c->mask->ps;
    const int64_t counts[2] = {c->stats->mask_steps, c->mask_opt.step};
    const double reg[2] = {c->stats->first_reg, c->stats->last_reg};
    LoopStateFile f = {0};
    loop_state_add_floats(&f, "erm.mask", ps->values, ps->device, ps->total);
    loop_state_add_floats(&f, "erm.mask_momentum", c->mask_opt.buf, c->mask_opt.device, ps->total);
    loop_state_add_i64(&f, "erm.mask_steps", counts, 2);
    loop_state_add_doubles(&f, "erm.reg", reg, 2);
    return loop_state_write(&f, path);
}

static int erm_state_load(void *ctx, const char *path) {
    ErmCtx *c = ctx;
    ParamSet *ps = &c->mask->ps;
    SafetensorsFile f;
    if (safetensors_open(&f, path) < 0) return -1;
    int64_t counts[2];
    double reg[2];
    int rc = loop_state_read_floats(&f, "erm.mask", ps->values, ps->device, ps->total);
    if (rc == 0) rc = loop_state_read_floats(&f, "erm.mask_momentum", c->mask_opt.buf, c->mask_opt.device, ps->total);
    if (rc == 0) rc = loop_state_read_i64(&f, "erm.mask_steps", counts, 2);
    if (rc == 0) rc = loop_state_read_doubles(&f, "erm.reg", reg, 2);
    safetensors_close(&f);
    if (rc < 0) return -1;
    c->stats->mask_steps = counts[0];
    c->mask_opt.step = counts[1];
    c->stats->first_reg = reg[0];
    c->stats->last_reg = reg[1];
    return 0;
}

int ermktp_train_erm(const Task *t, TaskModel *m, ErmMask *mask, const int64_t *items, int64_t n_items,
                     const Recipe *recipe, const ErmKtpOptions *o, ErmStats *stats) {
    memset(stats, 0, sizeof *stats);
    ErmCtx ctx = {.task = t, .model = m, .mask = mask, .o = o, .stats = stats};
    sgd_init(&ctx.mask_opt, &mask->ps, (float)o->mask_momentum, (float)o->mask_weight_decay);
    LoopConfig c = {
        .name = "erm", .task = t, .model = m, .items = items, .n_items = n_items, .epochs = o->erm_epochs,
        .batch = recipe->batch_size, .augment = recipe->augment, .seed = o->seed, .stream_shuffle = STREAM_SHUFFLE,
        .stream_dropout = STREAM_DROPOUT, .lr = recipe->init_lr, .min_lr = recipe->min_lr,
        .warmup_lr = recipe->warmup_lr, .warmup_steps = recipe->warmup_steps,
        .hooks = {.loss = erm_loss, .after_step = erm_after_step, .epoch_end = erm_epoch_end,
                  .state_save = erm_state_save, .state_load = erm_state_load, .ctx = &ctx},
    };
    loop_use_lavis_adamw(&c, recipe->weight_decay);
    /* S7 normalises after every iteration, so by its first mask epoch (epoch 2)
     * M is already normalised; doing it up front makes epoch 0 see the same. */
    erm_mask_normalise(mask);
    LoopStats st;
    int rc = loop_run(&c, &st);
    stats->steps = st.steps;
    stats->first_loss = st.first_mean;
    stats->last_loss = st.last_mean;
    stats->seconds = st.seconds + st.hook_seconds;
    sgd_free(&ctx.mask_opt);
    return rc;
}

/* Copies the task heads from the teacher into the student and freezes them
 * (spec §4.7 "freeze and copy the heads"), then zeroes the columns of the
 * prohibited channels in the first linear layer reading them. On a device
 * the (small) weight is zeroed on a host copy and sent back. */
static void copy_heads(const Task *t, TaskModel *student, TaskModel *teacher, const unsigned char *prohibited) {
    const char *const *heads = t->head_prefixes;
    for (int p = 0; p < student->params->count; p++) {
        Tensor *x = student->params->items[p];
        for (int h = 0; heads[h]; h++) {
            if (strncmp(x->name, heads[h], strlen(heads[h])) != 0) continue;
            const Tensor *src = params_find(teacher->params, x->name);
            device_copy(tensor_f32(x), x->device, tensor_f32(src), src->device,
                        (size_t)tensor_numel(x) * sizeof(float));
        }
    }
    params_set_trainable_prefixes(student->params, heads, 0);
    Tensor *w = t->image_channel_weight(t, student);
    int64_t rows = w->shape[0], C = w->shape[1];
    float *host = w->device == DEVICE_CPU ? tensor_f32(w) : xmalloc((size_t)tensor_nbytes(w));
    if (w->device != DEVICE_CPU) tensor_copy_to_host(w, host);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < C; c++)
            if (prohibited[c]) host[r * C + c] = 0.0f;
    if (w->device != DEVICE_CPU) {
        tensor_copy_from_host(w, host);
        free(host);
    }
}

typedef struct {
    const Task *task;
    TaskModel *student, *teacher;
    float *keep;  /* [C] 0 on the prohibited channels */
    int channels;
} KtpCtx;

static Tensor *ktp_loss(void *ctx, LoopStep *s, double *value) {
    KtpCtx *c = ctx;
    const Task *t = c->task;
    int prev = autograd_set_enabled(0); /* teacher: F0_T unmasked tokens, F1_T with prohibition */
    TaskSides ts = t->sides(t, c->teacher, &s->batch);
    Tensor *teacher_tokens = ts.image_tokens;
    Device device = c->teacher->params->device;
    Tensor *keep = tensor_on(tensor_wrap(DTYPE_F32, SHAPE(c->channels), c->keep), device); /* sent each step */
    ts.image_tokens = op_mul(ts.image_tokens, keep);
    Tensor *f1_t = t->fused(t, c->teacher, &s->batch, &ts);
    autograd_set_enabled(prev);
    TaskSides ss = t->sides(t, c->student, &s->batch);
    Tensor *f1_s = t->fused(t, c->student, &s->batch, &ss);
    Tensor *loss = op_add(op_mse(ss.image_tokens, teacher_tokens), op_mse(f1_s, f1_t));
    float v;
    tensor_copy_to_host(loss, &v);
    *value = v;
    return loss;
}

int ermktp_transfer(const Task *t, TaskModel *student, TaskModel *teacher, const ErmMask *mask, const int64_t *df,
                    int64_t n_df, const int64_t *dr, int64_t n_dr, const Recipe *recipe, const ErmKtpOptions *o,
                    KtpStats *stats) {
    int C = mask->channels;
    memset(stats, 0, sizeof *stats);
    double t0 = clock_seconds();
    /* the targets: the Df groups (the classes to forget); the retained classes: the Dr groups */
    int64_t *targets = xmalloc((size_t)n_df * sizeof *targets), *retained = xmalloc((size_t)n_dr * sizeof *retained);
    unsigned char *prohibited = xmalloc((size_t)C);
    float *keep = xmalloc((size_t)C * sizeof *keep);
    for (int64_t k = 0; k < n_df; k++) targets[k] = t->item_group(t, df[k]);
    for (int64_t k = 0; k < n_dr; k++) retained[k] = t->item_group(t, dr[k]);
    stats->target_channels = erm_mask_prohibited(mask, targets, n_df, NULL, 0, o->prohibit_threshold, prohibited);
    stats->prohibited = erm_mask_prohibited(mask, targets, n_df, retained, n_dr, o->prohibit_threshold, prohibited);
    free(retained);
    copy_heads(t, student, teacher, prohibited);
    for (int c = 0; c < C; c++) keep[c] = prohibited[c] ? 0.0f : 1.0f;
    KtpCtx ctx = {.task = t, .student = student, .teacher = teacher, .keep = keep, .channels = C};
    LoopConfig c = {
        .name = "ktp", .task = t, .model = student, .items = dr, .n_items = n_dr, .epochs = o->ktp_epochs,
        .batch = recipe->batch_size, .augment = recipe->augment, .seed = o->seed,
        .stream_shuffle = STREAM_SHUFFLE + KTP_STREAM_OFFSET, .stream_dropout = STREAM_DROPOUT + 1,
        .transform_epoch_offset = KTP_TRANSFORM_EPOCH, .lr = o->ktp_lr, .min_lr = recipe->min_lr,
        .warmup_lr = recipe->warmup_lr, .warmup_steps = recipe->warmup_steps,
        .hooks = {.loss = ktp_loss, .ctx = &ctx}, /* no state across epochs but the student's: checkpointed */
    };
    loop_use_lavis_adamw(&c, recipe->weight_decay);
    t->model_set_mode(t, teacher, 0, o->seed);
    LoopStats st;
    int rc = loop_run(&c, &st);
    /* the momentum twins follow the trained online encoders (as model_init sets them) */
    t->model_reset_momentum(t, student);
    params_set_trainable_all(student->params, 1);
    stats->steps = st.steps;
    stats->first_loss = st.first_mean;
    stats->last_loss = st.last_mean;
    stats->seconds = clock_seconds() - t0;
    free(keep), free(targets), free(prohibited);
    return rc;
}
