// Fused scaled dot-product attention (autograd/device_kernels.h, the contract
// of op_attention in autograd/ops/op_attention.c), in the manner of
// FlashAttention-2 (Dao, 2023), computing in fp32:
//   forward:  one block per (b·H + h, tile of BQ queries); key/value tiles of
//             BK rows stream through shared memory; each query row keeps a
//             running max and sum (online softmax), so no T×S matrix exists
//             in global memory; the row's log-sum-exp is saved.
//   backward: P is recomputed from q, k and the saved log-sum-exp, and
//             D_i = Σ_d dO·O (= Σ_j dP_j P_j, also under dropout). dK and dV:
//             one block per key tile looping over every query tile; dQ: one
//             block per query tile looping over every key tile. Each gradient
//             element is summed by one thread in a fixed order (no atomics),
//             so two runs agree bit for bit; results are ADDED into dq, dk, dv.
//
// Mask and dropout conventions: cuda/attention_common.cuh.
//
// Storage (issue 5 "Precision"): f32 q, k, v and o run here; bf16 ones (the
// projections' outputs under --precision bf16) go to the tensor-core kernels
// of cuda/attention_tc.cu, their forward to cuDNN's fused attention where
// cuda/attention_cudnn.cu chooses it (cuda/backend.h cuda_attention_use).
// These kernels read their tiles through load_f32 (cuda/common.cuh), so they
// would take bf16 too. mask, lse and the gradients are f32.
//
// Head dims: 16, 32 and 64 (the kernels are templated on Dh; lane l holds
// columns l, l + 32, ... below Dh); others stop.
#include "cuda/attention_common.cuh"

