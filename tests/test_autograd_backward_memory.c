/* autograd/tape.c: a backward pass frees memory as it goes. An op's output
 * gradient is released once that op's node has run (every consumer of the
 * output has added into it by then), and each node's scratch is rewound
 * after it, while leaves keep their gradients and the values stay exact. */
#include <math.h>

#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "core/arena.h"
#include "autograd/tape.h"
#include "tests/test.h"

enum { ROWS = 64, COLS = 48, LINKS = 10 };

/* h <- h + 0.5 h, LINKS times: every h feeds two ops, so its gradient is
 * complete only after both have run; d(sum h)/dx = 1.5^LINKS exactly. */
static Tensor *chain(Tensor *x, Tensor **intermediates) {
    Tensor *h = x;
    for (int k = 0; k < LINKS; k++) {
        Tensor *half = op_scale(h, 0.5f);
        h = op_add(h, half);
        intermediates[2 * k] = half;
        intermediates[2 * k + 1] = h;
    }
    return op_sum_all(h);
}

TEST(test_backward_releases_op_output_gradients_and_keeps_the_leafs) {
    Tensor *x = tensor_random_uniform(SHAPE(ROWS, COLS), -1.0f, 1.0f, 5);
    x->requires_grad = 1;
    Tensor *mid[2 * LINKS];
    Tensor *loss = chain(x, mid);
    autograd_backward(loss);
    const float want = (float)pow(1.5, LINKS); /* 3^10 / 2^10: exact in float */
    const float *g = x->grad;
    ASSERT(g != NULL);
    for (int e = 0; e < ROWS * COLS; e++) ASSERT(g[e] == want);
    for (int k = 0; k < 2 * LINKS; k++) ASSERT(mid[k]->grad == NULL);
    ASSERT(loss->grad == NULL);
    autograd_step_end();
}

/* Without the release every one of the 2 x LINKS intermediates would hold a
 * gradient to the step's end; with it the gradient arena peaks at three
 * buffers (h's, the half's, and the input's being accumulated) and the
 * loss's scalar. */
TEST(test_backward_peaks_at_the_gradients_alive_at_once) {
    autograd_step_end();
    Tensor *x = tensor_random_uniform(SHAPE(ROWS, COLS), -1.0f, 1.0f, 6);
    x->requires_grad = 1;
    Tensor *mid[2 * LINKS];
    Tensor *loss = chain(x, mid);
    Arena *grads = arena_grads_on(DEVICE_CPU);
    size_t before = grads->used;
    autograd_backward(loss);
    const size_t buffer = ROWS * COLS * sizeof(float);
    ASSERT(grads->used - before >= 3 * buffer);
    ASSERT(grads->used - before <= 3 * buffer + ARENA_ALIGN);
    autograd_step_end();
}

/* Attention with dropout: each node's backward takes [B, H, T, S] scratch
 * (the dropped probabilities and dP) from the activation arena. After the
 * pass the arena is where the forward left it, and the gradients, computed
 * while every node reused the previous one's scratch, match finite
 * differences. */
static Tensor *attention_chain(Tensor **in, void *ctx) {
    (void)ctx;
    Tensor *h = in[0];
    for (int k = 0; k < 4; k++) h = op_attention(h, in[1], in[1], NULL, 0.4f, 0.25f, 11, (uint64_t)k);
    return h;
}

TEST(test_backward_rewinds_each_nodes_scratch) {
    autograd_step_end();
    Tensor *in[2] = {tensor_random_uniform(SHAPE(2, 2, 6, 4), -1.0f, 1.0f, 7),
                     tensor_random_uniform(SHAPE(2, 2, 5, 4), -1.0f, 1.0f, 8)};
    in[0]->requires_grad = in[1]->requires_grad = 1;
    Arena *activations = arena_activations();
    Tensor *loss = op_sum_all(attention_chain(in, NULL));
    size_t after_forward = activations->used;
    autograd_backward(loss);
    ASSERT_EQ_INT(activations->used, after_forward);
    ASSERT(activations->high_water > after_forward); /* the scratch was there */
    tape_clear(); /* not the arena: it holds the inputs */
    ASSERT(gradcheck(attention_chain, in, 2, NULL, gradcheck_defaults()) == 0);
    autograd_step_end();
}
