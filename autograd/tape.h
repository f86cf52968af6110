/* The tape: reverse-mode automatic differentiation.
 *
 * Each op (autograd/ops.h) computes its output eagerly and, when gradients are
 * enabled and one of its inputs requires them, records a node: the output, up
 * to TAPE_MAX_INPUTS inputs, a backward function and a little saved state.
 * autograd_backward() seeds d(loss)/d(loss) = 1 and runs the nodes in reverse
 * order; each backward function adds (+=) into its inputs' gradients, so a
 * tensor used twice receives the sum. Nodes live in the activation arena and
 * are dropped by autograd_step_end(). The pass gives memory back as it goes:
 * an op's output gradient once its node has run, each node's scratch after
 * it (tape.c); the forward's intermediates that no backward reads go back
 * when the layer that made them has used them (autograd_discard). */
#ifndef AUTOGRAD_TAPE_H
#define AUTOGRAD_TAPE_H

#include <stdint.h>

#include "core/tensor.h"

#define TAPE_MAX_INPUTS 4

typedef struct TapeNode TapeNode;
typedef void (*BackwardFn)(TapeNode *node);

struct TapeNode {
    BackwardFn backward;
    const char *op_name;          /* for debugging and error messages */
    Tensor *out;
    Tensor *in[TAPE_MAX_INPUTS];  /* NULL entries for absent optional inputs */
    int n_in;
    /* An op with more inputs than in[] holds (concat) lists them all here
     * (NULL otherwise); tape_node_input() reads either. */
    Tensor **in_list;
    int n_in_list;
    void *saved;                  /* op-specific state, allocated in the arena */
    unsigned backward_reads;      /* TAPE_READS_* below */
    /* Writes out->data again from the inputs, with the forward's bits (an
     * op that can be recomputed cheaply sets it: GELU); NULL otherwise.
     * autograd_rematerialize uses it. */
    void (*recompute)(TapeNode *node);
    int rematerialized;           /* out's memory went back; the backward recomputes it */
    float f[4];                   /* small scalar arguments (eps, scale, p, ...) */
    int64_t i[8];                 /* small integer arguments (dims, sizes, flags) */
};

/* What a node's backward reads besides gradients: bit k for input k, and
 * TAPE_READS_OUT for the output. tape_record sets TAPE_READS_ALL, the safe
 * default; an op whose backward reads less says so after recording, which
 * lets autograd_discard return the rest at once. A backward that reads a
 * tensor through `saved` must also list that tensor among its inputs. */
#define TAPE_READS_IN(k) (1u << (k))
#define TAPE_READS_OUT (1u << 8)
#define TAPE_READS_NONE 0u
#define TAPE_READS_ALL (~0u)

/* True when an op with these inputs must record a node: gradients are enabled
 * and at least one non-NULL input requires a gradient. */
int tape_needs_grad(Tensor *const *inputs, int n);
/* Records a node for `out` (which becomes requires_grad) and returns it so the
 * op can fill `saved`, `f` and `i`. */
TapeNode *tape_record(const char *op_name, BackwardFn backward, Tensor *out, Tensor *const *inputs,
                      int n);
/* Convenience: tape_needs_grad + tape_record for up to 4 inputs; returns NULL
 * (records nothing) when no gradient is needed. */
TapeNode *tape_maybe_record(const char *op_name, BackwardFn backward, Tensor *out, Tensor *a, Tensor *b,
                            Tensor *c, Tensor *d);

/* Gradient of an input, or NULL when that input needs none (the backward
 * function skips it). Allocated zeroed on first use. */
float *tape_input_grad(TapeNode *node, int index);
/* The same for a backward that writes every element of that gradient
 * (tensor_grad_f32_to_overwrite): *overwrite = 1 when it is the first
 * writer, which then stores instead of adding (a device kernel's `*_store`
 * flag or a GEMM's beta = 0), so the buffer is never zero-filled. */
float *tape_input_grad_to_overwrite(TapeNode *node, int index, int *overwrite);

