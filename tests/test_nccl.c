/* The NCCL collectives (cuda/comm_nccl.cu) with one rank, on a GPU: the
 * communicator comes up from a unique id, every collective and the bucket
 * stream's start/finish run on device buffers of awkward sizes and leave the
 * values a one-rank job must have (the sum and mean of one rank are its own
 * values, the gather is a copy). A plumbing check: several ranks need several
 * GPUs (bench/gpu_check.sh runs it; without a GPU it skips). */
#include <stdlib.h>

#include "core/comm.h"
#include "core/device.h"
#include "core/rng.h"
#include "tests/cuda_parity.h"
#include "tests/test.h"
#ifdef HAVE_CUDA
#include "cuda/backend.h"
#include "cuda/comm_nccl.h"
#endif

TEST(test_nccl_one_rank_collectives_and_buckets) {
    if (!cuda_parity_ready()) return;
#ifdef HAVE_CUDA
    char why[256];
    ASSERT(comm_init() == 0);
    ASSERT_MSG(cuda_comm_init(why, sizeof why) == 0, "cuda_comm_init: %s", why);
    ASSERT_STR_CONTAINS(comm_device_name(DEVICE_CUDA), "nccl");
    static const int64_t sizes[] = {0, 1, 7, 65539};
    float *dev[4], *host[4];
    for (int s = 0; s < 4; s++) {
        int64_t n = sizes[s];
        size_t bytes = (size_t)(n + 1) * sizeof(float);
        host[s] = malloc(bytes);
        for (int64_t k = 0; k < n; k++) host[s][k] = philox_normal(5, (uint64_t)s, (uint64_t)k);
        dev[s] = device_alloc(DEVICE_CUDA, bytes);
        device_copy(dev[s], DEVICE_CUDA, host[s], DEVICE_CPU, (size_t)n * sizeof(float));
        comm_allreduce_f32(DEVICE_CUDA, dev[s], n, COMM_SUM);
        comm_allreduce_f32(DEVICE_CUDA, dev[s], n, COMM_MEAN);
        comm_broadcast_f32(DEVICE_CUDA, dev[s], n, 0);
        float *gathered = device_alloc(DEVICE_CUDA, bytes), *back = malloc(bytes);
        comm_allgather_f32(DEVICE_CUDA, dev[s], gathered, n);
        device_copy(back, DEVICE_CPU, gathered, DEVICE_CUDA, (size_t)n * sizeof(float));
        ASSERT_MSG(memcmp(back, host[s], (size_t)n * sizeof(float)) == 0, "size %lld: collectives changed values",
                   (long long)n);
        device_release(DEVICE_CUDA, gathered);
        free(back);
    }
    /* Buckets on the second stream, each queued behind a fill on the backend stream. */
    for (int s = 0; s < 4; s++) {
        device_fill(DEVICE_CUDA, dev[s], 0x3f, (size_t)sizes[s] * sizeof(float));
        comm_allreduce_start(DEVICE_CUDA, dev[s], sizes[s], COMM_MEAN);
    }
    comm_allreduce_finish();
    for (int s = 0; s < 4; s++) {
        int64_t n = sizes[s];
        float *back = malloc((size_t)(n + 1) * sizeof(float));
        device_copy(back, DEVICE_CPU, dev[s], DEVICE_CUDA, (size_t)n * sizeof(float));
        uint32_t bits;
        for (int64_t k = 0; k < n; k++) {
            memcpy(&bits, &back[k], sizeof bits);
            ASSERT_MSG(bits == 0x3f3f3f3fu, "size %lld [%lld] = %g: not the fill queued before", (long long)n,
                       (long long)k, back[k]);
        }
        free(back);
        device_release(DEVICE_CUDA, dev[s]);
        free(host[s]);
    }
    cuda_comm_free();
    ASSERT(comm_device_name(DEVICE_CUDA) == NULL);
#endif
}
