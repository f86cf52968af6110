/* The host collectives of core/comm.h against a reference every rank can
 * compute alone: each rank's buffer is a pure function of (seed, rank), so
 * any rank can rebuild all of them. Sizes are awkward on purpose: empty, one
 * element, odd, and a few pieces of a bucket. */
#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/comm.h"
#include "core/rng.h"
#include "tests/test.h"

static const int64_t sizes[] = {0, 1, 7, 1000, 65539};
#define N_SIZES ((int)(sizeof sizes / sizeof sizes[0]))

static void fill_rank(float *x, int64_t n, uint64_t seed, int rank) {
    for (int64_t k = 0; k < n; k++) x[k] = philox_normal(seed, (uint64_t)rank, (uint64_t)k);
}

/* x and every rank's copy of it must be the same bits (parameters stay identical). */
static int same_on_every_rank(const float *x, int64_t n) {
    float *all = malloc((size_t)(n * comm_size() + 1) * sizeof *all);
    comm_allgather_f32(DEVICE_CPU, x, all, n);
    int same = 1;
    for (int r = 0; r < comm_size(); r++) same &= memcmp(all + r * n, x, (size_t)n * sizeof *x) == 0;
    free(all);
    return same;
}

TEST(test_comm_world_shape_from_the_launcher) {
    const char *env = getenv("OMPI_COMM_WORLD_SIZE");
    ASSERT_EQ_INT(comm_size(), env ? atoi(env) : 1);
    ASSERT(comm_rank() >= 0 && comm_rank() < comm_size());
    ASSERT(comm_local_rank() >= 0 && comm_local_rank() <= comm_rank());
    ASSERT_EQ_INT(comm_is_root(), comm_rank() == 0);
    int64_t me = comm_rank(), ranks[64];
    ASSERT(comm_size() <= 64);
    comm_allgather_i64(&me, ranks, 1);
    for (int r = 0; r < comm_size(); r++) ASSERT_EQ_INT(ranks[r], r);
}

/* One rank is the plain program: MPI is linked but never started. */
TEST(test_comm_one_rank_does_not_start_mpi) {
    int started = 0;
    MPI_Initialized(&started);
    ASSERT_EQ_INT(started, comm_size() > 1);
}

TEST(test_comm_allreduce_sum_and_mean_match_reference) {
    for (int s = 0; s < N_SIZES; s++) {
        int64_t n = sizes[s];
        float *x = malloc((size_t)(n + 1) * sizeof *x), *ref = calloc((size_t)(n + 1), sizeof *ref);
        float *tmp = malloc((size_t)(n + 1) * sizeof *tmp);
        for (int r = 0; r < comm_size(); r++) {
            fill_rank(tmp, n, 11 + (uint64_t)s, r);
            for (int64_t k = 0; k < n; k++) ref[k] += tmp[k];
        }
        for (CommReduce op = COMM_SUM; op <= COMM_MEAN; op++) {
            fill_rank(x, n, 11 + (uint64_t)s, comm_rank());
            comm_allreduce_f32(DEVICE_CPU, x, n, op);
            float scale = op == COMM_MEAN ? 1.0f / (float)comm_size() : 1.0f;
            for (int64_t k = 0; k < n; k++) tmp[k] = ref[k] * scale;
            /* Two ranks add one pair: exact. More: MPI's order may differ from the reference's. */
            if (comm_size() <= 2) ASSERT_MSG(memcmp(x, tmp, (size_t)n * sizeof *x) == 0, "size %lld: not exact", (long long)n);
            else ASSERT_CLOSE_ARRAY(x, tmp, n, 1e-6, 1e-6);
            ASSERT_MSG(same_on_every_rank(x, n), "size %lld: the ranks' results differ", (long long)n);
        }
        free(x);
        free(ref);
        free(tmp);
    }
}

TEST(test_comm_allreduce_f64_and_i64_sum_counts) {
    double d[2] = {0.5 * comm_rank(), 1.0};
    int64_t i[3] = {comm_rank(), 1, (int64_t)1 << 40};
    comm_allreduce_f64(d, 2, COMM_SUM);
    comm_allreduce_i64(i, 3, COMM_SUM);
    int n = comm_size();
    ASSERT_NEAR(d[0], 0.25 * n * (n - 1), 0.0);
    ASSERT_NEAR(d[1], n, 0.0);
    ASSERT_EQ_INT(i[0], (int64_t)n * (n - 1) / 2);
    ASSERT_EQ_INT(i[1], n);
    ASSERT_EQ_INT(i[2], (int64_t)n << 40);
    double m = comm_rank();
    comm_allreduce_f64(&m, 1, COMM_MEAN);
    ASSERT_NEAR(m, 0.5 * (n - 1), 1e-15);
}

