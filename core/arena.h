/* Bump-pointer memory arenas.
 *
 * Long-lived state (parameters, gradients, optimizer moments) is allocated once
 * per model elsewhere; everything a training step creates (activation tensors,
 * their gradients, tape nodes) comes from arenas that are reset after the step.
 * Within the step, blocks come back early and are handed out again: a region
 * rewound to a mark (scratch, a tape-less forward), a block released to a list
 * that the next request of its size takes (gradients, discarded
 * intermediates: autograd/tape.h). An arena grows by extra chunks while a step
 * first runs; the next reset merges them into one chunk of the high-water
 * size, so from the second step on there is no malloc inside a step (DESIGN.md,
 * "No allocation in the hot loop"). MMU_ARENA_GUARD=1 in the environment makes
 * every request its own allocation instead, freed as soon as it comes back
 * (arena.c), so memory checkers see a tensor overrun into its neighbour and a
 * read of memory the step gave back: for checking runs, never for speed. */
#ifndef CORE_ARENA_H
#define CORE_ARENA_H

#include <stddef.h>

#include "core/tensor.h"

typedef struct ArenaChunk ArenaChunk;

/* A block handed back by arena_release, waiting for a request of its size. */
typedef struct {
    void *p;
    size_t bytes; /* rounded to the arena's alignment */
} ArenaFreeBlock;

typedef struct {
    ArenaChunk *chunks;   /* the bump chunk (head) first, then older heads, each followed by the
                           * chunks dedicated to single requests while it was the head */
    size_t used;          /* bytes the bump pointer handed out since the last reset */
    size_t high_water;    /* largest `used` ever seen */
    size_t chunk_count;   /* chunks allocated over the arena's life, for tests */
    Device device;        /* where the chunks live (core/device.h); the CPU by default */
    ArenaFreeBlock *free_blocks; /* released since the last reset (arena_release) */
    size_t n_free, free_capacity;
    int poisoned;                /* arena_poison was called: every chunk made from then on is filled */
    unsigned char poison_byte;
} Arena;

/* Alignment of every allocation: enough for AVX-512 loads; 256 bytes in a
 * device arena (cudaMalloc's, and cuBLASLt's preferred operand alignment). */
#define ARENA_ALIGN 64
#define ARENA_DEVICE_ALIGN 256
/* The largest chunk a growing arena adds for requests smaller than it: the
 * first step's chunks sum to its use plus at most about one cap (ALBEF-base's
 * bf16 MultiDelete step peaks 0.5 GiB lower at 256 MiB than at 1 GiB). */
#define ARENA_GROWTH_CAP ((size_t)1 << 28)

void arena_init(Arena *a, size_t initial_bytes);
/* The same for an arena whose chunks live on `device`: the "planned buffer"
 * of device activations is this arena's single chunk from the second step on. */
void arena_init_on(Arena *a, Device device, size_t initial_bytes);
void arena_free(Arena *a);
void *arena_alloc(Arena *a, size_t bytes);          /* uninitialised */
void *arena_alloc_zero(Arena *a, size_t bytes);     /* zero-filled */
void arena_reset(Arena *a);
/* A reset that also gives every chunk back to the device and forgets the
 * high-water mark: the next request starts a new first chunk, as in a fresh
 * process. Between phases of a run whose steps differ in shape (a
 * benchmark's md steps, then its ft steps). */
void arena_release_chunks(Arena *a);
/* Hands back a block of `bytes` that arena_alloc(a, bytes) returned, before
 * the reset: the next request of the same rounded size gets it (most recently
 * released first). Gradient buffers die this way during a backward pass
 * (autograd/tape.c), and their sizes repeat layer after layer, so the arena
 * peaks at the gradients alive at once instead of all of them; so do the
 * forward's intermediates a layer discards (autograd_discard). In the guarded
 * mode the block is freed at once, so a later access to it is caught. A
 * rewind forgets the released blocks that lie past its mark. */
void arena_release(Arena *a, void *p, size_t bytes);
/* Bytes the arena's chunks hold (what it took from its device), for tests
 * and the benchmark's account of the first step's growth. */
size_t arena_held_bytes(const Arena *a);
/* Fills the unused rest of the current chunk with `byte` (0xFF makes every f32
 * a NaN), and every chunk the arena makes from then on (the growth of the
 * pass that follows, the merged chunk of the next reset): the CUDA parity
 * tests poison the device arena so that an output element a kernel forgot to
 * write shows up (issue 5) wherever it lands. cudaMalloc'd memory holds
 * whatever it held, and the emulator's holds zeros, which would hide it. */
void arena_poison(Arena *a, int byte);

/* A point of an arena to return to: arena_rewind releases everything
 * allocated after it (the chunks added since included), so a region of a
 * step whose intermediates die at its end (a forward without a tape:
 * autograd/scope.h) takes no memory from the rest of the step. The high-water
 * mark keeps the largest use, so the arena's single chunk from the second
 * step on is sized by the peak, not by the sum. */
typedef struct {
    ArenaChunk *chunk;
    size_t offset, used;
    size_t serial; /* the arena's chunk_count then: chunks made since have larger serials */
} ArenaMark;
ArenaMark arena_mark(Arena *a);
void arena_rewind(Arena *a, ArenaMark m);

/* The arena that tensor_new() and the autograd tape allocate from. One per
 * thread of control; programs reset it once per step via autograd_step_end(). */
Arena *arena_activations(void);
/* The activation arena of `device` (the CPU's is arena_activations()). */
Arena *arena_activations_on(Device device);
/* The arena of `device` for the few tensors a rewound region keeps (its
 * outputs): outside every mark, reset with the activations at the step's end. */
Arena *arena_kept_on(Device device);
/* The arena of `device` for activation gradients (tensor_grad_f32): apart
 * from the activations, so that a backward pass can rewind its scratch after
 * every node and release each gradient once its producer has read it. */
Arena *arena_grads_on(Device device);

#endif
