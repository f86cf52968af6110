// Backend set-up: device choice, stream, cuBLASLt handle, device memory
// accounting, and the registration of memory and kernels (cuda_fill_all,
// cuda/kernel_table.cu) with core/ and autograd/ (cuda/backend.h).
#include <stdio.h>
#include <string.h>

#include "cuda/allocations.cuh"
#include "cuda/common.cuh"
#include "cuda/graph.cuh"
#include "cuda/param_copies.cuh"

extern "C" {
#include "core/arena.h"
#include "core/comm.h"
#include "core/device.h"
}

static struct {
    int ready;
    Precision precision;
    cudaStream_t stream;
    cublasLtHandle_t blaslt;
    void *workspace;
    size_t workspace_bytes;
    char name[320];
    DeviceKernels kernels;
} backend = {0, PRECISION_BF16, 0, 0, 0, 0, "", {}};

cudaStream_t cuda_stream(void) { return backend.stream; }
cublasLtHandle_t cuda_blaslt(void) { return backend.blaslt; }
void *cuda_gemm_workspace(size_t *bytes) {
    *bytes = backend.workspace_bytes;
    return backend.workspace;
}
void *cuda_scratch(size_t bytes) { return arena_alloc(arena_activations_on(DEVICE_CUDA), bytes); }

static void *device_memory_alloc(size_t bytes) {
    void *p = NULL;
    // No managed memory (issue 5): plain device allocations only.
    cudaError_t err = cudaMalloc(&p, bytes ? bytes : 1);
    if (err != cudaSuccess) {
        size_t free_b = 0, total_b = 0;
        cudaGetLastError();
        cudaMemGetInfo(&free_b, &total_b);
        error_set("%s: cannot allocate %.1f MiB of device memory: %.1f MiB free of %.1f MiB (this process holds "
                  "%.1f MiB); use a smaller batch or model",
                  backend.name, bytes / 1048576.0, free_b / 1048576.0, total_b / 1048576.0,
                  allocations_in_use() / 1048576.0);
        return NULL;
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
    CUDA_CHECK(cudaFree(p));
}

static void device_memory_fill(void *p, int byte, size_t bytes) {
    param_copies_written(p, bytes);
    CUDA_CHECK(cudaMemsetAsync(p, byte, bytes, backend.stream));
    CUDA_LAUNCH_CHECK();
}

static void device_memory_copy(void *dst, int dst_on_device, const void *src, int src_on_device, size_t bytes) {
    if (dst_on_device) param_copies_written(dst, bytes); // a parameter block's bf16 copy is now stale
    if (!dst_on_device) cuda_graph_forbid_host_wait("a copy from the device to the host");
    if (dst_on_device && !src_on_device) src = cuda_graph_staged(src, bytes);
    cudaMemcpyKind kind = dst_on_device ? (src_on_device ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                        : cudaMemcpyDeviceToHost;
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, backend.stream));
    if (cuda_op_labels_wanted())
        cuda_op_done(kind == cudaMemcpyHostToDevice   ? "copy host to device"
                     : kind == cudaMemcpyDeviceToHost ? "copy device to host (the host waits)"
                                                      : "copy device to device");
    // A copy to the host is read right after: finish it (and everything before it).
    if (!dst_on_device) CUDA_CHECK(cudaStreamSynchronize(backend.stream));
}

static const DeviceMemory cuda_memory = {backend.name, device_memory_alloc, device_memory_release,
                                         device_memory_fill, device_memory_copy};

extern "C" int cuda_backend_init(char *why, size_t why_size) {
    if (backend.ready) return 0;
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess || count == 0) {
        snprintf(why, why_size, "no CUDA device (%s)",
                 err != cudaSuccess ? cudaGetErrorString(err) : "cudaGetDeviceCount found 0 devices");
        cudaGetLastError();
        return -1;
    }
    // One rank per GPU (core/comm.h): the node's ranks take its GPUs in turn.
    int gpu = comm_local_rank() % count;
    cudaDeviceProp prop;
    CUDA_CHECK(cudaSetDevice(gpu));
    CUDA_CHECK(cudaGetDeviceProperties(&prop, gpu));
    if (prop.major < 8) {
        snprintf(why, why_size, "GPU %s has compute capability %d.%d; bf16 kernels need 8.0 or newer", prop.name,
                 prop.major, prop.minor);
        return -1;
    }
    snprintf(backend.name, sizeof backend.name, "cuda (%s, sm_%d%d, %.0f GiB)", prop.name, prop.major, prop.minor,
             prop.totalGlobalMem / 1073741824.0);
    CUDA_CHECK(cudaStreamCreateWithFlags(&backend.stream, cudaStreamNonBlocking));
    CUBLAS_CHECK(cublasLtCreate(&backend.blaslt));
    backend.workspace_bytes = 32u << 20; // cuBLASLt's recommendation for Hopper
    CUDA_CHECK(cudaMalloc(&backend.workspace, backend.workspace_bytes));
    device_register(DEVICE_CUDA, &cuda_memory);
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
extern "C" void cuda_synchronize(void) {
    cuda_graph_forbid_host_wait("cuda_synchronize");
    if (backend.ready) CUDA_CHECK(cudaStreamSynchronize(backend.stream));
}
extern "C" size_t cuda_bytes_in_use(void) { return allocations_in_use(); }
extern "C" size_t cuda_peak_bytes(void) { return allocations_peak(); }
extern "C" void cuda_reset_peak_bytes(void) { allocations_reset_peak(); }
