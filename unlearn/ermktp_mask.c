/* The entanglement-reduced mask of Erm-Ktp (unlearn/ermktp.h;
 * spec/unlearning_methods.md §4.7 a). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "core/device.h"
#include "core/error.h"
#include "unlearn/ermktp.h"

/* M's arithmetic (regulariser, normalisation, prohibition) is a few K×C
 * loops: on a device the values (and, for the regulariser, the gradient) are
 * copied to the host, worked on there with the CPU code and copied back. On
 * the CPU the buffer is M itself, so the CPU path is unchanged. */
static float *host_copy(const ErmMask *m, float *data) {
    if (m->ps.device == DEVICE_CPU || !data) return data;
    size_t bytes = (size_t)m->ps.total * sizeof(float);
    float *host = malloc(bytes);
    CHECK(host, "out of memory");
    device_copy(host, DEVICE_CPU, data, m->ps.device, bytes);
    return host;
}

/* Ends host_copy: writes the host buffer back to data when write_back. */
static void host_done(const ErmMask *m, float *data, float *host, int write_back) {
    if (m->ps.device == DEVICE_CPU || !data) return;
    if (write_back) device_copy(data, m->ps.device, host, DEVICE_CPU, (size_t)m->ps.total * sizeof(float));
    free(host);
}

void erm_mask_init(ErmMask *m, int classes, int channels) {
    memset(m, 0, sizeof *m);
    params_init(&m->ps);
    m->rows = params_add(&m->ps, "erm_mask", SHAPE(classes, channels));
    params_finalize(&m->ps);
    for (int64_t k = 0; k < m->ps.total; k++) m->ps.values[k] = 0.5f; /* S7's initial value */
    m->classes = classes, m->channels = channels;
}

void erm_mask_to_device(ErmMask *m, Device device) { params_to_device(&m->ps, device); }

void erm_mask_free(ErmMask *m) {
    params_free(&m->ps);
    memset(m, 0, sizeof *m);
}

double erm_mask_regulariser(const ErmMask *m, float *grad_store, double scale) {
    int K = m->classes, C = m->channels;
    float *M = host_copy(m, m->ps.values), *grad = host_copy(m, grad_store);
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
    host_done(m, grad_store, grad, 1);
    host_done(m, m->ps.values, M, 0);
    return (excess > 0.0 ? excess : 0.0) + 0.1 * pairs;
}

void erm_mask_normalise(ErmMask *m) {
    int K = m->classes, C = m->channels;
    float *M = host_copy(m, m->ps.values);
    for (int c = 0; c < C; c++) {
        float mx = -INFINITY;
        for (int k = 0; k < K; k++) mx = fmaxf(mx, M[(int64_t)k * C + c]);
        for (int k = 0; k < K; k++) {
            float v = mx > 0.0f ? M[(int64_t)k * C + c] / mx : 0.0f; /* a dead channel stays 0 */
            M[(int64_t)k * C + c] = fminf(fmaxf(v, 0.0f), 1.0f);
        }
    }
    host_done(m, m->ps.values, M, 1);
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

int erm_mask_prohibited(const ErmMask *m, const int64_t *targets, int64_t n_targets, const int64_t *retained,
                        int64_t n_retained, float threshold, unsigned char *prohibited) {
    int C = m->channels, count = 0;
    float *M = host_copy(m, m->ps.values);
    unsigned char *needed = calloc((size_t)C, 1);
    CHECK(needed, "out of memory");
    memset(prohibited, 0, (size_t)C);
    for (int64_t t = 0; t < n_targets; t++)
        for (int c = 0; c < C; c++) prohibited[c] |= M[targets[t] * C + c] > threshold;
    for (int64_t r = 0; r < n_retained; r++)
        for (int c = 0; c < C; c++) needed[c] |= M[retained[r] * C + c] > threshold;
    for (int c = 0; c < C; c++) {
        prohibited[c] &= !needed[c];
        count += prohibited[c];
    }
    free(needed);
    host_done(m, m->ps.values, M, 0);
    return count;
}

double erm_mask_density(const ErmMask *m, float threshold, int *unused_channels) {
    int K = m->classes, C = m->channels;
    float *M = host_copy(m, m->ps.values);
    int64_t above = 0;
    int unused = 0;
    for (int c = 0; c < C; c++) {
        int used = 0;
        for (int k = 0; k < K; k++) used += M[(int64_t)k * C + c] > threshold;
        above += used;
        unused += used == 0;
    }
    host_done(m, m->ps.values, M, 0);
    if (unused_channels) *unused_channels = unused;
    return (double)above / ((double)K * C);
}
