/* bin/bench_nlvr_md: one MultiDelete step of a tiny ALBEF-NLVR2 (two images
 * per item; spec/unlearning_methods.md §5.2 classification: the frozen
 * original without a tape on Df, Dr and Df with permuted sentences, the
 * unlearned model on Df and Dr, L_MD + L_MKR + L_UKR, backward, AdamW), timed
 * at the sizes of bench/nlvr_md_torch.py, whose flags it takes, so that
 * bench/nlvr_md.bench.sh runs both side by side. Random weights and inputs:
 * images N(0,1), token ids uniform, the last 5 positions padding; no dropout
 * and no momentum distillation (the PyTorch side has neither). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/tape.h"
#include "core/cli.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/rng.h"
#include "models/albef_cls.h"
#include "models/task_cls.h"
#include "nn/optim.h"
#include "unlearn/multidelete_loss.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A batch of n items in host memory: two images, ids, mask. */
typedef struct {
    float *images[2];
    int32_t *ids, *mask;
    int n, S, L;
} HostBatch;

static HostBatch host_batch(int n, int S, int L, int vocab, uint64_t stream) {
    HostBatch h = {.n = n, .S = S, .L = L};
    Rng r = rng_make(7, stream);
    const int64_t per = (int64_t)n * 3 * S * S;
    h.images[0] = malloc((size_t)(2 * per) * sizeof(float)); /* left images, then right: one block */
    CHECK(h.images[0], "out of memory");
    h.images[1] = h.images[0] + per;
    for (int64_t e = 0; e < 2 * per; e++) h.images[0][e] = rng_normal(&r);
    h.ids = malloc((size_t)n * L * sizeof(int32_t));
    h.mask = malloc((size_t)n * L * sizeof(int32_t));
    CHECK(h.ids && h.mask, "out of memory");
    for (int i = 0; i < n * L; i++) {
        h.ids[i] = (int32_t)rng_below(&r, (uint64_t)vocab);
        h.mask[i] = i % L < L - 5;
    }
    return h;
}

static void host_batch_free(HostBatch *h) {
    free(h->images[0]);
    free(h->ids);
    free(h->mask);
}

/* Tensor records over the host arrays (the arena drops records each step):
 * the task's batch, both images as one [2n] block. */
static TaskBatch to_tensors(const HostBatch *h) {
    AlbefClsBatch b = {0};
    b.image0 = tensor_wrap(DTYPE_F32, SHAPE(h->n, 3, h->S, h->S), h->images[0]);
    b.image1 = tensor_wrap(DTYPE_F32, SHAPE(h->n, 3, h->S, h->S), h->images[1]);
    b.text_ids = tensor_wrap(DTYPE_I32, SHAPE(h->n, h->L), h->ids);
    b.text_mask = tensor_wrap(DTYPE_I32, SHAPE(h->n, h->L), h->mask);
    return task_cls_batch(&b, tensor_wrap(DTYPE_F32, SHAPE(2 * h->n, 3, h->S, h->S), h->images[0]));
}

