/* AdamW, SGD with momentum and global gradient-norm clipping over a ParamSet.
 *
 * The updates follow PyTorch 1.13's single-tensor code paths
 * (torch/optim/adamw.py, sgd.py, nn/utils/clip_grad.py) in the same order of
 * float operations, so one step matches PyTorch to rounding (checked in
 * tests/test_nn_parity.c against tests/fixtures/nn_reference.safetensors).
 * Step-dependent scalars (bias corrections) are computed in double, as Python
 * does, then used as float, as the float tensor kernels do.
 *
 * Only parameters with requires_grad are touched: a frozen group keeps its
 * exact bits and its moments stay zero (spec/unlearning_methods.md "-F"
 * variants freeze everything but the fusion encoder).
 *
 * A ParamSet on a device keeps its moments there too; the device kernels
 * repeat these loops (autograd/device_kernels.h): AdamW updates every
 * trainable tensor in one launch (adamw_update), SGD one tensor a launch. */
#include "nn/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/device_kernels.h"
#include "core/arena.h"
#include "core/device.h"
#include "core/error.h"

/* Parameters below this size are updated by one thread: the fork/join of an
 * OpenMP region costs more than the arithmetic (biases, LayerNorm vectors). */
#define OPTIM_PARALLEL_MIN 32768

/* One zeroed moment buffer on the ParamSet's device. */
static float *alloc_state(const ParamSet *ps, const char *what) {
    CHECK(ps->finalized, "%s over a ParamSet that is not finalized", what);
    size_t bytes = (size_t)(ps->total > 0 ? ps->total : 1) * sizeof(float);
    if (ps->device != DEVICE_CPU) {
        float *buf = device_alloc(ps->device, bytes);
        device_zero(ps->device, buf, bytes);
        return buf;
    }
    float *buf = calloc(1, bytes);
    if (!buf) fatal("out of memory for %s state of %lld parameters", what, (long long)ps->total);
    return buf;
}

static void free_state(Device device, float *buf) {
    if (device != DEVICE_CPU) device_release(device, buf);
    else free(buf);
}

/* spec/albef_blip.md §5.3 (LAVIS get_optimizer_params): no decay for tensors
 * of fewer than 2 dims or whose name contains "bias", "ln" or "bn". */
int optim_lavis_no_decay(const Tensor *p) {
    const char *n = p->name ? p->name : "";
    return p->ndim < 2 || strstr(n, "bias") || strstr(n, "ln") || strstr(n, "bn");
}

void adamw_init(AdamW *opt, ParamSet *ps, float beta1, float beta2, float eps, float weight_decay) {
    memset(opt, 0, sizeof *opt);
    opt->params = ps;
    opt->device = ps->device;
    opt->m = alloc_state(ps, "AdamW");
    opt->v = alloc_state(ps, "AdamW");
    opt->decay = malloc((size_t)(ps->count > 0 ? ps->count : 1));
    CHECK(opt->decay != NULL, "out of memory");
    memset(opt->decay, 1, (size_t)ps->count);
    opt->beta1 = beta1;
    opt->beta2 = beta2;
    opt->eps = eps;
    opt->weight_decay = weight_decay;
}

void adamw_free(AdamW *opt) {
    free_state(opt->device, opt->m);
    free_state(opt->device, opt->v);
    free(opt->decay);
    memset(opt, 0, sizeof *opt);
}

int adamw_use_lavis_decay_groups(AdamW *opt) {
    const ParamSet *ps = opt->params;
    int excluded = 0;
    for (int k = 0; k < ps->count; k++) {
        opt->decay[k] = !optim_lavis_no_decay(ps->items[k]);
        excluded += !opt->decay[k];
    }
    return excluded;
}

