// The backends' side of step capture (cuda/graph.cu): what a copy, a
// release and a synchronize must do differently while a step is captured.
#ifndef CUDA_GRAPH_CUH
#define CUDA_GRAPH_CUH

#include <stddef.h>

// Host memory a copy to the device is about to read: outside a capture, src
// itself; inside, a pinned copy of it made now (the graph reads its source
// when it runs, after the host may have reused src).
const void *cuda_graph_staged(const void *src, size_t bytes);
// Device memory being released: 0 outside a capture (release it now); inside,
// 1: it is released by cuda_graph_step_end() once the graph is launched
// (captured kernels still use it; the release then waits for them).
int cuda_graph_release_later(void *p, void (*release)(void *));
// Device memory was allocated or released (the backends call it): the
// next step runs eagerly (cuda/graph.cu says why).
void cuda_graph_memory_changed(void);
// Stops with a message naming `what` when called inside a capture: an
// operation after which the host reads the device (a copy to the host, a
// synchronize), which would read it before the graph has run.
void cuda_graph_forbid_host_wait(const char *what);
// 1 between cuda_graph_step_begin() and cuda_graph_step_end() of a captured
// step: work issued now runs later, so nothing may be timed or read back
// (the attention's implementation choice waits for an eager step).
int cuda_graph_capturing(void);

#endif