namespace {

constexpr int WARPS = ATTN_WARPS;
constexpr int THREADS = ATTN_THREADS;

constexpr int BQ = 32;                 // queries per tile
constexpr int BK = 32;                 // keys per tile (one per lane in the score loops)
constexpr int ROWS_PER_WARP = BQ / WARPS; // queries (forward, dQ) or keys (dK, dV) each warp owns

// Output columns per lane (lane + 32·c), and whether column lane + 32·c
// exists: with Dh = 16 the upper half of each warp holds none.
template <int DH> constexpr int COLS_PER_LANE = (DH + 31) / 32;
template <int DH> __device__ __forceinline__ bool has_col(int lane, int c) { return lane + 32 * c < DH; }

// a·b over one head row, in a fixed order (the forward and the backward
// must get the same score bits, so both call this).
template <int DH>
__device__ __forceinline__ float row_dot(const float *a, const float *b) {
    float s = 0.0f;
#pragma unroll 16
    for (int d = 0; d < DH; d++) s = fmaf(a[d], b[d], s);
    return s;
}

// score = (q·k)·scale + mask term (attn_score), bit-identical in the forward
// and the backward, which recompute P from the forward's lse.
template <int DH>
__device__ __forceinline__ float score(const float *q, const float *k, float scale, float madd) {
    return attn_score(row_dot<DH>(q, k), scale, madd);
}

// dst[r][d] = src[base + (row0 + r)·stride + d] (src of type t, widened to
// f32) for the n rows of a tile, 0 past `limit`.
template <int DH, int LD>
__device__ void load_tile(float (*dst)[LD], const void *src, DType t, int64_t base, int64_t stride, int64_t row0,
                          int64_t limit, int n) {
    for (int e = threadIdx.x; e < n * DH; e += THREADS) {
        int r = e / DH, d = e % DH;
        dst[r][d] = row0 + r < limit ? load_f32(src, t, base + (row0 + r) * stride + d) : 0.0f;
    }
}

template <int DH>
struct ForwardTiles {
    float q[BQ][DH];
    float k[BK][DH + 1]; // +1: lane j reads row j, so the rows fall in different banks
    float v[BK][DH];
    float madd[BK];
    float red[WARPS];
};

template <int DH>
__global__ void __launch_bounds__(THREADS) attention_forward_kernel(AttnArgs a, void *o, float *lse) {
    constexpr int C = COLS_PER_LANE<DH>;
    __shared__ ForwardTiles<DH> sm;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int64_t bh = blockIdx.x, T = a.T, S = a.S, t0 = (int64_t)blockIdx.y * BQ;
    const int64_t q_base = attn_at(a.lay.q, bh, a.H, 0), kv_base = attn_at(a.lay.kv, bh, a.H, 0); // this head's
    const float *mrow = a.mask ? a.mask + (bh / a.H) * S : nullptr;
    const float row_max = attn_mask_row_max(mrow, S, sm.red);
    load_tile<DH, DH>(sm.q, a.q, a.dt, q_base, a.lay.q.row, t0, T, BQ);

    float m_run[ROWS_PER_WARP], l_run[ROWS_PER_WARP], acc[ROWS_PER_WARP][C];
#pragma unroll
    for (int r = 0; r < ROWS_PER_WARP; r++) {
        m_run[r] = -INFINITY;
        l_run[r] = 0.0f;
#pragma unroll
        for (int c = 0; c < C; c++) acc[r][c] = 0.0f;
    }
    for (int64_t s0 = 0; s0 < S; s0 += BK) {
        __syncthreads(); // the previous tile is consumed
        load_tile<DH, DH + 1>(sm.k, a.k, a.dt, kv_base, a.lay.kv.row, s0, S, BK);
        load_tile<DH, DH>(sm.v, a.v, a.dt, kv_base, a.lay.kv.row, s0, S, BK);
        if (threadIdx.x < BK) {
            int64_t s = s0 + threadIdx.x;
            sm.madd[threadIdx.x] = s < S ? attn_mask_term(mrow, row_max, s) : -INFINITY; // past S: weight 0
        }
        __syncthreads();
#pragma unroll
        for (int r = 0; r < ROWS_PER_WARP; r++) {
            const int i = warp * ROWS_PER_WARP + r;
            const int64_t t = t0 + i;
            if (t >= T) break; // uniform across the warp
            // Lane j scores key s0 + j.
            float alpha;
            float e = attn_online_softmax_step(score<DH>(sm.q[i], sm.k[lane], a.scale, sm.madd[lane]), m_run[r],
                                               l_run[r], alpha);
            float pd = s0 + lane < S ? e * attn_keep_factor(a, (uint64_t)((bh * T + t) * S + s0 + lane)) : 0.0f;
#pragma unroll
            for (int c = 0; c < C; c++) acc[r][c] *= alpha;
#pragma unroll 8
            for (int j = 0; j < BK; j++) {
                float pj = __shfl_sync(0xffffffffu, pd, j);
#pragma unroll
                for (int c = 0; c < C; c++)
                    if (has_col<DH>(lane, c)) acc[r][c] = fmaf(pj, sm.v[j][lane + 32 * c], acc[r][c]);
            }
        }
    }
#pragma unroll
    for (int r = 0; r < ROWS_PER_WARP; r++) {
        const int64_t t = t0 + warp * ROWS_PER_WARP + r;
        if (t >= T) break;
        // l > 0: the shift leaves a key with mask term 0, so the row has a finite score.
        float inv = 1.0f / l_run[r];
#pragma unroll
        for (int c = 0; c < C; c++)
            if (has_col<DH>(lane, c)) store_f32(o, a.dt, attn_at(a.lay.o, bh, a.H, t) + lane + 32 * c, acc[r][c] * inv);
        if (lane == 0) lse[bh * T + t] = m_run[r] + logf(l_run[r]);
    }
}

template <int DH>
struct BackwardTiles {
    float q[BQ][DH], dO[BQ][DH];
    float k[BK][DH + 1], v[BK][DH + 1]; // +1: lane j reads row j
    float pd[BQ][BK];                   // dropped probabilities P·keep
    float ds[BQ][BK];                   // score gradients, scale included
    float lse[BQ], D[BQ], madd[BK], red[WARPS];
};

// Query rows t0.. and their lse, D (0 past T) into the tiles.
template <int DH>
__device__ void load_query_tile(BackwardTiles<DH> &sm, const AttnArgs &a, int64_t bh, const float *g,
                                const float *lse, const float *D, int64_t t0) {
    load_tile<DH, DH>(sm.q, a.q, a.dt, attn_at(a.lay.q, bh, a.H, 0), a.lay.q.row, t0, a.T, BQ);
    load_tile<DH, DH>(sm.dO, g, DTYPE_F32, attn_at(a.lay.o, bh, a.H, 0), a.lay.o.row, t0, a.T, BQ);
    if (threadIdx.x < BQ) {
        int64_t t = t0 + threadIdx.x;
        sm.lse[threadIdx.x] = t < a.T ? lse[bh * a.T + t] : 0.0f;
        sm.D[threadIdx.x] = t < a.T ? D[bh * a.T + t] : 0.0f;
    }
}

template <int DH>
__device__ void load_key_tile(BackwardTiles<DH> &sm, const AttnArgs &a, int64_t bh, const float *mrow,
                              float row_max, int64_t s0) {
    const int64_t kv_base = attn_at(a.lay.kv, bh, a.H, 0);
    load_tile<DH, DH + 1>(sm.k, a.k, a.dt, kv_base, a.lay.kv.row, s0, a.S, BK);
    load_tile<DH, DH + 1>(sm.v, a.v, a.dt, kv_base, a.lay.kv.row, s0, a.S, BK);
    if (threadIdx.x < BK) {
        int64_t s = s0 + threadIdx.x;
        sm.madd[threadIdx.x] = s < a.S ? attn_mask_term(mrow, row_max, s) : 0.0f;
    }
}

// For the tiles in shared memory, every (query i, key j) pair:
//   P = exp(score − lse), dP = dO_i·v_j,
//   pd = P·keep,  ds = scale · P·(dP·keep − D_i)
// (0 for pairs past T or S). Warp w takes queries w, w+4, ...; lane j key j.
template <int DH>
__device__ void pair_tile(BackwardTiles<DH> &sm, const AttnArgs &a, int64_t bh, int64_t t0, int64_t s0) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int i = warp; i < BQ; i += WARPS) {
        const int64_t t = t0 + i, s = s0 + lane;
        float pd = 0.0f, ds = 0.0f;
        if (t < a.T && s < a.S) {
            float p = expf(score<DH>(sm.q[i], sm.k[lane], a.scale, sm.madd[lane]) - sm.lse[i]);
            float dp = row_dot<DH>(sm.dO[i], sm.v[lane]);
            float keep = attn_keep_factor(a, (uint64_t)((bh * a.T + t) * a.S + s));
            pd = p * keep;
            ds = p * (dp * keep - sm.D[i]) * a.scale;
        }
        sm.pd[i][lane] = pd;
        sm.ds[i][lane] = ds;
    }
}

