/* The kernels an accelerator backend provides for the ops (DESIGN.md "The ops
 * are the seam").
 *
 * The ops (autograd/ops/op_*.c) run their plain C loops when a tensor lives on the CPU and
 * call these entries when it lives on a device. The CUDA backend (cuda/)
 * fills the table at cuda_backend_init(); autograd/ knows nothing else of it.
 *
 * Conventions, shared by every entry:
 * - Pointers are device pointers to contiguous row-major data and every call
 *   is asynchronous on the backend's one stream, so calls run in issue order.
 *   `float *` data is f32 (ids and indices i32). `void *` data is an
 *   activation stored as the DType passed beside it (DTYPE_F32 or
 *   DTYPE_BF16): under --precision bf16 the matmul-class ops store their
 *   outputs in bf16 (matmul_dtype) and the entries below read and write such
 *   tensors directly, computing in f32. Gradients are always f32.
 * - Entries named *_backward ADD into their gradient outputs (dx += ...), as
 *   the CPU ops do; a NULL gradient output is skipped. A gradient output with
 *   a `*_store` flag set is written instead (dx = 0 + ..., GRAD_BEFORE in
 *   cuda/common.cuh: the bits of adding to zeros): its first writer, which
 *   fills a fresh buffer whole (tape_input_grad_to_overwrite), so the buffer
 *   needs no zero fill before and no read of the zeros. When two outputs are
 *   the same buffer (y = x + x), the first is written and the second added,
 *   in that order within each element. (A GEMM's beta = 0, the same rule for
 *   products, can differ from beta = 1 over zeros only in the sign of a
 *   zero.)
 * - Every reduction runs in a fixed order (no atomics on floats), so the same
 *   step twice gives bitwise-identical results (issue 5 "Determinism").
 * - Results match the CPU op's arithmetic to f32 rounding (fp32 mode): the
 *   parity tests (tests/test_cuda_*.c) compare each entry with the CPU op. */
#ifndef AUTOGRAD_DEVICE_KERNELS_H
#define AUTOGRAD_DEVICE_KERNELS_H

#include <stdint.h>

#include "core/rng.h"
#include "core/tensor.h"

/* Binary elementwise ops: b has nb elements and is read at index k % nb, which
 * covers the three broadcasts of autograd/ops.h (same shape, one element,
 * trailing dims). */
typedef enum { BINARY_ADD, BINARY_SUB, BINARY_MUL } BinaryOp;
typedef enum { ACT_GELU, ACT_RELU, ACT_TANH, ACT_SIGMOID } Activation;

/* Where the attention kernels find row t of head h of batch element b of an
 * operand: at element b·batch + h·head + t·row of its pointer, the row's Dh
 * values contiguous. [B, H, T, Dh]: {H·T·Dh, T·Dh, Dh}; heads side by side
 * in a projection's rows [B, T, H·Dh]: {T·H·Dh, Dh, H·Dh}; q, k or v inside
 * a packed [B, T, 3·H·Dh] projection (from its first column): {3·T·H·Dh, Dh,
 * 3·H·Dh}. */
typedef struct {
    int64_t batch, head, row;
} AttentionRows;
/* k and v share one layout; the output's gradient has the output's, and
 * each input's gradient its input's. */
typedef struct {
    AttentionRows q, kv, o;
} AttentionLayout;

