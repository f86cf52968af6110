// What the two fused-attention implementations share (cuda/attention.cu:
// f32 on CUDA cores; cuda/attention_tc.cu: bf16 on tensor cores): the
// arguments, the mask and dropout conventions, the row term of the backward,
// and the launch checks.
//
// Mask conventions (op_softmax's, mirrored): the additive mask [B, S] is
// shared by every row of batch element b, and softmax is invariant to adding
// one constant to a row, so the kernels add mask − max(mask row) instead of
// the mask. A row whose keys all carry the same large negative value (an
// all-padding sequence under BERT's −10000) then gives softmax(scores)
// exactly, as the CPU's double arithmetic does, instead of losing the scores
// to float rounding next to −10000. A mask row that is −inf everywhere is
// ignored (the CPU's fallback to the unmasked softmax); −inf entries of any
// other row give probability 0. The saved lse is that of the shifted scores.
//
// Dropout: probability element ((b·H + h)·T + t)·S + s is kept when
// philox_uniform(seed, stream, index) >= p and scaled by 1/(1 − p), the index
// op_dropout gives it on the CPU's [B, H, T, S] tensor; on a rank's shard,
// the index that element has in one process's tensor (rng_rows_index).
#ifndef CUDA_ATTENTION_COMMON_CUH
#define CUDA_ATTENTION_COMMON_CUH

#include <math.h>

#include "cuda/common.cuh"

constexpr int ATTN_WARPS = 4;
constexpr int ATTN_THREADS = ATTN_WARPS * 32;

struct AttnArgs {
    const void *q, *k, *v; // of type dt
    DType dt;
    const float *mask;
    int64_t H, T, S;
    AttentionLayout lay; // where each head's rows lie (autograd/device_kernels.h)
    float scale, p, keep_scale;
    uint64_t seed, stream;
    RngRows rows; // a rank's shard: the index is mapped to one process's (core/rng.h)
    // The backward's gradients stored, not added (device_kernels.h
    // "Conventions"); zero (added) unless attention_backward sets them.
    int dq_store, dk_store, dv_store;
};

// The element offset of row t of head bh % H of batch element bh / H.
__device__ __forceinline__ int64_t attn_at(const AttentionRows &r, int64_t bh, int64_t H, int64_t t) {
    return (bh / H) * r.batch + (bh % H) * r.head + t * r.row;
}

// max_s mask[b, s] over the whole block of ATTN_THREADS (all threads must
// call it); −inf when the row is all −inf or there is no mask.
__device__ __forceinline__ float attn_mask_row_max(const float *mrow, int64_t S, float *red) {
    float mx = -INFINITY;
    if (mrow)
        for (int64_t s = threadIdx.x; s < S; s += ATTN_THREADS) mx = fmaxf(mx, mrow[s]);
    mx = warp_max(mx);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = mx;
    __syncthreads();
    float r = red[0];
    for (int w = 1; w < ATTN_WARPS; w++) r = fmaxf(r, red[w]);
    __syncthreads(); // red may be reused
    return r;
}

// The additive term of key s (s < S) after the shift described at the top.
__device__ __forceinline__ float attn_mask_term(const float *mrow, float row_max, int64_t s) {
    return (mrow && row_max != -INFINITY) ? mrow[s] - row_max : 0.0f;
}

// The dropout factor of probability element `index`: 1/(1 − p) or 0.
__device__ __forceinline__ float attn_keep_factor(const AttnArgs &a, uint64_t index) {
    if (a.p <= 0.0f) return 1.0f;
    index = rng_rows_index(a.rows, a.H * a.T * a.S, index);
    return philox_uniform_dev(a.seed, a.stream, index) >= a.p ? a.keep_scale : 0.0f;
}

// The score of a dot product: (q·k)·scale + mask term, rounded step by step
// (no FMA contraction), as the CPU's op_scale then the mask addition; the
// forward and the backward must get the same bits, so both call this.
__device__ __forceinline__ float attn_score(float dot, float scale, float madd) {
    return __fadd_rn(__fmul_rn(dot, scale), madd);
}

// One step of a row's online softmax, for the score sc of the key this lane
// holds (the warp holds the row's keys of the tile, one per lane): updates
// the running max m_run and sum l_run (the same in every lane), returns the
// key's weight exp(sc − max) and sets alpha, the factor that rescales what
// was accumulated under the previous max.
__device__ __forceinline__ float attn_online_softmax_step(float sc, float &m_run, float &l_run, float &alpha) {
    float m_new = fmaxf(m_run, warp_max(sc));
    float m_use = m_new == -INFINITY ? 0.0f : m_new; // every key so far −inf: keep weights 0
    float e = expf(sc - m_use);
    alpha = expf(m_run - m_use);
    l_run = l_run * alpha + warp_sum(e);
    m_run = m_new;
    return e;
}

// The row term of the backward in scratch memory: D[bh·T + t] = Σ_d dO·O
// over the BH·T rows of O (as stored, of type ot, where a.lay.o places them;
// dO likewise), summed in double; D = Σ_j dP_j P_j, also under dropout.
const float *attn_row_dot(const void *o, DType ot, const float *g, const AttnArgs &a, int64_t BH, int dh);

AttnArgs attn_make_args(const void *q, const void *k, const void *v, DType t, const float *mask, int64_t H,
                        int64_t T, int64_t S, const AttentionLayout &lay, float scale, float p, uint64_t seed,
                        uint64_t stream, RngRows rows);
// The grid (B·H, tiles of `tile` over n): blockIdx.y is limited to 65535.
dim3 attn_grid(int64_t BH, int64_t n, int tile, const char *what);
void attn_check_head_dim(int64_t Dh);

// The tensor-core path (cuda/attention_tc.cu) for bf16 q, k, v, o.
void attention_tc_forward(const AttnArgs &a, int64_t BH, int64_t Dh, void *o, float *lse);
void attention_tc_backward(const AttnArgs &a, int64_t BH, int64_t Dh, const float *lse, const float *g,
                           const float *D, float *dq, float *dk, float *dv);

// cuda/attention_cudnn.cu: 1 when the forward ran there (cuDNN's SDPA, or
// both implementations while they are timed), 0 when the kernels must run it.
int attention_cudnn_forward(const AttnArgs &a, int64_t B, int64_t Dh, void *o, float *lse);

#endif
