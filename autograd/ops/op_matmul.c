/* Matrix products: op_matmul (batched, optional transposes, a 2-d B shared
 * across A's batch) and op_linear (nn.Linear: x @ wᵀ + bias). Both run every
 * product, forward and backward, through gemm_f32 (core/gemm.h); backward
 * passes use beta = 1 so they add into the gradients (STYLE.md "Backward
 * accumulates").
 *
 * With C = op(A) op(B):  d op(A) = dC op(B)ᵀ  and  d op(B) = op(A)ᵀ dC;
 * a transposed operand receives the transpose of that, which is again a
 * single GEMM with the operand order swapped.
 *
 * On a device the same products go through the backend's gemm entry
 * (autograd/device_kernels.h), whose strided batches replace the CPU's loop.
 * There the inputs may be bf16 and the output is stored in the backend's
 * matmul_dtype (bf16 under --precision bf16: issue 5 Precision); gradients
 * stay f32. */
#include "autograd/device_kernels.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/arena.h"
#include "core/error.h"
#include "core/gemm.h"

/* node->i layout shared by forward and backward. */
enum { MM_TRANS_A, MM_TRANS_B, MM_BATCH, MM_M, MM_N, MM_K, MM_B_SHARED };

/* The backward on a device: one strided-batched GEMM per gradient. A B shared
 * by the batch (stride 0) with a transposed A cannot fold the batch into
 * rows, so its gradient adds the batches' products one call after another,
 * in batch order (a batched call would write one dB from every batch at once). */
static void matmul_backward_device(TapeNode *node) {
    const DeviceKernels *k = device_kernels(node->out->device, node->op_name);
    int ta = (int)node->i[MM_TRANS_A], tb = (int)node->i[MM_TRANS_B];
    int64_t batch = node->i[MM_BATCH], M = node->i[MM_M], N = node->i[MM_N], K = node->i[MM_K];
    int shared = (int)node->i[MM_B_SHARED];
    const void *A = node->in[0]->data, *B = node->in[1]->data;
    DType at = node->in[0]->dtype, bt = node->in[1]->dtype;
    const float *dC = node->out->grad;
    int64_t a_step = M * K, b_step = shared ? 0 : K * N, c_step = M * N;
    int fold = shared && !ta;
    int64_t nb = fold ? 1 : batch, Mf = fold ? batch * M : M;
    int64_t calls = shared ? nb : 1, per_call = shared ? 1 : nb; /* dB's products */
    /* A gradient written first here is the product itself (beta = 0), not
     * added to a zero fill; a shared dB's later calls add to the first's, and
     * a shared dB with no call (an empty batch) is taken zeroed. */
    int a_store = 0, b_store = 0;
    float *dA = tape_input_grad_to_overwrite(node, 0, &a_store);
    float *dB = calls > 0 ? tape_input_grad_to_overwrite(node, 1, &b_store) : tape_input_grad(node, 1);
    if (dA) {
        float beta = a_store ? 0.0f : 1.0f;
        if (!ta) /* dA [M, K] += dC [M, N] · op(B)ᵀ */
            k->gemm(0, !tb, Mf, K, N, 1.0f, dC, DTYPE_F32, c_step, B, bt, b_step, beta, dA, DTYPE_F32, a_step, nb);
        else /* dA [K, M] += op(B) · dCᵀ */
            k->gemm(tb, 1, K, M, N, 1.0f, B, bt, b_step, dC, DTYPE_F32, c_step, beta, dA, DTYPE_F32, a_step, nb);
    }
    if (dB) {
        for (int64_t b = 0; b < calls; b++) {
            const void *Ab = (const char *)A + (size_t)(b * a_step) * dtype_size(at);
            const float *dCb = dC + b * c_step;
            float beta = b == 0 && b_store ? 0.0f : 1.0f;
            if (!tb) /* dB [K, N] += op(A)ᵀ · dC */
                k->gemm(!ta, 0, K, N, Mf, 1.0f, Ab, at, a_step, dCb, DTYPE_F32, c_step, beta, dB, DTYPE_F32, b_step,
                        per_call);
            else /* dB [N, K] += dCᵀ · op(A) */
                k->gemm(1, ta, N, K, Mf, 1.0f, dCb, DTYPE_F32, c_step, Ab, at, a_step, beta, dB, DTYPE_F32, b_step,
                        per_call);
        }
    }
}

