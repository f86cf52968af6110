// Whole steps as CUDA graphs (cuda/backend.h, cuda_graph_step_*; issue 17,
// "launch overhead"): between cuda_graph_step_begin() and
// cuda_graph_step_end() the stream is captured instead of run, so every
// kernel, cuBLASLt product, copy and fill of the step becomes a node of one
// graph, and step_end launches that graph at once: one launch instead of a
// few thousand, and no gap between the kernels for the host's issue.
//
// The step's host code still runs each step (the tape is rebuilt; per-step
// values such as AdamW's step count, a sampling stream or a new batch are
// launch arguments and copies), so each step is captured anew and the
// previous step's executable graph is updated with the new arguments
// (cudaGraphExecUpdate); a step of another shape, whose nodes differ, is
// instantiated anew. So a graph step computes exactly what an eager step
// does, by construction, and the capture only moves when it runs.
//
// What a capture requires, enforced here and by the backends
// (cuda/graph.cuh):
// - the host reads nothing of the device inside the step (a copy to the
//   host, a synchronize): it would read it before the graph has run;
// - host memory that a copy to the device reads is copied at once into
//   pinned staging memory of this step, since the graph reads its source
//   when it runs and the host may have reused its buffer by then. Two
//   staging sets alternate: a step refills the set of two steps ago after
//   waiting for the graph that read it, so the host may capture step n + 1
//   while the device runs step n;
// - device memory released inside the step is released after the launch
//   (cudaFree waits for the graph's kernels that still use it);
// - no per-operation profiling or MMU_CUDA_SYNC=1, which wait per operation.
// A step is captured only once device memory has stopped changing: while
// the activation arena grows (the first steps, or the first after memory
// was given back), its chunks are made and released inside the step, and a
// capture would have to hold every released chunk until the graph has run
// (ALBEF-base's first fine-tuning step would have held 64 GiB instead of
// 11.7). So step_begin runs the step eagerly when any device memory was
// allocated or released since the previous step began; in a steady run that
// is the first three steps (the arena grows, then is merged into one chunk
// at the end of the step). A captured step that still allocates is allowed
// (the capture is "relaxed": cudaMalloc is not stream work).
#include "cuda/common.cuh"
#include "cuda/graph.cuh"

extern "C" {
#include "core/xalloc.h"
}

#define STAGING_ALIGN 256

// Plain arrays (no destructors): what they point to stays reachable to the
// end of the process, for which nothing is released.
typedef struct {
    unsigned char *base; // pinned
    size_t size;
} StagingChunk;

typedef struct {
    StagingChunk *chunks; // the last is being filled
    int n_chunks, chunk_capacity;
    size_t used;  // bytes taken from the last chunk
    size_t total; // bytes taken this step, all chunks
    cudaEvent_t read; // recorded after the launch of the graph that read this set
    int pending;      // `read` was recorded and not waited for
} StagingSet;

typedef struct {
    void *p;
    void (*release)(void *);
} LaterRelease;

static struct {
    int capturing;
    int eager;                 // this step runs without capture (memory was changing)
    long memory_changes;       // device allocations and releases so far
    long changes_at_last_begin; // memory_changes when the previous step began (-1: none began)
    long step; // graph steps so far; selects the staging set
    cudaGraphExec_t exec;
    StagingSet staging[2];
    LaterRelease *releases;
    int n_releases, release_capacity;
    CudaGraphStats stats;
} graphs = {0, 0, 0, -1, 0, NULL, {}, NULL, 0, 0, {}};

// Room for one more element in a malloc'ed array of `capacity` elements.
static void *grown(void *array, int count, int *capacity, size_t element) {
    if (count < *capacity) return array;
    *capacity = *capacity ? 2 * *capacity : 8;
    return xrealloc(array, (size_t)*capacity * element);
}

void cuda_graph_memory_changed(void) { graphs.memory_changes++; }

static StagingSet *current_set(void) { return &graphs.staging[graphs.step % 2]; }

static void add_chunk(StagingSet *s, size_t bytes) {
    void *p = NULL;
    CUDA_CHECK(cudaHostAlloc(&p, bytes, cudaHostAllocDefault));
    s->chunks = (StagingChunk *)grown(s->chunks, s->n_chunks, &s->chunk_capacity, sizeof *s->chunks);
    s->chunks[s->n_chunks++] = StagingChunk{(unsigned char *)p, bytes};
    s->used = 0;
}

// Before a step fills the set: the graph that read it two steps ago must be
// done; a set that needed several chunks is replaced by one that holds them.
static void reuse_set(StagingSet *s) {
    if (s->pending) CUDA_CHECK(cudaEventSynchronize(s->read));
    s->pending = 0;
    if (s->n_chunks > 1) {
        size_t all = 0;
        for (int k = 0; k < s->n_chunks; k++) {
            all += s->chunks[k].size;
            CUDA_CHECK(cudaFreeHost(s->chunks[k].base));
        }
        s->n_chunks = 0;
        add_chunk(s, all);
    }
    s->used = 0;
    s->total = 0;
}

