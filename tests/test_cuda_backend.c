/* The CUDA backend's table and set-up: checks that run without a GPU (every
 * kernel entry is filled) and the GPU ones, which skip with the reason here. */
#include <string.h>

#include "autograd/device_kernels.h"
#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/device.h"
#include "core/error.h"
#include "tests/cuda_parity.h"
#include "tests/test.h"
#ifdef HAVE_CUDA
#include "cuda/backend.h"
#endif

TEST(test_cuda_every_kernel_entry_is_filled) {
#ifdef HAVE_CUDA
    DeviceKernels k;
    cuda_fill_all(&k);
    /* The table is a name followed by function pointers only. */
    void (*const *entries)(void) = (void (*const *)(void))((const char *)&k + sizeof(const char *));
    size_t count = (sizeof k - sizeof(const char *)) / sizeof(void (*)(void));
    for (size_t i = 0; i < count; i++) ASSERT_MSG(entries[i] != NULL, "kernel table entry %zu is empty", i);
#else
    test_skip("built without the CUDA backend (no nvcc, or CUDA=0)");
#endif
}

TEST(test_cuda_device_tensors_round_trip) {
    if (!cuda_parity_ready()) return;
    float host[5] = {1, -2, 3.5f, 0, 1e-8f};
    Tensor *t = tensor_from_f32(SHAPE(5), host);
    Tensor *d = tensor_to_device(t, DEVICE_CUDA);
    ASSERT_EQ_INT(d->device, DEVICE_CUDA);
    float back[5];
    tensor_copy_to_host(d, back);
    ASSERT(memcmp(back, host, sizeof host) == 0);
    autograd_step_end();
}

TEST(test_cuda_oversized_allocation_names_the_sizes) {
    if (!cuda_parity_ready()) return;
#ifdef HAVE_CUDA
    /* 1 PiB: no card has it; the message must give the request and the free memory. */
    void *p = cuda_try_alloc((size_t)1 << 50);
    ASSERT(p == NULL);
    ASSERT_STR_CONTAINS(error_message(), "cannot allocate");
    ASSERT_STR_CONTAINS(error_message(), "MiB free of");
#endif
}

/* The profiler (bench_albef --profile) names each operation of a window once
 * per call site (kernels by function, file and line; GEMMs by shape and
 * types; copies by direction) with its calls per window, and its spans add
 * up to the device time it prints. */
TEST(test_cuda_profile_names_and_counts_each_operation) {
    if (!cuda_parity_ready()) return;
#ifdef HAVE_CUDA
    Tensor *x = tensor_random_uniform(SHAPE(9, 16), -1.0f, 1.0f, 1);
    Tensor *w = tensor_to_device(tensor_random_uniform(SHAPE(24, 16), -1.0f, 1.0f, 2), DEVICE_CUDA);
    cuda_profile_clear();
    for (int window = 0; window < 2; window++) {
        cuda_profile_begin();
        Tensor *y = op_gelu(op_linear(tensor_to_device(x, DEVICE_CUDA), w, NULL));
        Tensor *z = op_gelu(y);
        cuda_profile_end();
        (void)z;
    }
    char text[4096];
    cuda_parity_profile_text(text, sizeof text, 10);
    ASSERT_STR_CONTAINS(text, "| operation | calls/step | ms/step | share |");
    ASSERT_STR_CONTAINS(text, "| gemm f32->f32 9x24x16 Bt | 1 |");
    ASSERT_STR_CONTAINS(text, "| copy host to device | 1 |");
    const char *gelu = strstr(text, "| activation_forward (elementwise.cu:");
    ASSERT_MSG(gelu != NULL, "no row for the GELU kernel in:\n%s", text);
    ASSERT_MSG(strstr(gelu, ") | 2 |") == strchr(gelu, ')'), "the GELU row does not count 2 calls per step:\n%s",
               text);
    /* The rows' calls add up to the operation count of the summary line (4
     * here, more when MMU_ARENA_GUARD=1 fills every allocation). */
    long calls = 0, ops = -1;
    for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        const char *bar = line[0] == '|' && line[2] != '-' ? strchr(line + 1, '|') : NULL;
        long c;
        if (bar && strncmp(line, "| operation |", 13) != 0 && sscanf(bar + 1, " %ld |", &c) == 1) calls += c;
        if (strncmp(line, "device time", 11) == 0) {
            const char *at = strstr(line, "over 2 step(s), ");
            ASSERT_MSG(at && sscanf(at + 16, "%ld operations/step", &ops) == 1, "no operation count in:\n%s", text);
        }
    }
    ASSERT_MSG(ops >= 4 && calls == ops, "the rows count %ld calls, the summary %ld operations:\n%s", calls, ops, text);
    cuda_profile_clear();
    autograd_step_end();
#endif
}
