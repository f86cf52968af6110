/* The L-codec removal loop (unlearn/lcodec.h; spec/unlearning_methods.md
 * §4.6 "Per-removal procedure" and "Multimodal adaptation").
 *
 * On a device the forwards and backwards run there; what L-codec computes
 * between them (unit activations, FOCI, the Woodbury solve, the noise, the
 * guard's accuracy) stays host arithmetic: the losses, logits and Linear
 * outputs it needs are copied to the host, the selected slices' gradients and
 * values are copied out of the device parameter block and the updated slices
 * copied back. On the CPU the same code reads the tensors in place. */
#include "unlearn/lcodec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/arena.h"
#include "core/clock.h"
#include "core/comm.h"
#include "core/device.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/rng.h"

/* Philox streams of this method. */
#define STREAM_ORDER 0x6c636f6465636f00ULL
#define STREAM_PIXELS 0x6c636f6465637000ULL
#define STREAM_TOKENS 0x6c636f6465637400ULL
#define STREAM_DR 0x6c636f6465636400ULL
#define STREAM_NOISE 0x6c636f6465636e00ULL

/* Items of one removal (or guard or Hessian) batch. Their tensors are made
 * again by Task.batch_make (a pure function of the items) for every pass,
 * because the activation arena is reset after each one; the eval transform,
 * no augmentation: L-codec samples in eval mode (§4.6 step 4). */
typedef struct {
    const int64_t *items;
    int n;
} Items;

/* The batch; perturbation `pert` >= 0 adds pixel noise to the image side and
 * replaces one token per text (§4.6 "perturb both modalities"; a graph side
 * is left as it is: the spec perturbs pixels). */
static int items_batch(const Task *t, Items it, const LcodecOptions *o, int64_t pert, uint64_t batch_key,
                       TaskBatch *b) {
    if (t->batch_make(t, it.items, it.n, 0, 0, 0, b) < 0) return -1;
    if (pert < 0) return 0;
    uint64_t key = batch_key * 1000003ULL + (uint64_t)pert;
    if (b->image) {
        CHECK(b->image->device == DEVICE_CPU, "L-codec: the task's image batch is not on the host");
        float *px = tensor_f32(b->image);
        int64_t npix = tensor_numel(b->image);
        for (int64_t k = 0; k < npix; k++)
            px[k] += o->image_noise * philox_normal(o->seed, STREAM_PIXELS + key, (uint64_t)k);
    }
    CHECK(b->text_mask && b->text_mask->device == DEVICE_CPU, "L-codec: the task's batch has no host text mask");
    int n = b->n, L = (int)b->text_ids->shape[1];
    int32_t *ids = malloc((size_t)n * L * sizeof *ids);
    CHECK(ids != NULL, "out of memory");
    tensor_copy_to_host(b->text_ids, ids);
    const int32_t *mask = tensor_i32(b->text_mask);
    Rng r = rng_make(o->seed, STREAM_TOKENS + key);
    for (int i = 0; i < n; i++) {
        int len = 0;
        for (int k = 0; k < L; k++) len += mask[i * L + k];
        if (len < 3) continue; /* only [CLS] [SEP]: nothing to replace */
        int pos = 1 + (int)rng_below(&r, (uint64_t)(len - 2));
        ids[i * L + pos] = o->token_lo + (int32_t)rng_below(&r, (uint64_t)(o->token_hi - o->token_lo + 1));
    }
    tensor_copy_from_host(b->text_ids, ids);
    free(ids);
    return 0;
}

/* A tensor's values where the host can read them: its own data on the CPU,
 * else a copy in the host activation arena (freed at autograd_step_end). */
static const float *host_f32(const Tensor *t) {
    if (t->device == DEVICE_CPU) return tensor_f32(t);
    float *host = arena_alloc(arena_activations(), (size_t)tensor_numel(t) * sizeof *host); /* f32 also for bf16 */
    tensor_copy_to_host(t, host);
    return host;
}

/* ---- units: the output rows of every Linear the forward runs ---- */
typedef struct {
    int weight, bias;   /* parameter indices (bias -1 when none) */
    int64_t rows, cols; /* weight as [rows, cols] (a patch-embedding filter is one row) */
    int64_t unit0;      /* first unit's column in X */
} Layer;

typedef struct {
    Layer *layers;
    int n;
    int64_t units;
    int *slot_of_param; /* [params.count] layer slot of a weight, -1 */
} Units;

static int param_of(const ParamSet *ps, const Tensor *t) {
    if (!t) return -1;
    for (int k = 0; k < ps->count; k++)
        if (ps->items[k] == t || (tensor_f32(ps->items[k]) == tensor_f32(t) &&
                                   tensor_numel(ps->items[k]) == tensor_numel(t)))
            return k;
    return -1;
}

