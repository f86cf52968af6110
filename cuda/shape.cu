// Shape and indexing kernels (autograd/device_kernels.h "shape and indexing"):
// block copies (concat, slice, split), permute, and the row lookups of
// embedding, index_select and gather with their scatter-add backwards.
//
// The backwards add without float atomics (the table's determinism rule):
// each destination element is owned by one thread, which adds its
// contributions in increasing source order, the order of the CPU loops in
// autograd/ops/op_index.c, so the sums are the CPU's bit for bit.
//
// copy_blocks and permute also move activations, which have the DType passed
// beside them (bf16 under --precision bf16, issue 5 "Precision"): elements go
// through load_f32/store_f32 (cuda/common.cuh), exact for either type.
#include "cuda/common.cuh"

static const int THREADS = 256;

// ---- copy_blocks ----

__global__ void copy_blocks_kernel(void *dst, int64_t dst_row, int64_t dst_off, const void *src, int64_t src_row,
                                   int64_t src_off, int64_t outer, int64_t len_inner, DType t, int accumulate) {
    int64_t total = outer * len_inner;
    for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < total; k += (int64_t)gridDim.x * blockDim.x) {
        int64_t o = k / len_inner, e = k - o * len_inner;
        float v = load_f32(src, t, o * src_row + src_off + e);
        int64_t d = o * dst_row + dst_off + e;
        store_f32(dst, t, d, accumulate ? load_f32(dst, t, d) + v : v);
    }
}

static void copy_blocks(void *dst, int64_t dst_row, int64_t dst_off, const void *src, int64_t src_row,
                        int64_t src_off, int64_t outer, int64_t len_inner, DType t, int accumulate) {
    if (outer <= 0 || len_inner <= 0) return;
    // Accumulation is for gradients, which are f32 (autograd/device_kernels.h).
    if (accumulate && t != DTYPE_F32) fatal("cuda copy_blocks: accumulation into %s (gradients are f32)",
                                            dtype_name(t));
    copy_blocks_kernel<<<cuda_blocks(outer * len_inner, THREADS), THREADS, 0, cuda_stream()>>>(
        dst, dst_row, dst_off, src, src_row, src_off, outer, len_inner, t, accumulate);
    CUDA_LAUNCH_CHECK();
}

// ---- permute ----

// The output's shape and, for each output dim, the stride of the x dim it
// reads: passed by value, so the kernel needs no device copy of them.
struct PermuteGeometry {
    int ndim;
    int64_t out_shape[TENSOR_MAX_DIMS];
    int64_t src_stride[TENSOR_MAX_DIMS];
};

// One thread per output element (coalesced writes); the x offset is
// Σ_e coord_e · x.stride[perm[e]], as op_permute's CPU loop. The map is a
// bijection, so accumulate (the backward) has no write conflicts.
__global__ void permute_kernel(const void *x, void *out, DType t, int64_t n, PermuteGeometry geo, int accumulate) {
    for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < n; k += (int64_t)gridDim.x * blockDim.x) {
        int64_t rem = k, src = 0;
#pragma unroll // a fixed trip count keeps geo in registers instead of a local copy
        for (int e = TENSOR_MAX_DIMS - 1; e >= 0; e--) {
            if (e >= geo.ndim) continue;
            int64_t c = rem % geo.out_shape[e];
            rem /= geo.out_shape[e];
            src += c * geo.src_stride[e];
        }
        float v = load_f32(x, t, src);
        store_f32(out, t, k, accumulate ? load_f32(out, t, k) + v : v);
    }
}

