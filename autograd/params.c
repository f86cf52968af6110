#include "autograd/params.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/device_kernels.h"
#include "core/device.h"
#include "core/error.h"
#include "core/finite.h"
#include "core/rng.h"
#include "core/xalloc.h"

void params_init(ParamSet *ps) { memset(ps, 0, sizeof *ps); }

void params_free(ParamSet *ps) {
    for (int k = 0; k < ps->count; k++) {
        free((char *)ps->items[k]->name);
        free(ps->items[k]);
    }
    free(ps->items);
    free(ps->inits);
    free(ps->init_std);
    free(ps->product_only);
    device_release(ps->device, ps->values);
    if (ps->product_values) device_release(ps->device, ps->product_values);
    if (ps->grads) device_release(ps->device, ps->grads);
    memset(ps, 0, sizeof *ps);
}

void params_freeze(ParamSet *ps) {
    CHECK(ps->finalized, "params_freeze before finalize");
    if (ps->grads) device_release(ps->device, ps->grads);
    ps->grads = NULL;
    for (int k = 0; k < ps->count; k++) {
        ps->items[k]->grad = NULL;
        ps->items[k]->requires_grad = 0;
    }
}

Tensor *params_add(ParamSet *ps, const char *name, int ndim, const int64_t *shape) {
    return params_add_init(ps, name, ndim, shape, PARAM_INIT_ZEROS, 0.0f);
}

Tensor *params_add_init(ParamSet *ps, const char *name, int ndim, const int64_t *shape, ParamInit init,
                        float std) {
    CHECK(!ps->finalized, "parameter %s declared after finalize", name);
    CHECK(params_find(ps, name) == NULL, "duplicate parameter name %s", name);
    CHECK(ndim >= 0 && ndim <= TENSOR_MAX_DIMS, "parameter %s: ndim %d", name, ndim);
    if (ps->count == ps->capacity) {
        ps->capacity = ps->capacity ? ps->capacity * 2 : 64;
        ps->items = realloc(ps->items, (size_t)ps->capacity * sizeof *ps->items);
        ps->inits = realloc(ps->inits, (size_t)ps->capacity * sizeof *ps->inits);
        ps->init_std = realloc(ps->init_std, (size_t)ps->capacity * sizeof *ps->init_std);
        ps->product_only = realloc(ps->product_only, (size_t)ps->capacity * sizeof *ps->product_only);
        CHECK(ps->items && ps->inits && ps->init_std && ps->product_only, "out of memory");
    }
    Tensor *t = calloc(1, sizeof *t);
    CHECK(t != NULL, "out of memory");
    t->ndim = ndim;
    t->dtype = DTYPE_F32;
    t->device = DEVICE_CPU;
    int64_t stride = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        t->shape[i] = shape[i];
        t->stride[i] = stride;
        stride *= shape[i];
    }
    t->requires_grad = 1;
    t->name = strdup(name);
    ps->inits[ps->count] = init;
    ps->init_std[ps->count] = std;
    ps->product_only[ps->count] = 0;
    ps->items[ps->count++] = t;
    return t;
}

void params_finalize(ParamSet *ps) {
    CHECK(!ps->finalized, "finalize called twice");
    int64_t total = 0;
    for (int k = 0; k < ps->count; k++) total += tensor_numel(ps->items[k]);
    ps->total = total;
    size_t bytes = (size_t)(total > 0 ? total : 1) * sizeof(float);
    ps->values = device_alloc(DEVICE_CPU, bytes);
    ps->grads = device_alloc(DEVICE_CPU, bytes);
    memset(ps->values, 0, bytes);
    memset(ps->grads, 0, bytes);
    int64_t off = 0;
    for (int k = 0; k < ps->count; k++) {
        ps->items[k]->data = ps->values + off;
        ps->items[k]->grad = ps->grads + off;
        off += tensor_numel(ps->items[k]);
    }
    ps->finalized = 1;
}

Tensor *params_find(const ParamSet *ps, const char *name) {
    for (int k = 0; k < ps->count; k++)
        if (strcmp(ps->items[k]->name, name) == 0) return ps->items[k];
    return NULL;
}

void params_zero_grad(ParamSet *ps) {
    if (ps->grads) device_zero(ps->device, ps->grads, (size_t)ps->total * sizeof(float));
}

/* The calls that treat the value block as every parameter. */
static void check_all_f32(const ParamSet *ps, const char *what) {
    CHECK(ps->product_values == NULL, "%s: the set keeps its product weights in bf16 (params_freeze_to_product_type)",
          what);
}

