/* op_attention_heads, which reads and writes the heads where the projections
 * keep them, against what it replaces: the heads split (reshape, permute),
 * op_attention_rows, and merged again (permute, reshape); with separate q, k,
 * v and with one packed qkv (split by op_split before), a padding mask and
 * dropout. The same output and input gradients bit for bit, and
 * finite-difference gradients. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/error.h"
#include "tests/attention_heads_cases.h"
#include "tests/test.h"

/* Output and input gradients of one run (malloc'd), from a fixed upstream gradient. */
typedef struct {
    float *v[4];
    int64_t n[4];
} Run;

static Run run_once(ParityFn fn, Tensor **in, int n_in, void *ctx) {
    Run r = {0};
    for (int i = 0; i < n_in; i++) in[i]->grad = NULL;  /* n_in: the inputs with gradients */
    Tensor *out = fn(in, ctx);
    Tensor *up = tensor_random_uniform(out->ndim, out->shape, -1.0f, 1.0f, 99);
    autograd_backward_with(out, tensor_f32(up));
    for (int i = 0; i <= n_in; i++) {
        const Tensor *t = i == 0 ? out : in[i - 1];
        r.n[i] = tensor_numel(t);
        r.v[i] = malloc((size_t)r.n[i] * sizeof(float));
        memcpy(r.v[i], i == 0 ? tensor_f32(t) : t->grad, (size_t)r.n[i] * sizeof(float));
    }
    return r;
}

static int same_run(const AttentionHeadsCase *c) {
    Tensor *in[4];
    attention_heads_case_inputs(c, in);
    int n_in = attention_heads_case_grads(c);
    Run a = run_once(attention_heads_in_place, in, n_in, (void *)c);
    Run b = run_once(attention_heads_split_and_merged, in, n_in, (void *)c);
    int same = 1;
    for (int i = 0; i <= n_in; i++) {
        same = same && a.n[i] == b.n[i] && memcmp(a.v[i], b.v[i], (size_t)a.n[i] * sizeof(float)) == 0;
        free(a.v[i]);
        free(b.v[i]);
    }
    return same;
}

TEST(test_attention_heads_in_rows_match_split_heads_bit_for_bit) {
    AttentionHeadsCase c = attention_heads_case(0, 1, 0.0f);
    ASSERT(same_run(&c));
    c = attention_heads_case(0, 1, 0.25f);
    ASSERT(same_run(&c));
    c = attention_heads_case(0, 0, 0.0f);
    ASSERT(same_run(&c));
}

TEST(test_attention_heads_packed_match_split_qkv_bit_for_bit) {
    AttentionHeadsCase c = attention_heads_case(1, 1, 0.0f);
    ASSERT(same_run(&c));
    c = attention_heads_case(1, 1, 0.25f);
    ASSERT(same_run(&c));
}

TEST(test_attention_heads_gradcheck) {
    for (int packed = 0; packed < 2; packed++) {
        AttentionHeadsCase c = attention_heads_case(packed, 1, packed ? 0.25f : 0.0f);
        Tensor *in[4];
        int n_in = attention_heads_case_inputs(&c, in);
        ASSERT_MSG(gradcheck(attention_heads_in_place, in, n_in, &c, gradcheck_defaults()) == 0, "%s",
                   error_message());
    }
}
