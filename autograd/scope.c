#include "autograd/scope.h"

#include <string.h>

#include "autograd/tape.h"
#include "core/device.h"
#include "core/error.h"

ActivationScope activation_scope_begin(void) {
    CHECK(!autograd_is_enabled(), "activation_scope_begin with the tape recording: its nodes would outlive the scope");
    ActivationScope s = {.host = arena_mark(arena_activations())};
    s.has_device = device_ready(DEVICE_CUDA);
    if (s.has_device) s.device = arena_mark(arena_activations_on(DEVICE_CUDA));
    return s;
}

/* What a kept tensor needs across the rewind (its record is in the released host arena). */
typedef struct {
    DType dtype;
    Device device;
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];
    void *data;
} KeptValue;

void activation_scope_end(const ActivationScope *s, Tensor **kept, int n) {
    CHECK(!autograd_is_enabled(), "activation_scope_end with the tape recording");
    KeptValue v[16];
    CHECK(n >= 0 && n <= (int)(sizeof v / sizeof v[0]), "activation_scope_end: %d tensors to keep, at most %d", n,
          (int)(sizeof v / sizeof v[0]));
    for (int i = 0; i < n; i++) {
        const Tensor *t = tensor_is_contiguous(kept[i]) ? kept[i] : tensor_contiguous_copy(kept[i]);
        size_t bytes = tensor_nbytes(t);
        v[i] = (KeptValue){.dtype = t->dtype, .device = t->device, .ndim = t->ndim};
        memcpy(v[i].shape, t->shape, sizeof v[i].shape);
        v[i].data = arena_alloc(arena_kept_on(t->device), bytes);
        device_copy(v[i].data, t->device, t->data, t->device, bytes);
    }
    arena_rewind(arena_activations(), s->host);
    if (s->has_device) arena_rewind(arena_activations_on(DEVICE_CUDA), s->device);
    for (int i = 0; i < n; i++) {
        kept[i] = tensor_wrap(v[i].dtype, v[i].ndim, v[i].shape, v[i].data);
        kept[i]->device = v[i].device;
    }
}
