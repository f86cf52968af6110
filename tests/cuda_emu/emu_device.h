// The CUDA C++ language on the host, for the kernel emulator: qualifiers,
// sync points, warp intrinsics, the round-to-nearest arithmetic intrinsics,
// and the launch that cu_to_cpp.py writes in place of `<<<...>>>`.
//
// The kernels of cuda/*.cu compile unchanged against this (g++ -std=c++20),
// apart from the launch and __shared__ rewrites of cu_to_cpp.py.
#ifndef TESTS_CUDA_EMU_EMU_DEVICE_H
#define TESTS_CUDA_EMU_EMU_DEVICE_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include <memory>
#include <source_location>
#include <tuple>
#include <type_traits>

#include "tests/cuda_emu/emu_graph.h"
#include "tests/cuda_emu/emu_memory.h"
#include "tests/cuda_emu/emu_scheduler.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __restrict__ __restrict
// The GNU attribute, as CUDA's host_defines.h has it for GCC: alignas may not
// follow `static`, which the __shared__ rewrite puts in front of it.
#define __align__(n) __attribute__((aligned(n)))
// __shared__ never reaches the compiler: cu_to_cpp.py rewrites each one into
// a registered static (emu_scheduler.h). One left over is a rewrite miss.
#define __shared__ __shared__is_rewritten_by_cu_to_cpp_py

// ---- block barriers ----

inline void __syncthreads(std::source_location at = std::source_location::current()) {
    emu_barrier(0, at.file_name(), (int)at.line());
}
inline int __syncthreads_or(int p, std::source_location at = std::source_location::current()) {
    return emu_barrier(p, at.file_name(), (int)at.line()) > 0;
}
inline int __syncthreads_and(int p, std::source_location at = std::source_location::current()) {
    return emu_barrier(p, at.file_name(), (int)at.line()) == (int)(blockDim.x * blockDim.y * blockDim.z);
}
inline int __syncthreads_count(int p, std::source_location at = std::source_location::current()) {
    return emu_barrier(p, at.file_name(), (int)at.line());
}

// ---- warp shuffles and votes: one exchange of the lanes' values each ----

inline unsigned int emu_lane(void) {
    return (threadIdx.x + threadIdx.y * blockDim.x + threadIdx.z * blockDim.x * blockDim.y) & 31u;
}

template <class T> uint64_t emu_bits(T v) {
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>, "shuffle of a type wider than 64 bits");
    uint64_t u = 0;
    memcpy(&u, &v, sizeof v);
    return u;
}
template <class T> T emu_from_bits(uint64_t u) {
    T v;
    memcpy(&v, &u, sizeof v);
    return v;
}

// Lane `src` of the caller's width-lane segment; CUDA's rule for sources out
// of range is applied by the callers.
template <class T>
T emu_shuffle(unsigned int mask, T v, unsigned int src, const std::source_location &at) {
    const uint64_t *slots = emu_warp_exchange(emu_bits(v), mask, at.file_name(), (int)at.line());
    return emu_from_bits<T>(slots[src & 31u]);
}

template <class T>
T __shfl_sync(unsigned int mask, T v, int src, int width = 32,
              std::source_location at = std::source_location::current()) {
    unsigned int base = emu_lane() & ~(unsigned int)(width - 1);
    return emu_shuffle(mask, v, base + ((unsigned int)src & (unsigned int)(width - 1)), at);
}
template <class T>
T __shfl_xor_sync(unsigned int mask, T v, int lane_mask, int width = 32,
                  std::source_location at = std::source_location::current()) {
    unsigned int lane = emu_lane(), src = lane ^ (unsigned int)lane_mask;
    // A source outside the caller's segment returns the caller's own value.
    if ((src & ~(unsigned int)(width - 1)) != (lane & ~(unsigned int)(width - 1))) src = lane;
    return emu_shuffle(mask, v, src, at);
}
template <class T>
T __shfl_down_sync(unsigned int mask, T v, unsigned int delta, int width = 32,
                   std::source_location at = std::source_location::current()) {
    unsigned int lane = emu_lane(), seg = lane & (unsigned int)(width - 1);
    return emu_shuffle(mask, v, seg + delta < (unsigned int)width ? lane + delta : lane, at);
}
template <class T>
T __shfl_up_sync(unsigned int mask, T v, unsigned int delta, int width = 32,
                 std::source_location at = std::source_location::current()) {
    unsigned int lane = emu_lane(), seg = lane & (unsigned int)(width - 1);
    return emu_shuffle(mask, v, seg >= delta ? lane - delta : lane, at);
}

inline unsigned int __ballot_sync(unsigned int mask, int p,
                                  std::source_location at = std::source_location::current()) {
    const uint64_t *slots = emu_warp_exchange(p != 0, mask, at.file_name(), (int)at.line());
    unsigned int bits = 0;
    for (int l = 0; l < 32; l++)
        if (mask >> l & 1u && slots[l]) bits |= 1u << l;
    return bits;
}
inline int __any_sync(unsigned int mask, int p, std::source_location at = std::source_location::current()) {
    return __ballot_sync(mask, p, at) != 0;
}
inline int __all_sync(unsigned int mask, int p, std::source_location at = std::source_location::current()) {
    return __ballot_sync(mask, p, at) == mask;
}
inline void __syncwarp(unsigned int mask = 0xffffffffu, std::source_location at = std::source_location::current()) {
    emu_warp_exchange(0, mask, at.file_name(), (int)at.line());
}

