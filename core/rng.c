#include "core/rng.h"

#include <math.h>

/* Philox4x32 round constants (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3"). */
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void philox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        uint32_t n3 = (uint32_t)p0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

uint32_t philox_u32(uint64_t seed, uint64_t stream, uint64_t index) {
    uint64_t block = index >> 2;
    uint32_t counter[4] = {(uint32_t)block, (uint32_t)(block >> 32), (uint32_t)stream, (uint32_t)(stream >> 32)};
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    uint32_t out[4];
    philox4x32_10(counter, key, out);
    return out[index & 3];
}

float philox_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
    return (float)(philox_u32(seed, stream, index) >> 8) * (1.0f / 16777216.0f);
}

float philox_normal(uint64_t seed, uint64_t stream, uint64_t index) {
    uint64_t pair = index & ~(uint64_t)1;
    /* 1 - u keeps the logarithm's argument in (0, 1]. */
    float u1 = 1.0f - philox_uniform(seed, stream, pair);
    float u2 = philox_uniform(seed, stream, pair + 1);
    float r = sqrtf(-2.0f * logf(u1));
    float theta = 6.28318530717958647692f * u2;
    return (index & 1) ? r * sinf(theta) : r * cosf(theta);
}

Rng rng_make(uint64_t seed, uint64_t stream) { return (Rng){seed, stream, 0}; }

uint32_t rng_u32(Rng *r) { return philox_u32(r->seed, r->stream, r->index++); }

float rng_uniform(Rng *r) { return philox_uniform(r->seed, r->stream, r->index++); }

float rng_normal(Rng *r) {
    /* Keep pairs aligned so each draw is one Box-Muller branch of a fresh pair. */
    float v = philox_normal(r->seed, r->stream, r->index);
    r->index += 2;
    return v;
}

uint64_t rng_below(Rng *r, uint64_t n) {
    if (n <= 1) return 0;
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    for (;;) {
        uint64_t v = ((uint64_t)rng_u32(r) << 32) | rng_u32(r);
        if (v < limit) return v % n;
    }
}

void rng_sample_i64(Rng *r, int64_t *values, int64_t n, int64_t k) {
    for (int64_t i = 0; i < k; i++) {
        int64_t j = i + (int64_t)rng_below(r, (uint64_t)(n - i));
        int64_t t = values[i];
        values[i] = values[j];
        values[j] = t;
    }
}

void rng_shuffle_i64(Rng *r, int64_t *values, int64_t n) {
    for (int64_t k = n - 1; k > 0; k--) {
        int64_t j = (int64_t)rng_below(r, (uint64_t)k + 1);
        int64_t t = values[k];
        values[k] = values[j];
        values[j] = t;
    }
}
