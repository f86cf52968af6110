// bf16 copies of the parameter blocks (issue 17, Step 2: "a bf16 weight copy
// refreshed by the optimizer step instead of a cast per GEMM").
//
// Under --precision bf16 every product reads its f32 weight as bf16
// (cuda/gemm.cu). Without a copy each GEMM casts its weight into scratch: in
// the forward, again in the backward's input-gradient product, and in every
// forward of the frozen original model, step after step, though weights
// change only at the optimizer step. Here the value block of a ParamSet
// (announced by params_to_device through the kernel table's
// param_block_added) gets one bf16 twin, made at the first bf16 product that
// reads the block; a product then reads its weight's slice of the twin.
//
// The rule that keeps a twin equal to the cast of its block, bit for bit:
// - a twin is current or stale as a whole;
// - AdamW, SGD and the parameter clamp (cuda/optim.cu) write the twin's
//   slice in the same kernel as the f32 value, with the cast's rounding, so
//   a current twin stays current;
// - every device copy or fill that overlaps a block (a checkpoint or
//   best-epoch restore, L-codec's scatter, DtD's noise, a resume: the two
//   backends' memory functions call param_copies_written) and every other
//   kernel that writes a block (the EMA update calls the kernel table's
//   param_block_written) makes it stale; a stale twin is refreshed whole, by
//   one kernel, at the next product that reads it;
// - a released block drops its twin, so memory reused at the same address
//   never finds an old one.
// MMU_PARAM_COPY_CHECK=1 checks, at every product that reads a twin, that the
// slice equals the cast of the current f32 values, and stops naming the block
// and the element otherwise: a writer that bypasses the rule is found there
// (tests/cuda_emu/program_check.sh runs the programs so).
#include <stdlib.h>

#include "cuda/common.cuh"
#include "cuda/param_copies.cuh"

extern "C" {
#include "core/cli.h"
#include "core/device.h"
}

#define MAX_BLOCKS 64
#define CHECK_BLOCKS 64
#define CHECK_THREADS 256

typedef struct {
    const float *values;
    int64_t n;
    __nv_bfloat16 *copy; // NULL until the first read (or when the device had no room for it)
    int current;
} Block;

static struct {
    Block blocks[MAX_BLOCKS];
    int count;
    int off; // cuda_set_param_copies(0): every read casts, as without copies
    ParamCopyStats stats;
} state;

static Block *block_of(const void *p, size_t bytes) {
    const char *lo = (const char *)p, *hi = lo + bytes;
    for (int i = 0; i < state.count; i++) {
        const char *b = (const char *)state.blocks[i].values, *e = b + state.blocks[i].n * (int64_t)sizeof(float);
        if (lo >= b && hi <= e) return &state.blocks[i];
    }
    return NULL;
}

void param_copies_add(const float *values, int64_t n) {
    if (n <= 0) return;
    for (int i = 0; i < state.count; i++)
        if (state.blocks[i].values == values) fatal("parameter copies: the block at %p was announced twice", values);
    // A block past the table's end gets no copy: its products cast, as without copies (the probe of a whole
    // reproduction may hold a model per method at once).
    if (state.count == MAX_BLOCKS) return;
    state.blocks[state.count++] = Block{values, n, NULL, 0};
}

void param_copies_written(const void *p, size_t bytes) {
    const char *lo = (const char *)p, *hi = lo + bytes;
    for (int i = 0; i < state.count; i++) {
        const char *b = (const char *)state.blocks[i].values, *e = b + state.blocks[i].n * (int64_t)sizeof(float);
        if (lo < e && hi > b) state.blocks[i].current = 0;
    }
}

void param_copies_released(const void *p) {
    for (int i = 0; i < state.count; i++) {
        if (state.blocks[i].values != p) continue;
        __nv_bfloat16 *copy = state.blocks[i].copy;
        state.blocks[i] = state.blocks[--state.count];
        if (copy != NULL) device_release(DEVICE_CUDA, copy);
        return;
    }
}

__global__ void refresh_kernel(const float *values, __nv_bfloat16 *copy, int64_t n) {
    for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < n; k += (int64_t)gridDim.x * blockDim.x)
        copy[k] = __float2bfloat16_rn(values[k]);
}

