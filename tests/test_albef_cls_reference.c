/* ALBEF-VE, ALBEF-NLVR2 and their MultiDelete loss against PyTorch
 * (scripts/albef_reference.py writes tests/fixtures/albef_{ve,nlvr}_state.safetensors):
 * the forward pieces (image and text tokens, fused [CLS], logits), the
 * momentum logits, CE / distillation / total loss, every online gradient, the
 * momentum after the EMA; the classification MultiDelete (unlearn/multidelete_loss.h
 * through models/task_cls.h) terms and gradients; then the same step again,
 * bit for bit.
 *
 * Tolerances (|c - ref| <= atol + rtol·|ref|), as the retrieval reference
 * test: forward 1e-5 + 1e-5·|ref|, gradients 1e-5 + 1e-4·|ref|, momentum
 * 1e-7 + 1e-6·|ref|. The same checks run on the GPU in fp32 (skipped on a
 * machine without one). */
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "autograd/params_io.h"
#include "autograd/tape.h"
#include "core/device.h"
#include "core/error.h"
#include "core/json.h"
#include "core/safetensors.h"
#include "models/albef_cls.h"
#include "models/task_cls.h"
#include "tests/cuda_parity.h"
#include "tests/test.h"
#include "unlearn/multidelete_loss.h"

#define FWD_ATOL 1e-5
#define FWD_RTOL 1e-5
#define GRAD_ATOL 1e-5
#define GRAD_RTOL 1e-4
#define EMA_ATOL 1e-7
#define EMA_RTOL 1e-6

static Device ref_device = DEVICE_CPU;
static const char *const ONLINE[] = {"visual_encoder.", "text_encoder.", "cls_head.", NULL};
static const char *const MOMENTUM[] = {"visual_encoder_m.", "text_encoder_m.", "cls_head_m.", NULL};

/* The worst |got - ref| / (atol + rtol·|ref|) seen by match(), per run: the
 * report states the measured margins. */
static double worst_ratio;

typedef struct {
    SafetensorsFile f;
    char path[512];
} Fixture;

static int fixture_open(Fixture *x, const char *file) {
    snprintf(x->path, sizeof x->path, "%s/%s", test_fixture_dir(), file);
    return safetensors_open(&x->f, x->path);
}

static int load_prefixed(ParamSet *ps, const char *path, const char *const *heads, const char *file_prefix) {
    for (int k = 0; heads[k]; k++) {
        char fp[128];
        snprintf(fp, sizeof fp, "%s%s", file_prefix, heads[k]);
        ParamsLoadOptions opt = params_load_defaults();
        opt.file_prefix = fp;
        opt.param_prefix = heads[k];
        if (params_load(ps, path, opt, NULL)) return -1;
    }
    return 0;
}

static Tensor *read_tensor(const Fixture *x, const char *name, DType dt) {
    const StTensorInfo *t = safetensors_find(&x->f, name);
    CHECK(t != NULL, "fixture lacks %s", name);
    Tensor *out = tensor_new(dt, t->ndim, t->shape);
    int rc = dt == DTYPE_F32 ? safetensors_read_f32(&x->f, t, tensor_f32(out), t->numel)
                             : safetensors_read_i32(&x->f, t, tensor_i32(out), t->numel);
    CHECK(rc == 0, "%s", error_message());
    return tensor_on(out, ref_device);
}

/* θ from the fixture (online weights under `online_prefix` when not NULL), eval mode. */
static int fixture_model(const Fixture *x, AlbefCls *m, const char *online_prefix) {
    const char *cfg_text = safetensors_meta_get(&x->f, "config"), *task_name = safetensors_meta_get(&x->f, "task");
    CHECK(cfg_text && task_name, "fixture has no config or task");
    cJSON *root = json_parse_text(cfg_text, "fixture config");
    ModelConfig cfg;
    AlbefClsTask task;
    int rc = root ? model_config_from_json(&cfg, root, "fixture config") : -1;
    cJSON_Delete(root);
    if (rc || albef_cls_task_parse(task_name, &task)) return -1;
    albef_cls_init(m, &cfg, task, 7);
    if (load_prefixed(&m->params, x->path, ONLINE, online_prefix ? online_prefix : "") ||
        load_prefixed(&m->momentum, x->path, MOMENTUM, ""))
        return -1;
    albef_cls_set_mode(m, 0, 0); /* the reference has no dropout */
    if (ref_device != DEVICE_CPU) albef_cls_to_device(m, ref_device);
    return 0;
}

