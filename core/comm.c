/* The job's world and the dispatch of collectives (core/comm.h): one rank
 * answers locally, several go to MPI (host memory) or to the collectives the
 * device's backend registered (device memory). */
#include "core/comm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/comm_mpi.h"
#include "core/device.h"
#include "core/error.h"

#define COMM_DEVICES (DEVICE_CUDA + 1)

static struct {
    int initialized, with_mpi;
    int rank, size, local_rank;
    double timeout;
    const CommDeviceOps *device_ops[COMM_DEVICES];
    int device_started[COMM_DEVICES]; /* comm_allreduce_start since the last finish */
    int host_started;
    int solo; /* depth of comm_solo_begin */
    char origin[64];
} world = {0, 0, 0, 1, 0, 0.0, {0}, {0}, 0, 0, ""};

/* The launcher's rank count: Open MPI's mpirun and the PMI launchers (Slurm,
 * Hydra) say it in the environment before MPI_Init. 1 when absent. */
static int launcher_size(void) {
    const char *names[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        const char *v = getenv(names[k]);
        if (v && *v) return atoi(v);
    }
    return 1;
}

static void stop_job(int status) { comm_abort(status); }

int comm_init(void) {
    if (world.initialized) return 0;
    const char *t = getenv("MMU_COMM_TIMEOUT");
    if (world.timeout <= 0) world.timeout = t && atof(t) > 0 ? atof(t) : 300.0;
    int expected = launcher_size();
    world.initialized = 1;
    if (expected <= 1) return 0;
    world.with_mpi = 1;
    if (comm_mpi_init(expected, &world.rank, &world.size, &world.local_rank) < 0) return -1;
    /* From here on an error names its rank and stops every rank. */
    snprintf(world.origin, sizeof world.origin, "rank %d of %d", world.rank, world.size);
    error_set_job(world.origin, stop_job);
    atexit(comm_finalize);
    return 0;
}

void comm_finalize(void) {
    if (world.with_mpi) comm_mpi_finalize();
}

int comm_rank(void) { return world.solo ? 0 : world.rank; }
int comm_size(void) { return world.solo ? 1 : world.size; }
int comm_local_rank(void) { return world.local_rank; }
int comm_is_root(void) { return comm_rank() == 0; }
void comm_solo_begin(void) { world.solo++; }
void comm_solo_end(void) {
    CHECK(world.solo > 0, "comm_solo_end without comm_solo_begin");
    world.solo--;
}
void comm_set_timeout(double seconds) { world.timeout = seconds; }
double comm_timeout(void) { return world.timeout > 0 ? world.timeout : 300.0; }

void comm_abort(int status) {
    if (world.with_mpi) comm_mpi_abort(status);
    exit(status);
}

void comm_register_device(Device device, const CommDeviceOps *ops) {
    CHECK(device > DEVICE_CPU && device < COMM_DEVICES, "comm_register_device: device %d", (int)device);
    world.device_ops[device] = ops;
}

const char *comm_device_name(Device device) {
    return device > DEVICE_CPU && device < COMM_DEVICES && world.device_ops[device] ? world.device_ops[device]->name
                                                                                     : NULL;
}

/* Where a collective on `device` goes: the device's registered collectives
 * (even for one rank, so a one-rank run exercises them), nowhere for one rank
 * on the host, MPI for several. */
typedef enum { ROUTE_LOCAL, ROUTE_MPI, ROUTE_DEVICE } Route;

static Route route(Device device, const char *what) {
    if (world.solo) return ROUTE_LOCAL;
    if (device != DEVICE_CPU && world.device_ops[device]) return ROUTE_DEVICE;
    if (world.size == 1) return ROUTE_LOCAL;
    if (device != DEVICE_CPU)
        fatal("%s on the %s with %d ranks: no collectives registered for that device (cuda_comm_init)", what,
              device_name(device), world.size);
    return ROUTE_MPI;
}

int comm_is_local(Device device) {
    return world.solo || (world.size == 1 && (device == DEVICE_CPU || !world.device_ops[device]));
}

void comm_allreduce_f32(Device device, float *x, int64_t n, CommReduce op) {
    switch (route(device, "all-reduce")) {
    case ROUTE_DEVICE: world.device_ops[device]->allreduce(x, n, op); break;
    case ROUTE_MPI: comm_mpi_allreduce(x, n, COMM_TYPE_F32, op); break;
    case ROUTE_LOCAL: break;
    }
}

void comm_allreduce_f64(double *x, int64_t n, CommReduce op) {
    if (comm_size() > 1) comm_mpi_allreduce(x, n, COMM_TYPE_F64, op);
}

void comm_allreduce_i64(int64_t *x, int64_t n, CommReduce op) {
    CHECK(op == COMM_SUM, "comm_allreduce_i64: a mean of integers");
    if (comm_size() > 1) comm_mpi_allreduce(x, n, COMM_TYPE_I64, op);
}

