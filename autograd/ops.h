/* The op set: every differentiable operation of the engine.
 *
 * Each op checks its arguments (CHECK on shape mismatch: a programming error),
 * computes its output eagerly into a new tensor from the activation arena and,
 * when gradients are needed, records a tape node whose backward adds (+=) into
 * the inputs' gradients. Inputs must be contiguous f32 on the CPU unless noted.
 * On a device under --precision bf16 (issue 5 Precision) tensors may also be
 * bf16, by PyTorch autocast's rule: matmul, linear and attention store their
 * outputs in bf16; the elementwise, activation, dropout and shape ops keep
 * their input's type (the widest of two inputs); every other op reads a bf16
 * input through op_cast to f32 and returns f32. Gradients are always f32.
 * The CPU code of each op is the reference that the CUDA backend is tested
 * against (DESIGN.md "The ops are the seam").
 *
 * Broadcasting, where an op allows it, is limited to what the models use:
 * `b` of the same shape as `a`, `b` with one element, or `b` whose shape equals
 * the trailing dims of `a` (a bias over the last dim, a position table over
 * [T, D] added to [B, T, D]). */
#ifndef AUTOGRAD_OPS_H
#define AUTOGRAD_OPS_H

#include <stdint.h>

#include "core/rng.h"
#include "core/tensor.h"

/* ---- storage type (autograd/ops/op_cast.c) ---- */
/* x converted to dtype (f32 or bf16; bf16 only on a device); the gradient
 * passes through unchanged. Returns x itself when it already has dtype. */
Tensor *op_cast(Tensor *x, DType dtype);
/* x in the storage type of its device's products (bf16 under --precision
 * bf16): the cast a product would make of it anyway, made once and kept.
 * x itself on the CPU and in f32. */
Tensor *op_to_product_type(Tensor *x);
/* op_cast(x, DTYPE_F32): what an op that computes in f32 only reads. */
Tensor *op_to_f32(Tensor *x);
/* Stops unless t is contiguous and f32, or bf16 on a device: the check of the
 * ops that take either ("%s: %s ..." with op and what). */
void ops_check_float(const Tensor *t, const char *op, const char *what);

/* ---- linear algebra (autograd/ops/op_matmul.c) ---- */
/* C = op(A) @ op(B) where op transposes the last two dims when trans_* is set.
 * A: [..., M, K] (or [..., K, M] transposed); B: [..., K, N] or a 2-d [K, N]
 * shared across A's batch dims. Leading (batch) dims of A and B must match
 * when B is not 2-d. */
Tensor *op_matmul(Tensor *a, Tensor *b, int trans_a, int trans_b);
/* y = x @ wᵀ + bias, PyTorch's nn.Linear layout: x [..., in], w [out, in],
 * bias [out] or NULL. One fused op because it is most of the FLOPs. */
Tensor *op_linear(Tensor *x, Tensor *w, Tensor *bias);

/* ---- elementwise (autograd/ops/op_elementwise.c) ---- */
Tensor *op_add(Tensor *a, Tensor *b);   /* a + b, b broadcast as above */
Tensor *op_sub(Tensor *a, Tensor *b);   /* a - b, b broadcast as above */
Tensor *op_mul(Tensor *a, Tensor *b);   /* a * b, b broadcast as above */
Tensor *op_scale(Tensor *a, float s);   /* a * s */
Tensor *op_add_scalar(Tensor *a, float s); /* a + s */
Tensor *op_bias_add(Tensor *x, Tensor *bias); /* bias [C] over the last dim of x */

/* ---- activations (autograd/ops/op_activation.c) ---- */
Tensor *op_gelu(Tensor *x);    /* exact erf form: x/2 (1 + erf(x/√2)) */
Tensor *op_relu(Tensor *x);
Tensor *op_tanh(Tensor *x);
Tensor *op_sigmoid(Tensor *x);

/* ---- normalisation and softmax (autograd/ops/op_softmax.c, op_layernorm.c) ---- */
/* Softmax over the last dim. mask: NULL, or an additive f32 mask of shape
 * [B, S] where B = x->shape[0] and S = the last dim of x, broadcast over every
 * dim in between (attention scores [B, H, T, S] with a key-padding mask whose
 * entries are 0 for keys to keep and a large negative value for padding). */
Tensor *op_softmax(Tensor *x, Tensor *mask);
Tensor *op_log_softmax(Tensor *x); /* over the last dim */
/* LayerNorm over the last dim with affine weight and bias [C] (either may be NULL). */
Tensor *op_layernorm(Tensor *x, Tensor *weight, Tensor *bias, float eps);
/* op_layernorm(op_add(x, a), weight, bias, eps), the same bits and gradients,
 * in one pass (a transformer block's residual add and norm); *sum, when not
 * NULL, receives x + a (the residual stream of a pre-norm block). Fused for an
 * f32 x and an f32 or bf16 a of x's shape; otherwise the two ops. */