/* The device step: the trainable tensors' ranges and decay flags, one launch. */
static void adamw_step_device(AdamW *opt, float keep_decay, float step_size, float bc2_sqrt) {
    ParamSet *ps = opt->params;
    int64_t *offsets = arena_alloc(arena_activations(), (size_t)(ps->count + 1) * 2 * sizeof *offsets);
    int64_t *sizes = offsets + ps->count + 1;
    unsigned char *decay = arena_alloc(arena_activations(), (size_t)ps->count + 1);
    int count = 0;
    for (int k = 0; k < ps->count; k++) {
        Tensor *t = ps->items[k];
        if (!t->requires_grad || tensor_numel(t) == 0) continue;
        offsets[count] = params_offset(ps, t);
        sizes[count] = tensor_numel(t);
        decay[count++] = opt->decay[k];
    }
    if (count == 0) return;
    device_kernels(ps->device, "adamw_step")
        ->adamw_update(ps->values, ps->grads, opt->m, opt->v, offsets, sizes, decay, count, keep_decay, opt->beta1,
                       opt->beta2, step_size, bc2_sqrt, opt->eps);
}

void adamw_step(AdamW *opt, float lr) {
    ParamSet *ps = opt->params;
    CHECK(opt->device == ps->device, "adamw_step: the parameters moved to another device after adamw_init");
    opt->step++;
    const double step = (double)opt->step;
    const float beta1 = opt->beta1, beta2 = opt->beta2, eps = opt->eps;
    const float one_minus_b1 = 1.0f - beta1, one_minus_b2 = 1.0f - beta2;
    const double bias_correction1 = 1.0 - pow((double)beta1, step);
    const double bias_correction2 = 1.0 - pow((double)beta2, step);
    const float step_size = (float)((double)lr / bias_correction1);
    const float bc2_sqrt = (float)sqrt(bias_correction2);
    /* Decoupled decay first, on the parameter alone (Loshchilov & Hutter). */
    const float keep_decay = (float)(1.0 - (double)lr * (double)opt->weight_decay);
    if (ps->device != DEVICE_CPU) {
        adamw_step_device(opt, keep_decay, step_size, bc2_sqrt);
        return;
    }
    for (int k = 0; k < ps->count; k++) {
        Tensor *t = ps->items[k];
        if (!t->requires_grad) continue;
        const int64_t off = params_offset(ps, t), n = tensor_numel(t);
        float *p = ps->values + off;
        const float *g = ps->grads + off;
        float *m = opt->m + off, *v = opt->v + off;
        const float keep = opt->decay[k] ? keep_decay : 1.0f;
#pragma omp parallel for schedule(static) if (n >= OPTIM_PARALLEL_MIN)
        for (int64_t e = 0; e < n; e++) {
            float pe = p[e] * keep;
            float me = m[e] * beta1 + g[e] * one_minus_b1;
            float ve = v[e] * beta2 + one_minus_b2 * g[e] * g[e];
            float denom = sqrtf(ve) / bc2_sqrt + eps;
            m[e] = me;
            v[e] = ve;
            p[e] = pe + (-step_size * me) / denom; /* addcdiv_: value·m / denom */
        }
    }
}

void sgd_init(Sgd *opt, ParamSet *ps, float momentum, float weight_decay) {
    memset(opt, 0, sizeof *opt);
    opt->params = ps;
    opt->device = ps->device;
    opt->buf = alloc_state(ps, "SGD");
    opt->momentum = momentum;
    opt->weight_decay = weight_decay;
}

void sgd_free(Sgd *opt) {
    free_state(opt->device, opt->buf);
    memset(opt, 0, sizeof *opt);
}

void sgd_step(Sgd *opt, float lr) {
    ParamSet *ps = opt->params;
    CHECK(opt->device == ps->device, "sgd_step: the parameters moved to another device after sgd_init");
    const float mu = opt->momentum, wd = opt->weight_decay;
    /* PyTorch clones d_p into the buffer on the first step; μ·0 + d_p is the
     * same value, so a zeroed buffer needs no special case. */
    for (int k = 0; k < ps->count; k++) {
        Tensor *t = ps->items[k];
        if (!t->requires_grad) continue;
        const int64_t off = params_offset(ps, t), n = tensor_numel(t);
        float *p = ps->values + off, *b = opt->buf + off;
        const float *g = ps->grads + off;
        if (ps->device != DEVICE_CPU) {
            device_kernels(ps->device, "sgd_step")->sgd_update(p, g, b, n, lr, mu, wd);
            continue;
        }
#pragma omp parallel for schedule(static) if (n >= OPTIM_PARALLEL_MIN)
        for (int64_t e = 0; e < n; e++) {
            float d = wd != 0.0f ? g[e] + wd * p[e] : g[e];
            if (mu != 0.0f) {
                b[e] = b[e] * mu + d;
                d = b[e];
            }
            p[e] -= lr * d;
        }
    }
    opt->step++;
}

