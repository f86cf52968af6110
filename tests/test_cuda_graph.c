/* Whole steps as CUDA graphs (cuda/graph.cu, cuda_graph_step_*): ALBEF's
 * MultiDelete step (bf16) and fine-tuning step (f32), each run six times
 * eagerly and six times captured, from the same weights, end with the same
 * losses and the same parameters bit for bit, while every step brings a new
 * batch, a new learning rate, a new permutation or sampling stream (launch
 * arguments that change), one step a smaller batch (new grid sizes), and the
 * host overwrites its batch before the graph has run. Also: host memory
 * copied in a captured step is staged, device memory released in it is
 * released after the launch, and a read of the device inside a capture stops
 * with a message. Skips without a GPU (runs under the kernel emulator, whose
 * capture records the work and runs it only at the graph's launch). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autograd/tape.h"
#include "core/cli.h"
#include "core/device.h"
#include "core/error.h"
#include "core/rng.h"
#include "models/albef.h"
#include "models/task_retrieval.h"
#include "nn/optim.h"
#include "tests/cuda_parity.h"
#include "tests/test.h"
#include "unlearn/multidelete_loss.h"
#ifdef HAVE_CUDA
#include "cuda/backend.h"
#endif

#ifdef HAVE_CUDA

#define GRAPH_STEPS 6
#define GRAPH_B 4
#define GRAPH_IMG 32
#define GRAPH_TXT 8
#define GRAPH_VOCAB 100

/* One batch's host arrays, refilled every step. */
typedef struct {
    float images[GRAPH_B * 3 * GRAPH_IMG * GRAPH_IMG];
    int32_t ids[GRAPH_B * GRAPH_TXT], mask[GRAPH_B * GRAPH_TXT];
    int64_t image_ids[GRAPH_B];
} HostPairs;

typedef struct {
    Albef un, ori;
    AdamW opt;
    Task task;
    HostPairs df, dr;
    int with_original;
} GraphWorld;

static void world_init(GraphWorld *w, int with_original) {
    ModelConfig cfg = {
        .image_size = GRAPH_IMG, .patch_size = 16, .vision_width = 32, .vision_depth = 1, .vision_heads = 2,
        .vision_mlp_hidden = 128, .vision_ln_eps = 1e-6f, .vocab_size = GRAPH_VOCAB, .text_width = 32,
        .text_heads = 2, .text_ffn_hidden = 128, .text_layers = 2, .fusion_layer = 1,
        .max_position_embeddings = 64, .max_text_len = GRAPH_TXT, .max_text_len_eval = GRAPH_TXT,
        .text_ln_eps = 1e-12f, .embed_dim = 16, .temp_init = 0.07f, .temp_min = 0.001f, .temp_max = 0.5f,
        .alpha = 0.4f,
    };
    snprintf(cfg.name, sizeof cfg.name, "graph-test");
    w->with_original = with_original;
    albef_init(&w->un, &cfg, 1);
    albef_to_device(&w->un, DEVICE_CUDA);
    albef_set_mode(&w->un, 1, 1);
    if (with_original) {
        albef_init(&w->ori, &cfg, 2);
        params_freeze(&w->ori.params);
        albef_to_device(&w->ori, DEVICE_CUDA);
        params_freeze_to_product_type(&w->ori.params);
        albef_set_mode(&w->ori, 0, 1);
    }
    adamw_init(&w->opt, &w->un.params, 0.9f, 0.999f, 1e-8f, 0.02f);
    task_retrieval_init(&w->task, &w->un.cfg, NULL, NULL, NULL);
}

static void world_free(GraphWorld *w) {
    w->task.free(&w->task);
    adamw_free(&w->opt);
    albef_free(&w->un);
    if (w->with_original) albef_free(&w->ori);
}

static void fill_pairs(HostPairs *h, uint64_t stream) {
    Rng r = rng_make(17, stream);
    for (size_t k = 0; k < sizeof h->images / sizeof h->images[0]; k++) h->images[k] = rng_normal(&r);
    for (int b = 0; b < GRAPH_B; b++) {
        h->image_ids[b] = b;
        for (int t = 0; t < GRAPH_TXT; t++) {
            h->ids[b * GRAPH_TXT + t] = (int32_t)rng_below(&r, GRAPH_VOCAB);
            h->mask[b * GRAPH_TXT + t] = t < GRAPH_TXT - 2;
        }
    }
}

/* What the graph must not read: the host's arrays once the step has issued
 * its copies (NaN images, out-of-range ids). */
static void spoil_pairs(HostPairs *h) {
    memset(h->images, 0xFF, sizeof h->images);
    for (int k = 0; k < GRAPH_B * GRAPH_TXT; k++) h->ids[k] = -7;
}

