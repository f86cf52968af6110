/* The entanglement-reduced mask of Erm-Ktp (unlearn/ermktp.h;
 * spec/unlearning_methods.md §4.7 a). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "core/error.h"
#include "unlearn/ermktp.h"

void erm_mask_init(ErmMask *m, int classes, int channels) {
    memset(m, 0, sizeof *m);
    params_init(&m->ps);
    m->rows = params_add(&m->ps, "erm_mask", SHAPE(classes, channels));
    params_finalize(&m->ps);
    for (int64_t k = 0; k < m->ps.total; k++) m->ps.values[k] = 0.5f; /* S7's initial value */
    m->classes = classes, m->channels = channels;
}

void erm_mask_free(ErmMask *m) {
    params_free(&m->ps);
    memset(m, 0, sizeof *m);
}

double erm_mask_regulariser(const ErmMask *m, float *grad, double scale) {
    int K = m->classes, C = m->channels;
    const float *M = m->ps.values;
    double l1 = 0.0, pairs = 0.0;
    double *col_sum = calloc((size_t)C, sizeof *col_sum);
    CHECK(col_sum, "out of memory");
    for (int k = 0; k < K; k++)
        for (int c = 0; c < C; c++) {
            double v = M[(int64_t)k * C + c];
            l1 += fabs(v);
            col_sum[c] += v;
            pairs -= v * v; /* Σ_{i<j} ⟨M_i, M_j⟩ = ½(Σ_c (Σ_k M[c,k])² − Σ M²) */
        }
    for (int c = 0; c < C; c++) pairs += col_sum[c] * col_sum[c];
    pairs *= 0.5;
    double excess = l1 - 0.1 * C * K;
    if (grad)
        for (int k = 0; k < K; k++)
            for (int c = 0; c < C; c++) {
                int64_t e = (int64_t)k * C + c;
                double v = M[e];
                double d = (excess > 0.0 ? (v > 0 ? 1.0 : v < 0 ? -1.0 : 0.0) : 0.0) + 0.1 * (col_sum[c] - v);
                grad[e] += (float)(scale * d);
            }
    free(col_sum);
    return (excess > 0.0 ? excess : 0.0) + 0.1 * pairs;
}

void erm_mask_normalise(ErmMask *m) {
    int K = m->classes, C = m->channels;
    float *M = m->ps.values;
    for (int c = 0; c < C; c++) {
        float mx = -INFINITY;
        for (int k = 0; k < K; k++) mx = fmaxf(mx, M[(int64_t)k * C + c]);
        for (int k = 0; k < K; k++) {
            float v = mx > 0.0f ? M[(int64_t)k * C + c] / mx : 0.0f; /* a dead channel stays 0 */
            M[(int64_t)k * C + c] = fminf(fmaxf(v, 0.0f), 1.0f);
        }
    }
}

Tensor *erm_mask_tokens(const ErmMask *m, const int64_t *classes, int B, int T) {
    Tensor *idx = tensor_new(DTYPE_I32, SHAPE(B));
    for (int b = 0; b < B; b++) {
        CHECK(classes[b] >= 0 && classes[b] < m->classes, "ERM mask: class %lld outside [0, %d)",
              (long long)classes[b], m->classes);
        tensor_i32(idx)[b] = (int32_t)classes[b];
    }
    Tensor *per_sample = op_reshape(op_index_select(m->rows, 0, idx), SHAPE(B, 1, m->channels));
    Tensor *zeros = tensor_new(DTYPE_I32, SHAPE(T));
    memset(tensor_i32(zeros), 0, (size_t)T * sizeof(int32_t));
    return op_index_select(per_sample, 1, zeros); /* the same column on every token */
}

int erm_mask_prohibited(const ErmMask *m, const int64_t *targets, int64_t n_targets, float threshold,
                        unsigned char *prohibited) {
    int C = m->channels, count = 0;
    memset(prohibited, 0, (size_t)C);
    for (int64_t t = 0; t < n_targets; t++)
        for (int c = 0; c < C; c++) prohibited[c] |= m->ps.values[targets[t] * C + c] > threshold;
    for (int c = 0; c < C; c++) count += prohibited[c];
    return count;
}
