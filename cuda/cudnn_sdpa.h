// cuDNN's fused scaled dot-product attention (the graph API's SDPA_FWD and
// SDPA_BWD operations, cuDNN 9), bf16 in and out, f32 statistics: one
// execution plan per shape, built on first use and kept.
//
// What the plans compute (no mask, no dropout: cuda/attention_cudnn.cu sends
// only such calls): o = softmax(q kᵀ·scale) v, and stats [B, H, T, 1] = the
// natural log-sum-exp of each row of q kᵀ·scale, which is what the
// handwritten kernels save as lse; the backward takes o, dO and the stats and
// writes dQ, dK and dV (bf16).
//
// Only engines without cuDNN's NONDETERMINISTIC note are used, so two runs
// agree bit for bit, as the handwritten kernels do.
#ifndef CUDA_CUDNN_SDPA_H
#define CUDA_CUDNN_SDPA_H

#include <stddef.h>
#include <stdint.h>

#include "autograd/device_kernels.h"

// One call as the plans see it. Strides in elements, each row's Dh values
// contiguous: q, k and v where the caller's layout puts them; dO has o's
// layout; dQ, dK and dV are heads first and dense ([B, H, T or S, Dh]).
typedef struct {
    int64_t backward; // 0: forward (int64 so that the key has no padding)
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
int cudnn_sdpa_backward(const SdpaShape *s, const void *q, const void *k, const void *v, const void *o,
                        const float *stats, const void *dO, void *dQ, void *dK, void *dV, float scale, char *why,
                        size_t size);

// Only the operation's descriptor, which cuDNN validates without a GPU:
// 0 when it is accepted, else -1 and why (tests/test_cuda_attention_cudnn.c).
int cudnn_sdpa_check_operation(const SdpaShape *s, char *why, size_t size);

#ifdef __cplusplus
}
#endif

#endif