/* The device version: one Σ g² per trainable tensor in double (the
 * sum_squares kernel, a fixed tree), read back and added on the host in
 * ParamSet order; the scaling runs in place as y = coef·g + 0. */
static float clip_grad_norm_device(ParamSet *ps, float max_norm) {
    const DeviceKernels *kern = device_kernels(ps->device, "clip_grad_norm");
    double *sums = arena_alloc(arena_activations_on(ps->device), (size_t)(ps->count + 1) * sizeof *sums);
    double *host = arena_alloc(arena_activations(), (size_t)(ps->count + 1) * sizeof *host);
    int used = 0;
    for (int k = 0; k < ps->count; k++) {
        Tensor *t = ps->items[k];
        if (!t->requires_grad) continue;
        kern->sum_squares(ps->grads + params_offset(ps, t), sums + used, tensor_numel(t));
        used++;
    }
    device_copy(host, DEVICE_CPU, sums, ps->device, (size_t)used * sizeof *sums);
    double sq = 0.0;
    for (int k = 0; k < used; k++) sq += host[k];
    const float total = (float)sqrt(sq);
    const float coef = max_norm / (total + 1e-6f);
    if (coef < 1.0f) {
        for (int k = 0; k < ps->count; k++) {
            Tensor *t = ps->items[k];
            if (!t->requires_grad) continue;
            float *g = ps->grads + params_offset(ps, t);
            kern->affine_forward(g, g, DTYPE_F32, tensor_numel(t), coef, 0.0f);
        }
    }
    return total;
}

float clip_grad_norm(ParamSet *ps, float max_norm) {
    if (ps->device != DEVICE_CPU) return clip_grad_norm_device(ps, max_norm);
    /* Sum of squares in double: the norm of 10^8 float gradients loses digits
     * when accumulated in float. */
    double sq = 0.0;
    for (int k = 0; k < ps->count; k++) {
        Tensor *t = ps->items[k];
        if (!t->requires_grad) continue;
        const int64_t off = params_offset(ps, t), n = tensor_numel(t);
        const float *g = ps->grads + off;
        /* Fixed chunks summed in a fixed order: the norm (and so every
         * clipped gradient) is bitwise the same for any thread count, which an
         * OpenMP reduction does not promise (DESIGN.md "Deterministic"). */
        enum { CHUNKS = 64 };
        double part[CHUNKS];
        const int64_t chunk = (n + CHUNKS - 1) / CHUNKS;
#pragma omp parallel for schedule(static) if (n >= OPTIM_PARALLEL_MIN)
        for (int c = 0; c < CHUNKS; c++) {
            double s = 0.0;
            const int64_t lo = c * chunk, hi = lo + chunk < n ? lo + chunk : n;
            for (int64_t e = lo; e < hi; e++) s += (double)g[e] * (double)g[e];
            part[c] = s;
        }
        for (int c = 0; c < CHUNKS; c++) sq += part[c];
    }
    const float total = (float)sqrt(sq);
    /* torch: coef = max_norm / (total + 1e-6), clamped to 1; never scales up. */
    const float coef = max_norm / (total + 1e-6f);
    if (coef < 1.0f) {
        for (int k = 0; k < ps->count; k++) {
            Tensor *t = ps->items[k];
            if (!t->requires_grad) continue;
            const int64_t off = params_offset(ps, t), n = tensor_numel(t);
            float *g = ps->grads + off;
#pragma omp parallel for schedule(static) if (n >= OPTIM_PARALLEL_MIN)
            for (int64_t e = 0; e < n; e++) g[e] *= coef;
        }
    }
    return total;
}
