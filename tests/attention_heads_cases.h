/* The cases shared by the CPU and device tests of op_attention_heads
 * (tests/test_ops_attention_heads.c, tests/test_cuda_attention_heads.c):
 * small sizes that are not multiples of the kernels' tiles, heads in rows or
 * packed, with or without a padding mask, with or without dropout; and the
 * two ways of computing them, in place and with the heads split and merged
 * around op_attention_rows, as nn/attention.c did before issue 17. */
#ifndef TESTS_ATTENTION_HEADS_CASES_H
#define TESTS_ATTENTION_HEADS_CASES_H

#include "core/tensor.h"
#include "tests/cuda_parity.h"

typedef struct {
    int packed;      /* one [B, T, 3·D] input; else q [B, T, D], k and v [B, S, D] */
    int64_t B, H, T, S, Dh;
    int masked;      /* the last input is an additive [B, S] mask (no gradient) */
    float p;         /* attention dropout */
} AttentionHeadsCase;

/* B 2, H 2, T 5 (and S 7 unless packed), Dh 16; the mask pads sample 1's last keys. */
AttentionHeadsCase attention_heads_case(int packed, int masked, float p);
/* Fills in[] with the case's inputs, returns how many: q, k, v (or the
 * packed qkv) requiring gradients, then the mask if the case has one. */
int attention_heads_case_inputs(const AttentionHeadsCase *c, Tensor **in);
/* How many of them require gradients (the first ones). */
int attention_heads_case_grads(const AttentionHeadsCase *c);
/* ParityFns of the case (ctx: the AttentionHeadsCase). */
Tensor *attention_heads_in_place(Tensor **in, void *ctx);
Tensor *attention_heads_split_and_merged(Tensor **in, void *ctx);

#endif
