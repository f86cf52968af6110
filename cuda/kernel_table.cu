// The kernel table of the CUDA backend: each kernel file fills its group.
// Kept apart from cuda/backend.cu so that the CPU emulator's backend
// (tests/cuda_emu/emu_backend.cpp) fills the very same table.
#include <string.h>

#include "cuda/common.cuh"

extern "C" void cuda_fill_all(DeviceKernels *k) {
    memset(k, 0, sizeof *k);
    k->name = "cuda";
    cuda_fill_gemm(k);
    cuda_fill_elementwise(k);
    cuda_fill_shape(k);
    cuda_fill_reduce(k);
    cuda_fill_misc(k);
    cuda_fill_norm(k);
    cuda_fill_loss(k);
    cuda_fill_attention(k);
    cuda_fill_optim(k);
    cuda_fill_param_copies(k);
    cuda_fill_div_scalar(k);
    cuda_fill_sampling(k);
}