static void permute(const void *x, void *out, DType t, int ndim, const int64_t *x_shape, const int *perm,
                    int accumulate) {
    if (ndim < 0 || ndim > TENSOR_MAX_DIMS) fatal("cuda permute: %d dims (at most %d)", ndim, TENSOR_MAX_DIMS);
    if (accumulate && t != DTYPE_F32) fatal("cuda permute: accumulation into %s (gradients are f32)", dtype_name(t));
    int64_t x_stride[TENSOR_MAX_DIMS];
    int64_t n = 1;
    for (int e = ndim - 1; e >= 0; e--) {
        x_stride[e] = n;
        n *= x_shape[e];
    }
    if (n <= 0) return;
    PermuteGeometry geo;
    geo.ndim = ndim;
    for (int e = 0; e < ndim; e++) {
        geo.out_shape[e] = x_shape[perm[e]];
        geo.src_stride[e] = x_stride[perm[e]];
    }
    permute_kernel<<<cuda_blocks(n, THREADS), THREADS, 0, cuda_stream()>>>(x, out, t, n, geo, accumulate);
    CUDA_LAUNCH_CHECK();
}

// ---- index_select (and embedding: index_select of rows with outer = 1) ----

// y [outer, m, inner] = x [outer, n, inner] at rows idx[j].
__global__ void index_select_forward_kernel(const float *x, const int32_t *idx, float *y, int64_t outer, int64_t n,
                                            int64_t m, int64_t inner) {
    int64_t total = outer * m * inner;
    for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < total; k += (int64_t)gridDim.x * blockDim.x) {
        int64_t i = k % inner, oj = k / inner;
        int64_t j = oj % m, o = oj / m;
        y[k] = x[(o * n + idx[j]) * inner + i];
    }
}

static void index_select_forward(const float *x, const int32_t *idx, float *y, int64_t outer, int64_t n, int64_t m,
                                 int64_t inner) {
    if (outer <= 0 || m <= 0 || inner <= 0) return;
    index_select_forward_kernel<<<cuda_blocks(outer * m * inner, THREADS), THREADS, 0, cuda_stream()>>>(
        x, idx, y, outer, n, m, inner);
    CUDA_LAUNCH_CHECK();
}

static void embedding_forward(const float *table, const int32_t *ids, float *y, int64_t n_ids, int64_t D) {
    // n (the vocabulary) only enters the row stride through outer > 1.
    index_select_forward(table, ids, y, 1, 0, n_ids, D);
}

// dx[o, r, :] += Σ_{j: idx[j] = r, j ascending} g[o, j, :], one block per
// destination row r of one outer slice, threads over inner. The block owns
// its row, so the adds need no atomics and run in the CPU's order of j.
// Which rows get a block:
// - by_position: block (o, j0) for each position j0 whose index is the first
//   occurrence of its value (an earlier equal index means another block owns
//   the row); it scans j >= j0. Work ~ m² per slice: for m < n, e.g. token ids
//   into a 30522-row vocabulary, where most rows receive nothing.
// - otherwise block (o, r) for every row r, scanning all m positions: work
//   n·m per slice, for many positions into few rows (ViT's class token,
//   position ids).
__global__ void scatter_rows_kernel(const int32_t *idx, const float *g, float *dx, int64_t outer, int64_t n, int64_t m,
                                    int64_t inner, int by_position) {
    int64_t per_slice = by_position ? m : n;
    for (int64_t b = blockIdx.x; b < outer * per_slice; b += gridDim.x) { // b is uniform across the block
        int64_t o = b / per_slice, cand = b - o * per_slice;
        int64_t row = cand, start = 0;
        if (by_position) {
            row = idx[cand];
            start = cand;
            int earlier = 0;
            for (int64_t j = threadIdx.x; j < cand; j += blockDim.x) earlier |= idx[j] == row;
            if (__syncthreads_or(earlier)) continue; // the same value for every thread
        }
        const float *gs = g + o * m * inner;
        float *d = dx + (o * n + row) * inner;
        for (int64_t i = threadIdx.x; i < inner; i += blockDim.x) {
            float acc = d[i];
            int hit = 0;
            for (int64_t j = start; j < m; j++) {
                if (idx[j] != row) continue;
                acc += gs[j * inner + i];
                hit = 1;
            }
            if (hit) d[i] = acc; // rows no index reads stay untouched
        }
    }
}

