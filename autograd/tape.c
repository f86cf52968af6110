#include "autograd/tape.h"

#include <string.h>

#include "core/arena.h"
#include "core/device.h"
#include "core/error.h"

typedef struct {
    TapeNode **nodes;
    int64_t count;
    int64_t capacity;
} Tape;

static _Thread_local Tape tape;
static _Thread_local int grad_enabled = 1;
static _Thread_local int discarding = 1;
static _Thread_local int rematerializing_on_cpu;
static _Thread_local TapeBackwardHook backward_hook;
static _Thread_local void *backward_hook_ctx;

int autograd_set_enabled(int enabled) {
    int prev = grad_enabled;
    grad_enabled = enabled;
    return prev;
}

int autograd_is_enabled(void) { return grad_enabled; }

int tape_needs_grad(Tensor *const *inputs, int n) {
    if (!grad_enabled) return 0;
    for (int k = 0; k < n; k++)
        if (inputs[k] && inputs[k]->requires_grad) return 1;
    return 0;
}

static void tape_push(TapeNode *node) {
    if (tape.count == tape.capacity) {
        /* The node list lives in the arena; growing it copies into a larger
         * block. Only the first step grows it: later steps fit the first's. */
        int64_t cap = tape.capacity ? tape.capacity * 2 : 1024;
        TapeNode **nodes = arena_alloc(arena_activations(), (size_t)cap * sizeof *nodes);
        if (tape.count) memcpy(nodes, tape.nodes, (size_t)tape.count * sizeof *nodes);
        tape.nodes = nodes;
        tape.capacity = cap;
    }
    tape.nodes[tape.count++] = node;
}

TapeNode *tape_record(const char *op_name, BackwardFn backward, Tensor *out, Tensor *const *inputs,
                      int n) {
    CHECK(n <= TAPE_MAX_INPUTS, "%s: %d inputs", op_name, n);
    /* Backward releases an output's gradient after its node: an output that
     * is also an input (or a parameter) would lose a gradient still needed. */
    for (int k = 0; k < n; k++) CHECK(inputs[k] != out, "%s: records a node whose output is its own input", op_name);
    CHECK(out->grad == NULL && !out->requires_grad, "%s: records a node for a tensor that already has one or a gradient",
          op_name);
    TapeNode *node = arena_alloc_zero(arena_activations(), sizeof *node);
    node->backward = backward;
    node->op_name = op_name;
    node->out = out;
    node->n_in = n;
    node->backward_reads = TAPE_READS_ALL;
    for (int k = 0; k < n; k++) node->in[k] = inputs[k];
    out->requires_grad = 1;
    tape_push(node);
    return node;
}

TapeNode *tape_maybe_record(const char *op_name, BackwardFn backward, Tensor *out, Tensor *a, Tensor *b,
                            Tensor *c, Tensor *d) {
    Tensor *inputs[4] = {a, b, c, d};
    int n = 4;
    while (n > 0 && inputs[n - 1] == NULL) n--;
    if (!tape_needs_grad(inputs, n)) return NULL;
    return tape_record(op_name, backward, out, inputs, n);
}

float *tape_input_grad(TapeNode *node, int index) {
    Tensor *t = node->in[index];
    if (t == NULL || !t->requires_grad) return NULL;
    return tensor_grad_f32(t);
}

float *tape_input_grad_to_overwrite(TapeNode *node, int index, int *overwrite) {
    Tensor *t = node->in[index];
    *overwrite = 0;
    if (t == NULL || !t->requires_grad) return NULL;
    return tensor_grad_f32_to_overwrite(t, overwrite);
}

int tape_node_n_inputs(const TapeNode *node) { return node->in_list ? node->n_in_list : node->n_in; }

Tensor *tape_node_input(const TapeNode *node, int k) {
    CHECK(k >= 0 && k < tape_node_n_inputs(node), "%s: input %d of %d", node->op_name, k, tape_node_n_inputs(node));
    return node->in_list ? node->in_list[k] : node->in[k];
}

/* The bytes from t->data to one past its last element (strided views too). */
static size_t extent_bytes(const Tensor *t) {
    int64_t last = 0;
    for (int d = 0; d < t->ndim; d++) {
        if (t->shape[d] == 0) return 0;
        last += (t->shape[d] - 1) * t->stride[d];
    }
    return (size_t)(last + 1) * dtype_size(t->dtype);
}

static int overlaps(const Tensor *u, const unsigned char *p, size_t bytes) {
    if (u == NULL || u->data == NULL) return 0;
    const unsigned char *q = u->data;
    size_t n = extent_bytes(u);
    return n > 0 && q < p + bytes && p < q + n;
}

/* Whether node's backward reads its input i (inputs past in[]'s bits: only
 * under TAPE_READS_ALL). */
