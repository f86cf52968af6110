#include "core/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/cli.h"
#include "core/device.h"
#include "core/error.h"

struct ArenaChunk {
    ArenaChunk *next;
    size_t size;
    size_t offset;
    size_t serial; /* the arena's chunk_count when it was added: newer chunks, larger serials */
    unsigned char *base;
};

static ArenaChunk *chunk_new(const Arena *a, size_t size) {
    ArenaChunk *c = malloc(sizeof *c);
    CHECK(c != NULL, "out of memory");
    c->base = device_alloc(a->device, size);
    if (a->poisoned) device_fill(a->device, c->base, a->poison_byte, size);
    c->size = size;
    c->offset = 0;
    c->next = NULL;
    return c;
}

/* Adds a chunk of `size` at the head of the list. */
static ArenaChunk *push_chunk(Arena *a, size_t size) {
    ArenaChunk *c = chunk_new(a, size);
    c->serial = ++a->chunk_count;
    c->next = a->chunks;
    a->chunks = c;
    return c;
}

static void chunks_release(Arena *a) {
    ArenaChunk *c = a->chunks;
    while (c) {
        ArenaChunk *next = c->next;
        device_release(a->device, c->base);
        free(c);
        c = next;
    }
    a->chunks = NULL;
}

void arena_init_on(Arena *a, Device device, size_t initial_bytes) {
    memset(a, 0, sizeof *a);
    a->device = device;
    if (initial_bytes < (1u << 20)) initial_bytes = 1u << 20;
    push_chunk(a, initial_bytes);
}

void arena_init(Arena *a, size_t initial_bytes) { arena_init_on(a, DEVICE_CPU, initial_bytes); }

/* A static arena's first chunk, made on its first request (its other fields,
 * the released-block list included, are kept). */
static void ensure_chunk(Arena *a) {
    if (a->chunks == NULL) push_chunk(a, 1u << 20);
}

void arena_free(Arena *a) {
    chunks_release(a);
    free(a->free_blocks);
    memset(a, 0, sizeof *a);
}

/* MMU_ARENA_GUARD=1 (any value but 0) in the environment: every request is
 * an allocation of its own, filled with 0xFF bytes (NaN as f32), and freed
 * at the reset. A memory checker (AddressSanitizer on the CPU,
 * compute-sanitizer memcheck or the kernel emulator's guard pages on a
 * device) bounds-checks per allocation, so in one shared chunk an access
 * past a tensor's end lands in its neighbour unseen; here it leaves the
 * allocation. Slow (an allocation per tensor): for checking runs only. */
static int arena_guarded(void) {
    static int mode = -1;
    if (mode < 0) mode = cli_env_switch("MMU_ARENA_GUARD");
    return mode;
}

/* The guarded mode's allocation: a full chunk of exactly `bytes`, at the
 * head of the list, so the next request cannot share it. */
static void *arena_alloc_guarded(Arena *a, size_t bytes) {
    ArenaChunk *c = push_chunk(a, bytes ? bytes : 1);
    device_fill(a->device, c->base, 0xFF, c->size);
    c->offset = c->size;
    a->used += c->size;
    if (a->used > a->high_water) a->high_water = a->used;
    return c->base;
}

/* Device arenas align to 256 bytes, cudaMalloc's alignment and the one
 * cuBLASLt prefers for its operands. */
static size_t rounded_size(const Arena *a, size_t bytes) {
    size_t align = a->device == DEVICE_CPU ? ARENA_ALIGN : ARENA_DEVICE_ALIGN;
    size_t need = (bytes + align - 1) / align * align;
    return need == 0 ? align : need;
}

/* The most recently released block of exactly `need` bytes, taken off the
 * list; NULL when there is none. */
static void *take_released(Arena *a, size_t need) {
    for (size_t k = a->n_free; k-- > 0;)
        if (a->free_blocks[k].bytes == need) {
            void *p = a->free_blocks[k].p;
            a->free_blocks[k] = a->free_blocks[--a->n_free];
            return p;
        }
    return NULL;
}

