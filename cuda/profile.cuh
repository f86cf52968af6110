// The profiler's side used by cuda/launch.cu (its public side is in
// cuda/backend.h: cuda_profile_begin/end/print/clear).
#ifndef CUDA_PROFILE_CUH
#define CUDA_PROFILE_CUH

// 1 between cuda_profile_begin() and cuda_profile_end().
int cuda_profiling(void);
// Records the completion event of the operation just issued, under `label`.
void cuda_profile_record(const char *label);

#endif
