/* Shared fixture of the data-parallel loop tests: the tiny eval world
 * (tests/eval_world.h) with four copies of its ALBEF (the one-rank
 * reference and the ranks' model, and for methods that need the frozen
 * original θ0, one of those for each), the training split as a retrieval
 * task, and the comparison of a data-parallel model with its reference. */
#ifndef TESTS_MPI_DP_WORLD_H
#define TESTS_MPI_DP_WORLD_H

#include <stdint.h>

#include "data/retrieval_set.h"
#include "data/tokenizer.h"
#include "models/albef.h"
#include "models/task.h"

typedef struct {
    Tokenizer *tok;
    RetrievalSet train;
    Albef ref, dp, ref0, dp0; /* the models stepped and the originals θ0 */
    Task task;
    TaskModel tref, tdp, tref0, tdp0;
} DpWorld;

/* Text dropout at `dropout` in all four models. 0, or -1 with error_set. */
int dp_world_open(DpWorld *w, float dropout);
void dp_world_close(DpWorld *w);

/* 0 when every parameter of a is within 2e-5 + 2e-4 |x| + slack·lr·steps of
 * b's, else -1 with the first offender named in why. The attention key
 * biases, whose gradient is zero in exact arithmetic and rounding noise in
 * floats (a softmax row is unchanged by a shift), which AdamW turns into
 * steps of up to lr: within 2·lr·steps. Any other element whose gradient
 * happens to be at the rounding noise of the ranks' summation order gets
 * the same ±lr steps from AdamW (its first step is lr·sign(g) whatever |g|):
 * at most 1 + 1 in 10^4 elements may lie in that band (within 2·lr·steps),
 * none beyond it. (Seen: one element, a ViT query weight, 1.5 lr
 * apart after two training steps on 3 ranks, with both losses within
 * 2e-4 relative, once GELU went float; two with OpenBLAS's Haswell
 * kernels, where the bound was 1 + 1 in 10^5.) A data-parallel fault (a
 * gradient not averaged, a shard's rows misplaced) moves every element of
 * the tensors it touches; albef-tiny's hold 64 values or more (but the
 * temperature, one), against the 7 this allows of its 69,251. */
int dp_params_match(const ParamSet *a, const ParamSet *b, double lr, int steps, double slack, char *why,
                    size_t size);

/* items[k] = k·stride + offset for k < n (malloc'd). */
int64_t *dp_items(int64_t n, int64_t stride, int64_t offset);

#endif
