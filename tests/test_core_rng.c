/* Philox4x32-10 against the Random123 known-answer vectors, and the
 * statistics of the derived uniform, normal, bounded and shuffle draws. */
#include <stdint.h>
#include <stdlib.h>

#include "core/rng.h"
#include "tests/test.h"

TEST(test_philox_matches_random123_known_answers) {
    /* kat_vectors of the Random123 distribution, philox4x32 with 10 rounds. */
    static const struct {
        uint32_t counter[4], key[2], out[4];
    } kat[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
         {0xffffffff, 0xffffffff},
         {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
         {0xa4093822, 0x299f31d0},
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (size_t k = 0; k < sizeof kat / sizeof kat[0]; k++) {
        uint32_t out[4];
        philox4x32_10(kat[k].counter, kat[k].key, out);
        for (int w = 0; w < 4; w++)
            ASSERT_MSG(out[w] == kat[k].out[w], "vector %zu word %d: %08x, want %08x", k, w, out[w], kat[k].out[w]);
    }
}

TEST(test_philox_u32_follows_documented_counter_layout) {
    /* Element 4*b + w of (seed, stream) is word w of the block with counter
     * {lo b, hi b, lo stream, hi stream} and key {lo seed, hi seed}. */
    uint64_t seed = 0x0123456789abcdefULL, stream = 0xfedcba9876543210ULL, block = 0x100000002ULL;
    uint32_t counter[4] = {2, 1, 0x76543210, 0xfedcba98}, key[2] = {0x89abcdef, 0x01234567}, out[4];
    philox4x32_10(counter, key, out);
    for (int w = 0; w < 4; w++) ASSERT_EQ_INT(philox_u32(seed, stream, 4 * block + (uint64_t)w), out[w]);
}

TEST(test_philox_uniform_has_uniform_moments_and_range) {
    const int n = 200000;
    double sum = 0, sum2 = 0;
    float lo = 1, hi = 0;
    for (int k = 0; k < n; k++) {
        float u = philox_uniform(42, 3, (uint64_t)k);
        sum += u;
        sum2 += (double)u * u;
        if (u < lo) lo = u;
        if (u > hi) hi = u;
    }
    double mean = sum / n, var = sum2 / n - mean * mean;
    ASSERT_NEAR(mean, 0.5, 0.004); /* ~6 standard errors */
    ASSERT_NEAR(var, 1.0 / 12.0, 0.002);
    ASSERT(lo >= 0.0f && lo < 0.001f && hi < 1.0f && hi > 0.999f);
}

TEST(test_rng_normal_has_standard_normal_moments) {
    const int n = 200000;
    Rng r = rng_make(7, 11);
    double m1 = 0, m2 = 0, m4 = 0;
    for (int k = 0; k < n; k++) {
        double z = rng_normal(&r);
        m1 += z;
        m2 += z * z;
        m4 += z * z * z * z;
    }
    m1 /= n;
    m2 /= n;
    m4 /= n;
    ASSERT_NEAR(m1, 0.0, 0.015);
    ASSERT_NEAR(m2, 1.0, 0.02);
    ASSERT_NEAR(m4, 3.0, 0.1); /* the kurtosis tells a normal from other unit-variance shapes */
    /* Both Box-Muller branches of philox_normal are normal too: the sine branch's variance. */
    double s2 = 0;
    for (int k = 0; k < n; k++) {
        double z = philox_normal(7, 12, 2 * (uint64_t)k + 1);
        s2 += z * z;
    }
    ASSERT_NEAR(s2 / n, 1.0, 0.02);
}

TEST(test_rng_is_a_pure_function_of_seed_stream_index) {
    Rng a = rng_make(5, 1), b = rng_make(5, 1), c = rng_make(5, 2), d = rng_make(6, 1);
    int differ_stream = 0, differ_seed = 0;
    for (int k = 0; k < 64; k++) {
        uint32_t va = rng_u32(&a), vb = rng_u32(&b), vc = rng_u32(&c), vd = rng_u32(&d);
        ASSERT_EQ_INT(va, vb);
        ASSERT_EQ_INT(va, philox_u32(5, 1, (uint64_t)k));
        differ_stream += va != vc;
        differ_seed += va != vd;
    }
    ASSERT(differ_stream > 60 && differ_seed > 60);
}

TEST(test_rng_below_stays_in_range_and_is_uniform) {
    Rng r = rng_make(1, 0);
    ASSERT_EQ_INT(rng_below(&r, 0), 0);
    ASSERT_EQ_INT(rng_below(&r, 1), 0);
    int counts[7] = {0};
    const int n = 70000;
    for (int k = 0; k < n; k++) {
        uint64_t v = rng_below(&r, 7);
        ASSERT(v < 7);
        counts[v]++;
    }
    for (int b = 0; b < 7; b++) ASSERT_NEAR(counts[b], n / 7, 500); /* sd ~ 93 */
    uint64_t big = (1ULL << 63) + 12345; /* the rejection path matters only near 2^64 */
    for (int k = 0; k < 1000; k++) ASSERT(rng_below(&r, big) < big);
}

TEST(test_rng_shuffle_is_a_uniform_reproducible_permutation) {
    int64_t v[50];
    for (int k = 0; k < 50; k++) v[k] = k;
    Rng r = rng_make(9, 0);
    rng_shuffle_i64(&r, v, 50);
    int seen[50] = {0}, moved = 0;
    for (int k = 0; k < 50; k++) {
        ASSERT(v[k] >= 0 && v[k] < 50 && !seen[v[k]]);
        seen[v[k]] = 1;
        moved += v[k] != k;
    }
    ASSERT(moved > 40);
    int64_t w[50];
    for (int k = 0; k < 50; k++) w[k] = k;
    Rng r2 = rng_make(9, 0);
    rng_shuffle_i64(&r2, w, 50);
    ASSERT(memcmp(v, w, sizeof v) == 0);
    /* Each of the 6 orders of 3 items equally often. */
    int counts[3][3][3] = {{{0}}};
    const int n = 60000;
    for (int t = 0; t < n; t++) {
        int64_t x[3] = {0, 1, 2};
        rng_shuffle_i64(&r, x, 3);
        counts[x[0]][x[1]][x[2]]++;
    }
    const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    for (int p = 0; p < 6; p++) ASSERT_NEAR(counts[perms[p][0]][perms[p][1]][perms[p][2]], n / 6, 500);
}

/* Sampling without replacement: k distinct values of the n, every 2-subset of
 * 4 about equally often, and one rng_below(n - i) drawn per position in order
 * (the draws the samplers made before this helper existed). */
TEST(test_rng_sample_is_a_uniform_reproducible_subset) {
    int64_t v[20];
    for (int k = 0; k < 20; k++) v[k] = 100 + k;
    Rng r = rng_make(4, 2), check = rng_make(4, 2);
    rng_sample_i64(&r, v, 20, 7);
    int seen[20] = {0};
    for (int i = 0; i < 7; i++) {
        ASSERT(v[i] >= 100 && v[i] < 120 && !seen[v[i] - 100]);
        seen[v[i] - 100] = 1;
    }
    int64_t w[20];
    for (int k = 0; k < 20; k++) w[k] = 100 + k;
    for (int i = 0; i < 7; i++) {
        int64_t j = i + (int64_t)rng_below(&check, (uint64_t)(20 - i)), t = w[i];
        w[i] = w[j];
        w[j] = t;
    }
    ASSERT(memcmp(v, w, sizeof v) == 0);
    int counts[4][4] = {{0}};
    const int n = 60000;
    for (int t = 0; t < n; t++) {
        int64_t x[4] = {0, 1, 2, 3};
        rng_sample_i64(&r, x, 4, 2);
        int a = x[0] < x[1] ? (int)x[0] : (int)x[1], b = x[0] < x[1] ? (int)x[1] : (int)x[0];
        counts[a][b]++;
    }
    for (int a = 0; a < 4; a++)
        for (int b = a + 1; b < 4; b++) ASSERT_NEAR(counts[a][b], n / 6, 500);
}