// ---- arithmetic intrinsics ----
// The _rn forms exist so that nvcc does not fuse a product into a following
// add (its default --fmad=true). The emulator compiles with
// -ffp-contract=fast as nvcc does, so these must not fuse either: the empty
// asm makes each result a value the compiler cannot see through.
#define EMU_ROUNDED(type, name, expr)                                                                  \
    inline type name(type a, type b) {                                                                 \
        type r = expr;                                                                                 \
        asm("" : "+x"(r));                                                                             \
        return r;                                                                                      \
    }
EMU_ROUNDED(float, __fadd_rn, a + b)
EMU_ROUNDED(float, __fsub_rn, a - b)
EMU_ROUNDED(float, __fmul_rn, a * b)
EMU_ROUNDED(float, __fdiv_rn, a / b)
EMU_ROUNDED(double, __dadd_rn, a + b)
EMU_ROUNDED(double, __dsub_rn, a - b)
EMU_ROUNDED(double, __dmul_rn, a * b)
EMU_ROUNDED(double, __ddiv_rn, a / b)
#undef EMU_ROUNDED
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline double __fma_rn(double a, double b, double c) { return fma(a, b, c); }
inline float __fsqrt_rn(float a) { return sqrtf(a); }
inline float __frcp_rn(float a) { return __fdiv_rn(1.0f, a); }
inline float rsqrtf(float a) { return 1.0f / sqrtf(a); }
inline double rsqrt(double a) { return 1.0 / sqrt(a); }
inline unsigned int __umulhi(unsigned int a, unsigned int b) { return (unsigned int)(((uint64_t)a * b) >> 32); }
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
    return (unsigned long long)(((unsigned __int128)a * b) >> 64);
}
inline int __float_as_int(float f) { return emu_from_bits<int>(emu_bits(f)); }
inline float __int_as_float(int i) { return emu_from_bits<float>(emu_bits(i)); }
inline unsigned int __float_as_uint(float f) { return emu_from_bits<unsigned int>(emu_bits(f)); }
inline float __uint_as_float(unsigned int i) { return emu_from_bits<float>(emu_bits(i)); }
inline long long __double_as_longlong(double d) { return emu_from_bits<long long>(emu_bits(d)); }
inline double __longlong_as_double(long long i) { return emu_from_bits<double>(emu_bits(i)); }
template <class T> T __ldg(const T *p) { return *p; }

// ---- the launch ----
// cu_to_cpp.py rewrites `k<<<grid, block, smem, stream>>>(args)` into
// `emu_launch("k", grid, block, smem, stream, emu_bind(k, args))`. The
// arguments are converted to the kernel's parameter types once, on the host,
// as the real launch does; each thread then gets its own copies.

template <class... P> struct EmuCall {
    void (*kernel)(P...);
    std::tuple<P...> args;
};
template <class... P> EmuCall<P...> emu_bind(void (*kernel)(P...), std::type_identity_t<P>... args) {
    return EmuCall<P...>{kernel, std::tuple<P...>(args...)};
}
template <class... P> void emu_thread_body(const void *call) {
    const EmuCall<P...> *c = (const EmuCall<P...> *)call;
    std::apply(c->kernel, c->args);
}

// The sticky error of the last launch, returned by cudaGetLastError.
extern int emu_last_launch_error;

// A GPU cannot dereference host memory: every pointer argument must be NULL
// or device memory.
template <class T> void emu_check_argument(const char *name, int i, const T &arg) {
    if constexpr (std::is_pointer_v<T>)
        if (arg != nullptr && !emu_memory_contains((const void *)arg))
            emu_fail("argument %d of kernel %s is %p, which is no device memory", i, name, (const void *)arg);
}

template <class Stream, class... P>
void emu_launch(const char *name, dim3 grid, dim3 block, size_t dynamic_shared, Stream stream,
                const EmuCall<P...> &call) {
    (void)stream; // one stream: launches run in issue order, here at once
    std::apply([&](const P &...a) {
        int i = 0;
        (emu_check_argument(name, i++, a), ...);
    }, call.args);
    if (emu_graph_capturing()) { // a node holding its own copy of the arguments
        auto held = std::make_shared<EmuCall<P...>>(call);
        emu_graph_record((const void *)call.kernel, [=] {
            emu_memory_open();
            int err = emu_run_grid(name, (const void *)held->kernel, grid, block, dynamic_shared,
                                   emu_thread_body<P...>, held.get());
            emu_memory_close();
            if (err) emu_fail("kernel %s, run by a graph, has a launch configuration the GPU rejects (error %d)", name, err);
        });
        return;
    }
    emu_memory_open();
    int err = emu_run_grid(name, (const void *)call.kernel, grid, block, dynamic_shared, emu_thread_body<P...>, &call);
    emu_memory_close();
    if (err) emu_last_launch_error = err;
}

#endif
