#include "tests/cuda_parity.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/arena.h"
#include "core/device.h"
#include "core/error.h"
#include "tests/test.h"
#ifdef HAVE_CUDA
#include "cuda/backend.h"
#endif
#ifdef CUDA_EMULATOR
void emu_set_reverse_order(int reverse); /* tests/cuda_emu/emu_scheduler.h */
#endif

#define MAX_PARITY_INPUTS 8

int cuda_parity_ready(void) {
#ifdef HAVE_CUDA
    char why[256];
    if (cuda_backend_init(why, sizeof why) != 0) {
        test_skip("needs a GPU: %s", why);
        return 0;
    }
    cuda_set_precision(PRECISION_FP32);
    return 1;
#else
    test_skip("built without the CUDA backend (no nvcc, or CUDA=0)");
    return 0;
#endif
}

/* Host copies of one run's output and input gradients. */
typedef struct {
    float *out;
    int64_t n_out;
    float *grad[MAX_PARITY_INPUTS];
} RunResult;

static void result_free(RunResult *r) {
    free(r->out);
    for (int i = 0; i < MAX_PARITY_INPUTS; i++) free(r->grad[i]);
    memset(r, 0, sizeof *r);
}

/* Deterministic pseudo-random values in [-1, 1) for upstream gradients and
 * the initial contents of input gradients. */
static void fill_pattern(float *v, int64_t n, uint32_t salt) {
    for (int64_t k = 0; k < n; k++) {
        uint32_t h = (uint32_t)k * 2654435761u ^ salt * 40503u;
        h ^= h >> 15;
        h *= 2246822519u;
        h ^= h >> 13;
        v[k] = (float)(h & 0xFFFF) / 32768.0f - 1.0f;
    }
}

static int wants_grad(const Tensor *t) { return t->dtype == DTYPE_F32 && t->requires_grad; }

/* bf16_mask: on the device, the inputs whose bit is set reach fn as bf16
 * (through op_cast, so their gradients still arrive at the f32 copy). */
static void run_on(Device device, ParityFn fn, Tensor **cpu_inputs, int n, void *ctx, unsigned bf16_mask,
                   RunResult *r) {
    autograd_step_end();
    if (device != DEVICE_CPU) {
        arena_poison(arena_activations_on(device), 0xFF);
        /* A gradient's first writer stores into a buffer nobody zeroed
         * (tape_input_grad_to_overwrite): an element it misses stays NaN. */
        arena_poison(arena_grads_on(device), 0xFF);
    }
    Tensor *in[MAX_PARITY_INPUTS], *args[MAX_PARITY_INPUTS];
    for (int i = 0; i < n; i++) {
        in[i] = device == DEVICE_CPU ? cpu_inputs[i] : tensor_to_device(cpu_inputs[i], device);
        in[i]->requires_grad = cpu_inputs[i]->requires_grad;
        in[i]->grad = NULL;
        if (wants_grad(in[i])) { /* start every gradient from the same non-zero values */
            int64_t m = tensor_numel(in[i]);
            float *init = malloc((size_t)m * sizeof *init);
            fill_pattern(init, m, 100u + (uint32_t)i);
            float *g = tensor_grad_f32(in[i]);
            device_copy(g, device, init, DEVICE_CPU, (size_t)m * sizeof *g);
            free(init);
        }
        args[i] = device != DEVICE_CPU && (bf16_mask >> i & 1u) ? op_cast(in[i], DTYPE_BF16) : in[i];
    }
    Tensor *out = fn(args, ctx);
    CHECK((out->dtype == DTYPE_F32 || out->dtype == DTYPE_BF16) && out->device == device,
          "parity: the op's output is not a float tensor on the device");
    r->n_out = tensor_numel(out);
    r->out = malloc((size_t)r->n_out * sizeof *r->out);
    tensor_copy_to_host(out, r->out);
    if (out->requires_grad) {
        float *up = malloc((size_t)r->n_out * sizeof *up);
        fill_pattern(up, r->n_out, 7u);
        autograd_backward_with(out, up);
        free(up);
    }
    for (int i = 0; i < n; i++) {
        if (!wants_grad(in[i])) continue;
        int64_t m = tensor_numel(in[i]);
        r->grad[i] = malloc((size_t)m * sizeof(float));
        device_copy(r->grad[i], DEVICE_CPU, in[i]->grad, device, (size_t)m * sizeof(float));
    }
    for (int i = 0; i < n; i++) cpu_inputs[i]->grad = NULL;
    autograd_step_end();
}

