/* Device memory behind the tensor record's `device` field.
 *
 * core/ only knows that a second kind of memory may exist; the CUDA backend
 * (cuda/backend.h) registers how to allocate, zero and copy it when a program
 * asks for `--device cuda` and a GPU is present. Until then every request for
 * device memory stops with a message saying the backend is not initialised,
 * so a CPU-only build or machine fails loudly instead of touching a NULL
 * pointer (DESIGN.md "Nothing silently wrong"). */
#ifndef CORE_DEVICE_H
#define CORE_DEVICE_H

#include <stddef.h>

#include "core/tensor.h"

typedef struct {
    const char *name;                  /* "cuda (NVIDIA H100 80GB HBM3)" */
    /* Returns NULL after error_set() naming the request and the free memory. */
    void *(*alloc)(size_t bytes);
    void (*release)(void *p);
    void (*fill)(void *p, int byte, size_t bytes); /* memset */
    /* dst and src each on the host or the device, as the flags say. */
    void (*copy)(void *dst, int dst_on_device, const void *src, int src_on_device, size_t bytes);
} DeviceMemory;

/* Registers (or, with NULL, unregisters) the memory of `device` (not the CPU). */
void device_register(Device device, const DeviceMemory *memory);
/* 1 when tensors may live on `device` (always for the CPU). */
int device_ready(Device device);
const char *device_name(Device device);

/* Allocation on any device; device memory stops the program with the
 * backend's message when it is exhausted. */
void *device_alloc(Device device, size_t bytes);
void device_release(Device device, void *p);
void device_zero(Device device, void *p, size_t bytes);
void device_fill(Device device, void *p, int byte, size_t bytes);
void device_copy(void *dst, Device dst_device, const void *src, Device src_device, size_t bytes);

/* A contiguous copy of `t` on `device`, in that device's activation arena;
 * a bf16 tensor (a device's activation under --precision bf16) arrives on
 * the CPU as f32. */
Tensor *tensor_to_device(const Tensor *t, Device device);
/* `t` itself when it already lives on `device`, else tensor_to_device(). */
Tensor *tensor_on(Tensor *t, Device device);
/* Copies a contiguous tensor's data (any device) into host memory; a bf16
 * tensor's values arrive as f32 (dst holds numel floats). */
void tensor_copy_to_host(const Tensor *t, void *dst);
/* Copies host memory into a contiguous tensor's data (any device). */
void tensor_copy_from_host(Tensor *t, const void *src);

#endif