static int match(const Fixture *x, const char *name, const float *got, int64_t n, double atol, double rtol) {
    const StTensorInfo *t = safetensors_find(&x->f, name);
    if (!t) return error_set("fixture lacks %s", name);
    if (t->numel != n) return error_set("%s: %lld elements, reference has %lld", name, (long long)n, (long long)t->numel);
    float *ref = malloc((size_t)(n ? n : 1) * sizeof *ref);
    CHECK(ref && safetensors_read_f32(&x->f, t, ref, n) == 0, "%s", error_message());
    for (int64_t k = 0; k < n; k++) {
        double r = fabs((double)got[k] - ref[k]) / (atol + rtol * fabs(ref[k]));
        if (!(r <= worst_ratio)) worst_ratio = r;
    }
    long long bad = test_close_array(got, ref, n, atol, rtol);
    int rc = bad >= 0 ? error_set("%s[%lld]: %.9g vs reference %.9g", name, bad, got[bad], ref[bad]) : 0;
    free(ref);
    return rc;
}

static float *host_copy(const void *data, Device device, int64_t n) {
    float *h = malloc((size_t)(n ? n : 1) * sizeof *h);
    device_copy(h, DEVICE_CPU, data, device, (size_t)n * sizeof *h);
    return h;
}

static int match_t(const Fixture *x, const char *name, const Tensor *t, double atol, double rtol) {
    float *h = malloc((size_t)(tensor_numel(t) ? tensor_numel(t) : 1) * sizeof *h);
    tensor_copy_to_host(t, h);
    int rc = match(x, name, h, tensor_numel(t), atol, rtol);
    free(h);
    return rc;
}

static int match_set(const Fixture *x, const ParamSet *ps, const float *block, const char *prefix, double atol,
                     double rtol) {
    int rc = 0;
    for (int k = 0; rc == 0 && k < ps->count; k++) {
        char name[256];
        snprintf(name, sizeof name, "%s%s", prefix, ps->items[k]->name);
        rc = match(x, name, block + params_offset(ps, ps->items[k]), tensor_numel(ps->items[k]), atol, rtol);
    }
    return rc;
}

/* Batch `which` ("" training, "df_", "dr_") of the fixture. */
static AlbefClsBatch fixture_batch(const Fixture *x, const AlbefCls *m, const char *which) {
    char name[64];
    AlbefClsBatch b = {0};
    snprintf(name, sizeof name, "in.%simage0", which);
    b.image0 = read_tensor(x, name, DTYPE_F32);
    if (m->n_images == 2) {
        snprintf(name, sizeof name, "in.%simage1", which);
        b.image1 = read_tensor(x, name, DTYPE_F32);
    }
    snprintf(name, sizeof name, "in.%stext_ids", which);
    b.text_ids = read_tensor(x, name, DTYPE_I32);
    snprintf(name, sizeof name, "in.%stext_mask", which);
    b.text_mask = read_tensor(x, name, DTYPE_I32);
    if (!which[0]) b.labels = read_tensor(x, "in.labels", DTYPE_I32);
    return b;
}

typedef struct {
    float loss;
    float *grads, *momentum;
    int64_t n_grads, n_momentum;
} StepResult;

static void step_result_free(StepResult *r) {
    free(r->grads);
    free(r->momentum);
}

