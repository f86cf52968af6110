/* The MPI side of core/comm.h (core/comm_mpi.c), for core/comm.c only: the
 * host collectives of a job of several ranks. Every wait polls against the
 * deadline comm_timeout() and stops the job when it passes. */
#ifndef CORE_COMM_MPI_H
#define CORE_COMM_MPI_H

#include <stdint.h>

#include "core/comm.h"

typedef enum { COMM_TYPE_F32, COMM_TYPE_F64, COMM_TYPE_I64, COMM_TYPE_U8 } CommType;

/* MPI_Init and the world's shape; -1 with error_set when MPI's size differs
 * from the launcher's `expected_size`. */
int comm_mpi_init(int expected_size, int *rank, int *size, int *local_rank);
void comm_mpi_finalize(void);
void comm_mpi_abort(int status) __attribute__((noreturn));

void comm_mpi_allreduce(void *x, int64_t n, CommType t, CommReduce op);
void comm_mpi_broadcast(void *x, int64_t n, CommType t, int root);
void comm_mpi_allgather(const void *send, void *recv, int64_t n, CommType t);
void comm_mpi_barrier(void);

void comm_mpi_allreduce_start(float *x, int64_t n, CommReduce op);
void comm_mpi_progress(void);
void comm_mpi_allreduce_finish(void);

#endif
