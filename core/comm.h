/* The communicator of a data-parallel job: one process per rank, launched by
 * mpirun (or any MPI launcher), one world.
 *
 * comm_init() decides from the environment: a launcher that started more than
 * one rank (OMPI_COMM_WORLD_SIZE or PMI_SIZE > 1) makes it call MPI_Init; a
 * plain run, or mpirun -np 1, is one rank and touches neither MPI nor NCCL, so
 * every program runs as before without a launcher. Collectives on host memory
 * go through MPI; on device memory through the backend that registered itself
 * for that device (cuda/comm_nccl.cu: NCCL on the backend's streams). With
 * one rank every collective is a local copy or nothing.
 *
 * Contracts shared by every collective:
 * - Counts are elements of the named type, never bytes.
 * - Every rank calls the same collectives in the same order with the same
 *   counts (all-gather: the same count per rank).
 * - A collective returns complete, except comm_allreduce_start(), whose
 *   buffers are complete after comm_allreduce_finish().
 * - A collective that does not complete within the timeout stops the job:
 *   "error: rank R of N: <collective> ... did not complete within T s", then
 *   MPI_Abort, so a rank that died or hangs never leaves the others waiting
 *   forever. A failed MPI or NCCL call does the same with the library's reason.
 * - Reductions give the same bits on every rank (MPI's and NCCL's sum of a
 *   commutative op is computed once per element and shared), so parameters
 *   that start identical stay identical. */
#ifndef CORE_COMM_H
#define CORE_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "core/tensor.h"

typedef enum { COMM_SUM, COMM_MEAN } CommReduce;

/* Collectives on one device's memory (f32 data, element counts), registered
 * by its backend. Each is ordered after the work already queued on the
 * device and complete (on the device) when it returns, except start/finish:
 * start queues an all-reduce behind the work queued so far on a separate
 * stream and returns at once; finish makes later device work wait for every
 * started one and checks them against the timeout. */
typedef struct {
    const char *name; /* "nccl 2.28.9" */
    void (*allreduce)(float *x, int64_t n, CommReduce op);
    void (*broadcast)(float *x, int64_t n, int root);
    void (*allgather)(const float *send, float *recv, int64_t n);
    void (*allreduce_start)(float *x, int64_t n, CommReduce op);
    void (*allreduce_finish)(void);
} CommDeviceOps;

/* Joins the job (idempotent). 0, or -1 with error_set() (a launcher said N
 * ranks but MPI reports another number). Programs call it first. */
int comm_init(void);
/* Leaves the job: MPI_Finalize when MPI was started. Registered with atexit
 * by comm_init(). */
void comm_finalize(void);
int comm_rank(void);
int comm_size(void);
/* Rank among the ranks on this node: the GPU a rank drives. */
int comm_local_rank(void);
/* 1 on rank 0: the rank that writes checkpoints, logs and reports. */
int comm_is_root(void);
/* Seconds a collective may take before the job is stopped (default 300, or
 * the MMU_COMM_TIMEOUT environment variable). */
void comm_set_timeout(double seconds);
double comm_timeout(void);
/* Stops the whole job with `status` (MPI_Abort), or this process when alone. */
void comm_abort(int status) __attribute__((noreturn));

/* Until comm_solo_end(), every rank runs as a job of one rank of its own:
 * rank 0 of 1, every collective local. For work each rank does alone, such
 * as the one-rank reference of the data-parallel tests. Nests. */
void comm_solo_begin(void);
void comm_solo_end(void);
/* 1 when a collective on `device` involves no other rank and no library
 * (one rank without device collectives, or a solo section). */
int comm_is_local(Device device);

/* Registers (NULL: unregisters) the collectives on `device`'s memory. */
void comm_register_device(Device device, const CommDeviceOps *ops);
/* The registered collectives' name, or NULL when none. */
const char *comm_device_name(Device device);

/* ---- collectives; x, send, recv on `device` ---- */
void comm_allreduce_f32(Device device, float *x, int64_t n, CommReduce op);
/* Host only: sums of counts and metrics, in double. */
void comm_allreduce_f64(double *x, int64_t n, CommReduce op);
void comm_allreduce_i64(int64_t *x, int64_t n, CommReduce op);
void comm_broadcast_f32(Device device, float *x, int64_t n, int root);
/* Host only: configurations, ids, unique ids of other libraries. */
void comm_broadcast_i64(int64_t *x, int64_t n, int root);
void comm_broadcast_bytes(void *x, int64_t n, int root);
/* recv [size · n] = every rank's send [n], in rank order. */
void comm_allgather_f32(Device device, const float *send, float *recv, int64_t n);
void comm_allgather_i64(const int64_t *send, int64_t *recv, int64_t n);
void comm_barrier(void);

/* ---- sharded work (evaluation) ----
 * n rows processed in blocks of `block` rows (batches): this rank's rows
 * [*lo, *hi), whole blocks, contiguous, in rank order, so every row is
 * computed in the same batch as one process computes it. */
void comm_shard_rows(int64_t n, int64_t block, int64_t *lo, int64_t *hi);
/* buf [n, row_elems] on the host, this rank's rows of comm_shard_rows(n,
 * block) filled: fills every other row from the rank that computed it. */
void comm_allgather_rows_f32(float *buf, int64_t n, int64_t row_elems, int64_t block);

/* ---- non-blocking all-reduce (gradient buckets) ----
 * start queues an all-reduce of x in place and returns; the buffer must not be
 * touched until finish. finish completes every started one, in start order,
 * on every device they were started on. On the CPU, comm_progress() lets
 * MPI advance the started ones while the caller computes. */
void comm_allreduce_start(Device device, float *x, int64_t n, CommReduce op);
void comm_progress(void);
void comm_allreduce_finish(void);

#endif
