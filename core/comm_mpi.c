/* Host collectives over MPI (core/comm_mpi.h).
 *
 * Every collective is MPI's non-blocking form followed by a polling wait with
 * a deadline: a blocking MPI call waits forever for a rank that died or hangs,
 * while a poll can give up, say which rank and which collective, and
 * MPI_Abort the job. The job's own duplicate of MPI_COMM_WORLD carries an
 * error handler that does the same for a failed MPI call. */
#include "core/comm_mpi.h"

#ifndef MMU_NO_MPI

#include <limits.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/error.h"

/* Larger counts go in pieces: MPI's counts are int. */
#define COMM_MPI_CHUNK (1LL << 30)

typedef struct {
    MPI_Request request;
    float *x;
    int64_t n;
    CommReduce op;
} Pending;

static struct {
    MPI_Comm world;
    int rank, size;
    Pending *pending;
    int n_pending, cap_pending;
} mpi;

static void comm_mpi_stop_on_error(MPI_Comm *comm, int *code, ...) {
    (void)comm;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(*code, text, &len);
    fprintf(stderr, "error: rank %d of %d: MPI call failed: %s\n", mpi.rank, mpi.size, text);
    MPI_Abort(MPI_COMM_WORLD, 1);
    exit(1);
}

int comm_mpi_init(int expected_size, int *rank, int *size, int *local_rank) {
    int provided = 0;
    /* Only the main thread calls MPI (the OpenMP workers never do). */
    MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_dup(MPI_COMM_WORLD, &mpi.world);
    MPI_Errhandler handler;
    MPI_Comm_create_errhandler(comm_mpi_stop_on_error, &handler);
    MPI_Comm_set_errhandler(mpi.world, handler);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, handler);
    MPI_Comm_rank(mpi.world, &mpi.rank);
    MPI_Comm_size(mpi.world, &mpi.size);
    if (mpi.size != expected_size)
        return error_set("the launcher started %d ranks but MPI_COMM_WORLD has %d (a launcher of another MPI "
                         "library?)", expected_size, mpi.size);
    MPI_Comm node;
    MPI_Comm_split_type(mpi.world, MPI_COMM_TYPE_SHARED, mpi.rank, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, local_rank);
    MPI_Comm_free(&node);
    *rank = mpi.rank;
    *size = mpi.size;
    return 0;
}

void comm_mpi_finalize(void) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized) return;
    free(mpi.pending);
    mpi.pending = NULL;
    mpi.n_pending = mpi.cap_pending = 0;
    MPI_Comm_free(&mpi.world);
    MPI_Finalize();
}

void comm_mpi_abort(int status) {
    fflush(stdout);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, status);
    exit(status); /* MPI_Abort does not return; this tells the compiler */
}

static MPI_Datatype mpi_type(CommType t) {
    switch (t) {
    case COMM_TYPE_F32: return MPI_FLOAT;
    case COMM_TYPE_F64: return MPI_DOUBLE;
    case COMM_TYPE_I64: return MPI_INT64_T;
    case COMM_TYPE_U8: return MPI_BYTE;
    }
    return MPI_DATATYPE_NULL;
}

static size_t type_size(CommType t) {
    return t == COMM_TYPE_F32 ? 4 : t == COMM_TYPE_U8 ? 1 : 8;
}

/* Polls until every request completes or the deadline passes. Spinning is
 * short; then it sleeps 100 µs between polls, so a waiting rank leaves its
 * core to the ranks still computing (several ranks may share a node's cores). */
static void wait_all(MPI_Request *requests, int n, const char *what, int64_t count) {
    double deadline = clock_seconds() + comm_timeout();
    const struct timespec nap = {0, 100000};
    for (int polls = 0;; polls++) {
        int done = 0;
        MPI_Testall(n, requests, &done, MPI_STATUSES_IGNORE);
        if (done) return;
        if (clock_seconds() > deadline) {
            fprintf(stderr,
                    "error: rank %d of %d: %s of %lld elements did not complete within %.0f s: another rank "
                    "stopped or is stuck; stopping the job\n",
                    mpi.rank, mpi.size, what, (long long)count, comm_timeout());
            comm_mpi_abort(1);
        }
        if (polls > 1000) nanosleep(&nap, NULL);
    }
}

/* x /= size after a sum: the mean of the ranks' values. */
static void scale_mean(void *x, int64_t n, CommType t) {
    CHECK(t == COMM_TYPE_F32 || t == COMM_TYPE_F64, "a mean over ranks of integers");
    if (t == COMM_TYPE_F32)
        for (int64_t k = 0; k < n; k++) ((float *)x)[k] /= (float)mpi.size;
    else
        for (int64_t k = 0; k < n; k++) ((double *)x)[k] /= (double)mpi.size;
}

