/* The graph-text model of the PGR task against PyTorch (scripts/pgr_reference.py
 * writes the fixture): u_G, u_T, z, logits and the task loss on a batch of
 * three enclosing subgraphs, every parameter gradient of the task loss, the
 * graph-text MultiDelete loss (spec/unlearning_methods.md §5.2), its three
 * terms and every gradient; then the same step again, bit for bit.
 *
 * Tolerances (|c - ref| <= atol + rtol·|ref|): forward and losses 1e-5 +
 * 1e-5·|ref|, gradients 1e-5 + 1e-4·|ref|, as the ALBEF reference (the same
 * fp32 arithmetic, other summation orders). The worst errors are printed.
 * The GPU variant runs the same checks in fp32 (under the CUDA kernel
 * emulator when built into it; skipped on a machine without a GPU). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "autograd/params_io.h"
#include "autograd/tape.h"
#include "core/device.h"
#include "core/error.h"
#include "core/json.h"
#include "core/safetensors.h"
#include "models/task_pgr.h"
#include "tests/cuda_parity.h"
#include "tests/test.h"
#ifdef HAVE_CUDA
#include "cuda/backend.h"
#endif
#include "unlearn/multidelete_loss.h"

#define FWD_ATOL 1e-5
#define FWD_RTOL 1e-5
#define GRAD_ATOL 1e-5
#define GRAD_RTOL 1e-4
#define MAX_SAMPLES 8

static Device ref_device = DEVICE_CPU;
static char fixture_path[512];
/* Worst |c - ref| / (atol + rtol·|ref|) seen, forward and gradients (1 = at
 * the tolerance), and the worst |c - ref| itself. */
static double worst_fwd, worst_grad, abs_fwd, abs_grad;

static float *read_f32(const SafetensorsFile *f, const char *name, int64_t *n) {
    const StTensorInfo *t = safetensors_find(f, name);
    CHECK(t != NULL, "fixture lacks %s", name);
    float *v = malloc((size_t)(t->numel ? t->numel : 1) * sizeof(float));
    CHECK(v && safetensors_read_f32(f, t, v, t->numel) == 0, "%s", error_message());
    if (n) *n = t->numel;
    return v;
}

static int32_t *read_i32(const SafetensorsFile *f, const char *name, int64_t *n) {
    const StTensorInfo *t = safetensors_find(f, name);
    CHECK(t != NULL, "fixture lacks %s", name);
    int32_t *v = malloc((size_t)(t->numel ? t->numel : 1) * sizeof(int32_t));
    CHECK(v && safetensors_read_i32(f, t, v, t->numel) == 0, "%s", error_message());
    if (n) *n = t->numel;
    return v;
}

static int match(const SafetensorsFile *f, const char *name, const float *got, int64_t n, double atol, double rtol,
                 double *worst, double *worst_abs) {
    int64_t ref_n;
    float *ref = read_f32(f, name, &ref_n);
    int rc = 0;
    if (ref_n != n) {
        rc = error_set("%s: %lld elements, reference has %lld", name, (long long)n, (long long)ref_n);
    } else {
        for (int64_t k = 0; k < n; k++) {
            double e = fabs((double)got[k] - ref[k]), r = e / (atol + rtol * fabs(ref[k]));
            if (!(r <= *worst)) *worst = r;
            if (!(e <= *worst_abs)) *worst_abs = e;
        }
        long long bad = test_close_array(got, ref, n, atol, rtol);
        if (bad >= 0) rc = error_set("%s[%lld]: %.9g vs reference %.9g", name, bad, got[bad], ref[bad]);
    }
    free(ref);
    return rc;
}

static int match_t(const SafetensorsFile *f, const char *name, const Tensor *t) {
    int64_t n = tensor_numel(t);
    float *h = malloc((size_t)(n ? n : 1) * sizeof *h);
    tensor_copy_to_host(t, h);
    int rc = match(f, name, h, n, FWD_ATOL, FWD_RTOL, &worst_fwd, &abs_fwd);
    free(h);
    return rc;
}