/* Normwise relative error of dev against cpu; NaN anywhere in dev fails. */
static int compare(const char *what, const char *tensor, const float *dev, const float *cpu, int64_t n,
                   double tol) {
    double scale = 0.0, worst = 0.0;
    int64_t at = -1;
    for (int64_t k = 0; k < n; k++)
        if (fabs(cpu[k]) > scale) scale = fabs(cpu[k]);
    if (scale == 0.0) scale = 1.0;
    for (int64_t k = 0; k < n; k++) {
        double e = fabs((double)dev[k] - (double)cpu[k]) / scale;
        if (isnan(dev[k]) || isnan(e) || e > worst) {
            worst = isnan(dev[k]) ? INFINITY : e;
            at = k;
            if (isnan(dev[k])) break;
        }
    }
    if (worst > tol)
        return error_set("%s: %s element %lld: cuda %.9g vs cpu %.9g (normwise error %.3g > %.3g)", what, tensor,
                         (long long)at, (double)dev[at], (double)cpu[at], worst, tol);
    return 0;
}

static int same_bits(const char *what, const char *tensor, const float *a, const float *b, int64_t n) {
    if (memcmp(a, b, (size_t)n * sizeof *a) != 0)
        return error_set("%s: %s differs between two identical GPU runs (not deterministic)", what, tensor);
    return 0;
}

int cuda_parity_check(const char *what, ParityFn fn, Tensor **inputs, int n, void *ctx, double tol) {
    return cuda_parity_check_bf16(what, fn, inputs, n, ctx, tol, 0u);
}

int cuda_parity_check_bf16(const char *what, ParityFn fn, Tensor **inputs, int n, void *ctx, double tol,
                           unsigned bf16_inputs) {
    CHECK(n <= MAX_PARITY_INPUTS, "parity: at most %d inputs", MAX_PARITY_INPUTS);
    /* The CPU inputs must survive the arena resets between the runs. */
    Tensor *kept[MAX_PARITY_INPUTS];
    void *data[MAX_PARITY_INPUTS];
    for (int i = 0; i < n; i++) {
        kept[i] = malloc(sizeof(Tensor));
        *kept[i] = *inputs[i];
        data[i] = malloc(tensor_nbytes(inputs[i]));
        memcpy(data[i], inputs[i]->data, tensor_nbytes(inputs[i]));
        kept[i]->data = data[i];
        kept[i]->grad = NULL;
    }
    RunResult cpu = {0}, dev1 = {0}, dev2 = {0};
    run_on(DEVICE_CPU, fn, kept, n, ctx, 0u, &cpu);
    run_on(DEVICE_CUDA, fn, kept, n, ctx, bf16_inputs, &dev1);
#ifdef CUDA_EMULATOR
    /* The second run schedules blocks and threads in reverse order: a kernel
     * with a race between two barriers (or between blocks) gives other bits. */
    emu_set_reverse_order(1);
    run_on(DEVICE_CUDA, fn, kept, n, ctx, bf16_inputs, &dev2);
    emu_set_reverse_order(0);
#else
    run_on(DEVICE_CUDA, fn, kept, n, ctx, bf16_inputs, &dev2);
#endif
    int rc = cpu.n_out == dev1.n_out ? 0 : error_set("%s: output sizes differ", what);
    if (rc == 0) rc = compare(what, "output", dev1.out, cpu.out, cpu.n_out, tol);
    if (rc == 0) rc = same_bits(what, "output", dev1.out, dev2.out, cpu.n_out);
    for (int i = 0; rc == 0 && i < n; i++) {
        if (!cpu.grad[i]) continue;
        char name[32];
        snprintf(name, sizeof name, "gradient of input %d", i);
        int64_t m = tensor_numel(kept[i]);
        rc = compare(what, name, dev1.grad[i], cpu.grad[i], m, tol);
        if (rc == 0) rc = same_bits(what, name, dev1.grad[i], dev2.grad[i], m);
    }
    result_free(&cpu);
    result_free(&dev1);
    result_free(&dev2);
    for (int i = 0; i < n; i++) {
        free(data[i]);
        free(kept[i]);
    }
    return rc;
}

void cuda_parity_profile_text(char *buf, size_t size, int top) {
#ifdef HAVE_CUDA
    char path[300];
    FILE *f = fopen(test_tmp_path(path, sizeof path, "profile.txt"), "w+");
    if (!f) fatal("cannot write %s", path);
    cuda_profile_print(f, top);
    rewind(f);
    size_t n = fread(buf, 1, size - 1, f);
    fclose(f);
    buf[n] = '\0';
#else
    (void)top;
    snprintf(buf, size, "(no CUDA in this build)");
#endif
}