static AlbefBatch pairs_batch(const HostPairs *h, int n) {
    AlbefBatch b;
    b.images = tensor_on(tensor_from_f32(4, (int64_t[]){n, 3, GRAPH_IMG, GRAPH_IMG}, h->images), DEVICE_CUDA);
    b.text_ids = tensor_wrap(DTYPE_I32, SHAPE(n, GRAPH_TXT), (void *)h->ids);
    b.text_mask = tensor_wrap(DTYPE_I32, SHAPE(n, GRAPH_TXT), (void *)h->mask);
    b.image_ids = h->image_ids;
    return b;
}

/* Step n of the world: the MultiDelete step (with_original) or the ALBEF
 * fine-tuning step; step 4 takes one pair fewer. Returns the loss, read
 * after the step (and its graph) ended. */
static float world_step(GraphWorld *w, uint64_t n, int graphs) {
    if (graphs) cuda_graph_step_begin();
    const int b = n == 4 ? GRAPH_B - 1 : GRAPH_B;
    fill_pairs(&w->df, 2 * n);
    fill_pairs(&w->dr, 2 * n + 1);
    Tensor *loss;
    if (w->with_original) {
        AlbefBatch df = pairs_batch(&w->df, b), dr = pairs_batch(&w->dr, b);
        int32_t perm[GRAPH_B];
        multidelete_random_permutation(3, n, b, perm);
        MultiDeleteOptions mo = multidelete_default_options();
        MultiDeleteTerms terms;
        TaskModel m = task_retrieval_wrap(&w->un), m0 = task_retrieval_wrap(&w->ori);
        TaskBatch bdf = task_retrieval_batch(&df), bdr = task_retrieval_batch(&dr);
        loss = multidelete_loss(&w->task, &m, &m0, &bdf, &bdr, perm, &mo, &terms);
    } else {
        AlbefBatch ft = pairs_batch(&w->df, b);
        AlbefLossOptions lo = {.alpha = 0.0f, .sample_seed = 5, .sample_stream = n};
        AlbefLossOutput out;
        loss = albef_retrieval_loss(&w->un, &ft, &lo, &out);
    }
    if (!loss) return NAN;
    autograd_backward(loss);
    adamw_step(&w->opt, 1e-3f * (float)(1 + n % 3));
    params_zero_grad(&w->un.params);
    spoil_pairs(&w->df);
    spoil_pairs(&w->dr);
    if (graphs) cuda_graph_step_end();
    float v = NAN;
    tensor_copy_to_host(loss, &v);
    autograd_step_end();
    return v;
}

/* Runs the steps eagerly, then captured, from the same initial weights. */
static void check_graph_steps_match_eager(int with_original, Precision precision) {
    cuda_set_precision(precision);
    float eager_loss[GRAPH_STEPS], graph_loss[GRAPH_STEPS];
    GraphWorld w;
    world_init(&w, with_original);
    for (int n = 0; n < GRAPH_STEPS; n++) eager_loss[n] = world_step(&w, (uint64_t)n, 0);
    const size_t bytes = (size_t)w.un.params.total * sizeof(float);
    float *eager_params = malloc(bytes), *graph_params = malloc(bytes);
    device_copy(eager_params, DEVICE_CPU, w.un.params.values, DEVICE_CUDA, bytes);
    world_free(&w);
    autograd_release_memory();

    CudaGraphStats before = cuda_graph_stats();
    world_init(&w, with_original);
    for (int n = 0; n < GRAPH_STEPS; n++) graph_loss[n] = world_step(&w, (uint64_t)n, 1);
    device_copy(graph_params, DEVICE_CPU, w.un.params.values, DEVICE_CUDA, bytes);
    CudaGraphStats after = cuda_graph_stats();
    world_free(&w);
    autograd_release_memory();
    cuda_set_precision(PRECISION_FP32);

    for (int n = 0; n < GRAPH_STEPS; n++) {
        ASSERT_MSG(isfinite(eager_loss[n]), "step %d: eager loss %g", n, eager_loss[n]);
        ASSERT_MSG(memcmp(&eager_loss[n], &graph_loss[n], sizeof(float)) == 0, "step %d: loss %.9g eager, %.9g graph",
                   n, eager_loss[n], graph_loss[n]);
    }
    size_t differ = 0;
    for (int64_t k = 0; k < w.un.params.total; k++) differ += memcmp(&eager_params[k], &graph_params[k], sizeof(float)) != 0;
    ASSERT_MSG(differ == 0, "%zu of %lld parameters differ after the graph steps", differ, (long long)w.un.params.total);
    free(eager_params);
    free(graph_params);
    ASSERT_MSG(after.steps - before.steps >= 3, "only %lld of %d steps were captured",
               (long long)(after.steps - before.steps), GRAPH_STEPS);
    ASSERT_MSG(after.updated - before.updated >= 2, "only %lld executable-graph updates",
               (long long)(after.updated - before.updated));
}