static unsigned int block_threads(int64_t inner) {
    int64_t t = (inner + 31) / 32 * 32;
    return (unsigned int)(t < THREADS ? t : THREADS);
}

static void index_select_backward(const int32_t *idx, const float *g, float *dx, int64_t outer, int64_t n, int64_t m,
                                  int64_t inner) {
    if (dx == NULL || outer <= 0 || m <= 0 || inner <= 0) return;
    int by_position = m <= n;
    int64_t blocks = outer * (by_position ? m : n);
    unsigned int grid = (unsigned int)(blocks < 65535LL * 512 ? blocks : 65535LL * 512);
    scatter_rows_kernel<<<grid, block_threads(inner), 0, cuda_stream()>>>(idx, g, dx, outer, n, m, inner,
                                                                          by_position);
    CUDA_LAUNCH_CHECK();
}

static void embedding_backward(const int32_t *ids, const float *g, float *dtable, int64_t n_ids, int64_t V,
                               int64_t D) {
    index_select_backward(ids, g, dtable, 1, V, n_ids, D);
}

// ---- gather ----

// y[o, j, i] = x[o, idx[o, j, i], i], with idx of y's shape.
__global__ void gather_forward_kernel(const float *x, const int32_t *idx, float *y, int64_t outer, int64_t n,
                                      int64_t m, int64_t inner) {
    int64_t total = outer * m * inner;
    for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < total; k += (int64_t)gridDim.x * blockDim.x) {
        int64_t i = k % inner, o = k / (m * inner);
        y[k] = x[(o * n + idx[k]) * inner + i];
    }
}

static void gather_forward(const float *x, const int32_t *idx, float *y, int64_t outer, int64_t n, int64_t m,
                           int64_t inner) {
    if (outer <= 0 || m <= 0 || inner <= 0) return;
    gather_forward_kernel<<<cuda_blocks(outer * m * inner, THREADS), THREADS, 0, cuda_stream()>>>(x, idx, y, outer, n,
                                                                                                  m, inner);
    CUDA_LAUNCH_CHECK();
}

// One thread per column (o, i): the elements it scatters into, dx[o, :, i],
// belong to no other column, and it adds them in increasing j, the CPU's
// row-major order over idx. Neighbouring threads touch neighbouring i.
__global__ void gather_backward_kernel(const int32_t *idx, const float *g, float *dx, int64_t outer, int64_t n,
                                       int64_t m, int64_t inner) {
    int64_t cols = outer * inner;
    for (int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; c < cols; c += (int64_t)gridDim.x * blockDim.x) {
        int64_t o = c / inner, i = c - o * inner;
        const int32_t *ic = idx + o * m * inner + i;
        const float *gc = g + o * m * inner + i;
        float *dc = dx + o * n * inner + i;
        for (int64_t j = 0; j < m; j++) dc[(int64_t)ic[j * inner] * inner] += gc[j * inner];
    }
}

static void gather_backward(const int32_t *idx, const float *g, float *dx, int64_t outer, int64_t n, int64_t m,
                            int64_t inner) {
    if (dx == NULL || outer <= 0 || m <= 0 || inner <= 0) return;
    gather_backward_kernel<<<cuda_blocks(outer * inner, THREADS), THREADS, 0, cuda_stream()>>>(idx, g, dx, outer, n,
                                                                                               m, inner);
    CUDA_LAUNCH_CHECK();
}

void cuda_fill_shape(DeviceKernels *k) {
    k->copy_blocks = copy_blocks;
    k->permute = permute;
    k->embedding_forward = embedding_forward;
    k->embedding_backward = embedding_backward;
    k->index_select_forward = index_select_forward;
    k->index_select_backward = index_select_backward;
    k->gather_forward = gather_forward;
    k->gather_backward = gather_backward;
}