TEST(test_comm_broadcast_from_the_last_rank) {
    int root = comm_size() - 1;
    for (int s = 0; s < N_SIZES; s++) {
        int64_t n = sizes[s];
        float *x = malloc((size_t)(n + 1) * sizeof *x), *ref = malloc((size_t)(n + 1) * sizeof *ref);
        fill_rank(x, n, 21, comm_rank());
        fill_rank(ref, n, 21, root);
        comm_broadcast_f32(DEVICE_CPU, x, n, root);
        ASSERT_MSG(memcmp(x, ref, (size_t)n * sizeof *x) == 0, "size %lld: not the root's values", (long long)n);
        free(x);
        free(ref);
    }
    int64_t ids[5] = {comm_rank(), -1, 2, 3, comm_rank() * 7};
    char text[24];
    snprintf(text, sizeof text, "rank %d", comm_rank());
    comm_broadcast_i64(ids, 5, root);
    comm_broadcast_bytes(text, sizeof text, root);
    ASSERT_EQ_INT(ids[0], root);
    ASSERT_EQ_INT(ids[4], root * 7);
    char want[24];
    snprintf(want, sizeof want, "rank %d", root);
    ASSERT(strcmp(text, want) == 0);
}

TEST(test_comm_allgather_in_rank_order) {
    for (int s = 0; s < N_SIZES; s++) {
        int64_t n = sizes[s], R = comm_size();
        float *x = malloc((size_t)(n + 1) * sizeof *x), *all = malloc((size_t)(n * R + 1) * sizeof *all);
        float *ref = malloc((size_t)(n * R + 1) * sizeof *ref);
        fill_rank(x, n, 31, comm_rank());
        for (int r = 0; r < R; r++) fill_rank(ref + r * n, n, 31, r);
        comm_allgather_f32(DEVICE_CPU, x, all, n);
        ASSERT_MSG(memcmp(all, ref, (size_t)(n * R) * sizeof *all) == 0, "size %lld: wrong gather", (long long)n);
        free(x);
        free(all);
        free(ref);
    }
}

/* A barrier holds every rank until the last arrives: rank 0 waits for rank 1's nap. */
TEST(test_comm_barrier_waits_for_the_last_rank) {
    if (comm_size() < 2) {
        comm_barrier();
        return;
    }
    double t0 = clock_seconds();
    if (comm_rank() == 1) {
        const struct timespec nap = {0, 300000000};
        nanosleep(&nap, NULL);
    }
    comm_barrier();
    if (comm_rank() == 0) ASSERT_MSG(clock_seconds() - t0 >= 0.25, "rank 0 left the barrier after %.3f s",
                                     clock_seconds() - t0);
}

/* Buckets: several all-reduces in flight at once, completed by one finish. */
TEST(test_comm_started_allreduces_complete_at_finish) {
    float *x[N_SIZES], *ref[N_SIZES];
    for (int s = 0; s < N_SIZES; s++) {
        int64_t n = sizes[s];
        x[s] = malloc((size_t)(n + 1) * sizeof **x);
        ref[s] = calloc((size_t)(n + 1), sizeof **ref);
        float *tmp = malloc((size_t)(n + 1) * sizeof *tmp);
        for (int r = 0; r < comm_size(); r++) {
            fill_rank(tmp, n, 41 + (uint64_t)s, r);
            for (int64_t k = 0; k < n; k++) ref[s][k] += tmp[k] / (float)comm_size();
        }
        free(tmp);
        fill_rank(x[s], n, 41 + (uint64_t)s, comm_rank());
        comm_allreduce_start(DEVICE_CPU, x[s], n, COMM_MEAN);
        comm_progress();
    }
    comm_allreduce_finish();
    for (int s = 0; s < N_SIZES; s++) {
        ASSERT_CLOSE_ARRAY(x[s], ref[s], sizes[s], 1e-6, 1e-6);
        ASSERT(same_on_every_rank(x[s], sizes[s]));
        free(x[s]);
        free(ref[s]);
    }
}

/* Sharded rows: whole blocks per rank, every row covered once, and the
 * gather puts each rank's rows back in place, for awkward row counts. */
TEST(test_comm_sharded_rows_gather_back_in_place) {
    static const int64_t ns[] = {0, 1, 7, 10, 31};
    for (int s = 0; s < 5; s++) {
        int64_t n = ns[s], block = 3, row = 5, lo, hi;
        comm_shard_rows(n, block, &lo, &hi);
        ASSERT(lo % block == 0 && lo <= hi && hi <= n);
        int64_t mine = hi - lo, total = mine;
        comm_allreduce_i64(&total, 1, COMM_SUM);
        ASSERT_EQ_INT(total, n);
        float *buf = malloc((size_t)(n * row + 1) * sizeof *buf);
        for (int64_t k = 0; k < n * row; k++) buf[k] = (k >= lo * row && k < hi * row) ? (float)k : -1.0f;
        comm_allgather_rows_f32(buf, n, row, block);
        for (int64_t k = 0; k < n * row; k++) ASSERT_MSG(buf[k] == (float)k, "n %lld: [%lld] = %g", (long long)n,
                                                         (long long)k, buf[k]);
        free(buf);
    }
}
