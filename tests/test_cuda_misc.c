/* CUDA parity of dropout, patchify and spmm (cuda/misc.cu). Dropout must draw
 * the CPU's mask exactly (the same Philox numbers: DESIGN.md "Deterministic"),
 * so its outputs are compared bit for bit as well. Skips without a GPU. */
#include <stdlib.h>
#include <string.h>

#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/device.h"
#include "core/error.h"
#include "tests/cuda_parity.h"
#include "tests/test.h"

typedef struct {
    float p;
    uint64_t seed, stream;
} DropoutCtx;

static Tensor *apply_dropout(Tensor **in, void *ctx) {
    const DropoutCtx *c = ctx;
    return op_dropout(in[0], c->p, c->seed, c->stream);
}

/* Odd sizes (the last Philox block is partial), a seed and stream with high
 * words set (both 32-bit halves of the counter and key matter). */
static const int64_t DROPOUT_SIZES[] = {1, 1001, 4 * 35 * 768 + 3};
static const DropoutCtx DROPOUT_CASES[] = {{0.1f, 42, 0}, {0.5f, 0x123456789ABCDEFull, 0x100000003ull}};

TEST(test_cuda_dropout_parity) {
    if (!cuda_parity_ready()) return;
    for (size_t c = 0; c < sizeof DROPOUT_CASES / sizeof DROPOUT_CASES[0]; c++)
        for (size_t s = 0; s < sizeof DROPOUT_SIZES / sizeof DROPOUT_SIZES[0]; s++) {
            Tensor *x = tensor_random_uniform(SHAPE(DROPOUT_SIZES[s]), -2.0f, 2.0f, 1000 + s);
            x->requires_grad = 1;
            DropoutCtx ctx = DROPOUT_CASES[c];
            ASSERT_MSG(cuda_parity_check("dropout", apply_dropout, &x, 1, &ctx, PARITY_TOL_FP32) == 0, "%s",
                       error_message());
        }
}

TEST(test_cuda_dropout_mask_and_values_match_cpu_bit_for_bit) {
    if (!cuda_parity_ready()) return;
    const int64_t n = 4 * 35 * 768 + 3;
    float *cpu = malloc((size_t)n * sizeof *cpu), *dev = malloc((size_t)n * sizeof *dev);
    for (size_t c = 0; c < sizeof DROPOUT_CASES / sizeof DROPOUT_CASES[0]; c++) {
        const DropoutCtx *d = &DROPOUT_CASES[c];
        /* Inputs away from 0, so that a zero output means a dropped element. */
        Tensor *x = tensor_random_uniform(SHAPE(n), 0.5f, 1.5f, 1100 + c);
        memcpy(cpu, tensor_f32(op_dropout(x, d->p, d->seed, d->stream)), (size_t)n * sizeof *cpu);
        Tensor *y = op_dropout(tensor_to_device(x, DEVICE_CUDA), d->p, d->seed, d->stream);
        tensor_copy_to_host(y, dev);
        int64_t dropped = 0;
        for (int64_t k = 0; k < n; k++) {
            ASSERT_MSG((cpu[k] == 0.0f) == (dev[k] == 0.0f), "p %g: element %lld dropped on one device only",
                       (double)d->p, (long long)k);
            dropped += cpu[k] == 0.0f;
        }
        ASSERT(memcmp(cpu, dev, (size_t)n * sizeof *cpu) == 0);
        ASSERT(dropped > 0 && dropped < n);
        autograd_step_end();
    }
    free(cpu);
    free(dev);
}

static Tensor *apply_dropout_rows(Tensor **in, void *ctx) {
    return op_dropout_rows(in[0], 0.3f, 77, 5, *(const RngRows *)ctx);
}

/* A rank's shard (rows 3..5 of each 9-row segment; rows of 35 elements
 * straddle Philox blocks): the device draws the CPU's mapped mask. */
TEST(test_cuda_dropout_rows_parity) {
    if (!cuda_parity_ready()) return;
    RngRows rows = {3, 9, 3};
    Tensor *x = tensor_random_uniform(SHAPE(6, 5, 7), -2.0f, 2.0f, 1200);
    x->requires_grad = 1;
    ASSERT_MSG(cuda_parity_check("dropout rows", apply_dropout_rows, &x, 1, &rows, PARITY_TOL_FP32) == 0, "%s",
               error_message());
}

