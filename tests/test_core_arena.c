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
    if (test_skip_if_arena_guarded()) return;
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
    if (test_skip_if_arena_guarded()) return;
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

/* A rewind releases what came after the mark, the chunks added since
 * included, keeps what came before, and leaves the high-water mark at the
 * peak, so the next step's single chunk is sized by the peak. */
TEST(test_arena_rewind_releases_what_came_after_the_mark) {
    if (test_skip_if_arena_guarded()) return;
    Arena a;
    arena_init(&a, 1 << 20);
    unsigned char *before = arena_alloc(&a, 1000);
    before[999] = 7;
    ArenaMark m = arena_mark(&a);
    size_t used = a.used, chunks = a.chunk_count;
    for (int k = 0; k < 5; k++) ((unsigned char *)arena_alloc(&a, 700000))[0] = 1; /* outgrows the chunk */
    ASSERT(a.chunk_count > chunks);
    size_t peak = a.used;
    arena_rewind(&a, m);
    ASSERT_EQ_INT(a.used, used);
    ASSERT(a.high_water == peak);
    ASSERT(before[999] == 7);
    /* The next allocation takes the place right after the mark. */
    unsigned char *after = arena_alloc(&a, 16);
    ASSERT(after == before + 1024); /* 1000 rounded up to ARENA_ALIGN */
    arena_reset(&a);
    ASSERT(a.chunk_count > chunks); /* one chunk of the peak */
    void *big = arena_alloc(&a, peak - 64);
    ASSERT(big != NULL);
    arena_free(&a);
}

/* A growing arena's chunks double only up to ARENA_GROWTH_CAP: after a full
 * chunk of the cap the next is the cap, not twice it (so a second cap's worth
 * of requests needs a third chunk). The chunks are never touched: address
 * space only. */
TEST(test_arena_growth_is_capped) {
    if (test_skip_if_arena_guarded()) return;
    Arena a;
    arena_init(&a, ARENA_GROWTH_CAP);
    arena_alloc(&a, ARENA_GROWTH_CAP);
    ASSERT_EQ_INT(a.chunk_count, 1);
    arena_alloc(&a, 64); /* a new chunk: min(twice the cap, the cap) */
    ASSERT_EQ_INT(a.chunk_count, 2);
    arena_alloc(&a, ARENA_GROWTH_CAP - 64);
    ASSERT_EQ_INT(a.chunk_count, 2);
    arena_alloc(&a, 64); /* would still fit a doubled chunk */
    ASSERT_EQ_INT(a.chunk_count, 3);
    arena_free(&a);
}

/* A released block goes to the next request of its rounded size, most
 * recent first, never to a request of another size; the reset forgets the
 * released blocks with everything else. */
TEST(test_arena_release_gives_the_block_to_the_next_request_of_its_size) {
    if (test_skip_if_arena_guarded()) return;
    Arena a;
    arena_init(&a, 1 << 20);
    void *p = arena_alloc(&a, 1000), *q = arena_alloc(&a, 1000), *r = arena_alloc(&a, 5000);
    size_t used = a.used;
    arena_release(&a, p, 1000);
    arena_release(&a, q, 1000);
    arena_release(&a, r, 5000);
    ASSERT(arena_alloc(&a, 2000) != p); /* another size: a new block */
    size_t after_other = a.used;
    ASSERT(after_other > used);
    ASSERT(arena_alloc(&a, 999) == q); /* 999 and 1000 both round to 1024; the latest first */
    ASSERT(arena_alloc_zero(&a, 1024) == p);
    ASSERT_EQ_INT(a.used, after_other); /* reused blocks take nothing new */
    ASSERT(arena_alloc(&a, 1000) != p);
    arena_release(&a, p, 1000);
    arena_reset(&a);
    ASSERT_EQ_INT(a.n_free, 0);
    arena_free(&a);
}

/* A rewind forgets the released blocks past its mark (that memory is
 * handed out again from the bump pointer) and keeps those before it. */
TEST(test_arena_rewind_forgets_blocks_released_past_the_mark) {
    if (test_skip_if_arena_guarded()) return;
    Arena a;
    arena_init(&a, 1 << 20);
    void *before = arena_alloc(&a, 4096);
    ArenaMark m = arena_mark(&a);
    void *after = arena_alloc(&a, 4096);
    for (int k = 0; k < 3; k++) arena_alloc(&a, 700000); /* into a second chunk */
    void *in_new_chunk = arena_alloc(&a, 4096);
    arena_release(&a, before, 4096);
    arena_release(&a, after, 4096);
    arena_release(&a, in_new_chunk, 4096);
    arena_rewind(&a, m);
    ASSERT_EQ_INT(a.n_free, 1);
    ASSERT(a.free_blocks[0].p == before);
    ASSERT(arena_alloc(&a, 4096) == before);
    ASSERT(arena_alloc(&a, 4096) == after); /* the bump pointer's, at the mark */
    arena_free(&a);
}