Tensor *op_add_layernorm(Tensor *x, Tensor *a, Tensor *weight, Tensor *bias, float eps, Tensor **sum);
/* Both with the output stored as out_type: f32, or bf16 on a device for a
 * norm read only by products (the bits op_cast of the f32 output gives,
 * without the f32 pass; the gradient stays f32). */
Tensor *op_layernorm_to(Tensor *x, Tensor *weight, Tensor *bias, float eps, DType out_type);
Tensor *op_add_layernorm_to(Tensor *x, Tensor *a, Tensor *weight, Tensor *bias, float eps, Tensor **sum,
                            DType out_type);
/* x / max(‖x‖₂, eps) over the last dim (PyTorch F.normalize). */
Tensor *op_l2_normalize(Tensor *x, float eps);

/* ---- indexing and shape (autograd/ops/op_index.c, op_shape.c) ---- */
/* table [V, D], ids i32 of any shape -> [*ids.shape, D]. Ids out of range abort. */
Tensor *op_embedding(Tensor *table, Tensor *ids);
/* Rows of x along `dim` picked by idx (i32, 1-d), as torch.index_select. */
Tensor *op_index_select(Tensor *x, int dim, Tensor *idx);
/* op_index_select for indices drawn on the device that are in range by
 * construction (ALBEF's hard negatives, cuda/sampling.cu): checking them on
 * the host would read them back, a wait for the device inside the step. */
Tensor *op_index_select_in_range(Tensor *x, int dim, Tensor *idx);
/* torch.gather: out[i][j] = x[i][idx[i][j]] along `dim`; idx i32 with x's ndim. */
Tensor *op_gather(Tensor *x, int dim, Tensor *idx);
Tensor *op_concat(Tensor *const *xs, int n, int dim);
/* x[..., start:start+len, ...] along dim (a copy). */
Tensor *op_slice(Tensor *x, int dim, int64_t start, int64_t len);
/* Splits x along dim into n parts of the given sizes (sum = x.shape[dim]). */
void op_split(Tensor *x, int dim, const int64_t *sizes, int n, Tensor **outs);
Tensor *op_reshape(Tensor *x, int ndim, const int64_t *shape);
/* out.shape[i] = x.shape[perm[i]] (a copy), e.g. [B,T,H,Dh] -> [B,H,T,Dh]. */
Tensor *op_permute(Tensor *x, const int *perm);
/* op_permute then op_reshape to `shape` in one op whose output owns its
 * memory (not a view), so autograd_rematerialize can give it back (a
 * reshape view of a permute could not be), e.g. [B,H,T,Dh] -> [B,T,H·Dh]. */
Tensor *op_permute_to(Tensor *x, const int *perm, int ndim, const int64_t *shape);

/* ---- reductions (autograd/ops/op_reduce.c) ---- */
Tensor *op_sum(Tensor *x, int dim, int keepdim);
Tensor *op_mean(Tensor *x, int dim, int keepdim);
Tensor *op_sum_all(Tensor *x);   /* scalar */
Tensor *op_mean_all(Tensor *x);  /* scalar */

/* ---- randomness (autograd/ops/op_dropout.c) ---- */
/* Inverted dropout: zero with probability p, scale the rest by 1/(1-p). The
 * keep decision of element k is philox_uniform(seed, stream, k) >= p, so the
 * CPU and CUDA backends draw the same mask (core/rng.h). p == 0 returns x. */
Tensor *op_dropout(Tensor *x, float p, uint64_t seed, uint64_t stream);
/* The same on a rank's shard of a data-parallel batch: x's first dimension is
 * segments of rows.rows batch rows, and element k draws at its index in one
 * process's tensor (core/rng.h rng_rows_index), so every row gets the mask
 * one process gives it. RNG_ROWS_ONE: op_dropout. */
Tensor *op_dropout_rows(Tensor *x, float p, uint64_t seed, uint64_t stream, RngRows rows);

/* ---- attention (autograd/ops/op_attention.c) ---- */
/* o [B, H, T, Dh] = dropout(softmax(q kᵀ·scale + mask)) v for q [B, H, T, Dh],
 * k and v [B, H, S, Dh], mask NULL or an additive f32 key mask [B, S] (a
 * constant: no gradient). The CPU path computes what op_matmul, op_scale,
 * op_softmax(mask), op_dropout and op_matmul compute, bit for bit; dropout
 * keeps probability element ((b·H + h)·T + t)·S + s when philox_uniform(seed,
 * stream, index) >= dropout_p, as op_dropout on the [B, H, T, S] tensor. */