static void matmul_backward(TapeNode *node) {
    if (node->out->device != DEVICE_CPU) {
        matmul_backward_device(node);
        return;
    }
    int ta = (int)node->i[MM_TRANS_A], tb = (int)node->i[MM_TRANS_B];
    int64_t batch = node->i[MM_BATCH], M = node->i[MM_M], N = node->i[MM_N], K = node->i[MM_K];
    int shared = (int)node->i[MM_B_SHARED];
    const float *A = tensor_f32(node->in[0]), *B = tensor_f32(node->in[1]);
    const float *dC = node->out->grad;
    float *dA = tape_input_grad(node, 0), *dB = tape_input_grad(node, 1);
    int64_t lda = ta ? M : K, ldb = tb ? K : N;
    int64_t a_step = M * K, b_step = shared ? 0 : K * N, c_step = M * N;

    /* A 2-d B with an untransposed A lets the batch fold into the rows: one
     * large GEMM instead of `batch` small ones (the common op_matmul on
     * activations [B, T, D] @ [D, E]). */
    int fold = shared && !ta;
    int64_t loops = fold ? 1 : batch, Mf = fold ? batch * M : M;

    for (int64_t b = 0; b < loops; b++) {
        const float *Ab = A + b * a_step, *Bb = B + b * b_step, *dCb = dC + b * c_step;
        if (dA) {
            float *dAb = dA + b * a_step;
            if (!ta) /* dA [M, K] += dC [M, N] · op(B)ᵀ */
                gemm_f32(0, !tb, Mf, K, N, 1.0f, dCb, N, Bb, ldb, 1.0f, dAb, K);
            else /* dA [K, M] += op(B) · dCᵀ */
                gemm_f32(tb, 1, K, M, N, 1.0f, Bb, ldb, dCb, N, 1.0f, dAb, M);
        }
        if (dB) {
            float *dBb = dB + b * b_step; /* shared: every batch adds into the one dB */
            if (!tb) /* dB [K, N] += op(A)ᵀ · dC */
                gemm_f32(!ta, 0, K, N, Mf, 1.0f, Ab, lda, dCb, N, 1.0f, dBb, N);
            else /* dB [N, K] += dCᵀ · op(A) */
                gemm_f32(1, ta, N, K, Mf, 1.0f, dCb, N, Ab, lda, 1.0f, dBb, K);
        }
    }
}

