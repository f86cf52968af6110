/* Ordered background prefetch over a ring of buffers (data/prefetch.h). */
#include "data/prefetch.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

enum { SLOT_FREE, SLOT_READY };

struct Prefetcher {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    PrefetchFillFn fill;
    void *ctx;
    void **buffers;
    int *state;
    int n_buffers;
    int64_t n_batches;
    int64_t next_take; /* index the caller gets next */
    int in_use;        /* slot the caller holds, or -1 */
    int stop;
    int64_t failed_at; /* batch whose fill failed, or -1 */
    char message[2048];
};

static void *prefetch_worker(void *arg) {
    Prefetcher *p = arg;
    pthread_mutex_lock(&p->mu);
    for (int64_t i = 0; i < p->n_batches; i++) {
        int slot = (int)(i % p->n_buffers);
        while (p->state[slot] != SLOT_FREE && !p->stop) pthread_cond_wait(&p->cv, &p->mu);
        if (p->stop) break;
        pthread_mutex_unlock(&p->mu);
        /* error_message() is thread-local: the worker's message is copied out below. */
        error_clear();
        int rc = p->fill(p->ctx, i, p->buffers[slot]);
        pthread_mutex_lock(&p->mu);
        if (rc != 0) {
            snprintf(p->message, sizeof p->message, "%s", error_message());
            p->failed_at = i;
            pthread_cond_broadcast(&p->cv);
            break;
        }
        p->state[slot] = SLOT_READY;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

Prefetcher *prefetch_start(int64_t n_batches, void **buffers, int n_buffers, PrefetchFillFn fill, void *ctx) {
    CHECK(n_buffers >= 2 && n_batches >= 0 && fill, "prefetch needs >= 2 buffers and a fill function");
    Prefetcher *p = calloc(1, sizeof *p);
    int *state = calloc((size_t)n_buffers, sizeof(int));
    void **bufs = malloc(sizeof(void *) * (size_t)n_buffers);
    if (!p || !state || !bufs) {
        free(p), free(state), free(bufs);
        error_set("prefetch: out of memory");
        return NULL;
    }
    memcpy(bufs, buffers, sizeof(void *) * (size_t)n_buffers);
    p->fill = fill;
    p->ctx = ctx;
    p->buffers = bufs;
    p->state = state;
    p->n_buffers = n_buffers;
    p->n_batches = n_batches;
    p->in_use = -1;
    p->failed_at = -1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    int rc = pthread_create(&p->thread, NULL, prefetch_worker, p);
    if (rc != 0) {
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv);
        free(p->state), free(p->buffers), free(p);
        error_set("prefetch: cannot start the worker thread: %s", strerror(rc));
        return NULL;
    }
    return p;
}

int prefetch_next(Prefetcher *p, void **batch, int64_t *index) {
    pthread_mutex_lock(&p->mu);
    if (p->in_use >= 0) { /* the caller is done with the previous batch */
        p->state[p->in_use] = SLOT_FREE;
        p->in_use = -1;
        pthread_cond_broadcast(&p->cv);
    }
    if (p->next_take >= p->n_batches) {
        pthread_mutex_unlock(&p->mu);
        return 0;
    }
    int64_t i = p->next_take;
    int slot = (int)(i % p->n_buffers);
    while (p->state[slot] != SLOT_READY && p->failed_at != i) pthread_cond_wait(&p->cv, &p->mu);
    if (p->state[slot] != SLOT_READY) {
        error_set("batch %lld: %s", (long long)i, p->message);
        pthread_mutex_unlock(&p->mu);
        return -1;
    }
    p->in_use = slot;
    p->next_take = i + 1;
    *batch = p->buffers[slot];
    if (index) *index = i;
    pthread_mutex_unlock(&p->mu);
    return 1;
}

void prefetch_stop(Prefetcher *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->state), free(p->buffers), free(p);
}
