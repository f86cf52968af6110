/* Inverted dropout (ALBEF/BLIP use it in BERT and, with p = 0 by default, in
 * ViT). Element k is kept when philox_uniform(seed, stream, k) >= p and then
 * scaled by 1/(1-p), so the expected value is unchanged and evaluation needs
 * no rescaling. The mask is a pure function of (seed, stream, k): the CUDA
 * kernel draws the same mask, and the backward recomputes it instead of
 * storing it (DESIGN.md "Deterministic"). On a rank of a data-parallel job
 * (op_dropout_rows), k is the element's index in one process's tensor of the
 * global batch (core/rng.h rng_rows_index), so each row gets the mask it gets
 * in one process. */
#include "autograd/device_kernels.h"
#include "autograd/ops.h"
#include "autograd/ops/op_rows.h"
#include "autograd/tape.h"
#include "core/error.h"
#include "core/rng.h"

/* y[k] = s·x[k] where kept, 0 elsewhere; dx += s·g where kept (same formula). */
void ops_dropout_apply(const float *src, float *dst, int64_t n, float p, float scale, uint64_t seed,
                       uint64_t stream, RngRows rows, int64_t row_elems, int accumulate) {
    if (!rng_rows_identity(rows)) { /* a rank's shard: each element draws at its global index */
#pragma omp parallel for if (n > 16384)
        for (int64_t k = 0; k < n; k++) {
            float v = philox_uniform(seed, stream, rng_rows_index(rows, row_elems, (uint64_t)k)) >= p ? scale * src[k]
                                                                                                  : 0.0f;
            if (accumulate) dst[k] += v;
            else dst[k] = v;
        }
        return;
    }
    /* One Philox block yields the uniforms of 4 consecutive elements (core/rng.h
     * layout), so draw a block per 4 elements instead of one per element. */
    int64_t blocks = (n + 3) / 4;
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
#pragma omp parallel for if (n > 16384)
    for (int64_t b = 0; b < blocks; b++) {
        uint32_t counter[4] = {(uint32_t)b, (uint32_t)((uint64_t)b >> 32), (uint32_t)stream,
                               (uint32_t)(stream >> 32)};
        uint32_t words[4];
        philox4x32_10(counter, key, words);
        for (int j = 0; j < 4; j++) {
            int64_t k = 4 * b + j;
            if (k >= n) break;
            float u = (float)(words[j] >> 8) * (1.0f / 16777216.0f);
            float v = u >= p ? scale * src[k] : 0.0f;
            if (accumulate) dst[k] += v;
            else dst[k] = v;
        }
    }
}

/* The CPU loop above, or the device's kernel for a tensor on a device (src
 * and dst of type t there: bf16 activations forward, f32 gradients back). */
static void dropout_dispatch(Device device, const void *src, void *dst, DType t, int64_t n, float p, float scale,
                             uint64_t seed, uint64_t stream, RngRows rows, int64_t row_elems, int accumulate) {
    if (device != DEVICE_CPU)
        device_kernels(device, "dropout")
            ->dropout_apply(src, dst, t, n, p, scale, seed, stream, rows, row_elems, accumulate);
    else
        ops_dropout_apply(src, dst, n, p, scale, seed, stream, rows, row_elems, accumulate);
}

enum { DR_SEED, DR_STREAM, DR_ROWS, DR_GLOBAL_ROWS, DR_FIRST_ROW, DR_ROW_ELEMS };

static void dropout_backward(TapeNode *node) {
    float *dx = tape_input_grad(node, 0);
    if (!dx) return;
    const int64_t *i = node->i;
    dropout_dispatch(node->out->device, node->out->grad, dx, DTYPE_F32, tensor_numel(node->out), node->f[0],
                     node->f[1], (uint64_t)i[DR_SEED], (uint64_t)i[DR_STREAM],
                     (RngRows){i[DR_ROWS], i[DR_GLOBAL_ROWS], i[DR_FIRST_ROW]}, i[DR_ROW_ELEMS], 1);
}

/* The elements of one row (over the first dimension) of x; 1 for a scalar. */
int64_t ops_row_elems(const Tensor *x) {
    return x->ndim > 0 && x->shape[0] > 0 ? tensor_numel(x) / x->shape[0] : 1;
}

void ops_check_rows(const Tensor *x, RngRows rows, const char *op) {
    if (rng_rows_identity(rows)) return;
    char s[64];
    CHECK(rows.rows > 0 && x->ndim > 0 && x->shape[0] % rows.rows == 0 && rows.first_row >= 0 &&
              rows.first_row + rows.rows <= rows.global_rows,
          "%s: a tensor %s of a rank's shard must be segments of its %lld batch rows (rows %lld..%lld of %lld "
          "in one process)",
          op, tensor_shape_str(x, s, sizeof s), (long long)rows.rows, (long long)rows.first_row,
          (long long)(rows.first_row + rows.rows), (long long)rows.global_rows);
}

Tensor *op_dropout_rows(Tensor *x, float p, uint64_t seed, uint64_t stream, RngRows rows) {
    ops_check_float(x, "dropout", "x");
    CHECK(p >= 0.0f && p <= 1.0f, "dropout: probability %g outside [0, 1]", (double)p);
    if (p == 0.0f) return x;
    ops_check_rows(x, rows, "dropout");
    /* p == 1 drops everything (PyTorch returns zeros); the scale must not be inf. */
    float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    int64_t row_elems = ops_row_elems(x);
    Tensor *out = tensor_new_on(x->device, x->dtype, x->ndim, x->shape);
    dropout_dispatch(x->device, x->data, out->data, x->dtype, tensor_numel(x), p, scale, seed, stream, rows,
                     row_elems, 0);
    TapeNode *node = tape_maybe_record("dropout", dropout_backward, out, x, NULL, NULL, NULL);
    if (node) {
        node->backward_reads = TAPE_READS_NONE; /* the mask is drawn again from (seed, stream) */
        node->f[0] = p;
        node->f[1] = scale;
        node->i[DR_SEED] = (int64_t)seed;
        node->i[DR_STREAM] = (int64_t)stream;
        node->i[DR_ROWS] = rows.rows;
        node->i[DR_GLOBAL_ROWS] = rows.global_rows;
        node->i[DR_FIRST_ROW] = rows.first_row;
        node->i[DR_ROW_ELEMS] = row_elems;
    }
    return out;
}

Tensor *op_dropout(Tensor *x, float p, uint64_t seed, uint64_t stream) {
    return op_dropout_rows(x, p, seed, stream, RNG_ROWS_ONE);
}
