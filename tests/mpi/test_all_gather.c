/* op_all_gather (autograd/ops.h): the forward stacks the ranks' rows in rank
 * order; the backward gives each rank the sum over ranks of the gradient
 * reaching its rows. Each rank's loss weights the gathered rows with its own
 * weights, so a backward that kept only the local gradient would fail. */
#include <stdlib.h>

#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/comm.h"
#include "core/rng.h"
#include "tests/test.h"

#define ROWS 3
#define COLS 5

static float value(int rank, int64_t k) { return philox_normal(51, (uint64_t)rank, (uint64_t)k); }
static float weight(int rank, int64_t k) { return philox_normal(52, (uint64_t)rank, (uint64_t)k); }

TEST(test_all_gather_forward_stacks_and_backward_sums_over_ranks) {
    int R = comm_size(), me = comm_rank();
    float x[ROWS * COLS];
    for (int64_t k = 0; k < ROWS * COLS; k++) x[k] = value(me, k);
    Tensor *xt = tensor_from_f32(2, (int64_t[]){ROWS, COLS}, x);
    xt->requires_grad = 1;
    Tensor *all = op_all_gather(xt);
    ASSERT_EQ_INT(all->shape[0], (int64_t)R * ROWS);
    ASSERT_EQ_INT(all->shape[1], COLS);
    for (int r = 0; r < R; r++)
        for (int64_t k = 0; k < ROWS * COLS; k++) ASSERT_NEAR(tensor_f32(all)[r * ROWS * COLS + k], value(r, k), 0.0);
    float *w = malloc((size_t)(R * ROWS * COLS) * sizeof *w);
    for (int64_t k = 0; k < (int64_t)R * ROWS * COLS; k++) w[k] = weight(me, k);
    Tensor *wt = tensor_from_f32(2, (int64_t[]){(int64_t)R * ROWS, COLS}, w);
    autograd_backward(op_sum_all(op_mul(all, wt)));
    const float *dx = xt->grad;
    for (int64_t k = 0; k < ROWS * COLS; k++) {
        double want = 0.0;
        for (int r = 0; r < R; r++) want += weight(r, (int64_t)me * ROWS * COLS + k);
        ASSERT_NEAR(dx[k], want, 1e-5);
    }
    free(w);
}