static int reads_input(const TapeNode *node, int i) {
    return i < 8 ? (node->backward_reads & TAPE_READS_IN(i)) != 0 : node->backward_reads == TAPE_READS_ALL;
}

/* Whether a recorded backward reads any byte of [p, p + bytes). Only nodes
 * recorded after t's producer can read t (or a view of it), so the scan
 * stops at the producer. */
static int backward_reads_memory(const Tensor *t, const unsigned char *p, size_t bytes) {
    for (int64_t k = tape.count - 1; k >= 0; k--) {
        const TapeNode *node = tape.nodes[k];
        if ((node->backward_reads & TAPE_READS_OUT) && overlaps(node->out, p, bytes)) return 1;
        int n = tape_node_n_inputs(node);
        for (int i = 0; i < n; i++) {
            if (reads_input(node, i) && overlaps(tape_node_input(node, i), p, bytes)) return 1;
        }
        if (node->out == t) return 0;
    }
    return 0;
}

int autograd_set_rematerializing_on_cpu(int enabled) {
    int prev = rematerializing_on_cpu;
    rematerializing_on_cpu = enabled;
    return prev;
}

int autograd_set_discarding(int enabled) {
    int prev = discarding;
    discarding = enabled;
    return prev;
}

void autograd_discard(Tensor *t) {
    CHECK(t && tensor_is_contiguous(t), "autograd_discard: needs a contiguous tensor that owns its memory");
    if (!discarding) return;
    size_t bytes = tensor_nbytes(t);
    if (bytes == 0 || backward_reads_memory(t, t->data, bytes)) return;
    arena_release(arena_activations_on(t->device), t->data, bytes);
    t->data = NULL;
}

/* The node that made t, scanning back from node `before` (exclusive); NULL
 * when t is not an op's output on the tape. */
static TapeNode *producer_of(const Tensor *t, int64_t before) {
    for (int64_t k = before - 1; k >= 0; k--)
        if (tape.nodes[k]->out == t) return tape.nodes[k];
    return NULL;
}

/* Whether every recorded backward that reads t's memory reads t itself (not
 * a view), and t's producer does not read its own output. */
static int read_only_directly(const Tensor *t, const TapeNode *producer) {
    const unsigned char *p = t->data;
    size_t bytes = tensor_nbytes(t);
    if (producer->backward_reads & TAPE_READS_OUT) return 0;
    for (int64_t k = tape.count - 1; k >= 0 && tape.nodes[k] != producer; k--) {
        const TapeNode *node = tape.nodes[k];
        if ((node->backward_reads & TAPE_READS_OUT) && overlaps(node->out, p, bytes)) return 0;
        int n = tape_node_n_inputs(node);
        for (int i = 0; i < n; i++) {
            const Tensor *u = tape_node_input(node, i);
            if (reads_input(node, i) && u != t && overlaps(u, p, bytes)) return 0;
        }
    }
    return 1;
}

void autograd_rematerialize(Tensor *t) {
    CHECK(t && tensor_is_contiguous(t), "autograd_rematerialize: needs a contiguous tensor that owns its memory");
    if (!discarding || t->data == NULL) return;
    TapeNode *producer = producer_of(t, tape.count);
    if ((t->device == DEVICE_CPU && !rematerializing_on_cpu) || producer == NULL || producer->recompute == NULL ||
        !read_only_directly(t, producer)) {
        autograd_discard(t); /* no recompute possible: give it back only if nothing reads it */
        return;
    }
    size_t bytes = tensor_nbytes(t);
    if (bytes == 0) return;
    arena_release(arena_activations_on(t->device), t->data, bytes);
    t->data = NULL;
    producer->rematerialized = 1;
}

/* A rematerialized t (and first its producer's inputs, if they were too),
 * recomputed into the activation arena past the running node's mark, so
 * the rewind after the node takes it back; t is added to `made`. */
#define MAX_RECOMPUTED 16
static void recompute_tensor(Tensor *t, int64_t before, Tensor **made, int *n_made) {
    TapeNode *producer = producer_of(t, before);
    CHECK(producer && producer->rematerialized,
          "backward: a node reads a tensor (made by %s) whose memory was given back and cannot be recomputed",
          producer ? producer->op_name : "no op on the tape");
    int n = tape_node_n_inputs(producer);
    for (int i = 0; i < n; i++) {
        Tensor *u = tape_node_input(producer, i);
        if (u && u->data == NULL) recompute_tensor(u, before, made, n_made);
    }
    CHECK(*n_made < MAX_RECOMPUTED, "backward: more than %d tensors to recompute for one node", MAX_RECOMPUTED);
    t->data = arena_alloc(arena_activations_on(t->device), tensor_nbytes(t));
    producer->recompute(producer);
    made[(*n_made)++] = t;
}

/* Before node k's backward: the inputs it reads that were rematerialized.
 * Returns how many tensors were recomputed, listed in `made`. */
