/* op_attention_heads on the device (cuda/attention.cu, attention_tc.cu
 * reading the heads in place through AttentionLayout): parity with the CPU,
 * fp32 and bf16, heads in rows and packed, with a padding mask and dropout;
 * and on the device the same bits as the heads split, attended and merged.
 * Skips without a GPU. */
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/device.h"
#include "core/error.h"
#include "tests/attention_heads_cases.h"
#include "tests/cuda_parity.h"
#include "tests/test.h"

static int parity(int packed, float p, int bf16) {
    AttentionHeadsCase c = attention_heads_case(packed, 1, p);
    Tensor *in[4];
    int n = attention_heads_case_inputs(&c, in);
    const char *what = packed ? "attention heads, packed" : "attention heads in rows";
    if (!bf16) return cuda_parity_check(what, attention_heads_in_place, in, n, &c, PARITY_TOL_FP32);
    unsigned projections = (1u << attention_heads_case_grads(&c)) - 1u; /* bf16 q, k, v; the mask stays f32 */
    return cuda_parity_check_bf16(what, attention_heads_in_place, in, n, &c, PARITY_TOL_BF16, projections);
}

TEST(test_cuda_attention_heads_parity) {
    if (!cuda_parity_ready()) return;
    for (int packed = 0; packed < 2; packed++)
        for (int bf16 = 0; bf16 < 2; bf16++) {
            ASSERT_MSG(parity(packed, 0.0f, bf16) == 0, "%s", error_message());
            ASSERT_MSG(parity(packed, 0.25f, bf16) == 0, "%s", error_message());
        }
}

/* The output and the input gradients of fn on the device, as host floats
 * (malloc'd, in that order), from the upstream gradient 1/(k + 1); *n_out
 * counts them. */
static float **device_run(ParityFn fn, const AttentionHeadsCase *c, int bf16, int *n_out) {
    Tensor *cpu_in[4], *in[4], *args[4];
    int n = attention_heads_case_inputs(c, cpu_in), n_grads = attention_heads_case_grads(c);
    for (int i = 0; i < n; i++) {
        in[i] = tensor_to_device(cpu_in[i], DEVICE_CUDA);
        in[i]->requires_grad = i < n_grads;
        args[i] = bf16 && i < n_grads ? op_cast(in[i], DTYPE_BF16) : in[i];
    }
    Tensor *out = fn(args, (void *)c);
    if (out->dtype != DTYPE_F32) out = op_to_f32(out);
    int64_t m = tensor_numel(out);
    float **r = malloc((size_t)(n_grads + 1) * sizeof *r);
    float *up = malloc((size_t)m * sizeof *up);
    for (int64_t k = 0; k < m; k++) up[k] = 1.0f / (float)(k + 1);
    r[0] = malloc((size_t)m * sizeof(float));
    tensor_copy_to_host(out, r[0]);
    autograd_backward_with(out, up);
    free(up);
    for (int i = 0; i < n_grads; i++) {
        int64_t e = tensor_numel(in[i]);
        r[i + 1] = malloc((size_t)e * sizeof(float));
        device_copy(r[i + 1], DEVICE_CPU, in[i]->grad, DEVICE_CUDA, (size_t)e * sizeof(float));
    }
    autograd_step_end();
    *n_out = n_grads + 1;
    return r;
}

static int same_on_device(int packed, float p, int bf16) {
    AttentionHeadsCase c = attention_heads_case(packed, 1, p);
    int n, same = 1;
    float **a = device_run(attention_heads_in_place, &c, bf16, &n);
    float **b = device_run(attention_heads_split_and_merged, &c, bf16, &n);
    const int64_t D = c.H * c.Dh, rows_q = c.B * c.T, rows_kv = c.B * c.S;
    for (int i = 0; i < n; i++) {
        int64_t e = i == 0 ? rows_q * D : packed ? rows_q * 3 * D : (i == 1 ? rows_q : rows_kv) * D;
        same = same && memcmp(a[i], b[i], (size_t)e * sizeof(float)) == 0;
        free(a[i]);
        free(b[i]);
    }
    free(a);
    free(b);
    return same;
}

TEST(test_cuda_attention_heads_match_split_heads_bit_for_bit) {
    if (!cuda_parity_ready()) return;
    for (int packed = 0; packed < 2; packed++)
        for (int bf16 = 0; bf16 < 2; bf16++) {
            ASSERT(same_on_device(packed, 0.0f, bf16));
            ASSERT(same_on_device(packed, 0.25f, bf16));
        }
}