typedef struct {
    const char *name;

    /* The dtype matmul, linear and attention store their outputs in: bf16
     * under --precision bf16 (PyTorch autocast's rule: products in bf16;
     * normalisations, softmax, reductions and losses in f32; elementwise ops
     * in the widest input type), else f32. */
    DType (*matmul_dtype)(void);
    /* y[k] = x[k] converted (f32 -> bf16 rounds to nearest even). */
    void (*convert)(const void *x, DType tx, void *y, DType ty, int64_t n);

    /* ---- GEMM (cuda/gemm.cu: cuBLASLt) ----
     * For b in [0, batch): C_b = alpha·op(A_b)·op(B_b) + beta·C_b, with
     * op(A_b) [M, K], op(B_b) [K, N], C_b [M, N]; A_b = A + b·stride_a
     * (stride 0: shared), leading dims are the row lengths of the stored
     * (untransposed) matrices: lda = trans_a ? M : K, ldb = trans_b ? K : N. */
    void (*gemm)(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const void *A, DType ta,
                 int64_t stride_a, const void *B, DType tb, int64_t stride_b, float beta, void *C, DType tc,
                 int64_t stride_c, int64_t batch);
    /* y [R, out] = x [R, in] · wᵀ + bias (bias may be NULL): the bias rides in
     * the GEMM's epilogue. w is an f32 parameter, or a frozen set's bf16 one
     * (params_freeze_to_product_type). */
    void (*linear_forward)(const void *x, DType tx, const void *w, DType tw, const float *bias, void *y, DType ty,
                           int64_t R, int64_t in, int64_t out);
    /* db[j] += Σ_r g[r·cols + j] (bias gradients, broadcast reductions);
     * with copy not NULL, also copy[k] = g[k] in t_copy, in the same pass
     * (a Linear's dy for its products: the cast's bits, read once). */
    void (*add_column_sums)(float *db, const float *g, int64_t rows, int64_t cols, void *copy, DType t_copy);

    /* ---- elementwise and activations (cuda/elementwise.cu) ---- */
    void (*binary_forward)(BinaryOp op, const void *a, DType ta, const void *b, DType tb, void *y, DType ty, int64_t n,
                           int64_t nb);
    /* da[k] += ∂y/∂a · g[k]; db[j] += Σ_{k % nb = j} ∂y/∂b · g[k] (either may be NULL). */
    void (*binary_backward)(BinaryOp op, const void *a, DType ta, const void *b, DType tb, const float *g, float *da,
                            int da_store, float *db, int db_store, int64_t n, int64_t nb);
    /* y = scale·x + shift (op_scale, op_add_scalar). */
    void (*affine_forward)(const void *x, void *y, DType t, int64_t n, float scale, float shift);
    /* dx += scale·g (the backward of affine, reshape and every plain copy). */
    void (*scaled_add)(float *dx, const float *g, int64_t n, float scale);
    void (*activation_forward)(Activation act, const void *x, void *y, DType t, int64_t n);
    /* x is the op's input, y its output (tanh and sigmoid use y). */
    void (*activation_backward)(Activation act, const void *x, const void *y, DType t, const float *g, float *dx,
                                int dx_store, int64_t n);

    /* ---- shape and indexing (cuda/shape.cu) ---- */
    /* Block copy along a dim seen as [outer, len·inner] slabs:
     * dst[o·dst_row + dst_off + e] (+)= src[o·src_row + src_off + e] for
     * e < len_inner; accumulate 0 copies, 1 adds (slice, concat, split);
     * dst and src have the type t (f32 whenever accumulate is 1). */
    void (*copy_blocks)(void *dst, int64_t dst_row, int64_t dst_off, const void *src, int64_t src_row,
                        int64_t src_off, int64_t outer, int64_t len_inner, DType t, int accumulate);
    /* out (contiguous, shape out_shape) = x permuted: out.shape[i] = x.shape[perm[i]];
     * accumulate 1 adds into out (the backward runs it with the inverse perm). */
    void (*permute)(const void *x, void *out, DType t, int ndim, const int64_t *x_shape, const int *perm,
                    int accumulate);
    /* y [n_ids, D] = table[ids]; ids checked on the host before the call. */
    void (*embedding_forward)(const float *table, const int32_t *ids, float *y, int64_t n_ids, int64_t D);
    /* dtable[ids[i]] += g[i] for every i, in order of i for each row (deterministic). */
    void (*embedding_backward)(const int32_t *ids, const float *g, float *dtable, int64_t n_ids, int64_t V,
                               int64_t D);
    /* x seen as [outer, n, inner], idx [m]: y [outer, m, inner] = x[:, idx, :]. */
    void (*index_select_forward)(const float *x, const int32_t *idx, float *y, int64_t outer, int64_t n,
                                 int64_t m, int64_t inner);
    void (*index_select_backward)(const int32_t *idx, const float *g, float *dx, int64_t outer, int64_t n,
                                  int64_t m, int64_t inner);
    /* torch.gather along the middle dim of x [outer, n, inner] with idx
     * [outer, m, inner]: y[o, j, i] = x[o, idx[o, j, i], i]. */
    void (*gather_forward)(const float *x, const int32_t *idx, float *y, int64_t outer, int64_t n, int64_t m,
                           int64_t inner);
    void (*gather_backward)(const int32_t *idx, const float *g, float *dx, int64_t outer, int64_t n, int64_t m,
                            int64_t inner);
    /* ---- reductions (cuda/reduce.cu) ---- */
    /* x [outer, n, inner] -> y [outer, inner] = scale · Σ_n x. */
    void (*reduce_dim_forward)(const float *x, float *y, int64_t outer, int64_t n, int64_t inner, float scale);
    /* dx[o, j, i] += scale · g[o, i]. */
    void (*reduce_dim_backward)(const float *g, float *dx, int64_t outer, int64_t n, int64_t inner, float scale);
    /* y[0] = scale · Σ x (one value, summed in double in a fixed tree). */
    void (*reduce_all_forward)(const float *x, float *y, int64_t n, float scale);
    /* dx[k] += scale · g[0] (g on the device). */
    void (*reduce_all_backward)(const float *g, float *dx, int64_t n, float scale);
    /* out[0] = Σ x² in double (gradient-norm clipping). */
    void (*sum_squares)(const float *x, double *out, int64_t n);

    /* ---- randomness, vision, graph (cuda/dropout.cu, cuda/patchify.cu, cuda/spmm.cu) ---- */
    /* dst[k] (+)= src[k]·scale where philox_uniform(seed, stream, g) >= p, else (+)0,
     * g = rng_rows_index(rows, row_elems, k) (core/rng.h; k itself in one process). */
    void (*dropout_apply)(const void *src, void *dst, DType t, int64_t n, float p, float scale, uint64_t seed,
                          uint64_t stream, RngRows rows, int64_t row_elems, int accumulate);
    /* images [B, C, H, W] -> patches [B, (H/p)(W/p), C·p·p] (op_patchify's order); backward adds. */
    void (*patchify_forward)(const float *img, float *patches, int64_t B, int64_t C, int64_t H, int64_t W, int p);
    void (*patchify_backward)(const float *g, float *dimg, int64_t B, int64_t C, int64_t H, int64_t W, int p);
    /* y [R, D] (+)= A x for a CSR A [R, C] (device arrays); the backward runs
     * the same kernel on Aᵀ (built on the host) with accumulate = 1. */
    void (*spmm)(const int64_t *row_ptr, const int32_t *col_idx, const float *values, const float *x, float *y,
                 int64_t rows, int64_t D, int accumulate);

    /* ---- normalisation (cuda/softmax.cu, cuda/layernorm.cu) ---- */
    /* Softmax over rows of S with an optional additive mask [B, S] shared by
     * rows_per_batch consecutive rows (the CPU op's conventions for masked rows). */
    void (*softmax_forward)(const float *x, const float *mask, float *y, int64_t rows, int64_t S,
                            int64_t rows_per_batch);
    /* dx += y ⊙ (g − <g, y>); dmask (may be NULL) += the same summed over each batch's rows. */
    void (*softmax_backward)(const float *y, const float *g, float *dx, float *dmask, int64_t rows, int64_t S,
                             int64_t rows_per_batch);
    void (*log_softmax_forward)(const float *x, float *y, int64_t rows, int64_t S);
    /* dx += g − softmax(x)·Σg, with softmax(x) = exp(y). */
    void (*log_softmax_backward)(const float *y, const float *g, float *dx, int64_t rows, int64_t S);
    /* y = (x − μ)·rstd·w + b per row, stored as ty (f32, or bf16 for a
     * product's input: the rounding of the f32 value); saves mean and rstd
     * [rows]; w, b may be NULL. */
    void (*layernorm_forward)(const float *x, const float *w, const float *b, void *y, DType ty, float *mean,
                              float *rstd, int64_t rows, int64_t C, float eps);
    void (*layernorm_backward)(const float *x, const float *w, const float *mean, const float *rstd,
                               const float *g, float *dx, float *dw, float *db, int64_t rows, int64_t C);
    /* s = x + a (a of type ta, x's shape), rounded to f32 as op_add, then y
     * = LayerNorm(s) as layernorm_forward, in one pass over the rows: the
     * residual add and the norm of a transformer block (op_add_layernorm). */
    void (*add_layernorm_forward)(const float *x, const void *a, DType ta, const float *w, const float *b, float *s,
                                  void *y, DType ty, float *mean, float *rstd, int64_t rows, int64_t C, float eps);
    /* Its backward with the sum's in one pass: s's whole gradient (g_s, what
     * s's other readers added, or NULL for none, plus the norm's part) is
     * added into dx and da (either may be NULL), the bits of the norm's
     * backward into s's gradient and then the add's; s's gradient is not
     * written. dw, db as layernorm_backward. */
    void (*add_layernorm_backward)(const float *s, const float *w, const float *mean, const float *rstd,
                                   const float *g, const float *g_s, float *dx, int dx_store, float *da,
                                   int da_store, float *dw, float *db, int64_t rows, int64_t C);
    /* y = x / max(‖x‖, eps) per row; saves norm [rows]. */
    void (*l2_normalize_forward)(const float *x, float *y, float *norm, int64_t rows, int64_t C, float eps);
    void (*l2_normalize_backward)(const float *x, const float *y, const float *norm, const float *g, float *dx,
                                  int64_t rows, int64_t C, float eps);

    /* ---- losses (cuda/loss.cu) ---- each forward writes one f32 on the device */
    void (*mse_forward)(const float *a, const float *b, float *loss, int64_t n);
    /* da += 2(a−b)/n·g[0], db −= the same (g: the loss gradient, on the device). */
    void (*mse_backward)(const float *a, const float *b, const float *g, float *da, float *db, int64_t n);
    /* Mean over rows with target != -100 of −log softmax(logits)[target];
     * saves probs [N, C] for the backward. */
    void (*cross_entropy_forward)(const float *logits, const int32_t *targets, float *probs, float *loss,
                                  int64_t N, int64_t C);
    void (*cross_entropy_backward)(const float *probs, const int32_t *targets, const float *g, float *dlogits,
                                   int64_t N, int64_t C);
    void (*soft_cross_entropy_forward)(const float *logits, const float *q, float *probs, float *loss, int64_t N,
                                       int64_t C);
    void (*soft_cross_entropy_backward)(const float *probs, const float *q, const float *g, float *dlogits,
                                        int64_t N, int64_t C);

    /* ---- sampling (cuda/sampling.cu) ----
     * ALBEF's hard negatives (models/albef_loss.c), drawn where the logits
     * are, so that the step does not wait to read them back: for row r of
     * `rows` (at logits + r·stride), one categorical draw among the columns
     * j < cols with candidate[r·cols + j] != 0, weights exp(logit − max) in
     * double, the uniform philox_uniform(seed, stream, first_row + r);
     * out[r] = the column, as albef_sample_hard_negatives_rows on the host.
     * Every row has a candidate (the caller checks the ids). A row with a
     * non-finite logit takes its first candidate: its loss is non-finite
     * anyway, and the training loop stops on that. */
    void (*sample_hard_negatives)(const float *logits, int64_t stride, int rows, int cols, const int32_t *candidate,
                                  int first_row, uint64_t seed, uint64_t stream, int32_t *out);

    /* ---- fused attention (cuda/attention.cu) ----
     * q [B, H, T, Dh], k and v [B, H, S, Dh] as `layout` places them, mask [B, S] additive or NULL:
     * o = softmax(q kᵀ·scale + mask) v, with inverted dropout on the
     * probabilities (element index ((b·H + h)·T + t)·S + s of the Philox
     * stream, as op_dropout on a [B, H, T, S] tensor, mapped by
     * rng_rows_index(rows, H·T·S, index) on a rank's shard); no T×S matrix is
     * stored: lse [B, H, T] (log-sum-exp of each row) is saved instead.
     * q, k, v and o have the type t; mask, lse and the gradients are f32. */
    void (*attention_forward)(const void *q, const void *k, const void *v, DType t, const float *mask, void *o,
                              float *lse, int64_t B, int64_t H, int64_t T, int64_t S, int64_t Dh,
                              const AttentionLayout *layout, float scale,
                              float dropout_p, uint64_t seed, uint64_t stream, RngRows rows);
    void (*attention_backward)(const void *q, const void *k, const void *v, const void *o, DType t,
                               const float *mask, const float *lse, const float *g, float *dq, float *dk, float *dv,
                               int dq_store, int dk_store, int dv_store,
                               int64_t B, int64_t H, int64_t T, int64_t S, int64_t Dh, const AttentionLayout *layout,
                               float scale, float dropout_p,
                               uint64_t seed, uint64_t stream, RngRows rows);

    /* ---- division by a device scalar (cuda/div_scalar.cu) ----
     * y = x / s[0], and its backward gx += g / s[0], gs[0] += −Σ g·x / s[0]²
     * (either gradient may be NULL), with s read on the device: no wait for
     * the host (op_div_by_scalar: the ITC logits over the temperature). */
    void (*div_by_scalar_forward)(const float *x, const float *s, float *y, int64_t n);
    void (*div_by_scalar_backward)(const float *x, const float *s, const float *g, float *gx, float *gs, int64_t n);

    /* ---- optimizers (cuda/optim.cu), torch semantics as nn/optim.c ---- */
    /* One AdamW step of the `count` trainable tensors of a parameter block,
     * in one launch: tensor i is values[offsets[i], offsets[i] + sizes[i])
     * and the same ranges of grads, m and v; for each element nn/optim.c's
     * arithmetic: p *= keep (keep_decay = 1 − lr·wd where decay[i], else 1),
     * m = β1 m + (1−β1) g, v = β2 v + (1−β2) g²,
     * p += −step_size·m / (√v / bc2_sqrt + eps). offsets, sizes and decay
     * are host arrays (the backend keeps a device copy of the table for as
     * long as it does not change). */
    void (*adamw_update)(float *values, const float *grads, float *m, float *v, const int64_t *offsets,
                         const int64_t *sizes, const unsigned char *decay, int count, float keep_decay, float beta1,
                         float beta2, float step_size, float bc2_sqrt, float eps);
    /* d = g + wd·p; with momentum b = μ b + d and d = b; p −= lr·d (nn/optim.c). */
    void (*sgd_update)(float *p, const float *g, float *buf, int64_t n, float lr, float momentum,
                       float weight_decay);
    /* p[k] = p[k] < lo ? lo : p[k] > hi ? hi : p[k] (ALBEF's temperature
     * after each step), on the device without reading p back. */
    void (*param_clamp)(float *p, int64_t n, float lo, float hi);

    /* ---- parameter blocks (cuda/param_copies.cu) ----
     * A backend may keep its own copy of a parameter block (the CUDA
     * backend: a bf16 copy that its bf16 products read instead of casting a
     * weight per product). params_to_device announces each value block once;
     * device copies and fills into a block and the optimizer and clamp
     * entries above keep such a copy current by themselves; any other entry
     * that writes into a value block must be followed by param_block_written
     * (the EMA update of autograd/params.c). */
    void (*param_block_added)(const float *values, int64_t n);
    void (*param_block_written)(const float *values, int64_t n);
} DeviceKernels;

/* The kernels of `device`, or a stop naming the op when the backend is not
 * initialised (never NULL). */
const DeviceKernels *device_kernels(Device device, const char *op);
void device_kernels_register(Device device, const DeviceKernels *kernels);
/* The device shared by an op's tensor arguments (NULL ones ignored); a mix of
 * devices stops with the op's name and both devices. */
Device ops_device(const char *op, const Tensor *a, const Tensor *b, const Tensor *c);
/* The type a product's output is stored in on `device`: f32 on the CPU, the
 * backend's matmul_dtype on a device (bf16 under --precision bf16). */
DType ops_product_dtype(Device device, const char *op);

#endif