static int match_grads(const SafetensorsFile *f, const ParamSet *ps, const char *prefix) {
    float *grads = malloc((size_t)ps->total * sizeof *grads);
    device_copy(grads, DEVICE_CPU, ps->grads, ps->device, (size_t)ps->total * sizeof *grads);
    int rc = 0;
    for (int k = 0; rc == 0 && k < ps->count; k++) {
        char name[256];
        snprintf(name, sizeof name, "%s%s", prefix, ps->items[k]->name);
        rc = match(f, name, grads + params_offset(ps, ps->items[k]), tensor_numel(ps->items[k]), GRAD_ATOL, GRAD_RTOL,
                   &worst_grad, &abs_grad);
    }
    free(grads);
    return rc;
}

/* The fixture as a PGR task (models/task_pgr.h): its samples are the
 * training split of a corpus that holds nothing else, θ and θ0 are task
 * models with the fixture's weights. */
typedef struct {
    SafetensorsFile file;
    PgrCorpus corpus;
    PgrSubgraph graphs[MAX_SAMPLES];
    PgrTaskData data;
    Task task;
    TaskModel model, original;
    int32_t *perm;
} Fixture;

static void model_from(Fixture *fx, TaskModel *m, const char *file_prefix) {
    CHECK(fx->task.model_init(&fx->task, m, 1) == 0, "%s", error_message());
    ParamsLoadOptions opt = params_load_defaults();
    opt.file_prefix = file_prefix;
    CHECK(params_load(m->params, fixture_path, opt, NULL) == 0, "fixture model: %s", error_message());
    if (ref_device != DEVICE_CPU) fx->task.model_to_device(&fx->task, m, ref_device);
}

static void fixture_open(Fixture *fx) {
    memset(fx, 0, sizeof *fx);
    snprintf(fixture_path, sizeof fixture_path, "%s/pgr_tiny_state.safetensors", test_fixture_dir());
    CHECK(safetensors_open(&fx->file, fixture_path) == 0, "%s", error_message());
    cJSON *cfg = json_parse_text(safetensors_meta_get(&fx->file, "config"), "fixture config");
    CHECK(cfg && pgr_config_from_json(&fx->data.cfg, cfg, "fixture config") == 0, "%s", error_message());
    cJSON_Delete(cfg);
    PgrCorpus *c = &fx->corpus;
    c->opt.max_len = fx->data.cfg.max_text_len;
    c->opt.name_len = atoi(safetensors_meta_get(&fx->file, "name_len"));
    c->graph.n_nodes = atoll(safetensors_meta_get(&fx->file, "n_graph_nodes"));
    c->node_tokens = read_i32(&fx->file, "in.name_tokens", NULL);
    c->node_token_count = read_i32(&fx->file, "in.name_counts", NULL);
    int64_t n = atoll(safetensors_meta_get(&fx->file, "n_samples"));
    CHECK(n <= MAX_SAMPLES, "fixture has %lld samples", (long long)n);
    PgrSamples *s = &c->split[PGR_SPLIT_TRAIN];
    s->n = n;
    s->ids = read_i32(&fx->file, "in.ids", NULL);
    s->mask = read_i32(&fx->file, "in.mask", NULL);
    s->label = read_i32(&fx->file, "in.labels", NULL);
    s->graph = fx->graphs;
    for (int64_t i = 0; i < n; i++) {
        char name[64];
        PgrSubgraph *g = &fx->graphs[i];
        snprintf(name, sizeof name, "in.sample%lld.nodes", (long long)i);
        g->nodes = read_i32(&fx->file, name, &g->n_nodes);
        snprintf(name, sizeof name, "in.sample%lld.edges", (long long)i);
        int64_t ne;
        int32_t *e = read_i32(&fx->file, name, &ne);
        g->n_edges = ne / 2;
        g->src = malloc((size_t)(g->n_edges + 1) * sizeof *g->src);
        g->dst = malloc((size_t)(g->n_edges + 1) * sizeof *g->dst);
        for (int64_t k = 0; k < g->n_edges; k++) g->src[k] = e[2 * k], g->dst[k] = e[2 * k + 1];
        free(e);
    }
    fx->perm = read_i32(&fx->file, "in.perm", NULL);
    fx->data.corpus = c;
    fx->data.bert_cfg = pgr_config_bert(&fx->data.cfg);
    fx->data.device = ref_device;
    task_pgr_init(&fx->task, &fx->data);
    model_from(fx, &fx->model, "model.");
    model_from(fx, &fx->original, "original.");
}

