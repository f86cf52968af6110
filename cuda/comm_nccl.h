/* NCCL collectives on device memory for the job of core/comm.h (C linkage).
 *
 * cuda_comm_init() runs after comm_init() and cuda_backend_init() (which
 * picked GPU local_rank: one rank per GPU): rank 0 draws NCCL's unique id,
 * MPI broadcasts it, every rank joins the communicator, and the collectives
 * on DEVICE_CUDA memory are registered with core/comm.h. Every collective
 * runs on one communication stream, after the kernels queued before it on the
 * backend's stream; a gradient bucket's all-reduce does not wait there, so it
 * overlaps the rest of the backward pass. Every wait polls against
 * comm_timeout() and ncclCommAbort()s the job when it passes.
 * A one-rank job runs NCCL too (the single-GPU check, bench/gpu_check.sh). */
#ifndef CUDA_COMM_NCCL_H
#define CUDA_COMM_NCCL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 0, or -1 with the reason in `why` (no backend, NCCL's error, or a build
 * without NCCL). */
int cuda_comm_init(char *why, size_t why_size);
/* Leaves the NCCL communicator (after the last collective). */
void cuda_comm_free(void);

#ifdef __cplusplus
}
#endif

#endif