static int recompute_inputs(TapeNode *node, int64_t k, Tensor **made) {
    int n_made = 0;
    int n = tape_node_n_inputs(node);
    for (int i = 0; i < n; i++) {
        Tensor *u = tape_node_input(node, i);
        if (reads_input(node, i) && u && u->data == NULL) recompute_tensor(u, k, made, &n_made);
    }
    return n_made;
}

void tape_set_backward_hook(TapeBackwardHook hook, void *ctx) {
    backward_hook = hook;
    backward_hook_ctx = ctx;
}

/* An op's output gradient is complete when its node runs (every consumer was
 * recorded after it, so ran before it) and read by that node alone: the
 * buffer goes back to the gradient arena for the next gradient of its size. */
static void release_output_grad(Tensor *out) {
    if (out->grad == NULL) return;
    arena_release(arena_grads_on(out->device), out->grad, (size_t)tensor_numel(out) * sizeof(float));
    out->grad = NULL;
}

/* Each backward function's scratch (casts, partial products, reduction
 * buffers: arena_activations_on) dies with it: the activation arenas are
 * rewound after every node, so a backward pass peaks at the forward's
 * activations plus the largest node's scratch plus the gradients alive at
 * once (bench/README.md, "Peak device memory"). Backward functions call
 * kernels, never ops: recording is off while the tape is read. */
static void run_backward(void) {
    int prev = autograd_set_enabled(0);
    int device_up = device_ready(DEVICE_CUDA);
    Arena *host = arena_activations(), *device = device_up ? arena_activations_on(DEVICE_CUDA) : NULL;
    for (int64_t k = tape.count - 1; k >= 0; k--) {
        TapeNode *node = tape.nodes[k];
        ArenaMark host_mark = arena_mark(host), device_mark = device ? arena_mark(device) : (ArenaMark){0};
        Tensor *recomputed[MAX_RECOMPUTED];
        int n_recomputed = 0;
        if (node->out->grad != NULL) { /* else no gradient reached this op */
            n_recomputed = recompute_inputs(node, k, recomputed);
            node->backward(node);
        }
        if (backward_hook) backward_hook(node, backward_hook_ctx);
        for (int r = 0; r < n_recomputed; r++) recomputed[r]->data = NULL; /* rewound below */
        arena_rewind(host, host_mark);
        if (device) arena_rewind(device, device_mark);
        release_output_grad(node->out);
    }
    autograd_set_enabled(prev);
}

void autograd_backward(Tensor *loss) {
    CHECK(tensor_numel(loss) == 1, "backward from a non-scalar loss");
    CHECK(loss->requires_grad, "backward from a loss that does not depend on any parameter");
    CHECK(loss->device == DEVICE_CPU || loss->grad == NULL, "backward twice from the same device loss");
    float *g = tensor_grad_f32(loss);
    if (loss->device == DEVICE_CPU) {
        g[0] += 1.0f;
    } else { /* a fresh gradient buffer is zero, so seeding is a copy of 1 */
        const float one = 1.0f;
        device_copy(g, loss->device, &one, DEVICE_CPU, sizeof one);
    }
    run_backward();
}

void autograd_backward_with(Tensor *out, const float *upstream) {
    CHECK(out->requires_grad, "backward from a tensor that needs no gradient");
    CHECK(out->device == DEVICE_CPU || out->grad == NULL,
          "backward_with on a device tensor that already holds a gradient");
    float *g = tensor_grad_f32(out);
    int64_t n = tensor_numel(out);
    if (out->device == DEVICE_CPU)
        for (int64_t k = 0; k < n; k++) g[k] += upstream[k];
    else
        device_copy(g, out->device, upstream, DEVICE_CPU, (size_t)n * sizeof *g);
    run_backward();
}

void tape_clear(void) {
    tape.nodes = NULL;
    tape.count = 0;
    tape.capacity = 0;
}

/* fn on every arena a step allocates from, host and device. */
static void each_step_arena(void (*fn)(Arena *)) {
    fn(arena_activations());
    fn(arena_kept_on(DEVICE_CPU));
    fn(arena_grads_on(DEVICE_CPU));
    if (device_ready(DEVICE_CUDA)) {
        fn(arena_activations_on(DEVICE_CUDA));
        fn(arena_kept_on(DEVICE_CUDA));
        fn(arena_grads_on(DEVICE_CUDA));
    }
}

void autograd_step_end(void) {
    tape_clear();
    each_step_arena(arena_reset);
}

void autograd_release_memory(void) {
    tape_clear();
    each_step_arena(arena_release_chunks);
}

int64_t tape_size(void) { return tape.count; }

const TapeNode *tape_node(int64_t k) {
    CHECK(k >= 0 && k < tape.count, "tape_node(%lld): the tape holds %lld nodes", (long long)k, (long long)tape.count);
    return tape.nodes[k];
}
