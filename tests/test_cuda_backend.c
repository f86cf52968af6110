/* The CUDA backend's table and set-up: checks that run without a GPU (every
 * kernel entry is filled) and the GPU ones, which skip with the reason here. */
#include <string.h>

#include "autograd/device_kernels.h"
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
