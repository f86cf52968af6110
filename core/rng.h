/* Counter-based random numbers: Philox4x32-10 (Salmon et al., SC'11).
 *
 * A draw is a pure function of (seed, stream, index): no hidden state, so the
 * CUDA backend reproduces the CPU's numbers bit for bit and any element can be
 * drawn in parallel (DESIGN.md "Deterministic").
 *
 * Layout: for element `index` of stream `stream` under `seed`, the Philox block
 * is counter = {lo(index/4), hi(index/4), lo(stream), hi(stream)},
 * key = {lo(seed), hi(seed)}, and the element takes output word index % 4. */
#ifndef CORE_RNG_H
#define CORE_RNG_H

#include <stdint.h>

/* One Philox4x32-10 block. */
void philox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]);

uint32_t philox_u32(uint64_t seed, uint64_t stream, uint64_t index);
/* Uniform in [0, 1): the top 24 bits of the word times 2^-24. */
float philox_uniform(uint64_t seed, uint64_t stream, uint64_t index);
/* Standard normal by Box-Muller from the uniform pair (2k, 2k+1) of the
 * stream; element `index` takes the cosine (even) or sine (odd) branch. */
float philox_normal(uint64_t seed, uint64_t stream, uint64_t index);

/* Data parallel (core/comm.h): a rank's activations hold its shard of the
 * global batch. Their first dimension is made of segments of `rows` rows,
 * each the rows [first_row, first_row + rows) of a segment of `global_rows`
 * rows in one process's tensor (one segment for a text encoder's [B, T, D];
 * three for a fused pass over [positives; negatives; negatives]).
 * rng_rows_index maps element k of the rank's tensor (row_elems elements per
 * row) to the index the same element has in one process's tensor, so that a
 * row draws the same numbers (its dropout masks) on whichever rank it lands.
 * rows == global_rows (one process, RNG_ROWS_ONE): the index itself, so a
 * single process draws what it drew before ranks existed. */
typedef struct {
    int64_t rows, global_rows, first_row;
} RngRows;

#define RNG_ROWS_ONE ((RngRows){0, 0, 0})

#ifdef __CUDACC__
#define RNG_HOST_DEVICE __host__ __device__
#else
#define RNG_HOST_DEVICE
#endif

static inline RNG_HOST_DEVICE int rng_rows_identity(RngRows m) { return m.rows == m.global_rows; }

static inline RNG_HOST_DEVICE uint64_t rng_rows_index(RngRows m, int64_t row_elems, uint64_t k) {
    if (m.rows == m.global_rows) return k;
    uint64_t row = k / (uint64_t)row_elems, within = k % (uint64_t)row_elems;
    uint64_t segment = row / (uint64_t)m.rows, r = row % (uint64_t)m.rows;
    uint64_t global_row = segment * (uint64_t)m.global_rows + (uint64_t)m.first_row + r;
    return global_row * (uint64_t)row_elems + within;
}

/* A sequential generator for host-side sampling (data order, negatives):
 * successive draws walk the index of one (seed, stream). */
typedef struct {
    uint64_t seed, stream, index;
} Rng;

Rng rng_make(uint64_t seed, uint64_t stream);
uint32_t rng_u32(Rng *r);
float rng_uniform(Rng *r);
float rng_normal(Rng *r);
/* Uniform integer in [0, n), without modulo bias. */
uint64_t rng_below(Rng *r, uint64_t n);
/* In-place Fisher-Yates shuffle of n ints. */
void rng_shuffle_i64(Rng *r, int64_t *values, int64_t n);
/* Sampling without replacement: a partial Fisher-Yates that leaves a uniform
 * random k-subset of the n values (k <= n) in values[0..k), drawing one
 * rng_below(n - i) per position i in order. */
void rng_sample_i64(Rng *r, int64_t *values, int64_t n, int64_t k);

#endif