/* Every input of a node, also those beyond in[] (NULL entries included). */
int tape_node_n_inputs(const TapeNode *node);
Tensor *tape_node_input(const TapeNode *node, int k);

/* Called after each node of a backward pass has added its gradients (and
 * for nodes that no gradient reached), in the order they run: the gradient
 * all-reduce (autograd/grad_sync.h) starts a bucket as soon as no node left
 * can write into it. NULL removes it. Per thread, like the tape. */
typedef void (*TapeBackwardHook)(const TapeNode *node, void *ctx);
void tape_set_backward_hook(TapeBackwardHook hook, void *ctx);

/* Runs backward from a scalar (numel 1) loss. */
void autograd_backward(Tensor *loss);
/* Runs backward from `out` with a given upstream gradient (same shape). */
void autograd_backward_with(Tensor *out, const float *upstream);

/* Gradient mode. The frozen original model runs inside a no-grad scope:
 *   int prev = autograd_set_enabled(0); ... autograd_set_enabled(prev); */
int autograd_set_enabled(int enabled);
int autograd_is_enabled(void);

/* The caller reads t no more, nor any view of it, in this forward: its
 * memory goes back to the activation arena now unless a recorded backward
 * reads it (TAPE_READS_*), in which case it stays to the step's end as
 * before. For the intermediates a layer makes and uses up itself (a fused
 * projection once split, a residual branch once added: nn/transformer.c),
 * which PyTorch frees when their last reference goes. t must own its memory
 * (an op's output or tensor_new's, contiguous, not a view); under
 * MMU_ARENA_GUARD=1 the block is freed at once, so a later read is caught. */
void autograd_discard(Tensor *t);
/* Like autograd_discard, but also when later backwards read t: its memory
 * goes back now, and before each backward node that reads t the pass
 * recomputes it from its producer's inputs (TapeNode.recompute) into that
 * node's scratch, which dies with the node. Trades one cheap pointwise or
 * row-wise pass in the backward for an activation held from forward to
 * backward: the MLP's GELU output, which only the second Linear's weight
 * gradient reads, and the ViT's pre-norm outputs (ALBEF-base's md step:
 * about 2 GiB of the activation arena's peak; bench/README.md). Kept as it is, with no error, when t's
 * producer cannot recompute it, when its own backward reads t, or when a
 * backward reads t through a view (a view would keep the old address). The
 * producer's inputs must stay alive: the recompute checks. On a device only
 * unless autograd_set_rematerializing_on_cpu(1): on the CPU memory is rarely
 * the limit and compute is (tiny-ALBEF's ft step is 5% slower with it), and
 * PyTorch keeps these tensors there too; elsewhere it is autograd_discard. */
void autograd_rematerialize(Tensor *t);
/* Turns rematerialization of CPU tensors on or off (off by default; tests,
 * and a CPU run short of memory). Returns the previous setting; per thread. */
int autograd_set_rematerializing_on_cpu(int enabled);
/* While off, autograd_discard and autograd_rematerialize keep everything: for a reader of the tape's
 * forward values (L-codec's unit activations, unlearn/lcodec.c). Returns the
 * previous setting; on by default. Per thread, like the tape. */
int autograd_set_discarding(int enabled);

/* Ends a step: drops the tape and resets the activation arena. Parameter
 * gradients (long-lived) are untouched; zero them with params_zero_grad(). */
void autograd_step_end(void);
/* autograd_step_end, and every arena gives its chunks back to its device
 * (arena_release_chunks): between phases whose steps differ in shape. */
void autograd_release_memory(void);
/* Drops the recorded nodes but keeps the arena (tests, gradient checks). */
void tape_clear(void);
/* Number of recorded nodes (tests). */
int64_t tape_size(void);
/* Recorded node k (0 <= k < tape_size()), read-only: L-codec reads the
 * outputs of the Linear layers of a forward as its unit activations
 * (spec/unlearning_methods.md §4.6 step 1) without hooks in the model. */
const TapeNode *tape_node(int64_t k);

#endif