/* A capture cannot wait for each operation (MMU_CUDA_SYNC=1), and under
 * MMU_ARENA_GUARD=1 every arena request is an allocation of its own, so
 * device memory never settles and no step would be captured: these tests
 * skip then, saying so (bench/gpu_check.sh runs them in a step of their own,
 * without either; the emulator's first pass runs them). */
static int skip_unless_steps_can_be_captured(int needs_settled_memory) {
    if (cli_env_switch("MMU_CUDA_SYNC")) {
        test_skip("MMU_CUDA_SYNC=1 waits for each operation, which a captured step cannot do");
        return 1;
    }
    if (needs_settled_memory && cli_env_switch("MMU_ARENA_GUARD")) {
        test_skip("MMU_ARENA_GUARD=1 allocates every arena request, so device memory never settles and every "
                  "step would run eagerly");
        return 1;
    }
    return 0;
}

TEST(test_cuda_graph_multidelete_steps_match_eager_steps_bit_for_bit) {
    if (!cuda_parity_ready() || skip_unless_steps_can_be_captured(1)) return;
    check_graph_steps_match_eager(1, PRECISION_BF16);
}

TEST(test_cuda_graph_finetune_steps_match_eager_steps_bit_for_bit) {
    if (!cuda_parity_ready() || skip_unless_steps_can_be_captured(1)) return;
    check_graph_steps_match_eager(0, PRECISION_FP32);
}

/* A step that does nothing: afterwards device memory has settled, so the
 * next step begun is captured. */
static void settle(void) {
    cuda_graph_step_begin();
    cuda_graph_step_end();
    cuda_graph_step_begin();
    cuda_graph_step_end();
}

TEST(test_cuda_graph_step_stages_host_memory_and_releases_device_memory_after_the_launch) {
    if (!cuda_parity_ready() || skip_unless_steps_can_be_captured(0)) return;
    Tensor *dst = tensor_on(tensor_zeros(DTYPE_F32, SHAPE(64)), DEVICE_CUDA);
    settle();
    CudaGraphStats before = cuda_graph_stats();
    size_t held = cuda_bytes_in_use();
    cuda_graph_step_begin();
    float host[64];
    for (int k = 0; k < 64; k++) host[k] = (float)k + 0.5f;
    void *scratch = device_alloc(DEVICE_CUDA, sizeof host);
    device_copy(scratch, DEVICE_CUDA, host, DEVICE_CPU, sizeof host);
    memset(host, 0xFF, sizeof host); /* before the graph runs: it must read the staged copy */
    device_copy(dst->data, DEVICE_CUDA, scratch, DEVICE_CUDA, sizeof host);
    device_release(DEVICE_CUDA, scratch); /* the captured copy still reads it */
    ASSERT_MSG(cuda_bytes_in_use() > held, "released inside the capture, before the graph ran");
    cuda_graph_step_end();
    ASSERT_EQ_INT(cuda_bytes_in_use(), held);
    ASSERT_EQ_INT(cuda_graph_stats().steps, before.steps + 1);
    float got[64];
    device_copy(got, DEVICE_CPU, dst->data, DEVICE_CUDA, sizeof got);
    for (int k = 0; k < 64; k++) ASSERT_MSG(got[k] == (float)k + 0.5f, "element %d: %g", k, got[k]);
    autograd_step_end();
}

/* The read runs in a process of its own: this test binary itself, asked for
 * this test with MMU_TEST_READ_INSIDE_CAPTURE=1 (a forked child could not use
 * the CUDA context its parent made). That process reads inside a capture and
 * should stop; the test reads what it said. */
TEST(test_cuda_graph_device_read_inside_a_capture_stops_naming_it) {
    if (!cuda_parity_ready() || skip_unless_steps_can_be_captured(0)) return;
    Tensor *x = tensor_on(tensor_zeros(DTYPE_F32, SHAPE(4)), DEVICE_CUDA);
    if (getenv("MMU_TEST_READ_INSIDE_CAPTURE")) {
        settle();
        cuda_graph_step_begin();
        float v[4];
        device_copy(v, DEVICE_CPU, x->data, DEVICE_CUDA, sizeof v);
        cuda_graph_step_end();
        return; /* the read went through: this process ends "ok", which the test below fails */
    }
    char self[4096], cmd[4300];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    ASSERT(n > 0);
    self[n] = '\0';
    snprintf(cmd, sizeof cmd,
             "MMU_TEST_READ_INSIDE_CAPTURE=1 '%s' test_cuda_graph_device_read_inside_a_capture_stops_naming_it 2>&1",
             self);
    int status;
    char *said = test_run_command(cmd, &status);
    ASSERT(said != NULL);
    ASSERT_MSG(status != 0, "the read inside the capture went through:\n%s", said);
    ASSERT_STR_CONTAINS(said, "a copy from the device to the host inside a captured step");
    free(said);
    autograd_step_end();
}

#else

TEST(test_cuda_graph_multidelete_steps_match_eager_steps_bit_for_bit) { (void)cuda_parity_ready(); }

#endif