static Tensor *apply_patchify(Tensor **in, void *ctx) { return op_patchify(in[0], *(int *)ctx); }

static int check_patchify(int64_t B, int64_t C, int64_t H, int64_t W, int p, uint64_t seed) {
    Tensor *img = tensor_random_uniform(SHAPE(B, C, H, W), -1.0f, 1.0f, seed);
    img->requires_grad = 1;
    return cuda_parity_check("patchify", apply_patchify, &img, 1, &p, PARITY_TOL_FP32);
}

TEST(test_cuda_patchify_parity) {
    if (!cuda_parity_ready()) return;
    ASSERT_MSG(check_patchify(2, 3, 32, 32, 8, 1200) == 0, "%s", error_message());
    /* ViT-B/16 at ALBEF's fine-tuning resolution (spec/albef_blip.md §1.2). */
    ASSERT_MSG(check_patchify(2, 3, 384, 384, 16, 1201) == 0, "%s", error_message());
    /* Not square, odd batch, and the degenerate one-pixel patch. */
    ASSERT_MSG(check_patchify(3, 2, 6, 10, 2, 1202) == 0, "%s", error_message());
    ASSERT_MSG(check_patchify(1, 3, 5, 7, 1, 1203) == 0, "%s", error_message());
}

static Tensor *apply_spmm(Tensor **in, void *ctx) { return op_spmm((const CsrMatrix *)ctx, in[0]); }

/* The 4 x 5 matrix of test_ops_vision_graph.c: row 1 empty, column 2 used by
 * three rows, column 3 by none. */
static const int64_t SMALL_ROW_PTR[] = {0, 2, 2, 5, 7};
static const int32_t SMALL_COL[] = {0, 2, 1, 2, 4, 0, 2};
static const float SMALL_VAL[] = {0.5f, 1.0f, -2.0f, 3.0f, 0.25f, 1.0f, -1.0f};

static int check_spmm(const CsrMatrix *a, int64_t D, uint64_t seed) {
    Tensor *x = tensor_random_uniform(SHAPE(a->cols, D), -1.0f, 1.0f, seed);
    x->requires_grad = 1;
    return cuda_parity_check("spmm", apply_spmm, &x, 1, (void *)a, PARITY_TOL_FP32);
}

TEST(test_cuda_spmm_with_empty_row_parity) {
    if (!cuda_parity_ready()) return;
    CsrMatrix small = {4, 5, 7, SMALL_ROW_PTR, SMALL_COL, SMALL_VAL};
    ASSERT_MSG(check_spmm(&small, 33, 1300) == 0, "%s", error_message());
    ASSERT_MSG(check_spmm(&small, 1, 1301) == 0, "%s", error_message());
    /* A 300 x 200 graph: every 7th row empty, up to 9 entries per row with
     * repeated columns, at widths below and above one block of threads. */
    const int64_t rows = 300, cols = 200;
    int64_t *row_ptr = malloc((size_t)(rows + 1) * sizeof *row_ptr);
    int32_t *col = malloc((size_t)rows * 9 * sizeof *col);
    float *val = malloc((size_t)rows * 9 * sizeof *val);
    int64_t nnz = 0;
    row_ptr[0] = 0;
    for (int64_t r = 0; r < rows; r++) {
        int64_t count = r % 7 == 0 ? 0 : 1 + (r * 5) % 9;
        for (int64_t e = 0; e < count; e++, nnz++) {
            col[nnz] = (int32_t)((r * 13 + e * e * 31) % cols);
            val[nnz] = (float)((r + 3 * e) % 11) / 11.0f - 0.5f;
        }
        row_ptr[r + 1] = nnz;
    }
    CsrMatrix big = {rows, cols, nnz, row_ptr, col, val};
    int rc = check_spmm(&big, 70, 1302);
    if (rc == 0) rc = check_spmm(&big, 300, 1303);
    free(row_ptr);
    free(col);
    free(val);
    ASSERT_MSG(rc == 0, "%s", error_message());
}
