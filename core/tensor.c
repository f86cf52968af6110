#include "core/tensor.h"

#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "core/device.h"
#include "core/error.h"

size_t dtype_size(DType dt) {
    switch (dt) {
    case DTYPE_F32: return 4;
    case DTYPE_BF16: return 2;
    case DTYPE_I32: return 4;
    }
    return 0;
}

const char *dtype_name(DType dt) {
    switch (dt) {
    case DTYPE_F32: return "F32";
    case DTYPE_BF16: return "BF16";
    case DTYPE_I32: return "I32";
    }
    return "?";
}

static Tensor *tensor_record(DType dt, int ndim, const int64_t *shape) {
    CHECK(ndim >= 0 && ndim <= TENSOR_MAX_DIMS, "ndim %d out of range", ndim);
    Tensor *t = arena_alloc(arena_activations(), sizeof *t);
    memset(t, 0, sizeof *t);
    t->ndim = ndim;
    t->dtype = dt;
    t->device = DEVICE_CPU;
    int64_t stride = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        CHECK(shape[i] >= 0, "negative dim %lld", (long long)shape[i]);
        t->shape[i] = shape[i];
        t->stride[i] = stride;
        stride *= shape[i];
    }
    return t;
}

Tensor *tensor_new_on(Device device, DType dt, int ndim, const int64_t *shape) {
    Tensor *t = tensor_record(dt, ndim, shape);
    t->device = device;
    t->data = arena_alloc(arena_activations_on(device), tensor_nbytes(t));
    return t;
}

Tensor *tensor_zeros_on(Device device, DType dt, int ndim, const int64_t *shape) {
    Tensor *t = tensor_record(dt, ndim, shape);
    t->device = device;
    t->data = arena_alloc_zero(arena_activations_on(device), tensor_nbytes(t));
    return t;
}

Tensor *tensor_new(DType dt, int ndim, const int64_t *shape) { return tensor_new_on(DEVICE_CPU, dt, ndim, shape); }

Tensor *tensor_zeros(DType dt, int ndim, const int64_t *shape) {
    return tensor_zeros_on(DEVICE_CPU, dt, ndim, shape);
}

Tensor *tensor_wrap(DType dt, int ndim, const int64_t *shape, void *data) {
    Tensor *t = tensor_record(dt, ndim, shape);
    t->data = data;
    return t;
}

Tensor *tensor_from_f32(int ndim, const int64_t *shape, const float *values) {
    Tensor *t = tensor_new(DTYPE_F32, ndim, shape);
    memcpy(t->data, values, tensor_nbytes(t));
    return t;
}

Tensor *tensor_scalar_f32(float value) { return tensor_from_f32(0, NULL, &value); }

int64_t tensor_numel(const Tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

size_t tensor_nbytes(const Tensor *t) { return (size_t)tensor_numel(t) * dtype_size(t->dtype); }

int tensor_is_contiguous(const Tensor *t) {
    int64_t stride = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != stride) return 0;
        stride *= t->shape[i];
    }
    return 1;
}

int tensor_same_shape(const Tensor *a, const Tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

int64_t tensor_rows(const Tensor *t) {
    if (t->ndim == 0) return 1;
    int64_t last = t->shape[t->ndim - 1];
    return last == 0 ? 0 : tensor_numel(t) / last;
}

int tensor_dim(const Tensor *t, int dim) {
    int d = dim < 0 ? dim + t->ndim : dim;
    CHECK(d >= 0 && d < t->ndim, "dim %d out of range for %d-d tensor", dim, t->ndim);
    return d;
}

char *tensor_shape_str(const Tensor *t, char *buf, size_t size) {
    size_t n = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < t->ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    if (n < size) snprintf(buf + n, size - n, "]");
    return buf;
}

float *tensor_grad_f32(Tensor *t) {
    int overwrite;
    float *g = tensor_grad_f32_to_overwrite(t, &overwrite);
    if (overwrite) device_zero(t->device, g, (size_t)tensor_numel(t) * sizeof(float));
    return g;
}

float *tensor_grad_f32_to_overwrite(Tensor *t, int *overwrite) {
    CHECK(t->dtype == DTYPE_F32 || t->dtype == DTYPE_BF16, "gradient of a %s tensor", dtype_name(t->dtype));
    /* A bf16 activation's gradient is f32 too (issue 5 Precision: only the
     * stored values are bf16), so the size is numel f32s, not tensor_nbytes. */
    *overwrite = t->grad == NULL;
    if (t->grad == NULL) t->grad = arena_alloc(arena_grads_on(t->device), (size_t)tensor_numel(t) * sizeof(float));
    return (float *)t->grad;
}

Tensor *tensor_view_reshape(const Tensor *t, int ndim, const int64_t *shape) {
    CHECK(tensor_is_contiguous(t), "reshape of a strided view");
    Tensor *v = tensor_record(t->dtype, ndim, shape);
    CHECK(tensor_numel(v) == tensor_numel(t), "reshape changes element count %lld -> %lld",
          (long long)tensor_numel(t), (long long)tensor_numel(v));
    v->data = t->data;
    v->device = t->device;
    return v;
}

Tensor *tensor_view_rows(const Tensor *t, int64_t start, int64_t len) {
    CHECK(t->ndim >= 1 && start >= 0 && len >= 0 && start + len <= t->shape[0],
          "rows [%lld, %lld) of dim %lld", (long long)start, (long long)(start + len),
          (long long)(t->ndim ? t->shape[0] : 0));
    Tensor *v = arena_alloc(arena_activations(), sizeof *v);
    *v = *t;
    v->shape[0] = len;
    v->data = (char *)t->data + (size_t)(start * t->stride[0]) * dtype_size(t->dtype);
    v->grad = NULL;
    v->requires_grad = 0;
    v->name = NULL;
    return v;
}

Tensor *tensor_contiguous_copy(const Tensor *t) {
    CHECK(t->device == DEVICE_CPU, "tensor_contiguous_copy: host tensors only (device views are copied by op_permute/op_slice)");
    Tensor *c = tensor_new(t->dtype, t->ndim, t->shape);
    size_t es = dtype_size(t->dtype);
    int64_t n = tensor_numel(t);
    int64_t idx[TENSOR_MAX_DIMS] = {0};
    for (int64_t i = 0; i < n; i++) {
        int64_t off = 0;
        for (int d = 0; d < t->ndim; d++) off += idx[d] * t->stride[d];
        memcpy((char *)c->data + (size_t)i * es, (const char *)t->data + (size_t)off * es, es);
        for (int d = t->ndim - 1; d >= 0; d--) {
            if (++idx[d] < t->shape[d]) break;
            idx[d] = 0;
        }
    }
    return c;
}