// dK, dV of one key tile: warp w owns keys w·8 .. w·8+7, lane the columns
// lane + 32·c; each sums over every query in order.
template <int DH>
__global__ void __launch_bounds__(THREADS)
    attention_dkdv_kernel(AttnArgs a, const float *g, const float *lse, const float *D, float *dk, float *dv) {
    constexpr int C = COLS_PER_LANE<DH>;
    __shared__ BackwardTiles<DH> sm;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int64_t bh = blockIdx.x, s0 = (int64_t)blockIdx.y * BK;
    const float *mrow = a.mask ? a.mask + (bh / a.H) * a.S : nullptr;
    const float row_max = attn_mask_row_max(mrow, a.S, sm.red);
    load_key_tile<DH>(sm, a, bh, mrow, row_max, s0);

    float dK[ROWS_PER_WARP][C], dV[ROWS_PER_WARP][C];
#pragma unroll
    for (int r = 0; r < ROWS_PER_WARP; r++)
#pragma unroll
        for (int c = 0; c < C; c++) dK[r][c] = dV[r][c] = 0.0f;
    for (int64_t t0 = 0; t0 < a.T; t0 += BQ) {
        __syncthreads(); // the previous query tile is consumed
        load_query_tile<DH>(sm, a, bh, g, lse, D, t0);
        __syncthreads();
        pair_tile<DH>(sm, a, bh, t0, s0);
        __syncthreads();
#pragma unroll
        for (int r = 0; r < ROWS_PER_WARP; r++) {
            const int j = warp * ROWS_PER_WARP + r;
            for (int i = 0; i < BQ; i++) {
                float pd = sm.pd[i][j], ds = sm.ds[i][j];
#pragma unroll
                for (int c = 0; c < C; c++) {
                    if (!has_col<DH>(lane, c)) continue;
                    dV[r][c] = fmaf(pd, sm.dO[i][lane + 32 * c], dV[r][c]);
                    dK[r][c] = fmaf(ds, sm.q[i][lane + 32 * c], dK[r][c]);
                }
            }
        }
    }
#pragma unroll
    for (int r = 0; r < ROWS_PER_WARP; r++) {
        const int64_t s = s0 + warp * ROWS_PER_WARP + r;
        if (s >= a.S) break;
#pragma unroll
        for (int c = 0; c < C; c++) {
            if (!has_col<DH>(lane, c)) continue;
            const int64_t at = attn_at(a.lay.kv, bh, a.H, s) + lane + 32 * c;
            if (dk) dk[at] = GRAD_BEFORE(dk, at, a.dk_store) + dK[r][c];
            if (dv) dv[at] = GRAD_BEFORE(dv, at, a.dv_store) + dV[r][c];
        }
    }
}