Tensor *op_matmul(Tensor *a, Tensor *b, int trans_a, int trans_b) {
    ops_check_float(a, "matmul", "a");
    ops_check_float(b, "matmul", "b");
    Device device = ops_device("matmul", a, b, NULL);
    CHECK(a->ndim >= 2 && b->ndim >= 2, "matmul: operands need at least 2 dims (a %d-d, b %d-d)", a->ndim,
          b->ndim);
    int shared = b->ndim == 2;
    char sa[64], sb[64];
    if (!shared) {
        int same = a->ndim == b->ndim;
        for (int d = 0; same && d < a->ndim - 2; d++) same = a->shape[d] == b->shape[d];
        CHECK(same, "matmul: batch dims differ: a %s, b %s", tensor_shape_str(a, sa, sizeof sa),
              tensor_shape_str(b, sb, sizeof sb));
    }
    int64_t ar = a->shape[a->ndim - 2], ac = a->shape[a->ndim - 1];
    int64_t br = b->shape[b->ndim - 2], bc = b->shape[b->ndim - 1];
    int64_t M = trans_a ? ac : ar, K = trans_a ? ar : ac;
    int64_t Kb = trans_b ? bc : br, N = trans_b ? br : bc;
    CHECK(K == Kb, "matmul: inner dims differ: a %s%s, b %s%s", tensor_shape_str(a, sa, sizeof sa),
          trans_a ? "^T" : "", tensor_shape_str(b, sb, sizeof sb), trans_b ? "^T" : "");
    int64_t batch = 1;
    int64_t shape[TENSOR_MAX_DIMS];
    for (int d = 0; d < a->ndim - 2; d++) {
        batch *= a->shape[d];
        shape[d] = a->shape[d];
    }
    shape[a->ndim - 2] = M;
    shape[a->ndim - 1] = N;
    Tensor *out = tensor_new_on(device, ops_product_dtype(device, "matmul"), a->ndim, shape);

    if (device != DEVICE_CPU) {
        const DeviceKernels *k = device_kernels(device, "matmul");
        if (shared && !trans_a)
            k->gemm(0, trans_b, batch * M, N, K, 1.0f, a->data, a->dtype, 0, b->data, b->dtype, 0, 0.0f, out->data,
                    out->dtype, 0, 1);
        else
            k->gemm(trans_a, trans_b, M, N, K, 1.0f, a->data, a->dtype, M * K, b->data, b->dtype, shared ? 0 : K * N,
                    0.0f, out->data, out->dtype, M * N, batch);
    } else {
        const float *A = tensor_f32(a), *B = tensor_f32(b);
        float *C = tensor_f32(out);
        int64_t lda = trans_a ? M : K, ldb = trans_b ? K : N;
        if (shared && !trans_a)
            gemm_f32(0, trans_b, batch * M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, N);
        else
            for (int64_t i = 0; i < batch; i++)
                gemm_f32(trans_a, trans_b, M, N, K, 1.0f, A + i * M * K, lda, B + (shared ? 0 : i * K * N), ldb,
                         0.0f, C + i * M * N, N);
    }

    TapeNode *node = tape_maybe_record("matmul", matmul_backward, out, a, b, NULL, NULL);
    if (node) {
        node->i[MM_TRANS_A] = trans_a != 0;
        node->i[MM_TRANS_B] = trans_b != 0;
        node->i[MM_BATCH] = batch;
        node->i[MM_M] = M;
        node->i[MM_N] = N;
        node->i[MM_K] = K;
        node->i[MM_B_SHARED] = shared;
    }
    return out;
}

/* dst[j] += Σ_r src[r·cols + j]. Threads split the columns, and each column
 * is summed over rows in order, so the result does not depend on the thread
 * count (DESIGN.md "Deterministic"). */
static void add_column_sums(float *dst, const float *src, int64_t rows, int64_t cols) {
    const int64_t block = 64;
    int64_t nblocks = (cols + block - 1) / block;
#pragma omp parallel for if (rows * cols > 65536 && nblocks > 1)
    for (int64_t jb = 0; jb < nblocks; jb++) {
        int64_t j0 = jb * block, j1 = j0 + block < cols ? j0 + block : cols;
        float acc[64] = {0};
        for (int64_t r = 0; r < rows; r++) {
            const float *row = src + r * cols;
            for (int64_t j = j0; j < j1; j++) acc[j - j0] += row[j];
        }
        for (int64_t j = j0; j < j1; j++) dst[j] += acc[j - j0];
    }
}

static void linear_backward(TapeNode *node) {
    int64_t R = node->i[0], in = node->i[1], out_f = node->i[2];
    const float *dy = node->out->grad;
    float *db = node->n_in > 2 ? tape_input_grad(node, 2) : NULL;
    if (node->out->device != DEVICE_CPU) { /* the same three products, on the device */
        /* A gradient written first here is the product itself (beta = 0),
         * not added to a zero fill. */
        int x_store, w_store;
        float *dx = tape_input_grad_to_overwrite(node, 0, &x_store), *dw = tape_input_grad_to_overwrite(node, 1, &w_store);
        const DeviceKernels *k = device_kernels(node->out->device, "linear");
        const Tensor *x = node->in[0], *w = node->in[1];
        /* Both products read dy in the GEMMs' input type: with bf16 inputs
         * one bf16 copy serves both (each GEMM would otherwise round its own),
         * written by the bias gradient's pass over dy when there is one. */
        const void *g = dy;
        DType tg = DTYPE_F32;
        void *copy = NULL;
        if (dx && dw && k->matmul_dtype() != DTYPE_F32) {
            tg = k->matmul_dtype();
            copy = arena_alloc(arena_activations_on(node->out->device), (size_t)(R * out_f) * dtype_size(tg));
            if (db)
                k->add_column_sums(db, dy, R, out_f, copy, tg);
            else
                k->convert(dy, DTYPE_F32, copy, tg, R * out_f);
            g = copy;
        } else if (db) {
            k->add_column_sums(db, dy, R, out_f, NULL, DTYPE_F32);
        }
        if (dx)
            k->gemm(0, 0, R, in, out_f, 1.0f, g, tg, 0, w->data, w->dtype, 0, x_store ? 0.0f : 1.0f, dx, DTYPE_F32, 0,
                    1);
        if (dw)
            k->gemm(1, 0, out_f, in, R, 1.0f, g, tg, 0, x->data, x->dtype, 0, w_store ? 0.0f : 1.0f, dw, DTYPE_F32, 0,
                    1);
        return;
    }
    float *dx = tape_input_grad(node, 0), *dw = tape_input_grad(node, 1);
    const float *x = tensor_f32(node->in[0]), *w = tensor_f32(node->in[1]);
    if (dx) gemm_f32(0, 0, R, in, out_f, 1.0f, dy, out_f, w, in, 1.0f, dx, in);   /* dx += dy · w */
    if (dw) gemm_f32(1, 0, out_f, in, R, 1.0f, dy, out_f, x, in, 1.0f, dw, in);   /* dw += dyᵀ · x */
    if (db) add_column_sums(db, dy, R, out_f);
}

