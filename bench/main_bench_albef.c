/* bin/bench_albef: one MultiDelete step ("md": the unlearned model on a Df and
 * a Dr batch with gradients, the frozen original without a tape, L_MD + L_MKR
 * + L_UKR, backward, AdamW) and one ALBEF fine-tuning step ("ft": ITC + ITM
 * with hard negatives, 2b pairs), timed at the sizes of
 * ../shared/bench/albef_torch_anchor.py, whose flags it takes, so that
 * bench/albef.bench.sh can run both side by side. Random weights and inputs as
 * the anchor: images N(0,1), token ids uniform, the last 5 positions padding;
 * no dropout and no momentum distillation (the anchor has neither; --momentum-distill 1 adds
 * it to the ft step, for measuring what albef-base's train and Retrain hold).
 * `--device cuda` runs the same steps on the GPU (bf16 GEMMs by default,
 * `--precision fp32` for checking) and adds the peak device memory;
 * `--profile N` then runs 2 more steps of each kind under the per-operation
 * profiler and prints its N longest operations (Markdown, after the JSON line).
 * `--graphs 1` runs each step as one CUDA graph (cuda/backend.h,
 * cuda_graph_step_*). Each kind of step is also timed as a run of --iters
 * steps waited for once at the end ("pipelined_s", per step): a graph step's
 * host code is captured before any of its work runs, so only there can the
 * host's capture of one step overlap the device's run of the one before.
 * `--attention cudnn` (or `faster`) sends the forward of the bf16 attentions
 * without mask and dropout to cuDNN's fused attention (cuda/backend.h
 * cuda_attention_use); `faster` prints, per shape, both implementations'
 * times and its pick. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/tape.h"
#include "autograd/grad_sync.h"
#include "core/comm.h"
#include "core/cli.h"
#include "core/clock.h"
#include "core/device.h"
#include "core/error.h"
#include "core/rng.h"
#include "models/albef.h"
#include "models/task_retrieval.h"
#include "nn/optim.h"
#include "unlearn/multidelete_loss.h"
#ifdef HAVE_CUDA
#include "cuda/backend.h"
#include "cuda/comm_nccl.h"
#endif

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    float *images;
    int32_t *ids, *mask;
    int64_t *image_ids;
    int n, S, L;
} HostBatch;

static HostBatch host_batch(int n, int S, int L, int vocab, uint64_t stream) {
    HostBatch h = {.n = n, .S = S, .L = L};
    h.images = malloc((size_t)n * 3 * S * S * sizeof(float));
    h.ids = malloc((size_t)n * L * sizeof(int32_t));
    h.mask = malloc((size_t)n * L * sizeof(int32_t));
    h.image_ids = malloc((size_t)n * sizeof(int64_t));
    Rng r = rng_make(7, stream);
    for (int64_t k = 0; k < (int64_t)n * 3 * S * S; k++) h.images[k] = rng_normal(&r);
    for (int b = 0; b < n; b++) {
        h.image_ids[b] = b;
        for (int t = 0; t < L; t++) {
            h.ids[b * L + t] = (int32_t)rng_below(&r, (uint64_t)vocab);
            h.mask[b * L + t] = t < L - 5;
        }
    }
    return h;
}

static void host_batch_free(HostBatch *h) {
    free(h->images);
    free(h->ids);
    free(h->mask);
    free(h->image_ids);
}

/* The batch as the programs' loaders hand it to the model: the images on
 * `device` (a host-to-device copy per step), the token ids and masks on the
 * host (models/albef.c sends them; the embedding op checks host ids before
 * sending them, where ids already on the device would be read back, a wait
 * for the device at every text forward). */
static AlbefBatch to_tensors(const HostBatch *h, Device device) {
    AlbefBatch b;
    b.images = tensor_on(tensor_from_f32(4, (int64_t[]){h->n, 3, h->S, h->S}, h->images), device);
    b.text_ids = tensor_wrap(DTYPE_I32, SHAPE(h->n, h->L), h->ids);
    b.text_mask = tensor_wrap(DTYPE_I32, SHAPE(h->n, h->L), h->mask);
    b.image_ids = h->image_ids;
    return b;
}

