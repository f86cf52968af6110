/* bin/bench_pgr: one training step of the tiny PGR graph-text model
 * (models/configs/pgr-tiny.json: GCN over a batch of enclosing subgraphs +
 * 2-layer BERT + fusion FFN + classifier) on the CPU, timed;
 * bench/pgr.bench.sh runs it side by side with bench/pgr_torch.py (PyTorch,
 * torch.sparse aggregation, the same sizes and thread count).
 *
 * The batch has the real corpus's average sizes (data/pgr_corpus/README.md):
 * B = 32 samples, L = 64 tokens each, subgraphs of 28 nodes and 29 edges
 * (13 neighbours on each target and 3 edges among them), 4 name pieces a
 * node, vocabulary 8000. One step = zero grads, forward, cross-entropy,
 * backward, AdamW; dropout off. Prints "step <median ms> <min ms>". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/cli.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/rng.h"
#include "models/pgr_model.h"
#include "nn/optim.h"

#define B 32
#define L 64
#define NODES 28
#define NAME 4

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The fixed synthetic batch: sample b's nodes are global b·NODES + k. */
static void synthetic_samples(PgrSamples *s, PgrSubgraph *graphs, int32_t *names, int32_t *counts, int vocab) {
    Rng r = rng_make(7, 1);
    s->n = B;
    s->ids = malloc(B * L * sizeof *s->ids);
    s->mask = malloc(B * L * sizeof *s->mask);
    s->label = malloc(B * sizeof *s->label);
    s->graph = graphs;
    for (int b = 0; b < B; b++) {
        for (int j = 0; j < L; j++) s->ids[b * L + j] = 5 + (int32_t)rng_below(&r, (uint64_t)vocab - 5), s->mask[b * L + j] = 1;
        s->label[b] = b % 3 == 0;
        PgrSubgraph *g = &graphs[b];
        g->n_nodes = NODES;
        g->nodes = malloc(NODES * sizeof *g->nodes);
        for (int k = 0; k < NODES; k++) g->nodes[k] = b * NODES + k;
        g->src = malloc(32 * sizeof *g->src);
        g->dst = malloc(32 * sizeof *g->dst);
        int e = 0;
        for (int k = 2; k < 15; k++) g->src[e] = 0, g->dst[e++] = k;
        for (int k = 15; k < NODES; k++) g->src[e] = 1, g->dst[e++] = k;
        for (int k = 0; k < 3; k++) g->src[e] = 2 + k, g->dst[e++] = 15 + k;
        g->n_edges = e;
    }
    for (int k = 0; k < B * NODES; k++) {
        counts[k] = NAME;
        for (int q = 0; q < NAME; q++) names[k * NAME + q] = 5 + (int32_t)rng_below(&r, (uint64_t)vocab - 5);
    }
}

int main(int argc, char **argv) {
    int iters, warmup;
    const char *config;
    CliFlag flags[] = {
        CLI_FLAG_INT("iters", &iters, "10", "timed steps"),
        CLI_FLAG_INT("warmup", &warmup, "3", "untimed steps first"),
        CLI_FLAG_STRING("config", &config, "models/configs/pgr-tiny.json", "model config"),
    };
    CliSpec spec = {"bench_pgr", "Times one training step of the tiny PGR model.", flags, CLI_COUNT(flags)};
    int rc = cli_parse(&spec, argc, argv);
    if (rc == 1) return 0;
    error_exit_if(rc);
    PgrConfig cfg;
    error_exit_if(pgr_config_load(&cfg, config));
    cfg.text_dropout = 0;
    PgrSamples s = {0};
    PgrSubgraph graphs[B];
    int32_t *names = malloc(B * NODES * NAME * sizeof *names), *counts = malloc(B * NODES * sizeof *counts);
    synthetic_samples(&s, graphs, names, counts, cfg.vocab_size);
    int64_t idx[B];
    for (int b = 0; b < B; b++) idx[b] = b;
    PgrBatch batch;
    pgr_batch_build(&batch, &s, idx, B, L, names, counts, NAME);

    ParamSet ps;
    params_init(&ps);
    PgrModel m;
    pgr_model_declare(&m, &ps, &cfg, B * NODES);
    params_finalize(&ps);
    params_initialize(&ps, 1);
    AdamW opt;
    adamw_init(&opt, &ps, 0.9f, 0.999f, 1e-8f, 1e-4f);
    double *times = malloc((size_t)iters * sizeof *times);
    for (int it = -warmup; it < iters; it++) {
        double t0 = clock_seconds();
        params_zero_grad(&ps);
        PgrInputs in = pgr_inputs(&batch, DEVICE_CPU);
        Tensor *ug = pgr_model_graph(&m, &in), *ut = pgr_model_text(&m, &in, NULL);
        Tensor *logits = pgr_model_classify(&m, ug, ut, pgr_model_fuse(&m, ug, ut));
        autograd_backward(op_cross_entropy(logits, in.labels));
        adamw_step(&opt, 1e-4f);
        autograd_step_end();
        if (it >= 0) times[it] = 1e3 * (clock_seconds() - t0);
    }
    qsort(times, (size_t)iters, sizeof *times, cmp_double);
    printf("step %.2f %.2f\n", times[iters / 2], times[0]);
    free(times);
    adamw_free(&opt);
    pgr_batch_free(&batch);
    pgr_model_free(&m);
    params_free(&ps);
    for (int b = 0; b < B; b++) pgr_subgraph_free(&graphs[b]);
    free(s.ids);
    free(s.mask);
    free(s.label);
    free(names);
    free(counts);
    return 0;
}
