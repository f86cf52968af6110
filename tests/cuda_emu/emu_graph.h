// CUDA graphs in the kernel emulator (the stand-ins of cuda_runtime.h call
// these). While a stream is captured, each launch, copy, fill and cuBLASLt
// product is recorded as a node, a closure holding its arguments, instead of
// running; cudaGraphLaunch runs an executable graph's nodes in order. So a
// captured step computes nothing until its graph runs, as on a GPU, and a
// host that reads a result too early reads stale memory or is stopped.
//
// What it checks, as the real runtime does or more strictly: a synchronize
// during capture invalidates it (cudaErrorStreamCaptureUnsupported, then
// cudaErrorStreamCaptureInvalidated at the end); a captured copy to the
// device must read pinned host memory (cudaHostAlloc), since a graph reads
// its source when it runs, not when it was captured; device memory may not
// be unmapped during a capture (a recorded kernel may still use it); an
// executable graph takes an update only from a graph with the same nodes in
// the same order (the same kernels, copies, fills and products).
#ifndef TESTS_CUDA_EMU_EMU_GRAPH_H
#define TESTS_CUDA_EMU_EMU_GRAPH_H

#include <stddef.h>

#include <functional>

// What a node is, beyond its closure: a kernel's address, or one of these.
extern const char emu_node_copy, emu_node_fill, emu_node_product;

bool emu_graph_capturing(void);
// During a capture: appends a node that runs `run` when its graph does.
void emu_graph_record(const void *kind, std::function<void()> run);
// During a capture: a call the capture does not allow (a synchronize);
// returns cudaErrorStreamCaptureUnsupported's value.
int emu_graph_invalidate(void);
// Whether [p, p + bytes) lies in one cudaHostAlloc allocation.
bool emu_host_pinned(const void *p, size_t bytes);

#endif