static int train_step(const Fixture *x, int check, StepResult *res) {
    AlbefCls m;
    if (fixture_model(x, &m, NULL)) return -1;
    AlbefClsBatch b = fixture_batch(x, &m, "");
    float alpha = (float)atof(safetensors_meta_get(&x->f, "alpha"));
    int rc = 0;
    if (check) { /* the pieces the metrics and MultiDelete read, before the EMA */
        int prev = autograd_set_enabled(0);
        AlbefClsOutput f = albef_cls_forward(&m, &b);
        autograd_set_enabled(prev);
        rc = match_t(x, "out.image_tokens0", f.image_tokens[0], FWD_ATOL, FWD_RTOL) ||
             (m.n_images == 2 && match_t(x, "out.image_tokens1", f.image_tokens[1], FWD_ATOL, FWD_RTOL)) ||
             match_t(x, "out.text_tokens", f.text_tokens, FWD_ATOL, FWD_RTOL) ||
             match_t(x, "out.fused_cls", f.fused_cls, FWD_ATOL, FWD_RTOL) ||
             match_t(x, "out.logits", f.logits, FWD_ATOL, FWD_RTOL);
    }
    AlbefClsLossOutput out;
    Tensor *loss = rc ? NULL : albef_cls_loss(&m, &b, alpha, &out);
    if (loss) {
        autograd_backward(loss);
        tensor_copy_to_host(loss, &res->loss);
        res->n_grads = m.params.total;
        res->n_momentum = m.momentum.total;
        res->grads = host_copy(m.params.grads, m.params.device, m.params.total);
        res->momentum = host_copy(m.momentum.values, m.momentum.device, m.momentum.total);
        if (check)
            rc = match_t(x, "out.momentum_logits", out.momentum_logits, FWD_ATOL, FWD_RTOL) ||
                 match_t(x, "out.loss_ce", out.ce, FWD_ATOL, FWD_RTOL) ||
                 match_t(x, "out.loss_distill", out.distill, FWD_ATOL, FWD_RTOL) ||
                 match_t(x, "out.loss", out.loss, FWD_ATOL, FWD_RTOL) ||
                 match_set(x, &m.params, res->grads, "grad.train.", GRAD_ATOL, GRAD_RTOL) ||
                 match_set(x, &m.momentum, res->momentum, "post.", EMA_ATOL, EMA_RTOL);
    }
    albef_cls_free(&m);
    autograd_step_end();
    return rc || !loss ? -1 : 0;
}

/* A TaskBatch over a fixture batch: NLVR2's images stacked into one [2n] block. */
static TaskBatch task_batch_of(const AlbefClsBatch *b) {
    Tensor *both = NULL;
    if (b->image1) {
        Tensor *halves[2] = {b->image0, b->image1};
        both = op_concat(halves, 2, 0);
    }
    return task_cls_batch(b, both);
}

/* The classification MultiDelete of unlearn/multidelete_loss.h through the
 * SNLI-VE / NLVR2 task (models/task_cls.h): θ = the fixture's weights, θ0 =
 * "original.*"; the default L_UKR (image tokens only) first, then with the
 * text term, whose gradients are checked. */
