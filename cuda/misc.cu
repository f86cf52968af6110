// Dropout, ViT patch extraction and CSR spmm (autograd/device_kernels.h
// "randomness, vision, graph"): the device twins of autograd/ops/op_dropout.c,
// op_patchify.c and op_spmm.c, each in the CPU op's element order.
#include "cuda/common.cuh"

static const int THREADS = 256;

// ---- dropout ----

// One thread per Philox block: its four words are the uniforms of elements
// 4b..4b+3 (core/rng.h layout, the same draw as philox_uniform_dev and the
// CPU loop), so the mask is the CPU's bit for bit. The product is rounded on
// its own (__fmul_rn) so that `dst += scale·src` is not fused into an FMA:
// the kept values then match the CPU's exactly too. src and dst have the type
// t (a bf16 activation under --precision bf16, issue 5 "Precision"), the
// product is taken in f32 and stored through store_f32 (cuda/common.cuh).
__global__ void dropout_kernel(const void *src, void *dst, DType t, int64_t n, float p, float scale, uint64_t seed,
                               uint64_t stream, int accumulate) {
    int64_t blocks = (n + 3) / 4;
    for (int64_t b = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; b < blocks;
         b += (int64_t)gridDim.x * blockDim.x) {
        uint32_t c[4] = {(uint32_t)b, (uint32_t)((uint64_t)b >> 32), (uint32_t)stream, (uint32_t)(stream >> 32)};
        philox4x32_10_dev(c, (uint32_t)seed, (uint32_t)(seed >> 32));
        for (int w = 0; w < 4; w++) {
            int64_t k = 4 * b + w;
            if (k >= n) break;
            float u = (float)(c[w] >> 8) * (1.0f / 16777216.0f);
            float v = u >= p ? __fmul_rn(scale, load_f32(src, t, k)) : 0.0f;
            store_f32(dst, t, k, accumulate ? load_f32(dst, t, k) + v : v);
        }
    }
}

// A rank's shard of a data-parallel batch: element k draws at its index in
// one process's tensor (core/rng.h rng_rows_index), one Philox block per
// element, as the CPU loop does for a shard.
__global__ void dropout_rows_kernel(const void *src, void *dst, DType t, int64_t n, float p, float scale,
                                    uint64_t seed, uint64_t stream, RngRows rows, int64_t row_elems, int accumulate) {
    for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < n; k += (int64_t)gridDim.x * blockDim.x) {
        float u = philox_uniform_dev(seed, stream, rng_rows_index(rows, row_elems, (uint64_t)k));
        float v = u >= p ? __fmul_rn(scale, load_f32(src, t, k)) : 0.0f;
        store_f32(dst, t, k, accumulate ? load_f32(dst, t, k) + v : v);
    }
}

static void dropout_apply(const void *src, void *dst, DType t, int64_t n, float p, float scale, uint64_t seed,
                          uint64_t stream, RngRows rows, int64_t row_elems, int accumulate) {
    if (n <= 0) return;
    if (rng_rows_identity(rows))
        dropout_kernel<<<cuda_blocks((n + 3) / 4, THREADS), THREADS, 0, cuda_stream()>>>(src, dst, t, n, p, scale,
                                                                                         seed, stream, accumulate);
    else
        dropout_rows_kernel<<<cuda_blocks(n, THREADS), THREADS, 0, cuda_stream()>>>(src, dst, t, n, p, scale, seed,
                                                                                     stream, rows, row_elems,
                                                                                     accumulate);
    CUDA_LAUNCH_CHECK();
}

// ---- patchify ----

// Offset into patches [B, (H/p)(W/p), C·p·p] of image element (b, c, y, x):
// patch (y/p, x/p) row-major over the grid, flattened in (c, i, j) order
// (op_patchify.c). A bijection between the two layouts.
__device__ __forceinline__ int64_t patch_offset(int64_t b, int64_t c, int64_t y, int64_t x, int64_t C, int64_t H,
                                                int64_t W, int64_t P) {
    int64_t gw = W / P, np = (H / P) * gw;
    int64_t q = (y / P) * gw + x / P;
    return (b * np + q) * (C * P * P) + (c * P + y % P) * P + x % P;
}

