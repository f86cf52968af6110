/* autograd_rematerialize (autograd/tape.c): a tensor that later backwards
 * read gives its memory back in the forward and is recomputed, with the same
 * bits, in the scratch of each backward node that reads it. These tests run
 * on the CPU, where it is off by default, so each turns it on first
 * (autograd_set_rematerializing_on_cpu); the last one checks the default. */
#include <string.h>

#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/arena.h"
#include "tests/test.h"

enum { ROWS = 64, COLS = 48 };

/* x -> linear(w1) -> GELU (depth times) -> linear(w2) -> sum, the GELU
 * outputs rematerialized as nn/layers.c's MLP does: the second product's
 * weight gradient reads the last one, each GELU's backward reads the one
 * before it. */
static Tensor *mlp_loss(Tensor *x, Tensor *w1, Tensor *w2, int depth, Tensor **hidden) {
    Tensor *h = op_linear(x, w1, NULL);
    for (int k = 0; k < depth; k++) h = hidden[k] = op_gelu(h);
    Tensor *y = op_linear(h, w2, NULL);
    for (int k = 0; k < depth; k++) autograd_rematerialize(hidden[k]);
    return op_sum_all(y);
}

typedef struct {
    Tensor *x, *w1, *w2;
} Inputs;

static Inputs inputs(uint64_t seed) {
    Inputs in = {tensor_random_uniform(SHAPE(ROWS, COLS), -1.0f, 1.0f, seed),
                 tensor_random_uniform(SHAPE(COLS, COLS), -0.3f, 0.3f, seed + 1),
                 tensor_random_uniform(SHAPE(COLS, COLS), -0.3f, 0.3f, seed + 2)};
    in.x->requires_grad = in.w1->requires_grad = in.w2->requires_grad = 1;
    return in;
}

/* The gradients of x, w1 and w2 after one backward, with or without
 * rematerialization (the discarding switch turns both off). */
static void gradients(Inputs in, int depth, int rematerialize, float *gx, float *gw1, float *gw2) {
    in.x->grad = in.w1->grad = in.w2->grad = NULL;
    Tensor *hidden[4];
    int prev = autograd_set_discarding(rematerialize);
    Tensor *loss = mlp_loss(in.x, in.w1, in.w2, depth, hidden);
    autograd_set_discarding(prev);
    autograd_backward(loss);
    memcpy(gx, in.x->grad, sizeof(float) * ROWS * COLS);
    memcpy(gw1, in.w1->grad, sizeof(float) * COLS * COLS);
    memcpy(gw2, in.w2->grad, sizeof(float) * COLS * COLS);
    tape_clear();
}

static void check_same_bits_as_kept(int depth) {
    autograd_step_end();
    Inputs in = inputs(21 + (uint64_t)depth);
    static float kept[3][ROWS * COLS], remat[3][ROWS * COLS];
    gradients(in, depth, 0, kept[0], kept[1], kept[2]);
    gradients(in, depth, 1, remat[0], remat[1], remat[2]);
    ASSERT(memcmp(kept[0], remat[0], sizeof(float) * ROWS * COLS) == 0);
    ASSERT(memcmp(kept[1], remat[1], sizeof(float) * COLS * COLS) == 0);
    ASSERT(memcmp(kept[2], remat[2], sizeof(float) * COLS * COLS) == 0);
    autograd_step_end();
}

/* The GELU output's memory goes back in the forward; the backward
 * recomputes it for the second product's weight gradient inside that node's
 * scratch (the activation arena ends the backward where it began), and the
 * gradients are the bits of the same step with the output kept. */
TEST(test_rematerialized_output_goes_back_and_is_recomputed_with_the_same_bits) {
    if (test_skip_if_arena_guarded()) return;
    int prev = autograd_set_rematerializing_on_cpu(1);
    autograd_step_end();
    Inputs in = inputs(17);
    Arena *activations = arena_activations();
    Tensor *hidden[1];
    Tensor *loss = mlp_loss(in.x, in.w1, in.w2, 1, hidden);
    ASSERT(hidden[0]->data == NULL);
    ASSERT_EQ_INT(activations->n_free, 1); /* its block waits for the next request of its size */
    size_t used = activations->used;
    autograd_backward(loss);
    ASSERT(hidden[0]->data == NULL); /* recomputed for one node, then rewound */
    ASSERT_EQ_INT(activations->used, used);
    autograd_step_end();
    check_same_bits_as_kept(1);
    autograd_set_rematerializing_on_cpu(prev);
}

/* A rematerialized tensor whose producer's input was rematerialized too is
 * recomputed after that input: GELU of GELU, both given back. */
TEST(test_rematerialized_chain_is_recomputed_in_order) {
    int prev = autograd_set_rematerializing_on_cpu(1);
    autograd_step_end();
    Inputs in = inputs(31);
    Tensor *hidden[2];
    Tensor *loss = mlp_loss(in.x, in.w1, in.w2, 2, hidden);
    ASSERT(hidden[0]->data == NULL && hidden[1]->data == NULL);
    autograd_backward(loss);
    autograd_step_end();
    check_same_bits_as_kept(2);
    autograd_set_rematerializing_on_cpu(prev);
}

/* Kept where a recompute could not serve every reader: a backward that
 * reads the GELU output through a view (the view keeps the old address),
 * and an op without a recompute (a product, read by GELU's backward). */
TEST(test_rematerialize_keeps_what_cannot_be_recomputed_for_every_reader) {
    int prev = autograd_set_rematerializing_on_cpu(1);
    autograd_step_end();
    Inputs in = inputs(41);
    Tensor *product = op_linear(in.x, in.w1, NULL);
    Tensor *hidden = op_gelu(product);
    Tensor *y = op_linear(op_reshape(hidden, SHAPE(2, ROWS / 2, COLS)), in.w2, NULL);
    autograd_rematerialize(hidden);
    autograd_rematerialize(product);
    ASSERT(hidden->data != NULL);
    ASSERT(product->data != NULL);
    autograd_backward(op_sum_all(y));
    ASSERT(in.w1->grad != NULL && in.w2->grad != NULL);
    autograd_step_end();
    autograd_set_rematerializing_on_cpu(prev);
}

/* Off on the CPU by default: there the call is autograd_discard, which keeps
 * what a backward reads. */
TEST(test_rematerialize_is_a_discard_on_the_cpu_by_default) {
    autograd_step_end();
    Inputs in = inputs(61);
    Tensor *hidden[1];
    Tensor *loss = mlp_loss(in.x, in.w1, in.w2, 1, hidden);
    ASSERT(hidden[0]->data != NULL);
    autograd_backward(loss);
    autograd_step_end();
}
