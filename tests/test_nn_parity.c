/* PyTorch parity of the nn/ layers and optimizers (STYLE.md: "a parity test
 * against PyTorch is the backbone of correctness").
 *
 * tests/fixtures/nn_reference.safetensors comes from
 * scripts/make_nn_fixtures.py (torch 1.13): fixed weights and inputs, the
 * outputs, loss = Σ out ⊙ R and every parameter and input gradient, for one
 * ViT block and one BERT layer with cross-attention, plus two AdamW and two
 * SGD-momentum steps. Each test loads the weights by checkpoint name, runs
 * forward and backward, compares everything, then runs again and demands a
 * bitwise-identical result (determinism).
 *
 * Tolerances: forward 1e-5 abs + 1e-5 rel (the same float math in a different
 * summation order); gradients 1e-4 abs + 1e-4 rel; optimizer steps 1e-6 abs +
 * 1e-5 rel. */
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/error.h"
#include "core/safetensors.h"
#include "nn/attention.h"
#include "nn/optim.h"
#include "nn/transformer.h"
#include "tests/test.h"

#define FWD_TOL 1e-5
#define GRAD_TOL 1e-4

static int open_fixture(SafetensorsFile *f) {
    char path[512];
    snprintf(path, sizeof path, "%s/nn_reference.safetensors", test_fixture_dir());
    return safetensors_open(f, path);
}

/* Copies fixture tensor `name` into dst (numel elements, shape checked). */
static int load_into(const SafetensorsFile *f, const char *name, float *dst, int ndim, const int64_t *shape) {
    const StTensorInfo *t = safetensors_find(f, name);
    if (!t) return error_set("fixture has no tensor %s", name);
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    if (t->ndim != ndim || t->numel != n) return error_set("fixture %s: shape differs from the model's", name);
    for (int d = 0; d < ndim; d++)
        if (t->shape[d] != shape[d]) return error_set("fixture %s: dim %d is %lld, want %lld", name, d,
                                                      (long long)t->shape[d], (long long)shape[d]);
    return safetensors_read_f32(f, t, dst, n);
}

/* A new arena tensor holding the fixture tensor `name`. */
static Tensor *load_tensor(const SafetensorsFile *f, const char *name, int requires_grad) {
    const StTensorInfo *t = safetensors_find(f, name);
    if (!t) {
        error_set("fixture has no tensor %s", name);
        return NULL;
    }
    Tensor *x = tensor_new(DTYPE_F32, t->ndim, t->shape);
    if (safetensors_read_f32(f, t, tensor_f32(x), t->numel) != 0) return NULL;
    x->requires_grad = requires_grad;
    return x;
}

static int load_params(const SafetensorsFile *f, ParamSet *ps) {
    for (int k = 0; k < ps->count; k++) {
        Tensor *p = ps->items[k];
        if (load_into(f, p->name, tensor_f32(p), p->ndim, p->shape) != 0) return -1;
    }
    return 0;
}

/* Compares n floats against fixture tensor `name`. */
static int compare(const SafetensorsFile *f, const char *name, const float *got, int64_t n, double tol) {
    const StTensorInfo *t = safetensors_find(f, name);
    if (!t) return error_set("fixture has no tensor %s", name);
    if (t->numel != n) return error_set("%s: %lld elements, fixture has %lld", name, (long long)n, (long long)t->numel);
    float *want = malloc((size_t)n * sizeof *want);
    CHECK(want != NULL, "out of memory");
    int rc = safetensors_read_f32(f, t, want, n);
    if (rc == 0) {
        long long bad = test_close_array(got, want, n, tol, tol);
        if (bad >= 0) rc = error_set("%s[%lld]: %.9g vs PyTorch %.9g", name, bad, got[bad], want[bad]);
    }
    free(want);
    return rc;
}

/* A snapshot of a run: output, then every parameter gradient, then input gradients. */
typedef struct {
    float *data;
    int64_t n;
} Snapshot;

static void snapshot_append(Snapshot *s, const float *v, int64_t n) {
    s->data = realloc(s->data, (size_t)(s->n + n) * sizeof(float));
    CHECK(s->data != NULL, "out of memory");
    memcpy(s->data + s->n, v, (size_t)n * sizeof(float));
    s->n += n;
}

/* Loss Σ out ⊙ R, backward, and comparison of the output, the loss, every
 * parameter gradient and the named input gradients. */
