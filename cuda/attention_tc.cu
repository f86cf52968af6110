// Fused attention on tensor cores, for bf16 q, k, v and o (--precision bf16,
// issue 5 "Precision"): the contract and the FlashAttention-2 structure of
// cuda/attention.cu (online softmax, no T×S matrix in global memory, lse
// saved, P recomputed in the backward, results ADDED into f32 dq, dk, dv,
// no atomics, so two runs agree bit for bit), with the four products of each
// tile (S = Q·Kᵀ, O += P·V; dP = dO·Vᵀ, dV += Pᵀ·dO, dK += dSᵀ·Q, dQ += dS·K)
// as WMMA 16×16×16 bf16 multiplies with f32 accumulation. As in FlashAttention
// and PyTorch's bf16 attention, P, dS and dO enter their products rounded to
// bf16; the softmax, its running max and sum, the mask and dropout stay f32
// (conventions: cuda/attention_common.cuh).
//
// Each warp owns 16 rows of a tile (queries, or keys in the dK/dV kernel) and
// works on them alone between block barriers; __syncwarp orders its own
// shared-memory writes and the WMMA loads that read them. Shared rows are
// padded (8 bf16 or 4 f32) so that ldm stays a multiple of 8 bf16 / 4 f32 and
// every 16-row block starts 32-byte aligned, as WMMA requires.
#include <mma.h>

#include "cuda/attention_common.cuh"