// dQ of one query tile: warp w owns queries w·8 .. w·8+7; each sums over
// every key in order.
template <int DH>
__global__ void __launch_bounds__(THREADS)
    attention_dq_kernel(AttnArgs a, const float *g, const float *lse, const float *D, float *dq) {
    constexpr int C = COLS_PER_LANE<DH>;
    __shared__ BackwardTiles<DH> sm;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int64_t bh = blockIdx.x, t0 = (int64_t)blockIdx.y * BQ;
    const float *mrow = a.mask ? a.mask + (bh / a.H) * a.S : nullptr;
    const float row_max = attn_mask_row_max(mrow, a.S, sm.red);
    load_query_tile<DH>(sm, a, bh, g, lse, D, t0);

    float dQ[ROWS_PER_WARP][C];
#pragma unroll
    for (int r = 0; r < ROWS_PER_WARP; r++)
#pragma unroll
        for (int c = 0; c < C; c++) dQ[r][c] = 0.0f;
    for (int64_t s0 = 0; s0 < a.S; s0 += BK) {
        __syncthreads(); // the previous key tile is consumed
        load_key_tile<DH>(sm, a, bh, mrow, row_max, s0);
        __syncthreads();
        pair_tile<DH>(sm, a, bh, t0, s0);
        __syncthreads();
#pragma unroll
        for (int r = 0; r < ROWS_PER_WARP; r++) {
            const int i = warp * ROWS_PER_WARP + r;
            for (int j = 0; j < BK; j++) {
                float ds = sm.ds[i][j];
#pragma unroll
                for (int c = 0; c < C; c++)
                    if (has_col<DH>(lane, c)) dQ[r][c] = fmaf(ds, sm.k[j][lane + 32 * c], dQ[r][c]);
            }
        }
    }
#pragma unroll
    for (int r = 0; r < ROWS_PER_WARP; r++) {
        const int64_t t = t0 + warp * ROWS_PER_WARP + r;
        if (t >= a.T) break;
#pragma unroll
        for (int c = 0; c < C; c++)
            if (has_col<DH>(lane, c)) {
                const int64_t at = attn_at(a.lay.q, bh, a.H, t) + lane + 32 * c;
                dq[at] = GRAD_BEFORE(dq, at, a.dq_store) + dQ[r][c];
            }
    }
}

void attention_forward(const void *q, const void *k, const void *v, DType t, const float *mask, void *o,
                       float *lse, int64_t B, int64_t H, int64_t T, int64_t S, int64_t Dh,
                       const AttentionLayout *layout, float scale, float dropout_p, uint64_t seed, uint64_t stream,
                       RngRows rows) {
    attn_check_head_dim(Dh);
    if (B * H * T == 0) return;
    if (S <= 0) fatal("attention: no keys");
    AttnArgs a = attn_make_args(q, k, v, t, mask, H, T, S, *layout, scale, dropout_p, seed, stream, rows);
    if (t == DTYPE_BF16) {
        if (!attention_cudnn_forward(a, B, Dh, o, lse)) attention_tc_forward(a, B * H, Dh, o, lse);
        return;
    }
    dim3 grid = attn_grid(B * H, T, BQ, "forward");
    if (Dh == 16)
        attention_forward_kernel<16><<<grid, THREADS, 0, cuda_stream()>>>(a, o, lse);
    else if (Dh == 32)
        attention_forward_kernel<32><<<grid, THREADS, 0, cuda_stream()>>>(a, o, lse);
    else
        attention_forward_kernel<64><<<grid, THREADS, 0, cuda_stream()>>>(a, o, lse);
    CUDA_LAUNCH_CHECK();
}

template <int DH>
void backward_launch(const AttnArgs &a, int64_t BH, const float *lse, const float *g, const float *D, float *dq,
                     float *dk, float *dv) {
    if (dk || dv) {
        attention_dkdv_kernel<DH><<<attn_grid(BH, a.S, BK, "backward dK, dV"), THREADS, 0, cuda_stream()>>>(
            a, g, lse, D, dk, dv);
        CUDA_LAUNCH_CHECK();
    }
    if (dq) {
        attention_dq_kernel<DH><<<attn_grid(BH, a.T, BQ, "backward dQ"), THREADS, 0, cuda_stream()>>>(a, g, lse, D,
                                                                                                     dq);
        CUDA_LAUNCH_CHECK();
    }
}

