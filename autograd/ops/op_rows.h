/* Row-level CPU loops shared by more than one op: the fused attention op
 * (op_attention.c) must reproduce op_softmax's and op_dropout's arithmetic
 * bit for bit, so it calls the same code rather than a copy. */
#ifndef AUTOGRAD_OPS_OP_ROWS_H
#define AUTOGRAD_OPS_OP_ROWS_H

#include <stdint.h>

#include "core/rng.h"
#include "core/tensor.h"

/* y = softmax(x + m) over one row of S with op_softmax's conventions (mask
 * added in double, an all -inf mask row ignored); m may be NULL; y may be x. */
void ops_softmax_row(float *y, const float *x, const float *m, int64_t S);

/* dst[k] (+)= scale·src[k] where philox_uniform(seed, stream, g) >= p, else
 * (+)0, with g = rng_rows_index(rows, row_elems, k) (k itself in one
 * process): op_dropout's mask (core/rng.h layout); dst may be src when not
 * accumulating. */
void ops_dropout_apply(const float *src, float *dst, int64_t n, float p, float scale, uint64_t seed,
                       uint64_t stream, RngRows rows, int64_t row_elems, int accumulate);

/* The elements of one row (over the first dimension) of x; 1 for a scalar. */
int64_t ops_row_elems(const Tensor *x);
/* Stops with the op's name when x's first dimension is not made of segments
 * of rows.rows rows (core/rng.h RngRows); nothing in one process. */
void ops_check_rows(const Tensor *x, RngRows rows, const char *op);

#endif
