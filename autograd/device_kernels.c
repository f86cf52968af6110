#include "autograd/device_kernels.h"

#include "core/error.h"

static const DeviceKernels *registered_cuda;

void device_kernels_register(Device device, const DeviceKernels *kernels) {
    CHECK(device == DEVICE_CUDA, "device_kernels_register: only the cuda device takes kernels");
    registered_cuda = kernels;
}

const DeviceKernels *device_kernels(Device device, const char *op) {
    if (device != DEVICE_CUDA || registered_cuda == NULL)
        fatal("%s: the input is on the %s device, whose backend is not initialised (build with CUDA=1 and run "
              "with --device cuda on a machine with a GPU)",
              op, device == DEVICE_CUDA ? "cuda" : "cpu");
    return registered_cuda;
}

Device ops_device(const char *op, const Tensor *a, const Tensor *b, const Tensor *c) {
    const Tensor *ts[3] = {a, b, c};
    const Tensor *first = NULL;
    for (int i = 0; i < 3; i++) {
        if (ts[i] == NULL) continue;
        if (first == NULL) first = ts[i];
        CHECK(ts[i]->device == first->device, "%s: arguments on different devices (%s and %s)", op,
              first->device == DEVICE_CPU ? "cpu" : "cuda", ts[i]->device == DEVICE_CPU ? "cpu" : "cuda");
    }
    return first ? first->device : DEVICE_CPU;
}

DType ops_product_dtype(Device device, const char *op) {
    return device == DEVICE_CPU ? DTYPE_F32 : device_kernels(device, op)->matmul_dtype();
}