Tensor *op_attention(Tensor *q, Tensor *k, Tensor *v, Tensor *mask, float scale, float dropout_p, uint64_t seed,
                     uint64_t stream);
/* The same on a rank's shard (B the rank's batch rows, in segments of
 * rows.rows): the dropout draws as op_dropout_rows on the [B, H, T, S]
 * probabilities. RNG_ROWS_ONE: op_attention. */
Tensor *op_attention_rows(Tensor *q, Tensor *k, Tensor *v, Tensor *mask, float scale, float dropout_p,
                          uint64_t seed, uint64_t stream, RngRows rows);
/* The same on heads in the projections' own layout, so that no copy splits
 * or merges them (issue 17: 624 permutes of ALBEF-base's MultiDelete step
 * were these): q [B, T, H·Dh] with head h in columns h·Dh .. (h+1)·Dh − 1,
 * k and v [B, S, H·Dh]; or, with k = v = NULL, q is a packed [B, T, 3·H·Dh]
 * projection holding q, k, v side by side (S = T). o [B, T, H·Dh], heads
 * alike. The same bits as splitting the heads (reshape, permute),
 * op_attention_rows and merging them, the dropout mask included. */
Tensor *op_attention_heads(Tensor *q, Tensor *k, Tensor *v, int n_heads, Tensor *mask, float scale,
                           float dropout_p, uint64_t seed, uint64_t stream, RngRows rows);

/* ---- vision and graph (autograd/ops/op_patchify.c, op_spmm.c) ---- */
/* images [B, C, H, W] -> patches [B, (H/p)(W/p), C·p·p], patches in row-major
 * order, each flattened in (c, i, j) order so that a Conv2d weight
 * [D, C, p, p] reshaped to [D, C·p·p] is the matching op_linear weight. */
Tensor *op_patchify(Tensor *images, int patch);

/* Compressed sparse row matrix (a constant: no gradient to its values). */
typedef struct {
    int64_t rows, cols, nnz;
    const int64_t *row_ptr;  /* rows + 1 */
    const int32_t *col_idx;  /* nnz */
    const float *values;     /* nnz */
} CsrMatrix;
/* A @ x for a constant sparse A [R, C] and dense x [C, D] -> [R, D]. */
Tensor *op_spmm(const CsrMatrix *a, Tensor *x);

/* ---- data parallel (autograd/ops/op_all_gather.c) ---- */
/* Every rank's x [n, ...] stacked in rank order -> [ranks·n, ...] (core/comm.h):
 * the features a batch-coupled loss needs from the whole global batch. The
 * backward sums the upstream gradient over the ranks and keeps this rank's
 * rows, so that, once the gradient all-reduce has averaged the ranks, the
 * parameters get the global batch's gradient. (ALBEF's concat_all_gather is
 * gradient-free: the rows of the other ranks are constants there, which gives
 * another gradient than one process on the global batch.) Every rank must
 * call it with the same n. One rank: x itself. */
Tensor *op_all_gather(Tensor *x);

/* ---- losses and similarities (autograd/ops/op_loss.c) ---- */
Tensor *op_mse(Tensor *a, Tensor *b); /* mean over all elements of (a-b)², scalar */
/* Mean over rows of -log_softmax(logits)[target]; logits [N, C], targets i32 [N].
 * Targets equal to -100 are ignored (PyTorch's ignore_index), as MLM needs. */
Tensor *op_cross_entropy(Tensor *logits, Tensor *targets);
/* Mean over rows of -Σ_c q[c] log_softmax(logits)[c] with soft targets q [N, C]
 * (a constant: no gradient), as ALBEF's distillation loss. */
Tensor *op_soft_cross_entropy(Tensor *logits, Tensor *target_probs);
/* Cosine similarity of every row of a [N, D] with every row of b [M, D] -> [N, M]. */
Tensor *op_cosine_similarity_matrix(Tensor *a, Tensor *b, float eps);

/* ---- scalars and buffers (autograd/ops/op_div_scalar.c, op_columns.c) ---- */
/* x / s for a one-element s, differentiable in x and s (f32 out; a bf16 x is read as f32). */
Tensor *op_div_by_scalar(Tensor *x, Tensor *s);
/* No tape: writes the rows of x [B, E] (f32) into columns first.. (wrapping
 * modulo Q) of the buffer dst [E, Q] (row-major, on x's device); B <= Q. A
 * feature queue's enqueue. */
void op_write_columns(float *dst, int64_t Q, int64_t first, const Tensor *x);

#endif
