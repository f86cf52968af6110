// What runs after every kernel launch, cuBLASLt GEMM and stream copy
// (CUDA_LAUNCH_CHECK and cuda_op_done, cuda/common.cuh): the launch's error
// check, the debug mode that finds a kernel's fault at its own launch, and
// the profiler's event (cuda/profile.cu).
#include <string.h>

#include "cuda/common.cuh"
#include "cuda/profile.cuh"

extern "C" {
#include "core/cli.h"
}

// Kernels run asynchronously: a fault inside one (an illegal or misaligned
// address) is returned by whichever CUDA call comes next, far from its
// cause. MMU_CUDA_SYNC=1 (any value but 0) waits for every operation here,
// so the first fault names its own launch (bench/gpu_check.sh runs the
// parity tests so; slow, for finding faults only).
static int sync_each_op(void) {
    static int mode = -1;
    if (mode < 0) mode = cli_env_switch("MMU_CUDA_SYNC");
    return mode;
}

int cuda_op_labels_wanted(void) { return sync_each_op() || cuda_profiling(); }

void cuda_op_done(const char *label) {
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) fatal("%s: launch failed: %s", label, cudaGetErrorString(err));
    if (sync_each_op()) {
        err = cudaStreamSynchronize(cuda_stream());
        if (err != cudaSuccess)
            fatal("%s: failed on the device: %s (MMU_CUDA_SYNC=1: each operation is waited for, so this one "
                  "caused it)",
                  label, cudaGetErrorString(err));
    }
    if (cuda_profiling()) cuda_profile_record(label);
}

void cuda_launch_done(const char *func, const char *file, int line) {
    if (!cuda_op_labels_wanted()) {
        cudaError_t err = cudaGetLastError();
        if (err != cudaSuccess)
            fatal("%s:%d: kernel launch in %s failed: %s", file, line, func, cudaGetErrorString(err));
        return;
    }
    const char *base = strrchr(file, '/');
    char label[160];
    snprintf(label, sizeof label, "%s (%s:%d)", func, base ? base + 1 : file, line);
    cuda_op_done(label);
}
