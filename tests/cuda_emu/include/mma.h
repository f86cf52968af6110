// Stand-in for CUDA's <mma.h> (nvcuda::wmma) in the kernel emulator: the
// subset the tensor-core kernels use, bf16 inputs with f32 accumulation in
// the m16n16k16 shape, with the real header's names and signatures.
//
// How a fragment's elements are spread over the lanes is unspecified in CUDA
// (CUDA C++ Programming Guide, "Warp Matrix Functions"), so a kernel may only
// touch x[] elementwise (the same operation on every element). That lets each
// emulated thread hold the whole 16x16 tile: num_elements is 256 here, 8 on
// the GPU, and every lane loads, multiplies and stores the full tile (the
// stores write identical values).
//
// What a GPU would get wrong silently or fault on stops the program here,
// with the caller's file:line: a pointer not 256-bit aligned, an ldm that is
// not a multiple of 16 bytes, and a warp whose lanes do not all call a *_sync
// function together.
#ifndef TESTS_CUDA_EMU_MMA_H
#define TESTS_CUDA_EMU_MMA_H

#include <stdint.h>

#include <source_location>
#include <type_traits>

#include "cuda_bf16.h" // the real <mma.h> includes it too
#include "tests/cuda_emu/emu_device.h"

namespace nvcuda {
namespace wmma {

struct matrix_a;
struct matrix_b;
struct accumulator;
struct row_major;
struct col_major;
enum layout_t { mem_row_major, mem_col_major };

template <class Use, int M, int N, int K, class T, class Layout = void> class fragment {
    static_assert(M == 16 && N == 16 && K == 16, "the emulator's wmma supports only the m16n16k16 shape");
    static_assert(std::is_same_v<Use, matrix_a> || std::is_same_v<Use, matrix_b> || std::is_same_v<Use, accumulator>,
                  "fragment use must be matrix_a, matrix_b or accumulator");
    static_assert(!std::is_same_v<Use, accumulator> || (std::is_same_v<T, float> && std::is_void_v<Layout>),
                  "the emulator's accumulator fragment is float, without a layout (it is given at load/store)");
    static_assert(std::is_same_v<Use, accumulator> ||
                      (std::is_same_v<T, __nv_bfloat16> &&
                       (std::is_same_v<Layout, row_major> || std::is_same_v<Layout, col_major>)),
                  "the emulator's matrix_a/matrix_b fragments are __nv_bfloat16, row_major or col_major");

  public:
    // The whole tile, row-major: a (i, k), b (k, j), accumulator (i, j).
    enum { num_elements = 16 * 16 };
    T x[num_elements];
};

// Checks shared by every *_sync call, at the caller's line.
template <class T> void emu_wmma_check(const char *what, const T *p, unsigned ldm, const std::source_location &at) {
    // WMMA instructions are warp-wide: a lane missing from the warp (a block
    // size that is not a multiple of 32) leaves the result undefined.
    unsigned int threads = blockDim.x * blockDim.y * blockDim.z;
    unsigned int tid = threadIdx.x + threadIdx.y * blockDim.x + threadIdx.z * blockDim.x * blockDim.y;
    if ((tid | 31u) >= threads)
        emu_fail("%s in a warp with fewer than 32 threads (block of %u) (%s:%u)", what, threads, at.file_name(),
                 (unsigned)at.line());
    if (p != nullptr) {
        // The Programming Guide's "Warp Matrix Functions" requires a 256-bit
        // aligned tile pointer and an ldm that is a multiple of 16 bytes (8
        // bf16 or 4 float elements); a GPU faults on the first or silently
        // reads the wrong elements on the second.
        if ((uintptr_t)p % 32 != 0)
            emu_fail("%s: pointer %p is not 32-byte (256-bit) aligned (%s:%u)", what, (const void *)p,
                     at.file_name(), (unsigned)at.line());
        if (ldm * sizeof(T) % 16 != 0)
            emu_fail("%s: ldm %u is not a multiple of %zu elements (16 bytes) (%s:%u)", what, ldm, 16 / sizeof(T),
                     at.file_name(), (unsigned)at.line());
    }
    // The warp's convergence point: every lane must arrive (the scheduler
    // reports lanes that exited or wait at __syncthreads instead), and at
    // the same call: lanes meeting at two different lines are divergent.
    const uint64_t *lines = emu_warp_exchange(at.line(), 0xffffffffu, at.file_name(), (int)at.line());
    for (int l = 0; l < 32; l++)
        if (lines[l] != at.line())
            emu_fail("%s: lane %u is here (%s:%u) but lane %d at line %llu: the warp diverged", what, emu_lane(),
                     at.file_name(), (unsigned)at.line(), l, (unsigned long long)lines[l]);
}

// Not a *_sync function: no warp-wide work, no convergence point.
template <class Use, int M, int N, int K, class T, class Layout>
void fill_fragment(fragment<Use, M, N, K, T, Layout> &f, const T &v) {
    for (int e = 0; e < f.num_elements; e++) f.x[e] = v;
}

template <class Use, int M, int N, int K, class T, class Layout>
    requires(!std::is_same_v<Use, accumulator>)
void load_matrix_sync(fragment<Use, M, N, K, T, Layout> &f, const T *p, unsigned ldm,
                      std::source_location at = std::source_location::current()) {
    emu_wmma_check("load_matrix_sync", p, ldm, at);
    // Element (r, c) of the tile: (i, k) for matrix_a, (k, j) for matrix_b.
    // col_major stores column c contiguously, for either use.
    const bool rows = std::is_same_v<Layout, row_major>;
    for (int r = 0; r < 16; r++)
        for (int c = 0; c < 16; c++) f.x[r * 16 + c] = rows ? p[r * ldm + c] : p[c * ldm + r];
}

template <int M, int N, int K>
void load_matrix_sync(fragment<accumulator, M, N, K, float> &f, const float *p, unsigned ldm, layout_t layout,
                      std::source_location at = std::source_location::current()) {
    emu_wmma_check("load_matrix_sync", p, ldm, at);
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++) f.x[i * 16 + j] = layout == mem_row_major ? p[i * ldm + j] : p[j * ldm + i];
}

template <int M, int N, int K>
void store_matrix_sync(float *p, const fragment<accumulator, M, N, K, float> &f, unsigned ldm, layout_t layout,
                       std::source_location at = std::source_location::current()) {
    emu_wmma_check("store_matrix_sync", p, ldm, at);
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++) (layout == mem_row_major ? p[i * ldm + j] : p[j * ldm + i]) = f.x[i * 16 + j];
}

// d = a·b + c in float. Each sum starts from c and adds the products in k
// order, so a chain of mma_sync over k-tiles sums like one plain k loop (the
// tensor cores' order differs; compare with tolerances). d may alias c.
template <int M, int N, int K, class LA, class LB>
void mma_sync(fragment<accumulator, M, N, K, float> &d, const fragment<matrix_a, M, N, K, __nv_bfloat16, LA> &a,
              const fragment<matrix_b, M, N, K, __nv_bfloat16, LB> &b, const fragment<accumulator, M, N, K, float> &c,
              std::source_location at = std::source_location::current()) {
    emu_wmma_check<float>("mma_sync", nullptr, 0, at);
    float out[16 * 16];
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++) {
            float s = c.x[i * 16 + j];
            for (int k = 0; k < 16; k++) s += __bfloat162float(a.x[i * 16 + k]) * __bfloat162float(b.x[k * 16 + j]);
            out[i * 16 + j] = s;
        }
    for (int e = 0; e < 16 * 16; e++) d.x[e] = out[e];
}

} // namespace wmma
} // namespace nvcuda

#endif