static int md_step(const Fixture *x, int check, StepResult *res) {
    AlbefCls theta, theta0;
    if (fixture_model(x, &theta, NULL) || fixture_model(x, &theta0, "original.")) return -1;
    AlbefClsBatch df = fixture_batch(x, &theta, "df_"), dr = fixture_batch(x, &theta, "dr_");
    TaskBatch tdf = task_batch_of(&df), tdr = task_batch_of(&dr);
    int32_t perm[16];
    CHECK(tdf.n <= 16 && safetensors_read_i32(&x->f, safetensors_find(&x->f, "in.perm"), perm, tdf.n) == 0, "perm");
    TaskModel un = task_cls_wrap(&theta), orig = task_cls_wrap(&theta0);
    MultiDeleteOptions opt = multidelete_default_options();
    MultiDeleteTerms terms;
    Task image_only, with_text;
    task_cls_init(&image_only, theta.task, &theta.cfg, NULL, NULL, NULL, NULL, 0);
    task_cls_init(&with_text, theta.task, &theta.cfg, NULL, NULL, NULL, NULL, 1);
    int rc = 0;
    if (check) { /* image-only L_UKR (the default) is the reference's image term */
        int prev = autograd_set_enabled(0);
        multidelete_loss(&image_only, &un, &orig, &tdf, &tdr, perm, &opt, &terms);
        autograd_set_enabled(prev);
        rc = match_t(x, "md.ukr_image", terms.ukr, FWD_ATOL, FWD_RTOL);
    }
    Tensor *l = multidelete_loss(&with_text, &un, &orig, &tdf, &tdr, perm, &opt, &terms);
    autograd_backward(l);
    if (rc == 0 && check) {
        float ref_image, ref_text, got;
        CHECK(safetensors_read_f32(&x->f, safetensors_find(&x->f, "md.ukr_image"), &ref_image, 1) == 0 &&
                  safetensors_read_f32(&x->f, safetensors_find(&x->f, "md.ukr_text"), &ref_text, 1) == 0,
              "md.ukr_*");
        tensor_copy_to_host(terms.ukr, &got);
        rc = match_t(x, "md.loss", terms.total, FWD_ATOL, FWD_RTOL) || match_t(x, "md.md", terms.md, FWD_ATOL, FWD_RTOL) ||
             match_t(x, "md.mkr", terms.mkr, FWD_ATOL, FWD_RTOL);
        if (rc == 0 && fabsf(got - (ref_image + ref_text)) > FWD_ATOL + FWD_RTOL * fabsf(ref_image + ref_text))
            rc = error_set("L_UKR with the text term %.9g, reference %.9g + %.9g", got, ref_image, ref_text);
    }
    tensor_copy_to_host(l, &res->loss);
    res->n_grads = theta.params.total;
    res->grads = host_copy(theta.params.grads, theta.params.device, theta.params.total);
    res->momentum = NULL;
    if (rc == 0 && check) rc = match_set(x, &theta.params, res->grads, "grad.md.", GRAD_ATOL, GRAD_RTOL);
    /* θ0 ran without a tape: no gradient may reach it. */
    float *g0 = host_copy(theta0.params.grads, theta0.params.device, theta0.params.total);
    for (int64_t k = 0; rc == 0 && k < theta0.params.total; k++)
        if (g0[k] != 0.0f) rc = error_set("the original model received a gradient");
    free(g0);
    image_only.free(&image_only);
    with_text.free(&with_text);
    albef_cls_free(&theta);
    albef_cls_free(&theta0);
    autograd_step_end();
    return rc ? -1 : 0;
}

/* Runs `step` twice: checked against PyTorch, then again bit for bit. */
static void check_twice(const char *file, int (*step)(const Fixture *, int, StepResult *)) {
    Fixture x;
    ASSERT_MSG(fixture_open(&x, file) == 0, "%s", error_message());
    StepResult r1 = {0}, r2 = {0};
    worst_ratio = 0.0;
    int rc = step(&x, 1, &r1);
    if (rc == 0) rc = step(&x, 0, &r2);
    safetensors_close(&x.f);
    ASSERT_MSG(rc == 0, "%s: %s", file, error_message());
    printf("    %s: worst |error| / tolerance %.3g\n", file, worst_ratio);
    ASSERT(memcmp(&r1.loss, &r2.loss, sizeof r1.loss) == 0);
    ASSERT(memcmp(r1.grads, r2.grads, (size_t)r1.n_grads * sizeof(float)) == 0);
    ASSERT(!r1.momentum || memcmp(r1.momentum, r2.momentum, (size_t)r1.n_momentum * sizeof(float)) == 0);
    step_result_free(&r1);
    step_result_free(&r2);
}

static void ve_train(void) { check_twice("albef_ve_state.safetensors", train_step); }
static void nlvr_train(void) { check_twice("albef_nlvr_state.safetensors", train_step); }
static void ve_md(void) { check_twice("albef_ve_state.safetensors", md_step); }
static void nlvr_md(void) { check_twice("albef_nlvr_state.safetensors", md_step); }

TEST(test_albef_ve_reference_train_step_matches_pytorch) { ve_train(); }
TEST(test_albef_nlvr_reference_train_step_matches_pytorch) { nlvr_train(); }
TEST(test_albef_ve_multidelete_reference_matches_pytorch) { ve_md(); }
TEST(test_albef_nlvr_multidelete_reference_matches_pytorch) { nlvr_md(); }

TEST(test_albef_cls_reference_on_gpu_fp32) {
#ifdef HAVE_CUDA
    if (!cuda_parity_ready()) return;
    ref_device = DEVICE_CUDA;
    ve_train();
    nlvr_train();
    ve_md();
    nlvr_md();
    ref_device = DEVICE_CPU;
#else
    cuda_parity_ready(); /* marks the test skipped with the reason */
#endif
}