static int check_outputs_and_grads(const SafetensorsFile *f, const char *m, ParamSet *ps, Tensor *out,
                                   Tensor **inputs, const char *const *input_names, int n_inputs, Snapshot *snap) {
    char name[512];
    snprintf(name, sizeof name, "%s.out", m);
    if (compare(f, name, tensor_f32(out), tensor_numel(out), FWD_TOL) != 0) return -1;
    snprintf(name, sizeof name, "%s.loss_weights", m);
    Tensor *r = load_tensor(f, name, 0);
    if (!r) return -1;
    Tensor *loss = op_sum_all(op_mul(out, r));
    snprintf(name, sizeof name, "%s.loss", m);
    /* A sum of ~300 O(1) terms: absolute rounding grows with the count. */
    if (compare(f, name, tensor_f32(loss), 1, 1e-4) != 0) return -1;
    autograd_backward(loss);
    snapshot_append(snap, tensor_f32(out), tensor_numel(out));
    for (int k = 0; k < ps->count; k++) {
        Tensor *p = ps->items[k];
        snprintf(name, sizeof name, "%s.grad.%s", m, p->name);
        if (compare(f, name, p->grad, tensor_numel(p), GRAD_TOL) != 0) return -1;
        snapshot_append(snap, p->grad, tensor_numel(p));
    }
    for (int k = 0; k < n_inputs; k++) {
        snprintf(name, sizeof name, "%s.grad.%s", m, input_names[k]);
        if (!inputs[k]->grad) return error_set("input %s received no gradient", input_names[k]);
        if (compare(f, name, inputs[k]->grad, tensor_numel(inputs[k]), GRAD_TOL) != 0) return -1;
        snapshot_append(snap, inputs[k]->grad, tensor_numel(inputs[k]));
    }
    return 0;
}

static int run_vit(const SafetensorsFile *f, ParamSet *ps, const VitBlock *b, Snapshot *snap) {
    params_zero_grad(ps);
    Tensor *x = load_tensor(f, "vit.input.x", 1);
    if (!x) return -1;
    Tensor *out = vit_block_forward(b, x);
    int rc = check_outputs_and_grads(f, "vit", ps, out, &x, (const char *const[]){"x"}, 1, snap);
    autograd_step_end();
    return rc;
}

static int snapshots_identical(const Snapshot *a, const Snapshot *b) {
    if (a->n != b->n) return error_set("second run produced %lld values, first %lld", (long long)b->n, (long long)a->n);
    for (int64_t k = 0; k < a->n; k++)
        if (memcmp(&a->data[k], &b->data[k], sizeof(float)) != 0)
            return error_set("second run differs at value %lld: %.9g vs %.9g", (long long)k, b->data[k], a->data[k]);
    return 0;
}

TEST(test_vit_block_matches_pytorch_forward_and_backward) {
    SafetensorsFile f;
    ASSERT_MSG(open_fixture(&f) == 0, "%s", error_message());
    ParamSet ps;
    params_init(&ps);
    VitBlock b;
    vit_block_declare(&b, &ps, "vit", 32, 4, 64, 1e-6f);
    params_finalize(&ps);
    int rc = load_params(&f, &ps);
    Snapshot s1 = {0}, s2 = {0};
    if (rc == 0) rc = run_vit(&f, &ps, &b, &s1);
    if (rc == 0) rc = run_vit(&f, &ps, &b, &s2);
    if (rc == 0) rc = snapshots_identical(&s1, &s2);
    free(s1.data);
    free(s2.data);
    params_free(&ps);
    safetensors_close(&f);
    ASSERT_MSG(rc == 0, "%s", error_message());
}

static int run_bert(const SafetensorsFile *f, ParamSet *ps, const BertLayer *l, Snapshot *snap) {
    params_zero_grad(ps);
    Tensor *h = load_tensor(f, "bert.input.hidden", 1);
    Tensor *enc = load_tensor(f, "bert.input.enc", 1);
    Tensor *m = load_tensor(f, "bert.input.mask01", 0);
    Tensor *em = load_tensor(f, "bert.input.enc_mask01", 0);
    if (!h || !enc || !m || !em) return -1;
    /* Dropout off, as the fixture (eval-mode numerics); a non-training state
     * must be the identity. */
    DropoutState dropout = {.p = 0.1f, .training = 0, .seed = 1, .stream = 0};
    Tensor *out = bert_layer_forward(l, h, attention_additive_mask(m), enc, attention_additive_mask(em), &dropout);
    Tensor *inputs[2] = {h, enc};
    int rc = check_outputs_and_grads(f, "bert", ps, out, inputs, (const char *const[]){"hidden", "enc"}, 2, snap);
    autograd_step_end();
    return rc;
}