/* Waits for the device's queued work, so the clock measures it. */
static void sync_device(Device device) {
#ifdef HAVE_CUDA
    if (device == DEVICE_CUDA) cuda_synchronize();
#else
    (void)device;
#endif
}

/* Peak bytes held on the device by this process (parameters, gradients,
 * optimizer state, the activation arena); 0 on the CPU. */
static double peak_device_gib(Device device) {
#ifdef HAVE_CUDA
    if (device == DEVICE_CUDA) return (double)cuda_peak_bytes() / 1073741824.0;
#else
    (void)device;
#endif
    return 0.0;
}

/* Everything one timed step uses. */
typedef struct {
    Task *task; /* the retrieval task without data: the benchmark brings its own batches */
    Albef *un, *ori;
    AdamW *opt;
    GradSync *gs;
    const HostBatch *df, *dr, *ft;
    int32_t *perm;
    const MultiDeleteOptions *mo;
    Device device;
    int b;
    int graphs; /* each step captured and launched as one CUDA graph */
} Bench;

/* One step of `which` (0: md, 1: ft), numbered `n` (the permutation and
 * hard-negative sampling streams). */
static void bench_step(const Bench *s, int which, uint64_t n) {
#ifdef HAVE_CUDA
    if (s->graphs) cuda_graph_step_begin();
#endif
    Tensor *loss;
    if (which == 0) {
        AlbefBatch df = to_tensors(s->df, s->device), dr = to_tensors(s->dr, s->device);
        multidelete_random_permutation(3, n, s->b, s->perm);
        MultiDeleteTerms terms;
        TaskModel m = task_retrieval_wrap(s->un), m0 = task_retrieval_wrap(s->ori);
        TaskBatch bdf = task_retrieval_batch(&df), bdr = task_retrieval_batch(&dr);
        loss = multidelete_loss(s->task, &m, &m0, &bdf, &bdr, s->perm, s->mo, &terms);
    } else {
        AlbefBatch ft = to_tensors(s->ft, s->device);
        AlbefLossOptions lo = {.alpha = 0.0f, .sample_seed = 5, .sample_stream = n};
        AlbefLossOutput out;
        loss = albef_retrieval_loss(s->un, &ft, &lo, &out);
        if (!loss) error_exit_if(-1);
    }
    grad_sync_begin(s->gs);
    autograd_backward(loss);
    grad_sync_end(s->gs);
    adamw_step(s->opt, 1e-5f);
    params_zero_grad(&s->un->params);
#ifdef HAVE_CUDA
    if (s->graphs) cuda_graph_step_end();
#endif
    autograd_step_end();
}

/* Each kind of step is measured as if alone, as the anchor resets PyTorch's
 * peak statistics before each: the ft steps start without the md steps'
 * original model or their arena chunks, and the peak restarts from what is
 * held then (θ, its gradients and AdamW's moments). */
static void start_phase(Bench *s, int which) {
    if (which == 1 && s->ori) {
        albef_free(s->ori);
        s->ori = NULL;
    }
    autograd_release_memory();
#ifdef HAVE_CUDA
    if (s->device == DEVICE_CUDA) cuda_reset_peak_bytes();
#endif
}

/* --profile: `steps` more steps of `which` under the per-operation profiler
 * (cuda/backend.h), then its table of the `top` operations. */
static void profile_steps(const Bench *s, int which, int steps, int top, const char *mode) {
#ifdef HAVE_CUDA
    Bench eager = *s; /* the profiler times each operation as it is issued */
    eager.graphs = 0;
    cuda_profile_clear();
    for (int k = 0; k < steps; k++) {
        cuda_profile_begin();
        bench_step(&eager, which, (uint64_t)k);
        cuda_profile_end();
    }
    printf("profile of the %s step (%s), the %d longest operations:\n", which == 0 ? "md" : "ft", mode, top);
    cuda_profile_print(stdout, top);
    fflush(stdout);
#else
    (void)s, (void)which, (void)steps, (void)top, (void)mode;
#endif
}