/* Collects the Linear nodes on the current tape whose weight is trainable. */
static void units_build(Units *u, const ParamSet *ps) {
    memset(u, 0, sizeof *u);
    u->slot_of_param = malloc((size_t)ps->count * sizeof(int));
    u->layers = malloc((size_t)ps->count * sizeof(Layer));
    CHECK(u->slot_of_param && u->layers, "out of memory");
    for (int k = 0; k < ps->count; k++) u->slot_of_param[k] = -1;
    for (int64_t k = 0; k < tape_size(); k++) {
        const TapeNode *node = tape_node(k);
        if (strcmp(node->op_name, "linear") != 0) continue;
        int w = param_of(ps, node->in[1]);
        if (w < 0 || !ps->items[w]->requires_grad || u->slot_of_param[w] >= 0) continue;
        Layer *l = &u->layers[u->n];
        l->weight = w;
        l->bias = node->n_in > 2 ? param_of(ps, node->in[2]) : -1;
        l->rows = node->in[1]->shape[0];
        l->cols = tensor_numel(node->in[1]) / l->rows;
        l->unit0 = u->units;
        u->units += l->rows;
        u->slot_of_param[w] = u->n++;
    }
}

static void units_free(Units *u) {
    free(u->layers), free(u->slot_of_param);
    memset(u, 0, sizeof *u);
}

/* x[unit] = the mean output of each unit over the batch (and tokens), averaged
 * over the calls of its layer (§4.6 step 1). */
static void units_activations(const Units *u, const ParamSet *ps, float *x) {
    int *calls = calloc((size_t)u->n + 1, sizeof *calls);
    double *acc = calloc((size_t)u->units + 1, sizeof *acc);
    CHECK(calls && acc, "out of memory");
    for (int64_t k = 0; k < tape_size(); k++) {
        const TapeNode *node = tape_node(k);
        if (strcmp(node->op_name, "linear") != 0) continue;
        int w = param_of(ps, node->in[1]);
        if (w < 0 || u->slot_of_param[w] < 0) continue;
        const Layer *l = &u->layers[u->slot_of_param[w]];
        const float *o = host_f32(node->out);
        int64_t rows = tensor_numel(node->out) / l->rows;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t j = 0; j < l->rows; j++) acc[l->unit0 + j] += o[r * l->rows + j] / (double)rows;
        calls[u->slot_of_param[w]]++;
    }
    for (int s = 0; s < u->n; s++)
        for (int64_t j = 0; j < u->layers[s].rows; j++) {
            int64_t c = u->layers[s].unit0 + j;
            x[c] = calls[s] ? (float)(acc[c] / calls[s]) : 0.0f;
        }
    free(calls), free(acc);
}

/* The selected slices as (offset, length) runs in the flat parameter block. */
typedef struct {
    int64_t *off, *len;
    int n;
    int64_t d;
} Slices;

static void slices_make(Slices *s, const Units *u, const ParamSet *ps, const int *sel, int n_sel) {
    s->off = malloc((size_t)(2 * n_sel + 1) * sizeof(int64_t));
    s->len = malloc((size_t)(2 * n_sel + 1) * sizeof(int64_t));
    CHECK(s->off && s->len, "out of memory");
    s->n = 0, s->d = 0;
    for (int i = 0; i < n_sel; i++) {
        int slot = 0;
        while (slot + 1 < u->n && u->layers[slot + 1].unit0 <= sel[i]) slot++;
        const Layer *l = &u->layers[slot];
        int64_t row = sel[i] - l->unit0;
        s->off[s->n] = params_offset(ps, ps->items[l->weight]) + row * l->cols; /* weight row r */
        s->len[s->n++] = l->cols;
        if (l->bias >= 0) { /* and bias entry r */
            s->off[s->n] = params_offset(ps, ps->items[l->bias]) + row;
            s->len[s->n++] = 1;
        }
    }
    for (int i = 0; i < s->n; i++) s->d += s->len[i];
}

/* out (host) = the slices of block, a parameter block on `device`. */
static void slices_gather(const Slices *s, const float *block, Device device, float *out) {
    for (int i = 0; i < s->n; i++) {
        device_copy(out, DEVICE_CPU, block + s->off[i], device, (size_t)s->len[i] * sizeof(float));
        out += s->len[i];
    }
}

/* The slices of block (on `device`) = in (host). */
static void slices_scatter(const Slices *s, float *block, Device device, const float *in) {
    for (int i = 0; i < s->n; i++) {
        device_copy(block + s->off[i], device, in, DEVICE_CPU, (size_t)s->len[i] * sizeof(float));
        in += s->len[i];
    }
}