const void *cuda_graph_staged(const void *src, size_t bytes) {
    if (!graphs.capturing || bytes == 0) return src;
    StagingSet *s = current_set();
    size_t need = (bytes + STAGING_ALIGN - 1) / STAGING_ALIGN * STAGING_ALIGN;
    if (s->n_chunks == 0 || s->used + need > s->chunks[s->n_chunks - 1].size)
        add_chunk(s, need > ((size_t)1 << 20) ? need : ((size_t)1 << 20));
    unsigned char *p = s->chunks[s->n_chunks - 1].base + s->used;
    s->used += need;
    s->total += need;
    memcpy(p, src, bytes);
    return p;
}

int cuda_graph_release_later(void *p, void (*release)(void *)) {
    if (!graphs.capturing) return 0;
    graphs.releases = (LaterRelease *)grown(graphs.releases, graphs.n_releases, &graphs.release_capacity,
                                            sizeof *graphs.releases);
    graphs.releases[graphs.n_releases++] = LaterRelease{p, release};
    return 1;
}

int cuda_graph_capturing(void) { return graphs.capturing; }

void cuda_graph_forbid_host_wait(const char *what) {
    if (graphs.capturing)
        fatal("%s inside a captured step (between cuda_graph_step_begin and cuda_graph_step_end): the host would "
              "read the device before the step's graph has run; move it after cuda_graph_step_end, or run the "
              "step without graphs",
              what);
}

extern "C" void cuda_graph_step_begin(void) {
    if (graphs.capturing || graphs.eager) fatal("cuda_graph_step_begin: the previous step has not ended");
    if (cuda_op_labels_wanted())
        fatal("cuda_graph_step_begin: a step cannot be captured while each operation is waited for "
              "(MMU_CUDA_SYNC=1) or profiled (--profile); run it without graphs");
    int steady = graphs.memory_changes == graphs.changes_at_last_begin;
    graphs.changes_at_last_begin = graphs.memory_changes;
    if (!steady) {
        graphs.eager = 1;
        graphs.stats.eager++;
        return;
    }
    StagingSet *s = current_set();
    if (s->read == NULL) CUDA_CHECK(cudaEventCreateWithFlags(&s->read, cudaEventDisableTiming));
    reuse_set(s);
    CUDA_CHECK(cudaStreamBeginCapture(cuda_stream(), cudaStreamCaptureModeRelaxed));
    graphs.capturing = 1;
}

extern "C" void cuda_graph_step_end(void) {
    if (graphs.eager) {
        graphs.eager = 0;
        return;
    }
    if (!graphs.capturing) fatal("cuda_graph_step_end: no step has begun (cuda_graph_step_begin first)");
    graphs.capturing = 0;
    cudaGraph_t graph = NULL;
    cudaError_t err = cudaStreamEndCapture(cuda_stream(), &graph);
    if (err != cudaSuccess)
        fatal("cuda_graph_step_end: the step's capture failed: %s (an operation inside it that a capture does "
              "not allow; cuda/graph.cu lists them)",
              cudaGetErrorString(err));
    size_t nodes = 0;
    CUDA_CHECK(cudaGraphGetNodes(graph, NULL, &nodes));
    if (graphs.exec != NULL) {
        cudaGraphExecUpdateResultInfo info;
        if (cudaGraphExecUpdate(graphs.exec, graph, &info) == cudaSuccess) {
            graphs.stats.updated++;
        } else { // other nodes (a new shape): the executable graph is made anew
            cudaGetLastError();
            CUDA_CHECK(cudaGraphExecDestroy(graphs.exec));
            graphs.exec = NULL;
        }
    }
    if (graphs.exec == NULL) {
        CUDA_CHECK(cudaGraphInstantiate(&graphs.exec, graph, 0));
        graphs.stats.instantiated++;
    }
    CUDA_CHECK(cudaGraphDestroy(graph));
    CUDA_CHECK(cudaGraphLaunch(graphs.exec, cuda_stream()));
    StagingSet *s = current_set();
    CUDA_CHECK(cudaEventRecord(s->read, cuda_stream()));
    s->pending = 1;
    graphs.stats.steps++;
    graphs.stats.nodes = (int64_t)nodes;
    if ((int64_t)s->total > graphs.stats.staged_bytes) graphs.stats.staged_bytes = (int64_t)s->total;
    graphs.step++;
    for (int k = 0; k < graphs.n_releases; k++) graphs.releases[k].release(graphs.releases[k].p);
    graphs.n_releases = 0;
}

extern "C" CudaGraphStats cuda_graph_stats(void) { return graphs.stats; }
