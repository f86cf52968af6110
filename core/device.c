#include "core/device.h"

#include <stdint.h>
#include <string.h>

#include "core/arena.h"
#include "core/error.h"

static const DeviceMemory *registered[2];

void device_register(Device device, const DeviceMemory *memory) {
    CHECK(device != DEVICE_CPU, "device_register: the CPU needs no registration");
    registered[device] = memory;
}

int device_ready(Device device) { return device == DEVICE_CPU || registered[device] != NULL; }

const char *device_name(Device device) {
    if (device == DEVICE_CPU) return "cpu";
    return registered[device] ? registered[device]->name : "cuda (not initialised)";
}

static const DeviceMemory *memory_of(Device device) {
    const DeviceMemory *m = registered[device];
    if (m == NULL)
        fatal("a tensor was placed on the %s device, but its backend is not initialised (build with CUDA=1 "
              "and run with --device cuda on a machine with a GPU)",
              device == DEVICE_CUDA ? "cuda" : "unknown");
    return m;
}

void *device_alloc(Device device, size_t bytes) {
    if (device == DEVICE_CPU) {
        void *p = aligned_alloc(ARENA_ALIGN, (bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN);
        if (p == NULL) fatal("out of host memory allocating %zu bytes", bytes);
        return p;
    }
    void *p = memory_of(device)->alloc(bytes);
    if (p == NULL) fatal("%s", error_message());
    return p;
}

void device_release(Device device, void *p) {
    if (p == NULL) return;
    if (device == DEVICE_CPU) free(p);
    else memory_of(device)->release(p);
}

void device_zero(Device device, void *p, size_t bytes) {
    device_fill(device, p, 0, bytes);
}

void device_fill(Device device, void *p, int byte, size_t bytes) {
    if (device == DEVICE_CPU) memset(p, byte, bytes);
    else memory_of(device)->fill(p, byte, bytes);
}

void device_copy(void *dst, Device dst_device, const void *src, Device src_device, size_t bytes) {
    if (bytes == 0) return;
    if (dst_device == DEVICE_CPU && src_device == DEVICE_CPU) {
        memcpy(dst, src, bytes);
        return;
    }
    Device d = dst_device != DEVICE_CPU ? dst_device : src_device;
    memory_of(d)->copy(dst, dst_device != DEVICE_CPU, src, src_device != DEVICE_CPU, bytes);
}

/* bf16 is the top half of an f32: widening is exact. */
static void bf16_widen(const uint16_t *src, float *dst, int64_t n) {
    for (int64_t k = n - 1; k >= 0; k--) { /* backwards: dst may be src's buffer, twice as long */
        uint32_t u = (uint32_t)src[k] << 16;
        memcpy(&dst[k], &u, sizeof u);
    }
}

Tensor *tensor_to_device(const Tensor *t, Device device) {
    CHECK(tensor_is_contiguous(t), "tensor_to_device: needs a contiguous tensor");
    if (t->dtype == DTYPE_BF16 && device == DEVICE_CPU) { /* the CPU backend computes in f32 only */
        Tensor *out = tensor_new_on(DEVICE_CPU, DTYPE_F32, t->ndim, t->shape);
        tensor_copy_to_host(t, out->data);
        return out;
    }
    Tensor *out = tensor_new_on(device, t->dtype, t->ndim, t->shape);
    device_copy(out->data, device, t->data, t->device, tensor_nbytes(t));
    return out;
}

Tensor *tensor_on(Tensor *t, Device device) { return t->device == device ? t : tensor_to_device(t, device); }

void tensor_copy_to_host(const Tensor *t, void *dst) {
    CHECK(tensor_is_contiguous(t), "tensor_copy_to_host: needs a contiguous tensor");
    device_copy(dst, DEVICE_CPU, t->data, t->device, tensor_nbytes(t));
    if (t->dtype == DTYPE_BF16) bf16_widen((const uint16_t *)dst, (float *)dst, tensor_numel(t));
}

void tensor_copy_from_host(Tensor *t, const void *src) {
    CHECK(tensor_is_contiguous(t), "tensor_copy_from_host: needs a contiguous tensor");
    CHECK(t->dtype != DTYPE_BF16, "tensor_copy_from_host: a bf16 tensor is written by device kernels only");
    device_copy(t->data, t->device, src, DEVICE_CPU, tensor_nbytes(t));
}
