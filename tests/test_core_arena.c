/* Arenas: alignment, zeroing, and no new chunk from the second step on. */
#include <stdint.h>

#include "core/arena.h"
#include "tests/test.h"

/* One "training step": allocations of mixed sizes totalling ~3.5 MiB, more
 * than the 1 MiB first chunk. */
static void run_step(Arena *a) {
    static const size_t sizes[] = {1000, 700000, 64, 1 << 20, 3, 900000, 123457, 800000};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        unsigned char *p = arena_alloc(a, sizes[k]);
        p[0] = 1;
        p[sizes[k] - 1] = 2; /* touch both ends: ASan flags a short chunk */
    }
}

TEST(test_arena_second_step_of_same_size_allocates_no_chunk) {
    Arena a;
    arena_init(&a, 0);
    run_step(&a);
    size_t after_first = a.chunk_count;
    ASSERT(after_first > 1); /* the first step outgrew the first chunk */
    arena_reset(&a);
    size_t after_reset = a.chunk_count;
    for (int step = 0; step < 3; step++) {
        run_step(&a);
        ASSERT_EQ_INT(a.chunk_count, after_reset);
        arena_reset(&a);
        ASSERT_EQ_INT(a.chunk_count, after_reset);
    }
    ASSERT(a.used == 0 && a.high_water >= 3500000);
    arena_free(&a);
}

TEST(test_arena_allocations_are_aligned_and_disjoint) {
    Arena a;
    arena_init(&a, 4096);
    unsigned char *prev = NULL;
    size_t prev_size = 0;
    for (size_t n = 1; n < 300; n += 37) {
        unsigned char *p = arena_alloc(&a, n);
        ASSERT_EQ_INT((uintptr_t)p % ARENA_ALIGN, 0);
        if (prev) ASSERT(p >= prev + prev_size); /* same chunk: bump pointer moves forward */
        memset(p, 0xab, n);
        prev = p;
        prev_size = n;
    }
    unsigned char *z = arena_alloc_zero(&a, 1000);
    for (int k = 0; k < 1000; k++) ASSERT_EQ_INT(z[k], 0);
    ASSERT(arena_alloc(&a, 0) != arena_alloc(&a, 0)); /* zero-byte requests still get distinct pointers */
    arena_free(&a);
}