/* A request that misses a rest worth keeping gets a chunk of its own, and
 * the head's rest serves the next requests that fit it; a request that
 * misses a small rest starts a new head. 1 MiB head: 300 KiB, then 800 KiB
 * (misses a 724 KiB rest: its own chunk), then 700 KiB (in the rest). */
TEST(test_arena_request_missing_a_large_rest_gets_its_own_chunk) {
    if (test_skip_if_arena_guarded()) return;
    Arena a;
    arena_init(&a, 1 << 20);
    unsigned char *first = arena_alloc(&a, 300 << 10);
    unsigned char *own = arena_alloc(&a, 800 << 10);
    ASSERT_EQ_INT(a.chunk_count, 2);
    own[(800 << 10) - 1] = 1; /* all of it is there (ASan) */
    ASSERT(arena_alloc(&a, 700 << 10) == first + (300 << 10));
    ASSERT_EQ_INT(a.chunk_count, 2);
    ASSERT_EQ_INT(arena_held_bytes(&a), (1 << 20) + (800 << 10));
    arena_alloc(&a, 100 << 10); /* misses a 24 KiB rest: a new head of twice the size */
    ASSERT_EQ_INT(a.chunk_count, 3);
    ASSERT_EQ_INT(arena_held_bytes(&a), (3 << 20) + (800 << 10));
    arena_free(&a);
}

/* A rewind frees the chunks made after its mark, dedicated ones included,
 * and keeps those made before it, wherever they sit in the list. */
TEST(test_arena_rewind_frees_only_the_dedicated_chunks_made_after_the_mark) {
    if (test_skip_if_arena_guarded()) return;
    Arena a;
    arena_init(&a, 1 << 20);
    unsigned char *first = arena_alloc(&a, 300 << 10);
    unsigned char *before = arena_alloc(&a, 800 << 10); /* its own chunk, before the mark */
    before[0] = 7;
    ArenaMark m = arena_mark(&a);
    size_t held = arena_held_bytes(&a);
    arena_alloc(&a, 800 << 10); /* its own chunk, after the mark */
    arena_alloc(&a, 700 << 10);
    arena_alloc(&a, 100 << 10); /* a new head */
    arena_alloc(&a, 2000 << 10); /* misses the new head's 1948 KiB rest: its own chunk behind it */
    ASSERT_EQ_INT(a.chunk_count, 5);
    arena_rewind(&a, m);
    ASSERT_EQ_INT(arena_held_bytes(&a), held);
    ASSERT(before[0] == 7);
    ASSERT(arena_alloc(&a, 16) == first + (300 << 10)); /* the head's bump pointer is back at the mark */
    arena_free(&a);
}

/* arena_release_chunks: every chunk goes back and the high-water mark is
 * forgotten, so the next phase grows from a first chunk as a fresh arena. */
TEST(test_arena_release_chunks_starts_over) {
    if (test_skip_if_arena_guarded()) return;
    Arena a;
    arena_init(&a, 1 << 20);
    run_step(&a);
    arena_reset(&a);
    ASSERT(arena_held_bytes(&a) >= 3500000);
    arena_release_chunks(&a);
    ASSERT_EQ_INT(arena_held_bytes(&a), 0);
    ASSERT(a.used == 0 && a.high_water == 0 && a.n_free == 0);
    unsigned char *p = arena_alloc(&a, 1000);
    p[999] = 1;
    ASSERT_EQ_INT(arena_held_bytes(&a), 1 << 20); /* a first chunk again */
    arena_free(&a);
}

static int all_bytes_are(const unsigned char *p, size_t n, unsigned char byte) {
    for (size_t k = 0; k < n; k++)
        if (p[k] != byte) return 0;
    return 1;
}

/* A poisoned arena fills the rest of its head and every chunk it makes
 * later: a new head, a dedicated chunk, the merged chunk of the reset. */
TEST(test_arena_poison_reaches_the_chunks_made_after_it) {
    if (test_skip_if_arena_guarded()) return;
    Arena a;
    arena_init(&a, 1 << 20);
    arena_alloc(&a, 300 << 10);
    arena_poison(&a, 0xFF);
    ASSERT(all_bytes_are(arena_alloc(&a, 100 << 10), 100 << 10, 0xFF));
    unsigned char *own = arena_alloc(&a, 800 << 10); /* misses a 624 KiB rest: its own chunk */
    ASSERT_EQ_INT(a.chunk_count, 2);
    ASSERT(all_bytes_are(own, 800 << 10, 0xFF));
    arena_alloc(&a, 600 << 10);
    unsigned char *head = arena_alloc(&a, 500 << 10); /* a new head */
    ASSERT_EQ_INT(a.chunk_count, 3);
    ASSERT(all_bytes_are(head, 500 << 10, 0xFF));
    arena_reset(&a); /* merges into a new chunk of the high-water size */
    ASSERT(all_bytes_are(arena_alloc(&a, a.high_water), a.high_water, 0xFF));
    arena_free(&a);
}