static void fixture_close(Fixture *fx) {
    PgrSamples *s = &fx->corpus.split[PGR_SPLIT_TRAIN];
    for (int64_t i = 0; i < s->n; i++) pgr_subgraph_free(&fx->graphs[i]);
    free(s->ids);
    free(s->mask);
    free(s->label);
    free(fx->corpus.node_tokens);
    free(fx->corpus.node_token_count);
    free(fx->perm);
    fx->task.model_free(&fx->task, &fx->model);
    fx->task.model_free(&fx->task, &fx->original);
    fx->task.free(&fx->task);
    safetensors_close(&fx->file);
}

static int64_t DF[3] = {0, 1, 2}, DR[2] = {3, 4};

static float *host_grads(const ParamSet *ps) {
    float *g = malloc((size_t)ps->total * sizeof *g);
    device_copy(g, DEVICE_CPU, ps->grads, ps->device, (size_t)ps->total * sizeof *g);
    return g;
}

/* The task step on Df's samples through the task interface; check: compare
 * with the fixture (-1 with error_message naming the first mismatch). Gives
 * the loss and (caller frees) a host copy of the gradients. */
static int task_step(Fixture *fx, int check, float *loss_value, float **grads) {
    int rc = 0;
    const Task *t = &fx->task;
    TaskBatch b;
    CHECK(t->batch_make(t, DF, 3, 0, 0, 0, &b) == 0, "%s", error_message());
    params_zero_grad(fx->model.params);
    TaskSides s = t->sides(t, &fx->model, &b);
    Tensor *z = t->fused(t, &fx->model, &b, &s);
    TaskLossOptions lo = {.want_accuracy = 1};
    TaskLossOutput out;
    Tensor *loss = t->loss(t, &fx->model, &b, &lo, &out);
    autograd_backward(loss);
    tensor_copy_to_host(loss, loss_value);
    if (check) {
        if (rc == 0) rc = match_t(&fx->file, "out.u_g", s.image_feat);
        if (rc == 0) rc = match_t(&fx->file, "out.u_t", s.text_feat);
        if (rc == 0) rc = match_t(&fx->file, "out.z", z);
        if (rc == 0) rc = match_t(&fx->file, "out.loss", loss);
        if (rc == 0) rc = match_grads(&fx->file, fx->model.params, "grad.train.");
    }
    *grads = host_grads(fx->model.params);
    autograd_step_end();
    if (check && rc == 0) { /* item_probs: the softmax of the reference logits, in eval mode */
        float probs[6];
        int64_t n;
        float *logits = read_f32(&fx->file, "out.logits", &n);
        CHECK(t->item_probs(t, &fx->model, TASK_SPLIT_TRAIN, DF, 3, 2, probs) == 0, "%s", error_message());
        for (int k = 0; k < 3 && rc == 0; k++) {
            double p1 = 1.0 / (1.0 + exp((double)logits[2 * k] - logits[2 * k + 1]));
            if (!(fabs(probs[2 * k + 1] - p1) <= FWD_ATOL && fabs(probs[2 * k] - (1.0 - p1)) <= FWD_ATOL))
                rc = error_set("item_probs[%d] = (%g, %g), softmax of the reference logits (%g, %g)", k,
                               probs[2 * k], probs[2 * k + 1], 1.0 - p1, p1);
        }
        free(logits);
    }
    return rc;
}