TEST(test_bert_layer_with_cross_attention_matches_pytorch) {
    SafetensorsFile f;
    ASSERT_MSG(open_fixture(&f) == 0, "%s", error_message());
    ParamSet ps;
    params_init(&ps);
    BertLayer l;
    bert_layer_declare(&l, &ps, "bert", 32, 4, 64, 1, 24, 1e-12f);
    params_finalize(&ps);
    ASSERT_EQ_INT(ps.count, 26); /* every HF name of a cross-attention layer, none extra */
    int rc = load_params(&f, &ps);
    Snapshot s1 = {0}, s2 = {0};
    if (rc == 0) rc = run_bert(&f, &ps, &l, &s1);
    if (rc == 0) rc = run_bert(&f, &ps, &l, &s2);
    if (rc == 0) rc = snapshots_identical(&s1, &s2);
    free(s1.data);
    free(s2.data);
    params_free(&ps);
    safetensors_close(&f);
    ASSERT_MSG(rc == 0, "%s", error_message());
}

/* Two steps of `which` ("adamw" or "sgd") on p0 [4, 5] and p1 [7] with the
 * fixture's gradients; the hyper-parameters must be those the script used. */
static int run_optimizer(const char *which, const char *expected_hparams) {
    SafetensorsFile f;
    if (open_fixture(&f) != 0) return -1;
    char key[64], name[64];
    snprintf(key, sizeof key, "%s.hparams", which);
    const char *hp = safetensors_meta_get(&f, key);
    int rc = 0;
    if (!hp || strcmp(hp, expected_hparams) != 0)
        rc = error_set("fixture %s = %s, the test assumes %s", key, hp ? hp : "(absent)", expected_hparams);
    ParamSet ps;
    params_init(&ps);
    Tensor *p[2] = {params_add(&ps, "p0", SHAPE(4, 5)), params_add(&ps, "p1", SHAPE(7))};
    params_finalize(&ps);
    int is_adam = strcmp(which, "adamw") == 0;
    AdamW adam;
    Sgd sgd;
    if (is_adam) adamw_init(&adam, &ps, 0.85f, 0.99f, 1e-6f, 0.05f);
    else sgd_init(&sgd, &ps, 0.9f, 0.01f);
    for (int j = 0; j < 2 && rc == 0; j++) {
        snprintf(name, sizeof name, "%s.p%d.init", which, j);
        rc = load_into(&f, name, tensor_f32(p[j]), p[j]->ndim, p[j]->shape);
    }
    for (int s = 1; s <= 2 && rc == 0; s++) {
        for (int j = 0; j < 2 && rc == 0; j++) {
            snprintf(name, sizeof name, "%s.p%d.grad%d", which, j, s);
            rc = load_into(&f, name, p[j]->grad, p[j]->ndim, p[j]->shape);
        }
        if (rc) break;
        if (is_adam) adamw_step(&adam, 0.01f);
        else sgd_step(&sgd, 0.1f);
        for (int j = 0; j < 2 && rc == 0; j++) {
            snprintf(name, sizeof name, "%s.p%d.after%d", which, j, s);
            const StTensorInfo *t = safetensors_find(&f, name);
            float want[20];
            if (!t) rc = error_set("fixture has no tensor %s", name);
            else rc = safetensors_read_f32(&f, t, want, tensor_numel(p[j]));
            long long bad = rc ? -1 : test_close_array(tensor_f32(p[j]), want, tensor_numel(p[j]), 1e-6, 1e-5);
            if (bad >= 0) rc = error_set("%s[%lld]: %.9g vs PyTorch %.9g", name, bad, tensor_f32(p[j])[bad], want[bad]);
        }
    }
    if (is_adam) adamw_free(&adam);
    else sgd_free(&sgd);
    params_free(&ps);
    safetensors_close(&f);
    return rc;
}

TEST(test_adamw_two_steps_match_torch_optim_adamw) {
    ASSERT_MSG(run_optimizer("adamw", "{\"lr\": 0.01, \"betas\": [0.85, 0.99], \"eps\": 1e-06, \"weight_decay\": 0.05}") == 0,
               "%s", error_message());
}

TEST(test_sgd_momentum_two_steps_match_torch_optim_sgd) {
    ASSERT_MSG(run_optimizer("sgd", "{\"lr\": 0.1, \"momentum\": 0.9, \"weight_decay\": 0.01}") == 0, "%s",
               error_message());
}