void params_to_device(ParamSet *ps, Device device) {
    CHECK(ps->finalized, "params_to_device before finalize");
    check_all_f32(ps, "params_to_device");
    if (ps->device == device) return;
    size_t bytes = (size_t)(ps->total > 0 ? ps->total : 1) * sizeof(float);
    float *values = device_alloc(device, bytes), *grads = ps->grads ? device_alloc(device, bytes) : NULL;
    device_copy(values, device, ps->values, ps->device, (size_t)ps->total * sizeof(float));
    if (grads) device_copy(grads, device, ps->grads, ps->device, (size_t)ps->total * sizeof(float));
    int64_t off = 0;
    for (int k = 0; k < ps->count; k++) {
        ps->items[k]->data = values + off;
        ps->items[k]->grad = grads ? grads + off : NULL;
        ps->items[k]->device = device;
        off += tensor_numel(ps->items[k]);
    }
    device_release(ps->device, ps->values);
    if (ps->grads) device_release(ps->device, ps->grads);
    ps->values = values;
    ps->grads = grads;
    ps->device = device;
    /* The backend may keep its own copy of the values (DeviceKernels "parameter blocks"). */
    if (device != DEVICE_CPU) device_kernels(device, "params_to_device")->param_block_added(values, ps->total);
}

int64_t params_offset(const ParamSet *ps, const Tensor *p) {
    CHECK(p->dtype == DTYPE_F32, "params_offset: %s is kept in bf16 (params_freeze_to_product_type)",
          p->name ? p->name : "(unnamed)");
    return (const float *)p->data - ps->values;
}

void params_mark_product_weight(ParamSet *ps, const Tensor *p) {
    for (int k = 0; k < ps->count; k++)
        if (ps->items[k] == p) {
            CHECK(p->ndim == 2, "params_mark_product_weight: %s is not a matrix", p->name);
            ps->product_only[k] = 1;
            return;
        }
    fatal("params_mark_product_weight: %s is not a parameter of this set", p->name ? p->name : "(unnamed)");
}

/* A product weight's room in the bf16 block: its values rounded up to 128
 * (256 bytes, cuBLASLt's preferred operand alignment). */
static int64_t product_slot(int64_t n) { return (n + 127) / 128 * 128; }

void params_freeze_to_product_type(ParamSet *ps) {
    CHECK(ps->finalized && ps->grads == NULL, "params_freeze_to_product_type: freeze the set first (params_freeze)");
    if (ps->device == DEVICE_CPU || ps->product_values) return;
    const DeviceKernels *k = device_kernels(ps->device, "params_freeze_to_product_type");
    if (k->matmul_dtype() != DTYPE_BF16) return;
    int64_t rest = 0, products = 0;
    for (int i = 0; i < ps->count; i++) {
        int64_t n = tensor_numel(ps->items[i]);
        if (ps->product_only[i])
            products += product_slot(n);
        else
            rest += n;
    }
    if (products == 0) return;
    float *values = device_alloc(ps->device, (size_t)(rest > 0 ? rest : 1) * sizeof(float));
    uint16_t *bf16 = device_alloc(ps->device, (size_t)products * sizeof(uint16_t));
    int64_t at_rest = 0, at_products = 0;
    for (int i = 0; i < ps->count; i++) {
        Tensor *t = ps->items[i];
        int64_t n = tensor_numel(t);
        if (ps->product_only[i]) {
            k->convert(t->data, DTYPE_F32, bf16 + at_products, DTYPE_BF16, n);
            t->data = bf16 + at_products;
            t->dtype = DTYPE_BF16;
            at_products += product_slot(n);
        } else {
            device_copy(values + at_rest, ps->device, t->data, ps->device, (size_t)n * sizeof(float));
            t->data = values + at_rest;
            at_rest += n;
        }
    }
    device_release(ps->device, ps->values); /* its bf16 copy goes with it (cuda/param_copies.cu) */
    ps->values = values;
    ps->total = rest;
    ps->product_values = bf16;
    k->param_block_added(values, rest);
}

void params_set_trainable_all(ParamSet *ps, int trainable) {
    for (int k = 0; k < ps->count; k++) ps->items[k]->requires_grad = trainable;
}

int params_set_trainable_prefixes(ParamSet *ps, const char *const *prefixes, int trainable) {
    int matched = 0;
    for (int k = 0; k < ps->count; k++) {
        for (const char *const *p = prefixes; *p; p++) {
            if (strncmp(ps->items[k]->name, *p, strlen(*p)) == 0) {
                ps->items[k]->requires_grad = trainable;
                matched++;
                break;
            }
        }
    }
    return matched;
}

int64_t params_count_trainable(const ParamSet *ps) {
    int64_t n = 0;
    for (int k = 0; k < ps->count; k++)
        if (ps->items[k]->requires_grad) n += tensor_numel(ps->items[k]);
    return n;
}

