/* autograd/tape.c: a backward pass frees memory as it goes. An op's output
 * gradient is released once that op's node has run (every consumer of the
 * output has added into it by then), and each node's scratch is rewound
 * after it, while leaves keep their gradients and the values stay exact. */
#include <math.h>
#include <string.h>

#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/arena.h"
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
    if (test_skip_if_arena_guarded()) return;
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

/* The forward of x -> linear -> gelu -> linear -> + x, discarding what the
 * layer code of nn/transformer.c would: the first product (read by GELU's
 * backward: kept) and the second (read by no backward: released). */
static Tensor *discarding_forward(Tensor *x, Tensor *w, Tensor **first, Tensor **second) {
    *first = op_linear(x, w, NULL);
    Tensor *h = op_gelu(*first);
    autograd_discard(*first);
    *second = op_linear(h, w, NULL);
    Tensor *y = op_add(*second, x);
    autograd_discard(*second);
    return op_sum_all(y);
}

TEST(test_discard_releases_only_what_no_backward_reads) {
    if (test_skip_if_arena_guarded()) return;
    autograd_step_end();
    Tensor *x = tensor_random_uniform(SHAPE(ROWS, COLS), -1.0f, 1.0f, 9);
    Tensor *w = tensor_random_uniform(SHAPE(COLS, COLS), -0.2f, 0.2f, 10);
    x->requires_grad = w->requires_grad = 1;
    Arena *activations = arena_activations();
    Tensor *first, *second;
    void *second_memory = NULL;
    Tensor *loss = discarding_forward(x, w, &first, &second);
    ASSERT(first->data != NULL); /* GELU's backward reads it */
    ASSERT(second->data == NULL);
    ASSERT_EQ_INT(activations->n_free, 1);
    second_memory = activations->free_blocks[0].p;
    autograd_backward(loss);
    float gx[ROWS * COLS], gw[COLS * COLS];
    memcpy(gx, x->grad, sizeof gx);
    memcpy(gw, w->grad, sizeof gw);
    /* The released block goes to the next request of its size... */
    ASSERT(tensor_new(DTYPE_F32, SHAPE(ROWS, COLS))->data == second_memory);
    /* ... and the gradients are the bits of the same step without discards. */
    tape_clear();
    x->grad = w->grad = NULL;
    int prev = autograd_set_discarding(0);
    loss = discarding_forward(x, w, &first, &second);
    autograd_set_discarding(prev);
    ASSERT(second->data != NULL);
    autograd_backward(loss);
    ASSERT(memcmp(gx, x->grad, sizeof gx) == 0);
    ASSERT(memcmp(gw, w->grad, sizeof gw) == 0);
    autograd_step_end();
}

/* Memory a backward reads through a view stays: GELU of a reshaped product
 * reads the product's bytes. */
TEST(test_discard_keeps_memory_a_backward_reads_through_a_view) {
    autograd_step_end();
    Tensor *x = tensor_random_uniform(SHAPE(ROWS, COLS), -1.0f, 1.0f, 11);
    Tensor *w = tensor_random_uniform(SHAPE(COLS, COLS), -0.2f, 0.2f, 12);
    x->requires_grad = w->requires_grad = 1;
    Tensor *product = op_linear(x, w, NULL);
    Tensor *h = op_gelu(op_reshape(product, SHAPE(ROWS * COLS)));
    autograd_discard(product);
    ASSERT(product->data != NULL);
    ASSERT_EQ_INT(arena_activations()->n_free, 0);
    autograd_backward(op_sum_all(h));
    ASSERT(w->grad != NULL);
    autograd_step_end();
}