/* MultiDelete on graph-text (spec §5.2) through the method's own loss
 * (unlearn/multidelete_loss.h) over the task: θ0 frozen, no tape; the
 * mismatched pairs (G_i, T_π(i)) take θ0's text embedding of sample π(i). */
static int md_step(Fixture *fx, int check, float *loss_value, float **grads) {
    int rc = 0;
    const Task *t = &fx->task;
    TaskBatch df, dr;
    CHECK(t->batch_make(t, DF, 3, 0, 0, 0, &df) == 0 && t->batch_make(t, DR, 2, 0, 0, 0, &dr) == 0, "%s",
          error_message());
    params_zero_grad(fx->model.params);
    MultiDeleteOptions opt = multidelete_default_options();
    MultiDeleteTerms terms;
    Tensor *loss = multidelete_loss(t, &fx->model, &fx->original, &df, &dr, fx->perm, &opt, &terms);
    autograd_backward(loss);
    tensor_copy_to_host(loss, loss_value);
    if (check) {
        if (rc == 0) rc = match_t(&fx->file, "md.md", terms.md);
        if (rc == 0) rc = match_t(&fx->file, "md.mkr", terms.mkr);
        if (rc == 0) rc = match_t(&fx->file, "md.ukr", terms.ukr);
        if (rc == 0) rc = match_t(&fx->file, "md.loss", loss);
        if (rc == 0) rc = match_grads(&fx->file, fx->model.params, "grad.md.");
    }
    *grads = host_grads(fx->model.params);
    autograd_step_end();
    return rc;
}

static void check_step(int (*step)(Fixture *, int, float *, float **), const char *what) {
    Fixture fx;
    fixture_open(&fx);
    worst_fwd = worst_grad = abs_fwd = abs_grad = 0;
    float *g1, *g2, l1, l2;
    int rc = step(&fx, 1, &l1, &g1);
    ASSERT_MSG(rc == 0, "%s: %s", what, error_message());
    step(&fx, 0, &l2, &g2);
    ASSERT_MSG(memcmp(&l1, &l2, sizeof l1) == 0, "%s: repeated step changed the loss", what);
    ASSERT_MSG(memcmp(g1, g2, (size_t)fx.model.params->total * sizeof *g1) == 0, "%s: repeated step changed a gradient", what);
    printf("  %s on %s: worst |error| forward %.2e, gradients %.2e; worst error / tolerance %.3f, %.3f\n", what,
           ref_device == DEVICE_CPU ? "cpu" : "cuda", abs_fwd, abs_grad, worst_fwd, worst_grad);
    free(g1);
    free(g2);
    fixture_close(&fx);
}

TEST(test_pgr_reference_task_step_matches_pytorch) { check_step(task_step, "pgr task step"); }
TEST(test_pgr_reference_multidelete_matches_pytorch) { check_step(md_step, "pgr multidelete"); }

static void on_gpu(int (*step)(Fixture *, int, float *, float **), const char *what) {
#ifdef HAVE_CUDA
    if (!cuda_parity_ready()) return;
    cuda_set_precision(PRECISION_FP32);
    ref_device = DEVICE_CUDA;
    check_step(step, what);
    ref_device = DEVICE_CPU;
#else
    (void)step;
    (void)what;
    cuda_parity_ready(); /* marks the test skipped with the reason */
#endif
}

TEST(test_pgr_reference_task_step_on_gpu_fp32) { on_gpu(task_step, "pgr task step"); }
TEST(test_pgr_reference_multidelete_on_gpu_fp32) { on_gpu(md_step, "pgr multidelete"); }
