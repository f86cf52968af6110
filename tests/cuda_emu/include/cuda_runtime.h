// Stand-in for CUDA's <cuda_runtime.h> in the kernel emulator: the language
// (emu_device.h) and the runtime calls the kernel files make. Device memory
// is host memory (tests/cuda_emu/emu_backend.cpp), so copies and fills are
// memcpy and memset, and a stream has nothing to wait for: every launch has
// finished when emu_launch returns, except while the stream is captured,
// when launches, copies and fills become a graph's nodes (emu_graph.h).
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
    cudaErrorStreamCaptureUnsupported = 900,
    cudaErrorStreamCaptureInvalidated = 901,
    cudaErrorGraphExecUpdateFailure = 910,
};
inline const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    case cudaErrorGraphExecUpdateFailure: return "the graph update was not performed because it included "
                                                 "changes which violated constraints specific to instantiated "
                                                 "graph update";
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
// Nothing to wait for, except that a capture does not allow waiting.
inline cudaError_t cudaStreamSynchronize(cudaStream_t) {
    return emu_graph_capturing() ? (cudaError_t)emu_graph_invalidate() : cudaSuccess;
}
inline cudaError_t cudaDeviceSynchronize(void) {
    return emu_graph_capturing() ? (cudaError_t)emu_graph_invalidate() : cudaSuccess;
}

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
enum { cudaEventDisableTiming = 2 };
inline cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned int) { return cudaEventCreate(e); }
inline cudaError_t cudaEventSynchronize(cudaEvent_t) {
    return emu_graph_capturing() ? (cudaError_t)emu_graph_invalidate() : cudaSuccess;
}
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
inline void emu_copy_now(void *dst, const void *src, size_t bytes) {
    if (emu_accounting_only()) return; // touches no page (emu_scheduler.h)
    emu_memory_open();
    if (bytes) memmove(dst, src, bytes);
    emu_memory_close();
}
inline cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t = 0) {
    if (!emu_graph_capturing()) {
        emu_copy_now(dst, src, bytes);
        return cudaSuccess;
    }
    if (kind == cudaMemcpyHostToDevice && bytes && !emu_host_pinned(src, bytes))
        emu_fail("a captured copy to the device reads %zu bytes of host memory at %p that cudaHostAlloc did not "
                 "give: the graph reads it when it runs, after the host may have changed or freed it",
                 bytes, src);
    emu_graph_record(&emu_node_copy, [=] { emu_copy_now(dst, src, bytes); });
    return cudaSuccess;
}
inline cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind) {
    return cudaMemcpyAsync(dst, src, bytes, kind);
}
inline void emu_fill_now(void *p, int byte, size_t bytes) {
    if (emu_accounting_only()) return;
    emu_memory_open();
    if (bytes) memset(p, byte, bytes);
    emu_memory_close();
}
inline cudaError_t cudaMemsetAsync(void *p, int byte, size_t bytes, cudaStream_t = 0) {
    if (emu_graph_capturing()) emu_graph_record(&emu_node_fill, [=] { emu_fill_now(p, byte, bytes); });
    else emu_fill_now(p, byte, bytes);
    return cudaSuccess;
}
inline cudaError_t cudaMemset(void *p, int byte, size_t bytes) { return cudaMemsetAsync(p, byte, bytes); }

// ---- CUDA graphs (tests/cuda_emu/emu_graph.cpp) ----
typedef struct EmuGraph *cudaGraph_t;
typedef struct EmuGraph *cudaGraphExec_t; // an executable graph is a copy of its nodes
typedef struct EmuGraphNode *cudaGraphNode_t;
enum cudaStreamCaptureMode {
    cudaStreamCaptureModeGlobal = 0,
    cudaStreamCaptureModeThreadLocal = 1,
    cudaStreamCaptureModeRelaxed = 2
};
struct cudaGraphExecUpdateResultInfo {
    int result;
    cudaGraphNode_t errorNode, errorFromNode;
};
cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t *graph);
cudaError_t cudaGraphGetNodes(cudaGraph_t graph, cudaGraphNode_t *nodes, size_t *count);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t graph, unsigned long long flags = 0);
cudaError_t cudaGraphExecUpdate(cudaGraphExec_t exec, cudaGraph_t graph, cudaGraphExecUpdateResultInfo *info);
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream);
cudaError_t cudaGraphDestroy(cudaGraph_t graph);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec);
// Pinned host memory: ordinary host memory whose range the emulator knows.
enum { cudaHostAllocDefault = 0 };
cudaError_t cudaHostAlloc(void **p, size_t bytes, unsigned int flags);
cudaError_t cudaFreeHost(void *p);

#endif