Tensor *op_linear(Tensor *x, Tensor *w, Tensor *bias) {
    ops_check_float(x, "linear", "x");
    ops_check_float(w, "linear", "w");
    char sx[64], sw[64];
    CHECK(x->ndim >= 1 && w->ndim == 2 && w->shape[1] == x->shape[x->ndim - 1],
          "linear: x %s does not fit w %s ([out, in])", tensor_shape_str(x, sx, sizeof sx),
          tensor_shape_str(w, sw, sizeof sw));
    Device device = ops_device("linear", x, w, bias);
    int64_t in = w->shape[1], out_f = w->shape[0], R = tensor_rows(x);
    if (bias) {
        CHECK(bias->dtype == DTYPE_F32 && tensor_is_contiguous(bias), "linear: bias must be a contiguous f32 tensor");
        CHECK(bias->ndim == 1 && bias->shape[0] == out_f, "linear: bias %s, want [%lld]",
              tensor_shape_str(bias, sx, sizeof sx), (long long)out_f);
    }
    int64_t shape[TENSOR_MAX_DIMS];
    for (int d = 0; d < x->ndim - 1; d++) shape[d] = x->shape[d];
    shape[x->ndim - 1] = out_f;
    Tensor *out = tensor_new_on(device, ops_product_dtype(device, "linear"), x->ndim, shape);
    if (device != DEVICE_CPU) {
        /* f32 (a parameter), or bf16 where a frozen set keeps it so
         * (params_freeze_to_product_type): no gradient reaches it then. */
        CHECK(w->dtype == DTYPE_F32 || (w->dtype == DTYPE_BF16 && !w->requires_grad),
              "linear: the weight must be f32 (a parameter) or a frozen bf16 one, not %s", dtype_name(w->dtype));
        device_kernels(device, "linear")
            ->linear_forward(x->data, x->dtype, w->data, w->dtype, bias ? tensor_f32(bias) : NULL, out->data,
                             out->dtype, R, in, out_f);
    } else {
        float *y = tensor_f32(out);
        if (bias) {
            /* Bias first, then the GEMM adds onto it (beta = 1): no second pass. */
            const float *bv = tensor_f32(bias);
#pragma omp parallel for if (R * out_f > 65536)
            for (int64_t r = 0; r < R; r++)
                for (int64_t j = 0; j < out_f; j++) y[r * out_f + j] = bv[j];
        }
        gemm_f32(0, 1, R, out_f, in, 1.0f, tensor_f32(x), in, tensor_f32(w), in, bias ? 1.0f : 0.0f, y, out_f);
    }

    TapeNode *node = tape_maybe_record("linear", linear_backward, out, x, w, bias, NULL);
    if (node) {
        node->backward_reads = TAPE_READS_IN(0) | TAPE_READS_IN(1); /* x and w for the products; not y */
        node->i[0] = R;
        node->i[1] = in;
        node->i[2] = out_f;
    }
    return out;
}
