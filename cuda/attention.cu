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
// op_dropout gives it on the CPU's [B, H, T, S] tensor.
//
// Storage (issue 5 "Precision"): q, k, v and o have the DType passed beside
// them (bf16 under --precision bf16, as autocast's attention); they are
// widened into the f32 tiles on load (load_f32, cuda/common.cuh) and o is
// rounded on store, so the arithmetic above is f32 either way. mask, lse and
// the gradients are f32.
//
// Head dims: 16, 32 and 64 (the kernels are templated on Dh; lane l holds
// columns l, l + 32, ... below Dh); others stop.
#include <math.h>

#include "cuda/common.cuh"

namespace {

constexpr int BQ = 32;                 // queries per tile
constexpr int BK = 32;                 // keys per tile (one per lane in the score loops)
constexpr int WARPS = 4;
constexpr int THREADS = WARPS * 32;
constexpr int ROWS_PER_WARP = BQ / WARPS; // queries (forward, dQ) or keys (dK, dV) each warp owns

struct AttnArgs {
    const void *q, *k, *v; // of type dt
    DType dt;
    const float *mask;
    int64_t H, T, S;
    float scale, p, keep_scale;
    uint64_t seed, stream;
};

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

// score = (q·k)·scale + mask term, rounded step by step (no contraction into
// an FMA), as the CPU's op_scale then mask addition, and bit-identical in the
// forward and the backward, which recompute P from the forward's lse.
template <int DH>
__device__ __forceinline__ float score(const float *q, const float *k, float scale, float madd) {
    return __fadd_rn(__fmul_rn(row_dot<DH>(q, k), scale), madd);
}

// max_s mask[b, s] over the whole block (all threads must call it); −inf
// when the row is all −inf or there is no mask.
__device__ float mask_row_max(const float *mrow, int64_t S, float *red) {
    float mx = -INFINITY;
    if (mrow)
        for (int64_t s = threadIdx.x; s < S; s += THREADS) mx = fmaxf(mx, mrow[s]);
    mx = warp_max(mx);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = mx;
    __syncthreads();
    float r = red[0];
    for (int w = 1; w < WARPS; w++) r = fmaxf(r, red[w]);
    __syncthreads(); // red may be reused
    return r;
}

// The additive term of key s (s < S) after the shift described at the top.
__device__ __forceinline__ float mask_term(const float *mrow, float row_max, int64_t s) {
    return (mrow && row_max != -INFINITY) ? mrow[s] - row_max : 0.0f;
}

// The dropout factor of probability element `index`: 1/(1 − p) or 0.
__device__ __forceinline__ float keep_factor(const AttnArgs &a, uint64_t index) {
    if (a.p <= 0.0f) return 1.0f;
    return philox_uniform_dev(a.seed, a.stream, index) >= a.p ? a.keep_scale : 0.0f;
}

// dst[r][d] = src[base + (row0 + r)·DH + d] (src of type t, widened to f32)
// for the n rows of a tile, 0 past `limit`.
template <int DH, int LD>
__device__ void load_tile(float (*dst)[LD], const void *src, DType t, int64_t base, int64_t row0, int64_t limit,
                          int n) {
    for (int e = threadIdx.x; e < n * DH; e += THREADS) {
        int r = e / DH, d = e % DH;
        dst[r][d] = row0 + r < limit ? load_f32(src, t, base + (row0 + r) * DH + d) : 0.0f;
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
    const int64_t q_base = bh * T * DH, kv_base = bh * S * DH; // element offsets of this head
    const float *mrow = a.mask ? a.mask + (bh / a.H) * S : nullptr;
    const float row_max = mask_row_max(mrow, S, sm.red);
    load_tile<DH, DH>(sm.q, a.q, a.dt, q_base, t0, T, BQ);

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
        load_tile<DH, DH + 1>(sm.k, a.k, a.dt, kv_base, s0, S, BK);
        load_tile<DH, DH>(sm.v, a.v, a.dt, kv_base, s0, S, BK);
        if (threadIdx.x < BK) {
            int64_t s = s0 + threadIdx.x;
            sm.madd[threadIdx.x] = s < S ? mask_term(mrow, row_max, s) : -INFINITY; // past S: weight 0
        }
        __syncthreads();
#pragma unroll
        for (int r = 0; r < ROWS_PER_WARP; r++) {
            const int i = warp * ROWS_PER_WARP + r;
            const int64_t t = t0 + i;
            if (t >= T) break; // uniform across the warp
            // Lane j scores key s0 + j.
            float s = score<DH>(sm.q[i], sm.k[lane], a.scale, sm.madd[lane]);
            float m_new = fmaxf(m_run[r], warp_max(s));
            float m_use = m_new == -INFINITY ? 0.0f : m_new; // every key so far −inf: keep weights 0
            float e = expf(s - m_use);
            float alpha = expf(m_run[r] - m_use);
            l_run[r] = l_run[r] * alpha + warp_sum(e);
            m_run[r] = m_new;
            float pd = s0 + lane < S ? e * keep_factor(a, (uint64_t)((bh * T + t) * S + s0 + lane)) : 0.0f;
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
            if (has_col<DH>(lane, c)) store_f32(o, a.dt, (bh * T + t) * DH + lane + 32 * c, acc[r][c] * inv);
        if (lane == 0) lse[bh * T + t] = m_run[r] + logf(l_run[r]);
    }
}

// D[row] = Σ_d dO·O in double, one warp per row of [B·H·T, DH] (O as stored, of type ot).
template <int DH>
__global__ void attention_row_dot_kernel(const void *o, DType ot, const float *g, float *D, int64_t rows) {
    const int lane = threadIdx.x & 31;
    for (int64_t row = (int64_t)blockIdx.x * WARPS + (threadIdx.x >> 5); row < rows;
         row += (int64_t)gridDim.x * WARPS) { // uniform across the warp
        double s = 0.0;
        for (int d = lane; d < DH; d += 32) s += (double)load_f32(o, ot, row * DH + d) * (double)g[row * DH + d];
        s = warp_sum_d(s);
        if (lane == 0) D[row] = (float)s;
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
    load_tile<DH, DH>(sm.q, a.q, a.dt, bh * a.T * DH, t0, a.T, BQ);
    load_tile<DH, DH>(sm.dO, g, DTYPE_F32, bh * a.T * DH, t0, a.T, BQ);
    if (threadIdx.x < BQ) {
        int64_t t = t0 + threadIdx.x;
        sm.lse[threadIdx.x] = t < a.T ? lse[bh * a.T + t] : 0.0f;
        sm.D[threadIdx.x] = t < a.T ? D[bh * a.T + t] : 0.0f;
    }
}

template <int DH>
__device__ void load_key_tile(BackwardTiles<DH> &sm, const AttnArgs &a, int64_t bh, const float *mrow,
                              float row_max, int64_t s0) {
    load_tile<DH, DH + 1>(sm.k, a.k, a.dt, bh * a.S * DH, s0, a.S, BK);
    load_tile<DH, DH + 1>(sm.v, a.v, a.dt, bh * a.S * DH, s0, a.S, BK);
    if (threadIdx.x < BK) {
        int64_t s = s0 + threadIdx.x;
        sm.madd[threadIdx.x] = s < a.S ? mask_term(mrow, row_max, s) : 0.0f;
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
            float keep = keep_factor(a, (uint64_t)((bh * a.T + t) * a.S + s));
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
    const float row_max = mask_row_max(mrow, a.S, sm.red);
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
            const int64_t at = (bh * a.S + s) * DH + lane + 32 * c;
            if (dk) dk[at] += dK[r][c];
            if (dv) dv[at] += dV[r][c];
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
    const float row_max = mask_row_max(mrow, a.S, sm.red);
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
            if (has_col<DH>(lane, c)) dq[(bh * a.T + t) * DH + lane + 32 * c] += dQ[r][c];
    }
}

AttnArgs make_args(const void *q, const void *k, const void *v, DType t, const float *mask, int64_t H, int64_t T,
                   int64_t S, float scale, float p, uint64_t seed, uint64_t stream) {
    if (t != DTYPE_F32 && t != DTYPE_BF16) fatal("attention: q, k, v of type %s (f32 or bf16)", dtype_name(t));
    // p == 1 drops everything (op_dropout's convention): the scale must not be inf.
    return AttnArgs{q, k, v, t, mask, H, T, S, scale, p, p < 1.0f ? 1.0f / (1.0f - p) : 0.0f, seed, stream};
}

// The grid (B·H, tiles): blockIdx.y is limited to 65535.
dim3 grid_of(int64_t BH, int64_t n, int tile, const char *what) {
    int64_t tiles = (n + tile - 1) / tile;
    if (BH > 2147483647LL || tiles > 65535)
        fatal("attention: %s: %lld heads×batch and %lld tiles exceed the CUDA grid", what, (long long)BH,
              (long long)tiles);
    return dim3((unsigned)BH, (unsigned)tiles);
}

void check_head_dim(int64_t Dh) {
    if (Dh != 16 && Dh != 32 && Dh != 64)
        fatal("attention: head dim %lld is not supported by the CUDA kernels (cuda/attention.cu takes 16, 32 or "
              "64)",
              (long long)Dh);
}

void attention_forward(const void *q, const void *k, const void *v, DType t, const float *mask, void *o,
                       float *lse, int64_t B, int64_t H, int64_t T, int64_t S, int64_t Dh, float scale,
                       float dropout_p, uint64_t seed, uint64_t stream) {
    check_head_dim(Dh);
    if (B * H * T == 0) return;
    if (S <= 0) fatal("attention: no keys");
    AttnArgs a = make_args(q, k, v, t, mask, H, T, S, scale, dropout_p, seed, stream);
    dim3 grid = grid_of(B * H, T, BQ, "forward");
    if (Dh == 16)
        attention_forward_kernel<16><<<grid, THREADS, 0, cuda_stream()>>>(a, o, lse);
    else if (Dh == 32)
        attention_forward_kernel<32><<<grid, THREADS, 0, cuda_stream()>>>(a, o, lse);
    else
        attention_forward_kernel<64><<<grid, THREADS, 0, cuda_stream()>>>(a, o, lse);
    CUDA_LAUNCH_CHECK();
}

template <int DH>
void backward_launch(const AttnArgs &a, int64_t BH, const void *o, const float *lse, const float *g, float *dq,
                     float *dk, float *dv) {
    const int64_t rows = BH * a.T;
    float *D = (float *)cuda_scratch((size_t)rows * sizeof(float));
    attention_row_dot_kernel<DH><<<cuda_blocks(rows, WARPS), THREADS, 0, cuda_stream()>>>(o, a.dt, g, D, rows);
    CUDA_LAUNCH_CHECK();
    if (dk || dv) {
        attention_dkdv_kernel<DH><<<grid_of(BH, a.S, BK, "backward dK, dV"), THREADS, 0, cuda_stream()>>>(
            a, g, lse, D, dk, dv);
        CUDA_LAUNCH_CHECK();
    }
    if (dq) {
        attention_dq_kernel<DH><<<grid_of(BH, a.T, BQ, "backward dQ"), THREADS, 0, cuda_stream()>>>(a, g, lse, D,
                                                                                                     dq);
        CUDA_LAUNCH_CHECK();
    }
}

void attention_backward(const void *q, const void *k, const void *v, const void *o, DType t, const float *mask,
                        const float *lse, const float *g, float *dq, float *dk, float *dv, int64_t B, int64_t H,
                        int64_t T, int64_t S, int64_t Dh, float scale, float dropout_p, uint64_t seed,
                        uint64_t stream) {
    check_head_dim(Dh);
    if (B * H * T == 0 || S <= 0 || (!dq && !dk && !dv)) return; // no query: nothing to add
    AttnArgs a = make_args(q, k, v, t, mask, H, T, S, scale, dropout_p, seed, stream);
    if (Dh == 16)
        backward_launch<16>(a, B * H, o, lse, g, dq, dk, dv);
    else if (Dh == 32)
        backward_launch<32>(a, B * H, o, lse, g, dq, dk, dv);
    else
        backward_launch<64>(a, B * H, o, lse, g, dq, dk, dv);
}

} // namespace

void cuda_fill_attention(DeviceKernels *k) {
    k->attention_forward = attention_forward;
    k->attention_backward = attention_backward;
}
