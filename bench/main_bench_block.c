/* bin/bench_block: one transformer block forward + backward at ViT-B / BERT-base
 * shapes on the CPU, timed; bench/block.bench.sh runs it side by side with
 * bench/block_torch.py (PyTorch, same shapes, same thread count).
 *
 * Cases (spec/albef_blip.md §1.1, §2.3):
 *   vit_block   x [1, 197, 768], 12 heads, MLP 3072, pre-norm (ViT-B/16 at 224 px)
 *   bert_cross  h [4, 35, 768] with cross-attention to enc [4, 577, 768] (an ALBEF
 *               fusion layer at 384 px, retrieval text length), dropout off
 * One iteration = zero grads, forward, backward with a fixed upstream gradient
 * (as torch's out.backward(g)), end of step. Prints "<case> <median ms> <min ms>". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/grad_check.h"
#include "autograd/tape.h"
#include "core/clock.h"
#include "nn/attention.h"
#include "nn/transformer.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    const char *name;
    int is_vit;
    int64_t batch, tokens, enc_tokens;
} Case;

static void run_case(const Case *c, int warmup, int iters) {
    const int D = 768, H = 12, HIDDEN = 3072;
    ParamSet ps;
    params_init(&ps);
    VitBlock vit;
    BertLayer bert;
    if (c->is_vit) vit_block_declare(&vit, &ps, "block", D, H, HIDDEN, 1e-6f);
    else bert_layer_declare(&bert, &ps, "layer", D, H, HIDDEN, 1, D, 1e-12f);
    params_finalize(&ps);
    params_initialize(&ps, 1);
    const int64_t n_out = c->batch * c->tokens * D;
    float *x_host = malloc((size_t)n_out * sizeof(float)), *g_host = malloc((size_t)n_out * sizeof(float));
    float *enc_host = NULL;
    {
        Tensor *x = tensor_random_uniform(SHAPE(c->batch, c->tokens, D), -1.0f, 1.0f, 1);
        Tensor *g = tensor_random_uniform(SHAPE(c->batch, c->tokens, D), -1.0f, 1.0f, 2);
        memcpy(x_host, x->data, (size_t)n_out * sizeof(float));
        memcpy(g_host, g->data, (size_t)n_out * sizeof(float));
        if (!c->is_vit) {
            int64_t ne = c->batch * c->enc_tokens * D;
            enc_host = malloc((size_t)ne * sizeof(float));
            Tensor *e = tensor_random_uniform(SHAPE(c->batch, c->enc_tokens, D), -1.0f, 1.0f, 3);
            memcpy(enc_host, e->data, (size_t)ne * sizeof(float));
        }
        autograd_step_end();
    }
    double *times = malloc((size_t)iters * sizeof(double));
    for (int it = -warmup; it < iters; it++) {
        double t0 = (1e3 * clock_seconds());
        params_zero_grad(&ps);
        /* The inputs need gradients too, as in a stack of blocks. */
        Tensor *x = tensor_wrap(DTYPE_F32, SHAPE(c->batch, c->tokens, D), x_host);
        x->requires_grad = 1;
        Tensor *out;
        if (c->is_vit) {
            out = vit_block_forward(&vit, x);
        } else {
            Tensor *enc = tensor_wrap(DTYPE_F32, SHAPE(c->batch, c->enc_tokens, D), enc_host);
            enc->requires_grad = 1;
            out = bert_layer_forward(&bert, x, NULL, enc, NULL, NULL);
        }
        autograd_backward_with(out, g_host);
        autograd_step_end();
        double t1 = (1e3 * clock_seconds());
        if (it >= 0) times[it] = t1 - t0;
    }
    qsort(times, (size_t)iters, sizeof *times, cmp_double);
    printf("%s %.2f %.2f\n", c->name, times[iters / 2], times[0]);
    fflush(stdout);
    free(times);
    free(x_host);
    free(g_host);
    free(enc_host);
    params_free(&ps);
}

int main(int argc, char **argv) {
    int iters = 10, warmup = 2;
    const char *only = NULL;
    for (int k = 1; k < argc; k++) {
        if (strcmp(argv[k], "--iters") == 0 && k + 1 < argc) iters = atoi(argv[++k]);
        else if (strcmp(argv[k], "--warmup") == 0 && k + 1 < argc) warmup = atoi(argv[++k]);
        else if (strcmp(argv[k], "--case") == 0 && k + 1 < argc) only = argv[++k];
        else {
            fprintf(stderr,
                    "usage: bench_block [--iters N (10)] [--warmup N (2)] [--case vit_block|bert_cross (both)]\n"
                    "prints: <case> <median ms> <min ms> for forward+backward of one block\n");
            return strcmp(argv[k], "--help") == 0 ? 0 : 2;
        }
    }
    if (iters < 1) iters = 1;
    const Case cases[] = {
        {"vit_block", 1, 1, 197, 0},
        {"bert_cross", 0, 4, 35, 577},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        if (!only || strcmp(only, cases[k].name) == 0) run_case(&cases[k], warmup, iters);
    return 0;
}