/* A chunk of exactly `size` for one request, linked behind the bump chunk
 * (the head), which keeps serving the requests that fit its rest. */
static void *push_dedicated_chunk(Arena *a, size_t size) {
    ArenaChunk *c = chunk_new(a, size);
    c->serial = ++a->chunk_count;
    c->offset = size;
    c->next = a->chunks->next;
    a->chunks->next = c;
    return c->base;
}

/* While the first step grows an arena, a request that does not fit the
 * head's rest would strand that rest if a new head took over. A rest worth
 * keeping (at least a sixteenth of the head) stays the head's when the
 * request is large for it (half the head or more) or the head is already
 * at the growth cap: the request gets a chunk of its own instead. ALBEF-
 * base's ViT layers repeat 54 MiB requests that miss 52 MiB rests of
 * 256 MiB chunks: 1.3 GiB stranded before (bench/README.md). */
static int wants_dedicated_chunk(const ArenaChunk *head, size_t need) {
    size_t rest = head->size - head->offset;
    return rest >= head->size / 16 && (head->size >= ARENA_GROWTH_CAP || need >= head->size / 2);
}

void *arena_alloc(Arena *a, size_t bytes) {
    if (arena_guarded()) return arena_alloc_guarded(a, bytes);
    ensure_chunk(a);
    size_t need = rounded_size(a, bytes);
    void *reused = a->n_free ? take_released(a, need) : NULL;
    if (reused) return reused;
    ArenaChunk *c = a->chunks;
    void *p;
    if (c->offset + need <= c->size) {
        p = c->base + c->offset;
        c->offset += need;
    } else if (wants_dedicated_chunk(c, need)) {
        p = push_dedicated_chunk(a, need);
    } else {
        /* Chunks double up to ARENA_GROWTH_CAP: while the first step grows
         * the arena, its chunks sum to the use plus at most one cap, not up
         * to twice the use (ALBEF-base's 36 GiB step reached 54 GiB of
         * doubling chunks: bench/README.md). */
        size_t size = c->size * 2;
        if (size > ARENA_GROWTH_CAP) size = ARENA_GROWTH_CAP;
        if (size < need) size = need;
        c = push_chunk(a, size);
        p = c->base;
        c->offset = need;
    }
    a->used += need;
    if (a->used > a->high_water) a->high_water = a->used;
    return p;
}

void *arena_alloc_zero(Arena *a, size_t bytes) {
    void *p = arena_alloc(a, bytes);
    device_zero(a->device, p, bytes);
    return p;
}

/* Guarded mode: the block is its own chunk; unlink and free it, so that a
 * checker reports any later access. */
static void release_guarded(Arena *a, void *p) {
    for (ArenaChunk **link = &a->chunks; *link; link = &(*link)->next)
        if ((*link)->base == p) {
            ArenaChunk *c = *link;
            *link = c->next;
            a->used -= c->size;
            device_release(a->device, c->base);
            free(c);
            return;
        }
    fatal("arena_release: %p is not a block of this arena", p);
}

void arena_release(Arena *a, void *p, size_t bytes) {
    if (arena_guarded()) {
        release_guarded(a, p);
        return;
    }
    if (a->n_free == a->free_capacity) {
        a->free_capacity = a->free_capacity ? 2 * a->free_capacity : 64;
        a->free_blocks = realloc(a->free_blocks, a->free_capacity * sizeof *a->free_blocks);
        CHECK(a->free_blocks != NULL, "out of memory");
    }
    a->free_blocks[a->n_free++] = (ArenaFreeBlock){p, rounded_size(a, bytes)};
}

