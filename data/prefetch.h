/* Background batch preparation (DESIGN.md data/: "batching with prefetch").
 *
 * One worker thread fills batches 0, 1, 2, ... in order into a ring of
 * caller-owned buffers (two = double buffering) while the caller trains on
 * the previous one. The fill callback is generic: dataset code decodes and
 * augments batch i into a buffer of its own layout. Batches arrive in order;
 * since every batch is a pure function of its index (transforms draw from
 * Philox keyed by sample, data/transform.h), prefetching changes no numbers.
 *
 * An error in the worker (fill returns -1 after error_set) stops the worker;
 * the batches before it are still delivered, then prefetch_next returns -1
 * with the worker's message, prefixed by the batch index, in the caller's
 * error_message(). */
#ifndef DATA_PREFETCH_H
#define DATA_PREFETCH_H

#include <stdint.h>

/* Fills `buffer` with batch `index`. 0, or -1 after error_set(). Runs on the
 * worker thread: it must not touch state the caller uses concurrently. */
typedef int (*PrefetchFillFn)(void *ctx, int64_t index, void *buffer);

typedef struct Prefetcher Prefetcher;

/* Starts the worker for batches [0, n_batches) over n_buffers >= 2 buffers.
 * NULL with error_set if the thread cannot be started. */
Prefetcher *prefetch_start(int64_t n_batches, void **buffers, int n_buffers, PrefetchFillFn fill, void *ctx);

/* Waits for the next batch. Returns 1 with *batch (valid until the next call)
 * and *index set; 0 after the last batch; -1 with error_set when the worker
 * failed on this batch. Calling it hands the previous batch's buffer back. */
int prefetch_next(Prefetcher *p, void **batch, int64_t *index);

/* Stops the worker (after its current fill), joins it and frees p. NULL-safe. */
void prefetch_stop(Prefetcher *p);

#endif
