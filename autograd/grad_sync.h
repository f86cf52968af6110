/* Data-parallel gradients of a ParamSet: the mean over ranks, all-reduced in
 * buckets that start while the backward pass is still running.
 *
 * The trainable parameters are cut into buckets of about `bucket_elems`
 * elements, each a contiguous range of the gradient block, in reverse
 * declaration order (the order a backward pass reaches a model's parameters:
 * heads first, embeddings last). grad_sync_begin() counts, on the tape, the
 * nodes that will write into each parameter; the tape's backward hook
 * (autograd/tape.h) counts them down, and a bucket whose nodes have all run
 * is handed to comm_allreduce_start() at once (MPI_Iallreduce on the host,
 * NCCL on a separate stream on the GPU), in bucket order on every rank.
 * grad_sync_end() starts what is left and waits: every gradient is then the
 * mean of the ranks' gradients, which, with equal shards, is the gradient of
 * the global batch's mean loss.
 *
 * Use, per step:
 *     loss = ...forward on this rank's shard...;
 *     grad_sync_begin(&gs);  autograd_backward(loss);  grad_sync_end(&gs);
 *     optimizer step
 * With several backward passes in a step (gradient accumulation), begin goes
 * before the last one only. With one rank and no device collectives, begin
 * and end do nothing. */
#ifndef AUTOGRAD_GRAD_SYNC_H
#define AUTOGRAD_GRAD_SYNC_H

#include <stdint.h>

#include "autograd/params.h"

typedef struct {
    int64_t lo, hi; /* range of the gradient block */
    int waiting;    /* tape nodes still to write into it in this backward */
} GradBucket;

typedef struct {
    ParamSet *ps;
    int64_t bucket_elems;
    GradBucket *buckets; /* at most one per parameter */
    int n_buckets;
    int next;            /* the next bucket to start, in order */
    int *bucket_of;      /* per parameter: its bucket, -1 when frozen */
    Tensor **keys;       /* open-addressing table: parameter tensor -> index */
    int *slots;
    int n_slots;
    int active;          /* between begin and end */
    /* Totals since init (bench/README.md: the all-reduce share of a step). */
    int64_t steps, buckets_started, buckets_started_in_backward;
    double wait_seconds; /* spent in grad_sync_end waiting for the all-reduce */
} GradSync;

/* Buckets of about bucket_elems f32 each (> 0). */
void grad_sync_init(GradSync *gs, ParamSet *ps, int64_t bucket_elems);
void grad_sync_free(GradSync *gs);
/* Overwrites every rank's parameter values with rank `root`'s: the ranks
 * start identical whatever their own initialisation or loading did. */
void grad_sync_broadcast_params(ParamSet *ps, int root);
void grad_sync_begin(GradSync *gs);
void grad_sync_end(GradSync *gs);

#endif