int main(int argc, char **argv) {
    int img, txt, b, d, heads, vit_depth, layers, vocab, iters, warm, profile, param_copies, momentum, graphs;
    const char *device_name_flag, *precision_flag, *steps, *attention;
    CliFlag flags[] = {
        CLI_FLAG_INT("img", &img, "64", "image side (patch 16)"),
        CLI_FLAG_INT("txt", &txt, "30", "text length (last 5 positions padding)"),
        CLI_FLAG_INT("b", &b, "16", "Df and Dr batch each (md); ft batch = 2b"),
        CLI_FLAG_INT("d", &d, "64", "width of the ViT and BERT"),
        CLI_FLAG_INT("heads", &heads, "2", "attention heads"),
        CLI_FLAG_INT("vit-depth", &vit_depth, "2", "ViT blocks"),
        CLI_FLAG_INT("layers", &layers, "2", "BERT text layers = fusion layers"),
        CLI_FLAG_INT("vocab", &vocab, "1000", "vocabulary size"),
        CLI_FLAG_INT("iters", &iters, "10", "timed steps (median reported)"),
        CLI_FLAG_INT("warm", &warm, "3", "untimed warm-up steps"),
        CLI_FLAG_STRING("device", &device_name_flag, "cpu", "cpu or cuda"),
        CLI_FLAG_STRING("precision", &precision_flag, "bf16", "on cuda: bf16 (GEMM inputs) or fp32"),
        CLI_FLAG_STRING("steps", &steps, "md,ft", "which steps to time: md, ft or both"),
        CLI_FLAG_INT("param-copies", &param_copies, "1",
                     "on cuda in bf16: products read weights from the parameter blocks' bf16 copies (0: each "
                     "product casts its weight, the cost the copies remove)"),
        CLI_FLAG_INT("momentum-distill", &momentum, "0",
                     "1: ALBEF's momentum distillation with albef-base's 65,536-entry queues in the ft step, as "
                     "train and Retrain run albef-base (the anchor has none, so its table rows leave it off)"),
        CLI_FLAG_INT("profile", &profile, "0",
                     "on cuda: after the timing, 2 more steps under the per-operation profiler and a table of "
                     "its N longest operations (0: none)"),
        CLI_FLAG_INT("graphs", &graphs, "0",
                     "on cuda: 1 captures each step and launches it as one CUDA graph (one process only)"),
        CLI_FLAG_STRING("attention", &attention, "kernels",
                        "on cuda in bf16, the forward of the attentions without mask and dropout: kernels (the "
                        "handwritten ones), cudnn (cuDNN's fused SDPA) or faster (per shape, whichever was faster "
                        "when first timed)"),
    };
    CliSpec spec = {"bench_albef", "Times ALBEF MultiDelete and fine-tuning steps at the PyTorch anchor's sizes.",
                    flags, CLI_COUNT(flags)};
    int rc = cli_parse(&spec, argc, argv);
    if (rc == 1) return 0;
    error_exit_if(rc);
    /* Under mpirun: b is the global batch, each rank steps its share and the
     * gradients are averaged in buckets during backward (core/comm.h). */
    error_exit_if(comm_init());
    if (b % comm_size() != 0) fatal("bench_albef: --b %d does not split over %d ranks", b, comm_size());
    const int bl = b / comm_size();
    const uint64_t rank_stream = 100 * (uint64_t)comm_rank();
    ModelConfig cfg = {
        .image_size = img, .patch_size = 16, .vision_width = d, .vision_depth = vit_depth, .vision_heads = heads,
        .vision_mlp_hidden = 4 * d, .vision_ln_eps = 1e-6f, .vocab_size = vocab, .text_width = d,
        .text_heads = heads, .text_ffn_hidden = 4 * d, .text_layers = 2 * layers, .fusion_layer = layers,
        .max_position_embeddings = 512, .max_text_len = txt, .max_text_len_eval = txt, .text_ln_eps = 1e-12f,
        .text_dropout = 0.0f, .embed_dim = 256, .temp_init = 0.07f, .temp_min = 0.001f, .temp_max = 0.5f,
        .momentum_distill = momentum != 0, .momentum = 0.995f, .alpha = 0.4f, .alpha_ramp_epochs = 0,
        .queue_size = momentum ? 65536 : 0,
    };
    snprintf(cfg.name, sizeof cfg.name, "bench");
    error_exit_if(model_config_validate(&cfg, "bench_albef flags"));
    Device device = DEVICE_CPU;
    const char *mode = "fp32";
    if (strcmp(device_name_flag, "cuda") == 0) {
#ifdef HAVE_CUDA
        char why[256];
        if (cuda_backend_init(why, sizeof why) != 0) fatal("bench_albef --device cuda: %s", why);
        int bf16 = strcmp(precision_flag, "bf16") == 0;
        if (!bf16 && strcmp(precision_flag, "fp32") != 0)
            fatal("bench_albef: --precision %s: want bf16 or fp32", precision_flag);
        cuda_set_precision(bf16 ? PRECISION_BF16 : PRECISION_FP32);
        cuda_set_param_copies(param_copies);
        const int impl = cuda_attention_by_name(attention);
        if (impl < 0) fatal("bench_albef: --attention %s: want kernels, cudnn or faster", attention);
        cuda_attention_use((CudaAttentionImpl)impl);
        mode = precision_name(cuda_precision());
        device = DEVICE_CUDA;
        if (comm_size() > 1 && cuda_comm_init(why, sizeof why) != 0) fatal("bench_albef --device cuda: %s", why);
#else
        fatal("bench_albef --device cuda: this build has no CUDA backend (nvcc was not found, or CUDA=0)");
#endif
    } else if (strcmp(device_name_flag, "cpu") != 0) {
        fatal("bench_albef: --device %s: want cpu or cuda", device_name_flag);
    }
    if (profile > 0 && device == DEVICE_CPU) fatal("bench_albef: --profile times device operations: add --device cuda");
    if (graphs && device == DEVICE_CPU) fatal("bench_albef: --graphs 1 captures device work: add --device cuda");
    if (graphs && comm_size() > 1)
        fatal("bench_albef: --graphs 1 runs in one process (the gradient all-reduce is not captured yet)");
    /* The frozen original only where an md step runs: Retrain's ft step holds
     * no second model, and the peak memory should not count one. */
    const int with_original = strstr(steps, "md") != NULL;
    Albef un, ori;
    albef_init(&un, &cfg, 1);
    if (with_original) {
        albef_init(&ori, &cfg, 1);
        params_freeze(&ori.params); /* as bin/unlearn_multidelete's original */
    }
    if (device != DEVICE_CPU) {
        albef_to_device(&un, device);
        if (with_original) {
            albef_to_device(&ori, device);
            params_freeze_to_product_type(&ori.params);
        }
    }
    albef_set_mode(&un, 1, 1);
    if (with_original) albef_set_mode(&ori, 0, 1);
    AdamW opt;
    adamw_init(&opt, &un.params, 0.9f, 0.999f, 1e-8f, 0.02f);
    HostBatch hdf = host_batch(bl, img, txt, vocab, 1 + rank_stream), hdr = host_batch(bl, img, txt, vocab, 2 + rank_stream);
    HostBatch hft = host_batch(2 * bl, img, txt, vocab, 3 + rank_stream);
    GradSync gs;
    grad_sync_init(&gs, &un.params, 25 * 1024 * 1024 / 4);
    grad_sync_broadcast_params(&un.params, 0);
    int32_t *perm = malloc((size_t)b * sizeof *perm);
    MultiDeleteOptions mo = multidelete_default_options();
    Task task; /* the retrieval task without data: the benchmark brings its own batches */
    task_retrieval_init(&task, &un.cfg, NULL, NULL, NULL);
    double *times = malloc((size_t)(iters > 0 ? iters : 1) * sizeof *times);
    double *waits = malloc((size_t)(iters > 0 ? iters : 1) * sizeof *waits);
    if (!comm_is_root() && !freopen("/dev/null", "w", stdout)) fatal("bench_albef: cannot silence rank %d", comm_rank());
    printf("{\"params_M\": %.3f, \"threads\": \"%s\", \"device\": \"%s\"}\n", (double)un.params.total / 1e6,
           getenv("OMP_NUM_THREADS") ? getenv("OMP_NUM_THREADS") : "default", device_name(device));
    Bench bench = {.task = &task, .un = &un, .ori = with_original ? &ori : NULL, .opt = &opt, .gs = &gs, .df = &hdf, .dr = &hdr,
                   .ft = &hft, .perm = perm, .mo = &mo, .device = device, .b = b,
                   .graphs = graphs != 0};
    for (int which = 0; which < 2; which++) {
        if (!strstr(steps, which == 0 ? "md" : "ft")) continue;
        start_phase(&bench, which);
        for (int it = -warm; it < iters; it++) {
            sync_device(device);
            double t0 = clock_seconds();
            double w0 = gs.wait_seconds;
            bench_step(&bench, which, (uint64_t)(it + warm));
            sync_device(device);
            if (it >= 0) times[it] = clock_seconds() - t0;
            if (it >= 0) waits[it] = gs.wait_seconds - w0;
        }
        /* The same number of steps, waited for once. */
        sync_device(device);
        double p0 = clock_seconds();
        for (int it = 0; it < iters; it++) bench_step(&bench, which, (uint64_t)(warm + iters + it));
        sync_device(device);
        double pipelined = (clock_seconds() - p0) / (iters > 0 ? iters : 1);
        qsort(times, (size_t)iters, sizeof *times, cmp_double);
        qsort(waits, (size_t)iters, sizeof *waits, cmp_double);
        double med = times[iters / 2];
        /* allreduce_wait_s: the gradient all-reduce left after backward (the part not overlapped) */
        printf("{\"mode\": \"%s\", \"step\": \"%s\", \"ranks\": %d, \"median_s\": %.6f, \"best_s\": %.6f, "
               "\"samples_per_s\": %.2f, \"allreduce_wait_s\": %.6f, \"peak_mem_GiB\": %.3f, "
               "\"param_copies\": %d, \"pipelined_s\": %.6f, \"graphs\": %d",
               mode, which == 0 ? "md" : "ft", comm_size(), med, times[0], 2.0 * b / med, waits[iters / 2],
               peak_device_gib(device), device != DEVICE_CPU && param_copies, pipelined, bench.graphs);
#ifdef HAVE_CUDA
        if (bench.graphs) {
            CudaGraphStats g = cuda_graph_stats(); /* totals so far, all kinds of step */
            printf(", \"graph_eager_steps\": %lld, \"graph_steps\": %lld, \"graph_updates\": %lld, \"graph_instantiations\": %lld, "
                   "\"graph_nodes\": %lld, \"graph_staged_MiB\": %.3f",
                   (long long)g.eager, (long long)g.steps, (long long)g.updated, (long long)g.instantiated, (long long)g.nodes,
                   g.staged_bytes / 1048576.0);
        }
        if (device != DEVICE_CPU) /* totals so far, all kinds of step */
            printf(", \"attention\": \"%s\", \"cudnn_attention_calls\": %lld", attention,
                   (long long)cuda_attention_cudnn_calls());
#endif
        printf("}\n");
        fflush(stdout);
        if (profile > 0 && device != DEVICE_CPU) profile_steps(&bench, which, 2, profile, mode);
    }
    task.free(&task);
    grad_sync_free(&gs);
    free(waits);
    free(times);
    free(perm);
    host_batch_free(&hdf);
    host_batch_free(&hdr);
    host_batch_free(&hft);
    adamw_free(&opt);
    albef_free(&un);
    if (bench.ori) albef_free(bench.ori);
    return 0;
}
