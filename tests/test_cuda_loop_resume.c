/* Resume on the device (unlearn/loop_checkpoint.h): a loop whose model lives
 * on the GPU, with momentum twins and ITC queues, interrupted during its
 * third epoch and continued in a fresh device model and optimizer ends
 * bit-identical to the same device loop run without interruption: the
 * checkpoint copies the device parameters, twins, queues and AdamW moments
 * to the host and back. Skips without a GPU (runs under the kernel emulator). */
#include <stdlib.h>
#include <string.h>

#include "core/device.h"
#include "core/error.h"
#include "core/fileio.h"
#include "models/task_retrieval.h"
#include "tests/cuda_parity.h"
#include "tests/eval_world.h"
#include "tests/test.h"
#include "unlearn/loop.h"

typedef struct {
    const Task *task;
    TaskModel *model;
    int fail_at_epoch; /* the "kill": an error in this epoch's second step; -1 never */
} DeviceResumeCtx;

static Tensor *device_resume_loss(void *ctx, LoopStep *s, double *value) {
    DeviceResumeCtx *r = ctx;
    if (s->epoch == r->fail_at_epoch && s->it == 1) {
        error_set("killed in epoch %d", s->epoch);
        return NULL;
    }
    TaskLossOptions o = {.epoch = s->epoch, .step_in_epoch = s->it, .steps_per_epoch = s->iters, .sample_seed = 9,
                         .sample_stream = (uint64_t)s->step};
    TaskLossOutput out;
    Tensor *loss = r->task->loss(r->task, r->model, &s->batch, &o, &out);
    if (loss) {
        float v;
        tensor_copy_to_host(loss, &v);
        *value = v;
    }
    return loss;
}

/* The world's model with momentum distillation and a 16-column queue (seed 4), on the device. */
static int device_model(Albef *m, const Tokenizer *tok) {
    ModelConfig c;
    if (eval_world_config(&c, tokenizer_vocab_size(tok)) < 0) return -1;
    c.momentum_distill = 1;
    c.queue_size = 16;
    albef_init(m, &c, 4);
    albef_to_device(m, DEVICE_CUDA);
    return 0;
}

/* A fresh device model and the loop over 16 training pairs with 16 side
 * items, 3 epochs of 2 steps (the 16-column queue wraps every epoch). */
static int run_device_loop(const Task *t, const Tokenizer *tok, Albef *m, const int64_t *pairs, const char *dir,
                           int fail_at) {
    if (device_model(m, tok) < 0) return -1;
    TaskModel tm = task_retrieval_wrap(m);
    DeviceResumeCtx ctx = {t, &tm, fail_at};
    LoopConfig c = {.name = "device-resume", .task = t, .model = &tm, .items = pairs, .n_items = 16,
                    .side_items = pairs + 16, .n_side = 16, .epochs = 3, .batch = 8, .seed = 5,
                    .stream_shuffle = 11, .stream_side = 12, .stream_dropout = 13, .lr = 3e-4, .min_lr = 1e-5,
                    .warmup_lr = 1e-5, .warmup_steps = 2, .checkpoint_dir = dir,
                    .hooks = {.loss = device_resume_loss, .ctx = &ctx}};
    loop_use_lavis_adamw(&c, 0.02);
    LoopStats st;
    return loop_run(&c, &st);
}

/* n floats of device memory equal, bit for bit */
static int same_on_device(const float *a, const float *b, int64_t n) {
    float *ha = malloc((size_t)n * sizeof *ha), *hb = malloc((size_t)n * sizeof *hb);
    device_copy(ha, DEVICE_CPU, a, DEVICE_CUDA, (size_t)n * sizeof *ha);
    device_copy(hb, DEVICE_CPU, b, DEVICE_CUDA, (size_t)n * sizeof *hb);
    int same = memcmp(ha, hb, (size_t)n * sizeof *ha) == 0;
    free(ha);
    free(hb);
    return same;
}

TEST(test_cuda_loop_resumed_on_the_device_ends_bit_identical) {
    if (!cuda_parity_ready()) return;
    Tokenizer *tok = eval_world_tokenizer();
    ASSERT_MSG(tok, "%s", error_message());
    Albef shape;
    ASSERT_MSG(eval_world_model(&shape, tok, 4) == 0, "%s", error_message());
    RetrievalSet train;
    ASSERT_MSG(eval_world_set(&train, "train", tok, &shape.cfg) == 0, "%s", error_message());
    Task t;
    task_retrieval_init(&t, &shape.cfg, &train, NULL, NULL);
    int64_t pairs[32];
    for (int k = 0; k < 32; k++) pairs[k] = k;
    char dir[512], state[700];
    test_tmp_path(dir, sizeof dir, "device_resume_ckpt");
    ASSERT(make_dirs(dir) == 0);
    snprintf(state, sizeof state, "%s/device-resume-loop.safetensors", dir);

    Albef straight, killed, resumed;
    ASSERT_MSG(run_device_loop(&t, tok, &straight, pairs, NULL, -1) == 0, "%s", error_message());
    ASSERT(run_device_loop(&t, tok, &killed, pairs, dir, 2) == -1);
    ASSERT_STR_CONTAINS(error_message(), "killed in epoch 2");
    ASSERT(file_exists(state));
    ASSERT_MSG(run_device_loop(&t, tok, &resumed, pairs, dir, -1) == 0, "%s", error_message());
    ASSERT(!file_exists(state));

    ASSERT(resumed.params.device == DEVICE_CUDA && resumed.momentum.device == DEVICE_CUDA);
    ASSERT(same_on_device(resumed.params.values, straight.params.values, straight.params.total));
    ASSERT(same_on_device(resumed.momentum.values, straight.momentum.values, straight.momentum.total));
    int64_t q = (int64_t)straight.cfg.embed_dim * straight.cfg.queue_size;
    ASSERT(same_on_device(resumed.image_queue, straight.image_queue, q));
    ASSERT(same_on_device(resumed.text_queue, straight.text_queue, q));
    ASSERT(memcmp(resumed.idx_queue, straight.idx_queue, (size_t)straight.cfg.queue_size * sizeof(int64_t)) == 0);
    ASSERT_EQ_INT(resumed.queue_ptr, straight.queue_ptr);
    /* the interruption mattered: the killed model stopped short of them */
    ASSERT(!same_on_device(killed.params.values, straight.params.values, straight.params.total));
    ASSERT(!same_on_device(killed.image_queue, straight.image_queue, q));

    albef_free(&straight);
    albef_free(&killed);
    albef_free(&resumed);
    albef_free(&shape);
    t.free(&t);
    retrieval_set_free(&train);
    tokenizer_free(tok);
}
