// Stand-in for <cublasLt.h> in the kernel emulator: only the names that
// cuda/common.cuh declares. The emulator has no cuBLASLt; the one function
// that calls it (cuda/gemm_blaslt.cu) is replaced by a host GEMM
// (tests/cuda_emu/emu_blaslt.cpp).
#ifndef TESTS_CUDA_EMU_CUBLASLT_H
#define TESTS_CUDA_EMU_CUBLASLT_H

#include "cuda_runtime.h"

typedef struct EmuBlasLt *cublasLtHandle_t;
enum cublasStatus_t { CUBLAS_STATUS_SUCCESS = 0 };

#endif