// Both directions walk the image in its own order (x fastest): the image side
// is read or updated coalesced, the patch side in runs of p.
__global__ void patchify_kernel(const float *img, float *patches, const float *g, float *dimg, int64_t B, int64_t C,
                                int64_t H, int64_t W, int64_t P) {
    int64_t n = B * C * H * W;
    for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < n; k += (int64_t)gridDim.x * blockDim.x) {
        int64_t x = k % W, t = k / W;
        int64_t y = t % H;
        t /= H;
        int64_t c = t % C, b = t / C;
        int64_t pat = patch_offset(b, c, y, x, C, H, W, P);
        if (dimg) dimg[k] += g[pat];
        else patches[pat] = img[k];
    }
}

static void patchify_launch(const float *img, float *patches, const float *g, float *dimg, int64_t B, int64_t C,
                            int64_t H, int64_t W, int p) {
    int64_t n = B * C * H * W;
    if (n <= 0) return;
    if (p <= 0 || H % p || W % p) fatal("cuda patchify: image %lldx%lld is not a multiple of patch %d", (long long)H,
                                        (long long)W, p);
    patchify_kernel<<<cuda_blocks(n, THREADS), THREADS, 0, cuda_stream()>>>(img, patches, g, dimg, B, C, H, W, p);
    CUDA_LAUNCH_CHECK();
}

static void patchify_forward(const float *img, float *patches, int64_t B, int64_t C, int64_t H, int64_t W, int p) {
    patchify_launch(img, patches, NULL, NULL, B, C, H, W, p);
}

static void patchify_backward(const float *g, float *dimg, int64_t B, int64_t C, int64_t H, int64_t W, int p) {
    if (dimg == NULL) return;
    patchify_launch(NULL, NULL, g, dimg, B, C, H, W, p);
}

// ---- spmm ----

// One block per row of A (grid-stride over rows), threads over the D columns:
// each thread owns y[r, d] and adds the row's entries in CSR order, as the
// CPU loop does (starting from 0, or from y when accumulating: the backward
// on Aᵀ, whose rows list their entries in increasing row of A, the order of
// the CPU backward's sums). __fmul_rn keeps the CPU's separate multiply and add.
__global__ void spmm_kernel(const int64_t *row_ptr, const int32_t *col_idx, const float *values, const float *x,
                            float *y, int64_t rows, int64_t D, int accumulate) {
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        int64_t e0 = row_ptr[r], e1 = row_ptr[r + 1];
        for (int64_t d = threadIdx.x; d < D; d += blockDim.x) {
            float acc = accumulate ? y[r * D + d] : 0.0f;
            for (int64_t e = e0; e < e1; e++) acc += __fmul_rn(values[e], x[(int64_t)col_idx[e] * D + d]);
            y[r * D + d] = acc;
        }
    }
}

static void spmm(const int64_t *row_ptr, const int32_t *col_idx, const float *values, const float *x, float *y,
                 int64_t rows, int64_t D, int accumulate) {
    if (rows <= 0 || D <= 0) return;
    int64_t t = (D + 31) / 32 * 32;
    unsigned int threads = (unsigned int)(t < THREADS ? t : THREADS);
    unsigned int grid = (unsigned int)(rows < 65535LL * 512 ? rows : 65535LL * 512);
    spmm_kernel<<<grid, threads, 0, cuda_stream()>>>(row_ptr, col_idx, values, x, y, rows, D, accumulate);
    CUDA_LAUNCH_CHECK();
}

void cuda_fill_misc(DeviceKernels *k) {
    k->dropout_apply = dropout_apply;
    k->patchify_forward = patchify_forward;
    k->patchify_backward = patchify_backward;
    k->spmm = spmm;
}
