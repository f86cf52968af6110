#include "autograd/grad_sync.h"

#include <stdlib.h>
#include <string.h>

#include "autograd/device_kernels.h"
#include "autograd/tape.h"
#include "core/clock.h"
#include "core/comm.h"
#include "core/error.h"

/* ---- parameter tensor -> index (the tape names inputs by pointer) ---- */

static int slot_of(const GradSync *gs, const Tensor *t) {
    uint64_t h = (uint64_t)(uintptr_t)t * 0x9E3779B97F4A7C15ULL;
    return (int)(h >> 40) & (gs->n_slots - 1);
}

static void index_build(GradSync *gs) {
    gs->n_slots = 16;
    while (gs->n_slots < 2 * gs->ps->count) gs->n_slots *= 2;
    gs->keys = calloc((size_t)gs->n_slots, sizeof *gs->keys);
    gs->slots = malloc((size_t)gs->n_slots * sizeof *gs->slots);
    CHECK(gs->keys && gs->slots, "out of memory");
    for (int k = 0; k < gs->ps->count; k++) {
        int s = slot_of(gs, gs->ps->items[k]);
        while (gs->keys[s]) s = (s + 1) & (gs->n_slots - 1);
        gs->keys[s] = gs->ps->items[k];
        gs->slots[s] = k;
    }
}

/* The parameter index of t, or -1 when t is not a parameter. */
static int index_find(const GradSync *gs, const Tensor *t) {
    for (int s = slot_of(gs, t); gs->keys[s]; s = (s + 1) & (gs->n_slots - 1))
        if (gs->keys[s] == t) return gs->slots[s];
    return -1;
}

void grad_sync_init(GradSync *gs, ParamSet *ps, int64_t bucket_elems) {
    CHECK(ps->finalized, "grad_sync_init before params_finalize");
    CHECK(bucket_elems > 0, "grad_sync_init: bucket of %lld elements", (long long)bucket_elems);
    memset(gs, 0, sizeof *gs);
    gs->ps = ps;
    gs->bucket_elems = bucket_elems;
    int n = ps->count > 0 ? ps->count : 1;
    gs->buckets = malloc((size_t)n * sizeof *gs->buckets);
    gs->bucket_of = malloc((size_t)n * sizeof *gs->bucket_of);
    CHECK(gs->buckets && gs->bucket_of, "out of memory");
    index_build(gs);
}

void grad_sync_free(GradSync *gs) {
    free(gs->buckets);
    free(gs->bucket_of);
    free(gs->keys);
    free(gs->slots);
    memset(gs, 0, sizeof *gs);
}

void grad_sync_broadcast_params(ParamSet *ps, int root) {
    comm_broadcast_f32(ps->device, ps->values, ps->total, root);
    /* The collective writes the block on the device: a backend copy of it is out of date. */
    if (ps->device != DEVICE_CPU)
        device_kernels(ps->device, "parameter broadcast")->param_block_written(ps->values, ps->total);
}

/* Cuts the trainable parameters, last declared first, into contiguous ranges
 * of at least bucket_elems (a frozen parameter ends a range). Recomputed
 * each step: freezing may change between runs of a loop. Every rank holds
 * the same parameters and flags, so every rank cuts the same buckets. */
static void buckets_layout(GradSync *gs) {
    const ParamSet *ps = gs->ps;
    gs->n_buckets = 0;
    GradBucket *open = NULL;
    for (int k = ps->count - 1; k >= 0; k--) {
        const Tensor *p = ps->items[k];
        gs->bucket_of[k] = -1;
        if (!p->requires_grad) {
            open = NULL;
            continue;
        }
        int64_t lo = params_offset(ps, p), hi = lo + tensor_numel(p);
        if (!open || open->hi - open->lo >= gs->bucket_elems) {
            open = &gs->buckets[gs->n_buckets++];
            open->hi = hi;
        }
        open->lo = lo; /* declaration order is storage order: the range grows downwards */
        gs->bucket_of[k] = (int)(open - gs->buckets);
    }
}

/* Starts every bucket, in order, whose writers have all run. */
static void start_ready(GradSync *gs, int in_backward) {
    while (gs->next < gs->n_buckets && gs->buckets[gs->next].waiting == 0) {
        const GradBucket *b = &gs->buckets[gs->next++];
        comm_allreduce_start(gs->ps->device, gs->ps->grads + b->lo, b->hi - b->lo, COMM_MEAN);
        gs->buckets_started++;
        gs->buckets_started_in_backward += in_backward;
    }
}

static void on_node_done(const TapeNode *node, void *ctx) {
    GradSync *gs = ctx;
    int n = tape_node_n_inputs(node), started = gs->next;
    for (int k = 0; k < n; k++) {
        const Tensor *t = tape_node_input(node, k);
        int p = t ? index_find(gs, t) : -1;
        if (p < 0 || gs->bucket_of[p] < 0) continue;
        gs->buckets[gs->bucket_of[p]].waiting--;
    }
    start_ready(gs, 1);
    if (gs->next == started) comm_progress();
}

void grad_sync_begin(GradSync *gs) {
    CHECK(!gs->active, "grad_sync_begin twice without grad_sync_end");
    if (comm_is_local(gs->ps->device)) return; /* one rank: nothing to average */
    gs->active = 1;
    buckets_layout(gs);
    for (int b = 0; b < gs->n_buckets; b++) gs->buckets[b].waiting = 0;
    for (int64_t k = 0; k < tape_size(); k++) {
        const TapeNode *node = tape_node(k);
        for (int e = 0; e < tape_node_n_inputs(node); e++) {
            const Tensor *t = tape_node_input(node, e);
            int p = t ? index_find(gs, t) : -1;
            if (p < 0 || gs->bucket_of[p] < 0) continue;
            gs->buckets[gs->bucket_of[p]].waiting++;
        }
    }
    gs->next = 0;
    start_ready(gs, 1); /* buckets no node of this step writes into */
    tape_set_backward_hook(on_node_done, gs);
}

void grad_sync_end(GradSync *gs) {
    if (!gs->active) return;
    tape_set_backward_hook(NULL, NULL);
    for (int b = gs->next; b < gs->n_buckets; b++) gs->buckets[b].waiting = 0; /* backward skipped or not run */
    start_ready(gs, 0);
    double t0 = clock_seconds();
    comm_allreduce_finish();
    gs->wait_seconds += clock_seconds() - t0;
    gs->steps++;
    gs->active = 0;
}
