/* autograd/scope.h: a region without a tape keeps only the tensors it names
 * (their values, views made contiguous), and the activation arena returns to
 * where it was, so what follows reuses the region's memory. */
#include <string.h>

#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "autograd/scope.h"
#include "autograd/tape.h"
#include "tests/test.h"

TEST(test_activation_scope_keeps_the_named_tensors_and_releases_the_rest) {
    Tensor *x = tensor_random_uniform(SHAPE(64, 32), -1.0f, 1.0f, 3);
    int prev = autograd_set_enabled(0);
    Arena *arena = arena_activations();
    size_t used_before = arena->used;
    ActivationScope s = activation_scope_begin();
    Tensor *h = op_gelu(op_scale(x, 2.0f));
    for (int k = 0; k < 20; k++) h = op_add(h, op_scale(x, 0.5f)); /* intermediates to release */
    Tensor *view = op_slice(h, 1, 3, 5);                              /* a strided view */
    float want_h[64 * 32], want_v[64 * 5];
    memcpy(want_h, tensor_f32(h), sizeof want_h);
    Tensor *vc = tensor_contiguous_copy(view);
    memcpy(want_v, tensor_f32(vc), sizeof want_v);
    ASSERT(arena->used > used_before + 20 * 64 * 32 * sizeof(float));
    Tensor *kept[2] = {h, view};
    activation_scope_end(&s, kept, 2);
    autograd_set_enabled(prev);
    ASSERT(arena->used < used_before + 4096); /* the kept tensors' records only */
    ASSERT(memcmp(tensor_f32(kept[0]), want_h, sizeof want_h) == 0);
    ASSERT(tensor_is_contiguous(kept[1]) && kept[1]->shape[0] == 64 && kept[1]->shape[1] == 5);
    ASSERT(memcmp(tensor_f32(kept[1]), want_v, sizeof want_v) == 0);
    /* The released memory is reused, and the kept values survive that. */
    Tensor *y = op_scale(x, 3.0f);
    (void)y;
    ASSERT(memcmp(tensor_f32(kept[0]), want_h, sizeof want_h) == 0);
    autograd_step_end();
}
