// CUDA graphs and pinned host memory in the kernel emulator
// (tests/cuda_emu/emu_graph.h): the capture state of the one stream, graphs
// as lists of recorded nodes, and the ranges cudaHostAlloc gave.
#include <stdlib.h>

#include <map>
#include <vector>

#include "tests/cuda_emu/include/cuda_runtime.h"

const char emu_node_copy = 0, emu_node_fill = 0, emu_node_product = 0;

struct EmuNode {
    const void *kind;
    std::function<void()> run;
};
struct EmuGraph {
    std::vector<EmuNode> nodes;
};

static struct {
    bool active;
    bool invalidated; // a call the capture does not allow was made
    EmuGraph *graph;
} capture;

static std::map<const char *, size_t> pinned; // cudaHostAlloc's allocations: start -> bytes

bool emu_graph_capturing(void) { return capture.active; }

void emu_graph_record(const void *kind, std::function<void()> run) {
    if (!capture.invalidated) capture.graph->nodes.push_back(EmuNode{kind, std::move(run)});
}

int emu_graph_invalidate(void) {
    capture.invalidated = true;
    return cudaErrorStreamCaptureUnsupported;
}

bool emu_host_pinned(const void *p, size_t bytes) {
    auto it = pinned.upper_bound((const char *)p);
    if (it == pinned.begin()) return false;
    --it;
    return (const char *)p + bytes <= it->first + it->second;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t, cudaStreamCaptureMode) {
    if (capture.active) return cudaErrorStreamCaptureUnsupported;
    capture = {true, false, new EmuGraph};
    return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t, cudaGraph_t *graph) {
    if (!capture.active) return cudaErrorInvalidValue;
    bool broken = capture.invalidated;
    if (broken) delete capture.graph;
    *graph = broken ? nullptr : capture.graph;
    capture = {false, false, nullptr};
    return broken ? cudaErrorStreamCaptureInvalidated : cudaSuccess;
}

cudaError_t cudaGraphGetNodes(cudaGraph_t graph, cudaGraphNode_t *nodes, size_t *count) {
    if (nodes != nullptr) return cudaErrorInvalidValue; // only the count is emulated
    *count = graph->nodes.size();
    return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t graph, unsigned long long) {
    *exec = new EmuGraph(*graph);
    return cudaSuccess;
}

// Same nodes in the same order: only their arguments may change.
cudaError_t cudaGraphExecUpdate(cudaGraphExec_t exec, cudaGraph_t graph, cudaGraphExecUpdateResultInfo *info) {
    bool same = exec->nodes.size() == graph->nodes.size();
    for (size_t k = 0; same && k < graph->nodes.size(); k++) same = exec->nodes[k].kind == graph->nodes[k].kind;
    if (info) *info = cudaGraphExecUpdateResultInfo{same ? 0 : 1, nullptr, nullptr};
    if (!same) return cudaErrorGraphExecUpdateFailure;
    exec->nodes = graph->nodes;
    return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t) {
    if (capture.active) return cudaErrorStreamCaptureUnsupported; // no graph in a graph here
    for (const EmuNode &n : exec->nodes) n.run();
    return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
    delete graph;
    return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
    delete exec;
    return cudaSuccess;
}

cudaError_t cudaHostAlloc(void **p, size_t bytes, unsigned int) {
    *p = malloc(bytes ? bytes : 1);
    if (*p == nullptr) return cudaErrorMemoryAllocation;
    pinned[(const char *)*p] = bytes;
    return cudaSuccess;
}

cudaError_t cudaFreeHost(void *p) {
    if (p == nullptr) return cudaSuccess;
    if (pinned.erase((const char *)p) == 0) return cudaErrorInvalidValue;
    free(p);
    return cudaSuccess;
}