void attention_backward(const void *q, const void *k, const void *v, const void *o, DType t, const float *mask,
                        const float *lse, const float *g, float *dq, float *dk, float *dv, int dq_store,
                        int dk_store, int dv_store, int64_t B, int64_t H, int64_t T, int64_t S, int64_t Dh,
                        const AttentionLayout *layout, float scale, float dropout_p, uint64_t seed, uint64_t stream,
                        RngRows rows) {
    attn_check_head_dim(Dh);
    if (B * H * T == 0 || S <= 0 || (!dq && !dk && !dv)) { // no query: nothing to add
        if ((dq_store || dk_store || dv_store) && B * H > 0) fatal("attention: a stored gradient with no query or key");
        return;
    }
    AttnArgs a = attn_make_args(q, k, v, t, mask, H, T, S, *layout, scale, dropout_p, seed, stream, rows);
    a.dq_store = dq_store;
    a.dk_store = dk_store;
    a.dv_store = dv_store;
    const float *D = attn_row_dot(o, t, g, a, B * H, (int)Dh);
    if (t == DTYPE_BF16)
        attention_tc_backward(a, B * H, Dh, lse, g, D, dq, dk, dv);
    else if (Dh == 16)
        backward_launch<16>(a, B * H, lse, g, D, dq, dk, dv);
    else if (Dh == 32)
        backward_launch<32>(a, B * H, lse, g, D, dq, dk, dv);
    else
        backward_launch<64>(a, B * H, lse, g, D, dq, dk, dv);
}

__global__ void attn_row_dot_kernel(const void *o, DType ot, const float *g, float *D, AttentionRows o_rows,
                                    int64_t H, int64_t T, int64_t rows, int dh) {
    const int lane = threadIdx.x & 31;
    for (int64_t row = (int64_t)blockIdx.x * WARPS + (threadIdx.x >> 5); row < rows;
         row += (int64_t)gridDim.x * WARPS) { // uniform across the warp
        const int64_t at = attn_at(o_rows, row / T, H, row % T); // row = bh·T + t
        double s = 0.0;
        for (int d = lane; d < dh; d += 32) s += (double)load_f32(o, ot, at + d) * (double)g[at + d];
        s = warp_sum_d(s);
        if (lane == 0) D[row] = (float)s;
    }
}

} // namespace

const float *attn_row_dot(const void *o, DType ot, const float *g, const AttnArgs &a, int64_t BH, int dh) {
    const int64_t rows = BH * a.T;
    float *D = (float *)cuda_scratch((size_t)rows * sizeof(float));
    attn_row_dot_kernel<<<cuda_blocks(rows, WARPS), THREADS, 0, cuda_stream()>>>(o, ot, g, D, a.lay.o, a.H, a.T,
                                                                                   rows, dh);
    CUDA_LAUNCH_CHECK();
    return D;
}

AttnArgs attn_make_args(const void *q, const void *k, const void *v, DType t, const float *mask, int64_t H,
                        int64_t T, int64_t S, const AttentionLayout &lay, float scale, float p, uint64_t seed,
                        uint64_t stream, RngRows rows) {
    if (t != DTYPE_F32 && t != DTYPE_BF16) fatal("attention: q, k, v of type %s (f32 or bf16)", dtype_name(t));
    // p == 1 drops everything (op_dropout's convention): the scale must not be inf.
    return AttnArgs{q, k, v, t, mask, H, T, S, lay, scale, p, p < 1.0f ? 1.0f / (1.0f - p) : 0.0f, seed, stream,
                    rows, 0, 0, 0};
}

dim3 attn_grid(int64_t BH, int64_t n, int tile, const char *what) {
    int64_t tiles = (n + tile - 1) / tile;
    if (BH > 2147483647LL || tiles > 65535)
        fatal("attention: %s: %lld heads×batch and %lld tiles exceed the CUDA grid", what, (long long)BH,
              (long long)tiles);
    return dim3((unsigned)BH, (unsigned)tiles);
}

void attn_check_head_dim(int64_t Dh) {
    if (Dh != 16 && Dh != 32 && Dh != 64)
        fatal("attention: head dim %lld is not supported by the CUDA kernels (cuda/attention.cu takes 16, 32 or "
              "64)",
              (long long)Dh);
}

void cuda_fill_attention(DeviceKernels *k) {
    k->attention_forward = attention_forward;
    k->attention_backward = attention_backward;
}