int params_find_nonfinite(const ParamSet *ps, int64_t *element) {
    check_all_f32(ps, "params_find_nonfinite");
    const float *host = ps->values;
    float *copy = NULL;
    if (ps->device != DEVICE_CPU) {
        copy = xmalloc((size_t)(ps->total > 0 ? ps->total : 1) * sizeof *copy);
        device_copy(copy, DEVICE_CPU, ps->values, ps->device, (size_t)ps->total * sizeof *copy);
        host = copy;
    }
    int found = -1;
    for (int k = 0; k < ps->count && found < 0; k++) {
        const Tensor *t = ps->items[k];
        int64_t at = finite_first_bad_f32(host + params_offset(ps, t), tensor_numel(t));
        if (at >= 0) {
            found = k;
            if (element) *element = at;
        }
    }
    free(copy);
    return found;
}

void params_copy_values(ParamSet *dst, const ParamSet *src) {
    check_all_f32(dst, "params_copy_values");
    check_all_f32(src, "params_copy_values");
    CHECK(dst->count == src->count && dst->total == src->total, "parameter sets differ");
    for (int k = 0; k < dst->count; k++) {
        CHECK(strcmp(dst->items[k]->name, src->items[k]->name) == 0 &&
                  tensor_same_shape(dst->items[k], src->items[k]),
              "parameter %s differs", dst->items[k]->name);
    }
    device_copy(dst->values, dst->device, src->values, src->device, (size_t)src->total * sizeof(float));
}

void params_clamp(Tensor *p, float lo, float hi) {
    CHECK(p->dtype == DTYPE_F32 && tensor_is_contiguous(p), "params_clamp: %s is not a contiguous f32 parameter",
          p->name ? p->name : "(unnamed)");
    int64_t n = tensor_numel(p);
    if (p->device != DEVICE_CPU) {
        device_kernels(p->device, "params_clamp")->param_clamp(tensor_f32(p), n, lo, hi);
        return;
    }
    float *v = tensor_f32(p);
    for (int64_t k = 0; k < n; k++) v[k] = v[k] < lo ? lo : v[k] > hi ? hi : v[k];
}

void params_ema_update(ParamSet *ema, const ParamSet *online, float mu) {
    check_all_f32(ema, "params_ema_update");
    check_all_f32(online, "params_ema_update");
    CHECK(ema->total <= online->total && ema->device == online->device,
          "EMA update: %lld twins for %lld values (devices %d, %d)", (long long)ema->total, (long long)online->total,
          (int)ema->device, (int)online->device);
    const float one_minus = 1.0f - mu;
    float *pm = ema->values;
    const float *po = online->values;
    if (online->device != DEVICE_CPU) { /* the same two products and sum, as two kernels */
        const DeviceKernels *k = device_kernels(online->device, "EMA update");
        k->affine_forward(pm, pm, DTYPE_F32, ema->total, mu, 0.0f);
        k->scaled_add(pm, po, ema->total, one_minus);
        k->param_block_written(pm, ema->total); /* kernels, not copies: the backend must be told */
        return;
    }
    for (int64_t k = 0; k < ema->total; k++) pm[k] = pm[k] * mu + po[k] * one_minus;
}

void params_copy_to_twins(ParamSet *twins, const ParamSet *online) {
    check_all_f32(twins, "params_copy_to_twins");
    check_all_f32(online, "params_copy_to_twins");
    CHECK(twins->total <= online->total, "momentum copy: %lld twins for %lld values", (long long)twins->total,
          (long long)online->total);
    device_copy(twins->values, twins->device, online->values, online->device, (size_t)twins->total * sizeof(float));
}

static uint64_t name_hash(const char *s) { return fnv1a_str(FNV1A_INIT, s); }

void params_initialize(ParamSet *ps, uint64_t seed) {
    CHECK(ps->finalized, "initialize before finalize");
    for (int k = 0; k < ps->count; k++) {
        Tensor *t = ps->items[k];
        float *v = tensor_f32(t);
        int64_t n = tensor_numel(t);
        float std = ps->init_std[k];
        Rng rng = rng_make(seed, name_hash(t->name));
        for (int64_t e = 0; e < n; e++) {
            switch (ps->inits[k]) {
            case PARAM_INIT_ZEROS: v[e] = 0.0f; break;
            case PARAM_INIT_ONES: v[e] = 1.0f; break;
            case PARAM_INIT_NORMAL: v[e] = std * rng_normal(&rng); break;
            case PARAM_INIT_UNIFORM: v[e] = std * (2.0f * rng_uniform(&rng) - 1.0f); break;
            case PARAM_INIT_TRUNC_NORMAL: {
                float z;
                do z = rng_normal(&rng);
                while (z < -2.0f || z > 2.0f);
                v[e] = std * z;
                break;
            }
            }
        }
    }
}
