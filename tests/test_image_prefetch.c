/* The background prefetcher: order, overlap, error propagation, early stop. */
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "core/error.h"
#include "data/prefetch.h"
#include "tests/test.h"

typedef struct {
    int64_t fail_at; /* -1: never */
    atomic_int fills_started;
} FillCtx;

typedef struct {
    int64_t index;
    float values[64];
} Batch;

static int fill_batch(void *ctx, int64_t index, void *buffer) {
    FillCtx *c = ctx;
    atomic_fetch_add(&c->fills_started, 1);
    if (index == c->fail_at) return error_set("images/%05lld.jpg: corrupt JPEG data: bogus marker", (long long)index);
    Batch *b = buffer;
    b->index = index;
    for (int k = 0; k < 64; k++) b->values[k] = (float)(index * 100 + k);
    return 0;
}

TEST(test_image_prefetch_delivers_batches_in_order) {
    Batch bufs[2];
    void *ptrs[2] = {&bufs[0], &bufs[1]};
    FillCtx ctx = {.fail_at = -1};
    Prefetcher *p = prefetch_start(50, ptrs, 2, fill_batch, &ctx);
    ASSERT(p);
    void *got;
    int64_t idx, expect = 0;
    int rc;
    while ((rc = prefetch_next(p, &got, &idx)) == 1) {
        Batch *b = got;
        if (idx != expect || b->index != expect || b->values[63] != (float)(expect * 100 + 63)) break;
        expect++;
    }
    prefetch_stop(p);
    ASSERT_EQ_INT(rc, 0);
    ASSERT_EQ_INT(expect, 50);
    ASSERT_EQ_INT(atomic_load(&ctx.fills_started), 50);
}

TEST(test_image_prefetch_fills_next_while_caller_holds_batch) {
    Batch bufs[2];
    void *ptrs[2] = {&bufs[0], &bufs[1]};
    FillCtx ctx = {.fail_at = -1};
    Prefetcher *p = prefetch_start(3, ptrs, 2, fill_batch, &ctx);
    ASSERT(p);
    void *got;
    ASSERT_EQ_INT(prefetch_next(p, &got, NULL), 1);
    /* while we hold batch 0, the worker must start batch 1 on its own */
    struct timespec pause = {0, 1000000};
    for (int t = 0; t < 5000 && atomic_load(&ctx.fills_started) < 2; t++) nanosleep(&pause, NULL);
    int started = atomic_load(&ctx.fills_started);
    ASSERT_EQ_INT(((Batch *)got)->index, 0); /* the held buffer was not overwritten */
    prefetch_stop(p);
    ASSERT(started >= 2);
}

TEST(test_image_prefetch_propagates_worker_error) {
    Batch bufs[3];
    void *ptrs[3] = {&bufs[0], &bufs[1], &bufs[2]};
    FillCtx ctx = {.fail_at = 3};
    Prefetcher *p = prefetch_start(10, ptrs, 3, fill_batch, &ctx);
    ASSERT(p);
    void *got;
    int64_t idx;
    for (int64_t i = 0; i < 3; i++) {
        int rc = prefetch_next(p, &got, &idx);
        if (rc != 1 || idx != i) {
            prefetch_stop(p);
            ASSERT_MSG(0, "batch %lld: rc %d idx %lld", (long long)i, rc, (long long)idx);
        }
    }
    error_clear();
    int rc = prefetch_next(p, &got, &idx);
    prefetch_stop(p);
    ASSERT_EQ_INT(rc, -1);
    ASSERT_STR_CONTAINS(error_message(), "batch 3: images/00003.jpg: corrupt JPEG data: bogus marker");
}

TEST(test_image_prefetch_stop_early_does_not_hang) {
    Batch bufs[2];
    void *ptrs[2] = {&bufs[0], &bufs[1]};
    FillCtx ctx = {.fail_at = -1};
    Prefetcher *p = prefetch_start(1000000, ptrs, 2, fill_batch, &ctx);
    ASSERT(p);
    void *got;
    ASSERT_EQ_INT(prefetch_next(p, &got, NULL), 1);
    ASSERT_EQ_INT(prefetch_next(p, &got, NULL), 1);
    prefetch_stop(p);
    ASSERT(atomic_load(&ctx.fills_started) <= 4);
    prefetch_stop(NULL);
}
