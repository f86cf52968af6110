// Stand-in for CUDA's <cuda_runtime.h> in the kernel emulator: the language
// (emu_device.h) and the runtime calls the kernel files make. Device memory
// is host memory (tests/cuda_emu/emu_backend.cpp), so copies and fills are
// memcpy and memset, and a stream has nothing to wait for: every launch has
// finished when emu_launch returns.
#ifndef TESTS_CUDA_EMU_CUDA_RUNTIME_H
#define TESTS_CUDA_EMU_CUDA_RUNTIME_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/cuda_emu/emu_device.h"

// The values of CUDA's enum (the ones the emulator can produce).
enum cudaError_t {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInvalidConfiguration = 9,
};
inline const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    }
    return "unknown error";
}
// Returns and clears the last launch's error, as the real call does.
inline cudaError_t cudaGetLastError(void) {
    cudaError_t e = (cudaError_t)emu_last_launch_error;
    emu_last_launch_error = 0;
    return e;
}
inline cudaError_t cudaPeekAtLastError(void) { return (cudaError_t)emu_last_launch_error; }

typedef struct EmuStream *cudaStream_t;
enum { cudaStreamDefault = 0, cudaStreamNonBlocking = 1 };
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }

// An event holds the host clock when it was recorded: every launch before it
// has finished by then, so spans between events time the emulated kernels.
struct EmuEvent {
    double ms;
};
typedef EmuEvent *cudaEvent_t;
inline cudaError_t cudaEventCreate(cudaEvent_t *e) {
    *e = new EmuEvent{0.0};
    return cudaSuccess;
}
inline cudaError_t cudaEventDestroy(cudaEvent_t e) {
    delete e;
    return cudaSuccess;
}
inline cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t = 0) {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    e->ms = (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
    return cudaSuccess;
}
inline cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
inline cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end) {
    *ms = (float)(end->ms - start->ms);
    return cudaSuccess;
}

enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4
};
inline cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind, cudaStream_t = 0) {
    if (emu_accounting_only()) return cudaSuccess; // touches no page (emu_scheduler.h)
    emu_memory_open();
    if (bytes) memmove(dst, src, bytes);
    emu_memory_close();
    return cudaSuccess;
}
inline cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind) {
    return cudaMemcpyAsync(dst, src, bytes, kind);
}
inline cudaError_t cudaMemsetAsync(void *p, int byte, size_t bytes, cudaStream_t = 0) {
    if (emu_accounting_only()) return cudaSuccess;
    emu_memory_open();
    if (bytes) memset(p, byte, bytes);
    emu_memory_close();
    return cudaSuccess;
}
inline cudaError_t cudaMemset(void *p, int byte, size_t bytes) { return cudaMemsetAsync(p, byte, bytes); }

#endif