namespace {

namespace wmma = nvcuda::wmma;
using bf16 = __nv_bfloat16;
using FragA = wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major>;
using FragAT = wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::col_major>; // reads a stored Aᵀ
using FragB = wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major>;
using FragBT = wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major>; // reads a stored Bᵀ
using FragC = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;

constexpr int WARPS = ATTN_WARPS;
constexpr int THREADS = ATTN_THREADS;
constexpr int P16 = 8; // bf16 row padding
constexpr int P32 = 4; // f32 row padding
constexpr int BIG = 64;   // rows of the tile a block owns: 16 per warp
constexpr int SMALL = 32; // rows of the tiles that stream past it

__device__ __forceinline__ bf16 to_bf16(bf16 x) { return x; }
__device__ __forceinline__ bf16 to_bf16(float x) { return __float2bfloat16_rn(x); } // dO, an f32 gradient

// dst[r][d] = src[(row0 + r)·stride + d] as bf16 (src bf16 or f32), 0 past `limit`.
template <int DH, int LD, class T>
__device__ void load_rows(bf16 (*dst)[LD], const T *src, int64_t stride, int64_t row0, int64_t limit, int n) {
    for (int e = threadIdx.x; e < n * DH; e += THREADS) {
        int r = e / DH, d = e % DH;
        dst[r][d] = row0 + r < limit ? to_bf16(src[(row0 + r) * stride + d]) : __float2bfloat16_rn(0.0f);
    }
}

// madd[j] = the mask term of key s0 + j for the n keys of a tile; `past` for keys past S.
__device__ void load_mask_terms(float *madd, const float *mrow, float row_max, int64_t s0, int64_t S, int n,
                                float past) {
    if ((int)threadIdx.x < n) {
        int64_t s = s0 + threadIdx.x;
        madd[threadIdx.x] = s < S ? attn_mask_term(mrow, row_max, s) : past;
    }
}

// The saved lse and D of query rows t0.. of head bh (0 past T) for the n rows of a tile.
__device__ void load_row_terms(float *lse_dst, float *D_dst, const float *lse, const float *D, int64_t bh, int64_t t0,
                               int64_t T, int n) {
    if ((int)threadIdx.x < n) {
        int64_t t = t0 + threadIdx.x;
        lse_dst[threadIdx.x] = t < T ? lse[bh * T + t] : 0.0f;
        D_dst[threadIdx.x] = t < T ? D[bh * T + t] : 0.0f;
    }
}

// ---- forward: BIG queries per block, SMALL keys per tile ----

template <int DH>
struct __align__(32) ForwardTiles {
    union {
        bf16 q[BIG][DH + P16];  // staging of the Q fragments
        float o[BIG][DH + P32]; // then the unnormalised output rows
    } u;
    bf16 k[SMALL][DH + P16], v[SMALL][DH + P16];
    float s[BIG][SMALL + P32];  // scores
    bf16 p[BIG][SMALL + P16];   // dropped probabilities
    float madd[SMALL], scale_row[BIG], red[WARPS];
};

template <int DH>
__global__ void __launch_bounds__(THREADS) tc_forward_kernel(AttnArgs a, bf16 *o, float *lse) {
    constexpr int KD = DH / 16;
    __shared__ ForwardTiles<DH> sm;
    const int lane = threadIdx.x & 31, r0 = (threadIdx.x >> 5) * 16;
    const int64_t bh = blockIdx.x, T = a.T, S = a.S, t0 = (int64_t)blockIdx.y * BIG;
    const int64_t qs = a.lay.q.row, kvs = a.lay.kv.row;
    const bf16 *q = (const bf16 *)a.q + attn_at(a.lay.q, bh, a.H, 0),
               *k = (const bf16 *)a.k + attn_at(a.lay.kv, bh, a.H, 0),
               *v = (const bf16 *)a.v + attn_at(a.lay.kv, bh, a.H, 0);
    const float *mrow = a.mask ? a.mask + (bh / a.H) * S : nullptr;
    const float row_max = attn_mask_row_max(mrow, S, sm.red);

    load_rows<DH>(sm.u.q, q, qs, t0, T, BIG);
    __syncthreads();
    FragA qf[KD];
#pragma unroll
    for (int kk = 0; kk < KD; kk++) wmma::load_matrix_sync(qf[kk], &sm.u.q[r0][kk * 16], DH + P16);
    __syncthreads(); // u.q becomes u.o
    for (int e = threadIdx.x; e < BIG * (DH + P32); e += THREADS) (&sm.u.o[0][0])[e] = 0.0f;

    float m_run[16], l_run[16]; // of the warp's rows, the same in every lane
#pragma unroll
    for (int r = 0; r < 16; r++) m_run[r] = -INFINITY, l_run[r] = 0.0f;
    for (int64_t s0 = 0; s0 < S; s0 += SMALL) {
        __syncthreads(); // the previous key tile is consumed (and o is zeroed)
        load_rows<DH>(sm.k, k, kvs, s0, S, SMALL);
        load_rows<DH>(sm.v, v, kvs, s0, S, SMALL);
        load_mask_terms(sm.madd, mrow, row_max, s0, S, SMALL, -INFINITY); // past S: weight 0
        __syncthreads();
#pragma unroll
        for (int n = 0; n < SMALL / 16; n++) { // S = Q·Kᵀ for the warp's rows
            FragC acc;
            wmma::fill_fragment(acc, 0.0f);
#pragma unroll
            for (int kk = 0; kk < KD; kk++) {
                FragBT kf;
                wmma::load_matrix_sync(kf, &sm.k[n * 16][kk * 16], DH + P16);
                wmma::mma_sync(acc, qf[kk], kf, acc);
            }
            wmma::store_matrix_sync(&sm.s[r0][n * 16], acc, SMALL + P32, wmma::mem_row_major);
        }
        __syncwarp();
        // Online softmax, lane j on key s0 + j (rows past T run too: their q is 0, o is not stored).
#pragma unroll
        for (int r = 0; r < 16; r++) {
            const int i = r0 + r;
            float alpha;
            float e = attn_online_softmax_step(attn_score(sm.s[i][lane], a.scale, sm.madd[lane]), m_run[r], l_run[r],
                                               alpha);
            float pd = s0 + lane < S ? e * attn_keep_factor(a, (uint64_t)((bh * T + t0 + i) * S + s0 + lane)) : 0.0f;
            sm.p[i][lane] = __float2bfloat16_rn(pd);
            if (lane == 0) sm.scale_row[i] = alpha;
        }
        __syncwarp();
        for (int e = lane; e < 16 * DH; e += 32) sm.u.o[r0 + e / DH][e % DH] *= sm.scale_row[r0 + e / DH];
        __syncwarp();
#pragma unroll
        for (int n = 0; n < KD; n++) { // o += P·V
            FragC acc;
            wmma::load_matrix_sync(acc, &sm.u.o[r0][n * 16], DH + P32, wmma::mem_row_major);
#pragma unroll
            for (int kk = 0; kk < SMALL / 16; kk++) {
                FragA pf;
                FragB vf;
                wmma::load_matrix_sync(pf, &sm.p[r0][kk * 16], SMALL + P16);
                wmma::load_matrix_sync(vf, &sm.v[kk * 16][n * 16], DH + P16);
                wmma::mma_sync(acc, pf, vf, acc);
            }
            wmma::store_matrix_sync(&sm.u.o[r0][n * 16], acc, DH + P32, wmma::mem_row_major);
        }
        __syncwarp();
    }
    // Lane r < 16 takes row r's terms, selected by an unrolled compare: an
    // index by lane would move both arrays out of registers into local memory.
    float m_row = 0.0f, l_row = 1.0f;
#pragma unroll
    for (int r = 0; r < 16; r++)
        if (lane == r) m_row = m_run[r], l_row = l_run[r];
    // l > 0 for a row below T: the shift leaves a key with mask term 0.
    if (lane < 16) sm.scale_row[r0 + lane] = 1.0f / l_row;
    __syncwarp();
    for (int e = lane; e < 16 * DH; e += 32) {
        const int r = e / DH, d = e % DH;
        const int64_t t = t0 + r0 + r;
        if (t < T) o[attn_at(a.lay.o, bh, a.H, t) + d] = __float2bfloat16_rn(sm.u.o[r0 + r][d] * sm.scale_row[r0 + r]);
    }
    if (lane < 16 && t0 + r0 + lane < T) lse[bh * T + t0 + r0 + lane] = m_row + logf(l_row);
}

// ---- backward, pairs of one query and one key ----

// p = exp(score − lse), pd = p·keep, ds = scale·p·(dP·keep − D) for query t,
// key s of the tiles; 0 past T or S.
__device__ __forceinline__ void backward_pair(const AttnArgs &a, int64_t bh, int64_t t, int64_t s, float dot,
                                              float dp, float madd, float lse, float D, float *pd, float *ds) {
    *pd = *ds = 0.0f;
    if (t >= a.T || s >= a.S) return;
    float p = expf(attn_score(dot, a.scale, madd) - lse);
    float keep = attn_keep_factor(a, (uint64_t)((bh * a.T + t) * a.S + s));
    *pd = p * keep;
    *ds = p * (dp * keep - D) * a.scale;
}

// ---- dQ: BIG queries per block, SMALL keys per tile ----

template <int DH>
struct __align__(32) DqTiles {
    union {
        struct {
            bf16 q[BIG][DH + P16], dO[BIG][DH + P16];
        } stage;                                  // before the key loop
        struct {
            float s[BIG][SMALL + P32], dp[BIG][SMALL + P32];
        } work;                                   // in it
        float dq[BIG][DH + P32];                  // after it
    } u;
    bf16 k[SMALL][DH + P16], v[SMALL][DH + P16];
    bf16 ds[BIG][SMALL + P16];
    float lse[BIG], D[BIG], madd[SMALL], red[WARPS];
};

template <int DH>
__global__ void __launch_bounds__(THREADS)
    tc_dq_kernel(AttnArgs a, const float *g, const float *lse, const float *D, float *dq) {
    constexpr int KD = DH / 16;
    __shared__ DqTiles<DH> sm;
    const int lane = threadIdx.x & 31, r0 = (threadIdx.x >> 5) * 16;
    const int64_t bh = blockIdx.x, T = a.T, S = a.S, t0 = (int64_t)blockIdx.y * BIG;
    const int64_t kvs = a.lay.kv.row;
    const bf16 *k = (const bf16 *)a.k + attn_at(a.lay.kv, bh, a.H, 0),
               *v = (const bf16 *)a.v + attn_at(a.lay.kv, bh, a.H, 0);
    const float *mrow = a.mask ? a.mask + (bh / a.H) * S : nullptr;
    const float row_max = attn_mask_row_max(mrow, S, sm.red);

    load_rows<DH>(sm.u.stage.q, (const bf16 *)a.q + attn_at(a.lay.q, bh, a.H, 0), a.lay.q.row, t0, T, BIG);
    load_rows<DH>(sm.u.stage.dO, g + attn_at(a.lay.o, bh, a.H, 0), a.lay.o.row, t0, T, BIG);
    load_row_terms(sm.lse, sm.D, lse, D, bh, t0, T, BIG);
    __syncthreads();
    FragA qf[KD], gf[KD];
    FragC dqf[KD];
#pragma unroll
    for (int kk = 0; kk < KD; kk++) {
        wmma::load_matrix_sync(qf[kk], &sm.u.stage.q[r0][kk * 16], DH + P16);
        wmma::load_matrix_sync(gf[kk], &sm.u.stage.dO[r0][kk * 16], DH + P16);
        wmma::fill_fragment(dqf[kk], 0.0f);
    }
    for (int64_t s0 = 0; s0 < S; s0 += SMALL) {
        __syncthreads(); // the previous key tile (or the staging) is consumed
        load_rows<DH>(sm.k, k, kvs, s0, S, SMALL);
        load_rows<DH>(sm.v, v, kvs, s0, S, SMALL);
        load_mask_terms(sm.madd, mrow, row_max, s0, S, SMALL, 0.0f);
        __syncthreads();
#pragma unroll
        for (int n = 0; n < SMALL / 16; n++) { // S = Q·Kᵀ and dP = dO·Vᵀ for the warp's rows
            FragC sacc, pacc;
            wmma::fill_fragment(sacc, 0.0f);
            wmma::fill_fragment(pacc, 0.0f);
#pragma unroll
            for (int kk = 0; kk < KD; kk++) {
                FragBT kf, vf;
                wmma::load_matrix_sync(kf, &sm.k[n * 16][kk * 16], DH + P16);
                wmma::load_matrix_sync(vf, &sm.v[n * 16][kk * 16], DH + P16);
                wmma::mma_sync(sacc, qf[kk], kf, sacc);
                wmma::mma_sync(pacc, gf[kk], vf, pacc);
            }
            wmma::store_matrix_sync(&sm.u.work.s[r0][n * 16], sacc, SMALL + P32, wmma::mem_row_major);
            wmma::store_matrix_sync(&sm.u.work.dp[r0][n * 16], pacc, SMALL + P32, wmma::mem_row_major);
        }
        __syncwarp();
        for (int r = 0; r < 16; r++) { // lane j on key s0 + j
            const int i = r0 + r;
            float pd, ds;
            backward_pair(a, bh, t0 + i, s0 + lane, sm.u.work.s[i][lane], sm.u.work.dp[i][lane], sm.madd[lane],
                          sm.lse[i], sm.D[i], &pd, &ds);
            sm.ds[i][lane] = __float2bfloat16_rn(ds);
        }
        __syncwarp();
#pragma unroll
        for (int n = 0; n < KD; n++) // dQ += dS·K
#pragma unroll
            for (int kk = 0; kk < SMALL / 16; kk++) {
                FragA df;
                FragB kf;
                wmma::load_matrix_sync(df, &sm.ds[r0][kk * 16], SMALL + P16);
                wmma::load_matrix_sync(kf, &sm.k[kk * 16][n * 16], DH + P16);
                wmma::mma_sync(dqf[n], df, kf, dqf[n]);
            }
    }
    __syncthreads(); // every warp is done with u.work
#pragma unroll
    for (int n = 0; n < KD; n++)
        wmma::store_matrix_sync(&sm.u.dq[r0][n * 16], dqf[n], DH + P32, wmma::mem_row_major);
    __syncwarp();
    for (int e = lane; e < 16 * DH; e += 32) {
        const int64_t t = t0 + r0 + e / DH;
        if (t < T) {
            const int64_t at = attn_at(a.lay.q, bh, a.H, t) + e % DH;
            dq[at] = GRAD_BEFORE(dq, at, a.dq_store) + sm.u.dq[r0 + e / DH][e % DH];
        }
    }
}

// ---- dK, dV: BIG keys per block, SMALL queries per tile ----

template <int DH>
struct __align__(32) DkdvTiles {
    union {
        struct {
            bf16 k[BIG][DH + P16], v[BIG][DH + P16];
        } stage;                                  // before the query loop
        struct {
            float s[SMALL][BIG + P32], dp[SMALL][BIG + P32];
        } work;                                   // in it
        float out[BIG][DH + P32];                 // after it
    } u;
    bf16 q[SMALL][DH + P16], dO[SMALL][DH + P16];
    bf16 pd[SMALL][BIG + P16], ds[SMALL][BIG + P16];
    float lse[SMALL], D[SMALL], madd[BIG], red[WARPS];
};

template <int DH>
__global__ void __launch_bounds__(THREADS)
    tc_dkdv_kernel(AttnArgs a, const float *g, const float *lse, const float *D, float *dk, float *dv) {
    constexpr int KD = DH / 16;
    __shared__ DkdvTiles<DH> sm;
    const int lane = threadIdx.x & 31, c0 = (threadIdx.x >> 5) * 16; // the warp's 16 keys
    const int64_t bh = blockIdx.x, T = a.T, S = a.S, s0 = (int64_t)blockIdx.y * BIG;
    const bf16 *q = (const bf16 *)a.q + attn_at(a.lay.q, bh, a.H, 0);
    const float *go = g + attn_at(a.lay.o, bh, a.H, 0);
    const float *mrow = a.mask ? a.mask + (bh / a.H) * S : nullptr;
    const float row_max = attn_mask_row_max(mrow, S, sm.red);

    load_rows<DH>(sm.u.stage.k, (const bf16 *)a.k + attn_at(a.lay.kv, bh, a.H, 0), a.lay.kv.row, s0, S, BIG);
    load_rows<DH>(sm.u.stage.v, (const bf16 *)a.v + attn_at(a.lay.kv, bh, a.H, 0), a.lay.kv.row, s0, S, BIG);
    load_mask_terms(sm.madd, mrow, row_max, s0, S, BIG, 0.0f);
    __syncthreads();
    FragBT kf[KD], vf[KD]; // the warp's keys as Kᵀ, Vᵀ operands
    FragC dkf[KD], dvf[KD];
#pragma unroll
    for (int kk = 0; kk < KD; kk++) {
        wmma::load_matrix_sync(kf[kk], &sm.u.stage.k[c0][kk * 16], DH + P16);
        wmma::load_matrix_sync(vf[kk], &sm.u.stage.v[c0][kk * 16], DH + P16);
        wmma::fill_fragment(dkf[kk], 0.0f);
        wmma::fill_fragment(dvf[kk], 0.0f);
    }
    const int j = lane & 15, half = lane >> 4; // lane: key c0 + j of queries half, half + 2, ...
    for (int64_t t0 = 0; t0 < T; t0 += SMALL) {
        __syncthreads(); // the previous query tile (or the staging) is consumed
        load_rows<DH>(sm.q, q, a.lay.q.row, t0, T, SMALL);
        load_rows<DH>(sm.dO, go, a.lay.o.row, t0, T, SMALL);
        load_row_terms(sm.lse, sm.D, lse, D, bh, t0, T, SMALL);
        __syncthreads();
#pragma unroll
        for (int m = 0; m < SMALL / 16; m++) { // S = Q·Kᵀ, dP = dO·Vᵀ on the warp's key columns
            FragC sacc, pacc;
            wmma::fill_fragment(sacc, 0.0f);
            wmma::fill_fragment(pacc, 0.0f);
#pragma unroll
            for (int kk = 0; kk < KD; kk++) {
                FragA qa, ga;
                wmma::load_matrix_sync(qa, &sm.q[m * 16][kk * 16], DH + P16);
                wmma::load_matrix_sync(ga, &sm.dO[m * 16][kk * 16], DH + P16);
                wmma::mma_sync(sacc, qa, kf[kk], sacc);
                wmma::mma_sync(pacc, ga, vf[kk], pacc);
            }
            wmma::store_matrix_sync(&sm.u.work.s[m * 16][c0], sacc, BIG + P32, wmma::mem_row_major);
            wmma::store_matrix_sync(&sm.u.work.dp[m * 16][c0], pacc, BIG + P32, wmma::mem_row_major);
        }
        __syncwarp();
        for (int i = half; i < SMALL; i += 2) {
            float pd, ds;
            backward_pair(a, bh, t0 + i, s0 + c0 + j, sm.u.work.s[i][c0 + j], sm.u.work.dp[i][c0 + j],
                          sm.madd[c0 + j], sm.lse[i], sm.D[i], &pd, &ds);
            sm.pd[i][c0 + j] = __float2bfloat16_rn(pd);
            sm.ds[i][c0 + j] = __float2bfloat16_rn(ds);
        }
        __syncwarp();
#pragma unroll
        for (int n = 0; n < KD; n++) // dV += Pᵀ·dO, dK += dSᵀ·Q
#pragma unroll
            for (int m = 0; m < SMALL / 16; m++) {
                FragAT pa, da;
                FragB gb, qb;
                wmma::load_matrix_sync(pa, &sm.pd[m * 16][c0], BIG + P16);
                wmma::load_matrix_sync(da, &sm.ds[m * 16][c0], BIG + P16);
                wmma::load_matrix_sync(gb, &sm.dO[m * 16][n * 16], DH + P16);
                wmma::load_matrix_sync(qb, &sm.q[m * 16][n * 16], DH + P16);
                wmma::mma_sync(dvf[n], pa, gb, dvf[n]);
                wmma::mma_sync(dkf[n], da, qb, dkf[n]);
            }
    }
    // Each gradient in turn through u.out, added into global memory.
    float *targets[2] = {dk, dv};
    const int stores[2] = {a.dk_store, a.dv_store};
    FragC *frags[2] = {dkf, dvf};
    for (int which = 0; which < 2; which++) {
        __syncthreads(); // every warp is done with u (work, or the previous gradient)
#pragma unroll
        for (int n = 0; n < KD; n++)
            wmma::store_matrix_sync(&sm.u.out[c0][n * 16], frags[which][n], DH + P32, wmma::mem_row_major);
        __syncwarp();
        if (!targets[which]) continue;
        for (int e = lane; e < 16 * DH; e += 32) {
            const int64_t s = s0 + c0 + e / DH;
            if (s < S) {
                const int64_t at = attn_at(a.lay.kv, bh, a.H, s) + e % DH;
                targets[which][at] = GRAD_BEFORE(targets[which], at, stores[which]) + sm.u.out[c0 + e / DH][e % DH];
            }
        }
    }
}

template <int DH>
void forward_launch(const AttnArgs &a, int64_t BH, void *o, float *lse) {
    tc_forward_kernel<DH><<<attn_grid(BH, a.T, BIG, "forward"), THREADS, 0, cuda_stream()>>>(a, (bf16 *)o, lse);
    CUDA_LAUNCH_CHECK();
}

template <int DH>
void backward_launch(const AttnArgs &a, int64_t BH, const float *lse, const float *g, const float *D, float *dq,
                     float *dk, float *dv) {
    if (dk || dv) {
        tc_dkdv_kernel<DH><<<attn_grid(BH, a.S, BIG, "backward dK, dV"), THREADS, 0, cuda_stream()>>>(a, g, lse, D,
                                                                                                    dk, dv);
        CUDA_LAUNCH_CHECK();
    }
    if (dq) {
        tc_dq_kernel<DH><<<attn_grid(BH, a.T, BIG, "backward dQ"), THREADS, 0, cuda_stream()>>>(a, g, lse, D, dq);
        CUDA_LAUNCH_CHECK();
    }
}

} // namespace

void attention_tc_forward(const AttnArgs &a, int64_t BH, int64_t Dh, void *o, float *lse) {
    if (Dh == 16)
        forward_launch<16>(a, BH, o, lse);
    else if (Dh == 32)
        forward_launch<32>(a, BH, o, lse);
    else
        forward_launch<64>(a, BH, o, lse);
}

void attention_tc_backward(const AttnArgs &a, int64_t BH, int64_t Dh, const float *lse, const float *g,
                           const float *D, float *dq, float *dk, float *dv) {
    if (Dh == 16)
        backward_launch<16>(a, BH, lse, g, D, dq, dk, dv);
    else if (Dh == 32)
        backward_launch<32>(a, BH, lse, g, D, dq, dk, dv);
    else
        backward_launch<64>(a, BH, lse, g, D, dq, dk, dv);
}
