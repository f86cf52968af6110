// PLACEHOLDER: replaced by the misc kernels.
#include "cuda/common.cuh"

void cuda_fill_misc(DeviceKernels *k) { (void)k; }