/* The gradient of the task's item loss on a batch, restricted to the slices. */
static int slice_gradient(const Task *t, TaskModel *m, Items it, const LcodecOptions *o, const Slices *s, float *g) {
    TaskBatch b;
    if (items_batch(t, it, o, -1, 0, &b) < 0) return -1;
    Tensor *loss = t->item_loss(t, m, &b);
    if (loss->requires_grad) autograd_backward(loss);
    slices_gather(s, m->params->grads, m->params->device, g);
    params_zero_grad(m->params);
    autograd_step_end();
    return 0;
}

/* The guard's metric (Task.item_accuracy) on the guard's Dr items; -1 on a batch error. */
static double guard_accuracy(const Task *t, TaskModel *m, Items it, const LcodecOptions *o) {
    int prev = autograd_set_enabled(0);
    TaskBatch b;
    double acc = items_batch(t, it, o, -1, 0, &b) < 0 ? -1.0 : t->item_accuracy(t, m, &b);
    autograd_step_end();
    autograd_set_enabled(prev);
    return acc;
}

/* One removal: selection, Newton step, noise, guard. Returns 1 applied, 0 skipped, -1 error. */
static int remove_batch(const Task *t, TaskModel *m, Items bf, const int64_t *dr_order, int64_t n_dr,
                        const Units *u, Items guard, double *guard_ref, int64_t batch_no, const LcodecOptions *o,
                        unsigned char *touched, LcodecStats *st) {
    ParamSet *ps = m->params;
    int P = o->perturbations;
    float *X = malloc((size_t)P * (size_t)u->units * sizeof *X), *Y = malloc((size_t)P * sizeof *Y);
    int *sel = malloc((size_t)(o->max_units > 1 ? o->max_units : 1) * sizeof *sel);
    CHECK(X && Y && sel, "out of memory");
    /* Data parallel (core/comm.h): the P perturbations and the k Dr
     * gradients are independent passes, so each rank computes its share of
     * them (comm_shard_rows) and the rows are all-gathered; each row is the
     * bits one process computes, and everything after them runs on every rank
     * alike. The removed batch's own gradient and the guard are one pass each. */
    int64_t lo, hi;
    comm_shard_rows(P, 1, &lo, &hi);
    int rc = 0;
    int discarding = autograd_set_discarding(0); /* the Linear outputs are read from the tape */
    for (int p = (int)lo; p < hi && rc == 0; p++) { /* step 1: perturbations, eval mode, tape on for the activations */
        TaskBatch b;
        rc = items_batch(t, bf, o, p, (uint64_t)batch_no, &b);
        if (rc == 0) {
            tensor_copy_to_host(t->item_loss(t, m, &b), &Y[p]);
            units_activations(u, ps, X + (int64_t)p * u->units);
        }
        autograd_step_end();
    }
    autograd_set_discarding(discarding);
    if (rc < 0) {
        free(X), free(Y), free(sel);
        return -1;
    }
    comm_allgather_rows_f32(X, P, u->units, 1);
    comm_allgather_rows_f32(Y, P, 1, 1);
    int n_sel = lcodec_foci(X, P, (int)u->units, Y, o->foci, o->max_units, sel); /* step 2 */
    Slices s;
    slices_make(&s, u, ps, sel, n_sel); /* step 3 */
    int k = o->hessian_batches;
    float *g = malloc((size_t)s.d * sizeof *g), *G = malloc((size_t)(k > 0 ? k : 1) * (size_t)s.d * sizeof *G);
    float *delta = malloc((size_t)s.d * sizeof *delta), *saved = malloc((size_t)s.d * sizeof *saved);
    CHECK(g && G && delta && saved, "out of memory");
    rc = slice_gradient(t, m, bf, o, &s, g); /* step 4 */
    comm_shard_rows(k, 1, &lo, &hi);
    for (int i = (int)lo; i < hi && rc == 0; i++) { /* Dr batches for H_old */
        int64_t nb = bf.n < n_dr ? bf.n : n_dr, start = ((batch_no * k + i) * nb) % (n_dr - nb + 1);
        rc = slice_gradient(t, m, (Items){dr_order + start, (int)nb}, o, &s, G + (int64_t)i * s.d);
    }
    if (rc == 0) comm_allgather_rows_f32(G, k, s.d, 1);
    if (rc == 0) rc = lcodec_newton_step(s.d, g, G, k, o, delta); /* steps 5-6 */
    if (rc == 0) {
        slices_gather(&s, ps->values, ps->device, saved);
        for (int64_t e = 0; e < s.d; e++) delta[e] += saved[e];
        if (st->sigma > 0.0) lcodec_add_noise(delta, s.d, st->sigma, o->seed, STREAM_NOISE + (uint64_t)batch_no, 0);
        slices_scatter(&s, ps->values, ps->device, delta);
        rc = 1;
        if (o->guard_gap >= 0.0) { /* step 8 */
            double acc = guard_accuracy(t, m, guard, o);
            st->guard_last = acc;
            if (acc < 0.0) {
                rc = -1;
            } else if (acc < *guard_ref - o->guard_gap) {
                slices_scatter(&s, ps->values, ps->device, saved);
                rc = 0;
            } else {
                *guard_ref = acc;
            }
        }
    }
    if (rc == 1) {
        st->units_selected += n_sel;
        st->values_changed += s.d;
        if (touched)
            for (int i = 0; i < s.n; i++) memset(touched + s.off[i], 1, (size_t)s.len[i]);
    }
    free(X), free(Y), free(sel), free(g), free(G), free(delta), free(saved), free(s.off), free(s.len);
    return rc;
}

