/* The CUDA backend's entry points for programs and tests (C linkage).
 *
 * cuda_backend_init() picks GPU 0, creates the stream and the cuBLASLt
 * handle, and registers device memory (core/device.h) and the kernels
 * (autograd/device_kernels.h); from then on tensors may live on DEVICE_CUDA.
 * On a machine without a GPU it returns -1 and says why in `why`, which GPU
 * tests print when they skip (issue 5: a GPU test never passes silently). */
#ifndef CUDA_BACKEND_H
#define CUDA_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "autograd/device_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { PRECISION_FP32, PRECISION_BF16 } Precision;

int cuda_backend_init(char *why, size_t why_size);
/* 1 after a successful cuda_backend_init(). */
int cuda_backend_ready(void);
/* bf16: GEMM inputs and the matmul-class ops' outputs (activations) in bf16,
 * f32 accumulation, PyTorch autocast's rule (autograd/ops.h); fp32: everything
 * in f32, for checking (--precision). Default: bf16. */
void cuda_set_precision(Precision p);
Precision cuda_precision(void);
const char *precision_name(Precision p);
/* Fills a kernel table without touching a GPU (a CPU test checks that every
 * entry of autograd/device_kernels.h has a CUDA kernel). */
void cuda_fill_all(DeviceKernels *k);
/* A device allocation that returns NULL (with error_set() giving the request,
 * the free and total memory) instead of stopping. */
void *cuda_try_alloc(size_t bytes);
/* Waits for every queued kernel (timing, copies back). */
void cuda_synchronize(void);
/* Bytes currently and at most held by device allocations of this process. */
size_t cuda_bytes_in_use(void);
size_t cuda_peak_bytes(void);
/* The peak restarts from the bytes held now: a benchmark's next phase, as
 * torch.cuda.reset_peak_memory_stats before each of the anchor's steps. */
void cuda_reset_peak_bytes(void);

/* The bf16 copies of the parameter blocks (cuda/param_copies.cu): on by
 * default; off, every bf16 product casts its f32 weight as it did before
 * (bench_albef --param-copies 0 measures the difference). */
void cuda_set_param_copies(int on);
typedef struct {
    int64_t refreshes; /* whole-block casts (a block's first read, or its first read after a write) */
    int64_t reads;     /* products that read a weight from a copy instead of casting it */
} ParamCopyStats;
ParamCopyStats cuda_param_copy_stats(void);

/* Which implementation runs the forward of a bf16 fused attention that has
 * no mask and no dropout (cuda/attention_cudnn.cu; the ViT's self-attention
 * and the fusion's cross-attention of ALBEF): the handwritten tensor-core
 * kernels, cuDNN's fused SDPA, or, per shape, whichever was faster the first
 * time that shape ran outside a captured step. The backward is the kernels'
 * (cuda/cudnn_sdpa.h says why). The kernels are the default until a card has
 * measured cuDNN's (bench/gpu_check.sh, step cudnn).
 * MMU_ATTENTION=kernels|cudnn|faster chooses too; this call overrides it. Whatever cannot run on cuDNN (no library, no GPU, no engine
 * for the shape, a mask, dropout, unaligned rows) runs the kernels, and the
 * reason is printed once. */
typedef enum { CUDA_ATTENTION_KERNELS, CUDA_ATTENTION_CUDNN, CUDA_ATTENTION_FASTER } CudaAttentionImpl;
void cuda_attention_use(CudaAttentionImpl impl);
/* "kernels", "cudnn" or "faster" as its CudaAttentionImpl; -1 for anything else. */
int cuda_attention_by_name(const char *name);
/* Attention forwards cuDNN ran since the process began. */
int64_t cuda_attention_cudnn_calls(void);

/* Whole steps as CUDA graphs (cuda/graph.cu): the device work issued
 * between cuda_graph_step_begin() and cuda_graph_step_end() is captured,
 * not run, and step_end launches it as one graph (updating the previous
 * step's executable graph when the step has the same operations, making it
 * anew when not). Results are those of running the step without: only when
 * the work runs changes. Inside, the host may not read the device (a copy to
 * the host, cuda_synchronize: stopped with a message); host memory copied to
 * the device is staged when the copy is issued, so the host may reuse it at
 * once. A step begun while device memory is still changing (the activation
 * arena's first steps) runs without capture. Not with the profiler or
 * MMU_CUDA_SYNC=1. */
void cuda_graph_step_begin(void);
void cuda_graph_step_end(void);
typedef struct {
    int64_t eager;        /* steps run without capture: device memory changed since the step before began */
    int64_t steps;        /* steps launched as graphs */
    int64_t updated;      /* of which updated the previous executable graph */
    int64_t instantiated; /* of which needed a new one (the first, or a new shape) */
    int64_t nodes;        /* operations in the last step's graph */
    int64_t staged_bytes; /* most host bytes a step copied to the device */
} CudaGraphStats;
CudaGraphStats cuda_graph_stats(void);

/* Per-operation device times (bench_albef --profile). Between
 * cuda_profile_begin() and cuda_profile_end() (a window: one step) every
 * kernel launch, cuBLASLt GEMM and stream copy records a CUDA event after it
 * is issued; an operation's time is the span from the previous operation's
 * completion to its own, so the spans add up to the window's device time and
 * a gap in which the device waited for the host counts to the operation
 * after it. Recording costs the host about a microsecond per operation:
 * time steps without it. */
void cuda_profile_begin(void);
/* Waits for the window's work and adds its spans to the totals. */
void cuda_profile_end(void);
/* The totals per window: the `top` operations by time as a Markdown table
 * (calls, ms and share of the device time), the others in one row, then the
 * device time, the operation count and the host's time to issue them (a
 * host time close to the device time means the device waited for the host). */
void cuda_profile_print(FILE *out, int top);
/* Forgets the totals (the events are kept for the next window). */
void cuda_profile_clear(void);

#ifdef __cplusplus
}
#endif

#endif
