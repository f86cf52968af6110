// x / s for a scalar s that lives on the device (autograd/ops/op_div_scalar.c:
// ALBEF's ITC logits over the learnable temperature). The kernels read s
// themselves, so neither direction sends s to the host and waits for it
// (issue 17: host syncs removed from the step); the arithmetic is the CPU
// op's: a float division per element, and the scalar's gradient
// −Σ g·x / s² with the products and the sum in double (the sum in
// cuda/reduce.cu's fixed order).
#include "cuda/common.cuh"

#define THREADS 256

__global__ void div_by_scalar_kernel(const float *x, const float *s, float *y, int64_t n, int accumulate) {
    const float sv = s[0];
    for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < n; k += (int64_t)gridDim.x * blockDim.x) {
        const float q = __fdiv_rn(x[k], sv);
        y[k] = accumulate ? __fadd_rn(y[k], q) : q;
    }
}

static void div_by_scalar_forward(const float *x, const float *s, float *y, int64_t n) {
    if (n <= 0) return;
    div_by_scalar_kernel<<<cuda_blocks(n, THREADS), THREADS, 0, cuda_stream()>>>(x, s, y, n, 0);
    CUDA_LAUNCH_CHECK();
}

// One thread adds the partials in order and the term to gs.
__global__ void scalar_grad_kernel(const double *part, int count, const float *s, float *gs) {
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    double acc = 0.0;
    for (int b = 0; b < count; b++) acc += part[b];
    gs[0] = __fadd_rn(gs[0], (float)(-acc / ((double)s[0] * s[0])));
}

static void div_by_scalar_backward(const float *x, const float *s, const float *g, float *gx, float *gs, int64_t n) {
    if (n <= 0) return;
    if (gx != NULL) {
        div_by_scalar_kernel<<<cuda_blocks(n, THREADS), THREADS, 0, cuda_stream()>>>(g, s, gx, n, 1);
        CUDA_LAUNCH_CHECK();
    }
    if (gs != NULL) {
        int count = 0;
        const double *part = cuda_sum_partials(g, x, n, &count);
        scalar_grad_kernel<<<1, 1, 0, cuda_stream()>>>(part, count, s, gs);
        CUDA_LAUNCH_CHECK();
    }
}

void cuda_fill_div_scalar(DeviceKernels *k) {
    k->div_by_scalar_forward = div_by_scalar_forward;
    k->div_by_scalar_backward = div_by_scalar_backward;
}
