// ALBEF's hard-negative draws on the device (autograd/device_kernels.h
// sample_hard_negatives): the arithmetic of albef_sample_hard_negatives_rows
// (models/albef_loss.c), one thread per row walking its columns in order, so
// that the host never reads the similarities back inside a fine-tuning step
// (issue 17: host syncs removed from the step). The sums are double and
// sequential as on the CPU; exp is the device's double exp, which the CPU's
// glibc exp matches to the last bit or nearly, so a draw could differ only
// where the uniform falls within ~1e-16 of a boundary of the cumulative
// weights (under the emulator the two are the same function).
#include "cuda/common.cuh"

__global__ void sample_hard_negatives_kernel(const float *logits, int64_t stride, int rows, int cols,
                                             const int32_t *candidate, int first_row, uint64_t seed, uint64_t stream,
                                             int32_t *out) {
    const int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows) return;
    const float *row = logits + (int64_t)r * stride;
    const int32_t *cand = candidate + (int64_t)r * cols;
    double mx = -INFINITY;
    int first = -1, finite = 1;
    for (int j = 0; j < cols; j++) {
        if (!cand[j]) continue;
        if (first < 0) first = j;
        if (!isfinite(row[j])) finite = 0;
        if (row[j] > mx) mx = row[j];
    }
    double total = 0.0;
    for (int j = 0; j < cols; j++)
        if (cand[j]) total += exp(row[j] - mx);
    const float u = philox_uniform_dev(seed, stream, (uint64_t)(first_row + r));
    const double target = u * total;
    double acc = 0.0;
    int pick = first;
    for (int j = 0; j < cols && finite; j++) {
        if (!cand[j]) continue;
        acc += exp(row[j] - mx);
        pick = j; // the last candidate absorbs rounding at the top end
        if (target < acc) break;
    }
    out[r] = pick;
}

static void sample_hard_negatives(const float *logits, int64_t stride, int rows, int cols, const int32_t *candidate,
                                  int first_row, uint64_t seed, uint64_t stream, int32_t *out) {
    if (rows <= 0) return;
    const int threads = 64;
    sample_hard_negatives_kernel<<<(rows + threads - 1) / threads, threads, 0, cuda_stream()>>>(
        logits, stride, rows, cols, candidate, first_row, seed, stream, out);
    CUDA_LAUNCH_CHECK();
}

void cuda_fill_sampling(DeviceKernels *k) { k->sample_hard_negatives = sample_hard_negatives; }
