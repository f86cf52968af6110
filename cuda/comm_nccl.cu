// NCCL behind core/comm.h's device collectives (cuda/comm_nccl.h).
#include <stdio.h>
#include <time.h>

#include "cuda/common.cuh"

extern "C" {
#include "core/clock.h"
#include "core/comm.h"
#include "cuda/comm_nccl.h"
}

#ifdef HAVE_NCCL
#include <nccl.h>

static struct {
    int ready;
    ncclComm_t comm;
    cudaStream_t stream; // the communication stream
    cudaEvent_t queued;  // the backend stream's work up to a bucket's start
    cudaEvent_t done;    // the end of the work a wait is for
    char name[64];
} nccl;

static void stop_on_timeout(const char *what, int64_t n) {
    fprintf(stderr,
            "error: rank %d of %d: NCCL %s of %lld elements did not complete within %.0f s: another rank stopped "
            "or is stuck; stopping the job\n",
            comm_rank(), comm_size(), what, (long long)n, comm_timeout());
    ncclCommAbort(nccl.comm);
    comm_abort(1);
}

// The communicator is non-blocking (a blocking one cannot be watched): a call
// may return ncclInProgress, and the next NCCL call waits until it is done.
static void nccl_settle(ncclResult_t status, const char *what, int64_t n) {
    const struct timespec nap = {0, 100000};
    double deadline = clock_seconds() + comm_timeout();
    while (status == ncclInProgress) {
        if (clock_seconds() > deadline) stop_on_timeout(what, n);
        nanosleep(&nap, NULL);
        ncclCommGetAsyncError(nccl.comm, &status);
    }
    if (status != ncclSuccess)
        fatal("NCCL %s of %lld elements failed: %s (%s)", what, (long long)n, ncclGetErrorString(status),
              ncclGetLastError(nccl.comm));
}

// Waits, on the host, for the work queued so far on `stream`, watching the
// communicator for errors and the deadline.
static void stream_wait(cudaStream_t stream, const char *what, int64_t n) {
    const struct timespec nap = {0, 50000};
    CUDA_CHECK(cudaEventRecord(nccl.done, stream));
    double deadline = clock_seconds() + comm_timeout();
    for (;;) {
        cudaError_t e = cudaEventQuery(nccl.done);
        if (e == cudaSuccess) return;
        if (e != cudaErrorNotReady) CUDA_CHECK(e);
        ncclResult_t async = ncclSuccess;
        ncclCommGetAsyncError(nccl.comm, &async);
        if (async != ncclSuccess && async != ncclInProgress) nccl_settle(async, what, n);
        if (clock_seconds() > deadline) stop_on_timeout(what, n);
        nanosleep(&nap, NULL);
    }
}

static ncclRedOp_t nccl_op(CommReduce op) { return op == COMM_MEAN ? ncclAvg : ncclSum; }

// Every NCCL call of this process goes to the one communication stream, after
// the backend stream's work queued so far: NCCL kernels of one communicator
// on two streams could run in different orders on different GPUs and wait on
// each other forever (a gather's backward between two gradient buckets).
static cudaStream_t after_queued_work(void) {
    CUDA_CHECK(cudaEventRecord(nccl.queued, cuda_stream()));
    CUDA_CHECK(cudaStreamWaitEvent(nccl.stream, nccl.queued, 0));
    return nccl.stream;
}

// The ordinary collectives return complete (core/comm.h): the host waits for
// the communication stream, so later work on the backend stream follows.
static void nccl_allreduce(float *x, int64_t n, CommReduce op) {
    if (n == 0) return;
    nccl_settle(ncclAllReduce(x, x, (size_t)n, ncclFloat, nccl_op(op), nccl.comm, after_queued_work()), "all-reduce",
                n);
    stream_wait(nccl.stream, "all-reduce", n);
}

static void nccl_broadcast(float *x, int64_t n, int root) {
    if (n == 0) return;
    nccl_settle(ncclBroadcast(x, x, (size_t)n, ncclFloat, root, nccl.comm, after_queued_work()), "broadcast", n);
    stream_wait(nccl.stream, "broadcast", n);
}