// Each thread's first element (in its grid-stride order) whose copy differs
// from the cast of its value, or -1.
__global__ void check_kernel(const float *values, const __nv_bfloat16 *copy, int64_t n, int64_t *first_bad) {
    const int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    int64_t bad = -1;
    for (int64_t k = t; k < n && bad < 0; k += (int64_t)gridDim.x * blockDim.x) {
        const float want = __bfloat162float(__float2bfloat16_rn(values[k])), got = __bfloat162float(copy[k]);
        if (!(want == got || (want != want && got != got))) bad = k;
    }
    first_bad[t] = bad;
}

static int check_wanted(void) {
    static int mode = -1;
    if (mode < 0) mode = cli_env_switch("MMU_PARAM_COPY_CHECK");
    return mode;
}

static void check_slice(const Block *b, const float *x, int64_t n) {
    const int threads = CHECK_BLOCKS * CHECK_THREADS;
    int64_t *first_bad = (int64_t *)cuda_scratch((size_t)threads * sizeof(int64_t));
    const int64_t off = x - b->values;
    check_kernel<<<CHECK_BLOCKS, CHECK_THREADS, 0, cuda_stream()>>>(x, b->copy + off, n, first_bad);
    CUDA_LAUNCH_CHECK();
    int64_t *host = (int64_t *)malloc((size_t)threads * sizeof(int64_t));
    if (host == NULL) fatal("out of memory");
    device_copy(host, DEVICE_CPU, first_bad, DEVICE_CUDA, (size_t)threads * sizeof(int64_t));
    int64_t worst = -1;
    for (int i = 0; i < threads; i++)
        if (host[i] >= 0 && (worst < 0 || host[i] < worst)) worst = host[i];
    free(host);
    if (worst >= 0)
        fatal("MMU_PARAM_COPY_CHECK: the bf16 copy of the %lld-value parameter block at %p is out of date at "
              "element %lld: something wrote the block without marking it (cuda/param_copies.cu, the rule)",
              (long long)b->n, (const void *)b->values, (long long)(off + worst));
}

const __nv_bfloat16 *param_copy_read(const float *x, int64_t n) {
    if (state.off || n <= 0) return NULL;
    Block *b = block_of(x, (size_t)n * sizeof(float));
    if (b == NULL) return NULL;
    if (b->copy == NULL) {
        // No room on the device for the copy: the products keep casting.
        b->copy = (__nv_bfloat16 *)cuda_try_alloc((size_t)b->n * sizeof(__nv_bfloat16));
        if (b->copy == NULL) return NULL;
        b->current = 0;
    }
    if (!b->current) {
        refresh_kernel<<<cuda_blocks(b->n, 256), 256, 0, cuda_stream()>>>(b->values, b->copy, b->n);
        CUDA_LAUNCH_CHECK();
        b->current = 1;
        state.stats.refreshes++;
    }
    const __nv_bfloat16 *slice = b->copy + (x - b->values);
    // cuBLASLt's bf16 kernels want 16-byte aligned operands; a parameter
    // after an odd-sized one in the block may start anywhere, so its slice
    // is left alone and the product casts it into (aligned) scratch, as
    // without copies. ALBEF-base's 149 matrices all start aligned.
    if ((uintptr_t)slice % 16 != 0) return NULL;
    if (check_wanted()) check_slice(b, x, n);
    state.stats.reads++;
    return slice;
}

__nv_bfloat16 *param_copy_update_slice(const float *p, int64_t n) {
    if (n <= 0) return NULL;
    Block *b = block_of(p, (size_t)n * sizeof(float));
    if (b == NULL) return NULL;
    if (state.off || b->copy == NULL || !b->current) {
        b->current = 0;
        return NULL;
    }
    return b->copy + (p - b->values);
}

static void param_block_written(const float *values, int64_t n) {
    if (n > 0) param_copies_written(values, (size_t)n * sizeof(float));
}

extern "C" void cuda_set_param_copies(int on) { state.off = !on; }
extern "C" ParamCopyStats cuda_param_copy_stats(void) { return state.stats; }

void cuda_fill_param_copies(DeviceKernels *k) {
    k->param_block_added = param_copies_add;
    k->param_block_written = param_block_written;
}