int main(int argc, char **argv) {
    int img, txt, b, d, heads, vit_depth, text_layers, fusion_layers, vocab, iters, warm;
    CliFlag flags[] = {
        CLI_FLAG_INT("img", &img, "64", "image side (patch 16)"),
        CLI_FLAG_INT("txt", &txt, "24", "text length (last 5 positions padding)"),
        CLI_FLAG_INT("b", &b, "8", "Df and Dr items each (two images per item)"),
        CLI_FLAG_INT("d", &d, "64", "width of the ViT and BERT"),
        CLI_FLAG_INT("heads", &heads, "2", "attention heads"),
        CLI_FLAG_INT("vit-depth", &vit_depth, "2", "ViT blocks"),
        CLI_FLAG_INT("text-layers", &text_layers, "2", "BERT text-only layers"),
        CLI_FLAG_INT("fusion-layers", &fusion_layers, "4", "fusion layers (pairs share cross key/value)"),
        CLI_FLAG_INT("vocab", &vocab, "293", "vocabulary size"),
        CLI_FLAG_INT("iters", &iters, "10", "timed steps (median reported)"),
        CLI_FLAG_INT("warm", &warm, "3", "untimed warm-up steps"),
    };
    CliSpec spec = {"bench_nlvr_md", "Times a tiny ALBEF-NLVR2 MultiDelete step at bench/nlvr_md_torch.py's sizes.",
                    flags, CLI_COUNT(flags)};
    int rc = cli_parse(&spec, argc, argv);
    if (rc == 1) return 0;
    error_exit_if(rc);
    ModelConfig cfg = {
        .image_size = img, .patch_size = 16, .vision_width = d, .vision_depth = vit_depth, .vision_heads = heads,
        .vision_mlp_hidden = 4 * d, .vision_ln_eps = 1e-6f, .vocab_size = vocab, .text_width = d,
        .text_heads = heads, .text_ffn_hidden = 4 * d, .text_layers = text_layers + fusion_layers,
        .fusion_layer = text_layers, .max_position_embeddings = 64, .max_text_len = txt, .max_text_len_eval = txt,
        .text_ln_eps = 1e-12f, .text_dropout = 0.0f, .embed_dim = 256, .temp_init = 0.07f, .temp_min = 0.001f,
        .temp_max = 0.5f, .momentum_distill = 0, .momentum = 0.995f, .alpha = 0.4f, .alpha_ramp_epochs = 0,
        .queue_size = 0,
    };
    snprintf(cfg.name, sizeof cfg.name, "bench-nlvr");
    error_exit_if(model_config_validate(&cfg, "bench_nlvr_md flags"));
    AlbefCls un, ori;
    albef_cls_init(&un, &cfg, ALBEF_TASK_NLVR2, 1);
    albef_cls_init(&ori, &cfg, ALBEF_TASK_NLVR2, 1);
    albef_cls_set_mode(&un, 1, 1);
    albef_cls_set_mode(&ori, 0, 1);
    AdamW opt;
    adamw_init(&opt, &un.params, 0.9f, 0.999f, 1e-8f, 0.02f);
    HostBatch hdf = host_batch(b, img, txt, vocab, 1), hdr = host_batch(b, img, txt, vocab, 2);
    MultiDeleteOptions mo = multidelete_default_options();
    Task task;
    task_cls_init(&task, ALBEF_TASK_NLVR2, &cfg, NULL, NULL, NULL, NULL, 0);
    TaskModel tun = task_cls_wrap(&un), tori = task_cls_wrap(&ori);
    int32_t *perm = malloc((size_t)b * sizeof *perm);
    double *times = malloc((size_t)(iters > 0 ? iters : 1) * sizeof *times);
    CHECK(perm && times, "out of memory");
    for (int it = -warm; it < iters; it++) {
        Rng r = rng_make(3, (uint64_t)(it + warm));
        int64_t order[256];
        CHECK(b <= 256, "--b at most 256");
        for (int i = 0; i < b; i++) order[i] = i;
        rng_shuffle_i64(&r, order, b);
        for (int i = 0; i < b; i++) perm[i] = (int32_t)order[i];
        double t0 = clock_seconds();
        TaskBatch df = to_tensors(&hdf), dr = to_tensors(&hdr);
        MultiDeleteTerms terms;
        Tensor *loss = multidelete_loss(&task, &tun, &tori, &df, &dr, perm, &mo, &terms);
        autograd_backward(loss);
        adamw_step(&opt, 1e-5f);
        params_zero_grad(&un.params);
        autograd_step_end();
        if (it >= 0) times[it] = clock_seconds() - t0;
    }
    qsort(times, (size_t)iters, sizeof *times, cmp_double);
    printf("{\"step\": \"nlvr_md\", \"median_s\": %.6f, \"best_s\": %.6f, \"params_M\": %.6f, \"threads\": \"%s\"}\n",
           times[iters / 2], times[0], (double)un.params.total / 1e6,
           getenv("OMP_NUM_THREADS") ? getenv("OMP_NUM_THREADS") : "default");
    free(times);
    free(perm);
    host_batch_free(&hdf);
    host_batch_free(&hdr);
    adamw_free(&opt);
    task.free(&task);
    albef_cls_free(&un);
    albef_cls_free(&ori);
    return 0;
}