int lcodec_unlearn(const Task *t, TaskModel *m, const int64_t *df, int64_t n_df, const int64_t *dr, int64_t n_dr,
                   const LcodecOptions *o, unsigned char *touched, LcodecStats *st) {
    memset(st, 0, sizeof *st);
    if (o->perturbations < 2) return error_set("L-codec needs at least 2 perturbations (got %d)", o->perturbations);
    if (o->batch < 1 || n_df < 1 || n_dr < 1) return error_set("L-codec: empty Df/Dr or batch < 1");
    if (o->hessian_batches < 1 && o->newton == LCODEC_NEWTON_SEKHARI)
        return error_set("L-codec: the Sekhari step needs at least one Dr batch for H_old");
    if (o->token_hi < o->token_lo) return error_set("L-codec: empty token range [%d, %d]", o->token_lo, o->token_hi);
    double t0 = clock_seconds();
    st->sigma = o->noise && o->newton == LCODEC_NEWTON_SEKHARI
                    ? lcodec_noise_sigma((double)o->n_train, o->l2_reg, o->epsilon, o->delta)
                    : 0.0;
    int64_t *df_order = malloc((size_t)n_df * sizeof *df_order), *dr_order = malloc((size_t)n_dr * sizeof *dr_order);
    CHECK(df_order && dr_order, "out of memory");
    memcpy(df_order, df, (size_t)n_df * sizeof *df_order);
    memcpy(dr_order, dr, (size_t)n_dr * sizeof *dr_order);
    Rng r1 = rng_make(o->seed, STREAM_ORDER), r2 = rng_make(o->seed, STREAM_DR);
    rng_shuffle_i64(&r1, df_order, n_df); /* the removal order is a random permutation (§4.6) */
    rng_shuffle_i64(&r2, dr_order, n_dr);
    t->model_set_mode(t, m, 0, o->seed); /* eval mode throughout (§4.6 step 4) */
    int prev = autograd_set_enabled(1);
    Items guard = {dr_order, (int)(o->guard_pairs < n_dr ? o->guard_pairs : n_dr)};
    Units u = {0};
    int rc = 0;
    double guard_ref = 0.0;
    if (o->guard_gap >= 0.0) {
        guard_ref = guard_accuracy(t, m, guard, o);
        if (guard_ref < 0.0) rc = -1;
        st->guard_first = st->guard_last = guard_ref;
    }
    int64_t n_batches = (n_df + o->batch - 1) / o->batch; /* every Df item is removed: no drop_last */
    Progress bar;
    progress_begin(&bar, "l-codec", n_batches);
    for (int64_t bi = 0; bi < n_batches && rc == 0; bi++) {
        int64_t start = bi * o->batch, n = n_df - start < o->batch ? n_df - start : o->batch;
        Items bf = {df_order + start, (int)n};
        if (u.n == 0) { /* the unit table, from one taped forward */
            TaskBatch b;
            rc = items_batch(t, bf, o, -1, 0, &b);
            if (rc == 0) {
                t->item_loss(t, m, &b);
                units_build(&u, m->params);
            }
            autograd_step_end();
            if (rc == 0 && u.units == 0) rc = error_set("L-codec: no trainable Linear unit is reached by the forward");
        }
        int got = rc == 0 ? remove_batch(t, m, bf, dr_order, n_dr, &u, guard, &guard_ref, bi, o, touched, st) : -1;
        if (got < 0) {
            rc = -1;
            break;
        }
        st->batches++;
        if (got) st->applied++;
        else st->skipped++;
        progress_advance(&bar, 1);
    }
    progress_end(&bar);
    st->seconds = clock_seconds() - t0;
    autograd_set_enabled(prev);
    units_free(&u);
    free(df_order), free(dr_order);
    return rc;
}
