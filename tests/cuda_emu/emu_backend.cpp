// The CUDA backend of the kernel emulator, in place of cuda/backend.cu: the
// same C API (cuda/backend.h), the same registration with core/device.h and
// autograd/device_kernels.h (so tensors are DEVICE_CUDA and every op takes
// its device path), and the kernel table filled by the real
// cuda_fill_all (cuda/kernel_table.cu). Device memory is emu_memory.h's
// guarded host pages; there is one "stream" and it is always idle.
#include <stdio.h>
#include <string.h>

#include "cuda/allocations.cuh"
#include "cuda/common.cuh"
#include "cuda/graph.cuh"
#include "cuda/param_copies.cuh"
#include "tests/cuda_emu/emu_memory.h"

extern "C" {
#include "core/arena.h"
#include "core/device.h"
}

// The capacity the emulated card claims (an H100's), so that an oversized
// request fails with the real backend's message instead of a host OOM.
static const size_t EMU_DEVICE_BYTES = (size_t)80 << 30;

static struct {
    int ready;
    Precision precision;
    DeviceKernels kernels;
} backend = {0, PRECISION_BF16, {}};
static char device_label[] = "cuda (emulated on the CPU: tests/cuda_emu)";

cudaStream_t cuda_stream(void) { return nullptr; }
void *cuda_scratch(size_t bytes) { return arena_alloc(arena_activations_on(DEVICE_CUDA), bytes); }

static void *device_memory_alloc(size_t bytes) {
    void *p = bytes <= EMU_DEVICE_BYTES - allocations_in_use() ? emu_memory_alloc(bytes ? bytes : 1) : nullptr;
    if (p == nullptr) {
        error_set("%s: cannot allocate %.1f MiB of device memory: %.1f MiB free of %.1f MiB (this process holds "
                  "%.1f MiB); use a smaller batch or model",
                  device_label, bytes / 1048576.0, (EMU_DEVICE_BYTES - allocations_in_use()) / 1048576.0,
                  EMU_DEVICE_BYTES / 1048576.0, allocations_in_use() / 1048576.0);
        return nullptr;
    }
    allocations_add(p, bytes);
    cuda_graph_memory_changed();
    return p;
}

static void device_memory_release(void *p) {
    if (cuda_graph_release_later(p, device_memory_release)) return;
    param_copies_released(p);
    allocations_remove(p);
    cuda_graph_memory_changed();
    emu_memory_release(p);
}

static void device_memory_fill(void *p, int byte, size_t bytes) {
    param_copies_written(p, bytes);
    CUDA_CHECK(cudaMemsetAsync(p, byte, bytes, cuda_stream()));
    CUDA_LAUNCH_CHECK();
}

static void device_memory_copy(void *dst, int dst_on_device, const void *src, int src_on_device, size_t bytes) {
    if (dst_on_device) param_copies_written(dst, bytes); // a parameter block's bf16 copy is now stale
    if (!dst_on_device) cuda_graph_forbid_host_wait("a copy from the device to the host");
    if (dst_on_device && !src_on_device) src = cuda_graph_staged(src, bytes);
    if (dst_on_device && !emu_memory_contains(dst)) fatal("cuda emulator: copy to %p, which is no device memory", dst);
    if (src_on_device && !emu_memory_contains(src)) fatal("cuda emulator: copy from %p, which is no device memory", src);
    cudaMemcpyKind kind = dst_on_device ? (src_on_device ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                        : cudaMemcpyDeviceToHost;
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, cuda_stream()));
    if (cuda_op_labels_wanted())
        cuda_op_done(kind == cudaMemcpyHostToDevice   ? "copy host to device"
                     : kind == cudaMemcpyDeviceToHost ? "copy device to host (the host waits)"
                                                      : "copy device to device");
}

static const DeviceMemory emu_device_memory = {device_label, device_memory_alloc, device_memory_release,
                                               device_memory_fill, device_memory_copy};

extern "C" int cuda_backend_init(char *why, size_t why_size) {
    (void)why, (void)why_size; // the emulator is always there
    if (backend.ready) return 0;
    device_register(DEVICE_CUDA, &emu_device_memory);
    cuda_fill_all(&backend.kernels);
    device_kernels_register(DEVICE_CUDA, &backend.kernels);
    backend.ready = 1;
    return 0;
}

extern "C" void *cuda_try_alloc(size_t bytes) { return device_memory_alloc(bytes); }
extern "C" int cuda_backend_ready(void) { return backend.ready; }
extern "C" void cuda_set_precision(Precision p) { backend.precision = p; }
extern "C" Precision cuda_precision(void) { return backend.precision; }
extern "C" const char *precision_name(Precision p) { return p == PRECISION_BF16 ? "bf16" : "fp32"; }
extern "C" void cuda_synchronize(void) { cuda_graph_forbid_host_wait("cuda_synchronize"); }
extern "C" size_t cuda_bytes_in_use(void) { return allocations_in_use(); }
extern "C" size_t cuda_peak_bytes(void) { return allocations_peak(); }
extern "C" void cuda_reset_peak_bytes(void) { allocations_reset_peak(); }