void comm_broadcast_f32(Device device, float *x, int64_t n, int root) {
    CHECK(root >= 0 && root < comm_size(), "broadcast from rank %d of %d", root, comm_size());
    switch (route(device, "broadcast")) {
    case ROUTE_DEVICE: world.device_ops[device]->broadcast(x, n, root); break;
    case ROUTE_MPI: comm_mpi_broadcast(x, n, COMM_TYPE_F32, root); break;
    case ROUTE_LOCAL: break;
    }
}

void comm_broadcast_i64(int64_t *x, int64_t n, int root) {
    CHECK(root >= 0 && root < comm_size(), "broadcast from rank %d of %d", root, comm_size());
    if (comm_size() > 1) comm_mpi_broadcast(x, n, COMM_TYPE_I64, root);
}

void comm_broadcast_bytes(void *x, int64_t n, int root) {
    CHECK(root >= 0 && root < comm_size(), "broadcast from rank %d of %d", root, comm_size());
    if (comm_size() > 1) comm_mpi_broadcast(x, n, COMM_TYPE_U8, root);
}

void comm_allgather_f32(Device device, const float *send, float *recv, int64_t n) {
    switch (route(device, "all-gather")) {
    case ROUTE_DEVICE: world.device_ops[device]->allgather(send, recv, n); break;
    case ROUTE_MPI: comm_mpi_allgather(send, recv, n, COMM_TYPE_F32); break;
    case ROUTE_LOCAL:
        if (n > 0 && send != recv) device_copy(recv, device, send, device, (size_t)n * sizeof *recv);
        break;
    }
}

void comm_allgather_i64(const int64_t *send, int64_t *recv, int64_t n) {
    if (comm_size() > 1) comm_mpi_allgather(send, recv, n, COMM_TYPE_I64);
    else if (n > 0 && send != recv) memcpy(recv, send, (size_t)n * sizeof *recv);
}

void comm_barrier(void) {
    if (comm_size() > 1) comm_mpi_barrier();
}

void comm_shard_rows(int64_t n, int64_t block, int64_t *lo, int64_t *hi) {
    CHECK(block > 0 && n >= 0, "comm_shard_rows(%lld, %lld)", (long long)n, (long long)block);
    int64_t blocks = (n + block - 1) / block, R = comm_size(), r = comm_rank();
    int64_t first = blocks * r / R, last = blocks * (r + 1) / R;
    *lo = first * block < n ? first * block : n;
    *hi = last * block < n ? last * block : n;
}

void comm_allgather_rows_f32(float *buf, int64_t n, int64_t row_elems, int64_t block) {
    int R = comm_size();
    if (R == 1) return;
    /* Equal counts for the all-gather: every rank sends its rows padded to the longest shard. */
    int64_t blocks = (n + block - 1) / block, most = ((blocks + R - 1) / R) * block * row_elems;
    int64_t lo, hi;
    comm_shard_rows(n, block, &lo, &hi);
    float *send = calloc((size_t)(most > 0 ? most : 1), sizeof *send);
    float *recv = malloc((size_t)(most > 0 ? most * R : 1) * sizeof *recv);
    CHECK(send && recv, "out of memory gathering %lld rows of %lld", (long long)n, (long long)row_elems);
    memcpy(send, buf + lo * row_elems, (size_t)((hi - lo) * row_elems) * sizeof *buf);
    comm_mpi_allgather(send, recv, most, COMM_TYPE_F32);
    for (int q = 0; q < R; q++) {
        int64_t qlo = blocks * q / R * block, qhi = blocks * (q + 1) / R * block;
        if (qhi > n) qhi = n;
        if (qlo < qhi) memcpy(buf + qlo * row_elems, recv + q * most, (size_t)((qhi - qlo) * row_elems) * sizeof *buf);
    }
    free(send);
    free(recv);
}

void comm_allreduce_start(Device device, float *x, int64_t n, CommReduce op) {
    switch (route(device, "all-reduce")) {
    case ROUTE_DEVICE:
        world.device_ops[device]->allreduce_start(x, n, op);
        world.device_started[device] = 1;
        break;
    case ROUTE_MPI:
        comm_mpi_allreduce_start(x, n, op);
        world.host_started = 1;
        break;
    case ROUTE_LOCAL: break;
    }
}

void comm_progress(void) {
    if (world.host_started) comm_mpi_progress();
}

void comm_allreduce_finish(void) {
    if (world.host_started) comm_mpi_allreduce_finish();
    world.host_started = 0;
    for (int d = DEVICE_CPU + 1; d < COMM_DEVICES; d++) {
        if (world.device_started[d]) world.device_ops[d]->allreduce_finish();
        world.device_started[d] = 0;
    }
}