void arena_reset(Arena *a) {
    a->n_free = 0;
    if (a->chunks == NULL) return;
    if (arena_guarded()) {
        chunks_release(a);
        a->used = 0;
        return;
    }
    if (a->chunks->next != NULL) {
        /* More than one chunk was needed: replace them by one that fits the
         * whole high-water mark, so the next step needs no new chunk. */
        size_t size = a->high_water;
        chunks_release(a);
        push_chunk(a, size);
    }
    a->chunks->offset = 0;
    a->used = 0;
}

void arena_release_chunks(Arena *a) {
    chunks_release(a);
    a->n_free = 0;
    a->used = 0;
    a->high_water = 0;
}

ArenaMark arena_mark(Arena *a) {
    return (ArenaMark){a->chunks, a->chunks ? a->chunks->offset : 0, a->used, a->chunk_count};
}

/* Whether p lies in memory that a rewind to m keeps: a chunk older than the
 * mark's, or the mark's own below its offset then. */
static int kept_by_rewind(const Arena *a, const void *p, ArenaMark m) {
    for (const ArenaChunk *c = a->chunks; c; c = c->next) {
        const unsigned char *b = c->base;
        if ((const unsigned char *)p < b || (const unsigned char *)p >= b + c->size) continue;
        return c == m.chunk ? (size_t)((const unsigned char *)p - b) < m.offset : 1;
    }
    return 0;
}

void arena_rewind(Arena *a, ArenaMark m) {
    /* The chunks added since the mark (guarded mode: every request's; one
     * released since is already gone, the mark's own chunk included): the
     * heads in front of the mark's chunk, and the dedicated chunks, which sit
     * right behind the head that was current when they were made, newest
     * first. So the scan stops at the first older chunk past the mark's. */
    for (ArenaChunk **link = &a->chunks; *link;) {
        ArenaChunk *c = *link;
        if (c->serial > m.serial) {
            *link = c->next;
            device_release(a->device, c->base);
            free(c);
        } else if (c == m.chunk) {
            link = &c->next;
        } else {
            break;
        }
    }
    if (!arena_guarded()) {
        CHECK(a->chunks == m.chunk, "arena_rewind: the mark is not in this arena, or it was reset since");
        if (a->chunks) a->chunks->offset = m.offset;
    }
    /* Blocks released since the mark in memory past it are gone with it. */
    size_t kept = 0;
    for (size_t k = 0; k < a->n_free; k++)
        if (kept_by_rewind(a, a->free_blocks[k].p, m)) a->free_blocks[kept++] = a->free_blocks[k];
    a->n_free = kept;
    a->used = m.used;
}

size_t arena_held_bytes(const Arena *a) {
    size_t bytes = 0;
    for (const ArenaChunk *c = a->chunks; c; c = c->next) bytes += c->size;
    return bytes;
}

void arena_poison(Arena *a, int byte) {
    if (arena_guarded()) return; /* every guarded allocation is poisoned as it is made */
    a->poisoned = 1;
    a->poison_byte = (unsigned char)byte;
    ensure_chunk(a);
    ArenaChunk *c = a->chunks;
    device_fill(a->device, c->base + c->offset, byte, c->size - c->offset);
}

Arena *arena_activations(void) {
    static _Thread_local Arena activations;
    return &activations;
}

Arena *arena_activations_on(Device device) {
    static _Thread_local Arena on_cuda = {.device = DEVICE_CUDA};
    return device == DEVICE_CPU ? arena_activations() : &on_cuda;
}

Arena *arena_kept_on(Device device) {
    static _Thread_local Arena on_cpu = {.device = DEVICE_CPU}, on_cuda = {.device = DEVICE_CUDA};
    return device == DEVICE_CPU ? &on_cpu : &on_cuda;
}

Arena *arena_grads_on(Device device) {
    static _Thread_local Arena on_cpu = {.device = DEVICE_CPU}, on_cuda = {.device = DEVICE_CUDA};
    return device == DEVICE_CPU ? &on_cpu : &on_cuda;
}
