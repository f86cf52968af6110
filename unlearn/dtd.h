/* DtD: Descent-to-Delete (Neel, Roth, Sharifi-Malvajerdi, ALT 2021;
 * spec/unlearning_methods.md §4.5). Optional descent epochs on Dr (FineTune's
 * loop; default 0 as the released code, §9 [G]), then the published model is
 * θ + ξ with ξ ~ N(0, σ² I) on every trainable coordinate (the §2.3 fusion set
 * for DtD-F; momentum twins never get noise), σ from Thm 3.1 as S5/S1 compute
 * it, with γ = (M − m)/(M + m):
 *
 *   σ = 4·√2·L·γ^T / ( m·n·(1 − γ^T) · ( √(ln(1/δ) + ε) − √(ln(1/δ)) ) )
 *
 * S1's instantiation: m = wd, M = 4 − wd, L = 1 + wd, ε = 5, δ = 1/n², n = the
 * training annotations of the full set (Df included), T = 1. */
#ifndef UNLEARN_DTD_H
#define UNLEARN_DTD_H

#include <stdint.h>

#include "autograd/params.h"

typedef struct {
    double n;        /* dataset size */
    int T;           /* descent iterations the bound assumes */
    double m, M, L;  /* strong convexity, smoothness, Lipschitz constant */
    double epsilon, delta;
} DtdSigmaInputs;

/* S1's constants from the weight decay; delta ≤ 0 takes 1/n². */
DtdSigmaInputs dtd_sigma_inputs(int64_t n, int T, double weight_decay, double epsilon, double delta);
/* σ of Thm 3.1; -1 with error_set for inputs outside its domain (m ≤ 0, M ≤ m, n < 1, T < 1, ε ≤ 0,
 * δ outside (0, 1)). */
double dtd_sigma(const DtdSigmaInputs *in);

/* Adds σ·N(0, 1) to every element of every trainable parameter of ps. Element
 * k of the flat value block takes philox_normal(seed, DTD stream, k), so a
 * coordinate's draw does not depend on which others are in scope. Parameters
 * on a device are copied to the host, noised there and copied back, so both
 * devices add the same draws to the same values. Returns the number of
 * elements noised. */
int64_t dtd_add_noise(ParamSet *ps, double sigma, uint64_t seed);

#endif