void comm_mpi_allreduce(void *x, int64_t n, CommType t, CommReduce op) {
    char *p = x;
    for (int64_t done = 0; done < n; done += COMM_MPI_CHUNK) {
        int64_t m = n - done < COMM_MPI_CHUNK ? n - done : COMM_MPI_CHUNK;
        MPI_Request r;
        MPI_Iallreduce(MPI_IN_PLACE, p + (size_t)done * type_size(t), (int)m, mpi_type(t), MPI_SUM, mpi.world, &r);
        wait_all(&r, 1, "all-reduce", n);
    }
    if (op == COMM_MEAN) scale_mean(x, n, t);
}

void comm_mpi_broadcast(void *x, int64_t n, CommType t, int root) {
    char *p = x;
    for (int64_t done = 0; done < n; done += COMM_MPI_CHUNK) {
        int64_t m = n - done < COMM_MPI_CHUNK ? n - done : COMM_MPI_CHUNK;
        MPI_Request r;
        MPI_Ibcast(p + (size_t)done * type_size(t), (int)m, mpi_type(t), root, mpi.world, &r);
        wait_all(&r, 1, "broadcast", n);
    }
}

void comm_mpi_allgather(const void *send, void *recv, int64_t n, CommType t) {
    CHECK(n <= INT_MAX, "all-gather of %lld elements per rank: MPI counts are int", (long long)n);
    MPI_Request r;
    MPI_Iallgather(send, (int)n, mpi_type(t), recv, (int)n, mpi_type(t), mpi.world, &r);
    wait_all(&r, 1, "all-gather", n);
}

void comm_mpi_barrier(void) {
    MPI_Request r;
    MPI_Ibarrier(mpi.world, &r);
    wait_all(&r, 1, "barrier", 0);
}

void comm_mpi_allreduce_start(float *x, int64_t n, CommReduce op) {
    CHECK(n <= INT_MAX, "bucket of %lld elements: MPI counts are int", (long long)n);
    if (mpi.n_pending == mpi.cap_pending) {
        /* Grows during the first step only: later steps start as many. */
        mpi.cap_pending = mpi.cap_pending ? 2 * mpi.cap_pending : 64;
        mpi.pending = realloc(mpi.pending, (size_t)mpi.cap_pending * sizeof *mpi.pending);
        CHECK(mpi.pending, "out of memory");
    }
    Pending *p = &mpi.pending[mpi.n_pending++];
    p->x = x;
    p->n = n;
    p->op = op;
    MPI_Iallreduce(MPI_IN_PLACE, x, (int)n, MPI_FLOAT, MPI_SUM, mpi.world, &p->request);
}

/* MPI moves a non-blocking collective along only inside MPI calls. */
void comm_mpi_progress(void) {
    for (int k = 0; k < mpi.n_pending; k++) {
        int flag = 0;
        MPI_Test(&mpi.pending[k].request, &flag, MPI_STATUS_IGNORE);
    }
}

void comm_mpi_allreduce_finish(void) {
    for (int k = 0; k < mpi.n_pending; k++) {
        wait_all(&mpi.pending[k].request, 1, "gradient all-reduce", mpi.pending[k].n);
        if (mpi.pending[k].op == COMM_MEAN) scale_mean(mpi.pending[k].x, mpi.pending[k].n, COMM_TYPE_F32);
    }
    mpi.n_pending = 0;
}

#else /* built without MPI (make MPI=0): a job of one rank */

#include <stdlib.h>

#include "core/error.h"

int comm_mpi_init(int expected_size, int *rank, int *size, int *local_rank) {
    (void)rank, (void)size, (void)local_rank;
    return error_set("the launcher started %d ranks but this build has no MPI (mpi.h was not found when it was built)",
                     expected_size);
}

void comm_mpi_finalize(void) {}
void comm_mpi_abort(int status) { exit(status); }

/* comm.c calls these only with several ranks, which comm_mpi_init refused. */
static void unreachable(void) { fatal("an MPI collective in a build without MPI"); }
void comm_mpi_allreduce(void *x, int64_t n, CommType t, CommReduce op) {
    (void)x, (void)n, (void)t, (void)op;
    unreachable();
}
void comm_mpi_broadcast(void *x, int64_t n, CommType t, int root) {
    (void)x, (void)n, (void)t, (void)root;
    unreachable();
}
void comm_mpi_allgather(const void *send, void *recv, int64_t n, CommType t) {
    (void)send, (void)recv, (void)n, (void)t;
    unreachable();
}
void comm_mpi_barrier(void) { unreachable(); }
void comm_mpi_allreduce_start(float *x, int64_t n, CommReduce op) {
    (void)x, (void)n, (void)op;
    unreachable();
}
void comm_mpi_progress(void) {}
void comm_mpi_allreduce_finish(void) {}

#endif