static void nccl_allgather(const float *send, float *recv, int64_t n) {
    if (n == 0) return;
    nccl_settle(ncclAllGather(send, recv, (size_t)n, ncclFloat, nccl.comm, after_queued_work()), "all-gather", n);
    stream_wait(nccl.stream, "all-gather", n);
}

// A bucket: its gradients are final once the backend stream's work queued so
// far has run, so the communication stream waits for that point and no
// further, and the rest of the backward pass runs beside it.
static void nccl_allreduce_start(float *x, int64_t n, CommReduce op) {
    if (n == 0) return;
    nccl_settle(ncclAllReduce(x, x, (size_t)n, ncclFloat, nccl_op(op), nccl.comm, after_queued_work()),
                "gradient all-reduce", n);
}

// The optimizer step queued after this reads the buckets: the host waits for
// the bucket stream (against the deadline), then the backend stream is
// ordered after it too.
static void nccl_allreduce_finish(void) {
    stream_wait(nccl.stream, "gradient all-reduce", 0);
    CUDA_CHECK(cudaStreamWaitEvent(cuda_stream(), nccl.done, 0));
}

static const CommDeviceOps nccl_ops = {nccl.name,         nccl_allreduce,        nccl_broadcast, nccl_allgather,
                                       nccl_allreduce_start, nccl_allreduce_finish};

extern "C" int cuda_comm_init(char *why, size_t why_size) {
    if (nccl.ready) return 0;
    if (!cuda_backend_ready()) {
        snprintf(why, why_size, "NCCL needs the CUDA backend: cuda_backend_init() first");
        return -1;
    }
    ncclUniqueId id;
    if (comm_rank() == 0) {
        ncclResult_t st = ncclGetUniqueId(&id);
        if (st != ncclSuccess) {
            snprintf(why, why_size, "ncclGetUniqueId failed: %s", ncclGetErrorString(st));
            return -1;
        }
    }
    comm_broadcast_bytes(&id, (int64_t)sizeof id, 0);
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    ncclResult_t st = ncclCommInitRankConfig(&nccl.comm, comm_size(), id, comm_rank(), &config);
    if (st != ncclSuccess && st != ncclInProgress) {
        snprintf(why, why_size, "ncclCommInitRankConfig (rank %d of %d) failed: %s", comm_rank(), comm_size(),
                 ncclGetErrorString(st));
        return -1;
    }
    nccl_settle(st, "communicator set-up", 0);
    CUDA_CHECK(cudaStreamCreateWithFlags(&nccl.stream, cudaStreamNonBlocking));
    CUDA_CHECK(cudaEventCreateWithFlags(&nccl.queued, cudaEventDisableTiming));
    CUDA_CHECK(cudaEventCreateWithFlags(&nccl.done, cudaEventDisableTiming));
    int version = 0;
    ncclGetVersion(&version);
    snprintf(nccl.name, sizeof nccl.name, "nccl %d.%d.%d", version / 10000, version / 100 % 100, version % 100);
    comm_register_device(DEVICE_CUDA, &nccl_ops);
    nccl.ready = 1;
    return 0;
}

extern "C" void cuda_comm_free(void) {
    if (!nccl.ready) return;
    comm_register_device(DEVICE_CUDA, NULL);
    nccl_settle(ncclCommFinalize(nccl.comm), "communicator finalize", 0);
    ncclCommDestroy(nccl.comm);
    cudaStreamDestroy(nccl.stream);
    cudaEventDestroy(nccl.queued);
    cudaEventDestroy(nccl.done);
    nccl.ready = 0;
}

#else // built without NCCL (nccl.h not found): one rank per job on the GPU

extern "C" int cuda_comm_init(char *why, size_t why_size) {
    snprintf(why, why_size, "this build has no NCCL (nccl.h was not found at build time)");
    return -1;
}

extern "C" void cuda_comm_free(void) {}

#endif
