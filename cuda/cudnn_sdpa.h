// cuDNN's fused scaled dot-product attention forward (the graph API's
// SDPA_FWD operation, cuDNN 9.13.1 and later), bf16 in and out, f32
// statistics: one execution plan per shape, built on first use and kept.
//
// What a plan computes (no mask, no dropout: cuda/attention_cudnn.cu sends
// only such calls): o = softmax(q kᵀ·scale) v, and stats [B, H, T, 1] = the
// natural log-sum-exp of each row of q kᵀ·scale, which is what the
// handwritten kernels save as lse, so their backward takes it.
//
// No backward here: cuDNN's SDPA_BWD operation makes no operation graph in
// cuDNN 9.19 (finalize: CUDNN_STATUS_BAD_PARAM, "outputGraph.buildDAG()",
// measured here; its library registers a graph node for SDPA_FWD only), and
// cudnn-frontend builds the backward as a composite graph of matmuls,
// pointwise operations and reductions instead.
//
// Only engines without cuDNN's NONDETERMINISTIC note are used, so two runs
// agree bit for bit, as the handwritten kernels do.
#ifndef CUDA_CUDNN_SDPA_H
#define CUDA_CUDNN_SDPA_H

#include <stddef.h>
#include <stdint.h>

#include "autograd/device_kernels.h"

// One call as the plans see it. Strides in elements, each row's Dh values
// contiguous: q, k, v and o where the caller's layout puts them.
typedef struct {
    int64_t B, H, T, S, Dh;
    AttentionRows q, kv, o;
} SdpaShape;

#ifdef __cplusplus
extern "C" {
#endif

// Runs the call; 0, or -1 with why (cuDNN not loaded, no GPU, no engine for
// this shape) when no plan can be built: the caller runs its own kernels.
// All pointers 16-byte aligned (cuda/attention_cudnn.cu checks).
int cudnn_sdpa_forward(const SdpaShape *s, const void *q, const void *k, const void *v, void *o, float *stats,
                       float scale, char *why, size_t size);

// Only the operation and its graph, which cuDNN builds and validates without
// a GPU: 0 when accepted, else -1 and why (tests/test_cuda_attention_cudnn.c).
int cudnn_sdpa_check_graph(const SdpaShape *s, char *why, size_t size);

#ifdef __cplusplus
}
#endif

#endif
