#include "unlearn/dtd.h"

#include <math.h>
#include <stdlib.h>

#include "core/device.h"
#include "core/error.h"
#include "core/rng.h"

#define STREAM_DTD_NOISE 0x647464206e6f6973ULL /* "dtd nois" */

DtdSigmaInputs dtd_sigma_inputs(int64_t n, int T, double weight_decay, double epsilon, double delta) {
    double nn = (double)n;
    return (DtdSigmaInputs){
        .n = nn, .T = T,
        .m = weight_decay, .M = 4.0 - weight_decay, .L = 1.0 + weight_decay,
        .epsilon = epsilon, .delta = delta > 0 ? delta : 1.0 / (nn * nn),
    };
}

double dtd_sigma(const DtdSigmaInputs *in) {
    if (!(in->m > 0) || !(in->M > in->m) || !(in->n >= 1) || in->T < 1 || !(in->epsilon > 0) ||
        !(in->delta > 0 && in->delta < 1))
        return error_set("DtD σ: inputs outside Thm 3.1's domain (m %g, M %g, n %g, T %d, ε %g, δ %g)", in->m, in->M,
                         in->n, in->T, in->epsilon, in->delta);
    double gamma = (in->M - in->m) / (in->M + in->m);
    double gT = pow(gamma, in->T);
    double log_inv_delta = log(1.0 / in->delta);
    double gap = sqrt(log_inv_delta + in->epsilon) - sqrt(log_inv_delta);
    return 4.0 * sqrt(2.0) * in->L * gT / (in->m * in->n * (1.0 - gT) * gap);
}

/* v[j] += σ·N(0, 1) with the draw of flat index off + j: one function for
 * the host block and for a parameter copied down from a device, so both add
 * the same float to the same float. */
static void add_noise(float *v, int64_t n, int64_t off, double sigma, uint64_t seed) {
#pragma omp parallel for if (n > 65536)
    for (int64_t j = 0; j < n; j++)
        v[j] += (float)(sigma * (double)philox_normal(seed, STREAM_DTD_NOISE, (uint64_t)(off + j)));
}

int64_t dtd_add_noise(ParamSet *ps, double sigma, uint64_t seed) {
    int64_t count = 0;
    for (int k = 0; k < ps->count; k++) {
        Tensor *p = ps->items[k];
        if (!p->requires_grad) continue;
        int64_t off = params_offset(ps, p), n = tensor_numel(p);
        if (ps->device == DEVICE_CPU) {
            add_noise(ps->values + off, n, off, sigma, seed);
        } else {
            /* Host code never touches device memory: the parameter comes down,
             * takes the host's draws and goes back up (once per run). */
            float *host = malloc((size_t)(n > 0 ? n : 1) * sizeof *host);
            CHECK(host != NULL, "out of memory");
            tensor_copy_to_host(p, host);
            add_noise(host, n, off, sigma, seed);
            tensor_copy_from_host(p, host);
            free(host);
        }
        count += n;
    }
    return count;
}
